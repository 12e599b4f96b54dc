/*
 * test_hist.c - core/hist: bucket layout, percentiles within the stated
 * relative error on known distributions, merge, min/max.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/rng.h"
#include "core/hist.h"

static const double pcts[] = {0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static struct mx_hist *new_hist(void)
{
	struct mx_hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	mx_hist_init(h);
	return h;
}

/* Percentiles of @h against the exact nearest-rank values of @v. */
static void check_against(const struct mx_hist *h, uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	assert_int_equal(h->count, n);
	assert_int_equal(h->min, v[0]);
	assert_int_equal(h->max, v[n - 1]);
	assert_int_equal(mx_hist_percentile(h, 0), v[0]);
	assert_int_equal(mx_hist_percentile(h, 100), v[n - 1]);
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		size_t rank = (size_t)ceil(pcts[i] / 100.0 * (double)n);
		uint64_t exact = v[(rank ? rank : 1) - 1];
		uint64_t got = mx_hist_percentile(h, pcts[i]);
		double err =
			exact ? fabs((double)got - (double)exact) / (double)exact : (double)got;

		if (err > MX_HIST_REL_ERR)
			fail_msg("p%g: got %llu, exact %llu, error %g > %g", pcts[i],
				 (unsigned long long)got, (unsigned long long)exact, err,
				 MX_HIST_REL_ERR);
	}
}

static void test_error_bound_is_below_one_percent(void **state)
{
	(void)state;
	assert_true(MX_HIST_REL_ERR < 0.01);
}

static void test_bucket_edges(void **state)
{
	(void)state;
	assert_int_equal(mx_hist_index(0), 0);
	assert_int_equal(mx_hist_index(UINT64_MAX), MX_HIST_BUCKETS - 1);
	assert_int_equal(mx_hist_bucket_lo(0), 0);
	for (unsigned i = 0; i < MX_HIST_BUCKETS; i++) {
		uint64_t lo = mx_hist_bucket_lo(i), w = mx_hist_bucket_width(i);

		assert_int_equal(mx_hist_index(lo), i);
		assert_int_equal(mx_hist_index(lo + (w - 1)), i);
		if (i + 1 < MX_HIST_BUCKETS)
			assert_int_equal(mx_hist_bucket_lo(i + 1), lo + w);
		else
			assert_true(lo + (w - 1) == UINT64_MAX);
		if (lo >= 2 * MX_HIST_SUB)
			assert_true((double)w / (double)lo <= 2 * MX_HIST_REL_ERR);
		if (lo > 0)
			assert_int_equal(mx_hist_index(lo - 1), i - 1);
	}
	/* Exact range: one value per bucket below 2^(S+1). */
	for (uint64_t v = 0; v < 2 * MX_HIST_SUB; v++)
		assert_int_equal(mx_hist_bucket_width(mx_hist_index(v)), 1);
}

static void test_empty(void **state)
{
	struct mx_hist *h = new_hist();

	(void)state;
	assert_int_equal(mx_hist_percentile(h, 50), 0);
	assert_int_equal(mx_hist_percentile(h, 100), 0);
	assert_true(mx_hist_mean(h) == 0.0);
	free(h);
}

static void test_small_values_exact(void **state)
{
	struct mx_hist *h = new_hist();

	(void)state;
	for (uint64_t v = 1; v <= 200; v++)
		mx_hist_record(h, v);
	assert_int_equal(mx_hist_percentile(h, 50), 100);
	assert_int_equal(mx_hist_percentile(h, 99), 198);
	assert_int_equal(mx_hist_percentile(h, 0.5), 1);
	assert_int_equal(h->min, 1);
	assert_int_equal(h->max, 200);
	assert_true(mx_hist_mean(h) == 100.5);
	free(h);
}

static void test_single_value_exact(void **state)
{
	struct mx_hist *h = new_hist();

	(void)state;
	mx_hist_record(h, 123456789);
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		assert_int_equal(mx_hist_percentile(h, pcts[i]), 123456789);
	free(h);
}

enum dist { UNIFORM, EXPONENTIAL, LOGNORMAL, BIMODAL, POWERS };

static uint64_t draw(enum dist d, struct bench_rng *r, size_t i)
{
	switch (d) {
	case UNIFORM:
		return 1 + bench_rng_next(r) % 1000000;
	case EXPONENTIAL:
		return (uint64_t)(-log(bench_rng_unit(r)) * 250000.0);
	case LOGNORMAL: /* latencies around 1 ms with a long tail, in ns */
		return (uint64_t)exp(log(1e6) + 1.5 * bench_rng_normal(r));
	case BIMODAL:
		return bench_rng_next(r) % 10 ? 50000 + bench_rng_next(r) % 1000
					      : 5000000000ULL + bench_rng_next(r) % 100000000;
	case POWERS: /* bucket edges on purpose */
		return ((uint64_t)1 << (i % 60)) - (i & 1);
	}
	return 0;
}

static void run_dist(enum dist d, size_t n)
{
	struct mx_hist *h = new_hist();
	uint64_t *v = malloc(n * sizeof(*v));
	struct bench_rng r;

	assert_non_null(v);
	bench_rng_seed(&r, 42 + d);
	for (size_t i = 0; i < n; i++) {
		v[i] = draw(d, &r, i);
		mx_hist_record(h, v[i]);
	}
	check_against(h, v, n);
	free(v);
	free(h);
}

static void test_uniform(void **state)
{
	(void)state;
	run_dist(UNIFORM, 200000);
}

static void test_exponential(void **state)
{
	(void)state;
	run_dist(EXPONENTIAL, 200000);
}

static void test_lognormal(void **state)
{
	(void)state;
	run_dist(LOGNORMAL, 200000);
}

static void test_bimodal(void **state)
{
	(void)state;
	run_dist(BIMODAL, 100000);
}

static void test_powers(void **state)
{
	(void)state;
	run_dist(POWERS, 6000);
}

static void test_extremes(void **state)
{
	struct mx_hist *h = new_hist();

	(void)state;
	mx_hist_record(h, 0);
	mx_hist_record(h, UINT64_MAX);
	mx_hist_record(h, (uint64_t)1 << 63);
	assert_int_equal(h->min, 0);
	assert_int_equal(h->max, UINT64_MAX);
	assert_int_equal(mx_hist_percentile(h, 100), UINT64_MAX);
	assert_int_equal(mx_hist_percentile(h, 10), 0);
	{
		uint64_t p50 = mx_hist_percentile(h, 50);
		double err = fabs((double)p50 - 9223372036854775808.0) / 9223372036854775808.0;

		assert_true(err <= MX_HIST_REL_ERR);
	}
	free(h);
}

static void test_merge(void **state)
{
	struct mx_hist *a = new_hist(), *b = new_hist(), *all = new_hist(), *m = new_hist();
	struct bench_rng r;

	(void)state;
	bench_rng_seed(&r, 7);
	for (int i = 0; i < 50000; i++) {
		uint64_t v = (uint64_t)exp(log(1e5) + 2.0 * bench_rng_normal(&r));

		mx_hist_record(i % 3 ? a : b, v);
		mx_hist_record(all, v);
	}
	mx_hist_merge(m, a);
	mx_hist_merge(m, b);
	assert_int_equal(m->count, all->count);
	assert_int_equal(m->min, all->min);
	assert_int_equal(m->max, all->max);
	assert_int_equal(m->sum, all->sum);
	assert_memory_equal(m->buckets, all->buckets, sizeof(all->buckets));
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		assert_int_equal(mx_hist_percentile(m, pcts[i]), mx_hist_percentile(all, pcts[i]));
	/* Merging an empty histogram changes nothing (min stays). */
	mx_hist_init(a);
	mx_hist_merge(m, a);
	assert_int_equal(m->min, all->min);
	assert_int_equal(m->count, all->count);
	free(a);
	free(b);
	free(all);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_bound_is_below_one_percent),
		cmocka_unit_test(test_bucket_edges),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_small_values_exact),
		cmocka_unit_test(test_single_value_exact),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_exponential),
		cmocka_unit_test(test_lognormal),
		cmocka_unit_test(test_bimodal),
		cmocka_unit_test(test_powers),
		cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
