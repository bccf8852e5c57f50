/* Incidents: when one opens, what its timeline collects, its severity and outage spans, when
 * it resolves; driven with a fake wall clock (a number of Unix ms the tests advance) and the
 * store closed, so nothing touches a disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "health/health.h"
#include "ops/incident.h"
#include "ops/mwindow.h"
#include "ops/remedy.h"
#include "ops/similar.h"
#include "health/poolstat.h"

#define S(x) ((int64_t)(x)*1000)

static int64_t now; /* the fake clock */

static struct health_event ev(enum health_state from, enum health_state to, const char *why)
{
	struct health_event he = {.kind = HE_TRANSITION, .from = from, .to = to};

	snprintf(he.reason, sizeof(he.reason), "%s", why);
	return he;
}

static struct health_event admin_ev(enum admin_state from, enum admin_state to)
{
	struct health_event he = {.kind = HE_ADMIN, .from = HS_UP, .to = HS_UP};

	he.admin_from = from;
	he.admin_to = to;
	snprintf(he.reason, sizeof(he.reason), "admin API");
	return he;
}

/* Incident ID without its priority lines, which test_priority_* count: the timeline as the
 * tests written before priorities knew it (two views kept, for two in one expression). */
static const struct incident *get(int64_t id)
{
	static struct incident view[2];
	static struct incident_entry entries[2][2 * INCIDENT_AUTO_MAX + 16];
	static int turn;
	const struct incident *inc = incident_get(id);
	size_t n = 0;

	if (inc == NULL)
		return NULL;
	turn ^= 1;
	view[turn] = *inc;
	for (size_t i = 0; i < inc->n_entries && n < 2 * INCIDENT_AUTO_MAX + 16; i++)
		if (inc->entries[i].kind != ENTRY_PRIORITY)
			entries[turn][n++] = inc->entries[i];
	view[turn].entries = entries[turn];
	view[turn].n_entries = n;
	return &view[turn];
}

/* Feeds one event and then the pool's status, as the loop does. */
static void step(const char *backend, struct health_event he, int status)
{
	incident_on_event("rpc", backend, &he, status, now);
	incident_on_status("rpc", status, now);
}

struct collected {
	int64_t ids[16];
	size_t n;
};

static void collect(const struct incident *inc, void *arg)
{
	struct collected *c = arg;

	c->ids[c->n++] = inc->id;
}

static struct collected all(size_t limit)
{
	struct collected c = {0};

	incident_foreach(limit, collect, &c);
	return c;
}

static const struct incident_entry *last_entry(const struct incident *inc)
{
	assert_true(inc->n_entries > 0);
	return &inc->entries[inc->n_entries - 1];
}

static int setup(void **state)
{
	incident_reset();
	now = 1700000000000;                            /* 2023-11-14, before the real clock */
	incident_on_status("rpc", PS_OPERATIONAL, now); /* the baseline after start */
	return 0;
}

static int teardown(void **state)
{
	incident_reset();
	return 0;
}

/* A weight change: a line in the open incident only, never one that opens, never a cause. */
static void test_weight_change_is_a_line_of_the_open_incident(void **state)
{
	struct health_event w = {.kind = HE_WEIGHT, .from = HS_UP, .to = HS_UP, .weight_to = 0};
	struct collected c;

	w.weight_from = 10;
	snprintf(w.reason, sizeof(w.reason), "admin API");
	step("n1", w, PS_OPERATIONAL); /* nothing open: nothing to say */
	assert_int_equal(all(0).n, 0);
	step("n2", ev(HS_UP, HS_DOWN, "peers 0"), PS_DEGRADED);
	incident_on_event("rpc", "n1", &w, PS_DEGRADED, now);
	c = all(0);
	assert_int_equal(c.n, 1);
	const struct incident *inc = get(c.ids[0]);
	assert_string_equal(inc->title, "rpc: degraded (n2 down: peers 0)");
	assert_int_equal(last_entry(inc)->kind, ENTRY_ADMIN);
	assert_string_equal(last_entry(inc)->text, "backend n1: weight 10 -> 0 (admin API)");
}

/* A repeat of the same verdict on the same backend finds the first (what opened each is kept);
 * another backend's does not; the alert text names the count, the median and the expected
 * recovery (suggested, then as ops set it, each a line of the timeline). */
static void test_similar_incidents_and_their_alert_text(void **state)
{
	struct health_event down = ev(HS_UP, HS_DOWN, "peers 0"), up = ev(HS_DOWN, HS_UP, "ok");
	struct collected c;
	char text[INCIDENT_TEXT_MAX], iso[32];
	struct similar s;

	down.verdict = V_CRITICAL;
	step("n2", down, PS_DEGRADED);
	now += S(300);
	step("n2", up, PS_OPERATIONAL);
	now += S(3600);
	step("n2", down, PS_DEGRADED); /* the same again */
	c = all(0);
	assert_int_equal(c.n, 2);
	const struct incident *inc = incident_get(c.ids[0]);
	assert_string_equal(inc->backend, "n2");
	assert_string_equal(inc->verdict, "critical");
	assert_int_equal(inc->open_causes, 1u << RC_PEERS);
	incident_similar(inc, &s);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.median_ms, S(300));
	assert_int_equal(s.ids[0], c.ids[1]);
	incident_similar_text(inc, text, sizeof(text));
	incident_iso(now + S(300), iso, sizeof(iso));
	char want[INCIDENT_TEXT_MAX];
	snprintf(want, sizeof(want),
	         "1 in the last 90 days (backend n2, critical), median time to resolve 5m 0s; "
	         "expected recovery %s (suggested, to confirm)",
	         iso);
	assert_string_equal(text, want);
	assert_int_equal(incident_set_expected(c.ids[0], now + S(900), "ana", now), 0);
	inc = incident_get(c.ids[0]);
	incident_similar_text(inc, text, sizeof(text));
	assert_non_null(strstr(text, "(set by ops)"));
	assert_int_equal(last_entry(inc)->kind, ENTRY_NOTE);
	assert_non_null(strstr(last_entry(inc)->text, "by ana (similar incidents suggested "));

	now += S(60); /* n2 back, then n3 down the same way: nothing similar */
	step("n2", up, PS_OPERATIONAL);
	now += S(60);
	step("n3", down, PS_DEGRADED);
	c = all(0);
	inc = incident_get(c.ids[0]);
	assert_string_equal(inc->backend, "n3");
	incident_similar_text(inc, text, sizeof(text));
	assert_string_equal(text, "");
}

/* ---- the pure decisions -------------------------------------------------------------------- */

static void test_step_event(void **state)
{
	struct health_event down = ev(HS_UP, HS_DOWN, "peers 0");
	struct health_event grace = ev(HS_DOWN, HS_SYNCING, "answers again");
	struct health_event expired = ev(HS_SYNCING, HS_DOWN, "sync grace expired");
	struct health_event drained_down = ev(HS_UP, HS_DOWN, "refused");

	grace.in_grace = true;
	expired.kind = HE_GRACE_EXPIRED;
	drained_down.admin_from = drained_down.admin_to = ADMIN_DRAIN;

	assert_int_equal(incident_step_event(&down, false), STEP_OPEN);
	assert_int_equal(incident_step_event(&down, true), STEP_APPEND);
	assert_int_equal(incident_step_event(&expired, false), STEP_OPEN);
	assert_int_equal(incident_step_event(&grace, false), STEP_NONE);
	assert_int_equal(incident_step_event(&grace, true), STEP_APPEND);
	assert_int_equal(incident_step_event(&drained_down, false), STEP_NONE);
	down.in_grace = true; /* a restart inside the grace is expected */
	assert_int_equal(incident_step_event(&down, false), STEP_NONE);
	struct health_event up = ev(HS_DOWN, HS_UP, "healthy");
	assert_int_equal(incident_step_event(&up, false), STEP_NONE);
	struct health_event adm = admin_ev(ADMIN_NONE, ADMIN_MAINT);
	assert_int_equal(incident_step_event(&adm, false), STEP_NONE);
	assert_int_equal(incident_step_event(&adm, true), STEP_APPEND);
	assert_string_equal(incident_step_names[STEP_RESOLVE], "resolve");
}

static void test_step_status(void **state)
{
	/* worse opens; the first status after a start is only a baseline */
	assert_int_equal(incident_step_status(PS_OPERATIONAL, PS_DEGRADED, false), STEP_OPEN);
	assert_int_equal(incident_step_status(PS_DEGRADED, PS_MAJOR_OUTAGE, false), STEP_OPEN);
	assert_int_equal(incident_step_status(-1, PS_MAJOR_OUTAGE, false), STEP_NONE);
	assert_int_equal(incident_step_status(PS_MAJOR_OUTAGE, PS_DEGRADED, false), STEP_NONE);
	assert_int_equal(incident_step_status(PS_DEGRADED, PS_DEGRADED, false), STEP_NONE);
	/* with one open: operational resolves, any other change is a line */
	assert_int_equal(incident_step_status(PS_DEGRADED, PS_OPERATIONAL, true), STEP_RESOLVE);
	assert_int_equal(incident_step_status(-1, PS_OPERATIONAL, true), STEP_RESOLVE);
	assert_int_equal(incident_step_status(PS_DEGRADED, PS_PARTIAL_OUTAGE, true), STEP_APPEND);
	assert_int_equal(incident_step_status(PS_MAJOR_OUTAGE, PS_DEGRADED, true), STEP_APPEND);
	assert_int_equal(incident_step_status(PS_DEGRADED, PS_DEGRADED, true), STEP_NONE);
	assert_int_equal(incident_step_status(-1, PS_DEGRADED, true), STEP_NONE);
}

/* ---- the engine ---------------------------------------------------------------------------- */

static void test_opens_when_a_node_leaves_rotation_and_resolves_when_back(void **state)
{
	const struct incident *inc;

	step("n2", ev(HS_UP, HS_DOWN, "peers 0"), PS_DEGRADED);
	assert_int_equal(all(0).n, 1);
	inc = get(1);
	assert_non_null(inc);
	assert_string_equal(inc->title, "rpc: degraded (n2 down: peers 0)");
	assert_string_equal(inc->pool, "rpc");
	assert_int_equal(inc->severity, PS_DEGRADED);
	assert_false(inc->manual);
	assert_int_equal(inc->started, now);
	assert_int_equal(inc->resolved, 0);
	assert_int_equal(inc->entries[0].kind, ENTRY_OPEN);
	assert_string_equal(inc->entries[0].text, "backend n2: up -> down (peers 0)");
	assert_string_equal(last_entry(inc)->text, "pool rpc: operational -> degraded");

	now += S(5);
	step("n2", ev(HS_DOWN, HS_SYNCING, "answers again after being unreachable"), PS_DEGRADED);
	inc = get(1);
	assert_int_equal(last_entry(inc)->kind, ENTRY_TRANSITION);
	assert_int_equal(last_entry(inc)->at, now);
	now += S(5);
	step("n2", ev(HS_SYNCING, HS_UP, "healthy 3 in a row"), PS_OPERATIONAL);
	inc = get(1);
	assert_string_equal(inc->entries[inc->n_entries - 2].text,
	                    "backend n2: syncing -> up (healthy 3 in a row)");
	assert_int_equal(last_entry(inc)->kind, ENTRY_RESOLVE);
	assert_string_equal(last_entry(inc)->text, "pool rpc: degraded -> operational");
	assert_int_equal(inc->resolved, now);
	assert_int_equal(inc->severity, PS_DEGRADED);

	/* the next departure is a new incident */
	now += S(60);
	step("n3", ev(HS_UP, HS_DOWN, "refused"), PS_DEGRADED);
	struct collected c = all(0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], 2); /* open first */
	assert_int_equal(c.ids[1], 1);
	assert_int_equal(get(2)->resolved, 0);
}

static void test_one_open_incident_per_pool_collects_every_transition(void **state)
{
	step("n1", ev(HS_UP, HS_DOWN, "peers 0"), PS_DEGRADED);
	now += S(1);
	step("n2", ev(HS_UP, HS_DOWN, "refused"), PS_PARTIAL_OUTAGE);
	now += S(1);
	step("n3", ev(HS_UP, HS_DOWN, "refused"), PS_MAJOR_OUTAGE);
	assert_int_equal(all(0).n, 1);
	const struct incident *inc = get(1);
	/* open, pool line; n2, pool line; n3, pool line */
	assert_int_equal(inc->n_entries, 6);
	assert_string_equal(inc->entries[2].text, "backend n2: up -> down (refused)");
	assert_string_equal(inc->entries[5].text, "pool rpc: partial_outage -> major_outage");
	assert_int_equal(inc->severity, PS_MAJOR_OUTAGE);

	/* another pool has its own */
	struct health_event he = ev(HS_UP, HS_DOWN, "peers 0");
	incident_on_status("ws", PS_OPERATIONAL, now);
	incident_on_event("ws", "w1", &he, PS_DEGRADED, now);
	assert_int_equal(all(0).n, 2);
	assert_string_equal(get(2)->pool, "ws");
	assert_int_equal(get(1)->n_entries, 6);
}

static void test_severity_is_the_worst_seen(void **state)
{
	step("n1", ev(HS_UP, HS_DOWN, "peers 0"), PS_DEGRADED);
	step("n2", ev(HS_UP, HS_DOWN, "peers 0"), PS_MAJOR_OUTAGE);
	step("n2", ev(HS_DOWN, HS_UP, "healthy"), PS_DEGRADED);
	assert_int_equal(get(1)->severity, PS_MAJOR_OUTAGE);
	assert_int_equal(get(1)->resolved, 0);
}

static void test_sync_grace_opens_nothing_but_its_expiry_does(void **state)
{
	struct health_event back = ev(HS_DOWN, HS_SYNCING, "answers again");
	struct health_event expired = ev(HS_SYNCING, HS_DOWN, "sync grace expired");

	back.in_grace = true;
	expired.kind = HE_GRACE_EXPIRED;
	/* inside the grace: no incident (the status does not move: the node was out) */
	incident_on_event("rpc", "n2", &back, PS_OPERATIONAL, now);
	assert_int_equal(all(0).n, 0);
	now += S(900);
	incident_on_event("rpc", "n2", &expired, PS_DEGRADED, now);
	assert_int_equal(all(0).n, 1);
	assert_string_equal(get(1)->title, "rpc: degraded (n2 down: sync grace expired)");
}

static void test_worse_status_opens_with_the_last_event_as_cause(void **state)
{
	struct health_event drain = admin_ev(ADMIN_NONE, ADMIN_DRAIN);

	incident_on_event("rpc", "n2", &drain, PS_DEGRADED, now);
	assert_int_equal(all(0).n, 0); /* an admin change opens nothing by itself... */
	incident_on_status("rpc", PS_DEGRADED, now);
	assert_int_equal(all(0).n, 1); /* ...but the pool got worse */
	const struct incident *inc = get(1);
	assert_string_equal(inc->title, "rpc: degraded (n2 drain: admin API)");
	assert_string_equal(inc->entries[0].text, "pool rpc: operational -> degraded");
	assert_int_equal(inc->entries[1].kind, ENTRY_ADMIN); /* what made it worse */
	assert_string_equal(inc->entries[1].text, "backend n2: admin none -> drain (admin API)");
	assert_int_equal(inc->n_entries, 2);

	now += S(10);
	struct health_event ready = admin_ev(ADMIN_DRAIN, ADMIN_NONE);
	step("n2", ready, PS_OPERATIONAL);
	inc = get(1);
	assert_int_equal(inc->entries[2].kind, ENTRY_ADMIN);
	assert_string_equal(inc->entries[2].text, "backend n2: admin drain -> none (admin API)");
	assert_int_equal(inc->resolved, now);
}

static void test_the_first_status_after_a_start_is_a_baseline(void **state)
{
	incident_reset(); /* a restart: nothing known of the pool */
	incident_on_status("rpc", PS_DEGRADED, now);
	assert_int_equal(all(0).n, 0);
	incident_on_status("rpc", PS_PARTIAL_OUTAGE, now);
	assert_int_equal(all(0).n, 1);
	assert_int_equal(get(1)->severity, PS_PARTIAL_OUTAGE);
	assert_string_equal(get(1)->title, "rpc: partial_outage (pool status)");
}

static void test_downtime_adds_the_partial_and_major_outage_spans(void **state)
{
	int64_t t0 = now;

	step("n1", ev(HS_UP, HS_DOWN, "peers 0"), PS_DEGRADED);
	now += S(10);
	step("n2", ev(HS_UP, HS_DOWN, "peers 0"), PS_PARTIAL_OUTAGE); /* outage from t0+10 */
	now += S(20);
	step("n3", ev(HS_UP, HS_DOWN, "peers 0"), PS_MAJOR_OUTAGE); /* still one span */
	now += S(30);
	step("n3", ev(HS_DOWN, HS_UP, "healthy"), PS_DEGRADED); /* ends at t0+60 */
	now += S(40);
	step("n2", ev(HS_DOWN, HS_UP, "healthy"), PS_PARTIAL_OUTAGE); /* again from t0+100 */
	now += S(5);
	step("n1", ev(HS_DOWN, HS_UP, "healthy"), PS_OPERATIONAL); /* resolved at t0+105 */

	assert_int_equal(incident_downtime("rpc", t0, now), S(50) + S(5));
	assert_int_equal(incident_downtime("rpc", t0, t0 + S(30)), S(20));
	assert_int_equal(incident_downtime("rpc", t0 + S(50), t0 + S(102)), S(10) + S(2));
	assert_int_equal(incident_downtime("rpc", now, now + S(100)), 0);
	assert_int_equal(incident_downtime("ws", t0, now), 0);

	/* an open span lasts until now (the real clock, far after the fake one) */
	now += S(100);
	step("n1", ev(HS_UP, HS_DOWN, "refused"), PS_MAJOR_OUTAGE);
	assert_int_equal(incident_downtime("rpc", now, now + S(7)), S(7));

	json_t *j = incident_json(get(1));
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "outage_ms")), S(55));
	json_decref(j);
}

static void test_ops_updates_and_resolution(void **state)
{
	struct incident_entry e;

	step("n2", ev(HS_UP, HS_DOWN, "peers 0"), PS_DEGRADED);
	now += S(60);
	assert_int_equal(incident_update(1, UPD_IDENTIFIED, "n2 lost\nits peers", now + S(3600),
	                                 now + S(1800), now, &e),
	                 0);
	assert_int_equal(e.kind, ENTRY_UPDATE);
	assert_int_equal(e.status, UPD_IDENTIFIED);
	assert_string_equal(e.text, "n2 lost its peers"); /* one line */
	assert_int_equal(e.eta, now + S(3600));
	assert_int_equal(e.next_update, now + S(1800));
	assert_int_equal(incident_update(99, UPD_IDENTIFIED, "x", 0, 0, now, &e), -1);

	now += S(60);
	assert_int_equal(incident_update(1, UPD_RESOLVED, "fixed", 0, 0, now, &e), 0);
	const struct incident *inc = get(1);
	assert_int_equal(inc->resolved, now);
	assert_int_equal(inc->entries[inc->n_entries - 2].kind, ENTRY_UPDATE);
	assert_int_equal(last_entry(inc)->kind, ENTRY_RESOLVE);

	/* resolved by ops while the pool is still degraded: the next departure opens anew */
	now += S(1);
	step("n3", ev(HS_UP, HS_DOWN, "peers 0"), PS_PARTIAL_OUTAGE);
	assert_int_equal(all(0).n, 2);
	assert_int_equal(get(2)->resolved, 0);

	json_t *j = incident_json_full(get(1));
	json_t *upd = json_array_get(json_object_get(j, "entries"), 2);
	assert_string_equal(json_string_value(json_object_get(upd, "kind")), "update");
	assert_string_equal(json_string_value(json_object_get(upd, "status")), "identified");
	assert_non_null(json_string_value(json_object_get(upd, "eta")));
	assert_string_equal(json_string_value(json_object_get(j, "last_update")), "resolved");
	assert_false(json_is_true(json_object_get(j, "open")));
	json_decref(j);
}

static void test_manual_incident_stays_until_ops_resolve_it(void **state)
{
	struct incident_manual m = {.pool = "rpc",
	                            .title = "Upgrade to rippled 2.3",
	                            .message = "n1 then n2, one at a time",
	                            .severity = PS_OPERATIONAL,
	                            .planned_start = now + S(3600),
	                            .planned_end = now + S(7200)};
	struct incident_entry e;
	int64_t id = incident_open_manual(&m, now);

	assert_int_equal(id, 1);
	const struct incident *inc = get(id);
	assert_true(inc->manual);
	assert_int_equal(inc->planned_start, now + S(3600));
	assert_string_equal(inc->entries[0].text, "n1 then n2, one at a time");

	/* transitions open an automatic one beside it; the pool being fine resolves only that */
	step("n1", ev(HS_UP, HS_DOWN, "refused"), PS_DEGRADED);
	step("n1", ev(HS_DOWN, HS_UP, "healthy"), PS_OPERATIONAL);
	assert_int_equal(get(1)->n_entries, 1);
	assert_int_equal(get(1)->resolved, 0);
	assert_int_not_equal(get(2)->resolved, 0);
	assert_int_equal(incident_update(1, UPD_RESOLVED, "done", 0, 0, now, &e), 0);
	assert_int_equal(get(1)->resolved, now);
	assert_int_equal(incident_downtime("rpc", 0, INT64_MAX), 0);
}

static void test_foreach_open_first_newest_first_with_a_limit(void **state)
{
	for (int i = 0; i < 3; i++) { /* 1, 2, 3 resolved */
		step("n1", ev(HS_UP, HS_DOWN, "refused"), PS_DEGRADED);
		now += S(1);
		step("n1", ev(HS_DOWN, HS_UP, "healthy"), PS_OPERATIONAL);
		now += S(1);
	}
	step("n1", ev(HS_UP, HS_DOWN, "refused"), PS_DEGRADED); /* 4 open */
	struct incident_manual m = {.title = "API keys rotate", .severity = PS_OPERATIONAL};
	assert_int_equal(incident_open_manual(&m, now), 5);

	struct collected c = all(0);
	int64_t want[] = {5, 4, 3, 2, 1};
	assert_int_equal(c.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(c.ids[i], want[i]);
	c = all(3);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.ids[2], 3);
}

static void test_a_flapping_node_does_not_grow_the_timeline_without_end(void **state)
{
	step("n1", ev(HS_UP, HS_DOWN, "refused"), PS_DEGRADED);
	for (int i = 0; i < 2 * INCIDENT_AUTO_MAX; i++) {
		now += 10;
		step("n2", ev(HS_UP, HS_DOWN, "refused"), PS_DEGRADED);
	}
	const struct incident *inc = get(1);
	/* open and the first pool line, the lines up to the cap, one note */
	assert_int_equal(inc->n_entries, 2 + INCIDENT_AUTO_MAX);
	assert_non_null(strstr(last_entry(inc)->text, "timeline full"));
	/* ops updates and the resolution still go in */
	struct incident_entry e;
	assert_int_equal(incident_update(1, UPD_MONITORING, "watching", 0, 0, now, &e), 0);
	step("n2", ev(HS_DOWN, HS_UP, "healthy"), PS_OPERATIONAL);
	inc = get(1);
	assert_int_equal(last_entry(inc)->kind, ENTRY_RESOLVE);
	assert_int_equal(inc->entries[inc->n_entries - 2].kind, ENTRY_UPDATE);
}

static void test_long_reasons_are_cut_on_a_character_boundary(void **state)
{
	char why[HEALTH_REASON_MAX];
	struct health_event he;

	memset(why, 'x', sizeof(why));
	memcpy(why + 130, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 16);
	why[sizeof(why) - 1] = '\0';
	he = ev(HS_UP, HS_DOWN, why);
	step("n2", he, PS_DEGRADED);
	json_t *j = incident_json_full(get(1));
	assert_non_null(j);
	const char *title = json_string_value(json_object_get(j, "title"));
	assert_non_null(title);
	assert_null(strchr(title, '?')); /* valid UTF-8: nothing replaced */
	assert_true(strlen(get(1)->title) < sizeof(get(1)->title));
	json_decref(j);
}

static void test_iso_times(void **state)
{
	char buf[40];

	incident_iso(1795000000123, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-18T11:06:40.123Z");
}

/* ---- priority, acknowledgement, roles, notes, remedies ----------------------------------- */

static void test_priority_from_impact_and_urgency(void **state)
{
	/* one node of three out: low impact */
	assert_int_equal(incident_priority_of(PS_DEGRADED, 33, 1, URGENCY_HIGH), PRIO_P3);
	assert_int_equal(incident_priority_of(PS_DEGRADED, 33, 1, URGENCY_LOW), PRIO_P4);
	/* half the members or more, or a partial outage: medium */
	assert_int_equal(incident_priority_of(PS_DEGRADED, 50, 1, URGENCY_HIGH), PRIO_P2);
	assert_int_equal(incident_priority_of(PS_PARTIAL_OUTAGE, 67, 1, URGENCY_HIGH), PRIO_P2);
	assert_int_equal(incident_priority_of(PS_PARTIAL_OUTAGE, 67, 1, URGENCY_LOW), PRIO_P4);
	/* all down: high */
	assert_int_equal(incident_priority_of(PS_MAJOR_OUTAGE, 100, 1, URGENCY_HIGH), PRIO_P1);
	assert_int_equal(incident_priority_of(PS_MAJOR_OUTAGE, 100, 1, URGENCY_LOW), PRIO_P3);
	/* more than one pool hit raises the impact a level */
	assert_int_equal(incident_priority_of(PS_DEGRADED, 33, 2, URGENCY_HIGH), PRIO_P2);
	assert_int_equal(incident_priority_of(PS_PARTIAL_OUTAGE, 67, 3, URGENCY_HIGH), PRIO_P1);
	assert_int_equal(incident_priority_of(PS_MAJOR_OUTAGE, 100, 3, URGENCY_HIGH), PRIO_P1);
	/* nothing lost (planned maintenance) */
	assert_int_equal(incident_priority_of(PS_OPERATIONAL, 0, 1, URGENCY_HIGH), PRIO_P4);
}

static void impact(int status, unsigned lost, size_t pools, int urgency)
{
	struct incident_impact im = {lost, pools, urgency, 0, 0};

	incident_on_status_impact("rpc", status, &im, now);
}

static void test_priority_is_raised_never_lowered_and_ops_override_it(void **state)
{
	struct health_event down = ev(HS_UP, HS_DOWN, "peers 0");
	const struct incident *inc;

	incident_on_event("rpc", "n1", &down, PS_DEGRADED, now);
	impact(PS_DEGRADED, 33, 1, URGENCY_HIGH);
	inc = incident_get(1);
	assert_int_equal(inc->priority, PRIO_P3);
	assert_int_equal(inc->entries[1].kind, ENTRY_PRIORITY);
	now += S(1);
	impact(PS_MAJOR_OUTAGE, 100, 1, URGENCY_HIGH);
	inc = incident_get(1);
	assert_int_equal(inc->priority, PRIO_P1);
	assert_string_equal(last_entry(inc)->text,
	                    "priority P3 -> P1 (rpc is major_outage, 100% of its members out, 1 "
	                    "pool hit, urgency high)");
	size_t n = inc->n_entries;
	now += S(1);
	impact(PS_DEGRADED, 33, 1, URGENCY_HIGH); /* better: not lowered */
	inc = incident_get(1);
	assert_int_equal(inc->priority, PRIO_P1);
	assert_int_equal(inc->n_entries, n + 1); /* the pool line only */
	assert_int_equal(incident_set_priority(1, PRIO_P4, "alice", "a test node", now), 0);
	inc = incident_get(1);
	assert_int_equal(inc->priority, PRIO_P4);
	assert_true(inc->priority_set);
	assert_string_equal(last_entry(inc)->text, "priority P1 -> P4 set by alice: a test node");
	impact(PS_MAJOR_OUTAGE, 100, 1, URGENCY_HIGH); /* set by ops: no longer computed */
	assert_int_equal(incident_get(1)->priority, PRIO_P4);
	assert_int_equal(incident_set_priority(9, PRIO_P1, "a", "b", now), -1);
}

static void test_low_urgency_and_other_pools(void **state)
{
	struct health_event down = ev(HS_UP, HS_DOWN, "refused");

	impact(PS_OPERATIONAL, 0, 1, URGENCY_LOW); /* the loop tells every round */
	incident_on_event("rpc", "n1", &down, PS_MAJOR_OUTAGE, now);
	impact(PS_MAJOR_OUTAGE, 100, 1, URGENCY_LOW);
	assert_int_equal(incident_get(1)->priority, PRIO_P3);
	impact(PS_MAJOR_OUTAGE, 100, 2, URGENCY_LOW); /* another pool is hit too */
	assert_int_equal(incident_get(1)->priority, PRIO_P3);
}

static int n_ack;
static void count_ack(enum incident_change what, const struct incident *inc,
                      const struct incident_entry *e, void *arg)
{
	n_ack += what == IC_ACK;
}

static void test_ack_roles_notes_and_what_the_public_sees(void **state)
{
	const struct incident *inc;
	json_t *pub, *full;

	step("n1", ev(HS_UP, HS_DOWN, "peers 0 (critical); load_factor 2000 >= 1000"), PS_DEGRADED);
	assert_int_equal(incident_watch(count_ack, NULL), 0);
	assert_int_equal(incident_ack(1, "alice", "admin API", now + 5), 0);
	assert_int_equal(n_ack, 1);
	assert_int_equal(incident_ack(1, "bob", "admin API", now + 6), -3);
	assert_int_equal(incident_ack(7, "bob", "admin API", now + 6), -1);
	assert_int_equal(n_ack, 1);
	inc = incident_get(1);
	assert_int_equal(inc->acked, now + 5);
	assert_string_equal(inc->acked_by, "alice");
	assert_string_equal(last_entry(inc)->text, "acknowledged by alice (admin API)");
	assert_int_equal(incident_set_role(1, ROLE_COMMANDER, "alice", now), 0);
	assert_int_equal(incident_set_role(1, ROLE_COMMANDER, "alice", now), 1);
	assert_int_equal(incident_set_role(1, ROLE_COMMANDER, "carol", now), 0);
	assert_string_equal(last_entry(incident_get(1))->text, "commander: carol (was alice)");
	assert_int_equal(incident_set_role(1, ROLE_FIXER, "carol", now), 0);
	assert_int_equal(incident_add_note(1, "carol", "n1 peers drop at 12:00 every day", now), 0);
	inc = incident_get(1);
	assert_int_equal(last_entry(inc)->kind, ENTRY_NOTE);
	assert_string_equal(inc->roles[ROLE_FIXER], "carol");
	/* remedies from what was seen: peers and load_factor */
	assert_int_equal(inc->causes, 1u << RC_PEERS | 1u << RC_LOAD_FACTOR);

	pub = incident_json(inc);
	full = incident_json_full(inc);
	assert_non_null(pub);
	assert_non_null(full);
	assert_string_equal(json_string_value(json_object_get(pub, "priority")), "P3");
	assert_null(json_object_get(pub, "roles"));
	assert_null(json_object_get(pub, "acknowledged"));
	char *pub_text = json_dumps(pub, 0), *full_text = json_dumps(full, 0);
	assert_null(strstr(pub_text, "every day"));
	assert_null(strstr(pub_text, "carol"));
	assert_null(strstr(pub_text, "alice"));
	assert_non_null(strstr(full_text, "every day"));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(full, "roles"), "commander")),
	    "carol");
	assert_true(json_is_null(json_object_get(json_object_get(full, "roles"), "recorder")));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(full, "acknowledged"), "by")),
	    "alice");
	assert_non_null(
	    strstr(json_string_value(json_object_get(full, "remedy_text")), "15 minutes"));
	assert_int_equal(json_array_size(json_object_get(full, "remedy")), 4);
	assert_int_equal(
	    strncmp(json_string_value(json_object_get(full, "chat_channel")), "#incident_", 10), 0);
	free(pub_text);
	free(full_text);
	json_decref(pub);
	json_decref(full);
	incident_unwatch_all();
	n_ack = 0;

	/* a resolved incident takes no acknowledgement */
	step("n1", ev(HS_DOWN, HS_UP, "healthy"), PS_OPERATIONAL);
	assert_int_equal(incident_ack(1, "bob", "admin API", now), -2);
}

static void test_remedies_follow_the_guidance(void **state)
{
	char buf[1024];

	assert_int_equal(remedy_causes("amendment_blocked true (critical)"),
	                 1u << RC_AMENDMENT_BLOCKED);
	assert_int_equal(
	    remedy_causes("server_state syncing (warning); validated_ledger 30s >= 20s"),
	    1u << RC_SERVER_STATE | 1u << RC_VALIDATED_LEDGER);
	assert_int_equal(remedy_causes("refused"), 1u << RC_UNREACHABLE);
	assert_int_equal(remedy_causes("healthy 3 in a row"), 0);
	/* upgrade only for amendment_blocked (and a node that cannot sync), no restart */
	assert_int_equal(remedy_actions(1u << RC_AMENDMENT_BLOCKED),
	                 1u << RA_REDIRECT | 1u << RA_UPGRADE);
	assert_int_equal(remedy_actions(1u << RC_NO_SYNC), 1u << RA_REDIRECT | 1u << RA_UPGRADE);
	assert_int_equal(remedy_actions(1u << RC_LOAD_FACTOR),
	                 1u << RA_REDIRECT | 1u << RA_RESTART | 1u << RA_HARDWARE);
	assert_int_equal(remedy_actions(1u << RC_PEERS),
	                 1u << RA_REDIRECT | 1u << RA_RESTART | 1u << RA_NETWORK);
	assert_int_equal(remedy_actions(1u << RC_SERVER_STATE),
	                 1u << RA_REDIRECT | 1u << RA_RESTART | 1u << RA_NETWORK |
	                     1u << RA_HARDWARE);
	remedy_text(1u << RC_PEERS, buf, sizeof(buf));
	assert_string_equal(buf, "traffic redirected to healthy nodes (done by nodegate); restart "
	                         "rippled, then allow it up to 15 minutes to sync before any "
	                         "further restart (peers); investigate the network (connectivity, "
	                         "firewall, peer configuration) (peers)");
	remedy_text(0, buf, sizeof(buf));
	assert_string_equal(buf, "");
}

/* The public reads plain words: an automatic incident's title from the template of its
 * worst status with the fewest nodes in service, its opening as the title, its resolve as
 * "Service restored"; the engine's lines (transitions) and its wording stay with ops. */
static void test_public_words_hide_the_engine(void **state)
{
	struct incident_impact im = {.lost_pct = 66, .pools = 1, .serving = 1, .total = 3};
	char buf[INCIDENT_TEXT_MAX];

	step("n2", ev(HS_UP, HS_DOWN, "2 criticals within 5s: peers 0 (critical)"), PS_DEGRADED);
	incident_on_status_impact("rpc", PS_PARTIAL_OUTAGE, &im, now);
	const struct incident *inc = incident_get(1);
	assert_non_null(strstr(inc->title, "2 criticals within 5s")); /* ops keep it */
	incident_public_title(inc, buf, sizeof(buf));
	assert_string_equal(buf, "Some requests may fail or be slow: 1 of 3 nodes in service");
	im.serving = 2; /* better later: the title keeps the worst */
	incident_on_status_impact("rpc", PS_PARTIAL_OUTAGE, &im, now);
	now += S(5);
	im.serving = 3;
	incident_on_status_impact("rpc", PS_OPERATIONAL, &im, now);
	inc = incident_get(1);
	incident_public_title(inc, buf, sizeof(buf));
	assert_non_null(strstr(buf, "1 of 3"));

	json_t *j = incident_json(inc);
	json_t *entries = json_object_get(j, "entries");
	char *dump = json_dumps(j, JSON_COMPACT);
	assert_null(strstr(dump, "criticals"));
	assert_null(strstr(dump, "peers 0"));
	assert_null(strstr(dump, "->"));
	free(dump);
	assert_int_equal(json_array_size(entries), 2); /* opened, restored */
	assert_string_equal(json_string_value(json_object_get(json_array_get(entries, 1), "text")),
	                    "Service restored");
	json_decref(j);
	j = incident_json_full(inc); /* ops see the engine's words */
	dump = json_dumps(j, JSON_COMPACT);
	assert_non_null(strstr(dump, "2 criticals within 5s: peers 0 (critical)"));
	free(dump);
	json_decref(j);
}

/* A maintenance's phases and window on the fake clock: scheduled before its start, started
 * in its window, ended at its end or when ops resolve it; called off before it began, it
 * never ran. */
static void test_maintenance_phases_and_window(void **state)
{
	struct incident m = {
	    .manual = true, .planned_start = now + S(60), .planned_end = now + S(120)};
	int64_t a, b;

	assert_int_equal(maint_phase_at(&m, now), MP_SCHEDULED);
	assert_false(maint_window_of(&m, now, &a, &b));
	assert_int_equal(maint_phase_at(&m, now + S(60)), MP_STARTED);
	assert_true(maint_window_of(&m, now + S(90), &a, &b));
	assert_int_equal(a, now + S(60));
	assert_int_equal(b, now + S(90)); /* running: until now */
	assert_int_equal(maint_phase_at(&m, now + S(120)), MP_ENDED);
	assert_true(maint_window_of(&m, now + S(500), &a, &b));
	assert_int_equal(b, now + S(120));
	m.resolved = now + S(100); /* ops ended it early */
	assert_int_equal(maint_phase_at(&m, now + S(100)), MP_ENDED);
	assert_true(maint_window_of(&m, now + S(500), &a, &b));
	assert_int_equal(b, now + S(100));
	m.resolved = now + S(10); /* called off */
	assert_false(maint_window_of(&m, now + S(500), &a, &b));
	m.manual = false; /* not a maintenance */
	assert_false(maint_window_of(&m, now + S(500), &a, &b));

	assert_true(maint_names("n1, n2", "n2"));
	assert_true(maint_names("n1,n2", "n1"));
	assert_false(maint_names("n1,n22", "n2"));
	assert_false(maint_names("", "n2"));
}

/* Uptime excludes maintenance: an outage inside a maintenance window of the pool (or of
 * everything) is not downtime; outside it, it is. */
static void test_downtime_excludes_maintenance(void **state)
{
	int64_t t0 = now;
	struct incident_manual m = {.pool = "rpc",
	                            .title = "upgrade",
	                            .backends = "n1,n2",
	                            .planned_start = t0 + S(10),
	                            .planned_end = t0 + S(40)};
	int64_t id = incident_open_manual(&m, t0);

	assert_true(id > 0);
	step("n1", ev(HS_UP, HS_DOWN, "peers 0"), PS_DEGRADED);
	now += S(5);
	step("n2", ev(HS_UP, HS_DOWN, "peers 0"), PS_PARTIAL_OUTAGE); /* outage from t0+5 */
	now += S(45);
	step("n2", ev(HS_DOWN, HS_UP, "healthy"), PS_DEGRADED); /* ... to t0+50 */
	now += S(1);
	step("n1", ev(HS_DOWN, HS_UP, "healthy"), PS_OPERATIONAL);
	/* 45 s of outage, 30 of them inside the window [t0+10, t0+40) */
	assert_int_equal(incident_downtime("rpc", t0, now), S(15));
	assert_int_equal(incident_downtime("rpc", t0 + S(10), t0 + S(40)), 0);
	assert_int_equal(incident_downtime("rpc", t0 + S(40), t0 + S(50)), S(10));
	/* uptime since the record began (t0): 36 of 51 s up */
	assert_int_equal(incident_uptime_bp("rpc", t0, now), (S(51) - S(15)) * 10000 / S(51));
	assert_int_equal(incident_uptime_bp("rpc", now, now), -1);
	/* the phases move it: started, then ended resolves it */
	assert_int_equal(
	    incident_maint_step(id, MP_STARTED, "maintenance started: n1, n2 in maint", t0 + S(10)),
	    0);
	assert_true(incident_maint_running("n2"));
	assert_false(incident_maint_running("n3"));
	assert_int_equal(
	    incident_maint_step(id, MP_ENDED, "maintenance ended: n1, n2 ready", t0 + S(40)), 0);
	assert_false(incident_maint_running("n2"));
	assert_int_equal(incident_get(id)->resolved, t0 + S(40));
	json_t *j = incident_json(incident_get(id));
	char *dump = json_dumps(j, JSON_COMPACT);
	assert_non_null(strstr(dump, "\"maintenance\":\"ended\""));
	assert_non_null(strstr(dump, "Maintenance in progress"));
	assert_non_null(strstr(dump, "Maintenance completed"));
	assert_null(strstr(dump, "in maint"));
	free(dump);
	json_decref(j);
}

/* The reminder: the latest update's promise, once past and with nothing newer. */
static void test_next_update_overdue(void **state)
{
	struct incident_entry e[2] = {{.kind = ENTRY_OPEN},
	                              {.kind = ENTRY_UPDATE, .next_update = now + S(60)}};
	struct incident inc = {.entries = e, .n_entries = 2};

	assert_int_equal(maint_overdue(&inc, now + S(59)), 0);
	assert_int_equal(maint_overdue(&inc, now + S(60)), now + S(60));
	e[1].next_update = 0; /* no promise */
	assert_int_equal(maint_overdue(&inc, now + S(600)), 0);
	e[1].next_update = now + S(60);
	inc.resolved = now + S(30);
	assert_int_equal(maint_overdue(&inc, now + S(600)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_step_event),
	    cmocka_unit_test(test_step_status),
	    cmocka_unit_test_setup_teardown(
	        test_opens_when_a_node_leaves_rotation_and_resolves_when_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_one_open_incident_per_pool_collects_every_transition, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_severity_is_the_worst_seen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_grace_opens_nothing_but_its_expiry_does,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_worse_status_opens_with_the_last_event_as_cause,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_the_first_status_after_a_start_is_a_baseline,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_downtime_adds_the_partial_and_major_outage_spans,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ops_updates_and_resolution, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_manual_incident_stays_until_ops_resolve_it, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_foreach_open_first_newest_first_with_a_limit,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_a_flapping_node_does_not_grow_the_timeline_without_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_reasons_are_cut_on_a_character_boundary,
	                                    setup, teardown),
	    cmocka_unit_test(test_iso_times),
	    cmocka_unit_test_setup_teardown(
	        test_priority_is_raised_never_lowered_and_ops_override_it, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_low_urgency_and_other_pools, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ack_roles_notes_and_what_the_public_sees, setup,
	                                    teardown),
	    cmocka_unit_test(test_priority_from_impact_and_urgency),
	    cmocka_unit_test(test_remedies_follow_the_guidance),
	    cmocka_unit_test_setup_teardown(test_public_words_hide_the_engine, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_maintenance_phases_and_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_downtime_excludes_maintenance, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_next_update_overdue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_similar_incidents_and_their_alert_text, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_weight_change_is_a_line_of_the_open_incident,
	                                    setup, teardown),
	};
	log_level_current = LOGL_ERROR; /* "incident N opened" lines are not the test's output */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
