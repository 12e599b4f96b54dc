/*
 * smtp_addr.c - RFC 5321 path syntax, RFC 3461 xtext, RFC 3629 UTF-8 and
 * HELO argument checks for the SMTP engine.
 *
 * Pure functions over (pointer, length); nothing is copied or allocated:
 * results point into the caller's line buffer.
 */
#include <arpa/inet.h>
#include <string.h>

#include "smtp/smtp-int.h"

bool smtp_ieq(const char *p, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return false;
	}
	return true;
}

bool smtp_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t k;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			k = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		/* RFC 3629 3: overlong forms and surrogates are invalid. */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/*
 * RFC 3461 4: xtext = *( xchar / hexchar )
 *   xchar = any ASCII CHAR between "!" (33) and "~" (126) inclusive,
 *           except for "+" and "=".
 *   hexchar = ASCII "+" immediately followed by two upper case hexadecimal
 *           digits.
 */
bool smtp_xtext_valid(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '+') {
			for (int j = 1; j <= 2; j++) {
				unsigned char h = i + j < n ? (unsigned char)p[i + j] : 0;

				if (!((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F')))
					return false;
			}
			i += 2;
			continue;
		}
		if (c < 33 || c > 126 || c == '=')
			return false;
	}
	return true;
}

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 3.2.3 atext (RFC 5321 Atom); RFC 6531 3.3 adds UTF8-non-ascii. */
static bool is_atext(unsigned char c, bool utf8)
{
	if (is_alnum(c))
		return true;
	if (c >= 0x80)
		return utf8;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/*
 * RFC 5321 4.1.2:
 *   Domain = sub-domain *("." sub-domain)
 *   sub-domain = Let-dig [Ldh-str]
 *   Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig
 * RFC 6531 3.3: sub-domain =/ U-label (non-ASCII octets, when SMTPUTF8).
 * RFC 1035 2.3.4: labels <= 63 octets.
 * Returns the length parsed (0 on syntax error).
 */
static size_t parse_domain(const char *p, const char *e, bool utf8)
{
	const char *q = p;

	for (;;) {
		const char *label = q;

		while (q < e && (is_alnum((unsigned char)*q) || *q == '-' ||
				 ((unsigned char)*q >= 0x80 && utf8)))
			q++;
		if (q == label || q - label > 63 || *label == '-' || q[-1] == '-')
			return 0;
		if (q < e && *q == '.') {
			q++;
			continue;
		}
		break;
	}
	return (size_t)(q - p);
}

/*
 * RFC 5321 4.1.3:
 *   address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 *                     General-address-literal ) "]"
 *   IPv6-address-literal = "IPv6:" IPv6-addr
 *   General-address-literal = Standardized-tag ":" 1*dcontent
 *   dcontent = %d33-90 / %d94-126
 * @p points at '['; returns the length including the brackets, 0 if bad.
 */
static size_t parse_addr_literal(const char *p, const char *e)
{
	const char *q = p + 1, *close;
	char tmp[64];
	size_t n;
	unsigned char bin[16];

	close = memchr(q, ']', (size_t)(e - q));
	if (!close)
		return 0;
	n = (size_t)(close - q);
	if (n == 0 || n >= sizeof(tmp))
		return 0;
	memcpy(tmp, q, n);
	tmp[n] = 0;
	if (n > 5 && smtp_ieq(tmp, "ipv6:", 5)) {
		if (inet_pton(AF_INET6, tmp + 5, bin) != 1)
			return 0;
	} else if (tmp[0] >= '0' && tmp[0] <= '9' && !strchr(tmp, ':')) {
		/* inet_pton(AF_INET) is strict dotted-quad: no octal, no short forms. */
		if (inet_pton(AF_INET, tmp, bin) != 1)
			return 0;
	} else {
		size_t i = 0;

		/* Standardized-tag = Ldh-str */
		while (i < n && (is_alnum((unsigned char)tmp[i]) || tmp[i] == '-'))
			i++;
		if (i == 0 || i >= n || tmp[i] != ':' || tmp[i - 1] == '-' || i + 1 == n)
			return 0;
		for (i++; i < n; i++) {
			unsigned char c = (unsigned char)tmp[i];

			if (c < 33 || c > 126 || (c >= 91 && c <= 93))
				return 0;
		}
	}
	return n + 2;
}

/*
 * RFC 5321 4.1.2:
 *   Reverse-path = Path / "<>"
 *   Forward-path = Path
 *   Path = "<" [ A-d-l ":" ] Mailbox ">"
 *   A-d-l = At-domain *( "," At-domain )
 *         ; Note that this form, the so-called "source route", MUST BE
 *         ; accepted, SHOULD NOT be generated, and SHOULD be ignored.
 *   Mailbox = Local-part "@" ( Domain / address-literal )
 *   Local-part = Dot-string / Quoted-string
 *   Quoted-string = DQUOTE *QcontentSMTP DQUOTE
 *   qtextSMTP = %d32-33 / %d35-91 / %d93-126
 *   quoted-pairSMTP = %d92 %d32-126
 * RFC 5321 4.1.1.3: "<Postmaster>" (no domain) MUST be accepted in RCPT.
 * RFC 5321 4.5.3.1: local part <= 64, domain <= 255, path <= 256 octets.
 */
enum smtp_addr_err smtp_parse_path(const char *p, const char *e, bool null_ok, bool postmaster_ok,
				   bool utf8, const char **mb, size_t *mblen, const char **end)
{
	const char *start = p, *q, *lp, *dom;
	bool has8 = false;
	size_t n;

	if (p >= e || *p != '<')
		return SMTP_ADDR_SYNTAX;
	q = p + 1;
	if (q < e && *q == '>') {
		if (!null_ok)
			return SMTP_ADDR_SYNTAX;
		*mb = q;
		*mblen = 0;
		*end = q + 1;
		return SMTP_ADDR_OK;
	}
	/* Source route: parsed for syntax, then ignored. */
	if (q < e && *q == '@') {
		for (;;) {
			if (q >= e || *q != '@')
				return SMTP_ADDR_SYNTAX;
			q++;
			n = parse_domain(q, e, false);
			if (n == 0)
				return SMTP_ADDR_SYNTAX;
			q += n;
			if (q < e && *q == ',') {
				q++;
				continue;
			}
			if (q < e && *q == ':') {
				q++;
				break;
			}
			return SMTP_ADDR_SYNTAX;
		}
	}
	lp = q;
	if (q < e && *q == '"') {
		q++;
		for (;;) {
			unsigned char c;

			if (q >= e)
				return SMTP_ADDR_SYNTAX;
			c = (unsigned char)*q;
			if (c == '"')
				break;
			if (c == '\\') {
				if (q + 1 >= e || (unsigned char)q[1] < 32 ||
				    (unsigned char)q[1] > 126)
					return SMTP_ADDR_SYNTAX;
				q += 2;
				continue;
			}
			if (c >= 0x80)
				has8 = true;
			else if (c < 32 || c == 127)
				return SMTP_ADDR_SYNTAX;
			q++;
		}
		q++;
	} else {
		for (;;) {
			const char *atom = q;

			while (q < e && is_atext((unsigned char)*q, true)) {
				if ((unsigned char)*q >= 0x80)
					has8 = true;
				q++;
			}
			if (q == atom)
				return SMTP_ADDR_SYNTAX;
			if (q < e && *q == '.') {
				q++;
				continue;
			}
			break;
		}
	}
	if (q - lp > SMTP_LOCAL_MAX)
		return SMTP_ADDR_TOO_LONG;
	if (q < e && *q == '>' && postmaster_ok && q - lp == 10 && smtp_ieq(lp, "postmaster", 10)) {
		dom = q;
		goto done;
	}
	if (q >= e || *q != '@')
		return SMTP_ADDR_SYNTAX;
	q++;
	dom = q;
	if (q < e && *q == '[') {
		n = parse_addr_literal(q, e);
	} else {
		n = parse_domain(q, e, true);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)q[i] >= 0x80)
				has8 = true;
	}
	if (n == 0)
		return SMTP_ADDR_SYNTAX;
	if (n > SMTP_DOMAIN_MAX)
		return SMTP_ADDR_TOO_LONG;
	q += n;
done:
	if (q >= e || *q != '>')
		return SMTP_ADDR_SYNTAX;
	if (q + 1 - start > SMTP_PATH_MAX)
		return SMTP_ADDR_TOO_LONG;
	if (has8) {
		if (!smtp_utf8_valid((const uint8_t *)lp, (size_t)(q - lp)))
			return SMTP_ADDR_SYNTAX;
		if (!utf8)
			return SMTP_ADDR_8BIT;
	}
	(void)dom;
	*mb = lp;
	*mblen = (size_t)(q - lp);
	*end = q + 1;
	return SMTP_ADDR_OK;
}

bool smtp_helo_valid(const char *p, size_t n)
{
	if (n == 0 || n > SMTP_HELO_MAX)
		return false;
	if (p[0] == '[')
		return parse_addr_literal(p, p + n) == n;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!is_alnum(c) && c != '-' && c != '.' && c != '_')
			return false;
	}
	return true;
}
