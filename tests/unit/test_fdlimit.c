/* Unit tests for the descriptor arithmetic: the reserve, what a configuration needs, the
 * accept ceiling under a limit, the accept backoff and the rate-limited log (fake clock). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fdlimit.h"

#define T0 1000000 /* an arbitrary start, far from 0 */

static const struct fdlimit_plan plan = {
    .backends = 4,
    .alerts = 2,
    .workers = 2,
    .status_max = 256,
    .listeners_max = 20000,
    .global_max = 10000,
};

static void test_reserve_counts_each_part(void **state)
{
	assert_int_equal(fdlimit_reserve(&plan), FDLIMIT_BASE + 4 * FDLIMIT_PER_BACKEND +
	                                             2 * FDLIMIT_PER_ALERT +
	                                             2 * FDLIMIT_PER_WORKER + 256);
	struct fdlimit_plan none = {0};
	assert_int_equal(fdlimit_reserve(&none), FDLIMIT_BASE);
}

static void test_need_takes_the_smaller_connection_limit_twice(void **state)
{
	/* 10000 (global under the listeners' 20000), two descriptors each */
	assert_int_equal(fdlimit_need(&plan), 20000 + fdlimit_reserve(&plan));
	struct fdlimit_plan p = plan;
	p.listeners_max = 100;
	assert_int_equal(fdlimit_need(&p), 200 + fdlimit_reserve(&p));
}

static void test_accept_ceiling_leaves_the_reserve(void **state)
{
	uint64_t r = fdlimit_reserve(&plan);

	assert_int_equal(fdlimit_accept_max(&plan, 65536), 65536 - r);
	assert_int_equal(fdlimit_accept_max(&plan, 1024), 1024 - r);
	/* a reserve over three quarters of the limit is cut: clients keep a quarter */
	assert_int_equal(fdlimit_accept_max(&plan, 256), 64);
	assert_int_equal(fdlimit_accept_max(&plan, 8), 2);
}

static void test_backoff_doubles_within_bounds(void **state)
{
	uint32_t b = 0, seen[12];

	for (int i = 0; i < 12; i++)
		seen[i] = b = fdlimit_backoff_next(b);
	assert_int_equal(seen[0], FDLIMIT_BACKOFF_MIN);
	assert_int_equal(seen[1], 2 * FDLIMIT_BACKOFF_MIN);
	for (int i = 1; i < 12; i++)
		assert_true(seen[i] >= seen[i - 1] && seen[i] <= FDLIMIT_BACKOFF_MAX);
	assert_int_equal(seen[11], FDLIMIT_BACKOFF_MAX);
	assert_int_equal(fdlimit_backoff_next(FDLIMIT_BACKOFF_MAX), FDLIMIT_BACKOFF_MAX);
}

static void test_log_once_per_interval_with_count(void **state)
{
	struct fdlimit_log lg = {0};
	uint64_t told = 0;

	assert_true(fdlimit_log_due(&lg, T0, &told)); /* the first is told at once */
	assert_int_equal(told, 1);
	for (int i = 0; i < 100000; i++) /* a flood inside one interval: no line */
		assert_false(fdlimit_log_due(&lg, T0 + 1 + (uint64_t)i % 900, &told));
	assert_true(fdlimit_log_due(&lg, T0 + FDLIMIT_LOG_EVERY, &told));
	assert_int_equal(told, 100001); /* the line counts them all */
	assert_false(fdlimit_log_due(&lg, T0 + FDLIMIT_LOG_EVERY + 1, &told));
	assert_true(fdlimit_log_due(&lg, T0 + 5 * FDLIMIT_LOG_EVERY, &told));
	assert_int_equal(told, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reserve_counts_each_part),
	    cmocka_unit_test(test_need_takes_the_smaller_connection_limit_twice),
	    cmocka_unit_test(test_accept_ceiling_leaves_the_reserve),
	    cmocka_unit_test(test_backoff_doubles_within_bounds),
	    cmocka_unit_test(test_log_once_per_interval_with_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
