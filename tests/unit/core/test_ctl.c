/*
 * test_ctl.c - the ctl socket server (ctl/ctl.c) on the control loop, in
 * one thread: the test's clients are plain blocking sockets and the test
 * turns the loop between their steps. A line split over several writes,
 * a line ended by EOF, an over-long line, two clients interleaved, a large
 * answer its client does not read while another client is served, the
 * client limit, and a deferred answer (ctl_defer/ctl_complete, abandon at
 * ctl_close). The deadlines (10 s) are covered by int-ctl-concurrent.
 *
 * It lives with core's tests because it tests ctl.c over core/loop.c and
 * needs nothing else (no EAL, no daemon).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"
#include "ctl/ctl.h"

#define BIG_LEN (4u << 20) /* far more than a socket buffer */

static char dir[48], path[96];

/* ---- test commands ---- */

static void cmd_big(struct ctl_out *o, int argc, char **argv)
{
	static char chunk[4096];
	(void)argc;
	(void)argv;
	memset(chunk, 'b', sizeof(chunk) - 1);
	for (unsigned i = 0; i < BIG_LEN / (sizeof(chunk) - 1); i++)
		ctl_printf(o, "%s", chunk);
}

static struct ctl_client *later_h;
static struct ctl_out *later_o;
static int abandoned;

static void on_abandon(void *arg)
{
	assert_ptr_equal(arg, &later_h);
	abandoned++;
	later_h = NULL;
	later_o = NULL;
}

static void cmd_later(struct ctl_out *o, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	later_h = ctl_defer(o, on_abandon, &later_h);
	if (!later_h) {
		ctl_error(o, "cannot answer later here");
		return;
	}
	later_o = o;
	ctl_printf(o, "started\n");
}

static const struct ctl_cmd big_cmd = {.words = {"big"}, .help = "4 MiB", .fn = cmd_big};
static const struct ctl_cmd later_cmd = {
	.words = {"later"}, .help = "answers later", .fn = cmd_later};

/* ---- helpers ---- */

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_ctl.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	if (mx_loop_init() != 0)
		return -1;
	return ctl_open(path, getuid(), getgid());
}

static int teardown(void **state)
{
	(void)state;
	ctl_close();
	mx_loop_fini();
	rmdir(dir);
	return 0;
}

static void turn(int rounds)
{
	for (int i = 0; i < rounds; i++)
		assert_true(mx_loop_run_once(1) >= 0);
}

static int client(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void say(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Turn the loop and read until the server closes (about 5 s at most).
 * Returns a malloc'ed NUL-terminated answer; *len its length. */
static char *answer(int fd, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);

	assert_non_null(buf);
	for (int i = 0; i < 5000; i++) {
		ssize_t r;
		turn(1);
		for (;;) {
			if (cap - n < 65536) {
				cap *= 2;
				buf = realloc(buf, cap);
				assert_non_null(buf);
			}
			r = recv(fd, buf + n, cap - n - 1, MSG_DONTWAIT);
			if (r <= 0)
				break;
			n += (size_t)r;
		}
		/* A server that closes with input unread resets the socket. */
		if (r == 0 || (r < 0 && errno == ECONNRESET)) {
			buf[n] = '\0';
			if (len)
				*len = n;
			close(fd);
			return buf;
		}
		assert_true(errno == EAGAIN);
	}
	fail_msg("no end of answer within 5000 rounds (%zu bytes so far)", n);
	return NULL;
}

/* Nothing to read yet, and not closed. */
static void no_answer_yet(int fd)
{
	char c;
	ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
	assert_int_equal(r, -1);
	assert_int_equal(errno, EAGAIN);
}

/* ---- tests ---- */

static void test_split_line(void **state)
{
	int fd = client();
	char *a;
	(void)state;

	say(fd, "he");
	turn(5);
	no_answer_yet(fd);
	say(fd, "l");
	turn(5);
	say(fd, "p\nignored after the line");
	a = answer(fd, NULL);
	assert_non_null(strstr(a, "mxgate control commands:"));
	assert_non_null(strstr(a, "answers later"));
	free(a);
}

static void test_eof_ends_line(void **state)
{
	int fd = client();
	char *a;
	(void)state;

	say(fd, "nosuch");
	shutdown(fd, SHUT_WR);
	a = answer(fd, NULL);
	assert_string_equal(a, "error: unknown command 'nosuch' (try 'help')\n");
	free(a);
}

static void test_line_too_long(void **state)
{
	static char line[5000];
	int fd = client();
	char *a;
	(void)state;

	memset(line, 'x', sizeof(line) - 1);
	/* The server reads 4095 bytes and answers; the rest stays unread. */
	say(fd, line);
	a = answer(fd, NULL);
	assert_string_equal(a, "error: command line longer than 4095 bytes\n");
	free(a);
}

static void test_interleaved_clients(void **state)
{
	int a = client(), b = client();
	char *r;
	(void)state;

	say(a, "hel");
	turn(5);
	say(b, "nosuch\n");
	r = answer(b, NULL);
	assert_string_equal(r, "error: unknown command 'nosuch' (try 'help')\n");
	free(r);
	no_answer_yet(a);
	say(a, "p\n");
	r = answer(a, NULL);
	assert_non_null(strstr(r, "mxgate control commands:"));
	free(r);
}

static void test_unread_big_answer(void **state)
{
	int big = client(), other;
	size_t len;
	char *r;
	(void)state;

	say(big, "big\n");
	turn(20); /* the server fills the socket buffer, then waits */
	other = client();
	say(other, "help\n");
	r = answer(other, NULL);
	assert_non_null(strstr(r, "mxgate control commands:"));
	free(r);
	r = answer(big, &len);
	assert_int_equal(len, BIG_LEN / 4095 * 4095);
	assert_int_equal(strspn(r, "b"), len);
	free(r);
}

static void test_client_limit(void **state)
{
	int fds[CTL_MAX_CLIENTS], extra;
	char *r;
	(void)state;

	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		fds[i] = client();
		turn(1);
	}
	turn(5);
	extra = client();
	r = answer(extra, NULL);
	assert_string_equal(r, "error: too many ctl clients connected, try again later\n");
	free(r);
	/* One leaves (the server sees EOF and answers nobody): room again. */
	close(fds[0]);
	turn(5);
	extra = client();
	say(extra, "help\n");
	r = answer(extra, NULL);
	assert_non_null(strstr(r, "mxgate control commands:"));
	free(r);
	for (int i = 1; i < CTL_MAX_CLIENTS; i++)
		close(fds[i]);
	turn(5);
}

static void test_deferred_answer(void **state)
{
	int fd = client(), other;
	struct ctl_out o = {0};
	char line[] = "later";
	char *r;
	(void)state;

	/* Outside a socket client nothing can be deferred. */
	ctl_run_line(&o, line, true);
	assert_true(o.failed);
	assert_null(later_h);
	free(o.buf);

	say(fd, "later\n");
	turn(5);
	assert_non_null(later_h);
	no_answer_yet(fd);
	/* Others are served meanwhile. */
	other = client();
	say(other, "help\n");
	r = answer(other, NULL);
	assert_non_null(strstr(r, "mxgate control commands:"));
	free(r);
	no_answer_yet(fd);
	ctl_printf(later_o, "done\n");
	ctl_complete(later_h);
	later_h = NULL;
	r = answer(fd, NULL);
	assert_string_equal(r, "started\ndone\n");
	free(r);
	assert_int_equal(abandoned, 0);

	/* Still deferred at ctl_close(): abandoned, the client closed. */
	fd = client();
	say(fd, "later\n");
	turn(5);
	assert_non_null(later_h);
	ctl_close();
	assert_int_equal(abandoned, 1);
	assert_null(later_h);
	r = answer(fd, NULL);
	assert_string_equal(r, "");
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_split_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_ends_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interleaved_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unread_big_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_answer, setup, teardown),
	};

	ctl_register(&big_cmd);
	ctl_register(&later_cmd);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
