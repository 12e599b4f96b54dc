/*
 * ctlbox.c - the control thread's mailbox into one worker's sessions. See
 * ctlbox.h for the protocol. Memory: the box and its snapshot array are
 * allocated at create (boot) and freed at destroy.
 */
#include "smtp/ctlbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/conn.h"
#include "smtp/smtp.h"

struct smtp_ctlbox *smtp_ctlbox_create(unsigned worker, unsigned slots)
{
	struct smtp_ctlbox *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->snap = calloc(slots ? slots : 1, sizeof(*b->snap));
	b->top = calloc(SMTP_TOP_SLOTS, sizeof(*b->top));
	b->top_snap = calloc(SMTP_TOP_SLOTS, sizeof(*b->top_snap));
	if (!b->snap || !b->top || !b->top_snap) {
		free(b->snap);
		free(b->top);
		free(b->top_snap);
		free(b);
		errno = ENOMEM;
		return NULL;
	}
	b->worker = worker;
	b->cap = slots;
	return b;
}

void smtp_ctlbox_destroy(struct smtp_ctlbox *b)
{
	if (!b)
		return;
	free(b->snap);
	free(b->top);
	free(b->top_snap);
	free(b);
}

/* FNV-1a over the address: which set an address lives in. */
static unsigned top_set(const struct smtp_peer *p)
{
	uint32_t h = 2166136261u;
	unsigned len = p->family == 6 ? 16 : 4;

	for (unsigned i = 0; i < len; i++)
		h = (h ^ p->addr[i]) * 16777619u;
	return h % SMTP_TOP_SETS;
}

void smtp_ctlbox_account(void *arg, const struct smtp_conn *c)
{
	struct smtp_ctlbox *b = arg;
	struct smtp_top_entry *set = &b->top[top_set(&c->peer) * SMTP_TOP_WAYS], *e = NULL;
	unsigned len = c->peer.family == 6 ? 16 : 4;

	for (unsigned w = 0; w < SMTP_TOP_WAYS && !e; w++)
		if (set[w].peer.family == c->peer.family &&
		    memcmp(set[w].peer.addr, c->peer.addr, len) == 0)
			e = &set[w];
	if (!e) { /* the way with the fewest sessions makes room */
		e = &set[0];
		for (unsigned w = 1; w < SMTP_TOP_WAYS; w++)
			if (set[w].conns < e->conns)
				e = &set[w];
		if (e->peer.family) /* the control thread reads it (relaxed) */
			__atomic_store_n(&b->top_evicted, b->top_evicted + 1, __ATOMIC_RELAXED);
		memset(e, 0, sizeof(*e));
		e->peer.family = c->peer.family;
		memcpy(e->peer.addr, c->peer.addr, len);
	}
	e->conns++;
	e->msgs += c->naccepted;
	e->bytes += c->bytes_in;
	e->refused += c->nrefused;
}

bool smtp_peer_in_net(const struct smtp_peer *peer, const struct smtp_peer *net, unsigned prefix)
{
	unsigned len = net->family == 6 ? 16 : 4, full = prefix / 8, rest = prefix % 8;

	if (peer->family != net->family || prefix > len * 8)
		return false;
	if (memcmp(peer->addr, net->addr, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((peer->addr[full] & mask) != (net->addr[full] & mask))
			return false;
	}
	return true;
}

static void fill_info(const struct smtp_ctlbox *b, struct smtp_sess_info *i,
		      const struct smtp_conn *c, uint64_t now)
{
	const struct smtp_envelope *e = smtp_session_envelope(c->s);
	const char *rdns = b->rdns ? b->rdns(b->rdns_arg, c->slot) : NULL;

	memset(i, 0, sizeof(*i));
	i->serial = c->serial;
	i->slot = c->slot;
	i->state = (uint8_t)smtp_session_state(c->s);
	i->park_kind = c->park.active ? (uint8_t)(c->park.ticket >> 56) : 0;
	i->kill_pending = c->kill_pending;
	i->tls = c->low.ops != NULL;
	i->peer = c->peer;
	i->age_us = now > c->t_open_us ? now - c->t_open_us : 0;
	i->idle_us = now > c->t_last_us ? now - c->t_last_us : 0;
	i->bytes_in = c->bytes_in;
	i->bytes_out = c->bytes_out;
	snprintf(i->helo, sizeof(i->helo), "%s", smtp_session_helo(c->s));
	if (rdns)
		snprintf(i->rdns, sizeof(i->rdns), "%s", rdns);
	if (e) {
		i->nrcpt = e->nrcpt;
		snprintf(i->from, sizeof(i->from), "<%s>", smtp_envelope_str(e, e->from_off));
	}
}

/* A session between transactions, not parked, not closing: a drain may
 * end it without losing anything it was promised. */
static bool idle_between_txns(const struct smtp_conn *c)
{
	enum smtp_state st = smtp_session_state(c->s);

	return !smtp_session_parked(c->s) && !c->kill_pending &&
	       (st == SMTP_ST_GREETING || st == SMTP_ST_INIT || st == SMTP_ST_READY ||
		st == SMTP_ST_NOSERVICE);
}

static void serve(struct smtp_ctlbox *b, struct smtp_conn_table *tab)
{
	unsigned slots = smtp_conn_slots(tab), n = 0;
	uint64_t now = smtp_conn_now(tab);

	if (b->op == SMTP_CTLBOX_TOP) {
		memcpy(b->top_snap, b->top, SMTP_TOP_SLOTS * sizeof(*b->top));
		b->n = SMTP_TOP_SLOTS;
		return;
	}
	for (unsigned s = 0; s < slots; s++) {
		struct smtp_conn *c = smtp_conn_at(tab, s);

		if (!c->s)
			continue;
		switch ((enum smtp_ctlbox_op)b->op) {
		case SMTP_CTLBOX_TOP:
			break;
		case SMTP_CTLBOX_LIST:
			if (n < b->cap)
				fill_info(b, &b->snap[n++], c, now);
			break;
		case SMTP_CTLBOX_KILL_ID:
			if (c->serial == b->id && smtp_conn_kill(c) == 0)
				n++;
			break;
		case SMTP_CTLBOX_KILL_NET:
			if (smtp_peer_in_net(&c->peer, &b->net, b->prefix) &&
			    smtp_conn_kill(c) == 0)
				n++;
			break;
		}
	}
	b->n = n;
}

void smtp_ctlbox_poll(struct smtp_ctlbox *b, struct smtp_conn_table *tab)
{
	uint32_t req = __atomic_load_n(&b->req, __ATOMIC_RELAXED);
	uint8_t drain = __atomic_load_n(&b->drain, __ATOMIC_RELAXED);

	if (req != b->done) {
		req = __atomic_load_n(&b->req, __ATOMIC_ACQUIRE);
		serve(b, tab);
		__atomic_store_n(&b->done, req, __ATOMIC_RELEASE);
	}
	if (drain != b->drain_seen) {
		b->drain_seen = drain;
		smtp_conn_set_drain(tab, (enum smtp_conn_drain)drain);
	}
	if (drain != SMTP_CONN_DRAIN_OFF && smtp_conn_now(tab) >= b->next_scan_us) {
		b->next_scan_us = smtp_conn_now(tab) + SMTP_CTLBOX_DRAIN_SCAN_US;
		for (unsigned s = 0; s < smtp_conn_slots(tab); s++) {
			struct smtp_conn *c = smtp_conn_at(tab, s);
			if (c->s && idle_between_txns(c))
				smtp_conn_kill(c);
		}
	}
}

int smtp_ctlbox_post(struct smtp_ctlbox *b)
{
	if (__atomic_load_n(&b->done, __ATOMIC_ACQUIRE) != b->req)
		return -EBUSY;
	__atomic_store_n(&b->req, b->req + 1, __ATOMIC_RELEASE);
	return 0;
}

bool smtp_ctlbox_answered(const struct smtp_ctlbox *b)
{
	return __atomic_load_n(&b->done, __ATOMIC_ACQUIRE) == b->req;
}

void smtp_ctlbox_set_rdns(struct smtp_ctlbox *b, smtp_ctlbox_rdns_fn fn, void *arg)
{
	b->rdns = fn;
	b->rdns_arg = arg;
}

void smtp_ctlbox_set_drain(struct smtp_ctlbox *b, uint8_t mode)
{
	__atomic_store_n(&b->drain, mode, __ATOMIC_RELAXED);
}
