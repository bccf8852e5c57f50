/* The admin API: ops drain, maintain, readmit and weigh backends, and open, update and
 * resolve incidents, over HTTP on the status listener with a bearer token. A change applies
 * at once; its answer waits until the store has it on disk (store_barrier), so that an
 * acknowledged change survives a kill -9. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "util.h"
#include "clock.h"
#include "ops/acklink.h"
#include "ops/admin.h"
#include "ops/escalate.h"
#include "proxy/http.h"
#include "bus.h"
#include "ops/incident.h"
#include "ops/postmortem.h"
#include "ops/redact.h"
#include "health/monitor.h"
#include "health/poolstat.h"
#include "registry.h"
#include "proxy/session.h"
#include "stats.h"
#include "ops/status.h"
#include "ops/store.h"

#define JSON_CT       "application/json"
#define TOKEN_LINE    4096 /* bytes of the token file's first line */
#define DIGEST_LEN    32   /* SHA-256 */
#define LIMIT_DEFAULT 100  /* incidents in GET /api/incidents without ?limit */
#define LIMIT_MAX     100000
#define WEIGHT_MAX    256 /* as conf's [backend] weight */
#define ERR_MAX       256
#define REASON        "admin API" /* why, in the log and the timeline */

/* ---- replies ------------------------------------------------------------------------------- */

static int dump_cb(const char *buf, size_t size, void *data)
{
	return evbuffer_add(data, buf, size);
}

/* Sends J (taken) as the body; a J that cannot be written (NULL: out of memory) is a 500. */
static void reply_json(struct evhttp_request *req, int code, json_t *j)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evbuffer_drain(out, evbuffer_get_length(out));
	if (j == NULL || json_dump_callback(j, dump_cb, out, JSON_COMPACT) < 0 ||
	    evbuffer_add(out, "\n", 1) < 0) {
		log_warn("admin: %s: out of memory", evhttp_request_get_uri(req));
		evbuffer_drain(out, evbuffer_get_length(out));
		evbuffer_add_printf(out, "{\"error\":\"out of memory\"}\n");
		code = 500;
	}
	json_decref(j);
	evhttp_add_header(h, "Content-Type", JSON_CT);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, code, http_status_text(code), NULL);
}

/* A refusal, {"error": "..."}, counted: every refusal shows in /metrics. */
static void refuse(struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(struct evhttp_request *req, int code, const char *fmt, ...)
{
	char msg[ERR_MAX + 128];
	va_list ap;

	switch (code) {
	case 400:
		STAT_INC(admin_bad_request);
		break;
	case 401:
		STAT_INC(admin_unauthorized);
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		                  "Bearer realm=\"nodegate\"");
		break;
	case 403:
		STAT_INC(admin_disabled);
		break;
	case 404:
		STAT_INC(admin_not_found);
		break;
	case 405:
		STAT_INC(admin_bad_method);
		break;
	case 409:
		STAT_INC(admin_conflict);
		break;
	default:
		break;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_json(req, code, json_pack("{s:s}", "error", msg));
}

static void bad_method(struct evhttp_request *req, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
	refuse(req, 405, "method not allowed (expected %s)", allow);
}

/* An answer that waits for the store: sent once what the action queued is on disk. */
struct waiting {
	struct evhttp_request *req; /* evhttp keeps it until it is answered, client gone or not */
	int code;
	json_t *body;
};

static void answer_when_stored(int rc, void *arg)
{
	struct waiting *w = arg;

	if (rc == 0) {
		reply_json(w->req, w->code, w->body);
	} else {
		json_decref(w->body);
		log_error("admin: %s: applied, but not written to the store",
		          evhttp_request_get_uri(w->req));
		reply_json(w->req, 500,
		           json_pack("{s:s}", "error",
		                     "applied, but not written to state_dir (see the log): it may "
		                     "not survive a restart"));
	}
	free(w);
}

static void answer_stored(struct evhttp_request *req, int code, json_t *body)
{
	struct waiting *w = malloc(sizeof(*w));

	STAT_INC(admin_actions);
	if (w == NULL) {
		reply_json(req, 500, NULL);
		json_decref(body);
		return;
	}
	*w = (struct waiting){req, code, body};
	store_barrier(answer_when_stored, w);
}

/* ---- the token ------------------------------------------------------------------------------ */

static struct {
	bool set;
	unsigned char digest[DIGEST_LEN]; /* of the token: compared in constant time */
	unsigned epoch;                   /* bumped when the token changes (console sessions end) */
} token;

static void sha256(const char *s, size_t len, unsigned char *out)
{
	unsigned int n = DIGEST_LEN;

	if (EVP_Digest(s, len, out, &n, EVP_sha256(), NULL) != 1)
		memset(out, 0, DIGEST_LEN); /* never matches: see token.set */
}

static size_t trim(const char *s, const char **start)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strcspn(s, "\r\n");
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	*start = s;
	return n;
}

static void token_read(const char *path);

/* The first line of [status] admin_token_file, trimmed; none: the admin API is off. */
static void token_load(void)
{
	const char *path = registry.conf != NULL && registry.conf->status.enabled
	                       ? registry.conf->status.admin_token_file
	                       : NULL;
	unsigned char was[DIGEST_LEN];
	bool had = token.set;

	memcpy(was, token.digest, DIGEST_LEN);
	token_read(path);
	if (had != token.set || (had && CRYPTO_memcmp(was, token.digest, DIGEST_LEN) != 0))
		token.epoch++;
	explicit_bzero(was, sizeof(was));
}

unsigned admin_token_epoch(void)
{
	return token.epoch;
}

/* Reads PATH's first line into token (token.set false when there is none). */
static void token_read(const char *path)
{
	char buf[TOKEN_LINE] = "";
	const char *t;
	size_t n;
	FILE *f;

	token.set = false;
	if (path == NULL)
		return;
	f = fopen(path, "re");
	if (f == NULL) {
		log_error("admin: %s: %s: the admin API is off", path, strerror(errno));
		return;
	}
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	n = trim(buf, &t);
	if (n == 0) {
		log_error("admin: %s: the first line is empty: the admin API is off", path);
		return;
	}
	sha256(t, n, token.digest);
	explicit_bzero(buf, sizeof(buf));
	token.set = true;
}

bool admin_token_set(void)
{
	return token.set;
}

bool admin_token_ok(const char *t)
{
	unsigned char d[DIGEST_LEN];
	const char *s;
	size_t n;
	bool ok;

	if (!token.set || t == NULL)
		return false;
	n = trim(t, &s);
	sha256(s, n, d);
	ok = CRYPTO_memcmp(d, token.digest, DIGEST_LEN) == 0;
	explicit_bzero(d, sizeof(d));
	return ok;
}

/* Whether REQ carries the token; if not, it is answered (403, 401) and counted. */
static bool authorized(struct evhttp_request *req)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");

	if (!token.set) {
		refuse(req, 403, "admin API disabled (no admin_token_file)");
		return false;
	}
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
		refuse(req, 401, "a bearer token is required (Authorization: Bearer TOKEN)");
		return false;
	}
	if (!admin_token_ok(h + 7)) {
		refuse(req, 401, "wrong token");
		return false;
	}
	return true;
}

bool admin_authorized(struct evhttp_request *req)
{
	return authorized(req);
}

/* A GET with no Authorization is public; one with it must carry the token (else answered
 * 401 and counted, as any admin request). Sets *FULL for ops. */
static bool reader(struct evhttp_request *req, bool *full)
{
	*full = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization") != NULL;
	return !*full || authorized(req);
}

bool admin_is_ops(struct evhttp_request *req)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	unsigned char d[DIGEST_LEN];
	const char *t;
	size_t n;

	if (!token.set || h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	n = trim(h + 7, &t);
	sha256(t, n, d);
	return CRYPTO_memcmp(d, token.digest, DIGEST_LEN) == 0;
}

/* ---- request bodies ------------------------------------------------------------------------ */

/* The body as a JSON object; an empty body is {} unless REQUIRED. NULL: ERR says why. */
static json_t *body_object(struct evhttp_request *req, bool required, char *err, size_t len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	json_error_t je;
	json_t *j;

	if (n == 0) {
		if (required)
			snprintf(err, len, "a JSON object is required");
		return required ? NULL : json_object();
	}
	j = json_loadb((const char *)evbuffer_pullup(in, -1), n, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		snprintf(err, len, "bad JSON: %s (line %d, column %d)", je.text, je.line,
		         je.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		snprintf(err, len, "a JSON object is required");
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Refuses fields other than ALLOWED (NULL-terminated): a typo must not pass silently. */
static int only_fields(json_t *o, const char *const *allowed, char *err, size_t len)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v)
	{
		size_t i = 0;

		while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
			i++;
		if (allowed[i] == NULL) {
			snprintf(err, len, "unknown field \"%.64s\"", key);
			return -1;
		}
	}
	return 0;
}

/* O[KEY] as a string of at most MAX bytes: absent or null gives NULL (an error if
 * REQUIRED), as does an empty string when REQUIRED. */
static int get_string(json_t *o, const char *key, bool required, size_t max, const char **out,
                      char *err, size_t len)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			snprintf(err, len, "\"%s\" is required", key);
		return required ? -1 : 0;
	}
	if (!json_is_string(v)) {
		snprintf(err, len, "\"%s\" must be a string", key);
		return -1;
	}
	if (json_string_length(v) > max || (required && json_string_length(v) == 0)) {
		snprintf(err, len, "\"%s\" must be 1 to %zu bytes", key, max);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int admin_parse_time(const char *s, int64_t *ms)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t frac = 0, scale = 100, off = 0;
	time_t t;

	if (p == NULL)
		return -1;
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return -1;
		for (; isdigit((unsigned char)*p); p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
	           isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
	           isdigit((unsigned char)p[5])) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 60 + (p[4] - '0') * 10 + (p[5] - '0');
		off *= *p == '-' ? -60000 : 60000;
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0' || (t = timegm(&tm)) == (time_t)-1)
		return -1;
	*ms = (int64_t)t * 1000 + frac - off;
	return 0;
}

/* O[KEY] as an ISO 8601 time in Unix ms; absent or null: 0. */
static int get_time(json_t *o, const char *key, int64_t *out, char *err, size_t len)
{
	const char *s;

	*out = 0;
	if (get_string(o, key, false, 64, &s, err, len) < 0)
		return -1;
	if (s != NULL && (admin_parse_time(s, out) < 0 || *out <= 0)) {
		snprintf(err, len, "\"%s\": \"%s\" is not a time like 2026-11-21T12:00:00Z", key,
		         s);
		return -1;
	}
	return 0;
}

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s != NULL && i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

/* ---- backends ------------------------------------------------------------------------------- */

/* An admin state or weight override set through the API, kept by backend name. */
struct saved {
	char name[80];
	enum admin_state a;
	int weight; /* STORE_NO_WEIGHT: the configured one */
};

static struct saved *saved;
static size_t n_saved;

static struct saved *saved_of(const char *name, bool create)
{
	struct saved *v;

	for (size_t i = 0; i < n_saved; i++)
		if (strcmp(saved[i].name, name) == 0)
			return &saved[i];
	if (!create || strlen(name) >= sizeof(saved->name))
		return NULL;
	v = realloc(saved, (n_saved + 1) * sizeof(*v));
	if (v == NULL)
		return NULL;
	saved = v;
	v = &saved[n_saved++];
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->a = ADMIN_NONE;
	v->weight = STORE_NO_WEIGHT;
	return v;
}

static void load_saved(const char *backend, enum admin_state a, int weight, int64_t at, void *arg)
{
	struct saved *s = saved_of(backend, true);

	if (s == NULL)
		return;
	s->a = a;
	s->weight = weight >= 0 && weight <= WEIGHT_MAX ? weight : STORE_NO_WEIGHT;
}

static struct backend *backend_named(const char *name, size_t len);

struct backend *admin_backend(const char *name)
{
	return name != NULL ? backend_named(name, strlen(name)) : NULL;
}

static struct backend *backend_named(const char *name, size_t len)
{
	for (size_t i = 0; i < registry.n_backends; i++) {
		struct backend *b = registry.backends[i];

		if (!b->removed && strlen(b->name) == len && memcmp(b->name, name, len) == 0)
			return b;
	}
	return NULL;
}

/* Moves B to admin state A (a request to the monitor, which publishes it); false when B was
 * in A already. */
static bool set_state(struct backend *b, enum admin_state a, const char *why)
{
	return monitor_set_admin(b, a, why);
}

/* Gives B weight W (STORE_NO_WEIGHT: the configured one); false when it had it already. */
static bool set_weight(struct backend *b, int w, const char *why)
{
	/* the monitor publishes it (HE_WEIGHT): the incident's timeline takes the line and the
	 * pool is judged again, as weight 0 takes it out of rotation (and, through the routing
	 * snapshot, closes its WebSocket sessions as a drain does) */
	return monitor_set_weight(b, w == STORE_NO_WEIGHT ? -1 : w, why);
}

int admin_backend_state(struct backend *b, enum admin_state a, const char *why, bool *changed)
{
	struct saved *s = saved_of(b->name, true);

	if (s == NULL)
		return -1;
	*changed = set_state(b, a, why);
	s->a = a;
	store_put_admin(b->name, s->a, s->weight, clock_wall());
	return 0;
}

int admin_backend_weight(struct backend *b, int w, const char *why, bool *changed)
{
	struct saved *s = saved_of(b->name, true);

	if (s == NULL)
		return -1;
	*changed = set_weight(b, w, why);
	s->weight = w;
	store_put_admin(b->name, s->a, s->weight, clock_wall());
	return 0;
}

int admin_remote(const char *name, enum admin_state a, int weight, const char *from)
{
	struct backend *b = backend_named(name, strlen(name));
	struct saved *s = saved_of(name, true);
	char why[128];

	if (s == NULL || a >= ADMIN_COUNT)
		return -1;
	s->a = a;
	s->weight = weight >= 0 && weight <= WEIGHT_MAX ? weight : STORE_NO_WEIGHT;
	if (b == NULL)
		return 0; /* not one of ours: kept for a reload that adds it */
	snprintf(why, sizeof(why), "set on instance %s", from);
	set_state(b, a, why);
	set_weight(b, s->weight, why);
	incident_poke();
	return 0;
}

void admin_apply(void)
{
	token_load();
	store_set_test_delay(registry.conf->global.store_test_delay);
	for (size_t i = 0; i < registry.n_backends; i++) {
		struct backend *b = registry.backends[i];
		const struct saved *s = saved_of(b->name, false);

		if (s == NULL || b->removed)
			continue;
		if (b->node->health.admin != s->a)
			set_state(b, s->a, "restored from state_dir");
		/* a reload gives back the configured weight: the override wins */
		if (s->weight != STORE_NO_WEIGHT)
			set_weight(b, s->weight, "restored from state_dir");
	}
	incident_poke();
}

static json_t *backend_json(const struct backend *b, bool changed)
{
	const struct saved *s = saved_of(b->name, false);
	int w = s != NULL ? s->weight : STORE_NO_WEIGHT;

	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:o, s:b}", "backend", b->name, "pool",
	                 b->conf.pool, "admin", admin_state_names[b->node->health.admin], "state",
	                 health_state_names[b->node->health.state], "routable", b->node->routable,
	                 "weight", (json_int_t)b->node->weight, "weight_override",
	                 w == STORE_NO_WEIGHT ? json_null() : json_integer(w), "changed", changed);
}

/* {"weight": N} (0..256) or {"weight": null} (back to the configured weight). */
static int parse_weight(json_t *body, int *w, char *err, size_t len)
{
	static const char *const fields[] = {"weight", NULL};
	json_t *v = json_object_get(body, "weight");

	if (only_fields(body, fields, err, len) < 0)
		return -1;
	if (v != NULL && json_is_null(v)) {
		*w = STORE_NO_WEIGHT;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > WEIGHT_MAX) {
		snprintf(err, len, "\"weight\" must be an integer from 0 to %d (or null)",
		         WEIGHT_MAX);
		return -1;
	}
	*w = (int)json_integer_value(v);
	return 0;
}

static const struct {
	const char *name;
	int admin; /* enum admin_state, or -1: the weight */
	const char *usage;
} actions[] = {
    {"drain", ADMIN_DRAIN, "no new requests; open ones finish"},
    {"maint", ADMIN_MAINT, "out of rotation, probes go on"},
    {"ready", ADMIN_NONE, "back to no admin state"},
    {"weight", -1, "{\"weight\": 0..256} or {\"weight\": null} for the configured one"},
};

/* GET /api/backends (ops only): every backend with the health engine's verdict and reason,
 * which the public never sees. */
static void list_backends(struct evhttp_request *req)
{
	json_t *arr = json_array();

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		json_decref(arr);
		bad_method(req, "GET");
		return;
	}
	if (!authorized(req)) {
		json_decref(arr);
		return;
	}
	for (size_t i = 0; arr != NULL && i < registry.n_backends; i++) {
		const struct backend *b = registry.backends[i];
		json_t *j = b->removed ? NULL : backend_json(b, false);

		if (j == NULL)
			continue;
		json_object_del(j, "changed");
		json_object_set_new(j, "verdict",
		                    json_string(verdict_names[b->node->health.last_verdict < V_COUNT
		                                                  ? b->node->health.last_verdict
		                                                  : 0]));
		json_object_set_new(j, "reason", redact_json_text(b->node->health.reason));
		json_object_set_new(j, "maintenance",
		                    json_boolean(incident_maint_running(b->name)));
		json_array_append_new(arr, j);
	}
	reply_json(req, 200, arr != NULL ? json_pack("{s:o}", "backends", arr) : NULL);
}

/* POST /api/backends/NAME/ACTION */
static void backends_route(struct evhttp_request *req, const char *path, void *arg)
{
	const char *name = path + strlen("/api/backends/"), *act;
	static const char *const fields[] = {"reason", NULL};
	char err[ERR_MAX];
	struct backend *b;
	json_t *body;
	size_t i = 0;
	bool changed;
	int w = 0, rc;

	if (strcmp(path, "/api/backends") == 0) {
		list_backends(req);
		return;
	}
	/* "/api/backends" is one byte shorter than NAME's offset: looked at only after */
	act = strncmp(path, "/api/backends/", 14) == 0 ? strchr(name, '/') : NULL;
	if (act == NULL || act == name) {
		refuse(req, 404, "not found (POST /api/backends/NAME/drain|maint|ready|weight)");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		bad_method(req, "POST");
		return;
	}
	if (!authorized(req))
		return;
	while (i < ARRAY_SIZE(actions) && strcmp(actions[i].name, act + 1) != 0)
		i++;
	if (i == ARRAY_SIZE(actions)) {
		refuse(req, 404, "unknown action \"%.64s\" (drain, maint, ready or weight)",
		       act + 1);
		return;
	}
	b = backend_named(name, (size_t)(act - name));
	if (b == NULL) {
		refuse(req, 404, "unknown backend \"%.*s\"",
		       (int)(act - name > 64 ? 64 : act - name), name);
		return;
	}
	body = body_object(req, actions[i].admin < 0, err, sizeof(err));
	if (body == NULL ||
	    (actions[i].admin < 0 ? parse_weight(body, &w, err, sizeof(err))
	                          : only_fields(body, fields, err, sizeof(err))) < 0) {
		json_decref(body);
		refuse(req, 400, "%s", err);
		return;
	}
	if (actions[i].admin < 0) {
		rc = admin_backend_weight(b, w, REASON, &changed);
	} else {
		const char *why = json_string_value(json_object_get(body, "reason"));

		rc = admin_backend_state(b, (enum admin_state)actions[i].admin,
		                         why != NULL && *why ? why : REASON, &changed);
	}
	json_decref(body);
	if (rc < 0) {
		reply_json(req, 500, NULL);
		return;
	}
	answer_stored(req, 200, backend_json(b, changed));
}

/* ---- incidents ------------------------------------------------------------------------------- */

json_t *admin_incident_json(const struct incident *inc)
{
	json_t *j = incident_json_full(inc);

	if (j != NULL && json_object_set_new(j, "escalation", escalate_json(inc->id)) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static void add_incident(const struct incident *inc, void *arg)
{
	json_array_append_new(arg, incident_json(inc));
}

static void add_incident_full(const struct incident *inc, void *arg)
{
	json_array_append_new(arg, admin_incident_json(inc));
}

/* GET /api/incidents?limit=N */
static void list_incidents(struct evhttp_request *req)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq kv = {0};
	const char *lim = NULL;
	long long limit = LIMIT_DEFAULT;
	json_t *arr;
	char *end;
	bool full;

	if (!reader(req, &full))
		return;
	TAILQ_INIT(&kv);
	if (q != NULL && evhttp_parse_query_str(q, &kv) == 0)
		lim = evhttp_find_header(&kv, "limit");
	if (lim != NULL) {
		errno = 0;
		limit = strtoll(lim, &end, 10);
		if (*lim == '\0' || *end != '\0' || errno != 0 || limit < 0 || limit > LIMIT_MAX) {
			evhttp_clear_headers(&kv);
			refuse(req, 400, "limit must be 0 (all kept) to %d", LIMIT_MAX);
			return;
		}
	}
	evhttp_clear_headers(&kv);
	arr = json_array();
	if (arr != NULL)
		incident_foreach((size_t)limit, full ? add_incident_full : add_incident, arr);
	reply_json(req, 200, arr != NULL ? json_pack("{s:o}", "incidents", arr) : NULL);
}

/* "backends": ["n1", "n2"] of a maintenance, configured (and in POOL when one is given),
 * into OUT as "n1,n2" ("" when absent). */
static int get_backends(json_t *body, const char *pool, char *out, size_t len, char *err,
                        size_t errlen)
{
	json_t *a = json_object_get(body, "backends"), *v;
	size_t i, off = 0;

	out[0] = '\0';
	if (a == NULL || json_is_null(a))
		return 0;
	if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > 32) {
		snprintf(err, errlen, "\"backends\" must be a list of 1 to 32 backend names");
		return -1;
	}
	json_array_foreach(a, i, v)
	{
		const char *n = json_string_value(v);
		struct backend *b = n != NULL ? backend_named(n, strlen(n)) : NULL;

		if (b == NULL) {
			snprintf(err, errlen, "\"backends\": no backend \"%.64s\" is configured",
			         n != NULL ? n : "(not a string)");
			return -1;
		}
		if (pool != NULL && *pool != '\0' && strcmp(b->conf.pool, pool) != 0) {
			snprintf(err, errlen, "\"backends\": %s is not in pool %s", b->name, pool);
			return -1;
		}
		if (off + strlen(b->name) + 2 > len) {
			snprintf(err, errlen, "\"backends\": too long (at most %zu bytes)",
			         len - 1);
			return -1;
		}
		off += (size_t)snprintf(out + off, len - off, "%s%s", off > 0 ? "," : "", b->name);
	}
	return 0;
}

/* POST /api/incidents: a manual incident (planned maintenance, announced in advance). */
static void open_incident(struct evhttp_request *req)
{
	static const char *const fields[] = {"title",         "message",     "pool",     "severity",
	                                     "planned_start", "planned_end", "backends", NULL};
	char names[INCIDENT_BACKENDS_MAX];
	struct incident_manual m = {0};
	const char *sev = NULL;
	char err[ERR_MAX], loc[64];
	json_t *body;
	int64_t id;

	if (!authorized(req))
		return;
	body = body_object(req, true, err, sizeof(err));
	if (body == NULL || only_fields(body, fields, err, sizeof(err)) < 0 ||
	    get_string(body, "title", true, sizeof(((struct incident *)0)->title) - 1, &m.title,
	               err, sizeof(err)) < 0 ||
	    get_string(body, "message", false, INCIDENT_TEXT_MAX - 1, &m.message, err,
	               sizeof(err)) < 0 ||
	    get_string(body, "pool", false, 64, &m.pool, err, sizeof(err)) < 0 ||
	    get_string(body, "severity", false, 32, &sev, err, sizeof(err)) < 0 ||
	    get_time(body, "planned_start", &m.planned_start, err, sizeof(err)) < 0 ||
	    get_time(body, "planned_end", &m.planned_end, err, sizeof(err)) < 0)
		goto bad;
	if (m.pool != NULL && *m.pool != '\0' && registry_pool(m.pool) == NULL) {
		snprintf(err, sizeof(err), "\"pool\": no pool \"%s\" is configured", m.pool);
		goto bad;
	}
	if (get_backends(body, m.pool, names, sizeof(names), err, sizeof(err)) < 0)
		goto bad;
	m.backends = names;
	if (names[0] != '\0' && m.planned_start == 0) {
		snprintf(err, sizeof(err),
		         "\"backends\" needs a \"planned_start\" (a maintenance)");
		goto bad;
	}
	m.severity = sev != NULL            ? name_index(pool_status_names, PS_COUNT, sev)
	             : m.planned_start != 0 ? PS_OPERATIONAL
	                                    : PS_DEGRADED;
	if (m.severity < 0) {
		snprintf(
		    err, sizeof(err),
		    "\"severity\" must be operational, degraded, partial_outage or major_outage");
		goto bad;
	}
	if ((m.planned_end != 0 && m.planned_start == 0) ||
	    (m.planned_end != 0 && m.planned_end <= m.planned_start)) {
		snprintf(err, sizeof(err), "\"planned_end\" needs a \"planned_start\" before it");
		goto bad;
	}
	id = incident_open_manual(&m, clock_wall());
	json_decref(body);
	if (id < 0) {
		reply_json(req, 500, NULL);
		return;
	}
	snprintf(loc, sizeof(loc), "/api/incidents/%lld", (long long)id);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
	answer_stored(req, 201, incident_json(incident_get(id)));
	return;
bad:
	json_decref(body);
	refuse(req, 400, "%s", err);
}

/* POST /api/incidents/ID/updates */
static void update_incident(struct evhttp_request *req, int64_t id, json_t *body, char *err,
                            size_t len)
{
	static const char *const fields[] = {"status", "message", "eta", "next_update", NULL};
	const char *status = NULL, *msg = NULL;
	struct incident_entry e;
	int64_t eta, next;
	json_t *j;
	int s;

	if (only_fields(body, fields, err, len) < 0 ||
	    get_string(body, "status", true, 32, &status, err, len) < 0 ||
	    get_string(body, "message", true, INCIDENT_TEXT_MAX - 1, &msg, err, len) < 0 ||
	    get_time(body, "eta", &eta, err, len) < 0 ||
	    get_time(body, "next_update", &next, err, len) < 0) {
		refuse(req, 400, "%s", err);
		return;
	}
	s = name_index(update_status_names, UPD_COUNT, status);
	if (s < 0) {
		refuse(req, 400,
		       "\"status\" must be investigating, identified, monitoring or resolved");
		return;
	}
	if (incident_update(id, (enum update_status)s, msg, eta, next, clock_wall(), &e) < 0) {
		reply_json(req, 500, NULL);
		return;
	}
	j = incident_entry_json(&e);
	if (j != NULL && json_object_set_new(j, "incident", json_integer(id)) < 0) {
		json_decref(j);
		j = NULL;
	}
	answer_stored(req, 201, j);
}

/* The stored answer of an action on incident ID: the incident as ops see it. */
static void answer_incident(struct evhttp_request *req, int code, int64_t id)
{
	answer_stored(req, code, admin_incident_json(incident_get(id)));
}

int admin_ack(int64_t id, const char *by, const char *via)
{
	int rc = incident_ack(id, by, via, clock_wall());

	if (rc == 0)
		STAT_INC(incident_acks);
	return rc;
}

/* POST /api/incidents/ID/ack {"by": NAME} */
static void ack_incident(struct evhttp_request *req, int64_t id, json_t *body, char *err,
                         size_t len)
{
	static const char *const fields[] = {"by", NULL};
	const char *by;

	if (only_fields(body, fields, err, len) < 0 ||
	    get_string(body, "by", true, INCIDENT_NAME_MAX - 1, &by, err, len) < 0) {
		refuse(req, 400, "%s", err);
		return;
	}
	switch (admin_ack(id, by, REASON)) {
	case 0:
		answer_incident(req, 200, id);
		break;
	case -2:
		refuse(req, 409, "incident %lld is resolved", (long long)id);
		break;
	case -3:
		refuse(req, 409, "incident %lld was acknowledged by %s already", (long long)id,
		       incident_get(id)->acked_by);
		break;
	default:
		refuse(req, 404, "no incident %lld", (long long)id);
	}
}

/* POST /api/incidents/ID/priority {"priority": "P1".."P4", "reason": TEXT, "by": NAME} */
static void prioritize_incident(struct evhttp_request *req, int64_t id, json_t *body, char *err,
                                size_t len)
{
	static const char *const fields[] = {"priority", "reason", "by", NULL};
	const char *prio, *reason, *by;
	int p;

	if (only_fields(body, fields, err, len) < 0 ||
	    get_string(body, "priority", true, 8, &prio, err, len) < 0 ||
	    get_string(body, "reason", true, INCIDENT_TEXT_MAX / 2, &reason, err, len) < 0 ||
	    get_string(body, "by", false, INCIDENT_NAME_MAX - 1, &by, err, len) < 0) {
		refuse(req, 400, "%s", err);
		return;
	}
	p = name_index(priority_names, PRIO_COUNT, prio);
	if (p < 0) {
		refuse(req, 400, "\"priority\" must be P1, P2, P3 or P4");
		return;
	}
	if (incident_set_priority(id, p, by != NULL ? by : "ops", reason, clock_wall()) < 0) {
		reply_json(req, 500, NULL);
		return;
	}
	answer_incident(req, 200, id);
}

/* POST /api/incidents/ID/roles {"commander": NAME or "" or null, ...}: each role given. */
static void roles_incident(struct evhttp_request *req, int64_t id, json_t *body, char *err,
                           size_t len)
{
	const char *names[ROLE_COUNT] = {NULL};
	bool given[ROLE_COUNT] = {false};
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v)
	{
		int r = name_index(incident_role_names, ROLE_COUNT, key);

		if (r < 0) {
			refuse(
			    req, 400,
			    "unknown role \"%.64s\" (commander, investigator, fixer, recorder or "
			    "communicator)",
			    key);
			return;
		}
		if (get_string(body, key, false, INCIDENT_NAME_MAX - 1, &names[r], err, len) < 0) {
			refuse(req, 400, "%s", err);
			return;
		}
		given[r] = true;
	}
	if (json_object_size(body) == 0) {
		refuse(req, 400,
		       "name at least one role (commander, investigator, fixer, recorder or "
		       "communicator)");
		return;
	}
	for (int r = 0; r < ROLE_COUNT; r++)
		if (given[r] &&
		    incident_set_role(id, (enum incident_role)r, names[r] != NULL ? names[r] : "",
		                      clock_wall()) < 0) {
			reply_json(req, 500, NULL);
			return;
		}
	answer_incident(req, 200, id);
}

/* POST /api/incidents/ID/notes {"text": TEXT, "by": NAME}: private, never public. */
static void note_incident(struct evhttp_request *req, int64_t id, json_t *body, char *err,
                          size_t len)
{
	static const char *const fields[] = {"text", "by", NULL};
	const char *text, *by;

	if (only_fields(body, fields, err, len) < 0 ||
	    get_string(body, "text", true, INCIDENT_TEXT_MAX / 2, &text, err, len) < 0 ||
	    get_string(body, "by", true, INCIDENT_NAME_MAX - 1, &by, err, len) < 0) {
		refuse(req, 400, "%s", err);
		return;
	}
	if (incident_add_note(id, by, text, clock_wall()) < 0) {
		reply_json(req, 500, NULL);
		return;
	}
	answer_incident(req, 201, id);
}

/* POST /api/incidents/ID/postmortem {"root_cause","prevent","detect","mitigate","fix": TEXT
 * or "" to clear, "by": NAME}: the fields given are written, each a line of the timeline. */
static void pm_incident(struct evhttp_request *req, int64_t id, json_t *body, char *err, size_t len)
{
	static const char *const fields[] = {"root_cause", "prevent", "detect", "mitigate",
	                                     "fix",        "by",      NULL};
	const char *text[PMF_COUNT], *by;
	bool any = false;

	if (only_fields(body, fields, err, len) < 0 ||
	    get_string(body, "by", true, INCIDENT_NAME_MAX - 1, &by, err, len) < 0) {
		refuse(req, 400, "%s", err);
		return;
	}
	for (int f = 0; f < PMF_COUNT; f++) {
		if (get_string(body, incident_pm_field_names[f], false, INCIDENT_PM_MAX, &text[f],
		               err, len) < 0) {
			refuse(req, 400, "%s", err);
			return;
		}
		any = any || text[f] != NULL;
	}
	if (!any) {
		refuse(req, 400, "nothing to write (root_cause, prevent, detect, mitigate, fix)");
		return;
	}
	for (int f = 0; f < PMF_COUNT; f++)
		if (text[f] != NULL &&
		    incident_set_pm(id, (enum incident_pm_field)f, text[f], by, clock_wall()) < 0) {
			reply_json(req, 500, NULL);
			return;
		}
	answer_incident(req, 200, id);
}

/* POST /api/incidents/ID/expected {"at": ISO time or null, "by": NAME}: the expected recovery
 * ops confirm or change. */
static void expected_incident(struct evhttp_request *req, int64_t id, json_t *body, char *err,
                              size_t len)
{
	static const char *const fields[] = {"at", "by", NULL};
	const char *by;
	int64_t at = 0;

	if (only_fields(body, fields, err, len) < 0 || get_time(body, "at", &at, err, len) < 0 ||
	    get_string(body, "by", true, INCIDENT_NAME_MAX - 1, &by, err, len) < 0) {
		refuse(req, 400, "%s", err);
		return;
	}
	if (incident_set_expected(id, at, by, clock_wall()) < 0) {
		reply_json(req, 500, NULL);
		return;
	}
	answer_incident(req, 200, id);
}

/* The actions on one incident, POST /api/incidents/ID/NAME. */
static const struct {
	const char *name;
	void (*fn)(struct evhttp_request *req, int64_t id, json_t *body, char *err, size_t len);
} incident_actions[] = {
    {"/updates", update_incident},    {"/ack", ack_incident},    {"/priority", prioritize_incident},
    {"/roles", roles_incident},       {"/notes", note_incident}, {"/postmortem", pm_incident},
    {"/expected", expected_incident},
};

static void act_on_incident(struct evhttp_request *req, int64_t id, size_t which)
{
	char err[ERR_MAX];
	json_t *body;

	if (!authorized(req))
		return;
	if (incident_get(id) == NULL) {
		refuse(req, 404, "no incident %lld", (long long)id);
		return;
	}
	body = body_object(req, true, err, sizeof(err));
	if (body == NULL) {
		refuse(req, 400, "%s", err);
		return;
	}
	incident_actions[which].fn(req, id, body, err, sizeof(err));
	json_decref(body);
}

/* GET /api/incidents/ID/postmortem: the draft, as Markdown (ops only: it shows the notes). */
int admin_postmortem(const struct incident *inc, struct evbuffer *out)
{
	static char md[PM_MAX]; /* the loop is the one caller */
	size_t n =
	    incident_postmortem(inc, registry.conf != NULL ? registry.conf->postmortem.language : 0,
	                        true, clock_wall(), md, sizeof(md));

	return evbuffer_add(out, md, n);
}

static void postmortem_incident(struct evhttp_request *req, int64_t id)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	const struct incident *inc;

	if (!authorized(req))
		return;
	inc = incident_get(id);
	if (inc == NULL) {
		refuse(req, 404, "no incident %lld", (long long)id);
		return;
	}
	if (admin_postmortem(inc, out) < 0) {
		reply_json(req, 500, NULL);
		return;
	}
	evhttp_add_header(h, "Content-Type", "text/markdown; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, 200, http_status_text(200), NULL);
}

/* "/ID" or "/ID/updates" after /api/incidents: the id (0: not one) and the rest. */
static int64_t incident_path(const char *p, const char **rest)
{
	int64_t id = 0;

	if (*p++ != '/' || !isdigit((unsigned char)*p))
		return 0;
	for (; isdigit((unsigned char)*p); p++) {
		if (id > (INT64_MAX - 9) / 10)
			return 0;
		id = id * 10 + (*p - '0');
	}
	*rest = p;
	return id;
}

static void incidents_route(struct evhttp_request *req, const char *path, void *arg)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	bool get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD;
	const char *p = path + strlen("/api/incidents"), *rest = "";
	int64_t id;

	if (strcmp(p, "") == 0 || strcmp(p, "/") == 0) {
		if (get)
			list_incidents(req);
		else if (m == EVHTTP_REQ_POST)
			open_incident(req);
		else
			bad_method(req, "GET, HEAD, POST");
		return;
	}
	id = incident_path(p, &rest);
	if (id > 0 && strcmp(rest, "/postmortem") == 0 && get) {
		postmortem_incident(req, id);
		return;
	}
	for (size_t i = 0; id > 0 && i < ARRAY_SIZE(incident_actions); i++) {
		if (strcmp(rest, incident_actions[i].name) != 0)
			continue;
		if (m != EVHTTP_REQ_POST)
			bad_method(req, "POST");
		else
			act_on_incident(req, id, i);
		return;
	}
	if (id <= 0 || strcmp(rest, "") != 0) {
		refuse(req, 404,
		       "not found (/api/incidents, /api/incidents/ID, "
		       "/api/incidents/ID/updates, /ack, /priority, /roles, /notes, /postmortem, "
		       "/expected)");
		return;
	}
	if (!get) {
		bad_method(req, "GET, HEAD");
	} else if (incident_get(id) == NULL) {
		refuse(req, 404, "no incident %lld", (long long)id);
	} else {
		bool full;

		if (reader(req, &full))
			reply_json(req, 200,
			           full ? admin_incident_json(incident_get(id))
			                : incident_json(incident_get(id)));
	}
}

/* ---- acknowledgement links ------------------------------------------------------------------ */

#define HTML_CT "text/html; charset=utf-8"

static void reply_html(struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_html(struct evhttp_request *req, int code, const char *fmt, ...)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	va_list ap;

	evbuffer_drain(out, evbuffer_get_length(out));
	evbuffer_add_printf(out, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
	                         "<meta name=\"robots\" content=\"noindex\"><title>nodegate: "
	                         "acknowledge</title></head><body><main>");
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add_printf(out, "</main></body></html>\n");
	evhttp_add_header(h, "Content-Type", HTML_CT);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_send_reply(req, code, http_status_text(code), NULL);
}

/* Safe to echo into HTML as is: a token's characters (hex, digits, dots, a channel name). */
static bool plain(const char *s)
{
	static const char ok[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

	return s != NULL && strlen(s) < ACKLINK_TOKEN_MAX && strspn(s, ok) == strlen(s);
}

struct link_ack {
	struct evhttp_request *req;
	int64_t id;
	char by[INCIDENT_NAME_MAX];
};

static void link_acked(int rc, void *arg)
{
	struct link_ack *l = arg;

	if (rc == 0)
		reply_html(l->req, 200,
		           "<h1>Incident %lld acknowledged</h1><p>By %s. Its escalation "
		           "stops; the link cannot be used again.</p>",
		           (long long)l->id, plain(l->by) ? l->by : "you");
	else
		reply_html(l->req, 500, "<h1>Acknowledged, but not written to disk</h1>");
	free(l);
}

/* POST /ack with token=...&by=... (a form): the one-time acknowledgement. */
static void ack_by_link(struct evhttp_request *req, const char *tok, const char *by)
{
	static const int code[ACK_VERDICT_COUNT] = {
	    [ACK_MALFORMED] = 400, [ACK_FORGED] = 403, [ACK_EXPIRED] = 403,
	    [ACK_USED] = 403,      [ACK_FULL] = 503,
	};
	struct ack_claim c;
	enum ack_verdict v = acklink_verify(tok != NULL ? tok : "", clock_wall(), &c);
	char via[128];
	struct link_ack *l;
	int rc;

	if (v != ACK_OK) {
		log_warn("admin: acknowledgement link refused: %s", ack_verdict_names[v]);
		reply_html(req, code[v], "<h1>This link does not work</h1><p>It is %s.</p>",
		           v == ACK_USED      ? "used already: each link works once"
		           : v == ACK_EXPIRED ? "expired"
		                              : "not a valid acknowledgement link");
		return;
	}
	snprintf(via, sizeof(via), "one-time link sent to %s", c.channel);
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		reply_html(req, 500, "<h1>Out of memory</h1>");
		return;
	}
	snprintf(l->by, sizeof(l->by), "%.63s", by != NULL && *by ? by : c.channel);
	rc = incident_ack(c.id, l->by, via, clock_wall());
	if (rc == -1 || rc == -2) {
		free(l);
		reply_html(req, rc == -1 ? 404 : 409, "<h1>Incident %lld is %s</h1>",
		           (long long)c.id, rc == -1 ? "not known" : "resolved already");
		return;
	}
	acklink_spend(&c, clock_wall());
	if (rc == -3) {
		reply_html(req, 200, "<h1>Incident %lld was acknowledged already</h1>",
		           (long long)c.id);
		free(l);
		return;
	}
	STAT_INC(incident_acks);
	l->req = req;
	l->id = c.id;
	store_barrier(link_acked, l);
}

/* GET /ack?token=...: a page with a button (a link previewer must not acknowledge);
 * POST /ack: the acknowledgement. */
static void ack_route(struct evhttp_request *req, const char *path, void *arg)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	struct evkeyvalq kv;
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	const char *tok;

	TAILQ_INIT(&kv);
	if (strcmp(path, "/ack") != 0) {
		refuse(req, 404, "not found (/ack?token=...)");
		return;
	}
	if (m == EVHTTP_REQ_POST) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);
		char *body = n < 4096 ? calloc(1, n + 1) : NULL;

		if (body != NULL)
			evbuffer_copyout(in, body, n);
		if (body == NULL || evhttp_parse_query_str(body, &kv) != 0) {
			free(body);
			evhttp_clear_headers(&kv);
			reply_html(req, 400, "<h1>Bad form</h1>");
			return;
		}
		free(body);
		ack_by_link(req, evhttp_find_header(&kv, "token"), evhttp_find_header(&kv, "by"));
		evhttp_clear_headers(&kv);
		return;
	}
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		bad_method(req, "GET, HEAD, POST");
		return;
	}
	if (q != NULL)
		evhttp_parse_query_str(q, &kv);
	tok = evhttp_find_header(&kv, "token");
	if (!plain(tok))
		reply_html(req, 400, "<h1>This link does not work</h1><p>It carries no token.</p>");
	else
		reply_html(req, 200,
		           "<h1>Acknowledge the incident?</h1><form method=\"post\" action=\"ack\">"
		           "<input type=\"hidden\" name=\"token\" value=\"%s\"><label>Your name "
		           "<input name=\"by\" maxlength=\"63\"></label> <button>Acknowledge"
		           "</button></form>",
		           tok);
	evhttp_clear_headers(&kv);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

int admin_init(char *err, size_t errlen)
{
	if (store_load_admin(load_saved, NULL) < 0) {
		snprintf(err, errlen, "cannot read the stored admin states");
		return -1;
	}
	if (status_route("/api/backends", backends_route, NULL) < 0 ||
	    status_route("/api/incidents", incidents_route, NULL) < 0 ||
	    status_route("/ack", ack_route, NULL) < 0) {
		snprintf(err, errlen, "the status listener's route table is full");
		return -1;
	}
	if (n_saved > 0)
		log_info("admin: %zu stored admin state%s to restore by name", n_saved,
		         n_saved == 1 ? "" : "s");
	return 0;
}

void admin_deinit(void)
{
	free(saved);
	saved = NULL;
	n_saved = 0;
	token.set = false;
}
