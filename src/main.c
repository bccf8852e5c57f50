/* nodegate: the command line, and the process lifecycle: the order in which subsystems start
 * and stop, signals (SIGHUP reloads, SIGTERM drains, SIGUSR1 reopens logs), the shutdown
 * timeout, the privileges dropped once listening, and what systemd is told of it all. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "clock.h"
#include "conf.h"
#include "evmem.h"
#include "health/monitor.h"
#include "health/node.h"
#include "log.h"
#include "ops/admin.h"
#include "ops/fleet.h"
#include "ops/acklink.h"
#include "ops/alert.h"
#include "ops/console.h"
#include "ops/escalate.h"
#include "ops/feed.h"
#include "ops/hook.h"
#include "ops/incident.h"
#include "ops/maint.h"
#include "ops/chart.h"
#include "ops/mirror.h"
#include "ops/page.h"
#include "ops/postmortem.h"
#include "ops/store.h"
#include "ops/subs.h"
#include "ops/status.h"
#include "proxy/conn.h"
#include "proxy/listener.h"
#include "proxy/route.h"
#include "proxy/session.h"
#include "proxy/worker.h"
#include "priv.h"
#include "registry.h"
#include "sdnotify.h"
#include "server.h"
#include "stats.h"
#include "upgrade.h"

static const char *conf_path;
static struct event *ev_signals[4], *ev_tick, *ev_shutdown, *ev_grace;
static struct event *ev_reopen; /* SIGUSR1 */
static bool drained;

#ifndef NODEGATE_VERSION
#define NODEGATE_VERSION "0.1.0"
/* ms: at the end, the status connections open get this long to be answered */
#define STATUS_LINGER_MS 1000
#endif

static void usage(FILE *to)
{
	fprintf(to, "usage: nodegate [-t] -c FILE\n"
	            "       nodegate --test-alert NAME -c FILE\n"
	            "       nodegate postmortem ID -c FILE\n"
	            "       nodegate -V | -h\n"
	            "\n"
	            "  -c FILE  configuration file (INI; see etc/nodegate.ini)\n"
	            "  -t       check the configuration and exit (0: OK, 1: errors listed)\n"
	            "  --test-alert NAME\n"
	            "           send one test message through [alert NAME] and exit\n"
	            "           (0: delivered, 1: not, with the reason)\n"
	            "  postmortem ID\n"
	            "           print incident ID's postmortem draft (Markdown) from the store\n"
	            "           of FILE's state_dir, read only (beside a running nodegate too)\n"
	            "  -V       print the version and exit\n"
	            "  -h       print this help and exit\n"
	            "\n"
	            "signals: SIGHUP reloads the file (a bad file keeps the running one),\n"
	            "         SIGTERM/SIGINT stop accepting and exit once requests finish,\n"
	            "         SIGUSR1 reopens the log files (logrotate),\n"
	            "         SIGUSR2 starts the binary again with the listening sockets handed\n"
	            "         over; once it is ready this one drains and exits (upgrade.h).\n");
}

/* -t: every error, or "configuration OK". */
static int check_only(const char *path)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;
	char err[800];

	if (conf_load(path, &c, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		if (errs.dropped > 0)
			fprintf(stderr, "... and %zu more errors\n", errs.dropped);
		fprintf(stderr, "configuration has %zu error%s\n", errs.n + errs.dropped,
		        errs.n + errs.dropped == 1 ? "" : "s");
		conf_errors_deinit(&errs);
		return 1;
	}
	/* who runs it is not the file's fault: warnings (maybe checked before the user exists) */
	if (geteuid() == 0 ? priv_check(c, err, sizeof(err)) != 0
	                   : priv_lookup(c, err, sizeof(err)) != 0)
		fprintf(stderr, "warning: %s (a start as root would stop there)\n", err);
	struct rlimit rl; /* nodegate raises its soft limit to the hard one at start */
	unsigned nw = c->global.workers > 0 ? (unsigned)c->global.workers : workers_auto();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    server_fd_short(c, nw, (uint64_t)rl.rlim_max, err, sizeof(err)))
		fprintf(stderr, "warning: %s\n", err);
	printf("configuration OK\n");
	conf_free(c);
	return 0;
}

/* The configuration of a one-shot command (its log level applied); NULL with the errors on
 * stderr. */
static struct conf *load_for_command(const char *path)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;

	if (conf_load(path, &c, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		conf_errors_deinit(&errs);
		return NULL;
	}
	log_level_current = c->global.log_level;
	log_format_set(c->global.log_format);
	return c;
}

/* --test-alert NAME: one test message through one channel, its outcome on stdout. */
static int test_alert(const char *path, const char *name)
{
	struct conf *c = load_for_command(path);
	char out[512];
	int rc;

	if (c == NULL)
		return 1;
	rc = alert_send_test(c, name, out, sizeof(out));
	fprintf(rc == 0 ? stdout : stderr, "%s\n", out);
	conf_free(c);
	return rc == 0 ? 0 : 1;
}

/* postmortem ID: the draft of incident ID from the store, read only, on stdout. */
static int postmortem(const char *path, const char *id_s)
{
	static char md[PM_MAX];
	struct conf *c;
	const struct incident *inc;
	char err[512], *end;
	long long id = strtoll(id_s, &end, 10);
	int rc = 1;

	if (id <= 0 || *end != '\0') {
		fprintf(stderr, "postmortem: \"%s\" is not an incident id (expected 1, 2, ...)\n",
		        id_s);
		return 2;
	}
	c = load_for_command(path);
	if (c == NULL)
		return 1;
	if (incident_load_readonly(c->global.state_dir, c->store.url, err, sizeof(err)) < 0) {
		fprintf(stderr, "postmortem: %s\n", err);
	} else if ((inc = incident_get(id)) == NULL) {
		fprintf(stderr, "postmortem: no incident %lld in %s\n", id, store_where());
	} else {
		size_t n = incident_postmortem(inc, c->postmortem.language, false, clock_wall(), md,
		                               sizeof(md));
		rc = fwrite(md, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : 1;
	}
	incident_deinit();
	conf_free(c);
	return rc;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void log_errors(const struct conf_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		log_error("%s", errs->msg[i]);
	if (errs->dropped > 0)
		log_error("... and %zu more errors", errs->dropped);
}

/* Each worker's last act: its sessions close, its caches go. */
static void worker_end(void)
{
	session_close_all();
	session_cleanup();
}

/* ---- systemd (sdnotify.h) ----------------------------------------------------------------- */

/* The STATUS= line systemctl status shows: what is in rotation. */
static void service_status(char *buf, size_t len)
{
	size_t up = 0;

	for (size_t i = 0; i < registry.n_backends; i++)
		up += registry.backends[i]->node != NULL && registry.backends[i]->node->routable;
	snprintf(buf, len, "%s%zu listeners, %zu pools, %zu/%zu backends in rotation",
	         registry.draining ? "draining: " : "", registry.n_listeners, registry.n_pools, up,
	         registry.n_backends);
}

static void service_ready(const char *prefix)
{
	char st[200], line[256];

	service_status(st, sizeof(st));
	snprintf(line, sizeof(line), "%s%s", prefix, st);
	sdnotify_ready(line);
}

static void reload(void)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;

	sdnotify_reloading();
	log_info("reloading %s", conf_path);
	if (conf_load(conf_path, &c, &errs) != 0 || server_apply(c, &errs) != 0) {
		log_errors(&errs);
		priv_explain(&errs);
		log_error("reload failed: keeping the running configuration");
		STAT_INC(reload_failures);
		CONF_FREE(c);
		conf_errors_deinit(&errs);
		service_ready("reload failed, running the previous configuration: ");
		return;
	}
	conf_errors_deinit(&errs);
	priv_reloaded(registry.conf);
	STAT_INC(reloads);
	log_info("reload done: %zu listeners, %zu pools, %zu backends", registry.n_listeners,
	         registry.n_pools, registry.n_backends);
	service_ready("");
}

/* SIGUSR1, after logrotate moved the files away: new ones by the same names. */
static void reopen_cb(evutil_socket_t sig, short what, void *arg)
{
	char err[512];
	int rc;

	workers_isolate(); /* the workers write the access log */
	rc = log_reopen(err, sizeof(err));
	workers_release();
	if (rc != 0)
		log_error("SIGUSR1: %s", err);
	else
		log_info("SIGUSR1: log files reopened");
}

static void shutdown_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	log_warn("shutdown_timeout reached with %u connections open: exiting", workers_conns());
	event_base_loopexit(registry.base, NULL);
}

static void drain(bool handover)
{
	if (drained)
		return;
	drained = true;
	if (!handover) /* handed over, /healthz stays as it was: the service goes on */
		registry.draining = true;
	if (ev_grace != NULL)
		event_free(ev_grace);
	ev_grace = NULL;
	if (!handover) /* handed over, the service goes on (upgrade.c told systemd its MAINPID) */
		sdnotify_stopping();
	log_info("shutting down: no new connections, %u open finish within %llums", workers_conns(),
	         (unsigned long long)registry.conf->global.shutdown_timeout);
	workers_isolate(); /* each worker's accepts on each listener end */
	for (size_t i = 0; i < registry.n_listeners; i++)
		listener_close(registry.listeners[i]);
	workers_release();
	if (handover) /* upgrade.c: idle keep-alive sessions wait for their next answer */
		session_drain_handover();
	else
		session_drain_all(); /* every worker: sessions finish what they do */
	if (workers_conns() == 0) {
		event_base_loopexit(registry.base, NULL);
		return;
	}
	uint64_t ms = registry.conf->global.shutdown_timeout;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	ev_shutdown = evtimer_new(registry.base, shutdown_timeout_cb, NULL);
	evtimer_add(ev_shutdown, &tv);
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
	drain(false);
}

/* SIGTERM: with shutdown_grace, /healthz says 503 (registry.draining) while the listeners
 * still accept, so that keepalived or the load balancer in front moves the clients away
 * (HAProxy's grace); then the drain. A second signal drains at once. */
static void stop_requested(void)
{
	uint64_t ms = registry.conf->global.shutdown_grace;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	upgrade_abort(); /* a new binary still starting goes too */
	if (ms == 0 || registry.draining || drained ||
	    (ev_grace = evtimer_new(registry.base, grace_cb, NULL)) == NULL) {
		drain(false);
		return;
	}
	registry.draining = true;
	sdnotify_stopping();
	log_info("shutting down: /healthz answers 503 for %llums (shutdown_grace), the listeners "
	         "accept until then",
	         (unsigned long long)ms);
	evtimer_add(ev_grace, &tv);
}

/* upgrade.c: the new binary is ready and accepts on the sockets handed over */
static void handover(void)
{
	drain(true);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGHUP)
		reload();
	else if (sig == SIGUSR2)
		upgrade_start(registry.base, handover);
	else
		stop_requested();
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	char st[200];

	log_access_flush();
	service_status(st, sizeof(st));
	sdnotify_status(st);
}

static void teardown(void)
{
	struct conf *c = registry.conf;

	status_linger(STATUS_LINGER_MS); /* status.c: what it accepted is answered */
	workers_stop(worker_end);        /* the other workers close their sessions and end */
	session_close_all();
	hook_deinit(); /* hook.c: running hooks are stopped; their outcome reaches the timeline */
	/* admin.c, incident.c: the store commits what is queued and answers waiting admin
	 * requests, before the status listener goes */
	console_deinit(); /* console.c: every ops console session ends */
	chart_deinit();
	maint_deinit();
	fleet_deinit(); /* fleet.c: its session ends, and the sender lock with it */
	admin_deinit();
	escalate_deinit();
	subs_deinit();   /* subs.c: queued subscriber messages are dropped */
	alert_deinit();  /* alert.c: queued messages are dropped (said in the log) */
	mirror_deinit(); /* mirror.c: a push in flight is abandoned, folder threads joined */
	acklink_deinit();
	incident_deinit();
	status_stop();    /* status listener (status.c) */
	server_release(); /* probes stop, listeners close, the registry empties */
	monitor_deinit();
	route_deinit(); /* the last routing snapshot */
	upgrade_deinit();
	if (ev_grace != NULL)
		event_free(ev_grace);
	for (size_t i = 0; i < 4; i++)
		event_free(ev_signals[i]);
	event_free(ev_tick);
	event_free(ev_reopen);
	sdnotify_deinit();
	if (ev_shutdown != NULL)
		event_free(ev_shutdown);
	worker_end();
	workers_deinit();
	log_access_close();
	conf_free(c);
	conn_forget_base(registry.base);
	event_base_free(registry.base);
}

/* Runs the loop until shutdown; returns the exit status. */
static int run(const char *path)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;
	static const int sigs[4] = {SIGTERM, SIGINT, SIGHUP, SIGUSR2};
	char err[512] = "";

	/* SIGTERM and the rest wait, blocked, until the loop's handlers are in place below:
	 * a stop asked for during start-up is a graceful stop, never the default action's
	 * death. The threads started before then keep them blocked; signals go to this one. */
	sigset_t caught, before;
	sigemptyset(&caught);
	for (size_t i = 0; i < 4; i++)
		sigaddset(&caught, sigs[i]);
	sigaddset(&caught, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &caught, &before);
	conf_path = path;
	log_init(); /* stderr's file, if it is one, for SIGUSR1 */
	if (sdnotify_init(err, sizeof(err)) != 0)
		log_warn("systemd notifications off: %s", err);
	if (conf_load(path, &c, &errs) != 0) {
		log_errors(&errs);
		conf_errors_deinit(&errs);
		return 1;
	}
	log_level_current = c->global.log_level;
	log_format_set(c->global.log_format);
	if (priv_check(c, err, sizeof(err)) != 0) { /* root needs user = or allow_root */
		log_error("%s", err);
		conf_free(c);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	server_fd_raise(err, sizeof(err)); /* descriptors: the soft limit up to the hard one */
	if (err[0] != '\0')
		log_info("%s", err);
	unsigned n = c->global.workers > 0 ? (unsigned)c->global.workers : workers_auto();
	if (n > 1 && evthread_use_pthreads() != 0) { /* the loops take locks from here on */
		log_error("cannot set up libevent for threads");
		conf_free(c);
		return 1;
	}
	registry.base = event_base_new();
	if (registry.base == NULL) {
		log_error("cannot create the event loop");
		conf_free(c);
		return 1;
	}
	for (size_t i = 0; i < 4; i++) {
		ev_signals[i] = evsignal_new(registry.base, sigs[i], signal_cb, NULL);
		evsignal_add(ev_signals[i], NULL);
	}
	ev_reopen = evsignal_new(registry.base, SIGUSR1, reopen_cb, NULL);
	evsignal_add(ev_reopen, NULL);
	if (workers_init(registry.base, n, session_accept) != 0) {
		log_error("cannot set up %u workers", n);
		goto fail_base;
	}
	if (route_init(registry.base) != 0 || monitor_init(registry.base) != 0 ||
	    session_init() != 0) {
		log_error("cannot start the health checks");
		goto fail_base;
	}
	page_init(); /* page.c: GET /, the public status page (a route of the status listener) */
	feed_init(); /* feed.c: /feed.atom, /feed.rss, /pools/NAME/feed.* */
	/* incidents, their store in state_dir, the admin API (incident.c, admin.c): before the
	 * first apply, which restores the stored admin states */
	if (incident_init(c->global.state_dir, c->store.url, err, sizeof(err)) != 0 ||
	    admin_init(err, sizeof(err)) != 0 || acklink_init() != 0 || console_init() != 0 ||
	    fleet_init(c->store.url, c->global.instance, err, sizeof(err)) != 0) {
		log_error("state_dir %s: %s", c->global.state_dir, err);
		goto fail;
	}
	if (priv_own(c, c->global.state_dir, err, sizeof(err)) != 0) { /* written after the drop */
		log_error("state_dir: %s", err);
		goto fail;
	}
	/* alert.c and hook.c: the bus hands them each event after incidents (its phases) */
	if (alert_init(registry.base) != 0 || hook_init(registry.base) != 0 ||
	    escalate_init(registry.base) != 0 || subs_init(registry.base) != 0 ||
	    mirror_init(registry.base) != 0) {
		log_error("cannot start the alert channels and hooks");
		goto fail;
	}
	/* maint.c: maintenance windows and next-update reminders, on a timer */
	if (maint_init(err, sizeof(err)) != 0 || chart_init(err, sizeof(err)) != 0) {
		log_error("%s", err);
		goto fail;
	}
	if (server_apply(c, &errs) != 0) {
		log_errors(&errs);
		conf_errors_deinit(&errs);
		goto fail;
	}
	/* handled by the loop from here: one sent during start-up is delivered now */
	pthread_sigmask(SIG_SETMASK, &before, NULL);
	ev_tick = event_new(registry.base, -1, EV_PERSIST, tick_cb, NULL);
	evtimer_add(ev_tick, &(struct timeval){.tv_sec = 1});
	/* listening, keys read, store and logs open: root is not needed any more (priv.c) */
	if (priv_own(c,
	             strcmp(c->global.access_log, "-") != 0 &&
	                     strcmp(c->global.access_log, "off") != 0
	                 ? c->global.access_log
	                 : NULL,
	             err, sizeof(err)) != 0 ||
	    priv_drop(c, err, sizeof(err)) != 0) {
		log_error("%s", err);
		teardown();
		return 1;
	}
	for (size_t i = 0; i < registry.n_listeners; i++) {
		char where[300];
		conf_addr_format(&registry.listeners[i]->conf.bind, where, sizeof(where));
		log_info("listener %s: %s on %s -> pool %s%s", registry.listeners[i]->name,
		         listener_mode_names[registry.listeners[i]->conf.mode], where,
		         registry.listeners[i]->conf.pool,
		         registry.listeners[i]->ssl_ctx != NULL ? " (tls)" : "");
	}
	if (workers_start() != 0) {
		log_error("cannot start the worker threads");
		goto fail;
	}
	log_info("nodegate started: %zu listeners, %zu pools, %zu backends, %u worker%s",
	         registry.n_listeners, registry.n_pools, registry.n_backends, n_workers,
	         n_workers == 1 ? "" : "s");
	service_ready(""); /* systemd: READY=1, and the watchdog's pings from this loop on */
	uint64_t ping = sdnotify_watchdog_start(registry.base);
	if (ping > 0)
		log_info("systemd watchdog: a ping every %llums", (unsigned long long)ping / 1000);
	upgrade_ready(registry.base); /* started by SIGUSR2: the old process hands over */
	event_base_dispatch(registry.base);
	log_info("nodegate stopped");
	teardown();
	return 0;
fail:
	chart_deinit();
	maint_deinit();
	hook_deinit();
	escalate_deinit();
	subs_deinit();
	alert_deinit();
	mirror_deinit();
	acklink_deinit();
	console_deinit();
	fleet_deinit();
	admin_deinit();
	incident_deinit();
	monitor_deinit();
	route_deinit();
fail_base:
	workers_stop(NULL);
	workers_deinit();
	for (size_t i = 0; i < 4; i++)
		event_free(ev_signals[i]);
	event_free(ev_reopen);
	conf_free(c);
	conn_forget_base(registry.base);
	event_base_free(registry.base);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"test-alert", required_argument, NULL, 'A'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL, *alert = NULL;
	bool test = false;
	int opt;

	evmem_init(); /* before libevent allocates anything */
	char uerr[256];
	if (upgrade_init(argv, uerr, sizeof(uerr)) != 0) { /* sockets handed over by SIGUSR2 */
		fprintf(stderr, "nodegate: %s\n", uerr);
		return 1;
	}
	while ((opt = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'A':
			alert = optarg;
			break;
		case 'c':
			path = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'V':
			printf("nodegate %s\n", NODEGATE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (path != NULL && optind + 2 == argc && strcmp(argv[optind], "postmortem") == 0)
		return postmortem(path, argv[optind + 1]);
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (alert != NULL)
		return test_alert(path, alert);
	return test ? check_only(path) : run(path);
}
