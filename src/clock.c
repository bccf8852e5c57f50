/* The one clock (clock.h). */
#include <stdbool.h>
#include <time.h>

#include "clock.h"

static __thread bool in_turn;      /* between clock_turn_begin and clock_turn_end */
static __thread uint64_t turn_now; /* the turn's reading; 0: not read yet */

static uint64_t read_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t clock_now_us(void)
{
	if (!in_turn)
		return read_us();
	if (turn_now == 0)
		turn_now = read_us();
	return turn_now;
}

void clock_turn_begin(void)
{
	in_turn = true;
	turn_now = 0;
}

void clock_turn_end(void)
{
	in_turn = false;
}

uint64_t clock_now(void)
{
	return clock_now_us() / 1000;
}

int64_t clock_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
