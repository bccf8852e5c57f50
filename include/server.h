/* Applying a configuration to the running process: listeners, pools and backends are built
 * from a conf and swapped into the registry (registry.h) whole; objects whose identity did
 * not change (same backend name and address, same listener bind) are kept. Only main.c
 * includes this header. */
#pragma once
#include "conf.h"

/* Builds pools, backends and listeners from C and swaps them in, then the subsystems that
 * follow a configuration (alerts, status listener, admin, hooks); on failure nothing of the
 * running state changed and ERRS says why. Takes ownership of C on success. */
int server_apply(struct conf *c, struct conf_errors *errs) WUR;
/* Stops probing every backend, closes the listeners and empties the registry (exit). */
void server_release(void);
