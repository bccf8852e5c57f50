/* SQLite state: one connection, one writer thread fed by a bounded queue, and barriers that
 * tell the loop (through an eventfd) when what was queued before them is on disk.
 *
 * Durability: journal_mode=WAL with synchronous=FULL, so a COMMIT returns only once the WAL
 * is fsynced; the writer batches what is queued into one transaction, so the fsync is paid
 * once per batch, on the writer thread, never on the loop. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "registry.h"
#include "stats.h"
#include "health/poolstat.h"
#include "ops/store.h"

#define BUSY_TIMEOUT_MS 5000
#define DAY_MS          (24LL * 3600 * 1000)
#define NAME_CAP        80  /* a backend name (conf: at most 64 bytes) */
#define ERR_CAP         256 /* the last SQLite error, for the loop to log */
/* Tests only: the writer sleeps this many ms before each batch, as on a slow disk, so that
 * a test can kill -9 nodegate while writes are queued and see which answers were sent. */

/* ---- the queue ------------------------------------------------------------------------- */

enum op_kind {
	OP_INCIDENT = 0,
	OP_ENTRY,
	OP_SPAN,
	OP_ADMIN,
	OP_PRUNE,
	OP_ACK_TOKEN,
	OP_SUBSCRIBER,
	OP_SUBSCRIBER_DEL,
	OP_SECRET,
	OP_LATENCY,
	OP_BARRIER,
	OP_COUNT
};
static const char *const op_kind_names[OP_COUNT] = {
    [OP_INCIDENT] = "incident",
    [OP_ENTRY] = "entry",
    [OP_SPAN] = "span",
    [OP_ADMIN] = "admin_state",
    [OP_PRUNE] = "prune",
    [OP_ACK_TOKEN] = "ack_token",
    [OP_SUBSCRIBER] = "subscriber",
    [OP_SUBSCRIBER_DEL] = "subscriber_delete",
    [OP_SECRET] = "secret",
    [OP_LATENCY] = "latency",
    [OP_BARRIER] = "barrier",
};

struct op {
	enum op_kind kind;
	int rc; /* the writer's: 0 written, -1 failed */
	union {
		struct incident inc; /* entries NULL */
		struct {
			int64_t id;
			size_t seq;
			struct incident_entry e;
		} entry;
		struct {
			int64_t id, start, end;
		} span;
		struct {
			char backend[NAME_CAP];
			enum admin_state a;
			int weight;
			int64_t at;
		} admin;
		int64_t prune_now;
		struct store_latency lat;
		struct {
			char mac[STORE_TOKEN_MAX];
			int64_t id, expires, used_at;
		} token;
		struct store_subscriber sub;
		int64_t sub_id;
		struct {
			char name[32];
			char value[129];
		} secret;
		struct {
			store_done_fn done;
			void *arg;
			bool fail; /* a write before it was dropped (queue full) */
		} barrier;
	} u;
};

/* Prepared statements, one per SQL text (the writer's). */
enum sql {
	SQL_INCIDENT = 0,
	SQL_LAST_ID,
	SQL_ENTRY,
	SQL_SPAN,
	SQL_ADMIN_SET,
	SQL_ADMIN_DEL,
	SQL_ACK_TOKEN,
	SQL_SUBSCRIBER,
	SQL_SUBSCRIBER_DEL,
	SQL_SECRET,
	SQL_LATENCY,
	SQL_COUNT
};
static const char *const sql_text[SQL_COUNT] = {
    [SQL_INCIDENT] = "INSERT INTO incidents(id, pool, title, severity, manual, started, resolved,"
                     " planned_start, planned_end, priority, priority_set, acked, acked_by,"
                     " commander, investigator, fixer, recorder, communicator, causes,"
                     " esc_step, backend, verdict, open_causes, counted, open_received,"
                     " open_failed, open_retried, open_refused, resolve_received,"
                     " resolve_failed, resolve_retried, resolve_refused, pm_root_cause,"
                     " pm_prevent, pm_detect, pm_mitigate, pm_fix, expected, expected_by,"
                     " methods, serving, total, backends, maint_phase)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
                     " ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30,"
                     " ?31, ?32, ?33, ?34, ?35, ?36, ?37, ?38, ?39, ?40, ?41, ?42, ?43, ?44)"
                     " ON CONFLICT(id) DO UPDATE SET pool = ?2, title = ?3, severity = ?4,"
                     " manual = ?5, started = ?6, resolved = ?7, planned_start = ?8,"
                     " planned_end = ?9, priority = ?10, priority_set = ?11, acked = ?12,"
                     " acked_by = ?13, commander = ?14, investigator = ?15, fixer = ?16,"
                     " recorder = ?17, communicator = ?18, causes = ?19, esc_step = ?20,"
                     " backend = ?21, verdict = ?22, open_causes = ?23, counted = ?24,"
                     " open_received = ?25, open_failed = ?26, open_retried = ?27,"
                     " open_refused = ?28, resolve_received = ?29, resolve_failed = ?30,"
                     " resolve_retried = ?31, resolve_refused = ?32, pm_root_cause = ?33,"
                     " pm_prevent = ?34, pm_detect = ?35, pm_mitigate = ?36, pm_fix = ?37,"
                     " expected = ?38, expected_by = ?39, methods = ?40, serving = ?41,"
                     " total = ?42, backends = ?43, maint_phase = ?44",
    [SQL_LAST_ID] = "UPDATE meta SET value = MAX(value, ?1) WHERE key = 'last_id'",
    [SQL_ENTRY] = "INSERT OR REPLACE INTO entries(incident_id, seq, at, kind, status, eta,"
                  " next_update, text) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [SQL_SPAN] = "INSERT INTO spans(incident_id, start, end) VALUES(?1, ?2, ?3)"
                 " ON CONFLICT(incident_id, start) DO UPDATE SET end = ?3",
    [SQL_ADMIN_SET] = "INSERT INTO admin_state(backend, admin, weight, updated_at)"
                      " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(backend) DO UPDATE SET admin = ?2,"
                      " weight = ?3, updated_at = ?4",
    [SQL_ADMIN_DEL] = "DELETE FROM admin_state WHERE backend = ?1",
    [SQL_ACK_TOKEN] = "INSERT OR IGNORE INTO ack_tokens(mac, incident_id, expires, used_at)"
                      " VALUES(?1, ?2, ?3, ?4)",
    [SQL_SUBSCRIBER] = "INSERT OR REPLACE INTO subscribers(id, kind, address, pools, state,"
                       " token_hash, token_expires, created, confirmed)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [SQL_SUBSCRIBER_DEL] = "DELETE FROM subscribers WHERE id = ?1",
    [SQL_SECRET] = "INSERT OR IGNORE INTO secrets(name, value) VALUES(?1, ?2)",
    [SQL_LATENCY] = "INSERT OR REPLACE INTO latency(pool, span, start, n, p50_us, p99_us, hist)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('schema', 1);"
    "INSERT OR IGNORE INTO meta VALUES('last_id', 0);"
    "CREATE TABLE IF NOT EXISTS incidents(id INTEGER PRIMARY KEY, pool TEXT NOT NULL,"
    " title TEXT NOT NULL, severity TEXT NOT NULL, manual INTEGER NOT NULL,"
    " started INTEGER NOT NULL, resolved INTEGER NOT NULL, planned_start INTEGER NOT NULL,"
    " planned_end INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS incidents_resolved ON incidents(resolved);"
    "CREATE TABLE IF NOT EXISTS entries(incident_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " at INTEGER NOT NULL, kind TEXT NOT NULL, status TEXT, eta INTEGER, next_update INTEGER,"
    " text TEXT NOT NULL, PRIMARY KEY(incident_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS spans(incident_id INTEGER NOT NULL, start INTEGER NOT NULL,"
    " end INTEGER NOT NULL, PRIMARY KEY(incident_id, start)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS admin_state(backend TEXT PRIMARY KEY, admin TEXT NOT NULL,"
    " weight INTEGER, updated_at INTEGER NOT NULL);";

/* Each step from schema N to N + 1 (index N - 1); a file stays readable by the code that
 * wrote it only up to its own version, so steps only add. */
static const char *const migrations[] = {
    /* 1 -> 2: priority, acknowledgement, roles, remedies, escalation progress; used
     * acknowledgement links */
    "ALTER TABLE incidents ADD COLUMN priority TEXT;"
    "ALTER TABLE incidents ADD COLUMN priority_set INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN acked INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN acked_by TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN commander TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN investigator TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN fixer TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN recorder TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN communicator TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN causes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN esc_step INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE ack_tokens(mac TEXT PRIMARY KEY, incident_id INTEGER NOT NULL,"
    " expires INTEGER NOT NULL, used_at INTEGER NOT NULL) WITHOUT ROWID;",
    /* 2 -> 3: what opened it, for similar incidents: backend, verdict, causes */
    "ALTER TABLE incidents ADD COLUMN backend TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN verdict TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN open_causes INTEGER NOT NULL DEFAULT 0;"
    /* and the requests seen when it opened and resolved, for the postmortem */
    "ALTER TABLE incidents ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;" /* process start */
    "ALTER TABLE incidents ADD COLUMN open_received INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN open_failed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN open_retried INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN open_refused INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN resolve_received INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN resolve_failed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN resolve_retried INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN resolve_refused INTEGER NOT NULL DEFAULT 0;"
    /* and what ops wrote: the postmortem's fields, the expected recovery */
    "ALTER TABLE incidents ADD COLUMN pm_root_cause TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN pm_prevent TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN pm_detect TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN pm_mitigate TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN pm_fix TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN expected INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN expected_by TEXT NOT NULL DEFAULT '';"
    /* and its busiest methods ("NAME REQUESTS FAILED" lines) */
    "ALTER TABLE incidents ADD COLUMN methods TEXT NOT NULL DEFAULT '';",
    /* 3 -> 4: subscribers of the status page (email, webhook) and the key of their
     * unsubscribe links */
    "CREATE TABLE subscribers(id INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
    " address TEXT NOT NULL, pools TEXT NOT NULL, state TEXT NOT NULL,"
    " token_hash TEXT NOT NULL, token_expires INTEGER NOT NULL, created INTEGER NOT NULL,"
    " confirmed INTEGER NOT NULL);"
    "CREATE TABLE secrets(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
    /* 4 -> 5: plain words (the nodes in service at worst), maintenance that does something
     * (its backends, how far it went), and the response-time chart's buckets */
    "ALTER TABLE incidents ADD COLUMN serving INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN total INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN backends TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN maint_phase INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE latency(pool TEXT NOT NULL, span INTEGER NOT NULL, start INTEGER NOT NULL,"
    " n INTEGER NOT NULL, p50_us INTEGER NOT NULL, p99_us INTEGER NOT NULL, hist BLOB,"
    " PRIMARY KEY(pool, span, start));",
};
#define SCHEMA_VERSION (1 + (int)(sizeof(migrations) / sizeof(migrations[0])))

/* Resolved incidents past retention go, with their entries and spans. ?1 oldest kept
 * resolution time, ?2 how many resolved are kept. */
static const char prune_sql[] =
    "DELETE FROM incidents WHERE resolved > 0 AND (resolved < ?1 OR id NOT IN"
    " (SELECT id FROM incidents WHERE resolved > 0 ORDER BY resolved DESC, id DESC"
    " LIMIT ?2));"
    "DELETE FROM entries WHERE incident_id NOT IN (SELECT id FROM incidents);"
    "DELETE FROM spans WHERE incident_id NOT IN (SELECT id FROM incidents);"
    "DELETE FROM ack_tokens WHERE expires < ?1;";

struct done {
	store_done_fn fn;
	void *arg;
	int rc;
};

static struct {
	sqlite3 *db;
	pthread_mutex_t db_mu;           /* the connection: the writer's batch, or a load */
	sqlite3_stmt *stmt[SQL_COUNT];   /* writer only */
	struct op *batch;                /* writer only: ops taken off the queue */
	bool open;                       /* loop only */
	bool readonly;                   /* opened by store_open_readonly: reads only */
	bool dropped;                    /* loop only: a write dropped since the last barrier */
	pthread_t thread;                /* the writer */
	pthread_mutex_t mu;              /* what follows */
	pthread_cond_t cv;               /* the writer waits for ops or stop */
	bool stopping;                   /* the writer empties the queue and exits */
	bool failed;                     /* a write failed since the last barrier */
	struct op ring[STORE_QUEUE_MAX]; /* queued writes */
	size_t head, n;
	struct done done[STORE_QUEUE_MAX]; /* barriers committed, for the loop to run */
	size_t n_done;
	uint64_t errors;   /* failed writes not yet counted in stats */
	char err[ERR_CAP]; /* the last failure, not yet logged */
	int efd;           /* eventfd: the writer wakes the loop */
	uint64_t delay_ms; /* a slow disk, for the tests (store_test_delay); under mu */
	struct event *ev_done;
} st = {.db_mu = PTHREAD_MUTEX_INITIALIZER,
        .mu = PTHREAD_MUTEX_INITIALIZER,
        .cv = PTHREAD_COND_INITIALIZER,
        .efd = -1};

bool store_is_open(void)
{
	return st.open;
}

/* ---- the writer thread ------------------------------------------------------------------- */

static int bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
	return v != NULL ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT)
	                 : sqlite3_bind_null(s, i);
}

static int bind_ms_or_null(sqlite3_stmt *s, int i, int64_t v)
{
	return v != 0 ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);
}

static const char *severity_name(int sev)
{
	return sev >= 0 && sev < PS_COUNT ? pool_status_names[sev] : pool_status_names[0];
}

/* Counters as SQLite integers (signed: they wrap past 2^63, which no process reaches). */
static void bind_counts(sqlite3_stmt *s, int col, const struct incident_counts *c)
{
	sqlite3_bind_int64(s, col, (int64_t)c->received);
	sqlite3_bind_int64(s, col + 1, (int64_t)c->failed);
	sqlite3_bind_int64(s, col + 2, (int64_t)c->retried);
	sqlite3_bind_int64(s, col + 3, (int64_t)c->refused);
}

static void column_counts(sqlite3_stmt *s, int col, struct incident_counts *c)
{
	c->received = (uint64_t)sqlite3_column_int64(s, col);
	c->failed = (uint64_t)sqlite3_column_int64(s, col + 1);
	c->retried = (uint64_t)sqlite3_column_int64(s, col + 2);
	c->refused = (uint64_t)sqlite3_column_int64(s, col + 3);
}

/* An incident's methods as "NAME REQUESTS FAILED" lines. */
static void bind_methods(sqlite3_stmt *s, int col, const struct incident *inc)
{
	char text[INCIDENT_METHODS_MAX * 96];
	size_t off = 0;

	text[0] = '\0';
	for (size_t i = 0; i < inc->n_methods && i < INCIDENT_METHODS_MAX && off < sizeof(text);
	     i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s %llu %llu\n",
		                        inc->methods[i].name,
		                        (unsigned long long)inc->methods[i].requests,
		                        (unsigned long long)inc->methods[i].failed);
	sqlite3_bind_text(s, col, text, -1, SQLITE_TRANSIENT);
}

static void column_methods(sqlite3_stmt *s, int col, struct incident *inc)
{
	const char *p = (const char *)sqlite3_column_text(s, col);

	inc->n_methods = 0;
	while (p != NULL && *p != '\0' && inc->n_methods < INCIDENT_METHODS_MAX) {
		struct incident_method *m = &inc->methods[inc->n_methods];
		unsigned long long r, f;
		int used = 0;

		if (sscanf(p, "%47s %llu %llu%n", m->name, &r, &f, &used) != 3)
			break;
		m->requests = r;
		m->failed = f;
		inc->n_methods++;
		p += used;
		while (*p == '\n')
			p++;
	}
}

static void bind_incident(sqlite3_stmt *s, const struct incident *inc)
{
	int prio = inc->priority >= 0 && inc->priority < PRIO_COUNT ? inc->priority : PRIO_P4;

	sqlite3_bind_int64(s, 1, inc->id);
	sqlite3_bind_text(s, 2, inc->pool, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 3, inc->title, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 4, severity_name(inc->severity), -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 5, inc->manual);
	sqlite3_bind_int64(s, 6, inc->started);
	sqlite3_bind_int64(s, 7, inc->resolved);
	sqlite3_bind_int64(s, 8, inc->planned_start);
	sqlite3_bind_int64(s, 9, inc->planned_end);
	sqlite3_bind_text(s, 10, priority_names[prio], -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 11, inc->priority_set);
	sqlite3_bind_int64(s, 12, inc->acked);
	sqlite3_bind_text(s, 13, inc->acked_by, -1, SQLITE_TRANSIENT);
	for (int r = 0; r < ROLE_COUNT; r++)
		sqlite3_bind_text(s, 14 + r, inc->roles[r], -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 19, inc->causes);
	sqlite3_bind_int(s, 20, inc->esc_step);
	sqlite3_bind_text(s, 21, inc->backend, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 22, inc->verdict, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 23, inc->open_causes);
	sqlite3_bind_int64(s, 24, inc->counted);
	bind_counts(s, 25, &inc->counts_open);
	bind_counts(s, 29, &inc->counts_resolve);
	for (int f = 0; f < PMF_COUNT; f++)
		sqlite3_bind_text(s, 33 + f, inc->pm[f], -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 38, inc->expected);
	sqlite3_bind_text(s, 39, inc->expected_by, -1, SQLITE_TRANSIENT);
	bind_methods(s, 40, inc);
	sqlite3_bind_int64(s, 41, (int64_t)inc->serving);
	sqlite3_bind_int64(s, 42, (int64_t)inc->total);
	sqlite3_bind_text(s, 43, inc->backends, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 44, inc->maint_phase);
}

static void bind_entry(sqlite3_stmt *s, const struct op *op)
{
	const struct incident_entry *e = &op->u.entry.e;
	bool upd = e->kind == ENTRY_UPDATE && e->status < UPD_COUNT;

	sqlite3_bind_int64(s, 1, op->u.entry.id);
	sqlite3_bind_int64(s, 2, (int64_t)op->u.entry.seq);
	sqlite3_bind_int64(s, 3, e->at);
	sqlite3_bind_text(s, 4, entry_kind_names[e->kind < ENTRY_COUNT ? e->kind : 0], -1,
	                  SQLITE_STATIC);
	bind_text_or_null(s, 5, upd ? update_status_names[e->status] : NULL);
	bind_ms_or_null(s, 6, e->eta);
	bind_ms_or_null(s, 7, e->next_update);
	sqlite3_bind_text(s, 8, e->text, -1, SQLITE_TRANSIENT);
}

static void bind_admin(sqlite3_stmt *s, const struct op *op)
{
	sqlite3_bind_text(s, 1, op->u.admin.backend, -1, SQLITE_TRANSIENT);
	if (op->kind == OP_ADMIN &&
	    (op->u.admin.a != ADMIN_NONE || op->u.admin.weight != STORE_NO_WEIGHT)) {
		sqlite3_bind_text(s, 2, admin_state_names[op->u.admin.a], -1, SQLITE_STATIC);
		if (op->u.admin.weight == STORE_NO_WEIGHT)
			sqlite3_bind_null(s, 3);
		else
			sqlite3_bind_int(s, 3, op->u.admin.weight);
		sqlite3_bind_int64(s, 4, op->u.admin.at);
	}
}

const char *const store_sub_kind_names[SUB_KIND_COUNT] = {
    [SUB_EMAIL] = "email", [SUB_WEBHOOK] = "webhook"};
const char *const store_sub_state_names[SUB_STATE_COUNT] = {
    [SUB_PENDING] = "pending", [SUB_ACTIVE] = "active"};

static void bind_subscriber(sqlite3_stmt *s, const struct store_subscriber *b)
{
	sqlite3_bind_int64(s, 1, b->id);
	sqlite3_bind_text(s, 2, store_sub_kind_names[b->kind], -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, b->address, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 4, b->pools, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 5, store_sub_state_names[b->state], -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, b->token_hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 7, b->token_expires);
	sqlite3_bind_int64(s, 8, b->created);
	sqlite3_bind_int64(s, 9, b->confirmed);
}

/* Runs one prepared statement to its end; 0 or -1 (the reason in st.err). */
static int step(enum sql which)
{
	sqlite3_stmt *s = st.stmt[which];
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc == SQLITE_DONE)
		return 0;
	pthread_mutex_lock(&st.mu);
	snprintf(st.err, sizeof(st.err), "%s", sqlite3_errmsg(st.db));
	pthread_mutex_unlock(&st.mu);
	return -1;
}

static int prune(int64_t now, char *err, size_t errlen);

static int put_latency(const struct store_latency *l)
{
	sqlite3_stmt *s = st.stmt[SQL_LATENCY];

	sqlite3_bind_text(s, 1, l->pool, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, l->span);
	sqlite3_bind_int64(s, 3, l->start);
	sqlite3_bind_int64(s, 4, (int64_t)l->n);
	sqlite3_bind_int64(s, 5, (int64_t)l->p50_us);
	sqlite3_bind_int64(s, 6, (int64_t)l->p99_us);
	if (l->has_hist)
		sqlite3_bind_blob(s, 7, l->hist, sizeof(l->hist), SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 7);
	return step(SQL_LATENCY);
}

static int run_op(const struct op *op)
{
	char err[ERR_CAP];
	enum sql which;

	switch (op->kind) {
	case OP_INCIDENT:
		bind_incident(st.stmt[SQL_INCIDENT], &op->u.inc);
		if (step(SQL_INCIDENT) < 0)
			return -1;
		sqlite3_bind_int64(st.stmt[SQL_LAST_ID], 1, op->u.inc.id);
		return step(SQL_LAST_ID);
	case OP_ENTRY:
		bind_entry(st.stmt[SQL_ENTRY], op);
		return step(SQL_ENTRY);
	case OP_SPAN:
		sqlite3_bind_int64(st.stmt[SQL_SPAN], 1, op->u.span.id);
		sqlite3_bind_int64(st.stmt[SQL_SPAN], 2, op->u.span.start);
		sqlite3_bind_int64(st.stmt[SQL_SPAN], 3, op->u.span.end);
		return step(SQL_SPAN);
	case OP_ADMIN:
		which = op->u.admin.a == ADMIN_NONE && op->u.admin.weight == STORE_NO_WEIGHT
		            ? SQL_ADMIN_DEL
		            : SQL_ADMIN_SET;
		bind_admin(st.stmt[which], op);
		return step(which);
	case OP_ACK_TOKEN:
		sqlite3_bind_text(st.stmt[SQL_ACK_TOKEN], 1, op->u.token.mac, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st.stmt[SQL_ACK_TOKEN], 2, op->u.token.id);
		sqlite3_bind_int64(st.stmt[SQL_ACK_TOKEN], 3, op->u.token.expires);
		sqlite3_bind_int64(st.stmt[SQL_ACK_TOKEN], 4, op->u.token.used_at);
		return step(SQL_ACK_TOKEN);
	case OP_SUBSCRIBER:
		bind_subscriber(st.stmt[SQL_SUBSCRIBER], &op->u.sub);
		return step(SQL_SUBSCRIBER);
	case OP_SUBSCRIBER_DEL:
		sqlite3_bind_int64(st.stmt[SQL_SUBSCRIBER_DEL], 1, op->u.sub_id);
		return step(SQL_SUBSCRIBER_DEL);
	case OP_SECRET:
		sqlite3_bind_text(st.stmt[SQL_SECRET], 1, op->u.secret.name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st.stmt[SQL_SECRET], 2, op->u.secret.value, -1, SQLITE_TRANSIENT);
		return step(SQL_SECRET);
	case OP_LATENCY:
		return put_latency(&op->u.lat);
	case OP_PRUNE:
		if (prune(op->u.prune_now, err, sizeof(err)) == 0)
			return 0;
		pthread_mutex_lock(&st.mu);
		snprintf(st.err, sizeof(st.err), "%s", err);
		pthread_mutex_unlock(&st.mu);
		return -1;
	default:
		return 0;
	}
}

static int exec_sql(const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(st.db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	pthread_mutex_lock(&st.mu);
	snprintf(st.err, sizeof(st.err), "%s", msg != NULL ? msg : "unknown error");
	pthread_mutex_unlock(&st.mu);
	sqlite3_free(msg);
	return -1;
}

/* One transaction for the batch; each write's rc says how it went (all -1 when the
 * transaction itself failed). */
static void run_batch(struct op *ops, size_t n)
{
	bool ok;

	pthread_mutex_lock(&st.db_mu);
	ok = exec_sql("BEGIN IMMEDIATE") == 0;
	for (size_t i = 0; i < n; i++)
		ops[i].rc = ok && ops[i].kind != OP_BARRIER ? run_op(&ops[i]) : 0;
	if (ok && exec_sql("COMMIT") < 0) {
		sqlite3_exec(st.db, "ROLLBACK", NULL, NULL, NULL);
		ok = false;
	}
	for (size_t i = 0; !ok && i < n; i++)
		ops[i].rc = -1;
	pthread_mutex_unlock(&st.db_mu);
}

/* After a batch, in queue order: each barrier is due, failed unless every write since the
 * previous barrier succeeded; failures are counted; the loop is woken. */
static void batch_done(const struct op *ops, size_t n)
{
	uint64_t one = 1;
	bool wake = false;

	pthread_mutex_lock(&st.mu);
	for (size_t i = 0; i < n; i++) {
		if (ops[i].kind != OP_BARRIER) {
			if (ops[i].rc < 0) {
				st.errors++;
				st.failed = true;
				wake = true;
			}
			continue;
		}
		st.done[st.n_done++] = (struct done){ops[i].u.barrier.done, ops[i].u.barrier.arg,
		                                     st.failed || ops[i].u.barrier.fail ? -1 : 0};
		st.failed = false;
		wake = true;
	}
	pthread_mutex_unlock(&st.mu);
	if (wake && write(st.efd, &one, sizeof(one)) < 0) {
		/* the counter is full: the loop has a wake-up pending anyway */
	}
}

static void *writer_main(void *arg)
{
	for (;;) {
		uint64_t delay_ms;
		size_t n = 0;

		pthread_mutex_lock(&st.mu);
		while (st.n == 0 && !st.stopping)
			pthread_cond_wait(&st.cv, &st.mu);
		if (st.n == 0 && st.stopping) {
			pthread_mutex_unlock(&st.mu);
			return NULL;
		}
		while (st.n > 0) {
			st.batch[n++] = st.ring[st.head];
			st.head = (st.head + 1) % STORE_QUEUE_MAX;
			st.n--;
		}
		delay_ms = st.delay_ms;
		pthread_mutex_unlock(&st.mu);
		if (delay_ms > 0)
			nanosleep(&(struct timespec){.tv_sec = (time_t)(delay_ms / 1000),
			                             .tv_nsec = (long)(delay_ms % 1000) * 1000000},
			          NULL);
		run_batch(st.batch, n);
		batch_done(st.batch, n);
	}
}

/* ---- the loop side ------------------------------------------------------------------------ */

/* Runs the barrier callbacks the writer finished, counts and logs its failures. */
static void run_done(void)
{
	struct done done[STORE_QUEUE_MAX];
	char err[ERR_CAP];
	uint64_t errors;
	size_t n;

	pthread_mutex_lock(&st.mu);
	n = st.n_done;
	memcpy(done, st.done, n * sizeof(done[0]));
	st.n_done = 0;
	errors = st.errors;
	st.errors = 0;
	snprintf(err, sizeof(err), "%s", st.err);
	st.err[0] = '\0';
	pthread_mutex_unlock(&st.mu);
	if (errors > 0) {
		STAT_ADD(store_errors, errors);
		log_error("store: %llu write%s failed: %s", (unsigned long long)errors,
		          errors == 1 ? "" : "s", err);
	}
	for (size_t i = 0; i < n; i++)
		done[i].fn(done[i].rc, done[i].arg);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t v;

	if (read(st.efd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
		/* nothing to do: the next wake-up reads it */
	}
	run_done();
}

static bool enqueue(const struct op *op)
{
	bool ok;

	if (!st.open)
		return false;
	pthread_mutex_lock(&st.mu);
	ok = st.n < STORE_QUEUE_MAX;
	if (ok) {
		st.ring[(st.head + st.n) % STORE_QUEUE_MAX] = *op;
		st.n++;
		pthread_cond_signal(&st.cv);
	}
	pthread_mutex_unlock(&st.mu);
	if (!ok) {
		STAT_INC(store_queue_full);
		if (!st.dropped)
			log_warn("store: the writer's queue is full (%d): %s dropped",
			         STORE_QUEUE_MAX, op_kind_names[op->kind]);
		st.dropped = true;
	}
	return ok;
}

void store_put_incident(const struct incident *inc)
{
	struct op op = {.kind = OP_INCIDENT, .u.inc = *inc};

	op.u.inc.entries = NULL;
	op.u.inc.n_entries = 0;
	(void)enqueue(&op);
}

void store_put_entry(int64_t id, size_t seq, const struct incident_entry *e)
{
	struct op op = {.kind = OP_ENTRY, .u.entry = {.id = id, .seq = seq, .e = *e}};

	(void)enqueue(&op);
}

void store_put_span(int64_t id, int64_t start, int64_t end)
{
	struct op op = {.kind = OP_SPAN, .u.span = {.id = id, .start = start, .end = end}};

	(void)enqueue(&op);
}

static void column_copy(sqlite3_stmt *s, int col, char *dst, size_t cap);

void store_put_latency(const struct store_latency *l)
{
	struct op op = {.kind = OP_LATENCY, .u.lat = *l};

	(void)enqueue(&op);
}

int store_load_latency(void (*fn)(const struct store_latency *l, void *arg), void *arg)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (!st.open && !st.readonly)
		return -1;
	pthread_mutex_lock(&st.db_mu);
	rc = sqlite3_prepare_v2(st.db,
	                        "SELECT pool, span, start, n, p50_us, p99_us, hist FROM latency"
	                        " ORDER BY pool, span, start",
	                        -1, &s, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_latency l = {0};
		const void *h = sqlite3_column_blob(s, 6);

		column_copy(s, 0, l.pool, sizeof(l.pool));
		l.span = sqlite3_column_int64(s, 1);
		l.start = sqlite3_column_int64(s, 2);
		l.n = (uint64_t)sqlite3_column_int64(s, 3);
		l.p50_us = (uint64_t)sqlite3_column_int64(s, 4);
		l.p99_us = (uint64_t)sqlite3_column_int64(s, 5);
		if (h != NULL && sqlite3_column_bytes(s, 6) == (int)sizeof(l.hist)) {
			memcpy(l.hist, h, sizeof(l.hist));
			l.has_hist = true;
		}
		fn(&l, arg);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE)
		log_error("store: latency: %s", sqlite3_errmsg(st.db));
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st.db_mu);
	return rc == SQLITE_DONE ? 0 : -1;
}

void store_put_admin(const char *backend, enum admin_state a, int weight, int64_t at)
{
	struct op op = {.kind = OP_ADMIN, .u.admin = {.a = a, .weight = weight, .at = at}};

	if (strlen(backend) >= sizeof(op.u.admin.backend) || a >= ADMIN_COUNT)
		return; /* conf names are at most 64 bytes */
	snprintf(op.u.admin.backend, sizeof(op.u.admin.backend), "%s", backend);
	(void)enqueue(&op);
}

void store_put_ack_token(const char *mac, int64_t id, int64_t expires, int64_t used_at)
{
	struct op op = {.kind = OP_ACK_TOKEN,
	                .u.token = {.id = id, .expires = expires, .used_at = used_at}};

	if (strlen(mac) >= sizeof(op.u.token.mac))
		return;
	snprintf(op.u.token.mac, sizeof(op.u.token.mac), "%s", mac);
	(void)enqueue(&op);
}

void store_put_subscriber(const struct store_subscriber *sub)
{
	struct op op = {.kind = OP_SUBSCRIBER, .u.sub = *sub};

	if (sub->kind >= SUB_KIND_COUNT || sub->state >= SUB_STATE_COUNT)
		return;
	(void)enqueue(&op);
}

void store_del_subscriber(int64_t id)
{
	struct op op = {.kind = OP_SUBSCRIBER_DEL, .u.sub_id = id};

	(void)enqueue(&op);
}

void store_put_secret(const char *name, const char *value)
{
	struct op op = {.kind = OP_SECRET};

	if (strlen(name) >= sizeof(op.u.secret.name) || strlen(value) >= sizeof(op.u.secret.value))
		return;
	snprintf(op.u.secret.name, sizeof(op.u.secret.name), "%s", name);
	snprintf(op.u.secret.value, sizeof(op.u.secret.value), "%s", value);
	(void)enqueue(&op);
}

void store_prune(int64_t now)
{
	struct op op = {.kind = OP_PRUNE, .u.prune_now = now};

	(void)enqueue(&op);
}

void store_barrier(store_done_fn done, void *arg)
{
	struct op op = {.kind = OP_BARRIER, .u.barrier = {done, arg, st.dropped}};

	if (!enqueue(&op)) {
		done(-1, arg);
		return;
	}
	st.dropped = false;
}

/* ---- open, load, close --------------------------------------------------------------------- */

/* mkdir -p, new folders 0700. */
static int make_dir(const char *path, char *err, size_t errlen)
{
	char buf[4096];
	struct stat sb;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	for (char *p = buf + 1;; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", buf, strerror(errno));
			return -1;
		}
		if (last)
			break;
		*p = '/';
	}
	if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", path);
		return -1;
	}
	return 0;
}

/* Deletes what is past retention; on the writer or, at start, before it runs. */
static int prune(int64_t now, char *err, size_t errlen)
{
	const char *tail = prune_sql;
	int rc = SQLITE_OK;

	while (rc == SQLITE_OK && *tail != '\0') {
		sqlite3_stmt *s = NULL;

		rc = sqlite3_prepare_v2(st.db, tail, -1, &s, &tail);
		if (rc != SQLITE_OK || s == NULL)
			break;
		if (sqlite3_bind_parameter_count(s) == 1)
			sqlite3_bind_int64(s, 1, now);
		else if (sqlite3_bind_parameter_count(s) > 0) {
			sqlite3_bind_int64(s, 1, now - STORE_KEEP_DAYS * DAY_MS);
			sqlite3_bind_int64(s, 2, STORE_KEEP_MAX);
		}
		if (sqlite3_bind_parameter_count(s) >= 3)
			sqlite3_bind_int64(s, 3, now - STORE_LATENCY_SHORT_DAYS * DAY_MS);
		rc = sqlite3_step(s);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		sqlite3_finalize(s);
	}
	if (rc == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "prune: %s", sqlite3_errmsg(st.db));
	return -1;
}

/* PRAGMA NAME = VALUE, and check SQLite took it (journal_mode says what it chose). */
static int pragma(const char *name, const char *value, char *err, size_t errlen)
{
	char sql[128], got[32] = "";
	sqlite3_stmt *s = NULL;
	int rc;

	snprintf(sql, sizeof(sql), "PRAGMA %s = %s", name, value);
	rc = sqlite3_prepare_v2(st.db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW &&
	    sqlite3_column_text(s, 0) != NULL)
		snprintf(got, sizeof(got), "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		snprintf(err, errlen, "PRAGMA %s: %s", name, sqlite3_errmsg(st.db));
		return -1;
	}
	if (strcmp(name, "journal_mode") == 0 && strcasecmp(got, value) != 0) {
		snprintf(err, errlen, "PRAGMA journal_mode: %s instead of %s", got, value);
		return -1;
	}
	return 0;
}

/* The file's schema version (meta 'schema'), or -1. */
static int schema_version(void)
{
	sqlite3_stmt *s = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(st.db, "SELECT value FROM meta WHERE key = 'schema'", -1, &s,
	                       NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Brings a file of an older schema forward, one step per transaction (a file written by
 * a newer nodegate is refused: its rows would be misread). */
static int migrate(const char *path, char *err, size_t errlen)
{
	int v = schema_version();
	char *msg = NULL, sql[64];

	if (v < 1 || v > SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: schema version %d (expected 1 to %d)", path, v,
		         SCHEMA_VERSION);
		return -1;
	}
	for (; v < SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "UPDATE meta SET value = %d WHERE key = 'schema';",
		         v + 1);
		if (sqlite3_exec(st.db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(st.db, migrations[v - 1], NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(st.db, sql, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(st.db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
			snprintf(err, errlen, "%s: schema %d -> %d: %s", path, v, v + 1,
			         msg != NULL ? msg : "?");
			sqlite3_free(msg);
			sqlite3_exec(st.db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		log_info("store: %s: schema %d -> %d", path, v, v + 1);
	}
	return 0;
}

static int db_setup(const char *path, int64_t now, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_open_v2(path, &st.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
		         st.db != NULL ? sqlite3_errmsg(st.db) : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(st.db, BUSY_TIMEOUT_MS);
	if (pragma("journal_mode", "WAL", err, errlen) < 0 ||
	    pragma("synchronous", "FULL", err, errlen) < 0)
		return -1;
	if (sqlite3_exec(st.db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s: schema: %s", path, msg != NULL ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	if (migrate(path, err, errlen) < 0 || prune(now, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < SQL_COUNT; i++)
		if (sqlite3_prepare_v3(st.db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT,
		                       &st.stmt[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(st.db));
			return -1;
		}
	return 0;
}

static int start_writer(char *err, size_t errlen)
{
	sigset_t all, old;
	int rc;

	st.batch = calloc(STORE_QUEUE_MAX, sizeof(*st.batch));
	st.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	st.ev_done = st.efd >= 0
	                 ? event_new(registry.base, st.efd, EV_READ | EV_PERSIST, done_cb, NULL)
	                 : NULL;
	if (st.batch == NULL || st.ev_done == NULL || event_add(st.ev_done, NULL) < 0) {
		snprintf(err, errlen, "cannot start the writer: %s",
		         st.efd < 0 ? strerror(errno) : "out of memory");
		return -1;
	}
	/* signals stay with the loop's thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&st.thread, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the writer: %s", strerror(rc));
		return -1;
	}
	return 0;
}

static void release(void)
{
	for (size_t i = 0; i < SQL_COUNT; i++) {
		sqlite3_finalize(st.stmt[i]);
		st.stmt[i] = NULL;
	}
	if (st.db != NULL)
		sqlite3_close(st.db);
	st.db = NULL;
	if (st.ev_done != NULL)
		event_free(st.ev_done);
	st.ev_done = NULL;
	if (st.efd >= 0)
		close(st.efd);
	st.efd = -1;
	free(st.batch);
	st.batch = NULL;
}

int store_open(const char *state_dir, int64_t now, char *err, size_t errlen)
{
	char path[4200];

	if (st.open)
		return 0;
	if (make_dir(state_dir, err, errlen) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", state_dir, STORE_FILE);
	st.head = st.n = st.n_done = 0; /* before the writer thread reads them */
	st.stopping = st.failed = st.dropped = false;
	if (db_setup(path, now, err, errlen) < 0 || start_writer(err, errlen) < 0) {
		release();
		return -1;
	}
	st.open = true;
	log_info("store: %s (WAL, synchronous=FULL)", path);
	return 0;
}

void store_set_test_delay(uint64_t ms)
{
	if (!st.open)
		return;
	pthread_mutex_lock(&st.mu);
	bool changed = st.delay_ms != ms;
	st.delay_ms = ms;
	pthread_mutex_unlock(&st.mu);
	if (changed && ms > 0)
		log_warn("store: store_test_delay: every write waits %llums (tests only)",
		         (unsigned long long)ms);
}

int store_open_readonly(const char *state_dir, char *err, size_t errlen)
{
	char path[4200];
	int v;

	if (st.open || st.readonly)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", state_dir, STORE_FILE);
	if (sqlite3_open_v2(path, &st.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
		         st.db != NULL ? sqlite3_errmsg(st.db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(st.db, BUSY_TIMEOUT_MS);
	v = schema_version();
	if (v != SCHEMA_VERSION) {
		snprintf(err, errlen,
		         "%s: schema version %d (expected %d: nodegate brings an older one forward "
		         "when it starts)",
		         path, v, SCHEMA_VERSION);
		goto fail;
	}
	st.readonly = true;
	return 0;
fail:
	release();
	return -1;
}

void store_close(void)
{
	if (st.readonly) {
		st.readonly = false;
		release();
		return;
	}
	if (!st.open)
		return;
	pthread_mutex_lock(&st.mu);
	st.stopping = true;
	pthread_cond_signal(&st.cv);
	pthread_mutex_unlock(&st.mu);
	pthread_join(st.thread, NULL);
	st.open = false;
	run_done(); /* barriers the loop had no turn left to run */
	release();
}

static int name_index(const char *const *names, size_t n, const unsigned char *s)
{
	for (size_t i = 0; s != NULL && i < n; i++)
		if (names[i] != NULL && strcmp(names[i], (const char *)s) == 0)
			return (int)i;
	return -1;
}

static void column_copy(sqlite3_stmt *s, int col, char *dst, size_t cap)
{
	const unsigned char *v = sqlite3_column_text(s, col);

	snprintf(dst, cap, "%s", v != NULL ? (const char *)v : "");
}

static void row_incident(sqlite3_stmt *s, const struct store_loader *l)
{
	struct incident inc = {0};
	int sev = name_index(pool_status_names, PS_COUNT, sqlite3_column_text(s, 3));

	inc.id = sqlite3_column_int64(s, 0);
	column_copy(s, 1, inc.pool, sizeof(inc.pool));
	column_copy(s, 2, inc.title, sizeof(inc.title));
	inc.severity = sev >= 0 ? sev : PS_DEGRADED;
	inc.manual = sqlite3_column_int(s, 4) != 0;
	inc.started = sqlite3_column_int64(s, 5);
	inc.resolved = sqlite3_column_int64(s, 6);
	inc.planned_start = sqlite3_column_int64(s, 7);
	inc.planned_end = sqlite3_column_int64(s, 8);
	int prio = name_index(priority_names, PRIO_COUNT, sqlite3_column_text(s, 9));
	/* a row of schema 1 has none: what its worst status says, urgency high */
	inc.priority = prio >= 0 ? prio
	                         : (inc.severity >= PS_MAJOR_OUTAGE     ? PRIO_P1
	                            : inc.severity == PS_PARTIAL_OUTAGE ? PRIO_P2
	                            : inc.severity == PS_DEGRADED       ? PRIO_P3
	                                                                : PRIO_P4);
	inc.priority_set = sqlite3_column_int(s, 10) != 0;
	inc.acked = sqlite3_column_int64(s, 11);
	column_copy(s, 12, inc.acked_by, sizeof(inc.acked_by));
	for (int r = 0; r < ROLE_COUNT; r++)
		column_copy(s, 13 + r, inc.roles[r], sizeof(inc.roles[r]));
	inc.causes = (unsigned)sqlite3_column_int64(s, 18);
	inc.esc_step = sqlite3_column_int(s, 19);
	column_copy(s, 20, inc.backend, sizeof(inc.backend));
	column_copy(s, 21, inc.verdict, sizeof(inc.verdict));
	inc.open_causes = (unsigned)sqlite3_column_int64(s, 22);
	inc.counted = sqlite3_column_int64(s, 23);
	column_counts(s, 24, &inc.counts_open);
	column_counts(s, 28, &inc.counts_resolve);
	for (int f = 0; f < PMF_COUNT; f++)
		column_copy(s, 32 + f, inc.pm[f], sizeof(inc.pm[f]));
	inc.expected = sqlite3_column_int64(s, 37);
	column_copy(s, 38, inc.expected_by, sizeof(inc.expected_by));
	column_methods(s, 39, &inc);
	inc.serving = (size_t)sqlite3_column_int64(s, 40);
	inc.total = (size_t)sqlite3_column_int64(s, 41);
	column_copy(s, 42, inc.backends, sizeof(inc.backends));
	inc.maint_phase = sqlite3_column_int(s, 43);
	l->incident(&inc, l->arg);
}

static void row_entry(sqlite3_stmt *s, const struct store_loader *l)
{
	struct incident_entry e = {0};
	int kind = name_index(entry_kind_names, ENTRY_COUNT, sqlite3_column_text(s, 2));
	int status = name_index(update_status_names, UPD_COUNT, sqlite3_column_text(s, 3));

	if (kind < 0) {
		log_warn("store: incident %lld: entry of unknown kind %s skipped",
		         (long long)sqlite3_column_int64(s, 0), sqlite3_column_text(s, 2));
		return;
	}
	e.at = sqlite3_column_int64(s, 1);
	e.kind = (enum entry_kind)kind;
	e.status = status >= 0 ? (enum update_status)status : UPD_INVESTIGATING;
	e.eta = sqlite3_column_int64(s, 4);
	e.next_update = sqlite3_column_int64(s, 5);
	column_copy(s, 6, e.text, sizeof(e.text));
	l->entry(sqlite3_column_int64(s, 0), &e, l->arg);
}

static void row_span(sqlite3_stmt *s, const struct store_loader *l)
{
	l->span(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2),
	        l->arg);
}

/* Runs SQL and hands each row to ROW; 0 or -1 (logged). */
static int each_row(const char *sql, void (*row)(sqlite3_stmt *s, const struct store_loader *l),
                    const struct store_loader *l)
{
	sqlite3_stmt *s = NULL;
	int rc;

	pthread_mutex_lock(&st.db_mu);
	rc = sqlite3_prepare_v2(st.db, sql, -1, &s, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		row(s, l);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE)
		log_error("store: %s: %s", sql, sqlite3_errmsg(st.db));
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st.db_mu);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_load_incidents(const struct store_loader *l)
{
	if (!st.open && !st.readonly)
		return -1;
	if (each_row(
	        "SELECT id, pool, title, severity, manual, started, resolved, planned_start,"
	        " planned_end, priority, priority_set, acked, acked_by, commander, investigator,"
	        " fixer, recorder, communicator, causes, esc_step, backend, verdict, open_causes,"
	        " counted, open_received, open_failed, open_retried, open_refused,"
	        " resolve_received, resolve_failed, resolve_retried, resolve_refused,"
	        " pm_root_cause, pm_prevent, pm_detect, pm_mitigate, pm_fix, expected, expected_by,"
	        " methods, serving, total, backends, maint_phase FROM incidents ORDER BY id",
	        row_incident, l) < 0 ||
	    each_row("SELECT incident_id, at, kind, status, eta, next_update, text FROM entries"
	             " ORDER BY incident_id, seq",
	             row_entry, l) < 0 ||
	    each_row("SELECT incident_id, start, end FROM spans ORDER BY incident_id, start",
	             row_span, l) < 0)
		return -1;
	return 0;
}

int store_load_ack_tokens(void (*fn)(const char *mac, int64_t id, int64_t expires, void *arg),
                          void *arg)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (!st.open)
		return -1;
	pthread_mutex_lock(&st.db_mu);
	rc = sqlite3_prepare_v2(st.db, "SELECT mac, incident_id, expires FROM ack_tokens", -1, &s,
	                        NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		if (sqlite3_column_text(s, 0) != NULL)
			fn((const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1),
			   sqlite3_column_int64(s, 2), arg);
	}
	if (rc != SQLITE_DONE)
		log_error("store: ack_tokens: %s", sqlite3_errmsg(st.db));
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st.db_mu);
	return rc == SQLITE_DONE ? 0 : -1;
}

int64_t store_last_id(void)
{
	sqlite3_stmt *s = NULL;
	int64_t id = 0;

	if (!st.open && !st.readonly)
		return 0;
	pthread_mutex_lock(&st.db_mu);
	if (sqlite3_prepare_v2(st.db,
	                       "SELECT MAX((SELECT value FROM meta WHERE key = 'last_id'),"
	                       " (SELECT COALESCE(MAX(id), 0) FROM incidents))",
	                       -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st.db_mu);
	return id;
}

int store_load_admin(void (*fn)(const char *backend, enum admin_state a, int weight,
                                int64_t updated_at, void *arg),
                     void *arg)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (!st.open)
		return -1;
	pthread_mutex_lock(&st.db_mu);
	rc = sqlite3_prepare_v2(st.db, "SELECT backend, admin, weight, updated_at FROM admin_state",
	                        -1, &s, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		int a = name_index(admin_state_names, ADMIN_COUNT, sqlite3_column_text(s, 1));
		int w = sqlite3_column_type(s, 2) == SQLITE_NULL ? STORE_NO_WEIGHT
		                                                 : sqlite3_column_int(s, 2);

		rc = SQLITE_OK;
		if (a < 0 || sqlite3_column_text(s, 0) == NULL)
			continue;
		fn((const char *)sqlite3_column_text(s, 0), (enum admin_state)a, w,
		   sqlite3_column_int64(s, 3), arg);
	}
	if (rc != SQLITE_DONE)
		log_error("store: admin_state: %s", sqlite3_errmsg(st.db));
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st.db_mu);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_load_subscribers(void (*fn)(const struct store_subscriber *s, void *arg), void *arg)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (!st.open)
		return -1;
	pthread_mutex_lock(&st.db_mu);
	rc = sqlite3_prepare_v2(st.db,
	                        "SELECT id, kind, address, pools, state, token_hash, token_expires,"
	                        " created, confirmed FROM subscribers ORDER BY id",
	                        -1, &s, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_subscriber b = {.id = sqlite3_column_int64(s, 0)};
		int k = name_index(store_sub_kind_names, SUB_KIND_COUNT, sqlite3_column_text(s, 1));
		int t =
		    name_index(store_sub_state_names, SUB_STATE_COUNT, sqlite3_column_text(s, 4));

		rc = SQLITE_OK;
		if (k < 0 || t < 0)
			continue;
		b.kind = (enum store_sub_kind)k;
		b.state = (enum store_sub_state)t;
		column_copy(s, 2, b.address, sizeof(b.address));
		column_copy(s, 3, b.pools, sizeof(b.pools));
		column_copy(s, 5, b.token_hash, sizeof(b.token_hash));
		b.token_expires = sqlite3_column_int64(s, 6);
		b.created = sqlite3_column_int64(s, 7);
		b.confirmed = sqlite3_column_int64(s, 8);
		fn(&b, arg);
	}
	if (rc != SQLITE_DONE)
		log_error("store: subscribers: %s", sqlite3_errmsg(st.db));
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st.db_mu);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_load_secret(const char *name, char *out, size_t len)
{
	sqlite3_stmt *s = NULL;
	int found = -1;

	if (!st.open)
		return -1;
	pthread_mutex_lock(&st.db_mu);
	if (sqlite3_prepare_v2(st.db, "SELECT value FROM secrets WHERE name = ?1", -1, &s, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
		int rc = sqlite3_step(s);

		found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
		if (found == 1)
			column_copy(s, 0, out, len);
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st.db_mu);
	return found;
}
