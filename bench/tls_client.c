/*
 * tls_client.c - mxbench's STARTTLS client side. See tls_client.h.
 */
#include "bench/tls_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct bench_tls {
	SSL *ssl;
	struct bench_tls_io io; /* bench_tls_new_io() */
};

static SSL_CTX *ctx;	    /* shared by the workers, read-only after init */
static BIO_METHOD *io_meth; /* likewise */

static int io_read(BIO *b, char *out, size_t len, size_t *got)
{
	struct bench_tls *t = BIO_get_data(b);
	ssize_t n = t->io.read(t->io.arg, out, len);

	BIO_clear_retry_flags(b);
	*got = n > 0 ? (size_t)n : 0;
	if (n == 0)
		BIO_set_retry_read(b);
	return n > 0;
}

static int io_write(BIO *b, const char *data, size_t len, size_t *put)
{
	struct bench_tls *t = BIO_get_data(b);
	ssize_t n = t->io.write(t->io.arg, data, len);

	BIO_clear_retry_flags(b);
	*put = n > 0 ? (size_t)n : 0;
	if (n == 0)
		BIO_set_retry_write(b);
	return n > 0;
}

static long io_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b, (void)num, (void)ptr;
	return cmd == BIO_CTRL_FLUSH; /* written as they come */
}

static int io_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

int bench_tls_init(int max_version)
{
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return -1;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (max_version && !SSL_CTX_set_max_proto_version(ctx, max_version))
		return -1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* Full handshakes only: no client cache, no tickets asked for. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	io_meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mxbench-io");
	if (!io_meth || !BIO_meth_set_read_ex(io_meth, io_read) ||
	    !BIO_meth_set_write_ex(io_meth, io_write) || !BIO_meth_set_ctrl(io_meth, io_ctrl) ||
	    !BIO_meth_set_create(io_meth, io_create))
		return -1;
	return 0;
}

struct bench_tls *bench_tls_new_io(const struct bench_tls_io *io)
{
	struct bench_tls *t = calloc(1, sizeof(*t));
	BIO *b = NULL;

	if (!t)
		return NULL;
	t->io = *io;
	t->ssl = ctx && io_meth ? SSL_new(ctx) : NULL;
	if (t->ssl)
		b = BIO_new(io_meth);
	if (!b) {
		SSL_free(t->ssl);
		free(t);
		return NULL;
	}
	BIO_set_data(b, t);
	SSL_set_bio(t->ssl, b, b);
	SSL_set_connect_state(t->ssl);
	return t;
}

struct bench_tls *bench_tls_new(int fd)
{
	struct bench_tls *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ssl = ctx ? SSL_new(ctx) : NULL;
	if (!t->ssl || !SSL_set_fd(t->ssl, fd)) {
		SSL_free(t->ssl);
		free(t);
		return NULL;
	}
	SSL_set_connect_state(t->ssl);
	return t;
}

void bench_tls_free(struct bench_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	free(t);
}

int bench_tls_handshake(struct bench_tls *t, struct bench_tls_stats *st, bool *want_write)
{
	int r, e;

	*want_write = false;
	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		st->handshakes++;
		if (SSL_version(t->ssl) == TLS1_3_VERSION)
			st->tls13++;
		else
			st->tls12++;
		return 1;
	}
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return 0;
	if (e == SSL_ERROR_WANT_WRITE) {
		*want_write = true;
		return 0;
	}
	st->handshake_failed++;
	ERR_clear_error();
	return -1;
}

ssize_t bench_tls_read(struct bench_tls *t, void *buf, size_t len, const char **why)
{
	size_t n = 0;
	int r, e;

	ERR_clear_error();
	r = SSL_read_ex(t->ssl, buf, len, &n);
	if (r == 1)
		return (ssize_t)n;
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	*why = e == SSL_ERROR_ZERO_RETURN ? "TLS closed by server"
	       : e == SSL_ERROR_SYSCALL	  ? "TLS read: connection lost"
					  : "TLS read: protocol error";
	ERR_clear_error();
	return -1;
}

ssize_t bench_tls_writev(struct bench_tls *t, const struct iovec *iov, int n)
{
	size_t total = 0;

	for (int i = 0; i < n; i++) {
		size_t w = 0;
		int r, e;

		if (iov[i].iov_len == 0)
			continue;
		ERR_clear_error();
		r = SSL_write_ex(t->ssl, iov[i].iov_base, iov[i].iov_len, &w);
		if (r == 1) {
			total += w;
			if (w < iov[i].iov_len)
				break;
			continue;
		}
		e = SSL_get_error(t->ssl, r);
		ERR_clear_error();
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			break;
		return total ? (ssize_t)total : -1;
	}
	return (ssize_t)total;
}

void bench_tls_stats_sum(struct bench_tls_stats *s, const struct bench_tls_stats *add)
{
	s->handshakes += __atomic_load_n(&add->handshakes, __ATOMIC_RELAXED);
	s->handshake_failed += __atomic_load_n(&add->handshake_failed, __ATOMIC_RELAXED);
	s->tls12 += __atomic_load_n(&add->tls12, __ATOMIC_RELAXED);
	s->tls13 += __atomic_load_n(&add->tls13, __ATOMIC_RELAXED);
	mx_hist_merge(&s->h_handshake, &add->h_handshake);
}

void bench_tls_report_json(FILE *f, const struct bench_tls_stats *s, double elapsed)
{
	fprintf(f,
		"  \"tls\": {\"handshakes\": %llu, \"handshake_failed\": %llu, \"tls12\": %llu, "
		"\"tls13\": %llu, \"handshakes_per_s\": %.3f, \"handshake_us_p50\": %.1f, "
		"\"handshake_us_p99\": %.1f}",
		(unsigned long long)s->handshakes, (unsigned long long)s->handshake_failed,
		(unsigned long long)s->tls12, (unsigned long long)s->tls13,
		elapsed > 0 ? (double)s->handshakes / elapsed : 0.0,
		(double)mx_hist_percentile(&s->h_handshake, 50.0) / 1000.0,
		(double)mx_hist_percentile(&s->h_handshake, 99.0) / 1000.0);
}
