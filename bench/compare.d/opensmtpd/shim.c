/* shim.c - LD_PRELOAD shim used by bench/compare for OpenSMTPD 6.8 only.
 *
 * 1. listen(): OpenSMTPD calls listen(fd, 5) (SMTPD_BACKLOG, not
 *    configurable) and stalls under many concurrent connects; backlogs below
 *    $BENCH_BACKLOG (default 128) are raised to it.
 * 2. Durability (when $BENCH_FSYNC=1): OpenSMTPD's fs queue does not fsync a
 *    new message before it commits it and the smtp process answers 250
 *    (queue_fs.c: the message file is renamed into the queue and envelopes
 *    are created with do_sync = 0; strace shows no fsync at all). To compare
 *    at equal durability this shim fsync()s
 *      - every regular file before OpenSMTPD rename()s it (the message file
 *        into incoming/<msgid>/; an fsync of an already clean file is cheap),
 *      - every regular file opened for writing before fclose() (envelopes),
 *    so both are on disk before the commit is acknowledged.
 * Built by bench/compare: cc -shared -fPIC -O2 -o shim.so shim.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int want_fsync(void)
{
	static int v = -1;
	if (v < 0) {
		const char *e = getenv("BENCH_FSYNC");
		v = e && *e == '1';
	}
	return v;
}

int listen(int fd, int backlog)
{
	static int (*real_listen)(int, int);
	const char *env = getenv("BENCH_BACKLOG");
	int min = env ? atoi(env) : 128;

	if (!real_listen)
		real_listen = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");
	if (backlog < min)
		backlog = min;
	return real_listen(fd, backlog);
}

int rename(const char *from, const char *to)
{
	static int (*real_rename)(const char *, const char *);

	if (!real_rename)
		real_rename = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	if (want_fsync()) {
		struct stat st;
		int fd = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
			close(fd);
			fd = -1;
		}
		if (fd >= 0) {
			if (fsync(fd) != 0) {
				close(fd);
				return -1; /* errno from fsync: OpenSMTPD tempfails */
			}
			close(fd);
		}
	}
	return real_rename(from, to);
}

int fclose(FILE *fp)
{
	static int (*real_fclose)(FILE *);

	if (!real_fclose)
		real_fclose = (int (*)(FILE *))dlsym(RTLD_NEXT, "fclose");
	if (want_fsync() && fp) {
		int fd = fileno(fp);
		struct stat st;
		int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
		if (fl >= 0 && (fl & O_ACCMODE) != O_RDONLY && fstat(fd, &st) == 0 &&
		    S_ISREG(st.st_mode)) {
			if (fflush(fp) != 0 || fsync(fd) != 0) {
				real_fclose(fp);
				return EOF;
			}
		}
	}
	return real_fclose(fp);
}
