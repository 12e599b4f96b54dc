/*
 * latency.h - per-phase latency marks as host stages: the first stages of
 * the HELO, MAIL, RCPT and DATA_END lists note when each command arrived
 * on its connection (conn-t.h), and the connection layer records the phase
 * when the reply goes out (smtp_conn_set_latency()). They always answer
 * CONTINUE. Worker lcore; nothing allocated.
 */
#ifndef MX_SMTP_LATENCY_H
#define MX_SMTP_LATENCY_H

#include "smtp/conn-t.h"
#include "smtp/host-t.h"

/** Names and help lines of the phases, in SMTP_LATENCY order. */
extern const char *const smtp_lat_names[SMTP_LAT_COUNT];
extern const char *const smtp_lat_help[SMTP_LAT_COUNT];

/** Add the marking stages to @h and record into @lat (the caller owns it,
 * mx_hist_init()'ed). Call before any other stage is added, so the marks
 * are taken before a check runs. Boot path. Returns 0 or -errno. */
int smtp_latency_stages_add(struct smtp_stage_host *h, struct smtp_conn_lat *lat);

#endif
