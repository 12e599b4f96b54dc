/*
 * conn_table.c - the live TCP connections in a memory-mapped file that
 * outlives the process. See conn_table.h.
 */
#include "dataplane/conn_table.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t workers;
	uint32_t slots;
	uint64_t reserved[2];
};

struct slot {
	uint32_t state; /* 0 free, 1 live */
	uint32_t pad;
	struct tcp_key key;
};

struct dp_conn_table {
	int fd;
	void *map;
	size_t size;
	unsigned workers, slots;
	struct slot *s;
};

#define SLOT_LIVE 1u

static size_t table_size(unsigned workers, unsigned slots)
{
	return sizeof(struct hdr) + (size_t)workers * slots * sizeof(struct slot);
}

/* A slot as the previous incarnation left it: whole, and plausible. */
static int slot_ok(const struct slot *s)
{
	const struct tcp_key *k = &s->key;

	if (s->state != SLOT_LIVE)
		return 0;
	if (k->family != TCP_AF_INET && k->family != TCP_AF_INET6)
		return 0;
	return k->lport != 0 && k->rport != 0;
}

/* Read the live entries of the file behind @fd (any size); none if it is
 * not one of ours. */
static int read_old(int fd, struct tcp_key **old, size_t *nold)
{
	struct stat st;
	struct hdr h;
	size_t n, cap = 0, got = 0;
	struct tcp_key *v = NULL;
	struct slot s;

	*old = NULL;
	*nold = 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((size_t)st.st_size < sizeof(h) || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return 0;
	if (h.magic != DP_CONN_TABLE_MAGIC || h.version != DP_CONN_TABLE_VERSION ||
	    h.workers == 0 || h.slots == 0 ||
	    (uint64_t)h.workers * h.slots > DP_CONN_TABLE_MAX_SLOTS)
		return 0;
	n = (size_t)h.workers * h.slots;
	if ((size_t)st.st_size < table_size(h.workers, h.slots))
		n = ((size_t)st.st_size - sizeof(h)) / sizeof(struct slot);
	for (size_t i = 0; i < n; i++) {
		if (pread(fd, &s, sizeof(s), (off_t)(sizeof(h) + i * sizeof(s))) !=
		    (ssize_t)sizeof(s))
			break;
		if (!slot_ok(&s))
			continue;
		if (got == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct tcp_key *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		v[got++] = s.key;
	}
	*old = v;
	*nold = got;
	return 0;
}

struct dp_conn_table *dp_conn_table_open(const char *path, unsigned workers, unsigned slots,
					 struct tcp_key **old, size_t *nold)
{
	struct dp_conn_table *t;
	struct hdr *h;
	int rc;

	*old = NULL;
	*nold = 0;
	if (!path || !*path || workers == 0 || slots == 0 ||
	    (uint64_t)workers * slots > DP_CONN_TABLE_MAX_SLOTS) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (t->fd < 0)
		goto fail;
	rc = read_old(t->fd, old, nold);
	if (rc < 0) {
		errno = -rc;
		goto fail;
	}
	t->workers = workers;
	t->slots = slots;
	t->size = table_size(workers, slots);
	/* A fresh, zeroed table for this incarnation. */
	if (ftruncate(t->fd, 0) < 0 || ftruncate(t->fd, (off_t)t->size) < 0)
		goto fail_old;
	t->map = mmap(NULL, t->size, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd, 0);
	if (t->map == MAP_FAILED) {
		t->map = NULL;
		goto fail_old;
	}
	h = t->map;
	h->workers = workers;
	h->slots = slots;
	h->version = DP_CONN_TABLE_VERSION;
	__atomic_store_n(&h->magic, DP_CONN_TABLE_MAGIC, __ATOMIC_RELEASE);
	t->s = (struct slot *)(h + 1);
	return t;

fail_old:
	free(*old);
	*old = NULL;
	*nold = 0;
fail : {
	int e = errno;
	if (t->fd >= 0)
		close(t->fd);
	free(t);
	errno = e;
	return NULL;
}
}

void dp_conn_table_set(struct dp_conn_table *t, unsigned worker, uint32_t idx,
		       const struct tcp_key *key)
{
	struct slot *s;

	if (!t || worker >= t->workers || idx >= t->slots)
		return;
	s = &t->s[(size_t)worker * t->slots + idx];
	if (!key) {
		__atomic_store_n(&s->state, 0, __ATOMIC_RELAXED);
		return;
	}
	__atomic_store_n(&s->state, 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	s->key = *key;
	__atomic_store_n(&s->state, SLOT_LIVE, __ATOMIC_RELEASE);
}

size_t dp_conn_table_count(const struct dp_conn_table *t, unsigned worker)
{
	size_t n = 0;

	if (!t || worker >= t->workers)
		return 0;
	for (unsigned i = 0; i < t->slots; i++)
		if (__atomic_load_n(&t->s[(size_t)worker * t->slots + i].state, __ATOMIC_RELAXED) ==
		    SLOT_LIVE)
			n++;
	return n;
}

void dp_conn_table_close(struct dp_conn_table *t, int clear)
{
	if (!t)
		return;
	if (t->map) {
		if (clear)
			memset(t->s, 0, (size_t)t->workers * t->slots * sizeof(struct slot));
		munmap(t->map, t->size);
	}
	close(t->fd);
	free(t);
}
