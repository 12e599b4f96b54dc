/*
 * dp_counters.c - registers the dataplane's counters (DP_STATS, one
 * instance per worker) and each worker's TCP counters (TCP_STATS_LIST, Linux
 * TCP MIB names) with the counter registry. The read functions run on the
 * control thread and copy the worker's counters with relaxed loads
 * (dp_stats_read(), dp_tcp_stats()).
 *
 * A new DP_STATS or TCP_STATS_LIST entry appears everywhere by itself; a
 * TCP one needs its help line below (TCP_HELP_<Name>: the build fails
 * without it).
 */
#include "dataplane/dp_counters.h"

#include <stddef.h>

#include "core/counters.h"
#include "dataplane/dataplane.h"
#include "dataplane/tcp/tcp-t.h"

static const struct mx_ctr_def dp_defs[] = {
#define X(n, h) {.name = #n, .help = h, .type = MX_CTR_COUNTER},
	DP_STATS(X)
#undef X
};

unsigned dp_counters_workers(void *arg)
{
	(void)arg;
	return dp_nworkers();
}

static void dp_read(void *arg, unsigned inst, uint64_t *vals)
{
	struct dp_stats s;
	unsigned k = 0;

	(void)arg;
	dp_stats_read(inst, &s);
#define X(n, h) vals[k++] = s.n;
	DP_STATS(X)
#undef X
}

static const struct mx_ctr_group dp_group = {
	.name = "dp",
	.long_name = "dataplane",
	.scope = MX_CTR_WORKER,
	.flags = MX_CTR_F_BARE_IN_WORKER,
	.defs = dp_defs,
	.ndefs = sizeof(dp_defs) / sizeof(dp_defs[0]),
	.instances = dp_counters_workers,
	.read = dp_read,
};

/* What each TCP MIB counter counts (Linux's meaning where it has one). */
#define TCP_HELP_ActiveOpens  "connections opened by us (SYN sent)"
#define TCP_HELP_PassiveOpens "connections accepted from a listener"
#define TCP_HELP_AttemptFails \
	"connection attempts that failed (SYN_SENT/SYN_RECEIVED to CLOSED or LISTEN)"
#define TCP_HELP_EstabResets	  "established connections reset"
#define TCP_HELP_CurrEstab	  "connections now ESTABLISHED or CLOSE_WAIT"
#define TCP_HELP_InSegs		  "segments received"
#define TCP_HELP_OutSegs	  "segments sent, retransmissions excluded"
#define TCP_HELP_RetransSegs	  "segments retransmitted"
#define TCP_HELP_InErrs		  "segments received with errors"
#define TCP_HELP_OutRsts	  "RST segments sent"
#define TCP_HELP_InRsts		  "RST segments received and accepted"
#define TCP_HELP_OutDrops	  "segments that could not be sent"
#define TCP_HELP_SyncookiesSent	  "SYN cookies sent"
#define TCP_HELP_SyncookiesRecv	  "valid SYN cookies received"
#define TCP_HELP_SyncookiesFailed "invalid SYN cookies received"
#define TCP_HELP_ListenOverflows  "connections dropped: listener accept queue full"
#define TCP_HELP_ListenDrops	  "SYNs and handshakes dropped by a listener"
#define TCP_HELP_TCPTimeouts	  "retransmission timeouts"
#define TCP_HELP_TCPSynRetrans	  "SYN and SYN-ACK retransmissions"
#define TCP_HELP_TCPFastRetrans	  "fast retransmissions"
#define TCP_HELP_TCPRenoRecovery  "recoveries entered on duplicate ACKs (no SACK)"
#define TCP_HELP_TCPSackRecovery  "recoveries entered on SACK information"
#define TCP_HELP_TCPPartialAcks	  "partial ACKs during recovery"
#define TCP_HELP_TCPSACKRetrans	  "segments retransmitted because of SACK information"
#define TCP_HELP_TCPOFOQueue	  "segments put in the out-of-order queue"
#define TCP_HELP_TCPOFODrop	  "out-of-order segments dropped (queue full)"
#define TCP_HELP_TCPOFOCapDrop	  "out-of-order segments dropped: connection's out-of-order cap"
#define TCP_HELP_TCPRcvQDrop	  "segments dropped: receive queue full"
#define TCP_HELP_TCPRcvMemDrop	  "segments dropped: receive memory limit"
#define TCP_HELP_TCPSndBufFull	  "sends refused or shortened: send buffer full"
#define TCP_HELP_TCPRestartProbes                                                                \
	"SYNs sent at start to end the previous incarnation's connections (challenge ACK, then " \
	"RST)"
#define TCP_HELP_TCPSndMemPressureDrops \
	"new connections refused under send-memory pressure ([tcp] snd_mem_pressure_pct)"
#define TCP_HELP_TCPChallengeACK	"challenge ACKs sent (RFC 5961)"
#define TCP_HELP_TCPSYNChallenge	"challenge ACKs sent in answer to a SYN"
#define TCP_HELP_TCPChallengeACKLimited "challenge ACKs not sent: rate limit"
#define TCP_HELP_PAWSEstab		"segments dropped by PAWS on established connections"
#define TCP_HELP_PAWSTimewait		"segments dropped by PAWS in TIME_WAIT"
#define TCP_HELP_TCPACKInvalid		"segments with an unacceptable ACK"
#define TCP_HELP_TCPOptErrors		"segments with malformed TCP options"
#define TCP_HELP_TCPDelayedACKs		"delayed ACKs sent"
#define TCP_HELP_TCPWinProbe		"zero-window probes sent"
#define TCP_HELP_TCPKeepAlive		"keepalive probes sent"
#define TCP_HELP_TCPAbortOnData		"connections reset: data arrived after close"
#define TCP_HELP_TCPAbortOnClose	"connections reset: closed with unread data"
#define TCP_HELP_TCPAbortOnTimeout	"connections aborted: retransmission or keepalive timeout"
#define TCP_HELP_TCPAbortOnMemory	"connections aborted: out of memory"
#define TCP_HELP_TCPAbortOnZeroWindow	"connections aborted: data held behind a zero window too long"
#define TCP_HELP_TCPAbortOnLifetime	"connections aborted: absolute lifetime exceeded"
#define TCP_HELP_TCPAbortOnLinger	"connections aborted in FIN_WAIT_2: the peer never sent its FIN"
#define TCP_HELP_TW			"connections that entered TIME_WAIT"
#define TCP_HELP_TCPTimeWaitOverflow	"connections closed without TIME_WAIT: table full"
#define TCP_HELP_TWRecycled		"TIME_WAIT connections reused by a new SYN"
#define TCP_HELP_TWKilled		"TIME_WAIT connections ended early (RST, RFC 1337 off)"
#define TCP_HELP_TCPPMTUUpdates		"path MTU reductions applied from ICMP"
#define TCP_HELP_TCPNoPort		"segments to a port with no listener"
#define TCP_HELP_TCPLostRetransmit	"retransmissions found lost again"
#define TCP_HELP_TCPRACKLoss		"segments marked lost by RACK"
#define TCP_HELP_TCPRACKReoTimeout	"RACK reordering timer expiries"
#define TCP_HELP_TCPLossProbes		"tail loss probes sent"
#define TCP_HELP_TCPLossProbeRecovery	"losses repaired by a tail loss probe"
#define TCP_HELP_TCPDSACKRecv		"D-SACK blocks received"
#define TCP_HELP_TCPDSACKSent		"D-SACK blocks sent"
#define TCP_HELP_TCPDSACKUndo		"congestion window reductions undone on D-SACK"
#define TCP_HELP_TCPSACKReorder		"reordering detected from SACK"
#define TCP_HELP_TCPLimitedTransmit	"limited transmit segments sent (RFC 3042)"

/* CurrEstab is the gauge of the list; everything else counts up. */
#define TCP_TYPE(f)                                                                             \
	(offsetof(struct tcp_stats, f) == offsetof(struct tcp_stats, curr_estab) ? MX_CTR_GAUGE \
										 : MX_CTR_COUNTER)

static const struct mx_ctr_def tcp_defs[] = {
#define X(n, f) {.name = #n, .prom = #f, .help = TCP_HELP_##n, .type = TCP_TYPE(f)},
	TCP_STATS_LIST(X)
#undef X
};

static void tcp_read(void *arg, unsigned inst, uint64_t *vals)
{
	struct tcp_stats s;
	unsigned k = 0;

	(void)arg;
	dp_tcp_stats(inst, &s);
#define X(n, f) vals[k++] = s.f;
	TCP_STATS_LIST(X)
#undef X
}

static const struct mx_ctr_group tcp_group = {
	.name = "tcp",
	.scope = MX_CTR_WORKER,
	.defs = tcp_defs,
	.ndefs = sizeof(tcp_defs) / sizeof(tcp_defs[0]),
	.instances = dp_counters_workers,
	.read = tcp_read,
};

/* What each worker holds against its configured bounds: `show stats`
 * reads these to check that an attack stays within them. */
#define MEM_USAGE(X)                                                                    \
	X(tcbs, tcp.tcbs, "TCP connections held (all states but TIME_WAIT)")            \
	X(tcbs_max, tcp.tcbs_max, "bound: [tcp] max_conns")                             \
	X(timewait, tcp.timewait, "TIME_WAIT entries held")                             \
	X(timewait_max, tcp.timewait_max, "bound: [tcp] max_timewait")                  \
	X(snd_bytes, tcp.snd_bytes, "send buffer memory in use (bytes)")                \
	X(snd_max, tcp.snd_max, "bound: [tcp] snd_mem_mb")                              \
	X(rcv_held, tcp.rcv_held, "receive buffers held, by buffer size (bytes)")       \
	X(rcv_max, tcp.rcv_max, "bound: [tcp] rcv_mem_mb")                              \
	X(rcv_segs, tcp.rcv_segs, "received pieces held (in order and out of order)")   \
	X(rcv_segs_max, tcp.rcv_segs_max, "bound: receive piece descriptors")           \
	X(mbufs_in_use, mbufs_in_use, "mbufs of the worker's pool in use (any holder)") \
	X(mbufs, mbufs, "bound: mbufs in the worker's pool ([port] mbufs)")

static const struct mx_ctr_def mem_defs[] = {
#define X(n, f, h) {.name = #n, .help = h, .type = MX_CTR_GAUGE},
	MEM_USAGE(X)
#undef X
};

static void mem_read(void *arg, unsigned inst, uint64_t *vals)
{
	struct dp_usage u;
	unsigned k = 0;

	(void)arg;
	dp_usage_read(inst, &u);
#define X(n, f, h) vals[k++] = u.f;
	MEM_USAGE(X)
#undef X
}

static const struct mx_ctr_group mem_group = {
	.name = "mem",
	.long_name = "memory",
	.scope = MX_CTR_WORKER,
	.defs = mem_defs,
	.ndefs = sizeof(mem_defs) / sizeof(mem_defs[0]),
	.instances = dp_counters_workers,
	.read = mem_read,
};

int dp_counters_register(void)
{
	int rc = mx_ctr_register(&dp_group);

	if (!rc)
		rc = mx_ctr_register(&tcp_group);
	return rc ? rc : mx_ctr_register(&mem_group);
}
