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
#include "ops/incident.h"
#include "health/poolstat.h"
#include "ops/outbox.h"
#include "ops/sender.h"
#include "ops/status.h"
#include "ops/store.h"

#define NAME_CAP    64
#define PAYLOAD_CAP 256
#define STR_(x)     #x
#define STR(x)      STR_(x)
#define POLL_MS     200  /* the thread looks at its stop flag and the lock this often */
#define VIEW_MS     250  /* the thread reads the others' verdicts at least this often */
#define TICK_MS     100  /* the loop compares its verdicts with what it last wrote */
#define IDS_BLOCK   16   /* incident ids taken from the database at a time */
#define IDS_LOW     8    /* and taken again when fewer are at hand */
#define SYNC_MAX    64   /* incidents to read again, gathered from one round of notifications */
#define ENTRIES_MAX 4096 /* lines of one incident read back (more are left out) */
#define RESYNC_MS   5000 /* open incidents are read back this often all the same */
#define STORED      "(the store)" /* the instance of admin states read from the database */

enum note_kind {
	NOTE_ADMIN = 0, /* another instance changed a backend's admin state or weight */
	NOTE_ROLE,      /* this instance became, or stopped being, the sender */
	NOTE_UP,        /* the database became reachable, or not */
	NOTE_REPLAY,    /* a message a dead sender left pending in the outbox */
	NOTE_VIEW,      /* the other live instances' verdicts */
	NOTE_INCIDENT,  /* an incident as stored, after a change by any instance */
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
	void *obj;                 /* VIEW: struct view; INCIDENT: struct synced (loop frees) */
};

/* The backends other live instances have in rotation. */
struct view {
	size_t n, peers; /* names; live instances other than this one */
	char (*up)[NAME_CAP + 16];
};

/* An incident read back from the store, for the loop. */
struct synced {
	bool have;
	struct incident inc;
	struct incident_entry *e;
	size_t n, cap;
	int64_t *spans; /* start, end pairs */
	size_t n_spans, cap_spans;
};

/* What this instance last wrote of a backend's verdict (loop). */
struct said {
	char name[NAME_CAP + 16];
	bool up;
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
	int64_t started;            /* Unix ms: this process's outbox rows are newer */
	int64_t ids[2 * IDS_BLOCK]; /* incident ids the database gave, not used yet; under mu */
	size_t n_ids;
	struct view view;  /* loop: the others' verdicts */
	uint64_t view_at;  /* loop: when they were read (monotonic ms), 0 never */
	bool view_live;    /* loop: the view was fresh at the last tick */
	struct said *said; /* loop: this instance's verdicts as last written */
	size_t n_said;
	int64_t beat_at;    /* loop: the last heartbeat (Unix ms) */
	struct event *tick; /* loop: TICK_MS */
	uint64_t synced;    /* loop: incidents taken from the store after a change */
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

static void view_free(struct view *v)
{
	free(v->up);
	*v = (struct view){0};
}

static void synced_free(struct synced *y)
{
	if (y == NULL)
		return;
	free(y->e);
	free(y->spans);
	free(y);
}

static void free_obj(const struct note *n)
{
	if (n->kind == NOTE_VIEW && n->obj != NULL) {
		view_free(n->obj);
		free(n->obj);
	} else if (n->kind == NOTE_INCIDENT) {
		synced_free(n->obj);
	}
}

static void post(const struct note *n)
{
	uint64_t one = 1;

	pthread_mutex_lock(&F.mu);
	if (F.n_box < FLEET_MAILBOX) {
		F.box[F.n_box++] = *n;
	} else {
		F.dropped++;
		free(n->body);
		free_obj(n);
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
	r = PQexec(c, "LISTEN " FLEET_CHANNEL "; LISTEN " FLEET_SYNC_CHANNEL
	              "; LISTEN " FLEET_SUBS_CHANNEL);
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

/* The thread's work gathered from notifications: incidents to read again, the view. */
static struct {
	int64_t ids[SYNC_MAX];
	size_t n;
	bool all_open; /* every open incident is read again (and those resolved since SINCE) */
	int64_t since; /* Unix ms */
	uint64_t resync_at;
	bool view; /* another instance's verdicts changed */
	uint64_t view_at;
} W;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* "KIND\tINSTANCE\tID" on FLEET_SYNC_CHANNEL: I an incident changed (read again, ours too:
 * the database numbered its lines), V an instance's verdicts changed. */
static void gather(const char *payload)
{
	char kind, inst[NAME_CAP];
	long long id;

	if (sscanf(payload, "%c\t%63[^\t]\t%lld", &kind, inst, &id) != 3)
		return;
	if (kind == 'V') {
		W.view |= strcmp(inst, F.instance) != 0;
		return;
	}
	for (size_t i = 0; i < W.n; i++)
		if (W.ids[i] == id)
			return;
	if (W.n < SYNC_MAX)
		W.ids[W.n++] = id;
	else
		W.all_open = true;
}

/* Relays the notifications libpq has read (a query's result may bring some along). */
static void relay(PGconn *c)
{
	PGnotify *n;

	while ((n = PQnotifies(c)) != NULL) {
		struct note note = {
		    .kind = strcmp(n->relname, FLEET_SUBS_CHANNEL) == 0 ? NOTE_SHARED : NOTE_ADMIN};

		if (strcmp(n->relname, FLEET_SYNC_CHANNEL) == 0) {
			gather(n->extra);
			PQfreemem(n);
			continue;
		}

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

/* The others' verdicts, fresh within FLEET_STALE_MS, to the loop. */
static void read_view(PGconn *c)
{
	char since[24];
	const char *params[2] = {F.instance, since};
	struct note n = {.kind = NOTE_VIEW};
	struct view *v = calloc(1, sizeof(*v));
	PGresult *r;

	W.view = false;
	W.view_at = mono_ms();
	if (v == NULL)
		return;
	snprintf(since, sizeof(since), "%lld", (long long)(clock_wall() - FLEET_STALE_MS));
	r = PQexecParams(c,
	                 "SELECT backend, MAX(up) FROM verdicts"
	                 " WHERE instance <> $1 AND beat > $2::bigint GROUP BY backend"
	                 " ORDER BY backend LIMIT 4096",
	                 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		free(v);
		return;
	}
	v->up = calloc((size_t)PQntuples(r) + 1, sizeof(*v->up));
	for (int i = 0; v->up != NULL && i < PQntuples(r); i++)
		if (strcmp(PQgetvalue(r, i, 1), "1") == 0)
			snprintf(v->up[v->n++], sizeof(v->up[0]), "%s", PQgetvalue(r, i, 0));
	PQclear(r);
	r = PQexecParams(c,
	                 "SELECT COUNT(DISTINCT instance) FROM verdicts WHERE instance <> $1 AND"
	                 " beat > $2::bigint",
	                 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v->peers = (size_t)strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	n.obj = v;
	post(&n);
}

static void synced_incident(const struct incident *inc, void *arg)
{
	struct synced *y = arg;

	y->inc = *inc;
	y->inc.entries = NULL;
	y->inc.n_entries = 0;
	y->have = true;
}

static void synced_entry(int64_t id, const struct incident_entry *e, void *arg)
{
	struct synced *y = arg;

	if (y->n == y->cap) {
		size_t cap = y->cap ? y->cap * 2 : 16;
		struct incident_entry *v;

		if (cap > ENTRIES_MAX || (v = realloc(y->e, cap * sizeof(*v))) == NULL)
			return;
		y->e = v;
		y->cap = cap;
	}
	y->e[y->n++] = *e;
}

static void synced_span(int64_t id, int64_t start, int64_t end, void *arg)
{
	struct synced *y = arg;

	if (y->n_spans == y->cap_spans) {
		size_t cap = y->cap_spans ? y->cap_spans * 2 : 4;
		int64_t *v;

		if (cap > ENTRIES_MAX || (v = realloc(y->spans, 2 * cap * sizeof(*v))) == NULL)
			return;
		y->spans = v;
		y->cap_spans = cap;
	}
	y->spans[2 * y->n_spans] = start;
	y->spans[2 * y->n_spans + 1] = end;
	y->n_spans++;
}

/* Incident ID as stored now, to the loop (on the store's connection: store.c locks it). */
static void read_incident(int64_t id)
{
	const struct store_loader l = {synced_incident, synced_entry, synced_span, NULL};
	struct store_loader with = l;
	struct synced *y = calloc(1, sizeof(*y));

	if (y == NULL)
		return;
	with.arg = y;
	if (store_load_incident(id, &with) < 0 || !y->have) {
		synced_free(y);
		return;
	}
	post(&(struct note){.kind = NOTE_INCIDENT, .obj = y});
}

/* Every open incident, and those resolved since W.since: more changed at once than one
 * round gathers, notifications missed while the session was away, or every RESYNC_MS as a
 * net under what a full mailbox may have lost. */
static void gather_open(PGconn *c)
{
	char since[24];
	const char *params[1] = {since};
	PGresult *r;

	snprintf(since, sizeof(since), "%lld", (long long)W.since);
	r = PQexecParams(c,
	                 "SELECT id FROM incidents WHERE resolved = 0 OR resolved >= $1::bigint"
	                 " ORDER BY id DESC LIMIT " STR(SYNC_MAX),
	                 1, NULL, params, NULL, NULL, 0);
	W.all_open = false;
	W.since = clock_wall();
	W.resync_at = mono_ms();
	for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
		int64_t id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		bool have = false;

		for (size_t j = 0; j < W.n; j++)
			have |= W.ids[j] == id;
		if (!have && W.n < SYNC_MAX)
			W.ids[W.n++] = id;
	}
	PQclear(r);
}

/* Incident ids for the loop: a block of IDS_BLOCK from the database's counter (meta
 * last_id, which every instance's incidents also move forward), when few are at hand. */
static void take_ids(PGconn *c)
{
	size_t have;
	PGresult *r;

	pthread_mutex_lock(&F.mu);
	have = F.n_ids;
	pthread_mutex_unlock(&F.mu);
	if (have >= IDS_LOW)
		return;
	r = PQexec(c, "UPDATE meta SET value = value + " STR(IDS_BLOCK) " WHERE key = 'last_id'"
	                                                                " RETURNING value");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		int64_t last = strtoll(PQgetvalue(r, 0, 0), NULL, 10);

		pthread_mutex_lock(&F.mu);
		for (int64_t id = last - IDS_BLOCK + 1; id <= last; id++)
			if (F.n_ids < sizeof(F.ids) / sizeof(F.ids[0]))
				F.ids[F.n_ids++] = id;
		pthread_mutex_unlock(&F.mu);
	}
	PQclear(r);
}

/* What the notifications asked for, and the view every VIEW_MS. */
static void work(PGconn *c)
{
	if (W.all_open || mono_ms() - W.resync_at >= RESYNC_MS)
		gather_open(c);
	for (size_t i = 0; i < W.n && !stopping(); i++)
		read_incident(W.ids[i]);
	W.n = 0;
	if (W.view || mono_ms() - W.view_at >= VIEW_MS)
		read_view(c);
	take_ids(c);
}

static void *fleet_main(void *arg)
{
	PGconn *c = NULL;
	bool held = false;
	int64_t lost_at = 0; /* Unix ms: the session was lost */

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
			/* what changed while no one listened here (since the start: the loop
			 * loaded the incidents before this session listened) */
			W.all_open = true;
			W.since = (lost_at != 0 ? lost_at : F.started) - FLEET_RETRY_MS;
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
		work(c);
		relay(c);
		struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
		int rc = poll(&p, 1, W.n > 0 || W.view ? 0 : held ? POLL_MS : VIEW_MS);

		if ((rc < 0 && errno != EINTR) || (rc > 0 && !drain(c)) ||
		    PQstatus(c) != CONNECTION_OK) {
			PQfinish(c); /* the lock goes with the session */
			c = NULL;
			held = false;
			lost_at = clock_wall();
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

/* ---- the fleet's view and its incidents, on the loop ------------------------------------- */

/* Whether another live instance has BACKEND in rotation (poolstat's fleet view); nothing
 * once the view is older than FLEET_STALE_MS (the session is lost: local judgement). */
static bool up_elsewhere(const char *backend)
{
	if (F.view_at == 0 || clock_now() - F.view_at > FLEET_STALE_MS)
		return false;
	for (size_t i = 0; i < F.view.n; i++)
		if (strcmp(F.view.up[i], backend) == 0)
			return true;
	return false;
}

/* Other instances are live (their heartbeats are fresh in the view). */
static bool peers_live(void)
{
	return F.view_at != 0 && clock_now() - F.view_at <= FLEET_STALE_MS && F.view.peers > 0;
}

static bool view_same(const struct view *a, const struct view *b)
{
	if (a->n != b->n || a->peers != b->peers)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->up[i], b->up[i]) != 0)
			return false;
	return true;
}

/* The others' verdicts, read now: taken; a change is judged again at once (incidents). */
static void take_view(struct view *v)
{
	bool changed = !F.view_live || !view_same(&F.view, v);

	view_free(&F.view);
	F.view = *v;
	free(v);
	F.view_at = clock_now();
	F.view_live = true;
	if (changed)
		incident_poke();
}

/* The next incident id the database gave, 0 when none is at hand (incident.c then counts
 * on from the highest it knows). */
static int64_t next_id(void)
{
	int64_t id = 0;

	pthread_mutex_lock(&F.mu);
	if (F.n_ids > 0) {
		id = F.ids[0];
		memmove(F.ids, F.ids + 1, --F.n_ids * sizeof(F.ids[0]));
	}
	pthread_mutex_unlock(&F.mu);
	return id;
}

/* What was last written of NAME; FRESH when never (a new entry). NULL: out of memory. */
static struct said *said_of(const char *name, bool *fresh)
{
	struct said *s;

	*fresh = false;
	for (size_t i = 0; i < F.n_said; i++)
		if (strcmp(F.said[i].name, name) == 0)
			return &F.said[i];
	s = realloc(F.said, (F.n_said + 1) * sizeof(*s));
	if (s == NULL)
		return NULL;
	F.said = s;
	s = &F.said[F.n_said++];
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->up = false;
	*fresh = true;
	return s;
}

/* Every TICK_MS: this instance's verdicts written where they changed, all of them every
 * FLEET_BEAT_MS (the heartbeat); nothing while the database is away. A view gone stale
 * (the session lost) is judged again once. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = clock_wall();
	bool beat = now - F.beat_at >= FLEET_BEAT_MS;

	if (F.view_live && clock_now() - F.view_at > FLEET_STALE_MS) {
		F.view_live = false;
		incident_poke();
	}
	if (!store_up())
		return;
	for (size_t i = 0; i < registry.n_backends; i++) {
		const struct backend *b = registry.backends[i];
		bool up = b->node != NULL && b->node->routable && b->node->weight > 0;
		bool fresh;
		struct said *s;

		if (b->removed) /* no longer routed to from here: its row goes stale */
			continue;
		if ((s = said_of(b->name, &fresh)) == NULL)
			continue;
		bool changed = fresh || s->up != up;
		s->up = up;
		if (changed || beat)
			store_put_verdict(b->name, up, changed, now);
	}
	if (beat)
		F.beat_at = now;
}

/* An incident as stored after a change (by any instance): the history takes it. */
static void take_incident(struct synced *y)
{
	incident_sync(&y->inc, y->e, y->n, y->spans, y->n_spans);
	F.synced++;
	synced_free(y);
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
		else if (box[i].kind == NOTE_VIEW)
			take_view(box[i].obj);
		else if (box[i].kind == NOTE_INCIDENT)
			take_incident(box[i].obj);
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
	metrics_outf(
	    o,
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
	    "# HELP nodegate_fleet_peers other instances whose heartbeat is fresh (their "
	    "verdicts count in the fleet's view)\n"
	    "# TYPE nodegate_fleet_peers gauge\nnodegate_fleet_peers %zu\n"
	    "# HELP nodegate_fleet_synced_total incidents read back after a change by an "
	    "instance\n"
	    "# TYPE nodegate_fleet_synced_total counter\nnodegate_fleet_synced_total %llu\n"
	    "# HELP nodegate_fleet_deferred_total messages left to the sender instance\n"
	    "# TYPE nodegate_fleet_deferred_total counter\n",
	    F.sender, F.up, (unsigned long long)F.takeovers, (unsigned long long)F.applied,
	    (unsigned long long)F.replayed, peers_live() ? F.view.peers : (size_t)0,
	    (unsigned long long)F.synced);
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
	F.tick = event_new(registry.base, -1, EV_PERSIST, tick_cb, NULL);
	if (F.tick == NULL || event_add(F.tick, &(struct timeval){.tv_usec = TICK_MS * 1000}) < 0) {
		snprintf(err, errlen, "fleet: cannot start its timer");
		goto fail;
	}
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
	poolstat_set_fleet(up_elsewhere);
	incident_set_fleet(next_id, peers_live);
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
		free_obj(&F.box[i]);
		free(F.box[i].target);
	}
	F.n_box = 0;
	if (F.tick != NULL)
		event_free(F.tick);
	F.tick = NULL;
	view_free(&F.view);
	F.view_at = 0;
	F.view_live = false;
	free(F.said);
	F.said = NULL;
	F.n_said = 0;
	F.n_ids = 0;
	poolstat_set_fleet(NULL);
	incident_set_fleet(NULL, NULL);
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
