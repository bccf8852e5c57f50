/* Every public string, in one table per language ([status] language = en | ja): the status
 * page, the public JSON, and what feeds and mails tell subscribers. The public reads plain
 * words ("Some requests may fail or be slow: 1 of 3 nodes in service"), made from templates
 * per event kind that ops may rewrite ([status] text_*); the health engine's wording ("2
 * criticals within 5s: peers 0 (critical)") stays with ops (admin API, alerts, the log).
 * Pure: no I/O, no state but the tables. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

enum words_lang {
	WL_EN = 0,
	WL_JA,
	WL_COUNT
};
extern const char *const words_lang_names[WL_COUNT]; /* "en", "ja" */

/* The event kinds ops may word themselves: one template each. */
enum words_kind {
	WK_DEGRADED = 0,    /* an automatic incident at worst degraded */
	WK_PARTIAL_OUTAGE,  /* ... at worst a partial outage */
	WK_MAJOR_OUTAGE,    /* ... at worst a major outage */
	WK_RESTORED,        /* an incident resolved */
	WK_MAINT_SCHEDULED, /* a maintenance was announced */
	WK_MAINT_STARTED,   /* its window began: its nodes are out */
	WK_MAINT_ENDED,     /* its window ended: its nodes come back */
	WK_COUNT
};
/* The option of each kind in [status]: "text_degraded", ... */
extern const char *const words_kind_options[WK_COUNT];

/* The fixed strings of the public side. */
enum word {
	W_OPERATIONAL = 0, /* a pool's status, as a badge */
	W_DEGRADED,
	W_PARTIAL_OUTAGE,
	W_MAJOR_OUTAGE,
	W_ALL_OPERATIONAL, /* the whole service, in the banner */
	W_NO_SERVICE,
	W_NODE_CHECKING, /* a node's state */
	W_NODE_UP,
	W_NODE_RECOVERING,
	W_NODE_DOWN,
	W_NODE_SYNCING,
	W_NODE_MAINT,
	W_NODE_DRAINING,
	W_UPD_INVESTIGATING, /* an ops update's status */
	W_UPD_IDENTIFIED,
	W_UPD_MONITORING,
	W_UPD_RESOLVED,
	W_ENTRY_OPENED, /* a timeline line's kind */
	W_ENTRY_RESOLVED,
	W_MAINT_SCHEDULED_BADGE,
	W_MAINT_BADGE,
	W_RESOLVED_BADGE,
	W_ONGOING_INCIDENTS, /* headings */
	W_SERVICES,
	W_PAST_INCIDENTS,
	W_NOTICE,
	W_NO_PAST,
	W_NODES_IN_ROTATION,   /* "%zu of %zu nodes in rotation" */
	W_NODES_IN_ROTATION_1, /* its singular */
	W_PANIC,               /* "%zu in rotation, %llu wanted" */
	W_AFFECTS,             /* "Priority %s · Affects" */
	W_ALL_SERVICES,
	W_STARTED,
	W_RESOLVED_AT,
	W_LASTED,
	W_ONGOING_FOR,
	W_UNDER_A_MINUTE,
	W_PLANNED_WINDOW,
	W_TO,
	W_NO_UPDATE_OPEN,
	W_NO_UPDATE_PAST,
	W_POSTED,
	W_EXPECTED_RECOVERY,
	W_RECOVERY_LATE, /* "Recovery was expected at %s and has not happened yet." */
	W_NEXT_UPDATE,
	W_UPDATE_LATE,         /* "The next update was due at %s and has not been posted yet." */
	W_TIMELINE,            /* "Timeline (%zu entries)" */
	W_TIMELINE_1,          /* its singular */
	W_SERVICES_AFFECTED,   /* "%zu of %zu services affected" */
	W_SERVICES_AFFECTED_1, /* its singular */
	W_ONGOING_LINK,        /* "%zu ongoing incidents" */
	W_ONGOING_LINK_1,      /* its singular */
	W_UPDATED,
	W_UPTIME, /* "%s %% uptime" */
	W_NO_DATA_YET,
	W_NO_DATA,
	W_NO_DOWNTIME,
	W_DOWN, /* "%s down" */
	W_TODAY_SO_FAR,
	W_DAYS_AGO,       /* "%d days ago" */
	W_NO_DATA_BEFORE, /* "No data before %s" */
	W_TODAY,
	W_LEGEND, /* the bar's legend, before its items */
	W_LEGEND_OK,
	W_LEGEND_MINOR,
	W_LEGEND_PARTIAL,
	W_LEGEND_MAJOR,
	W_LEGEND_MAINT,
	W_FOOT_UTC,
	W_FOOT_LIVE, /* "This page updates itself every %d seconds." */
	W_FOOT_NOSCRIPT,
	W_SERVED_BY,
	W_COPY_BY, /* the mirror's static copy instead of W_SERVED_BY */
	W_FOLLOW,  /* before the feed links */
	W_ATOM_FEED,
	W_RSS_FEED,
	W_RESPONSE_TIME, /* the chart's heading */
	W_LAST_DAY,
	W_LAST_90_DAYS,
	W_NO_SAMPLES,
	W_UPTIME_90, /* "uptime (90 days, maintenance excluded)" */
	W_REL,       /* relative times, '|' between: min|h|day|days|%s ago|just now|in %s|in under a
	              * minute       (the page and its script share them) */
	W_STALE,     /* the script's: "... since %1 (%2) ... every %3 seconds." */
	/* subscriber mail (subtext.c): subject, body; {pool} {title} {text} {status} {start}
	 * {end} {link} are filled in */
	W_MAIL_CONFIRM_SUBJECT,
	W_MAIL_CONFIRM_BODY,
	W_MAIL_OPENED_SUBJECT,
	W_MAIL_OPENED_BODY,
	W_MAIL_UPDATED_SUBJECT,
	W_MAIL_UPDATED_BODY,
	W_MAIL_RESOLVED_SUBJECT,
	W_MAIL_RESOLVED_BODY,
	W_MAIL_MSCHED_SUBJECT,
	W_MAIL_MSCHED_BODY,
	W_MAIL_MSTART_SUBJECT,
	W_MAIL_MSTART_BODY,
	W_MAIL_MEND_SUBJECT,
	W_MAIL_MEND_BODY,
	W_MAIL_ALL_SERVICES, /* {pool} of a subscriber to every pool */
	/* feeds (feed.c): the word before an entry's title, and its text's lines */
	W_FEED_INCIDENT,
	W_FEED_RESOLVED,
	W_FEED_MSCHED,
	W_FEED_MSTART,
	W_FEED_MEND,
	W_FEED_WINDOW_BEGAN,
	W_FEED_EXPECTED,  /* "Expected recovery:" */
	W_FEED_NEXT,      /* "Next update by:" */
	W_FEED_AFFECTS,   /* "Affects:" */
	W_FEED_INCIDENTS, /* the feed's title after the site's: "incidents" */
	W_FEED_WINDOW,    /* "Planned window: %s to %s" */
	W_COUNT
};

/* The string of W in LANG (never NULL nor empty: unit tests check every table). */
const char *words_get(enum words_lang lang, enum word w);
/* W, or the singular W_..._1 that follows it when N is 1. */
const char *words_plural(enum words_lang lang, enum word w, size_t n);
/* The built-in template of KIND in LANG. */
const char *words_default(enum words_lang lang, enum words_kind kind);

/* What a template's placeholders stand for; NULL fields read as "". */
struct words_vars {
	const char *pool; /* {pool} */
	size_t serving;   /* {serving}: nodes in rotation */
	size_t total;     /* {total}: nodes of the pool */
};

/* Whether TMPL is a valid template: only {pool}, {serving} and {total}, braces closed, at
 * most WORDS_TEMPLATE_MAX bytes, no control characters. False: ERR says what is wrong. */
#define WORDS_TEMPLATE_MAX 150
bool words_template_ok(const char *tmpl, char *err, size_t errlen);
/* TMPL with its placeholders filled from V into BUF (cut at LEN, never inside a UTF-8
 * sequence); the length written. An unknown placeholder is copied as it stands. */
size_t words_render(const char *tmpl, const struct words_vars *v, char *buf, size_t len);
