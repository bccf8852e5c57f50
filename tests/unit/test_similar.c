/* Similar past incidents: which match (pool, backend, verdict, causes), the 90-day window
 * on a fake clock, the median time to resolve, the most recent ones named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ops/similar.h"

#define MIN(x)  ((int64_t)(x)*60 * 1000)
#define DAYS(x) ((int64_t)(x)*24 * 3600 * 1000)

static const int64_t now = 1700000000000; /* the fake clock */

static struct incident past(int64_t id, const char *backend, const char *verdict, unsigned causes,
                            int64_t started, int64_t took)
{
	struct incident inc = {.id = id, .started = started, .open_causes = causes};

	snprintf(inc.pool, sizeof(inc.pool), "rpc");
	snprintf(inc.backend, sizeof(inc.backend), "%s", backend);
	snprintf(inc.verdict, sizeof(inc.verdict), "%s", verdict);
	inc.resolved = took >= 0 ? started + took : 0;
	return inc;
}

static void test_median(void **state)
{
	int64_t odd[] = {30, 10, 20}, even[] = {40, 10, 30, 20}, one[] = {7};

	(void)state;
	assert_int_equal(similar_median(odd, 3), 20);
	assert_int_equal(similar_median(even, 4), 25);
	assert_int_equal(similar_median(one, 1), 7);
	assert_int_equal(similar_median(NULL, 0), -1);
}

static void test_match_needs_pool_backend_verdict_and_causes(void **state)
{
	struct incident inc = past(10, "n2", "critical", 1u << 1, now, -1);
	struct incident same = past(1, "n2", "critical", 1u << 1, now - DAYS(1), MIN(5));
	struct incident other_backend = past(2, "n3", "critical", 1u << 1, now - DAYS(1), MIN(5));
	struct incident other_verdict = past(3, "n2", "warning", 1u << 1, now - DAYS(1), MIN(5));
	struct incident other_causes = past(4, "n2", "critical", 1u << 2, now - DAYS(1), MIN(5));
	struct incident other_pool = same, manual = same, self = inc, no_backend = inc;

	(void)state;
	snprintf(other_pool.pool, sizeof(other_pool.pool), "ws");
	manual.manual = true;
	no_backend.backend[0] = '\0';
	assert_true(similar_match(&inc, &same));
	assert_false(similar_match(&inc, &other_backend));
	assert_false(similar_match(&inc, &other_verdict));
	assert_false(similar_match(&inc, &other_causes));
	assert_false(similar_match(&inc, &other_pool));
	assert_false(similar_match(&inc, &manual));
	assert_false(similar_match(&inc, &self));
	assert_false(similar_match(&no_backend, &no_backend));
}

/* Five alike: one 91 days old (out of the window), one still open (counted, no time to
 * resolve), three resolved in 10, 30 and 20 minutes: median 20; another backend's never. */
static void test_find_counts_the_window_and_the_median(void **state)
{
	struct incident inc = past(20, "n2", "critical", 1u << 1, now, -1);
	struct incident p[] = {
	    past(1, "n2", "critical", 1u << 1, now - DAYS(91), MIN(1)),
	    past(2, "n2", "critical", 1u << 1, now - DAYS(60), MIN(10)),
	    past(3, "n2", "critical", 1u << 1, now - DAYS(30), MIN(30)),
	    past(4, "n3", "critical", 1u << 1, now - DAYS(2), MIN(1)),
	    past(5, "n2", "critical", 1u << 1, now - DAYS(3), MIN(20)),
	    past(6, "n2", "critical", 1u << 1, now - DAYS(1), -1),
	};
	const struct incident *ptr[7];
	struct similar s;

	(void)state;
	for (size_t i = 0; i < 6; i++)
		ptr[i] = &p[i];
	ptr[6] = &inc; /* itself among them: never counted */
	similar_find(&inc, ptr, 7, now, &s);
	assert_int_equal(s.count, 4);
	assert_int_equal(s.resolved, 3);
	assert_int_equal(s.median_ms, MIN(20));
	assert_int_equal(s.n_ids, 4);
	assert_int_equal(s.ids[0], 6); /* the most recent first */
	assert_int_equal(s.ids[1], 5);
	assert_int_equal(s.ids[2], 3);
	assert_int_equal(s.ids[3], 2);

	/* the clock moves 31 days on: the 60-day-old one drops out of the window */
	similar_find(&inc, ptr, 7, now + DAYS(31), &s);
	assert_int_equal(s.count, 3);
	assert_int_equal(s.median_ms, (MIN(30) + MIN(20)) / 2);
}

/* None alike: a count of 0 and no median. More than SIMILAR_IDS_MAX: the newest named. */
static void test_none_and_many(void **state)
{
	struct incident inc = past(100, "n2", "critical", 0, now, -1);
	struct incident p[8];
	const struct incident *ptr[8];
	struct similar s;

	(void)state;
	similar_find(&inc, ptr, 0, now, &s);
	assert_int_equal(s.count, 0);
	assert_int_equal(s.median_ms, -1);
	assert_int_equal(s.n_ids, 0);
	for (int i = 0; i < 8; i++) {
		p[i] = past(i + 1, "n2", "critical", 0, now - DAYS(8 - i), MIN(i + 1));
		ptr[i] = &p[i];
	}
	similar_find(&inc, ptr, 8, now, &s);
	assert_int_equal(s.count, 8);
	assert_int_equal(s.n_ids, SIMILAR_IDS_MAX);
	assert_int_equal(s.ids[0], 8);
	assert_int_equal(s.ids[SIMILAR_IDS_MAX - 1], 4);
	assert_int_equal(s.median_ms, (MIN(4) + MIN(5)) / 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_median),
	    cmocka_unit_test(test_match_needs_pool_backend_verdict_and_causes),
	    cmocka_unit_test(test_find_counts_the_window_and_the_median),
	    cmocka_unit_test(test_none_and_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
