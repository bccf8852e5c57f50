/* Incidents: one opens when a backend leaves rotation outside a sync grace, or when a
 * pool's status worsens; every later transition of the pool's backends is appended to its
 * timeline; ops add updates; it resolves when the pool is operational again. Kept in
 * SQLite in state_dir (store.c), so they survive restarts and a kill -9. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "ops/incident-t.h"

/* Opens (creating) the store at URL ([store] url; NULL: in STATE_DIR), loads the open
 * incidents, subscribes to the bus. */
int incident_init(const char *state_dir, const char *url, char *err, size_t errlen) WUR;
void incident_deinit(void);
/* Loads STATE_DIR's incidents for reading only (nodegate postmortem): no bus, no writes;
 * incident_deinit ends it. */
int incident_load_readonly(const char *state_dir, const char *url, char *err, size_t errlen) WUR;
/* Calls FN for each incident, open ones first, then the most recent; at most LIMIT (0: all
 * kept). The incident and its entries are valid during the call only. */
void incident_foreach(size_t limit, void (*fn)(const struct incident *inc, void *arg), void *arg);
/* Milliseconds of POOL's downtime (partial or major outage) within [FROM, TO), from the
 * incident history, for the 90-day uptime bars. */
int64_t incident_downtime(const char *pool, int64_t from, int64_t to);
/* POOL's uptime over the 90 days before NOW (UTC days, today so far included), from the
 * incident history, planned maintenance excluded, in hundredths of a percent (10000: no
 * downtime), rounded down; the record begins at FIRST at the latest (the oldest incident
 * kept, or this process's start); -1 when nothing was seen yet. */
int incident_uptime_bp(const char *pool, int64_t first, int64_t now);
/* When the uptime record begins: the oldest incident kept, or this process's start. */
int64_t incident_record_start(void);

/* ---- beyond the contract above: the API, the admin API and the unit tests ---------------- */

struct health_event;
struct json_t;

#define INCIDENT_AUTO_MAX 200 /* transition and admin lines kept per incident; then one note */

/* A Unix ms time as "2026-11-21T12:00:00.000Z" (at least 25 bytes). */
void incident_iso(int64_t ms, char *buf, size_t len);
/* The incident as JSON for the APIs: {"id","pool","title","severity","manual","open",
 * "started","resolved","planned_start","planned_end","outage_ms","last_update","entries":
 * [{"at","kind","text","status","eta","next_update"}]}, times as ISO strings or null;
 * NULL when out of memory. */
struct json_t *incident_json(const struct incident *inc);
/* The same for ops (the admin API): every entry, notes and roles included, and "priority_set",
 * "acknowledged" ({"by","at"} or null), "roles" {commander, investigator, fixer, recorder,
 * communicator: name or null}, "remedy" ([{"action","because","text"}]), "remedy_text" and
 * "chat_channel", "backend" and "verdict" (what opened it), "similar" {"count","resolved",
 * "median_resolve_ms","recent":[{"id","started","resolved","resolve_ms","done":[hook runs and
 * notes, SIMILAR_DONE_MAX at most]}]} (ops/similar.h). */
struct json_t *incident_json_full(const struct incident *inc);
struct similar;
#define SIMILAR_DONE_MAX 5
/* The incidents in the history like INC in the 90 days before it started (similar.h). */
void incident_similar(const struct incident *inc, struct similar *out);
/* For alerts: "2 in the last 90 days (backend n2, critical), median time to resolve 4m 5s;
 * expected recovery 2026-...Z (suggested, to confirm)"; "" when none is similar. */
void incident_similar_text(const struct incident *inc, char *buf, size_t len);
/* INC's postmortem draft (ops/postmortem.h) in LANG (enum pm_lang) at NOW, with its similar
 * incidents and its requests (from its snapshots; for an open one, up to now when LIVE: this
 * process's counters), into BUF; the length written. */
size_t incident_postmortem(const struct incident *inc, int lang, bool live, int64_t now, char *buf,
                           size_t len);
/* The counters an incident snapshots, now (the sum of every thread's stats). */
void incident_counts_now(struct incident_counts *c);
/* INC's title as the public reads it ([status] language and text_*): a manual incident's
 * as ops wrote it, an automatic one's from the template of its worst status, with the nodes
 * in service then. */
void incident_public_title(const struct incident *inc, char *buf, size_t len);
/* E's text as the public reads it, or false when the public does not see E: the health
 * engine's lines (transitions, admin changes, automation) and the private kinds stay with
 * ops; an automatic opening reads as the title, a resolve as [status] text_restored (or
 * text_maintenance_ended), a maintenance line as text_maintenance_started/_ended. */
bool incident_public_text(const struct incident *inc, const struct incident_entry *e, char *buf,
                          size_t len);
/* The template of KIND (enum words_kind) now: [status] text_* or the language's own. */
const char *incident_template(int kind);
/* Whether entries of KIND are shown to the public (page, /api/status, /api/incidents
 * without a token): notes, acknowledgements, roles, escalations and priority changes are
 * not. */
bool incident_entry_public(enum entry_kind kind);
/* The chat channel suggested for INC: "#incident_YYYYMMDD_short-title" (the day it started,
 * UTC; its title in lower case, words joined by '-', cut to 40 bytes). */
void incident_chat_channel(const struct incident *inc, char *buf, size_t len);
/* One entry as in incident_json's "entries" (status, eta and next_update for updates). */
struct json_t *incident_entry_json(const struct incident_entry *e);
/* The incident with this id, or NULL; valid until the next change of the history. */
const struct incident *incident_get(int64_t id);

/* What a manual incident says when ops open it. */
struct incident_manual {
	const char *pool;                   /* NULL or "": about everything */
	const char *backends;               /* a maintenance's backends "n1,n2", NULL: none */
	const char *title;                  /* fits in incident.title */
	const char *message;                /* the first entry; NULL: the title */
	int severity;                       /* enum pool_status */
	int64_t planned_start, planned_end; /* Unix ms, 0: not planned */
};
/* Opens a manual incident at NOW (Unix ms); its id. */
int64_t incident_open_manual(const struct incident_manual *m, int64_t now);
/* Appends an ops update to incident ID at NOW; UPD_RESOLVED resolves it (when open). ETA and
 * NEXT_UPDATE are Unix ms, 0 when not given. Fills OUT with the entry; -1 for an unknown
 * id. */
int incident_update(int64_t id, enum update_status s, const char *message, int64_t eta,
                    int64_t next_update, int64_t now, struct incident_entry *out) WUR;
/* Appends a line of KIND (ENTRY_ACTION, ENTRY_ADMIN) to incident ID, open or resolved (a
 * resolve alert is delivered after the resolve); -1 for an unknown id. Automatic lines are
 * capped per incident like transitions. */
int incident_add_line(int64_t id, enum entry_kind kind, const char *text, int64_t now) WUR;

/* Called on the loop after each change, with the incident as it is then (valid during the
 * call only); it must not block nor change incidents. */
typedef void (*incident_watch_fn)(enum incident_change what, const struct incident *inc,
                                  const struct incident_entry *e, void *arg);
#define INCIDENT_MAX_WATCHERS 4
int incident_watch(incident_watch_fn fn, void *arg) WUR;
/* Forgets every watcher (deinit, tests). */
void incident_unwatch_all(void);

/* Acknowledges open incident ID at NOW: BY (a name) through VIA ("admin API", "link via
 * CHANNEL") is written in its timeline, and watchers hear IC_ACK (the escalation stops).
 * 0; -1 unknown id; -2 resolved already; -3 acknowledged already. */
int incident_ack(int64_t id, const char *by, const char *via, int64_t now) WUR;
/* Ops set ID's priority (enum priority) with a reason: it is no longer computed; a line of
 * the timeline, and an update for the alerts. -1 for an unknown id or priority. */
int incident_set_priority(int64_t id, int priority, const char *by, const char *reason,
                          int64_t now) WUR;
/* Gives ROLE of ID to NAME ("": nobody): a line of the timeline. 0 changed, 1 unchanged, -1
 * unknown id or role. */
int incident_set_role(int64_t id, enum incident_role role, const char *name, int64_t now) WUR;
/* A private ops note by BY on ID (the admin API shows it, the public never). */
int incident_add_note(int64_t id, const char *by, const char *text, int64_t now) WUR;
/* How many steps of its escalation ID's people were told (kept, so that a restart does not
 * tell them again). */
void incident_set_esc_step(int64_t id, int step);

/* Ops write FIELD of ID's postmortem (TEXT "": cleared): a private line of the timeline. -1
 * for an unknown id or field. */
int incident_set_pm(int64_t id, enum incident_pm_field field, const char *text, const char *by,
                    int64_t now) WUR;
/* Ops confirm or change ID's expected recovery (AT Unix ms; 0 clears it): a private line of
 * the timeline, which names what similar incidents suggested. -1 for an unknown id. */
int incident_set_expected(int64_t id, int64_t at, const char *by, int64_t now) WUR;

/* Maintenance ID moves to PHASE (enum maint_phase) at NOW: TEXT is a line of its timeline
 * (ops wording; the public reads text_maintenance_*); ended resolves it when still open.
 * TEXT NULL: the phase alone, no line and no resolve (a window called off before it began
 * never ran: nothing to tell). -1 for an unknown id. */
int incident_maint_step(int64_t id, int phase, const char *text, int64_t now) WUR;
/* Whether an open maintenance that has started names BACKEND. */
bool incident_maint_running(const char *backend);
struct pool;
/* Whether every member of P out of rotation is in admin state maint under a running
 * maintenance (at least one): the pool's trouble is planned work, and opens no incident. */
bool incident_maint_explains(const struct pool *p);

/* The id of POOL's open automatic incident, 0 when none (alerts and hooks name it). */
int64_t incident_open_id(const char *pool);

/* Re-evaluates every pool on the next loop turn: after an admin change or a reload. */
void incident_poke(void);

/* A fleet (ops/fleet.c; NULL: none): NEXT_ID gives ids the database allocated (0: none at
 * hand, and the next after the highest known is taken); automatic incidents open and
 * resolve only on the sender instance, from the fleet's view of the pool (health/poolstat.h
 * poolstat_fleet_view). While PEERS says other instances are live, incidents open from
 * that view only (not from this instance's events), and every instance appends what it
 * saw, named ("[fra-1] backend n2: up -> down (...)"), to the one open incident of the
 * pool; alone, the instance writes its incidents as one nodegate does. */
void incident_set_fleet(int64_t (*next_id)(void), bool (*peers)(void));
/* Incident INC as the store holds it now, with its lines E[0..N) and outage spans (START,
 * END pairs): another instance (or this one) changed it. It replaces the copy here, but
 * never with fewer lines than here (this instance's writes not yet committed), nor takes
 * back a resolution or an acknowledgement. What others did (an incident they opened, ops
 * updates, an acknowledgement, a resolution) is told to the watchers. */
void incident_sync(const struct incident *inc, const struct incident_entry *e, size_t n,
                   const int64_t *spans, size_t n_spans);

/* ---- the decisions, pure (no I/O, the time is an argument) ------------------------------ */

enum incident_step {
	STEP_NONE = 0, /* nothing to record */
	STEP_APPEND,   /* a line in the open incident */
	STEP_OPEN,     /* a new incident */
	STEP_RESOLVE,  /* the open incident resolves */
	STEP_COUNT
};
extern const char *const incident_step_names[STEP_COUNT];

/* The priority (enum priority) of an incident from its impact and urgency: impact is high
 * for a major outage, medium for a partial outage or half the members out or more, low
 * otherwise (none when operational); more than one pool hit raises it a level. Urgency
 * high (enum urgency): high P1, medium P2, low P3; urgency low: high P3, else P4;
 * operational: P4. */
int incident_priority_of(int status, unsigned lost_pct, size_t pools, int urgency);

/* What incident_on_status_impact needs beside the status, for the priority. */
struct incident_impact {
	unsigned lost_pct; /* members out of rotation, percent */
	size_t pools;      /* pools not operational now (this one included) */
	int urgency;       /* enum urgency of the pool */
	size_t serving;    /* members in rotation (public words: "1 of 3 nodes") */
	size_t total;      /* members; 0: not known (nothing recorded) */
};

/* A bus event, with or without an open automatic incident for its pool: it opens one when
 * the backend leaves rotation outside a sync grace (a transition to down, or a grace that
 * expired, of a backend with no admin state); otherwise it is a line of the open one. */
enum incident_step incident_step_event(const struct health_event *he, bool open);
/* The pool's status went from LAST (-1: not known yet, as after a start) to NOW: worse with
 * none open opens one; operational with one open resolves it; another change with one open
 * is a line. */
enum incident_step incident_step_status(int last, int now, bool open);

/* The engine on the in-memory history, written through to the store when it is open. NOW
 * and AT are Unix ms. A bus event of BACKEND in POOL at AT; STATUS is the pool's status
 * then, or -1 while it cannot be told (members not judged yet). A weight change (HE_WEIGHT)
 * is a line of the open incident only: it opens none and is never a title's cause. */
void incident_on_event(const char *pool, const char *backend, const struct health_event *he,
                       int status, int64_t at);
/* POOL's status at NOW, after its events: opens, resolves, raises the severity, and keeps
 * the outage spans (partial or major outage) that incident_downtime adds up. */
void incident_on_status(const char *pool, int status, int64_t now);
/* The same with the impact (NULL: none lost, one pool, urgency high): the priority of the
 * open incident is computed and raised, never lowered while it is open. */
void incident_on_status_impact(const char *pool, int status, const struct incident_impact *im,
                               int64_t now);
/* Forgets the whole in-memory history and every pool's status (tests, deinit). */
void incident_reset(void);
