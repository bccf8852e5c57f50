/* The health engine at run time: feeds probe answers (check.c) and passive signals from
 * live traffic into each backend's rotation state (health.c), publishes every transition
 * on the bus, and keeps the routing view (routable, weight, panic) current. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "proxy/backend.h"

int monitor_init(struct event_base *base) WUR;
void monitor_deinit(void);
/* A configuration was applied: B is new (state checking) or kept (state kept); its probes
 * (re)start with its current settings. */
void monitor_backend_start(struct backend *b);
/* B left the configuration: its probes stop. */
void monitor_backend_stop(struct backend *b);
/* An observation from live traffic about B (connect refused, reset, timeout, 5xx, a
 * JSON-RPC error token). A client's 4xx is never one. */
void monitor_passive(struct backend *b, enum verdict v, bool unreachable, const char *reason);
