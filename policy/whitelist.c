/*
 * whitelist.c - the greylisting whitelists (grey_stage.h): four files of
 * one entry a line, loaded into the policy framework's tables (cds_lfht,
 * QSBR: policy/table.c) and matched on the worker without locks.
 *
 * Senders and host names match the name or any parent domain (one lookup
 * per label: "a.b.example" looks up a.b.example, b.example, example);
 * recipients match the address, its domain (and parents) or "local@".
 * Clients are networks (pol_net_key), matched once per prefix length
 * present. apple.com, icloud.com, me.com and mac.com are always senders:
 * Apple's servers retry from other hosts and some give up on a 451.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu-qsbr.h>

#include "policy/grey_stage.h"
#include "policy/policy.h"

struct grey_wl {
	struct pol_table *t[GREY_WL_COUNT];
	uint64_t plens[5];
};

static const char *const builtin_senders[] = {"apple.com", "icloud.com", "me.com", "mac.com"};
static const char *const wl_names[GREY_WL_COUNT] = {"senders", "clients", "hosts", "recipients"};

const char *grey_wl_name(enum grey_wl_kind k)
{
	return (unsigned)k < GREY_WL_COUNT ? wl_names[k] : "?";
}

int grey_wl_kind_of(const char *name)
{
	for (int k = 0; k < GREY_WL_COUNT; k++)
		if (strcmp(name, wl_names[k]) == 0)
			return k;
	return -1;
}

/* One line's entry, trimmed ("" if blank or a comment). */
static char *trim(char *l)
{
	char *e;

	while (*l == ' ' || *l == '\t')
		l++;
	if (*l == '#')
		*l = '\0';
	e = l + strlen(l);
	while (e > l && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return l;
}

static int add_entry(struct grey_wl *w, enum grey_wl_kind k, const char *v)
{
	if (k == GREY_WL_CLIENTS) {
		uint8_t key[POL_NET_KEY_LEN];
		unsigned b;
		if (pol_net_key(v, key) != 0)
			return -EINVAL;
		b = (key[0] == 4 ? 0 : 128) + key[1];
		w->plens[b / 64] |= 1ull << (b % 64);
		return pol_table_add(w->t[k], key, sizeof(key)) < 0 ? -ENOMEM : 0;
	}
	if (strchr(v, ' ') || strlen(v) > 320)
		return -EINVAL;
	return pol_table_add(w->t[k], v, strlen(v)) < 0 ? -ENOMEM : 0;
}

/* Load @path into a new table of kind @k. */
static int load(struct grey_wl *w, enum grey_wl_kind k, const char *path, char *err, size_t errlen)
{
	size_t n = k == GREY_WL_SENDERS ? 4 : 0, lineno = 0;
	char line[1024];
	FILE *f = NULL;

	if (path && path[0]) {
		f = fopen(path, "re");
		if (!f) {
			snprintf(err, errlen, "[greylist] whitelist_%s: %s: %s", wl_names[k], path,
				 strerror(errno));
			return -1;
		}
		while (fgets(line, sizeof(line), f))
			n++;
		rewind(f);
	}
	w->t[k] = k == GREY_WL_CLIENTS ? pol_table_new_nets(n + 1) : pol_table_new(n + 1);
	if (!w->t[k]) {
		snprintf(err, errlen, "[greylist] whitelist_%s: out of memory", wl_names[k]);
		if (f)
			fclose(f);
		return -1;
	}
	if (k == GREY_WL_SENDERS)
		for (unsigned i = 0; i < 4; i++)
			add_entry(w, k, builtin_senders[i]);
	while (f && fgets(line, sizeof(line), f)) {
		char *v = trim(line);
		lineno++;
		if (!v[0])
			continue;
		if (add_entry(w, k, v) != 0) {
			snprintf(err, errlen, "%s:%zu: [greylist] whitelist_%s: bad entry \"%s\"",
				 path, lineno, wl_names[k], v);
			fclose(f);
			return -1;
		}
	}
	if (f)
		fclose(f);
	return 0;
}

static const char *path_of(const struct mx_config *c, enum grey_wl_kind k)
{
	switch (k) {
	case GREY_WL_SENDERS:
		return c->grey_wl_senders;
	case GREY_WL_CLIENTS:
		return c->grey_wl_clients;
	case GREY_WL_HOSTS:
		return c->grey_wl_hosts;
	default:
		return c->grey_wl_rcpts;
	}
}

struct grey_wl *grey_wl_build(const struct mx_config *c, char *err, size_t errlen)
{
	struct grey_wl *w = calloc(1, sizeof(*w));

	if (!w) {
		snprintf(err, errlen, "[greylist]: out of memory");
		return NULL;
	}
	for (int k = 0; k < GREY_WL_COUNT; k++) {
		if (load(w, (enum grey_wl_kind)k, path_of(c, (enum grey_wl_kind)k), err, errlen)) {
			grey_wl_free(w);
			return NULL;
		}
	}
	return w;
}

void grey_wl_free(struct grey_wl *w)
{
	if (!w)
		return;
	for (int k = 0; k < GREY_WL_COUNT; k++)
		pol_table_free(w->t[k]);
	free(w);
}

size_t grey_wl_count(const struct grey_wl *w, enum grey_wl_kind k)
{
	return w && (unsigned)k < GREY_WL_COUNT && w->t[k] ? pol_table_count(w->t[k]) : 0;
}

/* @name or one of its parent domains in @t. */
static bool has_domain(const struct pol_table *t, const char *name)
{
	for (const char *p = name; p && *p;) {
		if (pol_table_has(t, p, strlen(p)))
			return true;
		p = strchr(p, '.');
		if (p)
			p++;
	}
	return false;
}

bool grey_wl_match(const struct grey_wl *w, enum grey_wl_kind k, const char *s, int family,
		   const uint8_t *addr)
{
	const struct pol_table *t = w && (unsigned)k < GREY_WL_COUNT ? w->t[k] : NULL;
	const char *at;

	if (!t || pol_table_count(t) == 0)
		return false;
	if (k == GREY_WL_CLIENTS)
		return addr && pol_net_match(t, w->plens, family, addr);
	if (!s || !s[0])
		return false;
	if (k == GREY_WL_HOSTS)
		return has_domain(t, s);
	if (pol_table_has(t, s, strlen(s)))
		return true;
	at = strrchr(s, '@');
	if (!at)
		return k == GREY_WL_SENDERS && has_domain(t, s);
	if (k == GREY_WL_RCPTS && pol_table_has(t, s, (size_t)(at - s) + 1))
		return true; /* "local@" */
	return has_domain(t, at + 1);
}
