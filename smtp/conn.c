/*
 * conn.c - SMTP session slots, their timers, and the pump between a
 * transport (conn-t.h ops) and the engine. See conn.h.
 *
 * Memory: the slot array is allocated once at smtp_conn_table_create() and
 * freed at destroy; a slot's engine session belongs to the engine pool and
 * is given back at release. Worker lcore only, except the two counters.
 */
#include "smtp/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "smtp/smtp.h"

struct smtp_conn_table {
	unsigned worker;
	struct smtp_pool *pool;
	struct timer_wheel *wheel;
	const uint64_t *now_us;
	smtp_conn_expire_fn expire;
	void *expire_arg;
	struct smtp_conn *conns;
	struct smtp_conn *free;
	unsigned nconns;
	uint64_t linger_us;	   /* after our FIN, until the reset */
	uint64_t lifetime_us;	   /* of every session */
	unsigned open;		   /* owner writes, anyone reads (relaxed) */
	uint64_t refused;	   /* idem */
	uint64_t linger_aborts;	   /* idem */
	uint64_t lifetime_closes;  /* idem */
	uint64_t drain_refused;	   /* idem */
	uint64_t gate_refused;	   /* idem */
	uint64_t serial_next;	   /* session ids (smtp_conn.serial) */
	uint8_t drain;		   /* enum smtp_conn_drain */
	struct smtp_conn_lat *lat; /* NULL: latencies not recorded */
	smtp_conn_finish_fn on_finish;
	void *finish_arg;
	smtp_conn_release_fn on_release;
	void *release_arg;
	smtp_conn_starttls_fn starttls; /* NULL: no TLS layer */
	void *starttls_arg;
	smtp_conn_gate_fn gate; /* NULL: no saturation check at connect */
	void *gate_arg;
};

static void conn_timer(struct timer_entry *t);

struct smtp_conn_table *smtp_conn_table_create(const struct smtp_conn_conf *conf)
{
	struct smtp_conn_table *tab;

	if (!conf->pool || !conf->wheel || !conf->now_us || conf->slots == 0 ||
	    conf->slots > (1u << 24)) {
		errno = EINVAL;
		return NULL;
	}
	tab = calloc(1, sizeof(*tab));
	if (!tab)
		return NULL;
	tab->conns = calloc(conf->slots, sizeof(*tab->conns));
	if (!tab->conns) {
		free(tab);
		errno = ENOMEM;
		return NULL;
	}
	tab->worker = conf->worker;
	tab->pool = conf->pool;
	tab->wheel = conf->wheel;
	tab->now_us = conf->now_us;
	tab->expire = conf->expire;
	tab->expire_arg = conf->expire_arg;
	tab->linger_us = (uint64_t)(conf->linger_ms ? conf->linger_ms : SMTP_CONN_LINGER_MS) * 1000;
	tab->lifetime_us =
		(uint64_t)(conf->max_lifetime_s ? conf->max_lifetime_s : SMTP_CONN_LIFETIME_S) *
		1000000;
	tab->nconns = conf->slots;
	for (unsigned i = tab->nconns; i-- > 0;) {
		struct smtp_conn *c = &tab->conns[i];

		timer_init(&c->timer, conn_timer);
		c->tab = tab;
		c->slot = i;
		c->next_free = tab->free;
		tab->free = c;
	}
	return tab;
}

void smtp_conn_table_destroy(struct smtp_conn_table *tab)
{
	if (!tab)
		return;
	for (unsigned i = 0; i < tab->nconns; i++)
		if (tab->conns[i].s)
			MX_WARN("smtp conn %u: freed while open", i);
	free(tab->conns);
	free(tab);
}

static void cnt_set(unsigned *p, unsigned v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static void cnt_inc(uint64_t *p)
{
	__atomic_store_n(p, *p + 1, __ATOMIC_RELAXED);
}

/* Give the slot back: log line, engine session freed (its TXN_ABORT and
 * CLOSE stages run while the slot is still theirs), stale tickets. */
static void conn_release(struct smtp_conn *c)
{
	struct smtp_conn_table *tab = c->tab;
	char line[512];

	timer_cancel(tab->wheel, &c->timer);
	if (c->s) {
		char qids[SMTP_CONN_QIDS * (SMTP_CONN_QID_LEN + 1) + 16] = "";
		size_t q = 0;
		int n = smtp_summary_format(c->s, *tab->now_us, line, sizeof(line));
		const char *sec = smtp_conn_security(c);

		for (unsigned i = 0; i < c->nqids && i < SMTP_CONN_QIDS; i++)
			q += (size_t)snprintf(qids + q, sizeof(qids) - q, "%s%s",
					      i ? "," : " qids=", c->qids[i]);
		if (c->nqids > SMTP_CONN_QIDS)
			snprintf(qids + q, sizeof(qids) - q, ",+%u", c->nqids - SMTP_CONN_QIDS);
		/* tls=TLSv1.3\x20with\x20cipher...: escaped like the other values. */
		if (n > 0 && sec && *sec && (size_t)n + 8 < sizeof(line))
			n += snprintf(line + n, sizeof(line) - (size_t)n, " tls=");
		for (; n > 0 && sec && *sec && (size_t)n + 8 < sizeof(line); sec++) {
			if (*sec > 32 && *sec < 127 && *sec != '\\' && *sec != '"')
				line[n++] = *sec;
			else
				n += snprintf(line + n, sizeof(line) - (size_t)n, "\\x%02x",
					      (unsigned char)*sec);
			line[n] = '\0';
		}
		/* The policy verdicts (issue 14): only when there were any. */
		if (n > 0 && (c->grey_deferred || c->grey_passed || c->rl_refused) &&
		    (size_t)n + 64 < sizeof(line))
			n += snprintf(line + n, sizeof(line) - (size_t)n,
				      " greylisted=%u greylist_passed=%u ratelimited=%u",
				      c->grey_deferred, c->grey_passed, c->rl_refused);
		/* session=W-N as `show sessions` names it: the key of JSON logs. */
		if (n > 0)
			MX_INFO("smtp %s session=%u-%llu%s", line, tab->worker,
				(unsigned long long)c->serial, qids);
		if (tab->on_finish)
			tab->on_finish(tab->finish_arg, c);
		smtp_session_free(c->s, *tab->now_us);
		c->s = NULL;
	}
	memset(&c->top, 0, sizeof(c->top));
	memset(&c->low, 0, sizeof(c->low));
	memset(&c->park, 0, sizeof(c->park));
	if (tab->on_release)
		tab->on_release(tab->release_arg, c->slot);
	c->gen++;
	c->next_free = tab->free;
	tab->free = c;
	cnt_set(&tab->open, tab->open - 1);
}

void smtp_conn_on_release(struct smtp_conn_table *tab, smtp_conn_release_fn fn, void *arg)
{
	tab->on_release = fn;
	tab->release_arg = arg;
}

static void refuse(struct smtp_conn_table *tab, const struct smtp_transport_ops *ops, void *tr,
		   const char *why, uint64_t *counter)
{
	char msg[128];
	uint64_t now = *tab->now_us;
	int n = snprintf(msg, sizeof(msg), "421 4.3.2 mxgate: %s, try again later\r\n", why);

	/* From static text: no session is needed to say no. */
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = snprintf(msg, sizeof(msg), "421 4.3.2 mxgate: try again later\r\n");
	cnt_inc(counter);
	ops->send(tr, msg, (size_t)n, now);
	ops->close(tr, now);
	errno = EAGAIN;
}

struct smtp_conn *smtp_conn_open(struct smtp_conn_table *tab, const struct smtp_transport_ops *ops,
				 void *tr, const struct smtp_peer *peer)
{
	struct smtp_conn *c = tab->free;
	char client[INET6_ADDRSTRLEN];

	if (tab->drain != SMTP_CONN_DRAIN_OFF) {
		static const char bye[] = "421 4.3.2 mxgate: Service shutting down\r\n";

		cnt_inc(&tab->drain_refused);
		if (tab->drain == SMTP_CONN_DRAIN_REPLY)
			ops->send(tr, bye, sizeof(bye) - 1, *tab->now_us);
		ops->close(tr, *tab->now_us);
		errno = EAGAIN;
		return NULL;
	}
	if (!c) {
		refuse(tab, ops, tr, "too many connections", &tab->refused);
		return NULL;
	}
	/* Global admission (issue 14): a saturated stage behind the session
	 * (the spool) says no before any work is done for the client. */
	if (tab->gate) {
		const char *why = tab->gate(tab->gate_arg);
		if (why) {
			refuse(tab, ops, tr, why, &tab->gate_refused);
			return NULL;
		}
	}
	/* Take the slot before the engine runs the CONNECT stages. */
	tab->free = c->next_free;
	c->next_free = NULL;
	c->gen++;
	c->top.ops = ops;
	c->top.tr = tr;
	c->shut = false;
	c->peer_fin = false;
	c->life_end_us = *tab->now_us + tab->lifetime_us;
	c->linger_end_us = 0;
	c->peer = *peer;
	c->serial = ++tab->serial_next;
	c->t_open_us = c->t_last_us = *tab->now_us;
	c->bytes_in = c->bytes_out = 0;
	c->kill_pending = false;
	c->t_banner_us = c->t_helo_us = c->t_mark_us = c->t_durable_us = 0;
	c->mark = 0;
	c->mailed = false;
	c->nqids = 0;
	c->nrefused = c->naccepted = 0;
	c->grey_deferred = c->grey_passed = c->rl_refused = 0;
	c->tls_resv = NULL;
	inet_ntop(peer->family == 6 ? AF_INET6 : AF_INET, peer->addr, client, sizeof(client));
	c->s = smtp_session_open(tab->pool, client, c, *tab->now_us);
	if (!c->s) {
		memset(&c->top, 0, sizeof(c->top));
		memset(&c->park, 0, sizeof(c->park));
		c->next_free = tab->free;
		tab->free = c;
		refuse(tab, ops, tr, "too many sessions", &tab->refused);
		return NULL;
	}
	cnt_set(&tab->open, tab->open + 1);
	return c;
}

void smtp_conn_arm(struct smtp_conn *c)
{
	uint64_t d = c->s ? smtp_next_deadline(c->s) : UINT64_MAX;

	if (c->s && c->park.active && c->park.deadline_us < d)
		d = c->park.deadline_us;
	/* Once lingering, the reset bounds everything; before, the lifetime
	 * (a parked command is answered first: its deadline bounds it). */
	if (c->s && c->linger_end_us) {
		if (c->linger_end_us < d)
			d = c->linger_end_us;
	} else if (c->s && !smtp_session_parked(c->s) && c->life_end_us < d) {
		d = c->life_end_us;
	}
	/* µs -> ms ticks, rounded up: the engine never sees an early call. */
	if (d == UINT64_MAX)
		timer_cancel(c->tab->wheel, &c->timer);
	else
		timer_arm(c->tab->wheel, &c->timer, (d + 999) / 1000);
}

/* Octets are going out at @now: the greeting's first, or the reply a
 * latency mark waits for (not while parked: that reply is not there yet). */
static void conn_lat_sent(struct smtp_conn *c, uint64_t now)
{
	struct smtp_conn_lat *lat = c->tab->lat;

	if (!lat)
		return;
	if (c->bytes_out == 0) {
		c->t_banner_us = now ? now : 1;
		mx_hist_record(&lat->h[SMTP_LAT_connect_banner], now - c->t_open_us);
	}
	if (c->mark && !smtp_session_parked(c->s)) {
		mx_hist_record(&lat->h[c->mark - 1], now - c->t_mark_us);
		if (c->mark - 1 == SMTP_LAT_data_reply && c->t_durable_us)
			mx_hist_record(&lat->h[SMTP_LAT_durable_reply],
				       now > c->t_durable_us ? now - c->t_durable_us : 0);
		c->mark = 0;
		c->t_durable_us = 0;
	}
}

/* Note the queue id of every "250 2.0.0 Ok: queued as ID" line (the
 * spool stage's words) in @len octets of output going out, and count the
 * refusals. Only a line's start is matched, so no echoed client text can
 * forge one. */
static void conn_note_replies(struct smtp_conn *c, const uint8_t *p, size_t len)
{
	static const char pre[] = "250 2.0.0 Ok: queued as ";
	const size_t pl = sizeof(pre) - 1;

	for (size_t i = 0; i < len;) {
		const uint8_t *nl;
		/* A final reply line "4xx " or "5xx ": a refusal (show top). */
		if (i + 4 <= len && (p[i] == '4' || p[i] == '5') && p[i + 3] == ' ')
			c->nrefused++;
		if (i + pl + SMTP_CONN_QID_LEN <= len && memcmp(p + i, pre, pl) == 0) {
			if (c->nqids < SMTP_CONN_QIDS) {
				memcpy(c->qids[c->nqids], p + i + pl, SMTP_CONN_QID_LEN);
				c->qids[c->nqids][SMTP_CONN_QID_LEN] = '\0';
			}
			if (c->nqids < UINT8_MAX)
				c->nqids++;
			c->naccepted++;
		}
		nl = memchr(p + i, '\n', len - i);
		if (!nl)
			break;
		i = (size_t)(nl - p) + 1;
	}
}

/* Move engine output into the transport. Returns true if it is empty. */
static bool conn_flush(struct smtp_conn *c)
{
	uint64_t now = *c->tab->now_us;
	size_t len;
	const uint8_t *p;

	while ((p = smtp_output_peek(c->s, &len)) && len > 0) {
		ssize_t n = c->top.ops->send(c->top.tr, p, len, now);
		if (n <= 0)
			return false; /* full (WRITABLE follows) or closed */
		conn_lat_sent(c, now);
		conn_note_replies(c, p, (size_t)n);
		c->bytes_out += (uint64_t)n;
		c->t_last_us = now;
		smtp_output_consume(c->s, (size_t)n);
		if ((size_t)n < len)
			return false;
	}
	return true;
}

/* May our FIN follow once the engine's output is sent? When the engine is
 * closing (221/421 queued); or when the client half-closed and nothing it
 * sent is left to answer: no input kept in the transport, no parked
 * command (a parked answer, e.g. the 250 of a message being committed, is
 * owed: the park's deadline bounds the wait). A FIN before them would
 * lose them: a client without its 250 sends the message again. */
static bool conn_owes_nothing(struct smtp_conn *c)
{
	if (smtp_session_closing(c->s))
		return true;
	return c->peer_fin && !smtp_session_parked(c->s) && c->top.ops->avail(c->top.tr) == 0;
}

void smtp_conn_pump(struct smtp_conn *c)
{
	const struct smtp_transport_ops *ops = c->top.ops;
	uint64_t now = *c->tab->now_us;
	struct smtp_iov iov[8];
	bool progress = true;

	if (!c->s || !ops)
		return;
	if (c->kill_pending && !smtp_session_parked(c->s)) {
		c->kill_pending = false; /* its parked command was answered */
		smtp_session_shutdown(c->s, now);
	}
	while (progress) {
		unsigned n;

		progress = false;
		if (!conn_flush(c))
			break;
		if (smtp_session_closing(c->s))
			break;
		n = ops->peek(c->top.tr, iov, 8);
		for (unsigned i = 0; i < n; i++) {
			size_t used = smtp_input(c->s, iov[i].base, iov[i].len, now);
			if (used) {
				ops->consume(c->top.tr, used, now);
				c->bytes_in += used;
				c->t_last_us = now;
				progress = true;
			}
			if (used < iov[i].len)
				break;
		}
	}
	/* The 220 to STARTTLS is out and the plaintext after it discarded:
	 * the next octet from the client is its ClientHello. */
	if (c->tab->starttls && !c->low.ops && smtp_session_state(c->s) == SMTP_ST_TLS_WAIT &&
	    conn_flush(c)) {
		c->tab->starttls(c->tab->starttls_arg, c);
		ops = c->top.ops;
	}
	if (!c->shut && conn_owes_nothing(c) && conn_flush(c)) {
		/* 221/421 sent, or every reply the half-closed client is owed:
		 * FIN after it; the slot goes at CLOSED, or at the end of the
		 * linger if the client does not close its side. */
		c->shut = true;
		ops->shutdown(c->top.tr, now);
		if (!c->linger_end_us)
			c->linger_end_us = now + c->tab->linger_us;
	}
	smtp_conn_arm(c);
}

/* The linger after our FIN (or after the lifetime) is over and the client
 * has not closed: reset, release the slot. */
static void conn_linger_abort(struct smtp_conn *c)
{
	MX_DEBUG("smtp %u: client did not close within %llu ms of the end: reset", c->slot,
		 (unsigned long long)(c->tab->linger_us / 1000));
	cnt_inc(&c->tab->linger_aborts);
	smtp_conn_abort(c);
}

/* The session's lifetime is over (and no command is parked): 421 and
 * close; whatever happens to the 421 and our FIN, the linger bounds it
 * (the peer may not even read: a 221 stuck in a full send buffer). */
static void conn_lifetime(struct smtp_conn *c, uint64_t now)
{
	if (smtp_session_expire(c->s, now) == 0)
		cnt_inc(&c->tab->lifetime_closes);
	c->linger_end_us = now + c->tab->linger_us;
	smtp_conn_pump(c);
}

static void conn_timer(struct timer_entry *t)
{
	struct smtp_conn *c = (struct smtp_conn *)t;
	struct smtp_conn_table *tab = c->tab;
	uint64_t now = *tab->now_us;

	if (!c->s)
		return;
	if (c->linger_end_us && now >= c->linger_end_us) {
		conn_linger_abort(c);
		return;
	}
	if (c->park.active && now >= c->park.deadline_us && tab->expire) {
		tab->expire(tab->expire_arg, c, now); /* answers and pumps */
		return;
	}
	if (!c->linger_end_us && !smtp_session_parked(c->s) && now >= c->life_end_us) {
		conn_lifetime(c, now);
		return;
	}
	smtp_timer(c->s, now);
	smtp_conn_pump(c);
}

void smtp_conn_event(struct smtp_conn *c, enum smtp_conn_ev ev)
{
	uint64_t now = *c->tab->now_us;

	if (!c->s)
		return;
	if (c->top.ops && c->top.ops->lower_event && ev == SMTP_CONN_EV_CLOSED) {
		/* The lower handle is gone: the upper layer frees its state. */
		c->top.ops->lower_event(c->top.tr, ev, now);
	} else if (c->top.ops && c->top.ops->lower_event) {
		int up = c->top.ops->lower_event(c->top.tr, ev, now);
		if (up < 0)
			return;
		ev = (enum smtp_conn_ev)up;
	}
	switch (ev) {
	case SMTP_CONN_EV_READABLE:
	case SMTP_CONN_EV_WRITABLE:
		smtp_conn_pump(c);
		break;
	case SMTP_CONN_EV_PEER_FIN:
		/* The client sends nothing more: serve what is queued, answer
		 * what is parked, then end our side (the pump decides when; RFC
		 * 5321 4.1.1.10: a close without QUIT is a client error, the
		 * engine records it at free). */
		c->peer_fin = true;
		smtp_conn_pump(c);
		break;
	case SMTP_CONN_EV_CLOSED:
		conn_release(c);
		break;
	default:
		break;
	}
}

void smtp_conn_abort(struct smtp_conn *c)
{
	struct smtp_transport top = c->top, low = c->low;
	uint64_t now = *c->tab->now_us;

	if (!c->s)
		return;
	conn_release(c);
	/* The top layer owns the one below it and releases both. */
	if (top.ops)
		top.ops->abort(top.tr, now);
	else if (low.ops)
		low.ops->abort(low.tr, now);
}

void smtp_conn_on_starttls(struct smtp_conn_table *tab, smtp_conn_starttls_fn fn, void *arg)
{
	tab->starttls = fn;
	tab->starttls_arg = arg;
}

const char *smtp_conn_security(const struct smtp_conn *c)
{
	return c->top.ops && c->top.ops->describe ? c->top.ops->describe(c->top.tr) : NULL;
}

int smtp_conn_tls_params(const struct smtp_conn *c, char *proto, size_t plen, char *cipher,
			 size_t clen)
{
	const char *sec = smtp_conn_security(c), *w, *ci;
	size_t n;

	proto[0] = cipher[0] = '\0';
	if (!sec || !(w = strstr(sec, " with cipher ")))
		return -ENOENT;
	n = (size_t)(w - sec);
	snprintf(proto, plen, "%.*s", (int)n, sec);
	ci = w + strlen(" with cipher ");
	snprintf(cipher, clen, "%.*s", (int)strcspn(ci, " "), ci);
	return 0;
}

int smtp_conn_transport_push(struct smtp_conn *c, const struct smtp_transport_ops *ops, void *tr)
{
	if (c->low.ops)
		return -EBUSY;
	c->low = c->top;
	c->top.ops = ops;
	c->top.tr = tr;
	return 0;
}

struct smtp_conn *smtp_conn_at(struct smtp_conn_table *tab, uint32_t slot)
{
	return slot < tab->nconns ? &tab->conns[slot] : NULL;
}

unsigned smtp_conn_slots(const struct smtp_conn_table *tab)
{
	return tab->nconns;
}

uint64_t smtp_conn_now(const struct smtp_conn_table *tab)
{
	return *tab->now_us;
}

unsigned smtp_conn_open_count(const struct smtp_conn_table *tab)
{
	return __atomic_load_n(&tab->open, __ATOMIC_RELAXED);
}

uint64_t smtp_conn_refused(const struct smtp_conn_table *tab)
{
	return __atomic_load_n(&tab->refused, __ATOMIC_RELAXED);
}

uint64_t smtp_conn_linger_aborts(const struct smtp_conn_table *tab)
{
	return __atomic_load_n(&tab->linger_aborts, __ATOMIC_RELAXED);
}

uint64_t smtp_conn_lifetime_closes(const struct smtp_conn_table *tab)
{
	return __atomic_load_n(&tab->lifetime_closes, __ATOMIC_RELAXED);
}

int smtp_conn_kill(struct smtp_conn *c)
{
	int rc;

	if (!c->s)
		return -ENOENT;
	rc = smtp_session_shutdown(c->s, *c->tab->now_us);
	if (rc == -EBUSY) {
		c->kill_pending = true; /* smtp_conn_pump() after the answer */
		return 0;
	}
	if (rc == 0)
		smtp_conn_pump(c);
	return rc;
}

void smtp_conn_set_drain(struct smtp_conn_table *tab, enum smtp_conn_drain mode)
{
	tab->drain = (uint8_t)mode;
}

void smtp_conn_set_gate(struct smtp_conn_table *tab, smtp_conn_gate_fn fn, void *arg)
{
	tab->gate = fn;
	tab->gate_arg = arg;
}

uint64_t smtp_conn_gate_refused(const struct smtp_conn_table *tab)
{
	return __atomic_load_n(&tab->gate_refused, __ATOMIC_RELAXED);
}

uint64_t smtp_conn_drain_refused(const struct smtp_conn_table *tab)
{
	return __atomic_load_n(&tab->drain_refused, __ATOMIC_RELAXED);
}

void smtp_conn_on_finish(struct smtp_conn_table *tab, smtp_conn_finish_fn fn, void *arg)
{
	tab->on_finish = fn;
	tab->finish_arg = arg;
}

void smtp_conn_lat_record(struct smtp_conn *c, unsigned phase, uint64_t us)
{
	if (c->tab->lat && phase < SMTP_LAT_COUNT)
		mx_hist_record(&c->tab->lat->h[phase], us);
}

void smtp_conn_set_latency(struct smtp_conn_table *tab, struct smtp_conn_lat *lat)
{
	tab->lat = lat;
}

unsigned smtp_conn_worker(const struct smtp_conn_table *tab)
{
	return tab->worker;
}
