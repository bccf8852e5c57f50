/* Mirrors and feeds, the pure parts: the retry backoff of a failed push (doubled, capped at
 * the interval), the object URLs of an s3:// mirror (path style, with or without a prefix,
 * AWS's endpoint when none is set), and the tag: authority of the feeds' ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ops/feed.h"
#include "ops/mirror.h"

static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(mirror_backoff(1000, 1, 60000), 1000);
	assert_int_equal(mirror_backoff(1000, 2, 60000), 2000);
	assert_int_equal(mirror_backoff(1000, 4, 60000), 8000);
	assert_int_equal(mirror_backoff(1000, 7, 60000), 60000); /* 64 s: the interval caps it */
	assert_int_equal(mirror_backoff(1000, 1000, 60000), 60000);
	assert_int_equal(mirror_backoff(5000, 1, 200), 200); /* never past the interval */
}

static void test_s3_url(void **state)
{
	char buf[256];

	(void)state;
	assert_int_equal(mirror_s3_url("s3://status/copy", "http://127.0.0.1:9000", "us-east-1",
	                               "index.html", buf, sizeof(buf)),
	                 0);
	assert_string_equal(buf, "http://127.0.0.1:9000/status/copy/index.html");
	assert_int_equal(mirror_s3_url("s3://status/a/b/", "http://h:1/", "x",
	                               "pools/rpc/feed.atom", buf, sizeof(buf)),
	                 0);
	assert_string_equal(buf, "http://h:1/status/a/b/pools/rpc/feed.atom");
	assert_int_equal(
	    mirror_s3_url("s3://status", NULL, "eu-west-1", "feed.rss", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "https://s3.eu-west-1.amazonaws.com/status/feed.rss");
	assert_int_equal(mirror_s3_url("s3://status/", NULL, "eu-west-1", "", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "https://s3.eu-west-1.amazonaws.com/status/");
	assert_int_equal(mirror_s3_url("s3:///x", NULL, "r", "a", buf, sizeof(buf)), -1);
	assert_int_equal(mirror_s3_url("http://x/y", NULL, "r", "a", buf, sizeof(buf)), -1);
	assert_int_equal(mirror_s3_url("s3://b/p", NULL, "r", "index.html", buf, 20), -1);
}

static void test_authority(void **state)
{
	char buf[128];

	(void)state;
	feed_authority("https://Status.Example.com/", buf, sizeof(buf));
	assert_string_equal(buf, "status.example.com");
	feed_authority("http://status.example.com:8080/page", buf, sizeof(buf));
	assert_string_equal(buf, "status.example.com");
	feed_authority("https://user@status.example.com", buf, sizeof(buf));
	assert_string_equal(buf, "status.example.com");
	feed_authority("http://[::1]:8404/", buf, sizeof(buf)); /* not a DNS name */
	assert_string_equal(buf, "localhost");
	feed_authority(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "localhost");
	feed_authority("not a url", buf, sizeof(buf));
	assert_string_equal(buf, "localhost");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_s3_url),
	    cmocka_unit_test(test_authority),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
