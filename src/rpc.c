/* JSON-RPC inspection of request bodies (jansson). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rpc.h"

/* rippled methods that act on the ledger or on keys: replaying them could submit twice. */
static const char *const write_methods[] = {
    "submit", "submit_multisigned", "sign", "sign_for", "channel_authorize",
};

bool rpc_is_write_method(const char *method)
{
	for (size_t i = 0; i < sizeof(write_methods) / sizeof(write_methods[0]); i++)
		if (strcmp(method, write_methods[i]) == 0)
			return true;
	return false;
}

/* The "method" (JSON-RPC) or "command" (rippled WebSocket) of one call, or NULL. */
static const char *call_method(json_t *call)
{
	json_t *m = json_object_get(call, "method");

	if (!json_is_string(m))
		m = json_object_get(call, "command");
	return json_is_string(m) ? json_string_value(m) : NULL;
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
 * when the other end is -1 or absent ("earliest", "latest": no specific ledger). The
 * arguments are params[0] of a JSON-RPC call, or the message itself for WebSocket. */
static void call_ledgers(json_t *call, struct rpc_info *info)
{
	static const char *const single[] = {"ledger_index", "ledger_seq"};
	static const char *const spans[][2] = {{"ledger_index_min", "ledger_index_max"},
	                                       {"min_ledger", "max_ledger"}};
	json_t *args = call;
	uint32_t lo, hi;

	if (json_is_string(json_object_get(call, "method")))
		args = json_array_get(json_object_get(call, "params"), 0);
	if (!json_is_object(args))
		return;
	for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++)
		if (ledger_number(json_object_get(args, single[i]), &lo))
			ledger_need(info, lo, lo);
	for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		bool has_lo = ledger_number(json_object_get(args, spans[i][0]), &lo);
		bool has_hi = ledger_number(json_object_get(args, spans[i][1]), &hi);
		if (has_lo && has_hi)
			ledger_need(info, lo < hi ? lo : hi, lo < hi ? hi : lo);
		else if (has_lo || has_hi)
			ledger_need(info, has_lo ? lo : hi, has_lo ? lo : hi);
	}
}

void rpc_inspect(const char *body, size_t len, const struct rpc_policy *pol, struct rpc_info *info)
{
	json_error_t jerr;
	json_t *root;

	memset(info, 0, sizeof(*info));
	if (len == 0 || len > RPC_INSPECT_MAX)
		return;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return;
	info->all_read = true;
	if (json_is_object(root)) {
		const char *m = call_method(root);
		if (m != NULL) {
			info->is_rpc = true;
			info->n_calls = 1;
			info->all_read = !rpc_is_write_method(m);
			snprintf(info->method, sizeof(info->method), "%s", m);
			call_ledgers(root, info);
		}
	} else if (json_is_array(root) && json_array_size(root) > 0) {
		size_t i;
		json_t *call;
		info->is_rpc = true;
		json_array_foreach(root, i, call)
		{
			const char *m = call_method(call);
			if (m == NULL) {
				info->is_rpc = false;
				break;
			}
			if (rpc_is_write_method(m))
				info->all_read = false;
			call_ledgers(call, info);
		}
		info->n_calls = (unsigned)json_array_size(root);
		snprintf(info->method, sizeof(info->method), "%s", info->is_rpc ? "batch" : "");
	}
	if (!info->is_rpc)
		info->all_read = false;
	json_decref(root);
}
