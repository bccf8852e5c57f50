/* Unit tests for the retry budget: the allowance (percent of the window's requests, never
 * below min), free retries of requests that never reached a node, the window sliding with
 * a fake clock, and what a reload carries over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/budget.h"

#define T0 1000000 /* an arbitrary start, far from 0 */

/* Charged retries granted at NOW until the first refusal (at most LIMIT asked). */
static unsigned take_all(struct budget *b, uint64_t now, unsigned limit)
{
	unsigned n = 0;

	while (n < limit && budget_retry(b, RETRY_RESET, true, now))
		n++;
	return n;
}

static void requests(struct budget *b, uint64_t now, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		budget_request(b, now);
}

static void test_quiet_pool_gets_min(void **state)
{
	struct budget b;

	budget_init(&b, 20, 10000, 3);
	requests(&b, T0, 2);
	assert_int_equal(budget_left(&b, T0), 3);
	assert_int_equal(take_all(&b, T0, 100), 3);
	assert_int_equal(b.exhausted, 1);
	assert_int_equal(b.retries[RETRY_RESET], 3);
	assert_false(budget_retry(&b, RETRY_STATUS_5XX, true, T0 + 10));
	assert_int_equal(b.exhausted, 2);
	assert_int_equal(b.retries[RETRY_STATUS_5XX], 0);
}

static void test_busy_pool_gets_percent(void **state)
{
	struct budget b;

	budget_init(&b, 20, 10000, 3);
	requests(&b, T0, 100);
	assert_int_equal(take_all(&b, T0 + 500, 1000), 20);
	/* more traffic, more allowance: 50 more requests allow 10 more retries */
	requests(&b, T0 + 600, 50);
	assert_int_equal(take_all(&b, T0 + 700, 1000), 10);
}

static void test_zero_percent_refuses_every_charged_retry(void **state)
{
	struct budget b;

	budget_init(&b, 0, 10000, 3);
	requests(&b, T0, 1000);
	assert_int_equal(budget_left(&b, T0), 0);
	assert_false(budget_retry(&b, RETRY_TIMEOUT, true, T0));
	assert_int_equal(b.exhausted, 1);
}

static void test_connect_retries_are_free(void **state)
{
	struct budget b;

	budget_init(&b, 20, 10000, 1);
	assert_int_equal(take_all(&b, T0, 10), 1);
	for (int i = 0; i < 50; i++)
		assert_true(budget_retry(&b, RETRY_CONNECT, false, T0));
	assert_int_equal(b.retries[RETRY_CONNECT], 50);
	assert_int_equal(b.exhausted, 1);
	/* and they take nothing from the allowance */
	budget_init(&b, 20, 10000, 2);
	for (int i = 0; i < 5; i++)
		assert_true(budget_retry(&b, RETRY_CONNECT, false, T0));
	assert_int_equal(budget_left(&b, T0), 2);
}

static void test_window_slides(void **state)
{
	struct budget b;

	budget_init(&b, 10, 10000, 0); /* buckets of 1 s */
	requests(&b, T0, 100);         /* 10 retries allowed while these count */
	assert_int_equal(take_all(&b, T0, 100), 10);
	/* 9.9 s later the requests and retries are still in the window */
	assert_int_equal(budget_left(&b, T0 + 9999), 0);
	/* after a whole window both are gone: nothing allowed with min 0 */
	assert_int_equal(budget_left(&b, T0 + 10000), 0);
	requests(&b, T0 + 10000, 30);
	assert_int_equal(budget_left(&b, T0 + 10000), 3);
	/* retries age out with their bucket: new requests at 5 s, the old retries leave at 10 s */
	budget_init(&b, 50, 10000, 0);
	requests(&b, T0, 10);
	assert_int_equal(take_all(&b, T0, 100), 5);
	requests(&b, T0 + 5000, 10);
	assert_int_equal(budget_left(&b, T0 + 5000), 5);
	assert_int_equal(budget_left(&b, T0 + 10000), 5); /* 10 requests, 0 retries left in */
	assert_int_equal(budget_left(&b, T0 + 15000), 0); /* all gone, min 0 */
}

static void test_stale_bucket_reused(void **state)
{
	struct budget b;

	budget_init(&b, 100, 1000, 0); /* buckets of 100 ms */
	requests(&b, T0, 5);
	/* exactly one window later the same slot is written again: it starts empty */
	requests(&b, T0 + 1000, 1);
	assert_int_equal(budget_left(&b, T0 + 1000), 1);
	/* a clock far ahead sees nothing of the past */
	assert_int_equal(budget_left(&b, T0 + 1000000), 0);
}

static void test_carry_over_reload(void **state)
{
	struct budget old, b;

	budget_init(&old, 20, 10000, 0);
	requests(&old, T0, 10);
	assert_int_equal(take_all(&old, T0, 100), 2); /* and one refused */
	assert_true(budget_retry(&old, RETRY_CONNECT, false, T0));
	/* same window: the spent budget stays spent, even with a new percent */
	budget_init(&b, 30, 10000, 0);
	budget_carry(&b, &old);
	assert_int_equal(b.percent, 30);
	assert_int_equal(budget_left(&b, T0), 1);
	assert_int_equal(b.retries[RETRY_RESET], 2);
	assert_int_equal(b.retries[RETRY_CONNECT], 1);
	assert_int_equal(b.exhausted, 1);
	/* another window length: counters kept, the window starts empty */
	budget_init(&b, 20, 5000, 4);
	budget_carry(&b, &old);
	assert_int_equal(budget_left(&b, T0), 4);
	assert_int_equal(b.exhausted, 1);
}

static void test_reason_names(void **state)
{
	for (int i = 0; i < RETRY_REASON_COUNT; i++)
		assert_non_null(retry_reason_names[i]);
	assert_string_equal(retry_reason_names[RETRY_STATUS_5XX], "status_5xx");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quiet_pool_gets_min),
	    cmocka_unit_test(test_busy_pool_gets_percent),
	    cmocka_unit_test(test_zero_percent_refuses_every_charged_retry),
	    cmocka_unit_test(test_connect_retries_are_free),
	    cmocka_unit_test(test_window_slides),
	    cmocka_unit_test(test_stale_bucket_reused),
	    cmocka_unit_test(test_carry_over_reload),
	    cmocka_unit_test(test_reason_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
