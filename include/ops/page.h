/* The public status page: GET / on the status listener, one self-contained HTML page
 * rendered from the running state and the incident history, that works without JavaScript
 * and refreshes itself in place with it. */
#pragma once
#include <stdint.h>

#include "log.h"

struct evbuffer;

/* What makes the mirror's static copy differ from the live page: it tells its own age on
 * the reader's clock (a small script, and the time in words without it), says plainly that
 * the service may be down once it is older than STALE_AFTER, and links the live page. */
struct page_copy {
	int64_t generated;    /* Unix ms: when the copy was made (the page's "now") */
	uint64_t interval;    /* ms: how often the copy is refreshed */
	uint64_t stale_after; /* ms: older than this, the copy says the service may be down */
	const char *live_url; /* the live page's URL ([status] public_url), or NULL */
};

/* The page as GET / serves it (COPY NULL) or as a mirror's copy, appended to OUT; every
 * link in it is relative to the page (feeds) or a fragment, so that it works where the
 * copy is hosted. -1: out of memory. */
int page_render(struct evbuffer *out, const struct page_copy *copy) WUR;

/* Registers GET / with the status listener (status_route); call once, before the loop
 * runs. Logs when the route table is full (the page is then not served). */
void page_init(void);

/* Shared with the ops console (ops/console.h), so that both escape and hash alike: */
struct evbuffer;
#define HASH_B64 48 /* base64 of a SHA-256, with its NUL */
/* S (any bytes) into B as HTML text or attribute value: markup characters escaped, control
 * characters as spaces, bytes that are not UTF-8 as U+FFFD; -1 out of memory. */
int page_esc(struct evbuffer *b, const char *s);
/* HASH (HASH_B64 bytes): base64 of the SHA-256 of S, as a Content-Security-Policy source
 * names it ("" when it cannot be computed: the browser then refuses what it guards). */
void page_csp_hash(const char *s, char *hash);
