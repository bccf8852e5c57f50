/* Mirrors ([mirror NAME]): a static copy of the status page (index.html, status.json, the
 * Atom and RSS feeds, each pool's feeds) pushed on every public change and every interval to
 * a folder, a WebDAV server or an S3-compatible bucket, so that users find news where
 * nodegate's host is not. Off the loop: HTTP and S3 through libcurl multi (curlev.c), a
 * folder on a thread of its own; one push at a time per mirror, the requests meanwhile
 * folded into one (only the latest copy matters); a failed push is retried after a backoff. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "conf.h"

#define MIRROR_STALE_INTERVALS 3 /* a copy older than this many intervals says so */

/* How pushes end, for nodegate_mirror_pushes_total{mirror,result}. */
enum mirror_result {
	MR_OK = 0, /* every file of the copy is there */
	MR_FAILED, /* a file could not be written (then retried after the backoff) */
	MR_RESULT_COUNT
};
extern const char *const mirror_result_names[MR_RESULT_COUNT];

/* Subscribes to the bus (BASE's loop) and adds the metrics. */
int mirror_init(struct event_base *base) WUR;
/* The mirrors of C, by name: a kept one keeps its counters (its push in flight ends with
 * the settings it started with), a new one pushes at once, a removed one stops (its push in
 * flight is abandoned). Secrets are read now. -1 with ERR ("[mirror NAME] KEY: why"):
 * nothing changed. */
int mirror_apply(const struct conf *c, char *err, size_t errlen) WUR;
/* Stops every push and the folder threads. */
void mirror_deinit(void);

/* ---- pure helpers (unit tests) ------------------------------------------------------------- */

/* The wait before retry number FAILURES (1: the first) of a push: BASE doubled each time, at
 * most CAP (the interval). */
uint64_t mirror_backoff(uint64_t base, unsigned failures, uint64_t cap);
/* The URL of object NAME of an s3://BUCKET/PREFIX mirror, path style on ENDPOINT
 * ("http://127.0.0.1:9000"; NULL: https://s3.REGION.amazonaws.com): into BUF; -1 when URL
 * is not s3://BUCKET[/PREFIX] or it does not fit. */
int mirror_s3_url(const char *url, const char *endpoint, const char *region, const char *name,
                  char *buf, size_t len) WUR;
