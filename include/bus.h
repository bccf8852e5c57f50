/* The internal event bus: every rotation transition, admin change and grace expiry is
 * published once; the log, metrics, status page, incidents and alerts subscribe. */
#pragma once
#include "health/health.h"

struct bus_event {
	const char *backend;
	const char *pool;
	struct health_event he;
};

typedef void (*bus_handler)(const struct bus_event *ev, void *arg);

#define BUS_MAX_SUBSCRIBERS 16

/* Handlers run synchronously, in subscription order, on the loop: they must not block
 * (queue slow work). */
int bus_subscribe(bus_handler h, void *arg) WUR;
void bus_emit(const struct bus_event *ev);
void bus_reset(void);

/* What alerts and hooks make of a rotation event: grace_expired for an expired grace;
 * backend_down for a move to down outside a sync grace; backend_up for a move back into
 * rotation (up or slow start) from down or syncing (the first verdict after a start, from
 * checking, is not a return); NOTIFY_COUNT for anything else. */
enum notify_event bus_notify_event(const struct health_event *he);
