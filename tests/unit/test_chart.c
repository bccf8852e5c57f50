/* The response-time chart: SVG drawn from known samples (axis, two lines, points placed by
 * time and value, out-of-range points left out, the label escaped), and the quantiles of
 * the latency histogram it is fed with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ops/chart.h"
#include "proxy/latency.h"

#define MIN(x) ((int64_t)(x)*60 * 1000)

static const int64_t t0 = 1700000000000;

static void test_svg_from_known_samples(void **state)
{
	struct chart_point pts[] = {
	    {t0, 10, 1000, 4000},           /* x 0 */
	    {t0 + MIN(30), 10, 2000, 8000}, /* x 150: the highest p99, at the top */
	    {t0 + MIN(60), 0, 0, 0},        /* no answers: left out */
	    {t0 + MIN(90), 10, 500, 2000},  /* past the window: left out */
	};
	char svg[4096];

	(void)state;
	chart_svg(pts, 4, t0, t0 + MIN(60), "rpc <main> \"p99\"", svg, sizeof(svg));
	assert_non_null(
	    strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 300 60\""));
	assert_non_null(strstr(svg, "aria-label=\"rpc &lt;main&gt; &quot;p99&quot;\""));
	assert_null(strstr(svg, "<main>"));
	/* y = 60 - v * 48 / 8000 - 1 */
	assert_non_null(strstr(svg, "class=\"p99\" fill=\"none\" stroke=\"#e07b00\" "
	                            "stroke-width=\"1.5\" points=\"0,35 150,11\""));
	assert_non_null(strstr(svg, "class=\"p50\" fill=\"none\" stroke=\"#007a55\" "
	                            "stroke-width=\"1.5\" points=\"0,53 150,47\""));
	assert_non_null(strstr(svg, ">8.0 ms</text>"));
	assert_string_equal(svg + strlen(svg) - 6, "</svg>");

	/* nothing in the window: the frame only, no lines */
	chart_svg(pts, 4, t0 + MIN(200), t0 + MIN(300), "x", svg, sizeof(svg));
	assert_null(strstr(svg, "polyline"));
	/* a small buffer: cut, never overrun */
	assert_true(chart_svg(pts, 4, t0, t0 + MIN(60), "x", svg, 40) < 40);
}

static void test_quantiles_of_the_histogram(void **state)
{
	struct latency l = {0};
	uint32_t h[LATENCY_BUCKETS];
	uint64_t n;

	(void)state;
	for (int i = 0; i < 98; i++)
		latency_add(&l, 1000, 5); /* 1 ms */
	latency_add(&l, 100000, 5);       /* 100 ms */
	latency_add(&l, 100000, 5);
	n = latency_take(&l, h);
	assert_int_equal(n, 100);
	/* each read at its bucket's top: within 25 % above */
	assert_true(latency_quantile(h, n, 50) >= 1000 && latency_quantile(h, n, 50) < 1250);
	assert_true(latency_quantile(h, n, 99) >= 100000 && latency_quantile(h, n, 99) < 125000);
	assert_int_equal(latency_take(&l, h), 0); /* taken: empty again */
	assert_int_equal(latency_quantile(h, 0, 50), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_svg_from_known_samples),
	    cmocka_unit_test(test_quantiles_of_the_histogram),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
