/* JSON-RPC inspection: methods, batches, what may be replayed, and the method policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "proxy/rpc.h"

static struct rpc_info inspect(const char *body)
{
	struct rpc_info info;

	rpc_inspect(body, strlen(body), NULL, &info);
	return info;
}

static void test_single_read_call(void **state)
{
	struct rpc_info i = inspect("{\"method\":\"server_info\",\"params\":[{}],\"id\":1}");

	assert_true(i.is_rpc);
	assert_int_equal(i.n_calls, 1);
	assert_true(i.all_read);
	assert_string_equal(i.method, "server_info");
}

static void test_write_calls_are_not_replayable(void **state)
{
	const char *writes[] = {"submit", "submit_multisigned", "sign", "sign_for",
	                        "channel_authorize"};
	char body[128];

	for (size_t k = 0; k < sizeof(writes) / sizeof(writes[0]); k++) {
		snprintf(body, sizeof(body), "{\"method\":\"%s\",\"params\":[{}]}", writes[k]);
		struct rpc_info i = inspect(body);
		assert_true(i.is_rpc);
		assert_false(i.all_read);
		assert_string_equal(i.method, writes[k]);
	}
}

static void test_batch(void **state)
{
	struct rpc_info reads = inspect("[{\"method\":\"ping\"},{\"method\":\"server_info\"}]");
	struct rpc_info mixed = inspect("[{\"method\":\"ping\"},{\"method\":\"submit\"}]");

	assert_true(reads.is_rpc);
	assert_int_equal(reads.n_calls, 2);
	assert_true(reads.all_read);
	assert_string_equal(reads.method, "batch");
	assert_true(mixed.is_rpc);
	assert_false(mixed.all_read);
}

static void test_websocket_command_form(void **state)
{
	struct rpc_info i = inspect("{\"command\":\"ledger\",\"ledger_index\":5}");

	assert_true(i.is_rpc);
	assert_string_equal(i.method, "ledger");
}

static void test_not_rpc(void **state)
{
	const char *bodies[] = {"",
	                        "not json",
	                        "{\"params\":[]}",
	                        "[1,2]",
	                        "[]",
	                        "{\"method\":5}",
	                        "{\"method\":\"a\",\"method\":\"b\"}"};

	for (size_t k = 0; k < sizeof(bodies) / sizeof(bodies[0]); k++) {
		struct rpc_info i = inspect(bodies[k]);
		assert_false(i.is_rpc);
		assert_false(i.all_read); /* unknown means not replayable */
		assert_string_equal(i.method, "");
	}
}

static void test_long_method_is_cut(void **state)
{
	char body[256], name[100];

	memset(name, 'm', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"method\":\"%s\"}", name);
	struct rpc_info i = inspect(body);
	assert_int_equal(strlen(i.method), RPC_METHOD_MAX - 1);
}

/* The ledgers a request names by number: the span a node must hold to answer it. */
static void assert_ledgers(const char *body, uint32_t lo, uint32_t hi)
{
	struct rpc_info i = inspect(body);

	if (!i.has_ledger)
		fail_msg("no ledger need in %s", body);
	assert_int_equal(i.ledger_min, lo);
	assert_int_equal(i.ledger_max, hi);
}

static void assert_no_ledgers(const char *body)
{
	if (inspect(body).has_ledger)
		fail_msg("a ledger need in %s", body);
}

static void test_ledger_needs(void **state)
{
	assert_ledgers("{\"method\":\"ledger\",\"params\":[{\"ledger_index\":32570}]}", 32570,
	               32570);
	assert_ledgers("{\"method\":\"ledger\",\"params\":[{\"ledger_index\":\"32570\"}]}", 32570,
	               32570);
	assert_ledgers("{\"command\":\"ledger\",\"ledger_index\":4294967295}", UINT32_MAX,
	               UINT32_MAX);
	assert_ledgers("{\"command\":\"ledger_data\",\"ledger_seq\":7}", 7, 7);
	assert_ledgers("{\"method\":\"account_tx\",\"params\":[{\"account\":\"r\","
	               "\"ledger_index_min\":100,\"ledger_index_max\":\"200\"}]}",
	               100, 200);
	assert_ledgers("{\"method\":\"account_tx\",\"params\":[{\"ledger_index_min\":300,"
	               "\"ledger_index_max\":200}]}",
	               200, 300);
	/* -1 is "earliest" / "latest": only the other end names a ledger */
	assert_ledgers("{\"method\":\"account_tx\",\"params\":[{\"ledger_index_min\":100,"
	               "\"ledger_index_max\":-1}]}",
	               100, 100);
	assert_ledgers("{\"command\":\"account_tx\",\"ledger_index_min\":-1,"
	               "\"ledger_index_max\":500}",
	               500, 500);
	assert_ledgers("{\"method\":\"tx\",\"params\":[{\"min_ledger\":10,\"max_ledger\":20}]}", 10,
	               20);
	/* a batch needs the union */
	assert_ledgers("[{\"method\":\"ledger\",\"params\":[{\"ledger_index\":900}]},"
	               "{\"method\":\"ping\"},"
	               "{\"method\":\"account_tx\",\"params\":[{\"ledger_index_min\":50,"
	               "\"ledger_index_max\":60}]}]",
	               50, 900);
}

static void test_no_ledger_needs(void **state)
{
	const char *bodies[] = {
	    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":\"validated\"}]}",
	    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":\"current\"}]}",
	    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":\"closed\"}]}",
	    "{\"method\":\"ledger\",\"params\":[{}]}",
	    "{\"method\":\"ledger\"}",
	    "{\"method\":\"ledger\",\"params\":{\"ledger_index\":5}}",
	    "{\"method\":\"ledger\",\"ledger_index\":5}", /* JSON-RPC reads params only */
	    "{\"method\":\"account_tx\",\"params\":[{\"ledger_index_min\":-1,"
	    "\"ledger_index_max\":-1}]}",
	    "{\"command\":\"ledger\",\"ledger_index\":-5}",
	    "{\"command\":\"ledger\",\"ledger_index\":4294967296}",
	    "{\"command\":\"ledger\",\"ledger_index\":\"4294967296\"}",
	    "{\"command\":\"ledger\",\"ledger_index\":\"12a\"}",
	    "{\"command\":\"ledger\",\"ledger_index\":\"-3\"}",
	    "{\"command\":\"ledger\",\"ledger_index\":\" 3\"}",
	    "{\"command\":\"ledger\",\"ledger_index\":\"\"}",
	    "{\"command\":\"ledger\",\"ledger_index\":3.5}",
	    "{\"command\":\"ledger\",\"ledger_index\":true}",
	};

	for (size_t k = 0; k < sizeof(bodies) / sizeof(bodies[0]); k++)
		assert_no_ledgers(bodies[k]);
}

/* ---- policy -------------------------------------------------------------------------- */

/* rippled's admin-only methods (its handler table, Role::ADMIN), older ones included. */
static const char *const admin_methods[] = {
    "stop",
    "ledger_accept",
    "ledger_cleaner",
    "ledger_request",
    "log_level",
    "logrotate",
    "connect",
    "peers",
    "peer_reservations_add",
    "peer_reservations_del",
    "peer_reservations_list",
    "consensus_info",
    "fetch_info",
    "get_counts",
    "print",
    "validation_create",
    "validation_seed",
    "validator_info",
    "validator_list_sites",
    "validators",
    "wallet_propose",
    "can_delete",
    "download_shard",
    "crawl_shards",
    "unl_list",
    "blacklist",
    "node_to_shard",
};

/* Public methods a rippled listener lets through. */
static const char *const public_methods[] = {
    "server_info", "ledger",   "account_info", "tx",        "submit", "fee",
    "feature",     "manifest", "book_offers",  "subscribe", "ping",   "ledger_entry",
};

struct pol_opts {
	int profile;
	bool admin;
	int check;
	const char *allow, *deny, *writes;
	uint64_t inspect_max;
};

static struct rpc_policy *policy(struct pol_opts o)
{
	struct conf_listener l = {.name = "web",
	                          .profile = o.profile,
	                          .admin = o.admin,
	                          .allow_methods = (char *)o.allow,
	                          .deny_methods = (char *)o.deny,
	                          .rpc_inspect_max =
	                              o.inspect_max ? o.inspect_max : RPC_INSPECT_MAX};
	struct conf_pool p = {.name = "rpc", .write_methods = (char *)o.writes};
	char err[128];
	struct rpc_policy *pol;

	p.health.check = o.check;
	pol = rpc_policy_new(&l, &p, err, sizeof(err));
	assert_non_null(pol);
	return pol;
}

static struct rpc_info inspect_with(const struct rpc_policy *pol, const char *body)
{
	struct rpc_info info;

	rpc_inspect(body, strlen(body), pol, &info);
	return info;
}

/* A JSON-RPC call of METHOD with PARAMS (an object's text) under POL. */
static struct rpc_info call(const struct rpc_policy *pol, const char *method, const char *params)
{
	char body[1024];

	snprintf(body, sizeof(body), "{\"method\":\"%s\",\"params\":[%s],\"id\":7}", method,
	         params);
	return inspect_with(pol, body);
}

static void test_admin_methods_denied_on_rippled_profile(void **state)
{
	struct rpc_policy *pol = policy((struct pol_opts){.profile = RPC_PROFILE_RIPPLED});

	for (size_t k = 0; k < sizeof(admin_methods) / sizeof(admin_methods[0]); k++) {
		struct rpc_info i = call(pol, admin_methods[k], "{}");
		assert_int_equal(i.refusal, RPC_DENIED);
		assert_string_equal(i.refused_method, admin_methods[k]);
		assert_string_equal(i.method, admin_methods[k]);
		assert_string_equal(rpc_method_label(admin_methods[k]), admin_methods[k]);
	}
	for (size_t k = 0; k < sizeof(public_methods) / sizeof(public_methods[0]); k++) {
		struct rpc_info i = call(pol, public_methods[k], "{}");
		assert_true(i.is_rpc);
		assert_int_equal(i.refusal, RPC_ALLOWED);
	}
	rpc_policy_free(pol);
}

/* auto (the older default) is rippled whatever the pool checks: only none turns the
 * policy off; an admin listener lets admin methods through. */
static void test_profile_auto_none_and_admin(void **state)
{
	struct rpc_policy *auto_rippled = policy((struct pol_opts){.check = CHECK_RIPPLED});
	struct rpc_policy *auto_http = policy((struct pol_opts){.check = CHECK_HTTP});
	struct rpc_policy *none =
	    policy((struct pol_opts){.profile = RPC_PROFILE_NONE, .check = CHECK_RIPPLED});
	struct rpc_policy *admin =
	    policy((struct pol_opts){.profile = RPC_PROFILE_RIPPLED, .admin = true});

	for (size_t k = 0; k < sizeof(admin_methods) / sizeof(admin_methods[0]); k++) {
		assert_int_equal(call(auto_rippled, admin_methods[k], "{}").refusal, RPC_DENIED);
		assert_int_equal(call(auto_http, admin_methods[k], "{}").refusal, RPC_DENIED);
		assert_int_equal(call(none, admin_methods[k], "{}").refusal, RPC_ALLOWED);
		assert_int_equal(call(admin, admin_methods[k], "{}").refusal, RPC_ALLOWED);
	}
	rpc_policy_free(auto_rippled);
	rpc_policy_free(auto_http);
	rpc_policy_free(none);
	rpc_policy_free(admin);
}

static void test_allow_and_deny_lists(void **state)
{
	struct rpc_policy *allow =
	    policy((struct pol_opts){.profile = RPC_PROFILE_NONE, .allow = "server_info,ledger"});
	struct rpc_policy *deny =
	    policy((struct pol_opts){.profile = RPC_PROFILE_NONE, .deny = "path_find,ledger_data"});
	struct rpc_policy *admin = policy(
	    (struct pol_opts){.profile = RPC_PROFILE_RIPPLED, .admin = true, .deny = "stop"});

	assert_int_equal(call(allow, "server_info", "{}").refusal, RPC_ALLOWED);
	assert_int_equal(call(allow, "ledger", "{}").refusal, RPC_ALLOWED);
	assert_int_equal(call(allow, "account_info", "{}").refusal, RPC_DENIED);
	assert_int_equal(call(allow, "server", "{}").refusal, RPC_DENIED); /* whole names */
	assert_int_equal(call(deny, "path_find", "{}").refusal, RPC_DENIED);
	assert_int_equal(call(deny, "ledger_data", "{}").refusal, RPC_DENIED);
	assert_int_equal(call(deny, "ledger", "{}").refusal, RPC_ALLOWED);
	/* on an admin listener the lists still apply */
	assert_int_equal(call(admin, "stop", "{}").refusal, RPC_DENIED);
	assert_int_equal(call(admin, "peers", "{}").refusal, RPC_ALLOWED);
	rpc_policy_free(allow);
	rpc_policy_free(deny);
	rpc_policy_free(admin);
}

/* Secrets anywhere in a call are refused on public listeners, whatever the profile. */
static void test_secrets_at_any_depth(void **state)
{
	struct rpc_policy *none = policy((struct pol_opts){.profile = RPC_PROFILE_NONE});
	struct rpc_policy *admin = policy((struct pol_opts){.admin = true});
	const char *params[] = {
	    "{\"secret\":\"snoPBrXtMeMyMHUVTgbuqAfg1SUTb\",\"tx_json\":{}}",
	    "{\"seed\":\"x\"}",
	    "{\"seed_hex\":\"00\"}",
	    "{\"passphrase\":\"masterpassphrase\"}",
	    "{\"tx_json\":{\"Memos\":[{\"Memo\":{\"secret\":1}}]}}",
	    "{\"a\":[[{\"b\":{\"passphrase\":null}}]]}",
	};

	for (size_t k = 0; k < sizeof(params) / sizeof(params[0]); k++) {
		struct rpc_info i = call(none, "sign", params[k]);
		assert_int_equal(i.refusal, RPC_SECRET);
		assert_string_equal(i.refused_method, "sign");
		assert_int_equal(call(admin, "sign", params[k]).refusal, RPC_ALLOWED);
	}
	/* a value that merely says "secret" is not a secret key */
	assert_int_equal(call(none, "account_info", "{\"account\":\"secret\"}").refusal,
	                 RPC_ALLOWED);
	assert_int_equal(call(none, "account_info", "{\"secrets\":1}").refusal, RPC_ALLOWED);
	rpc_policy_free(none);
	rpc_policy_free(admin);
}

/* feature reads amendments for anyone; voting (vetoed) is rippled's admin's. */
static void test_feature_vote(void **state)
{
	struct rpc_policy *pol = policy((struct pol_opts){.profile = RPC_PROFILE_RIPPLED});
	struct rpc_policy *admin =
	    policy((struct pol_opts){.profile = RPC_PROFILE_RIPPLED, .admin = true});

	assert_int_equal(call(pol, "feature", "{}").refusal, RPC_ALLOWED);
	assert_int_equal(call(pol, "feature", "{\"feature\":\"MultiSign\"}").refusal, RPC_ALLOWED);
	assert_int_equal(
	    call(pol, "feature", "{\"feature\":\"MultiSign\",\"vetoed\":true}").refusal,
	    RPC_DENIED);
	assert_int_equal(inspect_with(pol, "{\"command\":\"feature\",\"vetoed\":false}").refusal,
	                 RPC_DENIED);
	assert_int_equal(call(admin, "feature", "{\"vetoed\":true}").refusal, RPC_ALLOWED);
	rpc_policy_free(pol);
	rpc_policy_free(admin);
}

/* A batch is refused when any call is; the first refused call is named. Both batch forms:
 * a top-level array, and rippled's {"method":"batch","params":[...]}. */
static void test_batch_policy(void **state)
{
	struct rpc_policy *pol = policy((struct pol_opts){.profile = RPC_PROFILE_RIPPLED});
	struct rpc_info a = inspect_with(
	    pol, "[{\"method\":\"ping\"},{\"method\":\"peers\"},{\"method\":\"stop\"}]");
	struct rpc_info b =
	    inspect_with(pol, "{\"method\":\"batch\",\"params\":[{\"method\":\"server_info\"},"
	                      "{\"method\":\"submit\",\"secret\":\"s\"}]}");
	struct rpc_info c = inspect_with(
	    pol, "{\"method\":\"batch\",\"params\":[{\"method\":\"server_info\"},{\"method\":"
	         "\"fee\"}],\"id\":3}");

	assert_int_equal(a.refusal, RPC_DENIED);
	assert_string_equal(a.refused_method, "peers");
	assert_string_equal(a.method, "batch");
	assert_int_equal(a.n_calls, 3);
	assert_int_equal(b.refusal, RPC_SECRET);
	assert_string_equal(b.refused_method, "submit");
	assert_false(b.all_read);
	assert_int_equal(c.refusal, RPC_ALLOWED);
	assert_true(c.is_rpc);
	assert_true(c.all_read);
	assert_int_equal(c.n_calls, 2);
	assert_string_equal(c.method, "batch");
	assert_string_equal(c.id, "3");
	rpc_policy_free(pol);
}

/* rippled's WebSocket shape: "command" and parameters at the top level. A message naming
 * both a command and a method is checked on both (rippled's WebSocket runs the command). */
static void test_websocket_shape_policy(void **state)
{
	struct rpc_policy *pol = policy((struct pol_opts){.profile = RPC_PROFILE_RIPPLED});
	struct rpc_info stop = inspect_with(pol, "{\"command\":\"stop\",\"id\":\"x\"}");
	struct rpc_info sub =
	    inspect_with(pol, "{\"command\":\"subscribe\",\"streams\":[\"ledger\"]}");
	struct rpc_info sec = inspect_with(pol, "{\"command\":\"sign\",\"secret\":\"s\",\"id\":1}");
	struct rpc_info both = inspect_with(pol, "{\"method\":\"ping\",\"command\":\"stop\"}");

	assert_int_equal(stop.refusal, RPC_DENIED);
	assert_string_equal(stop.id, "\"x\"");
	assert_int_equal(sub.refusal, RPC_ALLOWED);
	assert_string_equal(sub.method, "subscribe");
	assert_int_equal(sec.refusal, RPC_SECRET);
	assert_int_equal(both.refusal, RPC_DENIED);
	assert_string_equal(both.refused_method, "stop");
	rpc_policy_free(pol);
}

/* The id is kept as JSON text: numbers, strings, objects; absent or too long: none. */
static void test_id_echo(void **state)
{
	char body[256], longid[100];
	struct rpc_info i;

	assert_string_equal(inspect("{\"method\":\"ping\",\"id\":42}").id, "42");
	assert_string_equal(inspect("{\"method\":\"ping\",\"id\":\"a\\\"b\"}").id, "\"a\\\"b\"");
	assert_string_equal(inspect("{\"method\":\"ping\",\"id\":{\"k\":[1]}}").id, "{\"k\":[1]}");
	assert_string_equal(inspect("{\"method\":\"ping\",\"id\":null}").id, "null");
	assert_string_equal(inspect("{\"method\":\"ping\"}").id, "");
	memset(longid, 'i', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"method\":\"ping\",\"id\":\"%s\"}", longid);
	i = inspect(body);
	assert_true(i.is_rpc);
	assert_string_equal(i.id, "");
	assert_string_equal(inspect("[{\"method\":\"ping\",\"id\":5},{\"method\":\"fee\"}]").id,
	                    "5");
}

/* Bodies over rpc_inspect_max are not read: not RPC, not replayable, not refused. */
static void test_oversize_not_inspected(void **state)
{
	struct rpc_policy *pol =
	    policy((struct pol_opts){.profile = RPC_PROFILE_RIPPLED, .inspect_max = 1024});
	char body[2048];
	int n = snprintf(body, sizeof(body), "{\"method\":\"stop\",\"params\":[{\"pad\":\"");
	struct rpc_info i;

	memset(body + n, 'x', 1100);
	strcpy(body + n + 1100, "\"}]}");
	assert_int_equal(rpc_policy_inspect_max(pol), 1024);
	assert_int_equal(rpc_policy_inspect_max(NULL), RPC_INSPECT_MAX);
	i = inspect_with(pol, body);
	assert_false(i.is_rpc);
	assert_false(i.all_read);
	assert_int_equal(i.refusal, RPC_ALLOWED);
	assert_int_equal(inspect_with(pol, "{\"method\":\"stop\"}").refusal, RPC_DENIED);
	rpc_policy_free(pol);
}

/* rippled's reader accepts comments and repeated keys: under the rippled profile a body
 * that is not strict JSON is refused, since which method it calls is unknown. Elsewhere it
 * passes as not RPC. */
static void test_not_strict_json(void **state)
{
	struct rpc_policy *pol = policy((struct pol_opts){.profile = RPC_PROFILE_RIPPLED});
	struct rpc_policy *none = policy((struct pol_opts){.profile = RPC_PROFILE_NONE});
	struct rpc_policy *admin =
	    policy((struct pol_opts){.profile = RPC_PROFILE_RIPPLED, .admin = true});
	const char *bodies[] = {"{\"method\":\"stop\" /* c */}",
	                        "{\"method\":\"ping\",\"method\":\"stop\"}", "not json"};

	for (size_t k = 0; k < sizeof(bodies) / sizeof(bodies[0]); k++) {
		struct rpc_info i = inspect_with(pol, bodies[k]);
		assert_false(i.is_rpc);
		assert_int_equal(i.refusal, RPC_DENIED);
		assert_string_equal(i.refused_method, "");
		assert_int_equal(inspect_with(none, bodies[k]).refusal, RPC_ALLOWED);
		assert_int_equal(inspect_with(admin, bodies[k]).refusal, RPC_ALLOWED);
	}
	/* valid JSON without a method is harmless: it passes */
	assert_int_equal(inspect_with(pol, "{\"params\":[{\"secret\":1}]}").refusal, RPC_ALLOWED);
	rpc_policy_free(pol);
	rpc_policy_free(none);
	rpc_policy_free(admin);
}

static void test_pool_write_methods(void **state)
{
	struct rpc_policy *pol = policy((struct pol_opts){.writes = "wallet_propose,my_write"});

	assert_false(call(pol, "my_write", "{}").all_read);
	assert_false(call(pol, "submit", "{}").all_read);
	assert_true(call(pol, "server_info", "{}").all_read);
	assert_true(call(NULL, "my_write", "{}").all_read);
	rpc_policy_free(pol);
}

static void test_method_label(void **state)
{
	assert_string_equal(rpc_method_label("server_info"), "server_info");
	assert_string_equal(rpc_method_label("batch"), "batch");
	assert_string_equal(rpc_method_label("made_up"), "other");
	assert_string_equal(rpc_method_label("Server_info"), "other");
	assert_string_equal(rpc_method_label(""), "-");
	assert_string_equal(rpc_method_label(NULL), "-");
	assert_int_equal(rpc_method_label_index(NULL), RPC_LABEL_NONE);
	assert_int_equal(rpc_method_label_index("made_up"), RPC_LABEL_OTHER);
	assert_string_equal(rpc_label_name(rpc_label_count()), "other");
	for (unsigned k = 0; k < rpc_label_count(); k++) /* every label is its own name's */
		if (k != RPC_LABEL_NONE && k != RPC_LABEL_OTHER)
			assert_int_equal(rpc_method_label_index(rpc_label_name(k)), k);
	/* the lookup bisects the sorted table: every known name is found */
	for (size_t k = 0; k < sizeof(admin_methods) / sizeof(admin_methods[0]); k++)
		assert_string_equal(rpc_method_label(admin_methods[k]), admin_methods[k]);
	for (size_t k = 0; k < sizeof(public_methods) / sizeof(public_methods[0]); k++)
		assert_string_equal(rpc_method_label(public_methods[k]), public_methods[k]);
}

/* Error bodies parse back as rippled's shapes. */
static void test_error_body_shapes(void **state)
{
	struct rpc_info i = inspect("{\"method\":\"stop\",\"id\":\"q\\\"1\"}");
	struct rpc_info none = inspect("{\"method\":\"stop\"}");
	char out[512];
	json_t *j, *r;
	int n;

	n = rpc_error_body(&i, false, "forbidden", 3, "Method \"stop\" no.", out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(out));
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	r = json_object_get(j, "result");
	assert_string_equal(json_string_value(json_object_get(r, "error")), "forbidden");
	assert_int_equal(json_integer_value(json_object_get(r, "error_code")), 3);
	assert_string_equal(json_string_value(json_object_get(r, "error_message")),
	                    "Method \"stop\" no.");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "error");
	assert_string_equal(json_string_value(json_object_get(j, "id")), "q\"1");
	json_decref(j);

	n = rpc_error_body(&none, false, "forbidden", 3, "m", out, sizeof(out));
	assert_true(n > 0);
	j = json_loads(out, 0, NULL);
	assert_null(json_object_get(j, "id"));
	json_decref(j);

	n = rpc_error_body(&i, true, "forbidden", 3, "m", out, sizeof(out));
	assert_true(n > 0);
	j = json_loads(out, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "error")), "forbidden");
	assert_int_equal(json_integer_value(json_object_get(j, "error_code")), 3);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "error");
	assert_string_equal(json_string_value(json_object_get(j, "type")), "response");
	assert_string_equal(json_string_value(json_object_get(j, "id")), "q\"1");
	assert_null(json_object_get(j, "result"));
	json_decref(j);

	assert_true(rpc_error_body(NULL, true, "forbidden", 3, "m", out, sizeof(out)) > 0);
	assert_int_equal(rpc_error_body(&i, false, "forbidden", 3, "m", out, 20), -1);
}

static void test_reply_error(void **state)
{
	char tok[32];
	const char *rpc = "{\"result\":{\"error\":\"noNetwork\",\"status\":\"error\"}}";
	const char *ws = "{\"error\":\"lgrNotFound\",\"status\":\"error\",\"type\":\"response\"}";
	const char *batch = "[{\"result\":{\"status\":\"success\"}},{\"result\":{\"error\":"
	                    "\"tooBusy\"}}]";
	const char *ok = "{\"result\":{\"status\":\"success\",\"info\":{}}}";

	assert_true(rpc_reply_error(rpc, strlen(rpc), tok, sizeof(tok)));
	assert_string_equal(tok, "noNetwork");
	assert_true(rpc_reply_error(ws, strlen(ws), tok, sizeof(tok)));
	assert_string_equal(tok, "lgrNotFound");
	assert_true(rpc_reply_error(batch, strlen(batch), tok, sizeof(tok)));
	assert_string_equal(tok, "tooBusy");
	assert_false(rpc_reply_error(ok, strlen(ok), tok, sizeof(tok)));
	assert_false(rpc_reply_error("{\"error\":", 9, tok, sizeof(tok)));
	assert_false(rpc_reply_error("", 0, tok, sizeof(tok)));
	assert_true(rpc_reply_error(rpc, strlen(rpc), NULL, 0));
}

/* The "error" key is found at every offset and in bodies of every length around the
 * 16- and 32-byte steps of the search (and a near miss is never taken for it). */
static void test_reply_error_at_every_offset(void **state)
{
	char body[160], tok[32];

	for (int pad = 0; pad < 90; pad++) {
		int n = snprintf(body, sizeof(body), "{\"%.*s\":1,\"error\":\"tooBusy\"}", pad,
		                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		                 "aaaaaaaaaaaaaaaaaaaaaaaaaaa");
		assert_true(rpc_reply_error(body, (size_t)n, tok, sizeof(tok)));
		assert_string_equal(tok, "tooBusy");
		n = snprintf(
		    body, sizeof(body), "{\"%.*s\":1,\"errors\":\"tooBusy\"}", pad,
		    "\"e\"\"e\"\"eeeee\"e\"\"e\"\"e\"\"eeeee\"e\"\"e\"\"e\"\"eeeee\"e\"\"e\"");
		assert_false(rpc_reply_error(body, (size_t)n, tok, sizeof(tok)));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_single_read_call),
	    cmocka_unit_test(test_write_calls_are_not_replayable),
	    cmocka_unit_test(test_batch),
	    cmocka_unit_test(test_websocket_command_form),
	    cmocka_unit_test(test_not_rpc),
	    cmocka_unit_test(test_long_method_is_cut),
	    cmocka_unit_test(test_ledger_needs),
	    cmocka_unit_test(test_no_ledger_needs),
	    cmocka_unit_test(test_admin_methods_denied_on_rippled_profile),
	    cmocka_unit_test(test_profile_auto_none_and_admin),
	    cmocka_unit_test(test_allow_and_deny_lists),
	    cmocka_unit_test(test_secrets_at_any_depth),
	    cmocka_unit_test(test_feature_vote),
	    cmocka_unit_test(test_batch_policy),
	    cmocka_unit_test(test_websocket_shape_policy),
	    cmocka_unit_test(test_id_echo),
	    cmocka_unit_test(test_oversize_not_inspected),
	    cmocka_unit_test(test_not_strict_json),
	    cmocka_unit_test(test_pool_write_methods),
	    cmocka_unit_test(test_method_label),
	    cmocka_unit_test(test_error_body_shapes),
	    cmocka_unit_test(test_reply_error),
	    cmocka_unit_test(test_reply_error_at_every_offset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
