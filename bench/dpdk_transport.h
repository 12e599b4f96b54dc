/*
 * dpdk_transport.h - mxbench DPDK transport: the bench client sessions run on
 * mxgate's own TCP stack (active open), one DPDK worker lcore per bench worker.
 *
 * Sequence (main thread = EAL main lcore):
 *   bench_dpdk_boot()  EAL + port from a generated mxgate config, the bench
 *                      registered as a dp_service, workers launched, link up
 *   bench_dpdk_go()    hand the workers their struct bench_worker and start
 *   ... wait until *done == nworkers (progress as for kernel threads) ...
 *   bench_dpdk_stop()  let FINs go out, dp_stop()
 */
#ifndef MX_BENCH_DPDK_TRANSPORT_H
#define MX_BENCH_DPDK_TRANSPORT_H

#include "bench/mxbench.h"

/** Boot the dataplane from cfg->dpdk. Returns the number of workers (>= 1),
 * or -1 with the reason on stderr. */
int bench_dpdk_boot(const struct bench_cfg *cfg, const char *argv0);

/** Start the bench on every worker; each one adds 1 to *@done (release)
 * when its share is over. @w has bench_dpdk_boot()'s count of entries. */
void bench_dpdk_go(struct bench_worker *w, unsigned *done);

/** True while the port reports link up (memif: the peer is connected). */
bool bench_dpdk_link_up(void);

/** Move worker log lines to stderr (main thread). */
void bench_dpdk_drain_logs(void);

/** Stop the workers and the port, clean up the EAL. */
void bench_dpdk_stop(void);

#endif
