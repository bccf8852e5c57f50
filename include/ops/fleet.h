/* A fleet of nodegates sharing one PostgreSQL store ([store] url = postgresql://...): each
 * instance keeps one more session of its own, on a thread, that
 *   - LISTENs on nodegate_admin: an admin change (drain, maint, ready, weight) that another
 *     instance commits is applied here within the notification's round trip;
 *   - holds, or keeps trying for, the sender lock (pg_try_advisory_lock): the one instance
 *     that holds it sends the fleet's alerts, escalations, subscriber mail and mirror
 *     pushes; when it dies its session ends, the lock is free, and another takes it within
 *     FLEET_RETRY_MS;
 *   - says whether the database is reachable (nodegate_store_up);
 *   - LISTENs on nodegate_fleet: an incident changed by any instance is read back into the
 *     history (incident_sync), so that every instance shows the same incidents;
 *   - reads the other live instances' verdicts (table verdicts, FLEET_STALE_MS) for the
 *     fleet's view of the pools (poolstat_fleet_view), and gives incident ids taken from
 *     the database in blocks; the loop writes this instance's verdicts on change and every
 *     FLEET_BEAT_MS.
 * Nothing of it blocks the loop: the thread relays to the loop through a bounded mailbox.
 * With the SQLite store there is no fleet: this instance is its own sender. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "log.h"

#define FLEET_CHANNEL      "nodegate_admin"
#define FLEET_SENDER_KEY   7170101 /* the advisory lock of the sender */
#define FLEET_RETRY_MS     500     /* a lost session is tried again, the lock asked again */
#define FLEET_MAILBOX      256     /* notifications waiting for the loop; more are dropped */
#define FLEET_SYNC_CHANNEL "nodegate_fleet" /* incidents changed, verdicts changed */
#define FLEET_BEAT_MS      1000 /* each instance writes its verdicts this often (heartbeat) */
#define FLEET_STALE_MS     3000 /* an instance silent this long is left out of the view */
#define FLEET_SUBS_CHANNEL "nodegate_subs" /* the subscribers changed: read them again */

/* Starts the fleet's session for a PostgreSQL URL (nothing for SQLite); INSTANCE names this
 * nodegate (NULL: the hostname). */
int fleet_init(const char *url, const char *instance, char *err, size_t errlen) WUR;
void fleet_deinit(void);
/* This nodegate's name in the fleet (the hostname unless [nodegate] instance says). */
const char *fleet_instance(void);
/* A PostgreSQL store: fleet rules apply. */
bool fleet_active(void);
/* Whether this instance sends the fleet's messages: ops/sender.h (sender_ok). */
