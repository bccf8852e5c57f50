/* Listeners and the data plane's worker: bound sockets, connection accounting and limits
 * (accepts pause at max_connections and resume as connections close). Every worker accepts
 * on a socket of its own bound to the same address (SO_REUSEPORT): the kernel spreads the
 * connections; the worker that accepts one owns it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "proxy/backend.h"
#include "proxy/limit.h"

#include "proxy/worker.h"

struct rpc_policy;

struct listener {
	char *name;
	int refs;                  /* the registry + open sessions */
	bool closed;               /* removed by reload or shutdown: sessions finish and go */
	struct conf_listener conf; /* own copy; read at every use, so a reload applies */
	struct pool *pool;         /* where requests go (swapped on reload) */
	SSL_CTX *ssl_ctx;          /* TLS termination, or NULL */
	struct rpc_policy *policy; /* JSON-RPC method policy (rpc.h), rebuilt on reload */
	struct evconnlistener *evl[WORKERS_MAX]; /* one per worker, each its own socket */
	bool paused[WORKERS_MAX];                /* by worker: accepts paused by a limit */
	/* by worker: accepts paused because descriptors ran out (EMFILE, ENFILE, the reserve);
	 * a timer resumes them after a backoff, as does a connection closing on that worker */
	bool fd_paused[WORKERS_MAX];
	uint32_t fd_backoff[WORKERS_MAX]; /* ms: the current pause, doubled while accepts fail */
	struct event *fd_timer[WORKERS_MAX];
	unsigned overflow; /* connections past max_connections being told 503 (atomic) */
	unsigned conns;    /* open client connections (atomic) */
	unsigned
	    metrics_name; /* metrics_name(name), taken at its first request; 0: not yet (atomic) */
	/* per client address (limit.c): the table survives reloads of the same bind */
	struct limit_table *clients; /* open connections and token buckets by address */
	struct limit_cidrs *exempt;  /* limit_exempt, parsed; NULL: none */
	struct limit_cidrs *trusted; /* trusted_proxies, parsed; NULL: none */
};

/* The listeners accepting now (the registry's array, not owned; replaced by a reload while
 * the workers are isolated). */
extern struct listener **listeners_running;
extern size_t n_listeners_running;

/* Binds a new listener for CL (accepts disabled until listener_enable); NULL with ERR. */
struct listener *listener_bind(const struct conf_listener *cl, char *err, size_t errlen);
/* Copies CL's settings into L (strings owned; the method lists are read into L->policy). */
void listener_conf_set(struct listener *l, const struct conf_listener *cl);
struct listener *listener_ref(struct listener *l);
void listener_unref(struct listener *l);
/* Stops accepting on L for good (reload dropped it, or shutdown). */
void listener_close(struct listener *l);
/* Accepts on L, on every worker, unless a connection limit holds it paused (the main
 * thread, workers isolated). */
void listener_enable(struct listener *l);
/* Resumes, on every worker, the accepts that limits paused, where the limits allow now. */
void listeners_resume(void);
/* Closes this worker's connections past max_connections still being told 503 (its loop
 * ends). */
void listeners_overflow_close(void);
/* A client connection closed on L (the session's last act). */
void listener_conn_closed(struct listener *l);
