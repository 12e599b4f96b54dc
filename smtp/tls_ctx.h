/*
 * tls_ctx.h - TLS server contexts for STARTTLS: certificate generations
 * built on the control thread and published to the workers with RCU.
 *
 * A generation is everything a handshake needs: one SSL_CTX per group of
 * certificates sharing a name (an RSA and an ECDSA certificate for the same
 * name sit in one SSL_CTX, OpenSSL picks by the client's signature
 * algorithms), the first group being the default, and the names (exact and
 * "*.wildcard") by which a client's SNI selects another group. It is built
 * once from files (certificates and keys decoded, each pair checked: the
 * key matches the certificate, the certificate is valid now, each chain
 * certificate in its file issued the one before it), with the
 * protocol floor ([tls] min_version, never below TLS 1.0, SSLv3 never),
 * the TLS 1.2 ciphers of Mozilla's "intermediate" profile (ECDHE with
 * AES-GCM or ChaCha20-Poly1305), the X25519 and P-256 groups, no
 * compression, no renegotiation, stateless session tickets; the ciphers
 * and digests are fetched then (SSL_CTX_new_ex), never per connection.
 *
 * PUBLICATION. smtp_tls_publish() makes a generation current (rcu_xchg);
 * the one it replaces loses the publisher's reference after a grace period
 * (call_rcu). A worker takes a reference with smtp_tls_acquire() for the
 * life of a TLS session (the SSL also holds its SSL_CTX), so a reload never
 * breaks a handshake in flight or a live session; the last reference frees
 * the generation, on whichever thread drops it.
 *
 * THREADING. Build, publish, describe and shutdown: the control thread,
 * registered with liburcu QSBR and offline (config_gen.c does both at the
 * first config_publish()). Acquire/release and smtp_tls_gen_ssl(): any
 * registered QSBR reader (worker lcores), no lock, no syscall.
 */
#ifndef MX_SMTP_TLS_CTX_H
#define MX_SMTP_TLS_CTX_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#define SMTP_TLS_MAX_PAIRS	 16
#define SMTP_TLS_MAX_NAMES	 32 /* names kept per certificate for SNI */
#define SMTP_TLS_MAX_TICKET_KEYS 8

/*
 * Session ticket keys from a file (so several nodes, and a restart, accept
 * each other's tickets): one key per line, 160 hex digits = 16 octets of
 * key name, 32 of HMAC-SHA256 key, 32 of AES-256-CBC key; '#' comments.
 * The first key encrypts new tickets, every key decrypts (rotation: put
 * the new key first, keep the old ones below for a ticket lifetime).
 * Tickets under an old key are accepted and renewed under the first.
 */

/*
 * Without a key file, ticket keys are made here and rotated on the control
 * thread (smtp_tls_ticket_rotate(), [tls] ticket_key_rotate_s): a new key
 * encrypts each period, the previous ones still decrypt (and renew) tickets
 * for SMTP_TLS_TICKET_LIFETIME_S after they stopped encrypting, at most
 * SMTP_TLS_MAX_TICKET_KEYS in all. They live in one process: a restart,
 * or another node, means a full handshake (use the file for that).
 */
#define SMTP_TLS_TICKET_LIFETIME_S 7200 /* ticket lifetime (session timeout) */

struct smtp_tls_gen;

/* What a generation is built from. */
struct smtp_tls_conf {
	unsigned npairs;
	const char *cert[SMTP_TLS_MAX_PAIRS]; /* PEM: certificate then its chain */
	const char *key[SMTP_TLS_MAX_PAIRS];  /* PEM private key of cert[i] */
	int min_version;		      /* TLS1_VERSION .. TLS1_3_VERSION */
	const char *ticket_key_file;	      /* NULL/"": the rotated ring (below) */
	time_t now;			      /* validity is checked at this time (0: time()) */
};

/* One certificate of a generation, for `show tls` (strings NUL-terminated). */
struct smtp_tls_cert_info {
	char file[256];
	char subject[256];
	char issuer[256];
	char names[512];   /* SANs (DNS), else the CN, space-separated */
	char key_type[32]; /* "RSA 2048", "EC P-256" ... */
	time_t not_before, not_after;
	unsigned group;	     /* its SSL_CTX: 0 is the default */
	uint64_t handshakes; /* full and resumed handshakes that chose it */
};

/** Build a generation from @conf: read and check every pair, group them by
 * name, make the SSL_CTXs. Control thread (reads files). Returns 0 and the
 * generation (one reference, the caller's) in *@out; or -1 with nothing
 * built and a one-line reason naming the file in @err ("/etc/x.key: does
 * not match the certificate /etc/x.pem"). */
int smtp_tls_build(const struct smtp_tls_conf *conf, struct smtp_tls_gen **out, char *err,
		   size_t errlen);

/** Make @g current (takes the caller's reference); the replaced one is
 * released after a grace period. NULL: no TLS (STARTTLS is then answered
 * 454 by transport_tls.c's stage: do not advertise it). Control thread,
 * registered with QSBR and offline (config_gen.c's writer). */
void smtp_tls_publish(struct smtp_tls_gen *g);

/** The current generation with one more reference, or NULL if none.
 * QSBR reader (worker lcore) or the control thread. */
struct smtp_tls_gen *smtp_tls_acquire(void);

/** Drop a reference; the last one frees @g (SSL_CTX_free: sessions keep
 * theirs). Any thread. NULL: no-op. */
void smtp_tls_release(struct smtp_tls_gen *g);

/** A new server-side SSL on @g's default context (SNI may switch it to
 * another of @g's during the handshake; @g must outlive the SSL: hold a
 * reference). NULL on allocation failure. Any thread. */
SSL *smtp_tls_gen_ssl(struct smtp_tls_gen *g);

/** Count a completed handshake of @ssl (made by smtp_tls_gen_ssl(@g)) for
 * the certificate it used. Any thread (relaxed atomic add). */
void smtp_tls_gen_count(struct smtp_tls_gen *g, SSL *ssl);

/** Generation number (1, 2, ... in publication order; 0 before). */
uint64_t smtp_tls_gen_id(const struct smtp_tls_gen *g);

/** Certificates in @g, and certificate @i's description (0 or -ERANGE). */
unsigned smtp_tls_gen_ncerts(const struct smtp_tls_gen *g);
int smtp_tls_gen_cert(const struct smtp_tls_gen *g, unsigned i, struct smtp_tls_cert_info *out);

/** Days until the first certificate of the current generation expires
 * (negative: expired), or INT64_MAX without TLS. Control thread. */
int64_t smtp_tls_days_left(time_t now);

/** Unpublish and free the current generation, waiting for readers
 * (synchronize_rcu, rcu_barrier): shutdown and tests only. */
void smtp_tls_shutdown(void);

/** Rotate the ticket keys made here: a new encrypting key if there is none
 * or the newest is @period_s old at @now (@period_s <= 0: never after the
 * first), keys past their decryption window dropped; the old set is freed
 * after a grace period. smtp_tls_build() makes the first key when no key
 * file is configured. Control thread, registered with QSBR and offline.
 * Returns 1 (rotated), 0 (not due) or -ENOMEM/-EIO. */
int smtp_tls_ticket_rotate(time_t now, int64_t period_s);

/** Keys in the ring, creation time of the encrypting one, rotations so
 * far. Control thread. */
void smtp_tls_ticket_info(unsigned *nkeys, time_t *newest, uint64_t *rotations);

/** OpenSSL protocol version for [tls] min_version index @i (0 "1.0" ..
 * 3 "1.3"). */
int smtp_tls_version_of(int64_t i);

#endif
