/* Binary upgrades without a dropped request (SIGUSR2, as nginx does): the running nodegate
 * starts its binary again (the path it was started from, the same argv) with its listening
 * sockets handed over (inherit.h); the new one adopts them, and once its pools can serve it
 * says so on a pipe; the old one then stops accepting, drains and exits. A new binary that
 * fails (bad configuration, crash, not ready in time) is logged, and the old one serves on. */
#pragma once
#include <event2/event.h>

#define UPGRADE_FD_ENV        "NODEGATE_UPGRADE_FD" /* the new process's end of the pipe */
#define UPGRADE_TIMEOUT_MS    60000                 /* the new binary must be ready within this */
#define UPGRADE_READY_WAIT_MS 10000 /* at most this long for its pools to be able to serve */

/* Process start: remembers the binary's path and ARGV, takes the inherited sockets and the
 * pipe from the environment (and removes them from it). -1 with ERR when they are unusable. */
int upgrade_init(char **argv, char *err, size_t errlen) __attribute__((warn_unused_result));
/* The new process is up (configuration applied, workers running): closes the inherited
 * sockets nobody took, and once every pool can serve (at most UPGRADE_READY_WAIT_MS) tells
 * the old process, which hands over. Nothing when this process was not started so. */
void upgrade_ready(struct event_base *base);
/* SIGUSR2: starts the new binary. HANDOVER runs once it is ready (the old process drains,
 * after the status listener stopped accepting). */
void upgrade_start(struct event_base *base, void (*handover)(void));
/* This process is shutting down (SIGTERM): a new binary not ready yet is stopped with it
 * (it serves nobody yet). */
void upgrade_abort(void);
void upgrade_deinit(void);
