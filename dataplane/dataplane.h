/*
 * dataplane.h - start, run and stop the DPDK dataplane.
 *
 * Boot order (control thread, i.e. the EAL main lcore, only):
 *   dp_eal_init()     EAL from the [eal] config section (no hand-written
 *                     command line)
 *   dp_port_init()    the port named by [port] device, one RX/TX queue pair
 *                     and one mbuf pool per worker lcore, steering mode
 *   dp_start()        launch the worker loops
 *   ... control loop: dp_drain_logs(), dp_stats_read() ...
 *   dp_stop()         stop workers, wait for them, stop the port, EAL cleanup
 */
#ifndef MX_DATAPLANE_DATAPLANE_H
#define MX_DATAPLANE_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config-t.h"
#include "dataplane/dataplane-t.h"
#include "dataplane/tcp/tcp-t.h"

struct tcp_stack;
struct timer_wheel;

/* What a service (the SMTP server, later others) gets for each worker. */
struct dp_service_ctx {
	unsigned worker;       /* worker index, 0 .. dp_nworkers()-1 */
	unsigned lcore;	       /* its EAL lcore (for NUMA placement) */
	struct tcp_stack *tcp; /* the worker's TCP stack */
	struct timer_wheel *wheel;
	const uint64_t *now_us; /* the worker's clock, updated every loop */
};

/* An application running on every worker on top of its TCP stack. */
struct dp_service {
	const char *name;
	/* Boot, main lcore, once per worker after its TCP stack exists: set
	 * up (listen, pools). Returns the per-worker state or NULL (logged). */
	void *(*init)(const struct dp_service_ctx *ctx, const struct mx_config *c);
	/* Worker lcore, every loop iteration (optional): completions, rings. */
	void (*poll)(void *state);
	/* Worker lcore (optional), at the first loop iteration that sees a new
	 * configuration generation (config_current()): apply the keys marked
	 * live. @c is valid only during the call; copy what is needed. */
	void (*reconfig)(void *state, const struct mx_config *c);
	/* Shutdown, main lcore, workers stopped and the TCP stack destroyed. */
	void (*fini)(void *state);
};

/** Register @svc (static storage) before dp_port_init(). Returns 0 or -1
 * if too many services. Boot only. */
int dp_service_register(const struct dp_service *svc);

/** Initialise the EAL from @c (read during the call only). Returns 0 or
 * -1 (logged). */
int dp_eal_init(const struct mx_config *c, const char *argv0);

/** Configure and start the port and per-worker state from @c (read during
 * the call only: workers then follow config_current() and hand each new
 * generation to the services' reconfig hooks). Returns 0 or -1 (logged,
 * with the reason: device not found, queues, mempool ...). */
int dp_port_init(const struct mx_config *c);

/** Launch a worker loop on every worker lcore. */
int dp_start(void);

/** Ask workers to stop, wait for them, close the port, clean up the EAL. */
void dp_stop(void);

/** Number of worker lcores. */
unsigned dp_nworkers(void);

/** Copy worker @i's counters (relaxed loads; control thread). */
void dp_stats_read(unsigned i, struct dp_stats *out);

struct tcp_stats;
/** Copy worker @i's TCP counters (relaxed loads; control thread). */
void dp_tcp_stats(unsigned i, struct tcp_stats *out);

/* What worker @i holds against its bounds: TCP memory and its mbuf pool.
 * Control thread. */
struct dp_usage {
	struct tcp_usage tcp;
	uint64_t mbufs_in_use, mbufs; /* the worker's mbuf pool */
};
void dp_usage_read(unsigned i, struct dp_usage *out);

/** Describe the port into @buf: name, MAC, queues, steering mode, offloads. */
void dp_describe(char *buf, size_t len);

/** Move queued worker log lines to stderr. Control thread only. Returns the
 * number of lines written. */
unsigned dp_drain_logs(void);

/** The EAL runtime directory (for privilege drop: chown before setuid). */
const char *dp_runtime_dir(void);

#endif
