/*
 * metrics.h - the Prometheus endpoint: GET /metrics over HTTP/1.0 or 1.1
 * on [metrics] listen, answered from the counter registry
 * (mx_ctr_format_prom()), on the control loop (core/loop.h). Control
 * thread only.
 */
#ifndef MX_CTL_METRICS_H
#define MX_CTL_METRICS_H

#include "core/config-t.h"

/** Bind and listen on @c->metrics_listen and watch it on the control loop
 * (mx_loop_init() must have run). Nothing if the key is empty. Returns 0 or
 * -1 (logged). Boot, before privileges are dropped (any port). */
int metrics_open(const struct mx_config *c);

/** Close the listener and every client. Safe if never opened. */
void metrics_close(void);

#endif
