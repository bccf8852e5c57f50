/* libevent's free lists (evmem.c): a freed block is reused for the next one of its class,
 * what the lists keep is bounded, big blocks are not kept, realloc keeps the bytes and does
 * not keep what it grew out of. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>

#include "evmem.h"
#include "stats.h"

static void test_block_reused_in_its_class(void **state)
{
	void *a = evmem_malloc(100), *b;
	uint64_t misses;

	assert_non_null(a);
	memset(a, 0xab, 100);
	evmem_free(a);
	misses = stats_mine->evmem_malloc;
	b = evmem_malloc(128); /* same class (65..128 bytes): the same block, no malloc */
	assert_ptr_equal(a, b);
	assert_int_equal(stats_mine->evmem_malloc, misses);
	memset(b, 0, 128); /* the whole class is usable */
	evmem_free(b);
	b = evmem_malloc(129); /* the next class: a new block */
	assert_ptr_not_equal(a, b);
	assert_int_equal(stats_mine->evmem_malloc, misses + 1);
	evmem_free(b);
	evmem_trim();
	assert_int_equal(evmem_kept(), 0);
}

static void test_kept_is_bounded(void **state)
{
	static void *p[2100];
	void *big;

	for (int i = 0; i < 2100; i++)
		assert_non_null(p[i] = evmem_malloc(64));
	for (int i = 0; i < 2100; i++)
		evmem_free(p[i]);
	assert_int_equal(evmem_kept(), 2048); /* the 64-byte class keeps 2048 blocks at most */
	evmem_trim();
	for (int i = 0; i < 40; i++)
		assert_non_null(p[i] = evmem_malloc(EVMEM_MAX));
	for (int i = 0; i < 40; i++)
		evmem_free(p[i]);
	assert_int_equal(evmem_kept(), EVMEM_CLASS_KEEP / EVMEM_MAX); /* 64 KiB blocks: 2 MiB */
	evmem_trim();
	big = evmem_malloc(EVMEM_MAX + 1); /* over the largest class: malloc's own */
	assert_non_null(big);
	evmem_free(big);
	assert_int_equal(evmem_kept(), 0);
}

static void test_realloc_keeps_bytes(void **state)
{
	char *p = evmem_malloc(10), *q;

	memcpy(p, "0123456789", 10);
	q = evmem_realloc(p, 30); /* fits its class (32, the smallest): the same block */
	assert_ptr_equal(p, q);
	q = evmem_realloc(q, 60); /* the next class: moved, bytes kept */
	assert_memory_equal(q, "0123456789", 10);
	q = evmem_realloc(q, 5000);
	assert_memory_equal(q, "0123456789", 10);
	q = evmem_realloc(q, 200000); /* to a block over the classes, and on within it */
	assert_memory_equal(q, "0123456789", 10);
	q = evmem_realloc(q, 300000);
	assert_memory_equal(q, "0123456789", 10);
	evmem_free(q);
	assert_null(evmem_realloc(evmem_malloc(1), 0));
	evmem_free(NULL);
	evmem_trim();
}

/* An array grown by doubling (libevent's descriptor map, epoll's event list) leaves none of
 * its old blocks in the lists: they would never be asked for again (from the second class on:
 * the smallest has no malloc chunk of its own to give back). */
static void test_realloc_grown_out_not_kept(void **state)
{
	char *p = NULL;

	evmem_trim();
	for (size_t n = 64; n <= 2 * EVMEM_MAX; n *= 2) {
		p = evmem_realloc(p, n);
		assert_non_null(p);
		memset(p + n / 2, 0x5a, n / 2);
		assert_int_equal(p[n - 1], 0x5a);
	}
	assert_int_equal(evmem_kept(), 0);
	evmem_free(p);
	assert_int_equal(evmem_kept(), 0);
}

/* Blocks of the smallest class (libevent's entry per descriptor) carry no header: side by
 * side 32 bytes apart, and a freed one comes back for the next. */
static void test_smallest_class_packed(void **state)
{
	char *a = evmem_malloc(20), *b = evmem_malloc(32), *c;

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(b - a, EVMEM_MIN);
	memset(a, 1, EVMEM_MIN);
	memset(b, 2, EVMEM_MIN);
	assert_int_equal(a[EVMEM_MIN - 1], 1);
	evmem_free(a);
	c = evmem_malloc(1);
	assert_ptr_equal(a, c);
	memset(c, 3, EVMEM_MIN);
	c = evmem_realloc(c, 33); /* out of the class: moved, bytes kept */
	assert_int_equal(c[0], 3);
	assert_int_equal(c[EVMEM_MIN - 1], 3);
	evmem_free(c);
	evmem_free(b);
	evmem_trim();
	assert_int_equal(evmem_kept(), 0);
}

/* An evbuffer filled and drained again and again takes nothing from malloc after the first
 * round: what a keep-alive connection does for every request. */
static void test_evbuffer_steady_state(void **state)
{
	char chunk[3000];
	uint64_t misses = 0;

	memset(chunk, 'x', sizeof(chunk));
	for (int round = 0; round < 100; round++) {
		struct evbuffer *b = evbuffer_new();
		struct evbuffer_iovec v;
		assert_non_null(b);
		assert_int_equal(evbuffer_reserve_space(b, 16384, &v, 1), 1);
		v.iov_len = 100;
		evbuffer_commit_space(b, &v, 1);
		evbuffer_add(b, chunk, sizeof(chunk));
		evbuffer_pullup(b, -1);
		evbuffer_drain(b, evbuffer_get_length(b));
		evbuffer_free(b);
		if (round == 0)
			misses = stats_mine->evmem_malloc;
	}
	assert_true(misses > 0);
	assert_int_equal(stats_mine->evmem_malloc, misses);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_block_reused_in_its_class),
	    cmocka_unit_test(test_kept_is_bounded),
	    cmocka_unit_test(test_realloc_keeps_bytes),
	    cmocka_unit_test(test_realloc_grown_out_not_kept),
	    cmocka_unit_test(test_smallest_class_packed),
	    cmocka_unit_test(test_evbuffer_steady_state),
	};

	evmem_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
