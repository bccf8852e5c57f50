/* JSON-RPC inspection of request bodies (jansson): methods, replay safety, and the method
 * policy of a listener (rippled's admin methods, allow/deny lists, secrets). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#include <immintrin.h>
#endif

#include <jansson.h>

#include "util.h"
#include "proxy/rpc.h"
#include "proxy/rpcscan.h"

const char *const rpc_refusal_names[RPC_REFUSAL_COUNT] = {
    [RPC_ALLOWED] = "allowed",
    [RPC_DENIED] = "denied",
    [RPC_SECRET] = "secret",
};

enum method_flags {
	M_ADMIN = 1, /* Role::ADMIN in rippled's handler table: denied on public listeners */
	M_WRITE = 2, /* changes state or signs: never replayed */
};

/* rippled's (and Clio's) methods: the bounded set of metric labels, with what each one is.
 * Admin rows follow rippled's handler table (Role::ADMIN), removed methods included (shards,
 * validation_seed) since older nodes still serve them. "feature" is public, but voting
 * (params with "vetoed") is admin: see call_denied(). Sorted by name; method_find hashes. */
static const struct method_row {
	const char *name;
	unsigned flags;
} methods[] = {
    {"account_channels", 0},
    {"account_currencies", 0},
    {"account_info", 0},
    {"account_lines", 0},
    {"account_nfts", 0},
    {"account_objects", 0},
    {"account_offers", 0},
    {"account_tx", 0},
    {"amm_info", 0},
    {"batch", 0},
    {"blacklist", M_ADMIN},
    {"book_changes", 0},
    {"book_offers", 0},
    {"can_delete", M_ADMIN},
    {"channel_authorize", M_WRITE},
    {"channel_verify", 0},
    {"connect", M_ADMIN},
    {"consensus_info", M_ADMIN},
    {"crawl_shards", M_ADMIN},
    {"deposit_authorized", 0},
    {"download_shard", M_ADMIN},
    {"feature", 0},
    {"fee", 0},
    {"fetch_info", M_ADMIN},
    {"gateway_balances", 0},
    {"get_aggregate_price", 0},
    {"get_counts", M_ADMIN},
    {"ledger", 0},
    {"ledger_accept", M_ADMIN},
    {"ledger_cleaner", M_ADMIN},
    {"ledger_closed", 0},
    {"ledger_current", 0},
    {"ledger_data", 0},
    {"ledger_entry", 0},
    {"ledger_header", 0},
    {"ledger_index", 0},
    {"ledger_request", M_ADMIN},
    {"log_level", M_ADMIN},
    {"logrotate", M_ADMIN},
    {"manifest", 0},
    {"nft_buy_offers", 0},
    {"nft_history", 0},
    {"nft_info", 0},
    {"nft_sell_offers", 0},
    {"nfts_by_issuer", 0},
    {"node_to_shard", M_ADMIN},
    {"noripple_check", 0},
    {"owner_info", 0},
    {"path_find", 0},
    {"peer_reservations_add", M_ADMIN},
    {"peer_reservations_del", M_ADMIN},
    {"peer_reservations_list", M_ADMIN},
    {"peers", M_ADMIN},
    {"ping", 0},
    {"print", M_ADMIN},
    {"random", 0},
    {"ripple_path_find", 0},
    {"server_definitions", 0},
    {"server_info", 0},
    {"server_state", 0},
    {"shed", M_ADMIN},
    {"sign", M_WRITE},
    {"sign_for", M_WRITE},
    {"simulate", 0},
    {"stop", M_ADMIN},
    {"submit", M_WRITE},
    {"submit_multisigned", M_WRITE},
    {"subscribe", 0},
    {"transaction_entry", 0},
    {"tx", 0},
    {"tx_history", 0},
    {"tx_reduce_relay", 0},
    {"unl_list", M_ADMIN},
    {"unsubscribe", 0},
    {"validation_create", M_ADMIN},
    {"validation_seed", M_ADMIN},
    {"validator_info", M_ADMIN},
    {"validator_list_sites", M_ADMIN},
    {"validators", M_ADMIN},
    {"vault_info", 0},
    {"version", 0},
    {"wallet_propose", M_ADMIN},
};

/* Method names of one list option, cut out of one copy of the option's value. */
struct name_list {
	char *buf;
	char **v;
	size_t n;
};

struct rpc_policy {
	size_t inspect_max;
	bool admin_profile; /* rippled's admin methods are denied */
	bool secrets;       /* requests carrying secrets are refused (a public listener) */
	bool strict;        /* a body that is not strict JSON is refused (rippled reads more) */
	struct name_list allow, deny, writes;
};

/* The rows by a hash of their names (open addressing, linear probing): every request looks
 * up its method, and a bisection of the sorted table took five strcmp calls for most of
 * them. Made once, on the first lookup. */
#define METHOD_SLOTS 256 /* a power of two, over twice the rows */
static uint8_t method_slot[METHOD_SLOTS]; /* 1 + the row's index; 0: free */
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

_Static_assert(ARRAY_SIZE(methods) * 2 <= METHOD_SLOTS && ARRAY_SIZE(methods) < 255,
               "the method table outgrew its hash");

/* FNV-1a of the name S. */
static uint32_t method_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void method_index(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
		uint32_t k = method_hash(methods[i].name) & (METHOD_SLOTS - 1);
		while (method_slot[k] != 0)
			k = (k + 1) & (METHOD_SLOTS - 1);
		method_slot[k] = (uint8_t)(i + 1);
	}
}

static const struct method_row *method_find(const char *method)
{
	pthread_once(&method_once, method_index);
	for (uint32_t k = method_hash(method) & (METHOD_SLOTS - 1); method_slot[k] != 0;
	     k = (k + 1) & (METHOD_SLOTS - 1)) {
		const struct method_row *row = &methods[method_slot[k] - 1];
		if (strcmp(row->name, method) == 0)
			return row;
	}
	return NULL;
}

bool rpc_is_write_method(const char *method)
{
	const struct method_row *m = method_find(method);

	return m != NULL && (m->flags & M_WRITE);
}

/* The label of a table row. */
static unsigned row_label(const struct method_row *m)
{
	return m != NULL ? RPC_LABEL_FIRST + (unsigned)(m - methods) : RPC_LABEL_OTHER;
}

unsigned rpc_method_label_index(const char *method)
{
	if (method == NULL || method[0] == '\0')
		return RPC_LABEL_NONE;
	return row_label(method_find(method));
}

const char *rpc_label_name(unsigned label)
{
	if (label == RPC_LABEL_NONE)
		return "-";
	if (label >= RPC_LABEL_FIRST && label - RPC_LABEL_FIRST < ARRAY_SIZE(methods))
		return methods[label - RPC_LABEL_FIRST].name;
	return "other";
}

unsigned rpc_label_count(void)
{
	return RPC_LABEL_FIRST + (unsigned)ARRAY_SIZE(methods);
}

const char *rpc_method_label(const char *method)
{
	return rpc_label_name(rpc_method_label_index(method));
}

/* ---- policy --------------------------------------------------------------------------- */

static bool list_has(const struct name_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], name) == 0)
			return true;
	return false;
}

/* Splits VALUE, a comma list the config validator tidied ("a,b"); NULL gives an empty list. */
static int list_init(struct name_list *l, const char *value)
{
	size_t n = 1;

	memset(l, 0, sizeof(*l));
	if (value == NULL || value[0] == '\0')
		return 0;
	for (const char *c = value; *c != '\0'; c++)
		n += *c == ',';
	l->buf = strdup(value);
	l->v = calloc(n, sizeof(*l->v));
	if (l->buf == NULL || l->v == NULL)
		return -1;
	for (char *save = NULL, *it = strtok_r(l->buf, ",", &save); it != NULL;
	     it = strtok_r(NULL, ",", &save))
		l->v[l->n++] = it;
	return 0;
}

static void list_deinit(struct name_list *l)
{
	free(l->buf);
	free(l->v);
}

struct rpc_policy *rpc_policy_new(const struct conf_listener *l, const struct conf_pool *p,
                                  char *err, size_t errlen)
{
	struct rpc_policy *pol = calloc(1, sizeof(*pol));
	bool rippled;

	if (pol == NULL)
		goto oom;
	/* secure by default: whatever the pool checks, only profile = none turns it off */
	rippled = l->profile != RPC_PROFILE_NONE;
	pol->inspect_max = l->rpc_inspect_max > 0 ? (size_t)l->rpc_inspect_max : RPC_INSPECT_MAX;
	pol->admin_profile = rippled && !l->admin;
	pol->secrets = !l->admin;
	if (list_init(&pol->allow, l->allow_methods) < 0 ||
	    list_init(&pol->deny, l->deny_methods) < 0 ||
	    list_init(&pol->writes, p != NULL ? p->write_methods : NULL) < 0)
		goto oom;
	pol->strict = rippled && (!l->admin || pol->allow.n > 0 || pol->deny.n > 0);
	return pol;
oom:
	snprintf(err, errlen, "[listener %s]: out of memory building the method policy", l->name);
	rpc_policy_free(pol);
	return NULL;
}

void rpc_policy_free(struct rpc_policy *pol)
{
	if (pol == NULL)
		return;
	list_deinit(&pol->allow);
	list_deinit(&pol->deny);
	list_deinit(&pol->writes);
	free(pol);
}

bool rpc_policy_must_read(const struct rpc_policy *pol)
{
	return pol != NULL && pol->strict;
}

size_t rpc_policy_inspect_max(const struct rpc_policy *pol)
{
	return pol != NULL ? pol->inspect_max : RPC_INSPECT_MAX;
}

/* ---- inspection ----------------------------------------------------------------------- */

/* What the policy reads of one call, however it was read (a jansson tree, or the byte
 * scanner): one set of rules decides on it. */
struct call_view {
	const char *method;  /* "method" when it is a string, else NULL */
	const char *command; /* "command" likewise */
	bool votes;          /* "vetoed" in its parameters: a "feature" call votes */
	bool secret;         /* a secret key anywhere in it (read when the policy refuses them) */
	struct rpcscan_ledgers ledgers; /* of its arguments: params[0], or the message itself */
};

/* The name a call runs: "method" (JSON-RPC), else "command" (rippled WebSocket); an empty
 * name is none (rippled refuses it). */
static const char *view_method(const struct call_view *v)
{
	if (v->method != NULL && v->method[0] != '\0')
		return v->method;
	return v->command != NULL && v->command[0] != '\0' ? v->command : NULL;
}

/* Whether POL denies METHOD (its table row ROW, or NULL), called with VOTES: the lists
 * first, then rippled's admin set ("feature" is public, but voting is admin). */
static bool call_denied(const struct rpc_policy *pol, const char *method,
                        const struct method_row *row, bool votes)
{
	if (list_has(&pol->deny, method) || (pol->allow.n > 0 && !list_has(&pol->allow, method)))
		return true;
	if (!pol->admin_profile)
		return false;
	if (row != NULL && (row->flags & M_ADMIN))
		return true;
	return votes && strcmp(method, "feature") == 0;
}

/* The first refusal wins: the reason and the method are those of the first refused call. */
static void refuse(struct rpc_info *info, enum rpc_refusal why, const char *method)
{
	if (info->refusal != RPC_ALLOWED)
		return;
	info->refusal = why;
	snprintf(info->refused_method, sizeof(info->refused_method), "%s", method);
}

/* Whether METHOD (its table row ROW, or NULL) changes state: built in, or the pool says so. */
static bool is_write(const struct rpc_policy *pol, const char *method, const struct method_row *row)
{
	return (row != NULL && (row->flags & M_WRITE)) ||
	       (pol != NULL && list_has(&pol->writes, method));
}

/* Refuses V when POL denies one of its names (rippled's WebSocket runs "command" before
 * "method", JSON-RPC runs "method": both are checked) or it carries a secret. M is the name
 * it runs, ROW its table row. */
static void police_call(const struct rpc_policy *pol, const struct call_view *v, const char *m,
                        const struct method_row *row, struct rpc_info *info)
{
	const char *const names[] = {v->method, v->command};

	for (size_t k = 0; k < ARRAY_SIZE(names); k++) {
		if (names[k] == NULL)
			continue;
		const struct method_row *r = names[k] == m ? row : method_find(names[k]);
		if (call_denied(pol, names[k], r, v->votes)) {
			refuse(info, RPC_DENIED, names[k]);
			return;
		}
	}
	if (pol->secrets && v->secret)
		refuse(info, RPC_SECRET, m);
}

/* Widens INFO's ledger need to hold [LO, HI]: a batch needs the union. */
static void ledger_need(struct rpc_info *info, uint32_t lo, uint32_t hi)
{
	if (!info->has_ledger || lo < info->ledger_min)
		info->ledger_min = lo;
	if (!info->has_ledger || hi > info->ledger_max)
		info->ledger_max = hi;
	info->has_ledger = true;
}

/* The ledgers one call names by number, added to INFO: ledger_index and ledger_seq name one;
 * ledger_index_min/max (account_tx) and min_ledger/max_ledger (tx) a span, or one ledger
 * when the other end is -1 or absent ("earliest", "latest": no specific ledger). */
static void call_ledgers(const struct rpcscan_ledgers *l, struct rpc_info *info)
{
	static const unsigned single[] = {RPCSCAN_LEDGER_INDEX, RPCSCAN_LEDGER_SEQ};
	static const unsigned spans[][2] = {{RPCSCAN_LEDGER_INDEX_MIN, RPCSCAN_LEDGER_INDEX_MAX},
	                                    {RPCSCAN_MIN_LEDGER, RPCSCAN_MAX_LEDGER}};

	for (size_t i = 0; i < ARRAY_SIZE(single); i++)
		if (l->has[single[i]])
			ledger_need(info, l->v[single[i]], l->v[single[i]]);
	for (size_t i = 0; i < ARRAY_SIZE(spans); i++) {
		bool has_lo = l->has[spans[i][0]], has_hi = l->has[spans[i][1]];
		uint32_t lo = l->v[spans[i][0]], hi = l->v[spans[i][1]];
		if (has_lo && has_hi)
			ledger_need(info, lo < hi ? lo : hi, lo < hi ? hi : lo);
		else if (has_lo || has_hi)
			ledger_need(info, has_lo ? lo : hi, has_lo ? lo : hi);
	}
}

/* Accounts for one call V (not a batch), whose name view_method(V) is not NULL. Its
 * metric label. */
static unsigned account_call(const struct call_view *v, const struct rpc_policy *pol,
                             struct rpc_info *info)
{
	const char *m = view_method(v);
	const struct method_row *row = method_find(m); /* once: every request asks */

	info->n_calls++;
	call_ledgers(&v->ledgers, info);
	if (is_write(pol, m, row))
		info->all_read = false;
	if (pol != NULL)
		police_call(pol, v, m, row, info);
	return row_label(row);
}

/* ---- inspection: the jansson tree ---- */

static const char *json_name(json_t *call, const char *key)
{
	json_t *s = json_object_get(call, key);

	return json_is_string(s) ? json_string_value(s) : NULL;
}

/* Whether a secret key appears anywhere in V (objects and arrays at any depth). */
static bool has_secret(json_t *v)
{
	const char *key;
	json_t *x;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, x)
		{
			if (rpcscan_secret_key(key, strlen(key)) || has_secret(x))
				return true;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
		{
			if (has_secret(x))
				return true;
		}
	}
	return false;
}

/* A ledger named by number: a non-negative integer or a decimal string, at most UINT32_MAX.
 * "validated", "current", "closed", -1 ("earliest"/"latest") and the rest name none. */
static bool ledger_number(json_t *v, uint32_t *out)
{
	const char *s = json_string_value(v);
	json_int_t n = json_integer_value(v);
	char *end;

	if (json_is_string(v)) {
		if (*s < '0' || *s > '9' || strlen(s) > 10)
			return false;
		unsigned long long u = strtoull(s, &end, 10);
		if (*end != '\0' || u > UINT32_MAX)
			return false;
		*out = (uint32_t)u;
		return true;
	}
	if (!json_is_integer(v) || n < 0 || n > (json_int_t)UINT32_MAX)
		return false;
	*out = (uint32_t)n;
	return true;
}

/* The view of CALL, a parsed object. Its arguments are params[0] of a JSON-RPC call, or
 * the message itself for WebSocket; "feature" votes when they hold "vetoed". */
static void view_from_json(json_t *call, const struct rpc_policy *pol, struct call_view *v)
{
	json_t *params = json_object_get(call, "params"), *args = call;

	memset(v, 0, sizeof(*v));
	v->method = json_name(call, "method");
	v->command = json_name(call, "command");
	if (json_is_array(params))
		v->votes = json_object_get(json_array_get(params, 0), "vetoed") != NULL;
	else
		v->votes = json_object_get(call, "vetoed") != NULL;
	v->secret = pol != NULL && pol->secrets && has_secret(call);
	if (v->method != NULL)
		args = json_array_get(params, 0);
	if (!json_is_object(args))
		return;
	for (unsigned k = 0; k < RPCSCAN_LEDGER_KEY_COUNT; k++)
		v->ledgers.has[k] =
		    ledger_number(json_object_get(args, rpcscan_ledger_keys[k]), &v->ledgers.v[k]);
}

/* Accounts for one call; rippled's {"method":"batch","params":[call...]} is walked into.
 * False when CALL is not a call (no method). */
static bool inspect_call(json_t *call, const struct rpc_policy *pol, struct rpc_info *info)
{
	json_t *sub = json_object_get(call, "params"), *c;
	struct call_view v;
	const char *m;
	size_t i;

	view_from_json(call, pol, &v);
	if ((m = view_method(&v)) == NULL)
		return false;
	if (strcmp(m, "batch") == 0 && json_is_array(sub) && json_array_size(sub) > 0) {
		json_array_foreach(sub, i, c)
		{
			if (!inspect_call(c, pol, info))
				return false;
		}
		return true;
	}
	(void)account_call(&v, pol, info);
	return true;
}

/* The "id" of CALL as compact JSON text, when it has one that fits. */
static void copy_id(json_t *call, struct rpc_info *info)
{
	json_t *id = json_object_get(call, "id");
	char *s;

	if (id == NULL)
		return;
	s = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s != NULL && strlen(s) < sizeof(info->id))
		memcpy(info->id, s, strlen(s) + 1);
	free(s);
}

/* Fills INFO from a parsed ROOT: one call, or a batch (an array or rippled's "batch"). */
static void inspect_root(json_t *root, const struct rpc_policy *pol, struct rpc_info *info)
{
	json_t *call;
	size_t i;
	bool ok = true;

	if (json_is_object(root)) {
		ok = inspect_call(root, pol, info);
		copy_id(root, info);
		if (ok) {
			struct call_view v;
			view_from_json(root, NULL, &v);
			snprintf(info->method, sizeof(info->method), "%s", view_method(&v));
		}
	} else if (json_is_array(root) && json_array_size(root) > 0) {
		json_array_foreach(root, i, call)
		{
			if (!(ok = inspect_call(call, pol, info)))
				break;
		}
		copy_id(json_array_get(root, 0), info);
		snprintf(info->method, sizeof(info->method), "batch");
	} else {
		ok = false;
	}
	info->is_rpc = ok;
}

void rpc_inspect_json(const char *body, size_t len, const struct rpc_policy *pol,
                      struct rpc_info *info)
{
	json_error_t jerr;
	json_t *root;

	memset(info, 0, sizeof(*info));
	if (len == 0 || len > rpc_policy_inspect_max(pol))
		return;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/* rippled's reader takes comments and repeated keys: what it would run is unknown
		 */
		if (pol != NULL && pol->strict)
			refuse(info, RPC_DENIED, "");
		return;
	}
	info->all_read = true;
	inspect_root(root, pol, info);
	if (!info->is_rpc) { /* a refusal found on the way stands */
		info->all_read = false;
		info->n_calls = 0;
		info->method[0] = '\0';
		info->id[0] = '\0';
		info->has_ledger = false;
	}
	info->label = (uint8_t)rpc_method_label_index(info->method);
	json_decref(root);
}

/* ---- inspection: the byte scanner ---- */

/* S as a C string in BUF (RPCSCAN_NAME_MAX + 1 bytes), or NULL when absent. */
static const char *scan_name(const struct rpcscan_str *s, char *buf)
{
	if (s->p == NULL)
		return NULL;
	memcpy(buf, s->p, s->len);
	buf[s->len] = '\0';
	return buf;
}

bool rpc_inspect_fast(const char *body, size_t len, const struct rpc_policy *pol,
                      struct rpc_info *info)
{
	char method[RPCSCAN_NAME_MAX + 1], command[RPCSCAN_NAME_MAX + 1];
	struct rpcscan_call sc;
	struct call_view v = {0};
	const char *m;

	memset(info, 0, sizeof(*info));
	if (len == 0 || len > rpc_policy_inspect_max(pol))
		return true;
	if (!rpcscan_call(body, len, &sc))
		return false;
	v.method = scan_name(&sc.method, method);
	v.command = scan_name(&sc.command, command);
	if ((m = view_method(&v)) == NULL)
		return true; /* an object, but no call: not RPC, nothing refused */
	if (strcmp(m, "batch") == 0)
		return false; /* rippled's batch: its calls are walked in the tree */
	v.votes = sc.params_array ? sc.vetoed_params0 : sc.vetoed_top;
	v.secret = sc.secret;
	if (v.method == NULL)
		v.ledgers = sc.top;
	else if (sc.params0_object)
		v.ledgers = sc.params0;
	info->all_read = true;
	info->label = (uint8_t)account_call(&v, pol, info);
	if (sc.id.p != NULL && sc.id.len < sizeof(info->id))
		memcpy(info->id, sc.id.p, sc.id.len);
	size_t n = strnlen(m, sizeof(info->method) - 1); /* cut as snprintf would */
	memcpy(info->method, m, n);
	info->is_rpc = true;
	return true;
}

void rpc_inspect(const char *body, size_t len, const struct rpc_policy *pol, struct rpc_info *info)
{
	if (!rpc_inspect_fast(body, len, pol, info))
		rpc_inspect_json(body, len, pol, info);
}

/* ---- answers -------------------------------------------------------------------------- */

int rpc_error_body(const struct rpc_info *info, bool ws, const char *error, int code,
                   const char *message, char *out, size_t len)
{
	json_t *e = json_pack("{s:s, s:i, s:s, s:s}", "error", error, "error_code", code,
	                      "error_message", message, "status", "error");
	json_t *id = info != NULL && info->id[0] != '\0'
	                 ? json_loads(info->id, JSON_DECODE_ANY, NULL)
	                 : NULL;
	json_t *root = e;
	size_t n = 0;

	if (e != NULL && ws) {
		json_object_set_new(e, "type", json_string("response"));
		if (id != NULL)
			json_object_set(e, "id", id);
	} else if (e != NULL) {
		root = json_pack("{s:o}", "result", e);
		if (root != NULL && id != NULL)
			json_object_set(root, "id", id);
	}
	if (root != NULL)
		n = json_dumpb(root, out, len, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	json_decref(id);
	if (root == NULL || n == 0 || n >= len)
		return -1;
	out[n] = '\0';
	return (int)n;
}

/* The error token of one reply: result.error, or error (WebSocket shape). */
static const char *reply_token(json_t *reply)
{
	json_t *e = json_object_get(json_object_get(reply, "result"), "error");

	if (!json_is_string(e))
		e = json_object_get(reply, "error");
	return json_is_string(e) ? json_string_value(e) : NULL;
}

/* TOK when WANTED holds it (or WANTED is NULL: any token), else NULL. */
static const char *wanted_token(const char *tok, const char *const *wanted, size_t n)
{
	if (tok == NULL || wanted == NULL)
		return tok;
	for (size_t i = 0; i < n; i++)
		if (strcmp(tok, wanted[i]) == 0)
			return tok;
	return NULL;
}

/* Whether "error" (quotes included) is in the LEN bytes at B, as memmem would find it:
 * the start positions with a quote there, an 'e' after it and another quote six bytes on
 * are found 16 at a time (SSE2; else 8 at a time with exact zero-byte tests, on the
 * quotes only), and only those few are compared. Every answer that is held is searched. */
#if defined(__x86_64__) && defined(__GNUC__)
/* The SSE2 pass below, 32 bytes at a time (AVX2, where the CPU has it). The offset where
 * it stopped, or SIZE_MAX when it found the key. */
__attribute__((target("avx2"))) static size_t error_key_avx2(const char *b, size_t len)
{
	const __m256i q = _mm256_set1_epi8('"'), e = _mm256_set1_epi8('e');
	size_t i = 0;

	for (; i + 38 <= len; i += 32) {
		__m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(b + i));
		__m256i y = _mm256_loadu_si256((const __m256i *)(const void *)(b + i + 1));
		__m256i z = _mm256_loadu_si256((const __m256i *)(const void *)(b + i + 6));
		unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_and_si256(
		    _mm256_and_si256(_mm256_cmpeq_epi8(x, q), _mm256_cmpeq_epi8(y, e)),
		    _mm256_cmpeq_epi8(z, q)));
		for (; m != 0; m &= m - 1)
			if (memcmp(b + i + (unsigned)__builtin_ctz(m) + 2, "rror", 4) == 0)
				return SIZE_MAX;
	}
	return i;
}

static bool cpu_avx2(void)
{
	static int known; /* 0: not asked yet, 1: no, 2: yes (the workers may race: same answer) */
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);

	if (k == 0) {
		k = __builtin_cpu_supports("avx2") ? 2 : 1;
		__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return k == 2;
}
#endif

static bool has_error_key(const char *b, size_t len)
{
	size_t i = 0;

#if defined(__x86_64__) && defined(__GNUC__)
	if (cpu_avx2() && (i = error_key_avx2(b, len)) == SIZE_MAX)
		return true;
#endif

#ifdef __SSE2__
	const __m128i q = _mm_set1_epi8('"'), e = _mm_set1_epi8('e');
	for (; i + 22 <= len; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
		__m128i y = _mm_loadu_si128((const __m128i *)(const void *)(b + i + 1));
		__m128i z = _mm_loadu_si128((const __m128i *)(const void *)(b + i + 6));
		unsigned m = (unsigned)_mm_movemask_epi8(
		    _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(y, e)),
		                  _mm_cmpeq_epi8(z, q)));
		for (; m != 0; m &= m - 1)
			if (memcmp(b + i + (unsigned)__builtin_ctz(m) + 2, "rror", 4) == 0)
				return true;
	}
#endif
	const uint64_t ones = 0x0101010101010101ULL, highs = ones * 0x80, q8 = ones * '"';
	for (; i + 14 <= len; i += 8) {
		uint64_t x, y;
		memcpy(&x, b + i, 8);
		memcpy(&y, b + i + 6, 8);
		x ^= q8;
		y ^= q8;
		/* every zero byte is flagged (and some bytes above one): no start is missed */
		if (((x - ones) & ~x & highs) & ((y - ones) & ~y & highs))
			for (unsigned k = 0; k < 8; k++)
				if (memcmp(b + i + k, "\"error\"", 7) == 0)
					return true;
	}
	for (; i + 7 <= len; i++)
		if (b[i] == '"' && memcmp(b + i, "\"error\"", 7) == 0)
			return true;
	return false;
}

/* Cheap test before parsing: an "error" key, and one of WANTED, appear in the bytes. */
static bool may_hold(const char *body, size_t len, const char *const *wanted, size_t n)
{
	if (!has_error_key(body, len))
		return false;
	for (size_t i = 0; wanted != NULL && i < n; i++)
		if (memmem(body, len, wanted[i], strlen(wanted[i])) != NULL)
			return true;
	return wanted == NULL;
}

bool rpc_reply_token(const char *body, size_t len, const char *const *wanted, size_t n, char *token,
                     size_t toklen)
{
	json_t *root, *el;
	const char *tok = NULL;
	size_t i;

	if (body == NULL || len == 0 || !may_hold(body, len, wanted, n))
		return false;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(root)) {
		tok = wanted_token(reply_token(root), wanted, n);
	} else if (json_is_array(root)) {
		json_array_foreach(root, i, el)
		{
			if ((tok = wanted_token(reply_token(el), wanted, n)) != NULL)
				break;
		}
	}
	if (tok != NULL && token != NULL && toklen > 0)
		snprintf(token, toklen, "%s", tok);
	json_decref(root);
	return tok != NULL;
}

bool rpc_reply_error(const char *body, size_t len, char *token, size_t toklen)
{
	return rpc_reply_token(body, len, NULL, 0, token, toklen);
}

/* ---- JSON-RPC error tokens in live replies ----------------------------------------------- */

/* rippled's "this node cannot answer now" errors (lgrNotFound is not one: other history). */
static const char *const busy_tokens[] = {
    "noNetwork", "noCurrent", "noClosed", "notSynced", "tooBusy", "slowDown", "amendmentBlocked",
};

bool rpc_busy_token(const char *body, size_t len, char *token, size_t toklen)
{
	return rpc_reply_token(body, len, busy_tokens, ARRAY_SIZE(busy_tokens), token, toklen);
}
