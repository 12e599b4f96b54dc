/*
 * tcp-t.h - types of the mxgate TCP core (libmx_tcp).
 *
 * The TCP core is plain C over segments and a clock: the dataplane hands it
 * received TCP segments (header + payload, checksum already verified) and
 * gets segments back through the output callback of struct tcp_env. It
 * never calls DPDK, sockets or any syscall on the segment path, and never
 * allocates after tcp_stack_create(): every pool (TCBs, TIME_WAIT entries,
 * send-buffer chunks, receive-segment descriptors) is sized by struct
 * tcp_config at creation. Exhaustion is answered by refusing or dropping
 * and counting, never by growing.
 *
 * One stack belongs to one thread (one worker lcore); nothing here is
 * thread-safe except reading counters with tcp_stats_read().
 *
 * This header holds structs, enums and constants only (HAProxy-style -t.h);
 * the functions are in tcp.h.
 */
#ifndef MX_DATAPLANE_TCP_TCP_T_H
#define MX_DATAPLANE_TCP_TCP_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/timer.h"

/* Address families of struct tcp_key (deliberately not AF_* from sockets). */
#define TCP_AF_INET  4
#define TCP_AF_INET6 6

/*
 * Flow key, always from the stack's point of view: l* = our side (the
 * destination of a received packet), r* = the peer. Ports in host byte
 * order. IPv4 addresses use the first 4 bytes of the 16-byte arrays; the
 * rest and the padding MUST be zero so the key can be hashed and compared
 * as 40 raw bytes (tcp_key_init4() does that).
 */
struct tcp_key {
	uint8_t family; /* TCP_AF_INET or TCP_AF_INET6 */
	uint8_t pad[3];
	uint16_t lport;
	uint16_t rport;
	uint8_t laddr[16];
	uint8_t raddr[16];
};

/* One (pointer, length) piece of a segment payload or of received data. */
struct tcp_iov {
	const void *base;
	size_t len;
};

/* TCP header flags. */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20

#define TCP_HDR_MIN 20
#define TCP_HDR_MAX 60
/* Most payload pieces one output segment points to (send-buffer chunks). */
#define TCP_OUT_IOV_MAX 8

/* RFC 9293 states. CLOSED is 0. */
enum tcp_state {
	TCP_CLOSED = 0,
	TCP_LISTEN,
	TCP_SYN_SENT,
	TCP_SYN_RECEIVED,
	TCP_ESTABLISHED,
	TCP_FIN_WAIT_1,
	TCP_FIN_WAIT_2,
	TCP_CLOSE_WAIT,
	TCP_CLOSING,
	TCP_LAST_ACK,
	TCP_TIME_WAIT,
	TCP_STATE_COUNT,
};

/* Events delivered to the upper layer's callback. */
enum tcp_event {
	TCP_EV_ESTABLISHED = 0, /* active open (tcp_connect) completed */
	TCP_EV_ACCEPTED,	/* passive open completed; cb is the listener's */
	TCP_EV_READABLE,	/* new in-order bytes for tcp_recv_peek() */
	TCP_EV_WRITABLE,	/* send space opened after tcp_send() was short */
	TCP_EV_PEER_FIN,	/* peer half-closed: no more bytes after the queued ones */
	TCP_EV_CLOSED,		/* connection is gone; see enum tcp_close_reason */
	TCP_EV_COUNT,
};

/* Why a connection reached CLOSED (argument of TCP_EV_CLOSED). */
enum tcp_close_reason {
	TCP_CLOSE_NONE = 0,
	TCP_CLOSE_NORMAL,    /* both FINs exchanged and acknowledged */
	TCP_CLOSE_RESET,     /* peer sent an acceptable RST */
	TCP_CLOSE_REFUSED,   /* RST answering our SYN (active open) */
	TCP_CLOSE_TIMEOUT,   /* retransmissions (or SYN retries) exhausted, or a time bound
				(zero window, FIN_WAIT_2) expired */
	TCP_CLOSE_KEEPALIVE, /* keepalive probes unanswered */
	TCP_CLOSE_ABORTED,   /* local tcp_abort() */
	TCP_CLOSE_LISTENER,  /* listener closed under an embryonic connection */
	TCP_CLOSE_STACK,     /* stack destroyed */
	TCP_CLOSE_LIFETIME,  /* cfg.lifetime_max_ms reached: reset */
	TCP_CLOSE_REASON_COUNT,
};

struct tcp_stack;
struct tcp_tcb;
struct tcp_listener;

/*
 * Upper-layer callback. Runs on the stack's thread, from tcp_input(), a
 * timer callback or tcp_icmp_mtu(); it may call any tcp_* API on @t
 * (including tcp_close()/tcp_abort()), and on other TCBs. @reason is an
 * enum tcp_close_reason for TCP_EV_CLOSED, 0 otherwise.
 */
typedef void (*tcp_event_fn)(struct tcp_tcb *t, void *user, enum tcp_event ev, int reason);

/*
 * Environment: how the core talks to its host. Every callback gets @ctx.
 * All are called on the stack's thread only. See tcp.h for the contracts
 * the dataplane implements.
 */
struct tcp_env {
	void *ctx;
	/* Emit one segment. @hdr: TCP header with options, checksum field 0
	 * (the dataplane fills it with the pseudo-header sum). @iov/@iovcnt:
	 * payload pieces pointing into the send buffer, valid only during the
	 * call (copy or attach before returning). Return 0, or <0 when the
	 * packet could not be queued (treated as a loss). */
	int (*output)(void *ctx, const struct tcp_key *key, const void *hdr, size_t hdr_len,
		      const struct tcp_iov *iov, unsigned iovcnt);
	/* Flow table: NULL if absent. Objects start with a uint8_t type tag
	 * (TCP_OBJ_TCB or TCP_OBJ_TW). insert returns 0 or <0 if full or the
	 * key exists. remove of an absent key is a no-op. */
	void *(*flow_lookup)(void *ctx, const struct tcp_key *key);
	int (*flow_insert)(void *ctx, const struct tcp_key *key, void *obj);
	void (*flow_remove)(void *ctx, const struct tcp_key *key);
	/* Receive buffers: take / release one reference on a buffer handle
	 * given to tcp_input() (an mbuf in production). */
	void (*buf_ref)(void *ctx, void *buf);
	void (*buf_free)(void *ctx, void *buf);
	/* Optional: what holding @buf really costs in bytes (an mbuf's whole
	 * buffer, headroom included, whatever its payload). Each held piece is
	 * charged max(payload, truesize) against cfg.rcv_mem and the OOO caps.
	 * NULL or 0: the payload length only. */
	uint32_t (*buf_truesize)(void *ctx, void *buf);
	/* Keyed hash (SipHash-2-4 keyed per boot in production) for RFC 6528
	 * ISNs, timestamp offsets and SYN cookies. Must be deterministic for
	 * the life of the stack. */
	uint64_t (*keyed_hash)(void *ctx, const void *data, size_t len);
	/* Active open: may this local port be used for @key (does the reply
	 * steer to this worker)? NULL = any port is fine. */
	bool (*port_ok)(void *ctx, const struct tcp_key *key);
	/* Boot-time memory for the pools (e.g. rte_zmalloc_socket). NULL:
	 * calloc/free. Never called after tcp_stack_create() returns, except
	 * mem_free from tcp_stack_destroy(). */
	void *(*mem_zalloc)(void *ctx, size_t size);
	/* Optional: a passively opened connection became ESTABLISHED (@key)
	 * or its TCB was released (@key NULL). @idx identifies the TCB
	 * (0 .. max_tcbs-1) for the life of the connection. The dataplane
	 * keeps these in a table that outlives the process (conn_table.h). */
	void (*conn_track)(void *ctx, uint32_t idx, const struct tcp_key *key);
	void (*mem_free)(void *ctx, void *p);
};

/* Type tag at offset 0 of every object stored in the flow table. */
#define TCP_OBJ_TCB 0x54 /* 'T' */
#define TCP_OBJ_TW  0x57 /* 'W' */

/*
 * Stack configuration; tcp_config_default() fills sane values. Sizes are
 * hard bounds: nothing grows beyond them.
 */
struct tcp_config {
	uint32_t max_tcbs;	      /* connection pool (all states but TIME_WAIT) */
	uint32_t max_timewait;	      /* compact TIME_WAIT entries */
	uint32_t max_listeners;	      /* listening ports */
	uint32_t snd_chunks;	      /* global send-buffer chunk pool */
	uint32_t chunk_size;	      /* bytes per send-buffer chunk */
	uint32_t sndbuf;	      /* per-connection send buffer, bytes */
	uint32_t rcvbuf;	      /* per-connection receive window / held bytes */
	uint32_t rcv_segs;	      /* global receive-segment descriptors (held buffers) */
	uint32_t rcv_segs_per_conn;   /* held buffers per connection (in-order + OOO) */
	uint64_t rcv_mem;	      /* global budget of held buffers (truesize bytes) */
	uint32_t ooo_segs_max;	      /* held out-of-order pieces per connection */
	uint16_t mtu;		      /* local MTU: our MSS = mtu - IP - TCP headers */
	uint16_t eph_lo, eph_hi;      /* active-open source port range */
	uint32_t rto_initial_ms;      /* RFC 6298: 1000 */
	uint32_t rto_min_ms;	      /* RFC 6298 says 1000; Linux uses 200 */
	uint32_t rto_max_ms;	      /* >= 60000 */
	uint32_t delack_ms;	      /* delayed-ACK timeout (< 500, RFC 9293) */
	uint32_t time_wait_ms;	      /* 2*MSL */
	uint32_t fin_wait2_ms;	      /* FIN_WAIT_2 lifetime (Linux tcp_fin_timeout) */
	uint32_t lifetime_max_ms;     /* connection lifetime from ESTABLISHED, 0 = none */
	uint32_t zero_window_max_ms;  /* data held back by a zero window, 0 = no bound */
	uint8_t snd_pressure_pct;     /* send-memory pressure above this share of snd_chunks
				       * (0 = never): new connections refused, and no
				       * connection holding sndbuf/8 or more gets more */
	uint8_t syn_retries;	      /* SYN retransmissions before giving up */
	uint8_t synack_retries;	      /* SYN-ACK retransmissions */
	uint8_t retries;	      /* data retransmissions (RTO backoffs) before abort */
	uint8_t ka_probes;	      /* keepalive probes before abort */
	uint32_t ka_idle_ms;	      /* idle time before the first probe */
	uint32_t ka_intvl_ms;	      /* between probes */
	uint32_t challenge_ack_limit; /* RFC 5961 challenge ACKs per second, stack-wide */
	bool keepalive;		      /* default for new connections (off) */
	bool timestamps;	      /* offer/accept RFC 7323 timestamps */
	bool sack;		      /* offer/accept SACK */
	bool wscale;		      /* offer/accept window scaling */
	bool syncookies;	      /* SYN cookies when a SYN queue is full */
	bool nodelay;		      /* default: Nagle off for new connections */
};

/*
 * Counters, Linux TCP MIB names where one exists. X(Name, field): Name is
 * what `show stats` prints. CurrEstab is a gauge; everything else counts up.
 */
#define TCP_STATS_LIST(X)                                \
	X(ActiveOpens, active_opens)                     \
	X(PassiveOpens, passive_opens)                   \
	X(AttemptFails, attempt_fails)                   \
	X(EstabResets, estab_resets)                     \
	X(CurrEstab, curr_estab)                         \
	X(InSegs, in_segs)                               \
	X(OutSegs, out_segs)                             \
	X(RetransSegs, retrans_segs)                     \
	X(InErrs, in_errs)                               \
	X(OutRsts, out_rsts)                             \
	X(InRsts, in_rsts)                               \
	X(OutDrops, out_drops)                           \
	X(SyncookiesSent, syncookies_sent)               \
	X(SyncookiesRecv, syncookies_recv)               \
	X(SyncookiesFailed, syncookies_failed)           \
	X(ListenOverflows, listen_overflows)             \
	X(ListenDrops, listen_drops)                     \
	X(TCPTimeouts, timeouts)                         \
	X(TCPSynRetrans, syn_retrans)                    \
	X(TCPFastRetrans, fast_retrans)                  \
	X(TCPRenoRecovery, reno_recovery)                \
	X(TCPSackRecovery, sack_recovery)                \
	X(TCPPartialAcks, partial_acks)                  \
	X(TCPSACKRetrans, sack_retrans)                  \
	X(TCPOFOQueue, ofo_queue)                        \
	X(TCPOFODrop, ofo_drop)                          \
	X(TCPOFOCapDrop, ofo_cap_drop)                   \
	X(TCPRcvQDrop, rcvq_drop)                        \
	X(TCPRcvMemDrop, rcv_mem_drop)                   \
	X(TCPSndBufFull, sndbuf_full)                    \
	X(TCPSndMemPressureDrops, snd_pressure_drops)    \
	X(TCPRestartProbes, restart_probes)              \
	X(TCPChallengeACK, challenge_ack)                \
	X(TCPSYNChallenge, syn_challenge)                \
	X(TCPChallengeACKLimited, challenge_ack_limited) \
	X(PAWSEstab, paws_estab)                         \
	X(PAWSTimewait, paws_timewait)                   \
	X(TCPACKInvalid, ack_invalid)                    \
	X(TCPOptErrors, opt_errors)                      \
	X(TCPDelayedACKs, delayed_acks)                  \
	X(TCPWinProbe, win_probe)                        \
	X(TCPKeepAlive, keepalive_probes)                \
	X(TCPAbortOnData, abort_on_data)                 \
	X(TCPAbortOnClose, abort_on_close)               \
	X(TCPAbortOnTimeout, abort_on_timeout)           \
	X(TCPAbortOnMemory, abort_on_memory)             \
	X(TCPAbortOnLinger, abort_on_linger)             \
	X(TCPAbortOnZeroWindow, abort_on_zero_window)    \
	X(TCPAbortOnLifetime, abort_on_lifetime)         \
	X(TW, timewait)                                  \
	X(TCPTimeWaitOverflow, timewait_overflow)        \
	X(TWRecycled, tw_recycled)                       \
	X(TWKilled, tw_killed)                           \
	X(TCPPMTUUpdates, pmtu_updates)                  \
	X(TCPNoPort, no_port)                            \
	X(TCPLostRetransmit, lost_retrans)               \
	X(TCPRACKLoss, rack_loss)                        \
	X(TCPRACKReoTimeout, rack_reo_timeout)           \
	X(TCPLossProbes, tlp_probes)                     \
	X(TCPLossProbeRecovery, tlp_recovery)            \
	X(TCPDSACKRecv, dsack_recv)                      \
	X(TCPDSACKSent, dsack_sent)                      \
	X(TCPDSACKUndo, dsack_undo)                      \
	X(TCPSACKReorder, sack_reorder)                  \
	X(TCPLimitedTransmit, limited_transmit)

struct tcp_stats {
#define TCP_STATS_FIELD(name, field) uint64_t field;
	TCP_STATS_LIST(TCP_STATS_FIELD)
#undef TCP_STATS_FIELD
};

#define TCP_STATS_COUNT (sizeof(struct tcp_stats) / sizeof(uint64_t))

/* What a stack holds against its bounds (gauges). */
struct tcp_usage {
	uint64_t tcbs, tcbs_max;	 /* connections, all states but TIME_WAIT */
	uint64_t timewait, timewait_max; /* compact TIME_WAIT entries */
	uint64_t snd_bytes, snd_max;	 /* send chunks in use, in bytes */
	uint64_t rcv_held, rcv_max;	 /* receive buffers held (truesize) */
	uint64_t rcv_segs, rcv_segs_max; /* receive pieces held */
};

#endif
