/*
 * spool_test_util.h - helpers shared by the queue unit tests and the spool
 * benchmark: temporary directories, a sample envelope, deterministic bodies,
 * a blocking "send one message" loop standing in for a worker lcore.
 * Header-only (static functions): each test executable includes it once.
 */
#ifndef MX_TEST_SPOOL_UTIL_H
#define MX_TEST_SPOOL_UTIL_H

#define _XOPEN_SOURCE_EXTENDED 1
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "queue/spool.h"

static inline int tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/** rm -rf @path. */
static inline void tu_rm_rf(const char *path)
{
	nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/** mkdtemp under /tmp; the returned string is static per call site use. */
static inline char *tu_tmpdir(char *buf, size_t n, const char *tag)
{
	snprintf(buf, n, "/tmp/mxq-%s-XXXXXX", tag);
	if (!mkdtemp(buf)) {
		perror("mkdtemp");
		abort();
	}
	return buf;
}

static inline void tu_sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

	nanosleep(&ts, NULL);
}

static inline uint64_t tu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static const struct spool_rcpt tu_rcpt[3] = {
	{"alice@example.test", "rfc822;alice@example.test", NULL,
	 SPOOL_NOTIFY_SUCCESS | SPOOL_NOTIFY_FAILURE},
	{"bob@example.test", NULL, NULL, 0},
	{"carol@example.test", NULL, "X-FOO=1", SPOOL_NOTIFY_NEVER},
};

/** A sample envelope with @nrcpt (1..3) recipients. */
static inline struct spool_envelope tu_env(uint32_t nrcpt)
{
	struct spool_envelope e = {
		.arrival_us = 1700000000000000ULL,
		.family = 4,
		.addr = {192, 0, 2, 7},
		.port = 40123,
		.helo = "client.example.test",
		.tls_proto = "TLSv1.3",
		.tls_cipher = "TLS_AES_128_GCM_SHA256",
		.mail_from = "sender@example.test",
		.mail_params = "BODY=8BITMIME RET=HDRS ENVID=abc",
		.nrcpt = nrcpt,
		.rcpt = tu_rcpt,
	};
	return e;
}

/** Deterministic body byte @k of message @seed. */
static inline uint8_t tu_body_byte(unsigned seed, size_t k)
{
	return (uint8_t)(seed * 131u + k * 7u + (k >> 8));
}

static inline void tu_fill(uint8_t *b, size_t n, unsigned seed, size_t from)
{
	for (size_t k = 0; k < n; k++)
		b[k] = tu_body_byte(seed, from + k);
}

/** Append @len bytes of body @seed in @chunk pieces, waiting out -ENOBUFS. */
static inline int tu_body(struct spool_worker *w, struct spool_msg *m, size_t len, unsigned seed,
			  size_t chunk)
{
	uint8_t buf[8192];
	size_t done = 0;
	uint64_t t0 = tu_now_ns();

	if (chunk > sizeof(buf))
		chunk = sizeof(buf);
	while (done < len) {
		size_t n = len - done < chunk ? len - done : chunk;
		long r;

		tu_fill(buf, n, seed, done);
		r = spool_msg_body(w, m, buf, n);
		if (r == -ENOBUFS || r == 0) {
			if (tu_now_ns() - t0 > 5000000000ULL)
				return -ETIMEDOUT;
			tu_sleep_us(50);
			continue;
		}
		if (r < 0)
			return (int)r;
		done += (size_t)r;
	}
	return 0;
}

/** Begin, body, end one message; does not wait for its completion. */
static inline int tu_send(struct spool_worker *w, struct spool_msg *m, uint32_t nrcpt, size_t len,
			  unsigned seed, size_t chunk, uint64_t cookie)
{
	struct spool_envelope env = tu_env(nrcpt);
	uint64_t t0 = tu_now_ns();
	int rc;

	memset(m, 0, sizeof(*m));
	while ((rc = spool_msg_begin(w, m, &env)) == -ENOBUFS) {
		if (tu_now_ns() - t0 > 5000000000ULL)
			return -ETIMEDOUT;
		tu_sleep_us(50);
	}
	if (rc < 0)
		return rc;
	if ((rc = tu_body(w, m, len, seed, chunk)) < 0)
		return rc;
	while ((rc = spool_msg_end(w, m, cookie)) == -ENOBUFS) {
		if (tu_now_ns() - t0 > 5000000000ULL)
			return -ETIMEDOUT;
		tu_sleep_us(50);
	}
	return rc;
}

/** Poll @w until @n completions arrived (into @out) or 5 s passed. */
static inline unsigned tu_wait(struct spool_worker *w, struct spool_cpl *out, unsigned n)
{
	unsigned got = 0;
	uint64_t t0 = tu_now_ns();

	while (got < n && tu_now_ns() - t0 < 5000000000ULL) {
		unsigned k = spool_worker_poll(w, out + got, n - got);

		got += k;
		if (!k)
			tu_sleep_us(50);
	}
	return got;
}

#endif
