/* The routing snapshot: publication, deferred reclaim, lookups, and passive signals up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/route.h"
#include "clock.h"
#include "proxy/worker.h"
#include "stats.h"
#include "util.h"

#define MAX_PUBLISH_HANDLERS 4

static struct {
	_Atomic(struct route_table *) current;
	uint64_t gen;
	struct route_table **retired; /* swapped out, freed by reclaim_cb */
	size_t n_retired, cap_retired;
	struct event *ev_reclaim;
	struct {
		route_published_fn fn;
		void *arg;
	} handlers[MAX_PUBLISH_HANDLERS];
	size_t n_handlers;
	route_signal_fn sink;
} R;

struct route_table *route_table_new(size_t n_pools)
{
	struct route_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->pools = calloc(n_pools + 1, sizeof(*t->pools));
	if (t->pools == NULL) {
		free(t);
		return NULL;
	}
	t->n_pools = n_pools;
	atomic_init(&t->refs, 1);
	return t;
}

int route_pool_init(struct route_table *t, size_t i, struct pool *pool, size_t n_nodes)
{
	struct route_pool *rp = &t->pools[i];

	rp->nodes = calloc(n_nodes + 1, sizeof(*rp->nodes));
	if (rp->nodes == NULL)
		return -1;
	rp->pool = pool_ref(pool);
	return 0;
}

void route_node_set(struct route_table *t, size_t i, size_t j, const struct route_node *n)
{
	struct route_pool *rp = &t->pools[i];

	rp->nodes[j] = *n;
	backend_ref(n->b);
	if (j + 1 > rp->n_nodes)
		rp->n_nodes = j + 1;
	rp->n_up += n->routable && n->weight > 0;
	rp->panic = rp->n_up < rp->pool->conf.min_up && rp->pool->conf.panic;
}

void route_table_free(struct route_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n_pools; i++) {
		struct route_pool *rp = &t->pools[i];
		for (size_t j = 0; j < rp->n_nodes; j++)
			backend_unref(rp->nodes[j].b);
		free(rp->nodes);
		pool_unref(rp->pool);
	}
	free(t->pools);
	free(t);
}

const struct route_table *route_current(void)
{
	return atomic_load_explicit(&R.current, memory_order_acquire);
}

struct route_table *route_ref(const struct route_table *t)
{
	struct route_table *m = (struct route_table *)t;

	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	return m;
}

/* A table whose last reference is gone waits for the next loop turn: a caller up the stack
 * may still be reading it (a passive signal published a new one in the middle of a pick). */
static void retire(struct route_table *t)
{
	if (R.n_retired == R.cap_retired) {
		size_t cap = R.cap_retired ? R.cap_retired * 2 : 8;
		struct route_table **r = realloc(R.retired, cap * sizeof(*r));
		if (r == NULL) { /* out of memory: leak rather than free under a reader */
			return;
		}
		R.retired = r;
		R.cap_retired = cap;
	}
	R.retired[R.n_retired++] = t;
	if (R.ev_reclaim != NULL)
		event_active(R.ev_reclaim, 0, 0);
}

void route_unref(struct route_table *t)
{
	if (t != NULL && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		retire(t);
}

/* Retired tables handed to the workers' quiescence: freed once every worker has run a
 * message after the swap, so none is still inside a callback that read them. */
struct batch {
	size_t n;
	struct route_table *t[];
};

static void nothing(void *arg)
{
}

static void batch_free(void *arg)
{
	struct batch *b = arg;

	for (size_t i = 0; i < b->n; i++)
		route_table_free(b->t[i]);
	free(b);
}

static void reclaim_cb(evutil_socket_t fd, short what, void *arg)
{
	size_t n = R.n_retired;
	struct batch *b;

	R.n_retired = 0;
	if (n_workers > 1 && (b = malloc(sizeof(*b) + n * sizeof(b->t[0]))) != NULL) {
		b->n = n;
		memcpy(b->t, R.retired, n * sizeof(b->t[0]));
		workers_broadcast(nothing, NULL, batch_free, b);
		return;
	}
	if (n_workers > 1) /* out of memory: leak rather than free under a reader */
		return;
	for (size_t i = 0; i < n; i++)
		route_table_free(R.retired[i]);
}

/* At the end (the workers have stopped): what is retired goes now. */
static void reclaim_now(void)
{
	for (size_t i = 0; i < R.n_retired; i++)
		route_table_free(R.retired[i]);
	R.n_retired = 0;
}

void route_publish(struct route_table *t)
{
	struct route_table *was;

	t->gen = ++R.gen;
	was = atomic_exchange_explicit(&R.current, t, memory_order_acq_rel);
	for (size_t i = 0; i < R.n_handlers; i++)
		R.handlers[i].fn(t, was, R.handlers[i].arg);
	route_unref(was);
}

int route_init(struct event_base *base)
{
	struct route_table *t = route_table_new(0);

	R.ev_reclaim = event_new(base, -1, 0, reclaim_cb, NULL);
	if (t == NULL || R.ev_reclaim == NULL) {
		route_table_free(t);
		return -1;
	}
	t->gen = ++R.gen;
	atomic_store(&R.current, t);
	return 0;
}

void route_deinit(void)
{
	struct route_table *t = atomic_exchange(&R.current, NULL);

	if (t != NULL && atomic_fetch_sub(&t->refs, 1) == 1)
		route_table_free(t);
	reclaim_now();
	free(R.retired);
	R.retired = NULL;
	R.cap_retired = 0;
	if (R.ev_reclaim != NULL)
		event_free(R.ev_reclaim);
	R.ev_reclaim = NULL;
	R.n_handlers = 0;
	R.sink = NULL;
}

const struct route_pool *route_pool_of(const struct route_table *t, const struct pool *p)
{
	for (size_t i = 0; i < t->n_pools; i++)
		if (t->pools[i].pool == p)
			return &t->pools[i];
	for (size_t i = 0; i < t->n_pools; i++)
		if (strcmp(t->pools[i].pool->name, p->name) == 0)
			return &t->pools[i];
	return NULL;
}

const struct route_node *route_node_of(const struct route_table *t, const struct backend *b)
{
	for (size_t i = 0; i < t->n_pools; i++) {
		const struct route_pool *rp = &t->pools[i];
		for (size_t j = 0; j < rp->n_nodes; j++)
			if (rp->nodes[j].b == b)
				return &rp->nodes[j];
	}
	return NULL;
}

int route_on_publish(route_published_fn fn, void *arg)
{
	if (R.n_handlers >= ARRAY_SIZE(R.handlers))
		return -1;
	R.handlers[R.n_handlers].fn = fn;
	R.handlers[R.n_handlers].arg = arg;
	R.n_handlers++;
	return 0;
}

void route_set_signal_sink(route_signal_fn fn)
{
	R.sink = fn;
}

/* A passive signal from a worker thread, on its way to the main loop. */
struct signal_msg {
	struct backend *b; /* holds a reference */
	bool critical, unreachable;
	char reason[ROUTE_REASON_MAX];
};

static unsigned signals_queued;

static void signal_deliver(void *arg)
{
	struct signal_msg *m = arg;

	__atomic_sub_fetch(&signals_queued, 1, __ATOMIC_RELAXED);
	if (R.sink != NULL)
		R.sink(m->b, m->critical, m->unreachable, m->reason);
	backend_unref(m->b);
	free(m);
}

static void signal_drop(void *arg)
{
	struct signal_msg *m = arg;

	backend_unref(m->b);
	free(m);
}

void route_signal(struct backend *b, bool critical, bool unreachable, const char *reason)
{
	struct signal_msg *m;

	if (wk == NULL || wk->id == 0) {
		if (R.sink != NULL)
			R.sink(b, critical, unreachable, reason);
		return;
	}
	/* the health engine runs on the main loop: the signal goes there, bounded */
	if (__atomic_add_fetch(&signals_queued, 1, __ATOMIC_RELAXED) > ROUTE_SIGNALS_QUEUED_MAX ||
	    (m = malloc(sizeof(*m))) == NULL) {
		__atomic_sub_fetch(&signals_queued, 1, __ATOMIC_RELAXED);
		STAT_INC(passive_signals_dropped);
		return;
	}
	m->b = backend_ref(b);
	m->critical = critical;
	m->unreachable = unreachable;
	snprintf(m->reason, sizeof(m->reason), "%s", reason);
	if (!worker_post_drop(&workers[0], signal_deliver, signal_drop, m)) {
		__atomic_sub_fetch(&signals_queued, 1, __ATOMIC_RELAXED);
		backend_unref(m->b);
		free(m);
		STAT_INC(passive_signals_dropped);
	}
}

/* ---- the pick ------------------------------------------------------------------------------ */

/* Which nodes a pick may choose: not excluded (tried already), with capacity, either
 * routable (RANK < 0) or, in panic, of exactly that panic rank, and holding NEED's ledgers
 * unless NEED is NULL. */
struct filter {
	struct backend *const *ex;
	size_t n_ex;
	int rank;
	const struct pick_need *need;
	uint64_t held_before; /* skip nodes held as hung until later than this (0: none) */
};

static bool node_holds(const struct route_node *n, uint32_t lo, uint32_t hi)
{
	return n->ledgers_known && ranges_cover(&n->ledgers, lo, hi);
}

bool backend_holds(const struct backend *b, uint32_t lo, uint32_t hi)
{
	const struct route_node *n = route_node_of(route_current(), b);

	return n != NULL && node_holds(n, lo, hi);
}

static bool eligible(const struct route_node *n, const struct filter *f)
{
	if (n->b->removed || n->weight == 0 || !backend_has_capacity(n->b))
		return false;
	if (f->held_before != 0 &&
	    __atomic_load_n(&n->b->slow_until, __ATOMIC_RELAXED) > f->held_before)
		return false;
	if (f->rank < 0 ? !n->routable : n->panic_rank != f->rank)
		return false;
	if (f->need != NULL && !node_holds(n, f->need->ledger_min, f->need->ledger_max))
		return false;
	for (size_t i = 0; i < f->n_ex; i++)
		if (f->ex[i] == n->b)
			return false;
	return true;
}

/* This worker's round robin state of B. */
static inline int64_t *rr_of(const struct backend *b)
{
	return &b->local[wk != NULL ? wk->id : 0].rr_current;
}

/* nginx's smooth weighted round robin: every eligible node gains its weight, the largest
 * current wins and pays back the total (weights 5,1,1 give a a b a c a a). One pass: each
 * node's eligibility is read once. */
static const struct route_node *pick_rr(const struct route_pool *rp, const struct filter *f)
{
	const struct route_node *best = NULL;
	int64_t total = 0, best_cur = 0;

	for (size_t i = 0; i < rp->n_nodes; i++) {
		const struct route_node *n = &rp->nodes[i];
		if (!eligible(n, f))
			continue;
		int64_t cur = *rr_of(n->b) += n->weight;
		total += n->weight;
		if (best == NULL || cur > best_cur) {
			best = n;
			best_cur = cur;
		}
	}
	if (best != NULL)
		*rr_of(best->b) -= total;
	return best;
}

/* Fewest busy connections per unit of weight; ties go round robin (as pick_rr, in the same
 * pass) so that an idle pool still spreads its load. */
static const struct route_node *pick_leastconn(const struct route_pool *rp, const struct filter *f)
{
	const struct route_node *best = NULL;
	int64_t total = 0, best_cur = 0;

	for (size_t i = 0; i < rp->n_nodes; i++) {
		const struct route_node *n = &rp->nodes[i];
		if (!eligible(n, f))
			continue;
		int64_t cur = *rr_of(n->b) += n->weight;
		total += n->weight;
		if (best == NULL) {
			best = n;
			best_cur = cur;
			continue;
		}
		/* active / weight < best's active / weight, without division */
		uint64_t lhs =
		    (uint64_t)__atomic_load_n(&n->b->active, __ATOMIC_RELAXED) * best->weight;
		uint64_t rhs =
		    (uint64_t)__atomic_load_n(&best->b->active, __ATOMIC_RELAXED) * n->weight;
		if (lhs < rhs || (lhs == rhs && cur > best_cur)) {
			best = n;
			best_cur = cur;
		}
	}
	if (best != NULL)
		*rr_of(best->b) -= total;
	return best;
}

static const struct route_node *pick(const struct route_pool *rp, const struct filter *f)
{
	return rp->pool->conf.balance == BALANCE_LEASTCONN ? pick_leastconn(rp, f) : pick_rr(rp, f);
}

/* The pick at F's rank: the nodes holding NEED's ledgers first, then (unless NEED->only)
 * any. */
static const struct route_node *pick_need(const struct route_pool *rp, struct filter *f,
                                          const struct pick_need *need)
{
	const struct route_node *n;

	if (need == NULL)
		return pick(rp, f);
	f->need = need;
	n = pick(rp, f);
	f->need = NULL;
	return n != NULL || need->only ? n : pick(rp, f);
}

static bool any_eligible(const struct route_pool *rp, const struct filter *f)
{
	for (size_t i = 0; i < rp->n_nodes; i++)
		if (eligible(&rp->nodes[i], f))
			return true;
	return false;
}

/* The last rank a pick may reach: -1 (routable nodes only) out of panic, 2 (critical) in
 * panic. A retry (N_EXCLUDE > 0) that finds no routable node left untried goes on to the
 * panic ranks at once when the pool allows panic: the last routable node failed under the
 * request, and the least bad answer sooner than the health engine can say so (issue 17). */
static int rank_last(const struct route_pool *rp, size_t n_exclude)
{
	return rp->panic || (n_exclude > 0 && rp->pool->conf.panic) ? 2 : -1;
}

bool route_can_pick(const struct route_pool *rp, struct backend *const *exclude, size_t n_exclude,
                    const struct pick_need *need)
{
	struct filter f = {.ex = exclude, .n_ex = n_exclude, .rank = rp->panic ? 0 : -1};

	/* holding the ledgers is needed only with NEED->only; otherwise any node will do */
	f.need = need != NULL && need->only ? need : NULL;
	for (; f.rank <= rank_last(rp, n_exclude); f.rank++)
		if (any_eligible(rp, &f))
			return true;
	return false;
}

/* The pick at ranks FIRST to LAST in turn. */
static const struct route_node *pick_ranked(const struct route_pool *rp, struct filter *f,
                                            const struct pick_need *need, int first, int last)
{
	for (f->rank = first; f->rank <= last; f->rank++) {
		const struct route_node *n = pick_need(rp, f, need);
		if (n != NULL)
			return n;
	}
	return NULL;
}

/* The pick at ranks FIRST to LAST: a node held as hung (dispatch.c) gets no new request
 * while another may take it; when none may, the hold yields. */
static const struct route_node *pick_unheld(const struct route_pool *rp, struct filter *f,
                                            const struct pick_need *need, int first, int last)
{
	f->held_before = clock_now();
	const struct route_node *n = pick_ranked(rp, f, need, first, last);
	if (n == NULL) {
		f->held_before = 0;
		n = pick_ranked(rp, f, need, first, last);
	}
	return n;
}

struct backend *route_pick(const struct route_pool *rp, struct backend *const *exclude,
                           size_t n_exclude, const struct pick_need *need)
{
	struct filter f = {.ex = exclude, .n_ex = n_exclude};
	/* in panic (too few up) the least bad that still answer get the traffic */
	const struct route_node *n =
	    rp->panic ? pick_unheld(rp, &f, need, 0, 2) : pick_unheld(rp, &f, need, -1, -1);

	/* a retry past the last routable node: the least bad, before any 502 (rank_last) */
	if (n == NULL && rank_last(rp, n_exclude) > -1 && !rp->panic)
		n = pick_unheld(rp, &f, need, 0, 2);
	return n != NULL ? n->b : NULL;
}

bool pool_can_pick_need(const struct pool *p, struct backend *const *exclude, size_t n_exclude,
                        const struct pick_need *need)
{
	const struct route_pool *rp = route_pool_of(route_current(), p);

	return rp != NULL && route_can_pick(rp, exclude, n_exclude, need);
}

bool pool_can_pick(const struct pool *p, struct backend *const *exclude, size_t n_exclude)
{
	return pool_can_pick_need(p, exclude, n_exclude, NULL);
}

struct backend *pool_pick_need(struct pool *p, struct backend *const *exclude, size_t n_exclude,
                               const struct pick_need *need)
{
	const struct route_pool *rp = route_pool_of(route_current(), p);

	return rp != NULL ? route_pick(rp, exclude, n_exclude, need) : NULL;
}

struct backend *pool_pick(struct pool *p, struct backend *const *exclude, size_t n_exclude)
{
	return pool_pick_need(p, exclude, n_exclude, NULL);
}
