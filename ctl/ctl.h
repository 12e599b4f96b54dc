/*
 * ctl.h - the control socket: a line protocol in the style of HAProxy's
 * runtime API. A client connects to the Unix socket, writes one command
 * line, reads the answer until the server closes. Answers that are errors
 * start with "error: ". Modules register their own commands with their
 * usage text next to the code that serves them (ctl_register()).
 *
 * The socket is created at boot with mode 0660 and owned by the daemon's
 * unprivileged user; every client's credentials are read (SO_PEERCRED) and
 * commands flagged CTL_F_PRIV are refused unless the peer is root or the
 * daemon's user. Control thread only; nothing here is thread-safe.
 */
#ifndef MX_CTL_CTL_H
#define MX_CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CTL_MAX_ARGS 16
#define CTL_F_PRIV   0x1 /* changes state: root or the daemon's user only */

/* Output of one command: a growing buffer (jemalloc, control thread). */
struct ctl_out {
	char *buf;
	size_t len, cap;
	bool failed; /* set by ctl_error() */
};

void ctl_printf(struct ctl_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Start the answer with "error: " + message, mark the command failed. */
void ctl_error(struct ctl_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct ctl_cmd {
	const char *words[3]; /* e.g. {"show", "stats"}; NULL-terminated */
	const char *usage;    /* arguments after the words, e.g. "[json]" */
	const char *help;     /* one line */
	unsigned flags;
	/* argv holds the arguments after the command words. */
	void (*fn)(struct ctl_out *o, int argc, char **argv);
};

/** Register @cmd (static storage). Boot only. */
void ctl_register(const struct ctl_cmd *cmd);

/** Create, bind and listen on @path (its directory is created 0750 if
 * missing), mode 0660, owned by @uid/@gid. Returns 0 or -1 (logged). */
int ctl_open(const char *path, uid_t uid, gid_t gid);

/** Serve clients for up to @timeout_ms. Returns the number of commands run. */
int ctl_poll(int timeout_ms);

/** Run one command line into @o as if it came from a privileged client
 * (tests, --check). */
void ctl_run_line(struct ctl_out *o, char *line, bool privileged);

/** Close the socket and remove its file. */
void ctl_close(void);

/** Set the uid allowed for CTL_F_PRIV commands besides root. */
void ctl_set_owner(uid_t uid);

#endif
