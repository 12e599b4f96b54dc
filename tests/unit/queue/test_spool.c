/*
 * test_spool.c - the spool end to end on a temporary directory: group commit
 * with real commit threads, reading back, recovery of every crash point,
 * torn tails cut at every byte, done log replay, segment deletion, queue ids
 * across restarts, ENOSPC/EIO through the I/O seam, back-pressure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "spool_test_util.h"

static char tmp[256];

static int setup(void **state)
{
	(void)state;
	tu_tmpdir(tmp, sizeof(tmp), "spool");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rm_rf(tmp);
	return 0;
}

static struct spool_conf conf_for(const char *dir, unsigned workers)
{
	struct spool_conf c;

	spool_conf_defaults(&c);
	c.dir = dir;
	c.workers = workers;
	c.maint_interval_ms = 0; /* tests call spool_maintain() themselves */
	c.buf_size = 64 * 1024;
	c.commit_interval_us = 100;
	return c;
}

static struct spool *open_spool(const struct spool_conf *c)
{
	struct spool *sp = spool_create(c);

	if (!sp)
		fprintf(stderr, "spool_create(%s): %s\n", c->dir, strerror(errno));
	assert_non_null(sp);
	return sp;
}

/* Stop writers and the spool, then free it. */
static void close_spool(struct spool *sp, unsigned workers)
{
	for (unsigned i = 0; i < workers; i++)
		spool_worker_flush(spool_worker_get(sp, i));
	spool_stop(sp);
	spool_destroy(sp);
}

static size_t count_recovered(struct spool *sp, struct spool_qid *out, size_t max)
{
	struct spool_msginfo mi;
	size_t cur = 0, n = 0;

	while (spool_recovered_next(sp, &cur, &mi) == 1) {
		if (out && n < max)
			out[n] = mi.qid;
		n++;
	}
	return n;
}

static size_t count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0, sl = strlen(suffix);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Read @qid back and compare with body @seed of @len bytes. */
static void check_message(struct spool *sp, const struct spool_qid *qid, size_t len, unsigned seed,
			  uint32_t nrcpt)
{
	struct spool_reader *rd = spool_reader_open(sp, qid);
	struct spool_envelope env;
	struct spool_rcpt r[3];
	const uint8_t *data;
	uint32_t n;
	size_t off = 0;
	int rc;

	assert_non_null(rd);
	assert_int_equal(spool_reader_envelope(rd, &env, r, 3), 0);
	assert_int_equal(env.nrcpt, nrcpt);
	assert_string_equal(env.helo, "client.example.test");
	assert_string_equal(env.mail_from, "sender@example.test");
	assert_string_equal(r[0].addr, "alice@example.test");
	while ((rc = spool_reader_body(rd, &data, &n)) == 1) {
		for (uint32_t k = 0; k < n; k++) {
			if (data[k] != tu_body_byte(seed, off + k))
				fail_msg("body byte %zu differs", off + k);
		}
		off += n;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(off, len);
	assert_int_equal(spool_reader_body(rd, &data, &n), 0);
	spool_reader_close(rd);
}

/* ---------------------------------------------------------------- */

static void test_commit_and_read_back(void **state)
{
	struct spool_conf c = conf_for(tmp, 1);
	struct spool_msg m[10];
	struct spool_cpl cpl[10];
	struct spool_qid ids[10];
	struct spool_stats st;
	struct spool *sp;
	struct spool_worker *w;
	size_t lens[10];
	(void)state;

	sp = open_spool(&c);
	assert_int_equal(count_recovered(sp, NULL, 0), 0);
	assert_int_equal(spool_start(sp), 0);
	w = spool_worker_get(sp, 0);
	assert_null(spool_worker_get(sp, 1));
	for (unsigned i = 0; i < 10; i++) {
		lens[i] = i * 9000 + (i & 1); /* 0 .. 81 KiB: some span buffers */
		assert_int_equal(spool_admit(w), 0);
		assert_int_equal(tu_send(w, &m[i], 1 + i % 3, lens[i], i, 1000 + i * 50, 100 + i),
				 0);
		ids[i] = m[i].qid;
	}
	assert_int_equal(tu_wait(w, cpl, 10), 10);
	for (unsigned i = 0; i < 10; i++) {
		assert_int_equal(cpl[i].status, 0);
		assert_int_equal(cpl[i].cookie, 100 + i); /* one worker: in order */
		assert_true(spool_qid_eq(&cpl[i].qid, &ids[i]));
	}
	for (unsigned i = 0; i < 10; i++)
		check_message(sp, &ids[i], lens[i], i, 1 + i % 3);
	assert_int_equal(spool_msg_count(sp), 10);
	spool_stats_read(sp, &st);
	assert_int_equal(st.msgs_committed, 10);
	assert_true(st.fdatasyncs >= 1);
	assert_int_equal(st.msgs_failed, 0);
	assert_non_null(spool_stat_name(0));
	assert_null(spool_stat_name(SPOOL_STAT_COUNT));
	close_spool(sp, 1);

	/* restart: everything comes back, readable */
	sp = open_spool(&c);
	struct spool_qid rec[10];
	assert_int_equal(count_recovered(sp, rec, 10), 10);
	for (unsigned i = 0; i < 10; i++) {
		assert_true(spool_qid_eq(&rec[i], &ids[i])); /* qid order */
		check_message(sp, &ids[i], lens[i], i, 1 + i % 3);
		assert_int_equal(spool_rcpt_state(sp, &ids[i], 0), SPOOL_RCPT_PENDING);
	}
	spool_stats_read(sp, &st);
	assert_int_equal(st.recovered_msgs, 10);
	assert_int_equal(st.torn_tails_cut, 0);
	spool_destroy(sp);
}

/* ---------------------------------------------------------------- */

/* Produce a segment with several interleaved messages; return its bytes. */
struct golden {
	uint8_t *bytes;
	size_t size;
	char name[32];
	unsigned nmsg;
	struct spool_qid qid[8];
	size_t end_at[8]; /* file offset just after the message's END */
	size_t rec_end[64];
	unsigned nrec;
};

static void make_golden(struct golden *g)
{
	char dir[256], path[512];
	struct spool_conf c;
	struct spool *sp;
	struct spool_worker *w;
	struct spool_msg a, b, d;
	struct spool_envelope env = tu_env(2);
	struct spool_cpl cpl[4];
	uint8_t body[300];
	struct stat st;
	DIR *dd;
	struct dirent *de;
	int fd;

	tu_tmpdir(dir, sizeof(dir), "gold");
	c = conf_for(dir, 1);
	sp = open_spool(&c);
	assert_int_equal(spool_start(sp), 0);
	w = spool_worker_get(sp, 0);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&d, 0, sizeof(d));
	tu_fill(body, sizeof(body), 1, 0);
	/* a and b interleave; d is aborted halfway (never a message); then c */
	assert_int_equal(spool_msg_begin(w, &a, &env), 0);
	assert_int_equal(spool_msg_body(w, &a, body, 100), 100);
	assert_int_equal(spool_msg_begin(w, &b, &env), 0);
	assert_int_equal(spool_msg_body(w, &b, body, 50), 50);
	assert_int_equal(spool_msg_body(w, &a, body + 100, 120), 120);
	assert_int_equal(spool_msg_begin(w, &d, &env), 0);
	assert_int_equal(spool_msg_body(w, &d, body, 30), 30);
	assert_int_equal(spool_msg_end(w, &b, 2), 0);
	spool_msg_abort(w, &d);
	assert_int_equal(spool_msg_body(w, &a, body + 220, 80), 80);
	assert_int_equal(spool_msg_end(w, &a, 1), 0);
	assert_int_equal(tu_wait(w, cpl, 2), 2);
	struct spool_msg e;
	assert_int_equal(tu_send(w, &e, 1, 200, 3, 64, 3), 0);
	assert_int_equal(tu_wait(w, cpl, 1), 1);
	assert_int_equal(cpl[0].status, 0);
	close_spool(sp, 1);

	snprintf(path, sizeof(path), "%s/0", dir);
	dd = opendir(path);
	assert_non_null(dd);
	g->name[0] = 0;
	while ((de = readdir(dd))) {
		if (strstr(de->d_name, ".seg") && strlen(de->d_name) < sizeof(g->name))
			memcpy(g->name, de->d_name, strlen(de->d_name) + 1);
	}
	closedir(dd);
	assert_true(g->name[0] != 0);
	snprintf(path, sizeof(path), "%s/0/%s", dir, g->name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	g->size = (size_t)st.st_size;
	g->bytes = malloc(g->size);
	assert_int_equal(read(fd, g->bytes, g->size), (ssize_t)g->size);
	close(fd);
	tu_rm_rf(dir);

	/* index the records: the test's own view of the file */
	struct spool_rec_hdr h;
	struct spool_filehdr fh;
	assert_int_equal(spool_rec_check(g->bytes, g->size, 0, &h), SPOOL_FILEHDR_LEN);
	assert_int_equal(spool_filehdr_decode(g->bytes + SPOOL_REC_HDR_LEN, h.len, &fh), 0);
	g->nmsg = 0;
	g->nrec = 0;
	for (size_t pos = SPOOL_FILEHDR_LEN; pos < g->size;) {
		long n = spool_rec_check(g->bytes + pos, g->size - pos, fh.salt, &h);

		assert_true(n > 0);
		pos += (size_t)n;
		g->rec_end[g->nrec++] = pos;
		if (h.type == SPOOL_REC_END) {
			g->qid[g->nmsg] = h.qid;
			g->end_at[g->nmsg++] = pos;
		}
	}
	assert_int_equal(g->nmsg, 3); /* b, a, e; d has no END */
	assert_true(g->nrec >= 10);
}

/* Write @g's first @len bytes (+ @extra) as the only segment under @dir. */
static void plant(const struct golden *g, const char *dir, size_t len, const uint8_t *extra,
		  size_t nextra)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/0", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/0/%s", dir, g->name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, g->bytes, len), (ssize_t)len);
	if (nextra)
		assert_int_equal(write(fd, extra, nextra), (ssize_t)nextra);
	close(fd);
}

static off_t seg_size_of(const struct golden *g, const char *dir)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/0/%s", dir, g->name);
	if (stat(path, &st) != 0)
		return -1;
	return st.st_size;
}

/* Recover @dir and check exactly the messages whose END lies within @intact. */
static void expect_recovery(const struct golden *g, const char *dir, size_t intact)
{
	struct spool_conf c = conf_for(dir, 1);
	struct spool_qid got[8];
	struct spool *sp = open_spool(&c);
	size_t n = count_recovered(sp, got, 8), want = 0;

	for (unsigned i = 0; i < g->nmsg; i++) {
		if (g->end_at[i] > intact)
			continue;
		bool found = false;

		for (size_t k = 0; k < n; k++)
			found |= spool_qid_eq(&got[k], &g->qid[i]);
		if (!found)
			fail_msg("message %u (END at %zu) lost at cut %zu", i, g->end_at[i],
				 intact);
		want++;
	}
	if (n != want)
		fail_msg("cut %zu: %zu recovered, %zu expected", intact, n, want);
	spool_destroy(sp);
}

static size_t last_record_end(const struct golden *g, size_t len)
{
	size_t end = SPOOL_FILEHDR_LEN;

	for (unsigned i = 0; i < g->nrec; i++) {
		if (g->rec_end[i] <= len)
			end = g->rec_end[i];
	}
	return end;
}

static void test_torn_tail_every_offset(void **state)
{
	struct golden g;
	char dir[256];
	(void)state;

	make_golden(&g);
	for (size_t len = 0; len <= g.size; len++) {
		tu_tmpdir(dir, sizeof(dir), "torn");
		plant(&g, dir, len, NULL, 0);
		expect_recovery(&g, dir, len);
		/* the file is cut to its last intact record; it is removed when
		 * no complete message is left in it */
		off_t sz = seg_size_of(&g, dir);

		if (len < g.end_at[0])
			assert_int_equal(sz, -1);
		else
			assert_int_equal(sz, (off_t)last_record_end(&g, len));
		/* a second recovery finds nothing more to cut (sampled: each
		 * recovery costs a few fsyncs) */
		if (len % 5 == 0 || len == g.size) {
			struct spool_conf c = conf_for(dir, 1);
			struct spool *sp = open_spool(&c);
			struct spool_stats st;

			spool_stats_read(sp, &st);
			assert_int_equal(st.torn_tails_cut, 0);
			spool_destroy(sp);
		}
		tu_rm_rf(dir);
	}
	free(g.bytes);
}

static void test_crash_points_with_garbage(void **state)
{
	struct golden g;
	char dir[256];
	uint8_t junk[700];
	(void)state;

	make_golden(&g);
	srand(7);
	/* every record boundary, followed by what a crash can leave behind */
	for (unsigned r = 0; r <= g.nrec; r++) {
		size_t at = r == 0 ? SPOOL_FILEHDR_LEN : g.rec_end[r - 1];

		for (int kind = 0; kind < 4; kind++) {
			size_t nj = 1 + (size_t)rand() % sizeof(junk);

			if (kind == 0) {
				for (size_t k = 0; k < nj; k++)
					junk[k] = (uint8_t)rand();
			} else if (kind == 1) {
				memset(junk, 0, nj); /* extended but unwritten blocks */
			} else if (kind == 2) {
				/* the next real record, torn short (the write
				 * that was under way) */
				size_t next = r < g.nrec ? g.rec_end[r] - at : 0;

				if (next == 0)
					continue;
				nj = 1 + (size_t)rand() % (next - 1);
				memcpy(junk, g.bytes + at, nj);
			} else {
				/* an intact record, but not written here (stale
				 * blocks): its offset field must give it away */
				if (at == SPOOL_FILEHDR_LEN)
					continue;
				nj = g.rec_end[0] - SPOOL_FILEHDR_LEN;
				memcpy(junk, g.bytes + SPOOL_FILEHDR_LEN, nj);
			}
			tu_tmpdir(dir, sizeof(dir), "crash");
			plant(&g, dir, at, junk, nj);
			expect_recovery(&g, dir, at);
			assert_int_equal(seg_size_of(&g, dir), at < g.end_at[0] ? -1 : (off_t)at);
			tu_rm_rf(dir);
		}
	}
	free(g.bytes);
}

static void test_damage_inside_is_kept(void **state)
{
	struct golden g;
	char dir[256];
	struct spool_stats st;
	(void)state;

	make_golden(&g);
	/* flip one byte inside the first record after the header: every other
	 * message must survive, the damaged one must not, and the file stays */
	size_t mid = SPOOL_FILEHDR_LEN + 45;
	uint8_t *copy = malloc(g.size);

	memcpy(copy, g.bytes, g.size);
	copy[mid] ^= 0x01;
	tu_tmpdir(dir, sizeof(dir), "dmg");
	struct golden g2 = g;
	g2.bytes = copy;
	plant(&g2, dir, g.size, NULL, 0);
	struct spool_conf c = conf_for(dir, 1);
	struct spool *sp = open_spool(&c);
	spool_stats_read(sp, &st);
	assert_int_equal(st.corrupt_regions, 1);
	assert_int_equal(st.torn_tails_cut, 0);
	/* the first record is a's ENVELOPE: a is lost, b and e are not */
	assert_int_equal(count_recovered(sp, NULL, 0), 2);
	spool_destroy(sp);
	assert_int_equal(seg_size_of(&g, dir), (off_t)g.size);
	tu_rm_rf(dir);
	free(copy);
	free(g.bytes);
}

/* ---------------------------------------------------------------- */

static void test_done_log_replay(void **state)
{
	struct spool_conf c = conf_for(tmp, 1);
	struct spool_msg m[3];
	struct spool_cpl cpl[3];
	struct spool_qid id[3];
	struct spool_msginfo mi;
	struct spool_stats st;
	struct spool *sp;
	struct spool_worker *w;
	char segdir[300];
	(void)state;

	sp = open_spool(&c);
	assert_int_equal(spool_start(sp), 0);
	w = spool_worker_get(sp, 0);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(tu_send(w, &m[i], 3, 2000, i, 500, i), 0);
		id[i] = m[i].qid;
	}
	assert_int_equal(tu_wait(w, cpl, 3), 3);
	/* A: all delivered; B: delivered, held, held->released; C: nothing */
	for (uint32_t r = 0; r < 3; r++)
		assert_int_equal(spool_rcpt_mark(sp, &id[0], r, SPOOL_RCPT_DELIVERED), 0);
	assert_int_equal(spool_rcpt_mark(sp, &id[0], 0, SPOOL_RCPT_DELIVERED), -ENOENT);
	assert_int_equal(spool_rcpt_mark(sp, &id[1], 0, SPOOL_RCPT_DELIVERED), 0);
	assert_int_equal(spool_rcpt_mark(sp, &id[1], 1, SPOOL_RCPT_HELD), 0);
	assert_int_equal(spool_rcpt_mark(sp, &id[1], 2, SPOOL_RCPT_HELD), 0);
	assert_int_equal(spool_rcpt_mark(sp, &id[1], 2, SPOOL_RCPT_RELEASED), 0);
	assert_int_equal(spool_rcpt_mark(sp, &id[1], 3, SPOOL_RCPT_HELD), -EINVAL);
	assert_int_equal(spool_rcpt_mark(sp, &id[1], 0, SPOOL_RCPT_PENDING), -EINVAL);
	assert_int_equal(spool_msg_count(sp), 2);
	close_spool(sp, 1);

	sp = open_spool(&c);
	size_t cur = 0;
	assert_int_equal(spool_recovered_next(sp, &cur, &mi), 1);
	assert_true(spool_qid_eq(&mi.qid, &id[1]));
	assert_int_equal(mi.nrcpt, 3);
	assert_int_equal(mi.npending, 2);
	assert_int_equal(mi.rcpt_state[0], SPOOL_RCPT_DELIVERED);
	assert_int_equal(mi.rcpt_state[1], SPOOL_RCPT_HELD);
	assert_int_equal(mi.rcpt_state[2], SPOOL_RCPT_PENDING);
	assert_int_equal(spool_recovered_next(sp, &cur, &mi), 1);
	assert_true(spool_qid_eq(&mi.qid, &id[2]));
	assert_int_equal(mi.npending, 3);
	assert_int_equal(spool_recovered_next(sp, &cur, &mi), 0);
	spool_stats_read(sp, &st);
	assert_int_equal(st.recovered_msgs, 2);
	assert_int_equal(st.recovered_rcpts, 4); /* held ones are not to deliver */
	assert_int_equal(st.recovered_done_msgs, 1);
	assert_int_equal(spool_rcpt_state(sp, &id[1], 1), SPOOL_RCPT_HELD);
	assert_int_equal(spool_rcpt_state(sp, &id[0], 1), -ENOENT);
	/* the rewritten done log is replayed the same way after another restart */
	spool_destroy(sp);
	sp = open_spool(&c);
	assert_int_equal(count_recovered(sp, NULL, 0), 2);
	assert_int_equal(spool_rcpt_state(sp, &id[1], 1), SPOOL_RCPT_HELD);
	assert_int_equal(spool_start(sp), 0);
	/* finish everything: the segment goes */
	assert_int_equal(spool_rcpt_mark(sp, &id[1], 1, SPOOL_RCPT_DELETED), 0);
	assert_int_equal(spool_rcpt_mark(sp, &id[1], 2, SPOOL_RCPT_DELIVERED), 0);
	for (uint32_t r = 0; r < 3; r++)
		assert_int_equal(spool_rcpt_mark(sp, &id[2], r, SPOOL_RCPT_DELIVERED), 0);
	assert_int_equal(spool_msg_count(sp), 0);
	assert_int_equal(spool_maintain(sp), 1);
	snprintf(segdir, sizeof(segdir), "%s/0", tmp);
	assert_int_equal(count_files(segdir, ".seg"), 0);
	assert_int_equal(spool_bytes(sp), 0);
	close_spool(sp, 1);
	sp = open_spool(&c);
	assert_int_equal(count_recovered(sp, NULL, 0), 0);
	spool_destroy(sp);
}

/* What the on_recover hook saw (background recovery). */
struct bg_seen {
	pthread_mutex_t mu;
	struct spool_qid id[64];
	uint8_t st[64][3];
	size_t n;
	struct spool *sp;
	bool readable; /* every message could be read back inside the hook */
};

static void bg_on_recover(void *arg, const struct spool_msginfo *mi)
{
	struct bg_seen *b = arg;
	struct spool_reader *rd = spool_reader_open(b->sp, &mi->qid);

	if (!rd || spool_rcpt_state(b->sp, &mi->qid, 0) < 0)
		b->readable = false;
	spool_reader_close(rd);
	pthread_mutex_lock(&b->mu);
	if (b->n < 64) {
		b->id[b->n] = mi->qid;
		memcpy(b->st[b->n], mi->rcpt_state, mi->nrcpt < 3 ? mi->nrcpt : 3);
	}
	b->n++;
	pthread_mutex_unlock(&b->mu);
}

/*
 * Recovery in the background (issue 15, defect 4): spool_create() only cuts
 * the newest segment's torn tail and opens the done log; new mail is
 * accepted into new segments while a thread verifies the old ones and hands
 * each message over once, with the done log's states applied - the same
 * set, and the same states, as a recovery done before start. Marks made
 * during and after it survive the done log's compaction.
 */
static void test_background_recovery(void **state)
{
	struct spool_conf c = conf_for(tmp, 1);
	struct spool_msg m[12], nm;
	struct spool_cpl cpl[12];
	struct spool_qid id[12], sync_id[12];
	struct bg_seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER, .readable = true};
	struct spool_recovery_info ri;
	struct spool_msginfo mi;
	struct spool_stats st;
	struct spool_worker *w;
	struct spool *sp;
	char path[600];
	size_t nsync, cur = 0;
	int fd;
	(void)state;

	c.buf_size = 4096;
	c.segment_size = 8192; /* several segments, messages across them */
	sp = open_spool(&c);
	assert_int_equal(spool_start(sp), 0);
	w = spool_worker_get(sp, 0);
	for (unsigned i = 0; i < 12; i++) {
		assert_int_equal(tu_send(w, &m[i], 3, 3000, i, 700, i), 0);
		id[i] = m[i].qid;
	}
	assert_int_equal(tu_wait(w, cpl, 12), 12);
	/* 0: all delivered; 1: delivered + held; 2: held then released */
	for (uint32_t r = 0; r < 3; r++)
		assert_int_equal(spool_rcpt_mark(sp, &id[0], r, SPOOL_RCPT_DELIVERED), 0);
	assert_int_equal(spool_rcpt_mark(sp, &id[1], 0, SPOOL_RCPT_DELIVERED), 0);
	assert_int_equal(spool_rcpt_mark(sp, &id[1], 1, SPOOL_RCPT_HELD), 0);
	assert_int_equal(spool_rcpt_mark(sp, &id[2], 2, SPOOL_RCPT_HELD), 0);
	assert_int_equal(spool_rcpt_mark(sp, &id[2], 2, SPOOL_RCPT_RELEASED), 0);
	close_spool(sp, 1);
	snprintf(path, sizeof(path), "%s/0", tmp);
	assert_true(count_files(path, ".seg") > 3);
	/* garbage at the end of the newest segment: torn tail */
	{
		DIR *d = opendir(path);
		struct dirent *de;
		char newest[256] = "";

		while ((de = readdir(d)))
			if (strstr(de->d_name, ".seg") && strcmp(de->d_name, newest) > 0)
				snprintf(newest, sizeof(newest), "%s", de->d_name);
		closedir(d);
		snprintf(path, sizeof(path), "%s/0/%s", tmp, newest);
		fd = open(path, O_WRONLY | O_APPEND);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "garbage garbage garbage", 23), 23);
		close(fd);
	}

	/* the reference: recovery before start, then nothing written */
	sp = open_spool(&c);
	nsync = count_recovered(sp, sync_id, 12);
	assert_int_equal(nsync, 11);
	spool_stats_read(sp, &st);
	assert_int_equal(st.torn_tails_cut, 1);
	spool_destroy(sp);

	/* background: nothing before start, everything after, once */
	c.recover_background = true;
	c.on_recover = bg_on_recover;
	c.on_recover_arg = &seen;
	sp = open_spool(&c);
	seen.sp = sp;
	assert_int_equal(spool_recovered_next(sp, &cur, &mi), 0);
	spool_recovery_read(sp, &ri);
	assert_int_equal(ri.state, SPOOL_RECOVERY_NONE);
	assert_true(ri.segs_total > 3);
	assert_int_equal(spool_start(sp), 0);
	w = spool_worker_get(sp, 0);
	/* new mail is accepted while (or after) the backlog is verified */
	assert_int_equal(tu_send(w, &nm, 1, 500, 99, 500, 99), 0);
	assert_int_equal(tu_wait(w, cpl, 1), 1);
	assert_int_equal(cpl[0].status, 0);
	assert_int_equal(spool_recovery_wait(sp, 10000), 0);
	spool_recovery_read(sp, &ri);
	assert_int_equal(ri.state, SPOOL_RECOVERY_DONE);
	assert_int_equal(ri.segs_done, ri.segs_total);
	assert_int_equal(ri.bytes_done, ri.bytes_total);
	assert_int_equal(ri.msgs, 11);
	assert_int_equal(seen.n, 11);
	assert_true(seen.readable);
	for (size_t i = 0; i < nsync; i++) {
		size_t k = 0;

		while (k < seen.n && !spool_qid_eq(&seen.id[k], &sync_id[i]))
			k++;
		assert_true(k < seen.n); /* each one once: n == nsync */
		assert_true(spool_qid_cmp(&nm.qid, &sync_id[i]) > 0);
		if (spool_qid_eq(&sync_id[i], &id[1])) {
			assert_int_equal(seen.st[k][0], SPOOL_RCPT_DELIVERED);
			assert_int_equal(seen.st[k][1], SPOOL_RCPT_HELD);
			assert_int_equal(seen.st[k][2], SPOOL_RCPT_PENDING);
		}
		if (spool_qid_eq(&sync_id[i], &id[2]))
			assert_int_equal(seen.st[k][2], SPOOL_RCPT_PENDING);
	}
	assert_int_equal(spool_msg_count(sp), 12);
	/* marks after the compaction, of a recovered and of a new message */
	for (uint32_t r = 0; r < 3; r++)
		assert_int_equal(spool_rcpt_mark(sp, &id[3], r, SPOOL_RCPT_DELIVERED), 0);
	assert_int_equal(spool_rcpt_mark(sp, &id[4], 0, SPOOL_RCPT_DELIVERED), 0);
	assert_int_equal(spool_rcpt_mark(sp, &nm.qid, 0, SPOOL_RCPT_DELIVERED), 0);
	close_spool(sp, 1);

	/* what the next start finds agrees with all of it */
	c.recover_background = false;
	sp = open_spool(&c);
	assert_int_equal(count_recovered(sp, NULL, 0), 10);
	assert_int_equal(spool_rcpt_state(sp, &id[1], 0), SPOOL_RCPT_DELIVERED);
	assert_int_equal(spool_rcpt_state(sp, &id[1], 1), SPOOL_RCPT_HELD);
	assert_int_equal(spool_rcpt_state(sp, &id[4], 0), SPOOL_RCPT_DELIVERED);
	assert_int_equal(spool_rcpt_state(sp, &id[4], 1), SPOOL_RCPT_PENDING);
	assert_int_equal(spool_rcpt_state(sp, &id[3], 0), -ENOENT);
	assert_int_equal(spool_rcpt_state(sp, &nm.qid, 0), -ENOENT);
	spool_destroy(sp);
}

/* ---------------------------------------------------------------- */

/* ---------------------------------------------------------------- */

static void test_segments_rotate_and_go(void **state)
{
	struct spool_conf c = conf_for(tmp, 1);
	enum { N = 40 };
	struct spool_msg m[N];
	struct spool_cpl cpl[N];
	struct spool_qid id[N];
	size_t len[N];
	struct spool *sp;
	struct spool_worker *w;
	struct spool_stats st;
	char segdir[300];
	(void)state;

	c.buf_size = 16 * 1024;
	c.segment_size = 64 * 1024;
	sp = open_spool(&c);
	assert_int_equal(spool_start(sp), 0);
	w = spool_worker_get(sp, 0);
	for (unsigned i = 0; i < N; i++) {
		len[i] = i == 7 ? 150000 : 3000 + i * 10; /* #7 spans three segments */
		assert_int_equal(tu_send(w, &m[i], 2, len[i], i, 4096, i), 0);
		id[i] = m[i].qid;
		assert_int_equal(tu_wait(w, cpl + i, 1), 1);
		assert_int_equal(cpl[i].status, 0);
	}
	spool_stats_read(sp, &st);
	assert_true(st.segments_created >= 4);
	struct spool_msginfo mi;
	assert_int_equal(spool_msg_lookup(sp, &id[7], &mi), 0);
	assert_true(mi.last_seq >= mi.first_seq + 2);
	check_message(sp, &id[7], len[7], 7, 2);
	snprintf(segdir, sizeof(segdir), "%s/0", tmp);
	size_t before = count_files(segdir, ".seg");

	/* deliver the first half: only segments nobody needs any more go */
	for (unsigned i = 0; i < N / 2; i++) {
		for (uint32_t r = 0; r < 2; r++)
			assert_int_equal(spool_rcpt_mark(sp, &id[i], r, SPOOL_RCPT_DELIVERED), 0);
	}
	int del = spool_maintain(sp);
	assert_true(del >= 1);
	assert_int_equal(count_files(segdir, ".seg"), before - (size_t)del);
	for (unsigned i = N / 2; i < N; i++)
		check_message(sp, &id[i], len[i], i, 2);

	/* deliver the rest: every segment goes once closed */
	for (unsigned i = N / 2; i < N; i++) {
		for (uint32_t r = 0; r < 2; r++)
			assert_int_equal(spool_rcpt_mark(sp, &id[i], r, SPOOL_RCPT_DELIVERED), 0);
	}
	close_spool(sp, 1); /* stop closes the current segment and runs maintenance */
	assert_int_equal(count_files(segdir, ".seg"), 0);
	sp = open_spool(&c);
	assert_int_equal(count_recovered(sp, NULL, 0), 0);
	spool_destroy(sp);
}

static void test_open_message_protects_segments(void **state)
{
	struct spool_conf c = conf_for(tmp, 1);
	struct spool *sp;
	struct spool_worker *w;
	struct spool_msg slow, fast;
	struct spool_envelope env = tu_env(1);
	struct spool_cpl cpl[1];
	char segdir[300];
	(void)state;

	c.buf_size = 16 * 1024;
	c.segment_size = 64 * 1024;
	sp = open_spool(&c);
	assert_int_equal(spool_start(sp), 0);
	w = spool_worker_get(sp, 0);
	memset(&slow, 0, sizeof(slow));
	/* a slow message opens, many others pass and get delivered, the
	 * segments they lived in rotate out: the slow one's first segment
	 * must stay until it ends */
	assert_int_equal(spool_msg_begin(w, &slow, &env), 0);
	assert_int_equal(tu_body(w, &slow, 1000, 99, 1000), 0);
	for (unsigned i = 0; i < 30; i++) {
		assert_int_equal(tu_send(w, &fast, 1, 8000, i, 4096, i), 0);
		assert_int_equal(tu_wait(w, cpl, 1), 1);
		assert_int_equal(spool_rcpt_mark(sp, &fast.qid, 0, SPOOL_RCPT_DELIVERED), 0);
		spool_maintain(sp);
	}
	assert_int_equal(tu_body(w, &slow, 1000, 99, 1000), 0); /* bytes 0..999 again */
	assert_int_equal(spool_msg_end(w, &slow, 777), 0);
	assert_int_equal(tu_wait(w, cpl, 1), 1);
	assert_int_equal(cpl[0].status, 0);
	assert_int_equal(cpl[0].cookie, 777);
	spool_maintain(sp);
	/* readable end to end: its first segment survived */
	struct spool_reader *rd = spool_reader_open(sp, &slow.qid);
	const uint8_t *d;
	uint32_t n;
	size_t total = 0;
	int rc;
	assert_non_null(rd);
	while ((rc = spool_reader_body(rd, &d, &n)) == 1)
		total += n;
	assert_int_equal(rc, 0);
	assert_int_equal(total, 2000);
	spool_reader_close(rd);
	snprintf(segdir, sizeof(segdir), "%s/0", tmp);
	assert_true(count_files(segdir, ".seg") >= 1);
	close_spool(sp, 1);
}

/* ---------------------------------------------------------------- */

static void test_qid_unique_across_restart(void **state)
{
	struct spool_conf c = conf_for(tmp, 2);
	enum { N = 200 };
	static struct spool_qid ids[2 * 2 * N];
	size_t n = 0;
	(void)state;

	for (int boot = 0; boot < 2; boot++) {
		struct spool *sp = open_spool(&c);

		assert_int_equal(spool_start(sp), 0);
		for (unsigned wi = 0; wi < 2; wi++) {
			struct spool_worker *w = spool_worker_get(sp, wi);
			struct spool_msg m;
			struct spool_cpl cpl[1];

			for (unsigned i = 0; i < N; i++) {
				assert_int_equal(tu_send(w, &m, 1, 10, i, 10, i), 0);
				assert_int_equal(tu_wait(w, cpl, 1), 1);
				ids[n++] = m.qid;
				assert_int_equal(spool_qid_worker(&m.qid), wi);
			}
		}
		close_spool(sp, 2);
	}
	/* per worker strictly increasing across both boots, all distinct */
	for (size_t i = 0; i < n; i++) {
		for (size_t k = i + 1; k < n; k++) {
			assert_false(spool_qid_eq(&ids[i], &ids[k]));
			if (spool_qid_worker(&ids[i]) == spool_qid_worker(&ids[k]))
				assert_true(spool_qid_cmp(&ids[i], &ids[k]) < 0);
		}
	}
}

/* ---------------------------------------------------------------- */

struct feeder {
	struct spool *sp;
	unsigned wid;
	unsigned nmsg;
	unsigned seen_twice, bad_status;
	uint8_t *seen;
};

static void *feeder_main(void *arg)
{
	struct feeder *f = arg;
	struct spool_worker *w = spool_worker_get(f->sp, f->wid);
	enum { WINDOW = 64 };
	struct spool_msg m;
	struct spool_cpl cpl[WINDOW];
	unsigned sent = 0, done = 0, inflight = 0;
	uint64_t t0 = tu_now_ns();

	while (done < f->nmsg && tu_now_ns() - t0 < 10000000000ULL) {
		while (sent < f->nmsg && inflight < WINDOW) {
			if (tu_send(w, &m, 1, 1024, sent, 1024, sent) != 0)
				break;
			sent++;
			inflight++;
		}
		unsigned k = spool_worker_poll(w, cpl, WINDOW);

		for (unsigned i = 0; i < k; i++) {
			if (cpl[i].status != 0)
				f->bad_status++;
			if (f->seen[cpl[i].cookie]++)
				f->seen_twice++;
		}
		done += k;
		inflight -= k;
		if (!k)
			tu_sleep_us(20);
	}
	return NULL;
}

static void run_feeders(unsigned commit_threads)
{
	struct spool_conf c = conf_for(tmp, 2);
	enum { N = 3000 };
	struct feeder f[2];
	pthread_t th[2];
	struct spool_stats st;
	struct spool *sp;

	c.commit_threads = commit_threads;
	c.commit_interval_us = 300;
	c.commit_batch = 128;
	sp = open_spool(&c);
	assert_int_equal(spool_start(sp), 0);
	for (unsigned i = 0; i < 2; i++) {
		f[i] = (struct feeder){.sp = sp, .wid = i, .nmsg = N, .seen = calloc(N, 1)};
		pthread_create(&th[i], NULL, feeder_main, &f[i]);
	}
	for (unsigned i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(f[i].bad_status, 0);
		assert_int_equal(f[i].seen_twice, 0);
		for (unsigned k = 0; k < N; k++) {
			if (f[i].seen[k] != 1)
				fail_msg("worker %u message %u: %u completions", i, k,
					 f[i].seen[k]);
		}
		free(f[i].seen);
	}
	spool_stats_read(sp, &st);
	assert_int_equal(st.msgs_committed, 2 * N);
	assert_int_equal(st.sync_msgs, 2 * N);
	double per_sync = (double)st.sync_msgs / (double)st.sync_groups;

	printf("# %u commit thread(s): %llu msgs, %llu groups, %llu fdatasyncs, %.1f msgs/group, "
	       "avg commit latency %.0f us\n",
	       commit_threads, (unsigned long long)st.sync_msgs, (unsigned long long)st.sync_groups,
	       (unsigned long long)st.fdatasyncs, per_sync,
	       (double)st.commit_lat_ns_sum / (double)st.msgs_committed / 1000.0);
	assert_true(per_sync > 1.0);
	assert_int_equal(spool_msg_count(sp), 2 * N);
	close_spool(sp, 2);
	sp = open_spool(&c);
	assert_int_equal(count_recovered(sp, NULL, 0), 2 * N);
	spool_destroy(sp);
}

static void test_group_commit_two_workers(void **state)
{
	(void)state;
	run_feeders(1);
}

static void test_group_commit_two_threads(void **state)
{
	(void)state;
	run_feeders(2);
}

/* ---------------------------------------------------------------- */

static int inject_write, inject_sync;
static uint64_t fake_free = UINT64_MAX;
static uint64_t fake_fs_size; /* 0: the real file system size */

static ssize_t hook_pwrite(int fd, const void *b, size_t n, off_t off)
{
	int e = __atomic_load_n(&inject_write, __ATOMIC_RELAXED);

	if (e) {
		/* a full disk may take part of the write first */
		if (n > 100 && e == ENOSPC)
			return pwrite(fd, b, 100, off) < 0 ? -1 : (errno = ENOSPC, -1);
		errno = e;
		return -1;
	}
	return pwrite(fd, b, n, off);
}

static int hook_fdatasync(int fd)
{
	int e = __atomic_load_n(&inject_sync, __ATOMIC_RELAXED);

	if (e) {
		errno = e;
		return -1;
	}
	return fdatasync(fd);
}

static int hook_statvfs(const char *path, struct statvfs *st)
{
	int rc = statvfs(path, st);
	uint64_t ff = __atomic_load_n(&fake_free, __ATOMIC_RELAXED);

	uint64_t fs = __atomic_load_n(&fake_fs_size, __ATOMIC_RELAXED);

	if (rc == 0 && (ff != UINT64_MAX || fs)) {
		/* f_bavail and f_blocks in the unit the test sets */
		uint64_t avail = (uint64_t)st->f_bavail * st->f_frsize;
		uint64_t size = (uint64_t)st->f_blocks * st->f_frsize;

		st->f_frsize = 4096;
		st->f_bavail = (ff != UINT64_MAX ? ff : avail) / 4096;
		st->f_blocks = (fs ? fs : size) / 4096;
	}
	return rc;
}

static const struct spool_io_ops hooks = {hook_pwrite, hook_fdatasync, hook_statvfs};

static void test_enospc_and_eio(void **state)
{
	struct spool_conf c = conf_for(tmp, 1);
	struct spool *sp;
	struct spool_worker *w;
	struct spool_msg m, span;
	struct spool_cpl cpl[4];
	struct spool_qid ok[3];
	struct spool_stats st;
	struct spool_envelope env = tu_env(1);
	(void)state;

	c.io = &hooks;
	sp = open_spool(&c);
	assert_int_equal(spool_start(sp), 0);
	w = spool_worker_get(sp, 0);

	assert_int_equal(tu_send(w, &m, 1, 5000, 1, 1000, 1), 0);
	assert_int_equal(tu_wait(w, cpl, 1), 1);
	assert_int_equal(cpl[0].status, 0);
	ok[0] = m.qid;

	/* a message whose first bytes are written before the disk fills */
	memset(&span, 0, sizeof(span));
	assert_int_equal(spool_msg_begin(w, &span, &env), 0);
	assert_int_equal(tu_body(w, &span, 3000, 9, 1000), 0);
	spool_worker_flush(w);
	tu_sleep_us(20000); /* written */

	__atomic_store_n(&inject_write, ENOSPC, __ATOMIC_RELAXED);
	assert_int_equal(tu_body(w, &span, 3000, 9, 1000), 0);
	assert_int_equal(tu_send(w, &m, 1, 5000, 2, 1000, 2), 0);
	assert_int_equal(tu_wait(w, cpl, 1), 1);
	assert_int_equal(cpl[0].status, -ENOSPC);
	assert_int_equal(cpl[0].cookie, 2);
	assert_string_equal(spool_reply(cpl[0].status), "452 4.3.1 Insufficient system storage");
	assert_int_equal(spool_admit(w), -ENOSPC);
	spool_worker_flush(w);
	tu_sleep_us(20000);

	/* space is back: admission resumes after the next free-space check */
	__atomic_store_n(&inject_write, 0, __ATOMIC_RELAXED);
	assert_int_equal(spool_admit(w), -ENOSPC);
	spool_maintain(sp);
	assert_int_equal(spool_admit(w), 0);
	/* the message that straddled the failure cannot be acknowledged */
	assert_int_equal(spool_msg_end(w, &span, 3), 0);
	assert_int_equal(tu_wait(w, cpl, 1), 1);
	assert_int_equal(cpl[0].cookie, 3);
	assert_int_equal(cpl[0].status, -ENOSPC);
	/* new messages go through */
	assert_int_equal(tu_send(w, &m, 1, 5000, 4, 1000, 4), 0);
	assert_int_equal(tu_wait(w, cpl, 1), 1);
	assert_int_equal(cpl[0].status, 0);
	ok[1] = m.qid;
	check_message(sp, &ok[1], 5000, 4, 1);

	/* fdatasync fails: 451, and the stream moves on */
	__atomic_store_n(&inject_sync, EIO, __ATOMIC_RELAXED);
	assert_int_equal(tu_send(w, &m, 1, 5000, 5, 1000, 5), 0);
	assert_int_equal(tu_wait(w, cpl, 1), 1);
	assert_int_equal(cpl[0].status, -EIO);
	assert_string_equal(spool_reply(cpl[0].status), "451 4.3.0 Error: queue file write error");
	__atomic_store_n(&inject_sync, 0, __ATOMIC_RELAXED);
	assert_int_equal(tu_send(w, &m, 1, 5000, 6, 1000, 6), 0);
	assert_int_equal(tu_wait(w, cpl, 1), 1);
	assert_int_equal(cpl[0].status, 0);
	ok[2] = m.qid;

	spool_stats_read(sp, &st);
	assert_true(st.enospc_errors >= 1);
	assert_true(st.write_errors >= 1);
	assert_int_equal(st.sync_errors, 1);
	assert_int_equal(st.msgs_committed, 3);
	assert_int_equal(st.msgs_failed, 3);
	close_spool(sp, 1);

	/* recovery: the acknowledged three, nothing else; the failed ones
	 * may only come back as the fsync-failed one (data may have reached
	 * the disk after all: at-least-once, never a loss) */
	sp = open_spool(&c);
	struct spool_qid rec[8];
	size_t n = count_recovered(sp, rec, 8);
	assert_true(n == 3 || n == 4);
	for (int i = 0; i < 3; i++) {
		bool found = false;

		for (size_t k = 0; k < n; k++)
			found |= spool_qid_eq(&rec[k], &ok[i]);
		assert_true(found);
	}
	assert_int_equal(spool_rcpt_state(sp, &span.qid, 0), -ENOENT);
	spool_stats_read(sp, &st);
	assert_int_equal(st.corrupt_regions, 0);
	spool_destroy(sp);
}

static void test_back_pressure(void **state)
{
	struct spool_conf c = conf_for(tmp, 1);
	struct spool *sp;
	struct spool_worker *w;
	struct spool_msg m;
	struct spool_cpl cpl[1];
	struct spool_qid ids[64];
	unsigned n = 0;
	(void)state;

	c.io = &hooks;
	c.high_water = 100 * 1024;
	c.min_free = 1 << 20;
	sp = open_spool(&c);
	assert_int_equal(spool_start(sp), 0);
	w = spool_worker_get(sp, 0);
	while (spool_admit(w) == 0) {
		assert_true(n < 64);
		assert_int_equal(tu_send(w, &m, 1, 10000, n, 4096, n), 0);
		assert_int_equal(tu_wait(w, cpl, 1), 1);
		ids[n++] = m.qid;
	}
	assert_int_equal(spool_admit(w), -ENOSPC);
	assert_true(spool_bytes(sp) >= c.high_water);
	assert_true(n >= 9 && n <= 11);
	/* delivery drains below the mark (the current segment stays, so
	 * check only that bytes went down enough after a rotation-free
	 * drain: high water is measured on whole segment files) */
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(spool_rcpt_mark(sp, &ids[i], 0, SPOOL_RCPT_DELIVERED), 0);
	spool_maintain(sp);

	/* free disk below min_free */
	close_spool(sp, 1);
	c.high_water = 0;
	sp = open_spool(&c);
	assert_int_equal(spool_start(sp), 0);
	w = spool_worker_get(sp, 0);
	assert_int_equal(spool_admit(w), 0);
	__atomic_store_n(&fake_free, 512 * 1024, __ATOMIC_RELAXED);
	spool_maintain(sp);
	assert_int_equal(spool_admit(w), -ENOSPC);
	__atomic_store_n(&fake_free, UINT64_MAX, __ATOMIC_RELAXED);
	spool_maintain(sp);
	assert_int_equal(spool_admit(w), 0);
	/* refused from outside (next hop down) */
	spool_set_refuse(sp, 1);
	assert_int_equal(spool_admit(w), -EAGAIN);
	assert_string_equal(spool_reply(-EAGAIN), "452 4.3.1 Insufficient system storage");
	spool_set_refuse(sp, 0);
	assert_int_equal(spool_admit(w), 0);
	close_spool(sp, 1);
}

/*
 * Issue 15, defect 2: with no high_water configured the spool is still
 * bounded: a quarter of its file system (at least 64 MiB, at most 8 GiB),
 * answered 452 4.3.1 (-ENOSPC) like a configured mark, visible in
 * spool_pressure_read(), and it follows the file system's size.
 */
static void test_auto_high_water(void **state)
{
	struct spool_conf c = conf_for(tmp, 1);
	struct spool_pressure p;
	struct spool *sp;
	struct spool_worker *w;
	struct spool_msg m;
	struct spool_cpl cpl[1];
	unsigned n = 0;
	(void)state;

	assert_int_equal(spool_auto_high_water(0), 64ULL << 20);
	assert_int_equal(spool_auto_high_water(1ULL << 30), 256ULL << 20);
	assert_int_equal(spool_auto_high_water(1ULL << 40), 8ULL << 30);

	c.io = &hooks;
	c.high_water = 0; /* the example configuration */
	c.min_free = 0;
	__atomic_store_n(&fake_fs_size, 1ULL << 40, __ATOMIC_RELAXED);
	sp = open_spool(&c);
	spool_pressure_read(sp, &p);
	assert_true(p.high_water_auto);
	assert_int_equal(p.high_water, 8ULL << 30);
	/* a 256 MiB file system: the mark is its floor, 64 MiB */
	__atomic_store_n(&fake_fs_size, 256ULL << 20, __ATOMIC_RELAXED);
	assert_int_equal(spool_start(sp), 0);
	spool_maintain(sp);
	spool_pressure_read(sp, &p);
	assert_int_equal(p.high_water, 64ULL << 20);
	assert_false(p.refusing);
	w = spool_worker_get(sp, 0);
	while (spool_admit(w) == 0) {
		assert_true(n < 80);
		assert_int_equal(tu_send(w, &m, 1, 1 << 20, n, 8192, n), 0);
		assert_int_equal(tu_wait(w, cpl, 1), 1);
		assert_int_equal(cpl[0].status, 0);
		n++;
	}
	assert_int_equal(spool_admit(w), -ENOSPC);
	assert_int_equal(n, 64);
	spool_pressure_read(sp, &p);
	assert_true(p.refusing);
	assert_true(p.live_bytes >= p.high_water);
	/* the file system grew: the mark follows at the next maintenance */
	__atomic_store_n(&fake_fs_size, 1ULL << 30, __ATOMIC_RELAXED);
	spool_maintain(sp);
	assert_int_equal(spool_admit(w), 0);
	/* a configured mark wins over the automatic one */
	spool_set_limits(sp, 1 << 20, 0, 100, 256);
	assert_int_equal(spool_admit(w), -ENOSPC);
	spool_pressure_read(sp, &p);
	assert_false(p.high_water_auto);
	/* the backlog reason refuses like the next-hop one */
	spool_set_limits(sp, 0, 0, 100, 256);
	assert_int_equal(spool_admit(w), 0);
	spool_refuse_reason(sp, SPOOL_REFUSE_BACKLOG, 1);
	spool_set_refuse(sp, 1);
	assert_int_equal(spool_admit(w), -EAGAIN);
	spool_refuse_reason(sp, SPOOL_REFUSE_BACKLOG, 0);
	assert_int_equal(spool_admit(w), -EAGAIN); /* next hop still down */
	spool_set_refuse(sp, 0);
	assert_int_equal(spool_admit(w), 0);
	__atomic_store_n(&fake_fs_size, 0, __ATOMIC_RELAXED);
	close_spool(sp, 1);
}

static void test_staging_limits(void **state)
{
	struct spool_conf c = conf_for(tmp, 1);
	struct spool *sp;
	struct spool_worker *w;
	struct spool_msg m[3];
	struct spool_envelope env = tu_env(1);
	struct spool_cpl cpl[3];
	uint8_t big[16384];
	long r;
	(void)state;

	c.buf_size = 8192;
	c.bufs_per_worker = 2;
	c.max_inflight = 2;
	c.segment_size = 1 << 20;
	sp = open_spool(&c);
	w = spool_worker_get(sp, 0);
	/* commit thread not started: buffers run out, the worker is told */
	memset(m, 0, sizeof(m));
	assert_int_equal(spool_msg_begin(w, &m[0], &env), 0);
	tu_fill(big, sizeof(big), 1, 0);
	r = spool_msg_body(w, &m[0], big, sizeof(big));
	assert_true(r > 0 && r < (long)sizeof(big));
	assert_int_equal(spool_msg_body(w, &m[0], big + r, sizeof(big) - (size_t)r), -ENOBUFS);
	assert_int_equal(spool_admit(w), -ENOBUFS);
	assert_int_equal(spool_msg_body(w, &m[0], big, 0), 0);
	/* the envelope must fit one buffer */
	struct spool_rcpt many[200];
	for (int i = 0; i < 200; i++)
		many[i] = tu_rcpt[0];
	struct spool_envelope henv = tu_env(1);
	henv.nrcpt = 200;
	henv.rcpt = many;
	assert_int_equal(spool_msg_begin(w, &m[1], &henv), -E2BIG);
	/* once the commit thread runs, the rest goes in */
	assert_int_equal(spool_start(sp), 0);
	assert_int_equal(tu_body(w, &m[0], sizeof(big) - (size_t)r, 1, 4096), 0);
	assert_int_equal(spool_msg_end(w, &m[0], 0), 0);
	assert_int_equal(tu_send(w, &m[1], 1, 10, 1, 10, 1), 0);
	/* two in flight, nothing polled yet: the third end must wait */
	assert_int_equal(spool_msg_begin(w, &m[2], &env), 0);
	assert_int_equal(spool_msg_end(w, &m[2], 2), -ENOBUFS);
	assert_int_equal(tu_wait(w, cpl, 2), 2);
	assert_int_equal(spool_msg_end(w, &m[2], 2), 0);
	assert_int_equal(tu_wait(w, cpl, 1), 1);
	assert_int_equal(cpl[0].status, 0);
	/* misuse is refused, not crashed */
	assert_int_equal(spool_msg_end(w, &m[2], 2), -EINVAL);
	assert_int_equal(spool_msg_body(w, &m[2], big, 1), -EINVAL);
	spool_msg_abort(w, &m[2]);
	close_spool(sp, 1);
}

static void test_worker_dir_kept_when_workers_shrink(void **state)
{
	struct spool_conf c = conf_for(tmp, 3);
	struct spool *sp;
	struct spool_msg m;
	struct spool_cpl cpl[1];
	struct spool_qid id;
	(void)state;

	sp = open_spool(&c);
	assert_int_equal(spool_start(sp), 0);
	assert_int_equal(tu_send(spool_worker_get(sp, 2), &m, 2, 3000, 5, 1000, 1), 0);
	assert_int_equal(tu_wait(spool_worker_get(sp, 2), cpl, 1), 1);
	id = m.qid;
	close_spool(sp, 3);
	/* restart with one worker: worker 2's mail is still found and read */
	c.workers = 1;
	sp = open_spool(&c);
	assert_int_equal(count_recovered(sp, NULL, 0), 1);
	check_message(sp, &id, 3000, 5, 2);
	assert_int_equal(spool_start(sp), 0);
	assert_int_equal(spool_rcpt_mark(sp, &id, 0, SPOOL_RCPT_DELIVERED), 0);
	assert_int_equal(spool_rcpt_mark(sp, &id, 1, SPOOL_RCPT_DELIVERED), 0);
	assert_int_equal(spool_maintain(sp), 1);
	close_spool(sp, 1);
}

/* Segment names of worker directory 0, sorted (at most @max). */
static size_t list_segs(const char *root, char names[][32], size_t max)
{
	char path[300];
	DIR *d;
	struct dirent *de;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/0", root);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) && n < max) {
		if (strlen(de->d_name) == 20 && strstr(de->d_name, ".seg"))
			snprintf(names[n++], 32, "%s", de->d_name);
	}
	closedir(d);
	for (size_t i = 1; i < n; i++) /* insertion sort: a handful of names */
		for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
			char t[32];

			memcpy(t, names[k], 32);
			memcpy(names[k], names[k - 1], 32);
			memcpy(names[k - 1], t, 32);
		}
	return n;
}

static off_t file_size(const char *root, const char *rel)
{
	char path[400];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/*
 * Issue 15, defect 1: damage in a segment that is not the newest of its
 * worker is never cut (it may hold acknowledged mail): the file keeps every
 * byte, a quarantine link is made, it is counted, and every message whose
 * records are intact (before and after the damage) is still recovered.
 */
static void test_older_segment_damage_quarantined(void **state)
{
	struct spool_conf c = conf_for(tmp, 1);
	enum { N = 30 };
	struct spool_msg m[N];
	struct spool_cpl cpl[1];
	struct spool_qid id[N];
	char seg[16][32], rel[64], qrel[96];
	struct spool_stats st;
	struct spool *sp;
	struct spool_worker *w;
	size_t nseg;
	off_t sz0, sz1;
	(void)state;

	c.buf_size = 16 * 1024;
	c.segment_size = 64 * 1024;
	sp = open_spool(&c);
	assert_int_equal(spool_start(sp), 0);
	w = spool_worker_get(sp, 0);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(tu_send(w, &m[i], 1, 6000, i, 4096, i), 0);
		id[i] = m[i].qid;
		assert_int_equal(tu_wait(w, cpl, 1), 1);
		assert_int_equal(cpl[0].status, 0);
	}
	close_spool(sp, 1);
	nseg = list_segs(tmp, seg, 16);
	assert_true(nseg >= 3);

	/* A damaged tail in the oldest segment (nothing intact after it in
	 * that file) and a damaged region inside the second one. */
	snprintf(rel, sizeof(rel), "0/%s", seg[0]);
	sz0 = file_size(tmp, rel);
	{
		char path[400];
		uint8_t zeros[300] = {0};
		int fd;

		snprintf(path, sizeof(path), "%s/%s", tmp, rel);
		fd = open(path, O_WRONLY);
		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, zeros, sizeof(zeros), sz0 - (off_t)sizeof(zeros)),
				 (ssize_t)sizeof(zeros));
		close(fd);
		snprintf(path, sizeof(path), "%s/0/%s", tmp, seg[1]);
		sz1 = file_size(tmp, path + strlen(tmp) + 1);
		fd = open(path, O_WRONLY);
		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, zeros, 64, sz1 / 2), 64);
		close(fd);
	}

	sp = open_spool(&c);
	spool_stats_read(sp, &st);
	assert_int_equal(st.torn_tails_cut, 0);
	assert_int_equal(st.damaged_tails_kept, 1);
	assert_int_equal(st.corrupt_regions, 1);
	assert_true(st.quarantined_segments >= 2);
	/* never truncated, and kept aside for the operator */
	assert_int_equal(file_size(tmp, rel), sz0);
	snprintf(qrel, sizeof(qrel), "quarantine/0-%s", seg[0]);
	assert_int_equal(file_size(tmp, qrel), sz0);
	snprintf(qrel, sizeof(qrel), "quarantine/0-%s", seg[1]);
	assert_int_equal(file_size(tmp, qrel), sz1);
	/* every recovered message reads back intact; only those touching the
	 * two damaged spots are missing */
	struct spool_qid got[N];
	size_t n = count_recovered(sp, got, N);

	assert_true(n >= N - 4 && n < N);
	for (size_t k = 0; k < n; k++) {
		unsigned i = N;

		for (unsigned j = 0; j < N; j++)
			if (spool_qid_eq(&got[k], &id[j]))
				i = j;
		assert_true(i < N);
		check_message(sp, &id[i], 6000, i, 1);
	}
	/* messages after the damaged tail, in newer segments, are all there */
	for (unsigned j = N - 5; j < N; j++) {
		bool found = false;

		for (size_t k = 0; k < n; k++)
			found |= spool_qid_eq(&got[k], &id[j]);
		assert_true(found);
	}
	spool_destroy(sp);

	/* a second start finds the same, cuts nothing */
	sp = open_spool(&c);
	spool_stats_read(sp, &st);
	assert_int_equal(st.torn_tails_cut, 0);
	assert_int_equal(count_recovered(sp, NULL, 0), n);
	assert_int_equal(file_size(tmp, rel), sz0);
	spool_destroy(sp);
}

static void test_conf_rejects(void **state)
{
	struct spool_conf c = conf_for(tmp, 2);
	char file[300];
	int fd;
	(void)state;

	c.dir = NULL;
	errno = 0;
	assert_null(spool_create(&c));
	assert_int_equal(errno, EINVAL);
	c = conf_for(tmp, 0);
	assert_null(spool_create(&c));
	c = conf_for(tmp, 2);
	c.commit_threads = 3;
	assert_null(spool_create(&c));
	c = conf_for(tmp, 2);
	c.buf_size = 100;
	assert_null(spool_create(&c));
	c = conf_for(tmp, 2);
	c.segment_size = c.buf_size;
	assert_null(spool_create(&c));
	/* the spool path is a file */
	snprintf(file, sizeof(file), "%s/file", tmp);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	close(fd);
	c = conf_for(file, 1);
	errno = 0;
	assert_null(spool_create(&c));
	assert_int_equal(errno, ENOTDIR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_and_read_back, setup, teardown),
		cmocka_unit_test(test_torn_tail_every_offset),
		cmocka_unit_test(test_crash_points_with_garbage),
		cmocka_unit_test(test_damage_inside_is_kept),
		cmocka_unit_test_setup_teardown(test_done_log_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_background_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segments_rotate_and_go, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_message_protects_segments, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_qid_unique_across_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_two_workers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_two_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_and_eio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_back_pressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_high_water, setup, teardown),
		cmocka_unit_test_setup_teardown(test_staging_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker_dir_kept_when_workers_shrink, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_conf_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_older_segment_damage_quarantined, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
