/* Acknowledgement links: an alert carries a URL with a token, HMAC-SHA256 over the
 * incident id, an expiry, a nonce and the channel, with a key from [status] ack_key_file
 * or made at start. A token works once: its use is kept in the store, so a link cannot ack
 * again, even after a restart. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

struct conf;

#define ACKLINK_KEY_MAX   256
#define ACKLINK_TOKEN_MAX 256
#define ACKLINK_MAC_HEX   64
#define ACKLINK_USED_MAX  4096 /* used tokens remembered until they expire; then refused */

enum ack_verdict {
	ACK_OK = 0,
	ACK_MALFORMED, /* not a token */
	ACK_FORGED,    /* its MAC is wrong */
	ACK_EXPIRED,   /* past its expiry */
	ACK_USED,      /* used before */
	ACK_FULL,      /* too many used tokens remembered: refused to stay one-time */
	ACK_VERDICT_COUNT
};
extern const char *const ack_verdict_names[ACK_VERDICT_COUNT];

/* What a good token says. */
struct ack_claim {
	int64_t id;
	int64_t expires; /* Unix ms */
	char channel[80];
	char mac[ACKLINK_MAC_HEX + 1];
};

/* ---- pure -------------------------------------------------------------------------------- */

/* "MAC.ID.EXPIRES.NONCE.CHANNEL" into OUT; -1 when it does not fit. */
int acklink_sign(const unsigned char *key, size_t keylen, int64_t id, int64_t expires,
                 const char *nonce, const char *channel, char *out, size_t len) WUR;
/* Checks TOKEN's form, MAC and expiry at NOW (Unix ms); fills OUT when it is good. */
enum ack_verdict acklink_check(const unsigned char *key, size_t keylen, const char *token,
                               int64_t now, struct ack_claim *out);

/* ---- at run time ------------------------------------------------------------------------- */

/* The key of C: ack_key_file's first line, else a random key made once per process. ERR
 * says why it could not be read. */
int acklink_apply(const struct conf *c, char *err, size_t errlen) WUR;
/* Loads the used tokens from the store (after incident_init). */
int acklink_init(void) WUR;
void acklink_deinit(void);
/* The URL that acknowledges incident ID, for a message to CHANNEL sent at NOW: BASE (the
 * status page's address) + "ack?token=..."; -1 when there is no key or it does not fit. */
int acklink_url(const char *base, int64_t id, const char *channel, int64_t now, char *out,
                size_t len) WUR;
/* acklink_check with the running key, and ACK_USED for a token used before. */
enum ack_verdict acklink_verify(const char *token, int64_t now, struct ack_claim *out);
/* Marks C used at NOW (and stores it). */
void acklink_spend(const struct ack_claim *c, int64_t now);
