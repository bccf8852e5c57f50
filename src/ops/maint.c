/* Maintenance windows on a timer: the phase each planned incident should be in, the
 * backends it takes out and gives back, and reminders of overdue next updates. */
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "bus.h"
#include "proxy/backend.h"
#include "clock.h"
#include "ops/admin.h"
#include "ops/incident.h"
#include "ops/maint.h"
#include "ops/mwindow.h"
#include "registry.h"
#include "stats.h"

/* ---- the loop ------------------------------------------------------------------------------ */

#define REMINDED_MAX 64 /* promises reminded of, remembered (the oldest forgotten first) */

static struct {
	struct event *timer;
	struct {
		int64_t id, promise;
	} reminded[REMINDED_MAX];
	size_t n_reminded;
} M;

static void post(const struct incident *inc, enum notify_event what, const char *text)
{
	struct bus_event ev = {.topic = BUS_INCIDENT,
	                       .pool = inc->pool,
	                       .incident = inc->id,
	                       .change = what,
	                       .text = text};

	bus_post(&ev);
}

/* Puts each backend INC names in admin state A; "n1, n2" of those that exist into DONE. */
static void set_backends(const struct incident *inc, int a, const char *why, char *done, size_t len)
{
	size_t off = 0;

	done[0] = '\0';
	for (size_t i = 0; i < registry.n_backends; i++) {
		struct backend *b = registry.backends[i];
		bool changed;

		if (b->removed || !maint_names(inc->backends, b->name))
			continue;
		if (admin_backend_state(b, (enum admin_state)a, why, &changed) < 0)
			continue;
		if (off < len)
			off += (size_t)snprintf(done + off, len - off, "%s%s", off > 0 ? ", " : "",
			                        b->name);
	}
}

/* INC moves to phase TO at NOW: its backends go out at the start, and come back at the end
 * only when they were taken out (a window missed entirely, nodegate stopped, or called off
 * before it began, leaves them alone). */
static void step(const struct incident *inc, enum maint_phase to, int64_t now)
{
	char names[INCIDENT_BACKENDS_MAX], text[INCIDENT_TEXT_MAX], why[64];
	int64_t id = inc->id;

	snprintf(why, sizeof(why), "maintenance (incident %lld)", (long long)id);
	if (to == MP_STARTED) {
		set_backends(inc, ADMIN_MAINT, why, names, sizeof(names));
		snprintf(text, sizeof(text), "maintenance started: %s in maint",
		         names[0] != '\0' ? names : "no backend");
		log_info("incident %lld: %s", (long long)id, text);
		if (incident_maint_step(id, MP_STARTED, text, now) == 0 &&
		    (inc = incident_get(id)) != NULL)
			post(inc, NOTIFY_MAINT_STARTED, text);
		return;
	}
	if (inc->maint_phase == MP_SCHEDULED && inc->resolved != 0) {
		/* called off before it began: it never ran, so no "maintenance ended" line */
		if (incident_maint_step(id, MP_ENDED, NULL, now) != 0)
			log_warn("incident %lld: gone before its called-off window was closed",
			         (long long)id);
		return;
	}
	names[0] = '\0';
	if (inc->maint_phase == MP_STARTED)
		set_backends(inc, ADMIN_NONE, why, names, sizeof(names));
	snprintf(text, sizeof(text), "maintenance ended: %s ready (back through the usual checks)",
	         names[0] != '\0' ? names : "no backend");
	log_info("incident %lld: %s", (long long)id, text);
	if (incident_maint_step(id, MP_ENDED, text, now) == 0 && (inc = incident_get(id)) != NULL)
		post(inc, NOTIFY_MAINT_ENDED, text);
}

static bool reminded(int64_t id, int64_t promise)
{
	for (size_t i = 0; i < M.n_reminded && i < REMINDED_MAX; i++)
		if (M.reminded[i].id == id && M.reminded[i].promise == promise)
			return true;
	return false;
}

static void remind(const struct incident *inc, int64_t promise)
{
	char when[40], text[INCIDENT_TEXT_MAX];

	incident_iso(promise, when, sizeof(when));
	snprintf(text, sizeof(text), "the next update promised by %s is overdue: post one", when);
	M.reminded[M.n_reminded++ % REMINDED_MAX].id = inc->id;
	M.reminded[(M.n_reminded - 1) % REMINDED_MAX].promise = promise;
	log_warn("incident %lld: %s", (long long)inc->id, text);
	STAT_INC(incident_reminders);
	post(inc, NOTIFY_UPDATE_OVERDUE, text);
}

/* Up to MAINT_STEPS_MAX incidents to move per tick (a step changes the history) */
#define MAINT_STEPS_MAX 16

struct due {
	int64_t ids[MAINT_STEPS_MAX];
	enum maint_phase to[MAINT_STEPS_MAX];
	size_t n;
	int64_t now;
};

static void look(const struct incident *inc, void *arg)
{
	struct due *d = arg;
	enum maint_phase want = maint_phase_at(inc, d->now);
	int64_t promise = maint_overdue(inc, d->now);

	if (promise != 0 && !reminded(inc->id, promise))
		remind(inc, promise);
	if (!maint_is(inc) || (int)want <= inc->maint_phase || d->n == MAINT_STEPS_MAX)
		return;
	d->ids[d->n] = inc->id;
	d->to[d->n++] = want;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	struct due d = {.now = clock_wall()};

	incident_foreach(0, look, &d);
	for (size_t i = 0; i < d.n; i++) {
		const struct incident *inc = incident_get(d.ids[i]);

		if (inc != NULL) {
			STAT_INC(maint_steps);
			step(inc, d.to[i], d.now);
		}
	}
}

int maint_init(char *err, size_t errlen)
{
	struct timeval tv = {0, MAINT_TICK_MS * 1000};

	M.timer = event_new(registry.base, -1, EV_PERSIST, tick, NULL);
	if (M.timer == NULL || event_add(M.timer, &tv) < 0) {
		snprintf(err, errlen, "maintenance: cannot start its timer");
		maint_deinit();
		return -1;
	}
	return 0;
}

void maint_deinit(void)
{
	if (M.timer != NULL)
		event_free(M.timer);
	memset(&M, 0, sizeof(M));
}
