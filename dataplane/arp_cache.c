/*
 * arp_cache.c - see arp_cache.h.
 */
#include "dataplane/arp_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static unsigned home(const struct arp_cache *c, uint32_t ip)
{
	/* Fibonacci hashing spreads consecutive addresses of one subnet. */
	return (unsigned)((ip * 2654435769u) >> 7) & c->mask;
}

int arp_cache_init(struct arp_cache *c, unsigned entries, uint64_t timeout_us)
{
	unsigned n = ARP_PROBE_WINDOW;

	while (n < entries)
		n <<= 1;
	c->slots = calloc(n, sizeof(*c->slots));
	if (!c->slots)
		return -ENOMEM;
	c->mask = n - 1;
	c->used = 0;
	c->timeout_us = timeout_us;
	c->evictions = 0;
	return 0;
}

static void drop_pending(struct arp_entry *e, void (*drop)(void *pkt, void *arg), void *arg)
{
	for (unsigned i = 0; i < e->npending; i++)
		if (drop)
			drop(e->pending[i], arg);
	e->npending = 0;
}

void arp_cache_fini(struct arp_cache *c, void (*drop)(void *pkt, void *arg), void *arg)
{
	if (!c->slots)
		return;
	for (unsigned i = 0; i <= c->mask; i++)
		drop_pending(&c->slots[i], drop, arg);
	free(c->slots);
	c->slots = NULL;
}

static struct arp_entry *find(const struct arp_cache *c, uint32_t ip)
{
	unsigned h = home(c, ip);

	for (unsigned i = 0; i < ARP_PROBE_WINDOW; i++) {
		struct arp_entry *e = &c->slots[(h + i) & c->mask];
		if (e->state != ARP_FREE && e->ip == ip)
			return e;
	}
	return NULL;
}

/* A free slot in @ip's window, or the one expiring first (evicted: its held
 * packets, if any, are lost to @ip's caller - only INCOMPLETE entries hold
 * packets, and they are preferred last). */
static struct arp_entry *claim(struct arp_cache *c, uint32_t ip)
{
	unsigned h = home(c, ip);
	struct arp_entry *victim = NULL;

	for (unsigned i = 0; i < ARP_PROBE_WINDOW; i++) {
		struct arp_entry *e = &c->slots[(h + i) & c->mask];
		if (e->state == ARP_FREE) {
			c->used++;
			return e;
		}
		if (e->npending)
			continue;
		if (!victim || e->expires_us < victim->expires_us)
			victim = e;
	}
	if (victim)
		c->evictions++;
	return victim;
}

enum arp_resolve arp_cache_resolve(struct arp_cache *c, uint32_t ip, uint64_t now_us, void *pkt,
				   uint8_t mac[6])
{
	struct arp_entry *e = find(c, ip);

	if (e && e->state == ARP_REACHABLE && e->expires_us > now_us) {
		memcpy(mac, e->mac, 6);
		return ARP_HIT;
	}
	if (e && e->state == ARP_INCOMPLETE) {
		if (e->npending >= ARP_PENDING_MAX)
			return ARP_FULL;
		e->pending[e->npending++] = pkt;
		return ARP_QUEUED;
	}
	if (!e) {
		e = claim(c, ip);
		if (!e)
			return ARP_FULL; /* window full of resolving entries */
	}
	/* New or stale entry: (re)resolve. */
	e->ip = ip;
	e->state = ARP_INCOMPLETE;
	e->probes = 1;
	e->expires_us = now_us + ARP_PROBE_INTERVAL_US;
	e->pending[0] = pkt;
	e->npending = 1;
	return ARP_REQUEST;
}

unsigned arp_cache_learn(struct arp_cache *c, uint32_t ip, const uint8_t mac[6], bool create,
			 uint64_t now_us, void **flush)
{
	struct arp_entry *e = find(c, ip);
	unsigned n = 0;

	if (!e) {
		if (!create)
			return 0;
		e = claim(c, ip);
		if (!e)
			return 0;
		e->npending = 0;
	}
	e->ip = ip;
	memcpy(e->mac, mac, 6);
	e->state = ARP_REACHABLE;
	e->probes = 0;
	e->expires_us = now_us + c->timeout_us;
	for (unsigned i = 0; i < e->npending; i++)
		flush[n++] = e->pending[i];
	e->npending = 0;
	return n;
}

bool arp_cache_lookup(const struct arp_cache *c, uint32_t ip, uint64_t now_us, uint8_t mac[6])
{
	const struct arp_entry *e = find(c, ip);

	if (!e || e->state != ARP_REACHABLE || e->expires_us <= now_us)
		return false;
	memcpy(mac, e->mac, 6);
	return true;
}

unsigned arp_cache_age(struct arp_cache *c, uint64_t now_us, void (*probe)(uint32_t ip, void *arg),
		       void (*drop)(void *pkt, void *arg), void *arg)
{
	unsigned dropped = 0;

	for (unsigned i = 0; i <= c->mask; i++) {
		struct arp_entry *e = &c->slots[i];
		if (e->state == ARP_FREE || e->expires_us > now_us)
			continue;
		if (e->state == ARP_INCOMPLETE && e->probes < ARP_MAX_PROBES) {
			e->probes++;
			e->expires_us = now_us + ARP_PROBE_INTERVAL_US;
			if (probe)
				probe(e->ip, arg);
			continue;
		}
		dropped += e->npending;
		drop_pending(e, drop, arg);
		e->state = ARP_FREE;
		c->used--;
	}
	return dropped;
}
