/*
 * reply.c - incremental SMTP reply parser. See reply.h.
 */
#include "bench/reply.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char *kw;
	unsigned bit;
} ehlo_keywords[] = {
	{"PIPELINING", BENCH_EXT_PIPELINING},
	{"CHUNKING", BENCH_EXT_CHUNKING},
	{"STARTTLS", BENCH_EXT_STARTTLS},
	{"SIZE", BENCH_EXT_SIZE},
	{"8BITMIME", BENCH_EXT_8BITMIME},
	{"ENHANCEDSTATUSCODES", BENCH_EXT_ENHANCEDSTATUSCODES},
	{"SMTPUTF8", BENCH_EXT_SMTPUTF8},
	{"DSN", BENCH_EXT_DSN},
};

void bench_reply_init(struct bench_reply_parser *p)
{
	p->line_len = 0;
	p->overflow = false;
	memset(&p->cur, 0, sizeof(p->cur));
	p->err = NULL;
}

static unsigned keyword_bit(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && s[n] != ' ')
		n++;
	for (size_t i = 0; i < sizeof(ehlo_keywords) / sizeof(ehlo_keywords[0]); i++)
		if (strlen(ehlo_keywords[i].kw) == n && strncasecmp(s, ehlo_keywords[i].kw, n) == 0)
			return ehlo_keywords[i].bit;
	return 0;
}

/* One complete line (terminator stripped). Returns OK when it was the last
 * line of the reply, AGAIN when more lines follow, ERROR when malformed. */
static enum bench_reply_rc take_line(struct bench_reply_parser *p, const char *s, size_t len)
{
	int code;
	bool last;

	if (len < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '5' || s[2] < '0' ||
	    s[2] > '9') {
		p->err = "malformed reply code";
		return BENCH_REPLY_ERROR;
	}
	code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	if (len == 3 || s[3] == ' ') {
		last = true;
	} else if (s[3] == '-') {
		last = false;
	} else {
		p->err = "malformed reply separator";
		return BENCH_REPLY_ERROR;
	}
	if (p->cur.nlines == 0) {
		size_t t = len > 4 ? len - 4 : 0;

		if (t >= BENCH_REPLY_TEXT_MAX)
			t = BENCH_REPLY_TEXT_MAX - 1;
		memcpy(p->cur.text, s + 4, t);
		p->cur.text[t] = '\0';
		p->cur.code = code;
	} else if (code != p->cur.code) {
		p->err = "reply code changes between lines";
		return BENCH_REPLY_ERROR;
	} else if (len > 4) {
		p->cur.ext |= keyword_bit(s + 4, len - 4);
	}
	if (++p->cur.nlines > BENCH_REPLY_LINES_MAX) {
		p->err = "too many reply lines";
		return BENCH_REPLY_ERROR;
	}
	return last ? BENCH_REPLY_OK : BENCH_REPLY_AGAIN;
}

enum bench_reply_rc bench_reply_feed(struct bench_reply_parser *p, const char *buf, size_t len,
				     size_t *used, struct bench_reply *out)
{
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t chunk = nl ? (size_t)(nl - (buf + i)) : len - i;
		enum bench_reply_rc rc;
		size_t l;

		if (!p->overflow) {
			if (p->line_len + chunk > BENCH_REPLY_LINE_MAX)
				p->overflow = true;
			else
				memcpy(p->line + p->line_len, buf + i, chunk);
		}
		p->line_len += chunk;
		i += chunk;
		if (!nl)
			break;
		i++; /* the LF */
		if (p->overflow) {
			bench_reply_init(p);
			p->err = "reply line too long";
			*used = i;
			return BENCH_REPLY_ERROR;
		}
		l = p->line_len;
		if (l > 0 && p->line[l - 1] == '\r')
			l--;
		else
			p->cur.bare_lf++;
		rc = take_line(p, p->line, l);
		p->line_len = 0;
		if (rc == BENCH_REPLY_AGAIN)
			continue;
		*used = i;
		if (rc == BENCH_REPLY_OK)
			*out = p->cur;
		else {
			const char *err = p->err;

			bench_reply_init(p);
			p->err = err;
		}
		memset(&p->cur, 0, sizeof(p->cur));
		return rc;
	}
	*used = len;
	return BENCH_REPLY_AGAIN;
}
