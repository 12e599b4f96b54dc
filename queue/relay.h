/*
 * relay.h - the mxgate relay: committed messages to the next hop over SMTP
 * or LMTP (DESIGN.md, "Spool and relay").
 *
 *   commit thread (spool on_commit) --+
 *   recovery at relay_create() -------+--> queue (one mutex, one condvar)
 *   ctl: hold/release/flush/delete ---+        |  min-heap by next try time
 *                                              v
 *                          relay thread 1..N: one connection each
 *                          spool_reader -> dot-stuffed DATA -> replies
 *                          -> spool_rcpt_mark(DELIVERED | HELD) or backoff
 *
 * Threading model. N relay threads (conf.threads), each owning at most one
 * connection to a next hop, kept open between messages for reuse. Sockets are
 * non-blocking and every wait is a poll(2) with the deadline of the step
 * (connect, reply, write, end of data), i.e. blocking with timeouts: one
 * thread drives one session at a time, so an event loop would only add state
 * without adding throughput; parallelism comes from the number of threads,
 * and the next hop sits on the internal network. The relay is not the packet
 * path: it takes a mutex, mallocs, and does blocking file and socket I/O.
 *
 * Queue. Every message with recipients left is in one list (ctl views) and,
 * unless it is active or held, in a min-heap ordered by its next try time.
 * A message belongs to one relay thread while it is active; control
 * operations on an active message are recorded and applied when the attempt
 * ends.
 *
 * Results per recipient: 2xx -> spool_rcpt_mark(DELIVERED) (done log);
 * 4xx, 421, timeouts, lost connections -> the message is retried with
 * exponential backoff and jitter (relay_backoff_ms()), until the message is
 * older than max_queue_lifetime_ms: then, like a 5xx, the recipient has
 * failed for good. Failed for good -> with on_permanent_failure = BOUNCE an
 * RFC 3464 notification (queue/dsn.h) is written to the spool through
 * conf.dsn_worker (spool_inject(), from the null sender, relayed like any
 * message) and only then spool_rcpt_mark(BOUNCED); none is owed for the
 * null sender or NOTIFY=NEVER (BOUNCED all the same); if it cannot be
 * queued, or with on_permanent_failure = HOLD for a 5xx, spool_rcpt_mark
 * (HELD) and the reply is kept in memory for ctl and logged (notice level,
 * "relay: <qid> rcpt <n> <addr> held: <reply>"). The reply text is not
 * persisted: after a restart a held recipient shows "held before restart".
 * A crash between the notification's commit and the BOUNCED record sends
 * the notification again after the restart (the same window as delivery).
 *
 * Duplicates. Delivery is at-least-once. A recipient is sent again after a
 * restart only if the next hop accepted it and the DONE record did not
 * survive: the process died between the next hop's 2xx and the write(2) in
 * spool_rcpt_mark(), or the machine died before the done log's next
 * fdatasync (spool_maintain(), every maint_interval_ms). A done-log write
 * error (done_log_errors) widens that window to "until restart" for the
 * recipients concerned; they are not sent again during this run.
 *
 * Lifecycle (boot thread): spool_create() -> relay_create() (takes the
 * recovered messages and installs the spool's on_commit hook; before
 * spool_start()) -> spool_start() -> relay_start() ... relay_stop() (any
 * order with spool_stop()) -> spool_stop() -> relay_destroy() ->
 * spool_destroy().
 */
#ifndef MX_QUEUE_RELAY_H
#define MX_QUEUE_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "queue/relay-t.h"
#include "queue/spool-t.h"

/** Fill @c with defaults (no next hop, helo "localhost"). Any thread. */
void relay_conf_defaults(struct relay_conf *c);

/**
 * Create the relay for @sp: checks and copies @conf (strings included),
 * takes every recovered message (spool_recovered_next(); pending recipients
 * become ready at once, held ones stay held) and installs itself as the
 * spool's on_commit hook. No thread is started. Returns the relay, or NULL
 * with errno: EINVAL (bad configuration, logged: e.g. tls = verify without
 * ca_file, or a CA file that cannot be loaded), EBUSY (spool already started
 * or its on_commit hook taken), ENOMEM. Creates the TLS client context (one
 * per relay) when a next hop uses STARTTLS. Boot thread, after spool_create() and before
 * spool_start(); may read the spool (envelopes of held messages).
 */
struct relay *relay_create(const struct relay_conf *conf, struct spool *sp);

/** Start the relay threads. 0 or -errno. Boot thread, once. */
int relay_start(struct relay *r);

/**
 * Stop and join the relay threads: attempts in progress finish (bounded by
 * the configured timeouts), idle connections get QUIT. Messages stay queued
 * (in the spool, and in memory until relay_destroy()). Boot/control thread.
 */
void relay_stop(struct relay *r);

/**
 * Free everything (stops the threads first). The spool's commit threads must
 * be stopped (spool_stop()) since they call into the relay. Boot thread.
 */
void relay_destroy(struct relay *r);

/**
 * The spool's on_commit hook (installed by relay_create()): queue committed
 * message @mi for delivery now. @arg is the relay. Commit threads; takes the
 * relay mutex briefly and mallocs; never blocks on I/O.
 */
void relay_on_commit(void *arg, const struct spool_msginfo *mi);

/* ---------------- control API (ctl thread; all take the relay mutex) ---------------- */

/**
 * Call @fn once per queued message, in arrival order, with a view valid
 * only during the call; stop early if @fn returns non-zero. @fn runs under
 * the relay mutex: it must not call relay functions nor block. Returns the
 * number of messages visited. Any thread.
 */
size_t relay_queue_list(struct relay *r, int (*fn)(void *arg, const struct relay_msg_view *v),
			void *arg);

/** Fill @out (counts by state, oldest age, bytes). Any thread. */
void relay_queue_summary(struct relay *r, struct relay_queue_summary *out);

/**
 * Put every pending recipient of @qid on hold (spool_rcpt_mark(HELD), reply
 * "held by operator"). An active message is held when its attempt ends
 * (recipients the next hop accepts meanwhile are delivered). Returns the
 * number of recipients held now (0 when deferred to the end of the attempt),
 * -ENOENT, or -errno from the done log. Control thread.
 */
int relay_hold(struct relay *r, const struct spool_qid *qid);

/**
 * Release the held recipients of @qid, or of every message if @qid is NULL:
 * spool_rcpt_mark(RELEASED), then the message is ready now with a fresh
 * backoff. Returns the number of recipients released, -ENOENT (@qid unknown),
 * or -errno from the done log. Control thread.
 */
int relay_release(struct relay *r, const struct spool_qid *qid);

/**
 * Hold every recipient in @domain ("example.org" or "@example.org", case
 * insensitive) until relay_release_domain(): the rule is written to
 * <spool>/holds (kept across restarts), recipients already known are held
 * now, the others when a relay thread reads their envelope (done log:
 * HELD, like relay_hold()). Returns the recipients held now, -EINVAL (not
 * a domain), -EEXIST (already held) or -errno from the file. Takes r->lock;
 * control thread (file I/O).
 */
int relay_hold_domain(struct relay *r, const char *domain);

/** Drop the hold of @domain (from <spool>/holds too) and put its held
 * recipients back in the queue. Returns how many, -ENOENT (not held) or
 * -EINVAL. Takes r->lock; control thread. */
int relay_release_domain(struct relay *r, const char *domain);

/** The held domains, space-separated, into @buf (truncated to @cap);
 * returns how many there are. Takes r->lock. Any thread but a worker. */
size_t relay_held_domains(struct relay *r, char *buf, size_t cap);

/**
 * Make every deferred message ready now (backoff kept: it grows from where
 * it was) and forget next-hop failures. Returns the number of messages
 * made ready. Control thread.
 */
int relay_flush(struct relay *r);

/**
 * Delete @qid: every recipient not yet final is marked DELETED in the done
 * log and the message leaves the queue and, once its segments hold nothing
 * else, the spool. Nothing is sent to anyone. An active message is deleted
 * when its attempt ends (recipients the next hop accepted meanwhile count as
 * delivered): returns 1 then, 0 when deleted now, -ENOENT, or -errno from
 * the done log. Control thread.
 */
int relay_delete(struct relay *r, const struct spool_qid *qid);

/* ---------------- back-pressure and counters (any thread, lock-free) ---------------- */

/**
 * Unix time in microseconds since which no next hop could be reached (every
 * configured one failed at connect, greeting or EHLO/LHLO, and none
 * succeeded since), or 0 if the last attempt reached one. Relaxed atomic
 * read: callable from a worker lcore.
 */
uint64_t relay_nexthop_down_since(const struct relay *r);

/** Change the retry backoff bounds (ignored unless 0 < min <= max),
 * refuse_after_ms (0: never; stops a refusal in force) and
 * max_backlog_age_ms (0: never) of relay_conf while running (configuration
 * reload). Messages already deferred keep their next try. Takes r->lock.
 * Control thread. */
void relay_set_limits(struct relay *r, uint32_t retry_min_ms, uint32_t retry_max_ms,
		      uint32_t refuse_after_ms, uint32_t max_backlog_age_ms);

/**
 * Back-pressure from the queue: refuse new mail (spool_refuse_reason(
 * SPOOL_REFUSE_BACKLOG)) while mail accepted now would wait more than
 * max_backlog_age_ms for a relay thread - the messages due divided by the
 * pace at which attempts finish, or while that is not known the wait of the
 * message due the longest (relay.c, backlog_estimate()) - and accept again below
 * three quarters of it. Relay threads run it at every loop; the daemon's
 * control thread runs it on a timer too, since every relay thread can be
 * busy in a slow transaction exactly when it matters. Takes r->lock. Any
 * thread but a worker lcore.
 */
void relay_pressure_tick(struct relay *r);

/** Start the backlog estimate of a relay with @threads threads at @now
 * (ns, monotonic). Pure. */
void relay_backlog_init(struct relay_backlog *b, unsigned threads, uint64_t now);

/**
 * The wait (ns) a message accepted at @now can expect before a relay
 * thread takes it: @due messages due ahead of it divided by the pace at
 * which attempts finish (@attempts_done, ever; measured over one-second
 * windows with work, EWMA). Until a pace is measured: the larger of
 * @head_wait_ns (the wait of the message due the longest) and @due at
 * RELAY_BACKLOG_PRIOR_MS per message per thread. Updates @b; pure (the
 * caller's clock), unit-tested with a fake one. Caller serialises.
 */
uint64_t relay_backlog_estimate(struct relay_backlog *b, uint64_t now, uint64_t due,
				uint64_t head_wait_ns, uint64_t attempts_done);

/** Sum of the counters into @out (relaxed snapshot). Any thread. */
void relay_stats_read(const struct relay *r, struct relay_stats *out);

struct mx_hist;
/** Merge @r's delivery times (ms from the message's arrival, the time in
 * its queue id, to its last recipient delivered) into @h. Any thread. */
void relay_delivery_hist_read(const struct relay *r, struct mx_hist *h);

/** Name of counter @i in RELAY_STATS order; NULL past the end. */
const char *relay_stat_name(size_t i);
#define RELAY_STAT_COUNT (sizeof(struct relay_stats) / sizeof(uint64_t))

/** Name of a relay_msg_state ("ready", "deferred", "active", "held"). */
const char *relay_msg_state_name(unsigned st);

/**
 * Backoff before attempt @attempt + 1 after @attempt failed attempts
 * (>= 1): d = min(retry_min_ms * 2^(attempt-1), retry_max_ms), minus up to
 * retry_jitter_pct % of d scaled by @rnd / 2^32. Pure; any thread.
 */
uint64_t relay_backoff_ms(const struct relay_conf *c, uint32_t attempt, uint32_t rnd);

#endif
