/*
 * dns_msg.h - build DNS messages in tests (answers for the parser, the fake
 * server of test_dns.c, seeds of the fuzz target). Header-only, no
 * compression, bounds-checked against the buffer (a test that overflows
 * it aborts).
 */
#ifndef MX_TEST_DNS_MSG_H
#define MX_TEST_DNS_MSG_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dmsg {
	unsigned char b[4096];
	int len;
};

static inline void dm_put(struct dmsg *m, const void *p, int n)
{
	if (m->len + n > (int)sizeof(m->b))
		abort();
	memcpy(m->b + m->len, p, (size_t)n);
	m->len += n;
}

static inline void dm_u8(struct dmsg *m, unsigned v)
{
	unsigned char c = (unsigned char)v;
	dm_put(m, &c, 1);
}

static inline void dm_u16(struct dmsg *m, unsigned v)
{
	dm_u8(m, v >> 8);
	dm_u8(m, v & 0xff);
}

static inline void dm_u32(struct dmsg *m, uint32_t v)
{
	dm_u16(m, v >> 16);
	dm_u16(m, v & 0xffff);
}

/* A name in wire form, uncompressed ("" is the root). */
static inline void dm_name(struct dmsg *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		int l = dot ? (int)(dot - name) : (int)strlen(name);
		dm_u8(m, (unsigned)l);
		dm_put(m, name, l);
		name += l;
		if (*name == '.')
			name++;
	}
	dm_u8(m, 0);
}

/* Header with flags QR RD RA and @rcode; counts filled by dm_count(). */
static inline void dm_header(struct dmsg *m, unsigned id, unsigned rcode)
{
	m->len = 0;
	dm_u16(m, id);
	dm_u16(m, 0x8180 | (rcode & 0xf));
	dm_u16(m, 0);
	dm_u16(m, 0);
	dm_u16(m, 0);
	dm_u16(m, 0);
}

static inline void dm_count(struct dmsg *m, unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
	m->b[4] = (unsigned char)(qd >> 8), m->b[5] = (unsigned char)qd;
	m->b[6] = (unsigned char)(an >> 8), m->b[7] = (unsigned char)an;
	m->b[8] = (unsigned char)(ns >> 8), m->b[9] = (unsigned char)ns;
	m->b[10] = (unsigned char)(ar >> 8), m->b[11] = (unsigned char)ar;
}

static inline void dm_question(struct dmsg *m, const char *name, unsigned type)
{
	dm_name(m, name);
	dm_u16(m, type);
	dm_u16(m, 1);
}

/* Start an RR; returns the offset of its RDLENGTH for dm_rr_end(). */
static inline int dm_rr(struct dmsg *m, const char *owner, unsigned type, uint32_t ttl)
{
	int at;
	dm_name(m, owner);
	dm_u16(m, type);
	dm_u16(m, 1);
	dm_u32(m, ttl);
	at = m->len;
	dm_u16(m, 0);
	return at;
}

static inline void dm_rr_end(struct dmsg *m, int at)
{
	int n = m->len - at - 2;
	m->b[at] = (unsigned char)(n >> 8);
	m->b[at + 1] = (unsigned char)n;
}

static inline void dm_a(struct dmsg *m, const char *owner, uint32_t ttl, const char *ip4)
{
	unsigned a, b, c, d;
	int at = dm_rr(m, owner, 1, ttl);
	if (sscanf(ip4, "%u.%u.%u.%u", &a, &b, &c, &d) != 4)
		abort();
	dm_u8(m, a), dm_u8(m, b), dm_u8(m, c), dm_u8(m, d);
	dm_rr_end(m, at);
}

/* TXT with one character-string per @parts entry (NULL-terminated). */
static inline void dm_txt(struct dmsg *m, const char *owner, uint32_t ttl, const char *const *parts)
{
	int at = dm_rr(m, owner, 16, ttl);
	for (; *parts; parts++) {
		dm_u8(m, (unsigned)strlen(*parts));
		dm_put(m, *parts, (int)strlen(*parts));
	}
	dm_rr_end(m, at);
}

static inline void dm_soa(struct dmsg *m, const char *zone, uint32_t ttl, uint32_t minimum)
{
	int at = dm_rr(m, zone, 6, ttl);
	dm_name(m, "ns.test");
	dm_name(m, "hostmaster.test");
	dm_u32(m, 1), dm_u32(m, 3600), dm_u32(m, 600), dm_u32(m, 86400), dm_u32(m, minimum);
	dm_rr_end(m, at);
}

#endif
