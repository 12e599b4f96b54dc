/*
 * ctl.c - control socket server and command registry. See ctl.h.
 *
 * Clients are served one at a time from the control thread's poll loop with
 * a short read deadline, so a stuck client cannot hold the socket: the
 * protocol is one line in, one answer out, close.
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define CTL_MAX_CMDS	    128
#define CTL_LINE_MAX	    4096
#define CTL_READ_TIMEOUT_MS 2000

static const struct ctl_cmd *cmds[CTL_MAX_CMDS];
static unsigned ncmds;
static int listen_fd = -1;
static char sock_path[108];
static uid_t owner_uid;

static void out_vappend(struct ctl_out *o, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->buf ? o->cap - o->len : 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if (!o->buf || o->len + (size_t)n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *nb;
		while (cap < o->len + (size_t)n + 1)
			cap *= 2;
		nb = realloc(o->buf, cap);
		if (!nb)
			return;
		o->buf = nb;
		o->cap = cap;
		vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	}
	o->len += (size_t)n;
}

void ctl_printf(struct ctl_out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_vappend(o, fmt, ap);
	va_end(ap);
}

void ctl_error(struct ctl_out *o, const char *fmt, ...)
{
	va_list ap;

	o->failed = true;
	ctl_printf(o, "error: ");
	va_start(ap, fmt);
	out_vappend(o, fmt, ap);
	va_end(ap);
	ctl_printf(o, "\n");
}

void ctl_register(const struct ctl_cmd *cmd)
{
	if (ncmds == CTL_MAX_CMDS)
		mx_panic("ctl: more than %d commands registered", CTL_MAX_CMDS);
	cmds[ncmds++] = cmd;
}

void ctl_set_owner(uid_t uid)
{
	owner_uid = uid;
}

static unsigned nwords(const struct ctl_cmd *c)
{
	unsigned n = 0;
	while (n < 3 && c->words[n])
		n++;
	return n;
}

static void cmd_help(struct ctl_out *o, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	ctl_printf(o, "mxgate control commands:\n");
	for (unsigned i = 0; i < ncmds; i++) {
		char name[128] = "";
		for (unsigned w = 0; w < nwords(cmds[i]); w++) {
			strncat(name, cmds[i]->words[w], sizeof(name) - strlen(name) - 2);
			strcat(name, " ");
		}
		strncat(name, cmds[i]->usage ? cmds[i]->usage : "",
			sizeof(name) - strlen(name) - 1);
		ctl_printf(o, "  %-32s %s%s\n", name, cmds[i]->help,
			   (cmds[i]->flags & CTL_F_PRIV) ? " (privileged)" : "");
	}
}

static const struct ctl_cmd help_cmd = {
	.words = {"help"},
	.usage = "",
	.help = "list the commands",
	.fn = cmd_help,
};

__attribute__((constructor)) static void register_help(void)
{
	ctl_register(&help_cmd);
}

void ctl_run_line(struct ctl_out *o, char *line, bool privileged)
{
	char *argv[CTL_MAX_ARGS + 1];
	int argc = 0;
	char *save = NULL;
	const struct ctl_cmd *best = NULL;
	unsigned best_n = 0;

	for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		if (argc == CTL_MAX_ARGS) {
			ctl_error(o, "too many arguments (at most %d)", CTL_MAX_ARGS);
			return;
		}
		argv[argc++] = t;
	}
	argv[argc] = NULL;
	if (argc == 0) {
		ctl_error(o, "empty command (try 'help')");
		return;
	}
	/* Longest match of the command words. */
	for (unsigned i = 0; i < ncmds; i++) {
		unsigned n = nwords(cmds[i]);
		bool match = (int)n <= argc;
		for (unsigned w = 0; match && w < n; w++)
			match = strcmp(cmds[i]->words[w], argv[w]) == 0;
		if (match && n > best_n) {
			best = cmds[i];
			best_n = n;
		}
	}
	if (!best) {
		ctl_error(o, "unknown command '%s' (try 'help')", argv[0]);
		return;
	}
	if ((best->flags & CTL_F_PRIV) && !privileged) {
		ctl_error(
			o,
			"permission denied: '%s' changes state and needs root or the daemon's user",
			argv[0]);
		return;
	}
	best->fn(o, argc - (int)best_n, argv + best_n);
}

int ctl_open(const char *path, uid_t uid, gid_t gid)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[sizeof(sa.sun_path)];
	char *slash;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		MX_ERR("[ctl] socket = %s: path longer than %zu bytes", path,
		       sizeof(sa.sun_path) - 1);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) == 0) {
			if (chown(dir, uid, gid) != 0)
				MX_WARN("ctl: chown %s: %s", dir, strerror(errno));
		} else if (errno != EEXIST) {
			MX_ERR("[ctl] socket = %s: cannot create directory %s: %s", path, dir,
			       strerror(errno));
			return -1;
		}
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(sock_path, sizeof(sock_path), "%s", path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0) {
		MX_ERR("ctl: socket: %s", strerror(errno));
		return -1;
	}
	unlink(path); /* a stale socket from a crashed run */
	if (bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(path, 0660) != 0 ||
	    chown(path, uid, gid) != 0 || listen(listen_fd, 16) != 0) {
		MX_ERR("[ctl] socket = %s: cannot listen: %s", path, strerror(errno));
		close(listen_fd);
		listen_fd = -1;
		return -1;
	}
	owner_uid = uid;
	return 0;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (errno == EAGAIN) {
				struct pollfd pfd = {.fd = fd, .events = POLLOUT};
				if (poll(&pfd, 1, CTL_READ_TIMEOUT_MS) > 0)
					continue;
			}
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void serve(int fd)
{
	char line[CTL_LINE_MAX];
	size_t len = 0;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	bool privileged = false;
	struct ctl_out o = {0};

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
		privileged = cred.uid == 0 || cred.uid == owner_uid;
	while (len < sizeof(line) - 1) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t r;
		if (poll(&pfd, 1, CTL_READ_TIMEOUT_MS) <= 0)
			break;
		r = read(fd, line + len, sizeof(line) - 1 - len);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (memchr(line, '\n', len))
			break;
	}
	line[len] = '\0';
	if (len == sizeof(line) - 1 && !memchr(line, '\n', len))
		ctl_error(&o, "command line longer than %d bytes", CTL_LINE_MAX - 1);
	else
		ctl_run_line(&o, line, privileged);
	if (o.buf)
		write_all(fd, o.buf, o.len);
	free(o.buf);
}

int ctl_poll(int timeout_ms)
{
	struct pollfd pfd = {.fd = listen_fd, .events = POLLIN};
	int served = 0;

	if (listen_fd < 0) {
		struct timespec ts = {.tv_sec = timeout_ms / 1000,
				      .tv_nsec = (long)(timeout_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
		return 0;
	}
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 0;
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		serve(fd);
		close(fd);
		served++;
	}
	return served;
}

void ctl_close(void)
{
	if (listen_fd >= 0) {
		close(listen_fd);
		listen_fd = -1;
		unlink(sock_path);
	}
}
