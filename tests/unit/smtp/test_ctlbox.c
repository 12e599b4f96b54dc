/*
 * test_ctlbox.c - cmocka tests of the operator's view of sessions without
 * EAL: the ctl box (snapshot, kill by id and by network, drain), the kill
 * of a parked session (after its answer), the queue ids noted from the
 * 250s, and the latency marks. Fake transport and virtual time
 * (fake_conn.h); the control side and the worker side of the box run on
 * this one thread, in the order the protocol gives them.
 */
#include "fake_conn.h"
#include "smtp/ctlbox.h"
#include "smtp/latency.h"

#define NSLOTS 3
#define QID    "01M91RYK9Z0000000002994C7A"

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

static struct smtp_ctlbox *box_new(void)
{
	struct smtp_ctlbox *b = smtp_ctlbox_create(0, NSLOTS);

	assert_non_null(b);
	return b;
}

/* Control side posts, worker side serves, control side sees the answer. */
static void round_trip(struct fx *f, struct smtp_ctlbox *b)
{
	assert_int_equal(smtp_ctlbox_post(b), 0);
	assert_false(smtp_ctlbox_answered(b));
	assert_int_equal(smtp_ctlbox_post(b), -EBUSY);
	smtp_ctlbox_poll(b, smtp_host_conns(f->h));
	assert_true(smtp_ctlbox_answered(b));
}

static const struct smtp_sess_info *by_slot(struct smtp_ctlbox *b, uint32_t slot)
{
	for (unsigned i = 0; i < b->n; i++)
		if (b->snap[i].slot == slot)
			return &b->snap[i];
	fail_msg("slot %u not in the snapshot", slot);
	return NULL;
}

/* The policy stage's pol_stage_rdns(), faked: slot 0's client is
 * forward-confirmed, the others are not (yet). */
static const char *fake_rdns(void *arg, uint32_t slot)
{
	return slot == *(uint32_t *)arg ? "mta1.example.net" : NULL;
}

static void test_list(void **state)
{
	struct fx *f = *state;
	struct smtp_ctlbox *b = box_new();
	const struct smtp_sess_info *a, *c;
	uint32_t confirmed;

	connect_client(f, 0);
	connect_client(f, 1);
	client(f, 0,
	       "EHLO a.test\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<r1@y.test>\r\n"
	       "RCPT TO:<r2@y.test>\r\n");
	advance_ms(f, 1500);
	confirmed = f->c[0]->slot;
	smtp_ctlbox_set_rdns(b, fake_rdns, &confirmed);
	b->op = SMTP_CTLBOX_LIST;
	round_trip(f, b);
	assert_int_equal(b->n, 2);
	a = by_slot(b, f->c[0]->slot);
	assert_string_equal(a->rdns, "mta1.example.net");
	assert_string_equal(by_slot(b, f->c[1]->slot)->rdns, "");
	c = by_slot(b, f->c[1]->slot);
	assert_string_equal(a->helo, "a.test");
	assert_string_equal(a->from, "<s@x.test>");
	assert_int_equal(a->nrcpt, 2);
	assert_int_equal(a->state, SMTP_ST_RCPT);
	assert_int_equal(a->bytes_in, strlen("EHLO a.test\r\nMAIL FROM:<s@x.test>\r\nRCPT "
					     "TO:<r1@y.test>\r\nRCPT TO:<r2@y.test>\r\n"));
	assert_true(a->bytes_out > c->bytes_out);
	assert_int_equal(a->age_us, 1500000);
	assert_int_equal(a->idle_us, 1500000);
	assert_int_equal(a->park_kind, 0);
	assert_int_equal(a->peer.port, 40000);
	assert_int_equal(c->state, SMTP_ST_INIT);
	assert_string_equal(c->helo, "");
	assert_string_equal(c->from, "");
	assert_true(a->serial != c->serial);
	smtp_ctlbox_destroy(b);
}

static void test_kill_id_only_that_one(void **state)
{
	struct fx *f = *state;
	struct smtp_ctlbox *b = box_new();

	connect_client(f, 0);
	connect_client(f, 1);
	client(f, 1, "EHLO b.test\r\n");
	sent(f, 0);
	sent(f, 1);
	b->op = SMTP_CTLBOX_KILL_ID;
	b->id = f->c[1]->serial;
	round_trip(f, b);
	assert_int_equal(b->n, 1);
	assert_string_equal(sent(f, 1), "421 4.3.2 mx.test Service shutting down\r\n");
	assert_int_equal(f->tr[1].shut, 1);
	assert_string_equal(sent(f, 0), "");
	assert_int_equal(f->tr[0].shut, 0);
	client(f, 0, "EHLO a.test\r\n");
	assert_non_null(strstr(sent(f, 0), "250"));
	/* An id nobody has: nothing ended. */
	b->id = 999;
	round_trip(f, b);
	assert_int_equal(b->n, 0);
	smtp_ctlbox_destroy(b);
}

static void test_kill_net(void **state)
{
	struct fx *f = *state;
	struct smtp_ctlbox *b = box_new();
	struct smtp_peer n = {.family = 4, .addr = {192, 0, 2, 0}};
	struct smtp_peer p = {.family = 4, .addr = {192, 0, 2, 1}};
	struct smtp_peer v6 = {.family = 6, .addr = {0x20, 0x01, 0x0d, 0xb8}};

	assert_true(smtp_peer_in_net(&p, &n, 24));
	assert_true(smtp_peer_in_net(&p, &n, 0));
	assert_false(smtp_peer_in_net(&p, &n, 32));
	assert_true(smtp_peer_in_net(&p, &n, 31));
	assert_false(smtp_peer_in_net(&v6, &n, 0)); /* families differ */
	assert_false(smtp_peer_in_net(&p, &n, 33));
	connect_client(f, 0);
	connect_client(f, 1);
	b->op = SMTP_CTLBOX_KILL_NET;
	b->net = (struct smtp_peer){.family = 4, .addr = {198, 51, 100, 0}};
	b->prefix = 24;
	round_trip(f, b);
	assert_int_equal(b->n, 0);
	b->net = n;
	round_trip(f, b);
	assert_int_equal(b->n, 2);
	assert_int_equal(f->tr[0].shut + f->tr[1].shut, 2);
	smtp_ctlbox_destroy(b);
}

/* A spool-like stage parks at end of data; the kill waits for its answer:
 * the client gets the 250 (its message is safe), then the 421. The 250's
 * queue id is noted for the session's log line. */
static struct {
	uint64_t ticket;
} spool;

static enum smtp_stage_verdict park_eod(void *arg, struct smtp_stage_call *call)
{
	(void)arg;
	spool.ticket = smtp_stage_ticket(call, SMTP_TICKET_SPOOL);
	return SMTP_STAGE_PARK;
}

static void test_kill_parked_after_answer(void **state)
{
	struct fx *f = *state;
	struct smtp_ctlbox *b = box_new();
	struct smtp_stage st = {.name = "spool", .event = SMTP_EV_DATA_END, .fn = park_eod};
	const struct smtp_answer ok = {.code = 250, .enh = "2.0.0", .text = "Ok: queued as " QID};
	struct smtp_conn *c;

	assert_int_equal(smtp_host_stage_add(f->h, &st), 0);
	c = connect_client(f, 0);
	client(f, 0, "EHLO a\r\nMAIL FROM:<>\r\nRCPT TO:<r@y.test>\r\nDATA\r\n");
	client(f, 0, "Subject: x\r\n\r\nbody\r\n.\r\n");
	assert_true(smtp_session_parked(c->s));
	sent(f, 0);
	b->op = SMTP_CTLBOX_LIST;
	round_trip(f, b);
	assert_int_equal(b->snap[0].park_kind, SMTP_TICKET_SPOOL);
	b->op = SMTP_CTLBOX_KILL_ID;
	b->id = c->serial;
	round_trip(f, b);
	assert_int_equal(b->n, 1);
	assert_true(c->kill_pending);
	assert_string_equal(sent(f, 0), "");
	assert_int_equal(smtp_host_resume(f->h, spool.ticket, &ok), 0);
	assert_string_equal(sent(f, 0), "250 2.0.0 Ok: queued as " QID "\r\n"
					"421 4.3.2 mx.test Service shutting down\r\n");
	assert_int_equal(c->nqids, 1);
	assert_string_equal(c->qids[0], QID);
	assert_int_equal(f->tr[0].shut, 1);
	fx_close_all(f);
	smtp_ctlbox_destroy(b);
}

static void test_drain(void **state)
{
	struct fx *f = *state;
	struct smtp_ctlbox *b = box_new();

	connect_client(f, 0); /* between transactions: ended */
	connect_client(f, 1); /* in a transaction: goes on */
	client(f, 1, "EHLO b\r\nMAIL FROM:<>\r\n");
	sent(f, 0);
	sent(f, 1);
	smtp_ctlbox_set_drain(b, SMTP_CONN_DRAIN_REPLY);
	smtp_ctlbox_poll(b, smtp_host_conns(f->h));
	assert_string_equal(sent(f, 0), "421 4.3.2 mx.test Service shutting down\r\n");
	assert_string_equal(sent(f, 1), "");
	assert_null(connect_client(f, 2));
	assert_string_equal(sent(f, 2), "421 4.3.2 mxgate: Service shutting down\r\n");
	assert_int_equal(f->tr[2].closed, 1);
	assert_int_equal(smtp_conn_drain_refused(smtp_host_conns(f->h)), 1);
	/* The transaction ends: the next scan ends the session. */
	client(f, 1, "RSET\r\n");
	sent(f, 1);
	advance_ms(f, SMTP_CTLBOX_DRAIN_SCAN_US / 1000);
	smtp_ctlbox_poll(b, smtp_host_conns(f->h));
	assert_string_equal(sent(f, 1), "421 4.3.2 mx.test Service shutting down\r\n");
	/* Silent: closed without a word. */
	smtp_ctlbox_set_drain(b, SMTP_CONN_DRAIN_SILENT);
	smtp_ctlbox_poll(b, smtp_host_conns(f->h));
	fx_close_all(f);
	assert_null(connect_client(f, 3));
	assert_string_equal(sent(f, 3), "");
	assert_int_equal(f->tr[3].closed, 1);
	smtp_ctlbox_destroy(b);
}

/* Top talkers: finished sessions accounted by address at release; a
 * full set gives up its entry with the fewest sessions. */
static void test_top(void **state)
{
	struct fx *f = *state;
	struct smtp_ctlbox *b = box_new();
	struct smtp_stage st = {.name = "spool", .event = SMTP_EV_DATA_END, .fn = park_eod};
	const struct smtp_answer ok = {.code = 250, .enh = "2.0.0", .text = "Ok: queued as " QID};
	struct smtp_conn fake = {0};
	const struct smtp_top_entry *e = NULL;

	assert_int_equal(smtp_host_stage_add(f->h, &st), 0);
	smtp_conn_on_finish(smtp_host_conns(f->h), smtp_ctlbox_account, b);
	connect_client(f, 0);
	client(f, 0, "EHLO a\r\nMAIL FROM:<>\r\nRCPT TO:<r@y.test>\r\nDATA\r\n");
	client(f, 0, "x\r\n.\r\n");
	assert_int_equal(smtp_host_resume(f->h, spool.ticket, &ok), 0);
	client(f, 0, "RCPT TO:<nobody>\r\n"); /* 503: a refusal */
	connect_client(f, 1);
	fx_close_all(f);
	b->op = SMTP_CTLBOX_TOP;
	round_trip(f, b);
	for (unsigned i = 0; i < SMTP_TOP_SLOTS; i++)
		if (b->top_snap[i].peer.family == 4)
			e = &b->top_snap[i];
	assert_non_null(e);
	assert_int_equal(e->conns, 2);
	assert_int_equal(e->msgs, 1);
	assert_int_equal(e->refused, 1);
	assert_true(e->bytes > 40);
	/* Addresses until some set overflows: one is pushed out (bounded
	 * memory), and the table never holds more than SMTP_TOP_SLOTS. */
	fake.peer.family = 6;
	for (unsigned n = 0; !b->top_evicted && n < 100000; n++) {
		fake.peer.addr[13] = (uint8_t)(n >> 16);
		fake.peer.addr[14] = (uint8_t)(n >> 8);
		fake.peer.addr[15] = (uint8_t)n;
		smtp_ctlbox_account(b, &fake);
	}
	assert_true(b->top_evicted >= 1);
	smtp_ctlbox_destroy(b);
}

static void test_latency_marks(void **state)
{
	struct fx *f = *state;
	struct smtp_conn_lat *lat = malloc(sizeof(*lat));

	assert_non_null(lat);
	for (unsigned i = 0; i < SMTP_LAT_COUNT; i++)
		mx_hist_init(&lat->h[i]);
	assert_int_equal(smtp_latency_stages_add(f->h, lat), 0);
	connect_client(f, 0);
	assert_int_equal(lat->h[SMTP_LAT_connect_banner].count, 1);
	advance_ms(f, 7);
	client(f, 0, "EHLO a\r\n");
	advance_ms(f, 3);
	client(f, 0, "MAIL FROM:<>\r\nRCPT TO:<r@y.test>\r\n");
	client(f, 0, "HELO again\r\n"); /* only the first counts */
	assert_int_equal(lat->h[SMTP_LAT_banner_helo].count, 1);
	assert_int_equal(lat->h[SMTP_LAT_banner_helo].max, 7000);
	assert_int_equal(lat->h[SMTP_LAT_helo_mail].count, 1);
	assert_int_equal(lat->h[SMTP_LAT_helo_mail].max, 3000);
	assert_int_equal(lat->h[SMTP_LAT_rcpt_verdict].count, 1);
	assert_int_equal(lat->h[SMTP_LAT_data_reply].count, 0);
	fx_close_all(f);
	free(lat);
}

/* Per-check RCPT latency: a check answered at once records 0 (the worker
 * clock did not move), a check that parks records park to answer. */
static uint64_t parked_ticket;

static enum smtp_stage_verdict instant_check(void *arg, struct smtp_stage_call *call)
{
	(void)arg;
	(void)call;
	return SMTP_STAGE_CONTINUE;
}

static enum smtp_stage_verdict parking_check(void *arg, struct smtp_stage_call *call)
{
	(void)arg;
	parked_ticket = smtp_stage_ticket(call, SMTP_TICKET_TEST);
	return SMTP_STAGE_PARK;
}

static void test_latency_per_check(void **state)
{
	struct fx *f = *state;
	struct smtp_conn_lat *lat = malloc(sizeof(*lat));
	struct smtp_stage pol = {.name = "policy-rcpt",
				 .event = SMTP_EV_RCPT,
				 .fn = instant_check,
				 .lat = 1 + SMTP_LAT_rcpt_policy};
	struct smtp_stage grey = {.name = "greylist",
				  .event = SMTP_EV_RCPT,
				  .fn = parking_check,
				  .lat = 1 + SMTP_LAT_rcpt_greylist};

	assert_non_null(lat);
	for (unsigned i = 0; i < SMTP_LAT_COUNT; i++)
		mx_hist_init(&lat->h[i]);
	assert_int_equal(smtp_latency_stages_add(f->h, lat), 0);
	assert_int_equal(smtp_host_stage_add(f->h, &pol), 0);
	assert_int_equal(smtp_host_stage_add(f->h, &grey), 0);
	connect_client(f, 0);
	client(f, 0, "EHLO a\r\nMAIL FROM:<>\r\nRCPT TO:<r@y.test>\r\n");
	assert_int_equal(lat->h[SMTP_LAT_rcpt_policy].count, 1);
	assert_int_equal(lat->h[SMTP_LAT_rcpt_policy].max, 0);
	assert_int_equal(lat->h[SMTP_LAT_rcpt_greylist].count, 0); /* still parked */
	advance_ms(f, 40);
	assert_int_equal(smtp_host_resume(f->h, parked_ticket, NULL), 0);
	assert_int_equal(lat->h[SMTP_LAT_rcpt_greylist].count, 1);
	assert_int_equal(lat->h[SMTP_LAT_rcpt_greylist].max, 40000);
	assert_int_equal(lat->h[SMTP_LAT_rcpt_verdict].count, 1);
	assert_int_equal(lat->h[SMTP_LAT_rcpt_verdict].max, 40000);
	assert_int_equal(lat->h[SMTP_LAT_rcpt_ratelimit].count, 0);
	fx_close_all(f);
	free(lat);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_latency_per_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_id_only_that_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_net, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_parked_after_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_top, setup, teardown),
		cmocka_unit_test_setup_teardown(test_latency_marks, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
