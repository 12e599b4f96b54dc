/*
 * stats.c - `show stats` and `show info`: counters of every worker lcore
 * summed (and per worker on request), read without locks (relaxed loads of
 * counters each written by one worker).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/daemon.h"
#include "dataplane/dataplane.h"
#include "dataplane/tcp/tcp.h"
#include "smtp/server.h"
#include "smtp/smtp.h"

static void sum_stats(struct dp_stats *total)
{
	memset(total, 0, sizeof(*total));
	for (unsigned i = 0; i < dp_nworkers(); i++) {
		struct dp_stats s;
		dp_stats_read(i, &s);
#define X(name, help) total->name += s.name;
		DP_STATS(X)
#undef X
	}
}

static void sum_tcp(struct tcp_stats *total)
{
	uint64_t *t = (uint64_t *)total;

	memset(total, 0, sizeof(*total));
	for (unsigned i = 0; i < dp_nworkers(); i++) {
		struct tcp_stats s;
		const uint64_t *v = (const uint64_t *)&s;
		dp_tcp_stats(i, &s);
		for (unsigned k = 0; k < TCP_STATS_COUNT; k++)
			t[k] += v[k];
	}
}

static void print_tcp_json(struct ctl_out *o, const struct tcp_stats *s)
{
	const uint64_t *v = (const uint64_t *)s;

	ctl_printf(o, "{");
	for (unsigned k = 0; k < TCP_STATS_COUNT; k++)
		ctl_printf(o, "%s\"%s\":%llu", k ? "," : "", tcp_stats_name(k),
			   (unsigned long long)v[k]);
	ctl_printf(o, "}");
}

static void sum_smtp(struct smtp_counters *total, unsigned *sessions, uint64_t *refused)
{
	uint64_t *t = (uint64_t *)total;

	memset(total, 0, sizeof(*total));
	*sessions = 0;
	*refused = 0;
	for (unsigned i = 0; i < dp_nworkers(); i++) {
		struct smtp_counters s;
		const uint64_t *v = (const uint64_t *)&s;
		smtp_server_counters(i, &s);
		for (unsigned k = 0; k < SMTP_CNT_COUNT; k++)
			t[k] += v[k];
		*sessions += smtp_server_sessions(i);
		*refused += smtp_server_refused(i);
	}
}

static void print_json(struct ctl_out *o, const struct dp_stats *s)
{
	const char *sep = "";

	ctl_printf(o, "{");
#define X(name, help)                                                            \
	ctl_printf(o, "%s\"%s\":%llu", sep, #name, (unsigned long long)s->name); \
	sep = ",";
	DP_STATS(X)
#undef X
	ctl_printf(o, "}");
}

static void cmd_show_stats(struct ctl_out *o, int argc, char **argv)
{
	bool json = false, workers = false;
	struct dp_stats total;
	struct tcp_stats tcp;
	const uint64_t *tv = (const uint64_t *)&tcp;
	struct smtp_counters smtp;
	const uint64_t *sv = (const uint64_t *)&smtp;
	unsigned sessions;
	uint64_t refused;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "json") == 0)
			json = true;
		else if (strcmp(argv[i], "workers") == 0)
			workers = true;
		else
			return ctl_error(
				o, "show stats: unknown argument '%s' (expected json, workers)",
				argv[i]);
	}
	sum_stats(&total);
	sum_tcp(&tcp);
	sum_smtp(&smtp, &sessions, &refused);
	if (json) {
		ctl_printf(o, "{\"dataplane\":");
		print_json(o, &total);
		ctl_printf(o, ",\"tcp\":");
		print_tcp_json(o, &tcp);
		ctl_printf(o, ",\"smtp\":{\"sessions_open\":%u,\"slots_full_refused\":%llu",
			   sessions, (unsigned long long)refused);
		for (unsigned k = 0; k < SMTP_CNT_COUNT; k++)
			ctl_printf(o, ",\"%s\":%llu", smtp_counter_names[k],
				   (unsigned long long)sv[k]);
		ctl_printf(o, "}");
		if (workers) {
			ctl_printf(o, ",\"workers\":[");
			for (unsigned i = 0; i < dp_nworkers(); i++) {
				struct dp_stats s;
				dp_stats_read(i, &s);
				ctl_printf(o, "%s", i ? "," : "");
				print_json(o, &s);
			}
			ctl_printf(o, "]");
		}
		ctl_printf(o, "}\n");
		return;
	}
#define X(name, help) ctl_printf(o, "dp.%-24s %llu\n", #name, (unsigned long long)total.name);
	DP_STATS(X)
#undef X
	for (unsigned k = 0; k < TCP_STATS_COUNT; k++)
		ctl_printf(o, "tcp.%-23s %llu\n", tcp_stats_name(k), (unsigned long long)tv[k]);
	ctl_printf(o, "smtp.%-22s %u\n", "sessions_open", sessions);
	ctl_printf(o, "smtp.%-22s %llu\n", "slots_full_refused", (unsigned long long)refused);
	for (unsigned k = 0; k < SMTP_CNT_COUNT; k++)
		ctl_printf(o, "smtp.%-22s %llu\n", smtp_counter_names[k],
			   (unsigned long long)sv[k]);
	if (workers) {
		for (unsigned i = 0; i < dp_nworkers(); i++) {
			struct dp_stats s;
			dp_stats_read(i, &s);
#define X(name, help) \
	ctl_printf(o, "worker%u.dp.%-18s %llu\n", i, #name, (unsigned long long)s.name);
			DP_STATS(X)
#undef X
		}
	}
}

static void cmd_show_info(struct ctl_out *o, int argc, char **argv)
{
	char desc[512];

	(void)argv;
	if (argc > 0)
		return ctl_error(o, "show info takes no argument");
	dp_describe(desc, sizeof(desc));
	ctl_printf(o, "version %s\npid %d\nuptime_s %lld\nworkers %u\nconfig %s\n%s\n", MX_VERSION,
		   (int)getpid(), (long long)(time(NULL) - daemon_started()), dp_nworkers(),
		   daemon_config()->path, desc);
	ctl_printf(o, "config_generation %llu\n", (unsigned long long)daemon_config()->generation);
}

static void cmd_show_counters(struct ctl_out *o, int argc, char **argv)
{
	(void)argv;
	if (argc > 0)
		return ctl_error(o, "show counters takes no argument");
#define X(name, help) ctl_printf(o, "dp.%-24s %s\n", #name, help);
	DP_STATS(X)
#undef X
}

static const struct ctl_cmd stats_cmds[] = {
	{.words = {"show", "stats"},
	 .usage = "[json] [workers]",
	 .help = "counters summed over workers (per worker with 'workers')",
	 .fn = cmd_show_stats},
	{.words = {"show", "info"},
	 .usage = "",
	 .help = "version, pid, uptime, port, MAC, queues, steering mode",
	 .fn = cmd_show_info},
	{.words = {"show", "counters"},
	 .usage = "",
	 .help = "what each counter of 'show stats' means",
	 .fn = cmd_show_counters},
};

__attribute__((constructor)) static void register_stats(void)
{
	for (unsigned i = 0; i < sizeof(stats_cmds) / sizeof(stats_cmds[0]); i++)
		ctl_register(&stats_cmds[i]);
}
