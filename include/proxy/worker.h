/* The data plane's workers: one event loop each, its own sessions and idle connections.
 * Worker 0 runs on the main thread's loop (beside the control plane); workers 1..N-1 each
 * run a thread of their own. `workers = 1` is the single loop of old.
 *
 * Threads talk through mailboxes (worker_post): a message is a function run on the
 * receiving worker's loop. The control plane reaches every worker with workers_broadcast
 * (each runs the message, then the main loop runs a completion), and changes what workers
 * read in place (a reload) only between workers_isolate() and workers_release(), while
 * every other worker waits parked in a message: HAProxy's thread_isolate(). */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>

#define WORKERS_MAX 64

struct listener;
struct session;
TAILQ_HEAD(session_list, session);

/* Takes ownership of FD, accepted on L (session_accept). */
typedef void (*worker_accept_fn)(struct listener *l, evutil_socket_t fd, const struct sockaddr *sa,
                                 int salen);

struct wmsg;
TAILQ_HEAD(wmsg_list, wmsg);

struct worker {
	unsigned id; /* 0: the main thread's loop */
	struct event_base *base;
	worker_accept_fn accept; /* what an accepted connection becomes */
	struct session_list sessions;
	unsigned conns;    /* open client connections on this worker, all listeners */
	unsigned handoffs; /* connections handed to it still in its mailbox (listener.c) */
	uint64_t accepted; /* client connections it accepted */
	bool draining;     /* SIGTERM: finishing in-flight requests */
	/* mailbox: messages from other threads, run on this loop */
	pthread_mutex_t mu;
	struct wmsg_list inbox;
	unsigned n_inbox;
	struct event *ev_inbox;
	pthread_t thread;
	bool running; /* its thread was started */
};

/* The calling thread's worker (the main thread: worker 0). */
extern __thread struct worker *wk;
extern struct worker *workers;
extern unsigned n_workers;
/* [nodegate] max_connections, and the open client connections of all workers. */
extern uint64_t workers_max_connections;

/* The number of online CPUs, at least 1 and at most WORKERS_MAX. */
unsigned workers_auto(void);
/* Sets up N workers, worker 0 on MAIN_BASE (the caller's thread), the others with loops of
 * their own (not running yet); ACCEPT takes each new connection. -1 when out of memory. */
int workers_init(struct event_base *main_base, unsigned n, worker_accept_fn accept);
/* Starts the threads of workers 1..N-1. */
int workers_start(void);
/* Stops and joins the threads (their loops end; sessions left are closed by CLOSE_ALL, run
 * on each worker's thread before it exits). */
void workers_stop(void (*close_all)(void));
/* Frees the mailboxes and the loops of workers 1..N-1 (after workers_stop). */
void workers_deinit(void);

/* Runs FN(ARG) on W's loop soon. False when it could not be queued (out of memory). */
bool worker_post(struct worker *w, void (*fn)(void *), void *arg);
/* The same; DROP(ARG) frees what ARG holds if the message is never run (shutdown). */
bool worker_post_drop(struct worker *w, void (*fn)(void *), void (*drop)(void *), void *arg);
/* Runs FN(ARG) on every worker (worker 0 included, on the main loop), then DONE(DONE_ARG)
 * on the main loop once all have. With one worker both run now, in the caller. */
void workers_broadcast(void (*fn)(void *), void *arg, void (*done)(void *), void *done_arg);
/* Parks every worker thread in a message and returns when all are parked: the caller (the
 * main thread) may then change what they read. workers_release lets them go on. */
void workers_isolate(void);
void workers_release(void);

/* Open client connections, all workers. */
unsigned workers_conns(void);
