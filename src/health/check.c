/* The probe engine. Each backend has one timer per probe kind; a due probe starts its
 * probe connection (pconn.c: nodegate's own connection code, shared TLS contexts, session
 * resumption, keep-alive), and every finished probe is judged (health.c) and handed to the
 * result callback.
 *
 *   probe_due ──► probe_launch ──► pconn_start
 *                                        │  pconn.c: connect or reuse, request, answer
 *   pconn's callback ──► probe_pconn_done ──► probe_done ──► judge ──► result callback
 *                                                        ──► schedule (next probe) */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "clock.h"
#include "fdlimit.h"
#include "proxy/backend.h"
#include "health/check.h"
#include "health/node.h"
#include "health/pconn.h"
#include "log.h"

#define CHECK_BODY_MAX    (64 * 1024) /* a larger answer is critical */
#define CHECK_MAX_FLIGHT  512         /* probes in flight at once, all backends together */
#define CHECK_MIN_PERIOD  10          /* ms: floor of any probe period */
#define CHECK_TIMEOUT_DEF 2000        /* ms: when check_timeout is 0 (no limit) */
#define CHECK_REQUEST_MAX 2048        /* the request's head and body */
#define CHECK_USER_AGENT  "nodegate-check"

static const char freshness_request[] = "{\"method\":\"server_info\",\"params\":[{}]}";

/* One probe kind of one backend. Its probe connection is made by check_start and kept:
 * it holds the node's TLS session, and the connection itself when the node keeps it open. */
struct probe {
	struct check_state *cs;
	enum check_kind kind;
	struct pconn *pc;             /* NULL: this kind is off for the backend */
	struct event *timer;          /* the next probe */
	bool running;                 /* started, not ended */
	bool waiting;                 /* due, but CHECK_MAX_FLIGHT probes are in flight */
	TAILQ_ENTRY(probe) wait_link; /* in G.waiting */
	uint64_t started_us;          /* when it started */
	bool tls;                     /* over TLS (or a TLS handshake for tcp) */
	char target[64];              /* numeric "IP:PORT", for reasons */
};

struct check_state {
	struct backend *b;
	struct probe p[CK_COUNT];
	unsigned in_cb; /* the result callback runs for this backend */
	bool dead;      /* stopped inside the callback: freed when it returns */
	unsigned epoch; /* bumped by every start and stop */
	LIST_ENTRY(check_state) link;
};

TAILQ_HEAD(probe_queue, probe);
LIST_HEAD(check_list, check_state);

static struct {
	struct event_base *base;
	bool on; /* check_init done */
	check_result_cb cb;
	void *cb_arg;
	check_best_seq_fn best_seq;
	struct check_list all;      /* every started backend */
	struct probe_queue waiting; /* due probes held back by the cap, oldest first */
	unsigned in_flight;
	uint64_t probes_total;   /* probes finished and reported */
	uint64_t deferred_total; /* probes delayed by CHECK_MAX_FLIGHT */
	uint64_t errors_total;   /* probes failed on our side (socket, memory) */
	uint64_t nofd_total;     /* probes that found no descriptor: no observation */
	struct fdlimit_log nofd_log;
	uint64_t rng; /* splitmix64 state for the first-probe spread */
} G;

const char *const check_kind_names[CK_COUNT] = {
    [CK_HEALTH] = "health",
    [CK_FRESHNESS] = "freshness",
};

static uint64_t rng_next(void)
{
	uint64_t z = (G.rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static struct timeval ms_tv(uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	return tv;
}

/* ---- one probe ------------------------------------------------------------------------ */

static void launch_waiting(void);

static uint64_t probe_timeout(const struct probe *p)
{
	uint64_t ms = p->cs->b->conf.health.check_timeout;

	return ms != 0 ? ms : CHECK_TIMEOUT_DEF;
}

static void probe_launch(struct probe *p)
{
	p->started_us = clock_now_us();
	p->running = true;
	G.in_flight++;
	pconn_start(p->pc, probe_timeout(p)); /* its callback comes from the loop */
}

/* The probe's timer: start now, or queue behind the global cap. */
static void probe_due(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	if (p->running || p->waiting)
		return;
	if (G.in_flight >= CHECK_MAX_FLIGHT) {
		p->waiting = true;
		TAILQ_INSERT_TAIL(&G.waiting, p, wait_link);
		G.deferred_total++;
		return;
	}
	probe_launch(p);
}

static void launch_waiting(void)
{
	struct probe *p;

	while (G.in_flight < CHECK_MAX_FLIGHT && (p = TAILQ_FIRST(&G.waiting)) != NULL) {
		TAILQ_REMOVE(&G.waiting, p, wait_link);
		p->waiting = false;
		probe_launch(p);
	}
}

/* Aborts P's probe in flight or in the queue and its timer; no callback. */
static void probe_halt(struct probe *p)
{
	if (p->timer != NULL)
		evtimer_del(p->timer);
	if (p->waiting) {
		TAILQ_REMOVE(&G.waiting, p, wait_link);
		p->waiting = false;
	}
	if (p->running) {
		p->running = false;
		G.in_flight--;
	}
	if (p->pc != NULL)
		pconn_stop(p->pc);
}

/* Period until P's next probe, read after the callback so that a backend that just left
 * rotation is probed at check_interval_down. */
static uint64_t probe_period(const struct probe *p)
{
	const struct backend *b = p->cs->b;
	uint64_t ms = p->kind == CK_FRESHNESS ? b->conf.health.freshness_interval
	                                      : health_interval(&b->node->health, &b->conf.health);

	return ms < CHECK_MIN_PERIOD ? CHECK_MIN_PERIOD : ms;
}

static void schedule(struct probe *p, uint64_t ms)
{
	struct timeval tv = ms_tv(ms);

	evtimer_add(p->timer, &tv);
}

/* A probe that got no status: refused, timeout, TLS, or another transport failure. The
 * reason of a refused connection starts with "refused" (rotation ejects on it at once). */
static void transport_failure(const struct probe *p, const struct pconn_result *r,
                              struct observation *o)
{
	o->verdict = V_CRITICAL;
	o->unreachable = true;
	switch (r->status) {
	case PCONN_REFUSED:
		snprintf(o->reason, sizeof(o->reason), HEALTH_REASON_REFUSED ": connect to %s",
		         p->target);
		return;
	case PCONN_TIMEOUT: {
		const char *stage = r->connected ? "no answer from"
		                    : p->tls     ? "connecting (TCP and TLS) to"
		                                 : "connecting to";
		snprintf(o->reason, sizeof(o->reason), "timeout after %llums: %s %s",
		         (unsigned long long)probe_timeout(p), stage, p->target);
		return;
	}
	case PCONN_TLS:
		snprintf(o->reason, sizeof(o->reason), "tls: %.150s", r->detail);
		return;
	default:
		snprintf(o->reason, sizeof(o->reason), "%s: %.150s", pconn_status_names[r->status],
		         r->detail);
	}
}

static void judge(const struct probe *p, const struct pconn_result *r, struct observation *o,
                  struct rippled_metrics *m)
{
	const struct backend *b = p->cs->b;
	const struct conf_health *h = &b->conf.health;
	const char *body = r->body;
	int status = r->http_status;

	if (p->kind == CK_FRESHNESS) {
		m->ledger_age_s = -1;
		m->network_id = -1;
	}
	if (r->status == PCONN_TOO_LARGE) {
		o->verdict = V_CRITICAL;
		snprintf(o->reason, sizeof(o->reason), "body too large (over %d bytes)",
		         CHECK_BODY_MAX);
	} else if (r->status != PCONN_OK) {
		transport_failure(p, r, o);
	} else if (p->kind == CK_FRESHNESS) {
		uint64_t best = G.best_seq != NULL ? G.best_seq(b) : 0;
		health_judge_server_info(status, body, r->len, h, best, o, m);
	} else if (h->check == CHECK_RIPPLED) {
		health_judge_rippled(status, body, r->len, h, o);
	} else if (h->check == CHECK_HTTP) {
		health_judge_http(status, body, r->len, h, o);
	} else {
		o->verdict = V_HEALTHY;
		snprintf(o->reason, sizeof(o->reason), "connected to %s", p->target);
	}
}

static void state_free(struct check_state *cs);

/* A finished transfer: judge it, free the slot, report, and schedule the next probe. The
 * callback may stop or restart this backend (or others); nothing of the state is touched
 * after it unless the state is still the one it was. */
static void probe_done(struct probe *p, const struct pconn_result *r)
{
	struct check_state *cs = p->cs;
	struct observation o;
	struct rippled_metrics m;
	uint64_t duration = clock_now_us() - p->started_us;

	memset(&o, 0, sizeof(o));
	memset(&m, 0, sizeof(m));
	p->running = false;
	G.in_flight--;
	G.probes_total++;
	if (r->status == PCONN_ERROR)
		G.errors_total++;
	if (r->status == PCONN_NOFD) { /* ours, not the node's: no verdict, tried again */
		uint64_t told;
		G.nofd_total++;
		if (fdlimit_log_due(&G.nofd_log, clock_now(), &told))
			log_warn("backend %s: probe: %s: no verdict (%llu probes since the last "
			         "message)",
			         cs->b->name, r->detail, (unsigned long long)told);
		launch_waiting();
		schedule(p, probe_period(p));
		return;
	}
	judge(p, r, &o, &m);
	log_debug("backend %s: %s probe: %s (%s) in %lluus", cs->b->name, check_kind_names[p->kind],
	          verdict_names[o.verdict], o.reason, (unsigned long long)duration);
	launch_waiting();

	unsigned epoch = cs->epoch;
	cs->in_cb++;
	G.cb(cs->b, p->kind, &o, &m, duration, G.cb_arg);
	cs->in_cb--;
	if (cs->dead) {
		if (cs->in_cb == 0)
			state_free(cs);
		return;
	}
	if (cs->epoch == epoch)
		schedule(p, probe_period(p));
}

/* pconn: P's probe ended. */
static void probe_pconn_done(struct pconn *pc, const struct pconn_result *r, void *arg)
{
	struct probe *p = arg;

	if (p->running)
		probe_done(p, r);
}

/* ---- configuring a backend's probes --------------------------------------------------- */

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* P's request into BUF: GET PATH, or the freshness POST; Host is NAME:PORT for a name,
 * else the numeric target. Connection: close unless KEEPALIVE. */
static int probe_request(const struct probe *p, const struct conf_addr *a, const char *name,
                         const char *path, bool keepalive, char *buf, size_t len)
{
	bool fresh = p->kind == CK_FRESHNESS;
	char host[300];
	int n;

	if (name != NULL && name[0] != '\0' && !is_ip_literal(name))
		snprintf(host, sizeof(host), "%.255s:%u", name, (unsigned)a->port);
	else
		snprintf(host, sizeof(host), "%s", p->target);
	if (path == NULL || path[0] == '\0')
		path = "/";
	n = snprintf(buf, len,
	             "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: " CHECK_USER_AGENT
	             "\r\nAccept: */*\r\n%s",
	             fresh ? "POST" : "GET", path[0] == '/' ? "" : "/", path, host,
	             keepalive ? "" : "Connection: close\r\n");
	if (n > 0 && (size_t)n < len && fresh)
		n += snprintf(buf + n, len - (size_t)n,
		              "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		              sizeof(freshness_request) - 1, freshness_request);
	else if (n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "\r\n");
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void probe_unset(struct probe *p)
{
	pconn_free(p->pc);
	p->pc = NULL;
}

static enum pconn_tls_max tls_max(int v)
{
	switch (v) {
	case CHECK_TLS_MAX_12:
		return PCONN_TLS_12;
	case CHECK_TLS_MAX_13:
		return PCONN_TLS_13;
	default:
		return PCONN_TLS_AUTO;
	}
}

/* Makes P's probe connection from the backend's settings (fresh each start). */
static int probe_setup(struct probe *p, char *err, size_t errlen)
{
	const struct backend *b = p->cs->b;
	const struct conf_health *h = &b->conf.health;
	bool fresh = p->kind == CK_FRESHNESS;
	const struct conf_addr *a =
	    fresh || h->check_address.len == 0 ? &b->conf.address : &h->check_address;
	const char *name = fresh && b->conf.tls_sni != NULL ? b->conf.tls_sni : a->host;
	bool bare = !fresh && h->check == CHECK_TCP;
	char request[CHECK_REQUEST_MAX];
	struct pconn_conf pcf = {
	    .sa = (const struct sockaddr *)&a->ss,
	    .salen = a->len,
	    .tls = fresh ? b->conf.tls : h->check_tls,
	    .verify = fresh ? b->conf.tls_verify : h->check_tls_verify,
	    .ca = fresh ? b->conf.tls_ca : NULL,
	    .name = name,
	    .keepalive = h->check_keepalive && !bare,
	    .tls_max = fresh ? PCONN_TLS_13 : tls_max(h->check_tls_max_version),
	    .gnutls = !fresh && h->check_tls_library == CHECK_TLS_LIB_GNUTLS,
	    .body_max = CHECK_BODY_MAX,
	};

	probe_unset(p);
	p->tls = pcf.tls;
	conf_addr_format(a, p->target, sizeof(p->target));
	if (!bare) {
		if (probe_request(p, a, name, fresh ? "/" : h->check_path, pcf.keepalive, request,
		                  sizeof(request)) < 0) {
			snprintf(err, errlen, "request too long");
			return -1;
		}
		pcf.request = request;
	}
	p->pc = pconn_new(G.base, &pcf, probe_pconn_done, p, err, errlen);
	return p->pc != NULL ? 0 : -1;
}

static struct check_state *state_new(struct backend *b)
{
	struct check_state *cs = calloc(1, sizeof(*cs));

	if (cs == NULL)
		return NULL;
	cs->b = b;
	for (int k = 0; k < CK_COUNT; k++) {
		struct probe *p = &cs->p[k];
		p->cs = cs;
		p->kind = (enum check_kind)k;
		p->timer = evtimer_new(G.base, probe_due, p);
		if (p->timer == NULL) {
			state_free(cs);
			return NULL;
		}
	}
	LIST_INSERT_HEAD(&G.all, cs, link);
	return cs;
}

/* Frees a state already halted and out of G.all. */
static void state_free(struct check_state *cs)
{
	for (int k = 0; k < CK_COUNT; k++) {
		struct probe *p = &cs->p[k];
		probe_unset(p);
		if (p->timer != NULL)
			event_free(p->timer);
	}
	free(cs);
}

/* ---- the API -------------------------------------------------------------------------- */

int check_init(struct event_base *base, check_result_cb cb, void *arg)
{
	if (G.on || cb == NULL)
		return -1;
	G.on = true;
	G.base = base;
	G.cb = cb;
	G.cb_arg = arg;
	LIST_INIT(&G.all);
	TAILQ_INIT(&G.waiting);
	G.rng = clock_now_us() ^ ((uint64_t)getpid() << 32);
	return 0;
}

void check_deinit(void)
{
	struct check_state *cs;

	if (!G.on)
		return;
	while ((cs = LIST_FIRST(&G.all)) != NULL)
		check_stop(cs->b);
	memset(&G, 0, sizeof(G));
}

void check_start(struct backend *b)
{
	const struct conf_health *h = &b->conf.health;
	struct check_state *cs = b->node->check;
	char err[256];

	if (!G.on)
		return;
	if (h->check == CHECK_NONE || h->check < 0 || h->check >= CHECK_COUNT) {
		check_stop(b);
		return;
	}
	if (cs == NULL) {
		if ((cs = state_new(b)) == NULL) {
			log_error("backend %s: probes not started: out of memory", b->name);
			return;
		}
		b->node->check = cs;
	}
	for (int k = 0; k < CK_COUNT; k++)
		probe_halt(&cs->p[k]);
	launch_waiting();
	cs->epoch++;
	for (int k = 0; k < CK_COUNT; k++) {
		struct probe *p = &cs->p[k];

		if (k == CK_FRESHNESS && h->freshness_interval == 0) {
			probe_unset(p);
			continue;
		}
		if (probe_setup(p, err, sizeof(err)) < 0) {
			log_error("backend %s: %s probe off: %s", b->name, check_kind_names[k],
			          err);
			probe_unset(p);
			continue;
		}
		/* the first probe at a random point of the period: probes spread out */
		schedule(p, rng_next() % probe_period(p));
	}
}

void check_stop(struct backend *b)
{
	struct check_state *cs = b->node->check;

	if (cs == NULL)
		return;
	for (int k = 0; k < CK_COUNT; k++)
		probe_halt(&cs->p[k]);
	cs->epoch++;
	LIST_REMOVE(cs, link);
	b->node->check = NULL;
	if (cs->in_cb > 0)
		cs->dead = true; /* freed by probe_done when the callback returns */
	else
		state_free(cs);
	launch_waiting();
}

void check_set_best_seq(check_best_seq_fn fn)
{
	G.best_seq = fn;
}

uint64_t check_probes_total(void)
{
	return G.probes_total;
}

unsigned check_in_flight(void)
{
	return G.in_flight;
}

uint64_t check_deferred_total(void)
{
	return G.deferred_total;
}

uint64_t check_errors_total(void)
{
	return G.errors_total;
}

uint64_t check_nofd_total(void)
{
	return G.nofd_total;
}
