/*
 * steer.h - which worker owns a flow.
 *
 * A flow (protocol, addresses, ports; for ICMP echo the identifier stands in
 * for the ports) is owned by exactly one worker for its whole life. With
 * software steering the owner is a symmetric hash of the flow: both
 * directions of a connection map to the same worker, whichever queue the
 * port delivered a packet to. The hash is CRC32C (rte_hash_crc, header
 * inline, no EAL needed), so it is also cheap to evaluate when choosing a
 * source port for an active open.
 *
 * Thread safety: pure functions.
 */
#ifndef MX_DATAPLANE_STEER_H
#define MX_DATAPLANE_STEER_H

#include <stdint.h>

struct steer_key {
	uint8_t proto;
	uint8_t family; /* 4 or 6 */
	uint16_t port_a, port_b;
	uint8_t addr_a[16], addr_b[16];
};

/** Symmetric hash: (a, b) and (b, a) give the same value. */
uint32_t steer_hash(const struct steer_key *k);

/** Map a hash onto one of @nworkers (>= 1) without a division. */
static inline unsigned steer_owner(uint32_t hash, unsigned nworkers)
{
	return (unsigned)(((uint64_t)hash * nworkers) >> 32);
}

#endif
