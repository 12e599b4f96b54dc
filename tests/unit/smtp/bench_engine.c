/*
 * bench_engine.c - cost of SMTP transactions through the pure engine (no
 * TCP, no spool): for callgrind (instructions) or a quick wall-clock look.
 *
 *   smtp_bench_engine [N [SCENARIO]]
 *     N         transactions per scenario (default 10000)
 *     SCENARIO  1k-sync | 1k-pipe | 100k-sync | 100k-pipe | all (default)
 *
 * A session does EHLO once, then N transactions of MAIL, RCPT, DATA, body,
 * end of data (the host answers 250). "sync": each command is its own
 * smtp_input() call, like a client waiting for every reply; "pipe": MAIL,
 * RCPT and DATA arrive in one segment (RFC 2920). Bodies are 76-octet lines
 * (1 in 8 starting with a dot, to exercise unstuffing) fed in 1460-octet
 * segments (one TCP MSS each).
 *
 * Instructions per transaction: run twice under callgrind with N and 2N,
 * and divide the difference of total Ir by N (removes setup cost):
 *   valgrind --tool=callgrind smtp_bench_engine 1000 1k-pipe
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "smtp/smtp.h"

#define MSS 1460

static uint64_t body_octets;

static enum smtp_verdict on_chunk(void *ctx, struct smtp_session *s, const struct smtp_event *ev,
				  struct smtp_answer *a)
{
	(void)ctx, (void)s, (void)a;
	body_octets += ev->data_len;
	return SMTP_V_CONTINUE;
}

static enum smtp_verdict on_end(void *ctx, struct smtp_session *s, const struct smtp_event *ev,
				struct smtp_answer *a)
{
	(void)ctx, (void)s, (void)ev;
	a->code = 250;
	a->enh = "2.0.0";
	a->text = "Ok: queued as BENCH";
	return SMTP_V_REPLY;
}

static void feed(struct smtp_session *s, const char *p, size_t len, uint64_t now)
{
	while (len) {
		size_t n = smtp_input(s, (const uint8_t *)p, len, now), olen;

		smtp_output_peek(s, &olen);
		smtp_output_consume(s, olen);
		if (n == 0) {
			fprintf(stderr, "engine stalled\n");
			exit(1);
		}
		p += n;
		len -= n;
	}
}

static char *make_body(size_t size, size_t *len)
{
	char *b = malloc(size + 128);
	size_t n = 0;
	unsigned line = 0;

	while (n + 78 <= size) {
		memset(b + n, 'a' + line % 26, 76);
		if (line % 8 == 0)
			b[n] = '.', b[n + 1] = '.'; /* stuffed dot */
		b[n + 76] = '\r', b[n + 77] = '\n';
		n += 78;
		line++;
	}
	memcpy(b + n, ".\r\n", 3);
	*len = n + 3;
	return b;
}

static double run(const char *name, size_t msg, bool pipe, unsigned ntx)
{
	struct smtp_config cfg;
	struct smtp_host host = {0};
	struct smtp_pool *p;
	struct smtp_session *s;
	struct timespec t0, t1;
	size_t blen;
	char *body = make_body(msg, &blen);
	static const char env[] = "MAIL FROM:<sender@example.org> SIZE=200000\r\n"
				  "RCPT TO:<rcpt@example.net>\r\nDATA\r\n";
	uint64_t now = 1000000;

	smtp_config_defaults(&cfg);
	snprintf(cfg.hostname, sizeof(cfg.hostname), "mx.bench");
	cfg.max_sessions = 1;
	cfg.max_commands = 4 * ntx + 10;
	host.on[SMTP_EV_DATA_CHUNK] = on_chunk;
	host.on[SMTP_EV_DATA_END] = on_end;
	p = smtp_pool_create(&cfg, &host);
	s = smtp_session_open(p, "192.0.2.1", NULL, now);
	feed(s, "EHLO client.example\r\n", 21, now);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < ntx; i++) {
		if (pipe) {
			feed(s, env, sizeof(env) - 1, now);
		} else {
			feed(s, env, 44, now);
			feed(s, env + 44, 28, now);
			feed(s, env + 72, 6, now);
		}
		for (size_t off = 0; off < blen; off += MSS)
			feed(s, body + off, blen - off < MSS ? blen - off : MSS, now);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	smtp_session_free(s, now);
	smtp_pool_destroy(p);
	free(body);
	double ns =
		((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / ntx;
	printf("%-10s %u transactions: %.0f ns/transaction\n", name, ntx, ns);
	return ns;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 10000;
	const char *sc = argc > 2 ? argv[2] : "all";
	bool all = !strcmp(sc, "all");

	mx_log_level = MX_LOG_WARN;
	if (all || !strcmp(sc, "1k-sync"))
		run("1k-sync", 1024, false, n);
	if (all || !strcmp(sc, "1k-pipe"))
		run("1k-pipe", 1024, true, n);
	if (all || !strcmp(sc, "100k-sync"))
		run("100k-sync", 100 * 1024, false, n / 10 ? n / 10 : 1);
	if (all || !strcmp(sc, "100k-pipe"))
		run("100k-pipe", 100 * 1024, true, n / 10 ? n / 10 : 1);
	printf("body octets handed to the host: %" PRIu64 "\n", body_octets);
	return 0;
}
