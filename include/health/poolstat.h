/* A pool as the control plane sees it: how many members are in rotation, whether it is in
 * panic, and its one status (operational .. major outage) that /api/status, /metrics, the
 * page, incidents and alerts all read. Computed here only, from the members' nodes. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health/node.h"
#include "proxy/backend.h"

/* What a pool looks like from outside, worst last. */
enum pool_status {
	PS_OPERATIONAL = 0, /* every member in rotation */
	PS_DEGRADED,        /* some out, at least min_up in */
	PS_PARTIAL_OUTAGE,  /* fewer than min_up in, but the pool still serves (panic) */
	PS_MAJOR_OUTAGE,    /* no backend can serve */
	PS_COUNT
};
extern const char *const pool_status_names[PS_COUNT];

/* The facts the status and the panic flag are made of (pure: filled by poolstat_add). */
struct pool_view {
	size_t members;  /* configured members */
	size_t up;       /* in rotation with a weight */
	size_t routable; /* in rotation, weight 0 included (what panic counts) */
	size_t judged;   /* members with a node past its first verdict */
	uint64_t min_up;
	bool can_serve; /* the data plane can pick a node (in panic too) */
};

/* ---- the decisions, pure ------------------------------------------------------------------ */

/* Counts member N (NULL: not probed yet), REMOVED by a reload, into V. */
void poolstat_add(struct pool_view *v, const struct node *n, bool removed);
/* Member N (NULL: not probed here), REMOVED, already counted into V by poolstat_add, is in
 * rotation on another live instance of the fleet: V counts it up (and the pool able to
 * serve) unless it is up here already. */
void poolstat_add_elsewhere(struct pool_view *v, const struct node *n, bool removed);
/* Major outage when nothing can serve; operational with every member up; degraded with at
 * least min_up (and one) up; partial outage otherwise. */
enum pool_status poolstat_status_of(const struct pool_view *v);
/* Fewer than min_up in rotation, once some member was judged (right after a start nothing
 * is, and that is not an outage to report). */
bool poolstat_panic_of(const struct pool_view *v);
/* Every member had its first verdict: before, the status would be a guess. */
bool poolstat_judged_of(const struct pool_view *v);

/* ---- at run time, on the registry's pools --------------------------------------------------- */

/* P as this instance judges it (routing and panic read this). */
void poolstat_view(const struct pool *p, struct pool_view *v);
/* A fleet (ops/fleet.c sets FN, NULL: none): FN says whether another live instance has
 * BACKEND in rotation. The fleet's view of P counts such a member as up, whatever this
 * instance thinks: a node is down for users when it is down for every live instance that
 * routes to it. The page, /api/status and incidents read it; routing never does. */
void poolstat_set_fleet(bool (*fn)(const char *backend));
void poolstat_fleet_view(const struct pool *p, struct pool_view *v);
/* B is in rotation on another live instance of the fleet. */
bool poolstat_up_elsewhere(const struct backend *b);
/* P's status in the fleet's view (this instance's without a fleet). */
enum pool_status poolstat_status(const struct pool *p);
/* The same, or -1 while it cannot be told (poolstat_judged_of, this instance's). */
int poolstat_known(const struct pool *p);
/* Members of P in rotation with a weight. */
size_t poolstat_up(const struct pool *p);
/* Whether P was in panic at the last poolstat_check. */
bool poolstat_in_panic(const struct pool *p);
/* Re-evaluates every pool's panic flag (the monitor's tick) and logs each change:
 * "pool NAME: panic: U of N backends up (min_up M), routing to the least bad" and
 * "pool NAME: out of panic: U of N backends up". */
void poolstat_check(void);
/* Forgets every flag (deinit). */
void poolstat_reset(void);
