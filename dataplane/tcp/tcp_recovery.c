/*
 * tcp_recovery.c - sender-side loss recovery of SACK connections.
 *
 * The transmit records (struct tcp_txrec, one per segment sent) are the
 * scoreboard of RFC 6675 and carry the send times RACK needs (RFC 8985):
 *
 *  - SetPipe: an unSACKed record counts unless it is deemed lost, and once
 *    more while a retransmission of it is in flight (RFC 6675 4).
 *  - IsLost: DupThresh SACKed records, or more than (DupThresh - 1) * SMSS
 *    SACKed bytes, above a record (RFC 6675 4). DupThresh starts at 3 and
 *    grows with the reordering observed (as Linux's tp->reordering), so
 *    5% reordering does not look like 5% loss.
 *  - RACK: a record sent before the most recently sent delivered one is
 *    lost once RACK.rtt + reo_wnd passed since it was sent; this finds lost
 *    retransmissions without an RTO. reo_wnd = min_rtt / 4, scaled by
 *    D-SACKs up to SRTT (RFC 8985 6.2); a timer covers the remainder.
 *  - Recovery starts when a record is marked lost (RFC 6675 5: IsLost or
 *    DupAcks >= DupThresh; RACK), ends at the recovery point; cwnd follows
 *    PRR (RFC 6937, with SSRB) and NextSeg rules 1-4 pick what to send,
 *    including one rescue retransmission per recovery.
 *  - TLP (RFC 8985 7): with nothing marked lost, the timer fires after
 *    2 * SRTT first and sends new data or the last segment once, so a lost
 *    tail is reported by SACK instead of waiting for the RTO.
 *  - D-SACK (RFC 2883): spurious retransmissions raise reo_wnd; when every
 *    retransmission of a recovery turns out spurious, the cwnd reduction is
 *    undone (RFC 3708 spirit, as Linux's undo_retrans).
 *  - RTO (RFC 6298, RFC 6675 5.1): every unSACKed record is marked lost and
 *    resent in order as slow start allows, skipping SACKed data; SACK
 *    information is dropped on a second consecutive timeout (renege).
 *
 * Data is released by the cumulative ACK only (tcp_input.c); everything
 * here only decides what to send and when. Work is O(records) per ACK.
 */
#include "dataplane/tcp/tcp-int.h"

#define REC_MERGE_FLAGS (TCP_TXR_LOST | TCP_TXR_RTX | TCP_TXR_EVER)
#define TLP_DELACK_US	200000u /* RFC 8985 7.2 WCDelAckT */
#define MIN_RTT_WIN_US	(10ull * 1000000)
#define REO_MULT_MAX	16

static uint32_t now32(const struct tcp_tcb *t)
{
	return (uint32_t)t->st->now_us;
}

static uint32_t rlen(const struct tcp_txrec *r)
{
	return r->end - r->seq;
}

/* RACK_sent_after (RFC 8985 6.2): (t1, e1) sent after (t2, e2). */
static bool sent_after(uint32_t t1, uint32_t e1, uint32_t t2, uint32_t e2)
{
	int32_t d = (int32_t)(t1 - t2);

	return d > 0 || (d == 0 && tcp_seq_gt(e1, e2));
}

uint16_t tcp_txr_cap(uint32_t sndbuf)
{
	uint32_t n = sndbuf / 1024 + 8; /* one per KiB: MSS >= 1 KiB is exact */

	if (n < 32)
		n = 32;
	if (n > 1024)
		n = 1024;
	return (uint16_t)n;
}

/* ---- the record table ------------------------------------------------ */

static void txr_remove(struct tcp_tcb *t, unsigned i, unsigned k)
{
	memmove(&t->txr[i], &t->txr[i + k], (t->ntxr - i - k) * sizeof(t->txr[0]));
	t->ntxr = (uint16_t)(t->ntxr - k);
}

/* Merge records i and i+1 (a full table loses precision, not safety: a
 * merged record is SACKed only if both were, lost or retransmitted if
 * either was, and carries the later send time). */
static void txr_merge(struct tcp_tcb *t, unsigned i)
{
	struct tcp_txrec *a = &t->txr[i], *b = &t->txr[i + 1];
	uint8_t f = (uint8_t)(((a->flags & b->flags) & TCP_TXR_SACKED) |
			      ((a->flags | b->flags) & REC_MERGE_FLAGS));

	if ((a->flags & TCP_TXR_SACKED) != (b->flags & TCP_TXR_SACKED))
		f &= (uint8_t)~TCP_TXR_SACKED;
	a->end = b->end;
	if (sent_after(b->xmit_us, b->end, a->xmit_us, a->end))
		a->xmit_us = b->xmit_us;
	a->flags = f;
	txr_remove(t, i + 1, 1);
}

/* Free one slot: merge the first neighbours with equal flags (SACKed ones
 * preferred), else the two oldest. */
static void txr_make_room(struct tcp_tcb *t)
{
	unsigned best = t->ntxr;

	for (unsigned i = 0; i + 1 < t->ntxr; i++) {
		if (t->txr[i].flags != t->txr[i + 1].flags)
			continue;
		if (t->txr[i].flags & TCP_TXR_SACKED) {
			best = i;
			break;
		}
		if (best == t->ntxr)
			best = i;
	}
	txr_merge(t, best < t->ntxr ? best : 0);
}

/* Split record i at @at (strictly inside). False if the table is full. */
static bool txr_split(struct tcp_tcb *t, unsigned i, uint32_t at)
{
	if (t->ntxr >= t->txr_cap)
		return false;
	memmove(&t->txr[i + 1], &t->txr[i], (t->ntxr - i) * sizeof(t->txr[0]));
	t->ntxr++;
	t->txr[i].end = at;
	t->txr[i + 1].seq = at;
	return true;
}

static void rtx_hist_add(struct tcp_tcb *t, uint32_t s, uint32_t e)
{
	if (t->nrtx_hist == TCP_RTX_HIST) {
		memmove(&t->rtx_hist[0], &t->rtx_hist[1],
			(TCP_RTX_HIST - 1) * sizeof(t->rtx_hist[0]));
		t->nrtx_hist--;
	}
	t->rtx_hist[t->nrtx_hist].start = s;
	t->rtx_hist[t->nrtx_hist].end = e;
	t->nrtx_hist++;
}

static void txr_mark_rtx(struct tcp_tcb *t, uint32_t s, uint32_t e, uint32_t now)
{
	for (unsigned i = 0; i < t->ntxr; i++) {
		struct tcp_txrec *r = &t->txr[i];

		if (tcp_seq_leq(r->end, s))
			continue;
		if (tcp_seq_geq(r->seq, e))
			break;
		if (tcp_seq_lt(r->seq, s) && txr_split(t, i, s))
			continue; /* the part from s is record i + 1 */
		if (tcp_seq_gt(r->end, e))
			txr_split(t, i, e);
		r = &t->txr[i];
		r->xmit_us = now;
		if (r->flags & TCP_TXR_SACKED)
			continue;
		r->flags |= TCP_TXR_RTX | TCP_TXR_EVER;
		if (t->undo_valid) {
			t->undo_retrans++;
			t->undo_sent++;
		}
	}
}

void tcp_txr_sent(struct tcp_tcb *t, uint32_t seq, uint32_t n)
{
	uint32_t end = seq + n, now = now32(t);

	if (!t->txr || n == 0)
		return;
	if (tcp_seq_lt(seq, t->snd_max)) {
		uint32_t rend = tcp_seq_min(end, t->snd_max);
		txr_mark_rtx(t, seq, rend, now);
		seq = rend;
	}
	if (!tcp_seq_lt(seq, end))
		return;
	if (t->ntxr == t->txr_cap)
		txr_make_room(t);
	t->txr[t->ntxr].seq = seq;
	t->txr[t->ntxr].end = end;
	t->txr[t->ntxr].xmit_us = now;
	t->txr[t->ntxr].flags = 0;
	t->ntxr++;
}

void tcp_txr_drop_acked(struct tcp_tcb *t)
{
	unsigned k = 0;

	while (k < t->ntxr && tcp_seq_leq(t->txr[k].end, t->snd_una))
		k++;
	if (k)
		txr_remove(t, 0, k);
	if (t->ntxr && tcp_seq_lt(t->txr[0].seq, t->snd_una))
		t->txr[0].seq = t->snd_una;
}

uint32_t tcp_pipe(const struct tcp_tcb *t)
{
	uint32_t pipe = 0;

	for (unsigned i = 0; i < t->ntxr; i++) {
		const struct tcp_txrec *r = &t->txr[i];
		if (r->flags & TCP_TXR_SACKED)
			continue;
		if (!(r->flags & TCP_TXR_LOST))
			pipe += rlen(r);
		if (r->flags & TCP_TXR_RTX)
			pipe += rlen(r);
	}
	return pipe;
}

/* ---- RACK (RFC 8985 6) ----------------------------------------------- */

static void min_rtt_update(struct tcp_tcb *t, uint32_t rtt)
{
	uint64_t now = t->st->now_us;

	if (rtt == 0)
		rtt = 1;
	if (t->min_rtt_us == 0 || rtt <= t->min_rtt_us ||
	    now - t->min_rtt_stamp_us > MIN_RTT_WIN_US) {
		t->min_rtt_us = rtt;
		t->min_rtt_stamp_us = now;
	}
}

/* RACK_update() for one newly delivered record. */
static void rack_update(struct tcp_tcb *t, const struct tcp_txrec *r)
{
	uint32_t rtt = now32(t) - r->xmit_us;

	if (r->flags & TCP_TXR_EVER) {
		/* Ambiguous: an ACK faster than min_rtt came for the original. */
		if (rtt < t->min_rtt_us)
			return;
	} else {
		min_rtt_update(t, rtt);
		if (t->rack_valid && tcp_seq_lt(r->end, t->rack_fack)) {
			/* Delivered below a later-sent delivered segment, never
			 * retransmitted: the network reordered it. */
			uint32_t mss = tcp_effective_mss(t);
			uint32_t deg = (t->rack_fack - r->seq + mss - 1) / mss;
			if (!t->reord_seen)
				TCP_INC(t->st, sack_reorder);
			t->reord_seen = true;
			if (deg > TCP_DUPTHRESH_MAX)
				deg = TCP_DUPTHRESH_MAX;
			if (deg > t->dupthresh)
				t->dupthresh = (uint8_t)deg;
		}
	}
	if (!t->rack_valid || tcp_seq_gt(r->end, t->rack_fack))
		t->rack_fack = r->end;
	if (!t->rack_valid || sent_after(r->xmit_us, r->end, t->rack_xmit_us, t->rack_end)) {
		t->rack_xmit_us = r->xmit_us;
		t->rack_end = r->end;
		t->rack_rtt_us = rtt;
		t->rack_valid = true;
	}
}

static uint32_t rack_reo_wnd(const struct tcp_tcb *t)
{
	uint32_t w;

	if (!t->reord_seen && (t->in_recovery || t->in_loss))
		return 0; /* RFC 8985 6.2 step 4 */
	w = t->min_rtt_us / 4 * (t->reo_mult ? t->reo_mult : 1);
	if (t->rtt.sampled && w > t->rtt.srtt_us)
		w = t->rtt.srtt_us;
	return w;
}

static void mark_lost(struct tcp_tcb *t, struct tcp_txrec *r)
{
	if (r->flags & TCP_TXR_RTX)
		TCP_INC(t->st, lost_retrans);
	r->flags = (uint8_t)((r->flags | TCP_TXR_LOST) & ~TCP_TXR_RTX);
}

/* RACK_detect_loss(): mark what is lost; set the reordering deadline for
 * what may still arrive. Returns the number of records marked. */
static unsigned rack_detect(struct tcp_tcb *t)
{
	uint32_t now = now32(t), deadline, wait = 0;
	unsigned marked = 0;

	t->reo_deadline_us = 0;
	if (!t->rack_valid)
		return 0;
	deadline = t->rack_rtt_us + rack_reo_wnd(t);
	for (unsigned i = 0; i < t->ntxr; i++) {
		struct tcp_txrec *r = &t->txr[i];
		int32_t left;

		if (r->flags & TCP_TXR_SACKED)
			continue;
		if ((r->flags & (TCP_TXR_LOST | TCP_TXR_RTX)) == TCP_TXR_LOST)
			continue; /* already waiting for its retransmission */
		if (!sent_after(t->rack_xmit_us, t->rack_end, r->xmit_us, r->end))
			continue;
		left = (int32_t)(r->xmit_us + deadline - now);
		if (left <= 0) {
			mark_lost(t, r);
			TCP_INC(t->st, rack_loss);
			marked++;
		} else if ((uint32_t)left > wait) {
			wait = (uint32_t)left;
		}
	}
	if (wait)
		t->reo_deadline_us = t->st->now_us + wait;
	return marked;
}

/* ---- RFC 6675 IsLost ------------------------------------------------- */

static unsigned mark_islost(struct tcp_tcb *t)
{
	uint32_t mss = tcp_effective_mss(t), sacked = 0, thresh;
	unsigned nsacked = 0, marked = 0;

	thresh = (uint32_t)(t->dupthresh - 1) * mss;
	for (unsigned i = t->ntxr; i-- > 0;) {
		struct tcp_txrec *r = &t->txr[i];

		if (r->flags & TCP_TXR_SACKED) {
			sacked += rlen(r);
			nsacked++;
			continue;
		}
		if (nsacked < t->dupthresh && sacked <= thresh)
			continue;
		/* Everything below is lost too; stop at what is marked. */
		if (r->flags & TCP_TXR_LOST)
			continue;
		r->flags |= TCP_TXR_LOST; /* a retransmission in flight stays */
		marked++;
	}
	return marked;
}

static bool have_lost(const struct tcp_tcb *t)
{
	for (unsigned i = 0; i < t->ntxr; i++)
		if ((t->txr[i].flags & (TCP_TXR_SACKED | TCP_TXR_LOST | TCP_TXR_RTX)) ==
		    TCP_TXR_LOST)
			return true;
	return false;
}

/* ---- SACK and D-SACK processing --------------------------------------- */

static bool dsack_is_rtx(const struct tcp_tcb *t, uint32_t s, uint32_t e)
{
	for (unsigned i = 0; i < t->nrtx_hist; i++)
		if (tcp_seq_lt(s, t->rtx_hist[i].end) && tcp_seq_gt(e, t->rtx_hist[i].start))
			return true;
	for (unsigned i = 0; i < t->ntxr; i++) {
		const struct tcp_txrec *r = &t->txr[i];
		if (tcp_seq_geq(r->seq, e))
			break;
		if (tcp_seq_gt(r->end, s) && (r->flags & TCP_TXR_EVER))
			return true;
	}
	return false;
}

/* RFC 2883 4: the first block reports a duplicate if it lies below the
 * ACK or inside the second block. */
static bool dsack_check(struct tcp_tcb *t, const struct tcp_seg *s)
{
	const struct tcp_sack_block *b = s->opt.sack;

	if (!tcp_seq_lt(b[0].start, b[0].end) || b[0].end - b[0].start > 0x40000000u)
		return false;
	if (!(tcp_seq_lt(b[0].start, s->ack) ||
	      (s->opt.nsack > 1 && tcp_seq_geq(b[0].start, b[1].start) &&
	       tcp_seq_leq(b[0].end, b[1].end))))
		return false;
	TCP_INC(t->st, dsack_recv);
	if (t->undo_valid && t->undo_retrans > 0 && tcp_seq_gt(b[0].end, t->undo_marker) &&
	    dsack_is_rtx(t, b[0].start, b[0].end))
		t->undo_retrans--;
	if (t->tlp_out && t->tlp_rtx &&
	    tcp_seq_gt(b[0].end, t->tlp_high_seq - tcp_effective_mss(t)))
		t->tlp_out = false; /* the probe was a duplicate: no loss */
	/* RFC 8985 6.2 step 4: widen reo_wnd once per round trip. */
	if (!t->dsack_round || tcp_seq_geq(t->snd_una, t->dsack_round_end)) {
		if (t->reo_mult < REO_MULT_MAX)
			t->reo_mult++;
		t->reo_persist = 16;
		t->dsack_round = true;
		t->dsack_round_end = t->snd_max;
	}
	return true;
}

/* Flag records the scoreboard covers; split at block edges so partial
 * coverage is exact while the table has room. Returns bytes newly SACKed. */
static uint32_t txr_mark_sacked(struct tcp_tcb *t)
{
	const struct tcp_sackboard *sb = &t->sb;
	uint32_t newly = 0;
	unsigned i = 0;

	for (unsigned k = 0; k < sb->n; k++) {
		uint32_t bs = sb->b[k].start, be = sb->b[k].end;

		for (; i < t->ntxr; i++) {
			struct tcp_txrec *r = &t->txr[i];
			if (tcp_seq_leq(r->end, bs))
				continue;
			if (tcp_seq_geq(r->seq, be))
				break;
			if (r->flags & TCP_TXR_SACKED)
				continue;
			if (tcp_seq_lt(r->seq, bs)) {
				if (txr_split(t, i, bs))
					continue; /* record i + 1 starts at bs */
				continue;	  /* partial: leave it */
			}
			if (tcp_seq_gt(r->end, be) && !txr_split(t, i, be))
				break;
			r = &t->txr[i];
			r->flags = (uint8_t)((r->flags | TCP_TXR_SACKED) &
					     ~(TCP_TXR_LOST | TCP_TXR_RTX));
			newly += rlen(r);
			rack_update(t, r);
		}
	}
	return newly;
}

/* ---- congestion control ---------------------------------------------- */

void tcp_cc_grow(struct tcp_tcb *t, uint32_t acked)
{
	uint32_t mss = tcp_effective_mss(t);

	if (t->cwnd < t->ssthresh) {
		t->cwnd += acked < mss ? acked : mss; /* slow start, L = 1 SMSS */
	} else {
		t->ca_acked += acked; /* congestion avoidance, byte counting */
		if (t->ca_acked >= t->cwnd) {
			t->ca_acked -= t->cwnd;
			t->cwnd += mss;
		}
	}
	if (t->cwnd > (1u << 30))
		t->cwnd = 1u << 30;
}

static void enter_recovery(struct tcp_tcb *t)
{
	uint32_t mss = tcp_effective_mss(t);
	uint32_t flight = t->snd_max - t->snd_una;

	t->prior_cwnd = t->cwnd;
	t->prior_ssthresh = t->ssthresh;
	t->undo_marker = t->snd_una;
	t->undo_retrans = 0;
	t->undo_sent = 0;
	t->undo_valid = true;
	t->nrtx_hist = 0;
	/* RFC 6675 5 step 4.2 / RFC 5681 (4). */
	t->ssthresh = flight / 2 > 2 * mss ? flight / 2 : 2 * mss;
	t->recover = t->snd_max;
	t->in_recovery = true;
	t->rescue_done = false;
	t->prr_delivered = 0;
	t->prr_out = 0;
	t->recover_fs = flight ? flight : 1;
	t->tlp_out = false;
	t->ca_acked = 0;
	if (t->reo_persist && --t->reo_persist == 0)
		t->reo_mult = 1;
	TCP_INC(t->st, fast_retrans);
	TCP_INC(t->st, sack_recovery);
}

/* RFC 6937 PRR with slow-start reduction bound: cwnd for this ACK. */
static void prr_update(struct tcp_tcb *t, uint32_t delivered)
{
	uint32_t mss = tcp_effective_mss(t), pipe = tcp_pipe(t);
	int64_t sndcnt;

	t->prr_delivered += delivered;
	if (pipe > t->ssthresh) {
		uint64_t want = ((uint64_t)t->prr_delivered * t->ssthresh + t->recover_fs - 1) /
				t->recover_fs;
		sndcnt = (int64_t)want - t->prr_out;
	} else {
		int64_t lim = (int64_t)t->prr_delivered - t->prr_out;
		if (lim < delivered)
			lim = delivered;
		lim += mss;
		sndcnt = (int64_t)t->ssthresh - pipe;
		if (sndcnt > lim)
			sndcnt = lim;
	}
	if (sndcnt < 0)
		sndcnt = 0;
	/* RFC 6675 5 step 4.2: the first retransmission is not held back. */
	if (t->prr_out == 0 && sndcnt < mss)
		sndcnt = mss;
	t->cwnd = pipe + (uint32_t)sndcnt;
}

/* Undo a reduction whose retransmissions all proved spurious. */
static void try_undo(struct tcp_tcb *t)
{
	if (!t->undo_valid || t->undo_sent == 0 || t->undo_retrans > 0 || have_lost(t))
		return;
	if (t->cwnd < t->prior_cwnd)
		t->cwnd = t->prior_cwnd;
	if (t->ssthresh < t->prior_ssthresh)
		t->ssthresh = t->prior_ssthresh;
	t->undo_valid = false;
	if (t->in_recovery) {
		t->in_recovery = false;
		for (unsigned i = 0; i < t->ntxr; i++)
			t->txr[i].flags &= (uint8_t) ~(TCP_TXR_LOST | TCP_TXR_RTX);
	}
	TCP_INC(t->st, dsack_undo);
}

/* RFC 8985 7.4: did the probe repair a loss? */
static void tlp_ack(struct tcp_tcb *t, uint32_t ack)
{
	if (!t->tlp_out)
		return;
	if (t->in_recovery || t->in_loss) {
		t->tlp_out = false; /* recovery took over */
		return;
	}
	if (!t->tlp_rtx) {
		if (tcp_seq_geq(ack, t->tlp_high_seq))
			t->tlp_out = false; /* new data probed and delivered */
		return;
	}
	if (tcp_seq_gt(ack, t->tlp_high_seq)) {
		uint32_t mss = tcp_effective_mss(t);
		t->tlp_out = false;
		t->ssthresh = t->cwnd / 2 > 2 * mss ? t->cwnd / 2 : 2 * mss;
		t->cwnd = t->ssthresh;
		TCP_INC(t->st, tlp_recovery);
	} else if (ack == t->snd_max) {
		t->tlp_out = false; /* nothing left to tell: no response */
	}
}

void tcp_rec_ack(struct tcp_tcb *t, const struct tcp_seg *s, uint32_t prior_una, uint32_t acked)
{
	uint32_t delivered = 0, newly = 0;
	unsigned marked = 0;
	bool exited = false;

	(void)prior_una;
	if (s->opt.nsack)
		dsack_check(t, s);
	if (acked) {
		unsigned k = 0;
		while (k < t->ntxr && tcp_seq_leq(t->txr[k].end, t->snd_una)) {
			struct tcp_txrec *r = &t->txr[k];
			if (!(r->flags & TCP_TXR_SACKED)) {
				delivered += rlen(r);
				rack_update(t, r);
			}
			if ((r->flags & TCP_TXR_EVER) && t->undo_valid)
				rtx_hist_add(t, r->seq, r->end);
			k++;
		}
		if (k)
			txr_remove(t, 0, k);
		if (t->ntxr && tcp_seq_lt(t->txr[0].seq, t->snd_una)) {
			if (!(t->txr[0].flags & TCP_TXR_SACKED))
				delivered += t->snd_una - t->txr[0].seq;
			t->txr[0].seq = t->snd_una;
		}
		tcp_sack_prune(&t->sb, t->snd_una);
		t->dupacks = 0;
	}
	if (s->opt.nsack) {
		tcp_sack_update(&t->sb, t->snd_una, t->snd_max, s->opt.sack, s->opt.nsack);
		newly = txr_mark_sacked(t);
		delivered += newly;
	}
	/* RFC 6675 2: a duplicate ACK is one that SACKs new data (piggybacked
	 * on data or not: the peer's own stream must not hide the losses). */
	if (!acked && newly && t->dupacks < 255)
		t->dupacks++;
	if (delivered)
		t->tlp_cnt = 0;
	tlp_ack(t, s->ack);

	/* Loss detection: RACK, then IsLost, then the DupAcks rule. */
	marked = rack_detect(t);
	marked += mark_islost(t);
	if (!t->in_recovery && !t->in_loss && t->dupacks >= t->dupthresh && t->ntxr &&
	    !(t->txr[0].flags & (TCP_TXR_SACKED | TCP_TXR_LOST | TCP_TXR_RTX))) {
		t->txr[0].flags |= TCP_TXR_LOST;
		marked++;
	}
	(void)marked;
	try_undo(t);

	if (t->in_loss && tcp_seq_geq(t->snd_una, t->recover))
		t->in_loss = false;
	if (t->in_recovery && tcp_seq_geq(t->snd_una, t->recover)) {
		/* RFC 6675 5 / RFC 6937: recovery ends, cwnd = ssthresh. */
		exited = true;
		t->in_recovery = false;
		t->dupacks = 0;
		t->cwnd = t->ssthresh;
		t->ca_acked = 0;
	}
	if (!t->in_recovery && !t->in_loss && have_lost(t))
		enter_recovery(t);
	if (t->in_recovery)
		prr_update(t, delivered);
	else if (acked && !exited)
		tcp_cc_grow(t, acked);
	tcp_rec_schedule(t, acked > 0, delivered > 0);
}

/* ---- sending ---------------------------------------------------------- */

enum nextseg { NS_NONE, NS_RTX, NS_NEW, NS_RESCUE };

/* Data part of a retransmission of [seq, end) (FIN excluded), <= mss. */
static uint32_t rtx_len(const struct tcp_tcb *t, uint32_t seq, uint32_t end, uint32_t mss)
{
	uint32_t data_end = t->snd_una + t->sb_len;
	uint32_t e = tcp_seq_min(end, data_end);
	uint32_t len = tcp_seq_gt(e, seq) ? e - seq : 0;

	return len > mss ? mss : len;
}

/* RFC 6675 4 NextSeg. */
static enum nextseg nextseg(struct tcp_tcb *t, uint32_t mss, uint32_t *seq, uint32_t *len)
{
	uint32_t data_end = t->snd_una + t->sb_len, hi_sacked = t->snd_una;
	bool any_sacked = false;
	int hi_unsacked = -1;

	for (unsigned i = 0; i < t->ntxr; i++) {
		const struct tcp_txrec *r = &t->txr[i];
		if (r->flags & TCP_TXR_SACKED) {
			hi_sacked = r->end;
			any_sacked = true;
		} else {
			hi_unsacked = (int)i;
		}
	}
	/* (1) the first record deemed lost and not yet resent */
	for (unsigned i = 0; i < t->ntxr; i++) {
		const struct tcp_txrec *r = &t->txr[i];
		if ((r->flags & (TCP_TXR_SACKED | TCP_TXR_LOST | TCP_TXR_RTX)) != TCP_TXR_LOST)
			continue;
		*seq = r->seq;
		*len = rtx_len(t, r->seq, r->end, mss);
		return NS_RTX;
	}
	/* (2) new data, within the peer's window (from snd_nxt, which only
	 * lags snd_max after tcp_icmp_mtu() rewound it) */
	{
		uint32_t avail = tcp_seq_lt(t->snd_nxt, data_end) ? data_end - t->snd_nxt : 0;
		uint32_t lim = t->snd_una + t->snd_wnd;
		uint32_t room = tcp_seq_gt(lim, t->snd_nxt) ? lim - t->snd_nxt : 0;
		uint32_t n = avail < room ? avail : room;
		if (n > mss)
			n = mss;
		if (n > 0 && (n == avail || n >= t->max_snd_wnd / 2 || n == mss)) {
			*seq = t->snd_nxt;
			*len = n;
			return NS_NEW;
		}
		if (avail == 0 && t->fin_queued && !t->fin_sent) {
			*seq = t->snd_nxt;
			*len = 0;
			return NS_NEW;
		}
	}
	/* (3) unSACKed, not yet resent, below the highest SACKed byte */
	if (any_sacked) {
		for (unsigned i = 0; i < t->ntxr; i++) {
			const struct tcp_txrec *r = &t->txr[i];
			if (tcp_seq_geq(r->seq, hi_sacked))
				break;
			if (r->flags & (TCP_TXR_SACKED | TCP_TXR_LOST | TCP_TXR_RTX))
				continue;
			*seq = r->seq;
			*len = rtx_len(t, r->seq, r->end, mss);
			return NS_RTX;
		}
	}
	/* (4) one rescue retransmission per recovery: the highest unSACKed
	 * segment */
	if (t->in_recovery && !t->rescue_done && hi_unsacked >= 0) {
		const struct tcp_txrec *r = &t->txr[hi_unsacked];
		uint32_t s = r->seq;
		uint32_t dend = tcp_seq_min(r->end, data_end);
		if (tcp_seq_gt(dend, s) && dend - s > mss)
			s = dend - mss;
		*seq = s;
		*len = rtx_len(t, s, r->end, mss);
		return NS_RESCUE;
	}
	return NS_NONE;
}

bool tcp_rec_output(struct tcp_tcb *t)
{
	uint32_t mss = tcp_effective_mss(t), pipe = tcp_pipe(t);
	bool sent = false;

	for (unsigned guard = 0; guard < 2u * t->txr_cap + 64; guard++) {
		uint32_t seq, len, n;
		enum nextseg k = nextseg(t, mss, &seq, &len);

		if (k == NS_NONE)
			break;
		if (pipe >= t->cwnd || t->cwnd - pipe < (len ? len : 1))
			break;
		if (k == NS_RESCUE && t->cwnd - pipe < mss)
			break;
		n = tcp_xmit_data(t, seq, len, false);
		if (n == 0)
			break;
		if (k == NS_NEW)
			t->snd_nxt += n;
		else
			TCP_INC(t->st, sack_retrans);
		if (k == NS_RESCUE)
			t->rescue_done = true;
		if (t->in_recovery)
			t->prr_out += n;
		pipe += n;
		sent = true;
	}
	return sent;
}

/* ---- timers ----------------------------------------------------------- */

/* RFC 8985 7.2 sends one probe, outside recovery. We depart from it in
 * two ways, both for the case where no ACK comes back to clock anything:
 *  - we also probe during fast recovery: when PRR has let only a few
 *    segments out and all of them are lost, only the RTO (200 ms minimum)
 *    would get the connection going again;
 *  - a probe or its ACK can be lost too (10% at 5% loss each way), so up
 *    to TCP_TLP_MAX probes go out, at PTO, 2 PTO and 4 PTO of silence,
 *    before the RTO. Any ACK that brings news re-enables them.
 * A probe is one segment; a dead peer costs three segments more. */
static bool tlp_eligible(const struct tcp_tcb *t)
{
	if (!t->sack_ok || t->in_loss || t->tlp_cnt >= TCP_TLP_MAX || !t->rtt.sampled)
		return false;
	switch (t->state) {
	case TCP_ESTABLISHED:
	case TCP_CLOSE_WAIT:
	case TCP_FIN_WAIT_1:
	case TCP_CLOSING:
	case TCP_LAST_ACK:
		return t->snd_una != t->snd_max;
	default:
		return false;
	}
}

static uint64_t ms_ceil_from_now(const struct tcp_stack *st, uint64_t us)
{
	uint64_t ms = (us + 999) / 1000;

	return tcp_now_ms(st) + (ms ? ms : 1);
}

void tcp_rec_schedule(struct tcp_tcb *t, bool restart, bool new_data)
{
	struct tcp_stack *st = t->st;
	uint64_t due;

	if (t->snd_una == t->snd_max) {
		if (t->rtx_mode != TCP_RTX_PERSIST) {
			timer_cancel(st->wheel, &t->rtx_timer);
			t->rtx_mode = TCP_RTX_NONE;
			t->rto_due_ms = 0;
		}
		return;
	}
	/* RFC 6298 5.3: only an ACK of new data restarts the RTO; otherwise
	 * the running deadline stands (5.1) whatever the probes do. */
	if (restart)
		t->rto_due_ms = 0;
	due = tcp_rto_due(t);
	if (t->reo_deadline_us) {
		uint64_t wait =
			t->reo_deadline_us > st->now_us ? t->reo_deadline_us - st->now_us : 1;
		uint64_t at = ms_ceil_from_now(st, wait);
		if (at < due) {
			t->rtx_mode = TCP_RTX_REO;
			timer_arm(st->wheel, &t->rtx_timer, at);
			return;
		}
	}
	if (tlp_eligible(t)) {
		if (restart || new_data || t->rtx_mode != TCP_RTX_TLP ||
		    !timer_pending(&t->rtx_timer)) {
			uint64_t pto = 2ull * t->rtt.srtt_us, at;
			pto += t->snd_max - t->snd_una <= tcp_effective_mss(t) ? TLP_DELACK_US
									       : 2000;
			pto <<= t->tlp_cnt;
			at = ms_ceil_from_now(st, pto);
			/* RFC 8985 7.2: a probe only ever comes before the RTO. */
			if (at < due) {
				t->rtx_mode = TCP_RTX_TLP;
				timer_arm(st->wheel, &t->rtx_timer, at);
				return;
			}
		} else {
			return; /* the pending probe stays (it is due before the RTO) */
		}
	}
	tcp_rto_arm_due(t);
}

void tcp_rec_reo_fire(struct tcp_tcb *t)
{
	TCP_INC(t->st, rack_reo_timeout);
	rack_detect(t);
	if (!t->in_recovery && !t->in_loss && have_lost(t)) {
		enter_recovery(t);
		prr_update(t, 0);
	}
	t->rtx_mode = TCP_RTX_NONE;
	tcp_rec_schedule(t, false, false);
}

void tcp_rec_tlp_fire(struct tcp_tcb *t)
{
	uint32_t mss = tcp_effective_mss(t), data_end = t->snd_una + t->sb_len;
	uint32_t avail = tcp_seq_lt(t->snd_nxt, data_end) ? data_end - t->snd_nxt : 0;
	uint32_t lim = t->snd_una + t->snd_wnd;
	uint32_t room = tcp_seq_gt(lim, t->snd_nxt) ? lim - t->snd_nxt : 0;

	t->rtx_mode = TCP_RTX_NONE;
	if (!tlp_eligible(t) || t->ntxr == 0) {
		tcp_rto_arm_due(t);
		return;
	}
	TCP_INC(t->st, tlp_probes);
	t->tlp_cnt++;
	if (avail > 0 && room > 0 && tcp_seq_geq(t->snd_nxt, t->snd_max)) {
		uint32_t n = avail < room ? avail : room;
		n = tcp_xmit_data(t, t->snd_nxt, n < mss ? n : mss, true);
		t->snd_nxt += n;
		t->tlp_rtx = false;
		if (t->in_recovery)
			t->prr_out += n;
	} else {
		/* The highest unSACKed segment (the last one outside recovery). */
		const struct tcp_txrec *r = &t->txr[t->ntxr - 1];
		uint32_t s, dend, n;
		for (unsigned i = t->ntxr; i-- > 0;)
			if (!(t->txr[i].flags & TCP_TXR_SACKED)) {
				r = &t->txr[i];
				break;
			}
		s = r->seq;
		dend = tcp_seq_min(r->end, data_end);
		if (tcp_seq_gt(dend, s) && dend - s > mss)
			s = dend - mss;
		n = tcp_xmit_data(t, s, rtx_len(t, s, r->end, mss), true);
		t->tlp_rtx = true;
		if (t->in_recovery)
			t->prr_out += n;
	}
	t->tlp_high_seq = t->snd_max;
	t->tlp_out = true;
	tcp_rec_schedule(t, false, false); /* the next probe, or the RTO */
}

void tcp_rec_rto(struct tcp_tcb *t)
{
	uint32_t mss = tcp_effective_mss(t), flight = t->snd_max - t->snd_una;
	struct tcp_txrec *r;

	/* RFC 5681 (4) only for the first timeout of this loss. */
	if (!t->in_loss || t->rto_retrans == 0)
		t->ssthresh = flight / 2 > 2 * mss ? flight / 2 : 2 * mss;
	t->cwnd = mss;
	t->ca_acked = 0;
	t->in_recovery = false;
	t->in_loss = true;
	t->dupacks = 0;
	t->recover = t->snd_max;
	t->tlp_out = false;
	t->tlp_cnt = 0;
	t->undo_valid = false;
	t->reo_deadline_us = 0;
	t->rtt_timing = false;
	if (t->rto_retrans >= 1) {
		/* A second timeout in a row: the peer may have reneged. */
		t->sb.n = 0;
		for (unsigned i = 0; i < t->ntxr; i++)
			t->txr[i].flags &= (uint8_t)~TCP_TXR_SACKED;
	}
	for (unsigned i = 0; i < t->ntxr; i++)
		if (!(t->txr[i].flags & TCP_TXR_SACKED))
			t->txr[i].flags =
				(uint8_t)((t->txr[i].flags | TCP_TXR_LOST) & ~TCP_TXR_RTX);
	if (t->backoff < 31)
		t->backoff++;
	t->rto_retrans++;
	if (t->ntxr == 0) {
		/* Nothing recorded (cannot happen): resend from snd_una. */
		uint32_t len = t->sb_len < mss ? t->sb_len : mss;
		t->snd_nxt = t->snd_una;
		t->snd_nxt += tcp_xmit_data(t, t->snd_una, len, true);
		return;
	}
	/* The head always goes, even if SACKed (RFC 2018 8: reneging). */
	r = &t->txr[0];
	r->flags &= (uint8_t)~TCP_TXR_SACKED;
	tcp_xmit_data(t, r->seq, rtx_len(t, r->seq, r->end, mss), true);
}
