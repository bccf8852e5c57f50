/* A re-read of the fleet's subscribers merged with this instance's own changes (submerge.c):
 * what the list holds afterwards. Rows changed, dropped or made here after the read was asked
 * for keep their state here; every other row is the store's; the next id goes past every id;
 * more than SUBMERGE_GONE_MAX drops since the ask discard the read and ask for another. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/submerge.h"
#include "ops/subrule.h"

/* The list as subs.c keeps it, and its change log. */
struct list {
	struct submerge_sub *v;
	size_t n, cap;
	int64_t next_id;
	struct submerge_log log;
};

static struct store_subscriber row(int64_t id, enum store_sub_state st)
{
	struct store_subscriber r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.kind = SUB_EMAIL;
	r.state = st;
	snprintf(r.address, sizeof(r.address), "s%" PRId64 "@example.org", id);
	r.created = 1700000000000 + id;
	r.confirmed = st == SUB_ACTIVE ? r.created + 1 : 0;
	return r;
}

/* A row as read at start (seq 0), as subs.c's add() keeps it. */
static void load(struct list *l, struct store_subscriber r)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	l->v[l->n].row = r;
	l->v[l->n].seq = 0;
	subrule_tag(r.address, l->v[l->n].tag);
	if (r.id >= l->next_id)
		l->next_id = r.id + 1;
	l->n++;
}

static struct submerge_sub *find(struct list *l, int64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].row.id == id)
			return &l->v[i];
	return NULL;
}

/* A change made here (put). */
static void change(struct list *l, int64_t id, enum store_sub_state st)
{
	struct submerge_sub *b = find(l, id);

	assert_non_null(b);
	b->row.state = st;
	b->seq = submerge_changed(&l->log);
}

/* A row made here (take: a new pending subscriber with the next id). */
static int64_t create(struct list *l)
{
	int64_t id = l->next_id;

	load(l, row(id, SUB_PENDING));
	l->v[l->n - 1].seq = submerge_changed(&l->log);
	return id;
}

/* A drop here, while a read is queued or not. */
static void drop(struct list *l, int64_t id, bool reading)
{
	struct submerge_sub *b = find(l, id);

	assert_non_null(b);
	submerge_dropped(&l->log, id, reading);
	*b = l->v[--l->n];
}

static void setup_list(struct list *l, int64_t n_rows)
{
	memset(l, 0, sizeof(*l));
	l->next_id = 1;
	for (int64_t id = 1; id <= n_rows; id++)
		load(l, row(id, id % 2 ? SUB_PENDING : SUB_ACTIVE));
}

static void test_changed_here_since_keeps_its_state(void **state)
{
	struct list l;
	struct store_subscriber rows[3];

	(void)state;
	setup_list(&l, 3);         /* 1 pending, 2 active, 3 pending */
	change(&l, 3, SUB_ACTIVE); /* before the ask: the read sees it */
	submerge_ask(&l.log);
	change(&l, 1, SUB_ACTIVE); /* confirmed here after the ask */
	/* the read, from before the confirmation: 1 still pending; 3 ended elsewhere in the
	 * meantime (pending again is the store's word) */
	rows[0] = row(1, SUB_PENDING);
	rows[1] = row(2, SUB_ACTIVE);
	rows[2] = row(3, SUB_PENDING);
	assert_int_equal(submerge(&l.v, &l.n, &l.cap, &l.next_id, rows, 3, &l.log), SUBMERGE_OK);
	assert_int_equal(l.n, 3);
	assert_int_equal(find(&l, 1)->row.state, SUB_ACTIVE);  /* ours: newer than the read */
	assert_int_equal(find(&l, 3)->row.state, SUB_PENDING); /* older than the read: the read's */
	assert_int_equal(find(&l, 3)->seq, 0);
	/* after the merge, a later read is the store's word for 1 too */
	submerge_ask(&l.log);
	rows[0] = row(1, SUB_PENDING);
	assert_int_equal(submerge(&l.v, &l.n, &l.cap, &l.next_id, rows, 3, &l.log), SUBMERGE_OK);
	assert_int_equal(find(&l, 1)->row.state, SUB_PENDING);
	free(l.v);
}

static void test_dropped_here_since_stays_dropped(void **state)
{
	struct list l;
	struct store_subscriber rows[4];

	(void)state;
	setup_list(&l, 4);
	submerge_ask(&l.log);
	drop(&l, 2, true);
	drop(&l, 4, true);
	for (int i = 0; i < 4; i++) /* the read still holds them */
		rows[i] = row(i + 1, i % 2 ? SUB_ACTIVE : SUB_PENDING);
	assert_int_equal(submerge(&l.v, &l.n, &l.cap, &l.next_id, rows, 4, &l.log), SUBMERGE_OK);
	assert_int_equal(l.n, 2);
	assert_non_null(find(&l, 1));
	assert_non_null(find(&l, 3));
	assert_null(find(&l, 2));
	assert_null(find(&l, 4));
	free(l.v);
}

static void test_made_here_since_is_kept(void **state)
{
	struct list l;
	struct store_subscriber rows[2];
	int64_t a, b;

	(void)state;
	setup_list(&l, 2);
	submerge_ask(&l.log);
	a = create(&l);
	b = create(&l);
	assert_int_equal(a, 3);
	assert_int_equal(b, 4);
	change(&l, b, SUB_ACTIVE);
	rows[0] = row(1, SUB_PENDING);
	rows[1] = row(2, SUB_ACTIVE);
	assert_int_equal(submerge(&l.v, &l.n, &l.cap, &l.next_id, rows, 2, &l.log), SUBMERGE_OK);
	assert_int_equal(l.n, 4);
	assert_int_equal(find(&l, a)->row.state, SUB_PENDING);
	assert_int_equal(find(&l, b)->row.state, SUB_ACTIVE);
	assert_string_equal(find(&l, a)->row.address, "s3@example.org");
	assert_int_equal(l.next_id, 5);
	/* one made here and already in the read is there once, as it is here */
	submerge_ask(&l.log);
	change(&l, a, SUB_ACTIVE);
	{
		struct store_subscriber rows2[3] = {row(1, SUB_PENDING), row(2, SUB_ACTIVE),
		                                    row(a, SUB_PENDING)};

		assert_int_equal(submerge(&l.v, &l.n, &l.cap, &l.next_id, rows2, 3, &l.log),
		                 SUBMERGE_OK);
	}
	assert_int_equal(l.n, 3); /* b: not changed since this ask, absent from the read */
	assert_int_equal(find(&l, a)->row.state, SUB_ACTIVE);
	assert_null(find(&l, b));
	free(l.v);
}

static void test_other_instances_come_from_the_read(void **state)
{
	struct list l;
	struct store_subscriber rows[3];
	char tag[SUBRULE_TAG_HEX + 1];

	(void)state;
	setup_list(&l, 3); /* 1 pending, 2 active, 3 pending */
	submerge_ask(&l.log);
	rows[0] = row(1, SUB_ACTIVE); /* confirmed on another instance */
	rows[1] = row(3, SUB_PENDING);
	rows[2] = row(7, SUB_PENDING); /* taken on another instance; 2 was ended there */
	strcpy(rows[1].pools, "main"); /* changed there */
	assert_int_equal(submerge(&l.v, &l.n, &l.cap, &l.next_id, rows, 3, &l.log), SUBMERGE_OK);
	assert_int_equal(l.n, 3);
	assert_int_equal(find(&l, 1)->row.state, SUB_ACTIVE);
	assert_null(find(&l, 2));
	assert_string_equal(find(&l, 3)->row.pools, "main");
	assert_non_null(find(&l, 7));
	assert_string_equal(find(&l, 7)->row.address, "s7@example.org");
	subrule_tag("s7@example.org", tag);
	assert_string_equal(find(&l, 7)->tag, tag); /* the log's tag, never the address */
	assert_int_equal(find(&l, 7)->seq, 0);
	/* an empty read: every row was ended elsewhere */
	submerge_ask(&l.log);
	assert_int_equal(submerge(&l.v, &l.n, &l.cap, &l.next_id, rows, 0, &l.log), SUBMERGE_OK);
	assert_int_equal(l.n, 0);
	free(l.v);
}

static void test_next_id_goes_past_every_id(void **state)
{
	struct list l;
	struct store_subscriber rows[2];

	(void)state;
	setup_list(&l, 2);
	assert_int_equal(l.next_id, 3);
	submerge_ask(&l.log);
	rows[0] = row(1, SUB_PENDING);
	rows[1] = row(40, SUB_PENDING); /* another instance's */
	assert_int_equal(submerge(&l.v, &l.n, &l.cap, &l.next_id, rows, 2, &l.log), SUBMERGE_OK);
	assert_int_equal(l.next_id, 41);
	assert_int_equal(create(&l), 41);
	/* never lowered: 40 and 41 gone from the read, 41 dropped here since */
	submerge_ask(&l.log);
	drop(&l, 41, true);
	rows[0] = row(1, SUB_PENDING);
	assert_int_equal(submerge(&l.v, &l.n, &l.cap, &l.next_id, rows, 1, &l.log), SUBMERGE_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.next_id, 42);
	/* a row made here since counts too */
	submerge_ask(&l.log);
	l.next_id = 90;
	assert_int_equal(create(&l), 90);
	l.next_id = 2; /* as if it had not moved: the merge puts it past 90 */
	assert_int_equal(submerge(&l.v, &l.n, &l.cap, &l.next_id, rows, 1, &l.log), SUBMERGE_OK);
	assert_int_equal(l.next_id, 91);
	free(l.v);
}

static void test_too_many_drops_read_again(void **state)
{
	enum {
		N = SUBMERGE_GONE_MAX + 2
	};
	struct list l;
	struct store_subscriber rows[N];
	struct submerge_sub *before;

	(void)state;
	setup_list(&l, N);
	for (int i = 0; i < N; i++)
		rows[i] = l.v[i].row;
	/* drops with no read queued are not remembered */
	drop(&l, N, false);
	assert_int_equal(l.log.n_gone, 0);
	/* SUBMERGE_GONE_MAX drops since the ask: the read is used, none of them comes back */
	submerge_ask(&l.log);
	for (int64_t id = 1; id <= SUBMERGE_GONE_MAX; id++)
		drop(&l, id, true);
	assert_int_equal(l.n, 1);
	assert_int_equal(submerge(&l.v, &l.n, &l.cap, &l.next_id, rows, N - 1, &l.log),
	                 SUBMERGE_OK);
	assert_int_equal(l.n, 1);
	assert_non_null(find(&l, N - 1));
	/* one more: the read is not used, the list is left as it is, and a new read is asked */
	free(l.v);
	setup_list(&l, N);
	submerge_ask(&l.log);
	for (int64_t id = 1; id <= SUBMERGE_GONE_MAX + 1; id++)
		drop(&l, id, true);
	before = l.v;
	assert_int_equal(l.n, 1);
	assert_int_equal(submerge(&l.v, &l.n, &l.cap, &l.next_id, rows, N, &l.log), SUBMERGE_AGAIN);
	assert_ptr_equal(l.v, before);
	assert_int_equal(l.n, 1);
	assert_non_null(find(&l, N));
	assert_int_equal(l.next_id, N + 1);
	/* drops after that change nothing: this read is not used anyway */
	drop(&l, N, true);
	assert_int_equal(l.log.n_gone, SUBMERGE_GONE_MAX + 1);
	/* the read asked again (it sees the drops) is used */
	submerge_ask(&l.log);
	assert_int_equal(l.log.n_gone, 0);
	assert_int_equal(submerge(&l.v, &l.n, &l.cap, &l.next_id, rows, 0, &l.log), SUBMERGE_OK);
	assert_int_equal(l.n, 0);
	free(l.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_changed_here_since_keeps_its_state),
	    cmocka_unit_test(test_dropped_here_since_stays_dropped),
	    cmocka_unit_test(test_made_here_since_is_kept),
	    cmocka_unit_test(test_other_instances_come_from_the_read),
	    cmocka_unit_test(test_next_id_goes_past_every_id),
	    cmocka_unit_test(test_too_many_drops_read_again),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
