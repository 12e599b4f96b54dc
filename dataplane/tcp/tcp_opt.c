/*
 * tcp_opt.c - TCP option parsing (RFC 9293 3.1, RFC 7323, RFC 2018).
 *
 * The parser is fed straight from the network: it never reads past @len,
 * never trusts a length byte, and reports malformed input as -EINVAL for
 * counting instead of rejecting the segment (RFC 9293 3.1 robustness:
 * a segment with a bad option is still processed with the options that
 * parsed).
 */
#include <errno.h>
#include <string.h>

#include "dataplane/tcp/tcp-int.h"

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int tcp_opt_parse(const uint8_t *p, size_t len, bool syn, struct tcp_opts *o)
{
	size_t i = 0;
	int rc = 0;

	memset(o, 0, sizeof(*o));
	while (i < len) {
		uint8_t kind = p[i];
		uint8_t olen;

		if (kind == TCP_OPT_EOL)
			break;
		if (kind == TCP_OPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= len)
			return -EINVAL; /* kind without a length byte */
		olen = p[i + 1];
		if (olen < 2 || i + olen > len)
			return -EINVAL; /* length 0/1 would loop; truncated */
		switch (kind) {
		case TCP_OPT_MSS:
			if (olen != 4) {
				rc = -EINVAL;
				break;
			}
			if (syn) {
				o->mss_ok = true;
				o->mss = get16(p + i + 2);
			}
			break;
		case TCP_OPT_WS:
			if (olen != 3) {
				rc = -EINVAL;
				break;
			}
			if (syn) {
				o->ws_ok = true;
				/* RFC 7323 2.3: shift > 14 is treated as 14. */
				o->ws = p[i + 2] > TCP_WS_MAX ? TCP_WS_MAX : p[i + 2];
			}
			break;
		case TCP_OPT_SACK_PERM:
			if (olen != 2) {
				rc = -EINVAL;
				break;
			}
			if (syn)
				o->sack_perm = true;
			break;
		case TCP_OPT_SACK:
			if (olen < 10 || (olen - 2) % 8 != 0) {
				rc = -EINVAL;
				break;
			}
			o->nsack = 0;
			for (unsigned k = 0; k < (unsigned)(olen - 2) / 8 && k < TCP_SACK_BLOCKS_IN;
			     k++) {
				o->sack[k].start = get32(p + i + 2 + 8 * k);
				o->sack[k].end = get32(p + i + 6 + 8 * k);
				o->nsack++;
			}
			break;
		case TCP_OPT_TS:
			if (olen != 10) {
				rc = -EINVAL;
				break;
			}
			o->ts_ok = true;
			o->tsval = get32(p + i + 2);
			o->tsecr = get32(p + i + 6);
			break;
		default:
			break; /* unknown: skip by its length */
		}
		i += olen;
	}
	return rc;
}
