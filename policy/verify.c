/*
 * verify.c - recipient verification probes to the next hop. See verify.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config-t.h"
#include "core/counters.h"
#include "core/log.h"
#include "core/loop.h"
#include "policy/dns.h"
#include "policy/verify.h"

#define VFY_IN_MAX 2048

enum vstep { V_BANNER = 0, V_HELO, V_MAIL, V_RCPT };

struct probe {
	struct probe *next, **prev;
	void *token;
	int fd;
	uint8_t step;
	bool connected;
	bool asking;  /* waiting for the shared store (policy/store_redis.h) */
	bool shared;  /* answered by the shared store: not counted, not written back */
	uint32_t ttl; /* the shared answer's remaining TTL */
	struct mx_loop_timer timer;
	size_t inlen;
	char in[VFY_IN_MAX];
	char addr[MX_DNS_NAME_MAX + 1];
};

static struct {
	bool on, lmtp;
	struct sockaddr_storage hop;
	socklen_t hoplen;
	char hopname[160];
	char helo[256];
	uint32_t pos_ttl, neg_ttl, timeout_ms;
	struct probe *list;
	const struct pol_verify_share *share; /* NULL: none */
	uint64_t started, ok, bad, temp;      /* relaxed: read by the registry */
	bool registered;
} V;

#define VINC(x) __atomic_store_n(&(x), (x) + 1, __ATOMIC_RELAXED)

static const struct mx_ctr_def vdefs[] = {
	{.name = "probes", .help = "Recipient verification probes started at the next hop"},
	{.name = "deliverable", .help = "Probes answered 2xx to RCPT"},
	{.name = "undeliverable", .help = "Probes answered 5xx to RCPT (refused 550 5.1.1)"},
	{.name = "temporary",
	 .help = "Probes without an answer: 4xx, refused connection, timeout (450 4.1.1)"},
};

static void vread(void *arg, unsigned inst, uint64_t *vals)
{
	(void)arg, (void)inst;
	vals[0] = __atomic_load_n(&V.started, __ATOMIC_RELAXED);
	vals[1] = __atomic_load_n(&V.ok, __ATOMIC_RELAXED);
	vals[2] = __atomic_load_n(&V.bad, __ATOMIC_RELAXED);
	vals[3] = __atomic_load_n(&V.temp, __ATOMIC_RELAXED);
}

static const struct mx_ctr_group vgroup = {
	.name = "verify",
	.scope = MX_CTR_GLOBAL,
	.defs = vdefs,
	.ndefs = sizeof(vdefs) / sizeof(vdefs[0]),
	.read = vread,
};

static void finish(struct probe *p, uint8_t status, const char *text)
{
	struct mx_dns_result r;
	uint32_t ttl = 0;

	memset(&r, 0, sizeof(r));
	r.status = status;
	r.n = 1; /* text[0..]: the next hop's reply (or why there is none) */
	if (p->shared) {
		ttl = p->ttl;
	} else if (status == MX_DNS_OK) {
		ttl = V.pos_ttl;
		VINC(V.ok);
	} else if (status == MX_DNS_NXDOMAIN) {
		ttl = V.neg_ttl;
		VINC(V.bad);
	} else {
		VINC(V.temp);
	}
	snprintf(r.text, sizeof(r.text) - 1, "%s", text ? text : "");
	if (p->asking && V.share)
		V.share->forget(p);
	else if (V.share && !p->shared && ttl && status != MX_DNS_TEMPFAIL)
		V.share->put(p->addr, status == MX_DNS_OK ? 250 : 550, r.text, ttl);
	if (p->fd >= 0) {
		if (p->connected && p->step >= V_HELO) {
			static const char q[] = "QUIT\r\n";
			ssize_t n = write(p->fd, q, sizeof(q) - 1);
			(void)n;
		}
		mx_loop_del(p->fd);
		close(p->fd);
	}
	mx_loop_timer_cancel(&p->timer);
	*p->prev = p->next;
	if (p->next)
		p->next->prev = p->prev;
	MX_INFO("policy: verify <%s> at %s%s: %s%s%s", p->addr, V.hopname,
		p->shared ? " (shared store)" : "",
		status == MX_DNS_OK	    ? "deliverable"
		: status == MX_DNS_NXDOMAIN ? "undeliverable"
					    : "unknown (temporary)",
		text && text[0] ? ": " : "", text ? text : "");
	mx_dns_verify_done(p->token, &r, ttl);
	free(p);
}

static int send_line(struct probe *p, const char *fmt, const char *arg)
{
	char b[MX_DNS_NAME_MAX + 32];
	int n = snprintf(b, sizeof(b), fmt, arg);

	if (n <= 0 || (size_t)n >= sizeof(b))
		return -1;
	return write(p->fd, b, (size_t)n) == n ? 0 : -1;
}

/* A whole reply is in: the last line starts "DDD " (or is just DDD).
 * Returns its code (0: not complete yet, -1: malformed); *last points at
 * the last line, NUL-terminated in place of its CRLF. */
static int reply_of(struct probe *p, char **last)
{
	char *line = p->in, *nl;

	while ((nl = memchr(line, '\n', p->inlen - (size_t)(line - p->in)))) {
		if (nl - line < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
		    line[1] > '9' || line[2] < '0' || line[2] > '9')
			return -1;
		if (nl - line == 3 || line[3] == ' ' || line[3] == '\r') {
			*nl = '\0';
			if (nl > line && nl[-1] == '\r')
				nl[-1] = '\0';
			*last = line;
			return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		}
		if (line[3] != '-')
			return -1;
		line = nl + 1;
	}
	return 0;
}

static void on_reply(struct probe *p, int code, const char *text)
{
	char why[MX_DNS_TEXT_MAX - 64];

	if (p->step == V_RCPT) {
		/* Postfix's wording: "host H said: REPLY (in reply to RCPT TO command)". */
		snprintf(why, sizeof(why), "host %s said: %.300s (in reply to RCPT TO command)",
			 V.hopname, text);
		finish(p,
		       code / 100 == 2	 ? MX_DNS_OK
		       : code / 100 == 5 ? MX_DNS_NXDOMAIN
					 : MX_DNS_TEMPFAIL,
		       why);
		return;
	}
	if (code / 100 != 2) {
		snprintf(why, sizeof(why), "host %s said: %.300s", V.hopname, text);
		finish(p, MX_DNS_TEMPFAIL, why);
		return;
	}
	p->inlen = 0;
	p->step++;
	if ((p->step == V_HELO && send_line(p, V.lmtp ? "LHLO %s\r\n" : "EHLO %s\r\n", V.helo)) ||
	    (p->step == V_MAIL && send_line(p, "MAIL FROM:<>%s\r\n", "")) ||
	    (p->step == V_RCPT && send_line(p, "RCPT TO:<%s>\r\n", p->addr)))
		finish(p, MX_DNS_TEMPFAIL, "cannot write to the next hop");
}

static void on_fd(int fd, unsigned events, void *arg)
{
	struct probe *p = arg;

	if (!p->connected) {
		int err = 0;
		socklen_t el = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
			char why[400];
			snprintf(why, sizeof(why), "connect to %s: %s", V.hopname,
				 strerror(err ? err : errno));
			finish(p, MX_DNS_TEMPFAIL, why);
			return;
		}
		p->connected = true;
		mx_loop_mod(fd, MX_LOOP_IN);
		if (!(events & MX_LOOP_IN))
			return;
	}
	for (;;) {
		ssize_t n = read(fd, p->in + p->inlen, sizeof(p->in) - 1 - p->inlen);
		char *last = NULL;
		int code;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			finish(p, MX_DNS_TEMPFAIL, "the next hop closed the connection");
			return;
		}
		p->inlen += (size_t)n;
		p->in[p->inlen] = '\0';
		code = reply_of(p, &last);
		if (code < 0 || (code == 0 && p->inlen >= sizeof(p->in) - 1)) {
			finish(p, MX_DNS_TEMPFAIL, "malformed reply from the next hop");
			return;
		}
		if (code > 0) {
			on_reply(p, code, last);
			return; /* a pipelining next hop: nothing more owed before our next line */
		}
	}
}

static void on_timeout(struct mx_loop_timer *t, void *arg)
{
	struct probe *p = arg;

	(void)t;
	finish(p, MX_DNS_TEMPFAIL, "no answer from the next hop in time");
}

/* Connect to the next hop for @p (listed already). */
static void probe_connect(struct probe *p)
{
	VINC(V.started);
	mx_loop_timer_arm(&p->timer, V.timeout_ms);
	p->fd = socket(V.hop.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0 ||
	    (connect(p->fd, (struct sockaddr *)&V.hop, V.hoplen) != 0 && errno != EINPROGRESS) ||
	    mx_loop_add(p->fd, MX_LOOP_OUT, on_fd, p) != 0) {
		char why[400];
		snprintf(why, sizeof(why), "connect to %s: %s", V.hopname, strerror(errno));
		if (p->fd >= 0) {
			close(p->fd);
			p->fd = -1;
		}
		finish(p, MX_DNS_TEMPFAIL, why);
	}
}

/* The shared store's answer ("250 text" / "550 text"), or none: probe. */
static void on_shared(void *token, const char *val, size_t vlen, uint32_t ttl_s)
{
	struct probe *p = token;
	char text[MX_DNS_TEXT_MAX - 64];

	p->asking = false;
	if (!val || vlen < 4 || (val[0] != '2' && val[0] != '5') || !V.on) {
		if (V.on && V.hoplen)
			probe_connect(p);
		else
			finish(p, MX_DNS_TEMPFAIL, "verification off");
		return;
	}
	p->shared = true;
	p->ttl = ttl_s;
	snprintf(text, sizeof(text), "%.*s", (int)(vlen - 4), val + 4);
	finish(p, val[0] == '2' ? MX_DNS_OK : MX_DNS_NXDOMAIN, text);
}

static void verify_start(const char *addr, size_t len, void *token)
{
	struct probe *p = calloc(1, sizeof(*p));
	struct mx_dns_result r;

	if (!p || !V.on || V.hoplen == 0) {
		free(p);
		memset(&r, 0, sizeof(r));
		r.status = MX_DNS_TEMPFAIL;
		mx_dns_verify_done(token, &r, 0);
		return;
	}
	p->token = token;
	p->fd = -1;
	memcpy(p->addr, addr, len < sizeof(p->addr) ? len : sizeof(p->addr) - 1);
	p->next = V.list;
	p->prev = &V.list;
	if (V.list)
		V.list->prev = &p->next;
	V.list = p;
	mx_loop_timer_init(&p->timer, on_timeout, p);
	p->asking = V.share && V.share->get(p->addr, p, on_shared) == 0;
	if (!p->asking)
		probe_connect(p);
}

void pol_verify_set_share(const struct pol_verify_share *share)
{
	V.share = share;
}

static void verify_cancel(void)
{
	while (V.list)
		finish(V.list, MX_DNS_TEMPFAIL, "shutting down");
}

/* "smtp:ADDR:PORT" / "lmtp:[V6]:PORT" into V. */
static int parse_hop(const char *v)
{
	char host[64];
	const char *colon = strrchr(v, ':'), *h;
	size_t hl;
	long port;

	if (strncmp(v, "smtp:", 5) != 0 && strncmp(v, "lmtp:", 5) != 0)
		return -1;
	h = v + 5;
	if (!colon || colon < h)
		return -1;
	hl = (size_t)(colon - h);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']')
		h++, hl -= 2;
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (port < 1 || port > 65535)
		return -1;
	memset(&V.hop, 0, sizeof(V.hop));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&V.hop)->sin_addr) == 1) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&V.hop;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		V.hoplen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&V.hop)->sin6_addr) == 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&V.hop;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		V.hoplen = sizeof(*s6);
	} else {
		return -1;
	}
	V.lmtp = v[0] == 'l';
	snprintf(V.hopname, sizeof(V.hopname), "%s[%s]:%ld", host, host, port);
	return 0;
}

int pol_verify_configure(const struct mx_config *c, char *err, size_t errlen)
{
	const char *hop = c->policy_verify_nexthop[0] ? c->policy_verify_nexthop
			  : c->relay_nexthop.n	      ? c->relay_nexthop.v[0]
						      : NULL;

	if (!V.registered && mx_ctr_register(&vgroup) == 0)
		V.registered = true;
	if (!c->policy_verify_recipients) {
		V.on = false;
		return 0;
	}
	if (!hop || parse_hop(hop) != 0) {
		snprintf(err, errlen,
			 "%s: [policy] verify_recipients: the next hop %s%s: expected "
			 "smtp:ADDRESS:PORT or lmtp:ADDRESS:PORT with a numeric address "
			 "([policy] verify_nexthop or the first [relay] nexthop)",
			 c->path, hop ? "is " : "is not set", hop ? hop : "");
		return -1;
	}
	V.on = true;
	V.pos_ttl = (uint32_t)c->policy_verify_pos_ttl_s;
	V.neg_ttl = (uint32_t)c->policy_verify_neg_ttl_s;
	V.timeout_ms = (uint32_t)c->policy_verify_timeout_ms;
	snprintf(V.helo, sizeof(V.helo), "%s",
		 c->smtp_hostname[0] ? c->smtp_hostname : "localhost");
	mx_dns_set_verifier(verify_start, verify_cancel);
	return 0;
}
