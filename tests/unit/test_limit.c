/* Per-client limits: addresses, CIDR lists, the token bucket on a fake clock, connection
 * counts, and the bounded client table's eviction order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "proxy/limit.h"

static struct limit_addr A(const char *text) {
	struct limit_addr a;

	assert_true(limit_addr_parse(text, strlen(text), &a));
	return a;
}

static struct limit_cidrs *
cidrs(const char *text)
{
	struct limit_cidrs *l = NULL;
	char err[256] = "";

	if (limit_cidrs_parse(text, &l, err, sizeof(err)) < 0)
		fail_msg("%s: %s", text, err);
	return l;
}

static bool in(const char *list, const char *addr)
{
	struct limit_cidrs *l = cidrs(list);
	struct limit_addr a = A(addr);
	bool r = limit_cidrs_match(l, &a);

	limit_cidrs_free(l);
	return r;
}

static void test_addr_forms(void **state)
{
	struct limit_addr a;
	char buf[LIMIT_ADDR_TEXT];
	const char *same_v4[] = {"192.0.2.1", "192.0.2.1:4711", "::ffff:192.0.2.1",
	                         "[::ffff:192.0.2.1]:80"};
	const char *bad[] = {"",     "unknown", "192.0.2",     "192.0.2.1:", "192.0.2.1:x",
	                     "[::1", "[::1]x",  "[192.0.2.1]", "_hidden",    "2001:db8::1:80:"};

	for (size_t i = 0; i < sizeof(same_v4) / sizeof(same_v4[0]); i++) {
		a = A(same_v4[i]);
		assert_true(limit_addr_is_v4(&a));
		limit_addr_format(&a, buf, sizeof(buf));
		assert_string_equal(buf, "192.0.2.1");
	}
	a = A("[2001:db8::1]:443");
	assert_false(limit_addr_is_v4(&a));
	limit_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(limit_addr_parse(bad[i], strlen(bad[i]), &a));
	/* only LEN bytes count */
	assert_true(limit_addr_parse("10.0.0.1, 10.0.0.2", 8, &a));
	limit_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.1");
	/* every width of octet, as inet_ntop writes them */
	const char *v4[] = {"0.0.0.0", "255.255.255.255", "10.0.100.9", "1.22.103.240"};
	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		a = A(v4[i]);
		limit_addr_format(&a, buf, sizeof(buf));
		assert_string_equal(buf, v4[i]);
	}
	char tiny[8] = "x"; /* too short for any IPv4 address: left empty */
	limit_addr_format(&a, tiny, sizeof(tiny));
	assert_string_equal(tiny, "");
}

static void test_addr_from_sockaddr(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
	struct sockaddr sun = {.sa_family = AF_UNIX};
	struct limit_addr a, b;

	inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &sin6.sin6_addr);
	assert_true(limit_addr_from_sockaddr((struct sockaddr *)&sin, &a));
	assert_true(limit_addr_from_sockaddr((struct sockaddr *)&sin6, &b));
	assert_memory_equal(a.b, b.b, 16); /* a dual-stack socket's peer is the same client */
	assert_false(limit_addr_from_sockaddr(&sun, &a));
}

static void test_cidr_match(void **state)
{
	assert_true(in("127.0.0.0/8, ::1, 10.1.2.3", "127.9.9.9"));
	assert_true(in("127.0.0.0/8, ::1, 10.1.2.3", "::1"));
	assert_true(in("127.0.0.0/8, ::1, 10.1.2.3", "10.1.2.3"));
	assert_false(in("127.0.0.0/8, ::1, 10.1.2.3", "10.1.2.4"));
	assert_false(in("127.0.0.0/8, ::1, 10.1.2.3", "128.0.0.1"));
	assert_false(in("127.0.0.0/8, ::1, 10.1.2.3", "::2"));
	/* IPv4-mapped peers match IPv4 entries, and the other way round */
	assert_true(in("192.168.0.0/16", "::ffff:192.168.7.7"));
	assert_true(in("::ffff:192.168.0.0/112", "192.168.7.7"));
	/* prefixes that end inside a byte */
	assert_true(in("172.16.0.0/12", "172.31.255.255"));
	assert_false(in("172.16.0.0/12", "172.32.0.0"));
	assert_true(in("2001:db8::/33", "2001:db8:7fff::1"));
	assert_false(in("2001:db8::/33", "2001:db8:8000::1"));
	/* /0: everything of its family */
	assert_true(in("0.0.0.0/0", "203.0.113.5"));
	assert_false(in("0.0.0.0/0", "2001:db8::1"));
	assert_true(in("::/0", "2001:db8::1"));
	/* an IPv4 entry never matches a plain IPv6 peer */
	assert_false(in("0.0.0.0/0", "::"));
}

static void test_cidr_empty(void **state)
{
	struct limit_addr a = A("10.0.0.1");
	struct limit_cidrs *l = cidrs(NULL);

	assert_false(limit_cidrs_match(l, &a));
	limit_cidrs_free(l);
	l = cidrs("  ");
	assert_false(limit_cidrs_match(l, &a));
	limit_cidrs_free(l);
	assert_false(limit_cidrs_match(NULL, &a));
}

static void test_cidr_bad(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
	    {"10.0.0.0/8,,::1", "empty entry (expected addresses or networks, comma separated)"},
	    {"10.0.0.0/8,", "empty entry"},
	    {"localhost", "bad address \"localhost\" (expected addresses or networks "
	                  "ADDRESS/PREFIX, comma separated, like 10.0.0.0/8, 192.0.2.7, ::1, "
	                  "2001:db8::/32)"},
	    {"10.0.0/8", "bad address \"10.0.0/8\""},
	    {"10.0.0.0/33", "bad IPv4 prefix (over 32) in \"10.0.0.0/33\""},
	    {"::/129", "bad IPv6 prefix (over 128) in \"::/129\""},
	    {"10.0.0.0/", "bad prefix length in \"10.0.0.0/\""},
	    {"10.0.0.0/8x", "bad prefix length in \"10.0.0.0/8x\""},
	    {"10.0.0.0/-8", "bad prefix length in"},
	    {"10.1.2.3/8", "bad network (bits set after the prefix) \"10.1.2.3/8\""},
	    {"2001:db8::1/32", "bad network (bits set after the prefix)"},
	    {"10.0.0.1 10.0.0.2", "bad address \"10.0.0.1 10.0.0.2\""},
	    {"/8", "bad address \"/8\""},
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct limit_cidrs *l = (struct limit_cidrs *)1;
		err[0] = '\0';
		assert_int_equal(limit_cidrs_parse(cases[i].text, &l, err, sizeof(err)), -1);
		assert_null(l);
		if (strstr(err, cases[i].err) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].text, err, cases[i].err);
		assert_non_null(strstr(err, "(expected"));
	}
}

static void test_bucket_burst_and_refill(void **state)
{
	struct limit_table *t = limit_table_new(16, 42);
	struct limit_addr a = A("10.0.0.1");
	uint64_t retry, now = 1000;

	/* rate 2/s, burst 3: three at once, then one per 500 ms */
	for (int i = 0; i < 3; i++)
		assert_true(limit_take(t, &a, 2, 3, now, &retry));
	assert_false(limit_take(t, &a, 2, 3, now, &retry));
	assert_int_equal(retry, 500);
	assert_false(limit_take(t, &a, 2, 3, now + 200, &retry));
	assert_int_equal(retry, 300);
	assert_true(limit_take(t, &a, 2, 3, now + 500, &retry));
	assert_false(limit_take(t, &a, 2, 3, now + 500, &retry));
	/* a long pause fills the bucket to the burst, not beyond */
	now += 3600 * 1000;
	for (int i = 0; i < 3; i++)
		assert_true(limit_take(t, &a, 2, 3, now, &retry));
	assert_false(limit_take(t, &a, 2, 3, now, &retry));
	assert_int_equal(limit_table_counters(t).limited[LIMIT_RATE], 4);
	assert_int_equal(limit_table_counters(t).limited[LIMIT_CONNS], 0);
	limit_table_free(t);
}

static void test_bucket_defaults_and_edges(void **state)
{
	struct limit_table *t = limit_table_new(16, 1);
	struct limit_addr a = A("10.0.0.1"), b = A("10.0.0.2");
	uint64_t retry = 99;

	/* rate 0: off, nothing tracked */
	assert_true(limit_take(t, &a, 0, 0, 0, &retry));
	assert_int_equal(retry, 0);
	assert_int_equal(limit_table_counters(t).tracked, 0);
	/* burst 0 is the rate: 5 at once */
	for (int i = 0; i < 5; i++)
		assert_true(limit_take(t, &a, 5, 0, 10, &retry));
	assert_false(limit_take(t, &a, 5, 0, 10, &retry));
	assert_int_equal(retry, 200);
	/* a clock that goes back refills nothing and breaks nothing */
	assert_false(limit_take(t, &a, 5, 0, 5, &retry));
	assert_true(limit_take(t, &a, 5, 0, 210, &retry));
	/* a fast rate still says at least 1 ms */
	for (int i = 0; i < 5000; i++)
		assert_true(limit_take(t, &b, 5000, 5000, 0, &retry));
	assert_false(limit_take(t, &b, 5000, 5000, 0, &retry));
	assert_int_equal(retry, 1);
	/* a lowered burst caps a full bucket */
	assert_true(limit_take(t, &b, 5000, 1, 100000, &retry));
	assert_false(limit_take(t, &b, 5000, 1, 100000, &retry));
	limit_table_free(t);
}

static void test_clients_are_separate(void **state)
{
	struct limit_table *t = limit_table_new(16, 7);
	struct limit_addr a = A("127.0.0.2"), b = A("127.0.0.3");
	uint64_t retry;

	assert_true(limit_take(t, &a, 1, 1, 0, &retry));
	assert_false(limit_take(t, &a, 1, 1, 0, &retry));
	assert_true(limit_take(t, &b, 1, 1, 0, &retry));
	assert_int_equal(limit_table_counters(t).tracked, 2);
	limit_table_free(t);
}

static void test_conn_counts(void **state)
{
	struct limit_table *t = limit_table_new(16, 7);
	struct limit_addr a = A("10.0.0.1"), b = A("10.0.0.2");

	assert_true(limit_conn_open(t, &a, 2));
	assert_true(limit_conn_open(t, &a, 2));
	assert_false(limit_conn_open(t, &a, 2));
	assert_true(limit_conn_open(t, &b, 2));
	limit_conn_close(t, &a);
	assert_true(limit_conn_open(t, &a, 2));
	assert_false(limit_conn_open(t, &a, 2));
	assert_int_equal(limit_table_counters(t).limited[LIMIT_CONNS], 2);
	/* 0: no limit, still counted */
	for (int i = 0; i < 100; i++)
		assert_true(limit_conn_open(t, &b, 0));
	assert_false(limit_conn_open(t, &b, 101));
	/* closing what was never opened, or too often, is ignored */
	struct limit_addr c = A("10.0.0.3");
	limit_conn_close(t, &c);
	limit_table_free(t);
}

/* The table keeps at most MAX clients; the least recently seen idle one goes first. */
static void test_eviction_order(void **state)
{
	struct limit_table *t = limit_table_new(3, 9);
	struct limit_addr a = A("10.0.0.1"), b = A("10.0.0.2"), c = A("10.0.0.3"),
	                  d = A("10.0.0.4");
	uint64_t retry;

	assert_true(limit_take(t, &a, 1, 1, 0, &retry)); /* each empties its bucket */
	assert_true(limit_take(t, &b, 1, 1, 0, &retry));
	assert_true(limit_take(t, &c, 1, 1, 0, &retry));
	assert_false(limit_take(t, &a, 1, 1, 0, &retry)); /* a seen again: b is the oldest */
	assert_true(limit_take(t, &d, 1, 1, 0, &retry));  /* evicts b */
	assert_int_equal(limit_table_counters(t).tracked, 3);
	assert_int_equal(limit_table_counters(t).evictions, 1);
	assert_true(limit_take(t, &b, 1, 1, 0, &retry));  /* b forgotten: a full bucket; evicts c */
	assert_false(limit_take(t, &a, 1, 1, 0, &retry)); /* a remembered */
	assert_false(limit_take(t, &d, 1, 1, 0, &retry)); /* d remembered */
	assert_true(limit_take(t, &c, 1, 1, 0, &retry));  /* c was forgotten */
	assert_int_equal(limit_table_counters(t).evictions, 3);
	assert_int_equal(limit_table_counters(t).evicted_busy, 0);
	limit_table_free(t);
}

/* Clients with open connections are kept while idle ones can go: their counts survive. */
static void test_eviction_spares_connections(void **state)
{
	struct limit_table *t = limit_table_new(2, 9);
	struct limit_addr a = A("10.0.0.1"), b = A("10.0.0.2"), c = A("10.0.0.3");
	uint64_t retry;

	assert_true(limit_conn_open(t, &a, 1)); /* a: oldest, but busy */
	assert_true(limit_take(t, &b, 1, 1, 1, &retry));
	assert_true(limit_take(t, &c, 1, 1, 2, &retry)); /* evicts b, not a */
	assert_false(limit_conn_open(t, &a, 1));         /* a's count survived */
	assert_true(limit_take(t, &b, 1, 1, 4, &retry)); /* b is new again; evicts c */
	assert_false(limit_take(t, &b, 1, 1, 4, &retry));
	assert_int_equal(limit_table_counters(t).evicted_busy, 0);
	/* all busy: the least recently seen busy one goes, and the loss is counted */
	assert_true(limit_conn_open(t, &b, 1));
	assert_true(limit_conn_open(t, &c, 1)); /* evicts a */
	assert_int_equal(limit_table_counters(t).evicted_busy, 1);
	assert_true(limit_conn_open(t, &a, 1)); /* a starts over (evicts b) */
	limit_conn_close(t, &b);                /* b was forgotten: ignored */
	/* a closed connection makes its client idle, and the freshest idle one */
	limit_conn_close(t, &a);
	assert_false(limit_conn_open(t, &c, 1));
	assert_int_equal(limit_table_counters(t).tracked, 2);
	limit_table_free(t);
}

static void test_resize(void **state)
{
	struct limit_table *t = limit_table_new(100, 3);
	char text[32];
	uint64_t retry;

	for (int i = 0; i < 100; i++) {
		snprintf(text, sizeof(text), "10.0.%d.%d", i / 256, i % 256);
		struct limit_addr a = A(text);
		assert_true(limit_take(t, &a, 1, 1, 0, &retry));
	}
	assert_int_equal(limit_table_resize(t, 10), 0);
	assert_int_equal(limit_table_counters(t).tracked, 10);
	/* the 10 most recent stay, with their empty buckets */
	for (int i = 90; i < 100; i++) {
		snprintf(text, sizeof(text), "10.0.%d.%d", i / 256, i % 256);
		struct limit_addr a = A(text);
		assert_false(limit_take(t, &a, 1, 1, 0, &retry));
	}
	assert_int_equal(limit_table_resize(t, 5000), 0);
	for (int i = 90; i < 100; i++) {
		snprintf(text, sizeof(text), "10.0.%d.%d", i / 256, i % 256);
		struct limit_addr a = A(text);
		assert_false(limit_take(t, &a, 1, 1, 0, &retry));
	}
	assert_int_equal(limit_table_counters(t).tracked, 10);
	limit_table_free(t);
}

/* Many clients through a small table: bounded, and every lookup still finds its own. */
static void test_many_clients(void **state)
{
	struct limit_table *t = limit_table_new(1000, 12345);
	char text[64];
	uint64_t retry;

	for (int i = 0; i < 20000; i++) {
		snprintf(text, sizeof(text), "2001:db8::%x:%x", i / 65536, i % 65536);
		struct limit_addr a = A(text);
		assert_true(limit_take(t, &a, 1, 1, (uint64_t)i, &retry));
		assert_false(limit_take(t, &a, 1, 1, (uint64_t)i, &retry));
	}
	assert_int_equal(limit_table_counters(t).tracked, 1000);
	assert_int_equal(limit_table_counters(t).evictions, 19000);
	limit_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addr_forms),
	    cmocka_unit_test(test_addr_from_sockaddr),
	    cmocka_unit_test(test_cidr_match),
	    cmocka_unit_test(test_cidr_empty),
	    cmocka_unit_test(test_cidr_bad),
	    cmocka_unit_test(test_bucket_burst_and_refill),
	    cmocka_unit_test(test_bucket_defaults_and_edges),
	    cmocka_unit_test(test_clients_are_separate),
	    cmocka_unit_test(test_conn_counts),
	    cmocka_unit_test(test_eviction_order),
	    cmocka_unit_test(test_eviction_spares_connections),
	    cmocka_unit_test(test_resize),
	    cmocka_unit_test(test_many_clients),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
