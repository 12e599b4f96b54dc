/*
 * config-t.h - types of the mxgate configuration (the parsed INI file).
 *
 * Every key lives in one table in config.c with its type, bounds, default
 * and documentation; etc/mxgate.conf documents each one for operators.
 */
#ifndef MX_CORE_CONFIG_T_H
#define MX_CORE_CONFIG_T_H

#include <stdbool.h>
#include <stdint.h>

#define MX_CFG_STR	256
#define MX_CFG_LIST_MAX 1000000 /* entries per list key, files included */

enum mx_steering {
	MX_STEER_AUTO = 0, /* RSS if the port can, else software */
	MX_STEER_RSS,
	MX_STEER_SOFTWARE,
};

/* A list key: the key may repeat, and a value "file:/abs/path" stands for
 * the entries of that file (one per line). Heap-allocated: v[0 .. n-1] are
 * NUL-terminated strings shorter than MX_CFG_STR, owned by the config and
 * freed by config_clear()/config_free(). */
struct mx_cfg_list {
	unsigned n, cap;
	char **v;
};

/* Whether a changed key takes effect on reload or at the next start. */
enum mx_cfg_apply {
	MX_CFG_RESTART = 0, /* a reload reports it and keeps the running value */
	MX_CFG_LIVE,	    /* a reload applies it */
};

struct mx_fault_dir {
	double drop_pct;
	double dup_pct;
	double reorder_pct;
	int64_t delay_us;
};

struct mx_config {
	char path[MX_CFG_STR];
	uint64_t generation; /* set by config_publish(): 1 at boot, +1 per reload */

	/* [eal] */
	char eal_lcores[MX_CFG_STR];
	int64_t eal_main_lcore;
	bool eal_no_huge;
	bool eal_no_pci;
	int64_t eal_memory_mb;
	char eal_file_prefix[MX_CFG_STR];
	int64_t eal_log_level;
	struct mx_cfg_list eal_pci_allow;
	struct mx_cfg_list eal_vdev;

	/* [port] */
	char port_device[MX_CFG_STR];
	int64_t port_rx_desc;
	int64_t port_tx_desc;
	int64_t port_mbufs;
	int64_t port_mtu;
	int64_t port_steering; /* enum mx_steering */
	bool port_promiscuous;

	/* [ipv4] */
	uint32_t ip4_addr; /* host byte order */
	uint8_t ip4_prefix;
	uint32_t ip4_gateway; /* 0: none */
	int64_t arp_timeout_s;
	int64_t arp_entries;

	/* [worker] */
	int64_t worker_burst;
	int64_t worker_idle_sleep_us;
	int64_t worker_ring_size;

	/* [tcp] */
	int64_t tcp_max_conns;
	int64_t tcp_max_timewait;
	int64_t tcp_backlog;
	int64_t tcp_sndbuf_kb;
	int64_t tcp_rcvbuf_kb;
	int64_t tcp_snd_mem_mb;
	int64_t tcp_rcv_mem_mb;
	int64_t tcp_rto_min_ms;
	int64_t tcp_delack_ms;
	int64_t tcp_time_wait_s;
	bool tcp_syncookies;
	bool tcp_timestamps;
	bool tcp_sack;
	bool tcp_window_scaling;
	bool tcp_keepalive;
	int64_t tcp_echo_port; /* 0: echo test service off */
	int64_t tcp_fin_wait2_s;
	int64_t tcp_zero_window_max_s;	  /* 0: no bound */
	int64_t tcp_snd_mem_pressure_pct; /* 0: never */
	int64_t tcp_synack_retries;
	char tcp_conn_table[MX_CFG_STR]; /* "": <spool>/tcp-conns; "none" */
	int64_t tcp_max_lifetime_s;	 /* 0: no bound */

	/* [smtp] */
	int64_t smtp_port; /* 0: no SMTP listener */
	char smtp_hostname[MX_CFG_STR];
	int64_t smtp_max_sessions;
	int64_t smtp_max_msg_size;
	int64_t smtp_max_rcpt;
	int64_t smtp_max_errors;
	int64_t smtp_max_commands;
	int64_t smtp_line_ext;
	int64_t smtp_greet_delay_ms; /* -1: 1000 on port 25, else 0 */
	int64_t smtp_pregreet;	     /* 0 reply, 1 drop, 2 log */
	bool smtp_greet_teaser;	     /* "220-" at once, "220 " after greet_delay_ms */
	int64_t smtp_timeout_cmd_s;
	int64_t smtp_timeout_data_s;
	int64_t smtp_max_conn_per_ip;	 /* admission (smtp/admission.h); 0: off */
	int64_t smtp_max_conn_per_net;	 /* per /24 (IPv4), /64 (IPv6) */
	int64_t smtp_conn_rate_per_net;	 /* new connections per second per net */
	int64_t smtp_conn_burst_per_net; /* of which back to back */
	int64_t smtp_reserve_pct;	 /* free slots kept for clients with none */
	bool smtp_connect_spool_check;	 /* spool refusing: 421 4.3.2 at connect */
	int64_t smtp_linger_ms;		 /* after our FIN, then reset */
	int64_t smtp_max_lifetime_s;	 /* of a session, then 421 */

	/* [spool] */
	char spool_dir[MX_CFG_STR]; /* "": no spool, every message 451 */
	int64_t spool_segment_mb;
	int64_t spool_commit_interval_us;
	int64_t spool_commit_batch;
	int64_t spool_commit_threads;
	int64_t spool_high_water_mb;   /* 0: automatic (queue/spool-t.h SPOOL_AUTO_HW_*) */
	int64_t spool_min_free_mb;     /* 0: off */
	bool spool_recover_background; /* verify the backlog after port 25 opens */

	/* [relay] */
	struct mx_cfg_list relay_nexthop; /* "smtp:HOST:PORT" / "lmtp:HOST:PORT", by priority */
	struct mx_cfg_list relay_bounce_nexthop; /* one, like nexthop; none: nexthop */
	int64_t relay_threads;
	int64_t relay_retry_min_s;
	int64_t relay_retry_max_s;
	int64_t relay_refuse_after_s;	    /* 0: never */
	int64_t relay_tls;		    /* enum relay_tls: 0 none, 1 may, 2 encrypt, 3 verify */
	char relay_ca_file[MX_CFG_STR];	    /* "": none (needed by tls = verify) */
	int64_t relay_max_backlog_age_s;    /* 0: never refuse for a slow relay */
	int64_t relay_max_queue_lifetime_s; /* 0: never expire */
	int64_t relay_on_permanent_failure; /* enum relay_on_perm: 0 bounce, 1 hold */

	/* [fault] */
	int64_t fault_seed;
	int64_t fault_reorder_us;
	struct mx_fault_dir fault_rx;
	struct mx_fault_dir fault_tx;

	/* [ctl] */
	char ctl_socket[MX_CFG_STR];

	/* [log] */
	int64_t log_level; /* enum mx_log_level */

	/* [daemon] */
	char daemon_user[MX_CFG_STR];
	char daemon_group[MX_CFG_STR];

	/* Operator's toolbox (issue 16) */
	int64_t daemon_drain_timeout_s;	    /* [daemon]: live sessions get this long */
	int64_t daemon_drain_mode;	    /* [daemon]: enum mx_drain_mode */
	int64_t log_format;		    /* [log]: 0 text, 1 json (mx_log_json) */
	bool log_syslog;		    /* [log]: also to syslog(3), facility mail */
	char log_syslog_socket[MX_CFG_STR]; /* [log]: its datagram socket (/dev/log) */

	/* [metrics] */
	char metrics_listen[MX_CFG_STR]; /* "a.b.c.d:PORT" or "[v6]:PORT"; "": no /metrics */

	/* [policy] (policy/policy.h) */
	bool policy_enabled;
	bool policy_delay_reject;		/* connect/HELO/MAIL verdicts applied at RCPT */
	struct mx_cfg_list policy_mynetworks;	/* trusted clients */
	struct mx_cfg_list policy_domains;	/* accepted domains; empty: hostname's */
	char policy_recipients[MX_CFG_STR];	/* recipient list file; "": none */
	bool policy_helo_checks;		/* syntax, FQDN, special-use, literal, ours */
	struct mx_cfg_list policy_helo_special; /* more special-use suffixes */
	int64_t policy_helo_dns;		/* 0 off, 1 defer (450), 2 reject (550) */
	bool policy_sender_ours;		/* our domains from strangers: 553 */
	int64_t policy_sender_domain;		/* 0 off, 1 defer (450), 2 reject (550) */
	struct mx_cfg_list policy_dnsbl;	/* zone[=filter][*weight] */
	int64_t policy_dnsbl_threshold;
	struct mx_cfg_list policy_reply; /* CHECK CODE ENH TEXT */
	int64_t policy_client_rdns;	 /* 0 off, 1 record, 2 defer (450), 3 reject (550) */
	int64_t policy_spf;		 /* 0 off, 1 header, 2 reject (fail: 550 5.7.23) */
	struct mx_cfg_list policy_tempfail_skip; /* DNS checks skipped on TEMPFAIL */
	int64_t policy_pass_cache_ttl_s;	 /* pregreet passes remembered; 0 off */
	bool policy_verify_recipients;		 /* probe the next hop at RCPT */
	char policy_verify_nexthop[MX_CFG_STR];	 /* "": the first [relay] nexthop */
	int64_t policy_verify_pos_ttl_s, policy_verify_neg_ttl_s, policy_verify_timeout_ms;

	/* [dns] (policy/dns.h) */
	char dns_servers[MX_CFG_STR]; /* "ip[:port],[v6]:port,..."; "": /etc/resolv.conf */
	int64_t dns_timeout_ms;
	int64_t dns_tries;
	int64_t dns_min_ttl;
	int64_t dns_max_ttl;
	int64_t dns_neg_ttl_max;
	int64_t dns_cache_max;
	int64_t dns_inflight_max;
	/* [tls] (and [smtp] tls): STARTTLS on the SMTP listener (smtp/tls_ctx.h) */
	int64_t smtp_tls;		      /* 0 none, 1 may, 2 encrypt */
	struct mx_cfg_list tls_cert;	      /* PEM certificate (chain) files, one per pair */
	struct mx_cfg_list tls_key;	      /* PEM private keys, same order as tls_cert */
	int64_t tls_min_version;	      /* 0 "1.0", 1 "1.1", 2 "1.2", 3 "1.3" */
	int64_t tls_handshake_timeout_s;      /* 220 to STARTTLS -> handshake done */
	int64_t tls_max_sessions;	      /* TLS sessions per worker (0: [smtp] max_sessions) */
	int64_t tls_watch_s;		      /* look at the files' mtimes this often (0: off) */
	int64_t tls_expiry_warn_days;	      /* log a warning when a cert expires sooner */
	int64_t tls_implicit_port;	      /* implicit TLS listener (465); 0: none */
	char tls_ticket_key_file[MX_CFG_STR]; /* "": keys made here, rotated (below) */
	int64_t tls_ticket_key_rotate_s;      /* new ticket key this often without a file */
	int64_t tls_mem_per_worker_mb;	      /* OpenSSL heap per worker; 0: 128 KiB a session */

	/* [greylist] (policy/greylist.h, policy/grey_stage.c) */
	bool grey_enabled;
	int64_t grey_delay_s;
	int64_t grey_window_s;
	int64_t grey_max_age_s;
	int64_t grey_awl_passes;
	int64_t grey_v4_prefix;
	int64_t grey_v6_prefix;
	int64_t grey_max_entries;
	char grey_snapshot[MX_CFG_STR]; /* "": <spool_dir>/greylist.snap */
	int64_t grey_snapshot_s;	/* seconds between snapshots */
	bool grey_spf_domain;		/* SPF pass: key on the sender domain */
	char grey_reply[MX_CFG_STR];	/* text after "<rcpt>: Recipient address rejected: " */
	char grey_wl_senders[MX_CFG_STR];
	char grey_wl_clients[MX_CFG_STR];
	char grey_wl_hosts[MX_CFG_STR];
	char grey_wl_rcpts[MX_CFG_STR];
	bool grey_ptr_org;		/* confirmed PTR: key on its registered domain */
	char grey_psl_file[MX_CFG_STR]; /* Public Suffix List ("": last two labels) */

	/* [ratelimit] (policy/ratelimit.h): per minute, 0 off */
	bool rl_enabled;
	int64_t rl_msg_per_ip;
	int64_t rl_rcpt_per_ip;
	int64_t rl_msg_per_net;
	int64_t rl_rcpt_per_net;
	int64_t rl_max_entries;

	/* [cluster] (policy/store_redis.h): the shared store of several nodes */
	char cluster_redis[MX_CFG_STR];		    /* "IP:PORT" of the Redis primary; "": off */
	char cluster_password[MX_CFG_STR];	    /* AUTH; "": none */
	char cluster_username[MX_CFG_STR];	    /* AUTH user password (ACL); "": default */
	char cluster_sentinel_password[MX_CFG_STR]; /* AUTH to the sentinels; "": none */
	char cluster_prefix[MX_CFG_STR];	    /* key prefix ("mx:") */
	char cluster_sentinels[MX_CFG_STR];	    /* "IP:PORT,..."; "": no Sentinel */
	char cluster_sentinel_master[MX_CFG_STR];   /* the master's name at the sentinels */
	int64_t cluster_lookup_timeout_ms;
	int64_t cluster_connect_timeout_ms;
	int64_t cluster_backlog_max;
};

/* [daemon] drain_mode: what new connections get while draining. */
enum mx_drain_mode {
	MX_DRAIN_REPLY = 0, /* 421 4.3.2 Service shutting down */
	MX_DRAIN_SILENT,    /* closed without a word */
};

#endif
