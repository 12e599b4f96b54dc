/*
 * test_dns.c - the asynchronous resolver without EAL and without root:
 *   - the answer parser (dns_parse.c) on hand-built messages: A, AAAA,
 *     TXT (joined strings, SPF records kept first), MX, PTR, CNAME chains,
 *     NXDOMAIN and NODATA with the SOA's negative TTL, SERVFAIL, malformed
 *     and truncated messages, compression loops;
 *   - names: normalisation, refusals, PTR names for IPv4 and IPv6;
 *   - the cache (dns_cache.c): TTL clamping, negative entries, expiry,
 *     case-insensitive keys, replacement, eviction of the oldest, ageing;
 *   - the SP/SC ring, alone and between two threads;
 *   - the whole resolver on the control loop against a fake DNS server on
 *     127.0.0.1 (an ephemeral UDP port served on the same loop): worker
 *     ring path from a real worker thread (a QSBR reader), coalescing,
 *     the cache answering the second time, TEMPFAIL on SERVFAIL and on
 *     timeout (the fake server drops), mx_dns_resolve() for the control
 *     thread, a reconfiguration with queries in flight.
 * Every wait is bounded by a deadline that only stops a hung test; no
 * assertion is about time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <urcu-qsbr.h>

#include "core/loop.h"
#include "dns_msg.h"
#include "policy/dns.h"
#include "policy/dns_int.h"

/* ---- parser ------------------------------------------------------------ */

static void parse(struct dmsg *m, uint8_t type, struct mx_dns_result *r, uint32_t *ttl)
{
	memset(r, 0xaa, sizeof(*r));
	dns_parse_answer(type, m->b, m->len, r, ttl);
}

static void test_parse_a(void **state)
{
	struct dmsg m;
	struct mx_dns_result r;
	uint32_t ttl;
	char buf[64];

	(void)state;
	dm_header(&m, 1, 0);
	dm_question(&m, "Host.Example.Test", 1);
	dm_a(&m, "host.example.test", 300, "192.0.2.1");
	dm_a(&m, "HOST.example.test", 120, "192.0.2.2");
	dm_a(&m, "other.example.test", 5, "192.0.2.3"); /* not ours */
	dm_count(&m, 1, 3, 0, 0);
	parse(&m, MX_DNS_A, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_OK);
	assert_int_equal(r.type, MX_DNS_A);
	assert_int_equal(r.n, 2);
	assert_int_equal(ttl, 120);
	inet_ntop(AF_INET, &r.u.a[1], buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.2");
}

static void test_parse_cname(void **state)
{
	struct dmsg m;
	struct mx_dns_result r;
	uint32_t ttl;
	int at;

	(void)state;
	dm_header(&m, 1, 0);
	dm_question(&m, "www.example.test", 1);
	/* Out of order: the A first, then the chain. */
	dm_a(&m, "real.example.test", 600, "192.0.2.9");
	at = dm_rr(&m, "alias.example.test", 5, 400);
	dm_name(&m, "real.example.test");
	dm_rr_end(&m, at);
	at = dm_rr(&m, "www.example.test", 5, 30);
	dm_name(&m, "alias.example.test");
	dm_rr_end(&m, at);
	dm_count(&m, 1, 3, 0, 0);
	parse(&m, MX_DNS_A, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_OK);
	assert_int_equal(r.n, 1);
	assert_int_equal(ttl, 30); /* the lowest of the chain */

	/* A CNAME loop and no address: NODATA, no hang. */
	dm_header(&m, 1, 0);
	dm_question(&m, "a.test", 1);
	at = dm_rr(&m, "a.test", 5, 10);
	dm_name(&m, "b.test");
	dm_rr_end(&m, at);
	at = dm_rr(&m, "b.test", 5, 10);
	dm_name(&m, "a.test");
	dm_rr_end(&m, at);
	dm_count(&m, 1, 2, 0, 0);
	parse(&m, MX_DNS_A, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_NODATA);
}

static void test_parse_aaaa_mx_ptr(void **state)
{
	struct dmsg m;
	struct mx_dns_result r;
	uint32_t ttl;
	unsigned char six[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	int at;

	(void)state;
	dm_header(&m, 1, 0);
	dm_question(&m, "v6.test", 28);
	at = dm_rr(&m, "v6.test", 28, 100);
	dm_put(&m, six, 16);
	dm_rr_end(&m, at);
	dm_count(&m, 1, 1, 0, 0);
	parse(&m, MX_DNS_AAAA, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_OK);
	assert_int_equal(r.n, 1);
	assert_memory_equal(&r.u.aaaa[0], six, 16);

	dm_header(&m, 1, 0);
	dm_question(&m, "example.test", 15);
	at = dm_rr(&m, "example.test", 15, 100);
	dm_u16(&m, 10);
	dm_name(&m, "mx1.example.test");
	dm_rr_end(&m, at);
	at = dm_rr(&m, "example.test", 15, 100);
	dm_u16(&m, 20);
	/* compressed: points at the question's "example.test" */
	dm_u8(&m, 3);
	dm_put(&m, "mx2", 3);
	dm_u16(&m, 0xc000 | 12);
	dm_rr_end(&m, at);
	dm_count(&m, 1, 2, 0, 0);
	parse(&m, MX_DNS_MX, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_OK);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.text + r.u.s.off[0], "mx1.example.test");
	assert_int_equal(r.u.s.pref[0], 10);
	assert_string_equal(r.text + r.u.s.off[1], "mx2.example.test");
	assert_int_equal(r.u.s.pref[1], 20);
	assert_int_equal(mx_dns_result_size(&r), offsetof(struct mx_dns_result, text) +
							 strlen("mx1.example.test") + 1 +
							 strlen("mx2.example.test") + 1);

	dm_header(&m, 1, 0);
	dm_question(&m, "1.2.0.192.in-addr.arpa", 12);
	at = dm_rr(&m, "1.2.0.192.in-addr.arpa", 12, 100);
	dm_name(&m, "mail.example.test");
	dm_rr_end(&m, at);
	dm_count(&m, 1, 1, 0, 0);
	parse(&m, MX_DNS_PTR, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_OK);
	assert_string_equal(r.text + r.u.s.off[0], "mail.example.test");
}

static void test_parse_txt(void **state)
{
	static const char *const spf[] = {"v=spf1 ip4:192.0.2.0/24 ", "-all", NULL};
	static const char *const other[] = {"google-site-verification=xyz", NULL};
	static const char *const notspf[] = {"v=spf10 +all", NULL};
	char big[250];
	const char *bigp[] = {big, NULL};
	struct dmsg m;
	struct mx_dns_result r;
	uint32_t ttl;

	(void)state;
	dm_header(&m, 1, 0);
	dm_question(&m, "example.test", 16);
	dm_txt(&m, "example.test", 100, other);
	dm_txt(&m, "example.test", 100, notspf);
	dm_txt(&m, "example.test", 100, spf);
	dm_count(&m, 1, 3, 0, 0);
	parse(&m, MX_DNS_TXT, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_OK);
	assert_int_equal(r.n, 3);
	/* SPF first, strings joined without separator */
	assert_string_equal(r.text + r.u.s.off[0], "v=spf1 ip4:192.0.2.0/24 -all");
	assert_string_equal(r.text + r.u.s.off[1], "google-site-verification=xyz");

	/* Many big records: the SPF one is kept even when the text is full. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	dm_header(&m, 1, 0);
	dm_question(&m, "example.test", 16);
	for (int i = 0; i < 12; i++)
		dm_txt(&m, "example.test", 100, bigp);
	dm_txt(&m, "example.test", 100, spf);
	dm_count(&m, 1, 13, 0, 0);
	parse(&m, MX_DNS_TXT, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_OK);
	assert_string_equal(r.text + r.u.s.off[0], "v=spf1 ip4:192.0.2.0/24 -all");
	assert_true(r.n < 13);
	assert_true(mx_dns_result_size(&r) <= sizeof(r));

	/* A NUL inside a string is handed over as '?' (the record stays whole) */
	{
		static const char nul[] = "v=spf1 -all\0x";
		int at;
		dm_header(&m, 1, 0);
		dm_question(&m, "example.test", 16);
		at = dm_rr(&m, "example.test", 16, 100);
		dm_u8(&m, sizeof(nul) - 1);
		dm_put(&m, nul, sizeof(nul) - 1);
		dm_rr_end(&m, at);
		dm_count(&m, 1, 1, 0, 0);
		parse(&m, MX_DNS_TXT, &r, &ttl);
		assert_int_equal(r.status, MX_DNS_OK);
		assert_string_equal(r.text, "v=spf1 -all?x");
	}
}

static void test_parse_negative(void **state)
{
	struct dmsg m;
	struct mx_dns_result r;
	uint32_t ttl;

	(void)state;
	dm_header(&m, 1, 3);
	dm_question(&m, "nx.example.test", 1);
	dm_soa(&m, "example.test", 900, 300);
	dm_count(&m, 1, 0, 1, 0);
	parse(&m, MX_DNS_A, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_NXDOMAIN);
	assert_int_equal(r.n, 0);
	assert_int_equal(ttl, 300); /* min(SOA TTL, MINIMUM) */

	dm_header(&m, 1, 0);
	dm_question(&m, "example.test", 28);
	dm_soa(&m, "example.test", 60, 300);
	dm_count(&m, 1, 0, 1, 0);
	parse(&m, MX_DNS_AAAA, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_NODATA);
	assert_int_equal(ttl, 60);

	dm_header(&m, 1, 3); /* no SOA */
	dm_question(&m, "nx.example.test", 1);
	dm_count(&m, 1, 0, 0, 0);
	parse(&m, MX_DNS_A, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_NXDOMAIN);
	assert_int_equal(ttl, DNS_TTL_NONE);

	dm_header(&m, 1, 2); /* SERVFAIL */
	dm_question(&m, "x.test", 1);
	dm_count(&m, 1, 0, 0, 0);
	parse(&m, MX_DNS_A, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_TEMPFAIL);
	dm_header(&m, 1, 5); /* REFUSED */
	dm_question(&m, "x.test", 1);
	dm_count(&m, 1, 0, 0, 0);
	parse(&m, MX_DNS_A, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_TEMPFAIL);
}

static void test_parse_malformed(void **state)
{
	struct dmsg m, ok;
	struct mx_dns_result r;
	uint32_t ttl;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.len = 5;
	parse(&m, MX_DNS_A, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_TEMPFAIL);

	dm_header(&ok, 1, 0);
	dm_question(&ok, "host.test", 1);
	dm_a(&ok, "host.test", 300, "192.0.2.1");
	dm_count(&ok, 1, 1, 0, 0);
	/* every truncation of a good answer: never OK with garbage, no crash */
	for (int l = 0; l < ok.len; l++) {
		parse(&ok, MX_DNS_A, &r, &ttl);
		m = ok;
		m.len = l;
		parse(&m, MX_DNS_A, &r, &ttl);
		assert_int_equal(r.status, MX_DNS_TEMPFAIL);
	}
	/* A compression pointer to itself in the answer's owner. */
	dm_header(&m, 1, 0);
	dm_question(&m, "host.test", 1);
	int self = m.len;
	dm_u16(&m, 0xc000 | (unsigned)self);
	dm_u16(&m, 1), dm_u16(&m, 1), dm_u32(&m, 5), dm_u16(&m, 4), dm_u32(&m, 0x01020304);
	dm_count(&m, 1, 1, 0, 0);
	parse(&m, MX_DNS_A, &r, &ttl);
	assert_int_not_equal(r.status, MX_DNS_OK);
	/* TC set */
	m = ok;
	m.b[2] |= 0x02;
	parse(&m, MX_DNS_A, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_TEMPFAIL);
	/* wrong rdlength for an A: skipped, so NODATA */
	dm_header(&m, 1, 0);
	dm_question(&m, "host.test", 1);
	int at = dm_rr(&m, "host.test", 1, 5);
	dm_u16(&m, 7);
	dm_rr_end(&m, at);
	dm_count(&m, 1, 1, 0, 0);
	parse(&m, MX_DNS_A, &r, &ttl);
	assert_int_equal(r.status, MX_DNS_NODATA);
}

/* ---- names --------------------------------------------------------------- */

static void test_names(void **state)
{
	char out[MX_DNS_NAME_MAX + 1], big[300], ptr[128];
	unsigned char v4[4] = {192, 0, 2, 33};
	struct in6_addr v6;

	(void)state;
	assert_int_equal(dns_name_norm("Mail.Example.TEST.", out), 17);
	assert_string_equal(out, "mail.example.test");
	assert_int_equal(dns_name_norm("", out), -EINVAL);
	assert_int_equal(dns_name_norm(".", out), -EINVAL);
	assert_int_equal(dns_name_norm("a..b", out), -EINVAL);
	assert_int_equal(dns_name_norm(".a", out), -EINVAL);
	assert_int_equal(dns_name_norm("a b.test", out), -EINVAL);
	assert_int_equal(dns_name_norm("a\\.test", out), -EINVAL);
	assert_int_equal(dns_name_norm("a\x80.test", out), -EINVAL);
	assert_int_equal(dns_name_norm("_spf.example.test", out), 17);
	memset(big, 'a', 64);
	big[64] = '\0';
	assert_int_equal(dns_name_norm(big, out), -EINVAL); /* label of 64 */
	for (int i = 0; i < 299; i++)
		big[i] = i % 2 ? '.' : 'a';
	big[299] = '\0';
	assert_int_equal(dns_name_norm(big, out), -EINVAL); /* 299 > 253 */
	big[253] = '\0';
	assert_int_equal(dns_name_norm(big, out), 253);

	assert_int_equal(mx_dns_ptr_name(AF_INET, v4, ptr, sizeof(ptr)), 0);
	assert_string_equal(ptr, "33.2.0.192.in-addr.arpa");
	inet_pton(AF_INET6, "2001:db8::567:89ab", &v6);
	assert_int_equal(mx_dns_ptr_name(AF_INET6, &v6, ptr, sizeof(ptr)), 0);
	assert_string_equal(ptr, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
				 "ip6.arpa");
	assert_int_equal(mx_dns_ptr_name(AF_INET6, &v6, ptr, 20), -ENOSPC);
	assert_int_equal(mx_dns_ptr_name(AF_UNIX, &v6, ptr, sizeof(ptr)), -EAFNOSUPPORT);
}

/* ---- cache --------------------------------------------------------------- */

static const struct mx_dns_conf conf_default = {
	.timeout_ms = 300,
	.tries = 1,
	.min_ttl = 60,
	.max_ttl = 86400,
	.neg_ttl_max = 3600,
	.cache_max = 1000,
	.inflight_max = 64,
};

static void a_result(struct mx_dns_result *r, uint32_t addr, uint32_t ttl)
{
	memset(r, 0, sizeof(*r));
	r->type = MX_DNS_A;
	r->status = MX_DNS_OK;
	r->n = 1;
	r->u.a[0].s_addr = htonl(addr);
	r->ttl = ttl;
}

static void put(struct dns_cache *c, const char *name, const struct mx_dns_result *r, uint64_t now)
{
	char n[MX_DNS_NAME_MAX + 1];
	int len = dns_name_norm(name, n);

	assert_true(len > 0);
	assert_int_equal(dns_cache_put(c, n, (size_t)len, r, now), 0);
}

static int get(struct dns_cache *c, uint8_t type, const char *name, uint64_t now,
	       struct mx_dns_result *out)
{
	char n[MX_DNS_NAME_MAX + 1];
	int len = dns_name_norm(name, n);

	assert_true(len > 0);
	return dns_cache_get(c, type, n, (size_t)len, now, out);
}

static void test_ttl_clamp(void **state)
{
	struct mx_dns_conf c = conf_default;

	(void)state;
	assert_int_equal(dns_ttl_clamp(&c, 0, false), 60);
	assert_int_equal(dns_ttl_clamp(&c, 61, false), 61);
	assert_int_equal(dns_ttl_clamp(&c, 10000000, false), 86400);
	assert_int_equal(dns_ttl_clamp(&c, 5, true), 60);
	assert_int_equal(dns_ttl_clamp(&c, 100000, true), 3600);
	c.neg_ttl_max = 30; /* below min_ttl: the cap wins */
	assert_int_equal(dns_ttl_clamp(&c, 5, true), 30);
	c.min_ttl = 0;
	assert_int_equal(dns_ttl_clamp(&c, 0, false), 0);
}

static void test_cache_basic(void **state)
{
	struct dns_cache *c = dns_cache_new(100, 42);
	struct mx_dns_result r, out;

	(void)state;
	assert_non_null(c);
	a_result(&r, 0xc0000201, 60);
	put(c, "Host.Example.Test", &r, 1000);
	assert_int_equal(dns_cache_count(c), 1);
	/* case-insensitive, trailing dot */
	assert_int_equal(get(c, MX_DNS_A, "host.example.test.", 1000, &out), 1);
	assert_int_equal(out.status, MX_DNS_OK);
	assert_int_equal(out.u.a[0].s_addr, htonl(0xc0000201));
	assert_int_equal(out.ttl, 60);
	assert_int_equal(get(c, MX_DNS_A, "HOST.EXAMPLE.TEST", 31000, &out), 1);
	assert_int_equal(out.ttl, 30); /* what is left */
	/* another type of the same name: a miss */
	assert_int_equal(get(c, MX_DNS_AAAA, "host.example.test", 1000, &out), 0);
	/* expired: invisible at once, removed by ageing */
	assert_int_equal(get(c, MX_DNS_A, "host.example.test", 61000, &out), 0);
	assert_int_equal(dns_cache_count(c), 1);
	assert_int_equal(dns_cache_expire(c, 61000, 100), 1);
	assert_int_equal(dns_cache_count(c), 0);

	/* negative entries */
	memset(&r, 0, sizeof(r));
	r.type = MX_DNS_TXT;
	r.status = MX_DNS_NXDOMAIN;
	r.ttl = 300;
	put(c, "nx.example.test", &r, 0);
	assert_int_equal(get(c, MX_DNS_TXT, "nx.example.test", 299000, &out), 1);
	assert_int_equal(out.status, MX_DNS_NXDOMAIN);
	assert_int_equal(out.n, 0);
	/* ttl 0: not stored */
	a_result(&r, 1, 0);
	put(c, "zero.test", &r, 0);
	assert_int_equal(get(c, MX_DNS_A, "zero.test", 0, &out), 0);

	/* replacement: the new answer wins, count unchanged */
	a_result(&r, 1, 100);
	put(c, "rep.test", &r, 0);
	a_result(&r, 2, 100);
	put(c, "rep.test", &r, 0);
	assert_int_equal(dns_cache_count(c), 2);
	assert_int_equal(get(c, MX_DNS_A, "rep.test", 0, &out), 1);
	assert_int_equal(out.u.a[0].s_addr, htonl(2));

	/* text answers keep their text */
	memset(&r, 0, sizeof(r));
	r.type = MX_DNS_TXT;
	r.status = MX_DNS_OK;
	r.n = 2;
	r.ttl = 100;
	strcpy(r.text, "v=spf1 -all");
	r.u.s.off[1] = 12;
	strcpy(r.text + 12, "second");
	put(c, "txt.test", &r, 0);
	memset(&out, 0, sizeof(out));
	assert_int_equal(get(c, MX_DNS_TXT, "txt.test", 0, &out), 1);
	assert_int_equal(out.n, 2);
	assert_string_equal(out.text, "v=spf1 -all");
	assert_string_equal(out.text + out.u.s.off[1], "second");
	dns_cache_free(c);
}

static void test_cache_evict(void **state)
{
	struct dns_cache *c = dns_cache_new(50, 7);
	struct mx_dns_result r, out;
	char name[64];

	(void)state;
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "h%d.test", i);
		a_result(&r, (uint32_t)i, 1000);
		put(c, name, &r, 0);
		assert_true(dns_cache_count(c) <= 50);
	}
	assert_int_equal(dns_cache_count(c), 50);
	/* the oldest went first */
	assert_int_equal(get(c, MX_DNS_A, "h149.test", 0, &out), 0);
	assert_int_equal(get(c, MX_DNS_A, "h150.test", 0, &out), 1);
	assert_int_equal(get(c, MX_DNS_A, "h199.test", 0, &out), 1);
	/* shrinking evicts at once */
	dns_cache_set_max(c, 10);
	assert_int_equal(dns_cache_count(c), 10);
	assert_int_equal(get(c, MX_DNS_A, "h189.test", 0, &out), 0);
	assert_int_equal(get(c, MX_DNS_A, "h190.test", 0, &out), 1);
	/* ageing in slices finds every expired entry */
	unsigned removed = 0;
	for (int i = 0; i < 10; i++)
		removed += dns_cache_expire(c, 2000000, 3);
	assert_int_equal(removed, 10);
	assert_int_equal(dns_cache_count(c), 0);
	dns_cache_free(c);
}

/* ---- ring -------------------------------------------------------------- */

static void test_ring(void **state)
{
	struct dns_ring *r = dns_ring_new(4, sizeof(uint64_t));
	uint64_t *p;

	(void)state;
	assert_null(dns_ring_new(3, 8));
	assert_non_null(r);
	assert_null(dns_ring_slot_get(r));
	for (uint64_t i = 0; i < 4; i++) {
		p = dns_ring_slot_put(r);
		assert_non_null(p);
		*p = i;
		dns_ring_put_commit(r);
	}
	assert_null(dns_ring_slot_put(r)); /* full */
	for (uint64_t i = 0; i < 4; i++) {
		const uint64_t *g = dns_ring_slot_get(r);
		assert_non_null(g);
		assert_int_equal(*g, i);
		dns_ring_get_commit(r);
	}
	assert_null(dns_ring_slot_get(r));
	free(r);
}

#define XFER 200000
static void *ring_producer(void *arg)
{
	struct dns_ring *r = arg;

	for (uint64_t i = 0; i < XFER;) {
		uint64_t *p = dns_ring_slot_put(r);
		if (!p)
			continue;
		p[0] = i;
		p[1] = ~i;
		dns_ring_put_commit(r);
		i++;
	}
	return NULL;
}

static void test_ring_threads(void **state)
{
	struct dns_ring *r = dns_ring_new(64, 2 * sizeof(uint64_t));
	pthread_t t;
	uint64_t next = 0;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, ring_producer, r), 0);
	while (next < XFER) {
		const uint64_t *g = dns_ring_slot_get(r);
		if (!g)
			continue;
		assert_int_equal(g[0], next);
		assert_int_equal(g[1], ~next);
		dns_ring_get_commit(r);
		next++;
	}
	pthread_join(t, NULL);
	free(r);
}

/* ---- the resolver against a fake server --------------------------------- */

/* The fake server: answers from the table below, counts queries per name. */
enum fake_kind { F_A, F_TXT, F_NX, F_SERVFAIL, F_DROP };
static const struct fake {
	const char *name;
	unsigned kind;
	uint32_t ttl;
} fakes[] = {
	{"a.fake.test", F_A, 300},     {"b.fake.test", F_A, 5},
	{"slow.fake.test", F_A, 300},  {"txt.fake.test", F_TXT, 300},
	{"nx.fake.test", F_NX, 120},   {"fail.fake.test", F_SERVFAIL, 0},
	{"drop.fake.test", F_DROP, 0},
};
static int srv_fd = -1;
static unsigned srv_hits[sizeof(fakes) / sizeof(fakes[0])];
static int srv_port;
static bool srv_hold; /* do not answer slow.fake.test yet */
static struct {
	struct sockaddr_storage from;
	socklen_t fromlen;
	struct dmsg q;
} held[16];
static unsigned nheld;

static void srv_answer(const unsigned char *q, int qlen, const struct sockaddr *to, socklen_t tolen)
{
	char name[256] = "";
	int p = 12, o = 0;
	unsigned type;
	struct dmsg m;

	if (qlen < 17)
		return;
	while (p < qlen && q[p] && o < 250) {
		int l = q[p];
		if (o)
			name[o++] = '.';
		memcpy(name + o, q + p + 1, (size_t)l);
		o += l;
		p += l + 1;
	}
	name[o] = '\0';
	type = (unsigned)(q[p + 1] << 8 | q[p + 2]);
	for (unsigned i = 0; i < sizeof(fakes) / sizeof(fakes[0]); i++) {
		const struct fake *f = &fakes[i];
		if (strcasecmp(f->name, name) != 0)
			continue;
		srv_hits[i]++;
		if (f->kind == F_DROP)
			return;
		if (strcmp(f->name, "slow.fake.test") == 0 && srv_hold && nheld < 16) {
			held[nheld].fromlen = tolen;
			memcpy(&held[nheld].from, to, tolen);
			memcpy(held[nheld].q.b, q, (size_t)qlen);
			held[nheld].q.len = qlen;
			nheld++;
			return;
		}
		dm_header(&m, (unsigned)(q[0] << 8 | q[1]),
			  f->kind == F_NX	  ? 3
			  : f->kind == F_SERVFAIL ? 2
						  : 0);
		dm_question(&m, name, type);
		if (f->kind == F_A && type == 1) {
			dm_a(&m, name, f->ttl, "192.0.2.7");
			dm_count(&m, 1, 1, 0, 0);
		} else if (f->kind == F_TXT && type == 16) {
			static const char *const t[] = {"v=spf1 ", "-all", NULL};
			dm_txt(&m, name, f->ttl, t);
			dm_count(&m, 1, 1, 0, 0);
		} else if (f->kind == F_NX || f->kind == F_A || f->kind == F_TXT) {
			dm_soa(&m, "fake.test", f->ttl, f->ttl);
			dm_count(&m, 1, 0, 1, 0);
		} else {
			dm_count(&m, 1, 0, 0, 0);
		}
		sendto(srv_fd, m.b, (size_t)m.len, 0, to, tolen);
		return;
	}
	dm_header(&m, (unsigned)(q[0] << 8 | q[1]), 5); /* REFUSED */
	dm_question(&m, name, type);
	dm_count(&m, 1, 0, 0, 0);
	sendto(srv_fd, m.b, (size_t)m.len, 0, to, tolen);
}

static void srv_release(void)
{
	srv_hold = false;
	for (unsigned i = 0; i < nheld; i++)
		srv_answer(held[i].q.b, held[i].q.len, (struct sockaddr *)&held[i].from,
			   held[i].fromlen);
	nheld = 0;
}

static void on_srv(int fd, unsigned events, void *arg)
{
	unsigned char q[512];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n;

	(void)events;
	(void)arg;
	while ((n = recvfrom(fd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&from, &fl)) > 0) {
		srv_answer(q, (int)n, (struct sockaddr *)&from, fl);
		fl = sizeof(from);
	}
}

static unsigned hits_of(const char *name)
{
	for (unsigned i = 0; i < sizeof(fakes) / sizeof(fakes[0]); i++)
		if (strcmp(fakes[i].name, name) == 0)
			return srv_hits[i];
	return 0;
}

static char servers[64];

static int resolver_setup(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	struct mx_dns_conf c = conf_default;

	(void)state;
	if (mx_loop_init() != 0)
		return -1;
	srv_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (srv_fd < 0 || bind(srv_fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(srv_fd, (struct sockaddr *)&sin, &sl) != 0)
		return -1;
	srv_port = ntohs(sin.sin_port);
	memset(srv_hits, 0, sizeof(srv_hits));
	mx_loop_add(srv_fd, MX_LOOP_IN, on_srv, NULL);
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", srv_port);
	c.servers = servers;
	rcu_register_thread();
	rcu_thread_offline();
	return mx_dns_init(&c, 2);
}

static int resolver_teardown(void **state)
{
	(void)state;
	mx_dns_shutdown();
	mx_loop_del(srv_fd);
	close(srv_fd);
	mx_loop_fini();
	rcu_unregister_thread();
	return 0;
}

/* Run the loop until *@flag or 10 s pass (a hung test, not a timing check). */
static void run_until(volatile int *flag)
{
	uint64_t end = mx_loop_now_ms() + 10000;

	while (!*flag && mx_loop_now_ms() < end)
		mx_loop_run_once(5);
	assert_true(*flag);
}

struct ctl_ans {
	int done;
	struct mx_dns_result r;
};

static void on_ctl(void *arg, const struct mx_dns_result *r)
{
	struct ctl_ans *a = arg;

	a->r = *r;
	a->done++;
}

static void test_resolve_ctl(void **state)
{
	struct ctl_ans a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
	struct mx_dns_counters ctr;
	char buf[32];

	(void)state;
	assert_int_equal(mx_dns_resolve(MX_DNS_A, "A.Fake.Test", on_ctl, &a), 0);
	assert_int_equal(mx_dns_resolve(MX_DNS_A, "a.fake.test", on_ctl, &b), 0); /* joins */
	assert_int_equal(mx_dns_resolve(MX_DNS_TXT, "nx.fake.test", on_ctl, &c), 0);
	assert_int_equal(mx_dns_resolve(MX_DNS_A, "fail.fake.test", on_ctl, &d), 0);
	assert_int_equal(mx_dns_resolve(MX_DNS_TXT, "txt.fake.test", on_ctl, &e), 0);
	assert_int_equal(mx_dns_resolve(MX_DNS_A, "bad..name", on_ctl, &e), -EINVAL);
	run_until(&a.done);
	run_until(&b.done);
	run_until(&c.done);
	run_until(&d.done);
	run_until(&e.done);
	assert_int_equal(a.r.status, MX_DNS_OK);
	inet_ntop(AF_INET, &a.r.u.a[0], buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.7");
	assert_int_equal(a.r.ttl, 300);
	assert_int_equal(b.r.status, MX_DNS_OK);
	assert_int_equal(hits_of("a.fake.test"), 1); /* coalesced */
	assert_int_equal(c.r.status, MX_DNS_NXDOMAIN);
	assert_int_equal(c.r.ttl, 120);
	assert_int_equal(d.r.status, MX_DNS_TEMPFAIL);
	assert_int_equal(e.r.status, MX_DNS_OK);
	assert_string_equal(e.r.text, "v=spf1 -all");

	/* Cached: answered before mx_dns_resolve() returns, no new query. */
	memset(&a, 0, sizeof(a));
	assert_int_equal(mx_dns_resolve(MX_DNS_A, "a.fake.test", on_ctl, &a), 0);
	assert_int_equal(a.done, 1);
	assert_int_equal(hits_of("a.fake.test"), 1);
	memset(&c, 0, sizeof(c));
	assert_int_equal(mx_dns_resolve(MX_DNS_TXT, "NX.fake.test", on_ctl, &c), 0);
	assert_int_equal(c.done, 1);
	assert_int_equal(c.r.status, MX_DNS_NXDOMAIN);
	/* TEMPFAIL is not cached: asked again */
	memset(&d, 0, sizeof(d));
	assert_int_equal(mx_dns_resolve(MX_DNS_A, "fail.fake.test", on_ctl, &d), 0);
	assert_int_equal(d.done, 0);
	run_until(&d.done);
	assert_true(hits_of("fail.fake.test") >= 2);

	mx_dns_counters_read(&ctr);
	assert_true(ctr.queries >= 5);
	assert_true(ctr.coalesced >= 1);
	assert_true(ctr.cache_hits >= 2);
	assert_true(ctr.servfail >= 2);
	assert_true(ctr.cache_items >= 3);
}

static void test_timeout(void **state)
{
	struct ctl_ans a = {0};
	struct mx_dns_counters ctr;

	(void)state;
	assert_int_equal(mx_dns_resolve(MX_DNS_A, "drop.fake.test", on_ctl, &a), 0);
	run_until(&a.done);
	assert_int_equal(a.done, 1);
	assert_int_equal(a.r.status, MX_DNS_TEMPFAIL);
	mx_dns_counters_read(&ctr);
	assert_int_equal(ctr.timeouts, 1);
}

/* A worker thread: a QSBR reader that looks up, submits, polls. */
struct wk {
	struct mx_dns_worker *w;
	const char *const *names;
	unsigned n;
	int got[8];
	struct mx_dns_result r[8];
	int done;
	int cached_after; /* 1 if a second lookup hit the cache */
	int stop;
};

static void on_worker_answer(void *arg, uint64_t cookie, const struct mx_dns_result *r)
{
	struct wk *k = arg;

	assert_true(cookie < k->n);
	k->got[cookie]++;
	memcpy(&k->r[cookie], r, mx_dns_result_size(r));
}

static void *worker_main(void *arg)
{
	struct wk *k = arg;
	unsigned answered = 0;

	rcu_register_thread();
	for (unsigned i = 0; i < k->n; i++) {
		struct mx_dns_result r;
		if (mx_dns_cached(k->w, MX_DNS_A, k->names[i], &r)) {
			k->got[i]++, k->r[i] = r;
			continue;
		}
		if (mx_dns_submit(k->w, MX_DNS_A, k->names[i], i) != 0)
			abort();
	}
	for (long spins = 0; !__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE) && spins < 100000000;
	     spins++) {
		answered += mx_dns_poll(k->w, 8, on_worker_answer, k);
		rcu_quiescent_state();
		unsigned all = 0;
		for (unsigned i = 0; i < k->n; i++)
			all += k->got[i] > 0;
		if (all == k->n)
			break;
		usleep(100);
	}
	/* Once answered, the cache has it: no submit needed. */
	{
		struct mx_dns_result r;
		k->cached_after = mx_dns_cached(k->w, MX_DNS_A, k->names[0], &r);
	}
	rcu_unregister_thread();
	__atomic_store_n(&k->done, 1, __ATOMIC_RELEASE);
	(void)answered;
	return NULL;
}

static void test_worker_rings(void **state)
{
	static const char *const names[] = {"a.fake.test", "b.fake.test", "nx.fake.test",
					    "drop.fake.test", "A.FAKE.TEST"};
	struct wk k = {.names = names, .n = 5};
	pthread_t t;

	(void)state;
	assert_null(mx_dns_worker(2));
	k.w = mx_dns_worker(1);
	assert_non_null(k.w);
	assert_int_equal(mx_dns_submit(k.w, MX_DNS_A, "bad..name", 0), -EINVAL);
	assert_int_equal(pthread_create(&t, NULL, worker_main, &k), 0);
	run_until(&k.done);
	pthread_join(t, NULL);
	for (unsigned i = 0; i < k.n; i++)
		assert_int_equal(k.got[i], 1);
	assert_int_equal(k.r[0].status, MX_DNS_OK);
	assert_int_equal(k.r[1].status, MX_DNS_OK);
	assert_int_equal(k.r[1].ttl, 60); /* 5 clamped up to min_ttl */
	assert_int_equal(k.r[2].status, MX_DNS_NXDOMAIN);
	assert_int_equal(k.r[3].status, MX_DNS_TEMPFAIL);
	assert_int_equal(k.r[4].status, MX_DNS_OK);
	assert_int_equal(hits_of("a.fake.test"), 1); /* the two spellings: one query */
	assert_int_equal(k.cached_after, 1);
}

static void test_ring_full(void **state)
{
	struct mx_dns_worker *w = mx_dns_worker(0);
	struct mx_dns_counters ctr;
	int rc = 0;
	unsigned n;

	(void)state;
	/* Nobody drains (the loop does not run): the ring fills. */
	for (n = 0; n < 5000 && (rc = mx_dns_submit(w, MX_DNS_A, "a.fake.test", n)) == 0; n++)
		;
	assert_int_equal(rc, -ENOBUFS);
	assert_true(n >= 16);
	mx_dns_counters_read(&ctr);
	assert_int_equal(ctr.ring_full, 1);
}

static void count_answer(void *arg, uint64_t cookie, const struct mx_dns_result *r)
{
	unsigned *n = arg;

	(void)cookie;
	assert_int_equal(r->status, MX_DNS_OK);
	(*n)++;
}

/* A worker that does not take its answers: they are held, its requests
 * are no longer taken, its ring fills and refuses; once it polls again,
 * every accepted request is answered exactly once. */
static void test_backpressure(void **state)
{
	struct mx_dns_worker *w = mx_dns_worker(0);
	struct ctl_ans a = {0};
	unsigned accepted = 0, answered = 0, refused = 0;

	(void)state;
	assert_int_equal(mx_dns_resolve(MX_DNS_A, "a.fake.test", on_ctl, &a), 0);
	run_until(&a.done); /* now cached: every request is answered at once */
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 600; i++) {
			if (mx_dns_submit(w, MX_DNS_A, "a.fake.test", accepted) == 0)
				accepted++;
			else
				refused++;
		}
		for (int i = 0; i < 10; i++)
			mx_loop_run_once(2);
	}
	assert_true(refused > 0);
	assert_true(accepted < 20 * 600);
	/* Take the answers while the loop runs: all come, once each. */
	for (int i = 0; i < 20000 && answered < accepted; i++) {
		unsigned n = 0;
		mx_dns_poll(w, 256, count_answer, &n);
		answered += n;
		mx_loop_run_once(1);
	}
	assert_int_equal(answered, accepted);
}

static void test_reconfigure_inflight(void **state)
{
	struct ctl_ans a = {0};
	struct mx_dns_conf c = conf_default;

	(void)state;
	srv_hold = true;
	assert_int_equal(mx_dns_resolve(MX_DNS_A, "slow.fake.test", on_ctl, &a), 0);
	for (int i = 0; i < 50 && nheld == 0; i++)
		mx_loop_run_once(5);
	assert_int_equal(nheld, 1);
	/* New settings (same server, other timeout): a new channel; the query
	 * in flight moves to it instead of failing. */
	c.servers = servers;
	c.timeout_ms = 2000;
	assert_int_equal(mx_dns_reconfigure(&c), 0);
	assert_int_equal(a.done, 0);
	srv_release();
	run_until(&a.done);
	assert_int_equal(a.r.status, MX_DNS_OK);
	/* A bad server list is refused, the old one kept. */
	c.servers = "not-an-address";
	assert_int_not_equal(mx_dns_reconfigure(&c), 0);
	memset(&a, 0, sizeof(a));
	assert_int_equal(mx_dns_resolve(MX_DNS_A, "b.fake.test", on_ctl, &a), 0);
	run_until(&a.done);
	assert_int_equal(a.r.status, MX_DNS_OK);
}

/* MX_DNS_VERIFY through the resolver: a fake verifier that answers "gone"
 * 5xx at once and holds the others; answers cached with the verifier's
 * TTL (5xx and 2xx) with their text, TEMPFAIL not cached, identical
 * requests coalesced, held probes cancelled (TEMPFAIL) at shutdown. */
static void *vtok[4];
static unsigned nvtok, nprobes;
static unsigned cancels;

static void fake_verify(const char *addr, size_t len, void *token)
{
	struct mx_dns_result r;

	nprobes++;
	memset(&r, 0, sizeof(r));
	r.n = 1;
	if (len == 16 && memcmp(addr, "gone@example.com", 16) == 0) {
		r.status = MX_DNS_NXDOMAIN;
		snprintf(r.text, sizeof(r.text), "host h said: 550 5.1.1 no such user");
		mx_dns_verify_done(token, &r, 60);
	} else if (nvtok < 4) {
		vtok[nvtok++] = token;
	}
}

static void fake_cancel(void)
{
	struct mx_dns_result r;

	cancels++;
	while (nvtok) {
		memset(&r, 0, sizeof(r));
		r.status = MX_DNS_TEMPFAIL;
		mx_dns_verify_done(vtok[--nvtok], &r, 0);
	}
}

static void test_verify(void **state)
{
	struct ctl_ans a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
	struct mx_dns_result r;

	(void)state;
	nvtok = nprobes = cancels = 0;
	/* No verifier: temporary. */
	mx_dns_set_verifier(NULL, NULL);
	assert_int_equal(mx_dns_resolve(MX_DNS_VERIFY, "x@example.com", on_ctl, &a), 0);
	assert_int_equal(a.done, 1);
	assert_int_equal(a.r.status, MX_DNS_TEMPFAIL);
	assert_string_equal(a.r.text, "");
	mx_dns_set_verifier(fake_verify, fake_cancel);
	assert_int_equal(mx_dns_resolve(MX_DNS_VERIFY, "Gone@Example.com", on_ctl, &b), 0);
	assert_int_equal(b.done, 1);
	assert_int_equal(b.r.status, MX_DNS_NXDOMAIN);
	assert_string_equal(b.r.text, "host h said: 550 5.1.1 no such user");
	memset(&b, 0, sizeof(b));
	assert_int_equal(mx_dns_resolve(MX_DNS_VERIFY, "gone@example.com", on_ctl, &b), 0);
	assert_int_equal(b.done, 1); /* cached */
	assert_string_equal(b.r.text, "host h said: 550 5.1.1 no such user");
	assert_int_equal(nprobes, 1);
	/* Held: two askers, one probe; a 2xx is cached with its text. */
	assert_int_equal(mx_dns_resolve(MX_DNS_VERIFY, "here@example.com", on_ctl, &c), 0);
	assert_int_equal(mx_dns_resolve(MX_DNS_VERIFY, "here@example.com", on_ctl, &d), 0);
	assert_int_equal(nprobes, 2);
	assert_int_equal(nvtok, 1);
	memset(&r, 0, sizeof(r));
	r.status = MX_DNS_OK;
	r.n = 1;
	snprintf(r.text, sizeof(r.text), "host h said: 250 ok");
	mx_dns_verify_done(vtok[--nvtok], &r, 60);
	assert_int_equal(c.done, 1);
	assert_int_equal(d.done, 1);
	assert_int_equal(d.r.status, MX_DNS_OK);
	assert_string_equal(d.r.text, "host h said: 250 ok");
	memset(&c, 0, sizeof(c));
	assert_int_equal(mx_dns_resolve(MX_DNS_VERIFY, "here@example.com", on_ctl, &c), 0);
	assert_int_equal(c.done, 1);
	assert_int_equal(nprobes, 2);
	/* A probe still held at shutdown is answered TEMPFAIL (teardown). */
	assert_int_equal(mx_dns_resolve(MX_DNS_VERIFY, "slow@example.com", on_ctl, &e), 0);
	assert_int_equal(nvtok, 1);
	mx_dns_shutdown();
	assert_int_equal(cancels, 1);
	assert_int_equal(e.done, 1);
	assert_int_equal(e.r.status, MX_DNS_TEMPFAIL);
	mx_dns_set_verifier(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_parse_a),
		cmocka_unit_test(test_parse_cname),
		cmocka_unit_test(test_parse_aaaa_mx_ptr),
		cmocka_unit_test(test_parse_txt),
		cmocka_unit_test(test_parse_negative),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_ttl_clamp),
		cmocka_unit_test(test_ring),
		cmocka_unit_test(test_ring_threads),
	};
	const struct CMUnitTest cache[] = {
		cmocka_unit_test(test_cache_basic),
		cmocka_unit_test(test_cache_evict),
	};
	const struct CMUnitTest live[] = {
		cmocka_unit_test_setup_teardown(test_resolve_ctl, resolver_setup,
						resolver_teardown),
		cmocka_unit_test_setup_teardown(test_timeout, resolver_setup, resolver_teardown),
		cmocka_unit_test_setup_teardown(test_worker_rings, resolver_setup,
						resolver_teardown),
		cmocka_unit_test_setup_teardown(test_ring_full, resolver_setup, resolver_teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, resolver_setup,
						resolver_teardown),
		cmocka_unit_test_setup_teardown(test_reconfigure_inflight, resolver_setup,
						resolver_teardown),
		cmocka_unit_test_setup_teardown(test_verify, resolver_setup, resolver_teardown),
	};
	int fails = cmocka_run_group_tests_name("dns-pure", pure, NULL, NULL);

	/* The cache tests act as the control thread: a registered QSBR
	 * thread (online while it touches the table, as dns.c does). */
	rcu_register_thread();
	fails += cmocka_run_group_tests_name("dns-cache", cache, NULL, NULL);
	rcu_unregister_thread();
	fails += cmocka_run_group_tests_name("dns-resolver", live, NULL, NULL);
	return fails;
}
