/*
 * client.h - SMTP client session of mxbench, independent of the transport.
 *
 * Pure protocol core: no sockets, no clock. The transport feeds each parsed
 * reply to bench_cli_on_reply() and writes out what the session queued in
 * c->out (bench_out_*), in order, to the connection. The same core drives the
 * kernel-socket transport and (later) the DPDK one.
 *
 * Session: banner 220 -> EHLO -> idle; the caller starts transactions
 * (bench_cli_start_txn) or ends the session (bench_cli_quit). A transaction is
 * MAIL, RCPT x n, then DATA + body + "." or BDAT chunks. With cfg->pipelining
 * and PIPELINING advertised, MAIL/RCPT/DATA (or MAIL/RCPT/BDAT) are sent as
 * one group (RFC 2920: DATA ends the group; RFC 3030 allows BDAT in it); the
 * replies are matched to commands in order through a FIFO of expected replies.
 * Without it every command waits for the previous reply. A transaction is done
 * only on 250 to the end of data (or to BDAT LAST); any refusal fails it and,
 * where the server may still hold transaction state, the session sends RSET
 * before it reports the failure. Every reply that is not the success reply of
 * its command is counted in stats->unexpected.
 *
 * Memory: bench_cli_init() allocates the output queue and the FIFO; free with
 * bench_cli_free(). Message bodies are not copied: body segments point into a
 * shared read-only text built once by bench_cli_global_init(). Not
 * thread-safe: one session per connection, used by one thread.
 */
#ifndef MX_BENCH_CLIENT_H
#define MX_BENCH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bench/reply.h"

/* Lines of the generated body: 78 printable octets + CRLF. */
#define BENCH_BODY_LINE 80
/* Outstanding BDAT chunks when pipelining. */
#define BENCH_BDAT_WINDOW 4
/* Longest expanded address / EHLO name. */
#define BENCH_ADDR_MAX 256

struct bench_cli_cfg {
	const char *ehlo;	 /* EHLO name */
	const char *sender_tmpl; /* see bench_cli_expand() */
	const char *rcpt_tmpl;
	const char *domain;
	unsigned rcpts;	 /* recipients per message, >= 1 */
	bool pipelining; /* pipeline when PIPELINING is advertised */
	bool bdat;	 /* BDAT when CHUNKING is advertised, else DATA */
	size_t chunk;	 /* BDAT chunk size, >= 1 */
	unsigned thread; /* for templates */
	bool starttls;	 /* STARTTLS after the first EHLO (the transport does the TLS) */
};

/* Counters the session bumps; owned by the caller, may be shared by all the
 * sessions of one thread. Single writer. */
struct bench_cli_stats {
	uint64_t unexpected;	/* replies other than the success reply expected */
	uint64_t rcpt_rejected; /* RCPT replies other than 250/251 */
	uint64_t no_pipelining; /* sessions that wanted PIPELINING, not offered */
	uint64_t no_chunking;	/* sessions that wanted CHUNKING, not offered */
	uint64_t rset;		/* RSETs sent after a refusal */
};

enum bench_cli_state {
	BENCH_CLI_BANNER = 0, /* waiting for 220 */
	BENCH_CLI_EHLO,	      /* EHLO sent */
	BENCH_CLI_IDLE,	      /* ready for a transaction or QUIT */
	BENCH_CLI_TXN,	      /* transaction under way */
	BENCH_CLI_QUIT,	      /* QUIT sent */
	BENCH_CLI_CLOSED,     /* 221 received */
	BENCH_CLI_BROKEN,     /* protocol failure: close the connection */
};

enum bench_cli_ev {
	BENCH_CLI_EV_NONE = 0,	 /* keep going */
	BENCH_CLI_EV_READY,	 /* EHLO accepted: session idle */
	BENCH_CLI_EV_TXN_DONE,	 /* 250 after end of data: session idle */
	BENCH_CLI_EV_TXN_FAILED, /* transaction refused: session idle */
	BENCH_CLI_EV_CLOSED,	 /* QUIT answered: close */
	BENCH_CLI_EV_BROKEN,	 /* c->err says why: close */
	BENCH_CLI_EV_STARTTLS,	 /* 220 to STARTTLS: handshake, then bench_cli_tls_started() */
};

enum bench_cmd {
	BENCH_CMD_EHLO = 0,
	BENCH_CMD_MAIL,
	BENCH_CMD_RCPT,
	BENCH_CMD_DATA,
	BENCH_CMD_DOT,
	BENCH_CMD_BDAT,
	BENCH_CMD_BDAT_LAST,
	BENCH_CMD_RSET,
	BENCH_CMD_QUIT,
	BENCH_CMD_STARTTLS,
};

/* One piece of output: @len bytes at @ext, or at out.buf + @off if !ext. */
struct bench_seg {
	const char *ext;
	size_t off;
	size_t len;
};

/* Output queue: commands are copied into @buf, bodies are referenced. */
struct bench_out {
	char *buf;
	size_t len, cap;
	struct bench_seg *seg;
	size_t head, n, seg_cap;
	size_t head_done; /* bytes of seg[head] already written */
	size_t bytes;	  /* bytes queued and not yet written */
};

struct bench_cli {
	const struct bench_cli_cfg *cfg;
	struct bench_cli_stats *stats;
	enum bench_cli_state state;
	uint64_t conn_id;
	unsigned ext;  /* EHLO keywords of the server */
	bool pipe;     /* pipelining in use */
	bool use_bdat; /* BDAT in use */
	bool tls;      /* the transport finished the TLS handshake */
	const char *err;

	/* FIFO of commands whose replies are awaited. */
	uint8_t *exp;
	unsigned exp_head, exp_n, exp_cap;

	/* Current transaction. */
	uint64_t msg_seq; /* transactions started on this session */
	size_t msg_size;  /* octets of header + body */
	size_t hdr_len;
	size_t sent;	    /* message octets queued (BDAT) */
	unsigned rcpt_sent; /* RCPT commands queued */
	unsigned rcpt_ok;
	unsigned bdat_out; /* BDAT replies awaited */
	bool data_sent;	   /* DATA or the last BDAT queued */
	bool failed;
	char hdr[3 * BENCH_ADDR_MAX + 128];

	struct bench_out out;
};

/** Build the shared body text. Call once before any session, any thread. */
void bench_cli_global_init(void);

/**
 * Expand @tmpl into @dst (@cap bytes, NUL-terminated): %d domain, %c
 * connection id, %m message number on the connection, %r recipient index,
 * %t thread, %% a percent sign. Returns the length, or -1 if it does not fit
 * or the template has an unknown escape.
 */
int bench_cli_expand(char *dst, size_t cap, const char *tmpl, const char *domain, uint64_t conn_id,
		     uint64_t msg, unsigned rcpt, unsigned thread);

/** Prepare a session that waits for the banner. 0 or -ENOMEM. */
int bench_cli_init(struct bench_cli *c, const struct bench_cli_cfg *cfg,
		   struct bench_cli_stats *stats, uint64_t conn_id);
void bench_cli_free(struct bench_cli *c);

/** Feed one reply; returns what the caller has to do. */
enum bench_cli_ev bench_cli_on_reply(struct bench_cli *c, const struct bench_reply *r);

/** Start a transaction of @size octets on an idle session. 0 or -errno. */
int bench_cli_start_txn(struct bench_cli *c, size_t size);

/** The transport finished the TLS handshake after BENCH_CLI_EV_STARTTLS:
 * EHLO again (RFC 3207 4.2). 0 or -errno. */
int bench_cli_tls_started(struct bench_cli *c);

/** Send QUIT on an idle session. 0 or -errno. */
int bench_cli_quit(struct bench_cli *c);

/** Fill up to @max iovecs with queued output; returns how many. */
int bench_out_iov(const struct bench_out *o, struct iovec *iov, int max);
/** Drop @n written bytes from the front of the queue. */
void bench_out_consume(struct bench_out *o, size_t n);

#endif
