/* The sender flag of the fleet and what it held back. Loop only. */
#include "ops/sender.h"

const char *const sender_what_names[SENDER_WHAT_COUNT] = {
    [SENDER_ALERT] = "alert", [SENDER_MAIL] = "mail", [SENDER_MIRROR] = "mirror"};

static struct {
	bool active, on;
	uint64_t deferred[SENDER_WHAT_COUNT];
} S;

void sender_set(bool active, bool on)
{
	S.active = active;
	S.on = on;
}

bool sender_fleet(void)
{
	return S.active;
}

bool sender_ok(void)
{
	return !S.active || S.on;
}

void sender_deferred(enum sender_what what)
{
	if (what < SENDER_WHAT_COUNT)
		S.deferred[what]++;
}

uint64_t sender_deferred_count(enum sender_what what)
{
	return what < SENDER_WHAT_COUNT ? S.deferred[what] : 0;
}
