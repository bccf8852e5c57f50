/* The rules of subscriptions: tokens, limits, addresses (pure, the time an argument). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "ops/subrule.h"

const char *const subrule_check_names[SRC_COUNT] = {
    [SRC_OK] = "ok", [SRC_WRONG] = "wrong", [SRC_EXPIRED] = "expired"};
const char *const subrule_limit_names[SRL_COUNT] = {
    [SRL_SENT] = "sent", [SRL_ADDRESS] = "address", [SRL_GLOBAL] = "global"};

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static void sha256(const void *p, size_t n, unsigned char md[32])
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32)
		memset(md, 0, 32);
}

int subrule_token_new(char *out)
{
	unsigned char r[SUBRULE_TOKEN_HEX / 2];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	hex(r, sizeof(r), out);
	OPENSSL_cleanse(r, sizeof(r));
	return 0;
}

void subrule_hash(const char *s, char *out)
{
	unsigned char md[32];

	sha256(s, strlen(s), md);
	hex(md, sizeof(md), out);
}

enum subrule_check subrule_token_check(const char *hash, int64_t expires, const char *token,
                                       int64_t now)
{
	char h[65];

	if (token == NULL || strlen(token) != SUBRULE_TOKEN_HEX ||
	    strspn(token, "0123456789abcdef") != SUBRULE_TOKEN_HEX || hash == NULL ||
	    strlen(hash) != 64)
		return SRC_WRONG;
	subrule_hash(token, h);
	if (CRYPTO_memcmp(h, hash, 64) != 0)
		return SRC_WRONG;
	return now >= expires ? SRC_EXPIRED : SRC_OK;
}

bool subrule_email_ok(const char *s)
{
	const char *at = s != NULL ? strchr(s, '@') : NULL;
	size_t n = s != NULL ? strlen(s) : 0;

	if (at == NULL || at == s || n > SUBRULE_ADDR_MAX || strchr(at + 1, '@') != NULL)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("\"<>(),;:\\[]", *p) != NULL)
			return false;
	/* a domain of labels: a dot inside, not at either end, no empty label */
	at++;
	return strchr(at, '.') != NULL && at[0] != '.' && at[strlen(at) - 1] != '.' &&
	       strstr(at, "..") == NULL;
}

bool subrule_url_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0, skip;
	const char *host, *end;

	if (n == 0 || n > SUBRULE_URL_MAX)
		return false;
	if (strncmp(s, "http://", 7) == 0)
		skip = 7;
	else if (strncmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return false;
	host = s + skip;
	end = host + strcspn(host, "/?#");
	return end > host && memchr(host, '@', (size_t)(end - host)) == NULL;
}

void subrule_email_norm(const char *s, char *out, size_t len)
{
	char *at;
	size_t n;

	s += strspn(s, " \t");
	snprintf(out, len, "%s", s);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t' || out[n - 1] == '\r' ||
	                 out[n - 1] == '\n'))
		out[--n] = '\0';
	if ((at = strrchr(out, '@')) != NULL)
		for (char *p = at; *p; p++)
			*p = (char)tolower((unsigned char)*p);
}

void subrule_tag(const char *addr, char *out)
{
	unsigned char md[32];

	sha256(addr, strlen(addr), md);
	hex(md, SUBRULE_TAG_HEX / 2, out);
}

bool subrule_pool_match(const char *pools, const char *pool)
{
	size_t n = strlen(pool);

	if (pools == NULL || pools[0] == '\0' || pool == NULL || pool[0] == '\0')
		return true;
	for (const char *p = pools; *p;) {
		size_t m = strcspn(p, ",");

		if (m == n && strncmp(p, pool, n) == 0)
			return true;
		p += m + (p[m] == ',');
	}
	return false;
}

/* A token bucket of PER_MINUTE (burst PER_MINUTE), refilled continuously; false when empty. */
static bool bucket_take(struct subrule_limits *l, uint64_t per_minute, uint64_t now)
{
	uint64_t cap = per_minute * 60000;

	if (!l->started || l->milli > cap) {
		l->started = true;
		l->milli = cap;
		l->last = now;
	}
	if (now > l->last) {
		uint64_t add = (now - l->last) * per_minute;

		l->milli = add >= cap - l->milli ? cap : l->milli + add;
		l->last = now;
	}
	if (l->milli < 60000)
		return false;
	l->milli -= 60000;
	return true;
}

enum subrule_limit subrule_limit_take(struct subrule_limits *l, const char *addr,
                                      unsigned per_address, uint64_t window, uint64_t global,
                                      uint64_t now)
{
	unsigned char id[32];
	struct subrule_key *k = NULL, *free_k = NULL, *oldest = NULL;

	sha256(addr, strlen(addr), id);
	for (size_t i = 0; i < SUBRULE_KEYS; i++) {
		struct subrule_key *c = &l->keys[i];

		if (c->used && now - c->start >= window)
			c->used = false; /* its window is over: as if never seen */
		if (!c->used) {
			if (free_k == NULL)
				free_k = c;
			continue;
		}
		if (memcmp(c->id, id, sizeof(id)) == 0)
			k = c;
		if (oldest == NULL || c->start < oldest->start)
			oldest = c;
	}
	if (k != NULL && k->n >= per_address)
		return SRL_ADDRESS;
	if (!bucket_take(l, global, now))
		return SRL_GLOBAL;
	if (k == NULL) {
		if (free_k == NULL) {
			free_k = oldest;
			l->evicted++;
		}
		k = free_k;
		memcpy(k->id, id, sizeof(id));
		k->start = now;
		k->n = 0;
		k->used = true;
	}
	k->n++;
	return SRL_SENT;
}

int subrule_unsub_token(const unsigned char *key, size_t keylen, int64_t id, int64_t created,
                        char *out, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char data[64], mac[65];
	int w;

	snprintf(data, sizeof(data), "unsub.%" PRId64 ".%" PRId64, id, created);
	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, strlen(data), md,
	         &n) == NULL ||
	    n != 32)
		return -1;
	hex(md, 16, mac);
	w = snprintf(out, len, "%" PRId64 ".%s", id, mac);
	return w > 0 && (size_t)w < len ? 0 : -1;
}

int64_t subrule_unsub_id(const char *token)
{
	int64_t id = 0;
	const char *p = token;

	if (p == NULL)
		return 0;
	for (; *p >= '0' && *p <= '9' && id < INT64_MAX / 10 - 10; p++)
		id = id * 10 + (*p - '0');
	return *p == '.' && p != token ? id : 0;
}
