/* The one clock: monotonic milliseconds for every duration and deadline, Unix milliseconds
 * for what people read (timelines, the status page, alerts). Pure modules never call it:
 * they take the time as an argument, so tests drive them with a fake clock. */
#pragma once
#include <stdint.h>

/* Monotonic milliseconds (any origin): timers, graces, budgets, rate limits. */
uint64_t clock_now(void);
/* Monotonic microseconds, same origin as clock_now() * 1000: request and probe durations. */
uint64_t clock_now_us(void);
/* A turn: one callback of the data path (conn.c brackets its socket and deadline callbacks).
 * Inside it clock_now_us() and clock_now() read the clock once and give that reading back,
 * so the several times a request takes in one callback (its start, its budget, the time it
 * was sent) cost one clock read; outside a turn every call reads the clock. Per thread. */
void clock_turn_begin(void);
void clock_turn_end(void);
/* Wall-clock Unix milliseconds. */
int64_t clock_wall(void);
