/*
 * test_dsn.c - the RFC 3464 notification formatter (queue/dsn.c): when a
 * notification is owed, the status taken from a reply, and the message
 * itself (multipart/report, the delivery-status fields, the original
 * header, 7-bit CRLF lines of at most 998 octets, nothing from outside able
 * to add a line).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "queue/dsn.h"
#include "queue/record-t.h"

static void test_wanted(void **state)
{
	(void)state;
	assert_false(dsn_wanted("", 0)); /* never to the null sender */
	assert_false(dsn_wanted(NULL, SPOOL_NOTIFY_FAILURE));
	assert_false(dsn_wanted("", SPOOL_NOTIFY_FAILURE));
	assert_true(dsn_wanted("a@b.test", 0)); /* default: on failure */
	assert_true(dsn_wanted("a@b.test", SPOOL_NOTIFY_FAILURE | SPOOL_NOTIFY_DELAY));
	assert_false(dsn_wanted("a@b.test", SPOOL_NOTIFY_NEVER));
	assert_false(dsn_wanted("a@b.test", SPOOL_NOTIFY_SUCCESS));
	assert_false(dsn_wanted("a@b.test", SPOOL_NOTIFY_DELAY));
}

static void test_status(void **state)
{
	char st[16];
	(void)state;
	assert_string_equal(dsn_status("550 5.1.1 <x@y>: User unknown", st), "5.1.1");
	assert_string_equal(dsn_status("552 5.2.2", st), "5.2.2");
	assert_string_equal(dsn_status("554 5.123.456 text", st), "5.123.456");
	assert_string_equal(dsn_status("550 User unknown", st), "5.0.0");
	assert_string_equal(dsn_status("550 4.1.1 class differs", st), "5.0.0");
	assert_string_equal(dsn_status("550 5.1 short", st), "5.0.0");
	assert_string_equal(dsn_status("550 5.1.1234 long", st), "5.0.0");
	assert_string_equal(dsn_status("451 4.3.0 later", st), "4.3.0");
	assert_string_equal(dsn_status("lost session with hop", st), "4.0.0");
	assert_string_equal(dsn_status("", st), "4.0.0");
	assert_string_equal(dsn_status(NULL, st), "4.0.0");
}

static void test_envid(void **state)
{
	char buf[16];
	(void)state;
	assert_string_equal(dsn_envid("BODY=8BITMIME ENVID=abc RET=HDRS", buf, sizeof(buf)), "abc");
	assert_string_equal(dsn_envid("envid=Q+2Bx", buf, sizeof(buf)), "Q+2Bx");
	assert_null(dsn_envid("BODY=8BITMIME", buf, sizeof(buf)));
	assert_null(dsn_envid(NULL, buf, sizeof(buf)));
	assert_null(dsn_envid("ENVID=0123456789abcdefghij", buf, sizeof(buf)));
}

static const char orig_hdr[] =
	"Received: from client.example.test ([192.0.2.7])\r\n"
	"\tby mx.example.test with ESMTP id X; Tue, 1 Jan 2030 00:00:00 +0000\r\n"
	"From: Alice <alice@example.test>\r\n"
	"Subject: caf\xc3\xa9 menu\r\n"
	"\r\n"
	"body must not appear\r\n";

/* Every line CRLF, at most 998 octets, 7-bit and printable (tab aside). */
static void check_lines(const char *m, size_t len)
{
	size_t line = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)m[i];

		if (c == '\n') {
			assert_true(i > 0 && m[i - 1] == '\r');
			assert_true(line <= 999); /* 998 + the CR */
			line = 0;
			continue;
		}
		if (c == '\r')
			assert_true(i + 1 < len && m[i + 1] == '\n');
		else
			assert_true((c >= 0x20 && c < 0x7f) || c == '\t');
		line++;
	}
	assert_int_equal(line, 0); /* ends with CRLF */
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_build(void **state)
{
	char longreply[3000];
	const struct dsn_rcpt rc[2] = {
		{.addr = "bob@example.test",
		 .orcpt = "rfc822;bob@example.test",
		 .reply = "550 5.1.1 <bob@example.test>: Recipient address rejected: User unknown",
		 .remote_mta = "mail.internal.test",
		 .last_attempt_us = 1900000000000000ULL},
		{.addr = "carol@example.test",
		 .status = "4.4.7",
		 .reply = longreply,
		 .last_attempt_us = 1900000000000000ULL},
	};
	struct dsn_info d = {
		.reporting_mta = "mx.example.test",
		.sender = "alice@example.test",
		.envid = "QQ314159",
		.qid = "0123456789ABCDEFGHJKMNPQRS",
		.arrival_us = 1899990000000000ULL,
		.now_us = 1900000001000000ULL,
		.rcpt = rc,
		.nrcpt = 2,
	};
	size_t len = 0;
	char *m;
	(void)state;

	/* a reply trying to add a header and a boundary of its own */
	memset(longreply, 'x', sizeof(longreply) - 1);
	longreply[sizeof(longreply) - 1] = 0;
	memcpy(longreply, "451 4.4.1 ok\r\nBcc: evil@x.test\r\n--", 34);
	m = dsn_build(&d, (const uint8_t *)orig_hdr, sizeof(orig_hdr) - 1, &len);
	assert_non_null(m);
	assert_int_equal(strlen(m), len);
	check_lines(m, len);
	assert_non_null(
		strstr(m, "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\r\n"));
	assert_non_null(strstr(m, "\r\nTo: <alice@example.test>\r\n"));
	assert_non_null(strstr(m, "\r\nAuto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(m, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(
		strstr(m, "Content-Type: multipart/report; report-type=delivery-status;\r\n"));
	assert_non_null(strstr(m, "\r\nContent-Type: message/delivery-status\r\n\r\n"
				  "Reporting-MTA: dns; mx.example.test\r\n"));
	assert_non_null(strstr(m, "\r\nOriginal-Envelope-Id: QQ314159\r\n"));
	assert_non_null(strstr(m, "\r\nArrival-Date: "));
	assert_non_null(strstr(m, "\r\n\r\nFinal-Recipient: rfc822; bob@example.test\r\n"
				  "Original-Recipient: rfc822;bob@example.test\r\n"
				  "Action: failed\r\n"
				  "Status: 5.1.1\r\n"
				  "Remote-MTA: dns; mail.internal.test\r\n"
				  "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.test>: Recipient "
				  "address rejected: User unknown\r\n"
				  "Last-Attempt-Date: "));
	assert_non_null(strstr(m, "\r\n\r\nFinal-Recipient: rfc822; carol@example.test\r\n"
				  "Action: failed\r\n"
				  "Status: 4.4.7\r\n"
				  "Diagnostic-Code: smtp; 451 4.4.1 ok?"
				  "?Bcc: evil@x.test?"
				  "?--xxx"));
	assert_null(strstr(m, "\r\nBcc:"));
	/* the original header, cleaned, without its body */
	assert_non_null(strstr(m, "Content-Type: text/rfc822-headers\r\n\r\n"
				  "Received: from client.example.test ([192.0.2.7])\r\n"));
	assert_non_null(strstr(m, "\r\nSubject: caf?"
				  "? menu\r\n"));
	assert_null(strstr(m, "body must not appear"));
	/* three parts: the boundary opens each and closes the report */
	assert_int_equal(
		count(m, "\r\n--0123456789ABCDEFGHJKMNPQRS.1900000001000000/mx.example.test\r\n"),
		3);
	assert_int_equal(
		count(m, "\r\n--0123456789ABCDEFGHJKMNPQRS.1900000001000000/mx.example.test--\r\n"),
		1);
	free(m);

	/* expiry wording; no header given */
	d.expired = true;
	d.envid = NULL;
	m = dsn_build(&d, NULL, 0, &len);
	assert_non_null(m);
	check_lines(m, len);
	assert_non_null(strstr(m, "Subject: Undelivered Mail: delivery time expired\r\n"));
	assert_null(strstr(m, "Original-Envelope-Id"));
	free(m);

	/* never for the null sender, never without a recipient */
	d.sender = "";
	errno = 0;
	assert_null(dsn_build(&d, NULL, 0, &len));
	assert_int_equal(errno, EINVAL);
	d.sender = "alice@example.test";
	d.nrcpt = 0;
	assert_null(dsn_build(&d, NULL, 0, &len));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wanted),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_envid),
		cmocka_unit_test(test_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
