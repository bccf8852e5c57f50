/* Atom and RSS feeds of the public incident events: GET /feed.atom, /feed.rss, and per pool
 * /pools/NAME/feed.atom and /pools/NAME/feed.rss on the status listener; the mirror
 * (mirror.c) writes the same files. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

struct evbuffer;

enum feed_format {
	FEED_ATOM = 0, /* Atom 1.0 (RFC 4287) */
	FEED_RSS,      /* RSS 2.0 */
	FEED_FORMAT_COUNT
};
extern const char *const feed_file_names[FEED_FORMAT_COUNT]; /* "feed.atom", "feed.rss" */
extern const char *const feed_content_types[FEED_FORMAT_COUNT];

#define FEED_MAX_ENTRIES   50  /* the newest events of a feed */
#define FEED_MAX_INCIDENTS 100 /* incidents looked at (open ones first, then the latest) */

/* The feed of POOL's incidents (NULL: every incident; a pool's feed has the incidents about
 * every pool too) in format F, appended to OUT. BASE is the status page's absolute URL,
 * ending in '/': links point under it. AUTHORITY names the tag: URIs of the ids (the host
 * of [status] public_url, else "localhost"). NOW (Unix ms) tells whether a planned
 * maintenance has started. *UPDATED gets the newest entry's time (Unix ms, 0: no entry).
 * Only public events: an incident opened, an ops update, a resolve, and for a planned
 * maintenance its schedule, start and end; never notes nor addresses. -1: out of memory. */
int feed_write(struct evbuffer *out, enum feed_format f, const char *pool, const char *base,
               const char *authority, int64_t now, int64_t *updated) WUR;

/* The tag: authority of the ids: the host of URL (http[s]://HOST[:PORT]/...), or
 * "localhost" when URL is NULL or has none. */
void feed_authority(const char *url, char *buf, size_t len);

/* Registers the feed routes with the status listener (status_route); call once, before the
 * loop runs. Logs when the route table is full. */
void feed_init(void);
