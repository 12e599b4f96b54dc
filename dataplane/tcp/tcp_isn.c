/*
 * tcp_isn.c - RFC 6528 initial sequence numbers, per-connection timestamp
 * offsets and RFC 4987 SYN cookies, all built on env->keyed_hash (SipHash
 * keyed per boot in production; this file never implements a hash).
 *
 * Cookie layout (the ISN of a cookie SYN-ACK):
 *
 *   31      27 26  24 23                     0
 *   | period | mss  |   hash(key, peer ISN,   |
 *   | 5 bits | idx  |   period, mss idx) & 2^24-1
 *
 * period = now / 64 s. A cookie is accepted during the period it was made
 * in and the next one (64..128 s), so stale cookies die and a forger has
 * a 2^-24 chance per try (and needs the exact peer ISN). With timestamps
 * the SYN-ACK's TSval low 6 bits carry the peer's window scale (4 bits,
 * 15 = none) and SACK-permitted (1 bit) plus a marker bit; they come back
 * in the ACK's TSecr. Like Linux, these bits are not authenticated: a
 * forger gains nothing from lying about its own options.
 */
#include "dataplane/tcp/tcp-int.h"

#define COOKIE_PERIOD_US (64ull * 1000000)
#define COOKIE_HASH_MASK 0xffffffu

/* Inputs hashed for ISNs / offsets: domain tag + key. */
struct isn_in {
	uint32_t tag;
	struct tcp_key key;
};

struct cookie_in {
	uint32_t tag;
	uint32_t peer_isn;
	uint32_t period;
	uint32_t mss_idx;
	struct tcp_key key;
};

static const uint16_t cookie_mss_tab[8] = {536, 1200, 1300, 1380, 1440, 1452, 1460, 8960};

uint32_t tcp_isn(struct tcp_stack *st, const struct tcp_key *key)
{
	struct isn_in in = {.tag = 0x49534e31, .key = *key};
	uint64_t h = st->env.keyed_hash(st->env.ctx, &in, sizeof(in));

	/* RFC 6528: ISN = M + F(4-tuple, secret), M a 4 us timer. */
	return (uint32_t)(st->now_us / 4) + (uint32_t)h;
}

uint32_t tcp_ts_offset(struct tcp_stack *st, const struct tcp_key *key)
{
	struct isn_in in = {.tag = 0x54534f46, .key = *key};

	return (uint32_t)st->env.keyed_hash(st->env.ctx, &in, sizeof(in));
}

unsigned tcp_cookie_mss_idx(uint16_t mss)
{
	unsigned i = 7;

	while (i > 0 && cookie_mss_tab[i] > mss)
		i--;
	return i;
}

uint16_t tcp_cookie_mss(unsigned idx)
{
	return cookie_mss_tab[idx & 7];
}

static uint32_t cookie_hash(struct tcp_stack *st, const struct tcp_key *key, uint32_t peer_isn,
			    uint32_t period, unsigned mss_idx)
{
	struct cookie_in in = {
		.tag = 0x434f4f4b,
		.peer_isn = peer_isn,
		.period = period,
		.mss_idx = mss_idx,
		.key = *key,
	};
	return (uint32_t)st->env.keyed_hash(st->env.ctx, &in, sizeof(in)) & COOKIE_HASH_MASK;
}

uint32_t tcp_cookie_make(struct tcp_stack *st, const struct tcp_key *key, uint32_t peer_isn,
			 unsigned mss_idx)
{
	uint32_t period = (uint32_t)(st->now_us / COOKIE_PERIOD_US);

	mss_idx &= 7;
	return (period & 31) << 27 | mss_idx << 24 |
	       cookie_hash(st, key, peer_isn, period, mss_idx);
}

uint16_t tcp_cookie_check(struct tcp_stack *st, const struct tcp_key *key, uint32_t seq,
			  uint32_t ack)
{
	uint32_t cookie = ack - 1;
	uint32_t peer_isn = seq - 1;
	uint32_t now_period = (uint32_t)(st->now_us / COOKIE_PERIOD_US);
	unsigned mss_idx = (cookie >> 24) & 7;

	for (uint32_t age = 0; age < 2; age++) {
		uint32_t period = now_period - age;

		if (age > now_period)
			break;
		if ((period & 31) != cookie >> 27)
			continue;
		if (cookie_hash(st, key, peer_isn, period, mss_idx) == (cookie & COOKIE_HASH_MASK))
			return cookie_mss_tab[mss_idx];
	}
	return 0;
}

uint32_t tcp_cookie_ts_encode(bool ws_ok, uint8_t ws, bool sack_ok)
{
	return 0x20u | (sack_ok ? 0x10u : 0) | (ws_ok ? (ws & 0xfu) : 0xfu);
}

bool tcp_cookie_ts_decode(uint32_t tsecr, bool *ws_ok, uint8_t *ws, bool *sack_ok)
{
	if (!(tsecr & 0x20u))
		return false;
	*sack_ok = tsecr & 0x10u;
	*ws_ok = (tsecr & 0xfu) != 0xfu;
	*ws = *ws_ok ? (uint8_t)(tsecr & 0xfu) : 0;
	if (*ws > TCP_WS_MAX)
		*ws = TCP_WS_MAX;
	return true;
}
