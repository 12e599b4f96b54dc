/*
 * mxbench.h - configuration, run state and per-thread statistics shared by
 * the mxbench front end (mxbench.c) and its transports (kworker.c: kernel
 * sockets; dpdk_transport.c: mxgate's TCP stack on DPDK).
 *
 * Threads: the configuration is written before the workers start and only
 * read afterwards. Each worker owns its struct bench_wstats and is its only
 * writer; the progress thread reads the counters with relaxed atomic loads
 * (BENCH_GET) and merges the histograms, which tolerate that (hist.h).
 */
#ifndef MX_BENCH_MXBENCH_H
#define MX_BENCH_MXBENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bench/attack.h"
#include "bench/client.h"
#include "bench/rate.h"
#include "bench/refusal.h"
#include "bench/sizes.h"
#include "bench/tls_client.h"
#include "core/hist.h"

#define BENCH_INC(x)	__atomic_store_n(&(x), (x) + 1, __ATOMIC_RELAXED)
#define BENCH_ADD(x, n) __atomic_store_n(&(x), (x) + (n), __ATOMIC_RELAXED)
#define BENCH_DEC(x)	__atomic_store_n(&(x), (x)-1, __ATOMIC_RELAXED)
#define BENCH_GET(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)

#define BENCH_CODES 600

struct bench_cfg {
	struct sockaddr_storage target;
	socklen_t target_len;
	const char *target_str;
	struct sockaddr_storage src;
	socklen_t src_len; /* 0: no source binding */
	const char *src_str;

	unsigned conns; /* closed: connections; open: at most */
	unsigned threads;
	uint64_t msgs_per_conn; /* 0: unlimited */
	uint64_t count;		/* transactions to start; 0: unbounded */
	bool refill;		/* closed loop: replace connections that QUIT */
	double duration;	/* seconds of issuing; 0: unbounded */
	double rate;		/* open loop arrivals/s; 0: closed loop */
	enum bench_arrival arrivals;
	uint64_t max_backlog; /* open loop: arrivals waiting for a connection */

	const char *size_spec;
	size_t size_max;
	struct bench_sizes sizes;

	struct bench_cli_cfg cli; /* thread is set per worker */

	double timeout;	     /* connect / reply timeout, seconds */
	double hard_timeout; /* whole run, seconds */
	uint64_t seed;
	bool quiet;

	/* --attack: attacker connections next to the load (kattack.c). */
	struct bench_atk_cfg atk;

	/* --refusal: every session is one the policy refuses (refusal.c). */
	struct bench_ref_cfg refusal;

	/* --transport dpdk: mxgate's TCP stack on a DPDK port. */
	bool dpdk;
	struct {
		const char *vdev;   /* EAL --vdev, e.g. net_memif0,role=client,... */
		const char *port;   /* DPDK port name; default: the vdev's name */
		const char *addr;   /* our IPv4 address/prefix on that port */
		const char *gw;	    /* IPv4 gateway, optional */
		const char *lcores; /* EAL lcores: main + one per worker */
		const char *prefix; /* EAL --file-prefix */
		unsigned idle_us;   /* worker idle sleep, 0 = busy poll */
		unsigned mem_mb;
		double link_wait; /* seconds to wait for link up */
	} dp;
};

struct bench_run {
	const struct bench_cfg *cfg;
	uint64_t t0_ns;
	uint64_t issue_end_ns; /* no new transactions at or after this */
	uint64_t hard_end_ns;
	int64_t budget;	 /* transactions left to start (atomic) */
	int stop;	 /* 1: stop issuing (SIGINT), 2: abort (atomic) */
	int attack_stop; /* 1: the load is over, attackers end (atomic) */
};

struct bench_wstats {
	/* transactions */
	uint64_t txn_started;
	uint64_t txn_done;	   /* 250 after end of data */
	uint64_t txn_failed;	   /* refused by the server */
	uint64_t txn_aborted;	   /* connection lost, timed out, or run aborted */
	uint64_t msg_bytes;	   /* message octets of done transactions */
	uint64_t arrivals;	   /* open loop */
	uint64_t arrivals_dropped; /* open loop: backlog full */
	uint64_t inflight;	   /* gauge */
	uint64_t backlog;	   /* gauge: arrivals waiting for a connection */
	/* connections */
	uint64_t conn_attempts;
	uint64_t conn_ok;
	uint64_t conn_refused;
	uint64_t conn_failed; /* other connect errors */
	uint64_t conn_quit;   /* ended with QUIT/221 */
	uint64_t conn_eof;    /* closed by the server unexpectedly */
	uint64_t conn_io_err; /* read/write errors (ECONNRESET ...) */
	uint64_t conn_broken; /* protocol failure (bench_cli err) */
	uint64_t conns_open;  /* gauge */
	uint64_t timeout_connect;
	uint64_t timeout_reply;
	uint64_t malformed; /* unparsable replies */
	uint64_t replies;
	uint64_t by_code[BENCH_CODES];
	uint64_t bytes_out, bytes_in;
	struct bench_cli_stats cli;
	struct bench_tls_stats tls; /* --starttls (tls_client.h) */
	/* latency, ns */
	struct mx_hist h_txn;	   /* intended (open) / MAIL (closed) -> 250 */
	struct mx_hist h_conn_250; /* connect() -> first 250 after data */
	struct mx_hist h_connect;  /* connect() -> established */
	struct mx_hist h_lag;	   /* open loop: arrival taken - intended */
	uint64_t end_ns;
	bool hard_stop; /* ended by the hard timeout or a second signal */
	char last_err[160];
};

/* What bench_replies_feed() stopped on. */
enum bench_feed_rc {
	BENCH_FEED_AGAIN, /* every octet consumed: more replies need more input */
	BENCH_FEED_STOP,  /* @fn said stop */
	BENCH_FEED_ERROR, /* an unparsable reply (counted malformed): rp->err */
};

/*
 * Parse the replies in @p[0 .. @n) with @rp: each whole one is counted in
 * @st (replies, by_code) and handed to @fn, whose false stops the loop (the
 * connection was closed, replaced, or starts its TLS handshake: the rest
 * is not for the reply parser). *@used: the octets consumed. Shared by the
 * kernel and DPDK transports.
 */
static inline enum bench_feed_rc
bench_replies_feed(struct bench_reply_parser *rp, const char *p, size_t n, size_t *used,
		   struct bench_wstats *st, bool (*fn)(void *arg, const struct bench_reply *r),
		   void *arg)
{
	enum bench_feed_rc out = BENCH_FEED_AGAIN;
	size_t off = 0;

	while (off < n) {
		struct bench_reply r;
		size_t u;
		enum bench_reply_rc rc = bench_reply_feed(rp, p + off, n - off, &u, &r);

		off += u;
		if (rc == BENCH_REPLY_AGAIN)
			break;
		if (rc == BENCH_REPLY_ERROR) {
			BENCH_INC(st->malformed);
			out = BENCH_FEED_ERROR;
			break;
		}
		BENCH_INC(st->replies);
		BENCH_INC(st->by_code[r.code]);
		if (!fn(arg, &r)) {
			out = BENCH_FEED_STOP;
			break;
		}
	}
	*used = off;
	return out;
}

struct bench_worker {
	const struct bench_cfg *cfg;
	struct bench_run *run;
	unsigned id;
	unsigned conns;	   /* this thread's share */
	double rate;	   /* this thread's share of arrivals/s */
	uint64_t phase_ns; /* offset of its first arrival */
	struct bench_cli_cfg cli;
	struct bench_wstats st;
	int rc;
};

/* The attacker thread: its configuration is cfg->atk; it alone writes @st
 * (one per enum bench_atk_mode), read by the main thread after the join. */
struct bench_attacker {
	const struct bench_cfg *cfg;
	struct bench_run *run;
	struct bench_atk_stats st[BENCH_ATK_MODES];
	int rc;
};

/** Monotonic clock in ns. */
uint64_t bench_now_ns(void);

/**
 * Account for the end of a transaction on one connection, whatever the
 * transport: @ok is a 250 after end of data (latency from @t_txn; the
 * connection's first one also from @t_connect, tracked by *@had_250), else
 * a failure. Clears *@in_txn. Writer thread of @st only.
 */
static inline void bench_txn_end(struct bench_wstats *st, bool ok, uint64_t now, uint64_t t_txn,
				 uint64_t t_connect, uint64_t msg_size, bool *had_250, bool *in_txn)
{
	if (ok) {
		mx_hist_record(&st->h_txn, now - t_txn);
		if (!*had_250)
			mx_hist_record(&st->h_conn_250, now - t_connect);
		*had_250 = true;
		BENCH_INC(st->txn_done);
		BENCH_ADD(st->msg_bytes, msg_size);
	} else {
		BENCH_INC(st->txn_failed);
	}
	*in_txn = false;
	BENCH_DEC(st->inflight);
}

/** Kernel-socket transport: runs one worker until its share is done. */
void *bench_kworker_main(void *arg);

/**
 * Kernel-socket attacker thread (@arg: struct bench_attacker): runs the
 * modes of cfg->atk until run->attack_stop, abort or the hard deadline.
 */
void *bench_kattack_main(void *arg);

#endif
