/*
 * greylist_cmds.c - ctl commands of greylisting (policy/grey_stage.h):
 * `show greylist [IP|NET|TEXT]`, `greylist pass|delete KEY`, `greylist
 * save`, `show whitelist`, `whitelist add|delete KIND VALUE`, and the rate
 * limits: `show ratelimit IP`, `ratelimit reset IP`. Control
 * thread; the table is walked online (QSBR read side) and nothing here
 * waits for a grace period.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <urcu-qsbr.h>

#include "core/config.h"
#include "ctl/ctl.h"
#include "policy/grey_stage.h"
#include "policy/greylist.h"
#include "policy/rl_stage.h"

#define SHOW_MAX 1000

struct show_ctx {
	struct ctl_out *o;
	const char *filter;
	unsigned shown, matched;
	uint32_t now;
};

static int show_one(void *arg, const struct grey_info *e)
{
	struct show_ctx *c = arg;

	if (c->filter && !strstr(e->text, c->filter))
		return 0;
	c->matched++;
	if (c->shown >= SHOW_MAX)
		return 0;
	c->shown++;
	if (e->kind == GREY_KIND_AWL)
		ctl_printf(c->o, "%s %s passes=%u last_s=%u #%016llx%016llx\n", e->text,
			   e->passed ? "whitelisted" : "counting", e->passes,
			   c->now > e->last ? c->now - e->last : 0, (unsigned long long)e->h[0],
			   (unsigned long long)e->h[1]);
	else
		ctl_printf(c->o, "%s %s first_s=%u last_s=%u #%016llx%016llx\n", e->text,
			   e->passed ? "passed" : "waiting",
			   c->now > e->first ? c->now - e->first : 0,
			   c->now > e->last ? c->now - e->last : 0, (unsigned long long)e->h[0],
			   (unsigned long long)e->h[1]);
	return 0;
}

static void cmd_show_greylist(struct ctl_out *o, int argc, char **argv)
{
	struct grey_table *g = grey_table();
	struct show_ctx c = {.o = o, .filter = argc > 0 ? argv[0] : NULL};
	char net[GREY_KEY_MAX];
	uint8_t a[16];

	if (!g) {
		ctl_error(o, "greylisting is not running");
		return;
	}
	c.now = (uint32_t)time(NULL);
	/* An address is shown as its key's network ("198.18.0.0/24 "). */
	if (c.filter) {
		int fam = inet_pton(AF_INET, c.filter, a) == 1	  ? 4
			  : inet_pton(AF_INET6, c.filter, a) == 1 ? 6
								  : 0;
		if (fam) {
			struct grey_query q = {.family = (uint8_t)fam, .sender = "x", .rcpt = ""};
			memcpy(q.addr, a, 16);
			if (grey_key_text(g, &q, net, sizeof(net)) > 0) {
				net[strcspn(net, " ")] = '\0';
				c.filter = net;
			}
		}
	}
	ctl_printf(o, "greylist %s entries %zu capacity %zu\n", grey_enabled() ? "on" : "off",
		   grey_entries(g), grey_capacity(g));
	rcu_thread_online();
	grey_walk(g, show_one, &c);
	rcu_thread_offline();
	if (c.matched > c.shown)
		ctl_printf(o, "... %u more\n", c.matched - c.shown);
}

/* The arguments joined by spaces (a key has spaces). */
static const char *joined(int argc, char **argv, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < argc; i++) {
		int w = snprintf(buf + n, len - n, "%s%s", i ? " " : "", argv[i]);
		if (w < 0 || (size_t)w >= len - n)
			return NULL;
		n += (size_t)w;
	}
	return buf;
}

static void cmd_greylist_key(struct ctl_out *o, int argc, char **argv, bool pass)
{
	struct grey_table *g = grey_table();
	char key[GREY_KEY_MAX];
	int rc;

	if (!g) {
		ctl_error(o, "greylisting is not running");
		return;
	}
	if (argc < 1 || !joined(argc, argv, key, sizeof(key))) {
		ctl_error(o, "usage: greylist %s NET SENDER RCPT | awl NET | #DIGEST",
			  pass ? "pass" : "delete");
		return;
	}
	rcu_thread_online();
	rc = pass ? grey_pass_key(g, key, (uint32_t)time(NULL)) : grey_delete_key(g, key);
	rcu_thread_offline();
	if (rc)
		ctl_error(o, "%s: %s", key,
			  rc == -ENOENT	  ? "no such key"
			  : rc == -ENOSPC ? "no free entry"
					  : strerror(-rc));
	else
		ctl_printf(o, "%s: %s\n", key, pass ? "passed" : "deleted");
}

static void cmd_greylist_pass(struct ctl_out *o, int argc, char **argv)
{
	cmd_greylist_key(o, argc, argv, true);
}

static void cmd_greylist_delete(struct ctl_out *o, int argc, char **argv)
{
	cmd_greylist_key(o, argc, argv, false);
}

static void cmd_greylist_save(struct ctl_out *o, int argc, char **argv)
{
	long n = grey_save_now();

	(void)argc;
	(void)argv;
	if (n < 0)
		ctl_error(o, "snapshot: %s", n == -ENOENT ? "no snapshot file" : strerror((int)-n));
	else
		ctl_printf(o, "snapshot: %ld entries\n", n);
}

static void cmd_show_whitelist(struct ctl_out *o, int argc, char **argv)
{
	const struct grey_wl *w;

	(void)argc;
	(void)argv;
	rcu_thread_online();
	w = grey_wl_current();
	for (int k = 0; k < GREY_WL_COUNT; k++)
		ctl_printf(o, "%s %zu %s\n", grey_wl_name((enum grey_wl_kind)k),
			   grey_wl_count(w, (enum grey_wl_kind)k),
			   grey_wl_path((enum grey_wl_kind)k)[0]
				   ? grey_wl_path((enum grey_wl_kind)k)
				   : "(no file)");
	rcu_thread_offline();
}

static void cmd_whitelist_edit(struct ctl_out *o, int argc, char **argv, bool add)
{
	char err[512] = "";
	int k = argc == 2 ? grey_wl_kind_of(argv[0]) : -1, rc;

	if (k < 0) {
		ctl_error(o, "usage: whitelist %s senders|clients|hosts|recipients VALUE",
			  add ? "add" : "delete");
		return;
	}
	rc = grey_wl_edit((enum grey_wl_kind)k, argv[1], add, err, sizeof(err));
	if (rc)
		ctl_error(o, "whitelist %s %s: %s", argv[0], argv[1],
			  rc == -ENOENT	   ? "not in the list"
			  : rc == -EEXIST  ? "already in the list"
			  : rc == -EINVAL  ? "bad value"
			  : rc == -ENOTDIR ? "no file configured ([greylist] whitelist_*)"
			  : rc == -EIO	   ? err
					   : strerror(-rc));
	else
		ctl_printf(o, "whitelist %s: %s %s (file %s)\n", argv[0], argv[1],
			   add ? "added" : "deleted", grey_wl_path((enum grey_wl_kind)k));
}

static void cmd_whitelist_add(struct ctl_out *o, int argc, char **argv)
{
	cmd_whitelist_edit(o, argc, argv, true);
}

static void cmd_whitelist_delete(struct ctl_out *o, int argc, char **argv)
{
	cmd_whitelist_edit(o, argc, argv, false);
}

/* ---- rate limits ---------------------------------------------------------------- */

static int parse_ip(const char *s, uint8_t a[16])
{
	memset(a, 0, 16);
	if (inet_pton(AF_INET, s, a) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, a) == 1)
		return 6;
	return 0;
}

/* "name left/rate", "name -" (limit off); no entry: a full bucket. */
static void show_bucket(struct ctl_out *o, const char *name, long left, uint32_t rate)
{
	if (!rate)
		ctl_printf(o, "%s -\n", name);
	else
		ctl_printf(o, "%s %ld/%u\n", name, left < 0 ? (long)rate : left, rate);
}

static void cmd_show_ratelimit(struct ctl_out *o, int argc, char **argv)
{
	struct rl_table *t = rl_table();
	struct rl_limits lim;
	struct rl_state s;
	uint8_t a[16];
	int fam = argc == 1 ? parse_ip(argv[0], a) : 0;

	if (!t || !fam) {
		ctl_error(o, !t ? "rate limits are not running" : "usage: show ratelimit IP");
		return;
	}
	rl_limits_of(config_current(), &lim);
	rcu_thread_online();
	rl_query(t, &lim, fam, a, rl_now_ns(), &s);
	rcu_thread_offline();
	ctl_printf(o, "client %s network /%u entries %zu (tokens left/per minute)\n", argv[0],
		   fam == 4 ? lim.v4_prefix : lim.v6_prefix, rl_entries(t));
	show_bucket(o, "msg_per_ip", s.ip[RL_MSG], lim.msg_per_ip);
	show_bucket(o, "rcpt_per_ip", s.ip[RL_RCPT], lim.rcpt_per_ip);
	show_bucket(o, "msg_per_net", s.net[RL_MSG], lim.msg_per_net);
	show_bucket(o, "rcpt_per_net", s.net[RL_RCPT], lim.rcpt_per_net);
}

static void cmd_ratelimit_reset(struct ctl_out *o, int argc, char **argv)
{
	struct rl_table *t = rl_table();
	struct rl_limits lim;
	uint8_t a[16];
	int fam = argc == 1 ? parse_ip(argv[0], a) : 0, n;

	if (!t || !fam) {
		ctl_error(o, !t ? "rate limits are not running" : "usage: ratelimit reset IP");
		return;
	}
	rl_limits_of(config_current(), &lim);
	rcu_thread_online();
	n = rl_reset(t, &lim, fam, a);
	rcu_thread_offline();
	ctl_printf(o, "%s: %d entries reset (address and network)\n", argv[0], n);
}

static const struct ctl_cmd greylist_cmds[] = {
	{.words = {"show", "greylist"},
	 .usage = "[IP|NET|TEXT]",
	 .help = "greylist keys (network or spf:domain, sender, recipient) and auto-whitelisted "
		 "networks, filtered (first 1000)",
	 .fn = cmd_show_greylist},
	{.words = {"greylist", "pass"},
	 .usage = "NET SENDER RCPT | awl NET | #DIGEST",
	 .help = "mark a greylist key passed (inserted if absent), or whitelist a network",
	 .flags = CTL_F_PRIV,
	 .fn = cmd_greylist_pass},
	{.words = {"greylist", "delete"},
	 .usage = "NET SENDER RCPT | awl NET | #DIGEST",
	 .help = "forget a greylist key or an auto-whitelisted network",
	 .flags = CTL_F_PRIV,
	 .fn = cmd_greylist_delete},
	{.words = {"greylist", "save"},
	 .usage = "",
	 .help = "write the greylist snapshot now",
	 .flags = CTL_F_PRIV,
	 .fn = cmd_greylist_save},
	{.words = {"show", "whitelist"},
	 .usage = "",
	 .help = "greylisting whitelists: entries and file of each",
	 .fn = cmd_show_whitelist},
	{.words = {"whitelist", "add"},
	 .usage = "senders|clients|hosts|recipients VALUE",
	 .help = "add to a greylisting whitelist (live, written to its file)",
	 .flags = CTL_F_PRIV,
	 .fn = cmd_whitelist_add},
	{.words = {"whitelist", "delete"},
	 .usage = "senders|clients|hosts|recipients VALUE",
	 .help = "delete from a greylisting whitelist (live, written to its file)",
	 .flags = CTL_F_PRIV,
	 .fn = cmd_whitelist_delete},
	{.words = {"show", "ratelimit"},
	 .usage = "IP",
	 .help = "tokens left in the message and recipient buckets of an address and its network",
	 .fn = cmd_show_ratelimit},
	{.words = {"ratelimit", "reset"},
	 .usage = "IP",
	 .help = "refill the buckets of an address and its network",
	 .flags = CTL_F_PRIV,
	 .fn = cmd_ratelimit_reset},
};

__attribute__((constructor)) static void register_greylist_cmds(void)
{
	for (unsigned i = 0; i < sizeof(greylist_cmds) / sizeof(greylist_cmds[0]); i++)
		ctl_register(&greylist_cmds[i]);
	grey_counters_register(0);
	rl_counters_register();
}
