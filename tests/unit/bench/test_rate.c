/*
 * test_rate.c - bench/rate: intended times of the open-loop schedule, no
 * drift, catch-up after a stall keeps every arrival's own intended time.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bench/rate.h"

#define S0 1000000000000ULL /* an arbitrary start, ns */

static void test_nothing_before_start(void **state)
{
	struct bench_rate r;
	uint64_t t;

	(void)state;
	bench_rate_init(&r, 1000, S0, BENCH_ARRIVAL_UNIFORM, 1);
	assert_int_equal(bench_rate_next(&r), S0);
	assert_false(bench_rate_take(&r, S0 - 1, &t));
	assert_int_equal(bench_rate_backlog(&r, S0 - 1), 0);
	assert_true(bench_rate_take(&r, S0, &t));
	assert_int_equal(t, S0);
	assert_false(bench_rate_take(&r, S0, &t));
}

static void test_uniform_intended_times(void **state)
{
	struct bench_rate r;
	uint64_t t;

	(void)state;
	bench_rate_init(&r, 1000, S0, BENCH_ARRIVAL_UNIFORM, 1);
	for (uint64_t k = 0; k < 5000; k++) {
		uint64_t due = S0 + k * 1000000;

		assert_false(bench_rate_take(&r, due - 1, &t));
		assert_true(bench_rate_take(&r, due, &t));
		assert_int_equal(t, due);
	}
}

static void test_no_drift(void **state)
{
	struct bench_rate r;
	uint64_t t = 0;
	const double rate = 7777.7;

	(void)state;
	bench_rate_init(&r, rate, S0, BENCH_ARRIVAL_UNIFORM, 1);
	for (uint64_t k = 0; k < 3000000; k++)
		assert_true(bench_rate_take(&r, UINT64_MAX, &t));
	/* Arrival 2999999, computed directly. */
	assert_int_equal(t, S0 + (uint64_t)(2999999.0 * 1e9 / rate + 0.5));
	assert_true(fabs((double)(t - S0) - 2999999.0 * 1e9 / rate) <= 1.0);
}

static void test_slow_rate(void **state)
{
	struct bench_rate r;
	uint64_t t;

	(void)state;
	bench_rate_init(&r, 0.5, S0, BENCH_ARRIVAL_UNIFORM, 1);
	assert_true(bench_rate_take(&r, S0, &t));
	assert_false(bench_rate_take(&r, S0 + 1999999999ULL, &t));
	assert_true(bench_rate_take(&r, S0 + 2000000000ULL, &t));
	assert_int_equal(t, S0 + 2000000000ULL);
}

/* The generator stalls for a second: every arrival of that second is still
 * handed out, each with its own intended time, so the lateness is visible to
 * the caller (now - intended), and the schedule does not shift afterwards. */
static void test_catch_up_keeps_intended_times(void **state)
{
	struct bench_rate r;
	uint64_t t, prev = 0, now = S0 + 1000000000ULL + 500000;
	unsigned n = 0;

	(void)state;
	bench_rate_init(&r, 1000, S0, BENCH_ARRIVAL_UNIFORM, 1);
	assert_int_equal(bench_rate_backlog(&r, now), 1001);
	while (bench_rate_take(&r, now, &t)) {
		if (n == 0)
			assert_int_equal(t, S0);
		else
			assert_int_equal(t - prev, 1000000);
		assert_true(t <= now);
		prev = t;
		n++;
	}
	assert_int_equal(n, 1001);
	/* Lateness of the first arrival is the whole stall. */
	assert_int_equal(now - S0, 1000500000ULL);
	/* Next one is on the original grid, in the future: no burst beyond the
	 * arrivals that were due, no skipped arrivals. */
	assert_int_equal(bench_rate_next(&r), S0 + 1001 * 1000000ULL);
	assert_true(bench_rate_next(&r) > now);
	assert_int_equal(bench_rate_backlog(&r, now), 0);
}

/* Taking a bounded number per loop (as the worker may) loses nothing. */
static void test_bounded_batches(void **state)
{
	struct bench_rate r;
	uint64_t t, now = S0 + 99 * 1000000ULL, expect = S0;
	unsigned total = 0;

	(void)state;
	bench_rate_init(&r, 1000, S0, BENCH_ARRIVAL_UNIFORM, 1);
	for (int loop = 0; loop < 100; loop++) {
		for (int i = 0; i < 7 && bench_rate_take(&r, now, &t); i++) {
			assert_int_equal(t, expect);
			expect += 1000000;
			total++;
		}
	}
	assert_int_equal(total, 100);
}

static void test_poisson(void **state)
{
	struct bench_rate a, b;
	uint64_t ta = 0, tb = 0, prev = S0;
	const unsigned n = 200000;

	(void)state;
	bench_rate_init(&a, 5000, S0, BENCH_ARRIVAL_POISSON, 99);
	bench_rate_init(&b, 5000, S0, BENCH_ARRIVAL_POISSON, 99);
	for (unsigned i = 0; i < n; i++) {
		assert_true(bench_rate_take(&a, UINT64_MAX, &ta));
		assert_true(bench_rate_take(&b, UINT64_MAX, &tb));
		assert_int_equal(ta, tb); /* seeded: repeatable */
		assert_true(ta >= prev);  /* never goes back */
		prev = ta;
	}
	/* Mean gap 200 us within 1 % over 200k arrivals. */
	assert_true(fabs((double)(ta - S0) / (n - 1) - 200000.0) < 2000.0);
	bench_rate_init(&b, 5000, S0, BENCH_ARRIVAL_POISSON, 100);
	bench_rate_take(&b, UINT64_MAX, &tb);
	bench_rate_take(&b, UINT64_MAX, &tb);
	bench_rate_init(&a, 5000, S0, BENCH_ARRIVAL_POISSON, 99);
	bench_rate_take(&a, UINT64_MAX, &ta);
	bench_rate_take(&a, UINT64_MAX, &ta);
	assert_true(ta != tb); /* another seed, another schedule */
}

static void test_poisson_catch_up(void **state)
{
	struct bench_rate r;
	uint64_t t, prev = 0, now = S0 + 1000000000ULL;
	unsigned n = 0;

	(void)state;
	bench_rate_init(&r, 1000, S0, BENCH_ARRIVAL_POISSON, 5);
	while (bench_rate_take(&r, now, &t)) {
		assert_true(t >= prev && t <= now);
		prev = t;
		n++;
	}
	/* ~1000 in a second (Poisson: sd ~32). */
	assert_true(n > 850 && n < 1150);
	assert_true(bench_rate_next(&r) > now);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_before_start),
		cmocka_unit_test(test_uniform_intended_times),
		cmocka_unit_test(test_no_drift),
		cmocka_unit_test(test_slow_rate),
		cmocka_unit_test(test_catch_up_keeps_intended_times),
		cmocka_unit_test(test_bounded_batches),
		cmocka_unit_test(test_poisson),
		cmocka_unit_test(test_poisson_catch_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
