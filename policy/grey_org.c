/*
 * grey_org.c - registered domains by the Public Suffix List (grey_org.h).
 *
 * The list is kept as one block: the rules (lower-cased, NUL-terminated)
 * and a sorted array of pointers into them; a lookup is a binary search
 * per label of the name (at most a few dozen string compares).
 *
 * The prevailing rule (publicsuffix.org/list "Algorithm"): an exception
 * rule ("!www.ck") wins; else the matching rule with the most labels,
 * wildcards ("*.ck") included; else "*" (the last label). Walking the
 * suffixes of the name from the longest, the first level at which any
 * rule matches is that rule: an exception names one label more than the
 * wildcard it undoes, so it is met first.
 */
#include "policy/grey_org.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORG_NAME_MAX   253
#define ORG_LABELS_MAX 128

struct grey_psl {
	size_t n;
	const char **rules; /* sorted by strcmp, into @text */
	char *text;
};

static int cmp_rule(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct grey_psl *grey_org_load(const char *path)
{
	FILE *f = fopen(path, "r");
	struct grey_psl *l = NULL;
	char line[512];
	size_t cap = 0, used = 0, n = 0, ncap = 0;
	char *text = NULL;

	if (!f)
		return NULL;
	/* Pass 1: the rules, one after the other in @text. */
	while (fgets(line, sizeof(line), f)) {
		size_t k = 0;

		while (line[k] && !isspace((unsigned char)line[k]))
			k++;
		if (k == 0 || (k >= 2 && line[0] == '/' && line[1] == '/'))
			continue;
		if (used + k + 1 > cap) {
			char *t = realloc(text, cap = (cap ? cap * 2 : 65536) + k + 1);
			if (!t)
				goto oom;
			text = t;
		}
		for (size_t i = 0; i < k; i++)
			text[used + i] = (char)tolower((unsigned char)line[i]);
		text[used + k] = '\0';
		used += k + 1;
		n++;
	}
	fclose(f);
	f = NULL;
	if (n == 0) {
		free(text);
		errno = EINVAL;
		return NULL;
	}
	ncap = n;
	if (!(l = calloc(1, sizeof(*l))) || !(l->rules = calloc(ncap, sizeof(*l->rules))))
		goto oom;
	l->text = text;
	for (size_t off = 0; off < used; off += strlen(text + off) + 1)
		l->rules[l->n++] = text + off;
	qsort(l->rules, l->n, sizeof(*l->rules), cmp_rule);
	return l;
oom:
	if (f)
		fclose(f);
	if (l)
		free(l->rules);
	free(l);
	free(text);
	errno = ENOMEM;
	return NULL;
}

void grey_org_free(struct grey_psl *l)
{
	if (!l)
		return;
	free(l->rules);
	free(l->text);
	free(l);
}

size_t grey_org_rules(const struct grey_psl *l)
{
	return l ? l->n : 0;
}

/* Is "@pre@s" a rule? */
static int has(const struct grey_psl *l, const char *pre, const char *s)
{
	char key[ORG_NAME_MAX + 4];
	const char *k = key;

	if (snprintf(key, sizeof(key), "%s%s", pre, s) >= (int)sizeof(key))
		return 0;
	return bsearch(&k, l->rules, l->n, sizeof(*l->rules), cmp_rule) != NULL;
}

int grey_org_domain(const struct grey_psl *l, const char *name, char *buf, size_t len)
{
	char lc[ORG_NAME_MAX + 2];
	unsigned pos[ORG_LABELS_MAX], n = 0, ps = 0;
	size_t k = 0;
	bool digits_only = true;
	int out;

	if (!name)
		return -1;
	for (; name[k]; k++) {
		if (k > ORG_NAME_MAX)
			return -1;
		lc[k] = (char)tolower((unsigned char)name[k]);
		if (lc[k] != '.' && !isdigit((unsigned char)lc[k]))
			digits_only = false;
	}
	if (k && lc[k - 1] == '.')
		k--; /* the root */
	lc[k] = '\0';
	if (k == 0 || digits_only)
		return -1;
	for (size_t i = 0, start = 0; i <= k; i++) {
		if (i < k && lc[i] != '.')
			continue;
		if (i == start || n == ORG_LABELS_MAX) /* an empty label, or too many */
			return -1;
		pos[n++] = (unsigned)start;
		start = i + 1;
	}
	ps = n - 1; /* the default rule "*": the last label */
	for (unsigned i = 0; l && i < n; i++) {
		if (has(l, "!", lc + pos[i])) {
			ps = i + 1;
			break;
		}
		if (has(l, "", lc + pos[i]) || (i + 1 < n && has(l, "*.", lc + pos[i + 1]))) {
			ps = i;
			break;
		}
	}
	if (ps == 0 || ps > n)
		return -1; /* the name is a public suffix itself */
	out = snprintf(buf, len, "%s", lc + pos[ps - 1]);
	return out > 0 && (size_t)out < len ? out : -1;
}
