/*
 * fuzz_policy.c - libFuzzer target for the policy inputs that come from the
 * network: HELO names, envelope addresses and the client address go
 * through every class of checks (with every DNS state), DNSBL answers
 * through the classifier, and a DNS answer as the resolver hands it
 * (struct mx_dns_result, any offsets) through pol_dns_text().
 *
 * Input: "HELO\nFROM\nRCPT\n" then raw bytes: 1 byte DNS states, 16 bytes
 * address (first 4 for IPv4 when the state byte's top bit is clear), 4
 * bytes of a DNSBL answer, the rest the start of an mx_dns_result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu-qsbr.h>

#include "core/config.h"
#include "policy/dns.h"
#include "policy/policy.h"

static struct pol_set *set;

static void init(void)
{
	static const char conf[] = "[eal]\nlcores = 0\n[port]\ndevice = x\n[ipv4]\n"
				   "address = 198.18.0.2/24\n[smtp]\nhostname = mx.example.com\n"
				   "[policy]\nmynetworks = 10.0.0.0/8\nmynetworks = 2001:db8::/32\n"
				   "helo_special = corp\nhelo_dns = defer\nsender_domain = reject\n"
				   "spf = reject\ndnsbl = z.example=127.0.[0;1].[1;3;2..11]*2\n"
				   "dnsbl = w.example*-1\n";
	struct mx_config *c = config_new();
	char err[1024];

	rcu_register_thread();
	if (!c || config_load_string(c, "fuzz.conf", conf, err, sizeof(err)) != 0 ||
	    !(set = pol_set_build(c, "fuzz", err, sizeof(err)))) {
		fprintf(stderr, "fuzz_policy: %s\n", err);
		abort();
	}
	config_free(c);
}

/* The next line of @d (at most @max - 1 octets, NUL-terminated, NULs cut). */
static const uint8_t *line(const uint8_t *d, const uint8_t *end, char *out, size_t max)
{
	size_t n = 0;

	while (d < end && *d != '\n') {
		if (n + 1 < max && *d)
			out[n++] = (char)*d;
		d++;
	}
	out[n] = '\0';
	return d < end ? d + 1 : d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char helo[SMTP_HELO_MAX + 1], from[SMTP_PATH_MAX], rcpt[SMTP_PATH_MAX], q[300];
	struct pol_input in = {.dnsbl_zone = -1};
	struct mx_dns_result r;
	struct pol_verdict v;
	uint8_t st = 0;

	if (!set)
		init();
	p = line(p, end, helo, sizeof(helo));
	p = line(p, end, from, sizeof(from));
	p = line(p, end, rcpt, sizeof(rcpt));
	if (p < end)
		st = *p++;
	in.family = (st & 0x80) ? 6 : 4;
	for (unsigned i = 0; i < 16 && p < end; i++)
		in.addr[i] = *p++;
	in.helo = helo;
	in.from = (st & 0x40) ? "" : from;
	in.rcpt = rcpt;
	in.helo_dns = (uint8_t)(st % 5);
	in.sender_dns = (uint8_t)((st >> 3) % 5);
	in.spf = (uint8_t)((st >> 1) % 3);
	in.spf_result = (uint8_t)(st % 7);
	in.dnsbl_done = st & 0x20;
	in.dnsbl_score = (int)(st & 7) - 2;
	in.dnsbl_zone = (st & 0x10) ? 0 : -1;
	in.dnsbl_txt = from;
	rcu_thread_online();
	in.trusted = pol_trusted(set, &in);
	for (unsigned c = 0; c < POL_CLASS_COUNT; c++) {
		pol_eval_class(set, (enum pol_class)c, &in, &v);
		if ((v.action == POL_REJECT && v.code < 500) ||
		    (v.action == POL_DEFER && v.code >= 500))
			abort(); /* a verdict's class and code disagree */
		if (v.tempfail && v.code >= 500)
			abort(); /* a failed lookup is never a 5xx */
	}
	rcu_thread_offline();
	for (unsigned z = 0; z < pol_dnsbl_zones(set); z++) {
		uint8_t a[4] = {0};
		for (unsigned i = 0; i < 4 && p + i < end; i++)
			a[i] = p[i];
		int k = pol_dnsbl_classify(pol_dnsbl_zone(set, z), a);
		if (k > 0 && (a[0] != 127 || (a[1] == 255 && a[2] == 255)))
			abort(); /* an error answer counted as a listing */
		pol_dnsbl_qname(&in, pol_dnsbl_zone(set, z)->name, q, sizeof(q));
	}
	p = p + 4 <= end ? p + 4 : end;
	memset(&r, 0, sizeof(r));
	memcpy(&r, p, (size_t)(end - p) < sizeof(r) ? (size_t)(end - p) : sizeof(r));
	for (unsigned i = 0; i < MX_DNS_RR_MAX + 1; i++)
		(void)strlen(pol_dns_text(&r, i));
	{
		uint8_t key[POL_NET_KEY_LEN];
		pol_net_key(helo, key);
	}
	return 0;
}
