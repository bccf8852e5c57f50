/* Subscriptions: the form's requests, the subscribers (in memory, written through to the
 * store), and what they are told.
 *
 *   POST /subscribe ──► subrule_limit_take ──► pending row ──► confirmation mail | challenge
 *   confirm link (POST) | challenge echoed ──► active row
 *   bus (BUS_INCIDENT, phase alerts) | tick (a maintenance's start) ──► notify ──► deliver */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "bus.h"
#include "clock.h"
#include "metrics.h"
#include "ops/admin.h"
#include "ops/deliver.h"
#include "ops/incident.h"
#include "ops/outbox.h"
#include "ops/redact.h"
#include "ops/status.h"
#include "ops/store.h"
#include "ops/submerge.h"
#include "ops/subrule.h"
#include "ops/sender.h"
#include "ops/subs.h"
#include "ops/subtext.h"
#include "registry.h"
#include "util.h"

#define KEY_NAME  "unsubscribe_key"
#define MAINT_MAX 64   /* maintenances whose start was announced, remembered */
#define FORM_MAX  4096 /* bytes of a form body */
#define MAIL_MAX  16384
#define HTML_CT   "text/html; charset=utf-8"
#define PAGE_CSP  "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

/* What happened to subscriptions (nodegate_subscriptions_total{event}). */
enum subs_count {
	SC_REQUESTED = 0,    /* a valid subscribe request (known addresses too) */
	SC_CONFIRMED,        /* a confirmation link used, or a challenge echoed */
	SC_UNSUBSCRIBED,     /* an unsubscribe link used */
	SC_EXPIRED,          /* a pending one forgotten: its link expired unused */
	SC_FULL,             /* not taken: max_subscribers or max_pending reached */
	SC_CHALLENGE_FAILED, /* a webhook did not echo its challenge: never active */
	SC_BAD_LINK,         /* a confirmation or unsubscribe link that is not (any more) valid */
	SC_DELETED,          /* deleted by ops (admin API) */
	SC_COUNT
};
static const char *const subs_count_names[SC_COUNT] = {
    [SC_REQUESTED] = "requested",
    [SC_CONFIRMED] = "confirmed",
    [SC_UNSUBSCRIBED] = "unsubscribed",
    [SC_EXPIRED] = "expired",
    [SC_FULL] = "full",
    [SC_CHALLENGE_FAILED] = "challenge_failed",
    [SC_BAD_LINK] = "bad_link",
    [SC_DELETED] = "deleted",
};

static struct {
	struct event_base *base;
	bool on;
	struct submerge_sub *v;
	size_t n, cap;
	int64_t next_id;
	unsigned char key[32];
	struct deliver *mail, *hook;
	struct subrule_limits *limits;
	struct event *tick;
	int64_t maint[MAINT_MAX]; /* maintenances whose start was told (a ring) */
	size_t n_maint;
	/* settings of [subscriptions] */
	bool enabled, webhooks, email;
	bool wait_store;   /* the next answer waits for the store (send) */
	bool reloading;    /* a read of the fleet's subscribers is queued */
	bool reload_again; /* and another is wanted after it */
	/* this instance's own changes against a read queued before them (see reloaded) */
	struct submerge_log log;
	char *base_url; /* ends with '/' */
	char *from;
	uint64_t token_ttl, per_address, window, global_rate, max_subs, max_pending;
	/* counters */
	uint64_t counts[SC_COUNT];
	uint64_t limited[SRL_COUNT];
	uint64_t notes[SN_COUNT];
} S;

/* ---- the list ----------------------------------------------------------------------------- */

static struct submerge_sub *find_id(int64_t id)
{
	for (size_t i = 0; i < S.n; i++)
		if (S.v[i].row.id == id)
			return &S.v[i];
	return NULL;
}

static struct submerge_sub *find_addr(enum store_sub_kind kind, const char *addr)
{
	for (size_t i = 0; i < S.n; i++)
		if (S.v[i].row.kind == kind && strcmp(S.v[i].row.address, addr) == 0)
			return &S.v[i];
	return NULL;
}

static size_t count_state(enum store_sub_state st, int kind)
{
	size_t n = 0;

	for (size_t i = 0; i < S.n; i++)
		n += S.v[i].row.state == st && (kind < 0 || (int)S.v[i].row.kind == kind);
	return n;
}

static struct submerge_sub *add(const struct store_subscriber *row)
{
	if (S.n == S.cap) {
		size_t cap = S.cap ? 2 * S.cap : 16;
		struct submerge_sub *v = realloc(S.v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		S.v = v;
		S.cap = cap;
	}
	S.v[S.n].row = *row;
	S.v[S.n].seq = 0;
	subrule_tag(row->address, S.v[S.n].tag);
	if (row->id >= S.next_id)
		S.next_id = row->id + 1;
	return &S.v[S.n++];
}

/* B changed here: written to the store, newer than any read queued before. */
static void put(struct submerge_sub *b)
{
	b->seq = submerge_changed(&S.log);
	store_put_subscriber(&b->row);
}

/* Forgets B (in memory and in the store); B is invalid afterwards. */
static void drop(struct submerge_sub *b)
{
	submerge_dropped(&S.log, b->row.id, S.reloading);
	store_del_subscriber(b->row.id);
	*b = S.v[--S.n];
}

static void reload(void);

/* ---- links and messages ------------------------------------------------------------------- */

static int unsub_url(const struct submerge_sub *b, char *out, size_t len)
{
	char tok[128];

	if (subrule_unsub_token(S.key, sizeof(S.key), b->row.id, b->row.created, tok, sizeof(tok)) <
	    0)
		return -1;
	int n = snprintf(out, len, "%sunsubscribe?token=%s", S.base_url, tok);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* A whole mail (CRLF lines) to B: note N rendered with V, the unsubscribe link in the headers
 * (RFC 2369, RFC 8058 one-click) and at the foot. NULL when out of memory. */
static char *mail_of(const struct submerge_sub *b, enum subs_note n, const struct subtext_vars *v)
{
	char subject[400], subj_h[800], body[6000], date[64], unsub[700], msgid[40];
	unsigned char rnd[12];
	time_t t = (time_t)(clock_wall() / 1000);
	struct tm tm;
	struct evbuffer *e = evbuffer_new();
	char *out = NULL;

	if (e == NULL || unsub_url(b, unsub, sizeof(unsub)) < 0)
		goto done;
	subtext_render(n, v, subject, sizeof(subject), body, sizeof(body));
	subtext_header(subject, subj_h, sizeof(subj_h));
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(msgid + 2 * i, 3, "%02x", rnd[i]);
	evbuffer_add_printf(e,
	                    "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n"
	                    "Message-ID: <%s.%" PRId64 "@nodegate>\r\nMIME-Version: 1.0\r\n"
	                    "Content-Type: text/plain; charset=utf-8\r\n"
	                    "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n"
	                    "List-Unsubscribe: <%s>\r\n"
	                    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
	                    "X-Nodegate-Event: %s\r\n\r\n",
	                    S.from, b->row.address, subj_h, date, msgid, b->row.id, unsub,
	                    subs_note_names[n]);
	for (const char *p = body; *p; p++) {
		if (*p == '\n')
			evbuffer_add(e, "\r\n", 2);
		else if (*p != '\r')
			evbuffer_add(e, p, 1);
	}
	evbuffer_add_printf(e, "\r\n-- \r\nUnsubscribe in one click: %s\r\n", unsub);
	size_t len = evbuffer_get_length(e);
	if ((out = malloc(len + 1)) != NULL) {
		evbuffer_remove(e, out, len);
		out[len] = '\0';
	}
done:
	if (e != NULL)
		evbuffer_free(e);
	return out;
}

/* A webhook event's JSON for B. */
static char *event_json(const struct submerge_sub *b, enum subs_note n,
                        const struct subtext_vars *v, int64_t incident)
{
	char subject[400], body[6000], unsub[700];
	json_t *doc;
	char *out;

	if (unsub_url(b, unsub, sizeof(unsub)) < 0)
		return NULL;
	subtext_render(n, v, subject, sizeof(subject), body, sizeof(body));
	doc = json_pack(
	    "{s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "event", subs_note_names[n],
	    "incident", incident > 0 ? json_integer(incident) : json_null(), "pool",
	    v->pool ? v->pool : "", "title", v->title ? v->title : "", "text",
	    v->text ? v->text : "", "summary", subject, "status", v->status ? v->status : "",
	    "status_url", S.base_url, "unsubscribe_url", unsub);
	if (doc != NULL && v->start != NULL && v->start[0] != '\0')
		json_object_set_new(doc, "planned_start", json_string(v->start));
	if (doc != NULL && v->end != NULL && v->end[0] != '\0')
		json_object_set_new(doc, "planned_end", json_string(v->end));
	out = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return out;
}

static void sent(bool ok, long code, const char *body, const char *why, int64_t tag)
{
	struct submerge_sub *b = find_id(tag);

	if (!ok)
		log_warn("subscriptions: a message to subscriber %" PRId64
		         " (%s) was not delivered: %s",
		         tag, b != NULL ? b->tag : "gone", why);
}

/* ---- notifications ----------------------------------------------------------------------- */

/* The public line of INC's first (FIRST) or last entry of KIND, as the page shows it (the
 * health engine's wording stays with ops), or "". */
static const char *public_line(const struct incident *inc, enum entry_kind kind, bool first,
                               char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t k = 0; k < inc->n_entries; k++) {
		const struct incident_entry *e = &inc->entries[first ? k : inc->n_entries - 1 - k];

		if (e->kind == kind)
			return incident_public_text(inc, e, buf, len) ? buf : "";
	}
	return buf;
}

static void fmt_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	buf[0] = '\0';
	if (ms <= 0)
		return;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
}

/* Tells every active subscriber of INC's pool about N, with TEXT (a public line) and STATUS. */
static void notify(enum subs_note n, const struct incident *inc, const char *text,
                   const char *status)
{
	char title[400], line[2 * INCIDENT_TEXT_MAX], start[40], end[40];
	struct subtext_vars v = {.lang = registry.conf->status.language,
	                         .pool = inc->pool,
	                         .title = title,
	                         .text = line,
	                         .status = status,
	                         .start = start,
	                         .end = end,
	                         .link = S.base_url};

	if (!S.enabled)
		return;
	incident_public_title(inc, line, sizeof(line)); /* plain words, the page's language */
	redact_public(line, title, sizeof(title));
	redact_public(text != NULL ? text : "", line, sizeof(line));
	if (strcmp(line, title) == 0)
		line[0] = '\0'; /* the title said it */
	fmt_time(inc->planned_start, start, sizeof(start));
	fmt_time(inc->planned_end, end, sizeof(end));
	S.notes[n]++;
	log_info("subscriptions: %s of incident %" PRId64 " to the subscribers of %s",
	         subs_note_names[n], inc->id, inc->pool[0] ? inc->pool : "every pool");
	for (size_t i = 0; i < S.n; i++) {
		const struct submerge_sub *b = &S.v[i];

		if (b->row.state != SUB_ACTIVE || !subrule_pool_match(b->row.pools, inc->pool))
			continue;
		if (b->row.kind == SUB_EMAIL && S.email)
			deliver_mail(S.mail, b->row.address, mail_of(b, n, &v), sent, b->row.id);
		else if (b->row.kind == SUB_WEBHOOK && S.webhooks)
			deliver_post(S.hook, b->row.address, event_json(b, n, &v, inc->id), sent,
			             b->row.id);
	}
}

static bool planned(const struct incident *inc)
{
	return inc->manual && inc->planned_start > 0;
}

static bool maint_told(int64_t id)
{
	for (size_t i = 0; i < S.n_maint && i < MAINT_MAX; i++)
		if (S.maint[i] == id)
			return true;
	return false;
}

static void maint_mark(int64_t id)
{
	if (!maint_told(id))
		S.maint[S.n_maint++ % MAINT_MAX] = id;
}

/* The public update of INC whose line is TEXT (the latest such), or NULL. */
static const struct incident_entry *update_named(const struct incident *inc, const char *text)
{
	for (size_t i = inc->n_entries; i-- > 0;) {
		const struct incident_entry *e = &inc->entries[i];

		if (e->kind == ENTRY_UPDATE && (text == NULL || strcmp(e->text, text) == 0))
			return e;
	}
	return NULL;
}

static void on_bus(const struct bus_event *ev, void *arg)
{
	const struct incident *inc;
	const struct incident_entry *e;
	char line[INCIDENT_TEXT_MAX];

	if (ev->topic != BUS_INCIDENT || (inc = incident_get(ev->incident)) == NULL)
		return;
	if (ev->change == NOTIFY_INCIDENT_OPEN && planned(inc) &&
	    inc->planned_start <= clock_wall())
		maint_mark(inc->id); /* started as it opened: the tick must not tell it again */
	if (S.n == 0)
		return;
	if (!sender_ok()) { /* a fleet: its sender tells the subscribers */
		sender_deferred(SENDER_MAIL);
		return;
	}
	switch (ev->change) {
	case NOTIFY_INCIDENT_OPEN:
		if (planned(inc) && inc->planned_start > clock_wall()) {
			notify(SN_MAINT_SCHEDULED, inc, ev->text, "scheduled");
		} else if (planned(inc)) {
			notify(SN_MAINT_STARTED, inc, ev->text, "in progress");
		} else {
			notify(SN_INCIDENT_OPENED, inc,
			       public_line(inc, ENTRY_OPEN, true, line, sizeof(line)),
			       "investigating");
		}
		break;
	case NOTIFY_INCIDENT_UPDATE:
		/* ops' public updates only: no severity, priority, note or acknowledgement */
		if (ev->entry_kind != ENTRY_UPDATE || !incident_entry_public(ENTRY_UPDATE) ||
		    (e = update_named(inc, ev->text)) == NULL)
			break;
		notify(SN_INCIDENT_UPDATED, inc, e->text, update_status_names[e->status]);
		break;
	case NOTIFY_INCIDENT_RESOLVED:
		e = update_named(inc, NULL);
		notify(planned(inc) ? SN_MAINT_ENDED : SN_INCIDENT_RESOLVED, inc,
		       e != NULL && e->status == UPD_RESOLVED
		           ? e->text
		           : public_line(inc, ENTRY_RESOLVE, false, line, sizeof(line)),
		       "resolved");
		break;
	default:
		break;
	}
}

/* ---- the tick: maintenance starts, expired links ----------------------------------------- */

struct due {
	int64_t ids[16];
	size_t n;
	int64_t now;
};

static void due_cb(const struct incident *inc, void *arg)
{
	struct due *d = arg;

	if (inc->resolved == 0 && planned(inc) && inc->planned_start <= d->now &&
	    !maint_told(inc->id) && d->n < ARRAY_SIZE(d->ids))
		d->ids[d->n++] = inc->id;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct due d = {.now = clock_wall()};

	incident_foreach(0, due_cb, &d);
	for (size_t i = 0; i < d.n; i++) {
		const struct incident *inc = incident_get(d.ids[i]);

		maint_mark(d.ids[i]);
		if (inc != NULL && sender_ok())
			notify(SN_MAINT_STARTED, inc, "", "in progress");
	}
	for (size_t i = 0; i < S.n;) {
		if (S.v[i].row.state == SUB_PENDING && S.v[i].row.token_expires <= d.now) {
			S.counts[SC_EXPIRED]++;
			drop(&S.v[i]);
			continue;
		}
		i++;
	}
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

static void html_esc(struct evbuffer *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			evbuffer_add(b, "&lt;", 4);
			break;
		case '>':
			evbuffer_add(b, "&gt;", 4);
			break;
		case '&':
			evbuffer_add(b, "&amp;", 5);
			break;
		case '"':
			evbuffer_add(b, "&quot;", 6);
			break;
		case '\'':
			evbuffer_add(b, "&#39;", 5);
			break;
		default:
			evbuffer_add(b, s, 1);
			break;
		}
	}
}

/* An answer sent once what its change queued is on disk (store_barrier), as the admin API
 * does: a confirmation, an unsubscription or a deletion acknowledged survives a kill -9. */
struct waiting {
	struct evhttp_request *req; /* evhttp keeps it until it is answered */
	int code;
	const char *reason; /* a literal */
};

static void send_when_stored(int rc, void *arg)
{
	struct waiting *w = arg;

	if (rc != 0)
		log_error("subscriptions: %s: applied, but not written to the store",
		          evhttp_request_get_uri(w->req));
	evhttp_send_reply(w->req, w->code, w->reason, NULL);
	free(w);
}

/* Sends REQ's answer: at once, or after the store's barrier when S.wait_store was set for
 * this answer (it is cleared). */
static void reply_send(struct evhttp_request *req, int code, const char *reason)
{
	struct waiting *w = S.wait_store ? malloc(sizeof(*w)) : NULL;

	S.wait_store = false;
	if (w == NULL) {
		evhttp_send_reply(req, code, reason, NULL);
		return;
	}
	*w = (struct waiting){req, code, reason};
	store_barrier(send_when_stored, w);
}

/* A small page: HEADING, a paragraph TEXT, and when ACTION is set a form posting TOKEN there
 * with a button BUTTON. */
static void answer_page(struct evhttp_request *req, int code, const char *reason,
                        const char *heading, const char *text, const char *action,
                        const char *token, const char *button)
{
	struct evbuffer *b = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evbuffer_drain(b, evbuffer_get_length(b));
	evbuffer_add_printf(
	    b, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
	       "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
	       "<title>");
	html_esc(b, heading);
	evbuffer_add_printf(b, "</title></head><body><main id=\"answer\"><h1>");
	html_esc(b, heading);
	evbuffer_add_printf(b, "</h1><p id=\"message\">");
	html_esc(b, text);
	evbuffer_add_printf(b, "</p>");
	if (action != NULL) {
		evbuffer_add_printf(b,
		                    "<form method=\"post\" action=\"%s\">"
		                    "<input type=\"hidden\" name=\"token\" value=\"",
		                    action);
		html_esc(b, token);
		evbuffer_add_printf(b, "\"><button type=\"submit\" id=\"confirm\">");
		html_esc(b, button);
		evbuffer_add_printf(b, "</button></form>");
	}
	evbuffer_add_printf(b, "<p><a href=\"");
	html_esc(b, S.base_url != NULL ? S.base_url : "/");
	evbuffer_add_printf(b, "\">Back to the status page</a></p></main></body></html>");
	evhttp_add_header(h, "Content-Type", HTML_CT);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Content-Security-Policy", PAGE_CSP);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	reply_send(req, code, reason);
}

static void answer_json(struct evhttp_request *req, int code, const char *reason, json_t *doc)
{
	struct evbuffer *b = evhttp_request_get_output_buffer(req);
	char *s = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;

	json_decref(doc);
	evbuffer_drain(b, evbuffer_get_length(b));
	if (s == NULL) {
		S.wait_store = false;
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add(b, s, strlen(s));
	evbuffer_add(b, "\n", 1);
	free(s);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	reply_send(req, code, reason);
}

static void method_not_allowed(struct evhttp_request *req, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
	answer_page(req, HTTP_BADMETHOD, "Method Not Allowed", "Method not allowed",
	            "This address takes other methods.", NULL, NULL, NULL);
}

/* The form fields of REQ: its query string, then (POST) its urlencoded body; -1 when the
 * body is not one. */
static int fields(struct evhttp_request *req, struct evkeyvalq *kv)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char body[FORM_MAX + 1];

	TAILQ_INIT(kv);
	if (q != NULL && evhttp_parse_query_str(q, kv) < 0)
		return -1;
	if (n == 0)
		return 0;
	if (n > FORM_MAX)
		return -1;
	evbuffer_copyout(in, body, n);
	body[n] = '\0';
	struct evkeyvalq more;
	TAILQ_INIT(&more);
	if (evhttp_parse_query_str(body, &more) < 0) {
		evhttp_clear_headers(&more);
		return -1;
	}
	/* moved over, the query's first: a token in the URL wins */
	while (!TAILQ_EMPTY(&more)) {
		struct evkeyval *e = TAILQ_FIRST(&more);

		TAILQ_REMOVE(&more, e, next);
		TAILQ_INSERT_TAIL(kv, e, next);
	}
	return 0;
}

/* "a,b" of the pool= fields into OUT; -1 with WHY for an unknown pool or too many. */
static int pools_of(struct evkeyvalq *kv, char *out, size_t len, char *why, size_t wlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (struct evkeyval *e = TAILQ_FIRST(kv); e != NULL; e = TAILQ_NEXT(e, next)) {
		if (strcmp(e->key, "pool") != 0 || e->value[0] == '\0')
			continue;
		if (strcmp(e->value, "all") == 0) {
			out[0] = '\0';
			return 0;
		}
		if (registry_pool(e->value) == NULL) {
			snprintf(why, wlen, "There is no service of that name.");
			return -1;
		}
		if (subrule_pool_match(out[0] ? out : "\x01", e->value))
			continue;
		int n = snprintf(out + o, len - o, "%s%s", o ? "," : "", e->value);
		if (n < 0 || (size_t)n >= len - o) {
			snprintf(why, wlen, "Too many services chosen.");
			return -1;
		}
		o += (size_t)n;
	}
	return 0;
}

static bool have_room(void)
{
	return S.n < S.max_subs && count_state(SUB_PENDING, -1) < S.max_pending;
}

/* A pending row for ADDR (new, or the pending one again) with a new token into TOKEN; NULL
 * when there is no room. */
static struct submerge_sub *pending(enum store_sub_kind kind, const char *addr, const char *pools,
                                    char *token)
{
	struct submerge_sub *b = find_addr(kind, addr);
	int64_t now = clock_wall();

	if (subrule_token_new(token) < 0)
		return NULL;
	if (b == NULL) {
		/* a fleet: ids that another instance taking subscriptions too will not give */
		int64_t id = sender_fleet() && now > S.next_id ? now : S.next_id;
		struct store_subscriber row = {
		    .id = id, .kind = kind, .state = SUB_PENDING, .created = now};

		if (!have_room()) {
			S.counts[SC_FULL]++;
			return NULL;
		}
		snprintf(row.address, sizeof(row.address), "%s", addr);
		if ((b = add(&row)) == NULL)
			return NULL;
	}
	snprintf(b->row.pools, sizeof(b->row.pools), "%s", pools);
	subrule_hash(token, b->row.token_hash);
	b->row.token_expires = now + (int64_t)S.token_ttl;
	put(b);
	return b;
}

static const char thanks_mail[] =
    "If this address can receive mail, a message with a confirmation link is on its way. "
    "The subscription starts once you open that link and confirm.";
static const char thanks_hook[] =
    "nodegate posts a challenge to this URL; the subscription starts once the receiver "
    "answers with that challenge.";

static void subscribe_email(struct evhttp_request *req, const char *raw, const char *pools)
{
	char addr[SUBRULE_ADDR_MAX + 1], token[SUBRULE_TOKEN_HEX + 1], link[700];
	struct submerge_sub *b;
	enum subrule_limit lim;

	subrule_email_norm(raw, addr, sizeof(addr));
	if (!S.email || !subrule_email_ok(addr)) {
		answer_page(req, HTTP_BADREQUEST, "Bad Request", "Not subscribed",
		            S.email ? "That is not an email address."
		                    : "Email subscriptions are off.",
		            NULL, NULL, NULL);
		return;
	}
	S.counts[SC_REQUESTED]++;
	b = find_addr(SUB_EMAIL, addr);
	/* known and confirmed: nothing is sent, and the answer is the same */
	if (b != NULL && b->row.state == SUB_ACTIVE)
		goto same;
	lim = subrule_limit_take(S.limits, addr, (unsigned)S.per_address, S.window, S.global_rate,
	                         clock_now());
	if (lim != SRL_SENT) {
		S.limited[lim]++;
		log_info("subscriptions: confirmation to %s not sent: %s rate limit",
		         b != NULL ? b->tag : "a new address", subrule_limit_names[lim]);
		goto same;
	}
	if ((b = pending(SUB_EMAIL, addr, pools, token)) == NULL)
		goto same;
	snprintf(link, sizeof(link), "%ssubscribe/confirm?token=%s", S.base_url, token);
	struct subtext_vars v = {.lang = registry.conf->status.language,
	                         .pool = b->row.pools[0] ? b->row.pools : "",
	                         .link = link};
	S.notes[SN_CONFIRM]++;
	deliver_mail(S.mail, b->row.address, mail_of(b, SN_CONFIRM, &v), sent, b->row.id);
	log_info("subscriptions: subscriber %" PRId64 " (%s) pending, confirmation sent", b->row.id,
	         b->tag);
same:
	answer_page(req, HTTP_OK, "OK", "Check your mail", thanks_mail, NULL, NULL, NULL);
}

/* The challenge's answer: the body itself, or {"challenge": ...}. */
static void challenge_done(bool ok, long code, const char *body, const char *why, int64_t tag)
{
	struct submerge_sub *b = find_id(tag);
	char echoed[SUBRULE_TOKEN_HEX + 1] = "";
	json_t *doc;

	if (b == NULL || b->row.state != SUB_PENDING)
		return;
	if (ok && (doc = json_loads(body, 0, NULL)) != NULL) {
		const char *c = json_string_value(json_object_get(doc, "challenge"));

		snprintf(echoed, sizeof(echoed), "%s", c != NULL ? c : "");
		json_decref(doc);
	} else if (ok) {
		size_t n = strspn(body, " \t\r\n");

		snprintf(echoed, sizeof(echoed), "%.*s", (int)strcspn(body + n, " \t\r\n"),
		         body + n);
	}
	if (ok && subrule_token_check(b->row.token_hash, b->row.token_expires, echoed,
	                              clock_wall()) == SRC_OK) {
		b->row.state = SUB_ACTIVE;
		b->row.confirmed = clock_wall();
		b->row.token_hash[0] = '\0';
		put(b);
		S.counts[SC_CONFIRMED]++;
		log_info("subscriptions: webhook subscriber %" PRId64 " (%s) verified", b->row.id,
		         b->tag);
		return;
	}
	S.counts[SC_CHALLENGE_FAILED]++;
	log_info("subscriptions: webhook subscriber %" PRId64 " (%s) not verified: %s", b->row.id,
	         b->tag, ok ? "the challenge was not echoed" : why);
	drop(b);
}

static void subscribe_webhook(struct evhttp_request *req, const char *url, const char *pools)
{
	char token[SUBRULE_TOKEN_HEX + 1], unsub[700];
	struct submerge_sub *b;
	enum subrule_limit lim;
	json_t *doc;

	if (!S.webhooks || !subrule_url_ok(url)) {
		answer_page(req, HTTP_BADREQUEST, "Bad Request", "Not subscribed",
		            S.webhooks ? "That is not an http:// or https:// URL."
		                       : "Webhook subscriptions are off.",
		            NULL, NULL, NULL);
		return;
	}
	S.counts[SC_REQUESTED]++;
	b = find_addr(SUB_WEBHOOK, url);
	if (b != NULL && b->row.state == SUB_ACTIVE)
		goto same;
	lim = subrule_limit_take(S.limits, url, (unsigned)S.per_address, S.window, S.global_rate,
	                         clock_now());
	if (lim != SRL_SENT) {
		S.limited[lim]++;
		goto same;
	}
	if ((b = pending(SUB_WEBHOOK, url, pools, token)) == NULL ||
	    unsub_url(b, unsub, sizeof(unsub)) < 0)
		goto same;
	doc = json_pack("{s:s, s:s, s:s, s:s}", "event", "subscription_challenge", "challenge",
	                token, "pools", b->row.pools, "unsubscribe_url", unsub);
	/* logged first: a post refused at once drops B in its callback */
	log_info("subscriptions: webhook subscriber %" PRId64 " (%s) pending, challenge sent",
	         b->row.id, b->tag);
	if (deliver_challenge(S.hook, url, doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL,
	                      challenge_done, b->row.id) < 0)
		log_debug("subscriptions: the challenge was not queued");
	json_decref(doc);
same:
	answer_page(req, 202, "Accepted", "Challenge sent", thanks_hook, NULL, NULL, NULL);
}

static void confirm(struct evhttp_request *req, const char *token, bool post)
{
	int64_t now = clock_wall();

	if (!post) {
		answer_page(req, HTTP_OK, "OK", "Confirm your subscription",
		            "Press the button to start receiving status updates.", "confirm", token,
		            "Confirm subscription");
		return;
	}
	for (size_t i = 0; token != NULL && i < S.n; i++) {
		struct submerge_sub *b = &S.v[i];
		enum subrule_check c;

		if (b->row.state != SUB_PENDING || b->row.kind != SUB_EMAIL)
			continue;
		c = subrule_token_check(b->row.token_hash, b->row.token_expires, token, now);
		if (c == SRC_WRONG)
			continue;
		if (c == SRC_EXPIRED) {
			S.counts[SC_EXPIRED]++;
			drop(b);
			answer_page(req, 410, "Gone", "Link expired",
			            "This confirmation link has expired. Subscribe again on the "
			            "status page.",
			            NULL, NULL, NULL);
			return;
		}
		b->row.state = SUB_ACTIVE;
		b->row.confirmed = now;
		b->row.token_hash[0] = '\0';
		put(b);
		S.counts[SC_CONFIRMED]++;
		log_info("subscriptions: subscriber %" PRId64 " (%s) confirmed", b->row.id, b->tag);
		S.wait_store = true;
		answer_page(
		    req, HTTP_OK, "OK", "Subscribed",
		    "You will receive a mail when an incident opens, is updated or resolves, "
		    "and when a maintenance is scheduled, starts or ends. Every mail has a "
		    "link to unsubscribe.",
		    NULL, NULL, NULL);
		return;
	}
	S.counts[SC_BAD_LINK]++;
	answer_page(req, HTTP_NOTFOUND, "Not Found", "Link not valid",
	            "This confirmation link is not valid, or was used already.", NULL, NULL, NULL);
}

static void subscribe_route(struct evhttp_request *req, const char *path, void *arg)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	struct evkeyvalq kv;
	char pools[STORE_SUB_POOLS_MAX], why[120];

	if (!S.enabled) {
		answer_page(req, HTTP_NOTFOUND, "Not Found", "Not found",
		            "Subscriptions are not offered here.", NULL, NULL, NULL);
		return;
	}
	bool is_confirm = strcmp(path, "/subscribe/confirm") == 0;
	if (!is_confirm && strcmp(path, "/subscribe") != 0) {
		answer_page(req, HTTP_NOTFOUND, "Not Found", "Not found", "Nothing here.", NULL,
		            NULL, NULL);
		return;
	}
	if (m != EVHTTP_REQ_POST &&
	    !(is_confirm && (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD))) {
		method_not_allowed(req, is_confirm ? "GET, HEAD, POST" : "POST");
		return;
	}
	if (fields(req, &kv) < 0) {
		evhttp_clear_headers(&kv);
		answer_page(req, HTTP_BADREQUEST, "Bad Request", "Not understood",
		            "The form could not be read.", NULL, NULL, NULL);
		return;
	}
	if (is_confirm) {
		confirm(req, evhttp_find_header(&kv, "token"), m == EVHTTP_REQ_POST);
	} else if (pools_of(&kv, pools, sizeof(pools), why, sizeof(why)) < 0) {
		answer_page(req, HTTP_BADREQUEST, "Bad Request", "Not subscribed", why, NULL, NULL,
		            NULL);
	} else if (evhttp_find_header(&kv, "email") != NULL) {
		subscribe_email(req, evhttp_find_header(&kv, "email"), pools);
	} else if (evhttp_find_header(&kv, "webhook") != NULL) {
		subscribe_webhook(req, evhttp_find_header(&kv, "webhook"), pools);
	} else {
		answer_page(req, HTTP_BADREQUEST, "Bad Request", "Not subscribed",
		            "Give an email address (email=) or a webhook URL (webhook=).", NULL,
		            NULL, NULL);
	}
	evhttp_clear_headers(&kv);
}

/* The subscriber an unsubscribe TOKEN names, its MAC checked; NULL when none. */
static struct submerge_sub *unsub_find(const char *token)
{
	char want[128];
	struct submerge_sub *b = token != NULL ? find_id(subrule_unsub_id(token)) : NULL;

	if (b == NULL ||
	    subrule_unsub_token(S.key, sizeof(S.key), b->row.id, b->row.created, want,
	                        sizeof(want)) < 0 ||
	    strlen(want) != strlen(token) || CRYPTO_memcmp(want, token, strlen(want)) != 0)
		return NULL;
	return b;
}

static void unsubscribe_route(struct evhttp_request *req, const char *path, void *arg)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	struct evkeyvalq kv;
	struct submerge_sub *b;
	const char *token;

	if (strcmp(path, "/unsubscribe") != 0) {
		answer_page(req, HTTP_NOTFOUND, "Not Found", "Not found", "Nothing here.", NULL,
		            NULL, NULL);
		return;
	}
	if (m != EVHTTP_REQ_POST && m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		method_not_allowed(req, "GET, HEAD, POST");
		return;
	}
	if (fields(req, &kv) < 0) {
		evhttp_clear_headers(&kv);
		answer_page(req, HTTP_BADREQUEST, "Bad Request", "Not understood",
		            "The request could not be read.", NULL, NULL, NULL);
		return;
	}
	token = evhttp_find_header(&kv, "token");
	b = unsub_find(token);
	if (b == NULL) {
		/* a valid-looking link whose subscriber is gone is answered as done: a second
		 * click, or a one-click POST after a manual one */
		bool gone = token != NULL && subrule_unsub_id(token) > 0 &&
		            find_id(subrule_unsub_id(token)) == NULL;

		if (!gone)
			S.counts[SC_BAD_LINK]++;
		answer_page(req, gone ? HTTP_OK : HTTP_NOTFOUND, gone ? "OK" : "Not Found",
		            gone ? "Unsubscribed" : "Link not valid",
		            gone ? "You are not subscribed (any more)."
		                 : "This unsubscribe link is not valid.",
		            NULL, NULL, NULL);
	} else if (m != EVHTTP_REQ_POST) {
		answer_page(req, HTTP_OK, "OK", "Unsubscribe",
		            "Press the button to stop receiving status updates.", "unsubscribe",
		            token, "Unsubscribe");
	} else {
		S.counts[SC_UNSUBSCRIBED]++;
		log_info("subscriptions: subscriber %" PRId64 " (%s) unsubscribed", b->row.id,
		         b->tag);
		drop(b);
		S.wait_store = true;
		answer_page(req, HTTP_OK, "OK", "Unsubscribed",
		            "You will not receive status updates any more.", NULL, NULL, NULL);
	}
	evhttp_clear_headers(&kv);
}

static json_t *sub_json(const struct submerge_sub *b)
{
	char created[40], confirmed[40];

	incident_iso(b->row.created, created, sizeof(created));
	incident_iso(b->row.confirmed, confirmed, sizeof(confirmed));
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o}", "id", (json_int_t)b->row.id, "kind",
	                 store_sub_kind_names[b->row.kind], "address", b->row.address, "pools",
	                 b->row.pools[0] ? b->row.pools : "all", "state",
	                 store_sub_state_names[b->row.state], "created", created, "confirmed",
	                 b->row.confirmed > 0 ? json_string(confirmed) : json_null());
}

static void admin_route(struct evhttp_request *req, const char *path, void *arg)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	const char *rest = path + strlen("/api/subscribers");

	if (!admin_authorized(req))
		return;
	if (*rest == '\0' && (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD)) {
		json_t *list = json_array();

		for (size_t i = 0; list != NULL && i < S.n; i++)
			json_array_append_new(list, sub_json(&S.v[i]));
		answer_json(req, HTTP_OK, "OK", json_pack("{s:o}", "subscribers", list));
		return;
	}
	if (rest[0] == '/' && m == EVHTTP_REQ_DELETE) {
		char *end;
		long long id = strtoll(rest + 1, &end, 10);
		struct submerge_sub *b = *end == '\0' && id > 0 ? find_id(id) : NULL;

		if (b == NULL) {
			answer_json(req, HTTP_NOTFOUND, "Not Found",
			            json_pack("{s:s}", "error", "no such subscriber"));
			return;
		}
		S.counts[SC_DELETED]++;
		log_info("subscriptions: subscriber %lld (%s) deleted by ops", id, b->tag);
		drop(b);
		S.wait_store = true;
		answer_json(req, HTTP_OK, "OK", json_pack("{s:I}", "deleted", (json_int_t)id));
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	                  *rest == '\0' ? "GET, HEAD" : "DELETE");
	answer_json(
	    req, HTTP_BADMETHOD, "Method Not Allowed",
	    json_pack("{s:s}", "error", "GET /api/subscribers or DELETE /api/subscribers/ID"));
}

/* ---- the page's form ------------------------------------------------------------------------ */

int subs_form(struct evbuffer *b)
{
	int rc = 0;

	if (!S.on || !S.enabled || (!S.email && !S.webhooks))
		return 0;
	rc |= evbuffer_add_printf(
	          b, "<section id=\"subscribe\"><h2>Get updates</h2>"
	             "<form method=\"post\" action=\"subscribe\" id=\"subscribe-form\">"
	             "<fieldset><legend>Services</legend>") < 0;
	for (size_t i = 0; i < registry.n_pools; i++)
		rc |= evbuffer_add_printf(
		          b,
		          "<label><input type=\"checkbox\" name=\"pool\" value=\"%s\"> %s"
		          "</label> ",
		          registry.pools[i]->name, registry.pools[i]->name) < 0;
	rc |= evbuffer_add_printf(
	          b, "<p class=\"legend\">None ticked: all of them.</p></fieldset>") < 0;
	if (S.email)
		rc |= evbuffer_add_printf(
		          b, "<p><label>Email <input type=\"email\" name=\"email\" "
		             "id=\"subscribe-email\" required autocomplete=\"email\"></label> "
		             "<button type=\"submit\" id=\"subscribe-button\">Subscribe"
		             "</button></p>") < 0;
	rc |= evbuffer_add_printf(b, "</form>") < 0;
	if (S.webhooks) {
		rc |= evbuffer_add_printf(
		          b, "<form method=\"post\" action=\"subscribe\" id=\"webhook-form\">"
		             "<p><label>Webhook URL <input type=\"url\" name=\"webhook\" "
		             "required></label> <button type=\"submit\">Subscribe a webhook"
		             "</button></p></form>") < 0;
	}
	rc |= evbuffer_add_printf(
	          b, "<p class=\"legend\">You get a message when an incident opens, is "
	             "updated or resolves, and when a maintenance is scheduled, starts "
	             "or ends. Unsubscribe in one click from any message.</p></section>") < 0;
	return rc ? -1 : 0;
}

/* ---- metrics -------------------------------------------------------------------------------- */

static void subs_metrics(struct metrics_out *o)
{
	static const char *const chans[] = {"mail", "webhook"};
	const struct deliver *ds[] = {S.mail, S.hook};

	metrics_outf(
	    o, "# HELP nodegate_subscribers subscribers of the status page, by kind and state\n"
	       "# TYPE nodegate_subscribers gauge\n");
	for (int k = 0; k < SUB_KIND_COUNT; k++)
		for (int s = 0; s < SUB_STATE_COUNT; s++)
			metrics_outf(o, "nodegate_subscribers{kind=\"%s\",state=\"%s\"} %zu\n",
			             store_sub_kind_names[k], store_sub_state_names[s],
			             count_state((enum store_sub_state)s, k));
	metrics_outf(o, "# HELP nodegate_subscriptions_total what happened to subscriptions\n"
	                "# TYPE nodegate_subscriptions_total counter\n");
	for (int i = 0; i < SC_COUNT; i++)
		metrics_outf(o, "nodegate_subscriptions_total{event=\"%s\"} %llu\n",
		             subs_count_names[i], (unsigned long long)S.counts[i]);
	metrics_outf(o,
	             "# HELP nodegate_subscription_limited_total confirmation mails and challenges "
	             "not sent: the per-address or the global rate limit\n"
	             "# TYPE nodegate_subscription_limited_total counter\n");
	for (int i = SRL_ADDRESS; i < SRL_COUNT; i++)
		metrics_outf(o, "nodegate_subscription_limited_total{scope=\"%s\"} %llu\n",
		             subrule_limit_names[i], (unsigned long long)S.limited[i]);
	metrics_outf(o,
	             "# HELP nodegate_subscription_notices_total notices sent to subscribers, by "
	             "kind (each goes to every matching subscriber)\n"
	             "# TYPE nodegate_subscription_notices_total counter\n");
	for (int i = 0; i < SN_COUNT; i++)
		metrics_outf(o, "nodegate_subscription_notices_total{notice=\"%s\"} %llu\n",
		             subs_note_names[i], (unsigned long long)S.notes[i]);
	metrics_outf(o,
	             "# HELP nodegate_subscription_messages_total subscription deliveries: tries "
	             "(delivered, failed), messages given up (dropped) or refused (queue_full)\n"
	             "# TYPE nodegate_subscription_messages_total counter\n");
	for (size_t c = 0; c < ARRAY_SIZE(chans); c++)
		for (int r = 0; r < DR_COUNT; r++)
			metrics_outf(
			    o,
			    "nodegate_subscription_messages_total{channel=\"%s\","
			    "result=\"%s\"} %llu\n",
			    chans[c], deliver_result_names[r],
			    (unsigned long long)deliver_count(ds[c], (enum deliver_result)r));
	metrics_outf(o, "# HELP nodegate_subscription_queue messages waiting for delivery\n"
	                "# TYPE nodegate_subscription_queue gauge\n");
	for (size_t c = 0; c < ARRAY_SIZE(chans); c++)
		metrics_outf(o, "nodegate_subscription_queue{channel=\"%s\"} %zu\n", chans[c],
		             deliver_queued(ds[c]));
	metrics_outf(o,
	             "# HELP nodegate_subscription_limit_evictions_total addresses the per-address "
	             "limit forgot to make room\n"
	             "# TYPE nodegate_subscription_limit_evictions_total counter\n"
	             "nodegate_subscription_limit_evictions_total %llu\n",
	             (unsigned long long)(S.limits != NULL ? S.limits->evicted : 0));
}

/* ---- life ----------------------------------------------------------------------------------- */

/* A mail or webhook a dead sender left pending: sent from here, confirmed when done. */
static int replay(const struct outbox_row *row)
{
	struct deliver *d = strcmp(row->channel, deliver_name(S.mail)) == 0   ? S.mail
	                    : strcmp(row->channel, deliver_name(S.hook)) == 0 ? S.hook
	                                                                      : NULL;

	if (d == NULL)
		return -1;
	log_warn("subscriptions: a message to subscriber %" PRId64
	         " the last sender left pending (%s) is sent",
	         row->tag, row->key);
	if (deliver_replay(d, d == S.mail, row->key, row->target, row->body, sent, row->tag) < 0)
		log_warn("subscriptions: the message %s was not queued (queue full)", row->key);
	return 0;
}

/* The read of the fleet's subscribers is back; the stored unsubscribe key wins over one
 * made here while the database was away. */
static void reloaded(int rc, const struct store_subscriber *rows, size_t n, const char *key,
                     void *arg)
{
	bool again = S.reload_again;
	enum submerge_result r = SUBMERGE_OK;

	S.reloading = S.reload_again = false;
	if (!S.on)
		return;
	if (rc == 0)
		r = submerge(&S.v, &S.n, &S.cap, &S.next_id, rows, n, &S.log);
	if (rc == 0 && r == SUBMERGE_AGAIN) {
		again = true; /* too many dropped here since it was asked: read again */
	} else if (rc == 0 && r == SUBMERGE_NOMEM) {
		log_error("subscriptions: out of memory merging %zu subscribers read from the "
		          "fleet's store",
		          n);
	} else if (rc == 0) {
		for (size_t i = 0; strlen(key) == 64 && i < 32; i++) {
			unsigned v;

			if (sscanf(key + 2 * i, "%2x", &v) == 1)
				S.key[i] = (unsigned char)v;
		}
		log_debug("subscriptions: %zu subscribers read from the fleet's store", n);
	}
	S.log.n_gone = 0;
	if (again)
		reload();
}

/* Reads the fleet's subscribers again (one read at a time; requests meanwhile fold into
 * one more). */
static void reload(void)
{
	if (!S.on || !sender_fleet())
		return;
	if (S.reloading) {
		S.reload_again = true;
		return;
	}
	S.reloading = true;
	submerge_ask(&S.log);
	store_read_subscribers(reloaded, NULL);
}

static void load_row(const struct store_subscriber *row, void *arg)
{
	if (add(row) == NULL)
		log_error("subscriptions: out of memory loading subscriber %" PRId64, row->id);
}

static int load_key(void)
{
	char hexkey[129] = "";
	int found = store_is_open() ? store_load_secret(KEY_NAME, hexkey, sizeof(hexkey)) : 0;

	if (found == 1 && strlen(hexkey) == 64) {
		for (size_t i = 0; i < 32; i++) {
			unsigned v;

			if (sscanf(hexkey + 2 * i, "%2x", &v) != 1)
				return -1;
			S.key[i] = (unsigned char)v;
		}
		return 0;
	}
	if (found < 0 || RAND_bytes(S.key, sizeof(S.key)) != 1)
		return -1;
	for (size_t i = 0; i < 32; i++)
		snprintf(hexkey + 2 * i, 3, "%02x", S.key[i]);
	store_put_secret(KEY_NAME, hexkey);
	OPENSSL_cleanse(hexkey, sizeof(hexkey));
	return 0;
}

static void mark_started(const struct incident *inc, void *arg)
{
	if (inc->resolved == 0 && planned(inc) && inc->planned_start <= *(int64_t *)arg)
		maint_mark(inc->id);
}

int subs_init(struct event_base *base)
{
	struct timeval one = {.tv_sec = 1};
	int64_t now = clock_wall();

	if (S.on)
		return -1;
	S.base = base;
	S.next_id = 1;
	if ((S.limits = calloc(1, sizeof(*S.limits))) == NULL || load_key() < 0 ||
	    (store_is_open() && store_load_subscribers(load_row, NULL) < 0) ||
	    (S.mail = deliver_new(base, "subscriptions mail")) == NULL ||
	    (S.hook = deliver_new(base, "subscriptions webhooks")) == NULL ||
	    (S.tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL)) == NULL ||
	    status_route("/subscribe", subscribe_route, NULL) < 0 ||
	    status_route("/unsubscribe", unsubscribe_route, NULL) < 0 ||
	    status_route("/api/subscribers", admin_route, NULL) < 0 ||
	    bus_subscribe_deferred(base, BUS_PHASE_ALERTS, on_bus, NULL, NULL) < 0 ||
	    status_metrics(subs_metrics) < 0 || outbox_on_replay(replay) < 0 ||
	    sender_on_takeover(reload) < 0 || sender_on_shared(reload) < 0) {
		subs_deinit();
		return -1;
	}
	incident_foreach(0, mark_started, &now); /* a restart does not tell a start again */
	evtimer_add(S.tick, &one);
	S.on = true;
	return 0;
}

static char *base_url_of(const struct conf *c)
{
	const char *u = c->subs.public_url != NULL ? c->subs.public_url : c->status.public_url;
	char addr[300], url[700];

	if (u == NULL) {
		conf_addr_format(&c->status.bind, addr, sizeof(addr));
		snprintf(url, sizeof(url), "http://%s/", addr);
	} else {
		size_t n = strlen(u);
		snprintf(url, sizeof(url), "%s%s", u, n > 0 && u[n - 1] == '/' ? "" : "/");
	}
	return strdup(url);
}

int subs_apply(const struct conf *c, char *err, size_t errlen)
{
	const struct conf_subs *sb = &c->subs;
	char *password = NULL, *url = base_url_of(c), *from = dup_or_null(sb->from);
	struct deliver_conf dc = {.queue_size = sb->queue_size,
	                          .in_flight = 4,
	                          .retries = (unsigned)sb->retries,
	                          .backoff = sb->retry_backoff,
	                          .timeout = sb->timeout,
	                          .smtp_url = sb->smtp_url,
	                          .from = sb->from,
	                          .username = sb->smtp_username,
	                          .starttls = sb->smtp_starttls,
	                          .tls_verify = sb->smtp_tls_verify};

	if (!S.on)
		return 0;
	if (url == NULL || (sb->from != NULL && from == NULL)) {
		snprintf(err, errlen, "[subscriptions]: out of memory");
		goto fail;
	}
	if (sb->smtp_password_file != NULL &&
	    (password = deliver_read_secret(sb->smtp_password_file, err, errlen)) == NULL)
		goto fail;
	dc.password = password;
	if (deliver_set(S.mail, &dc) < 0 || deliver_set(S.hook, &dc) < 0) {
		snprintf(err, errlen, "[subscriptions]: out of memory");
		goto fail;
	}
	if (password != NULL)
		explicit_bzero(password, strlen(password));
	free(password);
	free(S.base_url);
	S.base_url = url;
	free(S.from);
	S.from = from;
	S.enabled = sb->section && sb->enabled;
	S.email = sb->smtp_url != NULL && sb->from != NULL;
	S.webhooks = sb->webhooks;
	S.token_ttl = sb->token_ttl;
	S.per_address = sb->per_address;
	S.window = sb->address_window;
	S.global_rate = sb->global_rate;
	S.max_subs = sb->max_subscribers;
	S.max_pending = sb->max_pending;
	return 0;
fail:
	if (password != NULL)
		explicit_bzero(password, strlen(password));
	free(password);
	free(url);
	free(from);
	return -1;
}

void subs_deinit(void)
{
	deliver_free(S.mail);
	deliver_free(S.hook);
	if (S.tick != NULL)
		event_free(S.tick);
	free(S.limits);
	free(S.v);
	free(S.base_url);
	free(S.from);
	OPENSSL_cleanse(S.key, sizeof(S.key));
	memset(&S, 0, sizeof(S));
}
