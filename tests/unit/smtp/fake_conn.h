/*
 * fake_conn.h - a fake transport (byte buffers) under the SMTP connection
 * layer, and a fixture with a session host on a real timing wheel driven
 * by virtual time. Header-only (static functions): each test executable
 * includes it once.
 */
#ifndef MX_TEST_FAKE_CONN_H
#define MX_TEST_FAKE_CONN_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/conn.h"
#include "smtp/host.h"
#include "smtp/smtp.h"

/* Connections a fixture can hold (more than slots: refusals). */
#define FX_CONNS 4

/* ---- fake transport ------------------------------------------------------ */

struct fake_tr {
	char in[8192]; /* what the client sent, not consumed yet: in[off..len) */
	size_t in_len, in_off;
	char out[16384]; /* everything we sent */
	size_t out_len;
	size_t send_room; /* octets send() accepts before "full" (SIZE_MAX: any) */
	int shut, closed, aborted;
};

static inline unsigned ft_peek(void *tr, struct smtp_iov *iov, unsigned max)
{
	struct fake_tr *t = tr;

	if (max == 0 || t->in_off == t->in_len)
		return 0;
	iov[0].base = t->in + t->in_off;
	iov[0].len = t->in_len - t->in_off;
	return 1;
}

static inline int ft_consume(void *tr, size_t n, uint64_t now)
{
	struct fake_tr *t = tr;

	(void)now;
	assert_true(n <= t->in_len - t->in_off);
	t->in_off += n;
	return 0;
}

static inline size_t ft_avail(void *tr)
{
	struct fake_tr *t = tr;

	return t->in_len - t->in_off;
}

static inline ssize_t ft_send(void *tr, const void *p, size_t len, uint64_t now)
{
	struct fake_tr *t = tr;

	(void)now;
	if (t->shut || t->closed)
		return -EPIPE;
	if (len > t->send_room)
		len = t->send_room;
	assert_true(t->out_len + len < sizeof(t->out));
	memcpy(t->out + t->out_len, p, len);
	t->out_len += len;
	t->out[t->out_len] = '\0';
	t->send_room -= len;
	return (ssize_t)len;
}

static inline int ft_shutdown(void *tr, uint64_t now)
{
	(void)now;
	((struct fake_tr *)tr)->shut++;
	return 0;
}

static inline void ft_close(void *tr, uint64_t now)
{
	(void)now;
	((struct fake_tr *)tr)->closed++;
}

static inline void ft_abort(void *tr, uint64_t now)
{
	(void)now;
	((struct fake_tr *)tr)->aborted++;
}

static const struct smtp_transport_ops fake_ops = {
	.name = "fake",
	.peek = ft_peek,
	.consume = ft_consume,
	.avail = ft_avail,
	.send = ft_send,
	.shutdown = ft_shutdown,
	.close = ft_close,
	.abort = ft_abort,
};

/* ---- fixture ---------------------------------------------------------------- */

struct fx {
	struct timer_wheel wheel;
	uint64_t now;
	struct smtp_stage_host *h;
	struct fake_tr tr[FX_CONNS];
	struct smtp_conn *c[FX_CONNS];
};

/* A host with @slots slots and a default engine ("mx.test"), the
 * connection layer's linger and lifetime from @hc (NULL: defaults). */
static inline struct fx *fx_create_conf(unsigned slots, const struct smtp_host_conf *conf)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct smtp_config sc;
	struct smtp_host_conf hc = {0};

	if (conf)
		hc = *conf;
	assert_non_null(f);
	f->now = 1000000000; /* 1000 s */
	timer_wheel_init(&f->wheel, f->now / 1000);
	smtp_config_defaults(&sc);
	snprintf(sc.hostname, sizeof(sc.hostname), "mx.test");
	sc.max_sessions = slots;
	hc.smtp = &sc;
	hc.wheel = &f->wheel;
	hc.now_us = &f->now;
	f->h = smtp_host_create(&hc);
	assert_non_null(f->h);
	return f;
}

static inline struct fx *fx_create(unsigned slots)
{
	return fx_create_conf(slots, NULL);
}

/* The transport reports CLOSED for every open connection (their TXN_ABORT
 * and CLOSE stages run: call it before stage arguments go out of scope). */
static inline void fx_close_all(struct fx *f)
{
	for (unsigned i = 0; i < FX_CONNS; i++)
		if (f->c[i] && f->c[i]->s && f->c[i]->top.tr == &f->tr[i])
			smtp_conn_event(f->c[i], SMTP_CONN_EV_CLOSED);
}

/* Close what is open, free the host. */
static inline void fx_destroy(struct fx *f)
{
	fx_close_all(f);
	smtp_host_destroy(f->h);
	free(f);
}

/* Open connection @i; the banner is in tr[i].out. */
static inline struct smtp_conn *connect_client(struct fx *f, unsigned i)
{
	static const struct smtp_peer peer = {.family = 4, .port = 40000, .addr = {192, 0, 2, 1}};

	memset(&f->tr[i], 0, sizeof(f->tr[i]));
	f->tr[i].send_room = SIZE_MAX;
	f->c[i] = smtp_conn_open(smtp_host_conns(f->h), &fake_ops, &f->tr[i], &peer);
	if (f->c[i])
		smtp_conn_pump(f->c[i]);
	return f->c[i];
}

/* The client sends @s on connection @i. */
static inline void client(struct fx *f, unsigned i, const char *s)
{
	struct fake_tr *t = &f->tr[i];
	size_t n = strlen(s);

	/* Keep the unconsumed tail, append. */
	memmove(t->in, t->in + t->in_off, t->in_len - t->in_off);
	t->in_len -= t->in_off;
	t->in_off = 0;
	assert_true(t->in_len + n <= sizeof(t->in));
	memcpy(t->in + t->in_len, s, n);
	t->in_len += n;
	smtp_conn_event(f->c[i], SMTP_CONN_EV_READABLE);
}

/* Take what was sent on connection @i since the last call. */
static inline const char *sent(struct fx *f, unsigned i)
{
	static char buf[16384];
	struct fake_tr *t = &f->tr[i];

	memcpy(buf, t->out, t->out_len + 1);
	t->out_len = 0;
	t->out[0] = '\0';
	return buf;
}

static inline void advance_ms(struct fx *f, uint64_t ms)
{
	f->now += ms * 1000;
	timer_advance(&f->wheel, f->now / 1000);
}

static inline struct smtp_host_counters counters(struct fx *f)
{
	struct smtp_host_counters hc;

	smtp_host_counters_read(f->h, &hc);
	return hc;
}

#endif
