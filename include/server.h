/* The running proxy: listeners, pools and backends built from a conf, swapped in whole on
 * reload (objects whose identity did not change are kept), and the process lifecycle. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "proxy/backend.h"
#include "conf.h"
#include "proxy/limit.h"

struct rpc_policy;
struct session;
TAILQ_HEAD(session_list, session);

struct listener {
	char *name;
	int refs;                  /* the server + open sessions */
	bool closed;               /* removed by reload or shutdown: sessions finish and go */
	struct conf_listener conf; /* own copy; read at every use, so a reload applies */
	struct pool *pool;         /* where requests go (swapped on reload) */
	SSL_CTX *ssl_ctx;          /* TLS termination, or NULL */
	struct rpc_policy *policy; /* JSON-RPC method policy (rpc.h), rebuilt on reload */
	struct evconnlistener *evl;
	unsigned conns; /* open client connections */
	bool paused;    /* accepts paused by a connection limit */
	/* per client address (limit.c): the table survives reloads of the same bind */
	struct limit_table *clients; /* open connections and token buckets by address */
	struct limit_cidrs *exempt;  /* limit_exempt, parsed; NULL: none */
	struct limit_cidrs *trusted; /* trusted_proxies, parsed; NULL: none */
};

struct server {
	struct event_base *base;
	struct conf *conf; /* the running configuration */
	struct listener **listeners;
	size_t n_listeners;
	struct pool **pools;
	size_t n_pools;
	struct backend **backends; /* every configured backend, the registry for reloads */
	size_t n_backends;
	struct session_list sessions;
	unsigned conns; /* open client connections, all listeners */
	bool draining;  /* SIGTERM: finishing in-flight requests */
};

extern struct server server;

/* Builds pools, backends and listeners from C and swaps them in; on failure nothing of the
 * running state changed and errs says why. Takes ownership of C on success. */
int server_apply(struct conf *c, struct conf_errors *errs) WUR;
/* Runs the loop until shutdown; returns the exit status. */
int server_run(const char *conf_path);
/* The running pool or backend with this name, or NULL. */
struct pool *server_pool(const char *name);
struct backend *server_backend(const char *name);
/* Session bookkeeping: a client connection closed on L. */
void server_conn_closed(struct listener *l);
struct listener *listener_ref(struct listener *l);
void listener_unref(struct listener *l);
