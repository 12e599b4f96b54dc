/*
 * host.c - the SMTP session host: stage lists per engine event, park
 * tickets, park deadlines. See host.h.
 *
 * The engine calls one dispatcher (host_event) for every event; it walks
 * the event's stage list. A park records, in the connection slot, the
 * ticket, the deadline, the stage's position and a copy of the event; the
 * engine is told PENDING with the first ticket of the event as its request
 * id (a list that parks twice keeps the engine on that first id). An
 * answer (smtp_host_resume) or the deadline (host_expire, from the slot's
 * timer) takes the session out and calls smtp_resume() once the list is
 * done, then pumps the connection.
 *
 * Memory: struct smtp_stage_host, the engine pool and the connection table
 * are allocated at create and freed at destroy. Worker lcore only, except
 * the counters (single writer, relaxed atomics).
 */
#include "smtp/host.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "smtp/smtp.h"

struct smtp_stage_host {
	unsigned worker;
	struct smtp_pool *pool;
	struct smtp_conn_table *conns;
	struct smtp_stage stages[SMTP_EV_COUNT][SMTP_HOST_MAX_STAGES];
	unsigned nstages[SMTP_EV_COUNT];
	uint64_t cnt[SMTP_HOST_CNT_COUNT]; /* owner writes, anyone reads (relaxed) */
};

const char *const smtp_host_counter_names[SMTP_HOST_CNT_COUNT] = {
#define SMTP_HOST_X_NAME(n, h) #n,
	SMTP_HOST_COUNTERS(SMTP_HOST_X_NAME)
#undef SMTP_HOST_X_NAME
};

const char *const smtp_host_counter_help[SMTP_HOST_CNT_COUNT] = {
#define SMTP_HOST_X_HELP(n, h) h,
	SMTP_HOST_COUNTERS(SMTP_HOST_X_HELP)
#undef SMTP_HOST_X_HELP
};

static void cnt_inc(struct smtp_stage_host *h, enum smtp_host_counter_id id)
{
	__atomic_store_n(&h->cnt[id], __atomic_load_n(&h->cnt[id], __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
}

#define CNT(h, name) cnt_inc((h), SMTP_HOST_CNT_##name)

void smtp_host_counters_read(const struct smtp_stage_host *h, struct smtp_host_counters *out)
{
#define SMTP_HOST_X_READ(n, hl) \
	out->n = __atomic_load_n(&h->cnt[SMTP_HOST_CNT_##n], __ATOMIC_RELAXED);
	SMTP_HOST_COUNTERS(SMTP_HOST_X_READ)
#undef SMTP_HOST_X_READ
	/* Counted where they happen, by the connection layer. */
	out->linger_aborts = smtp_conn_linger_aborts(h->conns);
	out->lifetime_closes = smtp_conn_lifetime_closes(h->conns);
}

static bool notification(enum smtp_event_type ev)
{
	return ev == SMTP_EV_TXN_ABORT || ev == SMTP_EV_CLOSE;
}

/* What the end of a list means: the engine's default, except that only a
 * stage may accept a message (never 250 for a message not on disk). */
static enum smtp_verdict list_end(enum smtp_event_type ev, struct smtp_answer *a)
{
	if (ev != SMTP_EV_DATA_END)
		return SMTP_V_CONTINUE;
	a->code = 451;
	a->enh = "4.3.0";
	a->text = "Error: message not stored, try again later";
	return SMTP_V_REPLY;
}

/* Record a park of @c by stage @i of @ev's list on the ticket it took. */
static void park(struct smtp_stage_host *h, struct smtp_conn *c, const struct smtp_event *ev,
		 unsigned i, uint64_t now)
{
	const struct smtp_stage *st = &h->stages[ev->type][i];
	struct smtp_park *p = &c->park;

	if (ev != &p->ev) {
		p->ev = *ev;
		if (ev->rcpt) {
			p->rcpt = *ev->rcpt;
			p->ev.rcpt = &p->rcpt;
		}
		/* The octets of a chunk are consumed once the engine returns. */
		p->ev.data = NULL;
		p->ev.data_len = 0;
	}
	p->active = true;
	p->stage = (uint8_t)i;
	p->ticket = p->pending;
	p->since_us = now;
	p->deadline_us = now + (uint64_t)(st->park_ms ? st->park_ms : SMTP_HOST_PARK_MS) * 1000;
	CNT(h, parked);
}

/* Run @ev's list of @c's session @s from stage @from. PENDING: parked
 * (c->park holds the state). */
static enum smtp_verdict run_list(struct smtp_stage_host *h, struct smtp_conn *c,
				  struct smtp_session *s, const struct smtp_event *ev,
				  unsigned from, struct smtp_answer *a)
{
	unsigned n = h->nstages[ev->type];

	for (unsigned i = from; i < n; i++) {
		const struct smtp_stage *st = &h->stages[ev->type][i];
		struct smtp_stage_call call = {
			.host = h,
			.conn = c,
			.s = s,
			.ev = ev,
			.reply = a,
			.index = i,
			.now_us = ev->now_us,
		};
		enum smtp_stage_verdict v;

		memset(a, 0, sizeof(*a));
		c->park.pending = 0;
		c->in_stage = true;
		v = st->fn(st->arg, &call);
		c->in_stage = false;
		/* Answered in this pass: the worker clock did not move (a
		 * check's cost shows in its parks, recorded at unpark). */
		if (st->lat && v != SMTP_STAGE_PARK)
			smtp_conn_lat_record(c, st->lat - 1u, 0);
		if (notification(ev->type) || v == SMTP_STAGE_CONTINUE)
			continue;
		if (v == SMTP_STAGE_PARK) {
			if (!c->park.pending)
				mx_panic("smtp stage %s parked without a ticket", st->name);
			park(h, c, ev, i, ev->now_us);
			a->request_id = c->park.ticket;
			return SMTP_V_PENDING;
		}
		CNT(h, stage_replies);
		if (a->code < 200 || a->code > 599) {
			MX_ERR("smtp stage %s answered %s with code %u", st->name,
			       smtp_event_name(ev->type), a->code);
			a->code = 451;
			a->enh = "4.3.0";
			a->text = "Error: internal error";
		}
		return SMTP_V_REPLY;
	}
	if (notification(ev->type))
		return SMTP_V_CONTINUE;
	return list_end(ev->type, a);
}

/* The engine's single event callback. */
static enum smtp_verdict host_event(void *ctx, struct smtp_session *s, const struct smtp_event *ev,
				    struct smtp_answer *a)
{
	struct smtp_stage_host *h = ctx;
	struct smtp_conn *c = smtp_session_user(s);
	enum smtp_verdict v;

	if (!c)
		mx_panic("smtp: %s for a session opened outside smtp_conn_open()",
			 smtp_event_name(ev->type));
	if (ev->type == SMTP_EV_CLOSE && c->park.active) {
		/* Closed while parked: the answer, if it ever comes, is stale. */
		CNT(h, closed_parked);
		c->park.active = false;
	}
	v = run_list(h, c, s, ev, 0, a);
	if (v == SMTP_V_PENDING)
		c->park.engine_rid = c->park.ticket;
	return v;
}

/* Take @c out of its park with answer @ans (NULL: continue with the next
 * stage), finish the list and hand the result to the engine. */
static void unpark(struct smtp_stage_host *h, struct smtp_conn *c, const struct smtp_answer *ans,
		   uint64_t now)
{
	struct smtp_answer a = {0};
	enum smtp_verdict v;

	const struct smtp_stage *st = &h->stages[c->park.ev.type][c->park.stage];

	if (st->lat) /* the parked check's time: park to answer (or deadline) */
		smtp_conn_lat_record(c, st->lat - 1u, now - c->park.since_us);
	c->park.active = false;
	c->park.ev.now_us = now;
	if (ans && ans->code) {
		a = *ans;
		v = SMTP_V_REPLY;
	} else {
		v = run_list(h, c, c->s, &c->park.ev, c->park.stage + 1u, &a);
	}
	if (v != SMTP_V_PENDING)
		smtp_resume(c->s, c->park.engine_rid, v == SMTP_V_REPLY ? a.code : 0, a.enh, a.text,
			    now);
	smtp_conn_pump(c);
}

int smtp_host_resume(struct smtp_stage_host *h, uint64_t ticket, const struct smtp_answer *ans)
{
	struct smtp_conn *c = smtp_conn_at(h->conns, smtp_ticket_slot(ticket));

	if (ans && ans->code && (ans->code < 200 || ans->code > 599))
		return -EINVAL;
	if (!c || !c->s || !c->park.active || c->park.ticket != ticket) {
		CNT(h, stale_tickets);
		return -ESTALE;
	}
	if (c->in_stage)
		return -EBUSY;
	CNT(h, resumed);
	unpark(h, c, ans, smtp_conn_now(h->conns));
	return 0;
}

/* The slot's timer passed the park deadline. */
static void host_expire(void *arg, struct smtp_conn *c, uint64_t now)
{
	struct smtp_stage_host *h = arg;
	const struct smtp_stage *st = &h->stages[c->park.ev.type][c->park.stage];
	struct smtp_answer a = {
		.code = st->expire_code ? st->expire_code : SMTP_HOST_EXPIRE_CODE,
		.enh = st->expire_code ? st->expire_enh : SMTP_HOST_EXPIRE_ENH,
		.text = st->expire_code ? st->expire_text : SMTP_HOST_EXPIRE_TEXT,
	};

	CNT(h, park_timeouts);
	MX_INFO("smtp %u: stage %s: no answer at %s within %u ms: %u %s", c->slot, st->name,
		smtp_event_name(c->park.ev.type), st->park_ms ? st->park_ms : SMTP_HOST_PARK_MS,
		a.code, a.enh ? a.enh : "");
	unpark(h, c, &a, now);
}

struct smtp_stage_host *smtp_host_create(const struct smtp_host_conf *conf)
{
	struct smtp_host engine = {.ctx = NULL};
	struct smtp_conn_conf cc = {0};
	struct smtp_stage_host *h;
	int err;

	if (!conf->smtp || !conf->wheel || !conf->now_us) {
		errno = EINVAL;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->worker = conf->worker;
	for (unsigned e = 0; e < SMTP_EV_COUNT; e++)
		engine.on[e] = host_event;
	engine.ctx = h;
	h->pool = smtp_pool_create(conf->smtp, &engine);
	if (!h->pool)
		goto fail;
	cc.worker = conf->worker;
	cc.pool = h->pool;
	cc.slots = conf->smtp->max_sessions;
	cc.wheel = conf->wheel;
	cc.now_us = conf->now_us;
	cc.expire = host_expire;
	cc.expire_arg = h;
	cc.linger_ms = conf->linger_ms;
	cc.max_lifetime_s = conf->max_lifetime_s;
	h->conns = smtp_conn_table_create(&cc);
	if (!h->conns)
		goto fail;
	return h;
fail:
	err = errno;
	smtp_pool_destroy(h->pool);
	free(h);
	errno = err;
	return NULL;
}

void smtp_host_destroy(struct smtp_stage_host *h)
{
	if (!h)
		return;
	smtp_conn_table_destroy(h->conns);
	smtp_pool_destroy(h->pool);
	free(h);
}

int smtp_host_stage_add(struct smtp_stage_host *h, const struct smtp_stage *st)
{
	if (!st->fn || !st->name || (unsigned)st->event >= SMTP_EV_COUNT)
		return -EINVAL;
	if (h->nstages[st->event] >= SMTP_HOST_MAX_STAGES)
		return -ENOSPC;
	h->stages[st->event][h->nstages[st->event]++] = *st;
	return 0;
}

struct smtp_pool *smtp_host_pool(struct smtp_stage_host *h)
{
	return h->pool;
}

struct smtp_conn_table *smtp_host_conns(struct smtp_stage_host *h)
{
	return h->conns;
}

uint64_t smtp_stage_ticket(struct smtp_stage_call *call, enum smtp_ticket_kind kind)
{
	struct smtp_conn *c = call->conn;

	c->gen++;
	c->park.pending = ((uint64_t)kind << 56) | ((uint64_t)(c->slot & 0xffffffu) << 32) | c->gen;
	return c->park.pending;
}
