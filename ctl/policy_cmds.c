/*
 * policy_cmds.c - `show policy` (the checks, the tables, the DNSBL zones
 * and their error answers, the counters) and `policy test CLIENT-IP HELO
 * FROM RCPT` (every class of checks over the live tables and DNS, as a dry
 * run: nothing is counted). Registers the "policy" counter group. Control
 * thread only.
 *
 * `policy test` asks every lookup a check could need at once through
 * mx_dns_resolve() (cache first, then c-ares, on the control loop), answers
 * later (ctl_defer()) and folds the answers the way the stages do. With
 * [policy] verify_recipients, a recipient that the tables let through is
 * verified too (MX_DNS_VERIFY: the verification cache, else a probe of
 * the next hop, whose answer is cached for the sessions as theirs is).
 * The tables are read here without a read-side section: only this thread
 * retires a set (pol_publish()) and frees one (pol_collect()).
 * Memory: one malloc'd struct per test, freed when it answers or its
 * client is dropped (the answers still due then find it marked abandoned
 * and free it with the last one).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/daemon.h"
#include "dataplane/dataplane.h"
#include "policy/dns.h"
#include "policy/policy.h"
#include "policy/spf.h"

enum { TQ_HELO_A, TQ_HELO_AAAA, TQ_MX, TQ_SA, TQ_SAAAA, TQ_VERIFY, TQ_ZONE };

struct ptest {
	struct ctl_client *client;
	struct ctl_out *o;
	bool abandoned;
	unsigned outstanding;
	struct pol_input in;
	char helo[256], from[256], rcpt[256];
	struct mx_dns_result r[TQ_ZONE + 2 * POL_DNSBL_MAX];
	bool asked[TQ_ZONE + 2 * POL_DNSBL_MAX];
	bool spf_on, spf_in_drive, spf_waiting;
	bool rdns_on;
	uint8_t rdns; /* enum pol_dns_state */
	char rdns_name[MX_DNS_NAME_MAX + 1];
	struct spf_eval spf; /* one question at a time (spf.h) */
};

struct ptest_q {
	struct ptest *t;
	unsigned i;
};

static bool found(const struct mx_dns_result *r)
{
	return r->status == MX_DNS_OK && r->n > 0;
}

static uint8_t chain_state(const struct mx_dns_result *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (r[i].status == MX_DNS_TEMPFAIL)
			return POL_DNS_TEMPFAIL;
	for (unsigned i = 0; i < n; i++)
		if (found(&r[i]))
			return POL_DNS_FOUND;
	return POL_DNS_NOTFOUND;
}

static void report(struct ptest *t)
{
	const struct pol_set *s = pol_current();
	struct ctl_out *o = t->o;
	struct pol_input *in = &t->in;
	struct pol_verdict first;
	bool decided = false;

	if (!s) {
		ctl_error(o, "no policy loaded");
		return;
	}
	if (t->asked[TQ_HELO_A])
		in->helo_dns = chain_state(&t->r[TQ_HELO_A], 2);
	if (t->asked[TQ_MX]) {
		/* A null MX (RFC 7505) counts as none. */
		const struct mx_dns_result *mx = &t->r[TQ_MX];
		bool null_mx = found(mx) && mx->n == 1 &&
			       (!pol_dns_text(mx, 0)[0] || !strcmp(pol_dns_text(mx, 0), "."));
		in->sender_dns = null_mx ? POL_DNS_NOTFOUND : chain_state(&t->r[TQ_MX], 3);
	}
	in->dnsbl_done = true;
	in->dnsbl_zone = -1;
	in->dnsbl_txt = "";
	for (unsigned z = 0; z < pol_dnsbl_zones(s); z++) {
		const struct pol_dnsbl_zone *zn = pol_dnsbl_zone(s, z);
		const struct mx_dns_result *r = &t->r[TQ_ZONE + z];
		int listed = 0;
		if (!t->asked[TQ_ZONE + z])
			continue;
		for (unsigned k = 0; found(r) && k < r->n && k < MX_DNS_RR_MAX; k++) {
			int c = pol_dnsbl_classify(zn, (const uint8_t *)&r->u.a[k]);
			if (c < 0) {
				listed = -1;
				break;
			}
			listed |= c;
		}
		ctl_printf(o, "dnsbl %s: %s\n", zn->name,
			   listed < 0			  ? "error answer (not a listing)"
			   : listed			  ? "listed"
			   : r->status == MX_DNS_TEMPFAIL ? "lookup failed (not a listing)"
							  : "not listed");
		if (listed > 0) {
			in->dnsbl_score += zn->weight;
			if (zn->weight > 0 && in->dnsbl_zone < 0) {
				const struct mx_dns_result *txt =
					&t->r[TQ_ZONE + POL_DNSBL_MAX + z];
				in->dnsbl_zone = (int)z;
				if (found(txt))
					in->dnsbl_txt = pol_dns_text(txt, 0);
			}
		}
	}
	if (t->asked[TQ_VERIFY]) {
		const struct mx_dns_result *r = &t->r[TQ_VERIFY];
		/* As the stage folds it (policy/stage.c). */
		in->verify = r->status == MX_DNS_OK	    ? POL_DNS_FOUND
			     : r->status == MX_DNS_NXDOMAIN ? POL_DNS_NOTFOUND
							    : POL_DNS_TEMPFAIL;
		in->verify_text = r->text;
		ctl_printf(o, "verify <%s>: %s%s%s\n", t->rcpt,
			   in->verify == POL_DNS_FOUND	    ? "deliverable"
			   : in->verify == POL_DNS_NOTFOUND ? "undeliverable"
							    : "unverified",
			   r->text[0] ? ": " : "", r->text);
	}
	if (t->rdns_on) {
		in->rdns = t->rdns;
		ctl_printf(o, "rdns %s (%s)\n", t->rdns_name[0] ? t->rdns_name : "-",
			   t->rdns == POL_DNS_FOUND	 ? "forward-confirmed"
			   : t->rdns == POL_DNS_TEMPFAIL ? "lookup failed"
							 : "none or not confirmed");
	}
	if (t->spf_on) {
		in->spf = POL_DNS_FOUND;
		in->spf_result = t->spf.result;
		ctl_printf(o, "spf %s (%s)\n", spf_result_name((enum spf_result)t->spf.result),
			   t->spf.why);
	}
	ctl_printf(o, "trusted %s\n", in->trusted ? "yes" : "no");
	for (unsigned c = 0; c < POL_CLASS_COUNT; c++) {
		struct pol_verdict v;
		pol_eval_class(s, (enum pol_class)c, in, &v);
		if (v.action == POL_REJECT || v.action == POL_DEFER)
			ctl_printf(o, "%-7s %s: %u %s %s (check %s)\n", pol_class_name(c),
				   pol_action_name(v.action), v.code, v.enh, v.text,
				   pol_check_name(v.check));
		else
			ctl_printf(o, "%-7s %s\n", pol_class_name(c), pol_action_name(v.action));
		if (!decided && (v.action == POL_REJECT || v.action == POL_DEFER)) {
			first = v;
			decided = true;
		}
	}
	if (decided)
		ctl_printf(o, "verdict %u %s %s%s\n", first.code, first.enh, first.text,
			   pol_delay_reject(s) ? " (at RCPT: delay_reject)" : "");
	if (!decided)
		ctl_printf(o, "verdict accept\n");
}

static void finish(struct ptest *t)
{
	if (!t->abandoned) {
		report(t);
		if (t->client)
			ctl_complete(t->client);
	}
	free(t);
}

/* One lookup (or the SPF evaluation) is over: answer when it was the last. */
static void done_one(struct ptest *t)
{
	if (--t->outstanding > 0)
		return;
	if (t->abandoned)
		free(t);
	else if (t->client)
		finish(t);
}

static void on_dns(void *arg, const struct mx_dns_result *r)
{
	struct ptest_q *q = arg;
	struct ptest *t = q->t;

	t->r[q->i] = *r;
	free(q);
	done_one(t);
}

static void spf_run(struct ptest *t);

/* Reverse DNS: the PTR, then the name's A/AAAA must give the client back. */
static void on_fwd(void *arg, const struct mx_dns_result *r)
{
	struct ptest *t = arg;

	t->rdns = r->status == MX_DNS_TEMPFAIL ? POL_DNS_TEMPFAIL : POL_DNS_NOTFOUND;
	for (unsigned i = 0; r->status == MX_DNS_OK && i < r->n && i < MX_DNS_RR_MAX; i++)
		if (t->in.family == 4 ? !memcmp(&r->u.a[i], t->in.addr, 4)
				      : !memcmp(&r->u.aaaa[i], t->in.addr, 16))
			t->rdns = POL_DNS_FOUND;
	done_one(t);
}

static void on_ptr(void *arg, const struct mx_dns_result *r)
{
	struct ptest *t = arg;
	const char *name = r->status == MX_DNS_OK ? pol_dns_text(r, 0) : "";
	size_t n = strlen(name);

	if (n && name[n - 1] == '.')
		n--;
	if (n && n <= MX_DNS_NAME_MAX) {
		memcpy(t->rdns_name, name, n);
		t->rdns_name[n] = '\0';
		if (mx_dns_resolve(t->in.family == 4 ? MX_DNS_A : MX_DNS_AAAA, t->rdns_name, on_fwd,
				   t) == 0)
			return;
	}
	t->rdns = r->status == MX_DNS_TEMPFAIL ? POL_DNS_TEMPFAIL : POL_DNS_NOTFOUND;
	done_one(t);
}

static void on_spf(void *arg, const struct mx_dns_result *r)
{
	struct ptest *t = arg;

	spf_feed(&t->spf, r);
	t->spf_waiting = false;
	if (!t->spf_in_drive) /* answered later: go on */
		spf_run(t);
}

/* Step the evaluation through mx_dns_resolve() (which may answer before
 * it returns: then the loop goes on here) until it is done. */
static void spf_run(struct ptest *t)
{
	t->spf_in_drive = true;
	while (spf_step(&t->spf) == SPF_STEP_QUERY) {
		t->spf_waiting = true;
		if (mx_dns_resolve((enum mx_dns_type)t->spf.q.type, t->spf.q.name, on_spf, t) !=
		    0) {
			static struct mx_dns_result fail = {.status = MX_DNS_TEMPFAIL};
			t->spf_waiting = false;
			fail.type = t->spf.q.type;
			spf_feed(&t->spf, &fail);
			continue;
		}
		if (t->spf_waiting) {
			t->spf_in_drive = false;
			return;
		}
	}
	t->spf_in_drive = false;
	done_one(t);
}

static void ask(struct ptest *t, unsigned i, enum mx_dns_type type, const char *name)
{
	struct ptest_q *q = malloc(sizeof(*q));

	t->asked[i] = true;
	if (!q) {
		t->r[i].status = MX_DNS_TEMPFAIL;
		return;
	}
	q->t = t;
	q->i = i;
	t->outstanding++;
	if (mx_dns_resolve(type, name, on_dns, q) != 0) {
		t->outstanding--;
		t->r[i].status = MX_DNS_TEMPFAIL;
		free(q);
	}
}

static void on_abandon(void *arg)
{
	struct ptest *t = arg;

	t->abandoned = true;
	if (t->outstanding == 0)
		free(t);
}

static void cmd_policy_test(struct ctl_out *o, int argc, char **argv)
{
	const struct pol_set *s = pol_current();
	struct ptest *t;
	const char *dom;
	unsigned want;

	if (argc != 4)
		return ctl_error(o, "usage: policy test CLIENT-IP HELO FROM RCPT (FROM '<>' or "
				    "'' for the null sender)");
	if (!s)
		return ctl_error(o, "no policy loaded");
	t = calloc(1, sizeof(*t));
	if (!t)
		return ctl_error(o, "out of memory");
	t->o = o;
	if (inet_pton(AF_INET, argv[0], t->in.addr) == 1) {
		t->in.family = 4;
	} else if (inet_pton(AF_INET6, argv[0], t->in.addr) == 1) {
		t->in.family = 6;
	} else {
		free(t);
		return ctl_error(o, "policy test: '%s' is not an IPv4 or IPv6 address", argv[0]);
	}
	snprintf(t->helo, sizeof(t->helo), "%s", argv[1]);
	snprintf(t->from, sizeof(t->from), "%s", strcmp(argv[2], "<>") == 0 ? "" : argv[2]);
	snprintf(t->rcpt, sizeof(t->rcpt), "%s", argv[3]);
	t->in.helo = t->helo;
	t->in.from = t->from;
	t->in.rcpt = t->rcpt;
	t->in.trusted = pol_trusted(s, &t->in);
	want = pol_enabled(s) && !t->in.trusted ? pol_wants(s) : 0;
	if ((want & POL_WANT_HELO_A) && t->helo[0] != '[') {
		ask(t, TQ_HELO_A, MX_DNS_A, t->helo);
		ask(t, TQ_HELO_AAAA, MX_DNS_AAAA, t->helo);
	}
	dom = pol_addr_domain(t->from);
	if ((want & POL_WANT_SENDER) && dom) {
		ask(t, TQ_MX, MX_DNS_MX, dom);
		ask(t, TQ_SA, MX_DNS_A, dom);
		ask(t, TQ_SAAAA, MX_DNS_AAAA, dom);
	}
	if (want & POL_WANT_RDNS) {
		char q[MX_DNS_NAME_MAX + 1];
		t->rdns_on = true;
		t->rdns = POL_DNS_NOTFOUND;
		if (mx_dns_ptr_name(t->in.family == 4 ? AF_INET : AF_INET6, t->in.addr, q,
				    sizeof(q)) == 0) {
			t->outstanding++;
			if (mx_dns_resolve(MX_DNS_PTR, q, on_ptr, t) != 0) {
				t->outstanding--;
				t->rdns = POL_DNS_TEMPFAIL;
			}
		}
	}
	if (want & POL_WANT_SPF) {
		t->spf_on = true;
		t->outstanding++;
		spf_start(&t->spf, t->in.family == 4 ? AF_INET : AF_INET6, t->in.addr, t->from,
			  t->helo);
		spf_run(t);
	}
	if (want & POL_WANT_VERIFY) {
		/* Only what the recipient tables let through goes to the next
		 * hop, as at RCPT (the verdict of the probe left out here). */
		struct pol_verdict v;
		pol_eval_class(s, POL_CLASS_RCPT, &t->in, &v);
		if (v.action == POL_CONTINUE)
			ask(t, TQ_VERIFY, MX_DNS_VERIFY, t->rcpt);
	}
	for (unsigned z = 0; (want & POL_WANT_DNSBL) && z < pol_dnsbl_zones(s); z++) {
		char q[MX_DNS_NAME_MAX + 1];
		if (pol_dnsbl_qname(&t->in, pol_dnsbl_zone(s, z)->name, q, sizeof(q)) != 0)
			continue;
		ask(t, TQ_ZONE + z, MX_DNS_A, q);
		ask(t, TQ_ZONE + POL_DNSBL_MAX + z, MX_DNS_TXT, q);
	}
	if (t->outstanding == 0) {
		finish(t);
		return;
	}
	t->client = ctl_defer(o, on_abandon, t);
	if (!t->client) { /* not a socket client: the answers are lost to it */
		t->abandoned = true;
		ctl_error(o, "policy test needs DNS answers: run it through the ctl socket");
	}
}

static void cmd_show_policy(struct ctl_out *o, int argc, char **argv)
{
	const struct pol_set *s = pol_current();
	uint64_t tot[POL_CHK_COUNT][POL_CTR_COUNT] = {{0}};
	unsigned nw = dp_nworkers();

	(void)argv;
	if (argc != 0)
		return ctl_error(o, "usage: show policy");
	if (!s)
		return ctl_error(o, "no policy loaded");
	for (unsigned w = 0; w < nw; w++) {
		uint64_t c[POL_CHK_COUNT][POL_CTR_COUNT];
		pol_counters_read(w, c);
		for (unsigned i = 0; i < POL_CHK_COUNT; i++)
			for (unsigned k = 0; k < POL_CTR_COUNT; k++)
				tot[i][k] += c[i][k];
	}
	ctl_printf(o, "enabled %s\ndelay_reject %s\ndomains %zu\nrecipients %zu\n",
		   pol_enabled(s) ? "yes" : "no", pol_delay_reject(s) ? "yes" : "no",
		   pol_set_domains(s), pol_set_recipients(s));
	ctl_printf(o, "%-14s %-7s %10s %10s %10s\n", "check", "class", "reject", "defer",
		   "tempfail");
	for (unsigned i = 0; i < POL_CHK_COUNT; i++)
		ctl_printf(o, "%-14s %-7s %10llu %10llu %10llu\n", pol_check_name(i),
			   pol_class_name(pol_check_class(i)),
			   (unsigned long long)tot[i][POL_CTR_REJECT],
			   (unsigned long long)tot[i][POL_CTR_DEFER],
			   (unsigned long long)tot[i][POL_CTR_TEMPFAIL]);
	for (unsigned z = 0; z < pol_dnsbl_zones(s); z++) {
		const struct pol_dnsbl_zone *zn = pol_dnsbl_zone(s, z);
		uint64_t err = 0;
		for (unsigned w = 0; w < nw; w++)
			err += pol_zone_errors_read(w, z);
		ctl_printf(o, "dnsbl %s weight %d errors %llu%s\n", zn->name, zn->weight,
			   (unsigned long long)err,
			   err ? " FLAGGED: error answers (blocked query, public resolver?)" : "");
	}
	if (pol_dnsbl_zones(s))
		ctl_printf(o, "dnsbl_threshold %d\n", pol_dnsbl_threshold(s));
}

static const struct ctl_cmd policy_cmds[] = {
	{.words = {"show", "policy"},
	 .usage = "",
	 .help = "policy checks with their replies counted, tables, DNSBL zones (flagged on error "
		 "answers)",
	 .fn = cmd_show_policy},
	{.words = {"policy", "test"},
	 .usage = "CLIENT-IP HELO FROM RCPT",
	 .help = "dry run of every policy check with the live tables and DNS ('<>': null sender)",
	 .fn = cmd_policy_test},
};

__attribute__((constructor)) static void register_policy_cmds(void)
{
	for (unsigned i = 0; i < sizeof(policy_cmds) / sizeof(policy_cmds[0]); i++)
		ctl_register(&policy_cmds[i]);
	pol_counters_register();
}
