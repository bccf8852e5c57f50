/* The health model: verdicts from probe answers, and the rotation rules edge by edge, with
 * a fake clock (a plain number of milliseconds that the tests advance). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "health/health.h"
#include "proxy/rpc.h"

#define S(x)   ((uint64_t)(x)*1000)
#define MIN(x) (S(x) * 60)

static uint64_t now; /* the fake clock, ms */

/* rippled's own thresholds and xrpl.org's alerting advice, as conf's defaults. */
static struct conf_health rippled_conf(void)
{
	struct conf_health h = {
	    .check = CHECK_RIPPLED,
	    .check_interval = S(1),
	    .check_interval_down = 0,
	    .check_timeout = S(2),
	    .check_path = "/health",
	    .expect_peers = 8,
	    .load_factor_warning = 100,
	    .load_factor_critical = 1000,
	    .ledger_age_warning = S(7),
	    .ledger_age_critical = S(20),
	    .max_ledger_age = S(20),
	    .max_ledger_lag = 10,
	    .warning_fall = 3,
	    .warning_burst = {.count = 4, .window = S(5)},
	    .critical_burst = {.count = 2, .window = S(5)},
	    .rise = 3,
	    .readmit_after = S(10),
	    .slow_start = S(60),
	    .sync_grace = MIN(15),
	    .flap_hold_max = MIN(5),
	};
	return h;
}

/* ---- rippled GET /health ----------------------------------------------------------------- */

static struct observation rippled(int status, const char *body, const struct conf_health *h)
{
	struct observation o;

	health_judge_rippled(status, body, body ? strlen(body) : 0, h, &o);
	assert_false(o.unreachable);
	assert_true(strlen(o.reason) < HEALTH_REASON_MAX);
	assert_null(strchr(o.reason, '\n'));
	return o;
}

static void test_rippled_status_alone(void **state)
{
	struct conf_health h = rippled_conf();
	struct observation o;

	o = rippled(200, "{\"info\":{}}", &h);
	assert_int_equal(o.verdict, V_HEALTHY);
	assert_string_equal(o.reason, "healthy");
	o = rippled(503, "{\"info\":{}}", &h);
	assert_int_equal(o.verdict, V_WARNING);
	o = rippled(500, "{\"info\":{}}", &h);
	assert_int_equal(o.verdict, V_CRITICAL);
	o = rippled(404, "{\"info\":{}}", &h);
	assert_int_equal(o.verdict, V_CRITICAL);
	assert_string_equal(o.reason, "unexpected status 404");
	/* An unexpected status is not rescued by a body that looks healthy. */
	o = rippled(302, "{\"info\":{\"peers\":50}}", &h);
	assert_int_equal(o.verdict, V_CRITICAL);
}

static void test_rippled_unreadable_bodies(void **state)
{
	const char *bodies[] = {NULL,
	                        "",
	                        "not json",
	                        "[]",
	                        "{}",
	                        "{\"info\":[]}",
	                        "{\"info\":1}",
	                        "{\"info\":{}",
	                        "{\"info\":{},\"info\":{}}"};
	struct conf_health h = rippled_conf();

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct observation o = rippled(200, bodies[i], &h);
		assert_int_equal(o.verdict, V_CRITICAL);
		assert_string_equal(o.reason, "unreadable /health body");
	}
}

static void test_rippled_reason_lists_metrics(void **state)
{
	struct conf_health h = rippled_conf();
	struct observation o;

	h.expect_peers = 3;
	o = rippled(503, "{\"info\":{\"peers\":2,\"server_state\":\"syncing\"}}", &h);
	assert_int_equal(o.verdict, V_WARNING);
	assert_string_equal(o.reason, "peers 2 < 3 (warning); server_state syncing (warning)");
	/* The worst metric wins. */
	o = rippled(503, "{\"info\":{\"peers\":2,\"amendment_blocked\":true}}", &h);
	assert_int_equal(o.verdict, V_CRITICAL);
	assert_string_equal(o.reason, "peers 2 < 3 (warning); amendment_blocked true (critical)");
}

static void test_rippled_expect_peers_override(void **state)
{
	struct conf_health h = rippled_conf();
	struct observation o;

	/* rippled's own: 1..7 warn, 0 is critical. */
	assert_int_equal(rippled(503, "{\"info\":{\"peers\":7}}", &h).verdict, V_WARNING);
	assert_int_equal(rippled(503, "{\"info\":{\"peers\":1}}", &h).verdict, V_WARNING);
	assert_int_equal(rippled(500, "{\"info\":{\"peers\":0}}", &h).verdict, V_CRITICAL);
	assert_int_equal(rippled(503, "{\"info\":{\"peers\":8}}", &h).verdict, V_HEALTHY);
	/* A private peer with three configured peers. */
	h.expect_peers = 3;
	o = rippled(503, "{\"info\":{\"peers\":3}}", &h);
	assert_int_equal(o.verdict, V_HEALTHY);
	assert_string_equal(o.reason, "healthy");
	o = rippled(503, "{\"info\":{\"peers\":2}}", &h);
	assert_int_equal(o.verdict, V_WARNING);
	assert_string_equal(o.reason, "peers 2 < 3 (warning)");
	assert_int_equal(rippled(500, "{\"info\":{\"peers\":0}}", &h).verdict, V_CRITICAL);
}

static void test_rippled_ignore(void **state)
{
	struct conf_health h = rippled_conf();
	struct observation o;

	o = rippled(503, "{\"info\":{\"validated_ledger\":-1}}", &h);
	assert_int_equal(o.verdict, V_WARNING);
	assert_string_equal(o.reason, "validated_ledger none yet (warning)");
	/* A quiet test network: a 503 whose only metric is ignored is healthy. */
	h.ignore = "validated_ledger";
	o = rippled(503, "{\"info\":{\"validated_ledger\":-1}}", &h);
	assert_int_equal(o.verdict, V_HEALTHY);
	assert_int_equal(rippled(503, "{\"info\":{\"validated_ledger\":25}}", &h).verdict,
	                 V_HEALTHY);
	/* The others are still judged; blanks in the list do not matter. */
	h.ignore = " peers , validated_ledger";
	o = rippled(503, "{\"info\":{\"validated_ledger\":9,\"peers\":1,\"load_factor\":200}}", &h);
	assert_int_equal(o.verdict, V_WARNING);
	assert_string_equal(o.reason, "load_factor 200 > 100 (warning)");
	/* A name is matched whole. */
	h.ignore = "peer";
	assert_int_equal(rippled(503, "{\"info\":{\"peers\":1}}", &h).verdict, V_WARNING);
}

static void test_rippled_load_factor(void **state)
{
	struct conf_health h = rippled_conf();
	struct observation o;

	assert_int_equal(rippled(503, "{\"info\":{\"load_factor\":100}}", &h).verdict, V_HEALTHY);
	assert_int_equal(rippled(503, "{\"info\":{\"load_factor\":101}}", &h).verdict, V_WARNING);
	assert_int_equal(rippled(503, "{\"info\":{\"load_factor\":999}}", &h).verdict, V_WARNING);
	o = rippled(500, "{\"info\":{\"load_factor\":1000}}", &h);
	assert_int_equal(o.verdict, V_CRITICAL);
	assert_string_equal(o.reason, "load_factor 1000 >= 1000 (critical)");
	assert_int_equal(rippled(503, "{\"info\":{\"load_factor\":100.5}}", &h).verdict, V_WARNING);
	/* Custom thresholds. */
	h.load_factor_warning = 500;
	h.load_factor_critical = 5000;
	assert_int_equal(rippled(503, "{\"info\":{\"load_factor\":500}}", &h).verdict, V_HEALTHY);
	assert_int_equal(rippled(503, "{\"info\":{\"load_factor\":1000}}", &h).verdict, V_WARNING);
	assert_int_equal(rippled(503, "{\"info\":{\"load_factor\":5000}}", &h).verdict, V_CRITICAL);
}

static void test_rippled_server_state_and_others(void **state)
{
	static const struct {
		const char *body;
		enum verdict v;
	} cases[] = {
	    {"{\"info\":{\"server_state\":\"syncing\"}}", V_WARNING},
	    {"{\"info\":{\"server_state\":\"tracking\"}}", V_WARNING},
	    {"{\"info\":{\"server_state\":\"connected\"}}", V_WARNING},
	    {"{\"info\":{\"server_state\":\"disconnected\"}}", V_CRITICAL},
	    {"{\"info\":{\"server_state\":\"full\"}}", V_HEALTHY},
	    {"{\"info\":{\"server_state\":\"validating\"}}", V_HEALTHY},
	    {"{\"info\":{\"server_state\":\"proposing\"}}", V_HEALTHY},
	    {"{\"info\":{\"server_state\":\"dreaming\"}}", V_WARNING},
	    {"{\"info\":{\"amendment_blocked\":true}}", V_CRITICAL},
	    {"{\"info\":{\"amendment_blocked\":false}}", V_HEALTHY},
	    {"{\"info\":{\"validated_ledger\":6}}", V_HEALTHY},
	    {"{\"info\":{\"validated_ledger\":7}}", V_WARNING},
	    {"{\"info\":{\"validated_ledger\":19}}", V_WARNING},
	    {"{\"info\":{\"validated_ledger\":20}}", V_CRITICAL},
	    {"{\"info\":{\"validated_ledger\":-1}}", V_WARNING},
	    {"{\"info\":{\"brand_new_metric\":1}}", V_WARNING},
	    /* The wrong JSON type is unreadable. */
	    {"{\"info\":{\"peers\":\"3\"}}", V_CRITICAL},
	    {"{\"info\":{\"peers\":-2}}", V_CRITICAL},
	    {"{\"info\":{\"server_state\":1}}", V_CRITICAL},
	    {"{\"info\":{\"amendment_blocked\":\"yes\"}}", V_CRITICAL},
	    {"{\"info\":{\"load_factor\":null}}", V_CRITICAL},
	    {"{\"info\":{\"validated_ledger\":-5}}", V_CRITICAL},
	    {"{\"info\":{\"validated_ledger\":7.5}}", V_CRITICAL},
	};
	struct conf_health h = rippled_conf();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct observation o = rippled(503, cases[i].body, &h);
		if (o.verdict != cases[i].v)
			fail_msg("%s: %s (%s)", cases[i].body, verdict_names[o.verdict], o.reason);
	}
	assert_string_equal(rippled(503, "{\"info\":{\"peers\":\"3\"}}", &h).reason,
	                    "peers unreadable (critical)");
	assert_string_equal(rippled(503, "{\"info\":{\"x\":1}}", &h).reason,
	                    "unknown metric x (warning)");
	/* Thresholds in ms against an age in seconds: 7.5 s warns from 8 s. */
	h.ledger_age_warning = 7500;
	assert_int_equal(rippled(503, "{\"info\":{\"validated_ledger\":7}}", &h).verdict,
	                 V_HEALTHY);
	assert_int_equal(rippled(503, "{\"info\":{\"validated_ledger\":8}}", &h).verdict,
	                 V_WARNING);
}

static void test_rippled_reason_bounded(void **state)
{
	struct conf_health h = rippled_conf();
	char body[4096];
	size_t n = 0;
	struct observation o;

	n += (size_t)snprintf(body + n, sizeof(body) - n, "{\"info\":{");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n,
		                      "%s\"a_rather_long_metric_name_%02d\":1", i ? "," : "", i);
	snprintf(body + n, sizeof(body) - n, "}}");
	o = rippled(503, body, &h);
	assert_int_equal(o.verdict, V_WARNING);
	assert_int_equal(strlen(o.reason), HEALTH_REASON_MAX - 1);
	/* Text from the body cannot break the line. */
	o = rippled(503, "{\"info\":{\"server_state\":\"a\\nb\"}}", &h);
	assert_string_equal(o.reason, "server_state a?b (warning)");
}

/* ---- server_info (freshness) ------------------------------------------------------------- */

static struct observation server_info(int status, const char *body, const struct conf_health *h,
                                      uint64_t best, struct rippled_metrics *m)
{
	struct observation o;

	health_judge_server_info(status, body, strlen(body), h, best, &o, m);
	assert_true(strlen(o.reason) < HEALTH_REASON_MAX);
	return o;
}

static const char *info_body(char *buf, size_t len, long seq, long age)
{
	snprintf(buf, len,
	         "{\"result\":{\"info\":{\"validated_ledger\":{\"seq\":%ld,\"age\":%ld},"
	         "\"complete_ledgers\":\"32570-%ld\",\"network_id\":21338,"
	         "\"server_state\":\"full\"},\"status\":\"success\"}}",
	         seq, age, seq);
	return buf;
}

static void test_server_info_healthy_fills_metrics(void **state)
{
	struct conf_health h = rippled_conf();
	struct rippled_metrics m;
	struct observation o;
	char b[512];

	o = server_info(200, info_body(b, sizeof(b), 90000000, 2), &h, 90000001, &m);
	assert_int_equal(o.verdict, V_HEALTHY);
	assert_string_equal(o.reason, "healthy");
	assert_true(m.has_seq);
	assert_int_equal(m.validated_seq, 90000000);
	assert_int_equal(m.ledger_age_s, 2);
	assert_int_equal(m.network_id, 21338);
	assert_string_equal(m.complete_ledgers, "32570-90000000");
	assert_true(m.has_ledgers);
	assert_true(ranges_cover(&m.ledgers, 32570, 90000000));
	assert_false(ranges_cover(&m.ledgers, 32569, 32569));
	/* network_id absent: unknown. */
	o = server_info(200,
	                "{\"result\":{\"info\":{\"validated_ledger\":{\"seq\":5,\"age\":1}},"
	                "\"status\":\"success\"}}",
	                &h, 0, &m);
	assert_int_equal(o.verdict, V_HEALTHY);
	assert_int_equal(m.network_id, -1);
	assert_string_equal(m.complete_ledgers, "");
	assert_false(m.has_ledgers); /* no list: the history is unknown */
	o = server_info(200,
	                "{\"result\":{\"info\":{\"validated_ledger\":{\"seq\":5,\"age\":1},"
	                "\"complete_ledgers\":\"1-2,x\"},\"status\":\"success\"}}",
	                &h, 0, &m);
	assert_int_equal(o.verdict, V_HEALTHY); /* a bad list is not a health matter */
	assert_string_equal(m.complete_ledgers, "1-2,x");
	assert_false(m.has_ledgers);
}

static void test_server_info_age(void **state)
{
	struct conf_health h = rippled_conf();
	struct rippled_metrics m;
	struct observation o;
	char b[512];

	assert_int_equal(server_info(200, info_body(b, sizeof(b), 100, 19), &h, 0, &m).verdict,
	                 V_HEALTHY);
	o = server_info(200, info_body(b, sizeof(b), 100, 20), &h, 0, &m);
	assert_int_equal(o.verdict, V_WARNING);
	assert_string_equal(o.reason, "validated ledger 20s old >= 20s (warning)");
	assert_int_equal(server_info(200, info_body(b, sizeof(b), 100, 39), &h, 0, &m).verdict,
	                 V_WARNING);
	o = server_info(200, info_body(b, sizeof(b), 100, 40), &h, 0, &m);
	assert_int_equal(o.verdict, V_CRITICAL);
	assert_int_equal(m.ledger_age_s, 40);
	/* max_ledger_age 0: the age is not judged. */
	h.max_ledger_age = 0;
	assert_int_equal(server_info(200, info_body(b, sizeof(b), 100, 100000), &h, 0, &m).verdict,
	                 V_HEALTHY);
}

static void test_server_info_lag(void **state)
{
	struct conf_health h = rippled_conf(); /* max_ledger_lag 10 */
	struct rippled_metrics m;
	struct observation o;
	char b[512];

	info_body(b, sizeof(b), 1000, 1);
	assert_int_equal(server_info(200, b, &h, 1010, &m).verdict, V_HEALTHY);
	o = server_info(200, b, &h, 1011, &m);
	assert_int_equal(o.verdict, V_WARNING);
	assert_string_equal(o.reason, "11 ledgers behind the best > 10 (warning)");
	assert_int_equal(server_info(200, b, &h, 1030, &m).verdict, V_WARNING);
	assert_int_equal(server_info(200, b, &h, 1031, &m).verdict, V_CRITICAL);
	/* Ahead of the best, or the best unknown, or the rule off. */
	assert_int_equal(server_info(200, b, &h, 900, &m).verdict, V_HEALTHY);
	assert_int_equal(server_info(200, b, &h, 0, &m).verdict, V_HEALTHY);
	h.max_ledger_lag = 0;
	assert_int_equal(server_info(200, b, &h, 5000, &m).verdict, V_HEALTHY);
	/* Age and lag together: both named, the worst wins. */
	h.max_ledger_lag = 10;
	o = server_info(200, info_body(b, sizeof(b), 1000, 45), &h, 1015, &m);
	assert_int_equal(o.verdict, V_CRITICAL);
	assert_string_equal(o.reason, "validated ledger 45s old >= 40s (critical); "
	                              "15 ledgers behind the best > 10 (warning)");
}

static void test_server_info_errors(void **state)
{
	struct conf_health h = rippled_conf();
	struct rippled_metrics m;
	struct observation o;
	char b[512];

	o = server_info(200,
	                "{\"result\":{\"error\":\"noNetwork\",\"error_code\":17,"
	                "\"status\":\"error\"}}",
	                &h, 0, &m);
	assert_int_equal(o.verdict, V_CRITICAL);
	assert_non_null(strstr(o.reason, "noNetwork"));
	assert_false(m.has_seq);
	assert_int_equal(m.ledger_age_s, -1);
	o = server_info(200, "{\"error\":\"tooBusy\",\"status\":\"error\"}", &h, 0, &m);
	assert_int_equal(o.verdict, V_CRITICAL);
	assert_non_null(strstr(o.reason, "tooBusy"));
	o = server_info(200, "{\"result\":{\"status\":\"error\"}}", &h, 0, &m);
	assert_int_equal(o.verdict, V_CRITICAL);
	o = server_info(503, info_body(b, sizeof(b), 100, 1), &h, 0, &m);
	assert_int_equal(o.verdict, V_CRITICAL);
	assert_string_equal(o.reason, "server_info status 503");
	o = server_info(200, "<html>", &h, 0, &m);
	assert_int_equal(o.verdict, V_CRITICAL);
	assert_string_equal(o.reason, "unreadable server_info reply");
	o = server_info(200,
	                "{\"result\":{\"info\":{\"closed_ledger\":{\"seq\":5},"
	                "\"server_state\":\"syncing\",\"complete_ledgers\":\"empty\"},"
	                "\"status\":\"success\"}}",
	                &h, 0, &m);
	assert_int_equal(o.verdict, V_CRITICAL);
	assert_string_equal(o.reason, "no validated ledger");
	assert_false(m.has_seq);
	assert_string_equal(m.complete_ledgers, "empty");
	o = server_info(200,
	                "{\"result\":{\"info\":{\"validated_ledger\":{\"seq\":\"5\"}},"
	                "\"status\":\"success\"}}",
	                &h, 0, &m);
	assert_int_equal(o.verdict, V_CRITICAL);
}

static void test_server_info_complete_ledgers_bounded(void **state)
{
	struct conf_health h = rippled_conf();
	struct rippled_metrics m;
	char body[8192], cl[4096];
	size_t n = 0;

	for (int i = 0; i < 400 && n + 16 < sizeof(cl); i++)
		n += (size_t)snprintf(cl + n, sizeof(cl) - n, "%s%d-%d", i ? "," : "", i * 10,
		                      i * 10 + 5);
	snprintf(body, sizeof(body),
	         "{\"result\":{\"info\":{\"validated_ledger\":{\"seq\":5,\"age\":1},"
	         "\"complete_ledgers\":\"%s\"},\"status\":\"success\"}}",
	         cl);
	assert_int_equal(server_info(200, body, &h, 0, &m).verdict, V_HEALTHY);
	assert_int_equal(strlen(m.complete_ledgers), sizeof(m.complete_ledgers) - 1);
	assert_memory_equal(m.complete_ledgers, cl, sizeof(m.complete_ledgers) - 1);
	/* the ranges come from the whole list, not the cut text: the highest are kept */
	assert_true(m.has_ledgers);
	assert_int_equal(m.ledgers.n, RANGES_MAX);
	assert_true(ranges_cover(&m.ledgers, 3990, 3995));
	assert_false(ranges_cover(&m.ledgers, 0, 5));
}

/* ---- http checks --------------------------------------------------------------------------- */

static enum verdict http(int status, const char *body, const char *expect_status,
                         const char *expect_json, char *reason)
{
	struct conf_health h = rippled_conf();
	struct observation o;

	h.check = CHECK_HTTP;
	h.check_expect_status = (char *)expect_status;
	h.check_expect_json = (char *)expect_json;
	health_judge_http(status, body, body ? strlen(body) : 0, &h, &o);
	if (reason != NULL)
		memcpy(reason, o.reason, sizeof(o.reason));
	return o.verdict;
}

static void test_http_status_lists(void **state)
{
	char r[HEALTH_REASON_MAX];

	assert_int_equal(http(200, "", NULL, NULL, r), V_HEALTHY);
	assert_string_equal(r, "healthy");
	assert_int_equal(http(204, "", NULL, NULL, NULL), V_HEALTHY);
	assert_int_equal(http(299, "", NULL, NULL, NULL), V_HEALTHY);
	assert_int_equal(http(301, "", NULL, NULL, r), V_CRITICAL);
	assert_string_equal(r, "status 301 not in 2xx");
	assert_int_equal(http(500, "", NULL, NULL, NULL), V_CRITICAL);
	assert_int_equal(http(204, "", "200,204", NULL, NULL), V_HEALTHY);
	assert_int_equal(http(201, "", "200,204", NULL, r), V_CRITICAL);
	assert_string_equal(r, "status 201 not in 200,204");
	assert_int_equal(http(301, "", "2xx, 301", NULL, NULL), V_HEALTHY);
	assert_int_equal(http(302, "", "2xx, 301", NULL, NULL), V_CRITICAL);
	assert_int_equal(http(503, "", "5XX", NULL, NULL), V_HEALTHY);
	assert_int_equal(http(0, "", "2xx", NULL, NULL), V_CRITICAL);
	assert_int_equal(http(200, "", "abc", NULL, NULL), V_CRITICAL);
}

static void test_http_json_expectations(void **state)
{
	const char *body = "{\"result\":{\"status\":\"success\",\"count\":5,\"ok\":true,"
	                   "\"ratio\":1.5,\"none\":null,\"list\":[\"a\",\"b\"]}}";
	char r[HEALTH_REASON_MAX];

	assert_int_equal(http(200, body, NULL, "result.status=success", r), V_HEALTHY);
	assert_string_equal(r, "healthy");
	assert_int_equal(http(200, body, NULL,
	                      "result.status=success, result.count=5,result.ok=true,"
	                      "result.ratio=1.5,result.none=null,result.list.1=b",
	                      r),
	                 V_HEALTHY);
	assert_int_equal(http(200, body, NULL, "result.status=error", r), V_CRITICAL);
	assert_string_equal(r, "result.status is success (expected error)");
	assert_int_equal(http(200, body, NULL, "result.count=6", r), V_CRITICAL);
	assert_string_equal(r, "result.count is 5 (expected 6)");
	assert_int_equal(http(200, body, NULL, "result.ok=false", NULL), V_CRITICAL);
	assert_int_equal(http(200, body, NULL, "result.count=\"5\"", NULL), V_CRITICAL);
	assert_int_equal(http(200, body, NULL, "result.missing=x", r), V_CRITICAL);
	assert_string_equal(r, "result.missing missing (expected x)");
	assert_int_equal(http(200, body, NULL, "result=x", r), V_CRITICAL);
	assert_string_equal(r, "result is an object (expected x)");
	/* Every mismatch is named. */
	assert_int_equal(
	    http(200, body, NULL, "result.count=1,result.status=success,result.ok=0", r),
	    V_CRITICAL);
	assert_string_equal(r, "result.count is 5 (expected 1); result.ok is true (expected 0)");
	assert_int_equal(http(200, "not json", NULL, "result.status=success", r), V_CRITICAL);
	assert_string_equal(r, "body is not JSON (expected result.status=success)");
	/* The status is judged first; without expectations the body is not read. */
	assert_int_equal(http(500, body, NULL, "result.status=success", NULL), V_CRITICAL);
	assert_int_equal(http(200, "not json", NULL, NULL, NULL), V_HEALTHY);
}

/* ---- JSON-RPC error tokens ----------------------------------------------------------------- */

static bool token(const char *body, char *tok, size_t len)
{
	return rpc_busy_token(body, strlen(body), tok, len);
}

static void test_rpc_error_tokens(void **state)
{
	static const char *const busy[] = {"noNetwork", "noCurrent", "noClosed",        "notSynced",
	                                   "tooBusy",   "slowDown",  "amendmentBlocked"};
	char body[256], tok[32];

	for (size_t i = 0; i < sizeof(busy) / sizeof(busy[0]); i++) {
		snprintf(body, sizeof(body),
		         "{\"result\":{\"error\":\"%s\",\"error_code\":17,\"status\":\"error\"}}",
		         busy[i]);
		memset(tok, 0, sizeof(tok));
		assert_true(token(body, tok, sizeof(tok)));
		assert_string_equal(tok, busy[i]);
	}
	/* WebSocket-style reply: the error is at the top. */
	assert_true(token("{\"error\":\"tooBusy\",\"status\":\"error\",\"type\":\"response\"}", tok,
	                  sizeof(tok)));
	assert_string_equal(tok, "tooBusy");
	/* Batch: any element. */
	assert_true(token("[{\"result\":{\"status\":\"success\"}},"
	                  "{\"result\":{\"error\":\"slowDown\",\"status\":\"error\"}}]",
	                  tok, sizeof(tok)));
	assert_string_equal(tok, "slowDown");
	/* A short buffer gets a cut token; no buffer is fine. */
	assert_true(token("{\"result\":{\"error\":\"noNetwork\"}}", tok, 4));
	assert_string_equal(tok, "noN");
	assert_true(token("{\"result\":{\"error\":\"noNetwork\"}}", NULL, 0));
}

static void test_rpc_error_tokens_none(void **state)
{
	const char *bodies[] = {
	    "{\"result\":{\"status\":\"success\",\"info\":{}}}",
	    "{\"result\":{\"error\":\"lgrNotFound\",\"status\":\"error\"}}",
	    "{\"result\":{\"error\":\"invalidParams\",\"error_message\":\"noNetwork\"}}",
	    "{\"result\":{\"error\":17}}",
	    "{\"result\":{\"status\":\"success\",\"memo\":\"error noNetwork\"}}",
	    "\"error\" noNetwork but not JSON",
	    "[1,\"error\",\"noNetwork\"]",
	    "",
	};
	char tok[32] = "";

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		if (token(bodies[i], tok, sizeof(tok)))
			fail_msg("token %s in %s", tok, bodies[i]);
	assert_string_equal(tok, "");
	assert_false(rpc_busy_token(NULL, 0, tok, sizeof(tok)));
}

static void test_rpc_error_tokens_big_success(void **state)
{
	size_t len = 4 << 20, n = 0;
	char *body = malloc(len + 64);

	assert_non_null(body);
	n += (size_t)sprintf(body, "{\"result\":{\"status\":\"success\",\"ledger\":[");
	while (n + 64 < len)
		n += (size_t)sprintf(body + n,
		                     "{\"Account\":\"rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh\"},");
	sprintf(body + n, "{}]}}");
	assert_false(rpc_busy_token(body, strlen(body), NULL, 0));
	free(body);
}

/* ---- rotation ------------------------------------------------------------------------------ */

static struct observation healthy(void)
{
	struct observation o = {.verdict = V_HEALTHY};

	snprintf(o.reason, sizeof(o.reason), "healthy");
	return o;
}

static struct observation warning(void)
{
	struct observation o = {.verdict = V_WARNING};

	snprintf(o.reason, sizeof(o.reason), "peers 2 < 8 (warning)");
	return o;
}

static struct observation critical(void)
{
	struct observation o = {.verdict = V_CRITICAL};

	snprintf(o.reason, sizeof(o.reason), "status 500, no metrics listed");
	return o;
}

static struct observation unreachable(const char *why)
{
	struct observation o = {.verdict = V_CRITICAL, .unreachable = true};

	snprintf(o.reason, sizeof(o.reason), "%s", why);
	return o;
}

static struct health_event ev;

static bool feed(struct health *hs, const struct conf_health *h, struct observation o)
{
	memset(&ev, 0xa5, sizeof(ev));
	return health_observe(hs, h, &o, now, &ev);
}

static bool tick(struct health *hs, const struct conf_health *h)
{
	memset(&ev, 0xa5, sizeof(ev));
	return health_tick(hs, h, now, &ev);
}

static void assert_move(enum health_event_kind kind, enum health_state from, enum health_state to)
{
	assert_int_equal(ev.kind, kind);
	assert_int_equal(ev.from, from);
	assert_int_equal(ev.to, to);
	assert_int_equal(ev.at, now);
	assert_true(strlen(ev.reason) < HEALTH_REASON_MAX);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A backend that passed its first check at the fake clock's current time. */
static void start_up(struct health *hs, const struct conf_health *h)
{
	health_init(hs, now);
	assert_true(feed(hs, h, healthy()));
	assert_int_equal(hs->state, HS_UP);
}

/* Out by three warnings 1 ms apart (not unreachable: no sync grace afterwards). */
static void eject_by_warnings(struct health *hs, const struct conf_health *h)
{
	int moved = 0;

	for (int i = 0; i < 3; i++) {
		now += 1;
		moved += feed(hs, h, warning());
	}
	assert_int_equal(moved, 1);
	assert_int_equal(hs->state, HS_DOWN);
}

/* Healthy probes once a second until readmitted; returns the readmission time. */
static uint64_t probe_until_readmitted(struct health *hs, const struct conf_health *h)
{
	for (int i = 0; i < 100000; i++) {
		now += S(1);
		if (feed(hs, h, healthy())) {
			assert_int_equal(ev.to, h->slow_start ? HS_SLOW_START : HS_UP);
			return now;
		}
	}
	fail_msg("never readmitted");
	return 0;
}

static void test_names_tables(void **state)
{
	for (int i = 0; i < V_COUNT; i++)
		assert_non_null(verdict_names[i]);
	for (int i = 0; i < HS_COUNT; i++)
		assert_non_null(health_state_names[i]);
	for (int i = 0; i < ADMIN_COUNT; i++)
		assert_non_null(admin_state_names[i]);
	for (int i = 0; i < HE_COUNT; i++)
		assert_non_null(health_event_kind_names[i]);
	assert_string_equal(health_state_names[HS_SLOW_START], "slow_start");
	assert_string_equal(health_event_kind_names[HE_GRACE_EXPIRED], "grace_expired");
}

static void test_checking_first_healthy_is_up_without_slow_start(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	now = 0;
	health_init(&hs, now);
	assert_int_equal(hs.state, HS_CHECKING);
	assert_false(health_routable(&hs));
	now = 700;
	assert_true(feed(&hs, &h, healthy()));
	assert_move(HE_TRANSITION, HS_CHECKING, HS_UP);
	assert_int_equal(ev.verdict, V_HEALTHY);
	assert_false(ev.in_grace);
	assert_int_equal(hs.state, HS_UP);
	assert_int_equal(hs.since, 700);
	assert_true(health_routable(&hs));
	assert_int_equal(health_weight(&hs, &h, 100, now), 100);
	assert_false(feed(&hs, &h, healthy()));
	assert_false(tick(&hs, &h));
}

static void test_checking_unreachable_is_down(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	now = 5;
	health_init(&hs, now);
	assert_true(feed(&hs, &h, unreachable("timeout after 2s")));
	assert_move(HE_TRANSITION, HS_CHECKING, HS_DOWN);
	assert_int_equal(ev.verdict, V_CRITICAL);
	assert_true(hs.down_unreachable);
	assert_string_equal(hs.reason, "timeout after 2s");
	/* It answers (still warning): a restart, so it syncs. */
	now += S(1);
	assert_true(feed(&hs, &h, warning()));
	assert_move(HE_TRANSITION, HS_DOWN, HS_SYNCING);
}

static void test_checking_warnings_follow_the_rules(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	now = 0;
	health_init(&hs, now);
	assert_false(feed(&hs, &h, warning()));
	now += S(1);
	assert_false(feed(&hs, &h, warning()));
	assert_int_equal(hs.state, HS_CHECKING);
	now += S(1);
	assert_true(feed(&hs, &h, warning()));
	assert_move(HE_TRANSITION, HS_CHECKING, HS_DOWN);
	assert_false(hs.down_unreachable);
	assert_int_equal(hs.flaps, 0); /* never in rotation: not a bounce */
}

static void test_three_warnings_eject_two_do_not(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	now = 0;
	start_up(&hs, &h);
	for (int round = 0; round < 3; round++) {
		now += S(1);
		assert_false(feed(&hs, &h, warning()));
		now += S(1);
		assert_false(feed(&hs, &h, warning())); /* 2 in a row */
		for (int i = 0; i < 4; i++) {
			now += S(1);
			assert_false(feed(&hs, &h, healthy())); /* resets the run */
		}
	}
	assert_int_equal(hs.state, HS_UP);
	/* 2 warnings every 6 s: never 4 within 5 s. Now 3 in a row. */
	now += S(1);
	assert_false(feed(&hs, &h, warning()));
	now += S(1);
	assert_false(feed(&hs, &h, warning()));
	now += S(1);
	assert_true(feed(&hs, &h, warning()));
	assert_move(HE_TRANSITION, HS_UP, HS_DOWN);
	assert_int_equal(ev.verdict, V_WARNING);
	assert_string_equal(ev.reason, "3 bad in a row: peers 2 < 8 (warning)");
	assert_false(health_routable(&hs));
	assert_false(hs.down_unreachable);
}

/* A fresh backend up at BASE gets 4 warnings at BASE + AT[i], healthy ones between;
 * true when the last one ejects it. */
static bool warnings_at(struct health *hs, const struct conf_health *h, uint64_t base,
                        const uint64_t at[4])
{
	now = base;
	start_up(hs, h);
	for (int i = 0; i < 3; i++) {
		now = base + at[i];
		assert_false(feed(hs, h, warning()));
		now += 1;
		assert_false(feed(hs, h, healthy()));
	}
	now = base + at[3];
	return feed(hs, h, warning());
}

static void test_warning_burst(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	/* 4 warnings within 5 s, healthy ones between. */
	now = 0;
	start_up(&hs, &h);
	for (int i = 0; i < 4; i++) {
		if (i > 0) {
			now += 800;
			assert_false(feed(&hs, &h, healthy()));
			now += 800;
		}
		if (i < 3)
			assert_false(feed(&hs, &h, warning()));
	}
	assert_true(feed(&hs, &h, warning())); /* at 4.8 s */
	assert_move(HE_TRANSITION, HS_UP, HS_DOWN);
	assert_string_equal(ev.reason, "4 warnings within 5s: peers 2 < 8 (warning)");

	/* 4 spread over 6 s do not. */
	now = 100000;
	start_up(&hs, &h);
	for (int i = 0; i < 4; i++) {
		if (i > 0) {
			now += S(1);
			assert_false(feed(&hs, &h, healthy()));
			now += S(1);
		}
		assert_false(feed(&hs, &h, warning()));
	}
	assert_int_equal(hs.state, HS_UP);

	/* The window is half-open: 4 within exactly 5 s do not, within 4.999 s do. */
	static const uint64_t exact[] = {0, 1666, 3333, 5000}, inside[] = {0, 1666, 3333, 4999};
	assert_false(warnings_at(&hs, &h, 200000, exact));
	assert_true(warnings_at(&hs, &h, 300000, inside));
	assert_string_equal(ev.reason, "4 warnings within 5s: peers 2 < 8 (warning)");
}

static void test_critical_burst(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	/* A single critical does not eject. */
	now = 0;
	start_up(&hs, &h);
	now += S(1);
	assert_false(feed(&hs, &h, critical()));
	assert_int_equal(hs.last_verdict, V_CRITICAL);
	for (int i = 0; i < 10; i++) {
		now += S(1);
		assert_false(feed(&hs, &h, healthy()));
	}
	assert_int_equal(hs.state, HS_UP);

	/* 2 within 5 s do (healthy between, so not by the run). */
	now += S(1);
	assert_false(feed(&hs, &h, critical()));
	now += S(2);
	assert_false(feed(&hs, &h, healthy()));
	now += 2999;
	assert_true(feed(&hs, &h, critical()));
	assert_move(HE_TRANSITION, HS_UP, HS_DOWN);
	assert_int_equal(ev.verdict, V_CRITICAL);
	assert_true(starts_with(ev.reason, "2 criticals within 5s: "));

	/* 2 exactly 5 s apart do not. */
	now = 100000;
	start_up(&hs, &h);
	assert_false(feed(&hs, &h, critical()));
	now += S(2);
	assert_false(feed(&hs, &h, healthy()));
	now += S(3);
	assert_false(feed(&hs, &h, critical()));
	assert_int_equal(hs.state, HS_UP);
}

static void test_refused_ejects_at_once(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	/* A timeout (probe or passive) counts as a critical: one is a blip. */
	now = 0;
	start_up(&hs, &h);
	now += S(1);
	assert_false(feed(&hs, &h, unreachable("timeout after 2s")));
	assert_int_equal(hs.state, HS_UP);
	assert_int_equal(health_panic_rank(&hs), 2);
	now += S(1);
	struct observation reset = unreachable("reset by peer");
	reset.passive = true;
	assert_true(feed(&hs, &h, reset));
	assert_move(HE_TRANSITION, HS_UP, HS_DOWN);
	assert_true(hs.down_unreachable);

	/* Refused: nothing listens, out at once, probe or passive. */
	for (int passive = 0; passive < 2; passive++) {
		now += MIN(10);
		start_up(&hs, &h);
		now += S(1);
		struct observation o = unreachable(HEALTH_REASON_REFUSED " 127.0.0.1:51235");
		o.passive = passive;
		assert_true(feed(&hs, &h, o));
		assert_move(HE_TRANSITION, HS_UP, HS_DOWN);
		assert_string_equal(ev.reason, "refused 127.0.0.1:51235");
		assert_true(hs.down_unreachable);
	}
	/* Only an unreachable observation is a refused connection. */
	now += MIN(10);
	start_up(&hs, &h);
	struct observation odd = critical();
	snprintf(odd.reason, sizeof(odd.reason), "refused by policy");
	assert_false(feed(&hs, &h, odd));
}

static void test_passive_signals_count(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;
	struct observation tok = warning();

	/* A JSON-RPC error token in live replies, 3 in a row, is as good as 3 probes. */
	tok.passive = true;
	snprintf(tok.reason, sizeof(tok.reason), "rpc error noNetwork");
	now = 0;
	start_up(&hs, &h);
	now += 10;
	assert_false(feed(&hs, &h, tok));
	now += 10;
	assert_false(feed(&hs, &h, tok));
	now += 10;
	assert_true(feed(&hs, &h, tok));
	assert_string_equal(ev.reason, "3 bad in a row: rpc error noNetwork");
}

static void test_unreachable_then_answers_enters_syncing(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	now = 0;
	start_up(&hs, &h);
	now += S(1);
	assert_true(feed(&hs, &h, unreachable("refused")));
	now += S(1);
	assert_false(feed(&hs, &h, unreachable("refused")));
	assert_int_equal(hs.state, HS_DOWN);
	/* Restarted: it answers critical, then warns while it syncs. */
	now += S(20);
	assert_true(feed(&hs, &h, critical()));
	assert_move(HE_TRANSITION, HS_DOWN, HS_SYNCING);
	assert_string_equal(ev.reason, "answers again after being unreachable");
	assert_true(ev.in_grace);
	assert_int_equal(hs.grace_until, now + MIN(15));
	assert_false(hs.down_unreachable);
	assert_false(health_routable(&hs));
	assert_int_equal(health_interval(&hs, &h), S(1));
	/* Warnings, criticals and another restart inside the grace change nothing. */
	for (int i = 0; i < 60; i++) {
		now += S(1);
		assert_false(feed(&hs, &h, i % 3 ? warning() : critical()));
		assert_false(tick(&hs, &h));
	}
	now += S(1);
	assert_false(feed(&hs, &h, unreachable("refused")));
	now += S(1);
	assert_false(feed(&hs, &h, warning()));
	assert_int_equal(hs.state, HS_SYNCING);
	/* Synced: readmitted inside the grace, the event says so. */
	uint64_t t = probe_until_readmitted(&hs, &h);
	assert_move(HE_TRANSITION, HS_SYNCING, HS_SLOW_START);
	assert_true(ev.in_grace);
	assert_int_equal(ev.verdict, V_HEALTHY);
	assert_true(t < hs.grace_until);
	assert_true(health_routable(&hs));
}

static void test_down_for_warnings_does_not_sync(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	now = 0;
	start_up(&hs, &h);
	eject_by_warnings(&hs, &h);
	assert_false(hs.down_unreachable);
	now += S(1);
	assert_false(feed(&hs, &h, warning()));
	assert_int_equal(hs.state, HS_DOWN);
	/* Then restarted while out: nothing answers, then it answers: it syncs. */
	now += S(1);
	assert_false(feed(&hs, &h, unreachable("refused")));
	assert_true(hs.down_unreachable);
	now += S(1);
	assert_true(feed(&hs, &h, warning()));
	assert_move(HE_TRANSITION, HS_DOWN, HS_SYNCING);
}

static void test_sync_grace_zero_skips_syncing(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	h.sync_grace = 0;
	now = 0;
	start_up(&hs, &h);
	now += S(1);
	assert_true(feed(&hs, &h, unreachable("refused")));
	now += S(1);
	assert_false(feed(&hs, &h, warning()));
	assert_int_equal(hs.state, HS_DOWN);
	assert_false(hs.down_unreachable);
	probe_until_readmitted(&hs, &h);
	assert_move(HE_TRANSITION, HS_DOWN, HS_SLOW_START);
}

static void test_grace_expiry_once(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	now = 0;
	start_up(&hs, &h);
	now += S(1);
	assert_true(feed(&hs, &h, unreachable("refused")));
	now += S(1);
	assert_true(feed(&hs, &h, warning()));
	uint64_t until = hs.grace_until;
	assert_int_equal(until, now + MIN(15));
	now = until - 1;
	assert_false(feed(&hs, &h, warning()));
	assert_false(tick(&hs, &h));
	assert_int_equal(hs.state, HS_SYNCING);
	now = until;
	assert_true(tick(&hs, &h));
	assert_move(HE_GRACE_EXPIRED, HS_SYNCING, HS_DOWN);
	assert_false(ev.in_grace);
	assert_int_equal(ev.verdict, V_WARNING);
	assert_string_equal(ev.reason, "sync grace expired");
	assert_true(hs.grace_expired_sent);
	for (int i = 0; i < 5; i++) {
		now += S(1);
		assert_false(tick(&hs, &h));
		assert_false(feed(&hs, &h, warning()));
	}
	assert_int_equal(hs.state, HS_DOWN);
	/* Healthy later: readmitted from down, the grace is not reopened. */
	probe_until_readmitted(&hs, &h);
	assert_move(HE_TRANSITION, HS_DOWN, HS_SLOW_START);
	assert_false(ev.in_grace);
}

static void test_rise_and_readmit_after_both_required(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	/* Rise is met after 3 probes, readmit_after only after 10 s. */
	now = 0;
	start_up(&hs, &h);
	eject_by_warnings(&hs, &h);
	now += S(1);
	uint64_t first = now;
	assert_false(feed(&hs, &h, healthy()));
	for (int i = 0; i < 9; i++) {
		now += S(1);
		assert_false(feed(&hs, &h, healthy()));
	}
	assert_int_equal(now - first, S(9));
	now += 999;
	assert_false(tick(&hs, &h));
	now += 1;
	assert_true(feed(&hs, &h, healthy()));
	assert_move(HE_TRANSITION, HS_DOWN, HS_SLOW_START);
	assert_int_equal(hs.readmitted_at, now);
	assert_string_equal(ev.reason, "healthy 11 in a row for 10s");

	/* Stable for 10 s, but only 2 probes: not yet; the third readmits. */
	now += MIN(10);
	eject_by_warnings(&hs, &h);
	now += S(1);
	assert_false(feed(&hs, &h, healthy()));
	now += S(30);
	assert_false(feed(&hs, &h, healthy()));
	assert_false(tick(&hs, &h));
	now += S(1);
	assert_true(feed(&hs, &h, healthy()));
	assert_int_equal(ev.to, HS_SLOW_START);

	/* A bad probe restarts both counts. */
	now += MIN(10);
	eject_by_warnings(&hs, &h);
	for (int i = 0; i < 9; i++) {
		now += S(1);
		assert_false(feed(&hs, &h, healthy()));
	}
	now += S(1);
	assert_false(feed(&hs, &h, warning()));
	for (int i = 0; i < 10; i++) {
		now += S(1);
		assert_false(feed(&hs, &h, healthy()));
	}
	now += S(1);
	assert_true(feed(&hs, &h, healthy()));
}

static void test_slow_start_weights(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	now = 0;
	start_up(&hs, &h);
	eject_by_warnings(&hs, &h);
	uint64_t t0 = probe_until_readmitted(&hs, &h);
	assert_int_equal(hs.state, HS_SLOW_START);
	assert_true(health_routable(&hs));
	assert_int_equal(health_weight(&hs, &h, 100, t0), 10);
	assert_int_equal(health_weight(&hs, &h, 100, t0 + S(30)), 55);
	assert_int_equal(health_weight(&hs, &h, 100, t0 + S(60)), 100);
	assert_int_equal(health_weight(&hs, &h, 100, t0 + S(600)), 100);
	assert_int_equal(health_weight(&hs, &h, 5, t0), 1);         /* at least 1 */
	assert_int_equal(health_weight(&hs, &h, 0, t0 + S(30)), 0); /* 0 stays 0 */
	assert_int_equal(health_weight(&hs, &h, 4000000000u, t0 + S(60)), 4000000000u);
	now = t0 + S(60) - 1;
	assert_false(tick(&hs, &h));
	now = t0 + S(60);
	assert_true(tick(&hs, &h));
	assert_move(HE_TRANSITION, HS_SLOW_START, HS_UP);
	assert_string_equal(ev.reason, "slow start done");
	assert_int_equal(health_weight(&hs, &h, 100, now), 100);
	assert_false(tick(&hs, &h));

	/* slow_start = 0: straight back up. */
	h.slow_start = 0;
	now += MIN(10);
	eject_by_warnings(&hs, &h);
	probe_until_readmitted(&hs, &h);
	assert_move(HE_TRANSITION, HS_DOWN, HS_UP);
	assert_int_equal(health_weight(&hs, &h, 100, now), 100);
}

static void test_flap_hold_doubles_to_the_cap(void **state)
{
	struct conf_health h = rippled_conf(); /* readmit_after 10 s, flap_hold_max 5 min */
	static const uint64_t holds[] = {S(10), S(20), S(40), S(80), S(160), MIN(5), MIN(5)};
	struct health hs;

	now = 0;
	start_up(&hs, &h);
	for (size_t i = 0; i < sizeof(holds) / sizeof(holds[0]); i++) {
		eject_by_warnings(&hs, &h);
		uint64_t out = now;
		assert_int_equal(hs.flaps, i + 1);
		assert_int_equal(hs.hold_until - out, holds[i]);
		uint64_t back = probe_until_readmitted(&hs, &h);
		/* Back when the hold is over, or when healthy for readmit_after (from the first
		 * probe, 1 s after), whichever is later. */
		assert_true(back >= hs.hold_until);
		assert_int_equal(back - out, holds[i] > S(11) ? holds[i] : S(11));
		now += S(30); /* bounces again half a minute later */
	}
	/* Stable longer than flap_hold_max: the count starts over. */
	now += MIN(5);
	eject_by_warnings(&hs, &h);
	assert_int_equal(hs.flaps, 1);
	assert_int_equal(hs.hold_until - now, S(10));

	/* A healthy streak long enough waits for the hold; then a tick readmits. */
	probe_until_readmitted(&hs, &h);
	now += S(1);
	eject_by_warnings(&hs, &h);
	assert_int_equal(hs.flaps, 2);
	uint64_t hold = hs.hold_until;
	for (int i = 0; i < 19; i++) {
		now += S(1);
		assert_false(feed(&hs, &h, healthy()));
	}
	assert_true(now < hold);
	now = hold - 1;
	assert_false(tick(&hs, &h));
	now = hold;
	assert_true(tick(&hs, &h));
	assert_move(HE_TRANSITION, HS_DOWN, HS_SLOW_START);
}

static void test_admin_states(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	now = 0;
	start_up(&hs, &h);
	memset(&ev, 0, sizeof(ev));
	assert_true(health_set_admin(&hs, ADMIN_DRAIN, "operator", now, &ev));
	assert_int_equal(ev.kind, HE_ADMIN);
	assert_int_equal(ev.admin_from, ADMIN_NONE);
	assert_int_equal(ev.admin_to, ADMIN_DRAIN);
	assert_int_equal(ev.from, HS_UP);
	assert_int_equal(ev.to, HS_UP);
	assert_string_equal(ev.reason, "operator");
	assert_int_equal(hs.state, HS_UP);
	assert_false(health_routable(&hs));
	assert_int_equal(health_panic_rank(&hs), -1);
	assert_false(health_set_admin(&hs, ADMIN_DRAIN, "again", now, &ev));
	assert_false(health_set_admin(&hs, ADMIN_COUNT, "bad", now, &ev));
	assert_true(health_set_admin(&hs, ADMIN_MAINT, NULL, now, &ev));
	assert_string_equal(ev.reason, "maint");
	assert_int_equal(health_panic_rank(&hs), -1);
	/* Health goes on being tracked under maint. */
	eject_by_warnings(&hs, &h);
	assert_int_equal(hs.admin, ADMIN_MAINT);
	probe_until_readmitted(&hs, &h);
	assert_int_equal(hs.state, HS_SLOW_START);
	assert_false(health_routable(&hs));
	assert_true(health_set_admin(&hs, ADMIN_NONE, "done", now, &ev));
	assert_true(health_routable(&hs));
	assert_int_equal(health_panic_rank(&hs), 0);
}

static void test_panic_ranks(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	now = 0;
	health_init(&hs, now);
	assert_int_equal(health_panic_rank(&hs), 0); /* checking */
	assert_false(feed(&hs, &h, warning()));
	assert_int_equal(health_panic_rank(&hs), 1);
	assert_true(feed(&hs, &h, healthy()));
	assert_int_equal(health_panic_rank(&hs), 0);
	now += S(1);
	assert_false(feed(&hs, &h, warning()));
	assert_int_equal(health_panic_rank(&hs), 1);
	now += S(1);
	assert_false(feed(&hs, &h, critical()));
	assert_int_equal(health_panic_rank(&hs), 2);
	now += S(1);
	assert_true(feed(&hs, &h, unreachable("refused")));
	assert_int_equal(health_panic_rank(&hs), 2);
	/* Down but answering healthy again: least bad. */
	now += S(1);
	assert_true(feed(&hs, &h, healthy())); /* syncing */
	assert_int_equal(health_panic_rank(&hs), 0);
}

static void test_intervals(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	h.check_interval_down = S(5);
	now = 0;
	health_init(&hs, now);
	assert_int_equal(health_interval(&hs, &h), S(1)); /* checking */
	assert_true(feed(&hs, &h, healthy()));
	assert_int_equal(health_interval(&hs, &h), S(1));
	eject_by_warnings(&hs, &h);
	assert_int_equal(health_interval(&hs, &h), S(5));
	h.check_interval_down = 0;
	assert_int_equal(health_interval(&hs, &h), S(1));
	h.check_interval_down = S(5);
	probe_until_readmitted(&hs, &h);
	assert_int_equal(health_interval(&hs, &h), S(1)); /* slow start */
	assert_true(health_set_admin(&hs, ADMIN_MAINT, "m", now, NULL));
	assert_int_equal(health_interval(&hs, &h), S(5));
}

static void test_rings_stay_bounded(void **state)
{
	struct conf_health h = rippled_conf();
	struct health hs;

	now = 0;
	start_up(&hs, &h);
	eject_by_warnings(&hs, &h);
	for (int i = 0; i < 1000; i++) {
		now += 100;
		assert_false(feed(&hs, &h, i % 2 ? warning() : critical()));
		assert_true(hs.n_warn < 2 * HEALTH_RING);
		assert_true(hs.n_crit < 2 * HEALTH_RING);
	}
	/* After the ring wrapped many times, the windows still count right. */
	now += MIN(1);
	probe_until_readmitted(&hs, &h);
	now += MIN(2);
	assert_false(feed(&hs, &h, critical()));
	now += S(2);
	assert_false(feed(&hs, &h, healthy()));
	now += S(2);
	assert_true(feed(&hs, &h, critical()));
	assert_true(starts_with(ev.reason, "2 criticals within 5s"));
}

static void test_events_may_be_null(void **state)
{
	struct conf_health h = rippled_conf();
	struct observation o = healthy();
	struct health hs;

	health_init(&hs, 0);
	assert_true(health_observe(&hs, &h, &o, 1, NULL));
	assert_int_equal(hs.state, HS_UP);
	assert_string_equal(hs.reason, "first check: healthy");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rippled_status_alone),
	    cmocka_unit_test(test_rippled_unreadable_bodies),
	    cmocka_unit_test(test_rippled_reason_lists_metrics),
	    cmocka_unit_test(test_rippled_expect_peers_override),
	    cmocka_unit_test(test_rippled_ignore),
	    cmocka_unit_test(test_rippled_load_factor),
	    cmocka_unit_test(test_rippled_server_state_and_others),
	    cmocka_unit_test(test_rippled_reason_bounded),
	    cmocka_unit_test(test_server_info_healthy_fills_metrics),
	    cmocka_unit_test(test_server_info_age),
	    cmocka_unit_test(test_server_info_lag),
	    cmocka_unit_test(test_server_info_errors),
	    cmocka_unit_test(test_server_info_complete_ledgers_bounded),
	    cmocka_unit_test(test_http_status_lists),
	    cmocka_unit_test(test_http_json_expectations),
	    cmocka_unit_test(test_rpc_error_tokens),
	    cmocka_unit_test(test_rpc_error_tokens_none),
	    cmocka_unit_test(test_rpc_error_tokens_big_success),
	    cmocka_unit_test(test_names_tables),
	    cmocka_unit_test(test_checking_first_healthy_is_up_without_slow_start),
	    cmocka_unit_test(test_checking_unreachable_is_down),
	    cmocka_unit_test(test_checking_warnings_follow_the_rules),
	    cmocka_unit_test(test_three_warnings_eject_two_do_not),
	    cmocka_unit_test(test_warning_burst),
	    cmocka_unit_test(test_critical_burst),
	    cmocka_unit_test(test_refused_ejects_at_once),
	    cmocka_unit_test(test_passive_signals_count),
	    cmocka_unit_test(test_unreachable_then_answers_enters_syncing),
	    cmocka_unit_test(test_down_for_warnings_does_not_sync),
	    cmocka_unit_test(test_sync_grace_zero_skips_syncing),
	    cmocka_unit_test(test_grace_expiry_once),
	    cmocka_unit_test(test_rise_and_readmit_after_both_required),
	    cmocka_unit_test(test_slow_start_weights),
	    cmocka_unit_test(test_flap_hold_doubles_to_the_cap),
	    cmocka_unit_test(test_admin_states),
	    cmocka_unit_test(test_panic_ranks),
	    cmocka_unit_test(test_intervals),
	    cmocka_unit_test(test_rings_stay_bounded),
	    cmocka_unit_test(test_events_may_be_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
