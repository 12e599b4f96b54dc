/*
 * test_attack.c - bench/attack: --attack and --attack-src parsing, the
 * connection pacing (rate, no burst after a stall, total), the slowloris
 * bytes and schedule, the zero-window command stream, each mode's reply
 * protocol, and the report's "attack" section. No sockets, no clock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/attack.h"

#define S0 1000000000000ULL /* an arbitrary start, ns */
#define MS 1000000ULL

#define BIT(m) (1u << (m))

static void test_parse_modes(void **state)
{
	unsigned m = 0;

	(void)state;
	assert_int_equal(bench_atk_parse_modes(&m, "slowloris"), 0);
	assert_int_equal(m, BIT(BENCH_ATK_SLOWLORIS));
	/* repeatable: modes add up */
	assert_int_equal(bench_atk_parse_modes(&m, "fin-hold,pregreet"), 0);
	assert_int_equal(m, BIT(BENCH_ATK_SLOWLORIS) | BIT(BENCH_ATK_FIN_HOLD) |
				    BIT(BENCH_ATK_PREGREET));
	assert_int_equal(bench_atk_parse_modes(&m, "pregreet"), 0);
	assert_int_equal(m, BIT(BENCH_ATK_SLOWLORIS) | BIT(BENCH_ATK_FIN_HOLD) |
				    BIT(BENCH_ATK_PREGREET));
	m = 0;
	assert_int_equal(bench_atk_parse_modes(&m, "all"), 0);
	/* all but the raw-packet modes: syn-flood needs its own sources */
	assert_int_equal(m, (BIT(BENCH_ATK_MODES) - 1) &
				    ~(BIT(BENCH_ATK_SYN_FLOOD) | BIT(BENCH_ATK_OOO)));
	assert_int_equal(bench_atk_parse_modes(&m, "all,syn-flood,ooo"), 0);
	assert_int_equal(m, BIT(BENCH_ATK_MODES) - 1);
	m = 0;
	assert_int_equal(bench_atk_parse_modes(&m, "zero-window,flood"), 0);
	assert_int_equal(m, BIT(BENCH_ATK_ZERO_WINDOW) | BIT(BENCH_ATK_FLOOD));
}

static void test_parse_modes_bad(void **state)
{
	static const char *const bad[] = {
		"",	     "slow",	 "slowloriss", "fin-hold,", ",flood", "flood,,pregreet",
		"SLOWLORIS", "synflood", "all,x",
	};
	unsigned m = BIT(BENCH_ATK_FLOOD);

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(bench_atk_parse_modes(&m, bad[i]), -EINVAL);
		/* nothing of a bad list is taken */
		assert_int_equal(m, BIT(BENCH_ATK_FLOOD));
	}
}

static void test_mode_names(void **state)
{
	(void)state;
	assert_string_equal(bench_atk_mode_name(BENCH_ATK_SLOWLORIS), "slowloris");
	assert_string_equal(bench_atk_mode_name(BENCH_ATK_FIN_HOLD), "fin-hold");
	assert_string_equal(bench_atk_mode_name(BENCH_ATK_ZERO_WINDOW), "zero-window");
	assert_string_equal(bench_atk_mode_name(BENCH_ATK_PREGREET), "pregreet");
	assert_string_equal(bench_atk_mode_name(BENCH_ATK_FLOOD), "flood");
	assert_string_equal(bench_atk_mode_name(BENCH_ATK_SYN_FLOOD), "syn-flood");
	assert_string_equal(bench_atk_mode_name(BENCH_ATK_OOO), "ooo");
	assert_string_equal(bench_atk_mode_name(BENCH_ATK_MODES), "?");
	/* every name parses back to its own mode */
	for (unsigned i = 0; i < BENCH_ATK_MODES; i++) {
		unsigned m = 0;

		assert_int_equal(bench_atk_parse_modes(&m, bench_atk_mode_name(i)), 0);
		assert_int_equal(m, BIT(i));
	}
}

static void test_parse_src(void **state)
{
	static struct bench_atk_cfg cfg;
	const struct sockaddr_in *s4;
	char a[INET_ADDRSTRLEN];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(bench_atk_parse_src(&cfg, "198.18.9.1,198.18.9.2,198.18.9.3", AF_INET), 0);
	assert_int_equal(cfg.nsrc, 3);
	for (unsigned i = 0; i < 3; i++) {
		s4 = (const struct sockaddr_in *)&cfg.src[i];
		assert_int_equal(s4->sin_family, AF_INET);
		assert_int_equal(s4->sin_port, 0);
		assert_int_equal(cfg.src_len[i], sizeof(struct sockaddr_in));
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		assert_int_equal(a[9], '1' + (char)i);
	}
	/* errors leave the list as it was */
	assert_int_equal(bench_atk_parse_src(&cfg, "198.18.9.4,300.1.1.1", AF_INET), -EINVAL);
	assert_int_equal(bench_atk_parse_src(&cfg, "::1", AF_INET), -EINVAL);
	assert_int_equal(bench_atk_parse_src(&cfg, "198.18.9.4,", AF_INET), -EINVAL);
	assert_int_equal(bench_atk_parse_src(&cfg, "", AF_INET), -EINVAL);
	assert_int_equal(bench_atk_parse_src(&cfg, "198.18.9.4", AF_UNIX), -EINVAL);
	assert_int_equal(cfg.nsrc, 3);
	assert_int_equal(bench_atk_parse_src(&cfg, "2001:db8::1,2001:db8::2", AF_INET6), 0);
	assert_int_equal(cfg.nsrc, 5);
	assert_int_equal(cfg.src[4].ss_family, AF_INET6);
	assert_int_equal(cfg.src_len[4], sizeof(struct sockaddr_in6));
}

static void test_parse_src_too_many(void **state)
{
	static struct bench_atk_cfg cfg;
	char list[BENCH_ATK_SRC_MAX * 16 + 16];
	size_t len = 0;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	for (unsigned i = 0; i < BENCH_ATK_SRC_MAX; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s10.0.0.%u", i ? "," : "",
					i + 1);
	assert_int_equal(bench_atk_parse_src(&cfg, list, AF_INET), 0);
	assert_int_equal(cfg.nsrc, BENCH_ATK_SRC_MAX);
	assert_int_equal(bench_atk_parse_src(&cfg, "10.0.1.1", AF_INET), -E2BIG);
	assert_int_equal(cfg.nsrc, BENCH_ATK_SRC_MAX);
}

static void test_parse_syn_src(void **state)
{
	static struct bench_atk_cfg cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(bench_atk_parse_syn_src(&cfg, "198.18.0.77,198.18.0.78"), 0);
	assert_int_equal(cfg.nsyn_src, 2);
	assert_int_equal(cfg.syn_src[0], inet_addr("198.18.0.77"));
	assert_int_equal(cfg.syn_src[1], inet_addr("198.18.0.78"));
	assert_int_equal(bench_atk_parse_syn_src(&cfg, "198.18.0.79,x"), -EINVAL);
	assert_int_equal(bench_atk_parse_syn_src(&cfg, "2001:db8::1"), -EINVAL);
	assert_int_equal(cfg.nsyn_src, 2);
	assert_int_equal(cfg.nsrc, 0); /* the connection sources are another list */
}

/* One's complement sum of @len octets, folded: 0xffff for a valid checksum. */
static uint16_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void test_syn_build(void **state)
{
	uint8_t b[BENCH_ATK_SYN_LEN + 4];
	uint32_t src = inet_addr("198.18.0.77"), dst = inet_addr("198.18.0.2"), ph = 0;
	uint16_t sport = htons(40000), dport = htons(25);

	(void)state;
	memset(b, 0xaa, sizeof(b));
	assert_int_equal(bench_atk_syn_build(b, src, dst, sport, dport, 0x01020304, 7),
			 BENCH_ATK_SYN_LEN);
	assert_int_equal(b[BENCH_ATK_SYN_LEN], 0xaa); /* nothing written beyond */
	assert_int_equal(b[0], 0x45);
	assert_int_equal(b[2] << 8 | b[3], BENCH_ATK_SYN_LEN);
	assert_int_equal(b[5], 7);
	assert_int_equal(b[9], IPPROTO_TCP);
	assert_memory_equal(b + 12, &src, 4);
	assert_memory_equal(b + 16, &dst, 4);
	assert_int_equal(sum16(b, 20, 0), 0xffff); /* IP header checksum */
	assert_memory_equal(b + 20, &sport, 2);
	assert_memory_equal(b + 22, &dport, 2);
	assert_int_equal((uint32_t)b[24] << 24 | (uint32_t)b[25] << 16 | b[26] << 8 | b[27],
			 0x01020304);
	assert_int_equal(b[32], 6 << 4); /* 24-octet TCP header */
	assert_int_equal(b[33], 0x02);	 /* SYN only */
	assert_int_equal(b[40], 2);	 /* MSS option */
	assert_int_equal(b[42] << 8 | b[43], 1460);
	for (int i = 12; i < 20; i += 2)
		ph += (uint32_t)(b[i] << 8 | b[i + 1]);
	ph += IPPROTO_TCP + 24;
	assert_int_equal(sum16(b + 20, 24, ph), 0xffff); /* TCP checksum */
}

static void test_seg_build(void **state)
{
	uint8_t b[BENCH_ATK_SEG_LEN + 4];
	uint32_t src = inet_addr("198.18.9.1"), dst = inet_addr("198.18.0.2"), ph = 0;
	uint16_t sport = htons(40001), dport = htons(25);

	(void)state;
	memset(b, 0xaa, sizeof(b));
	assert_int_equal(
		bench_atk_seg_build(b, src, dst, sport, dport, 0xfffffffe, 0x11223344, 'x', 9),
		BENCH_ATK_SEG_LEN);
	assert_int_equal(b[BENCH_ATK_SEG_LEN], 0xaa);
	assert_int_equal(b[2] << 8 | b[3], BENCH_ATK_SEG_LEN);
	assert_int_equal(sum16(b, 20, 0), 0xffff);
	assert_int_equal(((uint32_t)b[24] << 24 | (uint32_t)b[25] << 16 | b[26] << 8 | b[27]),
			 0xfffffffe);
	assert_int_equal(((uint32_t)b[28] << 24 | (uint32_t)b[29] << 16 | b[30] << 8 | b[31]),
			 0x11223344);
	assert_int_equal(b[32], 5 << 4); /* no options: no timestamp, no PAWS */
	assert_int_equal(b[33], 0x18);	 /* PSH|ACK */
	assert_int_equal(b[40], 'x');
	for (int i = 12; i < 20; i += 2)
		ph += (uint32_t)(b[i] << 8 | b[i + 1]);
	ph += IPPROTO_TCP + 21;
	/* odd length: the last octet is padded with a zero */
	{
		uint8_t pad[22];

		memcpy(pad, b + 20, 21);
		pad[21] = 0;
		assert_int_equal(sum16(pad, 22, ph), 0xffff);
	}
}

static void test_pace_rate(void **state)
{
	struct bench_atk_pace p;
	unsigned n = 0;

	(void)state;
	bench_atk_pace_init(&p, 10.0, 1000, S0);
	assert_false(bench_atk_pace_take(&p, S0 - 1));
	assert_true(bench_atk_pace_take(&p, S0));
	assert_false(bench_atk_pace_take(&p, S0)); /* the next is 100 ms on */
	assert_false(bench_atk_pace_take(&p, S0 + 100 * MS - 1));
	assert_true(bench_atk_pace_take(&p, S0 + 100 * MS));
	/* polled every ms for 10 s more: 10/s exactly (200 ms .. 10.1 s) */
	for (uint64_t t = S0 + 101 * MS; t <= S0 + 10100 * MS; t += MS)
		n += bench_atk_pace_take(&p, t);
	assert_int_equal(n, 100);
}

static void test_pace_no_burst_after_stall(void **state)
{
	struct bench_atk_pace p;
	unsigned n = 0;

	(void)state;
	bench_atk_pace_init(&p, 10.0, 1000, S0);
	assert_true(bench_atk_pace_take(&p, S0));
	/* asleep for 5 s: a late caller gets one extra, not 50 */
	while (bench_atk_pace_take(&p, S0 + 5000 * MS))
		n++;
	assert_int_equal(n, 2);
	assert_false(bench_atk_pace_take(&p, S0 + 5099 * MS));
	assert_true(bench_atk_pace_take(&p, S0 + 5100 * MS));
	/* 1000/s, asleep 5 s: 50 ms worth (+1), not 5000 */
	bench_atk_pace_init(&p, 1000.0, 100000, S0);
	assert_true(bench_atk_pace_take(&p, S0));
	n = 0;
	while (bench_atk_pace_take(&p, S0 + 5000 * MS))
		n++;
	assert_int_equal(n, 51);
}

static void test_pace_high_rate_coarse_polls(void **state)
{
	struct bench_atk_pace p;
	unsigned n = 0;

	(void)state;
	/* polled every 20 ms, as the attacker thread does: 5000/s all the same */
	bench_atk_pace_init(&p, 5000.0, 1000000, S0);
	for (uint64_t t = S0; t < S0 + 1000 * MS; t += 20 * MS)
		while (bench_atk_pace_take(&p, t))
			n++;
	assert_true(n >= 4900 && n <= 5001);
}

static void test_pace_total_and_unlimited(void **state)
{
	struct bench_atk_pace p;
	unsigned n = 0;

	(void)state;
	bench_atk_pace_init(&p, 0.0, 25, S0); /* no rate limit */
	while (bench_atk_pace_take(&p, S0) && n < 1000)
		n++;
	assert_int_equal(n, 25);
	assert_false(bench_atk_pace_take(&p, S0 + 3600000 * MS));
	/* a huge rate still paces (gap of 1 ns), never divides by zero */
	bench_atk_pace_init(&p, 1e12, 3, S0);
	assert_true(bench_atk_pace_take(&p, S0));
	assert_true(bench_atk_pace_take(&p, S0 + 1));
	assert_true(bench_atk_pace_take(&p, S0 + 2));
	assert_false(bench_atk_pace_take(&p, S0 + 1000));
}

static void test_slow_bytes(void **state)
{
	const char *head = "MAIL FROM:<";

	(void)state;
	for (uint64_t k = 0; k < strlen(head); k++)
		assert_int_equal(bench_atk_slow_byte(k), head[k]);
	/* never a line end, whatever the count */
	for (uint64_t k = 0; k < 100000; k++) {
		char b = bench_atk_slow_byte(k);

		assert_true(b != '\r' && b != '\n' && b >= ' ' && b <= '~');
	}
	assert_int_equal(bench_atk_slow_byte(UINT64_MAX), 'a' + (UINT64_MAX - 11) % 26);
	/* one byte per interval from the clock start, the first after one */
	assert_int_equal(bench_atk_slow_due(S0, 10 * 1000 * MS, 0), S0 + 10000 * MS);
	assert_int_equal(bench_atk_slow_due(S0, 10 * 1000 * MS, 4), S0 + 50000 * MS);
}

static void test_zw_fill(void **state)
{
	char buf[64];
	uint64_t k = 0;
	size_t n;

	(void)state;
	n = bench_atk_zw_fill(buf, sizeof(buf), &k, 1000);
	assert_int_equal(n, 60); /* whole commands only: 10 of 6 octets */
	assert_int_equal(k, 10);
	assert_memory_equal(buf, "NOOP\r\nHELP\r\nNOOP\r\n", 18);
	/* the stream goes on where it stopped */
	n = bench_atk_zw_fill(buf, sizeof(buf), &k, 3);
	assert_int_equal(n, 18);
	assert_int_equal(k, 13);
	assert_memory_equal(buf, "NOOP\r\nHELP\r\nNOOP\r\n", 18);
	n = bench_atk_zw_fill(buf, 5, &k, 3);
	assert_int_equal(n, 0);
	assert_int_equal(k, 13);
	n = bench_atk_zw_fill(buf, sizeof(buf), &k, 0);
	assert_int_equal(n, 0);
}

/* Feed @codes to a connection of @mode; returns the last action. */
static enum bench_atk_act feed(enum bench_atk_mode mode, const int *codes, size_t n,
			       struct bench_atk_stats *st, enum bench_atk_act *acts)
{
	struct bench_atk_proto p;
	enum bench_atk_act a = BENCH_ATK_ACT_NONE;

	bench_atk_proto_init(&p, mode);
	for (size_t i = 0; i < n; i++) {
		a = bench_atk_on_reply(&p, codes[i], st);
		acts[i] = a;
	}
	return a;
}

static struct bench_atk_stats *new_stats(void)
{
	struct bench_atk_stats *st = malloc(sizeof(*st));

	assert_non_null(st);
	bench_atk_stats_init(st);
	return st;
}

static void test_proto_fin_hold(void **state)
{
	struct bench_atk_stats *st = new_stats();
	enum bench_atk_act a[5];

	(void)state;
	feed(BENCH_ATK_FIN_HOLD, (const int[]){220, 250, 221, 421}, 4, st, a);
	assert_int_equal(a[0], BENCH_ATK_ACT_EHLO);
	assert_int_equal(a[1], BENCH_ATK_ACT_QUIT);
	assert_int_equal(a[2], BENCH_ATK_ACT_HOLD);
	assert_int_equal(a[3], BENCH_ATK_ACT_NONE); /* holding: nothing more to do */
	assert_int_equal(st->served, 1);
	assert_int_equal(st->replies, 4);
	assert_int_equal(st->by_code[221], 1);
	assert_int_equal(st->first_by_code[220], 1);
	assert_int_equal(st->refused, 0);
	/* refused banner: wait for the server's close */
	feed(BENCH_ATK_FIN_HOLD, (const int[]){421}, 1, st, a);
	assert_int_equal(a[0], BENCH_ATK_ACT_WAIT_CLOSE);
	assert_int_equal(st->refused, 1);
	/* EHLO refused: QUIT all the same; QUIT not 221: close */
	feed(BENCH_ATK_FIN_HOLD, (const int[]){220, 550, 500}, 3, st, a);
	assert_int_equal(a[1], BENCH_ATK_ACT_QUIT);
	assert_int_equal(a[2], BENCH_ATK_ACT_CLOSE);
	assert_int_equal(st->served, 1);
	free(st);
}

static void test_proto_pregreet(void **state)
{
	struct bench_atk_stats *st = new_stats();
	enum bench_atk_act a[4];

	(void)state;
	/* early talker dropped */
	feed(BENCH_ATK_PREGREET, (const int[]){554}, 1, st, a);
	assert_int_equal(a[0], BENCH_ATK_ACT_WAIT_CLOSE);
	assert_int_equal(st->refused, 1);
	assert_int_equal(st->first_by_code[554], 1);
	/* served: the banner, then the answer to the early EHLO, then QUIT */
	feed(BENCH_ATK_PREGREET, (const int[]){220, 250, 221}, 3, st, a);
	assert_int_equal(a[0], BENCH_ATK_ACT_NONE);
	assert_int_equal(a[1], BENCH_ATK_ACT_QUIT);
	assert_int_equal(a[2], BENCH_ATK_ACT_CLOSE);
	assert_int_equal(st->served, 1);
	assert_int_equal(st->refused, 1);
	/* banner then EHLO refused: refused */
	feed(BENCH_ATK_PREGREET, (const int[]){220, 554}, 2, st, a);
	assert_int_equal(a[1], BENCH_ATK_ACT_WAIT_CLOSE);
	assert_int_equal(st->refused, 2);
	free(st);
}

static void test_proto_slowloris_zero_window_flood(void **state)
{
	struct bench_atk_stats *st = new_stats();
	enum bench_atk_act a[3];

	(void)state;
	feed(BENCH_ATK_SLOWLORIS, (const int[]){220, 500, 421}, 3, st, a);
	assert_int_equal(a[0], BENCH_ATK_ACT_START);
	assert_int_equal(a[1], BENCH_ATK_ACT_NONE);
	assert_int_equal(a[2], BENCH_ATK_ACT_NONE);
	feed(BENCH_ATK_ZERO_WINDOW, (const int[]){220}, 1, st, a);
	assert_int_equal(a[0], BENCH_ATK_ACT_START);
	feed(BENCH_ATK_ZERO_WINDOW, (const int[]){554, 220}, 2, st, a);
	assert_int_equal(a[0], BENCH_ATK_ACT_WAIT_CLOSE);
	assert_int_equal(a[1], BENCH_ATK_ACT_NONE); /* refused stays refused */
	assert_int_equal(st->refused, 1);
	/* flood: 220 held, 421 refused */
	feed(BENCH_ATK_FLOOD, (const int[]){220, 421}, 2, st, a);
	assert_int_equal(a[0], BENCH_ATK_ACT_HOLD);
	assert_int_equal(a[1], BENCH_ATK_ACT_NONE);
	feed(BENCH_ATK_FLOOD, (const int[]){421}, 1, st, a);
	assert_int_equal(a[0], BENCH_ATK_ACT_WAIT_CLOSE);
	assert_int_equal(st->served, 1);
	assert_int_equal(st->refused, 2);
	assert_int_equal(st->first_by_code[220], 3);
	assert_int_equal(st->first_by_code[421], 1);
	assert_int_equal(st->first_by_code[554], 1);
	assert_int_equal(st->replies, 9);
	/* an out-of-range code is counted under 0, never out of bounds */
	feed(BENCH_ATK_FLOOD, (const int[]){999}, 1, st, a);
	assert_int_equal(st->by_code[0], 1);
	free(st);
}

static char *report(const struct bench_atk_cfg *cfg, const struct bench_atk_stats *st, bool json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (json)
		bench_atk_report_json(f, cfg, st);
	else
		bench_atk_report_text(f, cfg, st);
	fclose(f);
	return buf;
}

static void test_report(void **state)
{
	static struct bench_atk_cfg cfg;
	struct bench_atk_stats *st = calloc(BENCH_ATK_MODES, sizeof(*st));
	char *j, *t;

	(void)state;
	assert_non_null(st);
	for (unsigned m = 0; m < BENCH_ATK_MODES; m++)
		bench_atk_stats_init(&st[m]);
	memset(&cfg, 0, sizeof(cfg));
	cfg.conns = 5;
	cfg.rate = 20;
	cfg.total = 100;
	cfg.interval = 0.5;
	assert_int_equal(bench_atk_parse_modes(&cfg.modes, "fin-hold,pregreet"), 0);
	assert_int_equal(bench_atk_parse_src(&cfg, "198.18.9.1", AF_INET), 0);
	st[BENCH_ATK_FIN_HOLD].opened = 7;
	st[BENCH_ATK_FIN_HOLD].by_code[221] = 7;
	mx_hist_record(&st[BENCH_ATK_FIN_HOLD].h_held, 2500 * MS);
	st[BENCH_ATK_PREGREET].refused = 3;
	j = report(&cfg, st, true);
	assert_non_null(strstr(j, "  \"attack\": {\n    \"modes\": [\"fin-hold\", \"pregreet\"],"));
	assert_non_null(strstr(j, "\"src\": [\"198.18.9.1\"],\n    \"syn_src\": []"));
	assert_non_null(strstr(j, "\"conns_per_mode\": 5,"));
	assert_non_null(strstr(j, "\"fin-hold\": {\n      \"attempts\": 0,\n      \"opened\": 7,"));
	assert_non_null(strstr(j, "\"replies_by_code\": {\"221\": 7},"));
	assert_non_null(strstr(j, "\"held_s\": {\"count\": 1, \"min\": 2.500,"));
	assert_non_null(strstr(j, "\"refused\": 3,"));
	assert_null(strstr(j, "slowloris"));
	assert_null(strstr(j, "\"flood\""));
	/* the object closes, no trailing comma: the caller continues */
	assert_int_equal(j[strlen(j) - 1], '}');
	t = report(&cfg, st, false);
	assert_non_null(strstr(t, "mxbench: attack fin-hold: 7 opened of 0 attempts"));
	assert_non_null(strstr(t, "replies 221:7\n"));
	assert_non_null(strstr(t, "mxbench: attack pregreet: 0 opened of 0 attempts, 3 refused"));
	assert_non_null(strstr(t, "replies none\n"));
	assert_null(strstr(t, "zero-window"));
	free(j);
	free(t);
	free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_modes),
		cmocka_unit_test(test_parse_modes_bad),
		cmocka_unit_test(test_mode_names),
		cmocka_unit_test(test_parse_src),
		cmocka_unit_test(test_parse_src_too_many),
		cmocka_unit_test(test_parse_syn_src),
		cmocka_unit_test(test_syn_build),
		cmocka_unit_test(test_seg_build),
		cmocka_unit_test(test_pace_rate),
		cmocka_unit_test(test_pace_no_burst_after_stall),
		cmocka_unit_test(test_pace_high_rate_coarse_polls),
		cmocka_unit_test(test_pace_total_and_unlimited),
		cmocka_unit_test(test_slow_bytes),
		cmocka_unit_test(test_zw_fill),
		cmocka_unit_test(test_proto_fin_hold),
		cmocka_unit_test(test_proto_pregreet),
		cmocka_unit_test(test_proto_slowloris_zero_window_flood),
		cmocka_unit_test(test_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
