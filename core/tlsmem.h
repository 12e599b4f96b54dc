/*
 * tlsmem.h - OpenSSL's allocations, bounded per worker (issue 12).
 *
 * mx_tlsmem_init() installs mxgate's functions as OpenSSL's allocator
 * (CRYPTO_set_mem_functions), once, before anything touches OpenSSL. From
 * then on an allocation made on a worker thread (one that called
 * mx_tlsmem_enter()) comes from that worker's own jemalloc arena, through
 * the worker's own explicit tcache, and is charged to the worker's byte
 * budget; beyond the budget it fails (NULL), which OpenSSL turns into a
 * failed SSL_new or handshake, and the worker's mem_refused counts it.
 * Other threads (control, relay, DNS) keep plain malloc/realloc/free.
 *
 * Every block carries a 16-octet header (owner, size): a block freed on
 * another thread (the control thread freeing what a worker allocated) is
 * charged back to its owner and goes back to the owner's arena without
 * touching the owner's tcache.
 *
 * The worker identity (mx_tlsmem_enter()) lives in libmx_core so that the
 * dataplane can set it without linking the allocator.
 */
#ifndef MX_CORE_TLSMEM_H
#define MX_CORE_TLSMEM_H

#include <stddef.h>
#include <stdint.h>

#define MX_TLSMEM_MAX_WORKERS 128

/* Per-worker gauges and counter, X(name, type, help). */
#define MX_TLSMEM_COUNTERS(X)                                                                    \
	X(mem_bytes, GAUGE, "OpenSSL heap octets held by this worker ([tls] mem_per_worker_mb)") \
	X(mem_bytes_max, GAUGE, "highest OpenSSL heap octets held by this worker")               \
	X(mem_refused, COUNTER, "OpenSSL allocations refused: the worker's budget was spent")

/* Worker identity of the calling thread: worker + 1, 0 for none. */
extern __thread unsigned mx_tlsmem_self;

/* The calling thread is worker @worker (< MX_TLSMEM_MAX_WORKERS) from now
 * on; mx_tlsmem_leave() makes it a plain thread again. */
void mx_tlsmem_enter(unsigned worker);
void mx_tlsmem_leave(void);

/* Install the hooks with @budget octets per worker. 0 on success, -1 if
 * OpenSSL already allocated (the hooks cannot be set any more). */
int mx_tlsmem_init(size_t budget);

/* Create the per-worker arenas and tcaches of workers [0, n) (control
 * thread, before the workers start). Without them a worker's blocks come
 * from the default arena, still charged to its budget. 0 or -1. */
int mx_tlsmem_arenas(unsigned n);

/* Change the budget (tests; the key is restart class). */
void mx_tlsmem_set_budget(size_t budget);
size_t mx_tlsmem_budget(void);

/* The hooks themselves (OpenSSL's signatures). */
void *mx_tlsmem_malloc(size_t n, const char *file, int line);
void *mx_tlsmem_realloc(void *p, size_t n, const char *file, int line);
void mx_tlsmem_free(void *p, const char *file, int line);

/* Octets charged to worker @worker (the header included), high-water
 * mark, refusals; zeros for an unknown worker. */
void mx_tlsmem_read(unsigned worker, uint64_t *bytes, uint64_t *bytes_max, uint64_t *refused);

/* Start worker @worker's high-water mark again from what it holds now. */
void mx_tlsmem_reset_max(unsigned worker);

/* The octets of each block's header. */
#define MX_TLSMEM_HDR 16

#endif
