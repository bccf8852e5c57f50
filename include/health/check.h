/* Probes on the event loop (never blocking traffic), on nodegate's own connection code
 * (pconn.c).
 * Each backend is probed on its own schedule (first probes spread over the interval);
 * each answer is judged (health.c) and handed to the result callback. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "health/health.h"

struct backend;

enum check_kind {
	CK_HEALTH = 0, /* the pool's check: rippled /health, http or tcp */
	CK_FRESHNESS,  /* JSON-RPC server_info on the traffic address */
	CK_COUNT
};
extern const char *const check_kind_names[CK_COUNT];

/* Called on the loop for every finished probe. M is filled for rippled probes
 * (freshness: sequence, age, network id; /health: nothing beyond the verdict). */
typedef void (*check_result_cb)(struct backend *b, enum check_kind kind,
                                const struct observation *o, const struct rippled_metrics *m,
                                uint64_t duration_us, void *arg);

/* The callback may call check_start and check_stop for any backend, its own included (a
 * stopped backend gets no further callback); never check_deinit. A backend must be
 * stopped (check_stop) before it is freed: the engine keeps a pointer to it. */
int check_init(struct event_base *base, check_result_cb cb, void *arg) WUR;
void check_deinit(void);
/* Starts probing B with B->conf.health (check = none: nothing). Safe to call again after
 * a reload changed the settings: the schedule restarts. */
void check_start(struct backend *b);
/* Stops B's probes and aborts one in flight (the callback is not called for it). */
void check_stop(struct backend *b);
/* The pool's best validated sequence for B's freshness lag (set by the caller). */
typedef uint64_t (*check_best_seq_fn)(const struct backend *b);
void check_set_best_seq(check_best_seq_fn fn);
/* Probes in flight and probes done, for /metrics. */
uint64_t check_probes_total(void);
unsigned check_in_flight(void);
/* Probes held back because 512 probes were in flight (the global cap), and probes that
 * failed on our side (no socket, no memory). */
uint64_t check_deferred_total(void);
uint64_t check_errors_total(void);
/* Probes that found no descriptor on nodegate's side (no observation made). */
uint64_t check_nofd_total(void);
