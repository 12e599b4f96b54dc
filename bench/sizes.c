/*
 * sizes.c - message size distributions. See sizes.h.
 */
#include "bench/sizes.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* z such that P(Z <= z) = 0.99 for a standard normal Z. */
#define Z99 2.3263478740408408

int bench_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	default:
		return -EINVAL;
	}
	if (shift && end[1] != '\0')
		return -EINVAL;
	if (v > (SIZE_MAX >> shift))
		return -EINVAL;
	*out = (size_t)(v << shift);
	return 0;
}

static size_t clamp(size_t v, size_t max)
{
	if (v < 1)
		return 1;
	return v > max ? max : v;
}

int bench_sizes_load(struct bench_sizes *s, FILE *f, size_t max, const char **why)
{
	char line[256];
	size_t cap = 0;
	double total = 0.0;

	memset(s, 0, sizeof(*s));
	s->kind = BENCH_SIZE_TABLE;
	s->max = max;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *tok, *save;
		size_t v;
		double w = 1.0;

		p[strcspn(p, "#\r\n")] = '\0';
		tok = strtok_r(p, " \t", &save);
		if (!tok)
			continue;
		if (bench_parse_size(tok, &v) < 0)
			goto bad;
		tok = strtok_r(NULL, " \t", &save);
		if (tok) {
			char *end;

			w = strtod(tok, &end);
			if (*end != '\0' || !(w > 0.0) || strtok_r(NULL, " \t", &save))
				goto bad;
		}
		if (s->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			size_t *nv = realloc(s->vals, ncap * sizeof(*nv));
			double *nc;

			if (!nv)
				goto oom;
			s->vals = nv;
			nc = realloc(s->cum, ncap * sizeof(*nc));
			if (!nc)
				goto oom;
			s->cum = nc;
			cap = ncap;
		}
		total += w;
		s->vals[s->n] = clamp(v, max);
		s->cum[s->n] = total;
		s->n++;
	}
	if (s->n == 0) {
		if (why)
			*why = "size file has no sizes";
		bench_sizes_free(s);
		return -EINVAL;
	}
	return 0;
bad:
	if (why)
		*why = "size file: expected lines of \"SIZE [WEIGHT]\"";
	bench_sizes_free(s);
	return -EINVAL;
oom:
	if (why)
		*why = "out of memory";
	bench_sizes_free(s);
	return -ENOMEM;
}

int bench_sizes_parse(struct bench_sizes *s, const char *spec, size_t max, const char **why)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
	if (strncmp(spec, "file:", 5) == 0) {
		FILE *f = fopen(spec + 5, "r");
		int rc;

		if (!f) {
			if (why)
				*why = "cannot open size file";
			return -errno;
		}
		rc = bench_sizes_load(s, f, max, why);
		fclose(f);
		return rc;
	}
	if (strncmp(spec, "lognormal:", 10) == 0) {
		char buf[64];
		char *colon;
		size_t med, p99;

		if (strlen(spec + 10) >= sizeof(buf))
			goto bad;
		strcpy(buf, spec + 10);
		colon = strchr(buf, ':');
		if (!colon)
			goto bad;
		*colon = '\0';
		if (bench_parse_size(buf, &med) < 0 || bench_parse_size(colon + 1, &p99) < 0 ||
		    med == 0 || p99 < med)
			goto bad;
		s->kind = BENCH_SIZE_LOGNORMAL;
		s->median = (double)med;
		s->p99 = (double)p99;
		s->mu = log((double)med);
		s->sigma = log((double)p99 / (double)med) / Z99;
		return 0;
	}
	if (bench_parse_size(spec, &s->fixed) < 0)
		goto bad;
	s->kind = BENCH_SIZE_FIXED;
	s->fixed = clamp(s->fixed, max);
	return 0;
bad:
	if (why)
		*why = "size spec: N[k|m|g], file:PATH or lognormal:MEDIAN:P99 (P99 >= MEDIAN > 0)";
	return -EINVAL;
}

size_t bench_sizes_sample(const struct bench_sizes *s, struct bench_rng *rng)
{
	switch (s->kind) {
	case BENCH_SIZE_FIXED:
		return s->fixed;
	case BENCH_SIZE_TABLE: {
		double u = bench_rng_unit(rng) * s->cum[s->n - 1];
		size_t lo = 0, hi = s->n - 1;

		/* First entry whose cumulative weight reaches u. */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (s->cum[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		return s->vals[lo];
	}
	case BENCH_SIZE_LOGNORMAL: {
		double v = exp(s->mu + s->sigma * bench_rng_normal(rng));

		if (v >= (double)s->max)
			return s->max;
		return clamp((size_t)(v + 0.5), s->max);
	}
	}
	return 1;
}

void bench_sizes_free(struct bench_sizes *s)
{
	free(s->vals);
	free(s->cum);
	s->vals = NULL;
	s->cum = NULL;
	s->n = 0;
}
