/*
 * relay.c - the relay: queue, relay threads, SMTP/LMTP client, control API.
 * See relay.h for the model; this file is in three parts:
 *
 *   1. the queue (list + min-heap under r->lock) and its control operations;
 *   2. the client side of one session (connect with fallback, EHLO/LHLO
 *      capabilities, STARTTLS with OpenSSL on the same non-blocking socket
 *      and deadlines, one transaction with or without PIPELINING, dot-stuffed
 *      body, per-recipient replies);
 *   3. the relay thread loop and the bookkeeping after an attempt.
 *
 * Locks: r->lock protects the queue, every struct relay_msg not owned by an
 * active attempt, the next-hop failure state and the refuse flag. A relay
 * thread owns its connection and, while it is active, its message's delivery
 * state (it still writes view fields under r->lock since ctl reads them).
 * Lock order: r->lock before the spool locks (spool_rcpt_mark() is called
 * with r->lock held by control operations, without it by relay threads).
 * The spool calls relay_on_commit() with none of its locks held.
 *
 * Memory: messages, replies and addresses are malloc'd on commit, relay and
 * control threads; nothing here runs on a worker lcore except
 * relay_nexthop_down_since() (one atomic load).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/hist.h"
#include "core/log.h"
#include "queue/dsn.h"
#include "queue/qid.h"
#include "queue/relay.h"
#include "queue/spool-int.h" /* on_commit installation; see relay_create() */
#include "queue/spool.h"

#define RELAY_REPLY_MAX 512   /* reply text kept per recipient */
#define RELAY_LINE_MAX	4096  /* longest reply line accepted from a next hop */
#define RELAY_WBUF	65536 /* output buffer of a connection */
#define RELAY_RBUF	8192
#define RELAY_WAIT_MAX	1000000000ULL /* relay threads wake at least every second */
#define NOT_IN_HEAP	SIZE_MAX

#define STAT_ADD(r, f, n) __atomic_fetch_add(&(r)->st.f, (uint64_t)(n), __ATOMIC_RELAXED)

/* Capabilities from the EHLO/LHLO reply. */
enum {
	CAP_PIPELINING = 1 << 0,
	CAP_DSN = 1 << 1,
	CAP_SMTPUTF8 = 1 << 2,
	CAP_8BITMIME = 1 << 3,
	CAP_SIZE = 1 << 4,
	CAP_STARTTLS = 1 << 5,
};

/* Internal message state: QUEUED is READY or DEFERRED depending on time. */
enum {
	MSG_QUEUED = 0,
	MSG_ACTIVE,
	MSG_HELD,
};

struct relay_msg {
	struct relay_msg *prev, *next; /* r->all, arrival order */
	size_t heap_idx;	       /* NOT_IN_HEAP unless QUEUED */
	uint64_t seq;		       /* FIFO tie-break in the heap */
	struct spool_qid qid;
	uint64_t body_len;
	uint64_t next_try_ns; /* CLOCK_MONOTONIC */
	uint32_t attempts;
	uint32_t nrcpt;
	uint8_t state;
	bool want_hold, want_delete;
	bool bounce; /* a notification (queued through dsn_worker) */
	char *from;
	char *tls; /* "TLSv1.3/TLS_AES_256_GCM_SHA384" as received, NULL: plaintext */
	struct relay_rcpt_view *rcpt; /* addr/reply malloc'd (const cast away to free) */
};

struct relay_hopstate {
	struct relay_nexthop h; /* host strdup'd */
	uint64_t retry_at_ns;	/* skipped until then after a failure (0: up) */
};

/* One session with a next hop, owned by one relay thread. */
struct relay_conn {
	int fd;	  /* -1: none */
	SSL *ssl; /* after STARTTLS: every read and write goes through it */
	unsigned hop;
	unsigned caps;
	uint32_t nmsgs;
	uint64_t idle_since_ns;
	size_t rpos, rlen;
	size_t wlen;
	char peer[300];
	char rbuf[RELAY_RBUF];
	uint8_t wbuf[RELAY_WBUF];
};

struct relay_thread {
	struct relay *r;
	unsigned id;
	pthread_t th;
	bool started;
	uint64_t rnd;
	struct relay_conn c;
};

struct relay {
	struct relay_conf conf;
	struct spool *sp;
	SSL_CTX *tls_ctx; /* NULL unless a next hop has tls != none */
	struct relay_hopstate hop[RELAY_MAX_NEXTHOPS + 1]; /* + bounce_nexthop, last */
	char **hold_dom; /* recipient domains held by the operator, lower case; r->lock */
	size_t nhold_dom;
	unsigned nhops; /* nnexthops (+ 1 with a bounce hop) */
	struct relay_thread *t;

	pthread_mutex_t lock;
	pthread_cond_t cv;
	pthread_mutex_t dsn_lock;      /* one spool_inject() at a time on conf.dsn_worker */
	struct relay_msg *head, *tail; /* every message, arrival order */
	size_t nmsgs;
	struct relay_msg **heap;
	size_t nheap, capheap;
	uint64_t seq;
	bool stop, started, probing, refusing, backlog_refusing;
	/* backlog estimate (backlog_tick()), under lock */
	uint64_t attempts_done;	 /* attempts finished, ever */
	struct relay_backlog bl; /* drain rate */
	uint64_t last_tick_ns;	 /* last estimate */
	uint64_t backlog_est_ns; /* last estimate of the backlog wait */
	uint64_t last_due;	 /* messages due at the last estimate */
	uint64_t new_since_tick; /* messages taken in since */
	uint64_t down_since_ns;	 /* monotonic, under lock */

	uint64_t down_since_us; /* unix us, atomic (workers read it) */
	struct relay_stats st;	/* atomics */
	/* Arrival (the queue id's time) to the last recipient delivered, ms;
	 * written under @lock, read with relaxed loads (show latency). */
	struct mx_hist delivery;
};

/* Per-recipient outcome of one attempt. */
struct relay_res {
	int code; /* 0: not tried or no reply (temporary) */
	bool tried;
	bool accepted; /* RCPT 2xx, waiting for the data reply */
	bool expired;  /* failed because the message outlived max_queue_lifetime */
	uint8_t fate;  /* FATE_*: what a failure does to the recipient */
	char text[RELAY_REPLY_MAX];
};

/* What happens to a recipient that failed for good (fail_for_good()). */
enum {
	FATE_NONE = 0, /* delivered, or deferred (retry later) */
	FATE_HOLD,     /* held: operator's choice, or no notification could be queued */
	FATE_BOUNCE,   /* a notification (DSN) goes to the sender; BOUNCED */
	FATE_DROP,     /* failed, no notification owed (null sender, NOTIFY=); BOUNCED */
};

#define RELAY_DSN_HDR_MAX 65536 /* original header returned in a notification */
#define RELAY_DSN_TIMEOUT 10000 /* ms to make a notification durable */

static const char *const stat_names[] = {
#define RELAY_STAT_NAME(name) #name,
	RELAY_STATS(RELAY_STAT_NAME)
#undef RELAY_STAT_NAME
};

static const char *const state_names[RELAY_MSG_STATE_COUNT] = {
	"ready",
	"deferred",
	"active",
	"held",
};

/* ---------------- small helpers ---------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t now_unix_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static uint32_t rnd32(uint64_t *s)
{
	/* xorshift64*: jitter only, not security. */
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

static void set_text(char *dst, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_text(char *dst, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, n, fmt, ap);
	va_end(ap);
}

static void replace_str(const char **slot, const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		return; /* keep the old text rather than none */
	free((void *)*slot);
	*slot = d;
}

/* Strings from the spool go into command lines: refuse line breaks. */
static bool has_crlf(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

const char *relay_stat_name(size_t i)
{
	return i < RELAY_STAT_COUNT ? stat_names[i] : NULL;
}

const char *relay_msg_state_name(unsigned st)
{
	return st < RELAY_MSG_STATE_COUNT ? state_names[st] : "?";
}

void relay_delivery_hist_read(const struct relay *r, struct mx_hist *h)
{
	mx_hist_merge(h, &r->delivery);
}

void relay_stats_read(const struct relay *r, struct relay_stats *out)
{
	const uint64_t *in = (const uint64_t *)&r->st;
	uint64_t *o = (uint64_t *)out;

	for (size_t i = 0; i < RELAY_STAT_COUNT; i++)
		o[i] = __atomic_load_n(&in[i], __ATOMIC_RELAXED);
}

uint64_t relay_nexthop_down_since(const struct relay *r)
{
	return __atomic_load_n(&r->down_since_us, __ATOMIC_RELAXED);
}

uint64_t relay_backoff_ms(const struct relay_conf *c, uint32_t attempt, uint32_t rnd)
{
	uint64_t d = c->retry_min_ms;

	for (uint32_t i = 1; i < attempt && d < c->retry_max_ms; i++)
		d *= 2;
	if (d > c->retry_max_ms)
		d = c->retry_max_ms;
	return d - (d * c->retry_jitter_pct / 100) * rnd / 0x100000000ULL;
}

/* ---------------- configuration ---------------- */

void relay_conf_defaults(struct relay_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->threads = RELAY_DEF_THREADS;
	c->helo_name = "localhost";
	c->connect_timeout_ms = RELAY_DEF_CONNECT_TIMEOUT;
	c->io_timeout_ms = RELAY_DEF_IO_TIMEOUT;
	c->data_timeout_ms = RELAY_DEF_DATA_TIMEOUT;
	c->idle_timeout_ms = RELAY_DEF_IDLE_TIMEOUT;
	c->max_msgs_per_conn = RELAY_DEF_MAX_MSGS_CONN;
	c->retry_min_ms = RELAY_DEF_RETRY_MIN;
	c->retry_max_ms = RELAY_DEF_RETRY_MAX;
	c->retry_jitter_pct = RELAY_DEF_RETRY_JITTER;
	c->hop_retry_ms = RELAY_DEF_HOP_RETRY;
	c->refuse_after_ms = RELAY_DEF_REFUSE_AFTER;
	c->max_backlog_age_ms = RELAY_DEF_MAX_BACKLOG_AGE;
	c->on_permanent_failure = RELAY_PERM_BOUNCE;
	c->max_queue_lifetime_ms = RELAY_DEF_MAX_LIFETIME;
}

static int conf_check(const struct relay_conf *c)
{
	if (c->threads < 1 || c->threads > RELAY_MAX_THREADS) {
		MX_ERR("relay: threads must be 1..%d", RELAY_MAX_THREADS);
		return -EINVAL;
	}
	if (c->nnexthops < 1 || c->nnexthops > RELAY_MAX_NEXTHOPS) {
		MX_ERR("relay: 1..%d next hops needed", RELAY_MAX_NEXTHOPS);
		return -EINVAL;
	}
	if (!c->helo_name || !*c->helo_name || has_crlf(c->helo_name) ||
	    strchr(c->helo_name, ' ')) {
		MX_ERR("relay: bad helo name");
		return -EINVAL;
	}
	for (unsigned i = 0; i <= c->nnexthops; i++) {
		const struct relay_nexthop *h =
			i < c->nnexthops ? &c->nexthop[i] : &c->bounce_nexthop;

		if (i == c->nnexthops && !h->host)
			break; /* no bounce hop */
		if (!h->host || !*h->host || !h->port || h->proto >= RELAY_PROTO_COUNT ||
		    h->tls >= RELAY_TLS_COUNT) {
			MX_ERR("relay: next hop %u: host, port and protocol needed", i);
			return -EINVAL;
		}
		if (h->tls == RELAY_TLS_VERIFY && (!c->ca_file || !*c->ca_file)) {
			MX_ERR("relay: next hop %s:%u: tls = verify needs a CA file", h->host,
			       h->port);
			return -EINVAL;
		}
	}
	if (!c->connect_timeout_ms || !c->io_timeout_ms || !c->data_timeout_ms) {
		MX_ERR("relay: timeouts must be > 0");
		return -EINVAL;
	}
	if (c->on_permanent_failure >= RELAY_PERM_COUNT) {
		MX_ERR("relay: on_permanent_failure must be bounce or hold");
		return -EINVAL;
	}
	if (!c->retry_min_ms || c->retry_min_ms > c->retry_max_ms || c->retry_jitter_pct > 100) {
		MX_ERR("relay: need 0 < retry_min <= retry_max and jitter <= 100%%");
		return -EINVAL;
	}
	return 0;
}

/* ---------------- queue (r->lock held) ---------------- */

static bool heap_less(const struct relay_msg *a, const struct relay_msg *b)
{
	return a->next_try_ns < b->next_try_ns ||
	       (a->next_try_ns == b->next_try_ns && a->seq < b->seq);
}

static void heap_set(struct relay *r, size_t i, struct relay_msg *m)
{
	r->heap[i] = m;
	m->heap_idx = i;
}

static void heap_up(struct relay *r, size_t i)
{
	struct relay_msg *m = r->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!heap_less(m, r->heap[p]))
			break;
		heap_set(r, i, r->heap[p]);
		i = p;
	}
	heap_set(r, i, m);
}

static void heap_down(struct relay *r, size_t i)
{
	struct relay_msg *m = r->heap[i];

	for (;;) {
		size_t l = 2 * i + 1, k;

		if (l >= r->nheap)
			break;
		k = l + 1 < r->nheap && heap_less(r->heap[l + 1], r->heap[l]) ? l + 1 : l;
		if (!heap_less(r->heap[k], m))
			break;
		heap_set(r, i, r->heap[k]);
		i = k;
	}
	heap_set(r, i, m);
}

static int heap_push(struct relay *r, struct relay_msg *m)
{
	if (r->nheap == r->capheap) {
		size_t cap = r->capheap ? r->capheap * 2 : 256;
		struct relay_msg **h = realloc(r->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		r->heap = h;
		r->capheap = cap;
	}
	m->seq = r->seq++;
	r->heap[r->nheap++] = m;
	heap_up(r, r->nheap - 1);
	return 0;
}

static void heap_remove(struct relay *r, struct relay_msg *m)
{
	size_t i = m->heap_idx;

	if (i == NOT_IN_HEAP)
		return;
	m->heap_idx = NOT_IN_HEAP;
	if (--r->nheap == i)
		return;
	heap_set(r, i, r->heap[r->nheap]);
	heap_down(r, i);
	heap_up(r, r->heap[i] == m ? i : r->heap[i]->heap_idx);
}

/*
 * Put @m in the heap for @when. A failed push (no memory for the array)
 * leaves the message QUEUED outside the heap: relay_flush() and relay
 * threads do not see it until relay_release()/restart; logged.
 */
static void queue_at(struct relay *r, struct relay_msg *m, uint64_t when)
{
	char q[SPOOL_QID_STRLEN + 1];

	m->state = MSG_QUEUED;
	m->next_try_ns = when;
	if (heap_push(r, m) < 0)
		MX_ERR("relay: %s: out of memory, not queued until restart",
		       spool_qid_format(&m->qid, q));
	pthread_cond_signal(&r->cv);
}

static void msg_free(struct relay_msg *m)
{
	if (!m)
		return;
	if (m->rcpt) {
		for (uint32_t i = 0; i < m->nrcpt; i++) {
			free((void *)m->rcpt[i].addr);
			free((void *)m->rcpt[i].reply);
		}
	}
	free(m->rcpt);
	free(m->from);
	free(m->tls);
	free(m);
}

static struct relay_msg *msg_new(const struct spool_msginfo *mi)
{
	struct relay_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->rcpt = calloc(mi->nrcpt ? mi->nrcpt : 1, sizeof(*m->rcpt));
	if (!m->rcpt) {
		free(m);
		return NULL;
	}
	m->qid = mi->qid;
	m->body_len = mi->body_len;
	m->nrcpt = mi->nrcpt;
	m->heap_idx = NOT_IN_HEAP;
	return m;
}

static void list_add(struct relay *r, struct relay_msg *m)
{
	m->prev = r->tail;
	m->next = NULL;
	if (r->tail)
		r->tail->next = m;
	else
		r->head = m;
	r->tail = m;
	r->nmsgs++;
}

static void list_del(struct relay *r, struct relay_msg *m)
{
	if (m->prev)
		m->prev->next = m->next;
	else
		r->head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		r->tail = m->prev;
	r->nmsgs--;
}

/* Linear: ctl operations are rare; see relay.h. */
static struct relay_msg *msg_find(struct relay *r, const struct spool_qid *qid)
{
	for (struct relay_msg *m = r->head; m; m = m->next) {
		if (spool_qid_eq(&m->qid, qid))
			return m;
	}
	return NULL;
}

static void count_rcpts(const struct relay_msg *m, uint32_t *pending, uint32_t *held)
{
	*pending = *held = 0;
	for (uint32_t i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].state == SPOOL_RCPT_PENDING)
			(*pending)++;
		else if (m->rcpt[i].state == SPOOL_RCPT_HELD)
			(*held)++;
	}
}

/*
 * Where @m goes after its recipients changed (not ACTIVE): freed when
 * nothing is left, HELD when only held recipients are, else queued at @when.
 */
static void msg_settle(struct relay *r, struct relay_msg *m, uint64_t when)
{
	uint32_t pending, held;

	count_rcpts(m, &pending, &held);
	heap_remove(r, m);
	if (!pending && !held) {
		list_del(r, m);
		msg_free(m);
	} else if (!pending) {
		m->state = MSG_HELD;
	} else if (m->state != MSG_QUEUED || m->heap_idx == NOT_IN_HEAP) {
		queue_at(r, m, when);
	}
}

/* Mark recipient @i of @m in the spool and in memory. r->lock held (ctl). */
static int rcpt_mark_locked(struct relay *r, struct relay_msg *m, uint32_t i,
			    enum spool_rcpt_state st, const char *reply)
{
	char q[SPOOL_QID_STRLEN + 1];
	int rc = spool_rcpt_mark(r->sp, &m->qid, i, st);

	if (rc < 0 && rc != -ENOENT) {
		STAT_ADD(r, done_log_errors, 1);
		MX_ERR("relay: %s rcpt %u: done log: %s", spool_qid_format(&m->qid, q), i,
		       strerror(-rc));
		return rc;
	}
	m->rcpt[i].state = st == SPOOL_RCPT_RELEASED ? SPOOL_RCPT_PENDING : (uint8_t)st;
	if (reply)
		replace_str(&m->rcpt[i].reply, reply);
	return 0;
}

static int hold_pending_locked(struct relay *r, struct relay_msg *m)
{
	int n = 0;

	for (uint32_t i = 0; i < m->nrcpt; i++) {
		int rc;

		if (m->rcpt[i].state != SPOOL_RCPT_PENDING)
			continue;
		if ((rc = rcpt_mark_locked(r, m, i, SPOOL_RCPT_HELD, "held by operator")) < 0)
			return rc;
		STAT_ADD(r, rcpts_held, 1);
		n++;
	}
	return n;
}

static int delete_locked(struct relay *r, struct relay_msg *m)
{
	char q[SPOOL_QID_STRLEN + 1];
	int n = 0;

	for (uint32_t i = 0; i < m->nrcpt; i++) {
		int rc;

		if (m->rcpt[i].state != SPOOL_RCPT_PENDING && m->rcpt[i].state != SPOOL_RCPT_HELD)
			continue;
		if ((rc = rcpt_mark_locked(r, m, i, SPOOL_RCPT_DELETED, "deleted by operator")) < 0)
			return rc;
		STAT_ADD(r, rcpts_deleted, 1);
		n++;
	}
	MX_NOTICE("relay: %s: %d recipient(s) deleted by operator", spool_qid_format(&m->qid, q),
		  n);
	return n;
}

/* Take in one committed (or recovered) message. r->lock held. */
static int take_in(struct relay *r, const struct spool_msginfo *mi, uint64_t now)
{
	struct relay_msg *m;

	if (mi->nrcpt == 0)
		return 0;
	if (!(m = msg_new(mi)))
		return -ENOMEM;
	m->bounce = r->conf.dsn_worker && mi->worker == r->conf.dsn_worker->id;
	if (mi->rcpt_state) {
		for (uint32_t i = 0; i < mi->nrcpt; i++) {
			uint8_t s = mi->rcpt_state[i];

			m->rcpt[i].state = s == SPOOL_RCPT_RELEASED ? SPOOL_RCPT_PENDING : s;
			if (s == SPOOL_RCPT_HELD)
				m->rcpt[i].reply = strdup("held before restart (reply in the log)");
		}
	}
	list_add(r, m);
	STAT_ADD(r, msgs_queued, 1);
	m->state = MSG_ACTIVE; /* not in the heap yet: msg_settle() places it */
	msg_settle(r, m, now);
	return 0;
}

static void recovered_envelope(struct relay *r, struct relay_msg *m);
static void backlog_tick(struct relay *r, uint64_t now, bool force);

void relay_on_commit(void *arg, const struct spool_msginfo *mi)
{
	struct relay *r = arg;
	char q[SPOOL_QID_STRLEN + 1];
	int rc;

	pthread_mutex_lock(&r->lock);
	rc = take_in(r, mi, now_ns());
	/* The estimate follows the inflow too, not only the relay threads
	 * (all of them may be in slow transactions): at most every 100 ms,
	 * and at once when the mail due at the last estimate plus what came
	 * in since is above the bound at the last pace (O(1)): senders let in
	 * again after a refusal come back together, 100 ms of them can be
	 * several times the bound. */
	r->new_since_tick++;
	if (!r->backlog_refusing && r->conf.max_backlog_age_ms &&
	    (r->last_due + r->new_since_tick) * 1000000000000ULL /
			    (r->bl.drain_mrate ? r->bl.drain_mrate : r->bl.prior_mrate) >
		    (uint64_t)r->conf.max_backlog_age_ms * 1000000)
		backlog_tick(r, now_ns(), true);
	else
		backlog_tick(r, now_ns(), false);
	pthread_mutex_unlock(&r->lock);
	if (rc < 0)
		MX_ERR("relay: %s: out of memory, not queued until restart",
		       spool_qid_format(&mi->qid, q));
}

/*
 * The spool's on_recover hook (background recovery, spool.h): one message
 * found at start with recipients left, @mi->rcpt_state valid during the
 * call. Queued like at boot; a message with held recipients has its
 * envelope read so ctl shows their addresses (file I/O under r->lock, only
 * for those). Recovery thread.
 */
static void relay_on_recover(void *arg, const struct spool_msginfo *mi)
{
	struct relay *r = arg;
	char q[SPOOL_QID_STRLEN + 1];
	bool held = false;
	int rc;

	for (uint32_t i = 0; i < mi->nrcpt; i++)
		held |= mi->rcpt_state[i] == SPOOL_RCPT_HELD;
	pthread_mutex_lock(&r->lock);
	rc = take_in(r, mi, now_ns());
	if (rc == 0 && held && r->tail && spool_qid_eq(&r->tail->qid, &mi->qid))
		recovered_envelope(r, r->tail);
	pthread_mutex_unlock(&r->lock);
	if (rc < 0)
		MX_ERR("relay: %s: out of memory, not queued until restart",
		       spool_qid_format(&mi->qid, q));
}

/* ---------------- back-pressure from the queue ---------------- */

/* r->lock held. How long the message that has been due the longest has
 * waited for a relay thread: the heap's top is the earliest next try. A
 * message deferred after a 4xx is not due, so one recipient retried for
 * days never stops the inflow; only a relay that cannot keep up does. */
static uint64_t backlog_wait_ns(struct relay *r, uint64_t now)
{
	if (!r->nheap || r->heap[0]->next_try_ns >= now)
		return 0;
	return now - r->heap[0]->next_try_ns;
}

#define BACKLOG_TICK_NS	  100000000ULL	/* estimate at most every 100 ms */
#define BACKLOG_WINDOW_NS 1000000000ULL /* drain rate measured per second */

void relay_backlog_init(struct relay_backlog *b, unsigned threads, uint64_t now)
{
	memset(b, 0, sizeof(*b));
	b->rate_t0_ns = now;
	b->prior_mrate = (uint64_t)(threads ? threads : 1) * 1000000ULL / RELAY_BACKLOG_PRIOR_MS;
	if (!b->prior_mrate)
		b->prior_mrate = 1;
}

/*
 * The head's wait alone lags: under a burst far above the next hop's pace
 * the queue already holds max_backlog_age times the inflow, not the
 * outflow, when the head has waited that long; and before the first pace
 * is measured (one second) a burst had filled the queue far above the
 * bound (761 recipients pending for a 2 s bound in int-queue-monday).
 * Hence the prior: RELAY_BACKLOG_PRIOR_MS per message per thread.
 */
uint64_t relay_backlog_estimate(struct relay_backlog *b, uint64_t now, uint64_t due,
				uint64_t head_wait_ns, uint64_t attempts_done)
{
	uint64_t est;

	if (now - b->rate_t0_ns >= BACKLOG_WINDOW_NS) {
		uint64_t n = attempts_done - b->rate_n0;
		uint64_t inst = n * 1000ULL * 1000000000ULL / (now - b->rate_t0_ns);

		if (n > 0 || due > 0) /* idle windows say nothing of the pace */
			b->drain_mrate = b->drain_mrate ? (b->drain_mrate + inst) / 2 : inst;
		b->rate_t0_ns = now;
		b->rate_n0 = attempts_done;
	}
	/* Once the pace is known it alone decides: the head's wait lags the
	 * other way too (after a refusal it stays high until the queue is
	 * empty, which would leave the next hop idle). A window with due mail
	 * and no attempt finished measures 0: nothing drains, the estimate is
	 * empty, which would leave the next hop idle). */
	if (b->drain_mrate)
		return due * 1000000000000ULL / b->drain_mrate;
	est = due * 1000000000000ULL / b->prior_mrate;
	return est > head_wait_ns ? est : head_wait_ns;
}

/* r->lock held. relay_backlog_estimate() over the heap, O(queued messages),
 * at most every 100 ms (backlog_tick()). */
static uint64_t backlog_estimate(struct relay *r, uint64_t now)
{
	uint64_t due = 0;

	/* Every next hop down: mail waits for the outage, not for a thread,
	 * and refuse_after_s decides about that (default: never refuse). The
	 * pace of the probes says nothing of the hop's: the rate is measured
	 * afresh once it is back. */
	if (r->down_since_ns) {
		r->bl.rate_t0_ns = now;
		r->bl.rate_n0 = r->attempts_done;
		r->last_due = 0;
		r->new_since_tick = 0;
		return 0;
	}
	for (size_t i = 0; i < r->nheap; i++)
		due += r->heap[i]->next_try_ns <= now;
	r->last_due = due;
	r->new_since_tick = 0;
	return relay_backlog_estimate(&r->bl, now, due, backlog_wait_ns(r, now), r->attempts_done);
}

/* r->lock held. Refuse new mail while the backlog estimate is above
 * max_backlog_age_ms, accept again below three quarters of it (hysteresis:
 * no flapping at each message). */
static void backlog_tick(struct relay *r, uint64_t now, bool force)
{
	uint64_t max = (uint64_t)r->conf.max_backlog_age_ms * 1000000, wait;
	bool on;

	if (!force && now - r->last_tick_ns < BACKLOG_TICK_NS)
		return;
	r->last_tick_ns = now;
	wait = r->backlog_est_ns = backlog_estimate(r, now);
	on = max && (r->backlog_refusing ? wait > max / 4 * 3 : wait > max);
	if (on == r->backlog_refusing)
		return;
	r->backlog_refusing = on;
	spool_refuse_reason(r->sp, SPOOL_REFUSE_BACKLOG, on);
	if (on)
		MX_WARN("relay: mail would wait %llu ms for delivery (max_backlog_age %u ms): "
			"refusing new mail (452 4.3.1)",
			(unsigned long long)(wait / 1000000), r->conf.max_backlog_age_ms);
	else
		MX_NOTICE("relay: backlog wait down to %llu ms: accepting new mail",
			  (unsigned long long)(wait / 1000000));
}

void relay_pressure_tick(struct relay *r)
{
	pthread_mutex_lock(&r->lock);
	backlog_tick(r, now_ns(), false);
	pthread_mutex_unlock(&r->lock);
}

/* ---------------- control API ---------------- */

static unsigned view_state(const struct relay_msg *m, uint64_t now)
{
	if (m->state == MSG_ACTIVE)
		return RELAY_MSG_ACTIVE;
	if (m->state == MSG_HELD)
		return RELAY_MSG_HELD;
	return m->next_try_ns > now ? RELAY_MSG_DEFERRED : RELAY_MSG_READY;
}

size_t relay_queue_list(struct relay *r, int (*fn)(void *arg, const struct relay_msg_view *v),
			void *arg)
{
	uint64_t now = now_ns(), unix_ms = now_unix_us() / 1000;
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (struct relay_msg *m = r->head; m; m = m->next) {
		uint64_t born = spool_qid_ms(&m->qid);
		struct relay_msg_view v = {
			.qid = m->qid,
			.state = (uint8_t)view_state(m, now),
			.age_ms = unix_ms > born ? unix_ms - born : 0,
			.bytes = m->body_len,
			.attempts = m->attempts,
			.mail_from = m->from,
			.tls = m->tls,
			.nrcpt = m->nrcpt,
			.rcpt = m->rcpt,
		};

		if (v.state == RELAY_MSG_DEFERRED)
			v.next_try_in_ms = (m->next_try_ns - now) / 1000000;
		n++;
		if (fn(arg, &v))
			break;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

void relay_queue_summary(struct relay *r, struct relay_queue_summary *out)
{
	uint64_t now = now_ns(), unix_ms = now_unix_us() / 1000;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&r->lock);
	for (struct relay_msg *m = r->head; m; m = m->next) {
		uint64_t born = spool_qid_ms(&m->qid);
		uint32_t pending, held;

		count_rcpts(m, &pending, &held);
		out->msgs[view_state(m, now)]++;
		out->rcpts_pending += pending;
		out->rcpts_held += held;
		out->bytes += m->body_len;
		if (unix_ms > born && unix_ms - born > out->oldest_age_ms)
			out->oldest_age_ms = unix_ms - born;
	}
	if (r->down_since_ns)
		out->nexthop_down_ms = (now - r->down_since_ns) / 1000000;
	out->backlog_wait_ms = r->backlog_est_ns / 1000000;
	out->drain_per_s = r->bl.drain_mrate / 1000;
	out->max_backlog_age_ms = r->conf.max_backlog_age_ms;
	out->backlog_refusing = r->backlog_refusing;
	pthread_mutex_unlock(&r->lock);
}

int relay_hold(struct relay *r, const struct spool_qid *qid)
{
	struct relay_msg *m;
	char q[SPOOL_QID_STRLEN + 1];
	int rc;

	pthread_mutex_lock(&r->lock);
	if (!(m = msg_find(r, qid))) {
		rc = -ENOENT;
	} else if (m->state == MSG_ACTIVE) {
		m->want_hold = true;
		rc = 0;
	} else {
		rc = hold_pending_locked(r, m);
		msg_settle(r, m, m->next_try_ns);
	}
	pthread_mutex_unlock(&r->lock);
	if (rc >= 0)
		MX_NOTICE("relay: %s: hold by operator", spool_qid_format(qid, q));
	return rc;
}

static int release_locked(struct relay *r, struct relay_msg *m, uint64_t now)
{
	int n = 0;

	m->want_hold = false;
	for (uint32_t i = 0; i < m->nrcpt; i++) {
		int rc;

		if (m->rcpt[i].state != SPOOL_RCPT_HELD)
			continue;
		if ((rc = rcpt_mark_locked(r, m, i, SPOOL_RCPT_RELEASED, NULL)) < 0)
			return rc;
		STAT_ADD(r, rcpts_released, 1);
		n++;
	}
	if (n && m->state != MSG_ACTIVE) {
		m->attempts = 0;
		m->state = MSG_HELD; /* force a fresh heap position */
		msg_settle(r, m, now);
	}
	return n;
}

int relay_release(struct relay *r, const struct spool_qid *qid)
{
	struct relay_msg *m, *next;
	char q[SPOOL_QID_STRLEN + 1];
	uint64_t now = now_ns();
	int rc = 0, total = 0;

	pthread_mutex_lock(&r->lock);
	if (qid) {
		if (!(m = msg_find(r, qid)))
			rc = -ENOENT;
		else
			rc = total = release_locked(r, m, now);
	} else {
		for (m = r->head; m && rc >= 0; m = next) {
			next = m->next;
			rc = release_locked(r, m, now);
			if (rc > 0)
				total += rc;
		}
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->lock);
	if (rc < 0)
		return rc;
	MX_NOTICE("relay: %s: %d recipient(s) released by operator",
		  qid ? spool_qid_format(qid, q) : "all", total);
	return total;
}

int relay_flush(struct relay *r)
{
	uint64_t now = now_ns();
	int n = 0;

	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < r->nhops; i++)
		r->hop[i].retry_at_ns = 0;
	for (struct relay_msg *m = r->head; m; m = m->next) {
		if (m->state != MSG_QUEUED || m->heap_idx == NOT_IN_HEAP || m->next_try_ns <= now)
			continue;
		heap_remove(r, m);
		queue_at(r, m, now);
		n++;
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->lock);
	MX_NOTICE("relay: flush: %d message(s) ready", n);
	return n;
}

int relay_delete(struct relay *r, const struct spool_qid *qid)
{
	struct relay_msg *m;
	int rc;

	pthread_mutex_lock(&r->lock);
	if (!(m = msg_find(r, qid))) {
		rc = -ENOENT;
	} else if (m->state == MSG_ACTIVE) {
		m->want_delete = true;
		rc = 1;
	} else {
		rc = delete_locked(r, m);
		if (rc >= 0)
			rc = 0;
		msg_settle(r, m, m->next_try_ns);
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* ---------------- session I/O ---------------- */

/* Wait for @ev on @fd until @deadline. 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short ev, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = ev};
		uint64_t now = now_ns();
		int ms, n;

		if (now >= deadline)
			return -ETIMEDOUT;
		ms = (int)((deadline - now + 999999) / 1000000);
		n = poll(&p, 1, ms);
		if (n > 0)
			return 0; /* errors show up in the following read/write */
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static void conn_close(struct relay_conn *c)
{
	SSL_free(c->ssl); /* no close_notify: the session is given up or QUIT was said */
	c->ssl = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->rpos = c->rlen = c->wlen = 0;
	c->nmsgs = 0;
	c->caps = 0;
}

/*
 * After SSL_read/SSL_write/SSL_connect returned @n <= 0 (with @err the errno
 * right after the call): wait for what TLS needs and return 0 to retry, or
 * -ETIMEDOUT, -ECONNRESET (closed), -ECONNABORTED (TLS error), -errno.
 */
static int tls_wait(struct relay_conn *c, int n, int err, uint64_t deadline)
{
	switch (SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_WANT_READ:
		return wait_fd(c->fd, POLLIN, deadline);
	case SSL_ERROR_WANT_WRITE:
		return wait_fd(c->fd, POLLOUT, deadline);
	case SSL_ERROR_ZERO_RETURN:
		return -ECONNRESET;
	case SSL_ERROR_SYSCALL:
		if (err == EINTR)
			return 0;
		return n < 0 && err ? -err : -ECONNRESET;
	default:
		return -ECONNABORTED;
	}
}

static int conn_flush(struct relay_conn *c, uint64_t deadline)
{
	size_t off = 0;

	while (off < c->wlen) {
		ssize_t n;

		if (c->ssl) {
			int k, rc;

			ERR_clear_error();
			k = SSL_write(c->ssl, c->wbuf + off, (int)(c->wlen - off));
			if (k > 0) {
				off += (size_t)k;
				continue;
			}
			if ((rc = tls_wait(c, k, errno, deadline)) < 0)
				return rc;
			continue;
		}
		n = send(c->fd, c->wbuf + off, c->wlen - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_fd(c->fd, POLLOUT, deadline);

			if (rc < 0)
				return rc;
			continue;
		}
		return n < 0 ? -errno : -EPIPE;
	}
	c->wlen = 0;
	return 0;
}

static int conn_put(struct relay_conn *c, const void *p, size_t n, uint64_t deadline)
{
	const uint8_t *b = p;

	while (n > 0) {
		size_t k = RELAY_WBUF - c->wlen;
		int rc;

		if (k == 0) {
			if ((rc = conn_flush(c, deadline)) < 0)
				return rc;
			continue;
		}
		if (k > n)
			k = n;
		memcpy(c->wbuf + c->wlen, b, k);
		c->wlen += k;
		b += k;
		n -= k;
	}
	return 0;
}

/* Append a command line (CRLF added). Commands are bounded by the callers. */
static int conn_cmd(struct relay_conn *c, uint64_t deadline, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int conn_cmd(struct relay_conn *c, uint64_t deadline, const char *fmt, ...)
{
	char line[RELAY_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return -E2BIG;
	line[n++] = '\r';
	line[n++] = '\n';
	return conn_put(c, line, (size_t)n, deadline);
}

/* One reply line into @line (NUL-terminated, CRLF stripped). */
static int conn_getline(struct relay_conn *c, uint64_t deadline, char *line, size_t cap)
{
	for (;;) {
		char *nl = c->rlen > c->rpos ? memchr(c->rbuf + c->rpos, '\n', c->rlen - c->rpos)
					     : NULL;
		ssize_t n;

		if (nl) {
			size_t len = (size_t)(nl - (c->rbuf + c->rpos));

			if (len > 0 && c->rbuf[c->rpos + len - 1] == '\r')
				len--;
			if (len >= cap)
				return -EPROTO;
			memcpy(line, c->rbuf + c->rpos, len);
			line[len] = 0;
			c->rpos = (size_t)(nl - c->rbuf) + 1;
			return 0;
		}
		if (c->rpos > 0) {
			memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
			c->rlen -= c->rpos;
			c->rpos = 0;
		}
		if (c->rlen == sizeof(c->rbuf))
			return -EPROTO; /* line longer than the buffer */
		if (c->ssl) {
			int k, rc;

			ERR_clear_error();
			k = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(sizeof(c->rbuf) - c->rlen));
			if (k > 0) {
				c->rlen += (size_t)k;
				continue;
			}
			if ((rc = tls_wait(c, k, errno, deadline)) < 0)
				return rc;
			continue;
		}
		n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
		if (n > 0) {
			c->rlen += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int rc = wait_fd(c->fd, POLLIN, deadline);

			if (rc < 0)
				return rc;
			continue;
		}
		return -errno;
	}
}

static void parse_cap(const char *kw, unsigned *caps)
{
	static const struct {
		const char *name;
		unsigned cap;
	} tab[] = {
		{"PIPELINING", CAP_PIPELINING}, {"DSN", CAP_DSN},   {"SMTPUTF8", CAP_SMTPUTF8},
		{"8BITMIME", CAP_8BITMIME},	{"SIZE", CAP_SIZE}, {"STARTTLS", CAP_STARTTLS},
	};
	size_t n = strcspn(kw, " ");

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (strlen(tab[i].name) == n && !strncasecmp(kw, tab[i].name, n))
			*caps |= tab[i].cap;
	}
}

/*
 * Read one (possibly multi-line) reply: code in *@code, text ("550 5.1.1
 * ..." with continuation lines joined by a space) in @text. With @caps,
 * EHLO keywords are collected. 0, or -ETIMEDOUT/-ECONNRESET/-EPROTO/-errno.
 */
static int read_reply(struct relay_conn *c, uint64_t deadline, int *code, char *text, size_t cap,
		      unsigned *caps)
{
	char line[RELAY_LINE_MAX];
	size_t tl = 0;
	int first = -1;

	text[0] = 0;
	for (;;) {
		int rc = conn_getline(c, deadline, line, sizeof(line));
		int k;

		if (rc < 0)
			return rc;
		if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
		    line[1] > '9' || line[2] < '0' || line[2] > '9' ||
		    (line[3] != 0 && line[3] != ' ' && line[3] != '-'))
			return -EPROTO;
		k = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (first < 0)
			first = k;
		else if (k != first)
			return -EPROTO;
		if (caps && line[3])
			parse_cap(line + 4, caps);
		if (tl + 2 < cap) {
			int w = snprintf(text + tl, cap - tl, "%s%s", tl ? " " : "",
					 tl ? (line[3] ? line + 4 : "") : line);

			if (w > 0)
				tl = tl + (size_t)w < cap ? tl + (size_t)w : cap - 1;
		}
		if (line[3] != '-')
			break;
	}
	*code = first;
	return 0;
}

static const char *io_err(int rc)
{
	return rc == -ETIMEDOUT	     ? "timeout"
	       : rc == -EPROTO	     ? "protocol error in reply"
	       : rc == -ECONNRESET   ? "connection closed by next hop"
	       : rc == -ECONNABORTED ? "TLS error"
				     : strerror(-rc);
}

/* Connect to one address with the connect timeout. fd or -errno. */
static int tcp_connect(const struct addrinfo *ai, uint64_t deadline)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	int one = 1, err = 0, rc;
	socklen_t el = sizeof(err);

	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
			close(fd);
			return rc;
		}
		if ((rc = wait_fd(fd, POLLOUT, deadline)) < 0) {
			close(fd);
			return rc;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
			close(fd);
			return err ? -err : -EIO;
		}
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/*
 * EHLO/LHLO (SMTP falls back to HELO on a 5xx to EHLO) with a fresh I/O
 * deadline; capabilities into c->caps. 0, or -1 with the reason in @why.
 */
static int say_hello(struct relay *r, struct relay_conn *c, bool lmtp, char *why, size_t whylen)
{
	uint64_t deadline = now_ns() + (uint64_t)r->conf.io_timeout_ms * 1000000;
	char text[RELAY_REPLY_MAX];
	int rc, code;

	c->caps = 0;
	if ((rc = conn_cmd(c, deadline, "%s %s", lmtp ? "LHLO" : "EHLO", r->conf.helo_name)) < 0 ||
	    (rc = conn_flush(c, deadline)) < 0 ||
	    (rc = read_reply(c, deadline, &code, text, sizeof(text), &c->caps)) < 0) {
		set_text(why, whylen, "%s: %s: %s", c->peer, lmtp ? "LHLO" : "EHLO", io_err(rc));
		return -1;
	}
	if (code / 100 == 5 && !lmtp) {
		c->caps = 0;
		if ((rc = conn_cmd(c, deadline, "HELO %s", r->conf.helo_name)) < 0 ||
		    (rc = conn_flush(c, deadline)) < 0 ||
		    (rc = read_reply(c, deadline, &code, text, sizeof(text), NULL)) < 0) {
			set_text(why, whylen, "%s: HELO: %s", c->peer, io_err(rc));
			return -1;
		}
	}
	if (code / 100 != 2) {
		c->caps = 0;
		set_text(why, whylen, "%s: %s: %s", c->peer, lmtp ? "LHLO" : "EHLO/HELO", text);
		return -1;
	}
	return 0;
}

static const char *tls_level_name(unsigned tls)
{
	return tls == RELAY_TLS_MAY	  ? "may"
	       : tls == RELAY_TLS_ENCRYPT ? "encrypt"
	       : tls == RELAY_TLS_VERIFY  ? "verify"
					  : "none";
}

/*
 * STARTTLS, 220, then the TLS handshake on the session's socket (non-blocking,
 * with the I/O timeout), SNI and, for tls = verify, the chain and the host
 * name (or address literal) checked. 0, or -1 with the reason in @why.
 */
static int hop_starttls(struct relay *r, struct relay_conn *c, const struct relay_nexthop *h,
			char *why, size_t whylen)
{
	uint64_t deadline = now_ns() + (uint64_t)r->conf.io_timeout_ms * 1000000;
	unsigned char addr[sizeof(struct in6_addr)];
	bool literal =
		inet_pton(AF_INET, h->host, addr) == 1 || inet_pton(AF_INET6, h->host, addr) == 1;
	char text[RELAY_REPLY_MAX];
	int rc, code;

	if ((rc = conn_cmd(c, deadline, "STARTTLS")) < 0 || (rc = conn_flush(c, deadline)) < 0 ||
	    (rc = read_reply(c, deadline, &code, text, sizeof(text), NULL)) < 0) {
		set_text(why, whylen, "%s: STARTTLS: %s", c->peer, io_err(rc));
		return -1;
	}
	if (code != 220) {
		set_text(why, whylen, "%s: STARTTLS: %s", c->peer, text);
		return -1;
	}
	if (c->rlen > c->rpos) {
		/* Plain text after the 220 would be taken as TLS-protected. */
		set_text(why, whylen, "%s: STARTTLS: data after the 220 reply", c->peer);
		return -1;
	}
	c->rpos = c->rlen = 0;
	if (!(c->ssl = SSL_new(r->tls_ctx)) || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    (!literal && SSL_set_tlsext_host_name(c->ssl, h->host) != 1)) {
		set_text(why, whylen, "%s: STARTTLS: cannot set up TLS (out of memory?)", c->peer);
		return -1;
	}
	SSL_set_connect_state(c->ssl);
	if (h->tls == RELAY_TLS_VERIFY) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);

		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if ((literal ? X509_VERIFY_PARAM_set1_ip_asc(vp, h->host)
			     : X509_VERIFY_PARAM_set1_host(vp, h->host, 0)) != 1) {
			set_text(why, whylen, "%s: STARTTLS: cannot set the name to verify",
				 c->peer);
			return -1;
		}
		SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	}
	for (;;) {
		int n, err;

		ERR_clear_error();
		n = SSL_connect(c->ssl);
		err = errno;
		if (n == 1)
			break;
		rc = tls_wait(c, n, err, deadline);
		if (rc == 0 && (SSL_get_error(c->ssl, n) == SSL_ERROR_WANT_READ ||
				SSL_get_error(c->ssl, n) == SSL_ERROR_WANT_WRITE || err == EINTR))
			continue;
		if (h->tls == RELAY_TLS_VERIFY && SSL_get_verify_result(c->ssl) != X509_V_OK) {
			set_text(why, whylen,
				 "%s: TLS handshake: certificate verification failed: %s", c->peer,
				 X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
		} else if (ERR_peek_last_error()) {
			char eb[256];

			ERR_error_string_n(ERR_peek_last_error(), eb, sizeof(eb));
			set_text(why, whylen, "%s: TLS handshake failed: %s", c->peer, eb);
		} else {
			set_text(why, whylen, "%s: TLS handshake: %s", c->peer,
				 io_err(rc < 0 ? rc : -ECONNRESET));
		}
		ERR_clear_error();
		return -1;
	}
	MX_DEBUG("relay: %s: %s, %s (tls = %s)", c->peer, SSL_get_version(c->ssl),
		 SSL_get_cipher_name(c->ssl), tls_level_name(h->tls));
	return 0;
}

/*
 * Open a session with hop @i: TCP, greeting, EHLO/LHLO, and STARTTLS then
 * EHLO/LHLO again as the hop's tls level asks (RFC 3207: what the server
 * said before TLS is forgotten), unless @plain. 0; 1 if tls = may and TLS
 * failed after STARTTLS was offered (the caller retries in clear text); -1;
 * the reason in @why when not 0.
 */
static int hop_connect(struct relay_thread *t, unsigned i, bool plain, char *why, size_t whylen)
{
	struct relay *r = t->r;
	const struct relay_nexthop *h = &r->hop[i].h;
	struct relay_conn *c = &t->c;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res, *ai;
	char port[8], text[RELAY_REPLY_MAX];
	uint64_t deadline;
	int rc, code, fd = -ECONNREFUSED;
	bool lmtp = h->proto == RELAY_PROTO_LMTP;

	snprintf(port, sizeof(port), "%u", h->port);
	snprintf(c->peer, sizeof(c->peer), "%s:%u", h->host, h->port);
	if ((rc = getaddrinfo(h->host, port, &hints, &res)) != 0) {
		set_text(why, whylen, "%s: %s", c->peer, gai_strerror(rc));
		return -1;
	}
	deadline = now_ns() + (uint64_t)r->conf.connect_timeout_ms * 1000000;
	for (ai = res; ai; ai = ai->ai_next) {
		if ((fd = tcp_connect(ai, deadline)) >= 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		set_text(why, whylen, "connect to %s: %s", c->peer,
			 fd == -ETIMEDOUT ? "timeout" : strerror(-fd));
		return -1;
	}
	conn_close(c);
	c->fd = fd;
	c->hop = i;
	deadline = now_ns() + (uint64_t)r->conf.io_timeout_ms * 1000000;
	if ((rc = read_reply(c, deadline, &code, text, sizeof(text), NULL)) < 0) {
		set_text(why, whylen, "%s: greeting: %s", c->peer, io_err(rc));
		goto fail;
	}
	if (code / 100 != 2) {
		set_text(why, whylen, "%s: greeting: %s", c->peer, text);
		goto fail;
	}
	if (say_hello(r, c, lmtp, why, whylen) < 0)
		goto fail;
	if (plain) {
		/* tls = may after a failed TLS attempt on this hop */
	} else if (h->tls != RELAY_TLS_NONE && (c->caps & CAP_STARTTLS)) {
		if (hop_starttls(r, c, h, why, whylen) < 0 ||
		    say_hello(r, c, lmtp, why, whylen) < 0)
			goto fail_tls;
	} else if (h->tls == RELAY_TLS_ENCRYPT || h->tls == RELAY_TLS_VERIFY) {
		set_text(why, whylen, "%s: STARTTLS not offered (tls = %s requires it)", c->peer,
			 tls_level_name(h->tls));
		goto fail;
	}
	c->caps &= ~CAP_STARTTLS;
	c->nmsgs = 0;
	c->idle_since_ns = now_ns();
	return 0;
fail_tls:
	if (strlen(why) + 16 < whylen) {
		size_t l = strlen(why);

		snprintf(why + l, whylen - l, " (tls = %s)", tls_level_name(h->tls));
	}
	conn_close(c);
	return h->tls == RELAY_TLS_MAY ? 1 : -1;
fail:
	conn_close(c);
	return -1;
}

/* hop_connect(), and with tls = may once more in clear text if TLS failed
 * (like Postfix's opportunistic TLS). 0, or -1 with the reason in @why. */
static int hop_open(struct relay_thread *t, unsigned i, char *why, size_t whylen)
{
	int rc = hop_connect(t, i, false, why, whylen);

	if (rc <= 0)
		return rc;
	MX_WARN("relay: %s; tls = may: trying again without TLS", why);
	return hop_connect(t, i, true, why, whylen);
}

static void conn_quit(struct relay_thread *t)
{
	struct relay_conn *c = &t->c;
	uint64_t deadline = now_ns() + 1000000000ULL;
	char text[64];
	int code;

	if (c->fd < 0)
		return;
	if (conn_cmd(c, deadline, "QUIT") == 0 && conn_flush(c, deadline) == 0)
		read_reply(c, deadline, &code, text, sizeof(text), NULL);
	conn_close(c);
}

/* An idle session is usable if the next hop has said nothing meanwhile
 * (a 421 on idle timeout, or a close). */
static bool conn_alive(struct relay_conn *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	if (c->fd < 0)
		return false;
	if (c->rlen > c->rpos || (c->ssl && SSL_pending(c->ssl) > 0)) {
		conn_close(c);
		return false;
	}
	if (poll(&p, 1, 0) != 0) {
		char b;
		int n;

		/* With TLS, readable may be a record with no data in it (a
		 * TLS 1.3 session ticket): alive if SSL_peek has nothing. */
		if (c->ssl && (p.revents & ~POLLIN) == 0) {
			ERR_clear_error();
			n = SSL_peek(c->ssl, &b, 1);
			if (n <= 0 && SSL_get_error(c->ssl, n) == SSL_ERROR_WANT_READ)
				return true;
		}
		conn_close(c);
		return false;
	}
	return true;
}

/*
 * Get a session for a message (@bounce: a notification): the thread's open
 * one if it is alive, not used up and with a hop for it, else the first
 * next hop, by priority, that is not in its failure pause and takes a
 * session - for a notification with bounce_nexthop set, that hop only. 0;
 * -EAGAIN if every hop is paused (nothing tried); -1 with @why if every hop
 * tried failed. The bounce hop's failures never make the relay "down".
 */
static int conn_get(struct relay_thread *t, bool bounce, char *why, size_t whylen)
{
	struct relay *r = t->r;
	struct relay_conn *c = &t->c;
	bool tried = false, bhop = bounce && r->nhops > r->conf.nnexthops;
	unsigned lo = bhop ? r->conf.nnexthops : 0, hi = bhop ? r->nhops : r->conf.nnexthops;

	if (conn_alive(c)) {
		if ((!r->conf.max_msgs_per_conn || c->nmsgs < r->conf.max_msgs_per_conn) &&
		    c->hop >= lo && c->hop < hi) {
			STAT_ADD(r, conns_reused, 1);
			return 0;
		}
		conn_quit(t);
	}
	for (unsigned i = lo; i < hi; i++) {
		uint64_t now = now_ns();
		bool paused;

		pthread_mutex_lock(&r->lock);
		paused = r->hop[i].retry_at_ns > now;
		pthread_mutex_unlock(&r->lock);
		if (paused)
			continue;
		tried = true;
		if (hop_open(t, i, why, whylen) == 0) {
			pthread_mutex_lock(&r->lock);
			r->hop[i].retry_at_ns = 0;
			if (!bhop) {
				r->down_since_ns = 0;
				__atomic_store_n(&r->down_since_us, 0, __ATOMIC_RELAXED);
			}
			pthread_mutex_unlock(&r->lock);
			STAT_ADD(r, conns_opened, 1);
			MX_DEBUG("relay: session with %s", c->peer);
			return 0;
		}
		STAT_ADD(r, nexthop_failures, 1);
		MX_WARN("relay: next hop failed: %s", why);
		pthread_mutex_lock(&r->lock);
		r->hop[i].retry_at_ns = now_ns() + (uint64_t)r->conf.hop_retry_ms * 1000000;
		pthread_mutex_unlock(&r->lock);
	}
	if (!tried)
		return -EAGAIN;
	if (bhop)
		return -1;
	pthread_mutex_lock(&r->lock);
	if (!r->down_since_ns) {
		r->down_since_ns = now_ns();
		__atomic_store_n(&r->down_since_us, now_unix_us(), __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&r->lock);
	return -1;
}

/* ---------------- one transaction ---------------- */

struct relay_txn {
	struct relay_thread *t;
	struct relay_msg *m;
	struct spool_reader *rd;
	struct spool_envelope env;
	struct spool_rcpt *ercpt;
	uint32_t *idx; /* recipients tried, by index */
	uint32_t n;
	struct relay_res *res; /* m->nrcpt entries */
	bool lmtp;
};

/* Give every tried recipient without a final reply @code and @text. */
static void res_rest(struct relay_txn *x, int code, const char *text, bool only_accepted)
{
	for (uint32_t k = 0; k < x->n; k++) {
		struct relay_res *s = &x->res[x->idx[k]];

		if (s->code / 100 == 2 && !s->accepted)
			continue; /* final: delivered */
		if (s->code / 100 == 4 || s->code / 100 == 5)
			continue; /* final for this attempt */
		if (only_accepted && !s->accepted)
			continue;
		s->code = code;
		s->accepted = false;
		snprintf(s->text, sizeof(s->text), "%s", text);
	}
}

static void res_lost(struct relay_txn *x, const char *stage, int rc)
{
	char text[RELAY_REPLY_MAX];

	set_text(text, sizeof(text), "lost session with %s during %s: %s", x->t->c.peer, stage,
		 io_err(rc));
	res_rest(x, 0, text, false);
	STAT_ADD(x->t->r, nexthop_failures, 1);
}

/* MAIL FROM with the parameters the next hop can take. -E2BIG, 0, or 1
 * when the message needs SMTPUTF8 and the hop lacks it. */
static int mail_cmd(struct relay_txn *x, uint64_t deadline)
{
	struct relay_conn *c = &x->t->c;
	char params[RELAY_LINE_MAX], tok[RELAY_LINE_MAX];
	const char *p = x->env.mail_params ? x->env.mail_params : "";
	size_t pl = 0;

	params[0] = 0;
	while (*p) {
		size_t n = strcspn(p, " ");
		bool keep = false;

		if (n && n < sizeof(tok)) {
			memcpy(tok, p, n);
			tok[n] = 0;
			if (!strcasecmp(tok, "SMTPUTF8")) {
				if (!(c->caps & CAP_SMTPUTF8))
					return 1;
				keep = true;
			} else if (!strncasecmp(tok, "BODY=", 5)) {
				/* RFC 6152: without 8BITMIME the hop gets the
				 * bytes as they are, like Postfix does. */
				keep = c->caps & CAP_8BITMIME;
			} else if (!strncasecmp(tok, "RET=", 4) || !strncasecmp(tok, "ENVID=", 6)) {
				keep = c->caps & CAP_DSN;
			}
			/* SIZE= is recomputed below; other extensions are
			 * ours to end (AUTH=, ...). */
			if (keep && pl + n + 2 < sizeof(params)) {
				params[pl++] = ' ';
				memcpy(params + pl, tok, n + 1);
				pl += n;
			}
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	if (c->caps & CAP_SIZE) {
		int w = snprintf(params + pl, sizeof(params) - pl, " SIZE=%llu",
				 (unsigned long long)x->m->body_len);

		if (w < 0 || (size_t)w >= sizeof(params) - pl)
			return -E2BIG;
	}
	return conn_cmd(c, deadline, "MAIL FROM:<%s>%s", x->env.mail_from, params);
}

static int rcpt_cmd(struct relay_txn *x, uint32_t i, uint64_t deadline)
{
	struct relay_conn *c = &x->t->c;
	const struct spool_rcpt *rc = &x->ercpt[i];
	char notify[40] = "", orcpt[RELAY_LINE_MAX / 2] = "";

	if (c->caps & CAP_DSN) {
		uint8_t nb = rc->notify;

		if (nb & SPOOL_NOTIFY_NEVER)
			snprintf(notify, sizeof(notify), " NOTIFY=NEVER");
		else if (nb)
			snprintf(notify, sizeof(notify), " NOTIFY=%s%s%s%s%s",
				 nb & SPOOL_NOTIFY_SUCCESS ? "SUCCESS" : "",
				 (nb & SPOOL_NOTIFY_SUCCESS) && (nb & 0xc) ? "," : "",
				 nb & SPOOL_NOTIFY_FAILURE ? "FAILURE" : "",
				 (nb & SPOOL_NOTIFY_FAILURE) && (nb & SPOOL_NOTIFY_DELAY) ? ","
											  : "",
				 nb & SPOOL_NOTIFY_DELAY ? "DELAY" : "");
		if (rc->orcpt && strlen(rc->orcpt) + 8 < sizeof(orcpt))
			snprintf(orcpt, sizeof(orcpt), " ORCPT=%s", rc->orcpt);
	}
	return conn_cmd(c, deadline, "RCPT TO:<%s>%s%s", rc->addr, notify, orcpt);
}

/* Body, dot-stuffed (RFC 5321 4.5.2), then the end marker. 0, or -errno
 * from the socket, or SPOOL_READ_ERR + -errno from the spool. */
#define SPOOL_READ_ERR (-100000)
static int send_body(struct relay_txn *x, uint64_t deadline)
{
	struct relay_conn *c = &x->t->c;
	const uint8_t *p;
	uint32_t len;
	bool bol = true;
	uint8_t last[2] = {0, 0};
	uint64_t sent = 0;
	int rc;

	while ((rc = spool_reader_body(x->rd, &p, &len)) == 1) {
		const uint8_t *end = p + len;

		while (p < end) {
			const uint8_t *nl;
			size_t n;

			if (bol && *p == '.') {
				if ((rc = conn_put(c, ".", 1, deadline)) < 0)
					return rc;
				sent++;
			}
			nl = memchr(p, '\n', (size_t)(end - p));
			n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
			if ((rc = conn_put(c, p, n, deadline)) < 0)
				return rc;
			sent += n;
			bol = nl != NULL;
			p += n;
		}
		if (len >= 2) {
			last[0] = p[-2];
			last[1] = p[-1];
		} else if (len == 1) {
			last[0] = last[1];
			last[1] = p[-1];
		}
	}
	if (rc < 0)
		return SPOOL_READ_ERR + rc;
	if (!(last[0] == '\r' && last[1] == '\n')) {
		/* Only a message without a final CRLF (e.g. BDAT) gets here;
		 * the CRLF is part of the end marker then. */
		if ((rc = conn_put(c, "\r\n", 2, deadline)) < 0)
			return rc;
		sent += 2;
	}
	if ((rc = conn_put(c, ".\r\n", 3, deadline)) < 0 || (rc = conn_flush(c, deadline)) < 0)
		return rc;
	STAT_ADD(x->t->r, bytes_sent, sent + 3);
	return 0;
}

static void res_set(struct relay_res *s, int code, const char *text)
{
	s->code = code;
	snprintf(s->text, sizeof(s->text), "%s", text);
}

/*
 * One transaction on the thread's session. Fills x->res for every tried
 * recipient. Returns 0 if the session can carry the next message, -1 if it
 * must be closed.
 */
static int txn_run(struct relay_txn *x)
{
	struct relay *r = x->t->r;
	struct relay_conn *c = &x->t->c;
	const bool pipe = c->caps & CAP_PIPELINING;
	uint64_t io_ns = (uint64_t)r->conf.io_timeout_ms * 1000000;
	uint64_t deadline = now_ns() + io_ns;
	char text[RELAY_REPLY_MAX];
	int rc, code, mail_code = 0, data_code = 0;
	uint32_t nacc = 0;
	bool closing = false;

	c->nmsgs++;
	if ((rc = mail_cmd(x, deadline)) == 1) {
		set_text(text, sizeof(text),
			 "550 5.6.7 next hop %s does not offer SMTPUTF8 (RFC 6531 3.4)", c->peer);
		res_rest(x, 550, text, false);
		return 0;
	}
	if (rc < 0)
		goto lost_mail;
	if (!pipe) {
		if ((rc = conn_flush(c, deadline)) < 0 ||
		    (rc = read_reply(c, deadline, &mail_code, text, sizeof(text), NULL)) < 0)
			goto lost_mail;
		if (mail_code / 100 != 2) {
			res_rest(x, mail_code, text, false);
			closing = mail_code == 421;
			goto rset;
		}
	}
	for (uint32_t k = 0; k < x->n; k++) {
		struct relay_res *s = &x->res[x->idx[k]];

		deadline = now_ns() + io_ns;
		if ((rc = rcpt_cmd(x, x->idx[k], deadline)) < 0)
			goto lost_rcpt;
		if (pipe)
			continue;
		if ((rc = conn_flush(c, deadline)) < 0 ||
		    (rc = read_reply(c, deadline, &code, text, sizeof(text), NULL)) < 0)
			goto lost_rcpt;
		res_set(s, code, text);
		s->accepted = code / 100 == 2;
		nacc += s->accepted;
		closing |= code == 421;
		if (closing)
			break;
	}
	if (pipe) {
		/* RFC 2920: MAIL, RCPTs and DATA in one write, then the replies
		 * in order. */
		if ((rc = conn_cmd(c, deadline, "DATA")) < 0 ||
		    (rc = conn_flush(c, deadline)) < 0 ||
		    (rc = read_reply(c, deadline, &mail_code, text, sizeof(text), NULL)) < 0)
			goto lost_mail;
		if (mail_code / 100 != 2)
			res_rest(x, mail_code, text, false);
		for (uint32_t k = 0; k < x->n; k++) {
			struct relay_res *s = &x->res[x->idx[k]];

			if ((rc = read_reply(c, deadline, &code, text, sizeof(text), NULL)) < 0)
				goto lost_rcpt;
			closing |= code == 421;
			if (mail_code / 100 != 2)
				continue;
			res_set(s, code, text);
			s->accepted = code / 100 == 2;
			nacc += s->accepted;
		}
		if ((rc = read_reply(c, deadline, &data_code, text, sizeof(text), NULL)) < 0)
			goto lost_data;
	} else if (nacc > 0 && !closing) {
		if ((rc = conn_cmd(c, deadline, "DATA")) < 0 ||
		    (rc = conn_flush(c, deadline)) < 0 ||
		    (rc = read_reply(c, deadline, &data_code, text, sizeof(text), NULL)) < 0)
			goto lost_data;
	}
	if (nacc == 0) {
		if (data_code == 354) {
			/* A hop that takes DATA without recipients: end it empty. */
			if (conn_put(c, ".\r\n", 3, deadline) < 0 || conn_flush(c, deadline) < 0 ||
			    read_reply(c, deadline, &code, text, sizeof(text), NULL) < 0)
				return -1;
		}
		goto rset;
	}
	if (data_code != 354) {
		res_rest(x, data_code ? data_code : 451, text, true);
		closing |= data_code == 421;
		goto rset;
	}
	deadline = now_ns() + (uint64_t)r->conf.data_timeout_ms * 1000000;
	if ((rc = send_body(x, deadline)) < 0) {
		if (rc <= SPOOL_READ_ERR) {
			/* The end marker was not sent: the hop discards it. */
			rc -= SPOOL_READ_ERR;
			set_text(text, sizeof(text), "%s: spool: cannot read the message: %s",
				 rc == -EBADMSG ? "554 5.3.0" : "451 4.3.0", strerror(-rc));
			res_rest(x, rc == -EBADMSG ? 554 : 451, text, true);
			STAT_ADD(r, spool_errors, 1);
			return -1;
		}
		goto lost_data;
	}
	if (x->lmtp) {
		/* RFC 2033 4.2: one reply per accepted RCPT, in order. */
		for (uint32_t k = 0; k < x->n; k++) {
			struct relay_res *s = &x->res[x->idx[k]];

			if (!s->accepted)
				continue;
			if ((rc = read_reply(c, deadline, &code, text, sizeof(text), NULL)) < 0)
				goto lost_data;
			res_set(s, code, text);
			s->accepted = false;
			closing |= code == 421;
		}
	} else {
		if ((rc = read_reply(c, deadline, &code, text, sizeof(text), NULL)) < 0)
			goto lost_data;
		for (uint32_t k = 0; k < x->n; k++) {
			struct relay_res *s = &x->res[x->idx[k]];

			if (s->accepted) {
				res_set(s, code, text);
				s->accepted = false;
			}
		}
		closing |= code == 421;
	}
	return closing ? -1 : 0;
rset:
	if (closing)
		return -1;
	deadline = now_ns() + io_ns;
	if (conn_cmd(c, deadline, "RSET") < 0 || conn_flush(c, deadline) < 0 ||
	    read_reply(c, deadline, &code, text, sizeof(text), NULL) < 0 || code / 100 != 2)
		return -1;
	return 0;
lost_mail:
	res_lost(x, "MAIL", rc);
	return -1;
lost_rcpt:
	res_lost(x, "RCPT", rc);
	return -1;
lost_data:
	res_lost(x, "DATA", rc);
	return -1;
}

/* ---------------- relay threads ---------------- */

enum {
	OUT_DONE = 0, /* x.res holds the outcome */
	OUT_REQUEUE,  /* nothing tried: every next hop paused */
	OUT_GONE,     /* the spool no longer has the message */
};

/* "proto/cipher" of the envelope (malloc'd), NULL if it came in plaintext
 * (or from a spool written before the TLS fields were filled). */
static char *tls_text(const struct spool_envelope *e)
{
	char b[256];

	if (!e->tls_proto || !e->tls_proto[0])
		return NULL;
	snprintf(b, sizeof(b), "%s/%s", e->tls_proto, e->tls_cipher ? e->tls_cipher : "?");
	return strdup(b);
}

/* Copy envelope strings for ctl views (first read only). */
static void remember_envelope(struct relay *r, struct relay_msg *m, struct relay_txn *x)
{
	if (m->from)
		return;
	pthread_mutex_lock(&r->lock);
	m->from = strdup(x->env.mail_from);
	m->tls = tls_text(&x->env);
	for (uint32_t i = 0; i < m->nrcpt && i < x->env.nrcpt; i++) {
		if (!m->rcpt[i].addr)
			m->rcpt[i].addr = strdup(x->ercpt[i].addr);
	}
	pthread_mutex_unlock(&r->lock);
}

/* Local outcome for every pending recipient (no session involved). */
static void res_local(struct relay_txn *x, int code, const char *text)
{
	for (uint32_t k = 0; k < x->n; k++) {
		x->res[x->idx[k]].tried = true;
		res_set(&x->res[x->idx[k]], code, text);
	}
}

static bool env_bad(const struct spool_envelope *e, const struct spool_rcpt *rc)
{
	if (has_crlf(e->mail_from) || has_crlf(e->mail_params))
		return true;
	for (uint32_t i = 0; i < e->nrcpt; i++) {
		if (has_crlf(rc[i].addr) || has_crlf(rc[i].orcpt))
			return true;
	}
	return false;
}

/* ---------------- holds per recipient domain ---------------- */

#define HOLDS_FILE     "holds"
#define HOLDS_FILE_TMP "holds.tmp"

/* r->lock held. Is the domain of address @addr held? */
static bool domain_held(const struct relay *r, const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;

	if (!at)
		return false;
	for (size_t i = 0; i < r->nhold_dom; i++) {
		if (strcasecmp(at + 1, r->hold_dom[i]) == 0)
			return true;
	}
	return false;
}

/* Hold the recipients of @x whose domain is held (done log: HELD, so a
 * restart keeps them) and take them out of the attempt. Returns how many. */
static int hold_domains_apply(struct relay *r, struct relay_txn *x)
{
	struct relay_msg *m = x->m;
	uint32_t k = 0, n = 0;

	pthread_mutex_lock(&r->lock);
	for (uint32_t j = 0; j < x->n; j++) {
		uint32_t i = x->idx[j];

		if (r->nhold_dom && domain_held(r, m->rcpt[i].addr) &&
		    rcpt_mark_locked(r, m, i, SPOOL_RCPT_HELD, "held by operator (domain)") == 0) {
			STAT_ADD(r, rcpts_held, 1);
			n++;
			continue;
		}
		x->idx[k++] = i;
	}
	x->n = k;
	pthread_mutex_unlock(&r->lock);
	return (int)n;
}

/* r->lock held. Write the held domains to <spool>/holds (write, fdatasync,
 * rename, fsync): the rules survive a restart. 0 or -errno. */
static int holds_save(struct relay *r)
{
	int dfd = r->sp->rootfd, fd, rc = 0;
	FILE *f;

	fd = openat(dfd, HOLDS_FILE_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	fprintf(f, "# recipient domains held by mxgatectl queue hold; one per line\n");
	for (size_t i = 0; i < r->nhold_dom; i++)
		fprintf(f, "%s\n", r->hold_dom[i]);
	if (fflush(f) != 0 || fdatasync(fileno(f)) != 0)
		rc = -errno;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(dfd, HOLDS_FILE_TMP, dfd, HOLDS_FILE) != 0)
		rc = -errno;
	if (rc == 0)
		rc = spool_fsync_fd(dfd);
	return rc;
}

/* A domain as given by the operator: "example.org" or "@example.org",
 * letters, digits, '-', '.', '_' only; lower-cased copy into @out. */
static int domain_norm(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	if (*in == '@')
		in++;
	if (!*in || strlen(in) >= cap)
		return -EINVAL;
	for (; *in; in++) {
		char c = *in;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return -EINVAL;
		out[n++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	out[n] = '\0';
	return 0;
}

/* Read <spool>/holds at start (missing: none). Boot thread. */
static int holds_load(struct relay *r)
{
	int fd = openat(r->sp->rootfd, HOLDS_FILE, O_RDONLY | O_CLOEXEC);
	char line[300], d[256];
	FILE *f;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!(f = fdopen(fd, "r"))) {
		close(fd);
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		char **v;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (domain_norm(line, d, sizeof(d)) < 0) {
			MX_WARN("relay: %s/" HOLDS_FILE ": '%s' is not a domain: ignored",
				r->sp->dir, line);
			continue;
		}
		v = realloc(r->hold_dom, (r->nhold_dom + 1) * sizeof(*v));
		if (!v || !(v[r->nhold_dom] = strdup(d))) {
			if (v)
				r->hold_dom = v;
			fclose(f);
			return -ENOMEM;
		}
		r->hold_dom = v;
		r->nhold_dom++;
	}
	fclose(f);
	if (r->nhold_dom)
		MX_NOTICE("relay: %zu recipient domain(s) held (%s/" HOLDS_FILE ")", r->nhold_dom,
			  r->sp->dir);
	return 0;
}

int relay_hold_domain(struct relay *r, const char *domain)
{
	char d[256];
	char **v;
	int rc, n = 0;

	if (domain_norm(domain, d, sizeof(d)) < 0)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->nhold_dom; i++) {
		if (strcmp(r->hold_dom[i], d) == 0) {
			pthread_mutex_unlock(&r->lock);
			return -EEXIST;
		}
	}
	v = realloc(r->hold_dom, (r->nhold_dom + 1) * sizeof(*v));
	if (!v || !(v[r->nhold_dom] = strdup(d))) {
		if (v)
			r->hold_dom = v;
		pthread_mutex_unlock(&r->lock);
		return -ENOMEM;
	}
	r->hold_dom = v;
	r->nhold_dom++;
	if ((rc = holds_save(r)) < 0) {
		free(r->hold_dom[--r->nhold_dom]);
		pthread_mutex_unlock(&r->lock);
		return rc;
	}
	/* Queued mail whose recipients are known now; the others are held
	 * when a relay thread reads their envelope. */
	for (struct relay_msg *m = r->head; m; m = m->next) {
		bool any = false;

		if (m->state == MSG_ACTIVE)
			continue;
		for (uint32_t i = 0; i < m->nrcpt; i++) {
			if (m->rcpt[i].state != SPOOL_RCPT_PENDING ||
			    !domain_held(r, m->rcpt[i].addr))
				continue;
			if (rcpt_mark_locked(r, m, i, SPOOL_RCPT_HELD,
					     "held by operator (domain)") == 0) {
				STAT_ADD(r, rcpts_held, 1);
				n++;
				any = true;
			}
		}
		if (any)
			msg_settle(r, m, m->next_try_ns);
	}
	pthread_mutex_unlock(&r->lock);
	MX_NOTICE("relay: domain %s: hold by operator (%d recipient(s) held now)", d, n);
	return n;
}

int relay_release_domain(struct relay *r, const char *domain)
{
	uint64_t now = now_ns();
	char d[256];
	size_t i;
	int rc, n = 0;

	if (domain_norm(domain, d, sizeof(d)) < 0)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->nhold_dom && strcmp(r->hold_dom[i], d) != 0; i++)
		;
	if (i == r->nhold_dom) {
		pthread_mutex_unlock(&r->lock);
		return -ENOENT;
	}
	free(r->hold_dom[i]);
	r->hold_dom[i] = r->hold_dom[--r->nhold_dom];
	if ((rc = holds_save(r)) < 0)
		MX_ERR("relay: %s/" HOLDS_FILE ": %s (the hold comes back after a restart)",
		       r->sp->dir, strerror(-rc));
	for (struct relay_msg *m = r->head; m; m = m->next) {
		bool any = false;
		const char *at;

		for (uint32_t k = 0; k < m->nrcpt; k++) {
			if (m->rcpt[k].state != SPOOL_RCPT_HELD || !m->rcpt[k].addr ||
			    !(at = strrchr(m->rcpt[k].addr, '@')) || strcasecmp(at + 1, d) != 0)
				continue;
			if (rcpt_mark_locked(r, m, k, SPOOL_RCPT_RELEASED, NULL) == 0) {
				STAT_ADD(r, rcpts_released, 1);
				n++;
				any = true;
			}
		}
		if (any && m->state != MSG_ACTIVE) {
			m->attempts = 0;
			m->state = MSG_HELD; /* force a fresh heap position */
			msg_settle(r, m, now);
		}
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->lock);
	MX_NOTICE("relay: domain %s: released by operator, %d recipient(s) back in the queue", d,
		  n);
	return n;
}

size_t relay_held_domains(struct relay *r, char *buf, size_t cap)
{
	size_t n, len = 0;

	if (cap)
		buf[0] = '\0';
	pthread_mutex_lock(&r->lock);
	n = r->nhold_dom;
	for (size_t i = 0; i < n && cap; i++) {
		int w = snprintf(buf + len, cap - len, "%s%s", i ? " " : "", r->hold_dom[i]);

		if (w < 0 || (size_t)w >= cap - len)
			break;
		len += (size_t)w;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

static int deliver(struct relay_thread *t, struct relay_txn *x)
{
	struct relay *r = t->r;
	struct relay_msg *m = x->m;
	char why[RELAY_REPLY_MAX];
	int rc;

	x->rd = spool_reader_open(r->sp, &m->qid);
	if (!x->rd) {
		if (errno == ENOENT)
			return OUT_GONE;
		STAT_ADD(r, spool_errors, 1);
		set_text(why, sizeof(why), "%s: spool: cannot read the message: %s",
			 errno == EBADMSG ? "554 5.3.0" : "451 4.3.0", strerror(errno));
		res_local(x, errno == EBADMSG ? 554 : 451, why);
		return OUT_DONE;
	}
	rc = spool_reader_envelope(x->rd, &x->env, x->ercpt, m->nrcpt);
	if (rc < 0 || x->env.nrcpt != m->nrcpt || env_bad(&x->env, x->ercpt)) {
		STAT_ADD(r, spool_errors, 1);
		res_local(x, 554, "554 5.3.0 spool: damaged envelope");
		return OUT_DONE;
	}
	remember_envelope(r, m, x);
	if (hold_domains_apply(r, x) && x->n == 0)
		return OUT_DONE; /* every recipient left is held */
	rc = conn_get(t, m->bounce, why, sizeof(why));
	if (rc == -EAGAIN)
		return OUT_REQUEUE;
	if (rc < 0) {
		res_local(x, 0, why);
		return OUT_DONE;
	}
	for (uint32_t k = 0; k < x->n; k++)
		x->res[x->idx[k]].tried = true;
	x->lmtp = r->hop[t->c.hop].h.proto == RELAY_PROTO_LMTP;
	if (txn_run(x) < 0)
		conn_close(&t->c);
	else
		t->c.idle_since_ns = now_ns();
	return OUT_DONE;
}

/*
 * After an attempt: done log first (outside r->lock), then memory. Returns
 * false if the test hook simulated a crash (nothing recorded).
 */
static bool record_results(struct relay_thread *t, struct relay_txn *x)
{
	struct relay *r = t->r;
	struct relay_msg *m = x->m;
	char q[SPOOL_QID_STRLEN + 1];
	const struct relay_hooks *hk = r->conf.hooks;

	/* x->ercpt pointed into the reader, closed by now: m->rcpt[].addr is
	 * the copy. */
	spool_qid_format(&m->qid, q);
	for (uint32_t k = 0; k < x->n; k++) {
		uint32_t i = x->idx[k];
		struct relay_res *s = &x->res[i];
		enum spool_rcpt_state st;
		int rc;

		if (s->fate == FATE_BOUNCE || s->fate == FATE_DROP)
			st = SPOOL_RCPT_BOUNCED;
		else if (s->fate == FATE_HOLD)
			st = SPOOL_RCPT_HELD;
		else if (s->code / 100 == 2)
			st = SPOOL_RCPT_DELIVERED;
		else
			continue;
		if (st == SPOOL_RCPT_DELIVERED && hk && hk->before_mark &&
		    hk->before_mark(hk->arg, &m->qid, i))
			return false;
		rc = spool_rcpt_mark(r->sp, &m->qid, i, st);
		if (rc < 0) {
			/* Kept as final in memory: not sent again in this run. */
			STAT_ADD(r, done_log_errors, 1);
			MX_ERR("relay: %s rcpt %u: done log: %s", q, i, strerror(-rc));
		}
		if (st == SPOOL_RCPT_HELD)
			MX_NOTICE("relay: %s rcpt %u <%s> held: %s", q, i,
				  m->rcpt[i].addr ? m->rcpt[i].addr : "?", s->text);
		else if (st == SPOOL_RCPT_BOUNCED)
			MX_NOTICE("relay: %s rcpt %u <%s> %s, %s: %s", q, i,
				  m->rcpt[i].addr ? m->rcpt[i].addr : "?",
				  s->expired ? "expired" : "failed",
				  s->fate == FATE_BOUNCE ? "sender notified"
							 : "no notification owed",
				  s->text);
		else
			MX_DEBUG("relay: %s rcpt %u <%s> delivered: %s", q, i,
				 m->rcpt[i].addr ? m->rcpt[i].addr : "?", s->text);
	}
	return true;
}

static void settle_after(struct relay_thread *t, struct relay_txn *x)
{
	struct relay *r = t->r;
	struct relay_msg *m = x->m;
	char q[SPOOL_QID_STRLEN + 1];
	uint32_t ndef = 0, pending, held;
	uint64_t now = now_ns();
	const char *why = NULL;

	for (uint32_t k = 0; k < x->n; k++) {
		uint32_t i = x->idx[k];
		struct relay_res *s = &x->res[i];

		if (!s->tried)
			continue;
		if (s->fate == FATE_HOLD) {
			m->rcpt[i].state = SPOOL_RCPT_HELD;
			STAT_ADD(r, rcpts_held, 1);
		} else if (s->fate != FATE_NONE) {
			m->rcpt[i].state = SPOOL_RCPT_BOUNCED;
			STAT_ADD(r, rcpts_bounced, 1);
			if (s->expired)
				STAT_ADD(r, rcpts_expired, 1);
		} else if (s->code / 100 == 2) {
			m->rcpt[i].state = SPOOL_RCPT_DELIVERED;
			STAT_ADD(r, rcpts_delivered, 1);
		} else {
			ndef++;
		}
		replace_str(&m->rcpt[i].reply, s->text);
	}
	STAT_ADD(r, rcpts_deferred, ndef);
	for (uint32_t k = 0; k < x->n && !why; k++) {
		const struct relay_res *s = &x->res[x->idx[k]];

		if (s->tried && s->fate == FATE_NONE && s->code / 100 != 2)
			why = s->text;
	}
	if (m->want_delete) {
		delete_locked(r, m);
	} else if (m->want_hold) {
		hold_pending_locked(r, m);
	}
	m->want_delete = m->want_hold = false;
	count_rcpts(m, &pending, &held);
	if (!pending && !held) {
		bool any = false;

		for (uint32_t i = 0; i < m->nrcpt; i++)
			any |= m->rcpt[i].state == SPOOL_RCPT_DELIVERED;
		if (any) {
			uint64_t now_ms = now_unix_us() / 1000, in_ms = m->qid.hi >> 16;
			STAT_ADD(r, msgs_delivered, 1);
			mx_hist_record(&r->delivery, now_ms > in_ms ? now_ms - in_ms : 0);
		}
		list_del(r, m);
		msg_free(m);
		return;
	}
	if (!pending) {
		m->state = MSG_HELD;
		return;
	}
	m->attempts++;
	{
		uint64_t d = relay_backoff_ms(&r->conf, m->attempts, rnd32(&t->rnd));

		MX_INFO("relay: %s: %u recipient(s) deferred, retry in %llu ms: %s",
			spool_qid_format(&m->qid, q), ndef, (unsigned long long)d,
			why ? why : "released or re-queued recipients");
		queue_at(r, m, now + d * 1000000);
	}
}

/* The original message's header block (up to its empty line, at most
 * RELAY_DSN_HDR_MAX bytes) into a malloc'd *@hdr. Returns its length. */
static size_t read_header(struct spool_reader *rd, uint8_t **hdr)
{
	const uint8_t *p;
	uint32_t n;
	size_t len = 0;
	uint8_t *b = malloc(RELAY_DSN_HDR_MAX);

	*hdr = b;
	if (!b)
		return 0;
	while (len < RELAY_DSN_HDR_MAX && spool_reader_body(rd, &p, &n) == 1) {
		size_t k = n < RELAY_DSN_HDR_MAX - len ? n : RELAY_DSN_HDR_MAX - len;
		size_t from = len > 3 ? len - 3 : 0;

		memcpy(b + len, p, k);
		len += k;
		for (size_t i = from; i + 3 < len; i++) {
			if (!memcmp(b + i, "\r\n\r\n", 4))
				return i + 4;
		}
	}
	return len;
}

/*
 * Queue one notification for the recipients of x whose fate is FATE_BOUNCE
 * (those owed none become FATE_DROP). On any failure to queue it they are
 * held instead: never dropped without the sender being told. No lock held;
 * blocks on spool I/O (relay thread).
 */
static void bounce(struct relay_thread *t, struct relay_txn *x)
{
	struct relay *r = t->r;
	struct relay_msg *m = x->m;
	struct spool_reader *rd = NULL;
	struct spool_envelope env;
	struct spool_rcpt *er = calloc(m->nrcpt, sizeof(*er));
	struct dsn_rcpt *dr = calloc(m->nrcpt, sizeof(*dr));
	char q[SPOOL_QID_STRLEN + 1], nq[SPOOL_QID_STRLEN + 1], envid[256];
	const char *why = NULL;
	uint64_t now_us = now_unix_us();
	uint32_t nd = 0;
	uint8_t *hdr = NULL;
	size_t hlen = 0, len = 0;
	char *msg = NULL;
	bool expired = false;
	int rc;

	spool_qid_format(&m->qid, q);
	if (!er || !dr)
		why = "out of memory";
	else if (!r->conf.dsn_worker)
		why = "no spool context for notifications";
	else if (!(rd = spool_reader_open(r->sp, &m->qid)) ||
		 spool_reader_envelope(rd, &env, er, m->nrcpt) != 0 || env.nrcpt != m->nrcpt)
		why = "cannot read the message back";
	for (uint32_t k = 0; k < x->n && !why; k++) {
		uint32_t i = x->idx[k];
		struct relay_res *s = &x->res[i];

		if (s->fate != FATE_BOUNCE)
			continue;
		if (!dsn_wanted(env.mail_from, er[i].notify)) {
			s->fate = FATE_DROP;
			STAT_ADD(r, dsns_suppressed, 1);
			continue;
		}
		expired |= s->expired;
		dr[nd++] = (struct dsn_rcpt){
			.addr = er[i].addr,
			.orcpt = er[i].orcpt,
			.status = s->expired ? "4.4.7" : NULL,
			.reply = s->text[0] ? s->text : "delivery time expired",
			.remote_mta = s->code ? r->hop[t->c.hop].h.host : NULL,
			.last_attempt_us = now_us,
		};
	}
	if (!why && nd) {
		struct dsn_info d = {
			.reporting_mta = r->conf.helo_name,
			.sender = env.mail_from,
			.envid = dsn_envid(env.mail_params, envid, sizeof(envid)),
			.qid = q,
			.arrival_us = env.arrival_us,
			.now_us = now_us,
			.expired = expired,
			.rcpt = dr,
			.nrcpt = nd,
		};
		const struct spool_rcpt to = {env.mail_from, NULL, NULL, SPOOL_NOTIFY_NEVER};
		const struct spool_envelope denv = {
			.arrival_us = now_us,
			.family = 4,
			.addr = {127, 0, 0, 1},
			.helo = r->conf.helo_name,
			.mail_from = "", /* RFC 5321 4.5.5: a notification cannot loop */
			.nrcpt = 1,
			.rcpt = &to,
		};
		struct spool_qid nid;

		hlen = read_header(rd, &hdr);
		msg = dsn_build(&d, hdr, hlen, &len);
		if (!msg) {
			why = "cannot build the notification";
		} else {
			pthread_mutex_lock(&r->dsn_lock);
			rc = spool_inject(r->conf.dsn_worker, &denv, msg, len, RELAY_DSN_TIMEOUT,
					  &nid);
			pthread_mutex_unlock(&r->dsn_lock);
			if (rc < 0) {
				why = "cannot queue the notification";
				MX_ERR("relay: %s: notification to <%s>: spool: %s", q,
				       env.mail_from, strerror(-rc));
			} else {
				STAT_ADD(r, dsns_queued, 1);
				MX_NOTICE("relay: %s: %s notification %s queued to <%s> for %u "
					  "recipient(s)",
					  q, expired ? "expiry" : "failure",
					  spool_qid_format(&nid, nq), env.mail_from, nd);
			}
		}
	}
	if (why) {
		for (uint32_t k = 0; k < x->n; k++) {
			struct relay_res *s = &x->res[x->idx[k]];

			if (s->fate == FATE_BOUNCE)
				s->fate = FATE_HOLD;
		}
		STAT_ADD(r, dsn_errors, 1);
		MX_ERR("relay: %s: %s: failed recipients held instead", q, why);
	}
	free(msg);
	free(hdr);
	spool_reader_close(rd);
	free(dr);
	free(er);
}

/*
 * After an attempt, before anything is recorded: which tried recipients
 * failed for good. A 5xx is permanent (bounced, or held when the operator
 * chose on_permanent_failure = hold); anything not delivered in a message
 * older than max_queue_lifetime is expired (bounced whatever that choice:
 * RFC 5321 6.1, nothing is retried forever). No lock held.
 */
static void fail_for_good(struct relay_thread *t, struct relay_txn *x)
{
	struct relay *r = t->r;
	uint64_t life = r->conf.max_queue_lifetime_ms, born = spool_qid_ms(&x->m->qid);
	uint64_t now_ms = now_unix_us() / 1000;
	bool expired = life && now_ms > born && now_ms - born >= life;
	bool any = false;

	for (uint32_t k = 0; k < x->n; k++) {
		struct relay_res *s = &x->res[x->idx[k]];

		if (!s->tried || s->code / 100 == 2)
			continue;
		if (s->code / 100 == 5) {
			s->fate = r->conf.on_permanent_failure == RELAY_PERM_HOLD ? FATE_HOLD
										  : FATE_BOUNCE;
		} else if (expired) {
			s->fate = FATE_BOUNCE;
			s->expired = true;
		}
		any |= s->fate == FATE_BOUNCE;
	}
	if (any)
		bounce(t, x);
}

static void attempt(struct relay_thread *t, struct relay_msg *m)
{
	struct relay *r = t->r;
	struct relay_txn x = {.t = t, .m = m};
	bool nomem = false;
	int out;

	x.idx = calloc(m->nrcpt, sizeof(*x.idx));
	x.res = calloc(m->nrcpt, sizeof(*x.res));
	x.ercpt = calloc(m->nrcpt, sizeof(*x.ercpt));
	if (!x.idx || !x.res || !x.ercpt) {
		nomem = true;
		out = OUT_REQUEUE;
		goto done;
	}
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].state == SPOOL_RCPT_PENDING)
			x.idx[x.n++] = i;
	}
	pthread_mutex_unlock(&r->lock);
	out = x.n ? deliver(t, &x) : OUT_DONE;
	spool_reader_close(x.rd); /* before any mark may delete segments */
	x.rd = NULL;
	if (out == OUT_DONE)
		fail_for_good(t, &x);
	if (out == OUT_DONE && !record_results(t, &x)) {
		/* Simulated crash: leave the message active and untouched. */
		goto out;
	}
done:
	pthread_mutex_lock(&r->lock);
	r->attempts_done++;
	if (out == OUT_GONE) {
		list_del(r, m);
		msg_free(m);
	} else if (out == OUT_REQUEUE) {
		/* Every hop paused: the dispatcher waits for them. No memory:
		 * try again in a second. */
		queue_at(r, m, now_ns() + (nomem ? 1000000000ULL : 0));
	} else {
		settle_after(t, &x);
	}
	pthread_mutex_unlock(&r->lock);
out:
	free(x.idx);
	free(x.res);
	free(x.ercpt);
}

/* r->lock held. The time at which some next hop may be tried again. */
static uint64_t hops_ready_at(struct relay *r)
{
	uint64_t t = UINT64_MAX;

	for (unsigned i = 0; i < r->nhops; i++) {
		if (r->hop[i].retry_at_ns < t)
			t = r->hop[i].retry_at_ns;
	}
	return t;
}

void relay_set_limits(struct relay *r, uint32_t retry_min_ms, uint32_t retry_max_ms,
		      uint32_t refuse_after_ms, uint32_t max_backlog_age_ms)
{
	pthread_mutex_lock(&r->lock);
	r->conf.max_backlog_age_ms = max_backlog_age_ms;
	backlog_tick(r, now_ns(), true);
	if (retry_min_ms && retry_min_ms <= retry_max_ms) {
		r->conf.retry_min_ms = retry_min_ms;
		r->conf.retry_max_ms = retry_max_ms;
	}
	r->conf.refuse_after_ms = refuse_after_ms;
	if (!refuse_after_ms && r->refusing) {
		r->refusing = false;
		spool_set_refuse(r->sp, 0);
		MX_NOTICE("relay: [relay] refuse_after_s is now 0: accepting new mail");
	}
	pthread_cond_broadcast(&r->cv); /* refuse_tick() with the new delay */
	pthread_mutex_unlock(&r->lock);
}

/* r->lock held: spool refusal when every hop has been down too long. */
static uint64_t refuse_tick(struct relay *r, uint64_t now)
{
	uint64_t after = (uint64_t)r->conf.refuse_after_ms * 1000000;

	if (!after)
		return UINT64_MAX;
	if (r->down_since_ns && !r->refusing) {
		if (now - r->down_since_ns >= after) {
			r->refusing = true;
			spool_set_refuse(r->sp, 1);
			MX_WARN("relay: every next hop down for %llu ms: refusing new mail",
				(unsigned long long)((now - r->down_since_ns) / 1000000));
			return UINT64_MAX;
		}
		return r->down_since_ns + after;
	}
	if (!r->down_since_ns && r->refusing) {
		r->refusing = false;
		spool_set_refuse(r->sp, 0);
		MX_NOTICE("relay: a next hop is back: accepting new mail");
	}
	return UINT64_MAX;
}

static void *relay_main(void *arg)
{
	struct relay_thread *t = arg;
	struct relay *r = t->r;
	char name[16];
	sigset_t pipe;

	/* SSL_write writes to the socket without MSG_NOSIGNAL: a next hop that
	 * closed must give EPIPE here, not kill the process. */
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
	snprintf(name, sizeof(name), "mx-relay-%u", t->id);
	pthread_setname_np(pthread_self(), name);
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		uint64_t now = now_ns(), wake = now + RELAY_WAIT_MAX, ready_at, w;
		struct relay_msg *m = r->nheap ? r->heap[0] : NULL;
		struct timespec ts;

		if ((w = refuse_tick(r, now)) < wake)
			wake = w;
		backlog_tick(r, now, false);
		ready_at = hops_ready_at(r);
		if (ready_at <= now) {
			if (m && m->next_try_ns <= now) {
				heap_remove(r, m);
				m->state = MSG_ACTIVE;
				if (m->attempts)
					STAT_ADD(r, retries, 1);
				pthread_mutex_unlock(&r->lock);
				attempt(t, m);
				pthread_mutex_lock(&r->lock);
				continue;
			}
			if (r->down_since_ns && !r->probing && t->c.fd < 0) {
				/* Nothing to send, but refusal must end when a
				 * hop is back: probe it. */
				char why[RELAY_REPLY_MAX];

				r->probing = true;
				pthread_mutex_unlock(&r->lock);
				conn_get(t, false, why, sizeof(why));
				pthread_mutex_lock(&r->lock);
				r->probing = false;
				continue;
			}
			if (m && m->next_try_ns < wake)
				wake = m->next_try_ns;
		} else if (ready_at < wake) {
			wake = ready_at;
		}
		if (t->c.fd >= 0) {
			uint64_t idle_end =
				t->c.idle_since_ns + (uint64_t)r->conf.idle_timeout_ms * 1000000;

			if (idle_end <= now) {
				pthread_mutex_unlock(&r->lock);
				conn_quit(t);
				pthread_mutex_lock(&r->lock);
				continue;
			}
			if (idle_end < wake)
				wake = idle_end;
		}
		ts.tv_sec = (time_t)(wake / 1000000000ULL);
		ts.tv_nsec = (long)(wake % 1000000000ULL);
		pthread_cond_timedwait(&r->cv, &r->lock, &ts);
	}
	pthread_mutex_unlock(&r->lock);
	conn_quit(t);
	return NULL;
}

/* ---------------- lifecycle ---------------- */

/* Read the envelope of a recovered message with held recipients, so ctl
 * shows their addresses. Boot thread, or the recovery thread with r->lock
 * held (relay_on_recover()). */
static void recovered_envelope(struct relay *r, struct relay_msg *m)
{
	struct spool_reader *rd = spool_reader_open(r->sp, &m->qid);
	struct spool_envelope env;
	struct spool_rcpt *rc = calloc(m->nrcpt, sizeof(*rc));

	if (rd && rc && spool_reader_envelope(rd, &env, rc, m->nrcpt) == 0) {
		m->from = strdup(env.mail_from);
		m->tls = tls_text(&env);
		for (uint32_t i = 0; i < m->nrcpt && i < env.nrcpt; i++)
			m->rcpt[i].addr = strdup(rc[i].addr);
	}
	free(rc);
	spool_reader_close(rd);
}

/* The TLS client context shared by the relay threads (SSL_CTX is
 * thread-safe once set up). NULL with errno (EINVAL: bad CA file, logged). */
static SSL_CTX *tls_ctx_new(const struct relay_conf *c)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx) {
		MX_ERR("relay: cannot create the TLS context");
		errno = ENOMEM;
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (c->ca_file && *c->ca_file && access(c->ca_file, R_OK) != 0) {
		MX_ERR("relay: ca_file %s: %s", c->ca_file, strerror(errno));
		SSL_CTX_free(ctx);
		errno = EINVAL;
		return NULL;
	}
	if (c->ca_file && *c->ca_file &&
	    SSL_CTX_load_verify_locations(ctx, c->ca_file, NULL) != 1) {
		char eb[256];

		ERR_error_string_n(ERR_peek_last_error(), eb, sizeof(eb));
		ERR_clear_error();
		MX_ERR("relay: ca_file %s: cannot load CA certificates: %s", c->ca_file, eb);
		SSL_CTX_free(ctx);
		errno = EINVAL;
		return NULL;
	}
	return ctx;
}

struct relay *relay_create(const struct relay_conf *conf, struct spool *sp)
{
	SSL_CTX *tls_ctx = NULL;
	struct relay *r;
	struct spool_msginfo mi;
	pthread_condattr_t ca;
	size_t cursor = 0, n = 0;
	uint64_t now = now_ns();
	int rc;

	if ((rc = conf_check(conf)) < 0) {
		errno = -rc;
		return NULL;
	}
	if (sp->started || sp->conf.on_commit) {
		MX_ERR("relay: the spool is started or its commit hook is taken");
		errno = EBUSY;
		return NULL;
	}
	for (unsigned i = 0; i <= conf->nnexthops; i++) {
		const struct relay_nexthop *h =
			i < conf->nnexthops ? &conf->nexthop[i] : &conf->bounce_nexthop;

		if (h->host && h->tls != RELAY_TLS_NONE && !tls_ctx &&
		    !(tls_ctx = tls_ctx_new(conf)))
			return NULL;
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		SSL_CTX_free(tls_ctx);
		return NULL;
	}
	r->conf = *conf;
	r->sp = sp;
	relay_backlog_init(&r->bl, conf->threads, now);
	mx_hist_init(&r->delivery);
	r->tls_ctx = tls_ctx;
	r->conf.helo_name = strdup(conf->helo_name);
	r->conf.ca_file = conf->ca_file ? strdup(conf->ca_file) : NULL;
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->dsn_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	r->t = calloc(conf->threads, sizeof(*r->t));
	if (!r->conf.helo_name || !r->t || (conf->ca_file && !r->conf.ca_file))
		goto nomem;
	/* Sort by priority, stable (configuration order among equals). */
	for (unsigned i = 0; i < conf->nnexthops; i++) {
		unsigned k = i;

		r->hop[i].h = conf->nexthop[i];
		if (!(r->hop[i].h.host = strdup(conf->nexthop[i].host)))
			goto nomem;
		while (k > 0 && r->hop[k - 1].h.priority > r->hop[k].h.priority) {
			struct relay_hopstate tmp = r->hop[k - 1];

			r->hop[k - 1] = r->hop[k];
			r->hop[k] = tmp;
			k--;
		}
	}
	if ((rc = holds_load(r)) < 0) {
		MX_ERR("relay: %s/" HOLDS_FILE ": %s", sp->dir, strerror(-rc));
		goto nomem;
	}
	r->nhops = conf->nnexthops;
	if (conf->bounce_nexthop.host) {
		r->hop[r->nhops].h = conf->bounce_nexthop;
		if (!(r->hop[r->nhops].h.host = strdup(conf->bounce_nexthop.host)))
			goto nomem;
		r->nhops++;
	}
	for (unsigned i = 0; i < conf->threads; i++) {
		uint64_t seed = 0;

		r->t[i].r = r;
		r->t[i].id = i;
		r->t[i].c.fd = -1;
		if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
			seed = now ^ ((uint64_t)i << 32);
		r->t[i].rnd = seed | 1;
	}
	while (spool_recovered_next(sp, &cursor, &mi) == 1) {
		bool held = false;

		pthread_mutex_lock(&r->lock);
		rc = take_in(r, &mi, now);
		pthread_mutex_unlock(&r->lock);
		if (rc < 0)
			goto nomem;
		for (uint32_t i = 0; i < mi.nrcpt; i++)
			held |= mi.rcpt_state[i] == SPOOL_RCPT_HELD;
		if (held && r->tail && spool_qid_eq(&r->tail->qid, &mi.qid))
			recovered_envelope(r, r->tail);
		n++;
	}
	/* relay.c is part of queue/: it may set the hook in the spool it was
	 * given, before spool_start() creates the threads that read it. */
	sp->conf.on_commit = relay_on_commit;
	sp->conf.on_commit_arg = r;
	sp->conf.on_recover = relay_on_recover;
	sp->conf.on_recover_arg = r;
	MX_INFO("relay: %zu recovered message(s) queued, %u next hop(s), %u thread(s)", n,
		conf->nnexthops, conf->threads);
	return r;
nomem:
	relay_destroy(r);
	errno = ENOMEM;
	return NULL;
}

int relay_start(struct relay *r)
{
	if (r->started)
		return -EALREADY;
	r->started = true;
	for (unsigned i = 0; i < r->conf.threads; i++) {
		int rc = pthread_create(&r->t[i].th, NULL, relay_main, &r->t[i]);

		if (rc != 0) {
			relay_stop(r);
			return -rc;
		}
		r->t[i].started = true;
	}
	return 0;
}

void relay_stop(struct relay *r)
{
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; r->t && i < r->conf.threads; i++) {
		if (r->t[i].started)
			pthread_join(r->t[i].th, NULL);
		r->t[i].started = false;
	}
	/* The notification context is the relay threads' "worker": hand off
	 * what a timed-out spool_inject() left staged (spool_stop() needs it). */
	if (r->conf.dsn_worker)
		spool_worker_flush(r->conf.dsn_worker);
}

void relay_destroy(struct relay *r)
{
	struct relay_msg *m, *next;

	if (!r)
		return;
	MX_ASSERT(!r->sp->started || r->sp->stopping || r->sp->conf.on_commit_arg != r);
	relay_stop(r);
	if (r->sp->conf.on_commit_arg == r) {
		r->sp->conf.on_commit = NULL;
		r->sp->conf.on_commit_arg = NULL;
	}
	if (r->sp->conf.on_recover_arg == r) {
		r->sp->conf.on_recover = NULL;
		r->sp->conf.on_recover_arg = NULL;
	}
	for (m = r->head; m; m = next) {
		next = m->next;
		msg_free(m);
	}
	for (unsigned i = 0; i < RELAY_MAX_NEXTHOPS + 1; i++)
		free((void *)r->hop[i].h.host); /* NULL past the ones set */
	for (size_t i = 0; i < r->nhold_dom; i++)
		free(r->hold_dom[i]);
	free(r->hold_dom);
	for (unsigned i = 0; r->t && i < r->conf.threads; i++)
		SSL_free(r->t[i].c.ssl); /* normally closed by its thread already */
	SSL_CTX_free(r->tls_ctx);
	free((void *)r->conf.helo_name);
	free((void *)r->conf.ca_file);
	free(r->heap);
	free(r->t);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->dsn_lock);
	free(r);
}
