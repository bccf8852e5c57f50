/* The one clock: monotonic milliseconds for every duration and deadline, Unix milliseconds
 * for what people read (timelines, the status page, alerts). Pure modules never call it:
 * they take the time as an argument, so tests drive them with a fake clock. */
#pragma once
#include <stdint.h>

/* Monotonic milliseconds (any origin): timers, graces, budgets, rate limits. */
uint64_t clock_now(void);
/* Monotonic microseconds, same origin as clock_now() * 1000: request and probe durations. */
uint64_t clock_now_us(void);
/* Wall-clock Unix milliseconds. */
int64_t clock_wall(void);
