/*
 * test_policy.c - the policy checks and their exact replies over a set
 * built from a configuration text; the tables (cds_lfht) and networks;
 * DNSBL answer classification. No session host here (test_policy_stage.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <urcu-qsbr.h>

#include "core/config.h"
#include "policy/policy.h"

static char rcpt_file[] = "/tmp/mx-test-rcpt.XXXXXX";

static const char base_conf[] = "[eal]\nlcores = 0\n[port]\ndevice = x\n[ipv4]\n"
				"address = 198.18.0.2/24\n[smtp]\nhostname = mx.example.com\n";

/* A set from base_conf + @extra. */
static struct pol_set *set_of(const char *extra)
{
	char text[4096], err[2048];
	struct mx_config *c = config_new();
	struct pol_set *s;

	snprintf(text, sizeof(text), "%s%s", base_conf, extra);
	assert_non_null(c);
	if (config_load_string(c, "t.conf", text, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	s = pol_set_build(c, "sys.example.com", err, sizeof(err));
	if (!s)
		fail_msg("build: %s", err);
	config_free(c);
	return s;
}

/* The build error of base_conf + @extra ("" if it builds). */
static const char *build_err(const char *extra)
{
	static char err[2048];
	char text[4096];
	struct mx_config *c = config_new();
	struct pol_set *s = NULL;

	snprintf(text, sizeof(text), "%s%s", base_conf, extra);
	if (config_load_string(c, "t.conf", text, err, sizeof(err)) == 0) {
		s = pol_set_build(c, "sys.example.com", err, sizeof(err));
		pol_set_free(s);
	}
	config_free(c);
	return s ? "" : err;
}

static struct pol_input client_in(const char *ip)
{
	struct pol_input in = {.family = 4, .dnsbl_zone = -1};

	inet_pton(AF_INET, ip, in.addr);
	return in;
}

/* "CODE ENH TEXT" of class @cls, or "continue"/"accept"/"pending". */
static const char *eval(const struct pol_set *s, enum pol_class cls, const struct pol_input *in)
{
	static char out[512];
	struct pol_verdict v;

	rcu_thread_online();
	pol_eval_class(s, cls, in, &v);
	rcu_thread_offline();
	if (v.action == POL_REJECT || v.action == POL_DEFER)
		snprintf(out, sizeof(out), "%u %s %s", v.code, v.enh, v.text);
	else
		snprintf(out, sizeof(out), "%s", pol_action_name((enum pol_action)v.action));
	return out;
}

static const char *helo(const struct pol_set *s, const char *name)
{
	struct pol_input in = client_in("192.0.2.1");

	in.helo = name;
	return eval(s, POL_CLASS_HELO, &in);
}

static void test_helo(void **state)
{
	struct pol_set *s = set_of("");

	(void)state;
	assert_string_equal(helo(s, "mail.example.org"), "continue");
	assert_string_equal(
		helo(s, "bare"),
		"504 5.5.2 <bare>: Helo command rejected: need fully-qualified hostname");
	assert_string_equal(helo(s, "-bad.example.org"),
			    "501 5.5.2 <-bad.example.org>: Helo command rejected: Invalid name");
	assert_string_equal(helo(s, "a..b.org"),
			    "501 5.5.2 <a..b.org>: Helo command rejected: Invalid name");
	assert_string_equal(helo(s, "192.0.2.1"),
			    "501 5.5.2 <192.0.2.1>: Helo command rejected: Invalid name");
	assert_string_equal(helo(s, "x.local"),
			    "554 5.7.1 <x.local>: Helo command rejected: special-use or made-up "
			    "name, not a host on the Internet");
	for (const char *const *p =
		     (const char *const[]){"a.localhost", "b.invalid", "c.test", "d.example",
					   "pc.lan", "x.internal", "r.home.arpa", "h.localdomain",
					   "HOST.LOCAL", "x.local.", NULL};
	     *p; p++)
		assert_memory_equal(helo(s, *p), "554 5.7.1", 9);
	assert_string_equal(helo(s, "example.com.local.org"), "continue");
	assert_string_equal(helo(s, "[192.0.2.1]"), "continue");
	assert_string_equal(helo(s, "[192.0.2.9]"),
			    "554 5.7.1 <[192.0.2.9]>: Helo command rejected: address literal is "
			    "not your address");
	assert_string_equal(helo(s, "mx.example.com"),
			    "554 5.7.1 <mx.example.com>: Helo command rejected: You are not me");
	assert_string_equal(helo(s, "example.com"),
			    "554 5.7.1 <example.com>: Helo command rejected: You are not me");
	pol_set_free(s);

	/* Operator text, code and a list of made-up names of their own. */
	s = set_of("[policy]\nhelo_special = corp\nhelo_special = .branch.example.net\n"
		   "reply = helo_special 550 5.7.1 Go away, bad guy\n");
	assert_string_equal(helo(s, "x.local"),
			    "550 5.7.1 <x.local>: Helo command rejected: Go away, bad guy");
	assert_string_equal(helo(s, "srv.corp"),
			    "550 5.7.1 <srv.corp>: Helo command rejected: Go away, bad guy");
	assert_string_equal(
		helo(s, "a.branch.example.net"),
		"550 5.7.1 <a.branch.example.net>: Helo command rejected: Go away, bad guy");
	assert_string_equal(helo(s, "example.net"), "continue");
	pol_set_free(s);

	s = set_of("[policy]\nhelo_checks = no\n");
	assert_string_equal(helo(s, "x.local"), "continue");
	pol_set_free(s);
}

static void test_helo_dns(void **state)
{
	struct pol_set *s = set_of("[policy]\nhelo_dns = defer\n");
	struct pol_input in = client_in("192.0.2.1");

	(void)state;
	in.helo = "ghost.example.org";
	in.helo_dns = POL_DNS_WAIT;
	assert_string_equal(eval(s, POL_CLASS_HELO, &in), "pending");
	in.helo_dns = POL_DNS_NOTFOUND;
	assert_string_equal(eval(s, POL_CLASS_HELO, &in),
			    "450 4.7.1 <ghost.example.org>: Helo command rejected: Host not found");
	in.helo_dns = POL_DNS_TEMPFAIL;
	assert_string_equal(eval(s, POL_CLASS_HELO, &in),
			    "451 4.4.3 <ghost.example.org>: Helo command rejected: temporary "
			    "lookup failure");
	in.helo_dns = POL_DNS_FOUND;
	assert_string_equal(eval(s, POL_CLASS_HELO, &in), "continue");
	/* A literal is not looked up. */
	in.helo = "[192.0.2.1]";
	in.helo_dns = POL_DNS_NONE;
	assert_string_equal(eval(s, POL_CLASS_HELO, &in), "continue");
	pol_set_free(s);

	s = set_of("[policy]\nhelo_dns = reject\n");
	in.helo = "ghost.example.org";
	in.helo_dns = POL_DNS_NOTFOUND;
	assert_string_equal(eval(s, POL_CLASS_HELO, &in),
			    "550 5.7.1 <ghost.example.org>: Helo command rejected: Host not found");
	/* TEMPFAIL is never a 5xx. */
	in.helo_dns = POL_DNS_TEMPFAIL;
	assert_memory_equal(eval(s, POL_CLASS_HELO, &in), "451 4.4.3", 9);
	pol_set_free(s);
}

/* [policy] tempfail_skip: a failed lookup skips the check named (or its
 * class), the others still defer; a real answer still decides. */
static void test_tempfail_skip(void **state)
{
	struct pol_set *s = set_of("[policy]\nhelo_dns = reject\nsender_domain = defer\n"
				   "client_rdns = defer\ntempfail_skip = helo\n");
	struct pol_input in = client_in("192.0.2.1");

	(void)state;
	assert_true(pol_tempfail_skips(s, POL_CHK_helo_dns));
	assert_false(pol_tempfail_skips(s, POL_CHK_sender_domain));
	in.helo = "slow.example.org";
	in.helo_dns = POL_DNS_TEMPFAIL;
	assert_string_equal(eval(s, POL_CLASS_HELO, &in), "continue");
	in.helo_dns = POL_DNS_NOTFOUND;
	assert_string_equal(eval(s, POL_CLASS_HELO, &in),
			    "550 5.7.1 <slow.example.org>: Helo command rejected: Host not found");
	in.helo_dns = POL_DNS_WAIT; /* skipping a failure is not skipping the wait */
	assert_string_equal(eval(s, POL_CLASS_HELO, &in), "pending");
	in.rdns = POL_DNS_TEMPFAIL;
	assert_string_equal(eval(s, POL_CLASS_CLIENT, &in),
			    "451 4.4.3 Client host rejected: temporary lookup failure, "
			    "[192.0.2.1]");
	in.from = "a@slow.example.org";
	in.sender_dns = POL_DNS_TEMPFAIL;
	assert_memory_equal(eval(s, POL_CLASS_SENDER, &in), "451 4.4.3", 9);
	pol_set_free(s);

	s = set_of("[policy]\nsender_domain = defer\nclient_rdns = defer\n"
		   "tempfail_skip = sender_domain\ntempfail_skip = client_rdns\n");
	assert_string_equal(eval(s, POL_CLASS_SENDER, &in), "continue");
	assert_string_equal(eval(s, POL_CLASS_CLIENT, &in), "continue");
	in.rdns = POL_DNS_NOTFOUND;
	assert_string_equal(eval(s, POL_CLASS_CLIENT, &in),
			    "450 4.7.25 Client host rejected: cannot find your hostname, "
			    "[192.0.2.1]");
	pol_set_free(s);

	s = set_of("[policy]\nhelo_dns = defer\nsender_domain = defer\ntempfail_skip = all\n");
	in.helo_dns = POL_DNS_TEMPFAIL;
	assert_string_equal(eval(s, POL_CLASS_HELO, &in), "continue");
	assert_string_equal(eval(s, POL_CLASS_SENDER, &in), "continue");
	pol_set_free(s);

	assert_non_null(strstr(build_err("[policy]\ntempfail_skip = helo_fqdn\n"),
			       "[policy] tempfail_skip = helo_fqdn"));
}

static const char *rcpt(const struct pol_set *s, const char *addr, bool trusted)
{
	struct pol_input in = client_in("192.0.2.1");

	in.rcpt = addr;
	in.trusted = trusted;
	return eval(s, POL_CLASS_RCPT, &in);
}

static void test_recipients(void **state)
{
	struct pol_set *s = set_of("");
	char extra[256];
	FILE *f;
	int fd;

	(void)state;
	/* No domains configured: the host name and its parent domain. */
	assert_string_equal(rcpt(s, "a@example.com", false), "continue");
	assert_string_equal(rcpt(s, "a@MX.Example.COM", false), "continue");
	assert_string_equal(rcpt(s, "a@other.org", false),
			    "554 5.7.1 <a@other.org>: Relay access denied");
	assert_string_equal(rcpt(s, "a@other.org", true), "accept");
	assert_string_equal(rcpt(s, "Postmaster", false), "continue");
	pol_set_free(s);

	fd = mkstemp(rcpt_file);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f, "# users\nknown@example.com\n  Upper@Example.com \n\n@example.net\r\n");
	fclose(f);
	snprintf(extra, sizeof(extra),
		 "[policy]\ndomains = example.com\ndomains = example.net\nrecipients = %s\n",
		 rcpt_file);
	s = set_of(extra);
	assert_int_equal(pol_set_recipients(s), 3);
	assert_string_equal(rcpt(s, "known@example.com", false), "continue");
	assert_string_equal(rcpt(s, "upper@EXAMPLE.com", false), "continue");
	assert_string_equal(rcpt(s, "anyone@example.net", false), "continue");
	assert_string_equal(rcpt(s, "nobody@example.com", false),
			    "550 5.1.1 <nobody@example.com>: Recipient address rejected: User "
			    "unknown in local recipient table");
	assert_string_equal(rcpt(s, "a@mx.example.com", false),
			    "554 5.7.1 <a@mx.example.com>: Relay access denied");
	pol_set_free(s);
	unlink(rcpt_file);
	assert_string_not_equal(build_err(extra), "");
	assert_non_null(strstr(build_err(extra), "[policy] recipients"));
}

static const char *sender(const struct pol_set *s, const char *addr, uint8_t dns, bool trusted)
{
	struct pol_input in = client_in("192.0.2.1");

	in.from = addr;
	in.sender_dns = dns;
	in.trusted = trusted;
	return eval(s, POL_CLASS_SENDER, &in);
}

static void test_senders(void **state)
{
	struct pol_set *s = set_of("[policy]\nsender_domain = defer\nmynetworks = 192.0.2.0/28\n");

	(void)state;
	assert_string_equal(sender(s, "", POL_DNS_NONE, false), "accept");
	assert_string_equal(sender(s, "ceo@example.com", POL_DNS_FOUND, false),
			    "553 5.7.1 <ceo@example.com>: Sender address rejected: not logged in");
	assert_string_equal(sender(s, "ceo@example.com", POL_DNS_FOUND, true), "continue");
	assert_string_equal(sender(s, "a@gone.example.org", POL_DNS_NOTFOUND, false),
			    "450 4.1.8 <a@gone.example.org>: Sender address rejected: Domain not "
			    "found");
	assert_string_equal(sender(s, "a@slow.example.org", POL_DNS_TEMPFAIL, false),
			    "451 4.4.3 <a@slow.example.org>: Sender address rejected: temporary "
			    "lookup failure");
	assert_string_equal(sender(s, "a@slow.example.org", POL_DNS_WAIT, false), "pending");
	assert_string_equal(sender(s, "a@ok.example.org", POL_DNS_FOUND, false), "continue");
	pol_set_free(s);
	s = set_of("[policy]\nsender_domain = reject\nsender_ours = no\n");
	assert_string_equal(sender(s, "ceo@example.com", POL_DNS_FOUND, false), "continue");
	assert_string_equal(sender(s, "a@gone.example.org", POL_DNS_NOTFOUND, false),
			    "550 5.1.8 <a@gone.example.org>: Sender address rejected: Domain not "
			    "found");
	pol_set_free(s);
}

static void test_networks(void **state)
{
	struct pol_set *s = set_of("[policy]\nmynetworks = 10.0.0.0/8\nmynetworks = 192.0.2.7\n"
				   "mynetworks = 2001:db8::/32\n");
	struct pol_input in;

	(void)state;
	rcu_thread_online();
	in = client_in("10.65.1.1");
	assert_true(pol_trusted(s, &in));
	in = client_in("10.97.1.1");
	assert_true(pol_trusted(s, &in));
	in = client_in("11.0.0.1");
	assert_false(pol_trusted(s, &in));
	in = client_in("192.0.2.7");
	assert_true(pol_trusted(s, &in));
	in = client_in("192.0.2.8");
	assert_false(pol_trusted(s, &in));
	in.family = 6;
	inet_pton(AF_INET6, "2001:db8:1::5", in.addr);
	assert_true(pol_trusted(s, &in));
	inet_pton(AF_INET6, "2001:db9::5", in.addr);
	assert_false(pol_trusted(s, &in));
	rcu_thread_offline();
	/* A trusted client skips the stranger checks. */
	in = client_in("10.1.1.1");
	in.trusted = true;
	in.helo = "x.local";
	assert_string_equal(eval(s, POL_CLASS_HELO, &in), "continue");
	pol_set_free(s);
}

static void test_dnsbl(void **state)
{
	struct pol_set *s = set_of("[policy]\ndnsbl = zen.example=127.0.0.[2..11]*2\n"
				   "dnsbl = wl.example=127.0.[0..255].[2;4]*-3\n"
				   "dnsbl = any.example\ndnsbl_threshold = 2\n");
	const struct pol_dnsbl_zone *z;
	struct pol_input in = client_in("192.0.2.1");
	char q[300];

	(void)state;
	assert_int_equal(pol_dnsbl_zones(s), 3);
	z = pol_dnsbl_zone(s, 0);
	assert_string_equal(z->name, "zen.example");
	assert_int_equal(z->weight, 2);
	assert_int_equal(pol_dnsbl_classify(z, (const uint8_t[]){127, 0, 0, 2}), 1);
	assert_int_equal(pol_dnsbl_classify(z, (const uint8_t[]){127, 0, 0, 11}), 1);
	assert_int_equal(pol_dnsbl_classify(z, (const uint8_t[]){127, 0, 0, 12}), 0);
	assert_int_equal(pol_dnsbl_classify(z, (const uint8_t[]){127, 255, 255, 254}), -1);
	assert_int_equal(pol_dnsbl_classify(z, (const uint8_t[]){10, 0, 0, 2}), -1);
	z = pol_dnsbl_zone(s, 1);
	assert_int_equal(z->weight, -3);
	assert_int_equal(pol_dnsbl_classify(z, (const uint8_t[]){127, 0, 9, 4}), 1);
	assert_int_equal(pol_dnsbl_classify(z, (const uint8_t[]){127, 0, 9, 3}), 0);
	z = pol_dnsbl_zone(s, 2);
	assert_int_equal(pol_dnsbl_classify(z, (const uint8_t[]){127, 0, 0, 200}), 1);
	assert_int_equal(pol_dnsbl_classify(z, (const uint8_t[]){127, 255, 255, 252}), -1);
	assert_int_equal(pol_dnsbl_qname(&in, "zen.example", q, sizeof(q)), 0);
	assert_string_equal(q, "1.2.0.192.zen.example");
	in.family = 6;
	inet_pton(AF_INET6, "2001:db8::1", in.addr);
	assert_int_equal(pol_dnsbl_qname(&in, "z", q, sizeof(q)), 0);
	assert_string_equal(q, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.z");

	in = client_in("192.0.2.1");
	assert_string_equal(eval(s, POL_CLASS_CLIENT, &in), "pending");
	in.dnsbl_done = true;
	in.dnsbl_score = 1;
	assert_string_equal(eval(s, POL_CLASS_CLIENT, &in), "continue");
	in.dnsbl_score = 2;
	in.dnsbl_zone = 0;
	in.dnsbl_txt = "Listed by zen, see https://zen.example/q?192.0.2.1";
	assert_string_equal(eval(s, POL_CLASS_CLIENT, &in),
			    "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using "
			    "zen.example; Listed by zen, see https://zen.example/q?192.0.2.1");
	in.dnsbl_txt = "";
	assert_string_equal(eval(s, POL_CLASS_CLIENT, &in),
			    "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using "
			    "zen.example");
	pol_set_free(s);
}

static void test_config_errors(void **state)
{
	(void)state;
	assert_string_equal(build_err("[policy]\nreply = helo_fqdn 550 5.5.2 x\n"), "");
	assert_non_null(strstr(build_err("[policy]\nreply = nosuch 550 5.7.1 x\n"),
			       "[policy] reply = nosuch"));
	assert_non_null(
		strstr(build_err("[policy]\nreply = helo_fqdn 550 4.7.1 x\n"), "[policy] reply"));
	assert_non_null(
		strstr(build_err("[policy]\nreply = helo_fqdn 250 2.0.0 x\n"), "[policy] reply"));
	assert_non_null(strstr(build_err("[policy]\ndnsbl = z.example=127.0.0.[9..2]\n"),
			       "[policy] dnsbl"));
	assert_non_null(strstr(build_err("[policy]\ndnsbl = z.example*0\n"), "[policy] dnsbl"));
	/* Networks are checked by the configuration loader (file, line, key). */
	assert_non_null(strstr(build_err("[policy]\nmynetworks = 10.0.0.0/33\n"),
			       "t.conf:10: [policy] mynetworks"));
}

static void test_disabled(void **state)
{
	struct pol_set *s = set_of("[policy]\nenabled = no\n");

	(void)state;
	assert_false(pol_enabled(s));
	assert_string_equal(rcpt(s, "a@other.org", false), "continue");
	pol_set_free(s);
}

static void test_table(void **state)
{
	struct pol_table *t;
	char k[64];

	(void)state;
	rcu_thread_online();
	t = pol_table_new(1000);
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "User%d@Example.com", i);
		assert_int_equal(pol_table_add(t, k, strlen(k)), 1);
	}
	assert_int_equal(pol_table_add(t, "user5@example.COM", 17), 0);
	assert_int_equal(pol_table_add(t, "one.more@x", 10), -ENOSPC);
	assert_int_equal(pol_table_count(t), 1000);
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "uSER%d@example.com", i);
		assert_true(pol_table_has(t, k, strlen(k)));
	}
	assert_false(pol_table_has(t, "user1000@example.com", 20));
	rcu_thread_offline();
	pol_table_free(t);
}

/* Publication: a reader sees the new set; the old one is destroyed after
 * the grace period (ASan: no leak, no use after free). */
static void test_publish(void **state)
{
	(void)state;
	pol_publish(set_of(""));
	assert_non_null(pol_current());
	pol_publish(set_of("[policy]\nenabled = no\n"));
	assert_false(pol_enabled(pol_current()));
	rcu_barrier();
	pol_collect();
	pol_shutdown();
	assert_null(pol_current());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_helo),	      cmocka_unit_test(test_helo_dns),
		cmocka_unit_test(test_tempfail_skip), cmocka_unit_test(test_recipients),
		cmocka_unit_test(test_senders),	      cmocka_unit_test(test_networks),
		cmocka_unit_test(test_dnsbl),	      cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_disabled),      cmocka_unit_test(test_table),
		cmocka_unit_test(test_publish),
	};
	int rc;

	rcu_register_thread();
	rcu_thread_offline();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
