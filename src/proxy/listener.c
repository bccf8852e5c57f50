/* Listeners: bind, accept, connection limits; and the worker that owns the sessions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proxy/listener.h"
#include "proxy/rpc.h"
#include "stats.h"
#include "util.h"

struct worker worker;

void worker_init(struct event_base *base, worker_accept_fn accept)
{
	worker.base = base;
	worker.accept = accept;
	TAILQ_INIT(&worker.sessions);
}

void listener_conf_set(struct listener *l, const struct conf_listener *cl)
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
	return worker.conns >= worker.max_connections || l->conns >= l->conf.max_connections;
}

static void listener_pause(struct listener *l)
{
	if (l->paused || l->evl == NULL)
		return;
	evconnlistener_disable(l->evl);
	l->paused = true;
}

void listener_enable(struct listener *l)
{
	if (!l->paused && l->evl != NULL)
		evconnlistener_enable(l->evl);
}

void listeners_resume(void)
{
	for (size_t i = 0; i < worker.n_listeners; i++) {
		struct listener *l = worker.listeners[i];
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
	worker.conns++;
	l->conns++;
	stats.conn_current = worker.conns;
	if (at_limit(l)) {
		bool global = worker.conns >= worker.max_connections;
		if (global)
			STAT_INC(conn_limit_global);
		else
			STAT_INC(conn_limit_listener);
		log_warn("listener %s: %s max_connections reached, pausing accepts", l->name,
		         global ? "global" : "listener");
		for (size_t i = 0; i < worker.n_listeners; i++)
			if (global || worker.listeners[i] == l)
				listener_pause(worker.listeners[i]);
	}
	worker.accept(l, fd, sa, salen);
}

static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;

	STAT_INC(conn_accept_error);
	log_warn("listener %s: accept: %s", l->name, strerror(errno));
}

void listener_conn_closed(struct listener *l)
{
	worker.conns--;
	l->conns--;
	stats.conn_current = worker.conns;
	if (worker.draining) {
		if (worker.conns == 0)
			event_base_loopexit(worker.base, NULL);
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

struct listener *listener_bind(const struct conf_listener *cl, char *err, size_t errlen)
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
	    worker.base, accept_cb, l,
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

void listener_close(struct listener *l)
{
	l->closed = true;
	if (l->evl != NULL) {
		evconnlistener_free(l->evl);
		l->evl = NULL;
	}
}
