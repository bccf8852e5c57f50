/* The JSON-RPC byte scanner: what the method policy (rpc.c) reads of one call, taken from
 * the bytes in one pass without building a JSON tree. It answers only for a body it has
 * checked to be JSON that jansson reads the same way (strict, no duplicate keys, nothing
 * after it); whatever it is not sure of (escapes in names, \u, non-ASCII, exponents, deep
 * nesting, arrays at the top) it leaves to jansson. Pure, no allocation. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RPCSCAN_NAME_MAX 127 /* longer "method"/"command" strings are left to jansson */
#define RPCSCAN_DEPTH    32  /* deeper nesting is left to jansson */
#define RPCSCAN_KEYS     64  /* keys held for the duplicate check, over all open objects */

/* The ledger keys call_ledgers reads, in this order: two that name one ledger, then the two
 * ends of two spans. */
enum rpcscan_ledger_key {
	RPCSCAN_LEDGER_INDEX = 0,
	RPCSCAN_LEDGER_SEQ,
	RPCSCAN_LEDGER_INDEX_MIN,
	RPCSCAN_LEDGER_INDEX_MAX,
	RPCSCAN_MIN_LEDGER,
	RPCSCAN_MAX_LEDGER,
	RPCSCAN_LEDGER_KEY_COUNT
};
extern const char *const rpcscan_ledger_keys[RPCSCAN_LEDGER_KEY_COUNT];

/* A string value as it is in the body (no escapes in it, never NUL-terminated). */
struct rpcscan_str {
	const char *p; /* NULL: absent, or not a string */
	size_t len;
};

/* The ledgers named by number under one object: for each key, whether its value is a
 * non-negative integer or a decimal string of at most 10 digits, at most UINT32_MAX. */
struct rpcscan_ledgers {
	bool has[RPCSCAN_LEDGER_KEY_COUNT];
	uint32_t v[RPCSCAN_LEDGER_KEY_COUNT];
};

/* One call: a JSON object at the top of the body. */
struct rpcscan_call {
	struct rpcscan_str method, command; /* the top-level "method"/"command", when strings */
	bool params_array;                  /* the top-level "params" is an array */
	bool params0_object;                /* ... whose first element is an object */
	bool vetoed_top;                    /* the top level has a "vetoed" key */
	bool vetoed_params0;                /* params[0] has a "vetoed" key */
	bool secret;                        /* a key rpcscan_secret_key names, at any depth */
	struct rpcscan_str id;              /* the top-level "id" as compact JSON text */
	struct rpcscan_ledgers top;         /* ledger keys of the top level (WebSocket shape) */
	struct rpcscan_ledgers params0;     /* ledger keys of params[0] (JSON-RPC shape) */
};

/* Scans BODY (LEN bytes) as one call. True: OUT holds what jansson would give. False: the
 * scanner is not sure (or the body is not JSON): ask jansson. */
bool rpcscan_call(const char *body, size_t len, struct rpcscan_call *out)
    __attribute__((warn_unused_result));
/* Whether the key K (N bytes) holds a private key or what derives one (secret, seed,
 * seed_hex, passphrase): such requests are refused on public listeners. */
bool rpcscan_secret_key(const char *k, size_t n);
