/* Subscriptions: users of the status page subscribe to all pools or some, by email (double
 * opt-in: a confirmation link, one-time, expiring) or by webhook (a challenge the receiver
 * must echo), and are told when a public incident opens, gets a public update or resolves,
 * and when a maintenance is scheduled, starts and ends (the bus's incident events).
 *
 *   POST /subscribe                  email=ADDRESS | webhook=URL, pool=NAME (repeated; none:
 *                                    all); the same answer whether the address is known
 *   GET|POST /subscribe/confirm      token=T (the mail's link; POST confirms)
 *   GET|POST /unsubscribe            token=U (POST: RFC 8058 one-click, no confirmation)
 *   GET /api/subscribers             the list (admin token)
 *   DELETE /api/subscribers/ID       (admin token)
 *
 * Subscribers live in the store; their addresses appear in no log line and no metric (a
 * short hash stands for them). Delivery runs through deliver.c (libcurl on the loop). */
#pragma once
#include <stddef.h>

#include "conf.h"
#include "log.h"

struct event_base;
struct evbuffer;

/* Loads the subscribers and the unsubscribe key from the store (open: after
 * incident_init), registers the routes, the bus handler and the metrics. */
int subs_init(struct event_base *base) WUR;
/* [subscriptions] of C (the SMTP password read now); on failure nothing changed and ERR
 * says why. */
int subs_apply(const struct conf *c, char *err, size_t errlen) WUR;
void subs_deinit(void);
/* The page's subscribe form (HTML appended to B), nothing while subscriptions are off; -1
 * when out of memory. */
int subs_form(struct evbuffer *b) WUR;
