/* JSON-RPC awareness: what a request body (or a WebSocket command message) asks for, whether
 * it is safe to send twice, and whether the listener's method policy lets it through. Pure
 * logic over a complete body held in memory (bounded by the caller). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define RPC_INSPECT_MAX    65536 /* default rpc_inspect_max: bodies up to this size are parsed */
#define RPC_ID_MAX         64    /* an "id" echoed by refusals, as JSON text */
#define RPC_SLOW_DOWN_CODE 10    /* rippled's rpcSLOW_DOWN ("slowDown"): a client over its rate */
#define RPC_SLOW_DOWN_TEXT "You are placing too much load on the server."
#define RPC_FORBIDDEN_CODE 3 /* rippled's rpcFORBIDDEN ("forbidden"; HTTP 403 in its table) */

/* Why a request may not go to a node. */
enum rpc_refusal {
	RPC_ALLOWED = 0,
	RPC_DENIED, /* a call's method is denied here (rippled admin profile, deny/allow lists) */
	RPC_SECRET, /* a call carries secret, seed, seed_hex or passphrase (public listener) */
	RPC_REFUSAL_COUNT
};
extern const char *const rpc_refusal_names[RPC_REFUSAL_COUNT];

struct rpc_info {
	bool is_rpc;                 /* a JSON object or array of objects with "method"/"command" */
	unsigned n_calls;            /* 1, or the batch size */
	bool all_read;               /* no call is a write method: replaying is safe */
	char method[RPC_METHOD_MAX]; /* the method, "batch" for arrays; "" when not RPC */
	enum rpc_refusal refusal;    /* RPC_ALLOWED unless the policy refuses a call */
	char refused_method[RPC_METHOD_MAX]; /* the first refused call's method */
	char id[RPC_ID_MAX];             /* the (first) call's "id" as JSON text; "" when none */
	bool has_ledger;                 /* some call names ledgers by number: */
	uint32_t ledger_min, ledger_max; /* the range a node must hold to answer it */
	uint8_t label;                   /* rpc_method_label_index(method), for the metrics */
};

/* A listener's policy, built from its conf and its pool's (allow_methods, deny_methods,
 * profile, admin, rpc_inspect_max; the pool's check type and write_methods). NULL and err
 * filled on failure. Immutable once built: rebuilt on reload. */
struct rpc_policy;
struct rpc_policy *rpc_policy_new(const struct conf_listener *l, const struct conf_pool *p,
                                  char *err, size_t errlen);
void rpc_policy_free(struct rpc_policy *pol);
/* Whether POL must read every body to police it (the rippled profile on a public listener,
 * or lists on an admin one): a body it cannot read (chunked, or over rpc_inspect_max) is
 * refused rather than passed unread, so that a padded `stop` never reaches a node. */
bool rpc_policy_must_read(const struct rpc_policy *pol);
/* Bodies up to this size are inspected (rpc_inspect_max; RPC_INSPECT_MAX when POL is NULL). */
size_t rpc_policy_inspect_max(const struct rpc_policy *pol);

/* Fills INFO from BODY, a JSON-RPC request ({"method":..,"params":[{..}]}), a batch array,
 * or a rippled WebSocket message ({"command":..,...}); POL may be NULL (built-in write
 * methods, nothing refused). Never fails: a body that is not JSON-RPC gives is_rpc = false,
 * and a body over the inspect limit is not parsed (is_rpc false, not replayable). */
void rpc_inspect(const char *body, size_t len, const struct rpc_policy *pol, struct rpc_info *info);
/* rpc_inspect's two ways (for the tests): the byte scanner (proxy/rpcscan.h), which answers
 * only when it is sure and returns false otherwise, and the jansson tree, which always
 * answers. When the first answers, the second gives the same INFO. */
bool rpc_inspect_fast(const char *body, size_t len, const struct rpc_policy *pol,
                      struct rpc_info *info) __attribute__((warn_unused_result));
void rpc_inspect_json(const char *body, size_t len, const struct rpc_policy *pol,
                      struct rpc_info *info);
/* Whether METHOD changes state (submit, sign...): never retried once sent. */
bool rpc_is_write_method(const char *method);
/* METHOD, or "other" when it is not one of rippled's (bounded metric label); "-" for "". */
const char *rpc_method_label(const char *method);
/* The same label as a small index (RPC_LABEL_NONE for "-", RPC_LABEL_OTHER, or
 * RPC_LABEL_FIRST + a row of rippled's methods), below rpc_label_count(); rpc_label_name
 * gives its text back. */
enum {
	RPC_LABEL_NONE = 0,
	RPC_LABEL_OTHER,
	RPC_LABEL_FIRST
};
unsigned rpc_method_label_index(const char *method);
const char *rpc_label_name(unsigned label);
unsigned rpc_label_count(void);
/* rippled's error shape, written into OUT (NUL-terminated); its length, or -1 when it does
 * not fit. JSON-RPC: {"result":{"error":E,"error_code":C,"error_message":M,"status":"error"}}
 * plus "id" when the request had one; WebSocket (WS): {"error":E,"error_code":C,
 * "error_message":M,"id":ID,"status":"error","type":"response"}. INFO may be NULL. */
int rpc_error_body(const struct rpc_info *info, bool ws, const char *error, int code,
                   const char *message, char *out, size_t len);
/* The error token of a reply (result.error, or error of a WebSocket reply, or of a batch
 * element): true and TOKEN filled when there is one. */
bool rpc_reply_error(const char *body, size_t len, char *token, size_t toklen);
/* The same, for the first token that is one of WANTED (N of them): the bytes are scanned for
 * them before anything is parsed, since every small JSON-RPC answer is asked. */
bool rpc_reply_token(const char *body, size_t len, const char *const *wanted, size_t n, char *token,
                     size_t toklen);
/* rippled JSON-RPC error tokens meaning "this node cannot answer now" (noNetwork, ...):
 * true when BODY's result.error (or a batch element's) is one of them. */
bool rpc_busy_token(const char *body, size_t len, char *token, size_t toklen);
