/*
 * server.c - SMTP over mxgate's TCP on a worker lcore.
 *
 * One struct srv per worker: the engine's session pool, the listener on
 * [smtp] port, and a fixed array of connection slots (allocated at boot,
 * free list at run time). A slot ties a TCB to an engine session and
 * carries the session's timer on the worker's wheel.
 *
 * Data flow (see smtp.h, DRIVING A SESSION): received bytes are read in
 * place from the TCP receive queue (zero copy) and fed to smtp_input();
 * what it consumed is consumed from TCP, the rest stays queued and keeps
 * the peer's window closed (back-pressure). Replies are drained from the
 * engine into tcp_send(); what TCP cannot take yet waits for
 * TCP_EV_WRITABLE. When the engine says closing and its output is drained,
 * the connection is half-closed and the session freed; the log line of the
 * session goes through the worker's log ring.
 *
 * Until the spool lands, end of data is answered by the engine's default,
 * 451 4.3.0 (the message was not stored): never 250.
 *
 * Worker lcore only, except the counters.
 */
#include "smtp/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config-t.h"
#include "core/log.h"
#include "dataplane/dataplane.h"
#include "dataplane/tcp/tcp.h"
#include "dataplane/timer.h"
#include "smtp/smtp.h"

#define SRV_MAX_WORKERS 128

struct conn {
	struct timer_entry timer; /* first: container_of by cast */
	struct srv *srv;
	struct tcp_tcb *tcb;
	struct smtp_session *s;
	struct conn *next_free;
	bool shut; /* FIN sent */
};

struct srv {
	unsigned worker;
	const uint64_t *now_us;
	struct timer_wheel *wheel;
	struct smtp_pool *pool;
	struct tcp_listener *l;
	struct conn *conns;
	struct conn *free;
	unsigned nconns, open;
	uint64_t refused;
};

static struct srv *servers[SRV_MAX_WORKERS];

static void conn_release(struct conn *c)
{
	struct srv *srv = c->srv;
	char line[512];

	timer_cancel(srv->wheel, &c->timer);
	if (c->s) {
		if (smtp_summary_format(c->s, *srv->now_us, line, sizeof(line)) > 0)
			MX_INFO("smtp %s", line);
		smtp_session_free(c->s, *srv->now_us);
		c->s = NULL;
	}
	c->tcb = NULL;
	c->next_free = srv->free;
	srv->free = c;
	__atomic_store_n(&srv->open, srv->open - 1, __ATOMIC_RELAXED);
}

/* Arm the session's timer at the engine's next deadline (µs -> ms ticks,
 * rounded up so the engine never sees an early call). */
static void conn_arm(struct conn *c)
{
	uint64_t d = c->s ? smtp_next_deadline(c->s) : UINT64_MAX;

	if (d == UINT64_MAX)
		timer_cancel(c->srv->wheel, &c->timer);
	else
		timer_arm(c->srv->wheel, &c->timer, (d + 999) / 1000);
}

/* Move engine output into TCP. Returns true if the output is empty. */
static bool conn_flush(struct conn *c)
{
	uint64_t now = *c->srv->now_us;
	size_t len;
	const uint8_t *p;

	while ((p = smtp_output_peek(c->s, &len)) && len > 0) {
		ssize_t n = tcp_send(c->tcb, p, len, now);
		if (n <= 0)
			return false; /* full (TCP_EV_WRITABLE follows) or closed */
		smtp_output_consume(c->s, (size_t)n);
		if ((size_t)n < len)
			return false;
	}
	return true;
}

/* Feed what TCP holds to the engine, flushing replies, until the engine
 * or the input stops. Then close if the engine is done. */
static void conn_pump(struct conn *c)
{
	uint64_t now = *c->srv->now_us;
	struct tcp_iov iov[8];
	unsigned n;
	bool progress = true;

	while (progress) {
		progress = false;
		if (!conn_flush(c))
			break;
		if (smtp_session_closing(c->s))
			break;
		n = tcp_recv_peek(c->tcb, iov, 8);
		for (unsigned i = 0; i < n; i++) {
			size_t used = smtp_input(c->s, iov[i].base, iov[i].len, now);
			if (used) {
				tcp_recv_consume(c->tcb, used, now);
				progress = true;
			}
			if (used < iov[i].len)
				break;
		}
	}
	if (smtp_session_closing(c->s) && conn_flush(c) && !c->shut) {
		/* 221/421 sent: FIN after it; the TCB is released at CLOSED. */
		c->shut = true;
		tcp_shutdown(c->tcb, now);
	}
	conn_arm(c);
}

static void conn_timer(struct timer_entry *t)
{
	struct conn *c = (struct conn *)t;

	if (!c->s)
		return;
	smtp_timer(c->s, *c->srv->now_us);
	conn_pump(c);
}

static void conn_event(struct tcp_tcb *t, void *user, enum tcp_event ev, int reason)
{
	struct conn *c = user;
	uint64_t now = *c->srv->now_us;

	switch (ev) {
	case TCP_EV_READABLE:
	case TCP_EV_WRITABLE:
		conn_pump(c);
		break;
	case TCP_EV_PEER_FIN:
		/* The client will send nothing more: serve what is queued, then
		 * end our side (RFC 5321 4.1.1.10: a close without QUIT is a
		 * client error; the engine records it at free). */
		conn_pump(c);
		if (!c->shut && tcp_recv_avail(t) == 0) {
			c->shut = true;
			tcp_shutdown(t, now);
		}
		break;
	case TCP_EV_CLOSED:
		if (reason != TCP_CLOSE_STACK)
			tcp_close(t, now);
		conn_release(c);
		break;
	default:
		break;
	}
}

static void on_accept(struct tcp_tcb *t, void *user, enum tcp_event ev, int reason)
{
	struct srv *srv = user;
	uint64_t now = *srv->now_us;
	const struct tcp_key *k = tcp_tcb_key(t);
	char client[INET6_ADDRSTRLEN];
	struct conn *c = srv->free;

	(void)reason;
	if (ev != TCP_EV_ACCEPTED) {
		if (ev == TCP_EV_CLOSED)
			tcp_close(t, now);
		return;
	}
	if (!c) {
		/* More connections than session slots: refuse with a reply the
		 * client understands, from static text (no session needed). */
		static const char busy[] =
			"421 4.3.2 mxgate: too many connections, try again later\r\n";
		srv->refused++;
		tcp_send(t, busy, sizeof(busy) - 1, now);
		tcp_close(t, now);
		return;
	}
	inet_ntop(k->family == TCP_AF_INET6 ? AF_INET6 : AF_INET, k->raddr, client, sizeof(client));
	c->s = smtp_session_open(srv->pool, client, c, now);
	if (!c->s) {
		static const char busy[] =
			"421 4.3.2 mxgate: too many sessions, try again later\r\n";
		srv->refused++;
		tcp_send(t, busy, sizeof(busy) - 1, now);
		tcp_close(t, now);
		return;
	}
	srv->free = c->next_free;
	c->next_free = NULL;
	c->tcb = t;
	c->shut = false;
	__atomic_store_n(&srv->open, srv->open + 1, __ATOMIC_RELAXED);
	tcp_set_callback(t, conn_event, c);
	tcp_set_nodelay(t, true); /* replies are small and latency-bound */
	conn_pump(c);
}

static void *srv_init(const struct dp_service_ctx *ctx, const struct mx_config *cfg)
{
	struct smtp_config sc;
	struct smtp_host host = {.ctx = NULL};
	struct srv *srv;
	char hn[256];

	if (cfg->smtp_port == 0 || ctx->worker >= SRV_MAX_WORKERS)
		return (void *)1; /* no SMTP listener configured: nothing to do */
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->worker = ctx->worker;
	srv->now_us = ctx->now_us;
	srv->wheel = ctx->wheel;
	smtp_config_defaults(&sc);
	if (cfg->smtp_hostname[0])
		snprintf(hn, sizeof(hn), "%s", cfg->smtp_hostname);
	else if (gethostname(hn, sizeof(hn)) != 0)
		snprintf(hn, sizeof(hn), "localhost");
	hn[sizeof(hn) - 1] = '\0';
	if (strlen(hn) > SMTP_HOSTNAME_MAX) {
		MX_ERR("[smtp] hostname %s: longer than %d octets", hn, SMTP_HOSTNAME_MAX);
		free(srv);
		return NULL;
	}
	memcpy(sc.hostname, hn, strlen(hn) + 1);
	sc.max_sessions = (uint32_t)cfg->smtp_max_sessions;
	sc.max_msg_size = (uint64_t)cfg->smtp_max_msg_size;
	sc.max_rcpt = (uint32_t)cfg->smtp_max_rcpt;
	sc.max_errors = (uint32_t)cfg->smtp_max_errors;
	sc.max_commands = (uint32_t)cfg->smtp_max_commands;
	sc.line_ext = (uint32_t)cfg->smtp_line_ext;
	sc.greet_delay_ms = (uint32_t)cfg->smtp_greet_delay_ms;
	sc.pregreet_action = cfg->smtp_pregreet ? SMTP_PREGREET_LOG : SMTP_PREGREET_DROP;
	sc.timeout_cmd_ms = (uint32_t)cfg->smtp_timeout_cmd_s * 1000;
	sc.timeout_data_ms = (uint32_t)cfg->smtp_timeout_data_s * 1000;
	srv->pool = smtp_pool_create(&sc, &host);
	srv->nconns = sc.max_sessions;
	srv->conns = calloc(srv->nconns, sizeof(*srv->conns));
	if (!srv->pool || !srv->conns) {
		MX_ERR("worker %u: cannot create %u SMTP sessions: %s (lower [smtp] max_sessions)",
		       ctx->worker, sc.max_sessions, strerror(errno));
		goto fail;
	}
	for (unsigned i = srv->nconns; i-- > 0;) {
		struct conn *c = &srv->conns[i];
		timer_init(&c->timer, conn_timer);
		c->srv = srv;
		c->next_free = srv->free;
		srv->free = c;
	}
	srv->l = tcp_listen(ctx->tcp, TCP_AF_INET, (uint16_t)cfg->smtp_port,
			    (unsigned)cfg->tcp_backlog, on_accept, srv);
	if (!srv->l) {
		MX_ERR("worker %u: cannot listen on SMTP port %lld: %s", ctx->worker,
		       (long long)cfg->smtp_port, strerror(errno));
		goto fail;
	}
	servers[ctx->worker] = srv;
	return srv;
fail:
	if (srv->pool)
		smtp_pool_destroy(srv->pool);
	free(srv->conns);
	free(srv);
	return NULL;
}

static void srv_fini(void *state)
{
	struct srv *srv = state;

	if (state == (void *)1)
		return;
	servers[srv->worker] = NULL;
	/* The TCP stack is gone: every connection got CLOSED(STACK) and was
	 * released; what is left is the pool itself. */
	smtp_pool_destroy(srv->pool);
	free(srv->conns);
	free(srv);
}

static const struct dp_service smtp_service = {
	.name = "smtp",
	.init = srv_init,
	.fini = srv_fini,
};

int smtp_server_register(void)
{
	return dp_service_register(&smtp_service);
}

void smtp_server_counters(unsigned i, struct smtp_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (i < SRV_MAX_WORKERS && servers[i])
		smtp_counters_read(servers[i]->pool, out);
}

unsigned smtp_server_sessions(unsigned i)
{
	return i < SRV_MAX_WORKERS && servers[i]
		       ? __atomic_load_n(&servers[i]->open, __ATOMIC_RELAXED)
		       : 0;
}
