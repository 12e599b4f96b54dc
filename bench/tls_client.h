/*
 * tls_client.h - mxbench's STARTTLS client side (--starttls): OpenSSL over
 * the connection's non-blocking socket (kernel transport, kworker.c's
 * epoll loop) or over a BIO that calls the DPDK transport's TCP stack
 * (bench_tls_new_io()).
 *
 * Every connection makes a full handshake (no session resumption: the load
 * is the server's full-handshake cost), TLS 1.2 or 1.3 as the server
 * chooses (--tls-max 1.2 caps it), no certificate verification (the
 * targets run test certificates). The SSL_CTX is built once at start-up
 * (bench_tls_init()) and shared by the worker threads; each connection's
 * SSL is made and freed on its own thread.
 *
 * Memory: bench_tls_new() allocates the SSL (OpenSSL's heap); free with
 * bench_tls_free(). Counters: struct bench_tls_stats, single writer (the
 * worker thread), summed by mxbench.c after the run.
 */
#ifndef MX_BENCH_TLS_CLIENT_H
#define MX_BENCH_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/hist.h"

struct bench_tls;

/* Per-worker TLS counters. */
struct bench_tls_stats {
	uint64_t handshakes;	    /* completed */
	uint64_t handshake_failed;  /* protocol errors during the handshake */
	uint64_t tls12, tls13;	    /* completed, by version */
	struct mx_hist h_handshake; /* 220 to STARTTLS -> handshake done, ns */
};

/** Build the client SSL_CTX (once, before the workers start). @max_version
 * 0: TLS 1.3 allowed; else the highest (e.g. TLS1_2_VERSION). 0 or -1. */
int bench_tls_init(int max_version);

/** A client SSL over socket @fd, not started. NULL on failure. */
struct bench_tls *bench_tls_new(int fd);
void bench_tls_free(struct bench_tls *t);

/* I/O of a connection that is no kernel socket (the DPDK transport: its
 * TCP stack's receive queue and send): read returns octets (> 0), 0 when
 * none now, < 0 at EOF or error; write returns octets taken (0: full,
 * retried later), < 0 on error. */
struct bench_tls_io {
	ssize_t (*read)(void *arg, void *buf, size_t len);
	ssize_t (*write)(void *arg, const void *buf, size_t len);
	void *arg;
};

/** A client SSL over @io (copied), not started. NULL on failure. */
struct bench_tls *bench_tls_new_io(const struct bench_tls_io *io);

/** Drive the handshake. Returns 1 done, 0 in progress (*@want_write: wait
 * for EPOLLOUT too), -1 failed (counted in @st). */
int bench_tls_handshake(struct bench_tls *t, struct bench_tls_stats *st, bool *want_write);

/** Decrypt into @buf. Returns octets (> 0), 0 when nothing is readable
 * now, -1 on EOF or error (@why set). */
ssize_t bench_tls_read(struct bench_tls *t, void *buf, size_t len, const char **why);

/** Encrypt and send up to the octets of @iov[0..@n). Returns octets taken
 * (0 when the socket is full), or -1 on error. */
ssize_t bench_tls_writev(struct bench_tls *t, const struct iovec *iov, int n);

/** @s += @add (histogram included). */
void bench_tls_stats_sum(struct bench_tls_stats *s, const struct bench_tls_stats *add);

/** The "tls" object of the JSON report (no trailing comma or newline). */
void bench_tls_report_json(FILE *f, const struct bench_tls_stats *s, double elapsed);

#endif
