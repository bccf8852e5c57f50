/* Ledger range sets: rippled's complete_ledgers parsed, merged and bounded. */
#include <stdio.h>
#include <string.h>

#include "proxy/ranges.h"

/* Reads a decimal ledger sequence at *P (digits only, at most UINT32_MAX) and moves *P past
 * it; -1 when there is none or it is too large. */
static int read_seq(const char **p, uint32_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	*out = (uint32_t)v;
	*p = s;
	return 0;
}

/* Adds [LO, HI] to the ascending set W of *N ranges (room for RANGES_MAX + 1), merging
 * what overlaps or touches it; then, past RANGES_MAX, forgets the lowest. */
static void insert(struct ledger_range *w, unsigned *n, unsigned *dropped, uint32_t lo, uint32_t hi)
{
	unsigned i = 0, j;

	while (i < *n && w[i].hi < lo && w[i].hi + 1 != lo)
		i++; /* w[i] ends before LO and does not touch it */
	j = i;
	while (j < *n && (w[j].lo <= hi || w[j].lo - 1 == hi)) {
		lo = w[j].lo < lo ? w[j].lo : lo; /* w[j] overlaps or touches [lo, hi] */
		hi = w[j].hi > hi ? w[j].hi : hi;
		j++;
	}
	/* w[i..j) merge into one range at i */
	memmove(&w[i + 1], &w[j], (*n - j) * sizeof(*w));
	*n = *n - (j - i) + 1;
	w[i] = (struct ledger_range){lo, hi};
	if (*n > RANGES_MAX) {
		memmove(&w[0], &w[1], (*n - 1) * sizeof(*w));
		(*n)--;
		(*dropped)++;
	}
}

int ranges_parse(const char *s, struct ranges *set, char *err, size_t errlen)
{
	struct ledger_range w[RANGES_MAX + 1];
	const char *p = s;
	unsigned n = 0, dropped = 0;

	memset(set, 0, sizeof(*set));
	if (strcmp(s, "empty") == 0)
		return 0;
	for (;;) {
		uint32_t lo, hi;
		if (read_seq(&p, &lo) < 0)
			goto fail;
		hi = lo;
		if (*p == '-' && (p++, read_seq(&p, &hi) < 0 || hi < lo))
			goto fail;
		insert(w, &n, &dropped, lo, hi);
		if (*p == '\0')
			break;
		if (*p++ != ',')
			goto fail;
	}
	memcpy(set->r, w, n * sizeof(*w));
	set->n = n;
	set->dropped = dropped;
	return 0;
fail:
	snprintf(err, errlen,
	         "bad ledger range at offset %zu (expected N or A-B, A <= B, "
	         "comma-separated, or empty)",
	         (size_t)(p - s));
	return -1;
}

bool ranges_cover(const struct ranges *set, uint32_t lo, uint32_t hi)
{
	if (lo > hi)
		return false;
	for (unsigned i = 0; i < set->n; i++)
		if (set->r[i].lo <= lo && hi <= set->r[i].hi)
			return true;
	return false;
}
