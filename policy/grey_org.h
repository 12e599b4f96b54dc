/*
 * grey_org.h - the organisation behind a host name, for greylisting keys
 * ([greylist] ptr_org): the registered domain of the client's
 * forward-confirmed reverse name, i.e. the public suffix of the name (by
 * the Public Suffix List, https://publicsuffix.org/list/) plus one label.
 * "mail-sn1nam02.outbound.protection.outlook.com" -> "outlook.com",
 * "a.b.example.co.uk" -> "example.co.uk". A provider's pool retrying from
 * another host (of another network) then meets the same key, as postgrey's
 * --lookup-by-host / sub-domain idea intends. Without a list, the last two
 * labels are the organisation.
 *
 * MEMORY. grey_org_load() reads the list into one malloc'd block (boot or
 * reload, control thread); grey_org_free() frees it. Lookups allocate
 * nothing and only read: any thread, as long as the list lives (the caller
 * publishes it under RCU with the rest of the greylisting settings).
 */
#ifndef MX_POLICY_GREY_ORG_H
#define MX_POLICY_GREY_ORG_H

#include <stddef.h>

struct grey_psl;

/** Read the Public Suffix List at @path (the publicsuffix package's
 * public_suffix_list.dat format: one rule per line, "//" comments, "*."
 * wildcards, "!" exceptions). Returns the list, or NULL with errno
 * (ENOENT..., EINVAL: no rule in it, ENOMEM). Control thread. */
struct grey_psl *grey_org_load(const char *path);

/** Free @l (NULL: no-op). After a grace period if workers may read it. */
void grey_org_free(struct grey_psl *l);

/** Rules loaded. */
size_t grey_org_rules(const struct grey_psl *l);

/** Write the registered domain of @name (lower-cased, without a trailing
 * dot) to @buf (@len octets). @l NULL: the last two labels. Returns its
 * length, or -1 when @name has none (it is a public suffix itself, a
 * single label, an address, too long for @buf). Any thread, no allocation. */
int grey_org_domain(const struct grey_psl *l, const char *name, char *buf, size_t len);

#endif
