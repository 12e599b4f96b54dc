/*
 * host-t.h - types of the SMTP session host (libmx_smtp_host): stages,
 * their verdicts, park tickets and the host's counters. Functions are in
 * host.h.
 */
#ifndef MX_SMTP_HOST_T_H
#define MX_SMTP_HOST_T_H

#include <stdint.h>

#include "smtp/conn-t.h"
#include "smtp/smtp-t.h"

/* Stages per event, at most. */
#define SMTP_HOST_MAX_STAGES 16

/* Deadline of a park when the stage does not set one, and the reply sent
 * when it passes. "Temporary lookup failure" is the wording operators know
 * from Postfix for a lookup that did not answer; 4.4.3 is RFC 3463's
 * "directory server failure" (what DNS or a shared store is to us). */
#define SMTP_HOST_PARK_MS     60000
#define SMTP_HOST_EXPIRE_CODE 451
#define SMTP_HOST_EXPIRE_ENH  "4.4.3"
#define SMTP_HOST_EXPIRE_TEXT "Error: temporary lookup failure"

/* What a stage answers. */
enum smtp_stage_verdict {
	SMTP_STAGE_CONTINUE = 0, /* next stage (after the last: engine default) */
	SMTP_STAGE_REPLY,	 /* call->reply holds code/enh/text: ends the list */
	SMTP_STAGE_PARK,	 /* wait for smtp_host_resume(ticket) */
};

/*
 * Ticket kinds: which subsystem answers a park. A ticket is a 64-bit value
 * (the engine's request id): 8 bits kind | 24 bits slot | 32 bits
 * generation of the slot when the ticket was handed out.
 */
enum smtp_ticket_kind {
	SMTP_TICKET_NONE = 0,
	SMTP_TICKET_SPOOL, /* spool commit (stage_spool.c) */
	SMTP_TICKET_DNS,   /* policy lookups (c-ares) */
	SMTP_TICKET_STORE, /* shared store (greylisting, rate limits) */
	SMTP_TICKET_TEST = 255,
};

struct smtp_stage_host;

/* One call of a stage. Pointers are valid during the call only. */
struct smtp_stage_call {
	struct smtp_stage_host *host;
	struct smtp_conn *conn;	     /* slot: peer, smtp_conn_slot for per-slot state */
	struct smtp_session *s;	     /* the engine session */
	const struct smtp_event *ev; /* the event (on a resume: the host's copy,
				      * DATA_CHUNK octets no longer there) */
	struct smtp_answer *reply;   /* fill code/enh/text for SMTP_STAGE_REPLY
				      * (strings copied before the list returns) */
	unsigned index;		     /* position of the stage in its list */
	uint64_t now_us;
};

/* A stage. Runs on the worker lcore; must not block, allocate or call
 * smtp_host_resume() / smtp_conn_pump() for its own session. TXN_ABORT and
 * CLOSE stages are notifications: every stage runs, verdicts are ignored. */
typedef enum smtp_stage_verdict (*smtp_stage_fn)(void *arg, struct smtp_stage_call *call);

/* Registration of a stage (copied by smtp_host_stage_add()). */
struct smtp_stage {
	const char *name; /* static: logs */
	enum smtp_event_type event;
	smtp_stage_fn fn;
	void *arg;
	uint32_t park_ms;	 /* deadline of its parks (0: SMTP_HOST_PARK_MS) */
	unsigned expire_code;	 /* reply at the deadline (0: SMTP_HOST_EXPIRE_*) */
	const char *expire_enh;	 /* static */
	const char *expire_text; /* static */
	uint8_t lat;		 /* 1 + enum smtp_lat_phase: its time (parks included)
				  * is recorded there; 0: not recorded */
};

/* Host counters: X(name, help) in display order. */
#define SMTP_HOST_COUNTERS(X)                                                                   \
	X(parked, "Sessions parked by a stage under a ticket")                                  \
	X(resumed, "Parked sessions resumed by the answer to their ticket")                     \
	X(park_timeouts, "Parked sessions answered 4xx because no answer came by the deadline") \
	X(stale_tickets, "Answers dropped: session ended, slot reused or ticket superseded")    \
	X(closed_parked, "Sessions that closed while parked")                                   \
	X(stage_replies, "Stage lists ended early by a stage's reply")                          \
	X(linger_aborts,                                                                        \
	  "Connections reset because the client had not closed [smtp] linger_ms after our FIN") \
	X(lifetime_closes, "Sessions ended with 421 4.4.2 at [smtp] max_lifetime_s")

struct smtp_host_counters {
#define SMTP_HOST_X_FIELD(n, h) uint64_t n;
	SMTP_HOST_COUNTERS(SMTP_HOST_X_FIELD)
#undef SMTP_HOST_X_FIELD
};

enum smtp_host_counter_id {
#define SMTP_HOST_X_ENUM(n, h) SMTP_HOST_CNT_##n,
	SMTP_HOST_COUNTERS(SMTP_HOST_X_ENUM)
#undef SMTP_HOST_X_ENUM
		SMTP_HOST_CNT_COUNT,
};

/* Boot parameters of a host (one per worker lcore). */
struct smtp_host_conf {
	unsigned worker;
	const struct smtp_config *smtp; /* engine configuration (copied) */
	struct timer_wheel *wheel;	/* 1 tick = 1 ms */
	const uint64_t *now_us;		/* the worker's clock */
	uint32_t linger_ms;		/* conn-t.h (0: SMTP_CONN_LINGER_MS) */
	uint32_t max_lifetime_s;	/* conn-t.h (0: SMTP_CONN_LIFETIME_S) */
};

#endif
