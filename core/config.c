/*
 * config.c - the table of every configuration key and the INI loader.
 *
 * One row per key: section, name, type, where it lands in struct mx_config,
 * bounds, whether it is required, and whether a reload applies it (LIVE) or
 * it needs a restart (RESTART). Adding a key is adding a row here and a
 * documented line in etc/mxgate.conf that says "(live)" or "(restart)"
 * (tests/unit/core/test_config.c checks both). A LIVE key must also be
 * applied: on the workers by a dp_service reconfig hook, on the control
 * thread by ctl/reload.c (log level, queue_reconfig()).
 *
 * Lists (K_LIST) are heap-allocated; "file:/abs/path" values are read at
 * load, so every reload re-reads them. Boot/control thread only; nothing
 * here touches RCU (see config_gen.c).
 */
#include "core/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"

enum key_type {
	K_STR,	 /* char[MX_CFG_STR] */
	K_INT,	 /* int64_t in [min, max] */
	K_BOOL,	 /* bool */
	K_PCT,	 /* double percentage in [0, 100] */
	K_LIST,	 /* struct mx_cfg_list, key may repeat */
	K_LEVEL, /* log level name -> int64_t */
	K_ENUM,	 /* one of names[] -> its index as int64_t */
	K_CIDR4, /* a.b.c.d/len -> ip4_addr + ip4_prefix */
	K_IP4,	 /* a.b.c.d -> uint32_t */
};

struct key_def {
	const char *section;
	const char *name;
	enum key_type type;
	size_t off;
	int64_t min, max;
	bool required;
	enum mx_cfg_apply apply;
	const char *const *names; /* K_ENUM: NULL-terminated */
	/* K_LIST (optional): is one entry well-formed? Else fill @why. */
	bool (*entry_ok)(const char *v, char *why, size_t len);
};

#define LIVE	MX_CFG_LIVE
#define RESTART MX_CFG_RESTART

static bool nexthop_ok(const char *v, char *why, size_t len);

static const char *const steer_names[] = {"auto", "rss", "software", NULL};
static const char *const pregreet_names[] = {"reply", "drop", "log", NULL};
/* Operator's toolbox (issue 16): in the order of enum mx_drain_mode and
 * of mx_log_json (core/log.h). */
static const char *const drain_mode_names[] = {"reply", "silent", NULL};
static const char *const log_format_names[] = {"text", "json", NULL};

/* In the order of enum relay_tls (queue/relay-t.h). */
static const char *const relay_tls_names[] = {"none", "may", "encrypt", "verify", NULL};
/* [policy] DNS checks: off, a 4xx (the client retries), a 5xx. */
static const char *const pol_dns_names[] = {"off", "defer", "reject", NULL};
static const char *const pol_spf_names[] = {"off", "header", "reject", NULL};
static const char *const pol_rdns_names[] = {"off", "record", "defer", "reject", NULL};
static bool network_ok(const char *v, char *why, size_t len);
/* [smtp] tls and [tls] min_version (smtp/tls_ctx.h). */
static const char *const smtp_tls_names[] = {"none", "may", "encrypt", NULL};
static const char *const tls_version_names[] = {"1.0", "1.1", "1.2", "1.3", NULL};
static const char *const relay_perm_names[] = {"bounce", "hold", NULL}; /* enum relay_on_perm */

#define OFF(f) offsetof(struct mx_config, f)
static const struct key_def keys[] = {
	{"eal", "lcores", K_STR, OFF(eal_lcores), 0, 0, true, RESTART},
	{"eal", "main_lcore", K_INT, OFF(eal_main_lcore), 0, 1023, false, RESTART},
	{"eal", "no_huge", K_BOOL, OFF(eal_no_huge), 0, 0, false, RESTART},
	{"eal", "no_pci", K_BOOL, OFF(eal_no_pci), 0, 0, false, RESTART},
	{"eal", "memory_mb", K_INT, OFF(eal_memory_mb), 64, 1 << 20, false, RESTART},
	{"eal", "file_prefix", K_STR, OFF(eal_file_prefix), 0, 0, false, RESTART},
	{"eal", "log_level", K_INT, OFF(eal_log_level), 1, 8, false, RESTART},
	{"eal", "pci_allow", K_LIST, OFF(eal_pci_allow), 0, 0, false, RESTART},
	{"eal", "vdev", K_LIST, OFF(eal_vdev), 0, 0, false, RESTART},

	{"port", "device", K_STR, OFF(port_device), 0, 0, true, RESTART},
	{"port", "rx_desc", K_INT, OFF(port_rx_desc), 64, 16384, false, RESTART},
	{"port", "tx_desc", K_INT, OFF(port_tx_desc), 64, 16384, false, RESTART},
	{"port", "mbufs", K_INT, OFF(port_mbufs), 1023, 1 << 24, false, RESTART},
	{"port", "mtu", K_INT, OFF(port_mtu), 576, 9000, false, RESTART},
	{"port", "steering", K_ENUM, OFF(port_steering), 0, 0, false, RESTART, steer_names},
	{"port", "promiscuous", K_BOOL, OFF(port_promiscuous), 0, 0, false, RESTART},

	{"ipv4", "address", K_CIDR4, OFF(ip4_addr), 0, 0, true, RESTART},
	{"ipv4", "gateway", K_IP4, OFF(ip4_gateway), 0, 0, false, RESTART},
	{"ipv4", "arp_timeout_s", K_INT, OFF(arp_timeout_s), 1, 86400, false, RESTART},
	{"ipv4", "arp_entries", K_INT, OFF(arp_entries), 16, 1 << 20, false, RESTART},

	{"worker", "burst", K_INT, OFF(worker_burst), 1, 256, false, RESTART},
	{"worker", "idle_sleep_us", K_INT, OFF(worker_idle_sleep_us), 0, 100000, false, RESTART},
	{"worker", "ring_size", K_INT, OFF(worker_ring_size), 64, 1 << 20, false, RESTART},

	{"tcp", "max_conns", K_INT, OFF(tcp_max_conns), 16, 1 << 24, false, RESTART},
	{"tcp", "max_timewait", K_INT, OFF(tcp_max_timewait), 16, 1 << 24, false, RESTART},
	{"tcp", "backlog", K_INT, OFF(tcp_backlog), 1, 1 << 20, false, RESTART},
	{"tcp", "sndbuf_kb", K_INT, OFF(tcp_sndbuf_kb), 4, 16384, false, RESTART},
	{"tcp", "rcvbuf_kb", K_INT, OFF(tcp_rcvbuf_kb), 4, 16384, false, RESTART},
	{"tcp", "snd_mem_mb", K_INT, OFF(tcp_snd_mem_mb), 1, 65536, false, RESTART},
	{"tcp", "rcv_mem_mb", K_INT, OFF(tcp_rcv_mem_mb), 1, 65536, false, RESTART},
	{"tcp", "rto_min_ms", K_INT, OFF(tcp_rto_min_ms), 10, 1000, false, RESTART},
	{"tcp", "delack_ms", K_INT, OFF(tcp_delack_ms), 1, 500, false, RESTART},
	{"tcp", "time_wait_s", K_INT, OFF(tcp_time_wait_s), 1, 240, false, RESTART},
	{"tcp", "syncookies", K_BOOL, OFF(tcp_syncookies), 0, 0, false, RESTART},
	{"tcp", "timestamps", K_BOOL, OFF(tcp_timestamps), 0, 0, false, RESTART},
	{"tcp", "sack", K_BOOL, OFF(tcp_sack), 0, 0, false, RESTART},
	{"tcp", "window_scaling", K_BOOL, OFF(tcp_window_scaling), 0, 0, false, RESTART},
	{"tcp", "keepalive", K_BOOL, OFF(tcp_keepalive), 0, 0, false, RESTART},
	{"tcp", "echo_port", K_INT, OFF(tcp_echo_port), 0, 65535, false, RESTART},
	{"tcp", "fin_wait2_s", K_INT, OFF(tcp_fin_wait2_s), 1, 3600, false, RESTART},
	{"tcp", "zero_window_max_s", K_INT, OFF(tcp_zero_window_max_s), 0, 86400, false, RESTART},
	{"tcp", "snd_mem_pressure_pct", K_INT, OFF(tcp_snd_mem_pressure_pct), 0, 100, false,
	 RESTART},
	{"tcp", "synack_retries", K_INT, OFF(tcp_synack_retries), 1, 10, false, RESTART},
	{"tcp", "conn_table", K_STR, OFF(tcp_conn_table), 0, 0, false, RESTART},
	{"tcp", "max_lifetime_s", K_INT, OFF(tcp_max_lifetime_s), 0, 604800, false, RESTART},

	{"smtp", "port", K_INT, OFF(smtp_port), 0, 65535, false, RESTART},
	{"smtp", "hostname", K_STR, OFF(smtp_hostname), 0, 0, false, LIVE},
	{"smtp", "max_sessions", K_INT, OFF(smtp_max_sessions), 1, 1 << 22, false, RESTART},
	{"smtp", "max_msg_size", K_INT, OFF(smtp_max_msg_size), 1024, 1ll << 32, false, LIVE},
	{"smtp", "max_rcpt", K_INT, OFF(smtp_max_rcpt), 1, 10000, false, RESTART},
	{"smtp", "max_errors", K_INT, OFF(smtp_max_errors), 1, 1000, false, LIVE},
	{"smtp", "max_commands", K_INT, OFF(smtp_max_commands), 10, 1000000, false, LIVE},
	{"smtp", "line_ext", K_INT, OFF(smtp_line_ext), 0, 65536, false, RESTART},
	{"smtp", "greet_delay_ms", K_INT, OFF(smtp_greet_delay_ms), -1, 60000, false, LIVE},
	{"smtp", "pregreet", K_ENUM, OFF(smtp_pregreet), 0, 0, false, LIVE, pregreet_names},
	{"smtp", "greet_teaser", K_BOOL, OFF(smtp_greet_teaser), 0, 0, false, LIVE},
	{"smtp", "timeout_cmd_s", K_INT, OFF(smtp_timeout_cmd_s), 1, 3600, false, LIVE},
	{"smtp", "timeout_data_s", K_INT, OFF(smtp_timeout_data_s), 1, 3600, false, LIVE},
	{"smtp", "max_conn_per_ip", K_INT, OFF(smtp_max_conn_per_ip), 0, 1 << 22, false, LIVE},
	{"smtp", "max_conn_per_net", K_INT, OFF(smtp_max_conn_per_net), 0, 1 << 22, false, LIVE},
	{"smtp", "conn_rate_per_net", K_INT, OFF(smtp_conn_rate_per_net), 0, 1000000, false, LIVE},
	{"smtp", "conn_burst_per_net", K_INT, OFF(smtp_conn_burst_per_net), 1, 1000000, false,
	 LIVE},
	{"smtp", "reserve_pct", K_INT, OFF(smtp_reserve_pct), 0, 90, false, LIVE},
	{"smtp", "connect_spool_check", K_BOOL, OFF(smtp_connect_spool_check), 0, 0, false, LIVE},
	{"smtp", "linger_ms", K_INT, OFF(smtp_linger_ms), 1, 60000, false, RESTART},
	{"smtp", "max_lifetime_s", K_INT, OFF(smtp_max_lifetime_s), 1, 604800, false, RESTART},

	{"spool", "dir", K_STR, OFF(spool_dir), 0, 0, false, RESTART},
	{"spool", "segment_mb", K_INT, OFF(spool_segment_mb), 1, 65536, false, RESTART},
	{"spool", "commit_interval_us", K_INT, OFF(spool_commit_interval_us), 0, 1000000, false,
	 LIVE},
	{"spool", "commit_batch", K_INT, OFF(spool_commit_batch), 1, 65536, false, LIVE},
	{"spool", "commit_threads", K_INT, OFF(spool_commit_threads), 1, 64, false, RESTART},
	{"spool", "high_water_mb", K_INT, OFF(spool_high_water_mb), 0, 1 << 30, false, LIVE},
	{"spool", "min_free_mb", K_INT, OFF(spool_min_free_mb), 0, 1 << 30, false, LIVE},
	{"spool", "recover_background", K_BOOL, OFF(spool_recover_background), 0, 0, false,
	 RESTART},

	{"relay", "nexthop", K_LIST, OFF(relay_nexthop), 0, 0, false, RESTART,
	 .entry_ok = nexthop_ok},
	{"relay", "threads", K_INT, OFF(relay_threads), 1, 64, false, RESTART},
	{"relay", "retry_min_s", K_INT, OFF(relay_retry_min_s), 1, 86400, false, LIVE},
	{"relay", "retry_max_s", K_INT, OFF(relay_retry_max_s), 1, 604800, false, LIVE},
	{"relay", "refuse_after_s", K_INT, OFF(relay_refuse_after_s), 0, 604800, false, LIVE},
	{"relay", "tls", K_ENUM, OFF(relay_tls), 0, 0, false, RESTART, relay_tls_names},
	{"relay", "ca_file", K_STR, OFF(relay_ca_file), 0, 0, false, RESTART},
	{"relay", "max_backlog_age_s", K_INT, OFF(relay_max_backlog_age_s), 0, 86400, false, LIVE},
	{"relay", "max_queue_lifetime_s", K_INT, OFF(relay_max_queue_lifetime_s), 0, 31536000,
	 false, RESTART},
	{"relay", "on_permanent_failure", K_ENUM, OFF(relay_on_permanent_failure), 0, 0, false,
	 RESTART, relay_perm_names},
	{"relay", "bounce_nexthop", K_LIST, OFF(relay_bounce_nexthop), 0, 0, false, RESTART,
	 .entry_ok = nexthop_ok},

	{"fault", "seed", K_INT, OFF(fault_seed), 0, INT64_MAX, false, RESTART},
	{"fault", "reorder_us", K_INT, OFF(fault_reorder_us), 1, 1000000, false, RESTART},
	{"fault", "rx_drop", K_PCT, OFF(fault_rx.drop_pct), 0, 0, false, RESTART},
	{"fault", "rx_dup", K_PCT, OFF(fault_rx.dup_pct), 0, 0, false, RESTART},
	{"fault", "rx_reorder", K_PCT, OFF(fault_rx.reorder_pct), 0, 0, false, RESTART},
	{"fault", "rx_delay_us", K_INT, OFF(fault_rx.delay_us), 0, 1000000, false, RESTART},
	{"fault", "tx_drop", K_PCT, OFF(fault_tx.drop_pct), 0, 0, false, RESTART},
	{"fault", "tx_dup", K_PCT, OFF(fault_tx.dup_pct), 0, 0, false, RESTART},
	{"fault", "tx_reorder", K_PCT, OFF(fault_tx.reorder_pct), 0, 0, false, RESTART},
	{"fault", "tx_delay_us", K_INT, OFF(fault_tx.delay_us), 0, 1000000, false, RESTART},

	{"ctl", "socket", K_STR, OFF(ctl_socket), 0, 0, false, RESTART},

	{"log", "level", K_LEVEL, OFF(log_level), 0, 0, false, LIVE},

	{"daemon", "user", K_STR, OFF(daemon_user), 0, 0, false, RESTART},
	{"daemon", "group", K_STR, OFF(daemon_group), 0, 0, false, RESTART},

	/* Operator's toolbox (issue 16): drain, log format, syslog. */
	{"daemon", "drain_timeout_s", K_INT, OFF(daemon_drain_timeout_s), 1, 86400, false, LIVE},
	{"daemon", "drain_mode", K_ENUM, OFF(daemon_drain_mode), 0, 0, false, LIVE,
	 drain_mode_names},
	{"log", "format", K_ENUM, OFF(log_format), 0, 0, false, LIVE, log_format_names},
	{"log", "syslog", K_BOOL, OFF(log_syslog), 0, 0, false, RESTART},
	{"log", "syslog_socket", K_STR, OFF(log_syslog_socket), 0, 0, false, RESTART},

	{"metrics", "listen", K_STR, OFF(metrics_listen), 0, 0, false, RESTART},

	{"policy", "enabled", K_BOOL, OFF(policy_enabled), 0, 0, false, LIVE},
	{"policy", "delay_reject", K_BOOL, OFF(policy_delay_reject), 0, 0, false, LIVE},
	{"policy", "mynetworks", K_LIST, OFF(policy_mynetworks), 0, 0, false, LIVE,
	 .entry_ok = network_ok},
	{"policy", "domains", K_LIST, OFF(policy_domains), 0, 0, false, LIVE},
	{"policy", "recipients", K_STR, OFF(policy_recipients), 0, 0, false, LIVE},
	{"policy", "helo_checks", K_BOOL, OFF(policy_helo_checks), 0, 0, false, LIVE},
	{"policy", "helo_special", K_LIST, OFF(policy_helo_special), 0, 0, false, LIVE},
	{"policy", "helo_dns", K_ENUM, OFF(policy_helo_dns), 0, 0, false, LIVE, pol_dns_names},
	{"policy", "sender_ours", K_BOOL, OFF(policy_sender_ours), 0, 0, false, LIVE},
	{"policy", "sender_domain", K_ENUM, OFF(policy_sender_domain), 0, 0, false, LIVE,
	 pol_dns_names},
	{"policy", "dnsbl", K_LIST, OFF(policy_dnsbl), 0, 0, false, LIVE},
	{"policy", "dnsbl_threshold", K_INT, OFF(policy_dnsbl_threshold), 1, 1000, false, LIVE},
	{"policy", "reply", K_LIST, OFF(policy_reply), 0, 0, false, LIVE},
	{"policy", "client_rdns", K_ENUM, OFF(policy_client_rdns), 0, 0, false, LIVE,
	 pol_rdns_names},
	{"policy", "spf", K_ENUM, OFF(policy_spf), 0, 0, false, LIVE, pol_spf_names},
	{"policy", "tempfail_skip", K_LIST, OFF(policy_tempfail_skip), 0, 0, false, LIVE},
	{"policy", "pass_cache_ttl_s", K_INT, OFF(policy_pass_cache_ttl_s), 0, 30 * 86400, false,
	 LIVE},
	{"policy", "verify_recipients", K_BOOL, OFF(policy_verify_recipients), 0, 0, false, LIVE},
	{"policy", "verify_nexthop", K_STR, OFF(policy_verify_nexthop), 0, 0, false, LIVE},
	{"policy", "verify_pos_ttl_s", K_INT, OFF(policy_verify_pos_ttl_s), 0, 90 * 86400, false,
	 LIVE},
	{"policy", "verify_neg_ttl_s", K_INT, OFF(policy_verify_neg_ttl_s), 0, 30 * 86400, false,
	 LIVE},
	{"policy", "verify_timeout_ms", K_INT, OFF(policy_verify_timeout_ms), 100, 60000, false,
	 LIVE},

	{"dns", "servers", K_STR, OFF(dns_servers), 0, 0, false, LIVE},
	{"dns", "timeout_ms", K_INT, OFF(dns_timeout_ms), 100, 60000, false, LIVE},
	{"dns", "tries", K_INT, OFF(dns_tries), 1, 10, false, LIVE},
	{"dns", "min_ttl", K_INT, OFF(dns_min_ttl), 0, 86400, false, LIVE},
	{"dns", "max_ttl", K_INT, OFF(dns_max_ttl), 1, 604800, false, LIVE},
	{"dns", "neg_ttl_max", K_INT, OFF(dns_neg_ttl_max), 0, 86400, false, LIVE},
	{"dns", "cache_max", K_INT, OFF(dns_cache_max), 16, 10000000, false, LIVE},
	{"dns", "inflight_max", K_INT, OFF(dns_inflight_max), 1, 1000000, false, LIVE},
	{"smtp", "tls", K_ENUM, OFF(smtp_tls), 0, 0, false, RESTART, smtp_tls_names},
	{"tls", "cert", K_LIST, OFF(tls_cert), 0, 0, false, LIVE},
	{"tls", "key", K_LIST, OFF(tls_key), 0, 0, false, LIVE},
	{"tls", "min_version", K_ENUM, OFF(tls_min_version), 0, 0, false, LIVE, tls_version_names},
	{"tls", "handshake_timeout_s", K_INT, OFF(tls_handshake_timeout_s), 1, 300, false, RESTART},
	{"tls", "max_sessions", K_INT, OFF(tls_max_sessions), 0, 1 << 22, false, RESTART},
	{"tls", "watch_s", K_INT, OFF(tls_watch_s), 0, 86400, false, LIVE},
	{"tls", "expiry_warn_days", K_INT, OFF(tls_expiry_warn_days), 0, 3650, false, LIVE},
	{"tls", "ticket_key_file", K_STR, OFF(tls_ticket_key_file), 0, 0, false, LIVE},
	{"tls", "ticket_key_rotate_s", K_INT, OFF(tls_ticket_key_rotate_s), 0, 30 * 86400, false,
	 LIVE},
	{"tls", "implicit_port", K_INT, OFF(tls_implicit_port), 0, 65535, false, RESTART},
	{"tls", "mem_per_worker_mb", K_INT, OFF(tls_mem_per_worker_mb), 0, 1 << 20, false, RESTART},

	{"greylist", "enabled", K_BOOL, OFF(grey_enabled), 0, 0, false, LIVE},
	{"greylist", "delay_s", K_INT, OFF(grey_delay_s), 0, 86400, false, LIVE},
	{"greylist", "window_s", K_INT, OFF(grey_window_s), 1, 30 * 86400, false, LIVE},
	{"greylist", "max_age_s", K_INT, OFF(grey_max_age_s), 60, 365 * 86400, false, LIVE},
	{"greylist", "awl_passes", K_INT, OFF(grey_awl_passes), 0, 1000000, false, LIVE},
	{"greylist", "v4_prefix", K_INT, OFF(grey_v4_prefix), 8, 32, false, LIVE},
	{"greylist", "v6_prefix", K_INT, OFF(grey_v6_prefix), 16, 128, false, LIVE},
	{"greylist", "max_entries", K_INT, OFF(grey_max_entries), 1000, 1 << 28, false, RESTART},
	{"greylist", "snapshot", K_STR, OFF(grey_snapshot), 0, 0, false, RESTART},
	{"greylist", "snapshot_s", K_INT, OFF(grey_snapshot_s), 0, 86400, false, RESTART},
	{"greylist", "spf_domain", K_BOOL, OFF(grey_spf_domain), 0, 0, false, LIVE},
	{"greylist", "reply", K_STR, OFF(grey_reply), 0, 0, false, LIVE},
	{"greylist", "whitelist_senders", K_STR, OFF(grey_wl_senders), 0, 0, false, LIVE},
	{"greylist", "whitelist_clients", K_STR, OFF(grey_wl_clients), 0, 0, false, LIVE},
	{"greylist", "whitelist_hosts", K_STR, OFF(grey_wl_hosts), 0, 0, false, LIVE},
	{"greylist", "whitelist_recipients", K_STR, OFF(grey_wl_rcpts), 0, 0, false, LIVE},
	/* Keys by the client's organisation (issue 14, ops2). */
	{"greylist", "ptr_org", K_BOOL, OFF(grey_ptr_org), 0, 0, false, LIVE},
	{"greylist", "psl_file", K_STR, OFF(grey_psl_file), 0, 0, false, LIVE},

	{"ratelimit", "enabled", K_BOOL, OFF(rl_enabled), 0, 0, false, LIVE},
	{"ratelimit", "msg_per_ip", K_INT, OFF(rl_msg_per_ip), 0, 1000000, false, LIVE},
	{"ratelimit", "rcpt_per_ip", K_INT, OFF(rl_rcpt_per_ip), 0, 1000000, false, LIVE},
	{"ratelimit", "msg_per_net", K_INT, OFF(rl_msg_per_net), 0, 1000000, false, LIVE},
	{"ratelimit", "rcpt_per_net", K_INT, OFF(rl_rcpt_per_net), 0, 1000000, false, LIVE},
	{"ratelimit", "max_entries", K_INT, OFF(rl_max_entries), 1000, 1 << 26, false, RESTART},

	{"cluster", "redis", K_STR, OFF(cluster_redis), 0, 0, false, RESTART},
	{"cluster", "password", K_STR, OFF(cluster_password), 0, 0, false, RESTART},
	{"cluster", "username", K_STR, OFF(cluster_username), 0, 0, false, RESTART},
	{"cluster", "sentinel_password", K_STR, OFF(cluster_sentinel_password), 0, 0, false,
	 RESTART},
	{"cluster", "prefix", K_STR, OFF(cluster_prefix), 0, 0, false, RESTART},
	{"cluster", "sentinels", K_STR, OFF(cluster_sentinels), 0, 0, false, RESTART},
	{"cluster", "sentinel_master", K_STR, OFF(cluster_sentinel_master), 0, 0, false, RESTART},
	{"cluster", "lookup_timeout_ms", K_INT, OFF(cluster_lookup_timeout_ms), 1, 5000, false,
	 RESTART},
	{"cluster", "connect_timeout_ms", K_INT, OFF(cluster_connect_timeout_ms), 10, 60000, false,
	 RESTART},
	{"cluster", "backlog_max", K_INT, OFF(cluster_backlog_max), 0, 10000000, false, RESTART},
};
#undef OFF
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

void config_defaults(struct mx_config *c)
{
	memset(c, 0, sizeof(*c));
	c->eal_main_lcore = 0;
	c->eal_memory_mb = 512;
	snprintf(c->eal_file_prefix, sizeof(c->eal_file_prefix), "mxgate");
	c->eal_log_level = 5;
	c->port_rx_desc = 1024;
	c->port_tx_desc = 1024;
	c->port_mbufs = 16383;
	c->port_mtu = 1500;
	c->port_steering = MX_STEER_AUTO;
	c->arp_timeout_s = 300;
	c->arp_entries = 1024;
	c->worker_burst = 32;
	c->worker_idle_sleep_us = 0;
	c->worker_ring_size = 4096;
	c->tcp_max_conns = 4096;
	c->smtp_tls = 1; /* may: STARTTLS offered once a [tls] cert is set */
	c->tls_min_version = 2;
	c->tls_handshake_timeout_s = 10;
	c->tls_max_sessions = 0;
	c->tls_watch_s = 5;
	c->tls_expiry_warn_days = 14;
	c->tls_ticket_key_rotate_s = 43200;
	c->tcp_max_timewait = 16384;
	c->tcp_backlog = 1024;
	c->tcp_sndbuf_kb = 64;
	c->tcp_rcvbuf_kb = 64;
	c->tcp_snd_mem_mb = 32;
	c->tcp_rcv_mem_mb = 64;
	c->tcp_rto_min_ms = 200;
	c->tcp_delack_ms = 40;
	c->tcp_time_wait_s = 60;
	c->tcp_syncookies = true;
	c->tcp_timestamps = true;
	c->tcp_sack = true;
	c->tcp_window_scaling = true;
	c->tcp_keepalive = false;
	c->tcp_echo_port = 0;
	c->tcp_fin_wait2_s = 60;
	c->tcp_zero_window_max_s = 120;
	c->tcp_snd_mem_pressure_pct = 80;
	c->tcp_synack_retries = 5;
	c->tcp_max_lifetime_s = 0;
	c->smtp_port = 25;
	c->smtp_max_sessions = 4096;
	c->smtp_max_msg_size = 10240000;
	c->smtp_max_rcpt = 100;
	c->smtp_max_errors = 10;
	c->smtp_max_commands = 100000;
	c->smtp_line_ext = 256;
	c->smtp_greet_delay_ms = -1; /* 1000 ms on port 25, else 0 */
	c->smtp_pregreet = 0;	     /* reply: 550 5.5.1 Protocol error */
	c->smtp_greet_teaser = true;
	c->smtp_timeout_cmd_s = 300;
	c->smtp_timeout_data_s = 180;
	c->smtp_max_conn_per_ip = 50; /* Postfix smtpd_client_connection_count_limit */
	c->smtp_max_conn_per_net = 200;
	c->smtp_conn_rate_per_net = 50;
	c->smtp_conn_burst_per_net = 100;
	c->smtp_reserve_pct = 10;
	c->smtp_connect_spool_check = true; /* 421 4.3.2 at connect while the spool refuses */
	c->smtp_linger_ms = 2000;	    /* smtp/conn-t.h SMTP_CONN_LINGER_MS */
	c->smtp_max_lifetime_s = 3600;	    /* SMTP_CONN_LIFETIME_S */
	snprintf(c->spool_dir, sizeof(c->spool_dir), "/var/spool/mxgate");
	c->spool_segment_mb = 64;
	c->spool_commit_interval_us = 200;
	c->spool_commit_batch = 256;
	c->spool_commit_threads = 1;
	c->spool_high_water_mb = 0;
	c->spool_min_free_mb = 64;
	c->spool_recover_background = true;
	c->relay_threads = 4;
	c->relay_retry_min_s = 60;
	c->relay_retry_max_s = 3600;
	c->relay_refuse_after_s = 0;
	c->relay_max_backlog_age_s = 300;	/* RELAY_DEF_MAX_BACKLOG_AGE */
	c->relay_max_queue_lifetime_s = 432000; /* RELAY_DEF_MAX_LIFETIME: 5 days */
	c->relay_on_permanent_failure = 0;	/* bounce */
	c->fault_seed = 1;
	c->fault_reorder_us = 1000;
	snprintf(c->ctl_socket, sizeof(c->ctl_socket), "/run/mxgate/ctl.sock");
	c->log_level = MX_LOG_INFO;
	snprintf(c->daemon_user, sizeof(c->daemon_user), "mxgate");
	c->policy_enabled = true;
	c->policy_delay_reject = true; /* Postfix smtpd_delay_reject */
	c->policy_helo_checks = true;
	c->policy_helo_dns = 0;
	c->policy_sender_ours = true;
	c->policy_sender_domain = 0;
	c->policy_dnsbl_threshold = 1;
	c->policy_client_rdns = 1;		/* record: Received: names a verified client */
	c->policy_pass_cache_ttl_s = 86400;	/* postscreen_greet_ttl */
	c->policy_verify_pos_ttl_s = 7 * 86400; /* address_verify_positive_expire_time: 31d */
	c->policy_verify_neg_ttl_s = 3 * 3600;	/* address_verify_negative_expire_time: 3d */
	c->policy_verify_timeout_ms = 10000;
	c->dns_timeout_ms = 2000;
	c->dns_tries = 2;
	c->dns_min_ttl = 60;
	c->dns_max_ttl = 86400;
	c->dns_neg_ttl_max = 3600;
	c->dns_cache_max = 100000;
	c->dns_inflight_max = 4096;
	c->daemon_drain_timeout_s = 30;
	snprintf(c->log_syslog_socket, sizeof(c->log_syslog_socket), "/dev/log");
	/* [greylist]: postgrey's defaults; off until the operator turns it on. */
	c->grey_delay_s = 300;
	c->grey_window_s = 2 * 86400;
	c->grey_max_age_s = 35 * 86400;
	c->grey_awl_passes = 5;
	c->grey_v4_prefix = 24;
	c->grey_v6_prefix = 64;
	c->grey_max_entries = 1000000;
	c->grey_snapshot_s = 300;
	c->grey_spf_domain = true;
	snprintf(c->grey_reply, sizeof(c->grey_reply),
		 "Intentional policy rejection, please try again later");
	snprintf(c->grey_psl_file, sizeof(c->grey_psl_file), "%s",
		 "/usr/share/publicsuffix/public_suffix_list.dat");
	/* [ratelimit]: far above what one host of a legitimate sender does. */
	c->rl_enabled = true;
	c->rl_msg_per_ip = 300;
	c->rl_rcpt_per_ip = 1500;
	c->rl_msg_per_net = 1000;
	c->rl_rcpt_per_net = 5000;
	c->rl_max_entries = 200000;
	snprintf(c->cluster_prefix, sizeof(c->cluster_prefix), "mx:");
	c->cluster_lookup_timeout_ms = 50;
	c->cluster_connect_timeout_ms = 1000;
	c->cluster_backlog_max = 100000;
}

struct load_ctx {
	struct mx_config *c;
	const char *name;
	char *err;
	size_t errlen, errpos;
	int nerr;
	int lineno; /* counted by our reader: Debian's inih passes no line */
	FILE *file;
	const char *text; /* in-memory source, consumed line by line */
	unsigned seen[NKEYS];
};

static void add_err(struct load_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_err(struct load_ctx *x, const char *fmt, ...)
{
	va_list ap;
	int n;

	x->nerr++;
	if (!x->err || x->errpos + 1 >= x->errlen)
		return;
	va_start(ap, fmt);
	n = vsnprintf(x->err + x->errpos, x->errlen - x->errpos, fmt, ap);
	va_end(ap);
	if (n > 0)
		x->errpos += (size_t)n;
	if (x->errpos + 1 < x->errlen) {
		x->err[x->errpos++] = '\n';
		x->err[x->errpos] = '\0';
	} else {
		x->errpos = x->errlen - 1;
	}
}

static bool parse_int(const char *v, int64_t *out)
{
	char *end;
	long long n;

	if (*v == '\0')
		return false;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || *end != '\0')
		return false;
	*out = n;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (unsigned i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return (*out = true), true;
		if (strcasecmp(v, no[i]) == 0)
			return (*out = false), true;
	}
	return false;
}

static bool parse_ip4(const char *v, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, v, &a) != 1)
		return false;
	*out = ntohl(a.s_addr);
	return true;
}

static bool parse_cidr4(const char *v, uint32_t *addr, uint8_t *prefix)
{
	char buf[64];
	const char *slash = strchr(v, '/');
	int64_t len;

	if (!slash || (size_t)(slash - v) >= sizeof(buf))
		return false;
	memcpy(buf, v, (size_t)(slash - v));
	buf[slash - v] = '\0';
	if (!parse_ip4(buf, addr) || !parse_int(slash + 1, &len) || len < 1 || len > 32)
		return false;
	*prefix = (uint8_t)len;
	return true;
}

static bool nexthop_ok(const char *v, char *why, size_t len)
{
	const char *colon = strrchr(v, ':');
	int64_t port;

	if ((strncmp(v, "smtp:", 5) == 0 || strncmp(v, "lmtp:", 5) == 0) && colon &&
	    colon != v + 4 && colon[1] != '\0' && parse_int(colon + 1, &port) && port >= 1 &&
	    port <= 65535)
		return true;
	snprintf(why, len, "expected smtp:HOST:PORT or lmtp:HOST:PORT");
	return false;
}

/* [policy] mynetworks: an address or a network, IPv4 or IPv6. */
static bool network_ok(const char *v, char *why, size_t len)
{
	char a[64];
	const char *slash = strchr(v, '/');
	size_t alen = slash ? (size_t)(slash - v) : strlen(v);
	unsigned char buf[16];
	int64_t plen = 0, max;

	if (alen && alen < sizeof(a)) {
		memcpy(a, v, alen);
		a[alen] = '\0';
		max = inet_pton(AF_INET, a, buf) == 1	 ? 32
		      : inet_pton(AF_INET6, a, buf) == 1 ? 128
							 : -1;
		if (max > 0 &&
		    (!slash || (parse_int(slash + 1, &plen) && plen >= 0 && plen <= max)))
			return true;
	}
	snprintf(why, len, "expected an address or a network (a.b.c.d/n or v6::/n)");
	return false;
}

/* Append a copy of @v. Returns 0 or -ENOMEM (@l unchanged). */
static int list_push(struct mx_cfg_list *l, const char *v)
{
	if (l->n == l->cap) {
		unsigned cap = l->cap ? l->cap * 2 : 8;
		char **nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n] = strdup(v);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

static void list_free(struct mx_cfg_list *l)
{
	for (unsigned i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* @dst holds no allocation. Returns 0 or -ENOMEM (@dst then empty). */
static int list_copy(struct mx_cfg_list *dst, const struct mx_cfg_list *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src->n == 0)
		return 0;
	dst->v = malloc(src->n * sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	dst->cap = src->n;
	for (; dst->n < src->n; dst->n++) {
		dst->v[dst->n] = strdup(src->v[dst->n]);
		if (!dst->v[dst->n]) {
			list_free(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

/* One list entry @v, given on config line @cline, or on line @fline of
 * the file @file named there. False if rejected (error added). */
static bool list_entry(struct load_ctx *x, const struct key_def *k, struct mx_cfg_list *l,
		       const char *v, const char *file, unsigned fline, int cline)
{
	char why[160] = "", from[MX_CFG_STR + 64] = "", where[MX_CFG_STR + 32];

	if (file) {
		snprintf(where, sizeof(where), "%s:%u", file, fline);
		snprintf(from, sizeof(from), " (file named by %s:%d: [%s] %s)", x->name, cline,
			 k->section, k->name);
	} else {
		snprintf(where, sizeof(where), "%s:%d", x->name, cline);
	}
	if (l->n >= MX_CFG_LIST_MAX) {
		add_err(x, "%s: [%s] %s: more than %d entries (the limit)%s", where, k->section,
			k->name, MX_CFG_LIST_MAX, from);
		return false;
	}
	if (*v == '\0' || strlen(v) >= MX_CFG_STR) {
		add_err(x,
			"%s: [%s] %s: expected a non-empty value shorter than %d bytes, got "
			"'%.*s'%s",
			where, k->section, k->name, MX_CFG_STR, MX_CFG_STR, v, from);
		return false;
	}
	if (k->entry_ok && !k->entry_ok(v, why, sizeof(why))) {
		add_err(x, "%s: [%s] %s = %s: %s%s", where, k->section, k->name, v, why, from);
		return false;
	}
	if (list_push(l, v) != 0) {
		add_err(x, "%s: [%s] %s: out of memory%s", where, k->section, k->name, from);
		return false;
	}
	return true;
}

/* "file:@path" on config line @line: every line of @path is one entry;
 * '#' starts a comment, blank lines are skipped, spaces trimmed. */
static bool list_file(struct load_ctx *x, const struct key_def *k, struct mx_cfg_list *l,
		      const char *path, int line)
{
	char *buf = NULL;
	size_t cap = 0;
	unsigned fline = 0;
	bool ok = true;
	FILE *f;

	if (path[0] != '/') {
		add_err(x,
			"%s:%d: [%s] %s = file:%s: expected an absolute path after file:", x->name,
			line, k->section, k->name, path);
		return false;
	}
	f = fopen(path, "r");
	if (!f) {
		add_err(x, "%s:%d: [%s] %s = file:%s: cannot read: %s", x->name, line, k->section,
			k->name, path, strerror(errno));
		return false;
	}
	while (getline(&buf, &cap, f) >= 0) {
		char *p = buf, *e = strchr(buf, '#');

		fline++;
		if (!e)
			e = p + strlen(p);
		while (e > p && isspace((unsigned char)e[-1]))
			e--;
		*e = '\0';
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			continue;
		if (!list_entry(x, k, l, p, path, fline, line)) {
			ok = false;
			if (l->n >= MX_CFG_LIST_MAX)
				break;
		}
	}
	if (ferror(f)) {
		add_err(x, "%s:%d: [%s] %s = file:%s: read error after line %u: %s", x->name, line,
			k->section, k->name, path, fline, strerror(errno));
		ok = false;
	}
	free(buf);
	fclose(f);
	return ok;
}

static bool parse_value(struct load_ctx *x, const struct key_def *k, const char *v, int line)
{
	char *base = (char *)x->c + k->off;
	const char *where = x->name;

	switch (k->type) {
	case K_STR:
		if (strlen(v) >= MX_CFG_STR) {
			add_err(x, "%s:%d: [%s] %s: expected a string shorter than %d bytes", where,
				line, k->section, k->name, MX_CFG_STR);
			return false;
		}
		snprintf(base, MX_CFG_STR, "%s", v);
		return true;
	case K_LIST:
		if (strncmp(v, "file:", 5) == 0)
			return list_file(x, k, (struct mx_cfg_list *)base, v + 5, line);
		return list_entry(x, k, (struct mx_cfg_list *)base, v, NULL, 0, line);
	case K_INT: {
		int64_t n;
		if (!parse_int(v, &n) || n < k->min || n > k->max) {
			add_err(x, "%s:%d: [%s] %s: expected an integer in %lld..%lld, got '%s'",
				where, line, k->section, k->name, (long long)k->min,
				(long long)k->max, v);
			return false;
		}
		*(int64_t *)base = n;
		return true;
	}
	case K_BOOL:
		if (!parse_bool(v, (bool *)base)) {
			add_err(x, "%s:%d: [%s] %s: expected yes or no, got '%s'", where, line,
				k->section, k->name, v);
			return false;
		}
		return true;
	case K_PCT: {
		char *end;
		double d;
		errno = 0;
		d = strtod(v, &end);
		if (*v == '\0' || errno || (*end != '\0' && strcmp(end, "%") != 0) || !(d >= 0) ||
		    d > 100) {
			add_err(x, "%s:%d: [%s] %s: expected a percentage in 0..100, got '%s'",
				where, line, k->section, k->name, v);
			return false;
		}
		*(double *)base = d;
		return true;
	}
	case K_LEVEL: {
		int lv = mx_log_level_parse(v);
		if (lv < 0) {
			add_err(x,
				"%s:%d: [%s] %s: expected err, warn, notice, info or debug, got "
				"'%s'",
				where, line, k->section, k->name, v);
			return false;
		}
		*(int64_t *)base = lv;
		return true;
	}
	case K_ENUM: {
		char expect[128] = "";
		for (unsigned i = 0; k->names[i]; i++) {
			if (strcmp(v, k->names[i]) == 0)
				return (*(int64_t *)base = i), true;
			snprintf(expect + strlen(expect), sizeof(expect) - strlen(expect), "%s%s",
				 i ? (k->names[i + 1] ? ", " : " or ") : "", k->names[i]);
		}
		add_err(x, "%s:%d: [%s] %s: expected %s, got '%s'", where, line, k->section,
			k->name, expect, v);
		return false;
	}
	case K_CIDR4:
		if (!parse_cidr4(v, &x->c->ip4_addr, &x->c->ip4_prefix)) {
			add_err(x,
				"%s:%d: [%s] %s: expected an IPv4 address with prefix length "
				"(a.b.c.d/n), got '%s'",
				where, line, k->section, k->name, v);
			return false;
		}
		return true;
	case K_IP4:
		if (!parse_ip4(v, (uint32_t *)base)) {
			add_err(x, "%s:%d: [%s] %s: expected an IPv4 address (a.b.c.d), got '%s'",
				where, line, k->section, k->name, v);
			return false;
		}
		return true;
	}
	return false;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *x = user;
	int line = x->lineno;

	for (unsigned i = 0; i < NKEYS; i++) {
		const struct key_def *k = &keys[i];
		if (strcmp(k->section, section) != 0 || strcmp(k->name, name) != 0)
			continue;
		if (x->seen[i] && k->type != K_LIST) {
			add_err(x, "%s:%d: [%s] %s: key given twice (first on line %u)", x->name,
				line, section, name, x->seen[i]);
			return 1;
		}
		x->seen[i] = (unsigned)line;
		parse_value(x, k, value, line);
		return 1;
	}
	add_err(x, "%s:%d: [%s] %s: unknown key (see etc/mxgate.conf for the valid keys)", x->name,
		line, section, name);
	/* Keep going: report every error of the file at once. */
	return 1;
}

/* The line key [@section] @name was given on, 0 if it was not. */
static unsigned key_line(const struct load_ctx *x, const char *section, const char *name)
{
	for (unsigned i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return x->seen[i];
	return 0;
}

/* [dns] servers: "ADDR[:PORT]" or "[IPv6]:PORT", comma-separated (the
 * syntax of c-ares' ares_set_servers_ports_csv()). */
static bool dns_servers_ok(const char *v)
{
	char buf[MX_CFG_STR], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", v);
	for (char *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		unsigned char a[16];
		char *port = NULL, *end;
		while (*s == ' ')
			s++;
		if (*s == '[') {
			char *rb = strchr(s, ']');
			if (!rb || rb[1] != ':')
				return false;
			*rb = '\0';
			port = rb + 2;
			if (inet_pton(AF_INET6, s + 1, a) != 1)
				return false;
		} else {
			char *colon = strchr(s, ':');
			if (colon && strchr(colon + 1, ':')) {
				if (inet_pton(AF_INET6, s, a) != 1) /* bare IPv6, port 53 */
					return false;
			} else {
				if (colon) {
					*colon = '\0';
					port = colon + 1;
				}
				if (inet_pton(AF_INET, s, a) != 1)
					return false;
			}
		}
		if (port) {
			long p = strtol(port, &end, 10);
			if (end == port || *end || p < 1 || p > 65535)
				return false;
		}
	}
	return true;
}

/* [cluster]: literal ADDRESS:PORT (hiredis would resolve a name with a
 * blocking call), sentinels with a master name. */
static void check_cluster(struct load_ctx *x)
{
	const struct mx_config *c = x->c;
	char buf[MX_CFG_STR], *save = NULL;

	if (c->cluster_redis[0] && config_parse_listen(c->cluster_redis, NULL, NULL) != 0)
		add_err(x,
			"%s:%u: [cluster] redis = %s: expected ADDRESS:PORT (a.b.c.d:PORT or "
			"[IPv6]:PORT)",
			x->name, key_line(x, "cluster", "redis"), c->cluster_redis);
	snprintf(buf, sizeof(buf), "%s", c->cluster_sentinels);
	for (char *s = strtok_r(buf, ", ", &save); s; s = strtok_r(NULL, ", ", &save))
		if (config_parse_listen(s, NULL, NULL) != 0)
			add_err(x,
				"%s:%u: [cluster] sentinels: %s: expected ADDRESS:PORT "
				"(a.b.c.d:PORT "
				"or [IPv6]:PORT), comma-separated",
				x->name, key_line(x, "cluster", "sentinels"), s);
	if (c->cluster_sentinels[0] && !c->cluster_sentinel_master[0])
		add_err(x, "%s:%u: [cluster] sentinels: expected a [cluster] sentinel_master",
			x->name, key_line(x, "cluster", "sentinels"));
}

static void check_whole(struct load_ctx *x)
{
	struct mx_config *c = x->c;

	for (unsigned i = 0; i < NKEYS; i++)
		if (keys[i].required && !x->seen[i])
			add_err(x, "%s: [%s] %s: required key missing", x->name, keys[i].section,
				keys[i].name);
	if (c->eal_no_pci && c->eal_pci_allow.n > 0)
		add_err(x, "%s: [eal] pci_allow: cannot be combined with no_pci = yes", x->name);
	if (c->ip4_addr && c->ip4_prefix < 32 && c->ip4_gateway) {
		uint32_t mask = c->ip4_prefix ? ~0u << (32 - c->ip4_prefix) : 0;
		if ((c->ip4_gateway & mask) != (c->ip4_addr & mask))
			add_err(x,
				"%s: [ipv4] gateway: expected an address inside the [ipv4] address "
				"network",
				x->name);
	}
	if (c->relay_tls == 3 && c->relay_ca_file[0] == '\0')
		add_err(x,
			"%s: [relay] tls = verify: expected [relay] ca_file (PEM CA certificates)",
			x->name);
	if (c->relay_ca_file[0] != '\0' && c->relay_ca_file[0] != '/')
		add_err(x, "%s: [relay] ca_file = %s: expected an absolute path", x->name,
			c->relay_ca_file);
	if (c->relay_retry_min_s > c->relay_retry_max_s)
		add_err(x, "%s: [relay] retry_min_s: expected at most retry_max_s (%lld)", x->name,
			(long long)c->relay_retry_max_s);
	if (c->daemon_user[0] == '\0')
		add_err(x, "%s: [daemon] user: expected the name of an unprivileged user", x->name);
	/* nobody is shared by other services: as mxgate's user it would own
	 * every queued message and the ctl's privileged commands. */
	if (strcmp(c->daemon_user, "nobody") == 0)
		add_err(x,
			"%s:%u: [daemon] user = nobody: refused: other services share nobody, and "
			"this user owns the spool and the ctl's privileged commands; use a "
			"dedicated user (the default mxgate, created by scripts/ensure-user.sh)",
			x->name, key_line(x, "daemon", "user"));
	if (c->tls_cert.n != c->tls_key.n)
		add_err(x, "%s: [tls] key: %u keys for %u certs (one key per cert, same order)",
			x->name, c->tls_key.n, c->tls_cert.n);
	for (unsigned i = 0; i < c->tls_cert.n && i < c->tls_key.n; i++)
		if (c->tls_cert.v[i][0] != '/' || c->tls_key.v[i][0] != '/')
			add_err(x, "%s:%u: [tls] cert/key %s, %s: expected absolute paths", x->name,
				key_line(x, "tls", "cert"), c->tls_cert.v[i], c->tls_key.v[i]);
	if (c->tls_ticket_key_file[0] && c->tls_ticket_key_file[0] != '/')
		add_err(x, "%s:%u: [tls] ticket_key_file = %s: expected an absolute path", x->name,
			key_line(x, "tls", "ticket_key_file"), c->tls_ticket_key_file);
	if (c->tls_implicit_port && c->tls_cert.n == 0)
		add_err(x, "%s:%u: [tls] implicit_port: expected a [tls] cert and key", x->name,
			key_line(x, "tls", "implicit_port"));
	if (c->tls_implicit_port && c->tls_implicit_port == c->smtp_port)
		add_err(x, "%s:%u: [tls] implicit_port: the same as [smtp] port", x->name,
			key_line(x, "tls", "implicit_port"));
	if (c->smtp_tls == 2 && c->tls_cert.n == 0)
		add_err(x, "%s:%u: [smtp] tls = encrypt: expected a [tls] cert and key", x->name,
			key_line(x, "smtp", "tls"));
	if (c->metrics_listen[0] && config_parse_listen(c->metrics_listen, NULL, NULL) != 0)
		add_err(x,
			"%s: [metrics] listen = %s: expected ADDRESS:PORT (a.b.c.d:PORT or "
			"[IPv6]:PORT, port 1..65535)",
			x->name, c->metrics_listen);
	if (c->dns_servers[0] && !dns_servers_ok(c->dns_servers))
		add_err(x,
			"%s:%u: [dns] servers = %s: expected ADDRESS[:PORT] or [IPv6]:PORT, "
			"comma-separated",
			x->name, key_line(x, "dns", "servers"), c->dns_servers);
	if (c->dns_min_ttl > c->dns_max_ttl)
		add_err(x, "%s:%u: [dns] min_ttl: expected at most max_ttl (%lld)", x->name,
			key_line(x, "dns", "min_ttl"), (long long)c->dns_max_ttl);
	check_cluster(x);
}

static int finish(struct load_ctx *x, int rc)
{
	if (rc > 0)
		add_err(x, "%s:%d: syntax error (expected [section] or key = value)", x->name, rc);
	else if (rc < 0)
		add_err(x, "%s: out of memory while reading", x->name);
	if (rc == 0)
		check_whole(x);
	return x->nerr ? -1 : 0;
}

/* ini_reader: one line per call (like fgets), counting lines for messages.
 * The handler for a line always runs before the next line is read. */
static char *read_line(char *buf, int size, void *stream)
{
	struct load_ctx *x = stream;
	char *r;

	if (x->file) {
		r = fgets(buf, size, x->file);
	} else {
		const char *nl;
		size_t n;
		if (*x->text == '\0')
			return NULL;
		nl = strchr(x->text, '\n');
		n = nl ? (size_t)(nl - x->text) + 1 : strlen(x->text);
		if (n > (size_t)size - 1)
			n = (size_t)size - 1;
		memcpy(buf, x->text, n);
		buf[n] = '\0';
		x->text += n;
		r = buf;
	}
	if (r)
		x->lineno++;
	return r;
}

static int load(struct load_ctx *x, struct mx_config *c)
{
	int rc;

	if (x->err && x->errlen)
		x->err[0] = '\0';
	snprintf(c->path, sizeof(c->path), "%s", x->name);
	rc = finish(x, ini_parse_stream(read_line, x, on_key, x));
	if (rc != 0)
		config_clear(c);
	return rc;
}

int config_load(struct mx_config *c, const char *path, char *err, size_t errlen)
{
	struct load_ctx x = {.c = c, .name = path, .err = err, .errlen = errlen};
	int rc;

	config_defaults(c);
	x.file = fopen(path, "r");
	if (!x.file) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	rc = load(&x, c);
	fclose(x.file);
	return rc;
}

int config_load_string(struct mx_config *c, const char *name, const char *text, char *err,
		       size_t errlen)
{
	struct load_ctx x = {.c = c, .name = name, .err = err, .errlen = errlen, .text = text};

	config_defaults(c);
	return load(&x, c);
}

int config_fault_enabled(const struct mx_config *c)
{
	const struct mx_fault_dir *d[2] = {&c->fault_rx, &c->fault_tx};

	for (unsigned i = 0; i < 2; i++)
		if (d[i]->drop_pct > 0 || d[i]->dup_pct > 0 || d[i]->reorder_pct > 0 ||
		    d[i]->delay_us > 0)
			return 1;
	return 0;
}

/* ---- the key table for reload: compare, copy, print ---------------------------- */

#define FIELD(c, k, T)	((T *)((char *)(c) + (k)->off))
#define CFIELD(c, k, T) ((const T *)((const char *)(c) + (k)->off))

static bool key_equal(const struct key_def *k, const struct mx_config *a, const struct mx_config *b)
{
	switch (k->type) {
	case K_STR:
		return strcmp(CFIELD(a, k, char), CFIELD(b, k, char)) == 0;
	case K_LIST: {
		const struct mx_cfg_list *la = CFIELD(a, k, struct mx_cfg_list);
		const struct mx_cfg_list *lb = CFIELD(b, k, struct mx_cfg_list);
		if (la->n != lb->n)
			return false;
		for (unsigned i = 0; i < la->n; i++)
			if (strcmp(la->v[i], lb->v[i]) != 0)
				return false;
		return true;
	}
	case K_INT:
	case K_LEVEL:
	case K_ENUM:
		return *CFIELD(a, k, int64_t) == *CFIELD(b, k, int64_t);
	case K_BOOL:
		return *CFIELD(a, k, bool) == *CFIELD(b, k, bool);
	case K_PCT:
		return *CFIELD(a, k, double) == *CFIELD(b, k, double);
	case K_CIDR4:
		return a->ip4_addr == b->ip4_addr && a->ip4_prefix == b->ip4_prefix;
	case K_IP4:
		return *CFIELD(a, k, uint32_t) == *CFIELD(b, k, uint32_t);
	}
	return false;
}

/* Give @dst the value of key @k in @src. 0 or -ENOMEM. */
static int key_copy(const struct key_def *k, struct mx_config *dst, const struct mx_config *src)
{
	switch (k->type) {
	case K_STR:
		memcpy(FIELD(dst, k, char), CFIELD(src, k, char), MX_CFG_STR);
		return 0;
	case K_LIST: {
		struct mx_cfg_list copy;
		if (list_copy(&copy, CFIELD(src, k, struct mx_cfg_list)) != 0)
			return -ENOMEM;
		list_free(FIELD(dst, k, struct mx_cfg_list));
		*FIELD(dst, k, struct mx_cfg_list) = copy;
		return 0;
	}
	case K_INT:
	case K_LEVEL:
	case K_ENUM:
		*FIELD(dst, k, int64_t) = *CFIELD(src, k, int64_t);
		return 0;
	case K_BOOL:
		*FIELD(dst, k, bool) = *CFIELD(src, k, bool);
		return 0;
	case K_PCT:
		*FIELD(dst, k, double) = *CFIELD(src, k, double);
		return 0;
	case K_CIDR4:
		dst->ip4_addr = src->ip4_addr;
		dst->ip4_prefix = src->ip4_prefix;
		return 0;
	case K_IP4:
		*FIELD(dst, k, uint32_t) = *CFIELD(src, k, uint32_t);
		return 0;
	}
	return 0;
}

static void ip4_format(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

void config_key_value(const struct mx_config *c, unsigned i, char *buf, size_t len)
{
	const struct key_def *k;
	char ip[16];

	if (!len)
		return;
	buf[0] = '\0';
	if (i >= NKEYS)
		return;
	k = &keys[i];
	switch (k->type) {
	case K_STR:
		snprintf(buf, len, "%s", CFIELD(c, k, char));
		break;
	case K_LIST: {
		const struct mx_cfg_list *l = CFIELD(c, k, struct mx_cfg_list);
		size_t off = 0;
		if (l->n > 3) {
			snprintf(buf, len, "%u entries", l->n);
			break;
		}
		for (unsigned e = 0; e < l->n && off < len; e++)
			off += (size_t)snprintf(buf + off, len - off, "%s%s", e ? ", " : "",
						l->v[e]);
		break;
	}
	case K_INT:
		snprintf(buf, len, "%lld", (long long)*CFIELD(c, k, int64_t));
		break;
	case K_LEVEL:
		snprintf(buf, len, "%s",
			 mx_log_level_name((enum mx_log_level) * CFIELD(c, k, int64_t)));
		break;
	case K_ENUM:
		snprintf(buf, len, "%s", k->names[*CFIELD(c, k, int64_t)]);
		break;
	case K_BOOL:
		snprintf(buf, len, "%s", *CFIELD(c, k, bool) ? "yes" : "no");
		break;
	case K_PCT:
		snprintf(buf, len, "%g", *CFIELD(c, k, double));
		break;
	case K_CIDR4:
		ip4_format(c->ip4_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s/%u", ip, c->ip4_prefix);
		break;
	case K_IP4:
		ip4_format(*CFIELD(c, k, uint32_t), ip, sizeof(ip));
		snprintf(buf, len, "%s", ip);
		break;
	}
}

unsigned config_diff(const struct mx_config *a, const struct mx_config *b, config_diff_fn fn,
		     void *arg)
{
	unsigned n = 0;

	for (unsigned i = 0; i < NKEYS; i++) {
		if (key_equal(&keys[i], a, b))
			continue;
		n++;
		if (fn)
			fn(arg, i, keys[i].apply);
	}
	return n;
}

int config_keep_restart(struct mx_config *next, const struct mx_config *running)
{
	for (unsigned i = 0; i < NKEYS; i++)
		if (keys[i].apply == MX_CFG_RESTART && key_copy(&keys[i], next, running) != 0)
			return -ENOMEM;
	return 0;
}

void config_clear(struct mx_config *c)
{
	for (unsigned i = 0; i < NKEYS; i++)
		if (keys[i].type == K_LIST)
			list_free(FIELD(c, &keys[i], struct mx_cfg_list));
}

int config_copy(struct mx_config *dst, const struct mx_config *src)
{
	*dst = *src;
	for (unsigned i = 0; i < NKEYS; i++) {
		const struct key_def *k = &keys[i];
		if (k->type != K_LIST)
			continue;
		if (list_copy(FIELD(dst, k, struct mx_cfg_list),
			      CFIELD(src, k, struct mx_cfg_list)) != 0) {
			/* Lists after this one still point into @src. */
			for (unsigned j = i + 1; j < NKEYS; j++)
				if (keys[j].type == K_LIST)
					memset(FIELD(dst, &keys[j], struct mx_cfg_list), 0,
					       sizeof(struct mx_cfg_list));
			config_clear(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

enum mx_cfg_apply config_key_apply(unsigned i)
{
	return i < NKEYS ? keys[i].apply : MX_CFG_RESTART;
}

const char *config_key_name(unsigned i, const char **section)
{
	if (i >= NKEYS)
		return NULL;
	*section = keys[i].section;
	return keys[i].name;
}

int config_parse_listen(const char *s, struct sockaddr_storage *ss, size_t *len)
{
	struct sockaddr_storage tmp;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	int64_t port;
	size_t hl;

	if (!ss)
		ss = &tmp;
	memset(ss, 0, sizeof(*ss));
	if (!colon || !parse_int(colon + 1, &port) || port < 1 || port > 65535)
		return -1;
	hl = (size_t)(colon - s);
	if (s[0] == '[') { /* [IPv6]:PORT */
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		if (hl < 3 || s[hl - 1] != ']' || hl - 2 >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hl - 2);
		host[hl - 2] = '\0';
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -1;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (len)
			*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
		if (hl == 0 || hl >= sizeof(host))
			return -1;
		memcpy(host, s, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -1;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		if (len)
			*len = sizeof(*a4);
	}
	return 0;
}
