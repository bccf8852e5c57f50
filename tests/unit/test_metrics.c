/* Unit tests for the /metrics accounting: counters per label set, histograms, label
 * escaping, and the bounded table folding what does not fit into "other". */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/buffer.h>

#include "metrics.h"
#include "proxy/rpc.h"

/* The whole text metrics_write produces now (the caller frees it). */
static char *render(void)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *s;

	assert_non_null(b);
	assert_int_equal(metrics_write(b), 0);
	n = evbuffer_get_length(b);
	s = malloc(n + 1);
	assert_non_null(s);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	return s;
}

static void assert_has(const char *text, const char *line)
{
	if (strstr(text, line) == NULL)
		fail_msg("missing \"%s\" in:\n%s", line, text);
}

/* The value of the series that starts a line with PREFIX ("name{labels} "), or -1. */
static long long value_of(const char *text, const char *prefix)
{
	for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			return atoll(p + strlen(prefix));
	return -1;
}

static void test_requests_counted_by_label_set(void **state)
{
	char *t;

	for (int i = 0; i < 3; i++)
		metrics_request("web", "n1", "", 200, 1.0);
	metrics_request("web", "n2", "", 200, 1.0);
	metrics_request("web", "-", "", 503, 0.1);
	t = render();
	assert_has(t, "# TYPE nodegate_requests_total counter\n");
	assert_int_equal(value_of(t, "nodegate_requests_total{listener=\"web\",backend=\"n1\","
	                             "method=\"-\",code=\"200\"} "),
	                 3);
	assert_int_equal(value_of(t, "nodegate_requests_total{listener=\"web\",backend=\"n2\","
	                             "method=\"-\",code=\"200\"} "),
	                 1);
	assert_int_equal(value_of(t, "nodegate_requests_total{listener=\"web\",backend=\"-\","
	                             "method=\"-\",code=\"503\"} "),
	                 1);
	assert_int_equal(value_of(t, "nodegate_metrics_labels_dropped_total "), 0);
	free(t);
}

/* Buckets are cumulative and end with +Inf = _count. */
static void test_histograms(void **state)
{
	char *t;

	metrics_request("hist", "n1", "", 200, 0.2);   /* <= 0.5 ms */
	metrics_request("hist", "n1", "", 200, 1.0);   /* <= 1 ms */
	metrics_request("hist", "n1", "", 200, 300.0); /* <= 0.5 s */
	metrics_request("hist", "n1", "", 200, 60e3);  /* +Inf only */
	metrics_probe("p1", 2000);                     /* 2 ms */
	t = render();
	assert_has(t, "# TYPE nodegate_request_duration_seconds histogram\n");
	assert_has(t,
	           "nodegate_request_duration_seconds_bucket{listener=\"hist\",le=\"0.0005\"} 1\n"
	           "nodegate_request_duration_seconds_bucket{listener=\"hist\",le=\"0.001\"} 2\n");
	assert_has(t, "{listener=\"hist\",le=\"0.25\"} 2\n");
	assert_has(t, "{listener=\"hist\",le=\"0.5\"} 3\n");
	assert_has(t, "{listener=\"hist\",le=\"10\"} 3\n"
	              "nodegate_request_duration_seconds_bucket{listener=\"hist\",le=\"+Inf\"} 4\n"
	              "nodegate_request_duration_seconds_sum{listener=\"hist\"} 60.3012\n"
	              "nodegate_request_duration_seconds_count{listener=\"hist\"} 4\n");
	assert_has(t, "# TYPE nodegate_probe_duration_seconds histogram\n");
	assert_has(t, "nodegate_probe_duration_seconds_bucket{backend=\"p1\",le=\"0.001\"} 0\n"
	              "nodegate_probe_duration_seconds_bucket{backend=\"p1\",le=\"0.0025\"} 1\n");
	assert_has(t, "nodegate_probe_duration_seconds_count{backend=\"p1\"} 1\n");
	free(t);
}

static void test_label_escaping(void **state)
{
	struct evbuffer *b = evbuffer_new();
	char s[64];
	size_t n;

	assert_int_equal(metrics_label(b, "a\"b\\c\nd"), 0);
	n = evbuffer_get_length(b);
	assert_true(n < sizeof(s));
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	assert_string_equal(s, "a\\\"b\\\\c\\nd");
	evbuffer_free(b);
}

/* The JSON-RPC method is a label, folded: rippled's names as they are, others "other". */
static void test_method_label(void **state)
{
	char *t;

	metrics_request("rpc", "n1", "server_info", 200, 1.0);
	metrics_request("rpc", "n1", "server_info", 200, 1.0);
	metrics_request("rpc", "n1", "made_up_1", 200, 1.0);
	metrics_request("rpc", "n1", "made_up_2", 200, 1.0);
	metrics_request("rpc", "n1", NULL, 200, 1.0);
	t = render();
	assert_int_equal(value_of(t, "nodegate_requests_total{listener=\"rpc\",backend=\"n1\","
	                             "method=\"server_info\",code=\"200\"} "),
	                 2);
	assert_int_equal(value_of(t, "nodegate_requests_total{listener=\"rpc\",backend=\"n1\","
	                             "method=\"other\",code=\"200\"} "),
	                 2);
	assert_int_equal(value_of(t, "nodegate_requests_total{listener=\"rpc\",backend=\"n1\","
	                             "method=\"-\",code=\"200\"} "),
	                 1);
	free(t);
}

/* The hot path counts by indexes: the same series as by names, and a name keeps its index. */
static void test_count_by_index(void **state)
{
	unsigned l = metrics_name("idx"), b = metrics_name("n9");
	char *t;

	assert_true(l != 0 && b != 0 && l != b);
	assert_int_equal(metrics_name("idx"), l);
	metrics_count(l, b, rpc_method_label_index("ledger"), 200, 1.0);
	metrics_request("idx", "n9", "ledger", 200, 1.0);
	metrics_count(l, b, rpc_method_label_index("nope"), 429, 1.0);
	t = render();
	assert_int_equal(value_of(t, "nodegate_requests_total{listener=\"idx\",backend=\"n9\","
	                             "method=\"ledger\",code=\"200\"} "),
	                 2);
	assert_int_equal(value_of(t, "nodegate_requests_total{listener=\"idx\",backend=\"n9\","
	                             "method=\"other\",code=\"429\"} "),
	                 1);
	assert_has(t, "nodegate_request_duration_seconds_count{listener=\"idx\"} 3\n");
	free(t);
}

/* Refusals by the method policy: per listener, folded method and reason. */
static void test_refusals(void **state)
{
	char *t;

	metrics_refused("pub", "stop", RPC_DENIED);
	metrics_refused("pub", "stop", RPC_DENIED);
	metrics_refused("pub", "sign", RPC_SECRET);
	metrics_refused("pub", "no_such_method", RPC_DENIED);
	t = render();
	assert_has(t, "# TYPE nodegate_rpc_refused_total counter\n");
	assert_int_equal(value_of(t, "nodegate_rpc_refused_total{listener=\"pub\",method=\"stop\","
	                             "reason=\"denied\"} "),
	                 2);
	assert_int_equal(value_of(t, "nodegate_rpc_refused_total{listener=\"pub\",method=\"sign\","
	                             "reason=\"secret\"} "),
	                 1);
	assert_int_equal(value_of(t, "nodegate_rpc_refused_total{listener=\"pub\",method=\"other\","
	                             "reason=\"denied\"} "),
	                 1);
	free(t);
}

/* Names are kept up to 64 bytes: a longer one is counted in one series, cut. */
static void test_long_names(void **state)
{
	char name[101], cut[160];
	char *t;

	memset(name, 'x', 100);
	name[100] = '\0';
	metrics_request(name, "n1", "", 204, 1.0);
	metrics_request(name, "n1", "", 204, 1.0);
	snprintf(
	    cut, sizeof(cut),
	    "nodegate_requests_total{listener=\"%.64s\",backend=\"n1\",method=\"-\",code=\"204\"} ",
	    name);
	t = render();
	assert_int_equal(value_of(t, cut), 2);
	free(t);
}

/* Requests counted by several threads at once (the workers): each has its own tables, and
 * a scrape shows their sum, also for a thread that has ended. */
struct counter_arg {
	const char *backend;
	int n;
};

static void *count_requests(void *p)
{
	const struct counter_arg *a = p;

	for (int i = 0; i < a->n; i++)
		metrics_request("threads", a->backend, "server_info", i % 10 == 0 ? 502 : 200, 2.0);
	return NULL;
}

static bool is_threads(const char *listener, void *arg)
{
	(void)arg;
	return strcmp(listener, "threads") == 0;
}

static void test_threads_summed_at_scrape(void **state)
{
	struct counter_arg a = {"n1", 30000}, b = {"n1", 20000}, c = {"n2", 5};
	pthread_t ta, tb, tc;
	struct metrics_method m[4];
	char *t;

	assert_int_equal(pthread_create(&ta, NULL, count_requests, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, count_requests, &b), 0);
	t = render(); /* a scrape while they count: whatever it reads, it does not crash */
	free(t);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	assert_int_equal(pthread_create(&tc, NULL, count_requests, &c), 0);
	assert_int_equal(pthread_join(tc, NULL), 0);
	metrics_request("threads", "n1", "server_info", 200, 2.0); /* this thread's too */

	t = render();
	assert_int_equal(value_of(t, "nodegate_requests_total{listener=\"threads\",backend=\"n1\","
	                             "method=\"server_info\",code=\"200\"} "),
	                 45000 + 1);
	assert_int_equal(value_of(t, "nodegate_requests_total{listener=\"threads\",backend=\"n1\","
	                             "method=\"server_info\",code=\"502\"} "),
	                 5000);
	assert_int_equal(value_of(t, "nodegate_requests_total{listener=\"threads\",backend=\"n2\","
	                             "method=\"server_info\",code=\"502\"} "),
	                 1);
	assert_int_equal(
	    value_of(t, "nodegate_request_duration_seconds_count{listener=\"threads\"} "), 50006);
	assert_int_equal(value_of(t, "nodegate_request_duration_seconds_bucket{listener="
	                             "\"threads\",le=\"0.001\"} "),
	                 0);
	assert_int_equal(value_of(t, "nodegate_request_duration_seconds_bucket{listener="
	                             "\"threads\",le=\"0.0025\"} "),
	                 50006);
	free(t);

	size_t n = metrics_methods(is_threads, NULL, m, 4);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].name, "server_info");
	assert_int_equal(m[0].requests, 50006);
	assert_int_equal(m[0].failed, 5001);
}

/* More label sets than slots: every request is still counted exactly once, the overflow
 * under listener="other" and in nodegate_metrics_labels_dropped_total. Runs last. */
static void test_full_table_folds_into_other(void **state)
{
	unsigned long long total = 0, series = 0;
	char name[32];
	char *t, *p;

	for (int i = 0; i < 6000; i++) {
		snprintf(name, sizeof(name), "b%d", i);
		metrics_request("flood", name, "", 200, 1.0);
	}
	metrics_request("flood", "b0", "", 200, 1.0); /* an old set keeps counting */
	t = render();
	for (p = strstr(t, "nodegate_requests_total{listener=\"flood\""); p != NULL;
	     p = strstr(p + 1, "nodegate_requests_total{listener=\"flood\"")) {
		total += strtoull(strchr(p, '}') + 2, NULL, 10);
		series++;
	}
	long long other =
	    value_of(t, "nodegate_requests_total{listener=\"other\",backend=\"other\","
	                "method=\"other\",code=\"other\"} ");
	long long dropped = value_of(t, "nodegate_metrics_labels_dropped_total ");
	assert_true(series <= 4096);
	assert_true(other > 0);
	assert_int_equal(other, dropped);
	assert_int_equal(total + (unsigned long long)other, 6001);
	assert_int_equal(value_of(t, "nodegate_requests_total{listener=\"flood\",backend=\"b0\","
	                             "method=\"-\",code=\"200\"} "),
	                 2);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_requests_counted_by_label_set),
	    cmocka_unit_test(test_histograms),
	    cmocka_unit_test(test_label_escaping),
	    cmocka_unit_test(test_count_by_index),
	    cmocka_unit_test(test_long_names),
	    cmocka_unit_test(test_method_label),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_threads_summed_at_scrape),
	    cmocka_unit_test(test_full_table_folds_into_other),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
