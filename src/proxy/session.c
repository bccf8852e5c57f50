/* Client sessions: HTTP/1.1 reverse proxying with keep-alive on both sides, streamed
 * bodies, retries, WebSocket tunnels, and the TCP relay. This file holds the states, the
 * client side's callbacks and timer, and the lifecycle (accept, close, drain); each step of
 * a request lives in the file named beside it:
 *
 *  client_read_cb ─► req_head ─► req_start ─┬───────────────────────────────┐
 *  (session.c)       (request.c: head,      └─► req_body_buffer ─► req_inspect
 *                     limits, policy)           (small bodies, kept  (method policy)
 *                                                for a replay)          │
 *  ┌────────────────────────────────────────────────────────────────────┘
 *  ▼
 *  dispatch ─► limits_admit (429) ─► pick_next ─► upstream_get         (dispatch.c)
 *  ▲  │                                  ▲ refused connect: the next ──┘
 *  │  │        pick_next reads the routing snapshot (route.c: pool_pick_need)
 *  │  ▼
 *  │  up_event_cb(CONNECTED) ─► send_request ─► pump_req_body (streamed bodies)
 *  │                                 │
 *  │                                 ▼ node
 *  │  up_read_cb ─► resp_head ─► pump_resp_body ─► resp_done ─► req_head (keep-alive)
 *  │  (dispatch.c)  (response.c)     └─► resp_release      (access_log,    or close
 *  │                    │               (a held answer)     up_drop)
 *  │                    │                   │
 *  └─ retry_elsewhere ◄─┴── backend_failed ─┴── retry_lgr_not_found   (dispatch.c, budget)
 *                       │
 *                       ▼ 101
 *  tunnel_start ◄── tcp mode: up_event_cb(CONNECTED)                    (tunnel.c)
 *     └─► tunnel_client_read / tunnel_node_read ─► tunnel_relay (tcp),
 *         ws_relay_client / ws_relay_node (WebSocket; ws_go_away when the node leaves)
 *            │ its node died or left rotation (ws_failover = resubscribe)
 *            ▼
 *         resume_start ─► resume_next (pick, connect) ─► resume_handshake (101) ─►
 *         resume_done (subscriptions replayed, reads resent) ─► SS_TUNNEL again
 *
 * Failure before any byte of the response went to the client becomes a status from
 * nodegate (reply_error, response.c); after that, the client connection is closed.
 * session_close closes the connections at once and frees the memory at the end of the loop
 * turn (justfree_cb), so no caller up the stack reads freed memory. */
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "clock.h"
#include "evmem.h"
#include "proxy/session-int.h"
#include "proxy/session.h"
#include "proxy/ws.h"
#include "stats.h"

#define PARSER_CACHE_MAX 64
#define REQ_CACHE_MAX    1024
/* ms: the least a head accepted late is given, so that one that arrived whole is read */
#define HEAD_LATE_FLOOR_MS 100

/* ---- states ------------------------------------------------------------------------------ */

const char *const session_state_names[SS_COUNT] = {
    [SS_REQ_HEAD] = "req_head",     [SS_REQ_BODY_BUFFER] = "req_body",
    [SS_CONNECTING] = "connecting", [SS_STREAMING] = "streaming",
    [SS_TUNNEL] = "tunnel",         [SS_CLOSING] = "closing",
    [SS_CLOSED] = "closed",         [SS_WS_RESUME] = "ws_resume",
    [SS_LINGERING] = "lingering",
};

/* an idle connection's memory (bench/README): a field more costs 16 bytes each */
_Static_assert(sizeof(void *) != 8 || sizeof(struct session) <= 120,
               "struct session outgrew its 128-byte malloc chunk");

#define M(st) (1u << (st))
/* The legal moves: from each state, the states it may go to. A keep-alive session goes
 * back to SS_REQ_HEAD after each answer (from SS_REQ_HEAD itself when nodegate answered
 * before any backend was asked); SS_CONNECTING repeats when a connect fails and another
 * node is tried; a retry goes from SS_STREAMING back to SS_CONNECTING. Every state may
 * close at once (SS_CLOSED), the request states also after a flush (SS_CLOSING), which may
 * linger, reading and dropping what the client still sends (SS_LINGERING). A WebSocket
 * tunnel whose node went away may resume on another (SS_WS_RESUME, then SS_TUNNEL again). */
static const unsigned session_moves[SS_COUNT] = {
    [SS_REQ_HEAD] =
        M(SS_REQ_HEAD) | M(SS_REQ_BODY_BUFFER) | M(SS_CONNECTING) | M(SS_CLOSING) | M(SS_CLOSED),
    [SS_REQ_BODY_BUFFER] = M(SS_REQ_HEAD) | M(SS_CONNECTING) | M(SS_CLOSING) | M(SS_CLOSED),
    [SS_CONNECTING] = M(SS_REQ_HEAD) | M(SS_CONNECTING) | M(SS_STREAMING) | M(SS_TUNNEL) |
                      M(SS_CLOSING) | M(SS_CLOSED),
    [SS_STREAMING] =
        M(SS_REQ_HEAD) | M(SS_CONNECTING) | M(SS_TUNNEL) | M(SS_CLOSING) | M(SS_CLOSED),
    [SS_TUNNEL] = M(SS_WS_RESUME) | M(SS_CLOSING) | M(SS_CLOSED),
    [SS_CLOSING] = M(SS_LINGERING) | M(SS_CLOSED),
    [SS_CLOSED] = 0,
    [SS_WS_RESUME] = M(SS_TUNNEL) | M(SS_CLOSING) | M(SS_CLOSED),
    [SS_LINGERING] = M(SS_CLOSED),
};

void session_set_state(struct session *s, enum session_state to, const char *why)
{
	if ((session_moves[s->state] & M(to)) == 0) {
		slog(LOGL_ERROR, s, "illegal state move %s -> %s: %s",
		     session_state_names[s->state], session_state_names[to], why);
		assert(!"illegal session state move");
	}
	slog(LOGL_DEBUG, s, "state %s -> %s: %s", session_state_names[s->state],
	     session_state_names[to], why);
	s->state = to;
}

/* ---- timer, per-request memory ----------------------------------------------------------- */

static __thread struct http_parser *parser_cache[PARSER_CACHE_MAX];
static __thread unsigned n_parser_cache;

static struct timeval ms_tv(uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	return tv;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void justfree_wake(void);
static __thread unsigned n_timer_oom; /* sessions with timer_oom set, closed by justfree_cb */

/* Arms S's deadline MS from now. Out of memory, S is closed at the end of this turn (its
 * callers up the stack go on with it until then). */
void timer_arm(struct session *s, uint64_t ms)
{
	struct timeval tv = ms_tv(ms);

	if (s->timer == NULL) {
		s->timer = evmem_malloc(sizeof(*s->timer));
		if (s->timer == NULL) {
			if (!s->timer_oom)
				n_timer_oom++;
			s->timer_oom = true;
			justfree_wake();
			return;
		}
		evtimer_assign(s->timer, wk->base, timer_cb, s);
	}
	evtimer_add(s->timer, &tv);
}

void timer_stop(struct session *s)
{
	if (s->timer == NULL)
		return;
	evtimer_del(s->timer);
	evmem_free(s->timer);
	s->timer = NULL;
}

struct http_parser *parser_get(void)
{
	if (n_parser_cache > 0)
		return parser_cache[--n_parser_cache];
	return malloc(sizeof(struct http_parser));
}

void parser_put(struct http_parser **pp)
{
	if (*pp == NULL)
		return;
	if (n_parser_cache < PARSER_CACHE_MAX)
		parser_cache[n_parser_cache++] = *pp;
	else
		free(*pp);
	*pp = NULL;
}

static __thread struct request *req_cache[REQ_CACHE_MAX];
static __thread unsigned n_req_cache;

/* Requests live apart from their session, so that an idle keep-alive connection costs
 * only its session and socket buffers. */
struct request *req_new(struct session *s)
{
	struct request *r = n_req_cache > 0 ? req_cache[--n_req_cache] : malloc(sizeof(*r));

	if (r == NULL)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->start_us = clock_now_us();
	s->r = r;
	r->via_proxy = false; /* until client_derive says otherwise */
	r->client_addr = s->peer_addr;
	limit_addr_format(&s->peer_addr, r->client_ip, sizeof(r->client_ip));
	return r;
}

void req_end(struct session *s)
{
	struct request *r = s->r;

	if (r == NULL)
		return;
	if (r->out != NULL)
		conn_buffer_free(r->out);
	parser_put(&r->rp);
	if (r->hold != NULL)
		conn_buffer_free(r->hold);
	pool_unref(r->pool);
	backend_unref(r->b);
	if (n_req_cache < REQ_CACHE_MAX)
		req_cache[n_req_cache++] = r;
	else
		free(r);
	s->r = NULL;
}

/* ---- lingering close ------------------------------------------------------------------- */

bool client_may_send(const struct session *s)
{
	return !s->client_eof && s->client != NULL &&
	       ((s->r != NULL && !s->r->req_body.done) || conn_input_len(s->client) > 0);
}

/* Ends a lingering close for WHY; CUT: the client was still sending (counted). */
static void linger_end(struct session *s, bool cut, const char *why)
{
	if (cut) {
		STAT_INC(linger_cut);
		slog(LOGL_INFO, s, "lingering close cut after %llu bytes: %s",
		     (unsigned long long)s->linger_bytes, why);
	}
	session_close(s, why);
}

/* SS_CLOSING, SS_LINGERING: drops what the client sent after its answer (reading is on only
 * when lingering); past lingering_max_size the connection is closed. */
static void linger_drop(struct session *s)
{
	size_t n = conn_input_len(s->client);

	evbuffer_drain(conn_input(s->client), n);
	s->linger_bytes += n;
	if (s->linger && s->linger_bytes > s->l->conf.lingering_max_size)
		linger_end(s, true, "lingering: over lingering_max_size");
}

/* SS_CLOSING: the output is out. A client that may still send gets the end of the stream
 * (FIN) and lingers; the others are closed. */
static void closing_flushed(struct session *s)
{
	const struct conf_listener *lc = &s->l->conf;

	if (!s->linger || s->client_eof || wk->draining) {
		session_close(s, "flushed");
		return;
	}
	session_set_state(s, SS_LINGERING, "flushed, dropping what the client still sends");
	conn_shutdown_tcp(s->client);
	conn_set_timeouts(s->client, lc->lingering_timeout, lc->client_timeout);
	timer_arm(s, lc->lingering_time);
}

/* SS_CLOSING, SS_LINGERING: an event ERR on the client. While the answer flushes, an EOF
 * only says the client sends no more; it may still read. */
static void closing_event(struct session *s, enum conn_error err)
{
	if (s->state == SS_CLOSING && err == CONN_ERR_EOF) {
		s->client_eof = true;
		return;
	}
	if (s->state == SS_LINGERING && err == CONN_ERR_TIMEOUT) {
		STAT_INC(linger_idle);
		session_close(s, "lingering: client silent for lingering_timeout");
		return;
	}
	session_close(s, s->state == SS_LINGERING && err == CONN_ERR_EOF
	                     ? "lingering: client closed"
	                     : conn_error_names[err]);
}

void close_after_flush(struct session *s, bool linger, const char *why)
{
	const struct conf_listener *lc = &s->l->conf;

	session_set_state(s, SS_CLOSING, why);
	timer_stop(s);
	s->linger = linger && lc->lingering_time > 0 && !wk->draining && !s->client_eof;
	if (s->linger) {
		s->linger_bytes = 0; /* shares its room with the tunnel's clock */
		STAT_INC(linger_started);
		conn_set_timeouts(s->client, 0, lc->client_timeout); /* the flush has its timer */
		conn_enable_read(s->client);
		linger_drop(s);
		if (session_closed(s))
			return;
	} else {
		conn_disable_read(s->client);
	}
	conn_flush(s->client);
	if (conn_output_len(s->client) == 0) {
		closing_flushed(s);
		return;
	}
	conn_set_write_low(s->client, 0);
	timer_arm(s, lc->client_timeout);
}

/* ---- client callbacks -------------------------------------------------------------------- */

static void client_read_cb(struct conn *bev, void *arg)
{
	struct session *s = arg;

	switch (s->state) {
	case SS_REQ_HEAD:
		req_head(s);
		break;
	case SS_REQ_BODY_BUFFER:
		req_body_buffer(s);
		break;
	case SS_STREAMING:
		if (s->up != NULL && !s->r->req_body.done)
			pump_req_body(s);
		break;
	case SS_TUNNEL:
		tunnel_client_read(s);
		break;
	case SS_CLOSING:
	case SS_LINGERING:
		linger_drop(s);
		break;
	default: /* connecting: the bytes wait in the input buffer (bounded by the watermark) */
		break;
	}
}

static void client_write_cb(struct conn *bev, void *arg)
{
	struct session *s = arg;

	if (s->state == SS_CLOSING) {
		if (conn_output_len(bev) == 0)
			closing_flushed(s);
		return;
	}
	if (s->state == SS_LINGERING)
		return;
	conn_set_write_low(bev, 0);
	if (s->up == NULL)
		return;
	if (s->state == SS_TUNNEL) {
		tunnel_client_drained(s);
		return;
	}
	if (s->state == SS_STREAMING && s->r->resp_started) {
		conn_enable_read(s->up->c);
		pump_resp_body(s);
	}
}

static void client_event_cb(struct conn *bev, short what, enum conn_error err, void *arg)
{
	struct session *s = arg;

	if (what == BEV_EVENT_CONNECTED) /* TLS handshake done */
		return;

	if (s->state == SS_TUNNEL) {
		tunnel_event(s, true, what, err);
		return;
	}
	if (s->state == SS_CLOSING || s->state == SS_LINGERING) {
		closing_event(s, err);
		return;
	}
	if (err == CONN_ERR_TIMEOUT && s->state == SS_REQ_HEAD && s->hp == NULL) {
		session_close(s,
		              "idle"); /* the keep-alive wait is the read timeout (session_idle) */
		return;
	}
	if (err == CONN_ERR_TLS)
		STAT_INC(tls_handshake_error);
	/* A client that half-closes after a whole request still gets its answer. */
	if (err == CONN_ERR_EOF && (s->state == SS_STREAMING || s->state == SS_CONNECTING) &&
	    s->r->req_body.done) {
		s->client_eof = true;
		return;
	}
	if (s->state == SS_STREAMING || s->state == SS_CONNECTING ||
	    s->state == SS_REQ_BODY_BUFFER) {
		STAT_INC(req_client_aborted);
		slog(LOGL_DEBUG, s, "client went away during %s", session_state_names[s->state]);
		if (s->state != SS_REQ_BODY_BUFFER)
			access_log(s, s->r->resp_started ? s->r->status : 499);
	}
	session_close(s, conn_error_names[err]);
}

/* Header, idle and body deadlines of the client side. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	switch (s->state) {
	case SS_REQ_HEAD:
		if (s->hp == NULL) { /* idle keep-alive connection, or nothing ever sent */
			session_close(s, "idle");
			return;
		}
		STAT_INC(req_header_timeout);
		parser_put(&s->hp);
		s->r->keep_alive = false;
		reply_error(s, 408, "request header timeout");
		return;
	case SS_REQ_BODY_BUFFER:
		STAT_INC(req_header_timeout);
		s->r->keep_alive = false;
		reply_error(s, 408, "request body timeout");
		return;
	case SS_TUNNEL:
	case SS_WS_RESUME:
		tunnel_timer(s);
		return;
	case SS_LINGERING:
		linger_end(s, true, "lingering: lingering_time reached");
		return;
	default: /* closing: the client does not read */
		session_close(s, "client not reading");
	}
}

/* ---- lifecycle --------------------------------------------------------------------------- */

/* Sessions closed during this loop turn, freed at its end (pgbouncer's justfree list, redis
 * freeClientAsync): a callback that closed its session, and every caller up its stack, still
 * reads valid memory. A session is on it at most once and the list empties every turn, so it
 * never holds more than the sessions that were open; n_justfree counts them. One list per
 * worker (thread-local), set up at its first accept. */
static __thread struct session_list justfree;
static __thread unsigned n_justfree;
static __thread struct event justfree_ev; /* made active by session_close; runs justfree_cb */
static __thread bool justfree_ready;

void session_close(struct session *s, const char *why)
{
	if (s->state == SS_CLOSED)
		return;
	session_set_state(s, SS_CLOSED, why);
	if (s->up != NULL)
		up_drop(s, false);
	timer_stop(s);
	if (s->client != NULL)
		conn_free(s->client);
	s->client = NULL;
	if (s->peer_counted)
		limit_conn_close(s->l->clients, &s->peer_addr);
	s->peer_counted = false;
	TAILQ_REMOVE(&wk->sessions, s, link);
	listener_conn_closed(s->l);
	TAILQ_INSERT_TAIL(&justfree, s, link);
	n_justfree++;
	justfree_wake();
}

static void justfree_wake(void)
{
	event_active(&justfree_ev, EV_TIMEOUT, 0); /* once per turn: no-op while active */
}

/* The memory of a closed session: its request, parsers and WebSocket state. */
static void session_free(struct session *s)
{
	tunnel_free(s);
	req_end(s);
	parser_put(&s->hp);
	if (s->ws != NULL) {
		ws_deinit(s->ws);
		free(s->ws);
	}
	listener_unref(s->l);
	free(s);
}

static void justfree_run(void)
{
	struct session *s;

	if (!justfree_ready)
		return;
	while ((s = TAILQ_FIRST(&justfree)) != NULL) {
		TAILQ_REMOVE(&justfree, s, link);
		n_justfree--;
		session_free(s);
	}
}

/* Closes the sessions whose timer could not be made (rare: scanned for). */
static void timer_oom_close(void)
{
	struct session *s, *next;

	for (s = TAILQ_FIRST(&wk->sessions); s != NULL && n_timer_oom > 0; s = next) {
		next = TAILQ_NEXT(s, link);
		if (s->timer_oom) {
			s->timer_oom = false;
			n_timer_oom--;
			session_close(s, "out of memory (timer)");
		}
	}
}

static void justfree_cb(evutil_socket_t fd, short what, void *arg)
{
	timer_oom_close();
	justfree_run();
}

static __thread struct event *ws_grace_timer; /* upgrade drain: the WebSockets' 1001 */

void session_cleanup(void)
{
	if (ws_grace_timer != NULL)
		event_free(ws_grace_timer);
	ws_grace_timer = NULL;
	justfree_run();
	if (justfree_ready)
		event_del(&justfree_ev);
	justfree_ready = false;
	while (n_parser_cache > 0)
		free(parser_cache[--n_parser_cache]);
	while (n_req_cache > 0)
		free(req_cache[--n_req_cache]);
	conn_buffers_cleanup();
}

/* At accept: counts the connection against its peer's max_conns_per_ip. Peers in
 * limit_exempt or trusted_proxies (which carry many clients) are not counted. False when
 * the peer already has that many open. */
static bool conn_admit(struct session *s)
{
	struct listener *l = s->l;

	if (l->conf.max_conns_per_ip == 0 || limit_cidrs_match(l->exempt, &s->peer_addr) ||
	    limit_cidrs_match(l->trusted, &s->peer_addr))
		return true;
	if (!limit_conn_open(l->clients, &s->peer_addr, l->conf.max_conns_per_ip)) {
		slog(LOGL_DEBUG, s, "over max_conns_per_ip, refused");
		return false;
	}
	s->peer_counted = true;
	return true;
}

static uint16_t peer_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

static const struct conn_ops client_ops = {client_read_cb, client_write_cb, client_event_cb};

void session_accept(struct listener *l, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
	struct session *s = calloc(1, sizeof(*s));
	int one = 1;

	if (s == NULL) {
		evutil_closesocket(fd);
		listener_conn_closed(l);
		return;
	}
	if (!justfree_ready) {
		TAILQ_INIT(&justfree);
		event_assign(&justfree_ev, wk->base, -1, 0, justfree_cb, NULL);
		justfree_ready = true;
	}
	s->l = listener_ref(l); /* state SS_REQ_HEAD (0): waiting for the first request */
	s->peer_port = peer_port(sa);
	(void)limit_addr_from_sockaddr(sa, &s->peer_addr); /* listeners bind IP addresses */
	TAILQ_INSERT_TAIL(&wk->sessions, s, link);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!conn_admit(s)) {
		if (l->conf.mode == MODE_TCP) { /* nothing to say in a byte stream */
			evutil_closesocket(fd);
			session_close(s, "over max_conns_per_ip");
			return;
		}
		s->conn_refused = true; /* its first request gets 429, then it closes */
	}
	SSL *ssl = NULL;
	if (l->ssl_ctx != NULL) {
		ssl = SSL_new(l->ssl_ctx);
		s->tls = true;
	}
	if (s->tls == (ssl != NULL))
		s->client = conn_new(wk->base, fd, ssl);
	if (s->client == NULL) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		session_close(s, "out of memory");
		return;
	}
	conn_setcb(s->client, &client_ops, s);
	conn_set_timeouts(s->client, 0, l->conf.client_timeout);
	size_t wm = l->conf.max_header_size + 1 > RELAY_HIGH_WM ? l->conf.max_header_size + 1
	                                                        : RELAY_HIGH_WM;
	conn_set_read_max(s->client, wm);
	conn_enable_read(s->client);
	if (l->conf.mode == MODE_TCP) {
		if (req_new(s) == NULL) {
			session_close(s, "out of memory");
			return;
		}
		s->r->req_body.done = true;
		dispatch(s);
		return;
	}
	/* the head's deadline runs from the connection's handshake in the kernel: one that
	 * waited in the backlog while accepts were held has used that time (what arrived
	 * whole is still read before a deadline that has passed) */
	uint64_t waited = listener_waited_ms(l, fd), ht = l->conf.header_timeout;
	uint64_t floor = ht < HEAD_LATE_FLOOR_MS ? ht : HEAD_LATE_FLOOR_MS;
	timer_arm(s, waited + floor < ht ? ht - waited : floor);
}

/* Whether WebSocket session S is relaying (a 1001 close makes its client reconnect). */
static bool ws_open(const struct session *s)
{
	return s->ws != NULL && ((s->state == SS_TUNNEL && !s->up_eof) || s->state == SS_WS_RESUME);
}

static void ws_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s, *next;

	for (s = TAILQ_FIRST(&wk->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, link);
		if (ws_open(s))
			ws_close_both(s, WS_CLOSE_GOING_AWAY, "nodegate upgraded"); /* reconnect */
	}
	if (ws_grace_timer != NULL)
		event_free(ws_grace_timer);
	ws_grace_timer = NULL;
}

/* This worker's sessions finish what they do and close. HANDOVER (a pointer to a bool: a
 * SIGUSR2 upgrade, another nodegate accepts now) keeps idle keep-alive connections until
 * their next answer, which says "Connection: close" (a client sending on one is answered,
 * not cut: HAProxy's behaviour before 2.4), and gives WebSockets the pool's
 * ws_drain_grace before their 1001. */
static void drain_here(void *arg)
{
	bool handover = arg != NULL && *(const bool *)arg;
	uint64_t grace = 0;
	struct session *s, *next;

	wk->draining = true;
	if (workers_conns() == 0) /* the last one closed before this worker knew */
		event_base_loopexit(workers[0].base, NULL);

	for (s = TAILQ_FIRST(&wk->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, link);
		if (s->state == SS_REQ_HEAD && s->hp == NULL && !handover)
			session_close(s, "draining: idle");
		else if (s->state == SS_LINGERING) /* answered: its tail is not worth the wait */
			session_close(s, "draining: lingering");
		else if (ws_open(s) && !handover)
			ws_close_both(s, WS_CLOSE_GOING_AWAY,
			              "nodegate shutting down"); /* reconnect */
		else if (ws_open(s)) {
			uint64_t g = s->l->pool != NULL ? s->l->pool->conf.ws_drain_grace : 0;
			grace = g > grace ? g : grace;
		} else
			s->close_after = true;
	}
	if (handover && grace > 0 && ws_grace_timer == NULL &&
	    (ws_grace_timer = evtimer_new(wk->base, ws_grace_cb, NULL)) != NULL) {
		struct timeval tv = {.tv_sec = (time_t)(grace / 1000),
		                     .tv_usec = (suseconds_t)(grace % 1000) * 1000};
		evtimer_add(ws_grace_timer, &tv);
	} else if (handover) {
		ws_grace_cb(-1, 0, NULL);
	}
}

void session_drain_all(void)
{
	workers_broadcast(drain_here, NULL, NULL, NULL);
}

void session_drain_handover(void)
{
	static const bool handover = true;

	workers_broadcast(drain_here, (void *)&handover, NULL, NULL);
}

void session_close_all(void)
{
	while (!TAILQ_EMPTY(&wk->sessions))
		session_close(TAILQ_FIRST(&wk->sessions), "shutting down");
	listeners_overflow_close();
	justfree_run(); /* the loop has stopped: nothing more to run after this */
}
