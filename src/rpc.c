/* JSON-RPC inspection of request bodies (jansson). */
#include <stdio.h>
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
		}
		info->n_calls = (unsigned)json_array_size(root);
		snprintf(info->method, sizeof(info->method), "%s", info->is_rpc ? "batch" : "");
	}
	if (!info->is_rpc)
		info->all_read = false;
	json_decref(root);
}
