/*
 * test_policy_stage.c - the policy stages on a session host (fake
 * transport, virtual time) with a fake DNS (dns_fake.c): transcripts of
 * what a client sees for every class, delay_reject, parks on DNS and their
 * resumption, a DNS that never answers (4xx at the deadline, never 5xx,
 * no stuck session), DNSBL scoring with error answers, the counters.
 * The fixture's client is 192.0.2.1.
 */
#include <arpa/inet.h>
#include <urcu-qsbr.h>

#include "core/config.h"
#include "dns_fake.h"
#include "fake_conn.h"
#include "policy/policy.h"

static const char base_conf[] = "[eal]\nlcores = 0\n[port]\ndevice = x\n[ipv4]\n"
				"address = 198.18.0.2/24\n[smtp]\nhostname = mx.example.com\n";

struct tfx {
	struct fx *f;
	struct pol_stage *ps;
};

static void use_policy(const char *extra)
{
	char text[4096], err[2048];
	struct mx_config *c = config_new();
	struct pol_set *s;

	snprintf(text, sizeof(text), "%s%s", base_conf, extra);
	if (config_load_string(c, "t.conf", text, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	s = pol_set_build(c, "sys", err, sizeof(err));
	if (!s)
		fail_msg("build: %s", err);
	config_free(c);
	pol_publish(s);
}

static int setup(void **state)
{
	struct tfx *t = calloc(1, sizeof(*t));

	fake_dns_reset();
	t->f = fx_create(2);
	t->ps = pol_stage_create(t->f->h, 0);
	assert_non_null(t->ps);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tfx *t = *state;

	fx_destroy(t->f);
	pol_stage_destroy(t->ps);
	free(t);
	pol_shutdown();
	return 0;
}

/* Client @cmd, then the worker's DNS poll; what came back. */
static const char *say(struct tfx *t, const char *cmd)
{
	static char out[16384];
	size_t n;

	client(t->f, 0, cmd);
	pol_stage_poll(t->ps);
	n = (size_t)snprintf(out, sizeof(out), "%s", sent(t->f, 0));
	(void)n;
	return out;
}

static uint64_t ctr(struct tfx *t, unsigned check, unsigned k)
{
	uint64_t c[POL_CHK_COUNT][POL_CTR_COUNT];

	(void)t;
	pol_counters_read(0, c);
	return c[check][k];
}

static void test_helo_local_delayed(void **state)
{
	struct tfx *t = *state;

	use_policy("");
	connect_client(t->f, 0);
	assert_memory_equal(sent(t->f, 0), "220 ", 4);
	assert_memory_equal(say(t, "EHLO x.local\r\n"), "250-mx.test", 11);
	assert_string_equal(say(t, "MAIL FROM:<a@example.org>\r\n"), "250 2.1.0 Ok\r\n");
	/* smtpd_delay_reject: the HELO verdict is applied at RCPT, with the envelope. */
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"),
			    "554 5.7.1 <x.local>: Helo command rejected: special-use or made-up "
			    "name, not a host on the Internet\r\n");
	assert_int_equal(ctr(t, POL_CHK_helo_special, POL_CTR_REJECT), 1);
	/* A good name fixes it. */
	assert_memory_equal(say(t, "EHLO mail.example.org\r\n"), "250-mx.test", 11);
	say(t, "MAIL FROM:<a@example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "250 2.1.5 Ok\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@elsewhere.org>\r\n"),
			    "554 5.7.1 <u@elsewhere.org>: Relay access denied\r\n");
	fx_close_all(t->f);
}

/* Postscreen's teaser and pass cache: a first visit gets "220-" and waits
 * for the final "220 "; having waited, the address is remembered and the
 * next session is greeted at once; a client that talks early is not
 * remembered; pass_cache_ttl_s = 0 remembers nobody. */
static void test_pass_cache(void **state)
{
	struct tfx *t = *state;
	struct smtp_pool *pool = smtp_host_pool(t->f->h);
	struct smtp_config sc = *smtp_pool_config(pool);

	sc.greet_delay_ms = 1000;
	sc.greet_teaser = true;
	sc.pregreet_action = SMTP_PREGREET_LOG;
	assert_int_equal(smtp_pool_update(pool, &sc), 0);
	use_policy("[policy]\npass_cache_ttl_s = 3600\n");
	/* Talks after the "220-" only: a pregreet, served (log) but not remembered. */
	connect_client(t->f, 0);
	assert_string_equal(sent(t->f, 0), "220-mx.test ESMTP\r\n");
	client(t->f, 0, "EHLO early.example.org\r\n");
	advance_ms(t->f, 1000);
	assert_memory_equal(say(t, ""), "220 mx.test ESMTP\r\n250-mx.test", 30);
	fx_close_all(t->f);
	connect_client(t->f, 0);
	assert_string_equal(sent(t->f, 0), "220-mx.test ESMTP\r\n");
	advance_ms(t->f, 1000);
	assert_string_equal(sent(t->f, 0), "220 mx.test ESMTP\r\n");
	assert_memory_equal(say(t, "EHLO patient.example.org\r\n"), "250-mx.test", 11);
	fx_close_all(t->f);
	/* Remembered: the final greeting at once, no teaser. */
	connect_client(t->f, 0);
	assert_string_equal(sent(t->f, 0), "220 mx.test ESMTP\r\n");
	fx_close_all(t->f);
	/* The entry expires with the TTL. */
	advance_ms(t->f, 3600 * 1000);
	connect_client(t->f, 0);
	assert_string_equal(sent(t->f, 0), "220-mx.test ESMTP\r\n");
	fx_close_all(t->f);
	use_policy("[policy]\npass_cache_ttl_s = 0\n");
	connect_client(t->f, 0);
	advance_ms(t->f, 1000);
	say(t, "EHLO patient.example.org\r\n");
	fx_close_all(t->f);
	connect_client(t->f, 0);
	assert_string_equal(sent(t->f, 0), "220-mx.test ESMTP\r\n");
}

/* reject_unverified_recipient: the next hop's 5xx is a 550 5.1.1 with its
 * reply, a temporary answer 450 4.1.1, a 2xx lets the RCPT through; a relay
 * attempt is refused without asking. */
static void test_verify(void **state)
{
	struct tfx *t = *state;
	static const char *const bad[] = {
		"host 198.18.0.1[198.18.0.1]:25 said: 550 5.1.1 <gone@example.com>: Recipient "
		"address rejected: User unknown (in reply to RCPT TO command)"};
	static const char *const good[] = {"host 198.18.0.1[198.18.0.1]:25 said: 250 2.1.5 Ok"};
	static const char *const slow[] = {"no answer from the next hop in time"};
	unsigned q;

	use_policy("[policy]\ndomains = example.com\nverify_recipients = yes\n");
	fake_dns_set(MX_DNS_VERIFY, "gone@example.com", MX_DNS_NXDOMAIN, 1, bad);
	fake_dns_set(MX_DNS_VERIFY, "here@example.com", MX_DNS_OK, 1, good);
	fake_dns_set(MX_DNS_VERIFY, "slow@example.com", MX_DNS_TEMPFAIL, 1, slow);
	connect_client(t->f, 0);
	sent(t->f, 0);
	say(t, "EHLO good.example.org\r\n");
	say(t, "MAIL FROM:<a@example.org>\r\n");
	assert_string_equal(
		say(t, "RCPT TO:<gone@example.com>\r\n"),
		"550 5.1.1 <gone@example.com>: Recipient address rejected: undeliverable "
		"address: host 198.18.0.1[198.18.0.1]:25 said: 550 5.1.1 "
		"<gone@example.com>: Recipient address rejected: User unknown (in reply "
		"to RCPT TO command)\r\n");
	assert_string_equal(say(t, "RCPT TO:<slow@example.com>\r\n"),
			    "450 4.1.1 <slow@example.com>: Recipient address rejected: unverified "
			    "address: no answer from the next hop in time\r\n");
	assert_string_equal(say(t, "RCPT TO:<here@example.com>\r\n"), "250 2.1.5 Ok\r\n");
	q = fake_dns_queries();
	assert_string_equal(say(t, "RCPT TO:<a@elsewhere.net>\r\n"),
			    "554 5.7.1 <a@elsewhere.net>: Relay access denied\r\n");
	assert_int_equal(fake_dns_queries(), q);
	assert_int_equal(ctr(t, POL_CHK_rcpt_unverified, POL_CTR_REJECT), 1);
	assert_int_equal(ctr(t, POL_CHK_rcpt_unverified, POL_CTR_DEFER), 1);
	fx_close_all(t->f);

	/* The RCPT parks on a DNSBL answer (not listed): the probe was asked
	 * meanwhile, its 5xx decides once both are in. */
	use_policy("[policy]\ndomains = example.com\nverify_recipients = yes\n"
		   "dnsbl = zen.example\n");
	fake_dns_hold(true);
	connect_client(t->f, 0);
	sent(t->f, 0);
	say(t, "EHLO good.example.org\r\n");
	say(t, "MAIL FROM:<a@example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<gone@example.com>\r\n"), "");
	fake_dns_hold(false);
	pol_stage_poll(t->ps);
	assert_memory_equal(sent(t->f, 0),
			    "550 5.1.1 <gone@example.com>: Recipient address rejected: "
			    "undeliverable address",
			    79);
}

static void test_no_delay(void **state)
{
	struct tfx *t = *state;

	use_policy("[policy]\ndelay_reject = no\n");
	connect_client(t->f, 0);
	sent(t->f, 0);
	assert_string_equal(say(t, "EHLO bare\r\n"),
			    "504 5.5.2 <bare>: Helo command rejected: need fully-qualified "
			    "hostname\r\n");
	assert_memory_equal(say(t, "EHLO mail.example.org\r\n"), "250-mx.test", 11);
	assert_string_equal(say(t, "MAIL FROM:<boss@example.com>\r\n"),
			    "553 5.7.1 <boss@example.com>: Sender address rejected: not logged "
			    "in\r\n");
	assert_string_equal(say(t, "MAIL FROM:<>\r\n"), "250 2.1.0 Ok\r\n");
	fx_close_all(t->f);
}

static void test_trusted(void **state)
{
	struct tfx *t = *state;

	use_policy("[policy]\nmynetworks = 192.0.2.0/24\n");
	connect_client(t->f, 0);
	sent(t->f, 0);
	say(t, "EHLO x.local\r\n");
	say(t, "MAIL FROM:<boss@example.com>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@elsewhere.org>\r\n"), "250 2.1.5 Ok\r\n");
	fx_close_all(t->f);
}

static void test_dnsbl(void **state)
{
	struct tfx *t = *state;
	const char *listed[] = {"127.0.0.2"}, *txt[] = {"Listed, see https://zen.example/"},
		   *err[] = {"127.255.255.254"};

	use_policy("[policy]\ndnsbl = zen.example=127.0.0.[2..11]*2\ndnsbl = bad.example\n"
		   "dnsbl_threshold = 2\n");
	fake_dns_set(MX_DNS_A, "1.2.0.192.zen.example", MX_DNS_OK, 1, listed);
	fake_dns_set(MX_DNS_TXT, "1.2.0.192.zen.example", MX_DNS_OK, 1, txt);
	fake_dns_set(MX_DNS_A, "1.2.0.192.bad.example", MX_DNS_OK, 1, err);
	fake_dns_hold(true); /* answers arrive only after RCPT: the session parks */
	connect_client(t->f, 0);
	sent(t->f, 0);
	say(t, "EHLO mail.example.org\r\n");
	say(t, "MAIL FROM:<a@example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "");
	assert_true(smtp_session_parked(t->f->c[0]->s));
	fake_dns_hold(false);
	pol_stage_poll(t->ps);
	pol_stage_poll(t->ps); /* the TXT asked after the listing */
	assert_string_equal(sent(t->f, 0),
			    "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using "
			    "zen.example; Listed, see https://zen.example/\r\n");
	assert_int_equal(pol_zone_errors_read(0, 1), 1);
	assert_int_equal(ctr(t, POL_CHK_client_dnsbl, POL_CTR_REJECT), 1);
	fx_close_all(t->f);
}

/* Without delay_reject a listed client is refused at connect, after the
 * answers came (the banner waits): 554 instead of the 220. */
static void test_dnsbl_at_connect(void **state)
{
	struct tfx *t = *state;

	use_policy("[policy]\ndelay_reject = no\ndnsbl = zen.example\n");
	fake_dns_set(MX_DNS_A, "1.2.0.192.zen.example", MX_DNS_OK, 1,
		     (const char *[]){"127.0.0.4"});
	connect_client(t->f, 0);
	assert_string_equal(sent(t->f, 0), "");
	pol_stage_poll(t->ps); /* the A */
	pol_stage_poll(t->ps); /* the TXT (none: NXDOMAIN) */
	assert_string_equal(sent(t->f, 0), "554 5.7.1 Service unavailable; Client host "
					   "[192.0.2.1] blocked using zen.example\r\n");
	assert_string_equal(say(t, "EHLO mail.example.org\r\n"),
			    "503 5.5.1 Error: no SMTP service here, send QUIT\r\n");
	fx_close_all(t->f);
}

static void test_dnsbl_error_not_listing(void **state)
{
	struct tfx *t = *state;
	const char *err[] = {"127.255.255.254"};

	use_policy("[policy]\ndnsbl = zen.example\n");
	fake_dns_set(MX_DNS_A, "1.2.0.192.zen.example", MX_DNS_OK, 1, err);
	connect_client(t->f, 0);
	pol_stage_poll(t->ps);
	sent(t->f, 0);
	say(t, "EHLO mail.example.org\r\n");
	say(t, "MAIL FROM:<a@example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "250 2.1.5 Ok\r\n");
	assert_int_equal(pol_zone_errors_read(0, 0), 1);
	fx_close_all(t->f);
}

static void test_helo_dns(void **state)
{
	struct tfx *t = *state;
	const char *a[] = {"192.0.2.50"};

	use_policy("[policy]\nhelo_dns = defer\n");
	fake_dns_set(MX_DNS_A, "good.example.org", MX_DNS_OK, 1, a);
	fake_dns_set(MX_DNS_A, "v6only.example.org", MX_DNS_NODATA, 0, NULL);
	fake_dns_set(MX_DNS_AAAA, "v6only.example.org", MX_DNS_OK, 1,
		     (const char *[]){"2001:db8::1"});
	fake_dns_set(MX_DNS_A, "broken.example.org", MX_DNS_TEMPFAIL, 0, NULL);
	connect_client(t->f, 0);
	sent(t->f, 0);
	say(t, "EHLO ghost.example.org\r\n");
	say(t, "MAIL FROM:<a@example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"),
			    "450 4.7.1 <ghost.example.org>: Helo command rejected: Host not "
			    "found\r\n");
	say(t, "EHLO v6only.example.org\r\n");
	say(t, "MAIL FROM:<a@example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "250 2.1.5 Ok\r\n");
	say(t, "EHLO broken.example.org\r\n");
	say(t, "MAIL FROM:<a@example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"),
			    "451 4.4.3 <broken.example.org>: Helo command rejected: temporary "
			    "lookup failure\r\n");
	assert_int_equal(ctr(t, POL_CHK_helo_dns, POL_CTR_TEMPFAIL), 1);
	say(t, "EHLO good.example.org\r\n");
	say(t, "MAIL FROM:<a@example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "250 2.1.5 Ok\r\n");
	/* An answer for an earlier name of the session is not taken for the
	 * new one: EHLO ghost, EHLO good before the answers, then RCPT. */
	for (unsigned i = 0; i < 20; i++) { /* past 16: generations are bytes */
		fake_dns_hold(true);
		say(t, "EHLO good.example.org\r\n");
		say(t, "EHLO ghost.example.org\r\n");
		say(t, "EHLO good.example.org\r\n");
		fake_dns_hold(false);
		say(t, "MAIL FROM:<a@example.org>\r\n");
		assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "250 2.1.5 Ok\r\n");
	}
	fx_close_all(t->f);
}

static void test_sender_domain(void **state)
{
	struct tfx *t = *state;

	use_policy("[policy]\nsender_domain = defer\n");
	fake_dns_set(MX_DNS_MX, "mx.example.org", MX_DNS_OK, 1, (const char *[]){"in.example.org"});
	fake_dns_set(MX_DNS_MX, "a.example.org", MX_DNS_NODATA, 0, NULL);
	fake_dns_set(MX_DNS_A, "a.example.org", MX_DNS_OK, 1, (const char *[]){"192.0.2.9"});
	fake_dns_set(MX_DNS_MX, "nullmx.example.org", MX_DNS_OK, 1, (const char *[]){""});
	connect_client(t->f, 0);
	sent(t->f, 0);
	say(t, "EHLO mail.example.org\r\n");
	say(t, "MAIL FROM:<x@mx.example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "250 2.1.5 Ok\r\n");
	say(t, "RSET\r\n");
	say(t, "MAIL FROM:<x@a.example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "250 2.1.5 Ok\r\n");
	say(t, "RSET\r\n");
	say(t, "MAIL FROM:<x@gone.example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"),
			    "450 4.1.8 <x@gone.example.org>: Sender address rejected: Domain not "
			    "found\r\n");
	say(t, "RSET\r\n");
	say(t, "MAIL FROM:<x@nullmx.example.org>\r\n");
	assert_memory_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "450 4.1.8", 9);
	say(t, "RSET\r\n");
	/* The null sender is never looked up, never refused. */
	say(t, "MAIL FROM:<>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "250 2.1.5 Ok\r\n");
	fx_close_all(t->f);
}

/* A DNS server that stops answering: the parked RCPT gets the host's 451
 * at the deadline (never a 5xx), and the session goes on. */
static void test_dns_silent(void **state)
{
	struct tfx *t = *state;

	use_policy("[policy]\nsender_domain = reject\n");
	fake_dns_hold(true);
	connect_client(t->f, 0);
	sent(t->f, 0);
	say(t, "EHLO mail.example.org\r\n");
	say(t, "MAIL FROM:<x@slow.example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "");
	advance_ms(t->f, 19000);
	assert_string_equal(sent(t->f, 0), "");
	advance_ms(t->f, 1500);
	assert_string_equal(sent(t->f, 0), "451 4.4.3 Error: temporary lookup failure\r\n");
	assert_false(smtp_session_parked(t->f->c[0]->s));
	/* The late answer is dropped (stale ticket), nothing else is sent. */
	fake_dns_hold(false);
	pol_stage_poll(t->ps);
	assert_string_equal(sent(t->f, 0), "");
	assert_string_equal(say(t, "QUIT\r\n"), "221 2.0.0 Bye\r\n");
	fx_close_all(t->f);
}

/* No resolver at all: a DNS check is a 4xx at once. */
static void test_dns_off(void **state)
{
	struct tfx *t = *state;

	use_policy("[policy]\nhelo_dns = reject\n");
	fake_dns_off(true);
	connect_client(t->f, 0);
	sent(t->f, 0);
	say(t, "EHLO mail.example.org\r\n");
	say(t, "MAIL FROM:<a@example.org>\r\n");
	assert_memory_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "451 4.4.3 <mail.example.org>",
			    28);
	fx_close_all(t->f);
}

/* SPF at MAIL: a pass gets its Received-SPF field; with spf = reject a
 * fail is refused 550 5.7.23 at RCPT (delay_reject); softfail is not. */
static void test_spf(void **state)
{
	struct tfx *t = *state;
	char hdr[600];
	int n;

	use_policy("[policy]\nspf = reject\n");
	fake_dns_set(MX_DNS_TXT, "ok.example.org", MX_DNS_OK, 1,
		     (const char *[]){"v=spf1 ip4:192.0.2.0/24 -all"});
	fake_dns_set(MX_DNS_TXT, "bad.example.org", MX_DNS_OK, 1, (const char *[]){"v=spf1 -all"});
	fake_dns_set(MX_DNS_TXT, "soft.example.org", MX_DNS_OK, 1, (const char *[]){"v=spf1 ~all"});
	connect_client(t->f, 0);
	sent(t->f, 0);
	say(t, "EHLO mail.example.org\r\n");
	say(t, "MAIL FROM:<a@ok.example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "250 2.1.5 Ok\r\n");
	n = pol_stage_received_spf(t->ps, t->f->c[0]->slot, hdr, sizeof(hdr));
	assert_true(n > 0);
	assert_memory_equal(hdr, "Received-SPF: pass", 18);
	assert_non_null(strstr(hdr, "client-ip=192.0.2.1"));
	assert_memory_equal(hdr + n - 2, "\r\n", 2);
	say(t, "RSET\r\n");
	say(t, "MAIL FROM:<a@bad.example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"),
			    "550 5.7.23 <a@bad.example.org>: Sender address rejected: Message "
			    "rejected due to: SPF fail - not authorized\r\n");
	assert_int_equal(ctr(t, POL_CHK_sender_spf, POL_CTR_REJECT), 1);
	say(t, "RSET\r\n");
	say(t, "MAIL FROM:<a@soft.example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "250 2.1.5 Ok\r\n");
	n = pol_stage_received_spf(t->ps, t->f->c[0]->slot, hdr, sizeof(hdr));
	assert_memory_equal(hdr, "Received-SPF: softfail", 22);
	/* An answer that never comes: DATA waits for the header, then the
	 * deadline answers 451 (the client retries), nothing is stuck. */
	say(t, "RSET\r\n");
	fake_dns_hold(true);
	say(t, "MAIL FROM:<a@slow.example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "");
	advance_ms(t->f, 21000);
	assert_string_equal(sent(t->f, 0), "451 4.4.3 Error: temporary lookup failure\r\n");
	fake_dns_hold(false);
	pol_stage_poll(t->ps);
	fx_close_all(t->f);
}

/* Reverse DNS with forward confirmation: recorded, and with
 * client_rdns = defer a client without one is refused 450 4.7.25. */
static void test_rdns(void **state)
{
	struct tfx *t = *state;

	use_policy("[policy]\nclient_rdns = defer\n");
	fake_dns_set(MX_DNS_PTR, "1.2.0.192.in-addr.arpa", MX_DNS_OK, 1,
		     (const char *[]){"mail.example.org."});
	fake_dns_set(MX_DNS_A, "mail.example.org", MX_DNS_OK, 1, (const char *[]){"192.0.2.1"});
	connect_client(t->f, 0);
	pol_stage_poll(t->ps);
	pol_stage_poll(t->ps);
	sent(t->f, 0);
	assert_string_equal(pol_stage_rdns(t->ps, t->f->c[0]->slot), "mail.example.org");
	say(t, "EHLO mail.example.org\r\n");
	say(t, "MAIL FROM:<a@example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "250 2.1.5 Ok\r\n");
	fx_close_all(t->f);

	/* The name does not point back at the client. */
	fake_dns_reset();
	fake_dns_set(MX_DNS_PTR, "1.2.0.192.in-addr.arpa", MX_DNS_OK, 1,
		     (const char *[]){"forged.example.org"});
	fake_dns_set(MX_DNS_A, "forged.example.org", MX_DNS_OK, 1, (const char *[]){"192.0.2.99"});
	connect_client(t->f, 0);
	sent(t->f, 0);
	say(t, "EHLO mail.example.org\r\n");
	say(t, "MAIL FROM:<a@example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"),
			    "450 4.7.25 Client host rejected: cannot find your hostname, "
			    "[192.0.2.1]\r\n");
	assert_null(pol_stage_rdns(t->ps, t->f->c[0]->slot));
	fx_close_all(t->f);

	/* client_rdns = record (the default): nothing refused, RCPT does not
	 * wait, DATA waits for the name (it goes into Received:). */
	use_policy("");
	fake_dns_reset();
	fake_dns_set(MX_DNS_PTR, "1.2.0.192.in-addr.arpa", MX_DNS_OK, 1,
		     (const char *[]){"mail.example.org"});
	fake_dns_set(MX_DNS_A, "mail.example.org", MX_DNS_OK, 1, (const char *[]){"192.0.2.1"});
	fake_dns_hold(true);
	connect_client(t->f, 0);
	sent(t->f, 0);
	say(t, "EHLO mail.example.org\r\n");
	say(t, "MAIL FROM:<a@example.org>\r\n");
	assert_string_equal(say(t, "RCPT TO:<u@example.com>\r\n"), "250 2.1.5 Ok\r\n");
	assert_string_equal(say(t, "DATA\r\n"), "");
	fake_dns_hold(false);
	pol_stage_poll(t->ps); /* PTR */
	pol_stage_poll(t->ps); /* A */
	assert_memory_equal(sent(t->f, 0), "354 ", 4);
	assert_string_equal(pol_stage_rdns(t->ps, t->f->c[0]->slot), "mail.example.org");
	fx_close_all(t->f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_helo_local_delayed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pass_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl_at_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl_error_not_listing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_helo_dns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sender_domain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dns_silent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dns_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rdns, setup, teardown),
	};
	int rc;

	rcu_register_thread();
	rcu_thread_offline();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
