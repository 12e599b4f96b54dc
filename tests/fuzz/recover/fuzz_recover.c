/*
 * fuzz_recover.c - spool recovery (queue/recover.c, reader.c) fed arbitrary
 * spool directories. The first input byte picks the mode:
 *
 *   even: raw - the rest is cut into up to four files (u16 length prefixes,
 *         the last takes what is left): segments 0/1.seg, 0/2.seg, ... and,
 *         when there are two or more, the last is done.log. Recovery must
 *         not crash and every message it reports must read back.
 *   odd:  structured - the input describes messages (recipients, body
 *         sizes, BODY record splits, segment breaks), which are written as
 *         a valid spool (correct CRCs, offsets, ENDs), then damaged (byte
 *         flips at input-chosen places, a truncated newest segment). Every
 *         message none of whose bytes (records, and the file headers of its
 *         segments) was touched must be recovered and read back intact:
 *         damage elsewhere never loses an intact message. Nothing that was
 *         never written may appear.
 *
 * The second bit picks the recovery: clear, inside spool_create() (the
 * list from spool_recovered_next()); set, in the background
 * (conf.recover_background: spool_start(), the list from the on_recover
 * hook). The same properties must hold for both.
 *
 * Runs on a scratch directory (under /dev/shm when there is one: recovery
 * fsyncs). Allocation is bounded by libFuzzer's -malloc_limit_mb: a record
 * length can never make recovery allocate more than the file holds.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "queue/record.h"
#include "queue/spool.h"

#define FZ_MAX_MSGS 8
#define FZ_MAX_SEGS 4
#define FZ_SEG_CAP  (64 * 1024)

static char fz_dir[64];
static bool fz_bg; /* background recovery */

struct fz_list {
	struct spool_msginfo mi[256];
	size_t n;
};

static void fz_on_recover(void *arg, const struct spool_msginfo *mi)
{
	struct fz_list *l = arg;

	if (l->n < 256)
		l->mi[l->n] = *mi;
	l->n++;
}

static int fz_rm(const char *p, const struct stat *st, int fl, struct FTW *f)
{
	(void)st;
	(void)fl;
	(void)f;
	return f->level == 0 ? 0 : remove(p);
}

static void fz_quiet(enum mx_log_level level, const char *line, size_t len)
{
	(void)level;
	(void)line;
	(void)len;
}

static void fz_cleanup(void)
{
	nftw(fz_dir, fz_rm, 8, FTW_DEPTH | FTW_PHYS);
	rmdir(fz_dir);
}

static void fz_reset(void)
{
	char p[128];

	if (!fz_dir[0]) {
		snprintf(fz_dir, sizeof(fz_dir), "%s/mxfz-recover-XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (!mkdtemp(fz_dir))
			abort();
		atexit(fz_cleanup);
		mx_log_set_thread_sink(fz_quiet); /* damage is logged at error level */
	}
	nftw(fz_dir, fz_rm, 8, FTW_DEPTH | FTW_PHYS);
	snprintf(p, sizeof(p), "%s/0", fz_dir);
	mkdir(p, 0700);
}

static void fz_write(const char *rel, const uint8_t *b, size_t n)
{
	char p[160];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", fz_dir, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (n && write(fd, b, n) != (ssize_t)n))
		abort();
	close(fd);
}

/* Recover, read every reported message back; returns the ids (max @cap). */
static size_t fz_recover(struct spool_qid *ids, size_t cap, bool must_read)
{
	static struct fz_list list;
	struct spool_conf c;
	struct spool_msginfo mi;
	struct spool *sp;
	size_t cur = 0, n = 0;

	spool_conf_defaults(&c);
	c.dir = fz_dir;
	c.maint_interval_ms = 0;
	c.buf_size = 16384;
	c.segment_size = 1 << 20;
	c.recover_background = fz_bg;
	c.on_recover = fz_on_recover;
	c.on_recover_arg = &list;
	list.n = 0;
	sp = spool_create(&c);
	if (!sp)
		return 0; /* e.g. ENOMEM: not a crash */
	if (fz_bg) {
		if (spool_recovered_next(sp, &cur, &mi) != 0)
			abort(); /* nothing before start in the background */
		if (spool_start(sp) != 0) {
			spool_destroy(sp);
			return 0;
		}
		if (spool_recovery_wait(sp, 60000) != 0)
			abort();
		if (list.n > 256)
			abort();
	}
	for (;;) {
		struct spool_reader *rd;
		const uint8_t *d;
		uint32_t len;
		uint64_t total = 0;
		int rc = -1;

		if (fz_bg) {
			if (cur >= list.n)
				break;
			mi = list.mi[cur++];
		} else if (spool_recovered_next(sp, &cur, &mi) != 1) {
			break;
		}
		rd = spool_reader_open(sp, &mi.qid);
		if (rd) {
			struct spool_envelope env;
			struct spool_rcpt r[4];

			spool_reader_envelope(rd, &env, r, 4);
			while ((rc = spool_reader_body(rd, &d, &len)) == 1)
				total += len;
			spool_reader_close(rd);
		}
		if (must_read && (rc != 0 || total != mi.body_len))
			abort(); /* a recovered message must read back */
		for (size_t k = 0; k < n && k < cap; k++) {
			if (spool_qid_eq(&ids[k], &mi.qid))
				abort(); /* handed over twice */
		}
		if (n < cap)
			ids[n] = mi.qid;
		n++;
	}
	spool_stop(sp);
	spool_destroy(sp);
	return n;
}

static void fz_raw(const uint8_t *d, size_t n)
{
	const uint8_t *part[FZ_MAX_SEGS];
	size_t plen[FZ_MAX_SEGS], np = 0;
	struct spool_qid ids[64];

	while (np < FZ_MAX_SEGS - 1 && n >= 2) {
		size_t l = (size_t)(d[0] | d[1] << 8);

		d += 2;
		n -= 2;
		if (l > n)
			l = n;
		part[np] = d;
		plen[np++] = l;
		d += l;
		n -= l;
	}
	part[np] = d;
	plen[np++] = n;
	for (size_t i = 0; i < np; i++) {
		char rel[64];

		if (np >= 2 && i == np - 1)
			snprintf(rel, sizeof(rel), "done.log");
		else
			snprintf(rel, sizeof(rel), "0/%016zx.seg", i + 1);
		fz_write(rel, part[i], plen[i]);
	}
	fz_recover(ids, 64, false);
}

/* ---- structured mode ---- */

struct fz_in {
	const uint8_t *d;
	size_t n;
};

static unsigned fz_byte(struct fz_in *in)
{
	unsigned v = in->n ? in->d[0] : 0;

	if (in->n) {
		in->d++;
		in->n--;
	}
	return v;
}

struct fz_seg {
	uint8_t b[FZ_SEG_CAP];
	size_t len;
	uint64_t lstart;
	bool hdr_hit;
};

struct fz_msg {
	struct spool_qid qid;
	unsigned seg_lo, seg_hi;		 /* segments holding its records */
	size_t lo[FZ_MAX_SEGS], hi[FZ_MAX_SEGS]; /* byte range per segment (hi 0: none) */
	bool complete;				 /* END written */
};

static struct fz_seg fz_segs[FZ_MAX_SEGS];

static bool fz_rec(struct fz_seg *s, uint32_t salt, enum spool_rec_type t,
		   const struct spool_qid *q, const void *p, uint32_t len)
{
	uint64_t off = s->lstart + s->len - SPOOL_FILEHDR_LEN;
	int w = spool_rec_encode(s->b + s->len, FZ_SEG_CAP - s->len, salt, t, off, q, p, len);

	if (w < 0)
		return false;
	s->len += (size_t)w;
	return true;
}

static void fz_seg_open(unsigned i, uint32_t salt, uint64_t lstart)
{
	struct fz_seg *s = &fz_segs[i];
	struct spool_filehdr fh = {.worker = 0, .salt = salt, .seq = i + 1, .lstart = lstart};
	uint8_t p[SPOOL_FILEHDR_PAYLOAD];

	spool_filehdr_encode(p, &fh);
	s->len = 0;
	s->lstart = lstart;
	s->hdr_hit = false;
	spool_rec_encode(s->b, FZ_SEG_CAP, 0, SPOOL_REC_FILEHDR, lstart, NULL, p, sizeof(p));
	s->len = SPOOL_FILEHDR_LEN;
}

static void fz_structured(const uint8_t *d, size_t n)
{
	struct fz_in in = {d, n};
	static struct fz_msg msgs[FZ_MAX_MSGS];
	static uint8_t body[4096], env[2048];
	static const struct spool_rcpt rc[3] = {
		{"a@example.test", "rfc822;a@example.test", NULL, 0},
		{"b@example.test", NULL, "X=1", SPOOL_NOTIFY_NEVER},
		{"c@example.test", NULL, NULL, 0},
	};
	uint32_t salt = 0x9e3779b9u ^ fz_byte(&in);
	unsigned nmsg = 1 + fz_byte(&in) % FZ_MAX_MSGS, cur = 0, nseg = 1;
	struct spool_qid got[64];
	size_t ngot;

	fz_seg_open(0, salt, 0);
	for (unsigned i = 0; i < nmsg; i++) {
		struct fz_msg *m = &msgs[i];
		unsigned nrcpt = 1 + fz_byte(&in) % 3, blen = fz_byte(&in) * 8;
		unsigned nbody = 1 + fz_byte(&in) % 3, brk = fz_byte(&in);
		struct spool_envelope e = {
			.arrival_us = 1700000000000000ULL,
			.family = 4,
			.helo = "h.example.test",
			.mail_from = "s@example.test",
			.nrcpt = nrcpt,
			.rcpt = rc,
		};
		long el = spool_env_encode(&e, env, sizeof(env));
		uint32_t crc;
		uint8_t endp[SPOOL_END_PAYLOAD];
		struct fz_seg *s;
		uint64_t env_off;
		unsigned done = 0;

		memset(m, 0, sizeof(*m));
		m->qid.hi = (1700000000000ULL + i) << 16; /* worker 0 */
		m->qid.lo = ((uint64_t)i << 32) | 0x5eed;
		if (el < 0)
			abort();
		for (unsigned k = 0; k < blen; k++)
			body[k] = (uint8_t)(k * 7 + i);
		/* start a new segment before this message? (at most FZ_MAX_SEGS) */
		if ((brk & 1) && cur + 1 < FZ_MAX_SEGS) {
			struct fz_seg *p = &fz_segs[cur];

			fz_seg_open(cur + 1, salt, p->lstart + p->len - SPOOL_FILEHDR_LEN);
			nseg = ++cur + 1;
		}
		s = &fz_segs[cur];
		m->seg_lo = cur;
		m->lo[cur] = s->len;
		env_off = s->lstart + s->len - SPOOL_FILEHDR_LEN;
		if (!fz_rec(s, salt, SPOOL_REC_ENVELOPE, &m->qid, env, (uint32_t)el))
			break;
		crc = spool_crc32c(0, env, (size_t)el);
		for (unsigned k = 0; k < nbody; k++) {
			unsigned part = k + 1 == nbody ? blen - done : blen / nbody;

			/* a message may span segments: break inside it */
			if (k == 1 && (brk & 2) && cur + 1 < FZ_MAX_SEGS) {
				m->hi[cur] = s->len;
				fz_seg_open(cur + 1, salt, s->lstart + s->len - SPOOL_FILEHDR_LEN);
				nseg = ++cur + 1;
				s = &fz_segs[cur];
				m->lo[cur] = s->len;
			}
			if (!fz_rec(s, salt, SPOOL_REC_BODY, &m->qid, body + done, part))
				goto out;
			crc = spool_crc32c(crc, body + done, part);
			done += part;
		}
		spool_end_encode(endp, &(struct spool_end){.env_off = env_off,
							   .body_len = blen,
							   .msg_crc = crc,
							   .nbody = nbody,
							   .nrcpt = nrcpt});
		if (!fz_rec(s, salt, SPOOL_REC_END, &m->qid, endp, sizeof(endp)))
			break;
		m->hi[cur] = s->len;
		m->seg_hi = cur;
		m->complete = true;
	}
out:
	/* damage: up to 8 flips (segment, offset, xor), then maybe a cut of
	 * the newest segment */
	for (unsigned f = 0; f < 8 && in.n >= 4; f++) {
		struct fz_seg *s = &fz_segs[fz_byte(&in) % nseg];
		size_t off = fz_byte(&in) | fz_byte(&in) << 8;
		uint8_t x = (uint8_t)fz_byte(&in);

		if (!x || !s->len)
			continue;
		off %= s->len;
		s->b[off] ^= x;
		if (off < SPOOL_FILEHDR_LEN)
			s->hdr_hit = true;
		for (unsigned i = 0; i < nmsg; i++) {
			struct fz_msg *m = &msgs[i];
			unsigned si = (unsigned)(s - fz_segs);

			if (m->hi[si] && off >= m->lo[si] && off < m->hi[si])
				m->complete = false;
		}
	}
	if (in.n >= 2) {
		struct fz_seg *s = &fz_segs[nseg - 1];
		size_t cut = (fz_byte(&in) | fz_byte(&in) << 8) % (s->len + 1);

		for (unsigned i = 0; i < nmsg; i++)
			if (msgs[i].hi[nseg - 1] > cut)
				msgs[i].complete = false;
		if (cut < SPOOL_FILEHDR_LEN)
			s->hdr_hit = true;
		s->len = cut;
	}
	for (unsigned i = 0; i < nseg; i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "0/%016x.seg", i + 1);
		fz_write(rel, fz_segs[i].b, fz_segs[i].len);
	}
	ngot = fz_recover(got, 64, true);
	if (getenv("FZ_VERBOSE")) {
		unsigned intact = 0;

		for (unsigned i = 0; i < nmsg; i++)
			intact += msgs[i].complete;
		fprintf(stderr,
			"structured: %u messages in %u segments, %u intact, %zu recovered\n", nmsg,
			nseg, intact, ngot);
	}
	for (unsigned i = 0; i < nmsg; i++) {
		struct fz_msg *m = &msgs[i];
		bool found = false;

		for (unsigned k = m->seg_lo; k <= m->seg_hi && m->complete; k++)
			if (fz_segs[k].hdr_hit)
				m->complete = false;
		for (size_t k = 0; k < ngot; k++)
			found |= spool_qid_eq(&got[k], &m->qid);
		if (m->complete && !found)
			abort(); /* an intact message lost because of damage elsewhere */
	}
	for (size_t k = 0; k < ngot; k++) {
		bool known = false;

		for (unsigned i = 0; i < nmsg; i++)
			known |= spool_qid_eq(&got[k], &msgs[i].qid);
		if (!known)
			abort(); /* a message that was never written */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	fz_reset();
	fz_bg = (data[0] & 2) != 0;
	if (data[0] & 1)
		fz_structured(data + 1, size - 1);
	else
		fz_raw(data + 1, size - 1);
	return 0;
}
