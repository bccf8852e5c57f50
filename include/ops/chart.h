/* The response-time chart of each pool on the status page: p50 and p99 of the answers its
 * nodes gave, over the last day (short buckets, [status] chart_bucket, 5 min) and over 90
 * days (daily buckets), drawn as inline SVG (no script). The data plane counts answers into
 * a histogram per pool (proxy/latency.h); a timer takes it each bucket, keeps bounded rings
 * in memory and writes each bucket to the store (its writer thread, off the loop), which
 * gives them back after a restart. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define CHART_SHORT_MAX 288 /* short buckets kept: a day of 5-minute ones */
#define CHART_DAYS      90  /* daily buckets kept */
#define CHART_POOLS_MAX 64  /* pools charted; more are left out (logged once) */

struct chart_point {
	int64_t start;   /* Unix ms */
	uint64_t n;      /* answers */
	uint64_t p50_us; /* medians and 99th percentiles, microseconds */
	uint64_t p99_us;
};

/* ---- pure ------------------------------------------------------------------------------------ */

/* An SVG (W x H user units) of the points within [FROM, TO), p50 and p99 as two polylines on
 * a linear scale from 0 to the highest p99, with the axis labelled in ms; LABEL (plain text,
 * escaped here) is its accessible name. Written into BUF; its length (cut at LEN). */
#define CHART_W 300
#define CHART_H 60
size_t chart_svg(const struct chart_point *pts, size_t n, int64_t from, int64_t to,
                 const char *label, char *buf, size_t len);

/* ---- the loop ------------------------------------------------------------------------------ */

/* Loads the stored buckets (the store is open) and starts the timer on registry.base. */
int chart_init(char *err, size_t errlen) WUR;
void chart_deinit(void);
struct evbuffer;
/* POOL's two charts as HTML (a figure each) in LANG (enum words_lang) into OUT. */
void chart_write_html(const char *pool, int lang, struct evbuffer *out);
