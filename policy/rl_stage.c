/*
 * rl_stage.c - the rate limits in the daemon (rl_stage.h): the shared
 * table's life on the control loop and the stages. At MAIL the session's
 * slot is marked "no message drawn yet"; at each RCPT the first one of
 * the transaction draws a message token, every one a recipient token, on
 * the client's address and network. Limits come from config_current()
 * (live keys; workers read it between quiescent states). Trusted clients
 * are exempt; with [policy] enabled = no nothing is limited here.
 */
#include "policy/rl_stage.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu-qsbr.h>

#include "core/config.h"
#include "core/counters.h"
#include "core/log.h"
#include "core/loop.h"
#include "policy/policy.h"
#include "policy/store_redis.h"
#include "smtp/host.h"

#define RL_MAX_WORKERS 128
#define RL_AGE_MS      10000

struct rl_stage {
	unsigned worker;
	uint8_t *drawn; /* per slot: message token drawn in this transaction */
	unsigned nslots;
	struct rl_counters ctr; /* owner writes */
	char text[SMTP_REPLY_MAX];
};

static struct rl_table *table;
static struct rl_stage *by_worker[RL_MAX_WORKERS];
static unsigned n_workers;
static struct mx_loop_timer age_timer;
static uint64_t seen_ns, est_ns, tick_ms;

#define CTR_INC(gs, n) __atomic_store_n(&(gs)->ctr.n, (gs)->ctr.n + 1, __ATOMIC_RELAXED)

void rl_limits_of(const struct mx_config *c, struct rl_limits *l)
{
	memset(l, 0, sizeof(*l));
	if (c && c->rl_enabled) {
		l->msg_per_ip = (uint32_t)c->rl_msg_per_ip;
		l->rcpt_per_ip = (uint32_t)c->rl_rcpt_per_ip;
		l->msg_per_net = (uint32_t)c->rl_msg_per_net;
		l->rcpt_per_net = (uint32_t)c->rl_rcpt_per_net;
	}
	l->v4_prefix = 24;
	l->v6_prefix = 64;
}

struct rl_table *rl_table(void)
{
	return table;
}

uint64_t rl_now_ns(void)
{
	return est_ns ? est_ns : (table ? rl_clock(table) : 0);
}

/* The workers' clock as of their last draw, carried forward on the
 * loop's clock while nobody draws (both are monotonic), as admission.c. */
static void age_tick(struct mx_loop_timer *t, void *arg)
{
	uint64_t seen = rl_clock(table), ms = mx_loop_now_ms();

	(void)arg;
	if (seen != seen_ns)
		est_ns = seen_ns = seen;
	else if (tick_ms)
		est_ns += (ms - tick_ms) * 1000000ull;
	tick_ms = ms;
	rcu_thread_online();
	rl_age(table, est_ns ? est_ns : 1);
	rcu_thread_offline();
	mx_loop_timer_arm(t, RL_AGE_MS);
}

int rl_boot(const struct mx_config *c, unsigned nworkers)
{
	table = rl_create((unsigned)c->rl_max_entries);
	if (!table) {
		MX_ERR("[ratelimit] max_entries %lld: %s", (long long)c->rl_max_entries,
		       strerror(errno));
		return -1;
	}
	n_workers = nworkers;
	mx_loop_timer_init(&age_timer, age_tick, NULL);
	mx_loop_timer_arm(&age_timer, RL_AGE_MS);
	return 0;
}

void rl_shutdown(void)
{
	mx_loop_timer_cancel(&age_timer);
	rl_destroy(table);
	table = NULL;
}

/* ---- stages -------------------------------------------------------------------- */

static enum smtp_stage_verdict st_mail(void *arg, struct smtp_stage_call *call)
{
	struct rl_stage *rs = arg;

	if (call->conn->slot < rs->nslots)
		rs->drawn[call->conn->slot] = 0;
	return SMTP_STAGE_CONTINUE;
}

static enum smtp_stage_verdict refuse(struct rl_stage *rs, struct smtp_stage_call *call)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	const char *rcpt = call->ev->str ? call->ev->str : "";

	inet_ntop(call->conn->peer.family == 6 ? AF_INET6 : AF_INET, call->conn->peer.addr, ip,
		  sizeof(ip));
	/* Postfix's anvil text; a long address cuts it, never the code. */
	snprintf(rs->text, sizeof(rs->text),
		 "<%.200s>: Recipient address rejected: Error: too much mail from %s", rcpt, ip);
	if (call->conn->rl_refused < UINT16_MAX) /* the session's summary line */
		call->conn->rl_refused++;
	call->reply->code = 450;
	call->reply->enh = "4.7.1";
	call->reply->text = rs->text;
	return SMTP_STAGE_REPLY;
}

static enum smtp_stage_verdict st_rcpt(void *arg, struct smtp_stage_call *call)
{
	struct rl_stage *rs = arg;
	const struct mx_config *c = config_current();
	const struct smtp_conn *conn = call->conn;
	uint64_t now = call->now_us * 1000;
	struct rl_limits lim;
	struct pol_input in;
	enum rl_verdict v;

	if (!table || !c || !c->rl_enabled || !pol_enabled(pol_current()) ||
	    conn->slot >= rs->nslots)
		return SMTP_STAGE_CONTINUE;
	if (pol_session_input(rs->worker, conn->slot, &in) == 0 && in.trusted)
		return SMTP_STAGE_CONTINUE;
	rl_limits_of(c, &lim);
	if (!rs->drawn[conn->slot]) {
		v = rl_take(table, &lim, RL_MSG, conn->peer.family, conn->peer.addr, now);
		if (v == RL_REFUSE_IP || v == RL_REFUSE_NET) {
			if (v == RL_REFUSE_IP)
				CTR_INC(rs, refused_msg_ip);
			else
				CTR_INC(rs, refused_msg_net);
			return refuse(rs, call);
		}
		if (v == RL_OK_FULL)
			CTR_INC(rs, table_full);
		rs->drawn[conn->slot] = 1;
		if (mx_store_configured()) /* shared budget (store_redis.h) */
			mx_store_rl_post(rs->worker, RL_MSG, conn->peer.family, conn->peer.addr);
	}
	v = rl_take(table, &lim, RL_RCPT, conn->peer.family, conn->peer.addr, now);
	if (v == RL_REFUSE_IP || v == RL_REFUSE_NET) {
		if (v == RL_REFUSE_IP)
			CTR_INC(rs, refused_rcpt_ip);
		else
			CTR_INC(rs, refused_rcpt_net);
		return refuse(rs, call);
	}
	if (v == RL_OK_FULL)
		CTR_INC(rs, table_full);
	if (mx_store_configured())
		mx_store_rl_post(rs->worker, RL_RCPT, conn->peer.family, conn->peer.addr);
	return SMTP_STAGE_CONTINUE;
}

struct rl_stage *rl_stage_create(struct smtp_stage_host *h, unsigned worker)
{
	struct rl_stage *rs = calloc(1, sizeof(*rs));
	struct smtp_stage mail = {.name = "ratelimit", .event = SMTP_EV_MAIL, .fn = st_mail};
	struct smtp_stage rcpt = {.name = "ratelimit",
				  .event = SMTP_EV_RCPT,
				  .fn = st_rcpt,
				  .lat = 1 + SMTP_LAT_rcpt_ratelimit};
	int rc;

	if (!rs)
		return NULL;
	rs->worker = worker;
	rs->nslots = smtp_conn_slots(smtp_host_conns(h));
	rs->drawn = calloc(rs->nslots ? rs->nslots : 1, 1);
	mail.arg = rcpt.arg = rs;
	if (!rs->drawn || (rc = smtp_host_stage_add(h, &mail)) != 0 ||
	    (rc = smtp_host_stage_add(h, &rcpt)) != 0) {
		free(rs->drawn);
		free(rs);
		errno = ENOMEM;
		return NULL;
	}
	if (worker < RL_MAX_WORKERS)
		by_worker[worker] = rs;
	return rs;
}

void rl_stage_destroy(struct rl_stage *rs)
{
	if (!rs)
		return;
	if (rs->worker < RL_MAX_WORKERS && by_worker[rs->worker] == rs)
		by_worker[rs->worker] = NULL;
	free(rs->drawn);
	free(rs);
}

/* ---- counters --------------------------------------------------------------------- */

void rl_counters_read(unsigned w, struct rl_counters *out)
{
	struct rl_stage *rs = w < RL_MAX_WORKERS ? by_worker[w] : NULL;

	memset(out, 0, sizeof(*out));
	if (!rs)
		return;
	const struct rl_counters *in = &rs->ctr;

	RL_COUNTERS(MX_CTR_X_LOAD)
}

static const struct mx_ctr_def rl_defs[] = {RL_COUNTERS(MX_CTR_X_DEF)};

static unsigned rl_instances(void *arg)
{
	(void)arg;
	return table ? n_workers : 0;
}

MX_CTR_LIST_READER(rl_read, RL_COUNTERS, rl_counters, rl_counters_read)

static const struct mx_ctr_group rl_group = {
	.name = "ratelimit",
	.scope = MX_CTR_WORKER,
	.defs = rl_defs,
	.ndefs = sizeof(rl_defs) / sizeof(rl_defs[0]),
	.instances = rl_instances,
	.read = rl_read,
};

static const struct mx_ctr_def rl_table_defs[] = {
	{.name = "entries",
	 .help = "client addresses and networks in the rate-limit table",
	 .type = MX_CTR_GAUGE},
};

static void rl_table_read(void *arg, unsigned inst, uint64_t *vals)
{
	(void)arg;
	(void)inst;
	vals[0] = table ? rl_entries(table) : 0;
}

static const struct mx_ctr_group rl_table_group = {
	.name = "ratelimit",
	.scope = MX_CTR_GLOBAL,
	.defs = rl_table_defs,
	.ndefs = 1,
	.read = rl_table_read,
};

int rl_counters_register(void)
{
	return mx_ctr_register(&rl_group) != 0 || mx_ctr_register(&rl_table_group) != 0 ? -1 : 0;
}
