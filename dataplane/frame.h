/*
 * frame.h - how large a worker's mbufs must be for the configured MTU, and
 * whether a frame fits one. Pure functions of the sizes (no EAL), shared by
 * the pool set-up (dataplane.c), the output path (tcp_wire.c) and the unit
 * tests.
 *
 * A frame is the Ethernet header, an optional 802.1Q tag and at most MTU
 * bytes of IP datagram (the FCS is the NIC's, but some PMDs land it in the
 * mbuf, so room is kept for it too). Every frame lives in one mbuf: the
 * packet path neither chains nor expects chained mbufs.
 */
#ifndef MX_DATAPLANE_FRAME_H
#define MX_DATAPLANE_FRAME_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf_core.h>

#define DP_FRAME_ROUND 1024u /* data rooms grow in KiB steps */

/** Largest frame for @mtu: Ethernet header + VLAN tag + @mtu + FCS. */
static inline uint32_t dp_frame_max(uint32_t mtu)
{
	return RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN + mtu + RTE_ETHER_CRC_LEN;
}

/** The data room (headroom included, what rte_pktmbuf_pool_create()
 * takes) a pool needs so that one mbuf holds any frame of @mtu after
 * RTE_PKTMBUF_HEADROOM: never less than DPDK's default (2048 + headroom),
 * else dp_frame_max() rounded up to DP_FRAME_ROUND. At most 65535 for
 * every MTU the config accepts (576..9000). */
static inline uint32_t dp_frame_dataroom(uint32_t mtu)
{
	uint32_t need = (dp_frame_max(mtu) + DP_FRAME_ROUND - 1) / DP_FRAME_ROUND * DP_FRAME_ROUND;

	if (need < RTE_MBUF_DEFAULT_DATAROOM)
		need = RTE_MBUF_DEFAULT_DATAROOM;
	return need + RTE_PKTMBUF_HEADROOM;
}

#endif
