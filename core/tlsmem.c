/*
 * tlsmem.c - OpenSSL's allocator, bounded per worker. See tlsmem.h.
 *
 * A block is [struct hdr][the caller's n octets]. The header says who owns
 * it (worker + 1, or 0 for a plain thread's malloc) and n, so that free
 * and realloc on any thread know the arena, the tcache to use (the
 * owner's own only on the owner's thread) and what to give back to the
 * owner's budget. Charged octets are n + MX_TLSMEM_HDR (requested sizes,
 * not jemalloc's size classes: the bound is on what OpenSSL asks for).
 *
 * The owner charges with an atomic add and checks the bound after it (so
 * the bound holds even while other threads give octets back); other
 * threads only subtract. No lock; the worker path makes no syscall (the
 * arenas and tcaches are made by mx_tlsmem_arenas() before the workers
 * start).
 */
#include "core/tlsmem.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jemalloc/jemalloc.h>
#include <openssl/crypto.h>

struct hdr {
	uint32_t owner; /* worker + 1; 0: plain malloc */
	uint32_t pad;
	uint64_t size; /* the caller's octets */
};
_Static_assert(sizeof(struct hdr) == MX_TLSMEM_HDR, "header size");

struct wmem {
	uint64_t bytes;	  /* charged: atomic (others give back) */
	uint64_t max;	  /* high-water mark: the owner writes */
	uint64_t refused; /* the owner writes */
	unsigned arena;
	unsigned tcache;
	bool ready; /* arena and tcache made */
} __attribute__((aligned(64)));

static struct wmem wm[MX_TLSMEM_MAX_WORKERS];
static size_t budget = SIZE_MAX;

void mx_tlsmem_set_budget(size_t b)
{
	__atomic_store_n(&budget, b, __ATOMIC_RELAXED);
}

size_t mx_tlsmem_budget(void)
{
	return __atomic_load_n(&budget, __ATOMIC_RELAXED);
}

/* Charge @n octets to @m (its owner's thread): false, counted, beyond the
 * budget. */
static bool charge(struct wmem *m, size_t n)
{
	uint64_t b = __atomic_add_fetch(&m->bytes, n, __ATOMIC_RELAXED);

	if (b > mx_tlsmem_budget()) {
		__atomic_sub_fetch(&m->bytes, n, __ATOMIC_RELAXED);
		__atomic_store_n(&m->refused, m->refused + 1, __ATOMIC_RELAXED);
		return false;
	}
	if (b > m->max)
		__atomic_store_n(&m->max, b, __ATOMIC_RELAXED);
	return true;
}

static void uncharge(struct wmem *m, size_t n)
{
	__atomic_sub_fetch(&m->bytes, n, __ATOMIC_RELAXED);
}

/* mallocx/rallocx/dallocx flags on the owner's thread, and elsewhere. */
static int own_flags(const struct wmem *m)
{
	return m->ready ? (int)(MALLOCX_ARENA(m->arena) | MALLOCX_TCACHE(m->tcache)) : 0;
}

static int foreign_flags(const struct wmem *m)
{
	return m->ready ? MALLOCX_TCACHE_NONE : 0;
}

void *mx_tlsmem_malloc(size_t n, const char *file, int line)
{
	unsigned self = mx_tlsmem_self;
	struct wmem *m;
	struct hdr *h;

	(void)file, (void)line;
	if (n > SIZE_MAX / 2)
		return NULL;
	if (!self) {
		h = malloc(n + MX_TLSMEM_HDR);
		if (!h)
			return NULL;
	} else {
		m = &wm[self - 1];
		if (!charge(m, n + MX_TLSMEM_HDR))
			return NULL;
		h = mallocx(n + MX_TLSMEM_HDR, own_flags(m));
		if (!h) {
			uncharge(m, n + MX_TLSMEM_HDR);
			return NULL;
		}
	}
	h->owner = self;
	h->pad = 0;
	h->size = n;
	return h + 1;
}

void mx_tlsmem_free(void *p, const char *file, int line)
{
	struct hdr *h;
	struct wmem *m;
	size_t n;

	(void)file, (void)line;
	if (!p)
		return;
	h = (struct hdr *)p - 1;
	if (!h->owner) {
		free(h);
		return;
	}
	m = &wm[h->owner - 1];
	n = h->size + MX_TLSMEM_HDR;
	dallocx(h, h->owner == mx_tlsmem_self ? own_flags(m) : foreign_flags(m));
	uncharge(m, n);
}

void *mx_tlsmem_realloc(void *p, size_t n, const char *file, int line)
{
	unsigned self = mx_tlsmem_self;
	struct hdr *h, *nh;
	struct wmem *m;
	size_t old;
	void *q;

	if (!p)
		return mx_tlsmem_malloc(n, file, line);
	if (n == 0) { /* CRYPTO_realloc()'s own meaning */
		mx_tlsmem_free(p, file, line);
		return NULL;
	}
	if (n > SIZE_MAX / 2)
		return NULL;
	h = (struct hdr *)p - 1;
	old = h->size;
	if (h->owner == self && !self) {
		nh = realloc(h, n + MX_TLSMEM_HDR);
		if (!nh)
			return NULL;
		nh->size = n;
		return nh + 1;
	}
	if (h->owner == self) { /* the worker's own block: in its arena */
		m = &wm[self - 1];
		if (n > old && !charge(m, n - old))
			return NULL;
		nh = rallocx(h, n + MX_TLSMEM_HDR, own_flags(m));
		if (!nh) {
			if (n > old)
				uncharge(m, n - old);
			return NULL;
		}
		if (n < old)
			uncharge(m, old - n);
		nh->size = n;
		return nh + 1;
	}
	/* Another owner's block: moved to ours (charged to us, given back
	 * to it). */
	q = mx_tlsmem_malloc(n, file, line);
	if (!q)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	mx_tlsmem_free(p, file, line);
	return q;
}

int mx_tlsmem_init(size_t b)
{
	mx_tlsmem_set_budget(b);
	return CRYPTO_set_mem_functions(mx_tlsmem_malloc, mx_tlsmem_realloc, mx_tlsmem_free) ? 0
											     : -1;
}

int mx_tlsmem_arenas(unsigned n)
{
	for (unsigned i = 0; i < n && i < MX_TLSMEM_MAX_WORKERS; i++) {
		unsigned a, tc;
		size_t sz = sizeof(unsigned);

		if (wm[i].ready)
			continue;
		if (mallctl("arenas.create", &a, &sz, NULL, 0) != 0)
			return -1;
		sz = sizeof(unsigned);
		if (mallctl("tcache.create", &tc, &sz, NULL, 0) != 0)
			return -1;
		wm[i].arena = a;
		wm[i].tcache = tc;
		__atomic_store_n(&wm[i].ready, true, __ATOMIC_RELEASE);
	}
	return 0;
}

void mx_tlsmem_read(unsigned worker, uint64_t *bytes, uint64_t *bytes_max, uint64_t *refused)
{
	const struct wmem *m = worker < MX_TLSMEM_MAX_WORKERS ? &wm[worker] : NULL;

	*bytes = m ? __atomic_load_n(&m->bytes, __ATOMIC_RELAXED) : 0;
	*bytes_max = m ? __atomic_load_n(&m->max, __ATOMIC_RELAXED) : 0;
	*refused = m ? __atomic_load_n(&m->refused, __ATOMIC_RELAXED) : 0;
}

void mx_tlsmem_reset_max(unsigned worker)
{
	if (worker < MX_TLSMEM_MAX_WORKERS)
		__atomic_store_n(&wm[worker].max,
				 __atomic_load_n(&wm[worker].bytes, __ATOMIC_RELAXED),
				 __ATOMIC_RELAXED);
}
