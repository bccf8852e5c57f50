/* Remediation hooks, the pure part: which bus events are hook events, whether a hook runs
 * for an event (its filters, the sync grace, once per backend per sync_grace, max_concurrent)
 * on a fake monotonic clock, why it was skipped, and the bounded keeping of a run's output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"
#include "ops/hook.h"

#define S(x) ((uint64_t)(x)*1000)

/* [hook restart] on grace_expired and backend_down, sync_grace 15m by default. */
static struct conf_hook restart_hook(void)
{
	struct conf_hook h = {
	    .name = "restart",
	    .on_mask = 1u << NOTIFY_GRACE_EXPIRED | 1u << NOTIFY_BACKEND_DOWN,
	    .timeout = S(60),
	    .max_concurrent = 1,
	};
	return h;
}

static struct hook_facts backend_event(enum notify_event e, const char *backend)
{
	struct hook_facts f = {.event = e, .pool = "rpc", .backend = backend, .sync_grace = S(900)};
	return f;
}

static void test_event_of_maps_the_bus(void **state)
{
	struct health_event he = {.kind = HE_GRACE_EXPIRED, .from = HS_SYNCING, .to = HS_DOWN};

	assert_int_equal(bus_notify_event(&he), NOTIFY_GRACE_EXPIRED);
	he = (struct health_event){.kind = HE_TRANSITION, .from = HS_UP, .to = HS_DOWN};
	assert_int_equal(bus_notify_event(&he), NOTIFY_BACKEND_DOWN);
	he.from = HS_CHECKING; /* the first verdict is bad: it is out of rotation */
	assert_int_equal(bus_notify_event(&he), NOTIFY_BACKEND_DOWN);
	he.from = HS_SYNCING; /* a restart inside the grace: expected, no event */
	he.in_grace = true;
	assert_int_equal(bus_notify_event(&he), NOTIFY_COUNT);
	he = (struct health_event){
	    .kind = HE_TRANSITION, .from = HS_DOWN, .to = HS_SYNCING, .in_grace = true};
	assert_int_equal(bus_notify_event(&he), NOTIFY_COUNT);
	he = (struct health_event){.kind = HE_TRANSITION, .from = HS_SYNCING, .to = HS_SLOW_START};
	assert_int_equal(bus_notify_event(&he), NOTIFY_BACKEND_UP);
	he = (struct health_event){.kind = HE_TRANSITION, .from = HS_DOWN, .to = HS_UP};
	assert_int_equal(bus_notify_event(&he), NOTIFY_BACKEND_UP);
	he.from = HS_CHECKING; /* the first verdict after a start is not a return */
	assert_int_equal(bus_notify_event(&he), NOTIFY_COUNT);
	he = (struct health_event){.kind = HE_TRANSITION, .from = HS_SLOW_START, .to = HS_UP};
	assert_int_equal(bus_notify_event(&he), NOTIFY_COUNT);
	he = (struct health_event){.kind = HE_ADMIN, .from = HS_UP, .to = HS_UP};
	assert_int_equal(bus_notify_event(&he), NOTIFY_COUNT);
}

static void test_filters_on_pools_and_backends(void **state)
{
	struct conf_hook h = restart_hook();
	struct hook_facts f = backend_event(NOTIFY_GRACE_EXPIRED, "n2");

	assert_int_equal(hook_decide(&h, &f, S(100)), HV_RUN);
	f.event = NOTIFY_BACKEND_UP; /* not in `on` */
	assert_int_equal(hook_decide(&h, &f, S(100)), HV_NOT_ON);
	f.event = NOTIFY_COUNT;
	assert_int_equal(hook_decide(&h, &f, S(100)), HV_NOT_ON);
	f.event = NOTIFY_GRACE_EXPIRED;
	h.pools = "ws,rpc2";
	assert_int_equal(hook_decide(&h, &f, S(100)), HV_NOT_ON);
	h.pools = "ws,rpc";
	assert_int_equal(hook_decide(&h, &f, S(100)), HV_RUN);
	h.backends = "n1,n22"; /* n2 is a prefix of n22, not an item */
	assert_int_equal(hook_decide(&h, &f, S(100)), HV_NOT_ON);
	h.backends = "n1,n2,n3";
	assert_int_equal(hook_decide(&h, &f, S(100)), HV_RUN);

	/* an incident event has no backend: the backends filter does not hold it back */
	h.on_mask |= 1u << NOTIFY_INCIDENT_OPEN;
	f = (struct hook_facts){.event = NOTIFY_INCIDENT_OPEN, .pool = "rpc"};
	assert_int_equal(hook_decide(&h, &f, S(100)), HV_RUN);
	f.pool = ""; /* a manual incident about everything is in no listed pool */
	assert_int_equal(hook_decide(&h, &f, S(100)), HV_NOT_ON);
	h.pools = NULL;
	assert_int_equal(hook_decide(&h, &f, S(100)), HV_RUN);
}

static void test_never_inside_a_sync_grace_except_its_expiry(void **state)
{
	struct conf_hook h = restart_hook();
	struct hook_facts f = backend_event(NOTIFY_BACKEND_DOWN, "n2");
	char why[200];

	f.syncing = true;
	f.grace_until = S(160);
	assert_int_equal(hook_decide(&h, &f, S(100)), HV_IN_GRACE);
	hook_skip_text(HV_IN_GRACE, &h, &f, S(100), why, sizeof(why));
	assert_string_equal(why, "skipped: inside its sync grace (60.0s left)");
	assert_int_equal(hook_decide(&h, &f, S(160)), HV_RUN); /* the grace is over */
	f.event = NOTIFY_GRACE_EXPIRED; /* the moment it ran out: that is what the hook is for */
	assert_int_equal(hook_decide(&h, &f, S(159)), HV_RUN);
}

static void test_once_per_backend_per_sync_grace_after_its_run_ended(void **state)
{
	struct conf_hook h = restart_hook();
	struct hook_facts f = backend_event(NOTIFY_GRACE_EXPIRED, "n2");
	char why[200];

	h.max_concurrent = 4;
	f.ran = true;
	f.running_for = true;
	f.last_start = S(1000);
	f.running = 1;
	assert_int_equal(hook_decide(&h, &f, S(1002)), HV_RUNNING);
	hook_skip_text(HV_RUNNING, &h, &f, S(1002), why, sizeof(why));
	assert_string_equal(
	    why, "skipped: its run started 2.0s ago is still going (then sync_grace 15m)");

	/* the restart took 30s; the node gets its whole sync_grace from then */
	f.running_for = false;
	f.running = 0;
	f.last_end = S(1030);
	assert_int_equal(hook_decide(&h, &f, S(1040)), HV_RECENT);
	hook_skip_text(HV_RECENT, &h, &f, S(1040), why, sizeof(why));
	assert_string_equal(why, "skipped: ran 40.0s ago, ended 10.0s ago, within sync_grace 15m");
	assert_int_equal(hook_decide(&h, &f, S(1929)), HV_RECENT);
	assert_int_equal(hook_decide(&h, &f, S(1930)), HV_RUN);

	/* another backend is another count */
	f = backend_event(NOTIFY_GRACE_EXPIRED, "n3");
	assert_int_equal(hook_decide(&h, &f, S(1040)), HV_RUN);

	/* the backend's own sync_grace, in the unit it is written in */
	f = backend_event(NOTIFY_GRACE_EXPIRED, "n2");
	f.ran = true;
	f.last_start = S(1000);
	f.last_end = S(1000) + 200;
	f.sync_grace = 1500;
	assert_int_equal(hook_decide(&h, &f, S(1001)), HV_RECENT);
	hook_skip_text(HV_RECENT, &h, &f, S(1001), why, sizeof(why));
	assert_string_equal(why, "skipped: ran 1.0s ago, ended 0.8s ago, within sync_grace 1500ms");
	assert_int_equal(hook_decide(&h, &f, S(1001) + 700), HV_RUN);
	f.sync_grace = 0; /* no grace: no wait either */
	assert_int_equal(hook_decide(&h, &f, S(1000) + 200), HV_RUN);
}

static void test_max_concurrent(void **state)
{
	struct conf_hook h = restart_hook();
	struct hook_facts f = backend_event(NOTIFY_BACKEND_DOWN, "n3");
	char why[200];

	f.running = 1;
	assert_int_equal(hook_decide(&h, &f, S(5)), HV_CONCURRENT);
	hook_skip_text(HV_CONCURRENT, &h, &f, S(5), why, sizeof(why));
	assert_string_equal(why, "skipped: 1 run going, max_concurrent 1");
	h.max_concurrent = 2;
	assert_int_equal(hook_decide(&h, &f, S(5)), HV_RUN);
	/* incident events count too */
	h.on_mask |= 1u << NOTIFY_INCIDENT_RESOLVED;
	f = (struct hook_facts){.event = NOTIFY_INCIDENT_RESOLVED, .pool = "rpc", .running = 2};
	assert_int_equal(hook_decide(&h, &f, S(5)), HV_CONCURRENT);
}

static void feed(struct hook_output *o, const char *s)
{
	hook_output_feed(o, s, strlen(s));
}

static void test_output_keeps_the_first_lines_within_bounds(void **state)
{
	struct hook_output o = {0};
	char sum[600], big[3000];

	feed(&o, "restarting n2\n");
	feed(&o, "\n  \n"); /* blank lines are kept but not summarised */
	feed(&o, "rc=0\tok");
	hook_output_summary(&o, sum, sizeof(sum));
	assert_string_equal(sum, "restarting n2 | rc=0 ok");
	feed(&o, "\nline 4\nline 5\nline 6\nline 7\n");
	assert_int_equal(o.lines, HOOK_OUT_LINES);
	assert_int_equal(o.dropped, strlen("line 5\nline 6\nline 7\n"));
	hook_output_summary(&o, sum, sizeof(sum));
	assert_string_equal(sum, "restarting n2 | rc=0 ok | line 4 (+21 bytes)");

	/* one long line: 1 KiB kept, the rest counted, nothing grows */
	memset(&o, 0, sizeof(o));
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 100; i++)
		hook_output_feed(&o, big, sizeof(big));
	assert_int_equal(o.len, HOOK_OUT_BYTES);
	assert_int_equal(o.dropped, 100 * sizeof(big) - HOOK_OUT_BYTES);
	hook_output_summary(&o, sum, sizeof(sum)); /* cut to the buffer */
	assert_int_equal(strlen(sum), sizeof(sum) - 1);

	/* NUL and control bytes do not cut or break the line */
	memset(&o, 0, sizeof(o));
	hook_output_feed(&o, "a\0b\x1b[31mc\n", 10);
	hook_output_summary(&o, sum, sizeof(sum));
	assert_string_equal(sum, "a b [31mc");

	memset(&o, 0, sizeof(o));
	hook_output_summary(&o, sum, sizeof(sum));
	assert_string_equal(sum, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_of_maps_the_bus),
	    cmocka_unit_test(test_filters_on_pools_and_backends),
	    cmocka_unit_test(test_never_inside_a_sync_grace_except_its_expiry),
	    cmocka_unit_test(test_once_per_backend_per_sync_grace_after_its_run_ended),
	    cmocka_unit_test(test_max_concurrent),
	    cmocka_unit_test(test_output_keeps_the_first_lines_within_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
