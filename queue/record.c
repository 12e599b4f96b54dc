/*
 * record.c - spool record codec and checks.
 *
 * Everything here works on caller-owned byte buffers; no function allocates,
 * blocks or keeps state, so the worker encodes records in its staging buffer
 * and recovery, the reader and the tests decode with the same code.
 */
#include <errno.h>
#include <string.h>

#include <rte_hash_crc.h>

#include "queue/record.h"

uint32_t spool_crc32c(uint32_t crc, const void *p, size_t len)
{
	/* rte_hash_crc() is the bare CRC32C register update: add the standard
	 * pre- and post-inversion. It takes a 32-bit length. */
	uint32_t c = ~crc;
	const uint8_t *b = p;

	/* rte_hash_crc() loads 8 bytes at a time through a uint64_t pointer:
	 * feed the unaligned head byte by byte so those loads are aligned
	 * (a misaligned load is undefined behaviour, caught by UBSan). */
	while (len > 0 && ((uintptr_t)b & 7) != 0) {
		c = rte_hash_crc_1byte(*b++, c);
		len--;
	}
	while (len > 0) {
		uint32_t n = len > (1U << 30) ? (1U << 30) : (uint32_t)len;

		c = rte_hash_crc(b, n, c);
		b += n;
		len -= n;
	}
	return ~c;
}

void spool_rec_hdr_encode(uint8_t *out, const struct spool_rec_hdr *h)
{
	spool_put32(out + 0, SPOOL_REC_MAGIC);
	out[4] = SPOOL_REC_VERSION;
	out[5] = h->type;
	spool_put16(out + 6, h->flags);
	spool_put32(out + 8, h->len);
	spool_put32(out + 12, h->crc);
	spool_put64(out + 16, h->off);
	spool_put64(out + 24, h->qid.hi);
	spool_put64(out + 32, h->qid.lo);
}

int spool_rec_hdr_decode(const uint8_t *in, struct spool_rec_hdr *h)
{
	h->magic = spool_get32(in + 0);
	h->version = in[4];
	h->type = in[5];
	h->flags = spool_get16(in + 6);
	h->len = spool_get32(in + 8);
	h->crc = spool_get32(in + 12);
	h->off = spool_get64(in + 16);
	h->qid.hi = spool_get64(in + 24);
	h->qid.lo = spool_get64(in + 32);
	if (h->magic != SPOOL_REC_MAGIC || h->version != SPOOL_REC_VERSION)
		return -EBADMSG;
	if (h->type == SPOOL_REC_NONE || h->type >= SPOOL_REC_TYPE_COUNT)
		return -EBADMSG;
	if (h->len > SPOOL_REC_MAX_LEN)
		return -EBADMSG;
	return 0;
}

uint32_t spool_rec_crc_finish(uint32_t payload_crc, const uint8_t *hdr)
{
	static const uint8_t zero[4];
	uint32_t c;

	c = spool_crc32c(payload_crc, hdr, 12);
	c = spool_crc32c(c, zero, 4);
	return spool_crc32c(c, hdr + 16, SPOOL_REC_HDR_LEN - 16);
}

int spool_rec_encode(uint8_t *out, size_t cap, uint32_t salt, enum spool_rec_type type,
		     uint64_t off, const struct spool_qid *qid, const void *payload, uint32_t len)
{
	struct spool_rec_hdr h = {
		.type = (uint8_t)type,
		.len = len,
		.off = off,
	};

	if (len > SPOOL_REC_MAX_LEN)
		return -EINVAL;
	if (cap < (size_t)SPOOL_REC_HDR_LEN + len)
		return -ENOSPC;
	if (qid)
		h.qid = *qid;
	if (len > 0)
		memmove(out + SPOOL_REC_HDR_LEN, payload, len);
	spool_rec_hdr_encode(out, &h);
	h.crc = spool_rec_crc_finish(spool_crc32c(salt, out + SPOOL_REC_HDR_LEN, len), out);
	spool_put32(out + 12, h.crc);
	return (int)(SPOOL_REC_HDR_LEN + len);
}

long spool_rec_check(const uint8_t *p, size_t avail, uint32_t salt, struct spool_rec_hdr *h)
{
	uint32_t c;

	if (avail < SPOOL_REC_HDR_LEN)
		return -EAGAIN;
	if (spool_rec_hdr_decode(p, h) < 0)
		return -EBADMSG;
	if (avail - SPOOL_REC_HDR_LEN < h->len)
		return -EAGAIN;
	c = spool_rec_crc_finish(spool_crc32c(salt, p + SPOOL_REC_HDR_LEN, h->len), p);
	if (c != h->crc)
		return -EBADMSG;
	return (long)SPOOL_REC_HDR_LEN + h->len;
}

void spool_filehdr_encode(uint8_t *out, const struct spool_filehdr *fh)
{
	spool_put16(out + 0, fh->worker);
	spool_put16(out + 2, 0);
	spool_put32(out + 4, fh->salt);
	spool_put64(out + 8, fh->seq);
	spool_put64(out + 16, fh->lstart);
	spool_put64(out + 24, fh->created_us);
}

int spool_filehdr_decode(const uint8_t *p, uint32_t len, struct spool_filehdr *fh)
{
	if (len != SPOOL_FILEHDR_PAYLOAD)
		return -EBADMSG;
	fh->worker = spool_get16(p + 0);
	fh->salt = spool_get32(p + 4);
	fh->seq = spool_get64(p + 8);
	fh->lstart = spool_get64(p + 16);
	fh->created_us = spool_get64(p + 24);
	return 0;
}

void spool_end_encode(uint8_t *out, const struct spool_end *e)
{
	spool_put64(out + 0, e->env_off);
	spool_put64(out + 8, e->body_len);
	spool_put32(out + 16, e->msg_crc);
	spool_put32(out + 20, e->nbody);
	spool_put32(out + 24, e->nrcpt);
	spool_put32(out + 28, 0);
}

int spool_end_decode(const uint8_t *p, uint32_t len, struct spool_end *e)
{
	if (len != SPOOL_END_PAYLOAD)
		return -EBADMSG;
	e->env_off = spool_get64(p + 0);
	e->body_len = spool_get64(p + 8);
	e->msg_crc = spool_get32(p + 16);
	e->nbody = spool_get32(p + 20);
	e->nrcpt = spool_get32(p + 24);
	return 0;
}

void spool_done_encode(uint8_t *out, uint32_t rcpt, enum spool_rcpt_state st, uint64_t time_us)
{
	spool_put32(out + 0, rcpt);
	out[4] = (uint8_t)st;
	out[5] = out[6] = out[7] = 0;
	spool_put64(out + 8, time_us);
}

int spool_done_decode(const uint8_t *p, uint32_t len, uint32_t *rcpt, enum spool_rcpt_state *st,
		      uint64_t *time_us)
{
	if (len != SPOOL_DONE_PAYLOAD)
		return -EBADMSG;
	if (p[4] == SPOOL_RCPT_PENDING || p[4] >= SPOOL_RCPT_STATE_COUNT)
		return -EBADMSG;
	*rcpt = spool_get32(p + 0);
	*st = (enum spool_rcpt_state)p[4];
	*time_us = spool_get64(p + 8);
	return 0;
}

/* ---- envelope ---- */

static long str_size(const char *s, int required)
{
	size_t n;

	if (!s)
		return required ? -EINVAL : 2;
	n = strlen(s);
	if (n > SPOOL_STR_MAX)
		return -EINVAL;
	return (long)(2 + n + 1);
}

long spool_env_size(const struct spool_envelope *env)
{
	long total = 8 + 1 + 1 + 2 + 16 + 4, n;
	const char *s[5] = {env->helo, env->tls_proto, env->tls_cipher, env->mail_from,
			    env->mail_params};
	const int req[5] = {1, 0, 0, 1, 0};

	if (env->family != 4 && env->family != 6)
		return -EINVAL;
	if (env->nrcpt == 0 || !env->rcpt)
		return -EINVAL;
	for (int i = 0; i < 5; i++) {
		n = str_size(s[i], req[i]);
		if (n < 0)
			return n;
		total += n;
	}
	for (uint32_t i = 0; i < env->nrcpt; i++) {
		const struct spool_rcpt *r = &env->rcpt[i];

		total += 1;
		if ((n = str_size(r->addr, 1)) < 0)
			return n;
		total += n;
		if ((n = str_size(r->orcpt, 0)) < 0)
			return n;
		total += n;
		if ((n = str_size(r->params, 0)) < 0)
			return n;
		total += n;
	}
	if (total > (long)SPOOL_REC_MAX_LEN)
		return -EINVAL;
	return total;
}

static uint8_t *put_str(uint8_t *p, const char *s)
{
	size_t n;

	if (!s) {
		spool_put16(p, SPOOL_STR_ABSENT);
		return p + 2;
	}
	n = strlen(s);
	spool_put16(p, (uint16_t)n);
	memcpy(p + 2, s, n + 1);
	return p + 2 + n + 1;
}

long spool_env_encode(const struct spool_envelope *env, uint8_t *out, size_t cap)
{
	long size = spool_env_size(env);
	uint8_t *p = out;

	if (size < 0)
		return size;
	if ((size_t)size > cap)
		return -ENOSPC;
	spool_put64(p, env->arrival_us);
	p[8] = env->family;
	p[9] = 0;
	spool_put16(p + 10, env->port);
	memcpy(p + 12, env->addr, 16);
	p += 28;
	p = put_str(p, env->helo);
	p = put_str(p, env->tls_proto);
	p = put_str(p, env->tls_cipher);
	p = put_str(p, env->mail_from);
	p = put_str(p, env->mail_params);
	spool_put32(p, env->nrcpt);
	p += 4;
	for (uint32_t i = 0; i < env->nrcpt; i++) {
		*p++ = env->rcpt[i].notify;
		p = put_str(p, env->rcpt[i].addr);
		p = put_str(p, env->rcpt[i].orcpt);
		p = put_str(p, env->rcpt[i].params);
	}
	if (p - out != size)
		return -EINVAL; /* a string changed under us */
	return size;
}

struct cursor {
	const uint8_t *p;
	const uint8_t *end;
};

static int get_str(struct cursor *c, const char **out, int required)
{
	uint16_t n;

	if (c->end - c->p < 2)
		return -EBADMSG;
	n = spool_get16(c->p);
	c->p += 2;
	if (n == SPOOL_STR_ABSENT) {
		*out = NULL;
		return required ? -EBADMSG : 0;
	}
	if (c->end - c->p < (long)n + 1 || c->p[n] != '\0' || memchr(c->p, '\0', n))
		return -EBADMSG;
	*out = (const char *)c->p;
	c->p += n + 1;
	return 0;
}

int spool_env_decode(const uint8_t *p, uint32_t len, struct spool_envelope *env,
		     struct spool_rcpt *rcpt, uint32_t max_rcpt)
{
	struct cursor c = {p, p + len};

	memset(env, 0, sizeof(*env));
	if (len < 28)
		return -EBADMSG;
	env->arrival_us = spool_get64(p);
	env->family = p[8];
	env->port = spool_get16(p + 10);
	memcpy(env->addr, p + 12, 16);
	if (env->family != 4 && env->family != 6)
		return -EBADMSG;
	c.p += 28;
	if (get_str(&c, &env->helo, 1) || get_str(&c, &env->tls_proto, 0) ||
	    get_str(&c, &env->tls_cipher, 0) || get_str(&c, &env->mail_from, 1) ||
	    get_str(&c, &env->mail_params, 0))
		return -EBADMSG;
	if (c.end - c.p < 4)
		return -EBADMSG;
	env->nrcpt = spool_get32(c.p);
	c.p += 4;
	if (env->nrcpt == 0)
		return -EBADMSG;
	if (env->nrcpt > max_rcpt)
		return -E2BIG;
	for (uint32_t i = 0; i < env->nrcpt; i++) {
		if (c.p >= c.end)
			return -EBADMSG;
		rcpt[i].notify = *c.p++;
		if (get_str(&c, &rcpt[i].addr, 1) || get_str(&c, &rcpt[i].orcpt, 0) ||
		    get_str(&c, &rcpt[i].params, 0))
			return -EBADMSG;
	}
	if (c.p != c.end)
		return -EBADMSG;
	env->rcpt = rcpt;
	return 0;
}

const char *spool_rec_type_name(unsigned type)
{
	static const char *const names[SPOOL_REC_TYPE_COUNT] = {
		[SPOOL_REC_NONE] = "NONE",	   [SPOOL_REC_FILEHDR] = "FILEHDR",
		[SPOOL_REC_ENVELOPE] = "ENVELOPE", [SPOOL_REC_BODY] = "BODY",
		[SPOOL_REC_END] = "END",	   [SPOOL_REC_DONE] = "DONE",
	};
	return type < SPOOL_REC_TYPE_COUNT ? names[type] : "?";
}

const char *spool_rcpt_state_name(unsigned st)
{
	static const char *const names[SPOOL_RCPT_STATE_COUNT] = {
		[SPOOL_RCPT_PENDING] = "pending", [SPOOL_RCPT_DELIVERED] = "delivered",
		[SPOOL_RCPT_HELD] = "held",	  [SPOOL_RCPT_RELEASED] = "released",
		[SPOOL_RCPT_DELETED] = "deleted", [SPOOL_RCPT_BOUNCED] = "bounced",
	};
	return st < SPOOL_RCPT_STATE_COUNT ? names[st] : "?";
}
