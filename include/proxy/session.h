/* Client sessions: one per accepted connection, in http mode (request framing, backend
 * choice, response relay, keep-alive, WebSocket tunnel) or tcp mode (byte relay). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <event2/util.h>
#include <sys/socket.h>

#include "proxy/listener.h"

/* Follows the routing snapshot: WebSocket sessions of a node that leaves rotation (health,
 * admin state, weight 0) close (1001) after the pool's ws_drain_grace. After route_init. */
int session_init(void) __attribute__((warn_unused_result));
/* Takes ownership of FD, accepted on L. */
void session_accept(struct listener *l, evutil_socket_t fd, const struct sockaddr *sa, int salen);
/* SIGTERM: idle keep-alive sessions close now, the others after their current request. */
void session_drain_all(void);
/* A SIGUSR2 upgrade handed the listeners over: as session_drain_all, but idle keep-alive
 * sessions stay until their next answer ("Connection: close") or client_timeout, and
 * WebSockets close (1001) after their pool's ws_drain_grace. */
void session_drain_handover(void);
/* Closes every session now (shutdown_timeout passed). */
void session_close_all(void);
/* Frees cached per-request state (parsers); for a clean exit under leak checkers. */
void session_cleanup(void);
