/*
 * dns_cache.c - the answer cache shared by every worker (dns_int.h).
 *
 * A liburcu cds_lfht (QSBR flavour) keyed by (type, normalised name).
 * Workers only look up (lock-free, they are always-online QSBR readers);
 * only the control thread inserts, replaces and removes. A node is
 * immutable once published: a new answer for the same key replaces the
 * node (cds_lfht_add_replace) and the old one goes to call_rcu. A node
 * holds only the used part of its answer (mx_dns_result_size()), so an A
 * answer costs ~100 bytes and not the 2 KB of the struct.
 *
 * BOUNDS. At most @max entries: the control thread keeps the nodes on a
 * list in insertion order (its own, never read by workers) and evicts the
 * oldest when an insert would pass the bound. Expired entries are invisible
 * to lookups at once and removed by dns_cache_expire(), which walks the
 * list a slice at a time from a cursor (TTLs differ, so the list is not in
 * expiry order).
 *
 * Memory: nodes are malloc'd on the control thread (jemalloc in the
 * daemon) and freed by the call_rcu thread after a grace period.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include "policy/dns_int.h"

struct cnode {
	struct cds_lfht_node ht;
	struct rcu_head rcu;
	struct cnode *prev, *next; /* insertion order; control thread only */
	uint64_t expires_ms;
	uint8_t type;
	uint8_t len;
	char name[MX_DNS_NAME_MAX + 1];
	struct mx_dns_result r; /* only mx_dns_result_size() bytes allocated */
};

struct dns_cache {
	struct cds_lfht *ht;
	uint64_t seed;
	uint32_t max;
	uint32_t count; /* written by the control thread, read anywhere */
	struct cnode *head, *tail, *cursor;
};

struct key {
	uint8_t type;
	uint8_t len;
	const char *name;
};

static int match(struct cds_lfht_node *n, const void *k)
{
	const struct cnode *c = caa_container_of(n, struct cnode, ht);
	const struct key *key = k;

	return c->type == key->type && c->len == key->len &&
	       memcmp(c->name, key->name, key->len) == 0;
}

struct dns_cache *dns_cache_new(uint32_t max, uint64_t seed)
{
	struct dns_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	/* Start near the expected size (a quarter of the bound, so chains are
	 * short before the first resize, which runs on liburcu's worker thread
	 * after grace periods); grow from there. */
	unsigned long init = 1024;
	while (init < max / 4 && init < (1ul << 18))
		init <<= 1;
	c->ht = cds_lfht_new(init, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	if (!c->ht) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->seed = seed;
	c->max = max ? max : 1;
	return c;
}

static void free_rcu(struct rcu_head *h)
{
	free(caa_container_of(h, struct cnode, rcu));
}

static void list_unlink(struct dns_cache *c, struct cnode *n)
{
	if (c->cursor == n)
		c->cursor = n->next;
	if (n->prev)
		n->prev->next = n->next;
	else
		c->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		c->tail = n->prev;
	n->prev = n->next = NULL;
}

/* Remove @n from the table and the list and retire it. */
static void drop(struct dns_cache *c, struct cnode *n)
{
	/* Only this thread removes: the delete cannot lose a race. */
	(void)cds_lfht_del(c->ht, &n->ht);
	list_unlink(c, n);
	__atomic_store_n(&c->count, c->count - 1, __ATOMIC_RELAXED);
	call_rcu(&n->rcu, free_rcu);
}

void dns_cache_free(struct dns_cache *c)
{
	if (!c)
		return;
	/* No reader left: remove everything, let call_rcu free the nodes. */
	rcu_thread_online();
	while (c->head)
		drop(c, c->head);
	rcu_thread_offline();
	rcu_barrier();
	cds_lfht_destroy(c->ht, NULL);
	free(c);
}

int dns_cache_get(struct dns_cache *c, uint8_t type, const char *name, size_t len, uint64_t now_ms,
		  struct mx_dns_result *out)
{
	struct key k = {.type = type, .len = (uint8_t)len, .name = name};
	struct cds_lfht_iter it;
	struct cnode *n;

	if (!c || len > MX_DNS_NAME_MAX)
		return 0;
	cds_lfht_lookup(c->ht, dns_hash(c->seed, type, name, len), match, &k, &it);
	n = caa_container_of(cds_lfht_iter_get_node(&it), struct cnode, ht);
	if (!cds_lfht_iter_get_node(&it) || n->expires_ms <= now_ms)
		return 0;
	memcpy(out, &n->r, mx_dns_result_size(&n->r));
	out->ttl = (uint32_t)((n->expires_ms - now_ms + 999) / 1000);
	return 1;
}

int dns_cache_put(struct dns_cache *c, const char *name, size_t len, const struct mx_dns_result *r,
		  uint64_t now_ms)
{
	struct key k = {.type = r->type, .len = (uint8_t)len, .name = name};
	size_t rsz = mx_dns_result_size(r);
	struct cds_lfht_node *old;
	struct cnode *n;

	if (r->ttl == 0 || len > MX_DNS_NAME_MAX)
		return 0;
	n = malloc(offsetof(struct cnode, r) + rsz);
	if (!n)
		return -ENOMEM;
	memset(n, 0, offsetof(struct cnode, r));
	n->expires_ms = now_ms + (uint64_t)r->ttl * 1000;
	n->type = r->type;
	n->len = (uint8_t)len;
	memcpy(n->name, name, len);
	memcpy(&n->r, r, rsz);
	while (c->count >= c->max && c->head)
		drop(c, c->head);
	old = cds_lfht_add_replace(c->ht, dns_hash(c->seed, r->type, name, len), match, &k, &n->ht);
	if (old) {
		struct cnode *o = caa_container_of(old, struct cnode, ht);
		list_unlink(c, o);
		call_rcu(&o->rcu, free_rcu);
	} else {
		__atomic_store_n(&c->count, c->count + 1, __ATOMIC_RELAXED);
	}
	n->prev = c->tail;
	if (c->tail)
		c->tail->next = n;
	else
		c->head = n;
	c->tail = n;
	return 0;
}

unsigned dns_cache_expire(struct dns_cache *c, uint64_t now_ms, unsigned budget)
{
	unsigned removed = 0;

	if (!c->cursor)
		c->cursor = c->head;
	for (unsigned i = 0; i < budget && c->cursor; i++) {
		struct cnode *n = c->cursor;
		c->cursor = n->next;
		if (n->expires_ms <= now_ms) {
			drop(c, n);
			removed++;
		}
	}
	return removed;
}

void dns_cache_set_max(struct dns_cache *c, uint32_t max)
{
	c->max = max ? max : 1;
	while (c->count > c->max && c->head)
		drop(c, c->head);
}

uint32_t dns_cache_count(const struct dns_cache *c)
{
	return c ? __atomic_load_n(&c->count, __ATOMIC_RELAXED) : 0;
}
