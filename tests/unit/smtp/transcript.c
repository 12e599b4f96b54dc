/*
 * transcript.c - Postfix-style transcript tests for the SMTP engine.
 *
 * Usage: smtp_transcripts DIR|FILE...   (every *.t file of a DIR)
 *
 * A transcript lists what the client sends and what the server must answer:
 *
 *   # comment
 *   @config key=value     engine config (before the first step)
 *   @client 2001:db8::1   client address (default 192.0.2.1)
 *   @trace                also compare host events (E: lines)
 *   @host EVENT[=STR] accept | pending | reply CODE ENH TEXT...
 *                         how the test host answers EVENT (helo mail rcpt
 *                         connect data-begin data-chunk data-end), for all
 *                         events or those whose argument is STR. Steps:
 *   C: text               client line, CRLF appended
 *   R: text               raw client bytes, escapes \r \n \t \\ \xHH
 *   L: N text             raw text repeated N times
 *   S: text               expected reply line
 *   E: text               expected host event (with @trace)
 *   W: MS                 advance the clock MS milliseconds, run the timer
 *   A: CODE [ENH [TEXT]]  answer the parked request (CODE 0: continue)
 *   T:                    the host completed a TLS handshake
 *   X:                    the host closes the connection
 *
 * Consecutive C/R/L lines are one burst (a pipelined group). Each
 * transcript runs in several modes: the bursts fed whole, line by line,
 * byte by byte, and in pseudo-random pieces. Every mode must produce
 * exactly the expected lines; a mismatch prints a diff and fails.
 *
 * Default host: accepts everything except data end, answered
 * "451 4.3.0 Error: message not stored" (no spool yet: never 250).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "smtp/smtp.h"

#define MAXLINES 4096

struct strv {
	char **v;
	size_t n, cap;
};

static void sv_push(struct strv *sv, const char *s)
{
	if (sv->n == sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 64;
		sv->v = realloc(sv->v, sv->cap * sizeof(char *));
	}
	sv->v[sv->n++] = strdup(s);
}

static void sv_free(struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

enum act { ACT_ACCEPT = 0, ACT_PENDING, ACT_REPLY };

struct rule {
	int ev;
	char match[300]; /* "" : any */
	enum act act;
	unsigned code;
	char enh[16];
	char text[200];
};

struct runner {
	struct smtp_pool *pool;
	struct smtp_session *s;
	uint64_t now;
	bool trace;
	struct strv out; /* actual lines */
	struct rule rules[64];
	unsigned nrules;
	uint64_t next_req, last_req;
	/* between DATA_BEGIN and DATA_END/TXN_ABORT: the only place where
	 * DATA_CHUNK may come (the spool message is open there) */
	bool in_body;
	/* body accumulated from DATA_CHUNK */
	char *body;
	size_t body_len, body_cap;
	char partial[1024]; /* reply text without CRLF yet */
	size_t partial_len;
};

static const char *ev_name(int ev)
{
	return smtp_event_name((enum smtp_event_type)ev);
}

static int ev_parse(const char *s, size_t n)
{
	for (int i = 0; i < SMTP_EV_COUNT; i++)
		if (strlen(ev_name(i)) == n && memcmp(ev_name(i), s, n) == 0)
			return i;
	return -1;
}

static void logf_(struct runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct runner *r, const char *fmt, ...)
{
	char b[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	sv_push(&r->out, b);
}

/* Drain the engine output into "S: " lines. */
static void drain(struct runner *r)
{
	size_t n;
	const uint8_t *p;

	if (!r->s)
		return;
	p = smtp_output_peek(r->s, &n);
	for (size_t i = 0; i < n; i++) {
		char c = (char)p[i];

		if (c == '\n' && r->partial_len && r->partial[r->partial_len - 1] == '\r') {
			r->partial[r->partial_len - 1] = 0;
			logf_(r, "S: %s", r->partial);
			r->partial_len = 0;
			continue;
		}
		if (c == '\n' || r->partial_len >= sizeof(r->partial) - 2) {
			logf_(r, "!: malformed reply line");
			r->partial_len = 0;
			continue;
		}
		r->partial[r->partial_len++] = c;
	}
	if (n)
		smtp_output_consume(r->s, n);
}

static void escape(const char *p, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r')
			o += (size_t)snprintf(out + o, cap - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(out + o, cap - o, "\\n");
		else if (c == '\\')
			o += (size_t)snprintf(out + o, cap - o, "\\\\");
		else if (c < 32 || c > 126)
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = 0;
}

static enum smtp_verdict host_cb(void *ctx, struct smtp_session *s, const struct smtp_event *ev,
				 struct smtp_answer *a)
{
	struct runner *r = ctx;
	char b[4096], esc[2048], sesc[1024];
	const char *str = "";
	const struct rule *hit = NULL;

	(void)s;
	if (ev->str) {
		escape(ev->str, ev->str_len, sesc, sizeof(sesc));
		str = sesc;
	}
	/* Replies queued so far come before this event in the log. */
	drain(r);
	switch (ev->type) {
	case SMTP_EV_CONNECT:
		snprintf(b, sizeof(b), "connect %s", str);
		break;
	case SMTP_EV_HELO:
		snprintf(b, sizeof(b), "helo %s esmtp=%d", str, ev->esmtp);
		break;
	case SMTP_EV_MAIL: {
		const struct smtp_mail_params *m = ev->mail;
		const struct smtp_envelope *e = smtp_session_envelope(s);
		int n = snprintf(b, sizeof(b), "mail <%s>", str);

		if (m->size)
			n += snprintf(b + n, sizeof(b) - (size_t)n, " size=%" PRIu64, m->size);
		if (m->body)
			n += snprintf(b + n, sizeof(b) - (size_t)n, " body=%s",
				      m->body == SMTP_BODY_7BIT ? "7BIT" : "8BITMIME");
		if (m->smtputf8)
			n += snprintf(b + n, sizeof(b) - (size_t)n, " smtputf8");
		if (m->ret)
			n += snprintf(b + n, sizeof(b) - (size_t)n, " ret=%s",
				      m->ret == SMTP_RET_FULL ? "FULL" : "HDRS");
		if (m->envid_off)
			snprintf(b + n, sizeof(b) - (size_t)n, " envid=%s",
				 smtp_envelope_str(e, m->envid_off));
		break;
	}
	case SMTP_EV_RCPT: {
		int n = snprintf(b, sizeof(b), "rcpt <%s>", str);

		if (ev->rcpt->notify)
			n += snprintf(b + n, sizeof(b) - (size_t)n, " notify=%x", ev->rcpt->notify);
		if (ev->rcpt->orcpt)
			snprintf(b + n, sizeof(b) - (size_t)n, " orcpt=%s", ev->rcpt->orcpt);
		break;
	}
	case SMTP_EV_DATA_BEGIN:
		r->in_body = true;
		r->body_len = 0;
		snprintf(b, sizeof(b), "data-begin bdat=%d", ev->bdat);
		break;
	case SMTP_EV_DATA_CHUNK:
		if (!r->in_body)
			logf_(r, "!: data-chunk outside a body");
		if (r->body_len + ev->data_len > r->body_cap) {
			r->body_cap = (r->body_len + ev->data_len) * 2;
			r->body = realloc(r->body, r->body_cap);
		}
		memcpy(r->body + r->body_len, ev->data, ev->data_len);
		r->body_len += ev->data_len;
		b[0] = 0;
		break;
	case SMTP_EV_DATA_END:
		r->in_body = false;
		escape(r->body, r->body_len < 600 ? r->body_len : 600, esc, sizeof(esc));
		snprintf(b, sizeof(b), "data-end size=%" PRIu64 " bdat=%d body=%s", ev->size,
			 ev->bdat, esc);
		if (ev->size != r->body_len)
			logf_(r, "!: data-end size %" PRIu64 " != chunks %zu", ev->size,
			      r->body_len);
		break;
	case SMTP_EV_TXN_ABORT:
		r->in_body = false;
		snprintf(b, sizeof(b), "txn-abort reject=%d", ev->body_reject);
		break;
	case SMTP_EV_CLOSE:
		snprintf(b, sizeof(b), "close");
		break;
	case SMTP_EV_STARTTLS:
		snprintf(b, sizeof(b), "starttls");
		break;
	default:
		snprintf(b, sizeof(b), "?");
	}
	if (r->trace && b[0])
		logf_(r, "E: %s", b);
	for (unsigned i = r->nrules; i-- > 0;) {
		const struct rule *ru = &r->rules[i];

		if (ru->ev != (int)ev->type)
			continue;
		if (ru->match[0] && (!ev->str || strcmp(ru->match, ev->str) != 0))
			continue;
		hit = ru;
		break;
	}
	if (ev->type == SMTP_EV_DATA_END && !hit) {
		a->code = 451;
		a->enh = "4.3.0";
		a->text = "Error: message not stored";
		return SMTP_V_REPLY;
	}
	if (!hit || hit->act == ACT_ACCEPT)
		return SMTP_V_CONTINUE;
	if (hit->act == ACT_PENDING) {
		a->request_id = r->last_req = ++r->next_req;
		return SMTP_V_PENDING;
	}
	a->code = hit->code;
	a->enh = hit->enh[0] ? hit->enh : NULL;
	a->text = hit->text;
	return SMTP_V_REPLY;
}

static size_t unescape(const char *in, char *out)
{
	size_t o = 0;

	for (const char *p = in; *p; p++) {
		if (*p != '\\' || !p[1]) {
			out[o++] = *p;
			continue;
		}
		p++;
		switch (*p) {
		case 'r':
			out[o++] = '\r';
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'x': {
			unsigned v = 0;

			sscanf(p + 1, "%2x", &v);
			out[o++] = (char)v;
			p += 2;
			break;
		}
		default:
			out[o++] = *p;
		}
	}
	return o;
}

enum mode { M_WHOLE = 0, M_LINE, M_BYTE, M_RANDOM, M_COUNT };
static const char *const mode_names[M_COUNT] = {"whole", "line", "byte", "random"};

struct input {
	char *b;
	size_t len, pos, cap;
};

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void feed(struct runner *r, struct input *in, enum mode m)
{
	while (r->s && in->pos < in->len) {
		size_t seg, n;

		if (smtp_session_closing(r->s))
			break;
		switch (m) {
		case M_WHOLE:
			seg = in->len - in->pos;
			break;
		case M_LINE: {
			char *nl = memchr(in->b + in->pos, '\n', in->len - in->pos);

			seg = nl ? (size_t)(nl - (in->b + in->pos)) + 1 : in->len - in->pos;
			break;
		}
		case M_BYTE:
			seg = 1;
			break;
		default:
			seg = 1 + rng() % 23;
			if (seg > in->len - in->pos)
				seg = in->len - in->pos;
		}
		n = smtp_input(r->s, (const uint8_t *)in->b + in->pos, seg, r->now);
		drain(r);
		if (n == 0)
			break;
		in->pos += n;
	}
	if (r->s && smtp_session_closing(r->s)) {
		drain(r);
		in->pos = in->len;
		smtp_session_free(r->s, r->now);
		r->s = NULL;
	}
	if (in->pos == in->len)
		in->pos = in->len = 0;
}

static void in_add(struct input *in, const char *p, size_t n)
{
	if (in->len + n > in->cap) {
		in->cap = (in->len + n) * 2 + 64;
		in->b = realloc(in->b, in->cap);
	}
	memcpy(in->b + in->len, p, n);
	in->len += n;
}

static int set_config(struct smtp_config *c, const char *kv, char *client)
{
	char k[64];
	const char *v = strchr(kv, '=');
	unsigned long long x;

	if (!v || (size_t)(v - kv) >= sizeof(k))
		return -1;
	memcpy(k, kv, (size_t)(v - kv));
	k[v - kv] = 0;
	v++;
	x = strtoull(v, NULL, 10);
	if (!strcmp(k, "hostname"))
		snprintf(c->hostname, sizeof(c->hostname), "%s", v);
	else if (!strcmp(k, "max_rcpt"))
		c->max_rcpt = (uint32_t)x;
	else if (!strcmp(k, "max_msg_size"))
		c->max_msg_size = x;
	else if (!strcmp(k, "max_errors"))
		c->max_errors = (uint32_t)x;
	else if (!strcmp(k, "max_commands"))
		c->max_commands = (uint32_t)x;
	else if (!strcmp(k, "greet_delay_ms"))
		c->greet_delay_ms = (uint32_t)x;
	else if (!strcmp(k, "greet_teaser"))
		c->greet_teaser = x != 0;
	else if (!strcmp(k, "pregreet"))
		c->pregreet_action = !strcmp(v, "log")	  ? SMTP_PREGREET_LOG
				     : !strcmp(v, "drop") ? SMTP_PREGREET_DROP
							  : SMTP_PREGREET_REPLY;
	else if (!strcmp(k, "line_ext"))
		c->line_ext = (uint32_t)x;
	else if (!strcmp(k, "out_size"))
		c->out_size = (uint32_t)x;
	else if (!strcmp(k, "env_arena"))
		c->env_arena = (uint32_t)x;
	else if (!strcmp(k, "timeout_cmd_ms"))
		c->timeout_cmd_ms = (uint32_t)x;
	else if (!strcmp(k, "timeout_data_ms"))
		c->timeout_data_ms = (uint32_t)x;
	else if (!strcmp(k, "starttls"))
		c->starttls_available = x != 0;
	else if (!strcmp(k, "max_transactions"))
		c->max_transactions = (uint32_t)x;
	else if (!strcmp(k, "client"))
		snprintf(client, 64, "%s", v);
	else
		return -1;
	return 0;
}

static int parse_rule(struct rule *ru, const char *spec)
{
	const char *sp = strchr(spec, ' '), *eq;
	size_t nlen;

	memset(ru, 0, sizeof(*ru));
	if (!sp)
		return -1;
	eq = memchr(spec, '=', (size_t)(sp - spec));
	nlen = (size_t)((eq ? eq : sp) - spec);
	ru->ev = ev_parse(spec, nlen);
	if (ru->ev < 0)
		return -1;
	if (eq)
		snprintf(ru->match, sizeof(ru->match), "%.*s", (int)(sp - eq - 1), eq + 1);
	sp++;
	if (!strncmp(sp, "accept", 6)) {
		ru->act = ACT_ACCEPT;
	} else if (!strncmp(sp, "pending", 7)) {
		ru->act = ACT_PENDING;
	} else if (!strncmp(sp, "reply ", 6)) {
		int off = 0;

		ru->act = ACT_REPLY;
		if (sscanf(sp + 6, "%u %15s %n", &ru->code, ru->enh, &off) < 2)
			return -1;
		if (!strcmp(ru->enh, "-"))
			ru->enh[0] = 0;
		snprintf(ru->text, sizeof(ru->text), "%s", sp + 6 + off);
	} else {
		return -1;
	}
	return 0;
}

/* LCS line diff, unified-ish. */
static void print_diff(const struct strv *a, const struct strv *b)
{
	size_t n = a->n, m = b->n;
	unsigned *t = calloc((n + 1) * (m + 1), sizeof(unsigned));
	size_t i = 0, j = 0;

#define T(x, y) t[(x) * (m + 1) + (y)]
	for (size_t x = n; x-- > 0;)
		for (size_t y = m; y-- > 0;)
			T(x, y) = strcmp(a->v[x], b->v[y]) == 0
					  ? T(x + 1, y + 1) + 1
					  : (T(x + 1, y) > T(x, y + 1) ? T(x + 1, y) : T(x, y + 1));
	while (i < n || j < m) {
		if (i < n && j < m && strcmp(a->v[i], b->v[j]) == 0) {
			fprintf(stderr, "   %s\n", a->v[i]);
			i++, j++;
		} else if (j < m && (i == n || T(i, j + 1) >= T(i + 1, j))) {
			fprintf(stderr, " + %s\n", b->v[j++]);
		} else {
			fprintf(stderr, " - %s\n", a->v[i++]);
		}
	}
#undef T
	free(t);
}

static int run_one(const char *path, const struct strv *lines, enum mode m, uint64_t seed)
{
	struct runner r = {0};
	struct smtp_config cfg;
	struct smtp_host host = {0};
	struct strv exp = {0};
	struct input in = {0};
	char client[64] = "192.0.2.1";
	char buf[70000];
	int fail = 0;
	size_t i = 0;

	rng_state = seed | 1;
	smtp_config_defaults(&cfg);
	snprintf(cfg.hostname, sizeof(cfg.hostname), "mx.test");
	cfg.max_sessions = 2;
	for (int e = 0; e < SMTP_EV_COUNT; e++)
		host.on[e] = host_cb;
	host.ctx = &r;
	/* Header: @config/@client/@trace lines before the first step. */
	for (; i < lines->n; i++) {
		const char *l = lines->v[i];

		if (!strncmp(l, "@config ", 8)) {
			if (set_config(&cfg, l + 8, client) < 0) {
				fprintf(stderr, "%s: bad config line: %s\n", path, l);
				return 1;
			}
		} else if (!strncmp(l, "@client ", 8)) {
			snprintf(client, sizeof(client), "%s", l + 8);
		} else if (!strcmp(l, "@trace")) {
			r.trace = true;
		} else {
			break;
		}
	}
	for (size_t k = 0; k < lines->n; k++) {
		const char *l = lines->v[k];

		if (!strncmp(l, "S: ", 3) || !strcmp(l, "S:") ||
		    (r.trace && (!strncmp(l, "E: ", 3))))
			sv_push(&exp, l);
	}
	r.pool = smtp_pool_create(&cfg, &host);
	if (!r.pool) {
		fprintf(stderr, "%s: smtp_pool_create: %s\n", path, strerror(errno));
		sv_free(&exp);
		return 1;
	}
	r.now = 1000000000ull;
	/* Rules given before the session opens apply to the connect event. */
	for (size_t k = i; k < lines->n && !strncmp(lines->v[k], "@host ", 6); k++, i++) {
		if (r.nrules >= 64 || parse_rule(&r.rules[r.nrules++], lines->v[k] + 6) < 0) {
			fprintf(stderr, "%s: bad host rule: %s\n", path, lines->v[k]);
			fail = 1;
			goto out;
		}
	}
	r.s = smtp_session_open(r.pool, client, NULL, r.now);
	drain(&r);
	for (; i < lines->n; i++) {
		const char *l = lines->v[i];
		bool burst = false;

		if (!strncmp(l, "C: ", 3) || !strcmp(l, "C:")) {
			in_add(&in, l + (l[2] ? 3 : 2), strlen(l + (l[2] ? 3 : 2)));
			in_add(&in, "\r\n", 2);
			burst = true;
		} else if (!strncmp(l, "R: ", 3)) {
			size_t n = unescape(l + 3, buf);

			in_add(&in, buf, n);
			burst = true;
		} else if (!strncmp(l, "L: ", 3)) {
			char *end;
			unsigned long cnt = strtoul(l + 3, &end, 10);
			size_t n = unescape(end + 1, buf);

			for (unsigned long c = 0; c < cnt; c++)
				in_add(&in, buf, n);
			burst = true;
		} else if (!strncmp(l, "W: ", 3)) {
			r.now += strtoull(l + 3, NULL, 10) * 1000;
			if (r.s) {
				smtp_timer(r.s, r.now);
				drain(&r);
			}
		} else if (!strncmp(l, "A: ", 3)) {
			unsigned code = 0;
			char enh[16] = "", *text = NULL;
			int off = 0, rc;

			sscanf(l + 3, "%u %15s %n", &code, enh, &off);
			if (off)
				text = (char *)l + 3 + off;
			if (!strcmp(enh, "-"))
				enh[0] = 0;
			rc = r.s ? smtp_resume(r.s, r.last_req, code, enh[0] ? enh : NULL, text,
					       r.now)
				 : -EBADF;
			if (rc < 0)
				logf_(&r, "!: smtp_resume: %d", rc);
			drain(&r);
		} else if (!strcmp(l, "T:")) {
			if (!r.s || smtp_tls_started(r.s, r.now) < 0)
				logf_(&r, "!: smtp_tls_started failed");
		} else if (!strcmp(l, "X:")) {
			if (r.s) {
				drain(&r);
				smtp_session_free(r.s, r.now);
				r.s = NULL;
			}
			in.len = in.pos = 0;
		} else if (!strncmp(l, "@host ", 6)) {
			if (r.nrules >= 64 || parse_rule(&r.rules[r.nrules++], l + 6) < 0) {
				fprintf(stderr, "%s: bad host rule: %s\n", path, l);
				fail = 1;
				goto out;
			}
		} else if (!strncmp(l, "S:", 2) || !strncmp(l, "E:", 2) || l[0] == '@') {
			continue;
		} else {
			fprintf(stderr, "%s: bad line: %s\n", path, l);
			fail = 1;
			goto out;
		}
		/* Feed at the end of a burst, and after anything that may
		 * unblock kept input (timer, resume, TLS). */
		if (!burst || i + 1 == lines->n ||
		    (strncmp(lines->v[i + 1], "C:", 2) && strncmp(lines->v[i + 1], "R:", 2) &&
		     strncmp(lines->v[i + 1], "L:", 2)))
			feed(&r, &in, m);
	}
	if (r.s) {
		drain(&r);
		smtp_session_free(r.s, r.now);
		r.s = NULL;
	}
	if (r.partial_len)
		logf_(&r, "!: reply without CRLF: %.*s", (int)r.partial_len, r.partial);
	if (smtp_pool_free_envelopes(r.pool) != cfg.max_sessions &&
	    smtp_pool_free_envelopes(r.pool) !=
		    (cfg.max_transactions ? cfg.max_transactions : cfg.max_sessions))
		logf_(&r, "!: envelope leak");
	{
		bool same = exp.n == r.out.n;

		for (size_t k = 0; same && k < exp.n; k++)
			same = strcmp(exp.v[k], r.out.v[k]) == 0;
		if (!same) {
			fprintf(stderr, "FAIL %s [%s] (- expected, + got):\n", path, mode_names[m]);
			print_diff(&exp, &r.out);
			fail = 1;
		}
	}
out:
	smtp_pool_destroy(r.pool);
	sv_free(&exp);
	sv_free(&r.out);
	free(r.body);
	free(in.b);
	return fail;
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "r");
	struct strv lines = {0};
	char l[70000];
	int fail = 0;
	uint64_t seed = 1469598103934665603ull;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	for (const char *p = path; *p; p++)
		seed = (seed ^ (unsigned char)*p) * 1099511628211ull;
	while (fgets(l, sizeof(l), f)) {
		size_t n = strlen(l);

		while (n && (l[n - 1] == '\n' || l[n - 1] == '\r'))
			l[--n] = 0;
		if (n == 0 || l[0] == '#')
			continue;
		sv_push(&lines, l);
	}
	fclose(f);
	for (int m = 0; m < M_COUNT; m++)
		fail |= run_one(path, &lines, (enum mode)m, seed);
	for (int k = 1; k < 4 && !fail; k++)
		fail |= run_one(path, &lines, M_RANDOM, seed + (uint64_t)k * 7919);
	sv_free(&lines);
	return fail;
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	int nfail = 0, nrun = 0;

	/* SMTP_TEST_DEBUG=1 shows the engine's state transitions. */
	mx_log_level = getenv("SMTP_TEST_DEBUG") ? MX_LOG_DEBUG : MX_LOG_WARN;

	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct strv files = {0};
		struct dirent *de;

		if (!d) {
			nfail += run_file(argv[i]) != 0;
			nrun++;
			continue;
		}
		while ((de = readdir(d))) {
			size_t n = strlen(de->d_name);
			char p[4096];

			if (n < 3 || strcmp(de->d_name + n - 2, ".t"))
				continue;
			snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
			sv_push(&files, p);
		}
		closedir(d);
		qsort(files.v, files.n, sizeof(char *), cmpstr);
		for (size_t k = 0; k < files.n; k++) {
			int f = run_file(files.v[k]);

			printf("%s %s\n", f ? "FAIL" : "ok  ", files.v[k]);
			nfail += f != 0;
			nrun++;
		}
		sv_free(&files);
	}
	printf("%d transcripts, %d failed\n", nrun, nfail);
	return nfail || nrun == 0 ? 1 : 0;
}
