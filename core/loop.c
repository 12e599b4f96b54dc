/*
 * loop.c - the control thread's event loop. See loop.h.
 *
 * File descriptors: one epoll set (level-triggered) and a registration
 * table indexed by fd. Each registration gets a generation number that is
 * also stored in the epoll event, so an event collected for an fd that a
 * callback earlier in the same round removed (and perhaps closed, and a new
 * registration reused the number) is recognised as stale and dropped.
 *
 * Timers: a binary min-heap of pointers to the callers' embedded
 * struct mx_loop_timer, ordered by due time; each timer knows its heap slot
 * so cancel and re-arm are O(log n). A timer armed from a timer callback
 * fires at the earliest in the next round, so a callback that re-arms
 * itself with delay 0 cannot spin the loop.
 *
 * Memory: the tables grow with realloc (control thread, not the packet
 * path) and are freed by mx_loop_fini(); a failed allocation while arming a
 * timer is fatal (the alternative, a timer that silently never fires, is
 * worse). Depends on libc only.
 */
#include "core/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define LOOP_MAX_EVENTS 64

struct loop_reg {
	mx_loop_fd_fn fn;
	void *arg;
	unsigned events; /* MX_LOOP_IN/OUT currently watched */
	uint32_t gen;	 /* 0: not registered */
};

static int ep_fd = -1;
static struct loop_reg *regs; /* indexed by fd */
static size_t nregs;
static uint32_t next_gen = 1;

static struct mx_loop_timer **heap;
static size_t heap_len, heap_cap;
static bool in_timers;	    /* running timer callbacks */
static uint64_t timers_now; /* the clock the current timer phase runs up to */

uint64_t mx_loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int mx_loop_init(void)
{
	if (ep_fd >= 0)
		return -EALREADY;
	ep_fd = epoll_create1(EPOLL_CLOEXEC);
	if (ep_fd < 0)
		return -errno;
	next_gen = 1;
	return 0;
}

void mx_loop_fini(void)
{
	for (size_t i = 0; i < heap_len; i++)
		heap[i]->slot = 0;
	free(heap);
	heap = NULL;
	heap_len = heap_cap = 0;
	free(regs);
	regs = NULL;
	nregs = 0;
	if (ep_fd >= 0)
		close(ep_fd);
	ep_fd = -1;
}

/* ---- file descriptors ---- */

static uint32_t to_epoll(unsigned events)
{
	return ((events & MX_LOOP_IN) ? EPOLLIN : 0u) | ((events & MX_LOOP_OUT) ? EPOLLOUT : 0u);
}

static struct loop_reg *reg_of(int fd)
{
	if (fd < 0 || (size_t)fd >= nregs || regs[fd].gen == 0)
		return NULL;
	return &regs[fd];
}

int mx_loop_add(int fd, unsigned events, mx_loop_fd_fn fn, void *arg)
{
	struct epoll_event ev;
	uint32_t gen;

	if (ep_fd < 0 || fd < 0 || !fn)
		return -EINVAL;
	if (reg_of(fd))
		return -EEXIST;
	if ((size_t)fd >= nregs) {
		size_t n = nregs ? nregs : 64;
		struct loop_reg *nr;
		while (n <= (size_t)fd)
			n *= 2;
		nr = realloc(regs, n * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		memset(nr + nregs, 0, (n - nregs) * sizeof(*nr));
		regs = nr;
		nregs = n;
	}
	gen = next_gen++;
	if (next_gen == 0) /* 0 means "free" */
		next_gen = 1;
	ev.events = to_epoll(events);
	ev.data.u64 = (uint64_t)gen << 32 | (uint32_t)fd;
	if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, fd, &ev) != 0)
		return errno == EEXIST ? -EEXIST : -errno;
	regs[fd] = (struct loop_reg){.fn = fn, .arg = arg, .events = events, .gen = gen};
	return 0;
}

int mx_loop_mod(int fd, unsigned events)
{
	struct loop_reg *r = reg_of(fd);
	struct epoll_event ev;

	if (!r)
		return -ENOENT;
	ev.events = to_epoll(events);
	ev.data.u64 = (uint64_t)r->gen << 32 | (uint32_t)fd;
	if (epoll_ctl(ep_fd, EPOLL_CTL_MOD, fd, &ev) != 0)
		return -errno;
	r->events = events;
	return 0;
}

int mx_loop_del(int fd)
{
	struct loop_reg *r = reg_of(fd);

	if (!r)
		return -ENOENT;
	/* Fails only if the caller already closed the fd, which removed it
	 * from the set anyway. */
	(void)epoll_ctl(ep_fd, EPOLL_CTL_DEL, fd, NULL);
	r->gen = 0;
	return 0;
}

/* ---- timers: binary min-heap on due_ms ---- */

static void heap_set(size_t i, struct mx_loop_timer *t)
{
	heap[i] = t;
	t->slot = i + 1;
}

static void sift_up(size_t i)
{
	struct mx_loop_timer *t = heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (heap[p]->due_ms <= t->due_ms)
			break;
		heap_set(i, heap[p]);
		i = p;
	}
	heap_set(i, t);
}

static void sift_down(size_t i)
{
	struct mx_loop_timer *t = heap[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= heap_len)
			break;
		if (c + 1 < heap_len && heap[c + 1]->due_ms < heap[c]->due_ms)
			c++;
		if (t->due_ms <= heap[c]->due_ms)
			break;
		heap_set(i, heap[c]);
		i = c;
	}
	heap_set(i, t);
}

static void heap_remove(struct mx_loop_timer *t)
{
	size_t i = t->slot - 1;

	MX_ASSERT(i < heap_len && heap[i] == t);
	t->slot = 0;
	heap_len--;
	if (i == heap_len)
		return;
	heap[i] = heap[heap_len];
	heap[i]->slot = i + 1;
	if (i > 0 && heap[(i - 1) / 2]->due_ms > heap[i]->due_ms)
		sift_up(i);
	else
		sift_down(i);
}

void mx_loop_timer_init(struct mx_loop_timer *t, mx_loop_timer_fn fn, void *arg)
{
	t->due_ms = 0;
	t->fn = fn;
	t->arg = arg;
	t->slot = 0;
}

void mx_loop_timer_arm(struct mx_loop_timer *t, uint64_t delay_ms)
{
	uint64_t due = mx_loop_now_ms() + delay_ms;

	if (in_timers && due <= timers_now)
		due = timers_now + 1; /* next round, never this one */
	if (t->slot)
		heap_remove(t);
	if (heap_len == heap_cap) {
		size_t cap = heap_cap ? heap_cap * 2 : 64;
		struct mx_loop_timer **nh = realloc(heap, cap * sizeof(*nh));
		if (!nh)
			mx_fatal("loop: out of memory for %zu timers", cap);
		heap = nh;
		heap_cap = cap;
	}
	t->due_ms = due;
	heap_set(heap_len++, t);
	sift_up(heap_len - 1);
}

void mx_loop_timer_cancel(struct mx_loop_timer *t)
{
	if (t->slot)
		heap_remove(t);
}

bool mx_loop_timer_armed(const struct mx_loop_timer *t)
{
	return t->slot != 0;
}

/* ---- one round ---- */

static int run_timers(void)
{
	int ran = 0;

	in_timers = true;
	timers_now = mx_loop_now_ms();
	while (heap_len > 0 && heap[0]->due_ms <= timers_now) {
		struct mx_loop_timer *t = heap[0];
		heap_remove(t);
		/* t may be freed or re-armed by its callback: not touched after. */
		t->fn(t, t->arg);
		ran++;
	}
	in_timers = false;
	return ran;
}

int mx_loop_run_once(int max_wait_ms)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int wait = max_wait_ms, n, ran = 0;

	if (ep_fd < 0)
		return -EINVAL;
	if (heap_len > 0) {
		uint64_t now = mx_loop_now_ms();
		uint64_t due = heap[0]->due_ms;
		uint64_t d = due > now ? due - now : 0;
		if (wait < 0 || d < (uint64_t)wait)
			wait = (int)(d > (uint64_t)INT32_MAX ? INT32_MAX : d);
	}
	n = epoll_wait(ep_fd, evs, LOOP_MAX_EVENTS, wait);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct loop_reg *r = reg_of(fd);
		uint32_t e = evs[i].events;
		unsigned ev = 0;

		/* Removed earlier in this round, maybe re-added as another fd. */
		if (!r || r->gen != gen)
			continue;
		if (e & (EPOLLIN | EPOLLRDHUP))
			ev |= MX_LOOP_IN;
		if (e & EPOLLOUT)
			ev |= MX_LOOP_OUT;
		ev &= r->events; /* a callback may have changed them this round */
		if (e & (EPOLLERR | EPOLLHUP))
			ev |= MX_LOOP_ERR;
		if (!ev)
			continue;
		r->fn(fd, ev, r->arg);
		ran++;
	}
	return ran + run_timers();
}
