/*
 * timer.h - per-lcore hierarchical timing wheel.
 *
 * A wheel of TIMER_LEVELS levels with TIMER_SLOTS slots each. Level 0 slots
 * are one tick wide, level k slots TIMER_SLOTS^k ticks. Arming and
 * cancelling are O(1); timer_advance() cascades higher levels down as time
 * passes and runs every callback whose expiry is <= now. With 4 levels of
 * 256 slots and a 1 ms tick the wheel spans 2^32 ms (49 days); later expiries
 * are clamped to the last slot and re-cascaded, so they still fire on time.
 *
 * Entries are embedded in the owner's struct (intrusive, no allocation).
 * The unit of a tick is the caller's (the dataplane uses 1 ms).
 *
 * Thread safety: a wheel and its entries belong to one thread (one worker
 * lcore). No locks. Pure C, no DPDK: the TCP core uses it under unit test.
 */
#ifndef MX_DATAPLANE_TIMER_H
#define MX_DATAPLANE_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIMER_LEVELS	4
#define TIMER_SLOT_BITS 8
#define TIMER_SLOTS	(1u << TIMER_SLOT_BITS)

struct timer_entry;
/** Called from timer_advance() with the entry already unlinked; the callback
 * may re-arm it, arm or cancel others, or free its owner. */
typedef void (*timer_cb_fn)(struct timer_entry *t);

struct timer_entry {
	struct timer_entry *next;
	struct timer_entry **pprev; /* NULL when not armed */
	uint64_t expires;	    /* absolute tick */
	timer_cb_fn cb;
	unsigned level; /* wheel level it is linked on */
};

struct timer_list {
	struct timer_entry *head;
};

struct timer_wheel {
	uint64_t now; /* last tick processed */
	uint64_t armed;
	uint64_t count[TIMER_LEVELS]; /* entries per level: empty levels are skipped */
	struct timer_list slots[TIMER_LEVELS][TIMER_SLOTS];
};

/** Initialise @w with current tick @now. Never fails. */
void timer_wheel_init(struct timer_wheel *w, uint64_t now);

/** Initialise an entry (not armed) with its callback. */
static inline void timer_init(struct timer_entry *t, timer_cb_fn cb)
{
	t->next = NULL;
	t->pprev = NULL;
	t->expires = 0;
	t->cb = cb;
}

static inline bool timer_pending(const struct timer_entry *t)
{
	return t->pprev != NULL;
}

/** Arm @t to fire at absolute tick @expires (re-arms if pending). An expiry
 * in the past fires on the next timer_advance(). */
void timer_arm(struct timer_wheel *w, struct timer_entry *t, uint64_t expires);

/** Disarm @t if armed; safe on an unarmed entry. */
void timer_cancel(struct timer_wheel *w, struct timer_entry *t);

/** Advance to tick @now, running the callbacks of every entry that expired.
 * Returns how many callbacks ran. */
unsigned timer_advance(struct timer_wheel *w, uint64_t now);

/** Number of armed entries. */
static inline uint64_t timer_armed(const struct timer_wheel *w)
{
	return w->armed;
}

#endif
