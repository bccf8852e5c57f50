/* The internal event bus: every rotation transition, admin change, weight change and grace
 * expiry is published once; the log subscribes synchronously, incidents, alerts and hooks
 * on the next loop turn (deferred), in an explicit order (enum bus_phase). */
#pragma once
#include "health/health.h"

struct event_base;

enum bus_topic {
	BUS_HEALTH = 0, /* a health event of BACKEND in POOL (bus_emit) */
	BUS_INCIDENT,   /* an incident changed (bus_post, deferred subscribers only) */
	BUS_TOPIC_COUNT
};

#define BUS_NAME_MAX 65  /* conf names are at most 64 bytes */
#define BUS_TEXT_MAX 512 /* an incident's line (INCIDENT_TEXT_MAX) */

struct bus_event {
	enum bus_topic topic;
	const char *backend;      /* BUS_HEALTH */
	const char *pool;         /* "" for an incident about everything */
	struct health_event he;   /* BUS_HEALTH */
	int64_t incident;         /* BUS_INCIDENT: its id */
	enum notify_event change; /* BUS_INCIDENT: NOTIFY_INCIDENT_OPEN, _UPDATE, _RESOLVED */
	const char *text;         /* BUS_INCIDENT: its line, or its title */
	int entry_kind;           /* BUS_INCIDENT: that line's enum entry_kind, -1 for none */
};

typedef void (*bus_handler)(const struct bus_event *ev, void *arg);

#define BUS_MAX_SUBSCRIBERS 16

/* Handlers run synchronously, in subscription order, on the loop: they must not block
 * (queue slow work). */
int bus_subscribe(bus_handler h, void *arg) WUR;
void bus_emit(const struct bus_event *ev);
/* Forgets every subscriber and what is queued for the deferred ones (deinit, tests). */
void bus_reset(void);

/* ---- deferred subscribers ----------------------------------------------------------------- */

/* The order deferred subscribers see a loop turn's events in: each phase gets every event
 * (and its done) before the next phase gets the first. */
enum bus_phase {
	BUS_PHASE_INCIDENTS = 0, /* incidents open, grow and resolve on the events */
	BUS_PHASE_ALERTS,        /* alerts name the incident an event belongs to */
	BUS_PHASE_HOOKS,         /* hooks too, and write their outcome into its timeline */
	BUS_PHASE_COUNT
};
extern const char *const bus_phase_names[BUS_PHASE_COUNT];

#define BUS_DEFER_MAX 512 /* events waiting for the next loop turn; more are dropped (counted) */

/* Called after the handler saw the last event of a round (and in a round bus_wake asked
 * for, with no event). */
typedef void (*bus_done)(void *arg);

/* H (and DONE, may be NULL) run on BASE's loop on the turn after the events were emitted,
 * with a copy of each event (valid during the call), in PHASE order, then subscription
 * order. Every deferred subscriber shares one queue and one event_active per turn. */
int bus_subscribe_deferred(struct event_base *base, enum bus_phase phase, bus_handler h,
                           bus_done done, void *arg) WUR;
/* EV for the deferred subscribers only (an incident's change: what the log and the routing
 * view do not read). */
void bus_post(const struct bus_event *ev);
/* A deferred round on the next turn even when nothing is queued (a reload: incidents judge
 * every pool again). */
void bus_wake(void);

/* What alerts and hooks make of a rotation event: grace_expired for an expired grace;
 * backend_down for a move to down outside a sync grace; backend_up for a move back into
 * rotation (up or slow start) from down or syncing (the first verdict after a start, from
 * checking, is not a return); NOTIFY_COUNT for anything else. */
enum notify_event bus_notify_event(const struct health_event *he);
