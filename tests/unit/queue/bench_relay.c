/*
 * bench_relay.c - messages per second relayed from the spool to a next hop.
 *
 * Not a test: run by hand against a sink (e.g. Postfix smtp-sink), numbers
 * go to bench/RESULTS.md.
 *   bench_relay -p port [-H host] [-L] [-n msgs] [-s body_bytes] [-t threads]
 *               [-r rcpts] [-d dir]
 * Two phases on a fresh spool:
 *   relay only: n messages are committed with the relay stopped, then the
 *     relay starts; time until every recipient is delivered;
 *   end to end: n more messages are committed while the relay runs (window
 *     of 256 in flight, like as many sessions at end of DATA); time from the
 *     first commit to the last delivery.
 */
#include <getopt.h>

#include "queue/relay.h"
#include "spool_test_util.h"

static const struct spool_rcpt bench_rcpt[4] = {
	{"a@example.test", NULL, NULL, 0},
	{"b@example.test", NULL, NULL, 0},
	{"c@example.test", NULL, NULL, 0},
	{"d@example.test", NULL, NULL, 0},
};

/* Commit @n messages of @size bytes with up to @window in flight. */
static unsigned feed(struct spool_worker *w, unsigned n, size_t size, uint32_t nrcpt,
		     unsigned window)
{
	struct spool_envelope env = tu_env(1);
	struct spool_cpl cpl[256];
	unsigned sent = 0, done = 0, errors = 0, inflight = 0;
	uint8_t *body = malloc(size);
	struct spool_msg m;

	for (size_t k = 0; k < size; k++)
		body[k] = (k % 72 == 71) ? '\n' : (k % 72 == 70) ? '\r' : (uint8_t)('a' + k % 26);
	env.rcpt = bench_rcpt;
	env.nrcpt = nrcpt;
	while (done < n) {
		while (sent < n && inflight < window) {
			size_t off = 0;

			memset(&m, 0, sizeof(m));
			if (spool_msg_begin(w, &m, &env) != 0)
				break;
			while (off < size) {
				long k = spool_msg_body(w, &m, body + off, size - off);

				if (k > 0)
					off += (size_t)k;
				else
					tu_sleep_us(20);
			}
			while (spool_msg_end(w, &m, sent) == -ENOBUFS)
				tu_sleep_us(20);
			sent++;
			inflight++;
		}
		unsigned k = spool_worker_poll(w, cpl, 256);

		for (unsigned i = 0; i < k; i++)
			errors += cpl[i].status != 0;
		done += k;
		inflight -= k;
		if (!k)
			tu_sleep_us(20);
	}
	free(body);
	return errors;
}

static uint64_t delivered(struct relay *r)
{
	struct relay_stats s;

	relay_stats_read(r, &s);
	return s.rcpts_delivered;
}

static int wait_delivered(struct relay *r, uint64_t want)
{
	uint64_t t0 = tu_now_ns();

	while (delivered(r) < want) {
		if (tu_now_ns() - t0 > 300ULL * 1000000000ULL)
			return -1;
		tu_sleep_us(200);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct spool_conf sc;
	struct relay_conf rc;
	struct relay_stats st;
	struct spool *sp;
	struct relay *r;
	char dirbuf[256], *dir = NULL;
	const char *host = "127.0.0.1";
	unsigned n = 10000, threads = 4, port = 0, proto = RELAY_PROTO_SMTP;
	uint32_t nrcpt = 1;
	size_t size = 4096;
	uint64_t t0, t1;
	double relay_only, e2e;
	int opt;

	while ((opt = getopt(argc, argv, "p:H:Ln:s:t:r:d:")) != -1) {
		switch (opt) {
		case 'p':
			port = (unsigned)atoi(optarg);
			break;
		case 'H':
			host = optarg;
			break;
		case 'L':
			proto = RELAY_PROTO_LMTP;
			break;
		case 'n':
			n = (unsigned)atoi(optarg);
			break;
		case 's':
			size = (size_t)atol(optarg);
			break;
		case 't':
			threads = (unsigned)atoi(optarg);
			break;
		case 'r':
			nrcpt = (uint32_t)atoi(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: %s -p port [-H host] [-L] [-n msgs] [-s bytes] "
				"[-t threads] [-r rcpts 1..4] [-d dir]\n",
				argv[0]);
			return 2;
		}
	}
	if (!port || nrcpt < 1 || nrcpt > 4) {
		fprintf(stderr, "need -p port, -r 1..4\n");
		return 2;
	}
	if (!dir)
		dir = tu_tmpdir(dirbuf, sizeof(dirbuf), "bench-relay");
	spool_conf_defaults(&sc);
	sc.dir = dir;
	relay_conf_defaults(&rc);
	rc.threads = threads;
	rc.nnexthops = 1;
	rc.nexthop[0] = (struct relay_nexthop){
		.host = host, .port = (uint16_t)port, .proto = (uint8_t)proto};
	rc.retry_min_ms = 1000;
	rc.retry_max_ms = 1000;
	if (!(sp = spool_create(&sc)) || !(r = relay_create(&rc, sp)) || spool_start(sp) != 0) {
		perror("spool/relay");
		return 1;
	}

	if (feed(spool_worker_get(sp, 0), n, size, nrcpt, 256)) {
		fprintf(stderr, "commit errors\n");
		return 1;
	}
	t0 = tu_now_ns();
	relay_start(r);
	if (wait_delivered(r, (uint64_t)n * nrcpt) < 0) {
		fprintf(stderr, "relay-only phase timed out\n");
		return 1;
	}
	t1 = tu_now_ns();
	relay_only = (double)(t1 - t0) / 1e9;

	t0 = tu_now_ns();
	if (feed(spool_worker_get(sp, 0), n, size, nrcpt, 256)) {
		fprintf(stderr, "commit errors\n");
		return 1;
	}
	if (wait_delivered(r, 2ULL * n * nrcpt) < 0) {
		fprintf(stderr, "end-to-end phase timed out\n");
		return 1;
	}
	t1 = tu_now_ns();
	e2e = (double)(t1 - t0) / 1e9;

	relay_stats_read(r, &st);
	printf("messages %u x2, body %zu bytes, %u rcpt(s), %u relay thread(s), %s to %s:%u\n", n,
	       size, nrcpt, threads, proto == RELAY_PROTO_LMTP ? "LMTP" : "SMTP", host, port);
	printf("relay only (spool pre-filled): %.3f s, %.0f msgs/s\n", relay_only, n / relay_only);
	printf("end to end (commit + relay):   %.3f s, %.0f msgs/s\n", e2e, n / e2e);
	printf("counters:");
	for (size_t i = 0; i < RELAY_STAT_COUNT; i++)
		printf(" %s=%llu", relay_stat_name(i), (unsigned long long)((uint64_t *)&st)[i]);
	printf("\n");
	relay_stop(r);
	spool_stop(sp);
	relay_destroy(r);
	spool_destroy(sp);
	if (dir == dirbuf)
		tu_rm_rf(dir);
	return 0;
}
