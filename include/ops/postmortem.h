/* Postmortem drafts: an incident as Markdown, in the sections operators use (what happened,
 * timeline, impact by customer, by function and by time, investigation, root cause,
 * prevention in four parts: prevent, detect, mitigate, fix). Pure: everything it shows is
 * an argument. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/incident-t.h"

struct similar;

enum pm_lang {
	PM_EN = 0,
	PM_JA,
	PM_LANG_COUNT
};
extern const char *const pm_lang_names[PM_LANG_COUNT];

/* Requests seen by nodegate, from counters snapshotted with the incident. */
struct pm_counts {
	bool known;        /* snapshots were taken (an incident of an older nodegate has none) */
	uint64_t answered; /* during the window: requests read and not failed */
	uint64_t failed;   /* answered 502, 503 or 504 */
	uint64_t retried;  /* retried on another node */
	uint64_t refused;  /* refused before any node: malformed, over a limit, too slow */
	const struct incident_method *methods; /* its pool's busiest methods (known too) */
	size_t n_methods;
};

/* What ops wrote (NULL or "": not written; the prevention parts then carry the suggested
 * interventions of remedy.c, marked as suggestions). */
struct pm_fields {
	const char *root_cause;
	const char *prevent, *detect, *mitigate, *fix;
};

#define PM_MAX (256 * 1024) /* a draft is cut (and says so) past this many bytes */

/* "1h 2m 3s", "4m 5s", "6s", "750ms"; MS < 0: "-". */
void pm_duration(int64_t ms, char *buf, size_t len);
/* The draft of INC (resolved or, at NOW, still open) into BUF (at most LEN bytes, NUL
 * ended, cut with a last line saying so); SIM may be NULL. The length written. */
size_t pm_render(const struct incident *inc, const struct pm_counts *counts,
                 const struct pm_fields *f, const struct similar *sim, enum pm_lang lang,
                 int64_t now, char *buf, size_t len);
