/* The words of subscription mail and webhook events: one table, one renderer. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "ops/subtext.h"
#include "util.h"

const char *const subs_note_names[SN_COUNT] = {
    [SN_CONFIRM] = "subscription_confirm",          [SN_INCIDENT_OPENED] = "incident_opened",
    [SN_INCIDENT_UPDATED] = "incident_updated",     [SN_INCIDENT_RESOLVED] = "incident_resolved",
    [SN_MAINT_SCHEDULED] = "maintenance_scheduled", [SN_MAINT_STARTED] = "maintenance_started",
    [SN_MAINT_ENDED] = "maintenance_ended",
};

static const struct {
	const char *subject, *body;
} texts[SN_COUNT] = {
    [SN_CONFIRM] = {"Confirm your subscription to status updates",
                    "Someone, probably you, asked to receive status updates for {pool} at "
                    "this address.\n\nTo confirm, open this link and press the button:\n"
                    "{link}\n\nIf you did not ask for this, ignore this mail: nothing more "
                    "will be sent.\n"},
    [SN_INCIDENT_OPENED] = {"[{pool}] Incident: {title}",
                            "We are seeing a problem with {pool}.\n\n{title}\n{text}\n\n"
                            "Follow it on the status page: {link}\n"},
    [SN_INCIDENT_UPDATED] = {"[{pool}] Update ({status}): {title}",
                             "An update on the incident \"{title}\" ({status}):\n\n{text}\n\n"
                             "Status page: {link}\n"},
    [SN_INCIDENT_RESOLVED] = {"[{pool}] Resolved: {title}",
                              "The incident \"{title}\" is resolved.\n\n{text}\n\n"
                              "Status page: {link}\n"},
    [SN_MAINT_SCHEDULED] = {"[{pool}] Maintenance scheduled: {title}",
                            "A maintenance of {pool} is scheduled from {start} to {end}.\n\n"
                            "{title}\n{text}\n\nStatus page: {link}\n"},
    [SN_MAINT_STARTED] = {"[{pool}] Maintenance started: {title}",
                          "The maintenance \"{title}\" has started (planned to end {end}).\n\n"
                          "{text}\n\nStatus page: {link}\n"},
    [SN_MAINT_ENDED] = {"[{pool}] Maintenance ended: {title}",
                        "The maintenance \"{title}\" has ended.\n\n{text}\n\nStatus page: "
                        "{link}\n"},
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
				return i == 0 ? "all services" : "";
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
	render(texts[n].subject, v, subject, slen);
	/* one line: a line end in a title must not start a header */
	for (char *p = subject; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	render(texts[n].body, v, body, blen);
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
