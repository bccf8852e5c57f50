/* The retry budget of a pool: requests and retries over a sliding window, so that retries of
 * requests a node already received stay a fraction of the traffic (one poisoned request
 * cannot walk through the pool and eject every node). Pure logic: time (monotonic
 * milliseconds) is an argument. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define BUDGET_BUCKETS 10 /* the window slides by a tenth of itself */

/* Why a request went to another node. */
enum retry_reason {
	RETRY_CONNECT = 0, /* the node was never reached: always safe, never charged */
	RETRY_RESET,       /* sent, then the connection closed (or a bad answer) */
	RETRY_TIMEOUT,     /* sent, no answer in response_timeout */
	RETRY_STATUS_5XX,  /* the node answered HTTP 5xx */
	RETRY_RPC_ERROR,   /* the node answered a JSON-RPC error token (noNetwork...) */
	RETRY_HISTORY, /* lgrNotFound: another node holds the ledgers (routing, never charged) */
	RETRY_SLOW,    /* sent, no byte of answer past the pool's hung-node bound */
	RETRY_REASON_COUNT
};
extern const char *const retry_reason_names[RETRY_REASON_COUNT];

struct budget_bucket {
	uint64_t epoch;    /* now / bucket width when it was last written */
	uint32_t requests; /* requests started in it */
	uint32_t retries;  /* charged retries in it */
};

struct budget {
	uint64_t percent; /* retry_budget: charged retries per 100 requests; 0: none */
	uint64_t window;  /* retry_budget_window, ms */
	uint64_t min;     /* retry_budget_min: charged retries always allowed per window */
	struct budget_bucket bucket[BUDGET_BUCKETS];
	uint64_t retries[RETRY_REASON_COUNT]; /* retries done, by reason (for /metrics) */
	uint64_t exhausted;                   /* retries the budget refused (for /metrics) */
};

/* An empty window and zero counters with these settings (WINDOW_MS > 0). */
void budget_init(struct budget *b, uint64_t percent, uint64_t window_ms, uint64_t min);
/* B takes the counters of OLD, the budget of the pool B replaces on a reload, and its
 * window when the window length is the same; B keeps its own settings. */
void budget_carry(struct budget *b, const struct budget *old);
/* A request started at NOW: it counts toward the allowance. */
void budget_request(struct budget *b, uint64_t now);
/* Asks for a retry for WHY at NOW. CHARGED (the request reached a node) retries are allowed
 * while the window's charged retries stay under max(min, percent% of its requests), and
 * never with percent 0; the others always are. True: the retry is counted (and charged);
 * false: it is refused and counted in exhausted. */
bool budget_retry(struct budget *b, enum retry_reason why, bool charged, uint64_t now);
/* The charged retries the window still allows at NOW (0 when spent). */
uint64_t budget_left(const struct budget *b, uint64_t now);
