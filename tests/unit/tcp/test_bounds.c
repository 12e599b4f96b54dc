/*
 * test_bounds.c - hard bounds and overload behaviour: SYN queue full ->
 * SYN cookies (valid, forged, stale), TCB pool exhaustion, out-of-order
 * and receive-buffer bounds, send-buffer back-pressure (per connection and
 * global), TIME_WAIT pool overflow, output failures, listeners, config
 * validation, counters.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include "peer.h"

static void cfg_small(struct tcp_config *c)
{
	tcp_config_default(c);
	c->time_wait_ms = 1000;
	c->nodelay = true;
}

static struct henv *env_new(const struct tcp_config *c)
{
	struct henv *h = calloc(1, sizeof(*h));

	h_init(h, c);
	return h;
}

static void env_free(struct henv *h)
{
	h_fini(h);
	free(h);
	assert_int_equal(h_bufs_live, 0);
}

static void test_syn_queue_full_cookies(void **state)
{
	struct tcp_config c;
	struct henv *h;
	struct tcp_listener *l;
	struct peer p[6];
	const struct hseg *s;
	struct tcp_tcb *t;

	(void)state;
	cfg_small(&c);
	h = env_new(&c);
	l = tcp_listen(h->st, TCP_AF_INET, 25, 4, h_event_cb, h);
	assert_non_null(l);
	for (int i = 0; i < 4; i++) {
		p_init(&p[i], h, 25, (uint16_t)(50000 + i));
		p_send(&p[i], TCP_SYN, NULL, 0);
	}
	assert_int_equal(l->synq_len, 4);
	assert_int_equal(h->st->tcbs_used, 4);
	/* queue full: answered with a cookie, no memory used */
	p_init(&p[4], h, 25, 50004);
	p[4].mss = 1460;
	p[4].ts = true;
	p[4].ws = 9;
	p[4].sack = true;
	h_clear_log(h);
	p_send(&p[4], TCP_SYN, NULL, 0);
	s = h_last(h);
	assert_int_equal(s->flags, TCP_SYN | TCP_ACK);
	assert_int_equal(s->ack, p[4].iss + 1);
	assert_int_equal(h->st->tcbs_used, 4);
	assert_null(p_obj(&p[4]));
	assert_int_equal(h->st->stats.listen_overflows, 1);
	assert_int_equal(h->st->stats.syncookies_sent, 1);
	assert_true(s->opt.ts_ok && s->opt.sack_perm && s->opt.ws_ok);
	assert_int_equal(s->opt.tsval & 0x3f, 0x20 | 0x10 | 9);
	/* the ACK carries the cookie back: connection established */
	p_saw(&p[4], s);
	p_send(&p[4], TCP_ACK, "EHLO", 4);
	t = p_tcb(&p[4]);
	assert_non_null(t);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	assert_int_equal(h->st->stats.syncookies_recv, 1);
	assert_true(h_has_event(h, TCP_EV_ACCEPTED));
	assert_int_equal(t->mss, 1460);
	assert_true(t->ws_ok && t->sack_ok && t->ts_ok);
	assert_int_equal(t->snd_wscale, 9);
	assert_int_equal(tcp_recv_avail(t), 4);
	assert_int_equal(t->snd_wnd, 65535u << 9);
	tcp_recv_consume(t, 4, h->now);
	tcp_close(t, h->now);

	/* a cookie SYN without timestamps: MSS only, no wscale/SACK */
	p_init(&p[5], h, 25, 50005);
	p[5].mss = 1300;
	p[5].ws = 5;
	p[5].sack = true;
	p_send(&p[5], TCP_SYN, NULL, 0);
	s = h_last(h);
	assert_false(s->opt.ws_ok);
	assert_false(s->opt.sack_perm);
	p_saw(&p[5], s);
	p_send(&p[5], TCP_ACK, NULL, 0);
	t = p_tcb(&p[5]);
	assert_non_null(t);
	assert_int_equal(t->mss, 1300);
	assert_false(t->ws_ok);
	tcp_close(t, h->now);
	env_free(h);
}

static void test_cookie_forged_and_stale(void **state)
{
	struct tcp_config c;
	struct henv *h;
	struct tcp_listener *l;
	struct peer p, q;
	const struct hseg *s;

	(void)state;
	cfg_small(&c);
	h = env_new(&c);
	l = tcp_listen(h->st, 0, 25, 0, h_event_cb, h); /* every SYN gets a cookie */
	assert_non_null(l);
	p_init(&p, h, 25, 50100);
	p_send(&p, TCP_SYN, NULL, 0);
	s = h_last(h);
	assert_int_equal(h->st->stats.syncookies_sent, 1);
	/* forged: a guessed ack number */
	p.ack = s->seq + 1 + 0x1000;
	h_clear_log(h);
	p_send(&p, TCP_ACK, NULL, 0);
	assert_null(p_obj(&p));
	assert_int_equal(h->st->stats.syncookies_failed, 1);
	assert_int_equal(h_last(h)->flags, TCP_RST);
	assert_int_equal(h_last(h)->seq, p.ack);
	/* valid cookie replayed by another flow */
	p_init(&q, h, 25, 50101);
	q.ack = s->seq + 1;
	q.seq = p.iss + 1;
	p_send(&q, TCP_ACK, NULL, 0);
	assert_null(p_obj(&q));
	assert_int_equal(h->st->stats.syncookies_failed, 2);
	/* stale: two periods (128 s) later */
	p.ack = s->seq + 1;
	h->now += 129ull * 1000000;
	tcp_stack_advance(h->st, h->now);
	p_send_opt(&p, TCP_ACK, p.iss + 1, NULL, 0, NULL, 0);
	assert_null(p_obj(&p));
	assert_int_equal(h->st->stats.syncookies_failed, 3);
	assert_int_equal(h->st->stats.syncookies_recv, 0);
	assert_int_equal(h->st->tcbs_used, 0);
	env_free(h);
}

static void test_tcb_pool_exhausted(void **state)
{
	struct tcp_config c;
	struct henv *h;
	struct peer p[4];
	struct tcp_key k;
	size_t before;

	(void)state;
	cfg_small(&c);
	c.max_tcbs = 2;
	c.syncookies = false;
	h = env_new(&c);
	tcp_listen(h->st, 0, 25, 16, h_event_cb, h);
	for (int i = 0; i < 2; i++) {
		p_init(&p[i], h, 25, (uint16_t)(50200 + i));
		p_send(&p[i], TCP_SYN, NULL, 0);
	}
	before = h->nlog;
	p_init(&p[2], h, 25, 50202);
	p_send(&p[2], TCP_SYN, NULL, 0);
	assert_int_equal(h->nlog, before); /* refused silently */
	assert_int_equal(h->st->stats.listen_drops, 1);
	assert_int_equal(h->st->stats.abort_on_memory, 1);
	h_key(&k, 0, 80);
	assert_null(tcp_connect(h->st, &k, h_event_cb, h, h->now));
	assert_int_equal(errno, ENOMEM);
	/* with cookies on, the SYN is still answered (no memory), but the
	 * final ACK cannot get a TCB: dropped and counted */
	h->st->cfg.syncookies = true;
	p_init(&p[3], h, 25, 50203);
	p_send(&p[3], TCP_SYN, NULL, 0);
	assert_int_equal(h->st->stats.syncookies_sent, 1);
	p_saw(&p[3], h_last(h));
	p_send(&p[3], TCP_ACK, NULL, 0);
	assert_null(p_obj(&p[3]));
	assert_int_equal(h->st->stats.listen_drops, 2);
	env_free(h);
}

static void test_ooo_bounds(void **state)
{
	struct tcp_config c;
	struct henv *h;
	struct peer p, q;
	struct tcp_tcb *t, *u;
	char buf[100];

	(void)state;
	cfg_small(&c);
	c.rcv_segs_per_conn = 4;
	c.rcv_segs = 8; /* out-of-order pieces may take half: 4 */
	h = env_new(&c);
	tcp_listen(h->st, 0, 25, 16, h_event_cb, h);
	memset(buf, 'o', sizeof(buf));
	p_init(&p, h, 25, 50300);
	t = NULL;
	p_send(&p, TCP_SYN, NULL, 0);
	p_saw(&p, h_last(h));
	p_send(&p, TCP_ACK, NULL, 0);
	t = p_tcb(&p);
	/* six segments, each beyond a hole */
	for (uint32_t i = 0; i < 6; i++)
		p_send_opt(&p, TCP_ACK, p.seq + 200 * (i + 1), NULL, 0, buf, 100);
	assert_int_equal(t->ooo_segs, 4);
	assert_int_equal(h->st->stats.ofo_queue, 4);
	assert_int_equal(h->st->stats.ofo_drop, 2);
	/* in-order data cannot be held either: dropped, not acked */
	p_send_opt(&p, TCP_ACK, p.seq, NULL, 0, buf, 100);
	assert_int_equal(t->rcv_nxt, p.seq);
	assert_int_equal(h->st->stats.rcvq_drop, 1);
	/* a second connection hits the global descriptor pool (8) */
	p_init(&q, h, 25, 50301);
	p_send(&q, TCP_SYN, NULL, 0);
	p_saw(&q, h_last(h));
	p_send(&q, TCP_ACK, NULL, 0);
	u = p_tcb(&q);
	for (int i = 0; i < 6; i++)
		p_send(&q, TCP_ACK, buf, 100);
	assert_int_equal(u->rq_segs, 4);
	assert_int_equal(h->st->rsegs_used, 8);
	assert_true(h->st->stats.rcv_mem_drop >= 1);
	assert_int_equal(h_bufs_live, 8); /* exactly the held descriptors */
	tcp_abort(t, h->now);
	tcp_abort(u, h->now);
	assert_int_equal(h->st->rsegs_used, 0);
	assert_int_equal(h_bufs_live, 0);
	env_free(h);
}

static void test_rcv_mem_budget(void **state)
{
	struct tcp_config c;
	struct henv *h;
	struct peer p, q;
	struct tcp_tcb *t, *u;
	char buf[1000];

	(void)state;
	cfg_small(&c);
	c.rcv_mem = 2500;
	h = env_new(&c);
	tcp_listen(h->st, 0, 25, 16, h_event_cb, h);
	memset(buf, 'g', sizeof(buf));
	p_init(&p, h, 25, 50400);
	p_send(&p, TCP_SYN, NULL, 0);
	/* the global budget caps the window offered in the SYN-ACK */
	assert_int_equal(h_last(h)->wnd, 2500);
	p_saw(&p, h_last(h));
	p_send(&p, TCP_ACK, NULL, 0);
	t = p_tcb(&p);
	p_init(&q, h, 25, 50401);
	p_send(&q, TCP_SYN, NULL, 0);
	p_saw(&q, h_last(h));
	p_send(&q, TCP_ACK, NULL, 0);
	u = p_tcb(&q);
	p_send(&p, TCP_ACK, buf, 1000);
	p_send(&p, TCP_ACK, buf, 1000);
	assert_int_equal(h->st->rcv_held, 2000);
	/* within u's window, beyond the stack's budget: dropped */
	p_send_opt(&q, TCP_ACK, q.seq, NULL, 0, buf, 1000);
	assert_int_equal(tcp_recv_avail(u), 0);
	assert_int_equal(h->st->stats.rcv_mem_drop, 1);
	p_send(&q, TCP_ACK, buf, 500);
	assert_int_equal(tcp_recv_avail(u), 500);
	/* t's remaining window is 500: a full segment is trimmed to it */
	p_send_opt(&p, TCP_ACK, p.seq, NULL, 0, buf, 1000);
	assert_int_equal(tcp_recv_avail(t), 2000);
	assert_int_equal(h->st->rcv_held, 2500);
	tcp_recv_consume(t, 2000, h->now);
	tcp_recv_consume(u, 500, h->now);
	assert_int_equal(h->st->rcv_held, 0);
	tcp_close(t, h->now);
	tcp_close(u, h->now);
	env_free(h);
}

/* Issue 11 defect 3: a held piece costs its buffer's truesize, not its
 * payload, in-order and out-of-order alike; trimming a piece releases
 * nothing while the buffer's truesize still dominates. */
static void test_rcv_truesize_charge(void **state)
{
	struct tcp_config c;
	struct henv *h;
	struct peer p;
	struct tcp_tcb *t;
	char buf[3000];

	(void)state;
	cfg_small(&c);
	h = env_new(&c);
	h->truesize = 2048;
	tcp_listen(h->st, 0, 25, 16, h_event_cb, h);
	memset(buf, 't', sizeof(buf));
	p_init(&p, h, 25, 50600);
	t = p_accept(&p);
	assert_non_null(t);
	/* three 1-byte segments past a hole pin three buffers */
	for (uint32_t i = 0; i < 3; i++)
		p_send_opt(&p, TCP_ACK, p.seq + 2000 + 10 * i, NULL, 0, buf, 1);
	assert_int_equal(t->ooo_segs, 3);
	assert_int_equal(h->st->rcv_held, 3 * 2048);
	assert_int_equal(t->ooo_charge, 3 * 2048);
	/* in order: 1000 bytes in a 2048-byte buffer cost 2048 */
	p_send(&p, TCP_ACK, buf, 1000);
	assert_int_equal(tcp_recv_avail(t), 1000);
	assert_int_equal(h->st->rcv_held, 4 * 2048);
	/* a payload above the truesize is charged its length */
	p_send(&p, TCP_ACK, buf, 1000);
	assert_int_equal(h->st->rcv_held, 5 * 2048);
	/* consuming part of a buffer frees none of it */
	assert_int_equal(tcp_recv_consume(t, 500, h->now), 0);
	assert_int_equal(h->st->rcv_held, 5 * 2048);
	assert_int_equal(tcp_recv_consume(t, 1500, h->now), 0);
	assert_int_equal(h->st->rcv_held, 3 * 2048);
	tcp_abort(t, h->now);
	assert_int_equal(h->st->rcv_held, 0);
	assert_int_equal(h->st->rsegs_used, 0);
	env_free(h);
}

/* Issue 11 defect 3: out-of-order holdings are capped per connection, in
 * pieces and in charged bytes (rcvbuf), and the drops are counted. */
static void test_ooo_cap_per_conn(void **state)
{
	struct tcp_config c;
	struct henv *h;
	struct peer p, q;
	struct tcp_tcb *t, *u;
	char buf[100];

	(void)state;
	cfg_small(&c);
	c.ooo_segs_max = 20;
	h = env_new(&c);
	tcp_listen(h->st, 0, 25, 16, h_event_cb, h);
	memset(buf, 'c', sizeof(buf));
	/* pieces: 30 one-byte segments past a hole, 20 held */
	p_init(&p, h, 25, 50700);
	t = p_accept(&p);
	assert_non_null(t);
	for (uint32_t i = 0; i < 30; i++)
		p_send_opt(&p, TCP_ACK, p.seq + 100 + 2 * i, NULL, 0, buf, 1);
	assert_int_equal(t->ooo_segs, 20);
	assert_int_equal(h->st->stats.ofo_cap_drop, 10);
	/* bytes: 8192-byte buffers, rcvbuf 65536 of charge: 8 held */
	h->truesize = 8192;
	p_init(&q, h, 25, 50701);
	u = p_accept(&q);
	assert_non_null(u);
	for (uint32_t i = 0; i < 12; i++)
		p_send_opt(&q, TCP_ACK, q.seq + 100 + 2 * i, NULL, 0, buf, 1);
	assert_int_equal(u->ooo_segs, 8);
	assert_true(u->ooo_charge <= c.rcvbuf);
	assert_int_equal(h->st->stats.ofo_cap_drop, 14);
	/* the hole filled: the piece that continues it moves in order, and
	 * the freed room takes a new piece past the next hole */
	h->truesize = 0;
	p_send(&p, TCP_ACK, buf, 100);
	assert_int_equal(t->ooo_segs, 19);
	assert_int_equal(tcp_recv_avail(t), 101);
	p_send_opt(&p, TCP_ACK, p.seq + 3, NULL, 0, buf, 1);
	assert_int_equal(t->ooo_segs, 20);
	assert_int_equal(h->st->stats.ofo_cap_drop, 14);
	tcp_abort(t, h->now);
	tcp_abort(u, h->now);
	assert_int_equal(h->st->rcv_held, 0);
	assert_int_equal(h->st->ooo_held, 0);
	assert_int_equal(h->st->ooo_rsegs, 0);
	env_free(h);
}

/* Issue 11 defect 3: a hundred connections sending 1-byte segments past
 * a hole (each pinning a 2 KiB buffer) do not exhaust the receive budget:
 * a well-behaved connection's in-order data is still accepted. */
#define FLOOD_CONNS 100
static void test_ooo_flood_keeps_inorder(void **state)
{
	struct tcp_config c;
	struct henv *h;
	static struct peer att[FLOOD_CONNS];
	struct tcp_tcb *ta[FLOOD_CONNS], *t;
	struct peer p;
	char buf[1000];

	(void)state;
	cfg_small(&c);
	c.rcv_segs = 1024;	/* the held-mbuf bound of a small pool */
	c.rcv_mem = 2ull << 20; /* 2 MiB of 2 KiB buffers */
	h = env_new(&c);
	h->truesize = 2048;
	tcp_listen(h->st, 0, 25, 128, h_event_cb, h);
	memset(buf, 'f', sizeof(buf));
	for (unsigned i = 0; i < FLOOD_CONNS; i++) {
		p_init(&att[i], h, 25, (uint16_t)(51000 + i));
		ta[i] = p_accept(&att[i]);
		assert_non_null(ta[i]);
		for (uint32_t k = 0; k < 60; k++)
			p_send_opt(&att[i], TCP_ACK, att[i].seq + 10 + 2 * k, NULL, 0, buf, 1);
	}
	/* the attack holds at most half of each stack-wide budget */
	assert_true(h->st->ooo_rsegs <= c.rcv_segs / 2);
	assert_true(h->st->ooo_held <= c.rcv_mem / 2);
	assert_true(h->st->stats.ofo_cap_drop + h->st->stats.ofo_drop > 0);
	p_init(&p, h, 25, 50800);
	t = p_accept(&p);
	assert_non_null(t);
	for (unsigned i = 0; i < 20; i++)
		p_send(&p, TCP_ACK, buf, sizeof(buf));
	assert_int_equal(tcp_recv_avail(t), 20 * sizeof(buf));
	assert_int_equal(h->st->stats.rcv_mem_drop, 0);
	assert_int_equal(h->st->stats.rcvq_drop, 0);
	tcp_abort(t, h->now);
	for (unsigned i = 0; i < FLOOD_CONNS; i++)
		tcp_abort(ta[i], h->now);
	assert_int_equal(h->st->rcv_held, 0);
	assert_int_equal(h->st->rsegs_used, 0);
	env_free(h);
}

static void test_send_backpressure(void **state)
{
	struct tcp_config c;
	struct henv *h;
	struct peer p, q;
	struct tcp_tcb *t, *u;
	static char buf[10000];

	(void)state;
	cfg_small(&c);
	c.sndbuf = 4096;
	c.snd_chunks = 3;
	c.chunk_size = 2048;
	h = env_new(&c);
	tcp_listen(h->st, 0, 25, 16, h_event_cb, h);
	p_init(&p, h, 25, 50500);
	p.mss = 1000;
	p.wnd = 0; /* nothing leaves: the buffer only fills */
	p_send(&p, TCP_SYN, NULL, 0);
	p_saw(&p, h_last(h));
	p_send(&p, TCP_ACK, NULL, 0);
	t = p_tcb(&p);
	assert_int_equal(tcp_send_space(t), 4096);
	assert_int_equal(tcp_send(t, buf, sizeof(buf), h->now), 4096);
	assert_int_equal(tcp_send_space(t), 0);
	assert_int_equal(tcp_send(t, buf, 1, h->now), 0);
	assert_int_equal(h->st->stats.sndbuf_full, 2);
	/* second connection: only one chunk left in the global pool */
	p_init(&q, h, 25, 50501);
	p_send(&q, TCP_SYN, NULL, 0);
	p_saw(&q, h_last(h));
	p_send(&q, TCP_ACK, NULL, 0);
	u = p_tcb(&q);
	tcp_set_callback(u, h_event_cb, h);
	assert_int_equal(tcp_send_space(u), 2048);
	assert_int_equal(tcp_send(u, buf, 3000, h->now), 2048);
	assert_int_equal(h->st->chunks_used, 3);
	/* the window opens for t; its acked data frees chunks */
	h->nevents = 0;
	p.wnd = 8000;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_true(h->nlog > 0);
	p_saw(&p, h_last(h));
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(t->snd_una, t->snd_max);
	assert_int_equal(t->sb_len, 0);
	/* both are told they may write again */
	assert_int_equal(h_count_event(h, TCP_EV_WRITABLE), 2);
	tcp_abort(t, h->now);
	tcp_abort(u, h->now);
	assert_int_equal(h->st->chunks_used, 0);
	env_free(h);
}

static void test_timewait_overflow(void **state)
{
	struct tcp_config c;
	struct henv *h;

	(void)state;
	cfg_small(&c);
	c.max_timewait = 1;
	h = env_new(&c);
	tcp_listen(h->st, 0, 25, 16, h_event_cb, h);
	for (int i = 0; i < 2; i++) {
		struct peer p;
		struct tcp_tcb *t;
		p_init(&p, h, 25, (uint16_t)(50600 + i));
		p_send(&p, TCP_SYN, NULL, 0);
		p_saw(&p, h_last(h));
		p_send(&p, TCP_ACK, NULL, 0);
		t = p_tcb(&p);
		tcp_close(t, h->now);
		p_saw(&p, h_last(h));
		p_send(&p, TCP_ACK | TCP_FIN, NULL, 0);
		if (i == 0)
			assert_non_null(p_obj(&p));
		else
			assert_null(p_obj(&p));
	}
	assert_int_equal(h->st->tws_used, 1);
	assert_int_equal(h->st->stats.timewait_overflow, 1);
	assert_int_equal(h->st->tcbs_used, 0);
	env_free(h);
}

static void test_output_failure_recovers(void **state)
{
	struct tcp_config c;
	struct henv *h;
	struct peer p;
	struct tcp_tcb *t;

	(void)state;
	cfg_small(&c);
	h = env_new(&c);
	tcp_listen(h->st, 0, 25, 16, h_event_cb, h);
	p_init(&p, h, 25, 50700);
	h->fail_output = 1; /* the SYN-ACK does not leave */
	p_send(&p, TCP_SYN, NULL, 0);
	assert_int_equal(h->st->stats.out_drops, 1);
	h_advance(h, 1000);
	p_saw(&p, h_last(h));
	p_send(&p, TCP_ACK, NULL, 0);
	t = p_tcb(&p);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	tcp_close(t, h->now);
	env_free(h);
}

static void test_listeners_and_config(void **state)
{
	struct tcp_config c;
	struct henv *h;
	struct tcp_listener *l;
	struct peer p;
	struct tcp_env bad;
	struct timer_wheel w;

	(void)state;
	cfg_small(&c);
	c.max_listeners = 2;
	h = env_new(&c);
	l = tcp_listen(h->st, 0, 25, 4, h_event_cb, h);
	assert_non_null(l);
	assert_null(tcp_listen(h->st, TCP_AF_INET, 25, 4, h_event_cb, h));
	assert_int_equal(errno, EADDRINUSE);
	assert_non_null(tcp_listen(h->st, TCP_AF_INET, 587, 4, h_event_cb, h));
	assert_null(tcp_listen(h->st, TCP_AF_INET, 465, 4, h_event_cb, h));
	assert_int_equal(errno, ENOSPC);
	/* unlisten resets embryos */
	p_init(&p, h, 25, 50800);
	p_send(&p, TCP_SYN, NULL, 0);
	assert_int_equal(h->st->tcbs_used, 1);
	h_clear_log(h);
	tcp_unlisten(l);
	assert_int_equal(h->st->tcbs_used, 0);
	assert_true(h_last(h)->flags & TCP_RST);
	/* SYN to it now: RST */
	p_init(&p, h, 25, 50801);
	p_send(&p, TCP_SYN, NULL, 0);
	assert_int_equal(h_last(h)->flags, TCP_RST | TCP_ACK);
	/* config validation */
	timer_wheel_init(&w, 0);
	c.chunk_size = 7;
	assert_null(tcp_stack_create(&c, &h->env, &w, 0));
	assert_int_equal(errno, EINVAL);
	cfg_small(&c);
	bad = h->env;
	bad.output = NULL;
	assert_null(tcp_stack_create(&c, &bad, &w, 0));
	assert_int_equal(errno, EINVAL);
	env_free(h);
}

static void test_counters(void **state)
{
	struct tcp_config c;
	struct henv *h;
	struct tcp_stats s;
	struct peer p;

	(void)state;
	cfg_small(&c);
	h = env_new(&c);
	assert_string_equal(tcp_stats_name(0), "ActiveOpens");
	assert_string_equal(tcp_stats_name(4), "CurrEstab");
	assert_null(tcp_stats_name(TCP_STATS_COUNT));
	for (unsigned i = 0; i < TCP_STATS_COUNT; i++)
		assert_non_null(tcp_stats_name(i));
	p_init(&p, h, 99, 50900);
	p_send(&p, TCP_SYN, NULL, 0);
	tcp_stats_read(h->st, &s);
	assert_int_equal(s.in_segs, 1);
	assert_int_equal(s.out_rsts, 1);
	assert_int_equal(s.out_segs, 1);
	/* malformed segments: counted InErrs */
	{
		uint8_t bad[20] = {0};
		bad[12] = 0x40; /* data offset 16 < 20 */
		assert_int_equal(h_input_raw(h, &p.k, bad, sizeof(bad)), -EINVAL);
		assert_int_equal(h_input_raw(h, &p.k, bad, 10), -EINVAL);
		bad[12] = 0xf0; /* 60 > length */
		assert_int_equal(h_input_raw(h, &p.k, bad, sizeof(bad)), -EINVAL);
		assert_int_equal(h->st->stats.in_errs, 3);
	}
	assert_string_equal(tcp_state_name(TCP_TIME_WAIT), "TIME_WAIT");
	assert_string_equal(tcp_close_reason_name(TCP_CLOSE_REFUSED), "refused");
	env_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syn_queue_full_cookies),
		cmocka_unit_test(test_cookie_forged_and_stale),
		cmocka_unit_test(test_tcb_pool_exhausted),
		cmocka_unit_test(test_ooo_bounds),
		cmocka_unit_test(test_rcv_mem_budget),
		cmocka_unit_test(test_rcv_truesize_charge),
		cmocka_unit_test(test_ooo_cap_per_conn),
		cmocka_unit_test(test_ooo_flood_keeps_inorder),
		cmocka_unit_test(test_send_backpressure),
		cmocka_unit_test(test_timewait_overflow),
		cmocka_unit_test(test_output_failure_recovers),
		cmocka_unit_test(test_listeners_and_config),
		cmocka_unit_test(test_counters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
