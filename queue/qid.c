/*
 * qid.c - queue id generation and text form. See qid.h.
 */
#include <errno.h>

#include "queue/qid.h"

static const char b32[32] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void spool_qid_gen_init(struct spool_qid_gen *g, uint16_t worker, uint32_t nonce,
			const struct spool_qid *floor)
{
	g->worker = worker;
	g->nonce = nonce;
	g->last_ms = 0;
	g->counter = 0;
	if (floor) {
		/* The next id continues after the floor within its millisecond
		 * at least; spool_qid_next() bumps the counter first. */
		g->last_ms = spool_qid_ms(floor);
		g->counter = (uint32_t)(floor->lo >> 32);
	}
}

struct spool_qid spool_qid_next(struct spool_qid_gen *g, uint64_t now_ms)
{
	struct spool_qid q;

	now_ms &= (1ULL << 48) - 1;
	if (now_ms > g->last_ms) {
		g->last_ms = now_ms;
		g->counter = 0;
	} else if (g->counter == UINT32_MAX) {
		/* 4 billion ids in one millisecond, or the clock went back:
		 * borrow the next millisecond rather than repeat an id. */
		g->last_ms++;
		g->counter = 0;
	} else {
		g->counter++;
	}
	q.hi = (g->last_ms << 16) | g->worker;
	q.lo = ((uint64_t)g->counter << 32) | g->nonce;
	return q;
}

char *spool_qid_format(const struct spool_qid *q, char *out)
{
	unsigned __int128 v = ((unsigned __int128)q->hi << 64) | q->lo;

	for (int i = SPOOL_QID_STRLEN - 1; i >= 0; i--) {
		out[i] = b32[(unsigned)(v & 31)];
		v >>= 5;
	}
	out[SPOOL_QID_STRLEN] = '\0';
	return out;
}

static int b32_value(char c)
{
	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	for (int i = 0; i < 32; i++) {
		if (b32[i] == c)
			return i;
	}
	return -1;
}

int spool_qid_parse(const char *s, size_t len, struct spool_qid *q)
{
	unsigned __int128 v = 0;

	if (len != SPOOL_QID_STRLEN)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int d = b32_value(s[i]);

		if (d < 0)
			return -EINVAL;
		/* 26 x 5 = 130 bits: the first digit carries 3 bits only. */
		if (i == 0 && d > 7)
			return -EINVAL;
		v = (v << 5) | (unsigned)d;
	}
	q->hi = (uint64_t)(v >> 64);
	q->lo = (uint64_t)v;
	return 0;
}
