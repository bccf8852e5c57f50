/* Maintenance windows and promises, pure: the phase a planned incident should be in at a
 * time, the window it ran, whether it names a backend, and whether a next update is overdue. */
#include <string.h>

#include "ops/mwindow.h"

const char *const maint_phase_names[MP_COUNT] = {
    [MP_SCHEDULED] = "scheduled",
    [MP_STARTED] = "started",
    [MP_ENDED] = "ended",
};

bool maint_is(const struct incident *inc)
{
	return inc->manual && inc->planned_start > 0;
}

enum maint_phase maint_phase_at(const struct incident *inc, int64_t now)
{
	if (!maint_is(inc))
		return MP_SCHEDULED;
	if (inc->resolved != 0 || (inc->planned_end > 0 && now >= inc->planned_end))
		return MP_ENDED;
	return now >= inc->planned_start ? MP_STARTED : MP_SCHEDULED;
}

bool maint_window_of(const struct incident *inc, int64_t now, int64_t *start, int64_t *end)
{
	int64_t e;

	if (!maint_is(inc) || now < inc->planned_start)
		return false;
	e = inc->planned_end > 0 ? inc->planned_end : now;
	if (inc->resolved != 0 && inc->resolved < e)
		e = inc->resolved;
	if (e > now)
		e = now;
	if (e <= inc->planned_start)
		return false;
	*start = inc->planned_start;
	*end = e;
	return true;
}

bool maint_names(const char *list, const char *backend)
{
	size_t n = strlen(backend);

	for (const char *p = list; p != NULL && *p != '\0';) {
		size_t k = strcspn(p, ",");
		const char *a = p, *b = p + k;

		while (a < b && *a == ' ')
			a++;
		while (b > a && b[-1] == ' ')
			b--;
		if ((size_t)(b - a) == n && n > 0 && memcmp(a, backend, n) == 0)
			return true;
		p += k + (p[k] == ',');
	}
	return false;
}

int64_t maint_overdue(const struct incident *inc, int64_t now)
{
	if (inc->resolved != 0)
		return 0;
	for (size_t i = inc->n_entries; i-- > 0;) {
		const struct incident_entry *e = &inc->entries[i];

		if (e->kind != ENTRY_UPDATE)
			continue;
		return e->next_update > 0 && now >= e->next_update ? e->next_update : 0;
	}
	return 0;
}
