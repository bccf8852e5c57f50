/* Descriptor arithmetic: the reserve, the accept ceiling, the accept backoff (fdlimit.h). */
#include "fdlimit.h"

uint64_t fdlimit_nofile;
uint64_t fdlimit_accept_ceiling;

uint64_t fdlimit_reserve(const struct fdlimit_plan *p)
{
	return FDLIMIT_BASE + FDLIMIT_PER_BACKEND * p->backends + FDLIMIT_PER_ALERT * p->alerts +
	       FDLIMIT_PER_WORKER * p->workers + p->status_max;
}

uint64_t fdlimit_need(const struct fdlimit_plan *p)
{
	uint64_t conns = p->listeners_max < p->global_max ? p->listeners_max : p->global_max;

	return 2 * conns + fdlimit_reserve(p);
}

uint64_t fdlimit_accept_max(const struct fdlimit_plan *p, uint64_t nofile)
{
	uint64_t reserve = fdlimit_reserve(p);

	if (reserve > nofile - nofile / 4)
		reserve = nofile - nofile / 4;
	return nofile - reserve;
}

uint32_t fdlimit_backoff_next(uint32_t cur)
{
	if (cur < FDLIMIT_BACKOFF_MIN)
		return FDLIMIT_BACKOFF_MIN;
	if (cur >= FDLIMIT_BACKOFF_MAX / 2)
		return FDLIMIT_BACKOFF_MAX;
	return cur * 2;
}

bool fdlimit_log_due(struct fdlimit_log *lg, uint64_t now, uint64_t *told)
{
	lg->count++;
	if (lg->last != 0 && now - lg->last < FDLIMIT_LOG_EVERY)
		return false;
	lg->last = now == 0 ? 1 : now;
	*told = lg->count;
	lg->count = 0;
	return true;
}
