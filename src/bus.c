/* The internal event bus. */
#include "bus.h"

static struct {
	bus_handler h;
	void *arg;
} subs[BUS_MAX_SUBSCRIBERS];
static unsigned n_subs;

int bus_subscribe(bus_handler h, void *arg)
{
	if (n_subs >= BUS_MAX_SUBSCRIBERS)
		return -1;
	subs[n_subs].h = h;
	subs[n_subs].arg = arg;
	n_subs++;
	return 0;
}

void bus_emit(const struct bus_event *ev)
{
	for (unsigned i = 0; i < n_subs; i++)
		subs[i].h(ev, subs[i].arg);
}

void bus_reset(void)
{
	n_subs = 0;
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
