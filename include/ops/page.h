/* The public status page: GET / on the status listener, one self-contained HTML page
 * rendered from the running state and the incident history, that works without JavaScript
 * and refreshes itself in place with it. */
#pragma once

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
