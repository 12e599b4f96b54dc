/*
 * counters.h - the counter registry: every module registers its counters
 * once, and one walker feeds every view of them: `show stats` (text and
 * JSON, totals and per worker), `show counters` and the Prometheus
 * exposition served on /metrics (the formatters below, counters_fmt.c).
 *
 * A group is a set of counters read together. It has a name (the prefix of
 * its text lines, "dp", "tcp", "smtp" ...), a long name (its key in `show
 * stats json` and its part of the Prometheus name, "dataplane" ...), a scope
 * (one global instance, one instance per worker lcore, or one per thread of
 * the module) and one read function that fills every value of the group for
 * one instance with relaxed loads. Each counter (struct mx_ctr_def) has a
 * name, a help line, a type (counter, gauge, histogram) and says how its
 * instances combine into the total (sum or max). Histograms are read apart,
 * by merging the instance's struct mx_hist into the caller's.
 *
 * Adding a counter to an existing group is adding it to the module's
 * X-macro (or table) its group is built from; adding a group is one static
 * struct mx_ctr_group and one mx_ctr_register() call at boot.
 *
 * Threads: registration is boot only (constructors or main before the
 * control loop runs), single-threaded. Walking and formatting run on the
 * control thread. Counters are written by their owners (one writer each,
 * relaxed atomics) and read here without locks: each value is exact, the
 * set is not one instant's snapshot. Memory of the walker and formatters is
 * the control path's (malloc, i.e. jemalloc in the daemon).
 */
#ifndef MX_CORE_COUNTERS_H
#define MX_CORE_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mx_hist;

enum mx_ctr_type {
	MX_CTR_COUNTER = 0, /* counts up from 0 (Prometheus: name_total) */
	MX_CTR_GAUGE,	    /* goes up and down, or a maximum */
	MX_CTR_HISTOGRAM,   /* a struct mx_hist of recorded values */
};

enum mx_ctr_merge {
	MX_CTR_SUM = 0, /* total = sum over instances */
	MX_CTR_MAX,	/* total = largest instance */
};

enum mx_ctr_scope {
	MX_CTR_GLOBAL = 0, /* one instance (no label) */
	MX_CTR_WORKER,	   /* one instance per worker lcore, label worker="N" */
	MX_CTR_THREAD,	   /* one per thread of the module, label group->label="N" */
};

/* One counter of a group. */
struct mx_ctr_def {
	const char *name; /* within the group, as `show stats` prints it:
			     "rx_packets", "CurrEstab" */
	const char *help; /* one line; `show counters` and # HELP */
	const char *prom; /* Prometheus name within the group, snake case, no
			     _total; NULL: mx_ctr_snake(name) */
	uint8_t type;	  /* enum mx_ctr_type */
	uint8_t merge;	  /* enum mx_ctr_merge */
	/* Histograms only: */
	uint8_t le_lo, le_hi; /* Prometheus buckets: le = {1,2,5} x 10^k for
				 le_lo <= k <= le_hi, in recorded units */
	double scale;	      /* recorded unit -> exposed unit (1e-9: ns -> s); 0: 1 */
};

/* A group; static storage, registered once. */
struct mx_ctr_group {
	const char *name;      /* text prefix: "dp" */
	const char *long_name; /* JSON key, Prometheus mxgate_<long_name>_...; NULL: name */
	uint8_t scope;	       /* enum mx_ctr_scope */
	const char *label;     /* MX_CTR_THREAD: the instance label, e.g. "commit_thread" */
	unsigned flags;	       /* MX_CTR_F_* */
	const struct mx_ctr_def *defs;
	unsigned ndefs;
	/* Instances now. NULL: 1. May return 0 (module off: no per-instance
	 * values; totals read 0). */
	unsigned (*instances)(void *arg);
	/* Fill vals[0 .. ndefs) for instance @inst (relaxed loads). Slots of
	 * histograms are ignored. NULL if every def is a histogram. */
	void (*read)(void *arg, unsigned inst, uint64_t *vals);
	/* Merge histogram defs[@def] of instance @inst into @h (mx_hist_merge).
	 * Required if the group has a histogram. */
	void (*read_hist)(void *arg, unsigned inst, unsigned def, struct mx_hist *h);
	void *arg;
};

/*
 * The usual shape of a module's counters: one X-macro list of its
 * snapshot struct's fields,
 *
 *   #define FOO_COUNTERS(X) \
 *           X(refused, COUNTER, "sessions refused 554") \
 *           X(entries, GAUGE, "entries in the table now")
 *
 * expanded with these: MX_CTR_X_FIELD declares the struct's uint64_t
 * fields, MX_CTR_X_DEF the group's defs, MX_CTR_X_LOAD copies one field
 * from `in` to `out` with a relaxed load (a worker's live counters into a
 * snapshot), and MX_CTR_LIST_READER defines the group's read function.
 */
#define MX_CTR_X_FIELD(n, t, h) uint64_t n;
#define MX_CTR_X_DEF(n, t, h)	{.name = #n, .help = h, .type = MX_CTR_##t},
#define MX_CTR_X_LOAD(n, t, h)	out->n = __atomic_load_n(&in->n, __ATOMIC_RELAXED);
#define MX_CTR_X_VAL_(n, t, h)	vals[k_++] = s_.n;

/* static void FN(void *arg, unsigned inst, uint64_t *vals): fills vals from
 * struct STRUCT, which SNAP(inst, &s) fills for instance @inst. */
#define MX_CTR_LIST_READER(FN, LIST, STRUCT, SNAP)               \
	static void FN(void *arg, unsigned inst, uint64_t *vals) \
	{                                                        \
		struct STRUCT s_;                                \
		unsigned k_ = 0;                                 \
                                                                 \
		(void)arg;                                       \
		(void)inst;                                      \
		SNAP(inst, &s_);                                 \
		LIST(MX_CTR_X_VAL_)                              \
	}

/* In per-worker JSON objects (`show stats json workers`), print this
 * group's names bare ("loops") instead of "group.name" (the dataplane's
 * historical shape). At most one group should have it. */
#define MX_CTR_F_BARE_IN_WORKER 0x1u

#define MX_CTR_MAX_GROUPS 32

/**
 * Register @g (static storage, not copied). Groups are walked in
 * registration order; groups sharing a name must be registered one after
 * the other (they form one JSON object). Returns 0, -EINVAL (no name or
 * defs, a histogram without read_hist, counters without read, THREAD scope
 * without label), -EEXIST (@g already registered, or its name used by a
 * group that is not the previous one), -ENOSPC (MX_CTR_MAX_GROUPS). Boot
 * only, single-threaded.
 */
int mx_ctr_register(const struct mx_ctr_group *g);

/** Forget every group (unit tests). */
void mx_ctr_reset(void);

/** Number of registered groups, and group @i (NULL past the end). */
unsigned mx_ctr_ngroups(void);
const struct mx_ctr_group *mx_ctr_group_at(unsigned i);

/* What the walker hands to its callback for one counter. Pointers are valid
 * during the call only. */
struct mx_ctr_val {
	const struct mx_ctr_group *g;
	const struct mx_ctr_def *d;
	unsigned idx;		    /* d - g->defs */
	bool first_of_group;	    /* first counter of a group with a new name */
	unsigned n;		    /* instances */
	const uint64_t *v;	    /* [n] per-instance values (not histograms) */
	uint64_t total;		    /* v combined by d->merge (0 if n == 0) */
	const struct mx_hist *h;    /* histograms: [n] per instance */
	const struct mx_hist *htot; /* histograms: merged */
};

typedef void (*mx_ctr_walk_fn)(const struct mx_ctr_val *v, void *arg);

/**
 * Visit every registered counter, group by group in registration order, with
 * its per-instance values and total. Returns 0, or -ENOMEM (scratch memory
 * for a group's values or histograms; groups visited so far were visited).
 * Control thread.
 */
int mx_ctr_walk(mx_ctr_walk_fn fn, void *arg);

/* ---- formatters (counters_fmt.c) ---------------------------------- */

/* A growing text buffer (malloc). Zero-initialise; free with mx_buf_free. */
struct mx_buf {
	char *p; /* NUL-terminated while len > 0 */
	size_t len, cap;
	bool failed; /* an allocation failed: the text is truncated */
};

/** Append formatted text to @b, growing it (malloc); on allocation failure
 * set @b->failed and keep what was there. Thread owning @b. */
void mx_buf_printf(struct mx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Free @b's text and zero it (reusable). */
void mx_buf_free(struct mx_buf *b);

#define MX_CTR_FMT_WORKERS 0x1u /* add per-instance values (show stats ... workers) */

/**
 * `show stats`: one line "group.name value" per counter (name padded to 27
 * columns), histograms as group.name.{count,sum,p50,p90,p99,max}; with
 * MX_CTR_FMT_WORKERS then "workerN.group.name value" for every WORKER-scope
 * counter, worker by worker. Returns 0 or -ENOMEM. Control thread.
 */
int mx_ctr_format_text(struct mx_buf *b, unsigned flags);

/**
 * `show stats json`: {"<long_name>":{"name":total,...},...} (histograms as
 * {"count":..,"sum":..,"min":..,"p50":..,"p90":..,"p99":..,"max":..}); with
 * MX_CTR_FMT_WORKERS a "workers":[{...},...] array of flat objects, one per
 * worker: names of MX_CTR_F_BARE_IN_WORKER groups bare, others
 * "group.name". Ends with a newline. Returns 0 or -ENOMEM.
 */
int mx_ctr_format_json(struct mx_buf *b, unsigned flags);

/**
 * `show counters`: every counter's "group.name type help" (text), or
 * {"counters":[{"name","type","scope","prom","help"},...]} (@json), where
 * prom is the exposed sample name (counters end in _total). Returns 0 or
 * -ENOMEM.
 */
int mx_ctr_format_list(struct mx_buf *b, bool json);

/**
 * Prometheus text exposition format 0.0.4: per counter # HELP and # TYPE,
 * then one sample per instance (label worker="N" or <label>="N"; a GLOBAL
 * group's single sample has no label). Names mxgate_<long_name>_<prom>,
 * counters with _total. Histograms: cumulative _bucket{le=...} for the
 * def's 1-2-5 bounds and +Inf, _sum and _count, values scaled by d->scale.
 * A bucket of the log-linear histogram counts toward le when its lowest
 * value is <= le, so a bound's count may include values up to 0.8 % above
 * it (MX_HIST_REL_ERR x 2). Returns 0 or -ENOMEM.
 */
int mx_ctr_format_prom(struct mx_buf *b);

/**
 * Prometheus form of @in: CamelCase split into snake_case (ActiveOpens ->
 * active_opens, PAWSEstab -> paws_estab), lower case, any character outside
 * [a-z0-9_] replaced by '_'. Writes at most @n bytes including the NUL.
 * Returns the length it needed (like snprintf).
 */
size_t mx_ctr_snake(const char *in, char *out, size_t n);

/** Append @s to @b with Prometheus HELP escaping (\ -> \\, newline -> \n). */
void mx_ctr_prom_escape(struct mx_buf *b, const char *s);

/** Append @s to @b as the inside of a JSON string. */
void mx_ctr_json_escape(struct mx_buf *b, const char *s);

#endif
