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
 * Durability (queue/spool.h): MAIL asks the spool for admission (452 4.3.1
 * above the high-water mark or on a full disk); DATA/BDAT opens a spool
 * message with the envelope and writes the Received: header; body chunks
 * stream into it as they arrive; at end of data the message is ended and
 * the session parked under a request id (slot index and generation). The
 * worker's poll takes the spool's completions - posted only after
 * fdatasync - and resumes the session with 250 2.0.0 "queued as <id>", or
 * with the spool's 452/451. Without a spool ([spool] dir empty) the engine's
 * default answers 451 4.3.0: never 250 for a message not on disk.
 *
 * Worker lcore only, except the counters.
 */
#include "smtp/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config-t.h"
#include "core/log.h"
#include "dataplane/dataplane.h"
#include "dataplane/tcp/tcp.h"
#include "dataplane/timer.h"
#include "queue/queue.h"
#include "queue/spool.h"
#include "smtp/smtp.h"

#define SRV_MAX_WORKERS 128
#define RTE_DIM64(a)	(sizeof(a) / sizeof((a)[0]))

struct conn {
	struct timer_entry timer; /* first: container_of by cast */
	struct srv *srv;
	struct tcp_tcb *tcb;
	struct smtp_session *s;
	struct conn *next_free;
	uint32_t gen;	/* bumped at every reuse: stale completions are ignored */
	bool shut;	/* FIN sent */
	bool msg_open;	/* spool message begun, not ended or aborted */
	bool waiting;	/* parked on the spool's completion */
	int spool_err;	/* first spool error of the current message (0: none) */
	uint8_t family; /* client address, for the envelope */
	uint8_t addr[16];
	uint16_t port;
	struct spool_msg msg; /* the message being written (no allocation) */
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
	struct spool_worker *spool; /* NULL: no spool, 451 at end of data */
	struct spool_rcpt *rcpt;    /* scratch for envelopes, [max_rcpt] */
	unsigned max_rcpt;
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
	c->gen++;
	c->waiting = false;
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
		__atomic_store_n(&srv->refused, srv->refused + 1, __ATOMIC_RELAXED);
		tcp_send(t, busy, sizeof(busy) - 1, now);
		tcp_close(t, now);
		return;
	}
	inet_ntop(k->family == TCP_AF_INET6 ? AF_INET6 : AF_INET, k->raddr, client, sizeof(client));
	c->s = smtp_session_open(srv->pool, client, c, now);
	if (!c->s) {
		static const char busy[] =
			"421 4.3.2 mxgate: too many sessions, try again later\r\n";
		__atomic_store_n(&srv->refused, srv->refused + 1, __ATOMIC_RELAXED);
		tcp_send(t, busy, sizeof(busy) - 1, now);
		tcp_close(t, now);
		return;
	}
	srv->free = c->next_free;
	c->next_free = NULL;
	c->tcb = t;
	c->shut = false;
	c->msg_open = false;
	c->waiting = false;
	c->family = k->family;
	memcpy(c->addr, k->raddr, 16);
	c->port = k->rport;
	__atomic_store_n(&srv->open, srv->open + 1, __ATOMIC_RELAXED);
	tcp_set_callback(t, conn_event, c);
	tcp_set_nodelay(t, true); /* replies are small and latency-bound */
	conn_pump(c);
}

/* ---- the spool behind the engine's events ------------------------------- */

/* Split a spool reply ("452 4.3.1 text") into an engine answer. */
static enum smtp_verdict spool_answer(int status, struct smtp_answer *a)
{
	static char enh[16];
	const char *r = spool_reply(status);
	const char *sp1 = strchr(r, ' ');
	const char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;

	a->code = (unsigned)atoi(r);
	a->enh = NULL;
	a->text = r;
	if (sp1 && sp2 && (size_t)(sp2 - sp1 - 1) < sizeof(enh)) {
		memcpy(enh, sp1 + 1, (size_t)(sp2 - sp1 - 1));
		enh[sp2 - sp1 - 1] = '\0';
		a->enh = enh;
		a->text = sp2 + 1;
	}
	return SMTP_V_REPLY;
}

static enum smtp_verdict on_mail(void *ctx, struct smtp_session *s, const struct smtp_event *ev,
				 struct smtp_answer *a)
{
	struct srv *srv = ctx;
	int rc;

	(void)s;
	(void)ev;
	if (!srv->spool)
		return SMTP_V_CONTINUE;
	rc = spool_admit(srv->spool);
	return rc ? spool_answer(rc, a) : SMTP_V_CONTINUE;
}

/* ESMTP MAIL parameters for the next hop, rebuilt from the parsed ones. */
static const char *mail_params(const struct smtp_envelope *e, char *buf, size_t len)
{
	const struct smtp_mail_params *m = &e->mail;
	size_t off = 0;

	buf[0] = '\0';
#define P(...) (off += (size_t)snprintf(buf + off, off < len ? len - off : 0, __VA_ARGS__))
	if (m->size)
		P("%sSIZE=%llu", off ? " " : "", (unsigned long long)m->size);
	if (m->body == SMTP_BODY_8BITMIME)
		P("%sBODY=8BITMIME", off ? " " : "");
	if (m->smtputf8)
		P("%sSMTPUTF8", off ? " " : "");
	if (m->ret == SMTP_RET_FULL)
		P("%sRET=FULL", off ? " " : "");
	else if (m->ret == SMTP_RET_HDRS)
		P("%sRET=HDRS", off ? " " : "");
	if (m->envid_off)
		P("%sENVID=%.*s", off ? " " : "", (int)m->envid_len,
		  smtp_envelope_str(e, m->envid_off));
#undef P
	return off && off < len ? buf : NULL;
}

static enum smtp_verdict on_data_begin(void *ctx, struct smtp_session *s,
				       const struct smtp_event *ev, struct smtp_answer *a)
{
	struct srv *srv = ctx;
	struct conn *c = smtp_session_user(s);
	const struct smtp_envelope *e = smtp_session_envelope(s);
	struct spool_envelope env = {0};
	struct smtp_received_info ri = {0};
	char params[256], qid[64], received[1024];
	int rc, n;

	if (!srv->spool || !e)
		return SMTP_V_CONTINUE;
	c->spool_err = 0;
	env.arrival_us = (uint64_t)ev->now_us; /* replaced by wall time below */
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		env.arrival_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
		ri.unix_time = ts.tv_sec;
	}
	env.family = c->family;
	memcpy(env.addr, c->addr, 16);
	env.port = c->port;
	env.helo = s->helo;
	env.mail_from = smtp_envelope_str(e, e->from_off);
	env.mail_params = mail_params(e, params, sizeof(params));
	env.nrcpt = e->nrcpt < srv->max_rcpt ? e->nrcpt : srv->max_rcpt;
	for (unsigned i = 0; i < env.nrcpt; i++) {
		struct smtp_rcpt_view v;
		smtp_envelope_rcpt(e, i, &v);
		srv->rcpt[i].addr = v.addr;
		srv->rcpt[i].orcpt = v.orcpt;
		srv->rcpt[i].params = NULL;
		srv->rcpt[i].notify = v.notify; /* same bits as SPOOL_NOTIFY_* */
	}
	env.rcpt = srv->rcpt;
	rc = spool_msg_begin(srv->spool, &c->msg, &env);
	if (rc != 0)
		return spool_answer(rc, a);
	c->msg_open = true;
	/* RFC 5321 4.4: our trace header first. */
	ri.queue_id = spool_qid_format(&c->msg.qid, qid);
	n = smtp_received_format(s, &ri, received, sizeof(received));
	if (n > 0 && spool_msg_body(srv->spool, &c->msg, received, (size_t)n) != n)
		c->spool_err = -ENOBUFS;
	return SMTP_V_CONTINUE;
}

static enum smtp_verdict on_data_chunk(void *ctx, struct smtp_session *s,
				       const struct smtp_event *ev, struct smtp_answer *a)
{
	struct srv *srv = ctx;
	struct conn *c = smtp_session_user(s);
	long n;

	(void)a;
	if (!c->msg_open || c->spool_err)
		return SMTP_V_CONTINUE;
	n = spool_msg_body(srv->spool, &c->msg, ev->data, ev->data_len);
	/* Staging full (the disk is behind) or an error: the message fails
	 * temporarily at its end; the client keeps it and retries. */
	if (n < 0)
		c->spool_err = (int)n;
	else if ((size_t)n < ev->data_len)
		c->spool_err = -ENOBUFS;
	return SMTP_V_CONTINUE;
}

static enum smtp_verdict on_data_end(void *ctx, struct smtp_session *s, const struct smtp_event *ev,
				     struct smtp_answer *a)
{
	struct srv *srv = ctx;
	struct conn *c = smtp_session_user(s);
	uint64_t cookie = ((uint64_t)(c - srv->conns) << 32) | c->gen;
	int rc;

	if (!srv->spool || !c->msg_open) {
		/* No spool: never 250 for a message that is not on disk. */
		a->code = 451;
		a->enh = "4.3.0";
		a->text = "Error: message not stored, try again later";
		return SMTP_V_REPLY;
	}
	c->msg_open = false;
	if (ev->body_reject || c->spool_err) {
		spool_msg_abort(srv->spool, &c->msg);
		if (ev->body_reject)
			return SMTP_V_CONTINUE; /* the engine answers its own rejection */
		return spool_answer(c->spool_err, a);
	}
	rc = spool_msg_end(srv->spool, &c->msg, cookie);
	if (rc != 0)
		return spool_answer(rc, a);
	c->waiting = true;
	a->request_id = cookie;
	return SMTP_V_PENDING;
}

static enum smtp_verdict on_txn_abort(void *ctx, struct smtp_session *s,
				      const struct smtp_event *ev, struct smtp_answer *a)
{
	struct srv *srv = ctx;
	struct conn *c = smtp_session_user(s);

	(void)ev;
	(void)a;
	if (c && c->msg_open) {
		spool_msg_abort(srv->spool, &c->msg);
		c->msg_open = false;
	}
	return SMTP_V_CONTINUE;
}

/* Worker loop: completions of messages made durable (or failed). */
static void srv_poll(void *state)
{
	struct srv *srv = state;
	struct spool_cpl cpl[64];
	unsigned n;

	if (state == (void *)1 || !srv->spool)
		return;
	while ((n = spool_worker_poll(srv->spool, cpl, RTE_DIM64(cpl))) > 0) {
		for (unsigned i = 0; i < n; i++) {
			uint32_t idx = (uint32_t)(cpl[i].cookie >> 32);
			struct conn *c = idx < srv->nconns ? &srv->conns[idx] : NULL;
			char qid[64], text[128];

			/* The session may be gone (client left while we synced):
			 * the message is on disk and will be delivered; the
			 * client, having no 250, may send it again. */
			if (!c || !c->s || !c->waiting || c->gen != (uint32_t)cpl[i].cookie)
				continue;
			c->waiting = false;
			if (cpl[i].status == 0) {
				snprintf(text, sizeof(text), "Ok: queued as %s",
					 spool_qid_format(&cpl[i].qid, qid));
				smtp_resume(c->s, cpl[i].cookie, 250, "2.0.0", text, *srv->now_us);
			} else {
				struct smtp_answer a;
				spool_answer(cpl[i].status, &a);
				smtp_resume(c->s, cpl[i].cookie, a.code, a.enh, a.text,
					    *srv->now_us);
			}
			conn_pump(c);
		}
		if (n < RTE_DIM64(cpl))
			break;
	}
}

static void *srv_init(const struct dp_service_ctx *ctx, const struct mx_config *cfg)
{
	struct smtp_config sc;
	struct smtp_host host = {.on = {[SMTP_EV_MAIL] = on_mail,
					[SMTP_EV_DATA_BEGIN] = on_data_begin,
					[SMTP_EV_DATA_CHUNK] = on_data_chunk,
					[SMTP_EV_DATA_END] = on_data_end,
					[SMTP_EV_TXN_ABORT] = on_txn_abort}};
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
	host.ctx = srv;
	srv->pool = smtp_pool_create(&sc, &host);
	srv->nconns = sc.max_sessions;
	srv->conns = calloc(srv->nconns, sizeof(*srv->conns));
	srv->max_rcpt = sc.max_rcpt;
	srv->rcpt = calloc(sc.max_rcpt, sizeof(*srv->rcpt));
	/* The spool opens after privileges are dropped, before workers run:
	 * srv_poll() picks the handle up (queue_worker) on first use. */
	if (!srv->pool || !srv->conns || !srv->rcpt) {
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
	free(srv->rcpt);
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
	if (srv->spool)
		spool_worker_flush(srv->spool);
	free(srv->conns);
	free(srv->rcpt);
	free(srv);
}

static void srv_poll_first(void *state);

static const struct dp_service smtp_service = {
	.name = "smtp",
	.init = srv_init,
	.poll = srv_poll_first,
	.fini = srv_fini,
};

/* The spool exists once the daemon has dropped privileges, after the
 * workers were set up and before they run: look the handle up then. */
static void srv_poll_first(void *state)
{
	struct srv *srv = state;

	if (state != (void *)1 && !srv->spool)
		srv->spool = queue_worker(srv->worker);
	srv_poll(state);
}

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

uint64_t smtp_server_refused(unsigned i)
{
	return i < SRV_MAX_WORKERS && servers[i]
		       ? __atomic_load_n(&servers[i]->refused, __ATOMIC_RELAXED)
		       : 0;
}

unsigned smtp_server_sessions(unsigned i)
{
	return i < SRV_MAX_WORKERS && servers[i]
		       ? __atomic_load_n(&servers[i]->open, __ATOMIC_RELAXED)
		       : 0;
}
