/*
 * queue_cmds.c - ctl commands of the mail queue (spool + relay):
 *
 *   show queue [json]            counts by state, recipients pending/held,
 *                                oldest age, bytes, next-hop state, counters,
 *                                back-pressure (high-water mark in force,
 *                                backlog wait and its bound, refusals),
 *                                segments quarantined by recovery
 *   show queue detail [N]        the first N messages (default 50)
 *   queue hold ID|DOMAIN         stop delivering a message / a recipient domain
 *   queue release ID|DOMAIN|all  held recipients back to the queue, now
 *   queue flush                  retry every deferred message now
 *   queue delete ID confirm      drop a message's undelivered recipients
 *
 * Control thread only; the relay takes its own lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "queue/queue.h"
#include "queue/relay.h"
#include "queue/spool.h"

static struct relay *need_relay(struct ctl_out *o)
{
	struct relay *r = queue_relay();

	if (!r)
		ctl_error(o, "no relay: mxgate runs without [spool] dir or [relay] nexthop");
	return r;
}

/* The spool's side of "show queue": damage kept aside by recovery. */
static void spool_summary(struct ctl_out *o, bool json)
{
	struct spool *sp = queue_spool();
	static const char *const rstate[] = {"none", "running", "done", "aborted"};
	struct spool_recovery_info ri;
	struct spool_pressure p;
	struct spool_stats st;
	uint64_t qbytes = 0;
	long qfiles;

	if (!sp)
		return;
	spool_recovery_read(sp, &ri);
	spool_stats_read(sp, &st);
	spool_pressure_read(sp, &p);
	qfiles = spool_quarantine_files(sp, &qbytes);
	if (qfiles < 0)
		qfiles = 0;
	if (json) {
		ctl_printf(o,
			   ",\"spool\":{\"refusing\":%s,\"high_water\":%llu,\"high_water_auto\":%s,"
			   "\"live_bytes\":%llu,\"disk_free\":%llu,\"min_free\":%llu,"
			   "\"disk_full\":%s,\"refuse_nexthop_down\":%s,\"refuse_backlog\":%s",
			   p.refusing ? "true" : "false", (unsigned long long)p.high_water,
			   p.high_water_auto ? "true" : "false", (unsigned long long)p.live_bytes,
			   (unsigned long long)p.disk_free, (unsigned long long)p.min_free,
			   p.disk_full ? "true" : "false",
			   p.refuse & SPOOL_REFUSE_NEXTHOP_DOWN ? "true" : "false",
			   p.refuse & SPOOL_REFUSE_BACKLOG ? "true" : "false");
		ctl_printf(o,
			   ",\"quarantined_segments\":%llu,\"quarantine_files\":%ld,"
			   "\"quarantine_bytes\":%llu,\"damaged_tails_kept\":%llu,"
			   "\"corrupt_regions\":%llu",
			   (unsigned long long)st.quarantined_segments, qfiles,
			   (unsigned long long)qbytes, (unsigned long long)st.damaged_tails_kept,
			   (unsigned long long)st.corrupt_regions);
		ctl_printf(o,
			   ",\"recovery\":{\"state\":\"%s\",\"segments_done\":%llu,"
			   "\"segments_total\":%llu,\"bytes_done\":%llu,\"bytes_total\":%llu,"
			   "\"messages\":%llu,\"elapsed_ms\":%llu}}",
			   rstate[ri.state & 3], (unsigned long long)ri.segs_done,
			   (unsigned long long)ri.segs_total, (unsigned long long)ri.bytes_done,
			   (unsigned long long)ri.bytes_total, (unsigned long long)ri.msgs,
			   (unsigned long long)ri.elapsed_ms);
		return;
	}
	ctl_printf(o, "spool.%-22s %s\n", "refusing",
		   !p.refusing				  ? "no"
		   : p.refuse & SPOOL_REFUSE_BACKLOG	  ? "yes (backlog too old)"
		   : p.refuse & SPOOL_REFUSE_NEXTHOP_DOWN ? "yes (next hop down)"
		   : p.disk_full			  ? "yes (disk full)"
		   : p.live_bytes >= p.high_water && p.high_water
			   ? "yes (high-water mark)"
			   : "yes (free disk below min_free)");
	ctl_printf(o, "spool.%-22s %llu%s\n", "high_water", (unsigned long long)p.high_water,
		   p.high_water_auto ? " (auto: 1/4 of the file system)" : "");
	ctl_printf(o, "spool.%-22s %llu\n", "live_bytes", (unsigned long long)p.live_bytes);
	ctl_printf(o, "spool.%-22s %llu\n", "disk_free", (unsigned long long)p.disk_free);
	ctl_printf(o, "spool.%-22s %llu\n", "min_free", (unsigned long long)p.min_free);
	ctl_printf(o, "spool.%-22s %llu\n", "quarantined_segments",
		   (unsigned long long)st.quarantined_segments);
	ctl_printf(o, "spool.%-22s %ld\n", "quarantine_files", qfiles);
	ctl_printf(o, "spool.%-22s %llu\n", "quarantine_bytes", (unsigned long long)qbytes);
	ctl_printf(o,
		   "spool.%-22s %s: %llu/%llu segments, %llu/%llu bytes, %llu message(s) "
		   "queued, %llu ms\n",
		   "recovery", rstate[ri.state & 3], (unsigned long long)ri.segs_done,
		   (unsigned long long)ri.segs_total, (unsigned long long)ri.bytes_done,
		   (unsigned long long)ri.bytes_total, (unsigned long long)ri.msgs,
		   (unsigned long long)ri.elapsed_ms);
}

static void cmd_show_queue(struct ctl_out *o, int argc, char **argv)
{
	struct relay *r = queue_relay();
	struct relay_queue_summary q;
	struct relay_stats st;
	const uint64_t *sv = (const uint64_t *)&st;
	bool json = argc == 1 && strcmp(argv[0], "json") == 0;
	char doms[1024];

	if (argc > 1 || (argc == 1 && !json))
		return ctl_error(o, "usage: show queue [json]");
	if (!r && queue_spool()) {
		/* A spool without a relay (no next hop): its part only. */
		if (json)
			ctl_printf(o, "{\"relay\":null");
		spool_summary(o, json);
		if (json)
			ctl_printf(o, "}\n");
		return;
	}
	if (!(r = need_relay(o)))
		return;
	relay_queue_summary(r, &q);
	relay_stats_read(r, &st);
	if (json) {
		ctl_printf(o, "{\"messages\":{");
		for (unsigned i = 0; i < RELAY_MSG_STATE_COUNT; i++)
			ctl_printf(o, "%s\"%s\":%llu", i ? "," : "", relay_msg_state_name(i),
				   (unsigned long long)q.msgs[i]);
		ctl_printf(
			o,
			"},\"rcpts_pending\":%llu,\"rcpts_held\":%llu,\"oldest_age_ms\":%llu,"
			"\"bytes\":%llu,\"nexthop_down_ms\":%llu,\"backlog_wait_ms\":%llu,"
			"\"max_backlog_age_ms\":%llu,\"backlog_refusing\":%s,\"drain_per_s\":%llu,"
			"\"relay\":{",
			(unsigned long long)q.rcpts_pending, (unsigned long long)q.rcpts_held,
			(unsigned long long)q.oldest_age_ms, (unsigned long long)q.bytes,
			(unsigned long long)q.nexthop_down_ms,
			(unsigned long long)q.backlog_wait_ms,
			(unsigned long long)q.max_backlog_age_ms,
			q.backlog_refusing ? "true" : "false", (unsigned long long)q.drain_per_s);
		for (unsigned i = 0; i < RELAY_STAT_COUNT; i++)
			ctl_printf(o, "%s\"%s\":%llu", i ? "," : "", relay_stat_name(i),
				   (unsigned long long)sv[i]);
		relay_held_domains(r, doms, sizeof(doms));
		ctl_printf(o, "},\"held_domains\":\"%s\"", doms); /* [a-z0-9._-] only */
		spool_summary(o, true);
		ctl_printf(o, "}\n");
		return;
	}
	for (unsigned i = 0; i < RELAY_MSG_STATE_COUNT; i++)
		ctl_printf(o, "queue.%-22s %llu\n", relay_msg_state_name(i),
			   (unsigned long long)q.msgs[i]);
	ctl_printf(o, "queue.%-22s %llu\n", "rcpts_pending", (unsigned long long)q.rcpts_pending);
	ctl_printf(o, "queue.%-22s %llu\n", "rcpts_held", (unsigned long long)q.rcpts_held);
	ctl_printf(o, "queue.%-22s %llu\n", "oldest_age_ms", (unsigned long long)q.oldest_age_ms);
	ctl_printf(o, "queue.%-22s %llu\n", "bytes", (unsigned long long)q.bytes);
	ctl_printf(o, "queue.%-22s %llu\n", "nexthop_down_ms",
		   (unsigned long long)q.nexthop_down_ms);
	ctl_printf(o, "queue.%-22s %llu\n", "backlog_wait_ms",
		   (unsigned long long)q.backlog_wait_ms);
	ctl_printf(o, "queue.%-22s %llu\n", "drain_per_s", (unsigned long long)q.drain_per_s);
	ctl_printf(o, "queue.%-22s %llu%s\n", "max_backlog_age_ms",
		   (unsigned long long)q.max_backlog_age_ms,
		   q.backlog_refusing ? " (exceeded: refusing new mail)" : "");
	relay_held_domains(r, doms, sizeof(doms));
	ctl_printf(o, "queue.%-22s %s\n", "held_domains", doms[0] ? doms : "-");
	for (unsigned i = 0; i < RELAY_STAT_COUNT; i++)
		ctl_printf(o, "relay.%-22s %llu\n", relay_stat_name(i), (unsigned long long)sv[i]);
	spool_summary(o, false);
}

struct detail_ctx {
	struct ctl_out *o;
	long left;
};

static int detail_one(void *arg, const struct relay_msg_view *v)
{
	struct detail_ctx *d = arg;
	char qid[64];

	if (d->left-- <= 0)
		return 1; /* stop */
	ctl_printf(d->o, "%s %-9s age_s=%llu bytes=%llu attempts=%u from=<%s> rcpts=%u",
		   spool_qid_format(&v->qid, qid), relay_msg_state_name(v->state),
		   (unsigned long long)(v->age_ms / 1000), (unsigned long long)v->bytes,
		   v->attempts, v->mail_from ? v->mail_from : "?", v->nrcpt);
	if (v->tls) /* the protocol and cipher it was received with */
		ctl_printf(d->o, " tls=%s", v->tls);
	if (v->state == RELAY_MSG_DEFERRED)
		ctl_printf(d->o, " next_try_s=%llu",
			   (unsigned long long)(v->next_try_in_ms / 1000));
	ctl_printf(d->o, "\n");
	for (uint32_t i = 0; v->rcpt && i < v->nrcpt; i++)
		ctl_printf(d->o, "    rcpt %u <%s> %s%s%s\n", i,
			   v->rcpt[i].addr ? v->rcpt[i].addr : "?",
			   spool_rcpt_state_name(v->rcpt[i].state),
			   v->rcpt[i].reply ? " last reply: " : "",
			   v->rcpt[i].reply ? v->rcpt[i].reply : "");
	return 0;
}

static void cmd_show_queue_detail(struct ctl_out *o, int argc, char **argv)
{
	struct relay *r = need_relay(o);
	struct detail_ctx d = {.o = o, .left = 50};
	char *end;

	if (!r)
		return;
	if (argc > 1)
		return ctl_error(o, "usage: show queue detail [N]");
	if (argc == 1) {
		d.left = strtol(argv[0], &end, 10);
		if (*end || d.left <= 0)
			return ctl_error(o,
					 "show queue detail: N must be a positive number, not '%s'",
					 argv[0]);
	}
	relay_queue_list(r, detail_one, &d);
}

static bool parse_qid(struct ctl_out *o, const char *s, struct spool_qid *q)
{
	if (spool_qid_parse(s, strlen(s), q) != 0) {
		ctl_error(o, "'%s' is not a queue id (26 characters, as in '250 ... queued as ID')",
			  s);
		return false;
	}
	return true;
}

static void result(struct ctl_out *o, int rc, const char *what, const char *id)
{
	if (rc < 0)
		ctl_error(o, "%s %s: %s", what, id, rc == -2 ? "no such message" : strerror(-rc));
	else
		ctl_printf(o, "%s %s: done%s\n", what, id,
			   rc == 1 ? " (after its delivery attempt ends)" : "");
}

static void released(struct ctl_out *o, int rc, const char *id)
{
	if (rc < 0)
		ctl_error(o, "release %s: %s", id, rc == -2 ? "no such message" : strerror(-rc));
	else
		ctl_printf(o, "release %s: %d recipient(s) back in the queue\n", id, rc);
}

/* A queue id is 26 characters without a dot; anything else is taken as a
 * recipient domain. */
static bool is_domain(const char *s)
{
	return strlen(s) != SPOOL_QID_STRLEN || strchr(s, '.') || s[0] == '@';
}

static void cmd_hold(struct ctl_out *o, int argc, char **argv)
{
	struct relay *r = need_relay(o);
	struct spool_qid q;
	int rc;

	if (!r)
		return;
	if (argc != 1)
		return ctl_error(o, "usage: queue hold ID|DOMAIN");
	if (!is_domain(argv[0])) {
		if (parse_qid(o, argv[0], &q))
			result(o, relay_hold(r, &q), "hold", argv[0]);
		return;
	}
	rc = relay_hold_domain(r, argv[0]);
	if (rc < 0)
		ctl_error(o, "hold %s: %s", argv[0],
			  rc == -EINVAL	  ? "neither a queue id nor a domain"
			  : rc == -EEXIST ? "already held"
					  : strerror(-rc));
	else
		ctl_printf(o,
			   "hold %s: done, %d recipient(s) held now, the others at their next "
			   "attempt; kept across restarts\n",
			   argv[0], rc);
}

static void cmd_release(struct ctl_out *o, int argc, char **argv)
{
	struct relay *r = need_relay(o);
	struct spool_qid q;

	if (!r)
		return;
	if (argc != 1)
		return ctl_error(o, "usage: queue release ID|DOMAIN|all");
	if (strcmp(argv[0], "all") == 0)
		return released(o, relay_release(r, NULL), "all");
	if (is_domain(argv[0])) {
		int rc = relay_release_domain(r, argv[0]);

		if (rc < 0)
			return ctl_error(o, "release %s: %s", argv[0],
					 rc == -ENOENT ? "this domain is not held" : strerror(-rc));
		return released(o, rc, argv[0]);
	}
	if (parse_qid(o, argv[0], &q))
		released(o, relay_release(r, &q), argv[0]);
}

static void cmd_flush(struct ctl_out *o, int argc, char **argv)
{
	struct relay *r = need_relay(o);

	(void)argv;
	if (!r)
		return;
	if (argc != 0)
		return ctl_error(o, "usage: queue flush");
	result(o, relay_flush(r), "flush", "all");
}

static void cmd_delete(struct ctl_out *o, int argc, char **argv)
{
	struct relay *r = need_relay(o);
	struct spool_qid q;

	if (!r)
		return;
	if (argc != 2 || strcmp(argv[1], "confirm") != 0)
		return ctl_error(o,
				 "usage: queue delete ID confirm (the word 'confirm' is required: "
				 "deleted mail is gone)");
	if (parse_qid(o, argv[0], &q))
		result(o, relay_delete(r, &q), "delete", argv[0]);
}

static const struct ctl_cmd queue_cmds[] = {
	{.words = {"show", "queue"},
	 .usage = "[json]",
	 .help = "mail queue: messages by state, recipients pending/held, oldest, bytes, "
		 "back-pressure (high-water mark, backlog wait, refusals), quarantined segments, "
		 "relay counters",
	 .fn = cmd_show_queue},
	{.words = {"show", "queue", "detail"},
	 .usage = "[N]",
	 .help = "the first N queued messages (default 50) with their recipients",
	 .fn = cmd_show_queue_detail},
	{.words = {"queue", "hold"},
	 .usage = "ID|DOMAIN",
	 .help = "stop delivering message ID, or every recipient in DOMAIN (kept across "
		 "restarts)",
	 .flags = CTL_F_PRIV,
	 .fn = cmd_hold},
	{.words = {"queue", "release"},
	 .usage = "ID|DOMAIN|all",
	 .help = "put held recipients (of message ID, of DOMAIN, or all) back in the queue, "
		 "ready now; DOMAIN: end its hold",
	 .flags = CTL_F_PRIV,
	 .fn = cmd_release},
	{.words = {"queue", "flush"},
	 .usage = "",
	 .help = "retry every deferred message now",
	 .flags = CTL_F_PRIV,
	 .fn = cmd_flush},
	{.words = {"queue", "delete"},
	 .usage = "ID confirm",
	 .help = "drop the undelivered recipients of message ID",
	 .flags = CTL_F_PRIV,
	 .fn = cmd_delete},
};

__attribute__((constructor)) static void register_queue_cmds(void)
{
	for (unsigned i = 0; i < sizeof(queue_cmds) / sizeof(queue_cmds[0]); i++)
		ctl_register(&queue_cmds[i]);
}
