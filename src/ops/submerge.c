/* A re-read of the fleet's subscribers merged with this instance's newer changes (see
 * include/ops/submerge.h). */
#include <stdlib.h>

#include "ops/submerge.h"

void submerge_ask(struct submerge_log *log)
{
	log->asked = log->seq;
	log->n_gone = 0;
}

uint64_t submerge_changed(struct submerge_log *log)
{
	return ++log->seq;
}

void submerge_dropped(struct submerge_log *log, int64_t id, bool reading)
{
	log->seq++;
	if (reading && log->n_gone <= SUBMERGE_GONE_MAX) {
		if (log->n_gone < SUBMERGE_GONE_MAX)
			log->gone[log->n_gone] = id;
		log->n_gone++;
	}
}

static bool gone_here(const struct submerge_log *log, int64_t id)
{
	for (size_t i = 0; i < log->n_gone && i < SUBMERGE_GONE_MAX; i++)
		if (log->gone[i] == id)
			return true;
	return false;
}

enum submerge_result submerge(struct submerge_sub **vp, size_t *np, size_t *capp, int64_t *next_id,
                              const struct store_subscriber *rows, size_t n_rows,
                              const struct submerge_log *log)
{
	const struct submerge_sub *old = *vp;
	size_t n_old = *np;
	size_t cap, k = 0, m = 0;
	struct submerge_sub *v;
	size_t *mine; /* changed here since: OLD's index */
	bool *taken;
	int64_t next = 1;

	if (log->n_gone > SUBMERGE_GONE_MAX)
		return SUBMERGE_AGAIN;
	cap = n_rows + n_old > 16 ? n_rows + n_old : 16;
	v = malloc(cap * sizeof(*v));
	mine = malloc((n_old + 1) * sizeof(*mine));
	taken = calloc(n_old + 1, sizeof(*taken));
	if (v == NULL || mine == NULL || taken == NULL) {
		free(v);
		free(mine);
		free(taken);
		return SUBMERGE_NOMEM;
	}
	for (size_t i = 0; i < n_old; i++)
		if (old[i].seq > log->asked)
			mine[m++] = i;
	for (size_t i = 0; i < n_rows; i++) {
		size_t j = 0;

		if (gone_here(log, rows[i].id))
			continue;
		while (j < m && old[mine[j]].row.id != rows[i].id)
			j++;
		if (j < m) {
			v[k++] = old[mine[j]];
			taken[j] = true;
			continue;
		}
		v[k].row = rows[i];
		v[k].seq = 0;
		subrule_tag(rows[i].address, v[k].tag);
		k++;
	}
	for (size_t j = 0; j < m; j++)
		if (!taken[j]) /* made here since: its row was not written yet */
			v[k++] = old[mine[j]];
	for (size_t i = 0; i < k; i++)
		if (v[i].row.id >= next)
			next = v[i].row.id + 1;
	free(mine);
	free(taken);
	free(*vp);
	*vp = v;
	*np = k;
	*capp = cap;
	if (next > *next_id)
		*next_id = next;
	return SUBMERGE_OK;
}
