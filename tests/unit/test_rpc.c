/* JSON-RPC inspection: methods, batches, and what may be replayed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rpc.h"

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
