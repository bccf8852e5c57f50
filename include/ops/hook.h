/* Remediation hooks ([hook NAME]): a program run on a health or incident event, without a
 * shell, with the event in NODEGATE_* variables. Never twice for a backend within its
 * sync_grace, never for a backend inside its grace, never more than max_concurrent at once;
 * every outcome (exit, timeout, failure to start, skip and why) is logged, counted in
 * /metrics and added to the incident's timeline. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "conf.h"
#include "health/health.h"

/* How a run ended, for nodegate_hooks_total{hook,result}. */
enum hook_result {
	HOOK_OK = 0,  /* exit status 0 */
	HOOK_FAILED,  /* another exit status, a signal, or the program could not be started */
	HOOK_TIMEOUT, /* killed past its timeout */
	HOOK_SKIPPED, /* not run: see enum hook_verdict */
	HOOK_RESULT_COUNT
};
extern const char *const hook_result_names[HOOK_RESULT_COUNT];

/* Whether a hook runs for an event. */
enum hook_verdict {
	HV_RUN = 0,
	HV_NOT_ON,     /* not one of its events, pools or backends: nothing to say */
	HV_IN_GRACE,   /* the backend is syncing inside its sync grace */
	HV_RUNNING,    /* this hook's run for the backend is still going */
	HV_RECENT,     /* this hook's last run for the backend ended less than sync_grace ago */
	HV_CONCURRENT, /* max_concurrent runs of this hook are going */
	HV_COUNT
};
extern const char *const hook_verdict_names[HV_COUNT];

/* What the decision knows about an event and the hook's past. Times are monotonic ms. */
struct hook_facts {
	enum notify_event event;
	const char *pool;     /* the backend's pool, or the incident's ("" about everything) */
	const char *backend;  /* NULL for incident events */
	bool syncing;         /* the backend is syncing and its grace_expired was not sent */
	uint64_t grace_until; /* ... then its grace ends */
	uint64_t sync_grace;  /* the backend's resolved sync_grace */
	bool ran;             /* this hook ran for this backend before */
	bool running_for;     /* ... and that run is still going */
	uint64_t last_start;  /* ... it started then */
	uint64_t last_end;    /* ... and ended then (when not running) */
	uint64_t running;     /* runs of this hook going now, any backend */
};

/* ---- the decisions, pure (no I/O, the time is an argument) ------------------------------ */

/* Whether H runs for F at NOW. Filters: F's event in `on`, its pool in `pools`, its backend
 * in `backends` (incident events, which have none, pass that filter). For a backend: not
 * inside its grace (except for grace_expired itself), not while this hook's run for it
 * goes on, not until sync_grace after that run ended. Then at most max_concurrent. */
enum hook_verdict hook_decide(const struct conf_hook *h, const struct hook_facts *f, uint64_t now);
/* Why V skipped, for the log and the timeline: "skipped: ran 41.0s ago, ended 40.0s ago,
 * within sync_grace 15m". */
void hook_skip_text(enum hook_verdict v, const struct conf_hook *h, const struct hook_facts *f,
                    uint64_t now, char *buf, size_t len);

#define HOOK_OUT_LINES 5    /* lines of a run's output kept */
#define HOOK_OUT_BYTES 1024 /* bytes of it kept at most; the rest is counted and dropped */

/* The first lines of a run's output (stdout and stderr together). Zero-initialise. */
struct hook_output {
	char text[HOOK_OUT_BYTES + 1]; /* as written (NUL bytes too), NUL terminated */
	size_t len;
	unsigned lines;   /* complete lines in text */
	uint64_t dropped; /* bytes past the limits */
};
/* Keeps what fits of DATA, counts the rest: never grows past the limits. */
void hook_output_feed(struct hook_output *o, const char *data, size_t n);
/* The kept lines as one line for the timeline: blank ones left out, control bytes as
 * blanks, joined with " | ", and "(+N bytes)" when some were dropped; "" when none. */
void hook_output_summary(const struct hook_output *o, char *buf, size_t len);

/* ---- at run time -------------------------------------------------------------------------- */

/* Subscribes to the bus and the incidents (after incident_init). */
int hook_init(struct event_base *base) WUR;
/* A configuration was applied (start or reload): hooks are (re)built from C by name; runs
 * going on finish or time out, and each hook keeps its last run per backend. */
void hook_apply(const struct conf *c);
/* Shutdown: running hooks get SIGTERM (their process group), SIGKILL 1s later, and are
 * reaped; their outcome is logged and added to the timeline (call before incident_deinit). */
void hook_deinit(void);
