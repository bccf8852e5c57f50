/* Backends and pools as the data plane holds them: identity across reloads, settings,
 * connection counts and pooled keep-alive connections. Whether a backend is in rotation and
 * its effective weight are not here: the health monitor publishes them in the routing
 * snapshot (route.h), where the pick reads them; its own per-backend state hangs off
 * `node`, which the data plane never reads. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/queue.h>

#include "proxy/budget.h"
#include "proxy/latency.h"
#include "conf.h"

struct upconn;     /* a connection to a backend (upstream.c) */
struct node;       /* the health monitor's state of a backend (health/monitor.h) */
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

TAILQ_HEAD(upconn_list, upconn);

/* What each worker keeps of a backend for itself (backend.local[worker id]). */
struct backend_local {
	int64_t rr_current;      /* smooth weighted round robin state */
	struct upconn_list idle; /* pooled keep-alive connections, most recent first */
	unsigned n_idle;         /* (atomic: /metrics reads it) */
};

/* Counters shared by the workers are updated with atomic operations (relaxed). */
struct backend {
	char *name;
	int refs;                    /* pool memberships + requests and connections in use */
	bool removed;                /* dropped by a reload: no new picks, freed at last ref */
	struct conf_backend conf;    /* own copy (strings owned) */
	struct ssl_ctx_st *ssl_ctx;  /* client TLS context when conf.tls */
	unsigned active;             /* connections busy with a request or a tunnel */
	unsigned conns;              /* all open connections, idle ones included */
	struct backend_local *local; /* one per worker */
	uint64_t requests;           /* requests sent to this backend */
	uint64_t failures;           /* connect failures, resets, timeouts, bad responses */
	uint64_t last_answer_us;     /* clock_now_us() of its last first byte of an answer */
	uint64_t slow_until;         /* hung-node hold: no new picks before this (clock_now) */
	struct node *node;           /* the monitor's (control plane) state, NULL until probed */
	unsigned
	    metrics_name; /* metrics_name(name), taken at its first request; 0: not yet (atomic) */
};

struct pool {
	char *name;
	int refs;              /* listeners + requests in flight */
	struct conf_pool conf; /* own copy (strings owned) */
	struct backend **members;
	size_t n_members;
	uint64_t history_routed; /* picks made among the nodes holding a request's ledgers */

	/* shared by the workers, under mu */
	pthread_mutex_t mu;
	struct budget budget;   /* retries after sending (the dispatch); carried across reloads */
	struct latency latency; /* recent answers' times, for the hung-node bound (carried too) */
};

/* What a request needs of a node besides rotation and capacity: the ledgers it names. */
struct pick_need {
	uint32_t ledger_min, ledger_max; /* inclusive */
	bool only; /* true: only nodes known to hold them; false: them first, else any */
};

/* Creates a backend from its configuration (strings are copied); refs = 1. */
struct backend *backend_new(const struct conf_backend *cb);
struct backend *backend_ref(struct backend *b);
void backend_unref(struct backend *b);
/* The calling worker's part of B. */
struct backend_local *backend_local(struct backend *b);
/* Pooled idle connections, all workers. */
unsigned backend_n_idle(const struct backend *b);
/* Whether a reload can keep B for CB: same name and address. */
bool backend_same_identity(const struct backend *b, const struct conf_backend *cb);
/* Applies reloadable settings (weight, limits, TLS options) from CB; the effective weight
 * follows at the monitor's next publication. */
void backend_update(struct backend *b, const struct conf_backend *cb);
/* Whether a new connection may be opened (max_conns). */
bool backend_has_capacity(const struct backend *b);

struct pool *pool_new(const struct conf_pool *cp);
struct pool *pool_ref(struct pool *p);
void pool_unref(struct pool *p);
/* The pool's retry budget and recent latency, under its lock (budget.h, latency.h). */
void pool_budget_request(struct pool *p, uint64_t now);
bool pool_budget_retry(struct pool *p, enum retry_reason why, bool charged, uint64_t now);
void pool_latency_add(struct pool *p, uint64_t us, uint64_t now);
uint64_t pool_latency_p99(struct pool *p, uint64_t now);
/* latency_take under the pool's lock: the answers since the last call, for the chart. */
uint64_t pool_latency_take(struct pool *p, uint32_t out[LATENCY_BUCKETS]);
uint64_t pool_latency_bound(struct pool *p, uint64_t factor, uint64_t quiet_ms, uint64_t max_ms,
                            uint64_t now);
/* Adds B as a member (takes a reference). */
int pool_add(struct pool *p, struct backend *b) WUR;
