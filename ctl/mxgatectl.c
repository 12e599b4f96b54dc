/*
 * mxgatectl.c - command-line client of the mxgate ctl socket.
 *
 *   mxgatectl [-s SOCKET] COMMAND...     run one command, print the answer
 *   mxgatectl help                       list the daemon's commands
 *
 * Exit status: 0 on success, 1 if the daemon answered "error: ...",
 * 2 if the socket could not be reached.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/mxgate/ctl.sock"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mxgatectl [-s SOCKET] COMMAND [ARGS...]\n"
		"  -s SOCKET  ctl socket (default %s, or $MXGATE_CTL)\n"
		"Run 'mxgatectl help' for the commands the daemon serves.\n",
		DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
	const char *path = getenv("MXGATE_CTL") ? getenv("MXGATE_CTL") : DEFAULT_SOCKET;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char line[4096] = "";
	char buf[65536];
	size_t off = 0;
	int i = 1, fd, failed = 0, first = 1;

	if (argc > 2 && strcmp(argv[1], "-s") == 0) {
		path = argv[2];
		i = 3;
	}
	if (i >= argc || strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
		usage(i >= argc ? stderr : stdout);
		return i >= argc ? 2 : 0;
	}
	for (; i < argc; i++) {
		int n = snprintf(line + off, sizeof(line) - off, "%s%s", off ? " " : "", argv[i]);
		if (n < 0 || (size_t)n >= sizeof(line) - off) {
			fprintf(stderr, "mxgatectl: command too long\n");
			return 2;
		}
		off += (size_t)n;
	}
	line[off++] = '\n';
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "mxgatectl: socket path too long: %s\n", path);
		return 2;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "mxgatectl: cannot connect to %s: %s (is mxgate running?)\n", path,
			strerror(errno));
		return 2;
	}
	if (write(fd, line, off) != (ssize_t)off) {
		fprintf(stderr, "mxgatectl: write: %s\n", strerror(errno));
		return 2;
	}
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t r;
		if (poll(&pfd, 1, 10000) <= 0) {
			fprintf(stderr, "mxgatectl: no answer from %s within 10 s\n", path);
			return 2;
		}
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (first && strncmp(buf, "error: ", r < 7 ? (size_t)r : 7) == 0)
			failed = 1;
		first = 0;
		fwrite(buf, 1, (size_t)r, stdout);
	}
	close(fd);
	return failed;
}
