/*
 * ctl.c - control socket server and command registry. See ctl.h.
 *
 * The listener and every client are registered on the control loop
 * (core/loop.h). A client's life: READ (bytes collected into its own line
 * buffer until a newline, EOF or the limit; CTL_READ_DEADLINE_MS from
 * accept to a complete line), the command runs (or is DEFERRED: the fd
 * leaves the loop until ctl_complete()), WRITE (the answer goes out as the
 * socket accepts it; CTL_WRITE_IDLE_MS without progress drops the client),
 * close. Nothing here blocks: no poll, no blocking read or write.
 *
 * Memory: each client (struct ctl_client with its buffers) is malloc'ed at
 * accept and freed when it is closed; the registry is static.
 */
#include "ctl/ctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"

#define CTL_MAX_CMDS	    128
#define CTL_ACCEPT_BURST    16	/* accepts per listener callback */
#define CTL_ACCEPT_PAUSE_MS 100 /* out of fds: listener paused this long */

enum ctl_client_state {
	CTL_C_READ = 0, /* collecting the command line */
	CTL_C_DEFERRED, /* command answers later (ctl_defer()), fd not on the loop */
	CTL_C_WRITE,	/* sending the answer */
};

struct ctl_client {
	int fd;
	enum ctl_client_state state;
	bool privileged;
	struct ucred cred; /* pid -1 if unknown */
	struct mx_loop_timer deadline;
	void (*abandon)(void *arg);
	void *abandon_arg;
	struct ctl_client *prev, *next; /* all clients */
	struct ctl_out out;
	size_t out_off; /* bytes of out already sent */
	size_t in_len;
	char in[CTL_LINE_MAX];
};

static const struct ctl_cmd *cmds[CTL_MAX_CMDS];
static unsigned ncmds;
static int listen_fd = -1;
static char sock_path[108];
static uid_t owner_uid;

static struct ctl_client *clients; /* list head */
static unsigned nclients;
static struct ctl_client *running; /* whose command fn runs right now */
static struct mx_loop_timer accept_pause;
static bool refusing; /* at the client limit: logged once until it clears */

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

/* ---- clients ---- */

static void client_free(struct ctl_client *c)
{
	mx_loop_timer_cancel(&c->deadline);
	if (c->state != CTL_C_DEFERRED)
		mx_loop_del(c->fd);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	nclients--;
	if (nclients < CTL_MAX_CLIENTS && refusing) {
		refusing = false;
		MX_NOTICE("ctl: below %d clients again, accepting", CTL_MAX_CLIENTS);
	}
	free(c->out.buf);
	free(c);
}

/* One non-blocking attempt to send a short line before closing. */
static void send_once(int fd, const char *line)
{
	ssize_t w = send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)w; /* the client is closed either way */
}

static void start_write(struct ctl_client *c)
{
	c->state = CTL_C_WRITE;
	c->out_off = 0;
	if (c->out.len == 0) { /* nothing to say: just close */
		client_free(c);
		return;
	}
	if (mx_loop_mod(c->fd, MX_LOOP_OUT) != 0) {
		client_free(c);
		return;
	}
	mx_loop_timer_arm(&c->deadline, CTL_WRITE_IDLE_MS);
}

static void run_command(struct ctl_client *c)
{
	char *nl = memchr(c->in, '\n', c->in_len);

	if (nl)
		*nl = '\0'; /* what follows the line is ignored */
	c->in[c->in_len] = '\0';
	if (!nl && c->in_len == sizeof(c->in) - 1) {
		ctl_error(&c->out, "command line longer than %d bytes", CTL_LINE_MAX - 1);
	} else {
		running = c;
		ctl_run_line(&c->out, c->in, c->privileged);
		running = NULL;
	}
	if (c->state == CTL_C_DEFERRED) {
		mx_loop_del(c->fd);
		mx_loop_timer_arm(&c->deadline, CTL_DEFER_DEADLINE_MS);
		return;
	}
	start_write(c);
}

static void client_read(struct ctl_client *c)
{
	ssize_t r = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);

	if (r < 0) {
		if (errno != EAGAIN && errno != EINTR)
			client_free(c);
		return;
	}
	/* EOF ends the line too: `printf 'show info' | nc -U -N` works. */
	if (r > 0 && !memchr(c->in + c->in_len, '\n', (size_t)r) &&
	    c->in_len + (size_t)r < sizeof(c->in) - 1) {
		c->in_len += (size_t)r;
		return;
	}
	c->in_len += (size_t)r;
	mx_loop_timer_cancel(&c->deadline);
	run_command(c);
}

static void client_write(struct ctl_client *c)
{
	ssize_t w = send(c->fd, c->out.buf + c->out_off, c->out.len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);

	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			client_free(c); /* the client went away: nothing to tell */
		return;
	}
	c->out_off += (size_t)w;
	if (c->out_off == c->out.len) {
		client_free(c);
		return;
	}
	mx_loop_timer_arm(&c->deadline, CTL_WRITE_IDLE_MS);
}

static void on_client(int fd, unsigned events, void *arg)
{
	struct ctl_client *c = arg;

	(void)fd;
	if (c->state == CTL_C_READ && (events & (MX_LOOP_IN | MX_LOOP_ERR)))
		client_read(c);
	else if (c->state == CTL_C_WRITE && (events & (MX_LOOP_OUT | MX_LOOP_ERR)))
		client_write(c);
}

static void on_deadline(struct mx_loop_timer *t, void *arg)
{
	struct ctl_client *c = arg;

	(void)t;
	switch (c->state) {
	case CTL_C_READ:
		MX_INFO("ctl: client pid %d uid %u sent no complete command line within %d s: "
			"closed",
			(int)c->cred.pid, (unsigned)c->cred.uid, CTL_READ_DEADLINE_MS / 1000);
		send_once(c->fd, "error: no complete command line within the deadline\n");
		break;
	case CTL_C_DEFERRED:
		MX_WARN("ctl: a deferred command for pid %d did not complete within %d s",
			(int)c->cred.pid, CTL_DEFER_DEADLINE_MS / 1000);
		if (c->abandon)
			c->abandon(c->abandon_arg);
		send_once(c->fd, "error: the command did not complete in time\n");
		break;
	case CTL_C_WRITE:
		MX_INFO("ctl: client pid %d did not read its answer (%zu of %zu bytes sent "
			"after %d s without progress): closed",
			(int)c->cred.pid, c->out_off, c->out.len, CTL_WRITE_IDLE_MS / 1000);
		break;
	}
	client_free(c);
}

static void accept_one(int fd)
{
	struct ctl_client *c;
	socklen_t cl;

	if (nclients >= CTL_MAX_CLIENTS) {
		if (!refusing)
			MX_WARN("ctl: %d clients connected: refusing more until one leaves",
				CTL_MAX_CLIENTS);
		refusing = true;
		send_once(fd, "error: too many ctl clients connected, try again later\n");
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		send_once(fd, "error: out of memory\n");
		close(fd);
		return;
	}
	c->fd = fd;
	c->cred.pid = -1;
	cl = sizeof(c->cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &cl) == 0)
		c->privileged = c->cred.uid == 0 || c->cred.uid == owner_uid;
	else
		c->cred = (struct ucred){.pid = -1, .uid = (uid_t)-1, .gid = (gid_t)-1};
	if (mx_loop_add(fd, MX_LOOP_IN, on_client, c) != 0) {
		free(c);
		close(fd);
		return;
	}
	mx_loop_timer_init(&c->deadline, on_deadline, c);
	mx_loop_timer_arm(&c->deadline, CTL_READ_DEADLINE_MS);
	c->next = clients;
	if (clients)
		clients->prev = c;
	clients = c;
	nclients++;
}

static void on_accept_pause(struct mx_loop_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	if (listen_fd >= 0)
		mx_loop_mod(listen_fd, MX_LOOP_IN);
}

static void on_listen(int fd, unsigned events, void *arg)
{
	(void)events;
	(void)arg;
	for (int i = 0; i < CTL_ACCEPT_BURST; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			accept_one(cfd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Level-triggered: pause rather than spin on it. */
			MX_WARN("ctl: accept: %s; pausing the ctl socket for %d ms",
				strerror(errno), CTL_ACCEPT_PAUSE_MS);
			mx_loop_mod(fd, 0);
			mx_loop_timer_arm(&accept_pause, CTL_ACCEPT_PAUSE_MS);
		}
		return; /* EAGAIN: no more */
	}
}

struct ctl_client *ctl_defer(struct ctl_out *o, void (*abandon)(void *arg), void *arg)
{
	struct ctl_client *c = running;

	if (!c || &c->out != o || c->state != CTL_C_READ)
		return NULL;
	c->state = CTL_C_DEFERRED;
	c->abandon = abandon;
	c->abandon_arg = arg;
	return c;
}

void ctl_complete(struct ctl_client *c)
{
	MX_ASSERT(c->state == CTL_C_DEFERRED);
	mx_loop_timer_cancel(&c->deadline);
	if (c == running) { /* completed inside its own fn: still registered */
		c->state = CTL_C_READ;
		return;
	}
	c->state = CTL_C_WRITE; /* not on the loop: add it back */
	if (mx_loop_add(c->fd, MX_LOOP_OUT, on_client, c) != 0) {
		c->state = CTL_C_DEFERRED; /* so client_free() does not del it */
		client_free(c);
		return;
	}
	start_write(c);
}

/* ---- the socket ---- */

/* Does directory @fd hold nothing but sockets (and @name, whatever it is)?
 * Such a directory is a socket directory: one an older mxgate created. */
static bool only_sockets(int fd, const char *name)
{
	int dup_fd = dup(fd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *e;
	struct stat st;
	bool ok = d != NULL;

	if (!d && dup_fd >= 0)
		close(dup_fd);
	while (ok && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, name) == 0)
			continue;
		ok = fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode);
	}
	if (d)
		closedir(d);
	return ok;
}

/* Open the socket's directory @dir (created root-owned 0755 if missing)
 * and return an fd on it for *at() calls, or -1 (logged). Root creates,
 * removes and chowns the socket in it, so no other user may be able to
 * swap the name for a symbolic link between two of those calls: the
 * directory must be root's and not writable by others (a sticky one like
 * /tmp is safe too: nobody else can rename or remove root's socket). A
 * symbolic link as the directory itself is refused. A directory that
 * fails this and holds only sockets is one an older mxgate gave to its
 * user: it is taken back (root:root 0755) through the fd; any other is
 * refused. */
static int socket_dir(const char *path, const char *dir, const char *name)
{
	struct stat st;
	int fd;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		MX_ERR("[ctl] socket = %s: cannot create directory %s: %s", path, dir,
		       strerror(errno));
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		MX_ERR("[ctl] socket = %s: cannot open directory %s: %s%s", path, dir,
		       strerror(errno),
		       errno == ELOOP || errno == ENOTDIR
			       ? " (a symbolic link or not a directory: give the real path)"
			       : "");
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		MX_ERR("[ctl] socket = %s: fstat %s: %s", path, dir, strerror(errno));
		close(fd);
		return -1;
	}
	if (geteuid() != 0 || (st.st_uid == 0 && (!(st.st_mode & 022) || (st.st_mode & S_ISVTX))))
		return fd;
	if (!only_sockets(fd, name)) {
		MX_ERR("[ctl] socket = %s: directory %s (uid %u, mode %03o) is writable by others "
		       "than root and holds other files: make it root-owned and not writable by "
		       "the daemon's user, or use a directory of its own",
		       path, dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	if (fchown(fd, 0, 0) != 0 || fchmod(fd, 0755) != 0) {
		MX_ERR("[ctl] socket = %s: cannot make %s root-owned 0755: %s", path, dir,
		       strerror(errno));
		close(fd);
		return -1;
	}
	MX_NOTICE("ctl: %s was uid %u gid %u mode %03o: now root:root 0755 (the daemon's user "
		  "must not write where root creates the socket)",
		  dir, (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
	return fd;
}

int ctl_open(const char *path, uid_t uid, gid_t gid)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[sizeof(sa.sun_path)];
	const char *name = path;
	struct stat by_dir, by_path;
	mode_t mask;
	int dfd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		MX_ERR("[ctl] socket = %s: path longer than %zu bytes", path,
		       sizeof(sa.sun_path) - 1);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	if (strrchr(dir, '/')) {
		char *slash = strrchr(dir, '/');
		name = path + (slash - dir) + 1;
		if (slash == dir)
			slash[1] = '\0'; /* "/ctl.sock": the root directory */
		else
			*slash = '\0';
	} else {
		snprintf(dir, sizeof(dir), ".");
	}
	if (*name == '\0') {
		MX_ERR("[ctl] socket = %s: expected a file name after the directory", path);
		return -1;
	}
	if ((dfd = socket_dir(path, dir, name)) < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(sock_path, sizeof(sock_path), "%s", path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0) {
		MX_ERR("ctl: socket: %s", strerror(errno));
		close(dfd);
		return -1;
	}
	/* A stale socket from a crashed run, or whatever else has the name:
	 * unlinkat removes a symbolic link, never what it points to. */
	if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT) {
		MX_ERR("[ctl] socket = %s: cannot remove the old %s: %s", path, name,
		       strerror(errno));
		goto fail;
	}
	/* Linux gives an AF_UNIX socket file its mode from the umask at bind
	 * (fchmod on the socket fd does not reach the file): 0660 from the
	 * start, then the owner through the directory fd without following a
	 * link. Nobody but root writes in @dir, so the name cannot change
	 * between the two; the fstatat/lstat pair proves bind() resolved
	 * @path into the directory @dfd holds. */
	mask = umask(0117);
	rc = bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(mask);
	if (rc != 0) {
		MX_ERR("[ctl] socket = %s: cannot bind: %s", path, strerror(errno));
		goto fail;
	}
	if (fstatat(dfd, name, &by_dir, AT_SYMLINK_NOFOLLOW) != 0 || lstat(path, &by_path) != 0 ||
	    !S_ISSOCK(by_dir.st_mode) || by_dir.st_dev != by_path.st_dev ||
	    by_dir.st_ino != by_path.st_ino) {
		MX_ERR("[ctl] socket = %s: the bound socket is not %s in %s (directory replaced "
		       "during start-up?)",
		       path, name, dir);
		goto fail;
	}
	if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 ||
	    listen(listen_fd, CTL_MAX_CLIENTS) != 0) {
		MX_ERR("[ctl] socket = %s: cannot listen: %s", path, strerror(errno));
		goto fail;
	}
	close(dfd);
	dfd = -1;
	rc = mx_loop_add(listen_fd, MX_LOOP_IN, on_listen, NULL);
	if (rc != 0) {
		MX_ERR("ctl: cannot watch %s on the control loop: %s", path, strerror(-rc));
		close(listen_fd);
		listen_fd = -1;
		unlink(path);
		return -1;
	}
	mx_loop_timer_init(&accept_pause, on_accept_pause, NULL);
	owner_uid = uid;
	return 0;
fail:
	close(listen_fd);
	listen_fd = -1;
	if (dfd >= 0)
		close(dfd);
	return -1;
}

void ctl_close(void)
{
	while (clients) {
		struct ctl_client *c = clients;
		if (c->state == CTL_C_DEFERRED && c->abandon)
			c->abandon(c->abandon_arg);
		client_free(c);
	}
	if (listen_fd >= 0) {
		mx_loop_timer_cancel(&accept_pause);
		mx_loop_del(listen_fd);
		close(listen_fd);
		listen_fd = -1;
		unlink(sock_path);
	}
}
