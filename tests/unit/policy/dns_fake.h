/*
 * dns_fake.h - a fake of policy/dns.h for unit tests: answers come from a
 * table filled by the test, delivered by mx_dns_poll() (or held, to test
 * deadlines). Names that are not in the table are NXDOMAIN.
 */
#ifndef MX_TEST_DNS_FAKE_H
#define MX_TEST_DNS_FAKE_H

#include "policy/dns.h"

/** Forget every record and query; DNS on (mx_dns_worker() non-NULL). */
void fake_dns_reset(void);
/** Answer @type @name with @status and, for OK, @n values: A/AAAA as
 * text addresses, TXT/MX/PTR as strings. */
void fake_dns_set(enum mx_dns_type type, const char *name, enum mx_dns_status status, unsigned n,
		  const char *const *vals);
/** Hold answers (nothing is delivered by mx_dns_poll) while @hold. */
void fake_dns_hold(bool hold);
/** No resolver at all: mx_dns_worker() returns NULL. */
void fake_dns_off(bool off);
/** Queries submitted so far. */
unsigned fake_dns_queries(void);

#endif
