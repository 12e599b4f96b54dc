/*
 * test_counters.c - core/counters: registration rules, the walker's totals
 * (sum, max) and per-instance values, and every formatter over fake groups:
 * `show stats` text and JSON (with workers), `show counters`, the
 * Prometheus exposition (names, labels, _total, histogram buckets), name
 * conversion and escaping.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/counters.h"
#include "core/hist.h"

/* Fake "dp" group: 3 workers, value = 100 * (worker + 1) + counter index;
 * counter "peak" combines by max. */
static unsigned nworkers = 3;

static unsigned fake_workers(void *arg)
{
	(void)arg;
	return nworkers;
}

static void fake_read(void *arg, unsigned inst, uint64_t *vals)
{
	unsigned n = *(unsigned *)arg;

	for (unsigned k = 0; k < n; k++)
		vals[k] = 100 * (inst + 1) + k;
}

static unsigned dp_n = 3;
static const struct mx_ctr_def dp_defs[] = {
	{.name = "rx_packets", .help = "frames received", .type = MX_CTR_COUNTER},
	{.name = "tx_icmp_echo", .help = "echo replies", .type = MX_CTR_COUNTER},
	{.name = "peak",
	 .help = "worst \"thing\"\\ seen\nsecond line",
	 .type = MX_CTR_GAUGE,
	 .merge = MX_CTR_MAX},
};
static const struct mx_ctr_group dp_group = {
	.name = "dp",
	.long_name = "dataplane",
	.scope = MX_CTR_WORKER,
	.flags = MX_CTR_F_BARE_IN_WORKER,
	.defs = dp_defs,
	.ndefs = 3,
	.instances = fake_workers,
	.read = fake_read,
	.arg = &dp_n,
};

static unsigned tcp_n = 1;
static const struct mx_ctr_def tcp_defs[] = {
	{.name = "CurrEstab", .prom = "curr_estab", .help = "open", .type = MX_CTR_GAUGE},
};
static const struct mx_ctr_group tcp_group = {
	.name = "tcp",
	.scope = MX_CTR_WORKER,
	.defs = tcp_defs,
	.ndefs = 1,
	.instances = fake_workers,
	.read = fake_read,
	.arg = &tcp_n,
};

/* Global group, then a histogram group of the same name (2 threads). */
static unsigned sp_n = 2;
static const struct mx_ctr_def sp_defs[] = {
	{.name = "fdatasyncs", .help = "syncs", .type = MX_CTR_COUNTER},
	{.name = "bytes", .help = "bytes", .type = MX_CTR_GAUGE},
};
static const struct mx_ctr_group sp_group = {
	.name = "spool",
	.defs = sp_defs,
	.ndefs = 2,
	.read = fake_read,
	.arg = &sp_n,
};

static struct mx_hist *thread_hist[2];
static unsigned two(void *arg)
{
	(void)arg;
	return 2;
}

static void hist_read(void *arg, unsigned inst, unsigned def, struct mx_hist *h)
{
	(void)arg;
	(void)def;
	mx_hist_merge(h, thread_hist[inst]);
}

static const struct mx_ctr_def lat_defs[] = {
	{.name = "commit_latency_ns",
	 .prom = "commit_latency_seconds",
	 .help = "latency",
	 .type = MX_CTR_HISTOGRAM,
	 .le_lo = 3,
	 .le_hi = 4,
	 .scale = 1e-9},
};
static const struct mx_ctr_group lat_group = {
	.name = "spool",
	.scope = MX_CTR_THREAD,
	.label = "commit_thread",
	.defs = lat_defs,
	.ndefs = 1,
	.instances = two,
	.read_hist = hist_read,
};

static int setup(void **state)
{
	(void)state;
	mx_ctr_reset();
	nworkers = 3;
	for (unsigned i = 0; i < 2; i++) {
		thread_hist[i] = malloc(sizeof(struct mx_hist));
		assert_non_null(thread_hist[i]);
		mx_hist_init(thread_hist[i]);
	}
	/* Thread 0: 500, 1000, 1500 ns; thread 1: 3000, 20000 ns. */
	mx_hist_record(thread_hist[0], 500);
	mx_hist_record(thread_hist[0], 1000);
	mx_hist_record(thread_hist[0], 1500);
	mx_hist_record(thread_hist[1], 3000);
	mx_hist_record(thread_hist[1], 20000);
	assert_int_equal(mx_ctr_register(&dp_group), 0);
	assert_int_equal(mx_ctr_register(&tcp_group), 0);
	assert_int_equal(mx_ctr_register(&sp_group), 0);
	assert_int_equal(mx_ctr_register(&lat_group), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mx_ctr_reset();
	for (unsigned i = 0; i < 2; i++)
		free(thread_hist[i]);
	return 0;
}

static void test_register_rules(void **state)
{
	static const struct mx_ctr_def h[] = {
		{.name = "h", .help = "h", .type = MX_CTR_HISTOGRAM},
	};
	static const struct mx_ctr_group no_read = {.name = "x", .defs = dp_defs, .ndefs = 1};
	static const struct mx_ctr_group no_hist = {.name = "x", .defs = h, .ndefs = 1};
	static const struct mx_ctr_group no_label = {.name = "x",
						     .scope = MX_CTR_THREAD,
						     .defs = dp_defs,
						     .ndefs = 1,
						     .read = fake_read};
	static const struct mx_ctr_group dp_again = {
		.name = "dp", .defs = dp_defs, .ndefs = 1, .read = fake_read};

	(void)state;
	assert_int_equal(mx_ctr_ngroups(), 4);
	assert_ptr_equal(mx_ctr_group_at(0), &dp_group);
	assert_null(mx_ctr_group_at(4));
	assert_int_equal(mx_ctr_register(&dp_group), -EEXIST);
	assert_int_equal(mx_ctr_register(&no_read), -EINVAL);
	assert_int_equal(mx_ctr_register(&no_hist), -EINVAL);
	assert_int_equal(mx_ctr_register(&no_label), -EINVAL);
	/* "dp" again, but not right after the first "dp" group. */
	assert_int_equal(mx_ctr_register(&dp_again), -EEXIST);
	assert_int_equal(mx_ctr_ngroups(), 4);
}

struct seen {
	unsigned n;
	char names[16][40];
	uint64_t total[16];
	uint64_t inst1[16];
	unsigned ninst[16];
	bool first[16];
};

static void collect(const struct mx_ctr_val *v, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 16);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s.%s", v->g->name, v->d->name);
	s->total[s->n] = v->total;
	s->ninst[s->n] = v->n;
	s->first[s->n] = v->first_of_group;
	s->inst1[s->n] = v->d->type == MX_CTR_HISTOGRAM ? v->h[1].count : v->n > 1 ? v->v[1] : 0;
	s->n++;
}

static void test_walk_sums_and_max(void **state)
{
	struct seen s = {0};

	(void)state;
	assert_int_equal(mx_ctr_walk(collect, &s), 0);
	assert_int_equal(s.n, 7);
	assert_string_equal(s.names[0], "dp.rx_packets");
	/* 100 + 200 + 300 */
	assert_int_equal(s.total[0], 600);
	assert_int_equal(s.inst1[0], 200);
	assert_int_equal(s.ninst[0], 3);
	assert_int_equal(s.total[1], 603);
	/* peak: max(102, 202, 302) */
	assert_string_equal(s.names[2], "dp.peak");
	assert_int_equal(s.total[2], 302);
	assert_true(s.first[0]);
	assert_false(s.first[1]);
	assert_true(s.first[3]); /* tcp */
	assert_true(s.first[4]); /* spool */
	assert_int_equal(s.total[4], 100);
	assert_int_equal(s.ninst[4], 1);
	assert_string_equal(s.names[6], "spool.commit_latency_ns");
	assert_false(s.first[6]); /* same name as the previous group */
	assert_int_equal(s.total[6], 5);
	assert_int_equal(s.inst1[6], 2);

	/* No instance: totals 0, no per-instance values. */
	nworkers = 0;
	memset(&s, 0, sizeof(s));
	assert_int_equal(mx_ctr_walk(collect, &s), 0);
	assert_int_equal(s.ninst[0], 0);
	assert_int_equal(s.total[0], 0);
}

static void test_text(void **state)
{
	struct mx_buf b = {0};

	(void)state;
	assert_int_equal(mx_ctr_format_text(&b, 0), 0);
	/* Today's layout: name padded to 27 columns, one space, value. */
	assert_non_null(strstr(b.p, "dp.rx_packets               600\n"));
	assert_non_null(strstr(b.p, "tcp.CurrEstab               600\n"));
	assert_non_null(strstr(b.p, "spool.fdatasyncs            100\n"));
	assert_non_null(strstr(b.p, "spool.commit_latency_ns.count 5\n"));
	assert_non_null(strstr(b.p, "spool.commit_latency_ns.sum 26000\n"));
	assert_non_null(strstr(b.p, "spool.commit_latency_ns.max 20000\n"));
	assert_null(strstr(b.p, "worker"));
	mx_buf_free(&b);

	assert_int_equal(mx_ctr_format_text(&b, MX_CTR_FMT_WORKERS), 0);
	assert_non_null(strstr(b.p, "worker0.dp.rx_packets         100\n"));
	assert_non_null(strstr(b.p, "worker2.dp.tx_icmp_echo       301\n"));
	assert_non_null(strstr(b.p, "worker1.tcp.CurrEstab         200\n"));
	/* Worker lines come after every total, worker by worker. */
	assert_true(strstr(b.p, "worker0.tcp.CurrEstab") < strstr(b.p, "worker1.dp.rx_packets"));
	assert_true(strstr(b.p, "spool.fdatasyncs") < strstr(b.p, "worker0."));
	/* The global group has no per-worker lines. */
	assert_null(strstr(b.p, "worker0.spool"));
	mx_buf_free(&b);
}

static void test_json(void **state)
{
	struct mx_buf b = {0};

	(void)state;
	assert_int_equal(mx_ctr_format_json(&b, 0), 0);
	assert_string_equal(b.p,
			    "{\"dataplane\":{\"rx_packets\":600,\"tx_icmp_echo\":603,\"peak\":302},"
			    "\"tcp\":{\"CurrEstab\":600},"
			    "\"spool\":{\"fdatasyncs\":100,\"bytes\":101,\"commit_latency_ns\":"
			    "{\"count\":5,\"sum\":26000,\"min\":500,\"p50\":1500,\"p90\":20000,"
			    "\"p99\":20000,\"max\":20000}}}\n");
	mx_buf_free(&b);

	assert_int_equal(mx_ctr_format_json(&b, MX_CTR_FMT_WORKERS), 0);
	/* Flat worker objects: dp bare (historic shape), others group.name. */
	assert_non_null(strstr(b.p, ",\"workers\":[{\"rx_packets\":100,\"tx_icmp_echo\":101,"
				    "\"peak\":102,\"tcp.CurrEstab\":100},{\"rx_packets\":200,"));
	assert_non_null(strstr(b.p, "\"tcp.CurrEstab\":300}]}\n"));
	mx_buf_free(&b);

	/* Nothing registered: still valid JSON. */
	mx_ctr_reset();
	assert_int_equal(mx_ctr_format_json(&b, MX_CTR_FMT_WORKERS), 0);
	assert_string_equal(b.p, "{\"workers\":[]}\n");
	mx_buf_free(&b);
}

static void test_list(void **state)
{
	struct mx_buf b = {0};

	(void)state;
	assert_int_equal(mx_ctr_format_list(&b, false), 0);
	assert_non_null(strstr(b.p, "dp.rx_packets               counter   frames received\n"));
	assert_non_null(strstr(b.p, "spool.commit_latency_ns     histogram latency\n"));
	mx_buf_free(&b);
	assert_int_equal(mx_ctr_format_list(&b, true), 0);
	assert_non_null(strstr(b.p,
			       "{\"counters\":[{\"name\":\"dp.rx_packets\",\"type\":\"counter\","
			       "\"scope\":\"worker\",\"prom\":\"mxgate_dataplane_rx_packets_"
			       "total\",\"help\":\"frames received\"}"));
	/* JSON escaping of the help text. */
	assert_non_null(strstr(b.p, "\"help\":\"worst \\\"thing\\\"\\\\ seen\\u000asecond line\""));
	assert_non_null(strstr(b.p, "\"name\":\"spool.commit_latency_ns\",\"type\":\"histogram\","
				    "\"scope\":\"commit_thread\",\"prom\":\"mxgate_spool_commit_"
				    "latency_seconds\""));
	mx_buf_free(&b);
}

static void test_prom(void **state)
{
	struct mx_buf b = {0};

	(void)state;
	assert_int_equal(mx_ctr_format_prom(&b), 0);
	assert_non_null(strstr(b.p, "# HELP mxgate_dataplane_rx_packets_total frames received\n"
				    "# TYPE mxgate_dataplane_rx_packets_total counter\n"
				    "mxgate_dataplane_rx_packets_total{worker=\"0\"} 100\n"
				    "mxgate_dataplane_rx_packets_total{worker=\"1\"} 200\n"
				    "mxgate_dataplane_rx_packets_total{worker=\"2\"} 300\n"));
	/* HELP escaping: backslash and newline only. */
	assert_non_null(strstr(b.p,
			       "# HELP mxgate_dataplane_peak worst \"thing\"\\\\ seen\\nsecond "
			       "line\n# TYPE mxgate_dataplane_peak gauge\n"));
	assert_non_null(strstr(b.p, "# TYPE mxgate_tcp_curr_estab gauge\n"
				    "mxgate_tcp_curr_estab{worker=\"0\"} 100\n"));
	/* Global: one sample, no label. */
	assert_non_null(strstr(b.p, "\nmxgate_spool_fdatasyncs_total 100\n"));
	assert_non_null(strstr(b.p, "\nmxgate_spool_bytes 101\n"));
	/* Histogram per thread, 1-2-5 bounds of 10^3..10^4 ns, cumulative. */
	assert_non_null(strstr(
		b.p,
		"# TYPE mxgate_spool_commit_latency_seconds histogram\n"
		"mxgate_spool_commit_latency_seconds_bucket{commit_thread=\"0\",le=\"1e-06\"} 2\n"
		"mxgate_spool_commit_latency_seconds_bucket{commit_thread=\"0\",le=\"2e-06\"} 3\n"
		"mxgate_spool_commit_latency_seconds_bucket{commit_thread=\"0\",le=\"5e-06\"} "
		"3\n"));
	assert_non_null(strstr(
		b.p,
		"mxgate_spool_commit_latency_seconds_bucket{commit_thread=\"0\",le=\"+Inf\"} 3\n"
		"mxgate_spool_commit_latency_seconds_sum{commit_thread=\"0\"} 3e-06\n"
		"mxgate_spool_commit_latency_seconds_count{commit_thread=\"0\"} 3\n"));
	assert_non_null(strstr(b.p, "{commit_thread=\"1\",le=\"2e-06\"} 0\n"));
	assert_non_null(strstr(b.p, "{commit_thread=\"1\",le=\"5e-06\"} 1\n"));
	assert_non_null(strstr(b.p, "{commit_thread=\"1\",le=\"5e-05\"} 2\n"));
	/* Every line is a comment or "name[{labels}] value". */
	for (char *l = b.p, *e; *l; l = e + 1) {
		e = strchr(l, '\n');
		assert_non_null(e);
		assert_true(*l == '#' || strncmp(l, "mxgate_", 7) == 0);
	}
	mx_buf_free(&b);
}

static void test_snake(void **state)
{
	static const char *const cases[][2] = {
		{"ActiveOpens", "active_opens"},
		{"CurrEstab", "curr_estab"},
		{"PAWSEstab", "paws_estab"},
		{"TCPSynRetrans", "tcp_syn_retrans"},
		{"TW", "tw"},
		{"rx_packets", "rx_packets"},
		{"group_2_3", "group_2_3"},
		{"a.b-c", "a_b_c"},
		{"IPv4Drops", "i_pv4_drops"},
	};
	char out[64];

	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(mx_ctr_snake(cases[i][0], out, sizeof(out)), strlen(cases[i][1]));
		assert_string_equal(out, cases[i][1]);
	}
	/* Truncation like snprintf. */
	assert_int_equal(mx_ctr_snake("ActiveOpens", out, 5), 12);
	assert_string_equal(out, "acti");
}

static void test_escape(void **state)
{
	struct mx_buf b = {0};

	(void)state;
	mx_ctr_prom_escape(&b, "a\\b\nc\"d");
	assert_string_equal(b.p, "a\\\\b\\nc\"d");
	mx_buf_free(&b);
	mx_ctr_json_escape(&b, "a\\b\nc\"d\t");
	assert_string_equal(b.p, "a\\\\b\\u000ac\\\"d\\u0009");
	mx_buf_free(&b);
}

static void test_buf_grows(void **state)
{
	struct mx_buf b = {0};

	(void)state;
	for (unsigned i = 0; i < 10000; i++)
		mx_buf_printf(&b, "%05u\n", i);
	assert_false(b.failed);
	assert_int_equal(b.len, 60000);
	assert_int_equal(strncmp(b.p + 59994, "09999\n", 6), 0);
	mx_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_sums_and_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prom, setup, teardown),
		cmocka_unit_test(test_snake),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_buf_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
