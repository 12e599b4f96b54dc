/*
 * fuzz_tcp.c - libFuzzer target for the TCP core.
 *
 * Each input is a little program interpreted by run(): segments built from
 * fuzz bytes (flags, sequence/ack numbers as raw values or as deltas from
 * the connection's real state, raw option bytes, payload lengths) sent to
 * a listener, to two established connections (one passive, one active),
 * to fresh flows and to a closed port; raw malformed headers; the passing
 * of time (all timers); application calls (send, consume, shutdown, close,
 * abort, connect); ICMP path-MTU messages.
 *
 * After every step check() verifies the core's invariants (sequence
 * ordering, buffer accounting, every bound); a violation aborts, which
 * libFuzzer reports as a crash. At the end the stack is destroyed and every
 * buffer reference taken through buf_ref must have been released.
 *
 * Crash inputs are kept in regressions/ and replayed by the normal build's
 * 'fuzz-tcp-replay' test (replay.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_APP 16

struct fz {
	const uint8_t *p;
	size_t n;
	struct henv *h;
	struct tcp_tcb *app[MAX_APP]; /* TCBs the "application" owns */
	unsigned napp;
	struct tcp_key ka, kb; /* the passive and the active flow */
	uint32_t peer_seq[4], peer_ts;
};

static uint8_t next8(struct fz *f)
{
	if (f->n == 0)
		return 0;
	f->n--;
	return *f->p++;
}

static uint16_t next16(struct fz *f)
{
	return (uint16_t)(next8(f) << 8 | next8(f));
}

static uint32_t next32(struct fz *f)
{
	return (uint32_t)next16(f) << 16 | next16(f);
}

#define FZ_CHECK(c)                                                                       \
	do {                                                                              \
		if (!(c)) {                                                               \
			fprintf(stderr, "fuzz_tcp: invariant failed: %s (line %d)\n", #c, \
				__LINE__);                                                \
			abort();                                                          \
		}                                                                         \
	} while (0)

static void app_add(struct fz *f, struct tcp_tcb *t)
{
	for (unsigned i = 0; i < f->napp; i++)
		if (f->app[i] == t)
			return;
	if (f->napp < MAX_APP) {
		f->app[f->napp++] = t;
		return;
	}
	/* Too many: give this one back at once. */
	tcp_abort(t, f->h->now);
}

static void app_del(struct fz *f, struct tcp_tcb *t)
{
	for (unsigned i = 0; i < f->napp; i++)
		if (f->app[i] == t) {
			f->app[i] = f->app[--f->napp];
			return;
		}
}

static void fz_cb(struct tcp_tcb *t, void *user, enum tcp_event ev, int reason)
{
	struct fz *f = user;

	(void)reason;
	switch (ev) {
	case TCP_EV_ACCEPTED:
	case TCP_EV_ESTABLISHED:
		tcp_set_callback(t, fz_cb, f);
		app_add(f, t);
		break;
	case TCP_EV_CLOSED:
		app_del(f, t);
		tcp_close(t, f->h->now);
		break;
	default:
		break;
	}
}

static void check_tcb(struct tcp_stack *st, struct tcp_tcb *t)
{
	uint32_t n = 0, bytes = 0, charge = 0;
	uint32_t cs = st->cfg.chunk_size;

	FZ_CHECK(t->state < TCP_STATE_COUNT);
	if (t->state == TCP_CLOSED) {
		FZ_CHECK(!t->in_table);
		FZ_CHECK(t->sb_len == 0 && !t->ooo);
	}
	if (t->state >= TCP_SYN_SENT && t->state != TCP_CLOSED) {
		FZ_CHECK(tcp_seq_leq(t->snd_una, t->snd_nxt));
		FZ_CHECK(tcp_seq_leq(t->snd_nxt, t->snd_max));
	}
	if (t->state >= TCP_ESTABLISHED && t->state != TCP_TIME_WAIT) {
		/* sequence space sent never exceeds data + SYN/FIN */
		FZ_CHECK(t->snd_max - t->snd_una <= t->sb_len + 1);
		FZ_CHECK(t->cwnd >= 1 && t->mss >= 64);
	}
	FZ_CHECK(t->sb_len <= st->cfg.sndbuf);
	FZ_CHECK(t->sb_chunks == 0 || t->sb_off < cs);
	FZ_CHECK(t->sb_len == 0 || (t->sb_off + t->sb_len + cs - 1) / cs == t->sb_chunks);
	for (const struct tcp_rseg *r = t->rq_head; r; r = r->next) {
		n++;
		bytes += r->len;
		charge += tcp_rseg_charge(r);
		FZ_CHECK(r->len > 0 || r == t->rq_head);
	}
	FZ_CHECK(n == t->rq_segs && bytes == t->rq_bytes && charge == t->rq_charge);
	n = bytes = charge = 0;
	for (const struct tcp_rseg *r = t->ooo; r; r = r->next) {
		n++;
		bytes += r->len;
		charge += tcp_rseg_charge(r);
		FZ_CHECK(r->len > 0);
		FZ_CHECK(tcp_seq_gt(r->seq, t->rcv_nxt));
		if (r->next)
			FZ_CHECK(tcp_seq_leq(r->seq + r->len, r->next->seq));
	}
	FZ_CHECK(n == t->ooo_segs && bytes == t->ooo_bytes && charge == t->ooo_charge);
	FZ_CHECK(t->rq_segs + t->ooo_segs <= st->cfg.rcv_segs_per_conn);
	FZ_CHECK(t->ooo_segs <= st->cfg.ooo_segs_max && t->ooo_charge <= st->cfg.rcvbuf);
	/* held bytes stay inside what we offered (rounding of the scaled
	 * window may add less than one scale unit) */
	FZ_CHECK(t->rq_bytes + t->ooo_bytes <= st->cfg.rcvbuf + (1u << t->rcv_wscale));
	/* transmit records: sorted, contiguous, exactly [snd_una, snd_max) */
	FZ_CHECK(t->ntxr <= t->txr_cap && t->txr_cap == st->txr_cap);
	FZ_CHECK(t->dupthresh >= 3 && t->dupthresh <= TCP_DUPTHRESH_MAX);
	if (t->state >= TCP_ESTABLISHED && t->state <= TCP_LAST_ACK) {
		if (t->ntxr == 0) {
			FZ_CHECK(t->snd_una == t->snd_max);
		} else {
			FZ_CHECK(t->txr[0].seq == t->snd_una);
			FZ_CHECK(t->txr[t->ntxr - 1].end == t->snd_max);
		}
		for (unsigned i = 0; i < t->ntxr; i++) {
			FZ_CHECK(tcp_seq_lt(t->txr[i].seq, t->txr[i].end));
			if (i + 1 < t->ntxr)
				FZ_CHECK(t->txr[i].end == t->txr[i + 1].seq);
		}
		FZ_CHECK(tcp_pipe(t) <= 2 * (t->snd_max - t->snd_una));
	}
	for (unsigned i = 0; i < t->sb.n; i++) {
		FZ_CHECK(tcp_seq_lt(t->sb.b[i].start, t->sb.b[i].end));
		if (i + 1 < t->sb.n)
			FZ_CHECK(tcp_seq_lt(t->sb.b[i].end, t->sb.b[i + 1].start));
	}
}

static void check(struct fz *f)
{
	struct tcp_stack *st = f->h->st;
	uint32_t tcbs = 0, chunks = 0, rsegs = 0;
	uint64_t held = 0, ooo_held = 0;
	uint32_t ooo_rsegs = 0;

	for (uint32_t i = 0; i < st->cfg.max_tcbs; i++) {
		struct tcp_tcb *t = &st->tcbs[i];
		if (t->type != TCP_OBJ_TCB)
			continue;
		tcbs++;
		check_tcb(st, t);
		chunks += t->sb_chunks;
		rsegs += t->rq_segs + t->ooo_segs;
		held += t->rq_charge + t->ooo_charge;
		ooo_held += t->ooo_charge;
		ooo_rsegs += t->ooo_segs;
		if (t->in_table)
			FZ_CHECK(f->h->env.flow_lookup(f->h, &t->key) == t);
	}
	FZ_CHECK(tcbs == st->tcbs_used && tcbs <= st->cfg.max_tcbs);
	FZ_CHECK(chunks == st->chunks_used && chunks <= st->cfg.snd_chunks);
	FZ_CHECK(rsegs == st->rsegs_used && rsegs <= st->cfg.rcv_segs);
	FZ_CHECK(held == st->rcv_held && held <= st->cfg.rcv_mem);
	FZ_CHECK(ooo_held == st->ooo_held && ooo_held <= st->cfg.rcv_mem / 2);
	FZ_CHECK(ooo_rsegs == st->ooo_rsegs && ooo_rsegs <= st->cfg.rcv_segs / 2);
	FZ_CHECK(st->tws_used <= st->cfg.max_timewait);
	/* every reference the core holds is on a live buffer, and every live
	 * buffer is referenced (the caller's own reference is dropped after
	 * tcp_input; a segment filling several gaps is held once per piece) */
	FZ_CHECK((long)st->bufs_held == h_refs_live);
	FZ_CHECK(h_bufs_live <= h_refs_live);
	FZ_CHECK(st->depth == 0 && st->reap == NULL);
	for (uint32_t i = 0; i < st->cfg.max_listeners; i++)
		if (st->listeners[i].used)
			FZ_CHECK(st->listeners[i].synq_len <= st->listeners[i].backlog);
}

/* Key of target @sel: the two established flows, fresh flows to the
 * listener, a closed port, any connection the application holds. */
static void target_key(struct fz *f, unsigned sel, struct tcp_key *k)
{
	switch (sel % 5) {
	case 0:
		*k = f->ka;
		break;
	case 1:
		*k = f->kb;
		break;
	case 2:
		h_key(k, 25, (uint16_t)(41000 + next8(f) % 8));
		break;
	case 3:
		h_key(k, 26, 42000);
		break;
	default:
		if (f->napp)
			*k = *tcp_tcb_key(f->app[next8(f) % f->napp]);
		else
			*k = f->ka;
		break;
	}
}

/* For a flow without state: the last SYN(-ACK) the stack sent on it, so a
 * reply can complete a handshake or return a SYN cookie. */
static bool last_syn(struct fz *f, const struct tcp_key *k, uint32_t *seq, uint32_t *ack)
{
	unsigned n = f->h->nlog < H_LOG ? f->h->nlog : H_LOG;

	for (unsigned i = n; i-- > 0;) {
		const struct hseg *s = &f->h->log[i];
		if ((s->flags & TCP_SYN) && memcmp(&s->key, k, sizeof(*k)) == 0) {
			*seq = s->ack;
			*ack = s->seq + 1;
			return true;
		}
	}
	return false;
}

static void fuzz_segment(struct fz *f, bool polite)
{
	struct henv *h = f->h;
	unsigned sel = next8(f);
	struct tcp_key k;
	void *obj;
	uint32_t rbase = f->peer_seq[sel % 4], abase = 0, seq, ack;
	uint32_t sseq, sack_;
	uint8_t flags, mode, opt[40];
	size_t optlen = 0;
	uint16_t wnd;
	static uint8_t payload[2048];
	size_t len;

	target_key(f, sel, &k);
	obj = h->env.flow_lookup(h, &k);
	if (obj && *(uint8_t *)obj == TCP_OBJ_TCB) {
		struct tcp_tcb *t = obj;
		rbase = t->rcv_nxt;
		abase = polite ? t->snd_max : t->snd_una;
	} else if (obj) {
		struct tcp_tw *tw = obj;
		rbase = tw->rcv_nxt;
		abase = tw->snd_nxt;
	} else if (last_syn(f, &k, &sseq, &sack_)) {
		rbase = sseq;
		abase = sack_;
	}
	flags = polite ? TCP_ACK | (next8(f) & TCP_PSH) : next8(f) & 0x3f;
	mode = polite ? 0 : next8(f);
	seq = (mode & 1) ? next32(f) : rbase + (uint32_t)(int32_t)(int16_t)(polite ? 0 : next16(f));
	ack = (mode & 2) ? next32(f) : abase + (uint32_t)(int32_t)(int16_t)(polite ? 0 : next16(f));
	wnd = polite ? 65535 : next16(f);
	if (mode & 4) {
		/* a well-formed timestamp near the peer's clock */
		f->peer_ts += next8(f);
		optlen = h_opt_ts(opt, f->peer_ts - (mode & 8 ? 100000 : 0), 0);
	}
	if ((mode & 32) && obj && *(uint8_t *)obj == TCP_OBJ_TCB && optlen + 20 <= sizeof(opt)) {
		/* SACK blocks relative to snd_una (RFC 2018 layout) */
		struct tcp_tcb *t = obj;
		unsigned nb = 1 + next8(f) % 2;
		opt[optlen++] = 1;
		opt[optlen++] = 1;
		opt[optlen++] = 5;
		opt[optlen++] = (uint8_t)(2 + 8 * nb);
		for (unsigned b = 0; b < nb; b++) {
			uint32_t st = t->snd_una + next16(f), en = st + next16(f) % 4096;
			for (int i = 0; i < 4; i++) {
				opt[optlen + i] = (uint8_t)(st >> (24 - 8 * i));
				opt[optlen + 4 + i] = (uint8_t)(en >> (24 - 8 * i));
			}
			optlen += 8;
		}
	}
	if (mode & 16) {
		size_t extra = next8(f) % (sizeof(opt) - optlen + 1);
		for (size_t i = 0; i < extra; i++)
			opt[optlen++] = next8(f);
	}
	len = polite ? next8(f) * 8u : next16(f) % 1601;
	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(seq + i);
	h_inject(h, &k, seq, ack, flags, wnd, opt, optlen, payload, len);
	f->peer_seq[sel % 4] = seq + (uint32_t)len;
}

static void fuzz_app(struct fz *f)
{
	struct henv *h = f->h;
	struct tcp_tcb *t;
	static uint8_t buf[8192];
	uint8_t op;

	if (f->napp == 0)
		return;
	t = f->app[next8(f) % f->napp];
	op = next8(f) % 7;
	switch (op) {
	case 0: {
		size_t n = next16(f) % sizeof(buf);
		ssize_t w = tcp_send(t, buf, n, h->now);
		FZ_CHECK(w <= (ssize_t)n);
		break;
	}
	case 1: {
		size_t n = next16(f);
		struct tcp_iov iov[8];
		if (n > tcp_recv_avail(t))
			n = tcp_recv_avail(t);
		tcp_recv_peek(t, iov, 8);
		FZ_CHECK(tcp_recv_consume(t, n, h->now) == 0);
		break;
	}
	case 2:
		tcp_shutdown(t, h->now);
		break;
	case 3:
		app_del(f, t);
		tcp_close(t, h->now);
		break;
	case 4:
		app_del(f, t);
		tcp_abort(t, h->now);
		break;
	case 5:
		tcp_set_nodelay(t, next8(f) & 1);
		break;
	default:
		tcp_set_keepalive(t, next8(f) & 1);
		break;
	}
}

static void fuzz_raw(struct fz *f)
{
	uint8_t raw[80];
	size_t len = next8(f) % sizeof(raw);
	struct tcp_key k;

	target_key(f, next8(f), &k);
	for (size_t i = 0; i < len; i++)
		raw[i] = next8(f);
	h_input_raw(f->h, &k, raw, len);
}

/* Bring up the two established connections the program starts from. */
static void setup(struct fz *f)
{
	struct henv *h = f->h;
	const struct hseg *s;
	uint8_t o[40];
	size_t n;
	struct tcp_tcb *t;

	/* passive: 10.0.0.2:40000 -> :25, with every option */
	h_key(&f->ka, 25, 40000);
	n = h_opt_syn(o, 1200, 6, true, true, 1000, 0);
	h_inject(h, &f->ka, 7000, 0, TCP_SYN, 65535, o, n, NULL, 0);
	s = h_last(h);
	n = h_opt_ts(o, 1001, s->opt.tsval);
	h_inject(h, &f->ka, 7001, s->seq + 1, TCP_ACK, 65535, o, n, NULL, 0);
	f->peer_seq[0] = 7001;
	/* active: :lport -> 10.0.0.2:80, no options from the peer */
	h_key(&f->kb, 0, 80);
	t = tcp_connect(h->st, &f->kb, fz_cb, f, h->now);
	if (t) {
		f->kb = t->key;
		s = h_last(h);
		n = h_opt_syn(o, 536, -1, false, false, 0, 0);
		h_inject(h, &f->kb, 9000, s->seq + 1, TCP_SYN | TCP_ACK, 8000, o, n, NULL, 0);
		f->peer_seq[1] = 9001;
	}
	f->peer_ts = 2000;
}

static void run(struct fz *f)
{
	struct henv *h = f->h;
	unsigned steps = 0;

	setup(f);
	check(f);
	while (f->n > 0 && steps++ < 256) {
		switch (next8(f) % 10) {
		case 0:
		case 1:
			fuzz_segment(f, false);
			break;
		case 2:
			fuzz_segment(f, true);
			break;
		case 3: {
			uint64_t ms = (uint64_t)next8(f) * (next8(f) % 16 + 1);
			h->now += ms * 1000;
			tcp_stack_advance(h->st, h->now);
			break;
		}
		case 4:
			fuzz_app(f);
			break;
		case 5: {
			struct tcp_key k;
			struct tcp_tcb *t;
			h_key(&k, 0, (uint16_t)(80 + next8(f) % 4));
			t = tcp_connect(h->st, &k, fz_cb, f, h->now);
			if (t)
				app_add(f, t); /* owned from now on */
			break;
		}
		case 6: {
			struct tcp_key k;
			unsigned sel = next8(f);
			void *obj;
			uint32_t seq = 0;
			target_key(f, sel, &k);
			obj = h->env.flow_lookup(h, &k);
			if (obj && *(uint8_t *)obj == TCP_OBJ_TCB)
				seq = ((struct tcp_tcb *)obj)->snd_una;
			tcp_icmp_mtu(h->st, &k, seq + (next8(f) % 4) * 500, next16(f), h->now);
			break;
		}
		case 7:
			fuzz_raw(f);
			break;
		case 8:
			h->fail_output = next8(f) % 3;
			break;
		default: {
			/* a burst of identical segments: duplicate ACKs */
			unsigned k = 1 + next8(f) % 5;
			const uint8_t *p0 = f->p;
			size_t n0 = f->n;
			for (unsigned i = 0; i < k; i++) {
				f->p = p0;
				f->n = n0;
				fuzz_segment(f, false);
				check(f);
			}
			break;
		}
		}
		check(f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct henv h; /* big: keep it off the stack */
	struct fz f;
	struct tcp_config c;

	tcp_config_default(&c);
	c.max_tcbs = 8;
	c.max_timewait = 4;
	c.max_listeners = 2;
	c.snd_chunks = 24;
	c.chunk_size = 1024;
	c.sndbuf = 6000;
	c.rcvbuf = 8000;
	c.rcv_segs = 24;
	c.rcv_segs_per_conn = 8;
	c.ooo_segs_max = 6;
	c.rcv_mem = 20000;
	c.time_wait_ms = 3000;
	c.fin_wait2_ms = 3000;
	c.syn_retries = 2;
	c.synack_retries = 2;
	c.retries = 4;
	c.ka_idle_ms = 2000;
	c.ka_intvl_ms = 500;
	c.ka_probes = 2;
	c.challenge_ack_limit = 5;
	memset(&f, 0, sizeof(f));
	f.p = data;
	f.n = size;
	h_init(&h, &c);
	h.truesize = 512; /* small pieces cost more than their payload */
	f.h = &h;
	if (!tcp_listen(h.st, 0, 25, 2, fz_cb, &f))
		abort();
	run(&f);
	h_fini(&h);
	FZ_CHECK(h_bufs_live == 0);
	return 0;
}
