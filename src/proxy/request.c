/* Session, request side: reading and framing the client request (head, small bodies read
 * whole, streamed bodies), the per-client limits, the method policy's inspection, and the
 * head sent to the backend. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "clock.h"
#include "proxy/listener.h"
#include "proxy/session-int.h"
#include "stats.h"

/* ---- bodies ------------------------------------------------------------------------------ */

void body_init(struct body *b, enum http_body kind, uint64_t length)
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
int body_move(struct body *b, struct evbuffer *src, struct evbuffer *dst)
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

/* ---- per-client limits (limit.c) --------------------------------------------------------- */

bool session_charge(struct session *s, uint64_t *retry_after_ms)
{
	const struct conf_listener *lc = &s->l->conf;

	*retry_after_ms = 0;
	if (lc->rate_per_ip == 0 || limit_cidrs_match(s->l->exempt, &s->r->client_addr))
		return true;
	return limit_take(s->l->clients, &s->r->client_addr, lc->rate_per_ip, lc->burst_per_ip,
	                  clock_now(), retry_after_ms);
}

/* Before a request's first dispatch: a connection over max_conns_per_ip gets 429 and
 * closes; a client over rate_per_ip gets 429 and may go on. True when it may be sent. */
bool limits_admit(struct session *s)
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

/* ---- request head ------------------------------------------------------------------------ */

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
	size_t len = evbuffer_get_length(r->out) - r->head_len;
	const char *body = conn_buffer_span(r->out, r->head_len, len); /* no copy: one piece */

	if (body == NULL) {
		reply_error(s, 500, "out of memory");
		return false;
	}
	rpc_inspect(body, len, s->l->policy, &r->rpc);
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

/* The client of a request: the socket peer, or, when the peer is one of trusted_proxies,
 * the right-most X-Forwarded-For address that is not itself a trusted proxy (all trusted:
 * the left-most). An entry that is not an address ends the walk there: nothing left of it
 * can be believed. Several X-Forwarded-For lines read as one list, in order. */
static void client_derive(struct session *s, const struct http_msg *m, const char *buf)
{
	struct limit_addr a;

	s->r->via_proxy = limit_cidrs_match(s->l->trusted, &s->peer_addr);
	if (!s->r->via_proxy)
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
			s->r->client_addr = a;
			if (!limit_cidrs_match(s->l->trusted, &a))
				goto done;
		}
	}
done:
	limit_addr_format(&s->r->client_addr, s->r->client_ip, sizeof(s->r->client_ip));
}

/* X-Forwarded-For as sent on: through a trusted proxy, the chain it sent, a comma, then the
 * peer; from anyone else, the peer alone. */
static void put_forwarded_for(struct session *s, const struct http_msg *m, const char *buf,
                              char **p)
{
	put_lit(p, "X-Forwarded-For: ");
	for (unsigned i = 0; s->r->via_proxy && i < m->n_hdr; i++)
		if (http_span_eq(buf, m->hdr[i].name, "x-forwarded-for") &&
		    m->hdr[i].value.len > 0) {
			put_span(p, buf, m->hdr[i].value);
			put_lit(p, ", ");
		}
	if (s->r->via_proxy) { /* the client's address is another's: the peer's is added */
		char peer[INET6_ADDRSTRLEN];
		limit_addr_format(&s->peer_addr, peer, sizeof(peer));
		put_str(p, peer);
	} else {
		put_str(p, s->r->client_ip);
	}
	put_lit(p, "\r\n");
}

/* The head sent to the backend: the request line as received (in HTTP/1.1), end-to-end
 * headers, and the forwarding headers nodegate owns. Written straight into r->out, in room
 * reserved for the worst case (HEAD_LEN bytes of head in BUF, see head_room). */
static void build_upstream_head(struct session *s, const struct http_msg *m, const char *buf,
                                size_t head_len)
{
	struct evbuffer *out = s->r->out;
	bool v6 = strchr(s->r->client_ip, ':') != NULL;
	const char *proto = s->tls ? "https" : "http";
	struct evbuffer_iovec v;
	char *p;

	if (evbuffer_reserve_space(out, (ev_ssize_t)head_room(m, head_len), &v, 1) != 1)
		return; /* out of memory: the node gets no head and answers 400 */
	p = v.iov_base;
	put_span(&p, buf, m->method_s);
	put_lit(&p, " ");
	put_span(&p, buf, m->target);
	/* an HTTP/1.0 client cannot read a chunked answer: ask the node in its version */
	put_str(&p, m->version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
	for (unsigned i = 0; i < m->n_hdr; i++) {
		if (is_dropped_request_header(s, m, buf, i))
			continue;
		put_header(&p, buf, &m->hdr[i]);
	}
	put_forwarded_for(s, m, buf, &p);
	put_lit(&p, "X-Forwarded-Proto: ");
	put_str(&p, proto);
	put_lit(&p, "\r\nForwarded: for=");
	put_str(&p, v6 ? "\"[" : "");
	put_str(&p, s->r->client_ip);
	put_str(&p, v6 ? "]\"" : "");
	put_lit(&p, ";proto=");
	put_str(&p, proto);
	put_lit(&p, "\r\n");
	if (s->r->upgrade)
		put_lit(&p, "Connection: Upgrade\r\nUpgrade: websocket\r\n");
	put_lit(&p, "\r\n");
	v.iov_len = (size_t)(p - (char *)v.iov_base);
	evbuffer_commit_space(out, &v, 1);
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
	r->out = conn_buffer_new();
	build_upstream_head(s, m, buf, s->hp->head_len);
	bool buffered = body_is_buffered(s, m), expect = m->expect_continue;
	evbuffer_drain(conn_input(s->client), s->hp->head_len);
	parser_put(&s->hp);
	if (s->l->conf.max_requests > 0 && s->n_requests >= s->l->conf.max_requests)
		s->close_after = true;
	if (buffered) {
		session_set_state(s, SS_REQ_BODY_BUFFER, "reading a small body whole");
		if (expect && s->r->keep_alive) {
			evbuffer_add(conn_output(s->client), "HTTP/1.1 100 Continue\r\n\r\n", 25);
			conn_flush(s->client);
		}
		/* the body may already be here: then no deadline to arm (req_body_buffer stops
		 * it when the body is complete) */
		struct evbuffer *in = conn_input(s->client);
		if (evbuffer_get_length(in) >= r->req_body.remaining) {
			evbuffer_remove_buffer(in, r->out, (size_t)r->req_body.remaining);
			r->req_body.total = r->req_body.remaining;
			r->req_body.remaining = 0;
			r->req_body.done = true;
		} else {
			timer_arm(s, s->l->conf.client_timeout);
			req_body_buffer(s); /* what came so far; the rest as it comes */
			return;
		}
	} else {
		r->streamed = !r->req_body.done;
	}
	if (r->req_body.done && r->req_body.total > 0 && !req_inspect(s))
		return;
	dispatch(s);
}

void req_head(struct session *s)
{
	struct evbuffer *in = conn_input(s->client);
	size_t len = evbuffer_get_length(in);
	const struct conf_listener *lc = &s->l->conf;

	bool head_timer = false;

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
			session_close(s, "out of memory");
			return;
		}
		http_parser_init(s->hp, HTTP_REQUEST, &lim);
		conn_set_timeouts(s->client, 0, lc->client_timeout); /* the head has a deadline */
		/* the first request's runs from the accept (its bytes may have waited in the
		 * kernel): a late first byte does not earn a second header_timeout; a keep-alive
		 * request's runs from its first byte (armed below, in this turn, unless the whole
		 * head is already here: no timer to arm and stop for most requests) */
		head_timer = s->n_requests > 0;
	}
	if (len > lc->max_header_size + 1)
		len = lc->max_header_size + 1;
	const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
	enum http_result res = http_parse_head(s->hp, buf, len);
	if (head_timer && res != HTTP_DONE)
		timer_arm(s, lc->header_timeout);
	switch (res) {
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
		timer_stop(s);
		req_start(s, buf);
	}
}

void req_body_buffer(struct session *s)
{
	struct request *r = s->r;
	struct evbuffer *in = conn_input(s->client);

	/* what came is moved along at once: the client's input stays under its read_max
	 * (RELAY_HIGH_WM), and a body up to rpc_inspect_max (1m) is read whole all the same */
	size_t have = evbuffer_get_length(in);
	size_t take = have < r->req_body.remaining ? have : (size_t)r->req_body.remaining;
	if (take > 0) {
		evbuffer_remove_buffer(in, r->out, take);
		r->req_body.total += take;
		r->req_body.remaining -= take;
	}
	if (r->req_body.remaining > 0)
		return;
	timer_stop(s);
	r->req_body.done = true;
	if (req_inspect(s))
		dispatch(s);
}

/* Streams the request body from the client to the backend, with back pressure. */
void pump_req_body(struct session *s)
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
