/* Bounded free lists for libevent's blocks. An evbuffer frees a chain the moment it is
 * drained and allocates one on the next write or read, so without these every request would
 * take and give back about a dozen blocks (up to 32 KiB for a read). */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <event2/event.h>

#include "evmem.h"
#include "stats.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define KEPT(p, n)  ASAN_POISON_MEMORY_REGION((p), (n)) /* a kept block is freed memory */
#define TAKEN(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define KEPT(p, n)  ((void)(p), (void)(n))
#define TAKEN(p, n) ((void)(p), (void)(n))
#endif

#define N_CLASSES 12     /* 32 B .. 64 KiB */
#define NO_CLASS  0xffff /* a block over EVMEM_MAX: malloc's own */

/* Before every block; 16 bytes keep the block as aligned as malloc's. */
struct hdr {
	uint32_t cls; /* its class, or NO_CLASS */
	uint32_t pad;
	size_t size; /* NO_CLASS: the bytes asked for */
};

struct free_block {
	struct free_block *next;
};

struct class_list {
	struct free_block *head;
	unsigned n;
};

static __thread struct class_list lists[N_CLASSES];

/* The smallest class is cut from one region reserved at start, without a header: libevent's
 * entry for each descriptor (20 bytes, kept as long as the base) took a 64-byte malloc chunk
 * (its 32 bytes, the header, malloc's own). A page of the region is memory once a block of it
 * is used. Its blocks are never given back to the system: freed, they go to the freeing
 * thread's list whatever its bound (the region bounds them); trimmed, they are dropped (at a
 * thread's end or the process's). Region used up or not mapped: the class has headers. */
#define SLAB_SPAN ((size_t)64 << 20) /* 2 Mi blocks */
static char *slab;
static atomic_size_t slab_used;

static bool in_slab(const void *p)
{
	return slab != NULL && (uintptr_t)p - (uintptr_t)slab < SLAB_SPAN;
}

static size_t class_size(unsigned c)
{
	return (size_t)EVMEM_MIN << c;
}

/* Blocks a class keeps at most. */
static unsigned class_keep(unsigned c)
{
	size_t n = (EVMEM_CLASS_KEEP / EVMEM_MIN) >> c; /* a shift: no division on each free */

	return n < 8 ? 8 : n > 2048 ? 2048 : (unsigned)n;
}

/* The smallest class that holds N bytes: log2 of N rounded up to a power of two, from
 * EVMEM_MIN. */
static unsigned class_of(size_t n)
{
	if (n <= EVMEM_MIN)
		return 0;
	if (n > EVMEM_MAX)
		return NO_CLASS;
	return (unsigned)(64 - __builtin_clzll((unsigned long long)n - 1)) -
	       (unsigned)__builtin_ctz(EVMEM_MIN);
}

void *evmem_malloc(size_t n)
{
	unsigned c = class_of(n);
	struct hdr *h;

	if (c != NO_CLASS && lists[c].head != NULL) {
		struct free_block *b = lists[c].head;
		TAKEN(b, class_size(c));
		lists[c].head = b->next;
		lists[c].n--;
		return b;
	}
	if (c == 0 && slab != NULL) {
		size_t off = atomic_fetch_add_explicit(&slab_used, EVMEM_MIN, memory_order_relaxed);
		if (off < SLAB_SPAN) {
			STAT_INC(evmem_malloc);
			return slab + off;
		}
	}
	h = malloc(sizeof(*h) + (c != NO_CLASS ? class_size(c) : n));
	if (h == NULL)
		return NULL;
	STAT_INC(evmem_malloc);
	h->cls = c;
	h->size = n;
	return h + 1;
}

void evmem_free(void *p)
{
	struct hdr *h;
	unsigned c;

	if (p == NULL)
		return;
	if (in_slab(p)) {
		c = 0;
		goto keep;
	}
	h = (struct hdr *)p - 1;
	c = h->cls;
	if (c == NO_CLASS || lists[c].n >= class_keep(c)) {
		free(h);
		return;
	}
keep:
	((struct free_block *)p)->next = lists[c].head;
	lists[c].head = p;
	lists[c].n++;
	KEPT(p, class_size(c));
}

void *evmem_realloc(void *p, size_t n)
{
	struct hdr *h;
	size_t have;
	void *q;

	if (p == NULL)
		return evmem_malloc(n);
	if (n == 0) {
		evmem_free(p);
		return NULL;
	}
	h = (struct hdr *)p - 1;
	have = in_slab(p) ? EVMEM_MIN : h->cls == NO_CLASS ? h->size : class_size(h->cls);
	if (n <= have)
		return p;
	if ((q = evmem_malloc(n)) == NULL)
		return NULL;
	memcpy(q, p, have);
	/* libevent reallocs only to grow an array (a base's descriptor map, epoll's event list,
	 * the timer heap), which never asks for the old size again: kept, the block would sit in
	 * this thread's list for good; malloc reuses it for anything */
	if (in_slab(p))
		evmem_free(p);
	else
		free(h);
	return q;
}

static void trim_at_exit(void)
{
	evmem_trim();
}

void evmem_init(void)
{
	void *m = mmap(NULL, SLAB_SPAN, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	slab = m == MAP_FAILED ? NULL : m;
	event_set_mem_functions(evmem_malloc, evmem_realloc, evmem_free);
	atexit(trim_at_exit); /* what is kept goes back before a leak check looks (every exit) */
}

size_t evmem_kept(void)
{
	size_t n = 0;

	for (unsigned c = 0; c < N_CLASSES; c++)
		n += lists[c].n;
	return n;
}

void evmem_trim(void)
{
	for (unsigned c = 0; c < N_CLASSES; c++)
		while (lists[c].head != NULL) {
			struct free_block *b = lists[c].head;
			TAKEN(b, class_size(c));
			lists[c].head = b->next;
			lists[c].n--;
			if (!in_slab(b))
				free((struct hdr *)b - 1);
		}
}
