/* What subscribers are told, in words: every subject and body of subscription mail (and the
 * "text" of webhook events) comes from one table of templates here, so that a translation or
 * plainer wording replaces the table and nothing else. */
#pragma once
#include <stddef.h>

enum subs_note {
	SN_CONFIRM = 0,       /* the double opt-in mail: {link} confirms */
	SN_INCIDENT_OPENED,   /* a public incident opened */
	SN_INCIDENT_UPDATED,  /* ops posted a public update ({status}: investigating...) */
	SN_INCIDENT_RESOLVED, /* it resolved */
	SN_MAINT_SCHEDULED,   /* a maintenance was announced ({start}, {end}) */
	SN_MAINT_STARTED,     /* its window began */
	SN_MAINT_ENDED,       /* it ended */
	SN_COUNT
};
/* The event names of webhook payloads ("incident_opened", ...). */
extern const char *const subs_note_names[SN_COUNT];

/* What the templates may name: {pool} (the pool, or "all services"), {title}, {text} (the
 * incident's line or the update), {status}, {start}, {end} (UTC times), {link} (the
 * confirmation link, else the status page). NULL reads as "". */
struct subtext_vars {
	const char *pool, *title, *text, *status, *start, *end, *link;
	int lang; /* enum words_lang: the words of ops/words.h in that language (0: English) */
};

/* Note N's subject (one line) and body (LF lines) into the buffers, cut to fit. */
void subtext_render(enum subs_note n, const struct subtext_vars *v, char *subject, size_t slen,
                    char *body, size_t blen);
/* S (one line of UTF-8) as a mail header's value: as is when it is ASCII, else RFC 2047
 * encoded words ("=?UTF-8?B?...?="), a UTF-8 sequence never split, folded on CRLF + space;
 * cut to fit LEN. */
void subtext_header(const char *s, char *out, size_t len);
