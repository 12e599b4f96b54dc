/*
 * test_host.c - cmocka tests of the SMTP session host and its connection
 * layer without EAL: a fake transport (byte buffers), a fake slow stage
 * (parks under a test ticket, answered by the test), a fake spool stage
 * (parks at end of data, answered later), a recording stage, and virtual
 * time on a real timing wheel. Also smtp_pool_update() (live keys).
 */
#include "fake_conn.h"

#define NSLOTS 2

/* ---- fake stages ---------------------------------------------------------- */

/* A stage's script: what it answers, and what it saw. */
struct fake_stage {
	const char *name;
	enum smtp_stage_verdict verdict; /* CONTINUE, REPLY (reply below) or PARK */
	const char *only;		 /* act only if ev->str contains this (else continue) */
	unsigned code;
	const char *enh, *text;
	enum smtp_ticket_kind kind;
	unsigned calls;	      /* times called */
	uint64_t tickets[16]; /* tickets handed out, in order */
	unsigned ntickets;
	char seen[16][64]; /* ev->str of each call */
};

static enum smtp_stage_verdict fake_stage_fn(void *arg, struct smtp_stage_call *call)
{
	struct fake_stage *fs = arg;
	unsigned i = fs->calls++;

	if (i < 16)
		snprintf(fs->seen[i], sizeof(fs->seen[i]), "%s",
			 call->ev->str ? call->ev->str : "");
	if (fs->only && !(call->ev->str && strstr(call->ev->str, fs->only)))
		return SMTP_STAGE_CONTINUE;
	switch (fs->verdict) {
	case SMTP_STAGE_REPLY:
		call->reply->code = fs->code;
		call->reply->enh = fs->enh;
		call->reply->text = fs->text;
		return SMTP_STAGE_REPLY;
	case SMTP_STAGE_PARK:
		assert_true(fs->ntickets < 16);
		fs->tickets[fs->ntickets++] =
			smtp_stage_ticket(call, fs->kind ? fs->kind : SMTP_TICKET_TEST);
		return SMTP_STAGE_PARK;
	default:
		return SMTP_STAGE_CONTINUE;
	}
}

static int setup(void **state)
{
	*state = fx_create(NSLOTS);
	return 0;
}

static int teardown(void **state)
{
	fx_destroy(*state);
	return 0;
}

static void add_stage(struct fx *f, enum smtp_event_type ev, struct fake_stage *fs,
		      uint32_t park_ms)
{
	struct smtp_stage st = {
		.name = fs->name,
		.event = ev,
		.fn = fake_stage_fn,
		.arg = fs,
		.park_ms = park_ms,
	};

	assert_int_equal(smtp_host_stage_add(f->h, &st), 0);
}

static const struct smtp_answer ok_queued = {
	.code = 250, .enh = "2.0.0", .text = "Ok: queued as T1"};

/* ---- tests ---------------------------------------------------------------- */

/* Pipelined commands behind parked stages are answered in order, each
 * park stops the input, each answer lets it go on. */
static void test_pipelining_order_across_parks(void **state)
{
	struct fx *f = *state;
	struct fake_stage slow = {.name = "slow", .verdict = SMTP_STAGE_PARK};
	struct fake_stage after = {.name = "after"};
	struct fake_stage spool = {
		.name = "fake-spool", .verdict = SMTP_STAGE_PARK, .kind = SMTP_TICKET_SPOOL};

	add_stage(f, SMTP_EV_RCPT, &slow, 0);
	add_stage(f, SMTP_EV_RCPT, &after, 0);
	add_stage(f, SMTP_EV_DATA_END, &spool, 0);
	assert_non_null(connect_client(f, 0));
	assert_string_equal(sent(f, 0), "220 mx.test ESMTP\r\n");
	client(f, 0, "EHLO client.test\r\n");
	assert_non_null(strstr(sent(f, 0), "250 DSN\r\n"));

	client(f, 0,
	       "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n"
	       "Subject: t\r\n\r\nbody\r\n.\r\nQUIT\r\n");
	/* MAIL answered, first RCPT parked: nothing after it is read. */
	assert_string_equal(sent(f, 0), "250 2.1.0 Ok\r\n");
	assert_int_equal(slow.ntickets, 1);
	assert_int_equal(after.calls, 0);
	assert_true(smtp_session_parked(f->c[0]->s));
	assert_int_equal(smtp_ticket_kind(slow.tickets[0]), SMTP_TICKET_TEST);
	assert_int_equal(smtp_ticket_slot(slow.tickets[0]), f->c[0]->slot);

	/* Continue: the next stage of the RCPT list runs, then the engine's
	 * 250; the second RCPT parks again. */
	assert_int_equal(smtp_host_resume(f->h, slow.tickets[0], NULL), 0);
	assert_int_equal(after.calls, 1);
	assert_string_equal(after.seen[0], "b@x.test");
	assert_string_equal(sent(f, 0), "250 2.1.5 Ok\r\n");
	assert_int_equal(slow.ntickets, 2);

	/* Answer the second with a reply: the list ends there. */
	{
		struct smtp_answer a = {.code = 450, .enh = "4.7.1", .text = "Try later"};
		assert_int_equal(smtp_host_resume(f->h, slow.tickets[1], &a), 0);
	}
	assert_int_equal(after.calls, 1);
	/* 450 for c, then DATA, body, end of data parked on the spool. */
	assert_string_equal(sent(f, 0),
			    "450 4.7.1 Try later\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_int_equal(spool.ntickets, 1);
	assert_int_equal(smtp_ticket_kind(spool.tickets[0]), SMTP_TICKET_SPOOL);
	/* QUIT is still queued in the transport, unanswered. */
	assert_int_equal(f->tr[0].shut, 0);
	assert_true(ft_avail(&f->tr[0]) > 0);

	assert_int_equal(smtp_host_resume(f->h, spool.tickets[0], &ok_queued), 0);
	assert_string_equal(sent(f, 0), "250 2.0.0 Ok: queued as T1\r\n221 2.0.0 Bye\r\n");
	assert_int_equal(f->tr[0].shut, 1);

	assert_int_equal(counters(f).parked, 3);
	assert_int_equal(counters(f).resumed, 3);
	assert_int_equal(counters(f).stale_tickets, 0);
	/* A second answer to an answered ticket is stale. */
	assert_int_equal(smtp_host_resume(f->h, spool.tickets[0], &ok_queued), -ESTALE);
	assert_int_equal(counters(f).stale_tickets, 1);
	fx_close_all(f); /* the stages above live on this stack */
}

/* No answer by the deadline: 4xx with an enhanced code, then the session
 * goes on; the late answer is stale. */
static void test_deadline_expiry(void **state)
{
	struct fx *f = *state;
	struct fake_stage slow = {.name = "slow", .verdict = SMTP_STAGE_PARK};

	add_stage(f, SMTP_EV_MAIL, &slow, 2000);
	connect_client(f, 0);
	client(f, 0, "EHLO client.test\r\n");
	sent(f, 0);
	client(f, 0, "MAIL FROM:<a@x.test>\r\nNOOP\r\n");
	assert_string_equal(sent(f, 0), "");
	advance_ms(f, 1500);
	assert_string_equal(sent(f, 0), "");
	assert_int_equal(counters(f).park_timeouts, 0);
	advance_ms(f, 600);
	assert_string_equal(sent(f, 0),
			    "451 4.4.3 Error: temporary lookup failure\r\n250 2.0.0 Ok\r\n");
	assert_int_equal(counters(f).park_timeouts, 1);
	assert_false(smtp_session_parked(f->c[0]->s));
	assert_int_equal(smtp_host_resume(f->h, slow.tickets[0], NULL), -ESTALE);
	assert_int_equal(counters(f).stale_tickets, 1);
	/* The session still works and has no transaction. */
	client(f, 0, "RCPT TO:<b@x.test>\r\n");
	assert_string_equal(sent(f, 0), "503 5.5.1 Error: need MAIL command\r\n");
	fx_close_all(f); /* the stages above live on this stack */
}

static enum smtp_stage_verdict park_spool(void *arg, struct smtp_stage_call *call)
{
	uint64_t *t = arg;

	*t = smtp_stage_ticket(call, SMTP_TICKET_SPOOL);
	return SMTP_STAGE_PARK;
}

/* A stage's own expiry reply (as the spool stage registers it). */
static void test_deadline_stage_reply(void **state)
{
	struct fx *f = *state;
	uint64_t ticket = 0;
	struct smtp_stage st = {
		.name = "commit",
		.event = SMTP_EV_DATA_END,
		.fn = park_spool,
		.arg = &ticket,
		.park_ms = 300000,
		.expire_code = 451,
		.expire_enh = "4.3.0",
		.expire_text = "Error: queue file write error",
	};

	assert_int_equal(smtp_host_stage_add(f->h, &st), 0);
	connect_client(f, 0);
	client(f, 0, "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n");
	client(f, 0, "x\r\n.\r\n");
	sent(f, 0);
	assert_int_not_equal(ticket, 0);
	advance_ms(f, 299000);
	assert_string_equal(sent(f, 0), "");
	advance_ms(f, 1001);
	assert_string_equal(sent(f, 0), "451 4.3.0 Error: queue file write error\r\n");
	assert_int_equal(counters(f).park_timeouts, 1);
	fx_close_all(f); /* the stages above live on this stack */
}

/* The client leaves while parked: the close stages run, the ticket is
 * stale, the deadline timer is gone, the slot serves the next client. */
static void test_close_while_parked(void **state)
{
	struct fx *f = *state;
	struct fake_stage slow = {.name = "slow", .verdict = SMTP_STAGE_PARK};
	struct fake_stage abort_seen = {.name = "txn-abort"};
	struct fake_stage close_seen = {.name = "close"};
	struct smtp_conn *c;
	uint32_t slot;

	add_stage(f, SMTP_EV_RCPT, &slow, 1000);
	add_stage(f, SMTP_EV_TXN_ABORT, &abort_seen, 0);
	add_stage(f, SMTP_EV_CLOSE, &close_seen, 0);
	c = connect_client(f, 0);
	slot = c->slot;
	client(f, 0, "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@x.test>\r\n");
	assert_true(smtp_session_parked(c->s));
	smtp_conn_event(c, SMTP_CONN_EV_CLOSED);
	assert_null(c->s);
	assert_int_equal(abort_seen.calls, 1);
	assert_int_equal(close_seen.calls, 1);
	assert_int_equal(counters(f).closed_parked, 1);
	assert_int_equal(smtp_host_resume(f->h, slow.tickets[0], NULL), -ESTALE);
	advance_ms(f, 5000);
	assert_int_equal(counters(f).park_timeouts, 0);

	/* Same slot (free list), new session: the old ticket stays stale. */
	c = connect_client(f, 1);
	assert_int_equal(c->slot, slot);
	assert_string_equal(sent(f, 1), "220 mx.test ESMTP\r\n");
	assert_int_equal(smtp_ticket_slot(slow.tickets[0]), c->slot);
	client(f, 1, "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@x.test>\r\n");
	sent(f, 1);
	assert_int_equal(slow.ntickets, 2);
	assert_int_equal(smtp_host_resume(f->h, slow.tickets[0], NULL), -ESTALE);
	assert_true(smtp_session_parked(c->s));
	assert_int_equal(counters(f).stale_tickets, 2);
	/* A ticket with the right slot and generation but another kind is
	 * stale too. */
	assert_int_equal(smtp_host_resume(f->h,
					  (slow.tickets[1] & ~(0xffull << 56)) |
						  ((uint64_t)SMTP_TICKET_DNS << 56),
					  NULL),
			 -ESTALE);
	assert_int_equal(smtp_host_resume(f->h, slow.tickets[1], NULL), 0);
	assert_string_equal(sent(f, 1), "250 2.1.5 Ok\r\n");
	/* Garbage tickets: slot out of range. */
	assert_int_equal(smtp_host_resume(f->h, 0xffffffffffffffffull, NULL), -ESTALE);
	fx_close_all(f); /* the stages above live on this stack */
}

/* A reply ends the list; continue runs the next stage; the end of the
 * DATA_END list without a taker is 451, never 250. */
static void test_reply_ends_list(void **state)
{
	struct fx *f = *state;
	struct fake_stage deny = {.name = "deny",
				  .verdict = SMTP_STAGE_REPLY,
				  .only = "deny@",
				  .code = 550,
				  .enh = "5.7.1",
				  .text = "Recipient rejected"};
	struct fake_stage next = {.name = "next"};
	struct fake_stage bad = {
		.name = "bad", .verdict = SMTP_STAGE_REPLY, .code = 99, .only = "bad@"};

	add_stage(f, SMTP_EV_RCPT, &deny, 0);
	add_stage(f, SMTP_EV_RCPT, &bad, 0);
	add_stage(f, SMTP_EV_RCPT, &next, 0);
	connect_client(f, 0);
	client(f, 0, "EHLO c\r\nMAIL FROM:<>\r\n");
	sent(f, 0);
	client(f, 0, "RCPT TO:<deny@x.test>\r\nRCPT TO:<ok@x.test>\r\nRCPT TO:<bad@x.test>\r\n");
	assert_string_equal(sent(f, 0), "550 5.7.1 Recipient rejected\r\n250 2.1.5 Ok\r\n"
					"451 4.3.0 Error: internal error\r\n");
	assert_int_equal(deny.calls, 3);
	assert_int_equal(bad.calls, 2);
	assert_int_equal(next.calls, 1);
	assert_string_equal(next.seen[0], "ok@x.test");
	assert_int_equal(counters(f).stage_replies, 2);
	client(f, 0, "DATA\r\nx\r\n.\r\n");
	assert_string_equal(sent(f, 0), "354 End data with <CR><LF>.<CR><LF>\r\n"
					"451 4.3.0 Error: message not stored, try again later\r\n");
	fx_close_all(f); /* the stages above live on this stack */
}

/* A stage that answers its own ticket synchronously is refused. */
static struct smtp_stage_host *busy_host;
static int busy_rc;

static enum smtp_stage_verdict park_and_answer(void *arg, struct smtp_stage_call *call)
{
	uint64_t t = smtp_stage_ticket(call, SMTP_TICKET_TEST);

	(void)arg;
	busy_rc = smtp_host_resume(busy_host, t, NULL);
	return SMTP_STAGE_CONTINUE;
}

static void test_resume_contract(void **state)
{
	struct fx *f = *state;
	struct smtp_stage st = {.name = "sync", .event = SMTP_EV_HELO, .fn = park_and_answer};
	struct fake_stage slow = {.name = "slow", .verdict = SMTP_STAGE_PARK};
	struct smtp_answer bad = {.code = 700};

	busy_host = f->h;
	assert_int_equal(smtp_host_stage_add(f->h, &st), 0);
	add_stage(f, SMTP_EV_MAIL, &slow, 0);
	st.fn = NULL;
	assert_int_equal(smtp_host_stage_add(f->h, &st), -EINVAL);
	connect_client(f, 0);
	client(f, 0, "EHLO c\r\n");
	/* Not parked (the ticket was never used): stale, not busy. */
	assert_int_equal(busy_rc, -ESTALE);
	client(f, 0, "MAIL FROM:<>\r\n");
	sent(f, 0);
	assert_int_equal(smtp_host_resume(f->h, slow.tickets[0], &bad), -EINVAL);
	assert_true(smtp_session_parked(f->c[0]->s));
	assert_int_equal(smtp_host_resume(f->h, slow.tickets[0], NULL), 0);
	assert_string_equal(sent(f, 0), "250 2.1.0 Ok\r\n");
	fx_close_all(f); /* the stages above live on this stack */
}

/* Every slot in use: 421 4.3.2 from static text, transport closed,
 * counted; the slot comes back when a connection closes. */
static void test_slots_full(void **state)
{
	struct fx *f = *state;
	struct smtp_conn_table *tab = smtp_host_conns(f->h);

	assert_non_null(connect_client(f, 0));
	assert_non_null(connect_client(f, 1));
	assert_int_equal(smtp_conn_open_count(tab), 2);
	assert_null(connect_client(f, 2));
	assert_string_equal(f->tr[2].out,
			    "421 4.3.2 mxgate: too many connections, try again later\r\n");
	assert_int_equal(f->tr[2].closed, 1);
	assert_int_equal(smtp_conn_refused(tab), 1);
	smtp_conn_event(f->c[0], SMTP_CONN_EV_CLOSED);
	assert_int_equal(smtp_conn_open_count(tab), 1);
	assert_non_null(connect_client(f, 2));
}

/* The connect-time gate (global admission): while it names a reason,
 * new connections get 421 4.3.2 with it, before a slot is taken, and are
 * counted apart from the full slots; once it admits, they get sessions. */
static const char *gate_say(void *arg)
{
	return *(const char **)arg;
}

static void test_gate(void **state)
{
	struct fx *f = *state;
	struct smtp_conn_table *tab = smtp_host_conns(f->h);
	const char *why = "spool full";

	smtp_conn_set_gate(tab, gate_say, &why);
	assert_null(connect_client(f, 0));
	assert_string_equal(f->tr[0].out, "421 4.3.2 mxgate: spool full, try again later\r\n");
	assert_int_equal(f->tr[0].closed, 1);
	assert_int_equal(smtp_conn_gate_refused(tab), 1);
	assert_int_equal(smtp_conn_refused(tab), 0);
	assert_int_equal(smtp_conn_open_count(tab), 0);
	why = NULL;
	assert_non_null(connect_client(f, 1));
	assert_int_equal(smtp_conn_open_count(tab), 1);
	assert_int_equal(smtp_conn_gate_refused(tab), 1);
	smtp_conn_set_gate(tab, NULL, NULL);
}

/* Output back-pressure: what the transport does not take waits for
 * WRITABLE; QUIT half-closes only after the 221 went out; PEER_FIN with
 * nothing queued half-closes. */
static void test_transport_flow(void **state)
{
	struct fx *f = *state;
	struct smtp_conn *c = connect_client(f, 0);

	sent(f, 0);
	f->tr[0].send_room = 4;
	client(f, 0, "NOOP\r\nQUIT\r\n");
	assert_string_equal(sent(f, 0), "250 ");
	assert_int_equal(f->tr[0].shut, 0);
	f->tr[0].send_room = SIZE_MAX;
	smtp_conn_event(c, SMTP_CONN_EV_WRITABLE);
	assert_string_equal(sent(f, 0), "2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
	assert_int_equal(f->tr[0].shut, 1);

	c = connect_client(f, 1);
	smtp_conn_event(c, SMTP_CONN_EV_PEER_FIN);
	assert_int_equal(f->tr[1].shut, 1);
	smtp_conn_abort(c);
	assert_int_equal(f->tr[1].aborted, 1);
	assert_null(c->s);
}

/* The client sends the final dot and half-closes while its message is
 * being committed: the 250 goes out before our FIN, or the client, having
 * no answer, sends the message again (issue 11, defect 7). With no answer
 * the park deadline bounds the wait and its 4xx goes before the FIN. */
static void test_peer_fin_while_parked(void **state)
{
	struct fx *f = *state;
	struct fake_stage spool = {
		.name = "fake-spool", .verdict = SMTP_STAGE_PARK, .kind = SMTP_TICKET_SPOOL};
	static const char txn[] = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\n"
				  "DATA\r\nSubject: t\r\n\r\nbody\r\n.\r\n";

	add_stage(f, SMTP_EV_DATA_END, &spool, 2000);
	connect_client(f, 0);
	client(f, 0, txn);
	sent(f, 0);
	assert_int_equal(spool.ntickets, 1);
	assert_true(smtp_session_parked(f->c[0]->s));
	smtp_conn_event(f->c[0], SMTP_CONN_EV_PEER_FIN);
	assert_int_equal(f->tr[0].shut, 0);
	assert_string_equal(sent(f, 0), "");
	assert_int_equal(smtp_host_resume(f->h, spool.tickets[0], &ok_queued), 0);
	assert_string_equal(sent(f, 0), "250 2.0.0 Ok: queued as T1\r\n");
	assert_int_equal(f->tr[0].shut, 1);
	smtp_conn_event(f->c[0], SMTP_CONN_EV_CLOSED); /* the client closed too */

	/* No answer: at the deadline the 451, then the FIN. */
	connect_client(f, 1);
	client(f, 1, txn);
	sent(f, 1);
	smtp_conn_event(f->c[1], SMTP_CONN_EV_PEER_FIN);
	advance_ms(f, 1999);
	assert_int_equal(f->tr[1].shut, 0);
	advance_ms(f, 2);
	assert_string_equal(sent(f, 1), "451 4.4.3 Error: temporary lookup failure\r\n");
	assert_int_equal(f->tr[1].shut, 1);
	assert_int_equal(counters(f).park_timeouts, 1);
	fx_close_all(f); /* the stages above live on this stack */
}

/* A half-close while replies wait for send space: they go out first, then
 * the FIN (never a FIN with replies still owed). */
static void test_peer_fin_output_pending(void **state)
{
	struct fx *f = *state;
	struct smtp_conn *c = connect_client(f, 0);

	sent(f, 0);
	f->tr[0].send_room = 4;
	client(f, 0, "NOOP\r\n");
	smtp_conn_event(c, SMTP_CONN_EV_PEER_FIN);
	assert_string_equal(sent(f, 0), "250 ");
	assert_int_equal(f->tr[0].shut, 0);
	f->tr[0].send_room = SIZE_MAX;
	smtp_conn_event(c, SMTP_CONN_EV_WRITABLE);
	assert_string_equal(sent(f, 0), "2.0.0 Ok\r\n");
	assert_int_equal(f->tr[0].shut, 1);
}

/* Issue 11, defect 1: after QUIT (221, our FIN) a client that never
 * closes its side keeps its slot only for the linger, then the connection
 * is reset and the slot released; one that closes in time is not reset. */
static void test_linger_abort(void **state)
{
	struct fx *f = *state;
	struct smtp_conn_table *tab = smtp_host_conns(f->h);
	struct smtp_conn *c = connect_client(f, 0);

	sent(f, 0);
	client(f, 0, "QUIT\r\n");
	assert_string_equal(sent(f, 0), "221 2.0.0 Bye\r\n");
	assert_int_equal(f->tr[0].shut, 1);
	advance_ms(f, SMTP_CONN_LINGER_MS - 1);
	assert_non_null(c->s);
	assert_int_equal(f->tr[0].aborted, 0);
	advance_ms(f, 2);
	assert_null(c->s);
	assert_int_equal(f->tr[0].aborted, 1);
	assert_int_equal(f->tr[0].closed, 0);
	assert_int_equal(smtp_conn_open_count(tab), 0);
	assert_int_equal(counters(f).linger_aborts, 1);

	/* The same after a timeout's 421; a client that closes in time is
	 * released by its CLOSED, never reset. */
	c = connect_client(f, 1);
	sent(f, 1);
	advance_ms(f, 300001);
	assert_string_equal(sent(f, 1), "421 4.4.2 mx.test Error: timeout exceeded\r\n");
	assert_int_equal(f->tr[1].shut, 1);
	c = connect_client(f, 0);
	client(f, 0, "QUIT\r\n");
	advance_ms(f, SMTP_CONN_LINGER_MS / 2);
	smtp_conn_event(c, SMTP_CONN_EV_CLOSED);
	advance_ms(f, SMTP_CONN_LINGER_MS);
	assert_int_equal(f->tr[0].aborted, 0);
	assert_int_equal(f->tr[1].aborted, 1);
	assert_int_equal(smtp_conn_open_count(tab), 0);
	assert_int_equal(counters(f).linger_aborts, 2);
}

/* The linger also follows our FIN after the client's (a client that
 * half-closed and then never ACKs our FIN). */
static void test_linger_after_peer_fin(void **state)
{
	struct fx *f = *state;
	struct smtp_conn *c = connect_client(f, 0);

	smtp_conn_event(c, SMTP_CONN_EV_PEER_FIN);
	assert_int_equal(f->tr[0].shut, 1);
	advance_ms(f, SMTP_CONN_LINGER_MS + 1);
	assert_null(c->s);
	assert_int_equal(f->tr[0].aborted, 1);
	assert_int_equal(counters(f).linger_aborts, 1);
}

/* Issue 11, defect 1: every session has an absolute lifetime, however busy
 * it keeps itself; then 421 4.4.2, our FIN, the linger, the reset. A
 * parked command is answered first. Lifetime 10 s, linger 500 ms. */
static void test_lifetime(void **state)
{
	const struct smtp_host_conf hc = {.linger_ms = 500, .max_lifetime_s = 10};
	struct fx *f = fx_create_conf(NSLOTS, &hc);
	struct fake_stage spool = {
		.name = "fake-spool", .verdict = SMTP_STAGE_PARK, .kind = SMTP_TICKET_SPOOL};
	struct smtp_conn *c;

	(void)state;
	add_stage(f, SMTP_EV_DATA_END, &spool, 0);
	c = connect_client(f, 0);
	sent(f, 0);
	for (int i = 0; i < 9; i++) {
		advance_ms(f, 1000);
		client(f, 0, "NOOP\r\n");
		assert_string_equal(sent(f, 0), "250 2.0.0 Ok\r\n");
	}
	client(f, 0, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nx\r\n");
	sent(f, 0);
	advance_ms(f, 999);
	assert_string_equal(sent(f, 0), "");
	advance_ms(f, 2);
	assert_string_equal(sent(f, 0),
			    "421 4.4.2 mx.test Error: connection lifetime exceeded\r\n");
	assert_int_equal(f->tr[0].shut, 1);
	assert_int_equal(counters(f).lifetime_closes, 1);
	advance_ms(f, 500);
	assert_null(c->s);
	assert_int_equal(f->tr[0].aborted, 1);
	assert_int_equal(counters(f).linger_aborts, 1);

	/* Parked at end of data when the lifetime ends: the 250 first. */
	c = connect_client(f, 1);
	sent(f, 1);
	client(f, 1, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nx\r\n");
	advance_ms(f, 9000);
	client(f, 1, ".\r\n");
	sent(f, 1);
	assert_int_equal(spool.ntickets, 1);
	advance_ms(f, 5000);
	assert_string_equal(sent(f, 1), "");
	assert_int_equal(f->tr[1].shut, 0);
	assert_int_equal(smtp_host_resume(f->h, spool.tickets[0], &ok_queued), 0);
	assert_string_equal(sent(f, 1), "250 2.0.0 Ok: queued as T1\r\n");
	advance_ms(f, 2);
	assert_string_equal(sent(f, 1),
			    "421 4.4.2 mx.test Error: connection lifetime exceeded\r\n");
	assert_int_equal(f->tr[1].shut, 1);
	assert_int_equal(counters(f).lifetime_closes, 2);
	smtp_conn_event(c, SMTP_CONN_EV_CLOSED);
	assert_int_equal(counters(f).linger_aborts, 1);
	fx_destroy(f);
}

/* The default lifetime (an hour) ends a session that a client keeps alive
 * with a command before every timeout. */
static void test_lifetime_default(void **state)
{
	struct fx *f = *state;
	struct smtp_conn *c = connect_client(f, 0);
	unsigned n = 0;

	sent(f, 0);
	while (c->s && f->tr[0].shut == 0 && n++ < 100) {
		advance_ms(f, 299000);
		client(f, 0, "NOOP\r\n");
	}
	assert_int_equal(n, SMTP_CONN_LIFETIME_S / 299 + 1);
	assert_non_null(
		strstr(sent(f, 0), "421 4.4.2 mx.test Error: connection lifetime exceeded\r\n"));
	assert_int_equal(counters(f).lifetime_closes, 1);
}

/* smtp_pool_update(): the live keys change, slab sizes do not, bad values
 * change nothing. */
static void test_pool_update(void **state)
{
	struct fx *f = *state;
	struct smtp_pool *p = smtp_host_pool(f->h);
	struct smtp_config sc = *smtp_pool_config(p);
	const char *out;

	snprintf(sc.hostname, sizeof(sc.hostname), "mx2.test");
	sc.max_msg_size = 1234;
	sc.max_errors = 2;
	sc.timeout_cmd_ms = 5000;
	sc.max_sessions = 99; /* not live: ignored */
	sc.max_rcpt = 7;
	assert_int_equal(smtp_pool_update(p, &sc), 0);
	assert_string_equal(smtp_pool_config(p)->hostname, "mx2.test");
	assert_int_equal(smtp_pool_config(p)->max_msg_size, 1234);
	assert_int_equal(smtp_pool_config(p)->max_sessions, NSLOTS);
	assert_int_equal(smtp_pool_config(p)->max_rcpt, 100);

	connect_client(f, 0);
	assert_string_equal(sent(f, 0), "220 mx2.test ESMTP\r\n");
	client(f, 0, "EHLO c\r\n");
	out = sent(f, 0);
	assert_non_null(strstr(out, "250-mx2.test\r\n"));
	assert_non_null(strstr(out, "250-SIZE 1234\r\n"));
	/* New command timeout (5 s) applies to the next command. */
	advance_ms(f, 5001);
	assert_string_equal(sent(f, 0), "421 4.4.2 mx2.test Error: timeout exceeded\r\n");

	/* Invalid: nothing changes. */
	sc = *smtp_pool_config(p);
	sc.hostname[0] = '\0';
	assert_int_equal(smtp_pool_update(p, &sc), -EINVAL);
	sc = *smtp_pool_config(p);
	sc.max_errors = 0;
	assert_int_equal(smtp_pool_update(p, &sc), -EINVAL);
	sc = *smtp_pool_config(p);
	sc.timeout_data_ms = 0;
	assert_int_equal(smtp_pool_update(p, &sc), -EINVAL);
	assert_string_equal(smtp_pool_config(p)->hostname, "mx2.test");
	assert_int_equal(smtp_pool_config(p)->max_errors, 2);
}

/* A host name that fits the limit but not the output buffers sized at boot
 * is refused. */
static void test_pool_update_out_size(void **state)
{
	struct smtp_config sc;
	struct smtp_pool *p;
	char big[SMTP_HOSTNAME_MAX + 1];

	(void)state;
	smtp_config_defaults(&sc);
	sc.max_sessions = 1;
	sc.out_size = 400; /* just enough for "localhost" */
	p = smtp_pool_create(&sc, NULL);
	assert_non_null(p);
	memset(big, 'a', SMTP_HOSTNAME_MAX);
	big[SMTP_HOSTNAME_MAX] = '\0';
	memcpy(sc.hostname, big, sizeof(big));
	assert_int_equal(smtp_pool_update(p, &sc), -EINVAL);
	assert_string_equal(smtp_pool_config(p)->hostname, "localhost");
	snprintf(sc.hostname, sizeof(sc.hostname), "b.test");
	assert_int_equal(smtp_pool_update(p, &sc), 0);
	smtp_pool_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipelining_order_across_parks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deadline_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_stage_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_while_parked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_ends_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_contract, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slots_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_fin_while_parked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_fin_output_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linger_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linger_after_peer_fin, setup, teardown),
		cmocka_unit_test(test_lifetime),
		cmocka_unit_test_setup_teardown(test_lifetime_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_update, setup, teardown),
		cmocka_unit_test(test_pool_update_out_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
