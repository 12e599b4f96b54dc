/*
 * tls_ctx.c - certificate generations for STARTTLS. See tls_ctx.h.
 *
 * Memory: a generation is one calloc() (control thread) holding its
 * SSL_CTXs (one reference each), the certificates it describes (one
 * reference each) and the SNI name table; freed by the last
 * smtp_tls_release().
 */
#include "smtp/tls_ctx.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <urcu-qsbr.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

/* Mozilla "intermediate" (v5.7), TLS 1.2 part, ECDHE only: forward
 * secrecy and AEAD for every suite. TLS 1.3 suites: OpenSSL's defaults. */
#define TLS12_CIPHERS                                                \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
/* Only when an operator lowers min_version below 1.2: the clients that
 * need it have no AEAD suite; OpenSSL 3 wants security level 0 for their
 * SHA-1 signatures. */
#define TLS10_CIPHERS                                                          \
	":ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:" \
	"ECDHE-RSA-AES256-SHA:@SECLEVEL=0"
#define TLS_GROUPS "X25519:P-256"

struct tls_name {
	char name[256]; /* lower case; "*.example.com" for a wildcard */
	unsigned group;
};

struct tls_cert {
	X509 *x509;
	struct smtp_tls_cert_info info;
	uint64_t handshakes; /* relaxed atomic adds from the workers */
};

struct tls_ticket_key {
	unsigned char name[16];
	unsigned char hmac[32];
	unsigned char aes[32];
};

struct smtp_tls_gen {
	struct rcu_head rcu;
	int refs;
	uint64_t id;
	unsigned nkeys; /* ticket keys from the file; 0: OpenSSL's own */
	struct tls_ticket_key keys[SMTP_TLS_MAX_TICKET_KEYS];
	EVP_CIPHER *aes; /* fetched once per generation */
	unsigned ngroups, ncerts, nnames;
	SSL_CTX *ctx[SMTP_TLS_MAX_PAIRS];
	struct tls_cert certs[SMTP_TLS_MAX_PAIRS];
	struct tls_name names[SMTP_TLS_MAX_PAIRS * SMTP_TLS_MAX_NAMES];
};

static struct smtp_tls_gen *current; /* RCU-protected; written by the control thread */
static uint64_t last_id;

/* Ticket keys made here (no ticket_key_file): [0] encrypts, every key
 * decrypts; each key is kept SMTP_TLS_TICKET_LIFETIME_S after the next one
 * replaced it. Shared by every generation (a certificate reload costs no
 * client a full handshake). Immutable once published; RCU-protected. */
struct tls_ticket_ring {
	struct rcu_head rcu;
	unsigned n;
	time_t created[SMTP_TLS_MAX_TICKET_KEYS];
	struct tls_ticket_key keys[SMTP_TLS_MAX_TICKET_KEYS];
};

static struct tls_ticket_ring *ring; /* written by the control thread */
static EVP_CIPHER *ring_aes;	     /* fetched with the first ring, freed at shutdown */
static uint64_t ring_rotations;

static void seterr(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	unsigned long e = ERR_peek_last_error();
	size_t n;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	n = strlen(err);
	if (e && n + 3 < len)
		snprintf(err + n, len - n, " (%s)", ERR_reason_error_string(e));
	ERR_clear_error();
}

int smtp_tls_version_of(int64_t i)
{
	static const int v[] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION};

	return i >= 0 && i < 4 ? v[i] : TLS1_2_VERSION;
}

static void gen_free(struct smtp_tls_gen *g)
{
	for (unsigned i = 0; i < g->ngroups; i++)
		SSL_CTX_free(g->ctx[i]);
	for (unsigned i = 0; i < g->ncerts; i++)
		X509_free(g->certs[i].x509);
	EVP_CIPHER_free(g->aes);
	OPENSSL_cleanse(g->keys, sizeof(g->keys));
	free(g);
}

void smtp_tls_release(struct smtp_tls_gen *g)
{
	if (g && __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) == 0)
		gen_free(g);
}

/* "CN=..., O=..." of @n into @b. */
static void name_text(const X509_NAME *n, char *b, size_t len)
{
	BIO *m = BIO_new(BIO_s_mem());
	char *p;
	long k;

	b[0] = '\0';
	if (!m)
		return;
	X509_NAME_print_ex(m, n, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
	k = BIO_get_mem_data(m, &p);
	if (k > 0)
		snprintf(b, len, "%.*s", (int)k, p);
	BIO_free(m);
}

static void key_text(EVP_PKEY *k, char *b, size_t len)
{
	char grp[24];
	size_t gl = 0;

	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
		snprintf(b, len, "RSA %d", EVP_PKEY_get_bits(k));
		break;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_group_name(k, grp, sizeof(grp), &gl))
			snprintf(grp, sizeof(grp), "?");
		snprintf(b, len, "EC %s", grp);
		break;
	default:
		snprintf(b, len, "%s",
			 EVP_PKEY_get0_type_name(k) ? EVP_PKEY_get0_type_name(k) : "?");
		break;
	}
}

static time_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

/* Add @name (lower-cased) to @out's names (for SNI) and @info's text. */
static void add_name(struct smtp_tls_gen *g, struct smtp_tls_cert_info *info, const char *name,
		     size_t n, unsigned *count)
{
	size_t used = strlen(info->names);

	if (n == 0 || n >= sizeof(g->names[0].name) || memchr(name, '\0', n) ||
	    *count >= SMTP_TLS_MAX_NAMES)
		return;
	snprintf(info->names + used, sizeof(info->names) - used, "%s%.*s", used ? " " : "", (int)n,
		 name);
	(*count)++;
	if (g->nnames < sizeof(g->names) / sizeof(g->names[0])) {
		struct tls_name *tn = &g->names[g->nnames++];

		for (size_t i = 0; i < n; i++)
			tn->name[i] =
				(char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
		tn->name[n] = '\0';
		tn->group = UINT32_MAX; /* set by the caller */
	}
}

/* DNS SANs of @x, else its CN. */
static void cert_names(struct smtp_tls_gen *g, X509 *x, struct smtp_tls_cert_info *info)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	unsigned count = 0;

	info->names[0] = '\0';
	for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);

		if (gn->type == GEN_DNS)
			add_name(g, info, (const char *)ASN1_STRING_get0_data(gn->d.dNSName),
				 (size_t)ASN1_STRING_length(gn->d.dNSName), &count);
	}
	GENERAL_NAMES_free(sans);
	if (count == 0) {
		const X509_NAME *sn = X509_get_subject_name(x);
		int k = X509_NAME_get_index_by_NID(sn, NID_commonName, -1);

		if (k >= 0) {
			const ASN1_STRING *cn =
				X509_NAME_ENTRY_get_data(X509_NAME_get_entry(sn, k));
			add_name(g, info, (const char *)ASN1_STRING_get0_data(cn),
				 (size_t)ASN1_STRING_length(cn), &count);
		}
	}
}

/* SNI: exact name first, then "*.rest" for one leading label. */
static int match_group(const struct smtp_tls_gen *g, const char *sn)
{
	const char *dot = strchr(sn, '.');

	for (unsigned i = 0; i < g->nnames; i++)
		if (g->names[i].name[0] != '*' && strcasecmp(g->names[i].name, sn) == 0)
			return (int)g->names[i].group;
	for (unsigned i = 0; dot && dot != sn && i < g->nnames; i++)
		if (g->names[i].name[0] == '*' && g->names[i].name[1] == '.' &&
		    strcasecmp(g->names[i].name + 1, dot) == 0)
			return (int)g->names[i].group;
	return -1;
}

static int sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct smtp_tls_gen *g = arg;
	const char *sn = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	int k;

	(void)alert;
	if (!sn || g->ngroups < 2)
		return SSL_TLSEXT_ERR_NOACK;
	k = match_group(g, sn);
	if (k > 0 && !SSL_set_SSL_CTX(ssl, g->ctx[k]))
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	/* Unknown names get the default certificate. */
	return SSL_TLSEXT_ERR_OK;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* Read the ticket keys of @path into @g. Returns 0 or -1 (@err set). */
static int load_ticket_keys(struct smtp_tls_gen *g, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[512];
	unsigned lineno = 0;

	if (!f) {
		snprintf(err, errlen, "%s: cannot read the ticket keys: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned char raw[80];
		size_t n = strcspn(line, "\r\n");
		unsigned k = 0;

		lineno++;
		line[n] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		for (; k < 80 && 2 * k + 1 < n; k++) {
			int hi = hexval(line[2 * k]), lo = hexval(line[2 * k + 1]);
			if (hi < 0 || lo < 0)
				break;
			raw[k] = (unsigned char)(hi << 4 | lo);
		}
		if (k != 80 || n != 160 || g->nkeys == SMTP_TLS_MAX_TICKET_KEYS) {
			snprintf(err, errlen,
				 "%s:%u: expected a ticket key of 160 hex digits (at most %d keys)",
				 path, lineno, SMTP_TLS_MAX_TICKET_KEYS);
			fclose(f);
			OPENSSL_cleanse(line, sizeof(line));
			return -1;
		}
		memcpy(g->keys[g->nkeys].name, raw, 16);
		memcpy(g->keys[g->nkeys].hmac, raw + 16, 32);
		memcpy(g->keys[g->nkeys].aes, raw + 48, 32);
		g->nkeys++;
		OPENSSL_cleanse(raw, sizeof(raw));
	}
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	if (g->nkeys == 0) {
		snprintf(err, errlen, "%s: no ticket key", path);
		return -1;
	}
	g->aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	if (!g->aes) {
		seterr(err, errlen, "cannot fetch AES-256-CBC for session tickets");
		return -1;
	}
	return 0;
}

/* OpenSSL's ticket key callback with the generation's keys: encrypt under
 * the first, decrypt under any (2: renew the ticket under the first). */
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
		     EVP_MAC_CTX *hctx, int enc)
{
	struct smtp_tls_gen *g = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	OSSL_PARAM params[2] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	const struct tls_ticket_key *k = NULL, *keys;
	const struct tls_ticket_ring *r = NULL;
	const EVP_CIPHER *aes;
	unsigned i = 0, n;

	if (!g)
		return 0;
	if (g->nkeys) {
		keys = g->keys, n = g->nkeys, aes = g->aes;
	} else {
		/* The ring: a worker is a QSBR reader online while it runs a
		 * handshake, so @r lives until this returns. */
		r = rcu_dereference(ring);
		if (!r || r->n == 0)
			return 0; /* no key yet: no ticket, a full handshake */
		keys = r->keys, n = r->n, aes = ring_aes;
	}
	if (enc) {
		k = &keys[0];
		memcpy(name, k->name, 16);
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(aes)) <= 0 ||
		    !EVP_EncryptInit_ex2(cctx, aes, k->aes, iv, NULL) ||
		    !EVP_MAC_init(hctx, k->hmac, sizeof(k->hmac), params))
			return -1;
		return 1;
	}
	for (; i < n; i++)
		if (memcmp(name, keys[i].name, 16) == 0) {
			k = &keys[i];
			break;
		}
	if (!k)
		return 0; /* unknown or expired key: a full handshake */
	if (!EVP_MAC_init(hctx, k->hmac, sizeof(k->hmac), params) ||
	    !EVP_DecryptInit_ex2(cctx, aes, k->aes, iv, NULL))
		return -1;
	return i == 0 ? 1 : 2;
}

static void ring_free_rcu(struct rcu_head *h)
{
	struct tls_ticket_ring *r = caa_container_of(h, struct tls_ticket_ring, rcu);

	OPENSSL_cleanse(r->keys, sizeof(r->keys));
	free(r);
}

int smtp_tls_ticket_rotate(time_t now, int64_t period_s)
{
	struct tls_ticket_ring *old = ring, *r;

	if (old && (period_s <= 0 || now < old->created[0] + period_s))
		return 0;
	if (!ring_aes && !(ring_aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)))
		return -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (RAND_bytes((unsigned char *)&r->keys[0], sizeof(r->keys[0])) <= 0) {
		free(r);
		return -EIO;
	}
	r->created[0] = now;
	r->n = 1;
	/* Old key j stopped encrypting when key j - 1 (or the new one) was
	 * made; its tickets live SMTP_TLS_TICKET_LIFETIME_S from then. */
	for (unsigned j = 0; old && j < old->n && r->n < SMTP_TLS_MAX_TICKET_KEYS; j++) {
		time_t replaced = j == 0 ? now : old->created[j - 1];

		if (now - replaced >= SMTP_TLS_TICKET_LIFETIME_S)
			break;
		r->keys[r->n] = old->keys[j];
		r->created[r->n++] = old->created[j];
	}
	rcu_set_pointer(&ring, r);
	ring_rotations++;
	if (old) {
		rcu_thread_online();
		call_rcu(&old->rcu, ring_free_rcu);
		rcu_thread_offline();
	}
	return 1;
}

void smtp_tls_ticket_info(unsigned *nkeys, time_t *newest, uint64_t *rotations)
{
	*nkeys = ring ? ring->n : 0;
	*newest = ring ? ring->created[0] : 0;
	*rotations = ring_rotations;
}

static SSL_CTX *ctx_new(const struct smtp_tls_conf *conf, struct smtp_tls_gen *g, char *err,
			size_t errlen)
{
	/* The method's ciphers and digests are fetched here, once per
	 * context, not per connection (OpenSSL 3). */
	SSL_CTX *ctx = SSL_CTX_new_ex(NULL, NULL, TLS_server_method());
	char ciphers[512];
	int minv = conf->min_version ? conf->min_version : TLS1_2_VERSION;

	if (!ctx) {
		seterr(err, errlen, "cannot create a TLS context");
		return NULL;
	}
	if (minv < TLS1_VERSION)
		minv = TLS1_VERSION; /* SSLv3 never */
	snprintf(ciphers, sizeof(ciphers), "%s%s", TLS12_CIPHERS,
		 minv < TLS1_2_VERSION ? TLS10_CIPHERS : "");
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_SSLv3);
	/* Stateless resumption; client-initiated renegotiation stays off. */
	SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET | SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
	/* No SSL_MODE_RELEASE_BUFFERS here: during the handshake it frees and
	 * reallocates the record buffers at every empty buffer (malloc,
	 * free, page faults: about a tenth of a full handshake's cost); the
	 * transport sets it once the handshake is done, so idle sessions
	 * still give their buffers back (transport_tls.c). */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Tickets carry the session: no server cache (and no lock on it). */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_timeout(ctx, SMTP_TLS_TICKET_LIFETIME_S);
	if (!SSL_CTX_set_min_proto_version(ctx, minv) || !SSL_CTX_set_cipher_list(ctx, ciphers) ||
	    !SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) ||
	    !SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"mxgate", 6)) {
		seterr(err, errlen, "cannot configure the TLS context");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, g);
	SSL_CTX_set_app_data(ctx, g);
	/* Our keys (the file's, or the rotated ring), never OpenSSL's
	 * per-context ones. */
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	return ctx;
}

/* Read the PEM certificate @cf (then its chain) and key @kf, check them.
 * Returns 0 or -1 (@err set). */
static int load_pair(const char *cf, const char *kf, time_t now, X509 **cert,
		     STACK_OF(X509) * *chain, EVP_PKEY **key, char *err, size_t errlen)
{
	BIO *b = BIO_new_file(cf, "r");
	X509 *x;

	*cert = NULL;
	*chain = NULL;
	*key = NULL;
	if (!b) {
		seterr(err, errlen, "%s: cannot read the certificate: %s", cf, strerror(errno));
		return -1;
	}
	*cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (!*cert) {
		BIO_free(b);
		seterr(err, errlen, "%s: no PEM certificate", cf);
		return -1;
	}
	*chain = sk_X509_new_null();
	while (*chain && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
		if (!sk_X509_push(*chain, x))
			X509_free(x);
	ERR_clear_error(); /* the end of the file */
	BIO_free(b);
	b = BIO_new_file(kf, "r");
	if (!b) {
		seterr(err, errlen, "%s: cannot read the key: %s", kf, strerror(errno));
		return -1;
	}
	*key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!*key) {
		seterr(err, errlen, "%s: no PEM private key (or it is encrypted)", kf);
		return -1;
	}
	if (X509_check_private_key(*cert, *key) != 1) {
		seterr(err, errlen, "%s: does not match the certificate %s", kf, cf);
		return -1;
	}
	if (X509_cmp_time(X509_get0_notAfter(*cert), &now) <= 0) {
		seterr(err, errlen, "%s: certificate expired", cf);
		return -1;
	}
	if (X509_cmp_time(X509_get0_notBefore(*cert), &now) >= 0) {
		seterr(err, errlen, "%s: certificate not valid yet", cf);
		return -1;
	}
	/* The chain in the file builds: each certificate issued the one
	 * before it (the root, if any, is the client's business). */
	x = *cert;
	for (int i = 0; *chain && i < sk_X509_num(*chain); i++) {
		X509 *up = sk_X509_value(*chain, i);

		if (X509_check_issued(up, x) != X509_V_OK) {
			seterr(err, errlen,
			       "%s: chain certificate %d did not issue the one before it", cf,
			       i + 1);
			return -1;
		}
		if (X509_cmp_time(X509_get0_notAfter(up), &now) <= 0) {
			seterr(err, errlen, "%s: chain certificate %d expired", cf, i + 1);
			return -1;
		}
		x = up;
	}
	return 0;
}

/* The group whose first certificate has the same first name as cert @i. */
static unsigned group_of(const struct smtp_tls_gen *g, unsigned i)
{
	const char *a = g->certs[i].info.names, *ea = strchr(a, ' ');
	size_t la = ea ? (size_t)(ea - a) : strlen(a);

	for (unsigned j = 0; j < i; j++) {
		const char *b = g->certs[j].info.names, *eb = strchr(b, ' ');
		size_t lb = eb ? (size_t)(eb - b) : strlen(b);

		if (la && la == lb && strncasecmp(a, b, la) == 0)
			return g->certs[j].info.group;
	}
	return g->ngroups;
}

int smtp_tls_build(const struct smtp_tls_conf *conf, struct smtp_tls_gen **out, char *err,
		   size_t errlen)
{
	struct smtp_tls_gen *g;
	time_t now = conf->now ? conf->now : time(NULL);

	*out = NULL;
	if (conf->npairs == 0 || conf->npairs > SMTP_TLS_MAX_PAIRS) {
		snprintf(err, errlen, "[tls]: %u certificate/key pairs (1 to %d)", conf->npairs,
			 SMTP_TLS_MAX_PAIRS);
		return -1;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	g->refs = 1;
	ERR_clear_error();
	/* Without a key file the ring serves: make its first key. */
	if ((!conf->ticket_key_file || !conf->ticket_key_file[0]) && !ring &&
	    smtp_tls_ticket_rotate(now, 1) < 0) {
		snprintf(err, errlen, "cannot make a session ticket key");
		gen_free(g);
		return -1;
	}
	if (conf->ticket_key_file && conf->ticket_key_file[0] &&
	    load_ticket_keys(g, conf->ticket_key_file, err, errlen) != 0) {
		gen_free(g);
		return -1;
	}
	for (unsigned i = 0; i < conf->npairs; i++) {
		struct tls_cert *tc = &g->certs[i];
		STACK_OF(X509) * chain;
		EVP_PKEY *key;
		unsigned names0 = g->nnames, grp;
		int ok;

		if (load_pair(conf->cert[i], conf->key[i], now, &tc->x509, &chain, &key, err,
			      errlen) != 0) {
			g->ncerts = i + (tc->x509 != NULL);
			sk_X509_pop_free(chain, X509_free);
			EVP_PKEY_free(key);
			gen_free(g);
			return -1;
		}
		g->ncerts = i + 1;
		snprintf(tc->info.file, sizeof(tc->info.file), "%s", conf->cert[i]);
		name_text(X509_get_subject_name(tc->x509), tc->info.subject,
			  sizeof(tc->info.subject));
		name_text(X509_get_issuer_name(tc->x509), tc->info.issuer, sizeof(tc->info.issuer));
		key_text(key, tc->info.key_type, sizeof(tc->info.key_type));
		tc->info.not_before = asn1_time(X509_get0_notBefore(tc->x509));
		tc->info.not_after = asn1_time(X509_get0_notAfter(tc->x509));
		cert_names(g, tc->x509, &tc->info);
		grp = group_of(g, i);
		tc->info.group = grp;
		for (unsigned k = names0; k < g->nnames; k++)
			g->names[k].group = grp;
		if (grp == g->ngroups) {
			g->ctx[grp] = ctx_new(conf, g, err, errlen);
			if (!g->ctx[grp]) {
				sk_X509_pop_free(chain, X509_free);
				EVP_PKEY_free(key);
				gen_free(g);
				return -1;
			}
			g->ngroups++;
		}
		/* RSA and ECDSA for one name: one context, one slot each. */
		ok = SSL_CTX_use_certificate(g->ctx[grp], tc->x509) == 1 &&
		     SSL_CTX_use_PrivateKey(g->ctx[grp], key) == 1 &&
		     SSL_CTX_set1_chain(g->ctx[grp], chain) == 1 &&
		     SSL_CTX_check_private_key(g->ctx[grp]) == 1;
		sk_X509_pop_free(chain, X509_free);
		EVP_PKEY_free(key);
		if (!ok) {
			seterr(err, errlen, "%s: refused by OpenSSL for %s", conf->key[i],
			       conf->cert[i]);
			gen_free(g);
			return -1;
		}
	}
	*out = g;
	return 0;
}

static void release_rcu(struct rcu_head *h)
{
	smtp_tls_release(caa_container_of(h, struct smtp_tls_gen, rcu));
}

void smtp_tls_publish(struct smtp_tls_gen *g)
{
	struct smtp_tls_gen *old;

	if (g)
		g->id = ++last_id;
	old = rcu_xchg_pointer(&current, g);
	if (old) {
		rcu_thread_online();
		call_rcu(&old->rcu, release_rcu);
		rcu_thread_offline();
	}
}

struct smtp_tls_gen *smtp_tls_acquire(void)
{
	struct smtp_tls_gen *g;

	/* QSBR: the worker is online between its quiescent states, so @g
	 * cannot be freed before the reference is taken. The control thread
	 * is the only writer: its read needs no protection. */
	rcu_read_lock();
	g = rcu_dereference(current);
	if (g)
		__atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
	rcu_read_unlock();
	return g;
}

SSL *smtp_tls_gen_ssl(struct smtp_tls_gen *g)
{
	return SSL_new(g->ctx[0]);
}

void smtp_tls_gen_count(struct smtp_tls_gen *g, SSL *ssl)
{
	X509 *x = SSL_get_certificate(ssl);

	for (unsigned i = 0; x && i < g->ncerts; i++)
		if (g->certs[i].x509 == x) {
			__atomic_add_fetch(&g->certs[i].handshakes, 1, __ATOMIC_RELAXED);
			return;
		}
}

uint64_t smtp_tls_gen_id(const struct smtp_tls_gen *g)
{
	return g ? g->id : 0;
}

unsigned smtp_tls_gen_ncerts(const struct smtp_tls_gen *g)
{
	return g ? g->ncerts : 0;
}

int smtp_tls_gen_cert(const struct smtp_tls_gen *g, unsigned i, struct smtp_tls_cert_info *out)
{
	if (!g || i >= g->ncerts)
		return -ERANGE;
	*out = g->certs[i].info;
	out->handshakes = __atomic_load_n(&g->certs[i].handshakes, __ATOMIC_RELAXED);
	return 0;
}

int64_t smtp_tls_days_left(time_t now)
{
	const struct smtp_tls_gen *g = current; /* control thread: the writer */
	int64_t best = INT64_MAX;

	for (unsigned i = 0; g && i < g->ncerts; i++) {
		int64_t d = ((int64_t)g->certs[i].info.not_after - (int64_t)now) / 86400;
		if (d < best)
			best = d;
	}
	return best;
}

void smtp_tls_shutdown(void)
{
	struct smtp_tls_gen *old = rcu_xchg_pointer(&current, NULL);

	struct tls_ticket_ring *r = rcu_xchg_pointer(&ring, NULL);

	synchronize_rcu();
	rcu_barrier();
	smtp_tls_release(old);
	if (r)
		ring_free_rcu(&r->rcu);
	EVP_CIPHER_free(ring_aes);
	ring_aes = NULL;
}
