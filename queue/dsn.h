/*
 * dsn.h - delivery status notifications (RFC 3464) for mail the relay
 * cannot deliver: a permanent failure (5xx from the next hop) or a message
 * that outlived [relay] max_queue_lifetime_s (RFC 5321 6.1: a server that
 * accepted a message and cannot deliver it must say so to the sender).
 *
 * The notification is a multipart/report (RFC 6522) with report-type
 * delivery-status: a human-readable part, a message/delivery-status part
 * (Reporting-MTA, Original-Envelope-Id, Arrival-Date; per recipient
 * Final-Recipient, Original-Recipient, Action, Status, Remote-MTA,
 * Diagnostic-Code, Last-Attempt-Date) and the original message's header
 * (text/rfc822-headers, RFC 6522 section 4: headers only, whatever RET=
 * asked for, so a notification never carries a large body back). It is sent
 * with the null reverse-path (RFC 5321 4.5.5) and Auto-Submitted:
 * auto-replied (RFC 3834), so that it can never cause another one: no DSN
 * is ever made for mail from the null sender (dsn_wanted()).
 *
 * Pure functions over caller data: no I/O, no global state; any thread.
 * dsn_build() mallocs its result (relay threads only: never on a worker).
 */
#ifndef MX_QUEUE_DSN_H
#define MX_QUEUE_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One recipient the notification reports on. */
struct dsn_rcpt {
	const char *addr;	  /* the envelope recipient */
	const char *orcpt;	  /* ORCPT= as received ("rfc822;a@b" in xtext), or NULL */
	const char *status;	  /* "5.1.1"; NULL: taken from @reply (dsn_status()) */
	const char *reply;	  /* the next hop's reply ("550 5.1.1 ..."), or local text */
	const char *remote_mta;	  /* next hop host name or address, or NULL */
	uint64_t last_attempt_us; /* unix us, 0: none */
};

/** What the notification is about. */
struct dsn_info {
	const char *reporting_mta; /* our host name (Reporting-MTA, From: domain) */
	const char *sender;	   /* original MAIL FROM (the DSN's recipient), not "" */
	const char *envid;	   /* ENVID= (xtext as received) or NULL */
	const char *qid;	   /* original queue id */
	uint64_t arrival_us;	   /* original arrival, unix us */
	uint64_t now_us;	   /* Date: of the notification */
	bool expired;		   /* subject and text: lifetime exceeded */
	const struct dsn_rcpt *rcpt;
	uint32_t nrcpt;
};

/**
 * Whether a failure notification is owed to the sender of a message from
 * @sender for a recipient that asked @notify (SPOOL_NOTIFY_* bits, 0 when
 * NOTIFY= was not given): never for the null sender, never with
 * NOTIFY=NEVER, only with FAILURE when NOTIFY= was given. Pure.
 */
bool dsn_wanted(const char *sender, uint8_t notify);

/**
 * The RFC 3463 status for @reply into @out (at least 16 bytes): the
 * enhanced code after the reply code when it is one of class 4 or 5
 * ("550 5.1.1 ..." -> "5.1.1"), else "5.0.0" for a 5xx and "4.0.0"
 * otherwise. Returns @out. Pure.
 */
const char *dsn_status(const char *reply, char *out);

/**
 * The ENVID= value of MAIL parameters @params ("BODY=8BITMIME ENVID=x"),
 * copied into @out (@cap bytes), or NULL if absent or too long. Pure.
 */
const char *dsn_envid(const char *params, char *out, size_t cap);

/**
 * Build the notification described by @d, with the original header block
 * @hdr (@hlen bytes: the message up to its empty line, CRLF line ends;
 * may be cut short by the caller). The result is a complete message (CRLF
 * line ends, no line longer than 998 octets, 7-bit: other octets and
 * control characters of the inputs are replaced) of *@len bytes, malloc'd:
 * the caller frees it. NULL with errno EINVAL (no recipient, no sender) or
 * ENOMEM. Any thread but a worker lcore.
 */
char *dsn_build(const struct dsn_info *d, const uint8_t *hdr, size_t hlen, size_t *len);

#endif
