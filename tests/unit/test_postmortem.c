/* Postmortem drafts: every section, in order; the by-time table's durations; the counts;
 * ops' fields or the suggested interventions; Japanese headings; a bounded buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ops/postmortem.h"
#include "ops/remedy.h"
#include "ops/similar.h"

#define S(x) ((int64_t)(x)*1000)

static const int64_t t0 = 1700000000000; /* 2023-11-14 22:13:20Z */
static char md[PM_MAX];

static struct incident_entry entries[] = {
    {.at = 1700000000000,
     .kind = ENTRY_OPEN,
     .text = "backend n2: up -> down (peers 0 < 3 (critical))"},
    {.at = 1700000000000 + S(5),
     .kind = ENTRY_ALERT,
     .text = "alert ops: delivered (HTTP 200, 1 try)"},
    {.at = 1700000000000 + S(60), .kind = ENTRY_ACK, .text = "acknowledged by ana (admin API)"},
    {.at = 1700000000000 + S(120),
     .kind = ENTRY_ACTION,
     .text = "hook restart (backend n2, backend_down): exit 0 after 1.2s"},
    {.at = 1700000000000 + S(130), .kind = ENTRY_NOTE, .text = "ana: restarted rippled"},
    {.at = 1700000000000 + S(180),
     .kind = ENTRY_UPDATE,
     .status = UPD_MONITORING,
     .text = "n2 syncing"},
    {.at = 1700000000000 + S(3700),
     .kind = ENTRY_TRANSITION,
     .text = "backend n2: down -> up (healthy)"},
    {.at = 1700000000000 + S(3723),
     .kind = ENTRY_RESOLVE,
     .text = "pool rpc: degraded -> operational"},
};

static struct incident incident(void)
{
	struct incident inc = {
	    .id = 7, .started = t0, .resolved = t0 + S(3723), .acked = t0 + S(60)};

	snprintf(inc.pool, sizeof(inc.pool), "rpc");
	snprintf(inc.title, sizeof(inc.title), "rpc: degraded (n2 down: peers 0 < 3 (critical))");
	snprintf(inc.backend, sizeof(inc.backend), "n2");
	snprintf(inc.verdict, sizeof(inc.verdict), "critical");
	inc.causes = 1u << RC_PEERS;
	inc.entries = entries;
	inc.n_entries = sizeof(entries) / sizeof(entries[0]);
	return inc;
}

/* Where NEEDLE is in md, after FROM; fails when missing. */
static const char *after(const char *from, const char *needle)
{
	const char *p = strstr(from, needle);

	if (p == NULL)
		fail_msg("missing after the last match: %s\n---\n%s", needle, md);
	return p + strlen(needle);
}

static void test_duration(void **state)
{
	char b[32];

	(void)state;
	pm_duration(750, b, sizeof(b));
	assert_string_equal(b, "750ms");
	pm_duration(S(6), b, sizeof(b));
	assert_string_equal(b, "6s");
	pm_duration(S(245), b, sizeof(b));
	assert_string_equal(b, "4m 5s");
	pm_duration(S(3723), b, sizeof(b));
	assert_string_equal(b, "1h 2m 3s");
	pm_duration(-1, b, sizeof(b));
	assert_string_equal(b, "-");
}

/* Every section in order, with the moments and their durations from the start. */
static void test_every_section_in_order(void **state)
{
	struct incident inc = incident();
	static const struct incident_method methods[] = {{"server_info", 7, 2}, {"-", 3, 0}};
	struct pm_counts c = {.known = true,
	                      .answered = 10,
	                      .failed = 2,
	                      .retried = 3,
	                      .refused = 1,
	                      .methods = methods,
	                      .n_methods = 2};
	struct pm_fields f = {.root_cause = "a firewall change cut n2 from its peers",
	                      .detect = "alert on peers < 5 (warning)"};
	struct similar sim = {.count = 2, .resolved = 2, .median_ms = S(600)};
	const char *p = md;
	size_t n;

	(void)state;
	n = pm_render(&inc, &c, &f, &sim, PM_EN, t0 + S(9999), md, sizeof(md));
	assert_int_equal(n, strlen(md));
	p = after(p, "# Postmortem: incident 7\n");
	p = after(p, "## What happened\n\nrpc: degraded (n2 down: peers 0 < 3 (critical))\n");
	p = after(p, "- backend: n2\n- verdict: critical\n");
	p = after(p, "- duration: 1h 2m 3s\n");
	p = after(p, "similar incidents in the 90 days before: 2 (median time to resolve 10m 0s)");
	p = after(p, "## Timeline\n\n- 2023-11-14 22:13:20Z [open] backend n2: up -> down");
	p = after(p, "- 2023-11-14 22:13:25Z [alert] alert ops: delivered");
	p = after(p, "[ack] acknowledged by ana");
	p = after(p, "[action] hook restart");
	p = after(p, "[note] ana: restarted rippled");
	p = after(p, "[update monitoring] n2 syncing");
	p = after(p, "[transition] backend n2: down -> up");
	p = after(p, "- 2023-11-14 23:15:23Z [resolve] pool rpc: degraded -> operational\n");
	p = after(p, "## Impact\n\n### By customer\n");
	p = after(
	    p, "| answered | failed | retried | refused |\n|---|---|---|---|\n| 10 | 2 | 3 | 1 |");
	p = after(p, "### By function\n\n- pools: rpc\n- methods: server_info 7 (2 failed), "
	             "(no method) 3 (0 failed)\n");
	p = after(p, "### By time\n");
	p = after(p, "| start | 2023-11-14 22:13:20Z | 0ms |\n");
	p = after(p, "| detection | 2023-11-14 22:13:20Z | 0ms |\n");
	p = after(p, "| acknowledgement | 2023-11-14 22:14:20Z | 1m 0s |\n");
	p = after(p, "| mitigation | 2023-11-14 22:15:20Z | 2m 0s |\n"); /* the hook run */
	p = after(p, "| resolution | 2023-11-14 23:15:23Z | 1h 2m 3s |\n");
	p = after(p, "## Investigation\n\n- metrics seen: peers\n");
	p = after(p, "- backend n2: up -> down (peers 0 < 3 (critical))\n");
	p = after(p, "## Root cause\n\na firewall change cut n2 from its peers\n");
	p = after(p, "## Prevention\n\n### Prevent\n\ninvestigate the network");
	p = after(p, "(suggested)\n");
	p = after(p, "### Detect\n\nalert on peers < 5 (warning)\n"); /* ops wrote it */
	p = after(p, "### Mitigate\n\ntraffic redirected to healthy nodes");
	p = after(p, "### Fix\n\nrestart rippled");
	assert_null(strstr(md, "(cut at"));
}

/* Open, nothing acknowledged nor mitigated, no counts, no ops fields: the gaps say so. */
static void test_open_incident_without_counts(void **state)
{
	struct incident inc = incident();
	const char *p = md;

	(void)state;
	inc.resolved = 0;
	inc.acked = 0;
	inc.n_entries = 3; /* open, alert, ack line (the ack time itself is 0) */
	pm_render(&inc, NULL, NULL, NULL, PM_EN, t0 + S(90), md, sizeof(md));
	p = after(p, "- duration: 1m 30s (open)\n");
	p = after(p, "### By customer\n\nnot recorded\n");
	p = after(p, "- methods: not recorded\n");
	p = after(p,
	          "| acknowledgement | - | - |\n| mitigation | - | - |\n| resolution | - | - |\n");
	p = after(p, "## Root cause\n\n(to be written)\n");
	p = after(p, "### Detect\n\n(to be written)\n");
	assert_null(strstr(md, "similar incidents"));
}

static void test_japanese_headings(void **state)
{
	struct incident inc = incident();
	const char *p = md;

	(void)state;
	assert_string_equal(pm_lang_names[PM_JA], "ja");
	pm_render(&inc, NULL, NULL, NULL, PM_JA, t0, md, sizeof(md));
	p = after(p, "# ポストモーテム: incident 7");
	p = after(p, "## 何が起きたか");
	p = after(p, "## タイムライン");
	p = after(p, "## 影響\n\n### 顧客への影響");
	p = after(p, "### 機能への影響");
	p = after(p, "### 時間への影響");
	p = after(p, "| 受付 | 2023-11-14 22:14:20Z | 1m 0s |");
	p = after(p, "## 調査");
	p = after(p, "## 根本原因");
	p = after(p, "## 再発防止\n\n### 予防");
	p = after(p, "### 検知");
	p = after(p, "### 緩和");
	p = after(p, "### 復旧");
	assert_null(strstr(md, "## Timeline"));
}

/* A small buffer: cut between pieces, NUL ended, and it says so. */
static void test_cut_when_full(void **state)
{
	struct incident inc = incident();
	char small[400];
	size_t n;

	(void)state;
	n = pm_render(&inc, NULL, NULL, NULL, PM_EN, t0, small, sizeof(small));
	assert_true(n < sizeof(small));
	assert_int_equal(strlen(small), n);
	assert_non_null(strstr(small, "# Postmortem: incident 7"));
	assert_non_null(strstr(small, "(cut at "));
	assert_null(strstr(small, "## Prevention"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_every_section_in_order),
	    cmocka_unit_test(test_open_incident_without_counts),
	    cmocka_unit_test(test_japanese_headings),
	    cmocka_unit_test(test_cut_when_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
