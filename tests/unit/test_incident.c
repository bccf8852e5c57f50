/* Incidents: when one opens, what its timeline collects, its severity and outage spans, when
 * it resolves; driven with a fake wall clock (a number of Unix ms the tests advance) and the
 * store closed, so nothing touches a disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "health/health.h"
#include "ops/incident.h"
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
	const struct incident *inc = incident_get(c.ids[0]);
	assert_string_equal(inc->title, "rpc: degraded (n2 down: peers 0)");
	assert_int_equal(last_entry(inc)->kind, ENTRY_ADMIN);
	assert_string_equal(last_entry(inc)->text, "backend n1: weight 10 -> 0 (admin API)");
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
	inc = incident_get(1);
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
	inc = incident_get(1);
	assert_int_equal(last_entry(inc)->kind, ENTRY_TRANSITION);
	assert_int_equal(last_entry(inc)->at, now);
	now += S(5);
	step("n2", ev(HS_SYNCING, HS_UP, "healthy 3 in a row"), PS_OPERATIONAL);
	inc = incident_get(1);
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
	assert_int_equal(incident_get(2)->resolved, 0);
}

static void test_one_open_incident_per_pool_collects_every_transition(void **state)
{
	step("n1", ev(HS_UP, HS_DOWN, "peers 0"), PS_DEGRADED);
	now += S(1);
	step("n2", ev(HS_UP, HS_DOWN, "refused"), PS_PARTIAL_OUTAGE);
	now += S(1);
	step("n3", ev(HS_UP, HS_DOWN, "refused"), PS_MAJOR_OUTAGE);
	assert_int_equal(all(0).n, 1);
	const struct incident *inc = incident_get(1);
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
	assert_string_equal(incident_get(2)->pool, "ws");
	assert_int_equal(incident_get(1)->n_entries, 6);
}

static void test_severity_is_the_worst_seen(void **state)
{
	step("n1", ev(HS_UP, HS_DOWN, "peers 0"), PS_DEGRADED);
	step("n2", ev(HS_UP, HS_DOWN, "peers 0"), PS_MAJOR_OUTAGE);
	step("n2", ev(HS_DOWN, HS_UP, "healthy"), PS_DEGRADED);
	assert_int_equal(incident_get(1)->severity, PS_MAJOR_OUTAGE);
	assert_int_equal(incident_get(1)->resolved, 0);
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
	assert_string_equal(incident_get(1)->title, "rpc: degraded (n2 down: sync grace expired)");
}

static void test_worse_status_opens_with_the_last_event_as_cause(void **state)
{
	struct health_event drain = admin_ev(ADMIN_NONE, ADMIN_DRAIN);

	incident_on_event("rpc", "n2", &drain, PS_DEGRADED, now);
	assert_int_equal(all(0).n, 0); /* an admin change opens nothing by itself... */
	incident_on_status("rpc", PS_DEGRADED, now);
	assert_int_equal(all(0).n, 1); /* ...but the pool got worse */
	const struct incident *inc = incident_get(1);
	assert_string_equal(inc->title, "rpc: degraded (n2 drain: admin API)");
	assert_string_equal(inc->entries[0].text, "pool rpc: operational -> degraded");
	assert_int_equal(inc->entries[1].kind, ENTRY_ADMIN); /* what made it worse */
	assert_string_equal(inc->entries[1].text, "backend n2: admin none -> drain (admin API)");
	assert_int_equal(inc->n_entries, 2);

	now += S(10);
	struct health_event ready = admin_ev(ADMIN_DRAIN, ADMIN_NONE);
	step("n2", ready, PS_OPERATIONAL);
	inc = incident_get(1);
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
	assert_int_equal(incident_get(1)->severity, PS_PARTIAL_OUTAGE);
	assert_string_equal(incident_get(1)->title, "rpc: partial_outage (pool status)");
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

	json_t *j = incident_json(incident_get(1));
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
	const struct incident *inc = incident_get(1);
	assert_int_equal(inc->resolved, now);
	assert_int_equal(inc->entries[inc->n_entries - 2].kind, ENTRY_UPDATE);
	assert_int_equal(last_entry(inc)->kind, ENTRY_RESOLVE);

	/* resolved by ops while the pool is still degraded: the next departure opens anew */
	now += S(1);
	step("n3", ev(HS_UP, HS_DOWN, "peers 0"), PS_PARTIAL_OUTAGE);
	assert_int_equal(all(0).n, 2);
	assert_int_equal(incident_get(2)->resolved, 0);

	json_t *j = incident_json(incident_get(1));
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
	const struct incident *inc = incident_get(id);
	assert_true(inc->manual);
	assert_int_equal(inc->planned_start, now + S(3600));
	assert_string_equal(inc->entries[0].text, "n1 then n2, one at a time");

	/* transitions open an automatic one beside it; the pool being fine resolves only that */
	step("n1", ev(HS_UP, HS_DOWN, "refused"), PS_DEGRADED);
	step("n1", ev(HS_DOWN, HS_UP, "healthy"), PS_OPERATIONAL);
	assert_int_equal(incident_get(1)->n_entries, 1);
	assert_int_equal(incident_get(1)->resolved, 0);
	assert_int_not_equal(incident_get(2)->resolved, 0);
	assert_int_equal(incident_update(1, UPD_RESOLVED, "done", 0, 0, now, &e), 0);
	assert_int_equal(incident_get(1)->resolved, now);
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
	const struct incident *inc = incident_get(1);
	/* open and the first pool line, the lines up to the cap, one note */
	assert_int_equal(inc->n_entries, 2 + INCIDENT_AUTO_MAX);
	assert_non_null(strstr(last_entry(inc)->text, "timeline full"));
	/* ops updates and the resolution still go in */
	struct incident_entry e;
	assert_int_equal(incident_update(1, UPD_MONITORING, "watching", 0, 0, now, &e), 0);
	step("n2", ev(HS_DOWN, HS_UP, "healthy"), PS_OPERATIONAL);
	inc = incident_get(1);
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
	json_t *j = incident_json(incident_get(1));
	assert_non_null(j);
	const char *title = json_string_value(json_object_get(j, "title"));
	assert_non_null(title);
	assert_null(strchr(title, '?')); /* valid UTF-8: nothing replaced */
	assert_true(strlen(incident_get(1)->title) < sizeof(incident_get(1)->title));
	json_decref(j);
}

static void test_iso_times(void **state)
{
	char buf[40];

	incident_iso(1795000000123, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-18T11:06:40.123Z");
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
	    cmocka_unit_test_setup_teardown(test_weight_change_is_a_line_of_the_open_incident,
	                                    setup, teardown),
	};
	log_level_current = LOGL_ERROR; /* "incident N opened" lines are not the test's output */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
