/*
 * verify.h - recipient verification by asking the next hop (Postfix's
 * reject_unverified_recipient): the verifier of MX_DNS_VERIFY queries
 * (policy/dns.h), so the workers' requests, their coalescing, the parked
 * RCPT and the cache (positive and negative TTLs) are the resolver's.
 *
 * On the control thread's loop, per address not in the cache: a probe
 * SMTP (or LMTP) conversation with the next hop - banner, EHLO/LHLO,
 * MAIL FROM:<>, RCPT TO:<addr>, QUIT - on a non-blocking socket, bounded
 * by [policy] verify_timeout_ms. 2xx to RCPT: deliverable (cached
 * verify_pos_ttl_s); 5xx: undeliverable, with the next hop's reply
 * (cached verify_neg_ttl_s); anything else (4xx, refused connection,
 * timeout, a 5xx before RCPT): temporary, not cached.
 *
 * The next hop is [policy] verify_nexthop, else the first [relay]
 * nexthop: proto:ADDRESS:PORT with a numeric address (no name lookup on
 * the control thread).
 */
#ifndef MX_POLICY_VERIFY_H
#define MX_POLICY_VERIFY_H

#include <stddef.h>
#include <stdint.h>

struct mx_config;

/** Apply the [policy] verify_* keys (boot and reload) and install the
 * verifier. 0, or -1 with the reason in @err (nothing changed). Control
 * thread. */
int pol_verify_configure(const struct mx_config *c, char *err, size_t errlen);

/* SHARING (issue 17). With a shared store (policy/store_redis.h) installed,
 * an address not in the local cache is first asked of it; a miss or a
 * timeout probes the next hop, and each probe's definite answer is written
 * back to it. */

/* The shared answer: @val ("250 text" / "550 text", @vlen octets) with its
 * remaining @ttl_s, or @val NULL (unknown, timed out: probe). */
typedef void (*pol_verify_shared_fn)(void *token, const char *val, size_t vlen, uint32_t ttl_s);

struct pol_verify_share {
	/* Ask for @addr: 0 (@fn called later, once, unless forget(@token)) or -1. */
	int (*get)(const char *addr, void *token, pol_verify_shared_fn fn);
	void (*forget)(void *token);
	/* Write behind @code (250|550) and @text for @ttl_s seconds. */
	void (*put)(const char *addr, int code, const char *text, uint32_t ttl_s);
};

/** Install (NULL: remove) the shared store's hooks. Control thread. */
void pol_verify_set_share(const struct pol_verify_share *share);

/* Counters: the "verify" group (probes, deliverable, undeliverable,
 * temporary), registered at the first configuration. */

#endif
