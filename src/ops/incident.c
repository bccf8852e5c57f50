/* Incidents: the decisions (pure), the in-memory history that the APIs and the page read,
 * and the glue that feeds them from the bus and writes them through to the store.
 *
 *   bus_emit ──► (next loop turn, bus phase incidents) on_bus: incident_on_event per event
 *                  └─► on_round_done: incident_on_status per judged pool
 *                         └─► store_put_* (writer thread); tell ──► watchers (alerts), and
 *                                                         bus_post ──► hooks, next round
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "clock.h"
#include "metrics.h"
#include "bus.h"
#include "ops/incident.h"
#include "health/poolstat.h"
#include "registry.h"
#include "stats.h"
#include "ops/redact.h"
#include "ops/sender.h"
#include "ops/postmortem.h"
#include "ops/remedy.h"
#include "ops/similar.h"
#include "ops/store.h"
#include "ops/words.h"
#include "ops/mwindow.h"
#include "health/node.h"

#define DAY_MS    (24LL * 3600 * 1000)
#define CAUSE_MAX 256
/* A fleet: this instance's last line joins an incident opened elsewhere up to this long
 * after it; a copy of an incident ahead of the store's is kept this long at most. */
#define INCIDENT_SEEN_MS 10000
#define SYNC_HOLD_MS     3000

const char *const update_status_names[UPD_COUNT] = {
    [UPD_INVESTIGATING] = "investigating",
    [UPD_IDENTIFIED] = "identified",
    [UPD_MONITORING] = "monitoring",
    [UPD_RESOLVED] = "resolved",
};

const char *const entry_kind_names[ENTRY_COUNT] = {
    [ENTRY_OPEN] = "open",
    [ENTRY_TRANSITION] = "transition",
    [ENTRY_UPDATE] = "update",
    [ENTRY_ADMIN] = "admin",
    [ENTRY_RESOLVE] = "resolve",
    [ENTRY_ACTION] = "action",
    [ENTRY_ALERT] = "alert",
    [ENTRY_ACK] = "ack",
    [ENTRY_ESCALATION] = "escalation",
    [ENTRY_NOTE] = "note",
    [ENTRY_ROLE] = "role",
    [ENTRY_PRIORITY] = "priority",
    [ENTRY_MAINT] = "maintenance",
};

/* What the public never sees: people's names, ops' own words, the paging. */
static const bool entry_private[ENTRY_COUNT] = {
    [ENTRY_ACK] = true,  [ENTRY_ESCALATION] = true, [ENTRY_NOTE] = true,
    [ENTRY_ROLE] = true, [ENTRY_PRIORITY] = true,
};

bool incident_entry_public(enum entry_kind kind)
{
	return kind < ENTRY_COUNT && !entry_private[kind];
}

const char *const incident_role_names[ROLE_COUNT] = {
    [ROLE_COMMANDER] = "commander", [ROLE_INVESTIGATOR] = "investigator", [ROLE_FIXER] = "fixer",
    [ROLE_RECORDER] = "recorder",   [ROLE_COMMUNICATOR] = "communicator",
};

const char *const incident_change_names[IC_COUNT] = {
    [IC_OPEN] = "open",
    [IC_UPDATE] = "update",
    [IC_RESOLVED] = "resolved",
    [IC_ACK] = "ack",
};

static struct {
	incident_watch_fn fn;
	void *arg;
} watchers[INCIDENT_MAX_WATCHERS];
static size_t n_watchers;

int incident_watch(incident_watch_fn fn, void *arg)
{
	if (n_watchers == INCIDENT_MAX_WATCHERS)
		return -1;
	watchers[n_watchers].fn = fn;
	watchers[n_watchers].arg = arg;
	n_watchers++;
	return 0;
}

void incident_unwatch_all(void)
{
	n_watchers = 0;
}

/* Watchers now; the bus's deferred subscribers (hooks) on the next round. */
static void tell(enum incident_change what, const struct incident *inc,
                 const struct incident_entry *e)
{
	static const enum notify_event events[IC_COUNT] = {
	    [IC_OPEN] = NOTIFY_INCIDENT_OPEN,
	    [IC_UPDATE] = NOTIFY_INCIDENT_UPDATE,
	    [IC_RESOLVED] = NOTIFY_INCIDENT_RESOLVED,
	    [IC_ACK] = NOTIFY_INCIDENT_ACK,
	};
	char text[INCIDENT_TEXT_MAX];
	struct bus_event ev = {.topic = BUS_INCIDENT,
	                       .pool = inc->pool,
	                       .incident = inc->id,
	                       .change = events[what],
	                       .text = text,
	                       .entry_kind = e != NULL ? (int)e->kind : -1};

	/* a copy: a watcher may add a line (an alert refused), which can move the entries */
	snprintf(text, sizeof(text), "%s", e != NULL ? e->text : inc->title);
	for (size_t i = 0; i < n_watchers; i++)
		watchers[i].fn(what, inc, e, watchers[i].arg);
	bus_post(&ev);
}

const char *const incident_step_names[STEP_COUNT] = {
    [STEP_NONE] = "none",
    [STEP_APPEND] = "append",
    [STEP_OPEN] = "open",
    [STEP_RESOLVE] = "resolve",
};

/* ---- the decisions ----------------------------------------------------------------------- */

enum incident_step incident_step_event(const struct health_event *he, bool open)
{
	bool leaves = he->kind == HE_TRANSITION && he->to == HS_DOWN && !he->in_grace;
	bool expired = he->kind == HE_GRACE_EXPIRED;

	if (open)
		return STEP_APPEND;
	/* a drained or maintained node going down is what ops asked for, not news */
	return (leaves || expired) && he->admin_to == ADMIN_NONE ? STEP_OPEN : STEP_NONE;
}

enum incident_step incident_step_status(int last, int now, bool open)
{
	if (open) {
		if (now == PS_OPERATIONAL)
			return STEP_RESOLVE;
		return last >= 0 && now != last ? STEP_APPEND : STEP_NONE;
	}
	/* after a start the first status is the baseline: what it shows was not news then */
	return last >= 0 && now > last ? STEP_OPEN : STEP_NONE;
}

int incident_priority_of(int status, unsigned lost_pct, size_t pools, int urgency)
{
	static const int by[URGENCY_COUNT][3] = {
	    [URGENCY_HIGH] = {PRIO_P3, PRIO_P2, PRIO_P1},
	    [URGENCY_LOW] = {PRIO_P4, PRIO_P4, PRIO_P3},
	};
	int impact = status >= PS_MAJOR_OUTAGE                       ? 2
	             : status == PS_PARTIAL_OUTAGE || lost_pct >= 50 ? 1
	                                                             : 0;

	if (status <= PS_OPERATIONAL)
		return PRIO_P4;
	if (pools > 1 && impact < 2)
		impact++;
	return by[urgency == URGENCY_LOW ? URGENCY_LOW : URGENCY_HIGH][impact];
}

/* ---- the history --------------------------------------------------------------------------- */

struct span {
	int64_t start, end; /* end 0: the outage goes on */
};

struct inc {
	struct incident pub; /* what readers get; pub.entries points at ENTRIES */
	struct incident_entry *entries;
	size_t cap;
	struct span *spans;
	size_t n_spans, cap_spans;
	size_t n_auto;               /* transition and admin lines, capped at INCIDENT_AUTO_MAX */
	struct metrics_method *snap; /* its pool's requests per method when it opened (this */
	size_t n_snap;               /* process only: not kept in the store) */
	uint64_t sync_held; /* a fleet: since when (monotonic ms) the store's copy is behind */
};

/* What the engine knows of a pool between evaluations. */
struct track {
	char name[sizeof(((struct incident *)0)->pool)];
	int status;                 /* last evaluated, -1 not yet */
	char cause[CAUSE_MAX];      /* the last event, for the title of an incident it opens */
	struct incident_entry last; /* the last event that no incident took, for the one */
	bool last_fresh;            /* that the status opens right after it */
	unsigned causes;            /* what was seen since the last incident (remedy.h bits) */
	char backend[64];           /* the last event's backend, verdict and causes: what an */
	char verdict[16];           /* incident it opens matches similar ones on */
	unsigned last_causes;
	struct incident_impact im; /* the last impact told */
};

static int64_t boot;      /* when this process loaded the history (Unix ms): whose counters */
static struct inc **incs; /* ascending id */
static size_t n_incs, cap_incs;
static int64_t last_id;
static struct track *tracks;
static size_t n_tracks;
/* A fleet (incident_set_fleet): ids from the database, automatic incidents opened and
 * resolved by the sender alone, lines naming the instance that saw them. */
static int64_t (*fleet_next)(void);
static bool (*fleet_peers)(void);

void incident_set_fleet(int64_t (*next_id)(void), bool (*peers)(void))
{
	fleet_next = next_id;
	fleet_peers = peers;
}

/* Other live instances share the incidents: a fleet of one speaks as one nodegate. */
static bool shared(void)
{
	return fleet_next != NULL && fleet_peers != NULL && fleet_peers();
}

/* In a fleet, this instance decides automatic incidents: it holds the sender lock, or it
 * is cut off from the database (degraded: its own judgement, written when it is back). */
static bool decides(void)
{
	return fleet_next == NULL || sender_ok() || !store_synced();
}

/* Copies SRC as one line: control characters become spaces, and a cut never splits a UTF-8
 * sequence. */
static void copy_line(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	if (src[n] != '\0') /* cut inside a character: leave all of it out */
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	for (size_t i = 0; i < n; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? ' ' : src[i];
	dst[n] = '\0';
}

static void line(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void line(char *dst, size_t cap, const char *fmt, ...)
{
	char buf[2 * INCIDENT_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	copy_line(dst, cap, buf);
}

static bool same_pool(const char *a, const char *b)
{
	return strncmp(a, b, sizeof(((struct incident *)0)->pool) - 1) == 0;
}

static struct inc *find(int64_t id)
{
	size_t lo = 0, hi = n_incs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (incs[mid]->pub.id == id)
			return incs[mid];
		if (incs[mid]->pub.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The pool's open automatic incident (at most one). */
static struct inc *open_auto(const char *pool)
{
	for (size_t i = n_incs; i-- > 0;)
		if (!incs[i]->pub.manual && incs[i]->pub.resolved == 0 &&
		    same_pool(incs[i]->pub.pool, pool))
			return incs[i];
	return NULL;
}

static struct track *track_of(const char *pool)
{
	struct track *t;

	for (size_t i = 0; i < n_tracks; i++)
		if (same_pool(tracks[i].name, pool))
			return &tracks[i];
	t = realloc(tracks, (n_tracks + 1) * sizeof(*t));
	if (t == NULL)
		return NULL;
	tracks = t;
	t = &tracks[n_tracks++];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", pool);
	t->status = -1;
	t->im = (struct incident_impact){0, 1, URGENCY_HIGH, 0, 0};
	return t;
}

/* Adds IN (allocated, id set) to the history, keeping the ids ascending. */
static int history_add(struct inc *in)
{
	size_t at = n_incs;

	if (n_incs == cap_incs) {
		size_t cap = cap_incs ? cap_incs * 2 : 64;
		struct inc **v = realloc(incs, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		incs = v;
		cap_incs = cap;
	}
	while (at > 0 && incs[at - 1]->pub.id > in->pub.id)
		at--;
	memmove(&incs[at + 1], &incs[at], (n_incs - at) * sizeof(*incs));
	incs[at] = in;
	n_incs++;
	if (in->pub.id > last_id)
		last_id = in->pub.id;
	return 0;
}

static void inc_free(struct inc *in)
{
	free(in->snap);
	free(in->entries);
	free(in->spans);
	free(in);
}

/* Keeps the history bounded like the store: open ones, and the most recent resolved ones
 * within STORE_KEEP_DAYS, at most STORE_KEEP_MAX. */
static void history_trim(int64_t now)
{
	size_t resolved = 0, kept = 0;

	for (size_t i = 0; i < n_incs; i++)
		resolved += incs[i]->pub.resolved != 0;
	for (size_t i = 0; i < n_incs; i++) {
		struct inc *in = incs[i];
		bool old =
		    in->pub.resolved != 0 && in->pub.resolved < now - STORE_KEEP_DAYS * DAY_MS;
		bool over = in->pub.resolved != 0 && resolved > STORE_KEEP_MAX;

		if (old || over) {
			resolved--;
			inc_free(in);
			continue;
		}
		incs[kept++] = in;
	}
	n_incs = kept;
}

static struct incident_entry *entry_push(struct inc *in)
{
	if (in->pub.n_entries == in->cap) {
		size_t cap = in->cap ? in->cap * 2 : 8;
		struct incident_entry *v = realloc(in->entries, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		in->entries = v;
		in->cap = cap;
		in->pub.entries = v;
	}
	return memset(&in->entries[in->pub.n_entries++], 0, sizeof(struct incident_entry));
}

/* Appends a line to IN's timeline and writes it through. Transition and admin lines stop at
 * INCIDENT_AUTO_MAX (a flapping node must not grow the history without end). */
static struct incident_entry *add_entry(struct inc *in, enum entry_kind kind, const char *text,
                                        int64_t at)
{
	bool autoline = kind == ENTRY_TRANSITION || kind == ENTRY_ADMIN || kind == ENTRY_ACTION ||
	                kind == ENTRY_ALERT;
	struct incident_entry *e;

	if (autoline && in->n_auto > INCIDENT_AUTO_MAX)
		return NULL;
	e = entry_push(in);
	if (e == NULL) {
		log_warn("incident %lld: out of memory: line dropped", (long long)in->pub.id);
		return NULL;
	}
	e->at = at;
	e->kind = kind;
	if (autoline && ++in->n_auto > INCIDENT_AUTO_MAX)
		snprintf(e->text, sizeof(e->text),
		         "timeline full: later transitions are not recorded here (see the log)");
	else
		copy_line(e->text, sizeof(e->text), text);
	store_put_entry(in->pub.id, in->pub.n_entries - 1, e);
	return e;
}

#define METHODS_SNAP_MAX 64 /* methods snapshotted per incident (rippled has fewer labels) */

/* Whether LISTENER serves the pool named ARG. */
static bool listener_of_pool(const char *listener, void *arg)
{
	for (size_t i = 0; registry.conf != NULL && i < registry.conf->n_listeners; i++)
		if (strcmp(registry.conf->listeners[i].name, listener) == 0)
			return strcmp(registry.conf->listeners[i].pool, arg) == 0;
	return false;
}

/* IN's pool's requests per method since it opened, the busiest INCIDENT_METHODS_MAX into
 * OUT; their number. */
static size_t methods_window(const struct inc *in, struct incident_method *out)
{
	struct metrics_method now[METHODS_SNAP_MAX];
	size_t n = metrics_methods(listener_of_pool, (void *)in->pub.pool, now, METHODS_SNAP_MAX);
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		struct incident_method d = {.requests = now[i].requests, .failed = now[i].failed};
		size_t j;

		for (j = 0; j < in->n_snap && strcmp(in->snap[j].name, now[i].name) != 0; j++)
			;
		if (j < in->n_snap) {
			d.requests -= in->snap[j].requests;
			d.failed -= in->snap[j].failed;
		}
		if (d.requests == 0)
			continue;
		snprintf(d.name, sizeof(d.name), "%s", now[i].name);
		for (j = kept < INCIDENT_METHODS_MAX ? kept++ : kept; j > 0; j--) {
			if (out[j - 1].requests >= d.requests)
				break;
			if (j < INCIDENT_METHODS_MAX)
				out[j] = out[j - 1];
		}
		if (j < INCIDENT_METHODS_MAX)
			out[j] = d;
	}
	return kept;
}

static struct inc *inc_new(const char *pool, const char *title, int severity, bool manual,
                           int64_t now)
{
	struct inc *in = calloc(1, sizeof(*in));

	if (in == NULL)
		return NULL;
	in->pub.id = fleet_next != NULL ? fleet_next() : 0;
	if (in->pub.id <= 0) /* no fleet, or none at hand (the database away) */
		in->pub.id = last_id + 1;
	else if (find(in->pub.id) != NULL)
		in->pub.id = last_id + 1;
	snprintf(in->pub.pool, sizeof(in->pub.pool), "%s", pool != NULL ? pool : "");
	copy_line(in->pub.title, sizeof(in->pub.title), title);
	in->pub.severity = severity;
	in->pub.priority = PRIO_P4;
	in->pub.manual = manual;
	in->pub.started = now;
	in->pub.counted = boot;
	incident_counts_now(&in->pub.counts_open);
	in->snap = pool != NULL && *pool ? calloc(METHODS_SNAP_MAX, sizeof(*in->snap)) : NULL;
	if (in->snap != NULL)
		in->n_snap = metrics_methods(listener_of_pool, (void *)in->pub.pool, in->snap,
		                             METHODS_SNAP_MAX);
	if (history_add(in) < 0) {
		free(in);
		return NULL;
	}
	store_put_incident(&in->pub);
	STAT_INC(incidents_opened);
	log_warn("incident %lld opened: %s", (long long)in->pub.id, in->pub.title);
	return in;
}

static bool span_push(struct inc *in, int64_t start, int64_t end)
{
	if (in->n_spans == in->cap_spans) {
		size_t cap = in->cap_spans ? in->cap_spans * 2 : 4;
		struct span *v = realloc(in->spans, cap * sizeof(*v));

		if (v == NULL)
			return false;
		in->spans = v;
		in->cap_spans = cap;
	}
	in->spans[in->n_spans++] = (struct span){start, end};
	return true;
}

/* Opens or closes IN's outage span at NOW. */
static void span_set(struct inc *in, bool outage, int64_t now)
{
	struct span *last = in->n_spans > 0 ? &in->spans[in->n_spans - 1] : NULL;

	if (outage && (last == NULL || last->end != 0)) {
		if (span_push(in, now, 0))
			store_put_span(in->pub.id, now, 0);
	} else if (!outage && last != NULL && last->end == 0) {
		last->end = now > last->start ? now : last->start;
		store_put_span(in->pub.id, last->start, last->end);
	}
}

void incident_counts_now(struct incident_counts *c)
{
	struct stats s;

	stats_sum(&s);
	c->received = s.requests_received;
	c->failed = s.req_no_backend + s.req_backend_error + s.req_backend_timeout;
	c->retried = s.req_retried;
	c->refused = s.req_bad + s.req_uri_too_long + s.req_header_too_large +
	             s.req_body_too_large + s.req_uninspectable + s.req_header_timeout +
	             s.req_not_implemented;
}

static void resolve(struct inc *in, const char *text, int64_t now)
{
	const struct incident_entry *e;

	if (in->pub.counted != boot) /* counters restarted at 0 since it opened */
		in->pub.counted = 0;
	if (in->pub.counted != 0)
		incident_counts_now(&in->pub.counts_resolve);
	if (in->pub.counted != 0 && in->snap != NULL)
		in->pub.n_methods = methods_window(in, in->pub.methods);
	free(in->snap);
	in->snap = NULL;
	span_set(in, false, now);
	e = add_entry(in, ENTRY_RESOLVE, text, now);
	in->pub.resolved = now;
	store_put_incident(&in->pub);
	tell(IC_RESOLVED, &in->pub, e);
	STAT_INC(incidents_resolved);
	log_info("incident %lld resolved after %llds: %s", (long long)in->pub.id,
	         (long long)((now - in->pub.started) / 1000), in->pub.title);
	history_trim(now);
	store_prune(now);
}

/* "major_outage, 100% of the members out, 1 pool, urgency high": why a priority. */
static void impact_line(char *dst, size_t cap, const char *pool, int status,
                        const struct incident_impact *im)
{
	line(dst, cap, "%s is %s, %u%% of its members out, %zu pool%s hit, urgency %s", pool,
	     pool_status_names[status], im->lost_pct, im->pools, im->pools == 1 ? "" : "s",
	     urgency_names[im->urgency == URGENCY_LOW]);
}

/* The open incident IN after STATUS with impact IM: the severity raised to the worst seen,
 * the priority raised (never lowered, and left alone once ops set it); one update for
 * both. */
static void reassess(struct inc *in, int status, const struct incident_impact *im, int64_t now)
{
	int prio = incident_priority_of(status, im->lost_pct, im->pools, im->urgency);
	bool sev = status > in->pub.severity && status < PS_COUNT;
	bool pri = !in->pub.priority_set && prio < in->pub.priority;
	char why[INCIDENT_TEXT_MAX], text[INCIDENT_TEXT_MAX];
	const struct incident_entry *e = NULL;

	if (!sev && !pri)
		return;
	if (sev)
		in->pub.severity = status;
	if (pri) {
		impact_line(why, sizeof(why), in->pub.pool, status, im);
		line(text, sizeof(text), "priority %s -> %s (%s)", priority_names[in->pub.priority],
		     priority_names[prio], why);
		in->pub.priority = prio;
		e = add_entry(in, ENTRY_PRIORITY, text, now);
		log_info("incident %lld: %s", (long long)in->pub.id, text);
	}
	store_put_incident(&in->pub);
	tell(IC_UPDATE, &in->pub, e);
}

/* The fewest nodes in service IN has seen (its public title says so). */
static void record_serving(struct inc *in, const struct incident_impact *im)
{
	if (im->total == 0 || (in->pub.total != 0 && im->serving >= in->pub.serving))
		return;
	in->pub.serving = im->serving;
	in->pub.total = im->total;
	store_put_incident(&in->pub);
}

/* The first priority of IN, opened at STATUS with impact IM: a line of its timeline. */
static void first_priority(struct inc *in, int status, const struct incident_impact *im,
                           int64_t now)
{
	char why[INCIDENT_TEXT_MAX], text[INCIDENT_TEXT_MAX];

	in->pub.priority = incident_priority_of(status, im->lost_pct, im->pools, im->urgency);
	impact_line(why, sizeof(why), in->pub.pool, status, im);
	line(text, sizeof(text), "priority %s (%s)", priority_names[in->pub.priority], why);
	add_entry(in, ENTRY_PRIORITY, text, now);
	store_put_incident(&in->pub);
}

/* "backend n2: up -> down (peers 0)", the way the log says it. */
static void event_line(char *dst, size_t cap, const char *backend, const struct health_event *he)
{
	switch (he->kind) {
	case HE_ADMIN:
		line(dst, cap, "backend %s: admin %s -> %s (%s)", backend,
		     admin_state_names[he->admin_from], admin_state_names[he->admin_to],
		     he->reason);
		break;
	case HE_WEIGHT:
		line(dst, cap, "backend %s: weight %u -> %u (%s)", backend, he->weight_from,
		     he->weight_to, he->reason);
		break;
	default:
		line(dst, cap, "backend %s: %s -> %s (%s)%s", backend, health_state_names[he->from],
		     health_state_names[he->to], he->reason, he->in_grace ? " [sync grace]" : "");
		break;
	}
}

/* What an incident opened after HE would match similar ones on. */
static void track_origin(struct track *t, const char *backend, const struct health_event *he)
{
	snprintf(t->backend, sizeof(t->backend), "%s", backend);
	snprintf(t->verdict, sizeof(t->verdict), "%s",
	         he->verdict < V_COUNT ? verdict_names[he->verdict] : "");
	t->last_causes =
	    remedy_causes(he->reason) | (he->kind == HE_GRACE_EXPIRED ? 1u << RC_NO_SYNC : 0);
}

/* IN opened after T's last event (T NULL: after none): its backend, verdict and causes. */
static void set_origin(struct inc *in, const struct track *t)
{
	if (t == NULL)
		return;
	snprintf(in->pub.backend, sizeof(in->pub.backend), "%s", t->backend);
	snprintf(in->pub.verdict, sizeof(in->pub.verdict), "%s", t->verdict);
	in->pub.open_causes = t->last_causes;
	store_put_incident(&in->pub);
}

/* "n2 down: peers 0", for titles. */
static void event_cause(char *dst, size_t cap, const char *backend, const struct health_event *he)
{
	const char *what =
	    he->kind == HE_ADMIN ? admin_state_names[he->admin_to] : health_state_names[he->to];

	line(dst, cap, "%s %s: %s", backend, what, he->reason);
}

void incident_on_event(const char *pool, const char *backend, const struct health_event *he,
                       int status, int64_t at)
{
	struct inc *in = open_auto(pool);
	struct track *t = track_of(pool);
	char text[INCIDENT_TEXT_MAX], cause[CAUSE_MAX], title[sizeof(in->pub.title)];
	int sev = status > PS_DEGRADED && status < PS_COUNT ? status : PS_DEGRADED;

	if (he->kind >= HE_COUNT || he->from >= HS_COUNT || he->to >= HS_COUNT ||
	    he->admin_from >= ADMIN_COUNT || he->admin_to >= ADMIN_COUNT)
		return;
	if (he->kind == HE_WEIGHT) { /* a line in the open incident, if any: never a cause */
		event_line(text, sizeof(text), backend, he);
		if (in != NULL)
			add_entry(in, ENTRY_ADMIN, text, at);
		return;
	}
	event_cause(cause, sizeof(cause), backend, he);
	if (t != NULL)
		snprintf(t->cause, sizeof(t->cause), "%s", cause);
	if (t != NULL && he->kind != HE_ADMIN)
		track_origin(t, backend, he);
	if (t != NULL && he->kind != HE_ADMIN)
		t->causes |= remedy_causes(he->reason) |
		             (he->kind == HE_GRACE_EXPIRED ? 1u << RC_NO_SYNC : 0);
	event_line(text, sizeof(text), backend, he);
	if (shared()) { /* which instance saw it */
		char seen[INCIDENT_TEXT_MAX];

		line(seen, sizeof(seen), "[%s] %s", store_instance(), text);
		snprintf(text, sizeof(text), "%s", seen);
	}
	if (t != NULL && in == NULL) {
		t->last.at = at;
		t->last.kind = he->kind == HE_ADMIN ? ENTRY_ADMIN : ENTRY_TRANSITION;
		snprintf(t->last.text, sizeof(t->last.text), "%s", text);
		t->last_fresh = true;
	}
	enum incident_step step = incident_step_event(he, in != NULL);

	/* a fleet opens from the fleet's view of the pool (incident_on_status_impact) */
	if (step == STEP_OPEN && (shared() || !decides()))
		step = STEP_NONE;
	switch (step) {
	case STEP_OPEN:
		line(title, sizeof(title), "%s: %s (%s)", pool, pool_status_names[sev], cause);
		in = inc_new(pool, title, sev, false, at);
		if (in == NULL)
			break;
		in->pub.causes = t != NULL ? t->causes : 0;
		if (t != NULL)
			t->causes = 0;
		set_origin(in, t);
		size_t first = in->pub.n_entries;
		bool added = add_entry(in, ENTRY_OPEN, text, at) != NULL;
		first_priority(in, sev,
		               t != NULL ? &t->im : &(struct incident_impact){0, 1, 0, 0, 0}, at);
		tell(IC_OPEN, &in->pub, added ? &in->entries[first] : NULL);
		break;
	case STEP_APPEND:
		add_entry(in, he->kind == HE_ADMIN ? ENTRY_ADMIN : ENTRY_TRANSITION, text, at);
		if (t != NULL && (t->causes & ~in->pub.causes) != 0 && decides()) {
			in->pub.causes |= t->causes;
			store_put_incident(&in->pub);
		}
		if (t != NULL)
			t->causes = 0;
		break;
	default:
		break;
	}
}

void incident_on_status(const char *pool, int status, int64_t now)
{
	incident_on_status_impact(pool, status, NULL, now);
}

void incident_on_status_impact(const char *pool, int status, const struct incident_impact *imp,
                               int64_t now)
{
	struct inc *in = open_auto(pool);
	struct track *t = track_of(pool);
	char text[INCIDENT_TEXT_MAX], title[sizeof(in->pub.title)];
	int last = t != NULL ? t->status : -1;
	struct incident_impact im = imp != NULL ? *imp : (struct incident_impact){0, 1, 0, 0, 0};

	if (status < 0 || status >= PS_COUNT)
		return;
	if (t != NULL)
		t->im = im;
	if (!decides()) { /* the sender's call: it judges the same view */
		if (t != NULL) {
			t->status = status;
			t->last_fresh = false;
		}
		return;
	}
	line(text, sizeof(text), "pool %s: %s -> %s", pool,
	     last >= 0 ? pool_status_names[last] : "unknown", pool_status_names[status]);
	switch (incident_step_status(last, status, in != NULL)) {
	case STEP_OPEN:
		line(title, sizeof(title), "%s: %s (%s)", pool, pool_status_names[status],
		     t != NULL && t->cause[0] != '\0' ? t->cause : "pool status");
		in = inc_new(pool, title, status, false, now);
		if (in == NULL)
			break;
		size_t first = in->pub.n_entries;
		bool added = add_entry(in, ENTRY_OPEN, text, now) != NULL;
		/* what made it worse (a fleet's view may turn a round or two after it) */
		bool worse = t->last_fresh || (fleet_next != NULL && t->last.text[0] != '\0' &&
		                               t->last.at >= now - INCIDENT_SEEN_MS);
		if (worse)
			add_entry(in, t->last.kind, t->last.text, t->last.at);
		in->pub.causes = t->causes;
		t->causes = 0;
		set_origin(in, worse ? t : NULL);
		first_priority(in, status, &im, now);
		tell(IC_OPEN, &in->pub, added ? &in->entries[first] : NULL); /* after a realloc */
		break;
	case STEP_APPEND:
		add_entry(in, ENTRY_TRANSITION, text, now);
		break;
	case STEP_RESOLVE:
		resolve(in, text, now);
		in = NULL;
		break;
	default:
		break;
	}
	if (t != NULL) {
		t->status = status;
		t->last_fresh = false;
	}
	if (in == NULL)
		return;
	record_serving(in, &im);
	reassess(in, status, &im, now);
	span_set(in, status >= PS_PARTIAL_OUTAGE, now);
}

static const struct pool *pool_named(const char *name);

/* The urgency of POOL ("" or unknown: high). */
static int urgency_of(const char *pool)
{
	const struct pool *p = pool != NULL && *pool ? pool_named(pool) : NULL;

	return p != NULL ? p->conf.urgency : URGENCY_HIGH;
}

int64_t incident_open_manual(const struct incident_manual *m, int64_t now)
{
	struct inc *in = inc_new(m->pool, m->title, m->severity, true, now);

	if (in == NULL)
		return -1;
	in->pub.planned_start = m->planned_start;
	in->pub.planned_end = m->planned_end;
	if (m->backends != NULL)
		copy_line(in->pub.backends, sizeof(in->pub.backends), m->backends);
	in->pub.priority = incident_priority_of(m->severity, 0, 1, urgency_of(m->pool));
	store_put_incident(&in->pub);
	tell(IC_OPEN, &in->pub,
	     add_entry(in, ENTRY_OPEN, m->message != NULL && *m->message ? m->message : m->title,
	               now));
	if (maint_is(&in->pub)) /* subscribers and feeds announce it (maint.c runs it) */
		bus_post(&(struct bus_event){.topic = BUS_INCIDENT,
		                             .pool = in->pub.pool,
		                             .incident = in->pub.id,
		                             .change = NOTIFY_MAINT_SCHEDULED,
		                             .text = in->pub.title});
	return in->pub.id;
}

int incident_update(int64_t id, enum update_status s, const char *message, int64_t eta,
                    int64_t next_update, int64_t now, struct incident_entry *out)
{
	struct inc *in = find(id);
	struct incident_entry *e;

	if (in == NULL || s >= UPD_COUNT)
		return -1;
	e = entry_push(in);
	if (e == NULL)
		return -1;
	e->at = now;
	e->kind = ENTRY_UPDATE;
	e->status = s;
	e->eta = eta;
	e->next_update = next_update;
	copy_line(e->text, sizeof(e->text), message);
	store_put_entry(in->pub.id, in->pub.n_entries - 1, e);
	*out = *e;
	log_info("incident %lld: update (%s): %s", (long long)id, update_status_names[s], e->text);
	if (s == UPD_RESOLVED && in->pub.resolved == 0)
		resolve(in, "resolved by ops", now);
	else
		tell(IC_UPDATE, &in->pub, &in->entries[in->pub.n_entries - 1]);
	return 0;
}

int incident_ack(int64_t id, const char *by, const char *via, int64_t now)
{
	struct inc *in = find(id);
	char text[INCIDENT_TEXT_MAX];
	const struct incident_entry *e;

	if (in == NULL)
		return -1;
	if (in->pub.resolved != 0)
		return -2;
	if (in->pub.acked != 0)
		return -3;
	in->pub.acked = now;
	copy_line(in->pub.acked_by, sizeof(in->pub.acked_by), by);
	line(text, sizeof(text), "acknowledged by %s (%s)", in->pub.acked_by, via);
	e = add_entry(in, ENTRY_ACK, text, now);
	store_put_incident(&in->pub);
	log_info("incident %lld: %s", (long long)id, text);
	tell(IC_ACK, &in->pub, e);
	return 0;
}

int incident_set_priority(int64_t id, int priority, const char *by, const char *reason, int64_t now)
{
	struct inc *in = find(id);
	char text[INCIDENT_TEXT_MAX];
	const struct incident_entry *e;

	if (in == NULL || priority < 0 || priority >= PRIO_COUNT)
		return -1;
	line(text, sizeof(text), "priority %s -> %s set by %s: %s",
	     priority_names[in->pub.priority < PRIO_COUNT ? in->pub.priority : PRIO_P4],
	     priority_names[priority], by, reason);
	in->pub.priority = priority;
	in->pub.priority_set = true;
	e = add_entry(in, ENTRY_PRIORITY, text, now);
	store_put_incident(&in->pub);
	log_info("incident %lld: %s", (long long)id, text);
	if (in->pub.resolved == 0)
		tell(IC_UPDATE, &in->pub, e);
	return 0;
}

int incident_set_role(int64_t id, enum incident_role role, const char *name, int64_t now)
{
	struct inc *in = find(id);
	char text[INCIDENT_TEXT_MAX], *r;

	if (in == NULL || role >= ROLE_COUNT)
		return -1;
	r = in->pub.roles[role];
	if (strcmp(r, name) == 0)
		return 1;
	if (name[0] != '\0' && r[0] != '\0')
		line(text, sizeof(text), "%s: %s (was %s)", incident_role_names[role], name, r);
	else if (name[0] != '\0')
		line(text, sizeof(text), "%s: %s", incident_role_names[role], name);
	else
		line(text, sizeof(text), "%s: nobody (was %s)", incident_role_names[role], r);
	copy_line(r, INCIDENT_NAME_MAX, name);
	add_entry(in, ENTRY_ROLE, text, now);
	store_put_incident(&in->pub);
	return 0;
}

const char *const incident_pm_field_names[PMF_COUNT] = {
    [PMF_ROOT_CAUSE] = "root_cause", [PMF_PREVENT] = "prevent", [PMF_DETECT] = "detect",
    [PMF_MITIGATE] = "mitigate",     [PMF_FIX] = "fix",
};

int incident_set_pm(int64_t id, enum incident_pm_field field, const char *text, const char *by,
                    int64_t now)
{
	struct inc *in = find(id);
	char buf[INCIDENT_TEXT_MAX];

	if (in == NULL || field >= PMF_COUNT)
		return -1;
	copy_line(in->pub.pm[field], sizeof(in->pub.pm[field]), text);
	line(buf, sizeof(buf), "postmortem %s by %s: %s", incident_pm_field_names[field], by,
	     text[0] != '\0' ? text : "(cleared)");
	add_entry(in, ENTRY_NOTE, buf, now);
	store_put_incident(&in->pub);
	return 0;
}

/* When similar incidents say INC should recover (its start plus their median), 0: none. */
static int64_t expected_suggested(const struct incident *inc)
{
	struct similar s;

	incident_similar(inc, &s);
	return s.median_ms >= 0 ? inc->started + s.median_ms : 0;
}

int incident_set_expected(int64_t id, int64_t at, const char *by, int64_t now)
{
	struct inc *in = find(id);
	char buf[INCIDENT_TEXT_MAX], when[32], hint[32];
	int64_t sug;

	if (in == NULL)
		return -1;
	sug = expected_suggested(&in->pub);
	incident_iso(at, when, sizeof(when));
	incident_iso(sug, hint, sizeof(hint));
	line(buf, sizeof(buf), "expected recovery %s by %s (similar incidents suggested %s)",
	     at > 0 ? when : "cleared", by, sug > 0 ? hint : "none");
	in->pub.expected = at;
	copy_line(in->pub.expected_by, sizeof(in->pub.expected_by), by);
	add_entry(in, ENTRY_NOTE, buf, now);
	store_put_incident(&in->pub);
	return 0;
}

int incident_add_note(int64_t id, const char *by, const char *text, int64_t now)
{
	struct inc *in = find(id);
	char buf[INCIDENT_TEXT_MAX];

	if (in == NULL)
		return -1;
	line(buf, sizeof(buf), "%s: %s", by, text);
	return add_entry(in, ENTRY_NOTE, buf, now) != NULL ? 0 : -1;
}

void incident_set_esc_step(int64_t id, int step)
{
	struct inc *in = find(id);

	if (in == NULL || in->pub.esc_step == step)
		return;
	in->pub.esc_step = step;
	store_put_incident(&in->pub);
}

int incident_maint_step(int64_t id, int phase, const char *text, int64_t now)
{
	struct inc *in = find(id);

	if (in == NULL || phase < 0 || phase >= MP_COUNT)
		return -1;
	in->pub.maint_phase = phase;
	store_put_incident(&in->pub);
	if (text == NULL)
		return 0; /* the phase alone */
	if (phase == MP_ENDED && in->pub.resolved == 0) {
		/* the resolve line is what the public reads: text_maintenance_ended */
		add_entry(in, ENTRY_ADMIN, text, now);
		resolve(in, "maintenance ended", now);
		return 0;
	}
	const struct incident_entry *e = add_entry(in, ENTRY_MAINT, text, now);

	if (in->pub.resolved == 0)
		tell(IC_UPDATE, &in->pub, e);
	return 0;
}

bool incident_maint_running(const char *backend)
{
	for (size_t i = n_incs; i-- > 0;) {
		const struct incident *inc = &incs[i]->pub;

		if (inc->resolved == 0 && inc->maint_phase == MP_STARTED &&
		    maint_names(inc->backends, backend))
			return true;
	}
	return false;
}

bool incident_maint_explains(const struct pool *p)
{
	size_t maint = 0;

	for (size_t i = 0; i < p->n_members; i++) {
		const struct backend *b = p->members[i];

		if (b->node == NULL || b->node->routable)
			continue;
		if (b->node->health.admin != ADMIN_MAINT || !incident_maint_running(b->name))
			return false;
		maint++;
	}
	return maint > 0;
}

int64_t incident_open_id(const char *pool)
{
	const struct inc *in = open_auto(pool);

	return in != NULL ? in->pub.id : 0;
}

int incident_add_line(int64_t id, enum entry_kind kind, const char *text, int64_t now)
{
	struct inc *in = find(id);

	if (in == NULL || kind >= ENTRY_COUNT)
		return -1;
	add_entry(in, kind, text, now);
	return 0;
}

static bool same_entry(const struct incident_entry *a, const struct incident_entry *b)
{
	return a->at == b->at && a->kind == b->kind && strcmp(a->text, b->text) == 0;
}

/* Whether E is among IN's lines. */
static bool has_entry(const struct inc *in, const struct incident_entry *e)
{
	for (size_t i = in->pub.n_entries; i-- > 0;)
		if (same_entry(&in->entries[i], e))
			return true;
	return false;
}

/* What another instance did to IN (its lines NEW, not here before) is told here: the
 * watchers follow the one incident (alerts and escalations send only on the sender, and
 * the others mark what was told, so that the next sender goes on from there). */
static void tell_synced(struct inc *in, bool fresh, int64_t was_resolved, int64_t was_acked,
                        const bool *news)
{
	size_t n = in->pub.n_entries;

	if (fresh) {
		if (in->pub.resolved == 0)
			tell(IC_OPEN, &in->pub, n > 0 ? &in->entries[0] : NULL);
		return;
	}
	for (size_t i = 0; i < n && in->pub.resolved == 0; i++)
		if (news[i] && in->entries[i].kind == ENTRY_UPDATE)
			tell(IC_UPDATE, &in->pub, &in->entries[i]);
	for (size_t i = n; was_acked == 0 && in->pub.acked != 0 && i-- > 0;)
		if (in->entries[i].kind == ENTRY_ACK) {
			tell(IC_ACK, &in->pub, &in->entries[i]);
			break;
		}
	for (size_t i = n; was_resolved == 0 && in->pub.resolved != 0 && i-- > 0;)
		if (in->entries[i].kind == ENTRY_RESOLVE) {
			tell(IC_RESOLVED, &in->pub, &in->entries[i]);
			break;
		}
}

/* Another instance just opened IN: what this one saw last of the pool, shortly before,
 * goes into its timeline too (the line that no incident took then). */
static void add_seen(struct inc *in)
{
	struct track *t;

	if (in->pub.manual || in->pub.resolved != 0 || (t = track_of(in->pub.pool)) == NULL ||
	    t->last.text[0] == '\0' || t->last.at < in->pub.started - INCIDENT_SEEN_MS ||
	    has_entry(in, &t->last))
		return;
	add_entry(in, t->last.kind, t->last.text, t->last.at);
}

void incident_sync(const struct incident *inc, const struct incident_entry *e, size_t n,
                   const int64_t *spans, size_t n_spans)
{
	struct inc *in = find(inc->id);
	bool fresh = in == NULL;
	int64_t was_resolved = fresh ? 0 : in->pub.resolved, was_acked = fresh ? 0 : in->pub.acked;
	struct incident_entry *ents = calloc(n + 1, sizeof(*ents));
	struct span *sp = calloc(n_spans + 1, sizeof(*sp));
	bool *news = calloc(n + 1, sizeof(*news));

	if (ents == NULL || sp == NULL || news == NULL)
		goto out;
	/* what this instance wrote and the database has not yet is not taken back: its own
	 * notification brings the incident again once it is committed (a write that never
	 * makes it, SYNC_HOLD_MS later: the store's copy wins) */
	if (!fresh && (n < in->pub.n_entries || n_spans < in->n_spans)) {
		uint64_t now = clock_now();

		if (in->sync_held == 0)
			in->sync_held = now;
		if (now - in->sync_held < SYNC_HOLD_MS)
			goto out;
	}
	if (fresh && (in = calloc(1, sizeof(*in))) == NULL)
		goto out;
	if (n > 0)
		memcpy(ents, e, n * sizeof(*ents));
	for (size_t i = 0; i < n; i++)
		news[i] = fresh || !has_entry(in, &e[i]);
	for (size_t i = 0; i < n_spans; i++)
		sp[i] = (struct span){spans[2 * i], spans[2 * i + 1]};
	free(in->entries);
	free(in->spans);
	in->pub = *inc;
	/* a resolution or an acknowledgement here stands until the database has it */
	if (in->pub.resolved == 0 && was_resolved != 0)
		in->pub.resolved = was_resolved;
	if (in->pub.acked == 0 && was_acked != 0)
		in->pub.acked = was_acked;
	in->entries = ents;
	in->pub.entries = ents;
	in->pub.n_entries = n;
	in->cap = n + 1;
	in->spans = sp;
	in->n_spans = n_spans;
	in->cap_spans = n_spans + 1;
	ents = NULL;
	sp = NULL;
	in->sync_held = 0;
	in->n_auto = 0;
	for (size_t i = 0; i < n; i++)
		in->n_auto += e[i].kind == ENTRY_TRANSITION || e[i].kind == ENTRY_ADMIN ||
		              e[i].kind == ENTRY_ACTION || e[i].kind == ENTRY_ALERT;
	if (fresh && history_add(in) < 0) {
		inc_free(in);
		goto out;
	}
	if (fleet_next != NULL && fresh)
		add_seen(in);
	if (fleet_next != NULL)
		tell_synced(in, fresh, was_resolved, was_acked, news);
out:
	free(ents);
	free(sp);
	free(news);
}

const struct incident *incident_get(int64_t id)
{
	struct inc *in = find(id);

	return in != NULL ? &in->pub : NULL;
}

void incident_reset(void)
{
	for (size_t i = 0; i < n_incs; i++)
		inc_free(incs[i]);
	free(incs);
	free(tracks);
	incs = NULL;
	tracks = NULL;
	n_incs = cap_incs = n_tracks = 0;
	last_id = 0;
}

/* ---- readers ------------------------------------------------------------------------------- */

void incident_foreach(size_t limit, void (*fn)(const struct incident *inc, void *arg), void *arg)
{
	size_t done = 0;

	for (int pass = 0; pass < 2; pass++)
		for (size_t i = n_incs; i-- > 0;) {
			const struct incident *inc = &incs[i]->pub;

			if ((pass == 0) != (inc->resolved == 0))
				continue;
			if (limit > 0 && done++ >= limit)
				return;
			fn(inc, arg);
		}
}

/* Milliseconds of IN's outage spans within [FROM, TO); an open span lasts until now. */
static int64_t inc_downtime(const struct inc *in, int64_t from, int64_t to, int64_t now)
{
	int64_t sum = 0;

	for (size_t i = 0; i < in->n_spans; i++) {
		int64_t s = in->spans[i].start, e = in->spans[i].end != 0 ? in->spans[i].end : now;

		s = s > from ? s : from;
		e = e < to ? e : to;
		sum += e > s ? e - s : 0;
	}
	return sum;
}

int64_t incident_record_start(void)
{
	int64_t first = boot > 0 ? boot : clock_wall();

	for (size_t i = 0; i < n_incs; i++)
		if (incs[i]->pub.started > 0 && incs[i]->pub.started < first)
			first = incs[i]->pub.started;
	return first;
}

int incident_uptime_bp(const char *pool, int64_t first, int64_t now)
{
	int64_t from = now - now % DAY_MS - 89 * DAY_MS, seen, down;

	from = from > first ? from : first;
	seen = now > from ? now - from : 0;
	if (seen <= 0)
		return -1;
	down = incident_downtime(pool, from, now);
	down = down < 0 ? 0 : down > seen ? seen : down;
	return (int)((seen - down) * 10000 / seen);
}

static int64_t maint_overlap(const char *pool, int64_t from, int64_t to, int64_t now);

int64_t incident_downtime(const char *pool, int64_t from, int64_t to)
{
	int64_t sum = 0, now = clock_wall();

	for (size_t i = 0; i < n_incs; i++)
		if (!incs[i]->pub.manual && same_pool(incs[i]->pub.pool, pool))
			sum += inc_downtime(incs[i], from, to, now);
	return sum - maint_overlap(pool, from, to, now);
}

/* Milliseconds of POOL's outage spans within [FROM, TO) that fall inside one of its
 * maintenance windows (a maintenance of the pool or of everything, as it really ran: from
 * its start to its end or its resolve): planned work is not downtime. */
static int64_t maint_overlap(const char *pool, int64_t from, int64_t to, int64_t now)
{
	int64_t sum = 0;

	for (size_t m = 0; m < n_incs; m++) {
		const struct incident *w = &incs[m]->pub;
		int64_t ws, we;

		if (!maint_window_of(w, now, &ws, &we) ||
		    (w->pool[0] != '\0' && !same_pool(w->pool, pool)))
			continue;
		ws = ws > from ? ws : from;
		we = we < to ? we : to;
		for (size_t i = 0; we > ws && i < n_incs; i++)
			if (!incs[i]->pub.manual && same_pool(incs[i]->pub.pool, pool))
				sum += inc_downtime(incs[i], ws, we, now);
	}
	return sum;
}

void incident_iso(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", (int)(ms % 1000));
}

static json_t *json_time(int64_t ms)
{
	char buf[40];

	if (ms == 0)
		return json_null();
	incident_iso(ms, buf, sizeof(buf));
	return json_string(buf);
}

const char *incident_template(int kind)
{
	const struct conf_status *st = registry.conf != NULL ? &registry.conf->status : NULL;

	if (kind < 0 || kind >= WK_COUNT)
		return "";
	if (st != NULL && st->text[kind] != NULL && st->text[kind][0] != '\0')
		return st->text[kind];
	return words_default(st != NULL ? (enum words_lang)st->language : WL_EN,
	                     (enum words_kind)kind);
}

static void render(int kind, const struct incident *inc, char *buf, size_t len)
{
	const struct pool *p = inc->pool[0] != '\0' ? pool_named(inc->pool) : NULL;
	struct words_vars v = {.pool = inc->pool, .serving = inc->serving, .total = inc->total};

	if (v.total == 0 && p != NULL) /* before any count was recorded: none in service */
		v.total = p->n_members;
	words_render(incident_template(kind), &v, buf, len);
}

void incident_public_title(const struct incident *inc, char *buf, size_t len)
{
	int sev = inc->severity;

	if (inc->manual) {
		snprintf(buf, len, "%s", inc->title);
		return;
	}
	if (inc->total == 0) { /* no count recorded (an incident of an older store): its status */
		snprintf(buf, len, "%s",
		         words_get(registry.conf != NULL
		                       ? (enum words_lang)registry.conf->status.language
		                       : WL_EN,
		                   sev >= PS_MAJOR_OUTAGE     ? W_MAJOR_OUTAGE
		                   : sev == PS_PARTIAL_OUTAGE ? W_PARTIAL_OUTAGE
		                                              : W_DEGRADED));
		return;
	}
	render(sev >= PS_MAJOR_OUTAGE     ? WK_MAJOR_OUTAGE
	       : sev == PS_PARTIAL_OUTAGE ? WK_PARTIAL_OUTAGE
	                                  : WK_DEGRADED,
	       inc, buf, len);
}

bool incident_public_text(const struct incident *inc, const struct incident_entry *e, char *buf,
                          size_t len)
{
	bool planned = inc->manual && inc->planned_start > 0;

	switch (e->kind) {
	case ENTRY_OPEN:
		if (inc->manual)
			snprintf(buf, len, "%s", e->text);
		else
			incident_public_title(inc, buf, len);
		return true;
	case ENTRY_UPDATE:
		snprintf(buf, len, "%s", e->text);
		return true;
	case ENTRY_RESOLVE:
		render(planned ? WK_MAINT_ENDED : WK_RESTORED, inc, buf, len);
		return true;
	case ENTRY_MAINT:
		render(strncmp(e->text, "maintenance ended", 17) == 0 ? WK_MAINT_ENDED
		                                                      : WK_MAINT_STARTED,
		       inc, buf, len);
		return true;
	default:
		return false;
	}
}

/* Public text (addresses hidden unless configured) as a JSON string. */
static json_t *json_text(const char *raw)
{
	char s[INCIDENT_TEXT_MAX];

	redact_public(raw, s, sizeof(s)); /* the APIs and the page are public */
	return redact_json_text(s);
}

json_t *incident_entry_json(const struct incident_entry *e)
{
	json_t *j = json_pack("{s:o, s:s, s:o}", "at", json_time(e->at), "kind",
	                      entry_kind_names[e->kind < ENTRY_COUNT ? e->kind : 0], "text",
	                      json_text(e->text));

	if (j == NULL || e->kind != ENTRY_UPDATE)
		return j;
	if (json_object_set_new(
	        j, "status",
	        json_string(update_status_names[e->status < UPD_COUNT ? e->status : 0])) < 0 ||
	    json_object_set_new(j, "eta", json_time(e->eta)) < 0 ||
	    json_object_set_new(j, "next_update", json_time(e->next_update)) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* The status of the last ops update, or JSON null. */
static json_t *last_update(const struct incident *inc)
{
	for (size_t i = inc->n_entries; i-- > 0;)
		if (inc->entries[i].kind == ENTRY_UPDATE && inc->entries[i].status < UPD_COUNT)
			return json_string(update_status_names[inc->entries[i].status]);
	return json_null();
}

/* The incident as JSON; FULL: every entry (else the public ones). */
static json_t *incident_json_of(const struct incident *inc, bool full)
{
	const struct inc *in = find(inc->id);
	json_t *entries = json_array();
	int sev = inc->severity >= 0 && inc->severity < PS_COUNT ? inc->severity : 0;

	char title[INCIDENT_TEXT_MAX];

	for (size_t i = 0; entries != NULL && i < inc->n_entries; i++) {
		struct incident_entry pe = inc->entries[i];

		if (!full && !incident_public_text(inc, &inc->entries[i], pe.text, sizeof(pe.text)))
			continue;
		if (json_array_append_new(entries, incident_entry_json(&pe)) < 0) {
			json_decref(entries);
			return NULL;
		}
	}
	if (full)
		snprintf(title, sizeof(title), "%s", inc->title);
	else
		incident_public_title(inc, title, sizeof(title));
	json_t *j = json_pack(
	    "{s:I, s:s, s:o, s:s, s:s, s:b, s:b, s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "id",
	    (json_int_t)inc->id, "pool", inc->pool, "title", json_text(title), "severity",
	    pool_status_names[sev], "priority",
	    priority_names[inc->priority >= 0 && inc->priority < PRIO_COUNT ? inc->priority
	                                                                    : PRIO_P4],
	    "manual", inc->manual, "open", inc->resolved == 0, "started", json_time(inc->started),
	    "resolved", json_time(inc->resolved), "planned_start", json_time(inc->planned_start),
	    "planned_end", json_time(inc->planned_end), "outage_ms",
	    (json_int_t)(in != NULL ? inc_downtime(in, 0, INT64_MAX, clock_wall()) : 0),
	    "last_update", last_update(inc), "entries", entries);
	if (j != NULL && inc->planned_start > 0 &&
	    json_object_set_new(
	        j, "maintenance",
	        json_string(maint_phase_names[inc->maint_phase >= 0 && inc->maint_phase < MP_COUNT
	                                          ? inc->maint_phase
	                                          : 0])) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

json_t *incident_json(const struct incident *inc)
{
	return incident_json_of(inc, false);
}

static json_t *str_or_null(const char *s)
{
	return s[0] != '\0' ? json_string(s) : json_null();
}

void incident_similar(const struct incident *inc, struct similar *out)
{
	const struct incident *past[SIMILAR_MAX];
	size_t n = 0;

	for (size_t i = n_incs; i > 0 && n < SIMILAR_MAX; i--) /* the most recent first */
		past[n++] = &incs[i - 1]->pub;
	similar_find(inc, past, n, inc->started, out);
}

size_t incident_postmortem(const struct incident *inc, int lang, bool live, int64_t now, char *buf,
                           size_t len)
{
	struct similar sim;
	struct incident_counts end = inc->counts_resolve;
	struct pm_counts c = {.known = inc->counted != 0};

	struct incident_method live_methods[INCIDENT_METHODS_MAX];
	const struct inc *in = find(inc->id);

	c.methods = inc->methods;
	c.n_methods = inc->n_methods;
	if (inc->resolved == 0 && live && inc->counted == boot) {
		incident_counts_now(&end);
		c.methods = live_methods;
		c.n_methods = in != NULL && in->snap != NULL ? methods_window(in, live_methods) : 0;
	} else if (inc->resolved == 0)
		c.known = false; /* no end yet, and nothing live of the same process to read */
	c.failed = end.failed - inc->counts_open.failed;
	c.retried = end.retried - inc->counts_open.retried;
	c.refused = end.refused - inc->counts_open.refused;
	c.answered = end.received - inc->counts_open.received; /* heads read, then not failed */
	c.answered = c.answered > c.failed ? c.answered - c.failed : 0;
	struct pm_fields f = {inc->pm[PMF_ROOT_CAUSE], inc->pm[PMF_PREVENT], inc->pm[PMF_DETECT],
	                      inc->pm[PMF_MITIGATE], inc->pm[PMF_FIX]};

	incident_similar(inc, &sim);
	return pm_render(inc, &c, &f, &sim, (enum pm_lang)lang, now, buf, len);
}

void incident_similar_text(const struct incident *inc, char *buf, size_t len)
{
	struct similar s;
	char took[32], when[32];
	int64_t sug;

	buf[0] = '\0';
	incident_similar(inc, &s);
	if (s.count == 0)
		return;
	pm_duration(s.median_ms, took, sizeof(took));
	sug = inc->expected > 0 ? inc->expected : expected_suggested(inc);
	incident_iso(sug, when, sizeof(when));
	snprintf(buf, len,
	         "%zu in the last 90 days (backend %s, %s), median time to resolve %s; expected "
	         "recovery %s (%s)",
	         s.count, inc->backend, inc->verdict, took, sug > 0 ? when : "unknown",
	         inc->expected > 0 ? "set by ops" : "suggested, to confirm");
}

/* What was done in a similar incident: its hook runs and ops notes, the first few. */
static json_t *similar_done(const struct incident *inc)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < inc->n_entries && json_array_size(a) < SIMILAR_DONE_MAX;
	     i++)
		if (inc->entries[i].kind == ENTRY_ACTION || inc->entries[i].kind == ENTRY_NOTE)
			json_array_append_new(a, json_text(inc->entries[i].text));
	return a;
}

static json_t *similar_json(const struct incident *inc)
{
	struct similar s;
	json_t *recent = json_array();

	incident_similar(inc, &s);
	for (size_t i = 0; recent != NULL && i < s.n_ids; i++) {
		const struct incident *p = incident_get(s.ids[i]);

		if (p != NULL)
			json_array_append_new(
			    recent,
			    json_pack("{s:I, s:o, s:o, s:o, s:o}", "id", (json_int_t)p->id,
			              "started", json_time(p->started), "resolved",
			              json_time(p->resolved), "resolve_ms",
			              p->resolved > 0 ? json_integer(p->resolved - p->started)
			                              : json_null(),
			              "done", similar_done(p)));
	}
	return json_pack("{s:I, s:I, s:o, s:o}", "count", (json_int_t)s.count, "resolved",
	                 (json_int_t)s.resolved, "median_resolve_ms",
	                 s.median_ms >= 0 ? json_integer(s.median_ms) : json_null(), "recent",
	                 recent != NULL ? recent : json_array());
}

/* "expected_recovery" {"at","by","suggested"} and "postmortem" {root_cause, prevent, detect,
 * mitigate, fix: text or null}. */
static json_t *ops_fields_json(const struct incident *inc)
{
	json_t *pm = json_object();
	int64_t sug = expected_suggested(inc);

	for (size_t f = 0; pm != NULL && f < PMF_COUNT; f++)
		json_object_set_new(pm, incident_pm_field_names[f], str_or_null(inc->pm[f]));
	return json_pack("{s:{s:o, s:o, s:o}, s:o}", "expected_recovery", "at",
	                 json_time(inc->expected), "by", str_or_null(inc->expected_by), "suggested",
	                 json_time(sug), "postmortem", pm != NULL ? pm : json_object());
}

json_t *incident_json_full(const struct incident *inc)
{
	json_t *j = incident_json_of(inc, true), *roles = json_object();
	char remedy[INCIDENT_TEXT_MAX * 2], chat[128];

	for (size_t r = 0; roles != NULL && r < ROLE_COUNT; r++)
		json_object_set_new(roles, incident_role_names[r], str_or_null(inc->roles[r]));
	remedy_text(inc->causes, remedy, sizeof(remedy));
	incident_chat_channel(inc, chat, sizeof(chat));
	if (j == NULL || roles == NULL ||
	    json_object_update_new(
	        j, json_pack("{s:b, s:o, s:o, s:o, s:s, s:s, s:s, s:s, s:o}", "priority_set",
	                     inc->priority_set, "acknowledged",
	                     inc->acked != 0 ? json_pack("{s:s, s:o}", "by", inc->acked_by, "at",
	                                                 json_time(inc->acked))
	                                     : json_null(),
	                     "roles", roles, "remedy", remedy_json(inc->causes), "remedy_text",
	                     remedy, "chat_channel", chat, "backend", inc->backend, "verdict",
	                     inc->verdict, "similar", similar_json(inc))) < 0 ||
	    json_object_update_new(j, ops_fields_json(inc)) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

void incident_chat_channel(const struct incident *inc, char *buf, size_t len)
{
	char day[16], slug[48];
	time_t t = (time_t)(inc->started / 1000);
	struct tm tm;
	size_t n = 0;

	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y%m%d", &tm);
	for (const char *p = inc->title; *p != '\0' && n < 40; p++) {
		char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
		bool word = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (word)
			slug[n++] = c;
		else if (n > 0 && slug[n - 1] != '-')
			slug[n++] = '-';
	}
	while (n > 0 && slug[n - 1] == '-')
		n--;
	slug[n] = '\0';
	snprintf(buf, len, "#incident_%s_%s", day, n > 0 ? slug : "incident");
}

/* ---- the glue: bus, loop, store ----------------------------------------------------------- */

static const struct pool *pool_named(const char *name)
{
	for (size_t i = 0; i < registry.n_pools; i++)
		if (same_pool(registry.pools[i]->name, name))
			return registry.pools[i];
	return NULL;
}

/* Automatic incidents of pools a reload removed cannot resolve by themselves. */
static void resolve_orphans(int64_t now)
{
	char text[INCIDENT_TEXT_MAX];

	for (size_t i = 0; decides() && i < n_incs; i++) {
		struct inc *in = incs[i];

		if (in->pub.manual || in->pub.resolved != 0 || pool_named(in->pub.pool) != NULL)
			continue;
		line(text, sizeof(text), "pool %s is no longer configured", in->pub.pool);
		resolve(in, text, now);
		i = (size_t)-1; /* resolve may trim the history: start over */
	}
}

/* After a round of events (and after a reload, bus_wake): every judged pool's status. */
static void on_round_done(void *arg)
{
	int64_t now = clock_wall();
	size_t hit = 0;

	for (size_t i = 0; i < registry.n_pools; i++)
		hit += poolstat_known(registry.pools[i]) > PS_OPERATIONAL;
	for (size_t i = 0; i < registry.n_pools; i++) {
		const struct pool *p = registry.pools[i];
		int st = poolstat_known(p);
		struct pool_view v = {0};
		struct incident_impact im = {.pools = hit > 0 ? hit : 1,
		                             .urgency = p->conf.urgency};

		if (st < 0)
			continue;
		/* a maintenance that explains every node out is no incident: it is its own */
		if (st > PS_OPERATIONAL && incident_maint_explains(p))
			st = PS_OPERATIONAL;
		poolstat_fleet_view(p, &v);
		im.serving = v.up < v.members ? v.up : v.members;
		im.total = v.members;
		im.lost_pct = v.members > 0
		                  ? (unsigned)((v.members - (v.up < v.members ? v.up : v.members)) *
		                               100 / v.members)
		                  : 0;
		incident_on_status_impact(p->name, st, &im, now);
	}
	resolve_orphans(now);
}

void incident_poke(void)
{
	bus_wake();
}

/* A round of the bus (BUS_PHASE_INCIDENTS), on the loop turn after the events: the routing
 * view (routable, weight) the pool's status reads is refreshed by then. */
static void on_bus(const struct bus_event *ev, void *arg)
{
	uint64_t mono = clock_now();
	int64_t at = clock_wall() - (int64_t)(mono > ev->he.at ? mono - ev->he.at : 0);

	if (ev->topic != BUS_HEALTH)
		return;
	incident_on_event(ev->pool, ev->backend, &ev->he, poolstat_known(pool_named(ev->pool)), at);
}

/* ---- loading ------------------------------------------------------------------------------- */

static void load_incident(const struct incident *inc, void *arg)
{
	struct inc *in = calloc(1, sizeof(*in));

	if (in == NULL)
		return;
	in->pub = *inc;
	in->pub.entries = NULL;
	in->pub.n_entries = 0;
	if (history_add(in) < 0)
		free(in);
}

static void load_entry(int64_t id, const struct incident_entry *e, void *arg)
{
	struct inc *in = find(id);
	struct incident_entry *dst = in != NULL ? entry_push(in) : NULL;

	if (dst == NULL)
		return;
	*dst = *e;
	in->n_auto += e->kind == ENTRY_TRANSITION || e->kind == ENTRY_ADMIN ||
	              e->kind == ENTRY_ACTION || e->kind == ENTRY_ALERT;
}

static void load_span(int64_t id, int64_t start, int64_t end, void *arg)
{
	struct inc *in = find(id);

	if (in != NULL)
		span_push(in, start, end);
}

int incident_load_readonly(const char *state_dir, const char *url, char *err, size_t errlen)
{
	const struct store_loader l = {load_incident, load_entry, load_span, NULL};

	incident_reset();
	if (store_open_readonly(state_dir, url, err, errlen) < 0)
		return -1;
	if (store_load_incidents(&l) < 0) {
		snprintf(err, errlen, "%s: cannot read the incidents", store_where());
		store_close();
		incident_reset();
		return -1;
	}
	return 0;
}

int incident_init(const char *state_dir, const char *url, char *err, size_t errlen)
{
	const struct store_loader l = {load_incident, load_entry, load_span, NULL};
	size_t open = 0;
	int64_t now = clock_wall();

	incident_reset();
	boot = now;
	if (store_open(state_dir, url, now, err, errlen) < 0)
		return -1;
	if (store_load_incidents(&l) < 0) {
		snprintf(err, errlen, "%s: cannot read the incidents", store_where());
		goto fail;
	}
	history_trim(now);
	if (store_last_id() > last_id)
		last_id = store_last_id();
	if (bus_subscribe_deferred(registry.base, BUS_PHASE_INCIDENTS, on_bus, on_round_done,
	                           NULL) < 0) {
		snprintf(err, errlen, "incidents: cannot subscribe to the bus");
		goto fail;
	}
	for (size_t i = 0; i < n_incs; i++)
		open += incs[i]->pub.resolved == 0;
	log_info("incidents: %zu open, %zu past, from %s", open, n_incs - open, store_where());
	return 0;
fail:
	incident_deinit();
	return -1;
}

void incident_deinit(void)
{
	store_close();
	incident_reset();
}
