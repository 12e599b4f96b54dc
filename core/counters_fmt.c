/*
 * counters_fmt.c - the views of the counter registry: `show stats` text and
 * JSON, `show counters`, the Prometheus text exposition. Each is one
 * mx_ctr_walk() writing into a caller's struct mx_buf. See counters.h for
 * the formats. Control thread; allocates with malloc.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/counters.h"
#include "core/hist.h"

#define NAME_MAX_LEN  160
#define PROM_NAME_LEN (2 * NAME_MAX_LEN + 16)
/* Text lines: "group.name" padded to this many columns, as `show stats`
 * always printed them; per-worker lines pad after "workerN.". */
#define TEXT_COL	27
#define TEXT_WORKER_COL 21

static const double pcts[] = {50, 90, 99};
static const char *const pct_names[] = {"p50", "p90", "p99"};

void mx_buf_printf(struct mx_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

void mx_buf_free(struct mx_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void buf_putc(struct mx_buf *b, char c)
{
	mx_buf_printf(b, "%c", c);
}

size_t mx_ctr_snake(const char *in, char *out, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; in[i]; i++) {
		unsigned char c = (unsigned char)in[i];
		unsigned char prev = i ? (unsigned char)in[i - 1] : 0;
		unsigned char next = (unsigned char)in[i + 1];
		char o;

		/* A word starts at an upper-case letter after a lower-case
		 * letter or digit, or at the last capital of an acronym that
		 * is followed by lower case ("PAWSEstab": PAWS|Estab). */
		if (isupper(c) && i &&
		    (islower(prev) || isdigit(prev) || (isupper(prev) && islower(next)))) {
			if (len + 1 < n)
				out[len] = '_';
			len++;
		}
		o = isalnum(c) ? (char)tolower(c) : '_';
		if (len + 1 < n)
			out[len] = o;
		len++;
	}
	if (n)
		out[len < n ? len : n - 1] = '\0';
	return len;
}

void mx_ctr_prom_escape(struct mx_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			mx_buf_printf(b, "\\\\");
		else if (*s == '\n')
			mx_buf_printf(b, "\\n");
		else
			buf_putc(b, *s);
	}
}

/* Label values also escape the double quote. */
static void prom_label_escape(struct mx_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '"')
			mx_buf_printf(b, "\\\"");
		else if (*s == '\\')
			mx_buf_printf(b, "\\\\");
		else if (*s == '\n')
			mx_buf_printf(b, "\\n");
		else
			buf_putc(b, *s);
	}
}

void mx_ctr_json_escape(struct mx_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			mx_buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			mx_buf_printf(b, "\\u%04x", c);
		else
			buf_putc(b, (char)c);
	}
}

static const char *lname(const struct mx_ctr_group *g)
{
	return g->long_name ? g->long_name : g->name;
}

static const char *type_name(unsigned t)
{
	return t == MX_CTR_COUNTER ? "counter" : t == MX_CTR_GAUGE ? "gauge" : "histogram";
}

static const char *scope_name(const struct mx_ctr_group *g)
{
	return g->scope == MX_CTR_WORKER   ? "worker"
	       : g->scope == MX_CTR_THREAD ? g->label
					   : "global";
}

/* "mxgate_<long>_<prom>" (without _total) into @out[PROM_NAME_LEN]. */
static void prom_name(const struct mx_ctr_group *g, const struct mx_ctr_def *d, char *out)
{
	char a[NAME_MAX_LEN], c[NAME_MAX_LEN];

	mx_ctr_snake(lname(g), a, sizeof(a));
	if (d->prom)
		snprintf(c, sizeof(c), "%s", d->prom);
	else
		mx_ctr_snake(d->name, c, sizeof(c));
	snprintf(out, PROM_NAME_LEN, "mxgate_%s_%s", a, c);
}

/* Per-worker output collected during a walk, emitted at its end. */
struct per_worker {
	struct mx_buf *w;
	unsigned n;
	bool failed;
};

static struct mx_buf *worker_buf(struct per_worker *pw, unsigned i)
{
	if (i >= pw->n) {
		struct mx_buf *w = realloc(pw->w, (size_t)(i + 1) * sizeof(*w));

		if (!w) {
			pw->failed = true;
			return NULL;
		}
		memset(&w[pw->n], 0, (size_t)(i + 1 - pw->n) * sizeof(*w));
		pw->w = w;
		pw->n = i + 1;
	}
	return &pw->w[i];
}

static void worker_free(struct per_worker *pw)
{
	for (unsigned i = 0; i < pw->n; i++)
		mx_buf_free(&pw->w[i]);
	free(pw->w);
}

static int finish(struct mx_buf *b, int rc, struct per_worker *pw)
{
	if (pw)
		worker_free(pw);
	if (rc == 0 && (b->failed || (pw && pw->failed)))
		rc = -ENOMEM;
	return rc;
}

/* ---- show stats (text) ---------------------------------------------- */

struct text_ctx {
	struct mx_buf *b;
	unsigned flags;
	struct per_worker pw;
};

static void text_line(struct mx_buf *b, int col, const char *g, const char *name,
		      const char *suffix, uint64_t val)
{
	char key[NAME_MAX_LEN];

	snprintf(key, sizeof(key), "%s.%s%s", g, name, suffix);
	mx_buf_printf(b, "%-*s %llu\n", col, key, (unsigned long long)val);
}

static void text_hist(struct mx_buf *b, int col, const char *g, const char *name,
		      const struct mx_hist *h)
{
	text_line(b, col, g, name, ".count", h->count);
	text_line(b, col, g, name, ".sum", h->sum);
	for (unsigned i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		char sfx[16];

		snprintf(sfx, sizeof(sfx), ".%s", pct_names[i]);
		text_line(b, col, g, name, sfx, mx_hist_percentile(h, pcts[i]));
	}
	text_line(b, col, g, name, ".max", h->max);
}

static void text_visit(const struct mx_ctr_val *v, void *arg)
{
	struct text_ctx *x = arg;
	bool per_worker = (x->flags & MX_CTR_FMT_WORKERS) && v->g->scope == MX_CTR_WORKER;

	if (v->d->type == MX_CTR_HISTOGRAM)
		text_hist(x->b, TEXT_COL, v->g->name, v->d->name, v->htot);
	else
		text_line(x->b, TEXT_COL, v->g->name, v->d->name, "", v->total);
	for (unsigned i = 0; per_worker && i < v->n; i++) {
		struct mx_buf *w = worker_buf(&x->pw, i);
		char pfx[NAME_MAX_LEN];

		if (!w)
			return;
		/* "workerN." then "group.name" padded as before. */
		if (v->d->type == MX_CTR_HISTOGRAM) {
			struct mx_buf tmp = {0};

			text_hist(&tmp, TEXT_WORKER_COL, v->g->name, v->d->name, &v->h[i]);
			for (char *l = tmp.p, *e; l && *l; l = e + 1) {
				e = strchr(l, '\n');
				mx_buf_printf(w, "worker%u.%.*s\n", i, (int)(e - l), l);
			}
			x->pw.failed |= tmp.failed;
			mx_buf_free(&tmp);
			continue;
		}
		snprintf(pfx, sizeof(pfx), "%s.%s", v->g->name, v->d->name);
		mx_buf_printf(w, "worker%u.%-*s %llu\n", i, TEXT_WORKER_COL, pfx,
			      (unsigned long long)v->v[i]);
	}
}

int mx_ctr_format_text(struct mx_buf *b, unsigned flags)
{
	struct text_ctx x = {.b = b, .flags = flags};
	int rc = mx_ctr_walk(text_visit, &x);

	for (unsigned i = 0; i < x.pw.n; i++)
		if (x.pw.w[i].len)
			mx_buf_printf(b, "%s", x.pw.w[i].p);
	return finish(b, rc, &x.pw);
}

/* ---- show stats json -------------------------------------------------- */

struct json_ctx {
	struct mx_buf *b;
	unsigned flags;
	bool open;  /* a group object is open */
	bool comma; /* inside it, a member was written */
	struct per_worker pw;
	unsigned nworkers;
};

static void json_hist(struct mx_buf *b, const struct mx_hist *h)
{
	mx_buf_printf(b, "{\"count\":%llu,\"sum\":%llu,\"min\":%llu", (unsigned long long)h->count,
		      (unsigned long long)h->sum, (unsigned long long)(h->count ? h->min : 0));
	for (unsigned i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		mx_buf_printf(b, ",\"%s\":%llu", pct_names[i],
			      (unsigned long long)mx_hist_percentile(h, pcts[i]));
	mx_buf_printf(b, ",\"max\":%llu}", (unsigned long long)h->max);
}

static void json_visit(const struct mx_ctr_val *v, void *arg)
{
	struct json_ctx *x = arg;
	struct mx_buf *b = x->b;

	if (v->first_of_group) {
		mx_buf_printf(b, "%s\"", x->open ? "}," : "{");
		mx_ctr_json_escape(b, lname(v->g));
		mx_buf_printf(b, "\":{");
		x->open = true;
		x->comma = false;
	}
	mx_buf_printf(b, "%s\"", x->comma ? "," : "");
	mx_ctr_json_escape(b, v->d->name);
	mx_buf_printf(b, "\":");
	x->comma = true;
	if (v->d->type == MX_CTR_HISTOGRAM)
		json_hist(b, v->htot);
	else
		mx_buf_printf(b, "%llu", (unsigned long long)v->total);

	if (!(x->flags & MX_CTR_FMT_WORKERS) || v->g->scope != MX_CTR_WORKER)
		return;
	if (v->n > x->nworkers)
		x->nworkers = v->n;
	for (unsigned i = 0; i < v->n; i++) {
		struct mx_buf *w = worker_buf(&x->pw, i);
		const char *sep;

		if (!w)
			return;
		sep = w->len ? "," : "";
		if (v->d->type == MX_CTR_HISTOGRAM) {
			/* Flat objects only: the histogram's summary as keys. */
			mx_buf_printf(w, "%s\"%s.%s.count\":%llu,\"%s.%s.sum\":%llu", sep,
				      v->g->name, v->d->name, (unsigned long long)v->h[i].count,
				      v->g->name, v->d->name, (unsigned long long)v->h[i].sum);
		} else if (v->g->flags & MX_CTR_F_BARE_IN_WORKER) {
			mx_buf_printf(w, "%s\"%s\":%llu", sep, v->d->name,
				      (unsigned long long)v->v[i]);
		} else {
			mx_buf_printf(w, "%s\"%s.%s\":%llu", sep, v->g->name, v->d->name,
				      (unsigned long long)v->v[i]);
		}
	}
}

int mx_ctr_format_json(struct mx_buf *b, unsigned flags)
{
	struct json_ctx x = {.b = b, .flags = flags};
	int rc = mx_ctr_walk(json_visit, &x);

	mx_buf_printf(b, "%s", x.open ? "}" : "{");
	if (flags & MX_CTR_FMT_WORKERS) {
		mx_buf_printf(b, "%s\"workers\":[", x.open ? "," : "");
		for (unsigned i = 0; i < x.nworkers && i < x.pw.n; i++)
			mx_buf_printf(b, "%s{%s}", i ? "," : "", x.pw.w[i].len ? x.pw.w[i].p : "");
		mx_buf_printf(b, "]");
	}
	mx_buf_printf(b, "}\n");
	return finish(b, rc, &x.pw);
}

/* ---- show counters ------------------------------------------------------ */

int mx_ctr_format_list(struct mx_buf *b, bool json)
{
	bool first = true;

	if (json)
		mx_buf_printf(b, "{\"counters\":[");
	for (unsigned gi = 0; gi < mx_ctr_ngroups(); gi++) {
		const struct mx_ctr_group *g = mx_ctr_group_at(gi);

		for (unsigned k = 0; k < g->ndefs; k++) {
			const struct mx_ctr_def *d = &g->defs[k];
			char key[NAME_MAX_LEN], prom[PROM_NAME_LEN];

			snprintf(key, sizeof(key), "%s.%s", g->name, d->name);
			if (!json) {
				mx_buf_printf(b, "%-*s %-9s %s\n", TEXT_COL, key,
					      type_name(d->type), d->help);
				continue;
			}
			prom_name(g, d, prom);
			mx_buf_printf(b, "%s{\"name\":\"", first ? "" : ",");
			mx_ctr_json_escape(b, key);
			mx_buf_printf(b, "\",\"type\":\"%s\",\"scope\":\"", type_name(d->type));
			mx_ctr_json_escape(b, scope_name(g));
			mx_buf_printf(b, "\",\"prom\":\"%s%s\",\"help\":\"", prom,
				      d->type == MX_CTR_COUNTER ? "_total" : "");
			mx_ctr_json_escape(b, d->help);
			mx_buf_printf(b, "\"}");
			first = false;
		}
	}
	if (json)
		mx_buf_printf(b, "]}\n");
	return b->failed ? -ENOMEM : 0;
}

/* ---- Prometheus ------------------------------------------------------------ */

struct prom_ctx {
	struct mx_buf *b;
};

/* "{worker="3"" without the closing brace (NULL label: nothing). */
static void prom_labels(struct mx_buf *b, const char *label, unsigned inst, const char *le)
{
	if (!label && !le)
		return;
	buf_putc(b, '{');
	if (label)
		mx_buf_printf(b, "%s=\"%u\"%s", label, inst, le ? "," : "");
	if (le) {
		mx_buf_printf(b, "le=\"");
		prom_label_escape(b, le);
		buf_putc(b, '"');
	}
	buf_putc(b, '}');
}

static void prom_hist(struct mx_buf *b, const char *name, const struct mx_ctr_def *d,
		      const char *label, unsigned inst, const struct mx_hist *h)
{
	double scale = d->scale > 0 ? d->scale : 1.0;
	unsigned idx = 0;
	uint64_t cum = 0, p10 = 1;
	static const unsigned mant[] = {1, 2, 5};

	for (unsigned k = 0; k < d->le_lo && k < 19; k++)
		p10 *= 10;
	for (unsigned k = d->le_lo; k <= d->le_hi && k < 19; k++, p10 *= 10) {
		for (unsigned m = 0; m < 3; m++) {
			uint64_t bound = mant[m] * p10;
			char le[40];

			if (bound / mant[m] != p10)
				break; /* overflow */
			while (idx < MX_HIST_BUCKETS && mx_hist_bucket_lo(idx) <= bound)
				cum += h->buckets[idx++];
			snprintf(le, sizeof(le), "%.9g", (double)bound * scale);
			mx_buf_printf(b, "%s_bucket", name);
			prom_labels(b, label, inst, le);
			mx_buf_printf(b, " %llu\n", (unsigned long long)cum);
		}
		if (k == 18)
			break;
	}
	mx_buf_printf(b, "%s_bucket", name);
	prom_labels(b, label, inst, "+Inf");
	mx_buf_printf(b, " %llu\n%s_sum", (unsigned long long)h->count, name);
	prom_labels(b, label, inst, NULL);
	mx_buf_printf(b, " %.12g\n%s_count", (double)h->sum * scale, name);
	prom_labels(b, label, inst, NULL);
	mx_buf_printf(b, " %llu\n", (unsigned long long)h->count);
}

static void prom_visit(const struct mx_ctr_val *v, void *arg)
{
	struct prom_ctx *x = arg;
	struct mx_buf *b = x->b;
	const struct mx_ctr_group *g = v->g;
	const char *label = g->scope == MX_CTR_WORKER	? "worker"
			    : g->scope == MX_CTR_THREAD ? g->label
							: NULL;
	char name[PROM_NAME_LEN + 8];

	prom_name(g, v->d, name);
	if (v->d->type == MX_CTR_COUNTER)
		strcat(name, "_total");
	mx_buf_printf(b, "# HELP %s ", name);
	mx_ctr_prom_escape(b, v->d->help);
	mx_buf_printf(b, "\n# TYPE %s %s\n", name, type_name(v->d->type));
	if (v->d->type == MX_CTR_HISTOGRAM) {
		if (!label) {
			prom_hist(b, name, v->d, NULL, 0, v->htot);
			return;
		}
		for (unsigned i = 0; i < v->n; i++)
			prom_hist(b, name, v->d, label, i, &v->h[i]);
		return;
	}
	if (!label) {
		mx_buf_printf(b, "%s %llu\n", name, (unsigned long long)v->total);
		return;
	}
	for (unsigned i = 0; i < v->n; i++) {
		mx_buf_printf(b, "%s", name);
		prom_labels(b, label, i, NULL);
		mx_buf_printf(b, " %llu\n", (unsigned long long)v->v[i]);
	}
}

int mx_ctr_format_prom(struct mx_buf *b)
{
	struct prom_ctx x = {.b = b};

	return finish(b, mx_ctr_walk(prom_visit, &x), NULL);
}
