/*
 * transport_tcp.c - the plain SMTP transport over mxgate's TCP. See
 * transport_tcp.h. Each op is the TCP call of the same name; the events of
 * a connection's TCB go to its slot (smtp_conn_event()).
 *
 * Memory: none of its own; the TCB is the stack's, the slot the
 * connection table's. Worker lcore only.
 */
#include "smtp/transport_tcp.h"

#include <stddef.h>
#include <string.h>

#include "dataplane/tcp/tcp.h"
#include "smtp/admission.h"
#include "smtp/conn.h"

static unsigned tr_peek(void *tr, struct smtp_iov *iov, unsigned max)
{
	/* Same layout (base, len): checked below. */
	return tcp_recv_peek(tr, (struct tcp_iov *)iov, max);
}

_Static_assert(sizeof(struct smtp_iov) == sizeof(struct tcp_iov) &&
		       offsetof(struct smtp_iov, base) == offsetof(struct tcp_iov, base) &&
		       offsetof(struct smtp_iov, len) == offsetof(struct tcp_iov, len),
	       "smtp_iov and tcp_iov differ");

static int tr_consume(void *tr, size_t n, uint64_t now)
{
	return tcp_recv_consume(tr, n, now);
}

static size_t tr_avail(void *tr)
{
	return tcp_recv_avail(tr);
}

static ssize_t tr_send(void *tr, const void *data, size_t len, uint64_t now)
{
	return tcp_send(tr, data, len, now);
}

static int tr_shutdown(void *tr, uint64_t now)
{
	return tcp_shutdown(tr, now);
}

static void tr_close(void *tr, uint64_t now)
{
	tcp_close(tr, now);
}

static void tr_abort(void *tr, uint64_t now)
{
	tcp_abort(tr, now);
}

const struct smtp_transport_ops smtp_tcp_ops = {
	.name = "tcp",
	.peek = tr_peek,
	.consume = tr_consume,
	.avail = tr_avail,
	.send = tr_send,
	.shutdown = tr_shutdown,
	.close = tr_close,
	.abort = tr_abort,
};

static void on_tcb_event(struct tcp_tcb *t, void *user, enum tcp_event ev, int reason)
{
	struct smtp_conn *c = user;

	switch (ev) {
	case TCP_EV_READABLE:
		smtp_conn_event(c, SMTP_CONN_EV_READABLE);
		break;
	case TCP_EV_WRITABLE:
		smtp_conn_event(c, SMTP_CONN_EV_WRITABLE);
		break;
	case TCP_EV_PEER_FIN:
		smtp_conn_event(c, SMTP_CONN_EV_PEER_FIN);
		break;
	case TCP_EV_CLOSED:
		/* After a stack teardown the TCB is already gone. */
		if (reason != TCP_CLOSE_STACK)
			tcp_close(t, smtp_conn_now(c->tab));
		smtp_conn_event(c, SMTP_CONN_EV_CLOSED);
		break;
	default:
		break;
	}
}

static void accept_conn(struct tcp_tcb *t, struct smtp_adm_worker *adm, enum tcp_event ev,
			const struct smtp_tcp_accept *hook)
{
	struct smtp_conn_table *tab = smtp_adm_worker_conns(adm);
	const struct tcp_key *k = tcp_tcb_key(t);
	struct smtp_peer peer = {0};
	struct smtp_adm_ticket tk;
	struct smtp_conn *c;
	unsigned slots = smtp_conn_slots(tab);

	if (ev != TCP_EV_ACCEPTED) {
		if (ev == TCP_EV_CLOSED)
			tcp_close(t, smtp_conn_now(tab));
		return;
	}
	peer.family = k->family == TCP_AF_INET6 ? 6 : 4;
	peer.port = k->rport;
	memcpy(peer.addr, k->raddr, sizeof(peer.addr));
	/* Per-client limits before a slot is taken (admission.h). */
	if (smtp_adm_admit(adm, &peer, slots - smtp_conn_open_count(tab), slots, smtp_conn_now(tab),
			   &tk) != SMTP_ADM_OK) {
		char msg[400];
		size_t n = smtp_adm_reply(adm, &peer, msg, sizeof(msg));

		tcp_send(t, msg, n, smtp_conn_now(tab));
		tcp_close(t, smtp_conn_now(tab));
		return;
	}
	c = smtp_conn_open(tab, &smtp_tcp_ops, t, &peer);
	if (!c) {
		smtp_adm_release(adm, &tk);
		return; /* refused with 421, TCB released */
	}
	smtp_adm_bind(adm, c->slot, &tk); /* given back at release */
	tcp_set_callback(t, on_tcb_event, c);
	tcp_set_nodelay(t, true); /* replies are small and latency-bound */
	if (hook && hook->on_open)
		hook->on_open(hook->arg, c); /* e.g. implicit TLS, before the banner */
	smtp_conn_pump(c);
}

static void on_accept(struct tcp_tcb *t, void *user, enum tcp_event ev, int reason)
{
	(void)reason;
	accept_conn(t, user, ev, NULL);
}

static void on_accept_hook(struct tcp_tcb *t, void *user, enum tcp_event ev, int reason)
{
	const struct smtp_tcp_accept *hook = user;

	(void)reason;
	accept_conn(t, hook->adm, ev, hook);
}

struct tcp_listener *smtp_tcp_listen_hook(struct tcp_stack *st, uint16_t port, unsigned backlog,
					  const struct smtp_tcp_accept *hook)
{
	return tcp_listen(st, TCP_AF_INET, port, backlog, on_accept_hook, (void *)hook);
}

struct tcp_listener *smtp_tcp_listen(struct tcp_stack *st, uint16_t port, unsigned backlog,
				     struct smtp_adm_worker *adm)
{
	return tcp_listen(st, TCP_AF_INET, port, backlog, on_accept, adm);
}
