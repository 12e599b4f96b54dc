/*
 * test_conn_table.c - the table of live connections that outlives the
 * process (dataplane/conn_table.h): what one incarnation leaves is what
 * the next reads back, a fresh table is empty, and a foreign, short or
 * damaged file yields nothing wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include "dataplane/conn_table.h"

static char path[64];

static int setup(void **state)
{
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/mx-conn-table-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	unlink(path); /* the table creates it */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static struct tcp_key key4(uint16_t rport, uint8_t last)
{
	struct tcp_key k = {.family = TCP_AF_INET, .lport = 25, .rport = rport};

	k.laddr[0] = 198, k.laddr[1] = 18, k.laddr[3] = 2;
	k.raddr[0] = 198, k.raddr[1] = 18, k.raddr[3] = last;
	return k;
}

static void test_roundtrip(void **state)
{
	struct tcp_key *old, a = key4(40000, 1), b = key4(40001, 7), c = key4(40002, 9);
	size_t nold;
	struct dp_conn_table *t;

	(void)state;
	t = dp_conn_table_open(path, 2, 16, &old, &nold);
	assert_non_null(t);
	assert_int_equal(nold, 0); /* a new file */
	dp_conn_table_set(t, 0, 3, &a);
	dp_conn_table_set(t, 1, 15, &b);
	dp_conn_table_set(t, 1, 4, &c);
	dp_conn_table_set(t, 1, 4, NULL); /* closed again */
	dp_conn_table_set(t, 2, 0, &c);	  /* no such worker: ignored */
	dp_conn_table_set(t, 0, 16, &c);  /* no such slot: ignored */
	assert_int_equal(dp_conn_table_count(t, 0), 1);
	assert_int_equal(dp_conn_table_count(t, 1), 1);
	/* a crash: no clear, the file keeps what was live */
	dp_conn_table_close(t, 0);

	/* the next incarnation, with another shape, reads both back */
	t = dp_conn_table_open(path, 1, 8, &old, &nold);
	assert_non_null(t);
	assert_int_equal(nold, 2);
	assert_memory_equal(&old[0], &a, sizeof(a));
	assert_memory_equal(&old[1], &b, sizeof(b));
	free(old);
	/* and starts empty */
	assert_int_equal(dp_conn_table_count(t, 0), 0);
	dp_conn_table_close(t, 1);
	t = dp_conn_table_open(path, 1, 8, &old, &nold);
	assert_non_null(t);
	assert_int_equal(nold, 0); /* cleared at a clean close */
	dp_conn_table_close(t, 0);
}

static void write_file(const void *p, size_t n)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void test_foreign_and_damaged(void **state)
{
	struct tcp_key *old, a = key4(40000, 1);
	size_t nold;
	struct dp_conn_table *t;
	char junk[4096];
	uint32_t hdr[8] = {DP_CONN_TABLE_MAGIC, DP_CONN_TABLE_VERSION, 0xffffffffu, 0xffffffffu};

	(void)state;
	memset(junk, 'x', sizeof(junk));
	write_file(junk, sizeof(junk)); /* not ours */
	t = dp_conn_table_open(path, 1, 4, &old, &nold);
	assert_non_null(t);
	assert_int_equal(nold, 0);
	dp_conn_table_close(t, 0);

	write_file(hdr, sizeof(hdr)); /* ours, with absurd sizes */
	t = dp_conn_table_open(path, 1, 4, &old, &nold);
	assert_non_null(t);
	assert_int_equal(nold, 0);
	dp_conn_table_set(t, 0, 1, &a);
	dp_conn_table_close(t, 0);

	/* cut in the middle of the slot that holds the entry: nothing read */
	assert_int_equal(truncate(path, 32 + 48 + 20), 0);
	t = dp_conn_table_open(path, 1, 4, &old, &nold);
	assert_non_null(t);
	assert_int_equal(nold, 0);
	dp_conn_table_close(t, 0);

	/* a symlink is never followed */
	unlink(path);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_null(dp_conn_table_open(path, 1, 4, &old, &nold));
	assert_int_equal(errno, ELOOP);
	assert_null(dp_conn_table_open(path, 0, 4, &old, &nold));
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_and_damaged, setup, teardown),
	};

	return cmocka_run_group_tests_name("conn_table", tests, NULL, NULL);
}
