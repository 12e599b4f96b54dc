/*
 * tls.h - STARTTLS certificates on the control thread (ctl/tls_cmds.c):
 * build and publish the certificate generation at boot, on `mxgatectl tls
 * reload`, on a configuration reload and when the files change (their
 * mtime, size or inode, looked at every [tls] watch_s seconds from the
 * control loop); `mxgatectl show tls`; the tls counters and gauges.
 * Control thread only.
 */
#ifndef MX_CTL_TLS_H
#define MX_CTL_TLS_H

#include "core/config-t.h"

struct ctl_out;

/** Boot: with [tls] cert set, build and publish the first generation and
 * start watching the files. Call after mx_loop_init() and the first
 * config_publish(), before the privileges are dropped (keys are often
 * readable by root only). Returns 0, or -1 (logged, naming the file). */
int tls_boot(const struct mx_config *c);

/** Build a generation from @c's [tls] keys and publish it; on error the
 * running one keeps serving. Reports to @o (NULL: log only). Returns 0 or
 * -1. */
int tls_reload(const struct mx_config *c, struct ctl_out *o);

/** Unpublish and free the generation (after the workers stopped). */
void tls_stop(void);

#endif
