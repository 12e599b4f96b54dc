/*
 * attack.h - mxbench's adversarial modes, run by one attacker thread next to
 * the legitimate load (kattack.c, kernel sockets). This header holds the
 * pure parts, unit-tested without sockets or clock (tests/unit/bench/
 * test_attack.c): option parsing, the connection pacing, the slowloris byte
 * schedule, the per-connection protocol of each mode and the report.
 *
 *   slowloris    after the banner, one byte of a command every --attack-
 *                interval seconds, never a line end
 *   fin-hold     EHLO, QUIT, read the 221, then hold the socket open (never
 *                close(), so our FIN is never sent) until the end of the run
 *   zero-window  tiny SO_RCVBUF; read the banner, then pipeline NOOP/HELP
 *                and never read again, so the server's replies fill our window
 *   pregreet     EHLO sent right after connect, before the banner; counts 554
 *                (refused) against served (220 then 250)
 *   flood        connections as fast as --attack-rate allows, each holding
 *                silently after its banner; counts 220 against 421
 *   ooo          after the banner, --attack-ooo-segs segments of one octet
 *                each past a hole (every other octet from the next expected
 *                one on), injected through a raw socket into the kernel's
 *                connection (sequence numbers read with TCP_REPAIR; root),
 *                the hole never filled; held until the end of the run
 *   syn-flood    bare SYNs from spoofed --attack-syn-src addresses (that must
 *                not answer) through a raw IPv4 socket, at --attack-rate,
 *                --attack-total in all; nothing is received or counted back
 *
 * Memory: nothing here allocates; the caller owns every struct. Not
 * thread-safe: the attacker thread is the only writer of its stats, which
 * the main thread reads only after joining it.
 */
#ifndef MX_BENCH_ATTACK_H
#define MX_BENCH_ATTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "core/hist.h"

enum bench_atk_mode {
	BENCH_ATK_SLOWLORIS = 0,
	BENCH_ATK_FIN_HOLD,
	BENCH_ATK_ZERO_WINDOW,
	BENCH_ATK_PREGREET,
	BENCH_ATK_FLOOD,
	BENCH_ATK_OOO,
	BENCH_ATK_SYN_FLOOD,
	BENCH_ATK_MODES,
};

#define BENCH_ATK_SRC_MAX   64
#define BENCH_ATK_CODES	    600
#define BENCH_ATK_CONNS_MAX 10000

struct bench_atk_cfg {
	unsigned modes;	     /* bit (1u << enum bench_atk_mode) per mode */
	unsigned conns;	     /* concurrent attacker connections per mode */
	double rate;	     /* new connections/s per mode, 0: no limit */
	uint64_t total;	     /* most connections per mode over the run */
	double interval;     /* slowloris: seconds between bytes */
	unsigned zw_rcvbuf;  /* zero-window: SO_RCVBUF octets */
	unsigned zw_cmds;    /* zero-window: commands pipelined per connection */
	unsigned ooo_segs;   /* ooo: one-octet segments past the hole */
	unsigned nsrc;	     /* source addresses, round robin; 0: none */
	const char *src_str; /* as given, for the report */
	struct sockaddr_storage src[BENCH_ATK_SRC_MAX];
	socklen_t src_len[BENCH_ATK_SRC_MAX];
	unsigned nsyn_src; /* syn-flood: spoofed IPv4 sources, network order */
	uint32_t syn_src[BENCH_ATK_SRC_MAX];
};

struct bench_atk_stats {
	uint64_t attempts;	   /* connect() calls */
	uint64_t opened;	   /* established */
	uint64_t connect_failed;   /* refused by TCP, unreachable, timed out */
	uint64_t refused;	   /* first reply 4xx/5xx (421 busy, 554 pregreet) */
	uint64_t closed_by_server; /* server ended the connection (FIN or RST) */
	uint64_t reset_by_server;  /* of which with a RST (or an error) */
	uint64_t closed_by_us;	   /* protocol done or reply timeout */
	uint64_t open_at_end;	   /* still held when the run ended */
	uint64_t served;	   /* pregreet: 250 to EHLO; fin-hold: 221; flood: 220 */
	uint64_t fin_seen;	   /* fin-hold: server FIN after the 221 */
	uint64_t send_blocked;	   /* zero-window: connections whose sends blocked */
	uint64_t cmds_sent;	   /* zero-window: commands written; ooo: segments */
	uint64_t bytes_sent;
	uint64_t replies;
	uint64_t by_code[BENCH_ATK_CODES];
	uint64_t first_by_code[BENCH_ATK_CODES]; /* first reply per connection */
	struct mx_hist h_held;			 /* ns, until the server's close */
	struct mx_hist h_held_end;		 /* ns, held until the end of run */
	char last_err[120];
};

/** Name of @m ("slowloris", "fin-hold", ...), or "?" for no mode. */
const char *bench_atk_mode_name(enum bench_atk_mode m);

/**
 * Add the modes of the comma-separated @list to *@modes ("all" is every
 * mode but syn-flood and ooo, which need raw packets). 0, or -EINVAL on an unknown or empty name
 * (*@modes unchanged).
 */
int bench_atk_parse_modes(unsigned *modes, const char *list);

/**
 * Append the numeric addresses of the comma-separated @list, all of @family
 * (AF_INET or AF_INET6), to cfg->src (port 0). 0, -EINVAL on a bad address
 * or family, -E2BIG beyond BENCH_ATK_SRC_MAX (cfg->nsrc unchanged on error).
 */
int bench_atk_parse_src(struct bench_atk_cfg *cfg, const char *list, int family);

/* Connection pacing of one mode: at most @rate new connections a second, a
 * late caller catches up by BENCH_ATK_BURST_NS (or one gap, if longer) at
 * most: no burst of everything missed after a stall; @total in all. */
#define BENCH_ATK_BURST_NS (50 * 1000 * 1000ULL)
struct bench_atk_pace {
	uint64_t gap_ns; /* 0: no rate limit */
	uint64_t next_ns;
	uint64_t left;
};

/** Start pacing at @start_ns. @rate 0 means no rate limit. */
void bench_atk_pace_init(struct bench_atk_pace *p, double rate, uint64_t total, uint64_t start_ns);

/** True (and one connection consumed) if one may be opened at @now_ns. */
bool bench_atk_pace_take(struct bench_atk_pace *p, uint64_t now_ns);

/** Slowloris: octet number @k of the never-ending command (no CR or LF). */
char bench_atk_slow_byte(uint64_t k);

/** Slowloris: when octet number @sent is due, the clock started at @t0_ns. */
static inline uint64_t bench_atk_slow_due(uint64_t t0_ns, uint64_t interval_ns, uint64_t sent)
{
	return t0_ns + (sent + 1) * interval_ns;
}

/**
 * Zero-window: fill @buf (@cap octets) with whole commands from number
 * *@k on (NOOP and HELP in turn), at most @left of them. Returns the octets
 * written; *@k advances by the commands written.
 */
size_t bench_atk_zw_fill(char *buf, size_t cap, uint64_t *k, uint64_t left);

/* What the attacker connection does after a reply. */
enum bench_atk_act {
	BENCH_ATK_ACT_NONE = 0,	  /* keep the connection as it is */
	BENCH_ATK_ACT_EHLO,	  /* send EHLO */
	BENCH_ATK_ACT_QUIT,	  /* send QUIT */
	BENCH_ATK_ACT_START,	  /* banner seen: start the attack proper */
	BENCH_ATK_ACT_HOLD,	  /* hold: no deadline, wait for the server */
	BENCH_ATK_ACT_CLOSE,	  /* done: close it ourselves */
	BENCH_ATK_ACT_WAIT_CLOSE, /* refused: wait (bounded) for the server's close */
};

enum bench_atk_pstate {
	BENCH_ATK_P_BANNER = 0, /* nothing received yet */
	BENCH_ATK_P_EHLO,	/* EHLO sent (pregreet: before the banner) */
	BENCH_ATK_P_QUIT,	/* QUIT sent */
	BENCH_ATK_P_RUN,	/* the attack proper, or holding */
	BENCH_ATK_P_REFUSED,	/* refused: waiting for the close */
};

struct bench_atk_proto {
	enum bench_atk_mode mode;
	enum bench_atk_pstate state;
	unsigned nreplies;
};

/** Start the protocol of a connection of @mode (nothing received yet). */
void bench_atk_proto_init(struct bench_atk_proto *p, enum bench_atk_mode mode);

/**
 * Feed reply @code to connection @p; count it in @st (replies, by_code,
 * first_by_code, refused, served). Returns what to do next.
 */
enum bench_atk_act bench_atk_on_reply(struct bench_atk_proto *p, int code,
				      struct bench_atk_stats *st);

/**
 * Append the IPv4 addresses of the comma-separated @list to cfg->syn_src.
 * 0, -EINVAL on a bad address, -E2BIG beyond BENCH_ATK_SRC_MAX (unchanged
 * on error).
 */
int bench_atk_parse_syn_src(struct bench_atk_cfg *cfg, const char *list);

#define BENCH_ATK_SYN_LEN 44 /* IPv4 header 20 + TCP header 20 + MSS option 4 */

/**
 * Build in @buf (BENCH_ATK_SYN_LEN octets) an IPv4 packet carrying a TCP
 * SYN with an MSS option of 1460, both checksums set. Addresses and ports
 * in network order, @seq and @ip_id in host order. Returns the length.
 */
size_t bench_atk_syn_build(uint8_t *buf, uint32_t saddr, uint32_t daddr, uint16_t sport,
			   uint16_t dport, uint32_t seq, uint16_t ip_id);

#define BENCH_ATK_SEG_LEN 41 /* IPv4 header 20 + TCP header 20 + 1 octet */

/**
 * Build in @buf (BENCH_ATK_SEG_LEN octets) an IPv4 packet carrying a TCP
 * PSH|ACK segment of the one octet @byte at @seq, acknowledging @ack, no
 * options (no timestamp, so PAWS does not apply), both checksums set.
 * Addresses and ports in network order, the rest in host order.
 */
size_t bench_atk_seg_build(uint8_t *buf, uint32_t saddr, uint32_t daddr, uint16_t sport,
			   uint16_t dport, uint32_t seq, uint32_t ack, char byte, uint16_t ip_id);

/** Zero the counters of @st and initialise its histograms. */
void bench_atk_stats_init(struct bench_atk_stats *st);

/**
 * Write the report's "attack" object (the key included, no trailing comma)
 * at indentation 2: the configuration, then per mode its counts, replies by
 * code and hold times. @st has BENCH_ATK_MODES entries.
 */
void bench_atk_report_json(FILE *f, const struct bench_atk_cfg *cfg,
			   const struct bench_atk_stats *st);

/** One summary line per configured mode, each starting with "mxbench: ". */
void bench_atk_report_text(FILE *f, const struct bench_atk_cfg *cfg,
			   const struct bench_atk_stats *st);

#endif
