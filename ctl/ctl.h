/*
 * ctl.h - the control socket: a line protocol in the style of HAProxy's
 * runtime API. A client connects to the Unix socket, writes one command
 * line, reads the answer until the server closes. Answers that are errors
 * start with "error: ". Modules register their own commands with their
 * usage text next to the code that serves them (ctl_register()).
 *
 * The socket is created at boot with mode 0660 and owned by the daemon's
 * unprivileged user, in a root-owned directory that user cannot write (so
 * the file stays after exit and the next start replaces it); every client's credentials are read
 * (SO_PEERCRED) and commands flagged CTL_F_PRIV are refused unless the peer is root or the daemon's
 * user.
 *
 * Clients are served on the control loop (core/loop.h), concurrently and
 * without blocking: each has its own input and output buffer and deadline
 * (limits below), so a slow or stuck client never delays another client,
 * a timer, log draining or signal handling. A command normally answers
 * inside its function; one that must wait (a reload, a lookup) takes a
 * handle with ctl_defer() and answers later with ctl_complete().
 *
 * Control thread only; nothing here is thread-safe.
 */
#ifndef MX_CTL_CTL_H
#define MX_CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CTL_MAX_ARGS 16
#define CTL_F_PRIV   0x1 /* changes state: root or the daemon's user only */

/* Per-client limits. */
#define CTL_LINE_MAX	      4096  /* line buffer: at most 4095 bytes, newline included */
#define CTL_MAX_CLIENTS	      64    /* connected at once; more get an error line */
#define CTL_READ_DEADLINE_MS  10000 /* from accept to a complete line */
#define CTL_WRITE_IDLE_MS     10000 /* answer not taken for this long: dropped */
#define CTL_DEFER_DEADLINE_MS 60000 /* a deferred command must complete by then */

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

/** Create, bind and listen on @path, mode 0660, owned by @uid/@gid, and
 * serve it on the control loop (mx_loop_init() must have been called).
 * Its directory is made root-owned 0755 (created, or taken back when an
 * older version gave it to the daemon's user; a symbolic link is refused)
 * and whatever had the socket's name is removed without following it.
 * Call as root before the privilege drop. Returns 0 or -1 (logged). */
int ctl_open(const char *path, uid_t uid, gid_t gid);

/** Run one command line into @o as if it came from a privileged client
 * (tests, --check). */
void ctl_run_line(struct ctl_out *o, char *line, bool privileged);

/** Stop serving: unregister and close the socket, remove its file, close
 * every client (deferred ones are abandoned first, see ctl_defer()).
 * Call before mx_loop_fini(). */
void ctl_close(void);

/* A client whose command answers later (opaque). */
struct ctl_client;

/** Inside a command's fn: keep the client open after fn returns. The
 * answer goes on being written to @o, which stays valid until
 * ctl_complete(); the command must call ctl_complete() exactly once,
 * unless @abandon(@arg) was called first (the client was dropped: the
 * handle and @o are then gone). @abandon is called if the command has not
 * completed within CTL_DEFER_DEADLINE_MS (the client gets an error) or at
 * ctl_close(); @abandon must not call ctl_complete(). Returns the handle, or NULL if @o does not
 * belong to a socket client (ctl_run_line() from --check or tests): the command must then answer
 * now. */
struct ctl_client *ctl_defer(struct ctl_out *o, void (*abandon)(void *arg), void *arg);

/** Send what was written to the deferred client's ctl_out, then close it.
 * Takes the handle back: it is invalid after the call. */
void ctl_complete(struct ctl_client *c);

/** Set the uid allowed for CTL_F_PRIV commands besides root. */
void ctl_set_owner(uid_t uid);

#endif
