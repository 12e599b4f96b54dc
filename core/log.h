/*
 * log.h - mxgate logging and invariant checks.
 *
 * mx_log() formats one line and hands it to the current thread's sink. The
 * default sink writes to stderr (boot and control thread). Worker lcores
 * install a sink that copies the line into a per-lcore ring drained by the
 * control thread, so a worker never blocks on a write(2).
 *
 * Severities follow Postfix: mx_panic() for a broken invariant (abort, core
 * dump), mx_fatal() when the process cannot go on (exit 1), MX_LOG_ERR for
 * recoverable errors. Bad network input is never a panic.
 *
 * Depends on libc only, so the pure protocol cores can log.
 */
#ifndef MX_CORE_LOG_H
#define MX_CORE_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum mx_log_level {
	MX_LOG_ERR = 0,
	MX_LOG_WARN,
	MX_LOG_NOTICE,
	MX_LOG_INFO,
	MX_LOG_DEBUG,
	MX_LOG_LEVEL_COUNT,
};

/** Sink for one formatted line (no trailing newline). @line is only valid
 * during the call. Must not block if installed on a worker lcore. */
typedef void (*mx_log_sink_fn)(enum mx_log_level level, const char *line, size_t len);

/** Global level threshold; lines above it are not formatted at all. */
extern int mx_log_level;

/** [log] format: 0 text lines (default), 1 one JSON object per line
 * (fields: ts, level, pid, worker, event, every KEY=VALUE of the text,
 * qid, msg). Set by the control thread, read by every writer (relaxed). */
extern int mx_log_json;

/** Also send every line to the syslog socket @path ([log] syslog_socket;
 * NULL or "": /dev/log) as syslog(3) would: facility mail, ident mxgate,
 * one datagram per line; reconnected when syslogd restarts. Returns 0, or
 * -errno (the path too long, no socket). Boot, before threads start. */
int mx_log_open_syslog(const char *path);

/** Install @fn as the sink of the calling thread (NULL: stderr). */
void mx_log_set_thread_sink(mx_log_sink_fn fn);

/** Parse "err|warn|notice|info|debug" into a level; -1 if unknown. */
int mx_log_level_parse(const char *s);
const char *mx_log_level_name(enum mx_log_level level);

void mx_logv(enum mx_log_level level, const char *fmt, va_list ap);
void mx_log(enum mx_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Write a line straight to stderr with a timestamp (control thread). */
void mx_log_stderr(enum mx_log_level level, const char *line, size_t len);

/** Broken invariant: log and abort(). Never for bad input. */
void mx_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/** Cannot go on: log and exit(1). Boot and control paths only. */
void mx_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define MX_ERR(...)    mx_log(MX_LOG_ERR, __VA_ARGS__)
#define MX_WARN(...)   mx_log(MX_LOG_WARN, __VA_ARGS__)
#define MX_NOTICE(...) mx_log(MX_LOG_NOTICE, __VA_ARGS__)
#define MX_INFO(...)   mx_log(MX_LOG_INFO, __VA_ARGS__)
#define MX_DEBUG(...)                                      \
	do {                                               \
		if (mx_log_level >= MX_LOG_DEBUG)          \
			mx_log(MX_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#define MX_ASSERT(cond)                                                                     \
	do {                                                                                \
		if (__builtin_expect(!(cond), 0))                                           \
			mx_panic("%s:%d: invariant failed: %s", __FILE__, __LINE__, #cond); \
	} while (0)

#endif
