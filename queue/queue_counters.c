/*
 * queue_counters.c - registers the spool's and the relay's counters with
 * the counter registry. Both libraries sum their threads' counters
 * themselves (spool_stats_read(), relay_stats_read()), so those groups are
 * global; the commit latency histogram is per commit thread (label
 * commit_thread). The "queue" gauges come from relay_queue_summary(), which
 * walks the queue under the relay lock: O(queued messages) per read, as
 * `show queue`. Read functions run on the control thread.
 *
 * A new SPOOL_STATS or RELAY_STATS entry appears everywhere by itself once
 * its help line exists below (SPOOL_HELP_<name>, RELAY_HELP_<name>: the
 * build fails without it).
 */
#include "queue/queue_counters.h"

#include <string.h>

#include "core/counters.h"
#include "queue/queue.h"
#include "queue/relay.h"
#include "queue/spool.h"

#define SPOOL_HELP_records_staged "records encoded by workers"
#define SPOOL_HELP_bytes_staged	  "bytes encoded by workers"
#define SPOOL_HELP_msgs_begun	  "messages begun (spool_msg_begin)"
#define SPOOL_HELP_msgs_ended	  "messages ended by workers, waiting for or past their commit"
#define SPOOL_HELP_msgs_aborted	  "messages abandoned before their end (client gone, RSET, rejected)"
#define SPOOL_HELP_staging_full	  "appends refused: no free staging buffer"
#define SPOOL_HELP_admit_refused \
	"transactions refused at MAIL FROM by the spool (full, busy or refusing)"
#define SPOOL_HELP_records_written "records written to segment files"
#define SPOOL_HELP_bytes_written   "bytes written to segment files"
#define SPOOL_HELP_write_calls	   "pwrite(2) calls"
#define SPOOL_HELP_fdatasyncs	   "fdatasync(2) calls on segment files"
#define SPOOL_HELP_sync_groups	   "group commits (one or more fdatasyncs each)"
#define SPOOL_HELP_sync_records	   "records made durable by group commits"
#define SPOOL_HELP_sync_msgs	   "messages made durable by group commits"
#define SPOOL_HELP_group_1	   "group commits of 1 message"
#define SPOOL_HELP_group_2_3	   "group commits of 2-3 messages"
#define SPOOL_HELP_group_4_15	   "group commits of 4-15 messages"
#define SPOOL_HELP_group_16_63	   "group commits of 16-63 messages"
#define SPOOL_HELP_group_64_plus   "group commits of 64 messages or more"
#define SPOOL_HELP_commit_lat_ns_sum \
	"nanoseconds from end of data to commit, summed over committed messages"
#define SPOOL_HELP_commit_lat_ns_max   "worst nanoseconds from end of data to commit"
#define SPOOL_HELP_msgs_committed      "messages committed (their 250 may be sent)"
#define SPOOL_HELP_msgs_failed	       "messages whose commit failed (451/452 sent)"
#define SPOOL_HELP_write_errors	       "pwrite(2) failures"
#define SPOOL_HELP_sync_errors	       "fdatasync(2) failures"
#define SPOOL_HELP_enospc_errors       "ENOSPC or EDQUOT from pwrite, fdatasync or open (disk full)"
#define SPOOL_HELP_segments_created    "segment files created"
#define SPOOL_HELP_segments_deleted    "segment files deleted (all their messages done)"
#define SPOOL_HELP_done_records	       "done-log records written"
#define SPOOL_HELP_recovered_msgs      "committed messages found at start with work left"
#define SPOOL_HELP_recovered_rcpts     "recipients of those messages not yet delivered"
#define SPOOL_HELP_recovered_done_msgs "committed messages found fully done at start"
#define SPOOL_HELP_incomplete_msgs \
	"messages found at start without an intact END (never acknowledged)"
#define SPOOL_HELP_invalid_msgs	   "messages found at start with an intact END that failed their check"
#define SPOOL_HELP_torn_tails_cut  "segment files cut back to their last intact record"
#define SPOOL_HELP_torn_bytes_cut  "bytes removed by those cuts"
#define SPOOL_HELP_corrupt_regions "damaged regions followed by intact records (kept)"
#define SPOOL_HELP_damaged_tails_kept \
	"damaged tails found in segments other than the newest: quarantined, never cut"
#define SPOOL_HELP_quarantined_segments \
	"damaged segments linked into the spool's quarantine/ directory at start"
#define SPOOL_HELP_bad_files "files without an intact header, removed"

static const struct mx_ctr_def spool_defs[] = {
#define X(n, kind)                                                                    \
	{.name = #n,                                                                  \
	 .help = SPOOL_HELP_##n,                                                      \
	 .type = SPOOL_STAT_##kind == SPOOL_STAT_MAX ? MX_CTR_GAUGE : MX_CTR_COUNTER, \
	 .merge = SPOOL_STAT_##kind == SPOOL_STAT_MAX ? MX_CTR_MAX : MX_CTR_SUM},
	SPOOL_STATS(X)
#undef X
		{.name = "segment_bytes",
		 .help = "bytes of segment files in the spool",
		 .type = MX_CTR_GAUGE},
};

static void spool_read(void *arg, unsigned inst, uint64_t *vals)
{
	struct spool *sp = queue_spool();
	struct spool_stats s;
	unsigned k = 0;

	(void)arg;
	(void)inst;
	if (!sp) {
		memset(vals, 0, sizeof(spool_defs) / sizeof(spool_defs[0]) * sizeof(*vals));
		return;
	}
	spool_stats_read(sp, &s);
#define X(n, kind) vals[k++] = s.n;
	SPOOL_STATS(X)
#undef X
	vals[k] = spool_bytes(sp);
}

static const struct mx_ctr_group spool_group = {
	.name = "spool",
	.defs = spool_defs,
	.ndefs = sizeof(spool_defs) / sizeof(spool_defs[0]),
	.read = spool_read,
};

static const struct mx_ctr_def commit_defs[] = {
	{.name = "commit_latency_ns",
	 .prom = "commit_latency_seconds",
	 .help = "time from end of data to the message being durable (the 250), per commit thread",
	 .type = MX_CTR_HISTOGRAM,
	 .le_lo = 4, /* 10 us .. 5 s */
	 .le_hi = 9,
	 .scale = 1e-9},
};

static unsigned commit_threads(void *arg)
{
	struct spool *sp = queue_spool();

	(void)arg;
	return sp ? spool_commit_threads(sp) : 0;
}

static void commit_hist(void *arg, unsigned inst, unsigned def, struct mx_hist *h)
{
	struct spool *sp = queue_spool();

	(void)arg;
	(void)def;
	if (sp)
		spool_commit_hist_read(sp, inst, h);
}

static const struct mx_ctr_group commit_group = {
	.name = "spool",
	.scope = MX_CTR_THREAD,
	.label = "commit_thread",
	.defs = commit_defs,
	.ndefs = 1,
	.instances = commit_threads,
	.read_hist = commit_hist,
};

#define RELAY_HELP_msgs_queued	    "messages taken in by the relay (commit hook and recovery)"
#define RELAY_HELP_msgs_delivered   "messages with every recipient delivered or deleted"
#define RELAY_HELP_rcpts_delivered  "recipients accepted by a next hop (2xx)"
#define RELAY_HELP_rcpts_deferred   "recipient attempts ending in 4xx or a connection failure"
#define RELAY_HELP_rcpts_held	    "recipients put on hold (5xx, local permanent error, ctl)"
#define RELAY_HELP_rcpts_released   "held recipients released by ctl"
#define RELAY_HELP_rcpts_deleted    "recipients deleted by ctl"
#define RELAY_HELP_conns_opened	    "next-hop sessions established (greeting and EHLO/LHLO ok)"
#define RELAY_HELP_conns_reused	    "transactions on an already open next-hop session"
#define RELAY_HELP_nexthop_failures "next-hop connect, greeting and EHLO failures and sessions lost"
#define RELAY_HELP_bytes_sent	    "body bytes written to next hops (dot-stuffed, final dot included)"
#define RELAY_HELP_retries	    "delivery attempts after the first one"
#define RELAY_HELP_done_log_errors \
	"done-log writes that failed after a delivery (may deliver twice)"
#define RELAY_HELP_spool_errors "messages that could not be read back from the spool"
#define RELAY_HELP_rcpts_bounced \
	"recipients failed for good (5xx or max_queue_lifetime), returned to the sender"
#define RELAY_HELP_rcpts_expired   "recipients bounced because they outlived max_queue_lifetime_s"
#define RELAY_HELP_dsns_queued	   "delivery status notifications (RFC 3464) queued to senders"
#define RELAY_HELP_dsns_suppressed "failures that owed no notification (null sender, NOTIFY=)"
#define RELAY_HELP_dsn_errors	   "notifications that could not be queued (recipients held)"

static const struct mx_ctr_def relay_defs[] = {
#define X(n) {.name = #n, .help = RELAY_HELP_##n, .type = MX_CTR_COUNTER},
	RELAY_STATS(X)
#undef X
};

static void relay_read(void *arg, unsigned inst, uint64_t *vals)
{
	struct relay *r = queue_relay();
	struct relay_stats s;
	unsigned k = 0;

	(void)arg;
	(void)inst;
	if (!r) {
		memset(vals, 0, sizeof(relay_defs) / sizeof(relay_defs[0]) * sizeof(*vals));
		return;
	}
	relay_stats_read(r, &s);
#define X(n) vals[k++] = s.n;
	RELAY_STATS(X)
#undef X
}

static const struct mx_ctr_group relay_group = {
	.name = "relay",
	.defs = relay_defs,
	.ndefs = sizeof(relay_defs) / sizeof(relay_defs[0]),
	.read = relay_read,
};

/* In the order of enum relay_msg_state, then struct relay_queue_summary. */
_Static_assert(RELAY_MSG_STATE_COUNT == 4, "queue_defs lists 4 message states");
static const struct mx_ctr_def queue_defs[] = {
	{.name = "ready",
	 .help = "queued messages waiting for a relay thread",
	 .type = MX_CTR_GAUGE},
	{.name = "deferred",
	 .help = "queued messages waiting for their retry time",
	 .type = MX_CTR_GAUGE},
	{.name = "active",
	 .help = "queued messages with a delivery attempt under way",
	 .type = MX_CTR_GAUGE},
	{.name = "held",
	 .help = "queued messages with only held recipients left",
	 .type = MX_CTR_GAUGE},
	{.name = "rcpts_pending", .help = "recipients not yet delivered", .type = MX_CTR_GAUGE},
	{.name = "rcpts_held", .help = "recipients on hold", .type = MX_CTR_GAUGE},
	{.name = "oldest_age_ms",
	 .help = "age of the oldest queued message (ms)",
	 .type = MX_CTR_GAUGE},
	{.name = "bytes", .help = "body bytes of the queued messages", .type = MX_CTR_GAUGE},
	{.name = "nexthop_down_ms",
	 .help = "how long every next hop has been down (ms), 0 if one is up",
	 .type = MX_CTR_GAUGE},
};

static void queue_read(void *arg, unsigned inst, uint64_t *vals)
{
	struct relay *r = queue_relay();
	struct relay_queue_summary q;
	unsigned k = 0;

	(void)arg;
	(void)inst;
	if (!r) {
		memset(vals, 0, sizeof(queue_defs) / sizeof(queue_defs[0]) * sizeof(*vals));
		return;
	}
	relay_queue_summary(r, &q);
	for (unsigned i = 0; i < RELAY_MSG_STATE_COUNT; i++)
		vals[k++] = q.msgs[i];
	vals[k++] = q.rcpts_pending;
	vals[k++] = q.rcpts_held;
	vals[k++] = q.oldest_age_ms;
	vals[k++] = q.bytes;
	vals[k++] = q.nexthop_down_ms;
}

static const struct mx_ctr_group queue_group = {
	.name = "queue",
	.defs = queue_defs,
	.ndefs = sizeof(queue_defs) / sizeof(queue_defs[0]),
	.read = queue_read,
};

int queue_counters_register(void)
{
	const struct mx_ctr_group *g[] = {&spool_group, &commit_group, &relay_group, &queue_group};

	for (unsigned i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		int rc = mx_ctr_register(g[i]);

		if (rc)
			return rc;
	}
	return 0;
}
