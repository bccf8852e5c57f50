/* The types of incidents (types only, as haproxy's *-t.h): what incident.c keeps, store.c
 * writes and reads back, and alerts and hooks are told. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	ENTRY_ACTION,     /* what automation did: a hook's outcome */
	ENTRY_ALERT,      /* an alert delivered, dropped or not sent */
	ENTRY_ACK,        /* someone acknowledged it (private) */
	ENTRY_ESCALATION, /* a tier of its escalation was told (private) */
	ENTRY_NOTE,       /* an ops note (private: the admin API only) */
	ENTRY_ROLE,       /* a role was given: commander, investigator, ... (private) */
	ENTRY_PRIORITY,   /* its priority changed, by itself or by ops (private) */
	ENTRY_MAINT,      /* a maintenance window began or ended ("maintenance started: ...") */
	ENTRY_COUNT
};
extern const char *const entry_kind_names[ENTRY_COUNT];

#define INCIDENT_TEXT_MAX     512
#define INCIDENT_BACKENDS_MAX 256 /* a maintenance's backends, "n1,n2" */
#define INCIDENT_NAME_MAX     64  /* a person's name (roles, acknowledgements) */

/* The people of an incident (any may be empty, or the same person). */
enum incident_role {
	ROLE_COMMANDER = 0, /* decides, assigns, reports */
	ROLE_INVESTIGATOR,  /* finds the cause */
	ROLE_FIXER,         /* first aid and the permanent fix */
	ROLE_RECORDER,      /* keeps the timeline and the documents */
	ROLE_COMMUNICATOR,  /* tells the users */
	ROLE_COUNT
};
extern const char *const incident_role_names[ROLE_COUNT];

struct incident_entry {
	int64_t at; /* wall clock, Unix milliseconds */
	enum entry_kind kind;
	enum update_status status;    /* ENTRY_UPDATE */
	int64_t eta;                  /* ENTRY_UPDATE: expected recovery (0: none given) */
	int64_t next_update;          /* ENTRY_UPDATE: next update by (0: none given) */
	char text[INCIDENT_TEXT_MAX]; /* one line: "backend n2: up -> down (peers 0)" or the message
	                               */
};

/* What ops write in an incident's postmortem (the draft's root cause and prevention). */
enum incident_pm_field {
	PMF_ROOT_CAUSE = 0, /* the final cause */
	PMF_PREVENT,        /* stop it happening */
	PMF_DETECT,         /* find it sooner */
	PMF_MITIGATE,       /* smaller impact next time */
	PMF_FIX,            /* recover faster */
	PMF_COUNT
};
extern const char *const incident_pm_field_names[PMF_COUNT];

#define INCIDENT_PM_MAX      256 /* bytes of one postmortem field ops write (admin API) */
#define INCIDENT_METHODS_MAX 8   /* the busiest methods of an incident's window kept */

/* Requests of one JSON-RPC method during an incident (its pool's listeners). */
struct incident_method {
	char name[48];
	uint64_t requests, failed; /* failed: answered 502, 503 or 504 */
};

/* Requests nodegate saw (all listeners), snapshotted when an incident opens and resolves:
 * the difference is its impact on customers. */
struct incident_counts {
	uint64_t received; /* HTTP requests received */
	uint64_t failed;   /* answered 502, 503, 504: no node, a node failed or timed out */
	uint64_t retried;  /* retried on another node */
	uint64_t refused;  /* refused before any node: malformed, over a limit, too slow */
};

struct incident {
	int64_t id;
	char pool[64]; /* "" for a manual incident about everything */
	char title[160];
	int severity;              /* enum pool_status (health/poolstat.h): the worst seen */
	bool manual;               /* opened by ops (e.g. planned maintenance) */
	int64_t started, resolved; /* Unix ms; resolved 0 while open */
	int64_t planned_start, planned_end; /* manual maintenance window, 0 when not planned */
	int priority;                       /* enum priority (conf.h): P1 most urgent */
	bool priority_set;                  /* ops set it: it is no longer computed */
	int64_t acked;                      /* Unix ms of the acknowledgement, 0: none */
	char acked_by[INCIDENT_NAME_MAX];   /* who acknowledged it */
	char roles[ROLE_COUNT][INCIDENT_NAME_MAX];
	unsigned causes;      /* what was seen: bits of enum remedy_cause */
	char backend[64];     /* the backend whose event opened it; "" manual or a pool's status */
	char verdict[16];     /* that event's verdict (verdict_names) or "" */
	unsigned open_causes; /* the causes that event named (similar incidents match on them) */
	int64_t counted;      /* the start (Unix ms) of the process whose counters the snapshots
	                       * are: a restart in between voids them; 0: none taken */
	struct incident_counts counts_open, counts_resolve;   /* resolve: zero while open */
	struct incident_method methods[INCIDENT_METHODS_MAX]; /* at resolve, busiest first */
	size_t n_methods;
	char pm[PMF_COUNT][INCIDENT_PM_MAX + 1]; /* ops' postmortem fields, "" unwritten */
	int64_t expected;                        /* expected recovery ops set, Unix ms; 0 none */
	char expected_by[INCIDENT_NAME_MAX];     /* who set it */
	int esc_step;                            /* escalation steps told (escalate.c) */
	size_t serving, total; /* nodes in rotation of its pool at its worst, and all of them */
	char backends[INCIDENT_BACKENDS_MAX]; /* a maintenance: its backends, comma separated */
	int maint_phase;                      /* enum maint_phase (ops/maint.h) */
	const struct incident_entry *entries; /* oldest first */
	size_t n_entries;
};

/* What happened to an incident, for alerts and hooks. */
enum incident_change {
	IC_OPEN = 0, /* it opened: E is its first line */
	IC_UPDATE,   /* it got worse (E NULL: see severity) or ops posted an update (E) */
	IC_RESOLVED, /* it resolved: E is the resolve line */
	IC_ACK,      /* someone acknowledged it: E is the ack line */
	IC_COUNT
};
extern const char *const incident_change_names[IC_COUNT];
