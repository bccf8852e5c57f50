/* Response-time charts: bounded rings of buckets per pool, fed by a timer from the data
 * plane's histograms, written through to the store, drawn as inline SVG. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "clock.h"
#include "ops/chart.h"
#include "ops/store.h"
#include "ops/words.h"
#include "proxy/backend.h"
#include "proxy/latency.h"
#include "registry.h"
#include "stats.h"

#define DAY_MS (24LL * 3600 * 1000)

_Static_assert(STORE_LATENCY_BUCKETS == LATENCY_BUCKETS, "the store keeps latency.h's buckets");

/* ---- pure: the SVG ------------------------------------------------------------------------- */

struct sbuf {
	char *b;
	size_t len, off;
};

static void put(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->off + 1 >= s->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(s->b + s->off, s->len - s->off, fmt, ap);
	va_end(ap);
	s->off = n < 0 ? s->off : s->off + (size_t)n < s->len ? s->off + (size_t)n : s->len - 1;
}

static void put_esc(struct sbuf *s, const char *t)
{
	for (; *t != '\0'; t++) {
		const char *e = *t == '&'   ? "&amp;"
		                : *t == '<' ? "&lt;"
		                : *t == '>' ? "&gt;"
		                : *t == '"' ? "&quot;"
		                            : NULL;

		if (e != NULL)
			put(s, "%s", e);
		else if ((unsigned char)*t >= 0x20)
			put(s, "%c", *t);
	}
}

/* One line of points: x by time, y by value (linear, 0 at the bottom, MAX at the top). */
static void polyline(struct sbuf *s, const struct chart_point *pts, size_t n, int64_t from,
                     int64_t to, uint64_t max, int p99, const char *cls, const char *colour)
{
	size_t drawn = 0;

	put(s, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
	    cls, colour);
	for (size_t i = 0; i < n; i++) {
		uint64_t v = p99 ? pts[i].p99_us : pts[i].p50_us;
		int64_t x = (pts[i].start - from) * CHART_W / (to - from);
		int64_t y = CHART_H - (int64_t)(v * (CHART_H - 12) / max) - 1;

		if (pts[i].start < from || pts[i].start >= to || pts[i].n == 0)
			continue;
		put(s, "%s%lld,%lld", drawn++ > 0 ? " " : "", (long long)x, (long long)y);
		if (n == 1) /* one point: a short dash, so that it shows */
			put(s, " %lld,%lld", (long long)(x + 3), (long long)y);
	}
	put(s, "\"/>");
}

size_t chart_svg(const struct chart_point *pts, size_t n, int64_t from, int64_t to,
                 const char *label, char *buf, size_t len)
{
	struct sbuf s = {buf, len, 0};
	uint64_t max = 0;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (pts[i].start >= from && pts[i].start < to && pts[i].n > 0 &&
		    pts[i].p99_us > max)
			max = pts[i].p99_us;
	put(&s,
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" "
	    "height=\"%d\" role=\"img\" aria-label=\"",
	    CHART_W, CHART_H, CHART_W, CHART_H);
	put_esc(&s, label);
	put(&s, "\"><title>");
	put_esc(&s, label);
	put(&s, "</title><line x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#8888\"/>",
	    CHART_H - 1, CHART_W, CHART_H - 1);
	if (max > 0 && to > from) {
		polyline(&s, pts, n, from, to, max, 1, "p99", "#e07b00");
		polyline(&s, pts, n, from, to, max, 0, "p50", "#007a55");
		put(&s,
		    "<text x=\"2\" y=\"10\" font-size=\"9\" fill=\"currentColor\">%llu.%llu "
		    "ms</text>",
		    (unsigned long long)(max / 1000), (unsigned long long)(max % 1000 / 100));
	}
	put(&s, "</svg>");
	return s.off;
}

/* ---- the rings ------------------------------------------------------------------------------ */

struct ring {
	struct chart_point p[CHART_SHORT_MAX]; /* oldest first from HEAD */
	size_t head, n, cap;
};

struct pchart {
	char name[65];
	struct ring shortb, days;
	int64_t today;    /* the day the histogram below is of (Unix ms) */
	uint64_t today_n; /* its answers */
	uint32_t today_hist[LATENCY_BUCKETS];
};

static struct {
	struct pchart *pools[CHART_POOLS_MAX];
	size_t n;
	struct event *timer;
	bool full_logged;
} C;

/* Puts P as the newest point of R: it replaces the newest when they start together. */
static void ring_put(struct ring *r, const struct chart_point *p)
{
	size_t last = (r->head + r->n - 1) % r->cap;

	if (r->n > 0 && r->p[last].start == p->start) {
		r->p[last] = *p;
		return;
	}
	if (r->n > 0 && p->start < r->p[last].start)
		return; /* older than what is kept: out of order, left out */
	if (r->n == r->cap) {
		r->head = (r->head + 1) % r->cap;
		r->n--;
	}
	r->p[(r->head + r->n) % r->cap] = *p;
	r->n++;
}

/* R's points, oldest first, into OUT (R->cap at most); their number. */
static size_t ring_copy(const struct ring *r, struct chart_point *out)
{
	for (size_t i = 0; i < r->n; i++)
		out[i] = r->p[(r->head + i) % r->cap];
	return r->n;
}

static struct pchart *pool_chart(const char *name, bool create)
{
	struct pchart *pc;

	for (size_t i = 0; i < C.n; i++)
		if (strcmp(C.pools[i]->name, name) == 0)
			return C.pools[i];
	if (!create || strlen(name) >= sizeof(pc->name))
		return NULL;
	if (C.n == CHART_POOLS_MAX) {
		STAT_INC(chart_pools_dropped);
		if (!C.full_logged)
			log_warn("chart: more than %d pools: %s is not charted", CHART_POOLS_MAX,
			         name);
		C.full_logged = true;
		return NULL;
	}
	pc = calloc(1, sizeof(*pc));
	if (pc == NULL)
		return NULL;
	snprintf(pc->name, sizeof(pc->name), "%s", name);
	pc->shortb.cap = CHART_SHORT_MAX;
	pc->days.cap = CHART_DAYS;
	C.pools[C.n++] = pc;
	return pc;
}

static void day_point(struct pchart *pc, struct chart_point *p)
{
	*p = (struct chart_point){pc->today, pc->today_n,
	                          latency_quantile(pc->today_hist, pc->today_n, 50),
	                          latency_quantile(pc->today_hist, pc->today_n, 99)};
}

/* A bucket of SPAN ms from START: N answers in HIST. */
static void add_bucket(struct pchart *pc, int64_t start, int64_t span, const uint32_t *hist,
                       uint64_t n)
{
	struct chart_point p = {start, n, latency_quantile(hist, n, 50),
	                        latency_quantile(hist, n, 99)};
	struct store_latency l = {
	    .span = span, .start = start, .n = n, .p50_us = p.p50_us, .p99_us = p.p99_us};
	int64_t day = start - start % DAY_MS;

	ring_put(&pc->shortb, &p);
	snprintf(l.pool, sizeof(l.pool), "%s", pc->name);
	store_put_latency(&l);
	if (pc->today != day) {
		memset(pc->today_hist, 0, sizeof(pc->today_hist));
		pc->today_n = 0;
		pc->today = day;
	}
	for (unsigned b = 0; b < LATENCY_BUCKETS; b++)
		pc->today_hist[b] += hist[b];
	pc->today_n += n;
	day_point(pc, &p);
	ring_put(&pc->days, &p);
	l.span = DAY_MS;
	l.start = day;
	l.n = p.n;
	l.p50_us = p.p50_us;
	l.p99_us = p.p99_us;
	l.has_hist = true;
	memcpy(l.hist, pc->today_hist, sizeof(l.hist));
	store_put_latency(&l);
}

static int64_t bucket_ms(void)
{
	uint64_t b = registry.conf != NULL ? registry.conf->status.chart_bucket : 0;

	return b > 0 ? (int64_t)b : 5 * 60 * 1000;
}

static void arm(void)
{
	int64_t b = bucket_ms(), now = clock_wall(), wait = b - now % b;
	struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};

	evtimer_add(C.timer, &tv);
}

/* At the end of each bucket: every pool's answers since the last one. */
static void tick(evutil_socket_t fd, short what, void *arg)
{
	int64_t b = bucket_ms(), now = clock_wall(), start = now - now % b - b;

	for (size_t i = 0; i < registry.n_pools; i++) {
		struct pool *p = registry.pools[i];
		uint32_t hist[LATENCY_BUCKETS];
		uint64_t n = pool_latency_take(p, hist);
		struct pchart *pc = n > 0 ? pool_chart(p->name, true) : NULL;

		if (pc != NULL)
			add_bucket(pc, start, b, hist, n);
	}
	arm();
}

static void load_one(const struct store_latency *l, void *arg)
{
	int64_t now = *(const int64_t *)arg;
	struct pchart *pc = pool_chart(l->pool, true);
	struct chart_point p = {l->start, l->n, l->p50_us, l->p99_us};

	if (pc == NULL)
		return;
	if (l->span < DAY_MS && l->start >= now - DAY_MS) {
		ring_put(&pc->shortb, &p);
	} else if (l->span == DAY_MS && l->start >= now - CHART_DAYS * DAY_MS) {
		ring_put(&pc->days, &p);
		if (l->has_hist && l->start == now - now % DAY_MS) {
			pc->today = l->start;
			pc->today_n = l->n;
			memcpy(pc->today_hist, l->hist, sizeof(pc->today_hist));
		}
	}
}

int chart_init(char *err, size_t errlen)
{
	int64_t now = clock_wall();

	if (store_is_open() && store_load_latency(load_one, &now) < 0)
		log_warn("chart: the stored response times could not be read: the charts start "
		         "empty");
	C.timer = evtimer_new(registry.base, tick, NULL);
	if (C.timer == NULL) {
		snprintf(err, errlen, "chart: cannot start its timer");
		return -1;
	}
	/* the configuration is applied after this: a first turn soon reads its bucket */
	struct timeval soon = {0, 100 * 1000};

	evtimer_add(C.timer, &soon);
	return 0;
}

void chart_deinit(void)
{
	if (C.timer != NULL)
		event_free(C.timer);
	for (size_t i = 0; i < C.n; i++)
		free(C.pools[i]);
	memset(&C, 0, sizeof(C));
}

/* ---- HTML ----------------------------------------------------------------------------------- */

static void figure(struct evbuffer *out, const char *pool, int lang, const struct ring *r,
                   int64_t from, int64_t to, enum word span)
{
	static struct chart_point pts[CHART_SHORT_MAX];
	static char svg[CHART_SHORT_MAX * 40 + 1024];
	char label[256];
	size_t n = ring_copy(r, pts), shown = 0;
	const struct chart_point *last = NULL;

	for (size_t i = 0; i < n; i++)
		if (pts[i].start >= from && pts[i].start < to && pts[i].n > 0) {
			shown++;
			last = &pts[i];
		}
	snprintf(label, sizeof(label), "%s, %s: %s", pool, words_get(lang, W_RESPONSE_TIME),
	         words_get(lang, span));
	evbuffer_add_printf(out, "<figure class=\"chart\" data-span=\"%s\"><figcaption>",
	                    span == W_LAST_DAY ? "day" : "90d");
	evbuffer_add_printf(out, "%s", words_get(lang, span));
	if (last != NULL)
		evbuffer_add_printf(out,
		                    ": <span class=\"p50\">p50 %llu.%llu ms</span> &middot; <span "
		                    "class=\"p99\">p99 %llu.%llu ms</span>",
		                    (unsigned long long)(last->p50_us / 1000),
		                    (unsigned long long)(last->p50_us % 1000 / 100),
		                    (unsigned long long)(last->p99_us / 1000),
		                    (unsigned long long)(last->p99_us % 1000 / 100));
	else
		evbuffer_add_printf(out, ": %s", words_get(lang, W_NO_SAMPLES));
	evbuffer_add_printf(out, "</figcaption>");
	if (shown > 0) {
		/* the pool's name goes through the escaping of chart_svg */
		chart_svg(pts, n, from, to, label, svg, sizeof(svg));
		evbuffer_add(out, svg, strlen(svg));
	}
	evbuffer_add_printf(out, "</figure>");
}

void chart_write_html(const char *pool, int lang, struct evbuffer *out)
{
	const struct pchart *pc = pool_chart(pool, false);
	static const struct pchart empty = {.shortb.cap = CHART_SHORT_MAX, .days.cap = CHART_DAYS};
	int64_t now = clock_wall(), today = now - now % DAY_MS;

	if (pc == NULL)
		pc = &empty;
	evbuffer_add_printf(out, "<div class=\"charts\"><h4>%s</h4>",
	                    words_get(lang, W_RESPONSE_TIME));
	figure(out, pool, lang, &pc->shortb, now - DAY_MS, now + 1, W_LAST_DAY);
	figure(out, pool, lang, &pc->days, today - (CHART_DAYS - 1) * DAY_MS, today + DAY_MS,
	       W_LAST_90_DAYS);
	evbuffer_add_printf(out, "</div>");
}
