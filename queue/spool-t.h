/*
 * spool-t.h - types of the mxgate spool (libmx_queue): configuration, the
 * worker's message handle, completions, message locators, counters.
 * See spool.h for the functions and the threading model.
 */
#ifndef MX_QUEUE_SPOOL_T_H
#define MX_QUEUE_SPOOL_T_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "queue/record-t.h"

struct spool;	     /* opaque: the spool of one process */
struct spool_worker; /* opaque: one worker lcore's side of the spool */
struct spool_reader; /* opaque: a committed message opened for reading */
struct statvfs;
struct spool_msginfo;

/**
 * I/O seam (OpenSMTPD-style backend table, reduced to what tests need): the
 * commit thread writes and syncs through these, so tests inject ENOSPC/EIO
 * without a full disk. NULL members mean the real syscall. Called on commit
 * threads only (statvfs on the commit thread that runs maintenance).
 */
struct spool_io_ops {
	ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
	int (*fdatasync)(int fd);
	int (*statvfs)(const char *path, struct statvfs *st);
};

struct spool_conf {
	const char *dir;	     /* spool root; created if missing */
	unsigned workers;	     /* worker lcores (queue id worker field) */
	unsigned commit_threads;     /* >= 1; worker w is served by w % commit_threads */
	uint64_t segment_size;	     /* rotate a segment after this many bytes */
	uint32_t commit_interval_us; /* max wait to grow a group before fdatasync (0: none) */
	uint32_t commit_batch;	     /* fdatasync as soon as this many records wait */
	uint32_t buf_size;	     /* worker staging buffer bytes (max record size) */
	uint32_t bufs_per_worker;    /* staging buffers per worker */
	uint32_t max_inflight;	     /* messages ended but not yet completed, per worker */
	uint64_t high_water;	     /* refuse new mail above this many undelivered bytes
					(0: spool_auto_high_water() of the file system) */
	uint64_t min_free;	     /* refuse new mail below this many free disk bytes (0: off) */
	uint32_t maint_interval_ms;  /* commit thread 0 runs spool_maintain() (0: never) */
	const struct spool_io_ops *io; /* NULL: real syscalls */
	/** Called on a commit thread for every message made durable, after its
	 * completion is posted and it is visible to spool_reader_open() (the
	 * relay's queue-in hook). Must not block for long; @mi->rcpt_state is
	 * NULL. May be NULL. */
	void (*on_commit)(void *arg, const struct spool_msginfo *mi);
	void *on_commit_arg;
	/** Verify the spool found at start in the background (a thread started
	 * by spool_start()) instead of inside spool_create(): spool_create()
	 * then only finds each worker's newest segment, cuts its torn tail and
	 * opens the done log, and each recovered message is handed to
	 * on_recover (not spool_recovered_next()) as soon as it checks. */
	bool recover_background;
	/** Called on the recovery thread for each recovered message with
	 * recipients left (@mi->rcpt_state valid during the call only), after
	 * it is visible to spool_reader_open() and spool_rcpt_mark(). May be
	 * NULL (the messages stay in the spool). */
	void (*on_recover)(void *arg, const struct spool_msginfo *mi);
	void *on_recover_arg;
};

/** Progress of recovery (spool_recovery_read(), "show queue"). */
enum spool_recovery_state {
	SPOOL_RECOVERY_NONE = 0, /* not started (spool_create() not done) */
	SPOOL_RECOVERY_RUNNING,	 /* verifying the backlog in the background */
	SPOOL_RECOVERY_DONE,
	SPOOL_RECOVERY_ABORTED, /* stopped before the end, or an error */
};

struct spool_recovery_info {
	int state; /* enum spool_recovery_state */
	uint64_t segs_total, segs_done;
	uint64_t bytes_total, bytes_done;
	uint64_t msgs;	     /* messages with recipients left handed over so far */
	uint64_t elapsed_ms; /* since spool_start() (or until the end) */
};

/** Defaults: see spool_conf_defaults(). */
#define SPOOL_DEF_SEGMENT_SIZE	  (64ULL << 20)
#define SPOOL_DEF_COMMIT_INTERVAL 200
#define SPOOL_DEF_COMMIT_BATCH	  256
#define SPOOL_DEF_BUF_SIZE	  (256U << 10)
#define SPOOL_DEF_BUFS_PER_WORKER 32
#define SPOOL_DEF_MAX_INFLIGHT	  4096
#define SPOOL_DEF_MAINT_INTERVAL  100
/**
 * The high-water mark when none is configured: a quarter of the spool's
 * file system, at least 64 MiB, at most 8 GiB (spool_auto_high_water()).
 * A bound by default: a next hop slower than the inflow fills the spool
 * until senders are told 452 4.3.1, never the disk.
 */
#define SPOOL_AUTO_HW_DIV 4
#define SPOOL_AUTO_HW_MIN (64ULL << 20)
#define SPOOL_AUTO_HW_MAX (8ULL << 30)

/** Why new transactions are refused regardless of space (spool_refuse_reason()). */
enum {
	SPOOL_REFUSE_NEXTHOP_DOWN = 1 << 0, /* every next hop down too long */
	SPOOL_REFUSE_BACKLOG = 1 << 1,	    /* mail waits too long for a relay thread */
};

/** Back-pressure state for "show queue" (spool_pressure_read()). */
struct spool_pressure {
	uint64_t high_water; /* in force: configured, or the automatic one */
	bool high_water_auto;
	uint64_t live_bytes; /* undelivered bytes counted against it */
	uint64_t disk_free;
	uint64_t min_free;
	bool disk_full;
	unsigned refuse; /* SPOOL_REFUSE_* */
	bool refusing;	 /* new transactions get 452 4.3.1 now (staging aside) */
};

/** END events one staging buffer can carry before it is handed off. */
#define SPOOL_BUF_MAX_ENDS 128

/**
 * The worker's handle of one message being written, embedded in the SMTP
 * session (no allocation). Owned by the worker lcore; opaque fields.
 */
struct spool_msg {
	struct spool_qid qid; /* valid after spool_msg_begin() */
	/* private */
	struct spool_msg *prev, *next; /* worker's list of open messages */
	uint64_t env_off;
	uint64_t body_len;
	uint32_t crc;
	uint32_t nbody;
	uint32_t nrcpt;
	uint8_t open;
};

/** Completion posted by a commit thread to a worker. */
struct spool_cpl {
	struct spool_qid qid;
	uint64_t cookie; /* as given to spool_msg_end() */
	int32_t status;	 /* 0: durable, send 250; -ENOSPC/-EDQUOT: 452 4.3.1; other: 451 4.3.0 */
	uint32_t pad;
	uint64_t t_ns; /* posted (durable), spool_now_ns() of the commit thread */
};

/** Where a committed message lives; what recovery hands back for re-queueing. */
struct spool_msginfo {
	struct spool_qid qid;
	uint16_t worker;
	uint64_t first_seq; /* segment holding the ENVELOPE record */
	uint64_t last_seq;  /* segment holding the END record */
	uint64_t env_pos;   /* file offset of the ENVELOPE record in first_seq */
	uint64_t body_len;
	uint32_t nrcpt;
	uint32_t npending; /* recipients neither delivered nor deleted (held ones count) */
	/** Per recipient state (nrcpt entries), valid until spool_start() in
	 * recovery results; use spool_rcpt_state() afterwards. */
	const uint8_t *rcpt_state;
};

/*
 * Counters: one struct of uint64_t, names from the X-macro. Each thread owns
 * the instance it increments (single writer, relaxed atomics);
 * spool_stats_read() sums them (kind MAX: maximum).
 */
#define SPOOL_STATS(X)                                                                         \
	X(records_staged, SUM)	     /* records encoded by workers */                          \
	X(bytes_staged, SUM)	     /* bytes encoded by workers */                            \
	X(msgs_begun, SUM)	     /* spool_msg_begin() successes */                         \
	X(msgs_ended, SUM)	     /* spool_msg_end() successes */                           \
	X(msgs_aborted, SUM)	     /* spool_msg_abort() */                                   \
	X(staging_full, SUM)	     /* append refused: no free staging buffer */              \
	X(admit_refused, SUM)	     /* spool_admit() said no */                               \
	X(records_written, SUM)	     /* records written to segments */                         \
	X(bytes_written, SUM)	     /* bytes written to segments */                           \
	X(write_calls, SUM)	     /* pwrite(2) calls */                                     \
	X(fdatasyncs, SUM)	     /* fdatasync(2) calls on segments */                      \
	X(sync_groups, SUM)	     /* group commits (one or more fdatasyncs each) */         \
	X(sync_records, SUM)	     /* records made durable by group commits */               \
	X(sync_msgs, SUM)	     /* messages made durable by group commits */              \
	X(group_1, SUM)		     /* groups of 1 message */                                 \
	X(group_2_3, SUM)	     /* groups of 2-3 messages */                              \
	X(group_4_15, SUM)	     /* groups of 4-15 messages */                             \
	X(group_16_63, SUM)	     /* groups of 16-63 messages */                            \
	X(group_64_plus, SUM)	     /* groups of 64 messages or more */                       \
	X(commit_lat_ns_sum, SUM)    /* spool_msg_end() -> completion posted, summed */        \
	X(commit_lat_ns_max, MAX)    /* ... worst */                                           \
	X(msgs_committed, SUM)	     /* ok completions */                                      \
	X(msgs_failed, SUM)	     /* error completions */                                   \
	X(write_errors, SUM)	     /* pwrite failures (any errno) */                         \
	X(sync_errors, SUM)	     /* fdatasync failures */                                  \
	X(enospc_errors, SUM)	     /* ENOSPC/EDQUOT from pwrite, fdatasync or open */        \
	X(segments_created, SUM)     /* segment files created */                               \
	X(segments_deleted, SUM)     /* segment files deleted (all messages done) */           \
	X(done_records, SUM)	     /* done-log records written */                            \
	X(recovered_msgs, SUM)	     /* committed messages found at start with work left */    \
	X(recovered_rcpts, SUM)	     /* ... their recipients not yet delivered */              \
	X(recovered_done_msgs, SUM)  /* committed messages found fully done */                 \
	X(incomplete_msgs, SUM)	     /* messages without intact END (never acknowledged) */    \
	X(invalid_msgs, SUM)	     /* END intact but message check failed */                 \
	X(torn_tails_cut, SUM)	     /* segment files truncated to their last intact record */ \
	X(torn_bytes_cut, SUM)	     /* bytes removed by those cuts */                         \
	X(corrupt_regions, SUM)	     /* damaged regions followed by intact records (kept) */   \
	X(damaged_tails_kept, SUM)   /* damaged tails of older segments: never cut */          \
	X(quarantined_segments, SUM) /* damaged segments linked into quarantine/ */            \
	X(bad_files, SUM)	     /* files without an intact header, removed */

/* Kinds used in SPOOL_STATS (token-pasted onto SPOOL_STAT_). */
enum spool_stat_kind {
	SPOOL_STAT_SUM,
	SPOOL_STAT_MAX,
};

struct spool_stats {
#define SPOOL_STAT_FIELD(name, kind) uint64_t name;
	SPOOL_STATS(SPOOL_STAT_FIELD)
#undef SPOOL_STAT_FIELD
};

#endif
