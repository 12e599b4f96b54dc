/*
 * log_cmds.c - `log level LEVEL`: change the log threshold of every
 * thread now (workers read mx_log_level with a relaxed load per line);
 * the next reload sets it back to [log] level. Control thread.
 */
#include <string.h>

#include "core/log.h"
#include "ctl/ctl.h"

static void cmd_log_level(struct ctl_out *o, int argc, char **argv)
{
	int lv;

	if (argc != 1 || (lv = mx_log_level_parse(argv[0])) < 0)
		return ctl_error(o, "usage: log level err|warn|notice|info|debug");
	MX_NOTICE("ctl: log level %s (was %s)", argv[0],
		  mx_log_level_name((enum mx_log_level)mx_log_level));
	__atomic_store_n(&mx_log_level, lv, __ATOMIC_RELAXED);
	ctl_printf(o, "log level %s (until the next reload)\n", argv[0]);
}

static const struct ctl_cmd log_cmd = {
	.words = {"log", "level"},
	.usage = "LEVEL",
	.help = "set the log level now: err, warn, notice, info, debug (a reload resets it)",
	.flags = CTL_F_PRIV,
	.fn = cmd_log_level,
};

__attribute__((constructor)) static void register_log_cmds(void)
{
	ctl_register(&log_cmd);
}
