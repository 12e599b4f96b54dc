/*
 * passcache.c - the per-worker pregreet pass cache. See passcache.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy/passcache.h"

int pol_pass_init(struct pol_pass_cache *c, uint32_t slots)
{
	uint32_t n = 2;

	while (n < slots && n < (1u << 30))
		n <<= 1;
	memset(c, 0, sizeof(*c));
	c->e = calloc(n, sizeof(*c->e));
	if (!c->e)
		return -ENOMEM;
	c->mask = n - 1;
	return 0;
}

void pol_pass_free(struct pol_pass_cache *c)
{
	free(c->e);
	c->e = NULL;
}

static uint32_t slot_of(const struct pol_pass_cache *c, int family, const uint8_t *addr)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	unsigned n = family == 4 ? 4 : 16;

	for (unsigned i = 0; i < n; i++)
		h = (h ^ addr[i]) * 16777619u;
	return h & c->mask & ~1u; /* the set's first way */
}

static bool same(const struct pol_pass_ent *e, int family, const uint8_t *addr)
{
	return e->family == family && memcmp(e->addr, addr, family == 4 ? 4 : 16) == 0;
}

bool pol_pass_has(const struct pol_pass_cache *c, int family, const uint8_t *addr, uint32_t now_s)
{
	uint32_t i;

	if (!c->e || (family != 4 && family != 6))
		return false;
	i = slot_of(c, family, addr);
	for (unsigned w = 0; w < 2; w++)
		if (same(&c->e[i + w], family, addr))
			return now_s < c->e[i + w].expires_s;
	return false;
}

void pol_pass_add(struct pol_pass_cache *c, int family, const uint8_t *addr, uint32_t now_s,
		  uint32_t ttl_s)
{
	struct pol_pass_ent *e;
	uint32_t i;

	if (!c->e || (family != 4 && family != 6) || ttl_s == 0)
		return;
	i = slot_of(c, family, addr);
	e = same(&c->e[i + 1], family, addr)		 ? &c->e[i + 1]
	    : same(&c->e[i], family, addr)		 ? &c->e[i]
	    : c->e[i].expires_s <= c->e[i + 1].expires_s ? &c->e[i]
							 : &c->e[i + 1];
	e->family = (uint8_t)family;
	memset(e->addr, 0, sizeof(e->addr));
	memcpy(e->addr, addr, family == 4 ? 4 : 16);
	e->expires_s = now_s + ttl_s;
	c->adds++;
}
