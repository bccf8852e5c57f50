/* One SQL interface over the store's two backends: the embedded SQLite file and a shared
 * PostgreSQL server (libpq). Statements are written once, in the SQL both understand, with
 * $1, $2... parameters; DDL names SQLite's types (INTEGER, BLOB, WITHOUT ROWID), which
 * sdb_exec translates for PostgreSQL (BIGINT, BYTEA, nothing). Not thread-safe: one caller
 * at a time per connection (the store keeps a mutex). Blocking: never call it on the loop
 * past start. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "log.h"

enum sdb_kind {
	SDB_SQLITE = 0,
	SDB_PG,
	SDB_KIND_COUNT
};
extern const char *const sdb_kind_names[SDB_KIND_COUNT];

enum sdb_type {
	SDB_NULL = 0,
	SDB_INT,
	SDB_TEXT,
	SDB_BLOB,
	SDB_TYPE_COUNT
};

/* A parameter; S and B are borrowed for the call. */
struct sdb_val {
	enum sdb_type t;
	int64_t i;
	const char *s;
	const void *b;
	size_t len;
};
#define SDB_I(v)    ((struct sdb_val){.t = SDB_INT, .i = (int64_t)(v)})
#define SDB_T(v)    ((struct sdb_val){.t = SDB_TEXT, .s = (v)})
#define SDB_N       ((struct sdb_val){.t = SDB_NULL})
#define SDB_B(p, n) ((struct sdb_val){.t = SDB_BLOB, .b = (p), .len = (n)})

struct sdb;
struct sdb_row;
/* Called once per row of a result; the row's values live until it returns. */
typedef void (*sdb_row_fn)(struct sdb_row *r, void *arg);
int64_t sdb_int(struct sdb_row *r, int col);      /* 0 for NULL */
const char *sdb_text(struct sdb_row *r, int col); /* NULL for NULL */
bool sdb_null(struct sdb_row *r, int col);
const void *sdb_blob(struct sdb_row *r, int col, size_t *len); /* NULL for NULL */

/* URL: "sqlite:PATH" or "postgresql://..." ("postgres://" too). The kind it names, or -1. */
int sdb_url_kind(const char *url);
/* Opens (SQLite: creates; WAL, synchronous=FULL) or connects (PostgreSQL: synchronous
 * commit on, 5 s connect timeout unless the URL says). READONLY: no writes allowed. */
int sdb_open(struct sdb **out, const char *url, bool readonly, char *err, size_t errlen) WUR;
/* The same for writing, except that a PostgreSQL server that cannot be reached now leaves
 * *OUT unconnected (1, ERR says why): sdb_broken is true until sdb_reconnect connects it. */
int sdb_open_later(struct sdb **out, const char *url, char *err, size_t errlen) WUR;
void sdb_close(struct sdb *db);
enum sdb_kind sdb_kind(const struct sdb *db);
/* Where it is, for logs: the file, or host/port/database (never the password). */
const char *sdb_where(const struct sdb *db);
/* Runs one or more statements without parameters (DDL translated for the backend). */
int sdb_exec(struct sdb *db, const char *sql, char *err, size_t errlen) WUR;
/* Runs one statement with N parameters ($1..$N; parameters past the highest $K the
 * statement names are ignored), each row to FN (may be NULL). SQL must be a string that
 * lives as long as DB (SQLite keeps it prepared, by address). */
int sdb_run(struct sdb *db, const char *sql, const struct sdb_val *v, size_t n, sdb_row_fn fn,
            void *arg, char *err, size_t errlen) WUR;
int sdb_begin(struct sdb *db, char *err, size_t errlen) WUR; /* a write transaction */
/* A read-only transaction whose statements all see one snapshot (ended by sdb_commit). */
int sdb_begin_read(struct sdb *db, char *err, size_t errlen) WUR;
int sdb_commit(struct sdb *db, char *err, size_t errlen) WUR;
void sdb_rollback(struct sdb *db);
/* PostgreSQL: the last failure was a deadlock or a serialization failure with another
 * instance's transaction: the whole transaction may be run again. */
bool sdb_retryable(const struct sdb *db);
/* PostgreSQL: the connection is lost (SQLite: never). */
bool sdb_broken(const struct sdb *db);
/* PostgreSQL: connects again (blocking, up to the connect timeout). */
int sdb_reconnect(struct sdb *db, char *err, size_t errlen) WUR;
