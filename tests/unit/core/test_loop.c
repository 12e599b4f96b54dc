/*
 * test_loop.c - the control loop (core/loop.c) over real pipes and
 * socketpairs: readiness, events changed or removed by another callback in
 * the same round (including an fd number reused at once), hang-up, timer
 * order, re-arm from a callback, cancel, a timer that frees its owner, and
 * that run_once() waits no longer than its bound or the earliest timer.
 * Time bounds are generous (a loaded 2-core box): they catch a wait that is
 * unbounded, not one that is a little late.
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
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"

static int setup(void **state)
{
	(void)state;
	return mx_loop_init();
}

static int teardown(void **state)
{
	(void)state;
	mx_loop_fini();
	return 0;
}

struct hit {
	int calls;
	unsigned events;
	int fd;
};

static void on_fd(int fd, unsigned events, void *arg)
{
	struct hit *h = arg;

	h->calls++;
	h->events |= events;
	h->fd = fd;
}

/* Run rounds until @cond or about 5 s. */
#define RUN_UNTIL(cond)                                         \
	do {                                                    \
		for (int i_ = 0; i_ < 500 && !(cond); i_++)     \
			assert_true(mx_loop_run_once(10) >= 0); \
	} while (0)

static void test_pipe_readable(void **state)
{
	int p[2];
	struct hit h = {0};
	(void)state;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(mx_loop_add(p[0], MX_LOOP_IN, on_fd, &h), 0);
	assert_int_equal(mx_loop_add(p[0], MX_LOOP_IN, on_fd, &h), -EEXIST);
	assert_int_equal(mx_loop_run_once(0), 0);
	assert_int_equal(h.calls, 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(mx_loop_run_once(1000), 1);
	assert_int_equal(h.calls, 1);
	assert_int_equal(h.events, MX_LOOP_IN);
	assert_int_equal(h.fd, p[0]);
	/* Level-triggered: unread input is reported again. */
	assert_int_equal(mx_loop_run_once(0), 1);
	assert_int_equal(h.calls, 2);
	assert_int_equal(mx_loop_del(p[0]), 0);
	assert_int_equal(mx_loop_del(p[0]), -ENOENT);
	assert_int_equal(mx_loop_run_once(0), 0);
	assert_int_equal(h.calls, 2);
	close(p[0]);
	close(p[1]);
}

static void test_socketpair_writable_and_mod(void **state)
{
	int sp[2];
	struct hit h = {0};
	(void)state;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
	assert_int_equal(mx_loop_mod(sp[0], MX_LOOP_IN), -ENOENT);
	assert_int_equal(mx_loop_add(sp[0], MX_LOOP_OUT, on_fd, &h), 0);
	assert_int_equal(mx_loop_run_once(1000), 1);
	assert_int_equal(h.events, MX_LOOP_OUT);
	/* Watch nothing: no callback although it stays writable. */
	assert_int_equal(mx_loop_mod(sp[0], 0), 0);
	assert_int_equal(mx_loop_run_once(0), 0);
	/* Watch input only: nothing to read yet, then something. */
	h = (struct hit){0};
	assert_int_equal(mx_loop_mod(sp[0], MX_LOOP_IN), 0);
	assert_int_equal(mx_loop_run_once(0), 0);
	assert_int_equal(write(sp[1], "y", 1), 1);
	assert_int_equal(mx_loop_run_once(1000), 1);
	assert_int_equal(h.events, MX_LOOP_IN);
	mx_loop_del(sp[0]);
	close(sp[0]);
	close(sp[1]);
}

static void test_hangup_is_err(void **state)
{
	int sp[2];
	struct hit h = {0};
	(void)state;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
	assert_int_equal(mx_loop_add(sp[0], MX_LOOP_IN, on_fd, &h), 0);
	close(sp[1]);
	assert_int_equal(mx_loop_run_once(1000), 1);
	assert_true(h.events & MX_LOOP_ERR);
	assert_true(h.events & MX_LOOP_IN);
	/* Delivered even when nothing is watched. */
	h = (struct hit){0};
	assert_int_equal(mx_loop_mod(sp[0], 0), 0);
	assert_int_equal(mx_loop_run_once(1000), 1);
	assert_int_equal(h.events, MX_LOOP_ERR);
	mx_loop_del(sp[0]);
	close(sp[0]);
}

/* Two readable pipes whose callbacks each remove and close the other one
 * and register a fresh pipe that reuses its fd number: whichever runs first,
 * the other's event collected in the same round must not be delivered, to
 * the old callback or to the new registration. */
struct killer {
	int rd, wr;
	struct killer *other;
	int calls;
	struct hit fresh; /* callbacks on the fresh pipe */
	int fresh_wr;
};

static void on_killer(int fd, unsigned events, void *arg)
{
	struct killer *k = arg, *o = k->other;
	int p[2];
	(void)fd;
	(void)events;

	k->calls++;
	if (o->rd < 0)
		return;
	assert_int_equal(mx_loop_del(o->rd), 0);
	close(o->rd);
	assert_int_equal(pipe(p), 0);
	if (p[0] != o->rd) { /* make sure the number is reused */
		assert_int_equal(dup2(p[0], o->rd), o->rd);
		close(p[0]);
		p[0] = o->rd;
	}
	assert_int_equal(mx_loop_add(p[0], MX_LOOP_IN, on_fd, &o->fresh), 0);
	o->fresh_wr = p[1];
	o->rd = -1;
	/* Also drain our own input so we are not called again. */
	char c;
	assert_int_equal(read(k->rd, &c, 1), 1);
}

static void test_del_other_in_same_round(void **state)
{
	struct killer a = {0}, b = {0};
	int p[2];
	(void)state;

	assert_int_equal(pipe(p), 0);
	a.rd = p[0];
	a.wr = p[1];
	assert_int_equal(pipe(p), 0);
	b.rd = p[0];
	b.wr = p[1];
	a.other = &b;
	b.other = &a;
	a.fresh_wr = b.fresh_wr = -1;
	assert_int_equal(mx_loop_add(a.rd, MX_LOOP_IN, on_killer, &a), 0);
	assert_int_equal(mx_loop_add(b.rd, MX_LOOP_IN, on_killer, &b), 0);
	assert_int_equal(write(a.wr, "a", 1), 1);
	assert_int_equal(write(b.wr, "b", 1), 1);
	/* Both are ready before the wait: one round collects both. */
	assert_int_equal(mx_loop_run_once(1000), 1);
	assert_int_equal(a.calls + b.calls, 1);
	assert_int_equal(a.fresh.calls + b.fresh.calls, 0);
	/* The fresh registration works normally afterwards. */
	struct killer *dead = a.rd < 0 ? &a : &b, *live = dead->other;
	assert_int_equal(write(dead->fresh_wr, "z", 1), 1);
	assert_int_equal(mx_loop_run_once(1000), 1);
	assert_int_equal(dead->fresh.calls, 1);
	assert_int_equal(live->calls, 1);
	mx_loop_del(live->rd);
	close(live->rd);
	mx_loop_del(dead->fresh.fd);
	close(dead->fresh.fd);
	close(dead->fresh_wr);
	close(a.wr);
	close(b.wr);
}

/* A callback that removes its own fd and closes it. */
static void on_self_close(int fd, unsigned events, void *arg)
{
	(void)events;
	(*(int *)arg)++;
	assert_int_equal(mx_loop_del(fd), 0);
	close(fd);
}

static void test_del_self(void **state)
{
	int p[2], calls = 0;
	(void)state;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(mx_loop_add(p[0], MX_LOOP_IN, on_self_close, &calls), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(mx_loop_run_once(1000), 1);
	assert_int_equal(mx_loop_run_once(0), 0);
	assert_int_equal(calls, 1);
	close(p[1]);
}

/* ---- timers ---- */

static int order[16];
static int norder;

struct tmr {
	struct mx_loop_timer t;
	int id;
	int rearm; /* re-arm this many more times */
};

static void on_timer(struct mx_loop_timer *t, void *arg)
{
	struct tmr *x = arg;

	assert_ptr_equal(&x->t, t);
	assert_false(mx_loop_timer_armed(t));
	if (norder < 16)
		order[norder++] = x->id;
	if (x->rearm > 0) {
		x->rearm--;
		mx_loop_timer_arm(t, 0);
	}
}

static void test_timer_order_and_cancel(void **state)
{
	struct tmr x[5];
	(void)state;

	norder = 0;
	for (int i = 0; i < 5; i++) {
		x[i] = (struct tmr){.id = i};
		mx_loop_timer_init(&x[i].t, on_timer, &x[i]);
		assert_false(mx_loop_timer_armed(&x[i].t));
	}
	mx_loop_timer_arm(&x[3].t, 10);
	mx_loop_timer_arm(&x[1].t, 20);
	mx_loop_timer_arm(&x[4].t, 30);
	mx_loop_timer_arm(&x[0].t, 0);
	mx_loop_timer_arm(&x[2].t, 40);
	assert_true(mx_loop_timer_armed(&x[4].t));
	mx_loop_timer_cancel(&x[4].t);
	assert_false(mx_loop_timer_armed(&x[4].t));
	mx_loop_timer_cancel(&x[4].t); /* harmless twice */
	/* Re-arming moves a timer: 3 now fires after 2. */
	mx_loop_timer_arm(&x[3].t, 80);
	RUN_UNTIL(norder == 4);
	assert_int_equal(norder, 4);
	assert_int_equal(order[0], 0);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 2);
	assert_int_equal(order[3], 3);
	for (int i = 0; i < 10; i++)
		mx_loop_run_once(0);
	assert_int_equal(norder, 4); /* the cancelled one never fires */
}

static void test_timer_rearm_from_callback(void **state)
{
	struct tmr x = {.id = 7, .rearm = 3};
	(void)state;

	norder = 0;
	mx_loop_timer_init(&x.t, on_timer, &x);
	mx_loop_timer_arm(&x.t, 0);
	/* Re-armed with delay 0 from its callback: once per round at most. */
	RUN_UNTIL(norder >= 1);
	assert_int_equal(norder, 1);
	assert_true(mx_loop_timer_armed(&x.t));
	RUN_UNTIL(norder == 4);
	assert_int_equal(norder, 4);
	assert_false(mx_loop_timer_armed(&x.t));
	for (int i = 0; i < 5; i++)
		mx_loop_run_once(0);
	assert_int_equal(norder, 4);
}

/* A timer whose callback frees its owner (ASan checks no later access). */
static int freed;
static void on_free(struct mx_loop_timer *t, void *arg)
{
	(void)t;
	free(arg);
	freed++;
}

static void test_timer_frees_owner(void **state)
{
	(void)state;
	freed = 0;
	for (int i = 0; i < 3; i++) {
		struct tmr *x = malloc(sizeof(*x));
		assert_non_null(x);
		mx_loop_timer_init(&x->t, on_free, x);
		mx_loop_timer_arm(&x->t, (uint64_t)i);
	}
	RUN_UNTIL(freed == 3);
	assert_int_equal(freed, 3);
}

/* Many timers, random delays, random cancels and re-arms: every armed one
 * fires exactly once and never before an earlier-due one. */
struct heapt {
	struct mx_loop_timer t;
	int fired;
	bool cancelled;
};
static uint64_t last_due;
static int nfired;
static void on_heapt(struct mx_loop_timer *t, void *arg)
{
	struct heapt *h = arg;

	assert_true(t->due_ms >= last_due);
	assert_true(t->due_ms <= mx_loop_now_ms());
	last_due = t->due_ms;
	h->fired++;
	nfired++;
}

static void test_timer_heap_stress(void **state)
{
	enum { N = 1000 };
	static struct heapt h[N];
	int expect = 0;
	(void)state;

	srand(1234);
	last_due = 0;
	nfired = 0;
	for (int i = 0; i < N; i++) {
		h[i] = (struct heapt){0};
		mx_loop_timer_init(&h[i].t, on_heapt, &h[i]);
		mx_loop_timer_arm(&h[i].t, (uint64_t)(rand() % 60));
	}
	for (int i = 0; i < N; i++) {
		int r = rand() % 4;
		if (r == 0) {
			mx_loop_timer_cancel(&h[i].t);
			h[i].cancelled = true;
		} else if (r == 1) {
			mx_loop_timer_arm(&h[i].t, (uint64_t)(rand() % 60));
		}
	}
	for (int i = 0; i < N; i++)
		expect += !h[i].cancelled;
	RUN_UNTIL(nfired == expect);
	assert_int_equal(nfired, expect);
	for (int i = 0; i < N; i++)
		assert_int_equal(h[i].fired, h[i].cancelled ? 0 : 1);
}

static void test_run_once_bounds(void **state)
{
	struct tmr x = {.id = 1};
	uint64_t t0, el;
	(void)state;

	/* Nothing registered: waits about the bound, then returns 0. */
	t0 = mx_loop_now_ms();
	assert_int_equal(mx_loop_run_once(50), 0);
	el = mx_loop_now_ms() - t0;
	assert_true(el >= 49); /* epoll_wait sleeps at least the timeout */
	assert_true(el < 5000);
	/* A timer due sooner cuts a long bound short. */
	norder = 0;
	mx_loop_timer_init(&x.t, on_timer, &x);
	mx_loop_timer_arm(&x.t, 30);
	t0 = mx_loop_now_ms();
	while (norder == 0 && mx_loop_now_ms() - t0 < 20000)
		assert_true(mx_loop_run_once(60000) >= 0);
	el = mx_loop_now_ms() - t0;
	assert_int_equal(norder, 1);
	assert_true(el >= 29);
	assert_true(el < 10000);
	/* A bound of 0 does not wait. */
	assert_int_equal(mx_loop_run_once(0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipe_readable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socketpair_writable_and_mod, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hangup_is_err, setup, teardown),
		cmocka_unit_test_setup_teardown(test_del_other_in_same_round, setup, teardown),
		cmocka_unit_test_setup_teardown(test_del_self, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_order_and_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_rearm_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_frees_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_heap_stress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_once_bounds, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
