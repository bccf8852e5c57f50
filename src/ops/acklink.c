/* Acknowledgement links: signing and checking tokens, the key, and the used ones. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <event2/buffer.h>

#include "conf.h"
#include "metrics.h"
#include "ops/acklink.h"
#include "ops/status.h"
#include "ops/store.h"

const char *const ack_verdict_names[ACK_VERDICT_COUNT] = {
    [ACK_OK] = "ok",           [ACK_MALFORMED] = "malformed", [ACK_FORGED] = "forged",
    [ACK_EXPIRED] = "expired", [ACK_USED] = "used",           [ACK_FULL] = "full",
};

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* HMAC-SHA256 of DATA as 64 hex digits in OUT (65 bytes). */
static int mac_of(const unsigned char *key, size_t keylen, const char *data, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, strlen(data), md,
	         &n) == NULL ||
	    n != 32)
		return -1;
	hex(md, n, out);
	return 0;
}

int acklink_sign(const unsigned char *key, size_t keylen, int64_t id, int64_t expires,
                 const char *nonce, const char *channel, char *out, size_t len)
{
	char payload[ACKLINK_TOKEN_MAX], mac[ACKLINK_MAC_HEX + 1];
	int n = snprintf(payload, sizeof(payload), "%" PRId64 ".%" PRId64 ".%s.%s", id, expires,
	                 nonce, channel);

	if (n < 0 || (size_t)n >= sizeof(payload) || mac_of(key, keylen, payload, mac) < 0)
		return -1;
	n = snprintf(out, len, "%s.%s", mac, payload);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static bool all_of(const char *s, size_t n, const char *chars)
{
	return n > 0 && strspn(s, chars) >= n;
}

enum ack_verdict acklink_check(const unsigned char *key, size_t keylen, const char *token,
                               int64_t now, struct ack_claim *out)
{
	static const char digits[] = "0123456789", hexd[] = "0123456789abcdef";
	char mac[ACKLINK_MAC_HEX + 1];
	const char *p = token, *dot;
	int64_t id, exp;

	if (strlen(token) >= ACKLINK_TOKEN_MAX || !all_of(p, ACKLINK_MAC_HEX, hexd) ||
	    p[ACKLINK_MAC_HEX] != '.')
		return ACK_MALFORMED;
	p += ACKLINK_MAC_HEX + 1;
	dot = strchr(p, '.');
	if (dot == NULL || !all_of(p, (size_t)(dot - p), digits) || dot - p > 18)
		return ACK_MALFORMED;
	id = strtoll(p, NULL, 10);
	p = dot + 1;
	dot = strchr(p, '.');
	if (dot == NULL || !all_of(p, (size_t)(dot - p), digits) || dot - p > 18)
		return ACK_MALFORMED;
	exp = strtoll(p, NULL, 10);
	p = dot + 1;
	dot = strchr(p, '.'); /* the nonce; the channel is the rest */
	if (dot == NULL || !all_of(p, (size_t)(dot - p), hexd) || dot[1] == '\0' ||
	    strlen(dot + 1) >= sizeof(out->channel))
		return ACK_MALFORMED;
	if (mac_of(key, keylen, token + ACKLINK_MAC_HEX + 1, mac) < 0 ||
	    CRYPTO_memcmp(mac, token, ACKLINK_MAC_HEX) != 0)
		return ACK_FORGED;
	if (exp <= now)
		return ACK_EXPIRED;
	out->id = id;
	out->expires = exp;
	snprintf(out->channel, sizeof(out->channel), "%s", dot + 1);
	memcpy(out->mac, token, ACKLINK_MAC_HEX);
	out->mac[ACKLINK_MAC_HEX] = '\0';
	return ACK_OK;
}

/* ---- at run time ------------------------------------------------------------------------- */

struct used {
	char mac[ACKLINK_MAC_HEX + 1];
	int64_t expires;
};

static struct {
	unsigned char key[ACKLINK_KEY_MAX];
	size_t keylen;
	bool random; /* made at start (no ack_key_file) */
	uint64_t ttl;
	struct used *used;
	size_t n_used;
	uint64_t made, verdicts[ACK_VERDICT_COUNT];
	bool metrics;
} A;

static void ack_metrics(struct metrics_out *o)
{
	metrics_outf(o,
	             "# HELP nodegate_ack_links_total acknowledgement links made into alerts\n"
	             "# TYPE nodegate_ack_links_total counter\n"
	             "nodegate_ack_links_total %llu\n"
	             "# HELP nodegate_ack_link_uses_total acknowledgement links presented, by "
	             "verdict (ok, or why refused)\n"
	             "# TYPE nodegate_ack_link_uses_total counter\n",
	             (unsigned long long)A.made);
	for (size_t i = 0; i < ACK_VERDICT_COUNT; i++)
		metrics_outf(o, "nodegate_ack_link_uses_total{verdict=\"%s\"} %llu\n",
		             ack_verdict_names[i], (unsigned long long)A.verdicts[i]);
}

int acklink_apply(const struct conf *c, char *err, size_t errlen)
{
	const char *path = c->status.ack_key_file;
	char buf[ACKLINK_KEY_MAX + 2];
	size_t n;
	FILE *f;

	A.ttl = c->status.ack_link_ttl > 0 ? c->status.ack_link_ttl : 24ULL * 3600 * 1000;
	if (path == NULL) {
		if (A.random && A.keylen > 0)
			return 0;
		if (RAND_bytes(A.key, 32) != 1) {
			snprintf(err, errlen, "acknowledgement links: no random key");
			return -1;
		}
		A.keylen = 32;
		A.random = true;
		return 0;
	}
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "[status] ack_key_file: %s: %s", path, strerror(errno));
		return -1;
	}
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	n = strcspn(buf, "\r\n");
	if (n < 16 || n > ACKLINK_KEY_MAX) {
		explicit_bzero(buf, sizeof(buf));
		snprintf(err, errlen,
		         "[status] ack_key_file: %s: expected a key of 16 to %d bytes on "
		         "its first line",
		         path, ACKLINK_KEY_MAX);
		return -1;
	}
	memcpy(A.key, buf, n);
	A.keylen = n;
	A.random = false;
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

static void load_used(const char *mac, int64_t id, int64_t expires, void *arg)
{
	if (A.n_used < ACKLINK_USED_MAX && strlen(mac) == ACKLINK_MAC_HEX) {
		snprintf(A.used[A.n_used].mac, sizeof(A.used[0].mac), "%s", mac);
		A.used[A.n_used++].expires = expires;
	}
}

int acklink_init(void)
{
	A.used = calloc(ACKLINK_USED_MAX, sizeof(*A.used));
	if (A.used == NULL)
		return -1;
	if (!A.metrics && status_metrics(ack_metrics) == 0)
		A.metrics = true;
	return store_is_open() ? store_load_ack_tokens(load_used, NULL) : 0;
}

void acklink_deinit(void)
{
	free(A.used);
	explicit_bzero(A.key, sizeof(A.key));
	memset(&A, 0, sizeof(A));
}

int acklink_url(const char *base, int64_t id, const char *channel, int64_t now, char *out,
                size_t len)
{
	unsigned char r[8];
	char nonce[17], token[ACKLINK_TOKEN_MAX];
	size_t bl = base != NULL ? strlen(base) : 0;
	int n;

	if (A.keylen == 0 || bl == 0 || RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	hex(r, sizeof(r), nonce);
	if (acklink_sign(A.key, A.keylen, id, now + (int64_t)A.ttl, nonce, channel, token,
	                 sizeof(token)) < 0)
		return -1;
	n = snprintf(out, len, "%s%sack?token=%s", base, base[bl - 1] == '/' ? "" : "/", token);
	if (n < 0 || (size_t)n >= len)
		return -1;
	A.made++;
	return 0;
}

/* Forgets the used tokens that expired (they are refused as expired anyway). */
static void forget_expired(int64_t now)
{
	size_t kept = 0;

	for (size_t i = 0; i < A.n_used; i++)
		if (A.used[i].expires > now)
			A.used[kept++] = A.used[i];
	A.n_used = kept;
}

enum ack_verdict acklink_verify(const char *token, int64_t now, struct ack_claim *out)
{
	enum ack_verdict v =
	    A.keylen > 0 ? acklink_check(A.key, A.keylen, token, now, out) : ACK_FORGED;

	for (size_t i = 0; v == ACK_OK && i < A.n_used; i++)
		if (strcmp(A.used[i].mac, out->mac) == 0)
			v = ACK_USED;
	if (v == ACK_OK && A.n_used == ACKLINK_USED_MAX) {
		forget_expired(now);
		v = A.n_used == ACKLINK_USED_MAX ? ACK_FULL : ACK_OK;
	}
	A.verdicts[v]++;
	return v;
}

void acklink_spend(const struct ack_claim *c, int64_t now)
{
	if (A.used == NULL || A.n_used == ACKLINK_USED_MAX)
		return;
	A.used[A.n_used].expires = c->expires;
	snprintf(A.used[A.n_used++].mac, sizeof(A.used[0].mac), "%s", c->mac);
	store_put_ack_token(c->mac, c->id, c->expires, now);
}
