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
#include <stdint.h>

#include "health/health.h"
#include "log.h"

struct backend;
struct incident;
struct json_t;
struct evbuffer;

/* Loads the stored admin states (the store is open: incident_init) and registers the
 * routes; ERR says why not. */
int admin_init(char *err, size_t errlen) WUR;
void admin_deinit(void);
/* A configuration was applied (start or reload): reads the token file again, sets the
 * store's test delay ([nodegate] store_test_delay) and puts the stored admin states and
 * weight overrides back on the backends, by name. */
void admin_apply(void);

/* ---- the actions, shared with the ops console (ops/console.h): one code for both ---------- */

/* Whether an admin token is configured (the admin API and the console are on). */
bool admin_token_set(void);
/* Whether T (surrounding blanks ignored) is the admin token; compared in constant time. */
bool admin_token_ok(const char *t);
/* Changes when the token does (or appears, or goes): console sessions end then. */
unsigned admin_token_epoch(void);
/* The configured backend NAME (not removed by a reload), or NULL. */
struct backend *admin_backend(const char *name);
/* Puts B in admin state A (ADMIN_NONE: readmitted) because of WHY, keeps it in the store by
 * name; *CHANGED false when B was in A already. -1 out of memory. The caller waits for
 * store_barrier before it answers. */
int admin_backend_state(struct backend *b, enum admin_state a, const char *why, bool *changed) WUR;
/* The same for a weight override W (STORE_NO_WEIGHT: the configured weight). */
int admin_backend_weight(struct backend *b, int w, const char *why, bool *changed) WUR;
/* Another instance of the fleet (FROM) set backend NAME to admin state A and weight override
 * WEIGHT (STORE_NO_WEIGHT: none), committed to the shared store: applied here, not stored
 * again. */
int admin_remote(const char *name, enum admin_state a, int weight, const char *from) WUR;
/* Acknowledges incident ID by BY through VIA (incident_ack, counted); its codes. */
int admin_ack(int64_t id, const char *by, const char *via) WUR;
/* The incident as ops see it (GET /api/incidents/ID with the token): every entry, roles,
 * similar incidents, remedies and its escalation; NULL when out of memory. */
struct json_t *admin_incident_json(const struct incident *inc);
/* INC's postmortem draft (Markdown, [postmortem] language, live counts while open) appended
 * to OUT; -1 out of memory. */
int admin_postmortem(const struct incident *inc, struct evbuffer *out) WUR;
/* "2026-11-21T12:00:00Z", with an optional fraction and a Z or +HH:MM offset, as Unix ms;
 * -1 when S is not such a time. */
int admin_parse_time(const char *s, int64_t *ms) WUR;
struct evhttp_request;
/* Whether REQ carries the admin token; if not, it is answered (403 without a token file,
 * 401) and counted, as every admin request. Other modules' admin routes (subs.c) use it. */
bool admin_authorized(struct evhttp_request *req);
struct evhttp_request;
/* Whether REQ carries the admin token (a wrong one is not refused here: just not ops). */
bool admin_is_ops(struct evhttp_request *req);
