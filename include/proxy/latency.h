/* Recent response times of a pool, for the hung-node bound: a histogram of the answers of
 * the current one-second window, and the p99 of the last complete window with enough
 * answers. Pure logic (the time is an argument), fixed size, no allocation; adding an
 * answer is a few instructions, the quantile is read once per window. */
#pragma once
#include <stdint.h>

#define LATENCY_BUCKETS     128  /* 4 per power of two of microseconds, up to ~2^32 us */
#define LATENCY_WINDOW_MS   1000 /* one window of answers */
#define LATENCY_MIN_SAMPLES 20   /* fewer answers in a window: its p99 is not trusted */

struct latency {
	uint64_t window;                  /* now / LATENCY_WINDOW_MS of the current window */
	uint32_t n;                       /* answers in the current window */
	uint32_t bucket[LATENCY_BUCKETS]; /* the current window's answers by duration */
	uint64_t p99_us;                  /* of the last trusted window; 0: none yet */
	uint64_t chart_n;                 /* answers since the status page's chart took them */
	uint32_t chart[LATENCY_BUCKETS];  /* ... by duration (ops/chart.h: latency_take) */
};

/* Moves the answers gathered for the chart since the last call into OUT (zeroed here);
 * their number. */
uint64_t latency_take(struct latency *l, uint32_t out[LATENCY_BUCKETS]);
/* The PCT quantile (1..100) of N answers in BUCKET, in microseconds (each bucket read at its
 * top, conservatively); 0 when N is 0. */
uint64_t latency_quantile(const uint32_t bucket[LATENCY_BUCKETS], uint64_t n, unsigned pct);

/* One answer that took US microseconds, at NOW (milliseconds). */
void latency_add(struct latency *l, uint64_t us, uint64_t now);
/* The p99 of the last complete window that had LATENCY_MIN_SAMPLES answers, in
 * microseconds (0: none yet); a window that ended by NOW is folded in first. */
uint64_t latency_p99(struct latency *l, uint64_t now);
#define LATENCY_BOUND_MIN_MS 5 /* below this, scheduling noise, not a hung node */

/* The bound past which a request that has had no byte of answer makes its node suspect,
 * in milliseconds: FACTOR x the p99, at least LATENCY_BOUND_MIN_MS; QUIET_MS while no
 * window had enough answers to trust its p99; never above MAX_MS; MAX_MS when FACTOR is 0
 * (off). */
uint64_t latency_bound(struct latency *l, uint64_t factor, uint64_t quiet_ms, uint64_t max_ms,
                       uint64_t now);
