/*
 * tcp_input.c - segment arrival (RFC 9293 3.10.7) for listeners, TCBs and
 * TIME_WAIT entries, with RFC 5961 (challenge ACKs), RFC 7323 (PAWS,
 * RTTM), RFC 5681/6582 (NewReno) and RFC 2018 (SACK) on the way.
 *
 * Everything here is fed from the network: no assertion on segment
 * contents, every drop is counted. Functions run inside an entry point
 * (tcp_enter/tcp_leave), so a TCB reaching CLOSED stays valid until the
 * entry point returns; callers check t->state after each step.
 */
#include <errno.h>

#include "dataplane/tcp/tcp-int.h"

#define TCP_DUPTHRESH 3
#define TCP_CWND_MAX  (1u << 30)

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int tcp_seg_parse(const uint8_t *p, size_t len, struct tcp_seg *s, bool *opt_err)
{
	unsigned doff;

	if (len < TCP_HDR_MIN || len > (1u << 20))
		return -EINVAL;
	doff = (unsigned)(p[12] >> 4) * 4;
	if (doff < TCP_HDR_MIN || doff > len)
		return -EINVAL;
	s->seq = get32(p + 4);
	s->ack = get32(p + 8);
	s->flags = p[13] & 0x3f;
	s->wnd = get16(p + 14);
	s->data = p + doff;
	s->len = (uint32_t)(len - doff);
	s->buf = NULL;
	if (tcp_opt_parse(p + TCP_HDR_MIN, doff - TCP_HDR_MIN, s->flags & TCP_SYN, &s->opt) < 0)
		*opt_err = true;
	return 0;
}

static uint16_t our_mss(const struct tcp_stack *st, uint8_t family)
{
	return family == TCP_AF_INET6 ? st->our_mss6 : st->our_mss4;
}

static uint32_t ts_now(const struct tcp_tcb *t)
{
	return (uint32_t)tcp_now_ms(t->st) + t->ts_offset;
}

/* Options of a SYN (passive) or SYN-ACK (active) decide the connection's
 * features: each only if both sides offered it. */
void tcp_negotiate(struct tcp_tcb *t, const struct tcp_opts *o)
{
	struct tcp_stack *st = t->st;
	uint16_t mine = our_mss(st, t->key.family);

	t->ws_ok = st->cfg.wscale && o->ws_ok;
	t->snd_wscale = t->ws_ok ? o->ws : 0;
	t->rcv_wscale = t->ws_ok ? st->rcv_wscale : 0;
	t->ts_ok = st->cfg.timestamps && o->ts_ok;
	t->sack_ok = st->cfg.sack && o->sack_perm;
	t->peer_mss =
		o->mss_ok ? o->mss
			  : (t->key.family == TCP_AF_INET6 ? TCP_DEFAULT_MSS6 : TCP_DEFAULT_MSS4);
	if (t->peer_mss < 88)
		t->peer_mss = 88; /* a silly MSS must not make segments of 0 bytes */
	t->mss = t->peer_mss < mine ? t->peer_mss : mine;
	if (t->ts_ok) {
		t->ts_recent = o->tsval;
		t->ts_recent_us = st->now_us;
	}
}

/* RFC 5681 3.1 + RFC 6928 initial window. */
void tcp_init_cc(struct tcp_tcb *t)
{
	uint32_t mss = tcp_effective_mss(t);
	uint32_t iw = 2 * mss > 14600 ? 2 * mss : 14600;

	if (iw > 10 * mss)
		iw = 10 * mss;
	t->cwnd = iw;
	t->ssthresh = 0x7fffffff;
	t->ca_acked = 0;
	t->dupacks = 0;
	t->in_recovery = false;
	t->in_loss = false;
	t->recover = t->snd_una;
}

/* Take an RTT sample from an ACK of new data; true if one was taken
 * (Karn: never from the ACK of a retransmission without timestamps). */
static bool rtt_from_ack(struct tcp_tcb *t, const struct tcp_seg *s)
{
	bool sampled = false;

	if (t->ts_ok && s->opt.ts_ok && s->opt.tsecr != 0) {
		/* RFC 7323 4.1: valid even for retransmitted data. */
		uint32_t m = ts_now(t) - s->opt.tsecr;
		if ((int32_t)m >= 0 && m < 600000) {
			tcp_rtt_sample(&t->rtt, m * 1000);
			sampled = true;
		}
	} else if (t->rtt_timing && tcp_seq_gt(s->ack, t->rtt_seq)) {
		uint64_t m = t->st->now_us - t->rtt_start_us;
		tcp_rtt_sample(&t->rtt, m > 600000000 ? 600000000 : (uint32_t)m);
		sampled = true;
	}
	if (tcp_seq_gt(s->ack, t->rtt_seq))
		t->rtt_timing = false;
	return sampled;
}

/* ---- sender side of ACK processing ----------------------------------- */

static void rtx_first(struct tcp_tcb *t)
{
	uint32_t mss = tcp_effective_mss(t);
	uint32_t len = t->sb_len < mss ? t->sb_len : mss;
	uint32_t n = tcp_xmit_data(t, t->snd_una, len, false);

	t->rtx_next = t->snd_una + n;
}

static void on_dupack(struct tcp_tcb *t)
{
	struct tcp_stack *st = t->st;
	uint32_t mss = tcp_effective_mss(t);

	if (t->in_recovery) {
		/* RFC 6582 3.2 step 4: inflate. */
		if (t->cwnd < TCP_CWND_MAX)
			t->cwnd += mss;
		return;
	}
	if (++t->dupacks != TCP_DUPTHRESH)
		return;
	/* RFC 6582 3.2 step 2: only if this loss is after the last recovery. */
	if (!tcp_seq_geq(t->snd_una, t->recover))
		return;
	{
		uint32_t flight = t->snd_max - t->snd_una;
		t->ssthresh = flight / 2 > 2 * mss ? flight / 2 : 2 * mss;
	}
	t->recover = t->snd_max;
	t->in_recovery = true;
	TCP_INC(st, fast_retrans);
	TCP_INC(st, reno_recovery);
	rtx_first(t);
	t->cwnd = t->ssthresh + TCP_DUPTHRESH * mss;
}

static void cc_new_ack(struct tcp_tcb *t, uint32_t acked)
{
	uint32_t mss = tcp_effective_mss(t);

	if (t->in_recovery) {
		if (tcp_seq_geq(t->snd_una, t->recover)) {
			/* Full ACK: RFC 6582 3.2 step 3, option (1). */
			uint32_t flight = t->snd_max - t->snd_una;
			uint32_t w = (flight > mss ? flight : mss) + mss;
			t->cwnd = w < t->ssthresh ? w : t->ssthresh;
			t->in_recovery = false;
			t->dupacks = 0;
		} else {
			/* Partial ACK: retransmit the next loss, deflate. */
			TCP_INC(t->st, partial_acks);
			rtx_first(t);
			t->cwnd = t->cwnd > acked ? t->cwnd - acked : mss;
			if (acked >= mss)
				t->cwnd += mss;
			if (t->cwnd < mss)
				t->cwnd = mss;
		}
		return;
	}
	t->dupacks = 0;
	tcp_cc_grow(t, acked);
}

/* ACK field of an acceptable segment in a synchronized state, already
 * checked to be within [snd_una - max_snd_wnd, snd_max]. Returns false if
 * the TCB left the flow (CLOSED / TIME_WAIT). */
static bool ack_process(struct tcp_tcb *t, const struct tcp_seg *s)
{
	struct tcp_stack *st = t->st;
	uint32_t ack = s->ack, acked, data_acked, old_wnd = t->snd_wnd, prior_una = t->snd_una;
	bool fin_now = false;

	/* RFC 9293 3.10.7.4: send window update (SND.WL1/WL2 rule). */
	if (tcp_seq_leq(t->snd_una, ack) &&
	    (tcp_seq_lt(t->snd_wl1, s->seq) ||
	     (t->snd_wl1 == s->seq && tcp_seq_leq(t->snd_wl2, ack)))) {
		t->snd_wnd = s->wnd << t->snd_wscale;
		t->snd_wl1 = s->seq;
		t->snd_wl2 = ack;
		if (t->snd_wnd > t->max_snd_wnd)
			t->max_snd_wnd = t->snd_wnd;
		tcp_zwnd_check_open(t);
	}
	if (!tcp_seq_gt(ack, t->snd_una)) {
		if (t->sack_ok) {
			/* RFC 6675: SACK information drives recovery. */
			if (t->snd_una != t->snd_max || s->opt.nsack)
				tcp_rec_ack(t, s, prior_una, 0);
			return true;
		}
		/* RFC 5681 2: duplicate ACK definition. */
		if (ack == t->snd_una && s->len == 0 && !(s->flags & (TCP_SYN | TCP_FIN)) &&
		    t->snd_wnd == old_wnd && t->snd_una != t->snd_max)
			on_dupack(t);
		return true;
	}
	acked = ack - t->snd_una;
	/* RFC 6298 5 note 2 (Karn): the backed-off RTO stays until an ACK
	 * gives a valid RTT sample; an ACK of retransmitted data does not
	 * (without timestamps), else a peer that ACKs a little of each
	 * retransmission would get them at the minimum RTO. Progress does
	 * end the count of timeouts towards the abort. */
	if (rtt_from_ack(t, s))
		t->backoff = 0;
	t->rto_retrans = 0;
	t->probes = 0;
	if (t->fin_sent && !t->fin_acked && tcp_seq_gt(ack, t->snd_una + t->sb_len))
		fin_now = true;
	data_acked = acked - (fin_now ? 1 : 0);
	if (data_acked > t->sb_len)
		data_acked = t->sb_len; /* cannot happen: ack <= snd_max */
	tcp_sb_drop(t, data_acked);
	t->snd_una = ack;
	if (tcp_seq_lt(t->snd_nxt, t->snd_una))
		t->snd_nxt = t->snd_una;
	if (fin_now)
		t->fin_acked = true;
	if (t->sack_ok) {
		tcp_rec_ack(t, s, prior_una, acked);
	} else {
		tcp_txr_drop_acked(t);
		cc_new_ack(t, acked);
		tcp_rtx_restart(t);
	}
	if (t->want_write && tcp_sb_space(t) > 0 && !t->fin_queued) {
		t->want_write = false;
		tcp_event(t, TCP_EV_WRITABLE);
	}
	if (!fin_now)
		return true;
	switch (t->state) {
	case TCP_FIN_WAIT_1:
		tcp_enter_state(t, TCP_FIN_WAIT_2);
		timer_cancel(st->wheel, &t->ka_timer); /* a keepalive deadline is not ours */
		tcp_ka_arm(t);
		return true;
	case TCP_CLOSING:
		tcp_enter_timewait(t);
		return false;
	case TCP_LAST_ACK:
		tcp_done(t, TCP_CLOSE_NORMAL);
		return false;
	default:
		return true;
	}
}

/* ---- state transitions on arrival ------------------------------------ */

static void established(struct tcp_tcb *t, const struct tcp_seg *s)
{
	struct tcp_stack *st = t->st;

	t->snd_una = s->ack;
	if (tcp_seq_lt(t->snd_nxt, t->snd_una))
		t->snd_nxt = t->snd_una;
	t->backoff = 0;
	t->rto_retrans = 0;
	tcp_init_cc(t);
	tcp_rtx_restart(t);
	tcp_enter_state(t, TCP_ESTABLISHED);
	if (t->passive) {
		tcp_listener_unlink(t);
		t->detached = false;
		TCP_INC(st, passive_opens);
		if (st->env.conn_track) {
			st->env.conn_track(st->env.ctx, (uint32_t)(t - st->tcbs), &t->key);
			t->tracked = true;
		}
		tcp_event(t, TCP_EV_ACCEPTED);
	} else {
		tcp_event(t, TCP_EV_ESTABLISHED);
	}
	if (t->fin_queued) /* shut down before the handshake finished */
		tcp_enter_state(t, TCP_FIN_WAIT_1);
	tcp_ka_arm(t);
}

static void process_fin(struct tcp_tcb *t)
{
	/* Nothing can follow a FIN: out-of-order data beyond it is bogus
	 * (and would sit at or below rcv_nxt once the FIN is counted). */
	tcp_ooo_clear(t);
	t->rcv_nxt++;
	t->peer_fin = true;
	t->ooo_fin = false;
	t->ack_now = true;
	tcp_event(t, TCP_EV_PEER_FIN);
	switch (t->state) {
	case TCP_ESTABLISHED:
		tcp_enter_state(t, TCP_CLOSE_WAIT);
		break;
	case TCP_FIN_WAIT_1:
		if (!t->fin_acked) {
			tcp_enter_state(t, TCP_CLOSING); /* simultaneous close */
			break;
		}
		/* our FIN is acknowledged: as FIN_WAIT_2 */
		__attribute__((fallthrough));
	case TCP_FIN_WAIT_2:
		tcp_send_ack(t);
		tcp_enter_timewait(t);
		break;
	default:
		break;
	}
}

static void syn_sent_input(struct tcp_tcb *t, struct tcp_seg *s)
{
	struct tcp_stack *st = t->st;
	bool ack_ok = false;

	if (s->flags & TCP_ACK) {
		if (tcp_seq_leq(s->ack, t->iss) || tcp_seq_gt(s->ack, t->snd_max)) {
			if (!(s->flags & TCP_RST))
				tcp_send_rst_key(st, &t->key, s->ack, 0, TCP_RST);
			return;
		}
		ack_ok = true;
	}
	if (s->flags & TCP_RST) {
		if (ack_ok) {
			TCP_INC(st, attempt_fails);
			tcp_done(t, TCP_CLOSE_REFUSED);
		}
		return;
	}
	if (!(s->flags & TCP_SYN))
		return;
	t->irs = s->seq;
	t->rcv_nxt = s->seq + 1;
	{
		/* The (unscaled) window our SYN offered. */
		uint32_t space = tcp_rcv_space(t);
		t->rcv_adv = t->rcv_nxt + (space > 0xffff ? 0xffff : space);
	}
	tcp_negotiate(t, &s->opt);
	t->snd_wnd = s->wnd; /* never scaled in a SYN */
	t->max_snd_wnd = t->snd_wnd;
	t->snd_wl1 = s->seq;
	t->snd_wl2 = s->ack;
	if (ack_ok) {
		rtt_from_ack(t, s);
		established(t, s);
		/* Data in a SYN-ACK is not queued (rare); the peer resends it. */
		t->ack_now = true;
		tcp_output(t);
		return;
	}
	/* Simultaneous open (RFC 9293 3.5, figure 8). */
	tcp_enter_state(t, TCP_SYN_RECEIVED);
	tcp_send_syn(t);
	tcp_rtx_arm(t);
}

void tcp_tcb_input(struct tcp_tcb *t, struct tcp_seg *s)
{
	struct tcp_stack *st = t->st;
	uint32_t seglen = tcp_seg_seqlen(s);
	uint32_t wnd = tcp_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	bool ok, zwp = false;

	switch (t->state) {
	case TCP_SYN_SENT:
		syn_sent_input(t, s);
		return;
	case TCP_CLOSED:
	case TCP_LISTEN:
	case TCP_TIME_WAIT:
		return; /* not in the flow table in these states */
	default:
		break;
	}

	/* PAWS (RFC 7323 5.3 R1), not applied to RSTs. One tick of slack
	 * (as Linux's TCP_PAWS_WINDOW): a segment held back by reordering
	 * while a retransmission with a newer TSval filled an earlier hole
	 * is not old, and dropping it would turn reordering into loss. */
	if (t->ts_ok && s->opt.ts_ok && !(s->flags & TCP_RST) &&
	    tcp_seq_lt(s->opt.tsval + 1, t->ts_recent) &&
	    st->now_us - t->ts_recent_us < TCP_PAWS_IDLE_US) {
		TCP_INC(st, paws_estab);
		t->ack_now = true;
		tcp_output(t);
		return;
	}

	/* Sequence acceptability (RFC 9293 3.10.7.4, four cases). */
	if (seglen == 0)
		ok = wnd == 0 ? s->seq == t->rcv_nxt
			      : tcp_seq_in(s->seq, t->rcv_nxt, t->rcv_nxt + wnd);
	else
		ok = wnd != 0 && (tcp_seq_in(s->seq, t->rcv_nxt, t->rcv_nxt + wnd) ||
				  tcp_seq_in(s->seq + seglen - 1, t->rcv_nxt, t->rcv_nxt + wnd));
	if (!ok && wnd == 0 && s->seq == t->rcv_nxt) {
		/* Zero window: still take the ACK, RST and window (3.10.7.4). */
		zwp = true;
		ok = true;
	}
	if (!ok) {
		if (s->flags & TCP_RST)
			return;
		if (t->state == TCP_SYN_RECEIVED && (s->flags & TCP_SYN) && s->seq == t->irs &&
		    !(s->flags & TCP_ACK)) {
			tcp_send_syn(t); /* retransmitted SYN: resend SYN-ACK */
			return;
		}
		if (t->sack_ok && s->len && tcp_seq_leq(s->seq + s->len, t->rcv_nxt)) {
			/* RFC 2883: an old duplicate is reported in the ACK. */
			t->dsack.start = s->seq;
			t->dsack.end = s->seq + s->len;
			t->dsack_pending = true;
		}
		t->ack_now = true;
		tcp_output(t);
		return;
	}

	/* RST (RFC 5961 3.2): exact match resets, in-window challenges. */
	if (s->flags & TCP_RST) {
		if (s->seq != t->rcv_nxt) {
			tcp_challenge_ack(t);
			return;
		}
		switch (t->state) {
		case TCP_SYN_RECEIVED:
			if (!t->passive)
				TCP_INC(st, attempt_fails);
			tcp_done(t, t->passive ? TCP_CLOSE_RESET : TCP_CLOSE_REFUSED);
			return;
		case TCP_ESTABLISHED:
		case TCP_CLOSE_WAIT:
			TCP_INC(st, estab_resets);
			/* fall through */
		default:
			tcp_done(t, TCP_CLOSE_RESET);
			return;
		}
	}

	/* SYN in a synchronized state (RFC 5961 4): challenge ACK. */
	if (s->flags & TCP_SYN) {
		TCP_INC(st, syn_challenge);
		tcp_challenge_ack(t);
		return;
	}

	if (!(s->flags & TCP_ACK))
		return;

	/* RFC 7323 4.3: remember the peer's timestamp. */
	if (t->ts_ok && s->opt.ts_ok && tcp_seq_leq(s->seq, t->last_ack_sent) &&
	    tcp_seq_geq(s->opt.tsval, t->ts_recent)) {
		t->ts_recent = s->opt.tsval;
		t->ts_recent_us = st->now_us;
	}

	if (t->state == TCP_SYN_RECEIVED) {
		if (!(tcp_seq_gt(s->ack, t->snd_una) && tcp_seq_leq(s->ack, t->snd_max))) {
			tcp_send_rst_key(st, &t->key, s->ack, 0, TCP_RST);
			return;
		}
		rtt_from_ack(t, s);
		t->snd_wnd = s->wnd << t->snd_wscale;
		t->max_snd_wnd = t->snd_wnd;
		t->snd_wl1 = s->seq;
		t->snd_wl2 = s->ack;
		established(t, s);
	} else {
		/* RFC 5961 5.2 ACK range; RFC 9293: ACK of unsent data. */
		if (tcp_seq_gt(s->ack, t->snd_max) ||
		    tcp_seq_lt(s->ack, t->snd_una - t->max_snd_wnd)) {
			TCP_INC(st, ack_invalid);
			tcp_challenge_ack(t);
			return;
		}
		if (!ack_process(t, s))
			return;
	}
	t->last_rcv_us = st->now_us;
	t->probes = 0;

	/* Trim the payload to the receive window (3.10.7.4 "first"). */
	{
		struct tcp_seg d = *s;
		bool fin = d.flags & TCP_FIN;

		if (zwp) {
			if (d.len || fin)
				t->ack_now = true;
			d.len = 0;
			fin = false;
		}
		if (tcp_seq_lt(d.seq, t->rcv_nxt)) {
			uint32_t skip = t->rcv_nxt - d.seq;
			if (d.len && t->sack_ok) {
				/* RFC 2883: report the duplicate first. */
				t->dsack.start = d.seq;
				t->dsack.end = d.seq + (skip < d.len ? skip : d.len);
				t->dsack_pending = true;
			}
			if (skip >= d.len) {
				/* All data old; a FIN at seq+len < rcv_nxt is old too. */
				if (fin && tcp_seq_lt(d.seq + d.len, t->rcv_nxt))
					fin = false;
				skip = d.len;
			}
			d.data += skip;
			d.len -= skip;
			d.seq += skip;
			t->ack_now = true; /* duplicate data: ACK at once */
		}
		if (d.len && tcp_seq_gt(d.seq + d.len, t->rcv_adv)) {
			d.len = tcp_seq_gt(t->rcv_adv, d.seq) ? t->rcv_adv - d.seq : 0;
			fin = false;
			t->ack_now = true;
		}
		if (t->peer_fin) {
			d.len = 0; /* nothing after the peer's FIN */
			fin = false;
		}

		switch (t->state) {
		case TCP_ESTABLISHED:
		case TCP_FIN_WAIT_1:
		case TCP_FIN_WAIT_2:
			if (d.len && t->detached) {
				/* Orphan receiving new data: nobody will read it. */
				TCP_INC(st, abort_on_data);
				tcp_send_rst_tcb(t);
				tcp_done(t, TCP_CLOSE_RESET);
				return;
			}
			if (d.len)
				tcp_rcv_data(t, &d);
			if (fin) {
				uint32_t fin_seq = d.seq + d.len;
				if (fin_seq == t->rcv_nxt) {
					process_fin(t);
				} else if (tcp_seq_gt(fin_seq, t->rcv_nxt)) {
					t->ooo_fin = true;
					t->ooo_fin_seq = fin_seq;
					t->ack_now = true;
				}
			} else if (t->ooo_fin && t->ooo_fin_seq == t->rcv_nxt) {
				process_fin(t);
			}
			break;
		default:
			break;
		}
	}
	if (t->state == TCP_CLOSED)
		return;
	tcp_output(t);
}

/* ---- listeners ------------------------------------------------------- */

static void send_cookie(struct tcp_listener *l, const struct tcp_key *key, const struct tcp_seg *s)
{
	struct tcp_stack *st = l->st;
	uint16_t peer =
		s->opt.mss_ok ? s->opt.mss
			      : (key->family == TCP_AF_INET6 ? TCP_DEFAULT_MSS6 : TCP_DEFAULT_MSS4);
	uint16_t mine = our_mss(st, key->family);
	unsigned idx = tcp_cookie_mss_idx(peer < mine ? peer : mine);
	uint32_t iss = tcp_cookie_make(st, key, s->seq, idx);

	tcp_send_synack_cookie(st, key, s, iss, tcp_cookie_mss(idx));
	l->cookie_sent_us = st->now_us ? st->now_us : 1;
	TCP_INC(st, syncookies_sent);
}

/* A valid cookie ACK: build the connection straight into ESTABLISHED. */
static void cookie_accept(struct tcp_listener *l, const struct tcp_key *key, struct tcp_seg *s,
			  uint16_t mss)
{
	struct tcp_stack *st = l->st;
	struct tcp_tcb *t;
	uint16_t mine = our_mss(st, key->family);
	uint32_t wnd = st->cfg.rcvbuf > 0xffff ? 0xffff : st->cfg.rcvbuf;

	if (tcp_snd_pressure(st)) {
		/* The peer believes it is connected: tell it it is not. */
		TCP_INC(st, snd_pressure_drops);
		tcp_send_rst_key(st, key, s->ack, 0, TCP_RST);
		return;
	}
	t = tcp_tcb_alloc(st);
	if (!t) {
		TCP_INC(st, listen_drops);
		TCP_INC(st, abort_on_memory);
		return;
	}
	t->key = *key;
	t->passive = true;
	t->detached = true;
	t->cb = l->cb;
	t->user = l->user;
	t->irs = s->seq - 1;
	t->rcv_nxt = s->seq;
	t->iss = s->ack - 1;
	t->snd_una = t->snd_nxt = t->snd_max = s->ack;
	t->ts_offset = tcp_ts_offset(st, key);
	if (st->cfg.timestamps && s->opt.ts_ok &&
	    tcp_cookie_ts_decode(s->opt.tsecr, &t->ws_ok, &t->snd_wscale, &t->sack_ok)) {
		t->ts_ok = true;
		t->ts_recent = s->opt.tsval;
		t->ts_recent_us = st->now_us;
		t->ws_ok = t->ws_ok && st->cfg.wscale;
		t->sack_ok = t->sack_ok && st->cfg.sack;
	} else {
		t->ws_ok = t->sack_ok = false;
	}
	if (!t->ws_ok)
		t->snd_wscale = 0;
	t->rcv_wscale = t->ws_ok ? st->rcv_wscale : 0;
	t->peer_mss = mss;
	t->mss = mss < mine ? mss : mine;
	t->rcv_adv = t->rcv_nxt + wnd;
	t->last_ack_sent = t->rcv_nxt;
	t->snd_wnd = s->wnd << t->snd_wscale;
	t->max_snd_wnd = t->snd_wnd;
	t->snd_wl1 = s->seq;
	t->snd_wl2 = s->ack;
	if (st->env.flow_insert(st->env.ctx, key, t) < 0) {
		TCP_INC(st, listen_drops);
		tcp_done(t, TCP_CLOSE_RESET);
		return;
	}
	t->in_table = true;
	TCP_INC(st, syncookies_recv);
	tcp_init_cc(t);
	tcp_enter_state(t, TCP_ESTABLISHED);
	t->detached = false;
	TCP_INC(st, passive_opens);
	tcp_event(t, TCP_EV_ACCEPTED);
	tcp_ka_arm(t);
	/* The ACK may carry data or a FIN: process it as in ESTABLISHED. */
	if (s->len || (s->flags & TCP_FIN))
		tcp_tcb_input(t, s);
	tcp_dispatch(t);
}

void tcp_listen_input(struct tcp_listener *l, const struct tcp_key *key, struct tcp_seg *s,
		      bool have_iss, uint32_t iss)
{
	struct tcp_stack *st = l->st;
	struct tcp_tcb *t;

	if (s->flags & TCP_RST)
		return;
	if (s->flags & TCP_ACK) {
		if (!(s->flags & TCP_SYN) && st->cfg.syncookies && l->cookie_sent_us &&
		    st->now_us - l->cookie_sent_us < 130000000ull) {
			uint16_t mss = tcp_cookie_check(st, key, s->seq, s->ack);
			if (mss) {
				cookie_accept(l, key, s, mss);
				return;
			}
			TCP_INC(st, syncookies_failed);
		}
		tcp_send_rst_key(st, key, s->ack, 0, TCP_RST);
		return;
	}
	if (!(s->flags & TCP_SYN))
		return;
	if (tcp_snd_pressure(st)) {
		/* Refuse new work, keep the memory for the sessions we have:
		 * no SYN-ACK (and no cookie), the client retries its SYN. */
		TCP_INC(st, snd_pressure_drops);
		return;
	}
	if (l->synq_len >= l->backlog) {
		TCP_INC(st, listen_overflows);
		if (st->cfg.syncookies)
			send_cookie(l, key, s);
		else
			TCP_INC(st, listen_drops);
		return;
	}
	t = tcp_tcb_alloc(st);
	if (!t) {
		TCP_INC(st, abort_on_memory);
		if (st->cfg.syncookies)
			send_cookie(l, key, s); /* costs no memory */
		else
			TCP_INC(st, listen_drops);
		return;
	}
	t->key = *key;
	t->passive = true;
	t->detached = true; /* nobody knows it until accepted */
	t->cb = l->cb;
	t->user = l->user;
	t->irs = s->seq;
	t->rcv_nxt = s->seq + 1;
	t->rcv_adv = t->rcv_nxt;
	tcp_negotiate(t, &s->opt);
	t->iss = have_iss ? iss : tcp_isn(st, key);
	t->snd_una = t->snd_nxt = t->snd_max = t->iss;
	t->ts_offset = tcp_ts_offset(st, key);
	t->snd_wnd = s->wnd;
	t->max_snd_wnd = s->wnd;
	t->snd_wl1 = s->seq;
	t->snd_wl2 = t->iss;
	if (st->env.flow_insert(st->env.ctx, key, t) < 0) {
		TCP_INC(st, listen_drops);
		tcp_done(t, TCP_CLOSE_RESET);
		return;
	}
	t->in_table = true;
	t->listener = l;
	t->lnext = l->embryos;
	if (t->lnext)
		t->lnext->lprev = t;
	l->embryos = t;
	l->synq_len++;
	tcp_enter_state(t, TCP_SYN_RECEIVED);
	tcp_send_syn(t);
	tcp_rtx_arm(t);
}

/* ---- TIME_WAIT (RFC 9293 3.10.7.4, RFC 1337, RFC 6191) ---------------- */

void tcp_tw_input(struct tcp_stack *st, struct tcp_tw *tw, const struct tcp_key *key,
		  struct tcp_seg *s)
{
	bool ts = (tw->flags & TCP_TW_TS) && s->opt.ts_ok;

	if (s->flags & TCP_RST)
		return; /* RFC 1337 TIME-WAIT assassination: ignore RSTs */
	if (ts && tcp_seq_lt(s->opt.tsval, tw->ts_recent)) {
		TCP_INC(st, paws_timewait);
		tcp_tw_send_ack(st, tw);
		return;
	}
	if ((s->flags & TCP_SYN) && !(s->flags & TCP_ACK)) {
		/* A new incarnation is fine if it cannot be confused with the
		 * old one: newer timestamp, or sequence above the old one. */
		bool fresh = ts ? tcp_seq_gt(s->opt.tsval, tw->ts_recent)
				: tcp_seq_gt(s->seq, tw->rcv_nxt);
		if (fresh) {
			uint32_t iss = tw->snd_nxt + 65535 + 2;
			uint32_t isn = tcp_isn(st, key);
			if (tcp_seq_gt(isn, iss))
				iss = isn;
			TCP_INC(st, tw_recycled);
			tcp_tw_remove(st, tw);
			tcp_tw_reopen(st, key, s, iss);
			return;
		}
		tcp_tw_send_ack(st, tw);
		return;
	}
	if (s->flags & TCP_SYN) {
		tcp_tw_send_ack(st, tw);
		return;
	}
	if (!(s->flags & TCP_ACK))
		return;
	if ((s->flags & TCP_FIN) && s->seq + s->len + 1 == tw->rcv_nxt) {
		/* Retransmitted FIN: our last ACK was lost. */
		tcp_tw_send_ack(st, tw);
		tcp_tw_restart(st, tw);
		return;
	}
	if (s->len > 0 || (s->flags & TCP_FIN) || s->seq != tw->rcv_nxt)
		tcp_tw_send_ack(st, tw);
}
