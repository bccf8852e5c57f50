/* Backends and pools at run time: identity across reloads, connection counts, pooled
 * keep-alive connections, and the balancing pick (smooth weighted round robin, least
 * connections). The pick is pure logic: it reads each backend's routable flag and
 * effective weight, which the health engine will own. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "proxy/budget.h"
#include "conf.h"
#include "health/health.h"

struct upconn;      /* a connection to a backend, owned by session.c */
struct check_state; /* a backend's probes, owned by check.c */
struct ssl_ctx_st;  /* OpenSSL's SSL_CTX */

TAILQ_HEAD(upconn_list, upconn);

struct backend {
	char *name;
	int refs;                   /* pool memberships + requests and connections in use */
	bool removed;               /* dropped by a reload: no new picks, freed at last ref */
	struct conf_backend conf;   /* own copy (strings owned) */
	struct ssl_ctx_st *ssl_ctx; /* client TLS context when conf.tls */
	bool routable;              /* in rotation (the health engine's verdict) */
	unsigned weight;            /* effective weight used by the pick */
	int64_t rr_current;         /* smooth weighted round robin state */
	unsigned active;            /* connections busy with a request or a tunnel */
	unsigned conns;             /* all open connections, idle ones included */
	struct upconn_list idle;    /* pooled keep-alive connections, most recent first */
	unsigned n_idle;
	uint64_t requests;              /* requests sent to this backend */
	uint64_t failures;              /* connect failures, resets, timeouts, bad responses */
	struct health health;           /* rotation state (health.c); kept across reloads */
	struct check_state *check;      /* probe schedule (check.c), NULL when not probed */
	struct rippled_metrics metrics; /* last freshness answer */
	uint64_t transitions;           /* rotation state changes */
	bool ledgers_known;             /* a freshness probe reported complete_ledgers */
	struct ranges ledgers;          /* the last one reported (kept when a probe fails) */
};

struct pool {
	char *name;
	int refs;              /* listeners + requests in flight */
	struct conf_pool conf; /* own copy (strings owned) */
	struct backend **members;
	size_t n_members;
	bool in_panic;           /* fewer than min_up in rotation (logged on change) */
	uint64_t history_routed; /* picks made among the nodes holding a request's ledgers */

	struct budget budget; /* retries after sending (session.c); carried across reloads */
};

/* What a request needs of a node besides rotation and capacity: the ledgers it names. */
struct pick_need {
	uint32_t ledger_min, ledger_max; /* inclusive */
	bool only; /* true: only nodes known to hold them; false: them first, else any */
};

/* Creates a backend from its configuration (strings are copied); refs = 1; its rotation
 * state starts as checking at NOW. */
struct backend *backend_new(const struct conf_backend *cb, uint64_t now);
struct backend *backend_ref(struct backend *b);
void backend_unref(struct backend *b);
/* Whether a reload can keep B for CB: same name and address. */
bool backend_same_identity(const struct backend *b, const struct conf_backend *cb);
/* Applies reloadable settings (weight, limits, TLS options) from CB. */
void backend_update(struct backend *b, const struct conf_backend *cb);
/* Whether a new connection may be opened (max_conns). */
bool backend_has_capacity(const struct backend *b);

struct pool *pool_new(const struct conf_pool *cp);
struct pool *pool_ref(struct pool *p);
void pool_unref(struct pool *p);
/* Adds B as a member (takes a reference). */
int pool_add(struct pool *p, struct backend *b) WUR;

/* Picks a routable backend with capacity that is not in EXCLUDE (backends already tried
 * for this request), by the pool's algorithm. In panic (fewer than min_up routable, and
 * panic = yes) it picks among the least bad instead: healthy or unjudged, then warning,
 * then critical; never maint, drain, or a backend that does not answer. NULL when none. */
struct backend *pool_pick(struct pool *p, struct backend *const *exclude, size_t n_exclude);
/* Whether pool_pick would find a backend (it changes nothing). */
bool pool_can_pick(const struct pool *p, struct backend *const *exclude, size_t n_exclude);
/* Whether B is known to hold ledgers LO to HI (a backend with no known ranges holds none). */
bool backend_holds(const struct backend *b, uint32_t lo, uint32_t hi);
/* pool_pick and pool_can_pick for a request with NEED (NULL: none, the same as those). At
 * each panic rank, the nodes that hold the ledgers come first, balanced among themselves by
 * the pool's algorithm; with NEED->only, no other node is picked. */
struct backend *pool_pick_need(struct pool *p, struct backend *const *exclude, size_t n_exclude,
                               const struct pick_need *need);
bool pool_can_pick_need(const struct pool *p, struct backend *const *exclude, size_t n_exclude,
                        const struct pick_need *need);
/* Members in rotation (routable, weight > 0). */
size_t pool_count_up(const struct pool *p);
