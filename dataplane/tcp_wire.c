/*
 * tcp_wire.c - see tcp_wire.h.
 *
 * Environment of the TCP core on a worker:
 *  - output: one mbuf from the worker's pool per segment; Ethernet + IPv4
 *    (DF set, TTL 64) + the core's TCP header + payload copied from the
 *    send buffer; IPv4 and TCP checksums in software (the virtual ports we
 *    test on offload neither); sent through the ARP-resolving IPv4 output.
 *  - flow table: a per-worker rte_hash keyed by the 40-byte struct tcp_key,
 *    no locks (one writer and reader: the worker). Sized for max_conns +
 *    max_timewait.
 *  - receive buffers: the mbuf itself (zero copy); the core holds a
 *    reference (rte_mbuf_refcnt_update) per buffer it keeps, charged at
 *    the mbuf's whole buffer (buf_truesize = buf_len) against rcv_mem. The
 *    number of held buffers is capped below the pool size so held data can
 *    never starve the RX ring. That cap is only true if every mbuf the
 *    core holds is from this worker's pool: a steered segment carrying
 *    payload is therefore copied into our pool first (dp_tcp_input).
 *  - keyed hash: SipHash-2-4 through OpenSSL's EVP_MAC, keyed per boot.
 *    The context is re-initialised with the key on each call (no
 *    allocation: SipHash's init only loads the key).
 *  - port_ok (active open): with software steering, the reply must hash to
 *    this worker. Active opens on RSS ports with several workers are not
 *    supported yet (the Toeplitz check comes with mxbench's DPDK
 *    transport): they fail with EADDRNOTAVAIL.
 */
#include "dataplane/tcp_wire.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_tcp.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "dataplane/conn_table.h"
#include "dataplane/steer.h"
#include "dataplane/tcp/tcp.h"
#include "dataplane/worker.h"

static uint8_t siphash_key[16];
static EVP_MAC *siphash_mac;

int dp_tcp_boot(void)
{
	if (RAND_bytes(siphash_key, sizeof(siphash_key)) != 1) {
		MX_ERR("tcp: cannot draw the per-boot SipHash key from OpenSSL's RNG");
		return -1;
	}
	siphash_mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	if (!siphash_mac) {
		MX_ERR("tcp: OpenSSL has no SIPHASH MAC");
		return -1;
	}
	return 0;
}

/* ---- environment ------------------------------------------------------- */

static int env_output(void *ctx, const struct tcp_key *key, const void *hdr, size_t hdr_len,
		      const struct tcp_iov *iov, unsigned iovcnt)
{
	struct dp_worker *w = ctx;
	struct rte_mbuf *m = rte_pktmbuf_alloc(w->pool);
	struct rte_ipv4_hdr *ip;
	uint8_t *p, *tcp;
	size_t plen = 0, frame;
	uint32_t dst;

	if (!m) {
		DP_STAT_INC(&w->stats, drop_no_mbuf);
		return -1;
	}
	for (unsigned i = 0; i < iovcnt; i++)
		plen += iov[i].len;
	/* The pools hold a frame of [port] mtu (frame.h) and the core's MSS
	 * comes from that MTU, so this does not happen; but segment sizes
	 * follow what peers advertise, and a size they drive is never a
	 * panic: the segment is dropped and counted, TCP retransmits it. */
	frame = sizeof(struct rte_ether_hdr) + sizeof(*ip) + hdr_len + plen;
	if (frame > rte_pktmbuf_tailroom(m) ||
	    !(p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)frame))) {
		rte_pktmbuf_free(m);
		DP_STAT_INC(&w->stats, drop_tx_oversize);
		return -1;
	}
	ip = (struct rte_ipv4_hdr *)(p + sizeof(struct rte_ether_hdr));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + hdr_len + plen));
	ip->packet_id = 0; /* DF set: the ID is not used (RFC 6864) */
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	memcpy(&ip->src_addr, key->laddr, 4);
	memcpy(&ip->dst_addr, key->raddr, 4);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	tcp = (uint8_t *)(ip + 1);
	memcpy(tcp, hdr, hdr_len);
	p = tcp + hdr_len;
	for (unsigned i = 0; i < iovcnt; i++) {
		memcpy(p, iov[i].base, iov[i].len);
		p += iov[i].len;
	}
	((struct rte_tcp_hdr *)tcp)->cksum = 0;
	((struct rte_tcp_hdr *)tcp)->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
	memcpy(&dst, key->raddr, 4);
	dp_ip4_output(w, m, rte_be_to_cpu_32(dst));
	return 0;
}

static void *env_lookup(void *ctx, const struct tcp_key *key)
{
	struct dp_worker *w = ctx;
	void *data;

	return rte_hash_lookup_data(w->flows, key, &data) >= 0 ? data : NULL;
}

static int env_insert(void *ctx, const struct tcp_key *key, void *obj)
{
	struct dp_worker *w = ctx;

	if (rte_hash_lookup(w->flows, key) >= 0)
		return -EEXIST;
	return rte_hash_add_key_data(w->flows, key, obj);
}

static void env_remove(void *ctx, const struct tcp_key *key)
{
	struct dp_worker *w = ctx;

	rte_hash_del_key(w->flows, key);
}

static void env_buf_ref(void *ctx, void *buf)
{
	(void)ctx;
	rte_mbuf_refcnt_update(buf, 1);
}

static void env_buf_free(void *ctx, void *buf)
{
	(void)ctx;
	rte_pktmbuf_free(buf);
}

static uint32_t env_buf_truesize(void *ctx, void *buf)
{
	(void)ctx;
	return ((const struct rte_mbuf *)buf)->buf_len;
}

static uint64_t env_keyed_hash(void *ctx, const void *data, size_t len)
{
	struct dp_worker *w = ctx;
	size_t outlen = 0, eight = 8;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &eight),
			       OSSL_PARAM_END};
	uint8_t out[8];
	uint64_t h;

	if (EVP_MAC_init(w->siphash, siphash_key, sizeof(siphash_key), params) != 1 ||
	    EVP_MAC_update(w->siphash, data, len) != 1 ||
	    EVP_MAC_final(w->siphash, out, &outlen, sizeof(out)) != 1 || outlen != 8)
		mx_panic("tcp: SipHash failed");
	memcpy(&h, out, 8);
	return h;
}

static void env_conn_track(void *ctx, uint32_t idx, const struct tcp_key *key)
{
	struct dp_worker *w = ctx;

	dp_conn_table_set(w->conns, w->idx, idx, key);
}

void dp_tcp_restart_probes(struct dp_worker *w)
{
	static const uint32_t round_at_ms[DP_RESTART_ROUNDS] = {100, 1100, 3100};
	unsigned sent = 0;

	if (w->restart_round >= DP_RESTART_ROUNDS || w->now_us < w->restart_next_us)
		return;
	while (w->restart_pos < w->restart_n && sent < DP_RESTART_BURST) {
		const struct tcp_key *k = &w->restart_keys[w->restart_pos++];

		if (k->family == TCP_AF_INET) {
			tcp_send_restart_probe(w->tcp, k);
			sent++;
		}
	}
	if (w->restart_pos < w->restart_n)
		return; /* the rest on the next iteration */
	if (w->restart_round == 0)
		MX_INFO("worker %u: sent SYN probes to the %u connections the previous "
			"incarnation left open (they end with a RST)",
			w->idx, w->restart_n);
	w->restart_pos = 0;
	if (++w->restart_round < DP_RESTART_ROUNDS)
		w->restart_next_us = (uint64_t)round_at_ms[w->restart_round] * 1000;
}

static bool env_port_ok(void *ctx, const struct tcp_key *key)
{
	struct dp_worker *w = ctx;
	struct steer_key k = {.proto = IPPROTO_TCP, .family = 4};

	if (dp_g.nworkers == 1)
		return true;
	if (!w->software_steering)
		return false; /* RSS: see the header comment */
	k.port_a = rte_cpu_to_be_16(key->lport);
	k.port_b = rte_cpu_to_be_16(key->rport);
	memcpy(k.addr_a, key->laddr, 4);
	memcpy(k.addr_b, key->raddr, 4);
	return steer_owner(steer_hash(&k), dp_g.nworkers) == w->idx;
}

static void *env_zalloc(void *ctx, size_t size)
{
	struct dp_worker *w = ctx;

	return rte_zmalloc_socket("mx_tcp", size, RTE_CACHE_LINE_SIZE,
				  (int)rte_lcore_to_socket_id(w->lcore));
}

static void env_free(void *ctx, void *p)
{
	(void)ctx;
	rte_free(p);
}

/* ---- echo test service ------------------------------------------------- */

/* Write back what was read, as far as the send buffer allows; the rest
 * waits for TCP_EV_WRITABLE (back-pressure both ways: unread data closes
 * the peer's window). After the peer's FIN and once everything is echoed,
 * half-close our side too. */
static void echo_pump(struct dp_worker *w, struct tcp_tcb *t)
{
	struct tcp_iov iov[16];
	unsigned n;

	while ((n = tcp_recv_peek(t, iov, RTE_DIM(iov))) > 0) {
		size_t done = 0;
		bool short_write = false;
		for (unsigned i = 0; i < n; i++) {
			ssize_t s = tcp_send(t, iov[i].base, iov[i].len, w->now_us);
			if (s < 0) {
				tcp_abort(t, w->now_us);
				return;
			}
			done += (size_t)s;
			if ((size_t)s < iov[i].len) {
				short_write = true;
				break;
			}
		}
		if (done)
			tcp_recv_consume(t, done, w->now_us);
		if (short_write || done == 0)
			return;
	}
	if (tcp_tcb_state(t) == TCP_CLOSE_WAIT)
		tcp_shutdown(t, w->now_us);
}

static void echo_event(struct tcp_tcb *t, void *user, enum tcp_event ev, int reason)
{
	struct dp_worker *w = user;

	(void)reason;
	switch (ev) {
	case TCP_EV_ACCEPTED:
	case TCP_EV_READABLE:
	case TCP_EV_WRITABLE:
	case TCP_EV_PEER_FIN:
		echo_pump(w, t);
		break;
	case TCP_EV_CLOSED:
		tcp_close(t, w->now_us);
		break;
	default:
		break;
	}
}

/* ---- setup --------------------------------------------------------------- */

int dp_tcp_init(struct dp_worker *w, const struct mx_config *c, unsigned pool_mbufs)
{
	char name[RTE_HASH_NAMESIZE];
	struct rte_hash_parameters hp = {0};
	struct tcp_config tc;
	struct tcp_env env = {
		.ctx = w,
		.output = env_output,
		.flow_lookup = env_lookup,
		.flow_insert = env_insert,
		.flow_remove = env_remove,
		.buf_ref = env_buf_ref,
		.buf_free = env_buf_free,
		.buf_truesize = env_buf_truesize,
		.keyed_hash = env_keyed_hash,
		.conn_track = env_conn_track,
		.port_ok = env_port_ok,
		.mem_zalloc = env_zalloc,
		.mem_free = env_free,
	};
	unsigned rx_reserve = (unsigned)c->port_rx_desc + DP_TX_BUF + 64;

	snprintf(name, sizeof(name), "mx_flows_%u", w->idx);
	hp.name = name;
	hp.entries = (uint32_t)(c->tcp_max_conns + c->tcp_max_timewait);
	hp.key_len = sizeof(struct tcp_key);
	hp.hash_func = rte_hash_crc;
	hp.socket_id = (int)rte_lcore_to_socket_id(w->lcore);
	w->flows = rte_hash_create(&hp);
	w->siphash = EVP_MAC_CTX_new(siphash_mac);
	if (!w->flows || !w->siphash) {
		MX_ERR("worker %u: cannot create its flow table (%u entries): %s", w->idx,
		       hp.entries, rte_strerror(rte_errno));
		return -1;
	}

	tcp_config_default(&tc);
	tc.max_tcbs = (uint32_t)c->tcp_max_conns;
	tc.max_timewait = (uint32_t)c->tcp_max_timewait;
	tc.sndbuf = (uint32_t)c->tcp_sndbuf_kb * 1024;
	tc.rcvbuf = (uint32_t)c->tcp_rcvbuf_kb * 1024;
	tc.snd_chunks = (uint32_t)(((uint64_t)c->tcp_snd_mem_mb << 20) / tc.chunk_size);
	tc.rcv_mem = (uint64_t)c->tcp_rcv_mem_mb << 20;
	/* Held receive buffers are mbufs of our pool: keep enough free for the
	 * RX ring and our own output, or held data could stop reception. */
	if (pool_mbufs <= rx_reserve + 128) {
		MX_ERR("worker %u: %u mbufs per worker leave nothing for TCP after the RX ring; "
		       "raise [port] mbufs",
		       w->idx, pool_mbufs);
		return -1;
	}
	if (tc.rcv_segs > pool_mbufs - rx_reserve)
		tc.rcv_segs = pool_mbufs - rx_reserve;
	tc.mtu = (uint16_t)c->port_mtu;
	tc.rto_min_ms = (uint32_t)c->tcp_rto_min_ms;
	tc.delack_ms = (uint32_t)c->tcp_delack_ms;
	tc.time_wait_ms = (uint32_t)c->tcp_time_wait_s * 1000;
	tc.syncookies = c->tcp_syncookies;
	tc.timestamps = c->tcp_timestamps;
	tc.sack = c->tcp_sack;
	tc.wscale = c->tcp_window_scaling;
	tc.keepalive = c->tcp_keepalive;
	tc.fin_wait2_ms = (uint32_t)c->tcp_fin_wait2_s * 1000;
	tc.zero_window_max_ms = (uint32_t)c->tcp_zero_window_max_s * 1000;
	tc.snd_pressure_pct = (uint8_t)c->tcp_snd_mem_pressure_pct;
	tc.synack_retries = (uint8_t)c->tcp_synack_retries;
	tc.lifetime_max_ms = (uint32_t)c->tcp_max_lifetime_s * 1000;
	w->tcp = tcp_stack_create(&tc, &env, w->wheel, 0);
	if (!w->tcp) {
		MX_ERR("worker %u: cannot create the TCP stack: %s (check [tcp] sizes against "
		       "[eal] memory_mb)",
		       w->idx, strerror(errno));
		return -1;
	}
	if (c->tcp_echo_port && !tcp_listen(w->tcp, TCP_AF_INET, (uint16_t)c->tcp_echo_port,
					    (unsigned)c->tcp_backlog, echo_event, w)) {
		MX_ERR("worker %u: cannot listen on echo port %lld: %s", w->idx,
		       (long long)c->tcp_echo_port, strerror(errno));
		return -1;
	}
	return 0;
}

void dp_tcp_fini(struct dp_worker *w)
{
	if (w->tcp)
		tcp_stack_destroy(w->tcp);
	w->tcp = NULL;
	if (w->flows)
		rte_hash_free(w->flows);
	w->flows = NULL;
	EVP_MAC_CTX_free(w->siphash);
	w->siphash = NULL;
}

/* ---- input ------------------------------------------------------------- */

void dp_tcp_input(struct dp_worker *w, struct rte_mbuf *m, struct rte_ipv4_hdr *ip, unsigned l4len)
{
	const struct rte_tcp_hdr *th =
		(const struct rte_tcp_hdr *)((uint8_t *)ip + rte_ipv4_hdr_len(ip));
	uint64_t f = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	struct tcp_key key;

	if (l4len < sizeof(*th)) {
		DP_STAT_INC(&w->stats, drop_short);
		rte_pktmbuf_free(m);
		return;
	}
	if (f == RTE_MBUF_F_RX_L4_CKSUM_BAD ||
	    (f != RTE_MBUF_F_RX_L4_CKSUM_GOOD && rte_ipv4_udptcp_cksum_verify(ip, th) != 0)) {
		DP_STAT_INC(&w->stats, drop_tcp_csum);
		rte_pktmbuf_free(m);
		return;
	}
	/*
	 * A segment steered here by another worker sits in that worker's
	 * pool. Our held-buffer bound (rcv_segs) is sized against our own
	 * pool, so holding foreign mbufs would let all workers together drain
	 * the receiving worker's pool and stop its RX ring (ARP included).
	 * Copying a segment with payload into our pool keeps each pool
	 * budgeted by the one stack that can hold its mbufs; the original
	 * goes back to its pool at once. Pure ACKs are never held: no copy.
	 */
	if (m->pool != w->pool && l4len > (unsigned)((th->data_off >> 4) * 4)) {
		struct rte_mbuf *c = rte_pktmbuf_copy(m, w->pool, 0, UINT32_MAX);
		size_t ip_off = (size_t)((uint8_t *)ip - rte_pktmbuf_mtod(m, uint8_t *));

		rte_pktmbuf_free(m);
		if (!c) {
			DP_STAT_INC(&w->stats, drop_no_mbuf);
			return;
		}
		m = c;
		ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, ip_off);
		th = (const struct rte_tcp_hdr *)((uint8_t *)ip + rte_ipv4_hdr_len(ip));
	}
	tcp_key_init4(&key, &ip->dst_addr, rte_be_to_cpu_16(th->dst_port), &ip->src_addr,
		      rte_be_to_cpu_16(th->src_port));
	tcp_input(w->tcp, &key, th, l4len, m, w->now_us);
	/* The core took its own references on what it keeps. */
	rte_pktmbuf_free(m);
}

void dp_tcp_icmp_mtu(struct dp_worker *w, const struct rte_ipv4_hdr *inner, unsigned inner_len,
		     uint16_t mtu)
{
	unsigned ihl = rte_ipv4_hdr_len(inner);
	const uint8_t *l4 = (const uint8_t *)inner + ihl;
	uint16_t sport, dport;
	uint32_t seq;
	struct tcp_key key;

	if (inner_len < ihl + 8)
		return;
	memcpy(&sport, l4, 2);
	memcpy(&dport, l4 + 2, 2);
	memcpy(&seq, l4 + 4, 4);
	/* The quoted packet is one we sent: its source is our side. */
	tcp_key_init4(&key, &inner->src_addr, rte_be_to_cpu_16(sport), &inner->dst_addr,
		      rte_be_to_cpu_16(dport));
	tcp_icmp_mtu(w->tcp, &key, rte_be_to_cpu_32(seq), mtu, w->now_us);
}
