/*
 * tcp_api.c - the upper-layer API (tcp.h): active open, zero-copy
 * receive, bounded send, shutdown, close, abort.
 *
 * Each function is an entry point: it brackets its work with
 * tcp_enter()/tcp_leave(), so it may be called from inside an event
 * callback (nested) or from the application's own context.
 */
#include <errno.h>

#include "dataplane/tcp/tcp-int.h"

static bool choose_port(struct tcp_stack *st, struct tcp_key *k)
{
	uint32_t n = (uint32_t)st->cfg.eph_hi - st->cfg.eph_lo + 1;
	struct tcp_key h = *k;
	uint32_t off;

	h.lport = 0;
	off = (uint32_t)st->env.keyed_hash(st->env.ctx, &h, sizeof(h)) + st->eph_next;
	for (uint32_t i = 0; i < n; i++) {
		k->lport = (uint16_t)(st->cfg.eph_lo + (off + i) % n);
		if (st->env.port_ok && !st->env.port_ok(st->env.ctx, k))
			continue;
		if (st->env.flow_lookup(st->env.ctx, k))
			continue;
		st->eph_next += i + 1;
		return true;
	}
	return false;
}

struct tcp_tcb *tcp_connect(struct tcp_stack *st, const struct tcp_key *key, tcp_event_fn cb,
			    void *user, uint64_t now_us)
{
	struct tcp_tcb *t;
	struct tcp_key k;

	if (!key || (key->family != TCP_AF_INET && key->family != TCP_AF_INET6) ||
	    key->rport == 0) {
		errno = EINVAL;
		return NULL;
	}
	tcp_enter(st, now_us);
	k = *key;
	if (k.lport == 0) {
		if (!choose_port(st, &k)) {
			tcp_leave(st);
			errno = EADDRNOTAVAIL;
			return NULL;
		}
	} else if (st->env.flow_lookup(st->env.ctx, &k)) {
		tcp_leave(st);
		errno = EEXIST;
		return NULL;
	}
	t = tcp_tcb_alloc(st);
	if (!t) {
		TCP_INC(st, abort_on_memory);
		tcp_leave(st);
		errno = ENOMEM;
		return NULL;
	}
	t->key = k;
	t->cb = cb;
	t->user = user;
	t->mss = k.family == TCP_AF_INET6 ? st->our_mss6 : st->our_mss4;
	t->iss = tcp_isn(st, &k);
	t->snd_una = t->snd_nxt = t->snd_max = t->iss;
	t->ts_offset = tcp_ts_offset(st, &k);
	t->rcv_wscale = st->cfg.wscale ? st->rcv_wscale : 0;
	if (st->env.flow_insert(st->env.ctx, &k, t) < 0) {
		t->detached = true;
		tcp_tcb_try_free(t);
		tcp_leave(st);
		errno = ENOSPC;
		return NULL;
	}
	t->in_table = true;
	tcp_enter_state(t, TCP_SYN_SENT);
	TCP_INC(st, active_opens);
	tcp_send_syn(t);
	tcp_rtx_arm(t);
	tcp_leave(st);
	return t;
}

void tcp_set_callback(struct tcp_tcb *t, tcp_event_fn cb, void *user)
{
	t->cb = cb;
	t->user = user;
}

void *tcp_user(const struct tcp_tcb *t)
{
	return t->user;
}

const struct tcp_key *tcp_tcb_key(const struct tcp_tcb *t)
{
	return &t->key;
}

enum tcp_state tcp_tcb_state(const struct tcp_tcb *t)
{
	return (enum tcp_state)t->state;
}

void tcp_set_nodelay(struct tcp_tcb *t, bool on)
{
	t->nodelay = on;
}

void tcp_set_keepalive(struct tcp_tcb *t, bool on)
{
	t->keepalive = on;
	tcp_ka_arm(t);
}

unsigned tcp_recv_peek(const struct tcp_tcb *t, struct tcp_iov *iov, unsigned max)
{
	unsigned n = 0;

	for (const struct tcp_rseg *r = t->rq_head; r && n < max; r = r->next, n++) {
		iov[n].base = r->data;
		iov[n].len = r->len;
	}
	return n;
}

size_t tcp_recv_avail(const struct tcp_tcb *t)
{
	return t->rq_bytes;
}

int tcp_recv_consume(struct tcp_tcb *t, size_t n, uint64_t now_us)
{
	struct tcp_stack *st = t->st;

	if (n > t->rq_bytes)
		return -EINVAL;
	tcp_enter(st, now_us);
	while (n > 0) {
		struct tcp_rseg *r = t->rq_head;
		uint32_t k = n < r->len ? (uint32_t)n : r->len;

		if (k == r->len) {
			t->rq_head = r->next;
			if (!t->rq_head)
				t->rq_tail = NULL;
			t->rq_segs--;
			t->rq_bytes -= k;
			t->rq_charge -= tcp_rseg_charge(r);
			tcp_rseg_put(t, r);
		} else {
			t->rq_bytes -= k;
			t->rq_charge -= tcp_rseg_trim(t, r, k);
		}
		n -= k;
	}
	/* Window update when the window opened a lot (RFC 9293 3.8.6.2.2),
	 * e.g. from zero after a slow reader caught up. */
	if (t->state == TCP_ESTABLISHED || t->state == TCP_FIN_WAIT_1 ||
	    t->state == TCP_FIN_WAIT_2) {
		uint32_t space = tcp_rcv_space(t);
		uint32_t cur = tcp_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
		uint32_t thresh = st->cfg.rcvbuf / 2 < t->mss ? st->cfg.rcvbuf / 2 : t->mss;

		if (space > cur && space - cur >= thresh && space >= 2 * cur) {
			t->ack_now = true;
			tcp_output(t);
		}
	}
	tcp_leave(st);
	return 0;
}

static bool can_queue(const struct tcp_tcb *t)
{
	switch (t->state) {
	case TCP_SYN_SENT:
	case TCP_SYN_RECEIVED:
	case TCP_ESTABLISHED:
	case TCP_CLOSE_WAIT:
		return !t->fin_queued;
	default:
		return false;
	}
}

size_t tcp_send_space(const struct tcp_tcb *t)
{
	return can_queue(t) ? tcp_sb_space(t) : 0;
}

ssize_t tcp_send(struct tcp_tcb *t, const void *data, size_t len, uint64_t now_us)
{
	struct tcp_stack *st = t->st;
	size_t n;

	if (!can_queue(t))
		return t->fin_queued && t->state != TCP_CLOSED ? -EPIPE : -ENOTCONN;
	tcp_enter(st, now_us);
	n = tcp_sb_append(t, data, len);
	if (n < len) {
		t->want_write = true;
		TCP_INC(st, sndbuf_full);
		if (t->sb_len < st->cfg.sndbuf)
			tcp_waitq_add(t); /* limited by the global pool */
	}
	if (t->state == TCP_ESTABLISHED || t->state == TCP_CLOSE_WAIT)
		tcp_output(t);
	tcp_leave(st);
	return (ssize_t)n;
}

int tcp_shutdown(struct tcp_tcb *t, uint64_t now_us)
{
	struct tcp_stack *st = t->st;

	if (t->fin_queued)
		return t->state == TCP_CLOSED ? -ENOTCONN : 0;
	switch (t->state) {
	case TCP_SYN_SENT:
	case TCP_SYN_RECEIVED:
		t->fin_queued = true; /* sent once established */
		return 0;
	case TCP_ESTABLISHED:
	case TCP_CLOSE_WAIT:
		break;
	default:
		return -ENOTCONN;
	}
	tcp_enter(st, now_us);
	t->fin_queued = true;
	tcp_enter_state(t, t->state == TCP_ESTABLISHED ? TCP_FIN_WAIT_1 : TCP_LAST_ACK);
	tcp_output(t);
	tcp_leave(st);
	return 0;
}

void tcp_close(struct tcp_tcb *t, uint64_t now_us)
{
	struct tcp_stack *st = t->st;

	if (t->detached)
		mx_panic("tcp: tcp_close() on a released TCB");
	tcp_enter(st, now_us);
	t->detached = true;
	t->ev_pending = 0;
	t->cb = NULL;
	t->user = NULL;
	t->want_write = false;
	switch (t->state) {
	case TCP_CLOSED:
		tcp_tcb_try_free(t);
		break;
	case TCP_SYN_SENT:
		tcp_done(t, TCP_CLOSE_ABORTED);
		break;
	case TCP_SYN_RECEIVED:
		tcp_send_rst_tcb(t);
		tcp_done(t, TCP_CLOSE_ABORTED);
		break;
	default:
		if (t->rq_bytes > 0) {
			/* RFC 9293 3.10.4 / RFC 2525: unread data -> RST. */
			TCP_INC(st, abort_on_close);
			if (t->state == TCP_ESTABLISHED || t->state == TCP_CLOSE_WAIT)
				TCP_INC(st, estab_resets);
			tcp_send_rst_tcb(t);
			tcp_done(t, TCP_CLOSE_ABORTED);
			break;
		}
		if (!t->fin_queued && (t->state == TCP_ESTABLISHED || t->state == TCP_CLOSE_WAIT)) {
			t->fin_queued = true;
			tcp_enter_state(t, t->state == TCP_ESTABLISHED ? TCP_FIN_WAIT_1
								       : TCP_LAST_ACK);
			tcp_output(t);
		}
		tcp_ka_arm(t); /* no keepalive for an orphan; FIN_WAIT_2 stays bounded */
		break;
	}
	tcp_leave(st);
}

void tcp_abort(struct tcp_tcb *t, uint64_t now_us)
{
	struct tcp_stack *st = t->st;

	if (t->detached)
		mx_panic("tcp: tcp_abort() on a released TCB");
	tcp_enter(st, now_us);
	t->detached = true;
	t->ev_pending = 0;
	t->cb = NULL;
	if (t->state >= TCP_SYN_RECEIVED && t->state != TCP_TIME_WAIT) {
		if (t->state == TCP_ESTABLISHED || t->state == TCP_CLOSE_WAIT)
			TCP_INC(st, estab_resets);
		tcp_send_rst_tcb(t);
	}
	if (t->state != TCP_CLOSED)
		tcp_done(t, TCP_CLOSE_ABORTED);
	else
		tcp_tcb_try_free(t);
	tcp_leave(st);
}
