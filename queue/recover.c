/*
 * recover.c - rebuild the spool at start.
 *
 * For every worker directory (also those of workers no longer configured):
 * read each segment in sequence order, check every record (CRC with the
 * segment's salt, and its stream offset against its file position), and
 * follow each message from ENVELOPE through BODY records to END. A message
 * exists only if its END is intact and agrees with what came before it
 * (envelope offset, body length, number of BODY records, message CRC).
 *
 * Damage. When a record does not check, look for the next intact record
 * beyond it (records carry their stream offset and a salted CRC, so the
 * scan resynchronises on the next intact record and uses everything intact
 * after a damaged region). A torn tail - damage with no intact record after
 * it - is what a crash leaves in the segment that was being written, and
 * only there: the commit thread makes a segment durable before it creates
 * the next one (spool.c, process_buf()). So only the newest segment of a
 * worker directory is cut at its last intact record. Damage anywhere else
 * (a torn tail in an older segment, a damaged region inside any segment, a
 * message whose END does not agree with its records) lies in data that may
 * have been acknowledged: the segment is quarantined, never truncated - a
 * hard link to it is made in quarantine/<worker>-<seq>.seg (the bytes as
 * found, for the operator; nothing writes an old segment again; the same
 * inode, so a torn tail cut from a damaged newest segment is gone there too:
 * it was never acknowledged), the damage
 * is logged and counted (quarantined_segments, "show queue"), and the
 * intact messages in it are delivered as usual; the worker directory's name
 * goes when they are done, the quarantine link stays until the operator
 * removes it. If the link cannot be made the segment stays in place and is
 * never deleted automatically. A file whose header does not check is
 * renamed to *.bad for the operator, unless it is shorter than a header (a
 * crash right after creation), which is removed.
 *
 * Then the done log is replayed over the messages found, segments without a
 * message with work left are deleted (and their directory fsynced) and only
 * then the done log is rewritten with the states of the messages that remain
 * (write, fdatasync, rename, fsync): a crash in between finds the old done log
 * and the same result.
 *
 * Boot thread only, before any worker or commit thread runs; no locking.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "queue/spool-int.h"

#define DONE_LOG     "done.log"
#define DONE_LOG_TMP "done.log.tmp"
#define DONE_LOG_BAD "done.log.bad"
#define QUARANTINE   "quarantine"

typedef void (*rec_fn)(void *arg, uint64_t pos, const struct spool_rec_hdr *h,
		       const uint8_t *payload);

static bool stream_type(unsigned type, bool donelog)
{
	if (donelog)
		return type == SPOOL_REC_DONE;
	return type == SPOOL_REC_ENVELOPE || type == SPOOL_REC_BODY || type == SPOOL_REC_END;
}

static bool rec_ok(const uint8_t *map, size_t size, size_t pos, uint32_t salt, uint64_t lstart,
		   bool donelog, struct spool_rec_hdr *h, long *len)
{
	*len = spool_rec_check(map + pos, size - pos, salt, h);
	return *len > 0 && h->off == lstart + pos - SPOOL_FILEHDR_LEN &&
	       stream_type(h->type, donelog);
}

/* Next position after @from holding an intact record in place, or 0. */
static size_t resync(const uint8_t *map, size_t size, size_t from, uint32_t salt, uint64_t lstart,
		     bool donelog)
{
	const uint8_t m0 = (uint8_t)SPOOL_REC_MAGIC;

	while (from + SPOOL_REC_HDR_LEN <= size) {
		const uint8_t *p = memchr(map + from, m0, size - from - SPOOL_REC_HDR_LEN + 1);
		struct spool_rec_hdr h;
		long len;

		if (!p)
			return 0;
		from = (size_t)(p - map);
		if (spool_get32(p) == SPOOL_REC_MAGIC &&
		    rec_ok(map, size, from, salt, lstart, donelog, &h, &len))
			return from;
		from++;
	}
	return 0;
}

/*
 * Walk the records of a mapped file after its header. Returns the length of
 * the file up to the end of its last intact record; *@corrupt counts damaged
 * regions followed by intact records.
 */
static size_t scan_records(const uint8_t *map, size_t size, uint32_t salt, uint64_t lstart,
			   bool donelog, rec_fn fn, void *arg, unsigned *corrupt)
{
	size_t pos = SPOOL_FILEHDR_LEN;

	*corrupt = 0;
	while (pos < size) {
		struct spool_rec_hdr h;
		long len;
		size_t q;

		if (rec_ok(map, size, pos, salt, lstart, donelog, &h, &len)) {
			fn(arg, pos, &h, map + pos + SPOOL_REC_HDR_LEN);
			pos += (size_t)len;
			continue;
		}
		q = resync(map, size, pos + 1, salt, lstart, donelog);
		if (q == 0)
			break;
		(*corrupt)++;
		pos = q;
	}
	return pos < size ? pos : size;
}

static int check_filehdr(const uint8_t *map, size_t size, struct spool_filehdr *fh)
{
	struct spool_rec_hdr h;
	long len = spool_rec_check(map, size, 0, &h);

	if (len != SPOOL_FILEHDR_LEN || h.type != SPOOL_REC_FILEHDR)
		return -EBADMSG;
	if (spool_filehdr_decode(map + SPOOL_REC_HDR_LEN, h.len, fh) < 0 || h.off != fh->lstart)
		return -EBADMSG;
	return 0;
}

/* ---------------- segments ---------------- */

struct seg_scan {
	struct spool *sp;
	unsigned d;
	uint64_t seq;
	struct spool_rcpt *rcpt; /* scratch for envelope checks */
	uint32_t nrcpt_cap;
	int err;
};

static struct spool_live *live_new(struct seg_scan *ss, const struct spool_rec_hdr *h, uint64_t pos,
				   uint32_t nrcpt)
{
	struct spool_live *l = calloc(1, sizeof(*l));

	if (l) {
		l->mi.qid = h->qid; /* before the insert: it is the hash key */
		l->mi.worker = (uint16_t)ss->d;
		l->mi.first_seq = ss->seq;
		l->mi.last_seq = ss->seq;
		l->mi.env_pos = pos;
		l->mi.nrcpt = nrcpt;
		l->env_off = h->off;
	}
	if (!l || !(l->state = calloc(nrcpt ? nrcpt : 1, 1)) ||
	    spool_live_insert(&ss->sp->live, l) < 0) {
		if (l)
			free(l->state);
		free(l);
		ss->err = -ENOMEM;
		return NULL;
	}
	return l;
}

static void seg_record(void *arg, uint64_t pos, const struct spool_rec_hdr *h,
		       const uint8_t *payload)
{
	struct seg_scan *ss = arg;
	struct spool *sp = ss->sp;
	struct spool_live *l = spool_live_find(&sp->live, &h->qid);
	struct spool_envelope env;
	struct spool_end e;
	int rc;

	switch (h->type) {
	case SPOOL_REC_ENVELOPE:
		if (l) {
			l->rstate = LIVE_BAD; /* two envelopes for one id */
			l->mi.last_seq = ss->seq;
			return;
		}
		if (spool_qid_worker(&h->qid) != ss->d)
			return;
		if (spool_qid_cmp(&h->qid, &sp->floor[ss->d]) > 0)
			sp->floor[ss->d] = h->qid;
		rc = spool_env_decode(payload, h->len, &env, ss->rcpt, ss->nrcpt_cap);
		if (rc == -E2BIG) {
			struct spool_rcpt *r = realloc(ss->rcpt, env.nrcpt * sizeof(*r));

			if (!r) {
				ss->err = -ENOMEM;
				return;
			}
			ss->rcpt = r;
			ss->nrcpt_cap = env.nrcpt;
			rc = spool_env_decode(payload, h->len, &env, ss->rcpt, ss->nrcpt_cap);
		}
		l = live_new(ss, h, pos, rc == 0 ? env.nrcpt : 0);
		if (!l)
			return;
		l->rstate = rc == 0 ? LIVE_OPEN : LIVE_BAD;
		l->crc = spool_crc32c(0, payload, h->len);
		break;
	case SPOOL_REC_BODY:
		if (!l || l->rstate != LIVE_OPEN)
			return; /* orphan: its envelope was lost with a torn segment */
		l->crc = spool_crc32c(l->crc, payload, h->len);
		l->body_len += h->len;
		l->nbody++;
		l->mi.last_seq = ss->seq;
		break;
	case SPOOL_REC_END:
		if (!l || l->rstate != LIVE_OPEN) {
			if (l)
				l->rstate = LIVE_BAD;
			return;
		}
		l->mi.last_seq = ss->seq;
		if (spool_end_decode(payload, h->len, &e) == 0 && e.env_off == l->env_off &&
		    e.body_len == l->body_len && e.nbody == l->nbody && e.nrcpt == l->mi.nrcpt &&
		    e.msg_crc == l->crc) {
			l->rstate = LIVE_COMPLETE;
			l->mi.body_len = l->body_len;
			l->mi.npending = l->mi.nrcpt;
		} else {
			l->rstate = LIVE_BAD;
		}
		break;
	default:
		break;
	}
}

static int parse_seg_name(const char *n, uint64_t *seq)
{
	char *end;

	if (strlen(n) != 20 || strcmp(n + 16, ".seg") != 0)
		return -1;
	for (int i = 0; i < 16; i++) {
		if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
			return -1;
	}
	*seq = strtoull(n, &end, 16);
	return end == n + 16 ? 0 : -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct dir_state {
	struct spool_seg *prev;
	uint32_t prev_salt;
	uint64_t newest; /* highest segment sequence number in the directory */
	bool fsync_dir;
};

/*
 * Keep segment @s aside for the operator, once: a hard link
 * quarantine/<worker>-<seq>.seg (already there from an earlier start: fine).
 * If the link cannot be made, @s is marked keep (stays in place, never
 * deleted automatically). Logs why at error level and counts it.
 */
static void quarantine_seg(struct spool *sp, struct spool_seg *s, const char *why)
{
	char name[64], qname[96];
	unsigned d = s->worker;
	bool ok;

	if (s->quarantined)
		return;
	s->quarantined = true;
	spool_seg_name(name, sizeof(name), s->seq);
	snprintf(qname, sizeof(qname), QUARANTINE "/%u-%s", d, name);
	if (mkdirat(sp->rootfd, QUARANTINE, 0700) == 0)
		spool_fsync_fd(sp->rootfd);
	ok = linkat(sp->dirfd[d], name, sp->rootfd, qname, 0) == 0 || errno == EEXIST;
	if (ok) {
		int qfd = openat(sp->rootfd, QUARANTINE, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (qfd >= 0) {
			spool_fsync_fd(qfd);
			close(qfd);
		}
		MX_ERR("spool: %u/%s: %s: quarantined as %s/%s (intact messages are still "
		       "delivered)",
		       d, name, why, sp->dir, qname);
	} else {
		MX_ERR("spool: %u/%s: %s: cannot link into %s/" QUARANTINE ": %s; kept in place", d,
		       name, why, sp->dir, strerror(errno));
		s->keep = true;
	}
	ST_ADD(&sp->st, quarantined_segments, 1);
}

static int scan_segment(struct seg_scan *ss, struct dir_state *ds)
{
	struct spool *sp = ss->sp;
	int dfd = sp->dirfd[ss->d];
	struct spool_filehdr fh;
	struct spool_seg *s;
	struct stat st;
	char name[64], bad[80];
	uint8_t *map;
	size_t size, end;
	unsigned corrupt;
	int fd, rc = 0;

	ss->err = 0;
	spool_seg_name(name, sizeof(name), ss->seq);
	fd = openat(dfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		MX_ERR("spool: open %s/%u/%s: %s", sp->dir, ss->d, name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	size = (size_t)st.st_size;
	if (size < SPOOL_FILEHDR_LEN) {
		/* Created, header not yet durable: nothing was acknowledged. */
		MX_WARN("spool: %u/%s: %zu bytes, no header: removed", ss->d, name, size);
		close(fd);
		unlinkat(dfd, name, 0);
		ds->fsync_dir = true;
		ST_ADD(&sp->st, bad_files, 1);
		return 0;
	}
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (check_filehdr(map, size, &fh) < 0 || fh.worker != ss->d || fh.seq != ss->seq) {
		munmap(map, size);
		close(fd);
		snprintf(bad, sizeof(bad), "%s.bad", name);
		MX_ERR("spool: %u/%s: damaged file header: kept as %s", ss->d, name, bad);
		renameat(dfd, name, dfd, bad);
		ds->fsync_dir = true;
		ST_ADD(&sp->st, bad_files, 1);
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		munmap(map, size);
		close(fd);
		return -ENOMEM;
	}
	s->seq = ss->seq;
	s->lstart = fh.lstart;
	s->fd = -1;
	s->old = true;
	s->worker = (uint16_t)ss->d;
	if (ds->prev && ds->prev_salt == fh.salt &&
	    (ds->prev->seq + 1 != s->seq || ds->prev->lstart + ds->prev->llen != s->lstart))
		s->gap_before = true;

	end = scan_records(map, size, fh.salt, fh.lstart, false, seg_record, ss, &corrupt);
	munmap(map, size);
	if (corrupt)
		ST_ADD(&sp->st, corrupt_regions, corrupt);
	if (end < size && ss->seq != ds->newest) {
		/* Not the segment a crash can tear: the damage is in data that
		 * may have been acknowledged. Never cut it. */
		char why[96];

		snprintf(why, sizeof(why), "damaged tail of %zu bytes at %zu in an older segment",
			 size - end, end);
		ST_ADD(&sp->st, damaged_tails_kept, 1);
		quarantine_seg(sp, s, why);
		end = size;
	} else if (corrupt) {
		char why[64];

		snprintf(why, sizeof(why), "%u damaged region(s) before intact records", corrupt);
		quarantine_seg(sp, s, why);
	}
	if (end < size) {
		MX_NOTICE("spool: %u/%s: torn tail of %zu bytes cut at %zu", ss->d, name,
			  size - end, end);
		if (ftruncate(fd, (off_t)end) != 0 || fdatasync(fd) != 0) {
			rc = -errno;
			MX_ERR("spool: %u/%s: cannot cut torn tail: %s", ss->d, name,
			       strerror(errno));
		}
		ST_ADD(&sp->st, torn_tails_cut, 1);
		ST_ADD(&sp->st, torn_bytes_cut, size - end);
	}
	close(fd);
	s->fsize = end;
	s->llen = end - SPOOL_FILEHDR_LEN;
	if (spool_segtab_push(&sp->seg[ss->d], s) < 0) {
		free(s);
		return -ENOMEM;
	}
	ds->prev = s;
	ds->prev_salt = fh.salt;
	if (ss->seq + 1 > sp->next_seq[ss->d])
		sp->next_seq[ss->d] = ss->seq + 1;
	return rc < 0 ? rc : ss->err;
}

static int scan_dir(struct spool *sp, unsigned d, struct seg_scan *ss)
{
	struct dir_state ds = {0};
	uint64_t *seqs = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;
	int fd, rc = 0;

	fd = dup(sp->dirfd[d]);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	while ((de = readdir(dir))) {
		uint64_t seq;

		if (parse_seg_name(de->d_name, &seq) < 0)
			continue;
		if (n == cap) {
			uint64_t *v = realloc(seqs, (cap = cap ? cap * 2 : 64) * sizeof(*v));

			if (!v) {
				rc = -ENOMEM;
				break;
			}
			seqs = v;
		}
		seqs[n++] = seq;
	}
	closedir(dir);
	if (rc == 0 && n > 1)
		qsort(seqs, n, sizeof(*seqs), cmp_u64);
	ds.newest = n ? seqs[n - 1] : 0;
	ss->d = d;
	for (size_t i = 0; i < n && rc == 0; i++) {
		ss->seq = seqs[i];
		rc = scan_segment(ss, &ds);
	}
	if (ds.fsync_dir)
		spool_fsync_fd(sp->dirfd[d]);
	free(seqs);
	return rc;
}

/* ---------------- done log ---------------- */

static void done_record(void *arg, uint64_t pos, const struct spool_rec_hdr *h,
			const uint8_t *payload)
{
	struct spool *sp = arg;
	struct spool_live *l = spool_live_find(&sp->live, &h->qid);
	enum spool_rcpt_state st;
	uint32_t rcpt;
	uint64_t t;

	(void)pos;
	if (!l || spool_done_decode(payload, h->len, &rcpt, &st, &t) < 0 || rcpt >= l->mi.nrcpt)
		return;
	if (spool_rcpt_final(l->state[rcpt]))
		return;
	l->state[rcpt] = st == SPOOL_RCPT_RELEASED ? SPOOL_RCPT_PENDING : (uint8_t)st;
}

static int replay_donelog(struct spool *sp)
{
	struct spool_filehdr fh;
	struct stat st;
	unsigned corrupt;
	uint8_t *map;
	int fd;

	fd = openat(sp->rootfd, DONE_LOG, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -errno;
	}
	if ((size_t)st.st_size < SPOOL_FILEHDR_LEN) {
		close(fd);
		return 0;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -errno;
	if (check_filehdr(map, (size_t)st.st_size, &fh) < 0 || fh.worker != SPOOL_FILEHDR_DONELOG) {
		munmap(map, (size_t)st.st_size);
		/* Delivered recipients will be delivered again: duplicates,
		 * never a loss. Keep the file for the operator. */
		MX_ERR("spool: %s: damaged header, kept as %s; done states lost", DONE_LOG,
		       DONE_LOG_BAD);
		renameat(sp->rootfd, DONE_LOG, sp->rootfd, DONE_LOG_BAD);
		ST_ADD(&sp->st, bad_files, 1);
		return 0;
	}
	scan_records(map, (size_t)st.st_size, fh.salt, 0, true, done_record, sp, &corrupt);
	munmap(map, (size_t)st.st_size);
	if (corrupt) {
		ST_ADD(&sp->st, corrupt_regions, corrupt);
		MX_ERR("spool: %s: %u damaged region(s); intact records used", DONE_LOG, corrupt);
	}
	return 0;
}

static int append_states(const struct spool_live *l, uint32_t salt, uint8_t **buf, size_t *len,
			 size_t *cap)
{
	uint8_t payload[SPOOL_DONE_PAYLOAD];

	for (uint32_t r = 0; r < l->mi.nrcpt; r++) {
		int n;

		if (l->state[r] == SPOOL_RCPT_PENDING)
			continue;
		if (*len + SPOOL_REC_HDR_LEN + SPOOL_DONE_PAYLOAD > *cap) {
			size_t ncap = *cap ? *cap * 2 : 65536;
			uint8_t *v = realloc(*buf, ncap);

			if (!v)
				return -ENOMEM;
			*buf = v;
			*cap = ncap;
		}
		spool_done_encode(payload, r, l->state[r], spool_now_us());
		n = spool_rec_encode(*buf + *len, *cap - *len, salt, SPOOL_REC_DONE, *len,
				     &l->mi.qid, payload, sizeof(payload));
		*len += (size_t)n;
	}
	return 0;
}

/*
 * Write a new done log holding the states of the messages still in the spool:
 * those with work left (the live index) and the finished ones whose
 * ENVELOPE is in a segment that was not deleted (it still holds records of
 * others) - without their states they would come back as undelivered.
 */
static int donelog_rewrite(struct spool *sp, struct spool_live **fin, size_t nfin)
{
	uint8_t hdr[SPOOL_FILEHDR_LEN], fhp[SPOOL_FILEHDR_PAYLOAD];
	struct spool_filehdr fh = {
		.worker = SPOOL_FILEHDR_DONELOG,
		.salt = spool_random32(),
		.created_us = spool_now_us(),
	};
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, rc = 0;

	spool_filehdr_encode(fhp, &fh);
	spool_rec_encode(hdr, sizeof(hdr), 0, SPOOL_REC_FILEHDR, 0, NULL, fhp, sizeof(fhp));
	for (size_t i = 0; i < sp->live.nb && rc == 0; i++) {
		for (struct spool_live *l = sp->live.b[i]; l && rc == 0; l = l->hnext)
			rc = append_states(l, fh.salt, &buf, &len, &cap);
	}
	for (size_t i = 0; i < nfin && rc == 0; i++) {
		if (spool_segtab_find(&sp->seg[fin[i]->mi.worker], fin[i]->mi.first_seq))
			rc = append_states(fin[i], fh.salt, &buf, &len, &cap);
	}
	if (rc < 0) {
		free(buf);
		return rc;
	}
	fd = openat(sp->rootfd, DONE_LOG_TMP, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	if (pwrite(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    (len && pwrite(fd, buf, len, SPOOL_FILEHDR_LEN) != (ssize_t)len))
		rc = errno ? -errno : -EIO;
	free(buf);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = -errno;
	if (rc == 0 && renameat(sp->rootfd, DONE_LOG_TMP, sp->rootfd, DONE_LOG) != 0)
		rc = -errno;
	if (rc == 0)
		rc = spool_fsync_fd(sp->rootfd);
	if (rc < 0) {
		close(fd);
		MX_ERR("spool: cannot rewrite %s: %s", DONE_LOG, strerror(-rc));
		return rc;
	}
	if (sp->done_fd >= 0)
		close(sp->done_fd);
	sp->done_fd = fd;
	sp->done_pos = SPOOL_FILEHDR_LEN + len;
	sp->done_salt = fh.salt;
	sp->done_dirty = false;
	return 0;
}

/* ---------------- putting it together ---------------- */

static bool range_has_gap(struct spool_segtab *t, uint64_t first, uint64_t last)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i]->seq > first && t->v[i]->seq <= last && t->v[i]->gap_before)
			return true;
	}
	return false;
}

static void range_quarantine(struct spool *sp, unsigned d, uint64_t first, uint64_t last)
{
	struct spool_segtab *t = &sp->seg[d];

	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i]->seq >= first && t->v[i]->seq <= last)
			quarantine_seg(sp, t->v[i], "holds a message that does not check");
	}
}

static int cmp_live(const void *a, const void *b)
{
	const struct spool_live *x = *(struct spool_live *const *)a;
	const struct spool_live *y = *(struct spool_live *const *)b;

	return spool_qid_cmp(&x->mi.qid, &y->mi.qid);
}

/* Sort out the messages found: keep the committed ones with work left. */
static int settle_messages(struct spool *sp, struct spool_live ***fin, size_t *nfin)
{
	struct spool_livetab *t = &sp->live;
	size_t cap = t->n ? t->n : 1;

	sp->recovered = calloc(cap, sizeof(*sp->recovered));
	*fin = calloc(cap, sizeof(**fin));
	*nfin = 0;
	if (!sp->recovered || !*fin)
		return -ENOMEM;
	for (size_t i = 0; i < t->nb; i++) {
		struct spool_live **pp = &t->b[i];

		while (*pp) {
			struct spool_live *l = *pp;
			struct spool_segtab *tab = &sp->seg[l->mi.worker];
			uint32_t pending = 0, todo = 0;
			char id[SPOOL_QID_STRLEN + 1];

			if (l->rstate == LIVE_COMPLETE) {
				for (uint32_t r = 0; r < l->mi.nrcpt; r++) {
					uint8_t s = l->state[r];

					if (!spool_rcpt_final(s))
						pending++;
					if (s == SPOOL_RCPT_PENDING)
						todo++;
				}
			} else if (l->rstate == LIVE_OPEN) {
				ST_ADD(&sp->st, incomplete_msgs, 1);
			} else {
				ST_ADD(&sp->st, invalid_msgs, 1);
				if (!range_has_gap(tab, l->mi.first_seq, l->mi.last_seq)) {
					/* Not explained by a failed write: damage. */
					range_quarantine(sp, l->mi.worker, l->mi.first_seq,
							 l->mi.last_seq);
					MX_ERR("spool: message %s in %u/%llx..%llx does not check; "
					       "segments quarantined",
					       spool_qid_format(&l->mi.qid, id), l->mi.worker,
					       (unsigned long long)l->mi.first_seq,
					       (unsigned long long)l->mi.last_seq);
				}
			}
			if (pending == 0) {
				*pp = l->hnext;
				t->n--;
				if (l->rstate == LIVE_COMPLETE) {
					ST_ADD(&sp->st, recovered_done_msgs, 1);
					(*fin)[(*nfin)++] = l; /* for the done log */
				} else {
					spool_live_free(l);
				}
				continue;
			}
			l->mi.npending = pending;
			spool_segtab_ref_range(tab, l->mi.first_seq, l->mi.last_seq, 1);
			sp->recovered[sp->nrecovered++] = l;
			ST_ADD(&sp->st, recovered_msgs, 1);
			ST_ADD(&sp->st, recovered_rcpts, todo);
			pp = &l->hnext;
		}
	}
	qsort(sp->recovered, sp->nrecovered, sizeof(*sp->recovered), cmp_live);
	return 0;
}

/* Delete the segments no message needs; returns how many. */
static size_t delete_unneeded(struct spool *sp)
{
	size_t total = 0;

	for (unsigned d = 0; d < sp->ndirs; d++) {
		struct spool_segtab *t = &sp->seg[d];
		size_t k = 0, ndel = 0;

		for (size_t i = 0; i < t->n; i++) {
			struct spool_seg *s = t->v[i];
			char name[64];

			if (s->refs > 0 || s->keep) {
				t->v[k++] = s;
				sp->bytes += s->fsize;
				continue;
			}
			spool_seg_name(name, sizeof(name), s->seq);
			if (unlinkat(sp->dirfd[d], name, 0) != 0 && errno != ENOENT) {
				MX_ERR("spool: unlink %u/%s: %s", d, name, strerror(errno));
				t->v[k++] = s;
				sp->bytes += s->fsize;
				continue;
			}
			free(s);
			ndel++;
		}
		t->n = k;
		if (ndel)
			spool_fsync_fd(sp->dirfd[d]);
		total += ndel;
	}
	ST_ADD(&sp->st, segments_deleted, total);
	return total;
}

int spool_recover(struct spool *sp)
{
	struct seg_scan ss = {.sp = sp};
	struct spool_live **fin = NULL;
	size_t nfin = 0;
	bool created = false;
	int maxdir = -1, rc = 0;
	struct dirent *de;
	DIR *dir;
	int fd;

	if (mkdir(sp->dir, 0700) != 0 && errno != EEXIST)
		return -errno;
	sp->rootfd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->rootfd < 0)
		return -errno;
	fd = dup(sp->rootfd);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	while ((de = readdir(dir))) {
		char *end;
		unsigned long v;

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || strlen(de->d_name) > 5)
			continue;
		v = strtoul(de->d_name, &end, 10);
		if (*end == '\0' && v < SPOOL_FILEHDR_DONELOG && (int)v > maxdir)
			maxdir = (int)v;
	}
	closedir(dir);

	sp->ndirs =
		(unsigned)maxdir + 1 > sp->conf.workers ? (unsigned)maxdir + 1 : sp->conf.workers;
	sp->dirfd = malloc(sp->ndirs * sizeof(*sp->dirfd));
	sp->seg = calloc(sp->ndirs, sizeof(*sp->seg));
	sp->next_seq = malloc(sp->ndirs * sizeof(*sp->next_seq));
	sp->floor = calloc(sp->ndirs, sizeof(*sp->floor));
	if (!sp->dirfd || !sp->seg || !sp->next_seq || !sp->floor)
		return -ENOMEM;
	for (unsigned d = 0; d < sp->ndirs; d++)
		sp->dirfd[d] = -1; /* spool_destroy() closes what is >= 0 */
	for (unsigned d = 0; d < sp->ndirs; d++) {
		char name[16];

		sp->next_seq[d] = 1;
		snprintf(name, sizeof(name), "%u", d);
		if (d < sp->conf.workers) {
			if (mkdirat(sp->rootfd, name, 0700) == 0)
				created = true;
			else if (errno != EEXIST)
				return -errno;
		}
		sp->dirfd[d] = openat(sp->rootfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sp->dirfd[d] < 0 && (errno != ENOENT || d < sp->conf.workers))
			return -errno;
	}
	if (created && (rc = spool_fsync_fd(sp->rootfd)) < 0)
		return rc;

	for (unsigned d = 0; d < sp->ndirs && rc == 0; d++) {
		if (sp->dirfd[d] >= 0)
			rc = scan_dir(sp, d, &ss);
	}
	free(ss.rcpt);
	if (rc == 0)
		rc = replay_donelog(sp);
	if (rc == 0)
		rc = settle_messages(sp, &fin, &nfin);
	if (rc == 0) {
		/* Delete first: a crash before the new done log is complete
		 * then replays the old one over fewer segments. */
		delete_unneeded(sp);
		rc = donelog_rewrite(sp, fin, nfin);
	}
	for (size_t i = 0; i < nfin; i++)
		spool_live_free(fin[i]);
	free(fin);
	if (rc < 0)
		return rc;
	if (rc == 0 && (sp->st.torn_tails_cut || sp->st.recovered_msgs || sp->st.corrupt_regions ||
			sp->st.quarantined_segments))
		MX_NOTICE("spool: recovered %llu message(s), %llu recipient(s) to deliver, "
			  "%llu torn tail(s) cut, %llu damaged region(s), %llu segment(s) "
			  "quarantined",
			  (unsigned long long)sp->st.recovered_msgs,
			  (unsigned long long)sp->st.recovered_rcpts,
			  (unsigned long long)sp->st.torn_tails_cut,
			  (unsigned long long)sp->st.corrupt_regions,
			  (unsigned long long)sp->st.quarantined_segments);
	return rc;
}

long spool_quarantine_files(struct spool *sp, uint64_t *bytes)
{
	int fd = openat(sp->rootfd, QUARANTINE, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	long n = 0;
	DIR *d;

	*bytes = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		n++;
		*bytes += (uint64_t)st.st_size;
	}
	closedir(d);
	return n;
}
