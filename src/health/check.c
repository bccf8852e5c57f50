/* The probe engine: libcurl's multi interface on the libevent loop (curlev.c). Each
 * backend has one timer per probe kind; a due probe adds its easy handle to the one CURLM,
 * and every finished transfer is judged (health.c) and handed to the result callback.
 *
 *   probe_due ──► probe_launch ──► curlev_start
 *                                        │  curlev.c: sockets and timers on the loop
 *   curlev's drain ──► probe_job_done ──► probe_done ──► judge ──► result callback
 *                                                      ──► schedule (next probe) */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>

#include "clock.h"
#include "proxy/backend.h"
#include "health/check.h"
#include "health/node.h"
#include "health/curlev.h"
#include "log.h"

#define CHECK_BODY_MAX    (64 * 1024) /* a larger answer is critical */
#define CHECK_BODY_KEEP   4096        /* buffers up to this size are kept between probes */
#define CHECK_MAX_FLIGHT  512         /* probes in flight at once, all backends together */
#define CHECK_MIN_PERIOD  10          /* ms: floor of any probe period */
#define CHECK_TIMEOUT_DEF 2000        /* ms: when check_timeout is 0 (curl: no limit) */
#define CHECK_RETRY_MS    1000        /* after curl refused to start a probe */
#define CHECK_URL_MAX     1024
#define CHECK_USER_AGENT  "nodegate-check"

static const char freshness_request[] = "{\"method\":\"server_info\",\"params\":[{}]}";

/* One probe kind of one backend. Its easy handle is configured by check_start and reused
 * for every probe: cheaper than a new one, and curl keeps its TLS session for resumption. */
struct probe {
	struct check_state *cs;
	enum check_kind kind;
	CURL *easy;                   /* NULL: this kind is off for the backend */
	struct curlev_job job;        /* easy on the loop's multi handle (curlev.c) */
	struct curl_slist *headers;   /* freshness: Content-Type */
	struct curl_slist *resolve;   /* verified TLS to a named host: NAME:PORT:IP */
	struct event *timer;          /* the next probe */
	bool running;                 /* added to the multi handle */
	bool waiting;                 /* due, but CHECK_MAX_FLIGHT probes are in flight */
	TAILQ_ENTRY(probe) wait_link; /* in G.waiting */
	uint64_t started_us;          /* when it was added to the multi handle */
	char *body;                   /* the answer so far, NUL-terminated */
	size_t len, cap;
	bool too_large; /* the answer passed CHECK_BODY_MAX */
	bool tls;       /* https (or a TLS handshake for tcp) */
	char url[CHECK_URL_MAX];
	char target[64];              /* numeric "IP:PORT", for reasons */
	char errbuf[CURL_ERROR_SIZE]; /* curl's detail of a failure */
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
	uint64_t errors_total;   /* probes curl refused to start */
	uint64_t rng;            /* splitmix64 state for the first-probe spread */
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

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct probe *p = arg;
	size_t len = size * n;

	if (len > CHECK_BODY_MAX - p->len) {
		p->too_large = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	if (p->len + len + 1 > p->cap) {
		size_t cap = p->cap != 0 ? p->cap : 1024;
		while (cap < p->len + len + 1)
			cap *= 2;
		char *nb = realloc(p->body, cap);
		if (nb == NULL)
			return 0;
		p->body = nb;
		p->cap = cap;
	}
	memcpy(p->body + p->len, data, len);
	p->len += len;
	p->body[p->len] = '\0';
	return len;
}

static void body_release(struct probe *p)
{
	p->len = 0;
	if (p->cap > CHECK_BODY_KEEP) {
		free(p->body);
		p->body = NULL;
		p->cap = 0;
	}
}

static void launch_waiting(void);
static void probe_job_done(struct curlev_job *job, CURLcode res);

static void probe_launch(struct probe *p)
{
	char err[128];

	p->len = 0;
	p->too_large = false;
	p->errbuf[0] = '\0';
	p->started_us = clock_now_us();
	p->job.easy = p->easy;
	p->job.done = probe_job_done;
	if (curlev_start(&p->job, err, sizeof(err)) < 0) {
		struct timeval tv = ms_tv(CHECK_RETRY_MS);

		G.errors_total++;
		log_error("backend %s: %s probe not started: %s", p->cs->b->name,
		          check_kind_names[p->kind], err);
		evtimer_add(p->timer, &tv);
		return;
	}
	p->running = true;
	G.in_flight++;
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
		curlev_stop(&p->job);
		p->running = false;
		G.in_flight--;
	}
	body_release(p);
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

static bool tls_error(CURLcode res)
{
	switch (res) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_USE_SSL_FAILED:
		return true;
	default:
		return false;
	}
}

/* A probe that got no status: refused, timeout, TLS, or another transport failure. The
 * reason of a refused connection starts with "refused" (rotation ejects on it at once). */
static void transport_failure(const struct probe *p, CURLcode res, long oserr,
                              struct observation *o)
{
	const char *detail = p->errbuf[0] != '\0' ? p->errbuf : curl_easy_strerror(res);
	const struct conf_health *h = &p->cs->b->conf.health;
	curl_off_t connect_us = 0;

	o->verdict = V_CRITICAL;
	o->unreachable = true;
	if (res == CURLE_COULDNT_CONNECT && oserr == ECONNREFUSED) {
		snprintf(o->reason, sizeof(o->reason), HEALTH_REASON_REFUSED ": connect to %s",
		         p->target);
	} else if (res == CURLE_OPERATION_TIMEDOUT) {
		/* curl counts the TLS handshake as part of the connection */
		curl_easy_getinfo(p->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
		const char *stage = connect_us > 0 ? "no answer from"
		                    : p->tls       ? "connecting (TCP and TLS) to"
		                                   : "connecting to";
		snprintf(
		    o->reason, sizeof(o->reason), "timeout after %llums: %s %s",
		    (unsigned long long)(h->check_timeout ? h->check_timeout : CHECK_TIMEOUT_DEF),
		    stage, p->target);
	} else if (tls_error(res)) {
		snprintf(o->reason, sizeof(o->reason), "tls: %.150s", detail);
	} else {
		snprintf(o->reason, sizeof(o->reason), "%.60s: %.95s", curl_easy_strerror(res),
		         detail);
	}
}

static void judge(const struct probe *p, CURLcode res, long status, long oserr,
                  struct observation *o, struct rippled_metrics *m)
{
	const struct backend *b = p->cs->b;
	const struct conf_health *h = &b->conf.health;
	const char *body = p->body != NULL ? p->body : "";

	if (p->kind == CK_FRESHNESS) {
		m->ledger_age_s = -1;
		m->network_id = -1;
	}
	if (p->too_large) {
		o->verdict = V_CRITICAL;
		snprintf(o->reason, sizeof(o->reason), "body too large (over %d bytes)",
		         CHECK_BODY_MAX);
	} else if (res != CURLE_OK) {
		transport_failure(p, res, oserr, o);
	} else if (p->kind == CK_FRESHNESS) {
		uint64_t best = G.best_seq != NULL ? G.best_seq(b) : 0;
		health_judge_server_info((int)status, body, p->len, h, best, o, m);
	} else if (h->check == CHECK_RIPPLED) {
		health_judge_rippled((int)status, body, p->len, h, o);
	} else if (h->check == CHECK_HTTP) {
		health_judge_http((int)status, body, p->len, h, o);
	} else {
		o->verdict = V_HEALTHY;
		snprintf(o->reason, sizeof(o->reason), "connected to %s", p->target);
	}
}

static void state_free(struct check_state *cs);

/* A finished transfer: judge it, free the slot, report, and schedule the next probe. The
 * callback may stop or restart this backend (or others); nothing of the state is touched
 * after it unless the state is still the one it was. */
static void probe_done(struct probe *p, CURLcode res)
{
	struct check_state *cs = p->cs;
	struct observation o;
	struct rippled_metrics m;
	long status = 0, oserr = 0;
	uint64_t duration = clock_now_us() - p->started_us;

	memset(&o, 0, sizeof(o));
	memset(&m, 0, sizeof(m));
	curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(p->easy, CURLINFO_OS_ERRNO, &oserr);
	p->running = false;
	G.in_flight--;
	G.probes_total++;
	judge(p, res, status, oserr, &o, &m);
	body_release(p);
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

/* curlev: P's transfer ended (the handle is out of the multi handle). */
static void probe_job_done(struct curlev_job *job, CURLcode res)
{
	struct probe *p = (struct probe *)((char *)job - offsetof(struct probe, job));

	if (p->running)
		probe_done(p, res);
}

/* ---- configuring a backend's probes --------------------------------------------------- */

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* The URL of P, and the CURLOPT_RESOLVE entry when the URL must carry a name (verified
 * TLS to a named host): curl then connects to the numeric address without any lookup. */
static int probe_url(struct probe *p, const struct conf_addr *a, bool tls, bool verify,
                     const char *name, const char *path, char *err, size_t errlen)
{
	const char *scheme = tls ? "https" : "http";
	int n;

	conf_addr_format(a, p->target, sizeof(p->target));
	if (path == NULL || path[0] == '\0')
		path = "/";
	const char *slash = path[0] == '/' ? "" : "/";
	if (tls && verify && name != NULL && name[0] != '\0' && !is_ip_literal(name)) {
		const char *ip = p->target;
		char entry[600];

		n = snprintf(entry, sizeof(entry), "%s:%u:%.*s", name, (unsigned)a->port,
		             (int)(strrchr(ip, ':') - ip), ip);
		if (n < 0 || (size_t)n >= sizeof(entry) ||
		    (p->resolve = curl_slist_append(NULL, entry)) == NULL) {
			snprintf(err, errlen, "cannot map %.180s to %s", name, p->target);
			return -1;
		}
		n = snprintf(p->url, sizeof(p->url), "%s://%s:%u%s%s", scheme, name,
		             (unsigned)a->port, slash, path);
	} else {
		n = snprintf(p->url, sizeof(p->url), "%s://%s%s%s", scheme, p->target, slash, path);
	}
	if (n < 0 || (size_t)n >= sizeof(p->url)) {
		snprintf(err, errlen, "URL too long");
		return -1;
	}
	return 0;
}

static void probe_unset(struct probe *p)
{
	if (p->easy != NULL)
		curl_easy_cleanup(p->easy);
	p->easy = NULL;
	curl_slist_free_all(p->headers);
	p->headers = NULL;
	curl_slist_free_all(p->resolve);
	p->resolve = NULL;
}

static void probe_tls_opts(CURL *e, bool verify, const char *ca)
{
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	if (!verify) {
		/* nothing to verify against: do not load a CA bundle per connection */
		curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
		return;
	}
	/* the CA file alone (CA when set, else curl's bundle), no CA directory: curl then
	 * keeps the parsed store in the multi handle instead of parsing it per connection */
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	if (ca != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, ca);
}

/* Configures P's easy handle from the backend's settings (fresh each start). */
static int probe_setup(struct probe *p, char *err, size_t errlen)
{
	const struct backend *b = p->cs->b;
	const struct conf_health *h = &b->conf.health;
	bool fresh = p->kind == CK_FRESHNESS;
	const struct conf_addr *a =
	    fresh || h->check_address.len == 0 ? &b->conf.address : &h->check_address;
	bool tls = fresh ? b->conf.tls : h->check_tls;
	bool verify = fresh ? b->conf.tls_verify : h->check_tls_verify;
	const char *name = fresh && b->conf.tls_sni != NULL ? b->conf.tls_sni : a->host;
	uint64_t timeout = h->check_timeout != 0 ? h->check_timeout : CHECK_TIMEOUT_DEF;
	CURL *e;

	probe_unset(p);
	p->tls = tls;
	if (probe_url(p, a, tls, verify, name, fresh ? "/" : h->check_path, err, errlen) < 0)
		return -1;
	if ((e = p->easy = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	curl_easy_setopt(e, CURLOPT_URL, p->url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
	curl_easy_setopt(e, CURLOPT_USERAGENT, CHECK_USER_AGENT);
	/* a new connection per probe: it tests the accept path, and rippled closes anyway */
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	if (p->resolve != NULL)
		curl_easy_setopt(e, CURLOPT_RESOLVE, p->resolve);
	if (tls)
		probe_tls_opts(e, verify, fresh ? b->conf.tls_ca : NULL);
	if (fresh) {
		if ((p->headers = curl_slist_append(NULL, "Content-Type: application/json")) ==
		    NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, freshness_request);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(sizeof(freshness_request) - 1));
	} else if (h->check == CHECK_TCP) {
		curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
	}
	return 0;
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
		free(p->body);
	}
	free(cs);
}

/* ---- the API -------------------------------------------------------------------------- */

int check_init(struct event_base *base, check_result_cb cb, void *arg)
{
	if (G.on || cb == NULL)
		return -1;
	if (curlev_init(base) != 0)
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
	curlev_deinit();
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
	return G.errors_total + curlev_errors_total();
}
