/*
 * stats.c - `show stats [json] [workers]`, `show counters [json]` and
 * `show info`. The counters come from the counter registry
 * (core/counters.h, groups registered by ctl/counters.c): every value is
 * read without locks (relaxed loads of counters each written by one
 * thread), totals and per-worker values from the same walk. Control thread
 * only.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/counters.h"
#include "ctl/ctl.h"
#include "ctl/daemon.h"
#include "dataplane/dataplane.h"

/* Copy @b into @o (or an error if formatting ran out of memory); frees @b. */
static void emit(struct ctl_out *o, struct mx_buf *b, int rc)
{
	if (rc != 0)
		ctl_error(o, "out of memory while formatting the counters");
	else if (b->len)
		ctl_printf(o, "%s", b->p);
	mx_buf_free(b);
}

static void cmd_show_stats(struct ctl_out *o, int argc, char **argv)
{
	bool json = false;
	unsigned flags = 0;
	struct mx_buf b = {0};

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "json") == 0)
			json = true;
		else if (strcmp(argv[i], "workers") == 0)
			flags |= MX_CTR_FMT_WORKERS;
		else
			return ctl_error(
				o, "show stats: unknown argument '%s' (expected json, workers)",
				argv[i]);
	}
	emit(o, &b, json ? mx_ctr_format_json(&b, flags) : mx_ctr_format_text(&b, flags));
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
	daemon_drain_describe(o);
}

static void cmd_show_counters(struct ctl_out *o, int argc, char **argv)
{
	struct mx_buf b = {0};
	bool json = argc == 1 && strcmp(argv[0], "json") == 0;

	if (argc > 1 || (argc == 1 && !json))
		return ctl_error(o, "usage: show counters [json]");
	emit(o, &b, mx_ctr_format_list(&b, json));
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
	 .usage = "[json]",
	 .help = "every counter of 'show stats' and /metrics: name, type, meaning",
	 .fn = cmd_show_counters},
};

__attribute__((constructor)) static void register_stats(void)
{
	for (unsigned i = 0; i < sizeof(stats_cmds) / sizeof(stats_cmds[0]); i++)
		ctl_register(&stats_cmds[i]);
}
