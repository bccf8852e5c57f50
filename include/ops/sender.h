/* Who sends the fleet's messages (alerts, escalations, subscriber mail, mirror pushes):
 * the instance that holds the sender lock (fleet.c sets it), or, without a fleet, this one.
 * A small module of its own so that the senders need not link the fleet. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

enum sender_what {
	SENDER_ALERT = 0,
	SENDER_MAIL,
	SENDER_MIRROR,
	SENDER_WHAT_COUNT
};
extern const char *const sender_what_names[SENDER_WHAT_COUNT];

/* ACTIVE: a fleet (PostgreSQL store); ON: this instance holds the sender lock. */
void sender_set(bool active, bool on);
/* A fleet: the store is PostgreSQL (the sender records what it sends in the outbox). */
bool sender_fleet(void);
/* This instance sends: it holds the lock, or there is no fleet. */
bool sender_ok(void);
/* A message of kind WHAT left to the sender instance: counted. */
void sender_deferred(enum sender_what what);
uint64_t sender_deferred_count(enum sender_what what);
