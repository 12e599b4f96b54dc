/*
 * conn-t.h - types of the SMTP connection layer (libmx_smtp_host): session
 * slots, the per-session timer and the transport ops table. Functions are
 * in conn.h; the session host that runs stages on top is host.h.
 *
 * A struct smtp_conn is one slot of a fixed array allocated at boot (one
 * table per worker lcore): it ties a transport handle (a TCB, later a TLS
 * state on top of it) to an engine session (smtp.h), carries the session's
 * timer on the worker's wheel and the host's park state. Slots are reused;
 * a generation number tells a late answer for an old session from the
 * current one. No field is allocated per connection.
 *
 * Pure C: no DPDK, no TCP stack (dataplane/timer.h is plain C).
 */
#ifndef MX_SMTP_CONN_T_H
#define MX_SMTP_CONN_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/hist.h"
#include "dataplane/timer.h"
#include "smtp/smtp-t.h"

/*
 * After our FIN (the final reply flushed, RFC 5321 4.1.1.10: the client
 * closes once it has read the 221), how long the client has to close its
 * side before the connection is reset (transport abort) and its slot
 * released. A client that read its reply closes within a round trip; 2 s
 * also covers the final segment retransmitted three times at the minimum
 * RTO (200 + 400 + 800 ms). Longer only helps a client that never closes
 * (FIN held, or lost behind a NAT) keep a slot and a TCB: at 2 s one must
 * open max_sessions / 2 connections a second to hold every slot.
 */
#define SMTP_CONN_LINGER_MS 2000

/*
 * Absolute lifetime of a session from its accept, whatever it does: then
 * "421 4.4.2 <host> Error: connection lifetime exceeded" (smtp_session_
 * expire()) and close, so no client holds a slot by keeping it busy (a
 * byte before every timeout, a command every 299 s). An hour is far more
 * than a legitimate session needs (a 10 MB message at 64 kbit/s takes 21
 * minutes) and keeps an attacker's slot-hours bounded. A parked command
 * is answered first (its park deadline bounds that wait).
 */
#define SMTP_CONN_LIFETIME_S 3600

/* The session's log line names the queue ids of its first SMTP_CONN_QIDS
 * messages (qids=A,B,...; "+N" more), as the 250 named them. */
#define SMTP_CONN_QIDS	  4
#define SMTP_CONN_QID_LEN 26

/* One piece of received, in-order data, read in place (zero copy). */
struct smtp_iov {
	const void *base;
	size_t len;
};

/* The client's address, for the engine (text), the envelope and logs. */
struct smtp_peer {
	uint8_t family; /* 4 or 6 */
	uint16_t port;	/* host order */
	uint8_t addr[16];
};

/* What a transport reports to its connection (smtp_conn_event()). */
enum smtp_conn_ev {
	SMTP_CONN_EV_READABLE = 0, /* new data for peek */
	SMTP_CONN_EV_WRITABLE,	   /* send space opened after a short send */
	SMTP_CONN_EV_PEER_FIN,	   /* the client sends nothing after what is queued */
	SMTP_CONN_EV_CLOSED,	   /* gone: the handle was released by the transport */
	SMTP_CONN_EV_COUNT,
};

/*
 * Transport: how the connection layer reads and writes one connection.
 * Every member gets the transport's handle @tr (the TCB for plain TCP) and
 * runs on the worker lcore that owns the connection. The plain TCP
 * implementation is transport_tcp.c; TLS sits on top of it with the same
 * table (smtp_conn_transport_push()).
 */
struct smtp_transport_ops {
	const char *name; /* "tcp", "tls": logs */
	/* Fill up to @max pieces of received data, oldest first, without
	 * consuming; they stay valid until consumed. Returns pieces filled. */
	unsigned (*peek)(void *tr, struct smtp_iov *iov, unsigned max);
	/* Drop @n octets from the front of what peek returned. 0 or -errno. */
	int (*consume)(void *tr, size_t n, uint64_t now_us);
	/* Octets readable now (0: nothing; decides the FIN after PEER_FIN). */
	size_t (*avail)(void *tr);
	/* Send up to @len octets (copied). Returns octets taken, 0 when full
	 * (SMTP_CONN_EV_WRITABLE follows), <0 once the sending side is gone. */
	ssize_t (*send)(void *tr, const void *data, size_t len, uint64_t now_us);
	/* Half-close after the queued octets (after the final 221/421). */
	int (*shutdown)(void *tr, uint64_t now_us);
	/* Give the handle up, graceful close; no event follows. */
	void (*close)(void *tr, uint64_t now_us);
	/* Give the handle up with a reset; no event follows. */
	void (*abort)(void *tr, uint64_t now_us);
	/* Optional, for a transport stacked on another (TLS): sees every
	 * event of the lower transport first and returns the event to hand
	 * to the session (it may read and write through the lower ops, e.g.
	 * handshake records), or -1 to swallow it. NULL: events pass. */
	int (*lower_event)(void *tr, enum smtp_conn_ev ev, uint64_t now_us);
	/* Optional: what protects the connection, for Received: and the log
	 * ("TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"), or
	 * NULL. NULL op: nothing. */
	const char *(*describe)(void *tr);
};

/* One transport layer of a connection: its ops and handle. */
struct smtp_transport {
	const struct smtp_transport_ops *ops;
	void *tr;
};

/*
 * The session host's park state (host.c writes it, conn.c reads the
 * deadline to arm the timer). The event is copied because the engine's is
 * gone when an answer arrives; its strings live in the session and the
 * envelope, which stay while the engine is parked.
 */
struct smtp_park {
	bool active;		    /* parked on @ticket */
	uint8_t stage;		    /* index of the stage that parked */
	uint64_t ticket;	    /* the answer we wait for (SMTP_TICKET_*) */
	uint64_t pending;	    /* ticket handed out by the running stage */
	uint64_t engine_rid;	    /* request id the engine waits on */
	uint64_t deadline_us;	    /* host-owned: 4xx at this time */
	uint64_t since_us;	    /* parked at (per-check latency) */
	struct smtp_event ev;	    /* the event being served */
	struct smtp_rcpt_view rcpt; /* ev.rcpt points here */
};

struct smtp_conn_table;

struct smtp_conn {
	struct timer_entry timer; /* first: container_of by cast */
	struct smtp_conn_table *tab;
	struct smtp_session *s;	   /* NULL: free slot */
	struct smtp_transport top; /* what the session reads and writes */
	struct smtp_transport low; /* under @top when stacked (TLS), else empty */
	struct smtp_conn *next_free;
	uint32_t slot;		/* index in the table */
	uint32_t gen;		/* bumped at open, release and every ticket */
	bool shut;		/* half-close sent */
	bool peer_fin;		/* the client half-closed: we follow once nothing is owed */
	bool in_stage;		/* a stage of this session is running (host.c) */
	uint64_t life_end_us;	/* the session's lifetime ends here */
	uint64_t linger_end_us; /* 0; else reset here (our FIN sent, or lifetime) */
	struct smtp_peer peer;
	struct smtp_park park;
	/* The operator's view (show sessions, kill session: ctlbox.h).
	 * Written by conn.c on the owner lcore, read there by the ctl box. */
	uint64_t serial;	      /* session id on this worker, from 1, never reused */
	uint64_t t_open_us;	      /* accepted */
	uint64_t t_last_us;	      /* last octet read or sent */
	uint64_t bytes_in, bytes_out; /* octets read from / sent to the client */
	bool kill_pending;	      /* shut down once its parked command is answered */
	/* Per-phase latency (latency.c marks, conn.c records at the flush). */
	uint64_t t_banner_us;  /* first octet sent (0: not yet) */
	uint64_t t_helo_us;    /* first HELO/EHLO (0: not yet) */
	uint64_t t_mark_us;    /* RCPT or end of data received */
	uint64_t t_durable_us; /* the message of the DATA_END mark was durable (0: not yet) */
	uint8_t mark;	       /* 1 + enum smtp_lat_phase awaiting its reply; 0 none */
	bool mailed;	       /* first MAIL seen */
	/* Queue ids our 250s named (the first SMTP_CONN_QIDS), for the log. */
	uint8_t nqids;
	char qids[SMTP_CONN_QIDS][SMTP_CONN_QID_LEN + 1];
	uint32_t nrefused;  /* 4xx/5xx replies sent (show top) */
	uint32_t naccepted; /* messages answered 250 by the spool (show top) */
	/* Policy verdicts of the session, for its summary log line (the
	 * greylisting and rate limit stages count them; owner lcore). */
	uint16_t grey_deferred; /* RCPTs deferred 451 4.7.1 by greylisting */
	uint16_t grey_passed;	/* RCPTs passed as a retry after the delay */
	uint16_t rl_refused;	/* RCPTs refused 450 4.7.1 by a rate limit */
	/* TLS slot taken when STARTTLS was accepted (before its 220), until
	 * the TLS transport is pushed or the session ends (transport_tls.c). */
	void *tls_resv;
};

/*
 * Per-phase latency of sessions, X(name, help), microseconds: one set of
 * histograms per worker (single writer), read by the control thread
 * (`show latency`, /metrics). End of data to durable is the spool's own
 * spool.commit_latency_ns; data_reply adds the way back to the session.
 */
#define SMTP_LATENCY(X)                                                                        \
	X(connect_banner, "accept to the first octet of the greeting sent")                    \
	X(banner_helo, "greeting sent to the first HELO/EHLO received")                        \
	X(helo_mail, "first HELO/EHLO to the first MAIL FROM received")                        \
	X(rcpt_verdict, "RCPT TO received to its reply sent (every check, parks included)")    \
	X(rcpt_policy, "RCPT: time in the policy checks (DNS parks; 0 when answered at once)") \
	X(rcpt_ratelimit, "RCPT: time in the rate limit check")                                \
	X(rcpt_greylist, "RCPT: time in greylisting (waits for SPF, shared store parks)")      \
	X(data_reply, "end of data received to its reply sent (the spool commit included)")    \
	X(durable_reply, "the spool's commit durable to the 250 sent (completion ring, worker)")

enum smtp_lat_phase {
#define SMTP_LAT_X_ENUM(n, h) SMTP_LAT_##n,
	SMTP_LATENCY(SMTP_LAT_X_ENUM)
#undef SMTP_LAT_X_ENUM
		SMTP_LAT_COUNT,
};

struct smtp_conn_lat {
	struct mx_hist h[SMTP_LAT_COUNT];
};

/* What a draining table does with a new connection (smtp_conn_set_drain()). */
enum smtp_conn_drain {
	SMTP_CONN_DRAIN_OFF = 0, /* accept */
	SMTP_CONN_DRAIN_REPLY,	 /* "421 4.3.2 ... Service shutting down", close */
	SMTP_CONN_DRAIN_SILENT,	 /* close without a word */
};

/* Called when a parked session reaches its deadline (the host answers). */
typedef void (*smtp_conn_expire_fn)(void *arg, struct smtp_conn *c, uint64_t now_us);

struct smtp_conn_conf {
	unsigned worker; /* for logs */
	struct smtp_pool *pool;
	unsigned slots; /* connections at once (the pool's max_sessions) */
	struct timer_wheel *wheel;
	const uint64_t *now_us; /* the worker's clock */
	smtp_conn_expire_fn expire;
	void *expire_arg;
	uint32_t linger_ms;	 /* after our FIN (0: SMTP_CONN_LINGER_MS) */
	uint32_t max_lifetime_s; /* of a session (0: SMTP_CONN_LIFETIME_S) */
};

#endif
