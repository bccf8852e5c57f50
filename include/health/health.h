/* The health model, pure logic: verdicts from probe answers (rippled /health, server_info,
 * http), and the rotation state machine that turns observations into states, with flap
 * damping, sync grace, readmission and slow start. No I/O and no clock: every function
 * takes the time (milliseconds, any monotonic origin) as an argument. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "proxy/ranges.h"

enum verdict {
	V_HEALTHY = 0,
	V_WARNING,
	V_CRITICAL,
	V_COUNT
};
extern const char *const verdict_names[V_COUNT];

/* Rotation states, health side. Admin states are apart (enum admin_state). */
enum health_state {
	HS_CHECKING = 0, /* new, not judged yet: out, but a panic candidate */
	HS_UP,           /* in rotation */
	HS_SLOW_START,   /* in rotation, weight ramping up */
	HS_DOWN,         /* out: sustained warnings or criticals, or unreachable */
	HS_SYNCING,      /* out: back from unreachable, inside its sync grace */
	HS_COUNT
};
extern const char *const health_state_names[HS_COUNT];

enum admin_state {
	ADMIN_NONE = 0,
	ADMIN_DRAIN, /* no new requests, open ones finish */
	ADMIN_MAINT, /* out of rotation, probes go on, never a panic candidate */
	ADMIN_COUNT
};
extern const char *const admin_state_names[ADMIN_COUNT];

#define HEALTH_REASON_MAX 160

/* One observation: a probe's answer or a passive signal from live traffic. */
struct observation {
	enum verdict verdict;
	bool unreachable;               /* no answer at all: refused, reset, timeout, TLS */
	bool passive;                   /* from live traffic, not a probe */
	char reason[HEALTH_REASON_MAX]; /* one line: "peers 2 < 3; server_state syncing" */
};

/* An unreachable observation whose reason starts with this is a refused connection: nothing
 * listens, so it ejects at once (no blip). Probes and passive signals write it this way. */
#define HEALTH_REASON_REFUSED "refused"

/* What a probe of rippled reported, for the status page and the freshness rules. */
struct rippled_metrics {
	bool has_seq;
	uint64_t validated_seq;      /* server_info validated_ledger.seq */
	int64_t ledger_age_s;        /* validated ledger age in seconds; -1 none yet */
	int64_t network_id;          /* -1 unknown */
	char complete_ledgers[1024]; /* as reported (shown by the status API), cut to fit */
	bool has_ledgers;            /* complete_ledgers was read into ledgers */
	struct ranges ledgers;       /* complete_ledgers in full, for history-aware routing */
};

/* Verdict of rippled's GET /health: the status gives a first verdict (200 healthy, 503
 * warning, 500 critical, anything else critical); the JSON body {"info":{...}} lists the
 * metrics out of range, and each is re-judged with H's thresholds (ignore, expect_peers,
 * load_factor_*, ledger_age_*). A body that is not such JSON is critical. */
void health_judge_rippled(int status, const char *body, size_t len, const struct conf_health *h,
                          struct observation *out);
/* Verdict of JSON-RPC server_info (freshness): a reply without a validated ledger, or with
 * an error, is critical; otherwise the age against max_ledger_age (older: warning, twice as
 * old: critical), and the sequence against BEST_SEQ (the pool's best, 0: unknown) with
 * max_ledger_lag (behind more: warning, three times more: critical). Fills M. */
void health_judge_server_info(int status, const char *body, size_t len, const struct conf_health *h,
                              uint64_t best_seq, struct observation *out,
                              struct rippled_metrics *m);
/* Verdict of an http check: the status must be in check_expect_status (default 2xx), the
 * JSON body must match check_expect_json when set. */
void health_judge_http(int status, const char *body, size_t len, const struct conf_health *h,
                       struct observation *out);

#define HEALTH_RING CONF_BURST_MAX /* timestamps kept per verdict kind (bounds bursts) */

/* Per-backend rotation state. Zero-initialise, then health_init. */
struct health {
	enum health_state state;
	enum admin_state admin;
	enum verdict last_verdict;
	char reason[HEALTH_REASON_MAX]; /* of the last transition */
	uint64_t since;                 /* when the state was entered */
	unsigned consecutive_bad;       /* warnings or criticals in a row */
	unsigned consecutive_good;      /* healthy in a row */
	uint64_t good_since;            /* start of the healthy streak */
	uint64_t warn_at[HEALTH_RING];  /* recent warnings (and criticals) */
	uint64_t crit_at[HEALTH_RING];  /* recent criticals */
	unsigned n_warn, n_crit;        /* ring positions */
	bool down_unreachable;          /* out because nothing answered */
	uint64_t grace_until;           /* syncing: the grace ends */
	bool grace_expired_sent;
	uint64_t hold_until; /* flap damping: not readmitted before */
	unsigned flaps;      /* bounces in a row (hold doubles each) */
	uint64_t readmitted_at;
};

enum health_event_kind {
	HE_TRANSITION = 0, /* state changed */
	HE_GRACE_EXPIRED,  /* a syncing node's grace ran out before it was healthy */
	HE_ADMIN,          /* admin state changed */
	HE_WEIGHT,         /* the admin's weight override changed (monitor_set_weight) */
	HE_COUNT
};
extern const char *const health_event_kind_names[HE_COUNT];

/* An event for the bus (backend and pool names are filled in by the caller). */
struct health_event {
	enum health_event_kind kind;
	enum health_state from, to;
	enum admin_state admin_from, admin_to;
	enum verdict verdict;
	unsigned weight_from, weight_to; /* HE_WEIGHT: the base weight before and after */
	bool in_grace;                   /* inside a sync grace: no incident, no alert */
	uint64_t at;
	char reason[HEALTH_REASON_MAX];
};

void health_init(struct health *hs, uint64_t now);
/* Feeds one observation; returns true and fills EV when it changed the state (the one
 * transition function: it checks the move is legal). */
bool health_observe(struct health *hs, const struct conf_health *h, const struct observation *o,
                    uint64_t now, struct health_event *ev);
/* Time-driven moves: slow start done, grace expired, hold over. Call at least once per
 * check interval. Returns true and fills EV on a change. */
bool health_tick(struct health *hs, const struct conf_health *h, uint64_t now,
                 struct health_event *ev);
bool health_set_admin(struct health *hs, enum admin_state a, const char *why, uint64_t now,
                      struct health_event *ev);
/* In rotation: up or slow start, and no admin state. */
bool health_routable(const struct health *hs);
/* The weight to use now: WEIGHT, ramped from 10% to 100% over slow_start; at least 1. */
unsigned health_weight(const struct health *hs, const struct conf_health *h, unsigned weight,
                       uint64_t now);
/* Panic rank: 0 best (healthy or checking), 1 warning, 2 critical, -1 never (maint). */
int health_panic_rank(const struct health *hs);
/* The rank the routing snapshot carries: health_panic_rank, but -1 (never) for a node down
 * because nothing answered at all. */
int health_pick_rank(const struct health *hs);
/* Probe period for the backend's state. */
uint64_t health_interval(const struct health *hs, const struct conf_health *h);
