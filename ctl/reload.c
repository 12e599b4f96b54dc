/*
 * reload.c - configuration reload: the `reload` ctl command (privileged)
 * and SIGHUP both run daemon_reload().
 *
 *   1. Load the running generation's file again into a fresh configuration
 *      (list files re-read) and validate it completely: the same
 *      file:line:key errors as `mxgate --check`. Invalid: nothing changes,
 *      every error is reported.
 *   2. Compare with the running generation (config_diff()): changed keys
 *      are either live or restart-class.
 *   3. Give the new configuration the running values of every restart-class
 *      key (config_keep_restart()), so the generation workers see differs
 *      from the running one in live keys only, then publish it
 *      (config_publish(): workers' reconfig hooks pick it up at their next
 *      loop iteration).
 *   4. Apply the control-thread live keys: [log] level, the [spool] and
 *      [relay] limits (queue_reconfig()), the resolver's [dns] settings
 *      (mx_dns_reconfigure(): a bad server list keeps the old one).
 *   5. Report and log which live keys changed and which changed keys keep
 *      their running value until a restart.
 *
 * Control thread only (it is the configuration's only writer).
 */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "ctl/ctl.h"
#include "ctl/daemon.h"
#include "ctl/tls.h"
#include "policy/dns.h"
#include "policy/grey_stage.h"
#include "policy/policy.h"
#include "policy/verify.h"
#include "queue/queue.h"

#define RELOAD_ERR_MAX (256 * 1024)

struct diff_ctx {
	const struct mx_config *old, *new;
	struct ctl_out live, restart;
	unsigned nlive, nrestart;
};

static void on_diff(void *arg, unsigned key, enum mx_cfg_apply apply)
{
	struct diff_ctx *d = arg;
	const char *section, *name = config_key_name(key, &section);
	char was[160], now[160];

	config_key_value(d->old, key, was, sizeof(was));
	config_key_value(d->new, key, now, sizeof(now));
	if (apply == MX_CFG_LIVE) {
		d->nlive++;
		ctl_printf(&d->live, "live: [%s] %s = %s (was %s)\n", section, name, now, was);
	} else {
		d->nrestart++;
		ctl_printf(&d->restart,
			   "restart needed: [%s] %s = %s in the file, %s kept until restart\n",
			   section, name, now, was);
	}
}

/* What --check adds to the file's own checks (main.c resolve_user()). */
static void check_user(const struct mx_config *c, struct ctl_out *e)
{
	if (!getpwnam(c->daemon_user))
		ctl_printf(e, "%s: [daemon] user = %s: no such user\n", c->path, c->daemon_user);
	if (c->daemon_group[0] && !getgrnam(c->daemon_group))
		ctl_printf(e, "%s: [daemon] group = %s: no such group\n", c->path, c->daemon_group);
}

/* Log @text line by line at @level. */
static void log_lines(enum mx_log_level level, const char *text)
{
	while (text && *text) {
		const char *nl = strchr(text, '\n');
		int n = nl ? (int)(nl - text) : (int)strlen(text);
		mx_log(level, "reload: %.*s", n, text);
		text += n + (nl ? 1 : 0);
	}
}

/* Step 1: a validated fresh configuration, or NULL with the errors in @e. */
static struct mx_config *load_new(const char *path, struct ctl_out *e)
{
	struct mx_config *nc = config_new();
	char *err = malloc(RELOAD_ERR_MAX);

	if (!nc || !err) {
		ctl_printf(e, "%s: out of memory\n", path);
		goto fail;
	}
	if (config_load(nc, path, err, RELOAD_ERR_MAX) != 0) {
		ctl_printf(e, "%s", err);
		goto fail;
	}
	check_user(nc, e);
	if (e->len)
		goto fail;
	free(err);
	return nc;
fail:
	free(err);
	config_free(nc);
	return NULL;
}

int daemon_reload(struct ctl_out *o)
{
	const struct mx_config *cur = config_current();
	struct diff_ctx d = {.old = cur};
	struct ctl_out e = {0}, r = {0};
	struct mx_config *nc;
	char path[MX_CFG_STR];
	uint64_t gen;

	snprintf(path, sizeof(path), "%s", cur->path);
	MX_NOTICE("reload: reading %s", path);
	nc = load_new(path, &e);
	if (!nc) {
		MX_ERR("reload: %s is not valid, nothing changed (generation %llu keeps running):",
		       path, (unsigned long long)cur->generation);
		log_lines(MX_LOG_ERR, e.buf);
		if (o) {
			ctl_error(
				o,
				"%s is not valid, nothing changed (generation %llu keeps running)",
				path, (unsigned long long)cur->generation);
			ctl_printf(o, "%s", e.buf ? e.buf : "");
		}
		free(e.buf);
		return -1;
	}
	d.new = nc;
	config_diff(cur, nc, on_diff, &d);
	if (config_keep_restart(nc, cur) != 0) {
		MX_ERR("reload: out of memory, nothing changed");
		if (o)
			ctl_error(o, "out of memory, nothing changed");
		config_free(nc);
		free(d.live.buf);
		free(d.restart.buf);
		return -1;
	}
	/* The policy set of @nc (re-reads its tables): refused as a whole. */
	{
		char perr[1024];
		/* Greylisting's set is built first and published only if the
		 * policy's is (policy/grey_stage.h). */
		int grc = grey_reload_prepare(nc, perr, sizeof(perr));
		if (grc != 0 || pol_verify_configure(nc, perr, sizeof(perr)) != 0 ||
		    pol_load(nc, perr, sizeof(perr)) != 0) {
			grey_reload_commit(false);
			MX_ERR("reload: %s; nothing changed", perr);
			if (o)
				ctl_error(o, "%s; nothing changed", perr);
			config_free(nc);
			free(d.live.buf);
			free(d.restart.buf);
			return -1;
		}
	}
	grey_reload_commit(true);
	/* From here on @cur may be freed (after a grace period): not used. */
	config_publish(nc);
	gen = nc->generation;
	__atomic_store_n(&mx_log_level, (int)nc->log_level, __ATOMIC_RELAXED);
	__atomic_store_n(&mx_log_json, (int)nc->log_format, __ATOMIC_RELAXED);
	queue_reconfig(nc);
	{
		struct mx_dns_conf dc;
		int rc;
		mx_dns_conf_from_config(&dc, nc);
		if ((rc = mx_dns_reconfigure(&dc)) != 0)
			MX_ERR("reload: [dns] not applied, the resolver keeps its settings: %s",
			       strerror(-rc));
	}
	/* [tls]: certificates re-read (a bad pair keeps the running ones). */
	if (nc->tls_cert.n > 0)
		tls_reload(nc, &r);

	ctl_printf(&r,
		   "reloaded %s: generation %llu, %u live key(s) applied, %u key(s) need a "
		   "restart\n",
		   path, (unsigned long long)gen, d.nlive, d.nrestart);
	ctl_printf(&r, "%s%s", d.live.buf ? d.live.buf : "", d.restart.buf ? d.restart.buf : "");
	log_lines(MX_LOG_NOTICE, r.buf);
	if (o)
		ctl_printf(o, "%s", r.buf);
	free(r.buf);
	free(d.live.buf);
	free(d.restart.buf);
	return 0;
}

static void cmd_reload(struct ctl_out *o, int argc, char **argv)
{
	(void)argv;
	if (argc != 0)
		return ctl_error(o, "usage: reload");
	daemon_reload(o);
}

static const struct ctl_cmd reload_cmds[] = {
	{.words = {"reload"},
	 .usage = "",
	 .help = "re-read the configuration file: apply live keys, list those needing a restart",
	 .flags = CTL_F_PRIV,
	 .fn = cmd_reload},
};

__attribute__((constructor)) static void register_reload_cmds(void)
{
	for (unsigned i = 0; i < sizeof(reload_cmds) / sizeof(reload_cmds[0]); i++)
		ctl_register(&reload_cmds[i]);
}
