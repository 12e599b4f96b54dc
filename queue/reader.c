/*
 * reader.c - read one committed message back, for the relay.
 *
 * A reader starts at the message's ENVELOPE record (located by the live
 * index) and walks forward through the worker's segments, reading only the
 * headers of other messages' records and skipping their payloads, until the
 * message's END. Memory: one buffer as large as the largest record read,
 * plus the envelope; the body is never loaded whole. Every record of the
 * message is checked again (CRC, offset), and at END the length and the
 * message CRC, so a relay never sends bytes that changed on disk.
 *
 * A reader belongs to one thread; readers of different messages run in
 * parallel (own descriptors, pread only). The spool lock is taken only in
 * spool_reader_open() for the lookup.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/spool-int.h"

struct spool_reader {
	struct spool *sp;
	struct spool_msginfo mi;
	uint64_t seq;
	int fd;
	uint64_t pos;
	uint64_t fsize;
	uint32_t salt;
	uint64_t lstart;
	uint8_t *env;
	uint32_t env_len;
	uint64_t env_off;
	uint8_t *buf;
	uint32_t bufcap;
	uint32_t crc;
	uint64_t body_len;
	uint32_t nbody;
	int done; /* 1 after a verified END, <0 after an error */
};

static int read_full(int fd, void *b, size_t n, uint64_t off)
{
	uint8_t *p = b;

	while (n > 0) {
		ssize_t r = pread(fd, p, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EBADMSG; /* shorter than its records say */
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static int open_seg(struct spool_reader *rd, uint64_t seq)
{
	uint8_t hdr[SPOOL_FILEHDR_LEN];
	struct spool_rec_hdr h;
	struct spool_filehdr fh;
	struct stat st;
	char name[64];
	int fd, rc;

	spool_seg_name(name, sizeof(name), seq);
	fd = openat(rd->sp->dirfd[rd->mi.worker], name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = read_full(fd, hdr, sizeof(hdr), 0);
	if (rc == 0 &&
	    (spool_rec_check(hdr, sizeof(hdr), 0, &h) != SPOOL_FILEHDR_LEN ||
	     h.type != SPOOL_REC_FILEHDR ||
	     spool_filehdr_decode(hdr + SPOOL_REC_HDR_LEN, h.len, &fh) < 0 || fh.seq != seq))
		rc = -EBADMSG;
	if (rc == 0 && fstat(fd, &st) != 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	if (rd->fd >= 0)
		close(rd->fd);
	rd->fd = fd;
	rd->seq = seq;
	rd->salt = fh.salt;
	rd->lstart = fh.lstart;
	rd->fsize = (uint64_t)st.st_size;
	rd->pos = SPOOL_FILEHDR_LEN;
	return 0;
}

/* Make rd->buf hold at least @n bytes. */
static int buf_need(struct spool_reader *rd, uint32_t n)
{
	uint8_t *b;

	if (n <= rd->bufcap)
		return 0;
	b = realloc(rd->buf, n);
	if (!b)
		return -ENOMEM;
	rd->buf = b;
	rd->bufcap = n;
	return 0;
}

/*
 * Next record of this message: header in *@h, the whole record in rd->buf.
 * Other messages' records are skipped unread.
 */
static int next_rec(struct spool_reader *rd, struct spool_rec_hdr *h)
{
	for (;;) {
		uint8_t hb[SPOOL_REC_HDR_LEN];
		int rc;

		if (rd->pos + SPOOL_REC_HDR_LEN > rd->fsize) {
			struct stat st;

			/* The segment may still grow (it is the current one). */
			if (fstat(rd->fd, &st) != 0)
				return -errno;
			rd->fsize = (uint64_t)st.st_size;
			if (rd->pos + SPOOL_REC_HDR_LEN > rd->fsize) {
				if (rd->seq >= rd->mi.last_seq)
					return -EBADMSG;
				if ((rc = open_seg(rd, rd->seq + 1)) < 0)
					return rc == -ENOENT ? -EBADMSG : rc;
				continue;
			}
		}
		if ((rc = read_full(rd->fd, hb, sizeof(hb), rd->pos)) < 0)
			return rc;
		if (spool_rec_hdr_decode(hb, h) < 0 ||
		    h->off != rd->lstart + rd->pos - SPOOL_FILEHDR_LEN)
			return -EBADMSG;
		if (!spool_qid_eq(&h->qid, &rd->mi.qid)) {
			rd->pos += SPOOL_REC_HDR_LEN + (uint64_t)h->len;
			continue;
		}
		if ((rc = buf_need(rd, SPOOL_REC_HDR_LEN + h->len)) < 0)
			return rc;
		memcpy(rd->buf, hb, sizeof(hb));
		if ((rc = read_full(rd->fd, rd->buf + SPOOL_REC_HDR_LEN, h->len,
				    rd->pos + SPOOL_REC_HDR_LEN)) < 0)
			return rc;
		if (spool_rec_check(rd->buf, SPOOL_REC_HDR_LEN + h->len, rd->salt, h) < 0)
			return -EBADMSG;
		rd->pos += SPOOL_REC_HDR_LEN + (uint64_t)h->len;
		return 0;
	}
}

struct spool_reader *spool_reader_open(struct spool *sp, const struct spool_qid *qid)
{
	struct spool_reader *rd;
	struct spool_rec_hdr h;
	int rc;

	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return NULL;
	rd->sp = sp;
	rd->fd = -1;
	if ((rc = spool_msg_lookup(sp, qid, &rd->mi)) < 0)
		goto fail;
	if ((rc = open_seg(rd, rd->mi.first_seq)) < 0)
		goto fail;
	rd->pos = rd->mi.env_pos;
	if ((rc = next_rec(rd, &h)) < 0)
		goto fail;
	if (h.type != SPOOL_REC_ENVELOPE || rd->pos != rd->mi.env_pos + SPOOL_REC_HDR_LEN + h.len) {
		rc = -EBADMSG;
		goto fail;
	}
	rd->env = malloc(h.len ? h.len : 1);
	if (!rd->env) {
		rc = -ENOMEM;
		goto fail;
	}
	memcpy(rd->env, rd->buf + SPOOL_REC_HDR_LEN, h.len);
	rd->env_len = h.len;
	rd->env_off = h.off;
	rd->crc = spool_crc32c(0, rd->env, h.len);
	return rd;
fail:
	spool_reader_close(rd);
	errno = -rc;
	return NULL;
}

int spool_reader_envelope(struct spool_reader *rd, struct spool_envelope *env,
			  struct spool_rcpt *rcpt, uint32_t max_rcpt)
{
	return spool_env_decode(rd->env, rd->env_len, env, rcpt, max_rcpt);
}

int spool_reader_body(struct spool_reader *rd, const uint8_t **data, uint32_t *len)
{
	struct spool_rec_hdr h;
	struct spool_end e;
	int rc;

	if (rd->done)
		return rd->done > 0 ? 0 : rd->done;
	rc = next_rec(rd, &h);
	if (rc == 0 && h.type == SPOOL_REC_BODY) {
		*data = rd->buf + SPOOL_REC_HDR_LEN;
		*len = h.len;
		rd->crc = spool_crc32c(rd->crc, *data, h.len);
		rd->body_len += h.len;
		rd->nbody++;
		return 1;
	}
	if (rc == 0 && h.type == SPOOL_REC_END &&
	    spool_end_decode(rd->buf + SPOOL_REC_HDR_LEN, h.len, &e) == 0 &&
	    e.env_off == rd->env_off && e.body_len == rd->body_len && e.nbody == rd->nbody &&
	    e.msg_crc == rd->crc) {
		rd->done = 1;
		return 0;
	}
	rd->done = rc < 0 ? rc : -EBADMSG;
	return rd->done;
}

void spool_reader_close(struct spool_reader *rd)
{
	if (!rd)
		return;
	if (rd->fd >= 0)
		close(rd->fd);
	free(rd->env);
	free(rd->buf);
	free(rd);
}
