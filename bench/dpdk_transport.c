/*
 * dpdk_transport.c - mxbench DPDK transport: the SMTP client sessions of
 * client.c run on mxgate's own TCP stack (tcp_connect, active open) on a DPDK
 * port, e.g. net_memif towards an mxgate in another process.
 *
 * The dataplane is booted from a generated mxgate config (config_load_string)
 * with no SMTP listener and no echo port; the bench is a dp_service whose
 * per-worker init only remembers the stack and whose poll runs this worker's
 * share of the bench: closed loop only (like the kernel transport's closed
 * loop: keep the connections busy, QUIT after msgs_per_conn, replace them
 * while issuing). Everything runs on the worker lcore that owns the stack;
 * counters go to the worker's struct bench_wstats (single writer), read by
 * the main thread as for the kernel threads.
 *
 * Start: the dataplane holds only a few packets per next hop while ARP
 * resolves it (ARP_PENDING_MAX) and drops the rest, so SYNs beyond those would
 * wait for a 1 s retransmission: the first connection goes alone, the others
 * follow once it is established (or after ARP_WAIT_NS).
 *
 * Time: bench timestamps (latency, deadlines) use bench_now_ns(); TCP calls
 * take the worker's own clock (*ctx->now_us).
 */
#include "bench/dpdk_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_ethdev.h>

#include "core/config.h"
#include "core/log.h"
#include "dataplane/dataplane.h"
#include "dataplane/tcp/tcp.h"

#define SCAN_NS	    (20 * 1000 * 1000ULL)
#define RETRY_NS    (100 * 1000 * 1000ULL)
#define IOV_BATCH   16
#define LINGER_NS   (300 * 1000 * 1000ULL)
#define MAX_WORKERS 64
#define ARP_WAIT_NS (1000 * 1000 * 1000ULL)

enum dconn_st {
	DC_FREE = 0,
	DC_CONNECTING,
	DC_OPEN,
	DC_RETRY, /* reconnect at retry_at */
};

struct dw;

struct dconn {
	struct dw *k;
	struct tcp_tcb *t;
	enum dconn_st st;
	bool cli_live;
	bool in_txn;
	bool had_250;
	bool hs;	       /* --starttls: handshake under way */
	struct bench_tls *tls; /* --starttls: after the 220 to STARTTLS */
	uint64_t t_hs;
	struct bench_cli cli;
	struct bench_reply_parser rp;
	uint64_t t_connect;
	uint64_t t_txn;
	uint64_t msgs;
	uint64_t deadline; /* 0: nothing awaited */
	uint64_t retry_at;
};

/* Per-worker state of the service. */
struct dw {
	unsigned idx;
	struct tcp_stack *tcp;
	const uint64_t *now_us;
	bool started, done;
	struct bench_worker *w;
	const struct bench_cfg *cfg;
	struct bench_run *run;
	struct bench_wstats *st;
	struct dconn *c;
	unsigned nconns;
	uint64_t next_conn_id;
	uint64_t last_scan;
	uint64_t t_start;
	bool resolved; /* a connection got through: the next hop's MAC is known */
	struct bench_rng rng;
	char rbuf[16384]; /* --starttls: decrypted replies */
};

static struct {
	const struct bench_cfg *cfg;
	struct mx_config mxc;
	uint8_t laddr[4], raddr[4];
	uint16_t rport;
	uint16_t port_id;
	unsigned nworkers;
	struct bench_worker *w; /* published before go */
	unsigned *done;
	int go; /* atomic: workers may start */
	struct dw *dws[MAX_WORKERS];
} g;

static void note_err(struct dw *k, const char *what, int err)
{
	snprintf(k->st->last_err, sizeof(k->st->last_err), "%s%s%s", what, err ? ": " : "",
		 err ? strerror(err) : "");
}

static bool issuing(struct dw *k, uint64_t now)
{
	return !__atomic_load_n(&k->run->stop, __ATOMIC_RELAXED) && now < k->run->issue_end_ns &&
	       __atomic_load_n(&k->run->budget, __ATOMIC_RELAXED) > 0;
}

static bool claim(struct dw *k)
{
	if (__atomic_sub_fetch(&k->run->budget, 1, __ATOMIC_RELAXED) >= 0)
		return true;
	__atomic_add_fetch(&k->run->budget, 1, __ATOMIC_RELAXED);
	return false;
}

static uint64_t deadline_of(struct dw *k, uint64_t now)
{
	return now + (uint64_t)(k->cfg->timeout * 1e9);
}

/* Release the connection; @graceful: FIN after queued data, else RST. */
static void conn_close(struct dw *k, struct dconn *c, bool graceful)
{
	if (c->t) {
		struct tcp_tcb *t = c->t;

		c->t = NULL;
		if (graceful) {
			size_t avail = tcp_recv_avail(t);

			if (avail)
				tcp_recv_consume(t, avail, *k->now_us);
			tcp_close(t, *k->now_us);
		} else {
			tcp_abort(t, *k->now_us);
		}
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
	c->deadline = 0;
	c->st = DC_FREE;
}

static void conn_event(struct tcp_tcb *t, void *user, enum tcp_event ev, int reason);

static int conn_open(struct dw *k, struct dconn *c, uint64_t now)
{
	struct tcp_key key;

	BENCH_INC(k->st->conn_attempts);
	memset(c, 0, sizeof(*c));
	c->k = k;
	if (bench_cli_init(&c->cli, &k->w->cli, &k->st->cli, k->next_conn_id++) < 0) {
		BENCH_INC(k->st->conn_failed);
		note_err(k, "connect", ENOMEM);
		return -1;
	}
	c->cli_live = true;
	bench_reply_init(&c->rp);
	c->t_connect = now;
	tcp_key_init4(&key, g.laddr, 0, g.raddr, g.rport);
	c->t = tcp_connect(k->tcp, &key, conn_event, c, *k->now_us);
	if (!c->t) {
		int err = errno;

		BENCH_INC(k->st->conn_failed);
		note_err(k, "tcp_connect", err);
		bench_cli_free(&c->cli);
		c->cli_live = false;
		c->st = DC_FREE;
		return -1;
	}
	tcp_set_nodelay(c->t, true);
	c->st = DC_CONNECTING;
	c->deadline = deadline_of(k, now);
	BENCH_INC(k->st->conns_open);
	return 0;
}

static void closed_refill(struct dw *k, struct dconn *c, uint64_t now, bool failed)
{
	if (!issuing(k, now) || (!failed && !k->cfg->refill))
		return;
	if (failed || conn_open(k, c, now) < 0) {
		c->st = DC_RETRY;
		c->retry_at = now + RETRY_NS;
	}
}

static void conn_fail(struct dw *k, struct dconn *c, uint64_t now)
{
	conn_close(k, c, false);
	closed_refill(k, c, now, true);
}

/* Hand what the session queued to TCP. -1 when the connection failed. */
static int conn_flush(struct dw *k, struct dconn *c)
{
	struct bench_out *o = &c->cli.out;

	while (o->bytes > 0) {
		struct iovec iov[IOV_BATCH];
		int n = bench_out_iov(o, iov, IOV_BATCH);
		size_t total = 0;
		bool full = false;

		if (c->tls) {
			ssize_t w = bench_tls_writev(c->tls, iov, n);

			if (w < 0) {
				BENCH_INC(k->st->conn_io_err);
				note_err(k, "TLS write", 0);
				return -1;
			}
			BENCH_ADD(k->st->bytes_out, (uint64_t)w);
			bench_out_consume(o, (size_t)w);
			if (w == 0)
				break; /* the lower TCP is full: TCP_EV_WRITABLE */
			continue;
		}
		for (int i = 0; i < n && !full; i++) {
			ssize_t w = tcp_send(c->t, iov[i].iov_base, iov[i].iov_len, *k->now_us);

			if (w < 0) {
				BENCH_INC(k->st->conn_io_err);
				note_err(k, "tcp_send", (int)-w);
				return -1;
			}
			total += (size_t)w;
			full = (size_t)w < iov[i].iov_len; /* TCP_EV_WRITABLE follows */
		}
		BENCH_ADD(k->st->bytes_out, (uint64_t)total);
		bench_out_consume(o, total);
		if (full || total == 0)
			break;
	}
	return 0;
}

static void start_txn(struct dw *k, struct dconn *c, uint64_t now)
{
	size_t size = bench_sizes_sample(&k->cfg->sizes, &k->rng);

	c->msgs++;
	c->in_txn = true;
	c->t_txn = now;
	c->deadline = deadline_of(k, now);
	BENCH_INC(k->st->txn_started);
	BENCH_INC(k->st->inflight);
	if (bench_cli_start_txn(&c->cli, size) < 0) {
		note_err(k, "cannot build transaction (address template too long?)", 0);
		BENCH_INC(k->st->conn_broken);
		conn_fail(k, c, now);
	}
}

static void send_quit(struct dw *k, struct dconn *c, uint64_t now)
{
	c->deadline = deadline_of(k, now);
	if (bench_cli_quit(&c->cli) < 0) {
		BENCH_INC(k->st->conn_broken);
		conn_fail(k, c, now);
	}
}

static void next_action(struct dw *k, struct dconn *c, uint64_t now)
{
	c->deadline = 0;
	if (k->cfg->msgs_per_conn && c->msgs >= k->cfg->msgs_per_conn)
		send_quit(k, c, now);
	else if (issuing(k, now) && claim(k))
		start_txn(k, c, now);
	else
		send_quit(k, c, now);
}

/* --starttls: the TLS records go through the TCP stack's queues. */
static ssize_t tls_io_read(void *arg, void *buf, size_t len)
{
	struct dconn *c = arg;
	struct tcp_iov iov[8];
	unsigned n;
	size_t got = 0;

	if (!c->t)
		return -1;
	n = tcp_recv_peek(c->t, iov, 8);
	for (unsigned i = 0; i < n && got < len; i++) {
		size_t take = iov[i].len < len - got ? iov[i].len : len - got;

		memcpy((char *)buf + got, iov[i].base, take);
		got += take;
	}
	if (got)
		tcp_recv_consume(c->t, got, *c->k->now_us);
	return (ssize_t)got;
}

static ssize_t tls_io_write(void *arg, const void *buf, size_t len)
{
	struct dconn *c = arg;

	return c->t ? tcp_send(c->t, buf, len, *c->k->now_us) : -1;
}

static void conn_readable(struct dw *k, struct dconn *c, uint64_t now);

/* One step of the handshake; at its end, EHLO again. */
static void tls_step(struct dw *k, struct dconn *c, uint64_t now)
{
	bool want_write;
	int r = bench_tls_handshake(c->tls, &k->st->tls, &want_write);

	if (r == 0)
		return; /* READABLE or WRITABLE from TCP drives the next step */
	if (r < 0) {
		BENCH_INC(k->st->conn_broken);
		note_err(k, "TLS handshake failed", 0);
		conn_fail(k, c, now);
		return;
	}
	c->hs = false;
	mx_hist_record(&k->st->tls.h_handshake, now - c->t_hs);
	c->deadline = deadline_of(k, now);
	if (bench_cli_tls_started(&c->cli) < 0) {
		BENCH_INC(k->st->conn_broken);
		note_err(k, "EHLO after STARTTLS", 0);
		conn_fail(k, c, now);
		return;
	}
	if (conn_flush(k, c) < 0)
		conn_fail(k, c, now);
}

static void on_cli_event(struct dw *k, struct dconn *c, enum bench_cli_ev ev, uint64_t now)
{
	switch (ev) {
	case BENCH_CLI_EV_NONE:
		c->deadline = deadline_of(k, now);
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
		conn_close(k, c, true);
		closed_refill(k, c, now, false);
		break;
	case BENCH_CLI_EV_BROKEN:
		BENCH_INC(k->st->conn_broken);
		note_err(k, c->cli.err, 0);
		conn_fail(k, c, now);
		break;
	case BENCH_CLI_EV_STARTTLS: {
		struct bench_tls_io io = {tls_io_read, tls_io_write, c};

		c->tls = bench_tls_new_io(&io);
		if (!c->tls) {
			BENCH_INC(k->st->conn_broken);
			note_err(k, "cannot make a TLS session", 0);
			conn_fail(k, c, now);
			break;
		}
		c->hs = true;
		c->t_hs = now;
		c->deadline = deadline_of(k, now);
		bench_reply_init(&c->rp);
		break; /* conn_readable() starts the handshake */
	}
	}
}

/* Parse every reply TCP holds, then send what the session queued. */
/* --starttls, after the handshake: decrypt and parse the replies. */
struct dw_feed {
	struct dw *k;
	struct dconn *c;
	struct tcp_tcb *t; /* the connection's when the feed began */
	uint64_t now;
};

/* bench_replies_feed()'s callback: false once the connection is released
 * (and maybe replaced) or starts its TLS handshake. */
static bool dw_on_reply(void *arg, const struct bench_reply *r)
{
	struct dw_feed *f = arg;

	on_cli_event(f->k, f->c, bench_cli_on_reply(&f->c->cli, r), f->now);
	return f->c->t == f->t && f->c->st == DC_OPEN && !f->c->hs;
}

static void tls_readable(struct dw *k, struct dconn *c, uint64_t now)
{
	struct tcp_tcb *t = c->t;
	struct dw_feed f = {k, c, t, now};

	while (c->t == t && c->st == DC_OPEN && !c->hs) {
		const char *why = NULL;
		ssize_t n = bench_tls_read(c->tls, k->rbuf, sizeof(k->rbuf), &why);
		size_t used;

		if (n == 0)
			break;
		if (n < 0) {
			BENCH_INC(k->st->conn_eof);
			note_err(k, why, 0);
			conn_fail(k, c, now);
			return;
		}
		BENCH_ADD(k->st->bytes_in, (uint64_t)n);
		switch (bench_replies_feed(&c->rp, k->rbuf, (size_t)n, &used, k->st, dw_on_reply,
					   &f)) {
		case BENCH_FEED_ERROR:
			note_err(k, c->rp.err, 0);
			conn_fail(k, c, now);
			return;
		case BENCH_FEED_STOP:
			if (c->t != t || c->st != DC_OPEN)
				return;
			break;
		case BENCH_FEED_AGAIN:
			break;
		}
	}
	if (c->t == t && c->st == DC_OPEN && conn_flush(k, c) < 0)
		conn_fail(k, c, now);
}

static void conn_readable(struct dw *k, struct dconn *c, uint64_t now)
{
	struct tcp_tcb *t = c->t;
	struct dw_feed f = {k, c, t, now};

	if (c->hs) {
		tls_step(k, c, now);
		if (c->t != t || c->st != DC_OPEN || c->hs)
			return;
	}
	if (c->tls) {
		tls_readable(k, c, now);
		return;
	}
	while (c->t == t && c->st == DC_OPEN) {
		struct tcp_iov iov[8];
		unsigned n = tcp_recv_peek(t, iov, 8);
		size_t consumed = 0;

		if (n == 0)
			break;
		for (unsigned i = 0; i < n; i++) {
			size_t used;
			enum bench_feed_rc rc = bench_replies_feed(&c->rp, iov[i].base, iov[i].len,
								   &used, k->st, dw_on_reply, &f);

			consumed += used;
			if (rc == BENCH_FEED_ERROR) {
				note_err(k, c->rp.err, 0);
				conn_fail(k, c, now);
				return;
			}
			if (c->t != t || c->st != DC_OPEN)
				return; /* released (and maybe replaced) */
			if (c->hs)
				break;
		}
		BENCH_ADD(k->st->bytes_in, (uint64_t)consumed);
		tcp_recv_consume(t, consumed, *k->now_us);
		if (c->hs) { /* the 220 to STARTTLS: the rest is TLS */
			conn_readable(k, c, now);
			return;
		}
	}
	if (c->t == t && c->st == DC_OPEN && conn_flush(k, c) < 0)
		conn_fail(k, c, now);
}

static void conn_event(struct tcp_tcb *t, void *user, enum tcp_event ev, int reason)
{
	struct dconn *c = user;
	struct dw *k;
	uint64_t now = bench_now_ns();

	if (!c || c->t != t)
		return;
	k = c->k;
	if (k->done) {
		/* Stack teardown (dp_stop) of a connection we still held: only
		 * release it, open nothing. */
		if (ev == TCP_EV_CLOSED) {
			c->t = NULL;
			tcp_close(t, *k->now_us);
		}
		return;
	}
	switch (ev) {
	case TCP_EV_ESTABLISHED:
		if (c->st != DC_CONNECTING)
			break;
		c->st = DC_OPEN;
		if (!k->resolved) {
			k->resolved = true;
			k->last_scan = 0; /* open the others at the next poll */
		}
		BENCH_INC(k->st->conn_ok);
		mx_hist_record(&k->st->h_connect, now - c->t_connect);
		c->deadline = deadline_of(k, now);
		conn_readable(k, c, now); /* the banner may come with it */
		break;
	case TCP_EV_READABLE:
		if (c->st == DC_OPEN)
			conn_readable(k, c, now);
		break;
	case TCP_EV_WRITABLE:
		if (c->st == DC_OPEN && c->hs)
			tls_step(k, c, now);
		else if (c->st == DC_OPEN && conn_flush(k, c) < 0)
			conn_fail(k, c, now);
		break;
	case TCP_EV_PEER_FIN:
		if (c->st == DC_OPEN)
			conn_readable(k, c, now);
		if (c->t == t) {
			BENCH_INC(k->st->conn_eof);
			note_err(k, "connection closed by server", 0);
			conn_fail(k, c, now);
		}
		break;
	case TCP_EV_CLOSED:
		if (c->st == DC_CONNECTING) {
			if (reason == TCP_CLOSE_REFUSED) {
				BENCH_INC(k->st->conn_refused);
				note_err(k, "connect", ECONNREFUSED);
			} else {
				BENCH_INC(k->st->conn_failed);
				note_err(k, "connect",
					 reason == TCP_CLOSE_TIMEOUT ? ETIMEDOUT : ECONNABORTED);
			}
		} else {
			BENCH_INC(k->st->conn_io_err);
			note_err(k, tcp_close_reason_name((enum tcp_close_reason)reason), 0);
		}
		/* The TCB is still ours to release. */
		c->t = NULL;
		tcp_close(t, *k->now_us);
		BENCH_DEC(k->st->conns_open);
		conn_close(k, c, false);
		closed_refill(k, c, now, true);
		break;
	default:
		break;
	}
}

static void scan(struct dw *k, uint64_t now, bool issue)
{
	for (unsigned i = 0; i < k->nconns; i++) {
		struct dconn *c = &k->c[i];

		if (c->st == DC_RETRY && now >= c->retry_at &&
		    (k->resolved || now >= k->t_start + ARP_WAIT_NS)) {
			c->st = DC_FREE;
			if (issue && conn_open(k, c, now) < 0) {
				c->st = DC_RETRY;
				c->retry_at = now + RETRY_NS;
			}
			continue;
		}
		if ((c->st == DC_CONNECTING || c->st == DC_OPEN) && c->deadline &&
		    now >= c->deadline) {
			if (c->st == DC_CONNECTING)
				BENCH_INC(k->st->timeout_connect);
			else
				BENCH_INC(k->st->timeout_reply);
			note_err(k, c->st == DC_CONNECTING ? "connect timeout" : "reply timeout",
				 0);
			conn_fail(k, c, now);
			continue;
		}
		if (c->st == DC_OPEN && c->cli.out.bytes && conn_flush(k, c) < 0)
			conn_fail(k, c, now);
	}
}

static bool all_quiet(struct dw *k)
{
	for (unsigned i = 0; i < k->nconns; i++)
		if (k->c[i].st == DC_CONNECTING || k->c[i].st == DC_OPEN)
			return false;
	return true;
}

static void finish(struct dw *k)
{
	for (unsigned i = 0; i < k->nconns; i++)
		if (k->c[i].st == DC_CONNECTING || k->c[i].st == DC_OPEN)
			conn_close(k, &k->c[i], false);
	k->done = true;
	k->st->end_ns = bench_now_ns();
	__atomic_add_fetch(g.done, 1, __ATOMIC_RELEASE);
}

static bool start(struct dw *k)
{
	uint64_t now = bench_now_ns();

	k->w = &g.w[k->idx];
	k->cfg = k->w->cfg;
	k->run = k->w->run;
	k->st = &k->w->st;
	k->nconns = k->w->conns;
	k->next_conn_id = ((uint64_t)k->idx << 32) + 1;
	bench_rng_seed(&k->rng, k->cfg->seed * 1000003ULL + k->idx);
	k->c = calloc(k->nconns ? k->nconns : 1, sizeof(*k->c));
	if (!k->c) {
		k->w->rc = -ENOMEM;
		finish(k);
		return false;
	}
	k->t_start = now;
	for (unsigned i = 0; i < k->nconns; i++) {
		k->c[i].st = DC_RETRY; /* opened by scan() once resolved */
		k->c[i].retry_at = now;
	}
	if (k->nconns && conn_open(k, &k->c[0], now) < 0)
		k->c[0].retry_at = now + RETRY_NS;
	k->last_scan = now;
	k->started = true;
	return true;
}

static void svc_poll(void *state)
{
	struct dw *k = state;
	uint64_t now;
	bool issue;

	if (k->done)
		return;
	if (!k->started) {
		if (!__atomic_load_n(&g.go, __ATOMIC_ACQUIRE) || !start(k))
			return;
	}
	now = bench_now_ns();
	if (__atomic_load_n(&k->run->stop, __ATOMIC_RELAXED) >= 2 || now >= k->run->hard_end_ns) {
		k->st->hard_stop = true;
		finish(k);
		return;
	}
	issue = issuing(k, now);
	if (now - k->last_scan >= SCAN_NS) {
		scan(k, now, issue);
		k->last_scan = now;
	}
	if (!issue && all_quiet(k))
		finish(k);
}

static void *svc_init(const struct dp_service_ctx *ctx, const struct mx_config *c)
{
	struct dw *k;

	(void)c;
	if (ctx->worker >= MAX_WORKERS)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->idx = ctx->worker;
	k->tcp = ctx->tcp;
	k->now_us = ctx->now_us;
	g.dws[ctx->worker] = k;
	return k;
}

static void svc_fini(void *state)
{
	struct dw *k = state;

	/* The stack is gone: every TCB was released by then. */
	if (k->c)
		for (unsigned i = 0; i < k->nconns; i++)
			if (k->c[i].cli_live)
				bench_cli_free(&k->c[i].cli);
	free(k->c);
	free(k);
}

static const struct dp_service bench_service = {
	.name = "mxbench",
	.init = svc_init,
	.poll = svc_poll,
	.fini = svc_fini,
};

/* The port name is the vdev's name (up to the first comma) unless given. */
static void port_name(const struct bench_cfg *cfg, char *buf, size_t len)
{
	const char *v = cfg->dp.port ? cfg->dp.port : cfg->dp.vdev;
	size_t n = strcspn(v, ",");

	if (n >= len)
		n = len - 1;
	memcpy(buf, v, n);
	buf[n] = '\0';
}

/* dp_stop(), then remove the EAL runtime directory: with --no-shconf the EAL
 * leaves it empty. */
static void stop_clean(void)
{
	char rt[PATH_MAX];

	snprintf(rt, sizeof(rt), "%s", dp_runtime_dir() ? dp_runtime_dir() : "");
	dp_stop();
	if (rt[0] && rmdir(rt) != 0 && errno != ENOENT)
		fprintf(stderr, "mxbench: cannot remove the EAL runtime directory %s: %s\n", rt,
			strerror(errno));
}

int bench_dpdk_boot(const struct bench_cfg *cfg, const char *argv0)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&cfg->target;
	char text[4096], err[2048], dev[128], ip[64];
	const char *slash;
	struct timespec ts = {0, 10 * 1000 * 1000};
	uint64_t until;
	int n;

	g.cfg = cfg;
	if (cfg->target.ss_family != AF_INET) {
		fprintf(stderr, "mxbench: --transport dpdk: the target must be an IPv4 address\n");
		return -1;
	}
	memcpy(g.raddr, &sin->sin_addr, 4);
	g.rport = ntohs(sin->sin_port);
	slash = strchr(cfg->dp.addr, '/');
	n = snprintf(ip, sizeof(ip), "%.*s",
		     (int)(slash ? (size_t)(slash - cfg->dp.addr) : strlen(cfg->dp.addr)),
		     cfg->dp.addr);
	if (!slash || n <= 0 || (size_t)n >= sizeof(ip) || inet_pton(AF_INET, ip, g.laddr) != 1) {
		fprintf(stderr, "mxbench: --dpdk-addr: expected IPV4/PREFIX, got '%s'\n",
			cfg->dp.addr);
		return -1;
	}
	port_name(cfg, dev, sizeof(dev));
	n = snprintf(text, sizeof(text),
		     "[eal]\nlcores = %s\nno_huge = yes\nno_pci = yes\nmemory_mb = %u\n"
		     "file_prefix = %s\nvdev = %s\n"
		     "[port]\ndevice = %s\nmbufs = 8191\n"
		     "[ipv4]\naddress = %s\n%s%s%s"
		     "[worker]\nidle_sleep_us = %u\n"
		     "[tcp]\necho_port = 0\nmax_conns = %u\n"
		     "[smtp]\nport = 0\n"
		     "[daemon]\nuser = root\n"
		     "[log]\nlevel = notice\n",
		     cfg->dp.lcores, cfg->dp.mem_mb, cfg->dp.prefix, cfg->dp.vdev, dev,
		     cfg->dp.addr, cfg->dp.gw ? "gateway = " : "", cfg->dp.gw ? cfg->dp.gw : "",
		     cfg->dp.gw ? "\n" : "", cfg->dp.idle_us,
		     cfg->conns * 2 + 64 > 16 ? cfg->conns * 2 + 64 : 16);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		fprintf(stderr, "mxbench: --dpdk-* options too long\n");
		return -1;
	}
	if (config_load_string(&g.mxc, "mxbench-dpdk", text, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxbench: dataplane configuration:\n%s\n", err);
		return -1;
	}
	mx_log_level = (int)g.mxc.log_level;
	if (dp_eal_init(&g.mxc, argv0) != 0)
		return -1;
	if (dp_service_register(&bench_service) != 0 || dp_port_init(&g.mxc) != 0) {
		stop_clean();
		return -1;
	}
	if (rte_eth_dev_get_port_by_name(dev, &g.port_id) != 0) {
		stop_clean();
		return -1;
	}
	g.nworkers = dp_nworkers();
	if (g.nworkers > MAX_WORKERS) {
		fprintf(stderr, "mxbench: at most %d DPDK workers\n", MAX_WORKERS);
		stop_clean();
		return -1;
	}
	if (dp_start() != 0) {
		stop_clean();
		return -1;
	}
	/* memif: the link comes up once the peer (mxgate) has accepted us. */
	until = bench_now_ns() + (uint64_t)(cfg->dp.link_wait * 1e9);
	while (!bench_dpdk_link_up()) {
		dp_drain_logs();
		if (bench_now_ns() >= until) {
			fprintf(stderr,
				"mxbench: port %s: link still down after %.0f s (is the peer, "
				"e.g. mxgate's memif server, running?)\n",
				dev, cfg->dp.link_wait);
			stop_clean();
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	dp_drain_logs();
	return (int)g.nworkers;
}

void bench_dpdk_go(struct bench_worker *w, unsigned *done)
{
	g.w = w;
	g.done = done;
	__atomic_store_n(&g.go, 1, __ATOMIC_RELEASE);
}

bool bench_dpdk_link_up(void)
{
	struct rte_eth_link link;

	memset(&link, 0, sizeof(link));
	if (rte_eth_link_get_nowait(g.port_id, &link) != 0)
		return false;
	return link.link_status == RTE_ETH_LINK_UP;
}

void bench_dpdk_drain_logs(void)
{
	dp_drain_logs();
}

void bench_dpdk_stop(void)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	uint64_t until = bench_now_ns() + LINGER_NS;

	/* Let the last FINs and ACKs go out before the port stops. */
	while (bench_now_ns() < until && bench_dpdk_link_up()) {
		dp_drain_logs();
		nanosleep(&ts, NULL);
	}
	stop_clean();
}
