/*
 * fuzz_dns.c - libFuzzer target for the DNS answers c-ares hands to the
 * resolver (policy/dns_parse.c): the first octet picks the query type,
 * the rest is the message. Checks the invariants everything downstream
 * relies on: n within MX_DNS_RR_MAX, every text offset inside text[] and
 * NUL-terminated there, mx_dns_result_size() within the struct, a status
 * that is one of the four.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/dns_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mx_dns_result r;
	uint32_t ttl;
	uint8_t type;

	if (size < 1)
		return 0;
	type = (uint8_t)(MX_DNS_A + data[0] % 5);
	memset(&r, 0x5a, sizeof(r));
	dns_parse_answer(type, data + 1, (int)(size - 1 > 65535 ? 65535 : size - 1), &r, &ttl);
	if (r.status > MX_DNS_TEMPFAIL || r.n > MX_DNS_RR_MAX || r.type != type)
		abort();
	if ((r.status == MX_DNS_OK) != (r.n > 0))
		abort();
	if (mx_dns_result_size(&r) > sizeof(r))
		abort();
	if (r.status == MX_DNS_OK &&
	    (type == MX_DNS_PTR || type == MX_DNS_MX || type == MX_DNS_TXT))
		for (unsigned i = 0; i < r.n; i++) {
			uint16_t o = r.u.s.off[i];
			if (o >= MX_DNS_TEXT_MAX || !memchr(r.text + o, 0, MX_DNS_TEXT_MAX - o))
				abort();
			/* PTR and MX names are ones we could ask for, or the root */
			if (type != MX_DNS_TXT && r.text[o]) {
				char n[MX_DNS_NAME_MAX + 1];
				if (dns_name_norm(r.text + o, n) < 0)
					abort();
			}
		}
	return 0;
}
