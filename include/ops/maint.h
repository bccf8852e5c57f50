/* Maintenance that does something: a planned incident (planned_start, planned_end) names its
 * backends; at its start they go to admin state maint (out of rotation, WebSockets closed
 * 1001 as for a drain), which mutes their alerts, and the pool's trouble they explain opens
 * no incident; its window does not count as downtime; at its end (or when ops resolve it)
 * they are ready again and come back the usual way (a restarted node through its sync
 * grace); each step is published on the bus (maintenance_scheduled, _started, _ended). The
 * same timer reminds ops when an incident's promised next update is overdue. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "ops/incident-t.h"

#include "ops/mwindow.h"

#define MAINT_TICK_MS 100 /* how often windows and next-update promises are looked at */

/* ---- the loop ------------------------------------------------------------------------------ */

/* Starts the timer on registry.base. */
int maint_init(char *err, size_t errlen) WUR;
void maint_deinit(void);
