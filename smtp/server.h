/*
 * server.h - the SMTP server on every worker: the dataplane service
 * (dp_service) that wires the session host (host.h), its connection layer
 * (conn.h) on mxgate's TCP (transport_tcp.h) and the spool stages
 * (stage_spool.h) on each worker lcore. Registered by the daemon at boot.
 */
#ifndef MX_SMTP_SERVER_H
#define MX_SMTP_SERVER_H

#include <stdint.h>

#include "smtp/host-t.h"
#include "smtp/smtp-t.h"

/** Register the SMTP service with the dataplane (boot, before ports). */
int smtp_server_register(void);

/** Copy worker @i's SMTP counters (any thread, relaxed loads); zeros if the
 * worker runs no SMTP server. */
void smtp_server_counters(unsigned i, struct smtp_counters *out);

/** Copy worker @i's session host counters (SMTP_HOST_COUNTERS: parks,
 * resumes, park deadlines, stale tickets ...) with relaxed loads; any
 * thread; zeros if the worker runs no SMTP server. */
void smtp_server_host_counters(unsigned i, struct smtp_host_counters *out);

/** Connections refused with 421 4.3.2 because every session slot of worker
 * @i was in use (any thread, relaxed). */
uint64_t smtp_server_refused(unsigned i);

struct smtp_tls_counters;
/** Copy worker @i's TLS counters (transport_tls.h), zeros without TLS
 * (any thread, relaxed loads). */
void smtp_server_tls_counters(unsigned i, struct smtp_tls_counters *out);

/** Connections currently open on worker @i (any thread, relaxed). */
unsigned smtp_server_sessions(unsigned i);

struct smtp_ctlbox;
/** Worker @i's ctl box (smtp/ctlbox.h: show/kill sessions, drain), or
 * NULL if it runs no SMTP server. Control thread. */
struct smtp_ctlbox *smtp_server_ctlbox(unsigned i);

/** Connections turned away on worker @i while draining (any thread). */
uint64_t smtp_server_drain_refused(unsigned i);

/** Connections of worker @i refused 421 4.3.2 at connect because the spool
 * refused new transactions ([smtp] connect_spool_check). Any thread. */
uint64_t smtp_server_gate_refused(unsigned i);

struct smtp_conn_lat;
/** Worker @i's per-phase latency histograms (smtp/latency.h; merge them
 * with mx_hist_merge(), any thread), or NULL. */
const struct smtp_conn_lat *smtp_server_latency(unsigned i);

#endif
