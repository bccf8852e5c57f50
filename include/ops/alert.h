/* Alerts: each [alert NAME] channel (webhook, Slack, PagerDuty, email) tells ops of
 * incidents and rotation changes, never of raw probes: a blip sends nothing, a node inside
 * its sync grace sends nothing, a grace that expires always sends. Delivery runs on the
 * loop through libcurl (curlev.c): a slow or dead receiver never delays traffic or probes.
 * Per channel: an event filter, min_severity, a rate limit, a bounded queue, one delivery
 * in flight (order kept), retries with a doubling backoff; every attempt is logged, counted
 * (nodegate_alerts_total) and its outcome added to the incident's timeline. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "ops/incident-t.h"

struct event_base;
struct health_event;

#define ALERT_TEST NOTIFY_COUNT /* the event of a test message ("test") */

/* What became of a message, or of one attempt (the label of nodegate_alerts_total). */
enum alert_result {
	AR_DELIVERED = 0, /* an attempt succeeded: HTTP 2xx, or the SMTP server took it */
	AR_FAILED,        /* an attempt failed (retried while tries are left) */
	AR_DROPPED,       /* every try failed: the message is given up */
	AR_RATE_LIMITED,  /* not sent: the channel's rate_limit was reached */
	AR_QUEUE_FULL,    /* not sent: queue_size messages were already waiting */
	AR_COUNT
};
extern const char *const alert_result_names[AR_COUNT];

/* One event as channels see it (copied: it outlives what it came from). */
struct alert_event {
	int event; /* enum notify_event, or ALERT_TEST */
	enum severity severity;
	int status;         /* the pool's status then (enum pool_status), -1 when unknown */
	int64_t incident;   /* its incident, 0: none */
	int64_t at;         /* Unix ms */
	char pool[64];      /* "" when about no pool (a manual incident about everything) */
	char backend[64];   /* "" when about no backend (incident events) */
	char old_state[32]; /* backend events: health states; incidents: pool statuses */
	char new_state[32]; /* "" when not known */
	char verdict[16];   /* backend events: the verdict of the change; "" otherwise */
	char title[160];    /* the incident's title; "" otherwise */
	char reason[INCIDENT_TEXT_MAX];  /* why, in one line */
	int priority;                    /* the incident's (enum priority), -1: none */
	char remedy[INCIDENT_TEXT_MAX];  /* the suggested interventions (remedy.h), "" if none */
	char chat[96];                   /* the suggested chat channel, "" without an incident */
	char similar[INCIDENT_TEXT_MAX]; /* similar past incidents and the expected recovery, "" */
	char ack_url[400];               /* the one-time acknowledgement link, "" when none */
};

/* ---- the decisions, pure (no I/O, the time is an argument) ------------------------------ */

/* The severity of an event from the pool status: operational info, degraded warning,
 * partial outage error, major outage critical (unknown: warning). */
enum severity alert_severity(int pool_status);
/* The severity of an incident's events from its priority: P1 critical, P2 error, P3
 * warning, P4 info. */
enum severity alert_severity_of_priority(int priority);
/* The event a bus transition is, or -1: grace_expired for an expired grace; backend_down
 * for a move to down outside a sync grace; backend_up for a move back into rotation (up or
 * slow start) from down or syncing. Nothing for a node under an admin state. */
int alert_event_of(const struct health_event *he);
/* Whether a channel with ON_MASK and MIN_SEVERITY sends EV: the event must be in ON_MASK;
 * grace_expired always passes the severity; a resolve passes when its incident REACHED
 * the channel's min_severity (its open or an update was at least that severe); the others
 * must be at least MIN_SEVERITY. A test always passes. */
bool alert_wanted(unsigned on_mask, int min_severity, const struct alert_event *ev, bool reached);

/* A token bucket of PER_MINUTE messages (burst PER_MINUTE), refilled continuously. */
struct alert_rate {
	uint64_t milli; /* tokens x 60000 */
	uint64_t last;  /* ms of the last refill */
	bool started;
};
/* Takes a token at NOW (ms, monotonic); false when none is left. PER_MINUTE 0: no limit. */
bool alert_rate_take(struct alert_rate *r, uint64_t per_minute, uint64_t now);
/* The wait before the retry after FAILURES failed tries (1, 2, ...): BASE doubled each
 * time, at most one hour. */
uint64_t alert_backoff(uint64_t base, unsigned failures);

/* ---- the messages, pure ------------------------------------------------------------------ */

/* One readable line: "[warning] incident 3 opened: rpc: degraded (n2 down: peers 0)". */
void alert_summary(const struct alert_event *ev, char *buf, size_t len);
/* "[nodegate] POOL: STATUS" (STATUS: the pool status, "test" for a test). */
void alert_subject(const struct alert_event *ev, char *buf, size_t len);
/* Bodies, NUL-terminated, to free(); NULL when out of memory. STATUS_URL may be NULL.
 * webhook: {"event","severity","incident","pool","backend","old_state","new_state",
 * "verdict","reason","title","status","time","status_url"} (null when not known). */
char *alert_body_webhook(const struct alert_event *ev, const char *status_url);
/* Slack incoming webhook: {"text", "attachments":[{"color" by severity, "title",
 * "title_link" (STATUS_URL, when set), "fields", "footer", "ts"}]}. */
char *alert_body_slack(const struct alert_event *ev, const char *status_url);
/* PagerDuty Events API v2: event_action resolve for incident_resolved, acknowledge for
 * incident_acknowledged, else trigger;
 * dedup_key "nodegate-incident-ID" (without an incident "nodegate-POOL-BACKEND"); the
 * payload's severity is the event's. */
char *alert_body_pagerduty(const struct alert_event *ev, const char *status_url,
                           const char *routing_key);
/* A plain-text mail (CRLF lines): From, To, Subject, Date, MIME headers, then the body. */
char *alert_body_email(const struct alert_event *ev, const char *status_url, const char *from,
                       const char *to);

/* ---- the channels at run time ------------------------------------------------------------ */

/* Subscribes to the bus and to incidents; the channels come with alert_apply. */
int alert_init(struct event_base *base) WUR;
/* Builds the channels of C (secrets read now): a channel of the same name keeps its queue,
 * counters and rate; a removed one drops its queue with a log line. On failure (a secret
 * that cannot be read) nothing changed and ERR says why. */
int alert_apply(const struct conf *c, char *err, size_t errlen) WUR;
/* An escalation tells channel NAME of WHAT (IC_OPEN: its tier was reached) on INC, with
 * REASON as the line, whatever the channel's on list and min_severity say (its rate limit
 * and queue still apply). -1 when there is no such channel. */
int alert_escalate(const char *name, enum incident_change what, const struct incident *inc,
                   const char *reason);
/* Drops every channel and what it holds, unsubscribes. */
void alert_deinit(void);
/* --test-alert: builds channel NAME of C alone, sends one test message on a loop of its own
 * (one attempt and at most 2 retries), and writes the outcome into OUT: 0 delivered, -1
 * not (OUT says why). */
int alert_send_test(const struct conf *c, const char *name, char *out, size_t outlen) WUR;
