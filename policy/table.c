/*
 * table.c - the policy tables: liburcu cds_lfht hash tables (QSBR) built
 * on the control thread and read by the workers without locks. See
 * policy.h.
 *
 * Memory: one allocation for the entries (their count fixed at creation),
 * key octets in an arena of large blocks (a file's keys: the file's own
 * buffer), and the cds_lfht with a fixed bucket count (the next power of
 * two above the key count: no resize, so no call_rcu work and no
 * allocation once built). A table is never changed after it is
 * published; a reload builds a new one. Freed by pol_table_free() after a
 * grace period, on the control thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include "policy/policy.h"

#define KEY_MAX	    255
#define ARENA_BLOCK (1u << 20)

struct pol_ent {
	struct cds_lfht_node node;
	const char *key;
	uint32_t len;
};

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	char data[];
};

struct pol_table {
	struct cds_lfht *ht;
	struct pol_ent *ent;
	size_t n, cap;
	struct arena_block *blocks;
	char *filebuf; /* keys of a loaded file, NUL-separated */
	size_t bytes;
	bool fold; /* keys are names: lower-cased */
};

static inline uint8_t lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* FNV-1a over the lower-cased key, then a final mix (keys are short). */
static unsigned long key_hash(const uint8_t *k, size_t len, bool fold)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (fold ? lc(k[i]) : k[i])) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (unsigned long)h;
}

struct lookup_key {
	const uint8_t *k;
	size_t len;
	bool fold; /* case-insensitive (names); networks are binary */
};

static int key_match(struct cds_lfht_node *node, const void *key)
{
	const struct pol_ent *e = caa_container_of(node, struct pol_ent, node);
	const struct lookup_key *lk = key;

	if (e->len != lk->len)
		return 0;
	for (size_t i = 0; i < lk->len; i++)
		if ((uint8_t)e->key[i] != (lk->fold ? lc(lk->k[i]) : lk->k[i]))
			return 0;
	return 1;
}

static unsigned long pow2_at_least(size_t n)
{
	unsigned long b = 64;

	while (b < n && b < (1ul << 30))
		b <<= 1;
	return b;
}

static struct pol_table *table_new(size_t hint, bool fold)
{
	struct pol_table *t = calloc(1, sizeof(*t));
	unsigned long buckets = pow2_at_least(hint);

	if (!t)
		return NULL;
	t->cap = hint ? hint : 1;
	t->ent = calloc(t->cap, sizeof(*t->ent));
	t->ht = cds_lfht_new(buckets, buckets, buckets, 0, NULL);
	if (!t->ent || !t->ht) {
		free(t->ent);
		if (t->ht)
			cds_lfht_destroy(t->ht, NULL);
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->fold = fold;
	/* Buckets: one node (two words) each, plus the entries. */
	t->bytes = sizeof(*t) + t->cap * sizeof(*t->ent) + buckets * 2 * sizeof(void *);
	return t;
}

struct pol_table *pol_table_new(size_t hint)
{
	return table_new(hint, true);
}

struct pol_table *pol_table_new_nets(size_t hint)
{
	return table_new(hint, false);
}

static char *arena_copy(struct pol_table *t, const uint8_t *key, size_t len)
{
	struct arena_block *b = t->blocks;
	char *p;

	if (!b || b->cap - b->used < len + 1) {
		b = malloc(sizeof(*b) + ARENA_BLOCK);
		if (!b)
			return NULL;
		b->next = t->blocks;
		b->used = 0;
		b->cap = ARENA_BLOCK;
		t->blocks = b;
		t->bytes += sizeof(*b) + ARENA_BLOCK;
	}
	p = b->data + b->used;
	for (size_t i = 0; i < len; i++)
		p[i] = (char)(t->fold ? lc(key[i]) : key[i]);
	p[len] = '\0';
	b->used += len + 1;
	return p;
}

/* Insert an entry whose key is already lower-cased at @k (kept). */
static int insert(struct pol_table *t, const char *k, size_t len)
{
	struct pol_ent *e;
	struct lookup_key lk = {(const uint8_t *)k, len, t->fold};
	struct cds_lfht_node *n;

	if (t->n == t->cap)
		return -ENOSPC;
	e = &t->ent[t->n];
	e->key = k;
	e->len = (uint32_t)len;
	cds_lfht_node_init(&e->node);
	rcu_read_lock();
	n = cds_lfht_add_unique(t->ht, key_hash(lk.k, len, t->fold), key_match, &lk, &e->node);
	rcu_read_unlock();
	if (n != &e->node)
		return 0;
	t->n++;
	return 1;
}

int pol_table_add(struct pol_table *t, const void *key, size_t len)
{
	char *k;

	if (len > KEY_MAX)
		return -EINVAL;
	if (pol_table_has(t, key, len))
		return 0;
	if (t->n == t->cap)
		return -ENOSPC;
	k = arena_copy(t, key, len);
	if (!k)
		return -ENOMEM;
	return insert(t, k, len);
}

bool pol_table_has(const struct pol_table *t, const void *key, size_t len)
{
	struct lookup_key lk = {key, len, t ? t->fold : true};
	struct cds_lfht_iter it;

	if (!t || len > KEY_MAX)
		return false;
	cds_lfht_lookup(t->ht, key_hash(key, len, t->fold), key_match, &lk, &it);
	return cds_lfht_iter_get_node(&it) != NULL;
}

size_t pol_table_count(const struct pol_table *t)
{
	return t ? t->n : 0;
}

size_t pol_table_bytes(const struct pol_table *t)
{
	return t ? t->bytes : 0;
}

void pol_table_free(struct pol_table *t)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;
	bool online;

	if (!t)
		return;
	online = rcu_read_ongoing();
	if (!online)
		rcu_thread_online();
	cds_lfht_for_each(t->ht, &it, n) cds_lfht_del(t->ht, n);
	if (!online)
		rcu_thread_offline();
	cds_lfht_destroy(t->ht, NULL);
	while (t->blocks) {
		struct arena_block *b = t->blocks;
		t->blocks = b->next;
		free(b);
	}
	free(t->filebuf);
	free(t->ent);
	free(t);
}

struct pol_table *pol_table_load_file(const char *path, char *err, size_t errlen)
{
	struct pol_table *t = NULL;
	struct stat st;
	size_t lines = 0, len, lineno = 0;
	char *buf = NULL, *p, *end;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	len = (size_t)st.st_size;
	buf = malloc(len + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory (%zu bytes)", path, len);
		goto fail;
	}
	for (size_t got = 0; got < len;) {
		ssize_t r = read(fd, buf + got, len - got);
		if (r <= 0) {
			snprintf(err, errlen, "%s: read: %s", path, r ? strerror(errno) : "short");
			goto fail;
		}
		got += (size_t)r;
	}
	buf[len] = '\n';
	for (size_t i = 0; i <= len; i++)
		lines += buf[i] == '\n';
	t = pol_table_new(lines);
	if (!t) {
		snprintf(err, errlen, "%s: out of memory for %zu entries", path, lines);
		goto fail;
	}
	t->filebuf = buf;
	t->bytes += len + 1;
	for (p = buf, end = buf + len; p <= end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p) + 1);
		char *s = p, *e = nl;

		lineno++;
		p = nl + 1;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		if (s == e || *s == '#')
			continue;
		if ((size_t)(e - s) > KEY_MAX) {
			snprintf(err, errlen, "%s:%zu: entry longer than %d octets", path, lineno,
				 KEY_MAX);
			buf = NULL; /* owned by t now */
			goto fail;
		}
		for (char *q = s; q < e; q++)
			*q = (char)lc((uint8_t)*q);
		*e = '\0';
		if (insert(t, s, (size_t)(e - s)) < 0) {
			snprintf(err, errlen, "%s:%zu: cannot insert", path, lineno);
			buf = NULL;
			goto fail;
		}
	}
	close(fd);
	return t;
fail:
	if (fd >= 0)
		close(fd);
	if (t)
		pol_table_free(t); /* frees buf too once owned */
	else
		free(buf);
	return NULL;
}

int pol_net_key(const char *s, uint8_t key[POL_NET_KEY_LEN])
{
	char a[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	long plen;
	char *end;

	if (alen == 0 || alen >= sizeof(a))
		return -EINVAL;
	memcpy(a, s, alen);
	a[alen] = '\0';
	memset(key, 0, POL_NET_KEY_LEN);
	if (inet_pton(AF_INET, a, key + 2) == 1) {
		key[0] = 4;
		plen = 32;
	} else if (inet_pton(AF_INET6, a, key + 2) == 1) {
		key[0] = 6;
		plen = 128;
	} else {
		return -EINVAL;
	}
	if (slash) {
		long max = plen;
		plen = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || plen < 0 || plen > max)
			return -EINVAL;
	}
	key[1] = (uint8_t)plen;
	for (unsigned bit = (unsigned)plen; bit < 128; bit++)
		key[2 + bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	return 0;
}

bool pol_net_match(const struct pol_table *t, const uint64_t plens[5], int family,
		   const uint8_t *addr)
{
	unsigned max = family == 4 ? 32 : 128, base = family == 4 ? 0 : 128;
	uint8_t key[POL_NET_KEY_LEN];

	if (!t || t->n == 0)
		return false;
	for (unsigned p = 0; p <= max; p++) {
		unsigned b = base + p;
		if (!(plens[b / 64] >> (b % 64) & 1))
			continue;
		memset(key, 0, sizeof(key));
		key[0] = (uint8_t)family;
		key[1] = (uint8_t)p;
		memcpy(key + 2, addr, family == 4 ? 4 : 16);
		for (unsigned bit = p; bit < 128; bit++)
			key[2 + bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
		if (pol_table_has(t, key, sizeof(key)))
			return true;
	}
	return false;
}
