/* The health engine at run time: observations in, transitions out, routing kept current. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "bus.h"
#include "health/check.h"
#include "log.h"
#include "metrics.h"
#include "health/monitor.h"
#include "registry.h"
#include "stats.h"

#define TICK_MS 100 /* time-driven moves (slow start ramp, grace expiry) are this fine */

static struct event *ev_tick;

/* The routing view the pick reads: in rotation or not, and the weight now. */
static void refresh(struct backend *b, uint64_t now)
{
	b->routable = health_routable(&b->health);
	b->weight = health_weight(&b->health, &b->conf.health, (unsigned)b->conf.weight, now);
}

static void publish(struct backend *b, const struct health_event *he)
{
	struct bus_event ev = {.backend = b->name, .pool = b->conf.pool, .he = *he};

	if (he->kind == HE_TRANSITION) {
		b->transitions++;
		STAT_INC(transitions);
	} else if (he->kind == HE_GRACE_EXPIRED) {
		STAT_INC(grace_expired);
	}
	bus_emit(&ev);
}

static void observe(struct backend *b, const struct observation *o)
{
	struct health_event he;
	uint64_t now = clock_now();

	if (health_observe(&b->health, &b->conf.health, o, now, &he))
		publish(b, &he);
	refresh(b, now);
}

void monitor_passive(struct backend *b, enum verdict v, bool unreachable, const char *reason)
{
	struct observation o = {.verdict = v, .unreachable = unreachable, .passive = true};

	if (b->removed || b->conf.health.check == CHECK_NONE)
		return;
	snprintf(o.reason, sizeof(o.reason), "%s", reason);
	STAT_INC(passive_signals);
	observe(b, &o);
}

/* The pool's best validated sequence, for the freshness lag of one of its members. */
static uint64_t best_seq(const struct backend *b)
{
	const struct pool *p = registry_pool(b->conf.pool);
	uint64_t best = 0;

	for (size_t i = 0; p != NULL && i < p->n_members; i++) {
		const struct rippled_metrics *m = &p->members[i]->metrics;
		if (m->has_seq && m->validated_seq > best)
			best = m->validated_seq;
	}
	return best;
}

/* The network id most members report; -1 when unknown or tied. */
static int64_t majority_network(const struct pool *p)
{
	int64_t best = -1;
	size_t best_n = 0;

	for (size_t i = 0; i < p->n_members; i++) {
		int64_t id = p->members[i]->metrics.network_id;
		size_t n = 0;
		if (id < 0)
			continue;
		for (size_t j = 0; j < p->n_members; j++)
			n += p->members[j]->metrics.network_id == id;
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

	metrics_probe(b->name, duration_us);
	if (kind == CK_FRESHNESS && m != NULL && m->has_ledgers) {
		/* the history the node holds; a probe that failed keeps the last one known */
		b->ledgers = m->ledgers;
		b->ledgers_known = true;
		snprintf(b->metrics.complete_ledgers, sizeof(b->metrics.complete_ledgers), "%s",
		         m->complete_ledgers);
	}
	if (kind == CK_FRESHNESS && m != NULL && m->has_seq) {
		b->metrics = *m; /* a failed probe keeps the last answer for the pool's view */
		const struct pool *p = registry_pool(b->conf.pool);
		int64_t net = p != NULL ? majority_network(p) : -1;
		if (net >= 0 && m->network_id >= 0 && m->network_id != net) {
			verdict.verdict = V_CRITICAL;
			snprintf(verdict.reason, sizeof(verdict.reason),
			         "network_id %lld differs from the pool's %lld",
			         (long long)m->network_id, (long long)net);
		}
	}
	observe(b, &verdict);
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
	default:
		break;
	}
}

/* Logs a pool entering or leaving panic (fewer than min_up backends in rotation). */
static void check_panic(struct pool *p)
{
	size_t up = 0, judged = 0;

	for (size_t i = 0; i < p->n_members; i++) {
		up += p->members[i]->routable && !p->members[i]->removed;
		judged += p->members[i]->health.state != HS_CHECKING;
	}
	/* right after start nothing is judged yet: that is not an outage to report */
	bool panic = up < p->conf.min_up && judged > 0;
	if (panic == p->in_panic)
		return;
	p->in_panic = panic;
	if (panic)
		log_warn("pool %s: panic: %zu of %zu backends up (min_up %llu)%s", p->name, up,
		         p->n_members, (unsigned long long)p->conf.min_up,
		         p->conf.panic ? ", routing to the least bad" : ", answering 503");
	else
		log_info("pool %s: out of panic: %zu of %zu backends up", p->name, up,
		         p->n_members);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = clock_now();
	struct health_event he;

	for (size_t i = 0; i < registry.n_backends; i++) {
		struct backend *b = registry.backends[i];
		if (health_tick(&b->health, &b->conf.health, now, &he))
			publish(b, &he);
		refresh(b, now);
	}
	for (size_t i = 0; i < registry.n_pools; i++)
		check_panic(registry.pools[i]);
}

int monitor_init(struct event_base *base)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = TICK_MS * 1000};

	if (check_init(base, on_probe, NULL) != 0 || bus_subscribe(log_event, NULL) != 0)
		return -1;
	check_set_best_seq(best_seq);
	ev_tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	if (ev_tick == NULL)
		return -1;
	evtimer_add(ev_tick, &tv);
	return 0;
}

void monitor_deinit(void)
{
	if (ev_tick != NULL)
		event_free(ev_tick);
	ev_tick = NULL;
	check_deinit();
	bus_reset();
}

void monitor_backend_start(struct backend *b)
{
	uint64_t now = clock_now();

	if (b->conf.health.check == CHECK_NONE && b->health.state == HS_CHECKING) {
		/* never probed: in rotation until live traffic says otherwise */
		struct observation o = {.verdict = V_HEALTHY};
		snprintf(o.reason, sizeof(o.reason), "check = none");
		observe(b, &o);
	}
	if (b->conf.health.check == CHECK_NONE || b->conf.health.freshness_interval == 0)
		b->ledgers_known = false; /* no freshness probe: its history is unknown */
	refresh(b, now);
	check_start(b);
}

void monitor_backend_stop(struct backend *b)
{
	check_stop(b);
}
