/*
 * attack.c - pure parts of mxbench's adversarial modes (see attack.h):
 * option parsing, pacing, the slowloris bytes, the zero-window commands,
 * the per-mode reply protocol and the report. No sockets, no clock, no
 * allocation.
 */
#include "bench/attack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static const char *const mode_names[BENCH_ATK_MODES] = {
	[BENCH_ATK_SLOWLORIS] = "slowloris",
	[BENCH_ATK_FIN_HOLD] = "fin-hold",
	[BENCH_ATK_ZERO_WINDOW] = "zero-window",
	[BENCH_ATK_PREGREET] = "pregreet",
	[BENCH_ATK_FLOOD] = "flood",
	[BENCH_ATK_OOO] = "ooo",
	[BENCH_ATK_SYN_FLOOD] = "syn-flood",
};

const char *bench_atk_mode_name(enum bench_atk_mode m)
{
	return (unsigned)m < BENCH_ATK_MODES ? mode_names[m] : "?";
}

int bench_atk_parse_modes(unsigned *modes, const char *list)
{
	unsigned add = 0;
	const char *p = list;

	for (;;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		unsigned m;

		if (n == 3 && !strncmp(p, "all", 3)) {
			/* the modes on kernel connections alone: syn-flood needs
			 * its own sources, ooo raw packets (root) */
			add |= ((1u << BENCH_ATK_MODES) - 1) &
			       ~((1u << BENCH_ATK_SYN_FLOOD) | (1u << BENCH_ATK_OOO));
		} else {
			for (m = 0; m < BENCH_ATK_MODES; m++)
				if (strlen(mode_names[m]) == n && !strncmp(p, mode_names[m], n))
					break;
			if (m == BENCH_ATK_MODES)
				return -EINVAL;
			add |= 1u << m;
		}
		if (!e)
			break;
		p = e + 1;
	}
	*modes |= add;
	return 0;
}

int bench_atk_parse_src(struct bench_atk_cfg *cfg, const char *list, int family)
{
	unsigned n = cfg->nsrc;
	const char *p = list;

	if (family != AF_INET && family != AF_INET6)
		return -EINVAL;
	for (;;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char a[INET6_ADDRSTRLEN];
		struct sockaddr_storage ss;

		if (len == 0 || len >= sizeof(a))
			return -EINVAL;
		if (n >= BENCH_ATK_SRC_MAX)
			return -E2BIG;
		memcpy(a, p, len);
		a[len] = '\0';
		memset(&ss, 0, sizeof(ss));
		if (family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			s4->sin_family = AF_INET;
			if (inet_pton(AF_INET, a, &s4->sin_addr) != 1)
				return -EINVAL;
			cfg->src_len[n] = sizeof(*s4);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			s6->sin6_family = AF_INET6;
			if (inet_pton(AF_INET6, a, &s6->sin6_addr) != 1)
				return -EINVAL;
			cfg->src_len[n] = sizeof(*s6);
		}
		cfg->src[n++] = ss;
		if (!e)
			break;
		p = e + 1;
	}
	cfg->nsrc = n;
	return 0;
}

int bench_atk_parse_syn_src(struct bench_atk_cfg *cfg, const char *list)
{
	static struct bench_atk_cfg tmp; /* parse into a scratch copy: no partial list */
	unsigned n = cfg->nsyn_src;
	int rc;

	memset(&tmp, 0, sizeof(tmp));
	rc = bench_atk_parse_src(&tmp, list, AF_INET);
	if (rc < 0)
		return rc;
	if (n + tmp.nsrc > BENCH_ATK_SRC_MAX)
		return -E2BIG;
	for (unsigned i = 0; i < tmp.nsrc; i++)
		cfg->syn_src[n + i] = ((const struct sockaddr_in *)&tmp.src[i])->sin_addr.s_addr;
	cfg->nsyn_src = n + tmp.nsrc;
	return 0;
}

/* Internet checksum (RFC 1071) of @len octets, plus @sum carried in. */
static uint16_t csum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* IPv4 + TCP packet (no IP options) in @buf: @topt TCP option octets (a
 * multiple of 4) and @plen payload octets, both checksums set. */
static size_t tcp_build(uint8_t *buf, uint32_t saddr, uint32_t daddr, uint16_t sport,
			uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
			const uint8_t *topt, size_t tlen_opt, const uint8_t *payload, size_t plen,
			uint16_t ip_id)
{
	uint8_t *ip = buf, *tcp = buf + 20;
	size_t thl = 20 + tlen_opt, tot = 20 + thl + plen;
	uint32_t ph = 0;
	uint16_t c;

	memset(buf, 0, 20 + thl);
	ip[0] = 0x45; /* IPv4, 5 words */
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[4] = (uint8_t)(ip_id >> 8);
	ip[5] = (uint8_t)ip_id;
	ip[6] = 0x40; /* DF */
	ip[8] = 64;   /* TTL */
	ip[9] = IPPROTO_TCP;
	memcpy(ip + 12, &saddr, 4);
	memcpy(ip + 16, &daddr, 4);
	c = csum(ip, 20, 0);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	memcpy(tcp, &sport, 2);
	memcpy(tcp + 2, &dport, 2);
	for (int i = 0; i < 4; i++) {
		tcp[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		tcp[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	tcp[12] = (uint8_t)((thl / 4) << 4);
	tcp[13] = flags;
	tcp[14] = 0xff; /* window 65535 (scaled, if scaling is on) */
	tcp[15] = 0xff;
	if (tlen_opt)
		memcpy(tcp + 20, topt, tlen_opt);
	if (plen)
		memcpy(tcp + thl, payload, plen);
	/* pseudo-header: addresses, protocol, TCP length */
	for (int i = 12; i < 20; i += 2)
		ph += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	ph += IPPROTO_TCP + (uint32_t)(thl + plen);
	c = csum(tcp, thl + plen, ph);
	tcp[16] = (uint8_t)(c >> 8);
	tcp[17] = (uint8_t)c;
	return tot;
}

size_t bench_atk_syn_build(uint8_t *buf, uint32_t saddr, uint32_t daddr, uint16_t sport,
			   uint16_t dport, uint32_t seq, uint16_t ip_id)
{
	static const uint8_t mss[4] = {2, 4, 1460 >> 8, 1460 & 0xff};

	return tcp_build(buf, saddr, daddr, sport, dport, seq, 0, 0x02 /* SYN */, mss, 4, NULL, 0,
			 ip_id);
}

size_t bench_atk_seg_build(uint8_t *buf, uint32_t saddr, uint32_t daddr, uint16_t sport,
			   uint16_t dport, uint32_t seq, uint32_t ack, char byte, uint16_t ip_id)
{
	return tcp_build(buf, saddr, daddr, sport, dport, seq, ack, 0x18 /* PSH|ACK */, NULL, 0,
			 (const uint8_t *)&byte, 1, ip_id);
}

void bench_atk_pace_init(struct bench_atk_pace *p, double rate, uint64_t total, uint64_t start_ns)
{
	p->gap_ns = rate > 0.0 ? (uint64_t)(1e9 / rate) : 0;
	if (rate > 0.0 && p->gap_ns == 0)
		p->gap_ns = 1;
	p->next_ns = start_ns;
	p->left = total;
}

bool bench_atk_pace_take(struct bench_atk_pace *p, uint64_t now_ns)
{
	if (!p->left || now_ns < p->next_ns)
		return false;
	p->left--;
	/* Late by more than the burst window (or a gap, if longer): restart
	 * from there, so a stall buys that much at most, never a burst of
	 * everything missed. A caller polling every few ms gets the full rate. */
	if (p->gap_ns) {
		uint64_t win = p->gap_ns > BENCH_ATK_BURST_NS ? p->gap_ns : BENCH_ATK_BURST_NS;

		if (now_ns - p->next_ns > win)
			p->next_ns = now_ns - win;
	}
	p->next_ns += p->gap_ns;
	return true;
}

char bench_atk_slow_byte(uint64_t k)
{
	static const char head[] = "MAIL FROM:<";

	if (k < sizeof(head) - 1)
		return head[k];
	return (char)('a' + (k - (sizeof(head) - 1)) % 26);
}

size_t bench_atk_zw_fill(char *buf, size_t cap, uint64_t *k, uint64_t left)
{
	size_t len = 0;

	while (left--) {
		const char *cmd = (*k & 1) ? "HELP\r\n" : "NOOP\r\n";

		if (cap - len < 6)
			break;
		memcpy(buf + len, cmd, 6);
		len += 6;
		(*k)++;
	}
	return len;
}

void bench_atk_proto_init(struct bench_atk_proto *p, enum bench_atk_mode mode)
{
	p->mode = mode;
	/* pregreet sends its EHLO at connect, before any banner */
	p->state = mode == BENCH_ATK_PREGREET ? BENCH_ATK_P_EHLO : BENCH_ATK_P_BANNER;
	p->nreplies = 0;
}

/* The first reply of a connection is the banner (pregreet: the banner or
 * the answer to the early EHLO): anything but 220 is a refusal. */
static enum bench_atk_act refuse(struct bench_atk_proto *p, struct bench_atk_stats *st)
{
	st->refused++;
	p->state = BENCH_ATK_P_REFUSED;
	return BENCH_ATK_ACT_WAIT_CLOSE;
}

enum bench_atk_act bench_atk_on_reply(struct bench_atk_proto *p, int code,
				      struct bench_atk_stats *st)
{
	bool first = p->nreplies++ == 0;
	unsigned c = code >= 0 && code < BENCH_ATK_CODES ? (unsigned)code : 0;

	st->replies++;
	st->by_code[c]++;
	if (first)
		st->first_by_code[c]++;
	if (p->state == BENCH_ATK_P_REFUSED)
		return BENCH_ATK_ACT_NONE;
	switch (p->mode) {
	case BENCH_ATK_SLOWLORIS:
	case BENCH_ATK_ZERO_WINDOW:
	case BENCH_ATK_OOO:
		if (p->state == BENCH_ATK_P_BANNER) {
			if (code != 220)
				return refuse(p, st);
			p->state = BENCH_ATK_P_RUN;
			return BENCH_ATK_ACT_START;
		}
		return BENCH_ATK_ACT_NONE; /* e.g. 500 line too long, 421 timeout */
	case BENCH_ATK_FIN_HOLD:
		switch (p->state) {
		case BENCH_ATK_P_BANNER:
			if (code != 220)
				return refuse(p, st);
			p->state = BENCH_ATK_P_EHLO;
			return BENCH_ATK_ACT_EHLO;
		case BENCH_ATK_P_EHLO:
			p->state = BENCH_ATK_P_QUIT; /* QUIT even after a refused EHLO */
			return BENCH_ATK_ACT_QUIT;
		case BENCH_ATK_P_QUIT:
			if (code != 221)
				return BENCH_ATK_ACT_CLOSE;
			st->served++;
			p->state = BENCH_ATK_P_RUN;
			return BENCH_ATK_ACT_HOLD;
		default:
			return BENCH_ATK_ACT_NONE;
		}
	case BENCH_ATK_PREGREET:
		switch (p->state) {
		case BENCH_ATK_P_EHLO:
			if (first && code == 220)
				return BENCH_ATK_ACT_NONE; /* the EHLO reply follows */
			if (code / 100 != 2)
				return refuse(p, st);
			st->served++;
			p->state = BENCH_ATK_P_QUIT;
			return BENCH_ATK_ACT_QUIT;
		case BENCH_ATK_P_QUIT:
			return BENCH_ATK_ACT_CLOSE;
		default:
			return BENCH_ATK_ACT_NONE;
		}
	case BENCH_ATK_FLOOD:
		if (p->state == BENCH_ATK_P_BANNER) {
			if (code != 220)
				return refuse(p, st);
			st->served++;
			p->state = BENCH_ATK_P_RUN;
			return BENCH_ATK_ACT_HOLD;
		}
		return BENCH_ATK_ACT_NONE;
	case BENCH_ATK_SYN_FLOOD: /* no connection, no reply */
	case BENCH_ATK_MODES:
		break;
	}
	return BENCH_ATK_ACT_CLOSE;
}

void bench_atk_stats_init(struct bench_atk_stats *st)
{
	memset(st, 0, sizeof(*st));
	mx_hist_init(&st->h_held);
	mx_hist_init(&st->h_held_end);
}

static void json_codes(FILE *f, const char *name, const uint64_t *by)
{
	bool first = true;

	fprintf(f, "      \"%s\": {", name);
	for (unsigned c = 0; c < BENCH_ATK_CODES; c++) {
		if (!by[c])
			continue;
		fprintf(f, "%s\"%u\": %llu", first ? "" : ", ", c, (unsigned long long)by[c]);
		first = false;
	}
	fprintf(f, "},\n");
}

static void json_hist_s(FILE *f, const char *name, const struct mx_hist *h, const char *end)
{
	fprintf(f,
		"      \"%s\": {\"count\": %llu, \"min\": %.3f, \"mean\": %.3f, \"p50\": %.3f, "
		"\"p90\": %.3f, \"max\": %.3f}%s\n",
		name, (unsigned long long)h->count, h->count ? (double)h->min / 1e9 : 0.0,
		mx_hist_mean(h) / 1e9, (double)mx_hist_percentile(h, 50.0) / 1e9,
		(double)mx_hist_percentile(h, 90.0) / 1e9, (double)h->max / 1e9, end);
}

void bench_atk_report_json(FILE *f, const struct bench_atk_cfg *cfg,
			   const struct bench_atk_stats *st)
{
	bool first = true;

	fprintf(f, "  \"attack\": {\n    \"modes\": [");
	for (unsigned m = 0; m < BENCH_ATK_MODES; m++) {
		if (!(cfg->modes & (1u << m)))
			continue;
		fprintf(f, "%s\"%s\"", first ? "" : ", ", mode_names[m]);
		first = false;
	}
	fprintf(f,
		"],\n    \"conns_per_mode\": %u,\n    \"rate_per_mode\": %.3f,\n"
		"    \"total_per_mode\": %llu,\n    \"interval_s\": %.3f,\n"
		"    \"zw_rcvbuf\": %u,\n    \"zw_cmds\": %u,\n    \"ooo_segs\": %u,\n"
		"    \"src\": [",
		cfg->conns, cfg->rate, (unsigned long long)cfg->total, cfg->interval,
		cfg->zw_rcvbuf, cfg->zw_cmds, cfg->ooo_segs);
	for (unsigned i = 0; i < cfg->nsrc; i++) {
		char a[INET6_ADDRSTRLEN] = "?";
		const struct sockaddr_storage *ss = &cfg->src[i];

		if (ss->ss_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, a,
				  sizeof(a));
		else
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, a,
				  sizeof(a));
		fprintf(f, "%s\"%s\"", i ? ", " : "", a);
	}
	fprintf(f, "],\n    \"syn_src\": [");
	for (unsigned i = 0; i < cfg->nsyn_src; i++) {
		char a[INET_ADDRSTRLEN] = "?";

		inet_ntop(AF_INET, &cfg->syn_src[i], a, sizeof(a));
		fprintf(f, "%s\"%s\"", i ? ", " : "", a);
	}
	fprintf(f, "]");
	for (unsigned m = 0; m < BENCH_ATK_MODES; m++) {
		const struct bench_atk_stats *s = &st[m];

		if (!(cfg->modes & (1u << m)))
			continue;
		fprintf(f,
			",\n    \"%s\": {\n      \"attempts\": %llu,\n      \"opened\": %llu,\n"
			"      \"connect_failed\": %llu,\n      \"refused\": %llu,\n"
			"      \"closed_by_server\": %llu,\n      \"reset_by_server\": %llu,\n"
			"      \"closed_by_us\": %llu,\n      \"open_at_end\": %llu,\n"
			"      \"served\": %llu,\n      \"fin_seen\": %llu,\n"
			"      \"send_blocked\": %llu,\n      \"cmds_sent\": %llu,\n"
			"      \"bytes_sent\": %llu,\n      \"replies\": %llu,\n",
			mode_names[m], (unsigned long long)s->attempts,
			(unsigned long long)s->opened, (unsigned long long)s->connect_failed,
			(unsigned long long)s->refused, (unsigned long long)s->closed_by_server,
			(unsigned long long)s->reset_by_server, (unsigned long long)s->closed_by_us,
			(unsigned long long)s->open_at_end, (unsigned long long)s->served,
			(unsigned long long)s->fin_seen, (unsigned long long)s->send_blocked,
			(unsigned long long)s->cmds_sent, (unsigned long long)s->bytes_sent,
			(unsigned long long)s->replies);
		json_codes(f, "replies_by_code", s->by_code);
		json_codes(f, "first_reply_by_code", s->first_by_code);
		json_hist_s(f, "held_s", &s->h_held, ",");
		json_hist_s(f, "held_at_end_s", &s->h_held_end, ",");
		fprintf(f, "      \"last_error\": ");
		if (s->last_err[0])
			fprintf(f, "\"%s\"\n    }", s->last_err); /* static texts, no quotes */
		else
			fprintf(f, "null\n    }");
	}
	fprintf(f, "\n  }");
}

void bench_atk_report_text(FILE *f, const struct bench_atk_cfg *cfg,
			   const struct bench_atk_stats *st)
{
	for (unsigned m = 0; m < BENCH_ATK_MODES; m++) {
		const struct bench_atk_stats *s = &st[m];
		bool first = true;

		if (!(cfg->modes & (1u << m)))
			continue;
		fprintf(f,
			"mxbench: attack %s: %llu opened of %llu attempts, %llu refused, %llu "
			"served, %llu closed by server (%llu reset; held p50 %.1f s, max %.1f s), "
			"%llu closed by us, %llu open at end; replies",
			mode_names[m], (unsigned long long)s->opened,
			(unsigned long long)s->attempts, (unsigned long long)s->refused,
			(unsigned long long)s->served, (unsigned long long)s->closed_by_server,
			(unsigned long long)s->reset_by_server,
			(double)mx_hist_percentile(&s->h_held, 50.0) / 1e9,
			(double)s->h_held.max / 1e9, (unsigned long long)s->closed_by_us,
			(unsigned long long)s->open_at_end);
		for (unsigned c = 0; c < BENCH_ATK_CODES; c++) {
			if (!s->by_code[c])
				continue;
			fprintf(f, " %u:%llu", c, (unsigned long long)s->by_code[c]);
			first = false;
		}
		fprintf(f, "%s\n", first ? " none" : "");
	}
}
