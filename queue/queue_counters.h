/*
 * queue_counters.h - the mail queue's groups of the counter registry
 * (core/counters.h): "spool" (SPOOL_STATS, the segment bytes, and the
 * commit latency histogram per commit thread), "relay" (RELAY_STATS) and
 * "queue" (the gauges of `show queue`).
 */
#ifndef MX_QUEUE_QUEUE_COUNTERS_H
#define MX_QUEUE_QUEUE_COUNTERS_H

/** Register the groups. They read the spool and relay of queue_spool() and
 * queue_relay() when walked (zeros while there are none). Returns 0 or
 * -errno from mx_ctr_register(). Boot only, once. */
int queue_counters_register(void);

#endif
