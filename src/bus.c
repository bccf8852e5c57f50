/* The internal event bus: synchronous subscribers, and deferred ones in phases. */
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "bus.h"
#include "stats.h"

const char *const bus_phase_names[BUS_PHASE_COUNT] = {
    [BUS_PHASE_INCIDENTS] = "incidents",
    [BUS_PHASE_ALERTS] = "alerts",
    [BUS_PHASE_HOOKS] = "hooks",
};

static struct sub {
	bus_handler h;
	bus_done done;
	void *arg;
} subs[BUS_MAX_SUBSCRIBERS], deferred[BUS_PHASE_COUNT][BUS_MAX_SUBSCRIBERS];
static unsigned n_subs, n_deferred[BUS_PHASE_COUNT];

/* An event kept for the deferred subscribers: its strings copied. */
struct kept {
	struct bus_event ev;
	char backend[BUS_NAME_MAX];
	char pool[BUS_NAME_MAX];
	char text[BUS_TEXT_MAX];
};

static struct kept ring[BUS_DEFER_MAX];
static size_t head, n_kept; /* the oldest, and how many */
static struct event *ev_round;
static bool woken; /* a round is due even with nothing queued */

int bus_subscribe(bus_handler h, void *arg)
{
	if (n_subs >= BUS_MAX_SUBSCRIBERS)
		return -1;
	subs[n_subs++] = (struct sub){.h = h, .arg = arg};
	return 0;
}

/* One activation per round: an active event stays so until its callback runs. */
static void schedule(void)
{
	if (ev_round != NULL && !event_pending(ev_round, EV_TIMEOUT, NULL))
		event_active(ev_round, EV_TIMEOUT, 0);
}

void bus_post(const struct bus_event *ev)
{
	struct kept *k;

	if (ev_round == NULL) /* no deferred subscriber */
		return;
	if (n_kept == BUS_DEFER_MAX) {
		STAT_INC(bus_deferred_dropped);
		return;
	}
	k = &ring[(head + n_kept++) % BUS_DEFER_MAX];
	k->ev = *ev;
	snprintf(k->backend, sizeof(k->backend), "%s", ev->backend != NULL ? ev->backend : "");
	snprintf(k->pool, sizeof(k->pool), "%s", ev->pool != NULL ? ev->pool : "");
	snprintf(k->text, sizeof(k->text), "%s", ev->text != NULL ? ev->text : "");
	k->ev.backend = k->backend;
	k->ev.pool = k->pool;
	k->ev.text = k->text;
	schedule();
}

void bus_emit(const struct bus_event *ev)
{
	for (unsigned i = 0; i < n_subs; i++)
		subs[i].h(ev, subs[i].arg);
	bus_post(ev);
}

void bus_wake(void)
{
	woken = true;
	schedule();
}

/* One round: the events queued before it, phase by phase; events posted meanwhile (an
 * incident's change) wait for a round of their own, right after this one. */
static void round_cb(evutil_socket_t fd, short what, void *arg)
{
	size_t n = n_kept;

	woken = false;
	for (int p = 0; p < BUS_PHASE_COUNT; p++)
		for (unsigned s = 0; s < n_deferred[p]; s++) {
			const struct sub *sub = &deferred[p][s];

			for (size_t i = 0; i < n; i++)
				sub->h(&ring[(head + i) % BUS_DEFER_MAX].ev, sub->arg);
			if (sub->done != NULL)
				sub->done(sub->arg);
		}
	head = (head + n) % BUS_DEFER_MAX;
	n_kept -= n;
	if (n_kept > 0 || woken)
		schedule();
}

int bus_subscribe_deferred(struct event_base *base, enum bus_phase phase, bus_handler h,
                           bus_done done, void *arg)
{
	if (phase >= BUS_PHASE_COUNT || n_deferred[phase] >= BUS_MAX_SUBSCRIBERS)
		return -1;
	if (ev_round == NULL && (ev_round = event_new(base, -1, 0, round_cb, NULL)) == NULL)
		return -1;
	deferred[phase][n_deferred[phase]++] = (struct sub){.h = h, .done = done, .arg = arg};
	return 0;
}

void bus_reset(void)
{
	n_subs = 0;
	memset(n_deferred, 0, sizeof(n_deferred));
	if (ev_round != NULL)
		event_free(ev_round);
	ev_round = NULL;
	head = n_kept = 0;
	woken = false;
}

enum notify_event bus_notify_event(const struct health_event *he)
{
	if (he->kind == HE_GRACE_EXPIRED)
		return NOTIFY_GRACE_EXPIRED;
	if (he->kind != HE_TRANSITION)
		return NOTIFY_COUNT;
	if (he->to == HS_DOWN && !he->in_grace)
		return NOTIFY_BACKEND_DOWN;
	if ((he->to == HS_UP || he->to == HS_SLOW_START) &&
	    (he->from == HS_DOWN || he->from == HS_SYNCING))
		return NOTIFY_BACKEND_UP;
	return NOTIFY_COUNT;
}
