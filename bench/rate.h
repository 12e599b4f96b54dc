/*
 * rate.h - open-loop arrival schedule for mxbench.
 *
 * Arrival k has an intended time fixed by the schedule alone: for uniform
 * arrivals start + k * 1e9 / rate (computed from k, so no rounding drift),
 * for Poisson arrivals the running sum of seeded exponential gaps. The
 * generator never moves the schedule to suit itself: when it was late (a
 * stall, a slow loop), every arrival that became due meanwhile is still handed
 * out with its own intended time, so the caller measures latency from there
 * and the delay shows up in the percentiles instead of vanishing (no
 * coordinated omission). bench_rate_take() hands out one arrival per call so
 * the caller can bound how many it starts per loop without losing any.
 *
 * Not thread-safe: one schedule per worker thread.
 */
#ifndef MX_BENCH_RATE_H
#define MX_BENCH_RATE_H

#include <stdbool.h>
#include <stdint.h>

#include "bench/rng.h"

enum bench_arrival {
	BENCH_ARRIVAL_UNIFORM = 0,
	BENCH_ARRIVAL_POISSON,
};

struct bench_rate {
	enum bench_arrival kind;
	double per_sec;
	uint64_t start_ns;
	uint64_t taken;	  /* arrivals handed out */
	uint64_t next_ns; /* intended time of arrival number @taken */
	double pois_ns;	  /* Poisson: offset of next arrival from start */
	struct bench_rng rng;
};

/**
 * Start a schedule of @per_sec arrivals per second (> 0), the first one
 * intended at @start_ns. @seed only matters for Poisson arrivals.
 */
void bench_rate_init(struct bench_rate *r, double per_sec, uint64_t start_ns,
		     enum bench_arrival kind, uint64_t seed);

/** Intended time of the next arrival (not consumed). */
static inline uint64_t bench_rate_next(const struct bench_rate *r)
{
	return r->next_ns;
}

/**
 * If the next arrival is due at @now_ns, consume it, store its intended time
 * in *@intended_ns and return true; else return false.
 */
bool bench_rate_take(struct bench_rate *r, uint64_t now_ns, uint64_t *intended_ns);

/** Number of arrivals due at @now_ns that have not been taken yet. */
uint64_t bench_rate_backlog(const struct bench_rate *r, uint64_t now_ns);

#endif
