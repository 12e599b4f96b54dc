/*
 * grey_stage.c - greylisting in the daemon (grey_stage.h): the running
 * set, the table's timers on the control loop, the RCPT stage, counters.
 *
 * SETS. A reload or a whitelist edit builds a new struct grey_set and
 * publishes it with rcu_xchg_pointer(); the old one is handed to call_rcu,
 * whose callback only flags it, and the 1 s clock timer frees flagged sets
 * on the control thread (a cds_lfht may not be destroyed from the call_rcu
 * thread). The control thread never waits for a grace period.
 */
#include "policy/grey_stage.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "core/config.h"
#include "core/counters.h"
#include "core/log.h"
#include "core/loop.h"
#include "policy/grey_org.h"
#include "policy/policy.h"
#include "policy/spf.h"
#include "policy/store_redis.h"
#include "smtp/host.h"

#define GREY_MAX_WORKERS 128
#define AGE_MS		 60000

struct grey_set {
	bool enabled, spf_domain, ptr_org;
	struct grey_psl *psl; /* ptr_org: the Public Suffix List (NULL: two labels) */
	char reply[MX_CFG_STR];
	char paths[GREY_WL_COUNT][MX_CFG_STR];
	struct grey_wl *wl;
	struct grey_conf conf;
	struct rcu_head rcu;
	struct grey_set *next_dead;
	bool dead;
};

static struct grey_set *cur_set;
static struct grey_set *retired; /* waiting for their grace period */
static struct grey_table *table;
static struct mx_loop_timer clock_timer, age_timer, snap_timer;
static char snap_path[PATH_MAX];
static unsigned snap_every_s, n_workers;

#define GREY_PARK_MAX 64 /* sessions waiting for SPF per worker */

struct grey_parked {
	uint32_t slot;
	bool wait_store;      /* waiting for the shared store, not for SPF */
	struct grey_result r; /* the local verdict (stands on a store miss) */
	uint64_t cookie;      /* of the store lookup */
	uint64_t ticket;
	char rcpt[SMTP_PATH_MAX];
};

struct grey_stage {
	unsigned worker;
	struct smtp_stage_host *host;
	void *pol; /* the worker's struct pol_stage (reverse name) */
	char text[SMTP_REPLY_MAX];
	unsigned nparked;
	uint64_t seq; /* store lookup cookies */
	struct grey_parked parked[GREY_PARK_MAX];
};

/* ---- sets --------------------------------------------------------------------- */

static struct grey_set *set_build(const struct mx_config *c, char *err, size_t errlen)
{
	struct grey_set *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "[greylist]: out of memory");
		return NULL;
	}
	s->enabled = c->grey_enabled;
	s->spf_domain = c->grey_spf_domain;
	s->ptr_org = c->grey_ptr_org;
	snprintf(s->reply, sizeof(s->reply), "%s", c->grey_reply);
	for (int k = 0; k < GREY_WL_COUNT; k++)
		snprintf(s->paths[k], sizeof(s->paths[k]), "%s",
			 k == GREY_WL_SENDERS	? c->grey_wl_senders
			 : k == GREY_WL_CLIENTS ? c->grey_wl_clients
			 : k == GREY_WL_HOSTS	? c->grey_wl_hosts
						: c->grey_wl_rcpts);
	s->conf = (struct grey_conf){
		.delay_s = (uint32_t)c->grey_delay_s,
		.window_s = (uint32_t)c->grey_window_s,
		.max_age_s = (uint32_t)c->grey_max_age_s,
		.awl_passes = (uint32_t)c->grey_awl_passes,
		.v4_prefix = (uint8_t)c->grey_v4_prefix,
		.v6_prefix = (uint8_t)c->grey_v6_prefix,
		.max_entries = (uint32_t)c->grey_max_entries,
	};
	/* The files are read only when greylisting is on. */
	if (s->enabled && s->ptr_org && c->grey_psl_file[0] &&
	    !(s->psl = grey_org_load(c->grey_psl_file))) {
		snprintf(err, errlen, "[greylist] psl_file %s: %s", c->grey_psl_file,
			 strerror(errno));
		free(s);
		return NULL;
	}
	if (s->enabled) {
		rcu_thread_online();
		s->wl = grey_wl_build(c, err, errlen);
		rcu_thread_offline();
		if (!s->wl) {
			grey_org_free(s->psl);
			free(s);
			return NULL;
		}
	}
	return s;
}

static void set_free(struct grey_set *s)
{
	if (!s)
		return;
	grey_wl_free(s->wl);
	grey_org_free(s->psl);
	free(s);
}

static void set_dead_rcu(struct rcu_head *h)
{
	struct grey_set *s = caa_container_of(h, struct grey_set, rcu);

	__atomic_store_n(&s->dead, true, __ATOMIC_RELEASE);
}

static void collect(void)
{
	struct grey_set **pp = &retired;

	while (*pp) {
		struct grey_set *s = *pp;
		if (__atomic_load_n(&s->dead, __ATOMIC_ACQUIRE)) {
			*pp = s->next_dead;
			set_free(s);
		} else {
			pp = &s->next_dead;
		}
	}
}

static void publish(struct grey_set *s)
{
	struct grey_set *old;

	rcu_thread_online();
	old = rcu_xchg_pointer(&cur_set, s);
	if (old)
		call_rcu(&old->rcu, set_dead_rcu);
	rcu_thread_offline();
	if (old) {
		old->next_dead = retired;
		retired = old;
	}
	if (table && s)
		grey_set_conf(table, &s->conf);
}

static const struct grey_set *current(void)
{
	return rcu_dereference(cur_set);
}

struct grey_table *grey_table(void)
{
	return table;
}

const struct grey_wl *grey_wl_current(void)
{
	const struct grey_set *s = current();

	return s ? s->wl : NULL;
}

bool grey_enabled(void)
{
	const struct grey_set *s = current();

	return s && s->enabled;
}

const char *grey_wl_path(enum grey_wl_kind k)
{
	const struct grey_set *s = current();

	return s && (unsigned)k < GREY_WL_COUNT ? s->paths[k] : "";
}

/* ---- timers ------------------------------------------------------------------- */

static void clock_tick(struct mx_loop_timer *t, void *arg)
{
	(void)arg;
	grey_set_now(table, (uint32_t)time(NULL));
	collect();
	mx_loop_timer_arm(t, 1000);
}

static void age_tick(struct mx_loop_timer *t, void *arg)
{
	size_t n;

	(void)arg;
	rcu_thread_online();
	n = grey_age(table, (uint32_t)time(NULL));
	rcu_thread_offline();
	if (n)
		MX_DEBUG("greylist: %zu entries aged out, %zu left", n, grey_entries(table));
	mx_loop_timer_arm(t, AGE_MS);
}

static void snap_tick(struct mx_loop_timer *t, void *arg)
{
	int rc;

	(void)arg;
	rc = grey_snapshot_start(table, snap_path);
	if (rc && rc != -EBUSY)
		MX_WARN("greylist: snapshot %s: %s", snap_path, strerror(-rc));
	mx_loop_timer_arm(t, (uint64_t)snap_every_s * 1000);
}

/* ---- boot, reload, shutdown ------------------------------------------------------ */

int grey_boot(const struct mx_config *c, unsigned nworkers, char *err, size_t errlen)
{
	struct grey_set *s = set_build(c, err, errlen);
	uint32_t now = (uint32_t)time(NULL);
	bool damaged;
	long n;

	if (!s)
		goto fail;
	table = grey_create(&s->conf, nworkers ? nworkers : 1);
	if (!table) {
		snprintf(err, errlen, "[greylist] max_entries %lld: %s",
			 (long long)c->grey_max_entries, strerror(errno));
		set_free(s);
		goto fail;
	}
	n_workers = nworkers;
	grey_set_now(table, now);
	if (c->grey_snapshot[0])
		snprintf(snap_path, sizeof(snap_path), "%s", c->grey_snapshot);
	else if (c->spool_dir[0])
		snprintf(snap_path, sizeof(snap_path), "%s/greylist.snap", c->spool_dir);
	if (snap_path[0]) {
		n = grey_snapshot_load(table, snap_path, now, &damaged);
		if (n < 0)
			MX_WARN("greylist: %s: %s; starting empty", snap_path, strerror((int)-n));
		else
			MX_NOTICE("greylist: %ld entries loaded from %s%s", n, snap_path,
				  damaged ? " (damaged tail cut)" : "");
	}
	publish(s);
	mx_loop_timer_init(&clock_timer, clock_tick, NULL);
	mx_loop_timer_arm(&clock_timer, 1000);
	mx_loop_timer_init(&age_timer, age_tick, NULL);
	mx_loop_timer_arm(&age_timer, AGE_MS);
	snap_every_s = (unsigned)c->grey_snapshot_s;
	mx_loop_timer_init(&snap_timer, snap_tick, NULL);
	if (snap_path[0] && snap_every_s)
		mx_loop_timer_arm(&snap_timer, (uint64_t)snap_every_s * 1000);
	return grey_counters_register(nworkers);
fail:
	MX_ERR("%s", err);
	return -1;
}

static struct grey_set *pending;

int grey_reload_prepare(const struct mx_config *c, char *err, size_t errlen)
{
	set_free(pending);
	pending = set_build(c, err, errlen);
	return pending ? 0 : -1;
}

void grey_reload_commit(bool apply)
{
	if (apply && pending)
		publish(pending);
	else
		set_free(pending);
	pending = NULL;
}

long grey_save_now(void)
{
	long n;

	if (!table || !snap_path[0])
		return -ENOENT;
	grey_snapshot_wait(table);
	n = grey_snapshot_save(table, snap_path);
	return n;
}

void grey_shutdown(void)
{
	long n;

	if (!table)
		return;
	mx_loop_timer_cancel(&clock_timer);
	mx_loop_timer_cancel(&age_timer);
	mx_loop_timer_cancel(&snap_timer);
	n = grey_save_now();
	if (n >= 0)
		MX_NOTICE("greylist: %ld entries saved to %s", n, snap_path);
	else if (n != -ENOENT)
		MX_WARN("greylist: snapshot %s: %s", snap_path, strerror((int)-n));
	publish(NULL);
	rcu_barrier();
	collect();
	grey_destroy(table);
	table = NULL;
}

/* ---- whitelist edits -------------------------------------------------------------- */

/* Rewrite @path without the line @value (@add: with it appended). */
static int file_edit(const char *path, const char *value, bool add)
{
	char tmp[PATH_MAX], line[1024];
	FILE *in, *out;
	bool found = false;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	in = fopen(path, "re");
	if (!in && errno != ENOENT)
		return -errno;
	out = fopen(tmp, "we");
	if (!out) {
		int e = errno;
		if (in)
			fclose(in);
		return -e;
	}
	while (in && fgets(line, sizeof(line), in)) {
		char t[1024];
		size_t l;
		snprintf(t, sizeof(t), "%s", line);
		l = strcspn(t, "\r\n");
		t[l] = '\0';
		if (strcasecmp(t, value) == 0) {
			found = true;
			if (!add)
				continue;
		}
		fputs(line, out);
		if (line[strlen(line) - 1] != '\n')
			fputc('\n', out);
	}
	if (in)
		fclose(in);
	if (add && !found)
		fprintf(out, "%s\n", value);
	if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
		int e = errno;
		fclose(out);
		unlink(tmp);
		return -e;
	}
	fclose(out);
	if ((add && found) || (!add && !found)) {
		unlink(tmp);
		return add ? -EEXIST : -ENOENT;
	}
	if (rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return -e;
	}
	return 0;
}

int grey_wl_edit(enum grey_wl_kind k, const char *value, bool add, char *err, size_t errlen)
{
	const struct mx_config *c = config_current();
	const char *path = grey_wl_path(k);
	struct grey_set *s;
	int rc;

	if (!value[0] || strchr(value, ' ') || strchr(value, '\n') || strchr(value, '#'))
		return -EINVAL;
	if (k == GREY_WL_CLIENTS) {
		uint8_t key[POL_NET_KEY_LEN];
		if (pol_net_key(value, key) != 0)
			return -EINVAL;
	}
	if (!path[0] || !c)
		return -ENOTDIR;
	rc = file_edit(path, value, add);
	if (rc)
		return rc;
	s = set_build(c, err, errlen);
	if (!s)
		return -EIO;
	publish(s);
	return 0;
}

/* ---- the stage ------------------------------------------------------------------- */

static void log_grey(const struct grey_stage *gs, const struct smtp_conn *c, const char *what,
		     const char *rcpt, const struct grey_query *q, uint32_t wait)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	inet_ntop(c->peer.family == 6 ? AF_INET6 : AF_INET, c->peer.addr, ip, sizeof(ip));
	MX_INFO("greylist: worker %u: %s from [%s]: from=<%s> to=<%s> helo=<%s>%s%s wait=%us",
		gs->worker, what, ip, q->sender ? q->sender : "", rcpt, q->helo ? q->helo : "",
		q->spf_domain ? " spf=" : "", q->spf_domain ? q->spf_domain : "", wait);
}

/* The session's view from the policy stage (or only the client). */
static void session_input(const struct grey_stage *gs, const struct smtp_conn *c,
			  struct pol_input *in)
{
	if (pol_session_input(gs->worker, c->slot, in) != 0) {
		memset(in, 0, sizeof(*in));
		in->family = c->peer.family;
		memcpy(in->addr, c->peer.addr, 16);
	}
}

/* The query of @rcpt for the session of @c, or false: a static whitelist
 * of host names matched the client (counted). @org (at least
 * MX_DNS_NAME_MAX + 8 octets) holds the organisation key q->spf_domain may
 * point to. */
static bool build_query(struct grey_stage *gs, const struct grey_set *s, const struct smtp_conn *c,
			const struct pol_input *in, const char *rcpt, struct grey_query *q,
			char *org, size_t orglen)
{
	/* The client's forward-confirmed reverse name, once the policy
	 * stage has it. */
	if (gs->pol &&
	    grey_wl_match(s->wl, GREY_WL_HOSTS, pol_stage_rdns(gs->pol, c->slot), 0, NULL)) {
		grey_count_whitelisted(table, gs->worker);
		return false;
	}
	memset(q, 0, sizeof(*q));
	q->family = in->family;
	memcpy(q->addr, in->addr, 16);
	q->sender = in->from ? in->from : "";
	q->helo = in->helo ? in->helo : "";
	q->rcpt = rcpt;
	if (s->spf_domain && in->spf != POL_DNS_NONE && in->spf != POL_DNS_WAIT &&
	    in->spf_result == SPF_PASS && in->from)
		q->spf_domain = pol_addr_domain(in->from);
	/* No SPF domain: the organisation of a confirmed reverse name (its
	 * registered domain), "ptr:" so it never meets a sender domain. */
	if (!q->spf_domain && s->ptr_org && gs->pol &&
	    grey_org_domain(s->psl, pol_stage_rdns(gs->pol, c->slot), org + 4, orglen - 4) > 0) {
		memcpy(org, "ptr:", 4);
		q->spf_domain = org;
	}
	return true;
}

/* Answer the verdict @r: CONTINUE, or REPLY with @ans. The session's
 * summary line counts passes and deferrals. */
static enum smtp_stage_verdict verdict_answer(struct grey_stage *gs, const struct grey_set *s,
					      struct smtp_conn *c, const struct grey_query *q,
					      const char *rcpt, const struct grey_result *r,
					      struct smtp_answer *ans)
{
	if (!grey_verdict_defers(r->verdict)) {
		if (r->verdict == GREY_PASS_RETRY) {
			log_grey(gs, c, "pass", rcpt, q, 0);
			if (c->grey_passed < UINT16_MAX)
				c->grey_passed++;
		}
		return SMTP_STAGE_CONTINUE;
	}
	log_grey(gs, c, r->verdict == GREY_DEFER_NEW ? "defer new" : "defer early", rcpt, q,
		 r->wait_s);
	if (c->grey_deferred < UINT16_MAX)
		c->grey_deferred++;
	{
		/* Postfix's form; a long address cuts the text, never the code. */
		int n = snprintf(gs->text, sizeof(gs->text),
				 "<%s>: Recipient address rejected: ", rcpt);
		if (n > 0 && (size_t)n < sizeof(gs->text) - 1) {
			size_t room = sizeof(gs->text) - 1 - (size_t)n, l = strlen(s->reply);
			memcpy(gs->text + n, s->reply, l < room ? l : room);
			gs->text[(size_t)n + (l < room ? l : room)] = '\0';
		}
	}
	ans->code = 451;
	ans->enh = "4.7.1";
	ans->text = gs->text;
	return SMTP_STAGE_REPLY;
}

/* The shared store's part of a decision (store_redis.h): a first pass is
 * written behind; a deferral is looked up while the session is parked
 * (@ask the parked entry: true, PARK) or, Redis down or no room to park,
 * a new key is written behind and the local verdict stands. */
static bool grey_store_hook(struct grey_stage *gs, const struct grey_query *q,
			    const struct grey_result *r, struct grey_parked *ask)
{
	char key[GREY_KEY_MAX];
	uint32_t now = grey_now(table);

	if (!mx_store_configured() ||
	    (r->verdict != GREY_PASS_RETRY && !grey_verdict_defers(r->verdict) &&
	     !(r->verdict == GREY_PASS_KNOWN && r->share_refresh)) ||
	    grey_key_text(table, q, key, sizeof(key)) < 0)
		return false;
	if (r->verdict == GREY_PASS_KNOWN) {
		mx_store_grey_post(gs->worker, MX_STORE_GREY_TOUCH, key, now, 0);
		return false;
	}
	if (r->verdict == GREY_PASS_RETRY) {
		mx_store_grey_post(gs->worker, MX_STORE_GREY_PASS, key, now, 0);
		return false;
	}
	if (ask && mx_store_up()) {
		ask->cookie = ++gs->seq;
		if (mx_store_grey_post(gs->worker,
				       r->verdict == GREY_DEFER_NEW ? MX_STORE_GREY_ASK
								    : MX_STORE_GREY_GET,
				       key, now, ask->cookie) == 0) {
			ask->wait_store = true;
			ask->r = *r;
			return true;
		}
	}
	if (r->verdict == GREY_DEFER_NEW)
		mx_store_grey_post(gs->worker, MX_STORE_GREY_NEW, key, now, 0);
	return false;
}

/* Decide @rcpt for the session of @c: CONTINUE, REPLY with @ans, or (with
 * @ask, the parked entry to fill) PARK: a local deferral is looked up in
 * the shared store (store_redis.h), whose answer comes to
 * grey_stage_poll(). */
static enum smtp_stage_verdict decide(struct grey_stage *gs, const struct grey_set *s,
				      struct smtp_conn *c, const struct pol_input *in,
				      const char *rcpt, struct smtp_answer *ans,
				      struct grey_parked *ask)
{
	struct grey_table *g = table;
	struct grey_query q;
	struct grey_result r;
	char org[MX_DNS_NAME_MAX + 8];

	if (!build_query(gs, s, c, in, rcpt, &q, org, sizeof(org)))
		return SMTP_STAGE_CONTINUE;
	grey_check(g, gs->worker, &q, grey_now(g), &r);
	if (grey_store_hook(gs, &q, &r, ask))
		return SMTP_STAGE_PARK;
	return verdict_answer(gs, s, c, &q, rcpt, &r, ans);
}

static enum smtp_stage_verdict st_rcpt(void *arg, struct smtp_stage_call *call)
{
	struct grey_stage *gs = arg;
	const struct grey_set *s = current();
	const char *rcpt = call->ev->str ? call->ev->str : "";
	struct pol_input in;
	struct grey_table *g = table;

	if (!s || !s->enabled || !g || !pol_enabled(pol_current()))
		return SMTP_STAGE_CONTINUE;
	session_input(gs, call->conn, &in);
	/* Trusted, DNS-allowlisted and whitelisted clients are never greylisted. */
	if (in.trusted || (in.dnsbl_done && in.dnsbl_score < 0) ||
	    grey_wl_match(s->wl, GREY_WL_CLIENTS, NULL, in.family, in.addr) ||
	    grey_wl_match(s->wl, GREY_WL_SENDERS, in.from, 0, NULL) ||
	    grey_wl_match(s->wl, GREY_WL_RCPTS, rcpt, 0, NULL)) {
		grey_count_whitelisted(g, gs->worker);
		return SMTP_STAGE_CONTINUE;
	}
	/* SPF still being evaluated ([policy] spf = header does not wait at
	 * RCPT): wait for it, so that a pool's retry is keyed by its domain;
	 * the same for the reverse name when there are host whitelists or
	 * keys by the name's organisation (ptr_org).
	 * Beyond GREY_PARK_MAX waiting sessions, decide on the network. */
	if (((s->spf_domain && in.spf == POL_DNS_WAIT && in.from) ||
	     (in.rdns == POL_DNS_WAIT && (s->ptr_org || grey_wl_count(s->wl, GREY_WL_HOSTS)))) &&
	    gs->nparked < GREY_PARK_MAX) {
		struct grey_parked *p = &gs->parked[gs->nparked++];
		p->slot = call->conn->slot;
		snprintf(p->rcpt, sizeof(p->rcpt), "%s", rcpt);
		p->wait_store = false;
		p->ticket = smtp_stage_ticket(call, SMTP_TICKET_STORE);
		return SMTP_STAGE_PARK;
	}
	if (gs->nparked < GREY_PARK_MAX) {
		struct grey_parked *p = &gs->parked[gs->nparked];
		enum smtp_stage_verdict v = decide(gs, s, call->conn, &in, rcpt, call->reply, p);
		if (v != SMTP_STAGE_PARK)
			return v;
		gs->nparked++;
		p->slot = call->conn->slot;
		snprintf(p->rcpt, sizeof(p->rcpt), "%s", rcpt);
		p->ticket = smtp_stage_ticket(call, SMTP_TICKET_STORE);
		return SMTP_STAGE_PARK;
	}
	return decide(gs, s, call->conn, &in, rcpt, call->reply, NULL);
}

/* The shared store answered the lookup @cookie (@found: merged into the
 * table): decide again with what it knew, or let the local verdict stand. */
static void on_store_answer(void *arg, uint64_t cookie, bool found)
{
	struct grey_stage *gs = arg;
	const struct grey_set *s = current();
	unsigned i;

	for (i = 0; i < gs->nparked; i++)
		if (gs->parked[i].wait_store && gs->parked[i].cookie == cookie)
			break;
	if (i == gs->nparked)
		return;
	{
		struct grey_parked *p = &gs->parked[i];
		struct smtp_conn *c = smtp_conn_at(smtp_host_conns(gs->host), p->slot);
		struct smtp_answer ans = {0};
		uint64_t ticket = p->ticket;
		struct grey_result r = p->r;
		struct pol_input in;
		struct grey_query q;
		char org[MX_DNS_NAME_MAX + 8];

		if (s && s->enabled && table && smtp_ticket_gen(ticket) == c->gen) {
			session_input(gs, c, &in);
			if (build_query(gs, s, c, &in, p->rcpt, &q, org, sizeof(org))) {
				if (found) {
					grey_count_undo(table, gs->worker, r.verdict);
					grey_check(table, gs->worker, &q, grey_now(table), &r);
					grey_store_hook(gs, &q, &r, NULL);
				}
				if (verdict_answer(gs, s, c, &q, p->rcpt, &r, &ans) ==
				    SMTP_STAGE_CONTINUE)
					ans.code = 0;
			}
		}
		*p = gs->parked[--gs->nparked];
		smtp_host_resume(gs->host, ticket, ans.code ? &ans : NULL);
	}
}

unsigned grey_stage_poll(struct grey_stage *gs)
{
	const struct grey_set *s;
	unsigned done = 0;

	if (!gs)
		return 0;
	if (mx_store_configured())
		done += mx_store_poll(gs->worker, GREY_PARK_MAX, on_store_answer, gs);
	if (gs->nparked == 0)
		return done;
	s = current();
	for (unsigned i = 0; i < gs->nparked;) {
		struct grey_parked *p = &gs->parked[i];
		struct smtp_conn *c = smtp_conn_at(smtp_host_conns(gs->host), p->slot);
		struct pol_input in;
		struct smtp_answer ans = {0};
		uint64_t ticket = p->ticket;
		enum smtp_stage_verdict v;
		bool ready;

		if (p->wait_store) {
			i++;
			continue;
		}
		session_input(gs, c, &in);
		ready = !s || !s->enabled ||
			(in.spf != POL_DNS_WAIT &&
			 (in.rdns != POL_DNS_WAIT ||
			  (!s->ptr_org && !grey_wl_count(s->wl, GREY_WL_HOSTS)))) ||
			smtp_ticket_gen(ticket) != c->gen;
		if (!ready) {
			i++;
			continue;
		}
		v = s && s->enabled && table && smtp_ticket_gen(ticket) == c->gen
			    ? decide(gs, s, c, &in, p->rcpt, &ans, p)
			    : SMTP_STAGE_CONTINUE;
		if (v == SMTP_STAGE_PARK) { /* now waits for the shared store */
			i++;
			continue;
		}
		if (v == SMTP_STAGE_CONTINUE)
			ans.code = 0;
		*p = gs->parked[--gs->nparked]; /* before resume: it may park again */
		smtp_host_resume(gs->host, ticket, ans.code ? &ans : NULL);
		done++;
	}
	return done;
}

struct grey_stage *grey_stage_create(struct smtp_stage_host *h, unsigned worker, void *pol)
{
	struct grey_stage *gs = calloc(1, sizeof(*gs));
	struct smtp_stage st = {
		.name = "greylist",
		.event = SMTP_EV_RCPT,
		.fn = st_rcpt,
		.lat = 1 + SMTP_LAT_rcpt_greylist,
	};
	int rc;

	if (!gs)
		return NULL;
	gs->worker = worker;
	gs->host = h;
	gs->pol = pol;
	st.arg = gs;
	st.park_ms = 20000; /* SPF: tries x timeout and then some */
	rc = smtp_host_stage_add(h, &st);
	if (rc) {
		free(gs);
		errno = -rc;
		return NULL;
	}
	return gs;
}

void grey_stage_destroy(struct grey_stage *gs)
{
	free(gs);
}

/* ---- counters ---------------------------------------------------------------------- */

static const struct mx_ctr_def grey_defs[] = {GREY_COUNTERS(MX_CTR_X_DEF)};

static unsigned grey_instances(void *arg)
{
	(void)arg;
	return table ? n_workers : 0;
}

static void grey_snap(unsigned inst, struct grey_counters *c)
{
	grey_counters_read(table, inst, c);
}

MX_CTR_LIST_READER(grey_read, GREY_COUNTERS, grey_counters, grey_snap)

static const struct mx_ctr_group grey_group = {
	.name = "greylist",
	.scope = MX_CTR_WORKER,
	.defs = grey_defs,
	.ndefs = sizeof(grey_defs) / sizeof(grey_defs[0]),
	.instances = grey_instances,
	.read = grey_read,
};

static const struct mx_ctr_def grey_table_defs[] = {
	{.name = "entries",
	 .help = "keys and networks in the greylist table",
	 .type = MX_CTR_GAUGE},
	{.name = "retired", .help = "greylist entries aged out or evicted", .type = MX_CTR_COUNTER},
	{.name = "evicted",
	 .help = "greylist entries evicted to stay under max_entries",
	 .type = MX_CTR_COUNTER},
};

static void grey_table_read(void *arg, unsigned inst, uint64_t *vals)
{
	uint64_t ev = 0;

	(void)arg;
	(void)inst;
	vals[0] = table ? grey_entries(table) : 0;
	vals[1] = table ? grey_retired(table, &ev) : 0;
	vals[2] = ev;
}

static const struct mx_ctr_group grey_table_group = {
	.name = "greylist",
	.scope = MX_CTR_GLOBAL,
	.defs = grey_table_defs,
	.ndefs = 3,
	.read = grey_table_read,
};

int grey_counters_register(unsigned nworkers)
{
	static bool done;

	(void)nworkers;
	if (done)
		return 0;
	done = true;
	if (mx_ctr_register(&grey_group) != 0 || mx_ctr_register(&grey_table_group) != 0) {
		MX_ERR("greylist: counters could not be registered");
		return -1;
	}
	return 0;
}
