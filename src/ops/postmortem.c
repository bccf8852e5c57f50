/* Postmortem drafts: an incident rendered as Markdown, with English or Japanese headings. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ops/postmortem.h"
#include "ops/remedy.h"
#include "ops/similar.h"

#define BIT(x)   (1u << (x))
#define CUT_ROOM 96 /* kept free for the line that says the draft was cut */

const char *const pm_lang_names[PM_LANG_COUNT] = {[PM_EN] = "en", [PM_JA] = "ja"};

enum pm_word {
	W_TITLE = 0,
	W_WHAT,
	W_TIMELINE,
	W_IMPACT,
	W_CUSTOMER,
	W_FUNCTION,
	W_TIME,
	W_INVESTIGATION,
	W_ROOT,
	W_PREVENTION,
	W_PREVENT,
	W_DETECT,
	W_MITIGATE,
	W_FIX,
	W_START,
	W_DETECTION,
	W_ACK,
	W_MITIGATION,
	W_RESOLUTION,
	W_ANSWERED,
	W_FAILED,
	W_RETRIED,
	W_REFUSED,
	W_TODO,
	W_SUGGESTED,
	W_NOT_RECORDED,
	W_COUNT
};

/* The words of each language: headings and labels (the content stays as recorded). */
static const char *const words[PM_LANG_COUNT][W_COUNT] = {
    [PM_EN] =
        {
            [W_TITLE] = "Postmortem",      [W_WHAT] = "What happened",
            [W_TIMELINE] = "Timeline",     [W_IMPACT] = "Impact",
            [W_CUSTOMER] = "By customer",  [W_FUNCTION] = "By function",
            [W_TIME] = "By time",          [W_INVESTIGATION] = "Investigation",
            [W_ROOT] = "Root cause",       [W_PREVENTION] = "Prevention",
            [W_PREVENT] = "Prevent",       [W_DETECT] = "Detect",
            [W_MITIGATE] = "Mitigate",     [W_FIX] = "Fix",
            [W_START] = "start",           [W_DETECTION] = "detection",
            [W_ACK] = "acknowledgement",   [W_MITIGATION] = "mitigation",
            [W_RESOLUTION] = "resolution", [W_ANSWERED] = "answered",
            [W_FAILED] = "failed",         [W_RETRIED] = "retried",
            [W_REFUSED] = "refused",       [W_TODO] = "(to be written)",
            [W_SUGGESTED] = "suggested",   [W_NOT_RECORDED] = "not recorded",
        },
    [PM_JA] =
        {
            [W_TITLE] = "ポストモーテム",
            [W_WHAT] = "何が起きたか",
            [W_TIMELINE] = "タイムライン",
            [W_IMPACT] = "影響",
            [W_CUSTOMER] = "顧客への影響",
            [W_FUNCTION] = "機能への影響",
            [W_TIME] = "時間への影響",
            [W_INVESTIGATION] = "調査",
            [W_ROOT] = "根本原因",
            [W_PREVENTION] = "再発防止",
            [W_PREVENT] = "予防",
            [W_DETECT] = "検知",
            [W_MITIGATE] = "緩和",
            [W_FIX] = "復旧",
            [W_START] = "発生",
            [W_DETECTION] = "検知",
            [W_ACK] = "受付",
            [W_MITIGATION] = "緩和",
            [W_RESOLUTION] = "解決",
            [W_ANSWERED] = "応答",
            [W_FAILED] = "失敗",
            [W_RETRIED] = "再試行",
            [W_REFUSED] = "拒否",
            [W_TODO] = "(未記入)",
            [W_SUGGESTED] = "提案",
            [W_NOT_RECORDED] = "記録なし",
        },
};

/* The Markdown being written: bounded, cut once full. */
struct out {
	char *p;
	size_t len, cap; /* CAP excludes CUT_ROOM */
	bool cut;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->cut)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->p[o->len] = '\0'; /* drop the partial piece */
		o->cut = true;
		return;
	}
	o->len += (size_t)n;
}

void pm_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;

	if (ms < 0)
		snprintf(buf, len, "-");
	else if (ms < 1000)
		snprintf(buf, len, "%lldms", (long long)ms);
	else if (s < 60)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm %llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, len, "%lldh %lldm %llds", (long long)(s / 3600),
		         (long long)(s / 60 % 60), (long long)(s % 60));
}

/* "2026-11-21 12:00:05Z"; "-" for 0. */
static void when(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static void what_happened(struct out *o, const struct incident *inc, const struct similar *sim,
                          const char *const *w, int64_t now)
{
	char a[32], b[32], d[32];

	when(inc->started, a, sizeof(a));
	when(inc->resolved, b, sizeof(b));
	pm_duration((inc->resolved > 0 ? inc->resolved : now) - inc->started, d, sizeof(d));
	put(o, "## %s\n\n%s\n\n", w[W_WHAT], inc->title);
	put(o, "- pool: %s\n- backend: %s\n- verdict: %s\n", inc->pool[0] ? inc->pool : "-",
	    inc->backend[0] ? inc->backend : "-", inc->verdict[0] ? inc->verdict : "-");
	put(o, "- %s: %s\n- %s: %s\n- duration: %s%s\n", w[W_START], a, w[W_RESOLUTION], b, d,
	    inc->resolved > 0 ? "" : " (open)");
	if (sim != NULL) {
		pm_duration(sim->median_ms, d, sizeof(d));
		put(o,
		    "- similar incidents in the 90 days before: %zu (median time to resolve %s)\n",
		    sim->count, d);
	}
	put(o, "\n");
}

static void timeline(struct out *o, const struct incident *inc, const char *const *w)
{
	char at[32];

	put(o, "## %s\n\n", w[W_TIMELINE]);
	for (size_t i = 0; i < inc->n_entries; i++) {
		const struct incident_entry *e = &inc->entries[i];

		when(e->at, at, sizeof(at));
		if (e->kind == ENTRY_UPDATE && e->status < UPD_COUNT)
			put(o, "- %s [%s %s] %s\n", at, entry_kind_names[e->kind],
			    update_status_names[e->status], e->text);
		else
			put(o, "- %s [%s] %s\n", at,
			    e->kind < ENTRY_COUNT ? entry_kind_names[e->kind] : "?", e->text);
	}
	put(o, "\n");
}

/* The moments of the by-time table, Unix ms (0: not reached). */
struct moments {
	int64_t t[5]; /* start, detection, acknowledgement, mitigation, resolution */
};

static struct moments moments_of(const struct incident *inc)
{
	struct moments m = {{inc->started, inc->started, inc->acked, 0, inc->resolved}};

	for (size_t i = 0; i < inc->n_entries; i++) {
		const struct incident_entry *e = &inc->entries[i];
		bool mitigating = e->kind == ENTRY_ACTION ||
		                  (e->kind == ENTRY_UPDATE && e->status >= UPD_MONITORING);

		if (e->at > 0 && e->at < m.t[0])
			m.t[0] = e->at;
		if (e->kind == ENTRY_OPEN && i == 0)
			m.t[1] = e->at;
		if (mitigating && m.t[3] == 0)
			m.t[3] = e->at;
	}
	return m;
}

static void impact(struct out *o, const struct incident *inc, const struct pm_counts *c,
                   const char *const *w)
{
	static const enum pm_word label[5] = {W_START, W_DETECTION, W_ACK, W_MITIGATION,
	                                      W_RESOLUTION};
	struct moments m = moments_of(inc);
	char at[32], d[32];

	put(o, "## %s\n\n### %s\n\n", w[W_IMPACT], w[W_CUSTOMER]);
	if (c == NULL || !c->known)
		put(o, "%s\n\n", w[W_NOT_RECORDED]);
	else
		put(o,
		    "| %s | %s | %s | %s |\n|---|---|---|---|\n| %llu | %llu | %llu | %llu |\n\n",
		    w[W_ANSWERED], w[W_FAILED], w[W_RETRIED], w[W_REFUSED],
		    (unsigned long long)c->answered, (unsigned long long)c->failed,
		    (unsigned long long)c->retried, (unsigned long long)c->refused);
	put(o, "### %s\n\n- pools: %s\n- methods:", w[W_FUNCTION], inc->pool[0] ? inc->pool : "-");
	if (c == NULL || !c->known)
		put(o, " %s", w[W_NOT_RECORDED]);
	else if (c->n_methods == 0)
		put(o, " -");
	for (size_t i = 0; c != NULL && c->known && i < c->n_methods; i++)
		put(o, "%s %s %llu (%llu %s)", i ? "," : "",
		    strcmp(c->methods[i].name, "-") == 0 ? "(no method)" : c->methods[i].name,
		    (unsigned long long)c->methods[i].requests,
		    (unsigned long long)c->methods[i].failed, w[W_FAILED]);
	put(o, "\n\n");
	put(o, "### %s\n\n| | time | +start |\n|---|---|---|\n", w[W_TIME]);
	for (int i = 0; i < 5; i++) {
		when(m.t[i], at, sizeof(at));
		pm_duration(m.t[i] > 0 ? m.t[i] - m.t[0] : -1, d, sizeof(d));
		put(o, "| %s | %s | %s |\n", w[label[i]], at, d);
	}
	put(o, "\n");
}

static void investigation(struct out *o, const struct incident *inc, const char *const *w)
{
	char causes[160];
	size_t off = 0;

	causes[0] = '\0';
	for (size_t c = 0; c < RC_COUNT && off < sizeof(causes); c++)
		if (inc->causes & BIT(c))
			off += (size_t)snprintf(causes + off, sizeof(causes) - off, "%s%s",
			                        off ? ", " : "", remedy_cause_names[c]);
	put(o, "## %s\n\n- metrics seen: %s\n", w[W_INVESTIGATION], off ? causes : "-");
	for (size_t i = 0; i < inc->n_entries; i++)
		if (inc->entries[i].kind == ENTRY_TRANSITION || inc->entries[i].kind == ENTRY_OPEN)
			put(o, "- %s\n", inc->entries[i].text);
	put(o, "\n");
}

/* The suggested interventions of the actions in MASK, "; " between them. */
static void suggested(struct out *o, unsigned actions, unsigned mask, const char *const *w)
{
	bool any = false;

	for (int a = 0; a < RA_COUNT; a++)
		if (actions & mask & BIT(a)) {
			put(o, "%s%s", any ? "; " : "", remedy_action_text((enum remedy_action)a));
			any = true;
		}
	put(o, any ? " (%s)\n" : "%s\n", any ? w[W_SUGGESTED] : w[W_TODO]);
}

static void prevention(struct out *o, const struct incident *inc, const struct pm_fields *f,
                       const char *const *w)
{
	/* which suggested intervention belongs to which part */
	static const unsigned part_actions[4] = {BIT(RA_UPGRADE) | BIT(RA_HARDWARE) |
	                                             BIT(RA_NETWORK),
	                                         0, BIT(RA_REDIRECT), BIT(RA_RESTART)};
	static const enum pm_word part_word[4] = {W_PREVENT, W_DETECT, W_MITIGATE, W_FIX};
	const char *given[4] = {f ? f->prevent : NULL, f ? f->detect : NULL, f ? f->mitigate : NULL,
	                        f ? f->fix : NULL};
	const char *root = f != NULL ? f->root_cause : NULL;
	unsigned actions = remedy_actions(inc->causes);

	put(o, "## %s\n\n%s\n\n", w[W_ROOT], root != NULL && root[0] ? root : w[W_TODO]);
	put(o, "## %s\n\n", w[W_PREVENTION]);
	for (int i = 0; i < 4; i++) {
		put(o, "### %s\n\n", w[part_word[i]]);
		if (given[i] != NULL && given[i][0] != '\0')
			put(o, "%s\n", given[i]);
		else
			suggested(o, actions, part_actions[i], w);
		put(o, "\n");
	}
}

size_t pm_render(const struct incident *inc, const struct pm_counts *counts,
                 const struct pm_fields *f, const struct similar *sim, enum pm_lang lang,
                 int64_t now, char *buf, size_t len)
{
	const char *const *w = words[lang < PM_LANG_COUNT ? lang : PM_EN];
	struct out o = {buf, 0, len > CUT_ROOM ? len - CUT_ROOM : 0, false};

	if (len == 0)
		return 0;
	buf[0] = '\0';
	put(&o, "# %s: incident %lld\n\n", w[W_TITLE], (long long)inc->id);
	what_happened(&o, inc, sim, w, now);
	timeline(&o, inc, w);
	impact(&o, inc, counts, w);
	investigation(&o, inc, w);
	prevention(&o, inc, f, w);
	if (o.cut && len > CUT_ROOM)
		o.len +=
		    (size_t)snprintf(buf + o.len, len - o.len, "\n(cut at %zu bytes)\n", o.len);
	return o.len;
}
