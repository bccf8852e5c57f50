/* The sender flag of the fleet and what it held back. Loop only. */
#include "ops/sender.h"

const char *const sender_what_names[SENDER_WHAT_COUNT] = {
    [SENDER_ALERT] = "alert", [SENDER_MAIL] = "mail", [SENDER_MIRROR] = "mirror"};

#define TAKEOVER_MAX 4

static struct {
	bool active, on;
	uint64_t deferred[SENDER_WHAT_COUNT];
	void (*takeover[TAKEOVER_MAX])(void);
	size_t n_takeover;
	void (*shared[TAKEOVER_MAX])(void);
	size_t n_shared;
} S;

void sender_set(bool active, bool on)
{
	bool took = active && on && !(S.active && S.on);

	S.active = active;
	S.on = on;
	for (size_t i = 0; took && i < S.n_takeover; i++)
		S.takeover[i]();
}

static int hook_add(void (**v)(void), size_t *n, void (*fn)(void))
{
	for (size_t i = 0; i < *n; i++)
		if (v[i] == fn)
			return 0;
	if (*n == TAKEOVER_MAX)
		return -1;
	v[(*n)++] = fn;
	return 0;
}

int sender_on_takeover(void (*fn)(void))
{
	return hook_add(S.takeover, &S.n_takeover, fn);
}

int sender_on_shared(void (*fn)(void))
{
	return hook_add(S.shared, &S.n_shared, fn);
}

void sender_shared_changed(void)
{
	for (size_t i = 0; i < S.n_shared; i++)
		S.shared[i]();
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
