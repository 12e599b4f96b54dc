/*
 * test_ratelimit.c - the per-client message and recipient buckets on a
 * fake clock: the N+1th draw in a minute refused, refill over time, the
 * network bucket shared by the addresses of a /24, a refusal by the
 * network giving the address's token back, reset, ageing, pool full.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <urcu-qsbr.h>

#include "policy/ratelimit.h"

#define S 1000000000ull

static const struct rl_limits lim = {
	.msg_per_ip = 10,
	.rcpt_per_ip = 60,
	.msg_per_net = 15,
	.rcpt_per_net = 0,
	.v4_prefix = 24,
	.v6_prefix = 64,
};

static const uint8_t *ip(const char *s)
{
	static uint8_t a[4][16];
	static unsigned i;
	uint8_t *p = a[i++ % 4];

	memset(p, 0, 16);
	inet_pton(AF_INET, s, p);
	return p;
}

static void fin(struct rl_table *t)
{
	rcu_thread_offline();
	rl_destroy(t);
	rcu_thread_online();
}

static void test_bucket(void **st)
{
	struct rl_table *t = rl_create(100);
	uint64_t now = 1000 * S;
	struct rl_state s;

	(void)st;
	for (int i = 0; i < 10; i++)
		assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.1"), now), RL_OK);
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.1"), now), RL_REFUSE_IP);
	/* Recipients are another bucket. */
	assert_int_equal(rl_take(t, &lim, RL_RCPT, 4, ip("198.18.0.1"), now), RL_OK);
	/* One token back every 6 s (10 a minute). */
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.1"), now + 5 * S), RL_REFUSE_IP);
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.1"), now + 6 * S), RL_OK);
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.1"), now + 6 * S), RL_REFUSE_IP);
	/* The /24 bucket (15 a minute, one back every 4 s) is shared: .1 took
	 * 11, 1.5 came back in 6 s, so .2 gets 5 before the net refuses. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.2"), now + 6 * S), RL_OK);
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.2"), now + 6 * S), RL_REFUSE_NET);
	/* ... which gave .2's own token back: 5 left there. */
	rl_query(t, &lim, 4, ip("198.18.0.2"), now + 6 * S, &s);
	assert_int_equal(s.ip[RL_MSG], 5);
	assert_int_equal(s.net[RL_MSG], 0);
	assert_int_equal(s.net[RL_RCPT], -1); /* that limit is off */
	/* Another /24 is not affected. */
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.1.2"), now + 6 * S), RL_OK);
	/* A minute later everything is full again. */
	rl_query(t, &lim, 4, ip("198.18.0.1"), now + 70 * S, &s);
	assert_int_equal(s.ip[RL_MSG], 10);
	fin(t);
}

static void test_reset_and_age(void **st)
{
	struct rl_table *t = rl_create(100);
	uint64_t now = 1000 * S;

	(void)st;
	for (int i = 0; i < 10; i++)
		rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.1"), now);
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.1"), now), RL_REFUSE_IP);
	assert_int_equal(rl_entries(t), 2);
	assert_int_equal(rl_reset(t, &lim, 4, ip("198.18.0.1")), 2);
	assert_int_equal(rl_entries(t), 0);
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.1"), now), RL_OK);
	assert_int_equal(rl_age(t, now + 3 * S), 0);
	assert_int_equal(rl_age(t, now + 60 * S), 2);
	assert_int_equal(rl_entries(t), 0);
	fin(t);
}

static void test_pool_full(void **st)
{
	struct rl_table *t = rl_create(2);
	uint64_t now = 1000 * S;

	(void)st;
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.1"), now), RL_OK);
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.5.1"), now), RL_OK_FULL);
	fin(t);
}

/* Draws made on other nodes (shared store) charged to the local bucket:
 * never beyond an empty bucket, refilled as usual. */
static void test_charge(void **st)
{
	struct rl_table *t = rl_create(100);
	uint64_t now = 1000 * S;

	(void)st;
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.1"), now), RL_OK);
	assert_int_equal(rl_charge(t, RL_MSG, 4, ip("198.18.0.1"), 32, 10, 7, now), 0);
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.1"), now), RL_OK);
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.1"), now), RL_OK);
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.1"), now), RL_REFUSE_IP);
	/* A huge charge empties the bucket, no more: one token 6 s later. */
	assert_int_equal(rl_charge(t, RL_MSG, 4, ip("198.18.0.2"), 32, 10, 1000000, now), 0);
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.2"), now + 5 * S), RL_REFUSE_IP);
	assert_int_equal(rl_take(t, &lim, RL_MSG, 4, ip("198.18.0.2"), now + 6 * S), RL_OK);
	/* Nothing to charge, or a limit off. */
	assert_int_equal(rl_charge(t, RL_MSG, 4, ip("198.18.0.3"), 32, 0, 5, now), 0);
	assert_int_equal(rl_charge(t, RL_MSG, 4, ip("198.18.0.3"), 32, 10, 0, now), 0);
	fin(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_reset_and_age),
		cmocka_unit_test(test_pool_full),
		cmocka_unit_test(test_charge),
	};
	int rc;

	rcu_register_thread();
	rcu_thread_online();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_thread_offline();
	rcu_unregister_thread();
	return rc;
}
