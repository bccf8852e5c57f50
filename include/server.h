/* Applying a configuration to the running process: listeners, pools and backends are built
 * from a conf and swapped into the registry (registry.h) whole; objects whose identity did
 * not change (same backend name and address, same listener bind) are kept. Only main.c
 * includes this header. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "fdlimit.h"

/* Builds pools, backends and listeners from C and swaps them in, then the subsystems that
 * follow a configuration (alerts, status listener, admin, hooks); on failure nothing of the
 * running state changed and ERRS says why. Takes ownership of C on success. */
int server_apply(struct conf *c, struct conf_errors *errs) WUR;
/* Stops probing every backend, closes the listeners and empties the registry (exit). */
void server_release(void);

/* Descriptors: the configuration's needs (fdlimit.h) for WORKERS data-plane loops. */
void server_fd_plan(const struct conf *c, unsigned nworkers, struct fdlimit_plan *p);
/* Whether C may run out of descriptors under NOFILE; MSG says how (a warning). */
bool server_fd_short(const struct conf *c, unsigned nworkers, uint64_t nofile, char *msg,
                     size_t len);
/* Raises the soft RLIMIT_NOFILE to the hard one; sets fdlimit_nofile. MSG: what was done. */
void server_fd_raise(char *msg, size_t len);
