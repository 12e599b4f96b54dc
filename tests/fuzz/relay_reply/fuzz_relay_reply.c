/*
 * fuzz_relay_reply.c - the relay's next-hop reply parser (read_reply() and
 * conn_getline() in queue/relay.c, included here so their static functions
 * are reachable) fed arbitrary replies, split at every boundary: the first
 * k bytes already buffered, the rest arriving on the socket, then EOF. The
 * sequence of parsed replies (result, code, text, EHLO capabilities) must
 * not depend on k, every code must be 200..599 and every text terminated
 * inside its buffer. Never a crash, never a read past what arrived.
 */
#include "queue/relay.c"

#define FZ_MAX_INPUT   2048
#define FZ_MAX_REPLIES 64

struct fz_reply {
	int rc, code;
	unsigned caps;
	char text[RELAY_REPLY_MAX];
};

static struct relay_conn fz_conn; /* 70 KiB: not on the stack */

/* Parse @data with its first @k bytes pre-buffered. Returns the count. */
static size_t fz_parse(const uint8_t *data, size_t size, size_t k, struct fz_reply *out)
{
	struct relay_conn *c = &fz_conn;
	int sv[2];
	size_t n = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		abort();
	memset(c, 0, offsetof(struct relay_conn, rbuf));
	c->fd = sv[0];
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	memcpy(c->rbuf, data, k);
	c->rlen = k;
	if (size > k && write(sv[1], data + k, size - k) != (ssize_t)(size - k))
		abort(); /* FZ_MAX_INPUT fits any socket buffer */
	shutdown(sv[1], SHUT_WR);
	while (n < FZ_MAX_REPLIES) {
		struct fz_reply *r = &out[n++];

		r->caps = 0;
		r->code = 0;
		r->rc = read_reply(c, now_ns() + 1000000000ULL, &r->code, r->text, sizeof(r->text),
				   &r->caps);
		if (r->rc < 0) {
			r->text[0] = 0;
			r->code = 0;
			break;
		}
		if (r->code < 200 || r->code > 599 || !memchr(r->text, 0, sizeof(r->text)))
			abort();
	}
	close(sv[0]);
	close(sv[1]);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_reply ref[FZ_MAX_REPLIES], got[FZ_MAX_REPLIES];
	size_t nref;

	if (size > FZ_MAX_INPUT)
		return 0;
	nref = fz_parse(data, size, 0, ref);
	for (size_t k = 1; k <= size; k++) {
		size_t n = fz_parse(data, size, k, got);

		if (n != nref)
			abort();
		for (size_t i = 0; i < n; i++) {
			if (got[i].rc != ref[i].rc || got[i].code != ref[i].code ||
			    got[i].caps != ref[i].caps || strcmp(got[i].text, ref[i].text) != 0)
				abort();
		}
	}
	return 0;
}
