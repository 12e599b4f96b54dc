/*
 * dns_int.h - the parts of the asynchronous resolver (dns.c) that are
 * tested and fuzzed on their own: the single-producer single-consumer ring
 * between a worker and the control thread, the shared answer cache
 * (dns_cache.c), the answer parser (dns_parse.c) and name normalisation.
 *
 * Nothing here needs EAL: the ring is plain C11 atomics on memory from
 * malloc, the cache is a liburcu QSBR cds_lfht. Not a public interface:
 * policy checks use policy/dns.h.
 */
#ifndef MX_POLICY_DNS_INT_H
#define MX_POLICY_DNS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/dns.h"

/* ---- SP/SC ring ---------------------------------------------------- */

/* A ring of @size fixed-size slots (size a power of two). One producer
 * thread, one consumer thread; no lock, no syscall. The producer fills the
 * slot dns_ring_slot_put() returns, then dns_ring_put_commit(); the
 * consumer reads the slot dns_ring_slot_get() returns, then
 * dns_ring_get_commit(). head and tail count up forever (uint32 wrap). */
struct dns_ring {
	uint32_t mask, esz;
	_Alignas(64) uint32_t head; /* written by the producer */
	_Alignas(64) uint32_t tail; /* written by the consumer */
	_Alignas(64) unsigned char slots[];
};

/** Allocate a ring of @size (power of two >= 2) slots of @esz bytes.
 * Returns it or NULL with errno. Control thread, boot. Free with free(). */
struct dns_ring *dns_ring_new(uint32_t size, uint32_t esz);

/** Producer: the next free slot, or NULL if the ring is full. */
static inline void *dns_ring_slot_put(struct dns_ring *r)
{
	uint32_t h = r->head, t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);

	if (h - t > r->mask)
		return NULL;
	return r->slots + (size_t)(h & r->mask) * r->esz;
}

/** Producer: publish the slot filled after dns_ring_slot_put(). */
static inline void dns_ring_put_commit(struct dns_ring *r)
{
	__atomic_store_n(&r->head, r->head + 1, __ATOMIC_RELEASE);
}

/** Consumer: the oldest filled slot, or NULL if the ring is empty. */
static inline const void *dns_ring_slot_get(struct dns_ring *r)
{
	uint32_t t = r->tail, h = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);

	if (t == h)
		return NULL;
	return r->slots + (size_t)(t & r->mask) * r->esz;
}

/** Consumer: release the slot read after dns_ring_slot_get(). */
static inline void dns_ring_get_commit(struct dns_ring *r)
{
	__atomic_store_n(&r->tail, r->tail + 1, __ATOMIC_RELEASE);
}

/* What travels on the rings. */
struct dns_req {
	uint64_t cookie;
	uint8_t type;			/* enum mx_dns_type */
	uint8_t len;			/* strlen(name) */
	char name[MX_DNS_NAME_MAX + 1]; /* normalised (dns_name_norm) */
};

struct dns_ans {
	uint64_t cookie;
	struct mx_dns_result r; /* only mx_dns_result_size(&r) bytes copied */
};

/* ---- names ------------------------------------------------------------ */

/** Normalise @in into @out (MX_DNS_NAME_MAX + 1 bytes): lower case, one
 * trailing dot dropped. Refuses (-EINVAL) an empty name, a name longer
 * than MX_DNS_NAME_MAX, an empty label, a label over 63 octets, and any
 * octet outside 0x21..0x7e or a backslash (c-ares would read it as an
 * escape). Returns the length. Any thread. */
int dns_name_norm(const char *in, char *out);

/** Keyed hash of (@type, @name[0 .. @len)) for the cache and the table of
 * queries in flight. */
uint64_t dns_hash(uint64_t seed, uint8_t type, const char *name, size_t len);

/** Clamp an answer's TTL: positive answers to [min_ttl, max_ttl];
 * negative ones to [min(min_ttl, neg_ttl_max), neg_ttl_max]. */
uint32_t dns_ttl_clamp(const struct mx_dns_conf *c, uint32_t ttl, bool negative);

/* ---- answers (dns_parse.c) ------------------------------------------ */

#define DNS_TTL_NONE UINT32_MAX /* no TTL in the answer (no SOA for a negative one) */

/**
 * Read the answer @abuf[0 .. @alen) that c-ares handed to an ares_query()
 * callback for a query of @type into @r (type, status, n, records, text).
 * Follows CNAMEs in the answer section (records of @type whose owner is
 * the query name or a CNAME target of it). Keeps at most MX_DNS_RR_MAX
 * records and MX_DNS_TEXT_MAX octets of text; a TXT record that does not
 * fit whole is left out, records starting with "v=spf1" are kept first.
 * @r->status: OK (n >= 1), NXDOMAIN (rcode 3), NODATA (no record of the
 * type), TEMPFAIL (malformed, truncated, other rcodes). *@ttl: the lowest
 * TTL of the records used (and CNAMEs followed) for OK; for NXDOMAIN and
 * NODATA min(SOA TTL, SOA MINIMUM) from the authority section (RFC 2308)
 * or DNS_TTL_NONE. @r->ttl is left 0 (the caller clamps). Pure: no
 * allocation, any thread. Returns @r->status.
 */
int dns_parse_answer(uint8_t type, const unsigned char *abuf, int alen, struct mx_dns_result *r,
		     uint32_t *ttl);

/* ---- cache (dns_cache.c) ---------------------------------------------- */

struct dns_cache;

/** A cache of at most @max entries, its hash keyed with @seed. Returns it
 * or NULL with errno. Control thread (QSBR-registered). */
struct dns_cache *dns_cache_new(uint32_t max, uint64_t seed);

/** Empty and free @c: no reader may use it any more (workers stopped).
 * Control thread, RCU offline (waits for the callbacks of call_rcu). */
void dns_cache_free(struct dns_cache *c);

/** Look (@type, @name of @len, normalised) up: 1 and *@out filled (its
 * ttl the seconds left, rounded up) if an entry is cached and not expired
 * at @now_ms, 0 otherwise. Lock-free; call online (an RCU QSBR reader). */
int dns_cache_get(struct dns_cache *c, uint8_t type, const char *name, size_t len, uint64_t now_ms,
		  struct mx_dns_result *out);

/** Store @r (its ttl already clamped; 0: nothing stored) for (@r->type,
 * @name of @len), replacing an entry of the same key; evicts the oldest
 * entries beyond the bound. Returns 0 or -errno (-ENOMEM). Control
 * thread, online. Nodes are freed with call_rcu. */
int dns_cache_put(struct dns_cache *c, const char *name, size_t len, const struct mx_dns_result *r,
		  uint64_t now_ms);

/** Remove up to @budget entries expired at @now_ms, resuming where the
 * previous call stopped. Returns the number removed. Control, online. */
unsigned dns_cache_expire(struct dns_cache *c, uint64_t now_ms, unsigned budget);

/** Change the bound (evicts the oldest beyond it). Control, online. */
void dns_cache_set_max(struct dns_cache *c, uint32_t max);

/** Entries now (gauge). Any thread. */
uint32_t dns_cache_count(const struct dns_cache *c);

#endif
