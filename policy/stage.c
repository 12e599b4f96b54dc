/*
 * stage.c - the policy checks as session host stages (smtp/host.h), with
 * their DNS lookups. See policy.h.
 *
 * PER SESSION. One struct pol_slot per connection slot of the worker
 * (allocated at create, nothing per session): copies of the HELO name,
 * sender and the recipient being checked, the state of each DNS chain
 * and, while parked, the ticket. A session number per slot, bumped at
 * connect and close, is in every DNS cookie, so a late answer for an
 * earlier session of the slot is dropped.
 *
 * WHEN. Lookups start as soon as their input is known (DNSBL zones at
 * connect, all in parallel; the HELO name's A/AAAA at HELO; the sender
 * domain's MX/A/AAAA at MAIL) and answers are folded in as they come
 * (pol_stage_poll()). With [policy] delay_reject (the default, like
 * Postfix's smtpd_delay_reject) every class is decided at RCPT, in order
 * client, helo, sender, recipient, so the refusal names the envelope;
 * otherwise each class at its own event. A decision that needs a missing
 * answer parks the session under an SMTP_TICKET_DNS ticket; the host's
 * deadline answers 451 4.4.3 if DNS never does.
 *
 * DNS CHAINS. HELO: A, then AAAA on NODATA; NXDOMAIN or neither is "Host
 * not found". Sender domain: MX, then A, then AAAA (RFC 5321 5.1 implicit
 * MX); a null MX (RFC 7505, exchange ".") is "not found". DNSBL: the A
 * record of the reversed address under each zone; an answer in
 * 127.255.255.0/24 or outside 127/8 is an error (counted, the zone
 * flagged), never a listing; a TEMPFAIL zone counts as not listed (as
 * postscreen does); the first listing zone of positive weight has its TXT
 * fetched for the reply.
 *
 * Worker lcore only, except create/destroy (boot) and the counter reads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/counters.h"
#include "core/log.h"
#include "policy/dns.h"
#include "policy/passcache.h"
#include "policy/policy.h"
#include "policy/spf.h"
#include "smtp/host.h"
#include "smtp/smtp.h"

#define POL_MAX_WORKERS 128
#define POL_PARK_MS	20000 /* DNS: tries x timeout and then some */
#define POL_SPF_POOL	256   /* SPF evaluations at once per worker (8 KiB each) */
#define POL_SPF_HDR	512
#define POL_PARK_DATA	0xff  /* park_class: DATA_BEGIN waits for SPF, rDNS */
#define POL_PASS_SLOTS	65536 /* pregreet pass cache entries per worker (1.5 MiB) */

enum q_kind {
	Q_HELO_A = 1,
	Q_HELO_AAAA,
	Q_MX,
	Q_SA,
	Q_SAAAA,
	Q_ZONE, /* + zone index in the cookie */
	Q_TXT,
	Q_SPF, /* + the slot's SPF generation in the cookie */
	Q_PTR,
	Q_RDNS_FWD,
	Q_VERIFY, /* + the slot's RCPT generation in the cookie */
};

struct pol_slot {
	uint32_t sess; /* bumped at connect and close */
	bool active, trusted;
	uint8_t helo_dns, sender_dns; /* enum pol_dns_state */
	uint8_t park_class;	      /* class to decide when the answers are in */
	uint16_t dnsbl_wait;	      /* zones (and TXT: bit 15) outstanding */
	bool dnsbl_done;
	int dnsbl_score;
	int dnsbl_zone;
	uint16_t dnsbl_errors;
	uint64_t ticket; /* parked (0: not) */
	char helo[SMTP_HELO_MAX + 1];
	char from[SMTP_PATH_MAX]; /* "" null sender; from_set tells */
	char rcpt[SMTP_PATH_MAX];
	bool from_set, rcpt_set;
	char txt[POL_DNSBL_TXT_MAX];
	uint8_t rdns; /* enum pol_dns_state: FOUND = forward-confirmed */
	char rdns_name[MX_DNS_NAME_MAX + 1];
	uint8_t spf; /* POL_DNS_NONE, POL_DNS_WAIT, POL_DNS_FOUND (done) */
	uint8_t spf_result;
	uint8_t spf_gen;  /* in the cookies of this evaluation */
	uint8_t helo_gen; /* in the cookies of the HELO name's lookups */
	uint8_t from_gen; /* in the cookies of the sender domain's lookups */
	int16_t spf_eval; /* index in the pool while evaluating (-1: none) */
	uint8_t verify;	  /* enum pol_dns_state of the current RCPT's probe */
	uint8_t rcpt_gen; /* in the cookies of the RCPT's verification */
	char verify_text[256];
	char spf_hdr[POL_SPF_HDR];
};

struct pol_worker_ctr {
	uint64_t ctr[POL_CHK_COUNT][POL_CTR_COUNT];
	uint64_t zone_err[POL_DNSBL_MAX];
};

struct pol_stage {
	struct smtp_stage_host *host;
	struct smtp_conn_table *conns;
	unsigned worker;
	struct pol_slot *slots;
	unsigned nslots;
	struct pol_worker_ctr ctr;
	struct spf_eval *spf; /* [POL_SPF_POOL] */
	int16_t spf_free[POL_SPF_POOL];
	unsigned nspf_free;
	char hostname[SMTP_HOSTNAME_MAX + 1];
	struct pol_pass_cache pass; /* clients that passed the pregreet test */
};

static struct pol_stage *stages[POL_MAX_WORKERS];

#define CTR_INC(ps, chk, k) __atomic_fetch_add(&(ps)->ctr.ctr[chk][k], 1, __ATOMIC_RELAXED)

static uint64_t cookie(unsigned slot, uint32_t sess, unsigned kind, unsigned zone)
{
	return (uint64_t)slot << 40 | (uint64_t)(sess & 0xffffffu) << 16 | kind << 8 | zone;
}

static void input_of(const struct pol_slot *sl, const struct smtp_conn *c, struct pol_input *in)
{
	memset(in, 0, sizeof(*in));
	in->family = c->peer.family;
	memcpy(in->addr, c->peer.addr, 16);
	in->trusted = sl->trusted;
	in->helo = sl->helo[0] ? sl->helo : NULL;
	in->from = sl->from_set ? sl->from : NULL;
	in->rcpt = sl->rcpt_set ? sl->rcpt : NULL;
	in->helo_dns = sl->helo_dns;
	in->sender_dns = sl->sender_dns;
	in->dnsbl_done = sl->dnsbl_done;
	in->dnsbl_score = sl->dnsbl_score;
	in->dnsbl_zone = sl->dnsbl_zone;
	in->dnsbl_txt = sl->txt;
	in->dnsbl_errors = sl->dnsbl_errors;
	in->spf = sl->spf;
	in->spf_result = sl->spf_result;
	in->rdns = sl->rdns;
	in->verify = sl->verify;
	in->verify_text = sl->verify_text;
}

int pol_session_input(unsigned worker, uint32_t slot, struct pol_input *out)
{
	struct pol_stage *ps = worker < POL_MAX_WORKERS ? stages[worker] : NULL;

	if (!ps || slot >= ps->nslots || !ps->slots[slot].active)
		return -ENOENT;
	input_of(&ps->slots[slot], smtp_conn_at(ps->conns, slot), out);
	return 0;
}

/* ---- DNS -------------------------------------------------------------------- */

static void on_answer(struct pol_stage *ps, struct pol_slot *sl, unsigned slot, unsigned kind,
		      unsigned zone, const struct mx_dns_result *r);
static void spf_drive(struct pol_stage *ps, struct pol_slot *sl, unsigned slot);

/* Ask (cache first). The answer is folded in now (cached) or later. */
static void ask(struct pol_stage *ps, struct pol_slot *sl, unsigned slot, unsigned kind,
		unsigned zone, enum mx_dns_type type, const char *name)
{
	struct mx_dns_worker *w = mx_dns_worker(ps->worker);
	struct mx_dns_result r;

	if (w && mx_dns_cached(w, type, name, &r) == 1) {
		on_answer(ps, sl, slot, kind, zone, &r);
		return;
	}
	if (!w || mx_dns_submit(w, type, name, cookie(slot, sl->sess, kind, zone)) != 0) {
		memset(&r, 0, sizeof(r));
		r.type = (uint8_t)type;
		r.status = MX_DNS_TEMPFAIL;
		on_answer(ps, sl, slot, kind, zone, &r);
	}
}

static void zone_answer(struct pol_stage *ps, struct pol_slot *sl, unsigned slot, unsigned zone,
			const struct mx_dns_result *r)
{
	const struct pol_set *s = pol_current();
	const struct pol_dnsbl_zone *z = s ? pol_dnsbl_zone(s, zone) : NULL;
	int listed = 0;

	sl->dnsbl_wait &= (uint16_t) ~(1u << zone);
	if (z && r->status == MX_DNS_OK) {
		for (unsigned i = 0; i < r->n && i < MX_DNS_RR_MAX; i++) {
			int k = pol_dnsbl_classify(z, (const uint8_t *)&r->u.a[i]);
			if (k < 0) {
				listed = -1;
				break;
			}
			listed |= k;
		}
		if (listed < 0) {
			sl->dnsbl_errors++;
			__atomic_fetch_add(&ps->ctr.zone_err[zone], 1, __ATOMIC_RELAXED);
		} else if (listed) {
			sl->dnsbl_score += z->weight;
			if (z->weight > 0 && sl->dnsbl_zone < 0) {
				char q[MX_DNS_NAME_MAX + 1];
				struct pol_input in = {.family = 0};
				sl->dnsbl_zone = (int)zone;
				in.family = smtp_conn_at(ps->conns, slot)->peer.family;
				memcpy(in.addr, smtp_conn_at(ps->conns, slot)->peer.addr, 16);
				if (pol_dnsbl_qname(&in, z->name, q, sizeof(q)) == 0) {
					sl->dnsbl_wait |= 0x8000;
					ask(ps, sl, slot, Q_TXT, zone, MX_DNS_TXT, q);
				}
			}
		}
	}
	if (sl->dnsbl_wait == 0)
		sl->dnsbl_done = true;
}

static void on_answer(struct pol_stage *ps, struct pol_slot *sl, unsigned slot, unsigned kind,
		      unsigned zone, const struct mx_dns_result *r)
{
	const char *dom = pol_addr_domain(sl->from);
	bool ok = r->status == MX_DNS_OK && r->n > 0;
	bool none = r->status == MX_DNS_NXDOMAIN || r->status == MX_DNS_NODATA ||
		    (r->status == MX_DNS_OK && r->n == 0);

	/* An answer for an earlier HELO name or sender of this session. */
	if (((kind == Q_HELO_A || kind == Q_HELO_AAAA) && zone != sl->helo_gen) ||
	    ((kind == Q_MX || kind == Q_SA || kind == Q_SAAAA) && zone != sl->from_gen) ||
	    (kind == Q_VERIFY && zone != sl->rcpt_gen))
		return;
	switch (kind) {
	case Q_VERIFY:
		sl->verify = r->status == MX_DNS_OK	    ? POL_DNS_FOUND
			     : r->status == MX_DNS_NXDOMAIN ? POL_DNS_NOTFOUND
							    : POL_DNS_TEMPFAIL;
		snprintf(sl->verify_text, sizeof(sl->verify_text), "%.*s",
			 (int)strnlen(r->text, sizeof(r->text)), r->text);
		break;
	case Q_HELO_A:
	case Q_HELO_AAAA:
		if (ok)
			sl->helo_dns = POL_DNS_FOUND;
		else if (kind == Q_HELO_A && r->status == MX_DNS_NODATA)
			ask(ps, sl, slot, Q_HELO_AAAA, sl->helo_gen, MX_DNS_AAAA, sl->helo);
		else
			sl->helo_dns = none ? POL_DNS_NOTFOUND : POL_DNS_TEMPFAIL;
		break;
	case Q_MX:
		if (ok) {
			/* RFC 7505: one MX "." (an empty exchange) says no mail. */
			bool null_mx = r->n == 1 &&
				       (!pol_dns_text(r, 0)[0] || !strcmp(pol_dns_text(r, 0), "."));
			sl->sender_dns = null_mx ? POL_DNS_NOTFOUND : POL_DNS_FOUND;
		} else if (r->status == MX_DNS_NODATA && dom) {
			ask(ps, sl, slot, Q_SA, sl->from_gen, MX_DNS_A, dom);
		} else {
			sl->sender_dns = none ? POL_DNS_NOTFOUND : POL_DNS_TEMPFAIL;
		}
		break;
	case Q_SA:
	case Q_SAAAA:
		if (ok)
			sl->sender_dns = POL_DNS_FOUND;
		else if (kind == Q_SA && r->status == MX_DNS_NODATA && dom)
			ask(ps, sl, slot, Q_SAAAA, sl->from_gen, MX_DNS_AAAA, dom);
		else
			sl->sender_dns = none ? POL_DNS_NOTFOUND : POL_DNS_TEMPFAIL;
		break;
	case Q_ZONE:
		zone_answer(ps, sl, slot, zone, r);
		break;
	case Q_PTR: {
		const char *name = ok ? pol_dns_text(r, 0) : "";
		size_t n = strlen(name);
		const struct smtp_conn *c = smtp_conn_at(ps->conns, slot);
		if (n && name[n - 1] == '.')
			n--;
		if (n == 0 || n > MX_DNS_NAME_MAX) {
			sl->rdns = ok || none ? POL_DNS_NOTFOUND : POL_DNS_TEMPFAIL;
			break;
		}
		memcpy(sl->rdns_name, name, n);
		sl->rdns_name[n] = '\0';
		ask(ps, sl, slot, Q_RDNS_FWD, 0, c->peer.family == 4 ? MX_DNS_A : MX_DNS_AAAA,
		    sl->rdns_name);
		break;
	}
	case Q_RDNS_FWD: {
		/* Forward-confirmed: the name's addresses include the client's. */
		const struct smtp_conn *c = smtp_conn_at(ps->conns, slot);
		sl->rdns = ok ? POL_DNS_NOTFOUND : none ? POL_DNS_NOTFOUND : POL_DNS_TEMPFAIL;
		for (unsigned i = 0; ok && i < r->n && i < MX_DNS_RR_MAX; i++)
			if (c->peer.family == 4 ? !memcmp(&r->u.a[i], c->peer.addr, 4)
						: !memcmp(&r->u.aaaa[i], c->peer.addr, 16))
				sl->rdns = POL_DNS_FOUND;
		break;
	}
	case Q_SPF:
		if (sl->spf == POL_DNS_WAIT && sl->spf_eval >= 0 && zone == sl->spf_gen) {
			spf_feed(&ps->spf[sl->spf_eval], r);
			spf_drive(ps, sl, slot);
		}
		break;
	case Q_TXT:
		sl->dnsbl_wait &= (uint16_t)~0x8000u;
		if (ok)
			snprintf(sl->txt, sizeof(sl->txt), "%s", pol_dns_text(r, 0));
		if (sl->dnsbl_wait == 0)
			sl->dnsbl_done = true;
		break;
	default:
		break;
	}
}

/* ---- SPF (spf.h: one question at a time, state in a pooled evaluator) ---- */

static void spf_release(struct pol_stage *ps, struct pol_slot *sl)
{
	if (sl->spf_eval >= 0) {
		ps->spf_free[ps->nspf_free++] = sl->spf_eval;
		sl->spf_eval = -1;
	}
}

/* Step the evaluation of @sl until it needs an answer not in the cache, or
 * is done (then the header is formatted and the evaluator given back). */
static void spf_drive(struct pol_stage *ps, struct pol_slot *sl, unsigned slot)
{
	struct mx_dns_worker *w = mx_dns_worker(ps->worker);
	struct spf_eval *e = &ps->spf[sl->spf_eval];
	struct mx_dns_result r;

	for (unsigned guard = 0; guard < 64; guard++) {
		if (spf_step(e) == SPF_STEP_DONE) {
			int n;
			sl->spf = POL_DNS_FOUND;
			sl->spf_result = e->result;
			n = spf_received_spf(e, ps->hostname, sl->spf_hdr, sizeof(sl->spf_hdr) - 2);
			if (n > 0 && (size_t)n < sizeof(sl->spf_hdr) - 2)
				memcpy(sl->spf_hdr + n, "\r\n", 3);
			else
				sl->spf_hdr[0] = '\0';
			spf_release(ps, sl);
			return;
		}
		if (w && mx_dns_cached(w, e->q.type, e->q.name, &r) == 1) {
			spf_feed(e, &r);
			continue;
		}
		if (w && mx_dns_submit(w, e->q.type, e->q.name,
				       cookie(slot, sl->sess, Q_SPF, sl->spf_gen)) == 0)
			return; /* the answer comes through pol_stage_poll() */
		memset(&r, 0, sizeof(r));
		r.type = e->q.type;
		r.status = MX_DNS_TEMPFAIL;
		spf_feed(e, &r);
	}
	/* spf.h bounds the questions (10 lookups, 10 names each); this loop
	 * only guards cached answers fed in a row. */
}

static void spf_begin(struct pol_stage *ps, struct pol_slot *sl, unsigned slot,
		      const struct smtp_conn *c)
{
	spf_release(ps, sl);
	sl->spf_gen++;
	sl->spf_hdr[0] = '\0';
	if (ps->nspf_free == 0) { /* all busy: no result, nothing refused */
		sl->spf = POL_DNS_NONE;
		return;
	}
	sl->spf_eval = ps->spf_free[--ps->nspf_free];
	sl->spf = POL_DNS_WAIT;
	spf_start(&ps->spf[sl->spf_eval], c->peer.family == 4 ? AF_INET : AF_INET6, c->peer.addr,
		  sl->from, sl->helo);
	spf_drive(ps, sl, slot);
}

int pol_stage_trace(void *arg, uint32_t slot, char *buf, size_t len, const char **rdns)
{
	*rdns = pol_stage_rdns(arg, slot);
	return pol_stage_received_spf(arg, slot, buf, len);
}

const char *pol_stage_rdns(void *arg, uint32_t slot)
{
	struct pol_stage *ps = arg;

	if (!ps || slot >= ps->nslots || ps->slots[slot].rdns != POL_DNS_FOUND)
		return NULL;
	return ps->slots[slot].rdns_name;
}

int pol_stage_received_spf(void *arg, uint32_t slot, char *buf, size_t len)
{
	struct pol_stage *ps = arg;
	const struct pol_slot *sl;
	size_t n;

	if (!ps || slot >= ps->nslots)
		return 0;
	sl = &ps->slots[slot];
	n = strlen(sl->spf_hdr);
	if (sl->spf != POL_DNS_FOUND || n == 0 || n >= len)
		return 0;
	memcpy(buf, sl->spf_hdr, n);
	return (int)n;
}

/* ---- deciding ----------------------------------------------------------------- */

static void log_verdict(struct pol_stage *ps, const struct smtp_conn *c, const struct pol_slot *sl,
			const struct pol_verdict *v, const char *ev)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	inet_ntop(c->peer.family == 4 ? AF_INET : AF_INET6, c->peer.addr, ip, sizeof(ip));
	MX_INFO("policy: worker %u: %s from [%s]: %u %s %s; from=<%s> to=<%s> helo=<%s> (check %s)",
		ps->worker, ev, ip, v->code, v->enh, v->text, sl->from_set ? sl->from : "",
		sl->rcpt_set ? sl->rcpt : "", sl->helo, pol_check_name(v->check));
}

/* Decide @cls (with delay_reject at RCPT: every class up to it). Returns
 * CONTINUE, REPLY (@ans filled from @v) or PARK (PENDING). */
static enum smtp_stage_verdict decide(struct pol_stage *ps, struct pol_slot *sl,
				      const struct smtp_conn *c, enum pol_class cls,
				      struct pol_verdict *v, struct smtp_answer *ans, bool count)
{
	const struct pol_set *s = pol_current();
	struct pol_input in;
	unsigned from = cls;

	if (!pol_enabled(s))
		return SMTP_STAGE_CONTINUE;
	if (cls == POL_CLASS_RCPT && pol_delay_reject(s))
		from = POL_CLASS_CLIENT;
	input_of(sl, c, &in);
	for (unsigned k = from; k <= cls; k++) {
		pol_eval_class(s, (enum pol_class)k, &in, v);
		if (v->action == POL_PENDING) {
			sl->park_class = (uint8_t)cls;
			return SMTP_STAGE_PARK;
		}
		if (v->action == POL_REJECT || v->action == POL_DEFER) {
			if (count) {
				CTR_INC(ps, v->check,
					v->action == POL_REJECT ? POL_CTR_REJECT : POL_CTR_DEFER);
				if (v->tempfail)
					CTR_INC(ps, v->check, POL_CTR_TEMPFAIL);
				log_verdict(ps, c, sl, v,
					    cls == POL_CLASS_RCPT ? "RCPT" : pol_class_name(cls));
			}
			ans->code = v->code;
			ans->enh = v->enh;
			ans->text = v->text;
			return SMTP_STAGE_REPLY;
		}
	}
	return SMTP_STAGE_CONTINUE;
}

static enum smtp_stage_verdict finish(struct pol_stage *ps, struct smtp_stage_call *call,
				      enum pol_class cls)
{
	struct pol_slot *sl = &ps->slots[call->conn->slot];
	static __thread struct pol_verdict v; /* text outlives the call until copied */
	enum smtp_stage_verdict r = decide(ps, sl, call->conn, cls, &v, call->reply, true);

	if (r == SMTP_STAGE_PARK)
		sl->ticket = smtp_stage_ticket(call, SMTP_TICKET_DNS);
	return r;
}

/* ---- stages ---------------------------------------------------------------------- */

static enum smtp_stage_verdict st_connect(void *arg, struct smtp_stage_call *call)
{
	struct pol_stage *ps = arg;
	unsigned slot = call->conn->slot;
	struct pol_slot *sl = &ps->slots[slot];
	const struct pol_set *s = pol_current();
	uint32_t sess = sl->sess + 1;
	struct pol_input in;

	memset(sl, 0, sizeof(*sl));
	sl->sess = sess;
	sl->active = true;
	sl->dnsbl_zone = -1;
	sl->dnsbl_done = true;
	sl->spf_eval = -1;
	input_of(sl, call->conn, &in);
	/* Passed the pregreet test lately: no greet delay, no teaser. */
	if (s && pol_pass_ttl(s) &&
	    pol_pass_has(&ps->pass, in.family, in.addr, (uint32_t)(call->now_us / 1000000))) {
		__atomic_store_n(&ps->pass.hits, ps->pass.hits + 1, __ATOMIC_RELAXED);
		smtp_greet_now(call->s);
	}
	if (!pol_enabled(s))
		return SMTP_STAGE_CONTINUE;
	sl->trusted = pol_trusted(s, &in);
	if (pol_wants(s) & POL_WANT_RDNS) {
		char q[MX_DNS_NAME_MAX + 1];
		sl->rdns = POL_DNS_WAIT;
		if (mx_dns_ptr_name(in.family == 4 ? AF_INET : AF_INET6, in.addr, q, sizeof(q)) ==
		    0)
			ask(ps, sl, slot, Q_PTR, 0, MX_DNS_PTR, q);
		else
			sl->rdns = POL_DNS_NOTFOUND;
	}
	if (!sl->trusted && (pol_wants(s) & POL_WANT_DNSBL)) {
		unsigned nz = pol_dnsbl_zones(s);
		sl->dnsbl_done = false;
		sl->dnsbl_wait = (uint16_t)((1u << nz) - 1);
		for (unsigned z = 0; z < nz; z++) {
			char q[MX_DNS_NAME_MAX + 1];
			if (pol_dnsbl_qname(&in, pol_dnsbl_zone(s, z)->name, q, sizeof(q)) != 0) {
				sl->dnsbl_wait &= (uint16_t) ~(1u << z);
				continue;
			}
			ask(ps, sl, slot, Q_ZONE, z, MX_DNS_A, q);
		}
		if (sl->dnsbl_wait == 0)
			sl->dnsbl_done = true;
	}
	if (pol_delay_reject(s))
		return SMTP_STAGE_CONTINUE;
	return finish(ps, call, POL_CLASS_CLIENT);
}

static enum smtp_stage_verdict st_helo(void *arg, struct smtp_stage_call *call)
{
	struct pol_stage *ps = arg;
	unsigned slot = call->conn->slot;
	struct pol_slot *sl = &ps->slots[slot];
	const struct pol_set *s = pol_current();

	snprintf(sl->helo, sizeof(sl->helo), "%s", call->ev->str ? call->ev->str : "");
	if (s && pol_pass_ttl(s) && smtp_greet_passed(call->s)) {
		struct pol_input in;
		input_of(sl, call->conn, &in);
		pol_pass_add(&ps->pass, in.family, in.addr, (uint32_t)(call->now_us / 1000000),
			     pol_pass_ttl(s));
	}
	sl->helo_dns = POL_DNS_NONE;
	sl->helo_gen++;
	sl->from_set = sl->rcpt_set = false;
	if (!pol_enabled(s) || sl->trusted)
		return SMTP_STAGE_CONTINUE;
	if ((pol_wants(s) & POL_WANT_HELO_A) && sl->helo[0] != '[') {
		struct pol_verdict v;
		struct pol_input in;
		/* Look the name up only if no check without DNS refuses it. */
		input_of(sl, call->conn, &in);
		in.helo_dns = POL_DNS_FOUND;
		pol_eval_class(s, POL_CLASS_HELO, &in, &v);
		if (v.action == POL_CONTINUE || v.action == POL_ACCEPT) {
			sl->helo_dns = POL_DNS_WAIT;
			ask(ps, sl, slot, Q_HELO_A, sl->helo_gen, MX_DNS_A, sl->helo);
		}
	}
	if (pol_delay_reject(s))
		return SMTP_STAGE_CONTINUE;
	return finish(ps, call, POL_CLASS_HELO);
}

static enum smtp_stage_verdict st_mail(void *arg, struct smtp_stage_call *call)
{
	struct pol_stage *ps = arg;
	unsigned slot = call->conn->slot;
	struct pol_slot *sl = &ps->slots[slot];
	const struct pol_set *s = pol_current();
	const char *dom;

	snprintf(sl->from, sizeof(sl->from), "%s", call->ev->str ? call->ev->str : "");
	sl->from_set = true;
	sl->rcpt_set = false;
	sl->sender_dns = POL_DNS_NONE;
	sl->from_gen++;
	spf_release(ps, sl);
	sl->spf = POL_DNS_NONE;
	sl->spf_hdr[0] = '\0';
	if (!pol_enabled(s) || sl->trusted)
		return SMTP_STAGE_CONTINUE;
	if (pol_wants(s) & POL_WANT_SPF)
		spf_begin(ps, sl, slot, call->conn);
	dom = pol_addr_domain(sl->from);
	if ((pol_wants(s) & POL_WANT_SENDER) && dom) {
		sl->sender_dns = POL_DNS_WAIT;
		ask(ps, sl, slot, Q_MX, sl->from_gen, MX_DNS_MX, dom);
	}
	if (pol_delay_reject(s))
		return SMTP_STAGE_CONTINUE;
	return finish(ps, call, POL_CLASS_SENDER);
}

static enum smtp_stage_verdict st_rcpt(void *arg, struct smtp_stage_call *call)
{
	struct pol_stage *ps = arg;
	struct pol_slot *sl = &ps->slots[call->conn->slot];
	const struct pol_set *s = pol_current();

	snprintf(sl->rcpt, sizeof(sl->rcpt), "%s", call->ev->str ? call->ev->str : "");
	sl->rcpt_set = true;
	sl->verify = POL_DNS_NONE;
	sl->verify_text[0] = '\0';
	sl->rcpt_gen++;
	if (pol_enabled(s) && (pol_wants(s) & POL_WANT_VERIFY)) {
		struct pol_verdict v;
		struct pol_input in;
		unsigned k;
		/* Ask the next hop only about what every other check lets
		 * through (not a relay attempt, not an unknown user). A check
		 * still waiting for DNS counts as passing: the RCPT parks for
		 * both, and is never decided without the probe's answer. */
		input_of(sl, call->conn, &in);
		in.verify = POL_DNS_FOUND;
		for (k = POL_CLASS_CLIENT; k <= POL_CLASS_RCPT; k++) {
			pol_eval_class(s, (enum pol_class)k, &in, &v);
			if (v.action == POL_REJECT || v.action == POL_DEFER ||
			    (v.action == POL_ACCEPT && k == POL_CLASS_RCPT))
				break;
		}
		if (k > POL_CLASS_RCPT) {
			sl->verify = POL_DNS_WAIT;
			ask(ps, sl, call->conn->slot, Q_VERIFY, sl->rcpt_gen, MX_DNS_VERIFY,
			    sl->rcpt);
		}
	}
	return finish(ps, call, POL_CLASS_RCPT);
}

/* Received-SPF and the client's name in Received: need their answers:
 * wait for them at DATA (normally long in; bounded by the park deadline,
 * after which the spool stage writes what there is), as Postfix waits
 * for the client's name before its banner. */
static enum smtp_stage_verdict st_data(void *arg, struct smtp_stage_call *call)
{
	struct pol_stage *ps = arg;
	struct pol_slot *sl = &ps->slots[call->conn->slot];

	if (sl->spf != POL_DNS_WAIT && sl->rdns != POL_DNS_WAIT)
		return SMTP_STAGE_CONTINUE;
	sl->park_class = POL_PARK_DATA;
	sl->ticket = smtp_stage_ticket(call, SMTP_TICKET_DNS);
	return SMTP_STAGE_PARK;
}

static enum smtp_stage_verdict st_close(void *arg, struct smtp_stage_call *call)
{
	struct pol_stage *ps = arg;
	struct pol_slot *sl = &ps->slots[call->conn->slot];

	spf_release(ps, sl);
	sl->sess++; /* answers still on their way are for nobody now */
	sl->active = false;
	sl->ticket = 0;
	return SMTP_STAGE_CONTINUE;
}

/* ---- answers -------------------------------------------------------------------- */

static void answer_cb(void *arg, uint64_t ck, const struct mx_dns_result *r)
{
	struct pol_stage *ps = arg;
	unsigned slot = (unsigned)(ck >> 40), kind = (unsigned)(ck >> 8) & 0xff,
		 zone = (unsigned)ck & 0xff;
	uint32_t sess = (uint32_t)(ck >> 16) & 0xffffffu;
	struct pol_slot *sl;
	struct smtp_conn *c;
	struct pol_verdict v;
	struct smtp_answer a = {0};
	enum smtp_stage_verdict d;
	uint64_t t;

	if (slot >= ps->nslots)
		return;
	sl = &ps->slots[slot];
	if (!sl->active || (sl->sess & 0xffffffu) != sess ||
	    ((kind == Q_ZONE || kind == Q_TXT) && zone >= POL_DNSBL_MAX))
		return;
	on_answer(ps, sl, slot, kind, zone, r);
	if (!sl->ticket)
		return;
	c = smtp_conn_at(ps->conns, slot);
	if (!c->park.active || c->park.ticket != sl->ticket) {
		sl->ticket = 0; /* answered at the deadline already */
		return;
	}
	if (sl->park_class == POL_PARK_DATA) {
		if (sl->spf == POL_DNS_WAIT || sl->rdns == POL_DNS_WAIT)
			return;
		t = sl->ticket;
		sl->ticket = 0;
		smtp_host_resume(ps->host, t, NULL);
		return;
	}
	d = decide(ps, sl, c, (enum pol_class)sl->park_class, &v, &a, true);
	if (d == SMTP_STAGE_PARK)
		return; /* another answer is still missing */
	t = sl->ticket;
	sl->ticket = 0;
	smtp_host_resume(ps->host, t, d == SMTP_STAGE_REPLY ? &a : NULL);
}

unsigned pol_stage_poll(struct pol_stage *ps)
{
	struct mx_dns_worker *w = mx_dns_worker(ps->worker);

	return w ? mx_dns_poll(w, 64, answer_cb, ps) : 0;
}

/* ---- life ------------------------------------------------------------------------ */

struct pol_stage *pol_stage_create(struct smtp_stage_host *h, unsigned worker)
{
	static const struct {
		const char *name;
		enum smtp_event_type ev;
		smtp_stage_fn fn;
	} defs[] = {
		{"policy-client", SMTP_EV_CONNECT, st_connect},
		{"policy-helo", SMTP_EV_HELO, st_helo},
		{"policy-sender", SMTP_EV_MAIL, st_mail},
		{"policy-rcpt", SMTP_EV_RCPT, st_rcpt},
		{"policy-spf-wait", SMTP_EV_DATA_BEGIN, st_data},
		{"policy-close", SMTP_EV_CLOSE, st_close},
	};
	struct pol_stage *ps;

	if (worker >= POL_MAX_WORKERS) {
		errno = EINVAL;
		return NULL;
	}
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return NULL;
	ps->host = h;
	ps->worker = worker;
	ps->conns = smtp_host_conns(h);
	ps->nslots = smtp_conn_slots(ps->conns);
	ps->slots = calloc(ps->nslots, sizeof(*ps->slots));
	ps->spf = calloc(POL_SPF_POOL, sizeof(*ps->spf));
	if (!ps->slots || !ps->spf || pol_pass_init(&ps->pass, POL_PASS_SLOTS) != 0) {
		pol_pass_free(&ps->pass);
		free(ps->slots);
		free(ps->spf);
		free(ps);
		errno = ENOMEM;
		return NULL;
	}
	for (unsigned i = 0; i < POL_SPF_POOL; i++)
		ps->spf_free[ps->nspf_free++] = (int16_t)(POL_SPF_POOL - 1 - i);
	for (unsigned i = 0; i < ps->nslots; i++)
		ps->slots[i].spf_eval = -1;
	snprintf(ps->hostname, sizeof(ps->hostname), "%s",
		 smtp_pool_config(smtp_host_pool(h))->hostname);
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
		struct smtp_stage st = {
			.name = defs[i].name,
			.event = defs[i].ev,
			.fn = defs[i].fn,
			.arg = ps,
			.park_ms = POL_PARK_MS,
			.lat = defs[i].ev == SMTP_EV_RCPT ? 1 + SMTP_LAT_rcpt_policy : 0,
			.expire_code = 451,
			.expire_enh = "4.4.3",
			.expire_text = "Error: temporary lookup failure",
		};
		int rc = smtp_host_stage_add(h, &st);
		if (rc != 0) {
			pol_pass_free(&ps->pass);
			free(ps->slots);
			free(ps->spf);
			free(ps);
			errno = -rc;
			return NULL;
		}
	}
	stages[worker] = ps;
	return ps;
}

void pol_stage_destroy(struct pol_stage *ps)
{
	if (!ps)
		return;
	if (stages[ps->worker] == ps)
		stages[ps->worker] = NULL;
	pol_pass_free(&ps->pass);
	free(ps->slots);
	free(ps->spf);
	free(ps);
}

void pol_counters_read(unsigned w, uint64_t out[POL_CHK_COUNT][POL_CTR_COUNT])
{
	for (unsigned i = 0; i < POL_CHK_COUNT; i++)
		for (unsigned k = 0; k < POL_CTR_COUNT; k++)
			out[i][k] = w < POL_MAX_WORKERS && stages[w]
					    ? __atomic_load_n(&stages[w]->ctr.ctr[i][k],
							      __ATOMIC_RELAXED)
					    : 0;
}

uint64_t pol_zone_errors_read(unsigned w, unsigned zone)
{
	return w < POL_MAX_WORKERS && stages[w] && zone < POL_DNSBL_MAX
		       ? __atomic_load_n(&stages[w]->ctr.zone_err[zone], __ATOMIC_RELAXED)
		       : 0;
}

/* ---- counter registry: policy.<check>_<reject|defer|tempfail> ---------------- */

static const struct mx_ctr_def ctr_defs[] = {
#define POL_X_DEF(id, cl, c, e, t)                                                      \
	{.name = #id "_reject", .help = "Replies 5xx by the policy check " #id},        \
		{.name = #id "_defer", .help = "Replies 4xx by the policy check " #id}, \
		{.name = #id "_tempfail",                                               \
		 .help = "Of the 4xx of " #id ": a DNS lookup failed (timeout, SERVFAIL)"},
	POL_CHECKS(POL_X_DEF)
#undef POL_X_DEF
		{.name = "dnsbl_zone_errors",
		 .help = "DNSBL answers that were errors (127.255.255.0/24, outside 127/8), any "
			 "zone"},
	{.name = "pass_cache_hits",
	 .help = "Sessions greeted at once: the client passed the pregreet test lately"},
};

static unsigned ctr_instances(void *arg)
{
	unsigned n = 0;

	(void)arg;
	for (unsigned w = 0; w < POL_MAX_WORKERS; w++)
		if (stages[w])
			n = w + 1;
	return n;
}

static void ctr_read(void *arg, unsigned inst, uint64_t *vals)
{
	uint64_t c[POL_CHK_COUNT][POL_CTR_COUNT];
	uint64_t ze = 0;

	(void)arg;
	pol_counters_read(inst, c);
	for (unsigned i = 0; i < POL_CHK_COUNT; i++)
		for (unsigned k = 0; k < POL_CTR_COUNT; k++)
			vals[i * POL_CTR_COUNT + k] = c[i][k];
	for (unsigned z = 0; z < POL_DNSBL_MAX; z++)
		ze += pol_zone_errors_read(inst, z);
	vals[POL_CHK_COUNT * POL_CTR_COUNT] = ze;
	vals[POL_CHK_COUNT * POL_CTR_COUNT + 1] =
		inst < POL_MAX_WORKERS && stages[inst]
			? __atomic_load_n(&stages[inst]->pass.hits, __ATOMIC_RELAXED)
			: 0;
}

static const struct mx_ctr_group ctr_group = {
	.name = "policy",
	.scope = MX_CTR_WORKER,
	.defs = ctr_defs,
	.ndefs = sizeof(ctr_defs) / sizeof(ctr_defs[0]),
	.instances = ctr_instances,
	.read = ctr_read,
};

int pol_counters_register(void)
{
	return mx_ctr_register(&ctr_group);
}
