/* nodegate: the command line, and the process lifecycle: the order in which subsystems start
 * and stop, signals (SIGHUP reloads, SIGTERM drains), the shutdown timeout. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "clock.h"
#include "conf.h"
#include "evmem.h"
#include "health/monitor.h"
#include "log.h"
#include "ops/admin.h"
#include "ops/acklink.h"
#include "ops/alert.h"
#include "ops/escalate.h"
#include "ops/feed.h"
#include "ops/hook.h"
#include "ops/incident.h"
#include "ops/mirror.h"
#include "ops/page.h"
#include "ops/postmortem.h"
#include "ops/store.h"
#include "ops/status.h"
#include "proxy/listener.h"
#include "proxy/route.h"
#include "proxy/session.h"
#include "proxy/worker.h"
#include "registry.h"
#include "server.h"
#include "stats.h"

static const char *conf_path;
static struct event *ev_signals[3], *ev_tick, *ev_shutdown;

#ifndef NODEGATE_VERSION
#define NODEGATE_VERSION "0.1.0"
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
	            "         SIGTERM/SIGINT stop accepting and exit once requests finish.\n");
}

/* -t: every error, or "configuration OK". */
static int check_only(const char *path)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;

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
	if (incident_load_readonly(c->global.state_dir, err, sizeof(err)) < 0) {
		fprintf(stderr, "postmortem: %s\n", err);
	} else if ((inc = incident_get(id)) == NULL) {
		fprintf(stderr, "postmortem: no incident %lld in %s/%s\n", id, c->global.state_dir,
		        STORE_FILE);
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

static void reload(void)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;

	log_info("reloading %s", conf_path);
	if (conf_load(conf_path, &c, &errs) != 0 || server_apply(c, &errs) != 0) {
		log_errors(&errs);
		log_error("reload failed: keeping the running configuration");
		STAT_INC(reload_failures);
		CONF_FREE(c);
		conf_errors_deinit(&errs);
		return;
	}
	conf_errors_deinit(&errs);
	STAT_INC(reloads);
	log_info("reload done: %zu listeners, %zu pools, %zu backends", registry.n_listeners,
	         registry.n_pools, registry.n_backends);
}

static void shutdown_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	log_warn("shutdown_timeout reached with %u connections open: exiting", workers_conns());
	event_base_loopexit(registry.base, NULL);
}

static void drain(void)
{
	if (registry.draining)
		return;
	registry.draining = true;
	log_info("shutting down: no new connections, %u open finish within %llums", workers_conns(),
	         (unsigned long long)registry.conf->global.shutdown_timeout);
	workers_isolate(); /* each worker's accepts on each listener end */
	for (size_t i = 0; i < registry.n_listeners; i++)
		listener_close(registry.listeners[i]);
	workers_release();
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

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGHUP)
		reload();
	else
		drain();
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	log_access_flush();
}

static void teardown(void)
{
	struct conf *c = registry.conf;

	workers_stop(worker_end); /* the other workers close their sessions and end */
	session_close_all();
	hook_deinit(); /* hook.c: running hooks are stopped; their outcome reaches the timeline */
	/* admin.c, incident.c: the store commits what is queued and answers waiting admin
	 * requests, before the status listener goes */
	admin_deinit();
	escalate_deinit();
	alert_deinit();  /* alert.c: queued messages are dropped (said in the log) */
	mirror_deinit(); /* mirror.c: a push in flight is abandoned, folder threads joined */
	acklink_deinit();
	incident_deinit();
	status_stop();    /* status listener (status.c) */
	server_release(); /* probes stop, listeners close, the registry empties */
	monitor_deinit();
	route_deinit(); /* the last routing snapshot */
	for (size_t i = 0; i < 3; i++)
		event_free(ev_signals[i]);
	event_free(ev_tick);
	if (ev_shutdown != NULL)
		event_free(ev_shutdown);
	worker_end();
	workers_deinit();
	log_access_close();
	conf_free(c);
	event_base_free(registry.base);
}

/* Runs the loop until shutdown; returns the exit status. */
static int run(const char *path)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;
	static const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
	char err[512] = "";

	conf_path = path;
	if (conf_load(path, &c, &errs) != 0) {
		log_errors(&errs);
		conf_errors_deinit(&errs);
		return 1;
	}
	log_level_current = c->global.log_level;
	signal(SIGPIPE, SIG_IGN);
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
	if (incident_init(c->global.state_dir, err, sizeof(err)) != 0 ||
	    admin_init(err, sizeof(err)) != 0 || acklink_init() != 0) {
		log_error("state_dir %s: %s", c->global.state_dir, err);
		goto fail;
	}
	/* alert.c and hook.c: the bus hands them each event after incidents (its phases) */
	if (alert_init(registry.base) != 0 || hook_init(registry.base) != 0 ||
	    escalate_init(registry.base) != 0 || mirror_init(registry.base) != 0) {
		log_error("cannot start the alert channels and hooks");
		goto fail;
	}
	if (server_apply(c, &errs) != 0) {
		log_errors(&errs);
		conf_errors_deinit(&errs);
		goto fail;
	}
	for (size_t i = 0; i < 3; i++) {
		ev_signals[i] = evsignal_new(registry.base, sigs[i], signal_cb, NULL);
		evsignal_add(ev_signals[i], NULL);
	}
	ev_tick = event_new(registry.base, -1, EV_PERSIST, tick_cb, NULL);
	evtimer_add(ev_tick, &(struct timeval){.tv_sec = 1});
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
	event_base_dispatch(registry.base);
	log_info("nodegate stopped");
	teardown();
	return 0;
fail:
	hook_deinit();
	escalate_deinit();
	alert_deinit();
	mirror_deinit();
	acklink_deinit();
	admin_deinit();
	incident_deinit();
	monitor_deinit();
	route_deinit();
fail_base:
	workers_stop(NULL);
	workers_deinit();
	conf_free(c);
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
