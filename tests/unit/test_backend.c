/* Balancing: smooth weighted round robin and least connections, over pure pool objects and
 * the routing snapshot the pick reads. The fixture stands in for the health monitor: each
 * backend's view (rotation state, weight, ledgers) is published as a table before a pick. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "health/health.h"
#include "proxy/backend.h"
#include "proxy/route.h"

#define MAX_B 8

/* What the monitor knows of a backend and publishes. */
struct view {
	bool routable;
	unsigned weight;
	struct health health;
	bool ledgers_known;
	struct ranges ledgers;
};

struct fixture {
	struct pool *pool;
	struct backend *b[MAX_B];
	struct view v[MAX_B];
	size_t n;
};

static struct fixture fx;

/* Publishes the views as the monitor does: removed backends are left out. */
static void publish(void)
{
	struct route_table *t = route_table_new(1);
	size_t k = 0;

	assert_non_null(t);
	assert_int_equal(route_pool_init(t, 0, fx.pool, fx.n), 0);
	for (size_t i = 0; i < fx.n; i++) {
		const struct view *v = &fx.v[i];
		if (fx.b[i]->removed)
			continue;
		struct route_node n = {.b = fx.b[i],
		                       .weight = v->weight,
		                       .routable = v->routable,
		                       .panic_rank = (int8_t)health_pick_rank(&v->health),
		                       .ledgers_known = v->ledgers_known,
		                       .ledgers = v->ledgers};
		route_node_set(t, 0, k++, &n);
	}
	route_publish(t);
}

static struct backend *pick(struct backend *const *ex, size_t n)
{
	publish();
	return pool_pick(fx.pool, ex, n);
}

static bool can_pick(struct backend *const *ex, size_t n)
{
	publish();
	return pool_can_pick(fx.pool, ex, n);
}

static struct backend *pick_need(struct backend *const *ex, size_t n, const struct pick_need *need)
{
	publish();
	return pool_pick_need(fx.pool, ex, n, need);
}

static bool can_pick_need(struct backend *const *ex, size_t n, const struct pick_need *need)
{
	publish();
	return pool_can_pick_need(fx.pool, ex, n, need);
}

static size_t count_up(void)
{
	publish();
	return route_pool_of(route_current(), fx.pool)->n_up;
}

static bool holds(size_t i, uint32_t lo, uint32_t hi)
{
	publish();
	return backend_holds(fx.b[i], lo, hi);
}

static void setup_pool(int balance, const unsigned *weights, size_t n)
{
	struct conf_pool cp = {.name = "rpc", .balance = balance, .retries = 2};
	char names[MAX_B][24];

	memset(&fx, 0, sizeof(fx));
	fx.pool = pool_new(&cp);
	assert_non_null(fx.pool);
	for (size_t i = 0; i < n; i++) {
		struct conf_backend cb = {.pool = "rpc", .weight = weights[i]};
		snprintf(names[i], sizeof(names[i]), "n%zu", i);
		cb.name = names[i];
		fx.b[i] = backend_new(&cb);
		assert_non_null(fx.b[i]);
		fx.v[i].routable = true;
		fx.v[i].weight = weights[i];
		health_init(&fx.v[i].health, 0);
		assert_int_equal(pool_add(fx.pool, fx.b[i]), 0);
		backend_unref(fx.b[i]); /* the pool holds it now */
	}
	fx.n = n;
}

static int teardown(void **state)
{
	pool_unref(fx.pool);
	route_deinit(); /* the tables published, and the references they hold */
	return 0;
}

static size_t index_of(const struct backend *b)
{
	for (size_t i = 0; i < fx.n; i++)
		if (fx.b[i] == b)
			return i;
	fail_msg("picked a backend outside the pool");
	return 0;
}

/* Picks N times and counts per backend. */
static void count_picks(unsigned n, unsigned *counts)
{
	for (unsigned i = 0; i < n; i++) {
		struct backend *b = pick(NULL, 0);
		assert_non_null(b);
		counts[index_of(b)]++;
	}
}

static void test_rr_equal_weights_spread_evenly(void **state)
{
	unsigned w[3] = {1, 1, 1}, counts[3] = {0};

	setup_pool(BALANCE_ROUNDROBIN, w, 3);
	count_picks(30, counts);
	assert_int_equal(counts[0], 10);
	assert_int_equal(counts[1], 10);
	assert_int_equal(counts[2], 10);
}

static void test_rr_weights_are_proportional(void **state)
{
	unsigned w[3] = {1, 2, 3}, counts[3] = {0};

	setup_pool(BALANCE_ROUNDROBIN, w, 3);
	count_picks(600, counts);
	assert_int_equal(counts[0], 100);
	assert_int_equal(counts[1], 200);
	assert_int_equal(counts[2], 300);
}

/* Smooth: a heavy backend's turns are interleaved, not bunched (nginx's 5,1,1 example). */
static void test_rr_is_smooth(void **state)
{
	unsigned w[3] = {5, 1, 1};
	const size_t expect[7] = {0, 0, 1, 0, 2, 0, 0};

	setup_pool(BALANCE_ROUNDROBIN, w, 3);
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < 7; i++)
			assert_int_equal(index_of(pick(NULL, 0)), expect[i]);
}

static void test_rr_skips_excluded_and_unroutable(void **state)
{
	unsigned w[3] = {1, 1, 1}, counts[3] = {0};

	setup_pool(BALANCE_ROUNDROBIN, w, 3);
	fx.v[1].routable = false;
	struct backend *ex[1] = {fx.b[0]};
	for (int i = 0; i < 10; i++)
		assert_ptr_equal(pick(ex, 1), fx.b[2]);
	fx.v[2].weight = 0;
	assert_null(pick(ex, 1));
	count_picks(5, counts);
	assert_int_equal(counts[0], 5);
	assert_int_equal(count_up(), 1);
	fx.b[0]->removed = true;
	assert_int_equal(count_up(), 0);
	assert_null(pick(NULL, 0));
}

static void test_rr_respects_max_conns(void **state)
{
	unsigned w[2] = {1, 1};

	setup_pool(BALANCE_ROUNDROBIN, w, 2);
	fx.b[0]->conf.max_conns = 2;
	fx.b[0]->active = 2;
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(pick(NULL, 0), fx.b[1]);
	fx.b[0]->active = 1;
	unsigned counts[2] = {0};
	count_picks(4, counts);
	assert_int_equal(counts[0], 2);
}

static void test_leastconn_prefers_fewest_busy(void **state)
{
	unsigned w[3] = {1, 1, 1};

	setup_pool(BALANCE_LEASTCONN, w, 3);
	fx.b[0]->active = 5;
	fx.b[1]->active = 2;
	fx.b[2]->active = 7;
	assert_ptr_equal(pick(NULL, 0), fx.b[1]);
	fx.b[1]->active = 9;
	assert_ptr_equal(pick(NULL, 0), fx.b[0]);
}

static void test_leastconn_weighs_connections(void **state)
{
	unsigned w[2] = {1, 4};

	setup_pool(BALANCE_LEASTCONN, w, 2);
	fx.b[0]->active = 2; /* 2 per unit of weight */
	fx.b[1]->active = 6; /* 1.5 per unit of weight */
	assert_ptr_equal(pick(NULL, 0), fx.b[1]);
}

/* An idle pool (no connection busy) still spreads requests by weight. */
static void test_leastconn_ties_rotate(void **state)
{
	unsigned w[3] = {1, 1, 1}, counts[3] = {0};

	setup_pool(BALANCE_LEASTCONN, w, 3);
	count_picks(30, counts);
	assert_int_equal(counts[0], 10);
	assert_int_equal(counts[1], 10);
	assert_int_equal(counts[2], 10);
}

/* Puts backend I out of rotation with a last verdict (down), or unreachable. */
static void set_down(size_t i, enum verdict v, bool unreachable)
{
	fx.v[i].routable = false;
	fx.v[i].health.state = HS_DOWN;
	fx.v[i].health.last_verdict = v;
	fx.v[i].health.down_unreachable = unreachable;
}

static void test_panic_routes_to_least_bad(void **state)
{
	unsigned w[3] = {1, 1, 1};

	setup_pool(BALANCE_ROUNDROBIN, w, 3);
	fx.pool->conf.min_up = 1;
	fx.pool->conf.panic = true;
	set_down(0, V_CRITICAL, false);
	set_down(1, V_WARNING, false);
	set_down(2, V_CRITICAL, true);
	assert_int_equal(count_up(), 0);
	/* warning before critical; the unreachable one never */
	for (int i = 0; i < 5; i++)
		assert_ptr_equal(pick(NULL, 0), fx.b[1]);
	struct backend *ex[1] = {fx.b[1]};
	assert_ptr_equal(pick(ex, 1), fx.b[0]);
	assert_true(can_pick(ex, 1));
	struct backend *ex2[2] = {fx.b[1], fx.b[0]};
	assert_null(pick(ex2, 2));
	assert_false(can_pick(ex2, 2));
}

static void test_panic_never_picks_maint_or_drain(void **state)
{
	unsigned w[2] = {1, 1};

	setup_pool(BALANCE_ROUNDROBIN, w, 2);
	fx.pool->conf.min_up = 1;
	fx.pool->conf.panic = true;
	set_down(0, V_WARNING, false);
	fx.v[0].health.admin = ADMIN_MAINT;
	set_down(1, V_CRITICAL, false);
	fx.v[1].health.admin = ADMIN_DRAIN;
	assert_null(pick(NULL, 0));
}

static void test_no_panic_when_enough_up_or_disabled(void **state)
{
	unsigned w[2] = {1, 1};

	setup_pool(BALANCE_ROUNDROBIN, w, 2);
	fx.pool->conf.min_up = 1;
	fx.pool->conf.panic = true;
	set_down(1, V_WARNING, false);
	for (int i = 0; i < 4; i++) /* one up is enough: the down one gets nothing */
		assert_ptr_equal(pick(NULL, 0), fx.b[0]);
	set_down(0, V_WARNING, false);
	fx.pool->conf.panic = false; /* panic = no: nothing in rotation is a 503 */
	assert_null(pick(NULL, 0));
}

static void test_identity_and_update(void **state)
{
	unsigned w[1] = {1};
	struct conf_backend same = {.name = "n0", .pool = "rpc", .weight = 7};
	struct conf_backend other = {.name = "n0", .pool = "rpc", .weight = 1};

	setup_pool(BALANCE_ROUNDROBIN, w, 1);
	other.address.port = 9;
	assert_true(backend_same_identity(fx.b[0], &same));
	assert_false(backend_same_identity(fx.b[0], &other));
	backend_update(fx.b[0], &same);
	assert_int_equal(fx.b[0]->conf.weight, 7);
	assert_string_equal(fx.b[0]->name, "n0");
}

/* ---- history-aware picks ---- */

/* Backend I holds the ledgers of S (rippled's complete_ledgers); NULL: unknown. */
static void set_ledgers(size_t i, const char *s)
{
	char err[128];

	fx.v[i].ledgers_known = s != NULL;
	if (s != NULL)
		assert_int_equal(ranges_parse(s, &fx.v[i].ledgers, err, sizeof(err)), 0);
}

/* Picks N times for NEED and counts per backend. */
static void count_need_picks(unsigned n, const struct pick_need *need, unsigned *counts)
{
	for (unsigned i = 0; i < n; i++) {
		struct backend *b = pick_need(NULL, 0, need);
		assert_non_null(b);
		counts[index_of(b)]++;
	}
}

/* One full-history node and two recent ones, plus one whose history is unknown: an old
 * ledger always goes to the full one, a recent one is balanced over all that hold it. */
static void test_need_prefers_nodes_holding_the_ledgers(void **state)
{
	unsigned w[4] = {1, 1, 1, 1}, old_counts[4] = {0}, new_counts[4] = {0};
	struct pick_need old = {.ledger_min = 40000, .ledger_max = 40000};
	struct pick_need recent = {.ledger_min = 90000010, .ledger_max = 90000020};

	setup_pool(BALANCE_ROUNDROBIN, w, 4);
	set_ledgers(0, "32570-90000100");
	set_ledgers(1, "90000000-90000100");
	set_ledgers(2, "90000000-90000100");
	set_ledgers(3, NULL);
	count_need_picks(20, &old, old_counts);
	assert_int_equal(old_counts[0], 20);
	count_need_picks(30, &recent, new_counts);
	assert_int_equal(new_counts[0], 10);
	assert_int_equal(new_counts[1], 10);
	assert_int_equal(new_counts[2], 10);
	assert_int_equal(new_counts[3], 0); /* unknown history: never preferred */
	assert_true(holds(0, 40000, 90000100));
	assert_false(holds(3, 1, 1));
}

static void test_need_falls_back_unless_only(void **state)
{
	unsigned w[3] = {1, 1, 1}, counts[3] = {0};
	struct pick_need gap = {.ledger_min = 100, .ledger_max = 300};
	struct pick_need only = {.ledger_min = 100, .ledger_max = 100, .only = true};

	setup_pool(BALANCE_ROUNDROBIN, w, 3);
	set_ledgers(0, "1-150,250-400"); /* the gap: no node holds 100-300 */
	set_ledgers(1, "200-400");
	set_ledgers(2, NULL);
	count_need_picks(30, &gap, counts); /* nobody holds it: the normal pick */
	assert_int_equal(counts[0], 10);
	assert_int_equal(counts[1], 10);
	assert_int_equal(counts[2], 10);
	/* only: the node that holds it, and nothing once it is tried or out of rotation */
	assert_ptr_equal(pick_need(NULL, 0, &only), fx.b[0]);
	assert_true(can_pick_need(NULL, 0, &only));
	struct backend *ex[1] = {fx.b[0]};
	assert_null(pick_need(ex, 1, &only));
	assert_false(can_pick_need(ex, 1, &only));
	only.only = false; /* preferred only: any other will do */
	assert_true(can_pick_need(ex, 1, &only));
	assert_non_null(pick_need(ex, 1, &only));
	fx.v[0].routable = false;
	only.only = true;
	assert_false(can_pick_need(NULL, 0, &only));
}

/* Leastconn among the holders: the idler holder wins over an idle non-holder. */
static void test_need_with_leastconn(void **state)
{
	unsigned w[3] = {1, 1, 1};
	struct pick_need old = {.ledger_min = 5, .ledger_max = 5};

	setup_pool(BALANCE_LEASTCONN, w, 3);
	set_ledgers(0, "1-100");
	set_ledgers(1, "1-100");
	set_ledgers(2, "50-100");
	fx.b[0]->active = 4;
	fx.b[1]->active = 2;
	fx.b[2]->active = 0;
	assert_ptr_equal(pick_need(NULL, 0, &old), fx.b[1]);
	fx.b[1]->active = 9;
	assert_ptr_equal(pick_need(NULL, 0, &old), fx.b[0]);
}

/* In panic, at each rank the holders come first. */
static void test_need_in_panic(void **state)
{
	unsigned w[3] = {1, 1, 1};
	struct pick_need old = {.ledger_min = 5, .ledger_max = 5};

	setup_pool(BALANCE_ROUNDROBIN, w, 3);
	fx.pool->conf.min_up = 2;
	fx.pool->conf.panic = true;
	set_ledgers(0, "50-100");
	set_ledgers(1, "1-100");
	set_ledgers(2, "1-100");
	set_down(1, V_WARNING, false);
	set_down(2, V_CRITICAL, false);
	/* b0 up (rank 0) but without the ledger; b1 warning with it */
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(pick_need(NULL, 0, &old), fx.b[0]);
	fx.v[0].routable = false;
	fx.v[0].health.state = HS_DOWN;
	fx.v[0].health.last_verdict = V_WARNING;
	for (int i = 0; i < 4; i++) /* both warning: the holder */
		assert_ptr_equal(pick_need(NULL, 0, &old), fx.b[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_rr_equal_weights_spread_evenly, teardown),
	    cmocka_unit_test_teardown(test_rr_weights_are_proportional, teardown),
	    cmocka_unit_test_teardown(test_rr_is_smooth, teardown),
	    cmocka_unit_test_teardown(test_rr_skips_excluded_and_unroutable, teardown),
	    cmocka_unit_test_teardown(test_rr_respects_max_conns, teardown),
	    cmocka_unit_test_teardown(test_leastconn_prefers_fewest_busy, teardown),
	    cmocka_unit_test_teardown(test_leastconn_weighs_connections, teardown),
	    cmocka_unit_test_teardown(test_leastconn_ties_rotate, teardown),
	    cmocka_unit_test_teardown(test_panic_routes_to_least_bad, teardown),
	    cmocka_unit_test_teardown(test_panic_never_picks_maint_or_drain, teardown),
	    cmocka_unit_test_teardown(test_no_panic_when_enough_up_or_disabled, teardown),
	    cmocka_unit_test_teardown(test_identity_and_update, teardown),
	    cmocka_unit_test_teardown(test_need_prefers_nodes_holding_the_ledgers, teardown),
	    cmocka_unit_test_teardown(test_need_falls_back_unless_only, teardown),
	    cmocka_unit_test_teardown(test_need_with_leastconn, teardown),
	    cmocka_unit_test_teardown(test_need_in_panic, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
