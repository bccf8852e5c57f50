/* The words of subscription mail and webhook events: one table, one renderer. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "ops/subtext.h"
#include "ops/words.h"
#include "util.h"

const char *const subs_note_names[SN_COUNT] = {
    [SN_CONFIRM] = "subscription_confirm",          [SN_INCIDENT_OPENED] = "incident_opened",
    [SN_INCIDENT_UPDATED] = "incident_updated",     [SN_INCIDENT_RESOLVED] = "incident_resolved",
    [SN_MAINT_SCHEDULED] = "maintenance_scheduled", [SN_MAINT_STARTED] = "maintenance_started",
    [SN_MAINT_ENDED] = "maintenance_ended",
};

/* Each note's subject and body, from the one table of public words (ops/words.h). */
static const struct {
	enum word subject, body;
} texts[SN_COUNT] = {
    [SN_CONFIRM] = {W_MAIL_CONFIRM_SUBJECT, W_MAIL_CONFIRM_BODY},
    [SN_INCIDENT_OPENED] = {W_MAIL_OPENED_SUBJECT, W_MAIL_OPENED_BODY},
    [SN_INCIDENT_UPDATED] = {W_MAIL_UPDATED_SUBJECT, W_MAIL_UPDATED_BODY},
    [SN_INCIDENT_RESOLVED] = {W_MAIL_RESOLVED_SUBJECT, W_MAIL_RESOLVED_BODY},
    [SN_MAINT_SCHEDULED] = {W_MAIL_MSCHED_SUBJECT, W_MAIL_MSCHED_BODY},
    [SN_MAINT_STARTED] = {W_MAIL_MSTART_SUBJECT, W_MAIL_MSTART_BODY},
    [SN_MAINT_ENDED] = {W_MAIL_MEND_SUBJECT, W_MAIL_MEND_BODY},
};

static const char *var(const struct subtext_vars *v, const char *name, size_t n)
{
	static const struct {
		const char *name;
		size_t off;
	} names[] = {
	    {"pool", offsetof(struct subtext_vars, pool)},
	    {"title", offsetof(struct subtext_vars, title)},
	    {"text", offsetof(struct subtext_vars, text)},
	    {"status", offsetof(struct subtext_vars, status)},
	    {"start", offsetof(struct subtext_vars, start)},
	    {"end", offsetof(struct subtext_vars, end)},
	    {"link", offsetof(struct subtext_vars, link)},
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strlen(names[i].name) == n && strncmp(names[i].name, name, n) == 0) {
			const char *s = *(const char *const *)((const char *)v + names[i].off);

			if (s == NULL || s[0] == '\0')
				return i == 0 ? words_get((enum words_lang)v->lang,
				                          W_MAIL_ALL_SERVICES)
				              : "";
			return s;
		}
	return NULL;
}

/* TPL with its {names} replaced into OUT (LEN bytes, at least 1). */
static void render(const char *tpl, const struct subtext_vars *v, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = tpl; *p && o + 1 < len;) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		const char *s = close != NULL ? var(v, p + 1, (size_t)(close - p - 1)) : NULL;

		if (s == NULL) {
			out[o++] = *p++;
			continue;
		}
		for (; *s && o + 1 < len; s++)
			out[o++] = *s;
		p = close + 1;
	}
	out[o] = '\0';
}

void subtext_render(enum subs_note n, const struct subtext_vars *v, char *subject, size_t slen,
                    char *body, size_t blen)
{
	if (n >= SN_COUNT)
		n = SN_INCIDENT_UPDATED;
	render(words_get((enum words_lang)v->lang, texts[n].subject), v, subject, slen);
	/* one line: a line end in a title must not start a header */
	for (char *p = subject; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	render(words_get((enum words_lang)v->lang, texts[n].body), v, body, blen);
}

#define WORD_IN 45 /* input bytes per encoded word: 60 base64 characters, lines under 78 */

void subtext_header(const char *s, char *out, size_t len)
{
	size_t n = strlen(s), o = 0;
	bool ascii = true;

	for (size_t i = 0; i < n; i++)
		ascii = ascii && (unsigned char)s[i] < 0x80;
	if (ascii) {
		snprintf(out, len, "%s", s);
		return;
	}
	out[0] = '\0';
	for (size_t i = 0; i < n;) {
		unsigned char enc[2 * WORD_IN];
		size_t k = n - i < WORD_IN ? n - i : WORD_IN;
		int w;

		while (i + k < n && k > 1 && ((unsigned char)s[i + k] & 0xc0) == 0x80)
			k--; /* the next byte continues a sequence: end this word before it */
		EVP_EncodeBlock(enc, (const unsigned char *)s + i, (int)k);
		w = snprintf(out + o, len - o, "%s=?UTF-8?B?%s?=", i ? "\r\n " : "", enc);
		if (w < 0 || (size_t)w >= len - o) {
			out[o] = '\0'; /* cut at the last whole word */
			return;
		}
		o += (size_t)w;
		i += k;
	}
}
