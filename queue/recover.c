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
#include <sys/resource.h>
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

struct rec_ctx;

struct seg_scan {
	struct spool *sp;
	struct rec_ctx *x;	  /* verification pass; NULL in the start-up pass */
	struct spool_livetab tab; /* messages being followed (not yet the spool's) */
	unsigned d;
	uint64_t seq;
	struct spool_rcpt *rcpt; /* scratch for envelope checks */
	uint32_t nrcpt_cap;
	bool found; /* start-up pass: an envelope of this directory seen */
	int err;
};

static int ended_push(struct seg_scan *ss, struct spool_live *l);

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
	    spool_live_insert(&ss->tab, l) < 0) {
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
	struct spool_live *l = spool_live_find(&ss->tab, &h->qid);
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
			if (ended_push(ss, l) < 0)
				ss->err = -ENOMEM;
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
		pthread_mutex_lock(&sp->lock); /* spool_maintain() reads it */
		s->keep = true;
		pthread_mutex_unlock(&sp->lock);
	}
	ST_ADD(&sp->st, quarantined_segments, 1);
}

/* Append one DONE record (@payload) to a growing done-log image. */
static int append_rec(const struct spool_qid *qid, const uint8_t *payload, uint32_t salt,
		      uint8_t **buf, size_t *len, size_t *cap)
{
	if (*len + SPOOL_REC_HDR_LEN + SPOOL_DONE_PAYLOAD > *cap) {
		size_t ncap = *cap ? *cap * 2 : 65536;
		uint8_t *v = realloc(*buf, ncap);

		if (!v)
			return -ENOMEM;
		*buf = v;
		*cap = ncap;
	}
	*len += (size_t)spool_rec_encode(*buf + *len, *cap - *len, salt, SPOOL_REC_DONE, *len, qid,
					 payload, SPOOL_DONE_PAYLOAD);
	return 0;
}

/* ---------------- start-up pass: what must be known before accepting ---------------- */

/* The largest queue id of this worker directory's envelopes: ids grow along
 * a worker's stream, so the newest segment holding an envelope has it. */
static void floor_record(void *arg, uint64_t pos, const struct spool_rec_hdr *h,
			 const uint8_t *payload)
{
	struct seg_scan *ss = arg;
	struct spool *sp = ss->sp;

	(void)pos;
	(void)payload;
	if (h->type != SPOOL_REC_ENVELOPE || spool_qid_worker(&h->qid) != ss->d)
		return;
	ss->found = true;
	if (spool_qid_cmp(&h->qid, &sp->floor[ss->d]) > 0)
		sp->floor[ss->d] = h->qid;
}

/* Map segment @s of directory @d read-only: 0, or -errno. */
static int seg_map(struct spool *sp, const struct spool_seg *s, int flags, int *fd, uint8_t **map)
{
	char name[64];

	spool_seg_name(name, sizeof(name), s->seq);
	*fd = openat(sp->dirfd[s->worker], name, flags | O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	*map = mmap(NULL, s->fsize, PROT_READ, MAP_SHARED, *fd, 0);
	if (*map == MAP_FAILED) {
		int rc = -errno;

		close(*fd);
		return rc;
	}
	return 0;
}

/*
 * Open segment @seq of directory @ss->d: check its header only (a file too
 * short for one is removed, a damaged one renamed *.bad, as before) and
 * add it to the segment table, pinned (refs 1) until the verification pass
 * has seen every message in it. Reads one header: O(1) per segment.
 */
static int seg_open(struct seg_scan *ss, struct dir_state *ds)
{
	struct spool *sp = ss->sp;
	int dfd = sp->dirfd[ss->d];
	uint8_t hdr[SPOOL_FILEHDR_LEN];
	struct spool_filehdr fh;
	struct spool_seg *s;
	struct stat st;
	char name[64], bad[80];
	size_t size;
	int fd, rc;

	spool_seg_name(name, sizeof(name), ss->seq);
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
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
	rc = pread(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) ? 0 : -EIO;
	close(fd);
	if (rc < 0 || check_filehdr(hdr, sizeof(hdr), &fh) < 0 || fh.worker != ss->d ||
	    fh.seq != ss->seq) {
		snprintf(bad, sizeof(bad), "%s.bad", name);
		MX_ERR("spool: %u/%s: damaged file header: kept as %s", ss->d, name, bad);
		renameat(dfd, name, dfd, bad);
		ds->fsync_dir = true;
		ST_ADD(&sp->st, bad_files, 1);
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->seq = ss->seq;
	s->lstart = fh.lstart;
	s->fd = -1;
	s->old = true;
	s->refs = 1; /* recovery's pin */
	s->worker = (uint16_t)ss->d;
	s->fsize = size;
	s->llen = size - SPOOL_FILEHDR_LEN;
	if (ds->prev && ds->prev_salt == fh.salt &&
	    (ds->prev->seq + 1 != s->seq || ds->prev->lstart + ds->prev->llen != s->lstart))
		s->gap_before = true;
	if (spool_segtab_push(&sp->seg[ss->d], s) < 0) {
		free(s);
		return -ENOMEM;
	}
	if (spool_segtab_push(&sp->rec.old[ss->d], s) < 0)
		return -ENOMEM; /* in sp->seg: spool_destroy() frees it */
	ds->prev = s;
	ds->prev_salt = fh.salt;
	if (ss->seq + 1 > sp->next_seq[ss->d])
		sp->next_seq[ss->d] = ss->seq + 1;
	return 0;
}

/*
 * The newest segment of a directory is the only one a crash can tear: walk
 * its records, cut it at its last intact one (damage followed by intact
 * records is left for the verification pass, which quarantines). Then find
 * the queue id floor, going back to older segments only while no envelope
 * was seen. Reads one segment in the common case.
 */
static int dir_tail(struct seg_scan *ss, const struct dir_state *ds)
{
	struct spool *sp = ss->sp;
	struct spool_segtab *old = &sp->rec.old[ss->d];
	int rc = 0;

	ss->found = false;
	for (size_t i = old->n; i-- > 0 && !ss->found && rc == 0;) {
		struct spool_seg *s = old->v[i];
		struct spool_filehdr fh;
		unsigned corrupt;
		uint8_t *map;
		size_t end;
		int fd;

		if ((rc = seg_map(sp, s, s->seq == ds->newest ? O_RDWR : O_RDONLY, &fd, &map)) < 0)
			break;
		check_filehdr(map, s->fsize, &fh); /* checked by seg_open() */
		end = scan_records(map, s->fsize, fh.salt, fh.lstart, false, floor_record, ss,
				   &corrupt);
		munmap(map, s->fsize);
		if (end < s->fsize && s->seq == ds->newest) {
			char name[64];

			spool_seg_name(name, sizeof(name), s->seq);
			MX_NOTICE("spool: %u/%s: torn tail of %zu bytes cut at %zu", ss->d, name,
				  s->fsize - end, end);
			if (ftruncate(fd, (off_t)end) != 0 || fdatasync(fd) != 0) {
				rc = -errno;
				MX_ERR("spool: %u/%s: cannot cut torn tail: %s", ss->d, name,
				       strerror(errno));
			}
			ST_ADD(&sp->st, torn_tails_cut, 1);
			ST_ADD(&sp->st, torn_bytes_cut, s->fsize - end);
			s->fsize = end;
			s->llen = end - SPOOL_FILEHDR_LEN;
		}
		close(fd);
	}
	return rc;
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
		rc = seg_open(ss, &ds);
	}
	if (rc == 0)
		rc = dir_tail(ss, &ds);
	if (ds.fsync_dir)
		spool_fsync_fd(sp->dirfd[d]);
	free(seqs);
	for (size_t i = 0; i < sp->rec.old[d].n; i++) {
		sp->bytes += sp->rec.old[d].v[i]->fsize;
		sp->rec.bytes_total += sp->rec.old[d].v[i]->fsize;
	}
	sp->rec.segs_total += sp->rec.old[d].n;
	return rc;
}

/* ---------------- done log ---------------- */

static void noop_record(void *arg, uint64_t pos, const struct spool_rec_hdr *h,
			const uint8_t *payload)
{
	(void)arg;
	(void)pos;
	(void)h;
	(void)payload;
}

static int donelog_write(struct spool *sp);

/*
 * Open the done log for appending: new records go after its last intact
 * one (a torn record is cut: it only ever said a recipient was done, so
 * losing it is a duplicate, never a loss). Its records up to there are
 * replayed by the verification pass (rec.donefd, rec.done_boot_end). A
 * missing log, or one whose header does not check (kept as done.log.bad:
 * delivered recipients will be delivered again), is replaced by an empty
 * one.
 */
static int donelog_open(struct spool *sp)
{
	struct spool_filehdr fh;
	struct stat st;
	unsigned corrupt;
	uint8_t *map;
	size_t end;
	int fd;

	fd = openat(sp->rootfd, DONE_LOG, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return -errno;
	if (fd >= 0 && fstat(fd, &st) != 0) {
		close(fd);
		return -errno;
	}
	if (fd < 0 || (size_t)st.st_size < SPOOL_FILEHDR_LEN) {
		if (fd >= 0)
			close(fd);
		goto fresh;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		close(fd);
		return -errno;
	}
	if (check_filehdr(map, (size_t)st.st_size, &fh) < 0 || fh.worker != SPOOL_FILEHDR_DONELOG) {
		munmap(map, (size_t)st.st_size);
		close(fd);
		MX_ERR("spool: %s: damaged header, kept as %s; done states lost", DONE_LOG,
		       DONE_LOG_BAD);
		renameat(sp->rootfd, DONE_LOG, sp->rootfd, DONE_LOG_BAD);
		ST_ADD(&sp->st, bad_files, 1);
		goto fresh;
	}
	end = scan_records(map, (size_t)st.st_size, fh.salt, 0, true, noop_record, NULL, &corrupt);
	munmap(map, (size_t)st.st_size);
	if (end < (size_t)st.st_size && ftruncate(fd, (off_t)end) != 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	sp->done_fd = fd;
	sp->done_pos = end;
	sp->done_salt = fh.salt;
	sp->rec.done_boot_end = end;
	sp->rec.donefd = openat(sp->rootfd, DONE_LOG, O_RDONLY | O_CLOEXEC);
	return sp->rec.donefd < 0 ? -errno : 0;
fresh:
	if (donelog_write(sp) < 0)
		return -EIO;
	sp->rec.done_boot_end = sp->done_pos;
	return 0;
}

static int cmp_done(const void *a, const void *b)
{
	const struct spool_rec_done *x = a, *y = b;
	int c = spool_qid_cmp(&x->qid, &y->qid);

	return c ? c : (x->order > y->order) - (x->order < y->order);
}

struct done_load {
	struct spool_rec_done *v;
	size_t n, cap;
	int err;
};

static void done_record(void *arg, uint64_t pos, const struct spool_rec_hdr *h,
			const uint8_t *payload)
{
	struct done_load *dl = arg;
	enum spool_rcpt_state st;
	uint32_t rcpt;
	uint64_t t;

	(void)pos;
	if (spool_done_decode(payload, h->len, &rcpt, &st, &t) < 0 || dl->err)
		return;
	if (dl->n == dl->cap) {
		size_t ncap = dl->cap ? dl->cap * 2 : 1024;
		struct spool_rec_done *v = realloc(dl->v, ncap * sizeof(*v));

		if (!v) {
			dl->err = -ENOMEM;
			return;
		}
		dl->v = v;
		dl->cap = ncap;
	}
	dl->v[dl->n] = (struct spool_rec_done){
		.qid = h->qid, .rcpt = rcpt, .order = (uint32_t)dl->n, .st = (uint8_t)st};
	dl->n++;
}

/* The done log's records as found at start, sorted by queue id then order. */
static int donelog_load(struct spool *sp, struct done_load *dl)
{
	struct spool_filehdr fh;
	size_t size = sp->rec.done_boot_end;
	unsigned corrupt;
	uint8_t *map;

	if (sp->rec.donefd < 0 || size <= SPOOL_FILEHDR_LEN)
		return 0;
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, sp->rec.donefd, 0);
	if (map == MAP_FAILED)
		return -errno;
	check_filehdr(map, size, &fh); /* checked by donelog_open() */
	scan_records(map, size, fh.salt, 0, true, done_record, dl, &corrupt);
	munmap(map, size);
	if (corrupt) {
		ST_ADD(&sp->st, corrupt_regions, corrupt);
		MX_ERR("spool: %s: %u damaged region(s); intact records used", DONE_LOG, corrupt);
	}
	if (dl->n > 1)
		qsort(dl->v, dl->n, sizeof(*dl->v), cmp_done);
	return dl->err;
}

/* Apply the done records of @l's queue id to its recipient states. */
static void done_apply(const struct done_load *dl, struct spool_live *l)
{
	size_t lo = 0, hi = dl->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (spool_qid_cmp(&dl->v[mid].qid, &l->mi.qid) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < dl->n && spool_qid_eq(&dl->v[lo].qid, &l->mi.qid); lo++) {
		const struct spool_rec_done *e = &dl->v[lo];

		if (e->rcpt >= l->mi.nrcpt || spool_rcpt_final(l->state[e->rcpt]))
			continue;
		l->state[e->rcpt] = e->st == SPOOL_RCPT_RELEASED ? SPOOL_RCPT_PENDING : e->st;
	}
}

static int append_states(const struct spool_qid *qid, uint32_t nrcpt, const uint8_t *state,
			 uint32_t salt, uint8_t **buf, size_t *len, size_t *cap)
{
	uint8_t payload[SPOOL_DONE_PAYLOAD];

	for (uint32_t r = 0; r < nrcpt; r++) {
		if (state[r] == SPOOL_RCPT_PENDING)
			continue;
		spool_done_encode(payload, r, state[r], spool_now_us());
		if (append_rec(qid, payload, salt, buf, len, cap) < 0)
			return -ENOMEM;
	}
	return 0;
}

/*
 * Write a new done log and switch to it, under done_lock (spool_rcpt_mark()
 * waits): the states found at start of the recovered messages whose ENVELOPE
 * is in a segment that was not deleted (with work left, or finished but
 * sharing a segment with others: without their states they would come back
 * as undelivered), then every record written since start, in order (the
 * marks of new mail and of recovered mail since). Replaying it gives the
 * states in memory. Write, fdatasync, rename, fsync: a crash in between
 * finds the old log, which says the same.
 */
static int donelog_write(struct spool *sp)
{
	uint8_t hdr[SPOOL_FILEHDR_LEN], fhp[SPOOL_FILEHDR_PAYLOAD];
	struct spool_filehdr fh = {
		.worker = SPOOL_FILEHDR_DONELOG,
		.salt = spool_random32(),
		.created_us = spool_now_us(),
	};
	uint8_t *buf = NULL, *tail = NULL;
	size_t len = 0, cap = 0, tlen = 0;
	int fd, rc = 0;

	spool_filehdr_encode(fhp, &fh);
	spool_rec_encode(hdr, sizeof(hdr), 0, SPOOL_REC_FILEHDR, 0, NULL, fhp, sizeof(fhp));
	pthread_mutex_lock(&sp->done_lock);
	for (size_t i = 0; i < sp->rec.nkept && rc == 0; i++) {
		const struct spool_rec_kept *k = &sp->rec.kept[i];
		bool there;

		pthread_mutex_lock(&sp->lock);
		there = spool_segtab_find(&sp->seg[k->worker], k->first_seq) != NULL;
		pthread_mutex_unlock(&sp->lock);
		if (there)
			rc = append_states(&k->qid, k->nrcpt, k->state, fh.salt, &buf, &len, &cap);
	}
	if (rc == 0 && sp->done_fd >= 0 && sp->done_pos > sp->rec.done_boot_end) {
		tlen = sp->done_pos - sp->rec.done_boot_end;
		if (!(tail = malloc(tlen)))
			rc = -ENOMEM;
		else if (pread(sp->done_fd, tail, tlen, (off_t)sp->rec.done_boot_end) !=
			 (ssize_t)tlen)
			rc = errno ? -errno : -EIO;
		for (size_t pos = 0; rc == 0 && pos < tlen;) {
			struct spool_rec_hdr h;
			long n = spool_rec_check(tail + pos, tlen - pos, sp->done_salt, &h);

			if (n <= 0 || h.type != SPOOL_REC_DONE)
				break; /* we wrote them: cannot happen */
			rc = append_rec(&h.qid, tail + pos + SPOOL_REC_HDR_LEN, fh.salt, &buf, &len,
					&cap);
			pos += (size_t)n;
		}
	}
	free(tail);
	if (rc < 0)
		goto out;
	fd = openat(sp->rootfd, DONE_LOG_TMP, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (pwrite(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    (len && pwrite(fd, buf, len, SPOOL_FILEHDR_LEN) != (ssize_t)len))
		rc = errno ? -errno : -EIO;
	if (rc == 0 && fdatasync(fd) != 0)
		rc = -errno;
	if (rc == 0 && renameat(sp->rootfd, DONE_LOG_TMP, sp->rootfd, DONE_LOG) != 0)
		rc = -errno;
	if (rc == 0)
		rc = spool_fsync_fd(sp->rootfd);
	if (rc < 0) {
		close(fd);
		goto out;
	}
	if (sp->done_fd >= 0)
		close(sp->done_fd);
	sp->done_fd = fd;
	sp->done_pos = SPOOL_FILEHDR_LEN + len;
	sp->done_salt = fh.salt;
	sp->done_dirty = false;
	sp->rec.done_boot_end = sp->done_pos;
out:
	pthread_mutex_unlock(&sp->done_lock);
	free(buf);
	if (rc < 0)
		MX_ERR("spool: cannot rewrite %s: %s", DONE_LOG, strerror(-rc));
	return rc;
}

/* ---------------- verification pass ---------------- */

static bool range_has_gap(const struct spool_segtab *t, uint64_t first, uint64_t last)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i]->seq > first && t->v[i]->seq <= last && t->v[i]->gap_before)
			return true;
	}
	return false;
}

static void range_quarantine(struct spool *sp, unsigned d, uint64_t first, uint64_t last)
{
	struct spool_segtab *t = &sp->rec.old[d];

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

struct rec_ctx {
	struct spool *sp;
	struct done_load dl;
	struct spool_live **ended; /* ENDs seen in the segment being read */
	size_t nended, capended;
	size_t caprecovered;
	uint8_t *scratch; /* rcpt states handed to on_recover */
	uint32_t capscratch;
};

static int ended_push(struct seg_scan *ss, struct spool_live *l)
{
	struct rec_ctx *x = ss->x;

	if (x->nended == x->capended) {
		size_t ncap = x->capended ? x->capended * 2 : 256;
		struct spool_live **v = realloc(x->ended, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		x->ended = v;
		x->capended = ncap;
	}
	x->ended[x->nended++] = l;
	return 0;
}

static int kept_push(struct spool *sp, const struct spool_live *l)
{
	struct spool_recovery *rc = &sp->rec;
	struct spool_rec_kept *k;

	if (rc->nkept == rc->capkept) {
		size_t ncap = rc->capkept ? rc->capkept * 2 : 256;
		struct spool_rec_kept *v = realloc(rc->kept, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		rc->kept = v;
		rc->capkept = ncap;
	}
	k = &rc->kept[rc->nkept];
	k->qid = l->mi.qid;
	k->worker = l->mi.worker;
	k->first_seq = l->mi.first_seq;
	k->nrcpt = l->mi.nrcpt;
	if (!(k->state = malloc(l->mi.nrcpt ? l->mi.nrcpt : 1)))
		return -ENOMEM;
	memcpy(k->state, l->state, l->mi.nrcpt);
	rc->nkept++;
	return 0;
}

/*
 * A message whose END checked: apply its done records; if a recipient is
 * left, make it a live message of the spool (reader, rcpt_mark) and hand it
 * over (on_recover, or the list of spool_recovered_next()). Removes it from
 * the scan's table.
 */
static int settle_one(struct rec_ctx *x, struct seg_scan *ss, struct spool_live *l)
{
	struct spool *sp = x->sp;
	uint32_t pending = 0, todo = 0;
	bool any = false, dup;
	int rc = 0;

	if (l->rstate != LIVE_COMPLETE)
		return 0; /* turned bad after its END: left for the end of the scan */
	done_apply(&x->dl, l);
	for (uint32_t r = 0; r < l->mi.nrcpt; r++) {
		uint8_t s = l->state[r];

		pending += !spool_rcpt_final(s);
		todo += s == SPOOL_RCPT_PENDING;
		any |= s != SPOOL_RCPT_PENDING;
	}
	spool_live_remove(&ss->tab, &l->mi.qid);
	if (any && kept_push(sp, l) < 0) {
		spool_live_free(l);
		return -ENOMEM;
	}
	if (pending == 0) {
		ST_ADD(&sp->st, recovered_done_msgs, 1);
		spool_live_free(l);
		return 0;
	}
	l->mi.npending = pending;
	if (sp->rec.concurrent && sp->conf.on_recover) {
		if (l->mi.nrcpt > x->capscratch) {
			uint8_t *v = realloc(x->scratch, l->mi.nrcpt);

			if (!v) {
				spool_live_free(l);
				return -ENOMEM;
			}
			x->scratch = v;
			x->capscratch = l->mi.nrcpt;
		}
		memcpy(x->scratch, l->state, l->mi.nrcpt);
	} else if (!sp->rec.concurrent && sp->nrecovered == x->caprecovered) {
		size_t ncap = x->caprecovered ? x->caprecovered * 2 : 256;
		struct spool_live **v = realloc(sp->recovered, ncap * sizeof(*v));

		if (!v) {
			spool_live_free(l);
			return -ENOMEM;
		}
		sp->recovered = v;
		x->caprecovered = ncap;
	}
	pthread_mutex_lock(&sp->lock);
	/* Two complete messages with one id: only damage does that. */
	dup = spool_live_find(&sp->live, &l->mi.qid) != NULL;
	if (!dup && (rc = spool_live_insert(&sp->live, l)) == 0) {
		spool_segtab_ref_range(&sp->seg[l->mi.worker], l->mi.first_seq, l->mi.last_seq, 1);
		__atomic_fetch_add(&sp->live_bytes, l->mi.body_len, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&sp->lock);
	if (dup || rc < 0) {
		ST_ADD(&sp->st, invalid_msgs, dup);
		spool_live_free(l);
		return rc;
	}
	ST_ADD(&sp->st, recovered_msgs, 1);
	ST_ADD(&sp->st, recovered_rcpts, todo);
	__atomic_fetch_add(&sp->rec.msgs, 1, __ATOMIC_RELAXED);
	if (!sp->rec.concurrent) {
		sp->recovered[sp->nrecovered++] = l;
	} else if (sp->conf.on_recover) {
		struct spool_msginfo mi = l->mi; /* l is the spool's now: copy */

		mi.rcpt_state = x->scratch;
		sp->conf.on_recover(sp->conf.on_recover_arg, &mi);
	}
	return 0;
}

/* Read every record of old segment @s (message building in @ss->tab), then
 * settle the messages whose END it holds. Damage: quarantine. */
static int verify_seg(struct rec_ctx *x, struct seg_scan *ss, struct spool_seg *s)
{
	struct spool *sp = x->sp;
	struct spool_filehdr fh;
	unsigned corrupt;
	uint8_t *map;
	size_t end;
	int fd, rc;

	ss->err = 0;
	ss->seq = s->seq;
	x->nended = 0;
	if ((rc = seg_map(sp, s, O_RDONLY, &fd, &map)) < 0) {
		MX_ERR("spool: %u/%016llx.seg: %s", s->worker, (unsigned long long)s->seq,
		       strerror(-rc));
		return rc;
	}
	close(fd);
	madvise(map, s->fsize, MADV_SEQUENTIAL);
	check_filehdr(map, s->fsize, &fh); /* checked by seg_open() */
	end = scan_records(map, s->fsize, fh.salt, fh.lstart, false, seg_record, ss, &corrupt);
	munmap(map, s->fsize);
	if (corrupt)
		ST_ADD(&sp->st, corrupt_regions, corrupt);
	if (end < s->fsize) {
		/* Not the segment a crash can tear (the newest one was cut at
		 * start): the damage is in data that may have been
		 * acknowledged. Never cut it. */
		char why[96];

		snprintf(why, sizeof(why), "damaged tail of %zu bytes at %zu in an older segment",
			 s->fsize - end, end);
		ST_ADD(&sp->st, damaged_tails_kept, 1);
		quarantine_seg(sp, s, why);
	} else if (corrupt) {
		char why[64];

		snprintf(why, sizeof(why), "%u damaged region(s) before intact records", corrupt);
		quarantine_seg(sp, s, why);
	}
	for (size_t i = 0; i < x->nended && ss->err == 0; i++)
		ss->err = settle_one(x, ss, x->ended[i]);
	__atomic_fetch_add(&sp->rec.segs_done, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&sp->rec.bytes_done, s->fsize, __ATOMIC_RELAXED);
	return ss->err;
}

/* What is left in the scan's table never became a message: count it, and
 * quarantine what damage (not a failed write) explains. */
static void settle_rest(struct spool *sp, struct spool_livetab *t)
{
	for (size_t i = 0; i < t->nb; i++) {
		struct spool_live *l, *nx;

		for (l = t->b[i]; l; l = nx) {
			char id[SPOOL_QID_STRLEN + 1];

			nx = l->hnext;
			if (l->rstate == LIVE_OPEN) {
				ST_ADD(&sp->st, incomplete_msgs, 1);
			} else if (l->rstate == LIVE_BAD) {
				ST_ADD(&sp->st, invalid_msgs, 1);
				if (!range_has_gap(&sp->rec.old[l->mi.worker], l->mi.first_seq,
						   l->mi.last_seq)) {
					range_quarantine(sp, l->mi.worker, l->mi.first_seq,
							 l->mi.last_seq);
					MX_ERR("spool: message %s in %u/%llx..%llx does not check; "
					       "segments quarantined",
					       spool_qid_format(&l->mi.qid, id), l->mi.worker,
					       (unsigned long long)l->mi.first_seq,
					       (unsigned long long)l->mi.last_seq);
				}
			}
			spool_live_free(l);
		}
	}
	free(t->b);
	memset(t, 0, sizeof(*t));
}

/*
 * The verification pass: every old segment in sequence order, each message
 * from ENVELOPE to END checked, the done log as found applied, each message
 * with work left handed over as soon as its END checks. Then the pins go,
 * spool_maintain() deletes the segments no message needs, and the done log
 * is compacted - in that order: a crash before the new done log is complete
 * replays the old one over fewer segments. Stops early (segments stay
 * pinned) when the spool stops.
 */
static int verify_all(struct spool *sp)
{
	struct rec_ctx x = {.sp = sp};
	struct seg_scan ss = {.sp = sp, .x = &x};
	bool stopped = false;
	int rc;

	rc = donelog_load(sp, &x.dl);
	for (unsigned d = 0; d < sp->ndirs && rc == 0 && !stopped; d++) {
		ss.d = d;
		for (size_t i = 0; i < sp->rec.old[d].n && rc == 0; i++) {
			if (__atomic_load_n(&sp->stop, __ATOMIC_ACQUIRE)) {
				stopped = true;
				break;
			}
			rc = verify_seg(&x, &ss, sp->rec.old[d].v[i]);
		}
	}
	free(ss.rcpt);
	settle_rest(sp, &ss.tab);
	free(x.ended);
	free(x.scratch);
	free(x.dl.v);
	if (rc == 0 && !stopped) {
		if (!sp->rec.concurrent && sp->nrecovered > 1)
			qsort(sp->recovered, sp->nrecovered, sizeof(*sp->recovered), cmp_live);
		pthread_mutex_lock(&sp->lock);
		for (unsigned d = 0; d < sp->ndirs; d++) {
			for (size_t i = 0; i < sp->rec.old[d].n; i++)
				sp->rec.old[d].v[i]->refs--; /* recovery's pin */
		}
		pthread_mutex_unlock(&sp->lock);
		spool_maintain(sp);
		rc = donelog_write(sp);
	}
	for (size_t i = 0; i < sp->rec.nkept; i++)
		free(sp->rec.kept[i].state);
	free(sp->rec.kept);
	sp->rec.kept = NULL;
	sp->rec.nkept = sp->rec.capkept = 0;
	if (sp->rec.donefd >= 0) {
		close(sp->rec.donefd);
		sp->rec.donefd = -1;
	}
	sp->rec.pending = false;
	__atomic_store_n(&sp->rec.t_end_ns, spool_now_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&sp->rec.state,
			 rc == 0 && !stopped ? SPOOL_RECOVERY_DONE : SPOOL_RECOVERY_ABORTED,
			 __ATOMIC_RELEASE);
	if (rc < 0)
		MX_ERR("spool: recovery failed: %s", strerror(-rc));
	if (rc == 0 && (sp->st.torn_tails_cut || sp->st.recovered_msgs || sp->st.corrupt_regions ||
			sp->st.quarantined_segments))
		MX_NOTICE("spool: recovered %llu message(s), %llu recipient(s) to deliver, "
			  "%llu torn tail(s) cut, %llu damaged region(s), %llu segment(s) "
			  "quarantined%s",
			  (unsigned long long)sp->st.recovered_msgs,
			  (unsigned long long)sp->st.recovered_rcpts,
			  (unsigned long long)sp->st.torn_tails_cut,
			  (unsigned long long)sp->st.corrupt_regions,
			  (unsigned long long)sp->st.quarantined_segments,
			  sp->rec.concurrent ? " (in the background)" : "");
	return rc;
}

static void *recover_main(void *arg)
{
	/* Below the threads that open port 25 and take new mail: a backlog
	 * verified a little later costs nothing, a late 220 does. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0)
		MX_DEBUG("spool: recovery thread: setpriority: %s", strerror(errno));
	verify_all(arg);
	return NULL;
}

int spool_recover_start(struct spool *sp)
{
	int rc;

	if (!sp->rec.pending || sp->rec.th_started)
		return 0;
	sp->rec.t_start_ns = spool_now_ns();
	__atomic_store_n(&sp->rec.state, SPOOL_RECOVERY_RUNNING, __ATOMIC_RELEASE);
	rc = pthread_create(&sp->rec.th, NULL, recover_main, sp);
	if (rc != 0) {
		__atomic_store_n(&sp->rec.state, SPOOL_RECOVERY_ABORTED, __ATOMIC_RELEASE);
		return -rc;
	}
	sp->rec.th_started = true;
	return 0;
}

void spool_recover_join(struct spool *sp)
{
	if (sp->rec.th_started) {
		pthread_join(sp->rec.th, NULL);
		sp->rec.th_started = false;
	}
}

void spool_recover_free(struct spool *sp)
{
	spool_recover_join(sp);
	if (sp->rec.old) {
		for (unsigned d = 0; d < sp->ndirs; d++)
			free(sp->rec.old[d].v); /* the segments are sp->seg's */
		free(sp->rec.old);
		sp->rec.old = NULL;
	}
	for (size_t i = 0; i < sp->rec.nkept; i++)
		free(sp->rec.kept[i].state);
	free(sp->rec.kept);
	sp->rec.kept = NULL;
	if (sp->rec.donefd >= 0)
		close(sp->rec.donefd);
	sp->rec.donefd = -1;
}

void spool_recovery_read(struct spool *sp, struct spool_recovery_info *out)
{
	struct spool_recovery *r = &sp->rec;
	uint64_t t0 = __atomic_load_n(&r->t_start_ns, __ATOMIC_RELAXED);
	uint64_t t1 = __atomic_load_n(&r->t_end_ns, __ATOMIC_RELAXED);

	out->state = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
	out->segs_total = r->segs_total;
	out->segs_done = __atomic_load_n(&r->segs_done, __ATOMIC_RELAXED);
	out->bytes_total = r->bytes_total;
	out->bytes_done = __atomic_load_n(&r->bytes_done, __ATOMIC_RELAXED);
	out->msgs = __atomic_load_n(&r->msgs, __ATOMIC_RELAXED);
	if (!t0)
		out->elapsed_ms = 0;
	else
		out->elapsed_ms = ((t1 >= t0 ? t1 : spool_now_ns()) - t0) / 1000000;
}

int spool_recovery_wait(struct spool *sp, uint32_t timeout_ms)
{
	for (uint32_t i = 0; i <= timeout_ms; i += 10) {
		if (__atomic_load_n(&sp->rec.state, __ATOMIC_ACQUIRE) != SPOOL_RECOVERY_RUNNING)
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/* ---------------- putting it together ---------------- */

int spool_recover(struct spool *sp)
{
	struct seg_scan ss = {.sp = sp};
	bool created = false;
	int maxdir = -1, rc = 0;
	struct dirent *de;
	DIR *dir;
	int fd;

	sp->rec.donefd = -1;
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
	sp->rec.old = calloc(sp->ndirs, sizeof(*sp->rec.old));
	sp->next_seq = malloc(sp->ndirs * sizeof(*sp->next_seq));
	sp->floor = calloc(sp->ndirs, sizeof(*sp->floor));
	if (!sp->dirfd || !sp->seg || !sp->rec.old || !sp->next_seq || !sp->floor)
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
	if (rc == 0)
		rc = donelog_open(sp);
	if (rc < 0)
		return rc;
	sp->rec.pending = true;
	sp->rec.concurrent = sp->conf.recover_background;
	if (sp->rec.concurrent)
		return 0; /* spool_start() -> spool_recover_start() */
	sp->rec.t_start_ns = spool_now_ns();
	return verify_all(sp);
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
