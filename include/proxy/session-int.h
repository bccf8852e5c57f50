/* Inside the session module: the session and request structs, the state enum, and the
 * functions its files (session.c, request.c, dispatch.c, response.c, tunnel.c) call in one
 * another. Included by those files only; other modules use proxy/session.h. */
#pragma once
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event_struct.h>

#include "log.h"
#include "proxy/budget.h"
#include "proxy/conn.h"
#include "proxy/http.h"
#include "proxy/limit.h"
#include "proxy/rpc.h"
#include "proxy/upstream.h"

struct listener;
struct resume;
struct ws;

#define RELAY_HIGH_WM    (256 * 1024) /* bytes queued toward one side before pausing */
#define MAX_TRIES        16           /* backends tried for one request (retries <= 10) */
#define LOG_URI_MAX      256
#define SLOW_HOLD_FACTOR 5 /* a suspect node gets no new request for 5 x the bound */

/* Where a session is. Every change goes through session_set_state, which knows the legal
 * moves (see session_moves in session.c). */
enum session_state {
	SS_REQ_HEAD = 0,    /* waiting for or reading a request head */
	SS_REQ_BODY_BUFFER, /* reading a small body whole, before choosing a backend */
	SS_CONNECTING,      /* waiting for a backend connection */
	SS_STREAMING,       /* request sent (its body may still stream), response coming */
	SS_TUNNEL,          /* tcp mode or WebSocket: bytes both ways */
	SS_CLOSING,         /* flushing the last bytes to the client, then closed */
	SS_CLOSED,          /* connections closed; memory freed at the end of the loop turn */
	SS_WS_RESUME,       /* WebSocket: its node went away, the handshake with another runs */
	SS_LINGERING,       /* answer flushed, write side shut: dropping what the client sends */
	SS_COUNT
};

extern const char *const session_state_names[SS_COUNT];

/* Progress through one message body, whatever its framing. */
struct body {
	enum http_body kind;
	uint64_t remaining; /* HTTP_BODY_LENGTH */
	uint64_t total;     /* bytes moved so far */
	struct http_chunked ck;
	bool done;
};

/* One request and its response. Reset between keep-alive requests. */
struct request {
	uint64_t start_us;
	bool via_proxy;                   /* it came through a trusted proxy */
	char client_ip[INET6_ADDRSTRLEN]; /* its client, for the access log */
	struct limit_addr client_addr;    /* and for rate_per_ip and Forwarded: for= */
	enum http_method method;
	char method_s[16];
	char uri[LOG_URI_MAX];
	bool keep_alive;      /* the client wants the connection kept */
	bool http10;          /* the client speaks HTTP/1.0 */
	bool upgrade;         /* a WebSocket upgrade request */
	bool streamed;        /* body streamed after the head (not in out) */
	bool sent;            /* bytes were written to a backend */
	struct evbuffer *out; /* head (+ small body) to send, kept for a replay */
	size_t head_len;      /* bytes of out that are the head */
	struct body req_body;
	struct rpc_info rpc;
	struct pool *pool; /* held while the request lives */
	struct backend *tried[MAX_TRIES];
	unsigned n_tried;
	bool last_timeout; /* the last backend failure was a timeout */
	uint64_t sent_us;  /* clock_now_us() when it was sent to the current backend */
	uint64_t slow_ms;  /* the hung-node bound it was sent with (latency_bound) */
	bool answered;     /* the current backend sent a byte of answer */
	/* response */
	struct http_parser *rp; /* response head parser, while reading the head */
	bool resp_head_done;    /* the final head is parsed: body bytes follow */
	bool resp_started;      /* head bytes went to the client */
	struct evbuffer *hold;  /* a small JSON-RPC answer held whole, checked, then sent */
	bool resp_keep_alive;   /* the backend keeps the connection */
	int status;
	struct body resp_body;
	uint64_t bytes_out; /* response bytes written to the client */
	struct backend *b;  /* the backend tried last, held for the log */
};

struct session {
	TAILQ_ENTRY(session) link; /* in worker.sessions; closed: in justfree */
	struct listener *l;
	struct conn *client;    /* NULL once closed */
	struct upconn *up;      /* the backend connection in use */
	struct event *timer;    /* header / body / closing deadline, made on demand (an idle
	                         * keep-alive connection waits on its read timeout) */
	struct http_parser *hp; /* request head parser, while reading a head */
	struct ws *ws;          /* WebSocket tunnel: frames parsed, client messages inspected */
	struct request *r;      /* the request in progress; NULL between requests */
	struct resume *wsr;     /* WebSocket failover state (ws_failover = resubscribe), or NULL */
	union {
		uint64_t linger_bytes; /* SS_LINGERING: client bytes dropped since the answer */
		time_t tunnel_active;  /* tunnel: last bytes relayed, either way */
	};
	/* per-client limits (limit.c); the client is the peer, or from a trusted proxy the
	 * address its X-Forwarded-For names (see client_derive: struct request) */
	struct limit_addr peer_addr; /* the socket peer */
	unsigned n_requests;
	uint16_t peer_port;           /* the socket peer's port; its address is peer_addr */
	enum session_state state : 8; /* changed by session_set_state only */
	bool peer_counted : 1;        /* counted in max_conns_per_ip: uncounted at close */
	bool conn_refused : 1;        /* over max_conns_per_ip: 429 to the first request */
	bool tls : 1;                 /* the client side is TLS */
	bool close_after : 1;         /* close once the current response is written */
	bool linger : 1;              /* SS_CLOSING: the client may still send (lingering) */
	bool client_eof : 1;
	bool up_eof : 1;     /* tunnel: the backend side sent EOF */
	bool ws_paused : 1;  /* client reading paused: nodegate's replies wait for the client */
	bool ws_drain : 1;   /* the node left rotation: 1001 when the timer fires */
	bool ws_limited : 1; /* a message was over the client's rate: 1013 follows */
	bool timer_oom : 1;  /* its timer could not be made: closed at the end of the turn */
	/* 120 bytes in all: with malloc's header, 128 (bench/README "Idle memory") */
};

/* Logs about session S, prefixed with its peer and listener. */
#define slog(lvl, s, fmt, ...)                                                                     \
	do {                                                                                       \
		if ((lvl) <= log_level_current) {                                                  \
			char peer_[INET6_ADDRSTRLEN];                                              \
			limit_addr_format(&(s)->peer_addr, peer_, sizeof(peer_));                  \
			log_write((lvl), "session %s:%u [%s]: " fmt, peer_, (s)->peer_port,        \
			          (s)->l->name, ##__VA_ARGS__);                                    \
		}                                                                                  \
	} while (0)

/* ---- heads written in place ------------------------------------------------------------ */

/* Writers of a head into room reserved beforehand (evbuffer_reserve_space): *P moves on.
 * The room is head_room(): a head written from a parsed one of HEAD_LEN bytes never needs
 * more, since each line it copies ("Name: value\r\n") is at most one byte longer than the
 * line it came from, and what nodegate adds is bounded. */
static inline size_t head_room(const struct http_msg *m, size_t head_len)
{
	return 2 * head_len + 4 * (size_t)m->n_hdr + 512 + 4 * INET6_ADDRSTRLEN;
}

static inline void put_bytes(char **p, const void *s, size_t n)
{
	memcpy(*p, s, n);
	*p += n;
}

#define put_lit(p, lit) put_bytes((p), (lit), sizeof(lit) - 1)

static inline void put_str(char **p, const char *s)
{
	put_bytes(p, s, strlen(s));
}

static inline void put_span(char **p, const char *buf, struct http_span sp)
{
	put_bytes(p, buf + sp.off, sp.len);
}

static inline void put_header(char **p, const char *buf, const struct http_header *h)
{
	put_span(p, buf, h->name);
	put_lit(p, ": ");
	put_span(p, buf, h->value);
	put_lit(p, "\r\n");
}

/* ---- session.c: states, lifecycle, per-request memory ---------------------------------- */

/* Moves S to state TO for WHY (one phrase, logged at debug level); an illegal move is a
 * bug (asserted). */
void session_set_state(struct session *s, enum session_state to, const char *why);
/* Closes S now for WHY: its connections close, its timer stops, it leaves the worker's
 * sessions; its memory is freed at the end of the loop turn, so callers up the stack may
 * still read it (and test session_closed). Idempotent. */
void session_close(struct session *s, const char *why);
static inline bool session_closed(const struct session *s)
{
	return s->state == SS_CLOSED;
}
/* Closes S once its output is flushed (SS_CLOSING, for WHY). Without LINGER the client side
 * stops reading. With LINGER (the client may still be sending: client_may_send) and the
 * listener's lingering_time > 0, what the client sends is read and dropped meanwhile, and
 * once the output is out the write side is shut (a TCP FIN, no TLS close_notify:
 * conn_shutdown_tcp) and S lingers (SS_LINGERING) until the
 * client's EOF, lingering_timeout of silence, lingering_max_size bytes or lingering_time:
 * closing on unread bytes would reset the connection, and the client could lose its answer
 * (nginx's lingering_close). */
void close_after_flush(struct session *s, bool linger, const char *why);
/* Whether S's client may still be sending when nodegate closes after an answer: the request
 * was not read to its end (a refused head, a body still arriving) or bytes wait unread.
 * Reads S->r: call it before req_end. */
bool client_may_send(const struct session *s);
void timer_arm(struct session *s, uint64_t ms);
/* Stops S's timer and gives its memory back. */
void timer_stop(struct session *s);
/* Parsers and requests come from small caches (session_cleanup empties them). */
struct http_parser *parser_get(void);
void parser_put(struct http_parser **pp);
struct request *req_new(struct session *s);
void req_end(struct session *s);

/* ---- request.c: reading and framing the client request, limits, policy ----------------- */

void body_init(struct body *b, enum http_body kind, uint64_t length);
/* Moves body bytes from SRC to DST as far as they belong to the body; -1 on a framing
 * error (bad chunk). Until-close bodies end when the caller sees EOF. */
int body_move(struct body *b, struct evbuffer *src, struct evbuffer *dst);
/* Charges one request (or WebSocket message) of S against the rate_per_ip bucket of its
 * client. True when it may go on; false: over the limit, counted in /metrics, and
 * *RETRY_AFTER_MS says when a token is back; the caller answers. */
bool session_charge(struct session *s, uint64_t *retry_after_ms);
/* Before a request's first dispatch: true when it may be sent (else answered 429). */
bool limits_admit(struct session *s);
/* Reads the request head waiting in the client input (SS_REQ_HEAD), then goes on. */
void req_head(struct session *s);
/* SS_REQ_BODY_BUFFER: more of a small body arrived. */
void req_body_buffer(struct session *s);
/* Streams the request body from the client to the backend, with back pressure. */
void pump_req_body(struct session *s);

/* ---- dispatch.c: backend choice, connect, send, retries, passive signals --------------- */

/* Sends the request to a backend the pool picks, or answers (502, 503, 504). */
void dispatch(struct session *s);
/* Gives the backend connection back (KEEP: clean, to the idle pool). */
void up_drop(struct session *s, bool keep);
/* Whether the request may go to another backend after it was sent. */
bool replayable(const struct request *r);
/* The current backend failed before the response started: a passive signal, then another
 * backend or an answer. */
void backend_failed(struct session *s, bool timeout, bool unreachable, const char *why);
/* Another backend for the request for WHY, when it may go there; false: the caller answers. */
bool retry_elsewhere(struct session *s, enum retry_reason why);
/* A held answer that is lgrNotFound goes to a node that holds the ledgers; true when sent. */
bool retry_lgr_not_found(struct session *s, const char *body, size_t len);
/* A passive warning about B from its answer (HTTP 5xx, a JSON-RPC error token). */
void passive_warning(struct backend *b, const char *why);

/* ---- response.c: the response, nodegate's own replies, the access log ------------------ */

void access_log(struct session *s, int status);
/* Answers STATUS from nodegate (or closes, once a response started). */
void reply_error(struct session *s, int status, const char *why);
/* 429 with rippled's slowDown body and Retry-After. */
void reply_limited(struct session *s, uint64_t retry_after_ms, const char *why);
/* 403 for a request the method policy refuses (r->rpc.refusal). */
void reply_refused(struct session *s);
/* The rpcFORBIDDEN body for INFO's refusal (WS: WebSocket shape) in BODY; its length. */
int refusal_body(struct session *s, const struct rpc_info *i, bool ws, char *body, size_t len);
/* SS_STREAMING: bytes of the response arrived (head, then body). */
void resp_head(struct session *s);
void pump_resp_body(struct session *s);
/* The response is complete: log, release the backend, next request or close. */
void resp_done(struct session *s);

/* ---- tunnel.c: tcp mode, WebSocket relay and policy, rotation closes ------------------- */

/* The backend connected (tcp mode) or answered 101: bytes flow both ways from here. */
void tunnel_start(struct session *s);
/* SS_TUNNEL: bytes arrived from the client, or from the node. */
void tunnel_client_read(struct session *s);
void tunnel_node_read(struct session *s);
/* SS_TUNNEL: the client's output drained, or the node's. */
void tunnel_client_drained(struct session *s);
void tunnel_node_drained(struct session *s);
/* SS_TUNNEL: EOF, error or idle timeout (ERR) on one side (WHAT: the conn event bits). */
void tunnel_event(struct session *s, bool from_client, short what, enum conn_error err);
/* SS_TUNNEL: the session timer fired (drain grace, close wait); SS_WS_RESUME: the new
 * node's handshake took too long. */
void tunnel_timer(struct session *s);
/* Frees S's WebSocket failover state (session_free). */
void tunnel_free(struct session *s);
/* Closes the WebSocket with CODE both ways; the session ends on the client's answer (in
 * SS_WS_RESUME: to the client only, and the session ends once it is flushed). */
void ws_close_both(struct session *s, uint16_t code, const char *why);
