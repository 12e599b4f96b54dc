/*
 * test_arp_cache.c - resolution, held packets, RFC 826 merge rules,
 * expiry, probes and drop after the last probe, eviction under pressure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/arp_cache.h"

static const uint8_t mac1[6] = {2, 0, 0, 0, 0, 1};
static const uint8_t mac2[6] = {2, 0, 0, 0, 0, 2};
static unsigned probes, drops;
static uint32_t last_probe;

static void on_probe(uint32_t ip, void *arg)
{
	(void)arg;
	probes++;
	last_probe = ip;
}

static void on_drop(void *pkt, void *arg)
{
	(void)pkt;
	(void)arg;
	drops++;
}

static void test_resolve_queue_learn(void **state)
{
	struct arp_cache c;
	uint8_t mac[6];
	void *flush[ARP_PENDING_MAX];
	int p[6];
	(void)state;
	assert_int_equal(arp_cache_init(&c, 64, 300000000), 0);
	assert_int_equal(arp_cache_resolve(&c, 0x0a000001, 0, &p[0], mac), ARP_REQUEST);
	for (unsigned i = 1; i < ARP_PENDING_MAX; i++)
		assert_int_equal(arp_cache_resolve(&c, 0x0a000001, 0, &p[i], mac), ARP_QUEUED);
	assert_int_equal(arp_cache_resolve(&c, 0x0a000001, 0, &p[5], mac), ARP_FULL);
	/* A reply for an address we asked for: held packets come back in order. */
	assert_int_equal(arp_cache_learn(&c, 0x0a000001, mac1, false, 10, flush), ARP_PENDING_MAX);
	for (unsigned i = 0; i < ARP_PENDING_MAX; i++)
		assert_ptr_equal(flush[i], &p[i]);
	assert_int_equal(arp_cache_resolve(&c, 0x0a000001, 20, &p[5], mac), ARP_HIT);
	assert_memory_equal(mac, mac1, 6);
	/* Merge: a known sender's new MAC replaces the old one. */
	assert_int_equal(arp_cache_learn(&c, 0x0a000001, mac2, false, 30, flush), 0);
	assert_true(arp_cache_lookup(&c, 0x0a000001, 40, mac));
	assert_memory_equal(mac, mac2, 6);
	arp_cache_fini(&c, on_drop, NULL);
}

static void test_no_create_unless_for_us(void **state)
{
	struct arp_cache c;
	uint8_t mac[6];
	void *flush[ARP_PENDING_MAX];
	(void)state;
	assert_int_equal(arp_cache_init(&c, 16, 1000), 0);
	arp_cache_learn(&c, 0x0a000002, mac1, false, 0, flush);
	assert_false(arp_cache_lookup(&c, 0x0a000002, 0, mac));
	arp_cache_learn(&c, 0x0a000002, mac1, true, 0, flush);
	assert_true(arp_cache_lookup(&c, 0x0a000002, 0, mac));
	/* Expiry after the timeout. */
	assert_false(arp_cache_lookup(&c, 0x0a000002, 1000, mac));
	arp_cache_age(&c, 1000, on_probe, on_drop, NULL);
	assert_int_equal(c.used, 0);
	arp_cache_fini(&c, on_drop, NULL);
}

static void test_probes_then_drop(void **state)
{
	struct arp_cache c;
	uint8_t mac[6];
	int pkt;
	uint64_t t = 0;
	(void)state;
	probes = drops = 0;
	assert_int_equal(arp_cache_init(&c, 16, 1000000), 0);
	assert_int_equal(arp_cache_resolve(&c, 0x0a000003, t, &pkt, mac), ARP_REQUEST);
	for (unsigned i = 1; i < ARP_MAX_PROBES; i++) {
		t += ARP_PROBE_INTERVAL_US;
		arp_cache_age(&c, t, on_probe, on_drop, NULL);
		assert_int_equal(probes, i);
		assert_int_equal(last_probe, 0x0a000003);
		assert_int_equal(drops, 0);
	}
	t += ARP_PROBE_INTERVAL_US;
	assert_int_equal(arp_cache_age(&c, t, on_probe, on_drop, NULL), 1);
	assert_int_equal(drops, 1);
	assert_int_equal(c.used, 0);
	arp_cache_fini(&c, on_drop, NULL);
}

static void test_eviction_bounded(void **state)
{
	struct arp_cache c;
	void *flush[ARP_PENDING_MAX];
	uint8_t mac[6];
	(void)state;
	assert_int_equal(arp_cache_init(&c, 16, 1000000), 0);
	/* Far more neighbours than slots: memory stays bounded, newest win. */
	for (uint32_t i = 0; i < 10000; i++)
		arp_cache_learn(&c, 0x0a000000 + i, mac1, true, i, flush);
	assert_true(c.used <= 16);
	assert_true(c.evictions > 0);
	assert_true(arp_cache_lookup(&c, 0x0a000000 + 9999, 10000, mac));
	arp_cache_fini(&c, on_drop, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_queue_learn),
		cmocka_unit_test(test_no_create_unless_for_us),
		cmocka_unit_test(test_probes_then_drop),
		cmocka_unit_test(test_eviction_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
