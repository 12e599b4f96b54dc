/*
 * test_state.c - the RFC 9293 state machine of the TCP core driven by a
 * scripted peer: handshakes (passive, active, simultaneous), every close
 * path, RST in each state, RFC 5961 challenge ACKs, PAWS, timers (SYN and
 * data retransmission, delayed ACK, persist, keepalive, TIME_WAIT), NewReno
 * and SACK recovery, out-of-order reception, path MTU.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include "peer.h"

static struct tcp_listener *L;

static void cfg_test(struct tcp_config *c)
{
	tcp_config_default(c);
	c->time_wait_ms = 1000;
	c->fin_wait2_ms = 2000;
	c->synack_retries = 2;
	c->syn_retries = 2;
	c->retries = 3;
	c->nodelay = true;
}

static int setup_cfg(void **state, struct tcp_config *c)
{
	struct henv *h = p_fixture_new(c, &L);

	if (!h)
		return -1;
	*state = h;
	return 0;
}

static int setup(void **state)
{
	struct tcp_config c;

	cfg_test(&c);
	return setup_cfg(state, &c);
}

/* ---- handshakes ---- */

static void test_passive_open(void **state)
{
	struct henv *h = *state;
	struct peer p;
	const struct hseg *s;
	struct tcp_tcb *t;

	p_init(&p, h, 25, 40000);
	p.mss = 1400;
	p.ws = 7;
	p.sack = true;
	p.ts = true;
	p_send(&p, TCP_SYN, NULL, 0);
	s = h_last(h);
	assert_non_null(s);
	assert_int_equal(s->flags, TCP_SYN | TCP_ACK);
	assert_int_equal(s->ack, p.iss + 1);
	assert_true(s->opt.mss_ok);
	assert_int_equal(s->opt.mss, 1460);
	assert_true(s->opt.ws_ok);
	assert_int_equal(s->opt.ws, 1); /* 64 KiB receive buffer */
	assert_true(s->opt.sack_perm);
	assert_true(s->opt.ts_ok);
	assert_int_equal(s->opt.tsecr, 5000);
	assert_int_equal(L->synq_len, 1);
	p_saw(&p, s);
	t = p_tcb(&p);
	assert_int_equal(t->state, TCP_SYN_RECEIVED);
	assert_int_equal(t->mss, 1400);
	assert_int_equal(t->snd_wscale, 7);
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	assert_int_equal(L->synq_len, 0);
	assert_true(h_has_event(h, TCP_EV_ACCEPTED));
	assert_int_equal(h->st->stats.passive_opens, 1);
	assert_int_equal(h->st->stats.curr_estab, 1);
	assert_int_equal(t->snd_wnd, 65535u << 7);
	assert_true(t->ts_ok && t->sack_ok && t->ws_ok);
	tcp_close(t, h->now);
}

/* Address-family neutral: the same handshake over an IPv6 key. */
static void test_passive_open_ipv6(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	uint8_t l6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1},
		r6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};

	p_init(&p, h, 25, 40100);
	tcp_key_init6(&p.k, l6, 25, r6, 40100);
	p.mss = 1440;
	t = p_open_passive(h, &p);
	assert_int_equal(t->key.family, TCP_AF_INET6);
	assert_int_equal(t->mss, 1440); /* our MSS over IPv6: 1500 - 60 */
	p_send(&p, TCP_ACK, "v6", 2);
	assert_int_equal(tcp_recv_avail(t), 2);
	tcp_recv_consume(t, 2, h->now);
	tcp_close(t, h->now);
	assert_int_equal(t->state, TCP_FIN_WAIT_1);
}

static void test_synack_retransmit_timeout(void **state)
{
	struct henv *h = *state;
	struct peer p;

	p_init(&p, h, 25, 40001);
	p_send(&p, TCP_SYN, NULL, 0);
	assert_int_equal(h->nlog, 1);
	/* retransmitted SYN from the peer: SYN-ACK again */
	p_send_opt(&p, TCP_SYN, p.iss, NULL, 0, NULL, 0);
	assert_int_equal(h->nlog, 2);
	assert_int_equal(h_last(h)->flags, TCP_SYN | TCP_ACK);
	h_advance(h, 1000);
	assert_int_equal(h->nlog, 3); /* RTO 1 s */
	h_advance(h, 1999);
	assert_int_equal(h->nlog, 3);
	h_advance(h, 1);
	assert_int_equal(h->nlog, 4); /* backoff 2 s */
	/* the answer to the peer's SYN retransmission counts too */
	assert_int_equal(h->st->stats.syn_retrans, 3);
	h_advance(h, 4000);
	/* synack_retries = 2: the embryo is gone, nobody was told */
	assert_null(p_obj(&p));
	assert_int_equal(h->st->tcbs_used, 0);
	assert_int_equal(L->synq_len, 0);
	assert_int_equal(h->nevents, 0);
}

static void test_active_open(void **state)
{
	struct henv *h = *state;
	struct tcp_key k;
	struct tcp_tcb *t;
	const struct hseg *s;
	struct peer p;
	uint8_t o[40];
	size_t n;
	uint32_t iss;

	h_key(&k, 0, 80);
	t = tcp_connect(h->st, &k, h_event_cb, h, h->now);
	assert_non_null(t);
	assert_int_equal(t->state, TCP_SYN_SENT);
	assert_true(t->key.lport >= 32768 && t->key.lport <= 60999);
	s = h_last(h);
	assert_int_equal(s->flags, TCP_SYN);
	assert_true(s->opt.mss_ok && s->opt.ts_ok && s->opt.sack_perm && s->opt.ws_ok);
	assert_int_equal(h->st->stats.active_opens, 1);
	iss = s->seq;
	p_init(&p, h, t->key.lport, 80);
	p.ack = iss + 1;
	/* SYN-ACK acking something else: RST with seq = that ack */
	n = h_opt_syn(o, 1200, 2, true, true, 777, s->opt.tsval);
	h_clear_log(h);
	h_inject(h, &p.k, p.iss, iss + 5, TCP_SYN | TCP_ACK, 1000, o, n, NULL, 0);
	assert_int_equal(h_last(h)->flags, TCP_RST);
	assert_int_equal(h_last(h)->seq, iss + 5);
	assert_int_equal(t->state, TCP_SYN_SENT);
	h_clear_log(h);
	h_inject(h, &p.k, p.iss, iss + 1, TCP_SYN | TCP_ACK, 1000, o, n, NULL, 0);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	assert_true(h_has_event(h, TCP_EV_ESTABLISHED));
	assert_int_equal(h_last(h)->flags, TCP_ACK);
	assert_int_equal(h_last(h)->ack, p.iss + 1);
	assert_int_equal(t->mss, 1200);
	assert_int_equal(t->snd_wscale, 2);
	assert_int_equal(t->snd_wnd, 1000); /* SYN-ACK window is not scaled */
	assert_true(t->ts_ok);
	tcp_close(t, h->now);
}

static void test_active_refused_and_timeout(void **state)
{
	struct henv *h = *state;
	struct tcp_key k;
	struct tcp_tcb *t;
	uint32_t iss;
	struct peer p;

	h_key(&k, 5555, 81);
	t = tcp_connect(h->st, &k, h_event_cb, h, h->now);
	assert_non_null(t);
	iss = h_last(h)->seq;
	p_init(&p, h, 5555, 81);
	/* RST without ACK, RST with a wrong ACK: ignored */
	h_inject(h, &p.k, 0, 0, TCP_RST, 0, NULL, 0, NULL, 0);
	h_inject(h, &p.k, 0, iss + 9, TCP_RST | TCP_ACK, 0, NULL, 0, NULL, 0);
	assert_int_equal(t->state, TCP_SYN_SENT);
	h_inject(h, &p.k, 0, iss + 1, TCP_RST | TCP_ACK, 0, NULL, 0, NULL, 0);
	assert_int_equal(t->state, TCP_CLOSED);
	assert_int_equal(h->events[h->nevents - 1].ev, TCP_EV_CLOSED);
	assert_int_equal(h->events[h->nevents - 1].reason, TCP_CLOSE_REFUSED);
	assert_int_equal(h->st->stats.attempt_fails, 1);
	assert_null(p_obj(&p));
	tcp_close(t, h->now);
	assert_int_equal(h->st->tcbs_used, 0);

	/* SYN retries exhausted: 1 + 2 + 4 s */
	h->nevents = 0;
	h_clear_log(h);
	t = tcp_connect(h->st, &k, h_event_cb, h, h->now);
	h_advance(h, 6999);
	assert_int_equal(h->nlog, 3);
	assert_int_equal(t->state, TCP_SYN_SENT);
	h_advance(h, 1);
	assert_int_equal(t->state, TCP_CLOSED);
	assert_int_equal(h->events[h->nevents - 1].reason, TCP_CLOSE_TIMEOUT);
	tcp_close(t, h->now);
	assert_int_equal(h->st->tcbs_used, 0);
	/* the same explicit port twice */
	t = tcp_connect(h->st, &k, h_event_cb, h, h->now);
	assert_non_null(t);
	assert_null(tcp_connect(h->st, &k, h_event_cb, h, h->now));
	assert_int_equal(errno, EEXIST);
	tcp_abort(t, h->now);
}

static void test_simultaneous_open(void **state)
{
	struct henv *h = *state;
	struct tcp_key k;
	struct tcp_tcb *t;
	uint32_t iss;
	struct peer p;
	const struct hseg *s;

	h_key(&k, 6000, 6001);
	t = tcp_connect(h->st, &k, h_event_cb, h, h->now);
	iss = h_last(h)->seq;
	p_init(&p, h, 6000, 6001);
	p_send(&p, TCP_SYN, NULL, 0); /* crossing SYN */
	assert_int_equal(t->state, TCP_SYN_RECEIVED);
	s = h_last(h);
	assert_int_equal(s->flags, TCP_SYN | TCP_ACK);
	assert_int_equal(s->seq, iss);
	assert_int_equal(s->ack, p.iss + 1);
	p.ack = iss + 1;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	assert_true(h_has_event(h, TCP_EV_ESTABLISHED));
	assert_false(h_has_event(h, TCP_EV_ACCEPTED));
	tcp_close(t, h->now);
}

/* ---- closing ---- */

static void test_active_close_timewait(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	const struct hseg *s;
	struct tcp_tw *tw;

	p_init(&p, h, 25, 40010);
	t = p_open_passive(h, &p);
	h_clear_log(h);
	assert_int_equal(tcp_shutdown(t, h->now), 0);
	s = h_last(h);
	assert_int_equal(s->flags, TCP_FIN | TCP_ACK);
	assert_int_equal(t->state, TCP_FIN_WAIT_1);
	assert_int_equal(tcp_send(t, "x", 1, h->now), -EPIPE);
	p_saw(&p, s);
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(t->state, TCP_FIN_WAIT_2);
	/* half-closed: the peer can still send */
	p_send(&p, TCP_ACK | TCP_PSH, "late", 4);
	assert_int_equal(tcp_recv_avail(t), 4);
	tcp_recv_consume(t, 4, h->now);
	h_clear_log(h);
	p_send(&p, TCP_FIN | TCP_ACK, NULL, 0);
	s = h_last(h);
	assert_int_equal(s->flags, TCP_ACK);
	assert_int_equal(s->ack, p.seq);
	assert_int_equal(t->state, TCP_CLOSED);
	assert_int_equal(h->events[h->nevents - 1].ev, TCP_EV_CLOSED);
	assert_int_equal(h->events[h->nevents - 1].reason, TCP_CLOSE_NORMAL);
	tcp_close(t, h->now);
	tw = p_obj(&p);
	assert_non_null(tw);
	assert_int_equal(tw->type, TCP_OBJ_TW);
	assert_true(sizeof(*tw) <= 80);
	assert_int_equal(h->st->tcbs_used, 0);
	/* retransmitted FIN: re-ACK and restart 2MSL */
	h_advance(h, 600);
	h_clear_log(h);
	p_send_opt(&p, TCP_FIN | TCP_ACK, p.seq - 1, NULL, 0, NULL, 0);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_last(h)->ack, p.seq);
	/* RFC 1337: RST does not kill TIME_WAIT */
	h_inject(h, &p.k, p.seq, p.ack, TCP_RST, 0, NULL, 0, NULL, 0);
	assert_non_null(p_obj(&p));
	h_advance(h, 999);
	assert_non_null(p_obj(&p));
	h_advance(h, 2);
	assert_null(p_obj(&p));
	assert_int_equal(h->st->tws_used, 0);
}

static void test_passive_close(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	const struct hseg *s;

	p_init(&p, h, 25, 40011);
	t = p_open_passive(h, &p);
	p_send(&p, TCP_FIN | TCP_ACK, NULL, 0);
	assert_int_equal(t->state, TCP_CLOSE_WAIT);
	assert_true(h_has_event(h, TCP_EV_PEER_FIN));
	assert_int_equal(h_last(h)->ack, p.seq); /* FIN acked at once */
	/* we can still send in CLOSE_WAIT */
	assert_int_equal(tcp_send(t, "bye", 3, h->now), 3);
	p_saw(&p, h_last(h));
	assert_int_equal(tcp_shutdown(t, h->now), 0);
	assert_int_equal(t->state, TCP_LAST_ACK);
	s = h_last(h);
	assert_true(s->flags & TCP_FIN);
	p_saw(&p, s);
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(t->state, TCP_CLOSED);
	assert_int_equal(h->events[h->nevents - 1].reason, TCP_CLOSE_NORMAL);
	assert_null(p_obj(&p)); /* no TIME_WAIT for the passive closer */
	assert_int_equal(h->st->stats.curr_estab, 0);
	tcp_close(t, h->now);
}

static void test_simultaneous_close(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	const struct hseg *s;
	uint32_t our_fin_end;

	p_init(&p, h, 25, 40012);
	t = p_open_passive(h, &p);
	tcp_shutdown(t, h->now);
	s = h_last(h);
	our_fin_end = s->seq + 1;
	/* the peer's FIN crosses ours: it does not ack our FIN */
	p_send(&p, TCP_FIN | TCP_ACK, NULL, 0);
	assert_int_equal(t->state, TCP_CLOSING);
	assert_int_equal(h_last(h)->ack, p.seq);
	p.ack = our_fin_end;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(t->state, TCP_CLOSED);
	assert_non_null(p_obj(&p)); /* TIME_WAIT entry */
	assert_int_equal(*(uint8_t *)p_obj(&p), TCP_OBJ_TW);
	tcp_close(t, h->now);
}

static void test_fin_in_syn_received(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;

	p_init(&p, h, 25, 40013);
	p_send(&p, TCP_SYN, NULL, 0);
	p_saw(&p, h_last(h));
	p_send(&p, TCP_ACK | TCP_FIN, "hi", 2);
	t = p_tcb(&p);
	assert_non_null(t);
	assert_int_equal(t->state, TCP_CLOSE_WAIT);
	assert_true(h_has_event(h, TCP_EV_ACCEPTED));
	assert_true(h_has_event(h, TCP_EV_READABLE));
	assert_true(h_has_event(h, TCP_EV_PEER_FIN));
	assert_int_equal(tcp_recv_avail(t), 2);
	assert_int_equal(h_last(h)->ack, p.seq);
	tcp_recv_consume(t, 2, h->now);
	tcp_close(t, h->now);
	assert_int_equal(t->state, TCP_LAST_ACK);
}

static void test_close_unread_rst(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;

	p_init(&p, h, 25, 40014);
	t = p_open_passive(h, &p);
	p_send(&p, TCP_ACK, "data", 4);
	h_clear_log(h);
	tcp_close(t, h->now);
	assert_int_equal(h_last(h)->flags, TCP_RST | TCP_ACK);
	assert_int_equal(h->st->stats.abort_on_close, 1);
	assert_null(p_obj(&p));
	assert_int_equal(h->st->tcbs_used, 0);
}

static void test_orphan_fin_wait2(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;

	p_init(&p, h, 25, 40015);
	t = p_open_passive(h, &p);
	tcp_close(t, h->now);
	p_saw(&p, h_last(h));
	p_send(&p, TCP_ACK, NULL, 0);
	t = p_tcb(&p);
	assert_non_null(t);
	assert_int_equal(t->state, TCP_FIN_WAIT_2);
	h_advance(h, 2001);
	assert_null(p_obj(&p));
	assert_int_equal(h->st->tcbs_used, 0);
	assert_int_equal(h->st->stats.abort_on_linger, 1);
}

/* ---- RST in every state ---- */

enum { R_EST, R_FW1, R_FW2, R_CW, R_CLOSING, R_LAST_ACK, R_SYNRCVD, R_TW, R_COUNT };

static void test_rst_each_state(void **state)
{
	struct henv *h = *state;

	for (int which = 0; which < R_COUNT; which++) {
		struct peer p;
		struct tcp_tcb *t = NULL;

		h->nevents = 0;
		p_init(&p, h, 25, (uint16_t)(41000 + which));
		if (which == R_SYNRCVD) {
			p_send(&p, TCP_SYN, NULL, 0);
			p_saw(&p, h_last(h));
		} else {
			t = p_open_passive(h, &p);
		}
		switch (which) {
		case R_FW1:
			tcp_shutdown(t, h->now);
			break;
		case R_FW2:
		case R_TW:
			tcp_shutdown(t, h->now);
			p_saw(&p, h_last(h));
			p_send(&p, TCP_ACK, NULL, 0);
			if (which == R_TW)
				p_send(&p, TCP_ACK | TCP_FIN, NULL, 0);
			break;
		case R_CW:
			p_send(&p, TCP_ACK | TCP_FIN, NULL, 0);
			break;
		case R_CLOSING:
			tcp_shutdown(t, h->now);
			p_send(&p, TCP_ACK | TCP_FIN, NULL, 0);
			break;
		case R_LAST_ACK:
			p_send(&p, TCP_ACK | TCP_FIN, NULL, 0);
			tcp_shutdown(t, h->now);
			break;
		default:
			break;
		}
		{
			static const uint8_t expect[R_COUNT] = {
				TCP_ESTABLISHED, TCP_FIN_WAIT_1, TCP_FIN_WAIT_2,   TCP_CLOSE_WAIT,
				TCP_CLOSING,	 TCP_LAST_ACK,	 TCP_SYN_RECEIVED, TCP_CLOSED,
			};
			if (which == R_SYNRCVD)
				assert_int_equal(p_tcb(&p)->state, expect[which]);
			else
				assert_int_equal(t->state, expect[which]);
		}
		h_clear_log(h);
		/* exact RST */
		h_inject(h, &p.k, p.seq, 0, TCP_RST, 0, NULL, 0, NULL, 0);
		if (which == R_TW) {
			assert_non_null(p_obj(&p)); /* RFC 1337 */
			assert_int_equal(h->nlog, 0);
			tcp_close(t, h->now);
			continue;
		}
		assert_null(p_obj(&p));
		assert_int_equal(h->nlog, 0); /* never answer a RST */
		if (which == R_SYNRCVD) {
			assert_int_equal(h->nevents, 0);
			assert_int_equal(L->synq_len, 0);
			continue;
		}
		assert_int_equal(t->state, TCP_CLOSED);
		assert_int_equal(h->events[h->nevents - 1].ev, TCP_EV_CLOSED);
		assert_int_equal(h->events[h->nevents - 1].reason, TCP_CLOSE_RESET);
		tcp_close(t, h->now);
	}
	assert_int_equal(h->st->tcbs_used, 0);
	assert_int_equal(h->st->stats.estab_resets, 2); /* ESTABLISHED, CLOSE_WAIT */
	assert_int_equal(h->st->stats.curr_estab, 0);
}

static void test_rst_closed_port(void **state)
{
	struct henv *h = *state;
	struct peer p;
	const struct hseg *s;

	p_init(&p, h, 26, 42000);
	p_send(&p, TCP_SYN, NULL, 0);
	s = h_last(h);
	assert_int_equal(s->flags, TCP_RST | TCP_ACK);
	assert_int_equal(s->seq, 0);
	assert_int_equal(s->ack, p.iss + 1);
	p.ack = 12345;
	p_send(&p, TCP_ACK, "abc", 3);
	s = h_last(h);
	assert_int_equal(s->flags, TCP_RST);
	assert_int_equal(s->seq, 12345);
	h_clear_log(h);
	p_send(&p, TCP_RST, NULL, 0);
	assert_int_equal(h->nlog, 0);
	assert_int_equal(h->st->stats.out_rsts, 2);
	assert_int_equal(h->st->stats.no_port, 3);
}

/* ---- RFC 5961 ---- */

static void test_challenge_acks(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	const struct hseg *s;

	p_init(&p, h, 25, 40020);
	t = p_open_passive(h, &p);
	/* in-window RST, not exact: challenge ACK, connection stays */
	h_clear_log(h);
	h_inject(h, &p.k, p.seq + 100, 0, TCP_RST, 0, NULL, 0, NULL, 0);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	assert_int_equal(h->nlog, 1);
	s = h_last(h);
	assert_int_equal(s->flags, TCP_ACK);
	assert_int_equal(s->ack, p.seq);
	assert_int_equal(h->st->stats.challenge_ack, 1);
	/* out-of-window RST: silently dropped */
	h_clear_log(h);
	h_inject(h, &p.k, p.seq + 1000000, 0, TCP_RST, 0, NULL, 0, NULL, 0);
	assert_int_equal(h->nlog, 0);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	/* SYN on an established connection: challenge ACK */
	p_send_opt(&p, TCP_SYN, p.seq + 50, NULL, 0, NULL, 0);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h->st->stats.syn_challenge, 1);
	/* ACK of data never sent */
	h_inject(h, &p.k, p.seq, p.ack + 5000, TCP_ACK, 100, NULL, 0, NULL, 0);
	assert_int_equal(h->nlog, 2);
	assert_int_equal(h->st->stats.ack_invalid, 1);
	assert_int_equal(t->snd_una, p.ack); /* nothing was taken from it */
	/* the peer answers a challenge ACK with an exact RST: reset */
	h_inject(h, &p.k, p.seq, 0, TCP_RST, 0, NULL, 0, NULL, 0);
	assert_int_equal(t->state, TCP_CLOSED);
	tcp_close(t, h->now);
}

static void test_challenge_ack_limit(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;

	h->st->cfg.challenge_ack_limit = 2;
	p_init(&p, h, 25, 40021);
	t = p_open_passive(h, &p);
	h_clear_log(h);
	for (int i = 0; i < 5; i++)
		h_inject(h, &p.k, p.seq + 10, 0, TCP_RST, 0, NULL, 0, NULL, 0);
	assert_int_equal(h->nlog, 2);
	assert_int_equal(h->st->stats.challenge_ack_limited, 3);
	h_advance(h, 1000); /* a new second */
	h_inject(h, &p.k, p.seq + 10, 0, TCP_RST, 0, NULL, 0, NULL, 0);
	assert_int_equal(h->nlog, 3);
	tcp_abort(t, h->now);
}

/* ---- PAWS ---- */

static void test_paws(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	uint32_t rcv;

	p_init(&p, h, 25, 40030);
	p.ts = true;
	p.tsval = 1000000;
	t = p_open_passive(h, &p);
	assert_true(t->ts_ok);
	p_send(&p, TCP_ACK, "aaaa", 4);
	rcv = t->rcv_nxt;
	assert_int_equal(t->ts_recent, p.tsval - 1);
	/* an old duplicate from a previous wrap: TSval far in the past */
	h_clear_log(h);
	p.tsval -= 1000;
	p_send_opt(&p, TCP_ACK, p.seq, NULL, 0, "bbbb", 4);
	assert_int_equal(t->rcv_nxt, rcv);
	assert_int_equal(h->st->stats.paws_estab, 1);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_last(h)->ack, rcv);
	/* current timestamp: accepted */
	p.tsval += 2000;
	p_send(&p, TCP_ACK, "cccc", 4);
	assert_int_equal(t->rcv_nxt, rcv + 4);
	/* RST is exempt from PAWS (RFC 7323 5.3) */
	p.tsval -= 5000;
	p_send_opt(&p, TCP_RST, p.seq, NULL, 0, NULL, 0);
	assert_int_equal(t->state, TCP_CLOSED);
	tcp_close(t, h->now);
}

/* ---- timers: RTO, delayed ACK, persist, keepalive ---- */

static void test_data_rto_backoff(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	char buf[500];

	memset(buf, 'r', sizeof(buf));
	p_init(&p, h, 25, 40040);
	t = p_open_passive(h, &p);
	h_clear_log(h);
	assert_int_equal(tcp_send(t, buf, sizeof(buf), h->now), 500);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_last(h)->len, 500);
	/* RTT sample from the handshake was ~0: RTO = rto_min = 200 ms */
	h_advance(h, 199);
	assert_int_equal(h->nlog, 1);
	h_advance(h, 1);
	assert_int_equal(h->nlog, 2);
	assert_int_equal(h_last(h)->seq, h_seg(h, 0)->seq);
	assert_int_equal(h_last(h)->len, 500);
	assert_int_equal(t->cwnd, t->mss); /* loss window */
	h_advance(h, 400);
	assert_int_equal(h->nlog, 3);
	assert_int_equal(h->st->stats.timeouts, 2);
	assert_int_equal(h->st->stats.retrans_segs, 2);
	/* the ACK stops the timer */
	p_saw(&p, h_last(h));
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(t->snd_una, t->snd_max);
	assert_false(timer_pending(&t->rtx_timer));
	/* Karn: that ACK was for retransmitted data (no timestamps), so it
	 * gives no RTT sample and the backed-off RTO stays; the timeouts
	 * towards the abort start again. */
	assert_int_equal(t->backoff, 2);
	assert_int_equal(t->rto_retrans, 0);
	/* retries = 3: the fourth timeout aborts */
	tcp_send(t, buf, 10, h->now);
	h_advance(h, 30000);
	assert_int_equal(t->state, TCP_CLOSED);
	assert_int_equal(h->events[h->nevents - 1].reason, TCP_CLOSE_TIMEOUT);
	assert_int_equal(h->st->stats.abort_on_timeout, 1);
	tcp_close(t, h->now);
}

static void test_delayed_ack(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;

	p_init(&p, h, 25, 40041);
	t = p_open_passive(h, &p);
	h_clear_log(h);
	p_send(&p, TCP_ACK, "one", 3);
	assert_int_equal(h->nlog, 0);
	h_advance(h, 39);
	assert_int_equal(h->nlog, 0);
	h_advance(h, 1);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_last(h)->ack, p.seq);
	assert_int_equal(h->st->stats.delayed_acks, 1);
	/* every second segment is acked at once */
	p_send(&p, TCP_ACK, "two", 3);
	assert_int_equal(h->nlog, 1);
	p_send(&p, TCP_ACK, "three", 5);
	assert_int_equal(h->nlog, 2);
	assert_int_equal(h_last(h)->ack, p.seq);
	/* data we send carries the ACK and cancels the timer */
	p_send(&p, TCP_ACK, "four", 4);
	tcp_send(t, "reply", 5, h->now);
	assert_int_equal(h->nlog, 3);
	assert_int_equal(h_last(h)->ack, p.seq);
	assert_false(timer_pending(&t->delack_timer));
	tcp_recv_consume(t, tcp_recv_avail(t), h->now);
	tcp_abort(t, h->now);
}

static void test_ooo_sack_generation(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	const struct hseg *s;
	struct tcp_iov iov[4];
	char got[32];
	size_t off = 0;
	unsigned n;

	p_init(&p, h, 25, 40042);
	p.sack = true;
	t = p_open_passive(h, &p);
	assert_true(t->sack_ok);
	h_clear_log(h);
	/* "BBBB" arrives before "AAAA", "DDDD" before "CCCC" */
	p_send_opt(&p, TCP_ACK, p.seq + 4, NULL, 0, "BBBB", 4);
	s = h_last(h);
	assert_int_equal(h->nlog, 1); /* immediate duplicate ACK */
	assert_int_equal(s->ack, p.seq);
	assert_int_equal(s->opt.nsack, 1);
	assert_int_equal(s->opt.sack[0].start, p.seq + 4);
	assert_int_equal(s->opt.sack[0].end, p.seq + 8);
	p_send_opt(&p, TCP_ACK, p.seq + 12, NULL, 0, "DDDD", 4);
	s = h_last(h);
	assert_int_equal(s->opt.nsack, 2);
	assert_int_equal(s->opt.sack[0].start, p.seq + 12); /* most recent first */
	assert_int_equal(s->opt.sack[1].start, p.seq + 4);
	assert_int_equal(h->st->stats.ofo_queue, 2);
	assert_int_equal(tcp_recv_avail(t), 0);
	/* duplicate of an OOO segment changes nothing */
	p_send_opt(&p, TCP_ACK, p.seq + 4, NULL, 0, "BBBB", 4);
	assert_int_equal(t->ooo_segs, 2);
	p_send(&p, TCP_ACK, "AAAA", 4);
	s = h_last(h);
	assert_int_equal(s->ack, p.seq + 4); /* A and B */
	assert_int_equal(s->opt.nsack, 1);
	p.seq += 4;
	/* overlapping retransmission covering C and part of D */
	p_send(&p, TCP_ACK, "CCCCDD", 6);
	p.seq += 2;
	assert_int_equal(h_last(h)->ack, p.seq);
	assert_int_equal(h_last(h)->opt.nsack, 0);
	assert_int_equal(tcp_recv_avail(t), 16);
	n = tcp_recv_peek(t, iov, 4);
	for (unsigned i = 0; i < n; i++) {
		memcpy(got + off, iov[i].base, iov[i].len);
		off += iov[i].len;
	}
	assert_int_equal(off, 16);
	assert_memory_equal(got, "AAAABBBBCCCCDDDD", 16);
	assert_int_equal(tcp_recv_consume(t, 17, h->now), -EINVAL);
	assert_int_equal(tcp_recv_consume(t, 6, h->now), 0);
	n = tcp_recv_peek(t, iov, 4);
	assert_memory_equal(iov[0].base, "BB", 2);
	tcp_recv_consume(t, 10, h->now);
	assert_int_equal(t->rq_segs, 0);
	tcp_close(t, h->now);
}

/* One segment straddling several held blocks fills every gap; SACK
 * blocks come newest first (RFC 2018 4); duplicates are D-SACKed. */
static void test_ooo_multi_gap(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	const struct hseg *s;
	struct tcp_iov iov[16];
	char got[40];
	size_t off = 0;
	unsigned n;
	uint32_t base;

	p_init(&p, h, 25, 40043);
	p.sack = true;
	p.ts = true;
	t = p_open_passive(h, &p);
	base = p.seq;
	/* held: [4,8) "bbbb", [12,16) "dddd", [20,24) "ffff" */
	p_send_opt(&p, TCP_ACK, base + 4, NULL, 0, "bbbb", 4);
	p_send_opt(&p, TCP_ACK, base + 12, NULL, 0, "dddd", 4);
	p_send_opt(&p, TCP_ACK, base + 20, NULL, 0, "ffff", 4);
	s = h_last(h);
	assert_int_equal(s->opt.nsack, 3); /* timestamps leave room for 3 */
	assert_int_equal(s->opt.sack[0].start, base + 20);
	assert_int_equal(s->opt.sack[1].start, base + 12);
	assert_int_equal(s->opt.sack[2].start, base + 4);
	/* a fourth block: the oldest report drops out */
	p_send_opt(&p, TCP_ACK, base + 28, NULL, 0, "hhhh", 4);
	s = h_last(h);
	assert_int_equal(s->opt.nsack, 3);
	assert_int_equal(s->opt.sack[0].start, base + 28);
	assert_int_equal(s->opt.sack[1].start, base + 20);
	assert_int_equal(s->opt.sack[2].start, base + 12);
	/* [2, 28) covers four gaps and three held blocks: every gap is
	 * queued, the held bytes stay the first copies */
	p_send_opt(&p, TCP_ACK, base + 2, NULL, 0, "xxXXXXccccXXXXeeeeXXXXgggg", 26);
	assert_int_equal(t->ooo_segs, 4 + 4); /* 4 held + 4 new pieces */
	s = h_last(h);
	assert_int_equal(s->opt.nsack, 1);
	assert_int_equal(s->opt.sack[0].start, base + 2);
	assert_int_equal(s->opt.sack[0].end, base + 32);
	/* the first two bytes: everything up to 32 is in order */
	p_send_opt(&p, TCP_ACK, base, NULL, 0, "aa", 2);
	s = h_last(h);
	assert_int_equal(s->ack, base + 32);
	assert_int_equal(s->opt.nsack, 0);
	n = tcp_recv_peek(t, iov, 16);
	for (unsigned i = 0; i < n; i++) {
		memcpy(got + off, iov[i].base, iov[i].len);
		off += iov[i].len;
	}
	assert_int_equal(off, 32);
	assert_memory_equal(got, "aaxxbbbbccccddddeeeeffffgggghhhh", 32);
	/* an old segment again: D-SACK (RFC 2883) below the ACK */
	p_send_opt(&p, TCP_ACK, base + 4, NULL, 0, "bbbb", 4);
	s = h_last(h);
	assert_int_equal(s->ack, base + 32);
	assert_int_equal(s->opt.nsack, 1);
	assert_int_equal(s->opt.sack[0].start, base + 4);
	assert_int_equal(s->opt.sack[0].end, base + 8);
	assert_int_equal(h->st->stats.dsack_sent, 1);
	tcp_recv_consume(t, 32, h->now);
	tcp_close(t, h->now);
}

/* An OOO FIN waits for the hole. */
static void test_ooo_fin(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;

	p_init(&p, h, 25, 40043);
	t = p_open_passive(h, &p);
	p_send_opt(&p, TCP_ACK | TCP_FIN, p.seq + 3, NULL, 0, "def", 3);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	p_send(&p, TCP_ACK, "abc", 3);
	assert_int_equal(t->state, TCP_CLOSE_WAIT);
	assert_int_equal(t->rcv_nxt, p.seq + 4);
	assert_int_equal(tcp_recv_avail(t), 6);
	tcp_recv_consume(t, 6, h->now);
	tcp_close(t, h->now);
}

static void test_persist(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;

	p_init(&p, h, 25, 40050);
	t = p_open_passive(h, &p);
	p.wnd = 0;
	p_send(&p, TCP_ACK, NULL, 0); /* window closes */
	assert_int_equal(t->snd_wnd, 0);
	h_clear_log(h);
	assert_int_equal(tcp_send(t, "0123456789", 10, h->now), 10);
	assert_int_equal(h->nlog, 0);
	assert_true(timer_pending(&t->rtx_timer));
	assert_int_equal(t->rtx_mode, TCP_RTX_PERSIST);
	h_advance(h, 200);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_last(h)->seq, t->snd_una - 1); /* probe */
	assert_int_equal(h_last(h)->len, 0);
	assert_int_equal(h->st->stats.win_probe, 1);
	h_advance(h, 400); /* backed off */
	assert_int_equal(h->nlog, 2);
	/* the answer to the probe still says 0: keep probing, no abort */
	p_send(&p, TCP_ACK, NULL, 0);
	h_advance(h, 5000);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	/* window opens */
	h_clear_log(h);
	p.wnd = 1000;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_last(h)->len, 10);
	assert_int_equal(t->rtx_mode, TCP_RTX_RTO);
	tcp_abort(t, h->now);
}

static void test_keepalive(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;

	h->st->cfg.ka_idle_ms = 1000;
	h->st->cfg.ka_intvl_ms = 500;
	h->st->cfg.ka_probes = 2;
	p_init(&p, h, 25, 40051);
	t = p_open_passive(h, &p);
	tcp_set_keepalive(t, true);
	h_clear_log(h);
	h_advance(h, 999);
	assert_int_equal(h->nlog, 0);
	h_advance(h, 2);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_last(h)->seq, t->snd_una - 1);
	/* answered: idle again */
	p_send(&p, TCP_ACK, NULL, 0);
	h_advance(h, 900);
	assert_int_equal(h->nlog, 1);
	h_advance(h, 101);
	assert_int_equal(h->nlog, 2);
	h_advance(h, 500);
	assert_int_equal(h->nlog, 3);
	h_advance(h, 500);
	assert_int_equal(t->state, TCP_CLOSED);
	assert_int_equal(h_last(h)->flags, TCP_RST | TCP_ACK);
	assert_int_equal(h->events[h->nevents - 1].reason, TCP_CLOSE_KEEPALIVE);
	assert_int_equal(h->st->stats.keepalive_probes, 3);
	tcp_close(t, h->now);
}

/* ---- congestion control ---- */

static struct tcp_tcb *open_with_flight(struct henv *h, struct peer *p, bool sack, unsigned segs,
					uint32_t *una)
{
	struct tcp_tcb *t;
	char buf[10000];

	memset(buf, 'n', sizeof(buf));
	p->sack = sack;
	p->mss = 1000;
	t = p_open_passive(h, p);
	assert_int_equal(tcp_effective_mss(t), 1000);
	h_clear_log(h);
	assert_int_equal(tcp_send(t, buf, segs * 1000, h->now), segs * 1000);
	assert_int_equal(h->nlog, segs); /* IW10 */
	*una = t->snd_una;
	return t;
}

static void test_newreno_partial_ack(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	uint32_t una;

	p_init(&p, h, 25, 40060);
	t = open_with_flight(h, &p, false, 10, &una);
	/* segments 0 and 3 lost; the peer sends dupacks for 1, 2 */
	h_clear_log(h);
	p_send(&p, TCP_ACK, NULL, 0);
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(h->nlog, 0);
	assert_int_equal(t->dupacks, 2);
	p_send(&p, TCP_ACK, NULL, 0);
	/* fast retransmit of segment 0 */
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_last(h)->seq, una);
	assert_int_equal(h_last(h)->len, 1000);
	assert_true(t->in_recovery);
	assert_int_equal(t->ssthresh, 5000);
	assert_int_equal(t->cwnd, 8000);
	assert_int_equal(t->recover, una + 10000);
	assert_int_equal(h->st->stats.fast_retrans, 1);
	assert_int_equal(h->st->stats.reno_recovery, 1);
	/* more dupacks inflate cwnd */
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(t->cwnd, 9000);
	/* partial ACK up to segment 3: retransmit it, deflate */
	h_clear_log(h);
	p.ack = una + 3000;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_true(t->in_recovery);
	assert_int_equal(h->st->stats.partial_acks, 1);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_seg(h, 0)->seq, una + 3000);
	assert_int_equal(t->cwnd, 9000 - 3000 + 1000);
	/* full ACK ends recovery: cwnd = min(ssthresh, flight + mss) */
	p.ack = una + 10000;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_false(t->in_recovery);
	assert_int_equal(t->cwnd, 2000);
	assert_int_equal(t->snd_una, una + 10000);
	/* congestion avoidance: one MSS per cwnd of acked bytes */
	assert_int_equal(t->ssthresh, 5000);
	tcp_abort(t, h->now);
}

/* The peer acknowledges p->ack and SACKs @n blocks (offsets from @base). */
static void p_sack(struct peer *p, uint32_t base, const uint32_t (*blk)[2], unsigned n)
{
	uint8_t o[40];
	size_t len = 0;

	o[len++] = 1;
	o[len++] = 1;
	o[len++] = 5;
	o[len++] = (uint8_t)(2 + 8 * n);
	for (unsigned k = 0; k < n; k++)
		for (unsigned e = 0; e < 2; e++) {
			uint32_t v = base + blk[k][e];
			for (int b = 0; b < 4; b++)
				o[len++] = (uint8_t)(v >> (24 - 8 * b));
		}
	p_send_opt(p, TCP_ACK, p->seq, o, len, NULL, 0);
}

static const struct tcp_txrec *rec_at(const struct tcp_tcb *t, uint32_t seq)
{
	for (unsigned i = 0; i < t->ntxr; i++)
		if (t->txr[i].seq == seq)
			return &t->txr[i];
	return NULL;
}

/* RFC 6675: IsLost, SetPipe, NextSeg rules 1 and 3, PRR, exit. */
static void test_sack_recovery(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	uint32_t una;
	static const uint32_t b1[2][2] = {{1000, 3000}, {4000, 5000}};
	static const uint32_t b2[2][2] = {{1000, 3000}, {4000, 6000}};

	p_init(&p, h, 25, 40061);
	t = open_with_flight(h, &p, true, 10, &una);
	assert_int_equal(t->ntxr, 10);
	assert_int_equal(tcp_pipe(t), 10000);
	h_advance(h, 1);
	h_clear_log(h);
	/* segments 0 and 3 lost: three SACKed segments above 0, one above 3 */
	p_sack(&p, una, b1, 2);
	assert_true(t->in_recovery);
	assert_int_equal(h->st->stats.sack_recovery, 1);
	assert_int_equal(t->ssthresh, 5000);
	assert_int_equal(t->recover, una + 10000);
	assert_true(rec_at(t, una)->flags & TCP_TXR_LOST);
	assert_false(rec_at(t, una + 3000)->flags & TCP_TXR_LOST);
	assert_true(rec_at(t, una + 1000)->flags & TCP_TXR_SACKED);
	/* rule 1: the lost segment first, right away (PRR sends 1500) */
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_seg(h, 0)->seq, una);
	assert_int_equal(h_seg(h, 0)->len, 1000);
	/* pipe: 3, 5..9 unSACKed and not lost, plus the retransmission */
	assert_int_equal(tcp_pipe(t), 7000);
	/* next ACK: the hole at 3 is not lost yet (with reordering seen,
	 * RACK gives it min_rtt / 4 more), but it is below the highest SACKed
	 * byte: rule 3 resends it once PRR allows */
	t->reord_seen = true;
	p_sack(&p, una, b2, 2);
	assert_int_equal(h->nlog, 2);
	assert_int_equal(h_seg(h, 1)->seq, una + 3000);
	assert_int_equal(h_seg(h, 1)->len, 1000);
	assert_int_equal(h->st->stats.sack_retrans, 2);
	assert_int_equal(h->st->stats.timeouts, 0);
	/* everything acked: recovery ends with cwnd = ssthresh */
	p.ack = una + 10000;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_false(t->in_recovery);
	assert_int_equal(t->cwnd, 5000);
	assert_int_equal(t->sb.n, 0);
	assert_int_equal(t->ntxr, 0);
	assert_int_equal(tcp_pipe(t), 0);
	tcp_abort(t, h->now);
}

/* RFC 6675 rule 4: one rescue retransmission of the highest segment. */
static void test_sack_rescue(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	uint32_t una;
	static const uint32_t b[1][2] = {{1000, 4000}};

	p_init(&p, h, 25, 40065);
	t = open_with_flight(h, &p, true, 6, &una);
	h_advance(h, 1);
	h_clear_log(h);
	p_sack(&p, una, b, 1);
	assert_true(t->in_recovery);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_seg(h, 0)->seq, una);
	assert_false(t->rescue_done);
	/* the retransmission arrives: partial ACK; 4 and 5 are above every
	 * SACKed byte, nothing is lost: rule 4 resends the highest once */
	p.ack = una + 4000;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_true(t->in_recovery);
	assert_int_equal(h->nlog, 2);
	assert_int_equal(h_seg(h, 1)->seq, una + 5000);
	assert_true(t->rescue_done);
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(h->nlog, 2); /* only one rescue per recovery */
	tcp_abort(t, h->now);
}

/* RFC 3042: the first two duplicate ACKs each send one new segment. */
static void test_limited_transmit(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	uint32_t una;
	char more[3000];

	memset(more, 'm', sizeof(more));
	p_init(&p, h, 25, 40066);
	t = open_with_flight(h, &p, false, 10, &una);
	assert_int_equal(tcp_send(t, more, sizeof(more), h->now), sizeof(more));
	h_clear_log(h);
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_seg(h, 0)->seq, una + 10000);
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(h->nlog, 2);
	assert_int_equal(h_seg(h, 1)->seq, una + 11000);
	assert_int_equal(h->st->stats.limited_transmit, 2);
	assert_int_equal(t->cwnd, 10000); /* cwnd itself unchanged */
	p_send(&p, TCP_ACK, NULL, 0);
	assert_true(t->in_recovery);
	assert_int_equal(h_last(h)->seq, una); /* fast retransmit */
	tcp_abort(t, h->now);
}

/* RACK: a lost retransmission is found when data sent after it is
 * SACKed, and resent without waiting for the RTO. */
static void test_rack_lost_retransmit(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	uint32_t una;
	char more[10000];
	static const uint32_t b1[1][2] = {{1000, 4000}};
	static const uint32_t b2[1][2] = {{1000, 6000}};
	static const uint32_t b3[1][2] = {{1000, 8000}};
	bool again = false;

	memset(more, 'r', sizeof(more));
	p_init(&p, h, 25, 40067);
	t = open_with_flight(h, &p, true, 10, &una);
	assert_int_equal(tcp_send(t, more, sizeof(more), h->now), sizeof(more));
	h_advance(h, 1);
	h_clear_log(h);
	p_sack(&p, una, b1, 1);
	assert_true(t->in_recovery);
	assert_int_equal(h_seg(h, 0)->seq, una); /* this retransmission is lost */
	h_advance(h, 1);
	p_sack(&p, una, b2, 1);
	h_advance(h, 1);
	p_sack(&p, una, b3, 1);
	/* new data went out after the retransmission */
	assert_true(h_last(h)->seq == una + 10000 || h_last(h)->seq == una + 11000);
	h_advance(h, 1);
	h_clear_log(h);
	{
		/* the peer got the new segment 11, sent after the retransmission */
		const uint32_t b4[2][2] = {{11000, 12000}, {1000, 10000}};
		p_sack(&p, una, b4, 2);
	}
	for (unsigned i = 0; i < h->nlog; i++)
		if (h_seg(h, i)->seq == una)
			again = true;
	assert_true(again);
	assert_int_equal(h->st->stats.lost_retrans, 1);
	assert_int_equal(h->st->stats.timeouts, 0);
	tcp_abort(t, h->now);
}

/* RACK-TLP: a lost tail is probed after 2 SRTT, the probe is SACKed and
 * RACK repairs the rest: no timeout. */
static void test_tlp(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	uint32_t una;
	static const uint32_t b[1][2] = {{9000, 10000}};
	bool rtx8 = false;

	p_init(&p, h, 25, 40068);
	t = open_with_flight(h, &p, true, 10, &una);
	h_advance(h, 1);
	p.ack = una + 8000; /* segments 8 and 9 lost */
	p_send(&p, TCP_ACK, NULL, 0);
	assert_int_equal(t->rtx_mode, TCP_RTX_TLP);
	h_clear_log(h);
	h_advance(h, 4); /* PTO = 2 SRTT + 2 ms */
	assert_int_equal(h->st->stats.tlp_probes, 1);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_seg(h, 0)->seq, una + 9000); /* the last segment */
	assert_int_equal(t->rtx_mode, TCP_RTX_TLP);	/* a second probe is due */
	h_advance(h, 1);
	h_clear_log(h);
	p_sack(&p, una, b, 1);
	for (unsigned i = 0; i < h->nlog; i++)
		if (h_seg(h, i)->seq == una + 8000)
			rtx8 = true;
	assert_true(rtx8);
	assert_true(t->in_recovery);
	p.ack = una + 10000;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_false(t->in_recovery);
	assert_int_equal(h->st->stats.timeouts, 0);
	tcp_abort(t, h->now);
}

/* Unanswered probes back off (PTO, 2 PTO, 4 PTO), then the RTO fires. */
static void test_tlp_then_rto(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	uint32_t una;

	p_init(&p, h, 25, 40070);
	t = open_with_flight(h, &p, true, 10, &una);
	h_advance(h, 1);
	p.ack = una + 5000;
	p_send(&p, TCP_ACK, NULL, 0);
	h_clear_log(h);
	h_advance(h, 3);
	assert_int_equal(h->st->stats.tlp_probes, 1);
	h_advance(h, 5);
	assert_int_equal(h->st->stats.tlp_probes, 2);
	h_advance(h, 9);
	assert_int_equal(h->st->stats.tlp_probes, 3);
	assert_int_equal(h->nlog, 3);
	assert_int_equal(t->rtx_mode, TCP_RTX_RTO);
	assert_int_equal(h->st->stats.timeouts, 0);
	h_advance(h, 200);
	assert_int_equal(h->st->stats.timeouts, 1);
	assert_true(t->in_loss);
	assert_int_equal(h_last(h)->seq, una + 5000); /* the head again */
	/* the ACK of everything ends RTO recovery */
	p.ack = una + 10000;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_false(t->in_loss);
	assert_int_equal(t->ntxr, 0);
	tcp_abort(t, h->now);
}

/* D-SACK: a retransmission that proves spurious undoes the reduction; a
 * late original raises DupThresh (reordering). */
static void test_dsack_undo_reorder(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	uint32_t una;
	static const uint32_t b1[1][2] = {{1000, 4000}};
	static const uint32_t d[1][2] = {{0, 1000}};
	static const uint32_t r1[1][2] = {{2000, 4000}};

	p_init(&p, h, 25, 40069);
	t = open_with_flight(h, &p, true, 10, &una);
	h_advance(h, 1);
	h_clear_log(h);
	p_sack(&p, una, b1, 1);
	assert_true(t->in_recovery);
	assert_int_equal(t->ssthresh, 5000);
	/* segment 0 was only late: everything is acknowledged... */
	p.ack = una + 10000;
	p_send(&p, TCP_ACK, NULL, 0);
	assert_false(t->in_recovery);
	assert_int_equal(t->cwnd, 5000);
	/* ...and the retransmission comes back as a duplicate */
	p_sack(&p, una, d, 1);
	assert_int_equal(h->st->stats.dsack_recv, 1);
	assert_int_equal(h->st->stats.dsack_undo, 1);
	assert_int_equal(t->cwnd, 10000);
	assert_int_equal(t->reo_mult, 2);

	/* reordering without loss: 2 and 3 overtake 0 and 1 */
	{
		char buf[4000];
		memset(buf, 'x', sizeof(buf));
		una = t->snd_una;
		h_clear_log(h);
		assert_int_equal(tcp_send(t, buf, sizeof(buf), h->now), sizeof(buf));
		h_advance(h, 1);
		p_sack(&p, una, r1, 1);
		assert_false(t->in_recovery);
		p.ack = una + 4000;
		p_send(&p, TCP_ACK, NULL, 0);
		assert_true(t->reord_seen);
		assert_int_equal(h->st->stats.sack_reorder, 1);
		assert_int_equal(t->dupthresh, 4);
		assert_int_equal(h->st->stats.retrans_segs, 1);
	}
	tcp_abort(t, h->now);
}

/* ---- path MTU ---- */

static void test_icmp_mtu(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	char buf[3000];
	uint32_t una;

	memset(buf, 'm', sizeof(buf));
	p_init(&p, h, 25, 40070);
	p.mss = 1460;
	t = p_open_passive(h, &p);
	h_clear_log(h);
	tcp_send(t, buf, sizeof(buf), h->now);
	una = t->snd_una;
	assert_int_equal(h_seg(h, 0)->len, 1460);
	assert_int_equal(tcp_icmp_mtu(h->st, &p.k, una - 5, 1000, h->now), -EINVAL);
	assert_int_equal(tcp_icmp_mtu(h->st, &p.k, una, 1600, h->now), -EINVAL);
	h_clear_log(h);
	assert_int_equal(tcp_icmp_mtu(h->st, &p.k, una, 1000, h->now), 0);
	assert_int_equal(t->mss, 960);
	assert_true(h->nlog >= 1);
	assert_int_equal(h_seg(h, 0)->seq, una);
	assert_int_equal(h_seg(h, 0)->len, 960);
	/* floor 576 */
	tcp_icmp_mtu(h->st, &p.k, una, 100, h->now);
	assert_int_equal(t->mss, 536);
	{
		struct tcp_key other;
		h_key(&other, 25, 1);
		assert_int_equal(tcp_icmp_mtu(h->st, &other, 0, 1000, h->now), -ENOENT);
	}
	tcp_abort(t, h->now);
}

/* A slow reader closes its window, then reopens it. */
static void test_zero_window_receiver(void **state)
{
	struct henv *h = *state;
	struct tcp_config c;
	struct peer p;
	struct tcp_tcb *t;
	char buf[1000];

	(void)state;
	p_fixture_teardown(state);
	cfg_test(&c);
	c.rcvbuf = 4000;
	setup_cfg(state, &c);
	h = *state;
	memset(buf, 'z', sizeof(buf));
	p_init(&p, h, 25, 40080);
	t = p_open_passive(h, &p);
	for (int i = 0; i < 4; i++)
		p_send(&p, TCP_ACK, buf, 1000);
	assert_int_equal(tcp_recv_avail(t), 4000);
	assert_int_equal(h_last(h)->wnd, 0);
	/* more data does not fit: dropped, acked with window 0 */
	h_clear_log(h);
	p_send_opt(&p, TCP_ACK, p.seq, NULL, 0, buf, 1);
	assert_int_equal(tcp_recv_avail(t), 4000);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_last(h)->wnd, 0);
	/* reading a little does not reopen a silly window */
	h_clear_log(h);
	tcp_recv_consume(t, 100, h->now);
	assert_int_equal(h->nlog, 0);
	tcp_recv_consume(t, 2000, h->now);
	assert_int_equal(h->nlog, 1);
	assert_int_equal(h_last(h)->wnd, 2100);
	p_send(&p, TCP_ACK, buf, 1000);
	assert_int_equal(tcp_recv_avail(t), 2900);
	tcp_recv_consume(t, 2900, h->now);
	tcp_close(t, h->now);
}

static void test_timewait_reuse(void **state)
{
	struct henv *h = *state;
	struct peer p;
	struct tcp_tcb *t;
	const struct hseg *s;
	uint32_t old_snd;

	p_init(&p, h, 25, 40090);
	t = p_open_passive(h, &p);
	tcp_shutdown(t, h->now);
	p_saw(&p, h_last(h));
	p_send(&p, TCP_ACK | TCP_FIN, NULL, 0);
	tcp_close(t, h->now);
	old_snd = p.ack;
	assert_int_equal(*(uint8_t *)p_obj(&p), TCP_OBJ_TW);
	/* an old SYN (below rcv_nxt) is answered with an ACK */
	h_clear_log(h);
	p_send_opt(&p, TCP_SYN, p.iss, NULL, 0, NULL, 0);
	assert_int_equal(h_last(h)->flags, TCP_ACK);
	/* a new SYN above: new incarnation, ISN above the old one */
	p.iss = p.seq + 100000;
	p.seq = p.iss;
	p_send(&p, TCP_SYN, NULL, 0);
	s = h_last(h);
	assert_int_equal(s->flags, TCP_SYN | TCP_ACK);
	assert_true(tcp_seq_gt(s->seq, old_snd));
	assert_int_equal(h->st->stats.tw_recycled, 1);
	assert_int_equal(p_tcb(&p)->state, TCP_SYN_RECEIVED);
	assert_int_equal(h->st->tws_used, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_passive_open, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_passive_open_ipv6, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_synack_retransmit_timeout, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_active_open, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_active_refused_and_timeout, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_simultaneous_open, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_active_close_timewait, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_passive_close, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_simultaneous_close, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_fin_in_syn_received, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_close_unread_rst, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_orphan_fin_wait2, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rst_each_state, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rst_closed_port, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_challenge_acks, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_challenge_ack_limit, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_paws, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_data_rto_backoff, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_delayed_ack, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_ooo_sack_generation, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_ooo_multi_gap, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_ooo_fin, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_persist, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_keepalive, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_newreno_partial_ack, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sack_recovery, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sack_rescue, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_limited_transmit, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rack_lost_retransmit, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_tlp, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_tlp_then_rto, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_dsack_undo_reorder, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_icmp_mtu, setup, p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_zero_window_receiver, setup,
						p_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_timewait_reuse, setup, p_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
