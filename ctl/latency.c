/*
 * latency.c - the per-phase latency histograms of SMTP sessions
 * (smtp/latency.h) in the counter registry (group "lat", Prometheus
 * mxgate_latency_<phase>_seconds histograms, per worker) and `show latency
 * [json]`: count and percentiles per phase, merged over the workers.
 * Control thread.
 */
#include <stdlib.h>
#include <string.h>

#include "core/counters.h"
#include "core/hist.h"
#include "core/log.h"
#include "ctl/ctl.h"
#include "dataplane/dp_counters.h"
#include "queue/queue.h"
#include "queue/relay.h"
#include "smtp/conn-t.h"
#include "smtp/latency.h"
#include "smtp/server.h"

static const struct mx_ctr_def lat_defs[] = {
#define X(n, h)                          \
	{.name = #n "_us",               \
	 .prom = #n "_seconds",          \
	 .help = h,                      \
	 .type = MX_CTR_HISTOGRAM,       \
	 .le_lo = 1, /* 10 us .. 50 s */ \
	 .le_hi = 7,                     \
	 .scale = 1e-6},
	SMTP_LATENCY(X)
#undef X
};

static void lat_read_hist(void *arg, unsigned inst, unsigned def, struct mx_hist *h)
{
	const struct smtp_conn_lat *lat = smtp_server_latency(inst);

	(void)arg;
	if (lat && def < SMTP_LAT_COUNT)
		mx_hist_merge(h, &lat->h[def]);
}

static const struct mx_ctr_group lat_group = {
	.name = "lat",
	.long_name = "latency",
	.scope = MX_CTR_WORKER,
	.defs = lat_defs,
	.ndefs = SMTP_LAT_COUNT,
	.instances = dp_counters_workers,
	.read_hist = lat_read_hist,
};

/* The relay's delivery time (queue/relay.h): one global histogram in
 * milliseconds, right after the per-worker phases (same group name). */
static const struct mx_ctr_def relay_lat_defs[] = {
	{.name = "relay_delivery_ms",
	 .prom = "relay_delivery_seconds",
	 .help = "arrival (the queue id's time) to the message's last recipient delivered",
	 .type = MX_CTR_HISTOGRAM,
	 .le_lo = 0, /* 1 ms .. 50000 s */
	 .le_hi = 7,
	 .scale = 1e-3},
};

static void relay_lat_read_hist(void *arg, unsigned inst, unsigned def, struct mx_hist *h)
{
	struct relay *r = queue_relay();

	(void)arg;
	(void)inst;
	(void)def;
	if (r)
		relay_delivery_hist_read(r, h);
}

static const struct mx_ctr_group relay_lat_group = {
	.name = "lat",
	.long_name = "latency",
	.defs = relay_lat_defs,
	.ndefs = 1,
	.read_hist = relay_lat_read_hist,
};

/* One row of `show latency`: @h recorded in units of @us_per microseconds
 * (1: the SMTP phases, 1000: the relay's milliseconds). */
static void print_row(struct ctl_out *o, bool json, bool first, const char *name,
		      const struct mx_hist *h, uint64_t us_per, const char *note)
{
	uint64_t v[4] = {mx_hist_percentile(h, 50), mx_hist_percentile(h, 90),
			 mx_hist_percentile(h, 99), h->count ? h->max : 0};

	for (unsigned i = 0; i < 4; i++)
		v[i] *= us_per;
	if (json)
		ctl_printf(o,
			   "%s\"%s\":{\"count\":%llu,\"p50_us\":%llu,\"p90_us\":%llu,"
			   "\"p99_us\":%llu,\"max_us\":%llu}",
			   first ? "" : ",", name, (unsigned long long)h->count,
			   (unsigned long long)v[0], (unsigned long long)v[1],
			   (unsigned long long)v[2], (unsigned long long)v[3]);
	else
		ctl_printf(o, "%-15s %9llu %10.3f %10.3f %10.3f %10.3f%s\n", name,
			   (unsigned long long)h->count, v[0] / 1e3, v[1] / 1e3, v[2] / 1e3,
			   v[3] / 1e3, note);
}

static void cmd_show_latency(struct ctl_out *o, int argc, char **argv)
{
	bool json = argc == 1 && strcmp(argv[0], "json") == 0;
	struct mx_hist *h;

	if (argc > 1 || (argc == 1 && !json))
		return ctl_error(o, "usage: show latency [json]");
	if (!(h = malloc(sizeof(*h))))
		return ctl_error(o, "out of memory");
	if (json)
		ctl_printf(o, "{");
	else
		ctl_printf(o, "%-15s %9s %10s %10s %10s %10s  (ms, over every worker)\n", "phase",
			   "count", "p50", "p90", "p99", "max");
	for (unsigned p = 0; p < SMTP_LAT_COUNT; p++) {
		mx_hist_init(h);
		for (unsigned w = 0; w < dp_counters_workers(NULL); w++)
			lat_read_hist(NULL, w, p, h);
		print_row(o, json, p == 0, smtp_lat_names[p], h, 1, "");
	}
	mx_hist_init(h);
	relay_lat_read_hist(NULL, 0, 0, h);
	print_row(o, json, false, "relay_delivery", h, 1000, "  (ms resolution)");
	if (json)
		ctl_printf(o, "}\n");
	free(h);
}

static const struct ctl_cmd latency_cmd = {
	.words = {"show", "latency"},
	.usage = "[json]",
	.help = "per-phase SMTP latency: connect to banner ... RCPT (per check) ... durable to 250",
	.fn = cmd_show_latency,
};

__attribute__((constructor)) static void register_latency(void)
{
	ctl_register(&latency_cmd);
	if (mx_ctr_register(&lat_group) != 0 || mx_ctr_register(&relay_lat_group) != 0)
		mx_panic("counter registry: the latency group could not be registered");
}
