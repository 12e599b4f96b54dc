/*
 * dataplane-t.h - types shared between the dataplane and the control
 * thread: per-lcore counters and the public view of a worker.
 *
 * Counters are plain uint64_t, each written by exactly one worker lcore
 * (DP_STAT_ADD) and read by the control thread with relaxed atomic loads:
 * no locks, no torn reads on 64-bit targets.
 */
#ifndef MX_DATAPLANE_DATAPLANE_T_H
#define MX_DATAPLANE_DATAPLANE_T_H

#include <stdint.h>

/* X(name, help): every dataplane counter, in the order `show stats` prints. */
#define DP_STATS(X)                                                                 \
	X(loops, "worker loop iterations")                                          \
	X(idle_sleeps, "idle sleeps taken (worker idle_sleep_us)")                  \
	X(rx_packets, "frames received from the port")                              \
	X(rx_bytes, "bytes received from the port")                                 \
	X(tx_packets, "frames sent to the port")                                    \
	X(tx_bytes, "bytes sent to the port")                                       \
	X(rx_arp, "ARP frames received")                                            \
	X(tx_arp_reply, "ARP replies sent")                                         \
	X(tx_arp_request, "ARP requests sent")                                      \
	X(arp_learned, "ARP entries learnt or refreshed")                           \
	X(rx_ipv4, "IPv4 packets received for us")                                  \
	X(rx_icmp_echo, "ICMP echo requests received")                              \
	X(tx_icmp_echo, "ICMP echo replies sent")                                   \
	X(rx_tcp, "TCP segments received")                                          \
	X(rx_udp, "UDP datagrams received")                                         \
	X(steer_out, "packets handed to their owner worker")                        \
	X(steer_in, "packets received from another worker")                         \
	X(drop_short, "dropped: truncated frame or header")                         \
	X(drop_ether_type, "dropped: ethertype not handled")                        \
	X(drop_not_ours, "dropped: not addressed to us")                            \
	X(drop_ip_bad, "dropped: malformed IPv4 header")                            \
	X(drop_ip_csum, "dropped: bad IPv4 header checksum")                        \
	X(drop_ip_frag, "dropped: IPv4 fragment")                                   \
	X(drop_icmp_csum, "dropped: bad ICMP checksum")                             \
	X(drop_tcp_csum, "dropped: bad TCP checksum")                               \
	X(rx_icmp_frag_needed, "ICMP fragmentation-needed received for a TCP flow") \
	X(drop_icmp_other, "dropped: ICMP type not handled")                        \
	X(drop_l4_proto, "dropped: IP protocol not handled")                        \
	X(drop_no_listener, "dropped: TCP/UDP to a port with no service")           \
	X(drop_ipv6, "dropped: IPv6 (not yet handled)")                             \
	X(drop_no_route, "dropped: destination off-link and no gateway")            \
	X(drop_arp_unresolved, "dropped: next hop did not answer ARP")              \
	X(drop_arp_queue_full, "dropped: too many packets waiting for ARP")         \
	X(drop_steer_ring_full, "dropped: owner worker's ring full")                \
	X(drop_tx_full, "dropped: port TX queue full")                              \
	X(drop_no_mbuf, "dropped: mbuf pool empty")                                 \
	X(drop_tx_oversize, "dropped: frame to send larger than an mbuf")           \
	X(fault_drop, "fault injection: frames dropped")                            \
	X(fault_dup, "fault injection: frames duplicated")                          \
	X(fault_delay, "fault injection: frames delayed or reordered")              \
	X(log_dropped, "log lines dropped (log ring full)")

struct dp_stats {
#define X(name, help) uint64_t name;
	DP_STATS(X)
#undef X
};

#define DP_STAT_ADD(s, field, n) \
	__atomic_store_n(&(s)->field, (s)->field + (uint64_t)(n), __ATOMIC_RELAXED)
#define DP_STAT_INC(s, field) DP_STAT_ADD(s, field, 1)

#endif
