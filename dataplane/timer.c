/*
 * timer.c - hierarchical timing wheel. See timer.h for the contract.
 *
 * An entry expiring at tick e, with the wheel at tick n, sits at the lowest
 * level k whose span covers e - n, in slot (e >> (8k)) & 255. Level 0 is
 * processed tick by tick; when level k-1 wraps (the low 8k bits of the tick
 * become zero), slot of level k for the current tick is emptied and its
 * entries re-inserted, landing at lower levels.
 */
#include "dataplane/timer.h"

#include <stddef.h>

static void list_add(struct timer_list *l, struct timer_entry *t)
{
	t->next = l->head;
	if (t->next)
		t->next->pprev = &t->next;
	l->head = t;
	t->pprev = &l->head;
}

static void unlink_entry(struct timer_wheel *w, struct timer_entry *t)
{
	w->count[t->level]--;
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	t->next = NULL;
	t->pprev = NULL;
}

void timer_wheel_init(struct timer_wheel *w, uint64_t now)
{
	w->now = now;
	w->armed = 0;
	for (unsigned k = 0; k < TIMER_LEVELS; k++)
		w->count[k] = 0;
	for (unsigned k = 0; k < TIMER_LEVELS; k++)
		for (unsigned s = 0; s < TIMER_SLOTS; s++)
			w->slots[k][s].head = NULL;
}

/* @earliest: w->now + 1 when arming (the current tick is done), w->now when
 * cascading (the current level-0 slot is processed right after). */
static void place(struct timer_wheel *w, struct timer_entry *t, uint64_t earliest)
{
	uint64_t e = t->expires;
	uint64_t delta;
	unsigned k;

	if (e < earliest)
		e = earliest;
	delta = e - w->now;
	for (k = 0; k < TIMER_LEVELS - 1; k++)
		if (delta < (1ull << (TIMER_SLOT_BITS * (k + 1))))
			break;
	if (k == TIMER_LEVELS - 1) {
		uint64_t span = 1ull << (TIMER_SLOT_BITS * TIMER_LEVELS);
		/* Beyond the wheel: park in the furthest slot; it cascades again. */
		if (delta >= span)
			e = w->now + span - 1;
	}
	t->level = k;
	w->count[k]++;
	list_add(&w->slots[k][(e >> (TIMER_SLOT_BITS * k)) & (TIMER_SLOTS - 1)], t);
}

void timer_arm(struct timer_wheel *w, struct timer_entry *t, uint64_t expires)
{
	if (t->pprev)
		unlink_entry(w, t);
	else
		w->armed++;
	t->expires = expires;
	place(w, t, w->now + 1);
}

void timer_cancel(struct timer_wheel *w, struct timer_entry *t)
{
	if (!t->pprev)
		return;
	unlink_entry(w, t);
	w->armed--;
}

static void cascade(struct timer_wheel *w, unsigned k)
{
	struct timer_list *l = &w->slots[k][(w->now >> (TIMER_SLOT_BITS * k)) & (TIMER_SLOTS - 1)];
	struct timer_entry *t = l->head;

	l->head = NULL;
	while (t) {
		w->count[k]--;
		struct timer_entry *next = t->next;
		t->next = NULL;
		t->pprev = NULL;
		place(w, t, w->now);
		t = next;
	}
}

unsigned timer_advance(struct timer_wheel *w, uint64_t now)
{
	unsigned ran = 0;

	while (w->now < now) {
		struct timer_list *l;

		if (w->armed == 0) {
			/* Nothing armed: jump without walking every tick. */
			w->now = now;
			break;
		}
		{
			/* Levels below the lowest non-empty one have nothing to
			 * run: jump to the tick before that level's next cascade. */
			unsigned low = 0;
			while (low < TIMER_LEVELS - 1 && w->count[low] == 0)
				low++;
			if (low > 0) {
				uint64_t last = w->now | ((1ull << (TIMER_SLOT_BITS * low)) - 1);
				if (last >= now) {
					w->now = now;
					break;
				}
				w->now = last;
			}
		}
		w->now++;
		for (unsigned k = 1; k < TIMER_LEVELS; k++) {
			if (w->now & ((1ull << (TIMER_SLOT_BITS * k)) - 1))
				break;
			cascade(w, k);
		}
		l = &w->slots[0][w->now & (TIMER_SLOTS - 1)];
		while (l->head) {
			struct timer_entry *t = l->head;
			unlink_entry(w, t);
			w->armed--;
			if (t->expires > w->now) {
				/* Parked beyond the wheel's span: place again. */
				w->armed++;
				place(w, t, w->now + 1);
				continue;
			}
			ran++;
			t->cb(t);
		}
	}
	return ran;
}
