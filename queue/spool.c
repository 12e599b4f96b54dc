/*
 * spool.c - spool lifecycle, the worker side (staging), the commit threads
 * (write, group fdatasync, completions), the done log at run time and
 * housekeeping. Recovery is in recover.c, the reader in reader.c.
 *
 * Logical stream. Each worker writes one byte stream per boot; every record
 * carries its offset in that stream (record header "off"). A segment file
 * holds a contiguous slice of it after its file header, so a record at file
 * position p of a segment starting at stream offset lstart has
 * off == lstart + p - SPOOL_FILEHDR_LEN. The worker knows offsets without
 * knowing segments; the commit thread cuts the stream into segments at buffer
 * boundaries. After a write or sync error the stream continues in a new
 * segment and every message that started before the error fails.
 *
 * Segment lifetime. A segment is deleted when (1) the commit thread no longer
 * writes or syncs it (busy), (2) no committed message with work left has a
 * record in it (refs), and (3) for this boot's segments, it ends below the
 * oldest message that was still open when the worker last handed off a
 * buffer (an open message may span it but takes its refs only at its END).
 * Damaged segments are kept for the operator (keep).
 *
 * Memory: everything is allocated in spool_create() or on the commit and
 * control threads (live index entries, segment entries); nothing on workers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring_elem.h>

#include "core/log.h"
#include "queue/spool-int.h"

/* Dirty bytes that force a group commit even without an END waiting. */
#define SPOOL_SYNC_BYTES (16ULL << 20)
#define SPOOL_DEQ_BURST	 32

struct spool_pend {
	struct spool_worker *w;
	struct spool_bufend e;
	uint64_t first_seq;
	uint64_t last_seq;
	uint64_t env_pos;
};

static const char *const stat_names[] = {
#define SPOOL_STAT_NAME(name, kind) #name,
	SPOOL_STATS(SPOOL_STAT_NAME)
#undef SPOOL_STAT_NAME
};

static const uint8_t stat_kinds[] = {
#define SPOOL_STAT_KIND(name, kind) SPOOL_STAT_##kind,
	SPOOL_STATS(SPOOL_STAT_KIND)
#undef SPOOL_STAT_KIND
};

/* ---------------- small helpers ---------------- */

uint64_t spool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t spool_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

uint32_t spool_random32(void)
{
	uint32_t v = 0;

	while (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
		if (errno != EINTR)
			mx_panic("spool: getrandom: %s", strerror(errno));
	}
	return v;
}

void spool_seg_name(char *buf, size_t n, uint64_t seq)
{
	snprintf(buf, n, "%016llx.seg", (unsigned long long)seq);
}

int spool_fsync_fd(int fd)
{
	return fsync(fd) == 0 ? 0 : -errno;
}

static ssize_t io_pwrite(struct spool *sp, int fd, const void *b, size_t n, off_t off)
{
	if (sp->conf.io && sp->conf.io->pwrite)
		return sp->conf.io->pwrite(fd, b, n, off);
	return pwrite(fd, b, n, off);
}

static int io_fdatasync(struct spool *sp, int fd)
{
	if (sp->conf.io && sp->conf.io->fdatasync)
		return sp->conf.io->fdatasync(fd);
	return fdatasync(fd);
}

static int io_statvfs(struct spool *sp, struct statvfs *st)
{
	if (sp->conf.io && sp->conf.io->statvfs)
		return sp->conf.io->statvfs(sp->dir, st);
	return statvfs(sp->dir, st);
}

/* Write all of @b at @off. 0 or -errno (never a silent short write). */
static int io_write_full(struct spool *sp, int fd, const void *b, size_t n, uint64_t off)
{
	const uint8_t *p = b;

	while (n > 0) {
		ssize_t r = io_pwrite(sp, fd, p, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static bool err_is_full(int err)
{
	return err == -ENOSPC || err == -EDQUOT;
}

/* ---------------- live index (under sp->lock) ---------------- */

static size_t qid_hash(const struct spool_qid *q)
{
	uint64_t h = q->hi * 0x9e3779b97f4a7c15ULL ^ q->lo * 0xc2b2ae3d27d4eb4fULL;

	return (size_t)(h ^ (h >> 29));
}

struct spool_live *spool_live_find(struct spool_livetab *t, const struct spool_qid *q)
{
	struct spool_live *l;

	if (t->nb == 0)
		return NULL;
	for (l = t->b[qid_hash(q) & (t->nb - 1)]; l; l = l->hnext) {
		if (spool_qid_eq(&l->mi.qid, q))
			return l;
	}
	return NULL;
}

int spool_live_insert(struct spool_livetab *t, struct spool_live *l)
{
	if (t->n >= t->nb) {
		size_t nb = t->nb ? t->nb * 2 : 1024;
		struct spool_live **b = calloc(nb, sizeof(*b));

		if (!b)
			return -ENOMEM;
		for (size_t i = 0; i < t->nb; i++) {
			struct spool_live *x, *nx;

			for (x = t->b[i]; x; x = nx) {
				size_t k = qid_hash(&x->mi.qid) & (nb - 1);

				nx = x->hnext;
				x->hnext = b[k];
				b[k] = x;
			}
		}
		free(t->b);
		t->b = b;
		t->nb = nb;
	}
	size_t k = qid_hash(&l->mi.qid) & (t->nb - 1);

	l->hnext = t->b[k];
	t->b[k] = l;
	t->n++;
	return 0;
}

struct spool_live *spool_live_remove(struct spool_livetab *t, const struct spool_qid *q)
{
	struct spool_live **pp;

	if (t->nb == 0)
		return NULL;
	for (pp = &t->b[qid_hash(q) & (t->nb - 1)]; *pp; pp = &(*pp)->hnext) {
		struct spool_live *l = *pp;

		if (spool_qid_eq(&l->mi.qid, q)) {
			*pp = l->hnext;
			t->n--;
			return l;
		}
	}
	return NULL;
}

void spool_live_free(struct spool_live *l)
{
	if (l) {
		free(l->state);
		free(l);
	}
}

static void livetab_clear(struct spool_livetab *t)
{
	for (size_t i = 0; i < t->nb; i++) {
		struct spool_live *x, *nx;

		for (x = t->b[i]; x; x = nx) {
			nx = x->hnext;
			spool_live_free(x);
		}
	}
	free(t->b);
	memset(t, 0, sizeof(*t));
}

/* ---------------- segment tables (under sp->lock) ---------------- */

int spool_segtab_push(struct spool_segtab *t, struct spool_seg *s)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct spool_seg **v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	MX_ASSERT(t->n == 0 || t->v[t->n - 1]->seq < s->seq);
	t->v[t->n++] = s;
	return 0;
}

/* Index of the first segment with seq >= @seq. */
static size_t segtab_lower(const struct spool_segtab *t, uint64_t seq)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (t->v[mid]->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct spool_seg *spool_segtab_find(struct spool_segtab *t, uint64_t seq)
{
	size_t i = segtab_lower(t, seq);

	return i < t->n && t->v[i]->seq == seq ? t->v[i] : NULL;
}

/* Add @delta to the refs of every segment of @t in [first, last]. */
void spool_segtab_ref_range(struct spool_segtab *t, uint64_t first, uint64_t last, int delta)
{
	size_t i = segtab_lower(t, first);

	MX_ASSERT(i < t->n && t->v[i]->seq == first);
	for (; i < t->n && t->v[i]->seq <= last; i++) {
		MX_ASSERT(delta > 0 || t->v[i]->refs > 0);
		t->v[i]->refs = (uint32_t)((int64_t)t->v[i]->refs + delta);
	}
}

/* This boot's segment of worker @w holding stream offset @off. */
static struct spool_seg *seg_by_off(struct spool_segtab *t, uint64_t off)
{
	for (size_t i = t->n; i-- > 0;) {
		struct spool_seg *s = t->v[i];

		if (s->old)
			break;
		if (s->lstart <= off) {
			MX_ASSERT(off < s->lstart + s->llen);
			return s;
		}
	}
	mx_panic("spool: stream offset %llu in no segment", (unsigned long long)off);
}

/* ---------------- configuration, lifecycle ---------------- */

void spool_conf_defaults(struct spool_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->workers = 1;
	c->commit_threads = 1;
	c->segment_size = SPOOL_DEF_SEGMENT_SIZE;
	c->commit_interval_us = SPOOL_DEF_COMMIT_INTERVAL;
	c->commit_batch = SPOOL_DEF_COMMIT_BATCH;
	c->buf_size = SPOOL_DEF_BUF_SIZE;
	c->bufs_per_worker = SPOOL_DEF_BUFS_PER_WORKER;
	c->max_inflight = SPOOL_DEF_MAX_INFLIGHT;
	c->maint_interval_ms = SPOOL_DEF_MAINT_INTERVAL;
}

static int conf_check(const struct spool_conf *c)
{
	if (!c->dir || !c->dir[0])
		return -EINVAL;
	if (c->workers == 0 || c->workers >= SPOOL_FILEHDR_DONELOG)
		return -EINVAL;
	if (c->commit_threads == 0 || c->commit_threads > c->workers)
		return -EINVAL;
	if (c->buf_size < 4096 || c->buf_size > SPOOL_REC_MAX_LEN)
		return -EINVAL;
	if (c->bufs_per_worker < 2 || c->max_inflight == 0 || c->commit_batch == 0)
		return -EINVAL;
	if (c->segment_size < SPOOL_FILEHDR_LEN + c->buf_size)
		return -EINVAL;
	return 0;
}

/* An SPSC rte_ring of @count elements of @esize bytes on heap memory. */
static struct rte_ring *ring_new(const char *name, unsigned esize, unsigned count, void **mem)
{
	unsigned n = rte_align32pow2(count + 1);
	ssize_t sz = rte_ring_get_memsize_elem(esize, n);
	struct rte_ring *r;

	if (sz < 0) {
		errno = -(int)sz;
		return NULL;
	}
	r = aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL((size_t)sz, RTE_CACHE_LINE_SIZE));
	if (!r)
		return NULL;
	if (rte_ring_init(r, name, count, RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ) != 0) {
		free(r);
		errno = EINVAL;
		return NULL;
	}
	*mem = r;
	return r;
}

static int worker_init(struct spool *sp, struct spool_worker *w, unsigned id)
{
	const struct spool_conf *c = &sp->conf;
	char name[RTE_RING_NAMESIZE];
	const struct spool_qid zero = {0, 0};

	w->sp = sp;
	w->id = id;
	w->salt = spool_random32();
	spool_qid_gen_init(&w->gen, (uint16_t)id, spool_random32(),
			   spool_qid_eq(&sp->floor[id], &zero) ? NULL : &sp->floor[id]);
	w->ct_next_seq = sp->next_seq[id];
	snprintf(name, sizeof(name), "spool_sub%u", id);
	w->sub = ring_new(name, sizeof(void *), c->bufs_per_worker, &w->ring_mem[0]);
	snprintf(name, sizeof(name), "spool_free%u", id);
	w->free = ring_new(name, sizeof(void *), c->bufs_per_worker, &w->ring_mem[1]);
	snprintf(name, sizeof(name), "spool_cpl%u", id);
	w->cpl = ring_new(name, sizeof(struct spool_cpl), c->max_inflight, &w->ring_mem[2]);
	if (!w->sub || !w->free || !w->cpl)
		return -ENOMEM;
	w->bufs = calloc(c->bufs_per_worker, sizeof(*w->bufs));
	if (!w->bufs)
		return -ENOMEM;
	for (unsigned i = 0; i < c->bufs_per_worker; i++) {
		w->bufs[i].data = malloc(c->buf_size);
		if (!w->bufs[i].data)
			return -ENOMEM;
		if (rte_ring_sp_enqueue(w->free, &w->bufs[i]) != 0)
			mx_panic("spool: free ring too small");
	}
	return 0;
}

uint64_t spool_auto_high_water(uint64_t fs_bytes)
{
	uint64_t hw = fs_bytes / SPOOL_AUTO_HW_DIV;

	if (hw < SPOOL_AUTO_HW_MIN)
		hw = SPOOL_AUTO_HW_MIN;
	if (hw > SPOOL_AUTO_HW_MAX)
		hw = SPOOL_AUTO_HW_MAX;
	return hw;
}

static void disk_free_refresh(struct spool *sp)
{
	struct statvfs st;
	uint64_t free_bytes, need;

	if (io_statvfs(sp, &st) != 0)
		return;
	free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
	__atomic_store_n(&sp->disk_free, free_bytes, __ATOMIC_RELAXED);
	/* The mark used when none is configured: the file system can grow or
	 * shrink under us (LVM), so it follows it. */
	__atomic_store_n(&sp->high_water_auto,
			 spool_auto_high_water((uint64_t)st.f_blocks * st.f_frsize),
			 __ATOMIC_RELAXED);
	need = __atomic_load_n(&sp->conf.min_free, __ATOMIC_RELAXED);
	if (need < 4ULL * sp->conf.buf_size)
		need = 4ULL * sp->conf.buf_size;
	if (free_bytes >= need)
		__atomic_store_n(&sp->disk_full, 0, __ATOMIC_RELAXED);
}

struct spool *spool_create(const struct spool_conf *conf)
{
	struct spool *sp;
	int rc;

	if ((rc = conf_check(conf)) < 0) {
		errno = -rc;
		return NULL;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	sp->conf = *conf;
	sp->dir = strdup(conf->dir);
	sp->conf.dir = sp->dir;
	sp->rootfd = -1;
	sp->done_fd = -1;
	sp->rec.donefd = -1;
	pthread_mutex_init(&sp->lock, NULL);
	pthread_mutex_init(&sp->done_lock, NULL);
	if (!sp->dir) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = spool_recover(sp);
	if (rc < 0)
		goto fail;
	sp->w = aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(*sp->w) * conf->workers);
	if (sp->w)
		memset(sp->w, 0, sizeof(*sp->w) * conf->workers);
	sp->ct = calloc(conf->commit_threads, sizeof(*sp->ct));
	if (!sp->w || !sp->ct) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < conf->workers; i++) {
		if ((rc = worker_init(sp, &sp->w[i], i)) < 0)
			goto fail;
	}
	for (unsigned i = 0; i < conf->commit_threads; i++) {
		sp->ct[i].sp = sp;
		sp->ct[i].id = i;
		mx_hist_init(&sp->ct[i].lat);
	}
	disk_free_refresh(sp);
	return sp;
fail:
	spool_destroy(sp);
	errno = -rc;
	return NULL;
}

struct spool_worker *spool_worker_get(struct spool *sp, unsigned id)
{
	return id < sp->conf.workers ? &sp->w[id] : NULL;
}

int spool_recovered_next(struct spool *sp, size_t *cursor, struct spool_msginfo *mi)
{
	struct spool_live *l;

	if (sp->started || *cursor >= sp->nrecovered)
		return 0;
	l = sp->recovered[(*cursor)++];
	*mi = l->mi;
	mi->rcpt_state = l->state;
	return 1;
}

static void *committer_main(void *arg);

int spool_start(struct spool *sp)
{
	if (sp->started)
		return -EALREADY;
	sp->started = true;
	/* What recovery kept counts toward the high-water mark. */
	sp->live_bytes = 0;
	for (size_t b = 0; b < sp->live.nb; b++)
		for (const struct spool_live *l = sp->live.b[b]; l; l = l->hnext)
			if (l->mi.npending > 0)
				sp->live_bytes += l->mi.body_len;
	free(sp->recovered);
	sp->recovered = NULL;
	sp->nrecovered = 0;
	for (unsigned i = 0; i < sp->conf.commit_threads; i++) {
		struct spool_committer *c = &sp->ct[i];
		int rc = pthread_create(&c->th, NULL, committer_main, c);

		if (rc != 0) {
			spool_stop(sp);
			return -rc;
		}
		c->started = true;
	}
	/* With conf.recover_background: verify the old segments now, while
	 * new mail goes into new ones. */
	if (spool_recover_start(sp) < 0) {
		spool_stop(sp);
		return -EAGAIN;
	}
	return 0;
}

void spool_stop(struct spool *sp)
{
	if (!sp->started || sp->stopping)
		return;
	sp->stopping = true;
	__atomic_store_n(&sp->stop, 1, __ATOMIC_RELEASE);
	spool_recover_join(sp); /* it stops between two segments */
	for (unsigned i = 0; i < sp->conf.commit_threads; i++) {
		if (sp->ct[i].started)
			pthread_join(sp->ct[i].th, NULL);
		sp->ct[i].started = false;
	}
	spool_maintain(sp); /* done log durable */
}

void spool_destroy(struct spool *sp)
{
	if (!sp)
		return;
	spool_stop(sp);
	if (sp->w) {
		for (unsigned i = 0; i < sp->conf.workers; i++) {
			struct spool_worker *w = &sp->w[i];

			if (w->bufs) {
				for (unsigned k = 0; k < sp->conf.bufs_per_worker; k++)
					free(w->bufs[k].data);
			}
			free(w->bufs);
			for (int k = 0; k < 3; k++)
				free(w->ring_mem[k]);
		}
		free(sp->w);
	}
	if (sp->ct) {
		for (unsigned i = 0; i < sp->conf.commit_threads; i++) {
			free(sp->ct[i].pend);
			free(sp->ct[i].dirty);
		}
		free(sp->ct);
	}
	if (sp->seg) {
		for (unsigned d = 0; d < sp->ndirs; d++) {
			for (size_t i = 0; i < sp->seg[d].n; i++) {
				if (sp->seg[d].v[i]->fd >= 0)
					close(sp->seg[d].v[i]->fd);
				free(sp->seg[d].v[i]);
			}
			free(sp->seg[d].v);
		}
		free(sp->seg);
	}
	if (sp->dirfd) {
		for (unsigned d = 0; d < sp->ndirs; d++) {
			if (sp->dirfd[d] >= 0)
				close(sp->dirfd[d]);
		}
		free(sp->dirfd);
	}
	spool_recover_free(sp);
	livetab_clear(&sp->live);
	free(sp->recovered);
	free(sp->next_seq);
	free(sp->floor);
	if (sp->done_fd >= 0)
		close(sp->done_fd);
	if (sp->rootfd >= 0)
		close(sp->rootfd);
	pthread_mutex_destroy(&sp->lock);
	pthread_mutex_destroy(&sp->done_lock);
	free(sp->dir);
	free(sp);
}

/* ---------------- worker lcore side ---------------- */

void spool_set_limits(struct spool *sp, uint64_t high_water, uint64_t min_free,
		      uint32_t commit_interval_us, uint32_t commit_batch)
{
	__atomic_store_n(&sp->conf.high_water, high_water, __ATOMIC_RELAXED);
	__atomic_store_n(&sp->conf.min_free, min_free, __ATOMIC_RELAXED);
	__atomic_store_n(&sp->conf.commit_interval_us, commit_interval_us, __ATOMIC_RELAXED);
	if (commit_batch)
		__atomic_store_n(&sp->conf.commit_batch, commit_batch, __ATOMIC_RELAXED);
}

int spool_admit(struct spool_worker *w)
{
	struct spool *sp = w->sp;
	uint64_t lim;
	int rc = 0;

	lim = __atomic_load_n(&sp->conf.high_water, __ATOMIC_RELAXED);
	if (!lim)
		lim = __atomic_load_n(&sp->high_water_auto, __ATOMIC_RELAXED);
	if (__atomic_load_n(&sp->refuse, __ATOMIC_RELAXED))
		rc = -EAGAIN;
	else if (__atomic_load_n(&sp->disk_full, __ATOMIC_RELAXED))
		rc = -ENOSPC;
	else if (lim && __atomic_load_n(&sp->live_bytes, __ATOMIC_RELAXED) >= lim)
		rc = -ENOSPC;
	else if ((lim = __atomic_load_n(&sp->conf.min_free, __ATOMIC_RELAXED)) &&
		 __atomic_load_n(&sp->disk_free, __ATOMIC_RELAXED) < lim)
		rc = -ENOSPC;
	else if (w->inflight >= sp->conf.max_inflight || (!w->cur && rte_ring_count(w->free) == 0))
		rc = -ENOBUFS;
	if (rc)
		ST_ADD(&w->st, admit_refused, 1);
	return rc;
}

const char *spool_reply(int status)
{
	switch (status) {
	case -ENOSPC:
	case -EDQUOT:
	case -ENOBUFS:
	case -EAGAIN:
		return "452 4.3.1 Insufficient system storage";
	default:
		return "451 4.3.0 Error: queue file write error";
	}
}

const struct spool_reply_parts *spool_reply_parts(int status)
{
	/* spool_reply() split in its parts: one place decides which reply. */
	static const struct spool_reply_parts full = {452, "4.3.1", "Insufficient system storage"};
	static const struct spool_reply_parts io = {451, "4.3.0", "Error: queue file write error"};

	return spool_reply(status)[2] == '2' ? &full : &io; /* 452 or 451 */
}

/* Finish the CRC of the open BODY record in the current buffer. */
static void ob_close(struct spool_worker *w)
{
	uint8_t *h;

	if (!w->ob_msg)
		return;
	h = w->cur->data + w->ob_hdr;
	spool_put32(h + 12, spool_rec_crc_finish(w->ob_crc, h));
	w->ob_msg = NULL;
}

static void handoff(struct spool_worker *w)
{
	struct spool_buf *b = w->cur;

	ob_close(w);
	b->oldest_open = w->open_head ? w->open_head->env_off : w->pos;
	/* The sub ring holds every buffer of the worker: it cannot be full. */
	if (rte_ring_sp_enqueue(w->sub, b) != 0)
		mx_panic("spool: worker %u submission ring full", w->id);
	w->cur = NULL;
}

/* Make room for @need contiguous bytes, plus an END slot if @end. */
static int stage_reserve(struct spool_worker *w, uint32_t need, bool end)
{
	void *p;

	if (need > w->sp->conf.buf_size)
		return -E2BIG;
	if (w->cur && (w->sp->conf.buf_size - w->cur->len < need ||
		       (end && w->cur->nend == SPOOL_BUF_MAX_ENDS)))
		handoff(w);
	if (w->cur)
		return 0;
	if (rte_ring_sc_dequeue(w->free, &p) != 0) {
		ST_ADD(&w->st, staging_full, 1);
		return -ENOBUFS;
	}
	w->cur = p;
	w->cur->off = w->pos;
	w->cur->len = 0;
	w->cur->nrec = 0;
	w->cur->nend = 0;
	return 0;
}

static void open_link(struct spool_worker *w, struct spool_msg *m)
{
	m->next = NULL;
	m->prev = w->open_tail;
	if (w->open_tail)
		w->open_tail->next = m;
	else
		w->open_head = m;
	w->open_tail = m;
	m->open = 1;
}

static void open_unlink(struct spool_worker *w, struct spool_msg *m)
{
	if (m->prev)
		m->prev->next = m->next;
	else
		w->open_head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		w->open_tail = m->prev;
	m->prev = m->next = NULL;
	m->open = 0;
}

int spool_msg_begin(struct spool_worker *w, struct spool_msg *m, const struct spool_envelope *env)
{
	struct spool_rec_hdr h = {.type = SPOOL_REC_ENVELOPE};
	long sz = spool_env_size(env);
	uint8_t *rec;
	int rc;

	if (sz < 0 || m->open)
		return -EINVAL;
	rc = stage_reserve(w, (uint32_t)(SPOOL_REC_HDR_LEN + sz), false);
	if (rc < 0)
		return rc;
	ob_close(w);
	rec = w->cur->data + w->cur->len;
	h.qid = spool_qid_next(&w->gen, spool_now_us() / 1000);
	h.len = (uint32_t)sz;
	h.off = w->pos;
	if (spool_env_encode(env, rec + SPOOL_REC_HDR_LEN, (size_t)sz) != sz)
		return -EINVAL;
	spool_rec_hdr_encode(rec, &h);
	spool_put32(rec + 12,
		    spool_rec_crc_finish(spool_crc32c(w->salt, rec + SPOOL_REC_HDR_LEN, (size_t)sz),
					 rec));
	m->qid = h.qid;
	m->env_off = w->pos;
	m->body_len = 0;
	m->crc = spool_crc32c(0, rec + SPOOL_REC_HDR_LEN, (size_t)sz);
	m->nbody = 0;
	m->nrcpt = env->nrcpt;
	open_link(w, m);
	w->cur->len += (uint32_t)(SPOOL_REC_HDR_LEN + sz);
	w->cur->nrec++;
	w->pos += (uint64_t)(SPOOL_REC_HDR_LEN + sz);
	ST_ADD(&w->st, records_staged, 1);
	ST_ADD(&w->st, bytes_staged, SPOOL_REC_HDR_LEN + sz);
	ST_ADD(&w->st, msgs_begun, 1);
	return 0;
}

long spool_msg_body(struct spool_worker *w, struct spool_msg *m, const void *data, size_t len)
{
	const uint8_t *d = data;
	const uint32_t cap = w->sp->conf.buf_size;
	size_t done = 0;

	if (!m->open)
		return -EINVAL;
	while (done < len) {
		struct spool_buf *b = w->cur;

		if (w->ob_msg == m && b->len < cap) {
			/* Extend the open BODY record of this message. */
			uint8_t *h = b->data + w->ob_hdr;
			size_t n = len - done;

			if (n > cap - b->len)
				n = cap - b->len;
			memcpy(b->data + b->len, d + done, n);
			w->ob_crc = spool_crc32c(w->ob_crc, d + done, n);
			m->crc = spool_crc32c(m->crc, d + done, n);
			spool_put32(h + 8, spool_get32(h + 8) + (uint32_t)n);
			b->len += (uint32_t)n;
			w->pos += n;
			m->body_len += n;
			done += n;
			ST_ADD(&w->st, bytes_staged, n);
			continue;
		}
		if (stage_reserve(w, SPOOL_REC_HDR_LEN + 1, false) < 0)
			break;
		ob_close(w);
		b = w->cur;

		struct spool_rec_hdr h = {
			.type = SPOOL_REC_BODY,
			.off = w->pos,
			.qid = m->qid,
		};
		spool_rec_hdr_encode(b->data + b->len, &h);
		w->ob_msg = m;
		w->ob_hdr = b->len;
		w->ob_crc = w->salt;
		b->len += SPOOL_REC_HDR_LEN;
		b->nrec++;
		w->pos += SPOOL_REC_HDR_LEN;
		m->nbody++;
		ST_ADD(&w->st, records_staged, 1);
		ST_ADD(&w->st, bytes_staged, SPOOL_REC_HDR_LEN);
	}
	if (done == 0 && len > 0)
		return -ENOBUFS;
	return (long)done;
}

int spool_msg_end(struct spool_worker *w, struct spool_msg *m, uint64_t cookie)
{
	uint8_t payload[SPOOL_END_PAYLOAD];
	struct spool_end e;
	struct spool_buf *b;
	int rc, n;

	if (!m->open)
		return -EINVAL;
	if (w->inflight >= w->sp->conf.max_inflight) {
		ST_ADD(&w->st, staging_full, 1);
		return -ENOBUFS;
	}
	rc = stage_reserve(w, SPOOL_REC_HDR_LEN + SPOOL_END_PAYLOAD, true);
	if (rc < 0)
		return rc;
	ob_close(w);
	b = w->cur;
	e.env_off = m->env_off;
	e.body_len = m->body_len;
	e.msg_crc = m->crc;
	e.nbody = m->nbody;
	e.nrcpt = m->nrcpt;
	spool_end_encode(payload, &e);
	n = spool_rec_encode(b->data + b->len, w->sp->conf.buf_size - b->len, w->salt,
			     SPOOL_REC_END, w->pos, &m->qid, payload, sizeof(payload));
	MX_ASSERT(n > 0);
	b->end[b->nend++] = (struct spool_bufend){
		.qid = m->qid,
		.cookie = cookie,
		.env_off = m->env_off,
		.body_len = m->body_len,
		.t_ns = spool_now_ns(),
		.nrcpt = m->nrcpt,
	};
	b->len += (uint32_t)n;
	b->nrec++;
	w->pos += (uint64_t)n;
	open_unlink(w, m);
	w->inflight++;
	ST_ADD(&w->st, records_staged, 1);
	ST_ADD(&w->st, bytes_staged, n);
	ST_ADD(&w->st, msgs_ended, 1);
	return 0;
}

void spool_msg_abort(struct spool_worker *w, struct spool_msg *m)
{
	if (!m->open)
		return;
	if (w->ob_msg == m)
		ob_close(w);
	open_unlink(w, m);
	ST_ADD(&w->st, msgs_aborted, 1);
}

unsigned spool_worker_poll(struct spool_worker *w, struct spool_cpl *cpl, unsigned n)
{
	unsigned got;

	if (w->cur && w->cur->nend > 0)
		handoff(w);
	got = rte_ring_sc_dequeue_burst_elem(w->cpl, cpl, sizeof(*cpl), n, NULL);
	w->inflight -= got;
	return got;
}

void spool_worker_flush(struct spool_worker *w)
{
	if (w->cur && w->cur->len > 0)
		handoff(w);
}

/* ---------------- commit thread ---------------- */

static int add_dirty(struct spool_committer *c, struct spool_seg *s)
{
	if (s->dirty)
		return 0;
	if (c->ndirty == c->capdirty) {
		size_t cap = c->capdirty ? c->capdirty * 2 : 16;
		struct spool_seg **v = realloc(c->dirty, cap * sizeof(*v));

		if (!v)
			mx_panic("spool: out of memory on the commit thread");
		c->dirty = v;
		c->capdirty = cap;
	}
	c->dirty[c->ndirty++] = s;
	s->dirty = true;
	return 0;
}

/* Stop writing to @w's current segment; it stays busy until synced. */
static void seg_close_current(struct spool_worker *w)
{
	struct spool *sp = w->sp;
	struct spool_seg *s = w->ct_cur;

	if (!s)
		return;
	pthread_mutex_lock(&sp->lock);
	w->ct_cur = NULL;
	if (!s->dirty) {
		close(s->fd);
		s->fd = -1;
		s->busy = false;
	}
	pthread_mutex_unlock(&sp->lock);
}

static int seg_new(struct spool_committer *c, struct spool_worker *w, uint64_t lstart)
{
	struct spool *sp = c->sp;
	uint8_t hdr[SPOOL_FILEHDR_LEN], payload[SPOOL_FILEHDR_PAYLOAD];
	struct spool_filehdr fh = {
		.worker = (uint16_t)w->id,
		.salt = w->salt,
		.lstart = lstart,
		.created_us = spool_now_us(),
	};
	char name[64];
	struct spool_seg *s = NULL;
	int fd = -1, rc, dfd = sp->dirfd[w->id];

	for (int tries = 0; fd < 0; tries++) {
		fh.seq = w->ct_next_seq++;
		spool_seg_name(name, sizeof(name), fh.seq);
		fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && (errno != EEXIST || tries > 100))
			return -errno;
	}
	spool_filehdr_encode(payload, &fh);
	spool_rec_encode(hdr, sizeof(hdr), 0, SPOOL_REC_FILEHDR, lstart, NULL, payload,
			 sizeof(payload));
	rc = io_write_full(sp, fd, hdr, sizeof(hdr), 0);
	/* The name must be durable before any completion depends on it. */
	if (rc == 0)
		rc = spool_fsync_fd(dfd);
	if (rc == 0 && !(s = calloc(1, sizeof(*s))))
		rc = -ENOMEM;
	if (rc < 0) {
		unlinkat(dfd, name, 0);
		close(fd);
		return rc;
	}
	s->seq = fh.seq;
	s->lstart = lstart;
	s->fsize = SPOOL_FILEHDR_LEN;
	s->fd = fd;
	s->busy = true;
	s->worker = (uint16_t)w->id;
	pthread_mutex_lock(&sp->lock);
	rc = spool_segtab_push(&sp->seg[w->id], s);
	pthread_mutex_unlock(&sp->lock);
	if (rc < 0)
		mx_panic("spool: out of memory on the commit thread");
	w->ct_cur = s;
	add_dirty(c, s);
	__atomic_fetch_add(&sp->bytes, SPOOL_FILEHDR_LEN, __ATOMIC_RELAXED);
	ST_ADD(&c->st, segments_created, 1);
	return 0;
}

static void post_cpl(struct spool_committer *c, struct spool_worker *w,
		     const struct spool_bufend *e, int status, uint64_t now)
{
	struct spool_cpl x = {.qid = e->qid, .cookie = e->cookie, .status = status, .t_ns = now};
	uint64_t lat = now > e->t_ns ? now - e->t_ns : 0;

	/* max_inflight bounds what the worker can have outstanding. */
	if (rte_ring_sp_enqueue_elem(w->cpl, &x, sizeof(x)) != 0)
		mx_panic("spool: worker %u completion ring full", w->id);
	if (status == 0) {
		ST_ADD(&c->st, msgs_committed, 1);
		ST_ADD(&c->st, commit_lat_ns_sum, lat);
		ST_MAX(&c->st, commit_lat_ns_max, lat);
		mx_hist_record(&c->lat, lat);
	} else {
		ST_ADD(&c->st, msgs_failed, 1);
	}
}

static void note_error(struct spool_committer *c, struct spool_worker *w, const char *what, int err)
{
	struct spool *sp = c->sp;

	if (err_is_full(err)) {
		ST_ADD(&c->st, enospc_errors, 1);
		__atomic_store_n(&sp->disk_full, 1, __ATOMIC_RELAXED);
	}
	/* At most one line per second and worker: a full disk fails every
	 * write. ct_fail_err is not reset after a success on purpose: it is
	 * the status of every later END of a message that began before. */
	uint64_t now = spool_now_ns();

	if (now - w->ct_last_log_ns >= 1000000000ULL || w->ct_last_log_ns == 0) {
		w->ct_last_log_ns = now;
		MX_ERR("spool: worker %u: %s: %s", w->id, what, strerror(-err));
	}
}

static void group_sync(struct spool_committer *c);

static void process_buf(struct spool_committer *c, struct spool_worker *w, struct spool_buf *b)
{
	struct spool *sp = c->sp;
	struct spool_bufend failed[SPOOL_BUF_MAX_ENDS];
	unsigned nfailed = 0;
	int err = 0;

	if (b->len > 0) {
		struct spool_seg *s = w->ct_cur;

		if (s && s->llen > 0 && s->fsize + b->len > sp->conf.segment_size) {
			/* The segment is durable before its successor exists:
			 * only the newest segment of a worker can then have a
			 * torn tail, and recovery quarantines damage anywhere
			 * else instead of cutting it (recover.c). A failed
			 * sync fails what it must (group_sync()). */
			if (s->dirty)
				group_sync(c);
			seg_close_current(w);
			s = NULL;
		}
		if (!s) {
			err = seg_new(c, w, b->off);
			if (err < 0)
				note_error(c, w, "cannot create segment", err);
			s = w->ct_cur;
		}
		if (!err) {
			if (s->lstart + s->llen != b->off)
				mx_panic("spool: worker %u stream discontinuity", w->id);
			err = io_write_full(sp, s->fd, b->data, b->len, s->fsize);
			ST_ADD(&c->st, write_calls, 1);
			if (err < 0) {
				ST_ADD(&c->st, write_errors, 1);
				note_error(c, w, "segment write", err);
				/* Cut what a partial write left; the stream
				 * continues in a new segment. */
				if (ftruncate(s->fd, (off_t)s->fsize) != 0)
					MX_ERR("spool: worker %u: ftruncate: %s", w->id,
					       strerror(errno));
				seg_close_current(w);
			} else {
				pthread_mutex_lock(&sp->lock);
				s->llen += b->len;
				s->fsize += b->len;
				pthread_mutex_unlock(&sp->lock);
				add_dirty(c, s);
				__atomic_fetch_add(&sp->bytes, b->len, __ATOMIC_RELAXED);
				ST_ADD(&c->st, records_written, b->nrec);
				ST_ADD(&c->st, bytes_written, b->len);
				c->grp_records += b->nrec;
				c->grp_bytes += b->len;
			}
		}
		if (err < 0) {
			w->ct_fail_end = b->off + b->len;
			w->ct_fail_err = err;
		}
	}
	if (b->off + b->len > w->ct_stream_end)
		w->ct_stream_end = b->off + b->len;

	if (b->nend > 0) {
		struct spool_segtab *t = &sp->seg[w->id];

		pthread_mutex_lock(&sp->lock);
		for (unsigned i = 0; i < b->nend; i++) {
			struct spool_bufend *e = &b->end[i];
			struct spool_seg *first;
			struct spool_pend *p;

			if (e->env_off < w->ct_fail_end) {
				failed[nfailed++] = *e;
				continue;
			}
			first = seg_by_off(t, e->env_off);
			spool_segtab_ref_range(t, first->seq, w->ct_cur->seq, 1);
			if (c->npend == c->cappend) {
				size_t cap = c->cappend ? c->cappend * 2 : 256;
				struct spool_pend *v = realloc(c->pend, cap * sizeof(*v));

				if (!v)
					mx_panic("spool: out of memory on the commit thread");
				c->pend = v;
				c->cappend = cap;
			}
			p = &c->pend[c->npend++];
			p->w = w;
			p->e = *e;
			p->first_seq = first->seq;
			p->last_seq = w->ct_cur->seq;
			p->env_pos = SPOOL_FILEHDR_LEN + e->env_off - first->lstart;
			if (c->grp_first_ns == 0)
				c->grp_first_ns = spool_now_ns();
		}
		pthread_mutex_unlock(&sp->lock);
		if (nfailed) {
			uint64_t now = spool_now_ns();

			for (unsigned i = 0; i < nfailed; i++)
				post_cpl(c, w, &failed[i], w->ct_fail_err, now);
		}
	}
	/* After the ENDs above took their refs. */
	__atomic_store_n(&w->ct_oldest_open, b->oldest_open, __ATOMIC_RELEASE);
	if (rte_ring_sp_enqueue(w->free, b) != 0)
		mx_panic("spool: worker %u free ring full", w->id);
}

static void group_stats(struct spool_committer *c, size_t nmsg)
{
	ST_ADD(&c->st, sync_groups, 1);
	ST_ADD(&c->st, sync_records, c->grp_records);
	ST_ADD(&c->st, sync_msgs, nmsg);
	if (nmsg <= 1)
		ST_ADD(&c->st, group_1, 1);
	else if (nmsg < 4)
		ST_ADD(&c->st, group_2_3, 1);
	else if (nmsg < 16)
		ST_ADD(&c->st, group_4_15, 1);
	else if (nmsg < 64)
		ST_ADD(&c->st, group_16_63, 1);
	else
		ST_ADD(&c->st, group_64_plus, 1);
}

static void group_sync(struct spool_committer *c)
{
	struct spool *sp = c->sp;
	int err = 0;
	uint64_t now;

	for (size_t i = 0; i < c->ndirty; i++) {
		ST_ADD(&c->st, fdatasyncs, 1);
		if (io_fdatasync(sp, c->dirty[i]->fd) != 0) {
			int e = -errno;

			ST_ADD(&c->st, sync_errors, 1);
			if (err == 0 || err_is_full(e))
				err = e;
		}
	}

	pthread_mutex_lock(&sp->lock);
	for (size_t i = 0; i < c->ndirty; i++) {
		struct spool_seg *s = c->dirty[i];

		s->dirty = false;
		if (sp->w[s->worker].ct_cur != s) {
			close(s->fd);
			s->fd = -1;
			s->busy = false;
		}
	}
	for (size_t i = 0; i < c->npend; i++) {
		struct spool_pend *p = &c->pend[i];
		struct spool_live *l = NULL;

		if (err == 0) {
			l = calloc(1, sizeof(*l));
			if (l)
				l->state = calloc(p->e.nrcpt, 1);
			if (l && l->state) {
				l->mi.qid = p->e.qid;
				l->mi.worker = (uint16_t)p->w->id;
				l->mi.first_seq = p->first_seq;
				l->mi.last_seq = p->last_seq;
				l->mi.env_pos = p->env_pos;
				l->mi.body_len = p->e.body_len;
				l->mi.nrcpt = p->e.nrcpt;
				l->mi.npending = p->e.nrcpt;
			}
			if (!l || !l->state || spool_live_insert(&sp->live, l) < 0) {
				spool_live_free(l);
				l = NULL;
			} else {
				__atomic_fetch_add(&sp->live_bytes, l->mi.body_len,
						   __ATOMIC_RELAXED);
			}
		}
		if (!l) {
			spool_segtab_ref_range(&sp->seg[p->w->id], p->first_seq, p->last_seq, -1);
			/* Marks the failure for the completion loop below. */
			p->first_seq = UINT64_MAX;
		}
	}
	pthread_mutex_unlock(&sp->lock);

	now = spool_now_ns();
	for (size_t i = 0; i < c->npend; i++) {
		struct spool_pend *p = &c->pend[i];
		int st = p->first_seq == UINT64_MAX ? (err ? err : -ENOMEM) : 0;

		post_cpl(c, p->w, &p->e, st, now);
		if (st == 0 && sp->conf.on_commit) {
			struct spool_msginfo mi = {
				.qid = p->e.qid,
				.worker = (uint16_t)p->w->id,
				.first_seq = p->first_seq,
				.last_seq = p->last_seq,
				.env_pos = p->env_pos,
				.body_len = p->e.body_len,
				.nrcpt = p->e.nrcpt,
				.npending = p->e.nrcpt,
			};
			sp->conf.on_commit(sp->conf.on_commit_arg, &mi);
		}
	}
	group_stats(c, c->npend);

	if (err) {
		/* fsync failed: what the page cache held may be gone. Nothing
		 * written so far by these workers can be trusted by a message
		 * still open: fail them all and start new segments. */
		for (unsigned id = c->id; id < sp->conf.workers; id += sp->conf.commit_threads) {
			struct spool_worker *w = &sp->w[id];

			note_error(c, w, "fdatasync", err);
			seg_close_current(w);
			w->ct_fail_end = w->ct_stream_end;
			w->ct_fail_err = err;
		}
	} else if (c->grp_bytes > 0) {
		__atomic_store_n(&sp->disk_full, 0, __ATOMIC_RELAXED);
	}
	c->ndirty = 0;
	c->npend = 0;
	c->grp_records = 0;
	c->grp_bytes = 0;
	c->grp_first_ns = 0;
}

static bool rings_empty(struct spool_committer *c)
{
	struct spool *sp = c->sp;

	for (unsigned id = c->id; id < sp->conf.workers; id += sp->conf.commit_threads) {
		if (!rte_ring_empty(sp->w[id].sub))
			return false;
	}
	return true;
}

static void *committer_main(void *arg)
{
	struct spool_committer *c = arg;
	struct spool *sp = c->sp;
	uint64_t interval_ns;
	const uint64_t maint_ns = (uint64_t)sp->conf.maint_interval_ms * 1000000;
	uint64_t idle_ns = 20000;
	char name[16];

	snprintf(name, sizeof(name), "mx-spool-c%u", c->id);
	pthread_setname_np(pthread_self(), name);
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	c->next_maint_ns = spool_now_ns() + maint_ns;

	for (;;) {
		int stopping = __atomic_load_n(&sp->stop, __ATOMIC_ACQUIRE);
		unsigned got = 0;
		uint64_t now, wait_ns;

		/* Live: spool_set_limits() may change them at any time. */
		interval_ns =
			(uint64_t)__atomic_load_n(&sp->conf.commit_interval_us, __ATOMIC_RELAXED) *
			1000;

		for (unsigned id = c->id; id < sp->conf.workers; id += sp->conf.commit_threads) {
			struct spool_worker *w = &sp->w[id];
			void *bufs[SPOOL_DEQ_BURST];
			unsigned n = rte_ring_sc_dequeue_burst(w->sub, bufs, SPOOL_DEQ_BURST, NULL);

			for (unsigned i = 0; i < n; i++)
				process_buf(c, w, bufs[i]);
			got += n;
		}
		now = spool_now_ns();
		if (c->npend > 0 || c->grp_bytes >= SPOOL_SYNC_BYTES || (stopping && c->ndirty)) {
			if (c->grp_records >=
				    __atomic_load_n(&sp->conf.commit_batch, __ATOMIC_RELAXED) ||
			    c->grp_bytes >= SPOOL_SYNC_BYTES || stopping ||
			    now - c->grp_first_ns >= interval_ns) {
				group_sync(c);
				idle_ns = 20000;
				continue;
			}
		}
		if (c->id == 0 && maint_ns && now >= c->next_maint_ns) {
			spool_maintain(sp);
			c->next_maint_ns = now + maint_ns;
		}
		if (stopping && got == 0 && c->npend == 0 && c->ndirty == 0 && rings_empty(c))
			break;
		if (got) {
			idle_ns = 20000;
			continue;
		}
		if (c->npend > 0) {
			wait_ns = interval_ns - (now - c->grp_first_ns);
			if (wait_ns > 20000)
				wait_ns = 20000;
		} else {
			wait_ns = idle_ns;
			if (idle_ns < 500000)
				idle_ns *= 2;
		}
		struct timespec ts = {0, (long)wait_ns};

		nanosleep(&ts, NULL);
	}
	/* Every staged segment is synced; close the current ones. */
	for (unsigned id = c->id; id < sp->conf.workers; id += sp->conf.commit_threads)
		seg_close_current(&sp->w[id]);
	return NULL;
}

/* ---------------- injection from a non-lcore thread ---------------- */

static void inject_wait(void)
{
	struct timespec ts = {0, 100000};

	nanosleep(&ts, NULL);
}

int spool_inject(struct spool_worker *w, const struct spool_envelope *env, const void *body,
		 size_t len, uint32_t timeout_ms, struct spool_qid *qid)
{
	const uint64_t deadline = spool_now_ns() + (uint64_t)timeout_ms * 1000000;
	const uint8_t *p = body;
	struct spool_msg m;
	struct spool_cpl cpl;
	size_t done = 0;
	int rc;

	memset(&m, 0, sizeof(m));
	for (;;) {
		/* A notification does not wait for the room new mail is
		 * refused for (high water, refusals): only a full disk or no
		 * free staging stops it. */
		rc = spool_admit(w);
		if (rc == -ENOSPC && __atomic_load_n(&w->sp->disk_full, __ATOMIC_RELAXED))
			return rc;
		if (rc != -ENOBUFS) {
			rc = spool_msg_begin(w, &m, env);
			if (rc == 0)
				break;
			if (rc != -ENOBUFS)
				return rc;
		}
		spool_worker_poll(w, &cpl, 0);
		if (spool_now_ns() >= deadline)
			return -ETIMEDOUT;
		inject_wait();
	}
	while (done < len) {
		long k = spool_msg_body(w, &m, p + done, len - done);

		if (k < 0 && k != -ENOBUFS) {
			spool_msg_abort(w, &m);
			return (int)k;
		}
		if (k > 0) {
			done += (size_t)k;
			continue;
		}
		spool_worker_poll(w, &cpl, 0);
		if (spool_now_ns() >= deadline) {
			spool_msg_abort(w, &m);
			return -ETIMEDOUT;
		}
		inject_wait();
	}
	*qid = m.qid;
	while ((rc = spool_msg_end(w, &m, 0)) == -ENOBUFS) {
		spool_worker_poll(w, &cpl, 0);
		if (spool_now_ns() >= deadline) {
			spool_msg_abort(w, &m);
			return -ETIMEDOUT;
		}
		inject_wait();
	}
	if (rc < 0)
		return rc;
	/* Completions of earlier injections that timed out are skipped. */
	for (;;) {
		if (spool_worker_poll(w, &cpl, 1) == 1) {
			if (spool_qid_eq(&cpl.qid, qid))
				return cpl.status;
			continue;
		}
		if (spool_now_ns() >= deadline)
			return -ETIMEDOUT;
		inject_wait();
	}
}

/* ---------------- done log, relay/control side ---------------- */

int spool_rcpt_mark(struct spool *sp, const struct spool_qid *qid, uint32_t rcpt,
		    enum spool_rcpt_state st)
{
	uint8_t rec[SPOOL_REC_HDR_LEN + SPOOL_DONE_PAYLOAD], payload[SPOOL_DONE_PAYLOAD];
	struct spool_live *l;
	uint8_t old, now_st;
	int rc = 0, n;

	if (st == SPOOL_RCPT_PENDING || st >= SPOOL_RCPT_STATE_COUNT)
		return -EINVAL;
	pthread_mutex_lock(&sp->done_lock);
	pthread_mutex_lock(&sp->lock);
	l = spool_live_find(&sp->live, qid);
	if (!l)
		rc = -ENOENT;
	else if (rcpt >= l->mi.nrcpt)
		rc = -EINVAL;
	pthread_mutex_unlock(&sp->lock);
	if (rc < 0 || sp->done_fd < 0) {
		pthread_mutex_unlock(&sp->done_lock);
		return rc < 0 ? rc : -EBADF;
	}
	spool_done_encode(payload, rcpt, st, spool_now_us());
	n = spool_rec_encode(rec, sizeof(rec), sp->done_salt, SPOOL_REC_DONE,
			     sp->done_pos - SPOOL_FILEHDR_LEN, qid, payload, sizeof(payload));
	rc = io_write_full(sp, sp->done_fd, rec, (size_t)n, sp->done_pos);
	if (rc < 0) {
		/* A partial record would make the next ones unreadable. */
		if (ftruncate(sp->done_fd, (off_t)sp->done_pos) != 0)
			MX_ERR("spool: done log ftruncate: %s", strerror(errno));
		pthread_mutex_unlock(&sp->done_lock);
		MX_ERR("spool: done log write: %s", strerror(-rc));
		return rc;
	}
	sp->done_pos += (uint64_t)n;
	sp->done_dirty = true;

	pthread_mutex_lock(&sp->lock);
	ST_ADD(&sp->st, done_records, 1);
	/* Still there: only this function (under done_lock) removes entries. */
	l = spool_live_find(&sp->live, qid);
	old = l->state[rcpt];
	now_st = st == SPOOL_RCPT_RELEASED ? SPOOL_RCPT_PENDING : (uint8_t)st;
	if (!spool_rcpt_final(old)) {
		l->state[rcpt] = now_st;
		if (spool_rcpt_final(now_st)) {
			if (--l->mi.npending == 0) {
				spool_segtab_ref_range(&sp->seg[l->mi.worker], l->mi.first_seq,
						       l->mi.last_seq, -1);
				__atomic_fetch_sub(&sp->live_bytes, l->mi.body_len,
						   __ATOMIC_RELAXED);
				spool_live_free(spool_live_remove(&sp->live, qid));
			}
		}
	}
	pthread_mutex_unlock(&sp->lock);
	pthread_mutex_unlock(&sp->done_lock);
	return 0;
}

int spool_rcpt_state(struct spool *sp, const struct spool_qid *qid, uint32_t rcpt)
{
	struct spool_live *l;
	int rc;

	pthread_mutex_lock(&sp->lock);
	l = spool_live_find(&sp->live, qid);
	if (!l)
		rc = -ENOENT;
	else if (rcpt >= l->mi.nrcpt)
		rc = -EINVAL;
	else
		rc = l->state[rcpt];
	pthread_mutex_unlock(&sp->lock);
	return rc;
}

int spool_msg_lookup(struct spool *sp, const struct spool_qid *qid, struct spool_msginfo *mi)
{
	struct spool_live *l;

	pthread_mutex_lock(&sp->lock);
	l = spool_live_find(&sp->live, qid);
	if (l) {
		*mi = l->mi;
		mi->rcpt_state = NULL;
	}
	pthread_mutex_unlock(&sp->lock);
	return l ? 0 : -ENOENT;
}

size_t spool_msg_count(struct spool *sp)
{
	size_t n;

	pthread_mutex_lock(&sp->lock);
	n = sp->live.n;
	pthread_mutex_unlock(&sp->lock);
	return n;
}

int spool_maintain(struct spool *sp)
{
	struct spool_seg **del = NULL;
	size_t ndel = 0, cap = 0;
	bool dirty;
	int rc = 0;

	pthread_mutex_lock(&sp->done_lock);
	dirty = sp->done_dirty;
	sp->done_dirty = false;
	if (dirty && io_fdatasync(sp, sp->done_fd) != 0) {
		rc = -errno;
		sp->done_dirty = true;
		MX_ERR("spool: done log fdatasync: %s", strerror(errno));
	}
	pthread_mutex_unlock(&sp->done_lock);

	disk_free_refresh(sp);

	pthread_mutex_lock(&sp->lock);
	for (unsigned d = 0; d < sp->ndirs; d++) {
		struct spool_segtab *t = &sp->seg[d];
		uint64_t oldest =
			d < sp->conf.workers && sp->w
				? __atomic_load_n(&sp->w[d].ct_oldest_open, __ATOMIC_ACQUIRE)
				: 0;
		size_t k = 0;

		for (size_t i = 0; i < t->n; i++) {
			struct spool_seg *s = t->v[i];
			bool gone = !s->busy && s->refs == 0 && !s->keep &&
				    (s->old || s->lstart + s->llen <= oldest);

			if (gone && ndel == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct spool_seg **v = realloc(del, ncap * sizeof(*v));

				if (v) {
					del = v;
					cap = ncap;
				} else {
					gone = false;
				}
			}
			if (gone) {
				del[ndel++] = s;
				__atomic_fetch_sub(&sp->bytes, s->fsize, __ATOMIC_RELAXED);
			} else {
				t->v[k++] = s;
			}
		}
		t->n = k;
	}
	ST_ADD(&sp->st, segments_deleted, ndel);
	pthread_mutex_unlock(&sp->lock);

	for (size_t i = 0; i < ndel; i++) {
		char name[64];

		spool_seg_name(name, sizeof(name), del[i]->seq);
		if (unlinkat(sp->dirfd[del[i]->worker], name, 0) != 0 && errno != ENOENT)
			MX_ERR("spool: unlink %u/%s: %s", del[i]->worker, name, strerror(errno));
	}
	for (unsigned d = 0; d < sp->ndirs && ndel > 0; d++) {
		for (size_t i = 0; i < ndel; i++) {
			if (del[i]->worker == d) {
				spool_fsync_fd(sp->dirfd[d]);
				break;
			}
		}
	}
	for (size_t i = 0; i < ndel; i++)
		free(del[i]);
	free(del);
	return rc < 0 ? rc : (int)ndel;
}

void spool_set_refuse(struct spool *sp, int on)
{
	spool_refuse_reason(sp, SPOOL_REFUSE_NEXTHOP_DOWN, on);
}

void spool_refuse_reason(struct spool *sp, unsigned reason, int on)
{
	if (on)
		__atomic_fetch_or(&sp->refuse, (int)reason, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&sp->refuse, ~(int)reason, __ATOMIC_RELAXED);
}

void spool_pressure_read(struct spool *sp, struct spool_pressure *out)
{
	out->high_water = __atomic_load_n(&sp->conf.high_water, __ATOMIC_RELAXED);
	out->high_water_auto = out->high_water == 0;
	if (out->high_water_auto)
		out->high_water = __atomic_load_n(&sp->high_water_auto, __ATOMIC_RELAXED);
	out->live_bytes = __atomic_load_n(&sp->live_bytes, __ATOMIC_RELAXED);
	out->disk_free = __atomic_load_n(&sp->disk_free, __ATOMIC_RELAXED);
	out->min_free = __atomic_load_n(&sp->conf.min_free, __ATOMIC_RELAXED);
	out->disk_full = __atomic_load_n(&sp->disk_full, __ATOMIC_RELAXED) != 0;
	out->refuse = (unsigned)__atomic_load_n(&sp->refuse, __ATOMIC_RELAXED);
	out->refusing = out->refuse || out->disk_full ||
			(out->high_water && out->live_bytes >= out->high_water) ||
			(out->min_free && out->disk_free < out->min_free);
}

uint64_t spool_bytes(struct spool *sp)
{
	return __atomic_load_n(&sp->bytes, __ATOMIC_RELAXED);
}

static void stats_fold(struct spool_stats *out, const struct spool_stats *in)
{
	const uint64_t *src = (const uint64_t *)in;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < SPOOL_STAT_COUNT; i++) {
		uint64_t v = __atomic_load_n(&src[i], __ATOMIC_RELAXED);

		if (stat_kinds[i] == SPOOL_STAT_MAX)
			dst[i] = v > dst[i] ? v : dst[i];
		else
			dst[i] += v;
	}
}

void spool_stats_read(struct spool *sp, struct spool_stats *out)
{
	memset(out, 0, sizeof(*out));
	stats_fold(out, &sp->st);
	for (unsigned i = 0; i < sp->conf.workers; i++)
		stats_fold(out, &sp->w[i].st);
	for (unsigned i = 0; i < sp->conf.commit_threads; i++)
		stats_fold(out, &sp->ct[i].st);
}

const char *spool_stat_name(size_t i)
{
	return i < SPOOL_STAT_COUNT ? stat_names[i] : NULL;
}

unsigned spool_commit_threads(const struct spool *sp)
{
	return sp->conf.commit_threads;
}

void spool_commit_hist_read(struct spool *sp, unsigned i, struct mx_hist *h)
{
	if (i < sp->conf.commit_threads)
		mx_hist_merge(h, &sp->ct[i].lat);
}
