/*
 * dp_counters.h - the dataplane's groups of the counter registry
 * (core/counters.h): "dp" (DP_STATS) and "tcp" (TCP_STATS_LIST), one
 * instance per worker lcore.
 */
#ifndef MX_DATAPLANE_DP_COUNTERS_H
#define MX_DATAPLANE_DP_COUNTERS_H

/** Register the "dp" and "tcp" groups. Returns 0 or -errno from
 * mx_ctr_register(). Boot only, once. */
int dp_counters_register(void);

/** The instances callback of every per-worker group (struct mx_ctr_group
 * .instances): dp_nworkers(), @arg unused. Control thread. */
unsigned dp_counters_workers(void *arg);

#endif
