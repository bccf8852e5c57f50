/* The process-wide counters (stats.h): one block per thread, summed when read. */
#include <stddef.h>

#include "stats.h"

#define STATS_MAX_BLOCKS 65 /* the main thread and up to 64 workers */

static struct stats blocks[STATS_MAX_BLOCKS];
static unsigned n_blocks = 1; /* blocks[0]: the main thread's */

__thread struct stats *stats_mine = &blocks[0];

bool stats_thread_block(void)
{
	unsigned i = __atomic_fetch_add(&n_blocks, 1, __ATOMIC_ACQ_REL);

	if (i >= STATS_MAX_BLOCKS)
		return false;
	stats_mine = &blocks[i];
	return true;
}

void stats_sum(struct stats *out)
{
	unsigned n = __atomic_load_n(&n_blocks, __ATOMIC_ACQUIRE);
	uint64_t *o = (uint64_t *)out;

	if (n > STATS_MAX_BLOCKS)
		n = STATS_MAX_BLOCKS;
	for (size_t f = 0; f < sizeof(*out) / sizeof(uint64_t); f++) {
		o[f] = 0;
		for (unsigned i = 0; i < n; i++)
			o[f] += __atomic_load_n((uint64_t *)&blocks[i] + f, __ATOMIC_RELAXED);
	}
}
