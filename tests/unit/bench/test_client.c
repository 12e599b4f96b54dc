/*
 * test_client.c - bench/client: the SMTP session without a network.
 * Lockstep and pipelined command order, PIPELINING only when advertised,
 * exact message sizes, BDAT chunks, refusals ending in RSET.
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

#include "bench/client.h"

static char out[4 << 20];

/* Take everything the session queued, as the transport would write it. */
static size_t drain(struct bench_cli *c)
{
	struct iovec iov[16];
	size_t n = 0;

	while (c->out.bytes) {
		int k = bench_out_iov(&c->out, iov, 16);
		size_t got = 0;

		/* Write in odd pieces to exercise partial consumption. */
		for (int i = 0; i < k; i++) {
			size_t take = iov[i].iov_len > 777 ? 777 : iov[i].iov_len;

			memcpy(out + n, iov[i].iov_base, take);
			n += take;
			got += take;
			if (take < iov[i].iov_len)
				break;
		}
		bench_out_consume(&c->out, got);
	}
	out[n] = '\0';
	return n;
}

static enum bench_cli_ev reply(struct bench_cli *c, int code, unsigned ext)
{
	struct bench_reply r = {.code = code, .nlines = 1, .ext = ext};

	return bench_cli_on_reply(c, &r);
}

static struct bench_cli_cfg cfg(bool pipe, bool bdat, unsigned rcpts)
{
	return (struct bench_cli_cfg){.ehlo = "client.example.test",
				      .sender_tmpl = "s%c.%m@%d",
				      .rcpt_tmpl = "r%r@%d",
				      .domain = "example.test",
				      .rcpts = rcpts,
				      .pipelining = pipe,
				      .bdat = bdat,
				      .chunk = 100};
}

static void open_session(struct bench_cli *c, const struct bench_cli_cfg *cf,
			 struct bench_cli_stats *st, unsigned ext)
{
	memset(st, 0, sizeof(*st));
	assert_int_equal(bench_cli_init(c, cf, st, 7), 0);
	assert_int_equal(c->state, BENCH_CLI_BANNER);
	assert_int_equal(reply(c, 220, 0), BENCH_CLI_EV_NONE);
	drain(c);
	assert_string_equal(out, "EHLO client.example.test\r\n");
	assert_int_equal(reply(c, 250, ext), BENCH_CLI_EV_READY);
	assert_int_equal(c->state, BENCH_CLI_IDLE);
}

static int setup(void **state)
{
	(void)state;
	bench_cli_global_init();
	return 0;
}

static void test_expand(void **state)
{
	char b[64];

	(void)state;
	assert_int_equal(bench_cli_expand(b, sizeof(b), "u%r.%c.%m.%t%%@%d", "d.test", 5, 6, 7, 8),
			 (int)strlen("u7.5.6.8%@d.test"));
	assert_string_equal(b, "u7.5.6.8%@d.test");
	assert_int_equal(bench_cli_expand(b, sizeof(b), "%x", "d", 0, 0, 0, 0), -1);
	assert_int_equal(bench_cli_expand(b, 5, "%d", "abcde", 0, 0, 0, 0), -1);
}

static void test_lockstep_without_pipelining_offer(void **state)
{
	struct bench_cli_cfg cf = cfg(true, false, 2);
	struct bench_cli_stats st;
	struct bench_cli c;
	size_t n;

	(void)state;
	open_session(&c, &cf, &st, BENCH_EXT_SIZE); /* no PIPELINING offered */
	assert_false(c.pipe);
	assert_int_equal(st.no_pipelining, 1);
	assert_int_equal(bench_cli_start_txn(&c, 1000), 0);
	drain(&c);
	assert_string_equal(out, "MAIL FROM:<s7.1@example.test> SIZE=1000\r\n");
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	drain(&c);
	assert_string_equal(out, "RCPT TO:<r0@example.test>\r\n");
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	drain(&c);
	assert_string_equal(out, "RCPT TO:<r1@example.test>\r\n");
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	drain(&c);
	assert_string_equal(out, "DATA\r\n");
	assert_int_equal(reply(&c, 354, 0), BENCH_CLI_EV_NONE);
	n = drain(&c);
	assert_int_equal(n, 1000 + 3);
	assert_string_equal(out + 1000 - 2, "\r\n.\r\n");
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_TXN_DONE);
	assert_int_equal(c.state, BENCH_CLI_IDLE);
	assert_int_equal(bench_cli_quit(&c), 0);
	drain(&c);
	assert_string_equal(out, "QUIT\r\n");
	assert_int_equal(reply(&c, 221, 0), BENCH_CLI_EV_CLOSED);
	assert_int_equal(st.unexpected, 0);
	bench_cli_free(&c);
}

static void test_pipelined_group(void **state)
{
	struct bench_cli_cfg cf = cfg(true, false, 2);
	struct bench_cli_stats st;
	struct bench_cli c;

	(void)state;
	open_session(&c, &cf, &st, BENCH_EXT_PIPELINING);
	assert_true(c.pipe);
	assert_int_equal(bench_cli_start_txn(&c, 500), 0);
	drain(&c);
	assert_string_equal(out, "MAIL FROM:<s7.1@example.test>\r\n"
				 "RCPT TO:<r0@example.test>\r\n"
				 "RCPT TO:<r1@example.test>\r\n"
				 "DATA\r\n");
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	assert_int_equal(drain(&c), 0); /* body waits for 354 */
	assert_int_equal(reply(&c, 354, 0), BENCH_CLI_EV_NONE);
	assert_int_equal(drain(&c), 503);
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_TXN_DONE);
	bench_cli_free(&c);
}

static void test_pipelining_off_when_not_asked(void **state)
{
	struct bench_cli_cfg cf = cfg(false, false, 1);
	struct bench_cli_stats st;
	struct bench_cli c;

	(void)state;
	open_session(&c, &cf, &st, BENCH_EXT_PIPELINING);
	assert_false(c.pipe);
	assert_int_equal(st.no_pipelining, 0);
	assert_int_equal(bench_cli_start_txn(&c, 500), 0);
	drain(&c);
	assert_string_equal(out, "MAIL FROM:<s7.1@example.test>\r\n");
	bench_cli_free(&c);
}

static void test_pipelined_refusal_then_rset(void **state)
{
	struct bench_cli_cfg cf = cfg(true, false, 2);
	struct bench_cli_stats st;
	struct bench_cli c;

	(void)state;
	open_session(&c, &cf, &st, BENCH_EXT_PIPELINING);
	assert_int_equal(bench_cli_start_txn(&c, 500), 0);
	drain(&c);
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	assert_int_equal(reply(&c, 550, 0), BENCH_CLI_EV_NONE);
	assert_int_equal(reply(&c, 450, 0), BENCH_CLI_EV_NONE);
	assert_int_equal(drain(&c), 0);
	assert_int_equal(reply(&c, 554, 0), BENCH_CLI_EV_NONE);
	drain(&c);
	assert_string_equal(out, "RSET\r\n");
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_TXN_FAILED);
	assert_int_equal(st.unexpected, 3);
	assert_int_equal(st.rcpt_rejected, 2);
	assert_int_equal(st.rset, 1);
	assert_int_equal(c.state, BENCH_CLI_IDLE);
	/* The session goes on. */
	assert_int_equal(bench_cli_start_txn(&c, 500), 0);
	drain(&c);
	assert_non_null(strstr(out, "MAIL FROM:<s7.2@example.test>"));
	bench_cli_free(&c);
}

static void test_lockstep_all_rcpts_refused(void **state)
{
	struct bench_cli_cfg cf = cfg(false, false, 1);
	struct bench_cli_stats st;
	struct bench_cli c;

	(void)state;
	open_session(&c, &cf, &st, 0);
	assert_int_equal(bench_cli_start_txn(&c, 500), 0);
	drain(&c);
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	drain(&c);
	assert_int_equal(reply(&c, 550, 0), BENCH_CLI_EV_NONE);
	drain(&c);
	assert_string_equal(out, "RSET\r\n"); /* no DATA without a recipient */
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_TXN_FAILED);
	bench_cli_free(&c);
}

static void test_end_of_data_refused(void **state)
{
	struct bench_cli_cfg cf = cfg(false, false, 1);
	struct bench_cli_stats st;
	struct bench_cli c;

	(void)state;
	open_session(&c, &cf, &st, 0);
	assert_int_equal(bench_cli_start_txn(&c, 500), 0);
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	assert_int_equal(reply(&c, 354, 0), BENCH_CLI_EV_NONE);
	drain(&c);
	assert_int_equal(reply(&c, 451, 0), BENCH_CLI_EV_TXN_FAILED);
	assert_int_equal(st.unexpected, 1);
	bench_cli_free(&c);
}

static void test_broken_banner_and_stray_reply(void **state)
{
	struct bench_cli_cfg cf = cfg(false, false, 1);
	struct bench_cli_stats st = {0};
	struct bench_cli c;

	(void)state;
	assert_int_equal(bench_cli_init(&c, &cf, &st, 1), 0);
	assert_int_equal(reply(&c, 554, 0), BENCH_CLI_EV_BROKEN);
	assert_non_null(c.err);
	bench_cli_free(&c);
	open_session(&c, &cf, &st, 0);
	assert_int_equal(reply(&c, 421, 0), BENCH_CLI_EV_BROKEN);
	assert_int_equal(st.unexpected, 1);
	bench_cli_free(&c);
}

/* Every size from tiny to a few lines past the header: exact octet counts,
 * CRLF line ends, no line starting with '.', terminator last. */
static void test_exact_sizes(void **state)
{
	struct bench_cli_cfg cf = cfg(false, false, 1);
	struct bench_cli_stats st;
	struct bench_cli c;

	(void)state;
	open_session(&c, &cf, &st, 0);
	for (size_t size = 1; size < 700; size++) {
		size_t n;

		assert_int_equal(bench_cli_start_txn(&c, size), 0);
		assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
		assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
		drain(&c);
		assert_int_equal(reply(&c, 354, 0), BENCH_CLI_EV_NONE);
		n = drain(&c);
		if (size >= c.hdr_len)
			assert_int_equal(n, size + 3);
		else
			assert_int_equal(n, c.hdr_len + 3);
		assert_memory_equal(out + n - 5, "\r\n.\r\n", 5);
		for (size_t i = 0; i + 3 < n; i++) {
			assert_false(out[i] == '\r' && out[i + 1] != '\n');
			assert_false(out[i] == '\n' && i > 0 && out[i - 1] != '\r');
			if (i == 0 || out[i - 1] == '\n')
				assert_true(out[i] != '.' || i == n - 3);
		}
		assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_TXN_DONE);
	}
	bench_cli_free(&c);
}

static void test_large_message_referenced(void **state)
{
	struct bench_cli_cfg cf = cfg(false, false, 1);
	struct bench_cli_stats st;
	struct bench_cli c;
	const size_t size = 3u << 20; /* larger than the shared text */

	(void)state;
	open_session(&c, &cf, &st, 0);
	assert_int_equal(bench_cli_start_txn(&c, size), 0);
	reply(&c, 250, 0);
	reply(&c, 250, 0);
	drain(&c);
	reply(&c, 354, 0);
	assert_int_equal(c.out.bytes, size + 3);
	assert_true(c.out.len < 64); /* body not copied into the session */
	assert_int_equal(drain(&c), size + 3);
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_TXN_DONE);
	bench_cli_free(&c);
}

static void test_bdat_lockstep(void **state)
{
	struct bench_cli_cfg cf = cfg(false, true, 1);
	struct bench_cli_stats st;
	struct bench_cli c;
	size_t total = 0;
	int chunks = 0;

	(void)state;
	open_session(&c, &cf, &st, BENCH_EXT_CHUNKING);
	assert_true(c.use_bdat);
	assert_int_equal(bench_cli_start_txn(&c, 450), 0);
	drain(&c);
	reply(&c, 250, 0);
	drain(&c);
	assert_string_equal(out, "RCPT TO:<r0@example.test>\r\n");
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	for (;;) {
		size_t n = drain(&c), len;
		char *nl = strstr(out, "\r\n");
		bool last;

		assert_non_null(nl);
		assert_int_equal(strncmp(out, "BDAT ", 5), 0);
		len = strtoul(out + 5, NULL, 10);
		last = strstr(out, " LAST\r\n") == nl - 5;
		assert_int_equal(n, (size_t)(nl + 2 - out) + len);
		total += len;
		chunks++;
		if (last) {
			assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_TXN_DONE);
			break;
		}
		assert_int_equal(len, 100);
		assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	}
	assert_int_equal(total, 450);
	assert_int_equal(chunks, 5);
	bench_cli_free(&c);
}

static void test_bdat_pipelined_window(void **state)
{
	struct bench_cli_cfg cf = cfg(true, true, 1);
	struct bench_cli_stats st;
	struct bench_cli c;
	size_t n;
	int bdats = 0;

	(void)state;
	open_session(&c, &cf, &st, BENCH_EXT_CHUNKING | BENCH_EXT_PIPELINING);
	assert_int_equal(bench_cli_start_txn(&c, 1000), 0);
	n = drain(&c);
	for (size_t i = 0; i + 5 < n; i++)
		bdats += strncmp(out + i, "BDAT ", 5) == 0;
	assert_int_equal(bdats, BENCH_BDAT_WINDOW);
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE); /* MAIL */
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE); /* RCPT */
	/* A refused chunk stops further chunks; RSET after the last reply. */
	assert_int_equal(reply(&c, 552, 0), BENCH_CLI_EV_NONE);
	assert_int_equal(drain(&c), 0);
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	assert_int_equal(drain(&c), 0);
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_NONE);
	drain(&c);
	assert_string_equal(out, "RSET\r\n");
	assert_int_equal(reply(&c, 250, 0), BENCH_CLI_EV_TXN_FAILED);
	bench_cli_free(&c);
}

static void test_bdat_falls_back_to_data(void **state)
{
	struct bench_cli_cfg cf = cfg(false, true, 1);
	struct bench_cli_stats st;
	struct bench_cli c;

	(void)state;
	open_session(&c, &cf, &st, 0);
	assert_false(c.use_bdat);
	assert_int_equal(st.no_chunking, 1);
	assert_int_equal(bench_cli_start_txn(&c, 300), 0);
	reply(&c, 250, 0);
	drain(&c);
	reply(&c, 250, 0);
	drain(&c);
	assert_string_equal(out, "DATA\r\n");
	bench_cli_free(&c);
}

/* --starttls: EHLO, STARTTLS, 220 hands over to the transport's
 * handshake, EHLO again, and the second EHLO's extensions count; a server
 * without STARTTLS, or a 454, breaks the session. */
static void test_starttls(void **state)
{
	struct bench_cli_cfg cf = cfg(true, false, 1);
	struct bench_cli_stats st = {0};
	struct bench_cli c;

	(void)state;
	cf.starttls = true;
	assert_int_equal(bench_cli_init(&c, &cf, &st, 1), 0);
	assert_int_equal(reply(&c, 220, 0), BENCH_CLI_EV_NONE);
	drain(&c);
	assert_string_equal(out, "EHLO client.example.test\r\n");
	assert_int_equal(reply(&c, 250, BENCH_EXT_STARTTLS), BENCH_CLI_EV_NONE);
	drain(&c);
	assert_string_equal(out, "STARTTLS\r\n");
	assert_int_equal(bench_cli_tls_started(&c), -EINVAL); /* no 220 yet */
	assert_int_equal(reply(&c, 220, 0), BENCH_CLI_EV_STARTTLS);
	assert_int_equal(bench_cli_tls_started(&c), 0);
	drain(&c);
	assert_string_equal(out, "EHLO client.example.test\r\n");
	assert_int_equal(reply(&c, 250, BENCH_EXT_PIPELINING), BENCH_CLI_EV_READY);
	assert_true(c.pipe);
	bench_cli_free(&c);
	/* Not offered. */
	assert_int_equal(bench_cli_init(&c, &cf, &st, 2), 0);
	reply(&c, 220, 0);
	drain(&c);
	assert_int_equal(reply(&c, 250, BENCH_EXT_PIPELINING), BENCH_CLI_EV_BROKEN);
	assert_string_equal(c.err, "STARTTLS not offered");
	bench_cli_free(&c);
	/* 454: no TLS slot on the server. */
	assert_int_equal(bench_cli_init(&c, &cf, &st, 3), 0);
	reply(&c, 220, 0);
	reply(&c, 250, BENCH_EXT_STARTTLS);
	drain(&c);
	assert_int_equal(reply(&c, 454, 0), BENCH_CLI_EV_BROKEN);
	assert_string_equal(c.err, "STARTTLS refused (454)");
	bench_cli_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_lockstep_without_pipelining_offer),
		cmocka_unit_test(test_pipelined_group),
		cmocka_unit_test(test_pipelining_off_when_not_asked),
		cmocka_unit_test(test_pipelined_refusal_then_rset),
		cmocka_unit_test(test_lockstep_all_rcpts_refused),
		cmocka_unit_test(test_end_of_data_refused),
		cmocka_unit_test(test_broken_banner_and_stray_reply),
		cmocka_unit_test(test_exact_sizes),
		cmocka_unit_test(test_large_message_referenced),
		cmocka_unit_test(test_bdat_lockstep),
		cmocka_unit_test(test_bdat_pipelined_window),
		cmocka_unit_test(test_bdat_falls_back_to_data),
		cmocka_unit_test(test_starttls),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
