/* A writer of an answer (a page, a feed, the console) into an evbuffer that remembers the
 * first failure, so that a long answer is checked once, at its end. */
#pragma once
#include <stddef.h>
#include <stdint.h>

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

/* What stands for a character starting with byte C (NULL: C stands for itself). */
typedef const char *(*out_entity_fn)(unsigned char c, const void *arg);
/* S escaped into O: each sequence SEQ finds valid as ENTITY(its first byte, ARG) says, each
 * byte that is not as U+FFFD (a character reference). */
void out_escape(struct out *o, const char *s, size_t (*seq)(const unsigned char *),
                out_entity_fn entity, const void *arg);
/* MS (Unix milliseconds) with strftime's FMT, in UTC ("?" when it does not fit). */
void out_utc(int64_t ms, const char *fmt, char *buf, size_t len);
