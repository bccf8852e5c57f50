/* Recent response times and the hung-node bound (latency.h). */
#include <string.h>

#include "proxy/latency.h"

/* Bucket of US: 4 per power of two (the top two bits after the leading one). */
static unsigned bucket_of(uint64_t us)
{
	if (us < 4)
		return (unsigned)us; /* 0..3: exact */
	unsigned lg = 63 - (unsigned)__builtin_clzll(us);
	unsigned b = lg * 4 + (unsigned)((us >> (lg - 2)) & 3);
	return b < LATENCY_BUCKETS ? b : LATENCY_BUCKETS - 1;
}

/* The largest duration in bucket B (the quantile is read conservatively, high). */
static uint64_t bucket_top(unsigned b)
{
	if (b < 4)
		return b;
	unsigned lg = b / 4, sub = b % 4;
	return ((uint64_t)(4 + sub + 1) << (lg - 2)) - 1;
}

/* Ends the current window when NOW is past it; a window with enough answers gives p99. */
static void roll(struct latency *l, uint64_t now)
{
	uint64_t w = now / LATENCY_WINDOW_MS;

	/* another worker's reading may be a little older: its answer counts in this window */
	if (w <= l->window)
		return;
	if (l->n >= LATENCY_MIN_SAMPLES) {
		uint64_t rank = ((uint64_t)l->n * 99 + 99) / 100; /* ceil(0.99 n) */
		uint64_t seen = 0;
		for (unsigned b = 0; b < LATENCY_BUCKETS; b++) {
			seen += l->bucket[b];
			if (seen >= rank) {
				l->p99_us = bucket_top(b);
				break;
			}
		}
	}
	l->window = w;
	l->n = 0;
	memset(l->bucket, 0, sizeof(l->bucket));
}

void latency_add(struct latency *l, uint64_t us, uint64_t now)
{
	unsigned b = bucket_of(us);

	roll(l, now);
	l->bucket[b]++;
	l->n++;
	if (l->chart[b] < UINT32_MAX) {
		l->chart[b]++;
		l->chart_n++;
	}
}

uint64_t latency_take(struct latency *l, uint32_t out[LATENCY_BUCKETS])
{
	uint64_t n = l->chart_n;

	memcpy(out, l->chart, sizeof(l->chart));
	memset(l->chart, 0, sizeof(l->chart));
	l->chart_n = 0;
	return n;
}

uint64_t latency_quantile(const uint32_t bucket[LATENCY_BUCKETS], uint64_t n, unsigned pct)
{
	uint64_t rank = (n * pct + 99) / 100, seen = 0;

	if (n == 0)
		return 0;
	for (unsigned b = 0; b < LATENCY_BUCKETS; b++) {
		seen += bucket[b];
		if (seen >= rank && seen > 0)
			return bucket_top(b);
	}
	return bucket_top(LATENCY_BUCKETS - 1);
}

uint64_t latency_p99(struct latency *l, uint64_t now)
{
	roll(l, now);
	return l->p99_us;
}

uint64_t latency_bound(struct latency *l, uint64_t factor, uint64_t quiet_ms, uint64_t max_ms,
                       uint64_t now)
{
	uint64_t p99 = latency_p99(l, now), ms;

	if (factor == 0)
		return max_ms;
	ms = p99 == 0 ? quiet_ms : (p99 * factor + 999) / 1000;
	if (ms < LATENCY_BOUND_MIN_MS)
		ms = LATENCY_BOUND_MIN_MS;
	return ms < max_ms ? ms : max_ms;
}
