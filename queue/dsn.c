/*
 * dsn.c - RFC 3464 delivery status notifications; see dsn.h.
 *
 * Everything that comes from outside (addresses, the next hop's reply, the
 * original header) is written through put_clean(): octets outside printable
 * US-ASCII become '?', so the notification is 7-bit and no input can add a
 * line, a header or a MIME boundary of its own. Lines are cut at 998 octets
 * (RFC 5322 2.1.1).
 */
#include "queue/dsn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "queue/record-t.h"

#define DSN_LINE_MAX 998
#define DSN_DIAG_MAX 900 /* Diagnostic-Code text kept from a reply */

struct obuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void ob_need(struct obuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom || b->len + n + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

/* A string literal, its length counted by the compiler. */
#define PUT_LIT(b, lit) ob_put(b, lit, sizeof(lit) - 1)

static void ob_put(struct obuf *b, const char *s, size_t n)
{
	ob_need(b, n);
	if (b->oom)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void ob_printf(struct obuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ob_printf(struct obuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	ob_need(b, (size_t)n);
	if (b->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* @s (up to @max octets, NUL or @n ends it) with anything but printable
 * US-ASCII replaced by '?'. */
static void put_clean(struct obuf *b, const char *s, size_t n, size_t max)
{
	if (n > max)
		n = max;
	ob_need(b, n);
	if (b->oom)
		return;
	for (size_t i = 0; i < n && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		b->p[b->len++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	b->p[b->len] = 0;
}

static void put_str(struct obuf *b, const char *s, size_t max)
{
	put_clean(b, s, strlen(s), max);
}

static void put_date(struct obuf *b, uint64_t us)
{
	time_t t = (time_t)(us / 1000000);
	char buf[64];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	ob_put(b, buf, strlen(buf));
}

bool dsn_wanted(const char *sender, uint8_t notify)
{
	if (!sender || !*sender)
		return false; /* RFC 5321 4.5.5, RFC 3464: never for the null sender */
	if (notify & SPOOL_NOTIFY_NEVER)
		return false;
	return notify == 0 || (notify & SPOOL_NOTIFY_FAILURE);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

const char *dsn_status(const char *reply, char *out)
{
	const char *p = reply;
	size_t n;

	strcpy(out, reply && reply[0] == '5' ? "5.0.0" : "4.0.0");
	if (!reply || strlen(reply) < 4 || !is_digit(reply[0]) || !is_digit(reply[1]) ||
	    !is_digit(reply[2]))
		return out;
	p = reply + 4;
	/* class "." 1*3digit "." 1*3digit (RFC 3463) */
	if ((p[0] != '4' && p[0] != '5') || p[0] != reply[0] || p[1] != '.')
		return out;
	n = 2;
	for (int part = 0; part < 2; part++) {
		size_t k = 0;

		while (k < 3 && is_digit(p[n + k]))
			k++;
		if (k == 0)
			return out;
		n += k;
		if (part == 0) {
			if (p[n] != '.')
				return out;
			n++;
		}
	}
	if (p[n] != 0 && p[n] != ' ')
		return out;
	memcpy(out, p, n);
	out[n] = 0;
	return out;
}

const char *dsn_envid(const char *params, char *out, size_t cap)
{
	const char *p = params;

	while (p && *p) {
		size_t n = strcspn(p, " ");

		if (n > 6 && !strncasecmp(p, "ENVID=", 6)) {
			if (n - 6 >= cap)
				return NULL;
			memcpy(out, p + 6, n - 6);
			out[n - 6] = 0;
			return out;
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	return NULL;
}

/* The original header block, line by line, cleaned and cut. */
static void put_headers(struct obuf *b, const uint8_t *hdr, size_t hlen)
{
	size_t pos = 0;

	while (pos < hlen) {
		const uint8_t *nl = memchr(hdr + pos, '\n', hlen - pos);
		size_t n = nl ? (size_t)(nl - (hdr + pos)) : hlen - pos;
		size_t k = n;

		if (k > 0 && hdr[pos + k - 1] == '\r')
			k--;
		if (k == 0)
			break; /* the empty line: end of the header */
		put_clean(b, (const char *)hdr + pos, k, DSN_LINE_MAX);
		ob_put(b, "\r\n", 2);
		pos += n + (nl ? 1 : 0);
	}
}

char *dsn_build(const struct dsn_info *d, const uint8_t *hdr, size_t hlen, size_t *len)
{
	struct obuf b = {0};
	char boundary[128];
	const char *what = d->expired ? "could not be delivered in time" : "was rejected";

	if (!d || !d->nrcpt || !d->rcpt || !d->sender || !*d->sender || !d->reporting_mta) {
		errno = EINVAL;
		return NULL;
	}
	/* Unique per notification; the original is only ever included as
	 * cleaned header lines, which cannot start with "--" and this. */
	snprintf(boundary, sizeof(boundary), "%.40s.%llu/%.60s", d->qid ? d->qid : "dsn",
		 (unsigned long long)d->now_us, d->reporting_mta);

	PUT_LIT(&b, "From: Mail Delivery System <MAILER-DAEMON@");
	put_str(&b, d->reporting_mta, 255);
	PUT_LIT(&b, ">\r\nTo: <");
	put_str(&b, d->sender, 512);
	ob_printf(&b, ">\r\nSubject: %s\r\nDate: ",
		  d->expired ? "Undelivered Mail: delivery time expired"
			     : "Undelivered Mail Returned to Sender");
	put_date(&b, d->now_us);
	PUT_LIT(&b, "\r\nMessage-ID: <");
	put_str(&b, d->qid ? d->qid : "dsn", 64);
	ob_printf(&b, ".%llu.dsn@", (unsigned long long)d->now_us);
	put_str(&b, d->reporting_mta, 255);
	PUT_LIT(&b, ">\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
	PUT_LIT(&b,
		"Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"");
	put_str(&b, boundary, sizeof(boundary));
	PUT_LIT(&b, "\"\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n--");

	/* 1. for people */
	put_str(&b, boundary, sizeof(boundary));
	PUT_LIT(&b, "\r\nContent-Description: Notification\r\n"
		    "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	PUT_LIT(&b, "This is the mail system at host ");
	put_str(&b, d->reporting_mta, 255);
	ob_printf(&b,
		  ".\r\n\r\nYour message (queue id %s) %s for the following\r\n"
		  "recipient(s). The mail system's report follows.\r\n\r\n",
		  d->qid ? d->qid : "?", what);
	for (uint32_t i = 0; i < d->nrcpt; i++) {
		PUT_LIT(&b, "<");
		put_str(&b, d->rcpt[i].addr, 512);
		PUT_LIT(&b, ">: ");
		put_str(&b, d->rcpt[i].reply ? d->rcpt[i].reply : "failed", DSN_DIAG_MAX);
		PUT_LIT(&b, "\r\n");
	}

	/* 2. for programs (RFC 3464 section 2) */
	PUT_LIT(&b, "\r\n--");
	put_str(&b, boundary, sizeof(boundary));
	PUT_LIT(&b, "\r\nContent-Description: Delivery report\r\n"
		    "Content-Type: message/delivery-status\r\n\r\n");
	PUT_LIT(&b, "Reporting-MTA: dns; ");
	put_str(&b, d->reporting_mta, 255);
	PUT_LIT(&b, "\r\n");
	if (d->qid) {
		PUT_LIT(&b, "X-Mxgate-Queue-ID: ");
		put_str(&b, d->qid, 64);
		PUT_LIT(&b, "\r\n");
	}
	if (d->envid && *d->envid) {
		PUT_LIT(&b, "Original-Envelope-Id: ");
		put_str(&b, d->envid, 200);
		PUT_LIT(&b, "\r\n");
	}
	if (d->arrival_us) {
		PUT_LIT(&b, "Arrival-Date: ");
		put_date(&b, d->arrival_us);
		PUT_LIT(&b, "\r\n");
	}
	for (uint32_t i = 0; i < d->nrcpt; i++) {
		const struct dsn_rcpt *r = &d->rcpt[i];
		char st[16];

		PUT_LIT(&b, "\r\nFinal-Recipient: rfc822; ");
		put_str(&b, r->addr, 512);
		PUT_LIT(&b, "\r\n");
		if (r->orcpt && strchr(r->orcpt, ';')) {
			/* ORCPT= is "addr-type;xtext": the same shape */
			PUT_LIT(&b, "Original-Recipient: ");
			put_str(&b, r->orcpt, 600);
			PUT_LIT(&b, "\r\n");
		}
		PUT_LIT(&b, "Action: failed\r\nStatus: ");
		put_str(&b, r->status ? r->status : dsn_status(r->reply, st), 15);
		PUT_LIT(&b, "\r\n");
		if (r->remote_mta && *r->remote_mta) {
			PUT_LIT(&b, "Remote-MTA: dns; ");
			put_str(&b, r->remote_mta, 255);
			PUT_LIT(&b, "\r\n");
		}
		if (r->reply && *r->reply) {
			PUT_LIT(&b, "Diagnostic-Code: smtp; ");
			put_str(&b, r->reply, DSN_DIAG_MAX);
			PUT_LIT(&b, "\r\n");
		}
		if (r->last_attempt_us) {
			PUT_LIT(&b, "Last-Attempt-Date: ");
			put_date(&b, r->last_attempt_us);
			PUT_LIT(&b, "\r\n");
		}
	}

	/* 3. the original header */
	PUT_LIT(&b, "\r\n--");
	put_str(&b, boundary, sizeof(boundary));
	PUT_LIT(&b, "\r\nContent-Description: Undelivered Message Headers\r\n"
		    "Content-Type: text/rfc822-headers\r\n\r\n");
	if (hdr)
		put_headers(&b, hdr, hlen);
	PUT_LIT(&b, "\r\n--");
	put_str(&b, boundary, sizeof(boundary));
	PUT_LIT(&b, "--\r\n");
	if (b.oom) {
		free(b.p);
		errno = ENOMEM;
		return NULL;
	}
	*len = b.len;
	return b.p;
}
