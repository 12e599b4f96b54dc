/*
 * fuzz_verify.c - the recipient verification probe's reply parser
 * (reply_of() in policy/verify.c, included here so that the static
 * function is reachable; verify.c itself is unchanged) fed what a next hop
 * may send, split at every boundary as on_fd() sees it: the first k octets
 * read and parsed, then the rest appended and parsed again from the start.
 * The answer (code, and the last line's text) must not depend on k; a code
 * is -1, 0 or 200..599 and the last line starts with it, lies inside what
 * arrived and holds no LF. Never a crash, never a read past what arrived.
 */
#include "policy/verify.c"

struct fz_answer {
	int code;
	char text[VFY_IN_MAX];
};

static struct probe fz_probe; /* 2 KiB of input: not on the stack */

static int fz_parse_into(size_t inlen, struct fz_answer *a)
{
	char *last = NULL;
	int code;

	fz_probe.inlen = inlen;
	fz_probe.in[inlen] = '\0';
	code = reply_of(&fz_probe, &last);
	if (code != -1 && code != 0 && (code < 200 || code > 599))
		abort();
	a->code = code;
	a->text[0] = '\0';
	if (code > 0) {
		size_t n;
		if (!last || last < fz_probe.in || last >= fz_probe.in + inlen)
			abort();
		n = strlen(last);
		if (last + n > fz_probe.in + inlen || memchr(last, '\n', n) || n < 3 ||
		    (last[0] - '0') * 100 + (last[1] - '0') * 10 + (last[2] - '0') != code)
			abort();
		memcpy(a->text, last, n + 1);
	}
	return code;
}

/* Parse @data as two reads, @k octets then the rest (on_fd() stops at the
 * first non-zero answer). */
static void fz_parse(const uint8_t *data, size_t size, size_t k, struct fz_answer *a)
{
	memcpy(fz_probe.in, data, k);
	if (fz_parse_into(k, a) != 0 || k == size)
		return;
	memcpy(fz_probe.in, data, size); /* reply_of() may have cut the buffer */
	fz_parse_into(size, a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_answer ref, got;

	if (size > sizeof(fz_probe.in) - 1) /* on_fd() refuses more */
		return 0;
	fz_parse(data, size, size, &ref);
	for (size_t k = 0; k < size; k++) {
		fz_parse(data, size, k, &got);
		/* A reply complete in the first read is the whole input's
		 * answer too: the parser looks no further than the line that
		 * ends the reply. */
		if (got.code != ref.code || strcmp(got.text, ref.text) != 0)
			abort();
	}
	return 0;
}
