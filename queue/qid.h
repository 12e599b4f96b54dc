/*
 * qid.h - spool queue ids: generation, formatting, parsing.
 *
 * A queue id is 128 bits (struct spool_qid in record-t.h): milliseconds
 * since the epoch (48 bits), worker id (16), a counter within the
 * millisecond (32) and a per-boot random nonce (32). Ids of one worker are
 * strictly increasing, also across a restart: the generator never goes
 * below the largest id recovery saw for its worker, even if the clock
 * stepped back; the nonce separates two boots that reach the same
 * (ms, worker, counter) anyway. Ids sort by time at millisecond grain,
 * numerically and as strings.
 *
 * The text form is 26 characters of Crockford base32 (0-9, A-Z without
 * I L O U), fixed width, like Postfix long queue ids.
 */
#ifndef MX_QUEUE_QID_H
#define MX_QUEUE_QID_H

#include <stddef.h>
#include <stdint.h>

#include "queue/record-t.h"

/** Per-worker generator state; owned by one thread. */
struct spool_qid_gen {
	uint64_t last_ms;
	uint32_t counter;
	uint32_t nonce;
	uint16_t worker;
};

/**
 * Initialise @g for @worker with the per-boot @nonce. @floor, if not NULL,
 * is the largest id already used by this worker (from recovery): every id
 * generated afterwards is greater. Any thread (boot).
 */
void spool_qid_gen_init(struct spool_qid_gen *g, uint16_t worker, uint32_t nonce,
			const struct spool_qid *floor);

/**
 * Next id at time @now_ms (unix milliseconds). Strictly greater than every id
 * @g returned before. Thread owning @g only; no syscall.
 */
struct spool_qid spool_qid_next(struct spool_qid_gen *g, uint64_t now_ms);

/** Unix milliseconds of @q. */
static inline uint64_t spool_qid_ms(const struct spool_qid *q)
{
	return q->hi >> 16;
}

/** Worker id of @q. */
static inline uint16_t spool_qid_worker(const struct spool_qid *q)
{
	return (uint16_t)q->hi;
}

/**
 * Write the text form of @q to @out: SPOOL_QID_STRLEN characters and a NUL
 * (@out must hold SPOOL_QID_STRLEN + 1). Returns @out. Any thread.
 */
char *spool_qid_format(const struct spool_qid *q, char *out);

/**
 * Parse exactly @len characters at @s (case-insensitive) into @q. Returns 0,
 * or -EINVAL for a wrong length, a character outside the alphabet or a value
 * above 128 bits. Any thread; safe on untrusted input (ctl socket).
 */
int spool_qid_parse(const char *s, size_t len, struct spool_qid *q);

#endif
