/*
 * daemon.h - what the control thread knows about the running daemon, for
 * the ctl commands. Control thread only.
 */
#ifndef MX_CTL_DAEMON_H
#define MX_CTL_DAEMON_H

#include <stdbool.h>
#include <time.h>

#include "core/config-t.h"

struct ctl_out;

/** The running configuration generation (config_current()): valid until
 * the control thread publishes the next one (a reload). */
const struct mx_config *daemon_config(void);
time_t daemon_started(void);

/** Reload the configuration file (ctl/reload.c): validate it, publish it
 * as a new generation with the live keys applied and the restart-class
 * keys kept at their running values. Writes the answer to @o (NULL: log
 * only, for SIGHUP); returns 0, or -1 if the file is not valid (nothing
 * changed, every error reported). */
int daemon_reload(struct ctl_out *o);

/** Leave the control loop and shut down as on SIGTERM (exit status 0).
 * main.c. */
void daemon_request_stop(void);

/** Start a drain (drain.c): refuse new connections, let the live sessions
 * finish within [daemon] drain_timeout_s, then daemon_request_stop().
 * Returns 0, or -EALREADY. */
int daemon_drain_start(void);
/** Is a drain under way? */
bool daemon_draining(void);
/** One "draining ..." line for `show info`. */
void daemon_drain_describe(struct ctl_out *o);

/** Tell the service manager @state ("READY=1", "STOPPING=1" ...) if
 * $NOTIFY_SOCKET is set (sd_notify.c); no-op otherwise. */
void daemon_notify(const char *state);
/** READY=1 (the workers poll), and the WATCHDOG=1 timer on the control
 * loop if $WATCHDOG_USEC asks for it. */
void daemon_notify_ready(void);

#endif
