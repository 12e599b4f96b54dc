/*
 * dns_fake.c - see dns_fake.h. Single-threaded; fixed tables.
 */
#include "dns_fake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define FAKE_RECS  64
#define FAKE_QUEUE 256

struct rec {
	enum mx_dns_type type;
	char name[MX_DNS_NAME_MAX + 1];
	struct mx_dns_result r;
};

static struct rec recs[FAKE_RECS];
static unsigned nrecs;
static struct {
	uint64_t cookie;
	struct mx_dns_result r;
} queue[FAKE_QUEUE];
static unsigned qhead, qlen, nqueries;
static bool held, off;
static int fake_worker;

void fake_dns_reset(void)
{
	nrecs = qhead = qlen = nqueries = 0;
	held = off = false;
}

void fake_dns_hold(bool hold)
{
	held = hold;
}

void fake_dns_off(bool o)
{
	off = o;
}

unsigned fake_dns_queries(void)
{
	return nqueries;
}

void fake_dns_set(enum mx_dns_type type, const char *name, enum mx_dns_status status, unsigned n,
		  const char *const *vals)
{
	struct rec *e = &recs[nrecs++];
	size_t off_ = 0;

	memset(e, 0, sizeof(*e));
	e->type = type;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->r.type = (uint8_t)type;
	e->r.status = (uint8_t)status;
	e->r.ttl = 60;
	e->r.n = (uint16_t)n;
	for (unsigned i = 0; i < n; i++) {
		if (type == MX_DNS_A) {
			inet_pton(AF_INET, vals[i], &e->r.u.a[i]);
		} else if (type == MX_DNS_AAAA) {
			inet_pton(AF_INET6, vals[i], &e->r.u.aaaa[i]);
		} else {
			e->r.u.s.off[i] = (uint16_t)off_;
			off_ += (size_t)snprintf(e->r.text + off_, sizeof(e->r.text) - off_, "%s",
						 vals[i]) +
				1;
		}
	}
}

static void lookup(enum mx_dns_type type, const char *name, struct mx_dns_result *out)
{
	for (unsigned i = 0; i < nrecs; i++)
		if (recs[i].type == type && strcasecmp(recs[i].name, name) == 0) {
			*out = recs[i].r;
			return;
		}
	memset(out, 0, sizeof(*out));
	out->type = (uint8_t)type;
	out->status = MX_DNS_NXDOMAIN;
}

struct mx_dns_worker *mx_dns_worker(unsigned worker)
{
	(void)worker;
	return off ? NULL : (struct mx_dns_worker *)&fake_worker;
}

int mx_dns_cached(struct mx_dns_worker *w, enum mx_dns_type type, const char *name,
		  struct mx_dns_result *out)
{
	(void)w, (void)type, (void)name, (void)out;
	return 0; /* every lookup goes through the ring */
}

int mx_dns_submit(struct mx_dns_worker *w, enum mx_dns_type type, const char *name, uint64_t cookie)
{
	(void)w;
	if (qlen == FAKE_QUEUE)
		return -ENOBUFS;
	unsigned i = (qhead + qlen++) % FAKE_QUEUE;
	queue[i].cookie = cookie;
	lookup(type, name, &queue[i].r);
	nqueries++;
	return 0;
}

unsigned mx_dns_poll(struct mx_dns_worker *w, unsigned max, mx_dns_answer_fn fn, void *arg)
{
	unsigned n = 0;

	(void)w;
	while (!held && qlen && n < max) {
		unsigned i = qhead;
		qhead = (qhead + 1) % FAKE_QUEUE;
		qlen--;
		fn(arg, queue[i].cookie, &queue[i].r);
		n++;
	}
	return n;
}

/* The verifier hooks (policy/verify.c) are the resolver's: nothing to do
 * here, verification answers come from fake_dns_set(MX_DNS_VERIFY, ...). */
void mx_dns_set_verifier(mx_dns_verify_fn fn, void (*cancel)(void))
{
	(void)fn, (void)cancel;
}

void mx_dns_verify_done(void *token, struct mx_dns_result *r, uint32_t ttl_s)
{
	(void)token, (void)r, (void)ttl_s;
}
