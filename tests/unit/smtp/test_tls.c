/*
 * test_tls.c - STARTTLS without EAL: certificate generations (tls_ctx.c:
 * good pair, mismatched key, expired certificate, unreadable file, SNI
 * names) and the TLS transport (transport_tls.c) stacked on the fake
 * transport of fake_conn.h under a real session host, driven by an
 * OpenSSL client on memory BIOs: the handshake with records split at every
 * octet, the injection case (plaintext pipelined after STARTTLS), EHLO
 * again without STARTTLS, Received: text, garbage instead of a
 * ClientHello, the handshake timeout, a client that closes mid-handshake
 * and the per-worker bound on TLS sessions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "core/tlsmem.h"
#include "fake_conn.h"
#include "smtp/tls_ctx.h"
#include "smtp/transport_tls.h"

static char dir[64];
static const char *ticket_file; /* [tls] ticket_key_file of the next tfx_create() */

static char *path(const char *name)
{
	static char b[8][128];
	static unsigned k;
	char *p = b[k++ % 8];

	snprintf(p, 128, "%s/%s", dir, name);
	return p;
}

/* A self-signed P-256 certificate for @cn into NAME.pem / NAME.key,
 * valid from @from_days to @to_days relative to now. */
static void mkcert(const char *name, const char *cn, long from_days, long to_days)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);
	X509_EXTENSION *ext;
	char pem[64], key[64], san[300];
	FILE *f;

	assert_non_null(k);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400);
	X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	snprintf(san, sizeof(san), "DNS:%s", cn);
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	snprintf(pem, sizeof(pem), "%s.pem", name);
	snprintf(key, sizeof(key), "%s.key", name);
	f = fopen(path(pem), "w");
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(path(key), "w");
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* A CA and a leaf for @cn it signed: NAME.pem = leaf then CA, NAME.key. */
static void mkchain(const char *name, const char *cn)
{
	EVP_PKEY *ck = EVP_EC_gen("P-256"), *lk = EVP_EC_gen("P-256");
	X509 *ca = X509_new(), *leaf = X509_new();
	char pem[64], key[64];
	FILE *f;

	ASN1_INTEGER_set(X509_get_serialNumber(ca), 1);
	X509_gmtime_adj(X509_getm_notBefore(ca), -86400);
	X509_gmtime_adj(X509_getm_notAfter(ca), 86400 * 60);
	X509_set_pubkey(ca, ck);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(ca), "CN", MBSTRING_ASC,
				   (const unsigned char *)"Test CA", -1, -1, 0);
	X509_set_issuer_name(ca, X509_get_subject_name(ca));
	X509_sign(ca, ck, EVP_sha256());
	ASN1_INTEGER_set(X509_get_serialNumber(leaf), 2);
	X509_gmtime_adj(X509_getm_notBefore(leaf), -86400);
	X509_gmtime_adj(X509_getm_notAfter(leaf), 86400 * 30);
	X509_set_pubkey(leaf, lk);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(leaf), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(leaf, X509_get_subject_name(ca));
	X509_sign(leaf, ck, EVP_sha256());
	snprintf(pem, sizeof(pem), "%s.pem", name);
	snprintf(key, sizeof(key), "%s.key", name);
	f = fopen(path(pem), "w");
	PEM_write_X509(f, leaf);
	PEM_write_X509(f, ca);
	fclose(f);
	f = fopen(path(key), "w");
	PEM_write_PrivateKey(f, lk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ck);
	EVP_PKEY_free(lk);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mx-test-tls.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	mkcert("a", "mx.test", -1, 30);
	mkcert("b", "other.test", -1, 30);
	mkcert("w", "*.wild.test", -1, 30);
	mkcert("old", "mx.test", -30, -1);
	mkchain("chain", "chained.test");
	/* The control thread's QSBR registration, as config_gen.c does it. */
	rcu_register_thread();
	rcu_thread_offline();
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	smtp_tls_shutdown();
	rcu_unregister_thread();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct smtp_tls_gen *build1(const char *cert, const char *key, char *err, size_t len)
{
	struct smtp_tls_conf conf = {.npairs = 1, .min_version = TLS1_2_VERSION};
	struct smtp_tls_gen *g = NULL;

	conf.cert[0] = cert;
	conf.key[0] = key;
	if (smtp_tls_build(&conf, &g, err, len) != 0)
		return NULL;
	return g;
}

/* ---- generations ---------------------------------------------------------- */

static void test_build_checks(void **state)
{
	char err[512];
	struct smtp_tls_gen *g;
	struct smtp_tls_cert_info ci;

	(void)state;
	g = build1(path("a.pem"), path("a.key"), err, sizeof(err));
	assert_non_null(g);
	assert_int_equal(smtp_tls_gen_ncerts(g), 1);
	assert_int_equal(smtp_tls_gen_cert(g, 0, &ci), 0);
	assert_string_equal(ci.names, "mx.test");
	assert_string_equal(ci.key_type, "EC prime256v1");
	assert_true(ci.not_after > time(NULL) + 29 * 86400);
	smtp_tls_release(g);

	/* The key of another certificate: refused, the key file named. */
	assert_null(build1(path("a.pem"), path("b.key"), err, sizeof(err)));
	assert_non_null(strstr(err, "b.key: does not match the certificate"));
	assert_non_null(strstr(err, "a.pem"));
	assert_null(build1(path("old.pem"), path("old.key"), err, sizeof(err)));
	assert_non_null(strstr(err, "old.pem: certificate expired"));
	assert_null(build1(path("none.pem"), path("a.key"), err, sizeof(err)));
	assert_non_null(strstr(err, "none.pem: cannot read the certificate"));
	assert_null(build1(path("a.key"), path("a.key"), err, sizeof(err)));
	assert_non_null(strstr(err, "a.key: no PEM certificate"));
	/* A leaf with the CA that issued it: accepted, issuer shown. */
	g = build1(path("chain.pem"), path("chain.key"), err, sizeof(err));
	assert_non_null(g);
	assert_int_equal(smtp_tls_gen_cert(g, 0, &ci), 0);
	assert_non_null(strstr(ci.issuer, "Test CA"));
	smtp_tls_release(g);
	/* A "chain" that did not issue the certificate. */
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "cat %s %s > %s", path("a.pem"), path("b.pem"),
			 path("ab.pem"));
		assert_int_equal(system(cmd), 0);
	}
	assert_null(build1(path("ab.pem"), path("a.key"), err, sizeof(err)));
	assert_non_null(strstr(err, "ab.pem: chain certificate 1 did not issue the one before it"));
}

static void test_publish_keeps_old_for_holders(void **state)
{
	char err[512];
	struct smtp_tls_gen *g1 = build1(path("a.pem"), path("a.key"), err, sizeof(err));
	struct smtp_tls_gen *g2 = build1(path("b.pem"), path("b.key"), err, sizeof(err)), *h, *h2;
	SSL *ssl;

	(void)state;
	assert_non_null(g1);
	assert_non_null(g2);
	smtp_tls_publish(g1);
	h = smtp_tls_acquire(); /* a session in flight */
	assert_ptr_equal(h, g1);
	ssl = smtp_tls_gen_ssl(h);
	assert_non_null(ssl);
	smtp_tls_publish(g2);
	rcu_barrier(); /* the publisher's reference on g1 is gone */
	h2 = smtp_tls_acquire();
	assert_ptr_equal(h2, g2);
	assert_true(smtp_tls_gen_id(h2) > smtp_tls_gen_id(h));
	/* g1 is still whole for its session. */
	assert_int_equal(smtp_tls_gen_ncerts(h), 1);
	SSL_free(ssl);
	smtp_tls_release(h);
	smtp_tls_release(h2);
	assert_true(smtp_tls_days_left(time(NULL)) >= 29);
}

/* ---- the transport ------------------------------------------------------------ */

struct tfx {
	struct fx *f;
	struct smtp_tls_worker *w;
	SSL_CTX *cctx;
	SSL *cl;	/* the client */
	BIO *crd, *cwr; /* client reads crd (our output), writes cwr (our input) */
};

/* The server's events run as worker 0 of core/tlsmem.h (the client's
 * OpenSSL allocations stay plain). */
static bool as_worker;

static struct tfx *tfx_create(unsigned tls_slots, const char *sni)
{
	struct tfx *t = calloc(1, sizeof(*t));
	struct smtp_config sc;
	struct smtp_host_conf hc = {0};
	struct fx *f = calloc(1, sizeof(*f));
	char err[512];
	struct smtp_tls_conf conf = {
		.npairs = 3, .min_version = TLS1_2_VERSION, .ticket_key_file = ticket_file};
	struct smtp_tls_gen *g;

	assert_non_null(t);
	assert_non_null(f);
	conf.cert[0] = path("a.pem"), conf.key[0] = path("a.key");
	conf.cert[1] = path("b.pem"), conf.key[1] = path("b.key");
	conf.cert[2] = path("w.pem"), conf.key[2] = path("w.key");
	assert_int_equal(smtp_tls_build(&conf, &g, err, sizeof(err)), 0);
	smtp_tls_publish(g);
	f->now = 1000000000;
	timer_wheel_init(&f->wheel, f->now / 1000);
	smtp_config_defaults(&sc);
	snprintf(sc.hostname, sizeof(sc.hostname), "mx.test");
	sc.max_sessions = FX_CONNS;
	sc.starttls_available = true;
	sc.timeout_tls_ms = 5000;
	hc.smtp = &sc;
	hc.wheel = &f->wheel;
	hc.now_us = &f->now;
	f->h = smtp_host_create(&hc);
	assert_non_null(f->h);
	t->f = f;
	t->w = smtp_tls_worker_create(0, tls_slots);
	assert_non_null(t->w);
	assert_int_equal(smtp_tls_stages_add(f->h, t->w), 0);
	smtp_conn_on_starttls(smtp_host_conns(f->h), smtp_tls_on_starttls, t->w);
	t->cctx = SSL_CTX_new(TLS_client_method());
	t->cl = SSL_new(t->cctx);
	t->crd = BIO_new(BIO_s_mem());
	t->cwr = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(t->crd, -1); /* empty: retry, not EOF */
	SSL_set_bio(t->cl, t->crd, t->cwr);
	if (sni)
		SSL_set_tlsext_host_name(t->cl, sni);
	SSL_set_connect_state(t->cl);
	return t;
}

static struct smtp_tls_counters tcnt(struct tfx *t);

static void tfx_destroy(struct tfx *t)
{
	/* CLOSED from the lower transport of what is open (fx_close_all()
	 * knows only unstacked ones): TLS slots go back. */
	for (unsigned i = 0; i < FX_CONNS; i++)
		if (t->f->c[i] && t->f->c[i]->s && t->f->c[i]->low.tr == &t->f->tr[i])
			smtp_conn_event(t->f->c[i], SMTP_CONN_EV_CLOSED);
	assert_int_equal(tcnt(t).sessions, 0);
	fx_destroy(t->f);
	smtp_tls_worker_destroy(t->w);
	SSL_free(t->cl);
	SSL_CTX_free(t->cctx);
	free(t);
}

static struct smtp_tls_counters tcnt(struct tfx *t)
{
	struct smtp_tls_counters c;

	smtp_tls_counters_read(t->w, &c);
	return c;
}

/* The client sends @len raw octets on connection @i, @step at a time
 * (each a READABLE event). */
static void raw(struct tfx *t, unsigned i, const void *p, size_t len, size_t step)
{
	struct fake_tr *tr = &t->f->tr[i];

	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;

		memmove(tr->in, tr->in + tr->in_off, tr->in_len - tr->in_off);
		tr->in_len -= tr->in_off;
		tr->in_off = 0;
		assert_true(tr->in_len + n <= sizeof(tr->in));
		memcpy(tr->in + tr->in_len, (const char *)p + off, n);
		tr->in_len += n;
		if (t->f->c[i]->s) {
			if (as_worker) /* the server's side only: worker 0's budget */
				mx_tlsmem_enter(0);
			smtp_conn_event(t->f->c[i], SMTP_CONN_EV_READABLE);
			mx_tlsmem_leave();
		}
	}
}

/* Move what the server sent on @i to the client's read BIO. */
static void to_client(struct tfx *t, unsigned i)
{
	struct fake_tr *tr = &t->f->tr[i];

	if (tr->out_len)
		BIO_write(t->crd, tr->out, (int)tr->out_len);
	tr->out_len = 0;
}

/* Move what the client wrote to the server, @step octets per event. */
static void to_server(struct tfx *t, unsigned i, size_t step)
{
	char b[16384];
	int n;

	while ((n = BIO_read(t->cwr, b, sizeof(b))) > 0)
		raw(t, i, b, (size_t)n, step);
}

/* Run the handshake to its end; the client's records go in @step-octet
 * pieces. Returns the client's result (1 ok). */
static int handshake(struct tfx *t, unsigned i, size_t step)
{
	int r = 0;

	for (int k = 0; k < 50; k++) {
		int e;

		r = SSL_do_handshake(t->cl);
		e = r == 1 ? 0 : SSL_get_error(t->cl, r); /* before the BIOs change */
		to_server(t, i, step);
		to_client(t, i);
		if (r == 1)
			break;
		if (e != SSL_ERROR_WANT_READ) {
			print_message("client handshake: error %d: %s\n", e,
				      ERR_reason_error_string(ERR_peek_last_error()));
			return r;
		}
	}
	/* The server's last flight (tickets) may follow the client's end. */
	to_server(t, i, step);
	to_client(t, i);
	return r;
}

/* Send @line through TLS and return the server's plaintext answer. */
static const char *tls_cmd(struct tfx *t, unsigned i, const char *line, size_t step)
{
	static char b[8192];
	size_t got = 0, n;

	if (line) {
		assert_int_equal(SSL_write(t->cl, line, (int)strlen(line)), (int)strlen(line));
		to_server(t, i, step);
	}
	to_client(t, i);
	while (got + 1 < sizeof(b) && SSL_read_ex(t->cl, b + got, sizeof(b) - 1 - got, &n) == 1)
		got += n;
	b[got] = '\0';
	return b;
}

static void start_tls(struct tfx *t, unsigned i, const char *pipelined)
{
	char line[128];

	assert_non_null(connect_client(t->f, i));
	assert_non_null(strstr(sent(t->f, i), "220 mx.test"));
	client(t->f, i, "EHLO c.test\r\n");
	assert_non_null(strstr(sent(t->f, i), "250-STARTTLS\r\n"));
	snprintf(line, sizeof(line), "STARTTLS\r\n%s", pipelined ? pipelined : "");
	client(t->f, i, line);
	assert_string_equal(sent(t->f, i), "220 2.0.0 Ready to start TLS\r\n");
	assert_ptr_equal(t->f->c[i]->top.ops, &smtp_tls_ops);
}

static void conversation(struct tfx *t, unsigned i, size_t step)
{
	const char *r;

	assert_int_equal(handshake(t, i, step), 1);
	assert_int_equal(tcnt(t).handshakes_ok, 1);
	assert_non_null(smtp_conn_security(t->f->c[i]));
	assert_non_null(strstr(smtp_conn_security(t->f->c[i]), "TLSv1.3 with cipher TLS_"));
	/* RFC 3207 4.2: EHLO again; STARTTLS not offered inside TLS. */
	r = tls_cmd(t, i, "MAIL FROM:<a@b.test>\r\n", step);
	assert_non_null(strstr(r, "503 5.5.1"));
	r = tls_cmd(t, i, "EHLO c.test\r\n", step);
	assert_non_null(strstr(r, "250-mx.test\r\n"));
	assert_null(strstr(r, "STARTTLS"));
	r = tls_cmd(t, i, "MAIL FROM:<a@b.test>\r\nRCPT TO:<u@mx.test>\r\n", step);
	assert_non_null(strstr(r, "250 2.1.0"));
	assert_non_null(strstr(r, "250 2.1.5"));
	r = tls_cmd(t, i, "QUIT\r\n", step);
	assert_non_null(strstr(r, "221 2.0.0"));
	assert_int_equal(t->f->tr[i].shut, 1); /* close_notify, then our FIN */
}

static void test_starttls_whole_records(void **state)
{
	struct tfx *t = tfx_create(2, NULL);

	(void)state;
	start_tls(t, 0, NULL);
	conversation(t, 0, 1 << 20);
	assert_int_equal(tcnt(t).sessions, 1);
	smtp_conn_event(t->f->c[0], SMTP_CONN_EV_CLOSED);
	assert_int_equal(tcnt(t).sessions, 0);
	tfx_destroy(t);
}

/* Every record split at every octet: one READABLE per octet. */
static void test_starttls_octet_by_octet(void **state)
{
	struct tfx *t = tfx_create(2, "mx.test");

	(void)state;
	start_tls(t, 0, NULL);
	conversation(t, 0, 1);
	tfx_destroy(t);
}

/* CVE-2011-0411: commands pipelined after STARTTLS in the same segment
 * are discarded, never answered inside TLS. */
static void test_injection(void **state)
{
	struct tfx *t = tfx_create(2, NULL);
	const char *r;

	(void)state;
	start_tls(t, 0, "RSET\r\nMAIL FROM:<evil@x.test>\r\n");
	assert_int_equal(t->f->tr[0].in_off, t->f->tr[0].in_len); /* all dropped */
	assert_int_equal(handshake(t, 0, 1 << 20), 1);
	r = tls_cmd(t, 0, NULL, 1 << 20);
	assert_string_equal(r, ""); /* nothing answered yet */
	r = tls_cmd(t, 0, "NOOP\r\n", 1 << 20);
	assert_string_equal(r, "250 2.0.0 Ok\r\n");
	tfx_destroy(t);
}

/* Bytes that are no ClientHello: the handshake fails, the session closes
 * without a plaintext word. */
static void test_garbage_after_starttls(void **state)
{
	struct tfx *t = tfx_create(2, NULL);
	static const char junk[] = "EHLO not-tls\r\nMAIL FROM:<x@y>\r\n\x16\x03\x01\x00\x05hello";

	(void)state;
	start_tls(t, 0, NULL);
	raw(t, 0, junk, sizeof(junk) - 1, 3);
	assert_int_equal(tcnt(t).handshakes_failed, 1);
	assert_true(smtp_session_closing(t->f->c[0]->s));
	assert_int_equal(t->f->tr[0].shut, 1);
	assert_null(strstr(sent(t->f, 0), "250")); /* at most an alert */
	tfx_destroy(t);
}

/* No handshake within [tls] handshake_timeout_s: closed, no 421 leaks
 * in plaintext. */
static void test_handshake_timeout(void **state)
{
	struct tfx *t = tfx_create(2, NULL);

	(void)state;
	start_tls(t, 0, NULL);
	advance_ms(t->f, 4000);
	assert_int_equal(t->f->tr[0].shut, 0);
	advance_ms(t->f, 1100);
	assert_int_equal(t->f->tr[0].shut, 1);
	assert_string_equal(sent(t->f, 0), "");
	tfx_destroy(t);
}

static void test_peer_fin_in_handshake(void **state)
{
	struct tfx *t = tfx_create(2, NULL);

	(void)state;
	start_tls(t, 0, NULL);
	smtp_conn_event(t->f->c[0], SMTP_CONN_EV_PEER_FIN);
	assert_int_equal(tcnt(t).handshakes_eof, 1);
	assert_int_equal(t->f->tr[0].shut, 1);
	tfx_destroy(t);
}

/* One TLS slot: the second STARTTLS gets 454 (Postfix's text) and its
 * session goes on in plaintext; once the first session ends the slot
 * serves again. */
static void test_slot_bound(void **state)
{
	struct tfx *t = tfx_create(1, NULL);

	(void)state;
	start_tls(t, 0, NULL);
	assert_non_null(connect_client(t->f, 1));
	sent(t->f, 1);
	client(t->f, 1, "EHLO c.test\r\n");
	sent(t->f, 1);
	client(t->f, 1, "STARTTLS\r\n");
	assert_string_equal(sent(t->f, 1), "454 4.7.0 TLS not available due to local problem\r\n");
	assert_int_equal(tcnt(t).no_slot, 1);
	assert_false(smtp_session_closing(t->f->c[1]->s));
	assert_int_equal(t->f->tr[1].shut, 0);
	assert_ptr_equal(t->f->c[1]->top.ops, t->f->c[0]->low.ops); /* still plain */
	client(t->f, 1, "MAIL FROM:<a@b.test>\r\n");
	assert_string_equal(sent(t->f, 1), "250 2.1.0 Ok\r\n");
	client(t->f, 1, "RSET\r\n");
	sent(t->f, 1);
	assert_int_equal(tcnt(t).sessions, 1);
	/* The TLS session ends: its slot takes the next STARTTLS. */
	smtp_conn_event(t->f->c[0], SMTP_CONN_EV_CLOSED);
	assert_int_equal(tcnt(t).sessions, 0);
	client(t->f, 1, "STARTTLS\r\n");
	assert_string_equal(sent(t->f, 1), "220 2.0.0 Ready to start TLS\r\n");
	assert_ptr_equal(t->f->c[1]->top.ops, &smtp_tls_ops);
	assert_int_equal(tcnt(t).sessions, 1);
	tfx_destroy(t);
	/* An abort (e.g. the linger) frees the TLS slot and the lower handle. */
	t = tfx_create(1, NULL);
	start_tls(t, 0, NULL);
	smtp_conn_abort(t->f->c[0]);
	assert_int_equal(t->f->tr[0].aborted, 1);
	assert_int_equal(tcnt(t).sessions, 0);
	tfx_destroy(t);
}

/* No certificate published: 454 too, counted, plaintext goes on; a slot
 * reserved at STARTTLS whose session ends before the handshake began
 * goes back to the free list. */
static void test_no_context(void **state)
{
	struct tfx *t = tfx_create(1, NULL);

	(void)state;
	smtp_tls_publish(NULL);
	assert_non_null(connect_client(t->f, 0));
	sent(t->f, 0);
	client(t->f, 0, "EHLO c.test\r\n");
	sent(t->f, 0);
	client(t->f, 0, "STARTTLS\r\n");
	assert_string_equal(sent(t->f, 0), "454 4.7.0 TLS not available due to local problem\r\n");
	assert_int_equal(tcnt(t).no_context, 1);
	client(t->f, 0, "NOOP\r\n");
	assert_string_equal(sent(t->f, 0), "250 2.0.0 Ok\r\n");
	smtp_conn_event(t->f->c[0], SMTP_CONN_EV_CLOSED);
	tfx_destroy(t);
}

/* SNI picks the certificate by exact and by wildcard name. */
static void test_sni(void **state)
{
	static const struct {
		const char *sni, *cn;
	} cases[] = {
		{"other.test", "other.test"},
		{"a.wild.test", "*.wild.test"},
		{"b.a.wild.test", "mx.test"}, /* one label only */
		{"unknown.test", "mx.test"},
	};

	(void)state;
	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct tfx *t = tfx_create(2, cases[k].sni);
		X509 *x;
		char cn[128];

		start_tls(t, 0, NULL);
		assert_int_equal(handshake(t, 0, 1 << 20), 1);
		x = SSL_get1_peer_certificate(t->cl);
		assert_non_null(x);
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
		assert_string_equal(cn, cases[k].cn);
		X509_free(x);
		tfx_destroy(t);
	}
}

/* Implicit TLS (port 465): the banner waits for the handshake and goes out
 * encrypted; STARTTLS is not offered; nothing leaks in plaintext. */
static void test_implicit(void **state)
{
	static const struct smtp_peer peer = {.family = 4, .port = 40000, .addr = {192, 0, 2, 1}};
	struct tfx *t = tfx_create(2, NULL);
	struct fx *f = t->f;
	const char *r;

	(void)state;
	memset(&f->tr[0], 0, sizeof(f->tr[0]));
	f->tr[0].send_room = SIZE_MAX;
	f->c[0] = smtp_conn_open(smtp_host_conns(f->h), &fake_ops, &f->tr[0], &peer);
	assert_non_null(f->c[0]);
	smtp_tls_on_implicit(t->w, f->c[0]);
	smtp_conn_pump(f->c[0]);
	assert_string_equal(sent(f, 0), ""); /* no plaintext banner */
	assert_int_equal(handshake(t, 0, 1), 1);
	r = tls_cmd(t, 0, NULL, 1 << 20);
	assert_non_null(strstr(r, "220 mx.test"));
	r = tls_cmd(t, 0, "EHLO c.test\r\n", 7);
	assert_non_null(strstr(r, "250-mx.test"));
	assert_null(strstr(r, "STARTTLS"));
	r = tls_cmd(t, 0, "STARTTLS\r\n", 1 << 20);
	assert_non_null(strstr(r, "503 5.5.1"));
	assert_int_equal(tcnt(t).implicit, 1);
	tfx_destroy(t);

	/* No handshake within the bound: closed, no banner in plaintext. */
	t = tfx_create(2, NULL);
	f = t->f;
	memset(&f->tr[0], 0, sizeof(f->tr[0]));
	f->tr[0].send_room = SIZE_MAX;
	f->c[0] = smtp_conn_open(smtp_host_conns(f->h), &fake_ops, &f->tr[0], &peer);
	smtp_tls_on_implicit(t->w, f->c[0]);
	smtp_conn_pump(f->c[0]);
	advance_ms(f, 5100);
	assert_int_equal(f->tr[0].shut, 1);
	assert_string_equal(sent(f, 0), "");
	tfx_destroy(t);
}

/* Tickets under keys from a file survive a new generation (a restart or
 * reload); without the file a new generation means a full handshake. */
static void test_ticket_file_resumption(void **state)
{
	FILE *f = fopen(path("t.keys"), "w");
	unsigned char raw[80];
	static char keys[128]; /* path() rotates its buffers */

	(void)state;
	RAND_bytes(raw, sizeof(raw));
	fprintf(f, "# test-only ticket key\n");
	for (unsigned i = 0; i < sizeof(raw); i++)
		fprintf(f, "%02x", raw[i]);
	fprintf(f, "\n");
	fclose(f);
	for (int file = 1; file >= 0; file--)
		for (int v13 = 0; v13 < 2; v13++) {
			int maxv = v13 ? TLS1_3_VERSION : TLS1_2_VERSION;
			SSL_SESSION *sess;
			struct tfx *t;

			snprintf(keys, sizeof(keys), "%s", path("t.keys"));
			ticket_file = file ? keys : NULL;
			t = tfx_create(2, NULL);
			SSL_set_max_proto_version(t->cl, maxv);
			start_tls(t, 0, NULL);
			assert_int_equal(handshake(t, 0, 1 << 20), 1);
			tls_cmd(t, 0, NULL, 1 << 20); /* the TLS 1.3 tickets */
			sess = SSL_get1_session(t->cl);
			assert_true(SSL_SESSION_has_ticket(sess));
			SSL_shutdown(t->cl); /* else the session is not resumable */
			tfx_destroy(t);
			smtp_tls_shutdown(); /* a restart: generation and ticket keys gone */
			t = tfx_create(2, NULL);
			SSL_set_max_proto_version(t->cl, maxv);
			SSL_set_session(t->cl, sess);
			start_tls(t, 0, NULL);
			assert_int_equal(handshake(t, 0, 1 << 20), 1);
			assert_int_equal(SSL_session_reused(t->cl), file);
			assert_int_equal(tcnt(t).handshakes_resumed, (uint64_t)file);
			SSL_SESSION_free(sess);
			tfx_destroy(t);
		}
	ticket_file = NULL;
	/* A malformed key file is refused with its name and line. */
	f = fopen(path("bad.keys"), "w");
	fprintf(f, "00ff\n");
	fclose(f);
	{
		struct smtp_tls_conf conf = {.npairs = 1, .ticket_key_file = path("bad.keys")};
		struct smtp_tls_gen *g;
		char err[512];

		conf.cert[0] = path("a.pem");
		conf.key[0] = path("a.key");
		assert_int_equal(smtp_tls_build(&conf, &g, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "bad.keys:1: expected a ticket key of 160 hex digits"));
	}
}

/* A TLS 1.3 client resumes @sess (NULL: a first visit) and returns its
 * new session; *@reused says whether the server took the ticket. */
static SSL_SESSION *visit(SSL_SESSION *sess, int *reused)
{
	struct tfx *t = tfx_create(2, NULL);
	SSL_SESSION *out;

	if (sess)
		SSL_set_session(t->cl, sess);
	start_tls(t, 0, NULL);
	assert_int_equal(handshake(t, 0, 1 << 20), 1);
	tls_cmd(t, 0, NULL, 1 << 20); /* the TLS 1.3 ticket */
	*reused = SSL_session_reused(t->cl);
	assert_int_equal(tcnt(t).handshakes_resumed, (uint64_t)*reused);
	out = SSL_get1_session(t->cl);
	assert_true(SSL_SESSION_has_ticket(out));
	SSL_shutdown(t->cl);
	tfx_destroy(t);
	return out;
}

/* Without a key file: a new ticket key each period on the caller's clock;
 * tickets under the previous key still resume within their lifetime, and
 * a certificate reload (a new generation) keeps the keys. */
static void test_ticket_rotation(void **state)
{
	const int64_t p = 43200;
	time_t base = time(NULL), newest;
	SSL_SESSION *s1, *s2, *s3;
	unsigned n;
	uint64_t rot;
	int reused;

	(void)state;
	smtp_tls_shutdown(); /* a fresh ring, made by the next build */
	s1 = visit(NULL, &reused);
	assert_int_equal(reused, 0);
	smtp_tls_ticket_info(&n, &newest, &rot);
	assert_int_equal(n, 1);
	assert_int_equal(smtp_tls_ticket_rotate(base + p - 10, p), 0); /* not due */
	assert_int_equal(smtp_tls_ticket_rotate(base + p + 5, p), 1);
	smtp_tls_ticket_info(&n, &newest, &rot);
	assert_int_equal(n, 2);
	assert_int_equal(newest, base + p + 5);
	/* The old key decrypts (a new generation each visit: tfx_create). */
	s2 = visit(s1, &reused);
	assert_int_equal(reused, 1);
	/* One period later the first key stopped encrypting a period ago,
	 * more than a ticket lifetime: dropped; the second still decrypts. */
	assert_int_equal(smtp_tls_ticket_rotate(base + 2 * p + 5, p), 1);
	smtp_tls_ticket_info(&n, &newest, &rot);
	assert_int_equal(n, 2);
	s3 = visit(s1, &reused);
	assert_int_equal(reused, 0);
	SSL_SESSION_free(s3);
	s3 = visit(s2, &reused); /* s2 was renewed under the second key */
	assert_int_equal(reused, 1);
	/* Period 0: never rotates after the first key. */
	assert_int_equal(smtp_tls_ticket_rotate(base + 100 * p, 0), 0);
	SSL_SESSION_free(s1);
	SSL_SESSION_free(s2);
	SSL_SESSION_free(s3);
}

/* A new client SSL for the next connection. */
static void new_client(struct tfx *t)
{
	SSL_free(t->cl);
	t->cl = SSL_new(t->cctx);
	t->crd = BIO_new(BIO_s_mem());
	t->cwr = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(t->crd, -1);
	SSL_set_bio(t->cl, t->crd, t->cwr);
	SSL_set_connect_state(t->cl);
}

/* STARTTLS on @i as worker 0; returns whether the TLS transport is on. */
static bool start_tls_worker(struct tfx *t, unsigned i)
{
	assert_non_null(connect_client(t->f, i));
	sent(t->f, i);
	client(t->f, i, "EHLO c.test\r\n");
	sent(t->f, i);
	mx_tlsmem_enter(0);
	client(t->f, i, "STARTTLS\r\n");
	mx_tlsmem_leave();
	assert_string_equal(sent(t->f, i), "220 2.0.0 Ready to start TLS\r\n");
	return t->f->c[i]->top.ops == &smtp_tls_ops;
}

/* [tls] mem_per_worker_mb: OpenSSL's allocations on a worker are bounded.
 * With a budget for one handshake and an idle session already held, the
 * next handshake fails cleanly (counted, the session ends, its slot goes
 * back); once the idle session is gone the next handshake succeeds within
 * the same budget. A budget below an SSL fails SSL_new itself. */
static void test_mem_budget(void **state)
{
	struct tfx *t = tfx_create(3, NULL);
	uint64_t base, peak;
	struct smtp_tls_counters c0;

	(void)state;
	as_worker = true;
	mx_tlsmem_set_budget(SIZE_MAX);
	/* Warm-up (OpenSSL's lazy per-thread state), then one session's peak. */
	assert_true(start_tls_worker(t, 0));
	assert_int_equal(handshake(t, 0, 1 << 20), 1);
	smtp_conn_event(t->f->c[0], SMTP_CONN_EV_CLOSED); /* freed off the worker */
	base = tcnt(t).mem_bytes;
	mx_tlsmem_reset_max(0);
	new_client(t);
	assert_true(start_tls_worker(t, 1));
	assert_int_equal(handshake(t, 1, 1 << 20), 1);
	peak = tcnt(t).mem_bytes_max - base;
	assert_true(tcnt(t).mem_bytes > base); /* the idle session's SSL */
	mx_tlsmem_enter(0);
	smtp_conn_event(t->f->c[1], SMTP_CONN_EV_CLOSED); /* freed on the worker */
	mx_tlsmem_leave();
	assert_int_equal(tcnt(t).mem_bytes, base); /* everything charged back */
	print_message("tls mem: base %llu, one handshake's peak %llu octets\n",
		      (unsigned long long)base, (unsigned long long)peak);

	/* One handshake's worth: A completes and stays idle... */
	mx_tlsmem_set_budget(base + peak + 1024);
	new_client(t);
	assert_true(start_tls_worker(t, 2));
	assert_int_equal(handshake(t, 2, 1 << 20), 1);
	/* ...so B's handshake runs out of budget and fails cleanly. */
	c0 = tcnt(t);
	new_client(t);
	assert_true(start_tls_worker(t, 3));
	assert_int_equal(tcnt(t).sessions, 2);
	assert_int_not_equal(handshake(t, 3, 1 << 20), 1);
	assert_true(tcnt(t).mem_refused > c0.mem_refused);
	assert_int_equal(tcnt(t).handshakes_failed, c0.handshakes_failed + 1);
	assert_int_equal(t->f->tr[3].shut + t->f->tr[3].aborted, 1); /* the session ends */
	smtp_conn_event(t->f->c[3], SMTP_CONN_EV_CLOSED);
	assert_int_equal(tcnt(t).sessions, 1); /* B's slot back */
	assert_true(tcnt(t).mem_bytes <= base + peak + 1024);
	/* A ends: C's handshake succeeds within the same budget. */
	smtp_conn_event(t->f->c[2], SMTP_CONN_EV_CLOSED);
	assert_int_equal(tcnt(t).mem_bytes, base);
	new_client(t);
	assert_true(start_tls_worker(t, 0));
	assert_int_equal(handshake(t, 0, 1 << 20), 1);
	assert_int_equal(tcnt(t).handshakes_ok, c0.handshakes_ok + 1);
	smtp_conn_event(t->f->c[0], SMTP_CONN_EV_CLOSED);

	/* Below one SSL: SSL_new fails at STARTTLS, the session ends with its
	 * slot back. */
	c0 = tcnt(t);
	mx_tlsmem_set_budget(base + 256);
	new_client(t);
	assert_false(start_tls_worker(t, 1));
	assert_true(tcnt(t).mem_refused > c0.mem_refused);
	assert_int_equal(tcnt(t).sessions, 0);
	/* What stays charged is OpenSSL's per-thread error state (the text
	 * of SSL_new's error, kept for reuse by the thread's ERR_STATE). */
	assert_true(tcnt(t).mem_bytes <= base + 256);
	mx_tlsmem_set_budget(SIZE_MAX);
	as_worker = false;
	tfx_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_checks),
		cmocka_unit_test(test_publish_keeps_old_for_holders),
		cmocka_unit_test(test_starttls_whole_records),
		cmocka_unit_test(test_starttls_octet_by_octet),
		cmocka_unit_test(test_injection),
		cmocka_unit_test(test_garbage_after_starttls),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_peer_fin_in_handshake),
		cmocka_unit_test(test_slot_bound),
		cmocka_unit_test(test_no_context),
		cmocka_unit_test(test_sni),
		cmocka_unit_test(test_ticket_file_resumption),
		cmocka_unit_test(test_ticket_rotation),
		cmocka_unit_test(test_implicit),
		cmocka_unit_test(test_mem_budget),
	};

	/* OpenSSL's allocator before anything touches OpenSSL, as in main(). */
	if (mx_tlsmem_init(SIZE_MAX) != 0 || mx_tlsmem_arenas(1) != 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
