/* The status listener: /healthz for the load balancer in front, /metrics for Prometheus,
 * /api/status for the status page and its readers. Each answer is built at once from the
 * running state, on the loop; nothing here waits on anything. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <jansson.h>

#include "util.h"
#include "clock.h"
#include "fdlimit.h"
#include "health/check.h"
#include "health/pconn.h"
#include "inherit.h"
#include "log.h"
#include "metrics.h"
#include "health/poolstat.h"
#include "registry.h"
#include "stats.h"
#include "ops/incident.h"
#include "ops/redact.h"
#include "ops/status.h"
#include "ops/words.h"
#include "proxy/route.h"
#include "proxy/worker.h"

#define BACKLOG      128
#define OVERFLOW_MAX 16 /* past max_connections, this many told 503 at once; then accepts pause */
#define REASON_MAX   (2 * HEALTH_REASON_MAX) /* a reason with its addresses hidden */

#define TEXT    "text/plain; charset=utf-8"
#define PROM    "text/plain; version=0.0.4; charset=utf-8"
#define JSON_CT "application/json"

static struct evhttp *http;
static struct evhttp_bound_socket *bound;
static struct conf_addr bound_addr; /* where BOUND listens */

/* ---- connections: counted, each request under a deadline ------------------------------- *
 * evhttp (libevent 2.1) has no connection limit and only an inactivity timeout, which each
 * byte of a slowloris resets. Every connection gets its bufferevent from conn_bev (evhttp's
 * bevcb), which files it here; a zero timer then finds the evhttp_connection (the
 * bufferevent's callback argument) and sets a close callback that forgets it. The same timer
 * is then the deadline of the request awaited: its head and body must arrive within
 * header_timeout of the connection's start or of the previous answer. */
enum sconn_state {
	SC_NEW = 0, /* accepted: evhttp not yet seen through */
	SC_WAIT,    /* awaiting a request (the deadline runs) */
	SC_BUSY,    /* a request is being answered */
	SC_STATE_COUNT
};

struct sconn {
	struct bufferevent *bev;         /* a reference held while SC_NEW */
	struct evhttp_connection *evcon; /* from SC_WAIT on */
	struct event *timer;             /* SC_NEW: the claim; SC_WAIT: the deadline */
	enum sconn_state state;
	TAILQ_ENTRY(sconn) link;
};

static TAILQ_HEAD(sconn_list, sconn) sconns = TAILQ_HEAD_INITIALIZER(sconns);
static unsigned n_sconns;
static struct {
	uint64_t max_connections, header_timeout;
} lim = {256, 10000};
static struct event *accept_timer; /* resumes accepts paused by EMFILE or the cap */
static uint32_t accept_backoff;    /* ms */
static bool accept_paused;
static struct fdlimit_log accept_log;

static struct evconnlistener *status_evl(void)
{
	return bound != NULL ? evhttp_bound_socket_get_listener(bound) : NULL;
}

static void accept_resume(void)
{
	if (!accept_paused || n_sconns >= lim.max_connections + OVERFLOW_MAX)
		return;
	accept_paused = false;
	if (status_evl() != NULL && !inherit_hold)
		evconnlistener_enable(status_evl());
}

static void accept_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	accept_resume();
}

/* Status accepts stop for BACKOFF ms (0: until a connection closes). */
static void accept_pause(uint32_t backoff)
{
	if (status_evl() == NULL)
		return;
	accept_paused = true;
	evconnlistener_disable(status_evl());
	if (backoff == 0)
		return;
	if (accept_timer == NULL)
		accept_timer = evtimer_new(registry.base, accept_timer_cb, NULL);
	if (accept_timer != NULL) {
		struct timeval tv = {.tv_sec = 0, .tv_usec = (suseconds_t)backoff * 1000};
		evtimer_add(accept_timer, &tv);
	}
}

static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
	int err = errno;
	uint64_t told;

	STAT_INC(status_accept_error);
	accept_backoff = fdlimit_backoff_next(accept_backoff);
	if (fdlimit_log_due(&accept_log, clock_now(), &told))
		log_warn("status: accept: %s: accepts paused for %ums (%llu times since the last "
		         "message)",
		         strerror(err), accept_backoff, (unsigned long long)told);
	accept_pause(accept_backoff);
}

static bool lingering; /* status_linger runs the loop until the last one closes */

static void sconn_free(struct sconn *sc)
{
	TAILQ_REMOVE(&sconns, sc, link);
	n_sconns--;
	if (lingering && n_sconns == 0)
		event_base_loopexit(registry.base, NULL);
	if (sc->timer != NULL)
		event_free(sc->timer);
	if (sc->state == SC_NEW)
		bufferevent_decref(sc->bev);
	free(sc);
	accept_resume();
}

static void sconn_closed(struct evhttp_connection *evcon, void *arg)
{
	sconn_free(arg);
}

static void arm(struct sconn *sc, uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(sc->timer, &tv);
}

/* Answers on SC's socket itself (evhttp has not read a request to answer), then closes. */
static void sconn_refuse(struct sconn *sc, const char *status, const char *extra, const char *text)
{
	char buf[512];
	evutil_socket_t fd = bufferevent_getfd(sc->bev);
	int n = snprintf(buf, sizeof(buf),
	                 "HTTP/1.1 %s\r\nContent-Type: " TEXT "\r\nCache-Control: no-store\r\n"
	                 "%sConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
	                 status, extra, strlen(text), text);

	if (fd >= 0 && n > 0 && (size_t)n < sizeof(buf)) {
		char drop[4096]; /* what the client sent, so that the close is not a reset */
		for (int i = 0; i < 16 && recv(fd, drop, sizeof(drop), MSG_DONTWAIT) > 0; i++)
			;
		(void)!send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	evhttp_connection_free(sc->evcon); /* sconn_closed frees SC */
}

static void sconn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sconn *sc = arg;

	if (sc->state == SC_NEW) {
		bufferevent_data_cb r, w;
		bufferevent_event_cb e;
		void *cbarg = NULL;
		bufferevent_getcb(sc->bev, &r, &w, &e, &cbarg);
		if (e == NULL || cbarg == NULL) { /* evhttp let it go already */
			sconn_free(sc);
			return;
		}
		sc->evcon = cbarg;
		sc->state = SC_WAIT;
		bufferevent_decref(sc->bev); /* evhttp's alone now */
		evhttp_connection_set_closecb(sc->evcon, sconn_closed, sc);
		if (n_sconns > lim.max_connections) {
			STAT_INC(status_over);
			sconn_refuse(sc, "503 Service Unavailable", "Retry-After: 1\r\n",
			             "too many status clients, retry in a moment\n");
			return;
		}
		arm(sc, lim.header_timeout);
		return;
	}
	if (sc->state == SC_WAIT) {
		STAT_INC(status_timeout);
		sconn_refuse(sc, "408 Request Timeout", "", "request too slow (header_timeout)\n");
	}
}

/* evhttp answers a few errors itself (400 for a malformed head or one over max_header_size,
 * 413 for a body over max_body_size) with an HTML page of its own and no hook. Every status
 * connection's output buffer has this callback: a buffer holding exactly such a page (its
 * fixed tail and title line) is rewritten into nodegate's own answer before a byte goes
 * out. Anything else is left alone; the check reads at most the buffer's last 15 bytes. */
#define EVHTTP_ERR_TAIL "</BODY></HTML>\n"
#define EVHTTP_ERR_MARK "\r\n\r\n<HTML><HEAD>\n<TITLE>"
#define EVHTTP_ERR_MAX  1024 /* its pages are about 250 bytes */

static const char *own_error_text(int code)
{
	switch (code) {
	case 400:
		return "bad request: malformed, or a head over max_header_size\n";
	case 413:
		return "request body over max_body_size\n";
	default:
		return "request refused\n";
	}
}

static void own_error_page(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg)
{
	static bool busy; /* the rewrite itself calls back */
	size_t len = evbuffer_get_length(out), tl = sizeof(EVHTTP_ERR_TAIL) - 1;
	char tail[sizeof(EVHTTP_ERR_TAIL)], head[64], reason[40] = "";
	struct evbuffer_ptr p;
	int code = 0;

	if (busy || info->n_added == 0 || len < sizeof(head) || len > EVHTTP_ERR_MAX ||
	    evbuffer_ptr_set(out, &p, len - tl, EVBUFFER_PTR_SET) != 0 ||
	    evbuffer_copyout_from(out, &p, tail, tl) != (ev_ssize_t)tl ||
	    memcmp(tail, EVHTTP_ERR_TAIL, tl) != 0 ||
	    evbuffer_search(out, EVHTTP_ERR_MARK, strlen(EVHTTP_ERR_MARK), NULL).pos < 0 ||
	    evbuffer_copyout(out, head, sizeof(head) - 1) < 12)
		return;
	head[sizeof(head) - 1] = '\0';
	if (sscanf(head, "HTTP/1.%*d %d %39[^\r]", &code, reason) < 1 || code < 400 || code > 599)
		return;
	const char *text = own_error_text(code);
	busy = true;
	evbuffer_drain(out, len);
	evbuffer_add_printf(out,
	                    "HTTP/1.1 %d %s\r\nContent-Type: " TEXT
	                    "\r\nCache-Control: no-store\r\n"
	                    "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
	                    code, reason, strlen(text), text);
	busy = false;
}

static struct bufferevent *conn_bev(struct event_base *base, void *arg)
{
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	struct sconn *sc = bev != NULL ? calloc(1, sizeof(*sc)) : NULL;

	if (bev != NULL)
		evbuffer_add_cb(bufferevent_get_output(bev), own_error_page, NULL);
	if (sc == NULL || (sc->timer = evtimer_new(base, sconn_timer_cb, sc)) == NULL) {
		free(sc); /* uncounted: out of memory */
		return bev;
	}
	accept_backoff = 0; /* accepts work again */
	sc->bev = bev;
	bufferevent_incref(bev); /* valid until the claim, whatever evhttp does meanwhile */
	TAILQ_INSERT_TAIL(&sconns, sc, link);
	n_sconns++;
	arm(sc, 0);
	if (n_sconns >= lim.max_connections + OVERFLOW_MAX)
		accept_pause(0); /* resumed as connections close */
	return bev;
}

static struct sconn *sconn_of(struct evhttp_connection *evcon)
{
	struct sconn *sc;

	TAILQ_FOREACH(sc, &sconns, link)
	if (sc->evcon == evcon)
		return sc;
	return NULL;
}

static void request_done(struct evhttp_request *req, void *arg)
{
	struct sconn *sc = sconn_of(evhttp_request_get_connection(req));

	if (sc != NULL && sc->state == SC_BUSY) {
		sc->state = SC_WAIT;
		arm(sc, lim.header_timeout);
	}
}

/* A request arrived whole on its connection: its deadline is met. */
static void request_begin(struct evhttp_request *req)
{
	struct sconn *sc = sconn_of(evhttp_request_get_connection(req));

	if (sc == NULL || sc->state != SC_WAIT)
		return;
	evtimer_del(sc->timer);
	sc->state = SC_BUSY;
	evhttp_request_set_on_complete_cb(req, request_done, NULL);
}

/* ---- replies --------------------------------------------------------------------------- */

/* Sends what the request's output buffer holds; evhttp leaves the body out for HEAD. */
static void reply(struct evhttp_request *req, int code, const char *reason, const char *type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason, NULL);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	evbuffer_drain(out, evbuffer_get_length(out));
	if (evbuffer_add(out, text, strlen(text)) < 0) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	reply(req, code, reason, TEXT);
}

static void reply_oom(struct evhttp_request *req)
{
	log_warn("status: %s: out of memory", evhttp_request_get_uri(req));
	reply_text(req, HTTP_INTERNAL, "Internal Server Error", "out of memory\n");
}

/* ---- /healthz ---------------------------------------------------------------------------- */

/* 200 while some pool can serve a request; a draining nodegate (SIGTERM) says 503 so that
 * the load balancer in front stops sending before the listeners close. */
static void get_healthz(struct evhttp_request *req)
{
	if (registry.draining) {
		reply_text(req, HTTP_SERVUNAVAIL, "Service Unavailable", "draining\n");
		return;
	}
	for (size_t i = 0; i < registry.n_pools; i++)
		if (pool_can_pick(registry.pools[i], NULL, 0)) {
			reply_text(req, HTTP_OK, "OK", "ok\n");
			return;
		}
	reply_text(req, HTTP_SERVUNAVAIL, "Service Unavailable", "no pool can serve\n");
}

/* ---- /metrics --------------------------------------------------------------------------- */

static void family(struct metrics_out *o, const char *name, const char *type, const char *help)
{
	metrics_outf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(struct metrics_out *o, const char *name, const char *type, const char *help,
                   unsigned long long v)
{
	family(o, name, type, help);
	metrics_outf(o, "%s %llu\n", name, v);
}

static void write_global(struct metrics_out *o)
{
#define STAT_ROW(name, help) {#name, help, offsetof(struct stats, name)},
	static const struct {
		const char *name, *help;
		size_t at;
	} rows[] = {STATS_GLOBAL(STAT_ROW)};
#undef STAT_ROW
	char metric[128];
	struct stats sum;

	stats_sum(&sum);

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		snprintf(metric, sizeof(metric), "nodegate_%s_total", rows[i].name);
		sample(o, metric, "counter", rows[i].help,
		       (unsigned long long)*(const uint64_t *)((const char *)&sum + rows[i].at));
	}
	sample(o, "nodegate_connections", "gauge", "open client connections, all listeners",
	       (unsigned long long)workers_conns());
	family(o, "nodegate_worker_connections", "gauge",
	       "open client connections, by worker (data-plane thread; 0 runs on the main loop)");
	for (unsigned i = 0; i < n_workers; i++)
		metrics_outf(o, "nodegate_worker_connections{worker=\"%u\"} %u\n", i,
		             __atomic_load_n(&workers[i].conns, __ATOMIC_RELAXED));
	family(o, "nodegate_worker_accepted_total", "counter",
	       "client connections accepted, by worker");
	for (unsigned i = 0; i < n_workers; i++)
		metrics_outf(
		    o, "nodegate_worker_accepted_total{worker=\"%u\"} %llu\n", i,
		    (unsigned long long)__atomic_load_n(&workers[i].accepted, __ATOMIC_RELAXED));
	sample(o, "nodegate_probes_total", "counter", "health and freshness probes done",
	       (unsigned long long)check_probes_total());
	sample(o, "nodegate_probes_in_flight", "gauge", "probes waiting for an answer",
	       (unsigned long long)check_in_flight());
	sample(o, "nodegate_probes_deferred_total", "counter",
	       "probes held back because the cap of probes in flight was reached",
	       (unsigned long long)check_deferred_total());
	sample(o, "nodegate_probe_errors_total", "counter",
	       "probes that failed on nodegate's side (no socket, no memory)",
	       (unsigned long long)check_errors_total());
	sample(o, "nodegate_probe_nofd_total", "counter",
	       "probes that found no descriptor on nodegate's side: no verdict, tried again",
	       (unsigned long long)check_nofd_total());
	struct pconn_stats pst;
	pconn_get_stats(&pst);
	sample(o, "nodegate_probe_connections_total", "counter",
	       "connections opened by probes (TCP, and TLS resumed when the node allows it)",
	       (unsigned long long)pst.opened);
	sample(o, "nodegate_probe_reused_total", "counter",
	       "probes answered on a connection kept open from the probe before",
	       (unsigned long long)pst.reused);
	sample(o, "nodegate_probe_reuse_failed_total", "counter",
	       "kept probe connections found closed at the next probe (then opened afresh)",
	       (unsigned long long)pst.reuse_failed);
	sample(o, "nodegate_probe_idle_closed_total", "counter",
	       "kept probe connections that the node closed between probes",
	       (unsigned long long)pst.idle_closed);
	sample(o, "nodegate_probe_connections_idle", "gauge",
	       "probe connections kept open between probes (one per probe at most)",
	       (unsigned long long)pst.idle);
	family(o, "nodegate_probe_tls_handshakes_total", "counter",
	       "TLS handshakes completed by probes, by version and session (full: the certificate "
	       "checked when verified; resumed: no certificate, and on 1.2 no key exchange)");
	for (int v = 0; v < 2; v++)
		for (int r = 0; r < 2; r++)
			metrics_outf(
			    o,
			    "nodegate_probe_tls_handshakes_total{version=\"%s\",session=\"%s\"} "
			    "%llu\n",
			    v ? "1.3" : "1.2", r ? "resumed" : "full",
			    (unsigned long long)pst.tls_handshakes[v][r]);
	sample(
	    o, "nodegate_probe_tls12_fallbacks_total", "counter",
	    "probes (check_tls_max_version = auto) whose TLS 1.2 handshake failed, retried on 1.3",
	    (unsigned long long)pst.tls12_fallbacks);
	sample(o, "nodegate_probe_tls12_gnutls_handshakes_total", "counter",
	       "TLS 1.2 probe handshakes (full or resumed) made with GnuTLS (check_tls_library = "
	       "gnutls); the others with OpenSSL",
	       (unsigned long long)pst.tls12_gnutls);
}

/* "NAME{pool="P",backend="B"": the caller closes the label set. */
static void backend_series(struct metrics_out *o, const char *name, const struct pool *p,
                           const struct backend *b)
{
	metrics_outf(o, "%s{pool=\"", name);
	metrics_out_label(o, p->name);
	metrics_outf(o, "\",backend=\"");
	metrics_out_label(o, b->name);
	metrics_outf(o, "\"");
}

/* A value of a backend for a family; false when it has none (no sample). */
typedef bool (*backend_value_fn)(const struct backend *b, uint64_t *v);

static bool b_up(const struct backend *b, uint64_t *v)
{
	*v = b->node->routable;
	return true;
}

static bool b_weight(const struct backend *b, uint64_t *v)
{
	*v = b->node->weight;
	return true;
}

static bool b_active(const struct backend *b, uint64_t *v)
{
	*v = __atomic_load_n(&b->active, __ATOMIC_RELAXED);
	return true;
}

static bool b_idle(const struct backend *b, uint64_t *v)
{
	*v = backend_n_idle(b);
	return true;
}

static bool b_requests(const struct backend *b, uint64_t *v)
{
	*v = __atomic_load_n(&b->requests, __ATOMIC_RELAXED);
	return true;
}

static bool b_failures(const struct backend *b, uint64_t *v)
{
	*v = __atomic_load_n(&b->failures, __ATOMIC_RELAXED);
	return true;
}

static bool b_transitions(const struct backend *b, uint64_t *v)
{
	*v = b->node->transitions;
	return true;
}

static bool b_seq(const struct backend *b, uint64_t *v)
{
	*v = b->node->metrics.validated_seq;
	return b->node->metrics.has_seq;
}

static const struct {
	const char *name, *type, *help;
	backend_value_fn value;
} backend_families[] = {
    {"nodegate_backend_up", "gauge", "1 when the backend is in rotation, else 0", b_up},
    {"nodegate_backend_weight", "gauge", "effective weight (slow start ramps it up)", b_weight},
    {"nodegate_backend_active_connections", "gauge",
     "backend connections busy with a request or a tunnel", b_active},
    {"nodegate_backend_idle_connections", "gauge", "pooled keep-alive backend connections", b_idle},
    {"nodegate_backend_requests_total", "counter", "requests sent to the backend", b_requests},
    {"nodegate_backend_failures_total", "counter",
     "connect failures, resets, timeouts and bad responses of the backend", b_failures},
    {"nodegate_backend_transitions_total", "counter", "rotation state changes of the backend",
     b_transitions},
    {"nodegate_backend_validated_ledger_seq", "gauge",
     "validated ledger sequence of the last freshness probe", b_seq},
};

static void write_backend_family(struct metrics_out *o, size_t f)
{
	uint64_t v;

	family(o, backend_families[f].name, backend_families[f].type, backend_families[f].help);
	for (size_t i = 0; i < registry.n_pools; i++) {
		const struct pool *p = registry.pools[i];

		for (size_t j = 0; j < p->n_members; j++) {
			if (!backend_families[f].value(p->members[j], &v))
				continue;
			backend_series(o, backend_families[f].name, p, p->members[j]);
			metrics_outf(o, "} %llu\n", (unsigned long long)v);
		}
	}
}

/* One series per state of NAMES, 1 for the backend's current one (ADMIN: admin state). */
static void write_backend_states(struct metrics_out *o, const char *name, const char *help,
                                 const char *const *names, size_t n, bool admin)
{
	family(o, name, "gauge", help);
	for (size_t i = 0; i < registry.n_pools; i++) {
		const struct pool *p = registry.pools[i];

		for (size_t j = 0; j < p->n_members; j++) {
			const struct health *hs = &p->members[j]->node->health;
			size_t cur = admin ? (size_t)hs->admin : (size_t)hs->state;

			for (size_t s = 0; s < n; s++) {
				backend_series(o, name, p, p->members[j]);
				metrics_outf(o, ",state=\"%s\"} %d\n", names[s], s == cur);
			}
		}
	}
}

static void write_pools(struct metrics_out *o)
{
	family(o, "nodegate_pool_panic", "gauge",
	       "1 while fewer than min_up backends are in rotation");
	for (size_t i = 0; i < registry.n_pools; i++) {
		metrics_outf(o, "nodegate_pool_panic{pool=\"");
		metrics_out_label(o, registry.pools[i]->name);
		metrics_outf(o, "\"} %d\n", poolstat_in_panic(registry.pools[i]));
	}
	family(o, "nodegate_pool_status", "gauge",
	       "1 for the pool's status as the status page shows it, 0 for the others");
	for (size_t i = 0; i < registry.n_pools; i++) {
		enum pool_status cur = poolstat_status(registry.pools[i]);

		for (size_t s = 0; s < PS_COUNT; s++) {
			metrics_outf(o, "nodegate_pool_status{pool=\"");
			metrics_out_label(o, registry.pools[i]->name);
			metrics_outf(o, "\",status=\"%s\"} %d\n", pool_status_names[s], s == cur);
		}
	}
}

/* The retries of each pool by reason, and those its retry budget refused. */
static void write_retries(struct metrics_out *o)
{
	family(o, "nodegate_retries_total", "counter",
	       "requests sent to another backend, by pool and reason (connect: never reached "
	       "a node)");
	for (size_t i = 0; i < registry.n_pools; i++) {
		const struct pool *p = registry.pools[i];

		for (size_t r = 0; r < RETRY_REASON_COUNT; r++) {
			metrics_outf(o, "nodegate_retries_total{pool=\"");
			metrics_out_label(o, p->name);
			metrics_outf(o, "\",reason=\"%s\"} %llu\n", retry_reason_names[r],
			             (unsigned long long)__atomic_load_n(&p->budget.retries[r],
			                                                 __ATOMIC_RELAXED));
		}
	}
}

/* Per-pool counters (struct pool fields, carried over reloads). */
static const struct {
	const char *name, *help;
	size_t off;
} pool_counters[] = {
    {"nodegate_history_routed_total",
     "requests sent to a node known to hold the ledgers they name (history-aware routing)",
     offsetof(struct pool, history_routed)},
    {"nodegate_lgrnotfound_retries_total",
     "lgrNotFound answers retried on a node known to hold the ledgers",
     offsetof(struct pool, budget.retries[RETRY_HISTORY])},
    {"nodegate_retry_budget_exhausted_total",
     "retries refused because the pool's retry budget was spent (the node's answer went to "
     "the client)",
     offsetof(struct pool, budget.exhausted)},
};

static void write_pool_counters(struct metrics_out *o)
{
	for (size_t c = 0; c < ARRAY_SIZE(pool_counters); c++) {
		family(o, pool_counters[c].name, "counter", pool_counters[c].help);
		for (size_t i = 0; i < registry.n_pools; i++) {
			const char *p = (const char *)registry.pools[i];
			metrics_outf(o, "%s{pool=\"", pool_counters[c].name);
			metrics_out_label(o, registry.pools[i]->name);
			metrics_outf(
			    o, "\"} %llu\n",
			    (unsigned long long)__atomic_load_n(
			        (const uint64_t *)(p + pool_counters[c].off), __ATOMIC_RELAXED));
		}
	}
}

/* "NAME{listener="L"": the caller closes the label set. */
static void listener_series(struct metrics_out *o, const char *name, const struct listener *l)
{
	metrics_outf(o, "%s{listener=\"", name);
	metrics_out_label(o, l->name);
	metrics_outf(o, "\"");
}

/* Per-client limits of each listener (limit.c): refusals by reason, the table's size and
 * how many clients it forgot to make room. */
static void write_client_limits(struct metrics_out *o)
{
	static const char limited[] = "nodegate_limited_total",
	                  tracked[] = "nodegate_limit_tracked_clients",
	                  evictions[] = "nodegate_limit_evictions_total";

	family(o, limited, "counter",
	       "requests and connections refused (429) by max_conns_per_ip or rate_per_ip");
	for (size_t i = 0; i < registry.n_listeners; i++)
		for (size_t r = 0; r < LIMIT_REASON_COUNT; r++) {
			listener_series(o, limited, registry.listeners[i]);
			metrics_outf(
			    o, ",reason=\"%s\"} %llu\n", limit_reason_names[r],
			    (unsigned long long)limit_table_counters(registry.listeners[i]->clients)
			        .limited[r]);
		}
	family(o, tracked, "gauge", "client addresses remembered for the per-address limits");
	for (size_t i = 0; i < registry.n_listeners; i++) {
		listener_series(o, tracked, registry.listeners[i]);
		metrics_outf(o, "} %zu\n",
		             limit_table_counters(registry.listeners[i]->clients).tracked);
	}
	family(o, evictions, "counter",
	       "client addresses forgotten to stay within max_tracked_clients");
	for (size_t i = 0; i < registry.n_listeners; i++) {
		listener_series(o, evictions, registry.listeners[i]);
		metrics_outf(
		    o, "} %llu\n",
		    (unsigned long long)limit_table_counters(registry.listeners[i]->clients)
		        .evictions);
	}
}

static status_metrics_fn writers[STATUS_MAX_METRICS];
static size_t n_writers;

int status_metrics(status_metrics_fn fn)
{
	for (size_t i = 0; i < n_writers; i++)
		if (writers[i] == fn)
			return 0;
	if (n_writers == STATUS_MAX_METRICS)
		return -1;
	writers[n_writers++] = fn;
	return 0;
}

static void get_metrics(struct evhttp_request *req)
{
	struct metrics_out o = {.b = evhttp_request_get_output_buffer(req)};

	write_global(&o);
	write_backend_states(&o, "nodegate_backend_state", "1 for the backend's health state",
	                     health_state_names, HS_COUNT, false);
	write_backend_states(&o, "nodegate_backend_admin_state", "1 for the backend's admin state",
	                     admin_state_names, ADMIN_COUNT, true);
	for (size_t f = 0; f < ARRAY_SIZE(backend_families); f++)
		write_backend_family(&o, f);
	write_pools(&o);
	write_retries(&o);
	write_pool_counters(&o);
	write_client_limits(&o);
	for (size_t i = 0; i < n_writers; i++)
		writers[i](&o); /* nodegate_alerts_total (alert.c), nodegate_hooks_total (hook.c) */
	if (metrics_write(o.b) < 0 || o.rc < 0) {
		reply_oom(req);
		return;
	}
	reply(req, HTTP_OK, "OK", PROM);
}

/* ---- /api/status ---------------------------------------------------------------------- */

/* Now on the monitor's clock and on the wall clock, to turn one into the other. */
struct clocks {
	uint64_t mono_ms;
	int64_t wall_ms;
};

static void clocks_now(struct clocks *c)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	c->mono_ms = clock_now();
	c->wall_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* MONO_MS (clock_now's clock) as "2026-01-02T03:04:05.678Z". */
static void iso_time(const struct clocks *c, uint64_t mono_ms, char *buf, size_t len)
{
	incident_iso(c->wall_ms - ((int64_t)c->mono_ms - (int64_t)mono_ms), buf, len);
}

static json_t *backend_json(const struct backend *b, const struct clocks *now, bool details)
{
	char since[64], addr[300];
	json_t *j;

	/* the health engine's verdict and reason stay with ops (GET /api/backends, alerts) */
	iso_time(now, b->node->health.since, since, sizeof(since));
	j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:b}", "name", b->name, "state",
	              health_state_names[b->node->health.state], "admin",
	              admin_state_names[b->node->health.admin], "since", since, "weight",
	              (json_int_t)b->node->weight, "routable", b->node->routable);
	if (j == NULL || !details)
		return j;
	conf_addr_format(&b->conf.address, addr, sizeof(addr));
	if (json_object_set_new(j, "address", json_string(addr)) < 0 ||
	    (b->node->ledgers_known &&
	     json_object_set_new(j, "complete_ledgers",
	                         redact_json_text(b->node->metrics.complete_ledgers)) < 0)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static json_t *pool_json(const struct pool *p, const struct clocks *now, bool details)
{
	json_t *backends = json_array();

	for (size_t i = 0; i < p->n_members; i++)
		if (json_array_append_new(backends, backend_json(p->members[i], now, details)) <
		    0) {
			json_decref(backends);
			return NULL;
		}
	struct pool_view v;

	poolstat_fleet_view(p, &v);
	int up = incident_uptime_bp(p->name, incident_record_start(), clock_wall());

	/* uptime_90d: percent over 90 days from the incident history, maintenance excluded */
	return json_pack("{s:s, s:s, s:b, s:I, s:I, s:o, s:o}", "name", p->name, "status",
	                 pool_status_names[poolstat_status_of(&v)], "panic", poolstat_in_panic(p),
	                 "up", (json_int_t)v.up, "min_up", (json_int_t)p->conf.min_up, "uptime_90d",
	                 up >= 0 ? json_real(up / 100.0) : json_null(), "backends", backends);
}

static int dump_cb(const char *buf, size_t size, void *data)
{
	return evbuffer_add(data, buf, size);
}

static void add_incident(const struct incident *inc, void *arg)
{
	json_array_append_new(arg, incident_json(inc));
}

int status_json(struct evbuffer *out)
{
	const struct conf_status *st = &registry.conf->status;
	json_t *pools = json_array(), *root;
	struct clocks now;
	char at[64];

	clocks_now(&now);
	iso_time(&now, now.mono_ms, at, sizeof(at));
	for (size_t i = 0; i < registry.n_pools; i++)
		if (json_array_append_new(pools, pool_json(registry.pools[i], &now,
		                                           st->public_backend_details)) < 0) {
			json_decref(pools);
			return -1;
		}
	json_t *incidents = json_array();
	if (incidents != NULL)
		incident_foreach(STATUS_INCIDENTS, add_incident, incidents);
	root = json_pack(
	    "{s:o, s:s, s:s, s:o, s:o*}", "title", redact_json_text(st->title ? st->title : ""),
	    "language",
	    words_lang_names[st->language >= 0 && st->language < WL_COUNT ? st->language : WL_EN],
	    "time", at, "pools", pools, "incidents", incidents);
	if (root == NULL ||
	    json_dump_callback(root, dump_cb, out, JSON_COMPACT | JSON_REAL_PRECISION(6)) < 0 ||
	    evbuffer_add(out, "\n", 1) < 0) {
		json_decref(root);
		return -1;
	}
	json_decref(root);
	return 0;
}

static void get_api_status(struct evhttp_request *req)
{
	if (status_json(evhttp_request_get_output_buffer(req)) < 0) {
		reply_oom(req);
		return;
	}
	reply(req, HTTP_OK, "OK", JSON_CT);
}

/* ---- the listener ----------------------------------------------------------------------- */

static const struct {
	const char *path;
	void (*get)(struct evhttp_request *req);
} routes[] = {
    {"/healthz", get_healthz},
    {"/metrics", get_metrics},
    {"/api/status", get_api_status},
};

static struct {
	const char *prefix;
	status_handler h;
	void *arg;
} extra[STATUS_MAX_ROUTES];
static size_t n_extra;

int status_route(const char *prefix, status_handler h, void *arg)
{
	if (n_extra >= STATUS_MAX_ROUTES)
		return -1;
	extra[n_extra].prefix = prefix;
	extra[n_extra].h = h;
	extra[n_extra].arg = arg;
	n_extra++;
	return 0;
}

/* The registered route with the longest prefix that PATH equals or lies under. */
static bool route_extra(struct evhttp_request *req, const char *path)
{
	size_t best = SIZE_MAX, best_len = 0;

	for (size_t i = 0; i < n_extra; i++) {
		size_t n = strlen(extra[i].prefix);
		if (strncmp(path, extra[i].prefix, n) == 0 &&
		    (path[n] == '\0' || path[n] == '/' || extra[i].prefix[n - 1] == '/') &&
		    n >= best_len) {
			best = i;
			best_len = n;
		}
	}
	if (best == SIZE_MAX)
		return false;
	extra[best].h(req, path, extra[best].arg);
	return true;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);

	request_begin(req);
	for (size_t i = 0; path != NULL && i < ARRAY_SIZE(routes); i++) {
		if (strcmp(path, routes[i].path) != 0)
			continue;
		if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
			                  "GET, HEAD");
			reply_text(req, HTTP_BADMETHOD, "Method Not Allowed",
			           "method not allowed (expected GET or HEAD)\n");
			return;
		}
		routes[i].get(req);
		return;
	}
	if (path != NULL && route_extra(req, path))
		return;
	reply_text(req, HTTP_NOTFOUND, "Not Found", "not found\n");
}

/* The limits of C's [status] (a reload applies them to new requests). */
static void http_limits(const struct conf *c)
{
	uint64_t t = c->status.header_timeout;
	struct timeval tv = {.tv_sec = (time_t)(t / 1000),
	                     .tv_usec = (suseconds_t)(t % 1000) * 1000};

	lim.max_connections = c->status.max_connections;
	lim.header_timeout = t;
	evhttp_set_timeout_tv(http, &tv); /* inactivity, answers included */
	evhttp_set_max_headers_size(http, (ev_ssize_t)c->status.max_header_size);
	evhttp_set_max_body_size(http, (ev_ssize_t)c->status.max_body_size);
}

static int WUR http_init(void)
{
	if (http != NULL)
		return 0;
	http = evhttp_new(registry.base);
	if (http == NULL)
		return -1;
	/* every method reaches on_request, which answers 405 (evhttp itself would say 501) */
	evhttp_set_allowed_methods(http, 0xffff);
	evhttp_set_gencb(http, on_request, NULL);
	evhttp_set_bevcb(http, conn_bev, NULL);
	return 0;
}

static bool same_addr(const struct conf_addr *a, const struct conf_addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

int status_apply(const struct conf *c, char *err, size_t errlen)
{
	const struct conf_addr *a = &c->status.bind;
	struct evhttp_bound_socket *nb;
	struct evconnlistener *evl;
	char where[300];

	if (!c->status.enabled) {
		if (http != NULL)
			log_info("status: closed ([status] removed)");
		status_stop();
		return 0;
	}
	if (http != NULL)
		http_limits(c);
	if (bound != NULL && same_addr(&bound_addr, a))
		return 0;
	conf_addr_format(a, where, sizeof(where));
	if (http_init() < 0) {
		snprintf(err, errlen, "%s:%d: [status]: out of memory", c->path, c->status.line);
		return -1;
	}
	http_limits(c);
	int fd, got = inherit_take(INHERIT_STATUS, (const struct sockaddr *)&a->ss,
	                           (socklen_t)a->len, &fd, 1, where, sizeof(where));
	if (got < 0) {
		snprintf(err, errlen, "%s:%d: [status] bind: %s", c->path, c->status.line, where);
		return -1;
	}
	if (got == 1) { /* handed over by the nodegate before (SIGUSR2 upgrade) */
		evutil_make_socket_nonblocking(fd);
		evl = evconnlistener_new(registry.base, NULL, NULL,
		                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
		                             (inherit_hold ? LEV_OPT_DISABLED : 0),
		                         BACKLOG, fd);
		if (evl == NULL)
			close(fd);
	} else {
		evl = evconnlistener_new_bind(
		    registry.base, NULL, NULL,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, BACKLOG,
		    (const struct sockaddr *)&a->ss, (int)a->len);
	}
	nb = evl != NULL ? evhttp_bind_listener(http, evl) : NULL;
	if (nb == NULL) {
		snprintf(err, errlen, "%s:%d: [status] bind: cannot bind %s: %s", c->path,
		         c->status.line, where, evl != NULL ? "out of memory" : strerror(errno));
		if (evl != NULL)
			evconnlistener_free(evl);
		if (bound == NULL)
			status_stop(); /* nothing served before either */
		return -1;
	}
	if (bound != NULL)
		evhttp_del_accept_socket(http, bound);
	bound = nb;
	bound_addr = *a;
	evconnlistener_set_error_cb(evl, accept_error_cb);
	accept_paused = false;
	log_info("status: listening on %s", where);
	return 0;
}

int status_listen_fd(void)
{
	return bound != NULL ? evhttp_bound_socket_get_fd(bound) : -1;
}

void status_start_accepting(void)
{
	if (bound != NULL)
		evconnlistener_enable(evhttp_bound_socket_get_listener(bound));
}

void status_stop_accepting(void)
{
	if (http != NULL && bound != NULL)
		evhttp_del_accept_socket(http, bound); /* the connections open go on */
	bound = NULL;
	memset(&bound_addr, 0, sizeof(bound_addr));
}

static void linger_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(registry.base, NULL);
}

void status_linger(uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	struct event *timer;

	status_stop_accepting();
	if (http == NULL || n_sconns == 0 || ms == 0 ||
	    (timer = evtimer_new(registry.base, linger_cb, NULL)) == NULL)
		return;
	lingering = true;
	evtimer_add(timer, &tv);
	event_base_dispatch(registry.base);
	lingering = false;
	event_free(timer);
}

void status_stop(void)
{
	struct evhttp *h = http;

	if (accept_timer != NULL)
		event_free(accept_timer);
	accept_timer = NULL;
	http = NULL;
	bound = NULL; /* freed by evhttp_free, before the connections whose closecbs run */
	accept_paused = false;
	memset(&bound_addr, 0, sizeof(bound_addr));
	if (h != NULL)
		evhttp_free(h);       /* its bound sockets and connections with it */
	while (!TAILQ_EMPTY(&sconns)) /* claims not made yet */
		sconn_free(TAILQ_FIRST(&sconns));
}
