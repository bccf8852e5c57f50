/* libevent's memory: the blocks its buffers are made of (evbuffers, their chains and
 * callbacks) come from bounded free lists by size class, so that a steady stream of requests
 * takes nothing from malloc; bigger blocks and what the lists cannot hold go to malloc. */
#pragma once
#include <stddef.h>

#define EVMEM_MIN        32      /* smallest class (an fd's entry in libevent's map fits) */
#define EVMEM_MAX        65536   /* largest class: bigger blocks are not kept */
#define EVMEM_CLASS_KEEP 2097152 /* bytes kept free per class (at least 8 blocks, at most 2048) */

/* Hands libevent's allocations to the lists. Called first thing in main, before libevent
 * allocates anything (a block must be freed by the allocator that made it). At exit, the
 * main thread's lists are freed. */
void evmem_init(void);
/* The allocator itself (libevent's malloc, realloc and free). Lists are per thread. */
void *evmem_malloc(size_t n);
void *evmem_realloc(void *p, size_t n);
void evmem_free(void *p);
/* Blocks now kept free (for the tests), and frees them. */
size_t evmem_kept(void);
void evmem_trim(void);
