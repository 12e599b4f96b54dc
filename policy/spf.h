/*
 * spf.h - an RFC 7208 SPF evaluator that does no I/O of its own.
 *
 * The caller owns a struct spf_eval (fixed size, no allocation inside), starts
 * it with the client address, the MAIL FROM and the HELO name, and drives it:
 *
 *     spf_start(e, AF_INET, &addr, "user@example.org", "mail.example.org");
 *     while (spf_step(e) == SPF_STEP_QUERY) {
 *             // e->q.type, e->q.name: one DNS question
 *             if (!mx_dns_cached(w, e->q.type, e->q.name, &r)) {
 *                     mx_dns_submit(w, e->q.type, e->q.name, cookie);
 *                     return PARK;           // later: spf_feed(e, answer)
 *             }
 *             spf_feed(e, &r);
 *     }
 *     e->result, spf_result_name(e->result), spf_received_spf(e, ...)
 *
 * So a worker can park the session between questions: the evaluator keeps
 * all of its state (the include stack, the records, where it is in each) in
 * the struct. One question at a time; every answer, including TEMPFAIL,
 * goes through spf_feed().
 *
 * Implemented: check_host() of RFC 7208 section 4 with the mechanisms all,
 * include, a, mx, ptr, ip4, ip6, exists, the modifiers redirect and exp
 * (exp is parsed and checked, the explanation is not fetched: mxgate's
 * replies use their own texts), unknown modifiers ignored, macros
 * %{s l o d i p h v} with digit and 'r' transformers, delimiters and URL
 * escaping of upper-case letters, %% %_ %-; the limit of 10 DNS-querying
 * terms, of 2 void lookups, of 10 names per mx and ptr (all permerror
 * beyond). Deviations, chosen: %{p} expands to "unknown" (RFC 7208 7.3
 * allows it and discourages %{p}); names of more than MX_DNS_RR_MAX records
 * in one answer see only the first MX_DNS_RR_MAX; a name that is not a
 * valid DNS name after expansion (empty label, label over 63 octets,
 * octets a resolver cannot carry) is treated as non-existent without a
 * query; the records of one evaluation's include chain and the names of
 * the mx or ptr being walked must fit in SPF_ARENA octets together
 * (permerror otherwise, never seen in practice). sizeof(struct spf_eval)
 * is about 7.8 KB.
 *
 * Threads: none of its own; a struct spf_eval is used by one thread at a
 * time. Memory: the caller's.
 */
#ifndef MX_POLICY_SPF_H
#define MX_POLICY_SPF_H

#include <stddef.h>
#include <stdint.h>

#include "policy/dns.h"

enum spf_result {
	SPF_NONE = 0,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

enum spf_step_ret {
	SPF_STEP_DONE = 0, /* e->result is final */
	SPF_STEP_QUERY,	   /* answer e->q with spf_feed() */
};

#define SPF_DEPTH 12   /* include nesting (the 10-lookup limit keeps it below) */
#define SPF_ARENA 6144 /* octets for the domains and records of the include chain */
#define SPF_WHY	  128

/* The DNS question the evaluator waits for. */
struct spf_query {
	uint8_t type; /* enum mx_dns_type */
	char name[MX_DNS_NAME_MAX + 1];
};

/* One record being evaluated (the checked domain, or an include's). */
struct spf_frame {
	uint16_t dom;		   /* arena offset of the domain (NUL-terminated) */
	uint16_t rec, rec_len;	   /* arena offset and length of the record */
	uint16_t pos;		   /* next term in the record */
	uint16_t redir, redir_len; /* redirect= value in the record (len 0: none) */
	uint16_t mark;		   /* arena used before this frame */
	uint8_t inc_qual;	   /* qualifier of the include that opened it */
	uint8_t redirected;	   /* reached through redirect= */
};

struct spf_eval {
	/* inputs */
	uint8_t af;	 /* AF_INET or AF_INET6 */
	uint8_t ip[16];	 /* network order; IPv4 in the first 4 */
	uint8_t helo_id; /* 1: the identity checked is the HELO name */
	char local[MX_DNS_NAME_MAX + 1];
	char domain[MX_DNS_NAME_MAX + 1]; /* <domain> of check_host(), also %{o} */
	char helo[MX_DNS_NAME_MAX + 1];

	/* the outcome */
	uint8_t result;	   /* enum spf_result, final when spf_step() returns DONE */
	char why[SPF_WHY]; /* the mechanism that matched, or what went wrong */
	struct spf_query q;

	/* progress (private) */
	uint8_t state, wait;
	uint8_t depth, lookups, voids;
	uint8_t mech, qual, cidr4, cidr6;
	uint8_t names_left; /* MX or PTR names still to look at */
	uint16_t name_pos;  /* the next one, in the arena above arena_used */
	uint16_t arena_used;
	uint16_t term_len;
	struct spf_frame f[SPF_DEPTH];
	char target[MX_DNS_NAME_MAX + 1];
	char arena[SPF_ARENA];
};

/**
 * Start evaluating: @af AF_INET or AF_INET6 (an IPv4-mapped IPv6 address is
 * taken as IPv4), @addr its address (network order), @sender the MAIL FROM
 * address without brackets ("" or NULL: the null sender, so the HELO name is
 * checked as postmaster@HELO), @helo the HELO/EHLO argument. A malformed
 * domain makes the result "none" at once (RFC 7208 4.3). Never fails.
 */
void spf_start(struct spf_eval *e, int af, const void *addr, const char *sender, const char *helo);

/** Run until a DNS answer is needed (SPF_STEP_QUERY: e->q) or the result
 * is known (SPF_STEP_DONE: e->result). */
enum spf_step_ret spf_step(struct spf_eval *e);

/** The answer to e->q (any status; TEMPFAIL makes most lookups temperror).
 * @r valid during the call only. Then call spf_step() again. */
void spf_feed(struct spf_eval *e, const struct mx_dns_result *r);

/** "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror". */
const char *spf_result_name(enum spf_result r);

/**
 * Format the Received-SPF header field (RFC 7208 9.1) of a finished
 * evaluation, "Received-SPF: RESULT (COMMENT)\r\n\tclient-ip=...; ...",
 * folded with CRLF TAB, without a final CRLF; values from the client are
 * made safe (no CR, LF, quote or semicolon). @receiver: this host's name.
 * Returns the length (truncated to @len - 1 like snprintf; returns what it
 * needed).
 */
int spf_received_spf(const struct spf_eval *e, const char *receiver, char *buf, size_t len);

#endif
