/* Client sessions: HTTP/1.1 reverse proxying with keep-alive on both sides, streamed
 * bodies, retries, WebSocket tunnels, and the TCP relay.
 *
 *  client ─► client_read_cb ─► req_head() ─┬─► req_body_buffer() ─┐  (small bodies, kept
 *                               (http.c)   │                      │   for a replay)
 *                                          └──────────────────────┴─► dispatch()
 *                                                                       │ limits_admit() (429)
 *                                                                       │ pool_pick()
 *                                                                       │ upstream_get()
 *  node ◄── send_request() ◄── up_event_cb(CONNECTED) ◄─────────────────┘
 *   │        └─► pump_req_body()          (chunked / large bodies, streamed)
 *   └─► up_read_cb ─► resp_head() ─► pump_resp_body() ─► resp_done() ─► req_head() ...
 *                         └─► 101 ─► tunnel_start() ◄── tcp mode: up_event_cb(CONNECTED)
 *
 * Failure before any byte of the response went to the client becomes a status from
 * nodegate (reply_error); after that, the client connection is closed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "clock.h"
#include "proxy/budget.h"
#include "proxy/http.h"
#include "log.h"
#include "metrics.h"
#include "proxy/route.h"
#include "proxy/rpc.h"
#include "proxy/session.h"
#include "stats.h"
#include "proxy/conn.h"
#include "proxy/upstream.h"
#include "proxy/ws.h"

#define RELAY_HIGH_WM    (256 * 1024) /* bytes queued toward one side before pausing */
#define MAX_TRIES        16           /* backends tried for one request (retries <= 10) */
#define PARSER_CACHE_MAX 64
#define LOG_URI_MAX      256
#define WS_CLOSE_WAIT_MS 2000 /* after nodegate's close, the client's answer is awaited */

enum session_state {
	SS_REQ_HEAD = 0,    /* waiting for or reading a request head */
	SS_REQ_BODY_BUFFER, /* reading a small body whole, before choosing a backend */
	SS_CONNECTING,      /* waiting for a backend connection */
	SS_STREAMING,       /* request sent (its body may still stream), response coming */
	SS_TUNNEL,          /* tcp mode or WebSocket: bytes both ways */
	SS_CLOSING,         /* flushing the last bytes to the client, then free */
	SS_COUNT
};

static const char *const session_state_names[SS_COUNT] = {
    [SS_REQ_HEAD] = "req_head",     [SS_REQ_BODY_BUFFER] = "req_body",
    [SS_CONNECTING] = "connecting", [SS_STREAMING] = "streaming",
    [SS_TUNNEL] = "tunnel",         [SS_CLOSING] = "closing",
};

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
	TAILQ_ENTRY(session) link;
	enum session_state state;
	struct listener *l;
	struct conn *client;
	struct upconn *up;           /* the backend connection in use */
	struct event timer;          /* header / idle / body deadline */
	struct http_parser *hp;      /* request head parser, while reading a head */
	char peer[INET6_ADDRSTRLEN]; /* socket peer address, for logs and X-Forwarded-For */
	uint16_t peer_port;
	/* per-client limits (limit.c); the client is the peer, or from a trusted proxy the
	 * address its X-Forwarded-For names (see client_derive) */
	struct limit_addr peer_addr;      /* the socket peer */
	bool peer_counted;                /* counted in max_conns_per_ip: uncounted at free */
	bool conn_refused;                /* over max_conns_per_ip: 429 to the first request */
	bool via_proxy;                   /* this request came through a trusted proxy */
	char client_ip[INET6_ADDRSTRLEN]; /* this request's client, for the access log */
	struct limit_addr client_addr;    /* and for rate_per_ip and Forwarded: for= */
	bool tls;                         /* the client side is TLS */
	bool close_after;                 /* close once the current response is written */
	bool client_eof;
	bool up_eof; /* tunnel: the backend side sent EOF */
	unsigned n_requests;
	time_t tunnel_active; /* tunnel: last bytes relayed, either way */
	struct ws *ws;        /* WebSocket tunnel: frames parsed, client messages inspected */
	bool ws_paused;       /* client reading paused: nodegate's replies wait for the client */
	bool ws_drain;        /* the node left rotation: 1001 when the timer fires */
	bool ws_limited;      /* a message was over the client's rate: 1013 follows */
	struct request *r;    /* the request in progress; NULL between requests */
};

static struct http_parser *parser_cache[PARSER_CACHE_MAX];
static unsigned n_parser_cache;

static void session_free(struct session *s);
static void req_head(struct session *s);
static void dispatch(struct session *s);
static void tunnel_start(struct session *s);
static void ws_relay_client(struct session *s);
static void ws_relay_node(struct session *s);
static void ws_resume(struct session *s);
static void ws_go_away(struct session *s);
static int ws_start(struct session *s);
static void resp_release(struct session *s);
static void up_read_cb(struct conn *bev, void *arg);
static void up_write_cb(struct conn *bev, void *arg);
static void up_event_cb(struct conn *bev, short what, enum conn_error err, void *arg);
static void client_read_cb(struct conn *bev, void *arg);
static void client_write_cb(struct conn *bev, void *arg);
static void client_event_cb(struct conn *bev, short what, enum conn_error err, void *arg);

#define slog(lvl, s, fmt, ...)                                                                     \
	log_at(lvl, "session %s:%u [%s]: " fmt, (s)->peer, (s)->peer_port, (s)->l->name,           \
	       ##__VA_ARGS__)

static struct http_parser *parser_get(void)
{
	if (n_parser_cache > 0)
		return parser_cache[--n_parser_cache];
	return malloc(sizeof(struct http_parser));
}

static void parser_put(struct http_parser **pp)
{
	if (*pp == NULL)
		return;
	if (n_parser_cache < PARSER_CACHE_MAX)
		parser_cache[n_parser_cache++] = *pp;
	else
		free(*pp);
	*pp = NULL;
}

static struct request *req_cache[PARSER_CACHE_MAX];
static unsigned n_req_cache;

void session_cleanup(void)
{
	while (n_parser_cache > 0)
		free(parser_cache[--n_parser_cache]);
	while (n_req_cache > 0)
		free(req_cache[--n_req_cache]);
}

static struct timeval ms_tv(uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	return tv;
}

static void timer_arm(struct session *s, uint64_t ms)
{
	struct timeval tv = ms_tv(ms);
	evtimer_add(&s->timer, &tv);
}

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

/* ---- bodies ---------------------------------------------------------------------------- */

static void body_init(struct body *b, enum http_body kind, uint64_t length)
{
	memset(b, 0, sizeof(*b));
	b->kind = kind;
	b->remaining = length;
	b->done = kind == HTTP_BODY_NONE;
	if (kind == HTTP_BODY_CHUNKED)
		http_chunked_init(&b->ck);
}

/* Moves body bytes from SRC to DST as far as they belong to the body; -1 on a framing
 * error (bad chunk). Until-close bodies end when the caller sees EOF. */
static int body_move(struct body *b, struct evbuffer *src, struct evbuffer *dst)
{
	while (!b->done && evbuffer_get_length(src) > 0) {
		size_t avail = evbuffer_get_length(src), n;

		switch (b->kind) {
		case HTTP_BODY_LENGTH:
			n = avail < b->remaining ? avail : (size_t)b->remaining;
			b->remaining -= n;
			b->done = b->remaining == 0;
			break;
		case HTTP_BODY_CHUNKED: {
			struct evbuffer_iovec v;
			if (evbuffer_peek(src, -1, NULL, &v, 1) < 1)
				return 0;
			enum http_result r = http_chunked_feed(&b->ck, v.iov_base, v.iov_len, &n);
			if (r == HTTP_ERROR)
				return -1;
			b->done = r == HTTP_DONE;
			break;
		}
		default: /* HTTP_BODY_UNTIL_CLOSE */
			n = avail;
			break;
		}
		if (n == 0)
			break;
		evbuffer_remove_buffer(src, dst, n);
		b->total += n;
	}
	return 0;
}

/* ---- replies from nodegate itself --------------------------------------------------------- */

static void access_log(struct session *s, int status)
{
	struct request *r = s->r;
	double ms = (double)(clock_now_us() - r->start_us) / 1e3;

	metrics_request(s->l->name, r->b != NULL ? r->b->name : "-", r->rpc.method, status, ms);
	log_access("%s:%u %s %s %s %s %s %d %llu %.3fms", s->client_ip, s->peer_port, s->l->name,
	           r->b != NULL ? r->b->name : "-", r->method_s[0] ? r->method_s : "-",
	           r->uri[0] ? r->uri : "-", r->rpc.method[0] ? r->rpc.method : "-", status,
	           (unsigned long long)r->bytes_out, ms);
}

/* Requests live apart from their session, so that an idle keep-alive connection costs
 * only its session and socket buffers. */
static struct request *req_new(struct session *s)
{
	struct request *r = n_req_cache > 0 ? req_cache[--n_req_cache] : malloc(sizeof(*r));

	if (r == NULL)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->start_us = clock_now_us();
	s->r = r;
	s->via_proxy = false; /* until client_derive says otherwise */
	s->client_addr = s->peer_addr;
	memcpy(s->client_ip, s->peer, sizeof(s->client_ip));
	return r;
}

static void req_end(struct session *s)
{
	struct request *r = s->r;

	if (r == NULL)
		return;
	if (r->out != NULL)
		evbuffer_free(r->out);
	parser_put(&r->rp);
	if (r->hold != NULL)
		evbuffer_free(r->hold);
	pool_unref(r->pool);
	backend_unref(r->b);
	if (n_req_cache < PARSER_CACHE_MAX)
		req_cache[n_req_cache++] = r;
	else
		free(r);
	s->r = NULL;
}

/* Stops the client side reading and frees the session once its output is flushed. */
static void close_after_flush(struct session *s)
{
	s->state = SS_CLOSING;
	evtimer_del(&s->timer);
	conn_disable_read(s->client);
	conn_flush(s->client);
	if (conn_output_len(s->client) == 0) {
		session_free(s);
		return;
	}
	conn_set_write_low(s->client, 0);
	timer_arm(s, s->l->conf.client_timeout);
}

static void up_drop(struct session *s, bool keep)
{
	if (s->up == NULL)
		return;
	s->up->b->active--;
	upstream_release(s->up, keep, &s->r->pool->conf);
	s->up = NULL;
}

static bool closes_connection(int status)
{
	return status == 400 || status == 408 || status == 413 || status == 414 || status == 431 ||
	       status == 501 || status == 505;
}

/* Sends a whole answer from nodegate: STATUS, BODY of type CTYPE, EXTRA header lines
 * ("Name: value\r\n" each, or ""), then waits for the next request or closes. After a
 * head already went out, the only honest signal left is closing. */
static void reply_send(struct session *s, int status, const char *ctype, const char *body, int blen,
                       const char *extra, const char *why)
{
	struct request *r = s->r;
	char head[512];
	int hlen;

	up_drop(s, false);
	if (r->resp_started) {
		slog(LOGL_INFO, s, "response aborted: %s", why);
		access_log(s, r->status);
		session_free(s);
		return;
	}
	bool close = closes_connection(status) || !r->keep_alive || s->close_after ||
	             !r->req_body.done || worker.draining;
	hlen = snprintf(head, sizeof(head),
	                "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n",
	                status, http_status_text(status), ctype, blen, extra,
	                close ? "Connection: close\r\n" : "");
	struct evbuffer *out = conn_output(s->client);
	evbuffer_add(out, head, (size_t)hlen);
	if (r->method != HTTP_M_HEAD)
		evbuffer_add(out, body, (size_t)blen);
	conn_flush(s->client);
	r->bytes_out = (uint64_t)hlen + (uint64_t)blen;
	slog(LOGL_DEBUG, s, "answered %d: %s", status, why);
	access_log(s, status);
	if (close) {
		req_end(s);
		close_after_flush(s);
		return;
	}
	req_end(s);
	s->state = SS_REQ_HEAD;
	timer_arm(s, s->l->conf.client_timeout);
	req_head(s);
}

/* Answers STATUS from nodegate. POST requests get a JSON-RPC-shaped body so RPC clients can
 * read it. */
static void reply_error(struct session *s, int status, const char *why)
{
	struct request *r = s->r;
	char body[512];
	int blen;

	if (r->method == HTTP_M_POST)
		blen = snprintf(body, sizeof(body),
		                "{\"error\":{\"code\":%d,\"message\":\"%s\"},\"id\":null}\n",
		                status, why);
	else
		blen = snprintf(body, sizeof(body), "%d %s: %s\n", status, http_status_text(status),
		                why);
	reply_send(s, status,
	           r->method == HTTP_M_POST ? "application/json" : "text/plain; charset=utf-8",
	           body, blen, status == 503 ? "Retry-After: 1\r\n" : "", why);
}

/* The answer to a call the listener's method policy refuses (INFO->refusal), in rippled's
 * error shape (rpcFORBIDDEN), JSON-RPC or WebSocket (WS: the "id" echoed), written into BODY;
 * counted and logged. Its length (0 when nothing fits). */
static int refusal_body(struct session *s, const struct rpc_info *i, bool ws, char *body,
                        size_t len)
{
	char msg[160];
	int blen;

	if (i->refusal == RPC_SECRET)
		snprintf(msg, sizeof(msg),
		         "Requests carrying secret, seed, seed_hex or passphrase are refused here: "
		         "sign locally and submit the signed blob.");
	else if (i->refused_method[0] != '\0')
		snprintf(msg, sizeof(msg), "Method %s is not allowed on this endpoint.",
		         i->refused_method);
	else
		snprintf(msg, sizeof(msg),
		         "Request is not strict JSON: its methods cannot be checked.");
	blen = rpc_error_body(i, ws, "forbidden", RPC_FORBIDDEN_CODE, msg, body, len);
	if (blen < 0) /* an id that does not fit cannot happen (RPC_ID_MAX): answer without */
		blen = rpc_error_body(NULL, ws, "forbidden", RPC_FORBIDDEN_CODE, msg, body, len);
	metrics_refused(s->l->name, i->refused_method, i->refusal);
	slog(LOGL_DEBUG, s, "refused %s (%s)%s", i->refused_method[0] ? i->refused_method : "-",
	     rpc_refusal_names[i->refusal], ws ? " over WebSocket" : "");
	return blen > 0 ? blen : 0;
}

/* A request the listener's method policy refuses (r->rpc.refusal), answered in rippled's
 * error shape (rpcFORBIDDEN; HTTP 403, as rippled answers callers it forbids) and never sent
 * to a node. The body was read whole: the connection stays open. */
static void reply_refused(struct session *s)
{
	struct request *r = s->r;
	char body[512];
	int blen = refusal_body(s, &r->rpc, false, body, sizeof(body));

	reply_send(s, 403, "application/json", body, blen, "", "refused");
}

/* ---- per-client limits (limit.c) ------------------------------------------------------------ */

/* 429 with rippled's slowDown body and Retry-After in whole seconds (at least 1). */
static void reply_limited(struct session *s, uint64_t retry_after_ms, const char *why)
{
	char extra[64], body[256];
	uint64_t secs = (retry_after_ms + 999) / 1000;
	int blen = rpc_error_body(&s->r->rpc, false, "slowDown", RPC_SLOW_DOWN_CODE,
	                          RPC_SLOW_DOWN_TEXT, body, sizeof(body));

	snprintf(extra, sizeof(extra), "Retry-After: %llu\r\n",
	         (unsigned long long)(secs > 0 ? secs : 1));
	reply_send(s, 429, "application/json", body, blen > 0 ? blen : 0, extra, why);
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

bool session_charge(struct session *s, uint64_t *retry_after_ms)
{
	const struct conf_listener *lc = &s->l->conf;

	*retry_after_ms = 0;
	if (lc->rate_per_ip == 0 || limit_cidrs_match(s->l->exempt, &s->client_addr))
		return true;
	return limit_take(s->l->clients, &s->client_addr, lc->rate_per_ip, lc->burst_per_ip,
	                  clock_now(), retry_after_ms);
}

/* Before a request's first dispatch: a connection over max_conns_per_ip gets 429 and
 * closes; a client over rate_per_ip gets 429 and may go on. True when it may be sent. */
static bool limits_admit(struct session *s)
{
	uint64_t retry_ms;

	if (s->conn_refused) {
		s->close_after = true;
		reply_limited(s, 1000, "over max_conns_per_ip");
		return false;
	}
	if (session_charge(s, &retry_ms))
		return true;
	reply_limited(s, retry_ms, "over rate_per_ip");
	return false;
}

/* ---- request head -------------------------------------------------------------------------- */

/* Small bodies are read whole before a backend is chosen: the request can then be replayed
 * on another backend and its JSON-RPC method is known. Larger ones stream. */
static bool body_is_buffered(const struct session *s, const struct http_msg *m)
{
	return m->body == HTTP_BODY_LENGTH &&
	       m->content_length <= rpc_policy_inspect_max(s->l->policy);
}

/* The body is whole in r->out: reads its JSON-RPC calls under the listener's policy. False
 * when the policy refused it (answered here: the request is over). */
static bool req_inspect(struct session *s)
{
	struct request *r = s->r;
	size_t len = evbuffer_get_length(r->out);
	const char *all = (const char *)evbuffer_pullup(r->out, -1);

	rpc_inspect(all + r->head_len, len - r->head_len, s->l->policy, &r->rpc);
	if (r->rpc.refusal == RPC_ALLOWED)
		return true;
	reply_refused(s);
	return false;
}

static bool is_dropped_request_header(const struct session *s, const struct http_msg *m,
                                      const char *buf, unsigned i)
{
	struct http_span n = m->hdr[i].name;

	if (http_header_is_hop(m, buf, i))
		return true;
	/* identity headers are nodegate's to set; Expect is answered here for buffered bodies */
	return http_span_eq(buf, n, "x-forwarded-for") || http_span_eq(buf, n, "forwarded") ||
	       http_span_eq(buf, n, "x-user") || http_span_eq(buf, n, "x-forwarded-proto") ||
	       http_span_eq(buf, n, "x-real-ip") ||
	       /* no WebSocket extension: compressed frames could not be inspected */
	       http_span_eq(buf, n, "sec-websocket-extensions") ||
	       (http_span_eq(buf, n, "expect") && body_is_buffered(s, m));
}

static void add_span(struct evbuffer *out, const char *buf, struct http_span sp)
{
	evbuffer_add(out, buf + sp.off, sp.len);
}

/* The client of a request: the socket peer, or, when the peer is one of trusted_proxies,
 * the right-most X-Forwarded-For address that is not itself a trusted proxy (all trusted:
 * the left-most). An entry that is not an address ends the walk there: nothing left of it
 * can be believed. Several X-Forwarded-For lines read as one list, in order. */
static void client_derive(struct session *s, const struct http_msg *m, const char *buf)
{
	struct limit_addr a;

	s->via_proxy = limit_cidrs_match(s->l->trusted, &s->peer_addr);
	if (!s->via_proxy)
		return;
	for (int i = (int)m->n_hdr - 1; i >= 0; i--) {
		if (!http_span_eq(buf, m->hdr[i].name, "x-forwarded-for"))
			continue;
		const char *v = buf + m->hdr[i].value.off;
		size_t end = m->hdr[i].value.len;
		while (end > 0) {
			size_t start = end, n;
			while (start > 0 && v[start - 1] != ',')
				start--;
			const char *item = v + start + strspn(v + start, " \t");
			for (n = (size_t)(v + end - item);
			     n > 0 && (item[n - 1] == ' ' || item[n - 1] == '\t');)
				n--;
			end = start > 0 ? start - 1 : 0;
			if (n == 0)
				continue;
			if (!limit_addr_parse(item, n, &a))
				goto done;
			s->client_addr = a;
			if (!limit_cidrs_match(s->l->trusted, &a))
				goto done;
		}
	}
done:
	limit_addr_format(&s->client_addr, s->client_ip, sizeof(s->client_ip));
}

/* The start of X-Forwarded-For as sent on: through a trusted proxy, the chain it sent and a
 * comma; from anyone else, nothing (the caller adds the peer, in its one printf). */
static void add_forwarded_for(struct session *s, const struct http_msg *m, const char *buf,
                              struct evbuffer *out)
{
	evbuffer_add(out, "X-Forwarded-For: ", 17);
	for (unsigned i = 0; s->via_proxy && i < m->n_hdr; i++)
		if (http_span_eq(buf, m->hdr[i].name, "x-forwarded-for") &&
		    m->hdr[i].value.len > 0) {
			add_span(out, buf, m->hdr[i].value);
			evbuffer_add(out, ", ", 2);
		}
}

/* The head sent to the backend: the request line as received (in HTTP/1.1), end-to-end
 * headers, and the forwarding headers nodegate owns. */
static void build_upstream_head(struct session *s, const struct http_msg *m, const char *buf)
{
	struct evbuffer *out = s->r->out;
	bool v6 = strchr(s->client_ip, ':') != NULL;

	add_span(out, buf, m->method_s);
	evbuffer_add(out, " ", 1);
	add_span(out, buf, m->target);
	/* an HTTP/1.0 client cannot read a chunked answer: ask the node in its version */
	if (m->version_minor == 0)
		evbuffer_add(out, " HTTP/1.0\r\n", 11);
	else
		evbuffer_add(out, " HTTP/1.1\r\n", 11);
	for (unsigned i = 0; i < m->n_hdr; i++) {
		if (is_dropped_request_header(s, m, buf, i))
			continue;
		add_span(out, buf, m->hdr[i].name);
		evbuffer_add(out, ": ", 2);
		add_span(out, buf, m->hdr[i].value);
		evbuffer_add(out, "\r\n", 2);
	}
	add_forwarded_for(s, m, buf, out);
	evbuffer_add_printf(out,
	                    "%s\r\nX-Forwarded-Proto: %s\r\nForwarded: for=%s%s%s;proto=%s\r\n",
	                    s->peer, s->tls ? "https" : "http", v6 ? "\"[" : "", s->client_ip,
	                    v6 ? "]\"" : "", s->tls ? "https" : "http");
	if (s->r->upgrade)
		evbuffer_add(out, "Connection: Upgrade\r\nUpgrade: websocket\r\n", 41);
	evbuffer_add(out, "\r\n", 2);
	s->r->head_len = evbuffer_get_length(out);
}

static void copy_span(char *dst, size_t cap, const char *buf, struct http_span sp)
{
	size_t n = sp.len < cap - 1 ? sp.len : cap - 1;

	memcpy(dst, buf + sp.off, n);
	dst[n] = '\0';
}

/* A request head is complete in BUF (still at the front of the client input). */
static void req_start(struct session *s, const char *buf)
{
	struct request *r = s->r;
	const struct http_msg *m = &s->hp->msg;

	STAT_INC(requests_received);
	s->n_requests++;
	r->method = m->method;
	copy_span(r->method_s, sizeof(r->method_s), buf, m->method_s);
	copy_span(r->uri, sizeof(r->uri), buf, m->target);
	r->keep_alive = m->keep_alive;
	r->http10 = m->version_minor == 0;
	r->upgrade = m->conn_upgrade && m->upgrade_websocket && m->method == HTTP_M_GET;
	client_derive(s, m, buf);
	body_init(&r->req_body, m->body, m->content_length);
	if (m->body == HTTP_BODY_LENGTH && m->content_length > s->l->conf.max_body_size) {
		STAT_INC(req_body_too_large);
		evbuffer_drain(conn_input(s->client), s->hp->head_len);
		parser_put(&s->hp);
		reply_error(s, 413, "request body too large");
		return;
	}
	if (m->body != HTTP_BODY_NONE && !body_is_buffered(s, m) &&
	    rpc_policy_must_read(s->l->policy)) {
		bool chunked = m->body == HTTP_BODY_CHUNKED;
		STAT_INC(req_uninspectable);
		evbuffer_drain(conn_input(s->client), s->hp->head_len);
		parser_put(&s->hp);
		reply_error(s, chunked ? 411 : 413,
		            chunked
		                ? "the method policy reads bodies with a Content-Length only"
		                : "body over rpc_inspect_max: the method policy cannot read it");
		return;
	}
	r->out = evbuffer_new();
	build_upstream_head(s, m, buf);
	bool buffered = body_is_buffered(s, m), expect = m->expect_continue;
	evbuffer_drain(conn_input(s->client), s->hp->head_len);
	parser_put(&s->hp);
	if (s->l->conf.max_requests > 0 && s->n_requests >= s->l->conf.max_requests)
		s->close_after = true;
	if (buffered) {
		s->state = SS_REQ_BODY_BUFFER;
		if (expect && s->r->keep_alive) {
			evbuffer_add(conn_output(s->client), "HTTP/1.1 100 Continue\r\n\r\n", 25);
			conn_flush(s->client);
		}
		timer_arm(s, s->l->conf.client_timeout);
		/* the body may already be here */
		struct evbuffer *in = conn_input(s->client);
		if (evbuffer_get_length(in) >= r->req_body.remaining) {
			evbuffer_remove_buffer(in, r->out, (size_t)r->req_body.remaining);
			r->req_body.total = r->req_body.remaining;
			r->req_body.remaining = 0;
			r->req_body.done = true;
		} else {
			return;
		}
	} else {
		r->streamed = !r->req_body.done;
	}
	if (r->req_body.done && r->req_body.total > 0 && !req_inspect(s))
		return;
	dispatch(s);
}

static void req_head(struct session *s)
{
	struct evbuffer *in = conn_input(s->client);
	size_t len = evbuffer_get_length(in);
	const struct conf_listener *lc = &s->l->conf;

	if (len == 0 || s->state != SS_REQ_HEAD)
		return;
	if (s->hp == NULL) {
		struct http_limits lim = {
		    .max_head = (uint32_t)lc->max_header_size,
		    .max_uri = (uint32_t)lc->max_uri_size,
		    .max_headers = (uint32_t)lc->max_headers,
		};
		s->hp = parser_get();
		if (s->hp == NULL || req_new(s) == NULL) {
			session_free(s);
			return;
		}
		http_parser_init(s->hp, HTTP_REQUEST, &lim);
		timer_arm(s, lc->header_timeout);
	}
	if (len > lc->max_header_size + 1)
		len = lc->max_header_size + 1;
	const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
	switch (http_parse_head(s->hp, buf, len)) {
	case HTTP_NEED_MORE:
		return;
	case HTTP_ERROR: {
		int status = s->hp->status;
		const char *why = s->hp->reason;
		switch (status) {
		case 414:
			STAT_INC(req_uri_too_long);
			break;
		case 431:
			STAT_INC(req_header_too_large);
			break;
		case 501:
			STAT_INC(req_not_implemented);
			break;
		default:
			STAT_INC(req_bad);
			break;
		}
		s->r->method = s->hp->msg.method;
		copy_span(s->r->method_s, sizeof(s->r->method_s), buf, s->hp->msg.method_s);
		parser_put(&s->hp);
		slog(LOGL_INFO, s, "request refused (%d): %s", status, why);
		reply_error(s, status, why);
		return;
	}
	default:
		evtimer_del(&s->timer);
		req_start(s, buf);
	}
}

static void req_body_buffer(struct session *s)
{
	struct request *r = s->r;
	struct evbuffer *in = conn_input(s->client);

	if (evbuffer_get_length(in) < r->req_body.remaining)
		return;
	evtimer_del(&s->timer);
	evbuffer_remove_buffer(in, r->out, (size_t)r->req_body.remaining);
	r->req_body.total += r->req_body.remaining;
	r->req_body.remaining = 0;
	r->req_body.done = true;
	if (req_inspect(s))
		dispatch(s);
}

/* Streams the request body from the client to the backend, with back pressure. */
static void pump_req_body(struct session *s)
{
	struct request *r = s->r;
	struct evbuffer *dst = conn_output(s->up->c);

	if (r->req_body.done)
		return;
	if (body_move(&r->req_body, conn_input(s->client), dst) < 0) {
		STAT_INC(req_bad);
		reply_error(s, 400, "bad chunked request body");
		return;
	}
	conn_flush(s->up->c);
	if (r->req_body.total > s->l->conf.max_body_size) {
		STAT_INC(req_body_too_large);
		reply_error(s, 413, "request body too large");
		return;
	}
	if (r->req_body.done) { /* no more client bytes expected: no read deadline */
		conn_set_timeouts(s->client, 0, s->l->conf.client_timeout);
		return;
	}
	if (evbuffer_get_length(dst) >= RELAY_HIGH_WM) {
		conn_disable_read(s->client);
		conn_set_write_low(s->up->c, RELAY_HIGH_WM / 2);
	}
}

/* ---- backend choice and connection ---------------------------------------------------------- */

/* Whether the request may go to another backend after it was sent: it is still whole in
 * memory and asks for nothing that could happen twice. */
static bool replayable(const struct request *r)
{
	if (r->streamed || r->resp_started || r->upgrade)
		return false;
	switch (r->method) {
	case HTTP_M_GET:
	case HTTP_M_HEAD:
	case HTTP_M_OPTIONS:
		return true;
	case HTTP_M_POST:
		return r->rpc.is_rpc && r->rpc.all_read;
	default:
		return false;
	}
}

static uint64_t pool_retries(const struct session *s)
{
	return s->r->pool->conf.retries;
}

/* "refused: connect to 127.0.0.1:5005", as the probes word it (the prefix matters: a
 * refused connection ejects at once), for a connect that failed with KIND; the errno ERR's
 * text for kinds other than refused and timeout. */
static void connect_reason(char *buf, size_t len, const struct backend *b, enum conn_error kind,
                           int err)
{
	char where[300];
	const char *what = kind == CONN_ERR_REFUSED   ? "refused" /* HEALTH_REASON_REFUSED */
	                   : kind == CONN_ERR_TIMEOUT ? "connect timeout"
	                                              : strerror(err);

	conf_addr_format(&b->conf.address, where, sizeof(where));
	int n = snprintf(buf, len, "%s: connect to ", what);
	if (n > 0 && (size_t)n < len) /* a long host name is cut, the reason stays one line */
		snprintf(buf + n, len - (size_t)n, "%.*s", (int)(len - (size_t)n - 1), where);
}

/* Forgets a response that never reached the client, before the request goes elsewhere. */
static void resp_reset(struct request *r)
{
	parser_put(&r->rp);
	if (r->hold != NULL)
		evbuffer_free(r->hold);
	r->hold = NULL;
	r->resp_head_done = false;
	r->resp_keep_alive = false;
	r->status = 0;
	r->bytes_out = 0;
	memset(&r->resp_body, 0, sizeof(r->resp_body));
}

/* Asks the pool's retry budget for a retry for WHY (charged when the request reached a
 * node); false when it is spent. */
static bool retry_allowed(struct session *s, enum retry_reason why)
{
	struct request *r = s->r;

	/* a node without the history is not failing: that retry is routing, not charged */
	if (budget_retry(&r->pool->budget, why, r->sent && why != RETRY_HISTORY, clock_now()))
		return true;
	slog(LOGL_DEBUG, s, "retry (%s) refused: the retry budget of pool %s is spent",
	     retry_reason_names[why], r->pool->name);
	return false;
}

/* Another backend for the request, when it may go there: it never reached a node, or it
 * is safe to send twice and the pool's retry budget allows it. Returns false when the
 * caller must answer instead (with the node's own answer when it has one). */
static bool retry_elsewhere(struct session *s, enum retry_reason why)
{
	struct request *r = s->r;

	if ((r->sent && !replayable(r)) || r->n_tried > pool_retries(s))
		return false;
	bool other = pool_can_pick(r->pool, r->tried, r->n_tried);
	if (r->sent && !other)
		return false; /* the node's own answer beats a 502 */
	if (other && !retry_allowed(s, why))
		return false;
	STAT_INC(req_retried);
	resp_reset(r);
	r->sent = false;
	dispatch(s);
	return true;
}

/* The current backend failed before the response started: note it against the node (a
 * passive signal; UNREACHABLE when it never answered), then try another, or answer. */
static void backend_failed(struct session *s, bool timeout, bool unreachable, const char *why)
{
	struct request *r = s->r;
	struct backend *b = s->up != NULL ? s->up->b : NULL;

	if (b != NULL) {
		b->failures++;
		slog(LOGL_WARN, s, "backend %s failed: %s", b->name, why);
		/* a pooled connection the node closed as we wrote is a race, not a failure */
		if (!s->up->reused || unreachable)
			route_signal(b, true, unreachable, why);
	}
	up_drop(s, false);
	r->last_timeout = timeout;
	if (retry_elsewhere(s, !r->sent ? RETRY_CONNECT : timeout ? RETRY_TIMEOUT : RETRY_RESET))
		return;
	if (s->l->conf.mode == MODE_TCP) {
		session_free(s);
		return;
	}
	if (timeout) {
		STAT_INC(req_backend_timeout);
		reply_error(s, 504, "backend timeout");
	} else {
		STAT_INC(req_backend_error);
		reply_error(s, 502, "backend failure");
	}
}

static void send_request(struct session *s)
{
	struct request *r = s->r;
	struct conn *ub = s->up->c;
	struct evbuffer *out = conn_output(ub);
	size_t len = evbuffer_get_length(r->out);

	if (r->req_body.done && !r->streamed)
		evbuffer_add(out, evbuffer_pullup(r->out, -1), len);
	else
		evbuffer_add_buffer(out, r->out); /* streamed: the head goes once, never replayed */
	r->sent = true;
	s->up->b->requests++;
	s->state = SS_STREAMING;
	conn_set_timeouts(ub, r->pool->conf.response_timeout, r->pool->conf.response_timeout);
	conn_set_read_max(ub, RELAY_HIGH_WM);
	conn_enable_read(ub);
	conn_flush(ub);
	if (r->streamed) { /* a client that stops sending its body times out */
		conn_set_timeouts(s->client, s->l->conf.client_timeout, s->l->conf.client_timeout);
		conn_enable_read(s->client);
		pump_req_body(s);
	}
}

/* What the request needs of a node, in NEED: the ledgers it names by number (ONLY: no node
 * without them). NULL when it names none. */
static const struct pick_need *request_need(const struct request *r, struct pick_need *need,
                                            bool only)
{
	if (!r->rpc.is_rpc || !r->rpc.has_ledger)
		return NULL;
	*need = (struct pick_need){r->rpc.ledger_min, r->rpc.ledger_max, only};
	return need;
}

static void dispatch(struct session *s)
{
	struct request *r = s->r;
	char err[256];
	enum conn_error kind;
	struct pick_need need;
	const struct pick_need *np = request_need(r, &need, false);

	/* a request's first dispatch (not a retry) passes the per-client limits */
	if (r->pool == NULL && s->l->conf.mode == MODE_HTTP && !limits_admit(s))
		return;
	if (r->pool == NULL) {
		r->pool = pool_ref(s->l->pool);
		budget_request(&r->pool->budget, clock_now());
	}
	for (;;) {
		struct backend *b = pool_pick_need(r->pool, r->tried, r->n_tried, np);
		if (b == NULL)
			break;
		if (np != NULL && backend_holds(b, need.ledger_min, need.ledger_max))
			r->pool->history_routed++;
		r->tried[r->n_tried++] = b;
		backend_unref(r->b);
		r->b = backend_ref(b);
		s->up = upstream_get(worker.base, b, r->pool->conf.connect_timeout,
		                     s->l->conf.mode == MODE_HTTP, &kind, err, sizeof(err));
		if (s->up == NULL) {
			STAT_INC(upstream_connect_error);
			slog(LOGL_WARN, s, "backend %s: %s", b->name, err);
			if (kind == CONN_ERR_REFUSED) {
				char why[ROUTE_REASON_MAX];
				connect_reason(why, sizeof(why), b, kind, 0);
				route_signal(b, true, true, why);
			}
			if (r->n_tried > pool_retries(s) ||
			    !pool_can_pick(r->pool, r->tried, r->n_tried))
				break;
			(void)retry_allowed(s, RETRY_CONNECT); /* never refused: counted */
			continue;
		}
		b->active++;
		s->state = SS_CONNECTING;
		conn_setcb(s->up->c, up_read_cb, up_write_cb, up_event_cb, s);
		if (s->up->reused) {
			send_request(s);
		} else {
			conn_enable_read(s->up->c); /* the connect's events arrive */
		}
		return;
	}
	if (s->l->conf.mode == MODE_TCP) {
		slog(LOGL_WARN, s, "no backend for a tcp session");
		STAT_INC(req_no_backend);
		session_free(s);
		return;
	}
	if (r->n_tried == 0) { /* nothing in rotation, nothing even in panic */
		STAT_INC(req_no_backend);
		reply_error(s, 503, "no backend available");
	} else if (r->last_timeout) {
		STAT_INC(req_backend_timeout);
		reply_error(s, 504, "backend timeout");
	} else {
		STAT_INC(req_backend_error);
		reply_error(s, 502, "no backend could be reached");
	}
}

/* ---- response ---------------------------------------------------------------------------- */

static void build_client_head(struct session *s, const struct http_msg *m, const char *buf,
                              size_t head_len, bool close, struct evbuffer *out)
{
	size_t before = evbuffer_get_length(out);

	evbuffer_add_printf(out, "HTTP/1.1 %d ", m->status);
	/* the reason phrase runs from after "HTTP/1.x NNN " to the end of the status line */
	const char *eol = memchr(buf, '\r', head_len);
	if (eol != NULL && eol - buf > 13)
		evbuffer_add(out, buf + 13, (size_t)(eol - buf - 13));
	evbuffer_add(out, "\r\n", 2);
	for (unsigned i = 0; i < m->n_hdr; i++) {
		if (http_header_is_hop(m, buf, i))
			continue;
		/* RFC 9112 6.3: with chunked framing, a Content-Length must not go on */
		if (m->body == HTTP_BODY_CHUNKED &&
		    http_span_eq(buf, m->hdr[i].name, "content-length"))
			continue;
		add_span(out, buf, m->hdr[i].name);
		evbuffer_add(out, ": ", 2);
		add_span(out, buf, m->hdr[i].value);
		evbuffer_add(out, "\r\n", 2);
	}
	if (close)
		evbuffer_add(out, "Connection: close\r\n", 19);
	else if (s->r->http10)
		evbuffer_add(out, "Connection: keep-alive\r\n", 24);
	evbuffer_add(out, "\r\n", 2);
	s->r->bytes_out += evbuffer_get_length(out) - before;
}

/* The response is complete: log, give the backend connection back, and wait for the next
 * request or close. */
static void resp_done(struct session *s)
{
	struct request *r = s->r;
	bool keep_up =
	    r->resp_keep_alive && r->resp_body.kind != HTTP_BODY_UNTIL_CLOSE && r->req_body.done;
	bool keep_client = r->keep_alive && !s->close_after && !worker.draining &&
	                   r->resp_body.kind != HTTP_BODY_UNTIL_CLOSE && r->req_body.done &&
	                   !s->client_eof;

	access_log(s, r->status);
	up_drop(s, keep_up);
	req_end(s);
	if (!keep_client) {
		close_after_flush(s);
		return;
	}
	s->state = SS_REQ_HEAD;
	conn_enable_read(s->client);
	timer_arm(s, s->l->conf.client_timeout);
	if (conn_input_len(s->client) > 0)
		req_head(s); /* a pipelined request is waiting */
	else
		conn_trim(s->client); /* idle: no buffers held */
}

/* Whether a reply is rippled's lgrNotFound (result.error, a WebSocket reply's error, or a
 * batch element's): that node lacks the history, another may hold it. */
static bool reply_lgr_not_found(const char *body, size_t len)
{
	static const char *const lgr_not_found[] = {"lgrNotFound"};

	return rpc_reply_token(body, len, lgr_not_found, 1, NULL, 0);
}

/* A held answer that is lgrNotFound goes to a node known to hold the ledgers the request
 * names, when one may take it and the request may be sent twice. The node is fine (no
 * passive signal): it lacks that history. True when the request went elsewhere. */
static bool retry_lgr_not_found(struct session *s, const char *body, size_t len)
{
	struct request *r = s->r;
	struct pick_need need;

	if (request_need(r, &need, true) == NULL || !replayable(r) ||
	    r->n_tried > pool_retries(s) || !reply_lgr_not_found(body, len) ||
	    !pool_can_pick_need(r->pool, r->tried, r->n_tried, &need))
		return false;
	slog(LOGL_INFO, s, "backend %s answered lgrNotFound for ledgers %u-%u", r->b->name,
	     need.ledger_min, need.ledger_max);
	up_drop(s, r->resp_keep_alive); /* the connection itself is clean */
	return retry_elsewhere(s, RETRY_HISTORY);
}

/* Why a complete held answer should go to another node: HTTP 5xx (resp_head noted it
 * against the node), or an error token, a signal against the node noted here.
 * RETRY_REASON_COUNT: it is an answer to pass on. */
static enum retry_reason resp_verdict(struct session *s)
{
	struct request *r = s->r;
	char token[32], why[64];

	if (r->status >= 500)
		return RETRY_STATUS_5XX;
	size_t len = evbuffer_get_length(r->hold), body_len = (size_t)r->resp_body.total;
	const char *all = (const char *)evbuffer_pullup(r->hold, -1);
	if (!rpc_busy_token(all + len - body_len, body_len, token, sizeof(token)))
		return RETRY_REASON_COUNT;
	snprintf(why, sizeof(why), "rpc error %s", token);
	route_signal(r->b, false, false, why);
	slog(LOGL_INFO, s, "backend %s answered %s", r->b->name, token);
	return RETRY_RPC_ERROR;
}

/* A held answer is complete: a bad one sends a read to another node while the retry
 * budget lasts; otherwise the answer goes out as it came. */
static void resp_release(struct session *s)
{
	struct request *r = s->r;
	enum retry_reason why = resp_verdict(s);

	if (why != RETRY_REASON_COUNT) {
		up_drop(s, r->resp_keep_alive); /* the connection itself is clean */
		if (retry_elsewhere(s, why)) {
			if (why == RETRY_RPC_ERROR)
				STAT_INC(rpc_error_retries);
			return;
		}
		/* no other node may take it: the client gets the node's own answer */
	} else {
		size_t len = evbuffer_get_length(r->hold), body_len = (size_t)r->resp_body.total;
		const char *all = (const char *)evbuffer_pullup(r->hold, -1);

		if (retry_lgr_not_found(s, all + len - body_len, body_len))
			return;
	}
	evbuffer_add_buffer(conn_output(s->client), r->hold);
	r->resp_started = true;
	conn_flush(s->client);
	resp_done(s);
}

/* Moves response body bytes to the client, pausing the backend when the client is slow. */
static void pump_resp_body(struct session *s)
{
	struct request *r = s->r;
	struct evbuffer *dst = r->hold != NULL ? r->hold : conn_output(s->client);
	uint64_t before = r->resp_body.total;

	if (body_move(&r->resp_body, conn_input(s->up->c), dst) < 0) {
		STAT_INC(resp_bad);
		reply_error(s, 502, "bad chunked response body");
		return;
	}
	r->bytes_out += r->resp_body.total - before;
	if (r->hold != NULL) {
		if (r->resp_body.done)
			resp_release(s);
		return;
	}
	conn_flush(s->client);
	if (r->resp_body.done) {
		resp_done(s);
		return;
	}
	if (evbuffer_get_length(dst) >= RELAY_HIGH_WM) {
		conn_disable_read(s->up->c);
		conn_set_write_low(s->client, RELAY_HIGH_WM / 2);
	}
}

/* Whether an answer is held whole before it goes out: a small JSON-RPC answer (an error
 * token in it, "noNetwork", is a signal about the node, and a read can still go to another
 * one), or a small 5xx to a request another node may still take. */
static bool resp_holds(const struct session *s, const struct http_msg *m)
{
	const struct request *r = s->r;
	bool small = m->body == HTTP_BODY_LENGTH &&
	             m->content_length <= rpc_policy_inspect_max(s->l->policy);

	if (r->rpc.is_rpc && m->status == 200 && small)
		return true;
	return m->status >= 500 && (small || m->body == HTTP_BODY_NONE) && replayable(r);
}

static void resp_head(struct session *s)
{
	struct request *r = s->r;
	struct evbuffer *in = conn_input(s->up->c);
	size_t len = evbuffer_get_length(in), max = s->l->conf.max_header_size;

	if (r->rp == NULL) {
		struct http_limits lim = {.max_head = (uint32_t)max,
		                          .max_uri = (uint32_t)max,
		                          .max_headers = HTTP_MAX_HEADERS};
		r->rp = parser_get();
		if (r->rp == NULL) {
			backend_failed(s, false, false, "out of memory");
			return;
		}
		http_parser_init(r->rp, HTTP_RESPONSE, &lim);
	}
	if (len > max + 1)
		len = max + 1;
	const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
	enum http_result res = http_parse_head(r->rp, buf, len);
	if (res == HTTP_NEED_MORE)
		return;
	if (res == HTTP_ERROR) {
		STAT_INC(resp_bad);
		slog(LOGL_WARN, s, "backend %s: bad response: %s", r->b->name, r->rp->reason);
		r->sent = true; /* the backend saw the request: a replay is the method's call */
		backend_failed(s, false, false, "bad response head");
		return;
	}
	struct http_msg *m = &r->rp->msg;
	size_t head_len = r->rp->head_len;
	if (m->status < 200 && m->status != 101) {
		/* interim (100 Continue, 103): relayed to HTTP/1.1 clients, then the real one */
		if (!r->http10) {
			evbuffer_add(conn_output(s->client), buf, head_len);
			conn_flush(s->client);
		}
		evbuffer_drain(in, head_len);
		parser_put(&r->rp);
		if (evbuffer_get_length(in) > 0)
			resp_head(s);
		return;
	}
	r->status = m->status;
	if (m->status == 101 && !r->upgrade) {
		STAT_INC(resp_bad);
		backend_failed(s, false, false, "101 without an upgrade request");
		return;
	}
	r->resp_head_done = true;
	if (m->status == 101) {
		r->resp_started = true;
		evbuffer_remove_buffer(in, conn_output(s->client), head_len);
		r->bytes_out += head_len;
		parser_put(&r->rp);
		STAT_INC(ws_upgrades);
		access_log(s, 101);
		tunnel_start(s);
		return;
	}
	http_response_body(m, r->method);
	r->resp_keep_alive = m->keep_alive;
	body_init(&r->resp_body, m->body, m->content_length);
	bool close = !r->keep_alive || s->close_after || worker.draining ||
	             m->body == HTTP_BODY_UNTIL_CLOSE || !r->req_body.done || s->client_eof;
	if (m->status >= 500) {
		char why[32];
		snprintf(why, sizeof(why), "HTTP %d", m->status);
		route_signal(r->b, false, false, why);
	}
	if (resp_holds(s, m))
		r->hold = evbuffer_new();
	if (r->hold == NULL)
		r->resp_started = true;
	build_client_head(s, m, buf, head_len, close,
	                  r->hold != NULL ? r->hold : conn_output(s->client));
	evbuffer_drain(in, head_len);
	parser_put(&r->rp);
	pump_resp_body(s);
}

/* ---- backend callbacks ---------------------------------------------------------------------- */

static void up_read_cb(struct conn *bev, void *arg)
{
	struct session *s = arg;

	if (s->state == SS_TUNNEL) {
		if (s->ws != NULL)
			ws_relay_node(s);
		else
			tunnel_relay(s, bev, s->client);
		return;
	}
	if (s->state != SS_STREAMING)
		return;
	if (!s->r->resp_head_done)
		resp_head(s);
	else
		pump_resp_body(s);
}

/* The backend drained what we queued: resume reading the client. */
static void up_write_cb(struct conn *bev, void *arg)
{
	struct session *s = arg;

	if (s->state == SS_CLOSING)
		return;
	conn_set_write_low(bev, 0);
	if (s->state == SS_TUNNEL && !s->client_eof) {
		conn_enable_read(s->client);
	} else if (s->state == SS_STREAMING && !s->r->req_body.done) {
		conn_enable_read(s->client);
		pump_req_body(s);
	} else if (s->state == SS_TUNNEL && s->client_eof && conn_output_len(bev) == 0) {
		conn_shutdown_write(bev);
	}
}

static void tunnel_event(struct session *s, bool from_client, short what, enum conn_error err);

static void up_event_cb(struct conn *bev, short what, enum conn_error err, void *arg)
{
	struct session *s = arg;
	struct request *r = s->r;

	if (what & BEV_EVENT_CONNECTED) {
		if (s->l->conf.mode == MODE_TCP)
			tunnel_start(s);
		else
			send_request(s);
		return;
	}
	if (s->state == SS_TUNNEL) {
		tunnel_event(s, false, what, err);
		return;
	}
	bool timeout = err == CONN_ERR_TIMEOUT;
	if (s->state == SS_CONNECTING) {
		STAT_INC(upstream_connect_error);
		if (timeout)
			STAT_INC(upstream_connect_timeout);
		char why[ROUTE_REASON_MAX];
		connect_reason(why, sizeof(why), s->up->b, err, conn_errno(bev));
		backend_failed(s, timeout, true, why);
		return;
	}
	if (!r->resp_started) {
		/* sent, no answer: a reset or EOF on a reused connection is usually the node
		 * closing an idle connection as our request crossed it */
		backend_failed(s, timeout, false,
		               timeout ? "response timeout"
		                       : "connection closed before the response");
		return;
	}
	if (err == CONN_ERR_EOF && r->resp_body.kind == HTTP_BODY_UNTIL_CLOSE) {
		pump_resp_body(s);
		r->resp_body.done = true;
		r->resp_keep_alive = false;
		resp_done(s);
		return;
	}
	if (s->up != NULL)
		s->up->b->failures++;
	reply_error(s, timeout ? 504 : 502,
	            timeout ? "backend timeout mid-response" : "backend closed mid-response");
}

/* ---- tunnel (tcp mode, WebSocket) ----------------------------------------------------------- */

static void tunnel_start(struct session *s)
{
	struct conn *ub = s->up->c;

	s->state = SS_TUNNEL;
	s->tunnel_active = clock_now();
	evtimer_del(&s->timer);
	if (s->l->conf.mode == MODE_TCP)
		STAT_INC(tcp_sessions);
	else if (ws_start(s) != 0) {
		session_free(s); /* uninspected, a tunnel could carry refused calls */
		return;
	}
	conn_set_read_max(ub, 0);
	conn_set_read_max(s->client, 0);
	conn_set_timeouts(ub, s->l->conf.tunnel_timeout, s->l->conf.client_timeout);
	conn_set_timeouts(s->client, s->l->conf.tunnel_timeout, s->l->conf.client_timeout);
	conn_enable_read(ub);
	conn_enable_read(s->client);
	conn_flush(s->client); /* e.g. the 101 head */
	/* bytes that arrived early, on either side */
	if (conn_input_len(s->client) > 0)
		client_read_cb(s->client, s);
	if (conn_input_len(ub) > 0)
		up_read_cb(ub, s);
	if (s->client_eof && conn_output_len(ub) == 0)
		conn_shutdown_write(ub);
}

/* EOF, error or idle timeout on one side of a tunnel. EOF is a half-close: it is passed on
 * (shutdown of the write side) once the other side has its bytes; the tunnel ends when
 * both sides are done. */
static void tunnel_event(struct session *s, bool from_client, short what, enum conn_error err)
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
		session_free(s);
		return;
	}
	if (err != CONN_ERR_EOF || conn_is_tls(src) || conn_is_tls(dst)) {
		session_free(s);
		return;
	}
	if (from_client)
		s->client_eof = true;
	else
		s->up_eof = true;
	if (s->client_eof && s->up_eof) {
		if (conn_output_len(s->client) > 0)
			close_after_flush(s);
		else
			session_free(s);
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
static void ws_close_both(struct session *s, uint16_t code, const char *why)
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
		close_after_flush(s);
		return false;
	case WS_ERROR:
		slog(LOGL_WARN, s, "backend %s: bad WebSocket frame", s->up->b->name);
		session_free(s);
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

/* ---- client callbacks ----------------------------------------------------------------------- */

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
		if (s->ws != NULL)
			ws_relay_client(s);
		else
			tunnel_relay(s, bev, s->up->c);
		break;
	case SS_CLOSING:
		evbuffer_drain(conn_input(bev), conn_input_len(bev));
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
			session_free(s);
		return;
	}
	conn_set_write_low(bev, 0);
	if (s->up == NULL)
		return;
	if (s->state == SS_TUNNEL) {
		if (s->ws_paused && !ws_client_blocked(s->ws, conn_output(bev)))
			ws_resume(s);
		if (s->up_eof && conn_output_len(bev) == 0)
			conn_shutdown_write(bev);
		else if (!s->up_eof)
			conn_enable_read(s->up->c);
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
	session_free(s);
}

/* Header, idle and body deadlines of the client side. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	switch (s->state) {
	case SS_REQ_HEAD:
		if (s->hp == NULL) { /* idle keep-alive connection, or nothing ever sent */
			session_free(s);
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
		if (s->ws != NULL && s->ws_drain && !s->ws->closing && !s->up_eof) {
			ws_go_away(s); /* the drain grace is over */
			return;
		}
		session_free(s); /* nodegate's close was not answered in time, or the drained
		                  * node ended the tunnel itself within the grace */
		return;
	default: /* closing: the client does not read */
		session_free(s);
	}
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void session_free(struct session *s)
{
	if (s->up != NULL)
		up_drop(s, false);
	req_end(s);
	parser_put(&s->hp);
	evtimer_del(&s->timer);
	if (s->ws != NULL) {
		ws_deinit(s->ws);
		free(s->ws);
	}
	if (s->client != NULL)
		conn_free(s->client);
	if (s->peer_counted)
		limit_conn_close(s->l->clients, &s->peer_addr);
	TAILQ_REMOVE(&worker.sessions, s, link);
	listener_conn_closed(s->l);
	listener_unref(s->l);
	free(s);
}

static void peer_format(struct session *s, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &a->sin6_addr, s->peer, sizeof(s->peer));
		s->peer_port = ntohs(a->sin6_port);
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &a->sin_addr, s->peer, sizeof(s->peer));
		s->peer_port = ntohs(a->sin_port);
	}
}

void session_accept(struct listener *l, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
	struct session *s = calloc(1, sizeof(*s));
	int one = 1;

	if (s == NULL) {
		evutil_closesocket(fd);
		listener_conn_closed(l);
		return;
	}
	s->l = listener_ref(l);
	peer_format(s, sa);
	TAILQ_INSERT_TAIL(&worker.sessions, s, link);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	evtimer_assign(&s->timer, worker.base, timer_cb, s);
	(void)limit_addr_from_sockaddr(sa, &s->peer_addr); /* listeners bind IP addresses */
	if (!conn_admit(s)) {
		if (l->conf.mode == MODE_TCP) { /* nothing to say in a byte stream */
			evutil_closesocket(fd);
			session_free(s);
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
		s->client = conn_new(worker.base, fd, ssl);
	if (s->client == NULL) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		session_free(s);
		return;
	}
	conn_setcb(s->client, client_read_cb, client_write_cb, client_event_cb, s);
	conn_set_timeouts(s->client, 0, l->conf.client_timeout);
	size_t wm = l->conf.max_header_size + 1 > RELAY_HIGH_WM ? l->conf.max_header_size + 1
	                                                        : RELAY_HIGH_WM;
	conn_set_read_max(s->client, wm);
	conn_enable_read(s->client);
	if (l->conf.mode == MODE_TCP) {
		if (req_new(s) == NULL) {
			session_free(s);
			return;
		}
		s->r->req_body.done = true;
		dispatch(s);
		return;
	}
	s->state = SS_REQ_HEAD;
	timer_arm(s, l->conf.header_timeout);
}

void session_drain_all(void)
{
	struct session *s, *next;

	for (s = TAILQ_FIRST(&worker.sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, link);
		if (s->state == SS_REQ_HEAD && s->hp == NULL)
			session_free(s);
		else if (s->ws != NULL && s->state == SS_TUNNEL && !s->up_eof)
			ws_close_both(s, WS_CLOSE_GOING_AWAY,
			              "nodegate shutting down"); /* reconnect */
		else
			s->close_after = true;
	}
}

void session_close_all(void)
{
	while (!TAILQ_EMPTY(&worker.sessions))
		session_free(TAILQ_FIRST(&worker.sessions));
}
