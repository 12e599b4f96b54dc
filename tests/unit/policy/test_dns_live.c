/*
 * test_dns_live.c - the resolver (policy/dns.c) and the SPF evaluator
 * against a real DNS server: dnsmasq (Debian's dnsmasq-base) started here
 * on a loopback address and port of its own (127.53.0.1, a port the kernel
 * picked), with fixture records: A, AAAA, PTR, TXT, MX, SPF records, a
 * zone answering NXDOMAIN and NODATA. Checks the answers, their TTLs, the
 * cache (a second lookup is answered before mx_dns_resolve() returns and
 * sends nothing), a worker thread's ring path, SPF results driven over the
 * resolver, and what happens when the server stops answering (SIGSTOP):
 * TEMPFAIL by timeout, then answers again after SIGCONT.
 *
 * Needs the dnsmasq binary (skipped, exit 77, without it). Loopback only;
 * every wait is bounded (10 s) and there is no assertion about time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <urcu-qsbr.h>

#include "core/loop.h"
#include "policy/dns.h"
#include "policy/spf.h"

#define ADDR "127.53.0.1"

static pid_t dnsmasq = -1;
static char servers[64];

static const char *dnsmasq_path(void)
{
	static const char *const where[] = {"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"};

	for (unsigned i = 0; i < 2; i++)
		if (access(where[i], X_OK) == 0)
			return where[i];
	return NULL;
}

/* A UDP port free on ADDR now (dnsmasq binds it right after). */
static int free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), port = -1;

	inet_pton(AF_INET, ADDR, &sin.sin_addr);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* TXT records of three and of six 250-octet strings: the first fits one
 * EDNS0 UDP answer (1232 octets), the second does not, so c-ares asks
 * again over TCP (a socket it connects, watched for writing on the loop). */
static char long_txt[3 * 250 + 64], huge_txt[6 * 250 + 64];

static int start_dnsmasq(const char *path, int port)
{
	char portarg[32];

	snprintf(portarg, sizeof(portarg), "--port=%d", port);
	{
		char s[251];
		memset(s, 'x', 250);
		s[250] = '\0';
		snprintf(long_txt, sizeof(long_txt), "--txt-record=long.fixture.test,%s,%s,%s", s,
			 s, s);
		snprintf(huge_txt, sizeof(huge_txt),
			 "--txt-record=huge.fixture.test,%s,%s,%s,%s,%s,%s", s, s, s, s, s, s);
	}
	dnsmasq = fork();
	if (dnsmasq < 0)
		return -1;
	if (dnsmasq == 0) {
		execl(path, path, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
		      "--conf-file=/dev/null", "--bind-interfaces", "--listen-address=" ADDR,
		      portarg, "--pid-file=", "--user=root", "--local=/fixture.test/",
		      "--local-ttl=300", "--neg-ttl=120",
		      "--host-record=a.fixture.test,192.0.2.10,2001:db8::10,600",
		      "--host-record=mail.fixture.test,192.0.2.25,3600",
		      "--mx-host=fixture.test,mail.fixture.test,10",
		      "--txt-record=fixture.test,v=spf1 ip4:198.51.100.0/24 mx -all",
		      "--txt-record=reason.fixture.test,Listed: see https://example.test/",
		      "--txt-record=soft.fixture.test,v=spf1 include:fixture.test ~all",
		      "--ptr-record=25.2.0.192.in-addr.arpa,mail.fixture.test",
		      "--host-record=other.fixture.test,192.0.2.77", long_txt, huge_txt,
		      (char *)NULL);
		_exit(127);
	}
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

struct ans {
	int done;
	struct mx_dns_result r;
};

static void on_ans(void *arg, const struct mx_dns_result *r)
{
	struct ans *a = arg;

	memcpy(&a->r, r, mx_dns_result_size(r));
	a->done++;
}

static struct mx_dns_result resolve(enum mx_dns_type type, const char *name)
{
	struct ans a = {0};

	assert_int_equal(mx_dns_resolve(type, name, on_ans, &a), 0);
	run_until(&a.done);
	return a.r;
}

static int setup(void **state)
{
	const char *path = dnsmasq_path();
	struct mx_dns_conf c = {
		.timeout_ms = 300,
		.tries = 1,
		.min_ttl = 0,
		.max_ttl = 86400,
		.neg_ttl_max = 3600,
		.cache_max = 1000,
		.inflight_max = 64,
	};
	int port;

	(void)state;
	if (!path)
		return -1;
	if ((port = free_port()) < 0 || start_dnsmasq(path, port) != 0)
		return -1;
	snprintf(servers, sizeof(servers), "%s:%d", ADDR, port);
	c.servers = servers;
	if (mx_loop_init() != 0)
		return -1;
	rcu_register_thread();
	rcu_thread_offline();
	if (mx_dns_init(&c, 1) != 0)
		return -1;
	/* dnsmasq answers once it has bound: ask until it does (bounded). */
	for (int i = 0; i < 50; i++) {
		struct mx_dns_result r = resolve(MX_DNS_A, "a.fixture.test");
		if (r.status == MX_DNS_OK)
			return 0;
		usleep(100 * 1000);
	}
	return -1;
}

static int teardown(void **state)
{
	(void)state;
	mx_dns_shutdown();
	mx_loop_fini();
	rcu_unregister_thread();
	if (dnsmasq > 0) {
		kill(dnsmasq, SIGCONT);
		kill(dnsmasq, SIGTERM);
		waitpid(dnsmasq, NULL, 0);
	}
	return 0;
}

static void test_answers(void **state)
{
	struct mx_dns_result r;
	char buf[64];

	(void)state;
	r = resolve(MX_DNS_A, "A.Fixture.Test");
	assert_int_equal(r.status, MX_DNS_OK);
	inet_ntop(AF_INET, &r.u.a[0], buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.10");
	assert_true(r.ttl > 0 && r.ttl <= 600);

	r = resolve(MX_DNS_AAAA, "a.fixture.test");
	assert_int_equal(r.status, MX_DNS_OK);
	inet_ntop(AF_INET6, &r.u.aaaa[0], buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::10");
	assert_int_equal(r.ttl, 600);

	r = resolve(MX_DNS_MX, "fixture.test");
	assert_int_equal(r.status, MX_DNS_OK);
	assert_string_equal(r.text + r.u.s.off[0], "mail.fixture.test");
	assert_int_equal(r.u.s.pref[0], 10);

	r = resolve(MX_DNS_TXT, "reason.fixture.test");
	assert_int_equal(r.status, MX_DNS_OK);
	assert_string_equal(r.text, "Listed: see https://example.test/");

	{
		unsigned char ip[4] = {192, 0, 2, 25};
		char name[80];
		assert_int_equal(mx_dns_ptr_name(AF_INET, ip, name, sizeof(name)), 0);
		r = resolve(MX_DNS_PTR, name);
		assert_int_equal(r.status, MX_DNS_OK);
		assert_string_equal(r.text, "mail.fixture.test");
	}

	r = resolve(MX_DNS_TXT, "long.fixture.test"); /* one EDNS0 answer */
	assert_int_equal(r.status, MX_DNS_OK);
	assert_int_equal(strlen(r.text), 750);
	r = resolve(MX_DNS_TXT, "huge.fixture.test"); /* truncated over UDP: TCP */
	assert_int_equal(r.status, MX_DNS_OK);
	assert_int_equal(strlen(r.text), 1500);

	r = resolve(MX_DNS_A, "nonexistent.fixture.test");
	assert_int_equal(r.status, MX_DNS_NXDOMAIN);
	assert_true(r.ttl > 0);
	r = resolve(MX_DNS_TXT, "a.fixture.test"); /* exists, no TXT */
	assert_true(r.status == MX_DNS_NODATA || r.status == MX_DNS_NXDOMAIN);
}

static void test_cache(void **state)
{
	struct mx_dns_counters before, after;
	struct ans a = {0};

	(void)state;
	resolve(MX_DNS_A, "other.fixture.test");
	resolve(MX_DNS_A, "nothere.fixture.test");
	mx_dns_counters_read(&before);
	/* cached: answered before mx_dns_resolve() returns, nothing sent */
	assert_int_equal(mx_dns_resolve(MX_DNS_A, "OTHER.fixture.test", on_ans, &a), 0);
	assert_int_equal(a.done, 1);
	assert_int_equal(a.r.status, MX_DNS_OK);
	assert_true(a.r.ttl > 0 && a.r.ttl <= 300);
	memset(&a, 0, sizeof(a));
	assert_int_equal(mx_dns_resolve(MX_DNS_A, "nothere.fixture.test", on_ans, &a), 0);
	assert_int_equal(a.done, 1);
	assert_int_equal(a.r.status, MX_DNS_NXDOMAIN);
	mx_dns_counters_read(&after);
	assert_int_equal(after.queries, before.queries);
	assert_int_equal(after.cache_hits, before.cache_hits + 2);
}

/* The worker side: a QSBR reader thread submitting and polling. */
struct wk {
	int done, got;
	struct mx_dns_result r;
	int cached;
};

static void on_w(void *arg, uint64_t cookie, const struct mx_dns_result *r)
{
	struct wk *k = arg;

	if (cookie == 77) {
		memcpy(&k->r, r, mx_dns_result_size(r));
		k->got = 1;
	}
}

static void *worker(void *arg)
{
	struct wk *k = arg;
	struct mx_dns_worker *w = mx_dns_worker(0);
	struct mx_dns_result r;

	rcu_register_thread();
	if (mx_dns_submit(w, MX_DNS_TXT, "fixture.test", 77) != 0)
		abort();
	for (int i = 0; i < 100000 && !k->got; i++) {
		mx_dns_poll(w, 4, on_w, k);
		rcu_quiescent_state();
		usleep(100);
	}
	k->cached = mx_dns_cached(w, MX_DNS_TXT, "fixture.test", &r);
	rcu_unregister_thread();
	__atomic_store_n(&k->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_worker(void **state)
{
	struct wk k = {0};
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, worker, &k), 0);
	run_until(&k.done);
	pthread_join(t, NULL);
	assert_int_equal(k.got, 1);
	assert_int_equal(k.r.status, MX_DNS_OK);
	assert_string_equal(k.r.text, "v=spf1 ip4:198.51.100.0/24 mx -all");
	assert_int_equal(k.cached, 1);
}

/* SPF driven over the resolver from the control thread. */
struct spf_run {
	struct spf_eval e;
	int answered;
};

static void on_spf(void *arg, const struct mx_dns_result *r)
{
	struct spf_run *s = arg;

	spf_feed(&s->e, r);
	s->answered = 1;
}

static int spf_eval_live(struct spf_run *s, const char *ip4, const char *from)
{
	unsigned char ip[4];

	inet_pton(AF_INET, ip4, ip);
	spf_start(&s->e, AF_INET, ip, from, "helo.fixture.test");
	for (int i = 0; i < 30 && spf_step(&s->e) == SPF_STEP_QUERY; i++) {
		s->answered = 0;
		assert_int_equal(mx_dns_resolve(s->e.q.type, s->e.q.name, on_spf, s), 0);
		run_until(&s->answered);
	}
	assert_int_equal(spf_step(&s->e), SPF_STEP_DONE);
	return s->e.result;
}

static void test_spf_live(void **state)
{
	static struct spf_run s;
	char hdr[1024];

	(void)state;
	assert_int_equal(spf_eval_live(&s, "198.51.100.9", "u@fixture.test"), SPF_PASS);
	assert_int_equal(spf_eval_live(&s, "192.0.2.25", "u@fixture.test"), SPF_PASS); /* mx */
	assert_int_equal(spf_eval_live(&s, "203.0.113.1", "u@fixture.test"), SPF_FAIL);
	assert_int_equal(spf_eval_live(&s, "203.0.113.1", "u@soft.fixture.test"), SPF_SOFTFAIL);
	assert_int_equal(spf_eval_live(&s, "203.0.113.1", "u@a.fixture.test"), SPF_NONE);
	assert_int_equal(spf_eval_live(&s, "203.0.113.1", "u@nx.fixture.test"), SPF_NONE);
	spf_eval_live(&s, "198.51.100.9", "u@fixture.test");
	spf_received_spf(&s.e, "mx.fixture.test", hdr, sizeof(hdr));
	assert_non_null(strstr(hdr, "Received-SPF: pass (mx.fixture.test: domain of u@fixture.test "
				    "designates 198.51.100.9 as permitted sender)"));
}

static void test_server_stops(void **state)
{
	struct mx_dns_counters before, after;
	struct mx_dns_result r;
	static struct spf_run s;

	(void)state;
	mx_dns_counters_read(&before);
	assert_int_equal(kill(dnsmasq, SIGSTOP), 0);
	r = resolve(MX_DNS_AAAA, "mail.fixture.test"); /* never asked: not cached */
	assert_int_equal(r.status, MX_DNS_TEMPFAIL);
	/* SPF over a silent server: temperror, never a fail or a none */
	assert_int_equal(spf_eval_live(&s, "203.0.113.1", "u@stopped.fixture.test"), SPF_TEMPERROR);
	mx_dns_counters_read(&after);
	assert_true(after.timeouts >= before.timeouts + 2);
	/* TEMPFAIL is not cached: answered again once the server is back */
	assert_int_equal(kill(dnsmasq, SIGCONT), 0);
	r = resolve(MX_DNS_AAAA, "mail.fixture.test");
	assert_true(r.status == MX_DNS_NODATA || r.status == MX_DNS_NXDOMAIN);
	assert_int_equal(spf_eval_live(&s, "203.0.113.1", "u@stopped.fixture.test"), SPF_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers),	     cmocka_unit_test(test_cache),
		cmocka_unit_test(test_worker),	     cmocka_unit_test(test_spf_live),
		cmocka_unit_test(test_server_stops),
	};

	if (!dnsmasq_path()) {
		printf("dnsmasq not installed (apt-get install dnsmasq-base): skipped\n");
		return 77;
	}
	return cmocka_run_group_tests_name("dns-live", tests, setup, teardown);
}
