/*
 * smtp_fmt.c - text the engine formats for others: the Received: trace
 * header (RFC 5321 4.4) and the per-session close log line.
 *
 * Both write into a caller buffer and return the length or -ENOSPC; neither
 * allocates nor calls into the C library's time zone code (the date is
 * computed from a Unix time and an offset the caller supplies).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "smtp/smtp-int.h"
#include "smtp/smtp.h"

struct fmtbuf {
	char *b;
	size_t len, n;
	bool overflow;
};

static void __attribute__((format(printf, 2, 3))) put(struct fmtbuf *f, const char *fmt, ...)
{
	va_list ap;
	int m;

	if (f->overflow)
		return;
	va_start(ap, fmt);
	m = vsnprintf(f->b + f->n, f->len - f->n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)m >= f->len - f->n) {
		f->overflow = true;
		return;
	}
	f->n += (size_t)m;
}

/* One octet: the escaping loops below call this per octet of a name or an
 * address, where a vsnprintf() each cost about 300 instructions. */
static inline void put_ch(struct fmtbuf *f, char c)
{
	if (f->overflow)
		return;
	if (f->len - f->n < 2) {
		f->overflow = true;
		return;
	}
	f->b[f->n++] = c;
	f->b[f->n] = '\0';
}

/* Days since 1970-01-01 to civil date (proleptic Gregorian). */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	int64_t era, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doy = z - era * 146097;					     /* day of era [0, 146096] */
	yoe = (doy - doy / 1460 + doy / 36524 - doy / 146096) / 365; /* [0, 399] */
	*y = (int)(yoe + era * 400);
	doy = doy - (365 * yoe + yoe / 4 - yoe / 100); /* day of year [0, 365] */
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	if (*m <= 2)
		(*y)++;
}

/* RFC 5322 3.3: date-time = [ day-of-week "," ] date time, e.g.
 * "Tue, 1 Jul 2003 10:52:37 +0200". */
static void put_date(struct fmtbuf *f, int64_t t, int tz_min)
{
	static const char *const wd[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
	static const char *const mn[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int64_t lt = t + (int64_t)tz_min * 60, days, secs;
	int y, off = tz_min < 0 ? -tz_min : tz_min;
	unsigned m, d;

	days = lt >= 0 ? lt / 86400 : (lt - 86399) / 86400;
	secs = lt - days * 86400;
	civil_from_days(days, &y, &m, &d);
	put(f, "%s, %u %s %d %02d:%02d:%02d %c%02d%02d", wd[((days % 7) + 7) % 7], d, mn[m - 1], y,
	    (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60), tz_min < 0 ? '-' : '+',
	    off / 60, off % 60);
}

/* A value safe inside a header comment/atom: printable ASCII except the
 * comment delimiters; anything else becomes '?'. */
static void put_safe(struct fmtbuf *f, const char *s)
{
	for (; *s && !f->overflow; s++) {
		unsigned char c = (unsigned char)*s;

		put_ch(f, (c < 33 || c > 126 || c == '(' || c == ')' || c == '\\') ? '?' : (char)c);
	}
}

/* Only printable ASCII (no CR/LF that could end the header). */
static bool printable(const char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < 32 || (unsigned char)*p > 126)
			return false;
	return true;
}

/*
 * RFC 5321 4.4:
 *   Stamp = From-domain By-domain Opt-info [CFWS] ";" FWS date-time
 *   From-domain = "FROM" FWS Extended-Domain
 *   Extended-Domain = Domain / ( Domain FWS "(" TCP-info ")" ) / ...
 *   TCP-info = address-literal / ( Domain FWS address-literal )
 *   By-domain = CFWS "BY" FWS Extended-Domain
 *   Opt-info = [Via] [With] [ID] [For] [Additional-Registered-Clauses]
 *   With = CFWS "WITH" FWS Protocol   ; RFC 3848: ESMTP, ESMTPS, ESMTPA,
 *                                     ; ESMTPSA; RFC 6531: UTF8SMTP...
 *   For = CFWS "FOR" FWS ( Path / Mailbox )
 * The for clause is only given for exactly one recipient (RFC 5321 7.2:
 * do not reveal the other recipients).
 */
int smtp_received_format(const struct smtp_session *s, const struct smtp_received_info *ri,
			 char *buf, size_t len)
{
	const struct smtp_envelope *e = s->env;
	struct fmtbuf f = {.b = buf, .len = len};
	const char *cfg_host = smtp_pool_config(s->pool)->hostname;
	bool esmtp = s->flags & SMTP_SF_ESMTP;
	bool tls = s->flags & SMTP_SF_TLS;
	bool utf8 = e && e->mail.smtputf8;
	char proto[16];

	if (!e)
		return -EINVAL;
	if (len == 0)
		return -ENOSPC;
	if (utf8)
		snprintf(proto, sizeof(proto), "UTF8SMTP%s%s", tls ? "S" : "",
			 ri->authenticated ? "A" : "");
	else if (esmtp)
		snprintf(proto, sizeof(proto), "ESMTP%s%s", tls ? "S" : "",
			 ri->authenticated ? "A" : "");
	else
		snprintf(proto, sizeof(proto), "SMTP");
	put(&f, "Received: from ");
	put_safe(&f, s->helo[0] ? s->helo : "unknown");
	put(&f, " (");
	put_safe(&f, ri->rdns && ri->rdns[0] ? ri->rdns : "unknown");
	put(&f, " [%s", strchr(s->client, ':') ? "IPv6:" : "");
	put_safe(&f, s->client);
	put(&f, "])");
	if (tls && ri->tls && ri->tls[0] && printable(ri->tls)) {
		/* Like Postfix: "(using TLSv1.3 with cipher ... (256/256 bits))". */
		put(&f, "\r\n\t(using %s)", ri->tls);
	}
	put(&f, "\r\n\tby ");
	put_safe(&f, cfg_host);
	put(&f, " (mxgate) with %s", proto);
	if (ri->queue_id && ri->queue_id[0]) {
		put(&f, " id ");
		put_safe(&f, ri->queue_id);
	}
	if (e->nrcpt == 1) {
		put(&f, "\r\n\tfor <");
		for (const char *a = e->arena + e->rcpt[0].addr_off; *a && !f.overflow; a++) {
			unsigned char c = (unsigned char)*a;

			/* The address is validated: only CR/LF/NUL could hurt,
			 * and they cannot be in it. UTF-8 passes (SMTPUTF8). */
			put_ch(&f, c < 32 ? '?' : (char)c);
		}
		put(&f, ">");
	}
	put(&f, ";\r\n\t");
	put_date(&f, ri->unix_time, ri->tz_offset_min);
	put(&f, "\r\n");
	if (f.overflow) {
		buf[0] = 0;
		return -ENOSPC;
	}
	return (int)f.n;
}

/* key=value with the value escaped: outside '!'..'~', '\\' and '"' become
 * \xHH, so the line splits on blanks unambiguously; empty means absent. */
static void put_kv(struct fmtbuf *f, const char *key, const char *v)
{
	put(f, "%s%s=", f->n ? " " : "", key);
	for (; *v && !f->overflow; v++) {
		unsigned char c = (unsigned char)*v;

		if (c < 33 || c > 126 || c == '\\' || c == '"')
			put(f, "\\x%02x", c);
		else
			put_ch(f, (char)c);
	}
}

int smtp_summary_format(const struct smtp_session *s, uint64_t now, char *buf, size_t len)
{
	struct fmtbuf f = {.b = buf, .len = len};
	char from[SMTP_LAST_FROM_MAX + 2];

	if (len == 0)
		return -ENOSPC;
	buf[0] = 0;
	put_kv(&f, "client", s->client);
	put_kv(&f, "helo", s->helo);
	snprintf(from, sizeof(from), "<%s>", s->last_from);
	put_kv(&f, "from", s->ntxn || s->env || s->last_from[0] ? from : "");
	put(&f,
	    " rcpts=%u size=%" PRIu64 " result=%s txns=%u cmds=%u errors=%u"
	    " replies=%u/%u/%u/%u last_code=%u first_error=%u duration_ms=%" PRIu64,
	    s->env ? s->env->nrcpt : s->nrcpt_last, s->env ? s->msg_size : s->last_size,
	    smtp_result_name((enum smtp_result)s->result), s->ntxn, s->ncmds, s->nerrors,
	    s->nreplies[0], s->nreplies[1], s->nreplies[2], s->nreplies[3], s->last_code,
	    s->first_err_code, now >= s->t_open_us ? (now - s->t_open_us) / 1000 : 0);
	if (s->flags & SMTP_SF_PREGREET)
		put(&f, " pregreet=1");
	if (f.overflow) {
		buf[0] = 0;
		return -ENOSPC;
	}
	return (int)f.n;
}
