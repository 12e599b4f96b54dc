/*
 * harness.c - see harness.h.
 */
#include "harness.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H_TOMB ((void *)1)

long h_bufs_live;
long h_refs_live;

/* ---- keyed hash ---- */

uint64_t h_siphash(void *ctx, const void *data, size_t len)
{
	static EVP_MAC_CTX *base;
	static const unsigned char key[16] = "mxgate-test-key";
	EVP_MAC_CTX *c;
	unsigned char out[8];
	size_t outl = 0;
	uint64_t v;

	(void)ctx;
	if (!base) {
		EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_SIPHASH, NULL);
		size_t sz = 8;
		OSSL_PARAM p[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &sz),
				  OSSL_PARAM_construct_end()};
		if (!mac)
			abort();
		base = EVP_MAC_CTX_new(mac);
		EVP_MAC_free(mac);
		if (!base || !EVP_MAC_init(base, key, sizeof(key), p))
			abort();
	}
	c = EVP_MAC_CTX_dup(base);
	if (!c || !EVP_MAC_update(c, data, len) || !EVP_MAC_final(c, out, &outl, sizeof(out)))
		abort();
	EVP_MAC_CTX_free(c);
	memcpy(&v, out, 8);
	return v;
}

/* ---- flow table ---- */

static uint32_t key_hash(const struct tcp_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void *f_lookup(void *ctx, const struct tcp_key *key)
{
	struct henv *h = ctx;
	uint32_t i = key_hash(key) & (H_FLOWS - 1);

	for (unsigned n = 0; n < H_FLOWS; n++, i = (i + 1) & (H_FLOWS - 1)) {
		struct hflow *f = &h->flows[i];
		if (!f->obj)
			return NULL;
		if (f->obj != H_TOMB && memcmp(&f->key, key, sizeof(*key)) == 0)
			return f->obj;
	}
	return NULL;
}

static int f_insert(void *ctx, const struct tcp_key *key, void *obj)
{
	struct henv *h = ctx;
	uint32_t i = key_hash(key) & (H_FLOWS - 1);

	if (f_lookup(ctx, key))
		return -1;
	if (h->nflows >= H_FLOWS / 2)
		return -1;
	for (unsigned n = 0; n < H_FLOWS; n++, i = (i + 1) & (H_FLOWS - 1)) {
		struct hflow *f = &h->flows[i];
		if (!f->obj || f->obj == H_TOMB) {
			f->key = *key;
			f->obj = obj;
			h->nflows++;
			return 0;
		}
	}
	return -1;
}

static void f_remove(void *ctx, const struct tcp_key *key)
{
	struct henv *h = ctx;
	uint32_t i = key_hash(key) & (H_FLOWS - 1);

	for (unsigned n = 0; n < H_FLOWS; n++, i = (i + 1) & (H_FLOWS - 1)) {
		struct hflow *f = &h->flows[i];
		if (!f->obj)
			return;
		if (f->obj != H_TOMB && memcmp(&f->key, key, sizeof(*key)) == 0) {
			f->obj = H_TOMB;
			h->nflows--;
			return;
		}
	}
}

/* ---- buffers ---- */

static struct hbuf *hbuf_new(const void *data, size_t len)
{
	struct hbuf *b = malloc(sizeof(*b) + len + 1);

	if (!b)
		abort();
	b->refs = 1;
	b->len = len;
	if (len)
		memcpy(b->data, data, len);
	h_bufs_live++;
	h_refs_live++;
	return b;
}

static void hbuf_put(struct hbuf *b)
{
	if (b->refs <= 0)
		abort(); /* double free: the test fails loudly */
	h_refs_live--;
	if (--b->refs == 0) {
		h_bufs_live--;
		free(b);
	}
}

static uint32_t b_truesize(void *ctx, void *buf)
{
	(void)buf;
	return ((struct henv *)ctx)->truesize;
}

static void b_ref(void *ctx, void *buf)
{
	(void)ctx;
	((struct hbuf *)buf)->refs++;
	h_refs_live++;
}

static void b_free(void *ctx, void *buf)
{
	(void)ctx;
	hbuf_put(buf);
}

/* ---- output ---- */

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int o_output(void *ctx, const struct tcp_key *key, const void *hdr, size_t hlen,
		    const struct tcp_iov *iov, unsigned iovcnt)
{
	struct henv *h = ctx;
	struct hseg s;
	const uint8_t *p = hdr;
	size_t len = 0, off = 0;

	if (hlen < TCP_HDR_MIN || hlen > TCP_HDR_MAX || (size_t)(p[12] >> 4) * 4 != hlen)
		abort(); /* the core built a broken header */
	if (p[16] || p[17])
		abort(); /* checksum must be left 0 */
	memset(&s, 0, sizeof(s));
	s.key = *key;
	memcpy(s.hdr, hdr, hlen);
	s.hlen = hlen;
	s.seq = rd32(p + 4);
	s.ack = rd32(p + 8);
	s.flags = p[13];
	s.wnd = (uint32_t)(p[14] << 8 | p[15]);
	if (tcp_opt_parse(p + TCP_HDR_MIN, hlen - TCP_HDR_MIN, s.flags & TCP_SYN, &s.opt) < 0)
		abort(); /* we must emit well-formed options */
	for (unsigned i = 0; i < iovcnt; i++)
		len += iov[i].len;
	s.data = malloc(len + 1);
	for (unsigned i = 0; i < iovcnt; i++) {
		memcpy(s.data + off, iov[i].base, iov[i].len);
		off += iov[i].len;
	}
	s.len = (uint32_t)len;
	if (h->on_output)
		h->on_output(h, &s);
	if (h->nlog < H_LOG) {
		h->log[h->nlog] = s;
	} else {
		free(s.data);
	}
	h->nlog++;
	if (h->fail_output > 0) {
		h->fail_output--;
		return -1;
	}
	return 0;
}

void h_clear_log(struct henv *h)
{
	unsigned n = h->nlog < H_LOG ? h->nlog : H_LOG;

	for (unsigned i = 0; i < n; i++)
		free(h->log[i].data);
	h->nlog = 0;
}

const struct hseg *h_seg(const struct henv *h, unsigned i)
{
	return i < h->nlog && i < H_LOG ? &h->log[i] : NULL;
}

const struct hseg *h_last(const struct henv *h)
{
	return h->nlog ? h_seg(h, h->nlog - 1) : NULL;
}

/* ---- events ---- */

void h_event_cb(struct tcp_tcb *t, void *user, enum tcp_event ev, int reason)
{
	struct henv *h = user;

	if (h->nevents < H_EVENTS) {
		h->events[h->nevents].t = t;
		h->events[h->nevents].ev = ev;
		h->events[h->nevents].reason = reason;
		h->nevents++;
	}
	if (ev == TCP_EV_ACCEPTED)
		h->last_accepted = t;
	if (h->echo && ev == TCP_EV_READABLE) {
		struct tcp_iov iov[16];
		unsigned n = tcp_recv_peek(t, iov, 16);
		size_t done = 0;
		for (unsigned i = 0; i < n; i++) {
			ssize_t w = tcp_send(t, iov[i].base, iov[i].len, h->now);
			if (w <= 0)
				break;
			done += (size_t)w;
			if ((size_t)w < iov[i].len)
				break;
		}
		tcp_recv_consume(t, done, h->now);
	}
	if (h->echo && ev == TCP_EV_WRITABLE)
		h_event_cb(t, user, TCP_EV_READABLE, 0);
	/* Echo: half-close once the peer's FIN is in and everything read
	 * was written back. */
	if (h->echo && ev != TCP_EV_CLOSED && t->peer_fin && tcp_recv_avail(t) == 0)
		tcp_shutdown(t, h->now);
	if (h->auto_close && ev == TCP_EV_CLOSED)
		tcp_close(t, h->now);
}

bool h_has_event(const struct henv *h, enum tcp_event ev)
{
	return h_count_event(h, ev) > 0;
}

unsigned h_count_event(const struct henv *h, enum tcp_event ev)
{
	unsigned n = 0;

	for (unsigned i = 0; i < h->nevents; i++)
		n += h->events[i].ev == ev;
	return n;
}

/* ---- setup ---- */

void h_init(struct henv *h, const struct tcp_config *cfg)
{
	memset(h, 0, sizeof(*h));
	h->now = 1000000000ull; /* 1000 s: not zero, to catch 0-time bugs */
	timer_wheel_init(&h->wheel, h->now / 1000);
	h->env.ctx = h;
	h->env.output = o_output;
	h->env.flow_lookup = f_lookup;
	h->env.flow_insert = f_insert;
	h->env.flow_remove = f_remove;
	h->env.buf_ref = b_ref;
	h->env.buf_free = b_free;
	h->env.buf_truesize = b_truesize;
	h->env.keyed_hash = h_siphash;
	if (cfg)
		h->cfg = *cfg;
	else
		tcp_config_default(&h->cfg);
	h->st = tcp_stack_create(&h->cfg, &h->env, &h->wheel, h->now);
	if (!h->st) {
		perror("tcp_stack_create");
		abort();
	}
}

void h_fini(struct henv *h)
{
	tcp_stack_destroy(h->st);
	h->st = NULL;
	h_clear_log(h);
}

void h_advance(struct henv *h, uint64_t ms)
{
	/* Step millisecond by millisecond so callbacks see their own tick. */
	for (uint64_t i = 0; i < ms; i++) {
		h->now += 1000;
		tcp_stack_advance(h->st, h->now);
	}
}

int h_input_raw(struct henv *h, const struct tcp_key *key, const void *seg, size_t len)
{
	struct hbuf *b = hbuf_new(seg, len);
	int rc = tcp_input(h->st, key, b->data, len, b, h->now);

	hbuf_put(b);
	return rc;
}

int h_inject(struct henv *h, const struct tcp_key *key, uint32_t seq, uint32_t ack, uint8_t flags,
	     uint16_t wnd, const uint8_t *opt, size_t optlen, const void *data, size_t len)
{
	size_t olen = (optlen + 3) & ~(size_t)3;
	size_t hlen = TCP_HDR_MIN + olen;
	uint8_t *p = calloc(1, hlen + len + 1);
	int rc;

	p[0] = (uint8_t)(key->rport >> 8);
	p[1] = (uint8_t)key->rport;
	p[2] = (uint8_t)(key->lport >> 8);
	p[3] = (uint8_t)key->lport;
	p[4] = (uint8_t)(seq >> 24);
	p[5] = (uint8_t)(seq >> 16);
	p[6] = (uint8_t)(seq >> 8);
	p[7] = (uint8_t)seq;
	p[8] = (uint8_t)(ack >> 24);
	p[9] = (uint8_t)(ack >> 16);
	p[10] = (uint8_t)(ack >> 8);
	p[11] = (uint8_t)ack;
	p[12] = (uint8_t)((hlen / 4) << 4);
	p[13] = flags;
	p[14] = (uint8_t)(wnd >> 8);
	p[15] = (uint8_t)wnd;
	if (optlen)
		memcpy(p + TCP_HDR_MIN, opt, optlen);
	if (len)
		memcpy(p + hlen, data, len);
	rc = h_input_raw(h, key, p, hlen + len);
	free(p);
	return rc;
}

void h_key(struct tcp_key *k, uint16_t lport, uint16_t rport)
{
	const uint8_t l[4] = {10, 0, 0, 1}, r[4] = {10, 0, 0, 2};

	tcp_key_init4(k, l, lport, r, rport);
}

void h_key_swap(struct tcp_key *out, const struct tcp_key *in)
{
	struct tcp_key k = *in;

	memcpy(k.laddr, in->raddr, 16);
	memcpy(k.raddr, in->laddr, 16);
	k.lport = in->rport;
	k.rport = in->lport;
	*out = k;
}

static void w32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

size_t h_opt_ts(uint8_t *o, uint32_t tsval, uint32_t tsecr)
{
	o[0] = 1;
	o[1] = 1;
	o[2] = 8;
	o[3] = 10;
	w32(o + 4, tsval);
	w32(o + 8, tsecr);
	return 12;
}

size_t h_opt_syn(uint8_t *o, uint16_t mss, int ws, bool sack, bool ts, uint32_t tsval,
		 uint32_t tsecr)
{
	size_t n = 0;

	o[n++] = 2;
	o[n++] = 4;
	o[n++] = (uint8_t)(mss >> 8);
	o[n++] = (uint8_t)mss;
	if (sack) {
		o[n++] = 1;
		o[n++] = 1;
		o[n++] = 4;
		o[n++] = 2;
	}
	if (ts)
		n += h_opt_ts(o + n, tsval, tsecr);
	if (ws >= 0) {
		o[n++] = 1;
		o[n++] = 3;
		o[n++] = 3;
		o[n++] = (uint8_t)ws;
	}
	return n;
}

/* ---- lossy link ---- */

uint32_t hlink_rand(struct hlink *l)
{
	/* xorshift64*: deterministic per seed */
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	return (uint32_t)((l->rng * 2685821657736338717ull) >> 32);
}

static void link_enqueue(struct hlink *l, struct henv *to, const struct hseg *s, uint64_t at)
{
	struct hlink_pkt *p;

	if (l->nq >= sizeof(l->q) / sizeof(l->q[0])) {
		l->overflow++;
		return;
	}
	p = &l->q[l->nq++];
	p->to = to;
	h_key_swap(&p->key, &s->key);
	p->at_us = at;
	p->order = l->order++;
	p->len = s->hlen + s->len;
	p->bytes = malloc(p->len);
	memcpy(p->bytes, s->hdr, s->hlen);
	if (s->len)
		memcpy(p->bytes + s->hlen, s->data, s->len);
}

static void link_tap(struct henv *h, const struct hseg *s)
{
	struct hlink *l = h->link;
	struct henv *to = h == l->a ? l->b : l->a;
	uint64_t at = h->now + l->delay_us;

	l->sent++;
	if (hlink_rand(l) % 100 < l->drop_pct) {
		l->dropped++;
		return;
	}
	if (hlink_rand(l) % 100 < l->reorder_pct) {
		l->reordered++;
		at += l->delay_us + 1000 + hlink_rand(l) % 3000; /* overtaken by later ones */
	}
	link_enqueue(l, to, s, at);
	if (hlink_rand(l) % 100 < l->dup_pct) {
		l->dupped++;
		link_enqueue(l, to, s, at + 500);
	}
}

void hlink_init(struct hlink *l, struct henv *a, struct henv *b, uint64_t seed)
{
	memset(l, 0, sizeof(*l));
	l->a = a;
	l->b = b;
	l->rng = seed * 0x9e3779b97f4a7c15ull + 1;
	l->delay_us = 2000;
	a->on_output = link_tap;
	b->on_output = link_tap;
	a->link = l;
	b->link = l;
}

void hlink_run(struct hlink *l, uint64_t now_us)
{
	for (;;) {
		unsigned best = l->nq;
		for (unsigned i = 0; i < l->nq; i++)
			if (l->q[i].at_us <= now_us &&
			    (best == l->nq || l->q[i].at_us < l->q[best].at_us ||
			     (l->q[i].at_us == l->q[best].at_us &&
			      l->q[i].order < l->q[best].order)))
				best = i;
		if (best == l->nq)
			return;
		{
			struct hlink_pkt p = l->q[best];
			l->q[best] = l->q[--l->nq];
			h_input_raw(p.to, &p.key, p.bytes, p.len);
			free(p.bytes);
		}
	}
}
