/* Session, tunnels: the tcp mode's byte relay and WebSocket upgrades (frames parsed, client
 * messages under the method policy and rate limit), and the closes that follow a node out of
 * rotation (the routing snapshot's publications). */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "clock.h"
#include "proxy/listener.h"
#include "proxy/route.h"
#include "proxy/session-int.h"
#include "proxy/session.h"
#include "proxy/ws.h"
#include "stats.h"

#define WS_CLOSE_WAIT_MS 2000 /* after nodegate's close, the client's answer is awaited */

static int ws_start(struct session *s);
static void ws_relay_client(struct session *s);
static void ws_relay_node(struct session *s);
static void ws_resume(struct session *s);
static void ws_go_away(struct session *s);

/* ---- tunnel (tcp mode, WebSocket) -------------------------------------------------------- */

/* Tunnel bytes from SRC to DST; a slow DST pauses SRC until its write callback. */
static void tunnel_relay(struct session *s, struct conn *src, struct conn *dst)
{
	s->tunnel_active = clock_now();
	evbuffer_add_buffer(conn_output(dst), conn_input(src));
	conn_flush(dst);
	if (conn_output_len(dst) >= RELAY_HIGH_WM) {
		conn_disable_read(src);
		conn_set_write_low(dst, RELAY_HIGH_WM / 2);
	}
}

void tunnel_start(struct session *s)
{
	struct conn *ub = s->up->c;

	session_set_state(s, SS_TUNNEL, s->l->conf.mode == MODE_TCP ? "tcp" : "WebSocket");
	s->tunnel_active = clock_now();
	evtimer_del(&s->timer);
	if (s->l->conf.mode == MODE_TCP)
		STAT_INC(tcp_sessions);
	else if (ws_start(s) != 0) {
		/* uninspected, a tunnel could carry refused calls */
		session_close(s, "out of memory");
		return;
	}
	conn_set_read_max(ub, 0);
	conn_set_read_max(s->client, 0);
	conn_set_timeouts(ub, s->l->conf.tunnel_timeout, s->l->conf.client_timeout);
	conn_set_timeouts(s->client, s->l->conf.tunnel_timeout, s->l->conf.client_timeout);
	conn_enable_read(ub);
	conn_enable_read(s->client);
	conn_flush(s->client); /* e.g. the 101 head */
	/* bytes that arrived early, on either side (either relay may close the session) */
	if (conn_input_len(s->client) > 0)
		tunnel_client_read(s);
	if (!session_closed(s) && conn_input_len(ub) > 0)
		tunnel_node_read(s);
	if (!session_closed(s) && s->client_eof && conn_output_len(ub) == 0)
		conn_shutdown_write(ub);
}

void tunnel_client_read(struct session *s)
{
	if (s->ws != NULL)
		ws_relay_client(s);
	else
		tunnel_relay(s, s->client, s->up->c);
}

void tunnel_node_read(struct session *s)
{
	if (s->ws != NULL)
		ws_relay_node(s);
	else
		tunnel_relay(s, s->up->c, s->client);
}

/* The client took what was queued for it: a paused WebSocket reads again; the node's EOF
 * goes on once the client has every byte, or else the node is read again. */
void tunnel_client_drained(struct session *s)
{
	if (s->ws_paused && !ws_client_blocked(s->ws, conn_output(s->client)))
		ws_resume(s);
	if (s->up_eof && conn_output_len(s->client) == 0)
		conn_shutdown_write(s->client);
	else if (!s->up_eof)
		conn_enable_read(s->up->c);
}

/* The node took what was queued for it: the client is read again, or its EOF goes on. */
void tunnel_node_drained(struct session *s)
{
	if (!s->client_eof)
		conn_enable_read(s->client);
	else if (conn_output_len(s->up->c) == 0)
		conn_shutdown_write(s->up->c);
}

void tunnel_timer(struct session *s)
{
	if (s->ws != NULL && s->ws_drain && !s->ws->closing && !s->up_eof) {
		ws_go_away(s); /* the drain grace is over */
		return;
	}
	/* nodegate's close was not answered in time, or the drained node ended the tunnel
	 * itself within the grace */
	session_close(s, "tunnel timer");
}

/* EOF, error or idle timeout on one side of a tunnel. EOF is a half-close: it is passed on
 * (shutdown of the write side) once the other side has its bytes; the tunnel ends when
 * both sides are done. */
void tunnel_event(struct session *s, bool from_client, short what, enum conn_error err)
{
	struct conn *src = from_client ? s->client : s->up->c;
	struct conn *dst = from_client ? s->up->c : s->client;

	if (err == CONN_ERR_TIMEOUT) {
		/* one side silent is normal (a subscription); both silent is idle */
		uint64_t quiet_ms = clock_now() - s->tunnel_active;
		if (quiet_ms < s->l->conf.tunnel_timeout && (what & BEV_EVENT_READING)) {
			conn_enable_read(src);
			return;
		}
		slog(LOGL_DEBUG, s, "tunnel idle for tunnel_timeout, closing");
		session_close(s, "tunnel idle");
		return;
	}
	if (err != CONN_ERR_EOF || conn_is_tls(src) || conn_is_tls(dst)) {
		session_close(s, conn_error_names[err]);
		return;
	}
	if (from_client)
		s->client_eof = true;
	else
		s->up_eof = true;
	if (s->client_eof && s->up_eof) {
		if (conn_output_len(s->client) > 0)
			close_after_flush(s, "tunnel ended both ways");
		else
			session_close(s, "tunnel ended both ways");
		return;
	}
	if (conn_output_len(dst) == 0)
		conn_shutdown_write(dst);
	/* else: the write callback of DST shuts it down once drained */
}

/* ---- WebSocket tunnels ------------------------------------------------------------------- */

/* One complete client message under the listener's method policy: a refusal is answered in
 * rippled's WebSocket error shape (its "id" echoed) and never reaches the node. */
static bool ws_decide(void *arg, const char *msg, size_t len, struct evbuffer *reply)
{
	struct session *s = arg;
	struct rpc_info info;
	char body[512];

	uint64_t retry_ms;
	int blen;

	rpc_inspect(msg, len, s->l->policy, &info);
	if (!session_charge(s, &retry_ms)) { /* rippled's slowDown, then a close (1013) */
		s->ws_limited = true;
		blen = rpc_error_body(&info, true, "slowDown", RPC_SLOW_DOWN_CODE,
		                      RPC_SLOW_DOWN_TEXT, body, sizeof(body));
		evbuffer_add(reply, body, blen > 0 ? (size_t)blen : 0);
		return false;
	}
	if (info.refusal == RPC_ALLOWED)
		return true;
	evbuffer_add(reply, body, (size_t)refusal_body(s, &info, true, body, sizeof(body)));
	return false;
}

/* Closes the WebSocket with CODE both ways (each side's close at its next frame boundary);
 * the session ends on the client's answer, or WS_CLOSE_WAIT_MS later. */
void ws_close_both(struct session *s, uint16_t code, const char *why)
{
	ws_close(s->ws, code, why, conn_output(s->client), conn_output(s->up->c));
	conn_flush(s->client);
	conn_flush(s->up->c);
	timer_arm(s, WS_CLOSE_WAIT_MS);
}

/* A message was over the client's rate_per_ip: the session closes with 1013 (try again
 * later), as the node's slowDown would have it slow down. */
static void ws_limit_close(struct session *s)
{
	slog(LOGL_INFO, s, "over rate_per_ip: WebSocket closed (1013)");
	ws_close_both(s, WS_CLOSE_TRY_LATER, "over rate_per_ip");
}

/* Upgraded tunnels of http listeners speak WebSocket: its frames are parsed from here on. */
static int ws_start(struct session *s)
{
	struct ws_limits lim = {.inspect_max = rpc_policy_inspect_max(s->l->policy),
	                        .message_max = s->l->conf.max_body_size};

	if (rpc_policy_must_read(s->l->policy) && lim.message_max > lim.inspect_max)
		lim.message_max = lim.inspect_max; /* nothing unread reaches the node */

	s->ws = malloc(sizeof(*s->ws));
	if (s->ws == NULL)
		return -1;
	ws_init(s->ws, &lim, ws_decide, s);
	return 0;
}

/* What a relay step asks for; false when the session is closing or gone. */
static bool ws_after(struct session *s, enum ws_result res)
{
	switch (res) {
	case WS_CLOSING:
		slog(LOGL_INFO, s, "WebSocket closed by nodegate: client protocol error or size");
		timer_arm(s, WS_CLOSE_WAIT_MS);
		return true;
	case WS_DONE:
		conn_flush(s->up->c);
		close_after_flush(s, "WebSocket closed");
		return false;
	case WS_ERROR:
		slog(LOGL_WARN, s, "backend %s: bad WebSocket frame", s->up->b->name);
		session_close(s, "bad WebSocket frame");
		return false;
	default:
		return true;
	}
}

/* Client frames toward the node, held and inspected; replies queued for the client. */
static void ws_relay_client(struct session *s)
{
	struct conn *up = s->up->c;
	enum ws_result res =
	    ws_from_client(s->ws, conn_input(s->client), conn_output(up), conn_output(s->client));

	s->tunnel_active = clock_now();
	conn_flush(up);
	conn_flush(s->client);
	if (!ws_after(s, res))
		return;
	if (s->ws_limited && res != WS_CLOSING) {
		s->ws_limited = false;
		ws_limit_close(s);
		return;
	}
	if (res == WS_PAUSED) { /* resumed by client_write_cb or ws_relay_node */
		s->ws_paused = true;
		conn_disable_read(s->client);
		conn_set_write_low(s->client, WS_INJECT_MAX / 2);
	}
	if (conn_output_len(up) >= RELAY_HIGH_WM) {
		conn_disable_read(s->client);
		conn_set_write_low(up, RELAY_HIGH_WM / 2);
	}
}

/* Node frames toward the client, unchanged, with nodegate's frames between them. */
static void ws_relay_node(struct session *s)
{
	struct conn *up = s->up->c;
	enum ws_result res = ws_from_node(s->ws, conn_input(up), conn_output(s->client));

	s->tunnel_active = clock_now();
	conn_flush(s->client);
	if (!ws_after(s, res))
		return;
	if (conn_output_len(s->client) >= RELAY_HIGH_WM) {
		conn_disable_read(up);
		conn_set_write_low(s->client, RELAY_HIGH_WM / 2);
	}
	if (s->ws_paused && !ws_client_blocked(s->ws, conn_output(s->client)))
		ws_resume(s);
}

/* The client's bytes waited for nodegate's replies to drain: read them again. */
static void ws_resume(struct session *s)
{
	s->ws_paused = false;
	if (s->client_eof)
		return;
	conn_enable_read(s->client);
	conn_kick_read(s->client);
}

/* The node left rotation and the grace is over: close 1001 both ways, so that the client
 * reconnects (through nodegate, to a node in rotation). */
static void ws_go_away(struct session *s)
{
	STAT_INC(ws_drain_closed);
	slog(LOGL_INFO, s, "backend %s left rotation: WebSocket closed (1001)", s->up->b->name);
	ws_close_both(s, WS_CLOSE_GOING_AWAY, "node left rotation");
}

/* ---- rotation closes (routing snapshots) ------------------------------------------------- */

/* Whether backend B takes no new picks in table T: out of rotation (health or admin state),
 * weighed 0, or gone from the configuration. */
static bool ws_node_out(const struct route_table *t, const struct backend *b)
{
	const struct route_node *n = route_node_of(t, b);

	return n == NULL || !n->routable || n->weight == 0;
}

/* A new routing snapshot: the WebSocket sessions tunnelled to a node follow its place in
 * rotation. Out, they close after the pool's ws_drain_grace; back within the grace, they
 * keep going. A session the node has ended (EOF: it died) is left alone: its end went to
 * the client as it came. */
static void ws_on_publish(const struct route_table *now, const struct route_table *was, void *arg)
{
	struct session *s;

	TAILQ_FOREACH(s, &worker.sessions, link)
	{
		if (s->ws == NULL || s->state != SS_TUNNEL || s->ws->closing || s->up == NULL ||
		    s->up_eof)
			continue;
		bool out = ws_node_out(now, s->up->b);
		if (out && !s->ws_drain) {
			s->ws_drain = true;
			timer_arm(s, s->r->pool->conf.ws_drain_grace);
		} else if (!out && s->ws_drain) {
			s->ws_drain = false;
			evtimer_del(&s->timer);
		}
	}
}

int session_init(void)
{
	return route_on_publish(ws_on_publish, NULL);
}
