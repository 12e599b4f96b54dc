/*
 * daemon.h - what the control thread knows about the running daemon, for
 * the ctl commands. Control thread only.
 */
#ifndef MX_CTL_DAEMON_H
#define MX_CTL_DAEMON_H

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

#endif
