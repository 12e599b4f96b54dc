/*
 * fault.c - see fault.h.
 */
#include "dataplane/fault.h"

#include <rte_cycles.h>
#include <rte_random.h>

static uint64_t threshold(double pct)
{
	return (uint64_t)(pct / 100.0 * 4294967296.0);
}

void fault_init(struct fault_dir *f, const struct mx_fault_dir *cfg, uint64_t reorder_us,
		uint64_t tsc_hz)
{
	f->drop_thr = threshold(cfg->drop_pct);
	f->dup_thr = threshold(cfg->dup_pct);
	f->reorder_thr = threshold(cfg->reorder_pct);
	f->delay_tsc = (uint64_t)cfg->delay_us * tsc_hz / 1000000;
	f->reorder_tsc = reorder_us * tsc_hz / 1000000;
	f->nheld = 0;
	f->enabled = f->drop_thr || f->dup_thr || f->reorder_thr || f->delay_tsc;
}

static bool roll(uint64_t thr)
{
	return thr && (rte_rand() & 0xffffffffu) < thr;
}

static bool hold(struct fault_dir *f, struct rte_mbuf *m, uint64_t due)
{
	if (f->nheld >= FAULT_HOLD_MAX)
		return false;
	f->held[f->nheld].m = m;
	f->held[f->nheld].due_tsc = due;
	f->nheld++;
	return true;
}

unsigned fault_apply(struct fault_dir *f, struct rte_mbuf **in, unsigned n, struct rte_mbuf **out,
		     unsigned cap, uint64_t now_tsc, struct rte_mempool *pool, struct dp_stats *s)
{
	unsigned nout = 0;

	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = in[i];
		struct rte_mbuf *copy = NULL;

		if (roll(f->drop_thr)) {
			DP_STAT_INC(s, fault_drop);
			rte_pktmbuf_free(m);
			continue;
		}
		if (roll(f->dup_thr)) {
			copy = rte_pktmbuf_copy(m, pool, 0, UINT32_MAX);
			if (copy)
				DP_STAT_INC(s, fault_dup);
		}
		for (struct rte_mbuf *x = m; x; x = copy, copy = NULL) {
			uint64_t due = 0;
			if (roll(f->reorder_thr))
				due = now_tsc + f->reorder_tsc;
			else if (f->delay_tsc)
				due = now_tsc + f->delay_tsc;
			if (due && hold(f, x, due)) {
				DP_STAT_INC(s, fault_delay);
				continue;
			}
			if (nout < cap) {
				out[nout++] = x;
			} else {
				/* More than the caller's burst bound: lost. */
				DP_STAT_INC(s, fault_drop);
				rte_pktmbuf_free(x);
			}
		}
	}
	/* Release what is due, keeping the held array compact. */
	for (unsigned i = 0; i < f->nheld && nout < cap;) {
		if (f->held[i].due_tsc <= now_tsc) {
			out[nout++] = f->held[i].m;
			f->held[i] = f->held[--f->nheld];
		} else {
			i++;
		}
	}
	return nout;
}

void fault_fini(struct fault_dir *f)
{
	for (unsigned i = 0; i < f->nheld; i++)
		rte_pktmbuf_free(f->held[i].m);
	f->nheld = 0;
}
