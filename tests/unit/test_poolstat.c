/* Pool status and panic from the members' states: pure, no loop, no registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "health/poolstat.h"

/* A member as the monitor last published it. */
static struct node member(enum health_state s, bool routable, unsigned weight)
{
	struct node n = {.routable = routable, .weight = weight};

	n.health.state = s;
	return n;
}

/* The view of MEMBERS (N of them; removed ones flagged in REMOVED, may be NULL). */
static struct pool_view view_of(const struct node *members, size_t n, const bool *removed,
                                uint64_t min_up, bool can_serve)
{
	struct pool_view v = {.min_up = min_up, .can_serve = can_serve};

	for (size_t i = 0; i < n; i++)
		poolstat_add(&v, &members[i], removed != NULL && removed[i]);
	return v;
}

static void every_member_up_is_operational(void **state)
{
	struct node m[] = {member(HS_UP, true, 1), member(HS_SLOW_START, true, 1),
	                   member(HS_UP, true, 100)};
	struct pool_view v = view_of(m, 3, NULL, 2, true);

	assert_int_equal(v.up, 3);
	assert_int_equal(poolstat_status_of(&v), PS_OPERATIONAL);
	assert_false(poolstat_panic_of(&v));
	assert_true(poolstat_judged_of(&v));
}

static void some_out_min_up_kept_is_degraded(void **state)
{
	struct node m[] = {member(HS_UP, true, 1), member(HS_UP, true, 1),
	                   member(HS_DOWN, false, 1)};
	struct pool_view v = view_of(m, 3, NULL, 2, true);

	assert_int_equal(poolstat_status_of(&v), PS_DEGRADED);
	assert_false(poolstat_panic_of(&v));
}

static void below_min_up_but_serving_is_partial_and_panic(void **state)
{
	struct node m[] = {member(HS_UP, true, 1), member(HS_DOWN, false, 1),
	                   member(HS_DOWN, false, 1)};
	struct pool_view v = view_of(m, 3, NULL, 2, true);

	assert_int_equal(poolstat_status_of(&v), PS_PARTIAL_OUTAGE);
	assert_true(poolstat_panic_of(&v));
	/* none up at all, min_up 0: still not degraded (nothing in rotation) */
	struct node none[] = {member(HS_DOWN, false, 1)};
	v = view_of(none, 1, NULL, 0, true);
	assert_int_equal(poolstat_status_of(&v), PS_PARTIAL_OUTAGE);
	assert_false(poolstat_panic_of(&v));
}

static void nothing_can_serve_is_major(void **state)
{
	struct node m[] = {member(HS_DOWN, false, 1), member(HS_DOWN, false, 1)};
	struct pool_view v = view_of(m, 2, NULL, 1, false);

	assert_int_equal(poolstat_status_of(&v), PS_MAJOR_OUTAGE);
	assert_true(poolstat_panic_of(&v));
}

/* Weight 0 keeps a node in rotation (panic does not count it out) but not up. */
static void weight_zero_is_not_up_but_routable(void **state)
{
	struct node m[] = {member(HS_UP, true, 1), member(HS_UP, true, 0)};
	struct pool_view v = view_of(m, 2, NULL, 2, true);

	assert_int_equal(v.up, 1);
	assert_int_equal(v.routable, 2);
	assert_int_equal(poolstat_status_of(&v), PS_PARTIAL_OUTAGE);
	assert_false(poolstat_panic_of(&v));
}

/* Right after a start nothing is judged: no panic to report, and no status to tell. */
static void unjudged_members(void **state)
{
	struct node m[] = {member(HS_CHECKING, false, 1), member(HS_CHECKING, false, 1)};
	struct pool_view v = view_of(m, 2, NULL, 1, true);

	assert_false(poolstat_panic_of(&v));
	assert_false(poolstat_judged_of(&v));
	m[0] = member(HS_DOWN, false, 1);
	v = view_of(m, 2, NULL, 1, true);
	assert_true(poolstat_panic_of(&v));
	assert_false(poolstat_judged_of(&v));
	struct pool_view empty = {.min_up = 1, .can_serve = false};
	assert_false(poolstat_judged_of(&empty));
}

/* A member a reload removed, or not probed yet (no node), counts as a member but not up. */
static void removed_and_unprobed_members(void **state)
{
	struct node m[] = {member(HS_UP, true, 1), member(HS_UP, true, 1)};
	bool removed[] = {false, true};
	struct pool_view v = view_of(m, 2, removed, 1, true);

	assert_int_equal(v.members, 2);
	assert_int_equal(v.up, 1);
	assert_int_equal(poolstat_status_of(&v), PS_DEGRADED);
	poolstat_add(&v, NULL, false);
	assert_int_equal(v.members, 3);
	assert_int_equal(v.judged, 2);
	assert_false(poolstat_judged_of(&v));
}

/* A fleet: a member in rotation on another live instance is up for users, whatever this
 * instance thinks of it (down for users only when down for every instance). */
static void up_elsewhere_counts_as_up(void **state)
{
	struct node m[] = {member(HS_UP, true, 1), member(HS_DOWN, false, 1),
	                   member(HS_UP, true, 1)};
	struct pool_view v = view_of(m, 3, NULL, 2, true);

	assert_int_equal(poolstat_status_of(&v), PS_DEGRADED);
	poolstat_add_elsewhere(&v, &m[1], false);
	assert_int_equal(v.up, 3);
	assert_int_equal(poolstat_status_of(&v), PS_OPERATIONAL);
	/* up here and elsewhere: counted once */
	poolstat_add_elsewhere(&v, &m[0], false);
	assert_int_equal(v.up, 3);

	/* nothing can serve here, one node serves elsewhere: not a major outage */
	struct node down[] = {member(HS_DOWN, false, 1), member(HS_DOWN, false, 1)};
	v = view_of(down, 2, NULL, 1, false);
	assert_int_equal(poolstat_status_of(&v), PS_MAJOR_OUTAGE);
	poolstat_add_elsewhere(&v, &down[0], false);
	assert_true(v.can_serve);
	assert_int_equal(v.routable, 1);
	assert_int_equal(poolstat_status_of(&v), PS_DEGRADED);
	/* a member removed by a reload stays out; one not probed here counts */
	poolstat_add_elsewhere(&v, &down[1], true);
	assert_int_equal(v.up, 1);
	poolstat_add_elsewhere(&v, NULL, false);
	assert_int_equal(v.up, 2);
	/* weight 0 here: up elsewhere makes it up (still routable once) */
	struct node w0[] = {member(HS_UP, true, 0)};
	v = view_of(w0, 1, NULL, 1, true);
	poolstat_add_elsewhere(&v, &w0[0], false);
	assert_int_equal(v.up, 1);
	assert_int_equal(v.routable, 1);
}

static void names(void **state)
{
	assert_string_equal(pool_status_names[PS_OPERATIONAL], "operational");
	assert_string_equal(pool_status_names[PS_DEGRADED], "degraded");
	assert_string_equal(pool_status_names[PS_PARTIAL_OUTAGE], "partial_outage");
	assert_string_equal(pool_status_names[PS_MAJOR_OUTAGE], "major_outage");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_member_up_is_operational),
	    cmocka_unit_test(some_out_min_up_kept_is_degraded),
	    cmocka_unit_test(below_min_up_but_serving_is_partial_and_panic),
	    cmocka_unit_test(nothing_can_serve_is_major),
	    cmocka_unit_test(weight_zero_is_not_up_but_routable),
	    cmocka_unit_test(unjudged_members),
	    cmocka_unit_test(removed_and_unprobed_members),
	    cmocka_unit_test(up_elsewhere_counts_as_up),
	    cmocka_unit_test(names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
