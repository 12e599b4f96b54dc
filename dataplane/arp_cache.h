/*
 * arp_cache.h - per-lcore IPv4 neighbour cache (RFC 826) with expiry,
 * retries and a small queue of packets held while a next hop resolves.
 *
 * Pure C (no DPDK): held packets are opaque pointers the caller owns again
 * when they come back out (flushed after resolution, or dropped after the
 * last probe). Each worker lcore has its own cache; the dataplane forwards
 * learnt ARP packets to the other workers so all caches converge.
 *
 * Layout: an open-addressed array of 2^k entries; a key lives within
 * ARP_PROBE_WINDOW slots of its home slot. Lookups scan the whole window
 * (no tombstones needed); an insert into a full window evicts the entry that
 * expires first. A few dozen neighbours (gateway, local peers) is the
 * expected load of an MX host; the cap bounds memory against ARP storms.
 *
 * Thread safety: one cache per lcore, no locks.
 */
#ifndef MX_DATAPLANE_ARP_CACHE_H
#define MX_DATAPLANE_ARP_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#define ARP_PENDING_MAX	      4
#define ARP_PROBE_WINDOW      8
#define ARP_MAX_PROBES	      3
#define ARP_PROBE_INTERVAL_US 1000000ull

enum arp_state {
	ARP_FREE = 0,
	ARP_INCOMPLETE, /* request sent, waiting for the reply */
	ARP_REACHABLE,
};

struct arp_entry {
	uint32_t ip; /* host byte order */
	uint8_t state;
	uint8_t probes;
	uint8_t npending;
	uint8_t mac[6];
	uint64_t expires_us; /* REACHABLE: end of validity; INCOMPLETE: next probe */
	void *pending[ARP_PENDING_MAX];
};

struct arp_cache {
	unsigned mask; /* slots - 1 */
	unsigned used;
	uint64_t timeout_us;
	uint64_t evictions;
	struct arp_entry *slots;
};

enum arp_resolve {
	ARP_HIT,     /* @mac filled in: send now */
	ARP_QUEUED,  /* packet held until the reply comes */
	ARP_REQUEST, /* packet held, new entry: send a request now */
	ARP_FULL,    /* resolution pending and its queue full: caller drops */
};

/** Allocate a cache of at least @entries slots (rounded up to a power of
 * two). Boot time only (malloc). Returns 0 or -ENOMEM. */
int arp_cache_init(struct arp_cache *c, unsigned entries, uint64_t timeout_us);

/** Free the slots; held packets are handed to @drop first. */
void arp_cache_fini(struct arp_cache *c, void (*drop)(void *pkt, void *arg), void *arg);

/** Find the MAC of @ip for sending @pkt. On ARP_HIT the caller keeps @pkt;
 * on ARP_QUEUED/ARP_REQUEST the cache holds it; on ARP_FULL the caller
 * still owns it. */
enum arp_resolve arp_cache_resolve(struct arp_cache *c, uint32_t ip, uint64_t now_us, void *pkt,
				   uint8_t mac[6]);

/** Learn @ip is at @mac (RFC 826 merge: update an existing entry; create one
 * only when @create, i.e. the packet was addressed to us). Packets that were
 * held for @ip are returned in @flush (up to ARP_PENDING_MAX); the caller
 * sends them. Returns how many. */
unsigned arp_cache_learn(struct arp_cache *c, uint32_t ip, const uint8_t mac[6], bool create,
			 uint64_t now_us, void **flush);

/** Look up without side effects. Returns true and fills @mac when REACHABLE. */
bool arp_cache_lookup(const struct arp_cache *c, uint32_t ip, uint64_t now_us, uint8_t mac[6]);

/** Housekeeping: expire REACHABLE entries past their timeout; for INCOMPLETE
 * entries whose probe is due, call @probe (send another request) or, after
 * ARP_MAX_PROBES, hand their held packets to @drop and free the entry.
 * Returns the number of packets dropped. */
unsigned arp_cache_age(struct arp_cache *c, uint64_t now_us, void (*probe)(uint32_t ip, void *arg),
		       void (*drop)(void *pkt, void *arg), void *arg);

#endif
