/*
 * metrics.c - a minimal HTTP server for Prometheus on the control loop.
 *
 *   GET /metrics (or HEAD)  200, Content-Type: text/plain; version=0.0.4
 *   GET anything else       404
 *   another method          405 (Allow: GET, HEAD)
 *   malformed request line  400; request head over METRICS_REQ_MAX: 431
 *
 * One request per connection: every answer says Connection: close and the
 * server closes after writing it (HTTP/1.0 and 1.1 clients both accept
 * that). Everything is non-blocking: a client has a fixed slot (at most
 * METRICS_MAX_CLIENTS; more are closed at once), a request buffer, its
 * answer and an idle timer (METRICS_IDLE_MS without progress: closed), so
 * a slow or silent client never holds the control thread.
 *
 * The answer is formatted in full when the request is complete (the walk
 * reads every counter: relaxed loads, plus the relay's queue summary under
 * its lock), then written as the socket accepts it. Control thread only.
 */
#include "ctl/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "core/counters.h"
#include "core/log.h"
#include "core/loop.h"

#define METRICS_MAX_CLIENTS 16
#define METRICS_REQ_MAX	    4096
#define METRICS_IDLE_MS	    10000

struct mclient {
	int fd; /* -1: slot free */
	size_t rlen;
	char req[METRICS_REQ_MAX + 1];
	struct mx_buf out; /* the whole answer, once the request is complete */
	size_t off;	   /* bytes of out already written */
	struct mx_loop_timer idle;
};

static int listen_fd = -1;
static struct mclient clients[METRICS_MAX_CLIENTS];

static void client_close(struct mclient *m)
{
	if (m->fd < 0)
		return;
	mx_loop_timer_cancel(&m->idle);
	mx_loop_del(m->fd);
	close(m->fd);
	m->fd = -1;
	mx_buf_free(&m->out);
}

static void on_idle(struct mx_loop_timer *t, void *arg)
{
	(void)t;
	client_close(arg);
}

/* Write what the socket takes; close when all is written or on error. */
static void client_write(struct mclient *m)
{
	while (m->off < m->out.len) {
		ssize_t n = send(m->fd, m->out.p + m->off, m->out.len - m->off, MSG_NOSIGNAL);

		if (n > 0) {
			m->off += (size_t)n;
			mx_loop_timer_arm(&m->idle, METRICS_IDLE_MS);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return; /* MX_LOOP_OUT brings us back */
		break;
	}
	client_close(m);
}

static void answer(struct mclient *m, int code, const char *reason, const char *extra,
		   const char *ctype, const struct mx_buf *body, bool head)
{
	size_t blen = body ? body->len : strlen(reason) + 1;

	mx_buf_printf(&m->out,
		      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
		      "Connection: close\r\n\r\n",
		      code, reason, ctype, blen, extra ? extra : "");
	if (!head) {
		if (body && body->len)
			mx_buf_printf(&m->out, "%s", body->p);
		else if (!body)
			mx_buf_printf(&m->out, "%s\n", reason);
	}
}

/* The request head is complete in m->req: build the answer. */
static void handle(struct mclient *m)
{
	static const char plain[] = "text/plain; charset=utf-8";
	char method[16], target[1024], version[16];
	bool head;

	if (sscanf(m->req, "%15s %1023s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		answer(m, 400, "Bad Request", NULL, plain, NULL, false);
		return;
	}
	head = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !head) {
		answer(m, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", plain, NULL, false);
		return;
	}
	target[strcspn(target, "?")] = '\0'; /* query strings are ignored */
	if (strcmp(target, "/metrics") != 0) {
		answer(m, 404, "Not Found", NULL, plain, NULL, head);
		return;
	}
	struct mx_buf body = {0};
	if (mx_ctr_format_prom(&body) != 0) {
		answer(m, 500, "Internal Server Error", NULL, plain, NULL, head);
	} else {
		answer(m, 200, "OK", NULL, "text/plain; version=0.0.4; charset=utf-8", &body, head);
	}
	mx_buf_free(&body);
}

static void on_client(int fd, unsigned events, void *arg)
{
	struct mclient *m = arg;

	(void)fd;
	if (m->out.len || m->out.failed) { /* answering */
		if (m->out.failed)
			client_close(m);
		else
			client_write(m);
		return;
	}
	if (!(events & (MX_LOOP_IN | MX_LOOP_ERR)))
		return;
	for (;;) {
		ssize_t n = recv(m->fd, m->req + m->rlen, METRICS_REQ_MAX - m->rlen, 0);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) { /* closed or error before a whole request */
			client_close(m);
			return;
		}
		m->rlen += (size_t)n;
		m->req[m->rlen] = '\0';
		mx_loop_timer_arm(&m->idle, METRICS_IDLE_MS);
		if (strstr(m->req, "\r\n\r\n") || strstr(m->req, "\n\n")) {
			handle(m);
			break;
		}
		if (m->rlen == METRICS_REQ_MAX) {
			answer(m, 431, "Request Header Fields Too Large", NULL,
			       "text/plain; charset=utf-8", NULL, false);
			break;
		}
	}
	if (m->out.failed || mx_loop_mod(m->fd, MX_LOOP_OUT) != 0) {
		client_close(m);
		return;
	}
	client_write(m);
}

static void on_listen(int fd, unsigned events, void *arg)
{
	(void)events;
	(void)arg;
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct mclient *m = NULL;

		if (c < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				MX_WARN("metrics: accept: %s", strerror(errno));
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		for (unsigned i = 0; i < METRICS_MAX_CLIENTS && !m; i++)
			if (clients[i].fd < 0)
				m = &clients[i];
		if (!m) { /* all slots busy: the scraper retries later */
			close(c);
			continue;
		}
		m->fd = c;
		m->rlen = 0;
		m->off = 0;
		memset(&m->out, 0, sizeof(m->out));
		if (mx_loop_add(c, MX_LOOP_IN, on_client, m) != 0) {
			close(c);
			m->fd = -1;
			continue;
		}
		mx_loop_timer_arm(&m->idle, METRICS_IDLE_MS);
	}
}

int metrics_open(const struct mx_config *c)
{
	struct sockaddr_storage ss;
	size_t len;
	int one = 1, rc;

	for (unsigned i = 0; i < METRICS_MAX_CLIENTS; i++) {
		clients[i].fd = -1;
		mx_loop_timer_init(&clients[i].idle, on_idle, &clients[i]);
	}
	if (!c->metrics_listen[0])
		return 0;
	if (config_parse_listen(c->metrics_listen, &ss, &len) != 0) {
		MX_ERR("[metrics] listen = %s: not ADDRESS:PORT", c->metrics_listen);
		return -1;
	}
	listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 ||
	    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(listen_fd, (struct sockaddr *)&ss, (socklen_t)len) != 0 ||
	    listen(listen_fd, 64) != 0) {
		MX_ERR("[metrics] listen = %s: %s", c->metrics_listen, strerror(errno));
		metrics_close();
		return -1;
	}
	if ((rc = mx_loop_add(listen_fd, MX_LOOP_IN, on_listen, NULL)) != 0) {
		MX_ERR("[metrics] listen = %s: control loop: %s", c->metrics_listen, strerror(-rc));
		metrics_close();
		return -1;
	}
	MX_NOTICE("metrics: serving http://%s/metrics", c->metrics_listen);
	return 0;
}

void metrics_close(void)
{
	for (unsigned i = 0; i < METRICS_MAX_CLIENTS; i++)
		if (clients[i].idle.fn) /* initialised by metrics_open() */
			client_close(&clients[i]);
	if (listen_fd >= 0) {
		mx_loop_del(listen_fd);
		close(listen_fd);
		listen_fd = -1;
	}
}
