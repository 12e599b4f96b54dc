/*
 * worker.h - per-worker-lcore state and the packet path (internal to
 * dataplane/). Everything here runs on one worker lcore and touches only
 * that worker's state, except the rings, which are the only way workers
 * talk to each other (steering hand-over, ARP learning).
 */
#ifndef MX_DATAPLANE_WORKER_H
#define MX_DATAPLANE_WORKER_H

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <stdbool.h>
#include <stdint.h>

#include "dataplane/arp_cache.h"
#include "dataplane/dataplane-t.h"
#include "dataplane/fault.h"
#include "dataplane/timer.h"

struct tcp_stack;
struct rte_hash;
struct evp_mac_ctx_st;

#define DP_MAX_BURST	256
#define DP_MAX_SERVICES 4
#define DP_TX_BUF	(2 * DP_MAX_BURST)

/* One ARP learning message between workers (rte_ring element, 16 bytes). */
struct dp_learn {
	uint32_t ip; /* host order */
	uint8_t mac[6];
	uint8_t create;
	uint8_t pad[5];
};

struct dp_conn_table;
struct dp_worker {
	unsigned idx;	/* 0 .. nworkers-1 */
	unsigned lcore; /* EAL lcore id */
	uint16_t port;
	uint16_t queue;
	unsigned burst;
	unsigned idle_sleep_us;
	bool software_steering;

	struct rte_mempool *pool;
	struct rte_ring *steer_ring; /* MP/SC: packets of flows we own */
	struct rte_ring *learn_ring; /* MP/SC: struct dp_learn */
	struct rte_ring *log_ring;   /* SP/SC: log lines to the control thread */
	struct rte_mempool *log_pool;

	struct arp_cache arp;
	struct timer_wheel *wheel;
	uint64_t now_us;
	uint64_t next_arp_age_us;

	struct fault_dir fault_rx, fault_tx;

	struct tcp_stack *tcp;		  /* dataplane/tcp core, see tcp_wire.c */
	struct dp_conn_table *conns;	  /* live connections, outlives us (or NULL) */
	struct tcp_key *restart_keys;	  /* the previous incarnation's, to reset */
	uint32_t restart_n, restart_pos;  /* how many, next to probe */
	uint32_t restart_round;		  /* rounds done (DP_RESTART_ROUNDS) */
	uint64_t restart_next_us;	  /* when the next round starts */
	struct rte_hash *flows;		  /* its flow table */
	struct evp_mac_ctx_st *siphash;	  /* keyed hash for ISNs and cookies */
	void *svc_state[DP_MAX_SERVICES]; /* per registered dp_service */

	unsigned ntx;
	struct rte_mbuf *tx[DP_TX_BUF];

	struct dp_stats stats __rte_cache_aligned;
} __rte_cache_aligned;

/* Shared read-only after boot. */
struct dp_global {
	struct dp_conn_table *conns; /* [tcp] conn_table, opened by dp_start() */
	unsigned nworkers;
	uint16_t port;
	struct rte_ether_addr mac;
	uint32_t ip4;	   /* host order */
	uint32_t ip4_mask; /* host order */
	uint32_t ip4_gw;   /* 0: none */
	uint64_t tsc_hz;
	struct dp_worker *workers[RTE_MAX_LCORE];
};
extern struct dp_global dp_g;

/** Process one received frame (worker lcore only; takes ownership of @m).
 * @steered: the frame came from another worker through our steer ring. */
void dp_input(struct dp_worker *w, struct rte_mbuf *m, bool steered);

/** Apply an ARP learning message from another worker. */
void dp_arp_learn(struct dp_worker *w, const struct dp_learn *l);

/** Send an IPv4 packet whose IP header is complete; fills the Ethernet
 * header through the ARP cache (the packet may wait for resolution).
 * @dst: final destination, host order. Takes ownership of @m. */
void dp_ip4_output(struct dp_worker *w, struct rte_mbuf *m, uint32_t dst);

/** Queue @m for transmission (takes ownership). */
void dp_tx(struct dp_worker *w, struct rte_mbuf *m);

/** Send everything queued (after TX fault injection). */
void dp_tx_flush(struct dp_worker *w);

/** ARP aging and probes; called from the worker loop. */
void dp_arp_age(struct dp_worker *w);

#endif
