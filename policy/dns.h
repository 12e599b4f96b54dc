/*
 * dns.h - asynchronous DNS for the workers: c-ares (Debian 12's 1.18) runs
 * on the control thread's event loop (core/loop.h); workers never block and
 * never touch a socket.
 *
 * FLOW. A worker stage first asks the shared cache (mx_dns_cached(): a
 * liburcu QSBR hash table, read without locks; the worker is an RCU reader
 * that is always online). On a miss it posts the query on its request ring
 * (mx_dns_submit(), with a 64-bit cookie of its choosing: usually the
 * session's park ticket plus which query it is) and parks the session.
 * The control thread drains the request rings, coalesces identical
 * queries in flight, asks c-ares, stores the answer in the cache (positive
 * and negative, TTL clamped to [min_ttl, max_ttl], bounded in entries) and
 * posts a copy on the asking worker's answer ring. The worker's poll hook
 * calls mx_dns_poll(), which hands each answer to a callback with its
 * cookie.
 *
 * ERRORS. Timeouts, SERVFAIL, REFUSED, a full ring, no resolver: all are
 * MX_DNS_TEMPFAIL. A check turns that into a 4xx (or, where configured,
 * "skip"), never a 5xx and never an accept by accident. NXDOMAIN and
 * NODATA are answers (cached with the negative TTL).
 *
 * NAMES are passed without a trailing dot, at most MX_DNS_NAME_MAX octets;
 * lookups are case-insensitive. PTR queries take the in-addr.arpa /
 * ip6.arpa name (mx_dns_ptr_name() builds it).
 *
 * THREADING. mx_dns_init/_shutdown/_resolve and everything named _ctl run
 * on the control thread; mx_dns_cached/_submit/_poll on worker @w's lcore
 * only (one SP/SC request ring and one answer ring per worker).
 */
#ifndef MX_POLICY_DNS_H
#define MX_POLICY_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MX_DNS_NAME_MAX 253
#define MX_DNS_RR_MAX	16   /* records kept per answer */
#define MX_DNS_TEXT_MAX 2048 /* PTR/MX names and TXT strings, NUL-separated */

enum mx_dns_type {
	MX_DNS_A = 1,
	MX_DNS_AAAA,
	MX_DNS_PTR,
	MX_DNS_TXT,
	MX_DNS_MX,
	/* Not DNS: is this recipient address deliverable at the next hop? The
	 * same rings, coalescing and cache carry it; the control thread asks
	 * the verifier (mx_dns_set_verifier(), policy/verify.c). OK: the next
	 * hop said 2xx; NXDOMAIN: it said 5xx (text[]: its reply); TEMPFAIL:
	 * 4xx, no answer, no verifier. */
	MX_DNS_VERIFY,
};

enum mx_dns_status {
	MX_DNS_OK = 0,	 /* n >= 1 records */
	MX_DNS_NXDOMAIN, /* the name does not exist */
	MX_DNS_NODATA,	 /* the name exists, no record of this type */
	MX_DNS_TEMPFAIL, /* timeout, SERVFAIL, REFUSED, ring full, no resolver */
};

/* One answer (fixed size: lives in rings and cache nodes, never on a
 * worker's heap). For PTR, MX and TXT, off[i] is the offset in text[] of
 * record i's NUL-terminated string (TXT: the record's character-strings
 * concatenated; MX: the exchange, with pref[i]). */
struct mx_dns_result {
	uint8_t type;	/* enum mx_dns_type */
	uint8_t status; /* enum mx_dns_status */
	uint16_t n;	/* records (<= MX_DNS_RR_MAX) */
	uint32_t ttl;	/* seconds, as cached (clamped) */
	union {
		struct in_addr a[MX_DNS_RR_MAX];
		struct in6_addr aaaa[MX_DNS_RR_MAX];
		struct {
			uint16_t off[MX_DNS_RR_MAX];
			uint16_t pref[MX_DNS_RR_MAX];
		} s;
	} u;
	char text[MX_DNS_TEXT_MAX];
};

/* Configuration ([dns] section). */
struct mx_dns_conf {
	const char *servers;   /* "ip[:port],..." ; NULL or "": /etc/resolv.conf */
	uint32_t timeout_ms;   /* per try (default 2000) */
	uint32_t tries;	       /* (default 2) */
	uint32_t min_ttl;      /* seconds (default 60) */
	uint32_t max_ttl;      /* seconds (default 86400) */
	uint32_t neg_ttl_max;  /* cap for NXDOMAIN/NODATA (default 3600) */
	uint32_t cache_max;    /* entries (default 100000) */
	uint32_t inflight_max; /* queries in flight (default 4096) */
};

struct mx_dns_worker;

/* Counters (registered by mx_dns_init in the counter registry as "dns.*"). */
struct mx_dns_counters {
	uint64_t queries;     /* sent to c-ares */
	uint64_t cache_hits;  /* mx_dns_cached() hits */
	uint64_t cache_miss;  /* mx_dns_cached() misses */
	uint64_t coalesced;   /* requests joined to a query in flight */
	uint64_t timeouts;    /* answers TEMPFAIL by timeout */
	uint64_t servfail;    /* other TEMPFAIL answers */
	uint64_t ring_full;   /* mx_dns_submit() refusals */
	uint64_t cache_items; /* gauge */
};

/** Start the resolver on the control loop for @n_workers workers (rings
 * and answer storage allocated here). Control thread, boot, before the
 * workers start. Returns 0 or -errno. */
int mx_dns_init(const struct mx_dns_conf *conf, unsigned n_workers);

/** Apply a new configuration (servers, timeouts, TTL bounds). Control
 * thread. Returns 0 or -errno (old settings kept). */
int mx_dns_reconfigure(const struct mx_dns_conf *conf);

/** Stop: cancel queries, free the cache (after the workers stopped). */
void mx_dns_shutdown(void);

/** Worker @worker's handle (NULL before init or out of range). */
struct mx_dns_worker *mx_dns_worker(unsigned worker);

/** Cache lookup on a worker: 1 and *out filled if a fresh answer is
 * cached, 0 otherwise. Lock-free. */
int mx_dns_cached(struct mx_dns_worker *w, enum mx_dns_type type, const char *name,
		  struct mx_dns_result *out);

/** Post a query; its answer comes back through mx_dns_poll() with
 * @cookie. Returns 0, -ENOBUFS (ring full: treat as TEMPFAIL), -EINVAL
 * (bad name). */
int mx_dns_submit(struct mx_dns_worker *w, enum mx_dns_type type, const char *name,
		  uint64_t cookie);

/* Called for each answer taken by mx_dns_poll(); @r valid during the call. */
typedef void (*mx_dns_answer_fn)(void *arg, uint64_t cookie, const struct mx_dns_result *r);

/** Take up to @max answers from @w's answer ring, calling @fn for each.
 * Returns the number taken. Worker lcore, once per loop. */
unsigned mx_dns_poll(struct mx_dns_worker *w, unsigned max, mx_dns_answer_fn fn, void *arg);

/* Control-thread lookups (mxgatectl policy test, the relay-side verifier):
 * cache first, then c-ares; @fn is called exactly once, possibly before
 * mx_dns_resolve() returns (cache hit). */
typedef void (*mx_dns_ctl_fn)(void *arg, const struct mx_dns_result *r);
int mx_dns_resolve(enum mx_dns_type type, const char *name, mx_dns_ctl_fn fn, void *arg);

/* The verifier of MX_DNS_VERIFY queries: start probing @addr (@len
 * octets, lower-cased) and call mx_dns_verify_done(@token, ...) exactly
 * once, later or before returning. Control thread. */
typedef void (*mx_dns_verify_fn)(const char *addr, size_t len, void *token);

/** Install (or with NULLs remove) the verifier, and @cancel, which
 * answers every probe it still runs (TEMPFAIL) at mx_dns_shutdown().
 * Control thread. */
void mx_dns_set_verifier(mx_dns_verify_fn fn, void (*cancel)(void));

/** A probe's answer @r (status OK, NXDOMAIN or TEMPFAIL; n and text as the
 * verifier fills them): cached @ttl_s seconds (not TEMPFAIL; 0: not
 * cached), handed to every waiter. Control thread. */
void mx_dns_verify_done(void *token, struct mx_dns_result *r, uint32_t ttl_s);

/** Build the PTR query name of @addr (AF_INET or AF_INET6) into @buf. */
int mx_dns_ptr_name(int af, const void *addr, char *buf, size_t len);

/** Sum of the workers' and the control thread's counters. Any thread. */
void mx_dns_counters_read(struct mx_dns_counters *out);

struct mx_config;
/** Fill @out from the [dns] keys of @c (@out->servers points into @c). */
void mx_dns_conf_from_config(struct mx_dns_conf *out, const struct mx_config *c);

/** The number of bytes of @r that carry information (the header, the
 * records and the used part of text[]): what a copy needs. */
size_t mx_dns_result_size(const struct mx_dns_result *r);

#endif
