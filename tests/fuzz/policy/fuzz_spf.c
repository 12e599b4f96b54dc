/*
 * fuzz_spf.c - libFuzzer target for the SPF evaluator (policy/spf.c): the
 * input is an SPF record, served for every TXT question of an evaluation
 * (so includes and redirects recurse into it), with fixed answers for the
 * address, MX and PTR questions. Checks that the evaluation ends within
 * the lookup limits, with a result in range, and that the Received-SPF
 * field formats within its buffer.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void answer(const struct spf_query *q, const uint8_t *rec, size_t n, struct mx_dns_result *r)
{
	memset(r, 0, offsetof(struct mx_dns_result, text));
	r->type = q->type;
	r->status = MX_DNS_OK;
	r->n = 1;
	switch (q->type) {
	case MX_DNS_A:
		r->u.a[0].s_addr = htonl(0xc0000201);
		break;
	case MX_DNS_AAAA:
		r->u.aaaa[0].s6_addr[0] = 0x20;
		r->u.aaaa[0].s6_addr[15] = 1;
		break;
	case MX_DNS_TXT:
		/* the record, cut at a NUL like dns_parse.c would not: any text */
		if (n >= MX_DNS_TEXT_MAX)
			n = MX_DNS_TEXT_MAX - 1;
		memcpy(r->text, rec, n);
		r->text[n] = '\0';
		break;
	default: /* MX, PTR: one name */
		strcpy(r->text, q->name[0] == 'x' ? "mx.example.org" : "x.example.org");
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct spf_eval e;
	struct mx_dns_result r;
	unsigned char ip[4] = {192, 0, 2, 1};
	char hdr[2048];
	unsigned q = 0;

	spf_start(&e, AF_INET, ip, "user+tag@example.org", "helo.example.org");
	while (spf_step(&e) == SPF_STEP_QUERY) {
		/* 10 terms, 10 names for each mx/ptr, includes: well under 400 */
		if (++q > 400)
			abort();
		answer(&e.q, data, size, &r);
		spf_feed(&e, &r);
	}
	if (e.result > SPF_PERMERROR)
		abort();
	if ((size_t)spf_received_spf(&e, "mx.example.net", hdr, sizeof(hdr)) >= sizeof(hdr))
		abort();
	if (memchr(hdr, '\n', strlen(hdr)) && !strstr(hdr, "\r\n\t"))
		abort();
	return 0;
}
