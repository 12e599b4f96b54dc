/*
 * test_smtp.c - cmocka tests of the SMTP engine for what is not a
 * conversation: memory per session, Received: header, close log line,
 * counters, resume/timer contracts, config validation.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "smtp/smtp.h"

struct fixture {
	struct smtp_pool *pool;
	struct smtp_session *s;
	uint64_t now;
	char out[8192];
	size_t outlen;
	uint64_t req;
	char received[1024];
	int received_rc;
};

static enum smtp_verdict on_data_end(void *ctx, struct smtp_session *s, const struct smtp_event *ev,
				     struct smtp_answer *a)
{
	struct fixture *f = ctx;
	struct smtp_received_info ri = {
		.queue_id = "4QZ7xk",
		.rdns = "mail.client.example",
		.unix_time = 1700000000, /* Tue, 14 Nov 2023 22:13:20 UTC */
		.tz_offset_min = 60,
	};

	(void)ev;
	f->received_rc = smtp_received_format(s, &ri, f->received, sizeof(f->received));
	a->code = 250;
	a->enh = "2.0.0";
	a->text = "Ok: queued as 4QZ7xk";
	return SMTP_V_REPLY;
}

static enum smtp_verdict on_mail_pending(void *ctx, struct smtp_session *s,
					 const struct smtp_event *ev, struct smtp_answer *a)
{
	struct fixture *f = ctx;

	(void)s, (void)ev;
	a->request_id = ++f->req;
	return SMTP_V_PENDING;
}

static void drain(struct fixture *f)
{
	size_t n;
	const uint8_t *p = smtp_output_peek(f->s, &n);

	assert_true(f->outlen + n < sizeof(f->out));
	if (n)
		memcpy(f->out + f->outlen, p, n);
	f->outlen += n;
	f->out[f->outlen] = 0;
	if (n)
		smtp_output_consume(f->s, n);
}

static void send_str(struct fixture *f, const char *str)
{
	size_t len = strlen(str), off = 0;

	while (off < len) {
		size_t n = smtp_input(f->s, (const uint8_t *)str + off, len - off, f->now);

		drain(f);
		if (n == 0)
			break;
		off += n;
	}
}

static struct fixture *setup_pool(struct smtp_host *host, struct smtp_config *cfg)
{
	static struct fixture f;
	struct smtp_config c;

	memset(&f, 0, sizeof(f));
	if (!cfg) {
		smtp_config_defaults(&c);
		snprintf(c.hostname, sizeof(c.hostname), "mx.test");
		c.max_sessions = 4;
		cfg = &c;
	}
	host->ctx = &f;
	f.pool = smtp_pool_create(cfg, host);
	assert_non_null(f.pool);
	f.now = 5000000;
	return &f;
}

/* The idle cost of a connection: struct + line buffer + output buffer. */
static void test_memory_per_session(void **state)
{
	struct smtp_host host = {0};
	struct fixture *f = setup_pool(&host, NULL);
	size_t stride = smtp_session_stride(f->pool);

	(void)state;
	printf("sizeof(struct smtp_session)=%zu stride=%zu envelope=%zu\n",
	       sizeof(struct smtp_session), stride, smtp_envelope_stride(f->pool));
	assert_true(sizeof(struct smtp_session) <= 512);
	/* Target: about 2 KiB per idle session with the defaults. */
	assert_true(stride <= 2048);
	assert_true(stride >= sizeof(struct smtp_session) + 512 + 256 + 640);
	smtp_pool_destroy(f->pool);
}

static void test_received_header(void **state)
{
	struct smtp_host host = {0};
	struct fixture *f;

	(void)state;
	host.on[SMTP_EV_DATA_END] = on_data_end;
	f = setup_pool(&host, NULL);
	f->s = smtp_session_open(f->pool, "192.0.2.1", NULL, f->now);
	assert_non_null(f->s);
	send_str(f, "EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n"
		    "RCPT TO:<b@example.net>\r\nDATA\r\n");
	send_str(f, "hi\r\n.\r\n");
	assert_non_null(strstr(f->out, "250 2.0.0 Ok: queued as 4QZ7xk\r\n"));
	assert_string_equal(f->received,
			    "Received: from client.example (mail.client.example [192.0.2.1])\r\n"
			    "\tby mx.test (mxgate) with ESMTP id 4QZ7xk\r\n"
			    "\tfor <b@example.net>;\r\n"
			    "\tTue, 14 Nov 2023 23:13:20 +0100\r\n");
	assert_int_equal(f->received_rc, (int)strlen(f->received));

	/* Two recipients: no for clause (RFC 5321 7.2); HELO: "with SMTP";
	 * SMTPUTF8: UTF8SMTP; IPv6 literal; negative offset. */
	send_str(f, "HELO c2.example\r\nMAIL FROM:<a@example.org>\r\n"
		    "RCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n");
	send_str(f, ".\r\n");
	assert_string_equal(f->received,
			    "Received: from c2.example (mail.client.example [192.0.2.1])\r\n"
			    "\tby mx.test (mxgate) with SMTP id 4QZ7xk;\r\n"
			    "\tTue, 14 Nov 2023 23:13:20 +0100\r\n");
	smtp_session_free(f->s, f->now);

	f->s = smtp_session_open(f->pool, "2001:db8::1", NULL, f->now);
	send_str(f, "EHLO c3.example\r\nMAIL FROM:<a@example.org> SMTPUTF8\r\n"
		    "RCPT TO:<b@example.net>\r\nDATA\r\n.\r\n");
	assert_non_null(strstr(f->received, "[IPv6:2001:db8::1]"));
	assert_non_null(strstr(f->received, "with UTF8SMTP id"));
	smtp_session_free(f->s, f->now);
	smtp_pool_destroy(f->pool);
}

static void test_received_errors(void **state)
{
	struct smtp_host host = {0};
	struct fixture *f = setup_pool(&host, NULL);
	struct smtp_received_info ri = {.unix_time = 0};
	char small[16];

	(void)state;
	f->s = smtp_session_open(f->pool, "192.0.2.1", NULL, f->now);
	assert_int_equal(smtp_received_format(f->s, &ri, small, sizeof(small)), -EINVAL);
	send_str(f, "EHLO c.example\r\nMAIL FROM:<a@example.org>\r\n");
	assert_int_equal(smtp_received_format(f->s, &ri, small, sizeof(small)), -ENOSPC);
	smtp_session_free(f->s, f->now);
	smtp_pool_destroy(f->pool);
}

static void test_summary(void **state)
{
	struct smtp_host host = {0};
	struct fixture *f;
	char line[512];
	int n;

	(void)state;
	host.on[SMTP_EV_DATA_END] = on_data_end;
	f = setup_pool(&host, NULL);
	f->s = smtp_session_open(f->pool, "192.0.2.9", NULL, f->now);
	send_str(f, "EHLO c.example\r\nMAIL FROM:<\"a b\"@example.org>\r\n"
		    "RCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n");
	send_str(f, "hello\r\n.\r\nFOO\r\n");
	f->now += 1234000;
	n = smtp_summary_format(f->s, f->now, line, sizeof(line));
	assert_true(n > 0);
	assert_string_equal(line,
			    "client=192.0.2.9 helo=c.example from=<\\x22a\\x20b\\x22@example.org> "
			    "rcpts=2 size=7 result=accepted txns=1 cmds=6 errors=1 "
			    "replies=6/1/0/1 last_code=502 first_error=502 duration_ms=1234");
	assert_int_equal(smtp_summary_format(f->s, f->now, line, 20), -ENOSPC);
	smtp_session_free(f->s, f->now);
	smtp_pool_destroy(f->pool);
}

static void test_counters(void **state)
{
	struct smtp_host host = {0};
	struct fixture *f = setup_pool(&host, NULL);
	struct smtp_counters c;

	(void)state;
	assert_string_equal(smtp_counter_names[0], "connections");
	assert_string_equal(smtp_counter_names[SMTP_CNT_rej_pregreet], "rej_pregreet");
	assert_int_equal(sizeof(struct smtp_counters), SMTP_CNT_COUNT * sizeof(uint64_t));
	f->s = smtp_session_open(f->pool, "192.0.2.1", NULL, f->now);
	send_str(f, "EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<x>\r\n"
		    "RCPT TO:<b@example.org>\r\nDATA\r\nbare\nlf\r\n.\r\nNOOP\n");
	smtp_counters_read(f->pool, &c);
	assert_int_equal(c.connections, 1);
	assert_int_equal(c.transactions, 1);
	assert_int_equal(c.commands, 6);
	assert_int_equal(c.replies_2xx, 4);
	assert_int_equal(c.replies_3xx, 1);
	assert_int_equal(c.replies_5xx, 3);
	assert_int_equal(c.rej_syntax, 1);
	assert_int_equal(c.rej_bare_nl_data, 1);
	assert_int_equal(c.rej_bare_lf_command, 1);
	assert_int_equal(c.messages_rejected, 1);
	smtp_session_free(f->s, f->now);
	smtp_counters_read(f->pool, &c);
	assert_int_equal(c.closed, 1);
	assert_int_equal(smtp_pool_free_envelopes(f->pool), 4);
	smtp_pool_destroy(f->pool);
}

static void test_resume_contract(void **state)
{
	struct smtp_host host = {0};
	struct fixture *f;

	(void)state;
	host.on[SMTP_EV_MAIL] = on_mail_pending;
	f = setup_pool(&host, NULL);
	f->s = smtp_session_open(f->pool, "192.0.2.1", NULL, f->now);
	assert_int_equal(smtp_resume(f->s, 1, 0, NULL, NULL, f->now), -EINVAL);
	send_str(f, "HELO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n");
	assert_true(smtp_session_parked(f->s));
	assert_int_equal(smtp_next_deadline(f->s), UINT64_MAX);
	/* Parked: no input is taken. */
	assert_int_equal(smtp_input(f->s, (const uint8_t *)"NOOP\r\n", 6, f->now), 0);
	assert_int_equal(smtp_resume(f->s, f->req + 1, 0, NULL, NULL, f->now), -ENOENT);
	assert_int_equal(smtp_resume(f->s, f->req, 99, NULL, NULL, f->now), -EINVAL);
	assert_int_equal(smtp_resume(f->s, f->req, 0, NULL, NULL, f->now), 0);
	assert_false(smtp_session_parked(f->s));
	drain(f);
	assert_non_null(strstr(f->out, "250 2.1.0 Ok\r\n"));
	assert_int_equal(smtp_next_deadline(f->s), f->now + 300000000ull);
	smtp_session_free(f->s, f->now);
	smtp_pool_destroy(f->pool);
}

static void test_pool_limits(void **state)
{
	struct smtp_host host = {0};
	struct smtp_config c;
	struct smtp_pool *p;
	struct smtp_session *s[3];

	(void)state;
	smtp_config_defaults(&c);
	c.max_sessions = 2;
	p = smtp_pool_create(&c, &host);
	assert_non_null(p);
	s[0] = smtp_session_open(p, "a", NULL, 1);
	s[1] = smtp_session_open(p, "b", NULL, 1);
	errno = 0;
	s[2] = smtp_session_open(p, "c", NULL, 1);
	assert_null(s[2]);
	assert_int_equal(errno, EAGAIN);
	smtp_session_free(s[0], 2);
	s[2] = smtp_session_open(p, "c", NULL, 1);
	assert_ptr_equal(s[2], s[0]);
	smtp_session_free(s[1], 2);
	smtp_session_free(s[2], 2);
	assert_int_equal(smtp_pool_free_sessions(p), 2);
	smtp_pool_destroy(p);

	/* Invalid configurations. */
	smtp_config_defaults(&c);
	c.out_size = 100; /* smaller than one EHLO reply */
	assert_null(smtp_pool_create(&c, &host));
	assert_int_equal(errno, EINVAL);
	smtp_config_defaults(&c);
	c.hostname[0] = 0;
	assert_null(smtp_pool_create(&c, &host));
	smtp_config_defaults(&c);
	c.max_rcpt = 0;
	assert_null(smtp_pool_create(&c, &host));
}

/* Any host answering DATA_END with NULL callback gets 451, never 250. */
static void test_default_data_end(void **state)
{
	struct smtp_host host = {0};
	struct fixture *f = setup_pool(&host, NULL);

	(void)state;
	f->s = smtp_session_open(f->pool, "192.0.2.1", NULL, f->now);
	send_str(f, "HELO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n.\r\n");
	assert_non_null(strstr(f->out, "451 4.3.0 Error: message not stored"));
	assert_null(strstr(f->out, "250 2.0.0"));
	smtp_session_free(f->s, f->now);
	smtp_pool_destroy(f->pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_per_session), cmocka_unit_test(test_received_header),
		cmocka_unit_test(test_received_errors),	   cmocka_unit_test(test_summary),
		cmocka_unit_test(test_counters),	   cmocka_unit_test(test_resume_contract),
		cmocka_unit_test(test_pool_limits),	   cmocka_unit_test(test_default_data_end),
	};

	mx_log_level = MX_LOG_WARN;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
