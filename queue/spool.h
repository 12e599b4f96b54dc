/*
 * spool.h - the mxgate spool: durable message storage before the 250.
 *
 * Shape (DESIGN.md, "Spool and relay"):
 *
 *   worker lcore w                     commit thread c (w % commit_threads)
 *   --------------                     ----------------------------------
 *   spool_msg_begin/body/end()
 *     encode records into the
 *     current staging buffer
 *   spool_worker_poll():
 *     hand off the buffer  --- sub ring --->  pwrite(2) into spool/<w>/<seq>.seg
 *                                             (rotation at segment_size)
 *     reuse buffers        <-- free ring ---  buffer written: give it back
 *                                             group: fdatasync(2) every dirty
 *                                             segment once per commit_interval_us
 *                                             or commit_batch records
 *     send 250 / 452 / 451 <-- cpl ring ----  one completion per ended message
 *
 * The worker never blocks, never takes a lock and makes no syscall here
 * (clock_gettime is the vDSO). A commit thread is the only writer of its
 * workers' segment files.
 *
 * Why a commit thread and not io_uring: liburing is not in mxgate's fixed
 * dependency list, and io_uring would only move the submission, not the
 * fdatasync wait; what bounds throughput is the number of fdatasyncs, which
 * group commit divides by the group size either way. A thread that owns the
 * files also keeps all error handling (short writes, ENOSPC, fsync failure,
 * rotation) in one place, away from the lcores.
 *
 * Rings: DPDK rte_ring, created with rte_ring_init() on memory from the
 * process heap (works without the EAL, which the unit tests rely on), single
 * producer / single consumer. rte_ring is what every other ring in mxgate is,
 * is bounded (a full ring is back-pressure, not an allocation) and carries
 * fixed-size elements (completions) without a per-item allocation, which
 * liburcu's wfcqueue would need.
 *
 * Lifecycle (boot thread): spool_create() (runs recovery) ->
 * spool_recovered_next() loop (re-queue) -> spool_start() -> workers run ->
 * spool_worker_flush() on every worker -> spool_stop() -> workers poll their
 * last completions -> spool_destroy().
 *
 * Durability rules kept here: a completion with status 0 is posted only after
 * fdatasync(2) returned 0 for every segment holding a record of the message
 * (and the directory entry of every new segment was fsynced at creation).
 * Any write or sync error fails every message whose records may be affected:
 * after an error the worker's stream continues in a fresh segment.
 */
#ifndef MX_QUEUE_SPOOL_H
#define MX_QUEUE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "queue/qid.h"
#include "queue/record.h"
#include "queue/spool-t.h"

/** Fill @c with defaults (dir NULL, 1 worker, 1 commit thread). Any thread. */
void spool_conf_defaults(struct spool_conf *c);

/**
 * Open the spool at @conf->dir (created if missing), recover it (verify every
 * segment, cut torn tails, replay the done log, delete fully-done segments,
 * rewrite the done log) and prepare @conf->workers worker contexts. No thread
 * is started. @conf is copied (dir string included). Returns the spool, or
 * NULL with errno set. Boot thread only; may take a while (reads the spool).
 */
struct spool *spool_create(const struct spool_conf *conf);

/**
 * Recovery result, one committed message with recipients left per call, in
 * queue id order: fills @mi and returns 1, or returns 0 at the end. Set
 * *@cursor to 0 before the first call. @mi->rcpt_state stays valid until
 * spool_start(). Boot thread, before spool_start().
 */
int spool_recovered_next(struct spool *sp, size_t *cursor, struct spool_msginfo *mi);

/** Start the commit threads. 0 or -errno. Boot thread, once. */
int spool_start(struct spool *sp);

/**
 * Write what the workers handed off, make it durable, post the last
 * completions and join the commit threads. Call after every worker stopped
 * appending and called spool_worker_flush(). Boot/control thread.
 */
void spool_stop(struct spool *sp);

/** Free everything (stops the threads first if needed). Boot thread. */
void spool_destroy(struct spool *sp);

/** Worker context @id (< conf.workers), NULL if out of range. Any thread. */
struct spool_worker *spool_worker_get(struct spool *sp, unsigned id);

/* ---------------- worker lcore API ---------------- */

/**
 * Admission at MAIL FROM: 0 if a new transaction may start, else a negative
 * errno whose reply is spool_reply(): -ENOSPC (above the high-water mark -
 * the configured one, or spool_auto_high_water() when it is 0 -, free
 * disk below min_free, or the disk was found full), -ENOBUFS (this worker's
 * staging or completion capacity is exhausted), -EAGAIN (refused by
 * spool_set_refuse(), e.g. the next hop is down). Reads atomics only.
 * Worker lcore only (its own @w).
 */
int spool_admit(struct spool_worker *w);

/** Change the admission limits (bytes, 0: off) and the group commit knobs
 * of spool_conf while running (configuration reload). Relaxed atomic
 * stores, read by the workers and commit threads at their next check.
 * Control thread. */
void spool_set_limits(struct spool *sp, uint64_t high_water, uint64_t min_free,
		      uint32_t commit_interval_us, uint32_t commit_batch);

/**
 * SMTP reply text for a non-zero admission or completion status (no CRLF):
 * "452 4.3.1 Insufficient system storage" for ENOSPC, EDQUOT, ENOBUFS and
 * EAGAIN, "451 4.3.0 Error: queue file write error" for anything else. Any
 * thread; static string.
 */
const char *spool_reply(int status);

/** The reply of spool_reply() in typed parts: code, enhanced code, text. */
struct spool_reply_parts {
	unsigned code;	  /* 452 or 451 */
	const char *enh;  /* "4.3.1" or "4.3.0" */
	const char *text; /* no code, no CRLF */
};

/** spool_reply() for @status as parts (for an SMTP engine that formats
 * replies itself). Any thread; returns a pointer to static const data,
 * never NULL. */
const struct spool_reply_parts *spool_reply_parts(int status);

/**
 * Start message @m (caller-owned, e.g. inside the session) with envelope
 * @env: assigns @m->qid and stages the ENVELOPE record. @env is copied.
 * Returns 0; -EINVAL for a malformed envelope; -E2BIG if it does not fit a
 * staging buffer (answer 452 4.5.3 too many recipients); -ENOBUFS if no
 * staging buffer is free (park the session, retry after a poll).
 * Worker lcore only.
 */
int spool_msg_begin(struct spool_worker *w, struct spool_msg *m, const struct spool_envelope *env);

/**
 * Append @len body bytes (after dot-unstuffing; the Received: header first)
 * to @m. Consecutive appends to the same message coalesce into one BODY
 * record. Returns how many bytes were taken (the caller still owns the rest
 * and retries after a poll), or -ENOBUFS if none, -EINVAL if @m is not open.
 * Worker lcore only.
 */
long spool_msg_body(struct spool_worker *w, struct spool_msg *m, const void *data, size_t len);

/**
 * Stage the END record of @m: the message is complete and will be committed
 * with the next group. Exactly one struct spool_cpl with @m->qid and @cookie
 * will come out of spool_worker_poll() later; send 250 only if its status is
 * 0. @m is closed afterwards (it may be reused). Returns 0, -ENOBUFS (no
 * staging buffer or too many messages in flight: retry after a poll),
 * -EINVAL if @m is not open. Worker lcore only.
 */
int spool_msg_end(struct spool_worker *w, struct spool_msg *m, uint64_t cookie);

/**
 * Forget @m (client went away, RSET, DATA rejected). Records already staged
 * stay in the segment but are never a message (no END). No completion.
 * Never fails; no-op if @m is not open. Worker lcore only.
 */
void spool_msg_abort(struct spool_worker *w, struct spool_msg *m);

/**
 * Once per worker loop: hand the staging buffer to the commit thread if it
 * holds an END (so a group can form while the next one fills), then take up
 * to @n completions into @cpl. Returns the number taken. Worker lcore only.
 */
unsigned spool_worker_poll(struct spool_worker *w, struct spool_cpl *cpl, unsigned n);

/** Hand off the staging buffer whatever it holds (shutdown). Worker lcore
 * only (or the boot thread once the worker is stopped). */
void spool_worker_flush(struct spool_worker *w);

/**
 * Write one complete message (@env, @len bytes of @body) through worker
 * context @w and wait until it is durable: the relay's way to queue a
 * delivery status notification. @w must be a context no worker lcore uses
 * (the daemon reserves the last one) and only one thread at a time may call
 * this on it (the caller serialises). Admission limits of new mail (high
 * water, refusals) do not apply; a full disk does. On success stores the
 * new queue id in *@qid, returns 0, and the message is handed to on_commit
 * like any other; else -errno (-ETIMEDOUT after @timeout_ms: the message
 * may still become durable later). Blocks (sleeps in 100 us steps); never
 * on a worker lcore.
 */
int spool_inject(struct spool_worker *w, const struct spool_envelope *env, const void *body,
		 size_t len, uint32_t timeout_ms, struct spool_qid *qid);

/* ---------------- relay / control API ---------------- */

/**
 * Record the new @st of recipient @rcpt of committed message @qid in the done
 * log (write(2), synced by spool_maintain()) and in memory. When no recipient
 * is left pending or held, the message leaves the spool and its segments
 * become deletable. RELEASED puts a held recipient back to pending. Returns 0,
 * -ENOENT (unknown or already finished message), -EINVAL (bad index or
 * state), or -errno from the write (state unchanged). Relay or control
 * threads; takes the spool locks; never on a worker lcore.
 */
int spool_rcpt_mark(struct spool *sp, const struct spool_qid *qid, uint32_t rcpt,
		    enum spool_rcpt_state st);

/** Current state of recipient @rcpt of @qid (enum spool_rcpt_state), or
 * -ENOENT / -EINVAL. Relay or control threads (takes the spool lock). */
int spool_rcpt_state(struct spool *sp, const struct spool_qid *qid, uint32_t rcpt);

/** Copy the locator of committed message @qid into @mi (rcpt_state NULL).
 * 0 or -ENOENT. Relay or control threads (takes the spool lock). */
int spool_msg_lookup(struct spool *sp, const struct spool_qid *qid, struct spool_msginfo *mi);

/** Number of committed messages with recipients left. Any thread (lock). */
size_t spool_msg_count(struct spool *sp);

/**
 * Housekeeping: fdatasync the done log, refresh the free-disk figure (clears
 * the disk-full state when space is back), delete segments whose messages are
 * all done (then fsync their directory). Returns the number of segments
 * deleted or -errno. Called by commit thread 0 every maint_interval_ms;
 * callable from a control thread too. Never on a worker lcore.
 */
int spool_maintain(struct spool *sp);

/** Refuse (@on != 0) or admit new transactions regardless of space (the
 * relay sets it when the next hop has been down too long):
 * spool_refuse_reason(SPOOL_REFUSE_NEXTHOP_DOWN). Any thread. */
void spool_set_refuse(struct spool *sp, int on);

/** Set (@on != 0) or clear one SPOOL_REFUSE_* @reason; new transactions are
 * refused (452 4.3.1) while any reason is set. Any thread (atomic). */
void spool_refuse_reason(struct spool *sp, unsigned reason, int on);

/** The back-pressure state in force (relaxed snapshot). Any thread. */
void spool_pressure_read(struct spool *sp, struct spool_pressure *out);

/** The automatic high-water mark for a file system of @fs_bytes: a quarter,
 * bounded to [SPOOL_AUTO_HW_MIN, SPOOL_AUTO_HW_MAX]. Pure. */
uint64_t spool_auto_high_water(uint64_t fs_bytes);

/**
 * Files the operator has not yet looked at in the spool's quarantine/
 * directory (damaged segments kept aside by recovery, see recover.c), their
 * total size in *@bytes. Returns the count or -errno. Control thread (reads
 * the directory).
 */
long spool_quarantine_files(struct spool *sp, uint64_t *bytes);

/** Recovery progress (relaxed snapshot). Any thread. */
void spool_recovery_read(struct spool *sp, struct spool_recovery_info *out);

/** Wait up to @timeout_ms for the background recovery to end: 0 when it
 * has (or never ran in the background), -ETIMEDOUT. Sleeps; control or
 * test threads. */
int spool_recovery_wait(struct spool *sp, uint32_t timeout_ms);

/** Bytes of segment files in the spool. Any thread (atomic read). */
uint64_t spool_bytes(struct spool *sp);

/** Sum all threads' counters into @out. Any thread; values are a relaxed
 * snapshot (each counter exact, not all from the same instant). */
void spool_stats_read(struct spool *sp, struct spool_stats *out);

/** Name of counter @i in SPOOL_STATS order; NULL past the end. */
const char *spool_stat_name(size_t i);
#define SPOOL_STAT_COUNT (sizeof(struct spool_stats) / sizeof(uint64_t))

/** Number of commit threads (instances of the commit latency histogram). */
unsigned spool_commit_threads(const struct spool *sp);

struct mx_hist;
/** Merge commit thread @i's latency histogram (spool_msg_end() -> successful
 * completion posted, in ns) into @h; nothing if @i is out of range. Any
 * thread: relaxed loads of a histogram its commit thread keeps writing. */
void spool_commit_hist_read(struct spool *sp, unsigned i, struct mx_hist *h);

/* ---------------- reading API (relay) ---------------- */

/**
 * Open committed message @qid for reading. The reader has its own file
 * descriptors and buffers; keep the message's recipients non-final while it
 * is open (spool_rcpt_mark() to a final state may delete its segments).
 * Returns the reader, or NULL with errno (ENOENT, EBADMSG, ENOMEM, or from
 * open/pread). Relay or control threads; blocking file I/O.
 */
struct spool_reader *spool_reader_open(struct spool *sp, const struct spool_qid *qid);

/**
 * Decode the envelope into @env with up to @max_rcpt recipients in @rcpt.
 * Strings stay valid until spool_reader_close(). 0, -EBADMSG or -E2BIG.
 * Thread owning @rd.
 */
int spool_reader_envelope(struct spool_reader *rd, struct spool_envelope *env,
			  struct spool_rcpt *rcpt, uint32_t max_rcpt);

/**
 * Next body chunk: sets *@data / *@len (valid until the next call) and
 * returns 1; returns 0 once the END record was reached and the whole message
 * verified (length and CRC); -EBADMSG if the message is damaged, -errno on a
 * read error. Thread owning @rd.
 */
int spool_reader_body(struct spool_reader *rd, const uint8_t **data, uint32_t *len);

/** Close @rd (NULL ok). Thread owning @rd. */
void spool_reader_close(struct spool_reader *rd);

#endif
