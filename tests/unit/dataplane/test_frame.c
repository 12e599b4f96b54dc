/*
 * test_frame.c - frame.h: the data room a worker's pool gets for [port] mtu
 * holds the largest frame of that MTU after the headroom, for every MTU the
 * config accepts, and stays DPDK's default for the usual 1500.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dataplane/frame.h"

static void test_default_mtu_keeps_default_room(void **state)
{
	(void)state;
	assert_int_equal(dp_frame_dataroom(1500), RTE_MBUF_DEFAULT_BUF_SIZE);
	assert_int_equal(dp_frame_dataroom(576), RTE_MBUF_DEFAULT_BUF_SIZE);
	assert_int_equal(dp_frame_max(1500), 14 + 4 + 1500 + 4);
}

static void test_jumbo(void **state)
{
	(void)state;
	/* The defect: a 9000-byte MTU in the old 2048-byte data room. */
	assert_true(dp_frame_max(9000) > RTE_MBUF_DEFAULT_DATAROOM);
	assert_int_equal(dp_frame_dataroom(9000), 9216 + RTE_PKTMBUF_HEADROOM);
}

static void test_every_mtu_fits(void **state)
{
	(void)state;
	for (uint32_t mtu = 576; mtu <= 9000; mtu++) {
		uint32_t room = dp_frame_dataroom(mtu);
		/* TCP's largest segment: MSS = mtu - 40 plus 40 header bytes
		 * (options come out of the MSS) in an Ethernet frame. */
		assert_true(room - RTE_PKTMBUF_HEADROOM >= RTE_ETHER_HDR_LEN + mtu);
		assert_true(room - RTE_PKTMBUF_HEADROOM >= dp_frame_max(mtu));
		assert_true(room <= UINT16_MAX); /* rte_pktmbuf_pool_create() takes uint16_t */
		assert_int_equal((room - RTE_PKTMBUF_HEADROOM) % DP_FRAME_ROUND, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_mtu_keeps_default_room),
		cmocka_unit_test(test_jumbo),
		cmocka_unit_test(test_every_mtu_fits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
