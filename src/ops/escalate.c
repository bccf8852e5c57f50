/* Escalation: the schedule (pure), and the climbs of open incidents on one timer.
 *
 *   incident watcher: IC_OPEN ──► track ──► run: each due step ──► alert_escalate(tier's
 *   channels) + a timeline line; the timer ──► run again
 *   IC_UPDATE ──► the channels told; run (a raised priority may climb now)
 *   IC_ACK, IC_RESOLVED ──► the channels told; the climb ends */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "clock.h"
#include "metrics.h"
#include "registry.h"
#include "ops/alert.h"
#include "ops/escalate.h"
#include "ops/incident.h"
#include "ops/status.h"

#define TOLD_MAX 16 /* channels one incident's climb told (distinct names) */

/* ---- the schedule -------------------------------------------------------------------------- */

void escalate_plan(const struct conf_escalation *e, int priority, struct esc_plan *out)
{
	memset(out, 0, sizeof(*out));
	out->n_tiers = e->n_tiers;
	for (size_t i = 0; i < e->n_tiers && i < ESC_TIERS_MAX; i++)
		out->after[i] = e->tiers[i].after;
	out->repeat = e->repeat;
	out->interval = e->repeat_interval;
	out->pageable = priority <= e->page_min_priority;
}

int64_t escalate_due(const struct esc_plan *p, int step)
{
	size_t climb, tier;

	if (step < 0 || p->n_tiers == 0)
		return -1;
	climb = (size_t)step / p->n_tiers;
	tier = (size_t)step % p->n_tiers;
	if (climb > p->repeat || (!p->pageable && step > 0))
		return -1;
	return (int64_t)(climb * p->interval + p->after[tier]);
}

int escalate_steps_due(const struct esc_plan *p, uint64_t elapsed)
{
	int n = 0;
	int64_t due;

	while ((due = escalate_due(p, n)) >= 0 && (uint64_t)due <= elapsed)
		n++;
	return n;
}

/* ---- climbs ---------------------------------------------------------------------------------- */

struct climb {
	int64_t id;
	char pool[64];
	uint64_t opened; /* clock_now() the incident opened at */
	int step;        /* steps told */
	bool acked;      /* the climb stopped; the channels told still hear of the resolve */
	char told[TOLD_MAX][80];
	size_t n_told;
};

static struct {
	struct event_base *base;
	struct event *timer;
	struct climb climbs[ESC_TRACK_MAX];
	size_t n;
	uint64_t steps, untracked, told_dropped;
	bool on;
} E;

static const struct conf_escalation *escalation_of(const char *pool)
{
	const struct conf_pool *cp =
	    registry.conf != NULL ? conf_find_pool(registry.conf, pool) : NULL;

	return cp != NULL ? conf_find_escalation(registry.conf, cp->escalation) : NULL;
}

static struct climb *climb_of(int64_t id)
{
	for (size_t i = 0; i < E.n; i++)
		if (E.climbs[i].id == id)
			return &E.climbs[i];
	return NULL;
}

static void climb_end(struct climb *c)
{
	*c = E.climbs[--E.n];
}

static void remember(struct climb *c, const char *name)
{
	for (size_t i = 0; i < c->n_told; i++)
		if (strcmp(c->told[i], name) == 0)
			return;
	if (c->n_told == TOLD_MAX) {
		E.told_dropped++;
		return;
	}
	snprintf(c->told[c->n_told++], sizeof(c->told[0]), "%s", name);
}

/* Calls FN on each channel of the comma list LIST. */
static void each_channel(const char *list, void (*fn)(struct climb *c, const char *name, void *a),
                         struct climb *c, void *a)
{
	char name[80];

	for (const char *it = list; it != NULL && *it != '\0';) {
		size_t n = strcspn(it, ",");

		snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1),
		         it);
		fn(c, name, a);
		it += n + (it[n] == ',');
	}
}

struct tell_arg {
	const struct incident *inc;
	enum incident_change what;
	const char *reason;
};

static void tell_one(struct climb *c, const char *name, void *a)
{
	const struct tell_arg *t = a;

	if (alert_escalate(name, t->what, t->inc, t->reason) == 0)
		remember(c, name);
	else
		log_warn("escalation: incident %lld: no [alert %s] any more", (long long)c->id,
		         name);
}

/* Tells C's due steps, per E at NOW (monotonic ms). */
static void run(struct climb *c, const struct conf_escalation *e, uint64_t now)
{
	const struct incident *inc = incident_get(c->id);
	struct esc_plan p;
	int due;

	if (inc == NULL || e == NULL || c->acked)
		return;
	escalate_plan(e, inc->priority, &p);
	due = escalate_steps_due(&p, now > c->opened ? now - c->opened : 0);
	for (; c->step < due; c->step++) {
		size_t tier = (size_t)c->step % p.n_tiers, climb = (size_t)c->step / p.n_tiers;
		char line[INCIDENT_TEXT_MAX], after[80] = "";
		int64_t at = escalate_due(&p, c->step);
		struct tell_arg t = {inc, IC_OPEN, line};

		if (at > 0)
			snprintf(after, sizeof(after), ", not acknowledged after %llums",
			         (unsigned long long)at);
		snprintf(line, sizeof(line), "escalation %s: tier %zu (%s)%s%s", e->name, tier + 1,
		         e->tiers[tier].channels, after, climb > 0 ? " (again)" : "");
		if (incident_add_line(c->id, ENTRY_ESCALATION, line, clock_wall()) < 0)
			return;
		log_info("incident %lld: %s", (long long)c->id, line);
		E.steps++;
		inc = incident_get(c->id); /* the line may have moved it */
		t.inc = inc;
		each_channel(e->tiers[tier].channels, tell_one, c, &t);
	}
	incident_set_esc_step(c->id, c->step);
}

static void arm(void)
{
	uint64_t now = clock_now(), next = UINT64_MAX;

	for (size_t i = 0; i < E.n; i++) {
		const struct incident *inc = incident_get(E.climbs[i].id);
		const struct conf_escalation *e = escalation_of(E.climbs[i].pool);
		struct esc_plan p;
		int64_t due;

		if (inc == NULL || e == NULL || E.climbs[i].acked)
			continue;
		escalate_plan(e, inc->priority, &p);
		due = escalate_due(&p, E.climbs[i].step);
		if (due >= 0 && E.climbs[i].opened + (uint64_t)due < next)
			next = E.climbs[i].opened + (uint64_t)due;
	}
	evtimer_del(E.timer);
	if (next == UINT64_MAX)
		return;
	uint64_t ms = next > now ? next - now : 0;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(E.timer, &tv);
}

static void run_all(void)
{
	uint64_t now = clock_now();

	for (size_t i = 0; i < E.n; i++)
		run(&E.climbs[i], escalation_of(E.climbs[i].pool), now);
	arm();
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	run_all();
}

/* A climb for INC (open, automatic, of a pool with an escalation), STEP steps told. */
static struct climb *climb_new(const struct incident *inc)
{
	struct climb *c;
	int64_t age = clock_wall() - inc->started;
	uint64_t now = clock_now();

	if (E.n == ESC_TRACK_MAX) {
		E.untracked++;
		log_warn(
		    "escalation: %d incidents climbing already: incident %lld is not escalated",
		    ESC_TRACK_MAX, (long long)inc->id);
		return NULL;
	}
	c = &E.climbs[E.n++];
	memset(c, 0, sizeof(*c));
	c->id = inc->id;
	snprintf(c->pool, sizeof(c->pool), "%s", inc->pool);
	c->opened = age > 0 && (uint64_t)age < now ? now - (uint64_t)age : now;
	c->step = inc->esc_step;
	return c;
}

static void forward(struct climb *c, enum incident_change what, const struct incident *inc,
                    const struct incident_entry *e)
{
	char text[INCIDENT_TEXT_MAX];
	const char *reason = e != NULL ? text : NULL;

	/* a copy: a refused message is a line of the timeline, which can move the entries */
	if (e != NULL)
		snprintf(text, sizeof(text), "%s", e->text);

	for (size_t i = 0; i < c->n_told; i++)
		if (alert_escalate(c->told[i], what, inc, reason) < 0)
			log_warn("escalation: incident %lld: no [alert %s] any more",
			         (long long)c->id, c->told[i]);
}

static void on_incident(enum incident_change what, const struct incident *inc,
                        const struct incident_entry *e, void *arg)
{
	struct climb *c = climb_of(inc->id);

	switch (what) {
	case IC_OPEN:
		if (c == NULL && !inc->manual && escalation_of(inc->pool) != NULL)
			c = climb_new(inc);
		break;
	case IC_UPDATE:
		if (c != NULL)
			forward(c, what, inc, e);
		if (c != NULL && c->acked)
			return;
		break;
	case IC_ACK:
		if (c == NULL)
			return;
		forward(c, what, inc, e);
		c->acked = true;
		arm();
		return;
	case IC_RESOLVED:
		if (c == NULL)
			return;
		forward(c, what, inc, e);
		climb_end(c);
		arm();
		return;
	default:
		return;
	}
	/* the steps due are told on the next loop turn (the timer, at once): a watcher does not
	 * change incidents under the others */
	if (c != NULL)
		arm();
}

static void remember_cb(struct climb *c, const char *name, void *a)
{
	remember(c, name);
}

/* An open incident loaded from the store: its climb goes on where it was (the channels of
 * the steps told before are told of what follows, not told again). */
static void resume(const struct incident *inc, void *arg)
{
	const struct conf_escalation *e;
	struct climb *c;

	if (inc->resolved != 0 || inc->manual || (e = escalation_of(inc->pool)) == NULL ||
	    climb_of(inc->id) != NULL || (c = climb_new(inc)) == NULL)
		return;
	c->acked = inc->acked != 0;
	for (int s = 0; e->n_tiers > 0 && s < c->step; s++)
		each_channel(e->tiers[(size_t)s % e->n_tiers].channels, remember_cb, c, NULL);
}

static void esc_metrics(struct metrics_out *o)
{
	metrics_outf(o,
	             "# HELP nodegate_escalation_steps_total escalation tiers told of an "
	             "unacknowledged incident\n"
	             "# TYPE nodegate_escalation_steps_total counter\n"
	             "nodegate_escalation_steps_total %llu\n"
	             "# HELP nodegate_escalation_climbing incidents whose escalation goes on\n"
	             "# TYPE nodegate_escalation_climbing gauge\n"
	             "nodegate_escalation_climbing %zu\n"
	             "# HELP nodegate_escalation_untracked_total incidents not escalated: too many "
	             "climbing at once\n"
	             "# TYPE nodegate_escalation_untracked_total counter\n"
	             "nodegate_escalation_untracked_total %llu\n",
	             (unsigned long long)E.steps, E.n, (unsigned long long)E.untracked);
}

int escalate_init(struct event_base *base)
{
	static bool metrics;

	E.base = base;
	E.timer = evtimer_new(base, on_timer, NULL);
	if (E.timer == NULL || incident_watch(on_incident, NULL) < 0)
		return -1;
	if (!metrics && status_metrics(esc_metrics) == 0)
		metrics = true;
	E.on = true;
	return 0;
}

void escalate_apply(void)
{
	if (!E.on)
		return;
	incident_foreach(0, resume, NULL);
	run_all();
}

void escalate_deinit(void)
{
	if (E.timer != NULL)
		event_free(E.timer);
	memset(&E, 0, sizeof(E));
}

json_t *escalate_json(int64_t id)
{
	const struct climb *c = climb_of(id);
	const struct incident *inc = incident_get(id);
	const struct conf_escalation *e = c != NULL ? escalation_of(c->pool) : NULL;
	struct esc_plan p;
	int64_t due;
	char at[40];

	if (c == NULL || inc == NULL || e == NULL || c->acked)
		return json_null();
	escalate_plan(e, inc->priority, &p);
	due = escalate_due(&p, c->step);
	if (due >= 0)
		incident_iso(clock_wall() + (int64_t)(c->opened + (uint64_t)due) -
		                 (int64_t)clock_now(),
		             at, sizeof(at));
	return json_pack("{s:s, s:i, s:i, s:o}", "name", e->name, "steps", c->step, "tier",
	                 c->step > 0 ? (int)((size_t)(c->step - 1) % p.n_tiers) + 1 : 0, "next_at",
	                 due >= 0 ? json_string(at) : json_null());
}
