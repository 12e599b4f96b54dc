/*
 * relay-t.h - types of the mxgate relay (libmx_queue): next hops, the relay
 * configuration, the queue views handed to ctl, counters.
 * See relay.h for the functions and the threading model.
 */
#ifndef MX_QUEUE_RELAY_T_H
#define MX_QUEUE_RELAY_T_H

#include <stdbool.h>
#include <stdint.h>

#include "queue/record-t.h"

struct relay;	     /* opaque: the relay of one process */
struct spool_worker; /* queue/spool-t.h */

/** Protocol spoken to a next hop. */
enum relay_proto {
	RELAY_PROTO_SMTP = 0, /* RFC 5321: EHLO (HELO fallback), one reply after DATA */
	RELAY_PROTO_LMTP,     /* RFC 2033: LHLO, one reply per accepted RCPT after DATA */
	RELAY_PROTO_COUNT,
};

/**
 * STARTTLS to a next hop (RFC 3207), in the style of Postfix's
 * smtp_tls_security_level. TLS 1.2 at least; SNI is the hop's host name
 * (not sent for an address literal). A hop that does not meet a required
 * level fails like a hop that is down: the message is retried later or goes
 * to the next hop (4xx semantics), never sent in clear text.
 */
enum relay_tls {
	RELAY_TLS_NONE = 0, /* never STARTTLS */
	RELAY_TLS_MAY,	    /* STARTTLS if offered, else (or if TLS fails: reconnect) plain;
			       no certificate check */
	RELAY_TLS_ENCRYPT,  /* STARTTLS required; no certificate check */
	RELAY_TLS_VERIFY,   /* STARTTLS required; chain checked against ca_file and the
			       name (or address) of the host */
	RELAY_TLS_COUNT,
};

/** One next hop. Lower priority values are tried first (like MX). */
struct relay_nexthop {
	const char *host; /* address literal or name (getaddrinfo at connect) */
	uint16_t port;
	uint8_t proto;	   /* enum relay_proto */
	uint8_t tls;	   /* enum relay_tls */
	uint32_t priority; /* equal priorities: configuration order */
};

/** What a permanent failure (5xx from the next hop) does to a recipient. */
enum relay_on_perm {
	RELAY_PERM_BOUNCE = 0, /* RFC 3464 notification to the sender, recipient done */
	RELAY_PERM_HOLD,       /* kept in the spool until the operator acts (ctl) */
	RELAY_PERM_COUNT,
};

#define RELAY_MAX_NEXTHOPS 8
#define RELAY_MAX_THREADS  64

/**
 * Test seam. before_mark is called on a relay thread after the next hop
 * accepted recipient @rcpt of @qid and before the done log records it; a
 * non-zero return simulates a crash at exactly that point: the thread
 * abandons the message without recording anything (it stays "active" until
 * relay_destroy()). NULL members: no hook.
 */
struct relay_hooks {
	int (*before_mark)(void *arg, const struct spool_qid *qid, uint32_t rcpt);
	void *arg;
};

struct relay_conf {
	unsigned threads;      /* relay threads = max parallel connections (1..64) */
	const char *helo_name; /* EHLO/LHLO name */
	const char *ca_file;   /* PEM CA certificates for RELAY_TLS_VERIFY (NULL: none) */
	struct relay_nexthop nexthop[RELAY_MAX_NEXTHOPS];
	unsigned nnexthops;
	/** Where delivery status notifications (the messages queued through
	 * dsn_worker) go; host NULL: the next hops above, like other mail.
	 * Its failures never count as "next hop down" (no refusal of new
	 * mail); notifications wait for it. */
	struct relay_nexthop bounce_nexthop;
	uint32_t connect_timeout_ms;	 /* TCP connect */
	uint32_t io_timeout_ms;		 /* each reply, each write wait */
	uint32_t data_timeout_ms;	 /* reply(s) to the final dot */
	uint32_t idle_timeout_ms;	 /* keep an idle connection for reuse this long */
	uint32_t max_msgs_per_conn;	 /* then QUIT and reconnect (0: no limit) */
	uint32_t retry_min_ms;		 /* first retry delay (exponential backoff) */
	uint32_t retry_max_ms;		 /* backoff ceiling */
	uint32_t retry_jitter_pct;	 /* delay drawn in [d - d*pct/100, d] */
	uint32_t hop_retry_ms;		 /* skip a next hop this long after it failed */
	uint32_t refuse_after_ms;	 /* spool_set_refuse() once every next hop has
					    been down this long (0: never) */
	uint32_t max_backlog_age_ms;	 /* refuse new mail (SPOOL_REFUSE_BACKLOG) while mail
					    accepted now would wait longer than this for a
					    relay thread (0: never) */
	uint8_t on_permanent_failure;	 /* enum relay_on_perm */
	uint64_t max_queue_lifetime_ms;	 /* a recipient still failing after this long in the
					    queue is returned to its sender (0: never) */
	struct spool_worker *dsn_worker; /* spool context no worker lcore uses, for the
					    notifications (spool_inject()); NULL: none,
					    failures are held */
	const struct relay_hooks *hooks; /* tests; NULL in production */
};

#define RELAY_DEF_THREADS	  4
#define RELAY_DEF_CONNECT_TIMEOUT 5000
#define RELAY_DEF_IO_TIMEOUT	  60000
#define RELAY_DEF_DATA_TIMEOUT	  600000
#define RELAY_DEF_IDLE_TIMEOUT	  10000
#define RELAY_DEF_MAX_MSGS_CONN	  1000
#define RELAY_DEF_RETRY_MIN	  60000
#define RELAY_DEF_RETRY_MAX	  3600000
#define RELAY_DEF_RETRY_JITTER	  20
#define RELAY_DEF_HOP_RETRY	  5000
#define RELAY_DEF_REFUSE_AFTER	  0
#define RELAY_DEF_MAX_BACKLOG_AGE 300000
/**
 * Until the next hop's pace is measured (the first second with work), the
 * backlog estimate assumes each relay thread takes this long per message:
 * pessimistic on purpose, so max_backlog_age holds from the first second of
 * a burst instead of after it (relay_backlog_estimate()).
 */
#define RELAY_BACKLOG_PRIOR_MS 1000
#define RELAY_DEF_MAX_LIFETIME (5ULL * 86400 * 1000) /* Postfix's maximal_queue_lifetime */

/** State of a message as seen by ctl. */
enum relay_msg_state {
	RELAY_MSG_READY = 0, /* waiting for a relay thread */
	RELAY_MSG_DEFERRED,  /* waiting for its retry time */
	RELAY_MSG_ACTIVE,    /* a delivery attempt is under way */
	RELAY_MSG_HELD,	     /* only held recipients left */
	RELAY_MSG_STATE_COUNT,
};

/** One recipient in a queue view. */
struct relay_rcpt_view {
	const char *addr;  /* NULL until the envelope was read once */
	const char *reply; /* last reply from the next hop (or a local reason), or NULL */
	uint8_t state;	   /* enum spool_rcpt_state (never RELEASED) */
};

/** One message in a queue view; pointers valid during the callback only. */
struct relay_msg_view {
	struct spool_qid qid;
	uint8_t state; /* enum relay_msg_state */
	uint64_t age_ms;
	uint64_t bytes; /* body bytes, Received: header included */
	uint32_t attempts;
	uint64_t next_try_in_ms; /* DEFERRED only */
	const char *mail_from;	 /* NULL until the envelope was read once */
	const char *tls;	 /* "TLSv1.3/TLS_AES_256_GCM_SHA384" it came in with, or NULL */
	uint32_t nrcpt;
	const struct relay_rcpt_view *rcpt;
};

/** Queue summary for "show queue". */
struct relay_queue_summary {
	uint64_t msgs[RELAY_MSG_STATE_COUNT];
	uint64_t rcpts_pending;
	uint64_t rcpts_held;
	uint64_t oldest_age_ms;
	uint64_t bytes;
	uint64_t nexthop_down_ms; /* how long every next hop has been down, 0 if up */
	uint64_t backlog_wait_ms; /* expected wait of mail accepted now (relay_pressure_tick()) */
	uint64_t drain_per_s;	  /* delivery attempts finished per second (EWMA), 0: unknown */
	uint64_t max_backlog_age_ms; /* the bound on it (0: none) */
	bool backlog_refusing;	     /* new mail refused because of it */
};

/*
 * Counters: one struct of uint64_t, names from the X-macro, updated with
 * relaxed atomic adds from relay, commit and control threads; read with
 * relay_stats_read() from any thread.
 */
#define RELAY_STATS(X)                                                                     \
	X(msgs_queued)	    /* messages taken in (commit hook and recovery) */             \
	X(msgs_delivered)   /* messages with every recipient delivered or deleted */       \
	X(rcpts_delivered)  /* recipients accepted by a next hop (2xx) */                  \
	X(rcpts_deferred)   /* recipient attempts ending in 4xx or a connection failure */ \
	X(rcpts_held)	    /* recipients put on hold (5xx, local permanent error, ctl) */ \
	X(rcpts_released)   /* held recipients released by ctl */                          \
	X(rcpts_deleted)    /* recipients deleted by ctl */                                \
	X(conns_opened)	    /* sessions established (greeting and EHLO/LHLO ok) */         \
	X(conns_reused)	    /* transactions on an already open session */                  \
	X(nexthop_failures) /* connect, greeting, EHLO failures and sessions lost */       \
	X(bytes_sent)	    /* body bytes written (after dot-stuffing, with the dot) */    \
	X(retries)	    /* delivery attempts after the first one */                    \
	X(done_log_errors)  /* spool_rcpt_mark() failures (see relay.c, "Duplicates") */   \
	X(spool_errors)	    /* messages that could not be read back from the spool */      \
	X(rcpts_bounced)    /* recipients failed for good (5xx or expired): bounced */     \
	X(rcpts_expired)    /* ... of which had outlived max_queue_lifetime */             \
	X(dsns_queued)	    /* delivery status notifications queued to senders */          \
	X(dsns_suppressed)  /* failures owed no notification (null sender, NOTIFY=) */     \
	X(dsn_errors)	    /* notifications that could not be queued (recipients held) */

struct relay_stats {
#define RELAY_STAT_FIELD(name) uint64_t name;
	RELAY_STATS(RELAY_STAT_FIELD)
#undef RELAY_STAT_FIELD
};

/** Drain-rate state of the backlog estimate (relay_backlog_estimate()). */
struct relay_backlog {
	uint64_t rate_t0_ns;  /* start of the current rate window */
	uint64_t rate_n0;     /* attempts finished then */
	uint64_t drain_mrate; /* attempts finished per 1000 s (EWMA), 0: not measured yet */
	uint64_t prior_mrate; /* assumed until then: threads per RELAY_BACKLOG_PRIOR_MS */
};

#endif
