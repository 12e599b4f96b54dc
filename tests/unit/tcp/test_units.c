/*
 * test_units.c - pure helpers of the TCP core: sequence arithmetic, option
 * parsing (well-formed and malformed), RFC 6298 RTO, SACK scoreboard,
 * SYN cookies and ISNs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include "harness.h"

/* ---- sequence arithmetic ---- */

static void test_seq_wrap(void **state)
{
	(void)state;
	assert_true(tcp_seq_lt(0xfffffff0u, 0x10u));
	assert_true(tcp_seq_gt(0x10u, 0xfffffff0u));
	assert_true(tcp_seq_leq(5, 5));
	assert_true(tcp_seq_geq(5, 5));
	assert_false(tcp_seq_lt(5, 5));
	assert_true(tcp_seq_lt(0x7fffffffu, 0x80000000u));
	assert_true(tcp_seq_in(0xfffffffeu, 0xfffffff0u, 0x10u));
	assert_true(tcp_seq_in(0x5u, 0xfffffff0u, 0x10u));
	assert_false(tcp_seq_in(0x10u, 0xfffffff0u, 0x10u));
	assert_false(tcp_seq_in(0xffffffefu, 0xfffffff0u, 0x10u));
	assert_int_equal(tcp_seq_max(0xfffffff0u, 3), 3);
	assert_int_equal(tcp_seq_min(0xfffffff0u, 3), 0xfffffff0u);
}

/* A connection whose sequence numbers wrap moves data across 2^32. */
static void test_seq_wrap_sb(void **state)
{
	struct tcp_sackboard sb = {0};
	struct tcp_sack_block b[2] = {{0xfffffff0u + 100, 0xfffffff0u + 200},
				      {0xfffffff0u + 300, 0xfffffff0u + 400}};
	uint32_t s, e;

	(void)state;
	tcp_sack_update(&sb, 0xfffffff0u, 0xfffffff0u + 1000, b, 2);
	assert_int_equal(sb.n, 2);
	assert_true(tcp_sack_next_hole(&sb, 0xfffffff0u, &s, &e));
	assert_int_equal(s, 0xfffffff0u);
	assert_int_equal(e, (uint32_t)(0xfffffff0u + 100));
	assert_true(tcp_sack_next_hole(&sb, e, &s, &e));
	assert_int_equal(s, (uint32_t)(0xfffffff0u + 200));
	assert_int_equal(e, (uint32_t)(0xfffffff0u + 300));
}

/* ---- options ---- */

static void test_opt_syn_all(void **state)
{
	uint8_t o[40];
	size_t n = h_opt_syn(o, 1460, 7, true, true, 0x11223344, 0);
	struct tcp_opts op;

	(void)state;
	assert_int_equal(tcp_opt_parse(o, n, true, &op), 0);
	assert_true(op.mss_ok);
	assert_int_equal(op.mss, 1460);
	assert_true(op.ws_ok);
	assert_int_equal(op.ws, 7);
	assert_true(op.sack_perm);
	assert_true(op.ts_ok);
	assert_int_equal(op.tsval, 0x11223344);
	/* Not a SYN: MSS/WS/SACK-permitted are ignored, TS kept. */
	assert_int_equal(tcp_opt_parse(o, n, false, &op), 0);
	assert_false(op.mss_ok);
	assert_false(op.ws_ok);
	assert_false(op.sack_perm);
	assert_true(op.ts_ok);
}

static void test_opt_ws_clamp(void **state)
{
	uint8_t o[] = {3, 3, 20, 0};
	struct tcp_opts op;

	(void)state;
	assert_int_equal(tcp_opt_parse(o, sizeof(o), true, &op), 0);
	assert_int_equal(op.ws, 14); /* RFC 7323 2.3 */
}

static void test_opt_malformed(void **state)
{
	struct tcp_opts op;
	uint8_t len0[] = {2, 0, 5, 0xb4};      /* length 0 */
	uint8_t len1[] = {1, 1, 8, 1, 0, 0};   /* length 1 */
	uint8_t trunc[] = {8, 10, 0, 0, 0, 1}; /* TS cut short */
	uint8_t oversize[] = {2, 40, 5, 0xb4}; /* length beyond the header */
	uint8_t kind_only[] = {1, 1, 1, 2};    /* kind, no length byte */
	uint8_t badmss[] = {2, 5, 5, 0xb4, 0, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9};
	uint8_t badsack[] = {5, 7, 0, 0, 0, 1, 0};
	uint8_t mss_then_bad[] = {2, 4, 1, 0, 3, 0};

	(void)state;
	assert_int_equal(tcp_opt_parse(len0, sizeof(len0), true, &op), -EINVAL);
	assert_false(op.mss_ok);
	assert_int_equal(tcp_opt_parse(len1, sizeof(len1), true, &op), -EINVAL);
	assert_false(op.ts_ok);
	assert_int_equal(tcp_opt_parse(trunc, sizeof(trunc), true, &op), -EINVAL);
	assert_false(op.ts_ok);
	assert_int_equal(tcp_opt_parse(oversize, sizeof(oversize), true, &op), -EINVAL);
	assert_false(op.mss_ok);
	assert_int_equal(tcp_opt_parse(kind_only, sizeof(kind_only), true, &op), -EINVAL);
	/* MSS with length 5 is skipped, the TS after it still parses. */
	assert_int_equal(tcp_opt_parse(badmss, sizeof(badmss), true, &op), -EINVAL);
	assert_false(op.mss_ok);
	assert_true(op.ts_ok);
	assert_int_equal(op.tsval, 7);
	assert_int_equal(op.tsecr, 9);
	assert_int_equal(tcp_opt_parse(badsack, sizeof(badsack), false, &op), -EINVAL);
	assert_int_equal(op.nsack, 0);
	/* What parsed before the error is kept. */
	assert_int_equal(tcp_opt_parse(mss_then_bad, sizeof(mss_then_bad), true, &op), -EINVAL);
	assert_true(op.mss_ok);
	assert_int_equal(op.mss, 256);
	/* EOL stops, padding after it is not an error. */
	{
		uint8_t eol[] = {0, 2, 0, 0};
		assert_int_equal(tcp_opt_parse(eol, sizeof(eol), true, &op), 0);
		assert_false(op.mss_ok);
	}
}

static void test_opt_sack_blocks(void **state)
{
	uint8_t o[] = {1, 1, 5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40};
	struct tcp_opts op;

	(void)state;
	assert_int_equal(tcp_opt_parse(o, sizeof(o), false, &op), 0);
	assert_int_equal(op.nsack, 2);
	assert_int_equal(op.sack[0].start, 10);
	assert_int_equal(op.sack[0].end, 20);
	assert_int_equal(op.sack[1].start, 30);
	assert_int_equal(op.sack[1].end, 40);
}

/* ---- RTO (RFC 6298) ---- */

static void test_rto_rfc6298(void **state)
{
	struct tcp_rtt r;

	(void)state;
	tcp_rtt_init(&r, 1000000, 0, 60000000);
	assert_int_equal(r.rto_us, 1000000); /* 2.1: initial RTO 1 s */
	/* 2.2: first R = 100 ms: SRTT = 100, RTTVAR = 50, RTO = 100 + 4*50. */
	tcp_rtt_sample(&r, 100000);
	assert_int_equal(r.srtt_us, 100000);
	assert_int_equal(r.rttvar_us, 50000);
	assert_int_equal(r.rto_us, 300000);
	/* 2.3: R' = 200 ms: RTTVAR = 3/4*50 + 1/4*|100-200| = 62.5,
	 * SRTT = 7/8*100 + 1/8*200 = 112.5, RTO = 112.5 + 250 = 362.5. */
	tcp_rtt_sample(&r, 200000);
	assert_int_equal(r.rttvar_us, 62500);
	assert_int_equal(r.srtt_us, 112500);
	assert_int_equal(r.rto_us, 362500);
	/* Steady samples shrink RTTVAR; G = 1 ms floors the variance term. */
	for (int i = 0; i < 200; i++)
		tcp_rtt_sample(&r, 112500);
	assert_int_equal(r.srtt_us, 112500);
	assert_true(r.rto_us >= 112500 + 1000);
	assert_true(r.rto_us < 113600);
	/* 5.5 backoff doubles, bounded by the maximum. */
	assert_int_equal(tcp_rtt_rto(&r, 1), 2 * r.rto_us);
	assert_int_equal(tcp_rtt_rto(&r, 20), 60000000);
}

static void test_rto_bounds(void **state)
{
	struct tcp_rtt r;

	(void)state;
	tcp_rtt_init(&r, 1000000, 1000000, 60000000);
	tcp_rtt_sample(&r, 10000); /* 10 ms: would be 30 ms, 2.4 says >= 1 s */
	assert_int_equal(r.rto_us, 1000000);
	tcp_rtt_sample(&r, 120000000); /* huge: clamped to the maximum */
	assert_int_equal(r.rto_us, 60000000);
}

/* ---- SACK scoreboard ---- */

static void test_sack_board(void **state)
{
	struct tcp_sackboard sb = {0};
	struct tcp_sack_block in[4] = {{300, 400}, {100, 200}, {200, 250}, {500, 600}};
	struct tcp_sack_block bogus[4] = {{700, 650}, {1000, 2000}, {0, 10}, {40, 40}};
	uint32_t s, e;

	(void)state;
	tcp_sack_update(&sb, 50, 1000, in, 4);
	/* sorted and merged: [100,250) [300,400) [500,600) */
	assert_int_equal(sb.n, 3);
	assert_int_equal(sb.b[0].start, 100);
	assert_int_equal(sb.b[0].end, 250);
	assert_int_equal(sb.b[2].start, 500);
	assert_int_equal(tcp_sack_bytes(&sb), 150 + 100 + 100);
	assert_true(tcp_sack_has(&sb, 320));
	assert_false(tcp_sack_has(&sb, 260));
	/* Inverted, beyond snd_max, below snd_una, empty: ignored. */
	tcp_sack_update(&sb, 50, 1000, bogus, 4);
	assert_int_equal(sb.n, 3);
	/* holes */
	assert_true(tcp_sack_next_hole(&sb, 50, &s, &e));
	assert_int_equal(s, 50);
	assert_int_equal(e, 100);
	assert_true(tcp_sack_next_hole(&sb, 120, &s, &e));
	assert_int_equal(s, 250);
	assert_int_equal(e, 300);
	assert_true(tcp_sack_next_hole(&sb, 400, &s, &e));
	assert_int_equal(s, 400);
	assert_int_equal(e, 500);
	assert_false(tcp_sack_next_hole(&sb, 550, &s, &e));
	/* cumulative ACK to 320 prunes and clips */
	tcp_sack_prune(&sb, 320);
	assert_int_equal(sb.n, 2);
	assert_int_equal(sb.b[0].start, 320);
	assert_int_equal(sb.b[0].end, 400);
	/* bridging block merges neighbours */
	{
		struct tcp_sack_block br = {390, 510};
		tcp_sack_update(&sb, 320, 1000, &br, 1);
		assert_int_equal(sb.n, 1);
		assert_int_equal(sb.b[0].start, 320);
		assert_int_equal(sb.b[0].end, 600);
	}
}

static void test_sack_board_full(void **state)
{
	struct tcp_sackboard sb = {0};

	(void)state;
	for (uint32_t i = 0; i < 20; i++) {
		struct tcp_sack_block b = {1000 + i * 100, 1000 + i * 100 + 50};
		tcp_sack_update(&sb, 0, 10000, &b, 1);
	}
	assert_int_equal(sb.n, TCP_SACK_SCOREBOARD);
	/* the lowest blocks were kept */
	assert_int_equal(sb.b[0].start, 1000);
	{
		struct tcp_sack_block low = {500, 600};
		tcp_sack_update(&sb, 0, 10000, &low, 1);
		assert_int_equal(sb.n, TCP_SACK_SCOREBOARD);
		assert_int_equal(sb.b[0].start, 500);
	}
}

/* ---- SYN cookies, ISNs ---- */

static void test_cookies(void **state)
{
	struct henv *h = malloc(sizeof(*h));
	struct tcp_key k, k2;
	uint32_t peer_isn = 0x12345678, c;

	(void)state;
	h_init(h, NULL);
	h_key(&k, 25, 40000);
	h_key(&k2, 25, 40001);
	c = tcp_cookie_make(h->st, &k, peer_isn, tcp_cookie_mss_idx(1460));
	/* ACK of a cookie SYN-ACK: seq = peer_isn + 1, ack = cookie + 1. */
	assert_int_equal(tcp_cookie_check(h->st, &k, peer_isn + 1, c + 1), 1460);
	/* forged: other flow, other peer ISN, flipped hash or MSS bits */
	assert_int_equal(tcp_cookie_check(h->st, &k2, peer_isn + 1, c + 1), 0);
	assert_int_equal(tcp_cookie_check(h->st, &k, peer_isn + 2, c + 1), 0);
	assert_int_equal(tcp_cookie_check(h->st, &k, peer_isn + 1, (c ^ 0x10) + 1), 0);
	assert_int_equal(tcp_cookie_check(h->st, &k, peer_isn + 1, (c ^ 0x01000000) + 1), 0);
	/* still valid in the next 64 s period, stale after two */
	h->st->now_us += 64ull * 1000000;
	assert_int_equal(tcp_cookie_check(h->st, &k, peer_isn + 1, c + 1), 1460);
	h->st->now_us += 64ull * 1000000;
	assert_int_equal(tcp_cookie_check(h->st, &k, peer_isn + 1, c + 1), 0);
	/* MSS table: largest entry not above the MSS */
	assert_int_equal(tcp_cookie_mss(tcp_cookie_mss_idx(1459)), 1452);
	assert_int_equal(tcp_cookie_mss(tcp_cookie_mss_idx(100)), 536);
	assert_int_equal(tcp_cookie_mss(tcp_cookie_mss_idx(9000)), 8960);
	/* options in the timestamp */
	{
		bool ws_ok, sack;
		uint8_t ws;
		assert_true(tcp_cookie_ts_decode(0x1000 | tcp_cookie_ts_encode(true, 7, true),
						 &ws_ok, &ws, &sack));
		assert_true(ws_ok);
		assert_int_equal(ws, 7);
		assert_true(sack);
		assert_true(tcp_cookie_ts_decode(tcp_cookie_ts_encode(false, 0, false), &ws_ok, &ws,
						 &sack));
		assert_false(ws_ok);
		assert_false(sack);
		assert_false(tcp_cookie_ts_decode(0x1000, &ws_ok, &ws, &sack));
	}
	h_fini(h);
	free(h);
}

static void test_isn(void **state)
{
	struct henv *h = malloc(sizeof(*h));
	struct tcp_key k, k2;
	uint32_t a, b, c;

	(void)state;
	h_init(h, NULL);
	h_key(&k, 25, 40000);
	h_key(&k2, 25, 40001);
	a = tcp_isn(h->st, &k);
	b = tcp_isn(h->st, &k2);
	assert_true(a != b); /* per-flow offset */
	h->st->now_us += 4000;
	c = tcp_isn(h->st, &k);
	assert_int_equal(c - a, 1000); /* RFC 6528: 4 us clock */
	assert_true(tcp_ts_offset(h->st, &k) != tcp_ts_offset(h->st, &k2));
	h_fini(h);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seq_wrap),      cmocka_unit_test(test_seq_wrap_sb),
		cmocka_unit_test(test_opt_syn_all),   cmocka_unit_test(test_opt_ws_clamp),
		cmocka_unit_test(test_opt_malformed), cmocka_unit_test(test_opt_sack_blocks),
		cmocka_unit_test(test_rto_rfc6298),   cmocka_unit_test(test_rto_bounds),
		cmocka_unit_test(test_sack_board),    cmocka_unit_test(test_sack_board_full),
		cmocka_unit_test(test_cookies),	      cmocka_unit_test(test_isn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
