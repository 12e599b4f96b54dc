/*
 * ratelimit.h - messages and recipients per minute per client address and
 * per client network (/24, /64): Postfix's anvil limits, done in-line.
 * Connection concurrency and connection rate are smtp/admission.c's.
 *
 * BUCKETS. Each limit is a token bucket of one minute's worth (rate per
 * minute, burst the same), kept as a GCRA "theoretical arrival time" per
 * entry and updated with a CAS, so the workers a client's connections
 * landed on share it without a lock. Every RCPT draws on the recipient
 * buckets of its address and network; the first RCPT of a transaction on
 * the message buckets. A refused draw takes nothing.
 *
 * TABLE. One liburcu cds_lfht (QSBR) shared by the workers, entries (96
 * bytes) preallocated at create on one lock-free free stack: a worker pops
 * inside its read side, which is ABA-safe because entries are pushed back
 * only by call_rcu after a grace period (liburcu lfstack.h). The control
 * thread retires entries whose buckets are full again (rl_age()): nothing
 * is lost by forgetting them. When the pool is empty, draws are allowed
 * (fail open, counted): a flood of distinct networks is the admission
 * layer's to bound.
 *
 * THREADING. rl_take() on worker lcores, online; rl_age/rl_query/rl_reset
 * on the control thread, online; create/destroy at boot/shutdown.
 */
#ifndef MX_POLICY_RATELIMIT_H
#define MX_POLICY_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Per minute; 0 turns a limit off. */
struct rl_limits {
	uint32_t msg_per_ip, rcpt_per_ip;
	uint32_t msg_per_net, rcpt_per_net;
	uint8_t v4_prefix, v6_prefix; /* the network (24, 64) */
};

enum rl_what {
	RL_MSG = 0,
	RL_RCPT = 1,
};

/* Why a draw was refused (0: allowed). */
enum rl_verdict {
	RL_OK = 0,
	RL_OK_FULL, /* allowed unchecked: no free entry */
	RL_REFUSE_IP,
	RL_REFUSE_NET,
};

struct rl_table;

/** Create a table of @max_entries entries. NULL + errno. Boot. */
struct rl_table *rl_create(unsigned max_entries);
/** Free @t (no worker uses it; control thread registered, offline). */
void rl_destroy(struct rl_table *t);

/** Draw one token of @what for client @addr at @now_ns (the worker's
 * clock) under @lim: the address's bucket, then the network's. Worker
 * lcore, online; no lock, no allocation. */
enum rl_verdict rl_take(struct rl_table *t, const struct rl_limits *lim, enum rl_what what,
			int family, const uint8_t *addr, uint64_t now_ns);

/** Charge @n tokens of @what drawn elsewhere (other nodes, through the
 * shared store) to the bucket of @addr/@plen of @rate per minute, at most
 * down to an empty bucket; the entry is inserted if absent. 0 or -ENOSPC.
 * Control thread, online. */
int rl_charge(struct rl_table *t, enum rl_what what, int family, const uint8_t *addr, unsigned plen,
	      uint32_t rate, uint32_t n, uint64_t now_ns);

/** Retire entries whose buckets are full at @now_ns (0: the latest clock a
 * worker passed, carried forward by the caller). Returns how many. Control
 * thread, online. */
size_t rl_age(struct rl_table *t, uint64_t now_ns);
/** The latest worker clock seen (ns). Any thread. */
uint64_t rl_clock(const struct rl_table *t);

/* A client's state for ctl: tokens left now in each bucket (-1: no entry). */
struct rl_state {
	long ip[2], net[2]; /* [RL_MSG], [RL_RCPT] */
};
/** Fill @out for @addr under @lim at @now_ns. Control thread, online. */
void rl_query(struct rl_table *t, const struct rl_limits *lim, int family, const uint8_t *addr,
	      uint64_t now_ns, struct rl_state *out);
/** Forget @addr's entries (its address and its network). Returns how many
 * were retired. Control thread, online. */
int rl_reset(struct rl_table *t, const struct rl_limits *lim, int family, const uint8_t *addr);

/** Entries in use. Any thread. */
size_t rl_entries(const struct rl_table *t);

#endif
