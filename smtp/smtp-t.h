/*
 * smtp-t.h - types of the mxgate SMTP server engine (libmx_smtp).
 *
 * The engine is a pure protocol core: plain C over byte buffers and a clock
 * (every entry point takes `uint64_t now_us`), no sockets, no syscalls, no
 * allocation after smtp_pool_create(). Functions are in smtp.h.
 *
 * MEMORY LAYOUT
 *
 * struct smtp_pool (one per worker lcore, allocated once at boot) owns three
 * slabs, all sized from struct smtp_config:
 *
 *   sessions   max_sessions x [ struct smtp_session | line buffer | output ]
 *              The line buffer holds one command line: 512 octets (RFC 5321
 *              4.5.3.1.4) + cfg.line_ext, the room that only MAIL and RCPT
 *              lines may use for their parameters (RFC 1870/3461/6531);
 *              every other command line is refused above 512.
 *              The output buffer (cfg.out_size) holds replies until the host
 *              drains them. Nothing else grows with the session: an idle
 *              session is exactly smtp_session_stride() bytes (measured by
 *              the unit test; about 1.9 KiB with the defaults).
 *   envelopes  max_transactions x [ struct smtp_envelope | rcpt[max_rcpt] |
 *              arena[env_arena] ]. Taken at MAIL, given back at end of DATA,
 *              RSET, EHLO, failure or close: only sessions inside a
 *              transaction hold one. Strings (reverse path, ENVID, forward
 *              paths, ORCPT) are appended NUL-terminated into the arena and
 *              referenced by 32-bit offsets.
 *   counters   one struct smtp_counters, written by the owning worker only,
 *              readable by any thread with relaxed atomic loads.
 *
 * The HELO name (<= 255 octets, RFC 5321 4.5.3.1.2 domain limit), the client
 * address and a truncated copy of the last reverse path (for the close log
 * line) are kept inline in the session.
 */
#ifndef MX_SMTP_SMTP_T_H
#define MX_SMTP_SMTP_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1.4: command line <= 512 octets including CRLF. */
#define SMTP_CMD_LINE_MAX 512
/* RFC 5321 4.5.3.1.6: text line <= 1000 octets including CRLF. */
#define SMTP_TEXT_LINE_MAX 1000
/* RFC 5321 4.5.3.1.3: path <= 256 octets including the punctuation. */
#define SMTP_PATH_MAX 256
/* RFC 5321 4.5.3.1.1: local part <= 64 octets. */
#define SMTP_LOCAL_MAX 64
/* RFC 5321 4.5.3.1.2: domain <= 255 octets. */
#define SMTP_DOMAIN_MAX 255
#define SMTP_HELO_MAX	255
/* RFC 3461 4.4: ENVID <= 100 characters; 4.2: ORCPT <= 500 characters. */
#define SMTP_ENVID_MAX 100
#define SMTP_ORCPT_MAX 500
/* Our own bound on the host name we announce (banner, EHLO, Received:). */
#define SMTP_HOSTNAME_MAX 128
/* Every reply except the EHLO list fits this many octets; host texts are
 * truncated to fit. RFC 5321 4.5.3.1.5 allows 512 per reply line. */
#define SMTP_REPLY_MAX 256
/* Room always kept free in the output for a final 421 (timeout, limits). */
#define SMTP_REPLY_SLACK   64
#define SMTP_CLIENT_MAX	   48
#define SMTP_LAST_FROM_MAX 64

/* Session states. Explicit, starting at 0 (STYLE.md 7). */
enum smtp_state {
	SMTP_ST_GREETING = 0, /* banner not sent yet (greet delay, connect check) */
	SMTP_ST_INIT,	      /* banner sent, waiting for HELO/EHLO */
	SMTP_ST_READY,	      /* HELO/EHLO done, no transaction */
	SMTP_ST_MAIL,	      /* MAIL accepted, no recipient yet */
	SMTP_ST_RCPT,	      /* at least one recipient accepted */
	SMTP_ST_DATA,	      /* reading a DATA body up to CRLF.CRLF */
	SMTP_ST_CHUNKING,     /* between BDAT chunks of a transaction */
	SMTP_ST_BDAT,	      /* reading the octets of a BDAT chunk */
	SMTP_ST_NOSERVICE,    /* connect refused with 554: only QUIT (RFC 5321 3.1) */
	SMTP_ST_TLS_WAIT,     /* 220 to STARTTLS sent, waiting for the handshake */
	SMTP_ST_CLOSING,      /* 221/421 sent: the host drains output and closes */
	SMTP_ST_COUNT,
};

/* What the host answers to an event. */
enum smtp_verdict {
	SMTP_V_CONTINUE = 0, /* go on with the engine's default reply */
	SMTP_V_REPLY,	     /* use answer->code/enh/text */
	SMTP_V_PENDING,	     /* answer later: smtp_resume(answer->request_id) */
};

enum smtp_event_type {
	SMTP_EV_CONNECT = 0,
	SMTP_EV_HELO,
	SMTP_EV_MAIL,
	SMTP_EV_RCPT,
	SMTP_EV_DATA_BEGIN,
	SMTP_EV_DATA_CHUNK,
	SMTP_EV_DATA_END,
	SMTP_EV_TXN_ABORT, /* notification: transaction dropped (RSET, failure, close) */
	SMTP_EV_CLOSE,	   /* notification: session is being freed */
	SMTP_EV_STARTTLS,  /* STARTTLS before its 220: REPLY refuses it (454), no PENDING */
	SMTP_EV_COUNT,
};

/* Why a message body was refused (decided by the engine while reading). */
enum smtp_body_reject {
	SMTP_BODY_OK = 0,
	SMTP_BODY_BARE_NL, /* bare LF or bare CR (RFC 5321 2.3.8) */
	SMTP_BODY_LINE_TOO_LONG,
	SMTP_BODY_TOO_BIG,
	SMTP_BODY_NUL, /* NUL octet: a next hop might drop it and see CRLF.CRLF */
};

enum smtp_pregreet_action {
	SMTP_PREGREET_REPLY = 0, /* 550 5.5.1 Protocol error and close */
	SMTP_PREGREET_DROP,	 /* close without a word */
	SMTP_PREGREET_LOG,	 /* count, log, then serve normally */
};

/* Session outcome for the close log line. */
enum smtp_result {
	SMTP_RES_NONE = 0, /* no transaction finished */
	SMTP_RES_ACCEPTED, /* last data end answered 2xx */
	SMTP_RES_TEMPFAIL, /* last data end answered 4xx */
	SMTP_RES_REJECTED, /* last data end answered 5xx */
	SMTP_RES_PREGREET,
	SMTP_RES_TIMEOUT,
	SMTP_RES_ERRORS,
	SMTP_RES_LIFETIME,   /* ended by the host at the connection's lifetime */
	SMTP_RES_TLS_FAILED, /* the TLS handshake after STARTTLS failed */
	SMTP_RES_SHUTDOWN,   /* ended by the operator (kill session) or a drain */
	SMTP_RES_COUNT,
};

/* MAIL BODY= (RFC 6152). */
enum smtp_body_type {
	SMTP_BODY_UNSPEC = 0,
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
};

/* MAIL RET= (RFC 3461 4.3). */
enum smtp_ret {
	SMTP_RET_UNSPEC = 0,
	SMTP_RET_FULL,
	SMTP_RET_HDRS,
};

/* RCPT NOTIFY= bits (RFC 3461 4.1); 0 means not given. */
#define SMTP_NOTIFY_NEVER   0x01
#define SMTP_NOTIFY_SUCCESS 0x02
#define SMTP_NOTIFY_FAILURE 0x04
#define SMTP_NOTIFY_DELAY   0x08

struct smtp_config {
	char hostname[SMTP_HOSTNAME_MAX + 1]; /* announced name */
	uint32_t max_sessions;		      /* session slab size */
	uint32_t max_transactions;	      /* envelope slab size (0: = max_sessions) */
	uint32_t line_ext;		      /* MAIL/RCPT line room beyond 512 */
	uint32_t out_size;		      /* output buffer per session */
	uint32_t env_arena;		      /* envelope string arena per transaction */
	uint32_t max_rcpt;		      /* recipients per message */
	uint64_t max_msg_size;		      /* octets, advertised in SIZE */
	uint32_t max_errors;		      /* error replies per session */
	uint32_t max_commands;		      /* commands per session */
	uint32_t greet_delay_ms;	      /* hold the banner this long */
	enum smtp_pregreet_action pregreet_action;
	bool greet_teaser;	  /* with greet_delay_ms: "220-" at once, "220 " after it */
	uint32_t timeout_cmd_ms;  /* waiting for a command line (RFC: >= 5 min) */
	uint32_t timeout_data_ms; /* between data blocks (RFC: 3 min) */
	bool starttls_available;  /* advertise and accept STARTTLS */
	bool tls_required;	  /* [smtp] tls = encrypt: MAIL needs STARTTLS first */
	uint32_t timeout_tls_ms;  /* 220 to STARTTLS -> handshake done (0: timeout_cmd_ms) */
};

/* MAIL parameters as carried with the envelope. String offsets point into
 * the envelope arena (0: absent). */
struct smtp_mail_params {
	uint64_t size; /* SIZE=, 0 if absent */
	uint32_t envid_off;
	uint16_t envid_len; /* xtext as received */
	uint8_t body;	    /* enum smtp_body_type */
	uint8_t ret;	    /* enum smtp_ret */
	bool smtputf8;
};

struct smtp_rcpt {
	uint32_t addr_off; /* forward path without <>, NUL-terminated */
	uint32_t orcpt_off;
	uint16_t addr_len;
	uint16_t orcpt_len; /* "addr-type;xtext" as received, 0 if absent */
	uint8_t notify;	    /* SMTP_NOTIFY_* */
};

struct smtp_envelope {
	uint32_t used; /* arena octets in use (offset 0 is a reserved NUL) */
	uint32_t cap;
	uint32_t nrcpt;
	uint32_t from_off;
	uint16_t from_len; /* reverse path without <>; 0 for the null sender */
	struct smtp_mail_params mail;
	struct smtp_rcpt *rcpt; /* [cfg.max_rcpt] */
	char *arena;		/* [cfg.env_arena] */
	struct smtp_envelope *next_free;
};

/* Read-only view of one recipient handed to the host. */
struct smtp_rcpt_view {
	const char *addr; /* NUL-terminated */
	size_t addr_len;
	const char *orcpt; /* NULL if absent */
	size_t orcpt_len;
	uint8_t notify;
};

struct smtp_event {
	enum smtp_event_type type;
	uint64_t now_us;
	const char *str; /* HELO name, reverse path, forward path (NUL-terminated) */
	size_t str_len;
	const struct smtp_mail_params *mail; /* MAIL */
	const struct smtp_rcpt_view *rcpt;   /* RCPT */
	const uint8_t *data;		     /* DATA_CHUNK: body octets, unstuffed */
	size_t data_len;
	uint64_t size;			   /* DATA_END: body octets */
	enum smtp_body_reject body_reject; /* DATA_END/TXN_ABORT */
	bool bdat;			   /* DATA_BEGIN/END: CHUNKING transaction */
	bool esmtp;			   /* HELO: EHLO rather than HELO */
};

/* The host's answer. @text and @enh are copied before the callback or
 * smtp_resume() returns. */
struct smtp_answer {
	unsigned code;	     /* 200..599 for SMTP_V_REPLY */
	const char *enh;     /* "5.7.1"; NULL: class default x.0.0 */
	const char *text;    /* one line, no CR/LF (sanitised otherwise) */
	uint64_t request_id; /* for SMTP_V_PENDING */
};

struct smtp_session;

/* Host callback, one per event (NULL: SMTP_V_CONTINUE, except DATA_END
 * whose default is 451 4.3.0: the engine never says 250 for a message by
 * itself). Called on the worker that drives the session; it must not call
 * smtp_input/smtp_resume/smtp_timer of the same session. DATA_CHUNK may
 * return PENDING (park after this chunk, e.g. spool back-pressure) and
 * ignores REPLY; TXN_ABORT and CLOSE are notifications (return ignored). */
typedef enum smtp_verdict (*smtp_event_fn)(void *ctx, struct smtp_session *s,
					   const struct smtp_event *ev, struct smtp_answer *ans);

struct smtp_host {
	smtp_event_fn on[SMTP_EV_COUNT];
	void *ctx;
};

/* Counters: X(name) in display order. */
#define SMTP_COUNTERS(X)                \
	X(connections)                  \
	X(connections_refused)          \
	X(closed)                       \
	X(commands)                     \
	X(transactions)                 \
	X(messages_accepted)            \
	X(messages_tempfailed)          \
	X(messages_rejected)            \
	X(data_octets)                  \
	X(replies_2xx)                  \
	X(replies_3xx)                  \
	X(replies_4xx)                  \
	X(replies_5xx)                  \
	X(rej_syntax)                   \
	X(rej_unknown_command)          \
	X(rej_bad_sequence)             \
	X(rej_bare_lf_command)          \
	X(rej_bare_nl_data)             \
	X(rej_cmd_too_long)             \
	X(rej_text_too_long)            \
	X(rej_too_many_rcpt)            \
	X(rej_size)                     \
	X(rej_param)                    \
	X(rej_pregreet)                 \
	X(rej_timeout)                  \
	X(rej_errors_limit)             \
	X(rej_commands_limit)           \
	X(rej_no_envelope)              \
	X(rej_host)                     \
	X(starttls_plaintext_discarded) \
	X(rej_tls_required)             \
	X(parked)

struct smtp_counters {
#define SMTP_X_FIELD(n) uint64_t n;
	SMTP_COUNTERS(SMTP_X_FIELD)
#undef SMTP_X_FIELD
};

enum smtp_counter_id {
#define SMTP_X_ENUM(n) SMTP_CNT_##n,
	SMTP_COUNTERS(SMTP_X_ENUM)
#undef SMTP_X_ENUM
		SMTP_CNT_COUNT,
};

/* Arguments of smtp_received_format() that the engine does not know. */
struct smtp_received_info {
	const char *queue_id; /* NULL: no id clause */
	const char *rdns;     /* verified client name; NULL: "unknown" */
	int64_t unix_time;    /* date of the header */
	int tz_offset_min;    /* local offset from UTC, e.g. +120 */
	bool authenticated;   /* ESMTPA (no AUTH yet: false) */
	const char *tls;      /* "TLSv1.3 with cipher ... (256/256 bits)"; NULL: none */
};

/* Session structure. Public so the host can size it and tests can measure
 * it; fields are the engine's: read them through smtp.h accessors. */
struct smtp_session {
	struct smtp_pool *pool;
	void *user; /* host's pointer (e.g. its TCP connection) */
	struct smtp_envelope *env;
	uint8_t *line; /* [pool line_max] */
	uint8_t *out;  /* [cfg.out_size] */
	uint64_t t_open_us;
	uint64_t deadline_us; /* 0: none */
	uint64_t request_id;  /* while parked */
	uint64_t bdat_left;   /* octets left in the current BDAT chunk */
	uint64_t msg_size;    /* body octets of the current message */
	uint64_t last_size;   /* body octets of the last finished message */
	uint32_t id;	      /* slot number, for logs */
	uint32_t ncmds;
	uint16_t out_head; /* output is out[out_head .. out_head + out_len) */
	uint16_t out_len;
	uint16_t line_len;
	uint16_t text_len; /* current text line length inside DATA/BDAT */
	uint16_t nerrors;
	uint16_t ntxn;
	uint16_t nrcpt_last;
	uint16_t last_code;
	uint16_t first_err_code;
	uint16_t nreplies[4]; /* 2xx 3xx 4xx 5xx */
	uint8_t state;	      /* enum smtp_state */
	uint8_t pstate;	      /* body parser sub-state */
	uint8_t parked;	      /* 1 + enum smtp_event_type while parked, 0 if not */
	uint8_t body_reject;  /* set of 1 << enum smtp_body_reject, current message */
	uint8_t result;	      /* enum smtp_result */
	uint8_t helo_len;
	uint8_t ret_state; /* state to return to after a skipped BDAT chunk */
	uint16_t flags;	   /* SMTP_SF_* (smtp.c) */
	char helo[SMTP_HELO_MAX + 1];
	char client[SMTP_CLIENT_MAX];
	char last_from[SMTP_LAST_FROM_MAX];
	struct smtp_session *next_free;
};

#endif
