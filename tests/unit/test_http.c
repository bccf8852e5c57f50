/* Unit tests for the HTTP/1.1 framing module: head parser, refusals, limits, incremental
 * feeding, flags, response framing and the chunked tracker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/http.h"

static const struct http_limits LIM = {.max_head = 8192, .max_uri = 1024, .max_headers = 64};

/* One parser at a time: the struct is large. */
static struct http_parser P, Q;

static enum http_result parse_lim(struct http_parser *p, enum http_kind k, const char *s,
                                  size_t len, const struct http_limits *lim)
{
	http_parser_init(p, k, lim);
	return http_parse_head(p, s, len);
}

static enum http_result parse_req(const char *s)
{
	return parse_lim(&P, HTTP_REQUEST, s, strlen(s), &LIM);
}

static enum http_result parse_resp(const char *s)
{
	return parse_lim(&P, HTTP_RESPONSE, s, strlen(s), &LIM);
}

/* Status a request gets: 0 when accepted, -1 when incomplete. */
static int req_status(const char *s)
{
	enum http_result r = parse_req(s);
	return r == HTTP_DONE ? 0 : r == HTTP_ERROR ? P.status : -1;
}

static int resp_status(const char *s)
{
	enum http_result r = parse_resp(s);
	return r == HTTP_DONE ? 0 : r == HTTP_ERROR ? P.status : -1;
}

static bool span_is(const char *buf, struct http_span s, const char *want)
{
	return s.len == strlen(want) && memcmp(buf + s.off, want, s.len) == 0;
}

/* ---- basic parsing ---- */

static void test_simple_get(void **state)
{
	(void)state;
	const char *s = "GET /index?a=1 HTTP/1.1\r\nHost: node1\r\nX-Empty:\r\n"
	                "Accept:  text/plain \t\r\n\r\n";
	assert_int_equal(parse_req(s), HTTP_DONE);
	assert_int_equal(P.head_len, strlen(s));
	assert_int_equal(P.msg.method, HTTP_M_GET);
	assert_true(span_is(s, P.msg.method_s, "GET"));
	assert_true(span_is(s, P.msg.target, "/index?a=1"));
	assert_int_equal(P.msg.version_minor, 1);
	assert_int_equal(P.msg.n_hdr, 3);
	assert_true(span_is(s, P.msg.hdr[0].name, "Host"));
	assert_true(span_is(s, P.msg.hdr[0].value, "node1"));
	assert_true(span_is(s, P.msg.hdr[1].name, "X-Empty"));
	assert_int_equal(P.msg.hdr[1].value.len, 0);
	assert_true(span_is(s, P.msg.hdr[2].value, "text/plain"));
	assert_true(P.msg.has_host);
	assert_true(P.msg.keep_alive);
	assert_int_equal(P.msg.body, HTTP_BODY_NONE);
	assert_null(P.reason);
	/* Done is sticky. */
	assert_int_equal(http_parse_head(&P, s, strlen(s)), HTTP_DONE);
}

static void test_post_length_pipelined(void **state)
{
	(void)state;
	const char *s =
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1";
	assert_int_equal(parse_req(s), HTTP_DONE);
	assert_int_equal(P.head_len, strstr(s, "hello") - s);
	assert_int_equal(P.msg.body, HTTP_BODY_LENGTH);
	assert_int_equal(P.msg.content_length, 5);
	assert_int_equal(P.msg.method, HTTP_M_POST);

	assert_int_equal(parse_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
	                 HTTP_DONE);
	assert_int_equal(P.msg.body, HTTP_BODY_NONE);
	assert_int_equal(
	    parse_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
	    HTTP_DONE);
	assert_int_equal(P.msg.body, HTTP_BODY_CHUNKED);
	assert_int_equal(
	    parse_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD \r\n\r\n"),
	    HTTP_DONE);
	assert_int_equal(P.msg.body, HTTP_BODY_CHUNKED);
}

static void test_methods(void **state)
{
	(void)state;
	char buf[128];
	for (int m = HTTP_M_GET; m < HTTP_M_COUNT; m++) {
		snprintf(buf, sizeof(buf), "%s * HTTP/1.1\r\nHost: a\r\n\r\n",
		         http_method_names[m]);
		assert_int_equal(parse_req(buf), HTTP_DONE);
		assert_int_equal(P.msg.method, m);
	}
	const char *s = "PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n";
	assert_int_equal(parse_req(s), HTTP_DONE);
	assert_int_equal(P.msg.method, HTTP_M_OTHER);
	assert_true(span_is(s, P.msg.method_s, "PROPFIND"));
	/* Methods are case-sensitive. */
	assert_int_equal(parse_req("get / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_DONE);
	assert_int_equal(P.msg.method, HTTP_M_OTHER);
	assert_string_equal(http_method_names[HTTP_M_CONNECT], "CONNECT");
	for (int m = 0; m < HTTP_M_COUNT; m++)
		assert_non_null(http_method_names[m]);
}

static void test_versions(void **state)
{
	(void)state;
	assert_int_equal(req_status("GET / HTTP/1.0\r\n\r\n"), 0); /* no Host needed */
	assert_int_equal(P.msg.version_minor, 0);
	assert_int_equal(req_status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
	assert_string_equal(P.reason, "unsupported HTTP version");
	assert_int_equal(req_status("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505);
	assert_int_equal(req_status("GET / HTTP/2\r\nHost: a\r\n\r\n"), 505);
	assert_int_equal(req_status("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505);
	assert_int_equal(req_status("GET / HTTP/1.1x\r\nHost: a\r\n\r\n"), 400);
	assert_int_equal(req_status("GET / HTTP/x\r\nHost: a\r\n\r\n"), 400);
	assert_int_equal(req_status("GET / HTTP/1.\r\nHost: a\r\n\r\n"), 400);
	assert_int_equal(req_status("GET / HTTP/\r\nHost: a\r\n\r\n"), 400);
	assert_int_equal(req_status("GET / http/1.1\r\nHost: a\r\n\r\n"), 400);
	assert_int_equal(req_status("GET / FOO\r\nHost: a\r\n\r\n"), 400);
	assert_int_equal(req_status("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400);
	assert_int_equal(req_status("GET /\r\n\r\n"), 400);
	/* Garbage is refused before the line ends. */
	assert_int_equal(req_status("GET / XTTP"), 400);
	assert_int_equal(req_status("GET / HTTP/1.11111111111111111"), 400);
}

/* ---- refusals ---- */

struct refusal {
	const char *in;
	int status;
};

static void check_refusals(const struct refusal *t, size_t n, enum http_kind k)
{
	for (size_t i = 0; i < n; i++) {
		int got = k == HTTP_REQUEST ? req_status(t[i].in) : resp_status(t[i].in);
		if (got != t[i].status)
			fail_msg("case %zu: %s -> %d, want %d", i, t[i].in, got, t[i].status);
		if (got > 0)
			assert_non_null(P.reason);
	}
}

static void test_refusals_syntax(void **state)
{
	(void)state;
	static const struct refusal t[] = {
	    /* bare LF / bare CR */
	    {"GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\n\rX", 400},
	    {"GET / HTTP/1.1\rHost: a\r\n\r\n", 400},
	    {"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	    {"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	    {"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	    /* obs-fold */
	    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
	    /* field names */
	    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nX\"y: 1\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\n\x80X: 1\r\n\r\n", 400},
	    /* methods */
	    {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	    {"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	    {" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	    {"GET\r\n\r\n", 400},
	    /* values */
	    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x1bz\r\n\r\n", 400},
	    /* target */
	    {"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	    {"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	    {"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	    {"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	    /* Host */
	    {"GET / HTTP/1.1\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400},
	    {"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400},
	};
	check_refusals(t, sizeof(t) / sizeof(t[0]), HTTP_REQUEST);
	/* A NUL byte cannot be written in a C string literal test above. */
	static const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
	assert_int_equal(parse_lim(&P, HTTP_REQUEST, nul, sizeof(nul) - 1, &LIM), HTTP_ERROR);
	assert_int_equal(P.status, 400);
}

static void test_refusals_framing(void **state)
{
	(void)state;
	static const struct refusal t[] = {
	    /* Content-Length */
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5\r\nContent-Length: 6\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400},
	    /* Transfer-Encoding */
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: "
	     "chunked\r\n\r\n",
	     400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: "
	     "5\r\n\r\n",
	     400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: "
	     "0\r\n\r\n",
	     400},
	    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	     "Transfer-Encoding: gzip\r\n\r\n",
	     400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
	     "Transfer-Encoding: chunked\r\n\r\n",
	     501},
	    /* smuggling spellings */
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\n\nTransfer-Encoding: chunked\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0b"
	     "chunked\r\n\r\n",
	     400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	     "Transfer-Encoding\t: chunked\r\n\r\n",
	     400},
	};
	check_refusals(t, sizeof(t) / sizeof(t[0]), HTTP_REQUEST);
	assert_int_equal(req_status("POST / HTTP/1.1\r\nHost: a\r\n"
	                            "Transfer-Encoding: gzip, chunked\r\n\r\n"),
	                 501);
	assert_string_equal(P.reason, "unsupported transfer coding");
	/* a parameter on chunked is named as what is wrong, not as a misplaced coding */
	assert_int_equal(req_status("POST / HTTP/1.1\r\nHost: a\r\n"
	                            "Transfer-Encoding: chunked;q=1\r\n\r\n"),
	                 400);
	assert_string_equal(P.reason, "chunked takes no parameters");
	assert_int_equal(req_status("POST / HTTP/1.1\r\nHost: a\r\n"
	                            "Transfer-Encoding: gzip, chunked ; x\r\n\r\n"),
	                 400);
	assert_string_equal(P.reason, "chunked takes no parameters");
}

static void test_content_length_duplicates(void **state)
{
	(void)state;
	const char *ok[] = {
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5 , 5\r\nContent-Length: 5\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(parse_req(ok[i]), HTTP_DONE);
		assert_int_equal(P.msg.body, HTTP_BODY_LENGTH);
		assert_int_equal(P.msg.content_length, 5);
	}
	assert_int_equal(
	    req_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n"),
	    0);
	assert_int_equal(P.msg.content_length, INT64_MAX);
}

static void test_leading_empty_lines(void **state)
{
	(void)state;
	assert_int_equal(req_status("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	assert_int_equal(P.msg.method_s.off, 2);
	assert_int_equal(req_status("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	assert_int_equal(req_status("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	assert_int_equal(req_status("\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	/* Not for responses. */
	assert_int_equal(resp_status("\r\nHTTP/1.1 200 OK\r\n\r\n"), 502);
}

/* ---- limits ---- */

/* A request with a target of exactly N bytes. */
static char *req_with_target(size_t n)
{
	char *s = malloc(n + 64);
	assert_non_null(s);
	memcpy(s, "GET /", 5);
	memset(s + 5, 'a', n - 1);
	snprintf(s + 4 + n, 60, " HTTP/1.1\r\nHost: a\r\n\r\n");
	return s;
}

static void test_limit_uri(void **state)
{
	(void)state;
	char *s = req_with_target(LIM.max_uri);
	assert_int_equal(req_status(s), 0);
	assert_int_equal(P.msg.target.len, LIM.max_uri);
	free(s);
	s = req_with_target(LIM.max_uri + 1);
	assert_int_equal(req_status(s), 414);
	/* Detected as soon as the target is one byte too long, before the line ends. */
	assert_int_equal(parse_lim(&P, HTTP_REQUEST, s, 4 + LIM.max_uri, &LIM), HTTP_NEED_MORE);
	assert_int_equal(http_parse_head(&P, s, 4 + LIM.max_uri + 1), HTTP_ERROR);
	assert_int_equal(P.status, 414);
	free(s);
}

/* A message of exactly N head bytes: filler in one header value. */
static char *msg_of_len(const char *start, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	size_t k = strlen(start);
	memcpy(s, start, k);
	memcpy(s + k, "X: ", 3);
	memset(s + k + 3, 'v', n - k - 3 - 4);
	memcpy(s + n - 4, "\r\n\r\n", 5);
	return s;
}

static void test_limit_head(void **state)
{
	(void)state;
	const char *rl = "GET / HTTP/1.1\r\nHost: a\r\n";
	char *s = msg_of_len(rl, LIM.max_head);
	assert_int_equal(req_status(s), 0);
	assert_int_equal(P.head_len, LIM.max_head);
	free(s);
	s = msg_of_len(rl, LIM.max_head + 1);
	assert_int_equal(req_status(s), 431);
	/* As soon as exceeded, without waiting for the end of the head. */
	assert_int_equal(parse_lim(&P, HTTP_REQUEST, s, LIM.max_head, &LIM), HTTP_NEED_MORE);
	assert_int_equal(http_parse_head(&P, s, LIM.max_head + 1), HTTP_ERROR);
	assert_int_equal(P.status, 431);
	free(s);

	const char *sl = "HTTP/1.1 200 OK\r\n";
	s = msg_of_len(sl, LIM.max_head);
	assert_int_equal(resp_status(s), 0);
	free(s);
	s = msg_of_len(sl, LIM.max_head + 1);
	assert_int_equal(parse_lim(&P, HTTP_RESPONSE, s, LIM.max_head + 1, &LIM), HTTP_ERROR);
	assert_int_equal(P.status, 502);
	assert_string_equal(P.reason, "head too large");
	free(s);
}

static void test_limit_headers(void **state)
{
	(void)state;
	char buf[4096];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (unsigned i = 1; i < LIM.max_headers; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X%u: %u\r\n", i, i);
	snprintf(buf + n, sizeof(buf) - n, "\r\n");
	assert_int_equal(req_status(buf), 0);
	assert_int_equal(P.msg.n_hdr, LIM.max_headers);
	snprintf(buf + n, sizeof(buf) - n, "Y: 1\r\n\r\n");
	assert_int_equal(req_status(buf), 431);

	/* The hard cap applies when the configured limit is higher, and to defaults. */
	static char big[8192];
	n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (unsigned i = 1; i <= HTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "X%u: %u\r\n", i, i);
	snprintf(big + n, sizeof(big) - n, "\r\n");
	struct http_limits hi = {.max_head = 65536, .max_uri = 1024, .max_headers = 1000};
	assert_int_equal(parse_lim(&P, HTTP_REQUEST, big, strlen(big), &hi), HTTP_ERROR);
	assert_int_equal(P.status, 431);
	assert_int_equal(parse_lim(&P, HTTP_REQUEST, big, strlen(big), NULL), HTTP_ERROR);
	assert_int_equal(P.status, 431);
}

/* ---- incremental feeding ---- */

static void assert_same(const struct http_parser *a, enum http_result ra,
                        const struct http_parser *b, enum http_result rb)
{
	assert_int_equal(ra, rb);
	if (ra == HTTP_ERROR) {
		assert_int_equal(a->status, b->status);
		assert_string_equal(a->reason, b->reason);
		return;
	}
	if (ra != HTTP_DONE)
		return;
	const struct http_msg *x = &a->msg, *y = &b->msg;
	assert_int_equal(a->head_len, b->head_len);
	assert_int_equal(x->method, y->method);
	assert_memory_equal(&x->method_s, &y->method_s, sizeof(x->method_s));
	assert_memory_equal(&x->target, &y->target, sizeof(x->target));
	assert_int_equal(x->status, y->status);
	assert_int_equal(x->version_minor, y->version_minor);
	assert_int_equal(x->n_hdr, y->n_hdr);
	assert_memory_equal(x->hdr, y->hdr, x->n_hdr * sizeof(x->hdr[0]));
	assert_int_equal(x->body, y->body);
	assert_int_equal(x->content_length, y->content_length);
	assert_int_equal(x->keep_alive, y->keep_alive);
	assert_int_equal(x->conn_upgrade, y->conn_upgrade);
	assert_int_equal(x->upgrade_websocket, y->upgrade_websocket);
	assert_int_equal(x->expect_continue, y->expect_continue);
	assert_int_equal(x->has_host, y->has_host);
}

/* Feeds S growing by the sizes RNG draws (1 when max_step is 1), like a socket would. */
static enum http_result feed_split(struct http_parser *p, enum http_kind k, const char *s,
                                   size_t len, size_t max_step)
{
	enum http_result r = HTTP_NEED_MORE;
	size_t have = 0;
	http_parser_init(p, k, &LIM);
	while (r == HTTP_NEED_MORE && have < len) {
		have += 1 + (max_step > 1 ? (size_t)rand() % max_step : 0);
		if (have > len)
			have = len;
		r = http_parse_head(p, s, have);
	}
	return r;
}

static const char *const samples_req[] = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "\r\n\r\nPOST /rpc HTTP/1.1\r\nHost: node:5005\r\nContent-Type: application/json\r\n"
    "Content-Length: 42\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
    "Expect: 100-continue\r\nX-Trailing:   spaced value \t \r\n\r\nbody",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\n\nX: y\r\n\r\n",
    "GET / HTTP/3.0\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nY:\t\r\n\r\n",
};

static const char *const samples_resp[] = {
    "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nServer: rippled\r\n\r\n{\"ok\":true}\n",
    "HTTP/1.1 200 \r\nTransfer-Encoding: chunked\r\n\r\n",
    "HTTP/1.0 304\r\nConnection: keep-alive\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "HTTP/1.1 999 Nope\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    "HTTP/1.1 200 O\x01K\r\n\r\n",
};

static void check_splits(enum http_kind k, const char *s)
{
	size_t len = strlen(s);
	enum http_result all = parse_lim(&P, k, s, len, &LIM);
	enum http_result r = feed_split(&Q, k, s, len, 1);
	assert_same(&P, all, &Q, r);
	for (int i = 0; i < 200; i++) {
		r = feed_split(&Q, k, s, len, 1 + (size_t)(i % 17));
		assert_same(&P, all, &Q, r);
	}
}

static void test_incremental(void **state)
{
	(void)state;
	srand(12345);
	for (size_t i = 0; i < sizeof(samples_req) / sizeof(samples_req[0]); i++)
		check_splits(HTTP_REQUEST, samples_req[i]);
	for (size_t i = 0; i < sizeof(samples_resp) / sizeof(samples_resp[0]); i++)
		check_splits(HTTP_RESPONSE, samples_resp[i]);

	/* Byte by byte, every prefix but the last is incomplete. */
	const char *s = samples_req[1];
	size_t head = strstr(s, "\r\n\r\nbody") - s + 4;
	http_parser_init(&Q, HTTP_REQUEST, &LIM);
	for (size_t n = 0; n < head; n++)
		assert_int_equal(http_parse_head(&Q, s, n), HTTP_NEED_MORE);
	assert_int_equal(http_parse_head(&Q, s, head), HTTP_DONE);
	assert_int_equal(Q.head_len, head);
	assert_int_equal(Q.msg.n_hdr, 7);
	assert_true(span_is(s, Q.msg.hdr[6].value, "spaced value"));
}

/* ---- flags ---- */

static void test_keep_alive(void **state)
{
	(void)state;
	assert_int_equal(req_status("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	assert_true(P.msg.keep_alive);
	assert_int_equal(req_status("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 0);
	assert_false(P.msg.keep_alive);
	assert_int_equal(req_status("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n"
	                            "\r\n"),
	                 0);
	assert_false(P.msg.keep_alive);
	assert_int_equal(req_status("GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\n"
	                            "Connection: close\r\n\r\n"),
	                 0);
	assert_false(P.msg.keep_alive);
	assert_int_equal(req_status("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"), 0);
	assert_true(P.msg.keep_alive);
	assert_int_equal(req_status("GET / HTTP/1.0\r\n\r\n"), 0);
	assert_false(P.msg.keep_alive);
	assert_int_equal(req_status("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
	assert_true(P.msg.keep_alive);
	assert_int_equal(resp_status("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), 0);
	assert_false(P.msg.keep_alive);
	assert_int_equal(resp_status("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 0);
	assert_true(P.msg.keep_alive);
	assert_int_equal(resp_status("HTTP/1.1 200 OK\r\nConnection: close\r\n"
	                             "Content-Length: 0\r\n\r\n"),
	                 0);
	assert_false(P.msg.keep_alive);
}

static void test_upgrade_expect(void **state)
{
	(void)state;
	assert_int_equal(
	    req_status("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
	               "Upgrade: WebSocket\r\n\r\n"),
	    0);
	assert_true(P.msg.conn_upgrade);
	assert_true(P.msg.upgrade_websocket);
	assert_false(P.msg.expect_continue);
	assert_int_equal(
	    req_status("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, websocket\r\n\r\n"), 0);
	assert_false(P.msg.conn_upgrade);
	assert_true(P.msg.upgrade_websocket);
	assert_int_equal(req_status("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websockets\r\n\r\n"),
	                 0);
	assert_false(P.msg.upgrade_websocket);
	assert_int_equal(req_status("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
	                            "Content-Length: 3\r\n\r\n"),
	                 0);
	assert_true(P.msg.expect_continue);
	assert_int_equal(req_status("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n"), 0);
	assert_false(P.msg.expect_continue);
}

static void test_hop_by_hop(void **state)
{
	(void)state;
	const char *s = "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Foo, transfer-encoding\r\n"
	                "Keep-Alive: 5\r\nProxy-Connection: x\r\nTE: trailers\r\nTrailer: X\r\n"
	                "Upgrade: websocket\r\nX-Foo: 1\r\nX-Bar: 2\r\nContent-Length: 0\r\n"
	                "Connection: x-baz, host, content-length\r\nx-baz: 3\r\n\r\n";
	static const bool hop[] = {false, true, true,  true,  true, true,
	                           true,  true, false, false, true, true};
	assert_int_equal(parse_req(s), HTTP_DONE);
	assert_int_equal(P.msg.n_hdr, sizeof(hop) / sizeof(hop[0]));
	for (unsigned i = 0; i < P.msg.n_hdr; i++)
		if (http_header_is_hop(&P.msg, s, i) != hop[i])
			fail_msg("header %u: hop should be %d", i, hop[i]);
	assert_false(http_header_is_hop(&P.msg, s, P.msg.n_hdr));

	assert_int_equal(http_find_header(&P.msg, s, "x-foo", 0), 7);
	assert_int_equal(http_find_header(&P.msg, s, "connection", 0), 1);
	assert_int_equal(http_find_header(&P.msg, s, "connection", 2), 10);
	assert_int_equal(http_find_header(&P.msg, s, "nope", 0), -1);
	assert_true(http_span_eq(s, P.msg.hdr[0].name, "HOST"));
	assert_false(http_span_eq(s, P.msg.hdr[0].name, "hos"));
	assert_true(http_value_has_token(s, P.msg.hdr[1].value, "x-foo"));
	assert_true(http_value_has_token(s, P.msg.hdr[1].value, "Transfer-Encoding"));
	assert_false(http_value_has_token(s, P.msg.hdr[1].value, "x-fo"));
}

/* ---- responses ---- */

static void test_response_framing(void **state)
{
	(void)state;
	assert_int_equal(resp_status("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), 0);
	assert_int_equal(P.msg.status, 200);
	assert_int_equal(P.msg.body, HTTP_BODY_LENGTH);
	assert_int_equal(P.msg.content_length, 5);
	http_response_body(&P.msg, HTTP_M_GET);
	assert_int_equal(P.msg.body, HTTP_BODY_LENGTH);
	http_response_body(&P.msg, HTTP_M_HEAD);
	assert_int_equal(P.msg.body, HTTP_BODY_NONE);
	assert_true(P.msg.keep_alive);

	assert_int_equal(resp_status("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 0);
	assert_int_equal(P.msg.body, HTTP_BODY_NONE);

	assert_int_equal(resp_status("HTTP/1.1 200 OK\r\n\r\n"), 0);
	assert_int_equal(P.msg.body, HTTP_BODY_UNTIL_CLOSE);
	http_response_body(&P.msg, HTTP_M_GET);
	assert_int_equal(P.msg.body, HTTP_BODY_UNTIL_CLOSE);
	assert_false(P.msg.keep_alive);

	/* 304 and 204 without a length keep the connection. */
	static const int none[] = {100, 101, 103, 199, 204, 304};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "HTTP/1.1 %d X\r\n\r\n", none[i]);
		assert_int_equal(resp_status(buf), 0);
		assert_int_equal(P.msg.body, HTTP_BODY_UNTIL_CLOSE);
		http_response_body(&P.msg, HTTP_M_GET);
		assert_int_equal(P.msg.body, HTTP_BODY_NONE);
		assert_true(P.msg.keep_alive);
	}
	assert_int_equal(resp_status("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n"), 0);
	http_response_body(&P.msg, HTTP_M_GET);
	assert_int_equal(P.msg.body, HTTP_BODY_NONE);
	assert_int_equal(
	    resp_status("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
	http_response_body(&P.msg, HTTP_M_POST);
	assert_int_equal(P.msg.body, HTTP_BODY_NONE);

	/* CONNECT: 2xx has no body, other statuses do. */
	assert_int_equal(resp_status("HTTP/1.1 200 Connection established\r\n\r\n"), 0);
	http_response_body(&P.msg, HTTP_M_CONNECT);
	assert_int_equal(P.msg.body, HTTP_BODY_NONE);
	assert_int_equal(resp_status("HTTP/1.1 407 Auth\r\nContent-Length: 3\r\n\r\n"), 0);
	http_response_body(&P.msg, HTTP_M_CONNECT);
	assert_int_equal(P.msg.body, HTTP_BODY_LENGTH);
}

static void test_response_te(void **state)
{
	(void)state;
	assert_int_equal(resp_status("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
	assert_int_equal(P.msg.body, HTTP_BODY_CHUNKED);
	assert_true(P.msg.keep_alive);
	assert_int_equal(resp_status("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
	                 0);
	assert_int_equal(P.msg.body, HTTP_BODY_CHUNKED);
	assert_int_equal(resp_status("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
	                 0);
	assert_int_equal(P.msg.body, HTTP_BODY_UNTIL_CLOSE);
	http_response_body(&P.msg, HTTP_M_GET);
	assert_false(P.msg.keep_alive);
	/* TE wins over CL, which is ignored; the connection is not reused. */
	assert_int_equal(resp_status("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n"
	                             "Transfer-Encoding: chunked\r\n\r\n"),
	                 0);
	assert_int_equal(P.msg.body, HTTP_BODY_CHUNKED);
	assert_int_equal(P.msg.content_length, 0);
	assert_false(P.msg.keep_alive);
}

static void test_response_refusals(void **state)
{
	(void)state;
	static const struct refusal t[] = {
	    {"HTTP/1.1 99 Low\r\n\r\n", 502},
	    {"HTTP/1.1 600 High\r\n\r\n", 502},
	    {"HTTP/1.1 20 Short\r\n\r\n", 502},
	    {"HTTP/1.1 2000 Long\r\n\r\n", 502},
	    {"HTTP/1.1 2x0 X\r\n\r\n", 502},
	    {"HTTP/1.1  200 X\r\n\r\n", 502},
	    {"HTTP/2.0 200 OK\r\n\r\n", 502},
	    {"HTTP/1.1 200 OK\nX: y\r\n\r\n", 502},
	    {"HTTP/1.1 200 O\x01K\r\n\r\n", 502},
	    {"ICY 200 OK\r\n\r\n", 502},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 502},
	    {"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 502},
	    {"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 502},
	    {"HTTP/1.1 200 OK\r\nX : a\r\n\r\n", 502},
	};
	check_refusals(t, sizeof(t) / sizeof(t[0]), HTTP_RESPONSE);
	assert_int_equal(resp_status("HTTP/2.0 200 OK\r\n\r\n"), 502);
	assert_string_equal(P.reason, "unsupported HTTP version");
	/* Accepted oddities: empty reason, no SP after the code, two Host headers. */
	assert_int_equal(resp_status("HTTP/1.1 200 \r\n\r\n"), 0);
	assert_int_equal(resp_status("HTTP/1.1 200\r\n\r\n"), 0);
	assert_int_equal(resp_status("HTTP/1.1 599 x\r\nHost: a\r\nHost: b\r\n\r\n"), 0);
	assert_int_equal(P.msg.status, 599);
	assert_int_equal(P.msg.version_minor, 1);
}

/* ---- chunked tracker ---- */

/* Feeds S in one call; returns the result and sets *used. */
static enum http_result chunk_all(const char *s, size_t len, size_t *used, const char **reason)
{
	struct http_chunked c;
	http_chunked_init(&c);
	enum http_result r = http_chunked_feed(&c, s, len, used);
	*reason = c.reason;
	return r;
}

/* Feeds S in random pieces; returns the result and sets *used to the total consumed. */
static enum http_result chunk_split(const char *s, size_t len, size_t max_step, size_t *used)
{
	struct http_chunked c;
	enum http_result r = HTTP_NEED_MORE;
	size_t pos = 0;
	http_chunked_init(&c);
	while (r == HTTP_NEED_MORE && pos < len) {
		size_t n = 1 + (max_step > 1 ? (size_t)rand() % max_step : 0), u = 0;
		if (n > len - pos)
			n = len - pos;
		r = http_chunked_feed(&c, s + pos, n, &u);
		if (r == HTTP_NEED_MORE)
			assert_int_equal(u, n);
		assert_true(u <= n);
		pos += u;
	}
	*used = pos;
	return r;
}

static void test_chunked_good(void **state)
{
	(void)state;
	static const char *const good[] = {
	    "5\r\nhello\r\n0\r\n\r\n",
	    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
	    "A\r\n0123456789\r\n00\r\n\r\n",
	    "a;name=value;q=\"quoted; \\\"str\"\r\n0123456789\r\n0;last\r\n\r\n",
	    "5 ;ext\r\nhello\r\n0\t \r\n\r\n",
	    "5\r\nhe\r\nl\r\n0\r\nX-Checksum: abc\r\nX-Empty:\r\n\r\n",
	    "0000000000000005\r\nhello\r\n0\r\n\r\n",
	    "0\r\n\r\n",
	};
	srand(777);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char buf[256];
		size_t len = strlen(good[i]), used;
		const char *reason;
		/* Pipelined bytes after the end must not be consumed. */
		snprintf(buf, sizeof(buf), "%sGET / HTTP/1.1\r\n", good[i]);
		size_t blen = strlen(buf);
		if (chunk_all(buf, blen, &used, &reason) != HTTP_DONE)
			fail_msg("case %zu refused: %s", i, reason);
		assert_int_equal(used, len);
		for (size_t step = 1; step < 20; step++) {
			assert_int_equal(chunk_split(buf, blen, step, &used), HTTP_DONE);
			assert_int_equal(used, len);
		}
		/* Every strict prefix is incomplete. */
		for (size_t n = 0; n < len; n++) {
			assert_int_equal(chunk_all(buf, n, &used, &reason), HTTP_NEED_MORE);
			assert_int_equal(used, n);
		}
	}
}

static void test_chunked_done_sticky(void **state)
{
	(void)state;
	struct http_chunked c;
	size_t used = 99;
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, "0\r\n\r\nXYZ", 8, &used), HTTP_DONE);
	assert_int_equal(used, 5);
	assert_int_equal(http_chunked_feed(&c, "XYZ", 3, &used), HTTP_DONE);
	assert_int_equal(used, 0);
	assert_int_equal(http_chunked_feed(&c, "", 0, &used), HTTP_DONE);
	assert_int_equal(used, 0);
}

static void test_chunked_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "0x5\r\nhello\r\n0\r\n\r\n",
	    "-1\r\nx\r\n0\r\n\r\n",
	    "fffffffffffffffff\r\n",
	    "00000000000000005\r\nhello\r\n0\r\n\r\n",
	    "\r\nhello\r\n0\r\n\r\n",
	    ";x\r\n",
	    "g\r\n",
	    " 5\r\nhello\r\n0\r\n\r\n",
	    "5 x\r\nhello\r\n0\r\n\r\n",
	    "5\r\nhelloX\r\n0\r\n\r\n",  /* longer than its size */
	    "5\r\nhell\r\n0\r\n\r\n",    /* shorter than its size */
	    "5\nhello\n0\n\n",           /* LF-only lines */
	    "5\r\nhello\n0\r\n\r\n",     /* LF after data */
	    "5\r\nhello\r\r\n0\r\n\r\n", /* bare CR */
	    "5\rhello\r\n0\r\n\r\n",     /* bare CR in size line */
	    "5;a\x01\r\nhello\r\n",      /* control in extension */
	    "5;a\nhello\r\n",            /* bare LF in extension */
	    "0\r\nX\r\n\r\n",            /* trailer without colon */
	    "0\r\n: v\r\n\r\n",          /* trailer without name */
	    "0\r\n X: v\r\n\r\n",        /* folded trailer */
	    "0\r\nX : v\r\n\r\n",        /* space before colon */
	    "0\r\nX: v\n\r\n",           /* LF-only trailer */
	    "0\r\n\n",                   /* LF-only final line */
	    "0\r\n\rX",                  /* bare CR final line */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t used;
		const char *reason;
		if (chunk_all(bad[i], strlen(bad[i]), &used, &reason) != HTTP_ERROR)
			fail_msg("case %zu accepted", i);
		assert_non_null(reason);
		assert_true(used < strlen(bad[i]));
		assert_int_equal(chunk_split(bad[i], strlen(bad[i]), 3, &used), HTTP_ERROR);
	}
	/* 16 hex digits are fine. */
	size_t used;
	const char *reason;
	assert_int_equal(chunk_all("ffffffffffffffff\r\n", 18, &used, &reason), HTTP_NEED_MORE);
	assert_int_equal(chunk_all("fffffffffffffffff", 17, &used, &reason), HTTP_ERROR);
	assert_string_equal(reason, "chunk size too large");
}

static void test_chunked_bounds(void **state)
{
	(void)state;
	static char buf[40000];
	size_t used;
	const char *reason;

	/* Size line: up to 4096 bytes, including the size. */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "5;", 2);
	memcpy(buf + 4096, "\r\nhello\r\n0\r\n\r\n", 15);
	assert_int_equal(chunk_all(buf, 4096 + 15, &used, &reason), HTTP_DONE);
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "5;", 2);
	memcpy(buf + 4097, "\r\nhello\r\n0\r\n\r\n", 15);
	assert_int_equal(chunk_all(buf, 4097 + 15, &used, &reason), HTTP_ERROR);
	assert_string_equal(reason, "chunk size line too long");
	assert_int_equal(chunk_split(buf, 4097 + 15, 7, &used), HTTP_ERROR);

	/* Trailer section: up to 16384 bytes. */
	size_t n = 0;
	n += (size_t)snprintf(buf, sizeof(buf), "0\r\n");
	while (n < 3 + 16384 - 100)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-T: %090d\r\n", 0);
	memcpy(buf + n, "\r\n", 2);
	assert_int_equal(chunk_all(buf, n + 2, &used, &reason), HTTP_DONE);
	while (n < 3 + 16384 + 100)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-T: %090d\r\n", 0);
	memcpy(buf + n, "\r\n", 2);
	assert_int_equal(chunk_all(buf, n + 2, &used, &reason), HTTP_ERROR);
	assert_string_equal(reason, "trailer section too large");
	assert_int_equal(chunk_split(buf, n + 2, 50, &used), HTTP_ERROR);
	/* One long trailer line is bounded too. */
	memset(buf, 'v', sizeof(buf));
	memcpy(buf, "0\r\nX: ", 6);
	assert_int_equal(chunk_all(buf, sizeof(buf), &used, &reason), HTTP_ERROR);
}

static void test_chunked_big_data(void **state)
{
	(void)state;
	/* A 1 MiB chunk goes through in one step; data bytes are never looked at. */
	size_t size = 1 << 20;
	char *buf = malloc(size + 64);
	assert_non_null(buf);
	int k = snprintf(buf, 64, "%zx\r\n", size);
	memset(buf + k, '\n', size);
	memcpy(buf + k + size, "\r\n0\r\n\r\n", 7);
	struct http_chunked c;
	size_t used;
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, buf, (size_t)k + 10, &used), HTTP_NEED_MORE);
	assert_int_equal(used, (size_t)k + 10);
	assert_int_equal(c.remaining, size - 10);
	assert_int_equal(http_chunked_feed(&c, buf + k + 10, size - 10 + 7, &used), HTTP_DONE);
	assert_int_equal(used, size - 10 + 7);
	free(buf);
}

/* ---- tables ---- */

static void test_status_text(void **state)
{
	(void)state;
	static const int codes[] = {100, 101, 200, 204, 301, 302, 304, 400, 401, 403, 404, 405,
	                            408, 413, 414, 429, 431, 500, 501, 502, 503, 504, 505};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		assert_string_not_equal(http_status_text(codes[i]), http_status_text(299));
	assert_string_equal(http_status_text(502), "Bad Gateway");
	assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
	assert_non_null(http_status_text(-1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_get),
	    cmocka_unit_test(test_post_length_pipelined),
	    cmocka_unit_test(test_methods),
	    cmocka_unit_test(test_versions),
	    cmocka_unit_test(test_refusals_syntax),
	    cmocka_unit_test(test_refusals_framing),
	    cmocka_unit_test(test_content_length_duplicates),
	    cmocka_unit_test(test_leading_empty_lines),
	    cmocka_unit_test(test_limit_uri),
	    cmocka_unit_test(test_limit_head),
	    cmocka_unit_test(test_limit_headers),
	    cmocka_unit_test(test_incremental),
	    cmocka_unit_test(test_keep_alive),
	    cmocka_unit_test(test_upgrade_expect),
	    cmocka_unit_test(test_hop_by_hop),
	    cmocka_unit_test(test_response_framing),
	    cmocka_unit_test(test_response_te),
	    cmocka_unit_test(test_response_refusals),
	    cmocka_unit_test(test_chunked_good),
	    cmocka_unit_test(test_chunked_done_sticky),
	    cmocka_unit_test(test_chunked_bad),
	    cmocka_unit_test(test_chunked_bounds),
	    cmocka_unit_test(test_chunked_big_data),
	    cmocka_unit_test(test_status_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
