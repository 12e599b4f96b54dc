/*
 * refusal.c - mxbench's refusal mode (the botnet case). See refusal.h.
 */
#include <errno.h>
#include <string.h>

#include "bench/mxbench.h"
#include "bench/refusal.h"

int bench_ref_parse_mode(struct bench_ref_cfg *r, const char *mode)
{
	if (strcmp(mode, "helo-local") == 0)
		r->mode = BENCH_REF_HELO_LOCAL;
	else if (strcmp(mode, "dnsbl") == 0)
		r->mode = BENCH_REF_DNSBL;
	else
		return -EINVAL;
	return 0;
}

int bench_ref_parse_src(struct bench_ref_cfg *r, const char *list, int family)
{
	r->src_str = list;
	return bench_atk_parse_src(&r->src, list, family);
}

static const char *mode_name(enum bench_ref_mode m)
{
	return m == BENCH_REF_HELO_LOCAL ? "helo-local" : m == BENCH_REF_DNSBL ? "dnsbl" : "off";
}

const char *bench_ref_apply(struct bench_cfg *cfg)
{
	struct bench_ref_cfg *r = &cfg->refusal;

	if (r->mode == BENCH_REF_OFF)
		return r->src.nsrc ? "--refusal-src needs --refusal" : NULL;
	if (r->src.nsrc && cfg->dpdk)
		return "--refusal-src: the dpdk transport has one address (--dpdk-addr)";
	if (r->src.nsrc && cfg->src_len)
		return "--refusal-src and --bind: give one of them";
	if (cfg->rate > 0.0)
		return "--refusal runs the closed loop (no --rate)";
	if (r->mode == BENCH_REF_HELO_LOCAL)
		cfg->cli.ehlo = "bot.local";
	else if (strcmp(cfg->cli.ehlo, "mxbench.example.test") == 0)
		cfg->cli.ehlo = "mxbench.example.net"; /* .test is special-use itself */
	/* One transaction per session, sessions replaced until the count
	 * or the duration: every session is one refusal. */
	cfg->msgs_per_conn = 1;
	cfg->refill = true;
	return NULL;
}

const struct sockaddr *bench_ref_src(const struct bench_cfg *cfg, uint64_t conn_id, socklen_t *len)
{
	const struct bench_atk_cfg *s = &cfg->refusal.src;
	unsigned i;

	if (!s->nsrc)
		return NULL;
	/* Connection ids are (thread << 32) + n: spread on both halves. */
	i = (unsigned)((conn_id + (conn_id >> 32)) % s->nsrc);
	*len = s->src_len[i];
	return (const struct sockaddr *)&s->src[i];
}

uint64_t bench_ref_refused(const struct bench_wstats *t)
{
	return t->txn_failed;
}

void bench_ref_report_json(FILE *f, const struct bench_cfg *cfg, const struct bench_wstats *t,
			   double elapsed)
{
	uint64_t refused = bench_ref_refused(t);
	bool first = true;

	fprintf(f, "  \"refusal\": {\"mode\": \"%s\", \"ehlo\": \"%s\", \"sources\": %u, ",
		mode_name(cfg->refusal.mode), cfg->cli.ehlo,
		cfg->refusal.src.nsrc ? cfg->refusal.src.nsrc : 1);
	fprintf(f,
		"\"sessions\": %llu, \"refused_sessions\": %llu, \"accepted_sessions\": %llu, "
		"\"refused_per_s\": %.1f, \"refusal_codes\": {",
		(unsigned long long)t->conn_ok, (unsigned long long)refused,
		(unsigned long long)t->txn_done, elapsed > 0 ? (double)refused / elapsed : 0.0);
	for (unsigned c = 400; c < BENCH_CODES; c++) {
		if (!t->by_code[c])
			continue;
		fprintf(f, "%s\"%u\": %llu", first ? "" : ", ", c,
			(unsigned long long)t->by_code[c]);
		first = false;
	}
	fprintf(f, "}}");
}

void bench_ref_report_text(FILE *f, const struct bench_cfg *cfg, const struct bench_wstats *t,
			   double elapsed)
{
	uint64_t refused = bench_ref_refused(t);

	fprintf(f, "mxbench: refusal %s: %llu of %llu sessions refused (%.0f/s), %llu accepted;",
		mode_name(cfg->refusal.mode), (unsigned long long)refused,
		(unsigned long long)t->conn_ok, elapsed > 0 ? (double)refused / elapsed : 0.0,
		(unsigned long long)t->txn_done);
	for (unsigned c = 400; c < BENCH_CODES; c++)
		if (t->by_code[c])
			fprintf(f, " %u: %llu", c, (unsigned long long)t->by_code[c]);
	fprintf(f, "\n");
}
