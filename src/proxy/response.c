/* Session, response side: the response head and body relayed to the client (small answers
 * held and checked first), nodegate's own replies and error bodies, and the access log. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "clock.h"
#include "metrics.h"
#include "proxy/listener.h"
#include "proxy/session-int.h"
#include "stats.h"

/* ---- replies from nodegate itself -------------------------------------------------------- */

/* The metrics index of NAME, kept in *INDEX: looked up at the first request only (again
 * while the table of names is full, when it is 0). */
static unsigned name_index(unsigned *index, const char *name)
{
	unsigned i = __atomic_load_n(index, __ATOMIC_RELAXED); /* the workers share it */

	if (i == 0) {
		i = metrics_name(name);
		__atomic_store_n(index, i, __ATOMIC_RELAXED);
	}
	return i;
}

void access_log(struct session *s, int status)
{
	static unsigned no_backend; /* "-" */
	struct request *r = s->r;
	double ms = (double)(clock_now_us() - r->start_us) / 1e3;

	metrics_count(name_index(&s->l->metrics_name, s->l->name),
	              r->b != NULL ? name_index(&r->b->metrics_name, r->b->name)
	                           : name_index(&no_backend, "-"),
	              r->rpc.label, status, ms);
	log_access("%s:%u %s %s %s %s %s %d %llu %.3fms", s->r->client_ip, s->peer_port, s->l->name,
	           r->b != NULL ? r->b->name : "-", r->method_s[0] ? r->method_s : "-",
	           r->uri[0] ? r->uri : "-", r->rpc.method[0] ? r->rpc.method : "-", status,
	           (unsigned long long)r->bytes_out, ms);
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
		session_close(s, "response aborted");
		return;
	}
	bool close = closes_connection(status) || !r->keep_alive || s->close_after ||
	             !r->req_body.done || wk->draining;
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
		/* a client slow enough for 408 gets no more time */
		bool linger = status != 408 && client_may_send(s);
		req_end(s);
		close_after_flush(s, linger, "answered, closing");
		return;
	}
	req_end(s);
	session_set_state(s, SS_REQ_HEAD, "answered");
	timer_arm(s, s->l->conf.client_timeout);
	req_head(s);
}

/* Answers STATUS from nodegate. POST requests get a JSON-RPC-shaped body so RPC clients can
 * read it. */
void reply_error(struct session *s, int status, const char *why)
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
int refusal_body(struct session *s, const struct rpc_info *i, bool ws, char *body, size_t len)
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
void reply_refused(struct session *s)
{
	struct request *r = s->r;
	char body[512];
	int blen = refusal_body(s, &r->rpc, false, body, sizeof(body));

	reply_send(s, 403, "application/json", body, blen, "", "refused");
}

/* 429 with rippled's slowDown body and Retry-After in whole seconds (at least 1). */
void reply_limited(struct session *s, uint64_t retry_after_ms, const char *why)
{
	char extra[64], body[256];
	uint64_t secs = (retry_after_ms + 999) / 1000;
	int blen = rpc_error_body(&s->r->rpc, false, "slowDown", RPC_SLOW_DOWN_CODE,
	                          RPC_SLOW_DOWN_TEXT, body, sizeof(body));

	snprintf(extra, sizeof(extra), "Retry-After: %llu\r\n",
	         (unsigned long long)(secs > 0 ? secs : 1));
	reply_send(s, 429, "application/json", body, blen > 0 ? blen : 0, extra, why);
}

/* ---- response ---------------------------------------------------------------------------- */

/* The head sent to the client: the node's status line and end-to-end headers, and
 * nodegate's Connection. Written straight into OUT, in room reserved for the worst case. */
static void build_client_head(struct session *s, const struct http_msg *m, const char *buf,
                              size_t head_len, bool close, struct evbuffer *out)
{
	struct evbuffer_iovec v;
	char *p;

	if (evbuffer_reserve_space(out, (ev_ssize_t)head_room(m, head_len), &v, 1) != 1)
		return; /* out of memory: the client gets no head and closes */
	p = v.iov_base;
	put_lit(&p, "HTTP/1.1 ");
	*p++ = (char)('0' + m->status / 100); /* 100..599: the parser saw three digits */
	*p++ = (char)('0' + m->status / 10 % 10);
	*p++ = (char)('0' + m->status % 10);
	put_lit(&p, " ");
	/* the reason phrase runs from after "HTTP/1.x NNN " to the end of the status line */
	const char *eol = memchr(buf, '\r', head_len);
	if (eol != NULL && eol - buf > 13)
		put_bytes(&p, buf + 13, (size_t)(eol - buf - 13));
	put_lit(&p, "\r\n");
	for (unsigned i = 0; i < m->n_hdr; i++) {
		if (http_header_is_hop(m, buf, i))
			continue;
		/* RFC 9112 6.3: with chunked framing, a Content-Length must not go on */
		if (m->body == HTTP_BODY_CHUNKED &&
		    http_span_eq(buf, m->hdr[i].name, "content-length"))
			continue;
		put_header(&p, buf, &m->hdr[i]);
	}
	if (close)
		put_lit(&p, "Connection: close\r\n");
	else if (s->r->http10)
		put_lit(&p, "Connection: keep-alive\r\n");
	put_lit(&p, "\r\n");
	v.iov_len = (size_t)(p - (char *)v.iov_base);
	evbuffer_commit_space(out, &v, 1);
	s->r->bytes_out += v.iov_len;
}

/* The response is complete: log, give the backend connection back, and wait for the next
 * request or close. */
void resp_done(struct session *s)
{
	struct request *r = s->r;
	bool keep_up =
	    r->resp_keep_alive && r->resp_body.kind != HTTP_BODY_UNTIL_CLOSE && r->req_body.done;
	bool keep_client = r->keep_alive && !s->close_after && !wk->draining &&
	                   r->resp_body.kind != HTTP_BODY_UNTIL_CLOSE && r->req_body.done &&
	                   !s->client_eof;

	bool linger = !keep_client && client_may_send(s);

	access_log(s, r->status);
	up_drop(s, keep_up);
	req_end(s);
	if (!keep_client) {
		close_after_flush(s, linger, "response done, closing");
		return;
	}
	session_set_state(s, SS_REQ_HEAD, "response done");
	conn_enable_read(s->client);
	/* idle: the wait for the next request is the read timeout, no timer or buffers held */
	timer_stop(s);
	conn_set_timeouts_fixed(s->client, s->l->conf.client_timeout, s->l->conf.client_timeout);
	if (conn_input_len(s->client) > 0)
		req_head(s); /* a pipelined request is waiting */
	else
		conn_trim(s->client);
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
	const char *body = conn_buffer_span(r->hold, len - body_len, body_len);
	if (body == NULL || !rpc_busy_token(body, body_len, token, sizeof(token)))
		return RETRY_REASON_COUNT;
	snprintf(why, sizeof(why), "rpc error %s", token);
	passive_warning(r->b, why);
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
		const char *body = conn_buffer_span(r->hold, len - body_len, body_len);

		if (body != NULL && retry_lgr_not_found(s, body, body_len))
			return;
	}
	r->resp_started = true;
	conn_write_buffer(s->client, r->hold); /* straight from the held answer */
	resp_done(s);
}

/* Moves response body bytes to the client, pausing the backend when the client is slow. */
void pump_resp_body(struct session *s)
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

void resp_head(struct session *s)
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
	bool close = !r->keep_alive || s->close_after || wk->draining ||
	             m->body == HTTP_BODY_UNTIL_CLOSE || !r->req_body.done || s->client_eof;
	if (m->status >= 500) {
		char why[32];
		snprintf(why, sizeof(why), "HTTP %d", m->status);
		passive_warning(r->b, why);
	}
	if (resp_holds(s, m))
		r->hold = conn_buffer_new();
	if (r->hold == NULL)
		r->resp_started = true;
	build_client_head(s, m, buf, head_len, close,
	                  r->hold != NULL ? r->hold : conn_output(s->client));
	evbuffer_drain(in, head_len);
	parser_put(&r->rp);
	pump_resp_body(s);
}
