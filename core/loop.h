/*
 * loop.h - the control thread's event loop: one epoll set of file
 * descriptors, each with a callback, plus one list of one-shot timers.
 *
 * Every subsystem that lives on the control thread registers here: ctl
 * clients, the /metrics listener and its clients, c-ares sockets, the
 * shared-store connection, table maintenance timers. Nothing registered
 * may block: callbacks do non-blocking I/O and return. A slow peer is a
 * peer whose fd is simply not ready; it never delays another fd, a timer,
 * log draining or signal handling (the daemon's main loop calls
 * mx_loop_run_once() with a short bound and does those between calls).
 *
 * There is one loop per process (static state); it belongs to the thread
 * that called mx_loop_init() and nothing here is thread-safe. Depends on
 * libc only, so core/ users (DNS, store) need no ctl/.
 */
#ifndef MX_CORE_LOOP_H
#define MX_CORE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Event bits, for registration and as delivered to callbacks. */
#define MX_LOOP_IN  0x1u /* readable (or a listener has a connection) */
#define MX_LOOP_OUT 0x2u /* writable */
#define MX_LOOP_ERR 0x4u /* delivered only: error or hang-up on the fd */

/* Callback for a ready fd: @events is a set of MX_LOOP_*. It may call
 * mx_loop_mod()/mx_loop_del() on any fd, including its own (and close it
 * after mx_loop_del()). Watching is level-triggered: a callback that leaves
 * its condition pending (unread input, MX_LOOP_ERR) is called again next
 * round. MX_LOOP_ERR is delivered even while no events are watched (events
 * 0), so a callback that gets it must read to EOF or mx_loop_del() the fd. */
typedef void (*mx_loop_fd_fn)(int fd, unsigned events, void *arg);

struct mx_loop_timer;
/* Callback for an expired timer. The timer is disarmed before the call;
 * the callback may re-arm it (periodic work) or free its owner. */
typedef void (*mx_loop_timer_fn)(struct mx_loop_timer *t, void *arg);

/* A timer embedded in its owner; fields are the loop's. */
struct mx_loop_timer {
	uint64_t due_ms; /* mx_loop_now_ms() at which it fires */
	mx_loop_timer_fn fn;
	void *arg;
	size_t slot; /* position in the loop's timer heap + 1; 0: not armed */
};

/** Create the loop. Returns 0 or -errno. Control thread, boot. */
int mx_loop_init(void);

/** Free the loop. Registered fds are forgotten, not closed; armed timers
 * are disarmed. */
void mx_loop_fini(void);

/** Watch @fd (non-blocking, owned by the caller) for @events, calling @fn
 * with @arg. Returns 0, -EEXIST if already watched, -errno otherwise. */
int mx_loop_add(int fd, unsigned events, mx_loop_fd_fn fn, void *arg);

/** Change the events watched on @fd. Returns 0 or -errno (-ENOENT if not
 * watched). */
int mx_loop_mod(int fd, unsigned events);

/** Stop watching @fd (before closing it). Events already collected for @fd
 * in the current round are not delivered. Returns 0 or -ENOENT. */
int mx_loop_del(int fd);

/** Prepare @t (once, before first use). */
void mx_loop_timer_init(struct mx_loop_timer *t, mx_loop_timer_fn fn, void *arg);

/** Arm @t to fire @delay_ms from now (re-arms if armed). */
void mx_loop_timer_arm(struct mx_loop_timer *t, uint64_t delay_ms);

/** Disarm @t if armed (safe to call on a disarmed timer). */
void mx_loop_timer_cancel(struct mx_loop_timer *t);

/** True while @t is armed. */
bool mx_loop_timer_armed(const struct mx_loop_timer *t);

/** The loop's monotonic clock in milliseconds (CLOCK_MONOTONIC). */
uint64_t mx_loop_now_ms(void);

/** Wait for ready fds for at most @max_wait_ms (less if a timer is due
 * sooner; 0: do not wait; negative: until an fd or a timer), dispatch their
 * callbacks, then run every expired timer (earliest first; a timer armed
 * by a timer callback runs in a later round, never in this one). Returns the number of callbacks
 * run, or -errno on an epoll failure other than EINTR (EINTR returns 0: the caller checks its
 * signal flags). */
int mx_loop_run_once(int max_wait_ms);

#endif
