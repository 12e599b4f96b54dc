/*
 * store_redis.h - the shared store of several mxgate nodes (issue 17):
 * greylist keys written behind to Redis and looked up there on a local
 * deferral, over hiredis 0.14's asynchronous API attached to the control
 * loop (core/loop.h) by a small adapter of our own.
 *
 * FLOW. The local greylist table (greylist.h) stays the fast path and the
 * cache. A worker never touches a socket: it posts requests on its own
 * single-producer single-consumer ring (the DNS rings, dns_int.h) and takes
 * answers from a second one. The control thread drains the rings on a
 * 1 ms loop timer (10 ms when idle), sends the commands (pipelined), and
 * answers lookups by the worker's cookie (its park ticket). A lookup not
 * answered within [cluster] lookup_timeout_ms is answered "not found": the
 * local verdict stands.
 *
 * RATE LIMITS. Each draw a worker's rate-limit stage makes is posted
 * (MX_STORE_RL); the control thread adds them up per bucket (address and
 * network, messages and recipients) and once a second sends each
 * bucket's sum with one EVALSHA (INCRBY + EXPIRE on first use) to
 * "<prefix>r:<m|r>:<addr>/<plen>:<minute>", a counter per minute window
 * shared by every node (a bucket drawn on here is read with INCRBY 0 for
 * 5 s after its last local draw). The reply is the window's total; what
 * other nodes drew since the last sync is charged to the local GCRA bucket
 * (rl_charge()), so the worker keeps deciding alone, at once, and all
 * nodes draw on one budget, late by one or two sync periods.
 *
 * KEYS. "<prefix>g:<greylist key text>" (the whole text, as grey_key_text()
 * builds it), value "<first> <passed>" (seconds, 0|1). A new key is
 * SET ... NX EX window_s (the earliest first attempt wins); a pass is
 * SET ... EX max_age_s; a passed key in use is refreshed (EXPIRE
 * max_age_s) at its first use in each hour on each node, so a busy key
 * costs one command an hour, not one per RCPT. Auto-whitelist counts stay
 * per node.
 *
 * DOWN. When Redis is unreachable the workers do not park (mx_store_up()
 * is false): greylisting is per node; writes are kept in a bounded backlog
 * (oldest dropped, counted) and flushed when the connection comes back;
 * reconnects back off from 100 ms to 5 s.
 *
 * VERIFICATION. A recipient verification result (policy/verify.c) is
 * written behind as "<prefix>v:<address>" = "<250|550> <the reply text>"
 * EX its TTL (positive or negative); before probing the next hop the
 * control thread asks (one EVAL: GET and TTL), bounded by
 * lookup_timeout_ms: a hit is cached locally for the key's remaining TTL,
 * a miss or a timeout probes as without the store. Not kept in the
 * backlog while Redis is down (dropped, counted).
 *
 * THREADING. mx_store_boot/_shutdown/_show on the control thread;
 * mx_store_up/_grey_post/_poll on worker @worker's lcore only.
 */
#ifndef MX_POLICY_STORE_REDIS_H
#define MX_POLICY_STORE_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config-t.h"
#include "core/counters.h"

/* What a worker posts. */
enum mx_store_op {
	MX_STORE_GREY_NEW = 1, /* a key deferred for the first time (write) */
	MX_STORE_GREY_PASS,    /* a key passed (write) */
	MX_STORE_GREY_ASK,     /* a local deferral: look the key up (answer), write NEW if absent */
	MX_STORE_GREY_GET,     /* look the key up (answer), no write */
	MX_STORE_GREY_TOUCH,   /* a passed key used: EXPIRE max_age_s (write) */
	MX_STORE_RL,	       /* a rate-limit token drawn (mx_store_rl_post) */
};

/* Global counters, also in the registry as "cluster.*". */
#define MX_STORE_COUNTERS(X)                                                                    \
	X(connected, GAUGE, "1 while the shared store (Redis) is connected")                    \
	X(connects, COUNTER, "connections to the shared store established")                     \
	X(disconnects, COUNTER, "connections to the shared store lost or refused")              \
	X(writes, COUNTER, "greylist writes sent to the shared store")                          \
	X(writes_dropped, COUNTER, "greylist writes dropped: backlog full while down")          \
	X(backlog, GAUGE, "greylist writes waiting for the shared store to come back")          \
	X(inflight, GAUGE, "commands sent to the shared store, not answered yet")               \
	X(lookups, COUNTER, "greylist lookups sent to the shared store")                        \
	X(hits, COUNTER, "greylist lookups the shared store knew (merged locally)")             \
	X(misses, COUNTER, "greylist lookups the shared store did not know")                    \
	X(timeouts, COUNTER,                                                                    \
	  "greylist lookups unanswered in time or link lost: local verdict stood")              \
	X(errors, COUNTER, "error replies from the shared store")                               \
	X(ring_full, COUNTER, "requests a worker could not post (ring full): local only")       \
	X(rl_syncs, COUNTER, "rate-limit counters sent to the shared store (INCRBY)")           \
	X(rl_charged, COUNTER, "rate-limit tokens drawn on other nodes charged locally")        \
	X(rl_dropped, COUNTER, "rate-limit draws not shared: aggregation table full")           \
	X(verify_lookups, COUNTER, "recipient verifications asked of the shared store")         \
	X(verify_hits, COUNTER, "recipient verifications the shared store knew (no probe)")     \
	X(verify_misses, COUNTER, "recipient verifications the shared store did not know")      \
	X(verify_timeouts, COUNTER,                                                             \
	  "recipient verifications unanswered in time or link lost: probed")                    \
	X(verify_writes, COUNTER, "recipient verification results written to the shared store") \
	X(verify_dropped, COUNTER, "recipient verification results not written: store down")    \
	X(switches, COUNTER, "failovers announced by a sentinel (+switch-master)")

struct mx_store_counters {
	MX_STORE_COUNTERS(MX_CTR_X_FIELD)
};

/** Start the store for @nworkers workers if [cluster] redis is set
 * (otherwise nothing: mx_store_up() stays false). Rings allocated here,
 * counters registered, first connection started. 0 or -1 (logged, @err).
 * Control thread, boot, before the workers start. */
int mx_store_boot(const struct mx_config *c, unsigned nworkers, char *err, size_t errlen);

/** Close the connection and free everything (workers stopped). */
void mx_store_shutdown(void);

/** Whether the store is configured and connected (relaxed load). Any
 * thread; a worker parks for a lookup only when true. */
bool mx_store_up(void);

/** Whether the store is configured at all. Any thread. */
bool mx_store_configured(void);

/** Post @op for the greylist key @key (NUL-terminated) with first attempt
 * @first and @cookie (lookups). 0, -ENOBUFS (ring full, counted), -ENOTCONN
 * (not configured), -ENAMETOOLONG. Worker @worker only; no lock, no
 * syscall. */
int mx_store_grey_post(unsigned worker, enum mx_store_op op, const char *key, uint32_t first,
		       uint64_t cookie);

/** Post one rate-limit draw of @what (enum rl_what) by client @addr
 * (@family 4 or 6, 16 octets). 0, -ENOBUFS, -ENOTCONN. Worker @worker. */
int mx_store_rl_post(unsigned worker, int what, int family, const uint8_t *addr);

/* Called for each answer taken by mx_store_poll(): @found is true when
 * the shared store knew the key (already merged into the local table). */
typedef void (*mx_store_answer_fn)(void *arg, uint64_t cookie, bool found);

/** Take up to @max answers of worker @worker, calling @fn. Returns how
 * many. Worker @worker only. */
unsigned mx_store_poll(unsigned worker, unsigned max, mx_store_answer_fn fn, void *arg);

/** Read the counters. Control thread. */
void mx_store_counters_read(struct mx_store_counters *out);

/** Describe the store for `show cluster` into @buf (lines). Control thread. */
void mx_store_show(char *buf, size_t len);

#endif
