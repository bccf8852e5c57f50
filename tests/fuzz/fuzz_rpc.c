/* libFuzzer target for JSON-RPC inspection: the input is a request body read under four
 * policies (rippled public, rippled admin with lists, none, and no policy) and a reply
 * scanned for its error token. Results must be bounded strings, refusals explained, and the
 * error bodies built from them must parse back; whenever the byte scanner answers, its answer
 * must be the jansson tree's. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "proxy/rpc.h"

#define N_POLICIES 3

static struct rpc_policy *policies[N_POLICIES];

static void policies_init(void)
{
	struct conf_listener ls[N_POLICIES] = {
	    {.name = "public", .profile = RPC_PROFILE_RIPPLED, .rpc_inspect_max = 65536},
	    {.name = "admin",
	     .profile = RPC_PROFILE_AUTO,
	     .admin = true,
	     .allow_methods = "server_info,ping,stop,submit",
	     .deny_methods = "stop",
	     .rpc_inspect_max = 4096},
	    {.name = "none", .profile = RPC_PROFILE_NONE, .rpc_inspect_max = 65536},
	};
	struct conf_pool p = {.name = "rpc", .write_methods = "ping,x"};
	char err[128];

	p.health.check = CHECK_RIPPLED;
	for (size_t i = 0; i < N_POLICIES; i++) {
		policies[i] = rpc_policy_new(&ls[i], &p, err, sizeof(err));
		CHECK(policies[i] != NULL);
	}
}

static void check_info(const struct rpc_info *i, size_t size, const struct rpc_policy *pol)
{
	char body[512];
	int n;
	json_t *j;

	CHECK(strnlen(i->method, sizeof(i->method)) < sizeof(i->method));
	CHECK(strnlen(i->refused_method, sizeof(i->refused_method)) < sizeof(i->refused_method));
	CHECK(strnlen(i->id, sizeof(i->id)) < sizeof(i->id));
	CHECK(i->refusal >= RPC_ALLOWED && i->refusal < RPC_REFUSAL_COUNT);
	CHECK(i->is_rpc ? i->n_calls > 0 && i->method[0] != '\0' : !i->all_read);
	CHECK(size <= rpc_policy_inspect_max(pol) || (!i->is_rpc && i->refusal == RPC_ALLOWED));
	CHECK(pol != NULL || i->refusal == RPC_ALLOWED);
	CHECK(rpc_method_label(i->method) != NULL);
	for (int ws = 0; ws < 2; ws++) {
		n = rpc_error_body(i, ws, "forbidden", RPC_FORBIDDEN_CODE, "m", body, sizeof(body));
		CHECK(n > 0 && (size_t)n == strlen(body));
		j = json_loads(body, 0, NULL);
		CHECK(j != NULL);
		CHECK(i->id[0] == '\0' || json_object_get(j, "id") != NULL);
		json_decref(j);
	}
}

/* The scanner's answer, when it gives one, is the tree's. */
static void check_same(const uint8_t *data, size_t size, const struct rpc_policy *pol)
{
	struct rpc_info fast, full;

	rpc_inspect_json((const char *)data, size, pol, &full);
	if (!rpc_inspect_fast((const char *)data, size, pol, &fast))
		return;
	CHECK(fast.is_rpc == full.is_rpc && fast.n_calls == full.n_calls);
	CHECK(fast.all_read == full.all_read && fast.refusal == full.refusal);
	CHECK(strcmp(fast.method, full.method) == 0);
	CHECK(strcmp(fast.refused_method, full.refused_method) == 0);
	CHECK(strcmp(fast.id, full.id) == 0);
	CHECK(fast.has_ledger == full.has_ledger && fast.ledger_min == full.ledger_min &&
	      fast.ledger_max == full.ledger_max);
	CHECK(fast.label == full.label && full.label == rpc_method_label_index(full.method));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rpc_info info;
	char tok[64];

	if (policies[0] == NULL)
		policies_init();
	for (size_t i = 0; i < N_POLICIES; i++) {
		rpc_inspect((const char *)data, size, policies[i], &info);
		check_info(&info, size, policies[i]);
		check_same(data, size, policies[i]);
	}
	check_same(data, size, NULL);
	rpc_inspect((const char *)data, size, NULL, &info);
	check_info(&info, size, NULL);
	if (rpc_reply_error((const char *)data, size, tok, sizeof(tok)))
		CHECK(strnlen(tok, sizeof(tok)) < sizeof(tok));
	return 0;
}
