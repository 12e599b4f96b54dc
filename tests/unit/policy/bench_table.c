/*
 * bench_table.c - load time and memory of a recipient table: writes N
 * addresses to a file, loads it with pol_table_load_file(), looks every
 * one up, prints the figures. Not a test:
 *   build/tests/unit/policy/policy_table_bench 1000000
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "policy/policy.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, res = 0;

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	char path[] = "/tmp/mx-bench-rcpt.XXXXXX", err[256], k[64];
	struct pol_table *t;
	long rss0, rss1, hits = 0;
	double t0, t1, t2;
	FILE *f;
	int fd = mkstemp(path);

	if (fd < 0 || !(f = fdopen(fd, "w")))
		return 1;
	for (long i = 0; i < n; i++)
		fprintf(f, "user%07ld@example%ld.com\n", i, i % 100);
	fclose(f);
	rcu_register_thread();
	rss0 = rss_kb();
	t0 = now_s();
	t = pol_table_load_file(path, err, sizeof(err));
	t1 = now_s();
	if (!t) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	rss1 = rss_kb();
	for (long i = 0; i < n; i++) {
		int len = snprintf(k, sizeof(k), "user%07ld@example%ld.com", i, i % 100);
		hits += pol_table_has(t, k, (size_t)len);
	}
	t2 = now_s();
	printf("entries %zu (hits %ld), file %ld octets\n", pol_table_count(t), hits,
	       (long)(n * 26));
	printf("load %.3f s, lookups %.0f ns each\n", t1 - t0, (t2 - t1) / (double)n * 1e9);
	printf("memory: %zu bytes counted by the table (%.1f per entry), RSS +%ld KiB\n",
	       pol_table_bytes(t), (double)pol_table_bytes(t) / (double)n, rss1 - rss0);
	rcu_thread_offline();
	pol_table_free(t);
	unlink(path);
	rcu_unregister_thread();
	return 0;
}
