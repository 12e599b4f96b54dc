/*
 * tcp_buf.c - bounded buffers of a connection.
 *
 * Send side: the bytes [snd_una, snd_una + sb_len) live in a list of
 * fixed-size chunks from the stack's chunk pool, every chunk full except
 * the last, so byte i (counted from snd_una) is at chunk (sb_off + i) /
 * chunk_size. Bounded by cfg.sndbuf per connection and by the pool.
 *
 * Receive side (zero copy): payload stays in the dataplane's buffers. A
 * struct tcp_rseg holds one reference (buf_ref) and a (data, len) window
 * into it; trimming moves the window. In-order data waits in rq until the
 * application consumes it; data beyond a hole waits in the sorted,
 * non-overlapping ooo list. Bounds: cfg.rcvbuf bytes and
 * cfg.rcv_segs_per_conn descriptors per connection, cfg.rcv_segs
 * descriptors and cfg.rcv_mem bytes for the whole stack.
 *
 * Accounting is by what a piece really pins, not by its payload: each
 * piece is charged tcp_rseg_charge(), the buffer's truesize as the env
 * reports it (an mbuf's whole data room) or the payload if larger. A
 * 1-byte segment held past a hole costs a full mbuf, so that is what it
 * costs here. A buffer held as several pieces (a segment filling several
 * gaps) is charged once per piece: it over-counts, never under-counts.
 *
 * Out-of-order data is capped twice, Linux-style (tcp_data_queue_ofo
 * drops when over the receive buffer): per connection at
 * cfg.ooo_segs_max pieces and cfg.rcvbuf of charge, counted in
 * TCPOFOCapDrop; stack-wide at half of cfg.rcv_segs and half of
 * cfg.rcv_mem, counted in TCPOFODrop, so in-order data (what applications
 * read and free) always keeps the other half however many connections
 * send fragments past a hole. An OOO piece dropped costs the peer a
 * retransmission, never correctness. Collapsing small pieces into one
 * buffer would save more but needs a copy target the core does not own.
 */
#include <string.h>

#include "dataplane/tcp/tcp-int.h"

/* ---- send chunks ----------------------------------------------------- */

struct tcp_chunk *tcp_chunk_alloc(struct tcp_stack *st)
{
	struct tcp_chunk *c = st->chunk_free;

	if (!c)
		return NULL;
	st->chunk_free = c->next;
	c->next = NULL;
	st->chunks_used++;
	return c;
}

void tcp_chunk_put(struct tcp_stack *st, struct tcp_chunk *c)
{
	c->next = st->chunk_free;
	st->chunk_free = c;
	st->chunks_used--;
}

size_t tcp_sb_space(const struct tcp_tcb *t)
{
	const struct tcp_stack *st = t->st;
	uint32_t cs = st->cfg.chunk_size;
	size_t room, in_tail = 0;
	uint32_t free_chunks = st->cfg.snd_chunks - st->chunks_used;

	size_t limit = st->cfg.sndbuf;

	if (tcp_snd_pressure(st) && tcp_sb_pressure_cap(st) < limit)
		limit = tcp_sb_pressure_cap(st);
	if (t->sb_len >= limit)
		return 0;
	room = limit - t->sb_len;
	if (t->sb_tail) {
		uint32_t used = (t->sb_off + t->sb_len) - (t->sb_chunks - 1) * cs;
		in_tail = cs - used;
	}
	if (in_tail + (size_t)free_chunks * cs < room)
		room = in_tail + (size_t)free_chunks * cs;
	return room;
}

size_t tcp_sb_append(struct tcp_tcb *t, const uint8_t *data, size_t len)
{
	struct tcp_stack *st = t->st;
	uint32_t cs = st->cfg.chunk_size;
	size_t room = tcp_sb_space(t), done = 0;

	if (len > room)
		len = room;
	while (done < len) {
		uint32_t used, n;

		used = t->sb_tail ? (t->sb_off + t->sb_len) - (t->sb_chunks - 1) * cs : cs;
		if (used == cs) {
			struct tcp_chunk *c = tcp_chunk_alloc(st);
			if (!c)
				break; /* cannot happen: room accounted for the pool */
			if (t->sb_tail)
				t->sb_tail->next = c;
			else {
				t->sb_head = c;
				t->sb_off = 0;
			}
			t->sb_tail = c;
			t->sb_chunks++;
			used = 0;
		}
		n = cs - used;
		if (n > len - done)
			n = (uint32_t)(len - done);
		memcpy(t->sb_tail->data + used, data + done, n);
		t->sb_len += n;
		done += n;
	}
	return done;
}

void tcp_sb_drop(struct tcp_tcb *t, uint32_t n)
{
	struct tcp_stack *st = t->st;
	uint32_t cs = st->cfg.chunk_size;

	if (n > t->sb_len)
		mx_panic("tcp: sb_drop %u > %u", n, t->sb_len);
	t->sb_len -= n;
	t->sb_off += n;
	if (t->sb_len == 0) {
		tcp_sb_clear(t);
		return;
	}
	while (t->sb_off >= cs) {
		struct tcp_chunk *c = t->sb_head;
		t->sb_head = c->next;
		t->sb_off -= cs;
		t->sb_chunks--;
		tcp_chunk_put(st, c);
	}
}

void tcp_sb_clear(struct tcp_tcb *t)
{
	while (t->sb_head) {
		struct tcp_chunk *c = t->sb_head;
		t->sb_head = c->next;
		tcp_chunk_put(t->st, c);
	}
	t->sb_tail = NULL;
	t->sb_off = 0;
	t->sb_len = 0;
	t->sb_chunks = 0;
}

unsigned tcp_sb_iov(const struct tcp_tcb *t, uint32_t off, uint32_t len, struct tcp_iov *iov,
		    unsigned max, uint32_t *len_out)
{
	uint32_t cs = t->st->cfg.chunk_size;
	uint32_t pos = t->sb_off + off;
	const struct tcp_chunk *c = t->sb_head;
	unsigned n = 0;
	uint32_t done = 0;

	if (off + len > t->sb_len)
		len = off > t->sb_len ? 0 : t->sb_len - off;
	while (c && pos >= cs) {
		c = c->next;
		pos -= cs;
	}
	while (done < len && c && n < max) {
		uint32_t k = cs - pos;
		if (k > len - done)
			k = len - done;
		iov[n].base = c->data + pos;
		iov[n].len = k;
		n++;
		done += k;
		pos = 0;
		c = c->next;
	}
	*len_out = done;
	return n;
}

/* ---- receive segments ------------------------------------------------ */

/* Truesize of @buf as the env reports it, 0 if unknown. */
static uint32_t buf_truesize(const struct tcp_stack *st, void *buf)
{
	return st->env.buf_truesize ? st->env.buf_truesize(st->env.ctx, buf) : 0;
}

/* Charge of a piece of @len bytes of @buf (tcp_rseg_charge() once held). */
static uint32_t piece_charge(const struct tcp_stack *st, void *buf, uint32_t len)
{
	uint32_t ts = buf_truesize(st, buf);

	return ts > len ? ts : len;
}

struct tcp_rseg *tcp_rseg_get(struct tcp_tcb *t, void *buf, const uint8_t *data, uint32_t seq,
			      uint32_t len)
{
	struct tcp_stack *st = t->st;
	struct tcp_rseg *r;
	uint32_t ts;

	if (!buf)
		return NULL;
	if (t->rq_segs + t->ooo_segs >= st->cfg.rcv_segs_per_conn)
		return NULL;
	ts = buf_truesize(st, buf);
	if (st->rcv_held + (ts > len ? ts : len) > st->cfg.rcv_mem)
		return NULL;
	r = st->rseg_free;
	if (!r)
		return NULL;
	st->rseg_free = r->next;
	st->rsegs_used++;
	st->bufs_held++;
	st->env.buf_ref(st->env.ctx, buf);
	r->next = NULL;
	r->buf = buf;
	r->data = data;
	r->seq = seq;
	r->len = len;
	r->truesize = ts;
	st->rcv_held += tcp_rseg_charge(r);
	return r;
}

void tcp_rseg_put(struct tcp_tcb *t, struct tcp_rseg *r)
{
	struct tcp_stack *st = t->st;

	st->rcv_held -= tcp_rseg_charge(r);
	st->bufs_held--;
	st->env.buf_free(st->env.ctx, r->buf);
	r->buf = NULL;
	r->next = st->rseg_free;
	st->rseg_free = r;
	st->rsegs_used--;
}

uint32_t tcp_rseg_trim(struct tcp_tcb *t, struct tcp_rseg *r, uint32_t k)
{
	uint32_t before = tcp_rseg_charge(r), fell;

	if (k >= r->len)
		mx_panic("tcp: rseg_trim %u >= %u", k, r->len);
	r->data += k;
	r->seq += k;
	r->len -= k;
	fell = before - tcp_rseg_charge(r);
	t->st->rcv_held -= fell;
	return fell;
}

/* Take @r off the OOO accounting (it has left the list). */
static void ooo_uncharge(struct tcp_tcb *t, const struct tcp_rseg *r)
{
	uint32_t c = tcp_rseg_charge(r);

	t->ooo_segs--;
	t->ooo_bytes -= r->len;
	t->ooo_charge -= c;
	t->st->ooo_held -= c;
	t->st->ooo_rsegs--;
}

void tcp_rq_clear(struct tcp_tcb *t)
{
	while (t->rq_head) {
		struct tcp_rseg *r = t->rq_head;
		t->rq_head = r->next;
		tcp_rseg_put(t, r);
	}
	t->rq_tail = NULL;
	t->rq_bytes = 0;
	t->rq_charge = 0;
	t->rq_segs = 0;
	tcp_ooo_clear(t);
}

void tcp_ooo_clear(struct tcp_tcb *t)
{
	while (t->ooo) {
		struct tcp_rseg *r = t->ooo;
		t->ooo = r->next;
		ooo_uncharge(t, r);
		tcp_rseg_put(t, r);
	}
	t->ooo_fin = false;
	t->nsack_recent = 0;
}

uint32_t tcp_rcv_space(const struct tcp_tcb *t)
{
	const struct tcp_stack *st = t->st;
	uint32_t space = t->rq_bytes >= st->cfg.rcvbuf ? 0 : st->cfg.rcvbuf - t->rq_bytes;
	uint64_t global = st->cfg.rcv_mem > st->rcv_held ? st->cfg.rcv_mem - st->rcv_held : 0;

	/* Under global pressure offer no more than what is left stack-wide
	 * (the no-shrink rule in the output path keeps the right edge). */
	if (global < space)
		space = (uint32_t)global;
	return space;
}

static void rq_append(struct tcp_tcb *t, struct tcp_rseg *r)
{
	if (t->rq_tail)
		t->rq_tail->next = r;
	else
		t->rq_head = r;
	t->rq_tail = r;
	t->rq_bytes += r->len;
	t->rq_charge += tcp_rseg_charge(r);
	t->rq_segs++;
	t->rcv_nxt += r->len;
}

/* Move what the OOO queue now continues in order. */
static void ooo_drain(struct tcp_tcb *t)
{
	while (t->ooo && tcp_seq_leq(t->ooo->seq, t->rcv_nxt)) {
		struct tcp_rseg *r = t->ooo;
		uint32_t skip = t->rcv_nxt - r->seq;

		t->ooo = r->next;
		ooo_uncharge(t, r);
		r->next = NULL;
		if (skip >= r->len) {
			tcp_rseg_put(t, r);
			continue;
		}
		if (skip)
			tcp_rseg_trim(t, r, skip);
		rq_append(t, r);
	}
}

static void dsack_note(struct tcp_tcb *t, uint32_t seq, uint32_t end)
{
	if (!t->sack_ok || !tcp_seq_lt(seq, end))
		return;
	t->dsack.start = seq;
	t->dsack.end = end;
	t->dsack_pending = true;
}

static void sack_recent_push(struct tcp_tcb *t, uint32_t seq)
{
	unsigned n = t->nsack_recent < 3 ? t->nsack_recent + 1u : 3u;

	for (unsigned i = n - 1; i > 0; i--)
		t->sack_recent[i] = t->sack_recent[i - 1];
	t->sack_recent[0] = seq;
	t->nsack_recent = (uint8_t)n;
	t->ooo_last_seq = seq;
}

/* Insert [seq, seq+len) into the OOO list, keeping what is already there
 * (first copy wins) and queueing every gap the new segment covers: one
 * descriptor (and buffer reference) per gap, so a segment straddling
 * several held blocks fills all the holes in between. Bounded by the
 * descriptor limits like any other piece. */
static void ooo_insert(struct tcp_tcb *t, const struct tcp_seg *s)
{
	struct tcp_stack *st = t->st;
	uint32_t seq = s->seq, len = s->len, dup_from = 0, dup_to = 0;
	const uint8_t *data = s->data;
	struct tcp_rseg **pp = &t->ooo, *r;
	bool queued = false, dup = false;

	sack_recent_push(t, seq);
	while (len > 0) {
		/* Skip blocks entirely below; trim against one overlapping. */
		while (*pp && tcp_seq_leq((*pp)->seq + (*pp)->len, seq))
			pp = &(*pp)->next;
		if (*pp && tcp_seq_leq((*pp)->seq, seq)) {
			uint32_t cover = (*pp)->seq + (*pp)->len - seq;
			if (cover > len)
				cover = len;
			if (!dup)
				dup_from = seq;
			dup = true;
			dup_to = seq + cover;
			seq += cover;
			data += cover;
			len -= cover;
			pp = &(*pp)->next;
			continue;
		}
		/* A gap up to the next block (or the end of the segment). */
		{
			uint32_t piece = len;
			if (*pp && tcp_seq_lt((*pp)->seq, seq + len))
				piece = (*pp)->seq - seq;
			uint32_t charge = piece_charge(st, s->buf, piece);
			if (t->ooo_segs >= st->cfg.ooo_segs_max ||
			    t->ooo_charge + charge > st->cfg.rcvbuf) {
				TCP_INC(st, ofo_cap_drop);
				break;
			}
			r = NULL;
			if (st->ooo_rsegs < st->cfg.rcv_segs / 2 &&
			    st->ooo_held + charge <= st->cfg.rcv_mem / 2)
				r = tcp_rseg_get(t, s->buf, data, seq, piece);
			if (!r) {
				TCP_INC(st, ofo_drop);
				break;
			}
			r->next = *pp;
			*pp = r;
			pp = &r->next;
			charge = tcp_rseg_charge(r);
			t->ooo_segs++;
			t->ooo_bytes += piece;
			t->ooo_charge += charge;
			st->ooo_held += charge;
			st->ooo_rsegs++;
			seq += piece;
			data += piece;
			len -= piece;
			queued = true;
		}
	}
	if (queued)
		TCP_INC(st, ofo_queue);
	else if (dup)
		dsack_note(t, dup_from, dup_to); /* all of it held already */
}

void tcp_rcv_data(struct tcp_tcb *t, const struct tcp_seg *s)
{
	struct tcp_stack *st = t->st;
	struct tcp_seg d = *s;
	bool filled = false, queued = false;

	if (d.len == 0)
		return;
	if (d.seq != t->rcv_nxt) {
		ooo_insert(t, &d);
		t->ack_now = true; /* duplicate ACK with SACK info (RFC 5681 4.2) */
		return;
	}
	while (d.len > 0) {
		uint32_t len = d.len;
		struct tcp_rseg *r;

		if (d.seq != t->rcv_nxt) {
			/* What is left lies beyond the next hole. */
			if (tcp_seq_gt(d.seq, t->rcv_nxt))
				ooo_insert(t, &d);
			break;
		}
		/* Do not take bytes the OOO queue already holds. */
		if (t->ooo && tcp_seq_lt(t->ooo->seq, d.seq + len))
			len = t->ooo->seq - d.seq;
		r = len ? tcp_rseg_get(t, d.buf, d.data, d.seq, len) : NULL;
		if (len && !r) {
			if (st->rsegs_used >= st->cfg.rcv_segs ||
			    st->rcv_held + piece_charge(st, d.buf, len) > st->cfg.rcv_mem)
				TCP_INC(st, rcv_mem_drop);
			else
				TCP_INC(st, rcvq_drop);
			t->ack_now = true;
			break;
		}
		if (r) {
			rq_append(t, r);
			queued = true;
		}
		if (t->ooo) {
			ooo_drain(t);
			filled = true;
		}
		/* Skip what the OOO queue held; continue past it. */
		if (tcp_seq_leq(d.seq + d.len, t->rcv_nxt))
			break;
		{
			uint32_t skip = t->rcv_nxt - d.seq;
			if (skip == 0)
				break; /* no progress (cannot happen) */
			d.seq += skip;
			d.data += skip;
			d.len -= skip;
		}
	}
	if (!queued && !filled)
		return;
	if (filled) {
		t->ack_now = true; /* a hole was filled: ACK at once */
	} else if (++t->segs_unacked >= 2) {
		t->ack_now = true; /* every second segment (RFC 5681 4.2) */
	} else {
		tcp_delack_arm(t);
	}
	tcp_event(t, TCP_EV_READABLE);
}

/* Walk the OOO list as coalesced blocks. */
static const struct tcp_rseg *next_block(const struct tcp_rseg *r, struct tcp_sack_block *b)
{
	b->start = r->seq;
	b->end = r->seq + r->len;
	while (r->next && r->next->seq == b->end) {
		r = r->next;
		b->end = r->seq + r->len;
	}
	return r->next;
}

static bool block_of(const struct tcp_tcb *t, uint32_t seq, struct tcp_sack_block *out)
{
	const struct tcp_rseg *r = t->ooo;

	while (r) {
		r = next_block(r, out);
		if (tcp_seq_in(seq, out->start, out->end))
			return true;
	}
	return false;
}

static bool listed(const struct tcp_sack_block *b, unsigned n, uint32_t start)
{
	for (unsigned i = 0; i < n; i++)
		if (b[i].start == start)
			return true;
	return false;
}

unsigned tcp_rcv_sack_blocks(const struct tcp_tcb *t, struct tcp_sack_block *b, unsigned max)
{
	unsigned n = 0;
	const struct tcp_rseg *r;

	/* RFC 2018 4: the block holding the latest arrival first, then the
	 * blocks of the arrivals before it (most recently reported first),
	 * then the others from the lowest. */
	for (unsigned i = 0; i < t->nsack_recent && n < max; i++) {
		struct tcp_sack_block blk;
		if (block_of(t, t->sack_recent[i], &blk) && !listed(b, n, blk.start))
			b[n++] = blk;
	}
	for (r = t->ooo; r && n < max;) {
		struct tcp_sack_block blk;
		r = next_block(r, &blk);
		if (!listed(b, n, blk.start))
			b[n++] = blk;
	}
	return n;
}
