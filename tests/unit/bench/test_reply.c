/*
 * test_reply.c - bench/reply: single and multi-line replies, EHLO keywords,
 * any split of the stream, malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bench/reply.h"

static const char ehlo[] = "250-mx.example.test Hello\r\n"
			   "250-pipelining\r\n"
			   "250-SIZE 10240000\r\n"
			   "250-CHUNKING\r\n"
			   "250-ENHANCEDSTATUSCODES\r\n"
			   "250-XPIPELININGX\r\n"
			   "250 8BITMIME\r\n";

/* Feed @s in pieces of @step bytes; collect up to @max replies. Returns the
 * number of replies, or -1 on a parse error. */
static int feed_split(const char *s, size_t step, struct bench_reply *out, int max)
{
	struct bench_reply_parser p;
	size_t len = strlen(s), pos = 0;
	int n = 0;

	bench_reply_init(&p);
	while (pos < len) {
		size_t piece = len - pos < step ? len - pos : step;
		size_t off = 0;

		while (off < piece) {
			size_t used;
			enum bench_reply_rc rc =
				bench_reply_feed(&p, s + pos + off, piece - off, &used, &out[n]);

			assert_true(used <= piece - off);
			off += used;
			if (rc == BENCH_REPLY_ERROR)
				return -1;
			if (rc == BENCH_REPLY_OK) {
				n++;
				if (n == max)
					return n;
			} else {
				assert_int_equal(off, piece);
			}
		}
		pos += piece;
	}
	return n;
}

static void test_single_line(void **state)
{
	struct bench_reply r[2];

	(void)state;
	assert_int_equal(feed_split("250 2.1.0 Ok\r\n", 1000, r, 2), 1);
	assert_int_equal(r[0].code, 250);
	assert_int_equal(r[0].nlines, 1);
	assert_string_equal(r[0].text, "2.1.0 Ok");
	assert_int_equal(r[0].bare_lf, 0);
}

static void test_code_only(void **state)
{
	struct bench_reply r[2];

	(void)state;
	assert_int_equal(feed_split("354\r\n", 1000, r, 2), 1);
	assert_int_equal(r[0].code, 354);
	assert_string_equal(r[0].text, "");
	assert_int_equal(feed_split("250 \r\n", 1000, r, 2), 1);
	assert_int_equal(r[0].code, 250);
}

static void test_multi_line_ehlo(void **state)
{
	struct bench_reply r[2];

	(void)state;
	assert_int_equal(feed_split(ehlo, 1000, r, 2), 1);
	assert_int_equal(r[0].code, 250);
	assert_int_equal(r[0].nlines, 7);
	assert_string_equal(r[0].text, "mx.example.test Hello");
	assert_int_equal(r[0].ext, BENCH_EXT_PIPELINING | BENCH_EXT_SIZE | BENCH_EXT_CHUNKING |
					   BENCH_EXT_ENHANCEDSTATUSCODES | BENCH_EXT_8BITMIME);
}

static void test_greeting_word_is_not_keyword(void **state)
{
	struct bench_reply r[2];

	(void)state;
	assert_int_equal(feed_split("250-PIPELINING\r\n250 SIZE\r\n", 1000, r, 2), 1);
	assert_int_equal(r[0].ext, BENCH_EXT_SIZE);
}

static void test_every_split(void **state)
{
	char stream[1024];
	struct bench_reply whole[4], part[4];
	int n;

	(void)state;
	snprintf(stream, sizeof(stream), "220 banner\r\n%s354 go\r\n221-bye\r\n221 bye\r\n", ehlo);
	n = feed_split(stream, strlen(stream), whole, 4);
	assert_int_equal(n, 4);
	assert_int_equal(whole[0].code, 220);
	assert_int_equal(whole[1].code, 250);
	assert_int_equal(whole[2].code, 354);
	assert_int_equal(whole[3].code, 221);
	assert_int_equal(whole[3].nlines, 2);
	for (size_t step = 1; step < strlen(stream); step++) {
		assert_int_equal(feed_split(stream, step, part, 4), 4);
		assert_memory_equal(part, whole, sizeof(whole));
	}
}

static void test_back_to_back_in_one_buffer(void **state)
{
	static const char s[] = "250 a\r\n251 b\r\n252";
	struct bench_reply_parser p;
	struct bench_reply r;
	size_t used;

	(void)state;
	bench_reply_init(&p);
	assert_int_equal(bench_reply_feed(&p, s, strlen(s), &used, &r), BENCH_REPLY_OK);
	assert_int_equal(used, 7);
	assert_int_equal(r.code, 250);
	assert_int_equal(bench_reply_feed(&p, s + 7, strlen(s) - 7, &used, &r), BENCH_REPLY_OK);
	assert_int_equal(used, 7);
	assert_int_equal(r.code, 251);
	assert_int_equal(bench_reply_feed(&p, s + 14, 3, &used, &r), BENCH_REPLY_AGAIN);
	assert_int_equal(used, 3);
	assert_int_equal(bench_reply_feed(&p, " c\r\n", 4, &used, &r), BENCH_REPLY_OK);
	assert_int_equal(r.code, 252);
	assert_string_equal(r.text, "c");
}

static void test_bare_lf_counted(void **state)
{
	struct bench_reply r[2];

	(void)state;
	assert_int_equal(feed_split("250-a\n250 b\r\n", 3, r, 2), 1);
	assert_int_equal(r[0].code, 250);
	assert_int_equal(r[0].bare_lf, 1);
}

static void expect_error(const char *s)
{
	struct bench_reply r[2];

	if (feed_split(s, 1000, r, 2) != -1)
		fail_msg("accepted malformed reply '%s'", s);
	/* Same verdict whatever the split. */
	assert_int_equal(feed_split(s, 1, r, 2), -1);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_error("abc\r\n");
	expect_error("25\r\n");
	expect_error("\r\n");
	expect_error("2x0 no\r\n");
	expect_error("250x\r\n");
	expect_error("650 six hundred\r\n");
	expect_error("160 too low\r\n");
	expect_error("260 bad second digit\r\n");
	expect_error("250-first\r\n251 second differs\r\n");
	expect_error("250-first\r\nhello\r\n");
}

static void test_too_long(void **state)
{
	static char s[BENCH_REPLY_LINE_MAX + 64];
	struct bench_reply_parser p;
	struct bench_reply r;
	size_t used;

	(void)state;
	memset(s, 'x', sizeof(s));
	memcpy(s, "250 ", 4);
	memcpy(s + sizeof(s) - 2, "\r\n", 2);
	bench_reply_init(&p);
	assert_int_equal(bench_reply_feed(&p, s, sizeof(s), &used, &r), BENCH_REPLY_ERROR);
	assert_int_equal(used, sizeof(s));
	assert_non_null(p.err);
	/* The parser starts over after the bad line. */
	assert_int_equal(bench_reply_feed(&p, "221 ok\r\n", 8, &used, &r), BENCH_REPLY_OK);
	assert_int_equal(r.code, 221);
}

static void test_too_many_lines(void **state)
{
	static char s[(BENCH_REPLY_LINES_MAX + 2) * 8];
	struct bench_reply r[2];
	size_t n = 0;

	(void)state;
	for (int i = 0; i <= BENCH_REPLY_LINES_MAX; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "250-x\r\n");
	snprintf(s + n, sizeof(s) - n, "250 x\r\n");
	assert_int_equal(feed_split(s, 1000, r, 2), -1);
}

static void test_long_text_truncated(void **state)
{
	char s[600];
	struct bench_reply r[2];

	(void)state;
	memset(s, 'y', sizeof(s));
	memcpy(s, "554 ", 4);
	memcpy(s + 500, "\r\n", 3);
	assert_int_equal(feed_split(s, 7, r, 2), 1);
	assert_int_equal(r[0].code, 554);
	assert_int_equal(strlen(r[0].text), BENCH_REPLY_TEXT_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_code_only),
		cmocka_unit_test(test_multi_line_ehlo),
		cmocka_unit_test(test_greeting_word_is_not_keyword),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_back_to_back_in_one_buffer),
		cmocka_unit_test(test_bare_lf_counted),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_too_many_lines),
		cmocka_unit_test(test_long_text_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
