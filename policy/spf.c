/*
 * spf.c - the SPF evaluator of spf.h (RFC 7208), a state machine over the
 * caller's struct spf_eval.
 *
 * SHAPE. Each record in evaluation is a frame: its domain and record text
 * live in the evaluation's arena, stacked (an include pushes a frame, its
 * end pops it and gives its result to the include term of the parent; a
 * redirect replaces the frame's domain and record in place). A record is
 * checked whole for syntax before any of its terms is evaluated (RFC 7208
 * 4.6: errors anywhere are permerror), then its terms are walked left to
 * right from f->pos. A term that needs DNS sets e->q and e->wait and
 * returns to the caller; spf_feed() applies the answer and the walk goes on.
 *
 * The grammar (RFC 7208 section 12) is applied strictly: qualifiers, known
 * mechanism names, dual CIDR lengths without leading zeros and in range,
 * dotted-quad and RFC 4291 addresses (inet_pton), domain-specs ending in a
 * macro or a toplabel, modifier names, macro syntax (c, r, t only in
 * explanations), 7-bit text.
 */
#include "policy/spf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy/dns_int.h"

#define LOOKUP_MAX 10 /* DNS-querying terms (4.6.4) */
#define VOID_MAX   2  /* void lookups (4.6.4) */
#define NAMES_MAX  10 /* MX and PTR names looked at (4.6.4) */
#define EXPAND_MAX 1024

enum { ST_RUN = 0, ST_WAIT, ST_DONE };
enum { W_TXT = 1, W_A, W_MX, W_MXADDR, W_PTR, W_PTRADDR, W_EXISTS };
enum {
	M_ALL = 1,
	M_INCLUDE,
	M_A,
	M_MX,
	M_PTR,
	M_IP4,
	M_IP6,
	M_EXISTS,
	T_REDIRECT,
	T_EXP,
	T_MODIFIER, /* unknown modifier: ignored */
};

static const char *const mech_names[] = {
	[M_ALL] = "all", [M_INCLUDE] = "include", [M_A] = "a",	   [M_MX] = "mx",
	[M_PTR] = "ptr", [M_IP4] = "ip4",	  [M_IP6] = "ip6", [M_EXISTS] = "exists",
};

struct term {
	uint8_t kind;
	uint8_t qual;	  /* the result on a match */
	const char *spec; /* domain-spec or address text (NULL: none) */
	size_t spec_len;
	int cidr4, cidr6; /* -1: not given */
	uint8_t addr[16];
};

/* ---- small helpers -------------------------------------------------- */

static bool is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(int c)
{
	return is_alpha(c) || is_digit(c);
}

/* e->why = @fmt with its one "%s" (if any) replaced by @arg[0 .. @n),
 * truncated to fit: a comment, so no printf on the evaluation path. */
static void set_why(struct spf_eval *e, const char *fmt, const char *arg, size_t n)
{
	const char *pct = strstr(fmt, "%s");
	size_t o = 0, cap = sizeof(e->why) - 1;
	size_t pre = pct ? (size_t)(pct - fmt) : strlen(fmt);

	if (!arg)
		n = 0;
	memcpy(e->why, fmt, pre < cap ? pre : cap);
	o = pre < cap ? pre : cap;
	if (pct) {
		size_t k = n < cap - o ? n : cap - o;
		memcpy(e->why + o, arg, k);
		o += k;
		pct += 2;
		k = strlen(pct);
		k = k < cap - o ? k : cap - o;
		memcpy(e->why + o, pct, k);
		o += k;
	}
	e->why[o] = '\0';
}

static void done(struct spf_eval *e, uint8_t res)
{
	e->result = res;
	e->state = ST_DONE;
}

static void permerror(struct spf_eval *e, const char *what, const char *arg, size_t n)
{
	set_why(e, what, arg, n);
	done(e, SPF_PERMERROR);
}

/* ---- syntax ------------------------------------------------------------ */

/* A macro-expand at @s (pointing at '%'): its length, or 0 if malformed.
 * @exp: inside an explanation (c, r, t allowed). */
static size_t macro_len(const char *s, size_t n, bool exp)
{
	size_t i = 2;

	if (n < 2)
		return 0;
	if (s[1] == '%' || s[1] == '_' || s[1] == '-')
		return 2;
	if (s[1] != '{' || n < 4)
		return 0;
	if (!strchr(exp ? "slodiphvcrtSLODIPHVCRT" : "slodiphvSLODIPHV", s[2]) || !s[2])
		return 0;
	i = 3;
	while (i < n && is_digit(s[i]))
		i++;
	if (i < n && (s[i] == 'r' || s[i] == 'R'))
		i++;
	while (i < n && s[i] && strchr(".-+,/_=", s[i]))
		i++;
	return i < n && s[i] == '}' ? i + 1 : 0;
}

/* A macro-string (RFC 7208 7.1). Sets *@ends_macro when its last element
 * is a macro-expand. */
static bool macro_string_ok(const char *s, size_t n, bool *ends_macro)
{
	bool last_macro = false;

	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			size_t l = macro_len(s + i, n - i, false);
			if (!l)
				return false;
			i += l;
			last_macro = true;
			continue;
		}
		if (c < 0x21 || c > 0x7e)
			return false;
		last_macro = false;
		i++;
	}
	if (ends_macro)
		*ends_macro = last_macro;
	return true;
}

/* toplabel = ( *alphanum ALPHA *alphanum ) /
 *            ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
static bool toplabel_ok(const char *s, size_t n)
{
	bool alpha = false, hyphen = false;

	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '-')
			hyphen = true;
		else if (is_alpha(s[i]))
			alpha = true;
		else if (!is_digit(s[i]))
			return false;
	}
	return alpha || hyphen;
}

/* domain-spec = macro-string domain-end;
 * domain-end = ( "." toplabel [ "." ] ) / macro-expand */
static bool domain_spec_ok(const char *s, size_t n)
{
	bool ends_macro;
	size_t end = n, dot;

	if (n == 0 || !macro_string_ok(s, n, &ends_macro))
		return false;
	if (ends_macro)
		return true;
	if (s[end - 1] == '.')
		end--;
	for (dot = end; dot > 0 && s[dot - 1] != '.'; dot--)
		;
	if (dot == 0) /* no "." before the toplabel */
		return false;
	/* the toplabel must not be part of a macro: "%{d}x" is not one */
	for (size_t i = dot; i < end; i++)
		if (s[i] == '%' || s[i] == '{' || s[i] == '}')
			return false;
	return toplabel_ok(s + dot, end - dot);
}

/* "/" ( "0" / %x31-39 *DIGIT ), at most @max. Returns the value or -1. */
static int cidr_val(const char *s, size_t n, int max)
{
	int v = 0;

	if (n == 0 || n > 3 || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

/* Split a trailing dual-cidr-length off @t->spec. Returns false if one is
 * there but malformed. */
static bool split_cidr(struct term *t, bool dual)
{
	const char *s = t->spec;
	size_t n = t->spec_len, i;

	/* "//" cidr6 at the end */
	for (i = n; i > 0 && is_digit(s[i - 1]); i--)
		;
	if (dual && i >= 2 && i < n && s[i - 1] == '/' && s[i - 2] == '/') {
		if ((t->cidr6 = cidr_val(s + i, n - i, 128)) < 0)
			return false;
		n = i - 2;
		for (i = n; i > 0 && is_digit(s[i - 1]); i--)
			;
	} else if (dual && i >= 2 && i == n && s[i - 1] == '/' && s[i - 2] == '/') {
		return false; /* "//" without a length */
	}
	if (i >= 1 && i <= n && s[i - 1] == '/' && (i < 2 || s[i - 2] != '/')) {
		if (i == n)
			return false; /* "/" without a length */
		if ((t->cidr4 = cidr_val(s + i, n - i, dual ? 32 : 128)) < 0)
			return false;
		n = i - 1;
	}
	t->spec_len = n;
	if (n == 0)
		t->spec = NULL;
	return true;
}

/* Parse the term @s[0 .. @n) into @t. Returns true if it is well-formed. */
static bool parse_term(const char *s, size_t n, struct term *t)
{
	size_t i = 0, nl;
	bool has_qual = false;

	memset(t, 0, sizeof(*t));
	t->cidr4 = t->cidr6 = -1;
	t->qual = SPF_PASS;
	if (n && strchr("+-~?", s[0])) {
		static const uint8_t q[] = {['+'] = SPF_PASS,
					    ['-'] = SPF_FAIL,
					    ['~'] = SPF_SOFTFAIL,
					    ['?'] = SPF_NEUTRAL};
		t->qual = q[(unsigned char)s[0]];
		has_qual = true;
		s++, n--;
	}
	/* name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
	if (n == 0 || !is_alpha(s[0]))
		return false;
	for (i = 1; i < n && (is_alnum(s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.'); i++)
		;
	nl = i;
	if (i < n && s[i] == '=') { /* a modifier */
		if (has_qual)
			return false;
		t->spec = s + i + 1;
		t->spec_len = n - i - 1;
		if (nl == 8 && strncasecmp(s, "redirect", 8) == 0) {
			t->kind = T_REDIRECT;
			return domain_spec_ok(t->spec, t->spec_len);
		}
		if (nl == 3 && strncasecmp(s, "exp", 3) == 0) {
			t->kind = T_EXP;
			return domain_spec_ok(t->spec, t->spec_len);
		}
		t->kind = T_MODIFIER;
		return macro_string_ok(t->spec, t->spec_len, NULL);
	}
	/* a mechanism: its name runs to ':' or '/' or the end */
	for (unsigned k = M_ALL; k <= M_EXISTS; k++)
		if (strlen(mech_names[k]) == nl && strncasecmp(s, mech_names[k], nl) == 0)
			t->kind = (uint8_t)k;
	if (!t->kind || (i < n && s[i] != ':' && s[i] != '/'))
		return false;
	if (i < n && s[i] == ':') {
		t->spec = s + i + 1;
		t->spec_len = n - i - 1;
	} else if (i < n) { /* '/': a cidr without a domain */
		t->spec = s + i;
		t->spec_len = n - i;
	}
	switch (t->kind) {
	case M_ALL:
		return i == n;
	case M_INCLUDE:
	case M_EXISTS:
		return i < n && s[i] == ':' && domain_spec_ok(t->spec, t->spec_len);
	case M_PTR:
		return i == n || (s[i] == ':' && domain_spec_ok(t->spec, t->spec_len));
	case M_A:
	case M_MX: {
		bool colon = i < n && s[i] == ':';
		if (!split_cidr(t, true))
			return false;
		if (colon)
			return t->spec && domain_spec_ok(t->spec, t->spec_len);
		return !t->spec; /* "a/24//64": only lengths after the name */
	}
	case M_IP4:
	case M_IP6: {
		char buf[64];
		if (i == n || s[i] != ':')
			return false;
		if (!split_cidr(t, false) || !t->spec || t->spec_len >= sizeof(buf))
			return false;
		if (t->kind == M_IP4 && t->cidr4 > 32)
			return false;
		memcpy(buf, t->spec, t->spec_len);
		buf[t->spec_len] = '\0';
		return inet_pton(t->kind == M_IP4 ? AF_INET : AF_INET6, buf, t->addr) == 1;
	}
	}
	return false;
}

/* The next term of @rec from *@pos: its start and length (0: no more). */
static size_t next_term(const char *rec, size_t len, uint16_t *pos, const char **start)
{
	size_t p = *pos, b;

	while (p < len && rec[p] == ' ')
		p++;
	b = p;
	while (p < len && rec[p] != ' ')
		p++;
	*start = rec + b;
	*pos = (uint16_t)p;
	return p - b;
}

static bool is_spf_record(const char *s)
{
	return strncasecmp(s, "v=spf1", 6) == 0 && (s[6] == '\0' || s[6] == ' ');
}

/* ---- frames and the arena -------------------------------------------- */

static struct spf_frame *top(struct spf_eval *e)
{
	return &e->f[e->depth - 1];
}

static int arena_put(struct spf_eval *e, const char *s, size_t n)
{
	int off = e->arena_used;

	if ((size_t)e->arena_used + n + 1 > sizeof(e->arena))
		return -1;
	memcpy(e->arena + off, s, n);
	e->arena[off + n] = '\0';
	e->arena_used = (uint16_t)(e->arena_used + n + 1);
	return off;
}

static void ask(struct spf_eval *e, uint8_t wait, uint8_t type, const char *name)
{
	size_t n = strnlen(name, MX_DNS_NAME_MAX);

	e->wait = wait;
	e->q.type = type;
	memcpy(e->q.name, name, n);
	e->q.name[n] = '\0';
	e->state = ST_WAIT;
}

/* Open a frame for @domain's record (its TXT asked). */
static void push(struct spf_eval *e, const char *domain, uint8_t inc_qual)
{
	struct spf_frame *f;
	int off;

	if (e->depth >= SPF_DEPTH) {
		permerror(e, "includes nested too deep", NULL, 0);
		return;
	}
	f = &e->f[e->depth];
	memset(f, 0, sizeof(*f));
	f->mark = e->arena_used;
	f->inc_qual = inc_qual;
	if ((off = arena_put(e, domain, strlen(domain))) < 0) {
		permerror(e, "records too large", NULL, 0);
		return;
	}
	f->dom = (uint16_t)off;
	e->depth++;
	ask(e, W_TXT, MX_DNS_TXT, domain);
}

/* The frame on top ended with @res: give it to the include that opened it,
 * up the stack, or finish. */
static void frame_done(struct spf_eval *e, uint8_t res)
{
	for (;;) {
		struct spf_frame *f = top(e);
		uint8_t q = f->inc_qual;

		if (e->depth == 1) {
			done(e, res);
			return;
		}
		e->arena_used = f->mark;
		e->depth--;
		switch (res) {
		case SPF_PASS: /* the include matches: its qualifier ends the parent */
			res = q;
			continue;
		case SPF_FAIL:
		case SPF_SOFTFAIL:
		case SPF_NEUTRAL:
			e->state = ST_RUN; /* no match: the parent goes on */
			return;
		case SPF_TEMPERROR:
			done(e, SPF_TEMPERROR);
			return;
		default: /* none or permerror */
			if (res == SPF_NONE)
				set_why(e, "include of %s: no SPF record", e->arena + f->dom,
					strlen(e->arena + f->dom));
			done(e, SPF_PERMERROR);
			return;
		}
	}
}

/* ---- macros ------------------------------------------------------------ */

/* The value of macro letter @c (lower case) into @out. */
static size_t macro_value(const struct spf_eval *e, char c, char *out, size_t cap)
{
	const uint8_t *a = e->ip;
	int n = 0;

	switch (c) {
	case 's':
		n = snprintf(out, cap, "%s@%s", e->local, e->domain);
		break;
	case 'l':
		n = snprintf(out, cap, "%s", e->local);
		break;
	case 'o':
		n = snprintf(out, cap, "%s", e->domain);
		break;
	case 'd':
		n = snprintf(out, cap, "%s", e->arena + e->f[e->depth - 1].dom);
		break;
	case 'h':
		n = snprintf(out, cap, "%s", e->helo);
		break;
	case 'v':
		n = snprintf(out, cap, "%s", e->af == AF_INET ? "in-addr" : "ip6");
		break;
	case 'p':
		n = snprintf(out, cap, "unknown");
		break;
	case 'i':
		if (e->af == AF_INET) {
			n = snprintf(out, cap, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		} else {
			static const char hex[] = "0123456789abcdef";
			if (cap < 64)
				return 0;
			for (int i = 0; i < 16; i++) {
				out[n++] = hex[a[i] >> 4];
				out[n++] = '.';
				out[n++] = hex[a[i] & 0xf];
				out[n++] = '.';
			}
			out[--n] = '\0';
		}
		break;
	}
	return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

/* Expand the macro-expand at @s (of length @l, checked) onto @out at *@o. */
static bool expand_one(const struct spf_eval *e, const char *s, size_t l, char *out, size_t *o)
{
	char val[EXPAND_MAX], *parts[128];
	const char *delims = ".";
	char dbuf[16];
	size_t vn, np = 0, keep = 0, i = 3, start;
	bool rev = false, upper;
	char c;

	if (s[1] != '{') {
		const char *lit = s[1] == '%' ? "%" : s[1] == '_' ? " " : "%20";
		size_t ln = strlen(lit);
		if (*o + ln >= EXPAND_MAX)
			return false;
		memcpy(out + *o, lit, ln);
		*o += ln;
		return true;
	}
	c = s[2];
	upper = c >= 'A' && c <= 'Z';
	vn = macro_value(e, (char)tolower((unsigned char)c), val, sizeof(val));
	while (i < l && is_digit(s[i])) {
		keep = keep * 10 + (size_t)(s[i] - '0');
		if (keep > 1000)
			keep = 1000;
		i++;
	}
	if (i > 3 && keep == 0)
		return false; /* a digit transformer must be nonzero */
	if (s[i] == 'r' || s[i] == 'R')
		rev = true, i++;
	if (s[i] != '}') {
		size_t dn = l - 1 - i;
		if (dn >= sizeof(dbuf))
			dn = sizeof(dbuf) - 1;
		memcpy(dbuf, s + i, dn);
		dbuf[dn] = '\0';
		delims = dbuf;
	}
	/* split on the delimiters */
	start = 0;
	for (i = 0; i <= vn && np < 128; i++) {
		if (i == vn || strchr(delims, val[i])) {
			val[i] = '\0';
			parts[np++] = val + start;
			start = i + 1;
		}
	}
	if (rev)
		for (i = 0; i < np / 2; i++) {
			char *t = parts[i];
			parts[i] = parts[np - 1 - i];
			parts[np - 1 - i] = t;
		}
	i = keep && keep < np ? np - keep : 0;
	for (size_t first = i; i < np; i++) {
		const char *p = parts[i];
		if (i > first) {
			if (*o + 1 >= EXPAND_MAX)
				return false;
			out[(*o)++] = '.';
		}
		for (; *p; p++) {
			unsigned char ch = (unsigned char)*p;
			if (upper &&
			    !(is_alnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~')) {
				if (*o + 3 >= EXPAND_MAX)
					return false;
				*o += (size_t)snprintf(out + *o, 4, "%%%02X", ch);
			} else {
				if (*o + 1 >= EXPAND_MAX)
					return false;
				out[(*o)++] = (char)ch;
			}
		}
	}
	return true;
}

/* Expand domain-spec @s[0 .. @n) into a query name in @name (normalised).
 * Returns 1 if @name is a name we can ask for, 0 if the expansion is not a
 * valid DNS name (treated as non-existent), -1 on an expansion error. */
static int expand_name(const struct spf_eval *e, const char *s, size_t n, char *name)
{
	char out[EXPAND_MAX];
	size_t o = 0;
	const char *p;

	for (size_t i = 0; i < n;) {
		if (s[i] == '%') {
			size_t l = macro_len(s + i, n - i, false);
			if (!l || !expand_one(e, s + i, l, out, &o))
				return -1;
			i += l;
		} else {
			if (o + 1 >= EXPAND_MAX)
				return -1;
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
	if (o > 0 && out[o - 1] == '.')
		out[--o] = '\0';
	/* RFC 7208 7.3: over 253 octets, drop labels from the left */
	p = out;
	while (strlen(p) > MX_DNS_NAME_MAX) {
		const char *dot = strchr(p, '.');
		if (!dot)
			return 0;
		p = dot + 1;
	}
	return dns_name_norm(p, name) > 0 ? 1 : 0;
}

/* ---- matching ------------------------------------------------------- */

static bool prefix_match(const uint8_t *a, const uint8_t *b, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (rest) {
		uint8_t m = (uint8_t)(0xff << (8 - rest));
		return (a[full] & m) == (b[full] & m);
	}
	return true;
}

/* Does an answer of addresses hold the client (with the term's CIDR)? */
static bool addr_match(const struct spf_eval *e, const struct mx_dns_result *r, int c4, int c6)
{
	if (r->status != MX_DNS_OK)
		return false;
	for (unsigned i = 0; i < r->n && i < MX_DNS_RR_MAX; i++) {
		if (e->af == AF_INET && r->type == MX_DNS_A &&
		    prefix_match(e->ip, (const uint8_t *)&r->u.a[i], c4))
			return true;
		if (e->af == AF_INET6 && r->type == MX_DNS_AAAA &&
		    prefix_match(e->ip, (const uint8_t *)&r->u.aaaa[i], c6))
			return true;
	}
	return false;
}

static uint8_t addr_type(const struct spf_eval *e)
{
	return e->af == AF_INET ? MX_DNS_A : MX_DNS_AAAA;
}

/* A term matched: its qualifier ends this frame. */
static void matched(struct spf_eval *e)
{
	struct spf_frame *f = top(e);

	set_why(e, "mechanism %s matched", e->arena + f->rec + f->pos - e->term_len, e->term_len);
	frame_done(e, e->qual);
}

static bool void_lookup(struct spf_eval *e)
{
	if (++e->voids > VOID_MAX) {
		permerror(e, "more than 2 void lookups", NULL, 0);
		return false;
	}
	return true;
}

/* ---- the walk ---------------------------------------------------------- */

/* Check the record @rec of the top frame whole; note its redirect. */
static bool record_ok(struct spf_eval *e, const char *rec, size_t len)
{
	struct spf_frame *f = top(e);
	bool seen_redir = false, seen_exp = false;
	uint16_t pos = 6;
	const char *t;
	size_t n;
	struct term term;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)rec[i] > 0x7e || (unsigned char)rec[i] < 0x20) {
			permerror(e, "record has a character that is not 7-bit text", NULL, 0);
			return false;
		}
	while ((n = next_term(rec, len, &pos, &t)) > 0) {
		if (!parse_term(t, n, &term)) {
			permerror(e, "syntax error in term '%s'", t, n);
			return false;
		}
		if (term.kind == T_REDIRECT) {
			if (seen_redir) {
				permerror(e, "two redirect modifiers", NULL, 0);
				return false;
			}
			seen_redir = true;
			f->redir = (uint16_t)(t - rec + 9);
			f->redir_len = (uint16_t)(n - 9);
		} else if (term.kind == T_EXP) {
			if (seen_exp) {
				permerror(e, "two exp modifiers", NULL, 0);
				return false;
			}
			seen_exp = true;
		}
	}
	return true;
}

/* The TXT answer for the top frame's domain. */
static void got_record(struct spf_eval *e, const struct mx_dns_result *r)
{
	struct spf_frame *f = top(e);
	const char *rec = NULL;
	unsigned found = 0;
	int off;

	if (r->status == MX_DNS_TEMPFAIL) {
		set_why(e, "DNS error looking up the SPF record of %s", e->arena + f->dom,
			strlen(e->arena + f->dom));
		frame_done(e, SPF_TEMPERROR);
		return;
	}
	if (r->status == MX_DNS_OK && r->type == MX_DNS_TXT)
		for (unsigned i = 0; i < r->n && i < MX_DNS_RR_MAX; i++)
			if (is_spf_record(r->text + r->u.s.off[i]))
				rec = r->text + r->u.s.off[i], found++;
	if (found > 1) {
		permerror(e, "%s has more than one SPF record", e->arena + f->dom,
			  strlen(e->arena + f->dom));
		return;
	}
	if (!found) {
		set_why(e, "%s has no SPF record", e->arena + f->dom, strlen(e->arena + f->dom));
		frame_done(e, f->redirected ? SPF_PERMERROR : SPF_NONE);
		return;
	}
	if ((off = arena_put(e, rec, strlen(rec))) < 0) {
		permerror(e, "records too large", NULL, 0);
		return;
	}
	f->rec = (uint16_t)off;
	f->rec_len = (uint16_t)strlen(rec);
	f->pos = 6;
	if (!record_ok(e, e->arena + f->rec, f->rec_len))
		return;
	e->state = ST_RUN;
}

/* Evaluate terms of the top frame until one needs DNS or it ends. */
static void run(struct spf_eval *e)
{
	while (e->state == ST_RUN) {
		struct spf_frame *f = top(e);
		const char *rec = e->arena + f->rec, *t;
		size_t n = next_term(rec, f->rec_len, &f->pos, &t);
		struct term term;
		char name[MX_DNS_NAME_MAX + 1];
		int x;

		if (n == 0) { /* the end: redirect, or neutral */
			if (!f->redir_len) {
				set_why(e, "no mechanism matched", NULL, 0);
				frame_done(e, SPF_NEUTRAL);
				return;
			}
			if (++e->lookups > LOOKUP_MAX) {
				permerror(e, "more than 10 DNS lookups", NULL, 0);
				return;
			}
			x = expand_name(e, rec + f->redir, f->redir_len, name);
			if (x < 0) {
				permerror(e, "bad macro in redirect", NULL, 0);
				return;
			}
			if (x == 0) {
				permerror(e, "redirect to an invalid domain", NULL, 0);
				return;
			}
			/* replace this frame by the target's */
			e->arena_used = f->mark;
			e->depth--;
			uint8_t q = f->inc_qual;
			push(e, name, q);
			if (e->state != ST_DONE)
				top(e)->redirected = 1;
			return;
		}
		parse_term(t, n, &term); /* checked by record_ok() */
		e->term_len = (uint16_t)n;
		e->qual = term.qual;
		e->mech = term.kind;
		e->cidr4 = (uint8_t)(term.cidr4 < 0 ? 32 : term.cidr4);
		e->cidr6 = (uint8_t)(term.cidr6 < 0 ? 128 : term.cidr6);
		switch (term.kind) {
		case T_REDIRECT:
		case T_EXP:
		case T_MODIFIER:
			continue;
		case M_ALL:
			matched(e);
			return;
		case M_IP4:
			if (e->af == AF_INET &&
			    prefix_match(e->ip, term.addr, term.cidr4 < 0 ? 32 : term.cidr4)) {
				matched(e);
				return;
			}
			continue;
		case M_IP6:
			if (e->af == AF_INET6 &&
			    prefix_match(e->ip, term.addr, term.cidr4 < 0 ? 128 : term.cidr4)) {
				matched(e);
				return;
			}
			continue;
		default:
			break;
		}
		/* include, a, mx, ptr, exists: a DNS-querying term */
		if (++e->lookups > LOOKUP_MAX) {
			permerror(e, "more than 10 DNS lookups", NULL, 0);
			return;
		}
		if (term.spec)
			x = expand_name(e, term.spec, term.spec_len, name);
		else
			x = dns_name_norm(e->arena + f->dom, name) > 0 ? 1 : 0;
		if (x < 0) {
			permerror(e, "bad macro in '%s'", t, n);
			return;
		}
		if (x == 0) { /* not a name DNS can hold: does not exist */
			if (term.kind == M_INCLUDE) {
				permerror(e, "include of an invalid domain", NULL, 0);
				return;
			}
			continue;
		}
		memcpy(e->target, name, strlen(name) + 1); /* both MX_DNS_NAME_MAX + 1 */
		switch (term.kind) {
		case M_INCLUDE:
			push(e, name, term.qual);
			return;
		case M_A:
			ask(e, W_A, addr_type(e), name);
			return;
		case M_MX:
			ask(e, W_MX, MX_DNS_MX, name);
			return;
		case M_EXISTS:
			ask(e, W_EXISTS, MX_DNS_A, name);
			return;
		case M_PTR: {
			char ptr[MX_DNS_NAME_MAX + 1];
			mx_dns_ptr_name(e->af, e->ip, ptr, sizeof(ptr));
			ask(e, W_PTR, MX_DNS_PTR, ptr);
			return;
		}
		}
	}
}

/* Is @name the PTR target domain or below it? */
static bool under_target(const char *name, const char *target)
{
	size_t n = strlen(name), t = strlen(target);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == t)
		return strncasecmp(name, target, t) == 0;
	return n > t && name[n - t - 1] == '.' && strncasecmp(name + n - t, target, t) == 0;
}

/* Keep the names of the MX or PTR answer @r (at most NAMES_MAX) in the
 * arena above what the frames use (no frame is pushed while they are
 * walked). False (permerror set) if they do not fit. */
static bool keep_names(struct spf_eval *e, const struct mx_dns_result *r)
{
	size_t o = e->arena_used;

	e->name_pos = (uint16_t)o;
	e->names_left = 0;
	for (unsigned i = 0; i < r->n && i < MX_DNS_RR_MAX && i < NAMES_MAX; i++) {
		const char *nm = r->text + r->u.s.off[i];
		size_t n = strnlen(nm, MX_DNS_NAME_MAX + 1);
		if (n > MX_DNS_NAME_MAX)
			continue;
		if (o + n + 1 > sizeof(e->arena)) {
			permerror(e, "records too large", NULL, 0);
			return false;
		}
		memcpy(e->arena + o, nm, n + 1);
		o += n + 1;
		e->names_left++;
	}
	return true;
}

/* Ask for the address of the next MX or PTR name; false when none is left. */
static bool next_name(struct spf_eval *e, uint8_t wait)
{
	while (e->names_left > 0) {
		const char *nm = e->arena + e->name_pos;
		char norm[MX_DNS_NAME_MAX + 1];
		e->name_pos = (uint16_t)(e->name_pos + strlen(nm) + 1);
		e->names_left--;
		if (wait == W_PTRADDR && !under_target(nm, e->target))
			continue;
		if (dns_name_norm(nm, norm) <= 0)
			continue; /* the null MX (".") or a name we cannot ask */
		ask(e, wait, addr_type(e), norm);
		return true;
	}
	return false;
}

void spf_feed(struct spf_eval *e, const struct mx_dns_result *r)
{
	if (e->state != ST_WAIT)
		return;
	e->state = ST_RUN;
	switch (e->wait) {
	case W_TXT:
		got_record(e, r);
		return;
	case W_A:
	case W_EXISTS:
		if (r->status == MX_DNS_TEMPFAIL) {
			set_why(e, "DNS error looking up %s", e->target, strlen(e->target));
			done(e, SPF_TEMPERROR);
		} else if (r->status != MX_DNS_OK) {
			void_lookup(e);
		} else if (e->wait == W_EXISTS || addr_match(e, r, e->cidr4, e->cidr6)) {
			matched(e);
		}
		return;
	case W_MX:
		if (r->status == MX_DNS_TEMPFAIL) {
			set_why(e, "DNS error looking up MX of %s", e->target, strlen(e->target));
			done(e, SPF_TEMPERROR);
			return;
		}
		if (r->status != MX_DNS_OK) {
			void_lookup(e);
			return;
		}
		if (r->n > NAMES_MAX) {
			permerror(e, "more than 10 MX names for %s", e->target, strlen(e->target));
			return;
		}
		if (keep_names(e, r))
			next_name(e, W_MXADDR);
		return;
	case W_MXADDR:
		if (r->status == MX_DNS_TEMPFAIL) {
			set_why(e, "DNS error looking up an MX host of %s", e->target,
				strlen(e->target));
			done(e, SPF_TEMPERROR);
			return;
		}
		if (addr_match(e, r, e->cidr4, e->cidr6)) {
			matched(e);
			return;
		}
		next_name(e, W_MXADDR);
		return;
	case W_PTR:
		/* RFC 7208 5.5: a DNS error here is no match */
		if (r->status == MX_DNS_TEMPFAIL)
			return;
		if (r->status != MX_DNS_OK) {
			void_lookup(e);
			return;
		}
		if (keep_names(e, r))
			next_name(e, W_PTRADDR);
		return;
	case W_PTRADDR:
		/* a validated name: the client's address among its own */
		if (r->status == MX_DNS_OK &&
		    addr_match(e, r, e->af == AF_INET ? 32 : 0, e->af == AF_INET6 ? 128 : 0)) {
			matched(e);
			return;
		}
		next_name(e, W_PTRADDR);
		return;
	}
}

enum spf_step_ret spf_step(struct spf_eval *e)
{
	/* Each round consumes a term or ends a frame: bounded by the record. */
	for (unsigned guard = 0; guard < 100000; guard++) {
		switch (e->state) {
		case ST_DONE:
			return SPF_STEP_DONE;
		case ST_WAIT:
			return SPF_STEP_QUERY;
		default:
			run(e);
		}
	}
	permerror(e, "evaluation did not end", NULL, 0);
	return SPF_STEP_DONE;
}

/* ---- start -------------------------------------------------------------- */

/* RFC 7208 4.3: a domain we can check (a multi-label DNS name, not an
 * address literal). */
static bool domain_checkable(const char *d)
{
	char norm[MX_DNS_NAME_MAX + 1];

	return d[0] != '[' && strchr(d, '.') && dns_name_norm(d, norm) > 0;
}

void spf_start(struct spf_eval *e, int af, const void *addr, const char *sender, const char *helo)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const char *at;

	memset(e, 0, offsetof(struct spf_eval, arena));
	e->af = (uint8_t)af;
	if (af == AF_INET6 && memcmp(addr, mapped, 12) == 0) {
		e->af = AF_INET;
		memcpy(e->ip, (const uint8_t *)addr + 12, 4);
	} else {
		memcpy(e->ip, addr, af == AF_INET ? 4 : 16);
	}
	snprintf(e->helo, sizeof(e->helo), "%s", helo ? helo : "");
	if (sender && sender[0] && (at = strrchr(sender, '@'))) {
		size_t ln = (size_t)(at - sender);
		if (ln >= sizeof(e->local))
			ln = sizeof(e->local) - 1;
		memcpy(e->local, sender, ln);
		e->local[ln] = '\0';
		snprintf(e->domain, sizeof(e->domain), "%s", at + 1);
	} else if (sender && sender[0]) { /* a bare domain */
		snprintf(e->domain, sizeof(e->domain), "%s", sender);
	} else {
		e->helo_id = 1;
		snprintf(e->domain, sizeof(e->domain), "%s", e->helo);
	}
	if (!e->local[0])
		snprintf(e->local, sizeof(e->local), "postmaster");
	if (af != AF_INET && af != AF_INET6) {
		permerror(e, "not an IP address", NULL, 0);
		return;
	}
	if (!domain_checkable(e->domain)) {
		set_why(e, "%s is not a domain that can be checked", e->domain, strlen(e->domain));
		done(e, SPF_NONE);
		return;
	}
	{
		char norm[MX_DNS_NAME_MAX + 1];
		dns_name_norm(e->domain, norm);
		push(e, norm, SPF_PASS);
	}
}

/* ---- output ------------------------------------------------------------ */

const char *spf_result_name(enum spf_result r)
{
	static const char *const names[] = {
		[SPF_NONE] = "none",	       [SPF_NEUTRAL] = "neutral",
		[SPF_PASS] = "pass",	       [SPF_FAIL] = "fail",
		[SPF_SOFTFAIL] = "softfail",   [SPF_TEMPERROR] = "temperror",
		[SPF_PERMERROR] = "permerror",
	};
	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "permerror";
}

/* Copy @s into @out (@cap) with what could break a header field replaced. */
static void safe(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	for (; *s && o + 1 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		out[o++] = (c < 0x21 || c > 0x7e || c == '"' || c == ';' || c == '\\' || c == '(' ||
			    c == ')')
				   ? '?'
				   : (char)c;
	}
	out[o] = '\0';
}

int spf_received_spf(const struct spf_eval *e, const char *receiver, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN], who[2 * MX_DNS_NAME_MAX + 2], sender[2 * MX_DNS_NAME_MAX + 2];
	char helo[MX_DNS_NAME_MAX + 1], rcv[MX_DNS_NAME_MAX + 1], why[SPF_WHY], comment[1280];
	char raw[2 * MX_DNS_NAME_MAX + 2];

	inet_ntop(e->af == AF_INET ? AF_INET : AF_INET6, e->ip, ip, sizeof(ip));
	snprintf(raw, sizeof(raw), "%s@%s", e->local, e->domain);
	safe(raw, who, sizeof(who));
	safe(e->helo, helo, sizeof(helo));
	safe(receiver ? receiver : "unknown", rcv, sizeof(rcv));
	safe(e->why, why, sizeof(why));
	if (e->helo_id)
		sender[0] = '\0';
	else
		snprintf(sender, sizeof(sender), "%s", who);
	switch (e->result) {
	case SPF_PASS:
		snprintf(comment, sizeof(comment),
			 "%s: domain of %s designates %s as permitted sender", rcv, who, ip);
		break;
	case SPF_FAIL:
		snprintf(comment, sizeof(comment),
			 "%s: domain of %s does not designate %s as permitted sender", rcv, who,
			 ip);
		break;
	case SPF_SOFTFAIL:
		snprintf(comment, sizeof(comment),
			 "%s: domain of transitioning %s does not designate %s as permitted sender",
			 rcv, who, ip);
		break;
	case SPF_NEUTRAL:
		snprintf(comment, sizeof(comment),
			 "%s: %s is neither permitted nor denied by domain of %s", rcv, ip, who);
		break;
	case SPF_NONE:
		snprintf(comment, sizeof(comment),
			 "%s: domain of %s does not designate permitted sender hosts", rcv, who);
		break;
	default:
		snprintf(comment, sizeof(comment),
			 "%s: error in processing the SPF record of %s: %s", rcv, who, why);
		break;
	}
	return snprintf(
		buf, len,
		"Received-SPF: %s (%s)\r\n\tclient-ip=%s; envelope-from=\"%s\"; helo=%s;\r\n"
		"\treceiver=%s; identity=%s;",
		spf_result_name((enum spf_result)e->result), comment, ip, sender, helo, rcv,
		e->helo_id ? "helo" : "mailfrom");
}
