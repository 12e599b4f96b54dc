/*
 * fault.h - seeded fault injection on received and sent frames.
 *
 * The kernel on our test machines has no netem; this layer is how loss,
 * duplication, reordering and delay are tested. Compiled in when meson's
 * fault_injection option is on (the default), inert unless [fault] sets a
 * rate. Decisions come from rte_rand(), which EAL seeds per lcore from
 * [fault] seed (rte_srand), so a run is reproducible for a given seed and
 * traffic.
 *
 * Reordering is done by holding the chosen frame for [fault] reorder_us so
 * the frames after it overtake it; delay holds every frame for delay_us.
 * Held frames live in a bounded per-direction array; when it is full, frames
 * pass undisturbed (counted as not delayed).
 *
 * Thread safety: one fault_dir per worker and direction.
 */
#ifndef MX_DATAPLANE_FAULT_H
#define MX_DATAPLANE_FAULT_H

#include <rte_mbuf.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config-t.h"
#include "dataplane/dataplane-t.h"

#define FAULT_HOLD_MAX 1024

struct fault_dir {
	bool enabled;
	uint64_t drop_thr, dup_thr, reorder_thr; /* out of 2^32 */
	uint64_t delay_tsc, reorder_tsc;
	unsigned nheld;
	struct {
		struct rte_mbuf *m;
		uint64_t due_tsc;
	} held[FAULT_HOLD_MAX];
};

/** Set up @f from a config direction; @tsc_hz converts microseconds. */
void fault_init(struct fault_dir *f, const struct mx_fault_dir *cfg, uint64_t reorder_us,
		uint64_t tsc_hz);

/** Apply faults to @n frames in @in and write what passes now, plus held
 * frames that are due, to @out (capacity @cap). Takes ownership of every
 * frame in @in; the caller owns what is in @out. Dropped frames are freed;
 * duplicates are copies from @pool. Returns the count in @out. */
unsigned fault_apply(struct fault_dir *f, struct rte_mbuf **in, unsigned n, struct rte_mbuf **out,
		     unsigned cap, uint64_t now_tsc, struct rte_mempool *pool, struct dp_stats *s);

/** Free every held frame (shutdown). */
void fault_fini(struct fault_dir *f);

#endif
