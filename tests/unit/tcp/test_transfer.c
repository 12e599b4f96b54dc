/*
 * test_transfer.c - two stacks back to back through an in-memory link that
 * drops, duplicates and reorders segments (seeded PRNG). A client sends a
 * pseudo-random byte stream to the echo service of the server stack and
 * checks that every byte comes back intact and in order; then both sides
 * close. Afterwards no buffer may be held and every pool must be empty.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include "harness.h"

struct client {
	struct henv *h;
	struct tcp_tcb *t;
	size_t total, sent, recvd;
	bool established, closed, peer_fin, shut;
	int reason;
	bool bad;
};

static uint8_t pattern(size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u;

	return (uint8_t)(x >> 13 ^ x >> 24);
}

static void client_pump(struct client *c)
{
	uint8_t buf[4096];

	while (c->established && !c->closed && c->sent < c->total) {
		size_t n = c->total - c->sent, space = tcp_send_space(c->t);
		ssize_t w;
		if (n > sizeof(buf))
			n = sizeof(buf);
		if (n > space)
			n = space;
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(c->sent + i);
		w = tcp_send(c->t, buf, n, c->h->now);
		if (w <= 0)
			break;
		c->sent += (size_t)w;
	}
	if (c->established && !c->closed && c->sent == c->total && !c->shut) {
		c->shut = true;
		tcp_shutdown(c->t, c->h->now);
	}
}

static void client_read(struct client *c)
{
	struct tcp_iov iov[32];
	unsigned n = tcp_recv_peek(c->t, iov, 32);
	size_t got = 0;

	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p = iov[i].base;
		for (size_t k = 0; k < iov[i].len; k++)
			if (p[k] != pattern(c->recvd + got + k))
				c->bad = true;
		got += iov[i].len;
	}
	c->recvd += got;
	tcp_recv_consume(c->t, got, c->h->now);
}

static void client_cb(struct tcp_tcb *t, void *user, enum tcp_event ev, int reason)
{
	struct client *c = user;

	(void)t;
	switch (ev) {
	case TCP_EV_ESTABLISHED:
		c->established = true;
		client_pump(c);
		break;
	case TCP_EV_READABLE:
		client_read(c);
		break;
	case TCP_EV_WRITABLE:
		client_pump(c);
		break;
	case TCP_EV_PEER_FIN:
		c->peer_fin = true;
		break;
	case TCP_EV_CLOSED:
		c->closed = true;
		c->reason = reason;
		break;
	default:
		break;
	}
}

struct run_stats {
	uint64_t sim_ms;
	uint64_t retrans_a, retrans_b;
	uint64_t timeouts, recoveries, tlp, undo, lost_rtx;
	uint64_t dropped, dupped, reordered;
};

static void run_transfer(uint64_t seed, unsigned drop, unsigned dup, unsigned reorder, size_t bytes,
			 bool sack_ts, struct run_stats *rs)
{
	struct tcp_config ca, cb;
	struct henv *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct hlink *l = calloc(1, sizeof(*l));
	struct client c = {0};
	struct tcp_key k;
	uint64_t ms = 0;

	tcp_config_default(&ca);
	ca.time_wait_ms = 2000;
	ca.rto_initial_ms = 500;
	ca.retries = 30;
	ca.timestamps = ca.sack = sack_ts;
	cb = ca;
	h_init(a, &ca);
	h_init(b, &cb);
	hlink_init(l, a, b, seed);
	l->drop_pct = drop;
	l->dup_pct = dup;
	l->reorder_pct = reorder;
	a->echo = true;
	a->auto_close = true;
	assert_non_null(tcp_listen(a->st, 0, 7, 64, h_event_cb, a));
	c.h = b;
	c.total = bytes;
	h_key(&k, 0, 7);
	/* b's view: local 10.0.0.1, remote 10.0.0.2 -- the link swaps keys,
	 * so a sees the flow as 10.0.0.1 <- 10.0.0.2 too; fine for a test. */
	c.t = tcp_connect(b->st, &k, client_cb, &c, b->now);
	assert_non_null(c.t);
	while (ms < 600000) {
		ms++;
		a->now += 1000;
		b->now = a->now;
		tcp_stack_advance(a->st, a->now);
		tcp_stack_advance(b->st, b->now);
		hlink_run(l, a->now);
		client_pump(&c);
		if (c.closed && a->st->tcbs_used == 0 && l->nq == 0)
			break;
	}
	if (!c.closed)
		printf("# stuck: sent %zu recvd %zu client %s server tcbs %u q %u\n", c.sent,
		       c.recvd, tcp_state_name(c.t->state), a->st->tcbs_used, l->nq);
	assert_false(c.bad);
	assert_true(c.closed);
	assert_int_equal(c.reason, TCP_CLOSE_NORMAL);
	assert_int_equal(c.sent, bytes);
	assert_int_equal(c.recvd, bytes);
	assert_true(c.peer_fin);
	assert_int_equal(a->st->stats.curr_estab, 0);
	assert_int_equal(b->st->stats.curr_estab, 0);
	assert_int_equal(a->st->tcbs_used, 0);
	tcp_close(c.t, b->now);
	assert_int_equal(b->st->tcbs_used, 0);
	assert_int_equal(a->st->chunks_used, 0);
	assert_int_equal(b->st->chunks_used, 0);
	assert_int_equal(a->st->rsegs_used, 0);
	assert_int_equal(b->st->rsegs_used, 0);
	assert_int_equal(a->st->rcv_held, 0);
	assert_int_equal(b->st->rcv_held, 0);
	rs->sim_ms = ms;
	rs->retrans_a = a->st->stats.retrans_segs;
	rs->retrans_b = b->st->stats.retrans_segs;
	rs->timeouts = a->st->stats.timeouts + b->st->stats.timeouts;
	rs->recoveries = a->st->stats.fast_retrans + b->st->stats.fast_retrans;
	rs->tlp = a->st->stats.tlp_probes + b->st->stats.tlp_probes;
	rs->undo = a->st->stats.dsack_undo + b->st->stats.dsack_undo;
	rs->lost_rtx = a->st->stats.lost_retrans + b->st->stats.lost_retrans;
	rs->dropped = l->dropped;
	rs->dupped = l->dupped;
	rs->reordered = l->reordered;
	assert_int_equal(l->overflow, 0);
	/* let TIME_WAIT run out, then tear down */
	for (int i = 0; i < 2100; i++) {
		a->now += 1000;
		b->now = a->now;
		tcp_stack_advance(a->st, a->now);
		tcp_stack_advance(b->st, b->now);
		hlink_run(l, a->now);
	}
	assert_int_equal(a->st->tws_used, 0);
	assert_int_equal(b->st->tws_used, 0);
	for (unsigned i = 0; i < l->nq; i++)
		free(l->q[i].bytes);
	h_fini(a);
	h_fini(b);
	assert_int_equal(h_bufs_live, 0);
	free(a);
	free(b);
	free(l);
}

static void test_clean_link(void **state)
{
	struct run_stats rs;

	(void)state;
	run_transfer(1, 0, 0, 0, 1 << 20, true, &rs);
	assert_int_equal(rs.retrans_a + rs.retrans_b, 0);
}

/* 5% drop, 2% duplicate, 5% reorder in both directions, 1 MiB each way:
 * SACK recovery (RFC 6675 + RACK-TLP) must repair nearly every loss
 * without a retransmission timeout. Before it, this link cost ~10 RTOs
 * per seed and 5-7 s of simulated time. */
static void test_lossy_link(void **state)
{
	uint64_t timeouts = 0, ms = 0;

	(void)state;
	for (uint64_t seed = 1; seed <= 8; seed++) {
		struct run_stats rs;
		run_transfer(seed, 5, 2, 5, 1 << 20, true, &rs);
		printf("# seed %llu: 1 MiB echoed in %llu ms simulated; link dropped %llu, "
		       "duplicated %llu, reordered %llu; retransmitted %llu (server) + %llu "
		       "(client); %llu timeouts, %llu recoveries, %llu probes, %llu lost "
		       "retransmissions, %llu undone\n",
		       (unsigned long long)seed, (unsigned long long)rs.sim_ms,
		       (unsigned long long)rs.dropped, (unsigned long long)rs.dupped,
		       (unsigned long long)rs.reordered, (unsigned long long)rs.retrans_a,
		       (unsigned long long)rs.retrans_b, (unsigned long long)rs.timeouts,
		       (unsigned long long)rs.recoveries, (unsigned long long)rs.tlp,
		       (unsigned long long)rs.lost_rtx, (unsigned long long)rs.undo);
		assert_true(rs.dropped > 0 && rs.retrans_a + rs.retrans_b > 0);
		/* ~130 drops per seed: almost none may need the RTO */
		assert_true(rs.timeouts <= 3);
		assert_true(rs.sim_ms < 2000);
		timeouts += rs.timeouts;
		ms += rs.sim_ms;
	}
	assert_true(timeouts <= 6);
	assert_true(ms < 12000);
}

static void test_lossy_link_newreno(void **state)
{
	struct run_stats rs;

	(void)state;
	/* no SACK, no timestamps: NewReno and Karn's rule alone */
	run_transfer(7, 5, 2, 5, 512 << 10, false, &rs);
	assert_true(rs.retrans_a + rs.retrans_b > 0);
}

static void test_very_lossy_link(void **state)
{
	struct run_stats rs;

	(void)state;
	run_transfer(11, 20, 5, 20, 128 << 10, true, &rs);
	printf("# 20%% loss: 128 KiB in %llu ms, %llu timeouts, %llu recoveries\n",
	       (unsigned long long)rs.sim_ms, (unsigned long long)rs.timeouts,
	       (unsigned long long)rs.recoveries);
	assert_true(rs.retrans_a + rs.retrans_b > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_link),
		cmocka_unit_test(test_lossy_link),
		cmocka_unit_test(test_lossy_link_newreno),
		cmocka_unit_test(test_very_lossy_link),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
