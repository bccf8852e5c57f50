/* HTTP/1.1 framing: a strict, resumable head parser and a pass-through chunked tracker.
 * Pure logic: byte classes come from one table, fields are offsets, nothing is allocated. */
#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "util.h"
#include "proxy/http.h"

const char *const http_method_names[HTTP_M_COUNT] = {
    [HTTP_M_OTHER] = "OTHER",     [HTTP_M_GET] = "GET",         [HTTP_M_HEAD] = "HEAD",
    [HTTP_M_POST] = "POST",       [HTTP_M_PUT] = "PUT",         [HTTP_M_DELETE] = "DELETE",
    [HTTP_M_OPTIONS] = "OPTIONS", [HTTP_M_CONNECT] = "CONNECT", [HTTP_M_TRACE] = "TRACE",
    [HTTP_M_PATCH] = "PATCH",
};

/* ---- byte classes ---------------------------------------------------------------------- */

enum {
	CL_TOKEN = 1 << 0, /* tchar (RFC 9110 5.6.2) */
	CL_VCHAR = 1 << 1, /* 0x21..0x7e: request-target, version */
	CL_VALUE = 1 << 2, /* field-value / reason: HTAB, SP, VCHAR, obs-text */
	CL_HEX = 1 << 3,   /* HEXDIG */
	CL_DIGIT = 1 << 4, /* DIGIT */
	CL_OWS = 1 << 5,   /* SP, HTAB */
};

#define IS_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_TCHAR(c)                                                                                \
	(IS_ALPHA(c) || IS_DIGIT(c) || (c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' ||     \
	 (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' ||      \
	 (c) == '^' || (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
#define IS_VCHAR(c) ((c) >= 0x21 && (c) <= 0x7e)
#define IS_HEX(c)   (IS_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define IS_OWS(c)   ((c) == ' ' || (c) == '\t')
#define CLS(c)                                                                                     \
	((IS_TCHAR(c) ? CL_TOKEN : 0) | (IS_VCHAR(c) ? CL_VCHAR : 0) |                             \
	 (IS_VCHAR(c) || IS_OWS(c) || (c) >= 0x80 ? CL_VALUE : 0) | (IS_HEX(c) ? CL_HEX : 0) |     \
	 (IS_DIGIT(c) ? CL_DIGIT : 0) | (IS_OWS(c) ? CL_OWS : 0))
#define CLS4(c)  CLS(c), CLS((c) + 1), CLS((c) + 2), CLS((c) + 3)
#define CLS16(c) CLS4(c), CLS4((c) + 4), CLS4((c) + 8), CLS4((c) + 12)
#define CLS64(c) CLS16(c), CLS16((c) + 16), CLS16((c) + 32), CLS16((c) + 48)

static const uint8_t cls[256] = {CLS64(0), CLS64(64), CLS64(128), CLS64(192)};

static inline unsigned char lc(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static inline unsigned hexval(unsigned char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/* The bytes of X with 'A'..'Z' made lower case, eight at a time (no carry crosses a byte:
 * each sum stays under 0x100; bytes over 0x7f are left alone). */
static inline uint64_t fold8(uint64_t x)
{
	const uint64_t low7 = 0x7f7f7f7f7f7f7f7fULL, highs = 0x8080808080808080ULL;
	uint64_t h = x & low7;
	uint64_t from_a = h + 0x3f3f3f3f3f3f3f3fULL;    /* high bit: h >= 'A' (0x41) */
	uint64_t past_z = h + 0x2525252525252525ULL;    /* high bit: h > 'Z' (0x5a) */
	uint64_t upper = from_a & ~past_z & ~x & highs; /* high bit of each upper-case byte */
	return x | (upper >> 2);                        /* 0x80 >> 2: the case bit */
}

static inline bool eq_fold(uint64_t x, uint64_t y)
{
	return x == y || fold8(x) == fold8(y); /* most bytes are equal as they are */
}

/* Case-insensitive (ASCII) comparison of N bytes with LIT: words of eight (or four) bytes,
 * the last one overlapping the one before. */
static bool eq_lc(const unsigned char *a, const char *lit, size_t n)
{
	const unsigned char *l = (const unsigned char *)lit;
	uint64_t x, y;

	if (n >= 8) {
		for (size_t i = 0; i + 8 <= n; i += 8) {
			memcpy(&x, a + i, 8);
			memcpy(&y, l + i, 8);
			if (!eq_fold(x, y))
				return false;
		}
		memcpy(&x, a + n - 8, 8);
		memcpy(&y, l + n - 8, 8);
		return eq_fold(x, y);
	}
	if (n >= 4) {
		uint32_t x4, y4, x5, y5;
		memcpy(&x4, a, 4);
		memcpy(&y4, l, 4);
		memcpy(&x5, a + n - 4, 4);
		memcpy(&y5, l + n - 4, 4);
		return eq_fold(x4, y4) && eq_fold(x5, y5);
	}
	for (size_t i = 0; i < n; i++)
		if (a[i] != l[i] && lc(a[i]) != lc(l[i]))
			return false;
	return true;
}

/* Next non-empty element of the comma-separated list in [*i, e), trimmed of OWS; false at
 * the end. Empty elements ("a, ,b") are skipped, as RFC 9110 5.6.1 asks of recipients. */
static bool list_next(const unsigned char *b, uint32_t *i, uint32_t e, struct http_span *el)
{
	uint32_t j = *i;
	while (j < e && (b[j] == ',' || IS_OWS(b[j])))
		j++;
	if (j == e) {
		*i = j;
		return false;
	}
	uint32_t s = j;
	while (j < e && b[j] != ',')
		j++;
	uint32_t t = j;
	while (t > s && IS_OWS(b[t - 1]))
		t--;
	el->off = s;
	el->len = t - s;
	*i = j;
	return true;
}

static bool has_token_n(const char *buf, struct http_span v, const char *tok, size_t n)
{
	const unsigned char *b = (const unsigned char *)buf;
	uint32_t i = v.off, e = v.off + v.len;
	struct http_span el;
	while (list_next(b, &i, e, &el))
		if (el.len == n && eq_lc(b + el.off, tok, n))
			return true;
	return false;
}

bool http_eq_lc(const char *a, const char *lit, size_t n)
{
	return eq_lc((const unsigned char *)a, lit, n);
}

int http_find_header(const struct http_msg *m, const char *buf, const char *name, unsigned from)
{
	for (unsigned i = from; i < m->n_hdr; i++)
		if (http_span_eq(buf, m->hdr[i].name, name))
			return (int)i;
	return -1;
}

bool http_value_has_token(const char *buf, struct http_span v, const char *token)
{
	return has_token_n(buf, v, token, strlen(token));
}

bool http_header_is_hop(const struct http_msg *m, const char *buf, unsigned i)
{
	(void)buf; /* told once, at the end of the head (hop_by_hop) */
	return i < m->n_hdr && (m->hop[i / 64] >> (i % 64) & 1);
}

const char *http_status_text(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

/* Runs of common bytes, 16 at a time while 16 bytes are left (SSE2): the offset of the first
 * byte from Q (before E) that the run does not take, or where fewer than 16 are left. The
 * caller's table loop goes on from there (it decides every byte the run did not take). Byte
 * compares are signed: bytes over 0x7f are never taken. */
#ifdef __SSE2__
/* letters and '-', the bytes of most field names (x | 0x20 in 'a'..'z': a letter) */
static inline uint32_t run_name(const unsigned char *b, uint32_t q, uint32_t e)
{
	const __m128i before_a = _mm_set1_epi8('a' - 1), after_z = _mm_set1_epi8('z' + 1);
	const __m128i dash = _mm_set1_epi8('-'), bit = _mm_set1_epi8(0x20);

	for (; e - q >= 16; q += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + q));
		__m128i l = _mm_or_si128(x, bit);
		__m128i ok = _mm_or_si128(
		    _mm_and_si128(_mm_cmpgt_epi8(l, before_a), _mm_cmplt_epi8(l, after_z)),
		    _mm_cmpeq_epi8(x, dash));
		unsigned m = ~(unsigned)_mm_movemask_epi8(ok) & 0xffff;
		if (m != 0)
			return q + (unsigned)__builtin_ctz(m);
	}
	return q;
}

/* VCHAR, 0x21..0x7e: request-targets and versions */
static inline uint32_t run_vchar(const unsigned char *b, uint32_t q, uint32_t e)
{
	const __m128i sp = _mm_set1_epi8(' '), del = _mm_set1_epi8(0x7f);

	for (; e - q >= 16; q += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + q));
		__m128i ok = _mm_and_si128(_mm_cmpgt_epi8(x, sp), _mm_cmplt_epi8(x, del));
		unsigned m = ~(unsigned)_mm_movemask_epi8(ok) & 0xffff;
		if (m != 0)
			return q + (unsigned)__builtin_ctz(m);
	}
	return q;
}

/* field-value bytes but HTAB: SP..0x7e and obs-text (0x80..0xff) */
static inline uint32_t run_value(const unsigned char *b, uint32_t q, uint32_t e)
{
	const __m128i zero = _mm_setzero_si128(), sp = _mm_set1_epi8(' '),
	              del = _mm_set1_epi8(0x7f);

	for (; e - q >= 16; q += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + q));
		__m128i ctl =
		    _mm_or_si128(_mm_andnot_si128(_mm_cmplt_epi8(x, zero), _mm_cmplt_epi8(x, sp)),
		                 _mm_cmpeq_epi8(x, del));
		unsigned m = (unsigned)_mm_movemask_epi8(ctl);
		if (m != 0)
			return q + (unsigned)__builtin_ctz(m);
	}
	return q;
}
#else
static inline uint32_t run_name(const unsigned char *b, uint32_t q, uint32_t e)
{
	(void)b, (void)e;
	return q;
}
#define run_vchar run_name
#define run_value run_name
#endif

/* ---- head parser ----------------------------------------------------------------------- */

/* Parser states (p->state). */
enum {
	S_START = 0,    /* request: before the method, empty lines allowed */
	S_LEAD_LF,      /* request: CR of an empty leading line seen */
	S_METHOD,       /* request: in the method token */
	S_TARGET,       /* request: in the request-target */
	S_REQ_VERSION,  /* request: in the HTTP-version */
	S_REQ_LF,       /* request: CR after the version seen */
	S_RESP_VERSION, /* response: in the HTTP-version */
	S_STATUS,       /* response: in the 3-digit status code */
	S_STATUS_END,   /* response: after the code, SP or CR */
	S_REASON,       /* response: in the reason phrase */
	S_RESP_LF,      /* response: CR after the status line seen */
	S_HDR_START,    /* at the start of a field line (or the empty line) */
	S_HDR_NAME,     /* in a field name */
	S_HDR_OWS,      /* after the colon, before the value */
	S_HDR_VALUE,    /* in a field value */
	S_HDR_LF,       /* CR after a field line seen */
	S_END_LF,       /* CR of the empty line seen */
	S_DONE,
	S_ERROR,
	S_COUNT
};

#define MAX_LEADING_CRLF 4  /* empty lines tolerated before a request line */
#define MAX_VERSION_LEN  16 /* longer than this is not "HTTP/x.y" */

#define DEFAULT_MAX_HEAD 65536
#define DEFAULT_MAX_URI  8192

void http_parser_init(struct http_parser *p, enum http_kind kind, const struct http_limits *lim)
{
	/* The header array is left alone: only hdr[0..n_hdr) is ever meaningful. */
	memset(p, 0, offsetof(struct http_parser, msg));
	struct http_msg *m = &p->msg;
	m->kind = kind;
	m->method = HTTP_M_OTHER;
	m->method_s = (struct http_span){0, 0};
	m->target = (struct http_span){0, 0};
	m->status = 0;
	m->version_minor = 0;
	m->n_hdr = 0;
	m->body = HTTP_BODY_NONE;
	m->content_length = 0;
	m->keep_alive = false;
	m->conn_upgrade = false;
	m->n_connection = 0;
	m->upgrade_websocket = false;
	m->expect_continue = false;
	m->has_host = false;
	memset(m->hop, 0, sizeof(m->hop));

	if (lim)
		p->lim = *lim;
	if (!p->lim.max_head)
		p->lim.max_head = DEFAULT_MAX_HEAD;
	if (!p->lim.max_uri)
		p->lim.max_uri = DEFAULT_MAX_URI;
	if (!p->lim.max_headers || p->lim.max_headers > HTTP_MAX_HEADERS)
		p->lim.max_headers = HTTP_MAX_HEADERS;
	p->state = kind == HTTP_RESPONSE ? S_RESP_VERSION : S_START;
}

/* Refuses the message. A bad response is the backend's fault: the client gets 502. */
static enum http_result fail(struct http_parser *p, int status, const char *reason)
{
	p->state = S_ERROR;
	p->status = p->msg.kind == HTTP_RESPONSE ? 502 : status;
	p->reason = reason;
	return HTTP_ERROR;
}

/* "HTTP/1.0" -> 0, "HTTP/1.1" -> 1, any other "HTTP/<digits>[.<digits>]" -> -2 (505),
 * anything else -> -1 (400). */
static int parse_version(const unsigned char *s, uint32_t n)
{
	if (n < 6 || memcmp(s, "HTTP/", 5) != 0)
		return -1;
	s += 5;
	n -= 5;
	if (n == 3 && s[0] == '1' && s[1] == '.' && (s[2] == '0' || s[2] == '1'))
		return s[2] - '0';
	uint32_t i = 0;
	while (i < n && IS_DIGIT(s[i]))
		i++;
	if (i == 0)
		return -1;
	if (i == n)
		return -2;
	if (s[i++] != '.' || i == n)
		return -1;
	while (i < n && IS_DIGIT(s[i]))
		i++;
	return i == n ? -2 : -1;
}

/* Whether the version bytes so far can still become a version: fail fast on garbage. */
static bool version_plausible(const unsigned char *s, uint32_t n)
{
	static const char http[5] = "HTTP/";

	if (n > MAX_VERSION_LEN)
		return false;
	for (uint32_t i = 0; i < n && i < 5; i++)
		if (s[i] != (unsigned char)http[i])
			return false;
	return true;
}

/* Told apart by length first, then compared with constants (inline compares). */
static enum http_method method_of(const unsigned char *s, uint32_t n)
{
#define IS(lit) (memcmp(s, lit, sizeof(lit) - 1) == 0)
	switch (n) {
	case 3:
		return IS("GET") ? HTTP_M_GET : IS("PUT") ? HTTP_M_PUT : HTTP_M_OTHER;
	case 4:
		return IS("POST") ? HTTP_M_POST : IS("HEAD") ? HTTP_M_HEAD : HTTP_M_OTHER;
	case 5:
		return IS("PATCH") ? HTTP_M_PATCH : IS("TRACE") ? HTTP_M_TRACE : HTTP_M_OTHER;
	case 6:
		return IS("DELETE") ? HTTP_M_DELETE : HTTP_M_OTHER;
	case 7:
		return IS("OPTIONS")   ? HTTP_M_OPTIONS
		       : IS("CONNECT") ? HTTP_M_CONNECT
		                       : HTTP_M_OTHER;
	default:
		return HTTP_M_OTHER;
	}
#undef IS
}

/* Content-Length: 1*DIGIT, or a list of identical values ("5, 5"). 0, -1 when invalid,
 * -2 when the list disagrees with itself. Values above INT64_MAX count as overflow so
 * callers can use signed offsets. */
static int parse_content_length(const unsigned char *b, struct http_span v, uint64_t *out)
{
	uint32_t i = v.off, e = v.off + v.len;
	uint64_t first = 0;
	bool have = false;

	for (;;) {
		while (i < e && IS_OWS(b[i]))
			i++;
		if (i == e || !IS_DIGIT(b[i]))
			return -1;
		uint64_t n = 0;
		for (; i < e && IS_DIGIT(b[i]); i++) {
			unsigned d = b[i] - '0';
			if (n > ((uint64_t)INT64_MAX - d) / 10)
				return -1;
			n = n * 10 + d;
		}
		if (have && n != first)
			return -2;
		first = n;
		have = true;
		while (i < e && IS_OWS(b[i]))
			i++;
		if (i == e)
			break;
		if (b[i++] != ',')
			return -1;
	}
	*out = first;
	return 0;
}

/* What the Transfer-Encoding fields of a message say, all fields taken as one list. */
struct te_info {
	unsigned n;       /* codings */
	unsigned chunked; /* of which "chunked" */
	bool last_chunked;
	bool chunked_param; /* a "chunked;..." (chunked takes no parameters) */
};

static void te_scan(const unsigned char *b, struct http_span v, struct te_info *te)
{
	uint32_t i = v.off, e = v.off + v.len;
	struct http_span el;
	while (list_next(b, &i, e, &el)) {
		bool ch = el.len == 7 && eq_lc(b + el.off, "chunked", 7);
		if (el.len > 7 && eq_lc(b + el.off, "chunked", 7)) {
			uint32_t k = el.off + 7;
			while (k < el.off + el.len && (b[k] == ' ' || b[k] == '\t'))
				k++;
			te->chunked_param |= k < el.off + el.len && b[k] == ';';
		}
		te->n++;
		te->chunked += ch;
		te->last_chunked = ch;
	}
}

/* The framing headers of a request, once the head is complete (RFC 9112 6.1, 6.3). */
static enum http_result req_framing(struct http_parser *p, const struct te_info *te, bool has_te,
                                    bool has_cl)
{
	struct http_msg *m = &p->msg;

	if (m->version_minor == 1 && !m->has_host)
		return fail(p, 400, "missing Host header");
	if (!has_te) {
		m->body = m->content_length ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
		return HTTP_DONE;
	}
	if (m->version_minor == 0)
		return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
	if (has_cl)
		return fail(p, 400, "both Transfer-Encoding and Content-Length");
	if (te->n == 0)
		return fail(p, 400, "empty Transfer-Encoding");
	if (te->chunked_param)
		return fail(p, 400, "chunked takes no parameters");
	if (!te->last_chunked)
		return fail(p, 400, "chunked is not the final transfer coding");
	if (te->chunked > 1)
		return fail(p, 400, "chunked applied more than once");
	if (te->n > 1)
		return fail(p, 501, "unsupported transfer coding");
	m->body = HTTP_BODY_CHUNKED;
	return HTTP_DONE;
}

/* Responses: Transfer-Encoding overrides Content-Length; without chunked last, the body runs
 * until close. Either oddity (TE with CL, TE in HTTP/1.0) also ends the connection. */
static enum http_result resp_framing(struct http_parser *p, const struct te_info *te, bool has_te,
                                     bool has_cl)
{
	struct http_msg *m = &p->msg;

	if (has_te) {
		m->body = te->last_chunked ? HTTP_BODY_CHUNKED : HTTP_BODY_UNTIL_CLOSE;
		m->content_length = 0;
		if (has_cl || m->version_minor == 0)
			m->keep_alive = false;
	} else if (has_cl) {
		m->body = m->content_length ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
	} else {
		m->body = HTTP_BODY_UNTIL_CLOSE;
	}
	return HTTP_DONE;
}

/* Whether the field name N (N bytes, all tchar: the parser took it) is LIT, lower case
 * letters, digits and '-'. For a tchar x and such a byte y, x | 0x20 == y only when x is y
 * or its upper case (the other byte that folds onto a digit or '-' is a control byte), so
 * one OR per word folds the name. Inline: with a constant LEN the words are fixed. */
static inline bool name_is(const unsigned char *n, const char *lit, size_t len)
{
	const uint64_t b64 = 0x2020202020202020ULL;
	uint64_t x, y;
	uint32_t x4, y4;
	uint16_t x2, y2;

	if (len >= 8) {
		for (size_t i = 0; i + 8 <= len; i += 8) {
			memcpy(&x, n + i, 8);
			memcpy(&y, lit + i, 8);
			if ((x | b64) != y)
				return false;
		}
		memcpy(&x, n + len - 8, 8);
		memcpy(&y, lit + len - 8, 8);
		return (x | b64) == y;
	}
	if (len >= 4) {
		memcpy(&x4, n, 4);
		memcpy(&y4, lit, 4);
		if ((x4 | (uint32_t)b64) != y4)
			return false;
		memcpy(&x4, n + len - 4, 4);
		memcpy(&y4, lit + len - 4, 4);
		return (x4 | (uint32_t)b64) == y4;
	}
	if (len >= 2) {
		memcpy(&x2, n, 2);
		memcpy(&y2, lit, 2);
		if ((x2 | (uint16_t)b64) != y2)
			return false;
		return (n[len - 1] | 0x20) == (unsigned char)lit[len - 1];
	}
	return len == 0 || (n[0] | 0x20) == (unsigned char)lit[0];
}

/* Hop-by-hop too: every field the Connection fields name, except those in KEPT (framing and
 * routing: dropping them would change what the backend sees, a known smuggling trick). */
static void named_by_connection(struct http_msg *m, const unsigned char *b, const uint64_t *kept)
{
	for (unsigned i = 0; i < m->n_hdr; i++) {
		uint64_t bit = 1ULL << (i % 64);
		if ((m->hop[i / 64] | kept[i / 64]) & bit)
			continue;
		struct http_span n = m->hdr[i].name;
		for (int j = http_find_header(m, (const char *)b, "connection", 0); j >= 0;
		     j = http_find_header(m, (const char *)b, "connection", (unsigned)j + 1))
			if (has_token_n((const char *)b, m->hdr[j].value, (const char *)b + n.off,
			                n.len)) {
				m->hop[i / 64] |= bit;
				break;
			}
	}
}

/* Reads the fields that matter to framing and connection handling, once, at the end of the
 * head: the framing, the connection's fate, and which fields are hop-by-hop (connection,
 * keep-alive, proxy-connection, te, trailer, upgrade, and those Connection names; never
 * host, content-length or transfer-encoding, which nodegate forwards). Names are told
 * apart by length first. */
static enum http_result finish_head(struct http_parser *p, const unsigned char *b)
{
	struct http_msg *m = &p->msg;
	struct te_info te = {0};
	bool has_te = false, has_cl = false, conn_close = false, ka = false;
	uint64_t kept[HTTP_MAX_HEADERS / 64] = {0}; /* never hop-by-hop, whatever Connection says */

	for (unsigned i = 0; i < m->n_hdr; i++) {
		const struct http_header *h = &m->hdr[i];
		const unsigned char *n = b + h->name.off;
		uint64_t cl, bit = 1ULL << (i % 64);
		int rc;

		switch (h->name.len) {
		case 2:
			if (name_is(n, "te", 2))
				m->hop[i / 64] |= bit;
			break;
		case 4:
			if (!name_is(n, "host", 4))
				break;
			kept[i / 64] |= bit;
			if (m->has_host && m->kind == HTTP_REQUEST)
				return fail(p, 400, "more than one Host header");
			m->has_host = true;
			break;
		case 6:
			if (name_is(n, "expect", 6) &&
			    has_token_n((const char *)b, h->value, "100-continue", 12))
				m->expect_continue = true;
			break;
		case 7:
			if (name_is(n, "trailer", 7)) {
				m->hop[i / 64] |= bit;
			} else if (name_is(n, "upgrade", 7)) {
				m->hop[i / 64] |= bit;
				if (has_token_n((const char *)b, h->value, "websocket", 9))
					m->upgrade_websocket = true;
			}
			break;
		case 10:
			if (name_is(n, "keep-alive", 10))
				m->hop[i / 64] |= bit;
			if (!name_is(n, "connection", 10))
				break;
			m->hop[i / 64] |= bit;
			m->n_connection++;
			conn_close |= has_token_n((const char *)b, h->value, "close", 5);
			ka |= has_token_n((const char *)b, h->value, "keep-alive", 10);
			m->conn_upgrade |= has_token_n((const char *)b, h->value, "upgrade", 7);
			break;
		case 14:
			if (!name_is(n, "content-length", 14))
				break;
			kept[i / 64] |= bit;
			rc = parse_content_length(b, h->value, &cl);
			if (rc == -1)
				return fail(p, 400, "invalid Content-Length");
			if (rc == -2 || (has_cl && cl != m->content_length))
				return fail(p, 400, "conflicting Content-Length values");
			m->content_length = cl;
			has_cl = true;
			break;
		case 16:
			if (name_is(n, "proxy-connection", 16))
				m->hop[i / 64] |= bit;
			break;
		case 17:
			if (!name_is(n, "transfer-encoding", 17))
				break;
			kept[i / 64] |= bit;
			te_scan(b, h->value, &te);
			has_te = true;
			break;
		default:
			break;
		}
	}
	m->keep_alive = !conn_close && (m->version_minor == 1 || ka);
	if (m->n_connection > 0)
		named_by_connection(m, b, kept);
	if (m->kind == HTTP_REQUEST)
		return req_framing(p, &te, has_te, has_cl);
	return resp_framing(p, &te, has_te, has_cl);
}

/* Scans the run of bytes of class C from *pos up to e. */
#define SKIP(C)                                                                                    \
	do {                                                                                       \
		while (pos < e && (cls[b[pos]] & (C)))                                             \
			pos++;                                                                     \
	} while (0)

/* The character that stopped a scan, as a refusal: a LF there is always a bare LF. */
static enum http_result bad_char(struct http_parser *p, unsigned char c, const char *what)
{
	return fail(p, 400, c == '\n' ? "bare LF in head" : what);
}

/* Request line and status line states. Consumes at least one byte or changes state;
 * returns HTTP_NEED_MORE to go on. */
static enum http_result step_start_line(struct http_parser *p, const unsigned char *b,
                                        uint32_t *ppos, uint32_t e)
{
	struct http_msg *m = &p->msg;
	uint32_t pos = *ppos;
	enum http_result r = HTTP_NEED_MORE;
	unsigned char c;
	int v;

	switch (p->state) {
	case S_START:
		c = b[pos];
		if (c == '\r') {
			pos++;
			p->state = S_LEAD_LF;
		} else if (cls[c] & CL_TOKEN) {
			p->mark = p->line_start = pos;
			p->state = S_METHOD;
		} else {
			r = bad_char(p, c, "bad character in method");
		}
		break;
	case S_LEAD_LF:
		if (b[pos] != '\n')
			return fail(p, 400, "bare CR in head");
		if (++pos / 2 > MAX_LEADING_CRLF)
			return fail(p, 400, "too many empty lines before the request line");
		p->state = S_START;
		break;
	case S_METHOD:
		SKIP(CL_TOKEN);
		if (pos == e)
			break;
		if (b[pos] != ' ')
			return bad_char(p, b[pos], "bad character in method");
		m->method_s = (struct http_span){p->mark, pos - p->mark};
		m->method = method_of(b + p->mark, pos - p->mark);
		p->mark = ++pos;
		p->state = S_TARGET;
		break;
	case S_TARGET: {
		uint64_t lim = (uint64_t)p->mark + p->lim.max_uri + 1;
		uint32_t stop = lim < e ? (uint32_t)lim : e;
		pos = run_vchar(b, pos, stop);
		while (pos < stop && (cls[b[pos]] & CL_VCHAR))
			pos++;
		if (pos - p->mark > p->lim.max_uri)
			return fail(p, 414, "request target too long");
		if (pos == e)
			break;
		c = b[pos];
		if (c == '\r')
			return fail(p, 400, "request line without HTTP version");
		if (c != ' ')
			return bad_char(p, c,
			                c < 0x20 || c == 0x7f
			                    ? "control character in request target"
			                    : "bad character in request target");
		if (pos == p->mark)
			return fail(p, 400, "empty request target");
		m->target = (struct http_span){p->mark, pos - p->mark};
		p->mark = ++pos;
		p->state = S_REQ_VERSION;
		break;
	}
	case S_REQ_VERSION:
	case S_RESP_VERSION:
		pos = run_vchar(b, pos, e);
		SKIP(CL_VCHAR);
		if (!version_plausible(b + p->mark, pos - p->mark))
			return fail(p, 400, "bad HTTP version");
		if (pos == e)
			break;
		c = b[pos];
		if (c != (p->state == S_REQ_VERSION ? '\r' : ' '))
			return bad_char(p, c, "bad HTTP version");
		v = parse_version(b + p->mark, pos - p->mark);
		if (v == -2)
			return fail(p, 505, "unsupported HTTP version");
		if (v < 0)
			return fail(p, 400, "bad HTTP version");
		m->version_minor = v;
		p->mark = ++pos;
		p->state = p->state == S_REQ_VERSION ? S_REQ_LF : S_STATUS;
		break;
	case S_STATUS:
		while (pos < e && pos - p->mark < 3 && IS_DIGIT(b[pos]))
			pos++;
		if (pos - p->mark == 3) {
			const unsigned char *d = b + p->mark;
			m->status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
			if (m->status < 100 || m->status > 599)
				return fail(p, 502, "bad status code");
			p->state = S_STATUS_END;
		} else if (pos < e) {
			return bad_char(p, b[pos], "bad status code");
		}
		break;
	case S_STATUS_END:
		c = b[pos++];
		if (c == ' ')
			p->state = S_REASON;
		else if (c == '\r')
			p->state = S_RESP_LF;
		else
			return bad_char(p, c, "bad status code");
		break;
	case S_REASON:
		SKIP(CL_VALUE);
		if (pos == e)
			break;
		if (b[pos] != '\r')
			return bad_char(p, b[pos], "control character in reason phrase");
		pos++;
		p->state = S_RESP_LF;
		break;
	case S_REQ_LF:
	case S_RESP_LF:
		if (b[pos] != '\n')
			return fail(p, 400, "bare CR in head");
		p->line_start = ++pos;
		p->state = S_HDR_START;
		break;
	default:
		return fail(p, 400, "internal parser state");
	}
	*ppos = pos;
	return r;
}

/* The end of the run of field-value bytes from Q (before E): sixteen at a time, then eight
 * at a time while none of the eight is a control byte (under 0x20, or 0x7f; exact tests,
 * borrows only run up from a byte that matches), then one at a time (an HTAB or the CR
 * that ends the value). */
static uint32_t skip_value(const unsigned char *b, uint32_t q, uint32_t e)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;

	q = run_value(b, q, e);
	while (e - q >= 8 && e - q < 16) { /* (16 left: the run stopped at a control byte) */
		uint64_t x, del;
		memcpy(&x, b + q, 8);
		del = x ^ (ones * 0x7f);
		if ((((x - ones * 0x20) & ~x) | ((del - ones) & ~del)) & highs)
			break;
		q += 8;
	}
	while (q < e && (cls[b[q]] & CL_VALUE))
		q++;
	return q;
}

/* A whole, well-formed field line at POS (its first byte a tchar): stored, and the offset
 * after its CRLF returned. 0 for anything else (a line cut by the end of what came, or one
 * to refuse): the state machine below takes it from its name, with the same outcome. Most
 * lines of most heads come whole: one pass each, not a loop turn per part. */
static uint32_t fast_field_line(struct http_msg *m, const unsigned char *b, uint32_t pos,
                                uint32_t e)
{
	uint32_t q = run_name(b, pos, e);

	while (q < e && (cls[b[q]] & CL_TOKEN))
		q++;
	if (q >= e || b[q] != ':')
		return 0;
	struct http_span name = {pos, q - pos};
	q++;
	q += q < e && b[q] == ' '; /* most often one space */
	while (q < e && (cls[b[q]] & CL_OWS))
		q++;
	uint32_t vs = q;
	q = skip_value(b, q, e);
	if (q + 1 >= e || b[q] != '\r' || b[q + 1] != '\n')
		return 0;
	uint32_t t = q;
	while (t > vs && IS_OWS(b[t - 1]))
		t--;
	m->hdr[m->n_hdr].name = name;
	m->hdr[m->n_hdr++].value = (struct http_span){vs, t - vs};
	return q + 2;
}

/* Field line states. Same contract as step_start_line; HTTP_DONE at the end of the head. */
static enum http_result step_fields(struct http_parser *p, const unsigned char *b, uint32_t *ppos,
                                    uint32_t e)
{
	struct http_msg *m = &p->msg;
	uint32_t pos = *ppos;
	unsigned char c;

	switch (p->state) {
	case S_HDR_START:
		c = b[pos];
		if (c == '\r') {
			pos++;
			p->state = S_END_LF;
		} else if (cls[c] & CL_TOKEN) {
			/* whole lines one after the other, still S_HDR_START, without a turn of the
			 * state loop each; the rest of a line from its name on */
			for (;;) {
				if (m->n_hdr >= p->lim.max_headers)
					return fail(p, 431, "too many header fields");
				uint32_t next = fast_field_line(m, b, pos, e);
				if (next == 0) {
					p->mark = pos;
					p->state = S_HDR_NAME;
					break;
				}
				pos = p->line_start = next;
				if (pos == e || !(cls[b[pos]] & CL_TOKEN))
					break;
			}
		} else if (IS_OWS(c)) {
			return fail(p, 400, "obsolete line folding");
		} else if (c == ':') {
			return fail(p, 400, "empty field name");
		} else {
			return bad_char(p, c, "bad character in field name");
		}
		break;
	case S_HDR_NAME:
		SKIP(CL_TOKEN);
		if (pos == e)
			break;
		c = b[pos];
		if (c != ':') {
			if (IS_OWS(c))
				return fail(p, 400, "whitespace between field name and colon");
			if (c == '\r')
				return fail(p, 400, "field line without colon");
			return bad_char(p, c, "bad character in field name");
		}
		m->hdr[m->n_hdr].name = (struct http_span){p->mark, pos - p->mark};
		pos++;
		p->state = S_HDR_OWS;
		break;
	case S_HDR_OWS:
		SKIP(CL_OWS);
		if (pos == e)
			break;
		p->mark = pos;
		p->state = S_HDR_VALUE;
		break;
	case S_HDR_VALUE: {
		SKIP(CL_VALUE);
		if (pos == e)
			break;
		if (b[pos] != '\r')
			return bad_char(p, b[pos], "control character in field value");
		uint32_t t = pos;
		while (t > p->mark && IS_OWS(b[t - 1]))
			t--;
		m->hdr[m->n_hdr++].value = (struct http_span){p->mark, t - p->mark};
		pos++;
		p->state = S_HDR_LF;
		break;
	}
	case S_HDR_LF:
		if (b[pos] != '\n')
			return fail(p, 400, "bare CR in head");
		p->line_start = ++pos;
		p->state = S_HDR_START;
		break;
	case S_END_LF:
		if (b[pos] != '\n')
			return fail(p, 400, "bare CR in head");
		p->head_len = ++pos;
		p->pos = pos;
		p->state = S_DONE;
		*ppos = pos;
		return finish_head(p, b);
	default:
		return fail(p, 400, "internal parser state");
	}
	*ppos = pos;
	return HTTP_NEED_MORE;
}

enum http_result http_parse_head(struct http_parser *p, const char *buf, size_t len)
{
	const unsigned char *b = (const unsigned char *)buf;

	if (p->state == S_DONE)
		return HTTP_DONE;
	if (p->state == S_ERROR)
		return HTTP_ERROR;

	uint32_t e = len < p->lim.max_head ? (uint32_t)len : p->lim.max_head;
	uint32_t pos = p->pos;
	enum http_result r = HTTP_NEED_MORE;

	while (pos < e && r == HTTP_NEED_MORE) {
		if (p->state < S_HDR_START)
			r = step_start_line(p, b, &pos, e);
		else
			r = step_fields(p, b, &pos, e);
	}
	p->pos = pos;
	if (r != HTTP_NEED_MORE)
		return r;
	if (len > p->lim.max_head)
		return fail(p, 431, "head too large");
	return HTTP_NEED_MORE;
}

void http_response_body(struct http_msg *resp, enum http_method req_method)
{
	int s = resp->status;

	if (req_method == HTTP_M_HEAD || (s >= 100 && s < 200) || s == 204 || s == 304 ||
	    (req_method == HTTP_M_CONNECT && s >= 200 && s < 300))
		resp->body = HTTP_BODY_NONE;
	if (resp->body == HTTP_BODY_UNTIL_CLOSE)
		resp->keep_alive = false;
}

/* ---- chunked tracker ------------------------------------------------------------------- */

enum {
	C_SIZE_FIRST = 0, /* first hex digit of a chunk size */
	C_SIZE,           /* more hex digits */
	C_SIZE_BWS,       /* whitespace after the size: ';' or CR next */
	C_EXT,            /* chunk extensions, up to CR */
	C_SIZE_LF,        /* CR of the size line seen */
	C_DATA,           /* chunk data: c->remaining bytes */
	C_DATA_CR,        /* CR after the data */
	C_DATA_LF,        /* LF after the data */
	C_TRAILER_START,  /* start of a trailer field or of the final empty line */
	C_TRAILER_NAME,   /* in a trailer field name */
	C_TRAILER_VALUE,  /* after the colon, up to CR */
	C_TRAILER_LF,     /* CR of a trailer line seen */
	C_END_LF,         /* CR of the final empty line seen */
	C_DONE,
	C_ERROR,
	C_COUNT
};

#define CHUNK_MAX_DIGITS   16   /* 64 bits */
#define CHUNK_MAX_LINE     4096 /* size line with extensions */
#define CHUNK_MAX_TRAILERS 16384

void http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = C_SIZE_FIRST;
}

static enum http_result chunk_fail(struct http_chunked *c, const char *reason)
{
	c->state = C_ERROR;
	c->reason = reason;
	return HTTP_ERROR;
}

/* Size line states: consumes bytes of [*pi, len). */
static enum http_result chunk_size_line(struct http_chunked *c, const unsigned char *b, size_t *pi,
                                        size_t len)
{
	size_t i = *pi;
	unsigned char ch = b[i];

	switch (c->state) {
	case C_SIZE_FIRST:
		if (!(cls[ch] & CL_HEX))
			return chunk_fail(c, "bad chunk size");
		c->remaining = hexval(ch);
		c->line_len = 1;
		c->state = C_SIZE;
		i++;
		break;
	case C_SIZE:
		for (; i < len && (cls[b[i]] & CL_HEX); i++) {
			if (++c->line_len > CHUNK_MAX_DIGITS)
				return chunk_fail(c, "chunk size too large");
			c->remaining = c->remaining << 4 | hexval(b[i]);
		}
		if (i == len)
			break;
		ch = b[i++];
		c->line_len++;
		if (ch == ';')
			c->state = C_EXT;
		else if (IS_OWS(ch))
			c->state = C_SIZE_BWS;
		else if (ch == '\r')
			c->state = C_SIZE_LF;
		else
			return chunk_fail(c, "bad chunk size");
		break;
	case C_SIZE_BWS:
		i++;
		if (++c->line_len > CHUNK_MAX_LINE)
			return chunk_fail(c, "chunk size line too long");
		if (ch == ';')
			c->state = C_EXT;
		else if (ch == '\r')
			c->state = C_SIZE_LF;
		else if (!IS_OWS(ch))
			return chunk_fail(c, "bad chunk size");
		break;
	case C_EXT: {
		size_t s = i;
		while (i < len && (cls[b[i]] & CL_VALUE) && i - s <= CHUNK_MAX_LINE)
			i++;
		c->line_len += (uint32_t)(i - s);
		if (c->line_len > CHUNK_MAX_LINE)
			return chunk_fail(c, "chunk size line too long");
		if (i == len)
			break;
		if (b[i] != '\r')
			return chunk_fail(c, "bad character in chunk extension");
		i++;
		c->state = C_SIZE_LF;
		break;
	}
	case C_SIZE_LF:
		if (ch != '\n')
			return chunk_fail(c, "chunk size line without CRLF");
		i++;
		c->line_len = 0;
		c->state = c->remaining ? C_DATA : C_TRAILER_START;
		break;
	default:
		return chunk_fail(c, "internal chunked state");
	}
	*pi = i;
	return HTTP_NEED_MORE;
}

/* Trailer section states, bounded in total. HTTP_DONE after the final CRLF. */
static enum http_result chunk_trailers(struct http_chunked *c, const unsigned char *b, size_t *pi,
                                       size_t len)
{
	size_t i = *pi, s = i;
	unsigned char ch = b[i];

	switch (c->state) {
	case C_TRAILER_START:
		i++;
		if (ch == '\r')
			c->state = C_END_LF;
		else if (cls[ch] & CL_TOKEN)
			c->state = C_TRAILER_NAME;
		else
			return chunk_fail(c, "bad trailer field");
		break;
	case C_TRAILER_NAME:
		while (i < len && (cls[b[i]] & CL_TOKEN) && i - s <= CHUNK_MAX_TRAILERS)
			i++;
		if (i == len || i - s > CHUNK_MAX_TRAILERS)
			break;
		if (b[i++] != ':')
			return chunk_fail(c, "bad trailer field");
		c->state = C_TRAILER_VALUE;
		break;
	case C_TRAILER_VALUE:
		while (i < len && (cls[b[i]] & CL_VALUE) && i - s <= CHUNK_MAX_TRAILERS)
			i++;
		if (i == len || i - s > CHUNK_MAX_TRAILERS)
			break;
		if (b[i++] != '\r')
			return chunk_fail(c, "bad character in trailer field");
		c->state = C_TRAILER_LF;
		break;
	case C_TRAILER_LF:
	case C_END_LF:
		if (ch != '\n')
			return chunk_fail(c, "trailer line without CRLF");
		i++;
		c->state = c->state == C_END_LF ? C_DONE : C_TRAILER_START;
		break;
	default:
		return chunk_fail(c, "internal chunked state");
	}
	if (c->state != C_DONE) {
		c->trailer_bytes += (uint32_t)(i - s);
		if (c->trailer_bytes > CHUNK_MAX_TRAILERS)
			return chunk_fail(c, "trailer section too large");
	}
	*pi = i;
	return c->state == C_DONE ? HTTP_DONE : HTTP_NEED_MORE;
}

uint64_t http_chunked_data_left(const struct http_chunked *c)
{
	return c->state == C_DATA ? c->remaining : 0;
}

enum http_result http_chunked_feed(struct http_chunked *c, const char *buf, size_t len,
                                   size_t *used)
{
	const unsigned char *b = (const unsigned char *)buf;
	enum http_result r = HTTP_NEED_MORE;
	size_t i = 0;

	while (i < len && r == HTTP_NEED_MORE) {
		switch (c->state) {
		case C_DATA: {
			/* Fast path: the data is not looked at. */
			size_t n = len - i;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			i += n;
			c->remaining -= n;
			if (!c->remaining)
				c->state = C_DATA_CR;
			break;
		}
		case C_DATA_CR:
			if (b[i] != '\r')
				r = chunk_fail(c, "chunk data longer than its size");
			else {
				i++;
				c->state = C_DATA_LF;
			}
			break;
		case C_DATA_LF:
			if (b[i] != '\n')
				r = chunk_fail(c, "chunk data without CRLF");
			else {
				i++;
				c->state = C_SIZE_FIRST;
			}
			break;
		case C_DONE:
			r = HTTP_DONE;
			break;
		case C_ERROR:
			r = HTTP_ERROR;
			break;
		default:
			if (c->state < C_DATA)
				r = chunk_size_line(c, b, &i, len);
			else
				r = chunk_trailers(c, b, &i, len);
			break;
		}
	}
	*used = i;
	if (r == HTTP_NEED_MORE && c->state == C_DONE)
		r = HTTP_DONE;
	if (r == HTTP_NEED_MORE && c->state == C_ERROR)
		r = HTTP_ERROR;
	return r;
}
