/*
 * record.h - encode, decode and check spool records (see record-t.h for the
 * format). Pure functions over caller buffers: no allocation, no I/O, no
 * global state; callable from any thread.
 *
 * CRC32C is DPDK's rte_hash_crc() (SSE4.2 instruction, with DPDK's software
 * fallback when the CPU lacks it), which works without the EAL.
 */
#ifndef MX_QUEUE_RECORD_H
#define MX_QUEUE_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "queue/record-t.h"

/* Little-endian accessors for unaligned on-disk fields. */
static inline void spool_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void spool_put32(uint8_t *p, uint32_t v)
{
	spool_put16(p, (uint16_t)v);
	spool_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void spool_put64(uint8_t *p, uint64_t v)
{
	spool_put32(p, (uint32_t)v);
	spool_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t spool_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t spool_get32(const uint8_t *p)
{
	return (uint32_t)spool_get16(p) | ((uint32_t)spool_get16(p + 2) << 16);
}

static inline uint64_t spool_get64(const uint8_t *p)
{
	return (uint64_t)spool_get32(p) | ((uint64_t)spool_get32(p + 4) << 32);
}

static inline int spool_qid_cmp(const struct spool_qid *a, const struct spool_qid *b)
{
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return 0;
}

static inline int spool_qid_eq(const struct spool_qid *a, const struct spool_qid *b)
{
	return a->hi == b->hi && a->lo == b->lo;
}

/**
 * Standard CRC32C (Castagnoli, reflected, init and final xor ~0) of @len bytes
 * at @p, continuing from @crc (0 to start). crc(a || b) ==
 * spool_crc32c(spool_crc32c(0, a), b). Any thread.
 */
uint32_t spool_crc32c(uint32_t crc, const void *p, size_t len);

/** Encode @h into @out (SPOOL_REC_HDR_LEN bytes). The magic and version
 * fields of @h are ignored: the current ones are written. Any thread. */
void spool_rec_hdr_encode(uint8_t *out, const struct spool_rec_hdr *h);

/**
 * Decode the header at @in (SPOOL_REC_HDR_LEN bytes) into @h without looking
 * at the payload. Returns 0, or -EBADMSG if magic, version, type or length is
 * impossible. Any thread.
 */
int spool_rec_hdr_decode(const uint8_t *in, struct spool_rec_hdr *h);

/**
 * CRC of a record: @payload_crc is spool_crc32c(@salt, payload) and @hdr the
 * encoded header (its crc field is treated as zero). Any thread.
 */
uint32_t spool_rec_crc_finish(uint32_t payload_crc, const uint8_t *hdr);

/**
 * Encode a complete record (header + @len bytes of @payload, which may be NULL
 * when @len is 0) at @out, @cap bytes available, checksummed with @salt.
 * Returns the number of bytes written, or -ENOSPC if @cap is too small, or
 * -EINVAL if @len exceeds SPOOL_REC_MAX_LEN. Any thread.
 */
int spool_rec_encode(uint8_t *out, size_t cap, uint32_t salt, enum spool_rec_type type,
		     uint64_t off, const struct spool_qid *qid, const void *payload, uint32_t len);

/**
 * Check the record at @p with @avail bytes readable, against @salt. On success
 * fills @h and returns the record's total length (header + payload). Returns
 * -EAGAIN when @avail is too short for the header or the payload its length
 * announces (a truncated record), -EBADMSG when the header is impossible or
 * the CRC does not match. Any thread.
 */
long spool_rec_check(const uint8_t *p, size_t avail, uint32_t salt, struct spool_rec_hdr *h);

/* ---- payload codecs ---- */

/** Encode a file header payload (SPOOL_FILEHDR_PAYLOAD bytes) at @out. */
void spool_filehdr_encode(uint8_t *out, const struct spool_filehdr *fh);
/** Decode a file header payload of @len bytes. 0 or -EBADMSG. */
int spool_filehdr_decode(const uint8_t *p, uint32_t len, struct spool_filehdr *fh);

/** Encode an END payload (SPOOL_END_PAYLOAD bytes) at @out. */
void spool_end_encode(uint8_t *out, const struct spool_end *e);
/** Decode an END payload of @len bytes. 0 or -EBADMSG. */
int spool_end_decode(const uint8_t *p, uint32_t len, struct spool_end *e);

/** Encode a DONE payload (SPOOL_DONE_PAYLOAD bytes) at @out. */
void spool_done_encode(uint8_t *out, uint32_t rcpt, enum spool_rcpt_state st, uint64_t time_us);
/** Decode a DONE payload. 0 or -EBADMSG (includes an unknown state). */
int spool_done_decode(const uint8_t *p, uint32_t len, uint32_t *rcpt, enum spool_rcpt_state *st,
		      uint64_t *time_us);

/**
 * Size in bytes of the ENVELOPE payload for @env. Returns the size, or
 * -EINVAL if a string exceeds SPOOL_STR_MAX, the family is not 4 or 6, a
 * required string (helo, mail_from, rcpt addr) is NULL, or nrcpt is 0.
 * Any thread.
 */
long spool_env_size(const struct spool_envelope *env);

/**
 * Encode @env at @out (@cap bytes). Returns the bytes written, -EINVAL (see
 * spool_env_size) or -ENOSPC. Any thread.
 */
long spool_env_encode(const struct spool_envelope *env, uint8_t *out, size_t cap);

/**
 * Decode an ENVELOPE payload of @len bytes at @p into @env, with up to
 * @max_rcpt recipients stored in @rcpt. All strings of @env and @rcpt point
 * into @p, which must outlive them. Returns 0, -EBADMSG for a malformed
 * payload, -E2BIG if it holds more than @max_rcpt recipients (env->nrcpt is
 * still set). Any thread.
 */
int spool_env_decode(const uint8_t *p, uint32_t len, struct spool_envelope *env,
		     struct spool_rcpt *rcpt, uint32_t max_rcpt);

/** True if @st ends a recipient's life in the spool (delivered, deleted,
 * bounced): nothing more is done for it. */
static inline int spool_rcpt_final(unsigned st)
{
	return st == SPOOL_RCPT_DELIVERED || st == SPOOL_RCPT_DELETED || st == SPOOL_RCPT_BOUNCED;
}

/** Name of a record type ("ENVELOPE"...), "?" if unknown. */
const char *spool_rec_type_name(unsigned type);
/** Name of a recipient state ("delivered"...), "?" if unknown. */
const char *spool_rcpt_state_name(unsigned st);

#endif
