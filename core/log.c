/*
 * log.c - formatting, per-thread sinks, panic/fatal. See log.h.
 */
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int mx_log_level = MX_LOG_INFO;

static __thread mx_log_sink_fn thread_sink;

static const char *const level_names[MX_LOG_LEVEL_COUNT] = {
	[MX_LOG_ERR] = "err",	[MX_LOG_WARN] = "warn",	  [MX_LOG_NOTICE] = "notice",
	[MX_LOG_INFO] = "info", [MX_LOG_DEBUG] = "debug",
};

void mx_log_set_thread_sink(mx_log_sink_fn fn)
{
	thread_sink = fn;
}

int mx_log_level_parse(const char *s)
{
	for (int i = 0; i < MX_LOG_LEVEL_COUNT; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

const char *mx_log_level_name(enum mx_log_level level)
{
	return (unsigned)level < MX_LOG_LEVEL_COUNT ? level_names[level] : "?";
}

void mx_log_stderr(enum mx_log_level level, const char *line, size_t len)
{
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	char out[1200];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(out, sizeof(out), "%s.%03ldZ mxgate[%d] %s: %.*s\n", stamp,
		     ts.tv_nsec / 1000000, (int)getpid(), mx_log_level_name(level), (int)len, line);
	if (n > (int)sizeof(out))
		n = sizeof(out);
	/* One write(2) per line so concurrent writers do not interleave. */
	if (write(STDERR_FILENO, out, (size_t)n) < 0) {
		/* Nothing sensible to do: stderr is gone. */
	}
}

void mx_logv(enum mx_log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if ((int)level > mx_log_level)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (n >= (int)sizeof(line))
		n = sizeof(line) - 1;
	(thread_sink ? thread_sink : mx_log_stderr)(level, line, (size_t)n);
}

void mx_log(enum mx_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mx_logv(level, fmt, ap);
	va_end(ap);
}

void mx_panic(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line))
		n = sizeof(line) - 1;
	/* Straight to stderr: the log ring may be what is broken. */
	mx_log_stderr(MX_LOG_ERR, "panic: ", 7);
	mx_log_stderr(MX_LOG_ERR, line, n > 0 ? (size_t)n : 0);
	abort();
}

void mx_fatal(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line))
		n = sizeof(line) - 1;
	mx_log_stderr(MX_LOG_ERR, line, n > 0 ? (size_t)n : 0);
	exit(1);
}
