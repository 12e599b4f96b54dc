/*
 * ratelimit.c - per-client message and recipient rates (ratelimit.h).
 */
#include "policy/ratelimit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <urcu-qsbr.h>
#include <urcu/lfstack.h>
#include <urcu/rculfhash.h>

#include "core/log.h"

#define MIN_NS 60000000000ull

struct rl_key {
	uint8_t family; /* 4 or 6 */
	uint8_t plen;
	uint8_t pad[2];
	uint8_t addr[16]; /* masked to plen */
};

struct rl_entry {
	struct cds_lfht_node node;
	struct rl_key key;
	uint32_t dead;
	uint64_t tat[2]; /* GCRA per enum rl_what, ns */
	struct rl_table *t;
	union {
		struct rcu_head rcu;
		struct cds_lfs_node free;
	};
};

struct rl_table {
	struct cds_lfht *ht;
	struct cds_lfs_stack free;
	struct rl_entry *pool;
	unsigned npool;
	uint64_t seed;
	uint64_t clock_ns; /* latest worker clock (relaxed max) */
	size_t used;
};

/* An entry this thread popped and did not publish (a race lost). */
static __thread struct rl_entry *spare;

static void key_make(struct rl_key *k, int family, const uint8_t *addr, unsigned plen)
{
	unsigned alen = family == 6 ? 16 : 4;

	memset(k, 0, sizeof(*k));
	k->family = family == 6 ? 6 : 4;
	if (plen > alen * 8)
		plen = alen * 8;
	k->plen = (uint8_t)plen;
	memcpy(k->addr, addr, plen / 8);
	if (plen % 8)
		k->addr[plen / 8] = addr[plen / 8] & (uint8_t)(0xff00u >> (plen % 8));
}

static unsigned long key_hash(const struct rl_key *k, uint64_t seed)
{
	uint64_t w[3] = {0}, h = seed;

	memcpy(w, k, sizeof(*k));
	for (unsigned i = 0; i < 3; i++) {
		h = (h ^ w[i]) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 31;
		h *= 0xbf58476d1ce4e5b9ull;
		h ^= h >> 27;
	}
	return (unsigned long)h;
}

static int key_match(struct cds_lfht_node *n, const void *key)
{
	const struct rl_entry *e = caa_container_of(n, struct rl_entry, node);

	return !__atomic_load_n(&e->dead, __ATOMIC_ACQUIRE) &&
	       memcmp(&e->key, key, sizeof(e->key)) == 0;
}

struct rl_table *rl_create(unsigned max_entries)
{
	struct rl_table *t;
	unsigned long buckets = 1;

	if (max_entries == 0 || max_entries > (1u << 26)) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->pool = calloc(max_entries, sizeof(*t->pool));
	while (buckets < max_entries)
		buckets <<= 1;
	t->ht = t->pool ? cds_lfht_new(buckets, buckets, buckets, 0, NULL) : NULL;
	if (!t->ht) {
		free(t->pool);
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed))
		t->seed = (uint64_t)(uintptr_t)t;
	cds_lfs_init(&t->free);
	t->npool = max_entries;
	for (unsigned i = max_entries; i-- > 0;) {
		t->pool[i].t = t;
		cds_lfs_node_init(&t->pool[i].free);
		cds_lfs_push(&t->free, &t->pool[i].free);
	}
	return t;
}

void rl_destroy(struct rl_table *t)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	if (!t)
		return;
	if (spare && spare->t == t)
		spare = NULL;
	rcu_barrier();
	rcu_thread_online();
	cds_lfht_for_each(t->ht, &it, n) cds_lfht_del(t->ht, n);
	rcu_thread_offline();
	cds_lfht_destroy(t->ht, NULL);
	free(t->pool);
	free(t);
}

static void entry_free_rcu(struct rcu_head *h)
{
	struct rl_entry *e = caa_container_of(h, struct rl_entry, rcu);

	cds_lfs_node_init(&e->free);
	cds_lfs_push(&e->t->free, &e->free);
}

static struct rl_entry *lookup(struct rl_table *t, const struct rl_key *k)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	cds_lfht_lookup(t->ht, key_hash(k, t->seed), key_match, k, &it);
	n = cds_lfht_iter_get_node(&it);
	return n ? caa_container_of(n, struct rl_entry, node) : NULL;
}

/* The entry of @k, inserted if absent; NULL: pool empty. Read side. */
static struct rl_entry *get(struct rl_table *t, const struct rl_key *k)
{
	struct rl_entry *e = lookup(t, k);
	struct cds_lfs_node *fn;
	struct cds_lfht_node *n;

	if (e)
		return e;
	if (spare && spare->t == t) {
		e = spare;
		spare = NULL;
	} else {
		/* Lock-free pop on the read side: entries come back only after
		 * a grace period, so the head we read cannot be recycled under
		 * us (no ABA). */
		fn = __cds_lfs_pop(&t->free);
		if (!fn)
			return NULL;
		e = caa_container_of(fn, struct rl_entry, free);
	}
	e->key = *k;
	e->dead = 0;
	e->tat[0] = e->tat[1] = 0;
	cds_lfht_node_init(&e->node);
	n = cds_lfht_add_unique(t->ht, key_hash(k, t->seed), key_match, k, &e->node);
	if (n != &e->node) {
		/* Lost a race: ours was never published; kept for this thread's
		 * next insert (pushing it back now would allow ABA on the stack). */
		spare = e;
		return caa_container_of(n, struct rl_entry, node);
	}
	__atomic_add_fetch(&t->used, 1, __ATOMIC_RELAXED);
	return e;
}

/* GCRA: a bucket of @rate per minute, burst @rate. */
static bool gcra(uint64_t *tatp, uint32_t rate, uint64_t now)
{
	uint64_t T = MIN_NS / rate, tau = T * (rate - 1);
	uint64_t tat = __atomic_load_n(tatp, __ATOMIC_RELAXED), next;

	do {
		if (tat > now && tat - now > tau)
			return false;
		next = (tat > now ? tat : now) + T;
	} while (!__atomic_compare_exchange_n(tatp, &tat, next, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return true;
}

/* Give back a token drawn (the network refused after the address took). */
static void ungcra(uint64_t *tatp, uint32_t rate)
{
	__atomic_sub_fetch(tatp, MIN_NS / rate, __ATOMIC_RELAXED);
}

enum rl_verdict rl_take(struct rl_table *t, const struct rl_limits *lim, enum rl_what what,
			int family, const uint8_t *addr, uint64_t now_ns)
{
	uint32_t r_ip = what == RL_MSG ? lim->msg_per_ip : lim->rcpt_per_ip;
	uint32_t r_net = what == RL_MSG ? lim->msg_per_net : lim->rcpt_per_net;
	struct rl_entry *ip = NULL, *net = NULL;
	struct rl_key k;
	uint64_t seen = __atomic_load_n(&t->clock_ns, __ATOMIC_RELAXED);
	bool full = false;

	if (now_ns > seen)
		__atomic_store_n(&t->clock_ns, now_ns, __ATOMIC_RELAXED);
	if (r_ip) {
		key_make(&k, family, addr, family == 6 ? 128 : 32);
		ip = get(t, &k);
		if (!ip)
			full = true;
		else if (!gcra(&ip->tat[what], r_ip, now_ns))
			return RL_REFUSE_IP;
	}
	if (r_net) {
		key_make(&k, family, addr, family == 6 ? lim->v6_prefix : lim->v4_prefix);
		net = get(t, &k);
		if (!net) {
			full = true;
		} else if (!gcra(&net->tat[what], r_net, now_ns)) {
			if (ip)
				ungcra(&ip->tat[what], r_ip);
			return RL_REFUSE_NET;
		}
	}
	return full ? RL_OK_FULL : RL_OK;
}

int rl_charge(struct rl_table *t, enum rl_what what, int family, const uint8_t *addr, unsigned plen,
	      uint32_t rate, uint32_t n, uint64_t now_ns)
{
	struct rl_key k;
	struct rl_entry *e;
	uint64_t T, cap, tat, next;

	if (!rate || !n)
		return 0;
	key_make(&k, family, addr, plen);
	e = get(t, &k);
	if (!e)
		return -ENOSPC;
	T = MIN_NS / rate;
	cap = now_ns + T * rate; /* an empty bucket, no further */
	tat = __atomic_load_n(&e->tat[what], __ATOMIC_RELAXED);
	do {
		next = (tat > now_ns ? tat : now_ns) + T * n;
		if (next > cap)
			next = cap;
		if (next <= tat)
			return 0;
	} while (!__atomic_compare_exchange_n(&e->tat[what], &tat, next, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return 0;
}

uint64_t rl_clock(const struct rl_table *t)
{
	return __atomic_load_n(&t->clock_ns, __ATOMIC_RELAXED);
}

static void retire(struct rl_table *t, struct rl_entry *e)
{
	__atomic_store_n(&e->dead, 1, __ATOMIC_RELEASE);
	if (cds_lfht_del(t->ht, &e->node) != 0)
		return;
	__atomic_sub_fetch(&t->used, 1, __ATOMIC_RELAXED);
	call_rcu(&e->rcu, entry_free_rcu);
}

size_t rl_age(struct rl_table *t, uint64_t now_ns)
{
	struct cds_lfht_iter it;
	struct rl_entry *e;
	size_t n = 0;

	if (!now_ns)
		now_ns = rl_clock(t);
	cds_lfht_for_each_entry(t->ht, &it, e, node)
	{
		if (__atomic_load_n(&e->tat[0], __ATOMIC_RELAXED) <= now_ns &&
		    __atomic_load_n(&e->tat[1], __ATOMIC_RELAXED) <= now_ns) {
			retire(t, e);
			n++;
		}
	}
	return n;
}

/* Tokens left in a bucket of @rate at @now. */
static long left(const struct rl_entry *e, enum rl_what w, uint32_t rate, uint64_t now)
{
	uint64_t tat, T;

	if (!e || !rate)
		return -1;
	tat = __atomic_load_n(&e->tat[w], __ATOMIC_RELAXED);
	T = MIN_NS / rate;
	if (tat <= now)
		return rate;
	return (long)rate - (long)((tat - now + T - 1) / T);
}

void rl_query(struct rl_table *t, const struct rl_limits *lim, int family, const uint8_t *addr,
	      uint64_t now_ns, struct rl_state *out)
{
	struct rl_key k;
	struct rl_entry *ip, *net;

	key_make(&k, family, addr, family == 6 ? 128 : 32);
	ip = lookup(t, &k);
	key_make(&k, family, addr, family == 6 ? lim->v6_prefix : lim->v4_prefix);
	net = lookup(t, &k);
	out->ip[RL_MSG] = left(ip, RL_MSG, lim->msg_per_ip, now_ns);
	out->ip[RL_RCPT] = left(ip, RL_RCPT, lim->rcpt_per_ip, now_ns);
	out->net[RL_MSG] = left(net, RL_MSG, lim->msg_per_net, now_ns);
	out->net[RL_RCPT] = left(net, RL_RCPT, lim->rcpt_per_net, now_ns);
}

int rl_reset(struct rl_table *t, const struct rl_limits *lim, int family, const uint8_t *addr)
{
	struct rl_key k;
	struct rl_entry *e;
	int n = 0;

	key_make(&k, family, addr, family == 6 ? 128 : 32);
	if ((e = lookup(t, &k))) {
		retire(t, e);
		n++;
	}
	key_make(&k, family, addr, family == 6 ? lim->v6_prefix : lim->v4_prefix);
	if ((e = lookup(t, &k))) {
		retire(t, e);
		n++;
	}
	return n;
}

size_t rl_entries(const struct rl_table *t)
{
	return __atomic_load_n(&t->used, __ATOMIC_RELAXED);
}
