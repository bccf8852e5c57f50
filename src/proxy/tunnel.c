/* Session, tunnels: the tcp mode's byte relay and WebSocket upgrades (frames parsed, client
 * messages under the method policy and rate limit), the closes that follow a node out of
 * rotation (the routing snapshot's publications), and the WebSocket failover that moves a
 * client's session to another node instead (ws_failover = resubscribe). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>
#include <jansson.h>

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
static int resume_new(struct session *s);
static void resume_track(struct session *s, const struct rpc_info *i, const char *msg, size_t len);
static bool resume_start(struct session *s, const char *why);
static void resume_node_failed(struct session *s, const char *why);

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
	timer_stop(s);
	if (s->l->conf.mode == MODE_TCP)
		STAT_INC(tcp_sessions);
	else if (ws_start(s) != 0) {
		/* uninspected, a tunnel could carry refused calls */
		session_close(s, "out of memory");
		return;
	}
	conn_set_read_max(ub, 0);
	conn_set_read_max(s->client, 0);
	conn_set_timeouts_fixed(ub, s->l->conf.tunnel_timeout, s->l->conf.client_timeout);
	conn_set_timeouts_fixed(s->client, s->l->conf.tunnel_timeout, s->l->conf.client_timeout);
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
	if (s->state == SS_WS_RESUME) {
		resume_node_failed(s, "handshake timeout");
		return;
	}
	if (s->ws != NULL && s->ws_drain && !s->ws->closing && !s->up_eof) {
		if (!resume_start(s, "left rotation"))
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

	/* the node went away (died, reset) while the client is fine: another may take over */
	if (!from_client && err != CONN_ERR_TIMEOUT && resume_start(s, conn_error_names[err]))
		return;
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
			close_after_flush(s, false, "tunnel ended both ways");
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
	if (info.refusal == RPC_ALLOWED) {
		if (s->wsr != NULL)
			resume_track(s, &info, msg, len);
		return true;
	}
	evbuffer_add(reply, body, (size_t)refusal_body(s, &info, true, body, sizeof(body)));
	return false;
}

/* Closes the WebSocket with CODE both ways (each side's close at its next frame boundary);
 * the session ends on the client's answer, or WS_CLOSE_WAIT_MS later. */
void ws_close_both(struct session *s, uint16_t code, const char *why)
{
	if (s->state == SS_WS_RESUME) { /* no node speaks WebSocket to us yet */
		up_drop(s, false);
		ws_close(s->ws, code, why, conn_output(s->client), NULL);
		close_after_flush(s, false, why);
		return;
	}
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
	return resume_new(s);
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
		close_after_flush(s, false, "WebSocket closed");
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

/* ---- WebSocket failover (ws_failover = resubscribe) -------------------------------------- */

/* What a session needs to go on on another node: the upgrade request (r->out, kept for a
 * replay anyway), the subscriptions the client made, its requests in flight, and the last
 * ledger it was told of. Bounded; over a cap the session is "untracked" and closes (1001)
 * instead of failing over, as it would with ws_failover = close. */
#define WS_SUBS_MAX      32           /* subscribe and unsubscribe messages kept */
#define WS_SUBS_BYTES    (16 * 1024)  /* their bytes */
#define WS_PENDING_MAX   64           /* client requests in flight (with an id) */
#define WS_PENDING_BYTES (256 * 1024) /* bytes of in-flight reads kept for a resend */
#define WS_RESUME_TRIES  3            /* nodes tried per failover */
#define WS_LEDGER_WINDOW 256          /* this far below the last ledger sent: a new network */
#define WS_REPLAY_ID     "\"nodegate-resubscribe\"" /* the id of replayed subscribes */
/* rippled's rpcINTERNAL: a request in flight whose node went away unanswered. Not one of the
 * "not executed" tokens (tooBusy, noNetwork...) that clients retry: the client decides. */
#define WS_GONE_ERROR "internal"
#define WS_GONE_CODE  73
#define WS_GONE_WRITE                                                                              \
	"The node went away before answering; this request may or may not have been applied: "     \
	"check its outcome before sending it again."
#define WS_GONE_READ "The node went away before answering; send this request again."

struct ws_pending {
	char id[RPC_ID_MAX]; /* the request's "id", as JSON text */
	bool read;           /* safe to send twice */
	bool kept;           /* its message is in msg, for a resend */
	char *msg;           /* a buffer kept across requests (cap bytes) */
	size_t len, cap;
};

struct resume {
	char *subs[WS_SUBS_MAX]; /* subscribe/unsubscribe messages in order, without their id */
	size_t sub_len[WS_SUBS_MAX];
	unsigned n_subs;
	size_t sub_bytes;
	struct ws_pending pend[WS_PENDING_MAX]; /* in flight, oldest first; the slots past n_pend
	                                           keep their buffers */
	unsigned n_pend;
	size_t pend_bytes;    /* bytes of the buffers of every slot */
	bool untracked;       /* a cap was hit: no faithful failover is possible */
	bool has_last;        /* a ledgerClosed went to the client: */
	uint64_t last_ledger; /* its ledger_index */
	unsigned replay_left; /* answers to replayed subscribes still to swallow */
	struct backend *tried[WS_RESUME_TRIES + 1]; /* the node gone, then those tried */
	unsigned n_tried;
	char key[WS_KEY_LEN + 1]; /* the handshake's Sec-WebSocket-Key */
	struct http_parser *rp;   /* its answer's head, while it is read */
};

static bool resume_watch(void *arg, const char *msg, size_t len, bool whole);

/* The pool's settings now (a reload may have replaced the pool the session holds). */
static const struct conf_pool *pool_conf_now(const struct session *s)
{
	const struct route_pool *rp = route_pool_of(route_current(), s->r->pool);

	return rp != NULL ? &rp->pool->conf : &s->r->pool->conf;
}

/* At the upgrade: a rippled listener (profile other than none) whose pool fails over keeps
 * the state, and node messages are watched. -1: out of memory. */
static int resume_new(struct session *s)
{
	if (s->l->conf.profile == RPC_PROFILE_NONE ||
	    pool_conf_now(s)->ws_failover != WS_FAILOVER_RESUBSCRIBE)
		return 0;
	s->wsr = calloc(1, sizeof(*s->wsr));
	if (s->wsr == NULL)
		return -1;
	ws_watch(s->ws, resume_watch);
	return 0;
}

void tunnel_free(struct session *s)
{
	struct resume *wr = s->wsr;

	if (wr == NULL)
		return;
	for (unsigned i = 0; i < wr->n_subs; i++)
		free(wr->subs[i]);
	for (unsigned i = 0; i < WS_PENDING_MAX; i++)
		free(wr->pend[i].msg);
	parser_put(&wr->rp);
	free(wr);
	s->wsr = NULL;
}

/* A cap was hit (WHAT): the session will close rather than fail over. */
static void resume_untracked(struct session *s, const char *what)
{
	if (s->wsr->untracked)
		return;
	s->wsr->untracked = true;
	STAT_INC(ws_failover_untracked);
	slog(LOGL_INFO, s, "WebSocket %s over the caps: a failover will close it (1001)", what);
}

static void subs_remove(struct resume *wr, unsigned i)
{
	wr->sub_bytes -= wr->sub_len[i];
	free(wr->subs[i]);
	wr->n_subs--;
	memmove(&wr->subs[i], &wr->subs[i + 1], (wr->n_subs - i) * sizeof(wr->subs[0]));
	memmove(&wr->sub_len[i], &wr->sub_len[i + 1], (wr->n_subs - i) * sizeof(wr->sub_len[0]));
}

/* ROOT as an unsubscribe's matching subscribe (its command or method renamed), or NULL. */
static char *subs_as_subscribe(json_t *root)
{
	const char *key = json_is_string(json_object_get(root, "command")) ? "command" : "method";

	json_object_set_new(root, key, json_string("subscribe"));
	return json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
}

/* A subscribe or unsubscribe (UNSUB) the node got, kept without its id for a replay; an
 * unsubscribe naming exactly what a kept subscribe named cancels it instead. */
static void subs_note(struct session *s, const char *msg, size_t len, bool unsub)
{
	struct resume *wr = s->wsr;
	json_t *root = json_loadb(msg, len, 0, NULL);
	char *text = NULL, *as_sub = NULL;
	size_t tlen;

	if (!json_is_object(root))
		goto done;
	json_object_del(root, "id");
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	if (text != NULL && unsub && (as_sub = subs_as_subscribe(root)) != NULL) {
		for (unsigned i = wr->n_subs; i-- > 0;)
			if (strcmp(wr->subs[i], as_sub) == 0) {
				subs_remove(wr, i);
				goto done;
			}
	}
	tlen = text != NULL ? strlen(text) : 0;
	if (text == NULL || tlen < 2 || wr->n_subs == WS_SUBS_MAX ||
	    wr->sub_bytes + tlen > WS_SUBS_BYTES) {
		resume_untracked(s, "subscriptions");
		goto done;
	}
	wr->subs[wr->n_subs] = text;
	wr->sub_len[wr->n_subs++] = tlen;
	wr->sub_bytes += tlen;
	text = NULL;
done:
	free(text);
	free(as_sub);
	json_decref(root);
}

/* A request with an id goes to the node: in flight until its answer passes. A read's
 * message is kept (in a buffer the slot keeps) for a resend. */
static void pending_add(struct session *s, const struct rpc_info *i, const char *msg, size_t len)
{
	struct resume *wr = s->wsr;
	struct ws_pending *p;

	if (wr->n_pend == WS_PENDING_MAX) {
		resume_untracked(s, "requests in flight");
		return;
	}
	p = &wr->pend[wr->n_pend++];
	memcpy(p->id, i->id, sizeof(p->id));
	p->read = i->is_rpc && i->all_read;
	p->kept = false;
	p->len = 0;
	if (!p->read)
		return;
	if (len > p->cap && wr->pend_bytes - p->cap + len <= WS_PENDING_BYTES) {
		char *m = realloc(p->msg, len);
		if (m != NULL) {
			wr->pend_bytes += len - p->cap;
			p->msg = m;
			p->cap = len;
		}
	}
	if (len <= p->cap) {
		memcpy(p->msg, msg, len);
		p->len = len;
		p->kept = true;
	}
}

/* Slot I is answered: the later ones move up, its buffer goes to the free end. */
static void pending_remove(struct resume *wr, unsigned i)
{
	struct ws_pending gone = wr->pend[i];

	wr->n_pend--;
	memmove(&wr->pend[i], &wr->pend[i + 1], (wr->n_pend - i) * sizeof(gone));
	gone.len = 0;
	wr->pend[wr->n_pend] = gone;
}

/* The oldest request in flight with ID (JSON text, LEN bytes) is done; false: none. */
static bool pending_take(struct resume *wr, const char *id, size_t len)
{
	for (unsigned i = 0; i < wr->n_pend; i++)
		if (strlen(wr->pend[i].id) == len && memcmp(wr->pend[i].id, id, len) == 0) {
			pending_remove(wr, i);
			return true;
		}
	return false;
}

/* The node answered ID: compared as sent, then (only when that fails) in the compact form
 * the request's id was kept in. */
static void pending_answered(struct resume *wr, const char *id, size_t len)
{
	if (pending_take(wr, id, len))
		return;
	json_t *v = json_loadb(id, len, JSON_DECODE_ANY, NULL);
	char *t = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	if (t != NULL)
		(void)pending_take(wr, t, strlen(t));
	free(t);
	json_decref(v);
}

/* An allowed client message on its way to the node (ws_decide): what a failover needs. */
static void resume_track(struct session *s, const struct rpc_info *i, const char *msg, size_t len)
{
	bool sub = i->is_rpc && strcmp(i->method, "subscribe") == 0;
	bool unsub = i->is_rpc && strcmp(i->method, "unsubscribe") == 0;

	if (sub || unsub)
		subs_note(s, msg, len, unsub);
	if (i->id[0] != '\0')
		pending_add(s, i, msg, len);
}

/* A ledgerClosed for ledger IDX: false when the client was told of it already (the new
 * node repeats what the old one sent); far below the last one, it is a new network. */
static bool ledger_fresh(struct resume *wr, uint64_t idx)
{
	if (wr->has_last && idx <= wr->last_ledger && wr->last_ledger - idx < WS_LEDGER_WINDOW) {
		STAT_INC(ws_duplicates_dropped);
		return false;
	}
	wr->has_last = true;
	wr->last_ledger = idx;
	return true;
}

/* A node message for the client (ws_watch_cb): duplicate ledgerClosed messages and the
 * answers to replayed subscribes are dropped; an answer ends its request's flight. The
 * cheap test first: with nothing in flight, only a ledgerClosed is looked at. */
static bool resume_watch(void *arg, const char *msg, size_t len, bool whole)
{
	struct session *s = arg;
	struct resume *wr = s->wsr;
	struct ws_msg_keys k;

	if (wr->n_pend == 0 && wr->replay_left == 0 && memmem(msg, len, "ledgerClosed", 12) == NULL)
		return true;
	ws_msg_scan(msg, len, &k);
	if (k.ledger_closed && k.has_ledger_index)
		return ledger_fresh(wr, k.ledger_index);
	if (k.id == NULL)
		return true;
	if (wr->replay_left > 0 && k.id_len == strlen(WS_REPLAY_ID) &&
	    memcmp(k.id, WS_REPLAY_ID, k.id_len) == 0) {
		wr->replay_left--;
		if (memmem(msg, len, "\"error\"", 7) != NULL) /* the client is not told: say it */
			slog(LOGL_WARN, s, "backend %s refused a replayed subscription: %.*s",
			     s->up->b->name, (int)(len < 200 ? len : 200), msg);
		return false;
	}
	pending_answered(wr, k.id, k.id_len);
	return true;
}

/* B refused the connection: a passive signal, worded as the probes word it. */
static void resume_refused(struct backend *b)
{
	char where[128], why[ROUTE_REASON_MAX];

	conf_addr_format(&b->conf.address, where, sizeof(where));
	snprintf(why, sizeof(why), "refused: connect to %s", where);
	route_signal(b, true, true, why);
}

/* The failover is given up (WHY): the client gets 1001 and reconnects by itself. */
static void resume_fail(struct session *s, const char *why)
{
	STAT_INC(ws_failover_failed);
	slog(LOGL_WARN, s, "WebSocket failover given up (%s): closed (1001)", why);
	ws_close_both(s, WS_CLOSE_GOING_AWAY, "no node to go on with");
}

static void resume_read_cb(struct conn *c, void *arg);
static void resume_write_cb(struct conn *c, void *arg);
static void resume_event_cb(struct conn *c, short what, enum conn_error err, void *arg);
static const struct conn_ops resume_ops = {resume_read_cb, resume_write_cb, resume_event_cb};

/* Connects to the next node the pool picks, none of those tried; gives up after
 * WS_RESUME_TRIES or when none is left. */
static void resume_next(struct session *s)
{
	struct resume *wr = s->wsr;
	struct request *r = s->r;
	uint64_t connect_ms = pool_conf_now(s)->connect_timeout;
	enum conn_error kind;
	char err[256];

	while (wr->n_tried <= WS_RESUME_TRIES) {
		struct backend *b = pool_pick(r->pool, wr->tried, wr->n_tried);
		if (b == NULL)
			break;
		wr->tried[wr->n_tried++] = b;
		s->up = upstream_get(wk->base, b, connect_ms, false, &kind, err, sizeof(err));
		if (s->up == NULL) {
			STAT_INC(upstream_connect_error);
			slog(LOGL_WARN, s, "backend %s: %s", b->name, err);
			if (kind == CONN_ERR_REFUSED)
				resume_refused(b);
			continue;
		}
		backend_unref(r->b);
		r->b = backend_ref(b);
		__atomic_add_fetch(&b->active, 1, __ATOMIC_RELAXED);
		conn_setcb(s->up->c, &resume_ops, s);
		conn_enable_read(s->up->c);
		timer_arm(s, 2 * connect_ms); /* connect, then the 101 */
		return;
	}
	resume_fail(s, wr->n_tried > 1 ? "no other node answered" : "no node in rotation");
}

static void resume_node_failed(struct session *s, const char *why)
{
	slog(LOGL_WARN, s, "backend %s: WebSocket failover handshake failed: %s",
	     s->up != NULL ? s->up->b->name : "-", why);
	parser_put(&s->wsr->rp);
	up_drop(s, false);
	resume_next(s);
}

/* The node connected: the client's upgrade request again, with a key of nodegate's. */
static void resume_send_upgrade(struct session *s)
{
	struct request *r = s->r;
	struct resume *wr = s->wsr;
	struct evbuffer *out = conn_output(s->up->c);
	const char *head = (const char *)evbuffer_pullup(r->out, (ev_ssize_t)r->head_len);

	ws_new_key(wr->key);
	for (size_t i = 0, n; i < r->head_len; i += n) {
		const char *eol = memchr(head + i, '\n', r->head_len - i);
		n = eol != NULL ? (size_t)(eol - head) + 1 - i : r->head_len - i;
		if (n > 18 && strncasecmp(head + i, "sec-websocket-key:", 18) == 0)
			evbuffer_add_printf(out, "Sec-WebSocket-Key: %s\r\n", wr->key);
		else
			evbuffer_add(out, head + i, n);
	}
	conn_flush(s->up->c);
}

/* One masked text frame of nodegate's to the node. */
static void node_send(struct session *s, const char *msg, size_t len)
{
	uint8_t key[4];

	evutil_secure_rng_get_bytes(key, sizeof(key));
	ws_frame_write(conn_output(s->up->c), WS_OP_TEXT, msg, len, key);
}

/* The kept subscriptions go to the new node in order, with nodegate's id (their answers
 * are swallowed). */
static void resume_replay(struct session *s)
{
	struct resume *wr = s->wsr;
	char buf[WS_SUBS_BYTES + sizeof(WS_REPLAY_ID) + 8];

	for (unsigned i = 0; i < wr->n_subs; i++) {
		int n = snprintf(buf, sizeof(buf), "{\"id\":%s,%s", WS_REPLAY_ID, wr->subs[i] + 1);
		node_send(s, buf, (size_t)n);
		wr->replay_left++;
		STAT_INC(ws_replays);
	}
}

/* The requests in flight: reads go to the new node again (same message, same id); writes,
 * and reads not kept, are answered in rippled's error shape. */
static void resume_pending(struct session *s, unsigned *resent, unsigned *answered)
{
	struct resume *wr = s->wsr;
	struct rpc_info info;
	char body[512];

	for (unsigned i = 0; i < wr->n_pend;) {
		struct ws_pending *p = &wr->pend[i];
		if (p->read && p->kept) {
			node_send(s, p->msg, p->len);
			STAT_INC(ws_resent);
			(*resent)++;
			i++;
			continue;
		}
		memset(&info, 0, sizeof(info));
		memcpy(info.id, p->id, sizeof(info.id));
		int n = rpc_error_body(&info, true, WS_GONE_ERROR, WS_GONE_CODE,
		                       p->read ? WS_GONE_READ : WS_GONE_WRITE, body, sizeof(body));
		if (n > 0)
			ws_reply(s->ws, body, (size_t)n, conn_output(s->client));
		if (!p->read)
			STAT_INC(ws_unknown_outcome);
		(*answered)++;
		pending_remove(wr, i);
	}
}

/* The new node answered 101: the tunnel goes on, the subscriptions replayed first. */
static void resume_done(struct session *s)
{
	struct conn *ub = s->up->c;
	unsigned resent = 0, answered = 0;

	timer_stop(s);
	session_set_state(s, SS_TUNNEL, "WebSocket resumed");
	s->tunnel_active = clock_now();
	conn_set_read_max(ub, 0);
	conn_set_timeouts_fixed(ub, s->l->conf.tunnel_timeout, s->l->conf.client_timeout);
	resume_replay(s);
	resume_pending(s, &resent, &answered);
	STAT_INC(ws_failovers);
	slog(LOGL_INFO, s,
	     "WebSocket resumed on backend %s: %u subscription messages replayed, %u reads "
	     "resent, %u requests answered",
	     s->up->b->name, s->wsr->n_subs, resent, answered);
	conn_flush(ub);
	conn_flush(s->client);
	ws_resume(s);
	if (conn_input_len(ub) > 0)
		tunnel_node_read(s);
}

/* The new node's answer to the upgrade: 101 with the Sec-WebSocket-Accept of our key. */
static void resume_handshake(struct session *s)
{
	struct resume *wr = s->wsr;
	struct evbuffer *in = conn_input(s->up->c);
	size_t len = evbuffer_get_length(in), max = s->l->conf.max_header_size;
	char accept[WS_ACCEPT_LEN + 1], why[64];

	if (wr->rp == NULL) {
		struct http_limits lim = {.max_head = (uint32_t)max,
		                          .max_uri = (uint32_t)max,
		                          .max_headers = HTTP_MAX_HEADERS};
		if ((wr->rp = parser_get()) == NULL) {
			resume_node_failed(s, "out of memory");
			return;
		}
		http_parser_init(wr->rp, HTTP_RESPONSE, &lim);
	}
	if (len > max + 1)
		len = max + 1;
	const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
	enum http_result res = http_parse_head(wr->rp, buf, len);
	if (res == HTTP_NEED_MORE)
		return;
	const struct http_msg *m = &wr->rp->msg;
	int h = res == HTTP_ERROR ? -1 : http_find_header(m, buf, "sec-websocket-accept", 0);
	ws_accept_of(wr->key, WS_KEY_LEN, accept);
	if (res == HTTP_ERROR || m->status != 101 || h < 0 ||
	    m->hdr[h].value.len != WS_ACCEPT_LEN ||
	    memcmp(buf + m->hdr[h].value.off, accept, WS_ACCEPT_LEN) != 0) {
		snprintf(why, sizeof(why), "answered %d without the right Sec-WebSocket-Accept",
		         res == HTTP_ERROR ? 0 : m->status);
		resume_node_failed(s, res == HTTP_ERROR ? "bad answer head" : why);
		return;
	}
	evbuffer_drain(in, wr->rp->head_len);
	parser_put(&wr->rp);
	resume_done(s);
}

static void resume_read_cb(struct conn *c, void *arg)
{
	struct session *s = arg;

	if (s->state == SS_TUNNEL)
		tunnel_node_read(s);
	else if (s->state == SS_WS_RESUME)
		resume_handshake(s);
}

static void resume_write_cb(struct conn *c, void *arg)
{
	struct session *s = arg;

	conn_set_write_low(c, 0);
	if (s->state == SS_TUNNEL)
		tunnel_node_drained(s);
}

static void resume_event_cb(struct conn *c, short what, enum conn_error err, void *arg)
{
	struct session *s = arg;

	if (s->state == SS_TUNNEL) {
		tunnel_event(s, false, what, err);
		return;
	}
	if (s->state != SS_WS_RESUME)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		resume_send_upgrade(s);
		return;
	}
	if (err == CONN_ERR_REFUSED)
		resume_refused(s->up->b);
	resume_node_failed(s, conn_error_names[err]);
}

/* The node went away (WHY: it died, or its drain grace is over): when the session can go
 * on elsewhere, the failover starts and true is returned; false leaves the caller to end
 * or close the session as without a failover (ws_failover = close, a profile = none
 * listener, a close under way, or a frame half relayed). */
static bool resume_start(struct session *s, const char *why)
{
	struct resume *wr = s->wsr;
	struct ws *w = s->ws;

	if (wr == NULL || pool_conf_now(s)->ws_failover != WS_FAILOVER_RESUBSCRIBE || w->closing ||
	    w->client_closed || w->node_closed || s->client_eof || wk->draining ||
	    !ws_can_switch_node(w))
		return false;
	slog(LOGL_INFO, s, "backend %s: %s: WebSocket failing over", s->up->b->name, why);
	wr->n_tried = 0;
	wr->tried[wr->n_tried++] = s->up->b;
	wr->replay_left = 0; /* the old node's answers are gone with it */
	up_drop(s, false);
	s->up_eof = false;
	s->ws_drain = false;
	ws_node_reset(w);
	conn_disable_read(s->client);
	session_set_state(s, SS_WS_RESUME, why);
	if (wr->untracked)
		resume_fail(s, "its state went over the caps");
	else
		resume_next(s);
	return true;
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
static void ws_follow(void *arg)
{
	const struct route_table *now = route_current();
	struct session *s;

	TAILQ_FOREACH(s, &wk->sessions, link)
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
			timer_stop(s);
		}
	}
}

/* Each worker looks at its own sessions, by the newest snapshot. */
static void ws_on_publish(const struct route_table *now, const struct route_table *was, void *arg)
{
	workers_broadcast(ws_follow, NULL, NULL, NULL);
}

int session_init(void)
{
	return route_on_publish(ws_on_publish, NULL);
}
