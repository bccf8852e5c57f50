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
