/*
 * fuzz_smtp.c - libFuzzer target for the SMTP engine.
 *
 * Input: byte 0 picks the engine configuration, byte 1 the test host's
 * behaviour (which events it refuses or parks), bytes 2..9 seed the input
 * splits; the rest is what the client sends. The stream is fed three times
 * (whole, in pseudo-random pieces, byte by byte for short inputs) to fresh
 * sessions, and checked:
 *   - every reply line is "ddd[ -]text\r\n", 2xx..5xx, <= 512 octets, the
 *     lines of a multi-line reply share their code;
 *   - at most one DATA_END per DATA_BEGIN, none outside a transaction
 *     (no second message out of one body: no smuggling), MAIL/RCPT
 *     events never inside a body, DATA_CHUNK only between a DATA_BEGIN
 *     and its DATA_END/TXN_ABORT (the spool message is open there only);
 *   - the output never exceeds its bound, the envelope slots all come back;
 *   - all splits give byte-identical replies and identical event traces.
 * Any violation aborts (a crash for libFuzzer).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "smtp/smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX (1 << 16)

struct run {
	struct smtp_pool *pool;
	struct smtp_session *s;
	uint8_t host_mode;
	uint64_t now, req;
	/* trace: a hash of events and of the bodies of finished messages (a
	 * refused body may have been handed over partly, split-dependent) */
	uint64_t ev_hash, body_hash, body_len;
	unsigned nev;
	bool in_txn, in_body;
	int parked_ev; /* event the host answered PENDING, -1 none */
	unsigned parked_k;
	unsigned data_begins, data_ends;
	char out[OUT_MAX];
	size_t outlen;
	bool out_trunc;
	/* reply line checker */
	char line[600];
	size_t llen;
	int ml_code; /* code of the multi-line reply in progress, -1 none */
};

static void fail(const char *why)
{
	fprintf(stderr, "fuzz_smtp invariant: %s\n", why);
	abort();
}

static void mix(struct run *r, uint64_t v)
{
	r->ev_hash = (r->ev_hash ^ v) * 1099511628211ull;
}

static void check_line(struct run *r)
{
	const char *l = r->line;
	int code;

	if (r->llen < 5 || r->llen > 512 || l[r->llen - 2] != '\r')
		fail("reply line length or terminator");
	for (int i = 0; i < 3; i++)
		if (l[i] < '0' || l[i] > '9')
			fail("reply code not 3 digits");
	code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (code < 200 || code > 599)
		fail("reply code out of 2xx..5xx");
	if (l[3] != ' ' && l[3] != '-')
		fail("reply separator");
	for (size_t i = 4; i < r->llen - 2; i++)
		if ((unsigned char)l[i] < 0x20 || (unsigned char)l[i] >= 0x7f)
			fail("control or 8-bit octet in reply text");
	if (r->ml_code >= 0 && r->ml_code != code)
		fail("multi-line reply changes code");
	r->ml_code = l[3] == '-' ? code : -1;
}

static void drain(struct run *r)
{
	size_t n;
	const uint8_t *p;

	if (!r->s)
		return;
	p = smtp_output_peek(r->s, &n);
	if (n > smtp_pool_config(r->pool)->out_size)
		fail("output over its bound");
	for (size_t i = 0; i < n; i++) {
		if (r->llen >= sizeof(r->line) - 1)
			fail("reply line too long");
		r->line[r->llen++] = (char)p[i];
		if (p[i] == '\n') {
			check_line(r);
			r->llen = 0;
		}
	}
	if (n == 0)
		return;
	if (r->outlen + n <= sizeof(r->out)) {
		memcpy(r->out + r->outlen, p, n);
		r->outlen += n;
	} else {
		r->out_trunc = true;
	}
	if (n)
		smtp_output_consume(r->s, n);
}

static enum smtp_verdict host_cb(void *ctx, struct smtp_session *s, const struct smtp_event *ev,
				 struct smtp_answer *a)
{
	struct run *r = ctx;
	uint8_t m = r->host_mode;
	unsigned k;

	(void)s;
	/* Chunk boundaries depend on the input split: chunks only feed the
	 * byte hash, never the event count or the host's decisions. */
	if (ev->type == SMTP_EV_DATA_CHUNK) {
		if (!r->in_body)
			fail("DATA_CHUNK outside a body");
		for (size_t i = 0; i < ev->data_len; i++)
			r->body_hash = (r->body_hash ^ ev->data[i]) * 1099511628211ull;
		r->body_len += ev->data_len;
		return SMTP_V_CONTINUE;
	}
	k = r->nev++;
	if (getenv("FUZZ_SMTP_DEBUG"))
		fprintf(stderr, "ev %u %s %.*s\n", k, smtp_event_name(ev->type),
			(int)(ev->str ? ev->str_len : 0), ev->str ? ev->str : "");
	mix(r, ev->type);
	if (ev->str)
		for (size_t i = 0; i < ev->str_len; i++)
			mix(r, (unsigned char)ev->str[i]);
	switch (ev->type) {
	case SMTP_EV_MAIL:
		if (r->in_txn || r->in_body)
			fail("MAIL event inside a transaction");
		r->in_txn = true;
		break;
	case SMTP_EV_RCPT:
		if (!r->in_txn || r->in_body)
			fail("RCPT event outside a transaction or inside a body");
		break;
	case SMTP_EV_DATA_BEGIN:
		if (!r->in_txn || r->in_body)
			fail("DATA_BEGIN outside a transaction");
		r->in_body = true;
		r->data_begins++;
		r->body_hash = 14695981039346656037ull;
		r->body_len = 0;
		break;
	case SMTP_EV_DATA_END:
		if (!r->in_body)
			fail("DATA_END without DATA_BEGIN (second message from one body)");
		r->data_ends++;
		if (ev->size != r->body_len)
			fail("DATA_END size differs from the chunks handed over");
		mix(r, ev->size);
		mix(r, r->body_hash);
		break;
	case SMTP_EV_TXN_ABORT:
	case SMTP_EV_CLOSE:
		r->in_txn = r->in_body = false;
		return SMTP_V_CONTINUE;
	default:
		break;
	}
	/* Host behaviour: bits of host_mode decide per event kind. */
	if ((m & 1) && ev->type != SMTP_EV_CONNECT && ev->type != SMTP_EV_STARTTLS && k % 3 == 0) {
		a->request_id = ++r->req;
		r->parked_ev = (int)ev->type;
		r->parked_k = k;
		return SMTP_V_PENDING;
	}
	if (ev->type == SMTP_EV_DATA_END) {
		if (r->in_body)
			r->in_txn = r->in_body = false;
		a->code = (m & 2) ? 250 : 451;
		a->enh = (m & 2) ? "2.0.0" : "4.3.0";
		a->text = (m & 2) ? "Ok: queued" : "Error: not stored";
		return SMTP_V_REPLY;
	}
	if ((m & 4) && ev->type == SMTP_EV_RCPT && k % 2) {
		a->code = 550;
		a->enh = "5.1.1";
		a->text = "User unknown\r\n250 fake";
		return SMTP_V_REPLY;
	}
	if ((m & 8) && ev->type == SMTP_EV_MAIL && k % 4 == 1) {
		r->in_txn = false; /* refused: no transaction */
		a->code = 451;
		a->text = "try later";
		return SMTP_V_REPLY;
	}
	if ((m & 64) && ev->type == SMTP_EV_DATA_BEGIN && k % 2 == 0) {
		/* refused (spool full): the engine aborts the transaction and
		 * must drop the body octets that follow without DATA_CHUNK */
		a->code = 452;
		a->enh = "4.3.1";
		a->text = "no room";
		return SMTP_V_REPLY;
	}
	if ((m & 16) && ev->type == SMTP_EV_CONNECT) {
		a->code = (m & 32) ? 554 : 421;
		a->text = "go away";
		return SMTP_V_REPLY;
	}
	return SMTP_V_CONTINUE;
}

/* Answer the parked event. A resumed DATA_END ends the transaction without
 * a further event (the engine's side of it is proceed_data_end()), so the
 * txn state is mirrored here. Nothing else ends a body on resume: the
 * session's state is no guide, e.g. a parked DATA_BEGIN for a non-LAST
 * "BDAT 0" leaves the accepted transaction in SMTP_ST_CHUNKING, between
 * chunks but still inside the body; a refused one is a TXN_ABORT event. */
static void resume(struct run *r)
{
	unsigned code = (r->host_mode & 2) ? 250 : 0;
	int ev = r->parked_ev;

	if (ev == SMTP_EV_DATA_BEGIN && (r->host_mode & 64) && r->parked_k % 2 == 0)
		code = 452; /* as in host_cb, answered late */
	r->parked_ev = -1;
	if (smtp_resume(r->s, r->req, code, NULL, "resumed", r->now) < 0)
		fail("smtp_resume refused its own request");
	if (ev == SMTP_EV_DATA_END && r->in_body)
		r->in_txn = r->in_body = false;
}

static uint64_t rng_next(uint64_t *st)
{
	*st ^= *st << 13;
	*st ^= *st >> 7;
	*st ^= *st << 17;
	return *st;
}

/* mode 0: whole, 1: random pieces, 2: bytes */
static void run_stream(struct run *r, const uint8_t *cfgb, const uint8_t *p, size_t n, int mode,
		       uint64_t seed)
{
	struct smtp_config cfg;
	struct smtp_host host = {0};
	uint8_t c = cfgb[0];
	size_t pos = 0;
	unsigned spins = 0;

	memset(r, 0, offsetof(struct run, out));
	r->outlen = 0;
	r->llen = 0;
	r->out_trunc = false;
	r->ml_code = -1;
	r->parked_ev = -1;
	r->host_mode = cfgb[1];
	r->ev_hash = 14695981039346656037ull;
	smtp_config_defaults(&cfg);
	snprintf(cfg.hostname, sizeof(cfg.hostname), "mx.fuzz");
	cfg.max_sessions = 1;
	cfg.env_arena = 1024;
	cfg.max_rcpt = (c & 1) ? 3 : 100;
	cfg.max_msg_size = (c & 2) ? 64 : 10240000;
	cfg.line_ext = (c & 4) ? 0 : 256;
	cfg.out_size = (c & 8) ? 400 : 640;
	cfg.starttls_available = c & 16;
	cfg.pregreet_action = (c & 32) ? SMTP_PREGREET_LOG : SMTP_PREGREET_DROP;
	cfg.greet_delay_ms = (c & 64) ? 10 : 0;
	cfg.max_errors = (c & 128) ? 1000 : 10;
	for (int e = 0; e < SMTP_EV_COUNT; e++)
		host.on[e] = host_cb;
	host.ctx = r;
	r->pool = smtp_pool_create(&cfg, &host);
	if (!r->pool)
		fail("pool");
	r->now = 1000000;
	r->s = smtp_session_open(r->pool, "192.0.2.1", NULL, r->now);
	drain(r);
	while (pos < n && r->s) {
		size_t seg = n - pos, k;

		if (mode == 1)
			seg = 1 + rng_next(&seed) % 64;
		else if (mode == 2)
			seg = 1;
		if (seg > n - pos)
			seg = n - pos;
		k = smtp_input(r->s, p + pos, seg, r->now);
		drain(r);
		pos += k;
		if (smtp_session_closing(r->s))
			break;
		if (k)
			spins = 0;
		else if (++spins > 4)
			fail("engine makes no progress");
		if (k == 0) {
			if (smtp_session_parked(r->s)) {
				resume(r);
			} else if (smtp_session_state(r->s) == SMTP_ST_GREETING) {
				/* Only the greet delay can hold the banner. */
				r->now += 20000;
				smtp_timer(r->s, r->now);
			}
			drain(r);
		}
	}
	if (r->s) {
		while (smtp_session_parked(r->s) && !smtp_session_closing(r->s)) {
			resume(r);
			drain(r);
		}
		/* Timers: far future, the session must time out (or be done). */
		r->now += 3600ull * 1000000;
		smtp_timer(r->s, r->now);
		drain(r);
		smtp_session_free(r->s, r->now);
		r->s = NULL;
	}
	if (r->data_ends > r->data_begins)
		fail("more data ends than data begins");
	if (r->llen)
		fail("reply without CRLF at the end");
	if (smtp_pool_free_envelopes(r->pool) != 1 || smtp_pool_free_sessions(r->pool) != 1)
		fail("pool slot leak");
	smtp_pool_destroy(r->pool);
	r->pool = NULL;
}

static struct run runs[2];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seed = 0;

	if (size < 10)
		return 0;
	mx_log_level = -1; /* silence: nothing is formatted */
	for (int i = 0; i < 8; i++)
		seed = seed << 8 | data[2 + i];
	seed |= 1;
	run_stream(&runs[0], data, data + 10, size - 10, 0, seed);
	for (int mode = 1; mode <= 2; mode++) {
		if (mode == 2 && size > 4096)
			break;
		run_stream(&runs[1], data, data + 10, size - 10, mode, seed);
		if (runs[0].outlen != runs[1].outlen ||
		    memcmp(runs[0].out, runs[1].out, runs[0].outlen) != 0) {
			if (getenv("FUZZ_SMTP_DEBUG"))
				fprintf(stderr, "--- whole:\n%.*s--- split mode %d:\n%.*s",
					(int)runs[0].outlen, runs[0].out, mode, (int)runs[1].outlen,
					runs[1].out);
			fail("replies differ between input splits");
		}
		if (runs[0].ev_hash != runs[1].ev_hash || runs[0].nev != runs[1].nev)
			fail("events differ between input splits");
	}
	return 0;
}
