/* Listeners and the data plane's worker: bound sockets, connection accounting and limits
 * (accepts pause at max_connections and resume as connections close), and the worker's
 * loop and sessions. One worker today; the data plane keeps its state here, not in the
 * registry, so that more workers are a small step. */
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

struct rpc_policy;
struct session;
TAILQ_HEAD(session_list, session);

struct listener {
	char *name;
	int refs;                  /* the registry + open sessions */
	bool closed;               /* removed by reload or shutdown: sessions finish and go */
	struct conf_listener conf; /* own copy; read at every use, so a reload applies */
	struct pool *pool;         /* where requests go (swapped on reload) */
	SSL_CTX *ssl_ctx;          /* TLS termination, or NULL */
	struct rpc_policy *policy; /* JSON-RPC method policy (rpc.h), rebuilt on reload */
	struct evconnlistener *evl;
	unsigned conns;        /* open client connections */
	bool paused;           /* accepts paused by a connection limit */
	unsigned metrics_name; /* metrics_name(name), taken at its first request; 0: not yet */
	/* per client address (limit.c): the table survives reloads of the same bind */
	struct limit_table *clients; /* open connections and token buckets by address */
	struct limit_cidrs *exempt;  /* limit_exempt, parsed; NULL: none */
	struct limit_cidrs *trusted; /* trusted_proxies, parsed; NULL: none */
};

/* Takes ownership of FD, accepted on L (session_accept). */
typedef void (*worker_accept_fn)(struct listener *l, evutil_socket_t fd, const struct sockaddr *sa,
                                 int salen);

/* The data plane's thread: its loop, its sessions, the listeners it accepts on. */
struct worker {
	struct event_base *base;
	worker_accept_fn accept; /* what an accepted connection becomes */
	struct session_list sessions;
	struct listener **listeners; /* the running ones (the registry's array, not owned) */
	size_t n_listeners;
	uint64_t max_connections; /* [nodegate] max_connections */
	unsigned conns;           /* open client connections, all listeners */
	bool draining;            /* SIGTERM: finishing in-flight requests */
};

extern struct worker worker;

/* Sets up the worker on BASE (sessions list empty); ACCEPT takes each new connection. */
void worker_init(struct event_base *base, worker_accept_fn accept);
/* Binds a new listener for CL (accepts disabled until listener_enable); NULL with ERR. */
struct listener *listener_bind(const struct conf_listener *cl, char *err, size_t errlen);
/* Copies CL's settings into L (strings owned; the method lists are read into L->policy). */
void listener_conf_set(struct listener *l, const struct conf_listener *cl);
struct listener *listener_ref(struct listener *l);
void listener_unref(struct listener *l);
/* Stops accepting on L for good (reload dropped it, or shutdown). */
void listener_close(struct listener *l);
/* Accepts on L unless a connection limit holds it paused. */
void listener_enable(struct listener *l);
/* Resumes the accepts that limits paused, where the limits allow now. */
void listeners_resume(void);
/* A client connection closed on L (the session's last act). */
void listener_conn_closed(struct listener *l);
