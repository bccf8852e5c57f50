/* The public status page (GET /): what a user needs during an outage, in plain words with
 * times: the overall state, each pool and its nodes, a 90-day uptime bar, the open
 * incidents with their ops updates, and the past ones. One self-contained HTML answer built
 * on the loop from the running state and the incident history; a small script refreshes it
 * in place, and without the script it is the same page. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/evp.h>

#include "util.h"
#include "clock.h"
#include "ops/incident.h"
#include "log.h"
#include "health/poolstat.h"
#include "ops/out.h"
#include "ops/page.h"
#include "ops/subs.h"
#include "ops/redact.h"
#include "registry.h"
#include "ops/status.h"
#include "ops/notice.h"
#include "ops/words.h"
#include "ops/chart.h"

#define DAY_MS     86400000LL
#define BAR_DAYS   90                      /* days in an uptime bar, today included */
#define LIST_MAX   100                     /* incidents asked for: the open ones, then recent */
#define PAST_MAX   20                      /* resolved incidents shown */
#define REFRESH_S  5                       /* the script fetches the page again this often */
#define RELOAD_S   60                      /* without the script, the page reloads this often */
#define TEXT_MAX   (2 * INCIDENT_TEXT_MAX) /* a text with its addresses hidden */
#define MINOR_MS   (15 * 60 * 1000LL)      /* a day down less than this: minor (legend) */
#define PARTIAL_MS (2 * 60 * 60 * 1000LL)  /* ... less: partial, else major (legend) */

/* How each pool status reads: the colour comes from the class s-NAME, and a shape goes
 * with every colour so that the colour is never the only sign. */
static const struct {
	enum word word;    /* a pool's status */
	enum word overall; /* the whole service's, for the banner */
	const char *icon;  /* HTML entity */
	const char *fill;  /* the favicon's colour (URL-encoded #) */
} words[PS_COUNT] = {
    [PS_OPERATIONAL] = {W_OPERATIONAL, W_ALL_OPERATIONAL, "&#10003;", "%23007a55"},
    [PS_DEGRADED] = {W_DEGRADED, W_DEGRADED, "&#9650;", "%23e9c21b"},
    [PS_PARTIAL_OUTAGE] = {W_PARTIAL_OUTAGE, W_PARTIAL_OUTAGE, "&#9670;", "%23e07b00"},
    [PS_MAJOR_OUTAGE] = {W_MAJOR_OUTAGE, W_MAJOR_OUTAGE, "&#10005;", "%23b3261e"},
};

static const enum word state_words[HS_COUNT] = {
    [HS_CHECKING] = W_NODE_CHECKING,     [HS_UP] = W_NODE_UP,
    [HS_SLOW_START] = W_NODE_RECOVERING, [HS_DOWN] = W_NODE_DOWN,
    [HS_SYNCING] = W_NODE_SYNCING,
};

static const enum word update_words[UPD_COUNT] = {
    [UPD_INVESTIGATING] = W_UPD_INVESTIGATING,
    [UPD_IDENTIFIED] = W_UPD_IDENTIFIED,
    [UPD_MONITORING] = W_UPD_MONITORING,
    [UPD_RESOLVED] = W_UPD_RESOLVED,
};

/* The language of the answer being written (one request at a time, on the loop). */
static enum words_lang L;
#define T(w) words_get(L, (w))

/* ---- the inline style and script (their hashes go in the Content-Security-Policy) ------ */

static const char page_css[] =
    ":root{--bg:#f6f8fa;--card:#fff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--none:#dde3e9}"
    "@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--fg:#e6edf3;"
    "--muted:#9198a1;--line:#30363d;--none:#2d333b}}"
    "*{box-sizing:border-box}"
    "body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"
    "\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif;-webkit-text-size-adjust:100%}"
    ".wrap{max-width:860px;margin:0 auto;padding:28px 16px 40px}"
    "h1{font-size:1.6rem;margin:0 0 18px;font-weight:700;overflow-wrap:anywhere}"
    "h2{font-size:1.15rem;margin:34px 0 10px}"
    "h3{font-size:1.02rem;margin:0;overflow-wrap:anywhere}"
    "p{margin:0}"
    ".s-operational{--c:#007a55;--on:#fff}.s-degraded{--c:#e9c21b;--on:#1f2328}"
    ".s-partial_outage{--c:#e07b00;--on:#1f2328}.s-major_outage{--c:#b3261e;--on:#fff}"
    ".s-maint{--c:#2f6eb5;--on:#fff}"
    ".banner{display:flex;gap:16px;align-items:center;padding:18px 22px;border-radius:12px;"
    "background:var(--c);color:var(--on)}"
    ".banner .icon{flex:none;font-size:1.5rem;width:2.6rem;height:2.6rem;display:grid;"
    "place-items:center;border-radius:50%;background:rgba(255,255,255,.25)}"
    ".banner h2{margin:0;font-size:1.35rem}.banner a{color:inherit}"
    ".banner p{font-size:.92rem;opacity:.95}.banner .rel{color:inherit}"
    ".badge{display:inline-flex;gap:.4em;align-items:center;white-space:nowrap;padding:2px 10px;"
    "border-radius:999px;background:var(--c);color:var(--on);font-size:.8rem;font-weight:600}"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:12px;"
    "padding:16px 18px;margin:12px 0}"
    ".head{display:flex;flex-wrap:wrap;gap:6px 12px;align-items:center;"
    "justify-content:space-between}"
    ".panic{margin:12px 0 0;padding:8px 12px;border-left:4px solid var(--c);border-radius:4px;"
    "background:var(--bg);font-size:.9rem}"
    ".bar{display:flex;gap:2px;height:34px;margin:16px 0 6px}"
    ".bar .d{flex:1;min-width:1px;border-radius:2px}.bar .d:hover{opacity:.6}"
    ".d-none{background:var(--none)}.d-ok{background:#1f9d74}.d-minor{background:#e9c21b}"
    ".d-partial{background:#e07b00}.d-major{background:#b3261e}"
    ".legend{display:flex;flex-wrap:wrap;gap:2px 16px;margin:0;font-size:.8rem;"
    "color:var(--muted)}.legend i{display:inline-block;width:10px;height:10px;"
    "border-radius:2px;margin-right:6px}"
    ".foot{display:flex;justify-content:space-between;gap:8px;font-size:.78rem;"
    "color:var(--muted)}.foot .up{color:var(--fg);font-weight:600}"
    ".nodes{list-style:none;margin:14px 0 0;padding:0}"
    ".node{display:flex;flex-wrap:wrap;align-items:baseline;gap:0 10px;padding:7px 0;"
    "border-top:1px solid var(--line);font-size:.93rem}"
    ".node .g{color:var(--c);width:1.1rem;text-align:center}.node .n{font-weight:600;"
    "overflow-wrap:anywhere}.node .st{color:var(--c);font-weight:600}"
    ".node .why{flex-basis:100%;padding-left:1.75rem;color:var(--muted);font-size:.84rem;"
    "overflow-wrap:anywhere}.node .addr{color:var(--muted);font-size:.84rem}"
    ".n-ok{--c:#007a55}.n-warn{--c:#8a6a00}.n-down{--c:#b3261e}.n-maint{--c:#2f6eb5}"
    "@media (prefers-color-scheme:dark){.n-ok{--c:#3fb68b}.n-warn{--c:#e3b341}"
    ".n-down{--c:#ff7b72}.n-maint{--c:#79b8ff}}"
    ".incident{border-left:6px solid var(--c)}"
    ".meta{color:var(--muted);font-size:.88rem;margin-top:4px}"
    ".latest{margin:12px 0 4px;padding:10px 14px;border-radius:8px;background:var(--bg)}"
    ".latest p+p{margin-top:4px}.msg{white-space:pre-wrap;overflow-wrap:anywhere}"
    ".ustat{font-weight:700}"
    ".late{color:#b3261e;font-weight:600}"
    "@media (prefers-color-scheme:dark){.late{color:#ff7b72}}"
    ".tl{list-style:none;margin:10px 0 0 6px;padding:0 0 0 16px;border-left:2px solid var(--line)}"
    ".tl li{position:relative;margin:0 0 10px;font-size:.9rem;overflow-wrap:anywhere}"
    ".tl li::before{content:\"\";position:absolute;left:-23px;top:.45em;width:12px;height:12px;"
    "border-radius:50%;background:var(--card);border:2px solid var(--line)}"
    ".tl li.k-update::before{background:#2f6eb5;border-color:#2f6eb5}"
    ".tl li.k-resolve::before{background:#007a55;border-color:#007a55}"
    ".tl .k{font-weight:600}.tl .when{display:block;color:var(--muted);"
    "font-size:.8rem}"
    ".rel{color:var(--muted);font-size:.85em}"
    "details>summary{cursor:pointer}"
    "details.past{padding:12px 16px}details.past>summary{display:flex;flex-wrap:wrap;"
    "gap:4px 10px;align-items:center}details.past>summary::-webkit-details-marker{display:none}"
    "details.past>summary::before{content:\"\\25B8\";color:var(--muted)}"
    "details.past[open]>summary::before{content:\"\\25BE\"}"
    "details.past>summary .t{font-weight:600;flex:1 1 12rem;overflow-wrap:anywhere}"
    "details.tlbox{margin-top:8px}details.tlbox>summary{color:var(--muted);font-size:.88rem}"
    ".empty{color:var(--muted)}"
    ".stale{margin:0 0 14px;padding:10px 14px;border-radius:8px;background:#fff4d6;"
    "color:#4d3800;border:1px solid #e9c21b}"
    "footer{margin-top:40px;color:var(--muted);font-size:.84rem;text-align:center}"
    ".charts{margin:12px 0 0}.charts h4{margin:0 0 4px;font-size:.88rem;color:var(--muted)}"
    ".chart{margin:6px 0}.chart figcaption{font-size:.8rem;color:var(--muted)}"
    ".chart svg{display:block;width:100%;height:auto;max-height:80px}"
    ".chart .p50{color:#007a55}.chart .p99{color:#e07b00}"
    ".notice h3,.notice h4{margin:10px 0 4px}.notice ul{margin:4px 0;padding-left:20px}"
    ".notice p{margin:6px 0}"
    "@media (max-width:560px){.wrap{padding:18px 12px 32px}.bar{gap:1px;height:30px}"
    ".banner{padding:14px 16px}h1{font-size:1.35rem}}";

/* Refreshes the page in place: fetches it again, swaps the main element (keeping which
 * folds the reader opened), and keeps every relative time current on the server's clock. */
static const char page_js[] =
    "(function(){\"use strict\";"
    "var every=1000*(+document.getElementById(\"page\").getAttribute(\"data-refresh\")||5),"
    "skew=0,failed=0,W=(document.getElementById(\"page\").getAttribute(\"data-words\")||"
    "\"\").split(\"|\"),ST=document.getElementById(\"page\").getAttribute(\"data-stale\")||\"\";"
    "function span(ms){var s=Math.round(ms/1000),m,h,d;"
    "if(s<45)return\"\";m=Math.round(s/60);if(m<90)return m+\" \"+W[0];"
    "if(m<1440){h=Math.floor(m/60);return h+\" \"+W[1]+(m%60?\" \"+m%60+\" \"+W[0]:\"\");}"
    "d=Math.round(m/1440);return d+\" \"+(d==1?W[2]:W[3]);}"
    "function ago(t){var d=Date.now()+skew-t,x=span(Math.abs(d));"
    "if(d>=0)return x?W[4].replace(\"%s\",x):W[5];return x?W[6].replace(\"%s\",x):W[7];}"
    "function utc(t){return new Date(t).toISOString().slice(11,19)+\" UTC\";}"
    "function page(){return document.getElementById(\"page\");}"
    "function setSkew(p){var n=+p.getAttribute(\"data-now\");if(n)skew=n-Date.now();}"
    "function tick(){document.querySelectorAll(\"[data-t]\").forEach(function(e){"
    "e.textContent=ago(+e.getAttribute(\"data-t\"));});"
    "var s=document.getElementById(\"stale\");s.hidden=!failed;if(failed)s.textContent="
    "ST.replace(\"%1\",utc(failed)).replace(\"%2\",ago(failed)).replace(\"%3\",every/1000);}"
    "function swap(html){var doc=new DOMParser().parseFromString(html,\"text/html\"),"
    "next=doc.getElementById(\"page\"),cur=page(),a,b;"
    "if(!next||!cur)throw new Error(\"not the status page\");"
    "cur.querySelectorAll(\"details[id]\").forEach(function(d){"
    "var n=doc.getElementById(d.id);if(n)n.open=d.open;});"
    "cur.replaceWith(document.importNode(next,true));document.title=doc.title;"
    "a=doc.querySelector(\"link[rel=icon]\");b=document.querySelector(\"link[rel=icon]\");"
    "if(a&&b)b.href=a.href;setSkew(page());}"
    "function refresh(){if(document.hidden){setTimeout(refresh,every);return;}"
    "fetch(location.pathname,{cache:\"no-store\",credentials:\"omit\"})"
    ".then(function(r){if(!r.ok)throw new Error(\"HTTP \"+r.status);return r.text();})"
    ".then(function(t){swap(t);failed=0;})"
    ".catch(function(){if(!failed)failed=Date.now()+skew;})"
    ".then(function(){tick();setTimeout(refresh,every);});}"
    "document.getElementById(\"live\").hidden=false;setSkew(page());tick();"
    "setInterval(tick,1000);setTimeout(refresh,every);})();";

/* The mirror's copy (page_render with a struct page_copy) says its own age on the reader's
 * clock: the time it was made against Date.now(), and plainly that the service may be down
 * once it is older than the copy's stale_after (no skew: the reader's clock is the judge). */
static const char copy_js[] =
    "(function(){\"use strict\";"
    "function span(ms){var s=Math.round(ms/1000),m,h,d;"
    "if(s<45)return s+\" s\";m=Math.round(s/60);if(m<90)return m+\" min\";"
    "if(m<1440){h=Math.floor(m/60);return h+\" h\"+(m%60?\" \"+m%60+\" min\":\"\");}"
    "d=Math.round(m/1440);return d+(d==1?\" day\":\" days\");}"
    "function utc(t){return new Date(t).toISOString().slice(0,19).replace(\"T\",\" \")+\" UTC\";}"
    "function tick(){var c=document.getElementById(\"copy\"),w=document.getElementById("
    "\"copy-stale\"),g,lim,age,old;if(!c||!w)return;"
    "g=+c.getAttribute(\"data-generated\");lim=+c.getAttribute(\"data-stale-after\");"
    "age=Math.max(0,Date.now()-g);old=age>lim;"
    "c.textContent=\"This is a copy of the status page, made \"+span(age)+\" ago (\"+utc(g)+"
    "\"). It is refreshed every \"+c.getAttribute(\"data-every\")+\" while nodegate runs.\";"
    "document.documentElement.setAttribute(\"data-copy\",old?\"stale\":\"fresh\");"
    "w.hidden=!old;if(old)w.textContent=\"This copy is \"+span(age)+\" old: it has not been "
    "refreshed for more than \"+c.getAttribute(\"data-stale-words\")+\". nodegate, or the "
    "service it watches, may be down; what this page shows may be out of date.\";}"
    "tick();setInterval(tick,1000);})();";

static char css_hash[HASH_B64], js_hash[HASH_B64], copy_hash[HASH_B64];
static int64_t started_wall;  /* when page_init ran: the uptime record begins then at the latest */
static int64_t history_first; /* the record's first point (0: not looked for yet) */

/* ---- writing HTML ------------------------------------------------------------------------ */

/* What stands for C in HTML text and attribute values, or NULL when C stands for itself. */
static const char *entity(unsigned char c, const void *arg)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\'':
		return "&#39;";
	}
	return c < 0x20 || c == 0x7f ? " " : NULL;
}

/* S (from the config, a backend or an incident) as HTML text or attribute value: markup
 * characters escaped, control characters as spaces, bytes that are not UTF-8 as U+FFFD. */
static void out_esc(struct out *o, const char *s)
{
	out_escape(o, s, out_utf8_seq, entity, NULL);
}

int page_esc(struct evbuffer *b, const char *s)
{
	struct out o = {.b = b};

	out_esc(&o, s);
	return o.rc;
}

/* ---- times ------------------------------------------------------------------------------- */

/* Part I of the relative-time words (W_REL: min|h|day|days|%s ago|just now|in %s|...). */
static void rel_word(int i, char *buf, size_t len)
{
	const char *p = T(W_REL);

	for (; i > 0 && p != NULL; i--)
		p = strchr(p, '|') != NULL ? strchr(p, '|') + 1 : NULL;
	snprintf(buf, len, "%.*s", p != NULL ? (int)strcspn(p, "|") : 0, p != NULL ? p : "");
}

/* A length of time as people say it: "" under 45 s, "12 min", "2 h 5 min", "3 days" (the
 * script's span() says the same). */
static void span_text(int64_t ms, char *buf, size_t len)
{
	int64_t s = (ms + 500) / 1000, m = (s + 30) / 60, d = (m + 720) / 1440;
	char mn[20], h[20], dy[20];

	rel_word(0, mn, sizeof(mn));
	rel_word(1, h, sizeof(h));
	rel_word(d == 1 ? 2 : 3, dy, sizeof(dy));
	if (s < 45)
		snprintf(buf, len, "%s", "");
	else if (m < 90)
		snprintf(buf, len, "%lld %s", (long long)m, mn);
	else if (m < 1440 && m % 60 != 0)
		snprintf(buf, len, "%lld %s %lld %s", (long long)(m / 60), h, (long long)(m % 60),
		         mn);
	else if (m < 1440)
		snprintf(buf, len, "%lld %s", (long long)(m / 60), h);
	else
		snprintf(buf, len, "%lld %s", (long long)d, dy);
}

/* FMT (a W_REL part with one %s) with X. */
static void rel_fill(int part, const char *x, char *buf, size_t len)
{
	char fmt[64], *at;

	rel_word(part, fmt, sizeof(fmt));
	at = strstr(fmt, "%s");
	if (at == NULL) {
		snprintf(buf, len, "%s", fmt);
		return;
	}
	*at = '\0';
	snprintf(buf, len, "%s%s%s", fmt, x, at + 2);
}

/* T relative to NOW: "just now", "12 min ago", "in 5 min" (the script's ago()). */
static void rel_text(int64_t t, int64_t now, char *buf, size_t len)
{
	char x[96];

	span_text(now >= t ? now - t : t - now, x, sizeof(x));
	if (now >= t && x[0] != '\0')
		rel_fill(4, x, buf, len);
	else if (now >= t)
		rel_word(5, buf, len);
	else if (x[0] != '\0')
		rel_fill(6, x, buf, len);
	else
		rel_word(7, buf, len);
}

/* T as "2026-11-21 10:14 UTC" in a <time>, then its relative time, which the script keeps
 * current. FMT: the strftime format of the UTC part. */
static void out_time_fmt(struct out *o, int64_t t, int64_t now, const char *fmt)
{
	char iso[32], shown[48], rel[128];

	out_utc(t, "%Y-%m-%dT%H:%M:%SZ", iso, sizeof(iso));
	out_utc(t, fmt, shown, sizeof(shown));
	rel_text(t, now, rel, sizeof(rel));
	outf(o,
	     "<time datetime=\"%s\">%s</time> <span class=\"rel\">(<span data-t=\"%lld\">%s</span>)"
	     "</span>",
	     iso, shown, (long long)t, rel);
}

static void out_time(struct out *o, int64_t t, int64_t now)
{
	out_time_fmt(o, t, now, "%Y-%m-%d %H:%M UTC");
}

/* ---- addresses hidden -------------------------------------------------------------------- */

/* S escaped, its addresses hidden unless the configuration makes them public. */
static void out_public(struct out *o, const char *s, bool details)
{
	char text[TEXT_MAX];

	if (details) {
		out_esc(o, s);
		return;
	}
	snprintf(text, sizeof(text), "%s", s);
	redact_text(text, sizeof(text));
	out_esc(o, text);
}

/* ---- pools ------------------------------------------------------------------------------- */

/* What the reader of one request needs: the time on both clocks and the settings. */
struct ctx {
	const struct page_copy *copy; /* the mirror's static copy, NULL for the live page */
	int64_t now;                  /* wall clock, Unix ms */
	uint64_t mono;                /* clock_now() at the same instant */
	bool details;                 /* public_backend_details */
	int64_t first;                /* the uptime record's first point */
};

static int64_t mono_to_wall(const struct ctx *c, uint64_t mono)
{
	return c->now - ((int64_t)c->mono - (int64_t)mono);
}

/* When the uptime record begins: the oldest incident kept, or this process's start. Found
 * once, as later incidents only start later. */
static int64_t history_start(void)
{
	if (history_first == 0) {
		int64_t first = incident_record_start();

		history_first = first < started_wall ? first : started_wall;
	}
	return history_first;
}

/* One day of a bar: the class for its colour and the words for its title. */
static const char *day_class(int64_t down)
{
	return down == 0           ? "d-ok"
	       : down < MINOR_MS   ? "d-minor"
	       : down < PARTIAL_MS ? "d-partial"
	                           : "d-major";
}

static void out_day(struct out *o, int64_t start, int64_t seen, int64_t down, bool today)
{
	char day[16], len[96];

	out_utc(start, "%Y-%m-%d", day, sizeof(day));
	span_text(down, len, sizeof(len));
	outf(o, "<span class=\"d %s\" title=\"%s%s: ", seen == 0 ? "d-none" : day_class(down), day,
	     today ? T(W_TODAY_SO_FAR) : "");
	if (seen == 0)
		outs(o, T(W_NO_DATA));
	else if (down == 0)
		outs(o, T(W_NO_DOWNTIME));
	else
		outf(o, T(W_DOWN), down < 60000 ? T(W_UNDER_A_MINUTE) : len);
	outs(o, "\"></span>");
}

/* "99.98 %" of UP out of SEEN, rounded down so that any downtime shows. */
static void uptime_text(int64_t seen, int64_t down, char *buf, size_t len)
{
	int64_t u = seen > 0 ? (seen - down) * 10000 / seen : 0;

	char pct[32];

	if (seen == 0) {
		snprintf(buf, len, "%s", T(W_NO_DATA_YET));
		return;
	}
	if (down == 0)
		snprintf(pct, sizeof(pct), "100");
	else
		snprintf(pct, sizeof(pct), "%lld.%02lld", (long long)(u < 9999 ? u : 9999) / 100,
		         (long long)(u < 9999 ? u : 9999) % 100);
	snprintf(buf, len, T(W_UPTIME), pct);
}

/* The 90-day bar: one mark per UTC day, oldest first, today last; its downtime from the
 * incident history, "no data" before the record begins. */
static void write_bar(struct out *o, const char *pool, const struct ctx *c)
{
	int64_t today = c->now - c->now % DAY_MS, seen[BAR_DAYS], down[BAR_DAYS];
	int64_t seen_all = 0, down_all = 0;
	char up[64], since[96];

	for (int i = 0; i < BAR_DAYS; i++) {
		int64_t from = today - (BAR_DAYS - 1 - i) * DAY_MS, to = from + DAY_MS;

		from = from > c->first ? from : c->first;
		to = to < c->now ? to : c->now;
		seen[i] = to > from ? to - from : 0;
		down[i] = seen[i] > 0 ? incident_downtime(pool, from, to) : 0;
		down[i] = down[i] < 0 ? 0 : down[i] > seen[i] ? seen[i] : down[i];
		seen_all += seen[i];
		down_all += down[i];
	}
	uptime_text(seen_all, down_all, up, sizeof(up));
	outs(o, "<div class=\"bar\" role=\"img\" aria-label=\"");
	out_esc(o, pool);
	outf(o, ", last %d days: %s\">", BAR_DAYS, up);
	for (int i = 0; i < BAR_DAYS; i++)
		out_day(o, today - (BAR_DAYS - 1 - i) * DAY_MS, seen[i], down[i],
		        i == BAR_DAYS - 1);
	if (c->first > today - (BAR_DAYS - 1) * DAY_MS) {
		char day[16];

		out_utc(c->first, "%Y-%m-%d", day, sizeof(day));
		snprintf(since, sizeof(since), T(W_NO_DATA_BEFORE), day);
	} else
		snprintf(since, sizeof(since), T(W_DAYS_AGO), BAR_DAYS);
	outf(o,
	     "</div><div class=\"foot\"><span>%s</span> <span class=\"up\" title=\"%s\">%s</span> "
	     "<span>%s</span></div>",
	     since, T(W_UPTIME_90), up, T(W_TODAY));
}

/* A node's class and words: maintenance and drain first (ops said so), then health. */
static void node_words(const struct backend *b, const char **cls, const char **glyph,
                       const char **word)
{
	enum health_state s = b->node->health.state;

	*word = T(state_words[s < HS_COUNT ? s : HS_CHECKING]);
	if (b->node->health.admin == ADMIN_MAINT) {
		*cls = "n-maint", *glyph = "&#9632;", *word = T(W_NODE_MAINT);
	} else if (b->node->health.admin == ADMIN_DRAIN) {
		*cls = "n-maint", *glyph = "&#9632;", *word = T(W_NODE_DRAINING);
	} else if (b->node->routable) {
		*cls = "n-ok", *glyph = "&#10003;";
	} else if (poolstat_up_elsewhere(b)) { /* the fleet's view: in service for users */
		*cls = "n-ok", *glyph = "&#10003;", *word = T(state_words[HS_UP]);
	} else if (s == HS_DOWN) {
		*cls = "n-down", *glyph = "&#10005;";
	} else {
		*cls = "n-warn", *glyph = "&#9650;";
	}
}

static void write_node(struct out *o, const struct backend *b, const struct ctx *c)
{
	const char *cls, *glyph, *word;
	char addr[300];

	node_words(b, &cls, &glyph, &word);
	outf(o,
	     "<li class=\"node %s\" data-state=\"%s\"><span class=\"g\" aria-hidden=\"true\">%s"
	     "</span><span class=\"n\">",
	     cls,
	     health_state_names[!b->node->routable && poolstat_up_elsewhere(b) ? HS_UP
	                        : b->node->health.state < HS_COUNT ? b->node->health.state
	                                                           : 0],
	     glyph);
	out_esc(o, b->name);
	outs(o, "</span>");
	if (c->details) {
		conf_addr_format(&b->conf.address, addr, sizeof(addr));
		outs(o, " <span class=\"addr\">");
		out_esc(o, addr);
		outs(o, "</span>");
	}
	/* the health engine's reason stays with ops (admin API, alerts, the log) */
	outf(o, " <span class=\"st\">%s</span> <span class=\"why\">", word);
	out_time(o, mono_to_wall(c, b->node->health.since), c->now);
	outs(o, "</span></li>");
}

static void write_pool(struct out *o, const struct pool *p, const struct ctx *c)
{
	struct pool_view v;

	poolstat_fleet_view(p, &v);
	enum pool_status s = poolstat_status_of(&v);

	outf(o, "<section class=\"card pool s-%s\" data-status=\"%s\" data-pool=\"",
	     pool_status_names[s], pool_status_names[s]);
	out_esc(o, p->name);
	outs(o, "\"><div class=\"head\"><h3>");
	out_esc(o, p->name);
	outf(o,
	     "</h3> <span class=\"badge\"><span aria-hidden=\"true\">%s</span> %s</span></div>"
	     "<p class=\"meta\">",
	     words[s].icon, T(words[s].word));
	outf(o, words_plural(L, W_NODES_IN_ROTATION, p->n_members), v.up, p->n_members);
	outs(o, "</p>");
	if (poolstat_in_panic(p)) {
		outs(o, "<p class=\"panic\">");
		outf(o, T(W_PANIC), v.up, (unsigned long long)p->conf.min_up);
		outs(o, "</p>");
	}
	write_bar(o, p->name, c);
	chart_write_html(p->name, L, o->b);
	outs(o, "<ul class=\"nodes\">");
	for (size_t i = 0; i < p->n_members; i++)
		write_node(o, p->members[i], c);
	outs(o, "</ul></section>");
}

/* ---- incidents --------------------------------------------------------------------------- */

static enum pool_status severity_of(const struct incident *inc)
{
	return inc->severity >= 0 && inc->severity < PS_COUNT ? (enum pool_status)inc->severity
	                                                      : PS_MAJOR_OUTAGE;
}

/* A planned maintenance shows as such, in blue; anything else by its worst status. */
static bool is_planned(const struct incident *inc)
{
	return inc->manual && inc->planned_start > 0;
}

static void write_badge(struct out *o, const struct incident *inc, const struct ctx *c)
{
	enum pool_status s = severity_of(inc);

	if (is_planned(inc) && inc->resolved == 0)
		outf(o,
		     "<span class=\"badge s-maint\"><span aria-hidden=\"true\">&#9632;</span> %s"
		     "</span>",
		     inc->planned_start > c->now ? T(W_MAINT_SCHEDULED_BADGE) : T(W_MAINT_BADGE));
	else if (inc->resolved != 0)
		outf(o,
		     "<span class=\"badge s-operational\"><span aria-hidden=\"true\">&#10003;"
		     "</span> %s</span>",
		     T(W_RESOLVED_BADGE));
	else
		outf(o, "<span class=\"badge s-%s\"><span aria-hidden=\"true\">%s</span> %s</span>",
		     pool_status_names[s], words[s].icon, T(words[s].word));
}

/* "Affects rpc · started ... · lasted 12 min", and the window of a planned one. */
static void write_meta(struct out *o, const struct incident *inc, const struct ctx *c)
{
	char len[96];
	int64_t end = inc->resolved != 0 ? inc->resolved : c->now;

	outs(o, "<p class=\"meta\">");
	outf(o, T(W_AFFECTS),
	     priority_names[inc->priority >= 0 && inc->priority < PRIO_COUNT ? inc->priority
	                                                                     : PRIO_P4]);
	outs(o, " <strong>");
	if (inc->pool[0] != '\0')
		out_esc(o, inc->pool);
	else
		outs(o, T(W_ALL_SERVICES));
	outf(o, "</strong> &middot; %s ", T(W_STARTED));
	out_time(o, inc->started, c->now);
	span_text(end - inc->started, len, sizeof(len));
	if (inc->resolved != 0) {
		outf(o, " &middot; %s ", T(W_RESOLVED_AT));
		out_time(o, inc->resolved, c->now);
	}
	outf(o, " &middot; %s %s</p>", inc->resolved != 0 ? T(W_LASTED) : T(W_ONGOING_FOR),
	     len[0] != '\0' ? len : T(W_UNDER_A_MINUTE));
	if (!is_planned(inc))
		return;
	outf(o, "<p class=\"meta\">%s ", T(W_PLANNED_WINDOW));
	out_time(o, inc->planned_start, c->now);
	outf(o, " %s ", T(W_TO));
	out_time(o, inc->planned_end, c->now);
	outs(o, "</p>");
}

static const struct incident_entry *latest_update(const struct incident *inc)
{
	for (size_t i = inc->n_entries; i > 0; i--)
		if (inc->entries[i - 1].kind == ENTRY_UPDATE)
			return &inc->entries[i - 1];
	return NULL;
}

/* FMT (one %s) with the time T (HH:MM UTC, and relative) in place of its %s. */
static void out_around(struct out *o, const char *fmt, int64_t t, int64_t now)
{
	const char *at = strstr(fmt, "%s");

	out_raw(o, fmt, at != NULL ? (size_t)(at - fmt) : strlen(fmt));
	if (at == NULL)
		return;
	out_time_fmt(o, t, now, "%H:%M UTC");
	outs(o, at + 2);
}

/* The expected recovery and the next update of E; once one has passed while the incident is
 * still open, it is said plainly. */
static void write_promises(struct out *o, const struct incident_entry *e, bool open,
                           const struct ctx *c)
{
	static const char late[] = "<p class=\"late\"><span aria-hidden=\"true\">&#9888; </span>";

	if (e->eta > 0 && (!open || e->eta > c->now)) {
		outf(o, "<p>%s ", T(W_EXPECTED_RECOVERY));
		out_time(o, e->eta, c->now);
		outs(o, "</p>");
	} else if (e->eta > 0) {
		outs(o, late);
		out_around(o, T(W_RECOVERY_LATE), e->eta, c->now);
		outs(o, "</p>");
	}
	if (e->next_update > 0 && open && e->next_update > c->now) {
		outf(o, "<p>%s ", T(W_NEXT_UPDATE));
		out_time_fmt(o, e->next_update, c->now, "%H:%M UTC");
		outs(o, "</p>");
	} else if (e->next_update > 0 && open) {
		outs(o, late);
		out_around(o, T(W_UPDATE_LATE), e->next_update, c->now);
		outs(o, "</p>");
	}
}

/* The latest ops update in a box, or plainly that there is none yet. */
static void write_latest(struct out *o, const struct incident *inc, const struct ctx *c)
{
	const struct incident_entry *e = latest_update(inc);
	bool open = inc->resolved == 0;

	outs(o, "<div class=\"latest\">");
	if (e == NULL) {
		outf(o, "<p>%s</p></div>", open ? T(W_NO_UPDATE_OPEN) : T(W_NO_UPDATE_PAST));
		return;
	}
	outf(o, "<p><span class=\"ustat\">%s</span> <span class=\"msg\">",
	     T(update_words[e->status < UPD_COUNT ? e->status : 0]));
	out_esc(o, e->text);
	outf(o, "</span></p><p class=\"meta\">%s ", T(W_POSTED));
	out_time(o, e->at, c->now);
	outs(o, "</p>");
	write_promises(o, e, open, c);
	outs(o, "</div>");
}

/* One timeline entry; ops words as written, the monitoring's with addresses hidden. */
static void write_entry(struct out *o, const struct incident *inc, const struct incident_entry *e,
                        const struct ctx *c)
{
	char text[INCIDENT_TEXT_MAX];
	const char *cls = e->kind == ENTRY_OPEN      ? "k-open"
	                  : e->kind == ENTRY_UPDATE  ? "k-update"
	                  : e->kind == ENTRY_RESOLVE ? "k-resolve"
	                                             : "k-admin";
	const char *kind = e->kind == ENTRY_OPEN      ? T(W_ENTRY_OPENED)
	                   : e->kind == ENTRY_RESOLVE ? T(W_ENTRY_RESOLVED)
	                   : e->kind == ENTRY_UPDATE
	                       ? T(update_words[e->status < UPD_COUNT ? e->status : 0])
	                       : T(W_MAINT_BADGE);

	if (!incident_public_text(inc, e, text, sizeof(text)))
		return;
	outf(o, "<li class=\"%s\"><span class=\"k\">%s</span> ", cls, kind);
	out_public(o, text, c->details || e->kind == ENTRY_UPDATE);
	outs(o, "<span class=\"when\">");
	out_time(o, e->at, c->now);
	outs(o, "</span></li>");
}

/* The public entries only: notes, acknowledgements, roles and paging stay with ops. */
static void write_timeline(struct out *o, const struct incident *inc, const struct ctx *c)
{
	size_t n = 0;
	char text[INCIDENT_TEXT_MAX];

	for (size_t i = 0; i < inc->n_entries; i++)
		n += incident_public_text(inc, &inc->entries[i], text, sizeof(text));
	outf(o, "<details class=\"tlbox\" id=\"tl-%lld\"%s><summary>", (long long)inc->id,
	     inc->resolved == 0 ? " open" : "");
	outf(o, words_plural(L, W_TIMELINE, n), n);
	outs(o, "</summary><ol class=\"tl\" reversed>");
	for (size_t i = inc->n_entries; i > 0; i--)
		write_entry(o, inc, &inc->entries[i - 1], c);
	outs(o, "</ol></details>");
}

static void write_title(struct out *o, const struct incident *inc, const struct ctx *c)
{
	char title[INCIDENT_TEXT_MAX];

	incident_public_title(inc, title, sizeof(title));
	if (inc->manual)
		out_esc(o, title);
	else
		out_public(o, title, c->details);
}

static void write_open(struct out *o, const struct incident *inc, const struct ctx *c)
{
	enum pool_status s = severity_of(inc);

	outf(o,
	     "<article class=\"card incident %s\" id=\"inc-%lld\" data-status=\"open\"><div "
	     "class=\"head\"><h3>",
	     is_planned(inc) ? "s-maint" : pool_status_names[s], (long long)inc->id);
	write_title(o, inc, c);
	outs(o, "</h3> ");
	write_badge(o, inc, c);
	outs(o, "</div>");
	write_meta(o, inc, c);
	write_latest(o, inc, c);
	write_timeline(o, inc, c);
	outs(o, "</article>");
}

static void write_past(struct out *o, const struct incident *inc, const struct ctx *c)
{
	char day[32], len[96];

	out_utc(inc->started, "%Y-%m-%d", day, sizeof(day));
	span_text(inc->resolved - inc->started, len, sizeof(len));
	outf(o,
	     "<details class=\"card incident past s-%s\" id=\"inc-%lld\" "
	     "data-status=\"resolved\"><summary><span class=\"t\">",
	     pool_status_names[severity_of(inc)], (long long)inc->id);
	write_title(o, inc, c);
	outf(o, "</span> <span class=\"meta\">%s &middot; %s</span> ", day,
	     len[0] != '\0' ? len : T(W_UNDER_A_MINUTE));
	write_badge(o, inc, c);
	outs(o, "</summary>");
	write_meta(o, inc, c);
	write_latest(o, inc, c);
	write_timeline(o, inc, c);
	outs(o, "</details>");
}

/* Incidents go to two buffers in one pass: the open ones, then the most recent past. */
struct lists {
	struct out open, past;
	size_t n_open, n_past;
	const struct ctx *c;
};

static void list_cb(const struct incident *inc, void *arg)
{
	struct lists *l = arg;

	if (inc->resolved == 0) {
		write_open(&l->open, inc, l->c);
		l->n_open++;
	} else if (l->n_past < PAST_MAX) {
		write_past(&l->past, inc, l->c);
		l->n_past++;
	}
}

/* ---- the page ---------------------------------------------------------------------------- */

static enum pool_status overall(size_t *affected)
{
	enum pool_status worst = PS_OPERATIONAL;

	*affected = 0;
	for (size_t i = 0; i < registry.n_pools; i++) {
		enum pool_status s = poolstat_status(registry.pools[i]);

		*affected += s != PS_OPERATIONAL;
		worst = s > worst ? s : worst;
	}
	return worst;
}

/* Whether POOL's feed files may sit under pools/POOL/ (names are [A-Za-z0-9._-]: only "."
 * and ".." would not be a folder of their own). */
static bool pool_feed_ok(const char *pool)
{
	return strcmp(pool, ".") != 0 && strcmp(pool, "..") != 0;
}

/* The feeds as alternates (relative links: they work on the live listener and on a mirror's
 * copy, where the feeds are files beside index.html). */
static void write_alternates(struct out *o, const char *title)
{
	static const char *const kinds[][3] = {
	    {"application/atom+xml", "feed.atom", "Atom"},
	    {"application/rss+xml", "feed.rss", "RSS"},
	};

	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		outf(o, "<link rel=\"alternate\" type=\"%s\" href=\"%s\" title=\"", kinds[k][0],
		     kinds[k][1]);
		out_esc(o, title);
		outf(o, ": incidents (%s)\">", kinds[k][2]);
	}
	for (size_t i = 0; i < registry.n_pools; i++) {
		const char *pool = registry.pools[i]->name;

		if (!pool_feed_ok(pool))
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
			outf(o, "<link rel=\"alternate\" type=\"%s\" href=\"pools/", kinds[k][0]);
			out_esc(o, pool);
			outf(o, "/%s\" title=\"", kinds[k][1]);
			out_esc(o, pool);
			outf(o, ": incidents (%s)\">", kinds[k][2]);
		}
	}
}

static void write_head(struct out *o, const char *title, enum pool_status s, const struct ctx *c)
{
	outf(o,
	     "<!doctype html><html lang=\"%s\"><head><meta charset=\"utf-8\"><meta "
	     "name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta "
	     "name=\"color-scheme\" content=\"light dark\">",
	     words_lang_names[L]);
	if (c->copy != NULL) /* a static host sends no policy of ours: the copy carries it */
		outf(o,
		     "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
		     "style-src 'sha256-%s'; script-src 'sha256-%s' 'sha256-%s'; connect-src "
		     "'self'; img-src data:; base-uri 'none'; form-action 'none'\">",
		     css_hash, js_hash, copy_hash);
	outs(o, "<title>");
	out_esc(o, title);
	outf(o,
	     ": %s</title><link rel=\"icon\" href=\"data:image/svg+xml,%%3Csvg "
	     "xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%%3E%%3Ccircle cx='8' "
	     "cy='8' r='7' fill='%s'/%%3E%%3C/svg%%3E\">",
	     T(words[s].overall), words[s].fill);
	write_alternates(o, title);
	outf(o,
	     "<noscript><meta http-equiv=\"refresh\" content=\"%d\"></noscript><style>%s</style>"
	     "</head>",
	     RELOAD_S, page_css);
}

/* "200 ms", "45 seconds", "2 min", "1 h 30 min": an interval of the copy, for its reader. */
static void interval_words(uint64_t ms, char *buf, size_t len)
{
	if (ms < 1000)
		snprintf(buf, len, "%llu ms", (unsigned long long)ms);
	else if (ms < 120000)
		snprintf(buf, len, "%llu second%s", (unsigned long long)((ms + 500) / 1000),
		         ms < 1500 ? "" : "s");
	else
		span_text((int64_t)ms, buf, len);
}

/* A copy's age, in words without a script, and the elements the copy's script fills. */
static void write_copy_notice(struct out *o, const struct ctx *c)
{
	char at[48], iso[32], every[48], stale[48];

	out_utc(c->copy->generated, "%Y-%m-%d %H:%M:%S UTC", at, sizeof(at));
	out_utc(c->copy->generated, "%Y-%m-%dT%H:%M:%SZ", iso, sizeof(iso));
	interval_words(c->copy->interval, every, sizeof(every));
	interval_words(c->copy->stale_after, stale, sizeof(stale));
	outf(o,
	     "<p id=\"copy-stale\" class=\"stale\" role=\"alert\" hidden></p><p id=\"copy\" "
	     "class=\"meta\" data-generated=\"%lld\" data-stale-after=\"%llu\" "
	     "data-every=\"%s\" data-stale-words=\"%s\">This is a copy of the status page, made at "
	     "<time datetime=\"",
	     (long long)c->copy->generated, (unsigned long long)c->copy->stale_after, every, stale);
	outf(o,
	     "%s\">%s</time>. It is refreshed every %s while nodegate runs: if that time is "
	     "more than %s ago, nodegate or the service it watches may be down.</p>",
	     iso, at, every, stale);
	if (c->copy->live_url != NULL) {
		outs(o, "<p class=\"meta\">The live page: <a href=\"");
		out_esc(o, c->copy->live_url);
		outs(o, "\">");
		out_esc(o, c->copy->live_url);
		outs(o, "</a></p>");
	}
}

static void write_banner(struct out *o, enum pool_status s, size_t affected, size_t n_open,
                         const struct ctx *c)
{
	outf(o,
	     "<section class=\"banner s-%s\" role=\"status\"><span class=\"icon\" "
	     "aria-hidden=\"true\">%s</span><div><h2>%s</h2><p>",
	     pool_status_names[s], words[s].icon,
	     registry.n_pools > 0 ? T(words[s].overall) : T(W_NO_SERVICE));
	if (affected > 0) {
		outf(o, words_plural(L, W_SERVICES_AFFECTED, registry.n_pools), affected,
		     registry.n_pools);
		outs(o, " &middot; ");
	}
	if (n_open > 0) {
		outs(o, "<a href=\"#incidents\">");
		outf(o, words_plural(L, W_ONGOING_LINK, n_open), n_open);
		outs(o, "</a> &middot; ");
	}
	outf(o, "%s ", T(W_UPDATED));
	out_time_fmt(o, c->now, c->now, "%Y-%m-%d %H:%M:%S UTC");
	outs(o, "</p></div></section>");
}

static void notice_piece(const char *s, size_t n, void *arg)
{
	out_raw(arg, s, n);
}

/* [status] notice_file, read at load: a section of its own, above the incidents. */
static void write_notice(struct out *o)
{
	const char *text = registry.conf != NULL ? registry.conf->status.notice : NULL;

	if (text == NULL || text[0] == '\0')
		return;
	outf(o, "<section id=\"notice\" class=\"card notice\"><h2>%s</h2>", T(W_NOTICE));
	notice_render(text, notice_piece, o);
	outs(o, "</section>");
}

static void write_body(struct out *o, const char *title, struct lists *l, const struct ctx *c)
{
	size_t affected;
	enum pool_status s = overall(&affected);

	write_head(o, title, s, c);
	/* data-now sets the live page's clock skew; a copy is judged on the reader's clock */
	outs(o, "<body><div class=\"wrap\"><p id=\"stale\" class=\"stale\" role=\"alert\" hidden>"
	        "</p><main id=\"page\"");
	if (c->copy == NULL)
		outf(o, " data-now=\"%lld\"", (long long)c->now);
	outf(o, " data-refresh=\"%d\" data-status=\"%s\" data-lang=\"%s\" data-words=\"", REFRESH_S,
	     pool_status_names[s], words_lang_names[L]);
	out_esc(o, T(W_REL));
	outs(o, "\" data-stale=\"");
	out_esc(o, T(W_STALE));
	outs(o, "\"><h1>");
	out_esc(o, title);
	outs(o, "</h1>");
	if (c->copy != NULL)
		write_copy_notice(o, c);
	write_banner(o, s, affected, l->n_open, c);
	write_notice(o);
	if (l->n_open > 0) {
		outf(o, "<section id=\"incidents\"><h2>%s</h2>", T(W_ONGOING_INCIDENTS));
		if (evbuffer_add_buffer(o->b, l->open.b) < 0)
			o->rc = -1;
		outs(o, "</section>");
	}
	outf(o, "<section id=\"services\"><h2>%s</h2>", T(W_SERVICES));
	for (size_t i = 0; i < registry.n_pools; i++)
		write_pool(o, registry.pools[i], c);
	if (registry.n_pools > 0)
		outf(o,
		     "<p class=\"legend\">%s <span><i class=\"d-ok\"></i>%s</span><span><i "
		     "class=\"d-minor\"></i>%s</span><span><i "
		     "class=\"d-partial\"></i>%s</span><span><i "
		     "class=\"d-major\"></i>%s</span><span><i class=\"d-none\"></i>%s</span> "
		     "<span>%s</span></p>",
		     T(W_LEGEND), T(W_LEGEND_OK), T(W_LEGEND_MINOR), T(W_LEGEND_PARTIAL),
		     T(W_LEGEND_MAJOR), T(W_NO_DATA), T(W_LEGEND_MAINT));
	outf(o, "</section><section id=\"history\"><h2>%s</h2>", T(W_PAST_INCIDENTS));
	if (l->n_past == 0)
		outf(o, "<p class=\"empty\">%s</p>", T(W_NO_PAST));
	if (evbuffer_add_buffer(o->b, l->past.b) < 0)
		o->rc = -1;
	outs(o, "</section></main>");
	/* outside #page: a refresh in place does not wipe what the reader is typing */
	if (c->copy == NULL && subs_form(o->b) < 0) /* a copy's form would post to its host */
		o->rc = -1;
	outf(o, "<footer><p>%s <span id=\"live\" hidden>", T(W_FOOT_UTC));
	outf(o, T(W_FOOT_LIVE), REFRESH_S);
	outf(o,
	     "</span><noscript>%s</noscript></p><p class=\"feeds\">%s <a href=\"feed.atom\">%s</a> "
	     "&middot; <a href=\"feed.rss\">%s</a></p><p>%s</p></footer></div><script>%s</script>",
	     T(W_FOOT_NOSCRIPT), T(W_FOLLOW), T(W_ATOM_FEED), T(W_RSS_FEED),
	     c->copy != NULL ? T(W_COPY_BY) : T(W_SERVED_BY), page_js);
	if (c->copy != NULL)
		outf(o, "<script>%s</script>", copy_js);
	outs(o, "</body></html>");
}

/* Content-Security-Policy: nothing from elsewhere, only this page's own style and script. */
static void add_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char csp[512];

	snprintf(csp, sizeof(csp),
	         "default-src 'none'; style-src 'sha256-%s'; script-src 'sha256-%s'; "
	         "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'self'; "
	         "frame-ancestors 'none'",
	         css_hash, js_hash);
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Content-Security-Policy", csp);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	evbuffer_drain(out, evbuffer_get_length(out));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; charset=utf-8");
	if (evbuffer_add(out, text, strlen(text)) < 0) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_send_reply(req, code, reason, NULL);
}

int page_render(struct evbuffer *out, const struct page_copy *copy)
{
	const struct conf_status *st = &registry.conf->status;
	struct out o = {.b = out};
	struct ctx c = {.copy = copy,
	                .now = copy != NULL ? copy->generated : clock_wall(),
	                .mono = clock_now(),
	                .details = st->public_backend_details};
	struct lists l = {.open.b = evbuffer_new(), .past.b = evbuffer_new(), .c = &c};

	L = (enum words_lang)st->language;
	c.first = history_start();
	if (l.open.b != NULL && l.past.b != NULL)
		incident_foreach(LIST_MAX, list_cb, &l);
	if (l.open.b != NULL && l.past.b != NULL && l.open.rc == 0 && l.past.rc == 0)
		write_body(&o, st->title != NULL && st->title[0] != '\0' ? st->title : "Status", &l,
		           &c);
	else
		o.rc = -1;
	if (l.open.b != NULL)
		evbuffer_free(l.open.b);
	if (l.past.b != NULL)
		evbuffer_free(l.past.b);
	return o.rc;
}

static void page_get(struct evhttp_request *req)
{
	if (page_render(evhttp_request_get_output_buffer(req), NULL) < 0) {
		log_warn("status page: out of memory");
		reply_text(req, HTTP_INTERNAL, "Internal Server Error", "out of memory\n");
		return;
	}
	add_headers(req);
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

/* The route "/" takes every path no other route does: only "/" itself is the page. */
static void page_handler(struct evhttp_request *req, const char *path, void *arg)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);

	if (strcmp(path, "/") != 0) {
		reply_text(req, HTTP_NOTFOUND, "Not Found", "not found\n");
		return;
	}
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		reply_text(req, HTTP_BADMETHOD, "Method Not Allowed",
		           "method not allowed (expected GET or HEAD)\n");
		return;
	}
	page_get(req);
}

/* ---- the badge ---------------------------------------------------------------------------- */

/* Width of TEXT at 11px Verdana, roughly: 7 px a Latin character, 12 a wide one. */
static int text_width(const char *t)
{
	int w = 0;

	for (const unsigned char *p = (const unsigned char *)t; *p != '\0'; p++)
		if (*p < 0x80)
			w += 7;
		else if ((*p & 0xc0) == 0xc0)
			w += 12;
	return w;
}

/* The 90-day uptime of POOL as the page's bar says it ("99.98 %" or "100 %"). */
static void pool_uptime(const char *pool, int64_t now, int64_t first, char *buf, size_t len)
{
	int64_t from = now - now % DAY_MS - (BAR_DAYS - 1) * DAY_MS, seen, down;

	from = from > first ? from : first;
	seen = now > from ? now - from : 0;
	down = seen > 0 ? incident_downtime(pool, from, now) : 0;
	down = down < 0 ? 0 : down > seen ? seen : down;
	uptime_text(seen, down, buf, len);
}

/* GET /badge/POOL.svg: the pool's status and 90-day uptime, shields-like, for READMEs and
 * dashboards; 404 for an unknown pool. Names only, never an address. */
static void badge_handler(struct evhttp_request *req, const char *path, void *arg)
{
	const char *name = path + strlen("/badge/"), *dot = strrchr(name, '.');
	struct evbuffer *b = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	const struct pool *p = NULL;
	char pool[80], right[160], up[64];
	static const char *const fill[PS_COUNT] = {"#1f9d74", "#c49a00", "#e07b00", "#b3261e"};
	struct out o = {.b = b};
	int lw, rw;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);

	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		evhttp_add_header(h, "Allow", "GET, HEAD");
		reply_text(req, HTTP_BADMETHOD, "Method Not Allowed",
		           "method not allowed (expected GET or HEAD)\n");
		return;
	}
	if (strncmp(path, "/badge/", 7) == 0 && dot != NULL && strcmp(dot, ".svg") == 0 &&
	    dot > name && (size_t)(dot - name) < sizeof(pool)) {
		snprintf(pool, sizeof(pool), "%.*s", (int)(dot - name), name);
		p = registry_pool(pool);
	}
	if (p == NULL) {
		reply_text(req, HTTP_NOTFOUND, "Not Found",
		           "no such pool (expected /badge/POOL.svg)\n");
		return;
	}
	L = (enum words_lang)registry.conf->status.language;
	enum pool_status s = poolstat_status(p);
	pool_uptime(p->name, clock_wall(), history_start(), up, sizeof(up));
	snprintf(right, sizeof(right), "%s | %s", T(words[s].word), up);
	lw = text_width(p->name) + 12;
	rw = text_width(right) + 12;
	outf(&o,
	     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"20\" role=\"img\" "
	     "aria-label=\"",
	     lw + rw);
	out_esc(&o, p->name);
	outs(&o, ": ");
	out_esc(&o, right);
	outs(&o, "\"><title>");
	out_esc(&o, p->name);
	outs(&o, ": ");
	out_esc(&o, right);
	outf(&o,
	     "</title><rect width=\"%d\" height=\"20\" rx=\"3\" fill=\"#555\"/><rect x=\"%d\" "
	     "width=\"%d\" height=\"20\" rx=\"3\" fill=\"%s\"/><g fill=\"#fff\" "
	     "font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\"><text x=\"6\" "
	     "y=\"14\">",
	     lw + rw, lw, rw, fill[s < PS_COUNT ? s : PS_MAJOR_OUTAGE]);
	out_esc(&o, p->name);
	outf(&o, "</text><text x=\"%d\" y=\"14\">", lw + 6);
	out_esc(&o, right);
	outs(&o, "</text></g></svg>\n");
	if (o.rc < 0) {
		reply_text(req, HTTP_INTERNAL, "Internal Server Error", "out of memory\n");
		return;
	}
	evhttp_add_header(h, "Content-Type", "image/svg+xml; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-cache, max-age=60");
	evhttp_add_header(h, "Content-Security-Policy",
	                  "default-src 'none'; style-src 'unsafe-inline'");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

void page_csp_hash(const char *s, char *hash)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL) != 1 || n != 32) {
		hash[0] = '\0'; /* the browser then refuses the style or script: still readable */
		return;
	}
	EVP_EncodeBlock((unsigned char *)hash, md, (int)n);
}

void page_init(void)
{
	started_wall = clock_wall();
	page_csp_hash(page_css, css_hash);
	page_csp_hash(page_js, js_hash);
	page_csp_hash(copy_js, copy_hash);
	if (status_route("/", page_handler, NULL) != 0 ||
	    status_route("/badge/", badge_handler, NULL) != 0)
		log_error("status page: no room for the routes / and /badge/ (STATUS_MAX_ROUTES)");
}
