/*
 * bench_spool.c - messages per second into the spool with group commit.
 *
 * Not a test: run by hand, numbers go to bench/RESULTS.md.
 *   bench_spool [-w workers] [-c commit_threads] [-n msgs_per_worker]
 *               [-s body_bytes] [-W window] [-i commit_interval_us]
 *               [-b commit_batch] [-d dir]
 * Each worker thread keeps up to `window` messages in flight (like as many
 * concurrent SMTP sessions at end of DATA) and counts completions. Prints
 * messages/s, MiB/s, records and messages per fdatasync, commit latency.
 */
#include <getopt.h>
#include <pthread.h>

#include "spool_test_util.h"

struct feeder {
	struct spool *sp;
	unsigned wid, nmsg, window;
	size_t size;
	unsigned errors;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	struct spool_worker *w = spool_worker_get(f->sp, f->wid);
	struct spool_cpl cpl[256];
	struct spool_msg m;
	unsigned sent = 0, done = 0, inflight = 0;

	while (done < f->nmsg) {
		while (sent < f->nmsg && inflight < f->window) {
			if (tu_send(w, &m, 1, f->size, sent, f->size, sent) != 0) {
				f->errors++;
				break;
			}
			sent++;
			inflight++;
		}
		unsigned k = spool_worker_poll(w, cpl, 256);

		for (unsigned i = 0; i < k; i++)
			f->errors += cpl[i].status != 0;
		done += k;
		inflight -= k;
		if (!k)
			tu_sleep_us(5);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned workers = 2, cthreads = 1, nmsg = 50000, window = 64;
	size_t size = 1024;
	char dirbuf[256], *dir = NULL;
	struct spool_conf c;
	int opt;

	spool_conf_defaults(&c);
	while ((opt = getopt(argc, argv, "w:c:n:s:W:i:b:d:")) != -1) {
		switch (opt) {
		case 'w':
			workers = (unsigned)atoi(optarg);
			break;
		case 'c':
			cthreads = (unsigned)atoi(optarg);
			break;
		case 'n':
			nmsg = (unsigned)atoi(optarg);
			break;
		case 's':
			size = (size_t)atol(optarg);
			break;
		case 'W':
			window = (unsigned)atoi(optarg);
			break;
		case 'i':
			c.commit_interval_us = (uint32_t)atoi(optarg);
			break;
		case 'b':
			c.commit_batch = (uint32_t)atoi(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-w workers] [-c commit_threads] [-n msgs] "
				"[-s size] [-W window] [-i interval_us] [-b batch] [-d dir]\n",
				argv[0]);
			return 2;
		}
	}
	if (window > 256)
		window = 256;
	if (!dir)
		dir = tu_tmpdir(dirbuf, sizeof(dirbuf), "bench");
	c.dir = dir;
	c.workers = workers;
	c.commit_threads = cthreads;
	c.max_inflight = window > 64 ? window : 64;

	struct spool *sp = spool_create(&c);
	if (!sp) {
		perror("spool_create");
		return 1;
	}
	if (spool_start(sp) != 0)
		return 1;
	struct feeder *f = calloc(workers, sizeof(*f));
	pthread_t *th = calloc(workers, sizeof(*th));
	uint64_t t0 = tu_now_ns();

	for (unsigned i = 0; i < workers; i++) {
		f[i] = (struct feeder){sp, i, nmsg, window, size, 0};
		pthread_create(&th[i], NULL, feed, &f[i]);
	}
	unsigned errors = 0;
	for (unsigned i = 0; i < workers; i++) {
		pthread_join(th[i], NULL);
		errors += f[i].errors;
	}
	double secs = (double)(tu_now_ns() - t0) / 1e9;
	struct spool_stats st;

	spool_stats_read(sp, &st);
	double msgs = (double)workers * nmsg;
	printf("spool bench: %u worker(s), %u commit thread(s), %u msgs/worker, body %zu B, "
	       "window %u, interval %u us, batch %u, dir %s\n",
	       workers, cthreads, nmsg, size, window, c.commit_interval_us, c.commit_batch, dir);
	printf("  messages/s          %.0f\n", msgs / secs);
	printf("  MiB/s written       %.1f\n", (double)st.bytes_written / secs / 1048576.0);
	printf("  fdatasyncs          %llu (%.0f/s)\n", (unsigned long long)st.fdatasyncs,
	       (double)st.fdatasyncs / secs);
	printf("  group commits       %llu\n", (unsigned long long)st.sync_groups);
	printf("  records/fdatasync   %.1f  (records/group %.1f, messages/fdatasync %.1f)\n",
	       (double)st.sync_records / (double)st.fdatasyncs,
	       (double)st.sync_records / (double)st.sync_groups,
	       (double)st.sync_msgs / (double)st.fdatasyncs);
	printf("  messages/group      %.1f  (1:%llu 2-3:%llu 4-15:%llu 16-63:%llu 64+:%llu)\n",
	       (double)st.sync_msgs / (double)st.sync_groups, (unsigned long long)st.group_1,
	       (unsigned long long)st.group_2_3, (unsigned long long)st.group_4_15,
	       (unsigned long long)st.group_16_63, (unsigned long long)st.group_64_plus);
	printf("  commit latency      avg %.0f us, max %.0f us (end of message -> completion)\n",
	       (double)st.commit_lat_ns_sum / (double)st.msgs_committed / 1000.0,
	       (double)st.commit_lat_ns_max / 1000.0);
	printf("  errors              %u\n", errors);
	for (unsigned i = 0; i < workers; i++)
		spool_worker_flush(spool_worker_get(sp, i));
	spool_stop(sp);
	spool_destroy(sp);
	if (dir == dirbuf)
		tu_rm_rf(dir);
	free(f);
	free(th);
	return errors ? 1 : 0;
}
