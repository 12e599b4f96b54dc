/*
 * transport_tls.c - the TLS transport over a connection's lower transport.
 * See transport_tls.h.
 *
 * The BIO under each SSL reads the lower transport's received pieces in
 * place and consumes what it copied (OpenSSL's record buffer is the one
 * copy inbound), and writes records straight into the lower send (the
 * one copy outbound). Decrypted plaintext waits in the slot's buffer until
 * the engine consumes it; a full buffer stops decryption, which leaves the
 * records queued in the lower transport and its window closing
 * (back-pressure, as for plain TCP).
 *
 * Memory: the slot array is allocated at create and freed at destroy; an
 * SSL and its BIO are OpenSSL's (SSL_MODE_RELEASE_BUFFERS gives the record
 * buffers back while a session is idle, set once the handshake is done),
 * allocated in the worker's own arena within its byte budget
 * (core/tlsmem.h): an allocation beyond it fails SSL_new (the session
 * ends, its slot goes back) or the handshake (the failed path).
 * Worker lcore only.
 */
#include "smtp/transport_tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/log.h"
#include "smtp/conn.h"
#include "smtp/host.h"
#include "smtp/smtp.h"
#include "smtp/tls_ctx.h"

struct smtp_tls {
	SSL *ssl;
	struct smtp_tls_gen *gen; /* one reference while the SSL lives */
	struct smtp_conn *c;
	struct smtp_transport low; /* ours: the slot's is cleared before an abort */
	struct smtp_tls_worker *w;
	struct smtp_tls *next_free;
	uint32_t head, len; /* plaintext is buf[head .. head + len) */
	bool hs_done;	    /* handshake completed */
	bool dead;	    /* handshake failed or a fatal record error: no more I/O */
	bool peer_closed;   /* close_notify received */
	bool implicit;	    /* TLS from the first octet: replies wait for the handshake */
	char info[96];	    /* "TLSv1.3 with cipher ... (256/256 bits)" */
	uint8_t buf[SMTP_TLS_PLAIN];
};

struct smtp_tls_worker {
	unsigned worker;
	unsigned max;
	struct smtp_tls *slots;
	struct smtp_tls *free;
	struct smtp_tls_counters cnt; /* owner writes, anyone reads (relaxed) */
};

static BIO_METHOD *bio_method; /* created once at boot, never freed */

#define CNT_INC(w, f)	 __atomic_store_n(&(w)->cnt.f, (w)->cnt.f + 1, __ATOMIC_RELAXED)
#define CNT_SET(w, f, v) __atomic_store_n(&(w)->cnt.f, (v), __ATOMIC_RELAXED)

static uint64_t tls_now(const struct smtp_tls *t)
{
	return smtp_conn_now(t->c->tab);
}

/* ---- the BIO over the lower transport --------------------------------- */

static int bio_read_ex(BIO *b, char *out, size_t outl, size_t *readbytes)
{
	struct smtp_tls *t = BIO_get_data(b);
	struct smtp_iov iov[8];
	unsigned n = t->low.ops->peek(t->low.tr, iov, 8);
	size_t got = 0;

	BIO_clear_retry_flags(b);
	for (unsigned i = 0; i < n && got < outl; i++) {
		size_t take = iov[i].len < outl - got ? iov[i].len : outl - got;

		memcpy(out + got, iov[i].base, take);
		got += take;
	}
	if (got == 0) {
		BIO_set_retry_read(b);
		*readbytes = 0;
		return 0;
	}
	t->low.ops->consume(t->low.tr, got, tls_now(t));
	*readbytes = got;
	return 1;
}

static int bio_write_ex(BIO *b, const char *data, size_t len, size_t *written)
{
	struct smtp_tls *t = BIO_get_data(b);
	ssize_t n = t->low.ops->send(t->low.tr, data, len, tls_now(t));

	BIO_clear_retry_flags(b);
	if (n > 0) {
		*written = (size_t)n;
		return 1;
	}
	*written = 0;
	if (n == 0)
		BIO_set_retry_write(b); /* the lower WRITABLE drives the retry */
	return 0;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b, (void)num, (void)ptr;
	/* Records go to the lower transport as written: nothing to flush. */
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *bio_method_get(void)
{
	BIO_METHOD *m;

	if (bio_method)
		return bio_method;
	m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mxgate-transport");
	if (!m || !BIO_meth_set_read_ex(m, bio_read_ex) ||
	    !BIO_meth_set_write_ex(m, bio_write_ex) || !BIO_meth_set_ctrl(m, bio_ctrl) ||
	    !BIO_meth_set_create(m, bio_create)) {
		BIO_meth_free(m);
		return NULL;
	}
	bio_method = m;
	return m;
}

/* ---- sessions --------------------------------------------------------- */

static void tls_free(struct smtp_tls *t)
{
	struct smtp_tls_worker *w = t->w;

	/* No server cache (tickets only): mark the session shut so SSL_free
	 * does not "remove a bad session" from the cache, which takes the
	 * SSL_CTX's lock that every worker shares. */
	SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(t->ssl); /* and its BIO */
	smtp_tls_release(t->gen);
	t->ssl = NULL;
	t->gen = NULL;
	t->c = NULL;
	t->next_free = w->free;
	w->free = t;
	CNT_SET(w, sessions, w->cnt.sessions - 1);
}

/* Decrypt into the plaintext buffer while it has room. */
static void tls_fill(struct smtp_tls *t)
{
	if (!t->hs_done || t->dead || t->peer_closed)
		return;
	if (t->len == 0) {
		t->head = 0;
	} else if (t->head + t->len == SMTP_TLS_PLAIN && t->head > 0) {
		memmove(t->buf, t->buf + t->head, t->len);
		t->head = 0;
	}
	while (t->head + t->len < SMTP_TLS_PLAIN) {
		size_t n = 0;
		int r, e;

		ERR_clear_error();
		r = SSL_read_ex(t->ssl, t->buf + t->head + t->len,
				SMTP_TLS_PLAIN - t->head - t->len, &n);
		if (r == 1) {
			t->len += (uint32_t)n;
			continue;
		}
		e = SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) {
			t->peer_closed = true;
			break;
		}
		t->dead = true;
		CNT_INC(t->w, record_errors);
		MX_DEBUG("smtp %u: TLS record error: %s", t->c->slot,
			 ERR_reason_error_string(ERR_peek_last_error()));
		ERR_clear_error();
		break;
	}
}

static unsigned tls_peek(void *tr, struct smtp_iov *iov, unsigned max)
{
	struct smtp_tls *t = tr;

	tls_fill(t);
	if (t->len == 0 || max == 0)
		return 0;
	iov[0].base = t->buf + t->head;
	iov[0].len = t->len;
	return 1;
}

static int tls_consume(void *tr, size_t n, uint64_t now)
{
	struct smtp_tls *t = tr;

	(void)now;
	if (n > t->len)
		return -EINVAL;
	t->head += (uint32_t)n;
	t->len -= (uint32_t)n;
	if (t->len == 0)
		t->head = 0;
	return 0;
}

static size_t tls_avail(void *tr)
{
	struct smtp_tls *t = tr;

	tls_fill(t);
	return t->len;
}

static ssize_t tls_send(void *tr, const void *data, size_t len, uint64_t now)
{
	struct smtp_tls *t = tr;
	size_t w = 0;
	int r, e;

	(void)now;
	/* Implicit TLS: the banner waits for the handshake ("full"; the
	 * handshake's end pumps again). Otherwise, before the handshake (a
	 * 421 at its timeout) or after a fatal error, nothing can be said:
	 * the octets are dropped. */
	if (t->implicit && !t->hs_done && !t->dead && t->c->s && !smtp_session_closing(t->c->s))
		return 0;
	if (!t->hs_done || t->dead)
		return (ssize_t)len;
	ERR_clear_error();
	r = SSL_write_ex(t->ssl, data, len, &w);
	if (r == 1)
		return (ssize_t)w;
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
		return 0; /* retried with the same octets at WRITABLE */
	t->dead = true;
	CNT_INC(t->w, record_errors);
	ERR_clear_error();
	return (ssize_t)len;
}

static int tls_shutdown(void *tr, uint64_t now)
{
	struct smtp_tls *t = tr;

	if (t->hs_done && !t->dead) {
		ERR_clear_error();
		SSL_shutdown(t->ssl); /* our close_notify, then the FIN */
		ERR_clear_error();
	}
	return t->low.ops->shutdown(t->low.tr, now);
}

static void tls_close(void *tr, uint64_t now)
{
	struct smtp_tls *t = tr;
	struct smtp_transport low = t->low;

	tls_free(t);
	low.ops->close(low.tr, now);
}

static void tls_abort(void *tr, uint64_t now)
{
	struct smtp_tls *t = tr;
	struct smtp_transport low = t->low;

	tls_free(t);
	low.ops->abort(low.tr, now);
}

/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)", as Postfix
 * writes it in Received:. */
static void tls_describe(SSL *ssl, char *b, size_t len)
{
	const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
	int alg = 0, bits = ci ? SSL_CIPHER_get_bits(ci, &alg) : 0;

	snprintf(b, len, "%s with cipher %s (%d/%d bits)", SSL_get_version(ssl),
		 ci ? SSL_CIPHER_get_name(ci) : "?", bits, alg);
}

static void tls_handshake_done(struct smtp_tls *t, uint64_t now)
{
	struct smtp_tls_worker *w = t->w;
	int v = SSL_version(t->ssl);

	t->hs_done = true;
	/* From now on an idle session holds no record buffers (tls_ctx.c
	 * leaves this off for the handshake). */
	SSL_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
	SSL_free_buffers(t->ssl); /* refused (harmless) while records are pending */
	CNT_INC(w, handshakes_ok);
	if (v == TLS1_3_VERSION)
		CNT_INC(w, tls13);
	else if (v == TLS1_2_VERSION)
		CNT_INC(w, tls12);
	else
		CNT_INC(w, tls_old);
	if (SSL_session_reused(t->ssl))
		CNT_INC(w, handshakes_resumed);
	smtp_tls_gen_count(t->gen, t->ssl);
	tls_describe(t->ssl, t->info, sizeof(t->info));
	smtp_tls_started(t->c->s, now);
	MX_DEBUG("smtp %u: TLS established: %s", t->c->slot, t->info);
}

static void tls_handshake_failed(struct smtp_tls *t, uint64_t now, const char *why)
{
	struct smtp_session *s = t->c->s;

	t->dead = true;
	MX_INFO("smtp %u: TLS handshake failed: %s", t->c->slot, why);
	ERR_clear_error();
	if (s)
		smtp_tls_failed(s, now);
}

static int tls_lower_event(void *tr, enum smtp_conn_ev ev, uint64_t now)
{
	struct smtp_tls *t = tr;
	int r, e;

	if (ev == SMTP_CONN_EV_CLOSED) {
		tls_free(t); /* the lower handle is gone already */
		return ev;
	}
	if (t->hs_done || t->dead) {
		if (ev == SMTP_CONN_EV_READABLE && !t->dead && !t->peer_closed) {
			tls_fill(t);
			/* A bad record or the client's close_notify: it sends
			 * nothing more we can read. */
			if (t->dead || t->peer_closed)
				return SMTP_CONN_EV_PEER_FIN;
		}
		return ev;
	}
	if (ev == SMTP_CONN_EV_PEER_FIN) {
		CNT_INC(t->w, handshakes_eof);
		tls_handshake_failed(t, now, "client closed the connection");
		return ev;
	}
	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		tls_handshake_done(t, now);
		return SMTP_CONN_EV_READABLE; /* the client may have sent its EHLO */
	}
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -1;
	CNT_INC(t->w, handshakes_failed);
	tls_handshake_failed(t, now,
			     ERR_peek_last_error() ? ERR_reason_error_string(ERR_peek_last_error())
						   : "protocol error");
	return SMTP_CONN_EV_READABLE; /* the pump closes the session */
}

static const char *tls_describe_op(void *tr)
{
	struct smtp_tls *t = tr;

	return t->hs_done && t->info[0] ? t->info : NULL;
}

const struct smtp_transport_ops smtp_tls_ops = {
	.name = "tls",
	.peek = tls_peek,
	.consume = tls_consume,
	.avail = tls_avail,
	.send = tls_send,
	.shutdown = tls_shutdown,
	.close = tls_close,
	.abort = tls_abort,
	.lower_event = tls_lower_event,
	.describe = tls_describe_op,
};

/* Take a free slot with a reference to the current generation, off the
 * free list; NULL (counted) when there is no slot or no generation. */
static struct smtp_tls *tls_take(struct smtp_tls_worker *w)
{
	struct smtp_tls *t = w->free;

	if (!t) {
		CNT_INC(w, no_slot);
		return NULL;
	}
	t->gen = smtp_tls_acquire();
	if (!t->gen) {
		CNT_INC(w, no_context);
		return NULL;
	}
	w->free = t->next_free;
	t->next_free = NULL;
	return t;
}

/* Give back a slot from tls_take() that never got its SSL. */
static void tls_untake(struct smtp_tls *t)
{
	smtp_tls_release(t->gen);
	t->gen = NULL;
	t->next_free = t->w->free;
	t->w->free = t;
}

/* Push the TLS transport over @c's, on the slot reserved when STARTTLS was
 * accepted (smtp_tls_stage_starttls()) or, for implicit TLS, a new one;
 * on failure the session ends (smtp_tls_failed()). */
static void tls_push(struct smtp_tls_worker *w, struct smtp_conn *c, bool implicit)
{
	uint64_t now = smtp_conn_now(c->tab);
	struct smtp_tls *t = c->tls_resv;
	BIO *bio;
	SSL *ssl;

	c->tls_resv = NULL;
	if (implicit && smtp_tls_implicit(c->s, now) != 0)
		return;
	if (!t)
		t = tls_take(w);
	if (!t) {
		smtp_tls_failed(c->s, now);
		return;
	}
	ssl = smtp_tls_gen_ssl(t->gen);
	bio = ssl ? BIO_new(bio_method) : NULL;
	if (!bio) { /* out of memory: the worker's budget ([tls] mem_per_worker_mb) */
		SSL_free(ssl);
		tls_untake(t);
		CNT_INC(w, handshakes_failed);
		smtp_tls_failed(c->s, now);
		return;
	}
	t->ssl = ssl;
	t->c = c;
	t->low = c->top;
	t->head = t->len = 0;
	t->hs_done = t->dead = t->peer_closed = false;
	t->implicit = implicit;
	t->info[0] = '\0';
	BIO_set_data(bio, t);
	SSL_set_bio(ssl, bio, bio);
	SSL_set_accept_state(ssl);
	smtp_conn_transport_push(c, &smtp_tls_ops, t);
	if (implicit)
		CNT_INC(w, implicit);
	else
		CNT_INC(w, starttls);
	CNT_SET(w, sessions, w->cnt.sessions + 1);
}

void smtp_tls_on_starttls(void *arg, struct smtp_conn *c)
{
	size_t left = c->top.ops->avail(c->top.tr);

	/* RFC 3207 4.2 (CVE-2011-0411): plaintext after STARTTLS is never
	 * read as commands; the engine dropped what it was fed, this drops
	 * what is still queued. */
	if (left)
		c->top.ops->consume(c->top.tr, left, smtp_conn_now(c->tab));
	tls_push(arg, c, false);
}

void smtp_tls_on_implicit(void *arg, struct smtp_conn *c)
{
	tls_push(arg, c, true);
}

/* STARTTLS, before its 220: a slot and a generation, or 454 and the
 * session goes on in plaintext (RFC 3207 4; Postfix's text). */
static enum smtp_stage_verdict tls_stage_starttls(void *arg, struct smtp_stage_call *call)
{
	struct smtp_tls_worker *w = arg;
	struct smtp_conn *c = call->conn;

	if (c->tls_resv) /* cannot happen (one STARTTLS), but never leak */
		return SMTP_STAGE_CONTINUE;
	c->tls_resv = tls_take(w);
	if (c->tls_resv)
		return SMTP_STAGE_CONTINUE;
	call->reply->code = SMTP_TLS_REFUSE_CODE;
	call->reply->enh = SMTP_TLS_REFUSE_ENH;
	call->reply->text = SMTP_TLS_REFUSE_TEXT;
	return SMTP_STAGE_REPLY;
}

/* Session end: a slot reserved for a handshake that never began. */
static enum smtp_stage_verdict tls_stage_close(void *arg, struct smtp_stage_call *call)
{
	struct smtp_conn *c = call->conn;

	(void)arg;
	if (c->tls_resv) {
		tls_untake(c->tls_resv);
		c->tls_resv = NULL;
	}
	return SMTP_STAGE_CONTINUE;
}

int smtp_tls_stages_add(struct smtp_stage_host *h, struct smtp_tls_worker *w)
{
	const struct smtp_stage st[] = {
		{.name = "tls-starttls",
		 .event = SMTP_EV_STARTTLS,
		 .fn = tls_stage_starttls,
		 .arg = w},
		{.name = "tls-close", .event = SMTP_EV_CLOSE, .fn = tls_stage_close, .arg = w},
	};
	int rc;

	for (unsigned i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		if ((rc = smtp_host_stage_add(h, &st[i])) != 0)
			return rc;
	return 0;
}

struct smtp_tls_worker *smtp_tls_worker_create(unsigned worker, unsigned max)
{
	struct smtp_tls_worker *w;

	if (max == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (!bio_method_get()) {
		errno = ENOMEM;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->slots = calloc(max, sizeof(*w->slots));
	if (!w->slots) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	w->worker = worker;
	w->max = max;
	for (unsigned i = max; i-- > 0;) {
		w->slots[i].w = w;
		w->slots[i].next_free = w->free;
		w->free = &w->slots[i];
	}
	return w;
}

void smtp_tls_worker_destroy(struct smtp_tls_worker *w)
{
	if (!w)
		return;
	for (unsigned i = 0; i < w->max; i++)
		if (w->slots[i].ssl) {
			MX_WARN("tls worker %u: session %u freed while open", w->worker, i);
			SSL_free(w->slots[i].ssl);
			smtp_tls_release(w->slots[i].gen);
		}
	free(w->slots);
	free(w);
}

void smtp_tls_counters_read(const struct smtp_tls_worker *w, struct smtp_tls_counters *out)
{
	const struct smtp_tls_counters *in = &w->cnt;

	SMTP_TLS_COUNTERS(MX_CTR_X_LOAD)
	mx_tlsmem_read(w->worker, &out->mem_bytes, &out->mem_bytes_max, &out->mem_refused);
}

size_t smtp_tls_slot_size(void)
{
	return sizeof(struct smtp_tls);
}
