/* Feeds: which events of the incident history become entries (opened, ops updates, resolved;
 * a planned maintenance's announcement, start and end), what never does (notes), the order
 * and the bound, per pool, the dates of both formats and the escaping; driven with a fake
 * wall clock and the store closed (incident.c in memory). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "health/poolstat.h"
#include "ops/feed.h"
#include "ops/incident.h"

#define S(x) ((int64_t)(x)*1000)

static int64_t now; /* the fake clock */
static char *text;  /* the last feed written */

static int setup(void **state)
{
	incident_reset();
	now = 1700000000000; /* 2023-11-14T22:13:20Z */
	return 0;
}

static int teardown(void **state)
{
	incident_reset();
	free(text);
	text = NULL;
	return 0;
}

/* The feed of POOL in F at the fake now, as a string; *UPDATED its newest entry's time. */
static const char *feed(enum feed_format f, const char *pool, int64_t *updated)
{
	struct evbuffer *b = evbuffer_new();
	int64_t u;

	assert_non_null(b);
	assert_int_equal(feed_write(b, f, pool, "https://status.example.com/", "status.example.com",
	                            now, updated != NULL ? updated : &u),
	                 0);
	free(text);
	text = calloc(1, evbuffer_get_length(b) + 1);
	assert_non_null(text);
	evbuffer_remove(b, text, evbuffer_get_length(b));
	evbuffer_free(b);
	return text;
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	for (const char *p = strstr(s, what); p != NULL; p = strstr(p + 1, what))
		n++;
	return n;
}

static int64_t planned(const char *title, int64_t start, int64_t end)
{
	struct incident_manual m = {.pool = "rpc",
	                            .title = title,
	                            .message = "n1 then n2",
	                            .severity = PS_OPERATIONAL,
	                            .planned_start = start,
	                            .planned_end = end};

	return incident_open_manual(&m, now);
}

static void test_maintenance_is_scheduled_starts_and_ends(void **state)
{
	struct incident_entry e;
	int64_t id = planned("Upgrade", now + S(60), now + S(3600));

	assert_int_equal(id, 1);
	feed(FEED_ATOM, NULL, NULL);
	assert_int_equal(count(text, "<entry>"), 1);
	assert_non_null(
	    strstr(text, "<title type=\"text\">Maintenance scheduled: Upgrade</title>"));
	assert_non_null(strstr(text, "<id>tag:status.example.com,2023-11-14:incident-1/"
	                             "maintenance_scheduled</id>"));
	assert_non_null(
	    strstr(text, "Planned window: 2023-11-14T22:14:20Z to 2023-11-14T23:13:20Z"));

	now += S(60); /* the window begins: an entry of its own, at its start */
	feed(FEED_ATOM, NULL, NULL);
	assert_int_equal(count(text, "<entry>"), 2);
	assert_non_null(strstr(text, "<title type=\"text\">Maintenance started: Upgrade</title>\n"
	                             "<updated>2023-11-14T22:14:20Z</updated>"));

	now += S(600); /* ops close it: one entry, in their words */
	assert_int_equal(incident_update(id, UPD_RESOLVED, "all nodes upgraded", 0, 0, now, &e), 0);
	int64_t updated;
	feed(FEED_RSS, NULL, &updated);
	assert_int_equal(updated, now);
	assert_int_equal(count(text, "<item>"), 3);
	assert_non_null(strstr(text, "<title>Maintenance completed: Upgrade</title>"));
	assert_non_null(strstr(text, "<description>all nodes upgraded&lt;br&gt;Affects: rpc"));
	assert_null(strstr(text, "resolved by ops"));
	assert_non_null(strstr(text, "<pubDate>Tue, 14 Nov 2023 22:24:20 GMT</pubDate>"));
	/* newest first */
	assert_true(strstr(text, "completed") < strstr(text, "started"));
	assert_true(strstr(text, "Maintenance started") < strstr(text, "Maintenance scheduled"));
}

static void test_notes_never_and_text_escaped(void **state)
{
	struct incident_manual m = {.title = "A <b>bold</b> & \"quoted\" 'title'\x01",
	                            .message = "bad byte \xff here",
	                            .severity = PS_DEGRADED};
	struct incident_entry e;
	int64_t id = incident_open_manual(&m, now);

	assert_int_equal(incident_add_note(id, "ann", "SECRET note", now + 1), 0);
	assert_int_equal(
	    incident_update(id, UPD_IDENTIFIED, "a <script> & more", now + S(3600), 0, now + 2, &e),
	    0);
	feed(FEED_ATOM, NULL, NULL);
	assert_null(strstr(text, "SECRET"));
	assert_int_equal(count(text, "<entry>"), 2);
	assert_non_null(strstr(text, "Incident: A &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; "
	                             "&#39;title&#39; </title>"));
	/* HTML content: escaped as HTML, then as XML */
	assert_non_null(strstr(text,
	                       "a &amp;lt;script&amp;gt; &amp;amp; more&lt;br&gt;Expected "
	                       "recovery: 2023-11-14T23:13:20Z&lt;br&gt;Affects: all services"));
	assert_non_null(strstr(text, "bad byte &#xfffd; here"));
	assert_null(strstr(text, "<script>"));
}

static void test_pool_feeds_and_the_bound(void **state)
{
	struct incident_manual other = {.pool = "other", .title = "Other pool", .severity = 1};
	struct incident_manual all = {.title = "Everything", .severity = 1};
	struct incident_entry e;

	assert_int_equal(incident_open_manual(&other, now), 1);
	now += S(1);
	assert_int_equal(incident_open_manual(&all, now), 2);
	feed(FEED_ATOM, "rpc", NULL);
	assert_int_equal(count(text, "<entry>"), 1);
	assert_non_null(strstr(text, "Everything"));
	assert_non_null(strstr(text, "href=\"https://status.example.com/pools/rpc/feed.atom\""));
	assert_non_null(strstr(text, "<id>tag:status.example.com,2026:pool-rpc/feed</id>"));
	feed(FEED_ATOM, "other", NULL);
	assert_int_equal(count(text, "<entry>"), 2);

	for (int i = 0; i < FEED_MAX_ENTRIES + 10; i++) {
		now += S(1);
		assert_int_equal(incident_update(1, UPD_MONITORING, "watching", 0, 0, now, &e), 0);
	}
	feed(FEED_RSS, NULL, NULL);
	assert_int_equal(count(text, "<item>"), FEED_MAX_ENTRIES);
	assert_null(strstr(text, "Incident: ")); /* both openings are older than the 50 updates */
	assert_non_null(strstr(text, "update-60</guid>"));
}

static void test_an_empty_feed_is_valid(void **state)
{
	int64_t updated = -1;

	feed(FEED_ATOM, NULL, &updated);
	assert_int_equal(updated, 0);
	assert_non_null(strstr(text, "<updated>2023-11-14T22:13:20Z</updated>")); /* first look */
	assert_non_null(strstr(text, "</feed>\n"));
	feed(FEED_RSS, NULL, NULL);
	assert_non_null(strstr(text, "</channel>\n</rss>\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_an_empty_feed_is_valid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_maintenance_is_scheduled_starts_and_ends, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_notes_never_and_text_escaped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pool_feeds_and_the_bound, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
