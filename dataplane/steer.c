/*
 * steer.c - symmetric flow hash, see steer.h.
 */
#include "dataplane/steer.h"

#include <rte_hash_crc.h>
#include <string.h>

uint32_t steer_hash(const struct steer_key *k)
{
	unsigned alen = k->family == 6 ? 16 : 4;
	uint8_t mix[16];
	uint32_t h;

	/* XOR of the two ends is order independent, so the hash is symmetric;
	 * the protocol seeds it so ICMP and TCP flows of a pair differ. */
	for (unsigned i = 0; i < alen; i++)
		mix[i] = k->addr_a[i] ^ k->addr_b[i];
	h = rte_hash_crc(mix, alen, 0x9e3779b9u ^ k->proto);
	return rte_hash_crc_4byte(
		(uint32_t)(k->port_a ^ k->port_b) | ((uint32_t)(k->port_a + k->port_b) << 16), h);
}
