/*
 * smtp-int.h - internals shared by the files of libmx_smtp. Not installed,
 * not for the host.
 */
#ifndef MX_SMTP_SMTP_INT_H
#define MX_SMTP_SMTP_INT_H

#include "smtp/smtp-t.h"

/* Session flags (struct smtp_session.flags). */
#define SMTP_SF_ESMTP	    0x0001 /* EHLO (not HELO) accepted */
#define SMTP_SF_TLS	    0x0002 /* TLS active */
#define SMTP_SF_CONNECT_OK  0x0004 /* connect check passed, banner may go */
#define SMTP_SF_PREGREET    0x0008 /* client talked before the banner */
#define SMTP_SF_OVERFLOW    0x0010 /* current command line too long: skip to LF */
#define SMTP_SF_BDAT_TXN    0x0020 /* the transaction uses BDAT */
#define SMTP_SF_BDAT_LAST   0x0040 /* the current chunk is the last one */
#define SMTP_SF_BDAT_SKIP   0x0080 /* discard the octets of the current chunk */
#define SMTP_SF_BDAT_FAILED 0x0100 /* a chunk failed: discard pipelined BDATs */
#define SMTP_SF_HELO_SEEN   0x0200 /* a HELO/EHLO was accepted */
#define SMTP_SF_TLS_HS	    0x0400 /* implicit TLS: the handshake is not done yet */
#define SMTP_SF_TEASED	    0x1000 /* the "220-" teaser went out, "220 " is due */
#define SMTP_SF_GREET_NOW   0x2000 /* no greet delay (the host knows the client) */
#define SMTP_SF_FREED	    0x8000 /* slot is in the free list */

enum smtp_addr_err {
	SMTP_ADDR_OK = 0,
	SMTP_ADDR_SYNTAX,
	SMTP_ADDR_TOO_LONG,
	SMTP_ADDR_8BIT, /* non-ASCII without SMTPUTF8 */
};

/* Parse an RFC 5321 reverse or forward path starting at @p ('<'), ending
 * no later than @e. On success @mb and @mblen give the mailbox (source
 * route stripped, "" for "<>") and @end the octet after '>'. Non-ASCII is
 * SMTP_ADDR_8BIT unless @utf8 (then it must be well-formed UTF-8). */
enum smtp_addr_err smtp_parse_path(const char *p, const char *e, bool null_ok, bool postmaster_ok,
				   bool utf8, const char **mb, size_t *mblen, const char **end);

/* Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates). */
bool smtp_utf8_valid(const uint8_t *p, size_t n);

/* RFC 3461 4: xtext. */
bool smtp_xtext_valid(const char *p, size_t n);

/* HELO/EHLO argument: a domain-ish name of letters, digits, '-', '.', '_'
 * or an address literal in brackets; <= 255 octets. */
bool smtp_helo_valid(const char *p, size_t n);

/* ASCII case-insensitive compare of @n octets with lower-case @lit. */
bool smtp_ieq(const char *p, const char *lit, size_t n);

#endif
