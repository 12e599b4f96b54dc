/*
 * net.c - the packet path of a worker: Ethernet demux, ARP (RFC 826),
 * IPv4 input validation (RFC 791/1122), ICMP echo (RFC 792), flow
 * steering, and IPv4 output through the ARP cache.
 *
 * Runs on a worker lcore only: no locks, no syscalls, no malloc, no blocking
 * log. Every frame that is not answered is counted under a drop reason.
 */
#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <string.h>

#include "dataplane/steer.h"
#include "dataplane/tcp_wire.h"
#include "dataplane/worker.h"

struct dp_global dp_g;

static void drop(struct dp_worker *w, struct rte_mbuf *m, uint64_t *counter)
{
	__atomic_store_n(counter, *counter + 1, __ATOMIC_RELAXED);
	(void)w;
	rte_pktmbuf_free(m);
}
#define DROP(w, m, field) drop(w, m, &(w)->stats.field)

void dp_tx(struct dp_worker *w, struct rte_mbuf *m)
{
	if (w->ntx == DP_TX_BUF)
		dp_tx_flush(w);
	if (w->ntx == DP_TX_BUF) {
		DROP(w, m, drop_tx_full);
		return;
	}
	w->tx[w->ntx++] = m;
}

void dp_tx_flush(struct dp_worker *w)
{
	struct rte_mbuf *out[DP_TX_BUF];
	struct rte_mbuf **pkts = w->tx;
	unsigned n = w->ntx;
	uint16_t sent;
	uint64_t bytes = 0;

	if (w->fault_tx.enabled) {
		n = fault_apply(&w->fault_tx, w->tx, n, out, DP_TX_BUF, rte_rdtsc(), w->pool,
				&w->stats);
		pkts = out;
	}
	w->ntx = 0;
	if (n == 0)
		return;
	for (unsigned i = 0; i < n; i++)
		bytes += pkts[i]->pkt_len;
	sent = rte_eth_tx_burst(w->port, w->queue, pkts, (uint16_t)n);
	for (unsigned i = sent; i < n; i++) {
		bytes -= pkts[i]->pkt_len;
		DROP(w, pkts[i], drop_tx_full);
	}
	DP_STAT_ADD(&w->stats, tx_packets, sent);
	DP_STAT_ADD(&w->stats, tx_bytes, bytes);
}

/* ---- ARP ---------------------------------------------------------------- */

static struct rte_mbuf *arp_build(struct dp_worker *w, uint16_t op,
				  const struct rte_ether_addr *tha, uint32_t tip)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(w->pool);
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;

	if (!m) {
		DP_STAT_INC(&w->stats, drop_no_mbuf);
		return NULL;
	}
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eth) + sizeof(*arp));
	if (!eth) { /* 42 bytes always fit a data room of frame.h: kept as a drop anyway */
		rte_pktmbuf_free(m);
		DP_STAT_INC(&w->stats, drop_tx_oversize);
		return NULL;
	}
	arp = (struct rte_arp_hdr *)(eth + 1);
	if (op == RTE_ARP_OP_REQUEST)
		memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
	else
		rte_ether_addr_copy(tha, &eth->dst_addr);
	rte_ether_addr_copy(&dp_g.mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(op);
	rte_ether_addr_copy(&dp_g.mac, &arp->arp_data.arp_sha);
	arp->arp_data.arp_sip = rte_cpu_to_be_32(dp_g.ip4);
	if (op == RTE_ARP_OP_REQUEST)
		memset(&arp->arp_data.arp_tha, 0, RTE_ETHER_ADDR_LEN);
	else
		rte_ether_addr_copy(tha, &arp->arp_data.arp_tha);
	arp->arp_data.arp_tip = rte_cpu_to_be_32(tip);
	return m;
}

static void arp_send_request(uint32_t ip, void *arg)
{
	struct dp_worker *w = arg;
	struct rte_mbuf *m = arp_build(w, RTE_ARP_OP_REQUEST, NULL, ip);

	if (m) {
		DP_STAT_INC(&w->stats, tx_arp_request);
		dp_tx(w, m);
	}
}

static void arp_drop_held(void *pkt, void *arg)
{
	struct dp_worker *w = arg;
	DROP(w, (struct rte_mbuf *)pkt, drop_arp_unresolved);
}

/* Fill in the Ethernet header of a held IPv4 packet and send it. */
static void send_resolved(struct dp_worker *w, struct rte_mbuf *m, const uint8_t mac[6])
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

	memcpy(&eth->dst_addr, mac, RTE_ETHER_ADDR_LEN);
	dp_tx(w, m);
}

static void arp_learn_local(struct dp_worker *w, uint32_t ip, const uint8_t mac[6], bool create)
{
	void *flush[ARP_PENDING_MAX];
	unsigned n = arp_cache_learn(&w->arp, ip, mac, create, w->now_us, flush);

	DP_STAT_INC(&w->stats, arp_learned);
	for (unsigned i = 0; i < n; i++)
		send_resolved(w, flush[i], mac);
}

void dp_arp_learn(struct dp_worker *w, const struct dp_learn *l)
{
	arp_learn_local(w, l->ip, l->mac, l->create);
}

void dp_arp_age(struct dp_worker *w)
{
	arp_cache_age(&w->arp, w->now_us, arp_send_request, arp_drop_held, w);
}

static void arp_input(struct dp_worker *w, struct rte_mbuf *m)
{
	struct rte_arp_hdr *arp;
	uint32_t sip, tip;
	bool for_us;

	DP_STAT_INC(&w->stats, rx_arp);
	if (rte_pktmbuf_data_len(m) < sizeof(struct rte_ether_hdr) + sizeof(*arp))
		return DROP(w, m, drop_short);
	arp = rte_pktmbuf_mtod_offset(m, struct rte_arp_hdr *, sizeof(struct rte_ether_hdr));
	if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4)
		return DROP(w, m, drop_short);
	sip = rte_be_to_cpu_32(arp->arp_data.arp_sip);
	tip = rte_be_to_cpu_32(arp->arp_data.arp_tip);
	for_us = tip == dp_g.ip4;

	/* RFC 826 merge: update the sender if known; add it if the packet is
	 * for us. A zero or broadcast sender (ARP probes, RFC 5227) teaches
	 * nothing; neither does a sender claiming our own address. */
	if (sip != 0 && sip != 0xffffffffu && sip != dp_g.ip4 &&
	    !rte_is_multicast_ether_addr(&arp->arp_data.arp_sha)) {
		struct dp_learn l = {.ip = sip, .create = for_us};
		memcpy(l.mac, &arp->arp_data.arp_sha, 6);
		arp_learn_local(w, sip, l.mac, for_us);
		/* Tell the other workers: replies land on any queue. */
		for (unsigned i = 0; i < dp_g.nworkers; i++)
			if (i != w->idx)
				rte_ring_mp_enqueue_elem(dp_g.workers[i]->learn_ring, &l,
							 sizeof(l));
	}
	if (!for_us || arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST)) {
		rte_pktmbuf_free(m);
		return;
	}
	/* Turn the request into our reply in place. */
	{
		struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		rte_ether_addr_copy(&arp->arp_data.arp_sha, &arp->arp_data.arp_tha);
		arp->arp_data.arp_tip = arp->arp_data.arp_sip;
		rte_ether_addr_copy(&dp_g.mac, &arp->arp_data.arp_sha);
		arp->arp_data.arp_sip = rte_cpu_to_be_32(dp_g.ip4);
		arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
		rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
		rte_ether_addr_copy(&dp_g.mac, &eth->src_addr);
		DP_STAT_INC(&w->stats, tx_arp_reply);
		dp_tx(w, m);
	}
}

/* ---- IPv4 output ---------------------------------------------------------- */

void dp_ip4_output(struct dp_worker *w, struct rte_mbuf *m, uint32_t dst)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	uint32_t nexthop = dst;
	uint8_t mac[6];

	if ((dst & dp_g.ip4_mask) != (dp_g.ip4 & dp_g.ip4_mask)) {
		if (!dp_g.ip4_gw)
			return DROP(w, m, drop_no_route);
		nexthop = dp_g.ip4_gw;
	}
	rte_ether_addr_copy(&dp_g.mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	switch (arp_cache_resolve(&w->arp, nexthop, w->now_us, m, mac)) {
	case ARP_HIT:
		send_resolved(w, m, mac);
		break;
	case ARP_QUEUED:
		break;
	case ARP_REQUEST:
		arp_send_request(nexthop, w);
		break;
	case ARP_FULL:
		DROP(w, m, drop_arp_queue_full);
		break;
	}
}

/* ---- ICMP ------------------------------------------------------------------- */

static void icmp_input(struct dp_worker *w, struct rte_mbuf *m, struct rte_ipv4_hdr *ip,
		       unsigned l4len)
{
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)((uint8_t *)ip + rte_ipv4_hdr_len(ip));
	uint32_t src = rte_be_to_cpu_32(ip->src_addr);

	if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0)
		return DROP(w, m, drop_icmp_other);
	if (rte_raw_cksum(icmp, l4len) != 0xffff)
		return DROP(w, m, drop_icmp_csum);
	DP_STAT_INC(&w->stats, rx_icmp_echo);
	if (src == 0 || (src & ~dp_g.ip4_mask) == ~dp_g.ip4_mask || (src >> 28) >= 14)
		return DROP(w, m, drop_not_ours); /* no replies to broadcast/multicast */

	/* Echo reply in place (RFC 792): swap addresses, type 0, new checksums. */
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, l4len);
	ip->dst_addr = ip->src_addr;
	ip->src_addr = rte_cpu_to_be_32(dp_g.ip4);
	ip->time_to_live = 64;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	/* Drop link-layer padding beyond the IP datagram. */
	rte_pktmbuf_trim(m, (uint16_t)(m->pkt_len - sizeof(struct rte_ether_hdr) -
				       rte_be_to_cpu_16(ip->total_length)));
	DP_STAT_INC(&w->stats, tx_icmp_echo);
	dp_ip4_output(w, m, src);
}

/* ---- IPv4 input ------------------------------------------------------------- */

static bool steer_away(struct dp_worker *w, struct rte_mbuf *m, const struct rte_ipv4_hdr *ip,
		       uint8_t proto, uint16_t pa, uint16_t pb);

/* ICMP destination unreachable, fragmentation needed (RFC 1191): quotes the
 * IP header and first 8 bytes of a TCP segment we sent. It belongs to the
 * worker that owns that TCP flow. */
static void icmp_frag_needed(struct dp_worker *w, struct rte_mbuf *m, struct rte_ipv4_hdr *ip,
			     unsigned l4len, bool steered)
{
	const uint8_t *icmp = (const uint8_t *)ip + rte_ipv4_hdr_len(ip);
	const struct rte_ipv4_hdr *inner = (const struct rte_ipv4_hdr *)(icmp + 8);
	unsigned inner_len = l4len - 8u;
	const uint16_t *ports;
	uint16_t mtu;

	if (l4len < 8 + sizeof(*inner) + 8 || rte_raw_cksum(icmp, l4len) != 0xffff)
		return DROP(w, m, drop_icmp_csum);
	if (inner->next_proto_id != IPPROTO_TCP || rte_ipv4_hdr_len(inner) < sizeof(*inner) ||
	    inner_len < rte_ipv4_hdr_len(inner) + 8u ||
	    rte_be_to_cpu_32(inner->src_addr) != dp_g.ip4)
		return DROP(w, m, drop_icmp_other);
	ports = (const uint16_t *)((const uint8_t *)inner + rte_ipv4_hdr_len(inner));
	if (!steered && steer_away(w, m, inner, IPPROTO_TCP, ports[0], ports[1]))
		return;
	memcpy(&mtu, icmp + 6, 2);
	DP_STAT_INC(&w->stats, rx_icmp_frag_needed);
	dp_tcp_icmp_mtu(w, inner, inner_len, rte_be_to_cpu_16(mtu));
	rte_pktmbuf_free(m);
}

/* If the flow (@proto, the addresses of @ip, ports @pa/@pb in network
 * order) belongs to another worker, hand @m over and return true. */
static bool steer_away(struct dp_worker *w, struct rte_mbuf *m, const struct rte_ipv4_hdr *ip,
		       uint8_t proto, uint16_t pa, uint16_t pb)
{
	struct steer_key k = {.proto = proto, .family = 4, .port_a = pa, .port_b = pb};
	unsigned owner;

	if (!w->software_steering)
		return false;
	memcpy(k.addr_a, &ip->src_addr, 4);
	memcpy(k.addr_b, &ip->dst_addr, 4);
	owner = steer_owner(steer_hash(&k), dp_g.nworkers);
	if (owner == w->idx)
		return false;
	if (rte_ring_mp_enqueue(dp_g.workers[owner]->steer_ring, m) != 0)
		DROP(w, m, drop_steer_ring_full);
	else
		DP_STAT_INC(&w->stats, steer_out);
	return true;
}

static void ip4_input(struct dp_worker *w, struct rte_mbuf *m, bool steered)
{
	const unsigned off = sizeof(struct rte_ether_hdr);
	struct rte_ipv4_hdr *ip;
	unsigned hlen, tlen, l4len;
	uint8_t *l4;

	if (rte_pktmbuf_data_len(m) < off + sizeof(*ip))
		return DROP(w, m, drop_short);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, off);
	hlen = rte_ipv4_hdr_len(ip);
	tlen = rte_be_to_cpu_16(ip->total_length);
	if ((ip->version_ihl >> 4) != 4 || hlen < sizeof(*ip) || tlen < hlen)
		return DROP(w, m, drop_ip_bad);
	/* Only single-segment frames come from our pools' data room. */
	if (rte_pktmbuf_data_len(m) < off + tlen)
		return DROP(w, m, drop_short);
	if (!steered) {
		uint64_t f = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
		/* A correct header sums to 0xffff (RFC 1071). */
		if (f == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
		    (f != RTE_MBUF_F_RX_IP_CKSUM_GOOD && rte_raw_cksum(ip, hlen) != 0xffff))
			return DROP(w, m, drop_ip_csum);
	}
	if (rte_be_to_cpu_32(ip->dst_addr) != dp_g.ip4)
		return DROP(w, m, drop_not_ours);
	/* Fragments: MF set or offset non-zero. Reassembly is not done by
	 * design (DESIGN.md): a TCP peer with working PMTUD never fragments. */
	if (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))
		return DROP(w, m, drop_ip_frag);
	if (!steered)
		DP_STAT_INC(&w->stats, rx_ipv4);
	else
		DP_STAT_INC(&w->stats, steer_in);

	l4 = (uint8_t *)ip + hlen;
	l4len = tlen - hlen;
	switch (ip->next_proto_id) {
	case IPPROTO_ICMP: {
		const struct rte_icmp_hdr *icmp = (const struct rte_icmp_hdr *)l4;
		if (l4len < sizeof(*icmp))
			return DROP(w, m, drop_short);
		/* An echo "flow" is (addresses, identifier): one owner, like TCP. */
		if (icmp->icmp_type == 3 /* destination unreachable */ && icmp->icmp_code == 4)
			return icmp_frag_needed(w, m, ip, l4len, steered);
		if (!steered && icmp->icmp_type == RTE_IP_ICMP_ECHO_REQUEST &&
		    steer_away(w, m, ip, IPPROTO_ICMP, icmp->icmp_ident, 0))
			return;
		return icmp_input(w, m, ip, l4len);
	}
	case IPPROTO_TCP:
	case IPPROTO_UDP: {
		const uint16_t *ports = (const uint16_t *)l4;
		if (l4len < 8)
			return DROP(w, m, drop_short);
		if (!steered && steer_away(w, m, ip, ip->next_proto_id, ports[0], ports[1]))
			return;
		if (ip->next_proto_id == IPPROTO_TCP) {
			DP_STAT_INC(&w->stats, rx_tcp);
			return dp_tcp_input(w, m, ip, l4len);
		}
		DP_STAT_INC(&w->stats, rx_udp);
		return DROP(w, m, drop_no_listener);
	}
	default:
		return DROP(w, m, drop_l4_proto);
	}
}

void dp_input(struct dp_worker *w, struct rte_mbuf *m, bool steered)
{
	const struct rte_ether_hdr *eth;

	if (steered)
		return ip4_input(w, m, true);
	DP_STAT_INC(&w->stats, rx_packets);
	DP_STAT_ADD(&w->stats, rx_bytes, m->pkt_len);
	if (rte_pktmbuf_data_len(m) < sizeof(*eth))
		return DROP(w, m, drop_short);
	eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	if (!rte_is_same_ether_addr(&eth->dst_addr, &dp_g.mac) &&
	    !rte_is_broadcast_ether_addr(&eth->dst_addr))
		return DROP(w, m, drop_not_ours);
	switch (rte_be_to_cpu_16(eth->ether_type)) {
	case RTE_ETHER_TYPE_ARP:
		return arp_input(w, m);
	case RTE_ETHER_TYPE_IPV4:
		return ip4_input(w, m, false);
	case RTE_ETHER_TYPE_IPV6:
		return DROP(w, m, drop_ipv6);
	default:
		return DROP(w, m, drop_ether_type);
	}
}
