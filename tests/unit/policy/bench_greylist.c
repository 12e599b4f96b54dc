/*
 * bench_greylist.c - memory and cost of the greylist table (not a test):
 * N distinct keys checked once (lookup miss + insert, deferred), then
 * each checked again (lookup hit), one thread, on a table sized for N.
 * Prints bytes per entry (RSS growth, buckets included), entries per MiB
 * and CPU nanoseconds per RCPT for both passes (thread CPU time: the
 * machine is shared, wall time would measure the neighbours).
 *   build/tests/unit/policy/greylist_bench 10000000
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu-qsbr.h>

#include "policy/greylist.h"

static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = atol(line + 6);
	if (f)
		fclose(f);
	return kb;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the box is shared */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(struct grey_table *g, unsigned n, unsigned want, const char *what);

/* The same loop with only the key built (bench formatting + grey_key_text):
 * the part of a check's cost that is not the table. */
static void run_keys(struct grey_table *g, unsigned n)
{
	char rcpt[64], from[64], key[GREY_KEY_MAX];
	double t0 = now_s(), dt;
	size_t sum = 0;

	for (unsigned i = 0; i < n; i++) {
		struct grey_query q = {.family = 4, .helo = "mx.example.net"};
		uint32_t a = 0xc6120000u + (i % 65536);

		q.addr[0] = (uint8_t)(a >> 24);
		q.addr[1] = (uint8_t)(a >> 16);
		q.addr[2] = (uint8_t)(a >> 8);
		q.addr[3] = (uint8_t)a;
		snprintf(from, sizeof(from), "sender%u@example.org", i / 7);
		snprintf(rcpt, sizeof(rcpt), "user%u@example.com", i);
		q.sender = from;
		q.rcpt = rcpt;
		sum += (size_t)grey_key_text(g, &q, key, sizeof(key));
	}
	dt = now_s() - t0;
	printf("key text only (no table): %.0f ns per RCPT (%zu)\n", dt * 1e9 / n, sum % 10);
}

static void run(struct grey_table *g, unsigned n, unsigned want, const char *what)
{
	char rcpt[64], from[64];
	unsigned bad = 0;
	double t0 = now_s(), dt;

	for (unsigned i = 0; i < n; i++) {
		struct grey_query q = {.family = 4, .helo = "mx.example.net"};
		struct grey_result r;
		uint32_t a = 0xc6120000u + (i % 65536); /* 198.18.x.y: 256 /24s */

		q.addr[0] = (uint8_t)(a >> 24);
		q.addr[1] = (uint8_t)(a >> 16);
		q.addr[2] = (uint8_t)(a >> 8);
		q.addr[3] = (uint8_t)a;
		snprintf(from, sizeof(from), "sender%u@example.org", i / 7);
		snprintf(rcpt, sizeof(rcpt), "user%u@example.com", i);
		q.sender = from;
		q.rcpt = rcpt;
		grey_check(g, 0, &q, 1800000000u, &r);
		bad += r.verdict != want;
		if ((i & 1023) == 0)
			rcu_quiescent_state();
	}
	dt = now_s() - t0;
	printf("%s: %u RCPTs in %.2f s: %.0f ns per RCPT (%u unexpected verdicts)\n", what, n, dt,
	       dt * 1e9 / n, bad);
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000000;
	struct grey_conf c = {.delay_s = 300,
			      .window_s = 172800,
			      .max_age_s = 3024000,
			      .v4_prefix = 24,
			      .v6_prefix = 64,
			      .max_entries = n};
	struct grey_table *g;
	long rss0, rss1;

	rcu_register_thread();
	rss0 = rss_kb();
	g = grey_create(&c, 1);
	if (!g) {
		perror("grey_create");
		return 1;
	}
	run_keys(g, n < 1000000 ? n : 1000000);
	run(g, n, GREY_DEFER_NEW, "new keys (lookup miss + insert)");
	rss1 = rss_kb();
	printf("entries %zu, RSS +%ld KiB: %.1f bytes per entry, %.0f entries per MiB\n",
	       grey_entries(g), rss1 - rss0, (double)(rss1 - rss0) * 1024 / (double)grey_entries(g),
	       (double)grey_entries(g) * 1024 / (double)(rss1 - rss0));
	run(g, n, GREY_DEFER_EARLY, "known keys (lookup hit)");
	rcu_thread_offline();
	{
		double t0 = now_s();
		long w = grey_snapshot_save(g, "/tmp/mx-grey-bench.snap");
		printf("snapshot: %ld entries in %.2f s\n", w, now_s() - t0);
		grey_destroy(g);
		g = grey_create(&c, 1);
		t0 = now_s();
		bool dmg;
		w = grey_snapshot_load(g, "/tmp/mx-grey-bench.snap", 1800000100u, &dmg);
		printf("load: %ld entries in %.2f s\n", w, now_s() - t0);
		remove("/tmp/mx-grey-bench.snap");
	}
	grey_destroy(g);
	rcu_unregister_thread();
	return 0;
}
