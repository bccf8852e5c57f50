/* Alerts, the pure parts: which bus transitions are events, which events a channel sends
 * (on, min_severity, grace_expired, resolves), the rate limit and the backoff with a fake
 * clock, and the messages (webhook JSON, Slack, PagerDuty v2, email). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ops/alert.h"
#include "health/health.h"
#include "health/poolstat.h"

#define ALL    ((1u << NOTIFY_COUNT) - 1)
#define BIT(e) (1u << (e))

static struct health_event tr(enum health_state from, enum health_state to, bool in_grace)
{
	struct health_event he = {
	    .kind = HE_TRANSITION, .from = from, .to = to, .in_grace = in_grace};

	return he;
}

static void events_of_transitions(void **state)
{
	struct health_event he = tr(HS_UP, HS_DOWN, false);

	assert_int_equal(alert_event_of(&he), NOTIFY_BACKEND_DOWN);
	he = tr(HS_SYNCING, HS_DOWN, true); /* a restart inside the grace */
	assert_int_equal(alert_event_of(&he), -1);
	he = tr(HS_DOWN, HS_SYNCING, true);
	assert_int_equal(alert_event_of(&he), -1);
	he = tr(HS_DOWN, HS_UP, false);
	assert_int_equal(alert_event_of(&he), NOTIFY_BACKEND_UP);
	he = tr(HS_SYNCING, HS_SLOW_START, true); /* synced within its grace: back */
	assert_int_equal(alert_event_of(&he), NOTIFY_BACKEND_UP);
	he = tr(HS_CHECKING, HS_UP, false); /* the first verdict after a start */
	assert_int_equal(alert_event_of(&he), -1);
	he = tr(HS_SLOW_START, HS_UP, false);
	assert_int_equal(alert_event_of(&he), -1);
	he = tr(HS_CHECKING, HS_DOWN, false);
	assert_int_equal(alert_event_of(&he), NOTIFY_BACKEND_DOWN);
	he = tr(HS_UP, HS_DOWN, false);
	he.admin_to = ADMIN_MAINT; /* what ops asked for */
	assert_int_equal(alert_event_of(&he), -1);
	he = (struct health_event){.kind = HE_GRACE_EXPIRED, .from = HS_SYNCING, .to = HS_DOWN};
	assert_int_equal(alert_event_of(&he), NOTIFY_GRACE_EXPIRED);
	he = (struct health_event){.kind = HE_ADMIN, .admin_to = ADMIN_DRAIN};
	assert_int_equal(alert_event_of(&he), -1);
}

static void severity_from_pool_status(void **state)
{
	assert_int_equal(alert_severity(PS_OPERATIONAL), SEV_INFO);
	assert_int_equal(alert_severity(PS_DEGRADED), SEV_WARNING);
	assert_int_equal(alert_severity(PS_PARTIAL_OUTAGE), SEV_ERROR);
	assert_int_equal(alert_severity(PS_MAJOR_OUTAGE), SEV_CRITICAL);
	assert_int_equal(alert_severity(-1), SEV_WARNING);
}

static struct alert_event event(int e, enum severity s)
{
	struct alert_event ev = {
	    .event = e, .severity = s, .status = PS_DEGRADED, .incident = 7, .priority = -1};

	return ev;
}

static void the_filter(void **state)
{
	struct alert_event open = event(NOTIFY_INCIDENT_OPEN, SEV_WARNING);
	struct alert_event resolved = event(NOTIFY_INCIDENT_RESOLVED, SEV_INFO);
	struct alert_event expired = event(NOTIFY_GRACE_EXPIRED, SEV_INFO);
	struct alert_event test = event(ALERT_TEST, SEV_INFO);

	assert_true(alert_wanted(ALL, SEV_INFO, &open, false));
	assert_true(alert_wanted(ALL, SEV_WARNING, &open, false));
	assert_false(alert_wanted(ALL, SEV_ERROR, &open, false));
	assert_false(alert_wanted(ALL & ~BIT(NOTIFY_INCIDENT_OPEN), SEV_INFO, &open, false));
	/* grace_expired: whatever min_severity, but only when asked for */
	assert_true(alert_wanted(ALL, SEV_CRITICAL, &expired, false));
	assert_false(alert_wanted(BIT(NOTIFY_INCIDENT_OPEN), SEV_INFO, &expired, false));
	/* a resolve follows its incident, whatever its own severity */
	assert_true(alert_wanted(ALL, SEV_CRITICAL, &resolved, true));
	assert_false(alert_wanted(ALL, SEV_INFO, &resolved, false));
	assert_false(alert_wanted(BIT(NOTIFY_INCIDENT_OPEN), SEV_INFO, &resolved, true));
	assert_true(alert_wanted(0, SEV_CRITICAL, &test, false));
}

static void rate_limit_with_a_fake_clock(void **state)
{
	struct alert_rate r = {0};
	uint64_t now = 1000000;
	int sent = 0;

	for (int i = 0; i < 10; i++)
		sent += alert_rate_take(&r, 3, now);
	assert_int_equal(sent, 3); /* a burst of the per-minute count */
	assert_false(alert_rate_take(&r, 3, now + 19999));
	assert_true(alert_rate_take(&r, 3, now + 20000)); /* one token every 20s */
	assert_false(alert_rate_take(&r, 3, now + 20001));
	/* an hour later the bucket is full again, not fuller */
	now += 3600 * 1000;
	sent = 0;
	for (int i = 0; i < 10; i++)
		sent += alert_rate_take(&r, 3, now);
	assert_int_equal(sent, 3);
	for (int i = 0; i < 1000; i++)
		assert_true(alert_rate_take(&r, 0, now)); /* 0: no limit */
}

static void backoff_doubles(void **state)
{
	assert_int_equal(alert_backoff(1000, 1), 1000);
	assert_int_equal(alert_backoff(1000, 2), 2000);
	assert_int_equal(alert_backoff(1000, 4), 8000);
	assert_int_equal(alert_backoff(1000, 40), 3600000); /* at most an hour */
	assert_int_equal(alert_backoff(7200000, 1), 3600000);
}

static struct alert_event backend_down(void)
{
	struct alert_event ev = {.event = NOTIFY_BACKEND_DOWN,
	                         .severity = SEV_ERROR,
	                         .status = PS_PARTIAL_OUTAGE,
	                         .incident = 12,
	                         .at = 1795262400123LL,
	                         .priority = -1};

	strcpy(ev.pool, "rpc");
	strcpy(ev.backend, "n2");
	strcpy(ev.old_state, "up");
	strcpy(ev.new_state, "down");
	strcpy(ev.verdict, "critical");
	strcpy(ev.reason, "peers 0 \"none\"");
	return ev;
}

static json_t *parse(char *text)
{
	json_error_t e;
	json_t *doc;

	assert_non_null(text);
	doc = json_loads(text, 0, &e);
	free(text);
	assert_non_null(doc);
	return doc;
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void webhook_body(void **state)
{
	struct alert_event ev = backend_down();
	json_t *doc = parse(alert_body_webhook(&ev, "https://status.example.net/"));

	assert_string_equal(str(doc, "event"), "backend_down");
	assert_string_equal(str(doc, "severity"), "error");
	assert_int_equal(json_integer_value(json_object_get(doc, "incident")), 12);
	assert_string_equal(str(doc, "pool"), "rpc");
	assert_string_equal(str(doc, "backend"), "n2");
	assert_string_equal(str(doc, "old_state"), "up");
	assert_string_equal(str(doc, "new_state"), "down");
	assert_string_equal(str(doc, "verdict"), "critical");
	assert_string_equal(str(doc, "reason"), "peers 0 \"none\"");
	assert_string_equal(str(doc, "status"), "partial_outage");
	assert_string_equal(str(doc, "time"), "2026-11-21T12:00:00.123Z");
	assert_string_equal(str(doc, "status_url"), "https://status.example.net/");
	assert_true(json_is_null(json_object_get(doc, "title")));
	assert_true(json_is_null(json_object_get(doc, "similar")));
	json_decref(doc);
	strcpy(ev.similar, "2 in the last 90 days (backend n2, critical)");
	doc = parse(alert_body_webhook(&ev, NULL));
	assert_string_equal(str(doc, "similar"), "2 in the last 90 days (backend n2, critical)");
	json_decref(doc);
	doc = parse(alert_body_slack(&ev, NULL));
	assert_non_null(strstr(str(doc, "text"), "\nSimilar: 2 in the last 90 days"));
	json_decref(doc);
	ev.similar[0] = '\0';
	ev.incident = 0;
	doc = parse(alert_body_webhook(&ev, NULL));
	assert_true(json_is_null(json_object_get(doc, "incident")));
	assert_true(json_is_null(json_object_get(doc, "status_url")));
	json_decref(doc);
}

static void slack_body(void **state)
{
	struct alert_event ev = backend_down();
	json_t *doc = parse(alert_body_slack(&ev, NULL)), *att;

	assert_string_equal(str(doc, "text"),
	                    "[error] rpc: n2 left rotation: up -> down (peers 0 \"none\")");
	att = json_array_get(json_object_get(doc, "attachments"), 0);
	assert_string_equal(str(att, "color"), "#e8590c");
	assert_true(json_array_size(json_object_get(att, "fields")) >= 4);
	assert_null(json_object_get(att, "title_link"));
	json_decref(doc);
	doc = parse(alert_body_slack(&ev, "https://status.example.net/"));
	att = json_array_get(json_object_get(doc, "attachments"), 0);
	assert_string_equal(str(att, "title_link"), "https://status.example.net/");
	json_decref(doc);
	ev.event = NOTIFY_INCIDENT_RESOLVED;
	ev.severity = SEV_INFO;
	doc = parse(alert_body_slack(&ev, NULL));
	att = json_array_get(json_object_get(doc, "attachments"), 0);
	assert_string_equal(str(att, "color"), "#2eb886"); /* good news is green */
	json_decref(doc);
	ev.event = NOTIFY_INCIDENT_OPEN;
	ev.severity = SEV_CRITICAL;
	doc = parse(alert_body_slack(&ev, NULL));
	att = json_array_get(json_object_get(doc, "attachments"), 0);
	assert_string_equal(str(att, "color"), "#d00000");
	json_decref(doc);
}

static void pagerduty_body(void **state)
{
	struct alert_event ev = backend_down();
	json_t *doc, *payload;

	ev.event = NOTIFY_INCIDENT_OPEN;
	strcpy(ev.title, "rpc: partial_outage (n2 down: peers 0)");
	doc = parse(alert_body_pagerduty(&ev, "https://status.example.net/", "KEY123"));
	assert_string_equal(str(doc, "routing_key"), "KEY123");
	assert_string_equal(str(doc, "event_action"), "trigger");
	assert_string_equal(str(doc, "dedup_key"), "nodegate-incident-12");
	payload = json_object_get(doc, "payload");
	assert_string_equal(str(payload, "severity"), "error");
	assert_string_equal(str(payload, "source"), "nodegate");
	assert_string_equal(str(payload, "summary"),
	                    "[error] incident 12 opened: rpc: partial_outage (n2 down: peers 0)");
	assert_string_equal(str(json_array_get(json_object_get(doc, "links"), 0), "href"),
	                    "https://status.example.net/");
	json_decref(doc);
	ev.event = NOTIFY_INCIDENT_RESOLVED;
	ev.severity = SEV_INFO;
	doc = parse(alert_body_pagerduty(&ev, NULL, "KEY123"));
	assert_string_equal(str(doc, "event_action"), "resolve");
	assert_string_equal(str(doc, "dedup_key"), "nodegate-incident-12"); /* the same */
	assert_null(json_object_get(doc, "links"));
	json_decref(doc);
	/* an acknowledgement: the same key again; the priority and the remedy go along */
	ev.event = NOTIFY_INCIDENT_ACK;
	ev.priority = PRIO_P2;
	strcpy(ev.reason, "acknowledged by alice (admin API)");
	strcpy(ev.remedy, "restart rippled (peers)");
	doc = parse(alert_body_pagerduty(&ev, NULL, "KEY123"));
	assert_string_equal(str(doc, "event_action"), "acknowledge");
	assert_string_equal(str(doc, "dedup_key"), "nodegate-incident-12");
	payload = json_object_get(doc, "payload");
	assert_string_equal(
	    str(payload, "summary"),
	    "[info] incident 12 acknowledged (P2): acknowledged by alice (admin API)");
	assert_string_equal(str(json_object_get(payload, "custom_details"), "priority"), "P2");
	assert_string_equal(str(json_object_get(payload, "custom_details"), "remedy"),
	                    "restart rippled (peers)");
	json_decref(doc);
	/* a link to acknowledge, beside the status page */
	ev.event = NOTIFY_INCIDENT_OPEN;
	strcpy(ev.ack_url, "https://status.example.net/ack?token=abc");
	doc = parse(alert_body_pagerduty(&ev, "https://status.example.net/", "KEY123"));
	assert_string_equal(str(json_array_get(json_object_get(doc, "links"), 1), "href"),
	                    "https://status.example.net/ack?token=abc");
	json_decref(doc);
	assert_int_equal(alert_severity_of_priority(PRIO_P1), SEV_CRITICAL);
	assert_int_equal(alert_severity_of_priority(PRIO_P2), SEV_ERROR);
	assert_int_equal(alert_severity_of_priority(PRIO_P3), SEV_WARNING);
	assert_int_equal(alert_severity_of_priority(PRIO_P4), SEV_INFO);
	ev = backend_down();
	ev.incident = 0;
	doc = parse(alert_body_pagerduty(&ev, NULL, "K"));
	assert_string_equal(str(doc, "dedup_key"), "nodegate-rpc-n2");
	json_decref(doc);
}

static void email_body(void **state)
{
	struct alert_event ev = backend_down();
	char subject[128];
	char *mail;

	alert_subject(&ev, subject, sizeof(subject));
	assert_string_equal(subject, "[nodegate] rpc: partial_outage");
	ev.event = NOTIFY_INCIDENT_RESOLVED;
	alert_subject(&ev, subject, sizeof(subject));
	assert_string_equal(subject, "[nodegate] rpc: operational");
	ev.event = ALERT_TEST;
	ev.pool[0] = '\0';
	alert_subject(&ev, subject, sizeof(subject));
	assert_string_equal(subject, "[nodegate] all pools: test");

	ev = backend_down();
	mail = alert_body_email(&ev, "https://status.example.net/", "ng@example.net",
	                        "a@example.net, b@example.net");
	assert_non_null(mail);
	assert_non_null(strstr(mail, "From: ng@example.net\r\nTo: a@example.net, b@example.net\r\n"
	                             "Subject: [nodegate] rpc: partial_outage\r\n"
	                             "Date: Sat, 21 Nov 2026 12:00:00 +0000\r\n"));
	assert_non_null(strstr(mail, "\r\n\r\n[error] rpc: n2 left rotation: up -> down"));
	assert_non_null(strstr(mail, "Change:      up -> down\r\n"));
	assert_non_null(strstr(mail, "Incident:    12\r\n"));
	assert_non_null(strstr(mail, "Status page: https://status.example.net/\r\n"));
	assert_null(strstr(mail, "\n\n")); /* every line ends in CRLF */
	free(mail);
}

static void summaries(void **state)
{
	struct alert_event ev = backend_down();
	char s[512];

	ev.event = NOTIFY_GRACE_EXPIRED;
	strcpy(ev.reason, "sync grace expired");
	alert_summary(&ev, s, sizeof(s));
	assert_string_equal(s, "[error] rpc: n2 did not sync within its sync grace "
	                       "(sync grace expired)");
	ev.event = NOTIFY_INCIDENT_UPDATE;
	strcpy(ev.reason, "n2 back soon");
	alert_summary(&ev, s, sizeof(s));
	assert_string_equal(s, "[error] incident 12 updated: n2 back soon");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(events_of_transitions),
	    cmocka_unit_test(severity_from_pool_status),
	    cmocka_unit_test(the_filter),
	    cmocka_unit_test(rate_limit_with_a_fake_clock),
	    cmocka_unit_test(backoff_doubles),
	    cmocka_unit_test(webhook_body),
	    cmocka_unit_test(slack_body),
	    cmocka_unit_test(pagerduty_body),
	    cmocka_unit_test(email_body),
	    cmocka_unit_test(summaries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
