/*
 * store_redis.c - the shared store over Redis (store_redis.h): hiredis's
 * asynchronous context on the control loop, the worker rings, write-behind
 * with a backlog while Redis is down, lookups with a deadline, reconnects
 * with backoff, counters and `show cluster`.
 *
 * ADAPTER. hiredis 0.14 drives an event library through five callbacks in
 * ac->ev (add/del read, add/del write, cleanup); ours keeps the wanted
 * events and maps them to mx_loop_mod() on the context's fd, and the fd
 * callback calls redisAsyncHandleRead/Write. hiredis frees the context
 * itself on an I/O error (disconnect callback, then cleanup): after each
 * Handle call we check that the context is still ours before using it.
 *
 * MEMORY. Rings are malloc'd at boot; lookups in flight and the backlog
 * are malloc'd on the control thread (jemalloc in the daemon), bounded by
 * the rings' drain budget and [cluster] backlog_max.
 */
#include "policy/store_redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <urcu-qsbr.h>

#include "core/config.h"
#include "core/counters.h"
#include "core/log.h"
#include "core/loop.h"
#include "policy/dns.h"
#include "policy/dns_int.h"
#include "policy/grey_stage.h"
#include "policy/greylist.h"
#include "policy/ratelimit.h"
#include "policy/rl_stage.h"
#include "policy/verify.h"

#define REQ_RING       1024 /* requests per worker ring */
#define ANS_RING       1024 /* answers per worker ring */
#define DRAIN_PER_TICK 256  /* requests taken per worker per tick */
#define FLUSH_PER_TICK 2000 /* backlog writes sent per tick */
#define INFLIGHT_MAX   20000
#define TICK_MS	       1
#define TICK_IDLE_MS   10
#define IDLE_TICKS     200
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define PING_MS	       1000
#define RL_SYNC_MS     1000
#define RL_AGG_MAX     16384 /* buckets summed between syncs (power of two) */
#define RL_TTL_S       120
#define RL_QUIET_SYNCS 5 /* reads of a bucket after its last draw here */

/* INCRBY the window's counter, EXPIRE it when created; the new total. */
static const char rl_script[] =
	"local v = redis.call('INCRBY', KEYS[1], ARGV[1]) "
	"if v == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end "
	"return v";

struct store_req {
	uint64_t cookie;
	uint32_t first;
	uint8_t op; /* enum mx_store_op */
	uint16_t len;
	char key[GREY_KEY_MAX + 1];
};

struct store_ans {
	uint64_t cookie;
	uint8_t found;
};

struct store_worker {
	struct dns_ring *req; /* worker -> control */
	struct dns_ring *ans; /* control -> worker */
	uint64_t ring_full;   /* worker writes, control reads relaxed */
};

/* A write waiting for the connection (backlog), FIFO. */
struct store_write {
	struct store_write *next;
	uint32_t first;
	uint8_t op;
	uint16_t len;
	char key[];
};

/* A lookup sent, in deadline order (constant timeout: FIFO). */
struct store_lookup {
	struct store_lookup *prev, *next;
	uint64_t deadline_ms;
	uint64_t cookie;
	unsigned worker;
	uint32_t first;
	bool answered; /* timed out: answered "not found" already */
	bool write_new;
	pol_verify_shared_fn vfn; /* a verification's (key: the address); NULL: greylist */
	void *token;
	uint16_t len;
	char key[];
};

/* One bucket's draws since the last sync (control thread). */
struct rl_agg {
	uint8_t used, what, family, plen;
	uint8_t addr[16];
	uint32_t delta; /* drawn here, not sent yet */
	uint32_t quiet; /* syncs since the last draw here */
	uint64_t seen;	/* the window's total at the last reply */
};

/* A sync in flight. */
struct rl_sync {
	uint32_t gen, idx, sent;
};

enum store_state {
	ST_OFF = 0,  /* not configured */
	ST_DOWN,     /* waiting for the next attempt */
	ST_SENTINEL, /* asking a sentinel for the primary */
	ST_CONNECTING,
	ST_UP,
};

static const char *const state_names[] = {"off", "down", "sentinel", "connecting", "up"};

/* A context and the events hiredis wants on its fd (the adapter's). */
struct store_ad {
	redisAsyncContext *ac;
	int fd;
	unsigned ev; /* MX_LOOP_* */
};

#define SENTINELS_MAX 8

struct store_addr {
	char host[64];
	int port;
};

static struct {
	enum store_state state;
	bool up; /* workers read (relaxed) */
	char host[64];
	int port;
	char password[MX_CFG_STR];
	char username[MX_CFG_STR];
	char sent_password[MX_CFG_STR];
	char prefix[MX_CFG_STR];
	uint32_t lookup_ms, connect_ms;
	size_t backlog_max;
	redisAsyncContext *ac;	/* the primary's (NULL: none) */
	redisAsyncContext *sac; /* a sentinel's, while asking */
	redisAsyncContext *bac; /* a sentinel's, subscribed to +switch-master */
	struct store_ad pad, sad, bad;
	unsigned sub_i; /* the sentinel subscribed to */
	char role[16];
	char master[MX_CFG_STR];
	struct store_addr sent[SENTINELS_MAX];
	unsigned nsent, sent_i;
	struct store_worker *w;
	unsigned nw;
	struct mx_loop_timer tick, retry, conn_timer, ping;
	unsigned idle;
	uint32_t backoff_ms;
	struct store_write *bl_head, *bl_tail;
	struct store_lookup *lk_head, *lk_tail;
	struct mx_store_counters c;
	uint64_t ping_sent_ms;
	bool ping_out;
	struct rl_agg *agg;
	uint32_t agg_used, agg_gen;
	uint64_t agg_window; /* minute the table counts for */
	char rl_sha[41];     /* of rl_script once loaded; "": use EVAL */
	struct mx_loop_timer rl_timer;
	char last_err[128];
} S = {.pad = {.fd = -1}, .sad = {.fd = -1}, .bad = {.fd = -1}};

static void start_connect(void);
static redisReply *primary_reply(redisAsyncContext *ac, void *r);
static void subscribe_switch(void);

/* ---- counters --------------------------------------------------------------------- */

void mx_store_counters_read(struct mx_store_counters *out)
{
	*out = S.c;
	out->connected = S.state == ST_UP;
	out->ring_full = 0;
	for (unsigned i = 0; i < S.nw; i++)
		out->ring_full += __atomic_load_n(&S.w[i].ring_full, __ATOMIC_RELAXED);
}

static const struct mx_ctr_def store_defs[] = {MX_STORE_COUNTERS(MX_CTR_X_DEF)};

static void store_snap(unsigned inst, struct mx_store_counters *c)
{
	(void)inst;
	mx_store_counters_read(c);
}

MX_CTR_LIST_READER(store_read, MX_STORE_COUNTERS, mx_store_counters, store_snap)

static const struct mx_ctr_group store_group = {
	.name = "cluster",
	.scope = MX_CTR_GLOBAL,
	.defs = store_defs,
	.ndefs = sizeof(store_defs) / sizeof(store_defs[0]),
	.read = store_read,
};

/* The group exists whether or not a store is configured (metrics list). */
__attribute__((constructor)) static void store_register(void)
{
	mx_ctr_register(&store_group);
}

/* ---- worker side ---------------------------------------------------------------- */

bool mx_store_up(void)
{
	return __atomic_load_n(&S.up, __ATOMIC_RELAXED);
}

bool mx_store_configured(void)
{
	return S.nw > 0;
}

/* The next free request slot of @w, or NULL (ring full, counted). */
static struct store_req *req_slot(struct store_worker *w)
{
	struct store_req *rq = dns_ring_slot_put(w->req);

	if (!rq)
		__atomic_store_n(&w->ring_full, w->ring_full + 1, __ATOMIC_RELAXED);
	return rq;
}

int mx_store_grey_post(unsigned worker, enum mx_store_op op, const char *key, uint32_t first,
		       uint64_t cookie)
{
	struct store_worker *w;
	struct store_req *rq;
	size_t len;

	if (worker >= S.nw)
		return -ENOTCONN;
	len = strnlen(key, GREY_KEY_MAX + 1);
	if (len > GREY_KEY_MAX)
		return -ENAMETOOLONG;
	w = &S.w[worker];
	if (!(rq = req_slot(w)))
		return -ENOBUFS;
	rq->cookie = cookie;
	rq->first = first;
	rq->op = (uint8_t)op;
	rq->len = (uint16_t)len;
	memcpy(rq->key, key, len);
	rq->key[len] = '\0';
	dns_ring_put_commit(w->req);
	return 0;
}

int mx_store_rl_post(unsigned worker, int what, int family, const uint8_t *addr)
{
	struct store_worker *w;
	struct store_req *rq;

	if (worker >= S.nw)
		return -ENOTCONN;
	w = &S.w[worker];
	if (!(rq = req_slot(w)))
		return -ENOBUFS;
	rq->op = MX_STORE_RL;
	rq->first = (uint32_t)what;
	rq->len = (uint16_t)family;
	memcpy(rq->key, addr, 16);
	dns_ring_put_commit(w->req);
	return 0;
}

unsigned mx_store_poll(unsigned worker, unsigned max, mx_store_answer_fn fn, void *arg)
{
	const struct store_ans *a;
	unsigned n = 0;

	if (worker >= S.nw)
		return 0;
	while (n < max && (a = dns_ring_slot_get(S.w[worker].ans))) {
		uint64_t cookie = a->cookie;
		bool found = a->found;
		dns_ring_get_commit(S.w[worker].ans);
		fn(arg, cookie, found);
		n++;
	}
	return n;
}

/* ---- control side: answers ----------------------------------------------------------- */

static void answer(unsigned worker, uint64_t cookie, bool found)
{
	struct store_ans *a = dns_ring_slot_put(S.w[worker].ans);

	/* Lookups in flight per worker are bounded by its parked sessions
	 * (far below ANS_RING); if it ever fills, the park deadline of the
	 * session answers it. */
	if (!a) {
		S.c.errors++;
		return;
	}
	a->cookie = cookie;
	a->found = found;
	dns_ring_put_commit(S.w[worker].ans);
}

static void lk_unlink(struct store_lookup *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		S.lk_head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		S.lk_tail = l->prev;
	l->prev = l->next = NULL;
}

static void lk_append(struct store_lookup *l)
{
	l->prev = S.lk_tail;
	if (S.lk_tail)
		S.lk_tail->next = l;
	else
		S.lk_head = l;
	S.lk_tail = l;
}

/* Lookups past their deadline: the local verdict stands. */
static void expire_lookups(uint64_t now)
{
	for (struct store_lookup *l = S.lk_head; l && l->deadline_ms <= now; l = l->next) {
		if (l->answered)
			continue;
		l->answered = true;
		if (l->vfn) {
			pol_verify_shared_fn fn = l->vfn;
			l->vfn = NULL;
			S.c.verify_timeouts++;
			fn(l->token, NULL, 0, 0);
			continue;
		}
		S.c.timeouts++;
		answer(l->worker, l->cookie, false);
	}
}

/* ---- control side: commands -------------------------------------------------------------- */

static int key_argv(const char *key, size_t klen, char *buf, size_t blen)
{
	int n = snprintf(buf, blen, "%sg:%.*s", S.prefix, (int)klen, key);

	return n < 0 || (size_t)n >= blen ? -1 : n;
}

static struct store_write *write_new(uint8_t op, const char *key, size_t klen, uint32_t first)
{
	struct store_write *w = malloc(sizeof(*w) + klen + 1);

	if (!w) {
		S.c.writes_dropped++;
		return NULL;
	}
	w->next = NULL;
	w->op = op;
	w->first = first;
	w->len = (uint16_t)klen;
	memcpy(w->key, key, klen);
	w->key[klen] = '\0';
	return w;
}

/* Keep @w for later (owned), dropping the oldest beyond backlog_max. */
static void backlog_push(struct store_write *w)
{
	if (S.c.backlog >= S.backlog_max && S.bl_head) {
		struct store_write *old = S.bl_head;
		S.bl_head = old->next;
		if (!S.bl_head)
			S.bl_tail = NULL;
		free(old);
		S.c.backlog--;
		S.c.writes_dropped++;
	}
	w->next = NULL;
	if (S.bl_tail)
		S.bl_tail->next = w;
	else
		S.bl_head = w;
	S.bl_tail = w;
	S.c.backlog++;
}

static void backlog_add(uint8_t op, const char *key, size_t klen, uint32_t first)
{
	struct store_write *w = write_new(op, key, klen, first);

	if (w)
		backlog_push(w);
}

/* A write's reply; none (the link dropped first): kept for the next link. */
static void on_write_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct store_write *w = priv;
	redisReply *rep = r;

	(void)ac;
	if (S.c.inflight)
		S.c.inflight--;
	if (!rep) {
		backlog_push(w);
		return;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		S.c.errors++;
		MX_DEBUG("cluster: redis error: %s", rep->str);
	}
	free(w);
}

/* Send @w (owned) now: 0 (hiredis holds it until the reply) or -1 (not
 * connected: the caller keeps it). */
static int send_write(struct store_write *w)
{
	const struct mx_config *c = config_current();
	char k[MX_CFG_STR + GREY_KEY_MAX + 8], v[32], ttl[16];
	const char *argv[6];
	size_t argl[6];
	int kl, argc = 0;
	bool pass = w->op == MX_STORE_GREY_PASS;
	uint32_t window = c ? (uint32_t)c->grey_window_s : 2 * 86400;
	uint32_t age = c ? (uint32_t)c->grey_max_age_s : 35 * 86400;

	if (S.state != ST_UP || S.c.inflight >= INFLIGHT_MAX)
		return -1;
	kl = key_argv(w->key, w->len, k, sizeof(k));
	if (kl < 0) {
		free(w); /* cannot be written: dropped */
		S.c.writes_dropped++;
		return 0;
	}
	snprintf(v, sizeof(v), "%u %d", w->first, pass ? 1 : 0);
	snprintf(ttl, sizeof(ttl), "%u", pass ? age : window);
	argv[argc] = "SET", argl[argc++] = 3;
	argv[argc] = k, argl[argc++] = (size_t)kl;
	argv[argc] = v, argl[argc++] = strlen(v);
	argv[argc] = "EX", argl[argc++] = 2;
	argv[argc] = ttl, argl[argc++] = strlen(ttl);
	if (!pass)
		argv[argc] = "NX", argl[argc++] = 2;
	if (w->op == MX_STORE_GREY_TOUCH) { /* EXPIRE key max_age_s */
		snprintf(ttl, sizeof(ttl), "%u", age);
		argv[0] = "EXPIRE", argl[0] = 6;
		argv[2] = ttl, argl[2] = strlen(ttl);
		argc = 3;
	}
	if (redisAsyncCommandArgv(S.ac, on_write_reply, w, argc, argv, argl) != REDIS_OK)
		return -1;
	S.c.inflight++;
	S.c.writes++;
	return 0;
}

static void write_or_keep(uint8_t op, const char *key, size_t klen, uint32_t first)
{
	struct store_write *w = write_new(op, key, klen, first);

	if (!w || (!S.bl_head && send_write(w) == 0))
		return;
	backlog_push(w);
}

static unsigned flush_backlog(void)
{
	unsigned n = 0;

	while (S.bl_head && n < FLUSH_PER_TICK) {
		struct store_write *w = S.bl_head, *next = w->next;
		S.bl_head = next;
		if (!next)
			S.bl_tail = NULL;
		S.c.backlog--;
		if (send_write(w) != 0) { /* back at the head */
			w->next = S.bl_head;
			S.bl_head = w;
			if (!S.bl_tail)
				S.bl_tail = w;
			S.c.backlog++;
			break;
		}
		n++;
	}
	return n;
}

/* "first passed" from Redis into the local table. */
static bool merge(const struct store_lookup *l, const redisReply *rep)
{
	struct grey_table *g = grey_table();
	unsigned long first;
	int passed;

	if (!rep || rep->type != REDIS_REPLY_STRING ||
	    sscanf(rep->str, "%lu %d", &first, &passed) != 2)
		return false;
	if (!g)
		return false;
	rcu_thread_online();
	grey_merge_key(g, l->key, (uint32_t)first, passed != 0, (uint32_t)time(NULL));
	rcu_thread_offline();
	return true;
}

static void on_get_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct store_lookup *l = priv;
	redisReply *rep = r;
	bool found;

	(void)ac;
	if (S.c.inflight)
		S.c.inflight--;
	lk_unlink(l);
	if (!rep) { /* disconnected: the reply never comes */
		if (!l->answered) {
			S.c.timeouts++;
			answer(l->worker, l->cookie, false);
		}
		if (l->write_new)
			backlog_add(MX_STORE_GREY_NEW, l->key, l->len, l->first);
		free(l);
		return;
	}
	if (rep->type == REDIS_REPLY_ERROR)
		S.c.errors++;
	found = merge(l, rep);
	if (!l->answered) {
		if (found)
			S.c.hits++;
		else
			S.c.misses++;
		answer(l->worker, l->cookie, found);
	}
	if (!found && l->write_new)
		write_or_keep(MX_STORE_GREY_NEW, l->key, l->len, l->first);
	free(l);
}

static void send_lookup(unsigned worker, const struct store_req *rq)
{
	char k[MX_CFG_STR + GREY_KEY_MAX + 8];
	int kl = key_argv(rq->key, rq->len, k, sizeof(k));
	struct store_lookup *l;
	const char *argv[2] = {"GET", k};
	size_t argl[2] = {3, 0};

	if (S.state != ST_UP || kl < 0 || S.c.inflight >= INFLIGHT_MAX ||
	    !(l = calloc(1, sizeof(*l) + rq->len + 1))) {
		answer(worker, rq->cookie, false);
		if (rq->op == MX_STORE_GREY_ASK)
			write_or_keep(MX_STORE_GREY_NEW, rq->key, rq->len, rq->first);
		return;
	}
	argl[1] = (size_t)kl;
	l->deadline_ms = mx_loop_now_ms() + S.lookup_ms;
	l->cookie = rq->cookie;
	l->worker = worker;
	l->first = rq->first;
	l->write_new = rq->op == MX_STORE_GREY_ASK;
	l->len = rq->len;
	memcpy(l->key, rq->key, rq->len);
	if (redisAsyncCommandArgv(S.ac, on_get_reply, l, 2, argv, argl) != REDIS_OK) {
		answer(worker, rq->cookie, false);
		free(l);
		return;
	}
	S.c.inflight++;
	S.c.lookups++;
	lk_append(l);
}

/* ---- control side: recipient verifications ------------------------------------------- */

/* One command per lookup: the value and its remaining TTL. */
static const char verify_script[] =
	"return {redis.call('GET', KEYS[1]), redis.call('TTL', KEYS[1])}";

static void on_vget_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct store_lookup *l = priv;
	const redisReply *rep = r, *v = NULL;
	pol_verify_shared_fn fn = l->answered ? NULL : l->vfn;
	long long ttl = 0;

	(void)ac;
	if (S.c.inflight)
		S.c.inflight--;
	lk_unlink(l);
	l->vfn = NULL;
	if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_STRING &&
	    rep->element[1]->type == REDIS_REPLY_INTEGER && rep->element[0]->len > 4) {
		v = rep->element[0];
		ttl = rep->element[1]->integer;
	} else if (rep && rep->type == REDIS_REPLY_ERROR) {
		S.c.errors++;
	}
	if (fn) {
		if (!rep)
			S.c.verify_timeouts++;
		else if (v && ttl > 0)
			S.c.verify_hits++;
		else
			S.c.verify_misses++;
		if (v && ttl > 0)
			fn(l->token, v->str, v->len,
			   (uint32_t)(ttl > UINT32_MAX ? UINT32_MAX : ttl));
		else
			fn(l->token, NULL, 0, 0);
	}
	free(l);
}

static int verify_get(const char *addr, void *token, pol_verify_shared_fn fn)
{
	size_t alen = strlen(addr);
	char k[MX_CFG_STR + 272];
	int kl = snprintf(k, sizeof(k), "%sv:%s", S.prefix, addr);
	const char *argv[4] = {"EVAL", verify_script, "1", k};
	size_t argl[4] = {4, sizeof(verify_script) - 1, 1, 0};
	struct store_lookup *l;

	if (S.state != ST_UP || kl < 0 || (size_t)kl >= sizeof(k) || S.c.inflight >= INFLIGHT_MAX ||
	    !(l = calloc(1, sizeof(*l) + alen + 1)))
		return -1;
	argl[3] = (size_t)kl;
	l->deadline_ms = mx_loop_now_ms() + S.lookup_ms;
	l->vfn = fn;
	l->token = token;
	l->len = (uint16_t)alen;
	memcpy(l->key, addr, alen);
	if (redisAsyncCommandArgv(S.ac, on_vget_reply, l, 4, argv, argl) != REDIS_OK) {
		free(l);
		return -1;
	}
	S.c.inflight++;
	S.c.verify_lookups++;
	lk_append(l);
	return 0;
}

static void verify_forget(void *token)
{
	for (struct store_lookup *l = S.lk_head; l; l = l->next)
		if (l->vfn && l->token == token)
			l->vfn = NULL, l->answered = true;
}

static void on_vput_reply(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *rep = primary_reply(ac, r);

	(void)priv;
	if (rep && rep->type == REDIS_REPLY_ERROR)
		S.c.errors++;
}

static void verify_put(const char *addr, int code, const char *text, uint32_t ttl_s)
{
	char k[MX_CFG_STR + 272], v[MX_DNS_TEXT_MAX + 8], ttl[16];
	int kl = snprintf(k, sizeof(k), "%sv:%s", S.prefix, addr);
	int vl = snprintf(v, sizeof(v), "%03d %s", code, text);
	const char *argv[5] = {"SET", k, v, "EX", ttl};
	size_t argl[5] = {3, 0, 0, 2, 0};

	if (!S.nw)
		return;
	if (S.state != ST_UP || kl < 0 || (size_t)kl >= sizeof(k) || vl < 0 ||
	    S.c.inflight >= INFLIGHT_MAX) {
		S.c.verify_dropped++;
		return;
	}
	argl[1] = (size_t)kl;
	argl[2] = (size_t)vl < sizeof(v) ? (size_t)vl : sizeof(v) - 1;
	argl[4] = (size_t)snprintf(ttl, sizeof(ttl), "%u", ttl_s ? ttl_s : 1);
	if (redisAsyncCommandArgv(S.ac, on_vput_reply, NULL, 5, argv, argl) != REDIS_OK) {
		S.c.verify_dropped++;
		return;
	}
	S.c.inflight++;
	S.c.verify_writes++;
}

static const struct pol_verify_share verify_share = {
	.get = verify_get,
	.forget = verify_forget,
	.put = verify_put,
};

/* ---- control side: shared rate limits ------------------------------------------------- */

static uint32_t agg_hash(const struct rl_agg *k)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = (h ^ k->what) * 0x100000001b3ull;
	h = (h ^ k->plen) * 0x100000001b3ull;
	for (unsigned i = 0; i < 16; i++)
		h = (h ^ k->addr[i]) * 0x100000001b3ull;
	return (uint32_t)(h ^ (h >> 32));
}

/* Add @n draws to the bucket (@what, @family, @addr masked to @plen). */
static void agg_add(uint8_t what, uint8_t family, const uint8_t *addr, unsigned plen, uint32_t n)
{
	struct rl_agg k = {.used = 1, .what = what, .family = family, .plen = (uint8_t)plen};
	uint32_t i;

	memcpy(k.addr, addr, plen / 8);
	if (plen % 8)
		k.addr[plen / 8] = addr[plen / 8] & (uint8_t)(0xff00u >> (plen % 8));
	i = agg_hash(&k) & (RL_AGG_MAX - 1);
	for (unsigned p = 0; p < RL_AGG_MAX; p++, i = (i + 1) & (RL_AGG_MAX - 1)) {
		struct rl_agg *a = &S.agg[i];
		if (!a->used) {
			if (S.agg_used >= RL_AGG_MAX * 3 / 4)
				break;
			*a = k;
			S.agg_used++;
		} else if (a->what != k.what || a->plen != k.plen ||
			   memcmp(a->addr, k.addr, sizeof(k.addr)) != 0) {
			continue;
		}
		a->delta += n;
		a->quiet = 0;
		return;
	}
	S.c.rl_dropped++;
}

static void rl_note(const struct store_req *rq)
{
	const struct mx_config *c = config_current();
	struct rl_limits lim;
	uint8_t what = (uint8_t)rq->first, fam = rq->len == 6 ? 6 : 4;
	const uint8_t *addr = (const uint8_t *)rq->key;

	if (!c || !S.agg)
		return;
	rl_limits_of(c, &lim);
	if (what == RL_MSG ? lim.msg_per_ip : lim.rcpt_per_ip)
		agg_add(what, fam, addr, fam == 6 ? 128 : 32, 1);
	if (what == RL_MSG ? lim.msg_per_net : lim.rcpt_per_net)
		agg_add(what, fam, addr, fam == 6 ? lim.v6_prefix : lim.v4_prefix, 1);
}

static uint32_t rate_of(const struct rl_limits *l, const struct rl_agg *a)
{
	bool ip = a->plen == (a->family == 6 ? 128 : 32);

	if (a->what == RL_MSG)
		return ip ? l->msg_per_ip : l->msg_per_net;
	return ip ? l->rcpt_per_ip : l->rcpt_per_net;
}

static void on_rl_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct rl_sync *sy = priv;
	redisReply *rep = r;
	const struct mx_config *c = config_current();
	struct rl_table *t = rl_table();

	(void)ac;
	if (S.c.inflight)
		S.c.inflight--;
	if (rep && rep->type == REDIS_REPLY_ERROR) {
		S.c.errors++;
		if (strncmp(rep->str, "NOSCRIPT", 8) == 0)
			S.rl_sha[0] = '\0'; /* EVAL until it is loaded again */
	}
	if (rep && rep->type == REDIS_REPLY_INTEGER && sy->gen == S.agg_gen && S.agg && c && t) {
		struct rl_agg *a = &S.agg[sy->idx];
		uint64_t total = (uint64_t)rep->integer;
		uint64_t mine = a->seen + sy->sent;
		struct rl_limits lim;

		if (total > mine) {
			uint64_t other = total - mine;
			rl_limits_of(c, &lim);
			rcu_thread_online();
			rl_charge(t, a->what, a->family, a->addr, a->plen, rate_of(&lim, a),
				  other > UINT32_MAX ? UINT32_MAX : (uint32_t)other,
				  rl_clock(t) > rl_now_ns() ? rl_clock(t) : rl_now_ns());
			rcu_thread_offline();
			S.c.rl_charged += other;
		}
		if (total > a->seen)
			a->seen = total;
	}
	free(sy);
}

static void on_script_loaded(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *rep = r;

	(void)ac;
	(void)priv;
	if (S.c.inflight)
		S.c.inflight--;
	if (rep && rep->type == REDIS_REPLY_STRING && rep->len == 40)
		memcpy(S.rl_sha, rep->str, 41);
}

/* A new minute: a new table, keeping the draws not sent yet (counted in
 * the new window); replies of the old one are ignored (generation). */
static void agg_roll(uint64_t window)
{
	struct rl_agg *keep = malloc(sizeof(*keep) * S.agg_used + 1);
	uint32_t n = 0;

	for (uint32_t i = 0; keep && i < RL_AGG_MAX; i++)
		if (S.agg[i].used && S.agg[i].delta)
			keep[n++] = S.agg[i];
	memset(S.agg, 0, sizeof(*S.agg) * RL_AGG_MAX);
	S.agg_used = 0;
	S.agg_gen++;
	S.agg_window = window;
	for (uint32_t i = 0; i < n; i++)
		agg_add(keep[i].what, keep[i].family, keep[i].addr, keep[i].plen, keep[i].delta);
	free(keep);
}

/* Once a second: each bucket's draws to Redis. */
static void on_rl_sync(struct mx_loop_timer *t, void *arg)
{
	uint64_t window = (uint64_t)time(NULL) / 60;

	(void)arg;
	if (window != S.agg_window && S.agg)
		agg_roll(window);
	for (uint32_t i = 0; S.state == ST_UP && i < RL_AGG_MAX && S.agg_used; i++) {
		struct rl_agg *a = &S.agg[i];
		char key[MX_CFG_STR + 96], ip[INET6_ADDRSTRLEN], n[16], ttl[8];
		const char *argv[6];
		size_t argl[6];
		struct rl_sync *sy;
		int kl, rc;

		/* A bucket drawn on here lately is read (INCRBY 0) for a few
		 * more seconds: draws synced by other nodes after ours. */
		if (!a->used || (!a->delta && a->quiet >= RL_QUIET_SYNCS) ||
		    S.c.inflight >= INFLIGHT_MAX)
			continue;
		a->quiet++;
		inet_ntop(a->family == 6 ? AF_INET6 : AF_INET, a->addr, ip, sizeof(ip));
		kl = snprintf(key, sizeof(key), "%sr:%c:%s/%u:%llu", S.prefix,
			      a->what == RL_MSG ? 'm' : 'r', ip, a->plen,
			      (unsigned long long)S.agg_window);
		sy = malloc(sizeof(*sy));
		if (kl < 0 || (size_t)kl >= sizeof(key) || !sy) {
			free(sy);
			continue;
		}
		*sy = (struct rl_sync){.gen = S.agg_gen, .idx = i, .sent = a->delta};
		snprintf(n, sizeof(n), "%u", a->delta);
		snprintf(ttl, sizeof(ttl), "%d", RL_TTL_S);
		argv[0] = S.rl_sha[0] ? "EVALSHA" : "EVAL";
		argv[1] = S.rl_sha[0] ? S.rl_sha : rl_script;
		argv[2] = "1";
		argv[3] = key;
		argv[4] = n;
		argv[5] = ttl;
		for (int k = 0; k < 6; k++)
			argl[k] = k == 3 ? (size_t)kl : strlen(argv[k]);
		rc = redisAsyncCommandArgv(S.ac, on_rl_reply, sy, 6, argv, argl);
		if (rc != REDIS_OK) {
			free(sy);
			break;
		}
		S.c.inflight++;
		S.c.rl_syncs++;
		a->delta = 0;
	}
	mx_loop_timer_arm(t, RL_SYNC_MS);
}

static unsigned drain_worker(unsigned i)
{
	const struct store_req *rq;
	unsigned n;

	for (n = 0; n < DRAIN_PER_TICK && (rq = dns_ring_slot_get(S.w[i].req)); n++) {
		if (rq->op == MX_STORE_RL)
			rl_note(rq);
		else if (rq->op == MX_STORE_GREY_ASK || rq->op == MX_STORE_GREY_GET)
			send_lookup(i, rq);
		else
			write_or_keep(rq->op, rq->key, rq->len, rq->first);
		dns_ring_get_commit(S.w[i].req);
	}
	return n;
}

static void on_tick(struct mx_loop_timer *t, void *arg)
{
	unsigned busy = 0;

	(void)arg;
	for (unsigned i = 0; i < S.nw; i++)
		busy += drain_worker(i);
	if (S.state == ST_UP)
		busy += flush_backlog();
	expire_lookups(mx_loop_now_ms());
	if (busy || S.lk_head)
		S.idle = 0;
	else if (S.idle <= IDLE_TICKS)
		S.idle++;
	mx_loop_timer_arm(t, S.idle > IDLE_TICKS ? TICK_IDLE_MS : TICK_MS);
}

/* ---- connection ------------------------------------------------------------------------ */

static void set_state(enum store_state st, const char *why)
{
	if (S.state == st)
		return;
	MX_DEBUG("cluster: %s -> %s", state_names[S.state], state_names[st]);
	if (st == ST_UP)
		MX_NOTICE("cluster: connected to redis %s:%d", S.host, S.port);
	else if (S.state == ST_UP)
		MX_WARN("cluster: lost redis %s:%d (%s): greylisting per node until it returns",
			S.host, S.port, why ? why : "?");
	S.state = st;
	__atomic_store_n(&S.up, st == ST_UP, __ATOMIC_RELAXED);
	if (why)
		snprintf(S.last_err, sizeof(S.last_err), "%s", why);
}

static void schedule_retry(const char *why)
{
	set_state(ST_DOWN, why);
	mx_loop_timer_cancel(&S.conn_timer);
	mx_loop_timer_cancel(&S.ping);
	mx_loop_timer_arm(&S.retry, S.backoff_ms);
	S.backoff_ms = S.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : S.backoff_ms * 2;
}

/* The adapter: one per context (the primary's, a sentinel's). */
static void ad_set(void *p, unsigned bit, bool on)
{
	struct store_ad *ad = p;

	ad->ev = on ? ad->ev | bit : ad->ev & ~bit;
	if (ad->fd >= 0)
		mx_loop_mod(ad->fd, ad->ev);
}

static void ad_add_read(void *p)
{
	ad_set(p, MX_LOOP_IN, true);
}

static void ad_del_read(void *p)
{
	ad_set(p, MX_LOOP_IN, false);
}

static void ad_add_write(void *p)
{
	ad_set(p, MX_LOOP_OUT, true);
}

static void ad_del_write(void *p)
{
	ad_set(p, MX_LOOP_OUT, false);
}

static void ad_cleanup(void *p)
{
	struct store_ad *ad = p;

	if (ad->fd >= 0)
		mx_loop_del(ad->fd);
	ad->fd = -1;
	ad->ev = 0;
	ad->ac = NULL;
}

static void on_fd(int fd, unsigned events, void *arg)
{
	struct store_ad *ad = arg;
	redisAsyncContext *ac = ad->ac;

	(void)fd;
	if (ac && (events & (MX_LOOP_IN | MX_LOOP_ERR)))
		redisAsyncHandleRead(ac);
	if (ac && ad->ac == ac && (events & MX_LOOP_OUT))
		redisAsyncHandleWrite(ac);
}

/* Connect to @host:@port with the adapter @ad. The context, or NULL with
 * the reason in @why. */
static redisAsyncContext *ad_connect(struct store_ad *ad, const char *host, int port, char *why,
				     size_t wlen)
{
	redisAsyncContext *ac = redisAsyncConnect(host, port);
	int rc;

	if (!ac || ac->err) {
		snprintf(why, wlen, "%s", ac ? ac->errstr : "out of memory");
		if (ac)
			redisAsyncFree(ac);
		return NULL;
	}
	ad->ac = ac;
	ad->fd = ac->c.fd;
	ad->ev = 0;
	rc = mx_loop_add(ad->fd, 0, on_fd, ad);
	if (rc) {
		snprintf(why, wlen, "%s", strerror(-rc));
		ad->fd = -1;
		ad->ac = NULL;
		redisAsyncFree(ac);
		return NULL;
	}
	ac->ev.data = ad;
	ac->ev.addRead = ad_add_read;
	ac->ev.delRead = ad_del_read;
	ac->ev.addWrite = ad_add_write;
	ac->ev.delWrite = ad_del_write;
	ac->ev.cleanup = ad_cleanup;
	return ac;
}

/* ---- the primary ------------------------------------------------------------------------ */

static void lost(const char *why)
{
	S.ac = NULL;
	S.ping_out = false;
	S.c.disconnects++;
	S.c.inflight = 0;
	schedule_retry(why);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	char why[128];

	if (ac != S.ac)
		return;
	snprintf(why, sizeof(why), "%s",
		 S.last_err[0] && status == REDIS_OK ? S.last_err
		 : status == REDIS_OK		     ? "closed"
						     : ac->errstr);
	lost(why);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	if (ac != S.ac)
		return;
	/* On failure hiredis frees the context after this callback. */
	if (status != REDIS_OK)
		lost(ac->errstr);
}

/* ROLE: "master" keeps the link; anything else (a replica after a
 * failover, a sentinel's stale answer) drops it and asks again. */
static bool role_ok(const redisReply *rep)
{
	const redisReply *r0;

	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1)
		return false;
	r0 = rep->element[0];
	snprintf(S.role, sizeof(S.role), "%.*s", r0->type == REDIS_REPLY_STRING ? (int)r0->len : 1,
		 r0->type == REDIS_REPLY_STRING ? r0->str : "?");
	return strcmp(S.role, "master") == 0;
}

/* A reply to the primary's context, counted; NULL: none or a context
 * already dropped. */
static redisReply *primary_reply(redisAsyncContext *ac, void *r)
{
	if (S.c.inflight)
		S.c.inflight--;
	return ac == S.ac ? r : NULL;
}

/* Drop the link after a refusal (the replies still due are read first). */
static void refuse_link(redisAsyncContext *ac, const char *why)
{
	snprintf(S.last_err, sizeof(S.last_err), "%s", why);
	MX_WARN("cluster: redis %s:%d: %s", S.host, S.port, why);
	redisAsyncDisconnect(ac);
}

static void on_role(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *rep = primary_reply(ac, r);

	(void)priv;
	if (!rep)
		return;
	S.ping_out = false;
	if (rep->type == REDIS_REPLY_ERROR || !role_ok(rep)) {
		refuse_link(ac,
			    rep->type == REDIS_REPLY_ERROR ? rep->str : "not the primary any more");
		return;
	}
	if (S.state == ST_UP)
		return;
	mx_loop_timer_cancel(&S.conn_timer);
	S.backoff_ms = BACKOFF_MIN_MS;
	S.c.connects++;
	set_state(ST_UP, NULL);
	S.last_err[0] = '\0';
	mx_loop_timer_arm(&S.ping, PING_MS);
	subscribe_switch();
	S.idle = 0;
	S.rl_sha[0] = '\0';
	if (redisAsyncCommand(ac, on_script_loaded, NULL, "SCRIPT LOAD %s", rl_script) == REDIS_OK)
		S.c.inflight++;
}

static void on_auth(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *rep = primary_reply(ac, r);

	(void)priv;
	if (rep && rep->type == REDIS_REPLY_ERROR)
		refuse_link(ac, rep->str);
}

/* Once a second: ROLE. Unanswered a second later (a paused or cut-off
 * peer; its lookups timed out already): the link is dropped. */
static void on_ping(struct mx_loop_timer *t, void *arg)
{
	(void)arg;
	if (S.state != ST_UP || !S.ac)
		return;
	if (S.ping_out) {
		/* Freed, not disconnected: a disconnect would wait for the
		 * replies of a peer that sends none. Pending lookups are
		 * answered "not found", pending writes go back to the backlog. */
		redisAsyncContext *ac = S.ac;
		MX_WARN("cluster: redis %s:%d does not answer", S.host, S.port);
		lost("no answer to ROLE");
		redisAsyncFree(ac);
		return;
	}
	subscribe_switch();
	if (redisAsyncCommand(S.ac, on_role, NULL, "ROLE") == REDIS_OK) {
		S.ping_out = true;
		S.c.inflight++;
	}
	mx_loop_timer_arm(t, PING_MS);
}

static void connect_primary(void)
{
	char why[128];
	redisAsyncContext *ac;

	set_state(ST_CONNECTING, NULL);
	ac = ad_connect(&S.pad, S.host, S.port, why, sizeof(why));
	if (!ac) {
		S.c.disconnects++;
		schedule_retry(why);
		return;
	}
	S.ac = ac;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	if (S.password[0] &&
	    (S.username[0]
		     ? redisAsyncCommand(ac, on_auth, NULL, "AUTH %s %s", S.username, S.password)
		     : redisAsyncCommand(ac, on_auth, NULL, "AUTH %s", S.password)) == REDIS_OK)
		S.c.inflight++;
	if (redisAsyncCommand(ac, on_role, NULL, "ROLE") == REDIS_OK)
		S.c.inflight++;
	mx_loop_timer_arm(&S.conn_timer, S.connect_ms);
}

/* ---- sentinels -------------------------------------------------------------------------- */

static void sentinel_failed(const char *why)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "sentinel %s:%d: %s", S.sent[S.sent_i].host,
		 S.sent[S.sent_i].port, why);
	MX_WARN("cluster: %s", msg);
	S.sent_i = (S.sent_i + 1) % S.nsent; /* the next one next time */
	S.c.disconnects++;
	schedule_retry(msg);
}

static void on_sentinel_disconnect(const redisAsyncContext *ac, int status)
{
	(void)status;
	if (ac == S.sac) {
		S.sac = NULL;
		if (S.state == ST_SENTINEL)
			sentinel_failed(ac->errstr[0] ? ac->errstr : "closed");
	}
}

static void on_sentinel_connect(const redisAsyncContext *ac, int status)
{
	if (ac == S.sac && status != REDIS_OK) {
		S.sac = NULL;
		sentinel_failed(ac->errstr);
	}
}

static void on_sentinel_reply(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *rep = r;
	char host[64];
	long port;

	(void)priv;
	if (ac != S.sac || !rep || S.state != ST_SENTINEL)
		return;
	S.sac = NULL;
	redisAsyncDisconnect(ac); /* after this callback returns */
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    rep->element[1]->type != REDIS_REPLY_STRING || rep->element[0]->len >= sizeof(host)) {
		sentinel_failed(rep->type == REDIS_REPLY_ERROR ? rep->str : "master unknown");
		return;
	}
	memcpy(host, rep->element[0]->str, rep->element[0]->len);
	host[rep->element[0]->len] = '\0';
	port = strtol(rep->element[1]->str, NULL, 10);
	if (port < 1 || port > 65535) {
		sentinel_failed("bad port");
		return;
	}
	if (strcmp(host, S.host) != 0 || port != S.port)
		MX_NOTICE("cluster: sentinel %s:%d: primary of \"%s\" is %s:%ld",
			  S.sent[S.sent_i].host, S.sent[S.sent_i].port, S.master, host, port);
	snprintf(S.host, sizeof(S.host), "%s", host);
	S.port = (int)port;
	mx_loop_timer_cancel(&S.conn_timer);
	connect_primary();
}

static void ask_sentinel(void)
{
	char why[128];
	redisAsyncContext *ac;

	set_state(ST_SENTINEL, NULL);
	ac = ad_connect(&S.sad, S.sent[S.sent_i].host, S.sent[S.sent_i].port, why, sizeof(why));
	if (!ac) {
		sentinel_failed(why);
		return;
	}
	S.sac = ac;
	redisAsyncSetConnectCallback(ac, on_sentinel_connect);
	redisAsyncSetDisconnectCallback(ac, on_sentinel_disconnect);
	if (S.sent_password[0]) /* refused: the next command's NOAUTH says why */
		redisAsyncCommand(ac, NULL, NULL, "AUTH %s", S.sent_password);
	redisAsyncCommand(ac, on_sentinel_reply, NULL, "SENTINEL get-master-addr-by-name %s",
			  S.master);
	mx_loop_timer_arm(&S.conn_timer, S.connect_ms);
}

/* +switch-master "<name> <old ip> <old port> <new ip> <new port>": the
 * link to the old primary is dropped at once and the sentinels asked
 * again (the ROLE check stays the fallback). */
static void on_switch(redisAsyncContext *ac, void *r, void *priv)
{
	const redisReply *rep = r, *m;
	char name[MX_CFG_STR], oip[64], nip[64];
	int oport, nport;

	(void)priv;
	if (ac == S.bac && rep && rep->type == REDIS_REPLY_ERROR) { /* NOAUTH, ... */
		MX_WARN("cluster: sentinel %s:%d: SUBSCRIBE +switch-master: %s",
			S.sent[S.sub_i].host, S.sent[S.sub_i].port, rep->str);
		redisAsyncDisconnect(ac);
		return;
	}
	if (ac != S.bac || !rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
	    rep->element[0]->type != REDIS_REPLY_STRING)
		return;
	m = rep->element[2];
	if (m->type != REDIS_REPLY_STRING || strcmp(rep->element[0]->str, "message") != 0 ||
	    sscanf(m->str, "%255s %63s %d %63s %d", name, oip, &oport, nip, &nport) != 5 ||
	    strcmp(name, S.master) != 0)
		return;
	S.c.switches++;
	MX_NOTICE("cluster: sentinel %s:%d: +switch-master \"%s\" %s:%d -> %s:%d",
		  S.sent[S.sub_i].host, S.sent[S.sub_i].port, S.master, oip, oport, nip, nport);
	if (S.ac && (strcmp(nip, S.host) != 0 || nport != S.port)) {
		redisAsyncContext *old = S.ac;
		lost("+switch-master");
		redisAsyncFree(old); /* lookups answered "not found", writes kept */
	}
}

static void on_sub_disconnect(const redisAsyncContext *ac, int status)
{
	(void)status;
	if (ac != S.bac)
		return;
	S.bac = NULL;
	S.sub_i = (S.sub_i + 1) % S.nsent; /* another one at the next ROLE check */
}

static void on_sub_connect(const redisAsyncContext *ac, int status)
{
	if (ac == S.bac && status != REDIS_OK)
		on_sub_disconnect(ac, status);
}

/* With sentinels and no subscription: subscribe (at each ROLE check). */
static void subscribe_switch(void)
{
	char why[128];
	redisAsyncContext *ac;

	if (!S.nsent || S.bac)
		return;
	ac = ad_connect(&S.bad, S.sent[S.sub_i].host, S.sent[S.sub_i].port, why, sizeof(why));
	if (!ac) {
		S.sub_i = (S.sub_i + 1) % S.nsent;
		return;
	}
	S.bac = ac;
	redisAsyncSetConnectCallback(ac, on_sub_connect);
	redisAsyncSetDisconnectCallback(ac, on_sub_disconnect);
	if (S.sent_password[0])
		redisAsyncCommand(ac, NULL, NULL, "AUTH %s", S.sent_password);
	redisAsyncCommand(ac, on_switch, NULL, "SUBSCRIBE +switch-master");
}

static void on_conn_timeout(struct mx_loop_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	if (S.sac && S.state == ST_SENTINEL) {
		redisAsyncContext *ac = S.sac;
		S.sac = NULL;
		redisAsyncFree(ac);
		sentinel_failed("timeout");
	} else if (S.ac && S.state == ST_CONNECTING) {
		redisAsyncContext *ac = S.ac;
		snprintf(S.last_err, sizeof(S.last_err), "connect timeout");
		S.ac = NULL;
		redisAsyncFree(ac);
		lost("connect timeout");
	}
}

/* With sentinels, each (re)connection asks them for the primary first:
 * a failover is followed when a sentinel announces it (+switch-master,
 * subscribed on a connection of its own) or else at the next disconnect
 * or ROLE check. */
static void start_connect(void)
{
	if (S.nsent)
		ask_sentinel();
	else
		connect_primary();
}

static void on_retry(struct mx_loop_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	if (S.state == ST_DOWN)
		start_connect();
}

/* ---- boot ------------------------------------------------------------------------------ */

/* "IP:PORT", "[IPv6]:PORT" or "IP" (port 6379). Literal addresses only:
 * hiredis resolves names with a blocking getaddrinfo(). */
static int parse_addr(const char *s, char *host, size_t hlen, int *port)
{
	const char *colon;
	char tmp[64];
	unsigned char a[16];
	size_t l;

	*port = 6379;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || (size_t)(end - s - 1) >= sizeof(tmp))
			return -1;
		memcpy(tmp, s + 1, (size_t)(end - s - 1));
		tmp[end - s - 1] = '\0';
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			return -1;
	} else {
		colon = strrchr(s, ':');
		l = colon ? (size_t)(colon - s) : strlen(s);
		if (l >= sizeof(tmp))
			return -1;
		memcpy(tmp, s, l);
		tmp[l] = '\0';
	}
	if (inet_pton(AF_INET, tmp, a) != 1 && inet_pton(AF_INET6, tmp, a) != 1)
		return -1;
	if (colon) {
		char *end;
		long p = strtol(colon + 1, &end, 10);
		if (*end || p < 1 || p > 65535)
			return -1;
		*port = (int)p;
	}
	snprintf(host, hlen, "%s", tmp);
	return 0;
}

int mx_store_boot(const struct mx_config *c, unsigned nworkers, char *err, size_t errlen)
{
	if (!c->cluster_redis[0] && !c->cluster_sentinels[0])
		return 0;
	if (c->cluster_sentinels[0]) {
		char list[MX_CFG_STR], *save = NULL;

		snprintf(list, sizeof(list), "%s", c->cluster_sentinels);
		for (char *tok = strtok_r(list, ", ", &save); tok;
		     tok = strtok_r(NULL, ", ", &save)) {
			struct store_addr *a = &S.sent[S.nsent];
			if (S.nsent == SENTINELS_MAX ||
			    parse_addr(tok, a->host, sizeof(a->host), &a->port) != 0) {
				snprintf(err, errlen,
					 "[cluster] sentinels: \"%s\" is not IP:PORT (at most %d)",
					 tok, SENTINELS_MAX);
				MX_ERR("%s", err);
				S.nsent = 0;
				return -1;
			}
			S.nsent++;
		}
		if (!c->cluster_sentinel_master[0]) {
			snprintf(err, errlen, "[cluster] sentinels set without sentinel_master");
			MX_ERR("%s", err);
			S.nsent = 0;
			return -1;
		}
		snprintf(S.master, sizeof(S.master), "%s", c->cluster_sentinel_master);
	}
	if (c->cluster_redis[0] &&
	    parse_addr(c->cluster_redis, S.host, sizeof(S.host), &S.port) != 0) {
		snprintf(err, errlen, "[cluster] redis: \"%s\" is not IP:PORT", c->cluster_redis);
		MX_ERR("%s", err);
		S.nsent = 0;
		return -1;
	}
	snprintf(S.password, sizeof(S.password), "%s", c->cluster_password);
	snprintf(S.username, sizeof(S.username), "%s", c->cluster_username);
	snprintf(S.sent_password, sizeof(S.sent_password), "%s", c->cluster_sentinel_password);
	snprintf(S.prefix, sizeof(S.prefix), "%s", c->cluster_prefix);
	S.lookup_ms = (uint32_t)c->cluster_lookup_timeout_ms;
	S.connect_ms = (uint32_t)c->cluster_connect_timeout_ms;
	S.backlog_max = (size_t)c->cluster_backlog_max;
	S.w = calloc(nworkers ? nworkers : 1, sizeof(*S.w));
	if (!S.w)
		goto nomem;
	for (unsigned i = 0; i < nworkers; i++) {
		S.w[i].req = dns_ring_new(REQ_RING, sizeof(struct store_req));
		S.w[i].ans = dns_ring_new(ANS_RING, sizeof(struct store_ans));
		if (!S.w[i].req || !S.w[i].ans) {
			S.nw = i + 1;
			goto nomem;
		}
	}
	S.nw = nworkers;
	S.agg = calloc(RL_AGG_MAX, sizeof(*S.agg));
	if (!S.agg)
		goto nomem;
	S.agg_window = (uint64_t)time(NULL) / 60;
	mx_loop_timer_init(&S.rl_timer, on_rl_sync, NULL);
	mx_loop_timer_arm(&S.rl_timer, RL_SYNC_MS);
	S.backoff_ms = BACKOFF_MIN_MS;
	mx_loop_timer_init(&S.tick, on_tick, NULL);
	mx_loop_timer_init(&S.retry, on_retry, NULL);
	mx_loop_timer_init(&S.conn_timer, on_conn_timeout, NULL);
	mx_loop_timer_init(&S.ping, on_ping, NULL);
	S.state = ST_DOWN;
	pol_verify_set_share(&verify_share);
	MX_NOTICE("cluster: shared store redis %s:%d, prefix \"%s\", lookup timeout %u ms", S.host,
		  S.port, S.prefix, S.lookup_ms);
	start_connect();
	mx_loop_timer_arm(&S.tick, TICK_MS);
	return 0;
nomem:
	snprintf(err, errlen, "[cluster]: out of memory");
	MX_ERR("%s", err);
	mx_store_shutdown();
	return -1;
}

void mx_store_shutdown(void)
{
	if (!S.w)
		return;
	pol_verify_set_share(NULL);
	mx_loop_timer_cancel(&S.tick);
	mx_loop_timer_cancel(&S.retry);
	mx_loop_timer_cancel(&S.conn_timer);
	mx_loop_timer_cancel(&S.ping);
	mx_loop_timer_cancel(&S.rl_timer);
	if (S.ac) {
		redisAsyncContext *ac = S.ac;
		S.ac = NULL; /* callbacks see NULL replies and free their lookups */
		redisAsyncFree(ac);
	}
	if (S.sac) {
		redisAsyncContext *ac = S.sac;
		S.sac = NULL;
		redisAsyncFree(ac);
	}
	if (S.bac) {
		redisAsyncContext *ac = S.bac;
		S.bac = NULL;
		redisAsyncFree(ac);
	}
	S.nsent = 0;
	if (S.c.backlog)
		MX_WARN("cluster: %llu greylist writes not sent at shutdown",
			(unsigned long long)S.c.backlog);
	while (S.bl_head) {
		struct store_write *w = S.bl_head;
		S.bl_head = w->next;
		free(w);
	}
	S.bl_tail = NULL;
	while (S.lk_head) {
		struct store_lookup *l = S.lk_head;
		lk_unlink(l);
		free(l);
	}
	for (unsigned i = 0; i < S.nw; i++) {
		free(S.w[i].req);
		free(S.w[i].ans);
	}
	free(S.w);
	S.w = NULL;
	free(S.agg);
	S.agg = NULL;
	S.agg_used = 0;
	S.nw = 0;
	S.state = ST_OFF;
	__atomic_store_n(&S.up, false, __ATOMIC_RELAXED);
}

/* ---- show ------------------------------------------------------------------------------- */

void mx_store_show(char *buf, size_t len)
{
	struct mx_store_counters c;
	char sent[64] = "";

	if (!S.nw) {
		snprintf(buf, len, "cluster off ([cluster] redis and sentinels not set)\n");
		return;
	}
	mx_store_counters_read(&c);
	if (S.nsent)
		snprintf(sent, sizeof(sent), " sentinel %s:%d master \"%.16s\"",
			 S.sent[S.sent_i].host, S.sent[S.sent_i].port, S.master);
	snprintf(
		buf, len,
		"cluster redis %s:%d role %s state %s prefix \"%s\"%s%s%s\n"
		"pending writes %llu inflight %llu\n"
		"lookups %llu hits %llu misses %llu timeouts %llu\n"
		"writes %llu dropped %llu errors %llu ring_full %llu\n"
		"ratelimit syncs %llu charged %llu dropped %llu\n"
		"verify lookups %llu hits %llu misses %llu timeouts %llu writes %llu dropped %llu\n"
		"connects %llu disconnects %llu switches %llu%s\n",
		S.host[0] ? S.host : "-", S.port, S.state == ST_UP ? "primary" : "-",
		state_names[S.state], S.prefix, sent, S.last_err[0] ? " last_error " : "",
		S.last_err, (unsigned long long)c.backlog, (unsigned long long)c.inflight,
		(unsigned long long)c.lookups, (unsigned long long)c.hits,
		(unsigned long long)c.misses, (unsigned long long)c.timeouts,
		(unsigned long long)c.writes, (unsigned long long)c.writes_dropped,
		(unsigned long long)c.errors, (unsigned long long)c.ring_full,
		(unsigned long long)c.rl_syncs, (unsigned long long)c.rl_charged,
		(unsigned long long)c.rl_dropped, (unsigned long long)c.verify_lookups,
		(unsigned long long)c.verify_hits, (unsigned long long)c.verify_misses,
		(unsigned long long)c.verify_timeouts, (unsigned long long)c.verify_writes,
		(unsigned long long)c.verify_dropped, (unsigned long long)c.connects,
		(unsigned long long)c.disconnects, (unsigned long long)c.switches,
		!S.nsent ? ""
		: S.bac	 ? " subscribed +switch-master"
			 : " not subscribed");
}
