/*
 * harness.h - a plain-C environment for the TCP core in unit tests and the
 * fuzz replay: a flow table, reference-counted receive buffers (leak
 * checked), SipHash-2-4 through OpenSSL as the keyed hash, a segment log
 * of everything the stack sent, and a lossy in-memory link between two
 * stacks. Not thread-safe; no cmocka dependency (the fuzzer uses it).
 */
#ifndef MX_TESTS_TCP_HARNESS_H
#define MX_TESTS_TCP_HARNESS_H

#include "dataplane/tcp/tcp-int.h"

#define H_FLOWS	 4096 /* flow table slots (power of two) */
#define H_LOG	 256  /* segments kept in the output log */
#define H_EVENTS 256

/* A received buffer: the harness's stand-in for an mbuf. */
struct hbuf {
	int refs;
	size_t len;
	uint8_t data[];
};

/* One segment the stack sent (copied). */
struct hseg {
	struct tcp_key key;
	uint32_t seq, ack, wnd;
	uint8_t flags;
	struct tcp_opts opt;
	uint8_t hdr[TCP_HDR_MAX];
	size_t hlen;
	uint8_t *data; /* malloc'd payload */
	uint32_t len;
};

struct hevent {
	struct tcp_tcb *t;
	enum tcp_event ev;
	int reason;
};

struct hflow {
	struct tcp_key key;
	void *obj; /* NULL: empty; H_TOMB: deleted */
};

struct henv;
typedef void (*h_out_fn)(struct henv *h, const struct hseg *s);

struct henv {
	struct tcp_env env;
	struct timer_wheel wheel;
	struct tcp_stack *st;
	struct tcp_config cfg;
	uint64_t now;
	struct hflow flows[H_FLOWS];
	unsigned nflows;
	struct hseg log[H_LOG];
	unsigned nlog;	    /* total sent since the last h_clear_log() */
	int fail_output;    /* >0: that many outputs fail */
	h_out_fn on_output; /* optional tap (two-stack link) */
	void *link;
	struct hevent events[H_EVENTS];
	unsigned nevents;
	bool auto_close; /* call tcp_close() on TCP_EV_CLOSED */
	bool echo;	 /* echo service: write back every byte read */
	struct tcp_tcb *last_accepted;
	uint32_t truesize; /* env.buf_truesize() of every buffer (0: payload only) */
};

/* Live hbufs across all environments (leak check), and the references
 * they carry (one segment may be held as several pieces, one reference
 * each). */
extern long h_bufs_live;
extern long h_refs_live;

void h_init(struct henv *h, const struct tcp_config *cfg);
void h_fini(struct henv *h);
void h_clear_log(struct henv *h);
/** The i-th segment sent since the last clear (NULL if none). */
const struct hseg *h_seg(const struct henv *h, unsigned i);
const struct hseg *h_last(const struct henv *h);

/** Build a header (+ options, + payload) and feed it to the stack. */
int h_inject(struct henv *h, const struct tcp_key *key, uint32_t seq, uint32_t ack, uint8_t flags,
	     uint16_t wnd, const uint8_t *opt, size_t optlen, const void *data, size_t len);
/** Feed raw bytes as one segment. */
int h_input_raw(struct henv *h, const struct tcp_key *key, const void *seg, size_t len);
/** Advance the clock by @ms and run the timers. */
void h_advance(struct henv *h, uint64_t ms);

/** Event callback that logs into h->events (user = struct henv *). */
void h_event_cb(struct tcp_tcb *t, void *user, enum tcp_event ev, int reason);
bool h_has_event(const struct henv *h, enum tcp_event ev);
unsigned h_count_event(const struct henv *h, enum tcp_event ev);

/** Standard test key: 10.0.0.1:port <- 10.0.0.2:rport. */
void h_key(struct tcp_key *k, uint16_t lport, uint16_t rport);
void h_key_swap(struct tcp_key *out, const struct tcp_key *in);

/** Options helpers for crafted SYNs. Return the length written. */
size_t h_opt_syn(uint8_t *o, uint16_t mss, int ws, bool sack, bool ts, uint32_t tsval,
		 uint32_t tsecr);
size_t h_opt_ts(uint8_t *o, uint32_t tsval, uint32_t tsecr);

/** SipHash-2-4 via OpenSSL EVP_MAC, fixed test key. */
uint64_t h_siphash(void *ctx, const void *data, size_t len);

/* ---- two stacks over a lossy link ---- */

struct hlink_pkt {
	struct henv *to;
	struct tcp_key key; /* from the receiver's point of view */
	uint64_t at_us;
	uint64_t order; /* FIFO among packets due at the same time */
	size_t len;
	uint8_t *bytes;
};

struct hlink {
	struct henv *a, *b;
	uint64_t rng;
	unsigned drop_pct, dup_pct, reorder_pct;
	uint64_t delay_us;
	struct hlink_pkt q[4096];
	unsigned nq;
	uint64_t order;
	uint64_t sent, dropped, dupped, reordered, overflow;
};

void hlink_init(struct hlink *l, struct henv *a, struct henv *b, uint64_t seed);
/** Deliver everything due by @now_us on both sides. */
void hlink_run(struct hlink *l, uint64_t now_us);
uint32_t hlink_rand(struct hlink *l);

#endif
