/* Similar past incidents: the automatic incidents of the same pool, backend and verdict
 * (state and metrics) in the last 90 days, how many, how long they took to resolve (the
 * median), the most recent ones. Pure: the incidents and the time are arguments. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/incident-t.h"

#define SIMILAR_WINDOW_MS (90LL * 24 * 3600 * 1000) /* how far back similar incidents count */
#define SIMILAR_IDS_MAX   5                         /* the most recent ones named */
#define SIMILAR_MAX       1024 /* incidents looked at, at most (the store keeps 1000) */

struct similar {
	size_t count;                 /* similar incidents that started in the window */
	size_t resolved;              /* of which resolved: the median's sample */
	int64_t median_ms;            /* their median time to resolve; -1 when none resolved */
	int64_t ids[SIMILAR_IDS_MAX]; /* the most recent first */
	size_t n_ids;
};

/* Whether PAST is like INC: both automatic, another id, same pool, same backend (not
 * empty), same verdict and the same causes (the metrics seen when it opened). */
bool similar_match(const struct incident *inc, const struct incident *past);
/* The median of V[0..N) (sorted in place); the lower middle's and upper middle's mean for an
 * even N; -1 when N is 0. */
int64_t similar_median(int64_t *v, size_t n);
/* The incidents among PAST[0..N) (any order) like INC that started in the SIMILAR_WINDOW_MS
 * before NOW and before INC; at most SIMILAR_MAX of PAST are looked at. */
void similar_find(const struct incident *inc, const struct incident *const *past, size_t n,
                  int64_t now, struct similar *out);
