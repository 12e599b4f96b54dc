/*
 * dataplane.c - EAL and port bring-up, worker lcores and their loop,
 * worker log rings. See dataplane.h for the boot order.
 *
 * Boot and control paths may allocate (rte_zmalloc, jemalloc) and log
 * directly; the worker loop (worker_main) may not: it polls, processes,
 * transmits, advances its timers and reports an RCU quiescent state each
 * iteration, and talks to other threads only through rte_rings.
 */
#include <errno.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_random.h>
#include <stdio.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "core/config.h"
#include "core/log.h"
#include "core/tlsmem.h"
#include "dataplane/conn_table.h"
#include "dataplane/dataplane.h"
#include "dataplane/frame.h"
#include "dataplane/tcp/tcp.h"
#include "dataplane/tcp_wire.h"
#include "dataplane/worker.h"

#define LOG_RING_SIZE 1024
#define LOG_LINE_MAX  248

struct log_elem {
	uint32_t level;
	uint32_t len;
	char text[LOG_LINE_MAX];
};

static volatile bool stop_flag;
static const struct dp_service *services[DP_MAX_SERVICES];
static unsigned nservices;
static bool port_started;
static uint64_t boot_generation; /* of the config dp_port_init() was given */
static char port_desc[512];
static __thread struct dp_worker *this_worker;

/* ---- EAL ------------------------------------------------------------------ */

int dp_eal_init(const struct mx_config *c, const char *argv0)
{
	char *argv[64];
	char bufs[16][MX_CFG_STR + 16];
	int argc = 0, nb = 0, rc;

#define ARG(s)	  (argv[argc++] = (char *)(s))
#define ARGF(...) (snprintf(bufs[nb], sizeof(bufs[nb]), __VA_ARGS__), argv[argc++] = bufs[nb++])
	ARG(argv0);
	ARG("--lcores");
	ARG(c->eal_lcores);
	ARGF("--main-lcore=%lld", (long long)c->eal_main_lcore);
	ARG("--file-prefix");
	ARG(c->eal_file_prefix);
	ARGF("--log-level=%lld", (long long)c->eal_log_level);
	ARGF("-m%lld", (long long)c->eal_memory_mb);
	/* No shared config files or multi-process socket (we are a single
	 * primary process), no telemetry socket: nothing is left behind in
	 * the runtime directory and nothing listens that we do not control. */
	ARG("--no-shconf");
	ARG("--no-telemetry");
	if (c->eal_no_huge)
		ARG("--no-huge");
	if (c->eal_no_pci)
		ARG("--no-pci");
	for (unsigned i = 0; i < c->eal_pci_allow.n; i++) {
		ARG("-a");
		ARG(c->eal_pci_allow.v[i]);
	}
	for (unsigned i = 0; i < c->eal_vdev.n; i++) {
		ARG("--vdev");
		ARG(c->eal_vdev.v[i]);
	}
	argv[argc] = NULL;
#undef ARG
#undef ARGF
	{
		char line[1024];
		size_t off = 0;
		for (int i = 1; i < argc && off < sizeof(line); i++)
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %s", argv[i]);
		MX_INFO("EAL arguments:%s", line);
	}
	rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		MX_ERR("EAL initialisation failed: %s (check [eal] in %s)", rte_strerror(rte_errno),
		       c->path);
		return -1;
	}
	if (rte_lcore_count() < 2) {
		MX_ERR("[eal] lcores = %s gives no worker lcore: list at least two lcores (the "
		       "first is the control thread)",
		       c->eal_lcores);
		return -1;
	}
	rte_srand((uint64_t)c->fault_seed);
	dp_g.tsc_hz = rte_get_tsc_hz();
	return 0;
}

int dp_service_register(const struct dp_service *svc)
{
	if (nservices == DP_MAX_SERVICES)
		return -1;
	services[nservices++] = svc;
	return 0;
}

const char *dp_runtime_dir(void)
{
	return rte_eal_get_runtime_dir();
}

/* ---- worker logging --------------------------------------------------------- */

/* Worker sink: copy the line into our log ring; if full, count and drop.
 * Never blocks, never writes. */
static void worker_log_sink(enum mx_log_level level, const char *line, size_t len)
{
	struct dp_worker *w = this_worker;
	struct log_elem e;

	e.level = level;
	e.len = (uint32_t)(len < LOG_LINE_MAX ? len : LOG_LINE_MAX);
	memcpy(e.text, line, e.len);
	if (rte_ring_sp_enqueue_elem(w->log_ring, &e, sizeof(e)) != 0)
		DP_STAT_INC(&w->stats, log_dropped);
}

unsigned dp_drain_logs(void)
{
	unsigned total = 0;

	for (unsigned i = 0; i < dp_g.nworkers; i++) {
		struct dp_worker *w = dp_g.workers[i];
		struct log_elem e;
		char line[LOG_LINE_MAX + 32];

		while (w && rte_ring_sc_dequeue_elem(w->log_ring, &e, sizeof(e)) == 0) {
			int n = snprintf(line, sizeof(line), "worker %u: %.*s", w->idx, (int)e.len,
					 e.text);
			mx_log_stderr(e.level, line,
				      (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
			total++;
		}
	}
	return total;
}

/* ---- port ---------------------------------------------------------------------- */

/* Boot: everything a worker needs from @cfg is copied here; nothing keeps
 * a pointer to it (workers read config_current() for live keys). */
static struct dp_worker *worker_create(const struct mx_config *cfg, unsigned idx, unsigned lcore,
				       unsigned nworkers, bool sw_steer)
{
	int socket = (int)rte_lcore_to_socket_id(lcore);
	struct dp_worker *w =
		rte_zmalloc_socket("mx_worker", sizeof(*w), RTE_CACHE_LINE_SIZE, socket);
	char name[RTE_RING_NAMESIZE];
	unsigned mbufs = (unsigned)cfg->port_mbufs / nworkers;

	if (!w)
		return NULL;
	w->idx = idx;
	w->lcore = lcore;
	w->port = dp_g.port;
	w->queue = (uint16_t)idx;
	w->burst = (unsigned)cfg->worker_burst;
	w->idle_sleep_us = (unsigned)cfg->worker_idle_sleep_us;
	w->software_steering = sw_steer;

	snprintf(name, sizeof(name), "mx_pool_%u", idx);
	/* Every frame of the configured MTU fits one mbuf: the TCP core's MSS
	 * comes from the same MTU, whatever MSS a peer advertises. */
	w->pool = rte_pktmbuf_pool_create(name, mbufs < 1023 ? 1023 : mbufs, 256, 0,
					  (uint16_t)dp_frame_dataroom((uint32_t)cfg->port_mtu),
					  socket);
	snprintf(name, sizeof(name), "mx_steer_%u", idx);
	w->steer_ring =
		rte_ring_create(name, (unsigned)cfg->worker_ring_size, socket, RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "mx_learn_%u", idx);
	w->learn_ring =
		rte_ring_create_elem(name, sizeof(struct dp_learn), 256, socket, RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "mx_log_%u", idx);
	w->log_ring = rte_ring_create_elem(name, sizeof(struct log_elem), LOG_RING_SIZE, socket,
					   RING_F_SP_ENQ | RING_F_SC_DEQ);
	w->wheel = rte_zmalloc_socket("mx_wheel", sizeof(*w->wheel), RTE_CACHE_LINE_SIZE, socket);
	if (!w->pool || !w->steer_ring || !w->learn_ring || !w->log_ring || !w->wheel ||
	    arp_cache_init(&w->arp, (unsigned)cfg->arp_entries,
			   (uint64_t)cfg->arp_timeout_s * 1000000) != 0) {
		MX_ERR("worker %u: cannot allocate its pools and rings: %s (%u mbufs of %u bytes "
		       "for [port] mtu %lld: raise [eal] memory_mb or lower [port] mbufs)",
		       idx, rte_strerror(rte_errno), mbufs < 1023 ? 1023 : mbufs,
		       dp_frame_dataroom((uint32_t)cfg->port_mtu), (long long)cfg->port_mtu);
		return NULL;
	}
	timer_wheel_init(w->wheel, 0);
	if (dp_tcp_init(w, cfg, mbufs < 1023 ? 1023 : mbufs) != 0)
		return NULL;
	for (unsigned i = 0; i < nservices; i++) {
		struct dp_service_ctx sc = {.worker = idx,
					    .lcore = lcore,
					    .tcp = w->tcp,
					    .wheel = w->wheel,
					    .now_us = &w->now_us};
		w->svc_state[i] = services[i]->init(&sc, cfg);
		if (!w->svc_state[i]) {
			MX_ERR("worker %u: service %s failed to start", idx, services[i]->name);
			return NULL;
		}
	}
	fault_init(&w->fault_rx, &cfg->fault_rx, (uint64_t)cfg->fault_reorder_us, dp_g.tsc_hz);
	fault_init(&w->fault_tx, &cfg->fault_tx, (uint64_t)cfg->fault_reorder_us, dp_g.tsc_hz);
	return w;
}

/* [tcp] conn_table resolved by dp_port_init() (the configuration is not
 * kept), opened by dp_start(). */
static char conn_table_file[4096];
static unsigned conn_table_slots;

/* [tcp] conn_table: "" = <[spool] dir>/tcp-conns if there is a spool, else
 * none; "none"; or a path. */
static int conn_table_path(const struct mx_config *c, char *buf, size_t len)
{
	int n;

	if (!strcmp(c->tcp_conn_table, "none"))
		return 0;
	if (c->tcp_conn_table[0])
		n = snprintf(buf, len, "%s", c->tcp_conn_table);
	else if (c->spool_dir[0])
		n = snprintf(buf, len, "%s/tcp-conns", c->spool_dir);
	else
		return 0;
	return n > 0 && (size_t)n < len ? 1 : -1;
}

int dp_port_init(const struct mx_config *c)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info info;
	unsigned nworkers = rte_lcore_count() - 1;
	bool rss = false;
	uint16_t port, nrx = (uint16_t)c->port_rx_desc, ntx = (uint16_t)c->port_tx_desc;
	unsigned lcore, idx = 0;
	int rc;

	boot_generation = c->generation;
	conn_table_file[0] = '\0';
	if (conn_table_path(c, conn_table_file, sizeof(conn_table_file)) < 0) {
		MX_ERR("[tcp] conn_table: path too long");
		return -1;
	}
	conn_table_slots = (unsigned)c->tcp_max_conns;
	if (rte_eth_dev_count_avail() == 0) {
		MX_ERR("no DPDK port available: the device in [eal] vdev/pci_allow did not probe "
		       "(see the EAL messages above)");
		return -1;
	}
	if (rte_eth_dev_get_port_by_name(c->port_device, &port) != 0) {
		MX_ERR("[port] device = %s: no such DPDK port (use the vdev name, e.g. "
		       "net_af_packet0, or the PCI address)",
		       c->port_device);
		return -1;
	}
	dp_g.port = port;
	dp_g.nworkers = nworkers;
	dp_g.ip4 = c->ip4_addr;
	dp_g.ip4_mask = c->ip4_prefix ? ~0u << (32 - c->ip4_prefix) : 0;
	dp_g.ip4_gw = c->ip4_gateway;
	rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0) {
		MX_ERR("port %s: cannot read device info: %s", c->port_device, rte_strerror(-rc));
		return -1;
	}
	if (info.max_rx_queues < nworkers || info.max_tx_queues < nworkers) {
		MX_ERR("port %s: %u workers need %u RX/TX queue pairs, the port has %u/%u (for "
		       "net_af_packet set qpairs=%u in the vdev)",
		       c->port_device, nworkers, nworkers, info.max_rx_queues, info.max_tx_queues,
		       nworkers);
		return -1;
	}
	if (nworkers > 1) {
		uint64_t hf = info.flow_type_rss_offloads &
			      (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
		if (c->port_steering == MX_STEER_RSS && !hf) {
			MX_ERR("[port] steering = rss but %s cannot do RSS: use steering = "
			       "software or auto",
			       c->port_device);
			return -1;
		}
		rss = hf && c->port_steering != MX_STEER_SOFTWARE;
		if (rss) {
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
			conf.rx_adv_conf.rss_conf.rss_hf = hf;
		}
	}
	if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
	if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TCP_CKSUM)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	/* Transmit checksums are computed in software for now: the virtual
	 * ports we run on offload none. */
	if (dp_tcp_boot() != 0)
		return -1;
	rc = rte_eth_dev_configure(port, (uint16_t)nworkers, (uint16_t)nworkers, &conf);
	if (rc != 0) {
		MX_ERR("port %s: configure with %u queue pairs failed: %s", c->port_device,
		       nworkers, rte_strerror(-rc));
		return -1;
	}
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
	rc = rte_eth_dev_set_mtu(port, (uint16_t)c->port_mtu);
	if (rc != 0) {
		uint16_t cur = 0;
		/* Not fatal: DPDK 22.11's virtual PMDs report a 1518-byte
		 * maximum frame whatever they carry (net_af_packet carries
		 * frames up to its framesz on a link of a larger MTU). TCP's
		 * MSS stays derived from [port] mtu and the pools hold it. */
		rte_eth_dev_get_mtu(port, &cur);
		MX_WARN("port %s: cannot set MTU %lld (%s), the device keeps %u: TCP still "
			"advertises an MSS for %lld, so the link must carry such frames "
			"(net_af_packet: framesz above mtu + 52)",
			c->port_device, (long long)c->port_mtu, rte_strerror(-rc), (unsigned)cur,
			(long long)c->port_mtu);
	}

	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		struct dp_worker *w = worker_create(c, idx, lcore, nworkers, nworkers > 1 && !rss);
		int socket = (int)rte_lcore_to_socket_id(lcore);
		if (!w)
			return -1;
		dp_g.workers[idx] = w;
		rc = rte_eth_rx_queue_setup(port, w->queue, nrx, socket, NULL, w->pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(port, w->queue, ntx, socket, NULL);
		if (rc != 0) {
			MX_ERR("port %s: queue %u setup failed: %s", c->port_device, w->queue,
			       rte_strerror(-rc));
			return -1;
		}
		idx++;
	}
	rc = rte_eth_dev_start(port);
	if (rc != 0) {
		MX_ERR("port %s: start failed: %s", c->port_device, rte_strerror(-rc));
		return -1;
	}
	port_started = true;
	if (c->port_promiscuous)
		rte_eth_promiscuous_enable(port);
	rte_eth_macaddr_get(port, &dp_g.mac);
	{
		char mac[RTE_ETHER_ADDR_FMT_SIZE];
		rte_ether_format_addr(mac, sizeof(mac), &dp_g.mac);
		snprintf(port_desc, sizeof(port_desc),
			 "port=%s id=%u driver=%s mac=%s queues=%u steering=%s "
			 "rx_cksum_offload=%s",
			 c->port_device, port, info.driver_name, mac, nworkers,
			 nworkers == 1 ? "none"
			 : rss	       ? "rss"
				       : "software",
			 (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) ? "yes" : "no");
	}
	MX_NOTICE("%s", port_desc);
	return 0;
}

void dp_describe(char *buf, size_t len)
{
	snprintf(buf, len, "%s", port_desc);
}

unsigned dp_nworkers(void)
{
	return dp_g.nworkers;
}

void dp_stats_read(unsigned i, struct dp_stats *out)
{
	const struct dp_stats *s = &dp_g.workers[i]->stats;
#define X(name, help) out->name = __atomic_load_n(&s->name, __ATOMIC_RELAXED);
	DP_STATS(X)
#undef X
}

void dp_tcp_stats(unsigned i, struct tcp_stats *out)
{
	tcp_stats_read(dp_g.workers[i]->tcp, out);
}

void dp_usage_read(unsigned i, struct dp_usage *out)
{
	const struct dp_worker *w = dp_g.workers[i];

	tcp_usage_read(w->tcp, &out->tcp);
	/* Counts the pool's ring and every lcore cache: a gauge, not a
	 * snapshot. */
	out->mbufs_in_use = rte_mempool_in_use_count(w->pool);
	out->mbufs = w->pool->size;
}

/* ---- the worker loop ---------------------------------------------------------- */

/* Between two quiescent states: if a new configuration generation was
 * published, hand it to every service's reconfig hook. The pointer is not
 * kept past this call. */
static inline void worker_reconfig(struct dp_worker *w, uint64_t *gen)
{
	const struct mx_config *c = config_current();

	if (!c || c->generation == *gen)
		return;
	for (unsigned i = 0; i < nservices; i++)
		if (services[i]->reconfig)
			services[i]->reconfig(w->svc_state[i], c);
	MX_INFO("configuration generation %llu applied", (unsigned long long)c->generation);
	*gen = c->generation;
}

static int worker_main(void *arg)
{
	struct dp_worker *w = arg;
	const uint64_t tsc_per_us = dp_g.tsc_hz / 1000000 ? dp_g.tsc_hz / 1000000 : 1;
	const uint64_t tsc0 = rte_rdtsc();
	struct rte_mbuf *rx[DP_MAX_BURST], *pkts[2 * DP_MAX_BURST];
	struct dp_learn learn[32];
	uint64_t gen = boot_generation;

	this_worker = w;
	mx_tlsmem_enter(w->idx); /* OpenSSL's allocations: this worker's arena and budget */
	mx_log_set_thread_sink(worker_log_sink);
	rcu_register_thread();
	MX_INFO("worker %u on lcore %u polling port %u queue %u", w->idx, w->lcore, w->port,
		w->queue);
	while (!__atomic_load_n(&stop_flag, __ATOMIC_RELAXED)) {
		uint64_t tsc = rte_rdtsc();
		unsigned n, work;

		w->now_us = (tsc - tsc0) / tsc_per_us;
		DP_STAT_INC(&w->stats, loops);
		worker_reconfig(w, &gen);

		n = rte_eth_rx_burst(w->port, w->queue, rx, (uint16_t)w->burst);
		work = n;
		if (w->fault_rx.enabled) {
			n = fault_apply(&w->fault_rx, rx, n, pkts, RTE_DIM(pkts), tsc, w->pool,
					&w->stats);
			for (unsigned i = 0; i < n; i++)
				dp_input(w, pkts[i], false);
		} else {
			for (unsigned i = 0; i < n; i++)
				dp_input(w, rx[i], false);
		}

		n = rte_ring_sc_dequeue_burst(w->steer_ring, (void **)rx, w->burst, NULL);
		work += n;
		for (unsigned i = 0; i < n; i++)
			dp_input(w, rx[i], true);

		n = rte_ring_sc_dequeue_burst_elem(w->learn_ring, learn, sizeof(learn[0]),
						   RTE_DIM(learn), NULL);
		work += n;
		for (unsigned i = 0; i < n; i++)
			dp_arp_learn(w, &learn[i]);

		for (unsigned i = 0; i < nservices; i++)
			if (services[i]->poll)
				services[i]->poll(w->svc_state[i]);
		timer_advance(w->wheel, w->now_us / 1000);
		if (w->restart_n)
			dp_tcp_restart_probes(w);
		if (w->now_us >= w->next_arp_age_us) {
			dp_arp_age(w);
			w->next_arp_age_us = w->now_us + 100000;
		}
		dp_tx_flush(w);
		rcu_quiescent_state();

		if (work == 0 && w->idle_sleep_us) {
			/* Configured back-off for shared machines (tests, demo):
			 * offline so RCU grace periods do not wait for us. */
			DP_STAT_INC(&w->stats, idle_sleeps);
			rcu_thread_offline();
			rte_delay_us_sleep(w->idle_sleep_us);
			rcu_thread_online();
		}
	}
	MX_INFO("worker %u stopping", w->idx);
	rcu_unregister_thread();
	mx_log_set_thread_sink(NULL);
	return 0;
}

/* Open the table of live connections (after the privilege drop: the file
 * belongs to the daemon's user) and give each worker its share of the
 * previous incarnation's connections to reset. */
static int conn_table_start(void)
{
	struct tcp_key *old = NULL;
	size_t nold = 0;
	const char *path = conn_table_file;

	if (!path[0])
		return 0;
	dp_g.conns = dp_conn_table_open(path, dp_g.nworkers, conn_table_slots, &old, &nold);
	if (!dp_g.conns) {
		MX_ERR("[tcp] conn_table %s: %s", path, strerror(errno));
		return -1;
	}
	if (nold)
		MX_NOTICE("%zu connections of the previous incarnation in %s: resetting them", nold,
			  path);
	for (unsigned i = 0; i < dp_g.nworkers; i++) {
		struct dp_worker *w = dp_g.workers[i];
		size_t share = nold / dp_g.nworkers + (i < nold % dp_g.nworkers);

		w->conns = dp_g.conns;
		if (share == 0)
			continue;
		w->restart_keys = malloc(share * sizeof(*w->restart_keys));
		if (!w->restart_keys) {
			free(old);
			return -1;
		}
		for (size_t k = i, j = 0; k < nold; k += dp_g.nworkers)
			w->restart_keys[j++] = old[k];
		w->restart_n = (uint32_t)share;
		w->restart_next_us = 100000;
	}
	free(old);
	return 0;
}

int dp_start(void)
{
	if (conn_table_start() != 0)
		return -1;
	for (unsigned i = 0; i < dp_g.nworkers; i++) {
		int rc =
			rte_eal_remote_launch(worker_main, dp_g.workers[i], dp_g.workers[i]->lcore);
		if (rc != 0) {
			MX_ERR("cannot launch worker %u on lcore %u: %s", i, dp_g.workers[i]->lcore,
			       rte_strerror(-rc));
			return -1;
		}
	}
	return 0;
}

static void free_held(void *pkt, void *arg)
{
	(void)arg;
	rte_pktmbuf_free(pkt);
}

void dp_stop(void)
{
	__atomic_store_n(&stop_flag, true, __ATOMIC_RELAXED);
	rte_eal_mp_wait_lcore();
	dp_drain_logs();
	for (unsigned i = 0; i < dp_g.nworkers; i++) {
		struct dp_worker *w = dp_g.workers[i];
		struct rte_mbuf *m;
		if (!w)
			continue;
		/* Connections still open at this stop stay in the table: the
		 * next start resets them (nothing here tells their peers). */
		w->conns = NULL;
		free(w->restart_keys);
		w->restart_keys = NULL;
		w->restart_n = 0;
		/* TCP first: closing its connections calls into the services. */
		dp_tcp_fini(w);
		for (unsigned k = 0; k < nservices; k++)
			if (w->svc_state[k])
				services[k]->fini(w->svc_state[k]);
		fault_fini(&w->fault_rx);
		fault_fini(&w->fault_tx);
		arp_cache_fini(&w->arp, free_held, NULL);
		while (rte_ring_sc_dequeue(w->steer_ring, (void **)&m) == 0)
			rte_pktmbuf_free(m);
		for (unsigned k = 0; k < w->ntx; k++)
			rte_pktmbuf_free(w->tx[k]);
		w->ntx = 0;
	}
	if (port_started) {
		rte_eth_dev_stop(dp_g.port);
		rte_eth_dev_close(dp_g.port);
		port_started = false;
	}
	dp_conn_table_close(dp_g.conns, 0);
	dp_g.conns = NULL;
	rte_eal_cleanup();
}
