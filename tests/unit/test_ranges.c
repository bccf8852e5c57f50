/* Ledger range sets: rippled's complete_ledgers parsed, merged, bounded, and covered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/ranges.h"

static struct ranges parse_ok(const char *s)
{
	struct ranges set;
	char err[128];

	assert_int_equal(ranges_parse(s, &set, err, sizeof(err)), 0);
	return set;
}

static void assert_range(const struct ranges *set, unsigned i, uint32_t lo, uint32_t hi)
{
	assert_true(i < set->n);
	assert_int_equal(set->r[i].lo, lo);
	assert_int_equal(set->r[i].hi, hi);
}

static void test_rippled_forms(void **state)
{
	struct ranges full = parse_ok("32570-62000000,62000010-62000100");
	struct ranges one = parse_ok("5");
	struct ranges none = parse_ok("empty");

	assert_int_equal(full.n, 2);
	assert_range(&full, 0, 32570, 62000000);
	assert_range(&full, 1, 62000010, 62000100);
	assert_int_equal(one.n, 1);
	assert_range(&one, 0, 5, 5);
	assert_int_equal(none.n, 0);
	assert_false(ranges_cover(&none, 5, 5));
}

static void test_cover(void **state)
{
	struct ranges s = parse_ok("32570-62000000,62000010-62000100");

	assert_true(ranges_cover(&s, 32570, 32570));
	assert_true(ranges_cover(&s, 32570, 62000000));
	assert_true(ranges_cover(&s, 62000050, 62000100));
	assert_false(ranges_cover(&s, 32569, 32569));
	assert_false(ranges_cover(&s, 62000001, 62000001)); /* the gap */
	assert_false(ranges_cover(&s, 61999999, 62000011)); /* spans the gap */
	assert_false(ranges_cover(&s, 62000101, 62000101));
	assert_false(ranges_cover(&s, 40000, 30000)); /* lo > hi */
}

static void test_unsorted_overlapping_adjacent_merge(void **state)
{
	struct ranges s = parse_ok("100-200,5,150-300,1-4,301,400-400,0");

	assert_int_equal(s.n, 3);
	assert_range(&s, 0, 0, 5);
	assert_range(&s, 1, 100, 301);
	assert_range(&s, 2, 400, 400);
	assert_true(ranges_cover(&s, 0, 5));
	assert_true(ranges_cover(&s, 100, 301));
	assert_false(ranges_cover(&s, 5, 100));
	/* one range bridging all the others */
	s = parse_ok("10-20,30-40,50-60,15-55");
	assert_int_equal(s.n, 1);
	assert_range(&s, 0, 10, 60);
}

static void test_extremes(void **state)
{
	struct ranges s = parse_ok("0-4294967295");

	assert_int_equal(s.n, 1);
	assert_true(ranges_cover(&s, 0, UINT32_MAX));
	s = parse_ok("4294967295,0");
	assert_int_equal(s.n, 2);
	assert_range(&s, 0, 0, 0);
	assert_range(&s, 1, UINT32_MAX, UINT32_MAX);
	s = parse_ok("4294967294,4294967295");
	assert_int_equal(s.n, 1);
	assert_range(&s, 0, 4294967294u, UINT32_MAX);
	s = parse_ok("00012-0013");
	assert_range(&s, 0, 12, 13);
}

static void test_malformed(void **state)
{
	const char *bad[] = {
	    "",     "Empty", "empty,5", "5,",         ",5",           "1-",
	    "-1",   "5-4",   "1--2",    "1-2-3",      "1 - 2",        " 1-2",
	    "1-2 ", "a",     "1,,2",    "4294967296", "1-4294967296", "99999999999999999999999",
	    "+5",   "0x10"};
	struct ranges s;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&s, 0xa5, sizeof(s));
		err[0] = '\0';
		if (ranges_parse(bad[i], &s, err, sizeof(err)) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(s.n, 0);
		assert_non_null(strstr(err, "expected"));
	}
}

/* Past RANGES_MAX, the highest ranges stay and nothing unlisted is claimed. */
static void test_bounded_keeps_highest(void **state)
{
	char buf[4096];
	size_t len = 0;
	unsigned total = RANGES_MAX + 8;
	struct ranges s;

	for (unsigned i = 0; i < total; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%u-%u", i ? "," : "",
		                        i * 100, i * 100 + 50);
	s = parse_ok(buf);
	assert_int_equal(s.n, RANGES_MAX);
	assert_int_equal(s.dropped, 8);
	assert_range(&s, 0, 800, 850);
	assert_range(&s, RANGES_MAX - 1, (total - 1) * 100, (total - 1) * 100 + 50);
	assert_false(ranges_cover(&s, 0, 0));
	assert_false(ranges_cover(&s, 851, 851));
	/* the same ranges, highest first: the same result */
	len = 0;
	for (unsigned i = total; i-- > 0;)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%u-%u",
		                        i != total - 1 ? "," : "", i * 100, i * 100 + 50);
	struct ranges r = parse_ok(buf);
	assert_int_equal(r.n, RANGES_MAX);
	assert_memory_equal(r.r, s.r, sizeof(s.r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rippled_forms),
	    cmocka_unit_test(test_cover),
	    cmocka_unit_test(test_unsorted_overlapping_adjacent_merge),
	    cmocka_unit_test(test_extremes),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_bounded_keeps_highest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
