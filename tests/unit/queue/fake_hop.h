/*
 * fake_hop.h - a scriptable SMTP/LMTP next hop for the relay tests: a
 * thread accepting on 127.0.0.1:0, one thread per session, replies chosen by
 * the script (capabilities, greeting code, 451/550 by recipient substring,
 * LMTP per-recipient replies after DATA, a dropped session in the middle of
 * DATA), STARTTLS with the script's server context (TLS is then spoken
 * with OpenSSL on the session's blocking socket), and a record of what was
 * delivered (envelope lines, the un-stuffed body per accepted transaction,
 * whether it came over TLS). Header-only; test code only.
 */
#ifndef MX_TEST_FAKE_HOP_H
#define MX_TEST_FAKE_HOP_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#define FH_MAX_RCPT  8
#define FH_MAX_CONNS 64

struct fh_msg {
	char mail[512];		     /* MAIL FROM line as received */
	char rcpt[FH_MAX_RCPT][512]; /* RCPT lines of the recipients that got 250 */
	int nrcpt;
	uint8_t *body; /* un-stuffed, without the end marker */
	size_t len;
	int conn;
	bool tls; /* the transaction came after STARTTLS */
};

struct fh {
	int lfd;
	uint16_t port;
	pthread_t th;
	int stop;
	pthread_mutex_t mu;
	/* script (under mu) */
	bool lmtp, pipelining, dsn, smtputf8, eightbit;
	int greet_code;
	char temp_match[64], perm_match[64];
	bool late;	 /* LMTP: RCPT always 250, per-rcpt verdicts after DATA */
	long drop_after; /* one shot: close after this many body bytes (-1: never) */
	SSL_CTX *tls;	 /* non-NULL: offer STARTTLS, handshake with it (caller owns it) */
	/* records (under mu) */
	struct fh_msg *msgs;
	size_t nmsgs, cap;
	int conns;
	int tls_conns;	/* sessions that completed a TLS handshake */
	int tls_failed; /* handshakes that failed */
	int starttls_cmds;
	int pipelined; /* MAIL lines that arrived with more commands behind them */
	int rcpt_cmds;
	uint64_t rcpt_ns[64]; /* CLOCK_MONOTONIC of each RCPT seen, first 64 */
	int cfd[FH_MAX_CONNS];
	pthread_t cth[FH_MAX_CONNS];
	int ncth;
};

struct fh_sess {
	struct fh *h;
	int fd, id;
	SSL *ssl;
	char buf[16384];
	size_t pos, len;
};

static inline uint64_t fh_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* One line with its CRLF stripped; -1 on EOF/error. */
static inline int fh_line(struct fh_sess *s, char *out, size_t cap, size_t *olen)
{
	for (;;) {
		char *nl = s->len > s->pos ? memchr(s->buf + s->pos, '\n', s->len - s->pos) : NULL;

		if (nl) {
			size_t n = (size_t)(nl - (s->buf + s->pos));

			if (n && s->buf[s->pos + n - 1] == '\r')
				n--;
			if (n >= cap)
				n = cap - 1;
			memcpy(out, s->buf + s->pos, n);
			out[n] = 0;
			*olen = n;
			s->pos = (size_t)(nl - s->buf) + 1;
			return 0;
		}
		if (s->pos) {
			memmove(s->buf, s->buf + s->pos, s->len - s->pos);
			s->len -= s->pos;
			s->pos = 0;
		}
		if (s->len == sizeof(s->buf))
			return -1;
		ssize_t n =
			s->ssl ? SSL_read(s->ssl, s->buf + s->len, (int)(sizeof(s->buf) - s->len))
			       : recv(s->fd, s->buf + s->len, sizeof(s->buf) - s->len, 0);

		if (n <= 0)
			return -1;
		s->len += (size_t)n;
	}
}

static inline void fh_say(struct fh_sess *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void fh_say(struct fh_sess *s, const char *fmt, ...)
{
	char b[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof(b) - 2, fmt, ap);
	va_end(ap);
	b[n++] = '\r';
	b[n++] = '\n';
	if (s->ssl)
		(void)!SSL_write(s->ssl, b, n);
	else
		(void)!send(s->fd, b, (size_t)n, MSG_NOSIGNAL);
}

/* Verdict for @addr by the script: 250, 451 or 550. */
static inline int fh_verdict(struct fh *h, const char *addr)
{
	int code = 250;

	pthread_mutex_lock(&h->mu);
	if (h->perm_match[0] && strstr(addr, h->perm_match))
		code = 550;
	else if (h->temp_match[0] && strstr(addr, h->temp_match))
		code = 451;
	pthread_mutex_unlock(&h->mu);
	return code;
}

static inline void fh_record(struct fh *h, struct fh_msg *m)
{
	pthread_mutex_lock(&h->mu);
	if (h->nmsgs == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->msgs = realloc(h->msgs, h->cap * sizeof(*h->msgs));
	}
	h->msgs[h->nmsgs++] = *m;
	pthread_mutex_unlock(&h->mu);
	m->body = NULL;
}

static inline void *fh_session(void *arg)
{
	struct fh_sess *s = arg;
	struct fh *h = s->h;
	char line[4096];
	size_t ll;
	struct fh_msg m;
	char rcpt_addr[FH_MAX_RCPT][256], all_rcpt[FH_MAX_RCPT][512];
	int nall = 0;
	bool lmtp, mail = false;
	int greet;

	memset(&m, 0, sizeof(m));
	pthread_mutex_lock(&h->mu);
	lmtp = h->lmtp;
	greet = h->greet_code;
	pthread_mutex_unlock(&h->mu);
	if (greet != 220) {
		fh_say(s, "%d 4.3.2 fake hop busy", greet);
		goto out;
	}
	fh_say(s, "220 fakehop ESMTP");
	while (fh_line(s, line, sizeof(line), &ll) == 0) {
		if (!strncasecmp(line, "EHLO", 4) || !strncasecmp(line, "LHLO", 4)) {
			pthread_mutex_lock(&h->mu);
			fh_say(s, "250-fakehop");
			if (h->pipelining)
				fh_say(s, "250-PIPELINING");
			if (h->dsn)
				fh_say(s, "250-DSN");
			if (h->smtputf8)
				fh_say(s, "250-SMTPUTF8");
			if (h->eightbit)
				fh_say(s, "250-8BITMIME");
			if (h->tls && !s->ssl)
				fh_say(s, "250-STARTTLS");
			pthread_mutex_unlock(&h->mu);
			fh_say(s, "250 SIZE 100000000");
		} else if (!strcasecmp(line, "STARTTLS")) {
			SSL_CTX *ctx;

			pthread_mutex_lock(&h->mu);
			ctx = h->tls;
			h->starttls_cmds++;
			pthread_mutex_unlock(&h->mu);
			if (!ctx || s->ssl) {
				fh_say(s, "454 4.7.0 TLS not available");
				continue;
			}
			fh_say(s, "220 2.0.0 Ready to start TLS");
			s->pos = s->len = 0; /* RFC 3207: nothing pipelined survives */
			s->ssl = SSL_new(ctx);
			SSL_set_fd(s->ssl, s->fd);
			if (SSL_accept(s->ssl) != 1) {
				pthread_mutex_lock(&h->mu);
				h->tls_failed++;
				pthread_mutex_unlock(&h->mu);
				goto out;
			}
			pthread_mutex_lock(&h->mu);
			h->tls_conns++;
			pthread_mutex_unlock(&h->mu);
			mail = false;
			nall = 0;
		} else if (!strncasecmp(line, "HELO", 4)) {
			fh_say(s, "250 fakehop");
		} else if (!strncasecmp(line, "MAIL FROM:", 10)) {
			pthread_mutex_lock(&h->mu);
			if (s->len > s->pos)
				h->pipelined++;
			pthread_mutex_unlock(&h->mu);
			free(m.body);
			memset(&m, 0, sizeof(m));
			snprintf(m.mail, sizeof(m.mail), "%.500s", line);
			nall = 0;
			mail = true;
			fh_say(s, "250 2.1.0 Ok");
		} else if (!strncasecmp(line, "RCPT TO:<", 9)) {
			char *e = strchr(line + 9, '>');
			char addr[256];
			int v;

			snprintf(addr, sizeof(addr), "%.*s", e ? (int)(e - line - 9) : 0, line + 9);
			pthread_mutex_lock(&h->mu);
			if (h->rcpt_cmds < 64)
				h->rcpt_ns[h->rcpt_cmds] = fh_now_ns();
			h->rcpt_cmds++;
			v = h->late ? 250 : 0;
			pthread_mutex_unlock(&h->mu);
			if (!v)
				v = fh_verdict(h, addr);
			if (!mail)
				fh_say(s, "503 5.5.1 need MAIL");
			else if (v == 250 && nall < FH_MAX_RCPT) {
				snprintf(rcpt_addr[nall], sizeof(rcpt_addr[0]), "%s", addr);
				snprintf(all_rcpt[nall], sizeof(all_rcpt[0]), "%.500s", line);
				nall++;
				fh_say(s, "250 2.1.5 Ok");
			} else
				fh_say(s, "%d %d.1.1 <%s>: scripted", v, v / 100, addr);
		} else if (!strcasecmp(line, "DATA")) {
			size_t cap = 4096;
			long drop;

			if (!mail || !nall) {
				fh_say(s, "554 5.5.1 no valid recipients");
				continue;
			}
			fh_say(s, "354 go ahead");
			m.body = malloc(cap);
			m.len = 0;
			pthread_mutex_lock(&h->mu);
			drop = h->drop_after;
			pthread_mutex_unlock(&h->mu);
			for (;;) {
				if (fh_line(s, line, sizeof(line), &ll) < 0)
					goto out;
				if (!strcmp(line, "."))
					break;
				const char *p = line[0] == '.' ? line + 1 : line;
				size_t n = line[0] == '.' ? ll - 1 : ll;

				while (m.len + n + 2 > cap)
					m.body = realloc(m.body, cap *= 2);
				memcpy(m.body + m.len, p, n);
				memcpy(m.body + m.len + n, "\r\n", 2);
				m.len += n + 2;
				if (drop >= 0 && (long)m.len >= drop) {
					pthread_mutex_lock(&h->mu);
					h->drop_after = -1;
					pthread_mutex_unlock(&h->mu);
					goto out;
				}
			}
			m.conn = s->id;
			m.tls = s->ssl != NULL;
			/* Recorded before the reply: a test that sees the relay
			 * mark a recipient delivered (after reading the 2xx) may
			 * count the message at once. */
			if (lmtp) {
				struct fh_msg rec = m;
				int ok = 0, v[FH_MAX_RCPT];

				rec.nrcpt = 0;
				for (int i = 0; i < nall; i++) {
					v[i] = fh_verdict(h, rcpt_addr[i]);
					if (v[i] == 250)
						snprintf(rec.rcpt[ok++], sizeof(rec.rcpt[0]),
							 "%.511s", all_rcpt[i]);
				}
				rec.nrcpt = ok;
				if (ok)
					fh_record(h, &rec);
				else
					free(rec.body);
				m.body = NULL;
				for (int i = 0; i < nall; i++)
					fh_say(s, "%d %d.0.0 <%s> lmtp scripted", v[i], v[i] / 100,
					       rcpt_addr[i]);
			} else {
				m.nrcpt = nall;
				for (int i = 0; i < nall; i++)
					memcpy(m.rcpt[i], all_rcpt[i], sizeof(m.rcpt[0]));
				fh_record(h, &m);
				fh_say(s, "250 2.0.0 Ok: queued");
			}
			mail = false;
			nall = 0;
		} else if (!strcasecmp(line, "RSET")) {
			mail = false;
			nall = 0;
			fh_say(s, "250 2.0.0 Ok");
		} else if (!strcasecmp(line, "QUIT")) {
			fh_say(s, "221 2.0.0 Bye");
			break;
		} else if (!strcasecmp(line, "NOOP")) {
			fh_say(s, "250 2.0.0 Ok");
		} else {
			fh_say(s, "500 5.5.2 what");
		}
	}
out:
	free(m.body);
	SSL_free(s->ssl);
	shutdown(s->fd, SHUT_RDWR);
	free(s);
	return NULL;
}

static inline void *fh_main(void *arg)
{
	struct fh *h = arg;

	while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p = {.fd = h->lfd, .events = POLLIN};
		struct fh_sess *s;
		int fd;

		if (poll(&p, 1, 20) <= 0)
			continue;
		fd = accept(h->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		s = calloc(1, sizeof(*s));
		s->h = h;
		s->fd = fd;
		pthread_mutex_lock(&h->mu);
		s->id = h->conns++;
		if (h->ncth < FH_MAX_CONNS) {
			h->cfd[h->ncth] = fd;
			pthread_create(&h->cth[h->ncth++], NULL, fh_session, s);
		} else {
			close(fd);
			free(s);
		}
		pthread_mutex_unlock(&h->mu);
	}
	return NULL;
}

/* A bound, listening socket on 127.0.0.1 (@port 0: any). fd or -1. */
static inline int fh_listen(uint16_t port, uint16_t *got)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 64) != 0) {
		close(fd);
		return -1;
	}
	getsockname(fd, (struct sockaddr *)&a, &al);
	*got = ntohs(a.sin_port);
	return fd;
}

/* A port nobody listens on (connections are refused). */
static inline uint16_t fh_dead_port(void)
{
	uint16_t port = 0;
	int fd = fh_listen(0, &port);

	close(fd);
	return port;
}

/** Start a fake hop (SMTP, everything offered, 250 to all) on @port (0: any);
 * aborts if the port cannot be bound. */
static inline struct fh *fh_start(uint16_t port)
{
	struct fh *h = calloc(1, sizeof(*h));

	pthread_mutex_init(&h->mu, NULL);
	h->pipelining = h->dsn = h->smtputf8 = h->eightbit = true;
	h->greet_code = 220;
	h->drop_after = -1;
	h->lfd = fh_listen(port, &h->port);
	if (h->lfd < 0) {
		perror("fake hop: bind");
		abort();
	}
	pthread_create(&h->th, NULL, fh_main, h);
	return h;
}

static inline size_t fh_count(struct fh *h)
{
	size_t n;

	pthread_mutex_lock(&h->mu);
	n = h->nmsgs;
	pthread_mutex_unlock(&h->mu);
	return n;
}

/** Stop accepting, end every session, free the records. */
static inline void fh_stop(struct fh *h)
{
	__atomic_store_n(&h->stop, 1, __ATOMIC_RELEASE);
	pthread_join(h->th, NULL);
	close(h->lfd);
	for (int i = 0; i < h->ncth; i++) {
		shutdown(h->cfd[i], SHUT_RDWR);
		pthread_join(h->cth[i], NULL);
		close(h->cfd[i]);
	}
	for (size_t i = 0; i < h->nmsgs; i++)
		free(h->msgs[i].body);
	free(h->msgs);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

#endif
