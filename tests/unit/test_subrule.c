/* The rules of subscriptions: one-time tokens kept as hashes and their expiry on a fake
 * clock, the per-address and global rate limits of confirmation mail, addresses and webhook
 * URLs, pool lists, unsubscribe tokens; and the words (subtext.c) rendered from the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ops/subrule.h"
#include "ops/subtext.h"
#include "ops/words.h"

#define MIN(x) ((uint64_t)(x)*60 * 1000)

static const int64_t wall = 1700000000000; /* the fake wall clock */

static void test_token_kept_as_hash_expires(void **state)
{
	char t[SUBRULE_TOKEN_HEX + 1], u[SUBRULE_TOKEN_HEX + 1], hash[65];
	int64_t expires = wall + (int64_t)MIN(60);

	(void)state;
	assert_int_equal(subrule_token_new(t), 0);
	assert_int_equal(subrule_token_new(u), 0);
	assert_int_equal(strlen(t), SUBRULE_TOKEN_HEX);
	assert_string_not_equal(t, u);
	subrule_hash(t, hash);
	assert_int_equal(strlen(hash), 64);
	assert_string_not_equal(hash, t); /* what is kept is not the token */
	assert_int_equal(subrule_token_check(hash, expires, t, wall), SRC_OK);
	assert_int_equal(subrule_token_check(hash, expires, t, expires - 1), SRC_OK);
	assert_int_equal(subrule_token_check(hash, expires, t, expires), SRC_EXPIRED);
	assert_int_equal(subrule_token_check(hash, expires, u, wall), SRC_WRONG);
	assert_int_equal(subrule_token_check(hash, expires, "", wall), SRC_WRONG);
	assert_int_equal(subrule_token_check(hash, expires, NULL, wall), SRC_WRONG);
	assert_int_equal(subrule_token_check("", expires, t, wall), SRC_WRONG);
	t[0] = t[0] == 'A' ? 'B' : 'A'; /* not lower-case hex */
	assert_int_equal(subrule_token_check(hash, expires, t, wall), SRC_WRONG);
}

static void test_per_address_limit_and_window(void **state)
{
	static struct subrule_limits l;
	uint64_t now = 1000;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(subrule_limit_take(&l, "a@x.org", 2, MIN(60), 1000, now), SRL_SENT);
	assert_int_equal(subrule_limit_take(&l, "a@x.org", 2, MIN(60), 1000, now + 1), SRL_SENT);
	assert_int_equal(subrule_limit_take(&l, "a@x.org", 2, MIN(60), 1000, now + 2), SRL_ADDRESS);
	/* another address is not held back by this one */
	assert_int_equal(subrule_limit_take(&l, "b@x.org", 2, MIN(60), 1000, now + 3), SRL_SENT);
	/* still limited just before the window ends, free again after */
	assert_int_equal(subrule_limit_take(&l, "a@x.org", 2, MIN(60), 1000, now + MIN(60) - 1),
	                 SRL_ADDRESS);
	assert_int_equal(subrule_limit_take(&l, "a@x.org", 2, MIN(60), 1000, now + MIN(60)),
	                 SRL_SENT);
}

static void test_global_limit_refills(void **state)
{
	static struct subrule_limits l;
	char a[32];
	uint64_t now = 5000;

	(void)state;
	memset(&l, 0, sizeof(l));
	for (int i = 0; i < 3; i++) {
		snprintf(a, sizeof(a), "u%d@x.org", i);
		assert_int_equal(subrule_limit_take(&l, a, 5, MIN(60), 3, now), SRL_SENT);
	}
	assert_int_equal(subrule_limit_take(&l, "late@x.org", 5, MIN(60), 3, now), SRL_GLOBAL);
	/* a refused mail does not count against its address */
	assert_int_equal(subrule_limit_take(&l, "late@x.org", 1, MIN(60), 3, now + 20000),
	                 SRL_SENT);
	assert_int_equal(subrule_limit_take(&l, "late2@x.org", 1, MIN(60), 3, now + 20000),
	                 SRL_GLOBAL);
}

static void test_limit_table_is_bounded(void **state)
{
	static struct subrule_limits l;
	char a[32];

	(void)state;
	memset(&l, 0, sizeof(l));
	for (unsigned i = 0; i < SUBRULE_KEYS + 10; i++) {
		snprintf(a, sizeof(a), "u%u@x.org", i);
		assert_int_equal(subrule_limit_take(&l, a, 1, MIN(60), 100000, 10 + i), SRL_SENT);
	}
	assert_int_equal(l.evicted, 10);
	/* the newest are remembered */
	snprintf(a, sizeof(a), "u%u@x.org", SUBRULE_KEYS + 9);
	assert_int_equal(subrule_limit_take(&l, a, 1, MIN(60), 100000, 100000), SRL_ADDRESS);
}

static void test_addresses_and_urls(void **state)
{
	char n[SUBRULE_ADDR_MAX + 1], tag[SUBRULE_TAG_HEX + 1];

	(void)state;
	assert_true(subrule_email_ok("reader@example.org"));
	assert_true(subrule_email_ok("a.b+c@mail.example.co.jp"));
	assert_false(subrule_email_ok("reader"));
	assert_false(subrule_email_ok("@example.org"));
	assert_false(subrule_email_ok("a@b@example.org"));
	assert_false(subrule_email_ok("a@localhost"));
	assert_false(subrule_email_ok("a b@example.org"));
	assert_false(subrule_email_ok("a@example.org\r\nBcc: x@y.org"));
	assert_false(subrule_email_ok("<a@example.org>"));
	assert_false(subrule_email_ok("a@.example.org"));
	assert_false(subrule_email_ok("a@example..org"));
	subrule_email_norm("  Reader@Example.ORG \r\n", n, sizeof(n));
	assert_string_equal(n, "Reader@example.org");
	subrule_tag(n, tag);
	assert_int_equal(strlen(tag), SUBRULE_TAG_HEX);
	assert_null(strstr(tag, "example"));

	assert_true(subrule_url_ok("http://127.0.0.1:8080/hook"));
	assert_true(subrule_url_ok("https://hooks.example.org/x?y=1"));
	assert_false(subrule_url_ok("ftp://example.org/"));
	assert_false(subrule_url_ok("http://"));
	assert_false(subrule_url_ok("http://user:pw@example.org/"));
	assert_false(subrule_url_ok("http://example.org/a b"));
	assert_false(subrule_url_ok("file:///etc/passwd"));
}

static void test_pools(void **state)
{
	(void)state;
	assert_true(subrule_pool_match("", "rpc"));
	assert_true(subrule_pool_match("rpc", "rpc"));
	assert_true(subrule_pool_match("ws,rpc", "rpc"));
	assert_false(subrule_pool_match("rpc2", "rpc"));
	assert_false(subrule_pool_match("ws", "rpc"));
	assert_true(subrule_pool_match("ws", "")); /* about everything: everyone */
}

static void test_unsubscribe_token(void **state)
{
	const unsigned char key[32] = {1, 2, 3}, other[32] = {9};
	char t[128], u[128], v[128];

	(void)state;
	assert_int_equal(subrule_unsub_token(key, sizeof(key), 42, wall, t, sizeof(t)), 0);
	assert_int_equal(subrule_unsub_id(t), 42);
	assert_int_equal(strncmp(t, "42.", 3), 0);
	assert_int_equal(strlen(t), 3 + 32);
	assert_int_equal(subrule_unsub_token(key, sizeof(key), 42, wall, u, sizeof(u)), 0);
	assert_string_equal(t, u); /* the same link in every mail */
	assert_int_equal(subrule_unsub_token(other, sizeof(other), 42, wall, v, sizeof(v)), 0);
	assert_string_not_equal(t, v);
	assert_int_equal(subrule_unsub_token(key, sizeof(key), 42, wall + 1, v, sizeof(v)), 0);
	assert_string_not_equal(t, v); /* a subscriber made again gets another */
	assert_int_equal(subrule_unsub_token(key, sizeof(key), 42, wall, v, 10), -1);
	assert_int_equal(subrule_unsub_id("x.abc"), 0);
	assert_int_equal(subrule_unsub_id("12"), 0);
	assert_int_equal(subrule_unsub_id(NULL), 0);
}

static void test_words_from_the_table(void **state)
{
	char subject[200], body[1000];
	struct subtext_vars v = {.pool = "rpc",
	                         .title = "Slow answers\r\nBcc: x@y.org",
	                         .text = "A fix is out",
	                         .status = "monitoring",
	                         .link = "http://status/"};

	(void)state;
	subtext_render(SN_INCIDENT_UPDATED, &v, subject, sizeof(subject), body, sizeof(body));
	assert_string_equal(subject, "[rpc] Update (monitoring): Slow answers  Bcc: x@y.org");
	assert_non_null(strstr(body, "A fix is out"));
	assert_non_null(strstr(body, "http://status/"));
	v.pool = "";
	subtext_render(SN_CONFIRM, &v, subject, sizeof(subject), body, sizeof(body));
	assert_non_null(strstr(body, "all services"));
	subtext_render(SN_INCIDENT_OPENED, &v, subject, 8, body, 12); /* cut, terminated */
	assert_int_equal(strlen(subject), 7);
	assert_int_equal(strlen(body), 11);
	for (int n = 0; n < SN_COUNT; n++)
		assert_non_null(subs_note_names[n]);
	/* [status] language = ja: the same notes from the Japanese column of the table */
	v.lang = WL_JA;
	v.pool = "rpc";
	v.title = "Slow answers";
	subtext_render(SN_INCIDENT_RESOLVED, &v, subject, sizeof(subject), body, sizeof(body));
	assert_string_equal(subject, "[rpc] 解決: Slow answers");
	assert_non_null(strstr(body, "解決しました"));
	v.pool = "";
	subtext_render(SN_CONFIRM, &v, subject, sizeof(subject), body, sizeof(body));
	assert_non_null(strstr(body, "すべてのサービス"));
}

static void test_header_encoding(void **state)
{
	char out[300];

	(void)state;
	subtext_header("[rpc] Resolved: all good", out, sizeof(out));
	assert_string_equal(out, "[rpc] Resolved: all good");
	subtext_header("\xe5\xbe\xa9\xe6\x97\xa7", out, sizeof(out)); /* 復旧 */
	assert_string_equal(out, "=?UTF-8?B?5b6p5pen?=");
	/* 20 three-byte characters: two words, the cut between two characters, folded */
	char ja[61] = "";
	for (int i = 0; i < 20; i++)
		strcat(ja, "\xe5\xbe\xa9");
	subtext_header(ja, out, sizeof(out));
	assert_non_null(strstr(out, "?=\r\n =?UTF-8?B?"));
	assert_int_equal(strncmp(out, "=?UTF-8?B?", 10), 0);
	/* too small: whole words only */
	subtext_header(ja, out, 30);
	assert_true(out[0] == '\0' || strstr(out, "?=") != NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_kept_as_hash_expires),
	    cmocka_unit_test(test_per_address_limit_and_window),
	    cmocka_unit_test(test_global_limit_refills),
	    cmocka_unit_test(test_limit_table_is_bounded),
	    cmocka_unit_test(test_addresses_and_urls),
	    cmocka_unit_test(test_pools),
	    cmocka_unit_test(test_unsubscribe_token),
	    cmocka_unit_test(test_words_from_the_table),
	    cmocka_unit_test(test_header_encoding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
