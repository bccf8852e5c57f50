/* Session, dispatch: the backend a request goes to (the pool's pick), the connection to it,
 * sending the request, retries under the pool's retry budget, and the passive signals live
 * traffic gives the health engine (route_signal). The pool picks and the passive signals
 * each sit in one small function at the top. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "clock.h"
#include "proxy/listener.h"
#include "proxy/route.h"
#include "proxy/session-int.h"
#include "stats.h"

static void up_read_cb(struct conn *c, void *arg);
static void up_write_cb(struct conn *c, void *arg);
static void up_event_cb(struct conn *c, short what, enum conn_error err, void *arg);

/* ---- routing: the pool's picks ----------------------------------------------------------- */

/* The request takes its listener's pool, held while it lives; the pool's retry budget
 * counts it. */
static void pick_begin(struct session *s)
{
	s->r->pool = pool_ref(s->l->pool);
	pool_budget_request(s->r->pool, clock_now());
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

/* The next backend for R (NP: the ledgers it names), none of those it tried; NULL: none. */
static struct backend *pick_next(const struct request *r, const struct pick_need *np)
{
	return pool_pick_need(r->pool, r->tried, r->n_tried, np);
}

/* Whether a backend R has not tried could take it. */
static bool pick_other(const struct request *r)
{
	return pool_can_pick(r->pool, r->tried, r->n_tried);
}

/* Whether a backend R has not tried, one that holds NEED, could take it. */
static bool pick_other_need(const struct request *r, const struct pick_need *need)
{
	return pool_can_pick_need(r->pool, r->tried, r->n_tried, need);
}

/* ---- passive signals: what live traffic says about a node (route_signal) ----------------- */

/* B failed a request: refused, reset, timed out, or no answer (UNREACHABLE: it never
 * answered, as a refused or timed out connect). */
static void passive_failure(struct backend *b, bool unreachable, const char *why)
{
	route_signal(b, true, unreachable, why);
}

void passive_warning(struct backend *b, const char *why)
{
	route_signal(b, false, false, why);
}

/* ---- retries ----------------------------------------------------------------------------- */

/* Whether the request may go to another backend after it was sent: it is still whole in
 * memory and asks for nothing that could happen twice. */
bool replayable(const struct request *r)
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

/* Forgets a response that never reached the client, before the request goes elsewhere. */
static void resp_reset(struct request *r)
{
	parser_put(&r->rp);
	if (r->hold != NULL)
		conn_buffer_free(r->hold);
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
	if (pool_budget_retry(r->pool, why, r->sent && why != RETRY_HISTORY, clock_now()))
		return true;
	slog(LOGL_DEBUG, s, "retry (%s) refused: the retry budget of pool %s is spent",
	     retry_reason_names[why], r->pool->name);
	return false;
}

/* Another backend for the request, when it may go there: it never reached a node, or it
 * is safe to send twice and the pool's retry budget allows it. Returns false when the
 * caller must answer instead (with the node's own answer when it has one). */
static bool retry_may(struct session *s, enum retry_reason why)
{
	struct request *r = s->r;

	if ((r->sent && !replayable(r)) || r->n_tried > pool_retries(s))
		return false;
	bool other = pick_other(r);
	if (r->sent && !other)
		return false; /* the node's own answer beats a 502 */
	return !other || retry_allowed(s, why);
}

/* The request goes out again (the connection to the last node is dropped already). */
static void retry_go(struct session *s)
{
	STAT_INC(req_retried);
	resp_reset(s->r);
	s->r->sent = false;
	dispatch(s);
}

bool retry_elsewhere(struct session *s, enum retry_reason why)
{
	if (!retry_may(s, why))
		return false;
	retry_go(s);
	return true;
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
bool retry_lgr_not_found(struct session *s, const char *body, size_t len)
{
	struct request *r = s->r;
	struct pick_need need;

	if (request_need(r, &need, true) == NULL || !replayable(r) ||
	    r->n_tried > pool_retries(s) || !reply_lgr_not_found(body, len) ||
	    !pick_other_need(r, &need))
		return false;
	slog(LOGL_INFO, s, "backend %s answered lgrNotFound for ledgers %u-%u", r->b->name,
	     need.ledger_min, need.ledger_max);
	up_drop(s, r->resp_keep_alive); /* the connection itself is clean */
	return retry_elsewhere(s, RETRY_HISTORY);
}

/* The current backend failed before the response started: note it against the node (a
 * passive signal; UNREACHABLE when it never answered), then try another, or answer. */
void backend_failed(struct session *s, bool timeout, bool unreachable, const char *why)
{
	struct request *r = s->r;
	struct backend *b = s->up != NULL ? s->up->b : NULL;

	if (b != NULL) {
		__atomic_add_fetch(&b->failures, 1, __ATOMIC_RELAXED);
		slog(LOGL_WARN, s, "backend %s failed: %s", b->name, why);
		/* a pooled connection the node closed as we wrote is a race, not a failure */
		if (!s->up->reused || unreachable)
			passive_failure(b, unreachable, why);
	}
	up_drop(s, false);
	r->last_timeout = timeout;
	if (retry_elsewhere(s, !r->sent ? RETRY_CONNECT : timeout ? RETRY_TIMEOUT : RETRY_RESET))
		return;
	if (s->l->conf.mode == MODE_TCP) {
		session_close(s, "backend failed");
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

/* ---- connect and send -------------------------------------------------------------------- */

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

void up_drop(struct session *s, bool keep)
{
	if (s->up == NULL)
		return;
	__atomic_sub_fetch(&s->up->b->active, 1, __ATOMIC_RELAXED);
	upstream_release(s->up, keep, &s->r->pool->conf);
	s->up = NULL;
}

static void send_request(struct session *s)
{
	struct request *r = s->r;
	struct conn *ub = s->up->c;
	bool whole = r->req_body.done && !r->streamed; /* kept in r->out for a replay */

	if (!whole) /* streamed: the head goes once, never replayed */
		evbuffer_add_buffer(conn_output(ub), r->out);
	r->sent = true;
	r->sent_us = clock_now_us();
	r->answered = false;
	__atomic_add_fetch(&s->up->b->requests, 1, __ATOMIC_RELAXED);
	session_set_state(s, SS_STREAMING, "request sent");
	/* silent past the hung-node bound: slow_cb's judgement; then the response timeout */
	const struct conf_pool *pc = &r->pool->conf;
	uint64_t most =
	    pc->slow_signal < pc->response_timeout ? pc->slow_signal : pc->response_timeout;
	r->slow_ms = pc->slow_factor == 0 ? pc->response_timeout
	                                  : pool_latency_bound(r->pool, pc->slow_factor, most, most,
	                                                       r->sent_us / 1000);
	conn_set_timeouts(ub, r->slow_ms, pc->response_timeout);
	/* a held node's hold ran out, it has not answered since: this request is its probe,
	 * and the others keep away until it answers (or not, and the hold starts again) */
	if (__atomic_load_n(&s->up->b->slow_until, __ATOMIC_RELAXED) != 0)
		__atomic_store_n(&s->up->b->slow_until, r->sent_us / 1000 + r->slow_ms,
		                 __ATOMIC_RELAXED);
	conn_set_read_max(ub, RELAY_HIGH_WM);
	conn_enable_read(ub);
	if (whole)
		conn_write_buffer(ub, r->out); /* straight from r->out, no copy when it all goes */
	else
		conn_flush(ub);
	if (r->streamed) { /* a client that stops sending its body times out */
		conn_set_timeouts(s->client, s->l->conf.client_timeout, s->l->conf.client_timeout);
		conn_enable_read(s->client);
		pump_req_body(s);
	}
}

static const struct conn_ops up_ops = {up_read_cb, up_write_cb, up_event_cb};

void dispatch(struct session *s)
{
	struct request *r = s->r;
	char err[256];
	enum conn_error kind;
	struct pick_need need;
	const struct pick_need *np = request_need(r, &need, false);

	/* a request's first dispatch (not a retry) passes the per-client limits */
	if (r->pool == NULL && s->l->conf.mode == MODE_HTTP && !limits_admit(s))
		return;
	if (r->pool == NULL)
		pick_begin(s);
	for (;;) {
		struct backend *b = pick_next(r, np);
		if (b == NULL)
			break;
		if (np != NULL && backend_holds(b, need.ledger_min, need.ledger_max))
			__atomic_add_fetch(&r->pool->history_routed, 1, __ATOMIC_RELAXED);
		r->tried[r->n_tried++] = b;
		backend_unref(r->b);
		r->b = backend_ref(b);
		s->up = upstream_get(wk->base, b, r->pool->conf.connect_timeout,
		                     s->l->conf.mode == MODE_HTTP, &kind, err, sizeof(err));
		if (s->up == NULL) {
			if (kind ==
			    CONN_ERR_NOFD) { /* ours, not the node's: no verdict, no retry */
				STAT_INC(upstream_nofd);
				slog(LOGL_WARN, s, "backend %s: %s", b->name, err);
				if (s->l->conf.mode == MODE_TCP)
					session_close(s, "out of descriptors");
				else
					reply_error(s, 503, "out of descriptors");
				return;
			}
			STAT_INC(upstream_connect_error);
			slog(LOGL_WARN, s, "backend %s: %s", b->name, err);
			if (kind == CONN_ERR_REFUSED) {
				char why[ROUTE_REASON_MAX];
				connect_reason(why, sizeof(why), b, kind, 0);
				passive_failure(b, true, why);
			}
			if (r->n_tried > pool_retries(s) || !pick_other(r))
				break;
			(void)retry_allowed(s, RETRY_CONNECT); /* never refused: counted */
			continue;
		}
		__atomic_add_fetch(&b->active, 1, __ATOMIC_RELAXED);
		session_set_state(s, SS_CONNECTING, b->name);
		conn_setcb(s->up->c, &up_ops, s);
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
		session_close(s, "no backend");
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

/* ---- backend callbacks ------------------------------------------------------------------- */

/* The first bytes of an answer from the node: it is alive (its hold, if any, ends), the
 * time counts toward the pool's p99, and the response timeout applies from here. */
static void first_answer(struct session *s)
{
	struct request *r = s->r;
	struct backend *b = s->up->b;
	uint64_t now_us = clock_now_us();

	r->answered = true;
	__atomic_store_n(&b->last_answer_us, now_us, __ATOMIC_RELAXED);
	__atomic_store_n(&b->slow_until, 0, __ATOMIC_RELAXED);
	pool_latency_add(r->pool, now_us - r->sent_us, now_us / 1000);
}

/* After the first bytes of an answer: the response timeout replaces the hung-node bound
 * while the answer still comes (up_read_cb, once the bytes that came are handled: most
 * answers are whole by then, and their connection goes idle with its own deadline). */
static void answer_deadline(struct session *s)
{
	struct request *r = s->r;

	if (r->slow_ms < r->pool->conf.response_timeout)
		conn_set_timeouts(s->up->c, r->pool->conf.response_timeout,
		                  r->pool->conf.response_timeout);
}

/* The request waits on for its answer, REST_MS more at most (a timeout event stopped the
 * connection's reading). */
static void wait_on(struct session *s, uint64_t rest_ms)
{
	conn_set_timeouts(s->up->c, rest_ms, rest_ms);
	conn_enable_read(s->up->c);
}

/* No byte of answer within the hung-node bound (slow_factor x the pool's p99). A node that
 * answered anyone within the bound is alive and busy (this is a slow call): look again when
 * its silence could reach the bound, up to the response timeout. One silent for the whole
 * bound is suspect: it gets no new request for a while (a hold, ended by its next answer)
 * and a read goes to another node now (a retry under the budget). Silent for slow_signal,
 * it is reported to the health engine (a passive warning: the usual rules eject it only
 * when that lasts). True when handled. */
static bool slow_cb(struct session *s)
{
	struct request *r = s->r;
	struct backend *b = s->up->b;
	const struct conf_pool *pc = &r->pool->conf;
	uint64_t now_us = clock_now_us(), waited_ms = (now_us - r->sent_us) / 1000;
	uint64_t rest = pc->response_timeout, silent_ms = 0;
	uint64_t last_us = __atomic_load_n(&b->last_answer_us, __ATOMIC_RELAXED);

	if (last_us < now_us) /* another worker's answer may be newer than this now */
		silent_ms = (now_us - last_us) / 1000;
	char why[ROUTE_REASON_MAX];

	if (r->answered || r->slow_ms >= rest || waited_ms >= rest)
		return false; /* the response timeout itself */
	rest -= waited_ms;
	if (!r->req_body.done) {
		wait_on(s, rest);
		return true;
	}
	if (silent_ms < r->slow_ms) {
		uint64_t again = r->slow_ms - silent_ms;
		wait_on(s, again < rest ? again : rest);
		return true;
	}
	STAT_INC(req_slow);
	if (__atomic_exchange_n(&b->slow_until, now_us / 1000 + SLOW_HOLD_FACTOR * r->slow_ms,
	                        __ATOMIC_RELAXED) == 0)
		STAT_INC(backend_held);
	if (silent_ms >= pc->slow_signal) {
		snprintf(why, sizeof(why), "slow: no answer in %llums (pool p99 %llums)",
		         (unsigned long long)(silent_ms < waited_ms ? silent_ms : waited_ms),
		         (unsigned long long)(pool_latency_p99(r->pool, now_us / 1000) / 1000));
		slog(LOGL_WARN, s, "backend %s: %s", b->name, why);
		passive_warning(b, why);
	}
	if (!retry_may(s, RETRY_SLOW)) {
		wait_on(s, rest); /* no other node may take it: this one waits for its answer */
		return true;
	}
	__atomic_add_fetch(&b->failures, 1, __ATOMIC_RELAXED);
	up_drop(s, false);
	retry_go(s);
	return true;
}

static void up_read_cb(struct conn *bev, void *arg)
{
	struct session *s = arg;

	if (s->state == SS_TUNNEL) {
		tunnel_node_read(s);
		return;
	}
	if (s->state != SS_STREAMING)
		return;
	bool first = !s->r->answered;
	unsigned n = s->n_requests;
	if (first)
		first_answer(s);
	if (!s->r->resp_head_done)
		resp_head(s);
	else
		pump_resp_body(s);
	/* the same request still reads its answer from this connection (not done, retried
	 * elsewhere, or followed by the next request) */
	if (first && s->state == SS_STREAMING && s->n_requests == n && s->r != NULL &&
	    s->r->answered && s->up != NULL && s->up->c == bev)
		answer_deadline(s);
}

/* The backend drained what we queued: resume reading the client. */
static void up_write_cb(struct conn *bev, void *arg)
{
	struct session *s = arg;

	if (s->state == SS_CLOSING)
		return;
	conn_set_write_low(bev, 0);
	if (s->state == SS_TUNNEL) {
		tunnel_node_drained(s);
	} else if (s->state == SS_STREAMING && !s->r->req_body.done) {
		conn_enable_read(s->client);
		pump_req_body(s);
	}
}

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
	if (timeout && !r->resp_started && slow_cb(s))
		return;
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
		if (session_closed(s))
			return;
		r->resp_body.done = true;
		r->resp_keep_alive = false;
		resp_done(s);
		return;
	}
	if (s->up != NULL)
		__atomic_add_fetch(&s->up->b->failures, 1, __ATOMIC_RELAXED);
	reply_error(s, timeout ? 504 : 502,
	            timeout ? "backend timeout mid-response" : "backend closed mid-response");
}
