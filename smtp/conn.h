/*
 * conn.h - the SMTP connection layer: session slots, the per-session timer
 * and the pump between a transport and the engine. Types: conn-t.h.
 *
 * DATA FLOW (smtp.h, DRIVING A SESSION). smtp_conn_pump() reads the
 * transport in place (peek) and feeds the engine; what the engine consumed
 * is consumed from the transport, the rest stays queued there and keeps
 * the peer's window closed (back-pressure; pipelined commands behind a
 * parked one wait there in order). Replies are drained from the engine
 * into the transport; what it cannot take waits for SMTP_CONN_EV_WRITABLE.
 * When the engine says closing and its output is drained, the connection
 * is half-closed; so is one whose client half-closed, once every reply it
 * is owed went out (its kept input answered, a parked command answered or
 * expired: never our FIN before the 250 of a message being committed).
 * The slot is released at SMTP_CONN_EV_CLOSED, after the session's log
 * line went out.
 *
 * BOUNDS. No connection keeps its slot for ever: after our FIN the client
 * has the linger (conf linger_ms, SMTP_CONN_LINGER_MS) to close its side,
 * then the connection is reset (ops->abort) and the slot released; and
 * every session has an absolute lifetime (conf max_lifetime_s,
 * SMTP_CONN_LIFETIME_S), then 421 4.4.2 (smtp_session_expire()), close and
 * the same linger. A parked command is answered (or expires) first.
 *
 * MEMORY. smtp_conn_table_create() allocates every slot (boot); nothing is
 * allocated afterwards. The table does not own the engine pool, the wheel
 * or the transport handles.
 *
 * THREADING. A table and its slots belong to one worker lcore; only
 * smtp_conn_open_count() and the counters (smtp_conn_refused() ...) may be
 * called from any thread (relaxed loads). No function blocks or makes a syscall.
 */
#ifndef MX_SMTP_CONN_H
#define MX_SMTP_CONN_H

#include "smtp/conn-t.h"

/** Allocate @conf->slots free slots, each with its timer initialised.
 * Boot path. Returns the table, or NULL with errno EINVAL (no pool, wheel,
 * clock or slots) or ENOMEM. */
struct smtp_conn_table *smtp_conn_table_create(const struct smtp_conn_conf *conf);

/** Free @tab. Every slot should have been released (the transport reported
 * SMTP_CONN_EV_CLOSED for each, e.g. the TCP stack was destroyed); one
 * still open is logged and forgotten. Boot or control path, after the
 * owning worker stopped. NULL is a no-op. */
void smtp_conn_table_destroy(struct smtp_conn_table *tab);

/** Take a free slot for a new connection on transport @ops/@tr from
 * @peer, and open its engine session (CONNECT stages run; the 220 may be
 * queued). Returns the connection; the caller then routes the transport's
 * events to smtp_conn_event() and calls smtp_conn_pump() once. When every
 * slot (or engine session) is in use: sends "421 4.3.2 ... try again later"
 * through @ops, closes @tr, counts it (smtp_conn_refused()) and returns
 * NULL with errno EAGAIN; @tr is then released. Owner lcore only. */
struct smtp_conn *smtp_conn_open(struct smtp_conn_table *tab, const struct smtp_transport_ops *ops,
				 void *tr, const struct smtp_peer *peer);

/** Serve @c: flush the engine's output, feed it what the transport holds
 * until one of them stops, half-close once the engine is closing (or the
 * client half-closed and is owed nothing more) and its output is sent,
 * re-arm the timer. Safe on a released slot (no-op).
 * Owner lcore only; never from inside an engine callback of @c. */
void smtp_conn_pump(struct smtp_conn *c);

/** A transport's event for @c (see enum smtp_conn_ev). A stacked top
 * transport sees it first (lower_event; CLOSED too, to free its state).
 * CLOSED releases the slot: the engine session is freed (TXN_ABORT and CLOSE stages run), the
 * log line goes out, the generation changes (tickets of @c become stale).
 * The transport must not use @c afterwards. Owner lcore only. */
void smtp_conn_event(struct smtp_conn *c, enum smtp_conn_ev ev);

/** Re-arm @c's timer at the earliest of the engine's next deadline, the
 * host's park deadline, the session's lifetime (not while parked) and the
 * end of its linger. smtp_conn_pump() does it; owner lcore only. */
void smtp_conn_arm(struct smtp_conn *c);

/** Reset @c's connection (ops->abort) and release the slot at once, e.g.
 * the host decided to drop the client. No-op on a free slot. Owner lcore,
 * from the worker loop (a timer, a poll), never from inside a stage or
 * another engine callback of @c. */
void smtp_conn_abort(struct smtp_conn *c);

/** Call @fn(@arg, slot) whenever a slot of @tab is released, after its
 * session is freed (admission.h gives back what the connection counted).
 * NULL: none. Boot path or owner lcore. */
typedef void (*smtp_conn_release_fn)(void *arg, uint32_t slot);
void smtp_conn_on_release(struct smtp_conn_table *tab, smtp_conn_release_fn fn, void *arg);

/** Put transport @ops/@tr on top of @c's current one (STARTTLS): the old
 * one becomes @c->low, reachable by the new one; its events go through
 * @ops->lower_event. Returns 0, or -EBUSY if @c is already stacked. Owner
 * lcore only. */
int smtp_conn_transport_push(struct smtp_conn *c, const struct smtp_transport_ops *ops, void *tr);

/** Call @fn(@arg, @c) from smtp_conn_pump() once @c's engine answered 220
 * to STARTTLS, that reply is in the transport and the plaintext pipelined
 * after it was discarded (RFC 3207 4.2, CVE-2011-0411): @fn pushes its
 * transport (smtp_conn_transport_push()) or ends the handshake wait
 * (smtp_tls_failed()). It may send through @c's transport, not release
 * @c. NULL: none (STARTTLS is then never advertised). Boot path. */
typedef void (*smtp_conn_starttls_fn)(void *arg, struct smtp_conn *c);
void smtp_conn_on_starttls(struct smtp_conn_table *tab, smtp_conn_starttls_fn fn, void *arg);

/** What protects @c's transport (its top ops' describe: "TLSv1.3 with
 * cipher ..."), or NULL for plaintext. Owner lcore only. */
const char *smtp_conn_security(const struct smtp_conn *c);

/** The protocol ("TLSv1.3") and cipher ("TLS_AES_256_GCM_SHA384") of @c's
 * TLS, split out of smtp_conn_security() ("<proto> with cipher <cipher>
 * (...)", transport_tls.c's form) into @proto and @cipher (NUL-terminated,
 * truncated to their sizes). Returns 0, or -ENOENT for plaintext (both
 * set to ""). Owner lcore only. */
int smtp_conn_tls_params(const struct smtp_conn *c, char *proto, size_t plen, char *cipher,
			 size_t clen);

/** Slot @slot of @tab, or NULL if out of range (free slots are returned:
 * check ->s). Owner lcore only. */
struct smtp_conn *smtp_conn_at(struct smtp_conn_table *tab, uint32_t slot);

/** Number of slots of @tab. Any thread (constant after create). */
unsigned smtp_conn_slots(const struct smtp_conn_table *tab);

/** The worker's clock as given at create. Owner lcore only. */
uint64_t smtp_conn_now(const struct smtp_conn_table *tab);

/** Connections open now. Any thread, relaxed load. */
unsigned smtp_conn_open_count(const struct smtp_conn_table *tab);

/** Connections refused because every slot was in use. Any thread, relaxed. */
uint64_t smtp_conn_refused(const struct smtp_conn_table *tab);

/** Connections reset (and their slots released) because the client had
 * not closed its side at the end of the linger. Any thread, relaxed. */
uint64_t smtp_conn_linger_aborts(const struct smtp_conn_table *tab);

/** Sessions ended with a 421 at their lifetime. Any thread, relaxed. */
uint64_t smtp_conn_lifetime_closes(const struct smtp_conn_table *tab);

/** End @c for the operator: "421 4.3.2 <host> Service shutting down"
 * (smtp_session_shutdown()), then the usual close and linger. A parked
 * command is answered first: the shutdown follows at the next pump.
 * Returns 0, -ENOENT (free slot) or -EALREADY (closing already). Owner
 * lcore, from the worker loop, never from inside a stage of @c. */
int smtp_conn_kill(struct smtp_conn *c);

/** From now on answer new connections as @mode says (enum smtp_conn_drain;
 * OFF accepts again). Owner lcore. */
void smtp_conn_set_drain(struct smtp_conn_table *tab, enum smtp_conn_drain mode);

/** The connect-time saturation check: NULL to admit, else why not (a
 * static string, e.g. "spool full"): the connection gets "421 4.3.2
 * mxgate: <why>, try again later" and is closed, before a session slot is
 * taken. Owner lcore; no blocking. */
typedef const char *(*smtp_conn_gate_fn)(void *arg);

/** Ask @fn(@arg) about every new connection (NULL: nobody). Boot path or
 * owner lcore. */
void smtp_conn_set_gate(struct smtp_conn_table *tab, smtp_conn_gate_fn fn, void *arg);

/** Connections turned away by the gate. Any thread, relaxed. */
uint64_t smtp_conn_gate_refused(const struct smtp_conn_table *tab);

/** Connections turned away because the table was draining. Any thread,
 * relaxed. */
uint64_t smtp_conn_drain_refused(const struct smtp_conn_table *tab);

/** Call @fn(@arg, c) for every session of @tab as its slot is released,
 * before the slot is reset (its counters, peer, queue ids still there):
 * show top's accounting (ctlbox.h). NULL: none. Boot path or owner lcore. */
typedef void (*smtp_conn_finish_fn)(void *arg, const struct smtp_conn *c);
void smtp_conn_on_finish(struct smtp_conn_table *tab, smtp_conn_finish_fn fn, void *arg);

/** Record per-phase latencies of @tab's sessions into @lat (NULL: none);
 * the marks come from the stages of latency.h. Boot path or owner lcore. */
void smtp_conn_set_latency(struct smtp_conn_table *tab, struct smtp_conn_lat *lat);

/** Record @us into latency phase @phase (enum smtp_lat_phase) of @c's
 * table, if latencies are recorded. Owner lcore. */
void smtp_conn_lat_record(struct smtp_conn *c, unsigned phase, uint64_t us);

/** The worker index given at create. Any thread (constant). */
unsigned smtp_conn_worker(const struct smtp_conn_table *tab);

#endif
