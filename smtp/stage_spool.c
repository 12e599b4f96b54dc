/*
 * stage_spool.c - the spool as session host stages. See stage_spool.h.
 *
 * Durability (queue/spool.h): MAIL asks the spool for admission; DATA/BDAT
 * opens a spool message with the envelope and writes the Received: header;
 * body chunks stream into it as they arrive; at end of data the message is
 * ended and the session parked under a spool ticket, which the commit
 * thread's completion (posted only after fdatasync) brings back: 250 only
 * then. Replies come from spool_reply_parts() (typed, no shared buffer).
 *
 * Memory: struct smtp_spool_stage and its per-slot array (one struct
 * spool_msg per connection slot: no allocation per message) are allocated
 * at create. Worker lcore only.
 */
#include "smtp/stage_spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue/spool.h"
#include "smtp/conn.h"
#include "smtp/host.h"
#include "smtp/smtp.h"

struct slot_msg {
	struct spool_msg msg; /* the message being written */
	bool open;	      /* begun, not ended or aborted */
	int err;	      /* first spool error of the current message (0: none) */
};

struct smtp_spool_stage {
	struct smtp_stage_host *host;
	struct spool_worker *w;	 /* NULL: no spool */
	struct slot_msg *slots;	 /* [smtp_conn_slots()] */
	struct spool_rcpt *rcpt; /* scratch for envelopes, [max_rcpt] */
	unsigned max_rcpt;
	smtp_spool_header_fn header; /* trace fields above Received: (NULL: none) */
	void *header_arg;
};

static enum smtp_stage_verdict reply_status(struct smtp_stage_call *call, int status)
{
	const struct spool_reply_parts *r = spool_reply_parts(status);

	call->reply->code = r->code;
	call->reply->enh = r->enh;
	call->reply->text = r->text;
	return SMTP_STAGE_REPLY;
}

static struct slot_msg *slot_of(struct smtp_spool_stage *sp, const struct smtp_stage_call *call)
{
	return &sp->slots[call->conn->slot];
}

static enum smtp_stage_verdict st_mail(void *arg, struct smtp_stage_call *call)
{
	struct smtp_spool_stage *sp = arg;
	int rc;

	if (!sp->w)
		return SMTP_STAGE_CONTINUE;
	rc = spool_admit(sp->w);
	return rc ? reply_status(call, rc) : SMTP_STAGE_CONTINUE;
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

static enum smtp_stage_verdict st_data_begin(void *arg, struct smtp_stage_call *call)
{
	struct smtp_spool_stage *sp = arg;
	struct slot_msg *m = slot_of(sp, call);
	const struct smtp_envelope *e = smtp_session_envelope(call->s);
	const struct smtp_peer *peer = &call->conn->peer;
	struct spool_envelope env = {0};
	struct smtp_received_info ri = {0};
	char params[256], qid[64], received[1024], tls_proto[32], tls_cipher[64];
	struct timespec ts;
	int rc, n;

	if (!sp->w || !e)
		return SMTP_STAGE_CONTINUE;
	m->err = 0;
	/* Wall time for the envelope and the trace header (vDSO, no syscall). */
	clock_gettime(CLOCK_REALTIME, &ts);
	env.arrival_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	ri.unix_time = ts.tv_sec;
	env.family = peer->family;
	memcpy(env.addr, peer->addr, 16);
	env.port = peer->port;
	env.helo = smtp_session_helo(call->s);
	if (smtp_conn_tls_params(call->conn, tls_proto, sizeof(tls_proto), tls_cipher,
				 sizeof(tls_cipher)) == 0) {
		env.tls_proto = tls_proto;
		env.tls_cipher = tls_cipher;
	}
	env.mail_from = smtp_envelope_str(e, e->from_off);
	env.mail_params = mail_params(e, params, sizeof(params));
	env.nrcpt = e->nrcpt < sp->max_rcpt ? e->nrcpt : sp->max_rcpt;
	for (unsigned i = 0; i < env.nrcpt; i++) {
		struct smtp_rcpt_view v;
		smtp_envelope_rcpt(e, i, &v);
		sp->rcpt[i].addr = v.addr;
		sp->rcpt[i].orcpt = v.orcpt;
		sp->rcpt[i].params = NULL;
		sp->rcpt[i].notify = v.notify; /* same bits as SPOOL_NOTIFY_* */
	}
	env.rcpt = sp->rcpt;
	rc = spool_msg_begin(sp->w, &m->msg, &env);
	if (rc != 0)
		return reply_status(call, rc);
	m->open = true;
	/* RFC 7208 9.1: Received-SPF goes above our Received:. */
	if (sp->header &&
	    (n = sp->header(sp->header_arg, call->conn->slot, received, sizeof(received),
			    &ri.rdns)) > 0 &&
	    (size_t)n < sizeof(received) &&
	    spool_msg_body(sp->w, &m->msg, received, (size_t)n) != n)
		m->err = -ENOBUFS;
	/* RFC 5321 4.4: our trace header first. */
	ri.queue_id = spool_qid_format(&m->msg.qid, qid);
	ri.tls = smtp_conn_security(call->conn); /* "with ESMTPS" (using ...) */
	n = smtp_received_format(call->s, &ri, received, sizeof(received));
	if (n > 0 && spool_msg_body(sp->w, &m->msg, received, (size_t)n) != n)
		m->err = -ENOBUFS;
	return SMTP_STAGE_CONTINUE;
}

static enum smtp_stage_verdict st_data_chunk(void *arg, struct smtp_stage_call *call)
{
	struct smtp_spool_stage *sp = arg;
	struct slot_msg *m = slot_of(sp, call);
	const struct smtp_event *ev = call->ev;
	long n;

	if (!m->open || m->err || !ev->data_len)
		return SMTP_STAGE_CONTINUE;
	n = spool_msg_body(sp->w, &m->msg, ev->data, ev->data_len);
	/* Staging full (the disk is behind) or an error: the message fails
	 * temporarily at its end; the client keeps it and retries. */
	if (n < 0)
		m->err = (int)n;
	else if ((size_t)n < ev->data_len)
		m->err = -ENOBUFS;
	return SMTP_STAGE_CONTINUE;
}

static enum smtp_stage_verdict st_data_end(void *arg, struct smtp_stage_call *call)
{
	struct smtp_spool_stage *sp = arg;
	struct slot_msg *m = slot_of(sp, call);
	uint64_t ticket;
	int rc;

	if (!sp->w || !m->open)
		return SMTP_STAGE_CONTINUE; /* the host answers 451 4.3.0 */
	m->open = false;
	if (call->ev->body_reject || m->err) {
		spool_msg_abort(sp->w, &m->msg);
		if (call->ev->body_reject)
			return SMTP_STAGE_CONTINUE; /* the engine answers its own rejection */
		return reply_status(call, m->err);
	}
	ticket = smtp_stage_ticket(call, SMTP_TICKET_SPOOL);
	rc = spool_msg_end(sp->w, &m->msg, ticket);
	if (rc != 0)
		return reply_status(call, rc);
	return SMTP_STAGE_PARK;
}

static enum smtp_stage_verdict st_txn_abort(void *arg, struct smtp_stage_call *call)
{
	struct smtp_spool_stage *sp = arg;
	struct slot_msg *m = slot_of(sp, call);

	if (m->open) {
		spool_msg_abort(sp->w, &m->msg);
		m->open = false;
	}
	return SMTP_STAGE_CONTINUE;
}

/* The durable -> 250 latency phase: when the commit thread posted @cpl
 * (CLOCK_MONOTONIC, as spool_now_ns(): vDSO, no syscall), on the worker clock of the session it
 * answers. */
static void mark_durable(struct smtp_spool_stage *sp, const struct spool_cpl *cpl)
{
	struct smtp_conn_table *tab = smtp_host_conns(sp->host);
	struct smtp_conn *c = smtp_conn_at(tab, smtp_ticket_slot(cpl->cookie));
	struct timespec ts;
	uint64_t now_ns, now_us = smtp_conn_now(tab), wait_us;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	wait_us = now_ns > cpl->t_ns ? (now_ns - cpl->t_ns) / 1000 : 0;

	if (c && c->s && c->park.active && c->park.ticket == cpl->cookie)
		c->t_durable_us = now_us > wait_us ? now_us - wait_us : 1;
}

unsigned smtp_spool_stage_poll(struct smtp_spool_stage *sp)
{
	struct spool_cpl cpl[64];
	unsigned n, total = 0;

	if (!sp->w)
		return 0;
	while ((n = spool_worker_poll(sp->w, cpl, sizeof(cpl) / sizeof(cpl[0]))) > 0) {
		for (unsigned i = 0; i < n; i++) {
			char qid[64], text[128];
			struct smtp_answer a = {.code = 250, .enh = "2.0.0", .text = text};

			if (cpl[i].status == 0) {
				snprintf(text, sizeof(text), "Ok: queued as %s",
					 spool_qid_format(&cpl[i].qid, qid));
				mark_durable(sp, &cpl[i]);
			} else {
				const struct spool_reply_parts *r =
					spool_reply_parts(cpl[i].status);
				a.code = r->code;
				a.enh = r->enh;
				a.text = r->text;
			}
			smtp_host_resume(sp->host, cpl[i].cookie, &a);
		}
		total += n;
		if (n < sizeof(cpl) / sizeof(cpl[0]))
			break;
	}
	return total;
}

struct smtp_spool_stage *smtp_spool_stage_create(struct smtp_stage_host *h, unsigned max_rcpt)
{
	const struct smtp_stage stages[] = {
		{.name = "spool-admit", .event = SMTP_EV_MAIL, .fn = st_mail},
		{.name = "spool-open", .event = SMTP_EV_DATA_BEGIN, .fn = st_data_begin},
		{.name = "spool-body", .event = SMTP_EV_DATA_CHUNK, .fn = st_data_chunk},
		{.name = "spool-commit",
		 .event = SMTP_EV_DATA_END,
		 .fn = st_data_end,
		 .park_ms = SMTP_SPOOL_COMMIT_MS,
		 .expire_code = 451,
		 .expire_enh = "4.3.0",
		 .expire_text = "Error: queue file write error"},
		{.name = "spool-abort", .event = SMTP_EV_TXN_ABORT, .fn = st_txn_abort},
	};
	struct smtp_spool_stage *sp;

	if (max_rcpt == 0) {
		errno = EINVAL;
		return NULL;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	sp->host = h;
	sp->max_rcpt = max_rcpt;
	sp->slots = calloc(smtp_conn_slots(smtp_host_conns(h)), sizeof(*sp->slots));
	sp->rcpt = calloc(max_rcpt, sizeof(*sp->rcpt));
	if (!sp->slots || !sp->rcpt) {
		smtp_spool_stage_destroy(sp);
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++) {
		struct smtp_stage st = stages[i];
		int rc;

		st.arg = sp;
		if ((rc = smtp_host_stage_add(h, &st)) != 0) {
			smtp_spool_stage_destroy(sp);
			errno = -rc;
			return NULL;
		}
	}
	return sp;
}

void smtp_spool_stage_attach(struct smtp_spool_stage *sp, struct spool_worker *w)
{
	sp->w = w;
}

void smtp_spool_stage_set_header(struct smtp_spool_stage *sp, smtp_spool_header_fn fn, void *arg)
{
	sp->header = fn;
	sp->header_arg = arg;
}

struct spool_worker *smtp_spool_stage_worker(const struct smtp_spool_stage *sp)
{
	return sp->w;
}

void smtp_spool_stage_destroy(struct smtp_spool_stage *sp)
{
	if (!sp)
		return;
	free(sp->slots);
	free(sp->rcpt);
	free(sp);
}
