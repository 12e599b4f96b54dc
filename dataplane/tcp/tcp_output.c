/*
 * tcp_output.c - building and sending segments.
 *
 * Every segment leaves through xmit(): header + options built in a 60-byte
 * scratch buffer on the stack, payload as pointers into the send buffer,
 * handed to env->output(). A failed output (TX queue full) is counted and
 * treated as a loss: the retransmission timer recovers.
 *
 * tcp_output() is the sender: it sends what the congestion window, the
 * peer's window, Nagle and sender-side SWS avoidance (RFC 9293 3.8.6.2.1)
 * allow, then a pure ACK if one is owed and nothing carried it.
 */
#include <string.h>

#include "dataplane/tcp/tcp-int.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void hdr_fill(uint8_t *h, const struct tcp_key *key, uint32_t seq, uint32_t ack,
		     uint8_t flags, uint16_t wnd, unsigned hlen)
{
	put16(h, key->lport);
	put16(h + 2, key->rport);
	put32(h + 4, seq);
	put32(h + 8, (flags & TCP_ACK) ? ack : 0);
	h[12] = (uint8_t)((hlen / 4) << 4);
	h[13] = flags;
	put16(h + 14, wnd);
	put16(h + 16, 0); /* checksum: the dataplane's job */
	put16(h + 18, 0);
}

static unsigned opt_ts(uint8_t *o, uint32_t tsval, uint32_t tsecr)
{
	o[0] = TCP_OPT_NOP;
	o[1] = TCP_OPT_NOP;
	o[2] = TCP_OPT_TS;
	o[3] = 10;
	put32(o + 4, tsval);
	put32(o + 8, tsecr);
	return 12;
}

/* SYN options in the usual order: MSS, SACK-permitted + TS, NOP + WS. */
static unsigned opt_syn(uint8_t *o, uint16_t mss, bool ts, uint32_t tsval, uint32_t tsecr,
			bool sack, bool ws, uint8_t wscale)
{
	unsigned n = 0;

	o[n++] = TCP_OPT_MSS;
	o[n++] = 4;
	put16(o + n, mss);
	n += 2;
	if (ts) {
		if (sack) {
			o[n++] = TCP_OPT_SACK_PERM;
			o[n++] = 2;
		} else {
			o[n++] = TCP_OPT_NOP;
			o[n++] = TCP_OPT_NOP;
		}
		o[n++] = TCP_OPT_TS;
		o[n++] = 10;
		put32(o + n, tsval);
		put32(o + n + 4, tsecr);
		n += 8;
	} else if (sack) {
		o[n++] = TCP_OPT_NOP;
		o[n++] = TCP_OPT_NOP;
		o[n++] = TCP_OPT_SACK_PERM;
		o[n++] = 2;
	}
	if (ws) {
		o[n++] = TCP_OPT_NOP;
		o[n++] = TCP_OPT_WS;
		o[n++] = 3;
		o[n++] = wscale;
	}
	return n;
}

static uint16_t our_mss(const struct tcp_stack *st, const struct tcp_key *key)
{
	return key->family == TCP_AF_INET6 ? st->our_mss6 : st->our_mss4;
}

static uint32_t ts_now(const struct tcp_tcb *t)
{
	return (uint32_t)tcp_now_ms(t->st) + t->ts_offset;
}

static int emit(struct tcp_stack *st, const struct tcp_key *key, const uint8_t *hdr, unsigned hlen,
		const struct tcp_iov *iov, unsigned iovcnt)
{
	int rc = st->env.output(st->env.ctx, key, hdr, hlen, iov, iovcnt);

	TCP_INC(st, out_segs);
	if (hdr[13] & TCP_RST)
		TCP_INC(st, out_rsts);
	if (rc < 0)
		TCP_INC(st, out_drops);
	return rc;
}

/* Window field for a non-SYN segment; advances rcv_adv. Receiver-side SWS
 * avoidance (RFC 9293 3.8.6.2.2): the right edge moves only by at least
 * min(rcvbuf / 2, MSS), and never moves left (3.8.6.2.2 "shrinking"). */
static uint16_t rcv_window(struct tcp_tcb *t)
{
	uint32_t space = tcp_rcv_space(t);
	uint32_t cur = tcp_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	uint32_t thresh = t->st->cfg.rcvbuf / 2;
	uint32_t scaled, unit = 1u << t->rcv_wscale;

	if (thresh > t->mss)
		thresh = t->mss;
	if (space <= cur || space - cur < thresh) {
		space = cur;
		scaled = (space + unit - 1) >> t->rcv_wscale; /* round up: no shrink */
	} else {
		scaled = space >> t->rcv_wscale;
	}
	if (scaled > 0xffff)
		scaled = 0xffff;
	if (tcp_seq_gt(t->rcv_nxt + (scaled << t->rcv_wscale), t->rcv_adv))
		t->rcv_adv = t->rcv_nxt + (scaled << t->rcv_wscale);
	return (uint16_t)scaled;
}

/* Send one segment of @t: [seq, seq+len) of the send buffer with @flags. */
static int xmit(struct tcp_tcb *t, uint32_t seq, uint32_t len, uint8_t flags)
{
	struct tcp_stack *st = t->st;
	uint8_t hdr[TCP_HDR_MAX];
	unsigned hlen = TCP_HDR_MIN;
	struct tcp_iov iov[TCP_OUT_IOV_MAX];
	unsigned iovcnt = 0;
	uint16_t wnd;
	int rc;

	if (flags & TCP_SYN) {
		bool active = t->state == TCP_SYN_SENT;
		uint32_t space = tcp_rcv_space(t);
		hlen += opt_syn(hdr + hlen, our_mss(st, &t->key),
				active ? st->cfg.timestamps : t->ts_ok, ts_now(t),
				(flags & TCP_ACK) ? t->ts_recent : 0,
				active ? st->cfg.sack : t->sack_ok,
				active ? st->cfg.wscale : t->ws_ok, t->rcv_wscale);
		wnd = space > 0xffff ? 0xffff : (uint16_t)space;
		if (tcp_seq_gt(t->rcv_nxt + wnd, t->rcv_adv) || t->state == TCP_SYN_SENT)
			t->rcv_adv = t->rcv_nxt + wnd;
	} else {
		if (t->ts_ok)
			hlen += opt_ts(hdr + hlen, ts_now(t), t->ts_recent);
		if (t->sack_ok && (t->ooo || t->dsack_pending) && !(flags & TCP_RST)) {
			struct tcp_sack_block b[TCP_SACK_BLOCKS_IN];
			unsigned max = t->ts_ok ? 3 : 4, n = 0;
			uint8_t *o = hdr + hlen;

			/* RFC 2883: a duplicate is reported first, if the room
			 * tcp_effective_mss() kept allows. */
			if (t->dsack_pending && len <= tcp_effective_mss(t)) {
				b[n++] = t->dsack;
				t->dsack_pending = false;
				TCP_INC(st, dsack_sent);
			}
			n += tcp_rcv_sack_blocks(t, b + n, max - n);
			o[0] = TCP_OPT_NOP;
			o[1] = TCP_OPT_NOP;
			o[2] = TCP_OPT_SACK;
			o[3] = (uint8_t)(2 + 8 * n);
			for (unsigned i = 0; i < n; i++) {
				put32(o + 4 + 8 * i, b[i].start);
				put32(o + 8 + 8 * i, b[i].end);
			}
			if (n)
				hlen += 4 + 8 * n;
		}
		wnd = (flags & TCP_RST) ? 0 : rcv_window(t);
	}
	if (len) {
		uint32_t got;
		iovcnt = tcp_sb_iov(t, seq - t->snd_una, len, iov, TCP_OUT_IOV_MAX, &got);
		if (got != len)
			mx_panic("tcp: xmit %u bytes, send buffer has %u", len, got);
	}
	hdr_fill(hdr, &t->key, seq, t->rcv_nxt, flags, wnd, hlen);
	rc = emit(st, &t->key, hdr, hlen, iov, iovcnt);
	if (flags & TCP_ACK) {
		t->last_ack_sent = t->rcv_nxt;
		t->ack_now = false;
		t->segs_unacked = 0;
		timer_cancel(st->wheel, &t->delack_timer);
	}
	return rc;
}

uint16_t tcp_effective_mss(const struct tcp_tcb *t)
{
	unsigned m = t->mss;
	unsigned opt = t->ts_ok ? 12 : 0;

	/* Room for SACK blocks while we hold out-of-order data, or for one
	 * D-SACK block (RFC 2883). */
	if (t->sack_ok && t->ooo)
		opt += t->ts_ok ? 28 : 36;
	else if (t->sack_ok && t->dsack_pending)
		opt += 12;
	return (uint16_t)(m > opt + 64 ? m - opt : 64);
}

uint32_t tcp_xmit_data(struct tcp_tcb *t, uint32_t seq, uint32_t len, bool force)
{
	struct tcp_stack *st = t->st;
	uint32_t data_end = t->snd_una + t->sb_len;
	uint8_t flags = TCP_ACK;
	bool fin = false;

	(void)force;
	if (t->fin_queued && !t->fin_acked && seq + len == data_end)
		fin = true;
	if (len && seq + len == data_end)
		flags |= TCP_PSH;
	if (fin)
		flags |= TCP_FIN;
	if (len == 0 && !fin)
		return 0;
	tcp_txr_sent(t, seq, len + fin);
	if (tcp_seq_lt(seq, t->snd_max)) {
		TCP_INC(st, retrans_segs);
		t->rtt_timing = false; /* Karn: no sample across a retransmission */
	} else if (!t->ts_ok && !t->rtt_timing) {
		t->rtt_timing = true;
		t->rtt_seq = seq;
		t->rtt_start_us = st->now_us;
	}
	xmit(t, seq, len, flags);
	if (fin)
		t->fin_sent = true;
	if (tcp_seq_gt(seq + len + fin, t->snd_max))
		t->snd_max = seq + len + fin;
	return len + fin;
}

static bool can_send_data(const struct tcp_tcb *t)
{
	switch (t->state) {
	case TCP_ESTABLISHED:
	case TCP_CLOSE_WAIT:
	case TCP_FIN_WAIT_1:
	case TCP_CLOSING:
	case TCP_LAST_ACK:
		return true;
	default:
		return false;
	}
}

void tcp_output(struct tcp_tcb *t)
{
	bool sent = false;

	if (can_send_data(t) && t->sack_ok && (t->in_recovery || t->in_loss)) {
		/* RFC 6675 loss recovery, or RTO recovery skipping SACKed data. */
		sent = tcp_rec_output(t);
		if (sent)
			tcp_rec_schedule(t, false, false);
	} else if (can_send_data(t)) {
		/* RFC 3042 limited transmit: one new segment per duplicate ACK
		 * below DupThresh (which grows past 3 only after reordering was
		 * seen, as RFC 4653 extends it). */
		uint32_t lt = 0;
		if (!t->in_recovery && t->dupacks > 0 && t->dupacks < t->dupthresh)
			lt = t->dupacks * tcp_effective_mss(t);
		for (;;) {
			uint32_t data_end = t->snd_una + t->sb_len;
			uint32_t cw = t->cwnd + lt;
			uint32_t wnd = t->snd_wnd < cw ? t->snd_wnd : cw;
			uint32_t limit = t->snd_una + wnd;
			uint32_t mss = tcp_effective_mss(t);
			uint32_t avail = 0, usable, len;
			bool fin_due;

			if (tcp_seq_lt(t->snd_nxt, data_end))
				avail = data_end - t->snd_nxt;
			usable = tcp_seq_gt(limit, t->snd_nxt) ? limit - t->snd_nxt : 0;
			len = avail < usable ? avail : usable;
			if (len > mss)
				len = mss;
			fin_due = t->fin_queued && !t->fin_acked && len == avail &&
				  tcp_seq_leq(t->snd_nxt + len, data_end) &&
				  (!t->fin_sent || tcp_seq_lt(t->snd_nxt + len, t->snd_max));
			if (len == 0 && !fin_due)
				break;
			if (len > 0 && len < mss) {
				if (len < avail) {
					/* Window-limited piece: sender SWS avoidance. */
					if (len < t->max_snd_wnd / 2)
						break;
				} else if (!t->nodelay && !t->fin_queued &&
					   tcp_seq_lt(t->snd_una, t->snd_nxt)) {
					break; /* Nagle: small segment while data in flight */
				}
			}
			if (lt && tcp_seq_gt(t->snd_nxt + len, t->snd_una + t->cwnd))
				TCP_INC(t->st, limited_transmit);
			t->snd_nxt += tcp_xmit_data(t, t->snd_nxt, len, false);
			sent = true;
			if (!t->sack_ok &&
			    (t->rtx_mode != TCP_RTX_RTO || !timer_pending(&t->rtx_timer)))
				tcp_rtx_arm(t);
		}
		if (sent && t->sack_ok)
			tcp_rec_schedule(t, false, true);
		/* Data waiting, nothing in flight, no timer: the peer's window
		 * blocks us. Probe it (RFC 9293 3.8.6.1). */
		if (t->snd_una == t->snd_max && !timer_pending(&t->rtx_timer) &&
		    (t->sb_len > 0 || (t->fin_queued && !t->fin_sent)))
			tcp_persist_arm(t);
	}
	if (!sent && t->ack_now && t->state >= TCP_SYN_RECEIVED)
		tcp_send_ack(t);
}

void tcp_send_ack(struct tcp_tcb *t)
{
	if (t->state == TCP_SYN_SENT || t->state == TCP_CLOSED)
		return;
	/* snd_max, not snd_nxt: after a timeout rewound snd_nxt, an older
	 * sequence number would make a strict peer drop the ACK as outside
	 * its window (RFC 9293 3.10.7.4, zero-length segments). */
	xmit(t, t->snd_max, 0, TCP_ACK);
}

void tcp_challenge_ack(struct tcp_tcb *t)
{
	if (!tcp_challenge_allowed(t->st)) {
		TCP_INC(t->st, challenge_ack_limited);
		return;
	}
	TCP_INC(t->st, challenge_ack);
	tcp_send_ack(t);
}

void tcp_send_syn(struct tcp_tcb *t)
{
	uint8_t flags = t->state == TCP_SYN_SENT ? TCP_SYN : TCP_SYN | TCP_ACK;

	if (tcp_seq_lt(t->iss, t->snd_max)) {
		TCP_INC(t->st, retrans_segs);
		TCP_INC(t->st, syn_retrans);
		t->rtt_timing = false;
	} else if (!t->rtt_timing) {
		t->rtt_timing = true;
		t->rtt_seq = t->iss;
		t->rtt_start_us = t->st->now_us;
	}
	xmit(t, t->iss, 0, flags);
	t->snd_nxt = t->iss + 1;
	t->snd_max = t->iss + 1;
}

void tcp_send_rst_tcb(struct tcp_tcb *t)
{
	xmit(t, t->snd_max, 0, TCP_RST | TCP_ACK);
}

void tcp_send_probe(struct tcp_tcb *t)
{
	/* An old sequence number: the peer answers with an ACK carrying its
	 * current window (zero-window probe and keepalive alike). */
	xmit(t, t->snd_una - 1, 0, TCP_ACK);
}

void tcp_send_rst_key(struct tcp_stack *st, const struct tcp_key *key, uint32_t seq, uint32_t ack,
		      uint8_t flags)
{
	uint8_t hdr[TCP_HDR_MIN];

	hdr_fill(hdr, key, seq, ack, flags, 0, TCP_HDR_MIN);
	emit(st, key, hdr, TCP_HDR_MIN, NULL, 0);
}

void tcp_send_restart_probe(struct tcp_stack *st, const struct tcp_key *key)
{
	uint8_t hdr[TCP_HDR_MIN];
	uint32_t seq = (uint32_t)st->env.keyed_hash(st->env.ctx, key, sizeof(*key));

	/* A bare SYN (no options) from the old 4-tuple: a peer that still has
	 * the connection answers with a challenge ACK (RFC 5961 4.2), which
	 * our listener answers with a RST it accepts. */
	hdr_fill(hdr, key, seq, 0, TCP_SYN, 0, TCP_HDR_MIN);
	emit(st, key, hdr, TCP_HDR_MIN, NULL, 0);
	TCP_INC(st, restart_probes);
}

void tcp_send_synack_cookie(struct tcp_stack *st, const struct tcp_key *key,
			    const struct tcp_seg *s, uint32_t iss, uint16_t mss)
{
	uint8_t hdr[TCP_HDR_MAX];
	unsigned hlen = TCP_HDR_MIN;
	bool ts = st->cfg.timestamps && s->opt.ts_ok;
	/* Without timestamps there is nowhere to remember wscale/SACK. */
	bool sack = ts && st->cfg.sack && s->opt.sack_perm;
	bool ws = ts && st->cfg.wscale && s->opt.ws_ok;
	uint32_t tsval = 0;
	uint32_t wnd = st->cfg.rcvbuf > 0xffff ? 0xffff : st->cfg.rcvbuf;

	(void)mss;
	if (ts) {
		uint32_t raw = (uint32_t)tcp_now_ms(st) + tcp_ts_offset(st, key);
		tsval = (raw & ~TCP_COOKIE_TS_MASK) | tcp_cookie_ts_encode(ws, s->opt.ws, sack);
		/* The option bits must not push the TSval ahead of the clock the
		 * connection will use once established, or the peer's PAWS
		 * (RFC 7323 5.3) drops our first data segments as old. */
		if (tcp_seq_gt(tsval, raw))
			tsval -= TCP_COOKIE_TS_MASK + 1;
	}
	hlen += opt_syn(hdr + hlen, our_mss(st, key), ts, tsval, s->opt.tsval, sack, ws,
			st->rcv_wscale);
	hdr_fill(hdr, key, iss, s->seq + 1, TCP_SYN | TCP_ACK, (uint16_t)wnd, hlen);
	emit(st, key, hdr, hlen, NULL, 0);
}

void tcp_tw_send_ack(struct tcp_stack *st, struct tcp_tw *tw)
{
	uint8_t hdr[TCP_HDR_MAX];
	unsigned hlen = TCP_HDR_MIN;

	if (tw->flags & TCP_TW_TS)
		hlen += opt_ts(hdr + hlen, (uint32_t)tcp_now_ms(st) + tw->ts_offset, tw->ts_recent);
	hdr_fill(hdr, &tw->key, tw->snd_nxt, tw->rcv_nxt, TCP_ACK, tw->rcv_wnd, hlen);
	emit(st, &tw->key, hdr, hlen, NULL, 0);
}
