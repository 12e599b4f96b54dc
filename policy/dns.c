/*
 * dns.c - the asynchronous resolver of policy/dns.h: c-ares on the control
 * loop, one request ring and one answer ring per worker, a table of
 * queries in flight, the shared cache (dns_cache.c).
 *
 * C-ARES ON THE LOOP. c-ares 1.18 has no event thread: it tells us which
 * sockets to watch through ARES_OPT_SOCK_STATE_CB, we register them on
 * core/loop.h and call ares_process_fd() when one is ready; a loop timer
 * armed from ares_timeout() after every call drives retries and timeouts.
 * A "resolver" is one channel with its timer. A reconfiguration that
 * changes servers, timeout or tries builds a new resolver first (so a
 * failure keeps the old), then destroys the old one: c-ares calls back its
 * pending queries with ARES_EDESTRUCTION and they are asked again on the
 * new one, so a reload never turns a query into a TEMPFAIL.
 *
 * WORKERS. A worker looks the cache up itself (mx_dns_cached) and posts a
 * miss on its request ring (mx_dns_submit); no syscall, no allocation, no
 * lock. The control thread runs a 1 ms loop timer (the tick; 5 ms after
 * 200 ticks without a request, so an idle daemon does not wake 1000 times
 * a second, at the cost of up to 5 ms on a first request) that drains
 * every request ring (a bounded number per tick), answers from the cache
 * what another worker's query put there meanwhile, joins requests to an
 * identical query in flight, or starts a query. Answers are copied to the
 * asking worker's answer ring; when that ring is full they wait on a
 * control-side list for the next tick (never dropped: the parked session
 * would wait for its deadline), and that worker's requests are not taken
 * until the list is empty, so the list is bounded by one drain's worth
 * plus the queries it had in flight. The tick also publishes the clock the
 * workers compare cache expiry with (so they read no clock) and ages the
 * cache out a slice at a time.
 *
 * MEMORY. Rings, worker handles and the cache are allocated in
 * mx_dns_init(); queries in flight, their waiters and answers waiting for
 * ring space are malloc'd on the control thread (jemalloc in the daemon),
 * bounded by inflight_max. The control thread is a registered QSBR thread
 * (config_publish() registers it in the daemon) that is online only while
 * it touches the cache.
 */
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <urcu-qsbr.h>

#include "core/config-t.h"
#include "core/counters.h"
#include "core/log.h"
#include "core/loop.h"
#include "policy/dns.h"
#include "policy/dns_int.h"

#define REQ_RING       1024 /* requests per worker ring */
#define ANS_RING       1024 /* answers per worker ring */
#define TICK_MS	       1    /* request drain period while busy */
#define TICK_IDLE_MS   5    /* ... after IDLE_TICKS ticks without a request */
#define IDLE_TICKS     200
#define DRAIN_PER_TICK 256  /* requests taken per worker per tick */
#define EXPIRE_EVERY   1000 /* ms between cache ageing slices */
#define EXPIRE_SLICE   4096 /* entries looked at per slice */
#define INFLIGHT_HASH  4096 /* buckets of the in-flight table (power of 2) */

/* Counters a worker writes (one writer; relaxed). */
struct wctr {
	uint64_t cache_hits, cache_miss, ring_full;
};

/* An answer waiting for space on a worker's answer ring. */
struct pend {
	struct pend *next;
	struct dns_ans a; /* only offsetof(a.r) + mx_dns_result_size() allocated */
};

struct mx_dns_worker {
	struct dns_ring *req; /* worker -> control */
	struct dns_ring *ans; /* control -> worker */
	_Alignas(64) struct wctr c;
	/* control thread only */
	_Alignas(64) struct pend *pend_head, *pend_tail;
	unsigned idx;
};

/* Someone waiting for a query in flight: a worker (cookie) or a control
 * thread caller (fn, arg). */
struct waiter {
	struct waiter *next;
	mx_dns_ctl_fn fn; /* NULL: worker @worker */
	void *arg;
	unsigned worker;
	uint64_t cookie;
};

struct inflight {
	struct inflight *next; /* hash chain */
	uint64_t hash;
	uint8_t type;
	uint8_t len;
	char name[MX_DNS_NAME_MAX + 1];
	struct waiter *waiters;
};

struct resolver {
	ares_channel ch;
	struct mx_loop_timer timer;
};

static struct {
	bool up;
	struct mx_dns_conf conf;
	char servers[256];
	struct resolver *res;
	bool shutting_down;
	struct dns_cache *cache;
	uint64_t seed;
	unsigned nw;
	struct mx_dns_worker *w;
	struct mx_loop_timer tick;
	uint64_t last_expire_ms;
	unsigned idle_ticks;
	struct inflight *inflight[INFLIGHT_HASH];
	unsigned n_inflight;
	mx_dns_verify_fn verifier;
	void (*verify_cancel)(void);
	/* control-thread counters (one writer; relaxed) */
	uint64_t queries, coalesced, timeouts, servfail, ctl_hits, ctl_miss, pend_posted;
} D;

/* The clock workers compare cache expiry with, published by the tick. */
static uint64_t dns_now;

static uint64_t (*clock_fn)(void) = mx_loop_now_ms;

static void ctr_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

static uint64_t ctr_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* ---- counters in the registry -------------------------------------- */

#define DNS_COUNTERS(X)                                                                        \
	X(queries, COUNTER, "queries sent to the resolvers (c-ares)")                          \
	X(cache_hits, COUNTER, "answers found in the cache (workers and control thread)")      \
	X(cache_miss, COUNTER, "lookups not found in the cache")                               \
	X(coalesced, COUNTER, "requests joined to an identical query in flight")               \
	X(timeouts, COUNTER, "queries answered TEMPFAIL because no resolver answered in time") \
	X(servfail, COUNTER,                                                                   \
	  "queries answered TEMPFAIL for another reason (SERVFAIL, REFUSED, malformed, "       \
	  "too many in flight)")                                                               \
	X(ring_full, COUNTER, "requests refused because a worker's request ring was full")     \
	X(cache_items, GAUGE, "answers in the cache now")

static const struct mx_ctr_def dns_defs[] = {DNS_COUNTERS(MX_CTR_X_DEF)};

static void dns_snap(unsigned inst, struct mx_dns_counters *c)
{
	(void)inst;
	mx_dns_counters_read(c);
}

MX_CTR_LIST_READER(dns_ctr_read, DNS_COUNTERS, mx_dns_counters, dns_snap)

static const struct mx_ctr_group dns_group = {
	.name = "dns",
	.long_name = "dns",
	.scope = MX_CTR_GLOBAL,
	.defs = dns_defs,
	.ndefs = sizeof(dns_defs) / sizeof(dns_defs[0]),
	.read = dns_ctr_read,
};

void mx_dns_counters_read(struct mx_dns_counters *out)
{
	memset(out, 0, sizeof(*out));
	out->queries = ctr_get(&D.queries);
	out->cache_hits = ctr_get(&D.ctl_hits);
	out->cache_miss = ctr_get(&D.ctl_miss);
	out->coalesced = ctr_get(&D.coalesced);
	out->timeouts = ctr_get(&D.timeouts);
	out->servfail = ctr_get(&D.servfail);
	out->cache_items = dns_cache_count(D.cache);
	for (unsigned i = 0; i < D.nw && D.w; i++) {
		out->cache_hits += ctr_get(&D.w[i].c.cache_hits);
		out->cache_miss += ctr_get(&D.w[i].c.cache_miss);
		out->ring_full += ctr_get(&D.w[i].c.ring_full);
	}
}

/* ---- rings ------------------------------------------------------------ */

struct dns_ring *dns_ring_new(uint32_t size, uint32_t esz)
{
	struct dns_ring *r;

	if (size < 2 || (size & (size - 1))) {
		errno = EINVAL;
		return NULL;
	}
	esz = (esz + 7u) & ~7u;
	if (posix_memalign((void **)&r, 64, sizeof(*r) + (size_t)size * esz) != 0) {
		errno = ENOMEM;
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	r->mask = size - 1;
	r->esz = esz;
	return r;
}

/* ---- answers to waiters ------------------------------------------------ */

/* Copy @r with @cookie onto worker @w's answer ring, or queue it. */
static void post_worker(struct mx_dns_worker *w, uint64_t cookie, const struct mx_dns_result *r)
{
	size_t rsz = mx_dns_result_size(r);
	struct dns_ans *a;
	struct pend *p;

	if (!w->pend_head && (a = dns_ring_slot_put(w->ans))) {
		a->cookie = cookie;
		memcpy(&a->r, r, rsz);
		dns_ring_put_commit(w->ans);
		return;
	}
	p = malloc(offsetof(struct pend, a.r) + rsz);
	if (!p) {
		/* Nothing better to do: the session's park deadline answers 4xx. */
		MX_ERR("dns: out of memory queueing an answer for worker %u", w->idx);
		return;
	}
	p->next = NULL;
	p->a.cookie = cookie;
	memcpy(&p->a.r, r, rsz);
	if (w->pend_tail)
		w->pend_tail->next = p;
	else
		w->pend_head = p;
	w->pend_tail = p;
}

static void flush_pending(struct mx_dns_worker *w)
{
	struct dns_ans *a;

	while (w->pend_head && (a = dns_ring_slot_put(w->ans))) {
		struct pend *p = w->pend_head;
		a->cookie = p->a.cookie;
		memcpy(&a->r, &p->a.r, mx_dns_result_size(&p->a.r));
		dns_ring_put_commit(w->ans);
		w->pend_head = p->next;
		if (!w->pend_head)
			w->pend_tail = NULL;
		free(p);
		ctr_add(&D.pend_posted, 1);
	}
}

static void tempfail_result(struct mx_dns_result *r, uint8_t type)
{
	memset(r, 0, offsetof(struct mx_dns_result, u));
	r->type = type;
	r->status = MX_DNS_TEMPFAIL;
	r->text[0] = '\0'; /* MX_DNS_VERIFY results carry text[] whatever the status */
}

/* Hand @r to every waiter of the list @wt, freeing them. */
static void deliver(struct waiter *wt, const struct mx_dns_result *r)
{
	while (wt) {
		struct waiter *next = wt->next;
		if (wt->fn)
			wt->fn(wt->arg, r);
		else if (!D.shutting_down && wt->worker < D.nw)
			post_worker(&D.w[wt->worker], wt->cookie, r);
		free(wt);
		wt = next;
	}
}

/* Hand @r to every waiter of @q (already out of the table) and free @q. */
static void answer_waiters(struct inflight *q, const struct mx_dns_result *r)
{
	struct waiter *wt = q->waiters;

	free(q);
	deliver(wt, r);
}

/* ---- in-flight table ------------------------------------------------ */

static struct inflight *inflight_find(uint8_t type, const char *name, size_t len, uint64_t h)
{
	for (struct inflight *q = D.inflight[h & (INFLIGHT_HASH - 1)]; q; q = q->next)
		if (q->hash == h && q->type == type && q->len == len && !memcmp(q->name, name, len))
			return q;
	return NULL;
}

static void inflight_remove(struct inflight *q)
{
	struct inflight **pp = &D.inflight[q->hash & (INFLIGHT_HASH - 1)];

	while (*pp && *pp != q)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = q->next;
		D.n_inflight--;
	}
}

/* ---- c-ares glue ------------------------------------------------------ */

static void res_rearm(struct resolver *res)
{
	struct timeval tv, *t = ares_timeout(res->ch, NULL, &tv);

	if (!t) {
		mx_loop_timer_cancel(&res->timer);
		return;
	}
	mx_loop_timer_arm(&res->timer,
			  (uint64_t)t->tv_sec * 1000 + (uint64_t)(t->tv_usec + 999) / 1000);
}

static void on_res_timer(struct mx_loop_timer *t, void *arg)
{
	struct resolver *res = arg;

	(void)t;
	ares_process_fd(res->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	if (D.res == res)
		res_rearm(res);
}

static void on_sock(int fd, unsigned events, void *arg)
{
	struct resolver *res = arg;

	ares_process_fd(res->ch, (events & (MX_LOOP_IN | MX_LOOP_ERR)) ? fd : ARES_SOCKET_BAD,
			(events & MX_LOOP_OUT) ? fd : ARES_SOCKET_BAD);
	if (D.res == res)
		res_rearm(res);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	unsigned ev = (readable ? MX_LOOP_IN : 0) | (writable ? MX_LOOP_OUT : 0);
	int rc;

	if (!ev) {
		mx_loop_del(fd);
		return;
	}
	rc = mx_loop_add(fd, ev, on_sock, data);
	if (rc == -EEXIST)
		rc = mx_loop_mod(fd, ev);
	if (rc != 0)
		MX_ERR("dns: cannot watch resolver socket %d: %s", fd, strerror(-rc));
}

static void start_query(struct inflight *q);

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct inflight *q = arg;
	struct mx_dns_result r;
	uint32_t ttl = DNS_TTL_NONE;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION && !D.shutting_down && D.res) {
		/* Our old channel is being replaced: ask the new one. */
		start_query(q);
		return;
	}
	inflight_remove(q);
	memset(&r, 0, offsetof(struct mx_dns_result, u));
	switch (status) {
	case ARES_SUCCESS:
	case ARES_ENODATA:
	case ARES_ENOTFOUND:
		dns_parse_answer(q->type, abuf, alen, &r, &ttl);
		if (status == ARES_ENOTFOUND && r.status != MX_DNS_NXDOMAIN)
			tempfail_result(&r, q->type); /* no answer to read */
		break;
	case ARES_ETIMEOUT:
		tempfail_result(&r, q->type);
		ctr_add(&D.timeouts, 1);
		break;
	default:
		tempfail_result(&r, q->type);
		break;
	}
	if (r.status == MX_DNS_TEMPFAIL && status != ARES_ETIMEOUT)
		ctr_add(&D.servfail, 1);
	if (r.status != MX_DNS_TEMPFAIL) {
		bool neg = r.status != MX_DNS_OK;
		if (ttl == DNS_TTL_NONE)
			ttl = neg ? D.conf.neg_ttl_max : D.conf.min_ttl;
		r.ttl = dns_ttl_clamp(&D.conf, ttl, neg);
		if (D.cache && !D.shutting_down) {
			rcu_thread_online();
			if (dns_cache_put(D.cache, q->name, q->len, &r, clock_fn()) != 0)
				MX_WARN("dns: out of memory caching %s", q->name);
			rcu_thread_offline();
		}
	}
	answer_waiters(q, &r);
}

static const int qtype[] = {
	[MX_DNS_A] = 1, [MX_DNS_AAAA] = 28, [MX_DNS_PTR] = 12, [MX_DNS_TXT] = 16, [MX_DNS_MX] = 15,
};

void mx_dns_set_verifier(mx_dns_verify_fn fn, void (*cancel)(void))
{
	D.verifier = fn;
	D.verify_cancel = cancel;
}

void mx_dns_verify_done(void *token, struct mx_dns_result *r, uint32_t ttl_s)
{
	struct inflight *q = token;

	inflight_remove(q);
	r->type = MX_DNS_VERIFY;
	r->ttl = ttl_s;
	if (r->status != MX_DNS_TEMPFAIL && ttl_s && D.cache && !D.shutting_down) {
		rcu_thread_online();
		if (dns_cache_put(D.cache, q->name, q->len, r, clock_fn()) != 0)
			MX_WARN("dns: out of memory caching the verification of %s", q->name);
		rcu_thread_offline();
	}
	answer_waiters(q, r);
}

static void start_query(struct inflight *q)
{
	if (q->type == MX_DNS_VERIFY) {
		struct mx_dns_result r;
		if (D.verifier) {
			D.verifier(q->name, q->len, q);
			return;
		}
		tempfail_result(&r, q->type);
		mx_dns_verify_done(q, &r, 0);
		return;
	}
	ctr_add(&D.queries, 1);
	ares_query(D.res->ch, q->name, 1 /* C_IN */, qtype[q->type], on_answer, q);
	/* @q may be answered (and freed) already. */
	if (D.res)
		res_rearm(D.res);
}

static struct resolver *res_new(const struct mx_dns_conf *c, int *err)
{
	struct resolver *res = calloc(1, sizeof(*res));
	struct ares_options o;
	int rc;

	if (!res) {
		*err = -ENOMEM;
		return NULL;
	}
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = res;
	o.timeout = (int)c->timeout_ms;
	o.tries = (int)c->tries;
	/* EDNS0 with 1232 octets (the DNS flag day 2020 size): SPF TXT sets of
	 * large senders fit one UDP answer instead of a TCP retry; c-ares asks
	 * again without EDNS when a server answers FORMERR. */
	o.flags = ARES_FLAG_EDNS;
	o.ednspsz = 1232;
	rc = ares_init_options(&res->ch, &o,
			       ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
				       ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ);
	if (rc != ARES_SUCCESS) {
		MX_ERR("dns: cannot create a resolver: %s", ares_strerror(rc));
		free(res);
		*err = rc == ARES_ENOMEM ? -ENOMEM : -EIO;
		return NULL;
	}
	if (c->servers && c->servers[0] &&
	    (rc = ares_set_servers_ports_csv(res->ch, c->servers)) != ARES_SUCCESS) {
		MX_ERR("dns: [dns] servers = %s: %s", c->servers, ares_strerror(rc));
		ares_destroy(res->ch);
		free(res);
		*err = -EINVAL;
		return NULL;
	}
	mx_loop_timer_init(&res->timer, on_res_timer, res);
	return res;
}

/* Destroy @res; its pending queries are called back (EDESTRUCTION). */
static void res_free(struct resolver *res)
{
	if (!res)
		return;
	mx_loop_timer_cancel(&res->timer);
	ares_destroy(res->ch);
	mx_loop_timer_cancel(&res->timer);
	free(res);
}

/* ---- requests ------------------------------------------------------- */

/* Look @name up for the waiter @wt (consumed): answered from the cache at
 * once (returns true), or joined to a query in flight, or a query started;
 * TEMPFAIL at once when too many are in flight. */
static bool request(uint8_t type, const char *name, size_t len, struct waiter *wt)
{
	uint64_t h = dns_hash(D.seed, type, name, len);
	struct mx_dns_result r;
	struct inflight *q;
	int hit;

	rcu_thread_online();
	hit = dns_cache_get(D.cache, type, name, len, clock_fn(), &r);
	rcu_thread_offline();
	if (hit) {
		deliver(wt, &r);
		return true;
	}
	if ((q = inflight_find(type, name, len, h))) {
		wt->next = q->waiters;
		q->waiters = wt;
		ctr_add(&D.coalesced, 1);
		return false;
	}
	if (D.n_inflight >= D.conf.inflight_max || (!D.res && type != MX_DNS_VERIFY) ||
	    !(q = malloc(sizeof(*q)))) {
		tempfail_result(&r, type);
		ctr_add(&D.servfail, 1);
		deliver(wt, &r);
		return false;
	}
	q->hash = h;
	q->type = type;
	q->len = (uint8_t)len;
	memcpy(q->name, name, len + 1);
	q->waiters = wt;
	q->next = D.inflight[h & (INFLIGHT_HASH - 1)];
	D.inflight[h & (INFLIGHT_HASH - 1)] = q;
	D.n_inflight++;
	start_query(q);
	return false;
}

/* Take @w's requests; returns how many (and answers still queued). */
static unsigned drain_worker(struct mx_dns_worker *w)
{
	const struct dns_req *rq;
	unsigned i;

	flush_pending(w);
	/* Back-pressure: a worker that does not take its answers gets no new
	 * ones; its request ring fills and mx_dns_submit() refuses (TEMPFAIL)
	 * instead of answers piling up here without bound. */
	if (w->pend_head)
		return 1;
	for (i = 0; i < DRAIN_PER_TICK && (rq = dns_ring_slot_get(w->req)); i++) {
		struct waiter *wt = malloc(sizeof(*wt));
		char name[MX_DNS_NAME_MAX + 1];
		uint8_t type = rq->type, len = rq->len;
		uint64_t cookie = rq->cookie;

		memcpy(name, rq->name, (size_t)len + 1);
		dns_ring_get_commit(w->req);
		if (!wt) {
			struct mx_dns_result r;
			tempfail_result(&r, type);
			post_worker(w, cookie, &r);
			continue;
		}
		*wt = (struct waiter){.worker = w->idx, .cookie = cookie};
		request(type, name, len, wt);
	}
	return i + (w->pend_head != NULL);
}

static void on_tick(struct mx_loop_timer *t, void *arg)
{
	uint64_t now = clock_fn();
	unsigned busy = 0;

	(void)arg;
	__atomic_store_n(&dns_now, now, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < D.nw; i++)
		busy += drain_worker(&D.w[i]);
	/* Idle, tick slower: a first request waits at most TICK_IDLE_MS. */
	D.idle_ticks = busy ? 0 : D.idle_ticks + 1;
	if (now - D.last_expire_ms >= EXPIRE_EVERY) {
		D.last_expire_ms = now;
		rcu_thread_online();
		dns_cache_expire(D.cache, now, EXPIRE_SLICE);
		rcu_thread_offline();
	}
	mx_loop_timer_arm(t, D.idle_ticks > IDLE_TICKS ? TICK_IDLE_MS : TICK_MS);
}

/* ---- public: control thread --------------------------------------- */

static bool ares_conf_differs(const struct mx_dns_conf *a, const struct mx_dns_conf *b)
{
	const char *sa = a->servers ? a->servers : "", *sb = b->servers ? b->servers : "";

	return strcmp(sa, sb) != 0 || a->timeout_ms != b->timeout_ms || a->tries != b->tries;
}

static void conf_store(const struct mx_dns_conf *c)
{
	D.conf = *c;
	snprintf(D.servers, sizeof(D.servers), "%s", c->servers ? c->servers : "");
	D.conf.servers = D.servers;
	if (!D.conf.timeout_ms)
		D.conf.timeout_ms = 2000;
	if (!D.conf.tries)
		D.conf.tries = 2;
	if (!D.conf.inflight_max)
		D.conf.inflight_max = 4096;
	if (!D.conf.cache_max)
		D.conf.cache_max = 100000;
}

int mx_dns_init(const struct mx_dns_conf *conf, unsigned n_workers)
{
	static bool registered, lib_up;
	int rc = 0;

	mx_dns_verify_fn verifier = D.verifier;
	void (*verify_cancel)(void) = D.verify_cancel;

	if (D.up)
		return -EALREADY;
	memset(&D, 0, sizeof(D));
	/* The verifier is installed with the policy set, before the resolver
	 * starts at boot (ctl/main.c): keep it. */
	D.verifier = verifier;
	D.verify_cancel = verify_cancel;
	if (!lib_up) {
		if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
			MX_ERR("dns: ares_library_init: %s", ares_strerror(rc));
			return -EIO;
		}
		lib_up = true;
	}
	conf_store(conf);
	if (getrandom(&D.seed, sizeof(D.seed), 0) != sizeof(D.seed))
		D.seed = (uint64_t)clock_fn() * 0x9e3779b97f4a7c15ull;
	if (!(D.cache = dns_cache_new(D.conf.cache_max, D.seed)))
		return -ENOMEM;
	D.nw = n_workers;
	if (n_workers && !(D.w = calloc(n_workers, sizeof(*D.w)))) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < n_workers; i++) {
		D.w[i].idx = i;
		D.w[i].req = dns_ring_new(REQ_RING, sizeof(struct dns_req));
		D.w[i].ans = dns_ring_new(ANS_RING, sizeof(struct dns_ans));
		if (!D.w[i].req || !D.w[i].ans) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	if (!(D.res = res_new(&D.conf, &rc)))
		goto fail;
	dns_now = clock_fn();
	D.last_expire_ms = dns_now;
	mx_loop_timer_init(&D.tick, on_tick, NULL);
	mx_loop_timer_arm(&D.tick, TICK_MS);
	if (!registered) {
		rc = mx_ctr_register(&dns_group);
		if (rc != 0 && rc != -EEXIST)
			MX_WARN("dns: counters not registered: %s", strerror(-rc));
		registered = true;
		rc = 0;
	}
	D.up = true;
	MX_INFO("dns: resolver up (%s), %u worker(s), cache %u entries, TTL %u..%u s",
		D.servers[0] ? D.servers : "/etc/resolv.conf", n_workers, D.conf.cache_max,
		D.conf.min_ttl, D.conf.max_ttl);
	return 0;
fail:
	for (unsigned i = 0; D.w && i < n_workers; i++) {
		free(D.w[i].req);
		free(D.w[i].ans);
	}
	free(D.w);
	D.w = NULL;
	D.nw = 0;
	dns_cache_free(D.cache);
	D.cache = NULL;
	return rc;
}

int mx_dns_reconfigure(const struct mx_dns_conf *conf)
{
	struct mx_dns_conf old = D.conf;
	char old_servers[sizeof(D.servers)];
	int rc = 0;

	if (!D.up)
		return -ENODEV;
	memcpy(old_servers, D.servers, sizeof(old_servers));
	old.servers = old_servers;
	conf_store(conf);
	if (ares_conf_differs(&old, &D.conf)) {
		struct resolver *nr = res_new(&D.conf, &rc), * or = D.res;
		if (!nr) {
			D.conf = old;
			memcpy(D.servers, old_servers, sizeof(D.servers));
			D.conf.servers = D.servers;
			return rc;
		}
		D.res = nr;
		res_free(or); /* its queries move to @nr (on_answer) */
		MX_NOTICE("dns: resolver now %s, timeout %u ms, %u tries",
			  D.servers[0] ? D.servers : "/etc/resolv.conf", D.conf.timeout_ms,
			  D.conf.tries);
	}
	rcu_thread_online();
	dns_cache_set_max(D.cache, D.conf.cache_max);
	rcu_thread_offline();
	return 0;
}

void mx_dns_shutdown(void)
{
	if (!D.up)
		return;
	D.shutting_down = true;
	mx_loop_timer_cancel(&D.tick);
	res_free(D.res); /* every query in flight: TEMPFAIL to control callers */
	D.res = NULL;
	if (D.verify_cancel)
		D.verify_cancel(); /* every probe: TEMPFAIL */
	for (unsigned i = 0; i < INFLIGHT_HASH; i++)
		if (D.inflight[i])
			mx_panic("dns: query in flight after the resolver was destroyed");
	for (unsigned i = 0; i < D.nw; i++) {
		while (D.w[i].pend_head) {
			struct pend *p = D.w[i].pend_head;
			D.w[i].pend_head = p->next;
			free(p);
		}
		free(D.w[i].req);
		free(D.w[i].ans);
	}
	dns_cache_free(D.cache);
	D.cache = NULL;
	/* Counter reads after this see zeros. */
	__atomic_store_n(&D.nw, 0, __ATOMIC_RELAXED);
	free(D.w);
	D.w = NULL;
	D.up = false;
	MX_INFO("dns: resolver stopped");
}

int mx_dns_resolve(enum mx_dns_type type, const char *name, mx_dns_ctl_fn fn, void *arg)
{
	char n[MX_DNS_NAME_MAX + 1];
	struct waiter *wt;
	int len;

	if (!D.up)
		return -ENODEV;
	if (type < MX_DNS_A || type > MX_DNS_VERIFY || !fn)
		return -EINVAL;
	if ((len = dns_name_norm(name, n)) < 0)
		return len;
	if (!(wt = malloc(sizeof(*wt))))
		return -ENOMEM;
	*wt = (struct waiter){.fn = fn, .arg = arg};
	ctr_add(request((uint8_t)type, n, (size_t)len, wt) ? &D.ctl_hits : &D.ctl_miss, 1);
	return 0;
}

void mx_dns_conf_from_config(struct mx_dns_conf *out, const struct mx_config *c)
{
	out->servers = c->dns_servers;
	out->timeout_ms = (uint32_t)c->dns_timeout_ms;
	out->tries = (uint32_t)c->dns_tries;
	out->min_ttl = (uint32_t)c->dns_min_ttl;
	out->max_ttl = (uint32_t)c->dns_max_ttl;
	out->neg_ttl_max = (uint32_t)c->dns_neg_ttl_max;
	out->cache_max = (uint32_t)c->dns_cache_max;
	out->inflight_max = (uint32_t)c->dns_inflight_max;
}

/* Unit tests: replace the clock (ms) the cache and the tick use. */
void mx_dns_test_clock(uint64_t (*fn)(void));
void mx_dns_test_clock(uint64_t (*fn)(void))
{
	clock_fn = fn ? fn : mx_loop_now_ms;
	__atomic_store_n(&dns_now, clock_fn(), __ATOMIC_RELAXED);
}

/* ---- public: workers -------------------------------------------------- */

struct mx_dns_worker *mx_dns_worker(unsigned worker)
{
	return D.up && worker < D.nw ? &D.w[worker] : NULL;
}

int mx_dns_cached(struct mx_dns_worker *w, enum mx_dns_type type, const char *name,
		  struct mx_dns_result *out)
{
	char n[MX_DNS_NAME_MAX + 1];
	int len = dns_name_norm(name, n);

	if (len < 0 || !w)
		return 0;
	if (dns_cache_get(D.cache, (uint8_t)type, n, (size_t)len,
			  __atomic_load_n(&dns_now, __ATOMIC_RELAXED), out)) {
		ctr_add(&w->c.cache_hits, 1);
		return 1;
	}
	ctr_add(&w->c.cache_miss, 1);
	return 0;
}

int mx_dns_submit(struct mx_dns_worker *w, enum mx_dns_type type, const char *name, uint64_t cookie)
{
	struct dns_req *rq;
	int len;

	if (!w || type < MX_DNS_A || type > MX_DNS_VERIFY)
		return -EINVAL;
	if (!(rq = dns_ring_slot_put(w->req))) {
		ctr_add(&w->c.ring_full, 1);
		return -ENOBUFS;
	}
	if ((len = dns_name_norm(name, rq->name)) < 0)
		return len;
	rq->cookie = cookie;
	rq->type = (uint8_t)type;
	rq->len = (uint8_t)len;
	dns_ring_put_commit(w->req);
	return 0;
}

unsigned mx_dns_poll(struct mx_dns_worker *w, unsigned max, mx_dns_answer_fn fn, void *arg)
{
	const struct dns_ans *a;
	unsigned n = 0;

	while (n < max && (a = dns_ring_slot_get(w->ans))) {
		fn(arg, a->cookie, &a->r);
		dns_ring_get_commit(w->ans);
		n++;
	}
	return n;
}
