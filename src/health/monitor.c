/* The health engine at run time: observations in, transitions out, routing kept current. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "bus.h"
#include "health/check.h"
#include "log.h"
#include "metrics.h"
#include "health/monitor.h"
#include "health/poolstat.h"
#include "registry.h"
#include "proxy/route.h"
#include "stats.h"

#define TICK_MS 100 /* time-driven moves (slow start ramp, grace expiry) are this fine */
/* Tables built in one loop turn before the rest of a burst waits for the turn's end: each
 * holds every node and lives until the turn ends, so a burst of N changes (a restart that
 * restores N admin states) would hold N tables of N nodes. */
#define PUBLISH_BURST 8

static struct event *ev_tick;
static struct event *ev_turn; /* the end of the turn that built the first table */

static bool dirty;     /* something the pick reads changed since the last publication */
static unsigned built; /* tables built in this turn */

/* The weight B's node gets before slow start: the admin's, else the configured one. */
static unsigned base_weight(const struct node *n)
{
	return n->weight_set >= 0 ? (unsigned)n->weight_set : (unsigned)n->b->conf.weight;
}

/* The routing view the pick reads: in rotation or not, and the weight now. */
static void refresh(struct node *n, uint64_t now)
{
	bool routable = health_routable(&n->health);
	unsigned weight = health_weight(&n->health, &n->b->conf.health, base_weight(n), now);
	int rank = health_pick_rank(&n->health);

	if (routable != n->routable || weight != n->weight || rank != n->rank)
		dirty = true;
	n->routable = routable;
	n->weight = weight;
	n->rank = (int8_t)rank;
}

/* A new table from the registry's pools and each member's node. */
static struct route_table *build(void)
{
	struct route_table *t = route_table_new(registry.n_pools);

	for (size_t i = 0; t != NULL && i < registry.n_pools; i++) {
		struct pool *p = registry.pools[i];
		size_t k = 0;

		if (route_pool_init(t, i, p, p->n_members) != 0) {
			route_table_free(t);
			return NULL;
		}
		for (size_t j = 0; j < p->n_members; j++) {
			const struct node *n = p->members[j]->node;
			if (n == NULL || p->members[j]->removed)
				continue;
			struct route_node rn = {.b = n->b,
			                        .weight = n->weight,
			                        .routable = n->routable,
			                        .panic_rank = n->rank,
			                        .ledgers_known = n->ledgers_known,
			                        .ledgers = n->ledgers};
			route_node_set(t, i, k++, &rn);
		}
	}
	return t;
}

void monitor_publish(void)
{
	struct route_table *t;

	if (!dirty)
		return;
	if (built >= PUBLISH_BURST) { /* published with the rest of the burst at the turn's end */
		STAT_INC(route_publish_deferred);
		return;
	}
	t = build();
	if (t == NULL) { /* out of memory: the old table stays, try again at the next tick */
		STAT_INC(route_publish_failed);
		return;
	}
	dirty = false;
	STAT_INC(route_published);
	route_publish(t);
	if (built++ == 0 && ev_turn != NULL)
		event_active(ev_turn, 0, 0);
}

static void turn_cb(evutil_socket_t fd, short what, void *arg)
{
	built = 0;
	monitor_publish(); /* what a burst left dirty */
}

static void publish(struct node *n, const struct health_event *he)
{
	struct bus_event ev = {.backend = n->b->name, .pool = n->b->conf.pool, .he = *he};

	if (he->kind == HE_TRANSITION) {
		n->transitions++;
		STAT_INC(transitions);
	} else if (he->kind == HE_GRACE_EXPIRED) {
		STAT_INC(grace_expired);
	}
	bus_emit(&ev);
}

/* O judged into N's state and routing view; the caller publishes. */
static void judge(struct node *n, const struct observation *o)
{
	struct health_event he;
	uint64_t now = clock_now();

	bool moved = health_observe(&n->health, &n->b->conf.health, o, now, &he);

	if (moved)
		publish(n, &he);
	refresh(n, now);
	if (moved && he.kind == HE_TRANSITION)
		poolstat_check(); /* panic as the status page reads it, now rather than next tick */
}

static void observe(struct node *n, const struct observation *o)
{
	judge(n, o);
	monitor_publish(); /* a node out of rotation takes no further pick (past a burst of
	                    * PUBLISH_BURST tables in this turn: none once the turn ends) */
}

void monitor_passive(struct backend *b, enum verdict v, bool unreachable, const char *reason)
{
	struct observation o = {.verdict = v, .unreachable = unreachable, .passive = true};

	if (b->removed || b->node == NULL || b->conf.health.check == CHECK_NONE)
		return;
	snprintf(o.reason, sizeof(o.reason), "%s", reason);
	STAT_INC(passive_signals);
	observe(b->node, &o);
}

/* The data plane's passive signals (route_signal) arrive here. */
static void signal_sink(struct backend *b, bool critical, bool unreachable, const char *reason)
{
	monitor_passive(b, critical ? V_CRITICAL : V_WARNING, unreachable, reason);
}

/* The pool's best validated sequence, for the freshness lag of one of its members. */
static uint64_t best_seq(const struct backend *b)
{
	const struct pool *p = registry_pool(b->conf.pool);
	uint64_t best = 0;

	for (size_t i = 0; p != NULL && i < p->n_members; i++) {
		if (p->members[i]->node == NULL)
			continue;
		const struct rippled_metrics *m = &p->members[i]->node->metrics;
		if (m->has_seq && m->validated_seq > best)
			best = m->validated_seq;
	}
	return best;
}

static int64_t network_of(const struct backend *b)
{
	return b->node != NULL ? b->node->metrics.network_id : -1;
}

/* The network id most members report; -1 when unknown or tied. */
static int64_t majority_network(const struct pool *p)
{
	int64_t best = -1;
	size_t best_n = 0;

	for (size_t i = 0; i < p->n_members; i++) {
		int64_t id = network_of(p->members[i]);
		size_t n = 0;
		if (id < 0)
			continue;
		for (size_t j = 0; j < p->n_members; j++)
			n += network_of(p->members[j]) == id;
		if (n > best_n) {
			best = id;
			best_n = n;
		} else if (n == best_n && id != best) {
			best = -1;
		}
	}
	return best;
}

static void on_probe(struct backend *b, enum check_kind kind, const struct observation *o,
                     const struct rippled_metrics *m, uint64_t duration_us, void *arg)
{
	struct observation verdict = *o;
	struct node *n = b->node;

	metrics_probe(b->name, duration_us);
	if (kind == CK_FRESHNESS && m != NULL && m->has_ledgers) {
		/* the history the node holds; a probe that failed keeps the last one known */
		if (!n->ledgers_known || memcmp(&n->ledgers, &m->ledgers, sizeof(m->ledgers)) != 0)
			dirty = true;
		n->ledgers = m->ledgers;
		n->ledgers_known = true;
		snprintf(n->metrics.complete_ledgers, sizeof(n->metrics.complete_ledgers), "%s",
		         m->complete_ledgers);
	}
	if (kind == CK_FRESHNESS && m != NULL && m->has_seq) {
		n->metrics = *m; /* a failed probe keeps the last answer for the pool's view */
		const struct pool *p = registry_pool(b->conf.pool);
		int64_t net = p != NULL ? majority_network(p) : -1;
		if (net >= 0 && m->network_id >= 0 && m->network_id != net) {
			verdict.verdict = V_CRITICAL;
			snprintf(verdict.reason, sizeof(verdict.reason),
			         "network_id %lld differs from the pool's %lld",
			         (long long)m->network_id, (long long)net);
		}
	}
	observe(n, &verdict);
}

/* The one log line of a transition, as the STYLE asks: backend NAME: FROM -> TO (why). */
static void log_event(const struct bus_event *ev, void *arg)
{
	const struct health_event *he = &ev->he;

	switch (he->kind) {
	case HE_TRANSITION:
		log_at(he->to == HS_DOWN && !he->in_grace ? LOGL_WARN : LOGL_INFO,
		       "backend %s: %s -> %s (%s)%s", ev->backend, health_state_names[he->from],
		       health_state_names[he->to], he->reason, he->in_grace ? " [sync grace]" : "");
		break;
	case HE_GRACE_EXPIRED:
		log_warn("backend %s: %s", ev->backend, he->reason);
		break;
	case HE_ADMIN:
		log_info("backend %s: admin %s -> %s (%s)", ev->backend,
		         admin_state_names[he->admin_from], admin_state_names[he->admin_to],
		         he->reason);
		break;
	case HE_WEIGHT:
		log_info("backend %s: weight %u -> %u (%s)", ev->backend, he->weight_from,
		         he->weight_to, he->reason);
		break;
	default:
		break;
	}
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = clock_now();
	struct health_event he;

	for (size_t i = 0; i < registry.n_backends; i++) {
		struct node *n = registry.backends[i]->node;
		if (n == NULL)
			continue;
		if (health_tick(&n->health, &n->b->conf.health, now, &he))
			publish(n, &he);
		refresh(n, now);
	}
	poolstat_check();
	monitor_publish();
}

int monitor_init(struct event_base *base)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = TICK_MS * 1000};

	if (check_init(base, on_probe, NULL) != 0 || bus_subscribe(log_event, NULL) != 0)
		return -1;
	route_set_signal_sink(signal_sink);
	check_set_best_seq(best_seq);
	ev_tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	ev_turn = event_new(base, -1, 0, turn_cb, NULL);
	if (ev_tick == NULL || ev_turn == NULL)
		return -1;
	evtimer_add(ev_tick, &tv);
	return 0;
}

void monitor_deinit(void)
{
	if (ev_tick != NULL)
		event_free(ev_tick);
	if (ev_turn != NULL)
		event_free(ev_turn);
	ev_tick = ev_turn = NULL;
	built = 0;
	check_deinit();
	poolstat_reset();
	bus_reset();
}

/* B's node, created at the first start: rotation state checking from NOW. */
static struct node *node_of(struct backend *b, uint64_t now)
{
	if (b->node != NULL)
		return b->node;
	b->node = calloc(1, sizeof(*b->node));
	if (b->node == NULL)
		return NULL;
	b->node->b = b;
	b->node->weight_set = -1;
	b->node->metrics.network_id = -1;
	health_init(&b->node->health, now);
	dirty = true;
	return b->node;
}

void monitor_backend_start(struct backend *b)
{
	uint64_t now = clock_now();
	struct node *n = node_of(b, now);

	if (n == NULL) {
		log_error("backend %s: out of memory: not probed, not routed", b->name);
		return;
	}
	if (b->conf.health.check == CHECK_NONE && n->health.state == HS_CHECKING) {
		/* never probed: in rotation until live traffic says otherwise. Published by the
		 * caller once every backend has started: a table per backend would build N tables
		 * of N nodes, all alive until the loop turns (1,000 backends: 171 MiB more). */
		struct observation o = {.verdict = V_HEALTHY};
		snprintf(o.reason, sizeof(o.reason), "check = none");
		judge(n, &o);
	}
	if (b->conf.health.check == CHECK_NONE || b->conf.health.freshness_interval == 0) {
		dirty |= n->ledgers_known;
		n->ledgers_known = false; /* no freshness probe: its history is unknown */
	}
	refresh(n, now);
	check_start(b);
}

void monitor_backend_stop(struct backend *b)
{
	check_stop(b);
	free(b->node);
	b->node = NULL;
	dirty = true;
}

bool monitor_set_admin(struct backend *b, enum admin_state a, const char *why)
{
	struct health_event he;
	struct node *n = b->node;

	if (n == NULL || !health_set_admin(&n->health, a, why, clock_now(), &he))
		return false;
	publish(n, &he);
	refresh(n, clock_now());
	monitor_publish();
	return true;
}

bool monitor_set_weight(struct backend *b, int w, const char *why)
{
	struct node *n = b->node;
	struct health_event he = {.kind = HE_WEIGHT};
	unsigned old, nw;

	if (n == NULL)
		return false;
	old = base_weight(n);
	n->weight_set = w;
	nw = base_weight(n);
	refresh(n, clock_now());
	monitor_publish();
	if (old == nw)
		return false;
	he.weight_from = old;
	he.weight_to = nw;
	he.from = he.to = n->health.state;
	he.admin_from = he.admin_to = n->health.admin;
	he.at = clock_now();
	snprintf(he.reason, sizeof(he.reason), "%s", why);
	publish(n, &he); /* logged by log_event, written into the incident by incident.c */
	return true;
}
