/* A writer of an answer (a page, a feed, the console) into an evbuffer that remembers the
 * first failure, so that a long answer is checked once, at its end. */
#pragma once
#include <stddef.h>

struct evbuffer;

struct out {
	struct evbuffer *b;
	int rc; /* -1 once a write failed (out of memory) */
};

void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void out_raw(struct out *o, const void *p, size_t n);
void outs(struct out *o, const char *s);
/* Length of the valid UTF-8 sequence at S (1 to 4 bytes), or 0: overlong forms, surrogates
 * and code points past U+10FFFF are not valid. S is NUL-terminated. */
size_t out_utf8_seq(const unsigned char *s);
