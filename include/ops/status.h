/* The status listener: libevent's evhttp on the main loop, on its own address ([status]),
 * serving /healthz, /metrics and /api/status from the running server's state. */
#pragma once
#include <stddef.h>

#include "proxy/backend.h"
#include "conf.h"

struct evhttp_request;

/* Brings the listener in line with C->status: binds it when the section appeared, binds
 * the new address then closes the old one when bind changed, closes it when the section
 * went away. Every other [status] setting is read from registry.conf at each request. On
 * failure nothing changed (the old listener keeps serving) and ERR holds the message,
 * "FILE:LINE: [status] bind: cannot bind ADDRESS: why". */
int status_apply(const struct conf *c, char *err, size_t errlen) WUR;
/* Closes the listener and its connections. */
void status_stop(void);
/* Runs the loop until the status connections open are answered and closed, for at most MS
 * (the drain is over: a /healthz accepted just before accepts stopped is still answered). */
void status_linger(uint64_t ms);
/* The status listener's socket (handed to a new nodegate by upgrade.c), or -1. */
int status_listen_fd(void);
/* Accepts on a status listener adopted on hold (inherit_hold: a SIGUSR2 upgrade, ready). */
void status_start_accepting(void);
/* Stops accepting on the status listener; the connections open are served on (a SIGUSR2
 * upgrade: the new nodegate answers /healthz from now on). */
void status_stop_accepting(void);

/* Another module's routes (incidents, the admin API, the page): PREFIX takes the path
 * equal to it or under it ("/api/incidents" takes "/api/incidents/7/updates"); the longest
 * prefix wins, the built-in routes (/healthz, /metrics, /api/status) come first. The
 * handler checks the method and answers the request. Register before the loop runs. */
#define STATUS_MAX_ROUTES 16
#define STATUS_INCIDENTS  20 /* open and recent incidents in /api/status */
typedef void (*status_handler)(struct evhttp_request *req, const char *path, void *arg);
int status_route(const char *prefix, status_handler h, void *arg) WUR;

/* The body of GET /api/status (one line of JSON) appended to OUT: what the mirror copies as
 * status.json. -1: out of memory. */
struct evbuffer;
int status_json(struct evbuffer *out) WUR;

/* Another module's families on /metrics (alerts, hooks), appended after the built-in ones
 * in the order they were added; adding the same writer again changes nothing. */
#define STATUS_MAX_METRICS 16
struct metrics_out;
typedef void (*status_metrics_fn)(struct metrics_out *o);
int status_metrics(status_metrics_fn fn) WUR;
