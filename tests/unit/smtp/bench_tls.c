/*
 * bench_tls.c - STARTTLS handshakes per second of the server side, and
 * memory per idle TLS session (a benchmark program, not a test).
 *
 *   build/tests/unit/smtp/smtp_bench_tls [ec|rsa] [N] [tls1.2|tls1.3]
 *
 * N full handshakes run in process: the session host and TLS transport
 * (the server, exactly the worker's code over a fake lower transport) and
 * an OpenSSL client on memory BIOs. Only the server's CPU time is counted
 * (CLOCK_THREAD_CPUTIME_ID around each server call), so the figure is
 * handshakes/s of one server core; compare with `openssl speed` for the
 * same key exchange (X25519) and signature (ecdsap256 or rsa2048) on the
 * same machine. Then it resumes N/2 sessions with their tickets, and keeps
 * 200 established idle sessions open to measure the heap they hold
 * (the server's OpenSSL heap as charged to worker 0 by core/tlsmem.h,
 * which the server's calls run as; plus the transport's slot).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "core/tlsmem.h"
#include "fake_conn.h"
#include "smtp/tls_ctx.h"
#include "smtp/transport_tls.h"

#define IDLE 200

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double server_cpu;

struct cl {
	SSL *ssl;
	BIO *rd, *wr;
	struct fake_tr tr;
	struct smtp_conn *c;
};

static struct smtp_stage_host *h;
static struct timer_wheel wheel;
static uint64_t now_us = 1000000000;
static struct smtp_tls_worker *w;

static void srv_feed(struct cl *k, const void *p, size_t n)
{
	struct fake_tr *t = &k->tr;
	double t0;

	memmove(t->in, t->in + t->in_off, t->in_len - t->in_off);
	t->in_len -= t->in_off;
	t->in_off = 0;
	memcpy(t->in + t->in_len, p, n);
	t->in_len += n;
	t0 = cpu_s();
	mx_tlsmem_enter(0); /* the server's side: worker 0's arena and budget */
	smtp_conn_event(k->c, SMTP_CONN_EV_READABLE);
	mx_tlsmem_leave();
	server_cpu += cpu_s() - t0;
}

static void pump(struct cl *k)
{
	char b[16384];
	int n;

	while ((n = BIO_read(k->wr, b, sizeof(b))) > 0)
		srv_feed(k, b, (size_t)n);
	if (k->tr.out_len)
		BIO_write(k->rd, k->tr.out, (int)k->tr.out_len);
	k->tr.out_len = 0;
}

static int open_tls(struct cl *k, SSL_CTX *cctx, SSL_SESSION *resume)
{
	static const struct smtp_peer peer = {.family = 4, .addr = {192, 0, 2, 1}};
	double t0 = cpu_s();
	int r = 0;

	memset(&k->tr, 0, sizeof(k->tr));
	k->tr.send_room = SIZE_MAX;
	k->c = smtp_conn_open(smtp_host_conns(h), &fake_ops, &k->tr, &peer);
	if (!k->c)
		return -1;
	mx_tlsmem_enter(0);
	smtp_conn_pump(k->c);
	mx_tlsmem_leave();
	server_cpu += cpu_s() - t0;
	k->tr.out_len = 0;
	srv_feed(k, "EHLO b\r\nSTARTTLS\r\n", 18);
	k->tr.out_len = 0;
	k->ssl = SSL_new(cctx);
	k->rd = BIO_new(BIO_s_mem());
	k->wr = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(k->rd, -1);
	SSL_set_bio(k->ssl, k->rd, k->wr);
	if (resume)
		SSL_set_session(k->ssl, resume);
	SSL_set_connect_state(k->ssl);
	for (int i = 0; i < 20 && r != 1; i++) {
		r = SSL_do_handshake(k->ssl);
		pump(k);
	}
	pump(k);
	/* Read the tickets (TLS 1.3 sends them after the handshake). */
	{
		char b[64];
		size_t n;
		SSL_read_ex(k->ssl, b, sizeof(b), &n);
	}
	return r == 1 ? 0 : -1;
}

static void close_tls(struct cl *k)
{
	double t0 = cpu_s();

	mx_tlsmem_enter(0);
	smtp_conn_event(k->c, SMTP_CONN_EV_CLOSED);
	mx_tlsmem_leave();
	server_cpu += cpu_s() - t0;
	SSL_shutdown(k->ssl); /* else the client's session is not resumable */
	SSL_free(k->ssl);
}

static void mkcert(const char *pem, const char *key, int rsa)
{
	EVP_PKEY *k = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
	X509 *x = X509_new();
	FILE *f;

	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400 * 30);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"bench.test", -1, -1, 0);
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

int main(int argc, char **argv)
{
	int rsa = argc > 1 && strcmp(argv[1], "rsa") == 0;
	int n = argc > 2 ? atoi(argv[2]) : 2000;
	int v12 = argc > 3 && strcmp(argv[3], "tls1.2") == 0;
	struct smtp_tls_conf conf = {.npairs = 1, .min_version = TLS1_2_VERSION};
	struct smtp_config sc;
	struct smtp_host_conf hc = {0};
	struct smtp_tls_gen *g;
	struct smtp_tls_counters cnt;
	SSL_CTX *cctx;
	SSL_SESSION *sess = NULL;
	char pem[64], key[64], err[512];
	static struct cl idle[IDLE];
	struct cl k;
	double full, resumed;
	uint64_t m0, m1, mmax, mref;

	snprintf(pem, sizeof(pem), "/tmp/mx-bench-tls-%d.pem", (int)getpid());
	snprintf(key, sizeof(key), "/tmp/mx-bench-tls-%d.key", (int)getpid());
	/* OpenSSL's allocator as in the daemon (before any OpenSSL use). */
	if (mx_tlsmem_init(SIZE_MAX) != 0 || mx_tlsmem_arenas(1) != 0)
		return 1;
	mkcert(pem, key, rsa);
	conf.cert[0] = pem;
	conf.key[0] = key;
	rcu_register_thread();
	rcu_thread_offline();
	if (smtp_tls_build(&conf, &g, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	unlink(pem);
	unlink(key);
	smtp_tls_publish(g);
	timer_wheel_init(&wheel, now_us / 1000);
	smtp_config_defaults(&sc);
	snprintf(sc.hostname, sizeof(sc.hostname), "bench.test");
	sc.max_sessions = IDLE + 4;
	sc.starttls_available = true;
	hc.smtp = &sc;
	hc.wheel = &wheel;
	hc.now_us = &now_us;
	h = smtp_host_create(&hc);
	w = smtp_tls_worker_create(0, IDLE + 4);
	smtp_conn_on_starttls(smtp_host_conns(h), smtp_tls_on_starttls, w);
	cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set1_groups_list(
		cctx, "X25519:P-256"); /* X25519 chosen; P-256 for an ECDSA cert in TLS 1.2 */
	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT);
	if (v12)
		SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);

	server_cpu = 0;
	for (int i = 0; i < n; i++) {
		if (open_tls(&k, cctx, NULL) != 0) {
			fprintf(stderr, "handshake %d failed: %s\n", i,
				ERR_reason_error_string(ERR_peek_last_error()));
			return 1;
		}
		if (i == n - 1)
			sess = SSL_get1_session(k.ssl);
		close_tls(&k);
	}
	full = server_cpu;
	server_cpu = 0;
	for (int i = 0; i < n / 2; i++) {
		if (open_tls(&k, cctx, sess) != 0)
			return 1;
		/* TLS 1.3 tickets are single-use for the client: the next. */
		SSL_SESSION_free(sess);
		sess = SSL_get1_session(k.ssl);
		close_tls(&k);
	}
	resumed = server_cpu;
	smtp_tls_counters_read(w, &cnt);

	/* The server's OpenSSL heap, as charged to worker 0 (core/tlsmem.h:
	 * requested octets and a 16-octet header per block). */
	mx_tlsmem_read(0, &m0, &mmax, &mref);
	mx_tlsmem_reset_max(0);
	for (int i = 0; i < IDLE; i++)
		if (open_tls(&idle[i], cctx, NULL) != 0)
			return 1;
	mx_tlsmem_read(0, &m1, &mmax, &mref);
	printf("cert %s, %s, X25519\n", rsa ? "RSA 2048" : "ECDSA P-256",
	       v12 ? "TLS 1.2" : "TLS 1.3");
	printf("full handshakes:    %d in %.3f s server CPU: %.0f/s per core\n", n, full, n / full);
	printf("resumed handshakes: %d in %.3f s server CPU: %.0f/s per core (resumed counted "
	       "%llu)\n",
	       n / 2, resumed, (n / 2) / resumed, (unsigned long long)cnt.handshakes_resumed);
	printf("idle TLS session: %llu octets of server OpenSSL heap (tls.mem_bytes) + %zu "
	       "octets of transport slot; one handshake peaks %llu octets above that\n",
	       (unsigned long long)(m1 - m0) / IDLE, smtp_tls_slot_size(),
	       (unsigned long long)(mmax - m1 + (m1 - m0) / IDLE));
	for (int i = 0; i < IDLE; i++)
		SSL_free(idle[i].ssl), idle[i].ssl = NULL;
	return 0;
}
