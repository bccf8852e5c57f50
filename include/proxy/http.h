/* HTTP/1.1 framing: a strict, incremental parser for request and response heads and a
 * pass-through chunked-body tracker. Pure logic: no I/O, no allocation, no clock.
 *
 * The head parser runs over a contiguous buffer that grows as bytes arrive (the caller
 * keeps the head bytes in place, e.g. with evbuffer_pullup, and calls again with the longer
 * buffer); it resumes where it stopped and never rescans. Fields are recorded as offsets
 * into that buffer. Strict: bare CR or LF, obs-fold, whitespace before a colon, bad token
 * characters, conflicting or repeated Content-Length, Transfer-Encoding with
 * Content-Length, and chunked not last are all refused with the status to answer. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS 128 /* hard cap; the configured max_headers may be lower */

enum http_kind {
	HTTP_REQUEST = 0,
	HTTP_RESPONSE,
	HTTP_KIND_COUNT
};

enum http_result {
	HTTP_NEED_MORE = 0, /* head not complete yet: call again with more bytes */
	HTTP_DONE,          /* head complete: p->head_len bytes form the head */
	HTTP_ERROR,         /* refused: p->status and p->reason say why */
	HTTP_RESULT_COUNT
};

enum http_method {
	HTTP_M_OTHER = 0, /* any other valid token */
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_POST,
	HTTP_M_PUT,
	HTTP_M_DELETE,
	HTTP_M_OPTIONS,
	HTTP_M_CONNECT,
	HTTP_M_TRACE,
	HTTP_M_PATCH,
	HTTP_M_COUNT
};
extern const char *const http_method_names[HTTP_M_COUNT];

/* How the body after a head is delimited. */
enum http_body {
	HTTP_BODY_NONE = 0,    /* no body (or a zero Content-Length) */
	HTTP_BODY_LENGTH,      /* exactly content_length bytes */
	HTTP_BODY_CHUNKED,     /* chunked coding: feed it to http_chunked */
	HTTP_BODY_UNTIL_CLOSE, /* response read until the connection closes */
	HTTP_BODY_COUNT
};

struct http_span {
	uint32_t off, len; /* into the head buffer */
};

struct http_header {
	struct http_span name, value; /* value without surrounding whitespace */
};

/* Parsed head. */
struct http_msg {
	enum http_kind kind;
	enum http_method method;   /* requests */
	struct http_span method_s; /* requests: the method token as sent */
	struct http_span target;   /* requests: request-target */
	int status;                /* responses: 100..599 */
	int version_minor;         /* 0 or 1 (HTTP/1.x only) */
	struct http_header hdr[HTTP_MAX_HEADERS];
	unsigned n_hdr;
	uint64_t hop[HTTP_MAX_HEADERS / 64]; /* hdr[i] is hop-by-hop: bit i (http_header_is_hop) */
	enum http_body body;                 /* for responses, before http_response_body() */
	uint64_t content_length;
	bool keep_alive;        /* after this message, by version and Connection tokens */
	bool conn_upgrade;      /* Connection has the "upgrade" token */
	unsigned n_connection;  /* Connection header lines */
	bool upgrade_websocket; /* Upgrade: websocket (requests) */
	bool expect_continue;   /* Expect: 100-continue */
	bool has_host;
};

struct http_limits {
	uint32_t max_head;    /* whole head in bytes: over it, 431 (requests) / 502-worthy */
	uint32_t max_uri;     /* request-target bytes: over it, 414 */
	uint32_t max_headers; /* header fields: over it, 431 */
};

struct http_parser {
	/* private state */
	int state;
	uint32_t pos;  /* next byte to look at */
	uint32_t mark; /* start of the token being scanned */
	uint32_t line_start;
	struct http_limits lim;
	/* results */
	uint32_t head_len;  /* HTTP_DONE: bytes of the head, including the final CRLF */
	int status;         /* HTTP_ERROR: the status to answer (400, 414, 431, 501, 505) */
	const char *reason; /* HTTP_ERROR: a short static sentence for the log */
	struct http_msg msg;
};

void http_parser_init(struct http_parser *p, enum http_kind kind, const struct http_limits *lim);
/* buf holds the head bytes received so far from offset 0; len only grows between calls. */
enum http_result http_parse_head(struct http_parser *p, const char *buf, size_t len);

/* Response framing once the request is known (RFC 9112 6.3): HEAD, 1xx, 204 and 304
 * have no body; 2xx to CONNECT neither. Updates msg->body. */
void http_response_body(struct http_msg *resp, enum http_method req_method);

/* Header helpers: names compare case-insensitively. */
/* Whether the N bytes at A equal LIT (ASCII, case-insensitive). */
bool http_eq_lc(const char *a, const char *lit, size_t n);
/* Inline: with a literal LIT the length test is a constant compare, and most names differ
 * in length (a head's every header is tested against a list of names). */
static inline bool http_span_eq(const char *buf, struct http_span s, const char *lit)
{
	size_t n = __builtin_strlen(lit);
	return s.len == n && http_eq_lc(buf + s.off, lit, n);
}
/* Index of the first header named NAME at or after FROM, or -1. */
int http_find_header(const struct http_msg *m, const char *buf, const char *name, unsigned from);
/* Whether a comma-separated header value contains TOKEN (case-insensitive). */
bool http_value_has_token(const char *buf, struct http_span v, const char *token);
/* Hop-by-hop: Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade, and every
 * header the message's Connection header names. Transfer-Encoding is NOT hop-by-hop here:
 * nodegate forwards bodies verbatim, so it keeps the body's framing headers. */
bool http_header_is_hop(const struct http_msg *m, const char *buf, unsigned i);

/* Chunked body tracker: consumes the raw chunked bytes (sizes, extensions, data, trailers)
 * without changing them, so the caller can forward exactly what it consumed. */
struct http_chunked {
	int state;
	uint64_t remaining; /* data bytes left in the current chunk */
	uint32_t line_len;  /* size line / trailer line length so far (bounded) */
	uint32_t trailer_bytes;
	const char *reason; /* on HTTP_ERROR */
};
void http_chunked_init(struct http_chunked *c);
/* Consumes up to len bytes; *used says how many. HTTP_DONE when the last chunk and the
 * trailer section ended (bytes after it are not consumed); HTTP_ERROR on a bad chunk size,
 * a missing CRLF, or an oversized size line or trailer section (answer 400). */
enum http_result http_chunked_feed(struct http_chunked *c, const char *buf, size_t len,
                                   size_t *used);
/* Data bytes of the current chunk still to come when the next byte fed is data, else 0
 * (a size line, a CRLF or a trailer comes next): lets a caller decode the body. */
uint64_t http_chunked_data_left(const struct http_chunked *c);

/* Status line reason phrases for the statuses nodegate itself answers. */
const char *http_status_text(int status);
