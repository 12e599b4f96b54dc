/*
 * smtp.h - the mxgate SMTP server engine (RFC 5321 + PIPELINING, SIZE,
 * 8BITMIME, ENHANCEDSTATUSCODES, CHUNKING, SMTPUTF8, DSN).
 *
 * A pure core: the host (the worker lcore's TCP glue, or a test) feeds it the
 * bytes the client sent, drains the replies it produced, answers its events
 * and calls its timer. Types and the memory layout are in smtp-t.h.
 *
 * DRIVING A SESSION
 *
 *   s = smtp_session_open(pool, "192.0.2.1", conn, now);   banner may be queued
 *   on TCP data (p, len):
 *	while (len > 0) {
 *		n = smtp_input(s, p, len, now);
 *		send smtp_output_peek() bytes, smtp_output_consume() what TCP took;
 *		if (n == 0) break;     parked, output full, or closing: keep p/len
 *		p += n, len -= n;
 *	}
 *   on TCP writable: drain the output again, then re-feed the kept input.
 *   on smtp_resume() / smtp_timer(): drain the output, re-feed kept input.
 *   timer: at smtp_next_deadline(s) call smtp_timer(s, now).
 *   if smtp_session_closing(s): send the remaining output, then close TCP and
 *   smtp_session_free(s).
 *
 * smtp_input() returns how many octets it consumed; the caller still owns the
 * rest (the TCP receive window stays closed over them). It stops early when:
 * a command that is a pipelining sync point (RFC 2920 3.1) has been answered
 * (so the host flushes), the session is parked on an event, the output has
 * less free room than one maximal reply (back-pressure: the host did not
 * drain), or the session is closing. Replies of a pipelined group are
 * appended in order and flushed together by the host after the call.
 *
 * Threading: a pool and all its sessions belong to the one thread (worker
 * lcore) that created it; only smtp_counters_read() may be called from
 * another thread. No function allocates, blocks or makes a syscall, except
 * smtp_pool_create/destroy (boot/control path).
 */
#ifndef MX_SMTP_SMTP_H
#define MX_SMTP_SMTP_H

#include "smtp/smtp-t.h"

struct smtp_pool;

/** Fill @cfg with the defaults: 100 recipients, 10 MB messages, 256 octets
 * of line extension room, 640 octets of output, 10 errors, 1000 commands,
 * 300 s command and 180 s data timeouts, no greet delay, pregreet reply,
 * STARTTLS not available. Any thread. */
void smtp_config_defaults(struct smtp_config *cfg);

/** Create a pool of sessions and envelopes sized by @cfg, with @host as the
 * event table (copied). Boot path: allocates everything the sessions will
 * ever use. Returns the pool, or NULL with errno EINVAL (bad config) or
 * ENOMEM. */
struct smtp_pool *smtp_pool_create(const struct smtp_config *cfg, const struct smtp_host *host);

/** Apply the live keys of @cfg to @p: hostname, max_msg_size, max_errors,
 * max_commands, greet_delay_ms, pregreet_action, timeout_cmd_ms and
 * timeout_data_ms. Every other field of @cfg (slab sizes: max_sessions,
 * max_transactions, max_rcpt, line_ext, out_size, env_arena; and
 * starttls_available) is ignored: they never change live. Open sessions see
 * the new values from their next command or timer on (a running timeout
 * keeps its deadline). Returns 0, or -EINVAL with @p unchanged (bad value,
 * or a hostname too long for the output buffers sized at boot). Owner
 * thread only. */
int smtp_pool_update(struct smtp_pool *p, const struct smtp_config *cfg);

/** Free @p and all its sessions (which must not be used any more). Boot or
 * control path, after the owning worker stopped. */
void smtp_pool_destroy(struct smtp_pool *p);

/** Octets of pool memory that one session occupies (struct + line buffer +
 * output buffer): the idle cost of a connection in the engine. */
size_t smtp_session_stride(const struct smtp_pool *p);

/** Octets of one envelope slot (held only while a transaction is active). */
size_t smtp_envelope_stride(const struct smtp_pool *p);

/** The configuration @p was created with (read only). */
const struct smtp_config *smtp_pool_config(const struct smtp_pool *p);

/** Start a session for a client at @client (text address, copied, truncated
 * to 47 octets) with host pointer @user. Emits the CONNECT event; queues the
 * 220 banner unless the connect check is pending or a greet delay is set.
 * Returns the session, or NULL with errno EAGAIN when the pool is full
 * (counted; the host should refuse the connection). Owner thread only. */
struct smtp_session *smtp_session_open(struct smtp_pool *p, const char *client, void *user,
				       uint64_t now_us);

/** Give @s back to its pool. Emits TXN_ABORT if a transaction was active and
 * then CLOSE. @s must not be used afterwards. Owner thread only. */
void smtp_session_free(struct smtp_session *s, uint64_t now_us);

/** Feed @len octets the client sent. Returns how many were consumed (see the
 * header comment for why it may be fewer); the rest stays the caller's.
 * Never fails: protocol errors are answered in the output. Owner thread. */
size_t smtp_input(struct smtp_session *s, const uint8_t *data, size_t len, uint64_t now_us);

/** Replies waiting to be sent: returns a pointer to @len contiguous octets
 * (valid until the next call on @s), or NULL with *@len = 0. */
const uint8_t *smtp_output_peek(const struct smtp_session *s, size_t *len);

/** Mark @n octets of the output as sent (n <= what peek returned). May be
 * called from inside an event callback. */
void smtp_output_consume(struct smtp_session *s, size_t n);

/** Answer the event @s is parked on under @request_id. @code 0 means
 * "continue" (engine's default reply), else a 2xx..5xx reply with optional
 * @enh ("4.7.1") and @text (copied). Queues the parked command's reply; the
 * host then drains the output and re-feeds the input it kept. Returns 0,
 * -EINVAL if @s is not parked or @code is out of range, -ENOENT if
 * @request_id is not the one @s waits for. Owner thread only. */
int smtp_resume(struct smtp_session *s, uint64_t request_id, unsigned code, const char *enh,
		const char *text, uint64_t now_us);

/** Run @s's timers at @now_us: sends a delayed banner, or on an expired
 * per-state timeout (RFC 5321 4.5.3.2) queues 421 4.4.2 and starts
 * closing. Returns 1 if the session produced output or changed state (drain
 * and re-feed), 0 otherwise. Owner thread only. */
int smtp_timer(struct smtp_session *s, uint64_t now_us);

/** End @s because the host's bound on the connection's lifetime passed:
 * the transaction in progress is dropped (TXN_ABORT), "421 4.4.2
 * <hostname> Error: connection lifetime exceeded" is queued (the output
 * always keeps room for a final 421) and the session is closing: drain,
 * then close. Returns 0; -EBUSY while @s is parked (the parked command is
 * answered first: call again after smtp_resume()); -EALREADY if @s is
 * closing already. Owner thread only, never from an event callback of @s. */
int smtp_session_expire(struct smtp_session *s, uint64_t now_us);

/** End @s for the operator (kill session, drain): like
 * smtp_session_expire() but "421 4.3.2 <hostname> Service shutting down"
 * and result "shutdown". Same returns (-EBUSY while parked: call again
 * once it is answered). Owner thread only, never from an event callback. */
int smtp_session_shutdown(struct smtp_session *s, uint64_t now_us);

/** Absolute time (us) at which smtp_timer() must be called next, or
 * UINT64_MAX if none (parked: the host owns that wait; closing). */
uint64_t smtp_next_deadline(const struct smtp_session *s);

/** The host finished the TLS handshake after a 220 to STARTTLS: the session
 * forgets its HELO (RFC 3207 4.2) and waits for EHLO (after
 * smtp_tls_implicit(): the command timeout starts). Returns 0, or -EINVAL
 * if @s was not waiting for a handshake. */
int smtp_tls_started(struct smtp_session *s, uint64_t now_us);

/** The host runs TLS from the connection's first octet (implicit TLS, port
 * 465): the session counts as TLS (ESMTPS, no STARTTLS offered) and its
 * banner waits in the output until the host can send it; the handshake is
 * bounded by timeout_tls_ms. Call right after smtp_session_open(); then
 * smtp_tls_started() or smtp_tls_failed(). Returns 0 or -EINVAL (a
 * command was already read). Owner thread only. */
int smtp_tls_implicit(struct smtp_session *s, uint64_t now_us);

/** The TLS handshake after a 220 to STARTTLS failed: the session is
 * closing without a reply (none can be sent). Returns 0, or -EINVAL if @s
 * was not waiting for a handshake. Owner thread only. */
int smtp_tls_failed(struct smtp_session *s, uint64_t now_us);

/** True once a 221 or 421 has been queued: drain, then close. */
bool smtp_session_closing(const struct smtp_session *s);

/** The host knows the client (a pass cache: it waited for the greeting
 * before): no greet delay and no teaser for @s. Only while the CONNECT
 * event is being answered (a no-op once the teaser went out). Owner
 * thread. */
void smtp_greet_now(struct smtp_session *s);

/** Whether @s went through a greet delay (with the teaser, if on) and the
 * client did not talk before the greeting: the pregreet test passed, worth
 * remembering. Meaningful once HELO/EHLO arrived. Owner thread. */
bool smtp_greet_passed(const struct smtp_session *s);

/** True while @s waits for smtp_resume(). */
bool smtp_session_parked(const struct smtp_session *s);

enum smtp_state smtp_session_state(const struct smtp_session *s);
const char *smtp_state_name(enum smtp_state st);
const char *smtp_event_name(enum smtp_event_type ev);
const char *smtp_result_name(enum smtp_result r);

/** Host pointer given to smtp_session_open(). */
void *smtp_session_user(const struct smtp_session *s);

/** HELO/EHLO name ("" before one was accepted). */
const char *smtp_session_helo(const struct smtp_session *s);

/** The active transaction's envelope, or NULL outside one. Valid until the
 * transaction ends (data end answered, RSET, failure, close). */
const struct smtp_envelope *smtp_session_envelope(const struct smtp_session *s);

/** NUL-terminated string at arena offset @off of @e ("" for offset 0). */
const char *smtp_envelope_str(const struct smtp_envelope *e, uint32_t off);

/** Fill @v with recipient @i of @e. Returns 0 or -ERANGE. */
int smtp_envelope_rcpt(const struct smtp_envelope *e, unsigned i, struct smtp_rcpt_view *v);

/** Build the Received: trace header (RFC 5321 4.4) for the current
 * transaction of @s into @buf (CRLF-terminated, folded, NUL-terminated).
 * Call while the envelope exists (DATA_BEGIN .. DATA_END events). Returns
 * its length, -ENOSPC if @len is too small, -EINVAL outside a transaction. */
int smtp_received_format(const struct smtp_session *s, const struct smtp_received_info *ri,
			 char *buf, size_t len);

/** Format the close log line of @s as space-separated key=value pairs
 * (client helo from rcpts size result txns cmds errors replies last_code
 * first_error duration_ms), values escaped with \xHH for anything outside
 * '!'..'~' and for '\\'. Returns the length (NUL-terminated) or -ENOSPC. */
int smtp_summary_format(const struct smtp_session *s, uint64_t now_us, char *buf, size_t len);

/** Copy the counters of @p into @out with relaxed atomic loads: callable
 * from any thread while the owner runs (values are individually, not
 * mutually, consistent). */
void smtp_counters_read(const struct smtp_pool *p, struct smtp_counters *out);

/** Names of the counters, in struct order (SMTP_COUNTERS). */
extern const char *const smtp_counter_names[SMTP_CNT_COUNT];

/** Free session and envelope slots (for ctl and tests). */
unsigned smtp_pool_free_sessions(const struct smtp_pool *p);
unsigned smtp_pool_free_envelopes(const struct smtp_pool *p);

#endif
