/* The bus: synchronous subscribers at once, deferred ones on the next loop turn in phase
 * order (incidents, alerts, hooks) whatever the subscription order, each with its done;
 * events posted during a round wait for the next; the queue is bounded and counts drops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "bus.h"
#include "stats.h"

static struct event_base *base;
static char seen[4096]; /* what the handlers saw, in order: "sync:n1 incidents:n1 ..." */

static void note(const char *who, const struct bus_event *ev)
{
	size_t n = strlen(seen);

	snprintf(seen + n, sizeof(seen) - n, "%s%s:%s", n > 0 ? " " : "", who,
	         ev != NULL ? (ev->topic == BUS_HEALTH ? ev->backend : ev->text) : "done");
}

static void on_event(const struct bus_event *ev, void *arg)
{
	note(arg, ev);
}

static void on_done(void *arg)
{
	note(arg, NULL);
}

static int setup(void **state)
{
	base = event_base_new();
	seen[0] = '\0';
	return base == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	bus_reset();
	event_base_free(base);
	return 0;
}

static void emit(const char *backend)
{
	struct bus_event ev = {.topic = BUS_HEALTH, .backend = backend, .pool = "rpc"};

	ev.he.kind = HE_TRANSITION;
	bus_emit(&ev);
}

static void turn(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK); /* 1 when nothing was left to wait for */
}

static void deferred_run_next_turn_in_phase_order(void **state)
{
	assert_int_equal(bus_subscribe_deferred(base, BUS_PHASE_HOOKS, on_event, NULL, "hooks"), 0);
	assert_int_equal(
	    bus_subscribe_deferred(base, BUS_PHASE_ALERTS, on_event, on_done, "alerts"), 0);
	assert_int_equal(
	    bus_subscribe_deferred(base, BUS_PHASE_INCIDENTS, on_event, on_done, "incidents"), 0);
	assert_int_equal(bus_subscribe(on_event, "sync"), 0);
	emit("n1");
	emit("n2");
	assert_string_equal(seen, "sync:n1 sync:n2"); /* nothing deferred ran yet */
	turn();
	assert_string_equal(seen, "sync:n1 sync:n2 incidents:n1 incidents:n2 incidents:done "
	                          "alerts:n1 alerts:n2 alerts:done hooks:n1 hooks:n2");
	seen[0] = '\0';
	turn();
	assert_string_equal(seen, ""); /* one round per batch */
}

/* An incident's change posted by the incidents phase reaches hooks in a round of its own,
 * after the round that caused it; the log (synchronous) never sees it. */
static void post_change(const struct bus_event *ev, void *arg)
{
	struct bus_event change = {.topic = BUS_INCIDENT, .pool = "rpc", .text = "incident 1"};

	note("incidents", ev);
	if (ev->topic == BUS_HEALTH)
		bus_post(&change);
}

static void post_during_a_round_waits_for_the_next(void **state)
{
	assert_int_equal(bus_subscribe_deferred(base, BUS_PHASE_INCIDENTS, post_change, NULL, NULL),
	                 0);
	assert_int_equal(bus_subscribe_deferred(base, BUS_PHASE_HOOKS, on_event, NULL, "hooks"), 0);
	assert_int_equal(bus_subscribe(on_event, "sync"), 0);
	emit("n1");
	turn();
	assert_string_equal(seen, "sync:n1 incidents:n1 hooks:n1 incidents:incident 1 "
	                          "hooks:incident 1");
}

/* Copies: the emitter's strings may be gone by the next turn. */
static void events_are_copied(void **state)
{
	char name[16];

	assert_int_equal(bus_subscribe_deferred(base, BUS_PHASE_ALERTS, on_event, NULL, "alerts"),
	                 0);
	snprintf(name, sizeof(name), "n7");
	emit(name);
	snprintf(name, sizeof(name), "XX");
	turn();
	assert_string_equal(seen, "alerts:n7");
}

static void queue_is_bounded_and_counts_drops(void **state)
{
	uint64_t before = stats_mine->bus_deferred_dropped;
	unsigned n = 0;

	assert_int_equal(bus_subscribe_deferred(base, BUS_PHASE_HOOKS, on_event, NULL, "h"), 0);
	for (unsigned i = 0; i < BUS_DEFER_MAX + 3; i++)
		emit("n");
	assert_int_equal(stats_mine->bus_deferred_dropped - before, 3);
	turn();
	for (const char *p = seen; (p = strstr(p, "h:n")) != NULL; p++)
		n++;
	assert_int_equal(n, BUS_DEFER_MAX);
	seen[0] = '\0';
	emit("again"); /* room again after the round */
	turn();
	assert_string_equal(seen, "h:again");
	assert_int_equal(stats_mine->bus_deferred_dropped - before, 3);
}

/* bus_wake: a round with no event, so that each done runs (a reload re-judges pools). */
static void wake_runs_done_without_events(void **state)
{
	assert_int_equal(
	    bus_subscribe_deferred(base, BUS_PHASE_INCIDENTS, on_event, on_done, "incidents"), 0);
	bus_wake();
	turn();
	assert_string_equal(seen, "incidents:done");
	seen[0] = '\0';
	turn();
	assert_string_equal(seen, "");
}

static void limits(void **state)
{
	assert_int_not_equal(bus_subscribe_deferred(base, BUS_PHASE_COUNT, on_event, NULL, NULL),
	                     0);
	for (unsigned i = 0; i < BUS_MAX_SUBSCRIBERS; i++)
		assert_int_equal(bus_subscribe(on_event, "s"), 0);
	assert_int_not_equal(bus_subscribe(on_event, "s"), 0);
	assert_string_equal(bus_phase_names[BUS_PHASE_INCIDENTS], "incidents");
	assert_string_equal(bus_phase_names[BUS_PHASE_HOOKS], "hooks");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(deferred_run_next_turn_in_phase_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(post_during_a_round_waits_for_the_next, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(events_are_copied, setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_is_bounded_and_counts_drops, setup, teardown),
	    cmocka_unit_test_setup_teardown(wake_runs_done_without_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(limits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
