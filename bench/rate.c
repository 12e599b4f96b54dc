/*
 * rate.c - open-loop arrival schedule. See rate.h.
 */
#include "bench/rate.h"

#include <math.h>

static void set_next(struct bench_rate *r)
{
	if (r->kind == BENCH_ARRIVAL_UNIFORM) {
		/* From k directly: no accumulated rounding error. */
		r->next_ns = r->start_ns + (uint64_t)((double)r->taken * 1e9 / r->per_sec + 0.5);
		return;
	}
	if (r->taken > 0)
		r->pois_ns += -log(bench_rng_unit(&r->rng)) * 1e9 / r->per_sec;
	r->next_ns = r->start_ns + (uint64_t)(r->pois_ns + 0.5);
}

void bench_rate_init(struct bench_rate *r, double per_sec, uint64_t start_ns,
		     enum bench_arrival kind, uint64_t seed)
{
	r->kind = kind;
	r->per_sec = per_sec;
	r->start_ns = start_ns;
	r->taken = 0;
	r->pois_ns = 0.0;
	bench_rng_seed(&r->rng, seed);
	set_next(r);
}

bool bench_rate_take(struct bench_rate *r, uint64_t now_ns, uint64_t *intended_ns)
{
	if (r->next_ns > now_ns)
		return false;
	*intended_ns = r->next_ns;
	r->taken++;
	set_next(r);
	return true;
}

uint64_t bench_rate_backlog(const struct bench_rate *r, uint64_t now_ns)
{
	uint64_t due;

	if (r->next_ns > now_ns)
		return 0;
	if (r->kind == BENCH_ARRIVAL_POISSON)
		return 1; /* at least; the gaps are not known in advance */
	due = (uint64_t)floor((double)(now_ns - r->start_ns) * r->per_sec / 1e9) + 1;
	return due > r->taken ? due - r->taken : 1;
}
