/*
 * sessions.c - the operator's view of live SMTP sessions, in the style of
 * HAProxy's `show sess` / `shutdown session`:
 *
 *   show sessions [json] [net CIDR] [state NAME]
 *   kill session ID          (ID as shown: WORKER-SERIAL)
 *   kill sessions CIDR       (every session of a client network)
 *   show top [conns|msgs|bytes|refused] [N] [json]   top talkers
 *
 * Workers are asked through their ctl box (smtp/ctlbox.h): a request is
 * posted to every worker's box, a loop timer polls the answers every
 * millisecond, and the deferred ctl client gets its answer when every
 * worker has answered (or SESS_DEADLINE_MS passed: the late workers are
 * named). Requests are served one at a time, in order of arrival, from a
 * FIFO of jobs (malloc'ed here, control thread); a client that goes away
 * leaves its job to finish unanswered.
 */
#include "ctl/sessions.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/counters.h"
#include "core/log.h"
#include "core/loop.h"
#include "ctl/ctl.h"
#include "dataplane/dataplane.h"
#include "smtp/ctlbox.h"
#include "smtp/host-t.h"
#include "smtp/server.h"
#include "smtp/smtp.h"

#define SESS_POLL_MS	 1
#define SESS_DEADLINE_MS 2000

struct sess_job {
	struct sess_job *next;
	struct ctl_out *o;     /* NULL: internal (kill all) */
	struct ctl_client *cl; /* deferred client; NULL once abandoned */
	enum smtp_ctlbox_op op;
	uint64_t id;	      /* KILL_ID: serial */
	int worker;	      /* KILL_ID: its worker */
	struct smtp_peer net; /* KILL_NET, LIST filter (family 0: none) */
	unsigned prefix;
	int state; /* LIST filter: enum smtp_state, -1 none */
	bool json;
	bool posted;
	bool gone; /* the client went away: finish unanswered */
	uint64_t deadline_ms;
	unsigned total; /* LIST: shown; KILL: ended */
	int top_by;	/* TOP: sort key (enum top_key) */
	unsigned top_n; /* TOP: rows */
};

static struct sess_job *head, *tail;
static struct mx_loop_timer poll_timer;
static bool timer_ready;

unsigned sessions_open(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < dp_nworkers(); i++)
		n += smtp_server_sessions(i);
	return n;
}

static const char *park_name(unsigned kind)
{
	switch (kind) {
	case SMTP_TICKET_NONE:
		return "-";
	case SMTP_TICKET_SPOOL:
		return "spool";
	case SMTP_TICKET_DNS:
		return "dns";
	case SMTP_TICKET_STORE:
		return "store";
	default:
		return "other";
	}
}

/* Parse "a.b.c.d/len", "a:b::/len" or a bare address (host route). */
static int parse_net(const char *arg, struct smtp_peer *net, unsigned *prefix)
{
	char buf[64], *slash, *end;
	unsigned max;

	if (strlen(arg) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", arg);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	memset(net, 0, sizeof(*net));
	if (inet_pton(AF_INET, buf, net->addr) == 1)
		net->family = 4;
	else if (inet_pton(AF_INET6, buf, net->addr) == 1)
		net->family = 6;
	else
		return -1;
	max = net->family == 4 ? 32 : 128;
	*prefix = max;
	if (slash) {
		unsigned long v = strtoul(slash + 1, &end, 10);
		if (*end || end == slash + 1 || v > max)
			return -1;
		*prefix = (unsigned)v;
	}
	return 0;
}

static int parse_state(const char *name)
{
	for (int st = 0; st < SMTP_ST_COUNT; st++)
		if (strcasecmp(name, smtp_state_name((enum smtp_state)st)) == 0)
			return st;
	return -1;
}

static void json_str(struct ctl_out *o, const char *s)
{
	struct mx_buf b = {0};

	mx_ctr_json_escape(&b, s);
	ctl_printf(o, "\"%s\"", b.p ? b.p : "");
	mx_buf_free(&b);
}

/* Text values must stay one token: a HELO or sender with spaces or
 * controls (the engine refuses most) is shown with those as '?'. */
static void token(char *dst, size_t n, const char *src)
{
	size_t i = 0;

	for (; src[i] && i + 1 < n; i++)
		dst[i] = (src[i] <= ' ' || src[i] == 0x7f) ? '?' : src[i];
	dst[i] = '\0';
	if (i == 0 && n > 1)
		snprintf(dst, n, "-");
}

static void print_session(struct sess_job *j, unsigned w, const struct smtp_sess_info *s)
{
	char addr[INET6_ADDRSTRLEN], helo[sizeof(s->helo)], from[sizeof(s->from)],
		rdns[sizeof(s->rdns)];
	const char *st = smtp_state_name((enum smtp_state)s->state);

	inet_ntop(s->peer.family == 6 ? AF_INET6 : AF_INET, s->peer.addr, addr, sizeof(addr));
	if (j->json) {
		ctl_printf(j->o,
			   "%s{\"id\":\"%u-%" PRIu64 "\",\"worker\":%u,\"slot\":%u,\"client\":",
			   j->total ? "," : "", w, s->serial, w, s->slot);
		json_str(j->o, addr);
		ctl_printf(j->o, ",\"port\":%u,\"rdns\":", s->peer.port);
		json_str(j->o, s->rdns);
		ctl_printf(j->o, ",\"helo\":");
		json_str(j->o, s->helo);
		ctl_printf(j->o, ",\"state\":\"%s\",\"from\":", st);
		json_str(j->o, s->from);
		ctl_printf(j->o,
			   ",\"rcpts\":%u,\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
			   ",\"age_ms\":%" PRIu64 ",\"idle_ms\":%" PRIu64
			   ",\"parked\":\"%s\",\"tls\":%s,\"killing\":%s}",
			   s->nrcpt, s->bytes_in, s->bytes_out, s->age_us / 1000, s->idle_us / 1000,
			   park_name(s->park_kind), s->tls ? "true" : "false",
			   s->kill_pending ? "true" : "false");
		return;
	}
	token(helo, sizeof(helo), s->helo);
	token(from, sizeof(from), s->from);
	token(rdns, sizeof(rdns), s->rdns);
	ctl_printf(j->o,
		   "%u-%" PRIu64
		   " worker=%u client=%s%s%s:%u rdns=%s helo=%s state=%s from=%s rcpts=%u "
		   "in=%" PRIu64 " out=%" PRIu64 " age_ms=%" PRIu64 " idle_ms=%" PRIu64
		   " parked=%s tls=%s%s\n",
		   w, s->serial, w, s->peer.family == 6 ? "[" : "", addr,
		   s->peer.family == 6 ? "]" : "", s->peer.port, rdns, helo, st, from, s->nrcpt,
		   s->bytes_in, s->bytes_out, s->age_us / 1000, s->idle_us / 1000,
		   park_name(s->park_kind), s->tls ? "yes" : "no",
		   s->kill_pending ? " killing=1" : "");
}

static void job_post(struct sess_job *j)
{
	for (unsigned w = 0; w < dp_nworkers(); w++) {
		struct smtp_ctlbox *b = smtp_server_ctlbox(w);

		if (!b || (j->op == SMTP_CTLBOX_KILL_ID && (int)w != j->worker))
			continue;
		b->op = (uint8_t)j->op;
		b->id = j->id;
		b->net = j->net;
		b->prefix = (uint8_t)j->prefix;
		if (smtp_ctlbox_post(b) != 0) /* a job abandoned at its deadline */
			continue;
	}
	j->posted = true;
	j->deadline_ms = mx_loop_now_ms() + SESS_DEADLINE_MS;
	if (j->json && j->o && j->op == SMTP_CTLBOX_LIST)
		ctl_printf(j->o, "{\"sessions\":[");
}

static bool job_answered(char *late, size_t n)
{
	bool all = true;

	late[0] = '\0';
	for (unsigned w = 0; w < dp_nworkers(); w++) {
		struct smtp_ctlbox *b = smtp_server_ctlbox(w);

		if (b && !smtp_ctlbox_answered(b)) {
			size_t l = strlen(late);
			snprintf(late + l, n - l, "%s%u", l ? "," : "", w);
			all = false;
		}
	}
	return all;
}

enum top_key { TOP_CONNS = 0, TOP_MSGS, TOP_BYTES, TOP_REFUSED };
static const char *const top_keys[] = {"conns", "msgs", "bytes", "refused"};

static uint64_t top_val(const struct smtp_top_entry *e, int key)
{
	switch (key) {
	case TOP_MSGS:
		return e->msgs;
	case TOP_BYTES:
		return e->bytes;
	case TOP_REFUSED:
		return e->refused;
	default:
		return e->conns;
	}
}

static int cmp_addr(const void *a, const void *b)
{
	const struct smtp_top_entry *x = a, *y = b;

	if (x->peer.family != y->peer.family)
		return (int)x->peer.family - (int)y->peer.family;
	return memcmp(x->peer.addr, y->peer.addr, sizeof(x->peer.addr));
}

static int top_sort_key;
static int cmp_val(const void *a, const void *b)
{
	uint64_t x = top_val(a, top_sort_key), y = top_val(b, top_sort_key);

	return x < y ? 1 : x > y ? -1 : cmp_addr(a, b);
}

/* Every worker's table, merged by address (RSS may spread one client's
 * connections over workers), sorted by the key, the first N printed. */
static void top_finish(struct sess_job *j)
{
	unsigned nw = dp_nworkers(), n = 0, m = 0;
	uint64_t evicted = 0;
	struct smtp_top_entry *all = calloc((size_t)nw * SMTP_TOP_SLOTS + 1, sizeof(*all));

	if (!all) {
		ctl_error(j->o, "out of memory");
		return;
	}
	for (unsigned w = 0; w < nw; w++) {
		struct smtp_ctlbox *b = smtp_server_ctlbox(w);
		if (!b)
			continue;
		evicted += __atomic_load_n(&b->top_evicted, __ATOMIC_RELAXED);
		for (unsigned i = 0; i < SMTP_TOP_SLOTS; i++)
			if (b->top_snap[i].peer.family)
				all[n++] = b->top_snap[i];
	}
	qsort(all, n, sizeof(*all), cmp_addr);
	for (unsigned i = 0; i < n; i++) {
		if (m && cmp_addr(&all[m - 1], &all[i]) == 0) {
			all[m - 1].conns += all[i].conns;
			all[m - 1].msgs += all[i].msgs;
			all[m - 1].bytes += all[i].bytes;
			all[m - 1].refused += all[i].refused;
		} else {
			all[m++] = all[i];
		}
	}
	top_sort_key = j->top_by;
	qsort(all, m, sizeof(*all), cmp_val);
	if (m > j->top_n)
		m = j->top_n;
	if (j->json)
		ctl_printf(j->o, "{\"by\":\"%s\",\"top\":[", top_keys[j->top_by]);
	else
		ctl_printf(j->o, "%-39s %10s %10s %14s %10s\n", "client", "conns", "msgs", "bytes",
			   "refused");
	for (unsigned i = 0; i < m; i++) {
		char addr[INET6_ADDRSTRLEN];
		const struct smtp_top_entry *e = &all[i];

		inet_ntop(e->peer.family == 6 ? AF_INET6 : AF_INET, e->peer.addr, addr,
			  sizeof(addr));
		if (j->json)
			ctl_printf(j->o,
				   "%s{\"client\":\"%s\",\"conns\":%" PRIu64 ",\"msgs\":%" PRIu64
				   ",\"bytes\":%" PRIu64 ",\"refused\":%" PRIu64 "}",
				   i ? "," : "", addr, e->conns, e->msgs, e->bytes, e->refused);
		else
			ctl_printf(j->o,
				   "%-39s %10" PRIu64 " %10" PRIu64 " %14" PRIu64 " %10" PRIu64
				   "\n",
				   addr, e->conns, e->msgs, e->bytes, e->refused);
	}
	if (j->json)
		ctl_printf(j->o, "],\"evicted\":%" PRIu64 "}\n", evicted);
	else
		ctl_printf(j->o,
			   "(finished sessions since start, by %s; %" PRIu64
			   " addresses pushed out of the bounded tables)\n",
			   top_keys[j->top_by], evicted);
	free(all);
}

static void job_finish(struct sess_job *j, const char *late)
{
	for (unsigned w = 0; w < dp_nworkers() && !late[0]; w++) {
		struct smtp_ctlbox *b = smtp_server_ctlbox(w);

		if (!b || (j->op == SMTP_CTLBOX_KILL_ID && (int)w != j->worker))
			continue;
		if (j->op != SMTP_CTLBOX_LIST) {
			j->total += b->n;
			continue;
		}
		for (unsigned i = 0; i < b->n && j->o; i++) {
			const struct smtp_sess_info *s = &b->snap[i];
			if (j->state >= 0 && s->state != j->state)
				continue;
			if (j->net.family && !smtp_peer_in_net(&s->peer, &j->net, j->prefix))
				continue;
			print_session(j, w, s);
			j->total++;
		}
	}
	if (j->gone)
		return;
	if (!j->o) {
		MX_NOTICE("sessions: %u ended (421 4.3.2)%s%s", j->total,
			  late[0] ? "; workers not answering: " : "", late);
		return;
	}
	if (late[0]) {
		j->o->len = 0; /* drop a partial JSON opening */
		ctl_error(j->o, "workers %s did not answer within %d ms", late, SESS_DEADLINE_MS);
	} else if (j->op == SMTP_CTLBOX_TOP) {
		top_finish(j);
	} else if (j->op == SMTP_CTLBOX_LIST) {
		if (j->json)
			ctl_printf(j->o, "],\"count\":%u}\n", j->total);
		else
			ctl_printf(j->o, "sessions %u\n", j->total);
	} else if (j->op == SMTP_CTLBOX_KILL_ID && j->total == 0) {
		ctl_error(j->o, "no live session %d-%" PRIu64 " (ended already?)", j->worker,
			  j->id);
	} else {
		ctl_printf(j->o, "killed %u\n", j->total);
	}
	if (j->cl)
		ctl_complete(j->cl);
}

static void on_poll(struct mx_loop_timer *t, void *arg)
{
	char late[256];

	(void)t;
	(void)arg;
	while (head) {
		struct sess_job *j = head;
		if (!j->posted)
			job_post(j);
		if (!job_answered(late, sizeof(late)) && mx_loop_now_ms() < j->deadline_ms) {
			mx_loop_timer_arm(&poll_timer, SESS_POLL_MS);
			return;
		}
		head = j->next;
		if (!head)
			tail = NULL;
		job_finish(j, late);
		free(j);
	}
}

static void job_abandon(void *arg)
{
	struct sess_job *j = arg;

	j->cl = NULL;
	j->o = NULL; /* gone with the client */
	j->gone = true;
}

static void job_queue(struct sess_job *j)
{
	if (!timer_ready) {
		mx_loop_timer_init(&poll_timer, on_poll, NULL);
		timer_ready = true;
	}
	if (tail)
		tail->next = j;
	else
		head = j;
	tail = j;
	if (!mx_loop_timer_armed(&poll_timer))
		mx_loop_timer_arm(&poll_timer, 0);
}

/* A job answered to @o later; NULL (answered with an error) if @o cannot
 * wait (not a socket client) or memory ran out. */
static struct sess_job *job_new(struct ctl_out *o, enum smtp_ctlbox_op op)
{
	struct sess_job *j = calloc(1, sizeof(*j));

	if (!j) {
		if (o)
			ctl_error(o, "out of memory");
		else
			MX_ERR("sessions: out of memory for a kill request");
		return NULL;
	}
	j->o = o;
	j->op = op;
	j->state = -1;
	j->worker = -1;
	if (o && !(j->cl = ctl_defer(o, job_abandon, j))) {
		free(j);
		ctl_error(o, "this command needs the running daemon's workers");
		return NULL;
	}
	return j;
}

static void cmd_show_sessions(struct ctl_out *o, int argc, char **argv)
{
	struct smtp_peer net = {0};
	unsigned prefix = 0;
	int state = -1;
	bool json = false;
	struct sess_job *j;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "net") == 0 && i + 1 < argc) {
			if (parse_net(argv[++i], &net, &prefix) != 0)
				return ctl_error(o, "show sessions: net %s: expected ADDRESS[/LEN]",
						 argv[i]);
		} else if (strcmp(argv[i], "state") == 0 && i + 1 < argc) {
			if ((state = parse_state(argv[++i])) < 0)
				return ctl_error(o,
						 "show sessions: state %s: not a session state "
						 "(greeting, init, ready, mail, rcpt, data, "
						 "chunking, bdat, noservice, tls_wait, closing)",
						 argv[i]);
		} else {
			return ctl_error(o, "usage: show sessions [json] [net CIDR] [state NAME]");
		}
	}
	if (!(j = job_new(o, SMTP_CTLBOX_LIST)))
		return;
	j->json = json;
	j->net = net;
	j->prefix = prefix;
	j->state = state;
	job_queue(j);
}

static void cmd_kill_session(struct ctl_out *o, int argc, char **argv)
{
	unsigned long w;
	unsigned long long serial;
	char *end;
	struct sess_job *j;

	if (argc != 1)
		return ctl_error(o, "usage: kill session ID (as 'show sessions' prints it: W-N)");
	w = strtoul(argv[0], &end, 10);
	if (end == argv[0] || *end != '-' || w >= dp_nworkers())
		return ctl_error(o, "kill session %s: expected WORKER-SERIAL, worker < %u", argv[0],
				 dp_nworkers());
	serial = strtoull(end + 1, &end, 10);
	if (*end || serial == 0)
		return ctl_error(o, "kill session %s: expected WORKER-SERIAL", argv[0]);
	if (!(j = job_new(o, SMTP_CTLBOX_KILL_ID)))
		return;
	j->worker = (int)w;
	j->id = serial;
	job_queue(j);
}

static void cmd_kill_sessions(struct ctl_out *o, int argc, char **argv)
{
	struct sess_job *j;
	struct smtp_peer net;
	unsigned prefix;

	if (argc != 1 || parse_net(argv[0], &net, &prefix) != 0)
		return ctl_error(o, "usage: kill sessions ADDRESS[/LEN] (0.0.0.0/0 and ::/0: all)");
	if (!(j = job_new(o, SMTP_CTLBOX_KILL_NET)))
		return;
	j->net = net;
	j->prefix = prefix;
	job_queue(j);
}

static void cmd_show_top(struct ctl_out *o, int argc, char **argv)
{
	struct sess_job *j;
	int by = TOP_CONNS;
	unsigned long n = 20;
	bool json = false;

	for (int i = 0; i < argc; i++) {
		char *end;
		bool key = false;
		for (int k = 0; k < 4; k++)
			if (strcmp(argv[i], top_keys[k]) == 0) {
				by = k;
				key = true;
			}
		if (key)
			continue;
		if (strcmp(argv[i], "json") == 0) {
			json = true;
			continue;
		}
		n = strtoul(argv[i], &end, 10);
		if (*end || n == 0 || n > 100000)
			return ctl_error(o,
					 "usage: show top [conns|msgs|bytes|refused] [N] [json]");
	}
	if (!(j = job_new(o, SMTP_CTLBOX_TOP)))
		return;
	j->top_by = by;
	j->top_n = (unsigned)n;
	j->json = json;
	job_queue(j);
}

void sessions_kill_all(void)
{
	static const char *const nets[] = {"0.0.0.0/0", "::/0"};

	for (unsigned i = 0; i < 2; i++) {
		struct sess_job *j = job_new(NULL, SMTP_CTLBOX_KILL_NET);
		if (!j)
			return;
		parse_net(nets[i], &j->net, &j->prefix);
		job_queue(j);
	}
}

static const struct ctl_cmd session_cmds[] = {
	{.words = {"show", "sessions"},
	 .usage = "[json] [net CIDR] [state NAME]",
	 .help = "live SMTP sessions: client, reverse name, HELO, state, sender, bytes, age, "
		 "parked-on",
	 .fn = cmd_show_sessions},
	{.words = {"show", "top"},
	 .usage = "[conns|msgs|bytes|refused] [N] [json]",
	 .help = "top talkers: client addresses by sessions, messages, bytes or refusals",
	 .fn = cmd_show_top},
	{.words = {"kill", "session"},
	 .usage = "ID",
	 .help = "end one session (421 4.3.2, then close)",
	 .flags = CTL_F_PRIV,
	 .fn = cmd_kill_session},
	{.words = {"kill", "sessions"},
	 .usage = "ADDRESS[/LEN]",
	 .help = "end every session of a client network (421 4.3.2)",
	 .flags = CTL_F_PRIV,
	 .fn = cmd_kill_sessions},
};

__attribute__((constructor)) static void register_sessions(void)
{
	for (unsigned i = 0; i < sizeof(session_cmds) / sizeof(session_cmds[0]); i++)
		ctl_register(&session_cmds[i]);
}
