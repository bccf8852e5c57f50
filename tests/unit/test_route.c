/* The routing snapshot: publication, the handlers told of it, lookups, and the deferred
 * reclaim of a replaced table (never under a reader: only on a later loop turn, once its
 * last reference is gone). Pools' and backends' reference counts show what a table holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/backend.h"
#include "proxy/route.h"

static struct event_base *base;
static struct pool *pool;
static struct backend *b1, *b2;

static int setup(void **state)
{
	struct conf_pool cp = {.name = "rpc", .min_up = 1};
	struct conf_backend c1 = {.name = "n1", .pool = "rpc", .weight = 1};
	struct conf_backend c2 = {.name = "n2", .pool = "rpc", .weight = 1};

	base = event_base_new();
	pool = pool_new(&cp);
	b1 = backend_new(&c1);
	b2 = backend_new(&c2);
	assert_true(base && pool && b1 && b2);
	assert_int_equal(route_init(base), 0);
	return 0;
}

static int teardown(void **state)
{
	route_deinit();
	backend_unref(b1);
	backend_unref(b2);
	pool_unref(pool);
	event_base_free(base);
	return 0;
}

/* A table of POOL with B1 (routable when UP) and B2 (out). */
static struct route_table *table(bool up)
{
	struct route_table *t = route_table_new(1);
	struct route_node n1 = {.b = b1, .weight = 1, .routable = up};
	struct route_node n2 = {.b = b2, .weight = 1, .routable = false, .panic_rank = 2};

	assert_non_null(t);
	assert_int_equal(route_pool_init(t, 0, pool, 2), 0);
	route_node_set(t, 0, 0, &n1);
	route_node_set(t, 0, 1, &n2);
	return t;
}

static void loop_turn(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
}

static void test_empty_until_published(void **state)
{
	const struct route_table *t = route_current();

	assert_non_null(t);
	assert_int_equal(t->n_pools, 0);
	assert_null(pool_pick(pool, NULL, 0));
	assert_false(pool_can_pick(pool, NULL, 0));
}

static void test_published_table_is_what_the_pick_reads(void **state)
{
	route_publish(table(true));
	const struct route_pool *rp = route_pool_of(route_current(), pool);
	assert_non_null(rp);
	assert_int_equal(rp->n_nodes, 2);
	assert_int_equal(rp->n_up, 1);
	assert_false(rp->panic);
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(pool_pick(pool, NULL, 0), b1);
	route_publish(table(false)); /* b1 out: with min_up 1 and panic off, nothing */
	assert_true(route_pool_of(route_current(), pool)->panic == false);
	assert_null(pool_pick(pool, NULL, 0));
	assert_int_equal(route_node_of(route_current(), b2)->panic_rank, 2);
}

/* The last routable node failed under a request (issue 17): its retry goes to the least bad
 * at once when the pool allows panic, before the health engine has said anything; a first
 * pick never does, and a pool with panic off answers with nothing. */
static void test_retry_past_the_last_routable_node_goes_to_the_least_bad(void **state)
{
	struct backend *tried[1] = {b1};

	route_publish(table(true));
	assert_false(route_pool_of(route_current(), pool)->panic);
	assert_null(pool_pick(pool, tried, 1)); /* panic = no */
	assert_false(pool_can_pick(pool, tried, 1));
	pool->conf.panic = true;
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(pool_pick(pool, NULL, 0), b1); /* out of panic: routable only */
	assert_true(pool_can_pick(pool, tried, 1));
	assert_ptr_equal(pool_pick(pool, tried, 1), b2);
	struct backend *both[2] = {b1, b2};
	assert_null(pool_pick(pool, both, 2));
	pool->conf.panic = false;
}

static void test_replaced_table_freed_on_a_later_loop_turn(void **state)
{
	int pool_refs = pool->refs, b1_refs = b1->refs;

	route_publish(table(true));
	assert_int_equal(pool->refs, pool_refs + 1);
	const struct route_table *first = route_current();
	route_publish(table(true));
	/* the first table is retired but still readable until the loop turns */
	assert_ptr_equal(first->pools[0].nodes[0].b, b1);
	assert_int_equal(pool->refs, pool_refs + 2);
	loop_turn();
	assert_int_equal(pool->refs, pool_refs + 1);
	assert_int_equal(b1->refs, b1_refs + 1);
}

static void test_a_reference_keeps_a_table_past_the_loop_turn(void **state)
{
	int pool_refs = pool->refs;

	route_publish(table(true));
	struct route_table *held = route_ref(route_current());
	route_publish(table(false));
	loop_turn();
	assert_int_equal(pool->refs, pool_refs + 2); /* the held one and the current one */
	assert_true(held->pools[0].nodes[0].routable);
	route_unref(held);
	loop_turn();
	assert_int_equal(pool->refs, pool_refs + 1);
}

static int calls;
static uint64_t seen_now, seen_was;

static void on_publish(const struct route_table *now, const struct route_table *was, void *arg)
{
	calls++;
	seen_now = now->gen;
	seen_was = was != NULL ? was->gen : 0;
	assert_ptr_equal(route_current(), now); /* handlers run after the swap */
}

static void test_handlers_see_the_swap(void **state)
{
	assert_int_equal(route_on_publish(on_publish, NULL), 0);
	calls = 0;
	route_publish(table(true));
	uint64_t g1 = seen_now;
	route_publish(table(false));
	assert_int_equal(calls, 2);
	assert_int_equal(seen_was, g1);
	assert_int_equal(seen_now, g1 + 1);
}

static void test_pool_replaced_by_reload_maps_by_name(void **state)
{
	struct conf_pool cp = {.name = "rpc"};
	struct pool *old = pool_new(&cp);

	route_publish(table(true));
	assert_ptr_equal(route_pool_of(route_current(), old), &route_current()->pools[0]);
	assert_ptr_equal(pool_pick(old, NULL, 0), b1);
	pool_unref(old);
}

static struct backend *signalled;
static bool sig_critical, sig_unreachable;
static char sig_reason[64];

static void sink(struct backend *b, bool critical, bool unreachable, const char *reason)
{
	signalled = b;
	sig_critical = critical;
	sig_unreachable = unreachable;
	snprintf(sig_reason, sizeof(sig_reason), "%s", reason);
}

static void test_passive_signals_reach_the_sink(void **state)
{
	route_signal(b1, true, true, "dropped: no sink");
	assert_null(signalled);
	route_set_signal_sink(sink);
	route_signal(b2, true, true, "refused: connect");
	assert_ptr_equal(signalled, b2);
	assert_true(sig_critical && sig_unreachable);
	assert_string_equal(sig_reason, "refused: connect");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_empty_until_published, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_published_table_is_what_the_pick_reads, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_replaced_table_freed_on_a_later_loop_turn, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_a_reference_keeps_a_table_past_the_loop_turn,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handlers_see_the_swap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pool_replaced_by_reload_maps_by_name, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_passive_signals_reach_the_sink, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_retry_past_the_last_routable_node_goes_to_the_least_bad, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
