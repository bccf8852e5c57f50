/* The data plane's workers: loops, threads, mailboxes, broadcast and isolation (worker.h). */
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "evmem.h"
#include "log.h"
#include "proxy/worker.h"
#include "stats.h"

struct wmsg {
	void (*fn)(void *);
	void (*drop)(void *); /* frees ARG when the message is never run (shutdown); or NULL */
	void *arg;
	TAILQ_ENTRY(wmsg) link;
};

__thread struct worker *wk;
struct worker *workers;
unsigned n_workers;
uint64_t workers_max_connections;

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool on;         /* workers must stay parked */
	unsigned parked; /* workers parked now */
} iso = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};

unsigned workers_auto(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > WORKERS_MAX ? WORKERS_MAX : (unsigned)n;
}

static void inbox_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct wmsg_list todo = TAILQ_HEAD_INITIALIZER(todo);
	struct wmsg *m;

	pthread_mutex_lock(&w->mu);
	TAILQ_CONCAT(&todo, &w->inbox, link);
	w->n_inbox = 0;
	pthread_mutex_unlock(&w->mu);
	while ((m = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, m, link);
		m->fn(m->arg);
		free(m);
	}
}

int workers_init(struct event_base *main_base, unsigned n, worker_accept_fn accept)
{
	if (n < 1)
		n = 1;
	workers = calloc(n, sizeof(*workers));
	if (workers == NULL)
		return -1;
	n_workers = n;
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &workers[i];
		w->id = i;
		w->accept = accept;
		TAILQ_INIT(&w->sessions);
		TAILQ_INIT(&w->inbox);
		pthread_mutex_init(&w->mu, NULL);
		w->base = i == 0 ? main_base : event_base_new();
		if (w->base == NULL)
			return -1;
		w->ev_inbox = event_new(w->base, -1, EV_PERSIST, inbox_cb, w);
		if (w->ev_inbox == NULL)
			return -1;
	}
	wk = &workers[0];
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	wk = w;
	if (!stats_thread_block())
		log_warn("worker %u: no stats block of its own left: counting into the main one",
		         w->id);
	/* the persistent inbox event is never added: it is made active by worker_post, and a
	 * loop with no pending event would return at once, hence EVLOOP_NO_EXIT_ON_EMPTY */
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	evmem_trim(); /* this thread's kept blocks go with it */
	return NULL;
}

int workers_start(void)
{
	for (unsigned i = 1; i < n_workers; i++) {
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
			return -1;
		workers[i].running = true;
	}
	return 0;
}

struct stop_msg {
	struct worker *w;
	void (*close_all)(void);
};

static void stop_run(void *arg)
{
	struct stop_msg *m = arg;

	if (m->close_all != NULL)
		m->close_all();
	event_base_loopbreak(m->w->base);
}

static void inbox_drop(struct worker *w)
{
	struct wmsg *m;

	while ((m = TAILQ_FIRST(&w->inbox)) != NULL) {
		TAILQ_REMOVE(&w->inbox, m, link);
		if (m->drop != NULL)
			m->drop(m->arg);
		free(m);
	}
}

void workers_stop(void (*close_all)(void))
{
	struct stop_msg msgs[WORKERS_MAX];

	for (unsigned i = 1; i < n_workers; i++) {
		struct worker *w = &workers[i];
		if (!w->running)
			continue;
		msgs[i] = (struct stop_msg){w, close_all};
		if (!worker_post(w, stop_run, &msgs[i]))
			event_base_loopbreak(w->base);
		pthread_join(w->thread, NULL);
		w->running = false;
	}
}

void workers_deinit(void)
{
	if (workers == NULL)
		return;
	for (unsigned i = 0; i < n_workers; i++) {
		struct worker *w = &workers[i];
		if (w->ev_inbox != NULL)
			event_free(w->ev_inbox);
		inbox_drop(w);
		if (i > 0 && w->base != NULL)
			event_base_free(w->base);
		pthread_mutex_destroy(&w->mu);
	}
	free(workers);
	workers = NULL;
	n_workers = 0;
}

bool worker_post(struct worker *w, void (*fn)(void *), void *arg)
{
	return worker_post_drop(w, fn, NULL, arg);
}

bool worker_post_drop(struct worker *w, void (*fn)(void *), void (*drop)(void *), void *arg)
{
	struct wmsg *m = malloc(sizeof(*m));

	if (m == NULL)
		return false;
	m->fn = fn;
	m->drop = drop;
	m->arg = arg;
	pthread_mutex_lock(&w->mu);
	TAILQ_INSERT_TAIL(&w->inbox, m, link);
	w->n_inbox++;
	pthread_mutex_unlock(&w->mu);
	event_active(w->ev_inbox, EV_READ, 0);
	return true;
}

struct broadcast {
	void (*fn)(void *);
	void *arg;
	void (*done)(void *);
	void *done_arg;
	atomic_uint left;
};

static void broadcast_done(void *arg)
{
	struct broadcast *b = arg;

	if (b->done != NULL)
		b->done(b->done_arg);
	free(b);
}

static void broadcast_one(struct broadcast *b)
{
	if (atomic_fetch_sub(&b->left, 1) != 1)
		return;
	if (wk == &workers[0])
		broadcast_done(b);
	else if (!worker_post_drop(&workers[0], broadcast_done, broadcast_done, b))
		log_error("worker %u: out of memory: a broadcast's completion is lost", wk->id);
}

/* A worker's part that will never run (shutdown, on the main thread): the last to go
 * completes it, so that what DONE frees is freed. */
static void broadcast_drop(void *arg)
{
	struct broadcast *b = arg;

	if (atomic_fetch_sub(&b->left, 1) == 1)
		broadcast_done(b);
}

static void broadcast_run(void *arg)
{
	struct broadcast *b = arg;

	b->fn(b->arg);
	broadcast_one(b);
}

void workers_broadcast(void (*fn)(void *), void *arg, void (*done)(void *), void *done_arg)
{
	struct broadcast *b = n_workers > 1 ? malloc(sizeof(*b)) : NULL;

	if (b == NULL) { /* one worker (or out of memory: the others are isolated instead) */
		if (n_workers > 1)
			workers_isolate();
		for (unsigned i = 0; i < n_workers; i++) {
			struct worker *was = wk;
			wk = &workers[i];
			fn(arg);
			wk = was;
		}
		if (n_workers > 1)
			workers_release();
		if (done != NULL)
			done(done_arg);
		return;
	}
	*b = (struct broadcast){fn, arg, done, done_arg, n_workers};
	for (unsigned i = 1; i < n_workers; i++)
		if (!worker_post_drop(&workers[i], broadcast_run, broadcast_drop, b))
			broadcast_one(b); /* out of memory: that worker misses it (said below) */
	fn(arg);
	broadcast_one(b);
}

static void park(void *arg)
{
	pthread_mutex_lock(&iso.mu);
	iso.parked++;
	pthread_cond_broadcast(&iso.cond);
	while (iso.on)
		pthread_cond_wait(&iso.cond, &iso.mu);
	iso.parked--;
	pthread_cond_broadcast(&iso.cond);
	pthread_mutex_unlock(&iso.mu);
}

void workers_isolate(void)
{
	unsigned want = 0;

	if (n_workers <= 1)
		return;
	pthread_mutex_lock(&iso.mu);
	iso.on = true;
	pthread_mutex_unlock(&iso.mu);
	for (unsigned i = 1; i < n_workers; i++)
		if (workers[i].running && worker_post(&workers[i], park, NULL))
			want++;
	pthread_mutex_lock(&iso.mu);
	while (iso.parked < want)
		pthread_cond_wait(&iso.cond, &iso.mu);
	pthread_mutex_unlock(&iso.mu);
}

void workers_release(void)
{
	if (n_workers <= 1)
		return;
	pthread_mutex_lock(&iso.mu);
	iso.on = false;
	pthread_cond_broadcast(&iso.cond);
	while (iso.parked > 0) /* all out before another isolation may begin */
		pthread_cond_wait(&iso.cond, &iso.mu);
	pthread_mutex_unlock(&iso.mu);
}

unsigned workers_conns(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < n_workers; i++)
		n += __atomic_load_n(&workers[i].conns, __ATOMIC_RELAXED);
	return n;
}
