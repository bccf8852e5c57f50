/* The health engine at run time: feeds probe answers (check.c) and passive signals from
 * live traffic (route_signal) into each backend's rotation state (health.c), publishes every
 * transition on the bus, and publishes the routing snapshot (proxy/route.h) whenever what
 * the pick reads changed. The one writer of rotation state and effective weight. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "health/node.h"
#include "proxy/backend.h"

int monitor_init(struct event_base *base) WUR;
void monitor_deinit(void);
/* A configuration was applied: B is new (state checking) or kept (state kept); its probes
 * (re)start with its current settings. The routing view is published by monitor_publish,
 * which the caller runs once after starting every backend. */
void monitor_backend_start(struct backend *b);
/* B left the configuration: its probes stop. */
void monitor_backend_stop(struct backend *b);
/* An observation from live traffic about B (connect refused, reset, timeout, 5xx, a
 * JSON-RPC error token), as the data plane reports it through route_signal. */
void monitor_passive(struct backend *b, enum verdict v, bool unreachable, const char *reason);
/* Publishes a new routing snapshot now if anything the pick reads changed (a commit of a
 * configuration calls it once after starting every backend). */
void monitor_publish(void);
/* Admin requests (the admin API is not a writer of rotation state): B to admin state A,
 * published on the bus like any transition; B's weight to W (-1: the configured one),
 * published on the bus as HE_WEIGHT. False when nothing changed. Either publishes a new snapshot
 * when routing changed. */
bool monitor_set_admin(struct backend *b, enum admin_state a, const char *why);
bool monitor_set_weight(struct backend *b, int w, const char *why);
