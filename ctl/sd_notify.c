/*
 * sd_notify.c - the service manager's notify protocol, without libsystemd:
 * one datagram of "KEY=VALUE\n" lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace), as
 * sd_notify(3) documents it. The daemon sends READY=1 once the workers
 * poll, STOPPING=1 on a drain or stop, and WATCHDOG=1 from the control loop
 * every half of $WATCHDOG_USEC (when it is set and $WATCHDOG_PID is unset
 * or ours). Control thread only; the send never blocks (MSG_DONTWAIT); a
 * failure is logged once and otherwise ignored (the manager may be gone).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "ctl/daemon.h"

static struct mx_loop_timer wd_timer;
static uint64_t wd_period_ms;

void daemon_notify(const char *state)
{
	static bool warned;
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len;
	socklen_t salen;
	int fd;

	if (!path || !*path)
		return;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
		if (!warned)
			MX_WARN("NOTIFY_SOCKET=%s: not a socket path or @abstract name", path);
		warned = true;
		return;
	}
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
			     (struct sockaddr *)&sa, salen) < 0) {
		if (!warned)
			MX_WARN("sd_notify %s: %s", path, strerror(errno));
		warned = true;
	}
	if (fd >= 0)
		close(fd);
}

static void on_watchdog(struct mx_loop_timer *t, void *arg)
{
	(void)arg;
	daemon_notify("WATCHDOG=1");
	mx_loop_timer_arm(t, wd_period_ms);
}

void daemon_notify_ready(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char status[64];

	snprintf(status, sizeof(status), "READY=1\nSTATUS=serving\nMAINPID=%d", (int)getpid());
	daemon_notify(status);
	if (usec && *usec && (!pid || !*pid || atoi(pid) == (int)getpid())) {
		unsigned long long us = strtoull(usec, NULL, 10);
		if (us >= 2000) {
			wd_period_ms = us / 2000; /* half the period, in ms */
			mx_loop_timer_init(&wd_timer, on_watchdog, NULL);
			mx_loop_timer_arm(&wd_timer, 0);
		}
	}
}
