/* The store's SQL on SQLite or PostgreSQL: one description of statements ($N parameters,
 * SQLite's DDL types), each backend translating what it must. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "ops/storedb.h"

#define BUSY_TIMEOUT_MS 5000
#define STMT_CACHE      64 /* SQLite statements kept prepared, by SQL address */
#define PARAMS_MAX      64
#define WHERE_CAP       256

/* PostgreSQL type OIDs (catalog/pg_type.h, stable). */
#define OID_BYTEA 17
#define OID_INT8  20
#define OID_TEXT  25

const char *const sdb_kind_names[SDB_KIND_COUNT] = {
    [SDB_SQLITE] = "sqlite", [SDB_PG] = "postgresql"};

struct sdb {
	enum sdb_kind kind;
	bool readonly;
	char where[WHERE_CAP];
	char *url;
	sqlite3 *lite;
	struct {
		const char *sql;
		sqlite3_stmt *s;
	} cache[STMT_CACHE];
	PGconn *pg;
	char sqlstate[8]; /* PostgreSQL: of the last failure */
};

struct sdb_row {
	struct sdb *db;
	sqlite3_stmt *s; /* SQLite */
	PGresult *res;   /* PostgreSQL */
	int i;           /* its row */
	unsigned char *blob;
};

int sdb_url_kind(const char *url)
{
	if (url == NULL)
		return -1;
	if (strncmp(url, "sqlite:", 7) == 0 && url[7] != '\0')
		return SDB_SQLITE;
	if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
		return SDB_PG;
	return -1;
}

enum sdb_kind sdb_kind(const struct sdb *db)
{
	return db->kind;
}

const char *sdb_where(const struct sdb *db)
{
	return db->where;
}

/* ---- rows ---------------------------------------------------------------------------------- */

bool sdb_null(struct sdb_row *r, int col)
{
	if (r->s != NULL)
		return sqlite3_column_type(r->s, col) == SQLITE_NULL;
	return PQgetisnull(r->res, r->i, col) != 0;
}

int64_t sdb_int(struct sdb_row *r, int col)
{
	if (r->s != NULL)
		return sqlite3_column_int64(r->s, col);
	if (PQgetisnull(r->res, r->i, col))
		return 0;
	return strtoll(PQgetvalue(r->res, r->i, col), NULL, 10);
}

const char *sdb_text(struct sdb_row *r, int col)
{
	if (r->s != NULL)
		return (const char *)sqlite3_column_text(r->s, col);
	if (PQgetisnull(r->res, r->i, col))
		return NULL;
	return PQgetvalue(r->res, r->i, col);
}

const void *sdb_blob(struct sdb_row *r, int col, size_t *len)
{
	*len = 0;
	if (r->s != NULL) {
		const void *p = sqlite3_column_blob(r->s, col);

		*len = (size_t)sqlite3_column_bytes(r->s, col);
		return p;
	}
	if (PQgetisnull(r->res, r->i, col))
		return NULL;
	if (r->blob != NULL)
		PQfreemem(r->blob);
	r->blob = PQunescapeBytea((const unsigned char *)PQgetvalue(r->res, r->i, col), len);
	return r->blob;
}

/* ---- SQLite -------------------------------------------------------------------------------- */

static void lite_err(struct sdb *db, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s%s%s", what, *what != '\0' ? ": " : "", sqlite3_errmsg(db->lite));
}

/* "$N" -> "?N": SQLite's numbered parameters (the SQL holds no '$' in literals). */
static char *lite_sql(const char *sql)
{
	char *out = strdup(sql);

	for (char *p = out; p != NULL && *p != '\0'; p++)
		if (*p == '$' && isdigit((unsigned char)p[1]))
			*p = '?';
	return out;
}

static sqlite3_stmt *lite_prepare(struct sdb *db, const char *sql, bool *cached)
{
	sqlite3_stmt *s = NULL;
	char *text;
	size_t free_slot = STMT_CACHE;

	for (size_t i = 0; i < STMT_CACHE; i++) {
		if (db->cache[i].sql == sql) {
			*cached = true;
			return db->cache[i].s;
		}
		if (db->cache[i].sql == NULL && free_slot == STMT_CACHE)
			free_slot = i;
	}
	text = lite_sql(sql);
	if (text == NULL ||
	    sqlite3_prepare_v3(db->lite, text, -1,
	                       free_slot < STMT_CACHE ? SQLITE_PREPARE_PERSISTENT : 0, &s,
	                       NULL) != SQLITE_OK) {
		free(text);
		sqlite3_finalize(s);
		return NULL;
	}
	free(text);
	*cached = free_slot < STMT_CACHE;
	if (*cached) {
		db->cache[free_slot].sql = sql;
		db->cache[free_slot].s = s;
	}
	return s;
}

static int lite_bind(sqlite3_stmt *s, const struct sdb_val *v, size_t n)
{
	int max = sqlite3_bind_parameter_count(s);

	for (size_t i = 0; i < n && (int)i < max; i++) {
		int col = (int)i + 1, rc;

		switch (v[i].t) {
		case SDB_INT:
			rc = sqlite3_bind_int64(s, col, v[i].i);
			break;
		case SDB_TEXT:
			rc = v[i].s != NULL
			         ? sqlite3_bind_text(s, col, v[i].s, -1, SQLITE_TRANSIENT)
			         : sqlite3_bind_null(s, col);
			break;
		case SDB_BLOB:
			rc = sqlite3_bind_blob(s, col, v[i].b, (int)v[i].len, SQLITE_TRANSIENT);
			break;
		default:
			rc = sqlite3_bind_null(s, col);
			break;
		}
		if (rc != SQLITE_OK)
			return -1;
	}
	return 0;
}

static int lite_run(struct sdb *db, const char *sql, const struct sdb_val *v, size_t n,
                    sdb_row_fn fn, void *arg, char *err, size_t errlen)
{
	bool cached = false;
	sqlite3_stmt *s = lite_prepare(db, sql, &cached);
	struct sdb_row row = {.db = db, .s = s};
	int rc;

	if (s == NULL) {
		lite_err(db, "", err, errlen);
		return -1;
	}
	rc = lite_bind(s, v, n) < 0 ? SQLITE_ERROR : SQLITE_OK;
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (fn != NULL)
			fn(&row, arg);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE)
		lite_err(db, "", err, errlen);
	if (cached) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	} else {
		sqlite3_finalize(s);
	}
	return rc == SQLITE_DONE ? 0 : -1;
}

/* PRAGMA NAME = VALUE, checked (journal_mode says what it chose). */
static int lite_pragma(struct sdb *db, const char *name, const char *value, char *err,
                       size_t errlen)
{
	char sql[128], got[32] = "";
	sqlite3_stmt *s = NULL;
	int rc;

	snprintf(sql, sizeof(sql), "PRAGMA %s = %s", name, value);
	rc = sqlite3_prepare_v2(db->lite, sql, -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW &&
	    sqlite3_column_text(s, 0) != NULL)
		snprintf(got, sizeof(got), "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		snprintf(err, errlen, "PRAGMA %s: %s", name, sqlite3_errmsg(db->lite));
		return -1;
	}
	if (strcmp(name, "journal_mode") == 0 && strcasecmp(got, value) != 0) {
		snprintf(err, errlen, "PRAGMA journal_mode: %s instead of %s", got, value);
		return -1;
	}
	return 0;
}

static int lite_open(struct sdb *db, const char *path, char *err, size_t errlen)
{
	int flags =
	    db->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	snprintf(db->where, sizeof(db->where), "%s", path);
	if (sqlite3_open_v2(path, &db->lite, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
		         db->lite != NULL ? sqlite3_errmsg(db->lite) : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(db->lite, BUSY_TIMEOUT_MS);
	if (db->readonly)
		return 0;
	return lite_pragma(db, "journal_mode", "WAL", err, errlen) < 0 ||
	               lite_pragma(db, "synchronous", "FULL", err, errlen) < 0
	           ? -1
	           : 0;
}

/* ---- PostgreSQL ------------------------------------------------------------------------------ */

static void pg_err(struct sdb *db, const PGresult *res, char *err, size_t errlen)
{
	const char *m = res != NULL ? PQresultErrorMessage(res) : "";

	if (m == NULL || *m == '\0')
		m = PQerrorMessage(db->pg);
	snprintf(err, errlen, "%s", m != NULL && *m != '\0' ? m : "unknown error");
	for (char *p = err; *p != '\0'; p++) /* one line for the log */
		if (*p == '\n')
			*p = *(p + 1) != '\0' ? ' ' : '\0';
}

/* The highest $K the statement names. */
static size_t pg_max_param(const char *sql)
{
	size_t max = 0;

	for (const char *p = sql; *p != '\0'; p++)
		if (*p == '$' && isdigit((unsigned char)p[1])) {
			size_t k = strtoul(p + 1, NULL, 10);

			max = k > max ? k : max;
		}
	return max;
}

static int pg_check(struct sdb *db, PGresult *res, char *err, size_t errlen)
{
	ExecStatusType t = PQresultStatus(res);
	const char *state;

	if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK)
		return 0;
	state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state != NULL ? state : "");
	pg_err(db, res, err, errlen);
	return -1;
}

static int pg_run(struct sdb *db, const char *sql, const struct sdb_val *v, size_t n, sdb_row_fn fn,
                  void *arg, char *err, size_t errlen)
{
	const char *values[PARAMS_MAX];
	Oid types[PARAMS_MAX];
	int lens[PARAMS_MAX], formats[PARAMS_MAX];
	char ints[PARAMS_MAX][24];
	size_t np = pg_max_param(sql);
	struct sdb_row row = {.db = db};
	PGresult *res;
	int rc;

	np = np < n ? np : n;
	if (np > PARAMS_MAX) {
		snprintf(err, errlen, "too many parameters");
		return -1;
	}
	for (size_t i = 0; i < np; i++) {
		lens[i] = formats[i] = 0;
		types[i] = 0;
		values[i] = NULL;
		switch (v[i].t) {
		case SDB_INT:
			snprintf(ints[i], sizeof(ints[i]), "%lld", (long long)v[i].i);
			values[i] = ints[i];
			types[i] = OID_INT8;
			break;
		case SDB_TEXT:
			values[i] = v[i].s;
			types[i] = OID_TEXT;
			break;
		case SDB_BLOB:
			values[i] = v[i].b;
			lens[i] = (int)v[i].len;
			formats[i] = 1;
			types[i] = OID_BYTEA;
			break;
		default:
			break;
		}
	}
	res = PQexecParams(db->pg, sql, (int)np, types, values, lens, formats, 0);
	rc = pg_check(db, res, err, errlen);
	row.res = res;
	for (int i = 0; rc == 0 && fn != NULL && i < PQntuples(res); i++) {
		row.i = i;
		fn(&row, arg);
	}
	if (row.blob != NULL)
		PQfreemem(row.blob);
	PQclear(res);
	return rc;
}

/* SQLite's DDL for PostgreSQL: INTEGER -> BIGINT (milliseconds need 64 bits), BLOB ->
 * BYTEA, WITHOUT ROWID dropped. Words only (not inside identifiers). */
static char *pg_ddl(const char *sql)
{
	static const struct {
		const char *from, *to;
	} words[] = {{"INTEGER", "BIGINT"}, {"BLOB", "BYTEA"}, {" WITHOUT ROWID", ""}};
	size_t cap = strlen(sql) * 2 + 1, o = 0;
	char *out = malloc(cap);

	for (const char *p = sql; out != NULL && *p != '\0';) {
		bool done = false;

		for (size_t w = 0; w < sizeof(words) / sizeof(words[0]) && !done; w++) {
			size_t fl = strlen(words[w].from);
			bool start = p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');

			if (strncmp(p, words[w].from, fl) == 0 &&
			    !(isalnum((unsigned char)p[fl]) || p[fl] == '_') &&
			    (start || words[w].from[0] == ' ')) {
				memcpy(out + o, words[w].to, strlen(words[w].to));
				o += strlen(words[w].to);
				p += fl;
				done = true;
			}
		}
		if (!done)
			out[o++] = *p++;
	}
	if (out != NULL)
		out[o] = '\0';
	return out;
}

static int pg_connect(struct sdb *db, char *err, size_t errlen)
{
	/* connect_timeout first: the URL's own, expanded from dbname, overrides it */
	const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *vals[] = {"5", "nodegate", db->url, NULL};
	PGresult *res;
	int rc;

	if (db->pg != NULL)
		PQfinish(db->pg);
	db->pg = PQconnectdbParams(keys, vals, 1);
	if (db->pg == NULL || PQstatus(db->pg) != CONNECTION_OK) {
		snprintf(err, errlen, "%s: cannot connect: ", db->where);
		if (db->pg != NULL)
			pg_err(db, NULL, err + strlen(err), errlen - strlen(err));
		return -1;
	}
	snprintf(db->where, sizeof(db->where), "postgresql %s:%s/%s",
	         *PQhost(db->pg) != '\0' ? PQhost(db->pg) : "localhost", PQport(db->pg),
	         PQdb(db->pg));
	/* an acknowledged write is on the server's disk; quiet NOTICEs */
	res = PQexec(db->pg, db->readonly ? "SET synchronous_commit = on;"
	                                    " SET default_transaction_read_only = on;"
	                                    " SET client_min_messages = warning"
	                                  : "SET synchronous_commit = on;"
	                                    " SET client_min_messages = warning");
	rc = pg_check(db, res, err, errlen);
	PQclear(res);
	return rc;
}

/* "postgresql HOST:PORT/DB" from the URL alone, before any connection (never the password). */
static void pg_where_of_url(struct sdb *db)
{
	PQconninfoOption *opts = PQconninfoParse(db->url, NULL);
	const char *host = "localhost", *port = "5432", *name = "";

	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			name = o->val;
	}
	snprintf(db->where, sizeof(db->where), "postgresql %s:%s/%s", host, port, name);
	PQconninfoFree(opts);
}

/* ---- the interface ----------------------------------------------------------------------------
 */

static int open_db(struct sdb **out, const char *url, bool readonly, bool later, char *err,
                   size_t errlen);

int sdb_open(struct sdb **out, const char *url, bool readonly, char *err, size_t errlen)
{
	return open_db(out, url, readonly, false, err, errlen);
}

int sdb_open_later(struct sdb **out, const char *url, char *err, size_t errlen)
{
	return open_db(out, url, false, true, err, errlen);
}

static int open_db(struct sdb **out, const char *url, bool readonly, bool later, char *err,
                   size_t errlen)
{
	struct sdb *db = calloc(1, sizeof(*db));
	int kind = sdb_url_kind(url);

	*out = NULL;
	if (db == NULL || kind < 0) {
		snprintf(err, errlen, "%s", db == NULL ? "out of memory" : "bad store url");
		free(db);
		return -1;
	}
	db->kind = (enum sdb_kind)kind;
	db->readonly = readonly;
	db->url = strdup(url);
	if (db->url == NULL)
		goto fail;
	if (db->kind == SDB_SQLITE) {
		if (lite_open(db, url + 7, err, errlen) < 0)
			goto fail;
	} else {
		pg_where_of_url(db);
		if (pg_connect(db, err, errlen) < 0) {
			if (!later)
				goto fail;
			*out = db; /* sdb_reconnect connects it */
			return 1;
		}
	}
	*out = db;
	return 0;
fail:
	sdb_close(db);
	return -1;
}

void sdb_close(struct sdb *db)
{
	if (db == NULL)
		return;
	for (size_t i = 0; i < STMT_CACHE; i++)
		sqlite3_finalize(db->cache[i].s);
	if (db->lite != NULL)
		sqlite3_close(db->lite);
	if (db->pg != NULL)
		PQfinish(db->pg);
	free(db->url);
	free(db);
}

int sdb_exec(struct sdb *db, const char *sql, char *err, size_t errlen)
{
	if (db->kind == SDB_SQLITE) {
		char *msg = NULL;

		if (sqlite3_exec(db->lite, sql, NULL, NULL, &msg) == SQLITE_OK)
			return 0;
		snprintf(err, errlen, "%s", msg != NULL ? msg : "unknown error");
		sqlite3_free(msg);
		return -1;
	}
	char *text = pg_ddl(sql);
	PGresult *res;
	int rc;

	if (text == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	res = PQexec(db->pg, text);
	rc = pg_check(db, res, err, errlen);
	PQclear(res);
	free(text);
	return rc;
}

int sdb_run(struct sdb *db, const char *sql, const struct sdb_val *v, size_t n, sdb_row_fn fn,
            void *arg, char *err, size_t errlen)
{
	return db->kind == SDB_SQLITE ? lite_run(db, sql, v, n, fn, arg, err, errlen)
	                              : pg_run(db, sql, v, n, fn, arg, err, errlen);
}

int sdb_begin(struct sdb *db, char *err, size_t errlen)
{
	return sdb_exec(db, db->kind == SDB_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN", err, errlen);
}

int sdb_begin_read(struct sdb *db, char *err, size_t errlen)
{
	/* SQLite: a deferred transaction keeps the snapshot of its first read; PostgreSQL's
	 * default (read committed) takes a new one per statement */
	return sdb_exec(db,
	                db->kind == SDB_SQLITE ? "BEGIN"
	                                       : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	                err, errlen);
}

int sdb_commit(struct sdb *db, char *err, size_t errlen)
{
	return sdb_exec(db, "COMMIT", err, errlen);
}

void sdb_rollback(struct sdb *db)
{
	char err[64];

	if (db->kind == SDB_SQLITE) {
		sqlite3_exec(db->lite, "ROLLBACK", NULL, NULL, NULL);
		return;
	}
	if (PQtransactionStatus(db->pg) != PQTRANS_IDLE &&
	    sdb_exec(db, "ROLLBACK", err, sizeof(err)) < 0) {
		/* the connection is gone: so is the transaction */
	}
}

bool sdb_retryable(const struct sdb *db)
{
	/* deadlock_detected, serialization_failure: another instance's transaction won */
	return db->kind == SDB_PG &&
	       (strcmp(db->sqlstate, "40P01") == 0 || strcmp(db->sqlstate, "40001") == 0);
}

bool sdb_broken(const struct sdb *db)
{
	return db->kind == SDB_PG && (db->pg == NULL || PQstatus(db->pg) != CONNECTION_OK);
}

int sdb_reconnect(struct sdb *db, char *err, size_t errlen)
{
	return db->kind == SDB_PG ? pg_connect(db, err, errlen) : 0;
}
