/*
 * reply.h - incremental SMTP reply parser for mxbench (RFC 5321 4.2).
 *
 * The parser keeps its state in struct bench_reply_parser and may be fed any
 * split of the byte stream: bench_reply_feed() consumes bytes until one whole
 * (possibly multi-line) reply is complete, then returns BENCH_REPLY_OK with
 * the reply in @out; when the bytes run out first it returns BENCH_REPLY_AGAIN
 * having consumed them all. Malformed input gives BENCH_REPLY_ERROR with
 * p->err set; the offending line is consumed and the parser is reset, but a
 * client should treat the session as broken.
 *
 * Accepted: "ddd<SP>text<CRLF>", "ddd<CRLF>", continuation lines "ddd-text",
 * all lines of one reply with the same code, first digit 2..5, second 0..5.
 * A bare LF ends a line too (counted in bench_reply.bare_lf), a lone CR in the
 * middle of a line is kept as text. For every line after the first, the first
 * word is matched against the EHLO keywords we care about (BENCH_EXT_*).
 *
 * No allocation; not thread-safe (one parser per connection).
 */
#ifndef MX_BENCH_REPLY_H
#define MX_BENCH_REPLY_H

#include <stdbool.h>
#include <stddef.h>

enum bench_reply_rc {
	BENCH_REPLY_OK = 0,
	BENCH_REPLY_AGAIN,
	BENCH_REPLY_ERROR,
};

/* EHLO keywords (bits of bench_reply.ext). */
#define BENCH_EXT_PIPELINING	      (1u << 0)
#define BENCH_EXT_CHUNKING	      (1u << 1)
#define BENCH_EXT_STARTTLS	      (1u << 2)
#define BENCH_EXT_SIZE		      (1u << 3)
#define BENCH_EXT_8BITMIME	      (1u << 4)
#define BENCH_EXT_ENHANCEDSTATUSCODES (1u << 5)
#define BENCH_EXT_SMTPUTF8	      (1u << 6)
#define BENCH_EXT_DSN		      (1u << 7)

/* RFC 5321 limits a reply line to 512 octets; accept twice that. */
#define BENCH_REPLY_LINE_MAX  1024
#define BENCH_REPLY_LINES_MAX 128
#define BENCH_REPLY_TEXT_MAX  128

struct bench_reply {
	int code;			 /* 200..599 */
	unsigned nlines;		 /* >= 1 */
	unsigned ext;			 /* BENCH_EXT_* seen on lines 2.. */
	unsigned bare_lf;		 /* lines ended by LF without CR */
	char text[BENCH_REPLY_TEXT_MAX]; /* first line, NUL-terminated, truncated */
};

struct bench_reply_parser {
	char line[BENCH_REPLY_LINE_MAX];
	size_t line_len;
	bool overflow; /* current line longer than BENCH_REPLY_LINE_MAX */
	struct bench_reply cur;
	const char *err; /* static string, set on BENCH_REPLY_ERROR */
};

/** Reset @p to the start of a reply. */
void bench_reply_init(struct bench_reply_parser *p);

/**
 * Feed @len bytes at @buf. Sets *@used to the bytes consumed (always all of
 * them on AGAIN). On OK, *@out holds the completed reply and the caller feeds
 * the rest (buf + *used) again for the next one.
 */
enum bench_reply_rc bench_reply_feed(struct bench_reply_parser *p, const char *buf, size_t len,
				     size_t *used, struct bench_reply *out);

#endif
