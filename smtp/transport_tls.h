/*
 * transport_tls.h - the TLS transport: connection-layer ops (conn-t.h)
 * stacked over a connection's transport after STARTTLS
 * (smtp_conn_transport_push()), OpenSSL driven through a BIO that reads
 * the lower transport's received pieces and writes records into its send.
 *
 * A worker owns one struct smtp_tls_worker: a fixed array of TLS session
 * slots (each with its plaintext buffer) allocated at boot, so the number
 * of TLS sessions per worker is bounded; the SSL objects themselves come
 * from OpenSSL (SSL_new on the generation published by tls_ctx.h, no
 * certificate decoding here). Nothing blocks: a handshake or a record that
 * needs more octets waits for the lower transport's next READABLE, a write
 * the lower transport cannot take waits for its WRITABLE. The handshake is
 * bounded by the engine's TLS_WAIT timeout ([tls] handshake_timeout_s);
 * a failed handshake ends the session (smtp_tls_failed()).
 *
 * Worker lcore only, except create/destroy (boot, main lcore) and the
 * counters (any thread, relaxed loads).
 */
#ifndef MX_SMTP_TRANSPORT_TLS_H
#define MX_SMTP_TRANSPORT_TLS_H

#include <stdint.h>

#include "core/counters.h"
#include "core/tlsmem.h"

#include "smtp/conn-t.h"
#include "smtp/host-t.h"

/* STARTTLS without a free TLS slot or a certificate (Postfix's words). */
#define SMTP_TLS_REFUSE_CODE 454
#define SMTP_TLS_REFUSE_ENH  "4.7.0"
#define SMTP_TLS_REFUSE_TEXT "TLS not available due to local problem"

/* Plaintext octets decrypted ahead of the engine, per TLS session. */
#define SMTP_TLS_PLAIN 4096

/* Per-worker TLS counters, X(name, type, help). */
#define SMTP_TLS_COUNTERS(X)                                                               \
	X(sessions, GAUGE, "TLS sessions open")                                            \
	X(starttls, COUNTER, "STARTTLS handshakes started")                                \
	X(implicit, COUNTER, "implicit TLS connections ([tls] implicit_port)")             \
	X(handshakes_ok, COUNTER, "TLS handshakes completed")                              \
	X(handshakes_failed, COUNTER, "TLS handshakes failed (protocol, version, cipher)") \
	X(handshakes_eof, COUNTER, "clients that closed during the TLS handshake")         \
	X(handshakes_resumed, COUNTER, "TLS handshakes that resumed a session (ticket)")   \
	X(tls12, COUNTER, "TLS 1.2 handshakes completed")                                  \
	X(tls13, COUNTER, "TLS 1.3 handshakes completed")                                  \
	X(tls_old, COUNTER, "TLS 1.0/1.1 handshakes completed (min_version lowered)")      \
	X(no_slot, COUNTER, "STARTTLS refused (454): every TLS session slot in use")       \
	X(no_context, COUNTER, "STARTTLS refused (454): no certificate loaded")            \
	X(record_errors, COUNTER,                                                          \
	  "TLS sessions ended by a bad record or alert after the handshake")               \
	MX_TLSMEM_COUNTERS(X)

struct smtp_tls_counters {
	SMTP_TLS_COUNTERS(MX_CTR_X_FIELD)
};

struct smtp_tls_worker;

/** The TLS ops: handle = struct smtp_tls *. */
extern const struct smtp_transport_ops smtp_tls_ops;

/** Allocate @max TLS session slots for worker @worker. Boot path. Returns
 * the worker's state, or NULL with errno (EINVAL: @max is 0; ENOMEM). */
struct smtp_tls_worker *smtp_tls_worker_create(unsigned worker, unsigned max);

/** Free @w; every TLS session must have been released. NULL: no-op. */
void smtp_tls_worker_destroy(struct smtp_tls_worker *w);

/** Register @w's stages on @h: at STARTTLS (before its 220) a TLS slot and
 * a reference to the current generation are reserved for the connection,
 * or the command is answered "454 4.7.0 TLS not available due to local
 * problem" (counted no_slot / no_context) and the session goes on in
 * plaintext; at CLOSE a reservation not used is given back. Boot path.
 * Returns 0 or smtp_host_stage_add()'s error. */
int smtp_tls_stages_add(struct smtp_stage_host *h, struct smtp_tls_worker *w);

/** smtp_conn_starttls_fn for smtp_conn_on_starttls(tab, ..., @arg = w):
 * discards any plaintext still queued, makes an SSL on the slot reserved
 * by the STARTTLS stage (or takes one) and pushes the TLS transport; if
 * that fails (SSL allocation) the session ends (smtp_tls_failed(),
 * counted). Owner lcore. */
void smtp_tls_on_starttls(void *arg, struct smtp_conn *c);

/** For a connection just opened on the implicit TLS listener (before its
 * first pump): the session is TLS from the first octet
 * (smtp_tls_implicit()), its banner goes out once the handshake is done;
 * without a slot or a generation it is closed without a word. Owner
 * lcore. */
void smtp_tls_on_implicit(void *arg, struct smtp_conn *c);

/** Copy @w's counters (any thread, relaxed loads). */
void smtp_tls_counters_read(const struct smtp_tls_worker *w, struct smtp_tls_counters *out);

/** Octets of one TLS session slot (without OpenSSL's own allocations). */
size_t smtp_tls_slot_size(void);

#endif
