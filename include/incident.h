/* Incidents: one opens when a backend leaves rotation outside a sync grace, or when a
 * pool's status worsens; every later transition of the pool's backends is appended to its
 * timeline; ops add updates; it resolves when the pool is operational again. Kept in
 * SQLite in state_dir (store.c), so they survive restarts and a kill -9. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

enum update_status {
	UPD_INVESTIGATING = 0,
	UPD_IDENTIFIED,
	UPD_MONITORING,
	UPD_RESOLVED,
	UPD_COUNT
};
extern const char *const update_status_names[UPD_COUNT];

enum entry_kind {
	ENTRY_OPEN = 0,   /* the incident opened (automatic or manual) */
	ENTRY_TRANSITION, /* a backend of the pool changed state */
	ENTRY_UPDATE,     /* an ops update */
	ENTRY_ADMIN,      /* drain, maint, ready, weight */
	ENTRY_RESOLVE,    /* the pool is operational again (or ops resolved it) */
	ENTRY_COUNT
};
extern const char *const entry_kind_names[ENTRY_COUNT];

#define INCIDENT_TEXT_MAX 512

struct incident_entry {
	int64_t at;                    /* wall clock, Unix milliseconds */
	enum entry_kind kind;
	enum update_status status;     /* ENTRY_UPDATE */
	int64_t eta;                   /* ENTRY_UPDATE: expected recovery (0: none given) */
	int64_t next_update;           /* ENTRY_UPDATE: next update by (0: none given) */
	char text[INCIDENT_TEXT_MAX];  /* one line: "backend n2: up -> down (peers 0)" or the message */
};

struct incident {
	int64_t id;
	char pool[64];                 /* "" for a manual incident about everything */
	char title[160];
	int severity;                  /* enum pool_status (status.h): the worst seen */
	bool manual;                   /* opened by ops (e.g. planned maintenance) */
	int64_t started, resolved;     /* Unix ms; resolved 0 while open */
	int64_t planned_start, planned_end; /* manual maintenance window, 0 when not planned */
	const struct incident_entry *entries; /* oldest first */
	size_t n_entries;
};

/* Opens (creating) the store in STATE_DIR, loads the open incidents, subscribes to the
 * bus. */
int incident_init(const char *state_dir, char *err, size_t errlen) WUR;
void incident_deinit(void);
/* Calls FN for each incident, open ones first, then the most recent; at most LIMIT (0: all
 * kept). The incident and its entries are valid during the call only. */
void incident_foreach(size_t limit, void (*fn)(const struct incident *inc, void *arg), void *arg);
/* Milliseconds of POOL's downtime (partial or major outage) within [FROM, TO), from the
 * incident history, for the 90-day uptime bars. */
int64_t incident_downtime(const char *pool, int64_t from, int64_t to);
