/* Listeners: bind, accept, connection limits; and the worker that owns the sessions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fdlimit.h"
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

/* One log line per FDLIMIT_LOG_EVERY for each kind of accept trouble, all workers. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fdlimit_log log_nofd, log_limit;

/* Past max_connections: how long an overflow connection is read (its request dropped)
 * after its 503, so that the close does not reset the answer away; and how much. */
#define OVERFLOW_LINGER_MS 1000
#define OVERFLOW_READ_MAX  (64 * 1024)

#define OVERFLOW_BODY                                                                              \
	"{\"result\":{\"error\":\"tooBusy\",\"error_message\":\"nodegate: too many connections, "  \
	"retry later\",\"status\":\"error\"}}\n"
static char overflow_503[512]; /* the answer, made once (listener_bind) */
static size_t overflow_503_len;

static void overflow_503_make(void)
{
	int n = snprintf(overflow_503, sizeof(overflow_503),
	                 "HTTP/1.1 503 Service Unavailable\r\n"
	                 "Content-Type: application/json\r\n"
	                 "Retry-After: 1\r\n"
	                 "Connection: close\r\n"
	                 "Content-Length: %zu\r\n"
	                 "\r\n%s",
	                 sizeof(OVERFLOW_BODY) - 1, OVERFLOW_BODY);
	overflow_503_len = n > 0 && (size_t)n < sizeof(overflow_503) ? (size_t)n : 0;
}

static bool log_due(struct fdlimit_log *lg, uint64_t *told)
{
	pthread_mutex_lock(&log_mu);
	bool due = fdlimit_log_due(lg, clock_now(), told);
	pthread_mutex_unlock(&log_mu);
	return due;
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

/* At the limit and no overflow budget left to tell newcomers so: accepts pause. */
static bool full(const struct listener *l)
{
	return at_limit(l) &&
	       __atomic_load_n(&l->overflow, __ATOMIC_RELAXED) >= l->conf.overflow_max;
}

/* Whether this worker's accepts on L should run: neither a limit nor descriptors hold them. */
static void listener_apply(struct listener *l, unsigned i)
{
	if (l->evl[i] == NULL || inherit_hold)
		return;
	if (l->paused[i] || l->fd_paused[i]) {
		evconnlistener_disable(l->evl[i]);
		l->late_until[i] = UINT64_MAX;
	} else {
		evconnlistener_enable(l->evl[i]);
		if (l->late_until[i] == UINT64_MAX) /* its backlog is accepted from now on */
			l->late_until[i] = clock_now() + l->conf.header_timeout;
	}
}

uint64_t listener_waited_ms(struct listener *l, evutil_socket_t fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (clock_now() >= l->late_until[wk->id])
		return 0; /* accepted on time: no system call */
	/* a socket that has sent nothing: the time since its last data sent is the time since
	 * the kernel completed its handshake (lsndtime starts there) */
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    len < offsetof(struct tcp_info, tcpi_last_data_sent) + sizeof(ti.tcpi_last_data_sent))
		return 0;
	return ti.tcpi_last_data_sent;
}

/* Stops this worker's accepts on L (the calling thread's worker). */
static void listener_pause(struct listener *l)
{
	unsigned i = wk->id;

	if (l->paused[i] || l->evl[i] == NULL)
		return;
	l->paused[i] = true;
	listener_apply(l, i);
	__atomic_add_fetch(&n_paused, 1, __ATOMIC_RELAXED);
}

/* This worker's accepts on L again, when the limits allow. */
static void listener_unpause(struct listener *l)
{
	unsigned i = wk->id;

	if (l->paused[i] && l->evl[i] != NULL && !full(l)) {
		l->paused[i] = false;
		__atomic_sub_fetch(&n_paused, 1, __ATOMIC_RELAXED);
		listener_apply(l, i);
	}
}

static void fd_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	unsigned i = wk->id;

	if (l->closed || !l->fd_paused[i])
		return;
	l->fd_paused[i] = false; /* the backoff stays until an accept succeeds */
	listener_apply(l, i);
}

/* This worker's accepts on L stop for a backoff: descriptors ran out (NOFD) or accept()
 * failed otherwise (WHY says how). */
static void fd_pause(struct listener *l, const char *why, bool nofd)
{
	unsigned i = wk->id;
	uint64_t told;

	if (nofd)
		STAT_INC(conn_accept_nofd);
	else
		STAT_INC(conn_accept_error);
	l->fd_backoff[i] = fdlimit_backoff_next(l->fd_backoff[i]);
	if (log_due(&log_nofd, &told))
		log_warn("listener %s: %s: accepts paused for %ums (%llu times since the last "
		         "message; probes and the status listener keep their reserve)",
		         l->name, why, l->fd_backoff[i], (unsigned long long)told);
	if (l->evl[i] == NULL)
		return;
	if (l->fd_timer[i] == NULL)
		l->fd_timer[i] = evtimer_new(wk->base, fd_resume_cb, l);
	if (l->fd_timer[i] == NULL)
		return; /* out of memory: resumed by the next close on this worker */
	l->fd_paused[i] = true;
	listener_apply(l, i);
	struct timeval tv = {.tv_sec = 0, .tv_usec = (suseconds_t)l->fd_backoff[i] * 1000};
	evtimer_add(l->fd_timer[i], &tv);
}

/* A descriptor was freed on this worker: its listeners paused for want of one try again. */
static void fd_resume_here(void)
{
	unsigned i = wk->id;

	for (size_t k = 0; k < n_listeners_running; k++) {
		struct listener *l = listeners_running[k];
		if (l->fd_paused[i]) {
			l->fd_paused[i] = false;
			if (l->fd_timer[i] != NULL)
				evtimer_del(l->fd_timer[i]);
			listener_apply(l, i);
		}
	}
}

void listener_enable(struct listener *l)
{
	if (inherit_hold) /* a SIGUSR2 upgrade: not before this process is ready (upgrade.c) */
		return;
	for (unsigned i = 0; i < n_workers; i++)
		listener_apply(l, i);
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
		if ((m->global || l == m->l) && full(l)) {
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

/* A connection past max_connections: told 503 (http) or closed (tcp, tls), then read and
 * dropped for a moment so that the close does not reset the answer away. */
struct overflow {
	struct listener *l; /* holds a reference */
	struct event *ev;
	uint64_t deadline;
	size_t dropped;
	LIST_ENTRY(overflow) link; /* this worker's */
};

static __thread LIST_HEAD(, overflow) overflows;

static void overflow_free(struct overflow *o)
{
	struct listener *l = o->l;

	LIST_REMOVE(o, link);
	evutil_closesocket(event_get_fd(o->ev));
	event_free(o->ev);
	free(o);
	__atomic_sub_fetch(&l->overflow, 1, __ATOMIC_RELAXED);
	if (!wk->draining)
		listeners_resume();
	fd_resume_here();
	listener_unref(l);
}

static void overflow_cb(evutil_socket_t fd, short what, void *arg)
{
	struct overflow *o = arg;
	char buf[4096];
	uint64_t now = clock_now();

	if (what & EV_READ) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0)
			o->dropped += (size_t)n;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			now = o->deadline; /* gone: close */
	}
	if (now >= o->deadline || o->dropped > OVERFLOW_READ_MAX) {
		overflow_free(o);
		return;
	}
	uint64_t left = o->deadline - now;
	struct timeval tv = {.tv_sec = (time_t)(left / 1000),
	                     .tv_usec = (suseconds_t)(left % 1000) * 1000};
	event_add(o->ev, &tv);
}

/* FD arrived past a limit of L: WHY says which for the log (NULL: the caller logs). */
static void overflow(struct listener *l, evutil_socket_t fd, const char *why)
{
	struct overflow *o = NULL;
	uint64_t told;

	STAT_INC(conn_overflow);
	if (why != NULL && log_due(&log_limit, &told))
		log_warn("listener %s: %s: newcomers told 503 or closed (%llu since the last "
		         "message)",
		         l->name, why, (unsigned long long)told);
	if (l->conf.mode != MODE_HTTP || l->ssl_ctx != NULL ||
	    __atomic_add_fetch(&l->overflow, 1, __ATOMIC_RELAXED) > l->conf.overflow_max) {
		if (l->conf.mode == MODE_HTTP && l->ssl_ctx == NULL)
			__atomic_sub_fetch(&l->overflow, 1, __ATOMIC_RELAXED);
		evutil_closesocket(fd); /* nothing to say in a byte stream, or no budget left */
		if (full(l))
			pause_limited(l, workers_conns() >= workers_max_connections);
		return;
	}
	STAT_INC(conn_overflow_503);
	evutil_make_socket_nonblocking(fd);
	(void)!send(fd, overflow_503, overflow_503_len, MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_WR);
	if ((o = calloc(1, sizeof(*o))) == NULL ||
	    (o->ev = event_new(wk->base, fd, EV_READ, overflow_cb, o)) == NULL) {
		free(o);
		evutil_closesocket(fd);
		__atomic_sub_fetch(&l->overflow, 1, __ATOMIC_RELAXED);
		return;
	}
	o->l = listener_ref(l);
	o->deadline = clock_now() + OVERFLOW_LINGER_MS;
	LIST_INSERT_HEAD(&overflows, o, link);
	overflow_cb(fd, 0, o); /* arms the wait */
	if (full(l))
		pause_limited(l, workers_conns() >= workers_max_connections);
}

/* Which limit a newcomer past at_limit met, for the log. */
static const char *limit_reached(void)
{
	return workers_conns() >= workers_max_connections ? "global max_connections reached"
	                                                  : "listener max_connections reached";
}

/* FD, accepted on L, becomes a session of this worker. */
static void admit(struct listener *l, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
	conn_count(l, 1);
	__atomic_store_n(&wk->accepted, wk->accepted + 1, __ATOMIC_RELAXED);
	if (at_limit(l)) {
		bool global = workers_conns() >= workers_max_connections;
		if (global)
			STAT_INC(conn_limit_global);
		else
			STAT_INC(conn_limit_listener);
		uint64_t told;
		if (log_due(&log_limit, &told))
			log_warn(
			    "listener %s: %s max_connections reached: %s (%llu times since the "
			    "last message)",
			    l->name, global ? "global" : "listener",
			    full(l) ? "accepts paused" : "newcomers are told 503 (tcp: closed)",
			    (unsigned long long)told);
		if (full(l))
			pause_limited(l, global);
	}
	wk->accept(l, fd, sa, salen);
}

/* ---- hand-off: client connections spread by load ------------------------------------------
 * SO_REUSEPORT gives each worker the connections whose addresses hash to its socket, not
 * the least loaded worker: of 1,000 clients one worker may hold 540 and the other 460, and
 * the busier one answers later. A worker that accepts a connection while it holds
 * HANDOFF_MARGIN more than the least loaded one hands it over, through that worker's
 * mailbox, before a byte of it is read (HAProxy's listeners pick the least loaded thread
 * the same way). A worker's load: its client connections, and those in its mailbox. */
#define HANDOFF_MARGIN 2

struct handoff {
	struct listener *l; /* holds a reference */
	evutil_socket_t fd;
	int salen;
	struct sockaddr_storage sa;
};

static unsigned load_of(struct worker *w)
{
	return __atomic_load_n(&w->conns, __ATOMIC_RELAXED) +
	       __atomic_load_n(&w->handoffs, __ATOMIC_RELAXED);
}

/* The worker a connection accepted here should go to: this one unless another is lighter
 * by HANDOFF_MARGIN. */
static struct worker *handoff_target(void)
{
	struct worker *to = wk;
	unsigned mine, least;

	if (n_workers < 2 || wk->draining)
		return wk;
	mine = least = load_of(wk);
	for (unsigned i = 0; i < n_workers; i++) {
		unsigned load = load_of(&workers[i]);
		if (load < least) {
			least = load;
			to = &workers[i];
		}
	}
	return mine >= least + HANDOFF_MARGIN ? to : wk;
}

static void handoff_free(struct handoff *h)
{
	listener_unref(h->l);
	free(h);
}

/* On the receiving worker: the connection is its own now (past a limit reached meanwhile,
 * it is told so here). */
static void handoff_run(void *arg)
{
	struct handoff *h = arg;

	__atomic_sub_fetch(&wk->handoffs, 1, __ATOMIC_RELAXED);
	STAT_INC(conn_handed);
	if (at_limit(h->l))
		overflow(h->l, h->fd, limit_reached());
	else
		admit(h->l, h->fd, (const struct sockaddr *)&h->sa, h->salen);
	handoff_free(h);
}

/* Never run (the worker stopped): the connection closes. */
static void handoff_drop(void *arg)
{
	struct handoff *h = arg;

	evutil_closesocket(h->fd);
	handoff_free(h);
}

/* Hands FD to TO; false when it could not (out of memory): this worker keeps it. */
static bool handoff(struct worker *to, struct listener *l, evutil_socket_t fd,
                    const struct sockaddr *sa, int salen)
{
	struct handoff *h = malloc(sizeof(*h));

	if (h == NULL || salen < 0 || (size_t)salen > sizeof(h->sa)) {
		free(h);
		return false;
	}
	h->l = listener_ref(l);
	h->fd = fd;
	h->salen = salen;
	memcpy(&h->sa, sa, (size_t)salen);
	__atomic_add_fetch(&to->handoffs, 1, __ATOMIC_RELAXED);
	if (!worker_post_drop(to, handoff_run, handoff_drop, h)) {
		__atomic_sub_fetch(&to->handoffs, 1, __ATOMIC_RELAXED);
		handoff_free(h);
		return false;
	}
	return true;
}

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
	struct listener *l = arg;
	uint64_t ceiling = __atomic_load_n(&fdlimit_accept_ceiling, __ATOMIC_RELAXED);

	STAT_INC(conn_accepted);
	/* the reserve: descriptors are handed out lowest first, so FD is about how many are
	 * open, node connections included; the last part below the reserve is left to the
	 * node connections that clients open will make. The newcomer is told 503 (out of
	 * the overflow budget) and accepts back off. */
	if (ceiling > 0 && (uint64_t)fd >= fdlimit_client_max(ceiling)) {
		overflow(l, fd, NULL);
		fd_pause(l, "descriptors down to the reserve", true);
		return;
	}
	l->fd_backoff[wk->id] = 0;
	if (at_limit(l)) {
		overflow(l, fd, limit_reached());
		return;
	}
	struct worker *to = handoff_target();
	if (to != wk && handoff(to, l, fd, sa, salen))
		return;
	admit(l, fd, sa, salen);
}

static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	int err = errno;

	char why[80];

	/* anything else is paused too: an error left pending would spin the loop */
	snprintf(why, sizeof(why), "accept: %s", strerror(err));
	fd_pause(l, why, err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM);
}

void listeners_overflow_close(void)
{
	while (!LIST_EMPTY(&overflows))
		overflow_free(LIST_FIRST(&overflows));
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
	fd_resume_here();
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
	if (overflow_503_len == 0)
		overflow_503_make();
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
		if (l->fd_timer[i] != NULL)
			event_free(l->fd_timer[i]);
		l->fd_timer[i] = NULL;
		l->fd_paused[i] = false;
	}
}
