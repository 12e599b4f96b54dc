/*
 * latency.c - the stages that mark when commands arrive, for the per-phase
 * latency histograms. See latency.h; recording is in conn.c.
 */
#include "smtp/latency.h"

#include "smtp/conn.h"
#include "smtp/host.h"

const char *const smtp_lat_names[SMTP_LAT_COUNT] = {
#define X(n, h) #n,
	SMTP_LATENCY(X)
#undef X
};

const char *const smtp_lat_help[SMTP_LAT_COUNT] = {
#define X(n, h) h,
	SMTP_LATENCY(X)
#undef X
};

static enum smtp_stage_verdict lat_mark(void *arg, struct smtp_stage_call *call)
{
	struct smtp_conn_lat *lat = arg;
	struct smtp_conn *c = call->conn;
	uint64_t now = call->now_us;

	switch (call->ev->type) {
	case SMTP_EV_HELO:
		if (!c->t_helo_us) {
			if (c->t_banner_us)
				mx_hist_record(&lat->h[SMTP_LAT_banner_helo], now - c->t_banner_us);
			c->t_helo_us = now ? now : 1;
		}
		break;
	case SMTP_EV_MAIL:
		if (!c->mailed && c->t_helo_us)
			mx_hist_record(&lat->h[SMTP_LAT_helo_mail], now - c->t_helo_us);
		c->mailed = true;
		break;
	case SMTP_EV_RCPT:
		c->mark = 1 + SMTP_LAT_rcpt_verdict;
		c->t_mark_us = now;
		break;
	case SMTP_EV_DATA_END:
		c->mark = 1 + SMTP_LAT_data_reply;
		c->t_mark_us = now;
		break;
	default:
		break;
	}
	return SMTP_STAGE_CONTINUE;
}

int smtp_latency_stages_add(struct smtp_stage_host *h, struct smtp_conn_lat *lat)
{
	static const enum smtp_event_type evs[] = {SMTP_EV_HELO, SMTP_EV_MAIL, SMTP_EV_RCPT,
						   SMTP_EV_DATA_END};

	for (unsigned i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		struct smtp_stage st = {
			.name = "latency", .event = evs[i], .fn = lat_mark, .arg = lat};
		int rc = smtp_host_stage_add(h, &st);
		if (rc != 0)
			return rc;
	}
	smtp_conn_set_latency(smtp_host_conns(h), lat);
	return 0;
}
