/*
 * rl_stage.h - the per-client rate limits in the daemon ([ratelimit]):
 * the shared table (ratelimit.h) aged on the control loop, and the MAIL and
 * RCPT stages that draw on it (after the policy checks, before
 * greylisting, so a flood creates no greylist keys). Over a limit, RCPT
 * gets Postfix's "450 4.7.1 <rcpt>: Recipient address rejected: Error: too
 * much mail from <IP>". Threads: boot/shutdown and the timer on the
 * control thread; the stages on their worker.
 */
#ifndef MX_POLICY_RL_STAGE_H
#define MX_POLICY_RL_STAGE_H

#include <stdint.h>

#include "core/config-t.h"
#include "core/counters.h"
#include "policy/ratelimit.h"

struct smtp_stage_host;
struct rl_stage;

/* Per-worker counters: X(name, type, help). */
#define RL_COUNTERS(X)                                                                 \
	X(refused_msg_ip, COUNTER, "RCPTs refused 450 4.7.1: msg_per_ip exceeded")     \
	X(refused_msg_net, COUNTER, "RCPTs refused 450 4.7.1: msg_per_net exceeded")   \
	X(refused_rcpt_ip, COUNTER, "RCPTs refused 450 4.7.1: rcpt_per_ip exceeded")   \
	X(refused_rcpt_net, COUNTER, "RCPTs refused 450 4.7.1: rcpt_per_net exceeded") \
	X(table_full, COUNTER, "draws allowed unchecked: rate-limit table full (fail open)")

struct rl_counters {
	RL_COUNTERS(MX_CTR_X_FIELD)
};

/** The limits of @c (all 0 when [ratelimit] enabled = no). Any thread. */
void rl_limits_of(const struct mx_config *c, struct rl_limits *l);

/** Create the table ([ratelimit] max_entries) and its ager (every 10 s).
 * 0 or -1 (logged). Control thread, boot, registered with QSBR. */
int rl_boot(const struct mx_config *c, unsigned nworkers);
/** Free it (workers stopped). Control thread. */
void rl_shutdown(void);
/** The table (NULL before boot) and the workers' clock estimate (ns). */
struct rl_table *rl_table(void);
uint64_t rl_now_ns(void);

/** Register the stages on @h for worker @worker. Boot. NULL + errno. */
struct rl_stage *rl_stage_create(struct smtp_stage_host *h, unsigned worker);
void rl_stage_destroy(struct rl_stage *rs);

/** Worker @w's counters. Any thread (relaxed loads). */
void rl_counters_read(unsigned w, struct rl_counters *out);
/** Register the "ratelimit" counter groups. Boot (constructor). */
int rl_counters_register(void);

#endif
