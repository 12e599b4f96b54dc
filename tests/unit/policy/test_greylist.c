/*
 * test_greylist.c - the greylist table on a fake clock: every timing rule
 * (delay, window, expiry, refresh, auto-whitelist), the key (network,
 * case, null sender, SPF domain), the ager and its eviction order, the
 * control commands, two workers racing on one key, and the snapshot
 * (save/load, a truncated and a corrupted file: loaded up to the damage).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <urcu-qsbr.h>

#include "policy/greylist.h"

#define T0  1800000000u /* a fixed wall clock */
#define DAY 86400u

static const struct grey_conf defconf = {
	.delay_s = 300,
	.window_s = 2 * DAY,
	.max_age_s = 35 * DAY,
	.awl_passes = 5,
	.v4_prefix = 24,
	.v6_prefix = 64,
	.max_entries = 1000,
};

static struct grey_table *mk(const struct grey_conf *c, unsigned workers)
{
	struct grey_table *g = grey_create(c ? c : &defconf, workers);

	assert_non_null(g);
	return g;
}

static void fin(struct grey_table *g)
{
	rcu_thread_offline();
	grey_destroy(g);
	rcu_thread_online();
}

static struct grey_query q4(const char *ip, const char *from, const char *rcpt)
{
	struct grey_query q = {.family = 4, .sender = from, .rcpt = rcpt, .helo = "mx.example.net"};

	inet_pton(AF_INET, ip, q.addr);
	return q;
}

static enum grey_verdict check(struct grey_table *g, const struct grey_query *q, uint32_t now)
{
	struct grey_result r;

	grey_check(g, 0, q, now, &r);
	return r.verdict;
}

static void test_delay_and_window(void **st)
{
	struct grey_table *g = mk(NULL, 2);
	struct grey_query q = q4("198.18.5.7", "a@example.org", "u@example.com");
	struct grey_result r;

	(void)st;
	grey_check(g, 0, &q, T0, &r);
	assert_int_equal(r.verdict, GREY_DEFER_NEW);
	assert_int_equal(r.wait_s, 300);
	grey_check(g, 0, &q, T0 + 299, &r);
	assert_int_equal(r.verdict, GREY_DEFER_EARLY);
	assert_int_equal(r.wait_s, 1);
	/* The early retry did not restart the delay. */
	assert_int_equal(check(g, &q, T0 + 300), GREY_PASS_RETRY);
	assert_int_equal(check(g, &q, T0 + 301), GREY_PASS_KNOWN);
	/* Another address of the same /24 is the same key. */
	q = q4("198.18.5.200", "A@Example.ORG", "U@example.com");
	assert_int_equal(check(g, &q, T0 + 302), GREY_PASS_KNOWN);
	/* Another /24 is not. */
	q = q4("198.18.6.1", "a@example.org", "u@example.com");
	assert_int_equal(check(g, &q, T0 + 303), GREY_DEFER_NEW);
	fin(g);
}

static void test_window_restart(void **st)
{
	struct grey_table *g = mk(NULL, 1);
	struct grey_query q = q4("198.18.5.7", "a@example.org", "u@example.com");

	(void)st;
	assert_int_equal(check(g, &q, T0), GREY_DEFER_NEW);
	/* Last second of the window passes ... */
	assert_int_equal(check(g, &q, T0 + 2 * DAY), GREY_PASS_RETRY);
	/* ... one second later is a new key (second key). */
	q.rcpt = "v@example.com";
	assert_int_equal(check(g, &q, T0), GREY_DEFER_NEW);
	assert_int_equal(check(g, &q, T0 + 2 * DAY + 1), GREY_DEFER_NEW);
	assert_int_equal(check(g, &q, T0 + 2 * DAY + 100), GREY_DEFER_EARLY);
	assert_int_equal(check(g, &q, T0 + 2 * DAY + 301), GREY_PASS_RETRY);
	fin(g);
}

static void test_expiry_and_refresh(void **st)
{
	struct grey_table *g = mk(NULL, 1);
	struct grey_query q = q4("198.18.5.7", "a@example.org", "u@example.com");
	uint32_t t;

	(void)st;
	check(g, &q, T0);
	assert_int_equal(check(g, &q, T0 + 400), GREY_PASS_RETRY);
	/* Used every 30 days: refreshed, stays passed. */
	for (t = T0 + 400 + 30 * DAY; t < T0 + 200 * DAY; t += 30 * DAY)
		assert_int_equal(check(g, &q, t), GREY_PASS_KNOWN);
	t -= 30 * DAY;
	/* 35 days of silence: still passes; one second more: new key. */
	assert_int_equal(check(g, &q, t + 35 * DAY), GREY_PASS_KNOWN);
	t += 35 * DAY;
	assert_int_equal(check(g, &q, t + 35 * DAY + 1), GREY_DEFER_NEW);
	fin(g);
}

static void test_auto_whitelist(void **st)
{
	struct grey_table *g = mk(NULL, 1);
	char rcpt[32];
	struct grey_query q;

	(void)st;
	for (int i = 0; i < 5; i++) {
		snprintf(rcpt, sizeof(rcpt), "u%d@example.com", i);
		q = q4("198.18.5.7", "a@example.org", rcpt);
		assert_int_equal(check(g, &q, T0 + i), GREY_DEFER_NEW);
		assert_int_equal(check(g, &q, T0 + 400 + i), GREY_PASS_RETRY);
		/* Passing a known key again does not count (the 5th pass
		 * whitelisted the network, which is looked at first). */
		assert_int_equal(check(g, &q, T0 + 500 + i),
				 i < 4 ? GREY_PASS_KNOWN : GREY_PASS_AWL);
	}
	/* Five passes: anything from the /24 passes, even a new sender. */
	q = q4("198.18.5.99", "new@else.example", "z@example.com");
	assert_int_equal(check(g, &q, T0 + 1000), GREY_PASS_AWL);
	/* Not another network. */
	q = q4("198.18.9.1", "new@else.example", "z@example.com");
	assert_int_equal(check(g, &q, T0 + 1000), GREY_DEFER_NEW);
	/* Whitelisting lasts max_age after the last use. */
	q = q4("198.18.5.1", "x@y.example", "z@example.com");
	assert_int_equal(check(g, &q, T0 + 1000 + 35 * DAY), GREY_PASS_AWL);
	assert_int_equal(check(g, &q, T0 + 1001 + 70 * DAY), GREY_DEFER_NEW);
	fin(g);
}

static void test_four_passes_not_enough(void **st)
{
	struct grey_table *g = mk(NULL, 1);
	char rcpt[32];
	struct grey_query q;

	(void)st;
	for (int i = 0; i < 4; i++) {
		snprintf(rcpt, sizeof(rcpt), "u%d@example.com", i);
		q = q4("198.18.5.7", "a@example.org", rcpt);
		check(g, &q, T0);
		assert_int_equal(check(g, &q, T0 + 400), GREY_PASS_RETRY);
	}
	q = q4("198.18.5.7", "a@example.org", "other@example.com");
	assert_int_equal(check(g, &q, T0 + 500), GREY_DEFER_NEW);
	fin(g);
}

static void test_keys(void **st)
{
	struct grey_table *g = mk(NULL, 1);
	struct grey_query q = q4("198.18.5.7", "", "U@Example.com");
	struct grey_query q6 = {.family = 6, .sender = "a@b.example", .rcpt = "c@d.example"};
	char buf[GREY_KEY_MAX];

	(void)st;
	assert_true(grey_key_text(g, &q, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "198.18.5.0/24 <>mx.example.net u@example.com");
	/* The null sender keys on the HELO name. */
	assert_int_equal(check(g, &q, T0), GREY_DEFER_NEW);
	q.helo = "other.example.net";
	assert_int_equal(check(g, &q, T0 + 400), GREY_DEFER_NEW);
	inet_pton(AF_INET6, "2001:db8:1:2:3:4:5:6", q6.addr);
	assert_true(grey_key_text(g, &q6, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "2001:db8:1:2::/64 a@b.example c@d.example");
	/* SPF pass: the domain replaces the network. */
	q = q4("198.18.5.7", "bounce@Pool.example", "u@example.com");
	q.spf_domain = "Pool.example";
	assert_true(grey_key_text(g, &q, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "spf:pool.example bounce@pool.example u@example.com");
	assert_int_equal(check(g, &q, T0), GREY_DEFER_NEW);
	q = q4("203.0.113.9", "bounce@pool.example", "u@example.com");
	q.spf_domain = "pool.example";
	assert_int_equal(check(g, &q, T0 + 300), GREY_PASS_RETRY);
	/* Without SPF the other network is a new key. */
	q.spf_domain = NULL;
	assert_int_equal(check(g, &q, T0 + 301), GREY_DEFER_NEW);
	/* A configurable prefix. */
	{
		struct grey_conf c = defconf;
		c.v4_prefix = 16;
		grey_set_conf(g, &c);
		q = q4("198.18.77.7", "", "x@y");
		assert_true(grey_key_text(g, &q, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, "198.18.0.0/16 <>mx.example.net x@y");
	}
	fin(g);
}

static void test_age(void **st)
{
	struct grey_conf c = defconf;
	struct grey_table *g;
	struct grey_query a = q4("198.18.1.1", "a@x", "u@y"), b = q4("198.18.2.1", "b@x", "u@y");
	uint64_t ev;

	(void)st;
	c.awl_passes = 0;
	g = mk(&c, 2);
	check(g, &a, T0);
	check(g, &b, T0);
	check(g, &b, T0 + 400); /* b passed */
	assert_int_equal(grey_entries(g), 2);
	assert_int_equal(grey_age(g, T0 + 2 * DAY), 0);
	/* The unpassed key goes after the window, the passed after max age. */
	assert_int_equal(grey_age(g, T0 + 2 * DAY + 1), 1);
	assert_int_equal(grey_entries(g), 1);
	assert_int_equal(grey_age(g, T0 + 400 + 35 * DAY + 1), 1);
	assert_int_equal(grey_entries(g), 0);
	assert_int_equal(grey_retired(g, &ev), 2);
	assert_int_equal(ev, 0);
	/* Retired entries come back to their pool after a grace period. */
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
	assert_int_equal(check(g, &a, T0 + 100 * DAY), GREY_DEFER_NEW);
	fin(g);
}

static void test_evict_oldest_unpassed(void **st)
{
	struct grey_conf c = defconf;
	struct grey_table *g;
	struct grey_query q;
	char rcpt[32];
	uint64_t ev;

	(void)st;
	c.max_entries = 100;
	c.awl_passes = 0;
	g = mk(&c, 1);
	/* 10 passed keys, first seen long ago; then 85 unpassed, oldest first. */
	for (int i = 0; i < 10; i++) {
		snprintf(rcpt, sizeof(rcpt), "p%d@y", i);
		q = q4("198.18.1.1", "a@x", rcpt);
		check(g, &q, T0);
		assert_int_equal(check(g, &q, T0 + 400), GREY_PASS_RETRY);
	}
	for (int i = 0; i < 85; i++) {
		snprintf(rcpt, sizeof(rcpt), "n%d@y", i);
		q = q4("198.18.1.1", "a@x", rcpt);
		check(g, &q, T0 + 1000 + (uint32_t)i * 1000);
	}
	assert_int_equal(grey_entries(g), 95);
	/* Above 90%: down to 80, unpassed oldest first, passed kept. */
	grey_age(g, T0 + 90000);
	assert_true(grey_entries(g) <= 80);
	assert_true(grey_entries(g) >= 70);
	grey_retired(g, &ev);
	assert_true(ev >= 15);
	for (int i = 0; i < 10; i++) {
		snprintf(rcpt, sizeof(rcpt), "p%d@y", i);
		q = q4("198.18.1.1", "a@x", rcpt);
		assert_int_equal(check(g, &q, T0 + 90001), GREY_PASS_KNOWN);
	}
	q = q4("198.18.1.1", "a@x", "n84@y"); /* the newest stays */
	assert_int_equal(check(g, &q, T0 + 90001), GREY_PASS_RETRY);
	q = q4("198.18.1.1", "a@x", "n0@y"); /* the oldest went */
	assert_int_equal(check(g, &q, T0 + 90001), GREY_DEFER_NEW);
	fin(g);
}

static void test_pool_full_fails_open(void **st)
{
	struct grey_conf c = defconf;
	struct grey_table *g;
	struct grey_query q;
	char rcpt[32];
	struct grey_counters ctr;

	(void)st;
	c.max_entries = 8;
	c.awl_passes = 0;
	g = mk(&c, 1);
	for (int i = 0; i < 8; i++) {
		snprintf(rcpt, sizeof(rcpt), "u%d@y", i);
		q = q4("198.18.1.1", "a@x", rcpt);
		assert_int_equal(check(g, &q, T0), GREY_DEFER_NEW);
	}
	q = q4("198.18.1.1", "a@x", "more@y");
	assert_int_equal(check(g, &q, T0), GREY_PASS_FULL);
	grey_counters_read(g, 0, &ctr);
	assert_int_equal(ctr.defer_new, 8);
	assert_int_equal(ctr.pass_full, 1);
	fin(g);
}

struct walk_acc {
	int n;
	char last[GREY_TEXT_MAX];
	uint64_t h[2];
};

static int walk_fn(void *arg, const struct grey_info *e)
{
	struct walk_acc *a = arg;

	a->n++;
	snprintf(a->last, sizeof(a->last), "%s", e->text);
	a->h[0] = e->h[0];
	a->h[1] = e->h[1];
	return 0;
}

static void test_ctl_pass_delete(void **st)
{
	struct grey_table *g = mk(NULL, 1);
	struct grey_query q = q4("198.18.1.1", "a@x", "u@y");
	struct walk_acc acc = {0};
	char dig[40];

	(void)st;
	assert_int_equal(grey_pass_key(g, "198.18.1.0/24 a@x u@y", T0), 0);
	assert_int_equal(check(g, &q, T0 + 1), GREY_PASS_KNOWN);
	assert_int_equal(grey_delete_key(g, "198.18.1.0/24 a@x u@y"), 0);
	assert_int_equal(grey_delete_key(g, "198.18.1.0/24 a@x u@y"), -ENOENT);
	assert_int_equal(check(g, &q, T0 + 2), GREY_DEFER_NEW);
	assert_int_equal(grey_walk(g, walk_fn, &acc), 1);
	assert_string_equal(acc.last, "198.18.1.0/24 a@x u@y");
	snprintf(dig, sizeof(dig), "#%016llx%016llx", (unsigned long long)acc.h[0],
		 (unsigned long long)acc.h[1]);
	assert_int_equal(grey_pass_key(g, dig, T0 + 3), 0);
	assert_int_equal(check(g, &q, T0 + 4), GREY_PASS_KNOWN);
	assert_int_equal(grey_pass_key(g, "#0123", T0), -EINVAL);
	assert_int_equal(grey_delete_key(g, dig), 0);
	assert_int_equal(grey_pass_key(g, dig, T0), -ENOENT);
	/* A network whitelisted by hand. */
	assert_int_equal(grey_pass_key(g, "awl 198.18.1.0/24", T0), 0);
	q.rcpt = "zz@y";
	assert_int_equal(check(g, &q, T0 + 5), GREY_PASS_AWL);
	fin(g);
}

/* What the shared store knows merged into the table: an earlier first
 * attempt lets a retry pass here; a pass elsewhere passes at once; the
 * undone count keeps one count per RCPT. */
static void test_merge(void **st)
{
	struct grey_table *g = mk(NULL, 1);
	struct grey_query q = q4("198.18.1.1", "a@x", "u@y");
	struct grey_counters c;

	(void)st;
	assert_int_equal(check(g, &q, T0 + 400), GREY_DEFER_NEW);
	assert_int_equal(grey_merge_key(g, "198.18.1.0/24 a@x u@y", T0, false, T0 + 400), 0);
	grey_count_undo(g, 0, GREY_DEFER_NEW);
	assert_int_equal(check(g, &q, T0 + 400), GREY_PASS_RETRY);
	grey_counters_read(g, 0, &c);
	assert_int_equal(c.defer_new, 0);
	assert_int_equal(c.pass_retry, 1);
	/* A later first attempt does not move ours. */
	q.rcpt = "v@y";
	assert_int_equal(check(g, &q, T0), GREY_DEFER_NEW);
	assert_int_equal(grey_merge_key(g, "198.18.1.0/24 a@x v@y", T0 + 200, false, T0 + 200), 0);
	assert_int_equal(check(g, &q, T0 + 300), GREY_PASS_RETRY);
	/* Absent here, passed elsewhere. */
	assert_int_equal(grey_merge_key(g, "198.18.1.0/24 a@x w@y", T0, true, T0 + 10), 0);
	q.rcpt = "w@y";
	assert_int_equal(check(g, &q, T0 + 11), GREY_PASS_KNOWN);
	assert_int_equal(grey_merge_key(g, "awl 198.18.1.0/24", T0, true, T0), -EINVAL);
	assert_int_equal(grey_merge_key(g, "#0123", T0, true, T0), -EINVAL);
	fin(g);
}

/* Two workers insert and pass the same keys at once. */
struct race_arg {
	struct grey_table *g;
	unsigned w;
	int passes;
};

static void *race(void *p)
{
	struct race_arg *a = p;
	char rcpt[32];

	rcu_register_thread();
	for (int i = 0; i < 2000; i++) {
		struct grey_query q;
		struct grey_result r;
		snprintf(rcpt, sizeof(rcpt), "u%d@y", i);
		q = q4("198.18.1.1", "a@x", rcpt);
		grey_check(a->g, a->w, &q, T0, &r);
		grey_check(a->g, a->w, &q, T0 + 400, &r);
		if (r.verdict == GREY_PASS_RETRY || r.verdict == GREY_PASS_KNOWN)
			a->passes++;
		rcu_quiescent_state();
	}
	rcu_unregister_thread();
	return NULL;
}

static void test_two_workers_race(void **st)
{
	struct grey_conf c = defconf;
	struct grey_table *g;
	pthread_t t[2];
	struct race_arg a[2];

	(void)st;
	c.max_entries = 10000;
	c.awl_passes = 0;
	g = mk(&c, 2);
	for (unsigned i = 0; i < 2; i++) {
		a[i] = (struct race_arg){.g = g, .w = i};
		pthread_create(&t[i], NULL, race, &a[i]);
	}
	for (unsigned i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(grey_entries(g), 2000);
	assert_int_equal(a[0].passes, 2000);
	assert_int_equal(a[1].passes, 2000);
	fin(g);
}

/* ---- snapshot ------------------------------------------------------------------------ */

static char snap_path[64];

static struct grey_table *filled(int n)
{
	struct grey_conf c = defconf;
	struct grey_table *g;
	char rcpt[32];

	c.awl_passes = 0;
	g = mk(&c, 2);
	for (int i = 0; i < n; i++) {
		struct grey_query q;
		snprintf(rcpt, sizeof(rcpt), "u%d@example.com", i);
		q = q4("198.18.1.1", "a@x", rcpt);
		check(g, &q, T0);
		if (i % 2 == 0)
			check(g, &q, T0 + 400); /* even ones passed */
	}
	return g;
}

static void test_snapshot_roundtrip(void **st)
{
	struct grey_table *g = filled(100), *h;
	bool damaged;
	struct grey_query q;

	(void)st;
	snprintf(snap_path, sizeof(snap_path), "/tmp/mx-grey-snap.%d", (int)getpid());
	rcu_thread_offline();
	assert_int_equal(grey_snapshot_save(g, snap_path), 100); /* + the awl entry */
	rcu_thread_online();
	fin(g);
	h = mk(NULL, 2);
	rcu_thread_offline();
	assert_int_equal(grey_snapshot_load(h, snap_path, T0 + 500, &damaged), 100);
	rcu_thread_online();
	assert_false(damaged);
	q = q4("198.18.1.77", "A@x", "u0@example.com");
	assert_int_equal(check(h, &q, T0 + 501), GREY_PASS_KNOWN);
	q = q4("198.18.1.77", "A@x", "u1@example.com");
	assert_int_equal(check(h, &q, T0 + 502), GREY_PASS_RETRY);
	fin(h);
	/* Expired entries are not loaded. */
	h = mk(NULL, 2);
	rcu_thread_offline();
	assert_int_equal(grey_snapshot_load(h, snap_path, T0 + 3 * DAY, &damaged), 50);
	rcu_thread_online();
	fin(h);
	/* In the background. */
	g = filled(10);
	rcu_thread_offline();
	assert_int_equal(grey_snapshot_start(g, snap_path), 0);
	assert_int_equal(grey_snapshot_wait(g), 10);
	rcu_thread_online();
	fin(g);
}

static long file_size(const char *p)
{
	FILE *f = fopen(p, "rb");
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return n;
}

static void test_snapshot_damaged(void **st)
{
	struct grey_table *g = filled(100), *h;
	bool damaged;
	long size, n;
	FILE *f;

	(void)st;
	snprintf(snap_path, sizeof(snap_path), "/tmp/mx-grey-snap.%d", (int)getpid());
	rcu_thread_offline();
	assert_int_equal(grey_snapshot_save(g, snap_path), 100);
	rcu_thread_online();
	fin(g);
	size = file_size(snap_path);
	/* Torn in the middle of a record. */
	assert_int_equal(truncate(snap_path, size / 2), 0);
	h = mk(NULL, 2);
	rcu_thread_offline();
	n = grey_snapshot_load(h, snap_path, T0 + 500, &damaged);
	rcu_thread_online();
	assert_true(damaged);
	assert_true(n > 30 && n < 70);
	assert_int_equal(grey_entries(h), n);
	fin(h);
	/* A flipped octet at 3/4 of what is left: loaded up to that record. */
	f = fopen(snap_path, "r+b");
	assert_non_null(f);
	fseek(f, size / 4, SEEK_SET);
	{
		int c = fgetc(f);
		fseek(f, size / 4, SEEK_SET);
		fputc(c ^ 0xff, f);
	}
	fclose(f);
	h = mk(NULL, 2);
	rcu_thread_offline();
	n = grey_snapshot_load(h, snap_path, T0 + 500, &damaged);
	rcu_thread_online();
	assert_true(damaged);
	assert_true(n > 10 && n < 40);
	fin(h);
	/* Garbage, an empty file, no file: never a crash. */
	f = fopen(snap_path, "wb");
	fputs("not a snapshot at all, just text .................", f);
	fclose(f);
	h = mk(NULL, 2);
	rcu_thread_offline();
	assert_int_equal(grey_snapshot_load(h, snap_path, T0, &damaged), -EINVAL);
	f = fopen(snap_path, "wb");
	fclose(f);
	assert_int_equal(grey_snapshot_load(h, snap_path, T0, &damaged), -EINVAL);
	unlink(snap_path);
	assert_int_equal(grey_snapshot_load(h, snap_path, T0, &damaged), 0);
	rcu_thread_online();
	fin(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_and_window),
		cmocka_unit_test(test_window_restart),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_expiry_and_refresh),
		cmocka_unit_test(test_auto_whitelist),
		cmocka_unit_test(test_four_passes_not_enough),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_evict_oldest_unpassed),
		cmocka_unit_test(test_pool_full_fails_open),
		cmocka_unit_test(test_ctl_pass_delete),
		cmocka_unit_test(test_two_workers_race),
		cmocka_unit_test(test_snapshot_roundtrip),
		cmocka_unit_test(test_snapshot_damaged),
	};
	int rc;

	rcu_register_thread();
	rcu_thread_online();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_thread_offline();
	rcu_unregister_thread();
	return rc;
}
