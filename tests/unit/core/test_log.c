/*
 * test_log.c - [log] format = json (core/log.c): each line one object
 * with the fields operators query (worker, event, KEY=VALUE fields, qids
 * as a list, qid), escaping that keeps it valid, and the text format
 * unchanged. Lines are captured by pointing stderr at a temporary file.
 * [log] syslog: lines reach a unix datagram socket of the test's own
 * ([log] syslog_socket) as syslog(3) formats them (facility mail), also
 * after that "syslogd" restarted on the same path.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"

#define QID "01M91RYK9Z0000000002994C7A"

/* Log @msg (worker-style, straight to the sink) and return what was
 * written to stderr. */
static const char *capture(const char *msg)
{
	static char out[32768];
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(tmp);
	assert_true(saved >= 0);
	dup2(fileno(tmp), STDERR_FILENO);
	mx_log_stderr(MX_LOG_INFO, msg, strlen(msg));
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, sizeof(out) - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return out;
}

static void has(const char *line, const char *want)
{
	if (strstr(line, want))
		return;
	/* fputs, not a %s format: GCC under -fsanitize flags the format's
	 * arguments as possibly null here (a false -Wformat-overflow). */
	fputs("'", stderr);
	fputs(want, stderr);
	fputs("' not in ", stderr);
	fputs(line, stderr);
	fputs("\n", stderr);
	fail();
}

static void test_session_line(void **state)
{
	const char *l;

	(void)state;
	mx_log_json = 1;
	l = capture("worker 3: smtp client=192.0.2.1 helo=a.test from=<s@x.test> rcpts=2 "
		    "result=accepted duration_ms=12 session=3-9 qids=" QID
		    ",01M91RYK9Z0000000002994C7B");
	has(l, "{\"ts\":\"");
	has(l, "\"level\":\"info\"");
	has(l, "\"worker\":3,");
	has(l, "\"event\":\"smtp\"");
	has(l, "\"client\":\"192.0.2.1\"");
	has(l, "\"from\":\"<s@x.test>\"");
	has(l, "\"rcpts\":2,");
	has(l, "\"session\":\"3-9\"");
	has(l, "\"qids\":[\"" QID "\",\"01M91RYK9Z0000000002994C7B\"]");
	has(l, "\"msg\":\"smtp client=192.0.2.1 ");
	assert_int_equal(l[strlen(l) - 1], '\n');
	assert_int_equal(strchr(l, '\n') - l, (long)strlen(l) - 1); /* one line */
	mx_log_json = 0;
}

static void test_queue_event_and_escapes(void **state)
{
	const char *l;

	(void)state;
	mx_log_json = 1;
	l = capture("relay: " QID ": 1 recipient(s) deferred: \"451\" \\ \x01");
	has(l, "\"event\":\"relay\"");
	has(l, "\"qid\":\"" QID "\"");
	has(l, "\\\"451\\\" \\\\ \\u0001");
	/* Keys must be lower-case words: "A=b" and "=x" stay text only. */
	l = capture("ctl: A=b =x level=9 msg=1 ok=yes");
	has(l, "\"ok\":\"yes\"");
	assert_null(strstr(l, "\"A\""));
	assert_null(strstr(l, "\"level\":9"));
	mx_log_json = 0;
}

static void test_long_line_stays_valid(void **state)
{
	char msg[1024];
	const char *l;

	(void)state;
	memset(msg, 1, sizeof(msg) - 1); /* every octet escaped to \u0001 */
	msg[sizeof(msg) - 1] = '\0';
	mx_log_json = 1;
	l = capture(msg);
	assert_int_equal(l[0], '{');
	assert_int_equal(l[strlen(l) - 2], '}');
	mx_log_json = 0;
}

static void test_text_unchanged(void **state)
{
	const char *l;

	(void)state;
	l = capture("smtp client=192.0.2.1");
	has(l, "Z mxgate[");
	has(l, "] info: smtp client=192.0.2.1\n");
}

/* A "syslogd": a datagram socket bound at @path (replacing a stale one). */
static int syslogd(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 2};
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static const char *received(int fd)
{
	static char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	assert_true(n > 0);
	buf[n] = '\0';
	return buf;
}

static void test_syslog_socket(void **state)
{
	char dir[] = "/tmp/mx-syslog.XXXXXX", path[128], want[64];
	const char *got;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dev-log", dir);
	fd = syslogd(path);
	assert_int_equal(mx_log_open_syslog(path), 0);
	capture("worker 0: smtp client=198.18.0.1 result=accepted");
	got = received(fd);
	/* <22>: facility mail (2 << 3) | info (6); then "Mmm dd hh:mm:ss". */
	assert_memory_equal(got, "<22>", 4);
	snprintf(want, sizeof(want), " mxgate[%d]: worker 0: smtp client=", (int)getpid());
	has(got, want);
	assert_null(strchr(got, '\n'));
	mx_log_stderr(MX_LOG_ERR, "disk on fire", 12);
	has(received(fd), "<19>"); /* mail | err */
	/* syslogd restarts: a new socket on the same path; lines still come. */
	close(fd);
	fd = syslogd(path);
	mx_log_stderr(MX_LOG_NOTICE, "after the restart", 17);
	got = received(fd);
	assert_memory_equal(got, "<21>", 4);
	has(got, "mxgate[");
	has(got, "]: after the restart");
	close(fd);
	unlink(path);
	rmdir(dir);
	assert_int_equal(
		mx_log_open_syslog("/tmp/a-path-far-longer-than-a-unix-socket-address-may-be/"
				   "0123456789012345678901234567890123456789012345678901234"),
		-ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session_line),
		cmocka_unit_test(test_queue_event_and_escapes),
		cmocka_unit_test(test_long_line_stays_valid),
		cmocka_unit_test(test_text_unchanged),
		cmocka_unit_test(test_syslog_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
