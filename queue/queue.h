/*
 * queue.h - the daemon's mail queue: the spool and the relay, set up from
 * [spool] and [relay]. Boot, control and shutdown paths (main lcore);
 * workers only ever touch their own spool_worker handle.
 */
#ifndef MX_QUEUE_QUEUE_H
#define MX_QUEUE_QUEUE_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/config-t.h"

struct spool;
struct spool_worker;
struct relay;

/** As root, before dropping privileges: create the spool directory (mode
 * 0700) and give it to @uid/@gid. Returns 0 or -1 (logged). */
int queue_prepare(const struct mx_config *c, uid_t uid, gid_t gid);

/** As the daemon user: open and recover the spool, create the relay (it
 * takes the recovered messages). With [spool] dir empty, does nothing:
 * mxgate then answers 451 at end of data. Returns 0 or -1 (logged). */
int queue_boot(const struct mx_config *c, unsigned nworkers);

/** Start the commit thread(s) and the relay threads. Returns 0 or -1. */
int queue_start(void);

/** Stop relay and commit threads; call after the workers stopped and
 * flushed. Safe if queue_boot() did nothing or failed. */
void queue_stop(void);

/** Apply the live [spool] keys (high_water_mb, min_free_mb,
 * commit_interval_us, commit_batch) and [relay] keys (retry_min_s,
 * retry_max_s, refuse_after_s) of @c to the running spool and relay (read
 * during the call only). No-op for what does not exist. Control thread. */
void queue_reconfig(const struct mx_config *c);

/** Worker @i's spool handle (NULL without a spool). */
struct spool_worker *queue_worker(unsigned i);

/** The spool and the relay (NULL if absent), for the ctl commands. */
struct spool *queue_spool(void);
struct relay *queue_relay(void);

#endif
