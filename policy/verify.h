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

struct mx_config;

/** Apply the [policy] verify_* keys (boot and reload) and install the
 * verifier. 0, or -1 with the reason in @err (nothing changed). Control
 * thread. */
int pol_verify_configure(const struct mx_config *c, char *err, size_t errlen);

/* Counters: the "verify" group (probes, deliverable, undeliverable,
 * temporary), registered at the first configuration. */

#endif
