/*
 * test_refusal.c - bench/refusal: --refusal and --refusal-src parsing, what
 * the mode does to the load (EHLO name, one transaction per connection,
 * connections replaced), the source address per connection, the report.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/mxbench.h"

static void cfg_init(struct bench_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->cli.ehlo = "mxbench.example.test";
	c->msgs_per_conn = 10;
}

static void test_modes(void **state)
{
	struct bench_cfg c;

	(void)state;
	cfg_init(&c);
	assert_int_equal(bench_ref_parse_mode(&c.refusal, "nosuch"), -EINVAL);
	assert_null(bench_ref_apply(&c)); /* off: nothing changes */
	assert_string_equal(c.cli.ehlo, "mxbench.example.test");
	assert_int_equal(bench_ref_parse_mode(&c.refusal, "helo-local"), 0);
	assert_null(bench_ref_apply(&c));
	assert_string_equal(c.cli.ehlo, "bot.local");
	assert_int_equal(c.msgs_per_conn, 1);
	assert_true(c.refill);
	cfg_init(&c);
	assert_int_equal(bench_ref_parse_mode(&c.refusal, "dnsbl"), 0);
	assert_null(bench_ref_apply(&c));
	assert_string_equal(c.cli.ehlo, "mxbench.example.net"); /* .test is refused itself */
	c.rate = 10;
	assert_non_null(bench_ref_apply(&c));
}

static void test_sources(void **state)
{
	struct bench_cfg c;
	const struct sockaddr *sa;
	socklen_t len = 0;
	char ip[INET_ADDRSTRLEN];
	unsigned seen[3] = {0};

	(void)state;
	cfg_init(&c);
	assert_null(bench_ref_src(&c, 1, &len));
	assert_int_equal(
		bench_ref_parse_src(&c.refusal, "198.18.0.10,198.18.0.11,198.18.0.12", AF_INET), 0);
	assert_non_null(bench_ref_apply(&c)); /* sources without a mode */
	assert_int_equal(bench_ref_parse_mode(&c.refusal, "dnsbl"), 0);
	c.dpdk = true;
	assert_non_null(bench_ref_apply(&c)); /* dpdk has one address */
	c.dpdk = false;
	assert_null(bench_ref_apply(&c));
	for (uint64_t id = 1; id <= 30; id++) {
		sa = bench_ref_src(&c, id, &len);
		assert_non_null(sa);
		assert_int_equal(len, sizeof(struct sockaddr_in));
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
		seen[ip[strlen(ip) - 1] - '0']++;
	}
	assert_int_equal(seen[0], 10);
	assert_int_equal(seen[1], 10);
	assert_int_equal(seen[2], 10);
	assert_int_equal(bench_ref_parse_src(&c.refusal, "not-an-address", AF_INET), -EINVAL);
}

static void test_report(void **state)
{
	struct bench_cfg c;
	struct bench_wstats *t = calloc(1, sizeof(*t));
	char buf[1024] = "";
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	(void)state;
	cfg_init(&c);
	assert_int_equal(bench_ref_parse_mode(&c.refusal, "helo-local"), 0);
	assert_null(bench_ref_apply(&c));
	t->conn_ok = 110;
	t->txn_failed = 100;
	t->by_code[220] = 110;
	t->by_code[554] = 100;
	assert_int_equal(bench_ref_refused(t), 100);
	bench_ref_report_json(f, &c, t, 2.0);
	fclose(f);
	assert_string_equal(buf,
			    "  \"refusal\": {\"mode\": \"helo-local\", \"ehlo\": \"bot.local\", "
			    "\"sources\": 1, \"sessions\": 110, \"refused_sessions\": 100, "
			    "\"accepted_sessions\": 0, \"refused_per_s\": 50.0, "
			    "\"refusal_codes\": {\"554\": 100}}");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
