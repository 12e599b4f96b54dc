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

#include "core/config.h"
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

/* "eval N": the checks of one accepted message (client, HELO, sender,
 * recipient, DNS answers present) N times, for callgrind:
 *   valgrind --tool=callgrind build/tests/unit/policy/policy_table_bench eval 100000 */
static int bench_eval(long n)
{
	static const char conf[] = "[eal]\nlcores = 0\n[port]\ndevice = x\n[ipv4]\n"
				   "address = 198.18.0.2/24\n[smtp]\nhostname = mx.example.com\n"
				   "[policy]\nmynetworks = 10.0.0.0/8\nhelo_dns = defer\n"
				   "sender_domain = defer\nspf = reject\nclient_rdns = defer\n"
				   "dnsbl = zen.example=127.0.0.[2..11]*2\ndnsbl = wl.example*-1\n";
	struct mx_config *c = config_new();
	struct pol_input in = {.family = 4, .addr = {192, 0, 2, 1}};
	struct pol_verdict v;
	struct pol_set *s;
	char err[512];
	long ok = 0;
	double t0;

	if (config_load_string(c, "b.conf", conf, err, sizeof(err)) != 0 ||
	    !(s = pol_set_build(c, "b", err, sizeof(err)))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	in.helo = "mail.example.org";
	in.from = "sender@example.org";
	in.rcpt = "user@example.com";
	in.helo_dns = in.sender_dns = in.rdns = POL_DNS_FOUND;
	in.spf = POL_DNS_FOUND;
	in.spf_result = 2; /* pass */
	in.dnsbl_done = true;
	in.dnsbl_zone = -1;
	t0 = now_s();
	rcu_thread_online();
	for (long i = 0; i < n; i++) {
		in.trusted = pol_trusted(s, &in);
		for (unsigned k = 0; k < POL_CLASS_COUNT; k++) {
			pol_eval_class(s, (enum pol_class)k, &in, &v);
			ok += v.action == POL_CONTINUE;
		}
	}
	rcu_thread_offline();
	printf("%ld messages, %.0f ns each (%ld class verdicts continue)\n", n,
	       (now_s() - t0) / (double)n * 1e9, ok);
	pol_set_free(s);
	config_free(c);
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;

	if (argc > 2 && strcmp(argv[1], "eval") == 0) {
		int rc;
		rcu_register_thread();
		rcu_thread_offline();
		rc = bench_eval(atol(argv[2]));
		rcu_unregister_thread();
		return rc;
	}
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
