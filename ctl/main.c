/*
 * main.c - the mxgate daemon: load the config, bring up the EAL and the
 * port, open the ctl socket, drop privileges, launch the workers, then run
 * the control loop (core/loop.h) on the main lcore until SIGTERM/SIGINT:
 * every round waits at most 20 ms for the fds and timers registered there
 * (ctl clients ...), then drains the workers' log rings and looks at the
 * signal flags, so no client can delay those.
 *
 * SIGHUP reloads the configuration, like `mxgatectl reload` (ctl/reload.c).
 * The boot configuration is published as generation 1 before anything
 * reads it; daemon_config() is always the running generation.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "core/config.h"
#include "core/counters.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/tlsmem.h"
#include "ctl/ctl.h"
#include "ctl/daemon.h"
#include "ctl/metrics.h"
#include "ctl/tls.h"
#include "dataplane/dataplane.h"
#include "policy/dns.h"
#include "policy/grey_stage.h"
#include "policy/policy.h"
#include "policy/rl_stage.h"
#include "policy/store_redis.h"
#include "policy/verify.h"
#include "queue/queue.h"
#include "smtp/server.h"

static time_t started;
static volatile sig_atomic_t got_stop, got_hup;

const struct mx_config *daemon_config(void)
{
	return config_current();
}

time_t daemon_started(void)
{
	return started;
}

void daemon_request_stop(void)
{
	got_stop = -1; /* not a signal: a drain finished */
}

/* Has every worker gone round its loop once (READY for systemd)? */
static bool workers_polling(void)
{
	for (unsigned i = 0; i < dp_nworkers(); i++) {
		struct dp_stats st;
		dp_stats_read(i, &st);
		if (st.loops == 0)
			return false;
	}
	return true;
}

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_stop = sig;
}

/* --list-keys: "[section] key live|restart", one a line, from the key
 * table itself (core/config.c). */
static void list_keys(void)
{
	const char *name, *section;

	for (unsigned i = 0; (name = config_key_name(i, &section)) != NULL; i++)
		printf("[%s] %s %s\n", section, name,
		       config_key_apply(i) == MX_CFG_LIVE ? "live" : "restart");
}

/* --list-commands: what `mxgatectl help` answers, from the same registry. */
static void list_commands(void)
{
	struct ctl_out o = {0};
	char line[] = "help";

	ctl_run_line(&o, line, true);
	if (o.buf)
		fputs(o.buf, stdout);
	free(o.buf);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mxgate -c FILE [--check]\n"
		   "  -c, --config FILE  configuration file (see etc/mxgate.conf)\n"
		   "      --check        validate the configuration and exit 0 (valid) or 1\n"
		   "  -V, --version      print the version\n"
		   "  -h, --help         this text\n");
}

static int resolve_user(const struct mx_config *c, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(c->daemon_user);

	if (!pw) {
		MX_ERR("%s: [daemon] user = %s: no such user (create it as root: "
		       "scripts/ensure-user.sh %s)",
		       c->path, c->daemon_user, c->daemon_user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (c->daemon_group[0]) {
		struct group *gr = getgrnam(c->daemon_group);
		if (!gr) {
			MX_ERR("%s: [daemon] group = %s: no such group", c->path, c->daemon_group);
			return -1;
		}
		*gid = gr->gr_gid;
	}
	if (*uid == 0)
		MX_WARN("%s: [daemon] user = %s is root: privileges will not be dropped", c->path,
			c->daemon_user);
	return 0;
}

/* After EAL, port and ctl socket are set up, nothing needs root any more. */
static int drop_privileges(uid_t uid, gid_t gid)
{
	const char *rt = dp_runtime_dir();

	/* With --no-shconf EAL keeps nothing in its runtime directory; remove
	 * it now, while we may, so no run leaves files behind. */
	if (rt && *rt && rmdir(rt) != 0 && errno != ENOENT)
		MX_WARN("cannot remove the EAL runtime directory %s: %s", rt, strerror(errno));
	if (getuid() != 0 || uid == 0)
		return 0;
	if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
		MX_ERR("cannot drop privileges to uid %u gid %u: %s", (unsigned)uid, (unsigned)gid,
		       strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		MX_ERR("privilege drop did not stick: setuid(0) succeeded");
		return -1;
	}
	MX_NOTICE("dropped privileges to %s (uid %u gid %u)", daemon_config()->daemon_user,
		  (unsigned)uid, (unsigned)gid);
	return 0;
}

/* The resolver (policy/dns.h), before the workers start. */
static int dns_boot(const struct mx_config *c)
{
	struct mx_dns_conf dc;
	int rc;

	mx_dns_conf_from_config(&dc, c);
	if ((rc = mx_dns_init(&dc, dp_nworkers())) != 0) {
		MX_ERR("cannot start the resolver: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

/* [tls] mem_per_worker_mb, or by default 128 KiB per TLS session slot (a
 * server handshake peaks at about 81.5 KB of OpenSSL heap, unit-smtp-tls
 * test_mem_budget; an idle session holds about 15 KB) plus 4 MiB for what
 * OpenSSL keeps per thread. */
static size_t tlsmem_budget(const struct mx_config *c)
{
	uint64_t n = (uint64_t)(c->tls_max_sessions ? c->tls_max_sessions : c->smtp_max_sessions);

	if (c->tls_mem_per_worker_mb)
		return (size_t)c->tls_mem_per_worker_mb << 20;
	return (size_t)(n * 128 * 1024 + (4u << 20));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check", no_argument, NULL, 'k'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		/* Hidden, for the man page drift test (tests/docs_drift.py). */
		{"list-keys", no_argument, NULL, 'K'},
		{"list-commands", no_argument, NULL, 'L'},
		{"list-metrics", no_argument, NULL, 'M'},
		{NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	struct mx_config *config; /* the boot generation; see config_publish() below */
	bool check = false, ready = false;
	char err[8192];
	uid_t uid;
	gid_t gid;
	struct sigaction sa = {.sa_handler = on_signal};
	int opt, rc = 0;

	while ((opt = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'V':
			printf("mxgate %s\n", MX_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'K':
			list_keys();
			return 0;
		case 'L':
			list_commands();
			return 0;
		case 'M': { /* `show counters json` without a daemon (Grafana test) */
			struct mx_buf b = {0};
			int r = mx_ctr_format_list(&b, true);
			if (b.p)
				fputs(b.p, stdout);
			mx_buf_free(&b);
			return r == 0 ? 0 : 1;
		}
		default:
			usage(stderr);
			return 1;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 1;
	}
	if (!(config = config_new()))
		mx_fatal("out of memory");
	if (config_load(config, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s", err);
		fprintf(stderr, "%s: configuration is not valid\n", path);
		return 1;
	}
	mx_log_level = (int)config->log_level;
	mx_log_json = (int)config->log_format;
	/* OpenSSL's allocator before anything touches OpenSSL (issue 12). */
	if (mx_tlsmem_init(tlsmem_budget(config)) != 0) {
		fprintf(stderr, "%s: OpenSSL allocated before its allocator was set\n", path);
		return 1;
	}
	if (config->log_syslog && !check && mx_log_open_syslog(config->log_syslog_socket) != 0) {
		fprintf(stderr, "%s: [log] syslog_socket %s: cannot open a socket for it\n", path,
			config->log_syslog_socket);
		return 1;
	}
	if (resolve_user(config, &uid, &gid) != 0)
		return 1;
	if (check) {
		/* The policy set too: recipient file, DNSBL zones, replies. */
		struct pol_set *ps;
		rcu_register_thread();
		rcu_thread_offline();
		ps = pol_set_build(config, "localhost", err, sizeof(err));
		pol_set_free(ps);
		rcu_unregister_thread();
		if (!ps) {
			fprintf(stderr, "%s\n%s: configuration is not valid\n", err, path);
			return 1;
		}
		printf("%s: configuration is valid\n", path);
		return 0;
	}

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	started = time(NULL);

	MX_NOTICE("mxgate %s starting with %s", MX_VERSION, path);
	if ((rc = mx_loop_init()) != 0) {
		MX_ERR("cannot create the control loop: %s", strerror(-rc));
		return 1;
	}
	/* Generation 1. @config stays valid through boot: only this thread
	 * publishes, and reloads start with the loop below. */
	config_publish(config);
	/* The policy set (tables read by the workers) before they start. */
	if (pol_load(config, err, sizeof(err)) != 0 ||
	    pol_verify_configure(config, err, sizeof(err)) != 0) {
		MX_ERR("%s", err);
		return 1;
	}
	pol_collect_every(1000);
	if (dp_eal_init(config, argv[0]) != 0)
		return 1;
	if (mx_tlsmem_arenas(dp_nworkers()) != 0)
		MX_WARN("tls: no per-worker jemalloc arenas (the default arena serves, still "
			"bounded)");
	MX_INFO("tls: OpenSSL heap bound %zu KiB per worker", mx_tlsmem_budget() / 1024);
	smtp_server_register();
	if (dp_port_init(config) != 0 || ctl_open(config->ctl_socket, uid, gid) != 0 ||
	    metrics_open(config) != 0 || tls_boot(config) != 0 ||
	    queue_prepare(config, uid, gid) != 0 || drop_privileges(uid, gid) != 0 ||
	    dns_boot(config) != 0 || grey_boot(config, dp_nworkers(), err, sizeof(err)) != 0 ||
	    mx_store_boot(config, dp_nworkers(), err, sizeof(err)) != 0 ||
	    rl_boot(config, dp_nworkers()) != 0 || queue_boot(config, dp_nworkers()) != 0 ||
	    queue_start() != 0 || dp_start() != 0) {
		rc = 1;
		goto out;
	}
	MX_NOTICE("mxgate ready: %u workers, ctl socket %s", dp_nworkers(), config->ctl_socket);
	while (!got_stop) {
		int n;
		if (!ready && workers_polling()) {
			ready = true;
			daemon_notify_ready();
		}
		n = mx_loop_run_once(20);
		if (n < 0) { /* epoll itself failed: a bug, but stop cleanly */
			MX_ERR("control loop: %s", strerror(-n));
			rc = 1;
			break;
		}
		dp_drain_logs();
		if (got_hup) {
			got_hup = 0;
			MX_NOTICE("SIGHUP received: reloading the configuration");
			daemon_reload(NULL);
		}
	}
	if (got_stop > 0)
		MX_NOTICE("signal %d received: stopping", (int)got_stop);
	daemon_notify("STOPPING=1");
out:
	ctl_close();
	metrics_close();
	dp_stop(); /* workers flush their spool streams before it returns */
	queue_stop();
	mx_store_shutdown(); /* the workers are gone: nothing posts any more */
	grey_shutdown();     /* the workers are gone: last snapshot */
	rl_shutdown();
	pol_shutdown();	   /* the workers are gone */
	mx_dns_shutdown(); /* after the workers: they read its cache */
	tls_stop();	   /* the workers are gone: no session holds a generation */
	mx_loop_fini();
	config_shutdown();
	MX_NOTICE("mxgate stopped");
	return rc;
}
