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

#include "clock.h"
#include "registry.h"
#include "stats.h"
#include "health/poolstat.h"
#include "ops/store.h"
#include "ops/storedb.h"

#define DAY_MS            (24LL * 3600 * 1000)
#define NAME_CAP          80  /* a backend name (conf: at most 64 bytes) */
#define ERR_CAP           256 /* the last SQLite error, for the loop to log */
#define STORE_BATCH_TRIES 4   /* PostgreSQL: a batch that lost a deadlock runs again */
#define STORE_RETRY_MS    500 /* PostgreSQL away: the kept writes are tried again this often */
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
	OP_OUTBOX,
	OP_OUTBOX_DONE,
	OP_VERDICT,
	OP_BARRIER,
	OP_READ_SUBS,
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
    [OP_OUTBOX] = "outbox",
    [OP_OUTBOX_DONE] = "outbox_done",
    [OP_VERDICT] = "verdict",
    [OP_BARRIER] = "barrier",
    [OP_READ_SUBS] = "read_subscribers",
};

struct op {
	enum op_kind kind;
	int rc;    /* the writer's: 0 written, -1 failed */
	bool kept; /* the writer's: failed with the database unreachable, kept to replay */
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
		struct store_reading *reading; /* OP_READ_SUBS: filled by the writer */
		struct {
			char key[STORE_OUTBOX_KEY_MAX];
			char channel[72];
			char state[12];
			char target[STORE_SUB_ADDR_MAX]; /* a subscriber's address or URL */
			int64_t tag;                     /* the subscriber's id */
			char
			    *body; /* OP_OUTBOX: owned by the op (freed once written or given up) */
			int64_t at;
		} outbox;
		struct {
			char backend[NAME_CAP];
			bool up, changed;
			int64_t at;
		} verdict;
	} u;
};

/* The writer's statements, one description for both backends ($N parameters, upserts by
 * ON CONFLICT, which SQLite and PostgreSQL both take). */
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
	SQL_NOTIFY_ADMIN,
	SQL_NOTIFY_SUBS,
	SQL_OUTBOX,
	SQL_OUTBOX_DONE,
	SQL_ENTRY_APPEND,
	SQL_ENTRY_LOCK,
	SQL_NOTIFY_FLEET,
	SQL_VERDICT,
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
                     " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,"
                     " $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30,"
                     " $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42, $43, $44)"
                     " ON CONFLICT(id) DO UPDATE SET pool = $2, title = $3, severity = $4,"
                     " manual = $5, started = $6, resolved = $7, planned_start = $8,"
                     " planned_end = $9, priority = $10, priority_set = $11, acked = $12,"
                     " acked_by = $13, commander = $14, investigator = $15, fixer = $16,"
                     " recorder = $17, communicator = $18, causes = $19, esc_step = $20,"
                     " backend = $21, verdict = $22, open_causes = $23, counted = $24,"
                     " open_received = $25, open_failed = $26, open_retried = $27,"
                     " open_refused = $28, resolve_received = $29, resolve_failed = $30,"
                     " resolve_retried = $31, resolve_refused = $32, pm_root_cause = $33,"
                     " pm_prevent = $34, pm_detect = $35, pm_mitigate = $36, pm_fix = $37,"
                     " expected = $38, expected_by = $39, methods = $40, serving = $41,"
                     " total = $42, backends = $43, maint_phase = $44",
    [SQL_LAST_ID] = "UPDATE meta SET value = CASE WHEN value < $1 THEN $1 ELSE value END"
                    " WHERE key = 'last_id'",
    [SQL_ENTRY] = "INSERT INTO entries(incident_id, seq, at, kind, status, eta, next_update,"
                  " text) VALUES($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT(incident_id, seq)"
                  " DO UPDATE SET at = $3, kind = $4, status = $5, eta = $6,"
                  " next_update = $7, text = $8",
    [SQL_SPAN] = "INSERT INTO spans(incident_id, start, \"end\") VALUES($1, $2, $3)"
                 " ON CONFLICT(incident_id, start) DO UPDATE SET \"end\" = $3",
    [SQL_ADMIN_SET] = "INSERT INTO admin_state(backend, admin, weight, updated_at)"
                      " VALUES($1, $2, $3, $4) ON CONFLICT(backend) DO UPDATE SET admin = $2,"
                      " weight = $3, updated_at = $4",
    [SQL_ADMIN_DEL] = "DELETE FROM admin_state WHERE backend = $1",
    [SQL_ACK_TOKEN] = "INSERT INTO ack_tokens(mac, incident_id, expires, used_at)"
                      " VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    [SQL_SUBSCRIBER] = "INSERT INTO subscribers(id, kind, address, pools, state, token_hash,"
                       " token_expires, created, confirmed) VALUES($1, $2, $3, $4, $5, $6, $7,"
                       " $8, $9) ON CONFLICT(id) DO UPDATE SET kind = $2, address = $3,"
                       " pools = $4, state = $5, token_hash = $6, token_expires = $7,"
                       " created = $8, confirmed = $9",
    [SQL_SUBSCRIBER_DEL] = "DELETE FROM subscribers WHERE id = $1",
    [SQL_SECRET] = "INSERT INTO secrets(name, value) VALUES($1, $2) ON CONFLICT DO NOTHING",
    [SQL_OUTBOX] = "INSERT INTO outbox(key, channel, instance, created, state, body, target,"
                   " tag) VALUES($1, $2, $3, $4, 'pending', $5, $6, $7) ON CONFLICT DO NOTHING",
    [SQL_OUTBOX_DONE] = "UPDATE outbox SET state = $2, done_at = $3 WHERE key = $1",
    [SQL_NOTIFY_ADMIN] = "SELECT pg_notify('nodegate_admin', $1)",
    /* PostgreSQL: instances append to one incident's timeline, each line numbered by the
     * database under the incident's lock (held to the commit), so none overwrites another */
    [SQL_ENTRY_LOCK] = "SELECT pg_advisory_xact_lock(7170102, CAST($1 AS INTEGER))",
    [SQL_ENTRY_APPEND] = "INSERT INTO entries(incident_id, seq, at, kind, status, eta,"
                         " next_update, text) SELECT $1, COALESCE(MAX(seq) + 1, 0 * $2), $3,"
                         " $4, $5, $6, $7, $8 FROM entries WHERE incident_id = $1",
    [SQL_NOTIFY_FLEET] = "SELECT pg_notify('nodegate_fleet', $1)",
    [SQL_VERDICT] = "INSERT INTO verdicts(instance, backend, up, beat) VALUES($1, $2, $3, $4)"
                    " ON CONFLICT(instance, backend) DO UPDATE SET up = $3, beat = $4",
    [SQL_NOTIFY_SUBS] = "SELECT pg_notify('nodegate_subs', $1)",
    [SQL_LATENCY] = "INSERT INTO latency(pool, span, start, n, p50_us, p99_us, hist)"
                    " VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(pool, span, start)"
                    " DO UPDATE SET n = $4, p50_us = $5, p99_us = $6, hist = $7",
};

/* The schema and its migrations: one description for both backends, in SQLite's words;
 * storedb.c translates the types for PostgreSQL (INTEGER -> BIGINT, BLOB -> BYTEA). */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT INTO meta VALUES('schema', 1) ON CONFLICT DO NOTHING;"
    "INSERT INTO meta VALUES('last_id', 0) ON CONFLICT DO NOTHING;"
    "CREATE TABLE IF NOT EXISTS incidents(id INTEGER PRIMARY KEY, pool TEXT NOT NULL,"
    " title TEXT NOT NULL, severity TEXT NOT NULL, manual INTEGER NOT NULL,"
    " started INTEGER NOT NULL, resolved INTEGER NOT NULL, planned_start INTEGER NOT NULL,"
    " planned_end INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS incidents_resolved ON incidents(resolved);"
    "CREATE TABLE IF NOT EXISTS entries(incident_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " at INTEGER NOT NULL, kind TEXT NOT NULL, status TEXT, eta INTEGER, next_update INTEGER,"
    " text TEXT NOT NULL, PRIMARY KEY(incident_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS spans(incident_id INTEGER NOT NULL, start INTEGER NOT NULL,"
    " \"end\" INTEGER NOT NULL, PRIMARY KEY(incident_id, start)) WITHOUT ROWID;"
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
    /* 5 -> 6: a fleet's outbox: each message the sender sends is recorded (pending) before
     * it goes and confirmed (sent, dropped) after, so that the next sender sends what a dead
     * one left pending */
    "CREATE TABLE outbox(key TEXT PRIMARY KEY, channel TEXT NOT NULL, instance TEXT NOT NULL,"
    " created INTEGER NOT NULL, state TEXT NOT NULL, done_at INTEGER NOT NULL DEFAULT 0,"
    " body TEXT NOT NULL);"
    "CREATE INDEX outbox_state ON outbox(state);",
    /* 6 -> 7: a fleet's view of its nodes: each instance's verdict on each backend it routes
     * to (1 in rotation), and when it last said so (Unix ms, refreshed every second) */
    "CREATE TABLE verdicts(instance TEXT NOT NULL, backend TEXT NOT NULL, up INTEGER NOT NULL,"
    " beat INTEGER NOT NULL, PRIMARY KEY(instance, backend));",
    /* 7 -> 8: the outbox takes subscriber deliveries too: the address or URL (target) and
     * the subscriber (tag) of each */
    "ALTER TABLE outbox ADD COLUMN target TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE outbox ADD COLUMN tag INTEGER NOT NULL DEFAULT 0;",
};
#define SCHEMA_VERSION (1 + (int)(sizeof(migrations) / sizeof(migrations[0])))

static const char sel_subscribers[] =
    "SELECT id, kind, address, pools, state, token_hash, token_expires, created, confirmed"
    " FROM subscribers ORDER BY id";

/* Resolved incidents past retention go, with their entries and spans. $1 oldest kept
 * resolution time, $2 how many resolved are kept, $3 now. */
static const char *const prune_sql[] = {
    "DELETE FROM incidents WHERE resolved > 0 AND (resolved < $1 OR id NOT IN"
    " (SELECT id FROM incidents WHERE resolved > 0 ORDER BY resolved DESC, id DESC"
    " LIMIT $2))",
    "DELETE FROM entries WHERE incident_id NOT IN (SELECT id FROM incidents)",
    "DELETE FROM spans WHERE incident_id NOT IN (SELECT id FROM incidents)",
    "DELETE FROM ack_tokens WHERE expires < $3",
    "DELETE FROM outbox WHERE state <> 'pending' AND done_at < $1",
    "DELETE FROM verdicts WHERE beat < $1",
};

/* A read made by the writer, in queue order, for the loop. */
struct store_reading {
	store_subscribers_fn fn;
	void *arg;
	struct store_subscriber *rows;
	size_t n, cap;
	char key[129]; /* the unsubscribe key as stored, "" when none */
	int rc;
};

struct done {
	store_done_fn fn;
	void *arg;
	int rc;
	struct store_reading *reading; /* a read's rows (fn unused) */
};

static struct {
	struct sdb *db;
	char url[STORE_URL_MAX]; /* what it was opened with */
	pthread_mutex_t db_mu;   /* the connection: the writer's batch, or a load */
	struct op *batch;        /* writer only: ops taken off the queue */
	struct op *replay;       /* writer only: writes kept while the database is away */
	size_t n_replay;
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
	char instance[64]; /* fleet.c's name of this nodegate; under mu */
	bool up;           /* the database took the last batch; under mu */
	size_t kept;       /* writes waiting to be replayed; under mu */
	uint64_t lost;     /* writes given up (the replay buffer full), not yet counted */
	bool loop_up;      /* loop only: what the log said last */
	bool deferred;     /* PostgreSQL away at start: the schema waits (writer; db_mu) */
	bool ready;        /* the schema checked and the kept writes written; under mu */
	int64_t opened_at; /* Unix ms of store_open, for the deferred setup's pruning */
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

static struct sdb_val text_or_null(const char *v)
{
	return v != NULL ? SDB_T(v) : SDB_N;
}

static struct sdb_val ms_or_null(int64_t v)
{
	return v != 0 ? SDB_I(v) : SDB_N;
}

static const char *severity_name(int sev)
{
	return sev >= 0 && sev < PS_COUNT ? pool_status_names[sev] : pool_status_names[0];
}

/* Counters as signed 64-bit integers (they wrap past 2^63, which no process reaches). */
static void bind_counts(struct sdb_val *v, const struct incident_counts *c)
{
	v[0] = SDB_I(c->received);
	v[1] = SDB_I(c->failed);
	v[2] = SDB_I(c->retried);
	v[3] = SDB_I(c->refused);
}

static void column_counts(struct sdb_row *r, int col, struct incident_counts *c)
{
	c->received = (uint64_t)sdb_int(r, col);
	c->failed = (uint64_t)sdb_int(r, col + 1);
	c->retried = (uint64_t)sdb_int(r, col + 2);
	c->refused = (uint64_t)sdb_int(r, col + 3);
}

/* An incident's methods as "NAME REQUESTS FAILED" lines, into TEXT. */
static void methods_text(const struct incident *inc, char *text, size_t cap)
{
	size_t off = 0;

	text[0] = '\0';
	for (size_t i = 0; i < inc->n_methods && i < INCIDENT_METHODS_MAX && off < cap; i++)
		off +=
		    (size_t)snprintf(text + off, cap - off, "%s %llu %llu\n", inc->methods[i].name,
		                     (unsigned long long)inc->methods[i].requests,
		                     (unsigned long long)inc->methods[i].failed);
}

static void column_methods(struct sdb_row *r, int col, struct incident *inc)
{
	const char *p = sdb_text(r, col);

	inc->n_methods = 0;
	while (p != NULL && *p != '\0' && inc->n_methods < INCIDENT_METHODS_MAX) {
		struct incident_method *m = &inc->methods[inc->n_methods];
		unsigned long long rq, f;
		int used = 0;

		if (sscanf(p, "%47s %llu %llu%n", m->name, &rq, &f, &used) != 3)
			break;
		m->requests = rq;
		m->failed = f;
		inc->n_methods++;
		p += used;
		while (*p == '\n')
			p++;
	}
}

/* The 44 parameters of SQL_INCIDENT; METHODS is the caller's buffer for the methods. */
static void bind_incident(struct sdb_val *v, const struct incident *inc, char *methods, size_t cap)
{
	int prio = inc->priority >= 0 && inc->priority < PRIO_COUNT ? inc->priority : PRIO_P4;

	v[0] = SDB_I(inc->id);
	v[1] = SDB_T(inc->pool);
	v[2] = SDB_T(inc->title);
	v[3] = SDB_T(severity_name(inc->severity));
	v[4] = SDB_I(inc->manual);
	v[5] = SDB_I(inc->started);
	v[6] = SDB_I(inc->resolved);
	v[7] = SDB_I(inc->planned_start);
	v[8] = SDB_I(inc->planned_end);
	v[9] = SDB_T(priority_names[prio]);
	v[10] = SDB_I(inc->priority_set);
	v[11] = SDB_I(inc->acked);
	v[12] = SDB_T(inc->acked_by);
	for (int r = 0; r < ROLE_COUNT; r++)
		v[13 + r] = SDB_T(inc->roles[r]);
	v[18] = SDB_I(inc->causes);
	v[19] = SDB_I(inc->esc_step);
	v[20] = SDB_T(inc->backend);
	v[21] = SDB_T(inc->verdict);
	v[22] = SDB_I(inc->open_causes);
	v[23] = SDB_I(inc->counted);
	bind_counts(v + 24, &inc->counts_open);
	bind_counts(v + 28, &inc->counts_resolve);
	for (int f = 0; f < PMF_COUNT; f++)
		v[32 + f] = SDB_T(inc->pm[f]);
	v[37] = SDB_I(inc->expected);
	v[38] = SDB_T(inc->expected_by);
	methods_text(inc, methods, cap);
	v[39] = SDB_T(methods);
	v[40] = SDB_I(inc->serving);
	v[41] = SDB_I(inc->total);
	v[42] = SDB_T(inc->backends);
	v[43] = SDB_I(inc->maint_phase);
}

static void bind_entry(struct sdb_val *v, const struct op *op)
{
	const struct incident_entry *e = &op->u.entry.e;
	bool upd = e->kind == ENTRY_UPDATE && e->status < UPD_COUNT;

	v[0] = SDB_I(op->u.entry.id);
	v[1] = SDB_I(op->u.entry.seq);
	v[2] = SDB_I(e->at);
	v[3] = SDB_T(entry_kind_names[e->kind < ENTRY_COUNT ? e->kind : 0]);
	v[4] = text_or_null(upd ? update_status_names[e->status] : NULL);
	v[5] = ms_or_null(e->eta);
	v[6] = ms_or_null(e->next_update);
	v[7] = SDB_T(e->text);
}

const char *const store_sub_kind_names[SUB_KIND_COUNT] = {
    [SUB_EMAIL] = "email", [SUB_WEBHOOK] = "webhook"};
const char *const store_sub_state_names[SUB_STATE_COUNT] = {
    [SUB_PENDING] = "pending", [SUB_ACTIVE] = "active"};

static void bind_subscriber(struct sdb_val *v, const struct store_subscriber *b)
{
	v[0] = SDB_I(b->id);
	v[1] = SDB_T(store_sub_kind_names[b->kind]);
	v[2] = SDB_T(b->address);
	v[3] = SDB_T(b->pools);
	v[4] = SDB_T(store_sub_state_names[b->state]);
	v[5] = SDB_T(b->token_hash);
	v[6] = SDB_I(b->token_expires);
	v[7] = SDB_I(b->created);
	v[8] = SDB_I(b->confirmed);
}

/* Keeps the writer's last failure for the loop to log. */
static void set_err(const char *err)
{
	pthread_mutex_lock(&st.mu);
	snprintf(st.err, sizeof(st.err), "%s", err);
	pthread_mutex_unlock(&st.mu);
}

/* Runs statement WHICH with N parameters; 0 or -1 (the reason in st.err). */
static int step(enum sql which, const struct sdb_val *v, size_t n)
{
	char err[ERR_CAP];

	if (sdb_run(st.db, sql_text[which], v, n, NULL, NULL, err, sizeof(err)) == 0)
		return 0;
	set_err(err);
	return -1;
}

static int prune(int64_t now, char *err, size_t errlen);

static int put_latency(const struct store_latency *l)
{
	struct sdb_val v[7] = {SDB_T(l->pool),
	                       SDB_I(l->span),
	                       SDB_I(l->start),
	                       SDB_I(l->n),
	                       SDB_I(l->p50_us),
	                       SDB_I(l->p99_us),
	                       SDB_B(l->hist, sizeof(l->hist))};

	if (!l->has_hist)
		v[6] = SDB_N;
	return step(SQL_LATENCY, v, 7);
}

/* PostgreSQL: the fleet hears of it at commit (fleet.c), "INSTANCE\tBACKEND\tADMIN\tWEIGHT". */
static int notify_admin(const struct op *op)
{
	char payload[256];
	struct sdb_val v[1] = {SDB_T(payload)};

	if (sdb_kind(st.db) != SDB_PG)
		return 0;
	pthread_mutex_lock(&st.mu);
	snprintf(payload, sizeof(payload), "%s\t%s\t%s\t%d", st.instance, op->u.admin.backend,
	         admin_state_names[op->u.admin.a], op->u.admin.weight);
	pthread_mutex_unlock(&st.mu);
	return step(SQL_NOTIFY_ADMIN, v, 1);
}

/* PostgreSQL: the fleet hears of a change of incident ID (KIND 'I') or of this instance's
 * verdicts (KIND 'V', ID 0) at commit, "KIND\tINSTANCE\tID" (fleet.c); identical payloads
 * of one transaction are delivered once. */
static int notify_fleet(char kind, int64_t id)
{
	char payload[128];
	struct sdb_val v[1] = {SDB_T(payload)};

	if (sdb_kind(st.db) != SDB_PG)
		return 0;
	pthread_mutex_lock(&st.mu);
	snprintf(payload, sizeof(payload), "%c\t%s\t%lld", kind, st.instance, (long long)id);
	pthread_mutex_unlock(&st.mu);
	return step(SQL_NOTIFY_FLEET, v, 1);
}

/* An incident's line: SQLite numbers it as the loop did; PostgreSQL appends it after the
 * lines other instances wrote. */
static int put_entry(const struct op *op)
{
	struct sdb_val v[8];

	bind_entry(v, op);
	if (sdb_kind(st.db) != SDB_PG)
		return step(SQL_ENTRY, v, 8);
	if (step(SQL_ENTRY_LOCK, v, 1) < 0 || step(SQL_ENTRY_APPEND, v, 8) < 0)
		return -1;
	return notify_fleet('I', op->u.entry.id);
}

static int put_verdict(const struct op *op)
{
	struct sdb_val v[4] = {SDB_T(st.instance), SDB_T(op->u.verdict.backend),
	                       SDB_I(op->u.verdict.up), SDB_I(op->u.verdict.at)};

	if (step(SQL_VERDICT, v, 4) < 0)
		return -1;
	return op->u.verdict.changed ? notify_fleet('V', 0) : 0;
}

/* PostgreSQL: the fleet reads its subscribers again at commit (fleet.c); the payload names
 * the instance that changed them. */
static int notify_subs(void)
{
	char inst[64];
	struct sdb_val v[1] = {SDB_T(inst)};

	if (sdb_kind(st.db) != SDB_PG)
		return 0;
	pthread_mutex_lock(&st.mu);
	snprintf(inst, sizeof(inst), "%s", st.instance);
	pthread_mutex_unlock(&st.mu);
	return step(SQL_NOTIFY_SUBS, v, 1);
}

static int put_admin(const struct op *op)
{
	struct sdb_val v[4] = {SDB_T(op->u.admin.backend)};

	if (op->u.admin.a == ADMIN_NONE && op->u.admin.weight == STORE_NO_WEIGHT) {
		if (step(SQL_ADMIN_DEL, v, 1) < 0)
			return -1;
		return notify_admin(op);
	}
	v[1] = SDB_T(admin_state_names[op->u.admin.a]);
	v[2] = op->u.admin.weight == STORE_NO_WEIGHT ? SDB_N : SDB_I(op->u.admin.weight);
	v[3] = SDB_I(op->u.admin.at);
	if (step(SQL_ADMIN_SET, v, 4) < 0)
		return -1;
	return notify_admin(op);
}

struct secret_out {
	char *out;
	size_t len;
	int found;
};

static void row_subscriber(struct sdb_row *s, void *arg);
static void row_secret(struct sdb_row *s, void *arg);

static void reading_row(const struct store_subscriber *b, void *arg)
{
	struct store_reading *r = arg;

	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct store_subscriber *v = realloc(r->rows, cap * sizeof(*v));

		if (v == NULL)
			return;
		r->rows = v;
		r->cap = cap;
	}
	r->rows[r->n++] = *b;
}

/* The subscribers and the unsubscribe key, on the writer, into R. */
static int read_subscribers(struct store_reading *r)
{
	void *fa[2] = {(void *)reading_row, r};
	struct secret_out key = {r->key, sizeof(r->key), 0};
	const struct sdb_val v[1] = {SDB_T("unsubscribe_key")};
	char err[ERR_CAP];

	r->n = 0; /* a batch run again reads again */
	r->key[0] = '\0';
	if (sdb_run(st.db, sel_subscribers, NULL, 0, row_subscriber, fa, err, sizeof(err)) < 0 ||
	    sdb_run(st.db, "SELECT value FROM secrets WHERE name = $1", v, 1, row_secret, &key, err,
	            sizeof(err)) < 0) {
		set_err(err);
		return -1;
	}
	return 0;
}

static int run_op(const struct op *op)
{
	char err[ERR_CAP], methods[INCIDENT_METHODS_MAX * 96];
	struct sdb_val v[44];

	switch (op->kind) {
	case OP_INCIDENT:
		bind_incident(v, &op->u.inc, methods, sizeof(methods));
		if (step(SQL_INCIDENT, v, 44) < 0)
			return -1;
		v[0] = SDB_I(op->u.inc.id);
		if (step(SQL_LAST_ID, v, 1) < 0)
			return -1;
		return notify_fleet('I', op->u.inc.id);
	case OP_ENTRY:
		return put_entry(op);
	case OP_SPAN:
		v[0] = SDB_I(op->u.span.id);
		v[1] = SDB_I(op->u.span.start);
		v[2] = SDB_I(op->u.span.end);
		if (step(SQL_SPAN, v, 3) < 0)
			return -1;
		return notify_fleet('I', op->u.span.id);
	case OP_VERDICT:
		return put_verdict(op);
	case OP_ADMIN:
		return put_admin(op);
	case OP_ACK_TOKEN:
		v[0] = SDB_T(op->u.token.mac);
		v[1] = SDB_I(op->u.token.id);
		v[2] = SDB_I(op->u.token.expires);
		v[3] = SDB_I(op->u.token.used_at);
		return step(SQL_ACK_TOKEN, v, 4);
	case OP_SUBSCRIBER:
		bind_subscriber(v, &op->u.sub);
		return step(SQL_SUBSCRIBER, v, 9) < 0 ? -1 : notify_subs();
	case OP_SUBSCRIBER_DEL:
		v[0] = SDB_I(op->u.sub_id);
		return step(SQL_SUBSCRIBER_DEL, v, 1) < 0 ? -1 : notify_subs();
	case OP_SECRET:
		v[0] = SDB_T(op->u.secret.name);
		v[1] = SDB_T(op->u.secret.value);
		return step(SQL_SECRET, v, 2);
	case OP_LATENCY:
		return put_latency(&op->u.lat);
	case OP_OUTBOX:
		pthread_mutex_lock(&st.mu);
		char inst[64];
		snprintf(inst, sizeof(inst), "%s", st.instance);
		pthread_mutex_unlock(&st.mu);
		v[0] = SDB_T(op->u.outbox.key);
		v[1] = SDB_T(op->u.outbox.channel);
		v[2] = SDB_T(inst);
		v[3] = SDB_I(op->u.outbox.at);
		v[4] = SDB_T(op->u.outbox.body != NULL ? op->u.outbox.body : "");
		v[5] = SDB_T(op->u.outbox.target);
		v[6] = SDB_I(op->u.outbox.tag);
		return step(SQL_OUTBOX, v, 7);
	case OP_OUTBOX_DONE:
		v[0] = SDB_T(op->u.outbox.key);
		v[1] = SDB_T(op->u.outbox.state);
		v[2] = SDB_I(op->u.outbox.at);
		return step(SQL_OUTBOX_DONE, v, 3);
	case OP_READ_SUBS:
		return read_subscribers(op->u.reading);
	case OP_PRUNE:
		if (prune(op->u.prune_now, err, sizeof(err)) == 0)
			return 0;
		set_err(err);
		return -1;
	default:
		return 0;
	}
}

/* One write inside the batch's transaction. PostgreSQL aborts the whole transaction on a
 * failed statement, SQLite does not: there, a savepoint keeps the others. */
static int run_savepoint(const struct op *op)
{
	char err[ERR_CAP];
	int rc;

	if (sdb_kind(st.db) == SDB_SQLITE)
		return run_op(op);
	if (sdb_exec(st.db, "SAVEPOINT w", err, sizeof(err)) < 0) {
		set_err(err);
		return -1;
	}
	rc = run_op(op);
	if (rc < 0 && sdb_exec(st.db, "ROLLBACK TO SAVEPOINT w", err, sizeof(err)) < 0)
		set_err(err);
	return rc;
}

/* One transaction for the batch; each write's rc says how it went (all -1 when the
 * transaction itself failed). A lost PostgreSQL connection is tried again first; a batch
 * that lost a deadlock to another instance's is run again (STORE_BATCH_TRIES in all). */
static bool try_batch(struct op *ops, size_t n, bool *retry)
{
	char err[ERR_CAP];
	bool ok;

	*retry = false;
	ok = sdb_begin(st.db, err, sizeof(err)) == 0;
	if (!ok)
		set_err(err);
	for (size_t i = 0; i < n; i++) {
		ops[i].rc = ok && ops[i].kind != OP_BARRIER ? run_savepoint(&ops[i]) : 0;
		if (ops[i].rc < 0 && sdb_retryable(st.db)) {
			*retry = true;
			sdb_rollback(st.db);
			return false;
		}
	}
	if (ok && sdb_commit(st.db, err, sizeof(err)) < 0) {
		set_err(err);
		*retry = sdb_retryable(st.db);
		sdb_rollback(st.db);
		ok = false;
	}
	return ok;
}

static void run_batch(struct op *ops, size_t n)
{
	char err[ERR_CAP];
	bool ok = false, retry = true;

	pthread_mutex_lock(&st.db_mu);
	if (sdb_broken(st.db) && sdb_reconnect(st.db, err, sizeof(err)) < 0)
		set_err(err);
	for (int t = 0; retry && t < STORE_BATCH_TRIES; t++) {
		if (t > 0) /* let the other transaction finish */
			nanosleep(&(struct timespec){.tv_nsec = (5 + rand() % 20) * 1000000L},
			          NULL);
		ok = try_batch(ops, n, &retry);
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
		if (ops[i].kind == OP_READ_SUBS) {
			ops[i].u.reading->rc = ops[i].rc;
			st.done[st.n_done++] = (struct done){.reading = ops[i].u.reading};
			wake = true;
			continue;
		}
		if (ops[i].kind != OP_BARRIER) {
			if (ops[i].rc < 0) {
				st.errors +=
				    !ops[i].kept; /* a kept one is counted once, when lost */
				st.failed = true;
				wake = true;
			}
			continue;
		}
		st.done[st.n_done++] =
		    (struct done){ops[i].u.barrier.done, ops[i].u.barrier.arg,
		                  st.failed || ops[i].u.barrier.fail ? -1 : 0, NULL};
		st.failed = false;
		wake = true;
	}
	wake |= st.up != (st.n_replay == 0) || st.kept != st.n_replay;
	st.up = st.n_replay == 0 && !st.deferred;
	st.ready |= st.up;
	st.kept = st.n_replay;
	pthread_mutex_unlock(&st.mu);
	if (wake && write(st.efd, &one, sizeof(one)) < 0) {
		/* the counter is full: the loop has a wake-up pending anyway */
	}
}

/* What an op owns: an outbox row's body. */
static void op_release(struct op *op)
{
	if (op->kind == OP_OUTBOX) {
		free(op->u.outbox.body);
		op->u.outbox.body = NULL;
	}
}

/* After a batch failed with the database unreachable (PostgreSQL): its writes are kept, in
 * order, to be replayed when it is back (each is a whole row, so a replay converges); the
 * barriers fail now (nothing was acknowledged). Past STORE_QUEUE_MAX kept, the oldest go. */
static void keep(struct op *ops, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++) {
		ops[i].kept = false;
		/* a verdict is of its moment: the next heartbeat says it again */
		if (ops[i].kind == OP_BARRIER || ops[i].kind == OP_VERDICT ||
		    ops[i].kind == OP_READ_SUBS || ops[i].rc == 0)
			continue;
		ops[i].kept = true;
		if (w == STORE_QUEUE_MAX) {
			op_release(&st.replay[0]);
			memmove(st.replay, st.replay + 1, (w - 1) * sizeof(*st.replay));
			w--;
			pthread_mutex_lock(&st.mu);
			st.lost++;
			pthread_mutex_unlock(&st.mu);
		}
		st.replay[w++] = ops[i];
	}
	st.n_replay = w;
}

/* Waits for writes (or stop); while writes are kept, wakes every STORE_RETRY_MS to try the
 * database again. Under st.mu. */
static void wait_work(void)
{
	struct timespec until;

	while (st.n == 0 && !st.stopping) {
		if (st.n_replay == 0 && st.ready) {
			pthread_cond_wait(&st.cv, &st.mu);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += STORE_RETRY_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&st.cv, &st.mu, &until);
		return;
	}
}

static int db_setup(int64_t now, char *err, size_t errlen);

/* The writer, while the database was away at start: connects, brings the schema forward and
 * prunes (as store_open would have); true once done (at once when it was done at open). */
static bool setup_later(void)
{
	char err[ERR_CAP];
	bool ok;

	pthread_mutex_lock(&st.db_mu);
	ok = !st.deferred;
	if (!ok && sdb_reconnect(st.db, err, sizeof(err)) == 0) {
		ok = db_setup(st.opened_at, err, sizeof(err)) == 0;
		if (!ok) {
			sdb_rollback(st.db);
			set_err(err); /* reached, but its schema is not one of ours: said */
		}
	}
	st.deferred = !ok;
	pthread_mutex_unlock(&st.db_mu);
	return ok;
}

static void *writer_main(void *arg)
{
	for (;;) {
		uint64_t delay_ms;
		size_t n = 0;

		pthread_mutex_lock(&st.mu);
		wait_work();
		if (st.n == 0 && st.n_replay == 0 && st.stopping) {
			pthread_mutex_unlock(&st.mu);
			return NULL;
		}
		/* the kept writes first, then the new ones, in order */
		memcpy(st.batch, st.replay, st.n_replay * sizeof(*st.batch));
		n = st.n_replay;
		st.n_replay = 0;
		while (st.n > 0) {
			st.batch[n++] = st.ring[st.head];
			st.head = (st.head + 1) % STORE_QUEUE_MAX;
			st.n--;
		}
		delay_ms = st.delay_ms;
		bool last = st.stopping;
		pthread_mutex_unlock(&st.mu);
		if (delay_ms > 0)
			nanosleep(&(struct timespec){.tv_sec = (time_t)(delay_ms / 1000),
			                             .tv_nsec = (long)(delay_ms % 1000) * 1000000},
			          NULL);
		if (!setup_later())
			for (size_t i = 0; i < n; i++)
				st.batch[i].rc = -1;
		else
			run_batch(st.batch, n);
		if (sdb_broken(st.db) && !last)
			keep(st.batch, n);
		else
			for (size_t i = 0; i < n; i++)
				st.batch[i].kept = false;
		batch_done(st.batch, n);
		for (size_t i = 0; i < n; i++)
			if (!st.batch[i].kept)
				op_release(&st.batch[i]);
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
	errors = st.errors + st.lost;
	st.errors = st.lost = 0;
	snprintf(err, sizeof(err), "%s", st.err);
	st.err[0] = '\0';
	bool up = st.up;
	size_t kept = st.kept;
	pthread_mutex_unlock(&st.mu);
	if (up != st.loop_up) {
		st.loop_up = up;
		if (up)
			log_warn("store: %s is back: the writes kept meanwhile are written",
			         store_where());
		else
			log_error(
			    "store: %s is unreachable: writes are kept (%zu now, at most %d) and "
			    "replayed when it is back; routing goes on",
			    store_where(), kept, STORE_QUEUE_MAX);
	}
	if (errors > 0) {
		STAT_ADD(store_errors, errors);
		log_error("store: %llu write%s failed: %s", (unsigned long long)errors,
		          errors == 1 ? "" : "s", err);
	}
	for (size_t i = 0; i < n; i++) {
		struct store_reading *r = done[i].reading;

		if (r == NULL) {
			done[i].fn(done[i].rc, done[i].arg);
			continue;
		}
		r->fn(r->rc, r->rows, r->n, r->key, r->arg);
		free(r->rows);
		free(r);
	}
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

void store_put_latency(const struct store_latency *l)
{
	struct op op = {.kind = OP_LATENCY, .u.lat = *l};

	(void)enqueue(&op);
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

void store_put_outbox(const char *key, const char *channel, const char *target, int64_t tag,
                      const char *body, int64_t at)
{
	struct op op = {.kind = OP_OUTBOX, .u.outbox = {.at = at, .tag = tag}};

	if (strlen(key) >= sizeof(op.u.outbox.key) ||
	    strlen(channel) >= sizeof(op.u.outbox.channel) ||
	    strlen(target) >= sizeof(op.u.outbox.target))
		return;
	snprintf(op.u.outbox.target, sizeof(op.u.outbox.target), "%s", target);
	snprintf(op.u.outbox.key, sizeof(op.u.outbox.key), "%s", key);
	snprintf(op.u.outbox.channel, sizeof(op.u.outbox.channel), "%s", channel);
	op.u.outbox.body = strdup(body);
	if (op.u.outbox.body != NULL && !enqueue(&op))
		free(op.u.outbox.body);
}

void store_done_outbox(const char *key, bool sent, int64_t at)
{
	struct op op = {.kind = OP_OUTBOX_DONE, .u.outbox = {.at = at}};

	if (strlen(key) >= sizeof(op.u.outbox.key))
		return;
	snprintf(op.u.outbox.key, sizeof(op.u.outbox.key), "%s", key);
	snprintf(op.u.outbox.state, sizeof(op.u.outbox.state), "%s", sent ? "sent" : "dropped");
	(void)enqueue(&op);
}

void store_put_verdict(const char *backend, bool up, bool changed, int64_t at)
{
	struct op op = {.kind = OP_VERDICT, .u.verdict = {.up = up, .changed = changed, .at = at}};

	if (strlen(backend) >= sizeof(op.u.verdict.backend))
		return;
	snprintf(op.u.verdict.backend, sizeof(op.u.verdict.backend), "%s", backend);
	(void)enqueue(&op);
}

const char *store_instance(void)
{
	return st.instance; /* written once, at start, before the loop runs */
}

void store_prune(int64_t now)
{
	struct op op = {.kind = OP_PRUNE, .u.prune_now = now};

	(void)enqueue(&op);
}

void store_read_subscribers(store_subscribers_fn fn, void *arg)
{
	struct op op = {.kind = OP_READ_SUBS};

	if ((op.u.reading = calloc(1, sizeof(*op.u.reading))) == NULL) {
		fn(-1, NULL, 0, "", arg);
		return;
	}
	op.u.reading->fn = fn;
	op.u.reading->arg = arg;
	if (!enqueue(&op)) {
		free(op.u.reading);
		fn(-1, NULL, 0, "", arg);
	}
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
	const struct sdb_val v[3] = {SDB_I(now - STORE_KEEP_DAYS * DAY_MS), SDB_I(STORE_KEEP_MAX),
	                             SDB_I(now)};
	char why[ERR_CAP];

	for (size_t i = 0; i < sizeof(prune_sql) / sizeof(prune_sql[0]); i++)
		if (sdb_run(st.db, prune_sql[i], v, 3, NULL, NULL, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "prune: %s", why);
			return -1;
		}
	return 0;
}

static void row_int(struct sdb_row *r, void *arg)
{
	*(int64_t *)arg = sdb_int(r, 0);
}

/* The database's schema version (meta 'schema'), or -1. */
static int schema_version(void)
{
	char err[ERR_CAP];
	int64_t v = -1;

	if (sdb_run(st.db, "SELECT value FROM meta WHERE key = 'schema'", NULL, 0, row_int, &v, err,
	            sizeof(err)) < 0)
		return -1;
	return (int)v;
}

/* Brings a database of an older schema forward, one step per transaction (one written by a
 * newer nodegate is refused: its rows would be misread). */
static int migrate(char *err, size_t errlen)
{
	int v = schema_version();
	char why[ERR_CAP], sql[64];
	const char *where = sdb_where(st.db);

	if (v < 1 || v > SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: schema version %d (expected 1 to %d)", where, v,
		         SCHEMA_VERSION);
		return -1;
	}
	for (; v < SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "UPDATE meta SET value = %d WHERE key = 'schema';",
		         v + 1);
		if (sdb_begin(st.db, why, sizeof(why)) < 0 ||
		    sdb_exec(st.db, migrations[v - 1], why, sizeof(why)) < 0 ||
		    sdb_exec(st.db, sql, why, sizeof(why)) < 0 ||
		    sdb_commit(st.db, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s: schema %d -> %d: %s", where, v, v + 1, why);
			sdb_rollback(st.db);
			return -1;
		}
		log_info("store: %s: schema %d -> %d", where, v, v + 1);
	}
	return 0;
}

/* PostgreSQL: instances of a fleet starting together take turns at the schema. */
#define SCHEMA_LOCK   "SELECT pg_advisory_lock(7170100)"
#define SCHEMA_UNLOCK "SELECT pg_advisory_unlock(7170100)"

static int db_setup(int64_t now, char *err, size_t errlen)
{
	bool pg = sdb_kind(st.db) == SDB_PG;
	char why[ERR_CAP];
	int rc = -1;

	if (pg && sdb_exec(st.db, SCHEMA_LOCK, err, errlen) < 0)
		return -1;
	if (sdb_exec(st.db, schema, why, sizeof(why)) < 0)
		snprintf(err, errlen, "%s: schema: %s", sdb_where(st.db), why);
	else if (migrate(err, errlen) == 0 && prune(now, err, errlen) == 0)
		rc = 0;
	if (pg && sdb_exec(st.db, SCHEMA_UNLOCK, why, sizeof(why)) < 0 && rc == 0) {
		snprintf(err, errlen, "%s: %s", sdb_where(st.db), why);
		rc = -1;
	}
	return rc;
}

static int start_writer(char *err, size_t errlen)
{
	sigset_t all, old;
	int rc;

	st.batch = calloc(2 * STORE_QUEUE_MAX, sizeof(*st.batch));
	st.replay = calloc(STORE_QUEUE_MAX, sizeof(*st.replay));
	st.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	st.ev_done = st.efd >= 0
	                 ? event_new(registry.base, st.efd, EV_READ | EV_PERSIST, done_cb, NULL)
	                 : NULL;
	if (st.batch == NULL || st.replay == NULL || st.ev_done == NULL ||
	    event_add(st.ev_done, NULL) < 0) {
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
	sdb_close(st.db);
	st.db = NULL;
	if (st.ev_done != NULL)
		event_free(st.ev_done);
	st.ev_done = NULL;
	if (st.efd >= 0)
		close(st.efd);
	st.efd = -1;
	free(st.batch);
	st.batch = NULL;
	free(st.replay);
	st.replay = NULL;
	st.n_replay = 0;
}

/* URL, or sqlite:STATE_DIR/nodegate.db when unset, into st.url; SQLite's folder made. */
static int resolve_url(const char *state_dir, const char *url, bool make, char *err, size_t errlen)
{
	char dir[STORE_URL_MAX];
	char *slash;

	if (url == NULL || *url == '\0') {
		if (make && make_dir(state_dir, err, errlen) < 0)
			return -1;
		if (snprintf(st.url, sizeof(st.url), "sqlite:%s/%s", state_dir, STORE_FILE) >=
		    (int)sizeof(st.url)) {
			snprintf(err, errlen, "%s: path too long", state_dir);
			return -1;
		}
		return 0;
	}
	if (snprintf(st.url, sizeof(st.url), "%s", url) >= (int)sizeof(st.url) ||
	    sdb_url_kind(url) < 0) {
		snprintf(err, errlen, "bad store url (expected sqlite:PATH or postgresql://...)");
		return -1;
	}
	if (!make || sdb_url_kind(url) != SDB_SQLITE)
		return 0;
	snprintf(dir, sizeof(dir), "%s", url + 7);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	return make_dir(dir, err, errlen);
}

int store_open(const char *state_dir, const char *url, int64_t now, char *err, size_t errlen)
{
	if (st.open)
		return 0;
	if (resolve_url(state_dir, url, true, err, errlen) < 0)
		return -1;
	st.head = st.n = st.n_done = 0; /* before the writer thread reads them */
	st.stopping = st.failed = st.dropped = false;
	st.up = st.loop_up = st.ready = true;
	st.deferred = false;
	st.kept = 0;
	st.opened_at = now;
	int later = sdb_open_later(&st.db, st.url, err, errlen);
	if (later == 1) {
		/* PostgreSQL away: start without it, the writer sets it up when it is back */
		log_error("store: %s is unreachable at start (%s): nodegate starts without it: "
		          "routing goes on from local judgement, admin states and incidents start "
		          "empty here, writes are kept (at most %d) and the schema is checked when "
		          "it is back",
		          sdb_where(st.db), err, STORE_QUEUE_MAX);
		st.deferred = true;
		st.up = st.loop_up = st.ready = false;
	}
	if (later < 0 || (later == 0 && db_setup(now, err, errlen) < 0) ||
	    start_writer(err, errlen) < 0) {
		release();
		return -1;
	}
	st.open = true;
	if (st.deferred)
		return 0;
	log_info("store: %s%s", sdb_where(st.db),
	         sdb_kind(st.db) == SDB_SQLITE ? " (WAL, synchronous=FULL)"
	                                       : " (synchronous_commit=on)");
	return 0;
}

bool store_synced(void)
{
	bool r;

	pthread_mutex_lock(&st.mu);
	r = st.ready && st.up;
	pthread_mutex_unlock(&st.mu);
	return r;
}

bool store_up(void)
{
	return !st.open || st.loop_up;
}

size_t store_queued(void)
{
	size_t n;

	pthread_mutex_lock(&st.mu);
	n = st.n + st.kept;
	pthread_mutex_unlock(&st.mu);
	return n;
}

void store_set_instance(const char *name)
{
	pthread_mutex_lock(&st.mu);
	snprintf(st.instance, sizeof(st.instance), "%s", name);
	pthread_mutex_unlock(&st.mu);
}

const char *store_where(void)
{
	return st.db != NULL ? sdb_where(st.db) : st.url;
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

int store_open_readonly(const char *state_dir, const char *url, char *err, size_t errlen)
{
	int v;

	if (st.open || st.readonly)
		return 0;
	if (resolve_url(state_dir, url, false, err, errlen) < 0 ||
	    sdb_open(&st.db, st.url, true, err, errlen) < 0)
		goto fail;
	v = schema_version();
	if (v != SCHEMA_VERSION) {
		snprintf(err, errlen,
		         "%s: schema version %d (expected %d: nodegate brings an older one forward "
		         "when it starts)",
		         sdb_where(st.db), v, SCHEMA_VERSION);
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

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s != NULL && i < n; i++)
		if (names[i] != NULL && strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

static void column_copy(struct sdb_row *r, int col, char *dst, size_t cap)
{
	const char *v = sdb_text(r, col);

	snprintf(dst, cap, "%s", v != NULL ? v : "");
}

static void row_incident(struct sdb_row *s, void *arg)
{
	const struct store_loader *l = arg;
	struct incident inc = {0};
	int sev = name_index(pool_status_names, PS_COUNT, sdb_text(s, 3));

	inc.id = sdb_int(s, 0);
	column_copy(s, 1, inc.pool, sizeof(inc.pool));
	column_copy(s, 2, inc.title, sizeof(inc.title));
	inc.severity = sev >= 0 ? sev : PS_DEGRADED;
	inc.manual = sdb_int(s, 4) != 0;
	inc.started = sdb_int(s, 5);
	inc.resolved = sdb_int(s, 6);
	inc.planned_start = sdb_int(s, 7);
	inc.planned_end = sdb_int(s, 8);
	int prio = name_index(priority_names, PRIO_COUNT, sdb_text(s, 9));
	/* a row of schema 1 has none: what its worst status says, urgency high */
	inc.priority = prio >= 0 ? prio
	                         : (inc.severity >= PS_MAJOR_OUTAGE     ? PRIO_P1
	                            : inc.severity == PS_PARTIAL_OUTAGE ? PRIO_P2
	                            : inc.severity == PS_DEGRADED       ? PRIO_P3
	                                                                : PRIO_P4);
	inc.priority_set = sdb_int(s, 10) != 0;
	inc.acked = sdb_int(s, 11);
	column_copy(s, 12, inc.acked_by, sizeof(inc.acked_by));
	for (int r = 0; r < ROLE_COUNT; r++)
		column_copy(s, 13 + r, inc.roles[r], sizeof(inc.roles[r]));
	inc.causes = (unsigned)sdb_int(s, 18);
	inc.esc_step = (int)sdb_int(s, 19);
	column_copy(s, 20, inc.backend, sizeof(inc.backend));
	column_copy(s, 21, inc.verdict, sizeof(inc.verdict));
	inc.open_causes = (unsigned)sdb_int(s, 22);
	inc.counted = sdb_int(s, 23);
	column_counts(s, 24, &inc.counts_open);
	column_counts(s, 28, &inc.counts_resolve);
	for (int f = 0; f < PMF_COUNT; f++)
		column_copy(s, 32 + f, inc.pm[f], sizeof(inc.pm[f]));
	inc.expected = sdb_int(s, 37);
	column_copy(s, 38, inc.expected_by, sizeof(inc.expected_by));
	column_methods(s, 39, &inc);
	inc.serving = (size_t)sdb_int(s, 40);
	inc.total = (size_t)sdb_int(s, 41);
	column_copy(s, 42, inc.backends, sizeof(inc.backends));
	inc.maint_phase = (int)sdb_int(s, 43);
	l->incident(&inc, l->arg);
}

static void row_entry(struct sdb_row *s, void *arg)
{
	const struct store_loader *l = arg;
	struct incident_entry e = {0};
	int kind = name_index(entry_kind_names, ENTRY_COUNT, sdb_text(s, 2));
	int status = name_index(update_status_names, UPD_COUNT, sdb_text(s, 3));

	if (kind < 0) {
		log_warn("store: incident %lld: entry of unknown kind %s skipped",
		         (long long)sdb_int(s, 0),
		         sdb_text(s, 2) != NULL ? sdb_text(s, 2) : "NULL");
		return;
	}
	e.at = sdb_int(s, 1);
	e.kind = (enum entry_kind)kind;
	e.status = status >= 0 ? (enum update_status)status : UPD_INVESTIGATING;
	e.eta = sdb_int(s, 4);
	e.next_update = sdb_int(s, 5);
	column_copy(s, 6, e.text, sizeof(e.text));
	l->entry(sdb_int(s, 0), &e, l->arg);
}

static void row_span(struct sdb_row *s, void *arg)
{
	const struct store_loader *l = arg;

	l->span(sdb_int(s, 0), sdb_int(s, 1), sdb_int(s, 2), l->arg);
}

/* Runs the N_SQL reads SQL, each row of the i-th to ROWS[i], under the connection's lock
 * and, when there are several, in one snapshot with no write of this instance between them
 * (the writer shares the connection); 0 or -1 (logged under WHAT). */
static int reads(const char *const what[], const char *const sql[], const sdb_row_fn rows[],
                 size_t n_sql, const struct sdb_val *v, size_t n, void *arg)
{
	char err[ERR_CAP];
	int rc = 0;

	if (!st.open && !st.readonly)
		return -1;
	pthread_mutex_lock(&st.db_mu);
	if (st.deferred) { /* away since the start: nothing stored is known yet */
		pthread_mutex_unlock(&st.db_mu);
		return 0;
	}
	if (n_sql > 1 && (rc = sdb_begin_read(st.db, err, sizeof(err))) < 0)
		log_error("store: %s: %s", what[0], err);
	for (size_t i = 0; i < n_sql && rc == 0; i++)
		if ((rc = sdb_run(st.db, sql[i], v, n, rows[i], arg, err, sizeof(err))) < 0)
			log_error("store: %s: %s", what[i], err);
	if (n_sql > 1 && rc == 0 && (rc = sdb_commit(st.db, err, sizeof(err))) < 0)
		log_error("store: %s: %s", what[0], err);
	if (n_sql > 1 && rc < 0)
		sdb_rollback(st.db);
	pthread_mutex_unlock(&st.db_mu);
	return rc;
}

/* Runs a read and hands each row to ROW, under the connection's lock; 0 or -1 (logged). */
static int each_row(const char *what, const char *sql, const struct sdb_val *v, size_t n,
                    sdb_row_fn row, void *arg)
{
	return reads(&what, &sql, &row, 1, v, n, arg);
}

/* The columns row_incident, row_entry and row_span read, for all rows or one incident's. */
#define SEL_INCIDENT                                                                               \
	"SELECT id, pool, title, severity, manual, started, resolved, planned_start,"              \
	" planned_end, priority, priority_set, acked, acked_by, commander, investigator,"          \
	" fixer, recorder, communicator, causes, esc_step, backend, verdict, open_causes,"         \
	" counted, open_received, open_failed, open_retried, open_refused,"                        \
	" resolve_received, resolve_failed, resolve_retried, resolve_refused,"                     \
	" pm_root_cause, pm_prevent, pm_detect, pm_mitigate, pm_fix, expected, expected_by,"       \
	" methods, serving, total, backends, maint_phase FROM incidents"
#define SEL_ENTRY "SELECT incident_id, at, kind, status, eta, next_update, text FROM entries"
#define SEL_SPAN  "SELECT incident_id, start, \"end\" FROM spans"
static const char sel_incidents[] = SEL_INCIDENT " ORDER BY id";
static const char sel_entries[] = SEL_ENTRY " ORDER BY incident_id, seq";
static const char sel_spans[] = SEL_SPAN " ORDER BY incident_id, start";
static const char sel_incident_one[] = SEL_INCIDENT " WHERE id = $1";
static const char sel_entries_one[] = SEL_ENTRY " WHERE incident_id = $1 ORDER BY seq";
static const char sel_spans_one[] = SEL_SPAN " WHERE incident_id = $1 ORDER BY start";

/* Incidents, their entries and their spans as of one moment. Read apart, an incident's row
 * could come from before a write and its entries from after it, and a sync would take a
 * postmortem field or a role back until the next one. */
static int load_incidents(const char *const sql[3], const struct sdb_val *v, size_t n,
                          const struct store_loader *l)
{
	static const sdb_row_fn rows[3] = {row_incident, row_entry, row_span};
	static const char *const what[3] = {"incidents", "entries", "spans"};

	return reads(what, sql, rows, 3, v, n, (void *)l);
}

int store_load_incident(int64_t id, const struct store_loader *l)
{
	static const char *const sql[3] = {sel_incident_one, sel_entries_one, sel_spans_one};
	struct sdb_val v[1] = {SDB_I(id)};

	return load_incidents(sql, v, 1, l);
}

int store_load_incidents(const struct store_loader *l)
{
	static const char *const sql[3] = {sel_incidents, sel_entries, sel_spans};

	return load_incidents(sql, NULL, 0, l);
}

static void row_latency(struct sdb_row *s, void *arg)
{
	void **fa = arg;
	void (*fn)(const struct store_latency *l, void *arg) =
	    (void (*)(const struct store_latency *, void *))fa[0];
	struct store_latency l = {0};
	size_t len = 0;
	const void *h = sdb_blob(s, 6, &len);

	column_copy(s, 0, l.pool, sizeof(l.pool));
	l.span = sdb_int(s, 1);
	l.start = sdb_int(s, 2);
	l.n = (uint64_t)sdb_int(s, 3);
	l.p50_us = (uint64_t)sdb_int(s, 4);
	l.p99_us = (uint64_t)sdb_int(s, 5);
	if (h != NULL && len == sizeof(l.hist)) {
		memcpy(l.hist, h, sizeof(l.hist));
		l.has_hist = true;
	}
	fn(&l, fa[1]);
}

int store_load_latency(void (*fn)(const struct store_latency *l, void *arg), void *arg)
{
	void *fa[2] = {(void *)fn, arg};

	return each_row("latency",
	                "SELECT pool, span, start, n, p50_us, p99_us, hist FROM latency"
	                " ORDER BY pool, span, start",
	                NULL, 0, row_latency, fa);
}

static void row_ack_token(struct sdb_row *s, void *arg)
{
	void **fa = arg;
	void (*fn)(const char *, int64_t, int64_t, void *) =
	    (void (*)(const char *, int64_t, int64_t, void *))fa[0];

	if (sdb_text(s, 0) != NULL)
		fn(sdb_text(s, 0), sdb_int(s, 1), sdb_int(s, 2), fa[1]);
}

int store_load_ack_tokens(void (*fn)(const char *mac, int64_t id, int64_t expires, void *arg),
                          void *arg)
{
	void *fa[2] = {(void *)fn, arg};

	if (!st.open)
		return -1;
	return each_row("ack_tokens", "SELECT mac, incident_id, expires FROM ack_tokens", NULL, 0,
	                row_ack_token, fa);
}

static void row_max(struct sdb_row *r, void *arg)
{
	int64_t v = sdb_int(r, 0);

	if (v > *(int64_t *)arg)
		*(int64_t *)arg = v;
}

int64_t store_last_id(void)
{
	int64_t id = 0;
	bool deferred;

	pthread_mutex_lock(&st.db_mu);
	deferred = st.open && st.deferred;
	pthread_mutex_unlock(&st.db_mu);
	if (deferred) /* the fleet's last id is not known: numbers no instance gave yet */
		return clock_wall() / 1000;

	if (each_row("last_id",
	             "SELECT value FROM meta WHERE key = 'last_id'"
	             " UNION ALL SELECT COALESCE(MAX(id), 0) FROM incidents",
	             NULL, 0, row_max, &id) < 0)
		return 0;
	return id;
}

static void row_admin(struct sdb_row *s, void *arg)
{
	void **fa = arg;
	void (*fn)(const char *, enum admin_state, int, int64_t, void *) =
	    (void (*)(const char *, enum admin_state, int, int64_t, void *))fa[0];
	int a = name_index(admin_state_names, ADMIN_COUNT, sdb_text(s, 1));
	int w = sdb_null(s, 2) ? STORE_NO_WEIGHT : (int)sdb_int(s, 2);

	if (a < 0 || sdb_text(s, 0) == NULL)
		return;
	fn(sdb_text(s, 0), (enum admin_state)a, w, sdb_int(s, 3), fa[1]);
}

int store_load_admin(void (*fn)(const char *backend, enum admin_state a, int weight,
                                int64_t updated_at, void *arg),
                     void *arg)
{
	void *fa[2] = {(void *)fn, arg};

	if (!st.open)
		return -1;
	return each_row("admin_state", "SELECT backend, admin, weight, updated_at FROM admin_state",
	                NULL, 0, row_admin, fa);
}

static void row_subscriber(struct sdb_row *s, void *arg)
{
	void **fa = arg;
	void (*fn)(const struct store_subscriber *, void *) =
	    (void (*)(const struct store_subscriber *, void *))fa[0];
	struct store_subscriber b = {.id = sdb_int(s, 0)};
	int k = name_index(store_sub_kind_names, SUB_KIND_COUNT, sdb_text(s, 1));
	int t = name_index(store_sub_state_names, SUB_STATE_COUNT, sdb_text(s, 4));

	if (k < 0 || t < 0)
		return;
	b.kind = (enum store_sub_kind)k;
	b.state = (enum store_sub_state)t;
	column_copy(s, 2, b.address, sizeof(b.address));
	column_copy(s, 3, b.pools, sizeof(b.pools));
	column_copy(s, 5, b.token_hash, sizeof(b.token_hash));
	b.token_expires = sdb_int(s, 6);
	b.created = sdb_int(s, 7);
	b.confirmed = sdb_int(s, 8);
	fn(&b, fa[1]);
}

int store_load_subscribers(void (*fn)(const struct store_subscriber *s, void *arg), void *arg)
{
	void *fa[2] = {(void *)fn, arg};

	if (!st.open)
		return -1;
	return each_row("subscribers", sel_subscribers, NULL, 0, row_subscriber, fa);
}

static void row_secret(struct sdb_row *s, void *arg)
{
	struct secret_out *o = arg;

	column_copy(s, 0, o->out, o->len);
	o->found = 1;
}

int store_load_secret(const char *name, char *out, size_t len)
{
	struct secret_out o = {out, len, 0};
	const struct sdb_val v[1] = {SDB_T(name)};

	if (!st.open)
		return -1;
	if (each_row("secrets", "SELECT value FROM secrets WHERE name = $1", v, 1, row_secret, &o) <
	    0)
		return -1;
	return o.found;
}
