/*
 * policy.c - the policy set (parsed [policy] keys, replies, tables), its
 * publication with RCU, and the checks as pure functions over a struct
 * pol_input. See policy.h.
 *
 * Memory: a set and its tables are malloc'd on the control thread by
 * pol_set_build(); pol_publish() takes it; a retired set goes through
 * call_rcu() to a lock-free stack (the callback runs on liburcu's call_rcu
 * thread, where cds_lfht_destroy() is not allowed) and is destroyed by
 * pol_collect() on the control thread (a loop timer, every reload, and
 * pol_shutdown()).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <urcu-qsbr.h>
#include <urcu/lfstack.h>

#include "core/log.h"
#include "core/loop.h"
#include "policy/dns.h"
#include "policy/policy.h"

/* RFC 6761/6762/8375 special-use names and the made-up ones that leak from
 * LANs (RFC 8375 home.arpa; ".lan", ".internal", ".localdomain" are what
 * routers and installers default to). No such name is a host on the
 * Internet, so no mail server announces one. */
static const char *const special_builtin[] = {
	"local", "localhost", "invalid",   "test",	  "example",
	"lan",	 "internal",  "home.arpa", "localdomain", NULL,
};

struct pol_reply_def {
	uint16_t code;
	char enh[8];
	char text[160];
};

struct pol_set {
	struct rcu_head rcu;
	struct cds_lfs_node retired;
	bool enabled, delay_reject, helo_checks, sender_ours;
	uint8_t helo_dns, sender_domain; /* 0 off, 1 defer, 2 reject */
	uint8_t spf;			 /* 0 off, 1 header, 2 reject fail */
	uint8_t rdns;			 /* 0 off, 1 record, 2 defer, 3 reject */
	uint32_t tempfail_skip;		 /* bit per check id: TEMPFAIL skips it */
	uint32_t pass_ttl_s;		 /* pregreet pass cache TTL, 0 off */
	bool verify;			 /* ask the next hop at RCPT (verify.c) */
	char hostname[SMTP_HOSTNAME_MAX + 1];
	uint32_t ip4; /* ours, network order (0: none) */
	struct pol_table *domains, *nets, *rcpts, *special;
	uint64_t plens[5];
	unsigned nzones;
	struct pol_dnsbl_zone zones[POL_DNSBL_MAX];
	int threshold;
	struct pol_reply_def reply[POL_CHK_COUNT];
};

static const struct {
	const char *name;
	enum pol_class cls;
	struct pol_reply_def def;
} checks[POL_CHK_COUNT] = {
#define POL_X_ROW(id, cl, c, e, t) [POL_CHK_##id] = {#id, POL_CLASS_##cl, {c, e, t}},
	POL_CHECKS(POL_X_ROW)
#undef POL_X_ROW
};

static struct pol_set *current; /* RCU-protected */
static struct cds_lfs_stack retired_stack;
static bool retired_init;

const char *pol_check_name(unsigned id)
{
	return id < POL_CHK_COUNT ? checks[id].name : "?";
}

enum pol_class pol_check_class(unsigned id)
{
	return checks[id].cls;
}

const char *pol_class_name(enum pol_class c)
{
	static const char *const n[] = {"client", "helo", "sender", "rcpt"};
	return c < POL_CLASS_COUNT ? n[c] : "?";
}

const char *pol_action_name(enum pol_action a)
{
	static const char *const n[] = {"continue", "accept", "reject", "defer", "pending"};
	return a < POL_ACTION_COUNT ? n[a] : "?";
}

const char *pol_dns_text(const struct mx_dns_result *r, unsigned i)
{
	if (i >= r->n || i >= MX_DNS_RR_MAX || r->u.s.off[i] >= MX_DNS_TEXT_MAX ||
	    !memchr(r->text + r->u.s.off[i], '\0', MX_DNS_TEXT_MAX - r->u.s.off[i]))
		return "";
	return r->text + r->u.s.off[i];
}

const char *pol_addr_domain(const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	return at && at[1] ? at + 1 : NULL;
}

/* ---- building ------------------------------------------------------------- */

/* "127.0.0.[2..11]" / "127.0.0.[2;4;6]" / "127.0.0.2" -> one filter. */
static int parse_filter(const char *s, struct pol_dnsbl_zone *z)
{
	unsigned k = z->nfilt;

	if (k >= POL_DNSBL_FILT_MAX)
		return -1;
	memset(&z->filt[k], 0, sizeof(z->filt[k]));
	for (unsigned o = 0; o < 4; o++) {
		uint32_t *bits = z->filt[k].bits[o];
		char *end;

		if (*s == '[') {
			s++;
			for (;;) {
				unsigned long a = strtoul(s, &end, 10), b = a;
				if (end == s || a > 255)
					return -1;
				s = end;
				if (s[0] == '.' && s[1] == '.') {
					b = strtoul(s + 2, &end, 10);
					if (end == s + 2 || b > 255 || b < a)
						return -1;
					s = end;
				}
				for (unsigned long v = a; v <= b; v++)
					bits[v / 32] |= 1u << (v % 32);
				if (*s == ';') {
					s++;
					continue;
				}
				if (*s++ != ']')
					return -1;
				break;
			}
		} else {
			unsigned long v = strtoul(s, &end, 10);
			if (end == s || v > 255)
				return -1;
			bits[v / 32] |= 1u << (v % 32);
			s = end;
		}
		if (o < 3 && *s++ != '.')
			return -1;
	}
	if (*s)
		return -1;
	z->nfilt++;
	return 0;
}

/* "zone[=filter[,filter]][*weight]" (postscreen_dnsbl_sites). */
static int parse_zone(const char *v, struct pol_dnsbl_zone *z)
{
	char buf[MX_CFG_STR], *star, *eq;

	memset(z, 0, sizeof(*z));
	z->weight = 1;
	snprintf(buf, sizeof(buf), "%s", v);
	if ((star = strrchr(buf, '*'))) {
		char *end;
		long w = strtol(star + 1, &end, 10);
		if (star[1] == '\0' || *end || w == 0 || w < -1000 || w > 1000)
			return -1;
		z->weight = (int)w;
		*star = '\0';
	}
	if ((eq = strchr(buf, '='))) {
		*eq = '\0';
		for (char *f = strtok(eq + 1, ","); f; f = strtok(NULL, ","))
			if (parse_filter(f, z) != 0)
				return -1;
		if (z->nfilt == 0)
			return -1;
	}
	if (!buf[0] || strlen(buf) >= sizeof(z->name) || strchr(buf, ' '))
		return -1;
	snprintf(z->name, sizeof(z->name), "%s", buf);
	return 0;
}

/* "CHECK CODE ENH TEXT" */
static int parse_reply(const char *v, struct pol_reply_def *r, unsigned *id)
{
	char name[64], enh[16];
	unsigned code;
	int n = 0;

	if (sscanf(v, "%63s %u %15s %n", name, &code, enh, &n) != 3 || n == 0)
		return -1;
	for (*id = 0; *id < POL_CHK_COUNT; (*id)++)
		if (strcmp(checks[*id].name, name) == 0)
			break;
	if (*id == POL_CHK_COUNT || code < 400 || code > 599 || strlen(enh) > 7 ||
	    enh[0] != '0' + (int)(code / 100) || enh[1] != '.')
		return -1;
	r->code = (uint16_t)code;
	snprintf(r->enh, sizeof(r->enh), "%s", enh);
	snprintf(r->text, sizeof(r->text), "%s", v + n);
	return 0;
}

/* [policy] tempfail_skip: a DNS check (client_rdns, helo_dns,
 * sender_domain), its class (client, helo, sender) or "all" -> check bits.
 * 0 if @v names none of them. */
static uint32_t tempfail_bits(const char *v)
{
	static const struct {
		const char *name;
		uint32_t bits;
	} names[] = {
		{"client_rdns", 1u << POL_CHK_client_rdns},
		{"helo_dns", 1u << POL_CHK_helo_dns},
		{"sender_domain", 1u << POL_CHK_sender_domain},
		{"client", 1u << POL_CHK_client_rdns},
		{"helo", 1u << POL_CHK_helo_dns},
		{"sender", 1u << POL_CHK_sender_domain},
		{"all",
		 1u << POL_CHK_client_rdns | 1u << POL_CHK_helo_dns | 1u << POL_CHK_sender_domain},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i].name) == 0)
			return names[i].bits;
	return 0;
}

static struct pol_table *table_of(const struct mx_cfg_list *l, size_t extra)
{
	return pol_table_new(l->n + extra);
}

struct pol_set *pol_set_build(const struct mx_config *c, const char *sysname, char *err,
			      size_t errlen)
{
	struct pol_set *s = calloc(1, sizeof(*s));
	const char *hn = c->smtp_hostname[0] ? c->smtp_hostname : sysname;
	const char *dot;
	unsigned nspecial = 0;

	err[0] = '\0';
	if (!s) {
		snprintf(err, errlen, "[policy]: out of memory");
		return NULL;
	}
	s->enabled = c->policy_enabled;
	s->delay_reject = c->policy_delay_reject;
	s->helo_checks = c->policy_helo_checks;
	s->sender_ours = c->policy_sender_ours;
	s->helo_dns = (uint8_t)c->policy_helo_dns;
	s->sender_domain = (uint8_t)c->policy_sender_domain;
	s->spf = (uint8_t)c->policy_spf;
	s->rdns = (uint8_t)c->policy_client_rdns;
	s->threshold = (int)c->policy_dnsbl_threshold;
	s->pass_ttl_s = (uint32_t)c->policy_pass_cache_ttl_s;
	s->verify = c->policy_verify_recipients;
	snprintf(s->hostname, sizeof(s->hostname), "%.*s", SMTP_HOSTNAME_MAX, hn ? hn : "");
	s->ip4 = htonl(c->ip4_addr);
	for (unsigned i = 0; i < POL_CHK_COUNT; i++)
		s->reply[i] = checks[i].def;
	if (s->helo_dns == 2)
		s->reply[POL_CHK_helo_dns] = (struct pol_reply_def){550, "5.7.1", "Host not found"};
	if (s->rdns == 3)
		s->reply[POL_CHK_client_rdns] =
			(struct pol_reply_def){550, "5.7.25", "cannot find your hostname"};
	if (s->sender_domain == 2)
		s->reply[POL_CHK_sender_domain] =
			(struct pol_reply_def){550, "5.1.8", "Domain not found"};
	for (unsigned i = 0; i < c->policy_reply.n; i++) {
		struct pol_reply_def r;
		unsigned id;
		if (parse_reply(c->policy_reply.v[i], &r, &id) != 0) {
			snprintf(err, errlen,
				 "%s: [policy] reply = %s: expected CHECK CODE ENH TEXT (a check "
				 "name, 4xx/5xx, its enhanced code x.y.z)",
				 c->path, c->policy_reply.v[i]);
			goto fail;
		}
		s->reply[id] = r;
	}
	for (unsigned i = 0; i < c->policy_tempfail_skip.n; i++) {
		uint32_t b = tempfail_bits(c->policy_tempfail_skip.v[i]);
		if (!b) {
			snprintf(err, errlen,
				 "%s: [policy] tempfail_skip = %s: expected a DNS check "
				 "(client_rdns, "
				 "helo_dns, sender_domain), a class (client, helo, sender) or all",
				 c->path, c->policy_tempfail_skip.v[i]);
			goto fail;
		}
		s->tempfail_skip |= b;
	}
	for (unsigned i = 0; i < c->policy_dnsbl.n; i++) {
		if (s->nzones == POL_DNSBL_MAX ||
		    parse_zone(c->policy_dnsbl.v[i], &s->zones[s->nzones]) != 0) {
			snprintf(err, errlen,
				 "%s: [policy] dnsbl = %s: expected zone[=127.0.0.[a..b]][*weight] "
				 "(at most %d zones)",
				 c->path, c->policy_dnsbl.v[i], POL_DNSBL_MAX);
			goto fail;
		}
		s->nzones++;
	}

	/* Domains, our own names and the tables. */
	s->domains = table_of(&c->policy_domains, 2);
	s->nets = pol_table_new_nets(c->policy_mynetworks.n);
	for (const char *const *p = special_builtin; *p; p++)
		nspecial++;
	s->special = table_of(&c->policy_helo_special, nspecial);
	if (!s->domains || !s->nets || !s->special) {
		snprintf(err, errlen, "[policy]: out of memory");
		goto fail;
	}
	rcu_thread_online();
	if (c->policy_domains.n == 0 && s->hostname[0]) {
		/* Nothing configured: like Postfix's mydestination, the host
		 * name and its parent domain (mx.example.com: example.com). */
		pol_table_add(s->domains, s->hostname, strlen(s->hostname));
		dot = strchr(s->hostname, '.');
		if (dot && strchr(dot + 1, '.'))
			pol_table_add(s->domains, dot + 1, strlen(dot + 1));
	}
	for (unsigned i = 0; i < c->policy_domains.n; i++)
		pol_table_add(s->domains, c->policy_domains.v[i], strlen(c->policy_domains.v[i]));
	for (const char *const *p = special_builtin; *p; p++)
		pol_table_add(s->special, *p, strlen(*p));
	for (unsigned i = 0; i < c->policy_helo_special.n; i++) {
		const char *v = c->policy_helo_special.v[i];
		v += *v == '.';
		pol_table_add(s->special, v, strlen(v));
	}
	for (unsigned i = 0; i < c->policy_mynetworks.n; i++) {
		uint8_t key[POL_NET_KEY_LEN];
		unsigned b;
		if (pol_net_key(c->policy_mynetworks.v[i], key) != 0) {
			rcu_thread_offline();
			snprintf(err, errlen,
				 "%s: [policy] mynetworks = %s: expected an address or a network "
				 "(a.b.c.d/n, v6::/n)",
				 c->path, c->policy_mynetworks.v[i]);
			goto fail;
		}
		pol_table_add(s->nets, key, sizeof(key));
		b = (key[0] == 4 ? 0 : 128) + key[1];
		s->plens[b / 64] |= 1ull << (b % 64);
	}
	rcu_thread_offline();
	if (c->policy_recipients[0]) {
		char why[512];
		rcu_thread_online();
		s->rcpts = pol_table_load_file(c->policy_recipients, why, sizeof(why));
		rcu_thread_offline();
		if (!s->rcpts) {
			snprintf(err, errlen, "%s: [policy] recipients: %s", c->path, why);
			goto fail;
		}
	}
	return s;
fail:
	pol_set_free(s);
	return NULL;
}

void pol_set_free(struct pol_set *s)
{
	if (!s)
		return;
	pol_table_free(s->domains);
	pol_table_free(s->nets);
	pol_table_free(s->rcpts);
	pol_table_free(s->special);
	free(s);
}

/* ---- publication ------------------------------------------------------------ */

static void retire_cb(struct rcu_head *h)
{
	struct pol_set *s = caa_container_of(h, struct pol_set, rcu);

	cds_lfs_push(&retired_stack, &s->retired);
}

void pol_collect(void)
{
	struct cds_lfs_node *n;

	if (!retired_init)
		return;
	while ((n = __cds_lfs_pop(&retired_stack)))
		pol_set_free(caa_container_of(n, struct pol_set, retired));
}

static struct mx_loop_timer collect_timer;
static uint64_t collect_ms;

static void on_collect(struct mx_loop_timer *t, void *arg)
{
	(void)arg;
	pol_collect();
	mx_loop_timer_arm(t, collect_ms);
}

void pol_collect_every(uint64_t ms)
{
	collect_ms = ms;
	mx_loop_timer_init(&collect_timer, on_collect, NULL);
	mx_loop_timer_arm(&collect_timer, ms);
}

void pol_publish(struct pol_set *s)
{
	struct pol_set *old;

	if (!retired_init) {
		cds_lfs_init(&retired_stack);
		retired_init = true;
	}
	pol_collect();
	old = rcu_xchg_pointer(&current, s);
	if (old) {
		rcu_thread_online();
		cds_lfs_node_init(&old->retired);
		call_rcu(&old->rcu, retire_cb);
		rcu_thread_offline();
	}
}

void pol_shutdown(void)
{
	struct pol_set *old = rcu_xchg_pointer(&current, NULL);

	if (collect_ms) {
		mx_loop_timer_cancel(&collect_timer);
		collect_ms = 0;
	}
	if (old) {
		rcu_thread_online();
		cds_lfs_node_init(&old->retired);
		call_rcu(&old->rcu, retire_cb);
		rcu_thread_offline();
	}
	rcu_barrier();
	pol_collect();
}

int pol_load(const struct mx_config *c, char *err, size_t errlen)
{
	char sysname[256];
	struct pol_set *s;

	if (gethostname(sysname, sizeof(sysname)) != 0)
		snprintf(sysname, sizeof(sysname), "localhost");
	sysname[sizeof(sysname) - 1] = '\0';
	s = pol_set_build(c, sysname, err, errlen);
	if (!s)
		return -1;
	pol_publish(s);
	MX_NOTICE("policy: %s; %zu accepted domain(s), %zu recipient(s) listed, %u DNSBL zone(s)",
		  s->enabled ? "checks on" : "checks off", pol_table_count(s->domains),
		  pol_table_count(s->rcpts), s->nzones);
	return 0;
}

const struct pol_set *pol_current(void)
{
	return rcu_dereference(current);
}

bool pol_enabled(const struct pol_set *s)
{
	return s && s->enabled;
}

bool pol_delay_reject(const struct pol_set *s)
{
	return s->delay_reject;
}

uint32_t pol_pass_ttl(const struct pol_set *s)
{
	return s->pass_ttl_s;
}

bool pol_tempfail_skips(const struct pol_set *s, unsigned id)
{
	return id < POL_CHK_COUNT && (s->tempfail_skip >> id & 1);
}

unsigned pol_wants(const struct pol_set *s)
{
	return (s->helo_dns ? POL_WANT_HELO_A : 0) | (s->sender_domain ? POL_WANT_SENDER : 0) |
	       (s->verify ? POL_WANT_VERIFY : 0) | (s->nzones ? POL_WANT_DNSBL : 0) |
	       (s->spf ? POL_WANT_SPF : 0) | (s->rdns ? POL_WANT_RDNS : 0);
}

unsigned pol_dnsbl_zones(const struct pol_set *s)
{
	return s->nzones;
}

const struct pol_dnsbl_zone *pol_dnsbl_zone(const struct pol_set *s, unsigned i)
{
	return i < s->nzones ? &s->zones[i] : NULL;
}

int pol_dnsbl_threshold(const struct pol_set *s)
{
	return s->threshold;
}

size_t pol_set_recipients(const struct pol_set *s)
{
	return pol_table_count(s->rcpts);
}

size_t pol_set_domains(const struct pol_set *s)
{
	return pol_table_count(s->domains);
}

bool pol_trusted(const struct pol_set *s, const struct pol_input *in)
{
	return pol_net_match(s->nets, s->plens, in->family, in->addr);
}

int pol_dnsbl_classify(const struct pol_dnsbl_zone *z, const uint8_t a[4])
{
	/* Spamhaus returns 127.255.255.x for refused queries (public
	 * resolvers, over quota, typos); nothing outside 127/8 is a listing. */
	if (a[0] != 127 || (a[1] == 255 && a[2] == 255))
		return -1;
	if (z->nfilt == 0)
		return 1;
	for (unsigned f = 0; f < z->nfilt; f++) {
		unsigned o;
		for (o = 0; o < 4; o++)
			if (!(z->filt[f].bits[o][a[o] / 32] >> (a[o] % 32) & 1))
				break;
		if (o == 4)
			return 1;
	}
	return 0;
}

int pol_dnsbl_qname(const struct pol_input *in, const char *zone, char *buf, size_t len)
{
	int n = 0;

	if (in->family == 4) {
		n = snprintf(buf, len, "%u.%u.%u.%u.%s", in->addr[3], in->addr[2], in->addr[1],
			     in->addr[0], zone);
	} else {
		size_t off = 0;
		for (int i = 15; i >= 0 && off + 4 < len; i--) {
			static const char hx[] = "0123456789abcdef";
			buf[off++] = hx[in->addr[i] & 15];
			buf[off++] = '.';
			buf[off++] = hx[in->addr[i] >> 4];
			buf[off++] = '.';
		}
		n = (int)off + snprintf(buf + off, len - off, "%s", zone);
	}
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* ---- checks -------------------------------------------------------------------- */

static void verdict(const struct pol_set *s, unsigned id, const struct pol_input *in,
		    struct pol_verdict *v)
{
	const struct pol_reply_def *r = &s->reply[id];
	const char *text = r->text;

	v->check = (uint8_t)id;
	v->code = r->code;
	snprintf(v->enh, sizeof(v->enh), "%s", r->enh);
	if (v->tempfail) {
		v->code = 451;
		snprintf(v->enh, sizeof(v->enh), "4.4.3");
		text = "temporary lookup failure";
	}
	v->action = v->code >= 500 ? POL_REJECT : POL_DEFER;
	switch (checks[id].cls) {
	case POL_CLASS_CLIENT: {
		char ip[INET6_ADDRSTRLEN] = "?";
		const char *txt = NULL;
		inet_ntop(in->family == 4 ? AF_INET : AF_INET6, in->addr, ip, sizeof(ip));
		if (id == POL_CHK_client_rdns) { /* Postfix's reject_unknown_client_hostname */
			snprintf(v->text, sizeof(v->text), "Client host rejected: %s, [%s]", text,
				 ip);
			break;
		}
		txt = r->text[0] ? r->text : (in->dnsbl_txt ? in->dnsbl_txt : "");
		snprintf(v->text, sizeof(v->text),
			 "Service unavailable; Client host [%s] blocked using %s%s%s", ip,
			 in->dnsbl_zone >= 0 ? s->zones[in->dnsbl_zone].name : "dnsbl",
			 txt[0] ? "; " : "", txt);
		break;
	}
	case POL_CLASS_HELO:
		snprintf(v->text, sizeof(v->text), "<%s>: Helo command rejected: %s", in->helo,
			 text);
		break;
	case POL_CLASS_SENDER:
		snprintf(v->text, sizeof(v->text), "<%s>: Sender address rejected: %s", in->from,
			 text);
		break;
	case POL_CLASS_RCPT:
		if (id == POL_CHK_rcpt_relay) {
			snprintf(v->text, sizeof(v->text), "<%s>: %s", in->rcpt, text);
		} else if (id == POL_CHK_rcpt_unverified) {
			/* Postfix: "undeliverable address: host H said: ..." (5xx) and
			 * 450 4.1.1 "unverified address: ..." while unknown. */
			const char *why = in->verify_text && in->verify_text[0] ? in->verify_text
										: "no answer yet";
			if (v->tempfail) {
				v->code = 450;
				snprintf(v->enh, sizeof(v->enh), "4.1.1");
				v->action = POL_DEFER;
				snprintf(v->text, sizeof(v->text),
					 "<%s>: Recipient address rejected: unverified address: %s",
					 in->rcpt, why);
			} else {
				snprintf(v->text, sizeof(v->text),
					 "<%s>: Recipient address rejected: %s: %s", in->rcpt, text,
					 why);
			}
		} else {
			snprintf(v->text, sizeof(v->text), "<%s>: Recipient address rejected: %s",
				 in->rcpt, text);
		}
		break;
	default:
		break;
	}
}

/* RFC 1035 2.3.1 / RFC 1123 2.1 host name: labels of letters, digits and
 * hyphens (underscore tolerated, as Postfix does), 1..63 octets, no hyphen
 * at either end, and a last label that is not all digits (a bare address
 * is not a name: literals go in brackets). One trailing dot allowed. */
static bool helo_name_ok(const char *h)
{
	size_t n = strlen(h), lab = 0;
	bool digits = true;

	if (n && h[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char ch = i < n ? h[i] : '.';
		if (ch == '.') {
			if (lab == 0 || lab > 63 || h[i - 1] == '-')
				return false;
			if (i == n && digits)
				return false;
			lab = 0;
			digits = true;
			continue;
		}
		if (lab == 0 && ch == '-')
			return false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
		if (!(ch >= '0' && ch <= '9'))
			digits = false;
		lab++;
	}
	return true;
}

/* "[1.2.3.4]" or "[IPv6:...]" into @addr; the family, or 0. */
static int helo_literal(const char *h, uint8_t addr[16])
{
	char buf[64];
	size_t n = strlen(h);

	if (n < 3 || h[0] != '[' || h[n - 1] != ']' || n - 2 >= sizeof(buf))
		return 0;
	memcpy(buf, h + 1, n - 2);
	buf[n - 2] = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1)
		return 4;
	if (strncasecmp(buf, "IPv6:", 5) == 0 && inet_pton(AF_INET6, buf + 5, addr) == 1)
		return 6;
	return 0;
}

static bool special_name(const struct pol_set *s, const char *h)
{
	size_t n = strlen(h);

	if (n && h[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n; i++)
		if ((i == 0 || h[i - 1] == '.') && pol_table_has(s->special, h + i, n - i))
			return true;
	return false;
}

static bool helo_ours(const struct pol_set *s, const char *h, int fam, const uint8_t *lit)
{
	size_t n = strlen(h);

	if (fam == 4)
		return s->ip4 && memcmp(lit, &s->ip4, 4) == 0;
	if (fam)
		return false;
	if (n && h[n - 1] == '.')
		n--;
	return (strlen(s->hostname) == n && strncasecmp(s->hostname, h, n) == 0) ||
	       pol_table_has(s->domains, h, n);
}

static enum pol_action dns_state(const struct pol_set *s, unsigned id, uint8_t st,
				 const struct pol_input *in, struct pol_verdict *v)
{
	switch (st) {
	case POL_DNS_WAIT:
		v->action = POL_PENDING;
		v->check = (uint8_t)id;
		return POL_PENDING;
	case POL_DNS_NOTFOUND:
		verdict(s, id, in, v);
		return (enum pol_action)v->action;
	case POL_DNS_TEMPFAIL:
		/* The operator's choice (Postfix: a lookup error is a 4xx, or the
		 * restriction is skipped): tempfail_skip lets the session go on. */
		if (s->tempfail_skip >> id & 1)
			return POL_CONTINUE;
		v->tempfail = true;
		verdict(s, id, in, v);
		return (enum pol_action)v->action;
	default: /* not asked (policy test without DNS), or found */
		return POL_CONTINUE;
	}
}

static enum pol_action eval_helo(const struct pol_set *s, const struct pol_input *in,
				 struct pol_verdict *v)
{
	const char *h = in->helo;
	uint8_t lit[16];
	int fam;

	if (!h)
		return POL_CONTINUE;
	fam = h[0] == '[' ? helo_literal(h, lit) : 0;
	if (s->helo_checks) {
		if (h[0] == '[' ? fam == 0 : !helo_name_ok(h))
			return verdict(s, POL_CHK_helo_invalid, in, v), (enum pol_action)v->action;
		if (!fam && !strchr(h, '.'))
			return verdict(s, POL_CHK_helo_fqdn, in, v), (enum pol_action)v->action;
		if (!fam && special_name(s, h))
			return verdict(s, POL_CHK_helo_special, in, v), (enum pol_action)v->action;
		if (fam && (fam != in->family || memcmp(lit, in->addr, fam == 4 ? 4 : 16) != 0))
			return verdict(s, POL_CHK_helo_literal, in, v), (enum pol_action)v->action;
		if (helo_ours(s, h, fam, lit))
			return verdict(s, POL_CHK_helo_ours, in, v), (enum pol_action)v->action;
	}
	if (s->helo_dns && !fam)
		return dns_state(s, POL_CHK_helo_dns, in->helo_dns, in, v);
	return POL_CONTINUE;
}

static enum pol_action eval_sender(const struct pol_set *s, const struct pol_input *in,
				   struct pol_verdict *v)
{
	const char *dom;

	if (!in->from)
		return POL_CONTINUE;
	/* RFC 5321 4.5.5: the null sender (bounces) is always accepted. */
	if (!in->from[0]) {
		v->action = POL_ACCEPT;
		return POL_ACCEPT;
	}
	dom = pol_addr_domain(in->from);
	if (s->sender_ours && dom && pol_table_has(s->domains, dom, strlen(dom)))
		return verdict(s, POL_CHK_sender_ours, in, v), (enum pol_action)v->action;
	if (s->sender_domain && dom &&
	    dns_state(s, POL_CHK_sender_domain, in->sender_dns, in, v) != POL_CONTINUE)
		return (enum pol_action)v->action;
	/* SPF: only "fail" refuses (RFC 7208 8.4); temperror, softfail and
	 * the rest are recorded in Received-SPF, never refused. */
	if (s->spf == 2 && in->spf == POL_DNS_WAIT) {
		v->action = POL_PENDING;
		v->check = POL_CHK_sender_spf;
		return POL_PENDING;
	}
	if (s->spf == 2 && in->spf != POL_DNS_NONE && in->spf_result == 3 /* SPF_FAIL */)
		return verdict(s, POL_CHK_sender_spf, in, v), (enum pol_action)v->action;
	return POL_CONTINUE;
}

static enum pol_action eval_rcpt(const struct pol_set *s, const struct pol_input *in,
				 struct pol_verdict *v)
{
	const char *dom;
	char key[SMTP_PATH_MAX + 2];

	if (!in->rcpt)
		return POL_CONTINUE;
	dom = pol_addr_domain(in->rcpt);
	/* RFC 5321 4.5.1: "postmaster" without a domain is always ours. */
	if (!dom && strcasecmp(in->rcpt, "postmaster") == 0)
		return POL_CONTINUE;
	if (!dom || !pol_table_has(s->domains, dom, strlen(dom))) {
		if (in->trusted) {
			v->action = POL_ACCEPT; /* may relay, like permit_mynetworks */
			return POL_ACCEPT;
		}
		return verdict(s, POL_CHK_rcpt_relay, in, v), (enum pol_action)v->action;
	}
	if (s->rcpts && !pol_table_has(s->rcpts, in->rcpt, strlen(in->rcpt))) {
		/* "@domain" in the list accepts every user of that domain. */
		snprintf(key, sizeof(key), "@%s", dom);
		if (!pol_table_has(s->rcpts, key, strlen(key)))
			return verdict(s, POL_CHK_rcpt_unknown, in, v), (enum pol_action)v->action;
	}
	/* reject_unverified_recipient: never a 250 while the next hop's answer
	 * is unknown (450 4.1.1), a 5xx from it is ours. */
	if (s->verify && in->verify != POL_DNS_NONE) {
		if (in->verify == POL_DNS_TEMPFAIL) {
			v->tempfail = true;
			verdict(s, POL_CHK_rcpt_unverified, in, v);
			return (enum pol_action)v->action;
		}
		return dns_state(s, POL_CHK_rcpt_unverified, in->verify, in, v);
	}
	return POL_CONTINUE;
}

static enum pol_action eval_client(const struct pol_set *s, const struct pol_input *in,
				   struct pol_verdict *v)
{
	if (s->rdns >= 2 && dns_state(s, POL_CHK_client_rdns, in->rdns, in, v) != POL_CONTINUE)
		return (enum pol_action)v->action;
	if (s->nzones == 0)
		return POL_CONTINUE;
	if (!in->dnsbl_done) {
		v->action = POL_PENDING;
		v->check = POL_CHK_client_dnsbl;
		return POL_PENDING;
	}
	if (in->dnsbl_score >= s->threshold)
		return verdict(s, POL_CHK_client_dnsbl, in, v), (enum pol_action)v->action;
	return POL_CONTINUE;
}

void pol_eval_class(const struct pol_set *s, enum pol_class cls, const struct pol_input *in,
		    struct pol_verdict *out)
{
	memset(out, 0, sizeof(*out));
	if (!s || !s->enabled)
		return;
	switch (cls) {
	case POL_CLASS_CLIENT:
		if (!in->trusted)
			eval_client(s, in, out);
		break;
	case POL_CLASS_HELO:
		if (!in->trusted)
			eval_helo(s, in, out);
		break;
	case POL_CLASS_SENDER:
		if (!in->trusted)
			eval_sender(s, in, out);
		break;
	case POL_CLASS_RCPT:
		eval_rcpt(s, in, out);
		break;
	default:
		break;
	}
}
