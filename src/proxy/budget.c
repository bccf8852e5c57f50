/* The retry budget: a window of BUDGET_BUCKETS buckets, each a tenth of the window long,
 * keyed by epoch (now / width) so that stale ones are recognised without a timer. */
#include <string.h>

#include "proxy/budget.h"

const char *const retry_reason_names[RETRY_REASON_COUNT] = {
    [RETRY_CONNECT] = "connect",     [RETRY_RESET] = "reset",
    [RETRY_TIMEOUT] = "timeout",     [RETRY_STATUS_5XX] = "status_5xx",
    [RETRY_RPC_ERROR] = "rpc_error", [RETRY_HISTORY] = "lgr_not_found",
    [RETRY_SLOW] = "slow",
};

void budget_init(struct budget *b, uint64_t percent, uint64_t window_ms, uint64_t min)
{
	memset(b, 0, sizeof(*b));
	b->percent = percent;
	b->window = window_ms > 0 ? window_ms : 1;
	b->min = min;
}

void budget_carry(struct budget *b, const struct budget *old)
{
	memcpy(b->retries, old->retries, sizeof(b->retries));
	b->exhausted = old->exhausted;
	if (old->window == b->window)
		memcpy(b->bucket, old->bucket, sizeof(b->bucket));
}

static uint64_t epoch_of(const struct budget *b, uint64_t now)
{
	uint64_t width = b->window / BUDGET_BUCKETS;

	return now / (width > 0 ? width : 1);
}

/* The bucket of NOW, emptied first when it last held an older epoch. */
static struct budget_bucket *bucket_now(struct budget *b, uint64_t now)
{
	uint64_t e = epoch_of(b, now);
	struct budget_bucket *k = &b->bucket[e % BUDGET_BUCKETS];

	if (k->epoch != e) {
		k->epoch = e;
		k->requests = 0;
		k->retries = 0;
	}
	return k;
}

void budget_request(struct budget *b, uint64_t now)
{
	struct budget_bucket *k = bucket_now(b, now);

	if (k->requests < UINT32_MAX)
		k->requests++;
}

uint64_t budget_left(const struct budget *b, uint64_t now)
{
	uint64_t e = epoch_of(b, now), requests = 0, retries = 0, allowed;

	if (b->percent == 0)
		return 0;
	for (size_t i = 0; i < BUDGET_BUCKETS; i++) {
		const struct budget_bucket *k = &b->bucket[i];
		if (k->epoch <= e && e - k->epoch < BUDGET_BUCKETS) {
			requests += k->requests;
			retries += k->retries;
		}
	}
	allowed = requests * b->percent / 100;
	if (allowed < b->min)
		allowed = b->min;
	return retries < allowed ? allowed - retries : 0;
}

bool budget_retry(struct budget *b, enum retry_reason why, bool charged, uint64_t now)
{
	if (charged) {
		if (budget_left(b, now) == 0) {
			__atomic_add_fetch(&b->exhausted, 1, __ATOMIC_RELAXED);
			return false;
		}
		struct budget_bucket *k = bucket_now(b, now);
		if (k->retries < UINT32_MAX)
			k->retries++;
	}
	__atomic_add_fetch(&b->retries[why], 1, __ATOMIC_RELAXED);
	return true;
}
