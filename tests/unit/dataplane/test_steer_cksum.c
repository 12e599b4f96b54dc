/*
 * test_steer_cksum.c - the software steering hash (symmetric, spreads
 * flows evenly over workers) and the IPv4/ICMP checksums the packet path
 * relies on (DPDK's rte_raw_cksum / rte_ipv4_cksum, checked against known
 * headers and RFC 1071's example).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <rte_ip.h>

#include "dataplane/steer.h"

static struct steer_key key4(uint32_t a, uint32_t b, uint16_t pa, uint16_t pb)
{
	struct steer_key k = {.proto = 6, .family = 4, .port_a = pa, .port_b = pb};
	memcpy(k.addr_a, &a, 4);
	memcpy(k.addr_b, &b, 4);
	return k;
}

static void test_symmetric(void **state)
{
	(void)state;
	for (uint32_t i = 0; i < 1000; i++) {
		struct steer_key f = key4(0xc6120001 + i, 0xc6120002, (uint16_t)(30000 + i), 25);
		struct steer_key r = key4(0xc6120002, 0xc6120001 + i, 25, (uint16_t)(30000 + i));
		assert_int_equal(steer_hash(&f), steer_hash(&r));
	}
}

static void test_spread(void **state)
{
	/* Many client ports to one server port: each of 4 workers gets 25%
	 * +- 3% of 20,000 flows. */
	unsigned count[4] = {0};
	(void)state;
	for (uint32_t i = 0; i < 20000; i++) {
		struct steer_key k = key4(0xc6120001, 0xc6120002, (uint16_t)(1024 + i * 3), 25);
		count[steer_owner(steer_hash(&k), 4)]++;
	}
	for (unsigned w = 0; w < 4; w++)
		assert_in_range(count[w], 4400, 5600);
	for (uint32_t h = 0; h < 1000; h++)
		assert_true(steer_owner(h * 4294967u, 3) < 3);
	assert_int_equal(steer_owner(0xffffffffu, 3), 2);
	assert_int_equal(steer_owner(0, 3), 0);
}

static void test_proto_matters(void **state)
{
	struct steer_key a = key4(1, 2, 3, 4), b = a;
	unsigned differ = 0;
	(void)state;
	for (unsigned i = 0; i < 100; i++) {
		a = key4(1 + i, 2, 3, 4);
		b = a;
		b.proto = 1;
		differ += steer_hash(&a) != steer_hash(&b);
	}
	assert_true(differ > 90);
}

static void test_ipv4_cksum(void **state)
{
	/* A captured header: 45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7 */
	uint8_t hdr[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			   0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)hdr;
	(void)state;
	/* A valid header sums to 0xffff (RFC 1071): how the input path checks. */
	assert_int_equal(rte_raw_cksum(hdr, 20), 0xffff);
	ip->hdr_checksum = 0;
	assert_int_equal(rte_be_to_cpu_16(rte_ipv4_cksum(ip)), 0xb861);
	hdr[15] ^= 1; /* corrupt: must not verify */
	ip->hdr_checksum = rte_cpu_to_be_16(0xb861);
	assert_int_not_equal(rte_raw_cksum(hdr, 20), 0xffff);
}

static void test_rfc1071_example(void **state)
{
	/* RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2. */
	const uint8_t b[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint16_t s;
	(void)state;
	s = rte_raw_cksum(b, 8);
	/* rte_raw_cksum returns the sum in the byte order of the data. */
	assert_int_equal(rte_be_to_cpu_16(s), 0xddf2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_symmetric),	cmocka_unit_test(test_spread),
		cmocka_unit_test(test_proto_matters),	cmocka_unit_test(test_ipv4_cksum),
		cmocka_unit_test(test_rfc1071_example),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
