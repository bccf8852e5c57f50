/* The notice/FAQ text: checked at load, rendered as escaped HTML with a Markdown subset. */
#include <stdio.h>
#include <string.h>

#include "ops/notice.h"

/* The length of the UTF-8 sequence at S (1..4), 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	size_t n = s[0] < 0x80             ? 1
	           : (s[0] & 0xe0) == 0xc0 ? 2
	           : (s[0] & 0xf0) == 0xe0 ? 3
	           : (s[0] & 0xf8) == 0xf0 ? 4
	                                   : 0;

	if (n == 0 || n > left || (n == 2 && s[0] < 0xc2))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static bool safe_url(const char *u, size_t n)
{
	return (n > 8 && strncmp(u, "https://", 8) == 0) ||
	       (n > 7 && strncmp(u, "http://", 7) == 0);
}

/* Checks the links of one line [P, P+N). */
static bool check_links(const char *p, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i + 1 < n; i++) {
		const char *close, *end;

		if (p[i] != ']' || p[i + 1] != '(')
			continue;
		close = memchr(p + i + 2, ')', n - i - 2);
		if (close == NULL) {
			snprintf(err, errlen,
			         "a link without its ')' (expected [words](https://...))");
			return false;
		}
		end = p + i + 2;
		if (!safe_url(end, (size_t)(close - end)) ||
		    memchr(end, ' ', (size_t)(close - end))) {
			snprintf(err, errlen,
			         "link target \"%.*s\" (expected http:// or https:// URL)",
			         (int)(close - end > 80 ? 80 : close - end), end);
			return false;
		}
	}
	return true;
}

bool notice_check(const char *text, size_t len, int *line, char *err, size_t errlen)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t start = 0;

	*line = 0;
	if (len > NOTICE_MAX) {
		snprintf(err, errlen, "%zu bytes (expected at most %d)", len, NOTICE_MAX);
		return false;
	}
	*line = 1;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_len(s + i, len - i);

		if (n == 0) {
			snprintf(err, errlen, "not UTF-8 (expected UTF-8 text)");
			return false;
		}
		if (n == 1 && s[i] == '\n') {
			if (!check_links(text + start, i - start, err, errlen))
				return false;
			start = i + 1;
			(*line)++;
		} else if (n == 1 && (s[i] < 0x20 || s[i] == 0x7f) && s[i] != '\t' &&
		           s[i] != '\r') {
			snprintf(err, errlen, "control character 0x%02x (expected text)", s[i]);
			return false;
		}
		i += n;
	}
	return check_links(text + start, len - start, err, errlen);
}

/* ---- rendering ----------------------------------------------------------------------------- */

struct r {
	notice_out_fn out;
	void *arg;
};

static void raw(struct r *r, const char *s)
{
	r->out(s, strlen(s), r->arg);
}

static void esc(struct r *r, const char *p, size_t n)
{
	size_t from = 0;

	for (size_t i = 0; i < n; i++) {
		const char *e = p[i] == '&'    ? "&amp;"
		                : p[i] == '<'  ? "&lt;"
		                : p[i] == '>'  ? "&gt;"
		                : p[i] == '"'  ? "&quot;"
		                : p[i] == '\'' ? "&#39;"
		                : p[i] == '\r' ? ""
		                               : NULL;

		if (e == NULL)
			continue;
		r->out(p + from, i - from, r->arg);
		raw(r, e);
		from = i + 1;
	}
	r->out(p + from, n - from, r->arg);
}

/* The first "**" within the N bytes at P, or NULL. */
static const char *strstr_n(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '*' && p[i + 1] == '*')
			return p + i;
	return NULL;
}

/* One line's inline markup: **bold**, `code`, [words](url). */
static void inline_md(struct r *r, const char *p, size_t n)
{
	size_t i = 0, from = 0;

	while (i < n) {
		const char *c;

		if (p[i] == '`' && (c = memchr(p + i + 1, '`', n - i - 1)) != NULL) {
			esc(r, p + from, i - from);
			raw(r, "<code>");
			esc(r, p + i + 1, (size_t)(c - p - i - 1));
			raw(r, "</code>");
			i = from = (size_t)(c - p) + 1;
		} else if (i + 1 < n && p[i] == '*' && p[i + 1] == '*' && i + 2 < n &&
		           (c = strstr_n(p + i + 2, n - i - 2)) != NULL) {
			esc(r, p + from, i - from);
			raw(r, "<strong>");
			esc(r, p + i + 2, (size_t)(c - p - i - 2));
			raw(r, "</strong>");
			i = from = (size_t)(c - p) + 2;
		} else if (p[i] == '[') {
			const char *mid = memchr(p + i, ']', n - i);
			const char *end = mid != NULL && mid + 1 < p + n && mid[1] == '('
			                      ? memchr(mid, ')', (size_t)(p + n - mid))
			                      : NULL;

			if (end == NULL || !safe_url(mid + 2, (size_t)(end - mid - 2))) {
				i++;
				continue;
			}
			esc(r, p + from, i - from);
			raw(r, "<a rel=\"nofollow noopener\" href=\"");
			esc(r, mid + 2, (size_t)(end - mid - 2));
			raw(r, "\">");
			esc(r, p + i + 1, (size_t)(mid - p - i - 1));
			raw(r, "</a>");
			i = from = (size_t)(end - p) + 1;
		} else
			i++;
	}
	esc(r, p + from, n - from);
}

enum block {
	B_NONE = 0,
	B_PARA,
	B_LIST
};

static void close_block(struct r *r, enum block *b)
{
	if (*b == B_PARA)
		raw(r, "</p>");
	else if (*b == B_LIST)
		raw(r, "</ul>");
	*b = B_NONE;
}

void notice_render(const char *text, notice_out_fn out, void *arg)
{
	struct r r = {out, arg};
	enum block b = B_NONE;

	for (const char *p = text; p != NULL && *p != '\0';) {
		size_t n = strcspn(p, "\n");
		const char *next = p[n] == '\n' ? p + n + 1 : p + n;

		while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0) {
			close_block(&r, &b);
		} else if (n > 2 && strncmp(p, "# ", 2) == 0) {
			close_block(&r, &b);
			raw(&r, "<h3>");
			inline_md(&r, p + 2, n - 2);
			raw(&r, "</h3>");
		} else if (n > 3 && strncmp(p, "## ", 3) == 0) {
			close_block(&r, &b);
			raw(&r, "<h4>");
			inline_md(&r, p + 3, n - 3);
			raw(&r, "</h4>");
		} else if (n > 2 && (strncmp(p, "- ", 2) == 0 || strncmp(p, "* ", 2) == 0)) {
			if (b != B_LIST) {
				close_block(&r, &b);
				raw(&r, "<ul>");
				b = B_LIST;
			}
			raw(&r, "<li>");
			inline_md(&r, p + 2, n - 2);
			raw(&r, "</li>");
		} else {
			if (b == B_LIST)
				close_block(&r, &b);
			raw(&r, b == B_PARA ? "<br>" : "<p>");
			b = B_PARA;
			inline_md(&r, p, n);
		}
		p = next;
	}
	close_block(&r, &b);
}
