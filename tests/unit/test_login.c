/* Logins of the ops console: sessions found by their cookie until they expire (on a fake
 * clock), the oldest evicted when the table is full, logout, the CSRF token, the Origin
 * check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ops/login.h"

#define TTL 60000 /* ms */

static uint64_t now = 1000000; /* the fake clock (monotonic ms) */

/* Random bytes that differ per session: SEED in every byte, the id and the token apart. */
static void rnd_of(unsigned char seed, unsigned char *rnd)
{
	memset(rnd, seed, LOGIN_ID_LEN);
	memset(rnd + LOGIN_ID_LEN, (unsigned char)(seed ^ 0x5a), LOGIN_ID_LEN);
}

static struct login *add(struct login_table *t, unsigned char seed, char *cookie, char *csrf)
{
	unsigned char rnd[LOGIN_RND_LEN];
	struct login *s;

	rnd_of(seed, rnd);
	s = login_new(t, rnd, "alice", now, TTL);
	if (cookie != NULL)
		login_hex(s->id, LOGIN_ID_LEN, cookie);
	if (csrf != NULL)
		login_hex(s->csrf, LOGIN_ID_LEN, csrf);
	return s;
}

static void test_found_until_it_expires(void **state)
{
	static struct login_table t;
	char cookie[LOGIN_HEX_LEN + 1], upper[LOGIN_HEX_LEN + 1];
	struct login *s;

	(void)state;
	s = add(&t, 0x11, cookie, NULL);
	assert_string_equal(s->name, "alice");
	assert_int_equal(strlen(cookie), 64);
	assert_ptr_equal(login_find(&t, cookie, now), s);
	assert_ptr_equal(login_find(&t, cookie, now + TTL - 1), s);
	assert_int_equal(login_live(&t, now + TTL - 1), 1);
	/* hex of either case is the same id; anything else is none */
	for (size_t i = 0; i <= LOGIN_HEX_LEN; i++)
		upper[i] =
		    (char)(cookie[i] >= 'a' && cookie[i] <= 'f' ? cookie[i] - 32 : cookie[i]);
	assert_ptr_equal(login_find(&t, upper, now), s);
	cookie[63] = cookie[63] == '0' ? '1' : '0';
	assert_null(login_find(&t, cookie, now));
	cookie[63] = '\0';
	assert_null(login_find(&t, cookie, now)); /* too short */
	assert_null(login_find(&t, "", now));
	assert_null(login_find(&t, NULL, now));
	login_hex(s->id, LOGIN_ID_LEN, cookie);
	/* at its expiry it is gone, and stays gone */
	assert_null(login_find(&t, cookie, now + TTL));
	assert_int_equal(t.expired, 1);
	assert_null(login_find(&t, cookie, now));
	assert_int_equal(login_live(&t, now), 0);
}

static void test_an_empty_slot_is_no_session(void **state)
{
	static struct login_table t;
	char zeros[LOGIN_HEX_LEN + 1];

	(void)state;
	memset(zeros, '0', LOGIN_HEX_LEN);
	zeros[LOGIN_HEX_LEN] = '\0';
	assert_null(login_find(&t, zeros, now)); /* free slots are all zeros: never a match */
	assert_false(login_csrf_ok(&t.s[0], zeros));
}

static void test_full_table_evicts_the_oldest(void **state)
{
	static struct login_table t;
	char first[LOGIN_HEX_LEN + 1], second[LOGIN_HEX_LEN + 1], last[LOGIN_HEX_LEN + 1];

	(void)state;
	add(&t, 1, first, NULL);
	now += 10;
	add(&t, 2, second, NULL);
	for (unsigned char i = 3; i <= LOGIN_MAX; i++) {
		now += 10;
		add(&t, i, NULL, NULL);
	}
	assert_int_equal(login_live(&t, now), LOGIN_MAX);
	assert_int_equal(t.evicted, 0);
	now += 10;
	add(&t, 0xee, last, NULL);
	assert_int_equal(t.evicted, 1);
	assert_int_equal(login_live(&t, now), LOGIN_MAX);
	assert_null(login_find(&t, first, now)); /* the oldest went */
	assert_non_null(login_find(&t, second, now));
	assert_non_null(login_find(&t, last, now));
	assert_int_equal(t.created, LOGIN_MAX + 1);
}

static void test_logout_ends_it(void **state)
{
	static struct login_table t;
	char cookie[LOGIN_HEX_LEN + 1], csrf[LOGIN_HEX_LEN + 1];
	struct login *s;

	(void)state;
	s = add(&t, 0x42, cookie, csrf);
	assert_true(login_csrf_ok(s, csrf));
	login_end(&t, s);
	assert_int_equal(t.ended, 1);
	assert_null(login_find(&t, cookie, now));
	assert_false(login_csrf_ok(s, csrf)); /* its token went with it */
	login_end(&t, s);                     /* twice: nothing more */
	assert_int_equal(t.ended, 1);
}

static void test_csrf_token(void **state)
{
	static struct login_table t;
	char csrf_a[LOGIN_HEX_LEN + 1], csrf_b[LOGIN_HEX_LEN + 1], cookie_a[LOGIN_HEX_LEN + 1];
	struct login *a, *b;

	(void)state;
	a = add(&t, 0x21, cookie_a, csrf_a);
	b = add(&t, 0x22, NULL, csrf_b);
	assert_true(login_csrf_ok(a, csrf_a));
	assert_true(login_csrf_ok(b, csrf_b));
	assert_false(login_csrf_ok(a, csrf_b));   /* another session's token */
	assert_false(login_csrf_ok(a, cookie_a)); /* the cookie is not the token */
	assert_false(login_csrf_ok(a, NULL));
	assert_false(login_csrf_ok(a, ""));
	assert_false(login_csrf_ok(NULL, csrf_a));
	csrf_a[10] = 'x'; /* not hex */
	assert_false(login_csrf_ok(a, csrf_a));
	csrf_a[10] = '\0';
	assert_false(login_csrf_ok(a, csrf_a));
}

static void test_origin(void **state)
{
	(void)state;
	assert_true(login_origin_ok(NULL, "127.0.0.1:8404", NULL)); /* none sent */
	assert_true(login_origin_ok("http://127.0.0.1:8404", "127.0.0.1:8404", NULL));
	assert_true(login_origin_ok("https://Status.Example.net", "status.example.net", NULL));
	assert_false(login_origin_ok("null", "127.0.0.1:8404", NULL));
	assert_false(login_origin_ok("http://evil.example", "127.0.0.1:8404", NULL));
	assert_false(login_origin_ok("http://127.0.0.1:8405", "127.0.0.1:8404", NULL));
	assert_false(login_origin_ok("http://127.0.0.1:84041", "127.0.0.1:8404", NULL));
	assert_false(login_origin_ok("ftp://127.0.0.1:8404", "127.0.0.1:8404", NULL));
	assert_false(login_origin_ok("http://127.0.0.1:8404", NULL, NULL));
	assert_false(login_origin_ok("http://", "", NULL));
	/* behind a proxy: the origin of public_url */
	assert_true(login_origin_ok("https://status.example.net", "127.0.0.1:8404",
	                            "https://status.example.net/ops/"));
	assert_true(login_origin_ok("https://status.example.net:8443", "127.0.0.1:8404",
	                            "https://status.example.net:8443"));
	assert_false(login_origin_ok("https://status.example.net.evil", "127.0.0.1:8404",
	                             "https://status.example.net/"));
	assert_false(login_origin_ok("http://status.example.net", "127.0.0.1:8404",
	                             "https://status.example.net/"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_found_until_it_expires),
	    cmocka_unit_test(test_an_empty_slot_is_no_session),
	    cmocka_unit_test(test_full_table_evicts_the_oldest),
	    cmocka_unit_test(test_logout_ends_it),
	    cmocka_unit_test(test_csrf_token),
	    cmocka_unit_test(test_origin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
