/* Process-wide counters: every limit hit and every failure path bumps one; /metrics shows them. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

/* X(name, help) */
#define STATS_GLOBAL(X)                                                                            \
	X(conn_accepted, "client connections accepted")                                            \
	X(conn_limit_global, "accepts paused because max_connections was reached")                 \
	X(conn_limit_listener, "accepts paused because a listener's max_connections was reached")  \
	X(conn_accept_error, "accept() failures")                                                  \
	X(conn_accept_nofd,                                                                        \
	  "accepts paused for a backoff: descriptors ran out (EMFILE, ENFILE) or reached the "     \
	  "reserve")                                                                               \
	X(conn_overflow, "connections accepted past max_connections or the descriptor ceiling")    \
	X(conn_overflow_503, "connections past a limit answered 503 with Retry-After")             \
	X(conn_handed, "client connections a worker accepted and handed to a less loaded one")     \
	X(status_over, "status clients told 503: [status] max_connections reached")                \
	X(status_timeout,                                                                          \
	  "status clients closed (408): a request slower than [status] header_timeout")            \
	X(status_accept_error, "status accepts failed (EMFILE...): accepts paused for a backoff")  \
	X(tls_handshake_error, "client TLS handshakes that failed")                                \
	X(requests_received, "HTTP requests received")                                             \
	X(req_bad, "requests refused as malformed (400)")                                          \
	X(req_uri_too_long, "requests refused for a URI over the limit (414)")                     \
	X(req_header_too_large, "requests refused for a header section over the limit (431)")      \
	X(req_body_too_large, "requests refused for a body over the limit (413)")                  \
	X(req_uninspectable,                                                                       \
	  "bodies the rippled method policy could not read, refused (411, 413)")                   \
	X(req_header_timeout, "requests refused because the header was too slow (408)")            \
	X(req_not_implemented, "requests refused for an unsupported feature (501)")                \
	X(req_no_backend, "requests answered 503 because no backend was available")                \
	X(req_backend_error, "requests answered 502 after a backend failure")                      \
	X(req_backend_timeout, "requests answered 504 after a backend timeout")                    \
	X(req_retried, "requests retried on another backend")                                      \
	X(req_slow, "requests whose node sent nothing past the pool's hung-node bound")            \
	X(backend_held, "times a silent node was held out of new picks (hung-node defence)")       \
	X(req_client_aborted, "requests whose client went away before the response ended")         \
	X(linger_started,                                                                          \
	  "lingering closes: an answer sent before the request was read whole, the rest dropped")  \
	X(linger_cut,                                                                              \
	  "lingering closes cut while the client still sent (lingering_max_size, lingering_time)") \
	X(linger_idle,                                                                             \
	  "lingering closes ended because the client sent nothing (lingering_timeout)")            \
	X(resp_bad, "backend responses refused as malformed")                                      \
	X(upstream_connect_error, "backend connections that failed to connect")                    \
	X(upstream_nofd,                                                                           \
	  "requests answered 503 for want of a descriptor for the node connection (not the "       \
	  "node's fault: no verdict, no retry)")                                                   \
	X(upstream_connect_timeout, "backend connections that timed out connecting")               \
	X(upstream_reused, "requests sent on a pooled keep-alive backend connection")              \
	X(upstream_idle_closed, "pooled backend connections closed (idle timeout, limit or EOF)")  \
	X(upstream_limit, "backend picks skipped because the backend's max_conns was reached")     \
	X(ws_upgrades, "WebSocket upgrades tunnelled")                                             \
	X(ws_inspected, "WebSocket client messages held whole and inspected")                      \
	X(ws_uninspected, "WebSocket client messages over the inspect limit, passed uninspected")  \
	X(ws_refused, "WebSocket client messages refused by the method policy (never sent)")       \
	X(ws_unmasked, "WebSocket sessions closed (1002) for an unmasked client frame")            \
	X(ws_close_protocol, "WebSocket sessions closed (1002) for a client protocol error")       \
	X(ws_close_too_big,                                                                        \
	  "WebSocket sessions closed (1009) for a client frame or message too big")                \
	X(ws_inject_waits, "nodegate frames that waited for a node frame boundary")                \
	X(ws_bad_node_frames, "WebSocket tunnels closed because the node's frames were invalid")   \
	X(ws_drain_closed, "WebSocket sessions closed (1001) because their node left rotation")    \
	X(ws_close_timeouts, "WebSocket closes whose client did not answer in time")               \
	X(ws_failovers, "WebSocket sessions moved to another node (ws_failover = resubscribe)")    \
	X(ws_failover_failed,                                                                      \
	  "WebSocket failovers given up (no node, handshakes failed, state over its caps): 1001")  \
	X(ws_failover_untracked,                                                                   \
	  "WebSocket sessions whose subscriptions or requests in flight went over the caps")       \
	X(ws_replays, "subscribe and unsubscribe messages replayed on a WebSocket's new node")     \
	X(ws_resent, "WebSocket reads in flight when their node went away, resent on the new one") \
	X(ws_unknown_outcome,                                                                      \
	  "WebSocket writes in flight when their node went away, answered \"internal\"")           \
	X(ws_duplicates_dropped, "ledgerClosed messages dropped: their ledger_index was sent")     \
	X(tcp_sessions, "TCP-mode sessions relayed")                                               \
	X(evmem_malloc, "buffer blocks taken from malloc (evmem.c: none kept, or over 64 KiB)")    \
	X(transitions, "rotation state changes of backends")                                       \
	X(route_published, "routing snapshots published to the data plane")                        \
	X(route_publish_failed, "routing snapshots not published for lack of memory (retried)")    \
	X(route_publish_deferred,                                                                  \
	  "routing changes left to the end of a loop turn that had published 8 snapshots")         \
	X(grace_expired, "sync graces that ran out before the node was healthy")                   \
	X(passive_signals, "observations of backends taken from live traffic")                     \
	X(passive_signals_dropped,                                                                 \
	  "passive signals from worker threads dropped: too many waiting for the main loop")       \
	X(rpc_error_retries, "JSON-RPC reads retried after a node's error token (noNetwork...)")   \
	X(reloads, "configuration reloads applied")                                                \
	X(reload_failures, "configuration reloads refused (old configuration kept)")               \
	X(binary_upgrades,                                                                         \
	  "SIGUSR2 upgrades handed over to a new binary (this process then drained)")              \
	X(binary_upgrade_failures,                                                                 \
	  "SIGUSR2 upgrades whose new binary failed (this process served on)")                     \
	X(incidents_opened, "incidents opened (automatic and manual)")                             \
	X(incidents_resolved, "incidents resolved (pool operational again, or by ops)")            \
	X(incident_reminders, "reminders sent: an incident's promised next update was overdue")    \
	X(chart_pools_dropped, "pools past CHART_POOLS_MAX left out of the response-time chart")   \
	X(maint_steps, "maintenance windows started or ended (backends taken out, given back)")    \
	X(admin_actions, "admin API calls applied (backend states, weights, incidents)")           \
	X(incident_acks, "incidents acknowledged (admin API or a one-time link)")                  \
	X(admin_conflict, "admin API calls refused for the incident's state (409)")                \
	X(admin_unauthorized, "admin API calls refused for a missing or wrong token (401)")        \
	X(admin_disabled, "admin API calls refused because no admin_token_file is set (403)")      \
	X(admin_bad_request, "admin API calls refused as malformed (400)")                         \
	X(admin_not_found, "admin API calls naming an unknown backend, incident or action (404)")  \
	X(admin_bad_method, "admin API calls with a method the route does not take (405)")         \
	X(store_errors, "SQLite writes that failed (the state stays in memory)")                   \
	X(store_queue_full, "SQLite writes dropped because the writer's queue was full")           \
	X(bus_deferred_dropped,                                                                    \
	  "bus events not delivered to incidents, alerts and hooks because their queue was full")

struct stats {
#define STATS_FIELD(name, help) uint64_t name;
	STATS_GLOBAL(STATS_FIELD)
#undef STATS_FIELD
};

/* Each thread counts into its own block (no shared cache line, no lock); /metrics sums the
 * blocks. A thread that never called stats_thread_block() counts into the main thread's. */
extern __thread struct stats *stats_mine;

/* A relaxed add: the owner writes, the scrape reads, neither tears the value. */
static inline void stat_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}
#define STAT_INC(name)    stat_add(&stats_mine->name, 1)
#define STAT_ADD(name, n) stat_add(&stats_mine->name, (n))

/* Gives the calling thread a block of its own (a worker at start); false: out of room. */
bool stats_thread_block(void);
/* The sum over every thread's block. */
void stats_sum(struct stats *out);
