/*
 * peer.h - a scripted remote TCP for state-machine tests: it tracks its
 * own sequence numbers and crafts segments into one stack (struct henv).
 */
#ifndef MX_TESTS_TCP_PEER_H
#define MX_TESTS_TCP_PEER_H

#include "harness.h"

struct peer {
	struct henv *h;
	struct tcp_key k; /* from the stack's point of view */
	uint32_t iss;
	uint32_t seq; /* peer's next sequence number */
	uint32_t ack; /* what the peer acknowledges */
	uint16_t wnd;
	uint16_t mss;
	int ws; /* -1: no window scale option */
	bool sack;
	bool ts;
	bool synced; /* ack is meaningful */
	uint32_t tsval, tsecr;
};

static inline void p_init(struct peer *p, struct henv *h, uint16_t lport, uint16_t rport)
{
	memset(p, 0, sizeof(*p));
	p->h = h;
	h_key(&p->k, lport, rport);
	p->iss = 0x10000000u + rport;
	p->seq = p->iss;
	p->wnd = 65535;
	p->mss = 1000;
	p->ws = -1;
	p->tsval = 5000;
}

static inline int p_send_opt(struct peer *p, uint8_t flags, uint32_t seq, const uint8_t *extra,
			     size_t extra_len, const void *d, size_t len)
{
	uint8_t o[40];
	size_t n = 0;

	if (flags & TCP_SYN) {
		n = h_opt_syn(o, p->mss, p->ws, p->sack, p->ts, p->tsval, p->tsecr);
	} else if (p->ts) {
		n = h_opt_ts(o, p->tsval, p->tsecr);
	}
	if (extra_len) {
		memcpy(o + n, extra, extra_len);
		n += extra_len;
	}
	return h_inject(p->h, &p->k, seq, p->ack, flags, p->wnd, o, n, d, len);
}

/* Send with the peer's current sequence number and advance it. */
static inline int p_send(struct peer *p, uint8_t flags, const void *d, size_t len)
{
	int rc = p_send_opt(p, flags, p->seq, NULL, 0, d, len);

	p->seq += (uint32_t)len + !!(flags & TCP_SYN) + !!(flags & TCP_FIN);
	p->tsval++;
	return rc;
}

/* Absorb the last segment the stack sent: ack its sequence space. */
static inline void p_saw(struct peer *p, const struct hseg *s)
{
	uint32_t end = s->seq + s->len + !!(s->flags & TCP_SYN) + !!(s->flags & TCP_FIN);

	if (!p->synced || tcp_seq_gt(end, p->ack))
		p->ack = end;
	p->synced = true;
	if (s->opt.ts_ok)
		p->tsecr = s->opt.tsval;
}

static inline void *p_obj(struct peer *p)
{
	return p->h->env.flow_lookup(p->h->env.ctx, &p->k);
}

static inline struct tcp_tcb *p_tcb(struct peer *p)
{
	void *o = p_obj(p);

	return o && *(uint8_t *)o == TCP_OBJ_TCB ? o : NULL;
}

/*
 * Passive open of @p's flow through a listener on its port: SYN, the
 * SYN-ACK absorbed, the final ACK (answered by nothing). Returns the
 * accepted TCB, ESTABLISHED and reported to the listener's h_event_cb, or
 * NULL if any step went otherwise. Clears the output log.
 */
static inline struct tcp_tcb *p_accept(struct peer *p)
{
	const struct hseg *s;

	h_clear_log(p->h);
	if (p_send(p, TCP_SYN, NULL, 0) != 0 || !(s = h_last(p->h)) ||
	    s->flags != (TCP_SYN | TCP_ACK) || s->ack != p->iss + 1)
		return NULL;
	p_saw(p, s);
	if (!p_tcb(p) || p_tcb(p)->state != TCP_SYN_RECEIVED)
		return NULL;
	h_clear_log(p->h);
	p_send(p, TCP_ACK, NULL, 0);
	if (p->h->nlog || !p_tcb(p) || p_tcb(p)->state != TCP_ESTABLISHED ||
	    p->h->last_accepted != p_tcb(p))
		return NULL;
	return p_tcb(p);
}

#define STAT(h, f) ((h)->st->stats.f)

/* cmocka fixture helpers for the tests including this header (after
 * <cmocka.h>): a harness whose listener on port 25 hands every accepted
 * connection to h_event_cb, auto_close off. */
static inline struct henv *p_fixture_new(const struct tcp_config *c, struct tcp_listener **l)
{
	struct henv *h = calloc(1, sizeof(*h));
	struct tcp_listener *lis;

	if (!h)
		return NULL;
	h_init(h, c);
	h->auto_close = false;
	lis = tcp_listen(h->st, 0, 25, 4, h_event_cb, h);
	if (l)
		*l = lis;
	return lis ? h : NULL;
}

/* Teardown: free the harness and check that every buffer the core
 * referenced was released. */
static inline int p_fixture_teardown(void **state)
{
	struct henv *h = *state;

	h_fini(h);
	free(h);
	assert_int_equal(h_bufs_live, 0);
	return 0;
}

/* Passive open through the listener; returns the accepted TCB. */
static inline struct tcp_tcb *p_open_passive(struct henv *h, struct peer *p)
{
	struct tcp_tcb *t = p_accept(p);

	(void)h;
	assert_non_null(t);
	return t;
}

#endif
