/* systemd's service notification protocol (sd_notify(3)), spoken without libsystemd: one
 * datagram per message to the unix socket named by NOTIFY_SOCKET ('@' names an abstract
 * socket). Without NOTIFY_SOCKET every call does nothing. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID and unsets them (hooks must not
 * notify in our name). Returns 0, or -1 with the reason in err when NOTIFY_SOCKET is set
 * but unusable (the caller logs it and goes on: systemd will time the start out). */
int sdnotify_init(char *err, size_t errlen) __attribute__((warn_unused_result));
/* Whether there is a socket to notify. */
bool sdnotify_enabled(void);
/* Sends one message, like "READY=1\nSTATUS=..." (never blocks; a lost datagram is
 * counted by the kernel, not here). 0 or -1. */
int sdnotify_send(const char *msg);
/* READY=1 with a STATUS= line. */
void sdnotify_ready(const char *status);
/* RELOADING=1 with MONOTONIC_USEC= (systemd 253's Type=notify-reload wants it). */
void sdnotify_reloading(void);
/* STOPPING=1. */
void sdnotify_stopping(void);
/* STATUS=TEXT, sent only when it differs from the last one sent. */
void sdnotify_status(const char *status);
/* When systemd set a watchdog for this process: a timer on BASE sends WATCHDOG=1 every
 * half WATCHDOG_USEC, from the loop itself, so a stuck loop stops them and systemd
 * restarts us. Returns the period in microseconds, 0 when there is no watchdog. */
uint64_t sdnotify_watchdog_start(struct event_base *base);
/* The NOTIFY_SOCKET value read at init (NULL: none), for a process that hands over to a
 * successor (a binary upgrade): the environment no longer has it. */
const char *sdnotify_socket_path(void);
/* WATCHDOG_USEC as read at init when it applied to us (0: none), for the same successor. */
uint64_t sdnotify_watchdog_usec(void);
void sdnotify_deinit(void);
