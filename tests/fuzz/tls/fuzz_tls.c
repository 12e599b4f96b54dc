/*
 * fuzz_tls.c - libFuzzer target for the STARTTLS glue (smtp/transport_tls.c
 * over the connection layer and the engine): a session says EHLO and
 * STARTTLS, then the input decides what follows.
 *
 *   byte 0: split: the octets go to the server (1 + b0 % 64) at a time,
 *           one READABLE each
 *   byte 1: bit 0 clear: the rest is raw input in place of a ClientHello
 *           (garbage after STARTTLS, truncated or mangled records);
 *           bit 0 set: an in-process OpenSSL client completes the
 *           handshake, then the rest is sent as plaintext through TLS
 *           (commands split across records at every boundary the split
 *           gives), and with bit 1 also raw after it (garbage records
 *           inside TLS).
 *
 * Checks: no crash or sanitizer report; the session ends closed or open
 * with its TLS slot accounted (sessions gauge back to 0 after CLOSED).
 * The certificate is made once per process (P-256, self-signed, /tmp).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "smtp/conn.h"
#include "smtp/host.h"
#include "smtp/smtp.h"
#include "smtp/tls_ctx.h"
#include "smtp/transport_tls.h"

struct lower {
	uint8_t in[1 << 16];
	size_t in_len, in_off;
	BIO *to_client; /* what the server sent */
	int shut;
};

static unsigned lo_peek(void *tr, struct smtp_iov *iov, unsigned max)
{
	struct lower *l = tr;

	if (max == 0 || l->in_off == l->in_len)
		return 0;
	iov[0].base = l->in + l->in_off;
	iov[0].len = l->in_len - l->in_off;
	return 1;
}

static int lo_consume(void *tr, size_t n, uint64_t now)
{
	struct lower *l = tr;

	(void)now;
	if (n > l->in_len - l->in_off)
		abort();
	l->in_off += n;
	return 0;
}

static size_t lo_avail(void *tr)
{
	struct lower *l = tr;

	return l->in_len - l->in_off;
}

static ssize_t lo_send(void *tr, const void *p, size_t len, uint64_t now)
{
	struct lower *l = tr;

	(void)now;
	if (l->shut)
		return -1;
	BIO_write(l->to_client, p, (int)len);
	return (ssize_t)len;
}

static int lo_shutdown(void *tr, uint64_t now)
{
	(void)now;
	((struct lower *)tr)->shut = 1;
	return 0;
}

static void lo_close(void *tr, uint64_t now)
{
	(void)tr, (void)now;
}

static const struct smtp_transport_ops lower_ops = {
	.name = "fuzz",
	.peek = lo_peek,
	.consume = lo_consume,
	.avail = lo_avail,
	.send = lo_send,
	.shutdown = lo_shutdown,
	.close = lo_close,
	.abort = lo_close,
};

static struct {
	struct timer_wheel wheel;
	uint64_t now;
	struct smtp_stage_host *h;
	struct smtp_tls_worker *w;
	SSL_CTX *cctx;
} g;

static void make_cert(const char *pem, const char *key)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	FILE *f;

	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"fuzz.test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_sign(x, k, EVP_sha256());
	f = fopen(pem, "w");
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(key, "w");
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void init(void)
{
	char pem[64], key[64], err[512];
	struct smtp_tls_conf conf = {.npairs = 1, .min_version = TLS1_2_VERSION};
	struct smtp_tls_gen *gen;
	struct smtp_config sc;
	struct smtp_host_conf hc = {0};

	snprintf(pem, sizeof(pem), "/tmp/mx-fuzz-tls-%d.pem", (int)getpid());
	snprintf(key, sizeof(key), "/tmp/mx-fuzz-tls-%d.key", (int)getpid());
	make_cert(pem, key);
	conf.cert[0] = pem;
	conf.key[0] = key;
	rcu_register_thread();
	rcu_thread_offline();
	if (smtp_tls_build(&conf, &gen, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_tls: %s\n", err);
		abort();
	}
	unlink(pem);
	unlink(key);
	smtp_tls_publish(gen);
	g.now = 1000000000;
	timer_wheel_init(&g.wheel, g.now / 1000);
	smtp_config_defaults(&sc);
	snprintf(sc.hostname, sizeof(sc.hostname), "mx.fuzz");
	sc.max_sessions = 1;
	sc.starttls_available = true;
	sc.timeout_tls_ms = 10000;
	hc.smtp = &sc;
	hc.wheel = &g.wheel;
	hc.now_us = &g.now;
	g.h = smtp_host_create(&hc);
	g.w = smtp_tls_worker_create(0, 1);
	if (!g.h || !g.w)
		abort();
	smtp_conn_on_starttls(smtp_host_conns(g.h), smtp_tls_on_starttls, g.w);
	g.cctx = SSL_CTX_new(TLS_client_method());
}

/* Append @n octets to the server's input, @step at a time. */
static void feed(struct smtp_conn *c, struct lower *l, const uint8_t *p, size_t n, size_t step)
{
	for (size_t off = 0; off < n && c->s; off += step) {
		size_t k = n - off < step ? n - off : step;

		memmove(l->in, l->in + l->in_off, l->in_len - l->in_off);
		l->in_len -= l->in_off;
		l->in_off = 0;
		if (l->in_len + k > sizeof(l->in))
			return; /* the server stopped reading: enough */
		memcpy(l->in + l->in_len, p + off, k);
		l->in_len += k;
		smtp_conn_event(c, SMTP_CONN_EV_READABLE);
	}
}

/* Client output -> server. */
static void flush_client(struct smtp_conn *c, struct lower *l, BIO *cwr, size_t step)
{
	uint8_t b[4096];
	int n;

	while ((n = BIO_read(cwr, b, sizeof(b))) > 0)
		feed(c, l, b, (size_t)n, step);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct smtp_peer peer = {.family = 4, .port = 1, .addr = {192, 0, 2, 1}};
	static const char hello[] = "EHLO fuzz\r\nSTARTTLS\r\n";
	static struct lower l;
	struct smtp_tls_counters cnt;
	struct smtp_conn *c;
	size_t step;
	uint8_t mode;

	if (!g.h)
		init();
	if (size < 2)
		return 0;
	step = 1 + data[0] % 64;
	mode = data[1];
	data += 2, size -= 2;
	memset(&l, 0, sizeof(l));
	l.to_client = BIO_new(BIO_s_mem());
	c = smtp_conn_open(smtp_host_conns(g.h), &lower_ops, &l, &peer);
	if (!c)
		abort();
	smtp_conn_pump(c);
	feed(c, &l, (const uint8_t *)hello, sizeof(hello) - 1, sizeof(hello));
	if (!(mode & 1)) {
		feed(c, &l, data, size, step);
	} else {
		SSL *cl = SSL_new(g.cctx);
		BIO *crd = BIO_new(BIO_s_mem()), *cwr = BIO_new(BIO_s_mem());
		char junk[4096];
		int r = 0;

		BIO_set_mem_eof_return(crd, -1);
		SSL_set_bio(cl, crd, cwr);
		SSL_set_connect_state(cl);
		/* The server's plaintext so far (banner, EHLO, 220) is not TLS. */
		BIO_read(l.to_client, junk, sizeof(junk));
		for (int k = 0; k < 20 && c->s && r != 1; k++) {
			char b[8192];
			int n;

			r = SSL_do_handshake(cl);
			flush_client(c, &l, cwr, step);
			while ((n = BIO_read(l.to_client, b, sizeof(b))) > 0)
				BIO_write(crd, b, n);
		}
		if (r == 1 && c->s) {
			size_t w = 0;

			SSL_write_ex(cl, data, size, &w);
			flush_client(c, &l, cwr, step);
			if (mode & 2)
				feed(c, &l, data, size, step);
		}
		SSL_free(cl);
	}
	g.now += 11000000; /* past the handshake timeout: the timer path */
	timer_advance(&g.wheel, g.now / 1000);
	if (c->s)
		smtp_conn_event(c, SMTP_CONN_EV_CLOSED);
	BIO_free(l.to_client);
	smtp_tls_counters_read(g.w, &cnt);
	if (cnt.sessions != 0)
		abort(); /* a TLS slot leaked */
	return 0;
}
