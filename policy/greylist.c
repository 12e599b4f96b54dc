/*
 * greylist.c - the greylist table (greylist.h): keys, the rules, the
 * per-worker entry pools and the control thread's ager.
 *
 * RACES, AND WHY THEY ARE HARMLESS. Two workers inserting the same key:
 * cds_lfht_add_unique() keeps one, the loser puts its entry back on its
 * own free list (never published). Two workers passing the same key: both
 * pass (the state is set with an atomic OR, the network counted once per
 * worker that saw the unpassed state: at worst one extra count). A worker
 * refreshing an entry the ager is retiring: the refresh is lost and the
 * key starts over, which can only happen to an entry at the very end of
 * its life. Entry fields are 32-bit words written with relaxed atomics.
 */
#include "policy/greylist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <urcu-qsbr.h>
#include <urcu/lfstack.h>
#include <urcu/rculfhash.h>

#include "core/log.h"

#define ST_PASSED (1u << 31)
#define ST_DEAD	  (1u << 30)
#define ST_COUNT  0x3fffffffu
#define CTL_POOL  1024 /* entries of the control thread (ctl inserts) */

struct grey_pool;

struct grey_entry {
	struct cds_lfht_node node;
	uint64_t h[2];
	uint32_t first, last;
	uint32_t state; /* ST_PASSED | ST_DEAD | awl pass count */
	uint8_t kind;
	uint8_t shared_hour; /* hour tag of the last shared-store refresh (0: none) */
	uint8_t pad[2];
	union {
		struct rcu_head rcu;	 /* retiring */
		struct cds_lfs_node lfs; /* on the owner's return stack */
		struct grey_entry *next; /* on the owner's free list */
	};
	struct grey_pool *pool; /* owner */
	char text[GREY_TEXT_MAX];
};

struct grey_pool {
	struct grey_entry *base;
	size_t n, bump;		  /* base[bump..n) never used */
	struct grey_entry *free;  /* owner only */
	struct cds_lfs_stack ret; /* pushed after a grace period, popped all by the owner */
	struct grey_counters ctr; /* owner writes */
} __attribute__((aligned(64)));

struct grey_table {
	struct cds_lfht *ht;
	struct grey_entry *entries;
	struct grey_pool *pools; /* nworkers + 1 (the control thread's) */
	unsigned nworkers;
	size_t cap;
	struct grey_conf conf; /* fields written relaxed by the control thread */
	uint64_t k0[2], k1[2]; /* SipHash keys of h[0] and h[1] */
	uint32_t now;
	size_t used;
	uint64_t retired, evicted;
	unsigned restore_rr;
	void *snap; /* grey_snap.c's state */
};

_Static_assert(sizeof(struct grey_entry) == 128, "greylist entry is 128 bytes");

#define LD(p)	   __atomic_load_n(p, __ATOMIC_RELAXED)
#define ST(p, v)   __atomic_store_n(p, v, __ATOMIC_RELAXED)
#define CTR(pl, n) ST(&(pl)->ctr.n, (pl)->ctr.n + 1)

/* ---- SipHash-2-4 ------------------------------------------------------------ */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                          \
	do {                                                              \
		v0 += v1, v1 = ROTL(v1, 13), v1 ^= v0, v0 = ROTL(v0, 32); \
		v2 += v3, v3 = ROTL(v3, 16), v3 ^= v2;                    \
		v0 += v3, v3 = ROTL(v3, 21), v3 ^= v0;                    \
		v2 += v1, v1 = ROTL(v1, 17), v1 ^= v2, v2 = ROTL(v2, 32); \
	} while (0)

static uint64_t siphash(const uint64_t k[2], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t v0 = k[0] ^ 0x736f6d6570736575ull, v1 = k[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = k[0] ^ 0x6c7967656e657261ull, v3 = k[1] ^ 0x7465646279746573ull;
	uint64_t m, b = (uint64_t)len << 56;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&m, p + i, 8); /* little-endian hosts (x86-64, arm64) */
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static void digest(const struct grey_table *g, const char *text, size_t len, uint64_t h[2])
{
	h[0] = siphash(g->k0, text, len);
	h[1] = siphash(g->k1, text, len);
}

void grey_seed(const struct grey_table *g, uint8_t out[16])
{
	memcpy(out, g->k0, 16);
}

void grey_set_seed(struct grey_table *g, const uint8_t in[16])
{
	memcpy(g->k0, in, 16);
	g->k1[0] = g->k0[0] ^ 0x9e3779b97f4a7c15ull;
	g->k1[1] = g->k0[1] ^ 0xc2b2ae3d27d4eb4full;
}

/* ---- keys ------------------------------------------------------------------- */

static size_t put_lower(char *dst, size_t room, const char *s)
{
	size_t n = 0;

	for (; s && *s && n + 1 < room; s++, n++)
		dst[n] = (*s >= 'A' && *s <= 'Z') ? (char)(*s + 32) : *s;
	return n;
}

/* "198.18.0.0/24" or "2001:db8::/64" of the client. */
static size_t net_text(const struct grey_table *g, const struct grey_query *q, char *buf,
		       size_t len)
{
	uint8_t a[16] = {0};
	unsigned plen = q->family == 6 ? LD(&g->conf.v6_prefix) : LD(&g->conf.v4_prefix);
	unsigned alen = q->family == 6 ? 16 : 4;
	char ip[INET6_ADDRSTRLEN];
	int n;

	if (plen > alen * 8)
		plen = alen * 8;
	memcpy(a, q->addr, plen / 8);
	if (plen % 8)
		a[plen / 8] = q->addr[plen / 8] & (uint8_t)(0xff00u >> (plen % 8));
	if (!inet_ntop(q->family == 6 ? AF_INET6 : AF_INET, a, ip, sizeof(ip)))
		return 0;
	n = snprintf(buf, len, "%s/%u", ip, plen);
	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

int grey_key_text(const struct grey_table *g, const struct grey_query *q, char *buf, size_t len)
{
	size_t n;

	if (len < 64)
		return -ENAMETOOLONG;
	if (q->spf_domain && q->spf_domain[0]) {
		memcpy(buf, "spf:", 4);
		n = 4 + put_lower(buf + 4, len - 4, q->spf_domain);
	} else {
		n = net_text(g, q, buf, len);
	}
	if (n + 3 >= len)
		return -ENAMETOOLONG;
	buf[n++] = ' ';
	if (!q->sender || !q->sender[0]) {
		buf[n++] = '<';
		buf[n++] = '>';
		n += put_lower(buf + n, len - n, q->helo);
	} else {
		n += put_lower(buf + n, len - n, q->sender);
	}
	if (n + 2 >= len)
		return -ENAMETOOLONG;
	buf[n++] = ' ';
	n += put_lower(buf + n, len - n, q->rcpt);
	if (n + 1 >= len)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return (int)n;
}

static int match(struct cds_lfht_node *node, const void *key)
{
	const struct grey_entry *e = caa_container_of(node, struct grey_entry, node);
	const uint64_t *h = key;

	return e->h[0] == h[0] && e->h[1] == h[1] && !(LD(&e->state) & ST_DEAD);
}

static struct grey_entry *lookup(struct grey_table *g, const uint64_t h[2])
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	cds_lfht_lookup(g->ht, (unsigned long)h[0], match, h, &it);
	n = cds_lfht_iter_get_node(&it);
	return n ? caa_container_of(n, struct grey_entry, node) : NULL;
}

/* ---- pools ------------------------------------------------------------------- */

static struct grey_entry *pool_get(struct grey_pool *p)
{
	struct grey_entry *e = p->free;

	if (!e && p->bump < p->n) {
		e = &p->base[p->bump++];
		e->pool = p;
		return e;
	}
	if (!e) {
		/* Only the owner pops, and it takes everything: no ABA. */
		struct cds_lfs_head *head = __cds_lfs_pop_all(&p->ret);
		struct cds_lfs_node *n, *tmp;

		if (!head)
			return NULL;
		cds_lfs_for_each_safe(head, n, tmp)
		{
			struct grey_entry *r = caa_container_of(n, struct grey_entry, lfs);
			r->next = p->free;
			p->free = r;
		}
		e = p->free;
	}
	p->free = e->next;
	return e;
}

static void pool_put(struct grey_pool *p, struct grey_entry *e)
{
	e->next = p->free;
	p->free = e;
}

static void entry_return_rcu(struct rcu_head *h)
{
	struct grey_entry *e = caa_container_of(h, struct grey_entry, rcu);

	cds_lfs_node_init(&e->lfs);
	cds_lfs_push(&e->pool->ret, &e->lfs);
}

/* Insert a new entry for @h from @p, or return the one already there
 * (*@fresh false). NULL: @p is empty. Read side. */
static struct grey_entry *insert(struct grey_table *g, struct grey_pool *p, const uint64_t h[2],
				 uint8_t kind, const char *text, uint32_t first, uint32_t last,
				 uint32_t state, bool *fresh)
{
	struct grey_entry *e = pool_get(p);
	struct cds_lfht_node *n;

	*fresh = false;
	if (!e)
		return NULL;
	e->h[0] = h[0];
	e->h[1] = h[1];
	e->first = first;
	e->last = last;
	e->state = state;
	e->kind = kind;
	e->shared_hour = 0;
	snprintf(e->text, sizeof(e->text), "%s", text);
	cds_lfht_node_init(&e->node);
	n = cds_lfht_add_unique(g->ht, (unsigned long)h[0], match, h, &e->node);
	if (n != &e->node) {
		pool_put(p, e);
		return caa_container_of(n, struct grey_entry, node);
	}
	__atomic_add_fetch(&g->used, 1, __ATOMIC_RELAXED);
	*fresh = true;
	return e;
}

/* ---- create / conf ------------------------------------------------------------ */

struct grey_table *grey_create(const struct grey_conf *conf, unsigned nworkers)
{
	struct grey_table *g;
	unsigned long buckets = 1;
	size_t per, total, off = 0;

	if (!conf || nworkers == 0 || nworkers > 1024 || conf->max_entries == 0 ||
	    conf->max_entries > (1u << 28)) {
		errno = EINVAL;
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	per = (conf->max_entries + nworkers - 1) / nworkers;
	total = per * nworkers + CTL_POOL;
	/* calloc of this size is fresh mmap'd memory: pages are touched only
	 * when an entry is first used. */
	g->entries = calloc(total, sizeof(*g->entries));
	g->pools = calloc(nworkers + 1, sizeof(*g->pools));
	while (buckets < conf->max_entries)
		buckets <<= 1;
	/* Fixed bucket count: no resize, nothing allocated after create. */
	g->ht = g->entries && g->pools ? cds_lfht_new(buckets, buckets, buckets, 0, NULL) : NULL;
	if (!g->ht) {
		free(g->entries);
		free(g->pools);
		free(g);
		errno = ENOMEM;
		return NULL;
	}
	for (unsigned i = 0; i <= nworkers; i++) {
		struct grey_pool *p = &g->pools[i];

		p->base = g->entries + off;
		p->n = i < nworkers ? per : CTL_POOL;
		off += p->n;
		cds_lfs_init(&p->ret);
	}
	g->nworkers = nworkers;
	g->cap = conf->max_entries;
	g->conf = *conf;
	{
		uint8_t seed[16];
		if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
			uint64_t x = (uint64_t)(uintptr_t)g ^ 0x5bd1e9955bd1e995ull;
			memcpy(seed, &x, 8);
			memcpy(seed + 8, &x, 8);
		}
		grey_set_seed(g, seed);
	}
	return g;
}

void grey_destroy(struct grey_table *g)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	if (!g)
		return;
	grey_snapshot_wait(g);
	rcu_barrier();
	rcu_thread_online();
	cds_lfht_for_each(g->ht, &it, n) cds_lfht_del(g->ht, n);
	rcu_thread_offline();
	if (cds_lfht_destroy(g->ht, NULL) != 0)
		MX_WARN("greylist: table not empty at destroy");
	free(g->entries);
	free(g->pools);
	free(g->snap);
	free(g);
}

void grey_set_conf(struct grey_table *g, const struct grey_conf *c)
{
	ST(&g->conf.delay_s, c->delay_s);
	ST(&g->conf.window_s, c->window_s);
	ST(&g->conf.max_age_s, c->max_age_s);
	ST(&g->conf.awl_passes, c->awl_passes);
	ST(&g->conf.v4_prefix, c->v4_prefix);
	ST(&g->conf.v6_prefix, c->v6_prefix);
}

uint32_t grey_now(const struct grey_table *g)
{
	return LD(&g->now);
}

void grey_set_now(struct grey_table *g, uint32_t now)
{
	ST(&g->now, now);
}

/* ---- the rules ---------------------------------------------------------------- */

static uint32_t since(uint32_t now, uint32_t t)
{
	return now > t ? now - t : 0;
}

/* Count a pass on the client's network (auto-whitelist). */
static void awl_count(struct grey_table *g, struct grey_pool *p, const char *awl_text,
		      const uint64_t h[2], uint32_t now, uint32_t need)
{
	bool fresh;
	struct grey_entry *e = lookup(g, h);
	uint32_t st;

	if (!e) {
		e = insert(g, p, h, GREY_KIND_AWL, awl_text, now, now, 1, &fresh);
		if (!e || fresh) {
			if (e && need <= 1)
				__atomic_or_fetch(&e->state, ST_PASSED, __ATOMIC_RELAXED);
			return;
		}
	}
	st = __atomic_add_fetch(&e->state, 1, __ATOMIC_RELAXED);
	if ((st & ST_COUNT) >= need)
		__atomic_or_fetch(&e->state, ST_PASSED, __ATOMIC_RELAXED);
	ST(&e->last, now);
}

/* 1..255, changing every hour: a passed key's TTL in the shared store is
 * refreshed at its first use in each hour (per node), not at every RCPT. */
static uint8_t hour_tag(uint32_t now)
{
	return (uint8_t)(now / 3600 % 255 + 1);
}

void grey_check(struct grey_table *g, unsigned worker, const struct grey_query *q, uint32_t now,
		struct grey_result *r)
{
	struct grey_pool *p = &g->pools[worker < g->nworkers ? worker : g->nworkers];
	uint32_t delay = LD(&g->conf.delay_s), window = LD(&g->conf.window_s);
	uint32_t max_age = LD(&g->conf.max_age_s), need = LD(&g->conf.awl_passes);
	char key[GREY_KEY_MAX], awl[80];
	uint64_t h[2], ha[2];
	struct grey_entry *e;
	size_t nlen;
	int klen;
	bool fresh;
	uint32_t st;

	r->wait_s = 0;
	r->share_refresh = false;
	if (need) {
		memcpy(awl, "awl ", 4);
		nlen = net_text(g, q, awl + 4, sizeof(awl) - 4);
		digest(g, awl, 4 + nlen, ha);
		e = lookup(g, ha);
		if (e && (LD(&e->state) & ST_PASSED) && since(now, LD(&e->last)) <= max_age) {
			if (LD(&e->last) != now)
				ST(&e->last, now);
			r->verdict = GREY_PASS_AWL;
			CTR(p, pass_awl);
			return;
		}
	}
	klen = grey_key_text(g, q, key, sizeof(key));
	if (klen < 0)
		klen = (int)strnlen(key, sizeof(key) - 1); /* absurdly long: cut */
	digest(g, key, (size_t)klen, h);
	e = lookup(g, h);
	if (!e) {
		e = insert(g, p, h, GREY_KIND_TRIPLET, key, now, now, 0, &fresh);
		if (!e) {
			r->verdict = GREY_PASS_FULL;
			CTR(p, pass_full);
			return;
		}
		if (fresh) {
			r->verdict = GREY_DEFER_NEW;
			r->wait_s = delay;
			CTR(p, defer_new);
			return;
		}
	}
	st = LD(&e->state);
	if (st & ST_PASSED) {
		if (since(now, LD(&e->last)) <= max_age) {
			if (LD(&e->last) != now)
				ST(&e->last, now);
			r->verdict = GREY_PASS_KNOWN;
			if (LD(&e->shared_hour) != hour_tag(now)) {
				ST(&e->shared_hour, hour_tag(now));
				r->share_refresh = true;
			}
			CTR(p, pass_known);
			return;
		}
		/* Expired, not aged out yet: a new key. */
		__atomic_and_fetch(&e->state, ~ST_PASSED, __ATOMIC_RELAXED);
		ST(&e->first, now);
		ST(&e->last, now);
		r->verdict = GREY_DEFER_NEW;
		r->wait_s = delay;
		CTR(p, defer_new);
		return;
	}
	ST(&e->last, now);
	if (since(now, LD(&e->first)) < delay) {
		r->verdict = GREY_DEFER_EARLY;
		r->wait_s = delay - since(now, LD(&e->first));
		CTR(p, defer_early);
		return;
	}
	if (since(now, LD(&e->first)) > window) {
		ST(&e->first, now); /* too late: start over */
		r->verdict = GREY_DEFER_NEW;
		r->wait_s = delay;
		CTR(p, defer_new);
		return;
	}
	st = __atomic_fetch_or(&e->state, ST_PASSED, __ATOMIC_RELAXED);
	ST(&e->shared_hour, hour_tag(now)); /* the pass is written with its TTL */
	r->verdict = GREY_PASS_RETRY;
	CTR(p, pass_retry);
	if (need && !(st & ST_PASSED))
		awl_count(g, p, awl, ha, now, need);
}

void grey_count_whitelisted(struct grey_table *g, unsigned worker)
{
	struct grey_pool *p = &g->pools[worker < g->nworkers ? worker : g->nworkers];

	CTR(p, pass_whitelist);
}

/* ---- the ager (control thread) -------------------------------------------------- */

static void retire(struct grey_table *g, struct grey_entry *e)
{
	__atomic_or_fetch(&e->state, ST_DEAD, __ATOMIC_RELAXED);
	if (cds_lfht_del(g->ht, &e->node) != 0)
		return; /* already removed */
	__atomic_sub_fetch(&g->used, 1, __ATOMIC_RELAXED);
	ST(&g->retired, g->retired + 1);
	call_rcu(&e->rcu, entry_return_rcu);
}

/* Whether @e can no longer change a decision at @now. */
static bool expired(const struct grey_table *g, const struct grey_entry *e, uint32_t now)
{
	uint32_t st = LD(&e->state);

	if (e->kind == GREY_KIND_TRIPLET && !(st & ST_PASSED))
		return since(now, LD(&e->first)) > LD(&g->conf.window_s);
	return since(now, LD(&e->last)) > LD(&g->conf.max_age_s);
}

#define AGE_BUCKETS 256

size_t grey_age(struct grey_table *g, uint32_t now)
{
	struct cds_lfht_iter it;
	struct grey_entry *e;
	size_t n = 0, high = g->cap - g->cap / 10, low = g->cap - g->cap / 5;
	size_t hist_u[AGE_BUCKETS] = {0}, hist_p[AGE_BUCKETS] = {0}, tot_u = 0, need, acc;
	uint32_t wu = LD(&g->conf.window_s) / AGE_BUCKETS + 1;
	uint32_t wp = LD(&g->conf.max_age_s) / AGE_BUCKETS + 1;
	uint32_t cut_u = UINT32_MAX, cut_p = UINT32_MAX;

	cds_lfht_for_each_entry(g->ht, &it, e, node)
	{
		bool unpassed = e->kind == GREY_KIND_TRIPLET && !(LD(&e->state) & ST_PASSED);

		if (expired(g, e, now)) {
			retire(g, e);
			n++;
		} else if (unpassed) {
			uint32_t b = since(now, LD(&e->first)) / wu;
			hist_u[b < AGE_BUCKETS ? b : AGE_BUCKETS - 1]++;
			tot_u++;
		} else {
			uint32_t b = since(now, LD(&e->last)) / wp;
			hist_p[b < AGE_BUCKETS ? b : AGE_BUCKETS - 1]++;
		}
	}
	if (grey_entries(g) <= high)
		return n;
	/* Down to 80%: the oldest unpassed keys first (whole age buckets). */
	need = grey_entries(g) - low;
	acc = 0;
	for (int b = AGE_BUCKETS - 1; b >= 0 && acc < need; b--) {
		acc += hist_u[b];
		cut_u = (uint32_t)b * wu;
	}
	if (acc < need) {
		cut_u = 0; /* every unpassed key, then the passed ones */
		for (int b = AGE_BUCKETS - 1; b >= 0 && acc < need; b--) {
			acc += hist_p[b];
			cut_p = (uint32_t)b * wp;
		}
	}
	(void)tot_u;
	cds_lfht_for_each_entry(g->ht, &it, e, node)
	{
		bool unpassed = e->kind == GREY_KIND_TRIPLET && !(LD(&e->state) & ST_PASSED);
		bool out = unpassed ? since(now, LD(&e->first)) >= cut_u
				    : since(now, LD(&e->last)) >= cut_p;

		if (out) {
			retire(g, e);
			ST(&g->evicted, g->evicted + 1);
			n++;
		}
	}
	if (grey_entries(g) > high)
		MX_WARN("greylist: %zu entries after eviction (bound %zu)", grey_entries(g),
			g->cap);
	return n;
}

/* ---- control thread: ctl, snapshot ------------------------------------------------- */

static void info_of(const struct grey_entry *e, struct grey_info *o)
{
	uint32_t st = LD(&e->state);

	o->kind = e->kind;
	o->passed = st & ST_PASSED;
	o->first = LD(&e->first);
	o->last = LD(&e->last);
	o->passes = st & ST_COUNT;
	o->h[0] = e->h[0];
	o->h[1] = e->h[1];
	memcpy(o->text, e->text, sizeof(o->text));
	o->text[sizeof(o->text) - 1] = '\0';
}

size_t grey_walk(struct grey_table *g, grey_walk_fn fn, void *arg)
{
	struct cds_lfht_iter it;
	struct grey_entry *e;
	size_t n = 0;

	cds_lfht_for_each_entry(g->ht, &it, e, node)
	{
		struct grey_info o;

		if (LD(&e->state) & ST_DEAD)
			continue;
		info_of(e, &o);
		n++;
		if (fn(arg, &o))
			break;
	}
	return n;
}

/* The digest of a ctl key: "#" + 32 hex digits, or the key text. */
static int key_of(const struct grey_table *g, const char *text, uint64_t h[2], bool *by_digest)
{
	*by_digest = text[0] == '#';
	if (*by_digest) {
		char a[17], b[17];
		char *end;
		if (strlen(text) != 33)
			return -EINVAL;
		memcpy(a, text + 1, 16);
		memcpy(b, text + 17, 16);
		a[16] = b[16] = '\0';
		h[0] = strtoull(a, &end, 16);
		if (*end)
			return -EINVAL;
		h[1] = strtoull(b, &end, 16);
		return *end ? -EINVAL : 0;
	}
	if (!text[0])
		return -EINVAL;
	digest(g, text, strlen(text), h);
	return 0;
}

int grey_pass_key(struct grey_table *g, const char *text, uint32_t now)
{
	uint64_t h[2];
	bool dig, fresh;
	struct grey_entry *e;
	int rc = key_of(g, text, h, &dig);

	if (rc)
		return rc;
	e = lookup(g, h);
	if (!e && dig)
		return -ENOENT;
	if (!e) {
		bool awl = strncmp(text, "awl ", 4) == 0;
		e = insert(g, &g->pools[g->nworkers], h, awl ? GREY_KIND_AWL : GREY_KIND_TRIPLET,
			   text, now, now, ST_PASSED | (awl ? LD(&g->conf.awl_passes) : 0), &fresh);
		return e ? 0 : -ENOSPC;
	}
	__atomic_or_fetch(&e->state, ST_PASSED, __ATOMIC_RELAXED);
	ST(&e->last, now);
	return 0;
}

int grey_merge_key(struct grey_table *g, const char *text, uint32_t first, bool passed,
		   uint32_t now)
{
	uint64_t h[2];
	bool dig, fresh;
	struct grey_entry *e;
	int rc = key_of(g, text, h, &dig);

	if (rc || dig || strncmp(text, "awl ", 4) == 0)
		return rc ? rc : -EINVAL;
	e = lookup(g, h);
	if (!e) {
		e = insert(g, &g->pools[g->nworkers], h, GREY_KIND_TRIPLET, text, first,
			   passed ? now : first, passed ? ST_PASSED : 0, &fresh);
		return e ? 0 : -ENOSPC;
	}
	if (passed) {
		__atomic_or_fetch(&e->state, ST_PASSED, __ATOMIC_RELAXED);
		ST(&e->last, now);
	} else if (!(LD(&e->state) & ST_PASSED) && first < LD(&e->first)) {
		ST(&e->first, first);
	}
	return 0;
}

void grey_count_undo(struct grey_table *g, unsigned worker, enum grey_verdict v)
{
	struct grey_pool *p = &g->pools[worker < g->nworkers ? worker : g->nworkers];
	uint64_t *c = v == GREY_DEFER_NEW     ? &p->ctr.defer_new
		      : v == GREY_DEFER_EARLY ? &p->ctr.defer_early
					      : NULL;

	if (c && *c)
		ST(c, *c - 1);
}

int grey_delete_key(struct grey_table *g, const char *text)
{
	uint64_t h[2];
	bool dig;
	struct grey_entry *e;
	int rc = key_of(g, text, h, &dig);

	if (rc)
		return rc;
	e = lookup(g, h);
	if (!e)
		return -ENOENT;
	retire(g, e);
	return 0;
}

int grey_restore(struct grey_table *g, const struct grey_info *in)
{
	bool fresh = false;
	struct grey_entry *e = NULL;
	uint32_t st = (in->passed ? ST_PASSED : 0) | (in->passes & ST_COUNT);

	if (lookup(g, in->h))
		return -EEXIST;
	/* Boot: the workers do not run, so their free lists are ours. */
	for (unsigned i = 0; i <= g->nworkers && !e; i++) {
		struct grey_pool *p = &g->pools[g->restore_rr++ % (g->nworkers + 1)];
		if (p == &g->pools[g->nworkers])
			continue; /* keep the control pool for ctl */
		e = insert(g, p, in->h, in->kind, in->text, in->first, in->last, st, &fresh);
	}
	if (!e)
		return -ENOSPC;
	return fresh ? 0 : -EEXIST;
}

bool grey_info_expired(const struct grey_table *g, const struct grey_info *e, uint32_t now)
{
	if (e->kind == GREY_KIND_TRIPLET && !e->passed)
		return since(now, e->first) > LD(&g->conf.window_s);
	return since(now, e->last) > LD(&g->conf.max_age_s);
}

size_t grey_entries(const struct grey_table *g)
{
	return LD(&g->used);
}

size_t grey_capacity(const struct grey_table *g)
{
	return g->cap;
}

uint64_t grey_retired(const struct grey_table *g, uint64_t *evicted)
{
	if (evicted)
		*evicted = LD(&g->evicted);
	return LD(&g->retired);
}

void grey_counters_read(const struct grey_table *g, unsigned w, struct grey_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (!g || w > g->nworkers)
		return;
	const struct grey_counters *in = &g->pools[w].ctr;

	GREY_COUNTERS(MX_CTR_X_LOAD)
}

const char *grey_verdict_name(enum grey_verdict v)
{
	static const char *const names[GREY_VERDICT_COUNT] = {
		"defer_new", "defer_early", "pass_retry", "pass_known", "pass_awl", "pass_full",
	};

	return (unsigned)v < GREY_VERDICT_COUNT ? names[v] : "?";
}

/* grey_snap.c keeps its state here. */
void **grey_snap_state(struct grey_table *g);
void **grey_snap_state(struct grey_table *g)
{
	return &g->snap;
}
