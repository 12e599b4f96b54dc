/*
 * grey_snap.c - the greylist table on disk (greylist.h, "snapshot").
 *
 * FORMAT (little-endian). A 32-octet header: magic "MXGREY01", version 1
 * (u32), the digest key (16 octets: the digests in the records are only
 * meaningful with it), CRC32C of the previous 28 octets. Then one record
 * per entry: CRC32C (u32) of the rest of the record, kind (u8), flags (u8:
 * 1 passed), text length (u16), first, last, passes (u32 each), the digest
 * (2 x u64), the text. A file is valid up to its last intact record: a
 * torn or corrupted tail is cut at load (and said), never a crash.
 *
 * WRITING. The entries are copied into one buffer on the control thread
 * (a walk of the table: memory speed), then a thread of its own writes
 * @path.tmp, fsyncs it, renames it over @path and fsyncs the directory, so
 * the control loop never waits for the disk and a crash at any point
 * leaves the previous snapshot or the new one, whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "core/log.h"
#include "policy/greylist.h"

#define SNAP_MAGIC   "MXGREY01"
#define SNAP_VERSION 1
#define SNAP_HDR     32
#define SNAP_REC     36

void **grey_snap_state(struct grey_table *g);

struct snap_state {
	pthread_t th;
	bool running;
	long result;
	char *buf;
	size_t len;
	char path[PATH_MAX];
};

/* ---- CRC32C (Castagnoli), table-driven --------------------------------------- */

static uint32_t crc_tab[256];

__attribute__((constructor)) static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_tab[i] = c;
	}
}

static uint32_t crc32c(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t c = ~0u;

	while (len--)
		c = crc_tab[(c ^ *b++) & 0xff] ^ (c >> 8);
	return ~c;
}

/* ---- building the buffer --------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void *sbuf_room(struct sbuf *b, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1 << 16;
		char *np;
		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return NULL;
		}
		b->p = np;
		b->cap = cap;
	}
	b->len += n;
	return b->p + b->len - n;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static int add_record(void *arg, const struct grey_info *e)
{
	struct sbuf *b = arg;
	size_t tl = strnlen(e->text, GREY_TEXT_MAX - 1);
	uint8_t *r = sbuf_room(b, SNAP_REC + tl);

	if (!r)
		return 1;
	r[4] = e->kind;
	r[5] = e->passed ? 1 : 0;
	r[6] = (uint8_t)tl;
	r[7] = 0;
	put32(r + 8, e->first);
	put32(r + 12, e->last);
	put32(r + 16, e->passes);
	memcpy(r + 20, &e->h[0], 8);
	memcpy(r + 28, &e->h[1], 8);
	memcpy(r + SNAP_REC, e->text, tl);
	put32(r, crc32c(r + 4, SNAP_REC - 4 + tl));
	return 0;
}

/* The whole snapshot of @g in @b; the number of entries, or -ENOMEM. */
static long build(struct grey_table *g, struct sbuf *b)
{
	uint8_t *h = sbuf_room(b, SNAP_HDR);
	size_t n;

	if (!h)
		return -ENOMEM;
	memcpy(h, SNAP_MAGIC, 8);
	put32(h + 8, SNAP_VERSION);
	grey_seed(g, h + 12);
	put32(h + 28, crc32c(h, 28));
	rcu_thread_online();
	n = grey_walk(g, add_record, b);
	rcu_thread_offline();
	return b->oom ? -ENOMEM : (long)n;
}

/* Write @buf to @path atomically (tmp, fsync, rename, fsync dir). */
static int write_file(const char *path, const char *buf, size_t len)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	char *slash;
	size_t off = 0;
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t w = write(fd, buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)w;
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

long grey_snapshot_save(struct grey_table *g, const char *path)
{
	struct sbuf b = {0};
	long n = build(g, &b);
	int rc;

	if (n >= 0) {
		rc = write_file(path, b.p, b.len);
		if (rc)
			n = rc;
	}
	free(b.p);
	return n;
}

static void *writer(void *arg)
{
	struct snap_state *s = arg;
	int rc = write_file(s->path, s->buf, s->len);

	if (rc)
		s->result = rc;
	free(s->buf);
	s->buf = NULL;
	__atomic_store_n(&s->running, false, __ATOMIC_RELEASE);
	return NULL;
}

static struct snap_state *state(struct grey_table *g)
{
	void **p = grey_snap_state(g);

	if (!*p)
		*p = calloc(1, sizeof(struct snap_state));
	return *p;
}

int grey_snapshot_start(struct grey_table *g, const char *path)
{
	struct snap_state *s = state(g);
	struct sbuf b = {0};
	long n;

	if (!s)
		return -ENOMEM;
	if (s->buf || __atomic_load_n(&s->running, __ATOMIC_ACQUIRE))
		return -EBUSY;
	if (s->th) {
		pthread_join(s->th, NULL);
		s->th = 0;
		if (s->result < 0)
			MX_WARN("greylist: snapshot %s: %s", s->path, strerror((int)-s->result));
	}
	n = build(g, &b);
	if (n < 0) {
		free(b.p);
		return (int)n;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->buf = b.p;
	s->len = b.len;
	s->result = n;
	s->running = true;
	if (pthread_create(&s->th, NULL, writer, s) != 0) {
		s->running = false;
		s->th = 0;
		s->result = grey_snapshot_save(g, path); /* no thread: do it here */
		free(s->buf);
		s->buf = NULL;
		return s->result < 0 ? (int)s->result : 0;
	}
	return 0;
}

long grey_snapshot_wait(struct grey_table *g)
{
	struct snap_state *s = *grey_snap_state(g);
	long r;

	if (!s || !s->th)
		return s ? s->result : 0;
	pthread_join(s->th, NULL);
	s->th = 0;
	r = s->result;
	return r;
}

/* ---- loading ------------------------------------------------------------------------ */

long grey_snapshot_load(struct grey_table *g, const char *path, uint32_t now, bool *damaged)
{
	struct stat st;
	uint8_t *buf;
	size_t off, len;
	long n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	*damaged = false;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) != 0 || st.st_size < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	len = (size_t)st.st_size;
	buf = malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (off = 0; off < len;) {
		ssize_t r = read(fd, buf + off, len - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	len = off;
	if (len < SNAP_HDR || memcmp(buf, SNAP_MAGIC, 8) != 0 || get32(buf + 8) != SNAP_VERSION ||
	    get32(buf + 28) != crc32c(buf, 28)) {
		free(buf);
		return -EINVAL;
	}
	grey_set_seed(g, buf + 12);
	rcu_thread_online();
	for (off = SNAP_HDR; off < len;) {
		const uint8_t *r = buf + off;
		struct grey_info e = {0};
		size_t tl;

		if (len - off < SNAP_REC || (tl = r[6]) >= GREY_TEXT_MAX ||
		    len - off < SNAP_REC + tl || get32(r) != crc32c(r + 4, SNAP_REC - 4 + tl) ||
		    (r[4] != GREY_KIND_TRIPLET && r[4] != GREY_KIND_AWL)) {
			*damaged = true;
			break;
		}
		e.kind = r[4];
		e.passed = r[5] & 1;
		e.first = get32(r + 8);
		e.last = get32(r + 12);
		e.passes = get32(r + 16);
		memcpy(&e.h[0], r + 20, 8);
		memcpy(&e.h[1], r + 28, 8);
		memcpy(e.text, r + SNAP_REC, tl);
		off += SNAP_REC + tl;
		if (grey_info_expired(g, &e, now))
			continue;
		if (grey_restore(g, &e) == 0)
			n++;
	}
	rcu_thread_offline();
	free(buf);
	return n;
}
