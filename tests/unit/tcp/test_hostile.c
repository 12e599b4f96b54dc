/*
 * test_hostile.c - the TCP core against peers that try to pin a
 * connection or its memory forever (issue 11): a peer that never ACKs
 * our data (RFC 6298 5.5 backoff, loss probes included), a peer whose
 * window stays zero while it ACKs every probe, a peer that ACKs our FIN
 * and never sends its own, the absolute connection lifetime, and send-memory
 * pressure (new connections refused, live ones served).
 * Everything runs on the harness's virtual clock: exact times are checked.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include "peer.h"

/* Send times (ms of virtual clock) of segments starting at one sequence
 * number: a tap on the harness output. */
#define TX_MAX 64
static struct {
	uint32_t seq;
	unsigned n;
	uint64_t ms[TX_MAX];
} tx;

static void tap(struct henv *h, const struct hseg *s)
{
	if (s->seq == tx.seq && (s->len || (s->flags & TCP_FIN)) && tx.n < TX_MAX)
		tx.ms[tx.n++] = h->now / 1000;
}

static void cfg_test(struct tcp_config *c)
{
	tcp_config_default(c);
	c->nodelay = true;
}

static int setup_cfg(void **state, const struct tcp_config *c)
{
	struct henv *h = p_fixture_new(c, NULL);

	if (!h)
		return -1;
	memset(&tx, 0, sizeof(tx));
	*state = h;
	return 0;
}

static int setup(void **state)
{
	struct tcp_config c;

	cfg_test(&c);
	return setup_cfg(state, &c);
}

/* ---- RFC 6298 5.5: the RTO doubles on every timeout ---- */

/* A SACK + timestamps peer (loss probes enabled) that completed the
 * handshake 10 ms ago and will never ACK what we send next. */
static struct tcp_tcb *open_silent(struct henv *h, struct peer *p, uint16_t rport)
{
	struct tcp_tcb *t;

	p_init(p, h, 25, rport);
	p->sack = true;
	p->ts = true;
	t = p_open_passive(h, p);
	h_advance(h, 10);
	assert_true(t->rtt.sampled);
	assert_int_equal(tcp_rtt_rto(&t->rtt, 0), 200000); /* rto_min */
	tx.seq = t->snd_una;
	h->on_output = tap;
	return t;
}

/* Every (re)transmission of the first segment after the original, @n of
 * them, at 200 ms then each interval doubled, capped at rto_max (60 s). */
static void check_doubling(unsigned n)
{
	uint64_t gap = 200;

	assert_true(tx.n >= n + 1);
	for (unsigned i = 1; i <= n; i++) {
		if (tx.ms[i] - tx.ms[i - 1] != gap)
			fail_msg("retransmission %u came %llu ms after the previous one, want %llu",
				 i, (unsigned long long)(tx.ms[i] - tx.ms[i - 1]),
				 (unsigned long long)gap);
		gap = gap * 2 > 60000 ? 60000 : gap * 2;
	}
}

/* The SMTP banner case: one small segment in flight. Its probe timeout
 * (2 SRTT + 200 ms) is not shorter than the RTO, so the timeouts alone
 * retransmit it: 200, 400, 800 ms ... never a flat interval. */
static void test_rto_doubles_one_segment(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t = open_silent(h, &p, 41000);

	assert_int_equal(tcp_send(t, "220 mx.test ESMTP\r\n", 19, h->now), 19);
	while (tx.n < 12 && t->state != TCP_CLOSED)
		h_advance(h, 1);
	check_doubling(11);
	assert_int_equal(STAT(h, timeouts), 11);
	assert_int_equal(STAT(h, tlp_probes), 0);
	tcp_abort(t, h->now);
}

/* A flight of five segments: loss probes go out first (RFC 8985), but they
 * do not push the RTO back: it fires 200 ms after the send, then 400, 800
 * ms ... later. */
static void test_rto_doubles_after_probes(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t = open_silent(h, &p, 41001);
	char buf[5000];

	memset(buf, 'd', sizeof(buf));
	assert_int_equal(tcp_send(t, buf, sizeof(buf), h->now), (ssize_t)sizeof(buf));
	while (tx.n < 8 && t->state != TCP_CLOSED)
		h_advance(h, 1);
	assert_true(STAT(h, tlp_probes) >= 1);
	check_doubling(7);
	assert_int_equal(STAT(h, timeouts), 7);
	tcp_abort(t, h->now);
}

/* A peer that keeps talking (a command every 50 ms, each answered with new
 * data) but never ACKs any of our bytes: new data re-arms the loss probe,
 * never the RTO; the first segment is retransmitted at 200, 600, 1400 ms ... */
static void test_rto_doubles_talking_peer(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t = open_silent(h, &p, 41002);

	assert_int_equal(tcp_send(t, "220 mx.test ESMTP\r\n", 19, h->now), 19);
	for (unsigned i = 0; tx.n < 10 && t->state == TCP_ESTABLISHED; i++) {
		h_advance(h, 1);
		if (i % 50 == 0) {
			p_send(&p, TCP_ACK | TCP_PSH, "NOOP\r\n", 6);
			assert_int_equal(tcp_recv_consume(t, 6, h->now), 0);
			if (tcp_send_space(t) >= 14)
				tcp_send(t, "250 2.0.0 Ok\r\n", 14, h->now);
		}
	}
	check_doubling(9);
	tcp_abort(t, h->now);
}

/* Karn (RFC 6298 5 note 2): an ACK of retransmitted data (no timestamps:
 * no RTT sample) ends the loss but keeps the backed-off RTO, so the next
 * segment, if lost too, waits 800 ms and not the minimum 200: a peer that
 * ACKs only retransmissions cannot get them at the minimum RTO. */
static void test_rto_backoff_kept_without_sample(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;

	p_init(&p, h, 25, 41003);
	t = p_open_passive(h, &p);
	h_advance(h, 10);
	tx.seq = t->snd_una;
	h->on_output = tap;
	assert_int_equal(tcp_send(t, "220 mx.test ESMTP\r\n", 19, h->now), 19);
	while (tx.n < 3)
		h_advance(h, 1);
	check_doubling(2); /* sent, then again at 200 and 600 ms */
	p_saw(&p, h_last(h));
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(t->snd_una, t->snd_max);
	assert_int_equal(t->backoff, 2);
	assert_int_equal(t->rto_retrans, 0);
	memset(&tx, 0, sizeof(tx));
	tx.seq = t->snd_una;
	assert_int_equal(tcp_send(t, "250 2.0.0 Ok\r\n", 14, h->now), 14);
	while (tx.n < 2)
		h_advance(h, 1);
	assert_int_equal(tx.ms[1] - tx.ms[0], 800);
	p_saw(&p, h_last(h));
	p_send(&p, TCP_ACK, NULL, 0); /* a retransmission again: no sample */
	assert_int_equal(t->backoff, 3);
	/* new data, timed, ACKed: a valid sample ends the backoff */
	h_clear_log(h);
	assert_int_equal(tcp_send(t, "250 2.0.0 Ok\r\n", 14, h->now), 14);
	h_advance(h, 5);
	p_saw(&p, h_last(h));
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(t->snd_una, t->snd_max);
	assert_int_equal(t->backoff, 0);
	tcp_abort(t, h->now);
}

/* ---- zero window: bounded however the peer ACKs ---- */

/* Run until the connection closes or @ms pass; the peer answers every
 * segment we send with an ACK carrying window @wnd (0: still shut). */
static void zwnd_run(struct henv *h, struct peer *p, struct tcp_tcb *t, uint64_t ms, uint16_t wnd)
{
	for (uint64_t i = 0; i < ms && t->state != TCP_CLOSED; i++) {
		h_advance(h, 1);
		if (h->nlog && t->state != TCP_CLOSED) {
			p_saw(p, h_last(h));
			h_clear_log(h);
			p->wnd = wnd;
			p_send(p, TCP_ACK, NULL, 0);
		}
	}
}

/* Defect 2: a reader that ACKs every window probe with a window still at
 * zero is aborted (RST, CLOSED "timeout", TCPAbortOnZeroWindow) exactly
 * zero_window_max_ms after its window first held our data back. */
static void test_zero_window_bound(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	uint64_t t0;

	p_init(&p, h, 25, 41100);
	t = p_open_passive(h, &p);
	assert_int_equal(h->st->cfg.zero_window_max_ms, 120000);
	p.wnd = 0;
	p_send(&p, TCP_ACK, NULL, 0);
	t0 = h->now / 1000;
	assert_int_equal(tcp_send(t, "250 2.0.0 Ok\r\n", 14, h->now), 14);
	assert_int_equal(t->rtx_mode, TCP_RTX_PERSIST);
	zwnd_run(h, &p, t, 119999, 0);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	assert_true(STAT(h, win_probe) >= 5); /* answered all along */
	h_clear_log(h);
	zwnd_run(h, &p, t, 10, 0);
	assert_int_equal(t->state, TCP_CLOSED);
	assert_int_equal(h->now / 1000 - t0, 120000);
	assert_int_equal(h_last(h)->flags, TCP_RST | TCP_ACK);
	assert_int_equal(h->events[h->nevents - 1].ev, TCP_EV_CLOSED);
	assert_int_equal(h->events[h->nevents - 1].reason, TCP_CLOSE_TIMEOUT);
	assert_int_equal(STAT(h, abort_on_zero_window), 1);
	assert_int_equal(STAT(h, abort_on_timeout), 0);
	tcp_close(t, h->now);
	assert_int_equal(h->st->tcbs_used, 0);
	assert_int_equal(h->st->chunks_used, 0);
}

/* A window opened to a byte now and then (each forced into a one-byte
 * segment, then shut again) is still a closed window: same bound. */
static void test_zero_window_trickle(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	char buf[3000];
	uint64_t t0;

	memset(buf, 'x', sizeof(buf));
	p_init(&p, h, 25, 41101);
	t = p_open_passive(h, &p);
	p.wnd = 0;
	p_send(&p, TCP_ACK, NULL, 0);
	t0 = h->now / 1000;
	assert_int_equal(tcp_send(t, buf, sizeof(buf), h->now), (ssize_t)sizeof(buf));
	for (int k = 0; k < 100 && t->state != TCP_CLOSED; k++) {
		zwnd_run(h, &p, t, 5000, 0);
		if (t->state == TCP_CLOSED)
			break;
		p.wnd = 1; /* a byte of room: the persist timer forces it out */
		p_send(&p, TCP_ACK, NULL, 0);
	}
	assert_int_equal(t->state, TCP_CLOSED);
	assert_true(t->snd_una != t->iss + 1); /* some bytes did go */
	assert_true(h->now / 1000 - t0 <= 120000 + 1);
	assert_int_equal(STAT(h, abort_on_zero_window), 1);
	tcp_close(t, h->now);
}

/* A window that really opens ends the episode: the bound counts from the
 * next time it closes. */
static void test_zero_window_reopens(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	uint64_t t1;

	p_init(&p, h, 25, 41102);
	t = p_open_passive(h, &p);
	p.wnd = 0;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(tcp_send(t, "first\r\n", 7, h->now), 7);
	zwnd_run(h, &p, t, 100000, 0);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	/* the window opens: the data goes and is ACKed, the window shuts */
	p.wnd = 65535;
	h_clear_log(h);
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(h_last(h)->len, 7);
	p_saw(&p, h_last(h));
	p.wnd = 0;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(t->snd_una, t->snd_max);
	h_advance(h, 30000);
	t1 = h->now / 1000;
	assert_int_equal(tcp_send(t, "second\r\n", 8, h->now), 8);
	zwnd_run(h, &p, t, 119999, 0);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	zwnd_run(h, &p, t, 10, 0);
	assert_int_equal(t->state, TCP_CLOSED);
	assert_int_equal(h->now / 1000 - t1, 120000);
	assert_int_equal(STAT(h, abort_on_zero_window), 1);
	tcp_close(t, h->now);
}

/* A peer whose window is always smaller than our MSS but drains steadily
 * is not stuck: half its largest window lets data out (SWS avoidance), so
 * the episode of its first closed window ends, and a later short one is
 * measured on its own. */
static void test_zero_window_small_window_peer(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	char buf[4096];

	memset(buf, 's', sizeof(buf));
	p_init(&p, h, 25, 41104);
	p.mss = 1460;
	p.wnd = 1000;
	t = p_open_passive(h, &p);
	p.wnd = 0;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(tcp_send(t, buf, sizeof(buf), h->now), (ssize_t)sizeof(buf));
	zwnd_run(h, &p, t, 1000, 0);
	/* 150 s of steady flow through a 1000-byte window */
	for (unsigned i = 0; i < 150000 && t->state == TCP_ESTABLISHED; i++) {
		if (tcp_send_space(t) >= sizeof(buf))
			tcp_send(t, buf, sizeof(buf), h->now);
		zwnd_run(h, &p, t, 1, 1000);
	}
	assert_true(STAT(h, out_segs) > 100000);
	/* shut for 10 s: well inside the bound */
	zwnd_run(h, &p, t, 10000, 0);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	assert_int_equal(STAT(h, abort_on_zero_window), 0);
	tcp_abort(t, h->now);
}

/* zero_window_max_ms = 0: no bound (the probe count still catches a peer
 * that stops answering). */
static void test_zero_window_unbounded(void **state)
{
	struct tcp_config c;
	struct henv *h;
	struct peer p;
	struct tcp_tcb *t;

	(void)state;
	cfg_test(&c);
	c.zero_window_max_ms = 0;
	assert_int_equal(setup_cfg((void **)&h, &c), 0);
	p_init(&p, h, 25, 41103);
	t = p_open_passive(h, &p);
	p.wnd = 0;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(tcp_send(t, "x", 1, h->now), 1);
	zwnd_run(h, &p, t, 600000, 0);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	assert_int_equal(STAT(h, abort_on_zero_window), 0);
	tcp_abort(t, h->now);
	p_fixture_teardown((void **)&h);
}

/* ---- FIN_WAIT_2 and the connection lifetime ---- */

/* Defect 1: after QUIT the server shuts down, the client ACKs our FIN and
 * never sends its own. The application still holds the TCB (its SMTP slot
 * waits for CLOSED): fin_wait2_ms after our FIN was ACKed it gets
 * TCP_EV_CLOSED(TIMEOUT), the peer an RST, and TCPAbortOnLinger counts. */
static void test_fin_wait2_attached_bounded(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	uint64_t t0;

	p_init(&p, h, 25, 41200);
	t = p_open_passive(h, &p);
	assert_int_equal(h->st->cfg.fin_wait2_ms, 60000);
	assert_int_equal(tcp_send(t, "221 2.0.0 Bye\r\n", 15, h->now), 15);
	assert_int_equal(tcp_shutdown(t, h->now), 0);
	p_saw(&p, h_last(h));
	h_advance(h, 5);
	p_send(&p, TCP_ACK, NULL, 0);
	t0 = h->now / 1000;
	assert_int_equal(t->state, TCP_FIN_WAIT_2);
	/* the half-closed peer may still talk; that does not extend it */
	h_advance(h, 30000);
	p_send(&p, TCP_ACK | TCP_PSH, "QUIT\r\n", 6);
	assert_int_equal(tcp_recv_avail(t), 6);
	h_advance(h, 29999);
	assert_int_equal(t->state, TCP_FIN_WAIT_2);
	assert_false(h_has_event(h, TCP_EV_CLOSED));
	h_clear_log(h);
	h_advance(h, 1);
	assert_int_equal(h->now / 1000 - t0, 60000);
	assert_int_equal(t->state, TCP_CLOSED);
	assert_int_equal(h->events[h->nevents - 1].ev, TCP_EV_CLOSED);
	assert_int_equal(h->events[h->nevents - 1].reason, TCP_CLOSE_TIMEOUT);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_last(h)->flags, TCP_RST | TCP_ACK);
	assert_int_equal(STAT(h, abort_on_linger), 1);
	assert_null(p_obj(&p));
	tcp_close(t, h->now);
	assert_int_equal(h->st->tcbs_used, 0);
}

/* A keepalive deadline that was pending when the FIN went out does not
 * stand in for the FIN_WAIT_2 bound. */
static void test_fin_wait2_after_keepalive(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;

	p_init(&p, h, 25, 41201);
	t = p_open_passive(h, &p);
	tcp_set_keepalive(t, true); /* first probe after 2 h */
	assert_int_equal(tcp_shutdown(t, h->now), 0);
	p_saw(&p, h_last(h));
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(t->state, TCP_FIN_WAIT_2);
	h_advance(h, 60000);
	assert_int_equal(t->state, TCP_CLOSED);
	assert_int_equal(STAT(h, abort_on_linger), 1);
	tcp_close(t, h->now);
}

static int setup_lifetime(void **state)
{
	struct tcp_config c;

	cfg_test(&c);
	c.lifetime_max_ms = 600000; /* 10 minutes */
	return setup_cfg(state, &c);
}

/* An optional absolute lifetime: a connection that is still open (here
 * busy all along, a byte every 10 s) lifetime_max_ms after its handshake
 * is reset, the application gets TCP_EV_CLOSED(LIFETIME), and
 * TCPAbortOnLifetime counts it. */
static void test_lifetime(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	uint64_t t0;

	p_init(&p, h, 25, 41300);
	t = p_open_passive(h, &p);
	t0 = h->now / 1000;
	for (int i = 0; i < 59; i++) {
		h_advance(h, 10000);
		p_send(&p, TCP_ACK | TCP_PSH, "x", 1);
		tcp_recv_consume(t, 1, h->now);
	}
	h_advance(h, 9999);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	h_clear_log(h);
	h_advance(h, 1);
	assert_int_equal(h->now / 1000 - t0, 600000);
	assert_int_equal(t->state, TCP_CLOSED);
	assert_int_equal(h_last(h)->flags, TCP_RST | TCP_ACK);
	assert_int_equal(h->events[h->nevents - 1].ev, TCP_EV_CLOSED);
	assert_int_equal(h->events[h->nevents - 1].reason, TCP_CLOSE_LIFETIME);
	assert_string_equal(tcp_close_reason_name(TCP_CLOSE_LIFETIME), "lifetime");
	assert_int_equal(STAT(h, abort_on_lifetime), 1);
	assert_int_equal(STAT(h, estab_resets), 1);
	assert_int_equal(STAT(h, curr_estab), 0);
	assert_null(p_obj(&p));
	tcp_close(t, h->now);
	assert_int_equal(h->st->tcbs_used, 0);
}

/* The lifetime covers every state but TIME_WAIT: here CLOSE_WAIT, a peer
 * that half-closed under an application that never answers. Off by
 * default. */
static void test_lifetime_close_wait_and_default(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	struct tcp_config d;

	tcp_config_default(&d);
	assert_int_equal(d.lifetime_max_ms, 0);
	p_init(&p, h, 25, 41301);
	t = p_open_passive(h, &p);
	h_advance(h, 1000);
	p_send(&p, TCP_ACK | TCP_FIN, NULL, 0);
	assert_int_equal(t->state, TCP_CLOSE_WAIT);
	h_advance(h, 598999);
	assert_int_equal(t->state, TCP_CLOSE_WAIT);
	h_advance(h, 1);
	assert_int_equal(t->state, TCP_CLOSED);
	assert_int_equal(h->events[h->nevents - 1].reason, TCP_CLOSE_LIFETIME);
	assert_int_equal(STAT(h, abort_on_lifetime), 1);
	tcp_close(t, h->now);
	assert_int_equal(h->st->tcbs_used, 0);
}

/* ---- send-memory pressure refuses new work, live sessions keep going ---- */

static int setup_pressure(void **state)
{
	struct tcp_config c;

	cfg_test(&c);
	c.snd_chunks = 40; /* 80 KiB of 2 KiB chunks: pressure at 32 in use */
	c.sndbuf = 65536;  /* cap under pressure: 8 KiB */
	return setup_cfg(state, &c);
}

/* A reader that never opens its window pins a full send buffer (64 KiB,
 * 32 chunks: 80% of the pool). From then on a new SYN is not answered
 * (counted), a cookie-completed handshake is reset, the zero-window peer
 * gets no more room, and a session holding little still sends its
 * replies. When the pinned buffer goes, new connections are served again. */
static void test_snd_pressure(void **state)
{
	struct henv *h = *state;
	struct peer pz, pl, pn;
	struct tcp_tcb *z, *live;
	static char big[65536];

	assert_int_equal(h->st->cfg.snd_pressure_pct, 80);
	p_init(&pl, h, 25, 41300);
	live = p_open_passive(h, &pl);
	p_init(&pz, h, 25, 41301);
	z = p_open_passive(h, &pz);
	pz.wnd = 0;
	p_send(&pz, TCP_ACK, NULL, 0);
	memset(big, 'z', sizeof(big));
	assert_int_equal(tcp_send(z, big, sizeof(big), h->now), (ssize_t)sizeof(big));
	assert_int_equal(h->st->chunks_used, 32);
	assert_true(tcp_snd_pressure(h->st));
	assert_int_equal(tcp_send_space(z), 0);

	/* a new client: its SYN is dropped, no SYN-ACK */
	p_init(&pn, h, 25, 41302);
	h_clear_log(h);
	p_send(&pn, TCP_SYN, NULL, 0);
	assert_int_equal(h->nlog, 0);
	assert_int_equal(STAT(h, snd_pressure_drops), 1);
	assert_int_equal(STAT(h, passive_opens), 2);

	/* the live session still answers, and more than once */
	for (int i = 0; i < 3; i++) {
		h_clear_log(h);
		assert_int_equal(tcp_send(live, "250 2.0.0 Ok\r\n", 14, h->now), 14);
		assert_int_equal(h_last(h)->len, 14);
		p_saw(&pl, h_last(h));
		p_send(&pl, TCP_ACK, NULL, 0);
	}
	assert_true(tcp_send_space(live) >= 4096);

	/* the pinned buffer goes: new clients are served again */
	tcp_abort(z, h->now);
	assert_false(tcp_snd_pressure(h->st));
	p_init(&pn, h, 25, 41303);
	assert_non_null(p_accept(&pn));
	assert_int_equal(STAT(h, snd_pressure_drops), 1);
	tcp_close(live, h->now);
	tcp_close(p_tcb(&pn), h->now);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rto_doubles_one_segment, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rto_doubles_after_probes, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rto_doubles_talking_peer, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rto_backoff_kept_without_sample, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_zero_window_bound, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_zero_window_trickle, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_zero_window_reopens, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_zero_window_small_window_peer, setup,
						p_fixture_teardown),
		cmocka_unit_test(test_zero_window_unbounded),
		cmocka_unit_test_setup_teardown(test_fin_wait2_attached_bounded, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_fin_wait2_after_keepalive, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lifetime, setup_lifetime, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lifetime_close_wait_and_default,
						setup_lifetime, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_snd_pressure, setup_pressure,
						p_fixture_teardown),
	};

	return cmocka_run_group_tests_name("tcp_hostile", tests, NULL, NULL);
}
