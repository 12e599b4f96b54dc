/*
 * admission.c - admission of SMTP connections per client (admission.h).
 *
 * WHERE THE STATE LIVES, AND WHY ONE SHARED TABLE. A flow is pinned to one
 * worker, but one client's flows are spread over every worker (RSS or the
 * software steering hash include the ports). Per-worker tables with each
 * limit divided by the worker count would need no sharing, but they are
 * wrong exactly where it matters: the split of a client's connections over
 * workers is a binomial draw, so with a per-IP limit of 50 on 8 workers
 * (6 each) a sender with 20 connections is refused on whichever worker
 * drew 7, while a flood is not stopped any earlier; the slot reserve needs
 * "has this client another connection anywhere", which no worker knows;
 * and a rate divided by N lets bursts through N times. So the counts live
 * in one liburcu cds_lfht (QSBR flavour, the design's table for policy
 * state): workers look entries up and insert them without locks, and count
 * with atomics on the entry. The only cache line that bounces between
 * workers is the entry of a client that has connections on several of
 * them, i.e. one that is being limited; nobody else shares anything. The
 * table has a fixed bucket count (no resize, so no allocation after boot).
 *
 * ENTRIES. One per client address (/32, /128) and one per network (/24,
 * /64), from a pool allocated at create, on a lock-free stack (cds_lfs).
 * A worker pops one to insert (inside its read side); only the control
 * thread retires entries (smtp_adm_age(): no connection counted, bucket
 * full): it marks the entry dead with a CAS from 0 connections, which makes
 * it invisible to lookups and closes it to increments, removes it and gives
 * it to call_rcu, whose callback pushes it back after the grace period
 * (so a pop racing a push never sees an entry come back: no ABA). A
 * connection holds a pointer to its entries across quiescent states; that
 * is safe because an entry with a non-zero count is never retired.
 *
 * TABLE FULL: FAIL OPEN. When the pool is empty the connection is admitted
 * without a per-client check and counted (table_full). The pool holds two
 * entries per session slot of every worker plus room for idle networks, so
 * it is empty only when more distinct networks than that are in their
 * rate window at once: a distributed flood, against which refusing
 * everyone new (fail closed) would do the attacker's work; the session
 * slots (421 4.3.2) still bound what is held. In the reserve, where the
 * answer depends on knowing the client, a full table refuses.
 *
 * RATE. Per network, GCRA (the virtual-scheduling form of a token bucket
 * of @burst tokens refilled at @rate per second): one 64-bit "theoretical
 * arrival time" per entry, updated with a CAS, so concurrent workers need
 * no lock. Every attempt from the network draws on it, refused or not.
 *
 * Memory: the table, the entry pool and the per-worker tickets are
 * malloc'd at boot and freed at destroy. Worker path: no lock, no
 * syscall, no allocation.
 */
#include "smtp/admission.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <urcu-qsbr.h>
#include <urcu/lfstack.h>
#include <urcu/rculfhash.h>

#include "core/log.h"
#include "core/loop.h"

#define ADM_DEAD	(1u << 31) /* entry retired: no match, no increment */
#define ADM_MAX_WORKERS 128
#define ADM_HOST_MAX	255

enum { ADM_KIND_IP = 1, ADM_KIND_NET = 2 };

struct adm_key {
	uint8_t kind;
	uint8_t family; /* 4 or 6 */
	uint8_t plen;
	uint8_t pad;
	uint8_t addr[16]; /* masked to plen */
};

struct smtp_adm_entry {
	struct cds_lfht_node node;
	struct adm_key key;
	uint32_t conns; /* connections counted here; ADM_DEAD once retired */
	uint64_t tat;	/* GCRA theoretical arrival time, ns (networks) */
	struct smtp_adm *a;
	union {
		struct rcu_head rcu;	  /* retiring */
		struct cds_lfs_node free; /* on the free stack */
	};
};

struct smtp_adm {
	struct cds_lfht *ht;
	struct cds_lfs_stack free;
	struct smtp_adm_entry *pool;
	unsigned npool;
	uint64_t seed;
	uint64_t clock_us; /* latest worker clock seen (relaxed) */
	unsigned entries;  /* in use (atomic) */
	uint64_t aged;	   /* written by the ager only */
	struct mx_loop_timer timer;
	unsigned period_ms;
	uint64_t est_us, seen_us, tick_ms; /* the ager's estimate of the clock */
};

struct smtp_adm_worker {
	struct smtp_adm *a;
	struct smtp_conn_table *conns;
	unsigned worker;
	struct smtp_adm_limits lim;
	char hostname[ADM_HOST_MAX + 1];
	struct smtp_adm_entry *spare; /* popped, not inserted (a race lost) */
	struct smtp_adm_ticket *tickets;
	unsigned nslots;
	struct smtp_adm_counters ctr; /* owner writes (relaxed) */
};

static struct smtp_adm_worker *by_worker[ADM_MAX_WORKERS];
static struct smtp_adm *last_adm;

#define CTR_ADD(w, n, d) __atomic_store_n(&(w)->ctr.n, (w)->ctr.n + (d), __ATOMIC_RELAXED)

/* ---- keys ------------------------------------------------------------------ */

static void key_make(struct adm_key *k, uint8_t kind, const struct smtp_peer *p)
{
	unsigned alen = p->family == 6 ? 16 : 4;
	unsigned plen = kind == ADM_KIND_IP ? alen * 8 : (p->family == 6 ? 64 : 24);

	memset(k, 0, sizeof(*k));
	k->kind = kind;
	k->family = p->family == 6 ? 6 : 4;
	k->plen = (uint8_t)plen;
	memcpy(k->addr, p->addr, plen / 8); /* both prefixes are whole octets */
}

/* Keyed 64-bit mix (seeded per boot: clients cannot aim at one bucket). */
static unsigned long key_hash(const struct adm_key *k, uint64_t seed)
{
	uint64_t w[3], h = seed ^ 0x9e3779b97f4a7c15ull;

	memset(w, 0, sizeof(w));
	memcpy(w, k, sizeof(*k));
	for (unsigned i = 0; i < 3; i++) {
		h ^= w[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 33;
		h *= 0xc4ceb9fe1a85ec53ull;
		h ^= h >> 29;
	}
	return (unsigned long)h;
}

static int key_match(struct cds_lfht_node *node, const void *key)
{
	struct smtp_adm_entry *e = caa_container_of(node, struct smtp_adm_entry, node);

	if (__atomic_load_n(&e->conns, __ATOMIC_ACQUIRE) & ADM_DEAD)
		return 0;
	return memcmp(&e->key, key, sizeof(e->key)) == 0;
}

/* ---- the shared table ------------------------------------------------------ */

struct smtp_adm *smtp_adm_create(unsigned max_entries)
{
	struct smtp_adm *a;
	unsigned long buckets = 1;

	if (max_entries == 0 || max_entries > (1u << 26)) {
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->pool = calloc(max_entries, sizeof(*a->pool));
	while (buckets < max_entries)
		buckets <<= 1;
	/* Fixed size, no CDS_LFHT_AUTO_RESIZE: every bucket now, none later. */
	a->ht = a->pool ? cds_lfht_new(buckets, buckets, buckets, 0, NULL) : NULL;
	if (!a->ht) {
		free(a->pool);
		free(a);
		errno = ENOMEM;
		return NULL;
	}
	if (getrandom(&a->seed, sizeof(a->seed), GRND_NONBLOCK) != (ssize_t)sizeof(a->seed))
		a->seed = (uint64_t)(uintptr_t)a ^ 0x5bd1e995u;
	cds_lfs_init(&a->free);
	a->npool = max_entries;
	for (unsigned i = max_entries; i-- > 0;) {
		a->pool[i].a = a;
		cds_lfht_node_init(&a->pool[i].node);
		cds_lfs_node_init(&a->pool[i].free);
		cds_lfs_push(&a->free, &a->pool[i].free);
	}
	last_adm = a;
	return a;
}

void smtp_adm_destroy(struct smtp_adm *a)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	if (!a)
		return;
	mx_loop_timer_cancel(&a->timer);
	rcu_barrier(); /* retired entries are back on the stack */
	rcu_thread_online();
	cds_lfht_for_each(a->ht, &it, n) cds_lfht_del(a->ht, n);
	rcu_thread_offline();
	if (cds_lfht_destroy(a->ht, NULL) != 0)
		MX_WARN("admission table: not empty at destroy");
	if (last_adm == a)
		last_adm = NULL;
	free(a->pool);
	free(a);
}

/* After the grace period: no reader holds @e any more. The pool outlives
 * this callback (destroy waits with rcu_barrier()). */
static void entry_free_rcu(struct rcu_head *h)
{
	struct smtp_adm_entry *e = caa_container_of(h, struct smtp_adm_entry, rcu);

	cds_lfs_node_init(&e->free);
	cds_lfs_push(&e->a->free, &e->free);
}

/* Can @e be forgotten without changing a later decision? */
static bool entry_idle(const struct smtp_adm_entry *e, uint64_t now_ns)
{
	return __atomic_load_n(&e->conns, __ATOMIC_RELAXED) == 0 &&
	       __atomic_load_n(&e->tat, __ATOMIC_RELAXED) <= now_ns;
}

unsigned smtp_adm_age(struct smtp_adm *a, uint64_t now_us)
{
	struct cds_lfht_iter it;
	struct smtp_adm_entry *e;
	unsigned n = 0;
	uint64_t now_ns;

	if (now_us == 0)
		now_us = __atomic_load_n(&a->clock_us, __ATOMIC_RELAXED);
	now_ns = now_us * 1000;
	cds_lfht_for_each_entry(a->ht, &it, e, node)
	{
		uint32_t zero = 0;

		if (!entry_idle(e, now_ns))
			continue;
		/* 0 -> DEAD: from here no worker matches or counts on @e. */
		if (!__atomic_compare_exchange_n(&e->conns, &zero, ADM_DEAD, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		if (cds_lfht_del(a->ht, &e->node) != 0)
			mx_panic("admission table: a live entry was already removed");
		__atomic_sub_fetch(&a->entries, 1, __ATOMIC_RELAXED);
		call_rcu(&e->rcu, entry_free_rcu);
		n++;
	}
	__atomic_store_n(&a->aged, a->aged + n, __ATOMIC_RELAXED);
	return n;
}

static void ager_tick(struct mx_loop_timer *t, void *arg)
{
	struct smtp_adm *a = arg;
	uint64_t seen = __atomic_load_n(&a->clock_us, __ATOMIC_RELAXED), ms = mx_loop_now_ms();

	/* The workers' clock as of their last admission, carried forward on
	 * the loop's clock while nobody connects (both are monotonic time):
	 * a bucket left empty by the last client fills up and is forgotten. */
	if (seen != a->seen_us)
		a->est_us = a->seen_us = seen;
	else if (a->tick_ms)
		a->est_us += (ms - a->tick_ms) * 1000;
	a->tick_ms = ms;
	rcu_thread_online();
	smtp_adm_age(a, a->est_us ? a->est_us : 1);
	rcu_thread_offline();
	mx_loop_timer_arm(t, a->period_ms);
}

int smtp_adm_ager_start(struct smtp_adm *a, unsigned period_ms)
{
	a->period_ms = period_ms ? period_ms : 1000;
	mx_loop_timer_init(&a->timer, ager_tick, a);
	mx_loop_timer_arm(&a->timer, a->period_ms);
	return 0;
}

unsigned smtp_adm_entries(const struct smtp_adm *a)
{
	return __atomic_load_n(&a->entries, __ATOMIC_RELAXED);
}

uint64_t smtp_adm_aged(const struct smtp_adm *a)
{
	return __atomic_load_n(&a->aged, __ATOMIC_RELAXED);
}

unsigned smtp_adm_counters_entries(void)
{
	return last_adm ? smtp_adm_entries(last_adm) : 0;
}

/* ---- worker side ------------------------------------------------------------- */

/* The live entry for @k, inserted if absent. NULL: the pool is empty.
 * Read side held (QSBR online). */
static struct smtp_adm_entry *entry_get(struct smtp_adm_worker *w, const struct adm_key *k)
{
	struct smtp_adm *a = w->a;
	unsigned long h = key_hash(k, a->seed);
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;
	struct smtp_adm_entry *e;

	cds_lfht_lookup(a->ht, h, key_match, k, &it);
	n = cds_lfht_iter_get_node(&it);
	if (n)
		return caa_container_of(n, struct smtp_adm_entry, node);
	e = w->spare;
	if (e) {
		w->spare = NULL;
	} else {
		/* Safe without a lock: we are on the read side and entries are
		 * pushed back only after a grace period (liburcu lfstack.h). */
		struct cds_lfs_node *fn = __cds_lfs_pop(&a->free);
		if (!fn)
			return NULL;
		e = caa_container_of(fn, struct smtp_adm_entry, free);
	}
	e->key = *k;
	e->conns = 0;
	e->tat = 0;
	cds_lfht_node_init(&e->node);
	n = cds_lfht_add_unique(a->ht, h, key_match, k, &e->node);
	if (n != &e->node) {
		w->spare = e; /* another worker inserted it first: use theirs */
		return caa_container_of(n, struct smtp_adm_entry, node);
	}
	__atomic_add_fetch(&a->entries, 1, __ATOMIC_RELAXED);
	return e;
}

/* Count one more connection on @e unless @limit (0: none) is reached or,
 * @only_first, @e already has one. Returns 1 counted, 0 refused, -1 @e
 * was retired meanwhile (look it up again). */
static int entry_take(struct smtp_adm_entry *e, uint32_t limit, bool only_first)
{
	uint32_t old = __atomic_load_n(&e->conns, __ATOMIC_RELAXED);

	do {
		if (old & ADM_DEAD)
			return -1;
		if ((limit && old >= limit) || (only_first && old > 0))
			return 0;
	} while (!__atomic_compare_exchange_n(&e->conns, &old, old + 1, true, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	return 1;
}

static void entry_put(struct smtp_adm_entry *e)
{
	if (e && (__atomic_sub_fetch(&e->conns, 1, __ATOMIC_RELEASE) & ADM_DEAD))
		mx_panic("admission: released a connection that was not counted");
}

/* GCRA: one more connection from the network at @now_ns? */
static bool rate_take(struct smtp_adm_entry *e, const struct smtp_adm_limits *lim, uint64_t now_ns)
{
	uint64_t T = 1000000000ull / lim->rate_per_net;
	uint64_t burst = lim->burst_per_net ? lim->burst_per_net : 1;
	uint64_t tau = T * (burst - 1);
	uint64_t tat = __atomic_load_n(&e->tat, __ATOMIC_RELAXED), next;

	do {
		uint64_t base = tat > now_ns ? tat : now_ns;

		if (tat > now_ns && tat - now_ns > tau)
			return false;
		next = base + T;
	} while (!__atomic_compare_exchange_n(&e->tat, &tat, next, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return true;
}

/* The live entry for @k with one more connection counted (see entry_take).
 * *@got: 1 counted, 0 refused by the limit, -1 no entry (pool empty). */
static struct smtp_adm_entry *take_key(struct smtp_adm_worker *w, const struct adm_key *k,
				       uint32_t limit, bool only_first, int *got)
{
	for (unsigned tries = 0; tries < 4; tries++) {
		struct smtp_adm_entry *e = entry_get(w, k);

		if (!e)
			break;
		*got = entry_take(e, limit, only_first);
		if (*got >= 0)
			return e;
	}
	*got = -1;
	return NULL;
}

enum smtp_adm_verdict smtp_adm_admit(struct smtp_adm_worker *w, const struct smtp_peer *peer,
				     unsigned free_slots, unsigned slots, uint64_t now_us,
				     struct smtp_adm_ticket *t)
{
	const struct smtp_adm_limits *lim = &w->lim;
	bool reserve =
		lim->reserve_pct && (uint64_t)free_slots * 100 < (uint64_t)slots * lim->reserve_pct;
	struct adm_key k;
	int got;

	t->ip = t->net = NULL;
	__atomic_store_n(&w->a->clock_us, now_us, __ATOMIC_RELAXED);
	if (lim->max_conn_per_net || lim->rate_per_net) {
		key_make(&k, ADM_KIND_NET, peer);
		t->net = take_key(w, &k, lim->max_conn_per_net, false, &got);
		if (got < 0) {
			CTR_ADD(w, table_full, 1);
		} else if (lim->rate_per_net && !rate_take(t->net, lim, now_us * 1000)) {
			if (got == 1)
				entry_put(t->net);
			t->net = NULL;
			CTR_ADD(w, refused_rate, 1);
			return SMTP_ADM_REFUSE_RATE;
		} else if (got == 0) {
			t->net = NULL;
			CTR_ADD(w, refused_net, 1);
			return SMTP_ADM_REFUSE_NET;
		}
	}
	/* With a reserve configured every connection is counted on its
	 * address, so that the reserve knows who has one already. */
	if (lim->max_conn_per_ip || lim->reserve_pct) {
		key_make(&k, ADM_KIND_IP, peer);
		t->ip = take_key(w, &k, lim->max_conn_per_ip, reserve, &got);
		if (got <= 0) {
			enum smtp_adm_verdict v = SMTP_ADM_REFUSE_IP;

			if (got < 0)
				CTR_ADD(w, table_full, 1);
			if (got < 0 && !reserve)
				goto admitted; /* fail open */
			/* The reserve refuses what it cannot vouch for. */
			if (reserve && (got < 0 || !lim->max_conn_per_ip ||
					__atomic_load_n(&t->ip->conns, __ATOMIC_RELAXED) <
						lim->max_conn_per_ip))
				v = SMTP_ADM_REFUSE_RESERVE;
			t->ip = NULL;
			entry_put(t->net);
			t->net = NULL;
			if (v == SMTP_ADM_REFUSE_IP)
				CTR_ADD(w, refused_ip, 1);
			else
				CTR_ADD(w, refused_reserve, 1);
			return v;
		}
	}
admitted:
	if (t->ip || t->net)
		CTR_ADD(w, conns, 1);
	CTR_ADD(w, admitted, 1);
	return SMTP_ADM_OK;
}

void smtp_adm_release(struct smtp_adm_worker *w, struct smtp_adm_ticket *t)
{
	bool held = t->ip || t->net;

	entry_put(t->ip);
	entry_put(t->net);
	t->ip = t->net = NULL;
	if (held && w->ctr.conns)
		CTR_ADD(w, conns, -1);
}

struct smtp_adm_worker *smtp_adm_worker_create(struct smtp_adm *a, unsigned worker, unsigned slots,
					       struct smtp_conn_table *conns)
{
	struct smtp_adm_worker *w;

	if (!a || slots == 0) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->tickets = calloc(slots, sizeof(*w->tickets));
	if (!w->tickets) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	w->a = a;
	w->conns = conns;
	w->worker = worker;
	w->nslots = slots;
	snprintf(w->hostname, sizeof(w->hostname), "localhost");
	if (worker < ADM_MAX_WORKERS)
		by_worker[worker] = w;
	return w;
}

void smtp_adm_worker_destroy(struct smtp_adm_worker *w)
{
	if (!w)
		return;
	if (w->worker < ADM_MAX_WORKERS && by_worker[w->worker] == w)
		by_worker[w->worker] = NULL;
	/* A spare entry was never published: straight back to the pool. */
	if (w->spare)
		cds_lfs_push(&w->a->free, &w->spare->free);
	free(w->tickets);
	free(w);
}

void smtp_adm_worker_set(struct smtp_adm_worker *w, const struct smtp_adm_limits *lim,
			 const char *hostname)
{
	w->lim = *lim;
	if (w->lim.rate_per_net > 1000000000u)
		w->lim.rate_per_net = 1000000000u;
	if (w->lim.reserve_pct > 100)
		w->lim.reserve_pct = 100;
	if (hostname && hostname[0])
		snprintf(w->hostname, sizeof(w->hostname), "%s", hostname);
}

struct smtp_conn_table *smtp_adm_worker_conns(const struct smtp_adm_worker *w)
{
	return w->conns;
}

void smtp_adm_bind(struct smtp_adm_worker *w, uint32_t slot, struct smtp_adm_ticket *t)
{
	if (slot >= w->nslots) {
		smtp_adm_release(w, t);
		return;
	}
	smtp_adm_release(w, &w->tickets[slot]);
	w->tickets[slot] = *t;
	t->ip = t->net = NULL;
}

void smtp_adm_unbind(void *arg, uint32_t slot)
{
	struct smtp_adm_worker *w = arg;

	if (w && slot < w->nslots)
		smtp_adm_release(w, &w->tickets[slot]);
}

size_t smtp_adm_reply(const struct smtp_adm_worker *w, const struct smtp_peer *peer, char *buf,
		      size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	int n;

	if (!inet_ntop(peer->family == 6 ? AF_INET6 : AF_INET, peer->addr, ip, sizeof(ip)))
		snprintf(ip, sizeof(ip), "unknown");
	/* Postfix smtpd/anvil's text, which operators grep their logs for. */
	n = snprintf(buf, len, "421 4.7.0 %s Error: too many connections from %s\r\n", w->hostname,
		     ip);
	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

void smtp_adm_worker_counters(const struct smtp_adm_worker *w, struct smtp_adm_counters *out)
{
	const struct smtp_adm_counters *in = &w->ctr;

	SMTP_ADM_COUNTERS(MX_CTR_X_LOAD)
}

void smtp_adm_counters_read(unsigned worker, struct smtp_adm_counters *out)
{
	struct smtp_adm_worker *w = worker < ADM_MAX_WORKERS
					    ? __atomic_load_n(&by_worker[worker], __ATOMIC_ACQUIRE)
					    : NULL;

	memset(out, 0, sizeof(*out));
	if (w)
		smtp_adm_worker_counters(w, out);
}
