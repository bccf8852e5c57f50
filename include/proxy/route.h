/* The routing snapshot: what the two planes exchange. Down: the control plane (the health
 * monitor, on the main loop) publishes an immutable, reference-counted table of every pool's
 * members with their routing view (in rotation or not, effective weight, panic rank, the
 * ledgers they hold); the data plane picks from the current table and never writes health
 * or ops state. Up: the data plane reports what live traffic shows about a node (a passive
 * signal) through one sink the control plane installs.
 *
 * Publication is a pointer swap; a replaced table is freed later (on a loop turn after the
 * swap, once its last reference is gone), never under a reader. Today one worker reads it on
 * the same loop; with several worker threads each would load the pointer at the start of a
 * callback and the reclaim would wait for every worker's next loop turn (the swap is already
 * atomic). Mutable per-backend counters used by the pick (connections, smooth round robin
 * state) stay on struct backend, which belongs to the data plane. */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "proxy/backend.h"
#include "proxy/ranges.h"

/* A pool member as the data plane sees it in one table. */
struct route_node {
	struct backend *b;     /* the data-plane object (a reference the table holds) */
	unsigned weight;       /* effective weight now (slow start ramps it); 0: no new picks */
	bool routable;         /* in rotation */
	int8_t panic_rank;     /* 0 healthy or unjudged, 1 warning, 2 critical, -1 never */
	bool ledgers_known;    /* a freshness probe reported complete_ledgers */
	struct ranges ledgers; /* the last ones reported */
};

struct route_pool {
	struct pool *pool; /* a reference the table holds */
	struct route_node *nodes;
	size_t n_nodes;
	size_t n_up; /* nodes in rotation with a weight */
	bool panic;  /* n_up < min_up and panic = yes: the least bad get the traffic */
};

struct route_table {
	atomic_uint refs; /* the current pointer holds one; readers across loop turns hold one */
	uint64_t gen;     /* 1, 2, ... in publication order */
	struct route_pool *pools;
	size_t n_pools;
};

/* Allocates an empty table for N_POOLS pools (nodes are added by the builder). */
struct route_table *route_table_new(size_t n_pools);
/* Allocates POOL's slot I in T with N_NODES nodes (takes a reference on POOL). -1: memory. */
int route_pool_init(struct route_table *t, size_t i, struct pool *pool, size_t n_nodes) WUR;
/* Fills node J of pool slot I (takes a reference on N->b) and counts it up when it is. */
void route_node_set(struct route_table *t, size_t i, size_t j, const struct route_node *n);
/* Frees a table that was never published. */
void route_table_free(struct route_table *t);

/* The current table (never NULL after route_init). Valid until the caller's loop turn ends;
 * take a reference to keep it longer. */
const struct route_table *route_current(void);
struct route_table *route_ref(const struct route_table *t);
void route_unref(struct route_table *t);
/* Makes T current (takes ownership) and tells the data plane's publish handlers. */
void route_publish(struct route_table *t);
/* Sets up the empty table and the reclaim event on BASE; route_deinit frees what is left. */
int route_init(struct event_base *base) WUR;
void route_deinit(void);

/* The slot of pool P in T (by identity, else by name: a pool replaced by a reload maps to
 * its successor); NULL when T has no such pool. */
const struct route_pool *route_pool_of(const struct route_table *t, const struct pool *p);
/* B's node in T (a backend is a member of one pool), or NULL. */
const struct route_node *route_node_of(const struct route_table *t, const struct backend *b);

/* Data plane handlers of a publication (e.g. WebSocket sessions following their node out of
 * rotation): called on the loop after the swap, with the new and the previous table. */
typedef void (*route_published_fn)(const struct route_table *now, const struct route_table *was,
                                   void *arg);
int route_on_publish(route_published_fn fn, void *arg) WUR;

#define ROUTE_SIGNALS_QUEUED_MAX 4096 /* passive signals from workers waiting for the main loop */
#define ROUTE_REASON_MAX         160 /* a passive signal's reason, cut to fit (the health engine's too) */

/* What live traffic showed about B: CRITICAL or a warning, UNREACHABLE when nothing answered
 * (REASON starts with "refused" for a refused connection). A client's 4xx is never one. */
typedef void (*route_signal_fn)(struct backend *b, bool critical, bool unreachable,
                                const char *reason);
/* The control plane's sink for passive signals (one; NULL: signals are dropped). */
void route_set_signal_sink(route_signal_fn fn);
void route_signal(struct backend *b, bool critical, bool unreachable, const char *reason);

/* ---- the pick (reads the table, charges the backends' round robin state) ---- */

/* Picks a node of RP with capacity that is not in EXCLUDE (backends already tried for this
 * request), by the pool's algorithm. In panic it picks among the least bad instead:
 * healthy or unjudged, then warning, then critical; never maint, drain, or a backend that
 * does not answer. NEED (NULL: none): at each panic rank, the nodes that hold the ledgers
 * come first, balanced among themselves; with NEED->only, no other node is picked. */
struct backend *route_pick(const struct route_pool *rp, struct backend *const *exclude,
                           size_t n_exclude, const struct pick_need *need);
/* Whether route_pick would find a node (it changes nothing). */
bool route_can_pick(const struct route_pool *rp, struct backend *const *exclude, size_t n_exclude,
                    const struct pick_need *need);
/* The same on pool P's slot in the current table (NULL / false when it has none). */
struct backend *pool_pick(struct pool *p, struct backend *const *exclude, size_t n_exclude);
struct backend *pool_pick_need(struct pool *p, struct backend *const *exclude, size_t n_exclude,
                               const struct pick_need *need);
bool pool_can_pick(const struct pool *p, struct backend *const *exclude, size_t n_exclude);
bool pool_can_pick_need(const struct pool *p, struct backend *const *exclude, size_t n_exclude,
                        const struct pick_need *need);
/* Whether B is known, in the current table, to hold ledgers LO to HI. */
bool backend_holds(const struct backend *b, uint32_t lo, uint32_t hi);
