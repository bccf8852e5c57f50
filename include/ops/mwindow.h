/* Maintenance windows, pure (ops/maint.h runs them): the phases of a planned incident, the
 * window it ran, the backends it names, and overdue next-update promises. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "ops/incident-t.h"

enum maint_phase {
	MP_SCHEDULED = 0, /* announced, not begun (or no maintenance) */
	MP_STARTED,       /* its window is running: its backends are in maint */
	MP_ENDED,         /* over: its backends were given back */
	MP_COUNT
};
extern const char *const maint_phase_names[MP_COUNT];

/* ---- pure (the time is an argument) ------------------------------------------------------ */

/* Whether INC is a maintenance: manual, with a planned start. */
bool maint_is(const struct incident *inc);
/* The phase INC should be in at NOW: ended once resolved or past its planned end (an open
 * window without an end runs until ops resolve it), started from its planned start,
 * scheduled before. */
enum maint_phase maint_phase_at(const struct incident *inc, int64_t now);
/* The window INC ran (or runs) at NOW, [*START, *END): from its planned start to its planned
 * end or its resolve, whichever came first (NOW for one still running); false when it is
 * not a maintenance or never began (resolved before its start, or not begun yet). */
bool maint_window_of(const struct incident *inc, int64_t now, int64_t *start, int64_t *end);
/* Whether the comma list LIST names BACKEND. */
bool maint_names(const char *list, const char *backend);
/* When INC's latest ops update promised the next one by, if that is past at NOW and nothing
 * was posted since: that promise (Unix ms); 0 otherwise (or resolved). */
int64_t maint_overdue(const struct incident *inc, int64_t now);
