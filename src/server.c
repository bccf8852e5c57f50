/* Applying a configuration: plan (build listeners, pools and backends, bind, read secrets;
 * nothing running is touched) then commit (swap them into the registry, keeping what did not
 * change), and the subsystems that follow a commit. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "util.h"
#include "clock.h"
#include "ops/admin.h"    /* admin API (admin.c) */
#include "ops/acklink.h"  /* acknowledgement links (acklink.c) */
#include "ops/alert.h"    /* alert channels (alert.c) */
#include "ops/escalate.h" /* escalations (escalate.c) */
#include "ops/hook.h"     /* remediation hooks (hook.c) */
#include "ops/mirror.h"   /* mirrors of the status page (mirror.c) */
#include "ops/incident.h" /* incidents and their store (incident.c, store.c) */
#include "log.h"
#include "health/monitor.h"
#include "ops/page.h" /* the public status page (page.c) */
#include "registry.h"
#include "server.h"
#include "proxy/session.h"
#include "stats.h"
#include "proxy/listener.h"
#include "proxy/rpc.h"
#include "ops/status.h"
#include "ops/subs.h" /* subscriptions (subs.c) */
#include "proxy/tls.h"
#include "proxy/upstream.h"

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

static struct listener *find_listener_by_bind(const struct conf_addr *a)
{
	for (size_t i = 0; i < registry.n_listeners; i++) {
		const struct conf_addr *b = &registry.listeners[i]->conf.bind;
		if (b->len == a->len && memcmp(&b->ss, &a->ss, a->len) == 0)
			return registry.listeners[i];
	}
	return NULL;
}

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
	for (size_t i = 0; i < registry.n_backends; i++)
		if (backend_same_identity(registry.backends[i], cb))
			return registry.backends[i];
	return NULL;
}

static int plan_backends(struct plan *p, const struct conf *c, struct conf_errors *errs)
{
	char err[512], msg[700];
	int rc = 0;

	for (size_t i = 0; i < c->n_backends; i++) {
		const struct conf_backend *cb = &c->backends[i];
		struct backend *old = find_backend(cb);

		p->backends[i] = old != NULL ? backend_ref(old) : backend_new(cb);
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

static int plan_pools(struct plan *p, const struct conf *c)
{
	for (size_t i = 0; i < c->n_pools; i++) {
		p->pools[i] = pool_new(&c->pools[i]);
		if (p->pools[i] == NULL)
			return -1;
		/* a pool of the same name keeps its retry budget (a reload is no free pass) and
		 * its recent answer times (the hung-node bound) */
		struct pool *old = registry_pool(c->pools[i].name);
		if (old != NULL) {
			pthread_mutex_lock(&old->mu); /* the workers write them */
			budget_carry(&p->pools[i]->budget, &old->budget);
			p->pools[i]->latency = old->latency;
			pthread_mutex_unlock(&old->mu);
		}
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
	for (size_t i = 0; i < registry.n_backends; i++) {
		struct backend *b = registry.backends[i];
		if (!planned_contains(p->backends, c->n_backends, b)) {
			log_info("backend %s: removed by reload", b->name);
			b->removed = true;
			monitor_backend_stop(b);
			upstream_close_idle(b);
		}
		backend_unref(b);
	}
	free(registry.backends);
	registry.backends = p->backends;
	registry.n_backends = c->n_backends;
	p->backends = NULL;
}

/* Pools are rebuilt on every reload; requests in flight hold the old ones. */
static void commit_pools(struct plan *p, const struct conf *c)
{
	for (size_t i = 0; i < c->n_pools; i++) { /* a pool's counters outlive its rebuild */
		const struct pool *old = registry_pool(p->pools[i]->name);
		if (old != NULL) {
			p->pools[i]->history_routed = old->history_routed;
		}
	}
	for (size_t i = 0; i < registry.n_pools; i++)
		pool_unref(registry.pools[i]);
	free(registry.pools);
	registry.pools = p->pools;
	registry.n_pools = c->n_pools;
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
		struct pool *np = registry_pool(c->listeners[i].pool);
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
		listener_enable(l);
	}
	for (size_t i = 0; i < registry.n_listeners; i++) {
		struct listener *l = registry.listeners[i];
		bool kept = false;
		for (size_t j = 0; j < c->n_listeners; j++)
			kept |= p->listeners[j] == l;
		if (!kept) {
			log_info("listener %s: closed by reload", l->name);
			listener_close(l);
		}
		listener_unref(l);
	}
	free(registry.listeners);
	registry.listeners = p->listeners;
	registry.n_listeners = c->n_listeners;
	listeners_running = registry.listeners;
	n_listeners_running = registry.n_listeners;
	p->listeners = NULL;
}

void server_fd_plan(const struct conf *c, unsigned nworkers, struct fdlimit_plan *p)
{
	*p = (struct fdlimit_plan){
	    .backends = c->n_backends,
	    .alerts = c->n_alerts + c->n_hooks + c->n_mirrors,
	    .workers = nworkers,
	    .status_max = c->status.enabled ? c->status.max_connections : 0,
	    .global_max = c->global.max_connections,
	};
	for (size_t i = 0; i < c->n_listeners; i++)
		p->listeners_max +=
		    c->listeners[i].max_connections +
		    (c->listeners[i].mode == MODE_HTTP ? c->listeners[i].overflow_max : 0);
}

bool server_fd_short(const struct conf *c, unsigned nworkers, uint64_t nofile, char *msg,
                     size_t len)
{
	struct fdlimit_plan p;

	server_fd_plan(c, nworkers, &p);
	uint64_t need = fdlimit_need(&p);
	if (nofile == 0 || need <= nofile)
		return false;
	snprintf(
	    msg, len,
	    "%s: max_connections (%llu client connections, two descriptors each with its "
	    "node's) and a reserve of %llu (probes, store, alerts, status listener) need %llu "
	    "descriptors, over the limit of %llu (RLIMIT_NOFILE): accepts will pause at %llu "
	    "open descriptors; raise LimitNOFILE= (ulimit -n) or lower max_connections",
	    c->path,
	    (unsigned long long)(p.listeners_max < p.global_max ? p.listeners_max : p.global_max),
	    (unsigned long long)fdlimit_reserve(&p), (unsigned long long)need,
	    (unsigned long long)nofile, (unsigned long long)fdlimit_accept_max(&p, nofile));
	return true;
}

void server_fd_raise(char *msg, size_t len)
{
	struct rlimit rl;

	msg[0] = '\0';
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			snprintf(msg, len,
			         "descriptor limit raised from %llu to %llu (the hard limit)",
			         (unsigned long long)was, (unsigned long long)rl.rlim_max);
		else
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	fdlimit_nofile = rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_cur;
}

/* The descriptor number past which proxy accepts are given back (the reserve), and a
 * warning when C's limits do not fit. */
static void fd_ceiling(const struct conf *c)
{
	struct fdlimit_plan p;
	char msg[700];

	server_fd_plan(c, n_workers, &p);
	__atomic_store_n(&fdlimit_accept_ceiling,
	                 fdlimit_nofile > 0 ? fdlimit_accept_max(&p, fdlimit_nofile) : 0,
	                 __ATOMIC_RELAXED);
	if (server_fd_short(c, n_workers, fdlimit_nofile, msg, sizeof(msg)))
		log_warn("%s", msg);
}

/* Swaps the plan in. Cannot fail. */
static void commit(struct plan *p, struct conf *c)
{
	commit_backends(p, c);
	commit_pools(p, c);
	commit_listeners(p, c);
	plan_free(p, c);
	log_level_current = c->global.log_level;
	log_format_set(c->global.log_format);
	conf_free(registry.conf);
	registry.conf = c;
	workers_max_connections = c->global.max_connections;
	fd_ceiling(c);
	listeners_resume();
	for (size_t i = 0; i < registry.n_backends; i++)
		monitor_backend_start(registry.backends[i]);
	monitor_publish(); /* the data plane routes by the new pools from here on */
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
	workers_isolate(); /* the workers write the access log */
	int log_rc = log_access_open(c->global.access_log, err, sizeof(err));
	workers_release();
	if (log_rc != 0) {
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
	/* mirrors (mirror.c): built whole (secrets read) or not at all; they push after the
	 * swap (a timer), with the new configuration */
	if (mirror_apply(c, err, sizeof(err)) != 0) {
		add_error(errs, err);
		goto fail;
	}
	/* acknowledgement links (acklink.c): the key of ack_key_file, or the one made at start */
	if (acklink_apply(c, err, sizeof(err)) != 0) {
		add_error(errs, err);
		goto fail;
	}
	/* subscriptions (subs.c): the SMTP password read now, the links' base */
	if (subs_apply(c, err, sizeof(err)) != 0) {
		add_error(errs, err);
		goto fail;
	}
	/* status listener (status.c): binds, rebinds or closes per [status]; last, as it acts */
	if (status_apply(c, err, sizeof(err)) != 0) {
		add_error(errs, err);
		goto fail;
	}
	/* the workers read listeners, pools and backends in place: they wait while it changes */
	workers_isolate();
	commit(&p, c);
	workers_release();
	admin_apply();    /* admin.c: token file, stored admin states and weights back by name */
	hook_apply(c);    /* hook.c: hooks by name; runs going on and last runs are kept */
	escalate_apply(); /* escalate.c: climbs go on with the escalations now configured */
	return 0;
fail:
	plan_free(&p, c);
	return -1;
}

void server_release(void)
{
	for (size_t i = 0; i < registry.n_backends; i++)
		monitor_backend_stop(registry.backends[i]);
	for (size_t i = 0; i < registry.n_listeners; i++) {
		listener_close(registry.listeners[i]);
		listener_unref(registry.listeners[i]);
	}
	for (size_t i = 0; i < registry.n_pools; i++)
		pool_unref(registry.pools[i]);
	for (size_t i = 0; i < registry.n_backends; i++) {
		upstream_close_idle(registry.backends[i]);
		backend_unref(registry.backends[i]);
	}
	free(registry.listeners);
	free(registry.pools);
	free(registry.backends);
	registry.listeners = listeners_running = NULL;
	registry.pools = NULL;
	registry.backends = NULL;
	registry.n_listeners = n_listeners_running = registry.n_pools = registry.n_backends = 0;
}
