/*
 * refusal.h - mxbench's refusal mode (--refusal MODE): the botnet case of
 * the policy checks. Every session is one a gateway should throw away:
 *
 *   helo-local  EHLO bot.local (a special-use name: 554 5.7.1 <bot.local>:
 *               Helo command rejected: ...)
 *   dnsbl       from client addresses listed in a DNSBL zone, round robin
 *               over --refusal-src (kernel transport; with dpdk the one
 *               --dpdk-addr): 554 5.7.1 Service unavailable; Client host
 *               [IP] blocked using ZONE
 *
 * A session is connect, banner, EHLO, MAIL, RCPT (with the server's
 * delay_reject, the default, the refusal comes there), RSET, QUIT, close:
 * the load's client (client.c) with one transaction per connection and
 * connections replaced, so it runs on both transports. A refused session
 * is a transaction refused; one that ends in 250 is a session the policy
 * let through (counted: it must stay 0). The report adds a "refusal"
 * section: sessions, refused sessions a second, the refusal codes.
 *
 * Memory: nothing allocated; the configuration is written before the
 * workers start and only read after.
 */
#ifndef MX_BENCH_REFUSAL_H
#define MX_BENCH_REFUSAL_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "bench/attack.h"

enum bench_ref_mode {
	BENCH_REF_OFF = 0,
	BENCH_REF_HELO_LOCAL,
	BENCH_REF_DNSBL,
};

struct bench_ref_cfg {
	enum bench_ref_mode mode;
	const char *src_str;	  /* --refusal-src as given */
	struct bench_atk_cfg src; /* its addresses: src.src[], src.nsrc */
};

struct bench_cfg;
struct bench_wstats;

/** Parse --refusal @mode into @r. 0 or -EINVAL. */
int bench_ref_parse_mode(struct bench_ref_cfg *r, const char *mode);

/** Parse --refusal-src (comma-separated addresses of @family). 0 or
 * -EINVAL / -E2BIG. */
int bench_ref_parse_src(struct bench_ref_cfg *r, const char *list, int family);

/** Adjust the load of @cfg for the mode (EHLO name, one transaction per
 * connection, connections replaced). NULL, or why the options do not fit. */
const char *bench_ref_apply(struct bench_cfg *cfg);

/** The source address of connection @conn_id (kernel transport), NULL:
 * the --bind address as usual. */
const struct sockaddr *bench_ref_src(const struct bench_cfg *cfg, uint64_t conn_id, socklen_t *len);

/** Refused sessions: the transactions refused (4xx/5xx before 250). */
uint64_t bench_ref_refused(const struct bench_wstats *t);

/** The report's "refusal" JSON member (no trailing comma). */
void bench_ref_report_json(FILE *f, const struct bench_cfg *cfg, const struct bench_wstats *t,
			   double elapsed);

/** One summary line on @f. */
void bench_ref_report_text(FILE *f, const struct bench_cfg *cfg, const struct bench_wstats *t,
			   double elapsed);

#endif
