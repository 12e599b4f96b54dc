/*
 * rng.h - small seeded PRNG for mxbench (xoshiro256** seeded by splitmix64).
 *
 * Deterministic for a given seed so that runs and unit tests are repeatable.
 * Not cryptographic. One generator per thread; nothing here is thread-safe.
 */
#ifndef MX_BENCH_RNG_H
#define MX_BENCH_RNG_H

#include <math.h>
#include <stdint.h>

struct bench_rng {
	uint64_t s[4];
};

static inline uint64_t bench_rng_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/** Seed @r from @seed; any seed (0 included) gives a valid state. */
static inline void bench_rng_seed(struct bench_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = bench_rng_splitmix(&seed);
}

static inline uint64_t bench_rng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/** Next 64 uniformly distributed bits. */
static inline uint64_t bench_rng_next(struct bench_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = bench_rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = bench_rng_rotl(s[3], 45);
	return result;
}

/** Uniform double in (0, 1]: never 0, so log() of it is finite. */
static inline double bench_rng_unit(struct bench_rng *r)
{
	return ((double)(bench_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

/** Standard normal deviate (Box-Muller; the second deviate is dropped). */
static inline double bench_rng_normal(struct bench_rng *r)
{
	double u1 = bench_rng_unit(r);
	double u2 = bench_rng_unit(r);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

#endif
