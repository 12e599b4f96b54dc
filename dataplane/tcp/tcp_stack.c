/*
 * tcp_stack.c - stack creation and pools, TCB life cycle, TIME_WAIT
 * entries, listeners, the input demultiplexer and counters.
 *
 * Life cycle of a TCB. It is allocated from the pool by a SYN to a
 * listener (then "detached": nobody outside the core knows it until it is
 * accepted) or by tcp_connect() (attached). It is in the flow table from
 * then until it reaches CLOSED or hands its state over to a TIME_WAIT
 * entry. It goes back to the pool when it is both CLOSED and detached (the
 * application called tcp_close()/tcp_abort(), or never had it). Frees are
 * deferred while an entry point is running (st->depth > 0), so a callback
 * may close the TCB that it is being called for.
 *
 * Events are collected as bits during processing and dispatched by
 * tcp_dispatch() once the TCB is consistent, in a fixed order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/tcp/tcp-int.h"

static const char *const state_names[TCP_STATE_COUNT] = {
	"CLOSED",     "LISTEN",	    "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
	"FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",	"LAST_ACK",	"TIME_WAIT",
};

static const char *const event_names[TCP_EV_COUNT] = {
	"established", "accepted", "readable", "writable", "peer-fin", "closed",
};

static const char *const reason_names[TCP_CLOSE_REASON_COUNT] = {
	"none",	     "normal",	"reset",    "refused", "timeout",
	"keepalive", "aborted", "listener", "stack",   "lifetime",
};

static const char *const stats_names[] = {
#define TCP_STATS_NAME(name, field) #name,
	TCP_STATS_LIST(TCP_STATS_NAME)
#undef TCP_STATS_NAME
};

const char *tcp_state_name(enum tcp_state s)
{
	return (unsigned)s < TCP_STATE_COUNT ? state_names[s] : "?";
}

const char *tcp_event_name(enum tcp_event ev)
{
	return (unsigned)ev < TCP_EV_COUNT ? event_names[ev] : "?";
}

const char *tcp_close_reason_name(enum tcp_close_reason r)
{
	return (unsigned)r < TCP_CLOSE_REASON_COUNT ? reason_names[r] : "?";
}

const char *tcp_stats_name(unsigned i)
{
	return i < TCP_STATS_COUNT ? stats_names[i] : NULL;
}

void tcp_stats_read(const struct tcp_stack *st, struct tcp_stats *out)
{
	const uint64_t *src = (const uint64_t *)&st->stats;
	uint64_t *dst = (uint64_t *)out;

	for (unsigned i = 0; i < TCP_STATS_COUNT; i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

#define RELAXED(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

void tcp_usage_read(const struct tcp_stack *st, struct tcp_usage *out)
{
	out->tcbs = RELAXED(st->tcbs_used);
	out->tcbs_max = st->cfg.max_tcbs;
	out->timewait = RELAXED(st->tws_used);
	out->timewait_max = st->cfg.max_timewait;
	out->snd_bytes = (uint64_t)RELAXED(st->chunks_used) * st->cfg.chunk_size;
	out->snd_max = (uint64_t)st->cfg.snd_chunks * st->cfg.chunk_size;
	out->rcv_held = RELAXED(st->rcv_held);
	out->rcv_max = st->cfg.rcv_mem;
	out->rcv_segs = RELAXED(st->rsegs_used);
	out->rcv_segs_max = st->cfg.rcv_segs;
}

void tcp_config_default(struct tcp_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_tcbs = 4096;
	c->max_timewait = 16384;
	c->max_listeners = 16;
	c->chunk_size = 2048;
	c->snd_chunks = 16384; /* 32 MiB of send buffers */
	c->sndbuf = 65536;
	c->rcvbuf = 65536;
	c->rcv_segs = 65536;
	c->rcv_segs_per_conn = 128;
	c->rcv_mem = 64ull << 20;
	/* Linux keeps out-of-order data within the receive buffer by
	 * truesize; the rcvbuf charge cap already holds a connection to about
	 * 30 mbufs of 2 KiB past a hole, this bounds it without a truesize. */
	c->ooo_segs_max = 32;
	c->mtu = 1500;
	c->eph_lo = 32768;
	c->eph_hi = 60999;
	c->rto_initial_ms = 1000;
	c->rto_min_ms = 200;
	c->rto_max_ms = 60000;
	c->delack_ms = 40;
	c->time_wait_ms = 60000;
	c->fin_wait2_ms = 60000;
	/* A reader that keeps its window shut for two minutes is stuck or
	 * hostile; each such connection pins up to sndbuf of the shared chunk
	 * pool. 120 s is two probe intervals at the 60 s rto_max, far above a
	 * busy client's pause, and well inside RFC 5321's 5-minute timeouts. */
	c->zero_window_max_ms = 120000;
	c->snd_pressure_pct = 80;
	c->syn_retries = 6;
	c->synack_retries = 5;
	c->retries = 15;
	c->ka_probes = 9;
	c->ka_idle_ms = 7200000;
	c->ka_intvl_ms = 75000;
	c->challenge_ack_limit = 1000;
	c->keepalive = false;
	c->timestamps = true;
	c->sack = true;
	c->wscale = true;
	c->syncookies = true;
	c->nodelay = false;
}

static void *zalloc(const struct tcp_env *env, size_t n)
{
	if (n == 0)
		n = 1;
	return env->mem_zalloc ? env->mem_zalloc(env->ctx, n) : calloc(1, n);
}

static void mfree(const struct tcp_env *env, void *p)
{
	if (!p)
		return;
	if (env->mem_free)
		env->mem_free(env->ctx, p);
	else
		free(p);
}

static bool config_ok(const struct tcp_config *c, const struct tcp_env *e)
{
	if (!e->output || !e->flow_lookup || !e->flow_insert || !e->flow_remove || !e->buf_ref ||
	    !e->buf_free || !e->keyed_hash)
		return false;
	if (c->max_tcbs == 0 || c->max_listeners == 0 || c->chunk_size < 256 ||
	    c->chunk_size > 65536 || c->chunk_size % 8 || c->sndbuf == 0 || c->rcvbuf == 0 ||
	    c->rcvbuf > (1u << 30) || c->rcv_segs_per_conn == 0 || c->rcv_segs_per_conn > 65535 ||
	    c->ooo_segs_max == 0 || c->mtu < 576 || c->mtu > 9216 || c->eph_lo == 0 ||
	    c->eph_lo > c->eph_hi || c->rto_min_ms > c->rto_max_ms || c->rto_max_ms == 0 ||
	    c->delack_ms == 0)
		return false;
	return true;
}

struct tcp_stack *tcp_stack_create(const struct tcp_config *cfg, const struct tcp_env *env,
				   struct timer_wheel *wheel, uint64_t now_us)
{
	struct tcp_stack *st;
	size_t chunk_stride;

	if (!cfg || !env || !wheel || !config_ok(cfg, env)) {
		errno = EINVAL;
		return NULL;
	}
	st = zalloc(env, sizeof(*st));
	if (!st)
		goto nomem;
	st->cfg = *cfg;
	st->env = *env;
	st->wheel = wheel;
	st->now_us = now_us;
	st->tcbs = zalloc(env, (size_t)cfg->max_tcbs * sizeof(*st->tcbs));
	st->tws = zalloc(env, (size_t)cfg->max_timewait * sizeof(*st->tws));
	chunk_stride = sizeof(struct tcp_chunk) + cfg->chunk_size;
	st->chunk_mem = zalloc(env, (size_t)cfg->snd_chunks * chunk_stride);
	st->rsegs = zalloc(env, (size_t)cfg->rcv_segs * sizeof(*st->rsegs));
	st->txr_cap = tcp_txr_cap(cfg->sndbuf);
	st->txrs = zalloc(env, (size_t)cfg->max_tcbs * st->txr_cap * sizeof(*st->txrs));
	st->listeners = zalloc(env, (size_t)cfg->max_listeners * sizeof(*st->listeners));
	if (!st->tcbs || !st->tws || !st->chunk_mem || !st->rsegs || !st->listeners || !st->txrs) {
		mfree(env, st->txrs);
		mfree(env, st->tcbs);
		mfree(env, st->tws);
		mfree(env, st->chunk_mem);
		mfree(env, st->rsegs);
		mfree(env, st->listeners);
		mfree(env, st);
		goto nomem;
	}
	for (uint32_t i = cfg->max_tcbs; i-- > 0;) {
		st->tcbs[i].free_next = st->tcb_free;
		st->tcb_free = &st->tcbs[i];
	}
	st->tw_free = TCP_TW_NONE;
	for (uint32_t i = cfg->max_timewait; i-- > 0;) {
		st->tws[i].next = st->tw_free;
		st->tw_free = i;
	}
	st->tw_head = st->tw_tail = TCP_TW_NONE;
	for (uint32_t i = cfg->snd_chunks; i-- > 0;) {
		struct tcp_chunk *c = (struct tcp_chunk *)(st->chunk_mem + i * chunk_stride);
		c->next = st->chunk_free;
		st->chunk_free = c;
	}
	for (uint32_t i = cfg->rcv_segs; i-- > 0;) {
		st->rsegs[i].next = st->rseg_free;
		st->rseg_free = &st->rsegs[i];
	}
	timer_init(&st->tw_timer, tcp_tw_timer_cb);
	st->our_mss4 = (uint16_t)(cfg->mtu - 40);
	st->our_mss6 = (uint16_t)(cfg->mtu - 60);
	st->rcv_wscale = 0;
	if (cfg->wscale)
		while (st->rcv_wscale < TCP_WS_MAX && (cfg->rcvbuf >> st->rcv_wscale) > 0xffff)
			st->rcv_wscale++;
	st->eph_next = (uint32_t)env->keyed_hash(env->ctx, &now_us, sizeof(now_us));
	return st;
nomem:
	errno = ENOMEM;
	return NULL;
}

/* ---- entry / exit ---------------------------------------------------- */

static void tcb_free(struct tcp_tcb *t);

void tcp_enter(struct tcp_stack *st, uint64_t now_us)
{
	st->depth++;
	if (now_us > st->now_us)
		st->now_us = now_us;
}

static void waitq_remove(struct tcp_tcb *t)
{
	struct tcp_tcb **pp = &t->st->waitq;

	if (!t->on_waitq)
		return;
	while (*pp && *pp != t)
		pp = &(*pp)->wait_next;
	if (*pp)
		*pp = t->wait_next;
	t->on_waitq = false;
	t->wait_next = NULL;
}

void tcp_waitq_add(struct tcp_tcb *t)
{
	if (t->on_waitq)
		return;
	t->on_waitq = true;
	t->wait_next = t->st->waitq;
	t->st->waitq = t;
}

void tcp_leave(struct tcp_stack *st)
{
	if (st->depth == 1) {
		/* Wake TCBs that were starved by the global chunk pool. */
		while (st->waitq && st->chunks_used < st->cfg.snd_chunks) {
			struct tcp_tcb *t = st->waitq;
			st->waitq = t->wait_next;
			t->on_waitq = false;
			t->wait_next = NULL;
			if (!t->detached && t->want_write && tcp_sb_space(t) > 0) {
				t->want_write = false;
				tcp_event(t, TCP_EV_WRITABLE);
				tcp_dispatch(t);
			}
		}
		while (st->reap) {
			struct tcp_tcb *t = st->reap;
			st->reap = t->reap_next;
			t->reaping = false;
			tcb_free(t);
		}
	}
	st->depth--;
}

unsigned tcp_stack_advance(struct tcp_stack *st, uint64_t now_us)
{
	unsigned n;

	tcp_enter(st, now_us);
	n = timer_advance(st->wheel, now_us / 1000);
	tcp_leave(st);
	return n;
}

bool tcp_challenge_allowed(struct tcp_stack *st)
{
	uint64_t s = st->now_us / 1000000;

	if (s != st->chal_window_s) {
		st->chal_window_s = s;
		st->chal_count = 0;
	}
	if (st->chal_count >= st->cfg.challenge_ack_limit)
		return false;
	st->chal_count++;
	return true;
}

/* ---- TCBs ------------------------------------------------------------ */

struct tcp_tcb *tcp_tcb_alloc(struct tcp_stack *st)
{
	struct tcp_tcb *t = st->tcb_free;

	if (!t)
		return NULL;
	st->tcb_free = t->free_next;
	st->tcbs_used++;
	memset(t, 0, sizeof(*t));
	t->type = TCP_OBJ_TCB;
	t->st = st;
	t->state = TCP_CLOSED;
	t->nodelay = st->cfg.nodelay;
	t->keepalive = st->cfg.keepalive;
	t->mss = st->our_mss4;
	t->pmtu = st->cfg.mtu;
	t->txr = st->txrs + (size_t)(t - st->tcbs) * st->txr_cap;
	t->txr_cap = st->txr_cap;
	t->dupthresh = TCP_DUPTHRESH;
	t->reo_mult = 1;
	t->last_rcv_us = st->now_us;
	tcp_rtt_init(&t->rtt, st->cfg.rto_initial_ms * 1000, st->cfg.rto_min_ms * 1000,
		     st->cfg.rto_max_ms * 1000);
	tcp_timers_init(t);
	return t;
}

static bool is_estab(uint8_t s)
{
	return s == TCP_ESTABLISHED || s == TCP_CLOSE_WAIT;
}

void tcp_enter_state(struct tcp_tcb *t, enum tcp_state s)
{
	struct tcp_stack *st = t->st;

	if (t->state == s)
		return;
	MX_DEBUG("tcp %u->%u: %s -> %s", t->key.lport, t->key.rport, tcp_state_name(t->state),
		 tcp_state_name(s));
	if (is_estab(t->state) && !is_estab(s))
		TCP_DEC(st, curr_estab);
	else if (!is_estab(t->state) && is_estab(s))
		TCP_INC(st, curr_estab);
	t->state = (uint8_t)s;
	if (s == TCP_ESTABLISHED)
		tcp_life_arm(t); /* every connection passes here exactly once */
}

void tcp_event(struct tcp_tcb *t, enum tcp_event ev)
{
	if (!t->detached)
		t->ev_pending |= (uint16_t)TCP_EVB(ev);
}

void tcp_dispatch(struct tcp_tcb *t)
{
	static const uint8_t order[] = {
		TCP_EV_ACCEPTED, TCP_EV_ESTABLISHED, TCP_EV_READABLE,
		TCP_EV_PEER_FIN, TCP_EV_WRITABLE,    TCP_EV_CLOSED,
	};

	while (!t->detached && t->ev_pending) {
		for (unsigned i = 0; i < sizeof(order); i++) {
			uint16_t bit = (uint16_t)TCP_EVB(order[i]);
			if (!(t->ev_pending & bit))
				continue;
			t->ev_pending &= (uint16_t)~bit;
			if (t->cb)
				t->cb(t, t->user, (enum tcp_event)order[i],
				      order[i] == TCP_EV_CLOSED ? t->close_reason : 0);
			break; /* state may have changed: re-check from the top */
		}
	}
	if (t->detached)
		t->ev_pending = 0;
}

void tcp_listener_unlink(struct tcp_tcb *t)
{
	struct tcp_listener *l = t->listener;

	if (!l)
		return;
	if (t->lprev)
		t->lprev->lnext = t->lnext;
	else
		l->embryos = t->lnext;
	if (t->lnext)
		t->lnext->lprev = t->lprev;
	t->lnext = t->lprev = NULL;
	t->listener = NULL;
	l->synq_len--;
}

static void tcb_free(struct tcp_tcb *t)
{
	struct tcp_stack *st = t->st;

	tcp_timers_cancel(t);
	if (t->in_table) {
		st->env.flow_remove(st->env.ctx, &t->key);
		t->in_table = false;
	}
	if (t->tracked) {
		st->env.conn_track(st->env.ctx, (uint32_t)(t - st->tcbs), NULL);
		t->tracked = false;
	}
	tcp_listener_unlink(t);
	waitq_remove(t);
	tcp_sb_clear(t);
	tcp_rq_clear(t);
	tcp_enter_state(t, TCP_CLOSED);
	t->type = 0;
	t->free_next = st->tcb_free;
	st->tcb_free = t;
	st->tcbs_used--;
}

void tcp_tcb_try_free(struct tcp_tcb *t)
{
	struct tcp_stack *st = t->st;

	if (!t->detached || t->state != TCP_CLOSED || t->reaping)
		return;
	if (st->depth > 0) {
		t->reaping = true;
		t->reap_next = st->reap;
		st->reap = t;
		return;
	}
	tcb_free(t);
}

void tcp_done(struct tcp_tcb *t, enum tcp_close_reason reason)
{
	struct tcp_stack *st = t->st;

	tcp_timers_cancel(t);
	if (t->in_table) {
		st->env.flow_remove(st->env.ctx, &t->key);
		t->in_table = false;
	}
	tcp_listener_unlink(t);
	tcp_sb_clear(t);
	tcp_ooo_clear(t);
	tcp_enter_state(t, TCP_CLOSED);
	if (!t->detached) {
		/* The in-order queue stays readable until tcp_close(). */
		t->close_reason = (uint8_t)reason;
		tcp_event(t, TCP_EV_CLOSED);
	} else {
		tcp_tcb_try_free(t);
	}
}

/* ---- TIME_WAIT ------------------------------------------------------- */

static void tw_fifo_unlink(struct tcp_stack *st, struct tcp_tw *tw)
{
	uint32_t i = (uint32_t)(tw - st->tws);

	if (tw->prev != TCP_TW_NONE)
		st->tws[tw->prev].next = tw->next;
	else
		st->tw_head = tw->next;
	if (tw->next != TCP_TW_NONE)
		st->tws[tw->next].prev = tw->prev;
	else
		st->tw_tail = tw->prev;
	(void)i;
}

static void tw_fifo_append(struct tcp_stack *st, struct tcp_tw *tw)
{
	uint32_t i = (uint32_t)(tw - st->tws);

	tw->expires_ms = (uint32_t)(tcp_now_ms(st) + st->cfg.time_wait_ms);
	tw->next = TCP_TW_NONE;
	tw->prev = st->tw_tail;
	if (st->tw_tail != TCP_TW_NONE)
		st->tws[st->tw_tail].next = i;
	else
		st->tw_head = i;
	st->tw_tail = i;
	if (!timer_pending(&st->tw_timer))
		timer_arm(st->wheel, &st->tw_timer, tcp_now_ms(st) + st->cfg.time_wait_ms);
}

/* RFC 9293: restart the 2 MSL timeout (move to the FIFO's tail). */
void tcp_tw_restart(struct tcp_stack *st, struct tcp_tw *tw)
{
	tw_fifo_unlink(st, tw);
	tw_fifo_append(st, tw);
}

void tcp_tw_remove(struct tcp_stack *st, struct tcp_tw *tw)
{
	uint32_t i = (uint32_t)(tw - st->tws);

	tw_fifo_unlink(st, tw);
	st->env.flow_remove(st->env.ctx, &tw->key);
	tw->type = 0;
	tw->next = st->tw_free;
	st->tw_free = i;
	st->tws_used--;
}

void tcp_enter_timewait(struct tcp_tcb *t)
{
	struct tcp_stack *st = t->st;
	struct tcp_tw *tw;
	uint32_t wnd;

	if (st->cfg.time_wait_ms == 0 || st->tw_free == TCP_TW_NONE) {
		if (st->cfg.time_wait_ms)
			TCP_INC(st, timewait_overflow);
		tcp_done(t, TCP_CLOSE_NORMAL);
		return;
	}
	tw = &st->tws[st->tw_free];
	st->tw_free = tw->next;
	st->tws_used++;
	memset(tw, 0, sizeof(*tw));
	tw->type = TCP_OBJ_TW;
	tw->flags = t->ts_ok ? TCP_TW_TS : 0;
	wnd = tcp_seq_gt(t->rcv_adv, t->rcv_nxt) ? (t->rcv_adv - t->rcv_nxt) >> t->rcv_wscale : 0;
	tw->rcv_wnd = (uint16_t)(wnd > 0xffff ? 0xffff : wnd);
	tw->snd_nxt = t->snd_max;
	tw->rcv_nxt = t->rcv_nxt;
	tw->ts_recent = t->ts_recent;
	tw->ts_offset = t->ts_offset;
	tw->key = t->key;
	if (t->in_table) {
		st->env.flow_remove(st->env.ctx, &t->key);
		t->in_table = false;
	}
	if (st->env.flow_insert(st->env.ctx, &tw->key, tw) < 0) {
		tw->type = 0;
		tw->next = st->tw_free;
		st->tw_free = (uint32_t)(tw - st->tws);
		st->tws_used--;
		TCP_INC(st, timewait_overflow);
	} else {
		tw_fifo_append(st, tw);
		TCP_INC(st, timewait);
	}
	tcp_enter_state(t, TCP_TIME_WAIT);
	tcp_done(t, TCP_CLOSE_NORMAL);
}

/* ---- listeners ------------------------------------------------------- */

static struct tcp_listener *listener_find(struct tcp_stack *st, uint8_t family, uint16_t port)
{
	for (uint32_t i = 0; i < st->cfg.max_listeners; i++) {
		struct tcp_listener *l = &st->listeners[i];
		if (l->used && l->port == port && (l->family == 0 || l->family == family))
			return l;
	}
	return NULL;
}

struct tcp_listener *tcp_listen(struct tcp_stack *st, uint8_t family, uint16_t port,
				unsigned backlog, tcp_event_fn cb, void *user)
{
	struct tcp_listener *free_l = NULL;

	if (port == 0 || !cb || (family != 0 && family != TCP_AF_INET && family != TCP_AF_INET6)) {
		errno = EINVAL;
		return NULL;
	}
	for (uint32_t i = 0; i < st->cfg.max_listeners; i++) {
		struct tcp_listener *l = &st->listeners[i];
		if (l->used && l->port == port &&
		    (family == 0 || l->family == 0 || l->family == family)) {
			errno = EADDRINUSE;
			return NULL;
		}
		if (!l->used && !free_l)
			free_l = l;
	}
	if (!free_l) {
		errno = ENOSPC;
		return NULL;
	}
	memset(free_l, 0, sizeof(*free_l));
	free_l->used = true;
	free_l->family = family;
	free_l->port = port;
	free_l->backlog = backlog;
	free_l->cb = cb;
	free_l->user = user;
	free_l->st = st;
	return free_l;
}

void tcp_unlisten(struct tcp_listener *l)
{
	struct tcp_stack *st = l->st;

	tcp_enter(st, st->now_us);
	while (l->embryos) {
		struct tcp_tcb *t = l->embryos;
		tcp_send_rst_tcb(t);
		tcp_done(t, TCP_CLOSE_LISTENER);
	}
	l->used = false;
	tcp_leave(st);
}

/* ---- stack teardown -------------------------------------------------- */

void tcp_stack_destroy(struct tcp_stack *st)
{
	struct tcp_env env;

	if (!st)
		return;
	env = st->env;
	st->depth++;
	for (uint32_t i = 0; i < st->cfg.max_tcbs; i++) {
		struct tcp_tcb *t = &st->tcbs[i];
		if (t->type != TCP_OBJ_TCB)
			continue;
		if (t->state != TCP_CLOSED)
			tcp_done(t, TCP_CLOSE_STACK);
		tcp_dispatch(t);
		/* Whatever the application did, the TCB goes now. */
		t->detached = true;
		if (t->reaping)
			continue;
		t->reaping = true;
		t->reap_next = st->reap;
		st->reap = t;
	}
	while (st->reap) {
		struct tcp_tcb *t = st->reap;
		st->reap = t->reap_next;
		t->reaping = false;
		tcb_free(t);
	}
	while (st->tw_head != TCP_TW_NONE)
		tcp_tw_remove(st, &st->tws[st->tw_head]);
	timer_cancel(st->wheel, &st->tw_timer);
	for (uint32_t i = 0; i < st->cfg.max_listeners; i++)
		st->listeners[i].used = false;
	mfree(&env, st->tcbs);
	mfree(&env, st->tws);
	mfree(&env, st->chunk_mem);
	mfree(&env, st->rsegs);
	mfree(&env, st->txrs);
	mfree(&env, st->listeners);
	mfree(&env, st);
}

/* ---- input demultiplexer --------------------------------------------- */

static void reply_rst_closed(struct tcp_stack *st, const struct tcp_key *key,
			     const struct tcp_seg *s)
{
	/* RFC 9293 3.10.7.1: a segment to a CLOSED port. */
	if (s->flags & TCP_RST)
		return;
	if (s->flags & TCP_ACK)
		tcp_send_rst_key(st, key, s->ack, 0, TCP_RST);
	else
		tcp_send_rst_key(st, key, 0, s->seq + tcp_seg_seqlen(s), TCP_RST | TCP_ACK);
}

int tcp_input(struct tcp_stack *st, const struct tcp_key *key, const void *seg, size_t len,
	      void *buf, uint64_t now_us)
{
	struct tcp_seg s;
	bool opt_err = false;
	void *obj;

	tcp_enter(st, now_us);
	TCP_INC(st, in_segs);
	if ((key->family != TCP_AF_INET && key->family != TCP_AF_INET6) ||
	    tcp_seg_parse(seg, len, &s, &opt_err) < 0) {
		TCP_INC(st, in_errs);
		tcp_leave(st);
		return -EINVAL;
	}
	if (opt_err)
		TCP_INC(st, opt_errors);
	s.buf = buf;
	if ((s.flags & TCP_SYN) && (s.flags & (TCP_RST | TCP_FIN))) {
		/* Nonsensical flag combinations: drop (not answered). */
		TCP_INC(st, in_errs);
		tcp_leave(st);
		return 0;
	}
	if (s.flags & TCP_RST)
		TCP_INC(st, in_rsts);
	obj = st->env.flow_lookup(st->env.ctx, key);
	if (obj && *(uint8_t *)obj == TCP_OBJ_TCB) {
		struct tcp_tcb *t = obj;
		tcp_tcb_input(t, &s);
		tcp_dispatch(t);
	} else if (obj && *(uint8_t *)obj == TCP_OBJ_TW) {
		tcp_tw_input(st, obj, key, &s);
	} else {
		struct tcp_listener *l = listener_find(st, key->family, key->lport);
		if (l) {
			tcp_listen_input(l, key, &s, false, 0);
		} else {
			TCP_INC(st, no_port);
			reply_rst_closed(st, key, &s);
		}
	}
	tcp_leave(st);
	return 0;
}

/* Called by tcp_tw_input() when a SYN legitimately reopens a TIME_WAIT
 * connection (RFC 6191 / RFC 9293 3.10.7.4 "TIME-WAIT" note). */
void tcp_tw_reopen(struct tcp_stack *st, const struct tcp_key *key, struct tcp_seg *s, uint32_t iss)
{
	struct tcp_listener *l = listener_find(st, key->family, key->lport);

	if (l)
		tcp_listen_input(l, key, s, true, iss);
	else
		reply_rst_closed(st, key, s);
}

int tcp_icmp_mtu(struct tcp_stack *st, const struct tcp_key *key, uint32_t seq, uint32_t mtu,
		 uint64_t now_us)
{
	void *obj;
	struct tcp_tcb *t;
	uint32_t floor = key->family == TCP_AF_INET6 ? 1280 : 576;
	uint32_t hdrs = key->family == TCP_AF_INET6 ? 60 : 40;
	int rc = 0;

	tcp_enter(st, now_us);
	obj = st->env.flow_lookup(st->env.ctx, key);
	if (!obj || *(uint8_t *)obj != TCP_OBJ_TCB) {
		rc = -ENOENT;
		goto out;
	}
	t = obj;
	if (t->state < TCP_ESTABLISHED || !tcp_seq_in(seq, t->snd_una, t->snd_max)) {
		rc = -EINVAL;
		goto out;
	}
	if (mtu < floor)
		mtu = floor;
	if (mtu - hdrs >= t->mss) {
		rc = -EINVAL;
		goto out;
	}
	t->pmtu = (uint16_t)mtu;
	t->mss = (uint16_t)(mtu - hdrs);
	TCP_INC(st, pmtu_updates);
	/* Resend what is in flight in smaller segments, without treating it
	 * as congestion (RFC 1191 6.5 / Linux simple retransmit). */
	t->snd_nxt = t->snd_una;
	t->rtt_timing = false;
	tcp_output(t);
	tcp_dispatch(t);
out:
	tcp_leave(st);
	return rc;
}
