/*
 * ctlbox.h - the control thread's mailbox into one worker's SMTP sessions:
 * `show sessions` (a snapshot of every live session), `kill session`,
 * `kill sessions NET/LEN`, and the drain flag.
 *
 * DESIGN. Workers take no lock and make no syscall, so the control thread
 * never touches a worker's slots. Each worker has one box (allocated at
 * boot with room for a snapshot of every slot). The control thread fills
 * the request fields and publishes it by bumping @req (store-release); the
 * worker's poll hook sees @req != @done (one relaxed load per loop, then
 * acquire), serves it on its own lcore (walks its slots into the box's
 * snapshot array, or kills), fills the answer and publishes it by storing
 * @done = @req (release). The control thread polls @done from a loop timer
 * (ctl/sessions.c) and reads the answer after an acquire load. One request
 * is outstanding per box at a time: the control side serialises them.
 * Nothing is allocated after boot; a stalled worker only delays the ctl
 * client (which has a deadline), never another worker.
 *
 * The drain mode is a separate byte the worker polls (relaxed) and copies
 * into its connection table; while draining, the worker also ends every
 * session that is between transactions (smtp_conn_kill()) every
 * SMTP_CTLBOX_DRAIN_SCAN_US, so a drain ends as soon as transactions do.
 */
#ifndef MX_SMTP_CTLBOX_H
#define MX_SMTP_CTLBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "smtp/conn-t.h"

#define SMTP_CTLBOX_HELO_MAX	  64 /* shown octets of HELO, sender (truncated) */
#define SMTP_CTLBOX_FROM_MAX	  96
#define SMTP_CTLBOX_RDNS_MAX	  253 /* a whole DNS name */
#define SMTP_CTLBOX_DRAIN_SCAN_US 10000

/* Top talkers (show top): per worker, SMTP_TOP_SETS x SMTP_TOP_WAYS
 * client addresses with what their finished sessions did; a new address
 * takes the way of its set with the fewest connections (bounded memory,
 * heavy hitters stay). */
#define SMTP_TOP_SETS  1024
#define SMTP_TOP_WAYS  4
#define SMTP_TOP_SLOTS (SMTP_TOP_SETS * SMTP_TOP_WAYS)

struct smtp_top_entry {
	struct smtp_peer peer; /* port 0; family 0: empty */
	uint64_t conns;	       /* sessions ended */
	uint64_t msgs;	       /* messages answered 250 by the spool */
	uint64_t bytes;	       /* octets received */
	uint64_t refused;      /* 4xx/5xx replies sent */
};

enum smtp_ctlbox_op {
	SMTP_CTLBOX_LIST = 1, /* snapshot every live session */
	SMTP_CTLBOX_TOP,      /* copy the top talkers table into @top_snap */
	SMTP_CTLBOX_KILL_ID,  /* end the session whose serial is @id */
	SMTP_CTLBOX_KILL_NET, /* end every session whose client is in @net/@prefix */
};

/* One live session as the worker saw it. */
struct smtp_sess_info {
	uint64_t serial;
	uint32_t slot;
	uint8_t state;	   /* enum smtp_state */
	uint8_t park_kind; /* enum smtp_ticket_kind; 0: not parked */
	bool kill_pending; /* kill asked, waiting for its parked command */
	bool tls;	   /* a transport is stacked on TCP (STARTTLS done) */
	uint32_t nrcpt;	   /* recipients of the transaction in progress */
	struct smtp_peer peer;
	uint64_t age_us, idle_us;
	uint64_t bytes_in, bytes_out;
	char helo[SMTP_CTLBOX_HELO_MAX + 1];
	char from[SMTP_CTLBOX_FROM_MAX + 1]; /* "" outside a transaction; "<>" null sender */
	char rdns[SMTP_CTLBOX_RDNS_MAX + 1]; /* forward-confirmed reverse name; "" none (yet) */
};

/* The client's verified reverse name for the session in connection slot
 * @slot, or NULL (none, not looked up yet, or not confirmed). Owner lcore;
 * the string is copied at once. The policy stage's pol_stage_rdns(). */
typedef const char *(*smtp_ctlbox_rdns_fn)(void *arg, uint32_t slot);

struct smtp_ctlbox {
	/* request: the control thread writes, then bumps @req (release) */
	uint32_t req;
	uint8_t op;	      /* enum smtp_ctlbox_op */
	uint64_t id;	      /* KILL_ID */
	struct smtp_peer net; /* KILL_NET: family and address */
	uint8_t prefix;	      /* KILL_NET: prefix length */
	/* answer: the worker writes, then stores @done = @req (release) */
	uint32_t done;
	unsigned n; /* LIST: entries in @snap; KILL_*: sessions ended */
	/* drain: the control thread stores, the worker polls (relaxed) */
	uint8_t drain; /* enum smtp_conn_drain */
	uint8_t drain_seen;
	uint64_t next_scan_us;
	unsigned worker;
	unsigned cap;
	struct smtp_sess_info *snap;	 /* [cap] */
	struct smtp_top_entry *top;	 /* [SMTP_TOP_SLOTS], the worker's */
	struct smtp_top_entry *top_snap; /* [SMTP_TOP_SLOTS], TOP answers */
	uint64_t top_evicted;		 /* addresses pushed out (worker writes) */
	smtp_ctlbox_rdns_fn rdns;	 /* NULL: no reverse names shown */
	void *rdns_arg;
};

/** A box for a worker whose table has @slots slots. Boot path. NULL with
 * errno ENOMEM. */
struct smtp_ctlbox *smtp_ctlbox_create(unsigned worker, unsigned slots);
void smtp_ctlbox_destroy(struct smtp_ctlbox *b);

/** Serve a pending request and apply the drain mode on @tab. Owner
 * (worker) lcore, from the worker loop (not inside a stage). */
void smtp_ctlbox_poll(struct smtp_ctlbox *b, struct smtp_conn_table *tab);

/** Where LIST snapshots take the client's reverse name from (NULL: none).
 * Boot, before the worker runs. */
void smtp_ctlbox_set_rdns(struct smtp_ctlbox *b, smtp_ctlbox_rdns_fn fn, void *arg);

/** Control side: publish the request filled in @b. Returns 0, or -EBUSY
 * if the previous one is not answered yet. Control thread only. */
int smtp_ctlbox_post(struct smtp_ctlbox *b);

/** Control side: has the last posted request been answered? Control
 * thread only; afterwards @b->n and @b->snap may be read. */
bool smtp_ctlbox_answered(const struct smtp_ctlbox *b);

/** Control side: set the drain mode (enum smtp_conn_drain). Any thread. */
void smtp_ctlbox_set_drain(struct smtp_ctlbox *b, uint8_t mode);

/** Account a finished session of @c (its counters at release) in @b's
 * top talkers. The release hook of the connection table (conn.h
 * smtp_conn_on_finish()); owner lcore. */
void smtp_ctlbox_account(void *b, const struct smtp_conn *c);

/** Does @peer fall in @net/@prefix (same family only)? */
bool smtp_peer_in_net(const struct smtp_peer *peer, const struct smtp_peer *net, unsigned prefix);

#endif
