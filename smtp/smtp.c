/*
 * smtp.c - the SMTP server state machine: pool, sessions, resumable input
 * parser (command lines, DATA, BDAT), command table, replies, limits,
 * timers and host events. See smtp.h for the host's side of the contract
 * and smtp-t.h for the memory layout.
 *
 * The parser keeps its state in the session (nginx ngx_mail_parse.c style):
 * a partial command line waits in the line buffer, a DATA body is scanned
 * by a five-state machine whose state survives between calls, a BDAT chunk
 * by its remaining count. Any split of the input gives the same replies and
 * the same events (the transcript tests check whole, per-line, per-byte and
 * random splits).
 *
 * Memory: sessions and envelopes come from the pool's slabs; the engine
 * never allocates after smtp_pool_create(). Body octets handed to the host
 * point into the caller's input (zero copy) and are valid only during the
 * DATA_CHUNK callback.
 */
#include "smtp/smtp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "smtp/smtp-int.h"

struct smtp_pool {
	struct smtp_config cfg;
	struct smtp_host host;
	uint32_t line_max;  /* 512 + line_ext, including CRLF */
	uint32_t reserve;   /* free output needed before taking more input */
	size_t sess_stride; /* struct + line + out, cache-line rounded */
	size_t env_stride;
	uint8_t *sess_mem;
	uint8_t *env_mem;
	struct smtp_session *free_sess;
	struct smtp_envelope *free_env;
	unsigned nfree_sess, nfree_env;
	uint16_t ehlo_len[2];
	char ehlo[2][SMTP_HOSTNAME_MAX + 256]; /* [1]: with STARTTLS */
	uint64_t cnt[SMTP_CNT_COUNT];	       /* owner writes, anyone reads (relaxed) */
};

/* Body parser sub-states (struct smtp_session.pstate). */
enum {
	DS_LSTART = 0, /* at the start of a text line */
	DS_INLINE,     /* inside a line */
	DS_CR,	       /* after a CR inside a line */
	DS_DOT,	       /* line started with '.', withheld */
	DS_DOTCR,      /* line is ".\r" so far, withheld */
};

/* Reply flags. */
#define R_NOERR 0x1 /* a 4xx/5xx that does not count toward max_errors */

static const char *const state_names[SMTP_ST_COUNT] = {
	[SMTP_ST_GREETING] = "greeting",
	[SMTP_ST_INIT] = "init",
	[SMTP_ST_READY] = "ready",
	[SMTP_ST_MAIL] = "mail",
	[SMTP_ST_RCPT] = "rcpt",
	[SMTP_ST_DATA] = "data",
	[SMTP_ST_CHUNKING] = "chunking",
	[SMTP_ST_BDAT] = "bdat",
	[SMTP_ST_NOSERVICE] = "no-service",
	[SMTP_ST_TLS_WAIT] = "tls-wait",
	[SMTP_ST_CLOSING] = "closing",
};

static const char *const event_names[SMTP_EV_COUNT] = {
	[SMTP_EV_CONNECT] = "connect",
	[SMTP_EV_HELO] = "helo",
	[SMTP_EV_MAIL] = "mail",
	[SMTP_EV_RCPT] = "rcpt",
	[SMTP_EV_DATA_BEGIN] = "data-begin",
	[SMTP_EV_DATA_CHUNK] = "data-chunk",
	[SMTP_EV_DATA_END] = "data-end",
	[SMTP_EV_TXN_ABORT] = "txn-abort",
	[SMTP_EV_CLOSE] = "close",
	[SMTP_EV_STARTTLS] = "starttls",
};

static const char *const result_names[SMTP_RES_COUNT] = {
	[SMTP_RES_NONE] = "none",
	[SMTP_RES_ACCEPTED] = "accepted",
	[SMTP_RES_TEMPFAIL] = "tempfail",
	[SMTP_RES_REJECTED] = "rejected",
	[SMTP_RES_PREGREET] = "pregreet",
	[SMTP_RES_TIMEOUT] = "timeout",
	[SMTP_RES_ERRORS] = "errors",
	[SMTP_RES_LIFETIME] = "lifetime",
	[SMTP_RES_TLS_FAILED] = "tls-failed",
	[SMTP_RES_SHUTDOWN] = "shutdown",
};

const char *const smtp_counter_names[SMTP_CNT_COUNT] = {
#define SMTP_X_NAME(n) #n,
	SMTP_COUNTERS(SMTP_X_NAME)
#undef SMTP_X_NAME
};

const char *smtp_state_name(enum smtp_state st)
{
	return (unsigned)st < SMTP_ST_COUNT ? state_names[st] : "?";
}

const char *smtp_event_name(enum smtp_event_type ev)
{
	return (unsigned)ev < SMTP_EV_COUNT ? event_names[ev] : "?";
}

const char *smtp_result_name(enum smtp_result r)
{
	return (unsigned)r < SMTP_RES_COUNT ? result_names[r] : "?";
}

/* ---- counters ---------------------------------------------------------- */

/* Single writer (the owner lcore): a relaxed load + store is enough for
 * readers on other threads to see whole, monotonic values. */
static inline void cnt_add(struct smtp_pool *p, enum smtp_counter_id id, uint64_t n)
{
	__atomic_store_n(&p->cnt[id], __atomic_load_n(&p->cnt[id], __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

#define CNT(s, name) cnt_add((s)->pool, SMTP_CNT_##name, 1)

void smtp_counters_read(const struct smtp_pool *p, struct smtp_counters *out)
{
#define SMTP_X_READ(n) out->n = __atomic_load_n(&p->cnt[SMTP_CNT_##n], __ATOMIC_RELAXED);
	SMTP_COUNTERS(SMTP_X_READ)
#undef SMTP_X_READ
}

/* ---- pool -------------------------------------------------------------- */

void smtp_config_defaults(struct smtp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->hostname, sizeof(cfg->hostname), "localhost");
	cfg->max_sessions = 1024;
	cfg->max_transactions = 0;
	cfg->line_ext = 256;
	cfg->out_size = 640;
	cfg->env_arena = 8192;
	cfg->max_rcpt = 100;
	cfg->max_msg_size = 10240000;
	cfg->max_errors = 10;
	cfg->max_commands = 1000;
	cfg->greet_delay_ms = 0;
	cfg->pregreet_action = SMTP_PREGREET_REPLY;
	/* RFC 5321 4.5.3.2.7: server timeout at least 5 minutes awaiting the
	 * next command; 4.5.3.2.5: 3 minutes per data block. */
	cfg->timeout_cmd_ms = 300000;
	cfg->timeout_data_ms = 180000;
	cfg->starttls_available = false;
}

/* The EHLO reply for @cfg into @b (@cap octets). Returns its length or -1. */
static int build_ehlo(const struct smtp_config *cfg, int with_tls, char *b, size_t cap)
{
	/* RFC 5321 4.1.1.1: multi-line 250 reply, first line the domain,
	 * then one keyword per line. RFC 2034 3: no enhanced codes here. */
	int n = snprintf(b, cap,
			 "250-%s\r\n"
			 "250-PIPELINING\r\n"
			 "250-SIZE %" PRIu64 "\r\n"
			 "250-8BITMIME\r\n"
			 "%s"
			 "250-ENHANCEDSTATUSCODES\r\n"
			 "250-CHUNKING\r\n"
			 "250-SMTPUTF8\r\n"
			 "250 DSN\r\n",
			 cfg->hostname, cfg->max_msg_size, with_tls ? "250-STARTTLS\r\n" : "");

	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* Output room a session must keep free before taking more input: the
 * longest reply (EHLO with STARTTLS) plus a final "421 4.x.x <hostname>
 * Error: ..." after it. */
static uint32_t out_reserve(int ehlo_len, size_t hostname_len)
{
	uint32_t r = SMTP_REPLY_MAX;

	if ((uint32_t)ehlo_len > r)
		r = (uint32_t)ehlo_len;
	return r + SMTP_REPLY_SLACK + (uint32_t)hostname_len;
}

static size_t round_up(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

struct smtp_pool *smtp_pool_create(const struct smtp_config *cfg, const struct smtp_host *host)
{
	struct smtp_pool *p;
	size_t hl = strnlen(cfg->hostname, sizeof(cfg->hostname));
	uint32_t ntx = cfg->max_transactions ? cfg->max_transactions : cfg->max_sessions;

	if (hl == 0 || hl > SMTP_HOSTNAME_MAX || !smtp_helo_valid(cfg->hostname, hl) ||
	    cfg->max_sessions == 0 || cfg->line_ext > 4096 || cfg->out_size > 65535 ||
	    cfg->max_rcpt == 0 || cfg->max_rcpt > 65535 || cfg->env_arena < 1024 ||
	    cfg->env_arena > (1u << 24) || cfg->max_errors == 0 || cfg->max_commands == 0 ||
	    cfg->timeout_cmd_ms == 0 || cfg->timeout_data_ms == 0) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->cfg = *cfg;
	p->cfg.max_transactions = ntx;
	if (host)
		p->host = *host;
	p->line_max = SMTP_CMD_LINE_MAX + cfg->line_ext;
	for (int tls = 0; tls < 2; tls++) {
		int n = build_ehlo(cfg, tls, p->ehlo[tls], sizeof(p->ehlo[tls]));
		if (n < 0)
			goto inval;
		p->ehlo_len[tls] = (uint16_t)n;
	}
	p->reserve = out_reserve(p->ehlo_len[1], hl);
	if (cfg->out_size < p->reserve)
		goto inval;
	p->sess_stride = round_up(sizeof(struct smtp_session) + p->line_max + cfg->out_size, 64);
	p->env_stride = round_up(sizeof(struct smtp_envelope) +
					 sizeof(struct smtp_rcpt) * cfg->max_rcpt + cfg->env_arena,
				 64);
	p->sess_mem = aligned_alloc(64, p->sess_stride * cfg->max_sessions);
	p->env_mem = aligned_alloc(64, p->env_stride * ntx);
	if (!p->sess_mem || !p->env_mem) {
		smtp_pool_destroy(p);
		errno = ENOMEM;
		return NULL;
	}
	memset(p->sess_mem, 0, p->sess_stride * cfg->max_sessions);
	for (uint32_t i = cfg->max_sessions; i-- > 0;) {
		struct smtp_session *s = (void *)(p->sess_mem + i * p->sess_stride);

		s->pool = p;
		s->id = i;
		s->line = (uint8_t *)(s + 1);
		s->out = s->line + p->line_max;
		s->state = SMTP_ST_CLOSING;
		s->flags = SMTP_SF_FREED;
		s->next_free = p->free_sess;
		p->free_sess = s;
	}
	p->nfree_sess = cfg->max_sessions;
	for (uint32_t i = ntx; i-- > 0;) {
		struct smtp_envelope *e = (void *)(p->env_mem + i * p->env_stride);

		memset(e, 0, sizeof(*e));
		e->rcpt = (struct smtp_rcpt *)(e + 1);
		e->arena = (char *)(e->rcpt + cfg->max_rcpt);
		e->cap = cfg->env_arena;
		e->next_free = p->free_env;
		p->free_env = e;
	}
	p->nfree_env = ntx;
	return p;
inval:
	free(p);
	errno = EINVAL;
	return NULL;
}

int smtp_pool_update(struct smtp_pool *p, const struct smtp_config *cfg)
{
	size_t hl = strnlen(cfg->hostname, sizeof(cfg->hostname));
	struct smtp_config next = p->cfg;
	char ehlo[2][sizeof(p->ehlo[0])];
	int len[2];
	uint32_t reserve;

	if (hl == 0 || hl > SMTP_HOSTNAME_MAX || !smtp_helo_valid(cfg->hostname, hl) ||
	    cfg->max_errors == 0 || cfg->max_commands == 0 || cfg->timeout_cmd_ms == 0 ||
	    cfg->timeout_data_ms == 0)
		return -EINVAL;
	memcpy(next.hostname, cfg->hostname, hl + 1);
	next.max_msg_size = cfg->max_msg_size;
	next.max_errors = cfg->max_errors;
	next.max_commands = cfg->max_commands;
	next.greet_delay_ms = cfg->greet_delay_ms;
	next.pregreet_action = cfg->pregreet_action;
	next.greet_teaser = cfg->greet_teaser;
	next.timeout_cmd_ms = cfg->timeout_cmd_ms;
	next.timeout_data_ms = cfg->timeout_data_ms;
	for (int tls = 0; tls < 2; tls++)
		if ((len[tls] = build_ehlo(&next, tls, ehlo[tls], sizeof(ehlo[tls]))) < 0)
			return -EINVAL;
	/* The output buffers were sized at boot: a longer name must still
	 * leave room for the final 421. */
	reserve = out_reserve(len[1], hl);
	if (next.out_size < reserve)
		return -EINVAL;
	p->cfg = next;
	p->reserve = reserve;
	for (int tls = 0; tls < 2; tls++) {
		memcpy(p->ehlo[tls], ehlo[tls], (size_t)len[tls] + 1);
		p->ehlo_len[tls] = (uint16_t)len[tls];
	}
	return 0;
}

void smtp_pool_destroy(struct smtp_pool *p)
{
	if (!p)
		return;
	free(p->sess_mem);
	free(p->env_mem);
	free(p);
}

size_t smtp_session_stride(const struct smtp_pool *p)
{
	return p->sess_stride;
}

size_t smtp_envelope_stride(const struct smtp_pool *p)
{
	return p->env_stride;
}

const struct smtp_config *smtp_pool_config(const struct smtp_pool *p)
{
	return &p->cfg;
}

unsigned smtp_pool_free_sessions(const struct smtp_pool *p)
{
	return p->nfree_sess;
}

unsigned smtp_pool_free_envelopes(const struct smtp_pool *p)
{
	return p->nfree_env;
}

/* ---- envelopes --------------------------------------------------------- */

static struct smtp_envelope *env_get(struct smtp_pool *p)
{
	struct smtp_envelope *e = p->free_env;

	if (!e)
		return NULL;
	p->free_env = e->next_free;
	p->nfree_env--;
	e->next_free = NULL;
	e->used = 1;
	e->arena[0] = 0;
	e->nrcpt = 0;
	e->from_off = 0;
	e->from_len = 0;
	memset(&e->mail, 0, sizeof(e->mail));
	return e;
}

static void env_put(struct smtp_pool *p, struct smtp_envelope *e)
{
	e->next_free = p->free_env;
	p->free_env = e;
	p->nfree_env++;
}

/* Append @n octets + NUL to the arena; returns the offset, 0 when full. */
static uint32_t arena_put(struct smtp_envelope *e, const char *str, size_t n)
{
	uint32_t off = e->used;

	if (n + 1 > e->cap - e->used)
		return 0;
	memcpy(e->arena + off, str, n);
	e->arena[off + n] = 0;
	e->used += (uint32_t)n + 1;
	return off;
}

const struct smtp_envelope *smtp_session_envelope(const struct smtp_session *s)
{
	return s->env;
}

const char *smtp_envelope_str(const struct smtp_envelope *e, uint32_t off)
{
	return off < e->used ? e->arena + off : "";
}

int smtp_envelope_rcpt(const struct smtp_envelope *e, unsigned i, struct smtp_rcpt_view *v)
{
	const struct smtp_rcpt *r;

	if (i >= e->nrcpt)
		return -ERANGE;
	r = &e->rcpt[i];
	v->addr = e->arena + r->addr_off;
	v->addr_len = r->addr_len;
	v->orcpt = r->orcpt_off ? e->arena + r->orcpt_off : NULL;
	v->orcpt_len = r->orcpt_len;
	v->notify = r->notify;
	return 0;
}

/* ---- output ------------------------------------------------------------ */

static size_t out_free(const struct smtp_session *s)
{
	return s->pool->cfg.out_size - s->out_len;
}

const uint8_t *smtp_output_peek(const struct smtp_session *s, size_t *len)
{
	*len = s->out_len;
	return s->out_len ? s->out + s->out_head : NULL;
}

void smtp_output_consume(struct smtp_session *s, size_t n)
{
	if (n > s->out_len)
		mx_panic("smtp %u: output consume %zu > %u", s->id, n, s->out_len);
	s->out_head = (uint16_t)(s->out_head + n);
	s->out_len = (uint16_t)(s->out_len - n);
	if (s->out_len == 0)
		s->out_head = 0;
}

static void out_append(struct smtp_session *s, const char *b, size_t n)
{
	size_t cap = s->pool->cfg.out_size;

	if (n > cap - s->out_len) {
		/* The reservation checked before every command makes this
		 * unreachable; drop rather than overflow if it ever happens. */
		MX_ERR("smtp %u: output full, %zu octets of reply dropped", s->id, n);
		return;
	}
	if (s->out_head + s->out_len + n > cap) {
		memmove(s->out, s->out + s->out_head, s->out_len);
		s->out_head = 0;
	}
	memcpy(s->out + s->out_head + s->out_len, b, n);
	s->out_len = (uint16_t)(s->out_len + n);
}

/* ---- state ------------------------------------------------------------- */

/* The one place the state changes (STYLE.md 7). */
static void enter_state(struct smtp_session *s, enum smtp_state st)
{
	if (s->state == st || s->state == SMTP_ST_CLOSING)
		return;
	MX_DEBUG("smtp %u: %s -> %s", s->id, state_names[s->state], state_names[st]);
	s->state = (uint8_t)st;
}

static void set_timeout(struct smtp_session *s, uint64_t now)
{
	const struct smtp_config *c = &s->pool->cfg;

	switch (s->state) {
	case SMTP_ST_GREETING:
		s->deadline_us = !(s->flags & SMTP_SF_CONNECT_OK) ? 0
				 : (s->flags & SMTP_SF_GREET_NOW)
					 ? s->t_open_us
					 : s->t_open_us + (uint64_t)c->greet_delay_ms * 1000;
		break;
	case SMTP_ST_DATA:
	case SMTP_ST_BDAT:
		s->deadline_us = now + (uint64_t)c->timeout_data_ms * 1000;
		break;
	case SMTP_ST_CLOSING:
		s->deadline_us = 0;
		break;
	case SMTP_ST_TLS_WAIT:
		/* The handshake has its own, shorter bound ([tls]). */
		s->deadline_us = now + (uint64_t)(c->timeout_tls_ms ? c->timeout_tls_ms
								    : c->timeout_cmd_ms) *
					       1000;
		break;
	default:
		s->deadline_us = now + (uint64_t)c->timeout_cmd_ms * 1000;
		break;
	}
}

static void close_session(struct smtp_session *s)
{
	enter_state(s, SMTP_ST_CLOSING);
	s->deadline_us = 0;
}

/* ---- replies ----------------------------------------------------------- */

static bool enh_valid(const char *e, unsigned code)
{
	/* RFC 3463 2: class "." subject "." detail, subject and detail 1-3
	 * digits; the class matches the reply code's first digit. */
	int parts = 0, digits = 0;

	if (!e || e[0] != (char)('0' + code / 100) || e[1] != '.')
		return false;
	for (const char *q = e + 2;; q++) {
		if (*q >= '0' && *q <= '9') {
			if (++digits > 3)
				return false;
		} else if ((*q == '.' || *q == 0) && digits > 0) {
			parts++;
			digits = 0;
			if (*q == 0)
				break;
		} else {
			return false;
		}
	}
	return parts == 2;
}

static void count_reply(struct smtp_session *s, unsigned code, unsigned flags);

/* Queue one single-line reply "code enh text". @enh NULL: no enhanced code
 * (3xx, greeting). Text is truncated to SMTP_REPLY_MAX and control or
 * non-ASCII octets become '?', so no reply can be split or forged. */
static void vreply(struct smtp_session *s, unsigned flags, unsigned code, const char *enh,
		   const char *fmt, va_list ap)
{
	char b[SMTP_REPLY_MAX];
	int n, m;

	n = snprintf(b, sizeof(b), "%03u ", code);
	if (enh)
		n += snprintf(b + n, sizeof(b) - (size_t)n, "%s ", enh);
	m = vsnprintf(b + n, sizeof(b) - (size_t)n - 2, fmt, ap);
	if (m < 0)
		m = 0;
	if ((size_t)m > sizeof(b) - (size_t)n - 3)
		m = (int)(sizeof(b) - (size_t)n - 3);
	for (int i = n; i < n + m; i++)
		if ((unsigned char)b[i] < 0x20 || (unsigned char)b[i] >= 0x7f)
			b[i] = '?';
	n += m;
	/* Trailing blanks would make "code " look like an empty text. */
	while (n > 4 && b[n - 1] == ' ')
		n--;
	b[n++] = '\r';
	b[n++] = '\n';
	out_append(s, b, (size_t)n);
	count_reply(s, code, flags);
}

static void __attribute__((format(printf, 5, 6)))
reply(struct smtp_session *s, unsigned flags, unsigned code, const char *enh, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply(s, flags, code, enh, fmt, ap);
	va_end(ap);
}

static void count_reply(struct smtp_session *s, unsigned code, unsigned flags)
{
	unsigned cls = code / 100;

	s->last_code = (uint16_t)code;
	if (cls >= 2 && cls <= 5) {
		if (s->nreplies[cls - 2] < UINT16_MAX)
			s->nreplies[cls - 2]++;
		cnt_add(s->pool, SMTP_CNT_replies_2xx + (cls - 2), 1);
	}
	if (cls < 4 || s->state == SMTP_ST_CLOSING)
		return;
	if (!s->first_err_code)
		s->first_err_code = (uint16_t)code;
	if (flags & R_NOERR)
		return;
	/* RFC 5321 4.3.2 allows a server to close after repeated errors
	 * (Postfix smtpd_hard_error_limit): 421 right after the reply that
	 * reached the limit, so a garbage-spewing client is cut at once. */
	if (++s->nerrors >= s->pool->cfg.max_errors) {
		CNT(s, rej_errors_limit);
		MX_INFO("smtp %u: client %s: too many errors (%u)", s->id, s->client, s->nerrors);
		s->result = SMTP_RES_ERRORS;
		close_session(s);
		reply(s, 0, 421, "4.7.0", "%s Error: too many errors", s->pool->cfg.hostname);
	}
}

/* Reply from a host answer, with defaults when the host said CONTINUE or
 * gave no usable enhanced code. */
static void reply_answer(struct smtp_session *s, const struct smtp_answer *a, unsigned flags)
{
	char defenh[8];
	const char *enh = a->enh;

	if (!enh_valid(enh, a->code)) {
		snprintf(defenh, sizeof(defenh), "%c.0.0", (char)('0' + a->code / 100 % 10));
		enh = defenh;
	}
	if (a->code / 100 == 3)
		enh = NULL;
	/* A temporary refusal from the host (spool full, next hop down,
	 * greylisting) is the server's state, not the client's mistake: it
	 * must not count toward max_errors, or a busy server would cut off
	 * well-behaved clients. Permanent refusals (policy) do count. */
	if (a->code / 100 == 4)
		flags |= R_NOERR;
	if (a->code >= 400)
		CNT(s, rej_host);
	reply(s, flags, a->code, enh, "%s", a->text ? a->text : "");
}

/* ---- host events ------------------------------------------------------- */

static enum smtp_verdict host_event(struct smtp_session *s, struct smtp_event *ev,
				    struct smtp_answer *a)
{
	smtp_event_fn fn = s->pool->host.on[ev->type];
	enum smtp_verdict v;

	memset(a, 0, sizeof(*a));
	if (!fn) {
		if (ev->type != SMTP_EV_DATA_END)
			return SMTP_V_CONTINUE;
		/* No spool: never claim responsibility for a message. */
		a->code = 451;
		a->enh = "4.3.0";
		a->text = "Error: message not stored, try again later";
		return SMTP_V_REPLY;
	}
	v = fn(s->pool->host.ctx, s, ev, a);
	if (ev->type == SMTP_EV_TXN_ABORT || ev->type == SMTP_EV_CLOSE)
		return SMTP_V_CONTINUE;
	if (v == SMTP_V_PENDING) {
		s->parked = (uint8_t)(ev->type + 1);
		s->request_id = a->request_id;
		CNT(s, parked);
		return v;
	}
	if (v == SMTP_V_REPLY &&
	    (a->code < 200 || a->code > 599 || (ev->type == SMTP_EV_DATA_CHUNK))) {
		if (ev->type != SMTP_EV_DATA_CHUNK)
			MX_ERR("smtp %u: host answered %s with code %u", s->id,
			       event_names[ev->type], a->code);
		a->code = 451;
		a->enh = "4.3.0";
		a->text = "Error: internal error";
		if (ev->type == SMTP_EV_DATA_CHUNK)
			return SMTP_V_CONTINUE;
	}
	return v;
}

static void txn_end(struct smtp_session *s)
{
	if (s->env) {
		s->nrcpt_last = (uint16_t)s->env->nrcpt;
		env_put(s->pool, s->env);
		s->env = NULL;
	}
	s->flags &= (uint16_t) ~(SMTP_SF_BDAT_TXN | SMTP_SF_BDAT_LAST);
	s->body_reject = SMTP_BODY_OK;
}

static enum smtp_body_reject body_reason(const struct smtp_session *s);

static void txn_abort(struct smtp_session *s, uint64_t now)
{
	struct smtp_event ev = {.type = SMTP_EV_TXN_ABORT, .now_us = now};
	struct smtp_answer a;

	if (!s->env)
		return;
	ev.body_reject = body_reason(s);
	ev.size = s->msg_size;
	host_event(s, &ev, &a);
	txn_end(s);
}

/* ---- banner and session life ------------------------------------------- */

static void send_banner(struct smtp_session *s, uint64_t now)
{
	/* RFC 5321 4.2: "220 <domain> <text>"; RFC 2034: no enhanced code. */
	reply(s, 0, 220, NULL, "%s ESMTP", s->pool->cfg.hostname);
	enter_state(s, SMTP_ST_INIT);
	set_timeout(s, now);
}

static bool banner_due(const struct smtp_session *s, uint64_t now)
{
	return (s->flags & SMTP_SF_CONNECT_OK) &&
	       ((s->flags & SMTP_SF_GREET_NOW) ||
		now >= s->t_open_us + (uint64_t)s->pool->cfg.greet_delay_ms * 1000);
}

/* Postscreen's teaser: the first line of a multi-line greeting ("220-",
 * RFC 5321 4.2.1) goes out at once, the last one ("220 ") after the greet
 * delay; a client that talks before the last line is a pregreet. */
static void send_teaser(struct smtp_session *s)
{
	char b[SMTP_HOSTNAME_MAX + 16];
	int n = snprintf(b, sizeof(b), "220-%s ESMTP\r\n", s->pool->cfg.hostname);

	if (n > 0 && (size_t)n < sizeof(b))
		out_append(s, b, (size_t)n);
	s->flags |= SMTP_SF_TEASED;
}

void smtp_greet_now(struct smtp_session *s)
{
	if (s->state == SMTP_ST_GREETING && !(s->flags & SMTP_SF_TEASED))
		s->flags |= SMTP_SF_GREET_NOW;
}

bool smtp_greet_passed(const struct smtp_session *s)
{
	return s->pool->cfg.greet_delay_ms && !(s->flags & (SMTP_SF_GREET_NOW | SMTP_SF_PREGREET));
}

static void proceed_connect(struct smtp_session *s, enum smtp_verdict v,
			    const struct smtp_answer *a, uint64_t now)
{
	if (v == SMTP_V_REPLY && a->code >= 400) {
		reply_answer(s, a, R_NOERR);
		CNT(s, connections_refused);
		if (a->code / 100 == 5) {
			/* RFC 5321 3.1: after a 554 greeting the server MUST wait
			 * for QUIT and answer 503 to anything else. */
			enter_state(s, SMTP_ST_NOSERVICE);
			set_timeout(s, now);
		} else {
			close_session(s);
		}
		return;
	}
	s->flags |= SMTP_SF_CONNECT_OK;
	if (banner_due(s, now)) {
		send_banner(s, now);
	} else {
		if (s->pool->cfg.greet_teaser)
			send_teaser(s);
		set_timeout(s, now);
	}
}

struct smtp_session *smtp_session_open(struct smtp_pool *p, const char *client, void *user,
				       uint64_t now)
{
	struct smtp_session *s = p->free_sess;
	struct smtp_event ev = {.type = SMTP_EV_CONNECT, .now_us = now};
	struct smtp_answer a;
	enum smtp_verdict v;
	uint8_t *line, *out;
	uint32_t id;

	if (!s) {
		cnt_add(p, SMTP_CNT_connections_refused, 1);
		errno = EAGAIN;
		return NULL;
	}
	p->free_sess = s->next_free;
	p->nfree_sess--;
	line = s->line, out = s->out, id = s->id;
	memset(s, 0, sizeof(*s));
	s->pool = p, s->line = line, s->out = out, s->id = id;
	s->user = user;
	s->t_open_us = now;
	s->state = SMTP_ST_GREETING;
	snprintf(s->client, sizeof(s->client), "%s", client ? client : "unknown");
	cnt_add(p, SMTP_CNT_connections, 1);
	ev.str = s->client;
	ev.str_len = strlen(s->client);
	v = host_event(s, &ev, &a);
	if (v != SMTP_V_PENDING)
		proceed_connect(s, v, &a, now);
	return s;
}

void smtp_session_free(struct smtp_session *s, uint64_t now)
{
	struct smtp_pool *p = s->pool;
	struct smtp_event ev = {.type = SMTP_EV_CLOSE, .now_us = now};
	struct smtp_answer a;

	if (s->flags & SMTP_SF_FREED)
		mx_panic("smtp %u: double free", s->id);
	txn_abort(s, now);
	host_event(s, &ev, &a);
	cnt_add(p, SMTP_CNT_closed, 1);
	s->state = SMTP_ST_CLOSING;
	s->parked = 0;
	s->flags = SMTP_SF_FREED;
	s->next_free = p->free_sess;
	p->free_sess = s;
	p->nfree_sess++;
}

/* ---- commands ---------------------------------------------------------- */

struct smtp_cmd;
typedef void (*smtp_cmd_fn)(struct smtp_session *s, const char *arg, size_t alen, uint64_t now);

/* Command flags. */
#define C_SYNC	0x01 /* RFC 2920 3.1: last in a pipelined group; flush after */
#define C_NOARG 0x02 /* no argument allowed */
#define C_ARG	0x04 /* argument required */
#define C_EXT	0x08 /* may use the line_ext room beyond 512 octets (below) */

struct smtp_cmd {
	const char *name;
	uint8_t len;
	uint8_t flags;
	uint16_t states; /* bit per enum smtp_state where the command is valid */
	smtp_cmd_fn run;
	const char *syntax; /* for 501 */
};

#define ST(x)	   (1u << SMTP_ST_##x)
#define ST_SESSION (ST(INIT) | ST(READY) | ST(MAIL) | ST(RCPT) | ST(CHUNKING))

static void cmd_helo(struct smtp_session *s, const char *arg, size_t alen, uint64_t now);
static void cmd_ehlo(struct smtp_session *s, const char *arg, size_t alen, uint64_t now);
static void cmd_mail(struct smtp_session *s, const char *arg, size_t alen, uint64_t now);
static void cmd_rcpt(struct smtp_session *s, const char *arg, size_t alen, uint64_t now);
static void cmd_data(struct smtp_session *s, const char *arg, size_t alen, uint64_t now);
static void cmd_bdat(struct smtp_session *s, const char *arg, size_t alen, uint64_t now);
static void cmd_rset(struct smtp_session *s, const char *arg, size_t alen, uint64_t now);
static void cmd_noop(struct smtp_session *s, const char *arg, size_t alen, uint64_t now);
static void cmd_quit(struct smtp_session *s, const char *arg, size_t alen, uint64_t now);
static void cmd_vrfy(struct smtp_session *s, const char *arg, size_t alen, uint64_t now);
static void cmd_help(struct smtp_session *s, const char *arg, size_t alen, uint64_t now);
static void cmd_starttls(struct smtp_session *s, const char *arg, size_t alen, uint64_t now);

static const struct smtp_cmd smtp_cmds[] = {
	/* RFC 5321 4.1.4: HELO/EHLO may be issued at any time; it resets the
	 * transaction like RSET. RFC 2920 3.1: EHLO ends a pipelined group. */
	{"HELO", 4, C_SYNC | C_ARG, ST_SESSION, cmd_helo, "HELO hostname"},
	{"EHLO", 4, C_SYNC | C_ARG, ST_SESSION, cmd_ehlo, "EHLO hostname"},
	/* RFC 5321 3.3: MAIL starts a transaction; nested MAIL is a 503.
	 * RFC 2920 3.1: MAIL and RCPT may appear anywhere in a group.
	 * RFC 5321 4.5.3.1.4: a command line is at most 512 octets, "SMTP
	 * extensions may be used to increase this limit": those of RFC 1869
	 * are the parameters of MAIL and RCPT (SIZE, BODY, ENVID, RET,
	 * NOTIFY, ORCPT, SMTPUTF8), so C_EXT gives these two lines, and only
	 * them, the line_ext room. Any other command line above 512 octets
	 * is "500 Line too long" (4.2.2). */
	{"MAIL", 4, C_ARG | C_EXT, ST(READY), cmd_mail, "MAIL FROM:<address>"},
	{"RCPT", 4, C_ARG | C_EXT, ST(MAIL) | ST(RCPT), cmd_rcpt, "RCPT TO:<address>"},
	/* RFC 5321 3.3: DATA needs at least one accepted recipient (503 or
	 * 554 otherwise). RFC 2920 3.1: DATA is a sync point. RFC 3030 2: a
	 * transaction uses either DATA or BDAT, not both. */
	{"DATA", 4, C_SYNC | C_NOARG, ST(RCPT), cmd_data, "DATA"},
	/* RFC 3030 2: BDAT may appear anywhere in a pipelined group; its
	 * octets are consumed even when the command is refused. The state
	 * check is inside cmd_bdat for that reason. */
	{"BDAT", 4, C_ARG, ST_SESSION, cmd_bdat, "BDAT count [LAST]"},
	/* RFC 5321 4.1.1.5: RSET has no argument; it aborts the transaction. */
	{"RSET", 4, C_NOARG, ST_SESSION, cmd_rset, "RSET"},
	/* RFC 5321 4.1.1.9: NOOP may carry a string, which is ignored. */
	{"NOOP", 4, C_SYNC, ST_SESSION, cmd_noop, "NOOP"},
	/* RFC 5321 4.1.1.10 / 3.1: QUIT always works, even after a 554 greeting. */
	{"QUIT", 4, C_SYNC | C_NOARG, ST_SESSION | ST(NOSERVICE), cmd_quit, "QUIT"},
	/* RFC 5321 3.5.3: 252 when the server will not verify. */
	{"VRFY", 4, C_SYNC | C_ARG, ST_SESSION, cmd_vrfy, "VRFY address"},
	{"HELP", 4, C_SYNC, ST_SESSION, cmd_help, "HELP"},
	/* RFC 3207 4: STARTTLS has no argument; 4.2: plaintext after it is
	 * discarded; TLS is only started outside a transaction. */
	{"STARTTLS", 8, C_SYNC | C_NOARG, ST(INIT) | ST(READY), cmd_starttls, "STARTTLS"},
};

static const struct smtp_cmd *cmd_lookup(const char *v, size_t n)
{
	for (size_t i = 0; i < sizeof(smtp_cmds) / sizeof(smtp_cmds[0]); i++) {
		const char *name = smtp_cmds[i].name;
		size_t j;

		if (smtp_cmds[i].len != n)
			continue;
		for (j = 0; j < n; j++) {
			char c = v[j];

			if (c >= 'a' && c <= 'z')
				c = (char)(c - 'a' + 'A');
			if (c != name[j])
				break;
		}
		if (j == n)
			return &smtp_cmds[i];
	}
	return NULL;
}

/* RFC 5321 4.1.4 / 3.3: commands out of order get 503 5.5.1. */
static void bad_sequence(struct smtp_session *s, const struct smtp_cmd *c)
{
	const char *why = "Error: bad sequence of commands";

	CNT(s, rej_bad_sequence);
	if (s->state == SMTP_ST_NOSERVICE)
		why = "Error: no SMTP service here, send QUIT";
	else if (s->state == SMTP_ST_INIT && c->run != cmd_starttls)
		why = "Error: send HELO/EHLO first";
	else if (c->run == cmd_mail)
		why = "Error: nested MAIL command";
	else if (c->run == cmd_rcpt)
		why = s->state == SMTP_ST_CHUNKING ? "Error: RCPT after BDAT"
						   : "Error: need MAIL command";
	else if (c->run == cmd_data)
		why = s->state == SMTP_ST_CHUNKING ? "Error: DATA in a BDAT transaction"
		      : s->state == SMTP_ST_MAIL   ? "Error: need RCPT command"
						   : "Error: need MAIL command";
	else if (c->run == cmd_starttls)
		why = "Error: MAIL transaction in progress";
	reply(s, 0, 503, "5.5.1", "%s", why);
}

static void syntax_error(struct smtp_session *s, const struct smtp_cmd *c)
{
	CNT(s, rej_syntax);
	reply(s, 0, 501, "5.5.4", "Syntax: %s", c->syntax);
}

static void accept_helo(struct smtp_session *s, uint64_t now)
{
	(void)now;
	s->flags |= SMTP_SF_HELO_SEEN;
	if (s->flags & SMTP_SF_ESMTP) {
		int tls = s->pool->cfg.starttls_available && !(s->flags & SMTP_SF_TLS);

		out_append(s, s->pool->ehlo[tls], s->pool->ehlo_len[tls]);
		count_reply(s, 250, 0);
	} else {
		reply(s, 0, 250, NULL, "%s", s->pool->cfg.hostname);
	}
	enter_state(s, SMTP_ST_READY);
}

static void proceed_helo(struct smtp_session *s, enum smtp_verdict v, const struct smtp_answer *a,
			 uint64_t now)
{
	if (v == SMTP_V_REPLY && a->code >= 300) {
		reply_answer(s, a, 0);
		s->helo_len = 0;
		s->helo[0] = 0;
		s->flags &= (uint16_t) ~(SMTP_SF_ESMTP | SMTP_SF_HELO_SEEN);
		enter_state(s, SMTP_ST_INIT);
		return;
	}
	accept_helo(s, now);
}

static void do_helo(struct smtp_session *s, const char *arg, size_t alen, uint64_t now, bool esmtp)
{
	struct smtp_event ev = {.type = SMTP_EV_HELO, .now_us = now};
	struct smtp_answer a;
	enum smtp_verdict v;

	/* RFC 5321 4.1.1.1: "EHLO" SP ( Domain / address-literal ). */
	if (!smtp_helo_valid(arg, alen)) {
		CNT(s, rej_syntax);
		reply(s, 0, 501, "5.5.2", "Error: invalid %s hostname", esmtp ? "EHLO" : "HELO");
		return;
	}
	txn_abort(s, now);
	s->flags &= (uint16_t)~SMTP_SF_BDAT_FAILED;
	memcpy(s->helo, arg, alen);
	s->helo[alen] = 0;
	s->helo_len = (uint8_t)alen;
	if (esmtp)
		s->flags |= SMTP_SF_ESMTP;
	else
		s->flags &= (uint16_t)~SMTP_SF_ESMTP;
	ev.str = s->helo;
	ev.str_len = alen;
	ev.esmtp = esmtp;
	v = host_event(s, &ev, &a);
	if (v != SMTP_V_PENDING)
		proceed_helo(s, v, &a, now);
}

static void cmd_helo(struct smtp_session *s, const char *arg, size_t alen, uint64_t now)
{
	do_helo(s, arg, alen, now, false);
}

static void cmd_ehlo(struct smtp_session *s, const char *arg, size_t alen, uint64_t now)
{
	do_helo(s, arg, alen, now, true);
}

/* One esmtp-param of a MAIL/RCPT command (RFC 5321 4.1.2):
 *   esmtp-param = esmtp-keyword ["=" esmtp-value]
 *   esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 *   esmtp-value = 1*(%d33-60 / %d62-126)  ; RFC 6531 3.3 adds UTF-8 */
struct smtp_param {
	const char *kw, *val;
	size_t kwlen, vlen;
	bool has_val;
};

/* Returns 1 with the next parameter, 0 at the end, -1 on syntax error. */
static int next_param(const char **pp, const char *e, struct smtp_param *pr)
{
	const char *p = *pp;

	if (p == e)
		return 0;
	if (*p != ' ')
		return -1;
	while (p < e && *p == ' ')
		p++;
	if (p == e)
		return 0; /* trailing blanks: tolerated */
	pr->kw = p;
	while (p < e && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			 (*p >= '0' && *p <= '9') || (*p == '-' && p > pr->kw)))
		p++;
	pr->kwlen = (size_t)(p - pr->kw);
	if (pr->kwlen == 0)
		return -1;
	pr->has_val = false;
	pr->val = NULL;
	pr->vlen = 0;
	if (p < e && *p == '=') {
		p++;
		pr->val = p;
		while (p < e && *p != ' ') {
			unsigned char c = (unsigned char)*p;

			if (c == '=' || (c < 33) || c == 127)
				return -1;
			p++;
		}
		pr->vlen = (size_t)(p - pr->val);
		if (pr->vlen == 0)
			return -1;
		pr->has_val = true;
	}
	if (p < e && *p != ' ')
		return -1;
	*pp = p;
	return 1;
}

static bool kw_is(const struct smtp_param *pr, const char *lit)
{
	size_t n = strlen(lit);

	return pr->kwlen == n && smtp_ieq(pr->kw, lit, n);
}

static bool val_is(const struct smtp_param *pr, const char *lit)
{
	size_t n = strlen(lit);

	return pr->vlen == n && smtp_ieq(pr->val, lit, n);
}

/* Skip "FROM:" / "TO:" and the blanks some clients put after the colon
 * (not RFC 5321 syntax, but universal; Postfix tolerates it too). */
static const char *skip_prefix(const char *arg, size_t alen, const char *lit)
{
	size_t n = strlen(lit);
	const char *p;

	if (alen < n || !smtp_ieq(arg, lit, n))
		return NULL;
	p = arg + n;
	while (p < arg + alen && *p == ' ')
		p++;
	return p;
}

static bool parse_u64(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	/* RFC 1870: size-value = 1*20DIGIT; RFC 3030: chunk-size = 1*DIGIT. */
	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return true;
}

static void addr_error(struct smtp_session *s, enum smtp_addr_err err, bool sender)
{
	CNT(s, rej_syntax);
	if (err == SMTP_ADDR_8BIT) {
		/* RFC 6531 3.4 / RFC 5248: X.6.7 non-ASCII address without
		 * SMTPUTF8. */
		reply(s, 0, 553, "5.6.7", "Error: non-ASCII address requires SMTPUTF8");
	} else if (err == SMTP_ADDR_TOO_LONG) {
		reply(s, 0, 501, sender ? "5.1.7" : "5.1.3", "Error: %s address too long",
		      sender ? "sender" : "recipient");
	} else {
		reply(s, 0, 501, sender ? "5.1.7" : "5.1.3", "Error: bad %s address syntax",
		      sender ? "sender" : "recipient");
	}
}

static void param_error(struct smtp_session *s, unsigned code, const char *enh, const char *what,
			const struct smtp_param *pr)
{
	CNT(s, rej_param);
	reply(s, 0, code, enh, "Error: %s: %.*s", what, (int)(pr->kwlen > 32 ? 32 : pr->kwlen),
	      pr->kw);
}

static void proceed_mail(struct smtp_session *s, enum smtp_verdict v, const struct smtp_answer *a,
			 uint64_t now)
{
	if (v == SMTP_V_REPLY && a->code >= 300) {
		reply_answer(s, a, 0);
		txn_end(s);
		return;
	}
	(void)now;
	CNT(s, transactions);
	snprintf(s->last_from, sizeof(s->last_from), "%s",
		 smtp_envelope_str(s->env, s->env->from_off));
	if (v == SMTP_V_REPLY)
		reply_answer(s, a, 0);
	else
		reply(s, 0, 250, "2.1.0", "Ok");
	enter_state(s, SMTP_ST_MAIL);
}

static void cmd_mail(struct smtp_session *s, const char *arg, size_t alen, uint64_t now)
{
	const char *e = arg + alen, *p, *mb, *q;
	size_t mblen;
	enum smtp_addr_err err;
	struct smtp_mail_params mp = {0};
	const struct smtp_param *envid = NULL;
	struct smtp_param pr, envid_pr;
	struct smtp_event ev = {.type = SMTP_EV_MAIL, .now_us = now};
	struct smtp_answer a;
	enum smtp_verdict v;
	bool seen_size = false;
	int r;

	p = skip_prefix(arg, alen, "from:");
	if (!p) {
		syntax_error(s, &smtp_cmds[2]);
		return;
	}
	/* Parse with UTF-8 allowed to find the end; enforce below once the
	 * SMTPUTF8 parameter is known (RFC 6531 3.4). */
	err = smtp_parse_path(p, e, true, false, true, &mb, &mblen, &q);
	if (err != SMTP_ADDR_OK) {
		addr_error(s, err, true);
		return;
	}
	while ((r = next_param(&q, e, &pr)) == 1) {
		/* RFC 5321 4.1.1.2 / 2.2.1: parameters only for extensions
		 * announced in EHLO; none after HELO. */
		if (!(s->flags & SMTP_SF_ESMTP)) {
			param_error(s, 555, "5.5.4", "unsupported parameter", &pr);
			return;
		}
		if (kw_is(&pr, "size")) {
			/* RFC 1870 6: SIZE=size-value; over the limit: 552 5.3.4. */
			if (seen_size || !pr.has_val || !parse_u64(pr.val, pr.vlen, &mp.size)) {
				param_error(s, 501, "5.5.4", "bad parameter", &pr);
				return;
			}
			seen_size = true;
			if (mp.size > s->pool->cfg.max_msg_size) {
				CNT(s, rej_size);
				reply(s, 0, 552, "5.3.4",
				      "Error: message size exceeds fixed limit");
				return;
			}
		} else if (kw_is(&pr, "body")) {
			/* RFC 6152 2: BODY=7BIT / BODY=8BITMIME (BINARYMIME is
			 * not announced). */
			if (mp.body || !pr.has_val) {
				param_error(s, 501, "5.5.4", "bad parameter", &pr);
				return;
			}
			if (val_is(&pr, "7bit")) {
				mp.body = SMTP_BODY_7BIT;
			} else if (val_is(&pr, "8bitmime")) {
				mp.body = SMTP_BODY_8BITMIME;
			} else {
				param_error(s, 501, "5.5.4", "unsupported BODY type", &pr);
				return;
			}
		} else if (kw_is(&pr, "smtputf8")) {
			/* RFC 6531 3.4: SMTPUTF8 has no value. */
			if (mp.smtputf8 || pr.has_val) {
				param_error(s, 501, "5.5.4", "bad parameter", &pr);
				return;
			}
			mp.smtputf8 = true;
		} else if (kw_is(&pr, "ret")) {
			/* RFC 3461 4.3: RET=FULL / RET=HDRS, at most once. */
			if (mp.ret || !pr.has_val) {
				param_error(s, 501, "5.5.4", "bad parameter", &pr);
				return;
			}
			if (val_is(&pr, "full")) {
				mp.ret = SMTP_RET_FULL;
			} else if (val_is(&pr, "hdrs")) {
				mp.ret = SMTP_RET_HDRS;
			} else {
				param_error(s, 501, "5.5.4", "bad RET value", &pr);
				return;
			}
		} else if (kw_is(&pr, "envid")) {
			/* RFC 3461 4.4: ENVID=xtext, at most 100 characters. */
			if (envid || !pr.has_val || pr.vlen > SMTP_ENVID_MAX ||
			    !smtp_xtext_valid(pr.val, pr.vlen)) {
				param_error(s, 501, "5.5.4", "bad parameter", &pr);
				return;
			}
			envid_pr = pr;
			envid = &envid_pr;
		} else {
			/* RFC 5321 4.1.1.11: 555 for unrecognised parameters. */
			param_error(s, 555, "5.5.4", "unsupported parameter", &pr);
			return;
		}
	}
	if (r < 0) {
		syntax_error(s, &smtp_cmds[2]);
		return;
	}
	for (size_t i = 0; i < mblen; i++) {
		if ((unsigned char)mb[i] >= 0x80 && !mp.smtputf8) {
			addr_error(s, SMTP_ADDR_8BIT, true);
			return;
		}
	}
	s->env = env_get(s->pool);
	if (!s->env) {
		/* RFC 5321 4.2.2: 452 insufficient system storage. */
		CNT(s, rej_no_envelope);
		reply(s, R_NOERR, 452, "4.3.1", "Error: insufficient system resources");
		return;
	}
	s->env->mail = mp;
	s->env->from_len = (uint16_t)mblen;
	s->env->from_off = mblen ? arena_put(s->env, mb, mblen) : 0;
	if (envid) {
		s->env->mail.envid_off = arena_put(s->env, envid->val, envid->vlen);
		s->env->mail.envid_len = (uint16_t)envid->vlen;
	}
	s->msg_size = 0;
	s->body_reject = SMTP_BODY_OK;
	ev.str = smtp_envelope_str(s->env, s->env->from_off);
	ev.str_len = mblen;
	ev.mail = &s->env->mail;
	v = host_event(s, &ev, &a);
	if (v != SMTP_V_PENDING)
		proceed_mail(s, v, &a, now);
}

static void proceed_rcpt(struct smtp_session *s, enum smtp_verdict v, const struct smtp_answer *a,
			 uint64_t now)
{
	struct smtp_envelope *e = s->env;

	(void)now;
	if (v == SMTP_V_REPLY && a->code >= 300) {
		/* Roll the arena back: the refused recipient leaves no trace. */
		e->used = e->rcpt[e->nrcpt].addr_off;
		reply_answer(s, a, 0);
		return;
	}
	e->nrcpt++;
	if (v == SMTP_V_REPLY)
		reply_answer(s, a, 0);
	else
		reply(s, 0, 250, "2.1.5", "Ok");
	enter_state(s, SMTP_ST_RCPT);
}

/* RFC 3461 4.1: NOTIFY="NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ). */
static int parse_notify(const char *p, size_t n, uint8_t *out)
{
	uint8_t bits = 0;
	size_t i = 0;

	while (i <= n) {
		size_t j = i;

		while (j < n && p[j] != ',')
			j++;
		if (j - i == 5 && smtp_ieq(p + i, "never", 5))
			bits |= SMTP_NOTIFY_NEVER;
		else if (j - i == 7 && smtp_ieq(p + i, "success", 7))
			bits |= SMTP_NOTIFY_SUCCESS;
		else if (j - i == 7 && smtp_ieq(p + i, "failure", 7))
			bits |= SMTP_NOTIFY_FAILURE;
		else if (j - i == 5 && smtp_ieq(p + i, "delay", 5))
			bits |= SMTP_NOTIFY_DELAY;
		else
			return -1;
		i = j + 1;
	}
	if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
		return -1;
	*out = bits;
	return 0;
}

/* RFC 3461 4.2: ORCPT=addr-type ";" xtext; addr-type = atom. RFC 6533 3:
 * with SMTPUTF8, addr-type "utf-8" carries UTF-8 (validated as such). */
static bool orcpt_valid(const char *p, size_t n, bool utf8)
{
	const char *semi = memchr(p, ';', n);
	size_t tl;

	if (!semi || n > SMTP_ORCPT_MAX)
		return false;
	tl = (size_t)(semi - p);
	if (tl == 0)
		return false;
	for (size_t i = 0; i < tl; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	p = semi + 1;
	n -= tl + 1;
	if (n == 0)
		return false;
	if (utf8 && tl == 5 && smtp_ieq(semi - 5, "utf-8", 5)) {
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 33 || p[i] == '=')
				return false;
		return smtp_utf8_valid((const uint8_t *)p, n);
	}
	return smtp_xtext_valid(p, n);
}

static void cmd_rcpt(struct smtp_session *s, const char *arg, size_t alen, uint64_t now)
{
	struct smtp_envelope *e = s->env;
	const char *end = arg + alen, *p, *mb, *q;
	const struct smtp_param *orcpt = NULL;
	struct smtp_param pr, orcpt_pr;
	struct smtp_rcpt_view rv = {0};
	struct smtp_event ev = {.type = SMTP_EV_RCPT, .now_us = now};
	struct smtp_answer a;
	struct smtp_rcpt *r;
	enum smtp_addr_err err;
	enum smtp_verdict v;
	uint8_t notify = 0;
	bool seen_notify = false;
	size_t mblen;
	int rc;

	p = skip_prefix(arg, alen, "to:");
	if (!p) {
		syntax_error(s, &smtp_cmds[3]);
		return;
	}
	err = smtp_parse_path(p, end, false, true, e->mail.smtputf8, &mb, &mblen, &q);
	if (err != SMTP_ADDR_OK) {
		addr_error(s, err, false);
		return;
	}
	while ((rc = next_param(&q, end, &pr)) == 1) {
		if (!(s->flags & SMTP_SF_ESMTP)) {
			param_error(s, 555, "5.5.4", "unsupported parameter", &pr);
			return;
		}
		if (kw_is(&pr, "notify")) {
			if (seen_notify || !pr.has_val ||
			    parse_notify(pr.val, pr.vlen, &notify) < 0) {
				param_error(s, 501, "5.5.4", "bad parameter", &pr);
				return;
			}
			seen_notify = true;
		} else if (kw_is(&pr, "orcpt")) {
			if (orcpt || !pr.has_val ||
			    !orcpt_valid(pr.val, pr.vlen, e->mail.smtputf8)) {
				param_error(s, 501, "5.5.4", "bad parameter", &pr);
				return;
			}
			orcpt_pr = pr;
			orcpt = &orcpt_pr;
		} else {
			param_error(s, 555, "5.5.4", "unsupported parameter", &pr);
			return;
		}
	}
	if (rc < 0) {
		syntax_error(s, &smtp_cmds[3]);
		return;
	}
	/* RFC 5321 4.5.3.1.10: a server that limits recipients answers 452
	 * (4.5.3) to the excess ones; the client sends them in a later
	 * transaction. Not counted as an error: a legitimate big fan-out
	 * must not hit max_errors. */
	if (e->nrcpt >= s->pool->cfg.max_rcpt) {
		CNT(s, rej_too_many_rcpt);
		reply(s, R_NOERR, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	r = &e->rcpt[e->nrcpt];
	r->addr_off = e->used;
	r->addr_len = (uint16_t)mblen;
	r->notify = notify;
	r->orcpt_off = 0;
	r->orcpt_len = 0;
	if (arena_put(e, mb, mblen) == 0 ||
	    (orcpt && (r->orcpt_off = arena_put(e, orcpt->val, orcpt->vlen)) == 0)) {
		e->used = r->addr_off;
		CNT(s, rej_too_many_rcpt);
		reply(s, R_NOERR, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	if (orcpt)
		r->orcpt_len = (uint16_t)orcpt->vlen;
	rv.addr = e->arena + r->addr_off;
	rv.addr_len = mblen;
	rv.orcpt = r->orcpt_off ? e->arena + r->orcpt_off : NULL;
	rv.orcpt_len = r->orcpt_len;
	rv.notify = notify;
	ev.str = rv.addr;
	ev.str_len = mblen;
	ev.rcpt = &rv;
	v = host_event(s, &ev, &a);
	if (v != SMTP_V_PENDING)
		proceed_rcpt(s, v, &a, now);
}

static void chunk_done(struct smtp_session *s, uint64_t now);

static void proceed_data_begin(struct smtp_session *s, enum smtp_verdict v,
			       const struct smtp_answer *a, uint64_t now)
{
	bool bdat = s->flags & SMTP_SF_BDAT_TXN;

	if (v == SMTP_V_REPLY && a->code >= 400) {
		reply_answer(s, a, 0);
		txn_abort(s, now);
		if (bdat) {
			/* RFC 3030 2: the chunk's octets are read anyway and
			 * pipelined BDATs after a failure are discarded. */
			s->flags |= SMTP_SF_BDAT_SKIP | SMTP_SF_BDAT_FAILED;
			s->ret_state = SMTP_ST_READY;
			enter_state(s, SMTP_ST_READY);
			if (s->bdat_left) {
				enter_state(s, SMTP_ST_BDAT);
				set_timeout(s, now);
			} else {
				s->flags &= (uint16_t)~SMTP_SF_BDAT_SKIP;
				set_timeout(s, now);
			}
		} else {
			enter_state(s, SMTP_ST_READY);
		}
		return;
	}
	s->msg_size = 0;
	s->text_len = 0;
	s->body_reject = SMTP_BODY_OK;
	s->pstate = bdat ? DS_INLINE : DS_LSTART;
	if (bdat) {
		enter_state(s, SMTP_ST_BDAT);
		set_timeout(s, now);
		if (s->bdat_left == 0)
			chunk_done(s, now);
		return;
	}
	/* RFC 5321 4.3.2: 354 intermediate reply; no enhanced code exists
	 * for class 3 (RFC 3463 3.1). */
	reply(s, 0, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	enter_state(s, SMTP_ST_DATA);
	set_timeout(s, now);
}

static void data_begin(struct smtp_session *s, uint64_t now)
{
	struct smtp_event ev = {.type = SMTP_EV_DATA_BEGIN, .now_us = now};
	struct smtp_answer a;
	enum smtp_verdict v;

	ev.bdat = s->flags & SMTP_SF_BDAT_TXN;
	v = host_event(s, &ev, &a);
	if (v != SMTP_V_PENDING)
		proceed_data_begin(s, v, &a, now);
}

static void cmd_data(struct smtp_session *s, const char *arg, size_t alen, uint64_t now)
{
	(void)arg, (void)alen;
	data_begin(s, now);
}

static void bdat_skip(struct smtp_session *s, uint64_t now)
{
	if (s->bdat_left == 0)
		return;
	s->flags |= SMTP_SF_BDAT_SKIP;
	s->ret_state = s->state; /* where to go back after the octets */
	enter_state(s, SMTP_ST_BDAT);
	set_timeout(s, now);
}

static void cmd_bdat(struct smtp_session *s, const char *arg, size_t alen, uint64_t now)
{
	const char *sp = memchr(arg, ' ', alen);
	size_t nlen = sp ? (size_t)(sp - arg) : alen;
	uint64_t count;
	bool last = false;

	/* RFC 3030 2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CR LF.
	 * Without a count the octets that follow cannot be found: the stream
	 * cannot be resynchronised safely, so the session ends. */
	if (!parse_u64(arg, nlen, &count)) {
		CNT(s, rej_syntax);
		reply(s, 0, 501, "5.5.4", "Syntax: BDAT count [LAST]");
		if (s->state != SMTP_ST_CLOSING) {
			reply(s, R_NOERR, 421, "4.5.0", "%s Error: BDAT framing lost, closing",
			      s->pool->cfg.hostname);
			close_session(s);
		}
		return;
	}
	s->bdat_left = count;
	if (sp) {
		if (alen - nlen - 1 == 4 && smtp_ieq(sp + 1, "last", 4)) {
			last = true;
		} else {
			syntax_error(s, &smtp_cmds[5]);
			bdat_skip(s, now);
			return;
		}
	}
	/* RFC 3030 2: after a failed chunk the server discards the BDATs the
	 * client had already pipelined; they are not new errors. */
	if (s->flags & SMTP_SF_BDAT_FAILED) {
		reply(s, R_NOERR, 503, "5.5.1", "Error: transaction failed, send RSET");
		bdat_skip(s, now);
		return;
	}
	/* RFC 3030 2: "BDAT ... MUST NOT be used with the DATA command in a
	 * transaction"; CHUNKING is an EHLO extension. */
	if (!(s->flags & SMTP_SF_ESMTP) ||
	    (s->state != SMTP_ST_RCPT && s->state != SMTP_ST_CHUNKING)) {
		CNT(s, rej_bad_sequence);
		reply(s, 0, 503, "5.5.1", "%s",
		      s->state == SMTP_ST_MAIL	    ? "Error: need RCPT command"
		      : !(s->flags & SMTP_SF_ESMTP) ? "Error: send EHLO first"
						    : "Error: need MAIL command");
		bdat_skip(s, now);
		return;
	}
	/* RFC 1870 / RFC 3030 4.2: the size limit applies to the sum of the
	 * chunks; known before reading, so the chunk is read and dropped. */
	if (count > s->pool->cfg.max_msg_size || s->msg_size + count > s->pool->cfg.max_msg_size) {
		CNT(s, rej_size);
		reply(s, 0, 552, "5.3.4", "Error: message size exceeds fixed limit");
		txn_abort(s, now);
		enter_state(s, SMTP_ST_READY);
		if (!last)
			s->flags |= SMTP_SF_BDAT_FAILED;
		bdat_skip(s, now);
		return;
	}
	if (last)
		s->flags |= SMTP_SF_BDAT_LAST;
	if (s->state == SMTP_ST_RCPT) {
		s->flags |= SMTP_SF_BDAT_TXN;
		data_begin(s, now);
		return;
	}
	enter_state(s, SMTP_ST_BDAT);
	set_timeout(s, now);
	if (count == 0)
		chunk_done(s, now);
}

static void cmd_rset(struct smtp_session *s, const char *arg, size_t alen, uint64_t now)
{
	(void)arg, (void)alen;
	txn_abort(s, now);
	s->flags &= (uint16_t)~SMTP_SF_BDAT_FAILED;
	reply(s, 0, 250, "2.0.0", "Ok");
	/* RFC 5321 4.1.1.5: RSET keeps the HELO state. */
	enter_state(s, (s->flags & SMTP_SF_HELO_SEEN) ? SMTP_ST_READY : SMTP_ST_INIT);
}

static void cmd_noop(struct smtp_session *s, const char *arg, size_t alen, uint64_t now)
{
	(void)arg, (void)alen, (void)now;
	reply(s, 0, 250, "2.0.0", "Ok");
}

static void cmd_quit(struct smtp_session *s, const char *arg, size_t alen, uint64_t now)
{
	(void)arg, (void)alen;
	txn_abort(s, now);
	reply(s, 0, 221, "2.0.0", "Bye");
	close_session(s);
}

static void cmd_vrfy(struct smtp_session *s, const char *arg, size_t alen, uint64_t now)
{
	(void)arg, (void)alen, (void)now;
	/* RFC 5321 3.5.3: 252 when the server will not verify; gives address
	 * harvesters nothing. */
	reply(s, 0, 252, "2.0.0", "Cannot VRFY user; try RCPT to attempt delivery");
}

static void cmd_help(struct smtp_session *s, const char *arg, size_t alen, uint64_t now)
{
	(void)arg, (void)alen, (void)now;
	reply(s, 0, 214, "2.0.0",
	      "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP");
}

static void cmd_starttls(struct smtp_session *s, const char *arg, size_t alen, uint64_t now)
{
	struct smtp_event ev = {0};
	struct smtp_answer a;
	enum smtp_verdict v;

	(void)arg, (void)alen;
	if (s->flags & SMTP_SF_TLS) {
		reply(s, 0, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	/* The host may have no TLS to give (every TLS slot of the worker in
	 * use, no certificate): RFC 3207 4, 454 and the session goes on in
	 * plaintext, in Postfix's words. A stage cannot park here; a
	 * PENDING is taken as a refusal. */
	ev.type = SMTP_EV_STARTTLS;
	ev.now_us = now;
	v = host_event(s, &ev, &a);
	if (v == SMTP_V_PENDING) {
		s->parked = 0;
		v = SMTP_V_REPLY;
		a.code = 0;
	}
	if (v == SMTP_V_REPLY) {
		if (a.code / 100 != 4 && a.code / 100 != 5) {
			a.code = 454;
			a.enh = "4.7.0";
			a.text = "TLS not available due to local problem";
		}
		reply_answer(s, &a, 0);
		return;
	}
	/* RFC 3207 4: 220 then the handshake; 4.2: the client's plaintext
	 * after the command is discarded (TLS_WAIT drops it). */
	reply(s, 0, 220, "2.0.0", "Ready to start TLS");
	enter_state(s, SMTP_ST_TLS_WAIT);
	set_timeout(s, now);
}

int smtp_tls_implicit(struct smtp_session *s, uint64_t now)
{
	const struct smtp_config *c = &s->pool->cfg;

	if ((s->state != SMTP_ST_GREETING && s->state != SMTP_ST_INIT) || s->ncmds)
		return -EINVAL;
	/* TLS from the first octet (RFC 8314 3.3): the banner waits in the
	 * output for the handshake, bounded like a STARTTLS handshake. */
	s->flags |= SMTP_SF_TLS | SMTP_SF_TLS_HS;
	/* Postscreen's greet wait is for port 25 strangers: a client of the
	 * implicit TLS port (submission) is greeted at once after the
	 * handshake, the teaser (still in the output) taken back. */
	if (s->state == SMTP_ST_GREETING) {
		if (s->flags & SMTP_SF_TEASED) {
			s->out_head = s->out_len = 0;
			s->flags &= (uint16_t)~SMTP_SF_TEASED;
		}
		s->flags |= SMTP_SF_GREET_NOW;
		if (banner_due(s, now))
			send_banner(s, now);
	}
	if (s->state == SMTP_ST_INIT)
		s->deadline_us = now + (uint64_t)(c->timeout_tls_ms ? c->timeout_tls_ms
								    : c->timeout_cmd_ms) *
					       1000;
	return 0;
}

int smtp_tls_started(struct smtp_session *s, uint64_t now)
{
	if (s->flags & SMTP_SF_TLS_HS) {
		s->flags &= (uint16_t)~SMTP_SF_TLS_HS;
		if (s->state == SMTP_ST_INIT)
			set_timeout(s, now);
		return 0;
	}
	if (s->state != SMTP_ST_TLS_WAIT)
		return -EINVAL;
	/* RFC 3207 4.2: the server MUST discard knowledge obtained from the
	 * client (HELO name) and wait for a new EHLO. */
	s->flags |= SMTP_SF_TLS;
	s->flags &= (uint16_t) ~(SMTP_SF_ESMTP | SMTP_SF_HELO_SEEN);
	s->helo_len = 0;
	s->helo[0] = 0;
	enter_state(s, SMTP_ST_INIT);
	set_timeout(s, now);
	return 0;
}

int smtp_tls_failed(struct smtp_session *s, uint64_t now)
{
	(void)now;
	if (s->state != SMTP_ST_TLS_WAIT && !(s->flags & SMTP_SF_TLS_HS))
		return -EINVAL;
	if (s->state == SMTP_ST_CLOSING)
		return -EALREADY;
	/* Nothing can be said to the client: no plaintext after the 220,
	 * no TLS either (implicit TLS: the banner waiting is dropped). The
	 * host closes the connection. */
	s->result = SMTP_RES_TLS_FAILED;
	s->out_head = s->out_len = 0;
	close_session(s);
	return 0;
}

/* Does the whole command line @l (@n octets: the LF is not stored) keep to
 * the limit of its command? 512 octets with the CRLF (RFC 5321 4.5.3.1.4)
 * for all but the C_EXT commands (MAIL, RCPT), which may use the whole
 * line buffer (512 + line_ext): cmd_input() already refused longer ones.
 * An unknown verb gets no room either. */
static bool cmd_line_fits(const char *l, size_t n)
{
	const struct smtp_cmd *c;
	size_t vlen;

	if (n + 1 <= SMTP_CMD_LINE_MAX)
		return true;
	for (vlen = 0; vlen < n && l[vlen] != ' ' && l[vlen] != '\r'; vlen++)
		;
	c = cmd_lookup(l, vlen);
	return c && (c->flags & C_EXT);
}

/* A complete command line sits in s->line[0 .. s->line_len) (the LF is not
 * stored). Returns true if input should stop (sync point, park, close). */
static bool process_line(struct smtp_session *s, uint64_t now)
{
	const struct smtp_config *cfg = &s->pool->cfg;
	char *l = (char *)s->line;
	size_t n = s->line_len;
	const struct smtp_cmd *c;
	const char *arg;
	size_t vlen, alen;

	s->line_len = 0;
	CNT(s, commands);
	set_timeout(s, now);
	if ((s->flags & SMTP_SF_OVERFLOW) || !cmd_line_fits(l, n)) {
		/* RFC 5321 4.5.3.1.4 / 4.2.2: "500 Line too long". The rest of
		 * the line was skipped up to its LF (or the line is whole but
		 * longer than its command may be): the session is in sync. */
		s->flags &= (uint16_t)~SMTP_SF_OVERFLOW;
		CNT(s, rej_cmd_too_long);
		reply(s, 0, 500, "5.5.2", "Error: line too long");
		return s->state == SMTP_ST_CLOSING;
	}
	/* RFC 5321 2.3.8: lines end with CRLF; a bare LF is not a line end
	 * that we accept (SMTP smuggling: the peer's idea of the line may
	 * differ from ours). */
	if (n == 0 || l[n - 1] != '\r') {
		CNT(s, rej_bare_lf_command);
		reply(s, 0, 500, "5.5.2", "Error: bare <LF> received");
		return s->state == SMTP_ST_CLOSING;
	}
	n--;
	if (memchr(l, '\r', n)) {
		CNT(s, rej_bare_lf_command);
		reply(s, 0, 500, "5.5.2", "Error: bare <CR> received");
		return s->state == SMTP_ST_CLOSING;
	}
	if (memchr(l, 0, n)) {
		CNT(s, rej_syntax);
		reply(s, 0, 500, "5.5.2", "Error: NUL character received");
		return s->state == SMTP_ST_CLOSING;
	}
	if (++s->ncmds > cfg->max_commands) {
		CNT(s, rej_commands_limit);
		MX_INFO("smtp %u: client %s: too many commands", s->id, s->client);
		close_session(s);
		reply(s, 0, 421, "4.7.0", "%s Error: too many commands", cfg->hostname);
		return true;
	}
	for (vlen = 0; vlen < n && l[vlen] != ' '; vlen++)
		;
	c = cmd_lookup(l, vlen);
	/* Any line but BDAT ends a "failed BDAT transaction" skip run. */
	if (!c || c->run != cmd_bdat)
		s->flags &= (uint16_t)~SMTP_SF_BDAT_FAILED;
	if (!c) {
		/* RFC 5321 4.2.4: 500 or 502 for an unknown command. */
		CNT(s, rej_unknown_command);
		reply(s, 0, n == 0 ? 500 : 502, "5.5.2",
		      n == 0 ? "Error: empty command" : "Error: command not recognized");
		return s->state == SMTP_ST_CLOSING;
	}
	arg = l + vlen;
	alen = n - vlen;
	if (alen) {
		arg++, alen--;
	}
	l[n] = 0;
	if (c->run == cmd_starttls && !cfg->starttls_available) {
		/* Not announced: RFC 5321 4.2.4, 502 command not implemented. */
		CNT(s, rej_unknown_command);
		reply(s, 0, 502, "5.5.1", "Error: command not implemented");
		return true;
	}
	if (c->run == cmd_mail && cfg->tls_required && !(s->flags & SMTP_SF_TLS) &&
	    (c->states & (1u << s->state))) {
		/* [smtp] tls = encrypt (RFC 3207 4: 530 until STARTTLS). */
		CNT(s, rej_tls_required);
		reply(s, 0, 530, "5.7.0", "Must issue a STARTTLS command first");
		return false;
	}
	if (!(c->states & (1u << s->state))) {
		bad_sequence(s, c);
		return (c->flags & C_SYNC) || s->state == SMTP_ST_CLOSING;
	}
	if (((c->flags & C_NOARG) && vlen < n) || ((c->flags & C_ARG) && alen == 0)) {
		syntax_error(s, c);
		return (c->flags & C_SYNC) || s->state == SMTP_ST_CLOSING;
	}
	/* A HELO/EHLO argument is a single word: trailing blanks tolerated. */
	if (c->run == cmd_helo || c->run == cmd_ehlo)
		while (alen && arg[alen - 1] == ' ')
			alen--;
	c->run(s, arg, alen, now);
	return (c->flags & C_SYNC) || s->parked || s->state == SMTP_ST_CLOSING;
}

/* Command mode: gather one line. Returns octets consumed. */
static size_t cmd_input(struct smtp_session *s, const uint8_t *p, size_t n, uint64_t now,
			bool *stop)
{
	const uint8_t *nl = memchr(p, '\n', n);
	size_t take = nl ? (size_t)(nl - p) : n;

	if (!(s->flags & SMTP_SF_OVERFLOW)) {
		/* line_max counts the CRLF; the LF is not stored. */
		if (s->line_len + take > s->pool->line_max - 1) {
			s->flags |= SMTP_SF_OVERFLOW;
		} else {
			memcpy(s->line + s->line_len, p, take);
			s->line_len = (uint16_t)(s->line_len + take);
		}
	}
	if (!nl)
		return n;
	*stop = process_line(s, now);
	return take + 1;
}

/* ---- message bodies ---------------------------------------------------- */

/* body_reject is a set of reasons (bit 1 << reason): which check fires
 * first depends on where the input was split, the set at the end of the
 * message does not. The reply names the reason of highest priority. */
static void body_reject(struct smtp_session *s, enum smtp_body_reject why)
{
	s->body_reject |= (uint8_t)(1u << why);
}

static enum smtp_body_reject body_reason(const struct smtp_session *s)
{
	static const enum smtp_body_reject prio[] = {
		SMTP_BODY_BARE_NL,
		SMTP_BODY_NUL,
		SMTP_BODY_LINE_TOO_LONG,
		SMTP_BODY_TOO_BIG,
	};

	for (size_t i = 0; i < sizeof(prio) / sizeof(prio[0]); i++)
		if (s->body_reject & (1u << prio[i]))
			return prio[i];
	return SMTP_BODY_OK;
}

/* Hand body octets to the host (zero copy). Returns true if it parked. */
static bool emit(struct smtp_session *s, const uint8_t *p, size_t n, uint64_t now)
{
	struct smtp_event ev = {.type = SMTP_EV_DATA_CHUNK, .now_us = now};
	struct smtp_answer a;

	if (n == 0)
		return false;
	s->msg_size += n;
	cnt_add(s->pool, SMTP_CNT_data_octets, n);
	/* RFC 1870 4: a message over the limit is refused (552 at the end). */
	if (s->msg_size > s->pool->cfg.max_msg_size)
		body_reject(s, SMTP_BODY_TOO_BIG);
	if (s->body_reject != SMTP_BODY_OK)
		return false;
	ev.data = p;
	ev.data_len = n;
	return host_event(s, &ev, &a) == SMTP_V_PENDING;
}

static void proceed_data_end(struct smtp_session *s, enum smtp_verdict v,
			     const struct smtp_answer *a, uint64_t now)
{
	unsigned code = v == SMTP_V_REPLY ? a->code : 250;

	if (code < 300) {
		CNT(s, messages_accepted);
		s->result = SMTP_RES_ACCEPTED;
	} else if (code < 500) {
		CNT(s, messages_tempfailed);
		s->result = SMTP_RES_TEMPFAIL;
	} else {
		CNT(s, messages_rejected);
		s->result = SMTP_RES_REJECTED;
	}
	s->last_size = s->msg_size;
	s->ntxn++;
	txn_end(s);
	enter_state(s, SMTP_ST_READY);
	set_timeout(s, now);
	if (v == SMTP_V_REPLY)
		reply_answer(s, a, 0); /* a 4xx does not count as an error: see there */
	else
		reply(s, 0, 250, "2.0.0", "Ok");
}

/* The end of a message: engine-side rejection or the host's verdict. */
static void data_end(struct smtp_session *s, uint64_t now)
{
	struct smtp_event ev = {.type = SMTP_EV_DATA_END, .now_us = now};
	struct smtp_answer a;
	enum smtp_verdict v;

	if (s->body_reject != SMTP_BODY_OK) {
		enum smtp_body_reject why = body_reason(s);

		CNT(s, messages_rejected);
		s->result = SMTP_RES_REJECTED;
		s->last_size = s->msg_size;
		s->ntxn++;
		txn_abort(s, now);
		enter_state(s, SMTP_ST_READY);
		set_timeout(s, now);
		if (why == SMTP_BODY_BARE_NL) {
			/* RFC 5321 2.3.8 / 4.1.1.4: CR and LF only as CRLF;
			 * the only end of data is CRLF.CRLF. */
			CNT(s, rej_bare_nl_data);
			reply(s, 0, 554, "5.6.0", "Error: bare <CR> or <LF> in message");
		} else if (why == SMTP_BODY_NUL) {
			/* RFC 5321 4.5.2 / RFC 6152 3: no NUL in SMTP text. */
			CNT(s, rej_bare_nl_data);
			reply(s, 0, 554, "5.6.0", "Error: NUL character in message");
		} else if (why == SMTP_BODY_LINE_TOO_LONG) {
			/* RFC 5321 4.5.3.1.6: text line <= 1000 octets. */
			CNT(s, rej_text_too_long);
			reply(s, 0, 552, "5.3.4", "Error: message line longer than 1000 octets");
		} else {
			CNT(s, rej_size);
			reply(s, 0, 552, "5.3.4", "Error: message size exceeds fixed limit");
		}
		return;
	}
	ev.size = s->msg_size;
	ev.bdat = s->flags & SMTP_SF_BDAT_TXN;
	v = host_event(s, &ev, &a);
	if (v != SMTP_V_PENDING)
		proceed_data_end(s, v, &a, now);
}

/*
 * DATA body (RFC 5321 4.1.1.4, 4.5.2). Lines end with CRLF; a line that is
 * "." ends the data; a line starting with "." loses that dot. CR and LF
 * alone mark the message rejected but do not end anything: the data goes on
 * until a real CRLF "." CRLF, so no bare-LF/CR variant can make us see a
 * second transaction inside the body.
 */
static size_t data_input(struct smtp_session *s, const uint8_t *p, size_t n, uint64_t now)
{
	size_t i = 0, run = 0;
	unsigned st = s->pstate;
	unsigned tl = s->text_len;

	set_timeout(s, now);
	while (i < n) {
		uint8_t c = p[i];

		switch (st) {
		case DS_LSTART:
			if (c == '.') {
				if (emit(s, p + run, i - run, now)) {
					s->pstate = DS_DOT, s->text_len = 0;
					return i + 1;
				}
				st = DS_DOT;
				run = ++i;
				continue;
			}
			st = DS_INLINE;
			/* fall through */
		case DS_INLINE:
			/* Fast path over ordinary octets. */
			while (i < n && p[i] != '\r' && p[i] != '\n' && p[i] != 0) {
				i++;
				tl++;
			}
			if (tl > SMTP_TEXT_LINE_MAX)
				body_reject(s, SMTP_BODY_LINE_TOO_LONG);
			if (i == n)
				break;
			tl++;
			if (p[i] == '\n')
				body_reject(s, SMTP_BODY_BARE_NL); /* LF without CR */
			else if (p[i] == 0)
				body_reject(s, SMTP_BODY_NUL);
			else
				st = DS_CR;
			i++;
			break;
		case DS_CR:
			if (c == '\n') {
				if (tl + 1 > SMTP_TEXT_LINE_MAX)
					body_reject(s, SMTP_BODY_LINE_TOO_LONG);
				tl = 0;
				st = DS_LSTART;
				i++;
				break;
			}
			body_reject(s, SMTP_BODY_BARE_NL); /* CR without LF */
			st = DS_INLINE;
			break;
		case DS_DOT:
			if (c == '\r') {
				st = DS_DOTCR;
				run = ++i; /* withheld: may be the end marker */
				break;
			}
			/* Dot-stuffing: the dot is dropped, the rest is text. */
			st = DS_INLINE;
			break;
		case DS_DOTCR:
			if (c == '\n') {
				/* CRLF "." CRLF: the one and only end of data. */
				i++;
				s->pstate = DS_LSTART;
				s->text_len = 0;
				data_end(s, now);
				return i;
			}
			/* ".\r" + something: a bare CR; the message is lost. */
			body_reject(s, SMTP_BODY_BARE_NL);
			st = DS_INLINE;
			tl = 1;
			break;
		}
	}
	s->pstate = (uint8_t)st;
	s->text_len = (uint16_t)(tl > 0xffff ? 0xffff : tl);
	emit(s, p + run, n - run, now);
	return n;
}

/* End of a BDAT chunk's octets. */
static void chunk_done(struct smtp_session *s, uint64_t now)
{
	if (s->flags & SMTP_SF_BDAT_SKIP) {
		s->flags &= (uint16_t)~SMTP_SF_BDAT_SKIP;
		enter_state(s, s->env ? (enum smtp_state)s->ret_state : SMTP_ST_READY);
		if (!(s->flags & SMTP_SF_HELO_SEEN))
			enter_state(s, SMTP_ST_INIT);
		set_timeout(s, now);
		return;
	}
	if (!(s->flags & SMTP_SF_BDAT_LAST)) {
		if (s->body_reject != SMTP_BODY_OK) {
			/* RFC 3030 2: any chunk may be refused; the
			 * transaction is then over. */
			s->flags |= SMTP_SF_BDAT_FAILED;
			data_end(s, now);
			return;
		}
		enter_state(s, SMTP_ST_CHUNKING);
		set_timeout(s, now);
		reply(s, 0, 250, "2.0.0", "Ok: %" PRIu64 " octets received", s->msg_size);
		return;
	}
	/* A message may not end on a lone CR. */
	if (s->pstate == DS_CR)
		body_reject(s, SMTP_BODY_BARE_NL);
	data_end(s, now);
}

/*
 * BDAT chunk octets (RFC 3030): exactly bdat_left octets, no stuffing, no
 * end marker. We do not announce BINARYMIME, so the content is still text
 * (RFC 3030 3: BODY=7BIT/8BITMIME with BDAT): bare CR/LF and overlong
 * lines are refused like in DATA, which also protects a next hop that gets
 * the message over DATA.
 */
static size_t bdat_input(struct smtp_session *s, const uint8_t *p, size_t n, uint64_t now)
{
	size_t take = n < s->bdat_left ? n : (size_t)s->bdat_left;
	unsigned st = s->pstate, tl = s->text_len;
	bool parked = false;

	set_timeout(s, now);
	if (!(s->flags & SMTP_SF_BDAT_SKIP)) {
		for (size_t i = 0; i < take; i++) {
			uint8_t c = p[i];

			if (st == DS_CR) {
				if (c == '\n') {
					st = DS_INLINE;
					if (++tl > SMTP_TEXT_LINE_MAX)
						body_reject(s, SMTP_BODY_LINE_TOO_LONG);
					tl = 0;
					continue;
				}
				body_reject(s, SMTP_BODY_BARE_NL);
				st = DS_INLINE;
			}
			tl++;
			if (c == '\r')
				st = DS_CR;
			else if (c == '\n')
				body_reject(s, SMTP_BODY_BARE_NL);
			else if (c == 0)
				body_reject(s, SMTP_BODY_NUL);
			else if (tl > SMTP_TEXT_LINE_MAX)
				body_reject(s, SMTP_BODY_LINE_TOO_LONG);
		}
		s->pstate = (uint8_t)st;
		s->text_len = (uint16_t)(tl > 0xffff ? 0xffff : tl);
		parked = emit(s, p, take, now);
	}
	s->bdat_left -= take;
	if (s->bdat_left == 0 && !parked)
		chunk_done(s, now);
	return take;
}

/* ---- entry points ------------------------------------------------------ */

static void pregreet(struct smtp_session *s)
{
	if (!(s->flags & SMTP_SF_PREGREET)) {
		s->flags |= SMTP_SF_PREGREET;
		CNT(s, rej_pregreet);
		MX_INFO("smtp %u: client %s: pregreet (input before the banner)", s->id, s->client);
	}
	if (s->pool->cfg.pregreet_action == SMTP_PREGREET_LOG)
		return;
	s->result = SMTP_RES_PREGREET;
	s->parked = 0; /* a pending connect answer is void now */
	close_session(s);
	/* Postscreen's enforce reply; drop: the connection just goes. */
	if (s->pool->cfg.pregreet_action == SMTP_PREGREET_REPLY)
		reply(s, 0, 550, "5.5.1", "Protocol error");
}

size_t smtp_input(struct smtp_session *s, const uint8_t *data, size_t len, uint64_t now)
{
	size_t off = 0;

	if (len == 0 || s->state == SMTP_ST_CLOSING)
		return 0;
	/* RFC 5321 4.3.1 / 3.1: the client waits for the greeting; anything
	 * earlier (even while the connect check is pending) is pregreet. */
	if (s->state == SMTP_ST_GREETING) {
		pregreet(s);
		return 0;
	}
	if (s->parked)
		return 0;
	while (off < len && !s->parked) {
		if (s->state == SMTP_ST_CLOSING)
			break;
		if (s->state == SMTP_ST_TLS_WAIT) {
			CNT(s, starttls_plaintext_discarded);
			off = len;
			break;
		}
		/* Back-pressure: take no input that could need a reply we
		 * have no room for. */
		if (out_free(s) < s->pool->reserve)
			break;
		if (s->state == SMTP_ST_DATA) {
			off += data_input(s, data + off, len - off, now);
		} else if (s->state == SMTP_ST_BDAT) {
			if (s->bdat_left == 0) {
				/* Parked on the last DATA_CHUNK of a chunk. */
				chunk_done(s, now);
				continue;
			}
			off += bdat_input(s, data + off, len - off, now);
		} else {
			bool stop = false;

			off += cmd_input(s, data + off, len - off, now, &stop);
			if (stop)
				break;
		}
	}
	return off;
}

static void proceed(struct smtp_session *s, enum smtp_event_type ev, enum smtp_verdict v,
		    const struct smtp_answer *a, uint64_t now)
{
	switch (ev) {
	case SMTP_EV_CONNECT:
		proceed_connect(s, v, a, now);
		break;
	case SMTP_EV_HELO:
		proceed_helo(s, v, a, now);
		break;
	case SMTP_EV_MAIL:
		proceed_mail(s, v, a, now);
		break;
	case SMTP_EV_RCPT:
		proceed_rcpt(s, v, a, now);
		break;
	case SMTP_EV_DATA_BEGIN:
		proceed_data_begin(s, v, a, now);
		break;
	case SMTP_EV_DATA_CHUNK:
		/* Body flow resumes; a finished BDAT chunk completes on the
		 * next smtp_input()/here. */
		if (s->state == SMTP_ST_BDAT && s->bdat_left == 0)
			chunk_done(s, now);
		break;
	case SMTP_EV_DATA_END:
		proceed_data_end(s, v, a, now);
		break;
	default:
		mx_panic("smtp %u: parked on %d", s->id, ev);
	}
}

int smtp_resume(struct smtp_session *s, uint64_t request_id, unsigned code, const char *enh,
		const char *text, uint64_t now)
{
	struct smtp_answer a = {.code = code, .enh = enh, .text = text};
	enum smtp_event_type ev;

	if (!s->parked || (code != 0 && (code < 200 || code > 599)))
		return -EINVAL;
	if (request_id != s->request_id)
		return -ENOENT;
	ev = (enum smtp_event_type)(s->parked - 1);
	s->parked = 0;
	if (s->state != SMTP_ST_DATA && s->state != SMTP_ST_BDAT)
		set_timeout(s, now);
	proceed(s, ev, code ? SMTP_V_REPLY : SMTP_V_CONTINUE, &a, now);
	if (!s->parked && (s->state == SMTP_ST_DATA || s->state == SMTP_ST_BDAT))
		set_timeout(s, now);
	return 0;
}

int smtp_timer(struct smtp_session *s, uint64_t now)
{
	if (s->state == SMTP_ST_CLOSING || s->parked)
		return 0;
	if (s->state == SMTP_ST_GREETING) {
		if (banner_due(s, now)) {
			send_banner(s, now);
			return 1;
		}
		return 0;
	}
	if (s->deadline_us == 0 || now < s->deadline_us)
		return 0;
	/* RFC 5321 4.5.3.2: timeouts; 4.2.2/3.8: 421 then close. */
	CNT(s, rej_timeout);
	MX_INFO("smtp %u: client %s: timeout in state %s", s->id, s->client, state_names[s->state]);
	s->result = SMTP_RES_TIMEOUT;
	txn_abort(s, now);
	close_session(s);
	reply(s, 0, 421, "4.4.2", "%s Error: timeout exceeded", s->pool->cfg.hostname);
	return 1;
}

/* End @s from the host's side: the transaction in progress is dropped,
 * "421 @enh <hostname> @text" queued, the session closing. */
static int session_end(struct smtp_session *s, uint64_t now, enum smtp_result res, const char *enh,
		       const char *text, const char *why)
{
	if (s->state == SMTP_ST_CLOSING)
		return -EALREADY;
	if (s->parked)
		return -EBUSY;
	MX_INFO("smtp %u: client %s: %s in state %s", s->id, s->client, why, state_names[s->state]);
	s->result = (uint8_t)res;
	txn_abort(s, now);
	close_session(s);
	reply(s, 0, 421, enh, "%s %s", s->pool->cfg.hostname, text);
	return 0;
}

int smtp_session_expire(struct smtp_session *s, uint64_t now)
{
	/* Like a timeout (RFC 5321 4.2.2/3.8: 421, then close), in the
	 * words of Postfix's "421 4.4.2 <host> Error: timeout exceeded". */
	return session_end(s, now, SMTP_RES_LIFETIME, "4.4.2",
			   "Error: connection lifetime exceeded", "connection lifetime exceeded");
}

int smtp_session_shutdown(struct smtp_session *s, uint64_t now)
{
	/* RFC 5321 3.8: a server that must shut down answers 421 and closes;
	 * 4.3.2 is RFC 3463's "system not accepting network messages". */
	return session_end(s, now, SMTP_RES_SHUTDOWN, "4.3.2", "Service shutting down",
			   "shut down by the operator");
}

uint64_t smtp_next_deadline(const struct smtp_session *s)
{
	if (s->parked || s->state == SMTP_ST_CLOSING || s->deadline_us == 0)
		return UINT64_MAX;
	return s->deadline_us;
}

bool smtp_session_closing(const struct smtp_session *s)
{
	return s->state == SMTP_ST_CLOSING;
}

bool smtp_session_parked(const struct smtp_session *s)
{
	return s->parked != 0;
}

enum smtp_state smtp_session_state(const struct smtp_session *s)
{
	return (enum smtp_state)s->state;
}

void *smtp_session_user(const struct smtp_session *s)
{
	return s->user;
}

const char *smtp_session_helo(const struct smtp_session *s)
{
	return s->helo;
}
