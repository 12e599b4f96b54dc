/*
 * cluster_cmds.c - ctl command of the shared store (policy/store_redis.h):
 * `show cluster`: the Redis address and role, connection state, writes
 * waiting and in flight, lookup hits, misses and timeouts. Control thread.
 */
#include <stdio.h>

#include "ctl/ctl.h"
#include "policy/store_redis.h"

static void cmd_show_cluster(struct ctl_out *o, int argc, char **argv)
{
	char buf[2048];

	(void)argc;
	(void)argv;
	mx_store_show(buf, sizeof(buf));
	ctl_printf(o, "%s", buf);
}

static const struct ctl_cmd cluster_cmds[] = {
	{.words = {"show", "cluster"},
	 .usage = "",
	 .help = "the shared store (Redis): address, role, connection state, pending writes, "
		 "lookup hits/misses/timeouts, shared recipient verifications",
	 .fn = cmd_show_cluster},
};

__attribute__((constructor)) static void register_cluster_cmds(void)
{
	for (unsigned i = 0; i < sizeof(cluster_cmds) / sizeof(cluster_cmds[0]); i++)
		ctl_register(&cluster_cmds[i]);
}
