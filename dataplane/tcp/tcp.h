/*
 * tcp.h - functions of the mxgate TCP core (libmx_tcp). Types: tcp-t.h.
 *
 * Threading: a struct tcp_stack and everything reached from it (TCBs,
 * listeners, the timer wheel it was given) belong to one thread, the
 * worker lcore that created it. Every function below is "stack thread
 * only" unless it says otherwise (tcp_stats_read() is the exception).
 *
 * Time: every entry point takes now_us (a monotonic microsecond clock).
 * Timers live on the caller's timing wheel with 1 tick = 1 ms; the
 * dataplane must call timer_advance(wheel, now_us / 1000) (or
 * tcp_stack_advance()) regularly. Timer callbacks use the wheel's tick as
 * their clock.
 *
 * Environment contract for the dataplane (struct tcp_env):
 *  - output: build the IP header from @key, copy @hdr and the payload
 *    pieces into an mbuf (or attach), fill the TCP checksum (pseudo-header;
 *    offload if available), enqueue on the TX queue. Return <0 if the TX
 *    queue is full: the core counts OutDrops and lets its timers recover.
 *  - flow_lookup/insert/remove: a per-lcore rte_hash keyed by the 40-byte
 *    struct tcp_key, data = the object pointer. TCBs and TIME_WAIT entries
 *    share it; the first byte of the object is its type tag.
 *  - buf_ref/buf_free: rte_mbuf_refcnt_update(m, 1) / rte_pktmbuf_free(m).
 *    tcp_input() never takes over the caller's own reference: the caller
 *    frees its mbuf after tcp_input() returns, the core holds its own.
 *    Every buffer handed to one stack must come from the pool that stack's
 *    held-buffer bound (cfg.rcv_segs) was sized against.
 *  - buf_truesize (optional): m->buf_len, the whole buffer a held piece
 *    pins; charged against cfg.rcv_mem instead of the payload length.
 *  - keyed_hash: SipHash-2-4 (OpenSSL EVP_MAC "SIPHASH", 8-byte output)
 *    with a random 16-byte key drawn at boot.
 *  - port_ok: return true if the RSS/steering hash of the reply
 *    (raddr:rport -> laddr:lport) lands on this worker's queue.
 */
#ifndef MX_DATAPLANE_TCP_TCP_H
#define MX_DATAPLANE_TCP_TCP_H

#include <string.h>
#include <sys/types.h>

#include "dataplane/tcp/tcp-t.h"

/* Sequence-number arithmetic modulo 2^32 (RFC 9293 3.4; RFC 1982). */
static inline bool tcp_seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}
static inline bool tcp_seq_leq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}
static inline bool tcp_seq_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}
static inline bool tcp_seq_geq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0;
}
/* a <= x < b, modulo 2^32. */
static inline bool tcp_seq_in(uint32_t x, uint32_t a, uint32_t b)
{
	return x - a < b - a;
}
static inline uint32_t tcp_seq_max(uint32_t a, uint32_t b)
{
	return tcp_seq_gt(a, b) ? a : b;
}
static inline uint32_t tcp_seq_min(uint32_t a, uint32_t b)
{
	return tcp_seq_lt(a, b) ? a : b;
}

/** Fill @k for IPv4 (addresses in network byte order as 4 bytes, ports in
 * host order), zeroing padding and the unused address bytes. */
static inline void tcp_key_init4(struct tcp_key *k, const void *laddr4, uint16_t lport,
				 const void *raddr4, uint16_t rport)
{
	memset(k, 0, sizeof(*k));
	k->family = TCP_AF_INET;
	k->lport = lport;
	k->rport = rport;
	memcpy(k->laddr, laddr4, 4);
	memcpy(k->raddr, raddr4, 4);
}

/** Fill @k for IPv6 (16-byte addresses). */
static inline void tcp_key_init6(struct tcp_key *k, const void *laddr6, uint16_t lport,
				 const void *raddr6, uint16_t rport)
{
	memset(k, 0, sizeof(*k));
	k->family = TCP_AF_INET6;
	k->lport = lport;
	k->rport = rport;
	memcpy(k->laddr, laddr6, 16);
	memcpy(k->raddr, raddr6, 16);
}

/* ---- stack ---------------------------------------------------------- */

/** Fill @cfg with defaults: 4096 TCBs, 16384 TIME_WAIT entries, 64 KiB
 * buffers, RTO 1 s initial / 200 ms min / 60 s max, delayed ACK 40 ms,
 * TIME_WAIT 60 s, FIN_WAIT_2 60 s, zero window 120 s at most, no
 * lifetime bound, timestamps/SACK/wscale/syncookies on, keepalive off. */
void tcp_config_default(struct tcp_config *cfg);

/**
 * Create a stack: allocate every pool (boot path; env->mem_zalloc or
 * calloc) and keep pointers to @env's callbacks and to @wheel (both must
 * outlive the stack). @cfg is copied.
 * Returns the stack, or NULL with errno = EINVAL (bad config or missing
 * callback) or ENOMEM. Thread: the worker that will own it (or boot, before
 * handing it over).
 */
struct tcp_stack *tcp_stack_create(const struct tcp_config *cfg, const struct tcp_env *env,
				   struct timer_wheel *wheel, uint64_t now_us);

/**
 * Destroy a stack: every connection is closed without sending anything,
 * attached TCBs get TCP_EV_CLOSED(TCP_CLOSE_STACK) and become invalid,
 * every held buffer is released with buf_free, every timer is cancelled,
 * all pools are freed. @st is invalid afterwards.
 */
void tcp_stack_destroy(struct tcp_stack *st);

/**
 * Process one received segment. @seg: the TCP header followed by its
 * payload (@len bytes in all, contiguous; checksum already verified by the
 * caller). @key: the flow from our side (laddr/lport = packet destination).
 * @buf: the opaque buffer that holds @seg; the core takes its own
 * references with buf_ref() for payload it keeps and releases them with
 * buf_free(); the caller still owns (and frees) its reference afterwards.
 * @buf may be NULL only if the caller can guarantee nothing is kept
 * (payload then is dropped and counted).
 * Returns 0 if the segment was processed (which includes counted drops and
 * RSTs sent), -EINVAL if it was malformed (counted in InErrs).
 */
int tcp_input(struct tcp_stack *st, const struct tcp_key *key, const void *seg, size_t len,
	      void *buf, uint64_t now_us);

/**
 * ICMP "fragmentation needed" / ICMPv6 "packet too big" for @key. @seq is
 * the sequence number of the embedded TCP header (validated against
 * snd_una..snd_max, RFC 5927); @mtu the next-hop MTU. Lowers the
 * connection's path MTU (floor 576/1280) and resends what is in flight
 * with the smaller MSS. Returns 0, -ENOENT (no such connection) or -EINVAL
 * (sequence not in flight or MTU not lower).
 */
int tcp_icmp_mtu(struct tcp_stack *st, const struct tcp_key *key, uint32_t seq, uint32_t mtu,
		 uint64_t now_us);

/** Convenience for tests and simple loops: record @now_us and run the
 * wheel up to now_us / 1000. Returns the number of timer callbacks run
 * (all owners of the wheel, not only TCP). */
unsigned tcp_stack_advance(struct tcp_stack *st, uint64_t now_us);

/**
 * Copy the counters into @out. The only function callable from another
 * thread (ctl): fields are read with relaxed atomic loads, each one is
 * consistent, the set is not a snapshot.
 */
void tcp_stats_read(const struct tcp_stack *st, struct tcp_stats *out);

/** Copy @st's usage into @out; like tcp_stats_read(), callable from the
 * control thread (relaxed loads, each field consistent on its own). */
void tcp_usage_read(const struct tcp_stack *st, struct tcp_usage *out);

/**
 * Send a bare SYN on @key (our address and port, the peer's): used at
 * start to end a previous incarnation's connections (conn_table.h). The
 * peer's challenge ACK is answered by the listener's RST. Counted as
 * TCPRestartProbes.
 */
void tcp_send_restart_probe(struct tcp_stack *st, const struct tcp_key *key);

/** Name of counter @i (0 <= i < TCP_STATS_COUNT) in struct order. */
const char *tcp_stats_name(unsigned i);

const char *tcp_state_name(enum tcp_state s);
const char *tcp_event_name(enum tcp_event ev);
const char *tcp_close_reason_name(enum tcp_close_reason r);

/* ---- listeners ------------------------------------------------------ */

/**
 * Listen on local @port for @family (0 = both) on every local address.
 * @backlog bounds the SYN queue (connections in SYN_RECEIVED); beyond it
 * SYNs are answered with SYN cookies (cfg.syncookies) or dropped.
 * Accepted connections are reported as TCP_EV_ACCEPTED to @cb with @user;
 * the application then owns the TCB (see tcp_close()) and usually calls
 * tcp_set_callback() on it.
 * Returns the listener or NULL with errno EADDRINUSE, ENOSPC
 * (max_listeners) or EINVAL.
 */
struct tcp_listener *tcp_listen(struct tcp_stack *st, uint8_t family, uint16_t port,
				unsigned backlog, tcp_event_fn cb, void *user);

/** Stop listening. Embryonic connections (SYN_RECEIVED) of @l are reset
 * and freed; established ones are unaffected. @l is invalid afterwards. */
void tcp_unlisten(struct tcp_listener *l);

/* ---- connections ---------------------------------------------------- */

/**
 * Active open towards @key->raddr:@key->rport from @key->laddr. If
 * @key->lport is 0, a free port in [eph_lo, eph_hi] accepted by
 * env->port_ok is chosen. Sends the SYN now.
 * Returns the TCB (owned by the caller until tcp_close()/tcp_abort()),
 * TCP_EV_ESTABLISHED or TCP_EV_CLOSED(REFUSED/TIMEOUT) follows; or NULL with
 * errno ENOMEM (TCB pool exhausted), EADDRNOTAVAIL (no usable port),
 * EEXIST (flow exists), ENOSPC (flow table full) or EINVAL.
 */
struct tcp_tcb *tcp_connect(struct tcp_stack *st, const struct tcp_key *key, tcp_event_fn cb,
			    void *user, uint64_t now_us);

/** Replace the event callback and user pointer of @t. */
void tcp_set_callback(struct tcp_tcb *t, tcp_event_fn cb, void *user);
/** The user pointer of @t. */
void *tcp_user(const struct tcp_tcb *t);
/** The flow key of @t (valid as long as @t). */
const struct tcp_key *tcp_tcb_key(const struct tcp_tcb *t);
enum tcp_state tcp_tcb_state(const struct tcp_tcb *t);
/** Disable (true) or enable (false) Nagle's algorithm on @t. */
void tcp_set_nodelay(struct tcp_tcb *t, bool on);
/** Enable or disable keepalive probes on @t (stack config timings). */
void tcp_set_keepalive(struct tcp_tcb *t, bool on);

/**
 * Zero-copy read: fill up to @max pieces of in-order received data, oldest
 * first, into @iov. The pointers stay valid until the bytes are consumed
 * with tcp_recv_consume() or the TCB is released. Returns the number of
 * pieces filled (0 = nothing to read). Does not consume.
 */
unsigned tcp_recv_peek(const struct tcp_tcb *t, struct tcp_iov *iov, unsigned max);

/** Bytes of in-order data ready to read. */
size_t tcp_recv_avail(const struct tcp_tcb *t);

/**
 * Consume @n bytes from the front of the receive queue, releasing the
 * buffers fully read (buf_free) and opening the receive window (a window
 * update is sent when it grew enough). Returns 0, or -EINVAL if
 * @n > tcp_recv_avail().
 */
int tcp_recv_consume(struct tcp_tcb *t, size_t n, uint64_t now_us);

/** Bytes tcp_send() would accept now (per-connection and global bounds). */
size_t tcp_send_space(const struct tcp_tcb *t);

/**
 * Copy up to @len bytes of @data into the send buffer and transmit what
 * the windows allow. Returns the number of bytes accepted (may be less
 * than @len, 0 when full: back-pressure; TCP_EV_WRITABLE follows when space
 * opens), or -EPIPE after tcp_shutdown()/a FIN sent, -ENOTCONN when the
 * connection is closed. The caller keeps ownership of @data.
 */
ssize_t tcp_send(struct tcp_tcb *t, const void *data, size_t len, uint64_t now_us);

/**
 * Half-close: send a FIN after every queued byte. Returns 0, or -ENOTCONN
 * if the connection is closed/has no sending side left. Reading stays
 * possible, for a while: once the peer has ACKed our FIN it has
 * cfg.fin_wait2_ms to send its own, then the connection is reset and
 * TCP_EV_CLOSED(TCP_CLOSE_TIMEOUT) follows (counted TCPAbortOnLinger).
 */
int tcp_shutdown(struct tcp_tcb *t, uint64_t now_us);

/**
 * Release @t: the application gives up the TCB and will not touch it or
 * get events again. If it is still open, a graceful close follows (FIN
 * after queued data; the core finishes FIN_WAIT/LAST_ACK/TIME_WAIT on its
 * own, FIN_WAIT_2 bounded by fin_wait2_ms). If unread data is
 * queued, the connection is reset instead (RFC 9293 3.10.4, counted
 * TCPAbortOnClose). Call exactly once per TCB the application got from
 * tcp_connect() or TCP_EV_ACCEPTED, including after TCP_EV_CLOSED. Safe
 * inside the TCB's own callback.
 */
void tcp_close(struct tcp_tcb *t, uint64_t now_us);

/**
 * Reset the connection (RST sent if synchronized) and release @t like
 * tcp_close(); no TCP_EV_CLOSED is delivered. Safe inside callbacks.
 */
void tcp_abort(struct tcp_tcb *t, uint64_t now_us);

#endif
