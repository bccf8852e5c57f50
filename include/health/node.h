/* The type of the control plane's per-backend state (types only, as haproxy's *-t.h). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "health/health.h"
#include "proxy/backend.h"
#include "proxy/ranges.h"

struct check_state; /* a backend's probes, owned by check.c */

/* The control plane's state of a backend (b->node): created by monitor_backend_start, freed
 * by monitor_backend_stop. Ops modules read it; only the monitor writes it. */
struct node {
	struct backend *b;
	struct health health;           /* rotation state (health.c) */
	struct check_state *check;      /* probe schedule (check.c), NULL when not probed */
	struct rippled_metrics metrics; /* last freshness answer */
	uint64_t transitions;           /* rotation state changes */
	bool ledgers_known;             /* a freshness probe reported complete_ledgers */
	struct ranges ledgers;          /* the last one reported (kept when a probe fails) */
	int weight_set;                 /* the admin's weight, -1: the configured one */
	bool routable;                  /* in rotation, as last published */
	unsigned weight;                /* effective weight, as last published */
	int8_t rank;                    /* panic rank (health_pick_rank), as last published */
};
