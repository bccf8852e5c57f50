/* Escalation: an automatic incident of a pool with an [escalation NAME] is told to the
 * channels of tier 1, then, while nobody acknowledges it, to each next tier when its delay
 * (after the incident opened) passes, and the ladder again REPEAT times. An acknowledgement
 * or the resolve stops the climb; every channel told hears of the updates, the
 * acknowledgement and the resolve (PagerDuty: trigger, acknowledge, resolve with one
 * dedup_key). Incidents below page_min_priority are told to tier 1 only. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "log.h"

struct event_base;
struct json_t;

#define ESC_TRACK_MAX 256 /* incidents climbing at once; more are not escalated (counted) */

/* ---- the schedule, pure ------------------------------------------------------------------ */

/* An escalation's ladder, as escalate_due reads it. */
struct esc_plan {
	size_t n_tiers;
	uint64_t after[ESC_TIERS_MAX]; /* ms after the incident opened, not decreasing */
	uint64_t repeat;               /* climbs after the first */
	uint64_t interval;             /* from one climb's start to the next */
	bool pageable;                 /* priority at or above page_min_priority */
};
/* The plan of E for an incident of PRIORITY. */
void escalate_plan(const struct conf_escalation *e, int priority, struct esc_plan *out);
/* Step STEP (0: tier 1 of the first climb; tier = STEP % n_tiers, climb = STEP / n_tiers)
 * is due this many ms after the incident opened; -1 when there is no such step (past the
 * last climb, or beyond tier 1 of the first climb for an incident that is not pageable). */
int64_t escalate_due(const struct esc_plan *p, int step);
/* How many steps are due ELAPSED ms after the incident opened (the next undue one is
 * escalate_due(p, that number)). */
int escalate_steps_due(const struct esc_plan *p, uint64_t elapsed);

/* ---- at run time ------------------------------------------------------------------------- */

/* Watches incidents; resumes the climbs of the open incidents loaded from the store (their
 * steps already told are not told again). After alert_init. */
int escalate_init(struct event_base *base) WUR;
/* After a reload: every climb is looked at again with the new escalations. */
void escalate_apply(void);
void escalate_deinit(void);
/* {"name","tier","steps","next_at"} of incident ID's climb, or JSON null. */
struct json_t *escalate_json(int64_t id);
