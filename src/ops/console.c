/* The ops console: /ops/ on the status listener, a private page for the people on call.
 * Open incidents with their priority, escalation, acknowledgement, roles, similar past
 * incidents and suggested interventions, the backends with their addresses, the recently
 * resolved incidents; plain HTML forms that act through the admin API's own functions
 * (admin.h, incident.h). Login with the admin token into a session cookie (login.c), a CSRF
 * token in every form, the Origin checked, POST-redirect-GET, never cached. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "clock.h"
#include "health/health.h"
#include "health/node.h"
#include "log.h"
#include "metrics.h"
#include "ops/admin.h"
#include "ops/console.h"
#include "ops/out.h"
#include "ops/incident.h"
#include "ops/login.h"
#include "ops/page.h"
#include "ops/postmortem.h"
#include "ops/status.h"
#include "ops/store.h"
#include "proxy/backend.h"
#include "registry.h"
#include "util.h"

#define COOKIE       "ng_ops"
#define PREFIX       "/ops"
#define VIA          "ops console"
#define RESOLVED_MAX 10    /* recently resolved incidents shown */
#define LIST_MAX     200   /* incidents looked at for the page */
#define FAIL_WINDOW  60000 /* ms: failed logins counted over this long */
#define FAIL_MAX     20    /* failed logins in FAIL_WINDOW; more are refused (429) */
#define HTML_CT      "text/html; charset=utf-8"

static const char css[] =
    "body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem;"
    "color:#1b1f24;background:#fff}h1{font-size:1.4rem}h2{font-size:1.2rem;margin-top:2rem}"
    "header{display:flex;justify-content:space-between;align-items:center;gap:1rem;"
    "flex-wrap:wrap}header "
    "p{display:flex;align-items:center;gap:.8rem;flex-wrap:wrap}.flash{padding:.5rem "
    ".8rem;border-radius:4px;background:#e8f1fb}"
    ".flash.err{background:#fdecea}article{border:1px solid #ccd;border-radius:6px;"
    "padding:.5rem 1rem;margin:1rem 0}dl{display:grid;grid-template-columns:max-content 1fr;"
    "gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}.private{color:#6a3d9a}"
    "ol.tl{font-size:.9em;padding-left:1.2rem}form{margin:.4rem 0}"
    "form.inline{display:inline}input,select,textarea,button{font:inherit}"
    "textarea{width:100%;max-width:40rem}table{border-collapse:collapse}"
    "td,th{padding:.2rem .6rem;border-bottom:1px solid #dde;text-align:left}"
    ".acts{display:flex;flex-wrap:wrap;gap:1.5rem}";
static char css_hash[HASH_B64];

static struct login_table logins;
static unsigned epoch_seen; /* admin_token_epoch when the sessions began */
static struct {
	uint64_t ok, wrong, throttled;           /* logins */
	uint64_t no_session, csrf, origin, type; /* refused posts */
	uint64_t actions;
	uint64_t fail_start; /* monotonic ms: the failed-login window's start */
	unsigned fails;      /* failed logins in it */
} C;

/* ---- messages after an action (POST-redirect-GET: ?m=NAME picks one of these) ---------- */

static const struct {
	const char *name, *text;
	bool err;
} notes[] = {
    {"ack", "Acknowledged: its escalation stops.", false},
    {"update", "Update posted: it is on the public status page.", false},
    {"note", "Note added (private: ops only).", false},
    {"roles", "Roles saved.", false},
    {"priority", "Priority set.", false},
    {"resolve", "Incident resolved.", false},
    {"drain", "Backend draining: no new requests, open ones finish.", false},
    {"maint", "Backend in maintenance: out of rotation, probes go on.", false},
    {"ready", "Backend readmitted.", false},
    {"expected", "Expected recovery saved.", false},
    {"unchanged", "Nothing changed.", false},
    {"time", "Not a time like 2026-11-21T12:00:00Z.", true},
    {"acked", "It was acknowledged already.", true},
    {"resolved", "That incident is resolved already.", true},
    {"empty", "A required field was empty.", true},
    {"long", "A field was too long.", true},
    {"bad", "That form was not understood.", true},
    {"gone", "No such incident or backend.", true},
};

/* ---- the enabled check, and what every answer carries ----------------------------------- */

static bool console_on(void)
{
	const struct conf *c = registry.conf;

	return c != NULL && c->status.enabled && c->status.console != CONSOLE_NO &&
	       admin_token_set();
}

static bool secure_cookie(void)
{
	const char *u = registry.conf != NULL ? registry.conf->status.public_url : NULL;

	/* the status listener speaks plain HTTP: behind a TLS proxy (public_url https://) the
	 * cookie travels over TLS only */
	return u != NULL && strncasecmp(u, "https://", 8) == 0;
}

static void add_headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char csp[256];

	snprintf(csp, sizeof(csp),
	         "default-src 'none'; style-src 'sha256-%s'; form-action 'self'; "
	         "frame-ancestors 'none'; base-uri 'none'",
	         css_hash);
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Pragma", "no-cache");
	evhttp_add_header(h, "Content-Security-Policy", csp);
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	/* same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on our
	 * own forms, which same_origin() refuses */
	evhttp_add_header(h, "Referrer-Policy", "same-origin");
}

static void reply_plain(struct evhttp_request *req, int code, const char *text)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	evbuffer_drain(out, evbuffer_get_length(out));
	evbuffer_add(out, text, strlen(text));
	add_headers(req, "text/plain; charset=utf-8");
	evhttp_send_reply(req, code, NULL, NULL);
}

/* 303 to LOCATION (a path of ours): the browser GETs it. */
static void see_other(struct evhttp_request *req, const char *location)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Location", location);
	reply_plain(req, 303, "see other\n");
}

/* ---- output ------------------------------------------------------------------------------ */

/* S escaped (NULL: nothing). */
static void esc(struct out *o, const char *s)
{
	if (s != NULL && page_esc(o->b, s) < 0)
		o->rc = -1;
}

static const char *jstr(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

static void head(struct out *o, const char *title)
{
	outf(o, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
	        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
	        "<meta name=\"robots\" content=\"noindex\"><title>");
	esc(o, title);
	outf(o, "</title><style>%s</style></head><body>", css);
}

/* <form> posting to ACTION with S's CSRF token; the caller closes it. */
static void form(struct out *o, const struct login *s, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void form(struct out *o, const struct login *s, const char *cls, const char *fmt, ...)
{
	char action[160], csrf[LOGIN_HEX_LEN + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(action, sizeof(action), fmt, ap);
	va_end(ap);
	login_hex(s->csrf, LOGIN_ID_LEN, csrf);
	outf(o, "<form method=\"post\" class=\"%s\" action=\"", cls);
	esc(o, action);
	outf(o, "\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">", csrf);
	OPENSSL_cleanse(csrf, sizeof(csrf));
}

/* ---- the login form ---------------------------------------------------------------------- */

static void login_page(struct evhttp_request *req, int code, const char *msg)
{
	struct out o = {.b = evhttp_request_get_output_buffer(req)};

	evbuffer_drain(o.b, evbuffer_get_length(o.b));
	head(&o, "nodegate ops console: log in");
	outf(&o, "<main><h1>nodegate ops console</h1>");
	if (msg != NULL) {
		outf(&o, "<p class=\"flash err\" role=\"alert\">");
		esc(&o, msg);
		outf(&o, "</p>");
	}
	outf(&o,
	     "<form method=\"post\" action=\"" PREFIX "/login\">"
	     "<p><label>Your name <input name=\"name\" maxlength=\"%d\" "
	     "autocomplete=\"username\"></label></p>"
	     "<p><label>Admin token <input name=\"token\" type=\"password\" required "
	     "autocomplete=\"current-password\"></label></p>"
	     "<p><button>Log in</button></p></form></main></body></html>\n",
	     LOGIN_WHO_MAX - 1);
	if (o.rc < 0) {
		reply_plain(req, 500, "out of memory\n");
		return;
	}
	add_headers(req, HTML_CT);
	evhttp_send_reply(req, code, NULL, NULL);
}

/* ---- the console page --------------------------------------------------------------------- */

static void write_facts(struct out *o, json_t *inc)
{
	json_t *ack = json_object_get(inc, "acknowledged"),
	       *esc_j = json_object_get(inc, "escalation");
	json_t *sim = json_object_get(inc, "similar"),
	       *exp = json_object_get(inc, "expected_recovery");
	json_t *median = json_object_get(sim, "median_resolve_ms");
	char took[32];

	outf(o, "<dl><dt>Priority</dt><dd class=\"priority\">");
	esc(o, jstr(inc, "priority"));
	outf(o, " (%s)</dd><dt>Severity</dt><dd>",
	     json_is_true(json_object_get(inc, "priority_set")) ? "set by ops" : "from impact");
	esc(o, jstr(inc, "severity"));
	outf(o, "</dd><dt>Pool</dt><dd>");
	esc(o, jstr(inc, "pool")[0] != '\0' ? jstr(inc, "pool") : "all");
	if (jstr(inc, "backend") != NULL && jstr(inc, "backend")[0] != '\0') {
		outf(o, "</dd><dt>Opened by</dt><dd>backend ");
		esc(o, jstr(inc, "backend"));
		outf(o, " (");
		esc(o, jstr(inc, "verdict"));
		outf(o, ")");
	}
	outf(o, "</dd><dt>Started</dt><dd>");
	esc(o, jstr(inc, "started"));
	outf(o, "</dd><dt>Escalation</dt><dd class=\"escalation\">");
	if (json_is_object(esc_j)) {
		esc(o, jstr(esc_j, "name"));
		outf(o, ": tier %lld told",
		     (long long)json_integer_value(json_object_get(esc_j, "tier")));
		if (jstr(esc_j, "next_at") != NULL) {
			outf(o, ", next tier at ");
			esc(o, jstr(esc_j, "next_at"));
		}
	} else {
		outf(o, "%s", json_is_object(ack) ? "stopped (acknowledged)" : "none climbing");
	}
	outf(o, "</dd><dt>Acknowledged</dt><dd class=\"ack\">");
	if (json_is_object(ack)) {
		outf(o, "by ");
		esc(o, jstr(ack, "by"));
		outf(o, " at ");
		esc(o, jstr(ack, "at"));
	} else {
		outf(o, "not yet");
	}
	outf(o, "</dd><dt>Chat channel</dt><dd>");
	esc(o, jstr(inc, "chat_channel"));
	outf(o, "</dd><dt>Similar, 90 days</dt><dd class=\"similar\">%lld",
	     (long long)json_integer_value(json_object_get(sim, "count")));
	if (json_is_integer(median)) {
		pm_duration(json_integer_value(median), took, sizeof(took));
		outf(o, "; median time to resolve %s", took);
	}
	outf(o, "</dd><dt>Expected recovery</dt><dd class=\"expected\">");
	if (jstr(exp, "at") != NULL) {
		esc(o, jstr(exp, "at"));
		outf(o, " (set by ");
		esc(o, jstr(exp, "by"));
		outf(o, ")");
	} else if (jstr(exp, "suggested") != NULL) {
		esc(o, jstr(exp, "suggested"));
		outf(o, " (suggested by similar incidents, to confirm)");
	} else {
		outf(o, "unknown");
	}
	outf(o, "</dd></dl>");
}

static void write_similar(struct out *o, json_t *inc)
{
	json_t *recent = json_object_get(json_object_get(inc, "similar"), "recent"), *p, *d;
	size_t i, k;
	char took[32];

	if (json_array_size(recent) == 0)
		return;
	outf(o, "<h4>Similar past incidents</h4><ul class=\"similar-list\">");
	json_array_foreach(recent, i, p)
	{
		outf(o, "<li>#%lld, started ",
		     (long long)json_integer_value(json_object_get(p, "id")));
		esc(o, jstr(p, "started"));
		if (json_is_integer(json_object_get(p, "resolve_ms"))) {
			pm_duration(json_integer_value(json_object_get(p, "resolve_ms")), took,
			            sizeof(took));
			outf(o, ", resolved in %s", took);
		}
		json_array_foreach(json_object_get(p, "done"), k, d)
		{
			outf(o, "%s", k == 0 ? "; done: " : "; ");
			esc(o, json_string_value(d));
		}
		outf(o, "</li>");
	}
	outf(o, "</ul>");
}

static void write_remedy(struct out *o, json_t *inc)
{
	json_t *r = json_object_get(inc, "remedy"), *a;
	size_t i;

	if (json_array_size(r) == 0)
		return;
	outf(o, "<h4>Suggested interventions</h4><ul class=\"remedy\">");
	json_array_foreach(r, i, a)
	{
		outf(o, "<li>");
		esc(o, jstr(a, "text"));
		outf(o, "</li>");
	}
	outf(o, "</ul>");
}

static void write_timeline(struct out *o, json_t *inc)
{
	json_t *e;
	size_t i;

	outf(o, "<h4>Timeline</h4><ol class=\"tl\">");
	json_array_foreach(json_object_get(inc, "entries"), i, e)
	{
		const char *kind = jstr(e, "kind");
		int k = -1;

		for (int n = 0; kind != NULL && n < ENTRY_COUNT; n++)
			if (strcmp(entry_kind_names[n], kind) == 0)
				k = n;
		outf(o, "<li data-kind=\"");
		esc(o, kind);
		outf(o, "\"%s>", k >= 0 && !incident_entry_public(k) ? " class=\"private\"" : "");
		esc(o, jstr(e, "at"));
		outf(o, " <b>");
		esc(o, kind);
		if (jstr(e, "status") != NULL) {
			outf(o, " (");
			esc(o, jstr(e, "status"));
			outf(o, ")");
		}
		outf(o, "</b>%s ", k >= 0 && !incident_entry_public(k) ? " [private]" : "");
		esc(o, jstr(e, "text"));
		outf(o, "</li>");
	}
	outf(o, "</ol>");
}

static void write_forms(struct out *o, const struct login *s, json_t *inc)
{
	long long id = (long long)json_integer_value(json_object_get(inc, "id"));
	json_t *roles = json_object_get(inc, "roles");

	outf(o, "<div class=\"acts\">");
	if (!json_is_object(json_object_get(inc, "acknowledged"))) {
		form(o, s, "ack", PREFIX "/incidents/%lld/ack", id);
		outf(o, "<button>Acknowledge</button></form>");
	}
	form(o, s, "update", PREFIX "/incidents/%lld/update", id);
	outf(o,
	     "<p><label>Public update <select name=\"status\">"
	     "<option>investigating</option><option>identified</option>"
	     "<option>monitoring</option></select></label></p><p><textarea name=\"message\" "
	     "maxlength=\"%d\" rows=\"2\" required aria-label=\"public update\"></textarea></p>"
	     "<button>Post update (public)</button></form>",
	     INCIDENT_TEXT_MAX - 1);
	form(o, s, "note", PREFIX "/incidents/%lld/note", id);
	outf(o,
	     "<p><label>Private note<br><textarea name=\"text\" maxlength=\"%d\" rows=\"2\" "
	     "required></textarea></label></p><button>Add note (private)</button></form>",
	     INCIDENT_TEXT_MAX / 2);
	outf(o, "</div><div class=\"acts\">");
	form(o, s, "roles", PREFIX "/incidents/%lld/roles", id);
	for (int r = 0; r < ROLE_COUNT; r++) {
		outf(o, "<p><label>%s <input name=\"%s\" maxlength=\"%d\" value=\"",
		     incident_role_names[r], incident_role_names[r], INCIDENT_NAME_MAX - 1);
		esc(o, jstr(roles, incident_role_names[r]));
		outf(o, "\"></label></p>");
	}
	outf(o, "<button>Save roles</button></form>");
	form(o, s, "priority", PREFIX "/incidents/%lld/priority", id);
	outf(o, "<p><label>Priority <select name=\"priority\">");
	for (int p = 0; p < PRIO_COUNT; p++)
		outf(o, "<option%s>%s</option>",
		     strcmp(priority_names[p], jstr(inc, "priority")) == 0 ? " selected" : "",
		     priority_names[p]);
	outf(o,
	     "</select></label></p><p><label>Reason <input name=\"reason\" maxlength=\"%d\" "
	     "required></label></p><button>Override priority</button></form>",
	     INCIDENT_TEXT_MAX / 2);
	form(o, s, "expected", PREFIX "/incidents/%lld/expected", id);
	outf(o, "<p><label>Expected recovery (UTC) <input name=\"at\" maxlength=\"64\" "
	        "placeholder=\"2026-11-21T12:00:00Z\" value=\"");
	esc(o, jstr(json_object_get(inc, "expected_recovery"), "at") != NULL
	           ? jstr(json_object_get(inc, "expected_recovery"), "at")
	           : jstr(json_object_get(inc, "expected_recovery"), "suggested"));
	outf(o, "\"></label></p><button>Confirm expected recovery</button></form>");
	form(o, s, "resolve", PREFIX "/incidents/%lld/resolve", id);
	outf(o,
	     "<p><label>Resolve with a public message <input name=\"message\" "
	     "maxlength=\"%d\" value=\"Resolved.\"></label></p><button>Resolve</button></form>",
	     INCIDENT_TEXT_MAX - 1);
	outf(o, "</div>");
}

static void write_open(struct out *o, const struct login *s, json_t *inc)
{
	long long id = (long long)json_integer_value(json_object_get(inc, "id"));

	outf(o, "<article class=\"incident\" id=\"inc-%lld\" data-id=\"%lld\" data-priority=\"", id,
	     id);
	esc(o, jstr(inc, "priority"));
	outf(o, "\" data-acked=\"%s\"><h3>#%lld ",
	     json_is_object(json_object_get(inc, "acknowledged")) ? "yes" : "no", id);
	esc(o, jstr(inc, "title"));
	outf(o, "</h3>");
	write_facts(o, inc);
	outf(o, "<p><a href=\"" PREFIX "/incidents/%lld/postmortem\">Postmortem draft</a></p>", id);
	write_remedy(o, inc);
	write_similar(o, inc);
	write_forms(o, s, inc);
	write_timeline(o, inc);
	outf(o, "</article>");
}

static void write_resolved(struct out *o, json_t *inc)
{
	long long id = (long long)json_integer_value(json_object_get(inc, "id"));

	outf(o, "<details class=\"incident\" id=\"inc-%lld\"><summary>#%lld ", id, id);
	esc(o, jstr(inc, "title"));
	outf(o, " &middot; ");
	esc(o, jstr(inc, "priority"));
	outf(o, " &middot; ");
	esc(o, jstr(inc, "started"));
	outf(o, " to ");
	esc(o, jstr(inc, "resolved"));
	outf(o, "</summary>");
	write_facts(o, inc);
	outf(o, "<p><a href=\"" PREFIX "/incidents/%lld/postmortem\">Postmortem draft</a></p>", id);
	write_timeline(o, inc);
	outf(o, "</details>");
}

struct lists {
	struct out open, resolved;
	const struct login *s;
	size_t n_open, n_resolved;
};

static void list_cb(const struct incident *inc, void *arg)
{
	struct lists *l = arg;
	json_t *j;

	if (inc->resolved != 0 && l->n_resolved >= RESOLVED_MAX)
		return;
	j = admin_incident_json(inc);
	if (j == NULL) {
		l->open.rc = -1;
		return;
	}
	if (inc->resolved == 0) {
		write_open(&l->open, l->s, j);
		l->n_open++;
	} else {
		write_resolved(&l->resolved, j);
		l->n_resolved++;
	}
	json_decref(j);
}

/* The action that puts a backend in each admin state, named as in the admin API. */
static const char *const backend_actions[ADMIN_COUNT] = {
    [ADMIN_NONE] = "ready",
    [ADMIN_DRAIN] = "drain",
    [ADMIN_MAINT] = "maint",
};

static void write_backends(struct out *o, const struct login *s)
{
	char addr[300];

	outf(o, "<section id=\"backends\"><h2>Backends</h2><table><thead><tr><th>Pool</th>"
	        "<th>Backend</th><th>Address</th><th>State</th><th>Admin</th><th>Weight</th>"
	        "<th>Actions</th></tr></thead><tbody>");
	for (size_t i = 0; i < registry.n_backends; i++) {
		const struct backend *b = registry.backends[i];
		enum admin_state a = b->node->health.admin;

		if (b->removed)
			continue;
		conf_addr_format(&b->conf.address, addr, sizeof(addr));
		outf(o, "<tr data-backend=\"");
		esc(o, b->name);
		outf(o, "\" data-state=\"%s\" data-admin=\"%s\"><td>",
		     health_state_names[b->node->health.state], admin_state_names[a]);
		esc(o, b->conf.pool);
		outf(o, "</td><td>");
		esc(o, b->name);
		outf(o, "</td><td class=\"addr\">");
		esc(o, addr);
		outf(o, "</td><td>%s</td><td>%s</td><td>%u</td><td>",
		     health_state_names[b->node->health.state], admin_state_names[a],
		     (unsigned)b->node->weight);
		for (int act = ADMIN_NONE; act < ADMIN_COUNT; act++) {
			if ((int)a == act)
				continue;
			form(o, s, "inline", PREFIX "/backends/%s", backend_actions[act]);
			outf(o, "<input type=\"hidden\" name=\"backend\" value=\"");
			esc(o, b->name);
			outf(o, "\"><button>%s</button></form> ",
			     act == ADMIN_NONE    ? "Readmit"
			     : act == ADMIN_DRAIN ? "Drain"
			                          : "Maintenance");
		}
		outf(o, "</td></tr>");
	}
	outf(o, "</tbody></table></section>");
}

static const char *note_of(struct evhttp_request *req, bool *err)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq kv;
	const char *m, *text = NULL;

	TAILQ_INIT(&kv);
	if (q == NULL || evhttp_parse_query_str(q, &kv) != 0) {
		evhttp_clear_headers(&kv);
		return NULL;
	}
	m = evhttp_find_header(&kv, "m");
	for (size_t i = 0; m != NULL && i < ARRAY_SIZE(notes); i++)
		if (strcmp(notes[i].name, m) == 0) {
			text = notes[i].text;
			*err = notes[i].err;
		}
	evhttp_clear_headers(&kv);
	return text;
}

static void console_page(struct evhttp_request *req, const struct login *s)
{
	struct out o = {.b = evhttp_request_get_output_buffer(req)};
	struct lists l = {.open.b = evbuffer_new(), .resolved.b = evbuffer_new(), .s = s};
	bool err = false;
	const char *note = note_of(req, &err);

	if (l.open.b != NULL && l.resolved.b != NULL)
		incident_foreach(LIST_MAX, list_cb, &l);
	head(&o, "nodegate ops console");
	outf(&o, "<header><h1>nodegate ops console</h1><div class=\"me\">Logged in as <b "
	         "id=\"who\">");
	esc(&o, s->name);
	outf(&o, "</b> ");
	form(&o, s, "inline", PREFIX "/logout");
	outf(&o, "<button>Log out</button></form> <a href=\"/\">public status page</a></div>"
	         "</header><main>");
	if (note != NULL)
		outf(&o, "<p class=\"flash%s\" role=\"status\">%s</p>", err ? " err" : "", note);
	outf(&o, "<section id=\"open\"><h2>Open incidents (%zu)</h2>", l.n_open);
	if (l.n_open == 0)
		outf(&o, "<p>None.</p>");
	if (l.open.b != NULL && evbuffer_add_buffer(o.b, l.open.b) < 0)
		o.rc = -1;
	outf(&o, "</section>");
	write_backends(&o, s);
	outf(&o, "<section id=\"resolved\"><h2>Recently resolved</h2>");
	if (l.n_resolved == 0)
		outf(&o, "<p>None.</p>");
	if (l.resolved.b != NULL && evbuffer_add_buffer(o.b, l.resolved.b) < 0)
		o.rc = -1;
	outf(&o, "</section></main></body></html>\n");
	if (l.open.b == NULL || l.resolved.b == NULL || l.open.rc < 0 || l.resolved.rc < 0)
		o.rc = -1;
	if (l.open.b != NULL)
		evbuffer_free(l.open.b);
	if (l.resolved.b != NULL)
		evbuffer_free(l.resolved.b);
	if (o.rc < 0) {
		log_warn("ops console: out of memory");
		reply_plain(req, 500, "out of memory\n");
		return;
	}
	add_headers(req, HTML_CT);
	evhttp_send_reply(req, 200, NULL, NULL);
}

/* ---- sessions ----------------------------------------------------------------------------- */

/* The value of cookie NAME in REQ's Cookie headers into OUT, or false. */
static bool cookie_of(struct evhttp_request *req, char *out, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	const size_t nlen = strlen(COOKIE);

	TAILQ_FOREACH(kv, h, next)
	{
		const char *p = kv->value;

		if (strcasecmp(kv->key, "Cookie") != 0)
			continue;
		while (*p != '\0') {
			size_t n;

			p += strspn(p, " \t;");
			n = strcspn(p, ";");
			if (n > nlen && strncmp(p, COOKIE "=", nlen + 1) == 0 &&
			    n - nlen - 1 < len) {
				memcpy(out, p + nlen + 1, n - nlen - 1);
				out[n - nlen - 1] = '\0';
				return true;
			}
			p += n;
		}
	}
	return false;
}

static struct login *session_of(struct evhttp_request *req)
{
	char v[LOGIN_HEX_LEN + 2];

	if (admin_token_epoch() != epoch_seen) { /* the token changed: every login ends */
		for (size_t i = 0; i < LOGIN_MAX; i++)
			login_end(&logins, &logins.s[i]);
		epoch_seen = admin_token_epoch();
	}
	if (!cookie_of(req, v, sizeof(v)))
		return NULL;
	return login_find(&logins, v, clock_now());
}

static void set_cookie(struct evhttp_request *req, const struct login *s)
{
	char v[LOGIN_HEX_LEN + 1], h[256];
	uint64_t ttl = registry.conf->status.console_session_ttl;

	if (s != NULL)
		login_hex(s->id, LOGIN_ID_LEN, v);
	snprintf(h, sizeof(h),
	         COOKIE "=%s; Path=" PREFIX "/; Max-Age=%llu; HttpOnly; "
	                "SameSite=Strict%s",
	         s != NULL ? v : "", s != NULL ? (unsigned long long)(ttl + 999) / 1000 : 0ULL,
	         secure_cookie() ? "; Secure" : "");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", h);
	OPENSSL_cleanse(v, sizeof(v));
	OPENSSL_cleanse(h, sizeof(h));
}

/* ---- forms -------------------------------------------------------------------------------- */

/* REQ's urlencoded body into KV (the caller clears it); false: not such a form. */
static bool form_fields(struct evhttp_request *req, struct evkeyvalq *kv)
{
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char *body;
	int rc;

	TAILQ_INIT(kv);
	if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
	    (ct[33] != '\0' && ct[33] != ';'))
		return false;
	body = malloc(n + 1);
	if (body == NULL)
		return false;
	evbuffer_copyout(in, body, n);
	body[n] = '\0';
	rc = strlen(body) == n ? evhttp_parse_query_str(body, kv) : -1;
	OPENSSL_cleanse(body, n);
	free(body);
	return rc == 0;
}

/* Whether the post comes from our own pages: its Origin (refused: 403, counted). */
static bool same_origin(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);

	if (login_origin_ok(evhttp_find_header(h, "Origin"), evhttp_find_header(h, "Host"),
	                    registry.conf->status.public_url))
		return true;
	C.origin++;
	log_warn("ops console: a form from another origin was refused");
	reply_plain(req, 403, "refused: this form comes from another site\n");
	return false;
}

static void do_login(struct evhttp_request *req)
{
	unsigned char rnd[LOGIN_RND_LEN];
	char who[LOGIN_WHO_MAX];
	struct evkeyvalq kv;
	const char *name;
	struct login *s;
	uint64_t now = clock_now();

	if (!same_origin(req))
		return;
	if (now - C.fail_start >= FAIL_WINDOW) {
		C.fail_start = now;
		C.fails = 0;
	}
	if (C.fails >= FAIL_MAX) {
		C.throttled++;
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "60");
		login_page(req, 429, "Too many failed logins: wait a minute.");
		return;
	}
	if (!form_fields(req, &kv) || !admin_token_ok(evhttp_find_header(&kv, "token"))) {
		evhttp_clear_headers(&kv);
		C.wrong++;
		C.fails++;
		log_warn("ops console: a login with a wrong token was refused");
		login_page(req, 401, "Wrong token.");
		return;
	}
	name = evhttp_find_header(&kv, "name");
	if (name == NULL || name[0] == '\0' || strlen(name) >= LOGIN_WHO_MAX)
		name = "ops";
	snprintf(who, sizeof(who), "%s", name);
	for (char *p = who; *p != '\0'; p++) /* it goes into the log and the timeline */
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		evhttp_clear_headers(&kv);
		log_error("ops console: no random bytes for a session");
		reply_plain(req, 500, "no random bytes\n");
		return;
	}
	s = login_new(&logins, rnd, who, now, registry.conf->status.console_session_ttl);
	OPENSSL_cleanse(rnd, sizeof(rnd));
	C.ok++;
	log_info("ops console: %s logged in", s->name);
	evhttp_clear_headers(&kv);
	set_cookie(req, s);
	see_other(req, PREFIX "/");
}

/* An action done: the redirect waits until the store has it on disk. */
struct done {
	struct evhttp_request *req;
	char location[96];
};

static void done_stored(int rc, void *arg)
{
	struct done *d = arg;

	if (rc == 0)
		see_other(d->req, d->location);
	else
		reply_plain(
		    d->req, 500,
		    "applied, but not written to state_dir (see the log): it may not survive "
		    "a restart\n");
	free(d);
}

/* Answers REQ with a redirect to the console, message NOTE, anchor #inc-ID (0: none); once
 * on disk when STORED. */
static void back(struct evhttp_request *req, const char *note, int64_t id, bool stored)
{
	struct done *d = calloc(1, sizeof(*d));
	char loc[96];

	snprintf(loc, sizeof(loc), PREFIX "/?m=%s", note);
	if (id > 0)
		snprintf(loc + strlen(loc), sizeof(loc) - strlen(loc), "#inc-%lld", (long long)id);
	if (!stored || d == NULL) {
		free(d);
		see_other(req, loc);
		return;
	}
	C.actions++;
	d->req = req;
	snprintf(d->location, sizeof(d->location), "%s", loc);
	store_barrier(done_stored, d);
}

/* FIELD of KV: required (non-empty) and at most MAX bytes; NULL with *NOTE set otherwise. */
static const char *field(struct evkeyvalq *kv, const char *name, size_t max, bool required,
                         const char **note)
{
	const char *v = evhttp_find_header(kv, name);

	if (v == NULL || (required && v[0] == '\0')) {
		if (required && *note == NULL)
			*note = v == NULL ? "bad" : "empty";
		return required ? NULL : "";
	}
	if (strlen(v) > max) {
		if (*note == NULL)
			*note = "long";
		return NULL;
	}
	return v;
}

typedef void (*incident_action)(struct evhttp_request *req, const struct login *s, int64_t id,
                                struct evkeyvalq *kv);

static void act_ack(struct evhttp_request *req, const struct login *s, int64_t id,
                    struct evkeyvalq *kv)
{
	(void)kv;
	switch (admin_ack(id, s->name, VIA)) {
	case 0:
		back(req, "ack", id, true);
		break;
	case -2:
		back(req, "resolved", id, false);
		break;
	case -3:
		back(req, "acked", id, false);
		break;
	default:
		back(req, "gone", 0, false);
	}
}

/* An update (public) of status ST, or the resolve (as POST /api/incidents/ID/updates). */
static void post_update(struct evhttp_request *req, int64_t id, enum update_status st,
                        const char *msg, const char *note)
{
	struct incident_entry e;

	if (st == UPD_RESOLVED && incident_get(id)->resolved != 0) { /* a second click */
		back(req, "resolved", id, false);
		return;
	}
	if (incident_update(id, st, msg, 0, 0, clock_wall(), &e) < 0) {
		back(req, "gone", 0, false);
		return;
	}
	back(req, note, id, true);
}

static void act_update(struct evhttp_request *req, const struct login *s, int64_t id,
                       struct evkeyvalq *kv)
{
	const char *note = NULL, *st = field(kv, "status", 32, true, &note),
	           *msg = field(kv, "message", INCIDENT_TEXT_MAX - 1, true, &note);
	int u = -1;

	(void)s;
	for (int i = 0; st != NULL && i < UPD_RESOLVED; i++)
		if (strcmp(update_status_names[i], st) == 0)
			u = i;
	if (note != NULL || u < 0) {
		back(req, note != NULL ? note : "bad", id, false);
		return;
	}
	post_update(req, id, (enum update_status)u, msg, "update");
}

static void act_resolve(struct evhttp_request *req, const struct login *s, int64_t id,
                        struct evkeyvalq *kv)
{
	const char *note = NULL, *msg = field(kv, "message", INCIDENT_TEXT_MAX - 1, false, &note);

	(void)s;
	if (note != NULL) {
		back(req, note, id, false);
		return;
	}
	post_update(req, id, UPD_RESOLVED, msg[0] != '\0' ? msg : "Resolved.", "resolve");
}

static void act_note(struct evhttp_request *req, const struct login *s, int64_t id,
                     struct evkeyvalq *kv)
{
	const char *note = NULL, *text = field(kv, "text", INCIDENT_TEXT_MAX / 2, true, &note);

	if (note != NULL) {
		back(req, note, id, false);
		return;
	}
	if (incident_add_note(id, s->name, text, clock_wall()) < 0) {
		back(req, "gone", 0, false);
		return;
	}
	back(req, "note", id, true);
}

static void act_roles(struct evhttp_request *req, const struct login *s, int64_t id,
                      struct evkeyvalq *kv)
{
	const char *note = NULL, *names[ROLE_COUNT];
	bool changed = false;

	(void)s;
	for (int r = 0; r < ROLE_COUNT; r++)
		names[r] = field(kv, incident_role_names[r], INCIDENT_NAME_MAX - 1, false, &note);
	if (note != NULL) {
		back(req, note, id, false);
		return;
	}
	for (int r = 0; r < ROLE_COUNT; r++) {
		int rc;

		if (evhttp_find_header(kv, incident_role_names[r]) == NULL)
			continue; /* a role the form did not name stays as it is */
		rc = incident_set_role(id, (enum incident_role)r, names[r], clock_wall());
		if (rc < 0) {
			back(req, "gone", 0, false);
			return;
		}
		changed = changed || rc == 0;
	}
	back(req, changed ? "roles" : "unchanged", id, changed);
}

static void act_priority(struct evhttp_request *req, const struct login *s, int64_t id,
                         struct evkeyvalq *kv)
{
	const char *note = NULL, *prio = field(kv, "priority", 8, true, &note),
	           *reason = field(kv, "reason", INCIDENT_TEXT_MAX / 2, true, &note);
	int p = -1;

	for (int i = 0; prio != NULL && i < PRIO_COUNT; i++)
		if (strcmp(priority_names[i], prio) == 0)
			p = i;
	if (note != NULL || p < 0) {
		back(req, note != NULL ? note : "bad", id, false);
		return;
	}
	if (incident_set_priority(id, p, s->name, reason, clock_wall()) < 0) {
		back(req, "gone", 0, false);
		return;
	}
	back(req, "priority", id, true);
}

/* Ops confirm or change the expected recovery ("" clears it), as POST .../expected. */
static void act_expected(struct evhttp_request *req, const struct login *s, int64_t id,
                         struct evkeyvalq *kv)
{
	const char *note = NULL, *at = field(kv, "at", 64, false, &note);
	int64_t ms = 0;

	if (note == NULL && at[0] != '\0' && (admin_parse_time(at, &ms) < 0 || ms <= 0))
		note = "time";
	if (note != NULL) {
		back(req, note, id, false);
		return;
	}
	if (incident_set_expected(id, ms, s->name, clock_wall()) < 0) {
		back(req, "gone", 0, false);
		return;
	}
	back(req, "expected", id, true);
}

static const struct {
	const char *name;
	incident_action fn;
} incident_actions[] = {
    {"ack", act_ack},           {"update", act_update},     {"note", act_note},
    {"roles", act_roles},       {"priority", act_priority}, {"resolve", act_resolve},
    {"expected", act_expected},
};

/* POST /ops/backends/drain|maint|ready with backend=NAME */
static void act_backend(struct evhttp_request *req, const struct login *s, const char *act,
                        struct evkeyvalq *kv)
{
	struct backend *b = admin_backend(evhttp_find_header(kv, "backend"));
	char why[LOGIN_WHO_MAX + 32];
	bool changed;
	int a = -1;

	for (int i = 0; i < ADMIN_COUNT; i++)
		if (strcmp(backend_actions[i], act) == 0)
			a = i;
	if (a < 0 || b == NULL) {
		back(req, a < 0 ? "bad" : "gone", 0, false);
		return;
	}
	snprintf(why, sizeof(why), VIA " (%s)", s->name);
	if (admin_backend_state(b, (enum admin_state)a, why, &changed) < 0) {
		reply_plain(req, 500, "out of memory\n");
		return;
	}
	back(req, changed ? backend_actions[a] : "unchanged", 0, true);
}

/* "/incidents/ID/ACTION": ID and ACTION's index, or false. */
static bool incident_target(const char *p, int64_t *id, size_t *which)
{
	char *end;
	long long v;

	if (strncmp(p, "/incidents/", 11) != 0 || p[11] < '1' || p[11] > '9')
		return false;
	v = strtoll(p + 11, &end, 10);
	if (v <= 0 || *end != '/')
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(incident_actions); i++)
		if (strcmp(end + 1, incident_actions[i].name) == 0) {
			*id = v;
			*which = i;
			return true;
		}
	return false;
}

/* Every POST but the login: a session, the same origin and its CSRF token, then the action. */
static void do_post(struct evhttp_request *req, struct login *s, const char *rest)
{
	struct evkeyvalq kv;
	size_t which;
	int64_t id;

	if (s == NULL) {
		C.no_session++;
		reply_plain(req, 401, "log in first (" PREFIX "/login)\n");
		return;
	}
	if (!same_origin(req))
		return;
	if (!form_fields(req, &kv)) {
		evhttp_clear_headers(&kv);
		C.type++;
		reply_plain(req, 415, "expected a form (application/x-www-form-urlencoded)\n");
		return;
	}
	if (!login_csrf_ok(s, evhttp_find_header(&kv, "csrf"))) {
		evhttp_clear_headers(&kv);
		C.csrf++;
		log_warn("ops console: a form without its CSRF token was refused (session of %s)",
		         s->name);
		reply_plain(req, 403, "refused: the form's CSRF token is missing or wrong\n");
		return;
	}
	if (strcmp(rest, "/logout") == 0) {
		log_info("ops console: %s logged out", s->name);
		login_end(&logins, s);
		set_cookie(req, NULL);
		see_other(req, PREFIX "/login");
	} else if (strncmp(rest, "/backends/", 10) == 0) {
		act_backend(req, s, rest + 10, &kv);
	} else if (incident_target(rest, &id, &which)) {
		if (incident_get(id) == NULL)
			back(req, "gone", 0, false);
		else
			incident_actions[which].fn(req, s, id, &kv);
	} else {
		reply_plain(req, 404, "not found\n");
	}
	evhttp_clear_headers(&kv);
}

/* "/incidents/ID/postmortem": ID, or false. */
static bool postmortem_target(const char *p, int64_t *id)
{
	char *end;
	long long v;

	if (strncmp(p, "/incidents/", 11) != 0 || p[11] < '1' || p[11] > '9')
		return false;
	v = strtoll(p + 11, &end, 10);
	*id = v;
	return v > 0 && strcmp(end, "/postmortem") == 0;
}

/* The draft as the admin API gives it, as text the browser shows. */
static void postmortem_page(struct evhttp_request *req, int64_t id)
{
	const struct incident *inc = incident_get(id);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	if (inc == NULL) {
		reply_plain(req, 404, "no such incident\n");
		return;
	}
	if (admin_postmortem(inc, out) < 0) {
		reply_plain(req, 500, "out of memory\n");
		return;
	}
	add_headers(req, "text/plain; charset=utf-8");
	evhttp_send_reply(req, 200, NULL, NULL);
}

static void console_route(struct evhttp_request *req, const char *path, void *arg)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	bool get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD;
	const char *rest = path + strlen(PREFIX);
	struct login *s;
	int64_t id;

	(void)arg;
	if (!console_on()) { /* switched off (or the token went): no session outlives it */
		for (size_t i = 0; i < LOGIN_MAX; i++)
			login_end(&logins, &logins.s[i]);
		reply_plain(req, 404, "not found\n");
		return;
	}
	s = session_of(req);
	if (!get && m != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
		                  "GET, HEAD, POST");
		reply_plain(req, 405, "method not allowed\n");
	} else if (strcmp(rest, "/login") == 0) {
		if (!get)
			do_login(req);
		else if (s != NULL)
			see_other(req, PREFIX "/");
		else
			login_page(req, 200, NULL);
	} else if (!get) {
		do_post(req, s, rest);
	} else if (s == NULL) {
		see_other(req, PREFIX "/login");
	} else if (strcmp(rest, "/") == 0) {
		console_page(req, s);
	} else if (postmortem_target(rest, &id)) {
		postmortem_page(req, id);
	} else if (rest[0] == '\0') {
		see_other(req, PREFIX "/");
	} else {
		reply_plain(req, 404, "not found\n");
	}
}

/* ---- /metrics ------------------------------------------------------------------------------ */

static void console_metrics(struct metrics_out *o)
{
	static const char s_live[] = "nodegate_console_sessions",
	                  s_end[] = "nodegate_console_sessions_ended_total",
	                  s_log[] = "nodegate_console_logins_total",
	                  s_ref[] = "nodegate_console_refused_total",
	                  s_act[] = "nodegate_console_actions_total";

	metrics_outf(
	    o, "# HELP %s ops console sessions logged in (at most %d)\n# TYPE %s gauge\n%s %zu\n",
	    s_live, LOGIN_MAX, s_live, s_live, login_live(&logins, clock_now()));
	metrics_outf(o, "# HELP %s ops console sessions ended, by why\n# TYPE %s counter\n", s_end,
	             s_end);
	metrics_outf(o,
	             "%s{reason=\"expired\"} %llu\n%s{reason=\"evicted\"} %llu\n"
	             "%s{reason=\"logout\"} %llu\n",
	             s_end, (unsigned long long)logins.expired, s_end,
	             (unsigned long long)logins.evicted, s_end, (unsigned long long)logins.ended);
	metrics_outf(o, "# HELP %s ops console logins, by result\n# TYPE %s counter\n", s_log,
	             s_log);
	metrics_outf(o,
	             "%s{result=\"ok\"} %llu\n%s{result=\"wrong_token\"} %llu\n"
	             "%s{result=\"throttled\"} %llu\n",
	             s_log, (unsigned long long)C.ok, s_log, (unsigned long long)C.wrong, s_log,
	             (unsigned long long)C.throttled);
	metrics_outf(o, "# HELP %s ops console posts refused, by why\n# TYPE %s counter\n", s_ref,
	             s_ref);
	metrics_outf(o,
	             "%s{reason=\"no_session\"} %llu\n%s{reason=\"csrf\"} %llu\n"
	             "%s{reason=\"origin\"} %llu\n%s{reason=\"not_a_form\"} %llu\n",
	             s_ref, (unsigned long long)C.no_session, s_ref, (unsigned long long)C.csrf,
	             s_ref, (unsigned long long)C.origin, s_ref, (unsigned long long)C.type);
	metrics_outf(o,
	             "# HELP %s changes made through the ops console\n# TYPE %s counter\n%s %llu\n",
	             s_act, s_act, s_act, (unsigned long long)C.actions);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

int console_init(void)
{
	page_csp_hash(css, css_hash);
	epoch_seen = admin_token_epoch();
	if (status_route(PREFIX, console_route, NULL) < 0 || status_metrics(console_metrics) < 0)
		return -1;
	return 0;
}

void console_deinit(void)
{
	for (size_t i = 0; i < LOGIN_MAX; i++)
		login_end(&logins, &logins.s[i]);
	memset(&logins, 0, sizeof(logins));
	memset(&C, 0, sizeof(C));
}
