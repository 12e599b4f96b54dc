/*
 * tcp-int.h - internals of the TCP core, shared by its .c files and by its
 * unit tests and fuzz target (which check invariants on TCB fields). Not
 * for the dataplane or the SMTP engine: they use tcp.h.
 *
 * Memory: every object here lives in a pool allocated by
 * tcp_stack_create(); free lists are singly linked through the objects.
 */
#ifndef MX_DATAPLANE_TCP_TCP_INT_H
#define MX_DATAPLANE_TCP_TCP_INT_H

#include "core/log.h"
#include "dataplane/tcp/tcp.h"

#define TCP_OPT_EOL	  0
#define TCP_OPT_NOP	  1
#define TCP_OPT_MSS	  2
#define TCP_OPT_WS	  3
#define TCP_OPT_SACK_PERM 4
#define TCP_OPT_SACK	  5
#define TCP_OPT_TS	  8

#define TCP_WS_MAX	    14
#define TCP_SACK_BLOCKS_IN  4 /* most blocks in one SACK option (40 bytes) */
#define TCP_SACK_SCOREBOARD 8
#define TCP_DEFAULT_MSS4    536	 /* RFC 9293 3.7.1: MSS when the option is absent */
#define TCP_DEFAULT_MSS6    1220 /* RFC 8200 minimum MTU 1280 - 60 */
#define TCP_PAWS_IDLE_US    (24ull * 86400 * 1000000) /* RFC 7323 5.5 */

/* ---- options -------------------------------------------------------- */

struct tcp_sack_block {
	uint32_t start; /* first sequence number of the block */
	uint32_t end;	/* one past the last */
};

/* Parsed options of one segment. */
struct tcp_opts {
	bool mss_ok, ws_ok, sack_perm, ts_ok;
	uint16_t mss;
	uint8_t ws;
	uint8_t nsack;
	uint32_t tsval, tsecr;
	struct tcp_sack_block sack[TCP_SACK_BLOCKS_IN];
};

/**
 * Parse @len bytes of options at @p into @o (zeroed first). An option with
 * length 0/1 or running past the end stops the parse; an option whose
 * length does not match its kind is skipped (RFC 9293 3.1: be robust).
 * MSS/WS/SACK-permitted are only taken from SYN segments (@syn).
 * Returns 0 if well-formed, -EINVAL if anything was malformed (what came
 * before the error is kept).
 */
int tcp_opt_parse(const uint8_t *p, size_t len, bool syn, struct tcp_opts *o);

/* ---- RTT / RTO (RFC 6298) ------------------------------------------- */

struct tcp_rtt {
	uint32_t srtt_us; /* 0 until the first sample */
	uint32_t rttvar_us;
	uint32_t rto_us; /* current RTO without backoff */
	uint32_t min_us, max_us;
	bool sampled;
};

void tcp_rtt_init(struct tcp_rtt *r, uint32_t initial_us, uint32_t min_us, uint32_t max_us);
/** Feed one RTT measurement (RFC 6298 2.2/2.3, G = 1 ms). */
void tcp_rtt_sample(struct tcp_rtt *r, uint32_t m_us);
/** RTO after @backoff doublings, bounded by max (RFC 6298 5.5). */
uint32_t tcp_rtt_rto(const struct tcp_rtt *r, unsigned backoff);

/* ---- SACK scoreboard (sender side) ---------------------------------- */

/* Blocks the peer reported, sorted, disjoint, all above snd_una. */
struct tcp_sackboard {
	uint8_t n;
	struct tcp_sack_block b[TCP_SACK_SCOREBOARD];
};

/** Merge the @n blocks of one ACK into @sb. Blocks that are empty,
 * inverted, above @snd_max or entirely below @snd_una are ignored; when
 * the board is full the highest blocks are dropped (holes near snd_una
 * matter most). */
void tcp_sack_update(struct tcp_sackboard *sb, uint32_t snd_una, uint32_t snd_max,
		     const struct tcp_sack_block *in, unsigned n);
/** Forget everything at or below @snd_una. */
void tcp_sack_prune(struct tcp_sackboard *sb, uint32_t snd_una);
/** First hole [*start, *end) at or after @from and below the highest
 * SACKed byte. Returns false if there is none. */
bool tcp_sack_next_hole(const struct tcp_sackboard *sb, uint32_t from, uint32_t *start,
			uint32_t *end);
/** Bytes covered by the board. */
uint32_t tcp_sack_bytes(const struct tcp_sackboard *sb);
bool tcp_sack_has(const struct tcp_sackboard *sb, uint32_t seq);

/* ---- buffers -------------------------------------------------------- */

/* Send-buffer chunk; data[] is cfg.chunk_size bytes. */
struct tcp_chunk {
	struct tcp_chunk *next;
	uint8_t data[];
};

/* A held piece of a received buffer (in-order queue or OOO queue). */
struct tcp_rseg {
	struct tcp_rseg *next;
	void *buf;	     /* handle passed to buf_ref/buf_free */
	const uint8_t *data; /* first byte not yet consumed/trimmed */
	uint32_t seq;	     /* sequence number of data[0] */
	uint32_t len;
	uint32_t truesize; /* env.buf_truesize() of buf when taken, 0 if none */
};

/* What a held piece costs against the budgets: the whole buffer it pins,
 * or its payload if that is larger (or no truesize is known). */
static inline uint32_t tcp_rseg_charge(const struct tcp_rseg *r)
{
	return r->truesize > r->len ? r->truesize : r->len;
}

/* ---- TIME_WAIT ------------------------------------------------------ */

#define TCP_TW_TS   0x01 /* timestamps in use */
#define TCP_TW_NONE UINT32_MAX

/* Compact TIME_WAIT entry (72 bytes): what RFC 9293/1337/7323 need to
 * answer a late segment, nothing more. Entries sit on a FIFO ordered by
 * expiry (every entry lives time_wait_ms), so one stack timer reaps them. */
struct tcp_tw {
	uint8_t type;	     /* TCP_OBJ_TW */
	uint8_t flags;	     /* TCP_TW_* */
	uint16_t rcv_wnd;    /* window field to advertise (already scaled) */
	uint32_t prev, next; /* FIFO links (pool indices) */
	uint32_t snd_nxt;
	uint32_t rcv_nxt;
	uint32_t ts_recent;
	uint32_t ts_offset;
	uint32_t expires_ms; /* wheel tick, mod 2^32 */
	struct tcp_key key;
};

/* ---- TCB ------------------------------------------------------------ */

enum tcp_rtx_mode {
	TCP_RTX_NONE = 0,
	TCP_RTX_RTO,	 /* retransmission timer (SYN, SYN-ACK, data, FIN) */
	TCP_RTX_PERSIST, /* zero-window probes */
	TCP_RTX_REO,	 /* RACK reordering window (RFC 8985 6.2 step 5) */
	TCP_RTX_TLP,	 /* tail loss probe timeout (RFC 8985 7.2) */
};

/*
 * Transmit record: one segment (or, when the table is full, several
 * neighbouring ones merged) of [snd_una, snd_max), with its last send time.
 * The per-connection table is the RFC 6675 scoreboard (flags) and the RFC
 * 8985 RACK state (send times); it lives in a slice of a stack-wide array
 * sized at creation (tcp_txr_cap()), so the segment path never allocates.
 * Records are sorted, contiguous and cover exactly [snd_una, snd_max).
 */
#define TCP_TXR_SACKED 0x01 /* covered by the peer's SACK blocks */
#define TCP_TXR_LOST   0x02 /* deemed lost (IsLost or RACK) */
#define TCP_TXR_RTX    0x04 /* a retransmission is in flight (counts in pipe) */
#define TCP_TXR_EVER   0x08 /* retransmitted at least once (RTT ambiguous) */

struct tcp_txrec {
	uint32_t seq, end; /* sequence space, FIN included */
	uint32_t xmit_us;  /* low 32 bits of the last send time */
	uint8_t flags;	   /* TCP_TXR_* */
	uint8_t pad[3];
};

#define TCP_DUPTHRESH	  3  /* RFC 6675 DupThresh, raised on observed reordering */
#define TCP_DUPTHRESH_MAX 32 /* bound of the adaptive DupThresh */
#define TCP_RTX_HIST	  8  /* retransmitted ranges remembered below snd_una (D-SACK undo) */
#define TCP_TLP_MAX	  3  /* loss probes (PTO, 2 PTO, 4 PTO) before the RTO */

/* Pending-event bits (dispatched after the TCB is consistent). */
#define TCP_EVB(ev) (1u << (ev))

struct tcp_tcb {
	uint8_t type; /* TCP_OBJ_TCB; must stay first */
	uint8_t state;
	uint8_t close_reason;
	uint8_t rtx_mode;
	uint8_t snd_wscale, rcv_wscale;
	uint8_t backoff;     /* RTO doublings / persist probes: kept until a valid
			      * RTT sample (Karn, RFC 6298 5 note 2), <= 31 */
	uint8_t rto_retrans; /* RTO expiries since the last new ACK: abort at
			      * cfg.retries, first/second timeout of a loss */
	uint8_t probes;	     /* keepalive / persist probes unanswered */
	uint8_t dupacks;
	/* flags */
	bool in_table; /* in the flow table */
	bool detached; /* application released it (tcp_close/tcp_abort) */
	bool passive;  /* created by a listener */
	bool tracked;  /* reported to env.conn_track */
	bool reaping;  /* on the stack's deferred-free list */
	bool ts_ok, sack_ok, ws_ok;
	bool nodelay, keepalive;
	bool fin_queued; /* application shut down: FIN after the data */
	bool fin_sent;	 /* FIN transmitted at least once */
	bool fin_acked;
	bool peer_fin;	      /* FIN received (rcv_nxt counts it) */
	bool ooo_fin;	      /* FIN seen beyond a hole, at ooo_fin_seq */
	bool in_recovery;     /* fast recovery (NewReno or RFC 6675 + PRR) */
	bool in_loss;	      /* SACK: RTO recovery until snd_una >= recover */
	bool rtt_timing;      /* rtt_seq/rtt_start valid (no timestamps) */
	bool ack_now;	      /* send an ACK at the end of this event */
	bool want_write;      /* tcp_send() was short: WRITABLE when space opens */
	bool on_waitq;	      /* waiting for the global chunk pool */
	uint8_t segs_unacked; /* full segments received since our last ACK */
	uint16_t ev_pending;  /* TCP_EVB() bits */

	struct tcp_key key;
	struct tcp_stack *st;
	tcp_event_fn cb;
	void *user;
	struct tcp_listener *listener; /* while SYN_RECEIVED (passive) */
	struct tcp_tcb *lnext, *lprev; /* listener's embryo list */
	struct tcp_tcb *reap_next;
	struct tcp_tcb *wait_next; /* stack's chunk-pool wait queue */
	struct tcp_tcb *free_next;

	/* send sequence space (RFC 9293 3.3.1) */
	uint32_t iss, snd_una, snd_nxt, snd_max;
	uint32_t snd_wnd, max_snd_wnd, snd_wl1, snd_wl2;
	uint32_t recover;  /* RecoveryPoint: snd_max when recovery started */
	uint32_t rtx_next; /* NewReno: end of the last retransmission */
	uint32_t cwnd, ssthresh, ca_acked;

	/* SACK loss recovery (tcp_recovery.c): RFC 6675, RFC 6937 PRR,
	 * RFC 8985 RACK-TLP, D-SACK undo (RFC 2883, 3708). */
	struct tcp_txrec *txr; /* slice of st->txrs, txr_cap entries */
	uint16_t ntxr, txr_cap;
	uint8_t dupthresh; /* DupThresh in segments (adaptive) */
	uint8_t reo_mult;  /* RACK reo_wnd multiplier (D-SACK driven) */
	uint8_t reo_persist;
	uint8_t tlp_cnt;  /* probes sent since the last ACK with news */
	bool rescue_done; /* RFC 6675 rule 4 used in this recovery */
	bool rack_valid;  /* rack_* hold a delivered segment */
	bool reord_seen;  /* RACK.reord */
	bool dsack_round; /* reo_mult raised in this round trip */
	bool tlp_out;	  /* a loss probe is outstanding */
	bool tlp_rtx;	  /* ... and it was a retransmission */
	bool undo_valid;  /* undo_* describe the last reduction */
	uint32_t prr_delivered, prr_out, recover_fs;
	uint32_t rack_xmit_us, rack_end, rack_rtt_us, rack_fack;
	uint32_t min_rtt_us;
	uint64_t min_rtt_stamp_us;
	uint64_t reo_deadline_us; /* 0: no RACK reordering timer needed */
	uint32_t dsack_round_end;
	uint32_t tlp_high_seq;
	uint32_t undo_marker, undo_retrans, undo_sent;
	uint32_t prior_cwnd, prior_ssthresh;
	uint8_t nrtx_hist;
	struct tcp_sack_block rtx_hist[TCP_RTX_HIST];
	uint16_t mss; /* send MSS: min(peer MSS, path MTU) without options */
	uint16_t peer_mss;
	uint16_t pmtu;
	/* send buffer: bytes [snd_una, snd_una + sb_len) (FIN excluded) */
	struct tcp_chunk *sb_head, *sb_tail;
	uint32_t sb_off; /* offset of snd_una's byte in sb_head */
	uint32_t sb_len;
	uint32_t sb_chunks;

	/* receive sequence space */
	uint32_t irs, rcv_nxt, rcv_adv, last_ack_sent;
	uint32_t ooo_fin_seq;
	struct tcp_rseg *rq_head, *rq_tail; /* in order, unread */
	struct tcp_rseg *ooo;		    /* sorted, beyond rcv_nxt */
	uint32_t rq_bytes, ooo_bytes;	    /* payload bytes */
	uint32_t rq_charge, ooo_charge;	    /* tcp_rseg_charge() sums */
	uint16_t rq_segs, ooo_segs;
	uint32_t ooo_last_seq;	 /* start of the last OOO arrival (first SACK block) */
	uint32_t sack_recent[3]; /* latest OOO arrivals, newest first (RFC 2018 4) */
	uint8_t nsack_recent;
	bool dsack_pending; /* report dsack as first block (RFC 2883) */
	struct tcp_sack_block dsack;

	/* timestamps (RFC 7323) */
	uint32_t ts_recent, ts_offset;
	uint64_t ts_recent_us;

	/* RTT (RFC 6298) */
	struct tcp_rtt rtt;
	uint32_t rtt_seq;
	uint64_t rtt_start_us;
	uint64_t last_rcv_us;

	struct tcp_sackboard sb;

	/* Wheel tick at which the running retransmission timeout is due, 0
	 * if none runs (RFC 6298 5.1: started when data goes out and none
	 * runs, restarted only by an ACK of new data (5.3) or by its own
	 * expiry with the backoff (5.5, 5.6)). rtx_timer may fire earlier as
	 * a RACK reordering or loss-probe timer, never later: probes do not
	 * move this deadline, so they cannot hold the backoff back. */
	uint64_t rto_due_ms;
	/* When the peer's window began to hold our data back (persist timer
	 * first armed), 0 if it does not. Only a window that takes a full
	 * segment (or all we have) clears it, not the ACKs of our probes:
	 * cfg.zero_window_max_ms bounds the whole episode. */
	uint64_t zwnd_since_us;

	struct timer_entry rtx_timer;	 /* RTO / persist */
	struct timer_entry delack_timer; /* delayed ACK */
	struct timer_entry ka_timer;	 /* keepalive / FIN_WAIT_2 */
	struct timer_entry life_timer;	 /* cfg.lifetime_max_ms */
};

struct tcp_listener {
	bool used;
	uint8_t family;
	uint16_t port;
	unsigned backlog;
	unsigned synq_len;
	struct tcp_tcb *embryos; /* SYN_RECEIVED TCBs */
	tcp_event_fn cb;
	void *user;
	struct tcp_stack *st;
	uint64_t cookie_sent_us; /* last SYN cookie sent (0: never) */
};

struct tcp_stack {
	struct tcp_config cfg;
	struct tcp_env env;
	struct timer_wheel *wheel;
	uint64_t now_us;
	unsigned depth; /* nesting of entry points; frees deferred while > 0 */

	struct tcp_tcb *tcbs;
	struct tcp_tcb *tcb_free;
	uint32_t tcbs_used;

	struct tcp_tw *tws;
	uint32_t tw_free; /* singly linked through .next */
	uint32_t tw_head, tw_tail;
	uint32_t tws_used;
	struct timer_entry tw_timer;

	uint8_t *chunk_mem;
	struct tcp_chunk *chunk_free;
	uint32_t chunks_used;

	struct tcp_txrec *txrs; /* max_tcbs * txr_cap transmit records */
	uint16_t txr_cap;

	struct tcp_rseg *rsegs;
	struct tcp_rseg *rseg_free;
	uint32_t rsegs_used;
	uint64_t rcv_held;  /* tcp_rseg_charge() of every held piece */
	uint64_t ooo_held;  /* ... of the out-of-order pieces (<= rcv_mem / 2) */
	uint32_t ooo_rsegs; /* out-of-order pieces, all connections (<= rcv_segs / 2) */
	uint64_t bufs_held; /* buf_ref() minus buf_free() */

	struct tcp_listener *listeners;

	struct tcp_tcb *reap;  /* deferred frees */
	struct tcp_tcb *waitq; /* TCBs whose tcp_send() hit the global chunk pool */

	uint64_t chal_window_s;
	uint32_t chal_count;
	uint32_t eph_next;
	uint16_t our_mss4, our_mss6;
	uint8_t rcv_wscale;

	struct tcp_stats stats;
};

/* Counters: single writer, relaxed atomic stores so ctl can read them. */
#define TCP_INC(st, f)	  __atomic_store_n(&(st)->stats.f, (st)->stats.f + 1, __ATOMIC_RELAXED)
#define TCP_DEC(st, f)	  __atomic_store_n(&(st)->stats.f, (st)->stats.f - 1, __ATOMIC_RELAXED)
#define TCP_ADD(st, f, n) __atomic_store_n(&(st)->stats.f, (st)->stats.f + (n), __ATOMIC_RELAXED)

/* Received segment after header parsing. */
struct tcp_seg {
	uint32_t seq, ack;
	uint32_t wnd; /* raw window field */
	uint8_t flags;
	const uint8_t *data;
	uint32_t len;
	void *buf;
	struct tcp_opts opt;
};

static inline uint32_t tcp_seg_seqlen(const struct tcp_seg *s)
{
	return s->len + !!(s->flags & TCP_SYN) + !!(s->flags & TCP_FIN);
}

static inline uint64_t tcp_now_ms(const struct tcp_stack *st)
{
	return st->now_us / 1000;
}

/* ---- cross-file internals ------------------------------------------- */

/* tcp_isn.c */
uint32_t tcp_isn(struct tcp_stack *st, const struct tcp_key *key);
uint32_t tcp_ts_offset(struct tcp_stack *st, const struct tcp_key *key);
/** SYN cookie ISN for a SYN with @peer_isn; @mss_idx in 0..7. */
uint32_t tcp_cookie_make(struct tcp_stack *st, const struct tcp_key *key, uint32_t peer_isn,
			 unsigned mss_idx);
/** Validate cookie @ack-1 for an ACK with sequence @seq. Returns the MSS
 * encoded, or 0 if forged or stale (older than 2 cookie periods). */
uint16_t tcp_cookie_check(struct tcp_stack *st, const struct tcp_key *key, uint32_t seq,
			  uint32_t ack);
/** Index into the cookie MSS table of the largest entry <= @mss. */
unsigned tcp_cookie_mss_idx(uint16_t mss);
uint16_t tcp_cookie_mss(unsigned idx);
/* Timestamp low bits carrying wscale/SACK in cookie SYN-ACKs. */
#define TCP_COOKIE_TS_MASK 0x3fu
uint32_t tcp_cookie_ts_encode(bool ws_ok, uint8_t ws, bool sack_ok);
/** Decode: false if @tsecr does not carry cookie options. */
bool tcp_cookie_ts_decode(uint32_t tsecr, bool *ws_ok, uint8_t *ws, bool *sack_ok);

/* tcp_buf.c */
struct tcp_chunk *tcp_chunk_alloc(struct tcp_stack *st);
void tcp_chunk_put(struct tcp_stack *st, struct tcp_chunk *c);
/* Send-memory pressure (cfg.snd_pressure_pct of the chunk pool in use):
 * new connections are refused, and a connection already holding
 * tcp_sb_pressure_cap() bytes gets no more room, so that what is left
 * serves the sessions that are moving rather than peers that do not read
 * (a zero window pins what it holds until zero_window_max_ms). */
static inline bool tcp_snd_pressure(const struct tcp_stack *st)
{
	return st->cfg.snd_pressure_pct &&
	       (uint64_t)st->chunks_used * 100 >=
		       (uint64_t)st->cfg.snd_chunks * st->cfg.snd_pressure_pct;
}

static inline uint32_t tcp_sb_pressure_cap(const struct tcp_stack *st)
{
	uint32_t cap = st->cfg.sndbuf / 8;

	return cap < 2 * st->cfg.chunk_size ? 2 * st->cfg.chunk_size : cap;
}

size_t tcp_sb_space(const struct tcp_tcb *t);
size_t tcp_sb_append(struct tcp_tcb *t, const uint8_t *data, size_t len);
void tcp_sb_drop(struct tcp_tcb *t, uint32_t n);
void tcp_sb_clear(struct tcp_tcb *t);
/** Pieces of send-buffer bytes [off, off + len) (off from snd_una). Returns
 * the piece count; *len_out may be smaller than @len if pieces ran out. */
unsigned tcp_sb_iov(const struct tcp_tcb *t, uint32_t off, uint32_t len, struct tcp_iov *iov,
		    unsigned max, uint32_t *len_out);
struct tcp_rseg *tcp_rseg_get(struct tcp_tcb *t, void *buf, const uint8_t *data, uint32_t seq,
			      uint32_t len);
/** Release @r: its charge leaves rcv_held; the caller has already taken
 * it off its list (and off rq_charge / ooo_charge). */
void tcp_rseg_put(struct tcp_tcb *t, struct tcp_rseg *r);
/** Drop the first @k bytes of @r (k < r->len), keeping rcv_held right.
 * Returns how much r's charge fell (0 while the buffer's truesize still
 * dominates): the caller subtracts it from its list's charge. */
uint32_t tcp_rseg_trim(struct tcp_tcb *t, struct tcp_rseg *r, uint32_t k);
void tcp_rq_clear(struct tcp_tcb *t);
void tcp_ooo_clear(struct tcp_tcb *t);
/** Receive window we can offer now (bytes, before scaling/SWS). */
uint32_t tcp_rcv_space(const struct tcp_tcb *t);
/** Queue payload of @s (already trimmed to the window): in order or OOO. */
void tcp_rcv_data(struct tcp_tcb *t, const struct tcp_seg *s);
/** SACK blocks describing the OOO queue (first = most recent arrival). */
unsigned tcp_rcv_sack_blocks(const struct tcp_tcb *t, struct tcp_sack_block *b, unsigned max);

/* tcp_recovery.c (SACK connections; records are kept for all) */
/** Records per connection for a send buffer of @sndbuf bytes. */
uint16_t tcp_txr_cap(uint32_t sndbuf);
/** Note the transmission of [seq, seq + n) (FIN included); call before
 * snd_max moves. Anything below snd_max is a retransmission. */
void tcp_txr_sent(struct tcp_tcb *t, uint32_t seq, uint32_t n);
/** Forget records at or below snd_una (no RACK bookkeeping). */
void tcp_txr_drop_acked(struct tcp_tcb *t);
/** RFC 6675 SetPipe: bytes presumed in the network. */
uint32_t tcp_pipe(const struct tcp_tcb *t);
/** Sender side of an acceptable ACK on a SACK connection, after snd_una
 * moved from @prior_una by @acked: scoreboard, RACK, loss marking,
 * recovery entry/exit, PRR or window growth, timer. */
void tcp_rec_ack(struct tcp_tcb *t, const struct tcp_seg *s, uint32_t prior_una, uint32_t acked);
/** Transmit what RFC 6675 NextSeg allows within cwnd - pipe (recovery or
 * RTO recovery). Returns true if anything was sent. */
bool tcp_rec_output(struct tcp_tcb *t);
/** Arm the one retransmission timer as RACK reordering, TLP or RTO.
 * @restart: an ACK advanced snd_una (RFC 6298 5.3: restart the RTO);
 * @new_data: new data left or an ACK brought news (RFC 8985 7.2: restart
 * the PTO). */
void tcp_rec_schedule(struct tcp_tcb *t, bool restart, bool new_data);
/** Timer callbacks for TCP_RTX_REO, TCP_RTX_TLP and the RTO of a SACK
 * connection. */
void tcp_rec_reo_fire(struct tcp_tcb *t);
void tcp_rec_tlp_fire(struct tcp_tcb *t);
void tcp_rec_rto(struct tcp_tcb *t);
/** Slow start / congestion avoidance growth for @acked bytes. */
void tcp_cc_grow(struct tcp_tcb *t, uint32_t acked);

/* tcp_output.c */
void tcp_output(struct tcp_tcb *t);
void tcp_send_ack(struct tcp_tcb *t);
void tcp_send_syn(struct tcp_tcb *t);
void tcp_send_rst_tcb(struct tcp_tcb *t);
void tcp_send_probe(struct tcp_tcb *t);
/** Send data [seq, seq+len) (plus FIN if it ends there and FIN is queued);
 * returns the sequence space sent. */
uint32_t tcp_xmit_data(struct tcp_tcb *t, uint32_t seq, uint32_t len, bool force);
void tcp_send_rst_key(struct tcp_stack *st, const struct tcp_key *key, uint32_t seq, uint32_t ack,
		      uint8_t flags);
void tcp_send_synack_cookie(struct tcp_stack *st, const struct tcp_key *key,
			    const struct tcp_seg *s, uint32_t iss, uint16_t mss);
void tcp_tw_send_ack(struct tcp_stack *st, struct tcp_tw *tw);
uint16_t tcp_effective_mss(const struct tcp_tcb *t);
void tcp_challenge_ack(struct tcp_tcb *t);

/* tcp_timer.c */
void tcp_timers_init(struct tcp_tcb *t);
void tcp_timers_cancel(struct tcp_tcb *t);
/** Start the RTO from now with the current backoff (RFC 6298 5.3/5.6). */
void tcp_rtx_arm(struct tcp_tcb *t);
/** Deadline of the running RTO (rto_due_ms), started from now if none
 * runs (RFC 6298 5.1). Does not touch rtx_timer. */
uint64_t tcp_rto_due(struct tcp_tcb *t);
/** Arm rtx_timer as the RTO at its running deadline (tcp_rto_due()). */
void tcp_rto_arm_due(struct tcp_tcb *t);
void tcp_rtx_restart(struct tcp_tcb *t);
/** Arm the persist timer (probe after the backed-off RTO), no later than
 * the zero-window bound; starts the zero-window clock if not running. */
void tcp_persist_arm(struct tcp_tcb *t);
/** After a window update: if the peer's window now lets data out without
 * forcing (a full segment, all that is unsent, or half its largest
 * window), the zero-window episode, if any, is over. */
void tcp_zwnd_check_open(struct tcp_tcb *t);
void tcp_delack_arm(struct tcp_tcb *t);
/** Keepalive (ESTABLISHED, CLOSE_WAIT) or, in FIN_WAIT_2, the bound on
 * waiting for the peer's FIN (cfg.fin_wait2_ms from entering the state,
 * attached or not); cancels the timer in any other state. */
void tcp_ka_arm(struct tcp_tcb *t);
/** Arm the absolute lifetime (cfg.lifetime_max_ms from now, if set). */
void tcp_life_arm(struct tcp_tcb *t);
void tcp_tw_timer_cb(struct timer_entry *e);
uint64_t tcp_timer_now_us(struct tcp_stack *st);

/* tcp_stack.c */
struct tcp_tcb *tcp_tcb_alloc(struct tcp_stack *st);
void tcp_enter_state(struct tcp_tcb *t, enum tcp_state s);
void tcp_event(struct tcp_tcb *t, enum tcp_event ev);
/** Move to CLOSED with @reason: timers off, out of the flow table, CLOSED
 * event if attached, freed when detached. */
void tcp_done(struct tcp_tcb *t, enum tcp_close_reason reason);
void tcp_enter_timewait(struct tcp_tcb *t);
void tcp_tcb_try_free(struct tcp_tcb *t);
void tcp_enter(struct tcp_stack *st, uint64_t now_us);
void tcp_leave(struct tcp_stack *st);
void tcp_dispatch(struct tcp_tcb *t);
void tcp_tw_remove(struct tcp_stack *st, struct tcp_tw *tw);
void tcp_waitq_add(struct tcp_tcb *t);
void tcp_tw_restart(struct tcp_stack *st, struct tcp_tw *tw);
void tcp_tw_reopen(struct tcp_stack *st, const struct tcp_key *key, struct tcp_seg *s,
		   uint32_t iss);
void tcp_listener_unlink(struct tcp_tcb *t);
bool tcp_challenge_allowed(struct tcp_stack *st);

/* tcp_input.c */
void tcp_tcb_input(struct tcp_tcb *t, struct tcp_seg *s);
void tcp_listen_input(struct tcp_listener *l, const struct tcp_key *key, struct tcp_seg *s,
		      bool have_iss, uint32_t iss);
void tcp_tw_input(struct tcp_stack *st, struct tcp_tw *tw, const struct tcp_key *key,
		  struct tcp_seg *s);
/** Parse header + options of a raw segment. Returns 0 or -EINVAL. */
int tcp_seg_parse(const uint8_t *p, size_t len, struct tcp_seg *s, bool *opt_err);
void tcp_negotiate(struct tcp_tcb *t, const struct tcp_opts *o);
void tcp_init_cc(struct tcp_tcb *t);

#endif
