/*
 * test_timer.c - the hierarchical timing wheel: firing exactly on the tick
 * at every level, cascading, re-arm and cancel (also from a callback),
 * expiries beyond the wheel's span, and an ordering check against a
 * reference with many random timers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "dataplane/timer.h"

#define container_of(p, t, m) ((t *)((char *)(p)-offsetof(t, m)))

struct item {
	struct timer_entry t;
	uint64_t fired_at;
	unsigned fires;
	struct timer_wheel *w;
	uint64_t rearm_delta;
};

static uint64_t clock_now;

static void on_fire(struct timer_entry *t)
{
	struct item *it = container_of(t, struct item, t);
	it->fired_at = clock_now;
	it->fires++;
	if (it->rearm_delta) {
		uint64_t d = it->rearm_delta;
		it->rearm_delta = 0;
		timer_arm(it->w, t, clock_now + d);
	}
}

static void advance_to(struct timer_wheel *w, uint64_t to)
{
	/* Step one tick at a time so clock_now is the tick being processed. */
	while (clock_now < to) {
		clock_now++;
		timer_advance(w, clock_now);
	}
}

static struct timer_wheel wheel;

static void test_each_level_exact(void **state)
{
	static const uint64_t deltas[] = {1,
					  2,
					  255,
					  256,
					  257,
					  1000,
					  65535,
					  65536,
					  65537,
					  100000,
					  (1u << 24) - 1,
					  1u << 24,
					  (1u << 24) + 7};
	(void)state;
	for (unsigned i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
		struct item it = {0};
		uint64_t start = 123457 + i * 7;
		clock_now = start;
		timer_wheel_init(&wheel, start);
		timer_init(&it.t, on_fire);
		timer_arm(&wheel, &it.t, start + deltas[i]);
		assert_true(timer_pending(&it.t));
		advance_to(&wheel, start + deltas[i] - 1);
		assert_int_equal(it.fires, 0);
		advance_to(&wheel, start + deltas[i]);
		assert_int_equal(it.fires, 1);
		assert_int_equal(it.fired_at, start + deltas[i]);
		assert_false(timer_pending(&it.t));
		assert_int_equal(timer_armed(&wheel), 0);
	}
}

static void test_big_jump_and_past(void **state)
{
	struct item a = {0}, b = {0};
	(void)state;
	timer_wheel_init(&wheel, 10);
	timer_init(&a.t, on_fire);
	timer_init(&b.t, on_fire);
	timer_arm(&wheel, &a.t, 5); /* in the past: next tick */
	timer_arm(&wheel, &b.t, 70000);
	assert_int_equal(timer_advance(&wheel, 11), 1);
	assert_int_equal(a.fires, 1);
	/* One call jumping far ahead runs what expired on the way. */
	assert_int_equal(timer_advance(&wheel, 80000), 1);
	assert_int_equal(b.fires, 1);
}

static void test_cancel_and_rearm(void **state)
{
	struct item a = {0}, b = {0};
	(void)state;
	clock_now = 0;
	timer_wheel_init(&wheel, 0);
	timer_init(&a.t, on_fire);
	timer_init(&b.t, on_fire);
	timer_arm(&wheel, &a.t, 300);
	timer_arm(&wheel, &b.t, 300);
	timer_cancel(&wheel, &a.t);
	timer_cancel(&wheel, &a.t); /* idempotent */
	assert_int_equal(timer_armed(&wheel), 1);
	timer_arm(&wheel, &b.t, 600); /* re-arm moves it */
	b.w = &wheel;
	b.rearm_delta = 50; /* re-armed from its own callback */
	advance_to(&wheel, 599);
	assert_int_equal(b.fires, 0);
	advance_to(&wheel, 600);
	assert_int_equal(b.fires, 1);
	advance_to(&wheel, 650);
	assert_int_equal(b.fires, 2);
	assert_int_equal(b.fired_at, 650);
	assert_int_equal(a.fires, 0);
	assert_int_equal(timer_armed(&wheel), 0);
}

static void test_beyond_span(void **state)
{
	struct item a = {0};
	uint64_t when = (1ull << 32) + 12345;
	(void)state;
	timer_wheel_init(&wheel, 0);
	timer_init(&a.t, on_fire);
	timer_arm(&wheel, &a.t, when);
	timer_advance(&wheel, when - 1);
	assert_int_equal(a.fires, 0);
	timer_advance(&wheel, when);
	assert_int_equal(a.fires, 1);
}

static void test_random_against_reference(void **state)
{
	enum { N = 2000 };
	static struct item items[N];
	(void)state;
	srand(42);
	clock_now = 1000;
	timer_wheel_init(&wheel, clock_now);
	for (unsigned i = 0; i < N; i++) {
		timer_init(&items[i].t, on_fire);
		items[i].fires = 0;
		timer_arm(&wheel, &items[i].t, clock_now + 1 + (uint64_t)(rand() % 300000));
	}
	for (unsigned i = 0; i < N; i += 3)
		timer_cancel(&wheel, &items[i].t);
	advance_to(&wheel, clock_now + 300001);
	for (unsigned i = 0; i < N; i++) {
		if (i % 3 == 0) {
			assert_int_equal(items[i].fires, 0);
		} else {
			assert_int_equal(items[i].fires, 1);
			assert_int_equal(items[i].fired_at, items[i].t.expires);
		}
	}
	assert_int_equal(timer_armed(&wheel), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_level_exact),
		cmocka_unit_test(test_big_jump_and_past),
		cmocka_unit_test(test_cancel_and_rearm),
		cmocka_unit_test(test_beyond_span),
		cmocka_unit_test(test_random_against_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
