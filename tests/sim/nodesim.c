/* nodesim: a simulated rippled node for the end-to-end tests, the benchmark and the demo.
 * JSON-RPC and the /sim/ test endpoints on --listen; rippled's GET /health and /crawl over
 * TLS on --peer. Self-contained on purpose: it links nothing from src/. Usage: README.md. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define SIM_MAX_BODY     (1024 * 1024)      /* request bodies above this get 413, */
#define SIM_MAX_STREAM   (64 * 1024 * 1024) /* except on /sim/digest and /sim/echo */
#define SIM_MAX_HEADERS  (64 * 1024)        /* request head bytes */
#define SIM_TIMEOUT_S    60                 /* evhttp read/write inactivity */
#define SIM_MAX_SLEEP_MS (10 * 60 * 1000)
#define SIM_MAX_BIG      (UINT64_C(1) << 40)
#define SIM_PEERS        21           /* peers of a healthy node */
#define BIG_CHUNK        (128 * 1024) /* one chunk queued at a time: memory stays flat */
#define SCRIPT_MAX       32
#define MAX_METHODS      256 /* method names counted one by one in /sim/stats */
#define BUILD_VERSION    "2.3.0"

enum sim_state {
	SIM_HEALTHY = 0,
	SIM_WARNING,
	SIM_CRITICAL,
	SIM_STATE_COUNT
};

static const char *const sim_state_names[SIM_STATE_COUNT] = {
    [SIM_HEALTHY] = "healthy",
    [SIM_WARNING] = "warning",
    [SIM_CRITICAL] = "critical",
};

/* rippled's server_state for each health state. */
static const char *const sim_server_states[SIM_STATE_COUNT] = {
    [SIM_HEALTHY] = "full",
    [SIM_WARNING] = "syncing",
    [SIM_CRITICAL] = "disconnected",
};

/* rippled's JSON-RPC error tokens that nodesim can answer with (ErrorCodes.cpp). */
struct rpc_err {
	const char *token;
	int code;
	const char *message;
};

static const struct rpc_err rpc_errors[] = {
    {"tooBusy", 9, "The server is too busy to help you now."},
    {"slowDown", 10, "You are placing too much load on the server."},
    {"amendmentBlocked", 14, "Amendment blocked, need upgrade."},
    {"noClosed", 15, "Closed ledger is unavailable."},
    {"noCurrent", 16, "Current ledger is unavailable."},
    {"noNetwork", 17, "Not synced to the network."},
    {"notSynced", 18, "Not synced to the network."},
    {"lgrNotFound", 21, "ledgerNotFound"},
    {"invalidParams", 31, "Invalid parameters."},
    {"unknownCmd", 32, "Unknown method."},
};
#define RPC_ERRORS_COUNT (sizeof(rpc_errors) / sizeof(rpc_errors[0]))

/* What the node reports. Set as a whole by sim_set_condition(), the only writer. */
struct condition {
	enum sim_state state;
	unsigned peers;         /* SIM_PEERS, 0 when critical, unless set */
	unsigned load_factor;   /* 1 unless set */
	bool frozen;            /* validated ledger stops although healthy (rippled#5267) */
	bool amendment_blocked; /* reported by server_info and /health */
	const struct rpc_err *rpc_error; /* every JSON-RPC call answers this; NULL: none */
	uint64_t delay_ms;               /* JSON-RPC answers wait this long */
	bool reset_after_request;        /* JSON-RPC requests are read, then the connection reset */
	int http_status;                 /* JSON-RPC answers are this HTTP status instead; 0: no */
	uint64_t lost_below; /* ledgers below this answer lgrNotFound, though still claimed */
};

struct script_step {
	enum sim_state state;
	uint64_t ms;
};

static struct sim {
	struct event_base *base;
	const char *name;
	bool quiet;
	bool peer_keepalive; /* --peer-keepalive: the peer port keeps connections open */
	bool peer_tls13;     /* --peer-tls13: the peer port refuses TLS 1.2 */
	unsigned network_id;
	uint64_t first_ledger;
	uint64_t history; /* first ledger of complete_ledgers (--history; first_ledger) */
	bool history_set;
	uint64_t interval_ms;  /* one validated ledger per interval */
	uint64_t start_ms;     /* monotonic; the network's ledger clock starts here */
	struct condition cond; /* current condition */
	uint64_t seq;          /* last validated ledger this node has */
	uint64_t seq_at_ms;    /* monotonic time it was validated */
	struct script_step script[SCRIPT_MAX];
	size_t n_script, script_i;
	struct event *script_ev;        /* NULL: no script, or stopped by POST /sim/health */
	SSL_CTX *ssl_ctx;               /* peer port */
	uint64_t requests, connections; /* main listener */
	uint64_t peer_requests, peer_connections;
	uint64_t peer_resumed; /* peer requests on a resumed TLS session */
	uint64_t peer_tls12;   /* peer requests over TLS 1.2 */
	json_t *methods; /* JSON-RPC calls received, by method (MAX_METHODS names, then "other") */
} sim = {
    .name = "node",
    .network_id = 0,
    .first_ledger = 90000000,
    .interval_ms = 3500,
};

/* ---- small helpers ---- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "nodesim: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Notes on stderr (state changes); --quiet silences them. */
static void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sim_log(const char *fmt, ...)
{
	va_list ap;
	if (sim.quiet)
		return;
	fprintf(stderr, "nodesim %s: ", sim.name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Decimal digits only, at most max. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* "250ms", "2s", "1.5m", "1h"; a bare number is seconds, as in nodegate's config. */
static int parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"", 1000}, {"m", 60000}, {"h", 3600000}};
	char *end;
	double v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || !(v >= 0))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0 && v * units[i].ms < 1e15) {
			*ms = (uint64_t)(v * units[i].ms + 0.5);
			return 0;
		}
	}
	return -1;
}

static int parse_state(const char *s, enum sim_state *out)
{
	for (int i = 0; i < SIM_STATE_COUNT; i++) {
		if (s != NULL && strcmp(s, sim_state_names[i]) == 0) {
			*out = (enum sim_state)i;
			return 0;
		}
	}
	return -1;
}

static const struct rpc_err *rpc_err_find(const char *token)
{
	for (size_t i = 0; i < RPC_ERRORS_COUNT; i++)
		if (strcmp(rpc_errors[i].token, token) == 0)
			return &rpc_errors[i];
	return NULL;
}

/* ---- the ledger and the health condition ---- */

static bool ledger_advancing(void)
{
	return sim.cond.state == SIM_HEALTHY && !sim.cond.frozen;
}

/* Brings the node's validated ledger up to date. While it advances it follows the network
 * (first_ledger + one per interval since start); otherwise it stays where it stopped, and it
 * catches up at once when it advances again, as a resynced node does. */
static void ledger_sync(uint64_t now)
{
	uint64_t n;

	if (!ledger_advancing())
		return;
	n = (now - sim.start_ms) / sim.interval_ms;
	sim.seq = sim.first_ledger + n;
	sim.seq_at_ms = sim.start_ms + n * sim.interval_ms;
}

static uint64_t ledger_age_s(uint64_t now)
{
	return (now - sim.seq_at_ms) / 1000;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* The same sequence has the same hash on every node of a network. */
static void ledger_hash(uint64_t seq, char out[65])
{
	uint64_t x = seq ^ ((uint64_t)sim.network_id << 40);
	for (int i = 0; i < 4; i++)
		snprintf(out + 16 * i, 17, "%016" PRIX64, splitmix64(&x));
}

static void condition_defaults(struct condition *c, enum sim_state state)
{
	memset(c, 0, sizeof(*c));
	c->state = state;
	c->peers = state == SIM_CRITICAL ? 0 : SIM_PEERS;
	c->load_factor = 1;
}

/* The only writer of sim.cond. The ledger is brought up to date first, so that a node that
 * stops advancing keeps the ledger it had at this moment. */
static void sim_set_condition(const struct condition *c, const char *why)
{
	uint64_t now = now_ms();

	ledger_sync(now);
	if (c->state != sim.cond.state)
		sim_log("health %s -> %s (%s)", sim_state_names[sim.cond.state],
		        sim_state_names[c->state], why);
	sim.cond = *c;
	ledger_sync(now);
}

static void script_arm(void)
{
	struct timeval tv = {
	    .tv_sec = (time_t)(sim.script[sim.script_i].ms / 1000),
	    .tv_usec = (suseconds_t)(sim.script[sim.script_i].ms % 1000 * 1000),
	};
	evtimer_add(sim.script_ev, &tv);
}

static void script_apply(void)
{
	struct condition c;
	condition_defaults(&c, sim.script[sim.script_i].state);
	sim_set_condition(&c, "script");
}

static void script_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	sim.script_i = (sim.script_i + 1) % sim.n_script;
	script_apply();
	script_arm();
}

/* SPEC: "healthy:40s,warning:6s,critical:4s", repeated forever. */
static int script_parse(const char *spec)
{
	char *copy = strdup(spec), *save = NULL, *tok;
	int rc = -1;

	if (copy == NULL)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		struct script_step *st = &sim.script[sim.n_script];
		if (colon == NULL || sim.n_script == SCRIPT_MAX)
			goto fail;
		*colon = '\0';
		if (parse_state(tok, &st->state) < 0 || parse_duration(colon + 1, &st->ms) < 0 ||
		    st->ms == 0)
			goto fail;
		sim.n_script++;
	}
	rc = sim.n_script > 0 ? 0 : -1;
fail:
	free(copy);
	return rc;
}

/* ---- replies ---- */

static void set_header(struct evhttp_request *req, const char *name, const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), name, value);
}

static void reply_bytes(struct evhttp_request *req, int code, const char *ctype, const char *body,
                        size_t len)
{
	if (ctype != NULL)
		set_header(req, "Content-Type", ctype);
	evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	evhttp_send_reply(req, code, NULL, NULL);
}

static void reply_text(struct evhttp_request *req, int code, const char *text)
{
	reply_bytes(req, code, "text/plain", text, strlen(text));
}

/* Takes the reference to j. */
static void reply_json(struct evhttp_request *req, int code, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (s == NULL) {
		reply_text(req, 500, "out of memory\n");
		return;
	}
	reply_bytes(req, code, "application/json", s, strlen(s));
	free(s);
}

static void reply_json_error(struct evhttp_request *req, int code, const char *msg)
{
	reply_json(req, code, json_pack("{s:s}", "error", msg));
}

/* A reply whose head and body are already in req's output, sent after ms. */
struct deferred {
	struct evhttp_request *req;
	int code;
};

static void deferred_fire(evutil_socket_t fd, short what, void *arg)
{
	struct deferred *d = arg;
	(void)fd, (void)what;
	evhttp_send_reply(d->req, d->code, NULL, NULL);
	free(d);
}

static void reply_later(struct evhttp_request *req, int code, uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000 * 1000)};
	struct deferred *d;

	if (ms == 0 || (d = malloc(sizeof(*d))) == NULL) {
		evhttp_send_reply(req, code, NULL, NULL);
		return;
	}
	d->req = req;
	d->code = code;
	if (event_base_once(sim.base, -1, EV_TIMEOUT, deferred_fire, d, &tv) < 0) {
		free(d);
		evhttp_send_reply(req, code, NULL, NULL);
	}
}

/* The value of ?KEY= as a number; on failure answers 400 and returns -1. */
static int query_uint(struct evhttp_request *req, const char *key, uint64_t max, uint64_t *out)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq kv = {0};
	char msg[96];
	int rc = -1;

	TAILQ_INIT(&kv);
	if (q != NULL && evhttp_parse_query_str(q, &kv) == 0)
		rc = parse_uint(evhttp_find_header(&kv, key), max, out);
	evhttp_clear_headers(&kv);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "?%s= needs a number from 0 to %" PRIu64, key, max);
		reply_json_error(req, 400, msg);
	}
	return rc;
}

/* ---- JSON-RPC ---- */

/* A method appends its result object to out. params is params[0] (an object) or NULL. */
typedef void rpc_fn(struct evbuffer *out, const char *method, json_t *params);

/* Appends rippled's error result: the request echoed back with its "command". */
static void rpc_append_error(struct evbuffer *out, const struct rpc_err *e, const char *method,
                             json_t *params)
{
	json_t *request = json_is_object(params) ? json_deep_copy(params) : json_object();
	json_t *res;
	char *s;

	json_object_set_new(request, "command", json_string(method));
	res = json_pack("{s:s, s:i, s:s, s:o, s:s}", "error", e->token, "error_code", e->code,
	                "error_message", e->message, "request", request, "status", "error");
	s = res ? json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (s != NULL)
		evbuffer_add(out, s, strlen(s));
	else
		evbuffer_add_printf(out, "{\"error\":\"%s\",\"status\":\"error\"}", e->token);
	free(s);
	json_decref(res);
}

static void rpc_server_info(struct evbuffer *out, const char *method, json_t *params)
{
	uint64_t now = now_ms();
	const struct condition *c = &sim.cond;
	char hash[65];

	(void)method, (void)params;
	ledger_sync(now);
	ledger_hash(sim.seq, hash);
	evbuffer_add_printf(
	    out,
	    "{\"info\":{%s\"build_version\":\"" BUILD_VERSION "\",\"complete_ledgers\":\"%" PRIu64
	    "-%" PRIu64 "\",\"hostid\":\"%s\",\"load_factor\":%u,\"network_id\":%u,\"peers\":%u,"
	    "\"server_state\":\"%s\",\"uptime\":%" PRIu64 ",\"validated_ledger\":{\"age\":%" PRIu64
	    ",\"base_fee_xrp\":1e-05,\"hash\":\"%s\",\"reserve_base_xrp\":1,\"reserve_inc_xrp\":0."
	    "2,"
	    "\"seq\":%" PRIu64 "}},\"status\":\"success\"}",
	    c->amendment_blocked ? "\"amendment_blocked\":true," : "", sim.history, sim.seq,
	    sim.name, c->load_factor, sim.network_id, c->peers, sim_server_states[c->state],
	    (now - sim.start_ms) / 1000, ledger_age_s(now), hash, sim.seq);
}

static void rpc_ping(struct evbuffer *out, const char *method, json_t *params)
{
	(void)method, (void)params;
	evbuffer_add_printf(out, "{\"status\":\"success\"}");
}

/* A disconnected rippled answers noNetwork to methods that need the network. */
static void rpc_ledger_current(struct evbuffer *out, const char *method, json_t *params)
{
	if (sim.cond.state == SIM_CRITICAL) {
		rpc_append_error(out, rpc_err_find("noNetwork"), method, params);
		return;
	}
	ledger_sync(now_ms());
	evbuffer_add_printf(out, "{\"ledger_current_index\":%" PRIu64 ",\"status\":\"success\"}",
	                    sim.seq + 1);
}

/* ledger_index: a number (or a decimal string), "validated", "closed" or "current"; a
 * number outside complete_ledgers, or below a lost_below override, is lgrNotFound, for
 * history-aware routing. */
static void rpc_ledger(struct evbuffer *out, const char *method, json_t *params)
{
	json_t *li = json_object_get(params, "ledger_index");
	uint64_t seq;
	bool validated = true;
	char hash[65];

	ledger_sync(now_ms());
	seq = sim.seq;
	if (json_is_integer(li) && json_integer_value(li) >= 0) {
		seq = (uint64_t)json_integer_value(li);
	} else if (json_is_string(li) && parse_uint(json_string_value(li), UINT32_MAX, &seq) == 0) {
		/* "32570": rippled takes a ledger index as a string too */
	} else if (json_is_string(li) && strcmp(json_string_value(li), "current") == 0) {
		seq = sim.seq + 1;
		validated = false;
	} else if (li != NULL && !json_is_string(li)) {
		rpc_append_error(out, rpc_err_find("invalidParams"), method, params);
		return;
	}
	if (seq < sim.history || seq < sim.cond.lost_below || seq > sim.seq + !validated) {
		rpc_append_error(out, rpc_err_find("lgrNotFound"), method, params);
		return;
	}
	ledger_hash(seq, hash);
	evbuffer_add_printf(
	    out,
	    "{\"ledger\":{\"closed\":%s,\"ledger_hash\":\"%s\",\"ledger_index\":\"%" PRIu64
	    "\"},\"ledger_hash\":\"%s\",\"ledger_index\":%" PRIu64
	    ",\"status\":\"success\",\"validated\":%s}",
	    validated ? "true" : "false", hash, seq, hash, seq, validated ? "true" : "false");
}

static const struct {
	const char *name;
	rpc_fn *fn;
} rpc_methods[] = {
    {"server_info", rpc_server_info},
    {"ping", rpc_ping},
    {"ledger_current", rpc_ledger_current},
    {"ledger", rpc_ledger},
};

static rpc_fn *rpc_find(const char *method)
{
	for (size_t i = 0; i < sizeof(rpc_methods) / sizeof(rpc_methods[0]); i++)
		if (strcmp(rpc_methods[i].name, method) == 0)
			return rpc_methods[i].fn;
	return NULL;
}

/* Checks a request object as rippled does; the reason goes to err (rippled answers 400). */
static int rpc_check(json_t *rq, const char **method, json_t **params, char *err, size_t errlen)
{
	json_t *m = json_object_get(rq, "method"), *p = json_object_get(rq, "params");

	if (!json_is_object(rq))
		snprintf(err, errlen, "Unable to parse request");
	else if (m == NULL || json_is_null(m))
		snprintf(err, errlen, "Null method");
	else if (!json_is_string(m))
		snprintf(err, errlen, "method is not string");
	else if (json_string_length(m) == 0)
		snprintf(err, errlen, "method is empty");
	else if (p != NULL &&
	         (!json_is_array(p) || json_array_size(p) != 1 ||
	          !(json_is_object(json_array_get(p, 0)) || json_is_null(json_array_get(p, 0)))))
		snprintf(err, errlen, "params unparseable");
	else {
		*method = json_string_value(m);
		*params = json_is_object(json_array_get(p, 0)) ? json_array_get(p, 0) : NULL;
		return 0;
	}
	return -1;
}

/* Counts a call of METHOD for GET /sim/stats. */
static void method_count(const char *method)
{
	json_t *n = json_object_get(sim.methods, method);

	if (n == NULL && json_object_size(sim.methods) >= MAX_METHODS)
		n = json_object_get(sim.methods, method = "other");
	if (n != NULL)
		json_integer_set(n, json_integer_value(n) + 1);
	else
		json_object_set_new(sim.methods, method, json_integer(1));
}

/* No answer: the connection is reset (RST, not FIN), as a crashing node's would be. */
static void reset_connection(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	evhttp_connection_free(evcon);
}

/* Appends {"result":...} for one request, echoing id, jsonrpc and ripplerpc. */
static int rpc_one(struct evbuffer *out, json_t *rq, char *err, size_t errlen)
{
	static const char *const echo[] = {"id", "jsonrpc", "ripplerpc"};
	const char *method;
	json_t *params;
	rpc_fn *fn;

	if (rpc_check(rq, &method, &params, err, errlen) < 0)
		return -1;
	method_count(method);
	evbuffer_add(out, "{\"result\":", 10);
	if (sim.cond.rpc_error != NULL)
		rpc_append_error(out, sim.cond.rpc_error, method, params);
	else if ((fn = rpc_find(method)) != NULL)
		fn(out, method, params);
	else
		rpc_append_error(out, rpc_err_find("unknownCmd"), method, params);
	for (size_t i = 0; i < sizeof(echo) / sizeof(echo[0]); i++) {
		json_t *v = json_object_get(rq, echo[i]);
		char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		if (s != NULL)
			evbuffer_add_printf(out, ",\"%s\":%s", echo[i], s);
		free(s);
	}
	evbuffer_add(out, "}", 1);
	return 0;
}

/* An array of requests gets an array of replies; a malformed element gets an error reply. */
static void rpc_batch(struct evbuffer *out, json_t *arr)
{
	size_t i;
	json_t *rq;
	char err[64];

	evbuffer_add(out, "[", 1);
	json_array_foreach(arr, i, rq)
	{
		if (i > 0)
			evbuffer_add(out, ",", 1);
		if (rpc_one(out, rq, err, sizeof(err)) < 0)
			evbuffer_add_printf(
			    out,
			    "{\"result\":{\"error\":\"invalidParams\",\"error_code\":"
			    "31,\"error_message\":\"%s\",\"status\":\"error\"}}",
			    err);
	}
	evbuffer_add(out, "]", 1);
}

/* POST to any path outside /sim/: a rippled JSON-RPC request, a top-level batch array, or
 * rippled's {"method":"batch","params":[...]}. Unparseable input gets 400 and a text. */
static void rpc_handle(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	size_t len = evbuffer_get_length(in);
	json_error_t jerr;
	json_t *root =
	    len ? json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &jerr) : NULL;
	json_t *m = json_object_get(root, "method");
	char err[256];
	int rc = 0;

	if (root == NULL) {
		snprintf(err, sizeof(err), "Unable to parse request: %s\n",
		         len ? jerr.text : "empty body");
		reply_text(req, 400, err);
		return;
	}
	if (json_is_array(root))
		rpc_batch(out, root);
	else if (json_is_string(m) && strcmp(json_string_value(m), "batch") == 0 &&
	         json_is_array(json_object_get(root, "params")))
		rpc_batch(out, json_object_get(root, "params"));
	else
		rc = rpc_one(out, root, err, sizeof(err) - 1);
	json_decref(root);
	if (rc < 0) {
		evbuffer_drain(out, evbuffer_get_length(out));
		strcat(err, "\n");
		reply_text(req, 400, err);
		return;
	}
	if (sim.cond.reset_after_request || sim.cond.http_status != 0) {
		evbuffer_drain(out, evbuffer_get_length(out));
		if (sim.cond.reset_after_request) {
			reset_connection(req);
			return;
		}
		set_header(req, "Content-Type", "application/json");
		evbuffer_add_printf(out, "{\"code\":%d}", sim.cond.http_status);
		reply_later(req, sim.cond.http_status, sim.cond.delay_ms);
		return;
	}
	set_header(req, "Content-Type", "application/json; charset=UTF-8");
	reply_later(req, 200, sim.cond.delay_ms);
}

/* ---- /sim/ endpoints on the main listener ---- */

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	default:
		return "OTHER";
	}
}

/* A JSON string even for bytes that are not UTF-8 (each becomes '?'). */
static json_t *json_string_lossy(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j != NULL || (copy = strdup(s)) == NULL)
		return j;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* Header names lowercased, values listed in arrival order. */
static json_t *headers_json(struct evkeyvalq *hq)
{
	json_t *hdrs = json_object();
	struct evkeyval *kv;

	TAILQ_FOREACH(kv, hq, next)
	{
		char *name = strdup(kv->key);
		json_t *list;
		if (name == NULL)
			continue;
		for (char *p = name; *p; p++)
			*p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
		if ((list = json_object_get(hdrs, name)) == NULL) {
			list = json_array();
			json_object_set_new(hdrs, name, list);
		}
		json_array_append_new(list, json_string_lossy(kv->value));
		free(name);
	}
	return hdrs;
}

static void sim_headers(struct evhttp_request *req)
{
	char *peer = NULL, version[16];
	ev_uint16_t port = 0;

	evhttp_connection_get_peer(evhttp_request_get_connection(req), &peer, &port);
	snprintf(version, sizeof(version), "HTTP/%d.%d", req->major, req->minor);
	reply_json(req, 200,
	           json_pack("{s:s, s:o, s:s, s:s, s:I, s:o}", "method",
	                     method_name(evhttp_request_get_command(req)), "uri",
	                     json_string_lossy(evhttp_request_get_uri(req)), "peer",
	                     peer ? peer : "", "version", version, "body_bytes",
	                     (json_int_t)evbuffer_get_length(evhttp_request_get_input_buffer(req)),
	                     "headers", headers_json(evhttp_request_get_input_headers(req))));
}

static void sim_echo(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *ctype =
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	char n[24];

	snprintf(n, sizeof(n), "%zu", evbuffer_get_length(in));
	set_header(req, "X-Body-Bytes", n);
	if (ctype != NULL)
		set_header(req, "Content-Type", ctype);
	evbuffer_add_buffer(evhttp_request_get_output_buffer(req), in);
	evhttp_send_reply(req, 200, NULL, NULL);
}

static void sim_digest(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	int n = evbuffer_peek(in, -1, NULL, NULL, 0);
	struct evbuffer_iovec *v = calloc((size_t)(n > 0 ? n : 1), sizeof(*v));
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	if (v == NULL || ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto fail;
	n = evbuffer_peek(in, -1, NULL, v, n);
	for (int i = 0; i < n; i++)
		if (!EVP_DigestUpdate(ctx, v[i].iov_base, v[i].iov_len))
			goto fail;
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen))
		goto fail;
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	reply_json(
	    req, 200,
	    json_pack("{s:I, s:s}", "bytes", (json_int_t)evbuffer_get_length(in), "sha256", hex));
	free(v);
	EVP_MD_CTX_free(ctx);
	return;
fail:
	free(v);
	EVP_MD_CTX_free(ctx);
	reply_json_error(req, 500, "digest failed");
}

/* One /sim/big stream: a chunk is queued only when the previous one has been written. */
struct big {
	struct evhttp_request *req;
	struct evbuffer *chunk;
	uint64_t off, len;
};

/* Byte i is 'a' + i % 26; chunks point into this, nothing is copied. */
static char big_pattern[BIG_CHUNK + 26];

static void big_free(struct big *b, struct evhttp_connection *evcon)
{
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	evbuffer_free(b->chunk);
	free(b);
}

/* The client went away mid-stream: evhttp has detached the request; ending it frees it. */
static void big_closed(struct evhttp_connection *evcon, void *arg)
{
	struct big *b = arg;
	evhttp_send_reply_end(b->req);
	big_free(b, evcon);
}

static void big_next(struct evhttp_connection *evcon, void *arg)
{
	struct big *b = arg;
	size_t n;

	if (b->off == b->len) {
		struct evhttp_request *req = b->req;
		big_free(b, evcon);
		evhttp_send_reply_end(req);
		return;
	}
	n = b->len - b->off < BIG_CHUNK ? (size_t)(b->len - b->off) : BIG_CHUNK;
	evbuffer_add_reference(b->chunk, big_pattern + b->off % 26, n, NULL, NULL);
	b->off += n;
	evhttp_send_reply_chunk_with_cb(b->req, b->chunk, big_next, b);
}

static void sim_big(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct big *b;
	uint64_t len;
	char n[24];

	if (query_uint(req, "bytes", SIM_MAX_BIG, &len) < 0)
		return;
	if ((b = calloc(1, sizeof(*b))) == NULL || (b->chunk = evbuffer_new()) == NULL) {
		free(b);
		reply_json_error(req, 500, "out of memory");
		return;
	}
	b->req = req;
	b->len = len;
	snprintf(n, sizeof(n), "%" PRIu64, len);
	set_header(req, "X-Big-Bytes", n);
	set_header(req, "Content-Type", "application/octet-stream");
	evhttp_connection_set_closecb(evcon, big_closed, b);
	evhttp_send_reply_start(req, 200, NULL);
	big_next(evcon, b);
}

static void sim_sleep(struct evhttp_request *req)
{
	uint64_t ms;

	if (query_uint(req, "ms", SIM_MAX_SLEEP_MS, &ms) < 0)
		return;
	set_header(req, "Content-Type", "application/json");
	evbuffer_add_printf(evhttp_request_get_output_buffer(req), "{\"slept\":%" PRIu64 "}", ms);
	reply_later(req, 200, ms);
}

static void sim_status(struct evhttp_request *req)
{
	uint64_t code;

	if (query_uint(req, "code", 599, &code) < 0)
		return;
	if (code < 200) {
		reply_json_error(req, 400, "?code= must be from 200 to 599");
		return;
	}
	if (code == 204 || code == 304) {
		evhttp_send_reply(req, (int)code, NULL, NULL);
		return;
	}
	set_header(req, "Content-Type", "application/json");
	evbuffer_add_printf(evhttp_request_get_output_buffer(req), "{\"code\":%d}", (int)code);
	evhttp_send_reply(req, (int)code, NULL, NULL);
}

/* No answer: the connection (and with it the request) is freed. */
static void sim_close(struct evhttp_request *req)
{
	evhttp_connection_free(evhttp_request_get_connection(req));
}

static void sim_stats(struct evhttp_request *req)
{
	reply_json(req, 200,
	           json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:O}", "requests",
	                     (json_int_t)sim.requests, "connections", (json_int_t)sim.connections,
	                     "peer_requests", (json_int_t)sim.peer_requests, "peer_connections",
	                     (json_int_t)sim.peer_connections, "peer_resumed",
	                     (json_int_t)sim.peer_resumed, "peer_tls12", (json_int_t)sim.peer_tls12,
	                     "methods", sim.methods));
}

static json_t *condition_json(const struct condition *c)
{
	return json_pack("{s:s, s:s, s:i, s:i, s:b, s:b, s:s?, s:I, s:I, s:b, s:b, s:i}", "state",
	                 sim_state_names[c->state], "server_state", sim_server_states[c->state],
	                 "peers", (int)c->peers, "load_factor", (int)c->load_factor, "frozen",
	                 c->frozen, "amendment_blocked", c->amendment_blocked, "rpc_error",
	                 c->rpc_error ? c->rpc_error->token : NULL, "delay_ms",
	                 (json_int_t)c->delay_ms, "lost_below", (json_int_t)c->lost_below, "script",
	                 sim.script_ev != NULL, "reset_after_request", c->reset_after_request,
	                 "http_status", c->http_status);
}

/* Fields past "state" override the state's defaults; absent ones are reset. */
static int condition_parse(json_t *j, struct condition *c, const char **err)
{
	const char *key;
	json_t *v;
	enum sim_state st;

	*err = "body must be {\"state\":\"healthy|warning|critical\", ...}";
	if (!json_is_object(j) || parse_state(json_string_value(json_object_get(j, "state")), &st))
		return -1;
	condition_defaults(c, st);
	json_object_foreach(j, key, v)
	{
		bool isnum = json_is_integer(v) && json_integer_value(v) >= 0 &&
		             json_integer_value(v) <= 1000000000;
		if (strcmp(key, "state") == 0)
			continue;
		else if (strcmp(key, "peers") == 0 && isnum)
			c->peers = (unsigned)json_integer_value(v);
		else if (strcmp(key, "load_factor") == 0 && isnum)
			c->load_factor = (unsigned)json_integer_value(v);
		else if (strcmp(key, "delay_ms") == 0 && isnum)
			c->delay_ms = (uint64_t)json_integer_value(v);
		else if (strcmp(key, "lost_below") == 0 && json_is_integer(v) &&
		         json_integer_value(v) >= 0 && json_integer_value(v) <= UINT32_MAX)
			c->lost_below = (uint64_t)json_integer_value(v);
		else if (strcmp(key, "frozen") == 0 && json_is_boolean(v))
			c->frozen = json_is_true(v);
		else if (strcmp(key, "amendment_blocked") == 0 && json_is_boolean(v))
			c->amendment_blocked = json_is_true(v);
		else if (strcmp(key, "reset_after_request") == 0 && json_is_boolean(v))
			c->reset_after_request = json_is_true(v);
		else if (strcmp(key, "http_status") == 0 && isnum && json_integer_value(v) >= 500 &&
		         json_integer_value(v) <= 599)
			c->http_status = (int)json_integer_value(v);
		else if (strcmp(key, "rpc_error") == 0 && json_is_string(v) &&
		         (c->rpc_error = rpc_err_find(json_string_value(v))) != NULL)
			continue;
		else {
			*err =
			    "unknown key or bad value (peers, load_factor, delay_ms, lost_below: "
			    "numbers; frozen, amendment_blocked, reset_after_request: booleans; "
			    "rpc_error: a rippled token; http_status: 500..599)";
			return -1;
		}
	}
	return 0;
}

/* GET shows the condition; POST sets it and stops a --script. */
static void sim_health(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	json_t *j;
	struct condition c;
	const char *err;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		reply_json(req, 200, condition_json(&sim.cond));
		return;
	}
	j = len ? json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, NULL) : NULL;
	if (condition_parse(j, &c, &err) < 0) {
		json_decref(j);
		reply_json_error(req, 400, err);
		return;
	}
	json_decref(j);
	if (sim.script_ev != NULL) {
		event_free(sim.script_ev);
		sim.script_ev = NULL;
		sim_log("script stopped by POST /sim/health");
	}
	sim_set_condition(&c, "POST /sim/health");
	evhttp_send_reply(req, 204, NULL, NULL);
}

#define ANY_METHOD 0xffff
static const struct {
	const char *path;
	unsigned methods; /* enum evhttp_cmd_type bits */
	size_t max_body;  /* larger bodies get 413 */
	void (*fn)(struct evhttp_request *req);
} sim_routes[] = {
    {"/sim/headers", ANY_METHOD, SIM_MAX_BODY, sim_headers},
    {"/sim/echo", ANY_METHOD, SIM_MAX_STREAM, sim_echo},
    {"/sim/digest", ANY_METHOD, SIM_MAX_STREAM, sim_digest},
    {"/sim/big", EVHTTP_REQ_GET, SIM_MAX_BODY, sim_big},
    {"/sim/sleep", EVHTTP_REQ_GET | EVHTTP_REQ_POST, SIM_MAX_BODY, sim_sleep},
    {"/sim/status", ANY_METHOD, SIM_MAX_BODY, sim_status},
    {"/sim/close", ANY_METHOD, SIM_MAX_BODY, sim_close},
    {"/sim/stats", EVHTTP_REQ_GET, SIM_MAX_BODY, sim_stats},
    {"/sim/health", EVHTTP_REQ_GET | EVHTTP_REQ_POST, SIM_MAX_BODY, sim_health},
};

/* evhttp's own limit is SIM_MAX_STREAM (it has no per-path hook before the body is read);
 * the smaller per-path limit is checked here. */
static bool body_too_big(struct evhttp_request *req, size_t max)
{
	if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) <= max)
		return false;
	set_header(req, "Connection", "close");
	reply_json_error(req, 413, "request body too large");
	return true;
}

static const char *request_path(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	return path && *path ? path : "/";
}

static void main_cb(struct evhttp_request *req, void *arg)
{
	const char *path = request_path(req);
	unsigned cmd = (unsigned)evhttp_request_get_command(req);

	(void)arg;
	sim.requests++;
	set_header(req, "X-Node", sim.name);
	if (strncmp(path, "/sim/", 5) != 0) {
		if (cmd != EVHTTP_REQ_POST)
			reply_text(req, 405, "JSON-RPC takes POST\n");
		else if (!body_too_big(req, SIM_MAX_BODY))
			rpc_handle(req);
		return;
	}
	for (size_t i = 0; i < sizeof(sim_routes) / sizeof(sim_routes[0]); i++) {
		if (strcmp(path, sim_routes[i].path) != 0)
			continue;
		if (!(sim_routes[i].methods & cmd))
			reply_json_error(req, 405, "method not allowed here");
		else if (!body_too_big(req, sim_routes[i].max_body))
			sim_routes[i].fn(req);
		return;
	}
	reply_json_error(req, 404, "no such /sim/ endpoint");
}

/* ---- the peer port: rippled's /health and /crawl over TLS ---- */

/* rippled's verdict, metric by metric: only metrics out of range are listed. The validated
 * ledger's age is never reported, as rippled#5267 hides it; a warning node has none (-1). */
static void peer_health(struct evhttp_request *req)
{
	const struct condition *c = &sim.cond;
	json_t *info = json_object(), *body;
	enum sim_state worst = SIM_HEALTHY;
	char *s;

#define METRIC(bad, sev, key, val)                                                                 \
	do {                                                                                       \
		if (bad) {                                                                         \
			json_object_set_new(info, key, val);                                       \
			worst = (sev) > worst ? (sev) : worst;                                     \
		}                                                                                  \
	} while (0)
	METRIC(c->amendment_blocked, SIM_CRITICAL, "amendment_blocked", json_true());
	METRIC(c->load_factor > 100, c->load_factor >= 1000 ? SIM_CRITICAL : SIM_WARNING,
	       "load_factor", json_integer(c->load_factor));
	METRIC(c->peers <= 7, c->peers == 0 ? SIM_CRITICAL : SIM_WARNING, "peers",
	       json_integer(c->peers));
	METRIC(c->state != SIM_HEALTHY, c->state, "server_state",
	       json_string(sim_server_states[c->state]));
	METRIC(c->state == SIM_WARNING, SIM_WARNING, "validated_ledger", json_integer(-1));
#undef METRIC
	body = json_pack("{s:o}", "info", info);
	s = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(body);
	reply_bytes(req,
	            worst == SIM_HEALTHY   ? 200
	            : worst == SIM_WARNING ? 503
	                                   : 500,
	            "application/json", s ? s : "{}", s ? strlen(s) : 2);
	free(s);
}

/* The "server" section rippled's crawl shows; close_time counts from 2000-01-01 (Ripple
 * epoch): Unix time = close_time + 946684800. */
static void peer_crawl(struct evhttp_request *req)
{
	uint64_t now = now_ms();
	const struct condition *c = &sim.cond;
	char hash[65], ledgers[48];
	int64_t close_time;

	ledger_sync(now);
	ledger_hash(sim.seq, hash);
	close_time = (int64_t)time(NULL) - (int64_t)ledger_age_s(now) - 946684800;
	snprintf(ledgers, sizeof(ledgers), "%" PRIu64 "-%" PRIu64, sim.history, sim.seq);
	reply_json(req, 200,
	           json_pack("{s:{s:[]}, s:{s:s, s:s, s:i, s:i, s:i, s:i, s:s, s:I, s:{s:I, "
	                     "s:s, s:I}}, s:i}",
	                     "overlay", "active", "server", "build_version", BUILD_VERSION,
	                     "complete_ledgers", ledgers, "load_base", 256, "load_factor",
	                     (int)c->load_factor * 256, "network_id", (int)sim.network_id, "peers",
	                     (int)c->peers, "server_state", sim_server_states[c->state], "uptime",
	                     (json_int_t)((now - sim.start_ms) / 1000), "validated_ledger",
	                     "close_time", (json_int_t)close_time, "hash", hash, "seq",
	                     (json_int_t)sim.seq, "version", 2));
}

static void peer_cb(struct evhttp_request *req, void *arg)
{
	const char *path = request_path(req);

	(void)arg;
	struct bufferevent *bev =
	    evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
	SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;

	sim.peer_requests++;
	if (ssl != NULL && SSL_session_reused(ssl))
		sim.peer_resumed++;
	if (ssl != NULL && SSL_version(ssl) == TLS1_2_VERSION)
		sim.peer_tls12++;
	set_header(req, "X-Node", sim.name);
	if (!sim.peer_keepalive)
		set_header(req, "Connection", "close"); /* as rippled */
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET)
		reply_text(req, 405, "Method Not Allowed\n");
	else if (strcmp(path, "/health") == 0)
		peer_health(req);
	else if (strcmp(path, "/crawl") == 0)
		peer_crawl(req);
	else
		reply_text(req, 404, "Not Found\n");
}

/* ---- listeners ---- */

static struct bufferevent *main_bevcb(struct event_base *base, void *arg)
{
	(void)arg;
	sim.connections++;
	return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

static struct bufferevent *peer_bevcb(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(sim.ssl_ctx);
	struct bufferevent *bev;

	(void)arg;
	sim.peer_connections++;
	if (ssl == NULL)
		die("SSL_new failed");
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		die("bufferevent_openssl_socket_new failed");
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static void addr_format(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		snprintf(buf, len, "[%s]:%u", host, port);
		return;
	}
	inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof(host));
	port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	snprintf(buf, len, "%s:%u", host, port);
}

/* HOST:PORT or [V6]:PORT; "*" or an empty host is every address. Port 0: the kernel picks.
 * Returns a non-blocking listening socket and the bound address, or -1 with err set. */
static int listen_on(const char *spec, char *bound, size_t boundlen, char *err, size_t errlen)
{
	char host[256];
	const char *port, *h = host;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
	                *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int fd = -1, one = 1, rc;

	snprintf(err, errlen, "cannot listen on %s", spec);
	port = spec[0] == '[' ? strstr(spec, "]:") : strrchr(spec, ':');
	if (port == NULL || (size_t)(port - spec) >= sizeof(host)) {
		snprintf(err, errlen, "%s: expected HOST:PORT", spec);
		return -1;
	}
	memcpy(host, spec + (spec[0] == '['), (size_t)(port - spec) - (spec[0] == '['));
	host[(size_t)(port - spec) - (spec[0] == '[')] = '\0';
	port += spec[0] == '[' ? 2 : 1;
	if (strcmp(host, "*") == 0 || host[0] == '\0')
		h = NULL;
	if ((rc = getaddrinfo(h, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", spec, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0 &&
		    (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		     bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0)) {
			snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
		addr_format(&ss, bound, boundlen);
	return fd;
}

static struct evhttp *http_start(const char *spec, void (*cb)(struct evhttp_request *, void *),
                                 struct bufferevent *(*bevcb)(struct event_base *, void *),
                                 size_t max_body, char *bound, size_t boundlen)
{
	struct evhttp *http = evhttp_new(sim.base);
	char err[512];
	int fd = listen_on(spec, bound, boundlen, err, sizeof(err));

	if (fd < 0)
		die("%s", err);
	if (http == NULL || evhttp_accept_socket_with_handle(http, fd) == NULL)
		die("cannot serve HTTP on %s", spec);
	evhttp_set_gencb(http, cb, NULL);
	evhttp_set_bevcb(http, bevcb, NULL);
	evhttp_set_timeout(http, SIM_TIMEOUT_S);
	evhttp_set_max_body_size(http, (ev_ssize_t)max_body);
	evhttp_set_max_headers_size(http, SIM_MAX_HEADERS);
	evhttp_set_default_content_type(http, NULL);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                     EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
	return http;
}

static SSL_CTX *tls_ctx_new(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char err[256] = "";

	if (ctx == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, sim.peer_tls13 ? TLS1_3_VERSION : TLS1_2_VERSION))
		die("cannot set up TLS");
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_error_string_n(ERR_get_error(), err, sizeof(err));
		die("--cert %s --key %s: %s", cert, key, err);
	}
	return ctx;
}

/* ---- main ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what, (void)arg;
	event_base_loopbreak(sim.base);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: nodesim --listen HOST:PORT [--name NAME] [--peer HOST:PORT --cert FILE "
	           "--key FILE]\n"
	           "               [--state healthy|warning|critical] [--script SPEC] "
	           "[--ledger-interval DURATION]\n"
	           "               [--network-id N] [--first-ledger N] [--history FROM] "
	           "[--peer-keepalive] [--peer-tls13] [--quiet]\n"
	           "A simulated rippled node: JSON-RPC and /sim/ test endpoints on --listen, GET "
	           "/health\n"
	           "and /crawl over TLS on --peer. SPEC: healthy:40s,warning:6s,... (repeats).\n");
}

struct options {
	const char *listen, *peer, *cert, *key, *script;
	enum sim_state state;
};

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"name", required_argument, NULL, 'n'},
	    {"peer", required_argument, NULL, 'p'},
	    {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},
	    {"state", required_argument, NULL, 's'},
	    {"script", required_argument, NULL, 'S'},
	    {"ledger-interval", required_argument, NULL, 'i'},
	    {"network-id", required_argument, NULL, 'N'},
	    {"first-ledger", required_argument, NULL, 'f'},
	    {"history", required_argument, NULL, 'H'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"peer-keepalive", no_argument, NULL, 'K'},
	    {"peer-tls13", no_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t v;
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			o->listen = optarg;
			break;
		case 'n':
			if (!name_ok(optarg))
				die("--name %s: use 1 to 64 of A-Z a-z 0-9 . _ -", optarg);
			sim.name = optarg;
			break;
		case 'p':
			o->peer = optarg;
			break;
		case 'c':
			o->cert = optarg;
			break;
		case 'k':
			o->key = optarg;
			break;
		case 's':
			if (parse_state(optarg, &o->state) < 0)
				die("--state %s: expected healthy, warning or critical", optarg);
			break;
		case 'S':
			o->script = optarg;
			sim.n_script = 0;
			if (script_parse(optarg) < 0)
				die("--script %s: expected STATE:DURATION[,...] (at most %d steps)",
				    optarg, SCRIPT_MAX);
			break;
		case 'i':
			if (parse_duration(optarg, &sim.interval_ms) < 0 || sim.interval_ms == 0)
				die("--ledger-interval %s: expected a duration (3500ms, 2s)",
				    optarg);
			break;
		case 'N':
			if (parse_uint(optarg, UINT32_MAX, &v) < 0)
				die("--network-id %s: expected a number", optarg);
			sim.network_id = (unsigned)v;
			break;
		case 'f':
			if (parse_uint(optarg, UINT32_MAX, &sim.first_ledger) < 0)
				die("--first-ledger %s: expected a number", optarg);
			break;
		case 'H':
			if (parse_uint(optarg, UINT32_MAX, &sim.history) < 0)
				die("--history %s: expected a number", optarg);
			sim.history_set = true;
			break;
		case 'K':
			sim.peer_keepalive = true;
			break;
		case 'T':
			sim.peer_tls13 = true;
			break;
		case 'q':
			sim.quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc || o->listen == NULL) {
		usage(stderr);
		exit(2);
	}
	if (o->peer != NULL && (o->cert == NULL || o->key == NULL))
		die("--peer needs --cert and --key");
	if (!sim.history_set)
		sim.history = sim.first_ledger;
	if (sim.history > sim.first_ledger)
		die("--history %" PRIu64 ": expected at most --first-ledger (%" PRIu64 ")",
		    sim.history, sim.first_ledger);
}

int main(int argc, char **argv)
{
	struct options o = {.state = SIM_HEALTHY};
	struct condition c;
	char bound[300], peer_bound[300];

	parse_args(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(big_pattern); i++)
		big_pattern[i] = (char)('a' + i % 26);
	if ((sim.base = event_base_new()) == NULL)
		die("event_base_new failed");
	if ((sim.methods = json_object()) == NULL)
		die("out of memory");
	sim.start_ms = now_ms();
	sim.seq = sim.first_ledger;
	sim.seq_at_ms = sim.start_ms;
	condition_defaults(&c, o.state);
	sim.cond = c;

	if (sim.n_script > 0) {
		sim.script_ev = evtimer_new(sim.base, script_tick, NULL);
		script_apply();
		script_arm();
	}
	/* Signals are handled before the first line: whoever reads it may stop us at once. */
	if (evsignal_add(evsignal_new(sim.base, SIGTERM, on_signal, NULL), NULL) < 0 ||
	    evsignal_add(evsignal_new(sim.base, SIGINT, on_signal, NULL), NULL) < 0)
		die("cannot handle signals");
	/* Both listeners are up before either line is printed: a failure prints none. */
	if (o.peer != NULL)
		sim.ssl_ctx = tls_ctx_new(o.cert, o.key);
	http_start(o.listen, main_cb, main_bevcb, SIM_MAX_STREAM, bound, sizeof(bound));
	if (o.peer != NULL)
		http_start(o.peer, peer_cb, peer_bevcb, SIM_MAX_BODY, peer_bound,
		           sizeof(peer_bound));
	printf("nodesim %s listening on %s\n", sim.name, bound);
	if (o.peer != NULL)
		printf("nodesim %s peer on %s\n", sim.name, peer_bound);
	fflush(stdout);

	event_base_dispatch(sim.base);
	return 0;
}
