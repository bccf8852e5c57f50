/* Listeners: bind, accept, connection limits; and the worker that owns the sessions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "inherit.h"
#include "log.h"
#include "proxy/listener.h"
#include "proxy/rpc.h"
#include "stats.h"
#include "util.h"

struct listener **listeners_running;
size_t n_listeners_running;

/* Workers whose accepts a limit paused, and whether a resume is on its way to them. */
static unsigned n_paused;
static bool resume_posted;

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
	__atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
	return l;
}

void listener_unref(struct listener *l)
{
	if (l == NULL || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	listener_close(l);
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

static unsigned conns_of(const struct listener *l)
{
	return __atomic_load_n(&l->conns, __ATOMIC_RELAXED);
}

static bool at_limit(const struct listener *l)
{
	return workers_conns() >= workers_max_connections || conns_of(l) >= l->conf.max_connections;
}

/* Stops this worker's accepts on L (the calling thread's worker). */
static void listener_pause(struct listener *l)
{
	unsigned i = wk->id;

	if (l->paused[i] || l->evl[i] == NULL)
		return;
	evconnlistener_disable(l->evl[i]);
	l->paused[i] = true;
	__atomic_add_fetch(&n_paused, 1, __ATOMIC_RELAXED);
}

/* This worker's accepts on L again, when the limits allow. */
static void listener_unpause(struct listener *l)
{
	unsigned i = wk->id;

	if (l->paused[i] && l->evl[i] != NULL && !at_limit(l)) {
		evconnlistener_enable(l->evl[i]);
		l->paused[i] = false;
		__atomic_sub_fetch(&n_paused, 1, __ATOMIC_RELAXED);
	}
}

void listener_enable(struct listener *l)
{
	if (inherit_hold) /* a SIGUSR2 upgrade: not before this process is ready (upgrade.c) */
		return;
	for (unsigned i = 0; i < n_workers; i++)
		if (!l->paused[i] && l->evl[i] != NULL)
			evconnlistener_enable(l->evl[i]);
}

static void resume_here(void *arg)
{
	for (size_t i = 0; i < n_listeners_running; i++)
		listener_unpause(listeners_running[i]);
}

static void resume_done(void *arg)
{
	__atomic_store_n(&resume_posted, false, __ATOMIC_RELAXED);
}

/* Each worker resumes its own accepts (a worker only touches its own listeners). */
static void resume_all(void *arg)
{
	workers_broadcast(resume_here, NULL, resume_done, NULL);
}

void listeners_resume(void)
{
	if (__atomic_load_n(&n_paused, __ATOMIC_RELAXED) == 0)
		return;
	if (n_workers == 1) {
		resume_here(NULL);
		return;
	}
	if (__atomic_exchange_n(&resume_posted, true, __ATOMIC_RELAXED))
		return; /* one on its way */
	if (wk == &workers[0])
		resume_all(NULL);
	else if (!worker_post(&workers[0], resume_all, NULL))
		resume_done(NULL);
}

/* A limit was reached on one worker: the others stop accepting too (each its own). */
struct pause_msg {
	struct listener *l; /* holds a reference */
	bool global;
};

static void pause_here(void *arg)
{
	struct pause_msg *m = arg;

	for (size_t i = 0; i < n_listeners_running; i++) {
		struct listener *l = listeners_running[i];
		if ((m->global || l == m->l) && at_limit(l)) {
			listener_pause(l);
			listener_unpause(l); /* a close since: its resume may have gone by */
		}
	}
}

static void pause_done(void *arg)
{
	struct pause_msg *m = arg;

	listener_unref(m->l);
	free(m);
}

static void pause_all(void *arg)
{
	workers_broadcast(pause_here, arg, pause_done, arg);
}

/* Pauses the accepts limited by L (all listeners when GLOBAL) on this worker now, on the
 * others at their next turn. */
static void pause_limited(struct listener *l, bool global)
{
	struct pause_msg *m;

	for (size_t i = 0; i < n_listeners_running; i++)
		if (global || listeners_running[i] == l)
			listener_pause(listeners_running[i]);
	if (n_workers == 1 || (m = malloc(sizeof(*m))) == NULL)
		return;
	m->l = listener_ref(l);
	m->global = global;
	if (wk == &workers[0])
		pause_all(m);
	else if (!worker_post_drop(&workers[0], pause_all, pause_done, m))
		pause_done(m);
}

static void conn_count(struct listener *l, int d)
{
	__atomic_store_n(&wk->conns, wk->conns + (unsigned)d, __ATOMIC_RELAXED);
	__atomic_add_fetch(&l->conns, (unsigned)d, __ATOMIC_RELAXED);
}

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
	struct listener *l = arg;

	STAT_INC(conn_accepted);
	if (n_workers > 1 && at_limit(l)) { /* another worker reached it just now */
		STAT_INC(conn_accept_over);
		evutil_closesocket(fd);
		listener_pause(l);
		return;
	}
	conn_count(l, 1);
	__atomic_store_n(&wk->accepted, wk->accepted + 1, __ATOMIC_RELAXED);
	if (at_limit(l)) {
		bool global = workers_conns() >= workers_max_connections;
		if (global)
			STAT_INC(conn_limit_global);
		else
			STAT_INC(conn_limit_listener);
		log_warn("listener %s: %s max_connections reached, pausing accepts", l->name,
		         global ? "global" : "listener");
		pause_limited(l, global);
	}
	wk->accept(l, fd, sa, salen);
}

static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;

	STAT_INC(conn_accept_error);
	log_warn("listener %s: accept: %s", l->name, strerror(errno));
}

void listener_conn_closed(struct listener *l)
{
	conn_count(l, -1);
	if (wk->draining) {
		if (workers_conns() == 0)
			event_base_loopexit(workers[0].base, NULL);
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
	/* one socket per worker, all bound with SO_REUSEPORT: the kernel spreads the
	 * connections over them by a hash of their addresses (a shared socket would give them
	 * to whichever loop wakes first: often all to one). One worker: a plain socket. */
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE |
	                 LEV_OPT_DISABLED |
	                 (n_workers > 1 ? LEV_OPT_THREADSAFE | LEV_OPT_REUSEABLE_PORT : 0);
	/* a nodegate upgraded by SIGUSR2 adopts the sockets of the one before (inherit.h):
	 * the connections waiting in their queues are not lost */
	int fds[WORKERS_MAX];
	int got = inherit_take(cl->name, (const struct sockaddr *)&cl->bind.ss,
	                       (socklen_t)cl->bind.len, fds, n_workers, err, errlen);
	if (got < 0) {
		char why[400];
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "listener %s", why);
		listener_unref(l);
		return NULL;
	}
	for (unsigned i = 0; i < n_workers; i++) {
		if (got > 0) {
			evutil_make_socket_nonblocking(fds[i]);
			l->evl[i] =
			    evconnlistener_new(workers[i].base, accept_cb, l, flags, 1024, fds[i]);
			if (l->evl[i] == NULL)
				for (unsigned j = i; j < n_workers; j++)
					close(fds[j]);
		} else {
			l->evl[i] = evconnlistener_new_bind(
			    workers[i].base, accept_cb, l, flags, 1024,
			    (const struct sockaddr *)&cl->bind.ss, (int)cl->bind.len);
		}
		if (l->evl[i] == NULL) {
			char where[300];
			conf_addr_format(&cl->bind, where, sizeof(where));
			snprintf(err, errlen, "listener %s: cannot bind %s: %s", cl->name, where,
			         strerror(errno));
			listener_unref(l);
			return NULL;
		}
		evconnlistener_set_error_cb(l->evl[i], accept_error_cb);
	}
	return l;
}

void listener_close(struct listener *l)
{
	l->closed = true;
	for (unsigned i = 0; i < WORKERS_MAX; i++) {
		if (l->evl[i] != NULL)
			evconnlistener_free(l->evl[i]);
		l->evl[i] = NULL;
		if (l->paused[i])
			__atomic_sub_fetch(&n_paused, 1, __ATOMIC_RELAXED);
		l->paused[i] = false;
	}
}
