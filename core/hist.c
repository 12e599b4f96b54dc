/*
 * hist.c - log-linear latency histogram. See hist.h for the layout and the
 * error bound.
 */
#include "core/hist.h"

#include <math.h>
#include <string.h>

#define LOAD(p)	    __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

void mx_hist_init(struct mx_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned mx_hist_index(uint64_t v)
{
	unsigned m, shift;

	if (v < 2 * (uint64_t)MX_HIST_SUB)
		return (unsigned)v;
	m = 63u - (unsigned)__builtin_clzll(v);
	shift = m - MX_HIST_SUB_BITS;
	/* v >> shift lies in [2^S, 2^(S+1)), so buckets of octave m follow on. */
	return shift * MX_HIST_SUB + (unsigned)(v >> shift);
}

uint64_t mx_hist_bucket_lo(unsigned idx)
{
	unsigned shift;

	if (idx < 2 * MX_HIST_SUB)
		return idx;
	shift = (idx >> MX_HIST_SUB_BITS) - 1;
	return (uint64_t)(idx - shift * MX_HIST_SUB) << shift;
}

uint64_t mx_hist_bucket_width(unsigned idx)
{
	if (idx < 2 * MX_HIST_SUB)
		return 1;
	return (uint64_t)1 << ((idx >> MX_HIST_SUB_BITS) - 1);
}

void mx_hist_record(struct mx_hist *h, uint64_t v)
{
	unsigned idx = mx_hist_index(v);

	/* Single writer: plain read-modify-write, published with relaxed stores
	 * so a concurrent merge() reads whole words. */
	STORE(&h->buckets[idx], h->buckets[idx] + 1);
	STORE(&h->count, h->count + 1);
	STORE(&h->sum, h->sum + v);
	if (v < h->min)
		STORE(&h->min, v);
	if (v > h->max)
		STORE(&h->max, v);
}

void mx_hist_merge(struct mx_hist *dst, const struct mx_hist *src)
{
	uint64_t n = 0, min, max;

	for (unsigned i = 0; i < MX_HIST_BUCKETS; i++) {
		uint64_t c = LOAD(&src->buckets[i]);

		dst->buckets[i] += c;
		n += c;
	}
	/* Count from the buckets themselves, so percentiles stay consistent
	 * when @src is being written meanwhile. */
	dst->count += n;
	dst->sum += LOAD(&src->sum);
	min = LOAD(&src->min);
	max = LOAD(&src->max);
	if (n && min < dst->min)
		dst->min = min;
	if (n && max > dst->max)
		dst->max = max;
}

uint64_t mx_hist_percentile(const struct mx_hist *h, double pct)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	if (pct <= 0.0)
		return h->min;
	if (pct >= 100.0)
		return h->max;
	rank = (uint64_t)ceil(pct / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < MX_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t v = mx_hist_bucket_lo(i) + mx_hist_bucket_width(i) / 2;

			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}

double mx_hist_mean(const struct mx_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
