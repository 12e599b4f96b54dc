/*
 * greylist.h - greylisting at RCPT (postgrey's rules), in one liburcu
 * cds_lfht (QSBR flavour) shared by every worker.
 *
 * KEY. The client's network (/24 IPv4, /64 IPv6 by default), the envelope
 * sender lower-cased (the null sender: "<>" and the HELO name), and the
 * recipient lower-cased. When the caller says SPF passed for the sender's
 * domain (struct grey_query.spf_domain), that domain replaces the network,
 * so a retry from another server of the same organisation passes. The key
 * is kept as a 128-bit keyed digest (SipHash-2-4 twice, key drawn at create
 * and kept in the snapshot) plus its first 55 octets as text for operators;
 * ctl commands take the whole key text or the digest ("#" and 32 hex
 * digits, as `show greylist` prints it).
 *
 * RULES (postgrey's defaults, [greylist]). A new key is deferred; a retry
 * before delay_s (300 s) is deferred; a retry after it and within window_s
 * (2 days) of the first attempt passes, and the key is then "passed": it
 * passes at once for max_age_s (35 days) after its last use (refreshed on
 * use). A retry after the window starts over (the first attempt is now). A
 * client network whose keys passed a retry awl_passes times (5; 0: off) is
 * auto-whitelisted: every key from it passes, for max_age_s after its last
 * use. Entries that can no longer change a decision are aged out by the
 * control thread (grey_age()).
 *
 * MEMORY. Every entry (128 bytes) is allocated at create: max_entries split
 * into one pool per worker, plus a small pool for the control thread (ctl,
 * snapshot load). A worker takes entries from its own free list (no atomic,
 * no malloc); entries retired by the control thread go back to their
 * OWNER's return stack (cds_lfs, pushed by a call_rcu callback after the
 * grace period, so no reader can still hold them; the owner takes the
 * whole stack with one exchange when its list runs dry: no ABA). Why per
 * worker and call_rcu: one shared free stack would put a cache line that
 * every worker writes on the insert path; with call_rcu the control thread
 * never waits for a grace period (synchronize_rcu would stall ctl and
 * the timers behind the slowest worker loop). Untouched entries are never
 * written, so RSS grows with use, not with max_entries. When a worker's
 * pool is empty its new keys pass unrecorded (fail open, counted): the
 * ager keeps the table under 90% of max_entries by evicting the oldest
 * unpassed keys first, then the least recently used passed ones.
 *
 * TIME. Seconds of wall-clock time (entries survive restarts through the
 * snapshot). Workers read grey_now(), which the control thread refreshes
 * every second (no syscall on the worker); tests pass their own clock.
 *
 * THREADING. grey_check() on any worker lcore, inside its QSBR read side
 * (online); workers only insert and update entries with atomics. Retiring
 * (age, evict, delete), the snapshot and create/destroy: control thread,
 * registered with liburcu QSBR (functions go online themselves where said).
 */
#ifndef MX_POLICY_GREYLIST_H
#define MX_POLICY_GREYLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/counters.h"

#define GREY_TEXT_MAX 56 /* key text kept per entry, NUL included */
#define GREY_KEY_MAX  (256 + 256 + 320)

/* The [greylist] keys the table needs (the stage has its own). */
struct grey_conf {
	uint32_t delay_s;     /* minimum delay before a retry passes (300) */
	uint32_t window_s;    /* retry window after the first attempt (2 days) */
	uint32_t max_age_s;   /* passed keys and whitelisted networks (35 days) */
	uint32_t awl_passes;  /* auto-whitelist a network after N passes (5; 0 off) */
	uint8_t v4_prefix;    /* 24 */
	uint8_t v6_prefix;    /* 64 */
	uint32_t max_entries; /* table bound (1,000,000) */
};

/* What grey_check() decided. */
enum grey_verdict {
	GREY_DEFER_NEW = 0, /* first attempt (or the window passed): deferred */
	GREY_DEFER_EARLY,   /* retry before delay_s: deferred */
	GREY_PASS_RETRY,    /* retry in the window: passes, key now passed */
	GREY_PASS_KNOWN,    /* key passed before */
	GREY_PASS_AWL,	    /* client network auto-whitelisted */
	GREY_PASS_FULL,	    /* no free entry: passed unrecorded (fail open) */
	GREY_VERDICT_COUNT,
};

static inline bool grey_verdict_defers(enum grey_verdict v)
{
	return v == GREY_DEFER_NEW || v == GREY_DEFER_EARLY;
}

/* One RCPT to decide. Strings as the client gave them (any case). */
struct grey_query {
	uint8_t family; /* 4 or 6 */
	uint8_t addr[16];
	const char *sender;	/* "" : the null sender */
	const char *helo;	/* used for the null sender */
	const char *rcpt;	/* the recipient */
	const char *spf_domain; /* non-NULL: SPF passed for this sender domain */
};

struct grey_result {
	enum grey_verdict verdict;
	uint32_t wait_s;    /* deferred: seconds until a retry can pass */
	bool share_refresh; /* PASS_KNOWN: refresh the key's TTL in the shared
			     * store (first use in this hour on this node) */
};

/* Kinds of entry. */
enum grey_kind {
	GREY_KIND_TRIPLET = 1,
	GREY_KIND_AWL, /* a client network's pass count */
};

/* One entry as ctl and the snapshot see it. */
struct grey_info {
	uint8_t kind;	 /* enum grey_kind */
	bool passed;	 /* triplet: passed; awl: count reached */
	uint32_t first;	 /* first attempt (s) */
	uint32_t last;	 /* last use (s) */
	uint32_t passes; /* awl: passes counted */
	uint64_t h[2];	 /* digest of the key */
	char text[GREY_TEXT_MAX];
};

/* Per-worker counters (the owner writes, anyone reads relaxed). */
#define GREY_COUNTERS(X)                                                                    \
	X(defer_new, COUNTER, "RCPTs deferred 451 4.7.1: first attempt of a greylist key")  \
	X(defer_early, COUNTER, "RCPTs deferred 451 4.7.1: retry before the minimum delay") \
	X(pass_retry, COUNTER, "RCPTs passed: retry after the delay, key now passed")       \
	X(pass_known, COUNTER, "RCPTs passed: greylist key passed before")                  \
	X(pass_awl, COUNTER, "RCPTs passed: client network auto-whitelisted")               \
	X(pass_full, COUNTER, "RCPTs passed unrecorded: greylist table full (fail open)")   \
	X(pass_whitelist, COUNTER, "RCPTs passed: static whitelist or trusted client")

struct grey_counters {
	GREY_COUNTERS(MX_CTR_X_FIELD)
};

struct grey_table;

/** Create a table for @nworkers workers (@conf->max_entries entries,
 * preallocated, untouched). Boot, any thread. NULL + errno (EINVAL, ENOMEM). */
struct grey_table *grey_create(const struct grey_conf *conf, unsigned nworkers);

/** Free @g. No worker may use it any more. Control thread, registered with
 * liburcu QSBR and offline (waits for call_rcu callbacks). NULL: no-op. */
void grey_destroy(struct grey_table *g);

/** Apply the live keys of @conf (delays, window, ages, prefixes; not
 * max_entries). Control thread; workers see them at their next check. */
void grey_set_conf(struct grey_table *g, const struct grey_conf *conf);

/** Decide @q for worker @worker at @now (s). Lock-free, no allocation,
 * no syscall; counts in @worker's counters. Worker lcore @worker, online. */
void grey_check(struct grey_table *g, unsigned worker, const struct grey_query *q, uint32_t now,
		struct grey_result *r);

/** Count a pass by a static whitelist in @worker's counters. Worker. */
void grey_count_whitelisted(struct grey_table *g, unsigned worker);

/** Retire what can no longer change a decision at @now and, above 90% of
 * max_entries, the oldest unpassed keys, then the least recently used
 * passed ones. Returns entries retired. Control thread, online. */
size_t grey_age(struct grey_table *g, uint32_t now);

/** The clock workers read (s), and its refresh (control thread). */
uint32_t grey_now(const struct grey_table *g);
void grey_set_now(struct grey_table *g, uint32_t now);

/** Build the key text of @q ("198.18.0.0/24 a@b.example c@d.example").
 * Returns its length or -ENAMETOOLONG. Any thread. */
int grey_key_text(const struct grey_table *g, const struct grey_query *q, char *buf, size_t len);

/* ---- control thread (ctl, snapshot): online ---------------------------------- */

/** Visit entries (@fn returns non-zero to stop). Returns entries visited. */
typedef int (*grey_walk_fn)(void *arg, const struct grey_info *e);
size_t grey_walk(struct grey_table *g, grey_walk_fn fn, void *arg);

/** Mark the key @text passed at @now, inserting it if absent (@text the
 * whole key text; a "#digest" must exist). 0, -ENOSPC (control pool
 * empty), -ENOENT, -EINVAL. */
int grey_pass_key(struct grey_table *g, const char *text, uint32_t now);

/** Delete the key @text (a triplet, or "awl NET"). 0 or -ENOENT. */
int grey_delete_key(struct grey_table *g, const char *text);

/** Merge what the shared store knows of the triplet @text (the whole key
 * text): @passed marks it passed (last use @now); otherwise an earlier
 * @first attempt replaces the local one. Inserted from the control pool if
 * absent. 0, -ENOSPC, -EINVAL (a digest or an awl key). */
int grey_merge_key(struct grey_table *g, const char *text, uint32_t first, bool passed,
		   uint32_t now);

/** Take back the count of a deferral @v of @worker that is decided again
 * (after a shared-store lookup), so each RCPT is counted once. Worker
 * @worker only. */
void grey_count_undo(struct grey_table *g, unsigned worker, enum grey_verdict v);

/** Insert @e as loaded from a snapshot (boot, before the workers run:
 * entries are spread over the workers' pools). 0, -EEXIST, -ENOSPC. */
int grey_restore(struct grey_table *g, const struct grey_info *e);

/** The digest key (16 octets) and its replacement (snapshot load). */
void grey_seed(const struct grey_table *g, uint8_t out[16]);
void grey_set_seed(struct grey_table *g, const uint8_t in[16]);

/** Whether @e (from a snapshot) can no longer change a decision at @now. */
bool grey_info_expired(const struct grey_table *g, const struct grey_info *e, uint32_t now);

/** Entries in use, and the bound. Any thread. */
size_t grey_entries(const struct grey_table *g);
size_t grey_capacity(const struct grey_table *g);
/** Entries retired since create (aged, evicted). Any thread. */
uint64_t grey_retired(const struct grey_table *g, uint64_t *evicted);

/** Worker @w's counters (zeros if none). Any thread, relaxed loads. */
void grey_counters_read(const struct grey_table *g, unsigned w, struct grey_counters *out);

/** Name of a verdict ("defer_new" ...), for logs. */
const char *grey_verdict_name(enum grey_verdict v);

/* ---- snapshot (grey_snap.c) --------------------------------------------------- */

/** Write every entry of @g to @path: records with CRC32C, written to
 * @path.tmp, fsync'd and renamed over @path. Synchronous. Returns the
 * entries written or -errno. Control thread (online inside). */
long grey_snapshot_save(struct grey_table *g, const char *path);

/** Start a snapshot in the background: the entries are copied into a
 * buffer now (control thread, online inside), a thread writes, fsyncs and
 * renames it. Returns 0, -EBUSY (one is still being written) or -errno. */
int grey_snapshot_start(struct grey_table *g, const char *path);
/** Wait for a background snapshot (shutdown). Returns its result. */
long grey_snapshot_wait(struct grey_table *g);

/** Load @path into @g (boot, before the workers run): records up to the
 * first damaged one (a torn or corrupted tail is cut, never a crash);
 * entries already expired at @now are skipped. Returns the entries loaded,
 * 0 if there is no file, or -errno (EINVAL: not a snapshot). @damaged is
 * set when the file was cut. */
long grey_snapshot_load(struct grey_table *g, const char *path, uint32_t now, bool *damaged);

#endif
