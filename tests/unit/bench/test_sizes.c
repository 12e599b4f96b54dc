/*
 * test_sizes.c - bench/sizes: spec parsing, fixed, table with weights,
 * seeded lognormal with median and p99 within bounds.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/sizes.h"

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static void test_parse_size(void **state)
{
	size_t v;

	(void)state;
	assert_int_equal(bench_parse_size("1024", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(bench_parse_size("4k", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(bench_parse_size("2M", &v), 0);
	assert_int_equal(v, 2u << 20);
	assert_int_equal(bench_parse_size("1g", &v), 0);
	assert_int_equal(v, 1u << 30);
	assert_int_equal(bench_parse_size("", &v), -EINVAL);
	assert_int_equal(bench_parse_size("k", &v), -EINVAL);
	assert_int_equal(bench_parse_size("1x", &v), -EINVAL);
	assert_int_equal(bench_parse_size("-1", &v), -EINVAL);
	assert_int_equal(bench_parse_size("1kk", &v), -EINVAL);
	assert_int_equal(bench_parse_size("99999999999999999999", &v), -EINVAL);
}

static void test_fixed(void **state)
{
	struct bench_sizes s;
	struct bench_rng r;

	(void)state;
	bench_rng_seed(&r, 1);
	assert_int_equal(bench_sizes_parse(&s, "10k", 1 << 20, NULL), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(bench_sizes_sample(&s, &r), 10240);
	assert_int_equal(bench_sizes_parse(&s, "2m", 1 << 20, NULL), 0);
	assert_int_equal(bench_sizes_sample(&s, &r), 1 << 20); /* clamped */
	assert_int_equal(bench_sizes_parse(&s, "0", 1 << 20, NULL), 0);
	assert_int_equal(bench_sizes_sample(&s, &r), 1);
}

static void test_bad_specs(void **state)
{
	struct bench_sizes s;
	const char *why = NULL;

	(void)state;
	assert_int_equal(bench_sizes_parse(&s, "lognormal:10k", 1 << 20, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(bench_sizes_parse(&s, "lognormal:10k:1k", 1 << 20, NULL), -EINVAL);
	assert_int_equal(bench_sizes_parse(&s, "lognormal:0:1k", 1 << 20, NULL), -EINVAL);
	assert_int_equal(bench_sizes_parse(&s, "big", 1 << 20, NULL), -EINVAL);
	assert_true(bench_sizes_parse(&s, "file:/nonexistent/sizes", 1 << 20, NULL) < 0);
}

static void test_lognormal_median_and_tail(void **state)
{
	enum { N = 200001 };
	struct bench_sizes s;
	struct bench_rng r;
	size_t *v = malloc(N * sizeof(*v));
	double med, p99;

	(void)state;
	assert_non_null(v);
	assert_int_equal(bench_sizes_parse(&s, "lognormal:16k:1m", 64 << 20, NULL), 0);
	bench_rng_seed(&r, 12345);
	for (int i = 0; i < N; i++) {
		v[i] = bench_sizes_sample(&s, &r);
		assert_true(v[i] >= 1 && v[i] <= (64u << 20));
	}
	qsort(v, N, sizeof(*v), cmp_size);
	med = (double)v[N / 2];
	p99 = (double)v[(size_t)(0.99 * N)];
	if (fabs(med / 16384.0 - 1.0) > 0.02)
		fail_msg("median %g, want 16384 +- 2%%", med);
	if (fabs(p99 / 1048576.0 - 1.0) > 0.08)
		fail_msg("p99 %g, want 1048576 +- 8%%", p99);
	free(v);
}

static void test_seeded_repeatable(void **state)
{
	struct bench_sizes s;
	struct bench_rng a, b, c;
	int same = 0;

	(void)state;
	assert_int_equal(bench_sizes_parse(&s, "lognormal:4k:256k", 1 << 30, NULL), 0);
	bench_rng_seed(&a, 7);
	bench_rng_seed(&b, 7);
	bench_rng_seed(&c, 8);
	for (int i = 0; i < 1000; i++) {
		size_t x = bench_sizes_sample(&s, &a);

		assert_int_equal(x, bench_sizes_sample(&s, &b));
		same += x == bench_sizes_sample(&s, &c);
	}
	assert_true(same < 50);
}

static void test_lognormal_clamped(void **state)
{
	struct bench_sizes s;
	struct bench_rng r;
	int at_max = 0;

	(void)state;
	assert_int_equal(bench_sizes_parse(&s, "lognormal:100k:1g", 1 << 20, NULL), 0);
	bench_rng_seed(&r, 3);
	for (int i = 0; i < 10000; i++) {
		size_t x = bench_sizes_sample(&s, &r);

		assert_true(x >= 1 && x <= (1u << 20));
		at_max += x == (1u << 20);
	}
	assert_true(at_max > 0);
}

static void test_table_weights(void **state)
{
	static const char text[] = "# sizes seen last Monday\n"
				   "100\n"
				   "\n"
				   "200 3   # three times as often\n"
				   "300k 1\n"
				   "5m\n";
	FILE *f = fmemopen((void *)text, sizeof(text) - 1, "r");
	struct bench_sizes s;
	struct bench_rng r;
	unsigned n100 = 0, n200 = 0, n300k = 0, nmax = 0;
	const unsigned n = 60000;

	(void)state;
	assert_non_null(f);
	assert_int_equal(bench_sizes_load(&s, f, 1 << 20, NULL), 0);
	fclose(f);
	assert_int_equal(s.n, 4);
	bench_rng_seed(&r, 11);
	for (unsigned i = 0; i < n; i++) {
		size_t x = bench_sizes_sample(&s, &r);

		if (x == 100)
			n100++;
		else if (x == 200)
			n200++;
		else if (x == 300 * 1024)
			n300k++;
		else if (x == 1 << 20)
			nmax++; /* 5m clamped */
		else
			fail_msg("sampled %zu, not in the table", x);
	}
	/* Weights 1:3:1:1 -> 1/6, 1/2, 1/6, 1/6, each within 3 % absolute. */
	assert_true(fabs(n100 / (double)n - 1.0 / 6) < 0.03);
	assert_true(fabs(n200 / (double)n - 0.5) < 0.03);
	assert_true(fabs(n300k / (double)n - 1.0 / 6) < 0.03);
	assert_true(fabs(nmax / (double)n - 1.0 / 6) < 0.03);
	bench_sizes_free(&s);
}

static void test_table_errors(void **state)
{
	static const char *bad[] = {
		"", "# only a comment\n", "100 x\n", "100 1 2\n", "abc\n", "100 -1\n"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[32];
		FILE *f;
		struct bench_sizes s;

		strcpy(buf, bad[i]);
		f = fmemopen(buf, strlen(buf) ? strlen(buf) : 1, "r");
		assert_non_null(f);
		if (bench_sizes_load(&s, f, 1 << 20, NULL) != -EINVAL)
			fail_msg("accepted size table '%s'", bad[i]);
		fclose(f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_lognormal_median_and_tail),
		cmocka_unit_test(test_seeded_repeatable),
		cmocka_unit_test(test_lognormal_clamped),
		cmocka_unit_test(test_table_weights),
		cmocka_unit_test(test_table_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
