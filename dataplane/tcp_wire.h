/*
 * tcp_wire.h - the TCP core (dataplane/tcp) wired into a worker: its
 * environment callbacks on DPDK (mbufs, rte_hash flow table, SipHash from
 * OpenSSL), segment input from IPv4, ICMP fragmentation-needed, and the
 * built-in echo test service. Internal to dataplane/; worker lcore only
 * unless stated.
 */
#ifndef MX_DATAPLANE_TCP_WIRE_H
#define MX_DATAPLANE_TCP_WIRE_H

#include <rte_ip.h>
#include <rte_mbuf.h>

#include "core/config-t.h"

struct dp_worker;

/** Boot (main lcore): generate the per-boot SipHash key. Returns 0 or -1. */
int dp_tcp_boot(void);

/** Boot (main lcore): create @w's flow table and TCP stack from [tcp], and
 * the echo listener if [tcp] echo_port is set. Returns 0 or -1 (logged). */
int dp_tcp_init(struct dp_worker *w, const struct mx_config *c, unsigned pool_mbufs);

/** Shutdown (main lcore, workers stopped): destroy the stack and table. */
void dp_tcp_fini(struct dp_worker *w);

/* Probes per previous-incarnation connection (conn_table.h), at 0.1, 1.1
 * and 3.1 s after the worker starts: the first resolves the next hop by
 * ARP, the others cover a lost SYN or challenge ACK. At most
 * DP_RESTART_BURST probes per loop iteration. */
#define DP_RESTART_ROUNDS 3
#define DP_RESTART_BURST  64

/** Worker loop: send the due restart probes (no-op when none). */
void dp_tcp_restart_probes(struct dp_worker *w);

/** A TCP segment for us on a flow we own: verify the checksum, hand it to
 * the core. Takes ownership of @m. */
void dp_tcp_input(struct dp_worker *w, struct rte_mbuf *m, struct rte_ipv4_hdr *ip, unsigned l4len);

/** ICMP fragmentation needed (RFC 1191) about one of our TCP flows, already
 * steered to its owner. @inner: the quoted IP header; @inner_len bytes of it
 * and what follows are available. */
void dp_tcp_icmp_mtu(struct dp_worker *w, const struct rte_ipv4_hdr *inner, unsigned inner_len,
		     uint16_t mtu);

#endif
