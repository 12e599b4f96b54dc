/*
 * drain.c - `drain`: take the node out of rotation without dropping mail.
 *
 *   1. every worker stops accepting: new connections get "421 4.3.2
 *      mxgate: Service shutting down" or are closed without a word
 *      ([daemon] drain_mode), and sessions between transactions are ended
 *      with 421 4.3.2 (smtp/ctlbox.h); a transaction in progress goes on;
 *   2. once no session is left, or at [daemon] drain_timeout_s, whatever
 *      is left is ended (421 4.3.2; a session parked on its spool commit
 *      gets its 250 first), and DRAIN_KILL_GRACE_MS later at the latest
 *   3. the daemon stops as on SIGTERM: the workers flush their spool
 *      streams, the queue stops, exit status 0.
 *
 * systemd hears STOPPING=1 at step 1 (sd_notify.h). Control thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "core/config-t.h"
#include "core/log.h"
#include "core/loop.h"
#include "ctl/ctl.h"
#include "ctl/daemon.h"
#include "ctl/sessions.h"
#include "dataplane/dataplane.h"
#include "smtp/conn-t.h"
#include "smtp/ctlbox.h"
#include "smtp/server.h"

#define DRAIN_CHECK_MS	    50
#define DRAIN_KILL_GRACE_MS 10000 /* after the forced 421s: linger and parks end */

static struct {
	bool on;
	bool killed;
	time_t started;
	uint64_t deadline_ms; /* forced 421s at */
	uint64_t stop_ms;     /* stop anyway at (after killed) */
	struct mx_loop_timer timer;
} drain;

bool daemon_draining(void)
{
	return drain.on;
}

void daemon_drain_describe(struct ctl_out *o)
{
	uint64_t refused = 0;

	for (unsigned w = 0; w < dp_nworkers(); w++)
		refused += smtp_server_drain_refused(w);
	if (!drain.on) {
		ctl_printf(o, "draining no\n");
		return;
	}
	ctl_printf(o, "draining yes since_s %lld sessions_left %u refused %llu%s\n",
		   (long long)(time(NULL) - drain.started), sessions_open(),
		   (unsigned long long)refused, drain.killed ? " forced" : "");
}

static void on_check(struct mx_loop_timer *t, void *arg)
{
	uint64_t now = mx_loop_now_ms();
	unsigned left = sessions_open();

	(void)arg;
	if (left == 0 || (drain.killed && now >= drain.stop_ms)) {
		MX_NOTICE("drain: %s after %lld s: stopping",
			  left ? "sessions still open at the grace deadline" : "no session left",
			  (long long)(time(NULL) - drain.started));
		daemon_request_stop();
		return;
	}
	if (!drain.killed && now >= drain.deadline_ms) {
		MX_NOTICE("drain: %u sessions still open at [daemon] drain_timeout_s: 421 4.3.2 "
			  "to each",
			  left);
		drain.killed = true;
		drain.stop_ms = now + DRAIN_KILL_GRACE_MS;
		sessions_kill_all();
	}
	mx_loop_timer_arm(t, DRAIN_CHECK_MS);
}

int daemon_drain_start(void)
{
	const struct mx_config *c = daemon_config();
	uint8_t mode = c->daemon_drain_mode == MX_DRAIN_SILENT ? SMTP_CONN_DRAIN_SILENT
							       : SMTP_CONN_DRAIN_REPLY;

	if (drain.on)
		return -EALREADY;
	drain.on = true;
	drain.started = time(NULL);
	drain.deadline_ms = mx_loop_now_ms() + (uint64_t)c->daemon_drain_timeout_s * 1000;
	for (unsigned w = 0; w < dp_nworkers(); w++)
		if (smtp_server_ctlbox(w))
			smtp_ctlbox_set_drain(smtp_server_ctlbox(w), mode);
	mx_loop_timer_init(&drain.timer, on_check, NULL);
	mx_loop_timer_arm(&drain.timer, DRAIN_CHECK_MS);
	daemon_notify("STOPPING=1\nSTATUS=draining");
	MX_NOTICE("drain: new connections %s; %u sessions open get %lld s to finish",
		  mode == SMTP_CONN_DRAIN_SILENT ? "closed silently" : "refused with 421 4.3.2",
		  sessions_open(), (long long)c->daemon_drain_timeout_s);
	return 0;
}

static void cmd_drain(struct ctl_out *o, int argc, char **argv)
{
	(void)argv;
	if (argc > 0)
		return ctl_error(o, "drain takes no argument");
	if (daemon_drain_start() != 0)
		return ctl_error(o, "already draining (see 'show info')");
	ctl_printf(o, "draining: %u sessions open, %lld s to finish, then exit\n", sessions_open(),
		   (long long)daemon_config()->daemon_drain_timeout_s);
}

static const struct ctl_cmd drain_cmd = {
	.words = {"drain"},
	.usage = "",
	.help = "refuse new connections, let sessions finish ([daemon] drain_timeout_s), exit 0",
	.flags = CTL_F_PRIV,
	.fn = cmd_drain,
};

__attribute__((constructor)) static void register_drain(void)
{
	ctl_register(&drain_cmd);
}
