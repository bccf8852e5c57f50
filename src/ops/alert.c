/* Alert channels: events in (incidents, the bus), filtered per channel, queued, and
 * delivered one at a time per channel on the loop (curlev.c), retried with a backoff.
 *
 *   on_incident (the incident engine's watcher), on_bus (next loop turn, bus phase alerts)
 *       ──► dispatch ──► channel_offer
 *   channel_offer: alert_wanted, alert_rate_take, queue ──► pump ──► attempt ──► curlev
 *   attempt_done ──► delivered | retry timer ──► attempt | dropped ──► pump (next one) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "util.h"
#include "clock.h"
#include "ops/acklink.h"
#include "ops/alert.h"
#include "ops/outbox.h"
#include "ops/sender.h"
#include "ops/store.h"
#include "ops/deliver.h"
#include "ops/remedy.h"
#include "ops/incident.h"
#include "bus.h"
#include "health/curlev.h"
#include "health/health.h"
#include "log.h"
#include "metrics.h"
#include "health/poolstat.h"
#include "registry.h"
#include "ops/redact.h"
#include "ops/status.h"

#define ALERT_USER_AGENT  "nodegate-alert"
#define ALERT_REACHED_MAX 64 /* incidents remembered per channel for their resolve */
#define ALERT_TEST_TRIES  3  /* --test-alert: one attempt, at most two retries */
#define PD_DEFAULT_URL    "https://events.pagerduty.com/v2/enqueue"

const char *const alert_result_names[AR_COUNT] = {
    [AR_DELIVERED] = "delivered",       [AR_FAILED] = "failed",         [AR_DROPPED] = "dropped",
    [AR_RATE_LIMITED] = "rate_limited", [AR_QUEUE_FULL] = "queue_full",
};

/* ---- the decisions ----------------------------------------------------------------------- */

enum severity alert_severity(int pool_status)
{
	static const enum severity of[PS_COUNT] = {
	    [PS_OPERATIONAL] = SEV_INFO,
	    [PS_DEGRADED] = SEV_WARNING,
	    [PS_PARTIAL_OUTAGE] = SEV_ERROR,
	    [PS_MAJOR_OUTAGE] = SEV_CRITICAL,
	};

	return pool_status >= 0 && pool_status < PS_COUNT ? of[pool_status] : SEV_WARNING;
}

enum severity alert_severity_of_priority(int priority)
{
	static const enum severity of[PRIO_COUNT] = {
	    [PRIO_P1] = SEV_CRITICAL,
	    [PRIO_P2] = SEV_ERROR,
	    [PRIO_P3] = SEV_WARNING,
	    [PRIO_P4] = SEV_INFO,
	};

	return priority >= 0 && priority < PRIO_COUNT ? of[priority] : SEV_WARNING;
}

int alert_event_of(const struct health_event *he)
{
	/* a node under an admin state is ops' business: its health moves are not news */
	enum notify_event e = he->kind == HE_TRANSITION && he->admin_to != ADMIN_NONE
	                          ? NOTIFY_COUNT
	                          : bus_notify_event(he);

	return e == NOTIFY_COUNT ? -1 : (int)e;
}

bool alert_wanted(unsigned on_mask, int min_severity, const struct alert_event *ev, bool reached)
{
	if (ev->event == ALERT_TEST)
		return true;
	if (ev->event < 0 || ev->event >= NOTIFY_COUNT || !(on_mask & 1u << ev->event))
		return false;
	if (ev->event == NOTIFY_GRACE_EXPIRED)
		return true;
	if (ev->event == NOTIFY_INCIDENT_RESOLVED)
		return reached;
	return (int)ev->severity >= min_severity;
}

bool alert_rate_take(struct alert_rate *r, uint64_t per_minute, uint64_t now)
{
	uint64_t cap = per_minute * 60000;

	if (per_minute == 0)
		return true;
	if (!r->started || r->milli > cap) {
		r->started = true;
		r->milli = cap;
		r->last = now;
	}
	if (now > r->last) {
		uint64_t add = (now - r->last) * per_minute;
		r->milli = add >= cap - r->milli ? cap : r->milli + add;
		r->last = now;
	}
	if (r->milli < 60000)
		return false;
	r->milli -= 60000;
	return true;
}

uint64_t alert_backoff(uint64_t base, unsigned failures)
{
	return deliver_backoff(base, failures);
}

/* ---- the messages ------------------------------------------------------------------------ */

/* " (P2)" after an incident's id, "" without a priority. */
static const char *prio_tag(const struct alert_event *ev, char *buf, size_t len)
{
	buf[0] = '\0';
	if (ev->priority >= 0 && ev->priority < PRIO_COUNT)
		snprintf(buf, len, " (%s)", priority_names[ev->priority]);
	return buf;
}

static const char *event_name(int event)
{
	if (event < 0)
		return "message"; /* replayed from the fleet's outbox: its body only */
	return event < NOTIFY_COUNT ? notify_event_names[event] : "test";
}

static const char *sev_name(enum severity s)
{
	return s < SEV_COUNT ? severity_names[s] : "warning";
}

/* The pool status a message names: the event's, or the one its severity stands for. */
static const char *status_name(const struct alert_event *ev)
{
	if (ev->event == ALERT_TEST)
		return "test";
	if (ev->event == NOTIFY_INCIDENT_RESOLVED)
		return pool_status_names[PS_OPERATIONAL];
	if (ev->status >= 0 && ev->status < PS_COUNT)
		return pool_status_names[ev->status];
	return "unknown";
}

static const char *pool_or_all(const struct alert_event *ev)
{
	return ev->pool[0] != '\0' ? ev->pool : "all pools";
}

void alert_summary(const struct alert_event *ev, char *buf, size_t len)
{
	const char *sev = sev_name(ev->severity), *pool = pool_or_all(ev);
	long long id = (long long)ev->incident;
	char p[8];

	switch (ev->event) {
	case NOTIFY_INCIDENT_OPEN:
		snprintf(buf, len, "[%s] incident %lld opened%s: %s", sev, id,
		         prio_tag(ev, p, sizeof(p)), ev->title);
		break;
	case NOTIFY_INCIDENT_UPDATE:
		snprintf(buf, len, "[%s] incident %lld updated%s: %s", sev, id,
		         prio_tag(ev, p, sizeof(p)), ev->reason);
		break;
	case NOTIFY_INCIDENT_RESOLVED:
		snprintf(buf, len, "[%s] incident %lld resolved%s: %s", sev, id,
		         prio_tag(ev, p, sizeof(p)), ev->title);
		break;
	case NOTIFY_INCIDENT_ACK:
		snprintf(buf, len, "[%s] incident %lld acknowledged%s: %s", sev, id,
		         prio_tag(ev, p, sizeof(p)), ev->reason);
		break;
	case NOTIFY_GRACE_EXPIRED:
		snprintf(buf, len, "[%s] %s: %s did not sync within its sync grace (%s)", sev, pool,
		         ev->backend, ev->reason);
		break;
	case NOTIFY_BACKEND_DOWN:
		snprintf(buf, len, "[%s] %s: %s left rotation: %s -> %s (%s)", sev, pool,
		         ev->backend, ev->old_state, ev->new_state, ev->reason);
		break;
	case NOTIFY_BACKEND_UP:
		snprintf(buf, len, "[%s] %s: %s back in rotation: %s -> %s (%s)", sev, pool,
		         ev->backend, ev->old_state, ev->new_state, ev->reason);
		break;
	default:
		snprintf(buf, len, "[%s] %s", sev, ev->reason);
		break;
	}
}

void alert_subject(const struct alert_event *ev, char *buf, size_t len)
{
	snprintf(buf, len, "[nodegate] %s: %s", pool_or_all(ev), status_name(ev));
}

static json_t *str_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? redact_json_text(s) : json_null();
}

static char *dump(json_t *doc)
{
	char *out = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;

	json_decref(doc);
	return out;
}

static void iso(int64_t ms, char *buf, size_t len)
{
	incident_iso(ms, buf, len);
}

char *alert_body_webhook(const struct alert_event *ev, const char *status_url)
{
	char at[32];

	json_t *doc;

	iso(ev->at, at, sizeof(at));
	doc = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:o}",
	                "event", event_name(ev->event), "severity", sev_name(ev->severity),
	                "incident", ev->incident > 0 ? json_integer(ev->incident) : json_null(),
	                "pool", str_or_null(ev->pool), "backend", str_or_null(ev->backend),
	                "old_state", str_or_null(ev->old_state), "new_state",
	                str_or_null(ev->new_state), "verdict", str_or_null(ev->verdict), "reason",
	                str_or_null(ev->reason), "title", str_or_null(ev->title), "status",
	                status_name(ev), "time", at, "status_url", str_or_null(status_url));
	if (doc != NULL)
		json_object_update_new(
		    doc, json_pack("{s:o, s:o, s:o, s:o}", "priority",
		                   ev->priority >= 0 && ev->priority < PRIO_COUNT
		                       ? json_string(priority_names[ev->priority])
		                       : json_null(),
		                   "remedy", str_or_null(ev->remedy), "chat_channel",
		                   str_or_null(ev->chat), "ack_url", str_or_null(ev->ack_url)));
	if (doc != NULL)
		json_object_set_new(doc, "similar", str_or_null(ev->similar));
	return dump(doc);
}

/* Slack's attachment colours: green for good news, then by severity. */
static const char *slack_colour(const struct alert_event *ev)
{
	static const char *const by_sev[SEV_COUNT] = {
	    [SEV_INFO] = "#439fe0",
	    [SEV_WARNING] = "#daa038",
	    [SEV_ERROR] = "#e8590c",
	    [SEV_CRITICAL] = "#d00000",
	};

	if (ev->event == NOTIFY_INCIDENT_RESOLVED || ev->event == NOTIFY_BACKEND_UP)
		return "#2eb886";
	return by_sev[ev->severity < SEV_COUNT ? ev->severity : SEV_WARNING];
}

static void slack_field(json_t *fields, const char *title, const char *value)
{
	if (value != NULL && value[0] != '\0')
		json_array_append_new(fields, json_pack("{s:s, s:o, s:b}", "title", title, "value",
		                                        redact_json_text(value), "short", 1));
}

char *alert_body_slack(const struct alert_event *ev, const char *status_url)
{
	char summary[3 * INCIDENT_TEXT_MAX + 600], id[32] = "";
	json_t *fields = json_array(), *doc;
	size_t n;

	if (fields == NULL)
		return NULL;
	alert_summary(ev, summary, sizeof(summary));
	n = strlen(summary);
	/* the chat channel to open, what usually helps, and the one-click acknowledgement */
	if (ev->chat[0] != '\0' && ev->event == NOTIFY_INCIDENT_OPEN)
		n += (size_t)snprintf(summary + n, sizeof(summary) - n, "\nChannel: %s", ev->chat);
	if (ev->remedy[0] != '\0' && n < sizeof(summary))
		n += (size_t)snprintf(summary + n, sizeof(summary) - n, "\nSuggested: %s",
		                      ev->remedy);
	if (ev->similar[0] != '\0' && n < sizeof(summary))
		n += (size_t)snprintf(summary + n, sizeof(summary) - n, "\nSimilar: %s",
		                      ev->similar);
	if (ev->ack_url[0] != '\0' && n < sizeof(summary))
		snprintf(summary + n, sizeof(summary) - n, "\n<%s|Acknowledge>", ev->ack_url);
	if (ev->incident > 0)
		snprintf(id, sizeof(id), "%lld", (long long)ev->incident);
	slack_field(fields, "Pool", ev->pool);
	slack_field(fields, "Status", status_name(ev));
	slack_field(fields, "Backend", ev->backend);
	slack_field(fields, "Incident", id);
	slack_field(fields, "Severity", sev_name(ev->severity));
	if (ev->priority >= 0 && ev->priority < PRIO_COUNT)
		slack_field(fields, "Priority", priority_names[ev->priority]);
	slack_field(fields, "Status page", status_url);
	doc = json_pack("{s:o, s:[{s:s, s:s, s:o, s:o, s:s, s:I}]}", "text",
	                redact_json_text(summary), "attachments", "color", slack_colour(ev),
	                "fallback", event_name(ev->event), "title",
	                redact_json_text(ev->title[0] ? ev->title : event_name(ev->event)),
	                "fields", fields, "footer", "nodegate", "ts", (json_int_t)(ev->at / 1000));
	/* the attachment's title links the status page */
	if (doc != NULL && status_url != NULL && status_url[0] != '\0')
		json_object_set_new(json_array_get(json_object_get(doc, "attachments"), 0),
		                    "title_link", redact_json_text(status_url));
	return dump(doc);
}

static void dedup_key(const struct alert_event *ev, char *buf, size_t len)
{
	if (ev->incident > 0)
		snprintf(buf, len, "nodegate-incident-%lld", (long long)ev->incident);
	else
		snprintf(buf, len, "nodegate-%s-%s", ev->pool[0] ? ev->pool : "all",
		         ev->backend[0] ? ev->backend : event_name(ev->event));
}

char *alert_body_pagerduty(const struct alert_event *ev, const char *status_url,
                           const char *routing_key)
{
	char summary[INCIDENT_TEXT_MAX + 256], key[200], at[32];
	json_t *doc, *links;

	alert_summary(ev, summary, sizeof(summary));
	dedup_key(ev, key, sizeof(key));
	iso(ev->at, at, sizeof(at));
	doc = json_pack("{s:s, s:s, s:s, s:{s:o, s:s, s:s, s:s, s:o, s:s, s:{s:s, s:o, s:o, s:o}}}",
	                "routing_key", routing_key != NULL ? routing_key : "", "event_action",
	                ev->event == NOTIFY_INCIDENT_RESOLVED ? "resolve"
	                : ev->event == NOTIFY_INCIDENT_ACK    ? "acknowledge"
	                                                      : "trigger",
	                "dedup_key", key, "payload", "summary", redact_json_text(summary), "source",
	                "nodegate", "severity", sev_name(ev->severity), "timestamp", at,
	                "component", str_or_null(ev->backend), "class", event_name(ev->event),
	                "custom_details", "status", status_name(ev), "pool", str_or_null(ev->pool),
	                "reason", str_or_null(ev->reason), "title", str_or_null(ev->title));
	if (doc != NULL) {
		json_t *cd = json_object_get(json_object_get(doc, "payload"), "custom_details");

		json_object_set_new(cd, "priority",
		                    ev->priority >= 0 && ev->priority < PRIO_COUNT
		                        ? json_string(priority_names[ev->priority])
		                        : json_null());
		json_object_set_new(cd, "remedy", str_or_null(ev->remedy));
		json_object_set_new(cd, "similar", str_or_null(ev->similar));
	}
	links = json_array();
	if (doc != NULL && links != NULL && status_url != NULL && status_url[0] != '\0')
		json_array_append_new(
		    links, json_pack("{s:s, s:s}", "href", status_url, "text", "status page"));
	if (doc != NULL && links != NULL && ev->ack_url[0] != '\0')
		json_array_append_new(
		    links, json_pack("{s:s, s:s}", "href", ev->ack_url, "text", "acknowledge"));
	if (doc != NULL && links != NULL && json_array_size(links) > 0)
		json_object_set_new(doc, "links", links);
	else
		json_decref(links);
	return dump(doc);
}

/* Appends "NAME: VALUE\r\n" to the body when VALUE is set. */
static void mail_line(char **p, size_t *left, const char *name, const char *value)
{
	int n;

	if (value == NULL || value[0] == '\0' || *left == 0)
		return;
	n = snprintf(*p, *left, "%-12s %s\r\n", name, value);
	if (n < 0 || (size_t)n >= *left)
		n = (int)*left - 1;
	*p += n;
	*left -= (size_t)n;
}

char *alert_body_email(const struct alert_event *ev, const char *status_url, const char *from,
                       const char *to)
{
	size_t cap = 8192 + 6 * INCIDENT_TEXT_MAX, left;
	char *out = malloc(cap), *p, subject[200], date[64], at[32],
	     summary[INCIDENT_TEXT_MAX + 256];
	char id[32] = "", change[80] = "";
	time_t t = (time_t)(ev->at / 1000);
	struct tm tm;
	int n;

	if (out == NULL)
		return NULL;
	alert_subject(ev, subject, sizeof(subject));
	alert_summary(ev, summary, sizeof(summary));
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	iso(ev->at, at, sizeof(at));
	if (ev->incident > 0)
		snprintf(id, sizeof(id), "%lld", (long long)ev->incident);
	if (ev->old_state[0] != '\0' || ev->new_state[0] != '\0')
		snprintf(change, sizeof(change), "%s -> %s", ev->old_state[0] ? ev->old_state : "?",
		         ev->new_state[0] ? ev->new_state : "?");
	n = snprintf(out, cap,
	             "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\n"
	             "Content-Type: text/plain; charset=utf-8\r\n"
	             "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n"
	             "X-Nodegate-Event: %s\r\n\r\n%s\r\n\r\n",
	             from, to, subject, date, event_name(ev->event), summary);
	if (n < 0 || (size_t)n >= cap) {
		free(out);
		return NULL;
	}
	p = out + n;
	left = cap - (size_t)n;
	mail_line(&p, &left, "Event:", event_name(ev->event));
	mail_line(&p, &left, "Pool:", ev->pool);
	mail_line(&p, &left, "Status:", status_name(ev));
	mail_line(&p, &left, "Severity:", sev_name(ev->severity));
	mail_line(&p, &left, "Backend:", ev->backend);
	mail_line(&p, &left, "Change:", change);
	mail_line(&p, &left, "Verdict:", ev->verdict);
	mail_line(&p, &left, "Reason:", ev->reason);
	mail_line(&p, &left, "Incident:", id);
	mail_line(&p, &left, "Priority:",
	          ev->priority >= 0 && ev->priority < PRIO_COUNT ? priority_names[ev->priority]
	                                                         : "");
	mail_line(&p, &left, "Suggested:", ev->remedy);
	mail_line(&p, &left, "Similar:", ev->similar);
	mail_line(&p, &left, "Acknowledge:", ev->ack_url);
	mail_line(&p, &left, "Time:", at);
	mail_line(&p, &left, "Status page:", status_url);
	return out;
}

/* ---- channels ---------------------------------------------------------------------------- */

/* A channel's settings, secrets included, built from its [alert] section. A transfer in
 * flight keeps the settings it started with until it ends (a reload may swap them). */
struct chan_conf {
	int type;               /* enum alert_type */
	char *url;              /* webhook, slack, pagerduty; email: smtp_url */
	struct curl_slist *hdr; /* HTTP: Content-Type and the extra headers */
	char *routing_key;      /* pagerduty */
	char *from, *to;        /* email: as written (the To: header) */
	struct curl_slist *rcpt;
	char *username, *password;
	bool starttls, tls_verify;
	char *tls_ca;
	unsigned on_mask;
	int min_severity;
	uint64_t rate_limit, timeout, retries, retry_backoff, queue_size;
};

struct msg {
	TAILQ_ENTRY(msg) link;
	struct alert_event ev;
	char key[STORE_OUTBOX_KEY_MAX]; /* a fleet's outbox row, once recorded */
	bool recorded;                  /* in the outbox (or replayed from it) */
	struct outbox_wait *wait;       /* its record, until committed */
	char *raw;                      /* the body as recorded (replayed), NULL: built from ev */
	unsigned tries;                 /* attempts made */
	char last[200];                 /* why the last attempt failed */
	uint64_t first_at;              /* ms (monotonic) of the first attempt */
};
TAILQ_HEAD(msg_queue, msg);

struct channel {
	char *name;
	struct chan_conf *cf;     /* the settings now */
	struct chan_conf *flight; /* the settings of the transfer in flight, NULL when none */
	struct msg_queue queue;   /* waiting, oldest first */
	size_t n_queued;
	struct msg *cur; /* in flight, or waiting for its retry */
	struct curlev_job job;
	char errbuf[CURL_ERROR_SIZE];
	char *body; /* of the attempt in flight */
	size_t body_len, body_off;
	uint64_t started; /* ms (monotonic) the attempt started */
	struct event *retry;
	struct alert_rate rate;
	int64_t reached[ALERT_REACHED_MAX]; /* incidents that reached min_severity (a ring) */
	size_t n_reached;
	uint64_t counts[AR_COUNT];
	bool seen;      /* alert_apply: still configured */
	bool escalated; /* a channel of an escalation: incidents reach it through escalations */
};

static struct {
	struct event_base *base;
	bool on; /* alert_init done */
	struct channel **ch;
	size_t n_ch;
	char *status_url; /* linked from messages; NULL when there is no status page */
	void (*on_final)(struct channel *ch, bool ok); /* --test-alert */
} G;

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? src : "");
}

static void chan_conf_free(struct chan_conf *cf)
{
	if (cf == NULL)
		return;
	free(cf->url);
	curl_slist_free_all(cf->hdr);
	if (cf->routing_key != NULL)
		explicit_bzero(cf->routing_key, strlen(cf->routing_key));
	free(cf->routing_key);
	free(cf->from);
	free(cf->to);
	curl_slist_free_all(cf->rcpt);
	free(cf->username);
	if (cf->password != NULL)
		explicit_bzero(cf->password, strlen(cf->password));
	free(cf->password);
	free(cf->tls_ca);
	free(cf);
}

/* Trims blanks around S in place. */
static char *trim(char *s)
{
	char *end;

	s += strspn(s, " \t");
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

/* Appends each item of LIST (separated by SEP) to *OUT, trimmed, skipping empty ones and
 * lines starting with '#'. */
static int append_items(struct curl_slist **out, const char *list, const char *sep)
{
	char *dup = strdup(list), *save = NULL;

	if (dup == NULL)
		return -1;
	for (char *it = strtok_r(dup, sep, &save); it != NULL; it = strtok_r(NULL, sep, &save)) {
		char *v = trim(it);
		struct curl_slist *n;

		if (*v == '\0' || *v == '#')
			continue;
		if ((n = curl_slist_append(*out, v)) == NULL) {
			free(dup);
			return -1;
		}
		*out = n;
	}
	explicit_bzero(dup, strlen(list));
	free(dup);
	return 0;
}

/* The extra headers of A: headers, then headers_file (read now: a reload re-reads it). */
static int build_headers(struct chan_conf *cf, const struct conf_alert *a, char *err, size_t errlen)
{
	if (append_items(&cf->hdr, "Content-Type: application/json", ";") < 0 ||
	    (a->headers != NULL && append_items(&cf->hdr, a->headers, ";") < 0))
		goto oom;
	if (a->headers_file != NULL) {
		FILE *f = fopen(a->headers_file, "r");
		char line[DELIVER_SECRET_MAX];

		if (f == NULL) {
			snprintf(err, errlen, "%s: cannot open: %s", a->headers_file,
			         strerror(errno));
			return -1;
		}
		while (fgets(line, sizeof(line), f) != NULL)
			if (append_items(&cf->hdr, line, "\n") < 0) {
				fclose(f);
				goto oom;
			}
		explicit_bzero(line, sizeof(line));
		fclose(f);
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int build_email(struct chan_conf *cf, const struct conf_alert *a, char *err, size_t errlen)
{
	size_t len = 1;

	cf->url = strdup(a->smtp_url);
	cf->from = strdup(a->from);
	cf->starttls = a->starttls;
	if (cf->url == NULL || cf->from == NULL || append_items(&cf->rcpt, a->to, ",") < 0 ||
	    (a->username != NULL && (cf->username = strdup(a->username)) == NULL))
		goto oom;
	/* the To: header, "a@x, b@y" */
	for (const struct curl_slist *r = cf->rcpt; r != NULL; r = r->next)
		len += strlen(r->data) + 2;
	if ((cf->to = calloc(1, len)) == NULL)
		goto oom;
	for (const struct curl_slist *r = cf->rcpt; r != NULL; r = r->next) {
		strcat(cf->to, r->data);
		if (r->next != NULL)
			strcat(cf->to, ", ");
	}
	if (a->password_file != NULL &&
	    (cf->password = deliver_read_secret(a->password_file, err, errlen)) == NULL)
		return -1;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* The settings of A, its secrets read now; NULL with ERR ("[alert NAME] KEY: why"). */
static struct chan_conf *chan_conf_new(const struct conf_alert *a, char *err, size_t errlen)
{
	struct chan_conf *cf = calloc(1, sizeof(*cf));
	char why[400] = "out of memory";
	int rc = 0;

	if (cf == NULL)
		goto fail;
	cf->type = a->type;
	cf->tls_verify = a->tls_verify;
	cf->tls_ca = dup_or_null(a->tls_ca);
	cf->on_mask = a->on_mask;
	cf->min_severity = a->min_severity;
	cf->rate_limit = a->rate_limit;
	cf->timeout = a->timeout;
	cf->retries = a->retries;
	cf->retry_backoff = a->retry_backoff;
	cf->queue_size = a->queue_size;
	if (a->type == ALERT_EMAIL) {
		rc = build_email(cf, a, why, sizeof(why));
	} else {
		cf->url = strdup(a->url != NULL ? a->url : PD_DEFAULT_URL);
		rc = cf->url == NULL ? -1 : build_headers(cf, a, why, sizeof(why));
	}
	if (rc == 0 && a->type == ALERT_PAGERDUTY) {
		cf->routing_key = a->routing_key_file != NULL
		                      ? deliver_read_secret(a->routing_key_file, why, sizeof(why))
		                      : strdup(a->routing_key);
		rc = cf->routing_key == NULL ? -1 : 0;
	}
	if (rc == 0 && (a->tls_ca == NULL || cf->tls_ca != NULL))
		return cf;
fail:
	snprintf(err, errlen, "[alert %s]: %s", a->name, why);
	chan_conf_free(cf);
	return NULL;
}

/* ---- delivery ---------------------------------------------------------------------------- */

static void count(struct channel *ch, enum alert_result r)
{
	ch->counts[r]++;
}

/* A line in the event's incident timeline, if it has one. */
static void timeline(const struct alert_event *ev, const char *text)
{
	if (ev->incident > 0 &&
	    incident_add_line(ev->incident, ENTRY_ALERT, text, clock_wall()) < 0)
		log_debug("alert: incident %lld is gone: %s", (long long)ev->incident, text);
}

static void what(const struct alert_event *ev, char *buf, size_t len)
{
	if (ev->incident > 0)
		snprintf(buf, len, "%s of incident %lld", event_name(ev->event),
		         (long long)ev->incident);
	else if (ev->backend[0] != '\0')
		snprintf(buf, len, "%s of backend %s", event_name(ev->event), ev->backend);
	else
		snprintf(buf, len, "%s", event_name(ev->event));
}

static void pump(struct channel *ch);
static struct channel *channel_named(const char *name);

static void msg_free(struct msg *m)
{
	if (m != NULL) {
		outbox_cancel(&m->wait);
		free(m->raw);
	}
	free(m);
}

static void finish(struct channel *ch, bool ok)
{
	struct msg *m = ch->cur;
	char line[INCIDENT_TEXT_MAX], w[128];

	what(&m->ev, w, sizeof(w));
	if (ok) {
		snprintf(line, sizeof(line), "alert %s: delivered (%s, %u %s)", ch->name, m->last,
		         m->tries, m->tries == 1 ? "try" : "tries");
	} else {
		count(ch, AR_DROPPED);
		snprintf(line, sizeof(line), "alert %s: dropped after %u %s: %s", ch->name,
		         m->tries, m->tries == 1 ? "try" : "tries", m->last);
		log_warn("alert %s: %s dropped after %u tries: %s", ch->name, w, m->tries, m->last);
	}
	timeline(&m->ev, line);
	if (m->recorded)
		outbox_done(m->key, ok);
	if (G.on_final != NULL)
		G.on_final(ch, ok);
	ch->cur = NULL;
	msg_free(m);
	pump(ch);
}

static void attempt(struct channel *ch);

static void retry_cb(evutil_socket_t fd, short what_, void *arg)
{
	attempt(arg);
}

/* The attempt failed with WHY: retried after the backoff while tries are left. */
static void attempt_failed(struct channel *ch, const char *why)
{
	struct msg *m = ch->cur;
	uint64_t tries = G.on_final != NULL && ch->cf->retries + 1 > ALERT_TEST_TRIES
	                     ? ALERT_TEST_TRIES
	                     : ch->cf->retries + 1;
	char w[128];

	copy(m->last, sizeof(m->last), why);
	count(ch, AR_FAILED);
	what(&m->ev, w, sizeof(w));
	if (m->tries >= tries) {
		log_warn("alert %s: %s: try %u failed: %s", ch->name, w, m->tries, why);
		finish(ch, false);
		return;
	}
	uint64_t ms = alert_backoff(ch->cf->retry_backoff, m->tries);
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	log_warn("alert %s: %s: try %u failed: %s; retry in %llums", ch->name, w, m->tries, why,
	         (unsigned long long)ms);
	evtimer_add(ch->retry, &tv);
}

static void flight_end(struct channel *ch)
{
	if (ch->job.easy != NULL)
		curl_easy_cleanup(ch->job.easy);
	ch->job.easy = NULL;
	free(ch->body);
	ch->body = NULL;
	if (ch->flight != ch->cf)
		chan_conf_free(ch->flight);
	ch->flight = NULL;
}

/* curlev: the attempt ended. HTTP needs a 2xx; SMTP a transfer without error. */
static void attempt_done(struct curlev_job *job, CURLcode res)
{
	struct channel *ch = (struct channel *)((char *)job - offsetof(struct channel, job));
	bool smtp = ch->flight->type == ALERT_EMAIL;
	long code = 0;
	char why[200], w[128];

	curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &code);
	if (res == CURLE_OPERATION_TIMEDOUT)
		snprintf(why, sizeof(why), "timeout after %llums",
		         (unsigned long long)ch->flight->timeout);
	else if (res != CURLE_OK)
		snprintf(why, sizeof(why), "%.150s",
		         ch->errbuf[0] ? ch->errbuf : curl_easy_strerror(res));
	else
		snprintf(why, sizeof(why), "%s %ld", smtp ? "SMTP" : "HTTP", code);
	flight_end(ch);
	if (res != CURLE_OK || (!smtp && (code < 200 || code > 299))) {
		attempt_failed(ch, why);
		return;
	}
	what(&ch->cur->ev, w, sizeof(w));
	copy(ch->cur->last, sizeof(ch->cur->last), why);
	count(ch, AR_DELIVERED);
	log_info("alert %s: %s: delivered (%s) in %llums, try %u", ch->name, w, why,
	         (unsigned long long)(clock_now() - ch->started), ch->cur->tries);
	finish(ch, true);
}

static size_t upload(char *buf, size_t size, size_t n, void *arg)
{
	struct channel *ch = arg;
	size_t left = ch->body_len - ch->body_off, len = size * n < left ? size * n : left;

	memcpy(buf, ch->body + ch->body_off, len);
	ch->body_off += len;
	return len;
}

static char *build_body(const struct channel *ch, const struct alert_event *ev)
{
	const struct chan_conf *cf = ch->cf;

	switch (cf->type) {
	case ALERT_SLACK:
		return alert_body_slack(ev, G.status_url);
	case ALERT_PAGERDUTY:
		return alert_body_pagerduty(ev, G.status_url, cf->routing_key);
	case ALERT_EMAIL:
		return alert_body_email(ev, G.status_url, cf->from, cf->to);
	default:
		return alert_body_webhook(ev, G.status_url);
	}
}

/* The transfer of CH's message with CF (deliver.c makes every outbound transfer). */
static void easy_setup(struct channel *ch, CURL *e, const struct chan_conf *cf)
{
	struct deliver_easy x = {.url = cf->url,
	                         .user_agent = ALERT_USER_AGENT,
	                         .timeout = cf->timeout,
	                         .errbuf = ch->errbuf,
	                         .tls_verify = cf->tls_verify,
	                         .tls_ca = cf->tls_ca,
	                         .mail = cf->type == ALERT_EMAIL,
	                         .from = cf->from,
	                         .rcpt = cf->rcpt,
	                         .starttls = cf->starttls,
	                         .username = cf->username,
	                         .password = cf->password,
	                         .read = upload,
	                         .read_arg = ch,
	                         .headers = cf->hdr,
	                         .body = ch->body,
	                         .body_len = ch->body_len};

	deliver_easy_setup(e, &x);
}

/* One try of the current message with the settings now. */
static void attempt_go(struct channel *ch)
{
	struct msg *m = ch->cur;
	char err[160];

	m->tries++;
	ch->started = clock_now();
	ch->errbuf[0] = '\0';
	ch->body = m->raw != NULL ? strdup(m->raw) : build_body(ch, &m->ev);
	ch->job.easy = ch->body != NULL ? curl_easy_init() : NULL;
	if (ch->job.easy == NULL) {
		flight_end(ch);
		attempt_failed(ch, "out of memory");
		return;
	}
	ch->body_len = strlen(ch->body);
	ch->body_off = 0;
	ch->flight = ch->cf;
	ch->job.done = attempt_done;
	easy_setup(ch, ch->job.easy, ch->cf);
	if (curlev_start(&ch->job, err, sizeof(err)) < 0) {
		flight_end(ch);
		attempt_failed(ch, err);
	}
}

/* A fleet's sender records each message in the outbox before its first try (outbox.c): the
 * try waits for the record to be committed, so that a sender killed from then on leaves it
 * pending for the next one. With the database away the message goes all the same. */
static void recorded(void *arg)
{
	struct channel *ch = arg;

	if (ch->cur != NULL && ch->job.easy == NULL)
		attempt_go(ch);
}

static void attempt(struct channel *ch)
{
	struct msg *m = ch->cur;
	char *body;

	if (!outbox_wanted() || m->recorded || G.on_final != NULL ||
	    (body = build_body(ch, &m->ev)) == NULL) {
		attempt_go(ch);
		return;
	}
	m->recorded = true;
	m->raw = body; /* what is recorded is what goes */
	outbox_record(m->key, &(struct outbox_row){.channel = ch->name, .target = "", .body = body},
	              recorded, ch, &m->wait);
}

/* A row a dead sender left pending, when its channel is one of ours. */
static int replay(const struct outbox_row *row)
{
	struct channel *ch = row->target[0] == '\0' ? channel_named(row->channel) : NULL;
	const char *key = row->key;
	struct msg *m;

	if (ch == NULL)
		return -1;
	m = calloc(1, sizeof(*m));
	if (m == NULL || (m->raw = strdup(row->body)) == NULL) {
		free(m);
		return 0; /* taken, and lost: out of memory */
	}
	m->ev.event = -1;
	m->ev.status = -1;
	m->ev.priority = -1;
	m->recorded = true;
	copy(m->key, sizeof(m->key), key);
	log_warn("alert %s: a message the last sender left pending (%s) is sent", ch->name, key);
	TAILQ_INSERT_HEAD(&ch->queue, m, link); /* it is older than what waits */
	ch->n_queued++;
	pump(ch);
	return 0;
}

/* Starts the next message when none is in flight. */
static void pump(struct channel *ch)
{
	struct msg *m = TAILQ_FIRST(&ch->queue);

	if (ch->cur != NULL || m == NULL)
		return;
	TAILQ_REMOVE(&ch->queue, m, link);
	ch->n_queued--;
	ch->cur = m;
	attempt(ch);
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static bool reached(const struct channel *ch, int64_t id)
{
	for (size_t i = 0; i < ch->n_reached && i < ALERT_REACHED_MAX; i++)
		if (ch->reached[i] == id)
			return true;
	return false;
}

static void mark_reached(struct channel *ch, const struct alert_event *ev)
{
	bool incident = ev->event == NOTIFY_INCIDENT_OPEN || ev->event == NOTIFY_INCIDENT_UPDATE;

	if (!incident || ev->incident <= 0 || (int)ev->severity < ch->cf->min_severity ||
	    reached(ch, ev->incident))
		return;
	ch->reached[ch->n_reached++ % ALERT_REACHED_MAX] = ev->incident;
}

/* Not sent: counted, logged and said in the incident's timeline. */
static void refuse(struct channel *ch, const struct alert_event *ev, enum alert_result r,
                   const char *why)
{
	char line[INCIDENT_TEXT_MAX], w[128];

	count(ch, r);
	what(ev, w, sizeof(w));
	log_warn("alert %s: %s not sent: %s", ch->name, w, why);
	snprintf(line, sizeof(line), "alert %s: not sent: %s", ch->name, why);
	timeline(ev, line);
}

/* EV offered to CH: filtered (unless FORCED: an escalation decided), rate limited, queued;
 * a message about an open, unacknowledged incident carries a link that acknowledges it. */
static void offer_to(struct channel *ch, const struct alert_event *ev, bool forced)
{
	const struct chan_conf *cf = ch->cf;
	const struct incident *inc = ev->incident > 0 ? incident_get(ev->incident) : NULL;
	char why[80];
	struct msg *m;

	mark_reached(ch, ev);
	if (!forced && ((ch->escalated && ev->incident > 0) ||
	                !alert_wanted(cf->on_mask, cf->min_severity, ev,
	                              ev->incident > 0 && reached(ch, ev->incident))))
		return;
	/* a fleet speaks once: another instance holds the sender lock (marked reached all
	 * the same, so that this one, taking over, tells of the resolution) */
	if (ev->event != ALERT_TEST && !sender_ok()) {
		sender_deferred(SENDER_ALERT);
		log_debug("alert %s: left to the fleet's sender", ch->name);
		return;
	}
	if (ev->event != ALERT_TEST && !alert_rate_take(&ch->rate, cf->rate_limit, clock_now())) {
		snprintf(why, sizeof(why), "rate limit (%llu per minute)",
		         (unsigned long long)cf->rate_limit);
		refuse(ch, ev, AR_RATE_LIMITED, why);
		return;
	}
	if (ch->n_queued >= cf->queue_size) {
		snprintf(why, sizeof(why), "queue full (%llu waiting)",
		         (unsigned long long)cf->queue_size);
		refuse(ch, ev, AR_QUEUE_FULL, why);
		return;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		refuse(ch, ev, AR_QUEUE_FULL, "out of memory");
		return;
	}
	m->ev = *ev;
	m->ev.ack_url[0] = '\0';
	if (inc != NULL && inc->resolved == 0 && inc->acked == 0 &&
	    (ev->event == NOTIFY_INCIDENT_OPEN || ev->event == NOTIFY_INCIDENT_UPDATE ||
	     ev->event == NOTIFY_GRACE_EXPIRED || ev->event == NOTIFY_BACKEND_DOWN) &&
	    acklink_url(G.status_url, ev->incident, ch->name, clock_wall(), m->ev.ack_url,
	                sizeof(m->ev.ack_url)) < 0)
		m->ev.ack_url[0] = '\0';
	TAILQ_INSERT_TAIL(&ch->queue, m, link);
	ch->n_queued++;
	pump(ch);
}

static void dispatch(const struct alert_event *ev)
{
	char s[INCIDENT_TEXT_MAX + 256];

	alert_summary(ev, s, sizeof(s));
	log_debug("alert: event %s", s);
	for (size_t i = 0; i < G.n_ch; i++)
		offer_to(G.ch[i], ev, false);
}

/* The event that CHANGE of INC is, with E's line (or REASON); false for none. */
static bool incident_event(enum incident_change change, const struct incident *inc,
                           const char *reason, struct alert_event *out)
{
	struct alert_event ev = {.incident = inc->id,
	                         .status = inc->severity,
	                         .at = clock_wall(),
	                         .priority = inc->priority};
	const char *sev_status =
	    inc->severity >= 0 && inc->severity < PS_COUNT ? pool_status_names[inc->severity] : "";

	copy(ev.pool, sizeof(ev.pool), inc->pool);
	copy(ev.title, sizeof(ev.title), inc->title);
	copy(ev.reason, sizeof(ev.reason), reason != NULL ? reason : "");
	remedy_text(inc->causes, ev.remedy, sizeof(ev.remedy));
	incident_chat_channel(inc, ev.chat, sizeof(ev.chat));
	incident_similar_text(inc, ev.similar, sizeof(ev.similar));
	ev.severity = alert_severity_of_priority(inc->priority);
	switch (change) {
	case IC_OPEN:
		ev.event = NOTIFY_INCIDENT_OPEN;
		copy(ev.old_state, sizeof(ev.old_state), pool_status_names[PS_OPERATIONAL]);
		copy(ev.new_state, sizeof(ev.new_state), sev_status);
		break;
	case IC_UPDATE:
		ev.event = NOTIFY_INCIDENT_UPDATE;
		copy(ev.new_state, sizeof(ev.new_state), sev_status);
		if (reason == NULL)
			snprintf(ev.reason, sizeof(ev.reason), "%s is now %s", inc->pool,
			         sev_status);
		break;
	case IC_RESOLVED:
		ev.event = NOTIFY_INCIDENT_RESOLVED;
		ev.severity = SEV_INFO;
		ev.status = PS_OPERATIONAL;
		copy(ev.old_state, sizeof(ev.old_state), sev_status);
		copy(ev.new_state, sizeof(ev.new_state), pool_status_names[PS_OPERATIONAL]);
		ev.remedy[0] = '\0';
		ev.similar[0] = '\0';
		break;
	case IC_ACK:
		ev.event = NOTIFY_INCIDENT_ACK;
		ev.severity = SEV_INFO;
		copy(ev.new_state, sizeof(ev.new_state), sev_status);
		break;
	default:
		return false;
	}
	*out = ev;
	return true;
}

static void on_incident(enum incident_change change, const struct incident *inc,
                        const struct incident_entry *e, void *arg)
{
	struct alert_event ev;

	if (incident_event(change, inc, e != NULL ? e->text : NULL, &ev))
		dispatch(&ev);
}

int alert_escalate(const char *name, enum incident_change what, const struct incident *inc,
                   const char *reason)
{
	struct channel *ch = channel_named(name);
	struct alert_event ev;

	if (ch == NULL)
		return -1;
	if (incident_event(what, inc, reason, &ev))
		offer_to(ch, &ev, true);
	return 0;
}

/* What maint.c publishes to ops' channels (those whose on = names it): a maintenance
 * scheduled, started or ended, and the reminder of an overdue next update (a warning). */
static void ops_incident_event(const struct bus_event *be)
{
	const struct incident *inc = incident_get(be->incident);
	struct alert_event ev;

	if (inc == NULL || G.n_ch == 0 ||
	    (be->change != NOTIFY_MAINT_SCHEDULED && be->change != NOTIFY_MAINT_STARTED &&
	     be->change != NOTIFY_MAINT_ENDED && be->change != NOTIFY_UPDATE_OVERDUE) ||
	    !incident_event(IC_UPDATE, inc, be->text, &ev))
		return;
	ev.event = be->change;
	ev.severity = be->change == NOTIFY_UPDATE_OVERDUE ? SEV_WARNING : SEV_INFO;
	dispatch(&ev);
}

/* A round of the bus (BUS_PHASE_ALERTS): the routing view and the incidents caught up with
 * the event, so its pool's status and incident are those it led to. */
static void on_bus(const struct bus_event *be, void *arg)
{
	const struct health_event *he = &be->he;
	int event = be->topic == BUS_HEALTH ? alert_event_of(he) : -1;
	struct alert_event ev = {.event = event, .at = clock_wall(), .priority = -1};
	const struct incident *inc;
	const struct pool *p = registry_pool(be->pool);

	if (be->topic == BUS_INCIDENT) {
		ops_incident_event(be);
		return;
	}
	if (event < 0 || G.n_ch == 0)
		return;
	copy(ev.pool, sizeof(ev.pool), be->pool);
	copy(ev.backend, sizeof(ev.backend), be->backend);
	copy(ev.old_state, sizeof(ev.old_state), health_state_names[he->from]);
	copy(ev.new_state, sizeof(ev.new_state), health_state_names[he->to]);
	copy(ev.verdict, sizeof(ev.verdict),
	     he->verdict < V_COUNT ? verdict_names[he->verdict] : "");
	copy(ev.reason, sizeof(ev.reason), he->reason);
	ev.status = p != NULL ? (int)poolstat_status(p) : -1;
	ev.severity = alert_severity(ev.status);
	ev.incident = incident_open_id(ev.pool);
	/* the node's own news keeps the pool status's severity; it carries the incident's
	 * priority */
	if (ev.incident > 0 && (inc = incident_get(ev.incident)) != NULL) {
		ev.priority = inc->priority;
		remedy_text(inc->causes | remedy_causes(he->reason), ev.remedy, sizeof(ev.remedy));
	} else {
		remedy_text(remedy_causes(he->reason), ev.remedy, sizeof(ev.remedy));
	}
	if (event == NOTIFY_BACKEND_UP)
		ev.remedy[0] = '\0';
	dispatch(&ev);
}

/* ---- building and swapping -------------------------------------------------------------- */

static struct channel *channel_new(const char *name, struct chan_conf *cf)
{
	struct channel *ch = calloc(1, sizeof(*ch));

	if (ch == NULL || (ch->name = strdup(name)) == NULL ||
	    (ch->retry = evtimer_new(G.base, retry_cb, ch)) == NULL) {
		if (ch != NULL)
			free(ch->name);
		free(ch);
		return NULL;
	}
	TAILQ_INIT(&ch->queue);
	ch->cf = cf;
	return ch;
}

/* Stops CH's transfer and timer, drops what it holds (said in the log), frees it. */
static void channel_free(struct channel *ch, const char *why)
{
	struct msg *m;
	size_t dropped = ch->n_queued + (ch->cur != NULL);

	if (dropped > 0)
		log_warn("alert %s: %zu message%s dropped: %s", ch->name, dropped,
		         dropped == 1 ? "" : "s", why);
	curlev_stop(&ch->job);
	flight_end(ch);
	event_free(ch->retry);
	msg_free(ch->cur);
	while ((m = TAILQ_FIRST(&ch->queue)) != NULL) {
		TAILQ_REMOVE(&ch->queue, m, link);
		msg_free(m);
	}
	chan_conf_free(ch->cf);
	free(ch->name);
	free(ch);
}

static struct channel *channel_named(const char *name)
{
	for (size_t i = 0; i < G.n_ch; i++)
		if (strcmp(G.ch[i]->name, name) == 0)
			return G.ch[i];
	return NULL;
}

/* New settings for CH; the transfer in flight keeps its own until it ends. */
static void channel_set(struct channel *ch, struct chan_conf *cf)
{
	if (ch->cf != ch->flight)
		chan_conf_free(ch->cf);
	ch->cf = cf;
}

/* "http://BIND/" of the status listener, or public_url; NULL without a status page. */
static char *status_url_of(const struct conf *c)
{
	char addr[300], url[340];

	if (c->status.public_url != NULL)
		return strdup(c->status.public_url);
	if (!c->status.enabled)
		return NULL;
	conf_addr_format(&c->status.bind, addr, sizeof(addr));
	snprintf(url, sizeof(url), "http://%s/", addr);
	return strdup(url);
}

int alert_apply(const struct conf *c, char *err, size_t errlen)
{
	struct chan_conf **cfs = calloc(c->n_alerts + 1, sizeof(*cfs));
	struct channel **next = calloc(c->n_alerts + 1, sizeof(*next));
	size_t i;

	if (cfs == NULL || next == NULL) {
		snprintf(err, errlen, "alerts: out of memory");
		goto fail;
	}
	for (i = 0; i < c->n_alerts; i++)
		if ((cfs[i] = chan_conf_new(&c->alerts[i], err, errlen)) == NULL)
			goto fail;
	for (i = 0; i < c->n_alerts; i++) {
		struct channel *ch = channel_named(c->alerts[i].name);

		if (ch == NULL && (ch = next[i] = channel_new(c->alerts[i].name, cfs[i])) == NULL) {
			snprintf(err, errlen, "alerts: out of memory");
			goto fail;
		}
	}
	/* nothing can fail from here on: swap */
	for (i = 0; i < G.n_ch; i++)
		G.ch[i]->seen = false;
	for (i = 0; i < c->n_alerts; i++) {
		if (next[i] == NULL) {
			next[i] = channel_named(c->alerts[i].name);
			channel_set(next[i], cfs[i]);
		}
		next[i]->seen = true;
		next[i]->escalated = conf_alert_escalated(c, c->alerts[i].name);
	}
	for (i = 0; i < G.n_ch; i++)
		if (!G.ch[i]->seen)
			channel_free(G.ch[i], "the channel was removed by a reload");
	free(G.ch);
	G.ch = next;
	G.n_ch = c->n_alerts;
	free(G.status_url);
	G.status_url = status_url_of(c);
	free(cfs);
	for (i = 0; i < G.n_ch; i++)
		pump(G.ch[i]);
	return 0;
fail:
	for (i = 0; cfs != NULL && i < c->n_alerts; i++) {
		if (next != NULL && next[i] != NULL) {
			next[i]->cf = NULL;
			channel_free(next[i], "");
		}
		chan_conf_free(cfs[i]);
	}
	free(cfs);
	free(next);
	return -1;
}

static void alert_metrics(struct metrics_out *o);

int alert_init(struct event_base *base)
{
	if (G.on)
		return -1;
	G.base = base;
	if (curlev_init(base) != 0)
		return -1;
	G.on = true;
	if (bus_subscribe_deferred(base, BUS_PHASE_ALERTS, on_bus, NULL, NULL) != 0 ||
	    incident_watch(on_incident, NULL) != 0 || status_metrics(alert_metrics) != 0 ||
	    outbox_on_replay(replay) != 0) {
		alert_deinit();
		return -1;
	}
	return 0;
}

void alert_deinit(void)
{
	if (!G.on)
		return;
	for (size_t i = 0; i < G.n_ch; i++)
		channel_free(G.ch[i], "shutting down");
	free(G.ch);
	free(G.status_url);
	curlev_deinit();
	memset(&G, 0, sizeof(G));
}

/* Appends nodegate_alerts_total{channel,result} for every channel (a status_metrics
 * writer). */
static void alert_metrics(struct metrics_out *o)
{
	metrics_outf(o, "# HELP nodegate_alerts_total alert delivery attempts (delivered, failed) "
	                "and messages given up (dropped) or not sent (rate_limited, queue_full)\n"
	                "# TYPE nodegate_alerts_total counter\n");
	for (size_t i = 0; i < G.n_ch; i++)
		for (size_t r = 0; r < AR_COUNT; r++) {
			metrics_outf(o, "nodegate_alerts_total{channel=\"");
			metrics_out_label(o, G.ch[i]->name);
			metrics_outf(o, "\",result=\"%s\"} %llu\n", alert_result_names[r],
			             (unsigned long long)G.ch[i]->counts[r]);
		}
}

/* ---- --test-alert ------------------------------------------------------------------------ */

static struct {
	bool done, ok;
	char last[200];
	unsigned tries;
} T;

static void test_final(struct channel *ch, bool ok)
{
	T.done = true;
	T.ok = ok;
	T.tries = ch->cur->tries;
	copy(T.last, sizeof(T.last), ch->cur->last);
	event_base_loopbreak(G.base);
}

int alert_send_test(const struct conf *c, const char *name, char *out, size_t outlen)
{
	const struct conf_alert *a = conf_find_alert(c, name);
	struct event_base *base;
	struct conf one;
	struct alert_event ev = {
	    .event = ALERT_TEST, .status = -1, .at = clock_wall(), .priority = -1};
	char err[512];
	int rc = -1;

	if (a == NULL) {
		snprintf(out, outlen, "no [alert %s] in %s", name, c->path);
		return -1;
	}
	if ((base = event_base_new()) == NULL) {
		snprintf(out, outlen, "cannot create the event loop");
		return -1;
	}
	one = *c;
	one.alerts = (struct conf_alert *)a;
	one.n_alerts = 1;
	memset(&T, 0, sizeof(T));
	G.base = base;
	if (curlev_init(base) != 0) {
		snprintf(out, outlen, "cannot start libcurl");
		goto done;
	}
	G.on = true;
	G.on_final = test_final;
	if (alert_apply(&one, err, sizeof(err)) != 0) {
		snprintf(out, outlen, "%s", err);
		goto done;
	}
	snprintf(ev.reason, sizeof(ev.reason),
	         "test message from nodegate: channel %s (type %s) works", name,
	         alert_type_names[a->type]);
	offer_to(G.ch[0], &ev, false);
	if (!T.done)
		event_base_dispatch(base);
	if (T.ok)
		snprintf(out, outlen, "alert %s: delivered (%s, %u %s)", name, T.last, T.tries,
		         T.tries == 1 ? "try" : "tries");
	else
		snprintf(out, outlen, "alert %s: failed after %u %s: %s", name, T.tries,
		         T.tries == 1 ? "try" : "tries", T.last);
	rc = T.ok ? 0 : -1;
done:
	alert_deinit();
	event_base_free(base);
	return rc;
}
