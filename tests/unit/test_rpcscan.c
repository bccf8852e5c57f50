/* The JSON-RPC byte scanner against jansson: for hand-written and generated bodies, under
 * several policies, whenever the scanner answers its answer is the one the jansson tree
 * gives; and it does answer for the common shapes (else the fast path would be dead). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"
#include "proxy/rpc.h"
#include "proxy/rpcscan.h"

#define N_POLICIES 5 /* the last one is NULL: no policy */
#define BODY_MAX   2048

static struct rpc_policy *policies[N_POLICIES];
static unsigned long n_decided, n_compared, n_refused, n_ledger; /* scanner answers */

static int setup(void **state)
{
	struct conf_listener ls[N_POLICIES - 1] = {
	    {.name = "public", .profile = RPC_PROFILE_RIPPLED, .rpc_inspect_max = 65536},
	    {.name = "admin",
	     .profile = RPC_PROFILE_RIPPLED,
	     .admin = true,
	     .allow_methods = "server_info,ping,stop,submit,feature,,",
	     .deny_methods = "stop",
	     .rpc_inspect_max = 65536},
	    {.name = "deny",
	     .profile = RPC_PROFILE_RIPPLED,
	     .deny_methods = "ledger,tx",
	     .rpc_inspect_max = 256},
	    {.name = "none", .profile = RPC_PROFILE_NONE, .rpc_inspect_max = 65536},
	};
	struct conf_pool p = {.name = "rpc", .write_methods = "ping,x"};
	char err[128];

	for (size_t i = 0; i < N_POLICIES - 1; i++) {
		policies[i] = rpc_policy_new(&ls[i], &p, err, sizeof(err));
		assert_non_null(policies[i]);
	}
	return 0;
}

static int teardown(void **state)
{
	for (size_t i = 0; i < N_POLICIES; i++)
		rpc_policy_free(policies[i]);
	return 0;
}

static void info_equal(const struct rpc_info *a, const struct rpc_info *b, const char *body,
                       size_t len)
{
	bool same = a->is_rpc == b->is_rpc && a->n_calls == b->n_calls &&
	            a->all_read == b->all_read && strcmp(a->method, b->method) == 0 &&
	            a->refusal == b->refusal && strcmp(a->refused_method, b->refused_method) == 0 &&
	            strcmp(a->id, b->id) == 0 && a->has_ledger == b->has_ledger &&
	            a->ledger_min == b->ledger_min && a->ledger_max == b->ledger_max &&
	            a->label == b->label && a->label == rpc_method_label_index(a->method);

	if (!same)
		fail_msg(
		    "scanner and jansson differ on [%.*s]: rpc %d/%d calls %u/%u read %d/%d "
		    "method %s/%s (label %u/%u) refusal %d/%d refused %s/%s id %s/%s ledger %d/%d "
		    "%u-%u/%u-%u",
		    (int)len, body, a->is_rpc, b->is_rpc, a->n_calls, b->n_calls, a->all_read,
		    b->all_read, a->method, b->method, a->refusal, b->refusal, a->refused_method,
		    b->refused_method, a->id, b->id, a->has_ledger, b->has_ledger, a->ledger_min,
		    a->ledger_max, b->ledger_min, b->ledger_max);
}

/* BODY under every policy: the scanner's answer, when it gives one, is jansson's. True when
 * it answered under every policy. */
static bool differential(const char *body, size_t len)
{
	struct rpc_info fast, full;
	bool all = true;

	for (size_t i = 0; i < N_POLICIES; i++) {
		rpc_inspect_json(body, len, policies[i], &full);
		if (!rpc_inspect_fast(body, len, policies[i], &fast)) {
			all = false;
			continue;
		}
		n_decided++;
		n_refused += fast.refusal != RPC_ALLOWED;
		n_ledger += fast.has_ledger;
		info_equal(&fast, &full, body, len);
	}
	n_compared += N_POLICIES;
	return all;
}

static bool differential_s(const char *body)
{
	return differential(body, strlen(body));
}

/* Bodies the scanner must answer itself: what clients send every second. */
static const char *const common[] = {
    "{\"method\":\"server_info\",\"params\":[{}]}",
    "{\"method\":\"server_info\",\"params\":[{}],\"id\":1}",
    "{ \"method\" : \"account_info\", \"params\" : [ { \"account\" : \"rHb9CJAWyB4rj91VRWn96Dku"
    "NAN4LZ9uTm\", \"ledger_index\" : \"validated\", \"strict\" : true } ] }",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":123456,\"transactions\":false}],"
    "\"id\":\"abc\"}",
    "{\"method\":\"account_tx\",\"params\":[{\"account\":\"r1\",\"ledger_index_min\":-1,"
    "\"ledger_index_max\":90000000,\"limit\":200,\"marker\":{\"ledger\":5,\"seq\":3}}]}",
    "{\"method\":\"tx\",\"params\":[{\"transaction\":\"E08D\",\"min_ledger\":\"10\","
    "\"max_ledger\":\"20\",\"binary\":false}]}",
    "{\"command\":\"ledger_entry\",\"index\":\"AB\",\"ledger_seq\":7,\"id\":null}",
    "{\"method\":\"submit\",\"params\":[{\"tx_blob\":\"1200002280000000\"}]}",
    "{\"method\":\"submit\",\"params\":[{\"secret\":\"snoPBrXtMeMyMHUVTgbuqAfg1SUTb\","
    "\"tx_json\":{\"TransactionType\":\"Payment\",\"Amount\":\"1000\"}}]}",
    "{\"method\":\"wallet_propose\",\"params\":[{\"seed\":\"s\"}]}",
    "{\"method\":\"stop\"}",
    "{\"method\":\"feature\",\"params\":[{\"feature\":\"X\",\"vetoed\":true}]}",
    "{\"command\":\"feature\",\"feature\":\"X\",\"vetoed\":false,\"id\":3}",
    "{\"method\":\"\",\"command\":\"ping\"}",
    "{\"method\":\"ping\",\"command\":\"stop\"}",
    "{\"method\":5,\"command\":\"server_state\",\"ledger_index\":4}",
    "{\"params\":[{}]}",
    "{}",
    "{\"method\":\"book_offers\",\"params\":[{\"taker_gets\":{\"currency\":\"XRP\"},"
    "\"taker_pays\":{\"currency\":\"USD\",\"issuer\":\"r\"},\"limit\":10,\"x\":1.5,"
    "\"y\":[true,false,null,0,-3,\"a\\\"b\\n\"]}]}",
    "\r\n\t {\"method\":\"fee\"} \n",
};

static void test_common_bodies_are_scanned(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(common); i++)
		if (!differential_s(common[i]))
			fail_msg("the scanner left a common body to jansson: %s", common[i]);
}

/* Bodies where the two readers could part: each must agree or be left to jansson. */
static const char *const tricky[] = {
    /* not strict JSON: comments, repeated keys at any depth, trailing bytes */
    "{\"method\":\"server_info\" /* c */}",
    "{\"method\":\"server_info\"} // c",
    "{\"method\":\"stop\",\"method\":\"server_info\"}",
    "{\"method\":\"server_info\",\"params\":[{\"a\":1,\"a\":2}]}",
    "{\"method\":\"server_info\",\"params\":[{\"x\":{\"b\":1,\"c\":{\"d\":1,\"d\":1}}}]}",
    "{\"method\":\"server_info\",\"params\":[{\"a\":{},\"b\":{\"a\":1}}]}",
    "{\"method\":\"server_info\"}x",
    "{\"method\":\"server_info\"}{}",
    "{\"method\":\"server_info\",}",
    "{\"method\":\"server_info\",\"params\":[{},]}",
    "{\"method\":\"server_info\" \"params\":[]}",
    "{\"method\":'server_info'}",
    "{method:\"server_info\"}",
    "{\"method\":\"server_info\"",
    "{\"method\":\"server_info",
    "{\"method\":\"server_info\",\"params\":[",
    "{\"method\":\"server_info\"}\0",
    "{\"method\":\"server_info\",\"x\":\"a\0b\"}",
    /* escapes and bytes past ASCII */
    "{\"me\\u0074hod\":\"stop\"}",
    "{\"method\":\"st\\u006fp\"}",
    "{\"method\":\"server_info\",\"params\":[{\"se\\u0063ret\":\"x\"}]}",
    "{\"method\":\"server_info\",\"params\":[{\"secre\\t\":\"x\"}]}",
    "{\"method\":\"server_info\",\"x\":\"\\u0000\"}",
    "{\"method\":\"server_info\",\"x\":\"\\ud800\"}",
    "{\"method\":\"server_info\",\"x\":\"\\q\"}",
    "{\"method\":\"server_info\",\"x\":\"\xc3\xa9\"}",
    "{\"method\":\"server_info\",\"x\":\"\xff\"}",
    "{\"method\":\"server_info\",\"x\":\"\x7f\"}",
    "{\"method\":\"server_info\",\"x\":\"\t\"}",
    "{\"method\":\"server_\\\"info\"}",
    "{\"method\":\"server_info\",\"id\":\"a\\/b\"}",
    "{\"method\":\"server_info\",\"id\":\"\\u00e9\"}",
    /* numbers */
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":-0}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":0}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":01}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":1.}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":1.0}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":1e3}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":1E+3}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":4294967295}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":4294967296}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":999999999999999999}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":9223372036854775807}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":9223372036854775808}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":-9223372036854775809}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":-}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":-5}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":+5}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":.5}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":5x}]}",
    "{\"method\":\"ledger\",\"params\":[{\"x\":1e999}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":\"0123\"}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":\"4294967295\"}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":\"4294967296\"}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":\"12345678901\"}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":\"12a\"}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":\"00000000001\"}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":\"\"}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":\"1\\u0032\"}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":\" 12\"}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":true}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index\":[1]}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index_min\":30,\"ledger_index_max\":10}]}",
    "{\"method\":\"ledger\",\"params\":[{\"ledger_index_max\":10}]}",
    "{\"method\":\"ledger\",\"params\":[{\"min_ledger\":\"10\",\"ledger_seq\":3}]}",
    "{\"method\":\"ledger\",\"params\":[1,{\"ledger_index\":5}]}",
    "{\"method\":\"ledger\",\"params\":{\"ledger_index\":5}}",
    "{\"method\":\"ledger\",\"ledger_index\":5}",
    "{\"command\":\"ledger\",\"ledger_index\":5,\"params\":[{\"ledger_index\":6}]}",
    "{\"method\":\"\",\"command\":\"ledger\",\"ledger_index\":5,\"params\":[{\"ledger_index\":6}]}",
    /* literals */
    "{\"method\":\"server_info\",\"x\":tru}",
    "{\"method\":\"server_info\",\"x\":truex}",
    "{\"method\":\"server_info\",\"x\":true1}",
    "{\"method\":\"server_info\",\"x\":nul}",
    "{\"method\":\"server_info\",\"x\":NULL}",
    /* ids */
    "{\"method\":\"server_info\",\"id\":-7}",
    "{\"method\":\"server_info\",\"id\":1.5}",
    "{\"method\":\"server_info\",\"id\":[1,2]}",
    "{\"method\":\"server_info\",\"id\":{\"a\":1}}",
    "{\"method\":\"server_info\",\"id\":true}",
    "{\"method\":\"server_info\",\"id\":\"0123456789012345678901234567890123456789012345678901"
    "234567890\"}",
    "{\"method\":\"server_info\",\"id\":\"012345678901234567890123456789012345678901234567890"
    "1234567890\"}",
    "{\"method\":\"stop\",\"id\":\"x\"}",
    /* methods */
    "{\"method\":\"batch\",\"params\":[{\"method\":\"stop\"}]}",
    "{\"method\":\"batch\",\"params\":[]}",
    "{\"method\":\"batch\"}",
    "{\"command\":\"batch\",\"params\":[{\"method\":\"stop\"}]}",
    "[{\"method\":\"ping\"},{\"method\":\"stop\"}]",
    "[]",
    "\"server_info\"",
    "5",
    "{\"method\":\"\"}",
    "{\"method\":null,\"command\":\"\"}",
    "{\"method\":[\"stop\"]}",
    "{\"method\":{\"method\":\"stop\"}}",
    "{\"method\":\"x012345678901234567890123456789012345678901234567890123456789\"}",
    "{\"method\":\"feature\",\"vetoed\":true}",
    "{\"method\":\"feature\",\"params\":[{\"vetoed\":1}]}",
    "{\"method\":\"feature\",\"params\":[[],{\"vetoed\":1}],\"vetoed\":1}",
    "{\"method\":\"feature\",\"params\":\"x\",\"vetoed\":1}",
    "{\"command\":\"feature\",\"params\":[{\"vetoed\":1}]}",
    "{\"command\":\"feature\",\"params\":[],\"vetoed\":1}",
    /* secrets at any depth */
    "{\"method\":\"server_info\",\"x\":[[{\"passphrase\":1}]]}",
    "{\"method\":\"server_info\",\"seed_hex\":\"x\"}",
    "{\"method\":\"server_info\",\"x\":\"secret\"}",
    "{\"method\":\"server_info\",\"seeds\":1,\"Secret\":1}",
    "{\"method\":\"stop\",\"secret\":1}",
    /* nesting */
    "{\"method\":\"server_info\",\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]"
    "]]]]]]]]]]]]]]]]]]]]]]]]]}",
    "{\"method\":\"server_info\",\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]"
    "]]]]]}",
};

static void test_tricky_bodies(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(tricky); i++)
		differential_s(tricky[i]);
	/* and the ones with a NUL byte inside, whole */
	differential("{\"method\":\"server_info\"}\0", 25);
	differential("{\"method\":\"server_info\",\"x\":\"a\0b\"}", 35);
	differential("{\"method\":\"server\0info\"}", 25);
	/* a body over a policy's rpc_inspect_max (256 for "deny"): the early answer agrees */
	char big[600];
	int n = snprintf(big, sizeof(big),
	                 "{\"method\":\"ledger\",\"params\":[{\"x\":\"%0500d\"}]}", 0);
	differential(big, (size_t)n);
	/* more keys than the scanner remembers: left to jansson, still agrees */
	char many[2048], *p = many;
	p += sprintf(p, "{\"method\":\"ping\"");
	for (int i = 0; i < RPCSCAN_KEYS + 4; i++)
		p += sprintf(p, ",\"k%d\":%d", i, i);
	p += sprintf(p, ",\"k3\":0}");
	differential(many, (size_t)(p - many));
}

/* ---- generated bodies ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

struct out {
	char b[BODY_MAX];
	size_t n;
};

static void put(struct out *o, const char *s)
{
	size_t n = strlen(s);

	if (o->n + n < sizeof(o->b)) {
		memcpy(o->b + o->n, s, n);
		o->n += n;
	}
}

static const char *const keys[] = {
    "method",
    "command",
    "params",
    "id",
    "vetoed",
    "secret",
    "seed",
    "seed_hex",
    "passphrase",
    "ledger_index",
    "ledger_seq",
    "min_ledger",
    "max_ledger",
    "ledger_index_min",
    "ledger_index_max",
    "account",
    "a",
    "",
    "se\\u0063ret",
    "x\\ty",
    "Secret",
    "seeds",
    "tx_json",
    "limit",
    "method ",
};
static const char *const names[] = {
    "\"server_info\"",
    "\"submit\"",
    "\"stop\"",
    "\"feature\"",
    "\"batch\"",
    "\"\"",
    "\"ping\"",
    "\"ledger\"",
    "\"made_up\"",
    "\"st\\u006fp\"",
    "\"a\\\"b\"",
    "5",
    "null",
    "[\"stop\"]",
    "\"tx\"",
    "\"sign\"",
    "\"x\"",
    "\"peers\"",
    "\"wallet_propose\"",
    "\"Stop\"",
};
static const char *const scalars[] = {
    "0",
    "-0",
    "1",
    "-1",
    "07",
    "1.5",
    "1.",
    "1e3",
    "2E-2",
    "-",
    "true",
    "false",
    "null",
    "tru",
    "\"\"",
    "\"10\"",
    "\"validated\"",
    "\"0123\"",
    "\"4294967296\"",
    "4294967295",
    "4294967296",
    "12345678901234567890",
    "123456789012345678",
    "\"a\\nb\"",
    "\"\\u0041\"",
    "\"\xc3\xa9\"",
    "\"x\"",
    "\"12345678901\"",
    "-12",
};
static const char *const ledgers[] = {"5",   "\"77\"",        "0",   "4294967295",
                                      "-1",  "\"validated\"", "1.0", "\"4294967295\"",
                                      "900", "\"3\""};
static const char *const ws_set[] = {"", "", "", " ", "\n", "\r\n\t"};

/* Whitespace, now and then a comment (not strict JSON). */
static const char *ws(void)
{
	return rnd(50) == 0 ? "/**/" : ws_set[rnd(ARRAY_SIZE(ws_set))];
}

static void gen_value(struct out *o, unsigned depth);

static void gen_object(struct out *o, unsigned depth, bool top)
{
	unsigned n = rnd(top ? 6 : 4);

	put(o, "{");
	if (top && rnd(2) == 0) { /* the JSON-RPC shape first, then (maybe repeated) keys */
		put(o, "\"method\":");
		put(o, names[rnd(ARRAY_SIZE(names))]);
		put(o, ",\"params\":[");
		gen_object(o, depth + 1, false);
		put(o, "]");
		if (n > 0)
			put(o, ",");
	}
	for (unsigned i = 0; i < n; i++) {
		const char *k = keys[rnd(ARRAY_SIZE(keys))];
		if (i > 0)
			put(o, ",");
		put(o, ws());
		put(o, "\"");
		put(o, k);
		put(o, "\":");
		put(o, ws());
		if (strcmp(k, "method") == 0 || strcmp(k, "command") == 0)
			put(o, names[rnd(ARRAY_SIZE(names))]);
		else if (strstr(k, "ledger") != NULL && rnd(4) > 0)
			put(o, ledgers[rnd(ARRAY_SIZE(ledgers))]);
		else if (strcmp(k, "params") == 0 && rnd(4) > 0) {
			put(o, "[");
			gen_object(o, depth + 1, false);
			if (rnd(4) == 0) {
				put(o, ",");
				gen_value(o, depth + 1);
			}
			put(o, "]");
		} else
			gen_value(o, depth + 1);
	}
	put(o, "}");
}

static void gen_value(struct out *o, unsigned depth)
{
	unsigned r = rnd(depth > 4 ? 1 : 10);

	if (r == 0 || depth > 6) {
		put(o, scalars[rnd(ARRAY_SIZE(scalars))]);
	} else if (r < 6) {
		gen_object(o, depth, false);
	} else {
		unsigned n = rnd(4);
		put(o, "[");
		for (unsigned i = 0; i < n; i++) {
			if (i > 0)
				put(o, ",");
			gen_value(o, depth + 1);
		}
		put(o, "]");
	}
}

/* One small change: a byte replaced, inserted, removed, or the body cut. */
static void mutate(struct out *o)
{
	static const char bytes[] = "\"\\{}[],: 0-.eE/*ux\x01\x7f\x80";
	size_t at = o->n > 0 ? rnd((unsigned)o->n) : 0;

	switch (rnd(4)) {
	case 0:
		if (o->n > 0)
			o->b[at] = bytes[rnd(sizeof(bytes) - 1)];
		break;
	case 1:
		if (o->n + 1 < sizeof(o->b)) {
			memmove(o->b + at + 1, o->b + at, o->n - at);
			o->b[at] = bytes[rnd(sizeof(bytes) - 1)];
			o->n++;
		}
		break;
	case 2:
		if (o->n > 0) {
			memmove(o->b + at, o->b + at + 1, o->n - at - 1);
			o->n--;
		}
		break;
	default:
		o->n = at;
	}
}

static void test_generated_bodies(void **state)
{
	unsigned long decided_before = n_decided, compared_before = n_compared;

	for (unsigned i = 0; i < 40000; i++) {
		struct out o = {.n = 0};
		put(&o, ws());
		gen_object(&o, 0, true);
		put(&o, ws());
		differential(o.b, o.n);
		for (unsigned m = rnd(3); m > 0; m--) {
			mutate(&o);
			differential(o.b, o.n);
		}
	}
	/* the generated bodies must exercise the scanner, not only the way around it */
	unsigned long decided = n_decided - decided_before, compared = n_compared - compared_before;
	print_message("scanner answered %lu of %lu inspections (%lu refusals, %lu with ledgers)\n",
	              decided, compared, n_refused, n_ledger);
	assert_true(decided * 6 > compared);
	assert_true(n_refused > 1000 && n_ledger > 1000);
}

/* Mutations of the common bodies: near misses of what the scanner answers. */
static void test_mutated_common_bodies(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(common); i++)
		for (unsigned k = 0; k < 3000; k++) {
			struct out o = {.n = 0};
			put(&o, common[i]);
			for (unsigned m = 1 + rnd(2); m > 0; m--)
				mutate(&o);
			differential(o.b, o.n);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_common_bodies_are_scanned),
	    cmocka_unit_test(test_tricky_bodies),
	    cmocka_unit_test(test_generated_bodies),
	    cmocka_unit_test(test_mutated_common_bodies),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
