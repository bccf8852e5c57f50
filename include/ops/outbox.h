/* The fleet's outbox: each message the sender sends (an alert, a subscriber's mail or
 * webhook) is recorded (pending) before its first try and confirmed (sent, dropped) after,
 * so that the next sender sends what a dead one left pending and nothing it confirmed.
 * One path for alert channels (alert.c) and subscriber deliveries (deliver.c); the rows
 * live in the store (store_put_outbox), the replay is read by fleet.c. Loop only. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "ops/store.h"

#define OUTBOX_KEY_MAX STORE_OUTBOX_KEY_MAX

/* A row left pending, as the next sender reads it. */
struct outbox_row {
	const char *key;
	const char *channel; /* an [alert NAME], or a deliver queue's name */
	const char *target;  /* a subscriber's address or webhook URL; "" for an alert */
	int64_t tag;         /* the subscriber's id; 0 for an alert */
	const char *body;    /* the message as it goes */
};

/* Whether a message sent now is recorded first: a fleet (PostgreSQL store) and this instance
 * holds the sender lock. */
bool outbox_wanted(void);

/* A record waiting for its commit; the owner keeps the handle until GO runs. */
struct outbox_wait;
typedef void (*outbox_go_fn)(void *arg);
/* Records ROW (its key made here into KEY, OUTBOX_KEY_MAX bytes; ROW->key unused) and runs
 * GO(ARG) on the loop once the record is committed, or could not be (the database away: the
 * message goes all the same). *WAIT holds the handle meanwhile and is NULL when GO runs
 * (possibly at once, inside this call). */
void outbox_record(char *key, const struct outbox_row *row, outbox_go_fn go, void *arg,
                   struct outbox_wait **wait);
/* The owner goes before the commit: GO will not run. */
void outbox_cancel(struct outbox_wait **wait);
/* The message KEY was delivered (SENT) or given up. */
void outbox_done(const char *key, bool sent);

/* A handler of rows left pending: 0 when it took ROW (its channel is one of its own), -1
 * otherwise. */
typedef int (*outbox_replay_fn)(const struct outbox_row *row);
int outbox_on_replay(outbox_replay_fn fn) WUR;
/* A row a dead sender left pending: handed to the handler of its channel; -1 when none
 * took it (logged). */
int outbox_replay(const struct outbox_row *row);
