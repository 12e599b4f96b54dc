/*
 * dns_parse.c - the pure parts of the resolver: reading the DNS answers
 * c-ares hands to an ares_query() callback into a fixed-size struct
 * mx_dns_result, normalising and hashing names, clamping TTLs, PTR names.
 *
 * Why our own reader rather than ares_parse_*_reply(): those allocate,
 * give no TTL for TXT, MX and PTR, and none for negative answers (the SOA
 * of the authority section, RFC 2308), and the cache needs all of them.
 * The reader trusts nothing in the message: every offset is checked
 * against the length, compression pointers are bounded, names are limited
 * to 255 octets and printable labels. It is fuzzed (tests/fuzz/dns).
 *
 * No allocation, no global state: any thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy/dns_int.h"

enum {
	T_A = 1,
	T_CNAME = 5,
	T_SOA = 6,
	T_PTR = 12,
	T_MX = 15,
	T_TXT = 16,
	T_AAAA = 28,
};

#define NAME_BUF     256 /* a wire name in dotted form, with its NUL */
#define CNAME_CHAIN  8	 /* CNAMEs followed from the query name */
#define PTR_HOPS_MAX 64	 /* compression pointers followed in one name */

static uint16_t rd16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read the (possibly compressed) name at @pos into @out in dotted form, no
 * trailing dot ("" for the root). *@next: the offset after the name at
 * @pos. Returns 0, or -1 if the name is malformed, too long, or has a
 * label with an octet outside 0x21..0x7e or a dot or backslash (such a name
 * is never one we asked for, nor one we could ask for). */
static int read_name(const unsigned char *m, int len, int pos, char *out, int *next)
{
	int o = 0, hops = 0, end = -1;
	bool bad = false;

	for (;;) {
		if (pos >= len)
			return -1;
		unsigned l = m[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len || ++hops > PTR_HOPS_MAX)
				return -1;
			if (end < 0)
				end = pos + 2;
			pos = (int)((l & 0x3f) << 8 | m[pos + 1]);
			continue;
		}
		if (l & 0xc0)
			return -1; /* extended label types: not in answers we ask for */
		if (l == 0) {
			if (end < 0)
				end = pos + 1;
			break;
		}
		if (pos + 1 + (int)l > len || o + (int)l + 1 >= NAME_BUF)
			return -1;
		if (o)
			out[o++] = '.';
		for (unsigned i = 0; i < l; i++) {
			unsigned char c = m[pos + 1 + i];
			if (c < 0x21 || c > 0x7e || c == '.' || c == '\\')
				bad = true;
			out[o++] = (char)c;
		}
		pos += 1 + (int)l;
	}
	out[o] = '\0';
	*next = end;
	/* Longer than a name we could ask for (RFC 1035: 253 in text): the
	 * caches and the checks take none such (fuzz_dns found one). */
	return bad || o > MX_DNS_NAME_MAX ? -1 : 0;
}

/* Skip the name at @pos without reading it. Returns the offset after it or
 * -1. */
static int skip_name(const unsigned char *m, int len, int pos)
{
	for (;;) {
		if (pos >= len)
			return -1;
		unsigned l = m[pos];
		if ((l & 0xc0) == 0xc0)
			return pos + 2 <= len ? pos + 2 : -1;
		if (l & 0xc0)
			return -1;
		if (l == 0)
			return pos + 1;
		pos += 1 + (int)l;
	}
}

/* One resource record's fixed part. */
struct rr {
	int owner; /* offset of the owner name */
	uint16_t type, class_;
	uint32_t ttl;
	int rdata, rdlen;
};

/* Read the RR at *@pos and advance it. Returns 0 or -1. */
static int read_rr(const unsigned char *m, int len, int *pos, struct rr *rr)
{
	int p = skip_name(m, len, *pos);

	if (p < 0 || p + 10 > len)
		return -1;
	rr->owner = *pos;
	rr->type = rd16(m + p);
	rr->class_ = rd16(m + p + 2);
	rr->ttl = rd32(m + p + 4);
	if (rr->ttl > 0x7fffffffu) /* RFC 2181 8: treat as 0 */
		rr->ttl = 0;
	rr->rdlen = rd16(m + p + 8);
	rr->rdata = p + 10;
	if (rr->rdata + rr->rdlen > len)
		return -1;
	*pos = rr->rdata + rr->rdlen;
	return 0;
}

static bool in_set(char set[][NAME_BUF], int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcasecmp(set[i], name) == 0)
			return true;
	return false;
}

static bool is_spf(const char *s, size_t n)
{
	return n >= 6 && strncasecmp(s, "v=spf1", 6) == 0 && (n == 6 || s[6] == ' ');
}

/* Append a string of @n octets to @r's text as record r->n. */
static bool text_add(struct mx_dns_result *r, size_t *used, const char *s, size_t n)
{
	if (r->n >= MX_DNS_RR_MAX || *used + n + 1 > MX_DNS_TEXT_MAX)
		return false;
	r->u.s.off[r->n] = (uint16_t)*used;
	memcpy(r->text + *used, s, n);
	r->text[*used + n] = '\0';
	*used += n + 1;
	r->n++;
	return true;
}

/* Concatenate the character-strings of a TXT rdata into @buf (at most
 * @cap - 1 octets), a NUL octet made '?' (so that the record stays one
 * string, and an SPF record holding one is a syntax error as RFC 7208
 * wants, not a shorter valid record). Returns the length, or -1 if
 * malformed or too long. */
static int txt_join(const unsigned char *m, const struct rr *rr, char *buf, size_t cap)
{
	size_t o = 0;

	for (int p = rr->rdata; p < rr->rdata + rr->rdlen;) {
		unsigned l = m[p++];
		if (p + (int)l > rr->rdata + rr->rdlen || o + l >= cap)
			return -1;
		for (unsigned i = 0; i < l; i++)
			buf[o + i] = m[p + (int)i] ? (char)m[p + (int)i] : '?';
		o += l;
		p += (int)l;
	}
	buf[o] = '\0';
	return (int)o;
}

/* The negative TTL from the authority section's SOA, or DNS_TTL_NONE. */
static uint32_t soa_ttl(const unsigned char *m, int len, int pos, unsigned nscount)
{
	struct rr rr;

	for (unsigned i = 0; i < nscount; i++) {
		if (read_rr(m, len, &pos, &rr) != 0)
			return DNS_TTL_NONE;
		if (rr.type != T_SOA)
			continue;
		int p = skip_name(m, len, rr.rdata);
		if (p >= 0)
			p = skip_name(m, len, p);
		if (p < 0 || p + 20 > rr.rdata + rr.rdlen)
			return DNS_TTL_NONE;
		uint32_t min = rd32(m + p + 16);
		return rr.ttl < min ? rr.ttl : min;
	}
	return DNS_TTL_NONE;
}

static int fail(struct mx_dns_result *r, int status)
{
	r->status = (uint8_t)status;
	r->n = 0;
	return status;
}

int dns_parse_answer(uint8_t type, const unsigned char *m, int len, struct mx_dns_result *r,
		     uint32_t *ttl)
{
	static const uint16_t wire_type[] = {
		[MX_DNS_A] = T_A,     [MX_DNS_AAAA] = T_AAAA, [MX_DNS_PTR] = T_PTR,
		[MX_DNS_TXT] = T_TXT, [MX_DNS_MX] = T_MX,
	};
	char names[CNAME_CHAIN + 1][NAME_BUF];
	char buf[NAME_BUF];
	int nnames = 1, pos = 12, ans_pos, next;
	unsigned qd, an, ns, rcode;
	uint32_t min_ttl = DNS_TTL_NONE;
	size_t used = 0;
	struct rr rr;

	r->type = type;
	r->n = 0;
	r->ttl = 0;
	*ttl = DNS_TTL_NONE;
	if (type < MX_DNS_A || type > MX_DNS_MX || !m || len < 12)
		return fail(r, MX_DNS_TEMPFAIL);
	if (m[2] & 0x02) /* TC: c-ares retries over TCP; still truncated */
		return fail(r, MX_DNS_TEMPFAIL);
	rcode = m[3] & 0x0f;
	qd = rd16(m + 4);
	an = rd16(m + 6);
	ns = rd16(m + 8);
	if (qd != 1)
		return fail(r, MX_DNS_TEMPFAIL);
	if (read_name(m, len, pos, names[0], &next) != 0 || next + 4 > len)
		return fail(r, MX_DNS_TEMPFAIL);
	pos = next + 4;
	if (rcode == 3 || rcode == 0) {
		/* Find the authority section: skip the answers. */
		int p = pos;
		for (unsigned i = 0; i < an; i++)
			if (read_rr(m, len, &p, &rr) != 0)
				return fail(r, MX_DNS_TEMPFAIL);
		if (rcode == 3) {
			*ttl = soa_ttl(m, len, p, ns);
			return fail(r, MX_DNS_NXDOMAIN);
		}
		*ttl = soa_ttl(m, len, p, ns);
	} else {
		return fail(r, MX_DNS_TEMPFAIL); /* SERVFAIL, REFUSED, FORMERR ... */
	}
	ans_pos = pos;

	/* The CNAME chain from the query name, in any order of the records. */
	for (bool grew = true; grew && nnames <= CNAME_CHAIN;) {
		grew = false;
		pos = ans_pos;
		for (unsigned i = 0; i < an && nnames <= CNAME_CHAIN; i++) {
			if (read_rr(m, len, &pos, &rr) != 0)
				return fail(r, MX_DNS_TEMPFAIL);
			if (rr.type != T_CNAME || rr.class_ != 1)
				continue;
			if (read_name(m, len, rr.owner, buf, &next) != 0 ||
			    !in_set(names, nnames, buf))
				continue;
			if (read_name(m, len, rr.rdata, buf, &next) != 0 ||
			    in_set(names, nnames, buf))
				continue;
			memcpy(names[nnames++], buf, sizeof(buf));
			if (rr.ttl < min_ttl)
				min_ttl = rr.ttl;
			grew = true;
		}
	}

	/* The records of @type owned by a name of the chain. TXT: two passes,
	 * SPF records first, so that they are the ones kept when the text is
	 * full. */
	for (int pass = 0; pass < (type == MX_DNS_TXT ? 2 : 1); pass++) {
		pos = ans_pos;
		for (unsigned i = 0; i < an; i++) {
			if (read_rr(m, len, &pos, &rr) != 0)
				return fail(r, MX_DNS_TEMPFAIL);
			if (rr.type != wire_type[type] || rr.class_ != 1)
				continue;
			if (read_name(m, len, rr.owner, buf, &next) != 0 ||
			    !in_set(names, nnames, buf))
				continue;
			bool kept = false;
			switch (type) {
			case MX_DNS_A:
				if (rr.rdlen == 4 && r->n < MX_DNS_RR_MAX) {
					memcpy(&r->u.a[r->n++], m + rr.rdata, 4);
					kept = true;
				}
				break;
			case MX_DNS_AAAA:
				if (rr.rdlen == 16 && r->n < MX_DNS_RR_MAX) {
					memcpy(&r->u.aaaa[r->n++], m + rr.rdata, 16);
					kept = true;
				}
				break;
			case MX_DNS_PTR:
				if (read_name(m, len, rr.rdata, buf, &next) == 0 &&
				    next <= rr.rdata + rr.rdlen)
					kept = text_add(r, &used, buf, strlen(buf));
				break;
			case MX_DNS_MX:
				if (rr.rdlen >= 3 &&
				    read_name(m, len, rr.rdata + 2, buf, &next) == 0 &&
				    next <= rr.rdata + rr.rdlen && r->n < MX_DNS_RR_MAX) {
					r->u.s.pref[r->n] = rd16(m + rr.rdata);
					kept = text_add(r, &used, buf, strlen(buf));
				}
				break;
			case MX_DNS_TXT: {
				char t[MX_DNS_TEXT_MAX];
				int n = txt_join(m, &rr, t, sizeof(t));
				if (n >= 0 && is_spf(t, (size_t)n) == (pass == 0))
					kept = text_add(r, &used, t, (size_t)n);
				break;
			}
			}
			if (kept && rr.ttl < min_ttl)
				min_ttl = rr.ttl;
		}
	}
	if (r->n == 0) {
		r->status = MX_DNS_NODATA;
		return MX_DNS_NODATA;
	}
	r->status = MX_DNS_OK;
	*ttl = min_ttl;
	return MX_DNS_OK;
}

size_t mx_dns_result_size(const struct mx_dns_result *r)
{
	size_t n = offsetof(struct mx_dns_result, text);

	if (r->status == MX_DNS_OK && r->n > 0 &&
	    (r->type == MX_DNS_PTR || r->type == MX_DNS_TXT || r->type == MX_DNS_MX)) {
		uint16_t last = r->u.s.off[r->n - 1];
		n += last + strnlen(r->text + last, MX_DNS_TEXT_MAX - last) + 1;
		if (n > sizeof(*r))
			n = sizeof(*r);
	} else if (r->type == MX_DNS_VERIFY) {
		/* The next hop's reply, whatever the answer. */
		n += strnlen(r->text, MX_DNS_TEXT_MAX - 1) + 1;
	}
	return n;
}

int dns_name_norm(const char *in, char *out)
{
	size_t n = strnlen(in, MX_DNS_NAME_MAX + 2), lab = 0;

	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n == 0 || n > MX_DNS_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '.') {
			if (lab == 0)
				return -EINVAL;
			lab = 0;
		} else {
			if (c < 0x21 || c > 0x7e || c == '\\' || ++lab > 63)
				return -EINVAL;
			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c + 32);
		}
		out[i] = (char)c;
	}
	out[n] = '\0';
	return (int)n;
}

uint64_t dns_hash(uint64_t seed, uint8_t type, const char *name, size_t len)
{
	/* A multiply-xorshift over 8-octet words, keyed with a boot-time
	 * random seed, so that names chosen by a client cannot be made to
	 * collide on purpose. */
	uint64_t h = seed ^ ((uint64_t)type << 56) ^ (len * 0x9e3779b97f4a7c15ull);

	while (len > 0) {
		uint64_t w = 0;
		size_t k = len < 8 ? len : 8;
		memcpy(&w, name, k);
		h ^= w;
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
		name += k;
		len -= k;
	}
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	return h;
}

uint32_t dns_ttl_clamp(const struct mx_dns_conf *c, uint32_t ttl, bool negative)
{
	uint32_t lo = c->min_ttl, hi = negative ? c->neg_ttl_max : c->max_ttl;

	if (lo > hi)
		lo = hi;
	return ttl < lo ? lo : ttl > hi ? hi : ttl;
}

int mx_dns_ptr_name(int af, const void *addr, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	int n;

	if (af == AF_INET) {
		const unsigned char *a = addr;
		n = snprintf(buf, len, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
		return n > 0 && (size_t)n < len ? 0 : -ENOSPC;
	}
	if (af != AF_INET6)
		return -EAFNOSUPPORT;
	if (len < 64 + 9) /* 32 nibbles and dots, "ip6.arpa", NUL */
		return -ENOSPC;
	const unsigned char *a = addr;
	char *p = buf;
	for (int i = 15; i >= 0; i--) {
		*p++ = hex[a[i] & 0xf];
		*p++ = '.';
		*p++ = hex[a[i] >> 4];
		*p++ = '.';
	}
	memcpy(p, "ip6.arpa", 9);
	return 0;
}
