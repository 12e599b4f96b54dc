/*
 * admission.h - admission of SMTP connections per client, before a session
 * slot is taken: concurrent connections per client address and per network
 * (/24 for IPv4, /64 for IPv6), new connections per second per network
 * (token bucket), and a reserve of slots for clients with no other
 * connection. A refused client gets Postfix's anvil text,
 * "421 4.7.0 <hostname> Error: too many connections from <IP>", and is
 * closed. Types: admission-t.h; why the state is shared: admission.c.
 *
 * MEMORY. smtp_adm_create() allocates the shared table and every entry it
 * will ever hold (boot); smtp_adm_worker_create() a worker's handle and its
 * ticket per slot (boot). Nothing is allocated afterwards: when every entry
 * is in use, connections are admitted unchecked and counted (table_full).
 *
 * THREADING. One struct smtp_adm per process, shared by every worker (a
 * liburcu QSBR lock-free hash table: workers are its readers and insert
 * into it); one struct smtp_adm_worker per worker lcore. Entries are retired
 * only by the control thread (smtp_adm_age()) and reused after a grace
 * period. No function on the worker path locks, blocks, allocates or makes
 * a syscall.
 */
#ifndef MX_SMTP_ADMISSION_H
#define MX_SMTP_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#include "smtp/admission-t.h"
#include "smtp/conn-t.h"

struct smtp_adm;
struct smtp_adm_worker;

/** Create the shared table with room for @max_entries client addresses and
 * networks (all preallocated). Boot path, any thread. Returns the table,
 * or NULL with errno EINVAL (@max_entries 0 or above 2^26) or ENOMEM. */
struct smtp_adm *smtp_adm_create(unsigned max_entries);

/** Free @a and its entries. Every worker handle must be destroyed and no
 * worker may use @a any more. Call from a thread registered with liburcu
 * QSBR and offline (the control thread; it waits for pending call_rcu
 * callbacks with rcu_barrier()). NULL is a no-op. */
void smtp_adm_destroy(struct smtp_adm *a);

/** Retire idle entries: no connection counted on them and, for networks,
 * a full bucket (nothing would be lost by forgetting them). @now_us is on
 * the workers' clock; 0 takes the latest clock a worker passed to
 * smtp_adm_admit(). Entries go back to the free list after a grace period
 * (call_rcu). Returns how many were retired. Control thread only (one
 * ager), registered with liburcu QSBR and online during the call. */
unsigned smtp_adm_age(struct smtp_adm *a, uint64_t now_us);

/** Age @a every @period_ms on the control loop (core/loop.h): the timer
 * goes online, calls smtp_adm_age() and goes offline again. The calling
 * thread must own the loop and be registered with liburcu QSBR (offline).
 * Returns 0. Control thread, boot. */
int smtp_adm_ager_start(struct smtp_adm *a, unsigned period_ms);

/** Entries in use now, and entries retired since create. Any thread. */
unsigned smtp_adm_entries(const struct smtp_adm *a);
uint64_t smtp_adm_aged(const struct smtp_adm *a);

/** A worker's handle on @a: @slots tickets (one per session slot of its
 * connection table @conns, which the handle only carries for the
 * listener). @worker indexes smtp_adm_counters_read(). Limits start off
 * (smtp_adm_worker_set()). Boot path. Returns the handle, or NULL with
 * errno EINVAL or ENOMEM. */
struct smtp_adm_worker *smtp_adm_worker_create(struct smtp_adm *a, unsigned worker, unsigned slots,
					       struct smtp_conn_table *conns);

/** Free @w. Tickets still bound are forgotten (the workers stopped).
 * Boot/shutdown path. NULL is a no-op. */
void smtp_adm_worker_destroy(struct smtp_adm_worker *w);

/** Apply @lim and the name of the 421 reply (@hostname, copied; up to 255
 * octets) to @w: new connections see them at once (live keys). Owner lcore,
 * or boot before the worker runs. */
void smtp_adm_worker_set(struct smtp_adm_worker *w, const struct smtp_adm_limits *lim,
			 const char *hostname);

/** The connection table given at create. Any thread. */
struct smtp_conn_table *smtp_adm_worker_conns(const struct smtp_adm_worker *w);

/**
 * Decide whether a new connection from @peer may take a slot of @w's
 * worker, which has @free_slots of @slots free. On SMTP_ADM_OK the
 * connection is counted on its address and network and @t holds what to
 * give back (smtp_adm_release(), or smtp_adm_bind() to a slot); otherwise
 * nothing is counted but the refusal (and the network's rate bucket, which
 * every attempt draws on) and @t is empty. @now_us is the worker's clock.
 * Worker lcore, online (QSBR read side).
 */
enum smtp_adm_verdict smtp_adm_admit(struct smtp_adm_worker *w, const struct smtp_peer *peer,
				     unsigned free_slots, unsigned slots, uint64_t now_us,
				     struct smtp_adm_ticket *t);

/** Give back what @t counted and empty it (no-op on an empty ticket).
 * Worker lcore (any worker: counts are atomic), online. */
void smtp_adm_release(struct smtp_adm_worker *w, struct smtp_adm_ticket *t);

/** Keep @t under session slot @slot until smtp_adm_unbind(); @t is moved
 * (emptied). A ticket already bound to @slot is released first. Owner
 * lcore. */
void smtp_adm_bind(struct smtp_adm_worker *w, uint32_t slot, struct smtp_adm_ticket *t);

/** Release the ticket bound to @slot, if any: the connection layer's
 * release hook (@arg is the struct smtp_adm_worker). Owner lcore, online. */
void smtp_adm_unbind(void *arg, uint32_t slot);

/** Format the refusal for @peer into @buf ("421 4.7.0 <hostname> Error:
 * too many connections from <IP>\r\n"). Returns its length (< @len), or 0
 * if @len is too small. Owner lcore. */
size_t smtp_adm_reply(const struct smtp_adm_worker *w, const struct smtp_peer *peer, char *buf,
		      size_t len);

/** Copy @w's counters (relaxed loads). Any thread. */
void smtp_adm_worker_counters(const struct smtp_adm_worker *w, struct smtp_adm_counters *out);

/** Copy the counters of the handle created for worker @worker (zeros if
 * none), and the shared table's gauges. Any thread, relaxed loads. */
void smtp_adm_counters_read(unsigned worker, struct smtp_adm_counters *out);
unsigned smtp_adm_counters_entries(void);

#endif
