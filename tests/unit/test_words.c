/* Public words: every language has every string, templates fill their placeholders and
 * refuse unknown ones, and the notice file's Markdown subset renders as escaped HTML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ops/notice.h"
#include "ops/words.h"

static void test_every_language_has_every_string(void **state)
{
	(void)state;
	for (int l = 0; l < WL_COUNT; l++) {
		for (int w = 0; w < W_COUNT; w++) {
			const char *s = words_get((enum words_lang)l, (enum word)w);

			if (s == NULL || s[0] == '\0')
				fail_msg("language %s: word %d missing", words_lang_names[l], w);
		}
		for (int k = 0; k < WK_COUNT; k++) {
			const char *t = words_default((enum words_lang)l, (enum words_kind)k);
			char err[160];

			assert_non_null(t);
			if (!words_template_ok(t, err, sizeof(err)))
				fail_msg("language %s: template %s: %s", words_lang_names[l],
				         words_kind_options[k], err);
		}
	}
	/* Japanese is not English copied over */
	assert_string_not_equal(words_get(WL_JA, W_SERVICES), words_get(WL_EN, W_SERVICES));
	assert_string_not_equal(words_default(WL_JA, WK_RESTORED),
	                        words_default(WL_EN, WK_RESTORED));
}

/* The printf-like strings take the same conversions in every language. */
static void test_formats_agree(void **state)
{
	(void)state;
	for (int w = 0; w < W_COUNT; w++) {
		char a[16] = "", b[16] = "";
		size_t na = 0, nb = 0;

		for (const char *p = words_get(WL_EN, (enum word)w); *p && na < 15; p++)
			if (*p == '%')
				a[na++] = p[1] == 'z' ? 'z' : p[1] == 'l' ? 'l' : p[1], p++;
		for (const char *p = words_get(WL_JA, (enum word)w); *p && nb < 15; p++)
			if (*p == '%')
				b[nb++] = p[1] == 'z' ? 'z' : p[1] == 'l' ? 'l' : p[1], p++;
		if (strcmp(a, b) != 0)
			fail_msg("word %d: en conversions \"%s\", ja \"%s\"", w, a, b);
	}
}

static void test_render(void **state)
{
	struct words_vars v = {.pool = "rpc", .serving = 1, .total = 3};
	char buf[200];

	(void)state;
	words_render(words_default(WL_EN, WK_PARTIAL_OUTAGE), &v, buf, sizeof(buf));
	assert_string_equal(buf, "Some requests may fail or be slow: 1 of 3 nodes in service");
	words_render("{pool}: {serving}/{total} {x} {", &v, buf, sizeof(buf));
	assert_string_equal(buf, "rpc: 1/3 {x} {");
	words_render(words_default(WL_JA, WK_DEGRADED), &v, buf, sizeof(buf));
	assert_non_null(strstr(buf, "3 台中 1 台"));
	/* a cut never splits a character */
	words_render("ああああ", &v, buf, 8);
	assert_string_equal(buf, "ああ");
}

static void test_template_check(void **state)
{
	char err[200];

	(void)state;
	assert_true(words_template_ok("{pool} is back ({serving}/{total})", err, sizeof(err)));
	assert_false(words_template_ok("{pools} down", err, sizeof(err)));
	assert_non_null(strstr(err, "unknown placeholder \"{pools}\""));
	assert_false(words_template_ok("down {pool", err, sizeof(err)));
	assert_false(words_template_ok("down }", err, sizeof(err)));
	assert_false(words_template_ok("", err, sizeof(err)));
	assert_false(words_template_ok("a\tb", err, sizeof(err)));
}

static char html[4096];
static size_t html_n;

static void collect(const char *s, size_t n, void *arg)
{
	(void)arg;
	if (html_n + n < sizeof(html)) {
		memcpy(html + html_n, s, n);
		html_n += n;
		html[html_n] = '\0';
	}
}

static void test_notice(void **state)
{
	const char *md = "# FAQ\n"
	                 "Is my **data** safe? <script>alert(1)</script>\n"
	                 "\n"
	                 "- see [the docs](https://example.org/a?b=1&c=2)\n"
	                 "- run `server_info`\n";
	const char *bad_link = "ok\nsee [x](javascript:alert(1))\n";
	char err[200];
	int line;

	(void)state;
	assert_true(notice_check(md, strlen(md), &line, err, sizeof(err)));
	html_n = 0;
	notice_render(md, collect, NULL);
	assert_string_equal(html, "<h3>FAQ</h3><p>Is my <strong>data</strong> safe? "
	                          "&lt;script&gt;alert(1)&lt;/script&gt;</p><ul><li>see <a "
	                          "rel=\"nofollow noopener\" "
	                          "href=\"https://example.org/a?b=1&amp;c=2\">the docs</a></li>"
	                          "<li>run <code>server_info</code></li></ul>");
	assert_false(notice_check(bad_link, strlen(bad_link), &line, err, sizeof(err)));
	assert_int_equal(line, 2);
	assert_non_null(strstr(err, "javascript:"));
	assert_false(notice_check("a\n\xff\n", 4, &line, err, sizeof(err)));
	assert_int_equal(line, 2);
	assert_false(notice_check("a\x01", 2, &line, err, sizeof(err)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_language_has_every_string),
	    cmocka_unit_test(test_formats_agree),
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_template_check),
	    cmocka_unit_test(test_notice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
