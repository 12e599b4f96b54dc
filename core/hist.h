/*
 * hist.h - log-linear latency histogram with bounded relative error.
 *
 * HDR-style layout: values below 2^(S+1) (S = MX_HIST_SUB_BITS) get one
 * bucket each (exact); above, every power of two [2^m, 2^(m+1)) is split into
 * 2^S equal buckets of width 2^(m-S). A reported percentile is the midpoint of
 * its bucket, clamped to the recorded [min, max], so it differs from the true
 * sample at that rank by at most MX_HIST_REL_ERR (1/2^(S+1) = 0.39 %) of
 * that sample. The whole uint64_t range is covered; nothing saturates.
 *
 * Memory: MX_HIST_BUCKETS * 8 bytes (~58 KiB), owned by the caller (embed
 * the struct or allocate it). No allocation inside.
 *
 * Threads: one writer per histogram. mx_hist_record() stores with relaxed
 * atomics, so another thread may mx_hist_merge() a live histogram into its
 * own copy (for progress lines) and see a slightly stale but sane state.
 */
#ifndef MX_CORE_HIST_H
#define MX_CORE_HIST_H

#include <stdint.h>

#define MX_HIST_SUB_BITS 7
#define MX_HIST_SUB	 (1u << MX_HIST_SUB_BITS)
#define MX_HIST_BUCKETS	 ((64 - MX_HIST_SUB_BITS + 1) * MX_HIST_SUB)
/** Bound on |reported - true| / true for any percentile. */
#define MX_HIST_REL_ERR (1.0 / (2.0 * MX_HIST_SUB))

struct mx_hist {
	uint64_t count;
	uint64_t min; /* UINT64_MAX while empty */
	uint64_t max;
	uint64_t sum; /* wraps after 2^64; only used for the mean */
	uint64_t buckets[MX_HIST_BUCKETS];
};

/** Empty @h. */
void mx_hist_init(struct mx_hist *h);

/** Bucket index of @v (0 .. MX_HIST_BUCKETS - 1). */
unsigned mx_hist_index(uint64_t v);
/** Smallest value that falls in bucket @idx. */
uint64_t mx_hist_bucket_lo(unsigned idx);
/** Number of distinct values in bucket @idx (a power of two). */
uint64_t mx_hist_bucket_width(unsigned idx);

/** Record one value. Single writer per histogram. */
void mx_hist_record(struct mx_hist *h, uint64_t v);

/** Add @src to @dst. @src may be written concurrently by its one writer. */
void mx_hist_merge(struct mx_hist *dst, const struct mx_hist *src);

/**
 * Value at percentile @pct (0..100) by nearest rank: the sample of rank
 * ceil(pct/100 * count), within MX_HIST_REL_ERR. 0 for an empty histogram;
 * pct <= 0 gives min, pct >= 100 gives max (both exact).
 */
uint64_t mx_hist_percentile(const struct mx_hist *h, double pct);

/** Arithmetic mean of the recorded values (0.0 when empty). */
double mx_hist_mean(const struct mx_hist *h);

#endif
