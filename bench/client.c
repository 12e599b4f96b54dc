/*
 * client.c - SMTP client session of mxbench. See client.h.
 */
#include "bench/client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shared body text: whole lines, 1 MiB or just under. */
#define BLOB_LINES 13107
#define BLOB_LEN   (BLOB_LINES * BENCH_BODY_LINE)

static char blob[BLOB_LEN];

void bench_cli_global_init(void)
{
	static const char alphabet[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	for (size_t l = 0; l < BLOB_LINES; l++) {
		char *p = blob + l * BENCH_BODY_LINE;

		/* No line starts with '.', so no dot-stuffing is ever needed. */
		for (size_t i = 0; i < BENCH_BODY_LINE - 2; i++)
			p[i] = alphabet[(l + i) % (sizeof(alphabet) - 1)];
		p[BENCH_BODY_LINE - 2] = '\r';
		p[BENCH_BODY_LINE - 1] = '\n';
	}
}

int bench_cli_expand(char *dst, size_t cap, const char *tmpl, const char *domain, uint64_t conn_id,
		     uint64_t msg, unsigned rcpt, unsigned thread)
{
	size_t n = 0;

	for (const char *p = tmpl; *p; p++) {
		char num[24];
		const char *s = num;
		size_t l;

		if (*p != '%') {
			num[0] = *p;
			num[1] = '\0';
		} else {
			switch (*++p) {
			case 'd':
				s = domain;
				break;
			case 'c':
				snprintf(num, sizeof(num), "%llu", (unsigned long long)conn_id);
				break;
			case 'm':
				snprintf(num, sizeof(num), "%llu", (unsigned long long)msg);
				break;
			case 'r':
				snprintf(num, sizeof(num), "%u", rcpt);
				break;
			case 't':
				snprintf(num, sizeof(num), "%u", thread);
				break;
			case '%':
				strcpy(num, "%");
				break;
			default:
				return -1;
			}
		}
		l = strlen(s);
		if (n + l + 1 > cap)
			return -1;
		memcpy(dst + n, s, l);
		n += l;
	}
	if (n + 1 > cap)
		return -1;
	dst[n] = '\0';
	return (int)n;
}

/* --- output queue ------------------------------------------------------ */

static int out_push(struct bench_out *o, const char *ext, size_t off, size_t len)
{
	struct bench_seg *last;

	if (len == 0)
		return 0;
	if (o->n > 0) {
		last = &o->seg[o->head + o->n - 1];
		if (!ext && !last->ext && last->off + last->len == off) {
			last->len += len;
			o->bytes += len;
			return 0;
		}
	}
	if (o->head + o->n == o->seg_cap) {
		size_t ncap = o->seg_cap * 2;
		struct bench_seg *ns;

		if (o->head > 0) {
			memmove(o->seg, o->seg + o->head, o->n * sizeof(*o->seg));
			o->head = 0;
		} else {
			ns = realloc(o->seg, ncap * sizeof(*ns));
			if (!ns)
				return -ENOMEM;
			o->seg = ns;
			o->seg_cap = ncap;
		}
	}
	o->seg[o->head + o->n] = (struct bench_seg){.ext = ext, .off = off, .len = len};
	o->n++;
	o->bytes += len;
	return 0;
}

static int out_printf(struct bench_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int out_printf(struct bench_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -EINVAL;
		if ((size_t)n < o->cap - o->len)
			break;
		{
			size_t ncap = (o->cap + (size_t)n + 1) * 2;
			char *nb = realloc(o->buf, ncap);

			if (!nb)
				return -ENOMEM;
			o->buf = nb;
			o->cap = ncap;
		}
	}
	o->len += (size_t)n;
	return out_push(o, NULL, o->len - (size_t)n, (size_t)n);
}

int bench_out_iov(const struct bench_out *o, struct iovec *iov, int max)
{
	int k = 0;

	for (size_t i = 0; i < o->n && k < max; i++, k++) {
		const struct bench_seg *s = &o->seg[o->head + i];
		const char *base = s->ext ? s->ext : o->buf + s->off;
		size_t skip = i == 0 ? o->head_done : 0;

		iov[k].iov_base = (void *)(base + skip);
		iov[k].iov_len = s->len - skip;
	}
	return k;
}

void bench_out_consume(struct bench_out *o, size_t n)
{
	o->bytes -= n;
	while (n > 0 && o->n > 0) {
		struct bench_seg *s = &o->seg[o->head];
		size_t left = s->len - o->head_done;

		if (n < left) {
			o->head_done += n;
			return;
		}
		n -= left;
		o->head++;
		o->n--;
		o->head_done = 0;
	}
	if (o->n == 0) {
		o->head = 0;
		o->len = 0;
	}
}

/* --- session ----------------------------------------------------------- */

int bench_cli_init(struct bench_cli *c, const struct bench_cli_cfg *cfg,
		   struct bench_cli_stats *stats, uint64_t conn_id)
{
	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->stats = stats;
	c->conn_id = conn_id;
	c->state = BENCH_CLI_BANNER;
	c->exp_cap = cfg->rcpts + BENCH_BDAT_WINDOW + 4;
	c->exp = malloc(c->exp_cap);
	c->out.cap = 1024 + (size_t)cfg->rcpts * (BENCH_ADDR_MAX + 16);
	c->out.buf = malloc(c->out.cap);
	c->out.seg_cap = 16;
	c->out.seg = malloc(c->out.seg_cap * sizeof(*c->out.seg));
	if (!c->exp || !c->out.buf || !c->out.seg) {
		bench_cli_free(c);
		return -ENOMEM;
	}
	return 0;
}

void bench_cli_free(struct bench_cli *c)
{
	free(c->exp);
	free(c->out.buf);
	free(c->out.seg);
	c->exp = NULL;
	c->out.buf = NULL;
	c->out.seg = NULL;
}

static void expect(struct bench_cli *c, enum bench_cmd cmd)
{
	/* exp_cap covers the most a transaction can have outstanding. */
	if (c->exp_n == c->exp_cap)
		abort();
	c->exp[(c->exp_head + c->exp_n) % c->exp_cap] = (uint8_t)cmd;
	c->exp_n++;
}

static enum bench_cmd unexpect(struct bench_cli *c)
{
	enum bench_cmd cmd = c->exp[c->exp_head];

	c->exp_head = (c->exp_head + 1) % c->exp_cap;
	c->exp_n--;
	return cmd;
}

/* Queue message octets [from, from + len): header, whole body lines taken
 * from the shared text, then a last partial line (the tail of a line). */
static int emit_range(struct bench_cli *c, size_t from, size_t len)
{
	size_t body = c->msg_size - c->hdr_len;
	size_t full = body / BENCH_BODY_LINE * BENCH_BODY_LINE;
	size_t tail = body - full;
	size_t end = from + len;
	int rc;

	if (from < c->hdr_len) {
		size_t n = (end < c->hdr_len ? end : c->hdr_len) - from;

		rc = out_push(&c->out, c->hdr + from, 0, n);
		if (rc < 0)
			return rc;
		from += n;
	}
	while (from < end && from < c->hdr_len + full) {
		size_t b = from - c->hdr_len;
		size_t at = b % BLOB_LEN;
		size_t n = BLOB_LEN - at;

		if (n > c->hdr_len + full - from)
			n = c->hdr_len + full - from;
		if (n > end - from)
			n = end - from;
		rc = out_push(&c->out, blob + at, 0, n);
		if (rc < 0)
			return rc;
		from += n;
	}
	if (from < end) {
		/* The last @tail octets of a line: printable text, then CRLF. */
		size_t t = from - c->hdr_len - full;

		rc = out_push(&c->out, blob + BENCH_BODY_LINE - tail + t, 0, end - from);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int send_addr_cmd(struct bench_cli *c, const char *verb, const char *tmpl, unsigned rcpt)
{
	char addr[BENCH_ADDR_MAX];

	if (bench_cli_expand(addr, sizeof(addr), tmpl, c->cfg->domain, c->conn_id, c->msg_seq, rcpt,
			     c->cfg->thread) < 0)
		return -ENAMETOOLONG;
	return out_printf(&c->out, "%s:<%s>\r\n", verb, addr);
}

/* Queue whatever the transaction may send now: the next command in lockstep,
 * or all it can when pipelining; RSET once a refused one has no replies
 * left outstanding. */
static int send_more(struct bench_cli *c)
{
	int rc = 0;

	while (!c->failed && (c->pipe || c->exp_n == 0) && !c->data_sent) {
		if (c->rcpt_sent < c->cfg->rcpts) {
			rc = send_addr_cmd(c, "RCPT TO", c->cfg->rcpt_tmpl, c->rcpt_sent);
			if (rc < 0)
				return rc;
			c->rcpt_sent++;
			expect(c, BENCH_CMD_RCPT);
			continue;
		}
		if (!c->pipe && c->rcpt_ok == 0) {
			c->failed = true;
			break;
		}
		if (!c->use_bdat) {
			rc = out_printf(&c->out, "DATA\r\n");
			if (rc < 0)
				return rc;
			expect(c, BENCH_CMD_DATA);
			c->data_sent = true;
			break;
		}
		if (c->pipe && c->bdat_out >= BENCH_BDAT_WINDOW)
			break;
		{
			size_t n = c->msg_size - c->sent;
			bool last;

			if (n > c->cfg->chunk)
				n = c->cfg->chunk;
			last = c->sent + n == c->msg_size;
			rc = out_printf(&c->out, "BDAT %zu%s\r\n", n, last ? " LAST" : "");
			if (rc < 0)
				return rc;
			rc = emit_range(c, c->sent, n);
			if (rc < 0)
				return rc;
			c->sent += n;
			c->bdat_out++;
			expect(c, last ? BENCH_CMD_BDAT_LAST : BENCH_CMD_BDAT);
			if (last)
				c->data_sent = true;
		}
	}
	if (c->failed && c->exp_n == 0) {
		rc = out_printf(&c->out, "RSET\r\n");
		if (rc < 0)
			return rc;
		expect(c, BENCH_CMD_RSET);
		c->stats->rset++;
	}
	return 0;
}

int bench_cli_start_txn(struct bench_cli *c, size_t size)
{
	char from[BENCH_ADDR_MAX], to[BENCH_ADDR_MAX];
	const struct bench_cli_cfg *cfg = c->cfg;
	int n, rc;

	if (c->state != BENCH_CLI_IDLE)
		return -EINVAL;
	c->msg_seq++;
	if (bench_cli_expand(from, sizeof(from), cfg->sender_tmpl, cfg->domain, c->conn_id,
			     c->msg_seq, 0, cfg->thread) < 0 ||
	    bench_cli_expand(to, sizeof(to), cfg->rcpt_tmpl, cfg->domain, c->conn_id, c->msg_seq, 0,
			     cfg->thread) < 0)
		return -ENAMETOOLONG;
	for (int pad = 0; pad < 2; pad++) {
		n = snprintf(c->hdr, sizeof(c->hdr),
			     "Message-ID: <%llu.%llu.%u@mxbench>\r\nFrom: <%s>\r\nTo: <%s>\r\n"
			     "Subject: mxbench%s\r\n\r\n",
			     (unsigned long long)c->conn_id, (unsigned long long)c->msg_seq,
			     cfg->thread, from, to, pad ? "!" : "");
		if (n < 0 || (size_t)n >= sizeof(c->hdr))
			return -ENAMETOOLONG;
		/* A last line needs 2 octets (CRLF): make the header one
		 * longer rather than miss the requested size by one. */
		if (size <= (size_t)n || (size - (size_t)n) % BENCH_BODY_LINE != 1)
			break;
	}
	c->hdr_len = (size_t)n;
	c->msg_size = size > c->hdr_len ? size : c->hdr_len;
	c->sent = 0;
	c->rcpt_sent = 0;
	c->rcpt_ok = 0;
	c->bdat_out = 0;
	c->data_sent = false;
	c->failed = false;
	c->state = BENCH_CLI_TXN;
	if (c->ext & BENCH_EXT_SIZE)
		rc = out_printf(&c->out, "MAIL FROM:<%s> SIZE=%zu\r\n", from, c->msg_size);
	else
		rc = out_printf(&c->out, "MAIL FROM:<%s>\r\n", from);
	if (rc < 0)
		return rc;
	expect(c, BENCH_CMD_MAIL);
	return send_more(c);
}

int bench_cli_quit(struct bench_cli *c)
{
	int rc;

	if (c->state != BENCH_CLI_IDLE)
		return -EINVAL;
	rc = out_printf(&c->out, "QUIT\r\n");
	if (rc < 0)
		return rc;
	expect(c, BENCH_CMD_QUIT);
	c->state = BENCH_CLI_QUIT;
	return 0;
}

int bench_cli_tls_started(struct bench_cli *c)
{
	int rc;

	if (c->state != BENCH_CLI_EHLO || c->tls || c->exp_n)
		return -EINVAL;
	rc = out_printf(&c->out, "EHLO %s\r\n", c->cfg->ehlo);
	if (rc < 0)
		return rc;
	c->tls = true;
	expect(c, BENCH_CMD_EHLO);
	return 0;
}

static enum bench_cli_ev broken(struct bench_cli *c, const char *why)
{
	c->err = why;
	c->state = BENCH_CLI_BROKEN;
	return BENCH_CLI_EV_BROKEN;
}

enum bench_cli_ev bench_cli_on_reply(struct bench_cli *c, const struct bench_reply *r)
{
	const struct bench_cli_cfg *cfg = c->cfg;
	enum bench_cmd cmd;
	int rc;

	if (c->state == BENCH_CLI_BROKEN || c->state == BENCH_CLI_CLOSED)
		return broken(c, "reply after the session ended");
	if (c->state == BENCH_CLI_BANNER) {
		if (r->code != 220) {
			c->stats->unexpected++;
			return broken(c, "banner refused");
		}
		if (out_printf(&c->out, "EHLO %s\r\n", cfg->ehlo) < 0)
			return broken(c, "out of memory");
		expect(c, BENCH_CMD_EHLO);
		c->state = BENCH_CLI_EHLO;
		return BENCH_CLI_EV_NONE;
	}
	if (c->exp_n == 0) {
		c->stats->unexpected++;
		return broken(c, r->code == 421 ? "server closing (421)" : "reply without command");
	}
	cmd = unexpect(c);
	switch (cmd) {
	case BENCH_CMD_EHLO:
		if (r->code != 250) {
			c->stats->unexpected++;
			return broken(c, "EHLO refused");
		}
		if (cfg->starttls && !c->tls) {
			/* RFC 3207: STARTTLS, then EHLO again inside TLS. */
			if (!(r->ext & BENCH_EXT_STARTTLS))
				return broken(c, "STARTTLS not offered");
			if (out_printf(&c->out, "STARTTLS\r\n") < 0)
				return broken(c, "out of memory");
			expect(c, BENCH_CMD_STARTTLS);
			return BENCH_CLI_EV_NONE;
		}
		c->ext = r->ext;
		c->pipe = cfg->pipelining && (c->ext & BENCH_EXT_PIPELINING);
		if (cfg->pipelining && !c->pipe)
			c->stats->no_pipelining++;
		c->use_bdat = cfg->bdat && (c->ext & BENCH_EXT_CHUNKING);
		if (cfg->bdat && !c->use_bdat)
			c->stats->no_chunking++;
		c->state = BENCH_CLI_IDLE;
		return BENCH_CLI_EV_READY;
	case BENCH_CMD_MAIL:
		if (r->code != 250) {
			c->stats->unexpected++;
			c->failed = true;
		}
		break;
	case BENCH_CMD_RCPT:
		if (r->code == 250 || r->code == 251) {
			c->rcpt_ok++;
		} else {
			c->stats->unexpected++;
			c->stats->rcpt_rejected++;
		}
		break;
	case BENCH_CMD_DATA:
		if (r->code != 354) {
			c->stats->unexpected++;
			c->failed = true;
			break;
		}
		/* Refused earlier but the server wants data anyway: end it
		 * empty; the transaction still counts as failed. */
		rc = c->failed ? 0 : emit_range(c, 0, c->msg_size);
		if (rc == 0)
			rc = out_push(&c->out, ".\r\n", 0, 3);
		if (rc < 0)
			return broken(c, "out of memory");
		expect(c, BENCH_CMD_DOT);
		return BENCH_CLI_EV_NONE;
	case BENCH_CMD_DOT:
		c->state = BENCH_CLI_IDLE;
		if (r->code == 250 && !c->failed)
			return BENCH_CLI_EV_TXN_DONE;
		if (r->code != 250)
			c->stats->unexpected++;
		return BENCH_CLI_EV_TXN_FAILED;
	case BENCH_CMD_BDAT:
	case BENCH_CMD_BDAT_LAST:
		c->bdat_out--;
		if (r->code != 250) {
			c->stats->unexpected++;
			c->failed = true;
		} else if (cmd == BENCH_CMD_BDAT_LAST && !c->failed) {
			c->state = BENCH_CLI_IDLE;
			return BENCH_CLI_EV_TXN_DONE;
		}
		break;
	case BENCH_CMD_RSET:
		if (r->code != 250) {
			c->stats->unexpected++;
			return broken(c, "RSET refused");
		}
		c->state = BENCH_CLI_IDLE;
		return BENCH_CLI_EV_TXN_FAILED;
	case BENCH_CMD_STARTTLS:
		if (r->code != 220) {
			c->stats->unexpected++;
			return broken(c, r->code == 454 ? "STARTTLS refused (454)"
							: "STARTTLS refused");
		}
		return BENCH_CLI_EV_STARTTLS;
	case BENCH_CMD_QUIT:
		if (r->code != 221)
			c->stats->unexpected++;
		c->state = BENCH_CLI_CLOSED;
		return BENCH_CLI_EV_CLOSED;
	}
	if (c->state != BENCH_CLI_TXN)
		return broken(c, "reply out of sequence");
	if (send_more(c) < 0)
		return broken(c, "cannot build command");
	return BENCH_CLI_EV_NONE;
}
