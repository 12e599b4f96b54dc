/*
 * kworker.c - mxbench kernel-socket transport: one epoll loop per thread,
 * non-blocking TCP sockets, the SMTP session from client.c.
 *
 * Closed loop: the thread keeps its share of connections busy; an idle
 * session takes the next transaction from the shared budget, or QUITs after
 * msgs_per_conn and is replaced while issuing goes on. Transaction latency
 * runs from queueing MAIL to the 250 after end of data.
 *
 * Open loop: arrivals come from the rate schedule (rate.h) with their
 * intended times and wait in a backlog for an idle session; when none is idle
 * and fewer than the thread's maximum are open, a new connection is opened.
 * Transaction latency runs from the intended time, so connection set-up and
 * waiting for a free session are inside it (no coordinated omission).
 *
 * Everything that goes wrong is counted in struct bench_wstats; the loop
 * ends when issuing has ended and nothing is in flight, or at the hard
 * deadline, where what is left is counted as aborted.
 */
#include "bench/mxbench.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define READ_BUF     65536
#define MAX_EVENTS   256
#define SCAN_NS	     (20 * 1000 * 1000ULL)
#define RETRY_NS     (100 * 1000 * 1000ULL)
#define IOV_BATCH    64
#define EPOLL_MAX_NS (50 * 1000 * 1000ULL)

enum conn_st {
	CONN_FREE = 0,
	CONN_CONNECTING,
	CONN_OPEN,
	CONN_RETRY, /* closed loop: reconnect at retry_at */
};

struct conn {
	int fd;
	enum conn_st st;
	bool cli_live;
	bool out_armed;
	bool in_txn;
	bool had_250;	       /* a transaction completed on this connection */
	bool idle;	       /* on the open-loop idle list */
	bool hs;	       /* --starttls: TLS handshake under way */
	struct bench_tls *tls; /* --starttls: after the 220 to STARTTLS */
	uint64_t t_hs;
	struct bench_cli cli;
	struct bench_reply_parser rp;
	uint64_t t_connect;
	uint64_t t_txn;
	uint64_t msgs;
	uint64_t deadline; /* 0: nothing awaited */
	uint64_t retry_at;
	size_t txn_size;
};

struct kw {
	struct bench_worker *w;
	const struct bench_cfg *cfg;
	struct bench_run *run;
	struct bench_wstats *st;
	int ep;
	struct conn *c;
	unsigned nconns;
	uint64_t next_conn_id;
	struct bench_rng rng;
	bool open_loop;
	struct bench_rate rate;
	bool rate_done;
	/* open-loop backlog: intended times, FIFO ring */
	uint64_t *q;
	size_t q_head, q_n, q_cap;
	char rbuf[READ_BUF];
};

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void note_err(struct kw *k, const char *what, int err)
{
	snprintf(k->st->last_err, sizeof(k->st->last_err), "%s%s%s", what, err ? ": " : "",
		 err ? strerror(err) : "");
}

static bool issuing(struct kw *k, uint64_t now)
{
	return !__atomic_load_n(&k->run->stop, __ATOMIC_RELAXED) && now < k->run->issue_end_ns &&
	       __atomic_load_n(&k->run->budget, __ATOMIC_RELAXED) > 0;
}

/* Claim one transaction from the shared budget. */
static bool claim(struct kw *k)
{
	if (__atomic_sub_fetch(&k->run->budget, 1, __ATOMIC_RELAXED) >= 0)
		return true;
	__atomic_add_fetch(&k->run->budget, 1, __ATOMIC_RELAXED);
	return false;
}

static void conn_close(struct kw *k, struct conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
		BENCH_DEC(k->st->conns_open);
	}
	if (c->in_txn) {
		c->in_txn = false;
		BENCH_DEC(k->st->inflight);
		BENCH_INC(k->st->txn_aborted);
	}
	if (c->cli_live) {
		bench_cli_free(&c->cli);
		c->cli_live = false;
	}
	bench_tls_free(c->tls);
	c->tls = NULL;
	c->hs = false;
	c->idle = false;
	c->deadline = 0;
	c->out_armed = false;
	c->st = CONN_FREE;
}

static int conn_open(struct kw *k, struct conn *c, uint64_t now)
{
	const struct bench_cfg *cfg = k->cfg;
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
	int fd, one = 1;

	BENCH_INC(k->st->conn_attempts);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	fd = socket(cfg->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (cfg->src_len || cfg->refusal.src.nsrc) {
		socklen_t len = cfg->src_len;
		const struct sockaddr *sa = bench_ref_src(cfg, k->next_conn_id, &len);
		/* Port chosen at connect(): more 4-tuples from one address. */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, sa ? sa : (const struct sockaddr *)&cfg->src, len) < 0)
			goto fail;
	}
	c->t_connect = now;
	if (connect(fd, (const struct sockaddr *)&cfg->target, cfg->target_len) < 0 &&
	    errno != EINPROGRESS)
		goto fail;
	if (epoll_ctl(k->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		goto fail;
	if (bench_cli_init(&c->cli, &k->w->cli, &k->st->cli, k->next_conn_id++) < 0) {
		errno = ENOMEM;
		goto fail;
	}
	c->cli_live = true;
	bench_reply_init(&c->rp);
	c->fd = fd;
	c->st = CONN_CONNECTING;
	c->deadline = now + (uint64_t)(cfg->timeout * 1e9);
	BENCH_INC(k->st->conns_open);
	return 0;
fail:
	if (errno == ECONNREFUSED)
		BENCH_INC(k->st->conn_refused);
	else
		BENCH_INC(k->st->conn_failed);
	note_err(k, "connect", errno);
	if (fd >= 0)
		close(fd);
	c->st = CONN_FREE;
	return -1;
}

/* Closed loop: a slot whose connection ended gets a new one while issuing. */
static void closed_refill(struct kw *k, struct conn *c, uint64_t now, bool failed)
{
	if (k->open_loop || !issuing(k, now) || (!failed && !k->cfg->refill))
		return;
	if (failed) {
		c->st = CONN_RETRY;
		c->retry_at = now + RETRY_NS;
		return;
	}
	if (conn_open(k, c, now) < 0) {
		c->st = CONN_RETRY;
		c->retry_at = now + RETRY_NS;
	}
}

static void conn_fail(struct kw *k, struct conn *c, uint64_t now)
{
	conn_close(k, c);
	closed_refill(k, c, now, true);
}

/* Write what the session queued. -1 when the connection failed. */
static int conn_flush(struct kw *k, struct conn *c)
{
	struct bench_out *o = &c->cli.out;

	while (o->bytes > 0) {
		struct iovec iov[IOV_BATCH];
		int n = bench_out_iov(o, iov, IOV_BATCH);
		ssize_t w = c->tls ? bench_tls_writev(c->tls, iov, n) : writev(c->fd, iov, n);

		if (w == 0 && c->tls)
			break; /* the socket is full */

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			BENCH_INC(k->st->conn_io_err);
			note_err(k, "write", errno);
			return -1;
		}
		BENCH_ADD(k->st->bytes_out, (uint64_t)w);
		bench_out_consume(o, (size_t)w);
	}
	if ((o->bytes > 0) != c->out_armed) {
		struct epoll_event ev = {.events = EPOLLIN | (o->bytes ? EPOLLOUT : 0),
					 .data.ptr = c};

		c->out_armed = o->bytes > 0;
		epoll_ctl(k->ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	return 0;
}

static void start_txn(struct kw *k, struct conn *c, uint64_t t_origin, uint64_t now)
{
	size_t size = bench_sizes_sample(&k->cfg->sizes, &k->rng);

	c->idle = false;
	c->msgs++;
	c->in_txn = true;
	c->t_txn = t_origin;
	c->txn_size = size;
	c->deadline = now + (uint64_t)(k->cfg->timeout * 1e9);
	BENCH_INC(k->st->txn_started);
	BENCH_INC(k->st->inflight);
	if (bench_cli_start_txn(&c->cli, size) < 0) {
		note_err(k, "cannot build transaction (address template too long?)", 0);
		BENCH_INC(k->st->conn_broken);
		conn_fail(k, c, now);
	}
}

static void send_quit(struct kw *k, struct conn *c, uint64_t now)
{
	c->idle = false;
	c->deadline = now + (uint64_t)(k->cfg->timeout * 1e9);
	if (bench_cli_quit(&c->cli) < 0) {
		BENCH_INC(k->st->conn_broken);
		conn_fail(k, c, now);
	}
}

static bool q_pop(struct kw *k, uint64_t *t)
{
	if (k->q_n == 0)
		return false;
	*t = k->q[k->q_head];
	k->q_head = (k->q_head + 1) % k->q_cap;
	k->q_n--;
	BENCH_DEC(k->st->backlog);
	return true;
}

static bool q_push(struct kw *k, uint64_t t)
{
	if (k->q_n == k->q_cap) {
		size_t ncap = k->q_cap * 2;
		uint64_t *nq;

		if (ncap > k->cfg->max_backlog || !(nq = malloc(ncap * sizeof(*nq))))
			return false;
		for (size_t i = 0; i < k->q_n; i++)
			nq[i] = k->q[(k->q_head + i) % k->q_cap];
		free(k->q);
		k->q = nq;
		k->q_head = 0;
		k->q_cap = ncap;
	}
	k->q[(k->q_head + k->q_n) % k->q_cap] = t;
	k->q_n++;
	BENCH_INC(k->st->backlog);
	return true;
}

/* An idle session: give it work, park it, or end it. */
static void next_action(struct kw *k, struct conn *c, uint64_t now)
{
	uint64_t t;

	c->deadline = 0;
	if (k->cfg->msgs_per_conn && c->msgs >= k->cfg->msgs_per_conn) {
		send_quit(k, c, now);
		return;
	}
	if (!k->open_loop) {
		if (issuing(k, now) && claim(k))
			start_txn(k, c, now, now);
		else
			send_quit(k, c, now);
		return;
	}
	if (q_pop(k, &t)) {
		start_txn(k, c, t, now);
		return;
	}
	if (k->rate_done)
		send_quit(k, c, now);
	else
		c->idle = true;
}

static void conn_set_events(struct kw *k, struct conn *c, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};

	c->out_armed = out;
	epoll_ctl(k->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* --starttls: one step of the handshake; at its end, EHLO again. */
static void tls_step(struct kw *k, struct conn *c, uint64_t now)
{
	bool want_write;
	int r = bench_tls_handshake(c->tls, &k->st->tls, &want_write);

	if (r == 0) {
		if (want_write != c->out_armed)
			conn_set_events(k, c, want_write);
		return;
	}
	if (r < 0) {
		BENCH_INC(k->st->conn_broken);
		note_err(k, "TLS handshake failed", 0);
		conn_fail(k, c, now);
		return;
	}
	c->hs = false;
	mx_hist_record(&k->st->tls.h_handshake, now - c->t_hs);
	c->deadline = now + (uint64_t)(k->cfg->timeout * 1e9);
	if (bench_cli_tls_started(&c->cli) < 0) {
		BENCH_INC(k->st->conn_broken);
		note_err(k, "EHLO after STARTTLS", 0);
		conn_fail(k, c, now);
		return;
	}
	if (c->out_armed)
		conn_set_events(k, c, false);
	if (conn_flush(k, c) < 0)
		conn_fail(k, c, now);
}

static void on_event(struct kw *k, struct conn *c, enum bench_cli_ev ev, uint64_t now)
{
	switch (ev) {
	case BENCH_CLI_EV_NONE:
		c->deadline = now + (uint64_t)(k->cfg->timeout * 1e9);
		break;
	case BENCH_CLI_EV_READY:
		next_action(k, c, now);
		break;
	case BENCH_CLI_EV_TXN_DONE:
	case BENCH_CLI_EV_TXN_FAILED:
		bench_txn_end(k->st, ev == BENCH_CLI_EV_TXN_DONE, now, c->t_txn, c->t_connect,
			      c->cli.msg_size, &c->had_250, &c->in_txn);
		next_action(k, c, now);
		break;
	case BENCH_CLI_EV_CLOSED:
		BENCH_INC(k->st->conn_quit);
		conn_close(k, c);
		closed_refill(k, c, now, false);
		break;
	case BENCH_CLI_EV_BROKEN:
		BENCH_INC(k->st->conn_broken);
		note_err(k, c->cli.err, 0);
		conn_fail(k, c, now);
		break;
	case BENCH_CLI_EV_STARTTLS:
		c->tls = bench_tls_new(c->fd);
		if (!c->tls) {
			BENCH_INC(k->st->conn_broken);
			note_err(k, "cannot make a TLS session", 0);
			conn_fail(k, c, now);
			break;
		}
		c->hs = true;
		c->t_hs = now;
		c->deadline = now + (uint64_t)(k->cfg->timeout * 1e9);
		bench_reply_init(&c->rp);
		tls_step(k, c, now);
		break;
	}
}

struct kw_feed {
	struct kw *k;
	struct conn *c;
	uint64_t now;
};

/* bench_replies_feed()'s callback: false once the connection is closed
 * (and maybe replaced) or handshaking. */
static bool kw_on_reply(void *arg, const struct bench_reply *r)
{
	struct kw_feed *f = arg;

	on_event(f->k, f->c, bench_cli_on_reply(&f->c->cli, r), f->now);
	return f->c->st == CONN_OPEN && !f->c->hs;
}

static void conn_readable(struct kw *k, struct conn *c, uint64_t now)
{
	for (;;) {
		const char *why = NULL;
		ssize_t n = c->tls ? bench_tls_read(c->tls, k->rbuf, sizeof(k->rbuf), &why)
				   : read(c->fd, k->rbuf, sizeof(k->rbuf));
		struct kw_feed f;
		size_t used;

		if (c->tls && n <= 0) {
			if (n == 0)
				return; /* nothing decrypted now */
			BENCH_INC(k->st->conn_eof);
			note_err(k, why, 0);
			conn_fail(k, c, now);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			BENCH_INC(k->st->conn_io_err);
			note_err(k, "read", errno);
			conn_fail(k, c, now);
			return;
		}
		if (n == 0) {
			BENCH_INC(k->st->conn_eof);
			note_err(k, "connection closed by server", 0);
			conn_fail(k, c, now);
			return;
		}
		BENCH_ADD(k->st->bytes_in, (uint64_t)n);
		f = (struct kw_feed){k, c, now};
		switch (bench_replies_feed(&c->rp, k->rbuf, (size_t)n, &used, k->st, kw_on_reply,
					   &f)) {
		case BENCH_FEED_ERROR:
			note_err(k, c->rp.err, 0);
			conn_fail(k, c, now);
			return;
		case BENCH_FEED_STOP:
			return; /* closed (and maybe replaced), or handshaking */
		case BENCH_FEED_AGAIN:
			break;
		}
		if (conn_flush(k, c) < 0) {
			conn_fail(k, c, now);
			return;
		}
		if ((size_t)n < sizeof(k->rbuf))
			return;
	}
}

static void conn_event(struct kw *k, struct conn *c, uint32_t events, uint64_t now)
{
	if (c->st == CONN_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err == 0 && !(events & (EPOLLERR | EPOLLHUP))) {
			c->st = CONN_OPEN;
			BENCH_INC(k->st->conn_ok);
			mx_hist_record(&k->st->h_connect, now - c->t_connect);
			epoll_ctl(k->ep, EPOLL_CTL_MOD, c->fd, &ev);
			c->deadline = now + (uint64_t)(k->cfg->timeout * 1e9);
			return;
		}
		if (err == ECONNREFUSED)
			BENCH_INC(k->st->conn_refused);
		else
			BENCH_INC(k->st->conn_failed);
		note_err(k, "connect", err ? err : ECONNABORTED);
		conn_fail(k, c, now);
		return;
	}
	if (c->st != CONN_OPEN)
		return;
	if (c->hs) {
		tls_step(k, c, now);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		conn_readable(k, c, now);
		if (c->st != CONN_OPEN)
			return;
	}
	if ((events & EPOLLOUT) && conn_flush(k, c) < 0)
		conn_fail(k, c, now);
}

static void scan(struct kw *k, uint64_t now, bool issue)
{
	for (unsigned i = 0; i < k->nconns; i++) {
		struct conn *c = &k->c[i];

		if (c->st == CONN_RETRY && now >= c->retry_at) {
			c->st = CONN_FREE;
			if (issue && conn_open(k, c, now) < 0) {
				c->st = CONN_RETRY;
				c->retry_at = now + RETRY_NS;
			}
			continue;
		}
		if ((c->st == CONN_CONNECTING || c->st == CONN_OPEN) && c->deadline &&
		    now >= c->deadline) {
			if (c->st == CONN_CONNECTING)
				BENCH_INC(k->st->timeout_connect);
			else
				BENCH_INC(k->st->timeout_reply);
			note_err(k, c->st == CONN_CONNECTING ? "connect timeout" : "reply timeout",
				 0);
			conn_fail(k, c, now);
			continue;
		}
		/* Issuing over: idle open-loop sessions say goodbye. */
		if (c->st == CONN_OPEN && c->idle && k->rate_done && k->q_n == 0)
			send_quit(k, c, now);
		if (c->st == CONN_OPEN && !c->idle && c->cli.out.bytes && !c->out_armed &&
		    conn_flush(k, c) < 0)
			conn_fail(k, c, now);
	}
}

/* Open loop: take due arrivals, hand them to idle sessions, open more. */
static void open_loop_tick(struct kw *k, uint64_t now)
{
	uint64_t t;
	unsigned connecting = 0;

	while (!k->rate_done && bench_rate_next(&k->rate) <= now) {
		if (bench_rate_next(&k->rate) >= k->run->issue_end_ns ||
		    __atomic_load_n(&k->run->stop, __ATOMIC_RELAXED) || !claim(k)) {
			k->rate_done = true;
			break;
		}
		bench_rate_take(&k->rate, now, &t);
		mx_hist_record(&k->st->h_lag, now - t);
		BENCH_INC(k->st->arrivals);
		if (!q_push(k, t))
			BENCH_INC(k->st->arrivals_dropped);
	}
	if (!k->rate_done && (bench_rate_next(&k->rate) >= k->run->issue_end_ns ||
			      __atomic_load_n(&k->run->stop, __ATOMIC_RELAXED)))
		k->rate_done = true;
	for (unsigned i = 0; i < k->nconns && k->q_n; i++) {
		struct conn *c = &k->c[i];

		if (c->st == CONN_OPEN && c->idle) {
			q_pop(k, &t);
			start_txn(k, c, t, now);
			if (c->st == CONN_OPEN && conn_flush(k, c) < 0)
				conn_fail(k, c, now);
		}
	}
	for (unsigned i = 0; i < k->nconns; i++) {
		if (k->c[i].st == CONN_CONNECTING)
			connecting++;
		else if (k->c[i].st == CONN_OPEN && !k->c[i].in_txn && !k->c[i].idle &&
			 k->c[i].cli.state != BENCH_CLI_QUIT)
			connecting++; /* banner / EHLO: will take an arrival soon */
	}
	for (unsigned i = 0; i < k->nconns && k->q_n > connecting; i++) {
		struct conn *c = &k->c[i];

		if (c->st == CONN_FREE && conn_open(k, c, now) == 0)
			connecting++;
	}
}

static bool all_quiet(struct kw *k)
{
	if (k->q_n)
		return false;
	for (unsigned i = 0; i < k->nconns; i++)
		if (k->c[i].st == CONN_CONNECTING || k->c[i].st == CONN_OPEN)
			return false;
	return true;
}

static int epoll_wait_ns(int ep, struct epoll_event *ev, int max, uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ULL),
			      .tv_nsec = (long)(ns % 1000000000ULL)};
	static int no_pwait2;
	int n;

	if (!no_pwait2) {
		n = epoll_pwait2(ep, ev, max, &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		no_pwait2 = 1;
	}
	return epoll_wait(ep, ev, max, (int)((ns + 999999) / 1000000));
}

void *bench_kworker_main(void *arg)
{
	struct bench_worker *w = arg;
	struct kw *k = calloc(1, sizeof(*k));
	struct epoll_event evs[MAX_EVENTS];
	uint64_t now, last_scan = 0;

	if (!k) {
		w->rc = -ENOMEM;
		return NULL;
	}
	k->w = w;
	k->cfg = w->cfg;
	k->run = w->run;
	k->st = &w->st;
	k->nconns = w->conns;
	k->next_conn_id = ((uint64_t)w->id << 32) + 1;
	k->open_loop = k->cfg->rate > 0;
	bench_rng_seed(&k->rng, k->cfg->seed * 1000003ULL + w->id);
	k->ep = epoll_create1(EPOLL_CLOEXEC);
	k->c = calloc(k->nconns, sizeof(*k->c));
	k->q_cap = 1024;
	k->q = malloc(k->q_cap * sizeof(*k->q));
	if (k->ep < 0 || !k->c || !k->q) {
		w->rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < k->nconns; i++)
		k->c[i].fd = -1;
	now = bench_now_ns();
	if (k->open_loop) {
		bench_rate_init(&k->rate, w->rate, k->run->t0_ns + w->phase_ns, k->cfg->arrivals,
				k->cfg->seed * 7919ULL + w->id);
	} else {
		for (unsigned i = 0; i < k->nconns; i++)
			if (conn_open(k, &k->c[i], now) < 0) {
				k->c[i].st = CONN_RETRY;
				k->c[i].retry_at = now + RETRY_NS;
			}
	}
	for (;;) {
		uint64_t wait = EPOLL_MAX_NS;
		bool issue;
		int n;

		now = bench_now_ns();
		if (__atomic_load_n(&k->run->stop, __ATOMIC_RELAXED) >= 2 ||
		    now >= k->run->hard_end_ns) {
			k->st->hard_stop = true;
			break;
		}
		issue = issuing(k, now);
		if (k->open_loop)
			open_loop_tick(k, now);
		if (now - last_scan >= SCAN_NS) {
			scan(k, now, issue);
			last_scan = now;
		}
		if (!issue && (!k->open_loop || k->rate_done) && all_quiet(k))
			break;
		if (k->open_loop && !k->rate_done) {
			uint64_t next = bench_rate_next(&k->rate);

			wait = next > now ? next - now : 0;
			if (wait > EPOLL_MAX_NS)
				wait = EPOLL_MAX_NS;
		}
		if (wait > SCAN_NS)
			wait = SCAN_NS;
		n = epoll_wait_ns(k->ep, evs, MAX_EVENTS, wait);
		if (n < 0 && errno != EINTR) {
			note_err(k, "epoll_wait", errno);
			w->rc = -errno;
			break;
		}
		now = bench_now_ns();
		for (int i = 0; i < n; i++)
			conn_event(k, evs[i].data.ptr, evs[i].events, now);
	}
	/* Whatever is left was cut off: count it. */
	for (unsigned i = 0; i < k->nconns; i++)
		if (k->c[i].st == CONN_CONNECTING || k->c[i].st == CONN_OPEN)
			conn_close(k, &k->c[i]);
	while (k->q_n) {
		uint64_t t;

		q_pop(k, &t);
		BENCH_INC(k->st->txn_aborted);
	}
out:
	w->st.end_ns = bench_now_ns();
	if (k->ep >= 0)
		close(k->ep);
	free(k->c);
	free(k->q);
	free(k);
	return NULL;
}
