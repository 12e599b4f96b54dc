/*
 * tcp_sack.c - sender-side SACK scoreboard (RFC 2018, used as in RFC 6675
 * to pick what to retransmit during recovery).
 *
 * A small sorted array of disjoint blocks above snd_una. It only guides
 * retransmission: data is released solely by the cumulative ACK, so a peer
 * that reneges on SACKed data costs a timeout, never a hole (RFC 2018 8).
 */
#include "dataplane/tcp/tcp-int.h"

static void remove_at(struct tcp_sackboard *sb, unsigned i)
{
	for (unsigned k = i + 1; k < sb->n; k++)
		sb->b[k - 1] = sb->b[k];
	sb->n--;
}

static void insert_one(struct tcp_sackboard *sb, uint32_t s, uint32_t e)
{
	unsigned i = 0;

	/* Absorb every block that overlaps or touches [s, e). */
	while (i < sb->n) {
		struct tcp_sack_block *b = &sb->b[i];
		if (tcp_seq_lt(b->end, s)) {
			i++;
			continue;
		}
		if (tcp_seq_gt(b->start, e))
			break;
		s = tcp_seq_min(s, b->start);
		e = tcp_seq_max(e, b->end);
		remove_at(sb, i);
	}
	/* i is the insertion point (first block above e). */
	if (sb->n == TCP_SACK_SCOREBOARD) {
		if (i == sb->n)
			return; /* higher than everything kept: drop it */
		sb->n--;	/* drop the highest block */
	}
	for (unsigned k = sb->n; k > i; k--)
		sb->b[k] = sb->b[k - 1];
	sb->b[i].start = s;
	sb->b[i].end = e;
	sb->n++;
}

void tcp_sack_update(struct tcp_sackboard *sb, uint32_t snd_una, uint32_t snd_max,
		     const struct tcp_sack_block *in, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		uint32_t s = in[k].start, e = in[k].end;

		if (!tcp_seq_lt(s, e))
			continue; /* empty or inverted */
		if (tcp_seq_gt(e, snd_max))
			continue; /* SACKs data never sent: bogus */
		if (tcp_seq_leq(e, snd_una))
			continue; /* D-SACK or stale */
		if (e - s > snd_max - snd_una)
			continue; /* wider than the flight: bogus */
		if (tcp_seq_lt(s, snd_una))
			s = snd_una;
		insert_one(sb, s, e);
	}
}

void tcp_sack_prune(struct tcp_sackboard *sb, uint32_t snd_una)
{
	while (sb->n > 0 && tcp_seq_leq(sb->b[0].start, snd_una)) {
		if (tcp_seq_gt(sb->b[0].end, snd_una)) {
			sb->b[0].start = snd_una;
			break;
		}
		remove_at(sb, 0);
	}
}

bool tcp_sack_next_hole(const struct tcp_sackboard *sb, uint32_t from, uint32_t *start,
			uint32_t *end)
{
	for (unsigned i = 0; i < sb->n; i++) {
		const struct tcp_sack_block *b = &sb->b[i];

		if (tcp_seq_leq(b->end, from))
			continue;
		if (tcp_seq_lt(from, b->start)) {
			*start = from;
			*end = b->start;
			return true;
		}
		from = b->end; /* inside a block: the hole starts after it */
	}
	return false;
}

uint32_t tcp_sack_bytes(const struct tcp_sackboard *sb)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < sb->n; i++)
		n += sb->b[i].end - sb->b[i].start;
	return n;
}

bool tcp_sack_has(const struct tcp_sackboard *sb, uint32_t seq)
{
	for (unsigned i = 0; i < sb->n; i++)
		if (tcp_seq_in(seq, sb->b[i].start, sb->b[i].end))
			return true;
	return false;
}
