/*
 * record-t.h - on-disk record format of the mxgate spool (types only).
 *
 * Every spool file (worker segment, done log) is a sequence of typed,
 * length-prefixed records, little-endian on disk, in the spirit of Postfix
 * queue files: a message is valid only if its END record is intact, and a
 * file is valid only up to its last intact record.
 *
 * Record = header (SPOOL_REC_HDR_LEN bytes) + payload (length bytes):
 *
 *   off  size  field
 *     0     4  magic    SPOOL_REC_MAGIC
 *     4     1  version  SPOOL_REC_VERSION
 *     5     1  type     enum spool_rec_type
 *     6     2  flags    0 (reserved)
 *     8     4  length   payload bytes, <= SPOOL_REC_MAX_LEN
 *    12     4  crc      CRC32C, see below
 *    16     8  off      logical stream offset of this record (see spool.c)
 *    24    16  qid      queue id (hi, lo), zero for file headers
 *
 * crc = CRC32C(seed = file salt) over the payload, continued over the header
 * with the crc field zeroed. The payload goes first so that a BODY record can
 * be extended in the staging buffer without re-reading it. The salt is a
 * random per-boot, per-worker value stored in the file header record (which is
 * itself checked with salt 0). Together with the off field, it means bytes
 * inside a message body can never pass for a record, even when recovery has
 * to resynchronise after a damaged region: a client cannot forge a record.
 *
 * Payloads (all integers little-endian; "str" = u16 length, bytes, NUL; a
 * length of 0xffff means absent and has no bytes and no NUL):
 *
 *   FILEHDR   u16 worker (0xffff: done log), u16 zero, u32 salt, u64 seq,
 *             u64 logical start offset, u64 creation time (unix us)
 *   ENVELOPE  u64 arrival (unix us), u8 family (4|6), u8 zero, u16 port,
 *             u8 addr[16], str helo, str tls_proto, str tls_cipher,
 *             str mail_from, str mail_params, u32 nrcpt,
 *             nrcpt x { u8 notify, str addr, str orcpt, str params }
 *   BODY      raw message bytes (Received: header first), any split
 *   END       u64 envelope record off, u64 body length, u32 message crc
 *             (CRC32C over envelope payload then all body bytes), u32 number
 *             of BODY records, u32 nrcpt, u32 zero
 *   DONE      u32 recipient index, u8 state (enum spool_rcpt_state),
 *             u8[3] zero, u64 time (unix us)
 */
#ifndef MX_QUEUE_RECORD_T_H
#define MX_QUEUE_RECORD_T_H

#include <stdint.h>

#define SPOOL_REC_MAGIC	  0x3153584dU /* "MXS1" as bytes on disk */
#define SPOOL_REC_VERSION 1
#define SPOOL_REC_HDR_LEN 40
/** Upper bound of a payload; larger lengths are treated as damage. */
#define SPOOL_REC_MAX_LEN (16U << 20)

#define SPOOL_FILEHDR_PAYLOAD 32
#define SPOOL_END_PAYLOAD     32
#define SPOOL_DONE_PAYLOAD    16
/** Bytes taken by the header record at the start of every spool file. */
#define SPOOL_FILEHDR_LEN (SPOOL_REC_HDR_LEN + SPOOL_FILEHDR_PAYLOAD)
/** Worker field of the done log's file header. */
#define SPOOL_FILEHDR_DONELOG 0xffffU

#define SPOOL_STR_ABSENT 0xffffU
#define SPOOL_STR_MAX	 0xfffeU

enum spool_rec_type {
	SPOOL_REC_NONE = 0,
	SPOOL_REC_FILEHDR,
	SPOOL_REC_ENVELOPE,
	SPOOL_REC_BODY,
	SPOOL_REC_END,
	SPOOL_REC_DONE,
	SPOOL_REC_TYPE_COUNT,
};

/**
 * Queue id: 128 bits, sortable by time, unique across restarts.
 * hi = unix milliseconds (48 bits) << 16 | worker id (16 bits)
 * lo = per-worker counter within the millisecond (32 bits) << 32
 *      | per-boot random nonce (32 bits)
 * Rendered as 26 characters of Crockford base32 (SPOOL_QID_STRLEN), which
 * sort like the numbers they encode.
 */
struct spool_qid {
	uint64_t hi;
	uint64_t lo;
};

#define SPOOL_QID_STRLEN 26

/** Decoded (host order) record header. */
struct spool_rec_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t len;
	uint32_t crc;
	uint64_t off;
	struct spool_qid qid;
};

/** Decoded file header payload. */
struct spool_filehdr {
	uint16_t worker;
	uint32_t salt;
	uint64_t seq;
	uint64_t lstart;
	uint64_t created_us;
};

/** DSN NOTIFY= bits (RFC 3461); 0 means the parameter was not given. */
enum {
	SPOOL_NOTIFY_NEVER = 1 << 0,
	SPOOL_NOTIFY_SUCCESS = 1 << 1,
	SPOOL_NOTIFY_FAILURE = 1 << 2,
	SPOOL_NOTIFY_DELAY = 1 << 3,
};

/** One recipient. Strings are NUL-terminated; orcpt/params may be NULL. */
struct spool_rcpt {
	const char *addr;
	const char *orcpt;  /* ORCPT= value as received (xtext), or NULL */
	const char *params; /* other RCPT parameters, verbatim, or NULL */
	uint8_t notify;	    /* SPOOL_NOTIFY_* */
};

/**
 * The envelope of one message. On encode the caller owns every string; on
 * decode every pointer points into the record payload it was decoded from.
 */
struct spool_envelope {
	uint64_t arrival_us; /* unix time in microseconds */
	uint8_t family;	     /* 4 or 6 */
	uint8_t addr[16];    /* IPv4 in the first 4 bytes */
	uint16_t port;
	const char *helo;
	const char *tls_proto;	 /* e.g. "TLSv1.3", NULL without TLS */
	const char *tls_cipher;	 /* e.g. "TLS_AES_256_GCM_SHA384", NULL without TLS */
	const char *mail_from;	 /* reverse path without <>, "" for the null sender */
	const char *mail_params; /* ESMTP MAIL parameters verbatim (SIZE=, BODY=, RET=, ENVID=), or
				    NULL */
	uint32_t nrcpt;
	const struct spool_rcpt *rcpt;
};

/** Decoded END payload. */
struct spool_end {
	uint64_t env_off;
	uint64_t body_len;
	uint32_t msg_crc;
	uint32_t nbody;
	uint32_t nrcpt;
};

/** Per-recipient delivery state, as written to the done log. */
enum spool_rcpt_state {
	SPOOL_RCPT_PENDING = 0,
	SPOOL_RCPT_DELIVERED, /* final: the next hop took it */
	SPOOL_RCPT_HELD,      /* 5xx: kept in the spool until released */
	SPOOL_RCPT_RELEASED,  /* operator released a held recipient: pending again */
	SPOOL_RCPT_DELETED,   /* final: operator deleted it */
	SPOOL_RCPT_BOUNCED,   /* final: failed (5xx or expired), sender notified (DSN) */
	SPOOL_RCPT_STATE_COUNT,
};

#endif
