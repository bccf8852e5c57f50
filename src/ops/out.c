/* The answer writer shared by the status page, the feeds and the ops console. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "ops/out.h"

void outf(struct out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (evbuffer_add_vprintf(o->b, fmt, ap) < 0)
		o->rc = -1;
	va_end(ap);
}

void out_raw(struct out *o, const void *p, size_t n)
{
	if (n > 0 && evbuffer_add(o->b, p, n) < 0)
		o->rc = -1;
}

void outs(struct out *o, const char *s)
{
	out_raw(o, s, strlen(s));
}

size_t out_utf8_seq(const unsigned char *s)
{
	size_t n = s[0] < 0x80 ? 1 : s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;

	if (s[0] > 0xf4)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0; /* overlong, a surrogate, or past U+10FFFF */
	return n;
}

void out_escape(struct out *o, const char *s, size_t (*seq)(const unsigned char *),
                out_entity_fn entity, const void *arg)
{
	const unsigned char *p = (const unsigned char *)s, *run = p;

	while (*p != '\0') {
		size_t n = seq(p);
		const char *ent = n == 0 ? "&#xfffd;" : entity(*p, arg);

		if (ent == NULL) {
			p += n;
			continue;
		}
		out_raw(o, run, (size_t)(p - run));
		outs(o, ent);
		p += n == 0 ? 1 : n;
		run = p;
	}
	out_raw(o, run, (size_t)(p - run));
}

void out_utc(int64_t ms, const char *fmt, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(buf, len, fmt, &tm) == 0)
		snprintf(buf, len, "?");
}
