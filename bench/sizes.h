/*
 * sizes.h - message size distributions for mxbench.
 *
 * A spec string picks the distribution:
 *   "N"                      fixed size; N accepts k/m/g suffixes (KiB, MiB, GiB)
 *   "file:PATH"              sizes from a file: one "SIZE [WEIGHT]" per line,
 *                            '#' starts a comment; sampled by weight (default 1)
 *   "lognormal:MEDIAN:P99"   lognormal with that median and 99th percentile
 * Every sample is clamped to [1, max]. Sampling is deterministic for a seeded
 * struct bench_rng.
 *
 * bench_sizes_parse() allocates the table of a "file:" spec; free it with
 * bench_sizes_free(). Sampling does not allocate and only reads @s, so threads
 * may share one struct bench_sizes, each with its own generator.
 */
#ifndef MX_BENCH_SIZES_H
#define MX_BENCH_SIZES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/rng.h"

enum bench_size_kind {
	BENCH_SIZE_FIXED = 0,
	BENCH_SIZE_TABLE,
	BENCH_SIZE_LOGNORMAL,
};

struct bench_sizes {
	enum bench_size_kind kind;
	size_t fixed;
	size_t max;
	/* table */
	size_t *vals;
	double *cum; /* cumulative weights, cum[n-1] = total */
	size_t n;
	/* lognormal */
	double mu, sigma;
	double median, p99; /* as given, for reports */
};

/** Parse "123", "4k", "2m", "1g" into *@out. 0 or -EINVAL. */
int bench_parse_size(const char *s, size_t *out);

/**
 * Set @s from @spec with samples clamped to @max. 0 or -errno; on failure
 * *@why (if not NULL) points to a static explanation.
 */
int bench_sizes_parse(struct bench_sizes *s, const char *spec, size_t max, const char **why);

/** Load a "file:" table from an open stream. 0 or -errno (as above). */
int bench_sizes_load(struct bench_sizes *s, FILE *f, size_t max, const char **why);

/** One sample. */
size_t bench_sizes_sample(const struct bench_sizes *s, struct bench_rng *rng);

/** Free what bench_sizes_parse() allocated. */
void bench_sizes_free(struct bench_sizes *s);

#endif
