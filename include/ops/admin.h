/* The admin API and the incidents API, on the status listener (status_route):
 *
 *   GET  /api/backends                              every backend with the engine's verdict
 *                                                   and reason (ops only)
 *   POST /api/backends/NAME/drain|maint|ready       admin state (ready: none)
 *   POST /api/backends/NAME/weight {"weight":N}     weight override 0..256 (null: none)
 *   GET  /api/incidents?limit=N                     open, then past, newest first
 *   GET  /api/incidents/ID
 *   POST /api/incidents {"title","message","pool","severity","planned_start","planned_end",
 *                        "backends"}                a maintenance names its backends (maint.h)
 *   POST /api/incidents/ID/updates {"status","message","eta","next_update"}
 *
 * Every POST is an admin action: "Authorization: Bearer TOKEN", the token being the first
 * line of [status] admin_token_file. Its answer comes once the change is on disk. Admin
 * states and weight overrides are kept in the store by backend name and put back at start
 * and after every reload. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "log.h"

/* Loads the stored admin states (the store is open: incident_init) and registers the
 * routes; ERR says why not. */
int admin_init(char *err, size_t errlen) WUR;
void admin_deinit(void);
/* A configuration was applied (start or reload): reads the token file again, sets the
 * store's test delay ([nodegate] store_test_delay) and puts the stored admin states and
 * weight overrides back on the backends, by name. */
void admin_apply(void);
/* Puts backend NAME in admin state A (enum admin_state) as POST /api/backends/NAME/drain|
 * maint|ready does: kept in the store, published; WHY is said in the log and the timeline.
 * 0 changed or unchanged; -1 unknown backend. */
int admin_set_backend(const char *name, int a, const char *why) WUR;
struct evhttp_request;
/* Whether REQ carries the admin token (a wrong one is not refused here: just not ops). */
bool admin_is_ops(struct evhttp_request *req);
