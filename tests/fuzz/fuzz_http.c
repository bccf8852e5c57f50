/* libFuzzer target for the HTTP framing module: the input is parsed as a request and as a
 * response, all at once and in pieces, and both must agree; the chunked tracker too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proxy/http.h"

static struct http_parser whole, part;

static void check_span(struct http_span s, uint32_t head_len)
{
	CHECK(s.off <= head_len && s.len <= head_len - s.off);
}

static void same(const struct http_parser *a, enum http_result ra, const struct http_parser *b,
                 enum http_result rb)
{
	CHECK(ra == rb);
	if (ra == HTTP_ERROR) {
		CHECK(a->status == b->status && a->reason && strcmp(a->reason, b->reason) == 0);
		return;
	}
	if (ra != HTTP_DONE)
		return;
	const struct http_msg *x = &a->msg, *y = &b->msg;
	CHECK(a->head_len == b->head_len);
	CHECK(x->method == y->method && x->status == y->status);
	CHECK(x->version_minor == y->version_minor && x->n_hdr == y->n_hdr);
	CHECK(memcmp(&x->method_s, &y->method_s, sizeof(x->method_s)) == 0);
	CHECK(memcmp(&x->target, &y->target, sizeof(x->target)) == 0);
	CHECK(memcmp(x->hdr, y->hdr, x->n_hdr * sizeof(x->hdr[0])) == 0);
	CHECK(x->body == y->body && x->content_length == y->content_length);
	CHECK(x->keep_alive == y->keep_alive && x->conn_upgrade == y->conn_upgrade);
	CHECK(x->upgrade_websocket == y->upgrade_websocket);
	CHECK(x->expect_continue == y->expect_continue && x->has_host == y->has_host);
}

/* Invariants of an accepted head. */
static void check_done(const struct http_parser *p, const char *buf, size_t size,
                       const struct http_limits *lim)
{
	const struct http_msg *m = &p->msg;
	CHECK(p->head_len >= 4 && p->head_len <= size && p->head_len <= lim->max_head);
	CHECK(memcmp(buf + p->head_len - 4, "\r\n\r\n", 4) == 0);
	CHECK(m->n_hdr <= lim->max_headers);
	CHECK(m->version_minor == 0 || m->version_minor == 1);
	for (unsigned i = 0; i < m->n_hdr; i++) {
		check_span(m->hdr[i].name, p->head_len);
		check_span(m->hdr[i].value, p->head_len);
		CHECK(m->hdr[i].name.len > 0);
		(void)http_header_is_hop(m, buf, i);
	}
	if (m->kind == HTTP_REQUEST) {
		check_span(m->method_s, p->head_len);
		check_span(m->target, p->head_len);
		CHECK(m->target.len > 0 && m->target.len <= lim->max_uri);
		CHECK(m->body != HTTP_BODY_UNTIL_CLOSE);
		CHECK(m->body != HTTP_BODY_LENGTH || m->content_length > 0);
	} else {
		CHECK(m->status >= 100 && m->status <= 599);
		struct http_msg r = *m;
		for (int meth = 0; meth < HTTP_M_COUNT; meth++) {
			r.body = m->body;
			http_response_body(&r, (enum http_method)meth);
		}
	}
}

/* Splits come from the input itself so that libFuzzer explores them. */
static void parse_both_ways(enum http_kind k, const char *buf, size_t size,
                            const struct http_limits *lim, unsigned seed)
{
	http_parser_init(&whole, k, lim);
	enum http_result rw = http_parse_head(&whole, buf, size);
	if (rw == HTTP_DONE)
		check_done(&whole, buf, size, lim);
	if (rw == HTTP_ERROR)
		CHECK(whole.status >= 400 && whole.status <= 505 && whole.reason);

	http_parser_init(&part, k, lim);
	enum http_result rp = HTTP_NEED_MORE;
	size_t have = 0;
	while (rp == HTTP_NEED_MORE && have < size) {
		seed = seed * 1103515245u + 12345u;
		have += 1 + (seed >> 16) % 23;
		if (have > size)
			have = size;
		rp = http_parse_head(&part, buf, have);
	}
	same(&whole, rw, &part, rp);
	/* More bytes after the end change nothing. */
	if (rw != HTTP_NEED_MORE)
		CHECK(http_parse_head(&whole, buf, size) == rw);
}

static void chunked_both_ways(const char *buf, size_t size, unsigned seed)
{
	struct http_chunked a, b;
	size_t ua = 0, ub = 0, u;
	http_chunked_init(&a);
	enum http_result ra = http_chunked_feed(&a, buf, size, &ua);
	CHECK(ua <= size);
	if (ra == HTTP_NEED_MORE)
		CHECK(ua == size);
	if (ra == HTTP_ERROR)
		CHECK(a.reason != NULL);

	http_chunked_init(&b);
	enum http_result rb = HTTP_NEED_MORE;
	while (rb == HTTP_NEED_MORE && ub < size) {
		seed = seed * 1103515245u + 12345u;
		size_t n = 1 + (seed >> 16) % 11;
		if (n > size - ub)
			n = size - ub;
		rb = http_chunked_feed(&b, buf + ub, n, &u);
		CHECK(u <= n);
		if (rb == HTTP_NEED_MORE)
			CHECK(u == n);
		ub += u;
	}
	CHECK(ra == rb);
	if (ra != HTTP_ERROR)
		CHECK(ua == ub);
	if (ra == HTTP_DONE) {
		CHECK(ua >= 5 && memcmp(buf + ua - 2, "\r\n", 2) == 0);
		CHECK(http_chunked_feed(&a, buf + ua, size - ua, &u) == HTTP_DONE && u == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits tight = {.max_head = 512, .max_uri = 64, .max_headers = 8};
	static const struct http_limits roomy = {
	    .max_head = 65536, .max_uri = 8192, .max_headers = HTTP_MAX_HEADERS};
	const char *buf = (const char *)data;
	unsigned seed = size ? data[0] : 0;

	/* An exact-size copy so that ASan sees any read past len. */
	char *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, buf, size);
	for (int k = 0; k < HTTP_KIND_COUNT; k++) {
		parse_both_ways((enum http_kind)k, copy, size, &roomy, seed);
		parse_both_ways((enum http_kind)k, copy, size, &tight, seed ^ 0x5a);
	}
	chunked_both_ways(copy, size, seed);
	/* A body that follows a chunked head: the tracker runs from there. */
	http_parser_init(&whole, HTTP_REQUEST, &roomy);
	if (http_parse_head(&whole, copy, size) == HTTP_DONE && whole.msg.body == HTTP_BODY_CHUNKED)
		chunked_both_ways(copy + whole.head_len, size - whole.head_len, seed);
	free(copy);
	return 0;
}
