/* JSON-RPC awareness: what a request body asks for, and whether it is safe to send twice.
 * Pure logic over a complete body held in memory (bounded by the caller). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define RPC_METHOD_MAX  48    /* longer method names are cut (they are not rippled's) */
#define RPC_INSPECT_MAX 65536 /* bodies up to this size are parsed */

struct rpc_info {
	bool is_rpc;                 /* a JSON object or array of objects with "method" */
	unsigned n_calls;            /* 1, or the batch size */
	bool all_read;               /* no call is a write method: replaying is safe */
	char method[RPC_METHOD_MAX]; /* the method, "batch" for arrays; "" when not RPC */
};

/* Fills INFO from BODY. Never fails: a body that is not JSON-RPC gives is_rpc = false. */
void rpc_inspect(const char *body, size_t len, struct rpc_info *info);
/* Whether METHOD changes state (submit, sign...): never retried once sent. */
bool rpc_is_write_method(const char *method);
