/*
 * log.c - formatting, per-thread sinks, panic/fatal. See log.h.
 */
#include "core/log.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

int mx_log_level = MX_LOG_INFO;
int mx_log_json;
static bool to_syslog;
/* [log] syslog: our own RFC 3164 datagrams to a chosen socket (syslog(3)
 * only knows /dev/log, which a test cannot stand in for). */
static int syslog_fd = -1;
static struct sockaddr_un syslog_sa;
static pthread_mutex_t syslog_mu = PTHREAD_MUTEX_INITIALIZER;

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

/* ---- JSON lines ([log] format = json) ----
 *
 * One object per line: ts, level, pid, then what the text says in fields:
 * "worker N: " becomes "worker":N; the first word (smtp, relay, ctl ...)
 * "event"; every KEY=VALUE token a field of its own (digits as numbers;
 * "qids" a list split at commas); a 26-character queue id anywhere "qid";
 * and the whole text as "msg". So `jq 'select(.qid == "...")'` and
 * `select(.session == "0-17")` follow one message or one session. */

struct jbuf {
	char *p;
	size_t n, cap;
};

static void jput(struct jbuf *b, const char *s, size_t len)
{
	if (b->n + len >= b->cap)
		len = b->n + 1 < b->cap ? b->cap - b->n - 1 : 0;
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

static void jputs(struct jbuf *b, const char *s)
{
	jput(b, s, strlen(s));
}

static void jstr(struct jbuf *b, const char *s, size_t len)
{
	jputs(b, "\"");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jput(b, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			jputs(b, esc);
		} else {
			jput(b, (const char *)&c, 1);
		}
	}
	jputs(b, "\"");
}

static bool is_qid(const char *s, size_t len)
{
	if (len != 26)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]) && !isupper((unsigned char)s[i]))
			return false;
	return true;
}

static bool all_digits(const char *s, size_t len)
{
	if (len == 0 || len > 18)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static void json_fields(struct jbuf *b, const char *m, size_t len)
{
	const char *end = m + len, *t = m;
	bool qid_done = false, first = true;

	while (t < end) {
		const char *e = t, *eq;
		size_t tl;
		while (e < end && *e != ' ')
			e++;
		tl = (size_t)(e - t);
		eq = memchr(t, '=', tl);
		if (first && !eq && tl > 0) { /* "smtp", "relay:" */
			jputs(b, ",\"event\":");
			jstr(b, t, t[tl - 1] == ':' ? tl - 1 : tl);
		} else if (eq && eq > t) {
			size_t kl = (size_t)(eq - t), vl = tl - kl - 1;
			bool key_ok = true;
			for (size_t i = 0; i < kl; i++)
				key_ok &= islower((unsigned char)t[i]) ||
					  isdigit((unsigned char)t[i]) || t[i] == '_';
			if (key_ok && !(kl == 3 && memcmp(t, "msg", 3) == 0) &&
			    !(kl == 5 && memcmp(t, "level", 5) == 0)) {
				jputs(b, ",");
				jstr(b, t, kl);
				jputs(b, ":");
				if (kl == 4 && memcmp(t, "qids", 4) == 0) {
					const char *v = eq + 1, *ve = e;
					jputs(b, "[");
					while (v < ve) {
						const char *c = memchr(v, ',', (size_t)(ve - v));
						if (!c)
							c = ve;
						jstr(b, v, (size_t)(c - v));
						v = c + 1;
						if (v < ve)
							jputs(b, ",");
					}
					jputs(b, "]");
				} else if (all_digits(eq + 1, vl)) {
					jput(b, eq + 1, vl);
				} else {
					jstr(b, eq + 1, vl);
				}
				if (kl == 3 && memcmp(t, "qid", 3) == 0)
					qid_done = true;
			}
		} else if (!qid_done &&
			   (is_qid(t, tl) || (tl == 27 && t[26] == ':' && is_qid(t, 26)))) {
			jputs(b, ",\"qid\":");
			jstr(b, t, 26);
			qid_done = true;
		}
		first = false;
		t = e + 1;
	}
}

static size_t format_json(char *out, size_t cap, const char *stamp, long ms,
			  enum mx_log_level level, const char *line, size_t len)
{
	struct jbuf b = {.p = out, .cap = cap};
	char head[128];
	const char *m = line;
	size_t ml = len;
	unsigned worker;
	int skip = 0;

	out[0] = '\0';
	snprintf(head, sizeof(head), "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"pid\":%d", stamp, ms,
		 mx_log_level_name(level), (int)getpid());
	jputs(&b, head);
	if (sscanf(line, "worker %u: %n", &worker, &skip) == 1 && skip > 0 && (size_t)skip <= len) {
		snprintf(head, sizeof(head), ",\"worker\":%u", worker);
		jputs(&b, head);
		m += skip;
		ml -= (size_t)skip;
	}
	json_fields(&b, m, ml);
	jputs(&b, ",\"msg\":");
	jstr(&b, m, ml);
	jputs(&b, "}\n");
	if (b.n == 0 || out[b.n - 1] != '\n') { /* cut short: still one valid object */
		int n = snprintf(out, cap,
				 "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"pid\":%d,"
				 "\"msg\":\"(line too long for JSON)\"}\n",
				 stamp, ms, mx_log_level_name(level), (int)getpid());
		return n > 0 && (size_t)n < cap ? (size_t)n : 0;
	}
	return b.n;
}

int mx_log_open_syslog(const char *path)
{
	if (!path || !path[0])
		path = "/dev/log";
	if (strlen(path) >= sizeof(syslog_sa.sun_path))
		return -ENAMETOOLONG;
	memset(&syslog_sa, 0, sizeof(syslog_sa));
	syslog_sa.sun_family = AF_UNIX;
	memcpy(syslog_sa.sun_path, path, strlen(path) + 1);
	if (syslog_fd < 0 && (syslog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	/* Nobody listening yet is no error: every line tries again. */
	(void)connect(syslog_fd, (const struct sockaddr *)&syslog_sa, sizeof(syslog_sa));
	to_syslog = true;
	return 0;
}

/* One line as syslogd expects it from syslog(3): "<PRI>Mmm dd hh:mm:ss
 * mxgate[PID]: text", facility mail. A syslogd that restarted (its socket
 * replaced) is reconnected once per failed line, under a lock that only
 * that path takes. */
static void syslog_line(enum mx_log_level level, const char *line, size_t len)
{
	static const int prio[MX_LOG_LEVEL_COUNT] = {LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO,
						     LOG_DEBUG};
	char msg[2048], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	n = snprintf(msg, sizeof(msg), "<%d>%s mxgate[%d]: %.*s", LOG_MAIL | prio[level], stamp,
		     (int)getpid(), (int)len, line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (send(syslog_fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0 ||
	    (errno != ENOTCONN && errno != ECONNREFUSED && errno != ENOENT &&
	     errno != EDESTADDRREQ))
		return;
	pthread_mutex_lock(&syslog_mu);
	if (connect(syslog_fd, (const struct sockaddr *)&syslog_sa, sizeof(syslog_sa)) == 0)
		(void)send(syslog_fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	pthread_mutex_unlock(&syslog_mu);
}

void mx_log_stderr(enum mx_log_level level, const char *line, size_t len)
{
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	char out[16384]; /* a 1023-octet line, every octet escaped, twice */
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	if (__atomic_load_n(&mx_log_json, __ATOMIC_RELAXED))
		n = (int)format_json(out, sizeof(out), stamp, ts.tv_nsec / 1000000, level, line,
				     len);
	else
		n = snprintf(out, sizeof(out), "%s.%03ldZ mxgate[%d] %s: %.*s\n", stamp,
			     ts.tv_nsec / 1000000, (int)getpid(), mx_log_level_name(level),
			     (int)len, line);
	if (n > (int)sizeof(out))
		n = sizeof(out);
	if (to_syslog && (unsigned)level < MX_LOG_LEVEL_COUNT)
		syslog_line(level, line, len);
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
