/* Who sends the fleet's messages (alerts, escalations, subscriber mail, mirror pushes):
 * the instance that holds the sender lock (fleet.c sets it), or, without a fleet, this one.
 * A small module of its own so that the senders need not link the fleet. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

enum sender_what {
	SENDER_ALERT = 0,
	SENDER_MAIL,
	SENDER_MIRROR,
	SENDER_WHAT_COUNT
};
extern const char *const sender_what_names[SENDER_WHAT_COUNT];

/* ACTIVE: a fleet (PostgreSQL store); ON: this instance holds the sender lock. Becoming the
 * sender runs the takeover hooks. */
void sender_set(bool active, bool on);
/* FN runs on the loop each time this instance becomes the fleet's sender (a mirror pushes
 * the page at once). -1 when the hooks are full. */
int sender_on_takeover(void (*fn)(void)) WUR;
/* FN runs on the loop when what the fleet shares in the store may have changed under this
 * instance: its session (re)connected, or another instance (or this one) changed the
 * subscribers. */
int sender_on_shared(void (*fn)(void)) WUR;
void sender_shared_changed(void);
/* A fleet: the store is PostgreSQL (the sender records what it sends in the outbox). */
bool sender_fleet(void);
/* This instance sends: it holds the lock, or there is no fleet. */
bool sender_ok(void);
/* A message of kind WHAT left to the sender instance: counted. */
void sender_deferred(enum sender_what what);
uint64_t sender_deferred_count(enum sender_what what);
