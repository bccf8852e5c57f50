/* Logins of the ops console: sessions, CSRF tokens, the Origin check (pure). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "ops/login.h"

static void forget(struct login *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
	s->used = false;
}

static void sweep(struct login_table *t, uint64_t now)
{
	for (size_t i = 0; i < LOGIN_MAX; i++)
		if (t->s[i].used && now >= t->s[i].expires) {
			forget(&t->s[i]);
			t->expired++;
		}
}

struct login *login_new(struct login_table *t, const unsigned char *rnd, const char *name,
                        uint64_t now, uint64_t ttl)
{
	struct login *s = NULL;

	sweep(t, now);
	for (size_t i = 0; i < LOGIN_MAX && s == NULL; i++)
		if (!t->s[i].used)
			s = &t->s[i];
	if (s == NULL) { /* full: the oldest goes */
		s = &t->s[0];
		for (size_t i = 1; i < LOGIN_MAX; i++)
			if (t->s[i].created < s->created)
				s = &t->s[i];
		forget(s);
		t->evicted++;
	}
	s->used = true;
	memcpy(s->id, rnd, LOGIN_ID_LEN);
	memcpy(s->csrf, rnd + LOGIN_ID_LEN, LOGIN_ID_LEN);
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->created = now;
	s->expires = now + ttl;
	t->created++;
	return s;
}

static int unhex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* HEX (exactly 2 * N digits) into OUT; -1 when it is not that. */
static int unhex(const char *hex, unsigned char *out, size_t n)
{
	if (hex == NULL || strlen(hex) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = unhex_digit(hex[2 * i]), lo = unhex_digit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

struct login *login_find(struct login_table *t, const char *cookie, uint64_t now)
{
	unsigned char id[LOGIN_ID_LEN];
	struct login *found = NULL;

	sweep(t, now);
	if (unhex(cookie, id, sizeof(id)) < 0)
		return NULL;
	for (size_t i = 0; i < LOGIN_MAX; i++) /* no early exit: each slot costs the same */
		if (CRYPTO_memcmp(t->s[i].id, id, LOGIN_ID_LEN) == 0 && t->s[i].used)
			found = &t->s[i];
	OPENSSL_cleanse(id, sizeof(id));
	return found;
}

bool login_csrf_ok(const struct login *s, const char *hex)
{
	unsigned char v[LOGIN_ID_LEN];
	bool ok;

	if (s == NULL || !s->used || unhex(hex, v, sizeof(v)) < 0)
		return false;
	ok = CRYPTO_memcmp(v, s->csrf, LOGIN_ID_LEN) == 0;
	OPENSSL_cleanse(v, sizeof(v));
	return ok;
}

void login_end(struct login_table *t, struct login *s)
{
	if (s == NULL || !s->used)
		return;
	forget(s);
	t->ended++;
}

size_t login_live(struct login_table *t, uint64_t now)
{
	size_t n = 0;

	sweep(t, now);
	for (size_t i = 0; i < LOGIN_MAX; i++)
		n += t->s[i].used;
	return n;
}

void login_hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Whether ORIGIN is SCHEME "://" HOST (HOST compared without case). */
static bool origin_is(const char *origin, const char *scheme, const char *host, size_t hlen)
{
	size_t n = strlen(scheme);

	return strncmp(origin, scheme, n) == 0 && strncmp(origin + n, "://", 3) == 0 &&
	       strlen(origin + n + 3) == hlen && hlen > 0 &&
	       strncasecmp(origin + n + 3, host, hlen) == 0;
}

bool login_origin_ok(const char *origin, const char *host, const char *public_url)
{
	if (origin == NULL)
		return true;
	if (host != NULL && (origin_is(origin, "http", host, strlen(host)) ||
	                     origin_is(origin, "https", host, strlen(host))))
		return true;
	if (public_url != NULL) { /* "https://status.example.net/x": scheme and authority */
		const char *sep = strstr(public_url, "://"), *end;

		if (sep == NULL)
			return false;
		end = sep + 3 + strcspn(sep + 3, "/?#");
		return strlen(origin) == (size_t)(end - public_url) &&
		       strncasecmp(origin, public_url, (size_t)(end - public_url)) == 0;
	}
	return false;
}
