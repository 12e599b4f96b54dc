/*
 * spool-int.h - internals shared by spool.c, recover.c and reader.c. Not a
 * public header: nothing outside queue/ includes it.
 *
 * Locks: sp->lock protects the segment tables, the live-message index and
 * sp->st; sp->done_lock protects the done log file position. Workers take
 * neither. Lock order: done_lock before lock.
 */
#ifndef MX_QUEUE_SPOOL_INT_H
#define MX_QUEUE_SPOOL_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>

#include <rte_common.h>
#include <rte_ring.h>

#include "core/hist.h"
#include "queue/spool.h"

#define ST_ADD(st, f, n) __atomic_store_n(&(st)->f, (st)->f + (uint64_t)(n), __ATOMIC_RELAXED)
#define ST_MAX(st, f, v)                                                             \
	do {                                                                         \
		if ((uint64_t)(v) > (st)->f)                                         \
			__atomic_store_n(&(st)->f, (uint64_t)(v), __ATOMIC_RELAXED); \
	} while (0)

/** One END staged in a buffer: what the commit thread needs to complete it. */
struct spool_bufend {
	struct spool_qid qid;
	uint64_t cookie;
	uint64_t env_off;
	uint64_t body_len;
	uint64_t t_ns;
	uint32_t nrcpt;
};

/** A worker staging buffer; travels worker -> commit thread -> worker. */
struct spool_buf {
	uint64_t off;	      /* logical stream offset of data[0] */
	uint64_t oldest_open; /* lowest env_off of messages open at hand-off */
	uint32_t len;
	uint32_t nrec;
	uint32_t nend;
	struct spool_bufend end[SPOOL_BUF_MAX_ENDS];
	uint8_t *data; /* conf.buf_size bytes */
};

/** A segment file. Fields are written under sp->lock except by recovery. */
struct spool_seg {
	uint64_t seq;
	uint64_t lstart; /* logical offset of the byte after the file header */
	uint64_t llen;	 /* stream bytes in the file */
	uint64_t fsize;
	uint32_t refs;	  /* committed messages with work left touching it */
	int fd;		  /* commit thread's descriptor, -1 when closed */
	bool old;	  /* from before this boot */
	bool busy;	  /* current, or written and not yet synced: commit thread owns it */
	bool keep;	  /* damage found and no quarantine link: never deleted automatically */
	bool quarantined; /* recovery: linked into quarantine/ (once) */
	bool gap_before;  /* recovery: stream gap before it (a failed write) */
	bool dirty;	  /* commit thread: in its dirty list */
	uint16_t worker;
};

struct spool_segtab {
	struct spool_seg **v; /* sorted by seq */
	size_t n, cap;
};

/** A committed message with work left (recovery also keeps partial ones). */
struct spool_live {
	struct spool_live *hnext;
	struct spool_msginfo mi;
	uint8_t *state; /* nrcpt entries */
	/* recovery only */
	uint64_t env_off;
	uint64_t body_len;
	uint32_t crc;
	uint32_t nbody;
	uint8_t rstate; /* LIVE_OPEN, LIVE_COMPLETE, LIVE_BAD */
};

enum {
	LIVE_OPEN = 0,
	LIVE_COMPLETE,
	LIVE_BAD,
};

struct spool_livetab {
	struct spool_live **b;
	size_t nb; /* power of two */
	size_t n;
};

/* Worker context. The first part is the worker lcore's, the second (ct_*)
 * its commit thread's; rings are shared (SPSC). */
struct spool_worker {
	struct spool *sp;
	unsigned id;
	uint32_t salt;
	struct spool_qid_gen gen;
	struct rte_ring *sub;  /* worker -> commit: struct spool_buf * */
	struct rte_ring *free; /* commit -> worker: struct spool_buf * */
	struct rte_ring *cpl;  /* commit -> worker: struct spool_cpl */
	struct spool_buf *cur;
	uint64_t pos;		  /* next logical stream offset */
	struct spool_msg *ob_msg; /* message owning the open BODY record */
	uint32_t ob_hdr;	  /* its header position in cur->data */
	uint32_t ob_crc;	  /* running payload CRC (seeded with salt) */
	struct spool_msg *open_head, *open_tail;
	uint32_t inflight;
	struct spool_stats st;

	/* commit thread side */
	struct spool_seg *ct_cur __rte_cache_aligned;
	uint64_t ct_next_seq;
	uint64_t ct_stream_end; /* logical end of the last buffer processed */
	uint64_t ct_fail_end;	/* messages starting below this offset fail */
	int ct_fail_err;
	uint64_t ct_last_log_ns;
	uint64_t ct_oldest_open; /* atomic: read by spool_maintain() */

	struct spool_buf *bufs;
	void *ring_mem[3];
} __rte_cache_aligned;

struct spool_committer {
	struct spool *sp;
	unsigned id;
	pthread_t th;
	bool started;
	struct spool_pend *pend;
	size_t npend, cappend;
	struct spool_seg **dirty;
	size_t ndirty, capdirty;
	uint64_t grp_records;
	uint64_t grp_bytes;
	uint64_t grp_first_ns;
	uint64_t next_maint_ns;
	struct spool_stats st;
	struct mx_hist lat; /* spool_msg_end() -> 250 completion, ns; written here only */
};

/** Boot state of a recovered message with a recipient not pending: what the
 * background done-log rewrite writes for it (recover.c). */
struct spool_rec_kept {
	struct spool_qid qid;
	uint16_t worker;
	uint64_t first_seq;
	uint32_t nrcpt;
	uint8_t *state;
};

/** A done-log record as found at start (recover.c). */
struct spool_rec_done {
	struct spool_qid qid;
	uint32_t rcpt;
	uint32_t order; /* position in the log: later records win */
	uint8_t st;
};

/* Recovery: what the start-up pass leaves for the verification pass
 * (recover.c). The verification pass runs inline in spool_create() or, with
 * conf.recover_background, on its own thread from spool_start(). */
struct spool_recovery {
	pthread_t th;
	bool th_started;
	bool pending;		  /* the verification pass has not run yet */
	bool concurrent;	  /* it runs while commit threads and the relay run */
	int donefd;		  /* the done log as found (read only), -1: none */
	uint64_t done_boot_end;	  /* end of its intact records at start */
	struct spool_segtab *old; /* per worker directory: segments found at start */
	struct spool_rec_kept *kept;
	size_t nkept, capkept;
	/* progress, relaxed atomics (spool_recovery_read()) */
	int state; /* enum spool_recovery_state */
	uint64_t segs_total, segs_done;
	uint64_t bytes_total, bytes_done;
	uint64_t msgs;
	uint64_t t_start_ns, t_end_ns;
};

struct spool {
	struct spool_conf conf;
	char *dir;
	int rootfd;
	unsigned ndirs; /* worker directories (>= conf.workers) */
	int *dirfd;	/* per worker directory */
	struct spool_worker *w;
	struct spool_committer *ct;
	pthread_mutex_t lock;
	struct spool_segtab *seg; /* per worker directory */
	struct spool_livetab live;
	struct spool_stats st; /* recovery, maintenance, done log (under lock) */

	pthread_mutex_t done_lock;
	int done_fd;
	uint64_t done_pos; /* file offset of the next done record */
	uint32_t done_salt;
	bool done_dirty;

	uint64_t *next_seq;	       /* per worker directory, from recovery */
	struct spool_qid *floor;       /* per worker directory: largest qid seen */
	struct spool_live **recovered; /* sorted by qid; valid until start */
	size_t nrecovered;
	bool started, stopping;
	int stop; /* atomic */

	/* back-pressure, atomics */
	uint64_t bytes;
	uint64_t live_bytes; /* bodies of messages with recipients pending: what
				the high-water mark limits (segment files keep
				delivered data until they are deleted) */
	uint64_t disk_free;
	uint64_t high_water_auto; /* spool_auto_high_water() of the file system */
	int disk_full;
	int refuse; /* SPOOL_REFUSE_* bits */

	struct spool_recovery rec;
};

/* spool.c */
uint64_t spool_now_ns(void);
uint64_t spool_now_us(void);
uint32_t spool_random32(void);
struct spool_live *spool_live_find(struct spool_livetab *t, const struct spool_qid *q);
int spool_live_insert(struct spool_livetab *t, struct spool_live *l);
struct spool_live *spool_live_remove(struct spool_livetab *t, const struct spool_qid *q);
void spool_live_free(struct spool_live *l);
int spool_segtab_push(struct spool_segtab *t, struct spool_seg *s);
struct spool_seg *spool_segtab_find(struct spool_segtab *t, uint64_t seq);
void spool_segtab_ref_range(struct spool_segtab *t, uint64_t first, uint64_t last, int delta);
void spool_seg_name(char *buf, size_t n, uint64_t seq);
int spool_fsync_fd(int fd);

/* recover.c */
int spool_recover(struct spool *sp);
int spool_recover_start(struct spool *sp);
void spool_recover_join(struct spool *sp);
void spool_recover_free(struct spool *sp);

#endif
