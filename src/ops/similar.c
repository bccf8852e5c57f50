/* Similar past incidents: matching, counting, the median time to resolve. */
#include <stdlib.h>
#include <string.h>

#include "ops/similar.h"

bool similar_match(const struct incident *inc, const struct incident *past)
{
	return !inc->manual && !past->manual && inc->id != past->id && inc->backend[0] != '\0' &&
	       strcmp(inc->pool, past->pool) == 0 && strcmp(inc->backend, past->backend) == 0 &&
	       strcmp(inc->verdict, past->verdict) == 0 && inc->open_causes == past->open_causes;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int64_t similar_median(int64_t *v, size_t n)
{
	if (n == 0)
		return -1;
	qsort(v, n, sizeof(*v), cmp_i64);
	if (n % 2 == 1)
		return v[n / 2];
	return v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2;
}

/* Keeps IDS the SIMILAR_IDS_MAX most recent (by start), newest first. */
static void keep_recent(struct similar *out, int64_t *starts, const struct incident *p)
{
	size_t i = out->n_ids < SIMILAR_IDS_MAX ? out->n_ids++ : SIMILAR_IDS_MAX;

	if (i == SIMILAR_IDS_MAX && p->started <= starts[SIMILAR_IDS_MAX - 1])
		return;
	if (i == SIMILAR_IDS_MAX)
		i--;
	for (; i > 0 && starts[i - 1] < p->started; i--) {
		starts[i] = starts[i - 1];
		out->ids[i] = out->ids[i - 1];
	}
	starts[i] = p->started;
	out->ids[i] = p->id;
}

void similar_find(const struct incident *inc, const struct incident *const *past, size_t n,
                  int64_t now, struct similar *out)
{
	int64_t took[SIMILAR_MAX], starts[SIMILAR_IDS_MAX];

	memset(out, 0, sizeof(*out));
	if (n > SIMILAR_MAX)
		n = SIMILAR_MAX;
	for (size_t i = 0; i < n; i++) {
		const struct incident *p = past[i];

		if (!similar_match(inc, p) || p->started < now - SIMILAR_WINDOW_MS ||
		    p->started >= inc->started)
			continue;
		out->count++;
		keep_recent(out, starts, p);
		if (p->resolved > 0 && p->resolved >= p->started)
			took[out->resolved++] = p->resolved - p->started;
	}
	out->median_ms = similar_median(took, out->resolved);
}
