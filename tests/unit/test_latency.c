/* Recent response times and the hung-node bound, with a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proxy/latency.h"

/* N answers of US microseconds each during the window starting at AT (ms). */
static void answers(struct latency *l, unsigned n, uint64_t us, uint64_t at)
{
	for (unsigned i = 0; i < n; i++)
		latency_add(l, us, at + i % LATENCY_WINDOW_MS);
}

static void test_no_p99_before_a_full_window(void **state)
{
	struct latency l = {0};

	answers(&l, 500, 2000, 10000);
	assert_int_equal(latency_p99(&l, 10500), 0); /* the window is not over */
	/* unknown p99: the bound is the floor */
	assert_int_equal(latency_bound(&l, 8, 1000, 30000, 10500), 1000);
	assert_in_range(latency_p99(&l, 11000), 2000, 2000 * 5 / 4); /* read high, one bucket */
}

static void test_p99_of_a_mix(void **state)
{
	struct latency l = {0};

	answers(&l, 980, 1000, 0); /* 1 ms */
	answers(&l, 20, 50000, 0); /* 50 ms: the slowest 2% */
	uint64_t p99 = latency_p99(&l, 1000);
	assert_in_range(p99, 50000, 50000 * 5 / 4);
	answers(&l, 995, 1000, 1000);
	answers(&l, 5, 50000, 1000); /* 0.5% slow: p99 is the fast ones */
	assert_in_range(latency_p99(&l, 2000), 1000, 1250);
}

static void test_quiet_window_keeps_the_last_p99(void **state)
{
	struct latency l = {0};

	answers(&l, 100, 4000, 0);
	assert_in_range(latency_p99(&l, 1000), 4000, 5000);
	answers(&l, LATENCY_MIN_SAMPLES - 1, 900000, 1000); /* too few to trust */
	assert_in_range(latency_p99(&l, 5000), 4000, 5000);
}

static void test_bound_factor_floor_ceiling_and_off(void **state)
{
	struct latency l = {0};

	answers(&l, 100, 200000, 0); /* p99 200 ms */
	latency_p99(&l, 1000);
	uint64_t b = latency_bound(&l, 8, 1000, 30000, 1000);
	assert_in_range(b, 1600, 2000); /* 8 x p99 */
	struct latency none = {0};
	assert_int_equal(latency_bound(&none, 8, 5000, 30000, 1000), 5000);  /* no p99: quiet */
	assert_int_equal(latency_bound(&l, 1000, 1000, 30000, 1000), 30000); /* the ceiling */
	assert_int_equal(latency_bound(&l, 0, 1000, 30000, 1000), 30000);    /* off */
	answers(&l, 100, 100, 1000); /* p99 100 us: the floor */
	assert_int_equal(latency_bound(&l, 8, 1000, 30000, 2000), LATENCY_BOUND_MIN_MS);
}

static void test_extremes_fit_the_buckets(void **state)
{
	struct latency l = {0};

	answers(&l, 50, 0, 0);
	answers(&l, 50, UINT64_MAX / 4, 0);
	assert_true(latency_p99(&l, 1000) > 1000000000ULL);
}

/* Workers share a pool's figures: one whose clock reading is a little older than another's
 * (read at the start of its callback) adds to the current window, never rolls it back. */
static void test_an_older_reading_does_not_roll_the_window_back(void **state)
{
	struct latency l = {0};

	answers(&l, 100, 1000, 0);
	answers(&l, 99, 30000, 1000); /* the next window begins */
	latency_add(&l, 30000, 999);  /* late, from a reading of the last one */
	assert_in_range(latency_p99(&l, 1000), 1000, 1250); /* the first window's p99 stands */
	assert_in_range(latency_p99(&l, 2000), 30000, 30000 * 5 / 4); /* 100 answers, not 1 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_p99_before_a_full_window),
	    cmocka_unit_test(test_p99_of_a_mix),
	    cmocka_unit_test(test_quiet_window_keeps_the_last_p99),
	    cmocka_unit_test(test_bound_factor_floor_ceiling_and_off),
	    cmocka_unit_test(test_extremes_fit_the_buckets),
	    cmocka_unit_test(test_an_older_reading_does_not_roll_the_window_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
