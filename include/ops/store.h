/* Persistent state in SQLite (state_dir/nodegate.db, WAL) or PostgreSQL ([store] url): incidents,
 * their timelines and outage spans, and the admin states of backends. Reads happen once, at start;
 * every write is queued to one writer thread, so the loop never waits on the disk. A barrier tells
 * the loop when what was queued before it is committed (and fsynced), so that an HTTP reply can
 * acknowledge only what a kill -9 or a power cut cannot take back. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health/health.h"
#include "ops/incident-t.h"
#include "log.h"

#define STORE_FILE      "nodegate.db"
#define STORE_URL_MAX   4200 /* a store url, sqlite:PATH or postgresql://... */
#define STORE_QUEUE_MAX 1024 /* writes waiting for the writer; more are dropped (counted) */
#define STORE_KEEP_DAYS 90   /* resolved incidents older than this are deleted at start */
#define STORE_KEEP_MAX  1000 /* and at most this many resolved incidents are kept */
#define STORE_NO_WEIGHT (-1) /* admin_state.weight: no override */
#define STORE_TOKEN_MAX 96   /* an acknowledgement link's MAC, as text */

/* Opens URL ([store] url: sqlite:PATH or postgresql://...; NULL: sqlite:STATE_DIR/
 * nodegate.db, STATE_DIR created mode 0700 when missing), creates or migrates the schema,
 * prunes what is past retention (NOW: Unix ms) and starts the writer. ERR says why. A
 * PostgreSQL server that cannot be reached is no failure: the store opens without it (logged
 * once), reads find nothing, writes are kept, and the writer sets the schema up and writes
 * them when it is back. */
int store_open(const char *state_dir, const char *url, int64_t now, char *err, size_t errlen) WUR;
/* This nodegate's name in the fleet: admin changes written to PostgreSQL are announced
 * (NOTIFY nodegate_admin) with it, so that each instance skips its own. */
void store_set_instance(const char *name);
/* The database took the last writes (false while PostgreSQL is unreachable: writes are
 * kept, up to STORE_QUEUE_MAX, and replayed when it is back). Loop only. */
bool store_up(void);
/* Any thread: the schema is checked and no write is kept (a PostgreSQL server away at
 * start, or since, is back and has what this instance wrote meanwhile). The fleet's session
 * waits for it before it reads the fleet's admin states and joins. */
bool store_synced(void);
/* Writes waiting: queued for the writer, and kept for a replay. */
size_t store_queued(void);
/* Where the store is, for logs and messages (never a password). */
const char *store_where(void);
/* Tests only ([nodegate] store_test_delay): the writer waits MS before each batch, as on a
 * slow disk, from its next batch on; logged when it changes to more than 0. */
void store_set_test_delay(uint64_t ms);
/* Opens STATE_DIR's database for reading only (nodegate postmortem, beside a running
 * nodegate): no writer, no pruning, no migration (a file of another schema is refused);
 * writes stay no-ops. store_close closes it. */
int store_open_readonly(const char *state_dir, const char *url, char *err, size_t errlen) WUR;
/* Commits what is queued, stops the writer, runs the last barrier callbacks, closes. */
void store_close(void);
bool store_is_open(void);

/* ---- reads (at start, before the loop) ------------------------------------------------- */

/* What store_load_incidents hands out, in order: each incident (entries NULL), then its
 * entries oldest first and its outage spans. */
struct store_loader {
	void (*incident)(const struct incident *inc, void *arg);
	void (*entry)(int64_t id, const struct incident_entry *e, void *arg);
	void (*span)(int64_t id, int64_t start, int64_t end, void *arg); /* end 0: open */
	void *arg;
};
int store_load_incidents(const struct store_loader *l) WUR;
/* The same for incident ID alone (fleet.c, on its thread: another instance changed it);
 * nothing handed out when it is not stored. */
int store_load_incident(int64_t id, const struct store_loader *l) WUR;
/* The highest incident id ever given (pruned ones too), 0 for none. */
int64_t store_last_id(void);
/* Each stored admin state: backend name, admin state, weight override or STORE_NO_WEIGHT,
 * when it was set (Unix ms). */
int store_load_admin(void (*fn)(const char *backend, enum admin_state a, int weight,
                                int64_t updated_at, void *arg),
                     void *arg) WUR;

/* Each used acknowledgement link not expired yet: its MAC, incident, expiry (Unix ms). */
int store_load_ack_tokens(void (*fn)(const char *mac, int64_t id, int64_t expires, void *arg),
                          void *arg) WUR;

/* Subscribers of the status page (ops/subs.h): one row each, kind and state kept by name. */
enum store_sub_kind {
	SUB_EMAIL = 0,
	SUB_WEBHOOK,
	SUB_KIND_COUNT
};
extern const char *const store_sub_kind_names[SUB_KIND_COUNT];
enum store_sub_state {
	SUB_PENDING = 0, /* waiting for its confirmation (email) or its challenge (webhook) */
	SUB_ACTIVE,      /* told of every change of its pools */
	SUB_STATE_COUNT
};
extern const char *const store_sub_state_names[SUB_STATE_COUNT];
#define STORE_SUB_ADDR_MAX  513 /* an address or a webhook URL, with its NUL */
#define STORE_SUB_POOLS_MAX 256 /* "a,b": the pools it hears of, "" all */
struct store_subscriber {
	int64_t id;
	enum store_sub_kind kind;
	enum store_sub_state state;
	char address[STORE_SUB_ADDR_MAX];
	char pools[STORE_SUB_POOLS_MAX];
	char token_hash[65];        /* SHA-256 of its pending confirmation token (hex), "" none */
	int64_t token_expires;      /* Unix ms */
	int64_t created, confirmed; /* Unix ms; confirmed 0 while pending */
};
/* Each stored subscriber, in id order. */
int store_load_subscribers(void (*fn)(const struct store_subscriber *s, void *arg), void *arg) WUR;
/* The stored secret NAME (hex) into OUT: 1 found, 0 none, -1 an error. */
int store_load_secret(const char *name, char *out, size_t len) WUR;
/* One bucket of a pool's response times (the chart, ops/chart.h): SPAN ms from START (Unix
 * ms), N answers, their p50 and p99; a day's bucket keeps its histogram (HIST) so that a
 * restart goes on adding to it. */
#define STORE_LATENCY_BUCKETS    128 /* proxy/latency.h LATENCY_BUCKETS */
#define STORE_LATENCY_SHORT_DAYS 2   /* short buckets are kept this long; daily ones 90 days */
struct store_latency {
	char pool[65];
	int64_t span, start;
	uint64_t n, p50_us, p99_us;
	bool has_hist;
	uint32_t hist[STORE_LATENCY_BUCKETS];
};
/* Each stored bucket, by pool, span and start. */
int store_load_latency(void (*fn)(const struct store_latency *l, void *arg), void *arg) WUR;

/* ---- writes (queued; no-ops while the store is closed) --------------------------------- */

/* The incident's own row (not its entries): inserted or updated. */
void store_put_incident(const struct incident *inc);
/* Entry number SEQ (0 first) of incident ID. */
void store_put_entry(int64_t id, size_t seq, const struct incident_entry *e);
/* An outage span of incident ID, from START; END 0 while it lasts. */
void store_put_span(int64_t id, int64_t start, int64_t end);
/* BACKEND's admin state and weight override; both cleared deletes the row. */
void store_put_admin(const char *backend, enum admin_state a, int weight, int64_t at);
/* An acknowledgement link used at USED_AT (one use each); forgotten once EXPIRES passed. */
void store_put_ack_token(const char *mac, int64_t id, int64_t expires, int64_t used_at);
/* A subscriber's row, inserted or replaced; deleted by id. */
void store_put_subscriber(const struct store_subscriber *s);
void store_del_subscriber(int64_t id);
/* A secret (hex) kept under NAME, written once (never replaced). */
void store_put_secret(const char *name, const char *value);
/* A bucket of the chart (inserted or replaced). */
void store_put_latency(const struct store_latency *l);
/* The fleet's outbox (PostgreSQL; ops/outbox.h): message KEY for CHANNEL (to TARGET, a
 * subscriber's address or URL, "" for an alert; TAG its subscriber) recorded as pending with
 * its BODY before it is sent (a barrier after it says when), then confirmed sent or
 * dropped. */
#define STORE_OUTBOX_KEY_MAX 128
void store_put_outbox(const char *key, const char *channel, const char *target, int64_t tag,
                      const char *body, int64_t at);
void store_done_outbox(const char *key, bool sent, int64_t at);
/* The fleet's view (PostgreSQL; fleet.c): this instance has BACKEND in rotation (UP) or
 * not, said at AT (Unix ms); CHANGED: since the last time, and the fleet hears of it at
 * once. Not kept while the database is away (the next heartbeat says it again). */
void store_put_verdict(const char *backend, bool up, bool changed, int64_t at);
/* This nodegate's name (store_set_instance). */
const char *store_instance(void);
/* Deletes the resolved incidents past retention (STORE_KEEP_DAYS before NOW, Unix ms, or
 * beyond the STORE_KEEP_MAX most recent). */
void store_prune(int64_t now);

/* DONE runs on the loop once every write queued before this call is committed to disk:
 * RC 0, or -1 when one of them failed or could not be queued. It runs at once, inside this
 * call, with -1 when the queue is full or the store is closed. */
typedef void (*store_done_fn)(int rc, void *arg);
void store_barrier(store_done_fn done, void *arg);
/* The subscribers as stored, read by the writer after what is queued now (a fleet's other
 * instances may have changed them): FN runs on the loop with RC 0 and the N ROWS (freed
 * after it returns) and the stored unsubscribe KEY ("" none), or RC -1 (the database away,
 * the queue full: at once, inside this call). */
typedef void (*store_subscribers_fn)(int rc, const struct store_subscriber *rows, size_t n,
                                     const char *key, void *arg);
void store_read_subscribers(store_subscribers_fn fn, void *arg);
