/*
 * transport_tcp.h - the plain SMTP transport: connection-layer ops
 * (conn-t.h) over mxgate's TCP (dataplane/tcp), and the listener that
 * opens a connection slot for every accepted TCB.
 *
 * The TCB belongs to the TCP stack; the transport holds it from
 * TCP_EV_ACCEPTED until TCP_EV_CLOSED (then tcp_close()) or an abort.
 * Worker lcore only.
 */
#ifndef MX_SMTP_TRANSPORT_TCP_H
#define MX_SMTP_TRANSPORT_TCP_H

#include <stdint.h>

#include "smtp/conn-t.h"

struct tcp_stack;
struct tcp_listener;
struct smtp_adm_worker;

/** The plain TCP ops: handle = struct tcp_tcb *. */
extern const struct smtp_transport_ops smtp_tcp_ops;

/** Listen on IPv4 port @port of @st with SYN backlog @backlog; every
 * accepted connection that @adm admits (admission.h) gets a slot of
 * smtp_adm_worker_conns(@adm) (or a 421 refusal). Boot path
 * of the worker. Returns the listener, or NULL with errno (tcp_listen()). */
struct tcp_listener *smtp_tcp_listen(struct tcp_stack *st, uint16_t port, unsigned backlog,
				     struct smtp_adm_worker *adm);

/* A listener whose connections get @on_open(@arg, c) once open, before
 * their first pump (the implicit TLS listener pushes TLS there). */
struct smtp_tcp_accept {
	struct smtp_adm_worker *adm;
	void (*on_open)(void *arg, struct smtp_conn *c);
	void *arg;
};

/** smtp_tcp_listen() with @hook (caller-owned, outlives the listener).
 * Boot path of the worker. */
struct tcp_listener *smtp_tcp_listen_hook(struct tcp_stack *st, uint16_t port, unsigned backlog,
					  const struct smtp_tcp_accept *hook);

#endif
