/*
 * test_stage_spool.c - the spool stages (stage_spool.c) on a real spool in
 * a temporary directory (commit thread, fdatasync; no EAL) under the
 * session host with the fake transport: the replies mail clients get
 * today (250 only after the commit, 452 4.3.1 at admission, 451 4.3.0
 * without a spool), a client that leaves while its commit is pending (the
 * completion is a stale ticket), and spool_reply_parts().
 */
#include "fake_conn.h"

#include <unistd.h>

#include "queue/spool.h"
#include "smtp/latency.h"
#include "smtp/stage_spool.h"

struct sfx {
	struct fx *f;
	struct smtp_spool_stage *st;
	struct spool *sp;
	char dir[64];
	struct smtp_conn_lat *lat; /* setup_lat: the latency marks, first */
};

static int setup_with(void **state, bool lat)
{
	struct sfx *x = calloc(1, sizeof(*x));
	struct spool_conf c;

	assert_non_null(x);
	x->f = fx_create(2);
	if (lat) {
		x->lat = malloc(sizeof(*x->lat));
		assert_non_null(x->lat);
		for (unsigned i = 0; i < SMTP_LAT_COUNT; i++)
			mx_hist_init(&x->lat->h[i]);
		assert_int_equal(smtp_latency_stages_add(x->f->h, x->lat), 0);
	}
	x->st = smtp_spool_stage_create(x->f->h, 100);
	assert_non_null(x->st);
	snprintf(x->dir, sizeof(x->dir), "/tmp/mxh-spool-XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	spool_conf_defaults(&c);
	c.dir = x->dir;
	c.workers = 1;
	c.maint_interval_ms = 0;
	c.buf_size = 64 * 1024;
	c.commit_interval_us = 100;
	x->sp = spool_create(&c);
	assert_non_null(x->sp);
	assert_int_equal(spool_start(x->sp), 0);
	*state = x;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, false);
}

static int setup_lat(void **state)
{
	return setup_with(state, true);
}

static int teardown(void **state)
{
	struct sfx *x = *state;
	char cmd[128];

	fx_destroy(x->f);
	smtp_spool_stage_destroy(x->st);
	spool_worker_flush(spool_worker_get(x->sp, 0));
	spool_stop(x->sp);
	spool_destroy(x->sp);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", x->dir);
	assert_int_equal(system(cmd), 0);
	free(x->lat);
	free(x);
	return 0;
}

/* Poll completions until connection @i has sent something or the spool
 * gave back @want completions (a worker loop; bounded, not a timing
 * check: the commit thread answers within milliseconds). */
static const char *poll_until(struct sfx *x, unsigned i, unsigned want)
{
	unsigned got = 0;

	for (int n = 0; n < 20000 && got < want; n++) {
		got += smtp_spool_stage_poll(x->st);
		if (got < want)
			usleep(1000);
	}
	assert_int_equal(got, want);
	return sent(x->f, i);
}

static const char msg[] = "EHLO client.test\r\nMAIL FROM:<a@x.test> BODY=8BITMIME\r\n"
			  "RCPT TO:<b@x.test>\r\nDATA\r\nSubject: t\r\n\r\nbody\r\n.\r\n";

static void test_queued_after_commit(void **state)
{
	struct sfx *x = *state;
	const char *out;

	smtp_spool_stage_attach(x->st, spool_worker_get(x->sp, 0));
	connect_client(x->f, 0);
	client(x->f, 0, msg);
	out = sent(x->f, 0);
	/* No 250 for the message before the completion. */
	assert_non_null(strstr(out, "354 End data with <CR><LF>.<CR><LF>\r\n"));
	assert_null(strstr(out, "queued"));
	assert_true(smtp_session_parked(x->f->c[0]->s));
	out = poll_until(x, 0, 1);
	assert_int_equal(strncmp(out, "250 2.0.0 Ok: queued as ", 24), 0);
	assert_int_equal(spool_msg_count(x->sp), 1);
	client(x->f, 0, "QUIT\r\n");
	assert_string_equal(sent(x->f, 0), "221 2.0.0 Bye\r\n");
}

/* The durable -> 250 phase: recorded once per message answered 250, next
 * to end of data -> reply (counts only: no timing assertion). */
static void test_durable_reply_recorded(void **state)
{
	struct sfx *x = *state;

	smtp_spool_stage_attach(x->st, spool_worker_get(x->sp, 0));
	connect_client(x->f, 0);
	client(x->f, 0, msg);
	assert_null(strstr(sent(x->f, 0), "queued"));
	assert_int_equal(x->lat->h[SMTP_LAT_durable_reply].count, 0);
	assert_int_equal(strncmp(poll_until(x, 0, 1), "250 2.0.0 Ok: queued as ", 24), 0);
	assert_int_equal(x->lat->h[SMTP_LAT_data_reply].count, 1);
	assert_int_equal(x->lat->h[SMTP_LAT_durable_reply].count, 1);
	assert_int_equal(x->f->c[0]->t_durable_us, 0); /* used up by the 250 */
	client(x->f, 0, "QUIT\r\n");
}

/* A pass-through layer that says it is TLS, stacked like transport_tls.c:
 * the envelope records its protocol and cipher. */
static struct smtp_transport tls_low;
#define LOW tls_low.ops
static unsigned pt_peek(void *tr, struct smtp_iov *iov, unsigned max)
{
	return (void)tr, LOW->peek(tls_low.tr, iov, max);
}
static int pt_consume(void *tr, size_t n, uint64_t now)
{
	return (void)tr, LOW->consume(tls_low.tr, n, now);
}
static size_t pt_avail(void *tr)
{
	return (void)tr, LOW->avail(tls_low.tr);
}
static ssize_t pt_send(void *tr, const void *d, size_t n, uint64_t now)
{
	return (void)tr, LOW->send(tls_low.tr, d, n, now);
}
static int pt_shutdown(void *tr, uint64_t now)
{
	return (void)tr, LOW->shutdown(tls_low.tr, now);
}
static void pt_close(void *tr, uint64_t now)
{
	(void)tr, LOW->close(tls_low.tr, now);
}
static void pt_abort(void *tr, uint64_t now)
{
	(void)tr, LOW->abort(tls_low.tr, now);
}
static const char *pt_describe(void *tr)
{
	return (void)tr, "TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)";
}
#undef LOW
static const struct smtp_transport_ops pt_ops = {
	.name = "tls",
	.peek = pt_peek,
	.consume = pt_consume,
	.avail = pt_avail,
	.send = pt_send,
	.shutdown = pt_shutdown,
	.close = pt_close,
	.abort = pt_abort,
	.describe = pt_describe,
};

static void test_envelope_tls(void **state)
{
	struct sfx *x = *state;
	struct spool_envelope env;
	struct spool_rcpt rc[2];
	struct spool_reader *rd;
	struct spool_qid qid;
	const char *out;

	smtp_spool_stage_attach(x->st, spool_worker_get(x->sp, 0));
	connect_client(x->f, 0);
	sent(x->f, 0);
	tls_low = x->f->c[0]->top;
	assert_int_equal(smtp_conn_transport_push(x->f->c[0], &pt_ops, NULL), 0);
	client(x->f, 0, msg);
	sent(x->f, 0); /* up to the 354 */
	out = poll_until(x, 0, 1);
	assert_int_equal(strncmp(out, "250 2.0.0 Ok: queued as ", 24), 0);
	assert_int_equal(spool_qid_parse(out + 24, SPOOL_QID_STRLEN, &qid), 0);
	rd = spool_reader_open(x->sp, &qid);
	assert_non_null(rd);
	assert_int_equal(spool_reader_envelope(rd, &env, rc, 2), 0);
	assert_string_equal(env.tls_proto, "TLSv1.3");
	assert_string_equal(env.tls_cipher, "TLS_AES_128_GCM_SHA256");
	spool_reader_close(rd);
	/* Plaintext: absent, as in spools written before these were filled. */
	connect_client(x->f, 1);
	sent(x->f, 1);
	client(x->f, 1, msg);
	sent(x->f, 1);
	out = poll_until(x, 1, 1);
	assert_int_equal(strncmp(out, "250 2.0.0 Ok: queued as ", 24), 0);
	assert_int_equal(spool_qid_parse(out + 24, SPOOL_QID_STRLEN, &qid), 0);
	rd = spool_reader_open(x->sp, &qid);
	assert_non_null(rd);
	assert_int_equal(spool_reader_envelope(rd, &env, rc, 2), 0);
	assert_null(env.tls_proto);
	assert_null(env.tls_cipher);
	spool_reader_close(rd);
	client(x->f, 0, "QUIT\r\n");
	client(x->f, 1, "QUIT\r\n");
}

static void test_admission_refused(void **state)
{
	struct sfx *x = *state;

	smtp_spool_stage_attach(x->st, spool_worker_get(x->sp, 0));
	spool_set_refuse(x->sp, 1);
	connect_client(x->f, 0);
	client(x->f, 0, "EHLO c\r\nMAIL FROM:<a@x.test>\r\n");
	assert_non_null(strstr(sent(x->f, 0), "\r\n452 4.3.1 Insufficient system storage\r\n"));
	spool_set_refuse(x->sp, 0);
	client(x->f, 0, "MAIL FROM:<a@x.test>\r\n");
	assert_string_equal(sent(x->f, 0), "250 2.1.0 Ok\r\n");
}

static void test_no_spool(void **state)
{
	struct sfx *x = *state;

	connect_client(x->f, 0);
	client(x->f, 0, msg);
	assert_non_null(strstr(sent(x->f, 0),
			       "\r\n451 4.3.0 Error: message not stored, try again later\r\n"));
}

/* The client leaves while its message is being committed: the message is
 * on disk, the completion's ticket is stale, the slot serves again. */
static void test_close_during_commit(void **state)
{
	struct sfx *x = *state;
	struct smtp_host_counters hc;

	smtp_spool_stage_attach(x->st, spool_worker_get(x->sp, 0));
	connect_client(x->f, 0);
	client(x->f, 0, msg);
	assert_true(smtp_session_parked(x->f->c[0]->s));
	smtp_conn_event(x->f->c[0], SMTP_CONN_EV_CLOSED);
	poll_until(x, 0, 1);
	smtp_host_counters_read(x->f->h, &hc);
	assert_int_equal(hc.closed_parked, 1);
	assert_int_equal(hc.stale_tickets, 1);
	assert_int_equal(hc.resumed, 0);
	assert_int_equal(spool_msg_count(x->sp), 1);
}

/* The client sends the final dot and half-closes while the commit thread
 * syncs its message: the 250 goes out, then our FIN (issue 11, defect 7:
 * without it the client retries and the message is delivered twice). */
static void test_peer_fin_during_commit(void **state)
{
	struct sfx *x = *state;
	const char *out;

	smtp_spool_stage_attach(x->st, spool_worker_get(x->sp, 0));
	connect_client(x->f, 0);
	client(x->f, 0, msg);
	sent(x->f, 0);
	assert_true(smtp_session_parked(x->f->c[0]->s));
	smtp_conn_event(x->f->c[0], SMTP_CONN_EV_PEER_FIN);
	assert_int_equal(x->f->tr[0].shut, 0);
	out = poll_until(x, 0, 1);
	assert_int_equal(strncmp(out, "250 2.0.0 Ok: queued as ", 24), 0);
	assert_int_equal(x->f->tr[0].shut, 1);
	assert_int_equal(spool_msg_count(x->sp), 1);
}

static void test_reply_parts(void **state)
{
	static const int st[] = {-ENOSPC, -EDQUOT, -ENOBUFS, -EAGAIN, -EIO, -EINVAL, 0};

	(void)state;
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		const struct spool_reply_parts *r = spool_reply_parts(st[i]);
		char whole[128];

		snprintf(whole, sizeof(whole), "%u %s %s", r->code, r->enh, r->text);
		assert_string_equal(whole, spool_reply(st[i]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queued_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable_reply_recorded, setup_lat, teardown),
		cmocka_unit_test_setup_teardown(test_envelope_tls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admission_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_spool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_during_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_fin_during_commit, setup, teardown),
		cmocka_unit_test(test_reply_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
