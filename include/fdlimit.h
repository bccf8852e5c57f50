/* Descriptors: the process's limit, the part kept for the control plane (probes, the store,
 * alerts, the status listener), and the backoff of a listener whose accept() ran out. Pure
 * arithmetic; listener.c and status.c apply it, main.c raises the limit and warns. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define FDLIMIT_BASE        64   /* stdio, logs, SQLite and its journal, loops, pipes, spares */
#define FDLIMIT_PER_BACKEND 3    /* the health probe, the freshness probe, a kept probe socket */
#define FDLIMIT_PER_ALERT   4    /* deliveries in flight per channel (libcurl) */
#define FDLIMIT_PER_WORKER  4    /* a loop's epoll and its notification pair */
#define FDLIMIT_BACKOFF_MIN 10   /* ms: the first pause of a listener out of descriptors */
#define FDLIMIT_BACKOFF_MAX 1000 /* ms: the longest (doubled from the first) */
#define FDLIMIT_LOG_EVERY   1000 /* ms: at most one log line per this, with a count */

/* What the reserve is computed from (one configuration). */
struct fdlimit_plan {
	uint64_t backends, alerts, workers;
	uint64_t status_max;    /* [status] max_connections (0: no status listener) */
	uint64_t listeners_max; /* sum of the proxy listeners' max_connections */
	uint64_t global_max;    /* [nodegate] max_connections */
};

/* Descriptors kept out of the proxy listeners' reach. */
uint64_t fdlimit_reserve(const struct fdlimit_plan *p);
/* Descriptors the configuration may use at its limits: two per proxied connection (the
 * client's and the node's) plus the reserve. */
uint64_t fdlimit_need(const struct fdlimit_plan *p);
/* The lowest descriptor number a proxy listener may not keep for a client under NOFILE:
 * descriptors are handed out lowest first, so a client's number is about how many are open.
 * At least a quarter of NOFILE is left to clients whatever the reserve. */
uint64_t fdlimit_accept_max(const struct fdlimit_plan *p, uint64_t nofile);
/* The pause after one of CUR ms (0: none yet): doubled, within MIN..MAX. */
uint32_t fdlimit_backoff_next(uint32_t cur);

/* Rate-limited logging of failures: one line per FDLIMIT_LOG_EVERY with the count since. */
struct fdlimit_log {
	uint64_t last;  /* ms of the last line (0: never) */
	uint64_t count; /* failures not told yet */
};
/* Counts one failure at NOW; true when a line is due, with *TOLD the count it tells. */
bool fdlimit_log_due(struct fdlimit_log *lg, uint64_t now, uint64_t *told);

/* The process's descriptor limit (RLIMIT_NOFILE, soft) as set at start, and the first
 * descriptor number proxy listeners do not keep (0: no check). Set by the main thread. */
extern uint64_t fdlimit_nofile;
extern uint64_t fdlimit_accept_ceiling;
