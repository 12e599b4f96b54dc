/*
 * daemon.h - what the control thread knows about the running daemon, for
 * the ctl commands. Control thread only.
 */
#ifndef MX_CTL_DAEMON_H
#define MX_CTL_DAEMON_H

#include <time.h>

#include "core/config-t.h"

const struct mx_config *daemon_config(void);
time_t daemon_started(void);

#endif
