/*
 * passcache.h - postscreen's "pass" cache for the pregreet test: client
 * addresses that waited for the whole greeting (the "220-" teaser and the
 * greet delay) are remembered for [policy] pass_cache_ttl_s, and skip the
 * delay and the teaser next time (smtp_greet_now()).
 *
 * One cache per worker, allocated at boot (the worker path never
 * allocates, locks or shares it): a client steered to another worker, or
 * pushed out of the fixed table, just waits once more. Entries are
 * 2-way set associative over a power-of-two table; an insert takes the
 * expired or the sooner-expiring way.
 */
#ifndef MX_POLICY_PASSCACHE_H
#define MX_POLICY_PASSCACHE_H

#include <stdbool.h>
#include <stdint.h>

struct pol_pass_ent {
	uint8_t family; /* 0: empty */
	uint8_t addr[16];
	uint32_t expires_s; /* monotonic seconds */
};

struct pol_pass_cache {
	struct pol_pass_ent *e;
	uint32_t mask; /* slots - 1 (slots a power of two) */
	uint64_t hits, adds;
};

/** Allocate @slots (rounded up to a power of two, >= 2) entries. 0 or
 * -ENOMEM. Boot. */
int pol_pass_init(struct pol_pass_cache *c, uint32_t slots);
void pol_pass_free(struct pol_pass_cache *c);

/** Whether @addr (@family 4 or 6) passed and its entry is still valid at
 * @now_s. Owner thread. */
bool pol_pass_has(const struct pol_pass_cache *c, int family, const uint8_t *addr, uint32_t now_s);

/** Remember @addr until @now_s + @ttl_s. Owner thread. */
void pol_pass_add(struct pol_pass_cache *c, int family, const uint8_t *addr, uint32_t now_s,
		  uint32_t ttl_s);

#endif
