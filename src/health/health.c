/* The health model as pure logic: probe answers become verdicts, and observations move a
 * backend through its rotation states (flap damping, sync grace, readmission, slow start).
 * No I/O and no clock: time is an argument, in milliseconds. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util.h"
#include "health/health.h"
#include "proxy/rpc.h"

const char *const verdict_names[V_COUNT] = {
    [V_HEALTHY] = "healthy",
    [V_WARNING] = "warning",
    [V_CRITICAL] = "critical",
};

const char *const health_state_names[HS_COUNT] = {
    [HS_CHECKING] = "checking", [HS_UP] = "up",           [HS_SLOW_START] = "slow_start",
    [HS_DOWN] = "down",         [HS_SYNCING] = "syncing",
};

const char *const admin_state_names[ADMIN_COUNT] = {
    [ADMIN_NONE] = "none",
    [ADMIN_DRAIN] = "drain",
    [ADMIN_MAINT] = "maint",
};

const char *const health_event_kind_names[HE_COUNT] = {
    [HE_TRANSITION] = "transition",
    [HE_GRACE_EXPIRED] = "grace_expired",
    [HE_ADMIN] = "admin",
    [HE_WEIGHT] = "weight",
};

/* ---- one-line reasons ------------------------------------------------------------------ */

/* A reason built piece by piece into a bounded buffer; what does not fit is cut. */
struct line {
	char *buf;
	size_t size, len;
};

static void line_init(struct line *l, char *buf, size_t size)
{
	l->buf = buf;
	l->size = size;
	l->len = 0;
	buf[0] = '\0';
}

__attribute__((format(printf, 2, 3))) static void line_add(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->len + 1 >= l->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, l->size - l->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		l->buf[l->len] = '\0';
		return;
	}
	l->len += (size_t)n;
	if (l->len >= l->size)
		l->len = l->size - 1;
}

/* Text from a body (a state name, an error token) must not break the line. */
static void one_line(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

__attribute__((format(printf, 3, 4))) static void obs_set(struct observation *o, enum verdict v,
                                                          const char *fmt, ...)
{
	va_list ap;

	o->verdict = v;
	va_start(ap, fmt);
	if (vsnprintf(o->reason, sizeof(o->reason), fmt, ap) < 0)
		o->reason[0] = '\0';
	va_end(ap);
	one_line(o->reason);
}

static void obs_init(struct observation *o)
{
	memset(o, 0, sizeof(*o));
	obs_set(o, V_HEALTHY, "healthy");
}

/* snprintf for reasons that may be cut (vsnprintf: no truncation warning for them). */
__attribute__((format(printf, 3, 4))) static void reason_set(char *buf, size_t len, const char *fmt,
                                                             ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(buf, len, fmt, ap) < 0)
		buf[0] = '\0';
	va_end(ap);
}

static enum verdict worst(enum verdict a, enum verdict b)
{
	return a > b ? a : b;
}

/* "5s" when whole seconds, else "1500ms". */
static const char *fmt_ms(char *buf, size_t len, uint64_t ms)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(buf, len, "%" PRIu64 "ms", ms);
	return buf;
}

/* An age in whole seconds against a limit in milliseconds. */
static bool age_at_least(int64_t age_s, uint64_t limit_ms)
{
	return age_s >= 0 && (uint64_t)age_s >= limit_ms / 1000 + (limit_ms % 1000 != 0);
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* Next item of a comma list, trimmed of blanks; false at the end. */
static bool list_next(const char **p, const char **item, size_t *len)
{
	const char *s = *p, *e;

	while (*s == ',' || *s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return false;
	e = s;
	while (*e != '\0' && *e != ',')
		e++;
	*p = e;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*item = s;
	*len = (size_t)(e - s);
	return true;
}

static bool list_has(const char *list, const char *name)
{
	const char *item;
	size_t len;

	if (list == NULL)
		return false;
	while (list_next(&list, &item, &len))
		if (len == strlen(name) && memcmp(item, name, len) == 0)
			return true;
	return false;
}

/* The body as a JSON object or array (jansson's default), or NULL. */
static json_t *parse_body(const char *body, size_t len)
{
	json_error_t err;

	if (body == NULL || len == 0)
		return NULL;
	return json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
}

/* ---- rippled GET /health ----------------------------------------------------------------- */

/* A metric judge writes what it saw into D ("peers 2 < 3") and returns its verdict; a value
 * of the wrong JSON type is critical ("peers unreadable"). */
typedef enum verdict (*metric_judge_fn)(const char *name, json_t *v, const struct conf_health *h,
                                        char *d, size_t n);

static enum verdict unreadable(const char *name, char *d, size_t n)
{
	snprintf(d, n, "%.40s unreadable", name);
	return V_CRITICAL;
}

static enum verdict judge_amendment_blocked(const char *name, json_t *v,
                                            const struct conf_health *h, char *d, size_t n)
{
	if (!json_is_boolean(v))
		return unreadable(name, d, n);
	snprintf(d, n, "amendment_blocked %s", json_is_true(v) ? "true" : "false");
	return json_is_true(v) ? V_CRITICAL : V_HEALTHY;
}

static enum verdict judge_load_factor(const char *name, json_t *v, const struct conf_health *h,
                                      char *d, size_t n)
{
	double lf;

	if (!json_is_number(v))
		return unreadable(name, d, n);
	lf = json_number_value(v);
	if (lf >= (double)h->load_factor_critical) {
		snprintf(d, n, "load_factor %g >= %" PRIu64, lf, h->load_factor_critical);
		return V_CRITICAL;
	}
	if (lf > (double)h->load_factor_warning) {
		snprintf(d, n, "load_factor %g > %" PRIu64, lf, h->load_factor_warning);
		return V_WARNING;
	}
	snprintf(d, n, "load_factor %g", lf);
	return V_HEALTHY;
}

static enum verdict judge_peers(const char *name, json_t *v, const struct conf_health *h, char *d,
                                size_t n)
{
	json_int_t peers;

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return unreadable(name, d, n);
	peers = json_integer_value(v);
	if (peers == 0) {
		snprintf(d, n, "peers 0");
		return V_CRITICAL;
	}
	if ((uint64_t)peers < h->expect_peers) {
		snprintf(d, n, "peers %" JSON_INTEGER_FORMAT " < %" PRIu64, peers, h->expect_peers);
		return V_WARNING;
	}
	snprintf(d, n, "peers %" JSON_INTEGER_FORMAT, peers);
	return V_HEALTHY;
}

static const struct {
	const char *name;
	enum verdict verdict;
} server_states[] = {
    {"disconnected", V_CRITICAL}, {"connected", V_WARNING}, {"syncing", V_WARNING},
    {"tracking", V_WARNING},      {"full", V_HEALTHY},      {"validating", V_HEALTHY},
    {"proposing", V_HEALTHY},
};

static enum verdict judge_server_state(const char *name, json_t *v, const struct conf_health *h,
                                       char *d, size_t n)
{
	const char *s;

	if (!json_is_string(v))
		return unreadable(name, d, n);
	s = json_string_value(v);
	snprintf(d, n, "server_state %.40s", s);
	for (size_t i = 0; i < ARRAY_SIZE(server_states); i++)
		if (strcmp(s, server_states[i].name) == 0)
			return server_states[i].verdict;
	return V_WARNING; /* a state this version does not know */
}

/* /health reports the validated ledger's age in seconds, -1 before the first one. */
static enum verdict judge_validated_ledger(const char *name, json_t *v, const struct conf_health *h,
                                           char *d, size_t n)
{
	json_int_t age;
	char lim[32];

	if (!json_is_integer(v) || json_integer_value(v) < -1)
		return unreadable(name, d, n);
	age = json_integer_value(v);
	if (age == -1) {
		snprintf(d, n, "validated_ledger none yet");
		return V_WARNING;
	}
	if (age_at_least(age, h->ledger_age_critical)) {
		snprintf(d, n, "validated_ledger %" JSON_INTEGER_FORMAT "s >= %s", age,
		         fmt_ms(lim, sizeof(lim), h->ledger_age_critical));
		return V_CRITICAL;
	}
	if (age_at_least(age, h->ledger_age_warning)) {
		snprintf(d, n, "validated_ledger %" JSON_INTEGER_FORMAT "s >= %s", age,
		         fmt_ms(lim, sizeof(lim), h->ledger_age_warning));
		return V_WARNING;
	}
	snprintf(d, n, "validated_ledger %" JSON_INTEGER_FORMAT "s", age);
	return V_HEALTHY;
}

/* rippled lists only metrics out of range, so a name this table lacks is a warning. */
static enum verdict judge_unknown(const char *name, json_t *v, const struct conf_health *h, char *d,
                                  size_t n)
{
	snprintf(d, n, "unknown metric %.40s", name);
	return V_WARNING;
}

static const struct {
	const char *name;
	metric_judge_fn judge;
} metrics[] = {
    {"amendment_blocked", judge_amendment_blocked},
    {"load_factor", judge_load_factor},
    {"peers", judge_peers},
    {"server_state", judge_server_state},
    {"validated_ledger", judge_validated_ledger},
};

static metric_judge_fn metric_judge(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(metrics); i++)
		if (strcmp(name, metrics[i].name) == 0)
			return metrics[i].judge;
	return judge_unknown;
}

/* Every metric not ignored, re-judged with H; the verdict is the worst of them, and the
 * reason lists those that are not healthy. */
static void judge_metrics(json_t *info, const struct conf_health *h, struct observation *out)
{
	struct line l;
	enum verdict v = V_HEALTHY, mv;
	const char *name;
	json_t *val;
	char d[96];

	line_init(&l, out->reason, sizeof(out->reason));
	json_object_foreach(info, name, val)
	{
		if (list_has(h->ignore, name))
			continue;
		mv = metric_judge(name)(name, val, h, d, sizeof(d));
		v = worst(v, mv);
		if (mv != V_HEALTHY)
			line_add(&l, "%s%s (%s)", l.len ? "; " : "", d, verdict_names[mv]);
	}
	out->verdict = v;
	if (v == V_HEALTHY)
		snprintf(out->reason, sizeof(out->reason), "healthy");
	one_line(out->reason);
}

void health_judge_rippled(int status, const char *body, size_t len, const struct conf_health *h,
                          struct observation *out)
{
	enum verdict first;
	json_t *root, *info;

	obs_init(out);
	switch (status) {
	case 200:
		first = V_HEALTHY;
		break;
	case 503:
		first = V_WARNING;
		break;
	case 500:
		first = V_CRITICAL;
		break;
	default:
		obs_set(out, V_CRITICAL, "unexpected status %d", status);
		return;
	}
	root = parse_body(body, len);
	info = json_is_object(root) ? json_object_get(root, "info") : NULL;
	if (!json_is_object(info))
		obs_set(out, V_CRITICAL, "unreadable /health body");
	else if (json_object_size(info) == 0 && first != V_HEALTHY)
		obs_set(out, first, "status %d, no metrics listed", status);
	else if (json_object_size(info) != 0)
		judge_metrics(info, h, out);
	json_decref(root);
}

/* ---- JSON-RPC server_info (freshness) ---------------------------------------------------- */

/* The error of a JSON-RPC reply (result.error, or the top-level error of a WebSocket-style
 * reply); "unknown" when only result.status says "error"; NULL when there is none. */
static const char *reply_error(json_t *reply)
{
	json_t *result = json_object_get(reply, "result");
	json_t *re = json_object_get(result, "error"), *te = json_object_get(reply, "error");
	json_t *st = json_object_get(result, "status");

	if (json_is_string(re))
		return json_string_value(re);
	if (json_is_string(te))
		return json_string_value(te);
	if (re != NULL || te != NULL ||
	    (json_is_string(st) && strcmp(json_string_value(st), "error") == 0))
		return "unknown";
	return NULL;
}

static void fill_metrics(json_t *info, struct rippled_metrics *m)
{
	json_t *nid = json_object_get(info, "network_id");
	json_t *cl = json_object_get(info, "complete_ledgers");
	char err[160];

	if (json_is_integer(nid) && json_integer_value(nid) >= 0)
		m->network_id = json_integer_value(nid);
	if (!json_is_string(cl))
		return;
	snprintf(m->complete_ledgers, sizeof(m->complete_ledgers), "%s", json_string_value(cl));
	/* a malformed list gives no ranges: the node's history stays as last known */
	m->has_ledgers = ranges_parse(json_string_value(cl), &m->ledgers, err, sizeof(err)) == 0;
}

/* Age and lag of a validated ledger M already read, appended to L. */
static enum verdict judge_freshness(const struct rippled_metrics *m, const struct conf_health *h,
                                    uint64_t best_seq, struct line *l)
{
	enum verdict v = V_HEALTHY, av = V_HEALTHY, lv = V_HEALTHY;
	uint64_t lag = 0, lim = 0;
	char b[32];

	if (h->max_ledger_age > 0) {
		lim = h->max_ledger_age;
		if (age_at_least(m->ledger_age_s, sat_mul(h->max_ledger_age, 2))) {
			av = V_CRITICAL;
			lim = sat_mul(h->max_ledger_age, 2);
		} else if (age_at_least(m->ledger_age_s, h->max_ledger_age)) {
			av = V_WARNING;
		}
	}
	if (av != V_HEALTHY)
		line_add(l, "validated ledger %" PRId64 "s old >= %s (%s)", m->ledger_age_s,
		         fmt_ms(b, sizeof(b), lim), verdict_names[av]);
	if (best_seq > 0 && h->max_ledger_lag > 0 && best_seq > m->validated_seq) {
		lag = best_seq - m->validated_seq;
		lim = h->max_ledger_lag;
		if (lag > sat_mul(h->max_ledger_lag, 3)) {
			lv = V_CRITICAL;
			lim = sat_mul(h->max_ledger_lag, 3);
		} else if (lag > h->max_ledger_lag) {
			lv = V_WARNING;
		}
	}
	if (lv != V_HEALTHY)
		line_add(l, "%s%" PRIu64 " ledgers behind the best > %" PRIu64 " (%s)",
		         l->len ? "; " : "", lag, lim, verdict_names[lv]);
	v = worst(av, lv);
	return v;
}

/* Reads validated_ledger into M; false when it is missing or unreadable (reason in OUT). */
static bool read_validated(json_t *info, struct rippled_metrics *m, struct observation *out)
{
	json_t *vl = json_object_get(info, "validated_ledger");
	json_t *seq = json_object_get(vl, "seq"), *age = json_object_get(vl, "age");

	if (!json_is_object(vl)) {
		obs_set(out, V_CRITICAL, "no validated ledger");
		return false;
	}
	if (!json_is_integer(seq) || json_integer_value(seq) < 0 ||
	    (age != NULL && (!json_is_integer(age) || json_integer_value(age) < 0))) {
		obs_set(out, V_CRITICAL, "unreadable server_info validated_ledger");
		return false;
	}
	m->has_seq = true;
	m->validated_seq = (uint64_t)json_integer_value(seq);
	/* rippled leaves age out when the close time is ahead of its clock: brand new. */
	m->ledger_age_s = age != NULL ? json_integer_value(age) : 0;
	return true;
}

void health_judge_server_info(int status, const char *body, size_t len, const struct conf_health *h,
                              uint64_t best_seq, struct observation *out, struct rippled_metrics *m)
{
	json_t *root, *info;
	const char *err;
	struct line l;

	obs_init(out);
	memset(m, 0, sizeof(*m));
	m->ledger_age_s = -1;
	m->network_id = -1;
	if (status != 200) {
		obs_set(out, V_CRITICAL, "server_info status %d", status);
		return;
	}
	root = parse_body(body, len);
	info = json_object_get(json_object_get(root, "result"), "info");
	err = json_is_object(root) ? reply_error(root) : NULL;
	if (err != NULL) {
		obs_set(out, V_CRITICAL, "server_info error %.60s", err);
		goto done;
	}
	if (!json_is_object(info)) {
		obs_set(out, V_CRITICAL, "unreadable server_info reply");
		goto done;
	}
	fill_metrics(info, m);
	if (!read_validated(info, m, out))
		goto done;
	line_init(&l, out->reason, sizeof(out->reason));
	out->verdict = judge_freshness(m, h, best_seq, &l);
	if (out->verdict == V_HEALTHY)
		snprintf(out->reason, sizeof(out->reason), "healthy");
done:
	json_decref(root);
}

/* ---- http checks ------------------------------------------------------------------------- */

/* One item of check_expect_status: "200" or a class "2xx". */
static bool status_item_matches(int status, const char *item, size_t len)
{
	char buf[8], *end;
	long code;

	if (len == 3 && item[0] >= '1' && item[0] <= '9' && (item[1] | 0x20) == 'x' &&
	    (item[2] | 0x20) == 'x')
		return status / 100 == item[0] - '0' && status >= 100 && status <= 999;
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, item, len);
	buf[len] = '\0';
	code = strtol(buf, &end, 10);
	return *end == '\0' && code == status;
}

static bool status_expected(int status, const char *list)
{
	const char *item;
	size_t len;

	if (list == NULL || *list == '\0')
		return status >= 200 && status <= 299;
	while (list_next(&list, &item, &len))
		if (status_item_matches(status, item, len))
			return true;
	return false;
}

/* The value at a dotted PATH ("result.status"; a number indexes an array), or NULL. */
static json_t *json_at(json_t *root, char *path)
{
	json_t *v = root;
	char *seg, *save = NULL, *end;
	unsigned long idx;

	for (seg = strtok_r(path, ".", &save); seg != NULL && v != NULL;
	     seg = strtok_r(NULL, ".", &save)) {
		if (json_is_array(v)) {
			idx = strtoul(seg, &end, 10);
			v = (*end == '\0' && end != seg) ? json_array_get(v, idx) : NULL;
		} else {
			v = json_object_get(v, seg);
		}
	}
	return v;
}

/* Strings compare as they are; integers, booleans and null by their JSON text; reals by
 * value (their text is not kept by the parser). */
static bool json_value_is(json_t *v, const char *want)
{
	char buf[32], *end;
	double d;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return strcmp(json_string_value(v), want) == 0;
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return strcmp(buf, want) == 0;
	case JSON_REAL:
		d = strtod(want, &end);
		return end != want && *end == '\0' && d == json_real_value(v);
	case JSON_TRUE:
		return strcmp(want, "true") == 0;
	case JSON_FALSE:
		return strcmp(want, "false") == 0;
	case JSON_NULL:
		return strcmp(want, "null") == 0;
	default:
		return false;
	}
}

static const char *json_describe(json_t *v, char *buf, size_t len)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		snprintf(buf, len, "%s", json_string_value(v));
		break;
	case JSON_INTEGER:
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(buf, len, "%g", json_real_value(v));
		break;
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	default:
		return "null";
	}
	return buf;
}

/* Checks one "field=value" expectation; a mismatch is described in L. */
static bool expectation_holds(json_t *root, const char *item, size_t len, struct line *l)
{
	char buf[256], path[256], seen[48];
	char *eq;
	json_t *v;

	if (len >= sizeof(buf)) {
		line_add(l, "%sexpectation too long", l->len ? "; " : "");
		return false;
	}
	memcpy(buf, item, len);
	buf[len] = '\0';
	eq = strchr(buf, '=');
	if (eq == NULL) {
		line_add(l, "%sbad expectation %.40s (field=value)", l->len ? "; " : "", buf);
		return false;
	}
	*eq = '\0';
	memcpy(path, buf, (size_t)(eq - buf) + 1);
	v = json_at(root, path);
	if (v == NULL) {
		line_add(l, "%s%.40s missing (expected %.40s)", l->len ? "; " : "", buf, eq + 1);
		return false;
	}
	if (json_value_is(v, eq + 1))
		return true;
	line_add(l, "%s%.40s is %.40s (expected %.40s)", l->len ? "; " : "", buf,
	         json_describe(v, seen, sizeof(seen)), eq + 1);
	return false;
}

void health_judge_http(int status, const char *body, size_t len, const struct conf_health *h,
                       struct observation *out)
{
	const char *list = h->check_expect_json, *item;
	struct line l;
	size_t ilen;
	json_t *root;
	bool ok = true;

	obs_init(out);
	if (!status_expected(status, h->check_expect_status)) {
		obs_set(out, V_CRITICAL, "status %d not in %.60s", status,
		        h->check_expect_status != NULL && *h->check_expect_status != '\0'
		            ? h->check_expect_status
		            : "2xx");
		return;
	}
	if (list == NULL || *list == '\0')
		return;
	root = parse_body(body, len);
	if (root == NULL) {
		obs_set(out, V_CRITICAL, "body is not JSON (expected %.80s)", list);
		return;
	}
	line_init(&l, out->reason, sizeof(out->reason));
	while (list_next(&list, &item, &ilen))
		if (!expectation_holds(root, item, ilen, &l))
			ok = false;
	if (ok)
		snprintf(out->reason, sizeof(out->reason), "healthy");
	out->verdict = ok ? V_HEALTHY : V_CRITICAL;
	one_line(out->reason);
	json_decref(root);
}

/* ---- rotation ---------------------------------------------------------------------------- */

/* The moves the health state may make; anything else is refused by transition(). */
static const bool legal_move[HS_COUNT][HS_COUNT] = {
    [HS_CHECKING] = {[HS_UP] = true, [HS_DOWN] = true},
    [HS_UP] = {[HS_DOWN] = true},
    [HS_SLOW_START] = {[HS_UP] = true, [HS_DOWN] = true},
    [HS_DOWN] = {[HS_SYNCING] = true, [HS_SLOW_START] = true, [HS_UP] = true},
    [HS_SYNCING] = {[HS_SLOW_START] = true, [HS_UP] = true, [HS_DOWN] = true},
};

/* The one writer of hs->state and hs->admin. KIND HE_ADMIN changes the admin state to
 * ADMIN and keeps the health state; the others move the health state to TO along
 * legal_move. Fills EV (may be NULL); returns false and changes nothing for a move that is
 * not allowed. Logging is the caller's: "backend NAME: FROM -> TO (reason)". */
static bool transition(struct health *hs, enum health_event_kind kind, enum health_state to,
                       enum admin_state admin, enum verdict v, const char *reason, uint64_t now,
                       struct health_event *ev)
{
	struct health_event scratch;

	if (kind == HE_ADMIN) {
		if (admin >= ADMIN_COUNT || admin == hs->admin || to != hs->state)
			return false;
	} else if (kind >= HE_COUNT || to >= HS_COUNT || !legal_move[hs->state][to] ||
	           admin != hs->admin) {
		return false;
	}
	if (ev == NULL)
		ev = &scratch;
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->from = hs->state;
	ev->to = to;
	ev->admin_from = hs->admin;
	ev->admin_to = admin;
	ev->verdict = v;
	ev->at = now;
	ev->in_grace = kind != HE_GRACE_EXPIRED && now < hs->grace_until &&
	               (hs->state == HS_SYNCING || to == HS_SYNCING);
	snprintf(ev->reason, sizeof(ev->reason), "%s", reason);
	one_line(ev->reason);
	if (kind == HE_ADMIN) {
		hs->admin = admin;
		return true;
	}
	hs->state = to;
	hs->since = now;
	memcpy(hs->reason, ev->reason, sizeof(hs->reason));
	return true;
}

static bool move(struct health *hs, enum health_state to, enum verdict v, const char *reason,
                 uint64_t now, struct health_event *ev)
{
	return transition(hs, HE_TRANSITION, to, hs->admin, v, reason, now, ev);
}

static void ring_push(uint64_t *ring, unsigned *n, uint64_t now)
{
	ring[*n % HEALTH_RING] = now;
	if (++*n == 2 * HEALTH_RING)
		*n = HEALTH_RING; /* keeps "full" and the position, never overflows */
}

/* Entries of the ring within WINDOW ending at NOW. */
static unsigned ring_count(const uint64_t *ring, unsigned n, uint64_t window, uint64_t now)
{
	unsigned have = n < HEALTH_RING ? n : HEALTH_RING, c = 0;

	for (unsigned i = 0; i < have; i++)
		if (ring[i] <= now && now - ring[i] < window)
			c++;
	return c;
}

static void record(struct health *hs, enum verdict v, uint64_t now)
{
	hs->last_verdict = v;
	if (v == V_HEALTHY) {
		if (hs->consecutive_good == 0)
			hs->good_since = now;
		if (hs->consecutive_good < UINT32_MAX)
			hs->consecutive_good++;
		hs->consecutive_bad = 0;
		return;
	}
	hs->consecutive_good = 0;
	if (hs->consecutive_bad < UINT32_MAX)
		hs->consecutive_bad++;
	ring_push(hs->warn_at, &hs->n_warn, now);
	if (v == V_CRITICAL)
		ring_push(hs->crit_at, &hs->n_crit, now);
}

/* Which ejection rule the latest bad observation O (verdict V) meets, described in BUF
 * with O's reason; false when none does. A refused connection ejects at once: nothing
 * listens, so it is no blip. */
static bool eject_rule(const struct health *hs, const struct conf_health *h,
                       const struct observation *o, enum verdict v, uint64_t now, char *buf,
                       size_t len)
{
	const struct conf_burst *wb = &h->warning_burst, *cb = &h->critical_burst;
	char w[32];

	if (v == V_HEALTHY)
		return false;
	if (o->unreachable &&
	    strncmp(o->reason, HEALTH_REASON_REFUSED, strlen(HEALTH_REASON_REFUSED)) == 0)
		snprintf(buf, len, "%s", o->reason);
	else if (h->warning_fall > 0 && hs->consecutive_bad >= h->warning_fall)
		reason_set(buf, len, "%u bad in a row: %s", hs->consecutive_bad, o->reason);
	else if (wb->count > 0 && ring_count(hs->warn_at, hs->n_warn, wb->window, now) >= wb->count)
		reason_set(buf, len, "%u warnings within %s: %s", wb->count,
		           fmt_ms(w, sizeof(w), wb->window), o->reason);
	else if (cb->count > 0 && v == V_CRITICAL &&
	         ring_count(hs->crit_at, hs->n_crit, cb->window, now) >= cb->count)
		reason_set(buf, len, "%u criticals within %s: %s", cb->count,
		           fmt_ms(w, sizeof(w), cb->window), o->reason);
	else
		return false;
	return true;
}

/* Out of rotation. From up or slow start, a bounce less than flap_hold_max after the last
 * readmission doubles the hold (readmit_after, 2x, 4x ... capped by flap_hold_max). */
static bool eject(struct health *hs, const struct conf_health *h, bool unreachable, enum verdict v,
                  const char *reason, uint64_t now, struct health_event *ev)
{
	enum health_state from = hs->state;
	uint64_t hold;

	if (!move(hs, HS_DOWN, v, reason, now, ev))
		return false;
	hs->down_unreachable = unreachable;
	if (from == HS_CHECKING)
		return true; /* never in rotation: not a bounce */
	if (now >= hs->readmitted_at && now - hs->readmitted_at < h->flap_hold_max)
		hs->flaps++;
	else
		hs->flaps = 1;
	hold = h->readmit_after;
	for (unsigned i = 1; i < hs->flaps && hold < h->flap_hold_max; i++)
		hold = sat_mul(hold, 2);
	if (hold > h->flap_hold_max)
		hold = h->flap_hold_max;
	hs->hold_until = now + hold;
	return true;
}

/* Healthy RISE times in a row, for READMIT_AFTER, and past the flap hold. */
static bool may_readmit(const struct health *hs, const struct conf_health *h, uint64_t now)
{
	uint64_t rise = h->rise > 0 ? h->rise : 1;

	return hs->last_verdict == V_HEALTHY && hs->consecutive_good >= rise &&
	       now >= hs->good_since && now - hs->good_since >= h->readmit_after &&
	       now >= hs->hold_until;
}

static bool readmit(struct health *hs, const struct conf_health *h, uint64_t now,
                    struct health_event *ev)
{
	char why[HEALTH_REASON_MAX], d[32];

	snprintf(why, sizeof(why), "healthy %u in a row for %s", hs->consecutive_good,
	         fmt_ms(d, sizeof(d), now - hs->good_since));
	if (!move(hs, h->slow_start > 0 ? HS_SLOW_START : HS_UP, V_HEALTHY, why, now, ev))
		return false;
	hs->readmitted_at = now;
	hs->down_unreachable = false;
	return true;
}

static bool observe_down(struct health *hs, const struct conf_health *h, bool unreachable,
                         uint64_t now, struct health_event *ev)
{
	if (unreachable) {
		hs->down_unreachable = true; /* whatever put it out, nothing answers now */
		return false;
	}
	if (hs->down_unreachable) {
		hs->down_unreachable = false;
		if (h->sync_grace > 0) {
			hs->grace_until = now + h->sync_grace;
			hs->grace_expired_sent = false;
			return move(hs, HS_SYNCING, hs->last_verdict,
			            "answers again after being unreachable", now, ev);
		}
	}
	return may_readmit(hs, h, now) && readmit(hs, h, now, ev);
}

bool health_observe(struct health *hs, const struct conf_health *h, const struct observation *o,
                    uint64_t now, struct health_event *ev)
{
	enum verdict v = o->unreachable || o->verdict >= V_COUNT ? V_CRITICAL : o->verdict;
	char why[HEALTH_REASON_MAX];

	record(hs, v, now);
	switch (hs->state) {
	case HS_CHECKING:
		if (v == V_HEALTHY) {
			reason_set(why, sizeof(why), "first check: %s", o->reason);
			return move(hs, HS_UP, v, why, now, ev);
		}
		if (o->unreachable)
			return eject(hs, h, true, v, o->reason, now, ev);
		__attribute__((fallthrough)); /* to the ejection rules */
	case HS_UP:
	case HS_SLOW_START:
		return eject_rule(hs, h, o, v, now, why, sizeof(why)) &&
		       eject(hs, h, o->unreachable, v, why, now, ev);
	case HS_DOWN:
		return observe_down(hs, h, o->unreachable, now, ev);
	case HS_SYNCING: /* bad answers and restarts inside the grace are expected */
		return may_readmit(hs, h, now) && readmit(hs, h, now, ev);
	default:
		return false;
	}
}

bool health_tick(struct health *hs, const struct conf_health *h, uint64_t now,
                 struct health_event *ev)
{
	switch (hs->state) {
	case HS_SLOW_START:
		return now >= hs->since && now - hs->since >= h->slow_start &&
		       move(hs, HS_UP, hs->last_verdict, "slow start done", now, ev);
	case HS_DOWN:
		return may_readmit(hs, h, now) && readmit(hs, h, now, ev);
	case HS_SYNCING:
		if (may_readmit(hs, h, now))
			return readmit(hs, h, now, ev);
		if (hs->grace_expired_sent || now < hs->grace_until)
			return false;
		if (!transition(hs, HE_GRACE_EXPIRED, HS_DOWN, hs->admin, hs->last_verdict,
		                "sync grace expired", now, ev))
			return false;
		hs->grace_expired_sent = true;
		hs->down_unreachable = false;
		return true;
	default:
		return false;
	}
}

bool health_set_admin(struct health *hs, enum admin_state a, const char *why, uint64_t now,
                      struct health_event *ev)
{
	char reason[HEALTH_REASON_MAX];

	snprintf(reason, sizeof(reason), "%s",
	         why != NULL && *why != '\0' ? why : admin_state_names[a < ADMIN_COUNT ? a : 0]);
	return transition(hs, HE_ADMIN, hs->state, a, hs->last_verdict, reason, now, ev);
}

void health_init(struct health *hs, uint64_t now)
{
	memset(hs, 0, sizeof(*hs));
	hs->state = HS_CHECKING;
	hs->admin = ADMIN_NONE;
	hs->last_verdict = V_HEALTHY;
	hs->since = now;
	hs->good_since = now;
	snprintf(hs->reason, sizeof(hs->reason), "not checked yet");
}

bool health_routable(const struct health *hs)
{
	return (hs->state == HS_UP || hs->state == HS_SLOW_START) && hs->admin == ADMIN_NONE;
}

unsigned health_weight(const struct health *hs, const struct conf_health *h, unsigned weight,
                       uint64_t now)
{
	unsigned __int128 ramp, w;
	uint64_t elapsed;

	if (weight == 0 || hs->state != HS_SLOW_START || h->slow_start == 0)
		return weight;
	elapsed = now > hs->since ? now - hs->since : 0;
	if (elapsed > h->slow_start)
		elapsed = h->slow_start;
	/* weight x (10% + 90% x elapsed / slow_start) */
	ramp = (unsigned __int128)h->slow_start + (unsigned __int128)elapsed * 9;
	w = (unsigned __int128)weight * ramp / ((unsigned __int128)h->slow_start * 10);
	return w < 1 ? 1 : (unsigned)w;
}

int health_panic_rank(const struct health *hs)
{
	if (hs->admin != ADMIN_NONE)
		return -1; /* maint is out; drain takes no new requests */
	if (hs->last_verdict == V_CRITICAL)
		return 2;
	return hs->last_verdict == V_WARNING ? 1 : 0;
}

int health_pick_rank(const struct health *hs)
{
	if (hs->state == HS_DOWN && hs->down_unreachable)
		return -1;
	return health_panic_rank(hs);
}

uint64_t health_interval(const struct health *hs, const struct conf_health *h)
{
	if (health_routable(hs) || hs->state == HS_CHECKING || h->check_interval_down == 0)
		return h->check_interval;
	return h->check_interval_down;
}
