/* The registry: what is running now (the configuration, listeners, pools, backends), as
 * the control plane reads it. Written only by server.c when a configuration is committed;
 * the data plane never reads it (it reads the routing snapshot, proxy/route.h). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "conf.h"
#include "proxy/backend.h"
#include "proxy/listener.h"

struct registry {
	struct event_base *base; /* the control plane's loop */
	struct conf *conf;       /* the running configuration */
	struct listener **listeners;
	size_t n_listeners;
	struct pool **pools;
	size_t n_pools;
	struct backend **backends; /* every configured backend, the identity across reloads */
	size_t n_backends;
	bool draining; /* SIGTERM: finishing in-flight requests */
};

extern struct registry registry;

/* The running pool or backend with this name, or NULL. */
struct pool *registry_pool(const char *name);
struct backend *registry_backend(const char *name);
