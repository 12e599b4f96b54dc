/*
 * counters.c - the counter registry and its walker. See counters.h.
 */
#include "core/counters.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/hist.h"

static const struct mx_ctr_group *groups[MX_CTR_MAX_GROUPS];
static unsigned ngroups;

static const char *long_name(const struct mx_ctr_group *g)
{
	return g->long_name ? g->long_name : g->name;
}

int mx_ctr_register(const struct mx_ctr_group *g)
{
	bool hist = false, plain = false;

	if (!g || !g->name || !g->name[0] || !g->defs || !g->ndefs ||
	    (g->scope == MX_CTR_THREAD && !g->label))
		return -EINVAL;
	for (unsigned i = 0; i < g->ndefs; i++) {
		if (!g->defs[i].name || !g->defs[i].help)
			return -EINVAL;
		if (g->defs[i].type == MX_CTR_HISTOGRAM)
			hist = true;
		else
			plain = true;
	}
	if ((hist && !g->read_hist) || (plain && !g->read))
		return -EINVAL;
	for (unsigned i = 0; i < ngroups; i++) {
		if (groups[i] == g)
			return -EEXIST;
		/* Same name: only right after its namesake (one JSON object). */
		if (strcmp(groups[i]->name, g->name) == 0 && i + 1 != ngroups)
			return -EEXIST;
		if (strcmp(groups[i]->name, g->name) == 0 &&
		    strcmp(long_name(groups[i]), long_name(g)) != 0)
			return -EINVAL;
	}
	if (ngroups == MX_CTR_MAX_GROUPS)
		return -ENOSPC;
	groups[ngroups++] = g;
	return 0;
}

void mx_ctr_reset(void)
{
	memset(groups, 0, sizeof(groups));
	ngroups = 0;
}

unsigned mx_ctr_ngroups(void)
{
	return ngroups;
}

const struct mx_ctr_group *mx_ctr_group_at(unsigned i)
{
	return i < ngroups ? groups[i] : NULL;
}

/* Visit the histogram defs[k] of @g: read every instance, merge a total. */
static int walk_hist(const struct mx_ctr_group *g, unsigned k, unsigned n, struct mx_ctr_val *v,
		     mx_ctr_walk_fn fn, void *arg)
{
	struct mx_hist *h = malloc((size_t)(n + 1) * sizeof(*h));

	if (!h)
		return -ENOMEM;
	mx_hist_init(&h[n]);
	for (unsigned i = 0; i < n; i++) {
		mx_hist_init(&h[i]);
		g->read_hist(g->arg, i, k, &h[i]);
		mx_hist_merge(&h[n], &h[i]);
	}
	v->h = h;
	v->htot = &h[n];
	v->total = h[n].count;
	fn(v, arg);
	free(h);
	return 0;
}

int mx_ctr_walk(mx_ctr_walk_fn fn, void *arg)
{
	for (unsigned gi = 0; gi < ngroups; gi++) {
		const struct mx_ctr_group *g = groups[gi];
		unsigned n = g->instances ? g->instances(g->arg) : 1;
		uint64_t *all = NULL, *col = NULL;
		bool first = gi == 0 || strcmp(groups[gi - 1]->name, g->name) != 0;

		if (n && g->read) {
			/* all[i * ndefs + k]: instance i, counter k. */
			all = calloc((size_t)n * g->ndefs, sizeof(*all));
			col = calloc(n, sizeof(*col));
			if (!all || !col) {
				free(all);
				free(col);
				return -ENOMEM;
			}
			for (unsigned i = 0; i < n; i++)
				g->read(g->arg, i, &all[(size_t)i * g->ndefs]);
		}
		for (unsigned k = 0; k < g->ndefs; k++) {
			const struct mx_ctr_def *d = &g->defs[k];
			struct mx_ctr_val v = {.g = g, .d = d, .idx = k, .n = n};

			v.first_of_group = first && k == 0;
			if (d->type == MX_CTR_HISTOGRAM) {
				if (walk_hist(g, k, n, &v, fn, arg) != 0) {
					free(all);
					free(col);
					return -ENOMEM;
				}
				continue;
			}
			for (unsigned i = 0; i < n; i++) {
				uint64_t x = all[(size_t)i * g->ndefs + k];

				col[i] = x;
				if (d->merge == MX_CTR_MAX)
					v.total = x > v.total ? x : v.total;
				else
					v.total += x;
			}
			v.v = col;
			fn(&v, arg);
		}
		free(all);
		free(col);
	}
	return 0;
}
