/* Atom and RSS feeds of the public incident events (GET /feed.atom, /feed.rss and
 * /pools/NAME/feed.atom, .rss): one entry per event a reader of the status page would want
 * to be told of, the newest FEED_MAX_ENTRIES, built on the loop from the incident history,
 * with an ETag and a Last-Modified so that feed readers poll cheaply (304).
 *
 *   feed_route ──► feed_write ──► collect (incident_foreach: events_of, keep the newest)
 *                                 ──► sort ──► write_atom | write_rss (xml_esc) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>

#include "util.h"
#include "clock.h"
#include "log.h"
#include "ops/feed.h"
#include "ops/incident.h"
#include "ops/out.h"
#include "ops/redact.h"
#include "ops/status.h"
#include "ops/words.h"
#include "registry.h"

#define TEXT_MAX (2 * INCIDENT_TEXT_MAX) /* a text with its addresses hidden */
#define URL_MAX  512

const char *const feed_file_names[FEED_FORMAT_COUNT] = {
    [FEED_ATOM] = "feed.atom",
    [FEED_RSS] = "feed.rss",
};

const char *const feed_content_types[FEED_FORMAT_COUNT] = {
    [FEED_ATOM] = "application/atom+xml; charset=utf-8",
    [FEED_RSS] = "application/rss+xml; charset=utf-8",
};

/* What happened, as a feed entry says it. */
enum feed_event {
	FE_OPENED = 0,  /* an incident opened */
	FE_UPDATE,      /* ops posted an update */
	FE_RESOLVED,    /* it resolved */
	FE_SCHEDULED,   /* a planned maintenance was announced */
	FE_MAINT_START, /* its window began */
	FE_MAINT_END,   /* it was closed */
	FE_COUNT
};

static const struct {
	const char *term; /* the entry's category, and its id's last part */
	enum word word;   /* before the incident's title (ops/words.h) */
} event_words[FE_COUNT] = {
    [FE_OPENED] = {"opened", W_FEED_INCIDENT},
    [FE_UPDATE] = {"update", W_UPD_INVESTIGATING}, /* the update's status says it */
    [FE_RESOLVED] = {"resolved", W_FEED_RESOLVED},
    [FE_SCHEDULED] = {"maintenance_scheduled", W_FEED_MSCHED},
    [FE_MAINT_START] = {"maintenance_started", W_FEED_MSTART},
    [FE_MAINT_END] = {"maintenance_completed", W_FEED_MEND},
};

static const enum word update_words[UPD_COUNT] = {
    [UPD_INVESTIGATING] = W_UPD_INVESTIGATING,
    [UPD_IDENTIFIED] = W_UPD_IDENTIFIED,
    [UPD_MONITORING] = W_UPD_MONITORING,
    [UPD_RESOLVED] = W_UPD_RESOLVED,
};

/* The public words of [status] language. */
static const char *W(enum word w)
{
	return words_get(
	    registry.conf != NULL ? (enum words_lang)registry.conf->status.language : WL_EN, w);
}

/* One entry, copied out of the history (an incident is valid during its callback only). */
struct ev {
	int64_t at, incident, started, planned_start, planned_end, eta, next_update;
	enum feed_event kind;
	enum update_status status;
	size_t index; /* the timeline entry it comes from (ids stay the same) */
	char pool[64], title[TEXT_MAX], text[TEXT_MAX];
};

static int64_t first_written; /* Unix ms: the updated time of a feed without entries */

struct collect {
	const char *pool;
	int64_t now;
	struct ev *ev;
	size_t n;
};

/* ---- collecting ---------------------------------------------------------------------------- */

/* S as the public may read it: addresses always hidden in feeds (a feed is copied and kept
 * by readers; public_backend_details is for the page only). */
static void public_text(const char *s, char *out, size_t len)
{
	snprintf(out, len, "%s", s);
	redact_text(out, len);
}

/* Keeps the newest FEED_MAX_ENTRIES: once full, a newer event takes the oldest's place. */
static struct ev *slot(struct collect *c, int64_t at)
{
	size_t oldest = 0;

	if (c->n < FEED_MAX_ENTRIES)
		return &c->ev[c->n++];
	for (size_t i = 1; i < c->n; i++)
		if (c->ev[i].at < c->ev[oldest].at)
			oldest = i;
	return c->ev[oldest].at < at ? &c->ev[oldest] : NULL;
}

static void add(struct collect *c, const struct incident *inc, enum feed_event kind, int64_t at,
                size_t index, const struct incident_entry *e, const char *text)
{
	struct ev *v = slot(c, at);

	if (v == NULL)
		return;
	memset(v, 0, sizeof(*v));
	v->at = at;
	v->incident = inc->id;
	v->started = inc->started;
	v->planned_start = inc->planned_start;
	v->planned_end = inc->planned_end;
	v->kind = kind;
	v->index = index;
	snprintf(v->pool, sizeof(v->pool), "%s", inc->pool);
	incident_public_title(inc, v->title, sizeof(v->title)); /* plain words, as the page */
	redact_text(v->title, sizeof(v->title));
	if (e != NULL && e->kind != ENTRY_UPDATE &&
	    incident_public_text(inc, e, v->text, sizeof(v->text)))
		redact_text(v->text, sizeof(v->text));
	else
		public_text(text != NULL ? text : "", v->text, sizeof(v->text));
	if (e != NULL && e->kind == ENTRY_UPDATE) {
		v->status = e->status < UPD_COUNT ? e->status : UPD_INVESTIGATING;
		v->eta = e->eta;
		v->next_update = e->next_update;
	}
}

/* The next public entry of INC after I, or NULL. */
static const struct incident_entry *next_public(const struct incident *inc, size_t i)
{
	for (size_t j = i + 1; j < inc->n_entries; j++)
		if (incident_entry_public(inc->entries[j].kind))
			return &inc->entries[j];
	return NULL;
}

/* INC's public events: opened (or scheduled), each ops update, resolved (or completed: an
 * ops update "resolved" and the resolve it caused are one event, with the ops' words), and
 * a planned maintenance's start once its window began. */
static void events_of(const struct incident *inc, void *arg)
{
	struct collect *c = arg;
	bool planned = inc->manual && inc->planned_start > 0;

	if (c->pool != NULL && inc->pool[0] != '\0' && strcmp(inc->pool, c->pool) != 0)
		return;
	for (size_t i = 0; i < inc->n_entries; i++) {
		const struct incident_entry *e = &inc->entries[i], *n;

		switch (e->kind) {
		case ENTRY_OPEN:
			add(c, inc, planned ? FE_SCHEDULED : FE_OPENED, e->at, i, e, e->text);
			break;
		case ENTRY_UPDATE:
			n = next_public(inc, i);
			if (e->status == UPD_RESOLVED && n != NULL && n->kind == ENTRY_RESOLVE)
				break; /* said by the resolve */
			add(c, inc, FE_UPDATE, e->at, i, e, e->text);
			break;
		case ENTRY_RESOLVE: {
			const struct incident_entry *u = i > 0 ? &inc->entries[i - 1] : NULL;
			bool by_ops =
			    u != NULL && u->kind == ENTRY_UPDATE && u->status == UPD_RESOLVED;

			add(c, inc, planned ? FE_MAINT_END : FE_RESOLVED, e->at, i,
			    by_ops ? NULL : e, by_ops ? u->text : e->text);
			break;
		}
		default:
			break; /* transitions, automation, and the private kinds */
		}
	}
	if (planned && inc->planned_start <= c->now &&
	    (inc->resolved == 0 || inc->resolved > inc->planned_start))
		add(c, inc, FE_MAINT_START, inc->planned_start, inc->n_entries, NULL,
		    W(W_FEED_WINDOW_BEGAN));
}

static int newest_first(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? 1 : -1;
	if (x->incident != y->incident)
		return x->incident < y->incident ? 1 : -1;
	return x->index < y->index ? 1 : x->index > y->index ? -1 : 0;
}

/* ---- writing XML ----------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at S that XML allows (1 to 4 bytes), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
	size_t n = out_utf8_seq(s);

	if (n == 3 && s[0] == 0xef && s[1] == 0xbf && s[2] >= 0xbe)
		return 0; /* U+FFFE and U+FFFF are not XML characters */
	return n;
}

/* What stands for the byte at P in XML (HTML: in HTML text that is itself XML-escaped, as
 * RSS descriptions and Atom html content are; a line end is a <br>), or NULL for itself. */
static const char *xml_entity(unsigned char c, const void *arg)
{
	bool html = *(const bool *)arg;
	static const char *const xml[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
	static const char *const doubled[] = {"&amp;amp;", "&amp;lt;", "&amp;gt;", "&amp;quot;",
	                                      "&amp;#39;"};
	const char *at = strchr("&<>\"'", c);

	if (c != '\0' && at != NULL)
		return (html ? doubled : xml)[at - "&<>\"'"];
	if (c == '\n' && html)
		return "&lt;br&gt;";
	return (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? " " : NULL;
}

/* S as XML character data or attribute value (HTML: as HTML inside it): markup escaped,
 * the control characters XML 1.0 forbids as spaces, bytes that are not UTF-8 as U+FFFD. */
static void esc(struct out *o, const char *s, bool html)
{
	out_escape(o, s, utf8_seq, xml_entity, &html);
}

static void xml_esc(struct out *o, const char *s)
{
	esc(o, s, false);
}

/* RFC 3339 (Atom): 2026-11-21T10:14:05Z */
static void rfc3339(int64_t ms, char *buf, size_t len)
{
	out_utc(ms, "%Y-%m-%dT%H:%M:%SZ", buf, len);
}

/* RFC 822 (RSS 2.0), with a four-digit year: Sat, 21 Nov 2026 10:14:05 GMT. The names
 * are English whatever the locale: nodegate never calls setlocale. */
static void rfc822(int64_t ms, char *buf, size_t len)
{
	out_utc(ms, "%a, %d %b %Y %H:%M:%S GMT", buf, len);
}

/* "tag:AUTHORITY,2026-11-21:incident-7/update-3": stable as long as the authority is. */
static void entry_id(const struct ev *v, const char *authority, char *buf, size_t len)
{
	char day[16];

	out_utc(v->started, "%Y-%m-%d", day, sizeof(day));
	if (v->kind == FE_UPDATE)
		snprintf(buf, len, "tag:%s,%s:incident-%lld/update-%zu", authority, day,
		         (long long)v->incident, v->index);
	else
		snprintf(buf, len, "tag:%s,%s:incident-%lld/%s", authority, day,
		         (long long)v->incident, event_words[v->kind].term);
}

static void entry_title(struct out *o, const struct ev *v)
{
	xml_esc(o, W(v->kind == FE_UPDATE ? update_words[v->status] : event_words[v->kind].word));
	outs(o, ": ");
	xml_esc(o, v->title);
}

/* The entry's text as HTML (escaped for XML): what happened, the promises of an update,
 * what it affects, and the window of a planned maintenance; one line each. */
static void entry_text(struct out *o, const struct ev *v)
{
	char a[40], b[40], line[160];

	esc(o, v->text, true);
	if (v->eta > 0) {
		rfc3339(v->eta, a, sizeof(a));
		snprintf(line, sizeof(line), "\n%s %s", W(W_FEED_EXPECTED), a);
		esc(o, line, true);
	}
	if (v->next_update > 0) {
		rfc3339(v->next_update, a, sizeof(a));
		snprintf(line, sizeof(line), "\n%s %s", W(W_FEED_NEXT), a);
		esc(o, line, true);
	}
	esc(o, "\n", true);
	esc(o, W(W_FEED_AFFECTS), true);
	esc(o, " ", true);
	esc(o, v->pool[0] != '\0' ? v->pool : W(W_MAIL_ALL_SERVICES), true);
	if (v->planned_start > 0) {
		rfc3339(v->planned_start, a, sizeof(a));
		rfc3339(v->planned_end, b, sizeof(b));
		line[0] = '\n';
		snprintf(line + 1, sizeof(line) - 1, W(W_FEED_WINDOW), a, b);
		esc(o, line, true);
	}
}

/* The feed's name, and the path of its file under the base. */
static void names(const char *pool, enum feed_format f, char *title_tail, size_t tlen, char *path,
                  size_t plen)
{
	if (pool != NULL) {
		snprintf(title_tail, tlen, ": %s %s", pool, W(W_FEED_INCIDENTS));
		snprintf(path, plen, "pools/%s/%s", pool, feed_file_names[f]);
	} else {
		snprintf(title_tail, tlen, ": %s", W(W_FEED_INCIDENTS));
		snprintf(path, plen, "%s", feed_file_names[f]);
	}
}

static const char *site_title(void)
{
	const char *t = registry.conf != NULL ? registry.conf->status.title : NULL;

	return t != NULL && t[0] != '\0' ? t : "Status";
}

static void write_atom(struct out *o, const struct collect *c, const char *pool, const char *base,
                       const char *authority, int64_t updated)
{
	char tail[128], path[160], at[40], id[URL_MAX];

	names(pool, FEED_ATOM, tail, sizeof(tail), path, sizeof(path));
	rfc3339(updated, at, sizeof(at));
	snprintf(id, sizeof(id), "tag:%s,2026:%s%s%sfeed", authority, pool ? "pool-" : "",
	         pool ? pool : "", pool ? "/" : "");
	outs(o, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	        "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<id>");
	xml_esc(o, id);
	outs(o, "</id>\n");
	outs(o, "<title>");
	xml_esc(o, site_title());
	xml_esc(o, tail);
	outf(o,
	     "</title>\n<updated>%s</updated>\n<link rel=\"self\" "
	     "type=\"application/atom+xml\" href=\"",
	     at);
	xml_esc(o, base);
	xml_esc(o, path);
	outs(o, "\"/>\n<link rel=\"alternate\" type=\"text/html\" href=\"");
	xml_esc(o, base);
	outs(o, "\"/>\n<author><name>");
	xml_esc(o, site_title());
	outs(o, "</name></author>\n<generator>nodegate</generator>\n");
	for (size_t i = 0; i < c->n; i++) {
		const struct ev *v = &c->ev[i];

		entry_id(v, authority, id, sizeof(id));
		rfc3339(v->at, at, sizeof(at));
		outs(o, "<entry>\n<id>");
		xml_esc(o, id);
		outs(o, "</id>\n<title type=\"text\">");
		entry_title(o, v);
		outf(o,
		     "</title>\n<updated>%s</updated>\n<published>%s</published>\n"
		     "<link rel=\"alternate\" type=\"text/html\" href=\"",
		     at, at);
		xml_esc(o, base);
		outf(o, "#inc-%lld\"/>\n<category term=\"%s\"/>\n<content type=\"html\">",
		     (long long)v->incident, event_words[v->kind].term);
		entry_text(o, v);
		outs(o, "</content>\n</entry>\n");
	}
	outs(o, "</feed>\n");
}

static void write_rss(struct out *o, const struct collect *c, const char *pool, const char *base,
                      const char *authority, int64_t updated)
{
	char tail[128], path[160], at[48], id[URL_MAX];

	names(pool, FEED_RSS, tail, sizeof(tail), path, sizeof(path));
	rfc822(updated, at, sizeof(at));
	outs(o, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\" "
	        "xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n<title>");
	xml_esc(o, site_title());
	xml_esc(o, tail);
	outs(o, "</title>\n<link>");
	xml_esc(o, base);
	outs(o, "</link>\n<description>");
	outs(o, "Incidents, updates and maintenance of ");
	xml_esc(o, pool != NULL ? pool : "every service");
	outs(o, "</description>\n<atom:link rel=\"self\" type=\"application/rss+xml\" href=\"");
	xml_esc(o, base);
	xml_esc(o, path);
	outf(o, "\"/>\n<lastBuildDate>%s</lastBuildDate>\n<generator>nodegate</generator>\n", at);
	for (size_t i = 0; i < c->n; i++) {
		const struct ev *v = &c->ev[i];

		entry_id(v, authority, id, sizeof(id));
		rfc822(v->at, at, sizeof(at));
		outs(o, "<item>\n<title>");
		entry_title(o, v);
		outs(o, "</title>\n<link>");
		xml_esc(o, base);
		outf(o, "#inc-%lld</link>\n<guid isPermaLink=\"false\">", (long long)v->incident);
		xml_esc(o, id);
		outf(o, "</guid>\n<pubDate>%s</pubDate>\n<category>%s</category>\n<description>",
		     at, event_words[v->kind].term);
		entry_text(o, v);
		outs(o, "</description>\n</item>\n");
	}
	outs(o, "</channel>\n</rss>\n");
}

int feed_write(struct evbuffer *out, enum feed_format f, const char *pool, const char *base,
               const char *authority, int64_t now, int64_t *updated)
{
	struct collect c = {
	    .pool = pool, .now = now, .ev = calloc(FEED_MAX_ENTRIES, sizeof(*c.ev))};
	struct out o = {.b = out};

	*updated = 0;
	if (c.ev == NULL)
		return -1;
	incident_foreach(FEED_MAX_INCIDENTS, events_of, &c);
	qsort(c.ev, c.n, sizeof(*c.ev), newest_first);
	*updated = c.n > 0 ? c.ev[0].at : 0;
	/* without an entry, the feed is as old as this process's first look at it */
	if (first_written == 0)
		first_written = now;
	if (f == FEED_ATOM)
		write_atom(&o, &c, pool, base, authority, *updated ? *updated : first_written);
	else
		write_rss(&o, &c, pool, base, authority, *updated ? *updated : first_written);
	free(c.ev);
	return o.rc;
}

void feed_authority(const char *url, char *buf, size_t len)
{
	const char *h = url != NULL ? strstr(url, "://") : NULL;
	size_t n;

	if (h == NULL) {
		snprintf(buf, len, "localhost");
		return;
	}
	h += 3;
	h += strcspn(h, "@/") < strcspn(h, "/") ? strcspn(h, "@") + 1 : 0; /* user@ */
	n = *h == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/?#");
	if (n == 0 || n >= len) {
		snprintf(buf, len, "localhost");
		return;
	}
	snprintf(buf, len, "%.*s", (int)n, h);
	for (char *p = buf; *p != '\0'; p++)
		*p = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
	/* a tag: URI names a DNS name (RFC 4151): not an IPv6 literal */
	if (strspn(buf, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(buf))
		snprintf(buf, len, "localhost");
}

/* ---- the routes ------------------------------------------------------------------------------ */

/* The status page's absolute URL for links: [status] public_url, else http://HOST/ from the
 * request's Host header (when it looks like a host), else the listener's address. */
static void base_of(struct evhttp_request *req, char *buf, size_t len)
{
	const struct conf_status *st = &registry.conf->status;
	const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	char addr[300];

	if (st->public_url != NULL) {
		size_t n = strlen(st->public_url);
		snprintf(buf, len, "%s%s", st->public_url,
		         n > 0 && st->public_url[n - 1] == '/' ? "" : "/");
		return;
	}
	if (host != NULL && host[0] != '\0' && strlen(host) < 256 &&
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") ==
	        strlen(host)) {
		snprintf(buf, len, "http://%s/", host);
		return;
	}
	conf_addr_format(&st->bind, addr, sizeof(addr));
	snprintf(buf, len, "http://%s/", addr);
}

static void reply_plain(struct evhttp_request *req, int code, const char *reason, const char *text)
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

/* A strong validator: the first 16 bytes of the body's SHA-256, quoted. */
static void etag_of(struct evbuffer *b, char *buf, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t size = evbuffer_get_length(b);
	const unsigned char *p = evbuffer_pullup(b, -1);

	if (p == NULL || EVP_Digest(p, size, md, &n, EVP_sha256(), NULL) != 1 || n < 16) {
		snprintf(buf, len, "\"%zx\"", size);
		return;
	}
	snprintf(buf, len, "\"");
	for (unsigned i = 0; i < 16 && 2 * i + 3 < len; i++)
		snprintf(buf + 1 + 2 * i, len - 1 - 2 * i, "%02x", md[i]);
	snprintf(buf + strlen(buf), len - strlen(buf), "\"");
}

/* Whether the client has this version already: If-None-Match names ETAG (or *), or, when
 * it sent none, If-Modified-Since is not before LAST_MODIFIED (Unix ms). */
static bool not_modified(struct evhttp_request *req, const char *etag, int64_t last_modified)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *inm = evhttp_find_header(in, "If-None-Match");
	const char *ims = evhttp_find_header(in, "If-Modified-Since");
	struct tm tm = {0};

	if (inm != NULL)
		return strstr(inm, etag) != NULL || strcmp(inm, "*") == 0;
	if (ims == NULL)
		return false;
	const char *end = strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	return end != NULL && *end == '\0' && (int64_t)timegm(&tm) >= last_modified / 1000;
}

static void serve(struct evhttp_request *req, enum feed_format f, const char *pool)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char base[URL_MAX], authority[256], etag[40], lm[48];
	int64_t updated;

	base_of(req, base, sizeof(base));
	feed_authority(registry.conf->status.public_url, authority, sizeof(authority));
	if (feed_write(out, f, pool, base, authority, clock_wall(), &updated) < 0) {
		log_warn("feed: out of memory");
		reply_plain(req, HTTP_INTERNAL, "Internal Server Error", "out of memory\n");
		return;
	}
	etag_of(out, etag, sizeof(etag));
	rfc822(updated != 0 ? updated : first_written, lm, sizeof(lm));
	evhttp_add_header(h, "ETag", etag);
	evhttp_add_header(h, "Last-Modified", lm);
	/* readers may keep it, and must ask again (cheaply: 304) before using it */
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (not_modified(req, etag, updated != 0 ? updated : first_written)) {
		evbuffer_drain(out, evbuffer_get_length(out));
		evhttp_send_reply(req, HTTP_NOTMODIFIED, "Not Modified", NULL);
		return;
	}
	evhttp_add_header(h, "Content-Type", feed_content_types[f]);
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

/* FILE ("feed.atom", "feed.rss") as a format, or FEED_FORMAT_COUNT. */
static enum feed_format format_of(const char *file)
{
	for (size_t f = 0; f < FEED_FORMAT_COUNT; f++)
		if (strcmp(file, feed_file_names[f]) == 0)
			return (enum feed_format)f;
	return FEED_FORMAT_COUNT;
}

/* /feed.atom, /feed.rss; /pools/NAME/feed.atom, /pools/NAME/feed.rss. */
static void feed_route(struct evhttp_request *req, const char *path, void *arg)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	const char *file = path + 1, *pool = NULL;
	char name[80];

	if (strncmp(path, "/pools/", 7) == 0) {
		const char *slash = strchr(path + 7, '/');
		size_t n = slash != NULL ? (size_t)(slash - (path + 7)) : 0;

		if (n == 0 || n >= sizeof(name)) {
			reply_plain(req, HTTP_NOTFOUND, "Not Found", "not found\n");
			return;
		}
		snprintf(name, sizeof(name), "%.*s", (int)n, path + 7);
		if (registry_pool(name) == NULL) {
			reply_plain(req, HTTP_NOTFOUND, "Not Found", "no such pool\n");
			return;
		}
		pool = name;
		file = slash + 1;
	}
	enum feed_format f = format_of(file);
	if (f == FEED_FORMAT_COUNT) {
		reply_plain(req, HTTP_NOTFOUND, "Not Found", "not found\n");
		return;
	}
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		reply_plain(req, HTTP_BADMETHOD, "Method Not Allowed",
		            "method not allowed (expected GET or HEAD)\n");
		return;
	}
	serve(req, f, pool);
}

void feed_init(void)
{
	if (first_written == 0)
		first_written = clock_wall();
	if (status_route("/feed.atom", feed_route, NULL) != 0 ||
	    status_route("/feed.rss", feed_route, NULL) != 0 ||
	    status_route("/pools", feed_route, NULL) != 0)
		log_error("feeds: no room for their routes (STATUS_MAX_ROUTES)");
}
