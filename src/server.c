/* The running proxy: builds listeners, pools and backends from a conf, swaps them in on
 * reload keeping what did not change, and runs the process lifecycle (signals, drain). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "util.h"
#include "clock.h"
#include "ops/admin.h"    /* admin API (admin.c) */
#include "ops/alert.h"    /* alert channels (alert.c) */
#include "ops/hook.h"     /* remediation hooks (hook.c) */
#include "ops/incident.h" /* incidents and their store (incident.c, store.c) */
#include "log.h"
#include "health/monitor.h"
#include "ops/page.h" /* the public status page (page.c) */
#include "server.h"
#include "proxy/session.h"
#include "stats.h"
#include "proxy/rpc.h"
#include "ops/status.h"
#include "proxy/tls.h"
#include "proxy/upstream.h"

struct server server;
struct stats stats;

static const char *conf_path;
static struct event *ev_signals[3], *ev_tick, *ev_shutdown;

/* ---- listeners ----------------------------------------------------------------------------- */


static void listener_conf_set(struct listener *l, const struct conf_listener *cl)
{
	free(l->conf.name);
	free(l->conf.pool);
	free(l->conf.tls_cert);
	free(l->conf.tls_key);
	free(l->conf.limit_exempt);
	free(l->conf.trusted_proxies);
	l->conf = *cl;
	l->conf.name = strdup(cl->name);
	l->conf.pool = strdup(cl->pool);
	l->conf.tls_cert = dup_or_null(cl->tls_cert);
	l->conf.tls_key = dup_or_null(cl->tls_key);
	l->conf.limit_exempt = dup_or_null(cl->limit_exempt);
	l->conf.trusted_proxies = dup_or_null(cl->trusted_proxies);
	l->conf.allow_methods = NULL; /* read once, into the listener's policy */
	l->conf.deny_methods = NULL;
	l->name = l->conf.name;
}

struct listener *listener_ref(struct listener *l)
{
	l->refs++;
	return l;
}

void listener_unref(struct listener *l)
{
	if (l == NULL || --l->refs > 0)
		return;
	if (l->evl != NULL)
		evconnlistener_free(l->evl);
	SSL_CTX_free(l->ssl_ctx);
	pool_unref(l->pool);
	rpc_policy_free(l->policy);
	free(l->conf.name);
	free(l->conf.pool);
	free(l->conf.tls_cert);
	free(l->conf.tls_key);
	free(l->conf.limit_exempt);
	free(l->conf.trusted_proxies);
	limit_table_free(l->clients);
	limit_cidrs_free(l->exempt);
	limit_cidrs_free(l->trusted);
	free(l);
}

static bool at_limit(const struct listener *l)
{
	return server.conns >= server.conf->global.max_connections ||
	       l->conns >= l->conf.max_connections;
}

static void listener_pause(struct listener *l)
{
	if (l->paused || l->evl == NULL)
		return;
	evconnlistener_disable(l->evl);
	l->paused = true;
}

static void listeners_resume(void)
{
	for (size_t i = 0; i < server.n_listeners; i++) {
		struct listener *l = server.listeners[i];
		if (l->paused && l->evl != NULL && !at_limit(l)) {
			evconnlistener_enable(l->evl);
			l->paused = false;
		}
	}
}

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
	struct listener *l = arg;

	STAT_INC(conn_accepted);
	server.conns++;
	l->conns++;
	stats.conn_current = server.conns;
	if (at_limit(l)) {
		bool global = server.conns >= server.conf->global.max_connections;
		if (global)
			STAT_INC(conn_limit_global);
		else
			STAT_INC(conn_limit_listener);
		log_warn("listener %s: %s max_connections reached, pausing accepts", l->name,
		         global ? "global" : "listener");
		for (size_t i = 0; i < server.n_listeners; i++)
			if (global || server.listeners[i] == l)
				listener_pause(server.listeners[i]);
	}
	session_accept(l, fd, sa, salen);
}

static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;

	STAT_INC(conn_accept_error);
	log_warn("listener %s: accept: %s", l->name, strerror(errno));
}

void server_conn_closed(struct listener *l)
{
	server.conns--;
	l->conns--;
	stats.conn_current = server.conns;
	if (server.draining) {
		if (server.conns == 0)
			event_base_loopexit(server.base, NULL);
		return;
	}
	listeners_resume();
}

/* A hash key clients cannot guess (limit.c keys its table with it). */
static uint64_t random_seed(void)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	return seed;
}

static struct listener *listener_bind(const struct conf_listener *cl, char *err, size_t errlen)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->refs = 1;
	listener_conf_set(l, cl);
	l->clients = limit_table_new(cl->max_tracked_clients, random_seed());
	if (l->clients == NULL) {
		snprintf(err, errlen, "listener %s: out of memory", cl->name);
		listener_unref(l);
		return NULL;
	}
	l->evl = evconnlistener_new_bind(
	    server.base, accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE | LEV_OPT_DISABLED,
	    1024, (const struct sockaddr *)&cl->bind.ss, (int)cl->bind.len);
	if (l->evl == NULL) {
		char where[300];
		conf_addr_format(&cl->bind, where, sizeof(where));
		snprintf(err, errlen, "listener %s: cannot bind %s: %s", cl->name, where,
		         strerror(errno));
		listener_unref(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->evl, accept_error_cb);
	return l;
}

static struct listener *find_listener_by_bind(const struct conf_addr *a)
{
	for (size_t i = 0; i < server.n_listeners; i++) {
		const struct conf_addr *b = &server.listeners[i]->conf.bind;
		if (b->len == a->len && memcmp(&b->ss, &a->ss, a->len) == 0)
			return server.listeners[i];
	}
	return NULL;
}

static void listener_close(struct listener *l)
{
	l->closed = true;
	if (l->evl != NULL) {
		evconnlistener_free(l->evl);
		l->evl = NULL;
	}
}

/* ---- apply ------------------------------------------------------------------------------- */

/* Everything a new configuration needs, built before anything running is touched. */
struct plan {
	struct backend **backends; /* one per conf backend: kept (ref'd) or new */
	SSL_CTX **backend_ctx;     /* client TLS contexts, NULL for plain backends */
	struct pool **pools;
	struct listener **listeners; /* kept (ref'd) or newly bound (disabled) */
	SSL_CTX **listener_ctx;
	struct limit_cidrs **exempt, **trusted; /* per listener: its parsed CIDR lists */
	struct rpc_policy **policies;           /* one per conf listener */
};

static void add_error(struct conf_errors *errs, const char *msg)
{
	if (errs->n < CONF_MAX_ERRORS)
		errs->msg[errs->n++] = strdup(msg);
	else
		errs->dropped++;
}

static void plan_free(struct plan *p, const struct conf *c)
{
	for (size_t i = 0; p->backends != NULL && i < c->n_backends; i++) {
		backend_unref(p->backends[i]);
		SSL_CTX_free(p->backend_ctx[i]);
	}
	for (size_t i = 0; p->pools != NULL && i < c->n_pools; i++)
		pool_unref(p->pools[i]);
	for (size_t i = 0; p->listeners != NULL && i < c->n_listeners; i++) {
		listener_unref(p->listeners[i]);
		SSL_CTX_free(p->listener_ctx[i]);
		if (p->policies != NULL)
			rpc_policy_free(p->policies[i]);
	}
	for (size_t i = 0; p->exempt != NULL && p->trusted != NULL && i < c->n_listeners; i++) {
		limit_cidrs_free(p->exempt[i]);
		limit_cidrs_free(p->trusted[i]);
	}
	free(p->exempt);
	free(p->trusted);
	free(p->backends);
	free(p->backend_ctx);
	free(p->pools);
	free(p->listeners);
	free(p->listener_ctx);
	free(p->policies);
}

static struct backend *find_backend(const struct conf_backend *cb)
{
	for (size_t i = 0; i < server.n_backends; i++)
		if (backend_same_identity(server.backends[i], cb))
			return server.backends[i];
	return NULL;
}

static int plan_backends(struct plan *p, const struct conf *c, struct conf_errors *errs)
{
	char err[512], msg[700];
	int rc = 0;

	for (size_t i = 0; i < c->n_backends; i++) {
		const struct conf_backend *cb = &c->backends[i];
		struct backend *old = find_backend(cb);

		p->backends[i] = old != NULL ? backend_ref(old) : backend_new(cb, clock_now());
		if (p->backends[i] == NULL || !cb->tls)
			continue;
		p->backend_ctx[i] = tls_client_ctx(cb, err, sizeof(err));
		if (p->backend_ctx[i] == NULL) {
			snprintf(msg, sizeof(msg), "%s:%d: [backend %s] tls: %s", c->path, cb->line,
			         cb->name, err);
			add_error(errs, msg);
			rc = -1;
		}
	}
	return rc;
}

static struct pool *find_pool(struct pool **pools, size_t n, const char *name);

static int plan_pools(struct plan *p, const struct conf *c)
{
	for (size_t i = 0; i < c->n_pools; i++) {
		p->pools[i] = pool_new(&c->pools[i]);
		if (p->pools[i] == NULL)
			return -1;
		/* a pool of the same name keeps its retry budget: a reload is no free pass */
		struct pool *old = find_pool(server.pools, server.n_pools, c->pools[i].name);
		if (old != NULL)
			budget_carry(&p->pools[i]->budget, &old->budget);
		for (size_t j = 0; j < c->n_backends; j++)
			if (strcmp(c->backends[j].pool, c->pools[i].name) == 0 &&
			    pool_add(p->pools[i], p->backends[j]) != 0)
				return -1;
	}
	return 0;
}

static int plan_listeners(struct plan *p, const struct conf *c, struct conf_errors *errs)
{
	char err[512], msg[700];
	int rc = 0;

	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *cl = &c->listeners[i];
		struct listener *old = find_listener_by_bind(&cl->bind);

		p->listeners[i] =
		    old != NULL ? listener_ref(old) : listener_bind(cl, err, sizeof(err));
		if (p->listeners[i] == NULL) {
			snprintf(msg, sizeof(msg), "%s:%d: [listener %s] bind: %s", c->path,
			         cl->line, cl->name, err);
			add_error(errs, msg);
			rc = -1;
			continue;
		}
		/* validated by conf_load: only memory can fail here */
		if (limit_cidrs_parse(cl->limit_exempt, &p->exempt[i], err, sizeof(err)) != 0 ||
		    limit_cidrs_parse(cl->trusted_proxies, &p->trusted[i], err, sizeof(err)) != 0) {
			snprintf(msg, sizeof(msg), "%s:%d: [listener %s] %s", c->path, cl->line,
			         cl->name, err);
			add_error(errs, msg);
			rc = -1;
		}
		p->policies[i] = rpc_policy_new(cl, conf_find_pool(c, cl->pool), err, sizeof(err));
		if (p->policies[i] == NULL) {
			snprintf(msg, sizeof(msg), "%s:%d: %s", c->path, cl->line, err);
			add_error(errs, msg);
			rc = -1;
		}
		if (cl->tls_cert == NULL)
			continue;
		p->listener_ctx[i] = tls_server_ctx(cl->tls_cert, cl->tls_key, err, sizeof(err));
		if (p->listener_ctx[i] == NULL) {
			snprintf(msg, sizeof(msg), "%s:%d: [listener %s] tls_cert: %s", c->path,
			         cl->line, cl->name, err);
			add_error(errs, msg);
			rc = -1;
		}
	}
	return rc;
}

static struct pool *find_pool(struct pool **pools, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(pools[i]->name, name) == 0)
			return pools[i];
	return NULL;
}

struct pool *server_pool(const char *name)
{
	return find_pool(server.pools, server.n_pools, name);
}

struct backend *server_backend(const char *name)
{
	for (size_t i = 0; i < server.n_backends; i++)
		if (strcmp(server.backends[i]->name, name) == 0)
			return server.backends[i];
	return NULL;
}

static bool planned_contains(struct backend **set, size_t n, const struct backend *b)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == b)
			return true;
	return false;
}

/* Kept backends take the new settings; dropped ones leave rotation and go when idle. */
static void commit_backends(struct plan *p, const struct conf *c)
{
	for (size_t i = 0; i < c->n_backends; i++) {
		struct backend *b = p->backends[i];
		backend_update(b, &c->backends[i]);
		if (p->backend_ctx[i] != NULL) {
			SSL_CTX_free(b->ssl_ctx);
			b->ssl_ctx = p->backend_ctx[i];
			p->backend_ctx[i] = NULL;
		}
	}
	for (size_t i = 0; i < server.n_backends; i++) {
		struct backend *b = server.backends[i];
		if (!planned_contains(p->backends, c->n_backends, b)) {
			log_info("backend %s: removed by reload", b->name);
			b->removed = true;
			monitor_backend_stop(b);
			upstream_close_idle(b);
		}
		backend_unref(b);
	}
	free(server.backends);
	server.backends = p->backends;
	server.n_backends = c->n_backends;
	p->backends = NULL;
}

/* Pools are rebuilt on every reload; requests in flight hold the old ones. */
static void commit_pools(struct plan *p, const struct conf *c)
{
	for (size_t i = 0; i < c->n_pools; i++) { /* a pool's counters outlive its rebuild */
		const struct pool *old = find_pool(server.pools, server.n_pools, p->pools[i]->name);
		if (old != NULL) {
			p->pools[i]->history_routed = old->history_routed;
		}
	}
	for (size_t i = 0; i < server.n_pools; i++)
		pool_unref(server.pools[i]);
	free(server.pools);
	server.pools = p->pools;
	server.n_pools = c->n_pools;
	p->pools = NULL;
}

/* The listener takes the parsed lists (*EXEMPT and *TRUSTED become NULL) and its client
 * table the new size; the clients it remembers stay. */
static void listener_limits_set(struct listener *l, struct limit_cidrs **exempt,
                                struct limit_cidrs **trusted)
{
	limit_cidrs_free(l->exempt);
	limit_cidrs_free(l->trusted);
	l->exempt = *exempt;
	l->trusted = *trusted;
	*exempt = *trusted = NULL;
	if (limit_table_resize(l->clients, l->conf.max_tracked_clients) != 0)
		log_warn("listener %s: out of memory: max_tracked_clients stays as it was",
		         l->name);
}

/* Kept listeners (same bind) switch to the new settings and pool; dropped ones close. */
static void commit_listeners(struct plan *p, const struct conf *c)
{
	for (size_t i = 0; i < c->n_listeners; i++) {
		struct listener *l = p->listeners[i];
		struct pool *np = find_pool(server.pools, server.n_pools, c->listeners[i].pool);
		listener_conf_set(l, &c->listeners[i]);
		pool_unref(l->pool);
		l->pool = pool_ref(np);
		SSL_CTX_free(l->ssl_ctx);
		l->ssl_ctx = p->listener_ctx[i];
		p->listener_ctx[i] = NULL;
		listener_limits_set(l, &p->exempt[i], &p->trusted[i]);
		rpc_policy_free(l->policy);
		l->policy = p->policies[i];
		p->policies[i] = NULL;
		if (!l->paused && l->evl != NULL)
			evconnlistener_enable(l->evl);
	}
	for (size_t i = 0; i < server.n_listeners; i++) {
		struct listener *l = server.listeners[i];
		bool kept = false;
		for (size_t j = 0; j < c->n_listeners; j++)
			kept |= p->listeners[j] == l;
		if (!kept) {
			log_info("listener %s: closed by reload", l->name);
			listener_close(l);
		}
		listener_unref(l);
	}
	free(server.listeners);
	server.listeners = p->listeners;
	server.n_listeners = c->n_listeners;
	p->listeners = NULL;
}

/* Swaps the plan in. Cannot fail. */
static void commit(struct plan *p, struct conf *c)
{
	commit_backends(p, c);
	commit_pools(p, c);
	commit_listeners(p, c);
	plan_free(p, c);
	log_level_current = c->global.log_level;
	conf_free(server.conf);
	server.conf = c;
	listeners_resume();
	for (size_t i = 0; i < server.n_backends; i++)
		monitor_backend_start(server.backends[i]);
}

int server_apply(struct conf *c, struct conf_errors *errs)
{
	struct plan p = {
	    .backends = calloc(c->n_backends + 1, sizeof(struct backend *)),
	    .backend_ctx = calloc(c->n_backends + 1, sizeof(SSL_CTX *)),
	    .pools = calloc(c->n_pools + 1, sizeof(struct pool *)),
	    .listeners = calloc(c->n_listeners + 1, sizeof(struct listener *)),
	    .listener_ctx = calloc(c->n_listeners + 1, sizeof(SSL_CTX *)),
	    .exempt = calloc(c->n_listeners + 1, sizeof(struct limit_cidrs *)),
	    .trusted = calloc(c->n_listeners + 1, sizeof(struct limit_cidrs *)),
	    .policies = calloc(c->n_listeners + 1, sizeof(struct rpc_policy *)),
	};
	char err[512];
	int rc = 0;

	if (!p.backends || !p.backend_ctx || !p.pools || !p.listeners || !p.listener_ctx ||
	    !p.exempt || !p.trusted || !p.policies) {
		add_error(errs, "out of memory");
		goto fail;
	}
	rc |= plan_backends(&p, c, errs);
	if (plan_pools(&p, c) != 0) {
		add_error(errs, "out of memory");
		goto fail;
	}
	rc |= plan_listeners(&p, c, errs);
	if (log_access_open(c->global.access_log, err, sizeof(err)) != 0) {
		char msg[700];
		snprintf(msg, sizeof(msg), "%s: [nodegate] access_log: %s", c->path, err);
		add_error(errs, msg);
		rc = -1;
	}
	if (rc != 0)
		goto fail;
	/* alert channels (alert.c): built whole (secrets read) or not at all */
	if (alert_apply(c, err, sizeof(err)) != 0) {
		add_error(errs, err);
		goto fail;
	}
	/* status listener (status.c): binds, rebinds or closes per [status]; last, as it acts */
	if (status_apply(c, err, sizeof(err)) != 0) {
		add_error(errs, err);
		goto fail;
	}
	commit(&p, c);
	admin_apply(); /* admin.c: token file, stored admin states and weights back by name */
	hook_apply(c); /* hook.c: hooks by name; runs going on and last runs are kept */
	return 0;
fail:
	plan_free(&p, c);
	return -1;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void log_errors(const struct conf_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		log_error("%s", errs->msg[i]);
	if (errs->dropped > 0)
		log_error("... and %zu more errors", errs->dropped);
}

static void reload(void)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;

	log_info("reloading %s", conf_path);
	if (conf_load(conf_path, &c, &errs) != 0 || server_apply(c, &errs) != 0) {
		log_errors(&errs);
		log_error("reload failed: keeping the running configuration");
		STAT_INC(reload_failures);
		CONF_FREE(c);
		conf_errors_deinit(&errs);
		return;
	}
	conf_errors_deinit(&errs);
	STAT_INC(reloads);
	log_info("reload done: %zu listeners, %zu pools, %zu backends", server.n_listeners,
	         server.n_pools, server.n_backends);
}

static void shutdown_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	log_warn("shutdown_timeout reached with %u connections open: exiting", server.conns);
	event_base_loopexit(server.base, NULL);
}

static void drain(void)
{
	if (server.draining)
		return;
	server.draining = true;
	log_info("shutting down: no new connections, %u open finish within %llums", server.conns,
	         (unsigned long long)server.conf->global.shutdown_timeout);
	for (size_t i = 0; i < server.n_listeners; i++)
		listener_close(server.listeners[i]);
	session_drain_all();
	if (server.conns == 0) {
		event_base_loopexit(server.base, NULL);
		return;
	}
	uint64_t ms = server.conf->global.shutdown_timeout;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	ev_shutdown = evtimer_new(server.base, shutdown_timeout_cb, NULL);
	evtimer_add(ev_shutdown, &tv);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGHUP)
		reload();
	else
		drain();
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	log_access_flush();
}

static void teardown(void)
{
	struct conf *c = server.conf;

	session_close_all();
	hook_deinit(); /* hook.c: running hooks are stopped; their outcome reaches the timeline */
	/* admin.c, incident.c: the store commits what is queued and answers waiting admin
	 * requests, before the status listener goes */
	admin_deinit();
	alert_deinit(); /* alert.c: queued messages are dropped (said in the log) */
	incident_deinit();
	status_stop(); /* status listener (status.c) */
	for (size_t i = 0; i < server.n_backends; i++)
		monitor_backend_stop(server.backends[i]);
	monitor_deinit();
	for (size_t i = 0; i < server.n_listeners; i++) {
		listener_close(server.listeners[i]);
		listener_unref(server.listeners[i]);
	}
	for (size_t i = 0; i < server.n_pools; i++)
		pool_unref(server.pools[i]);
	for (size_t i = 0; i < server.n_backends; i++) {
		upstream_close_idle(server.backends[i]);
		backend_unref(server.backends[i]);
	}
	free(server.listeners);
	free(server.pools);
	free(server.backends);
	for (size_t i = 0; i < 3; i++)
		event_free(ev_signals[i]);
	event_free(ev_tick);
	if (ev_shutdown != NULL)
		event_free(ev_shutdown);
	session_cleanup();
	log_access_close();
	conf_free(c);
	event_base_free(server.base);
}

int server_run(const char *path)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;
	static const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
	char err[512] = "";

	conf_path = path;
	if (conf_load(path, &c, &errs) != 0) {
		log_errors(&errs);
		conf_errors_deinit(&errs);
		return 1;
	}
	log_level_current = c->global.log_level;
	signal(SIGPIPE, SIG_IGN);
	TAILQ_INIT(&server.sessions);
	server.base = event_base_new();
	if (server.base == NULL) {
		log_error("cannot create the event loop");
		conf_free(c);
		return 1;
	}
	if (monitor_init(server.base) != 0 || session_init() != 0) {
		log_error("cannot start the health checks");
		goto fail_base;
	}
	page_init(); /* page.c: GET /, the public status page (a route of the status listener) */
	/* incidents, their store in state_dir, the admin API (incident.c, admin.c): before the
	 * first apply, which restores the stored admin states */
	if (incident_init(c->global.state_dir, err, sizeof(err)) != 0 ||
	    admin_init(err, sizeof(err)) != 0) {
		log_error("state_dir %s: %s", c->global.state_dir, err);
		goto fail;
	}
	/* alert.c and hook.c: after incidents, so that they see each bus event after them */
	if (alert_init(server.base) != 0 || hook_init(server.base) != 0) {
		log_error("cannot start the alert channels and hooks");
		goto fail;
	}
	if (server_apply(c, &errs) != 0) {
		log_errors(&errs);
		conf_errors_deinit(&errs);
		goto fail;
	}
	for (size_t i = 0; i < 3; i++) {
		ev_signals[i] = evsignal_new(server.base, sigs[i], signal_cb, NULL);
		evsignal_add(ev_signals[i], NULL);
	}
	ev_tick = event_new(server.base, -1, EV_PERSIST, tick_cb, NULL);
	evtimer_add(ev_tick, &(struct timeval){.tv_sec = 1});
	for (size_t i = 0; i < server.n_listeners; i++) {
		char where[300];
		conf_addr_format(&server.listeners[i]->conf.bind, where, sizeof(where));
		log_info("listener %s: %s on %s -> pool %s%s", server.listeners[i]->name,
		         listener_mode_names[server.listeners[i]->conf.mode], where,
		         server.listeners[i]->conf.pool,
		         server.listeners[i]->ssl_ctx != NULL ? " (tls)" : "");
	}
	log_info("nodegate started: %zu listeners, %zu pools, %zu backends", server.n_listeners,
	         server.n_pools, server.n_backends);
	event_base_dispatch(server.base);
	log_info("nodegate stopped");
	teardown();
	return 0;
fail:
	hook_deinit();
	alert_deinit();
	admin_deinit();
	incident_deinit();
	monitor_deinit();
fail_base:
	conf_free(c);
	event_base_free(server.base);
	return 1;
}
