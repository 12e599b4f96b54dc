/*
 * tcp_timer.c - the per-connection timers on the lcore's timing wheel
 * (1 tick = 1 ms).
 *
 * rtx_timer: retransmission (RFC 6298) or, while the peer's window is
 *            closed and nothing is in flight, persist (RFC 9293 3.8.6.1);
 * delack_timer: delayed ACK (RFC 9293 3.8.6.3, cfg.delack_ms);
 * ka_timer:  keepalive (RFC 9293 3.8.4; off by default) or, in FIN_WAIT_2,
 *            how long the peer's FIN may take (cfg.fin_wait2_ms);
 * life_timer: the absolute connection lifetime (cfg.lifetime_max_ms, off
 *            by default), armed on entering ESTABLISHED;
 * tw_timer (one per stack): reaps TIME_WAIT entries, which expire in the
 *            order they were created.
 *
 * Each callback is an entry point like tcp_input(): it brackets its work
 * with tcp_enter()/tcp_leave() so events are dispatched and frees happen
 * only once the TCB is consistent.
 */
#include "dataplane/tcp/tcp-int.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

uint64_t tcp_timer_now_us(struct tcp_stack *st)
{
	uint64_t w = st->wheel->now * 1000;

	return w > st->now_us ? w : st->now_us;
}

static uint64_t ms_from_now(struct tcp_stack *st, uint64_t us)
{
	uint64_t ms = (us + 999) / 1000;

	return tcp_now_ms(st) + (ms ? ms : 1);
}

void tcp_rtx_arm(struct tcp_tcb *t)
{
	t->rto_due_ms = ms_from_now(t->st, tcp_rtt_rto(&t->rtt, t->backoff));
	t->rtx_mode = TCP_RTX_RTO;
	timer_arm(t->st->wheel, &t->rtx_timer, t->rto_due_ms);
}

uint64_t tcp_rto_due(struct tcp_tcb *t)
{
	if (!t->rto_due_ms)
		t->rto_due_ms = ms_from_now(t->st, tcp_rtt_rto(&t->rtt, t->backoff));
	return t->rto_due_ms;
}

void tcp_rto_arm_due(struct tcp_tcb *t)
{
	t->rtx_mode = TCP_RTX_RTO;
	timer_arm(t->st->wheel, &t->rtx_timer, tcp_rto_due(t));
}

void tcp_rtx_restart(struct tcp_tcb *t)
{
	if (t->snd_una == t->snd_max) {
		timer_cancel(t->st->wheel, &t->rtx_timer);
		t->rtx_mode = TCP_RTX_NONE;
		t->rto_due_ms = 0;
		return;
	}
	tcp_rtx_arm(t);
}

void tcp_persist_arm(struct tcp_tcb *t)
{
	struct tcp_stack *st = t->st;
	uint64_t at = ms_from_now(st, tcp_rtt_rto(&t->rtt, t->backoff));

	if (!t->zwnd_since_us)
		t->zwnd_since_us = st->now_us;
	if (st->cfg.zero_window_max_ms) {
		uint64_t end = (t->zwnd_since_us + 999) / 1000 + st->cfg.zero_window_max_ms;

		if (end < at)
			at = end > tcp_now_ms(st) ? end : tcp_now_ms(st) + 1;
	}
	t->rto_due_ms = 0; /* nothing in flight: no RTO runs */
	t->rtx_mode = TCP_RTX_PERSIST;
	timer_arm(st->wheel, &t->rtx_timer, at);
}

void tcp_zwnd_check_open(struct tcp_tcb *t)
{
	uint32_t inflight = t->snd_nxt - t->snd_una;
	uint32_t unsent = t->sb_len > inflight ? t->sb_len - inflight : 0;
	uint32_t mss = tcp_effective_mss(t);

	/* Open = what tcp_output() sends without the persist timer forcing
	 * it: a full segment, all that is left, or half the largest window
	 * the peer ever offered (sender SWS avoidance). */
	if (t->zwnd_since_us && (t->snd_wnd >= (unsent < mss ? unsent : mss) ||
				 (t->snd_wnd > 0 && t->snd_wnd >= t->max_snd_wnd / 2)))
		t->zwnd_since_us = 0;
}

void tcp_delack_arm(struct tcp_tcb *t)
{
	if (!timer_pending(&t->delack_timer))
		timer_arm(t->st->wheel, &t->delack_timer, tcp_now_ms(t->st) + t->st->cfg.delack_ms);
}

void tcp_ka_arm(struct tcp_tcb *t)
{
	struct tcp_stack *st = t->st;

	if (t->state == TCP_FIN_WAIT_2) {
		/* Our FIN is ACKed; a peer that never sends its own must not
		 * hold the connection (nor, above us, its session) forever. */
		if (!timer_pending(&t->ka_timer))
			timer_arm(st->wheel, &t->ka_timer, tcp_now_ms(st) + st->cfg.fin_wait2_ms);
		return;
	}
	if (t->keepalive && (t->state == TCP_ESTABLISHED || t->state == TCP_CLOSE_WAIT)) {
		timer_arm(st->wheel, &t->ka_timer,
			  t->last_rcv_us / 1000 +
				  (t->probes ? st->cfg.ka_intvl_ms : st->cfg.ka_idle_ms));
		return;
	}
	timer_cancel(st->wheel, &t->ka_timer);
}

void tcp_timers_cancel(struct tcp_tcb *t)
{
	timer_cancel(t->st->wheel, &t->rtx_timer);
	timer_cancel(t->st->wheel, &t->delack_timer);
	timer_cancel(t->st->wheel, &t->ka_timer);
	timer_cancel(t->st->wheel, &t->life_timer);
	t->rtx_mode = TCP_RTX_NONE;
	t->rto_due_ms = 0;
}

/* Retransmission timeout (RFC 6298 5.4-5.7, RFC 5681 3.1 loss window). */
static void rto_fire(struct tcp_tcb *t)
{
	struct tcp_stack *st = t->st;
	uint32_t flight, len, mss;

	switch (t->state) {
	case TCP_SYN_SENT:
	case TCP_SYN_RECEIVED:
		if (t->backoff >=
		    (t->state == TCP_SYN_SENT ? st->cfg.syn_retries : st->cfg.synack_retries)) {
			TCP_INC(st, timeouts);
			if (t->state == TCP_SYN_SENT || !t->passive)
				TCP_INC(st, attempt_fails);
			tcp_done(t, TCP_CLOSE_TIMEOUT);
			return;
		}
		t->backoff++;
		tcp_send_syn(t);
		tcp_rtx_arm(t);
		return;
	case TCP_CLOSED:
	case TCP_LISTEN:
	case TCP_TIME_WAIT:
		return;
	default:
		break;
	}
	if (t->snd_una == t->snd_max)
		return; /* everything was acknowledged meanwhile */
	if (t->rto_retrans >= st->cfg.retries) {
		TCP_INC(st, abort_on_timeout);
		tcp_done(t, TCP_CLOSE_TIMEOUT);
		return;
	}
	TCP_INC(st, timeouts);
	if (t->sack_ok) {
		tcp_rec_rto(t);
		tcp_rtx_arm(t);
		return;
	}
	mss = tcp_effective_mss(t);
	flight = t->snd_max - t->snd_una;
	t->ssthresh = flight / 2 > 2 * mss ? flight / 2 : 2 * mss;
	t->cwnd = mss;
	t->ca_acked = 0;
	t->in_recovery = false;
	t->dupacks = 0;
	t->recover = t->snd_max; /* RFC 6582 4.1 */
	t->sb.n = 0;		 /* do not trust old SACK info after a timeout */
	if (t->backoff < 31)
		t->backoff++;
	t->rto_retrans++;
	t->rtt_timing = false;
	t->snd_nxt = t->snd_una;
	len = t->sb_len < mss ? t->sb_len : mss;
	t->snd_nxt += tcp_xmit_data(t, t->snd_una, len, true);
	tcp_rtx_arm(t);
}

static void persist_fire(struct tcp_tcb *t)
{
	struct tcp_stack *st = t->st;
	uint32_t unsent;

	if (!(t->state == TCP_ESTABLISHED || t->state == TCP_CLOSE_WAIT ||
	      t->state == TCP_FIN_WAIT_1 || t->state == TCP_CLOSING || t->state == TCP_LAST_ACK))
		return;
	if (t->probes >= st->cfg.retries) {
		/* The peer stopped answering probes at all. */
		TCP_INC(st, abort_on_timeout);
		tcp_done(t, TCP_CLOSE_TIMEOUT);
		return;
	}
	if (st->cfg.zero_window_max_ms && t->zwnd_since_us &&
	    st->now_us - t->zwnd_since_us >= (uint64_t)st->cfg.zero_window_max_ms * 1000) {
		/* It answers, but its window has held our data back for too
		 * long, whatever it ACKed meanwhile (issue 11: a few hundred
		 * such peers would pin the whole send-chunk pool). */
		TCP_INC(st, abort_on_zero_window);
		tcp_send_rst_tcb(t);
		tcp_done(t, TCP_CLOSE_TIMEOUT);
		return;
	}
	t->probes++;
	if (t->backoff < 31)
		t->backoff++;
	unsent = t->snd_una + t->sb_len - t->snd_nxt;
	if (t->snd_wnd > 0 && unsent > 0 && t->snd_una == t->snd_max) {
		/* A small window that SWS avoidance will not fill: force one
		 * segment (BSD "force" on persist). */
		uint32_t len = t->snd_wnd;
		if (len > unsent)
			len = unsent;
		if (len > tcp_effective_mss(t))
			len = tcp_effective_mss(t);
		t->snd_nxt += tcp_xmit_data(t, t->snd_nxt, len, true);
		tcp_rtx_arm(t);
		return;
	}
	TCP_INC(st, win_probe);
	tcp_send_probe(t);
	tcp_persist_arm(t);
}

static void rtx_cb(struct timer_entry *e)
{
	struct tcp_tcb *t = container_of(e, struct tcp_tcb, rtx_timer);
	struct tcp_stack *st = t->st;

	tcp_enter(st, tcp_timer_now_us(st));
	switch (t->rtx_mode) {
	case TCP_RTX_PERSIST:
		persist_fire(t);
		break;
	case TCP_RTX_REO:
		tcp_rec_reo_fire(t);
		break;
	case TCP_RTX_TLP:
		tcp_rec_tlp_fire(t);
		break;
	default:
		rto_fire(t);
		break;
	}
	tcp_output(t);
	tcp_dispatch(t);
	tcp_leave(st);
}

static void delack_cb(struct timer_entry *e)
{
	struct tcp_tcb *t = container_of(e, struct tcp_tcb, delack_timer);
	struct tcp_stack *st = t->st;

	tcp_enter(st, tcp_timer_now_us(st));
	if (t->state >= TCP_SYN_RECEIVED && t->state != TCP_TIME_WAIT &&
	    t->last_ack_sent != t->rcv_nxt) {
		TCP_INC(st, delayed_acks);
		tcp_send_ack(t);
	}
	tcp_leave(st);
}

static void ka_cb(struct timer_entry *e)
{
	struct tcp_tcb *t = container_of(e, struct tcp_tcb, ka_timer);
	struct tcp_stack *st = t->st;
	uint64_t now;

	tcp_enter(st, tcp_timer_now_us(st));
	now = st->now_us;
	if (t->state == TCP_FIN_WAIT_2) {
		/* The peer ACKed our FIN and never sent its own (or it was
		 * lost behind a NAT). Reset: any later segment of it would
		 * get one anyway. */
		TCP_INC(st, abort_on_linger);
		tcp_send_rst_tcb(t);
		tcp_done(t, TCP_CLOSE_TIMEOUT);
	} else if (t->keepalive && (t->state == TCP_ESTABLISHED || t->state == TCP_CLOSE_WAIT)) {
		uint64_t idle = now - t->last_rcv_us;
		uint64_t need =
			(uint64_t)(t->probes ? st->cfg.ka_intvl_ms : st->cfg.ka_idle_ms) * 1000;

		if (t->snd_una != t->snd_max || t->sb_len > 0) {
			/* Data outstanding: the RTO/persist timers watch the peer. */
			t->probes = 0;
			t->last_rcv_us = now;
			tcp_ka_arm(t);
		} else if (idle + 999 < need) {
			tcp_ka_arm(t);
		} else if (t->probes >= st->cfg.ka_probes) {
			tcp_send_rst_tcb(t);
			tcp_done(t, TCP_CLOSE_KEEPALIVE);
		} else {
			TCP_INC(st, keepalive_probes);
			tcp_send_probe(t);
			t->probes++;
			timer_arm(st->wheel, &t->ka_timer, tcp_now_ms(st) + st->cfg.ka_intvl_ms);
		}
	}
	tcp_dispatch(t);
	tcp_leave(st);
}

static void life_cb(struct timer_entry *e)
{
	struct tcp_tcb *t = container_of(e, struct tcp_tcb, life_timer);
	struct tcp_stack *st = t->st;

	tcp_enter(st, tcp_timer_now_us(st));
	if (t->state != TCP_CLOSED && t->state != TCP_TIME_WAIT) {
		TCP_INC(st, abort_on_lifetime);
		if (t->state == TCP_ESTABLISHED || t->state == TCP_CLOSE_WAIT)
			TCP_INC(st, estab_resets);
		tcp_send_rst_tcb(t);
		tcp_done(t, TCP_CLOSE_LIFETIME);
	}
	tcp_dispatch(t);
	tcp_leave(st);
}

void tcp_life_arm(struct tcp_tcb *t)
{
	struct tcp_stack *st = t->st;

	if (st->cfg.lifetime_max_ms)
		timer_arm(st->wheel, &t->life_timer, tcp_now_ms(st) + st->cfg.lifetime_max_ms);
}

void tcp_timers_init(struct tcp_tcb *t)
{
	timer_init(&t->rtx_timer, rtx_cb);
	timer_init(&t->delack_timer, delack_cb);
	timer_init(&t->ka_timer, ka_cb);
	timer_init(&t->life_timer, life_cb);
}

void tcp_tw_timer_cb(struct timer_entry *e)
{
	struct tcp_stack *st = container_of(e, struct tcp_stack, tw_timer);
	uint32_t now_ms;

	tcp_enter(st, tcp_timer_now_us(st));
	now_ms = (uint32_t)tcp_now_ms(st);
	while (st->tw_head != TCP_TW_NONE) {
		struct tcp_tw *tw = &st->tws[st->tw_head];
		if ((int32_t)(now_ms - tw->expires_ms) < 0)
			break;
		tcp_tw_remove(st, tw);
	}
	if (st->tw_head != TCP_TW_NONE)
		timer_arm(st->wheel, &st->tw_timer,
			  tcp_now_ms(st) + (uint32_t)(st->tws[st->tw_head].expires_ms - now_ms));
	tcp_leave(st);
}
