/* One fleet, one voice: the session of this instance that listens for the others' admin
 * changes and holds (or asks for) the sender lock, on a thread of its own. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "clock.h"
#include "metrics.h"
#include "registry.h"
#include "health/health.h"
#include "ops/admin.h"
#include "ops/fleet.h"
#include "ops/outbox.h"
#include "ops/sender.h"
#include "ops/status.h"
#include "ops/store.h"

#define NAME_CAP    64
#define PAYLOAD_CAP 256
#define POLL_MS     200           /* the thread looks at its stop flag and the lock this often */
#define STORED      "(the store)" /* the instance of admin states read from the database */

enum note_kind {
	NOTE_ADMIN = 0, /* another instance changed a backend's admin state or weight */
	NOTE_ROLE,      /* this instance became, or stopped being, the sender */
	NOTE_UP,        /* the database became reachable, or not */
	NOTE_REPLAY,    /* a message a dead sender left pending in the outbox */
	NOTE_SHARED,    /* the subscribers changed (any instance) */
	NOTE_COUNT
};

struct note {
	enum note_kind kind;
	bool on;                   /* ROLE, UP; ADMIN: read from the store, not notified */
	char payload[PAYLOAD_CAP]; /* ADMIN: the notification; REPLAY: "KEY\tCHANNEL" */
	char *body;                /* REPLAY: the message (the loop frees it) */
	char *target;              /* REPLAY: its subscriber's address or URL (the loop's) */
	int64_t tag;               /* REPLAY: its subscriber */
};

static struct {
	bool active;                    /* loop: a PostgreSQL store */
	bool sender;                    /* loop: this instance sends */
	bool up;                        /* loop: the fleet's session is connected */
	char instance[NAME_CAP];        /* this nodegate's name */
	char *url;                      /* the thread's */
	pthread_t thread;               /* the session's */
	pthread_mutex_t mu;             /* what follows */
	bool stopping;                  /* the thread ends */
	struct note box[FLEET_MAILBOX]; /* for the loop */
	size_t n_box;
	uint64_t dropped; /* notifications the full mailbox lost */
	int efd;          /* eventfd: the thread wakes the loop */
	struct event *ev;
	uint64_t applied, takeovers, losses, replayed;
	int64_t started; /* Unix ms: this process's outbox rows are newer */
} F = {.mu = PTHREAD_MUTEX_INITIALIZER, .efd = -1};

const char *fleet_instance(void)
{
	return F.instance;
}

bool fleet_active(void)
{
	return F.active;
}

/* ---- the thread ------------------------------------------------------------------------------ */

static void post(const struct note *n)
{
	uint64_t one = 1;

	pthread_mutex_lock(&F.mu);
	if (F.n_box < FLEET_MAILBOX) {
		F.box[F.n_box++] = *n;
	} else {
		F.dropped++;
		free(n->body);
		free(n->target);
	}
	pthread_mutex_unlock(&F.mu);
	if (write(F.efd, &one, sizeof(one)) < 0) {
		/* the counter is full: a wake-up is pending anyway */
	}
}

/* Waits (up to a second) until the loop has made room in the mailbox for one more note. */
static void room(void)
{
	for (int t = 0; t < 100; t++) {
		pthread_mutex_lock(&F.mu);
		bool ok = F.n_box < FLEET_MAILBOX - 16 || F.stopping;
		pthread_mutex_unlock(&F.mu);
		if (ok)
			return;
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000L}, NULL);
	}
}

static bool stopping(void)
{
	bool s;

	pthread_mutex_lock(&F.mu);
	s = F.stopping;
	pthread_mutex_unlock(&F.mu);
	return s;
}

static void nap(int ms)
{
	for (int t = 0; t < ms && !stopping(); t += 50)
		nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000L}, NULL);
}

static PGconn *session(void)
{
	const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *vals[] = {"2", "nodegate-fleet", F.url, NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	PGresult *r;

	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		return NULL;
	}
	r = PQexec(c, "LISTEN " FLEET_CHANNEL "; LISTEN " FLEET_SUBS_CHANNEL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

/* Asks for the sender lock; true once held (it stays held while the session lives). */
static bool try_lock(PGconn *c)
{
	char sql[80];
	PGresult *r;
	bool got;

	snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%d)", FLEET_SENDER_KEY);
	r = PQexec(c, sql);
	got = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	      strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return got;
}

/* Just made the sender: what another instance recorded and did not confirm is sent again
 * (at most FLEET_MAILBOX - 16 of them, oldest first; the rest on the next takeover). */
static void replay_pending(PGconn *c)
{
	char since[24];
	const char *params[2] = {F.instance, since};
	PGresult *r;

	snprintf(since, sizeof(since), "%lld", (long long)F.started);
	r = PQexecParams(c,
	                 "SELECT key, channel, body, target, tag FROM outbox WHERE"
	                 " state = 'pending' AND"
	                 " NOT (instance = $1 AND created >= $2::bigint) ORDER BY created, key"
	                 " LIMIT 240",
	                 2, NULL, params, NULL, NULL, 0);
	for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
		struct note n = {.kind = NOTE_REPLAY,
		                 .body = strdup(PQgetvalue(r, i, 2)),
		                 .target = strdup(PQgetvalue(r, i, 3)),
		                 .tag = strtoll(PQgetvalue(r, i, 4), NULL, 10)};

		snprintf(n.payload, sizeof(n.payload), "%s\t%s", PQgetvalue(r, i, 0),
		         PQgetvalue(r, i, 1));
		if (n.body != NULL && n.target != NULL) {
			room(); /* the admin states read just before may fill it */
			post(&n);
			continue;
		}
		free(n.body);
		free(n.target);
	}
	PQclear(r);
}

/* Just connected: the fleet's admin states as the database has them (a drain set on another
 * instance while this one was cut off, or before it started without the database), applied
 * as notifications from "the store" (a state this instance has already changes nothing).
 * At most half the mailbox, so that the replay that may follow finds room. */
static void load_admin(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT backend, admin, COALESCE(weight, -1) FROM admin_state"
	                        " ORDER BY backend LIMIT 128");

	for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
		struct note n = {.kind = NOTE_ADMIN, .on = true};

		snprintf(n.payload, sizeof(n.payload), "%s\t%s\t%s\t%s", STORED,
		         PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
		post(&n);
	}
	PQclear(r);
}

/* Relays the notifications libpq has read (a query's result may bring some along). */
static void relay(PGconn *c)
{
	PGnotify *n;

	while ((n = PQnotifies(c)) != NULL) {
		struct note note = {
		    .kind = strcmp(n->relname, FLEET_SUBS_CHANNEL) == 0 ? NOTE_SHARED : NOTE_ADMIN};

		snprintf(note.payload, sizeof(note.payload), "%s", n->extra);
		post(&note);
		PQfreemem(n);
	}
}

/* Reads what arrived; false when the session is lost. */
static bool drain(PGconn *c)
{
	if (PQconsumeInput(c) == 0 || PQstatus(c) != CONNECTION_OK)
		return false;
	relay(c);
	return true;
}

static void *fleet_main(void *arg)
{
	PGconn *c = NULL;
	bool held = false;

	while (!stopping()) {
		if (c == NULL) {
			/* the schema first, and what this instance wrote while away */
			c = store_synced() ? session() : NULL;
			if (c == NULL) {
				nap(FLEET_RETRY_MS);
				continue;
			}
			post(&(struct note){.kind = NOTE_UP, .on = true});
			load_admin(c);
			/* a sender that lost its session stays one while nobody can take
			 * its place; back, it steps down unless the lock is still free */
			if (!(held = try_lock(c))) {
				post(&(struct note){.kind = NOTE_ROLE, .on = false});
			} else {
				post(&(struct note){.kind = NOTE_ROLE, .on = true});
				replay_pending(c);
			}
		}
		if (!held && (held = try_lock(c))) {
			post(&(struct note){.kind = NOTE_ROLE, .on = true});
			replay_pending(c);
		}
		relay(c);
		struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
		int rc = poll(&p, 1, held ? POLL_MS : FLEET_RETRY_MS);

		if ((rc < 0 && errno != EINTR) || (rc > 0 && !drain(c)) ||
		    PQstatus(c) != CONNECTION_OK) {
			PQfinish(c); /* the lock goes with the session */
			c = NULL;
			held = false;
			post(&(struct note){.kind = NOTE_UP, .on = false});
			nap(FLEET_RETRY_MS);
		}
	}
	PQfinish(c);
	return NULL;
}

/* ---- the loop side ------------------------------------------------------------------------------
 */

/* "INSTANCE\tBACKEND\tADMIN\tWEIGHT" from another instance: applied here. */
static void apply_admin(const char *payload, bool stored)
{
	char inst[NAME_CAP], backend[NAME_CAP + 16], admin[32];
	int weight, a = -1;

	if (sscanf(payload, "%63[^\t]\t%79[^\t]\t%31[^\t]\t%d", inst, backend, admin, &weight) !=
	    4) {
		log_warn("fleet: a notification not understood: ignored");
		return;
	}
	if (strcmp(inst, F.instance) == 0)
		return; /* ours, applied already */
	for (int i = 0; i < ADMIN_COUNT; i++)
		if (strcmp(admin_state_names[i], admin) == 0)
			a = i;
	if (a < 0 || admin_remote(backend, (enum admin_state)a, weight, inst) < 0)
		return;
	F.applied += !stored;
}

static void set_role(bool on)
{
	if (on == F.sender)
		return;
	F.sender = on;
	sender_set(true, on);
	if (on) {
		F.takeovers++;
		log_warn("fleet: %s is the sender now (alerts, escalations, subscriber mail, "
		         "mirror pushes)",
		         F.instance);
	} else {
		F.losses++;
		log_warn("fleet: %s is no longer the sender (another instance holds the lock)",
		         F.instance);
	}
}

static void set_up(bool on)
{
	if (on == F.up)
		return;
	F.up = on;
	if (on)
		sender_shared_changed(); /* what changed while this instance was away */
	if (on)
		log_info("fleet: %s: connected to %s, listening for the fleet's admin changes",
		         F.instance, store_where());
	else
		log_error("fleet: %s: the database is unreachable: routing goes on from local "
		          "judgement%s; trying again every %dms",
		          F.instance, F.sender ? ", this instance goes on sending" : "",
		          FLEET_RETRY_MS);
}

/* "KEY\tCHANNEL" and its message, left pending by a dead sender: sent from here (the note's
 * strings freed). */
static void replay(struct note *n)
{
	char key[STORE_OUTBOX_KEY_MAX], channel[80];

	if (sscanf(n->payload, "%127[^\t]\t%79[^\t]", key, channel) == 2 &&
	    outbox_replay(&(struct outbox_row){.key = key,
	                                       .channel = channel,
	                                       .target = n->target,
	                                       .tag = n->tag,
	                                       .body = n->body}) == 0)
		F.replayed++;
	free(n->body);
	free(n->target);
}

static void notes_cb(evutil_socket_t fd, short what, void *arg)
{
	struct note box[FLEET_MAILBOX];
	uint64_t v, dropped;
	size_t n;

	if (read(F.efd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
		/* the next wake-up reads it */
	}
	pthread_mutex_lock(&F.mu);
	n = F.n_box;
	memcpy(box, F.box, n * sizeof(box[0]));
	F.n_box = 0;
	dropped = F.dropped;
	F.dropped = 0;
	pthread_mutex_unlock(&F.mu);
	if (dropped > 0)
		log_warn("fleet: %llu notifications dropped (mailbox full, %d)",
		         (unsigned long long)dropped, FLEET_MAILBOX);
	for (size_t i = 0; i < n; i++) {
		if (box[i].kind == NOTE_ADMIN)
			apply_admin(box[i].payload, box[i].on);
		else if (box[i].kind == NOTE_ROLE)
			set_role(box[i].on);
		else if (box[i].kind == NOTE_REPLAY)
			replay(&box[i]);
		else if (box[i].kind == NOTE_SHARED)
			sender_shared_changed();
		else
			set_up(box[i].on);
	}
}

static void fleet_metrics(struct metrics_out *o)
{
	metrics_outf(o,
	             "# HELP nodegate_store_up 1 while the store takes the writes (0: the database "
	             "is unreachable, writes are kept to be replayed)\n"
	             "# TYPE nodegate_store_up gauge\nnodegate_store_up %d\n"
	             "# HELP nodegate_store_queue writes waiting for the store (queued and kept)\n"
	             "# TYPE nodegate_store_queue gauge\nnodegate_store_queue %zu\n",
	             store_up(), store_queued());
	if (!F.active)
		return;
	metrics_outf(o,
	             "# HELP nodegate_fleet_sender 1 while this instance holds the sender lock\n"
	             "# TYPE nodegate_fleet_sender gauge\nnodegate_fleet_sender %d\n"
	             "# HELP nodegate_fleet_session_up 1 while the fleet's session (LISTEN, sender "
	             "lock) is connected\n"
	             "# TYPE nodegate_fleet_session_up gauge\nnodegate_fleet_session_up %d\n"
	             "# HELP nodegate_fleet_takeovers_total times this instance took the sender "
	             "lock\n"
	             "# TYPE nodegate_fleet_takeovers_total counter\n"
	             "nodegate_fleet_takeovers_total %llu\n"
	             "# HELP nodegate_fleet_admin_applied_total admin changes of other instances "
	             "applied here\n"
	             "# TYPE nodegate_fleet_admin_applied_total counter\n"
	             "nodegate_fleet_admin_applied_total %llu\n"
	             "# HELP nodegate_fleet_replayed_total messages a dead sender left pending, "
	             "sent from here\n"
	             "# TYPE nodegate_fleet_replayed_total counter\n"
	             "nodegate_fleet_replayed_total %llu\n"
	             "# HELP nodegate_fleet_deferred_total messages left to the sender instance\n"
	             "# TYPE nodegate_fleet_deferred_total counter\n",
	             F.sender, F.up, (unsigned long long)F.takeovers, (unsigned long long)F.applied,
	             (unsigned long long)F.replayed);
	for (int i = 0; i < SENDER_WHAT_COUNT; i++)
		metrics_outf(o, "nodegate_fleet_deferred_total{what=\"%s\"} %llu\n",
		             sender_what_names[i],
		             (unsigned long long)sender_deferred_count((enum sender_what)i));
}

int fleet_init(const char *url, const char *instance, char *err, size_t errlen)
{
	sigset_t all, old;
	int rc;

	if (instance != NULL)
		snprintf(F.instance, sizeof(F.instance), "%s", instance);
	else if (gethostname(F.instance, sizeof(F.instance)) < 0 || F.instance[0] == '\0')
		snprintf(F.instance, sizeof(F.instance), "nodegate");
	F.instance[sizeof(F.instance) - 1] = '\0';
	store_set_instance(F.instance);
	F.started = clock_wall();
	if (status_metrics(fleet_metrics) < 0)
		log_warn("fleet: no room for its metrics");
	if (url == NULL || strncmp(url, "sqlite:", 7) == 0)
		return 0;
	F.url = strdup(url);
	F.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	F.ev = F.efd >= 0 ? event_new(registry.base, F.efd, EV_READ | EV_PERSIST, notes_cb, NULL)
	                  : NULL;
	if (F.url == NULL || F.ev == NULL || event_add(F.ev, NULL) < 0) {
		snprintf(err, errlen, "fleet: cannot start: %s",
		         F.efd < 0 ? strerror(errno) : "out of memory");
		goto fail;
	}
	F.stopping = false;
	F.n_box = 0;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&F.thread, NULL, fleet_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "fleet: cannot start its thread: %s", strerror(rc));
		goto fail;
	}
	F.active = true;
	sender_set(true, false);
	log_info("fleet: %s joins the fleet of %s", F.instance, store_where());
	return 0;
fail:
	fleet_deinit();
	return -1;
}

void fleet_deinit(void)
{
	if (F.active) {
		pthread_mutex_lock(&F.mu);
		F.stopping = true;
		pthread_mutex_unlock(&F.mu);
		pthread_join(F.thread, NULL);
	}
	for (size_t i = 0; i < F.n_box; i++) {
		free(F.box[i].body);
		free(F.box[i].target);
	}
	F.n_box = 0;
	if (F.ev != NULL)
		event_free(F.ev);
	F.ev = NULL;
	if (F.efd >= 0)
		close(F.efd);
	F.efd = -1;
	free(F.url);
	F.url = NULL;
	F.active = F.sender = F.up = false;
	sender_set(false, false);
}
