/* The rules of subscriptions, pure (no I/O; the time is an argument): one-time tokens
 * (random, kept only as their SHA-256, expiring), the rate limits of confirmation mail (per
 * address and global), what an address or a webhook URL may be, which pools a subscriber
 * hears of, and the unsubscribe link's MAC. subs.c runs them. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define SUBRULE_TOKEN_HEX 64   /* a token: 32 random bytes as hex */
#define SUBRULE_TAG_HEX   12   /* the short hash of an address that logs may show */
#define SUBRULE_ADDR_MAX  254  /* an address (RFC 5321's path limit) */
#define SUBRULE_URL_MAX   512  /* a webhook URL */
#define SUBRULE_KEYS      4096 /* addresses the per-address limit remembers */

/* A new token (SUBRULE_TOKEN_HEX + 1 bytes) from OpenSSL's RAND_bytes; -1 when it fails. */
int subrule_token_new(char *out) WUR;
/* SHA-256 of S as hex (65 bytes): what the store keeps of a token. */
void subrule_hash(const char *s, char *out);

enum subrule_check {
	SRC_OK = 0,  /* the token is the one kept, in time */
	SRC_WRONG,   /* not this one (or not a token) */
	SRC_EXPIRED, /* this one, past its expiry */
	SRC_COUNT
};
extern const char *const subrule_check_names[SRC_COUNT];
/* TOKEN against the kept HASH (compared in constant time) at NOW (Unix ms). */
enum subrule_check subrule_token_check(const char *hash, int64_t expires, const char *token,
                                       int64_t now);

/* Whether S is an address nodegate mails: one '@', a local part and a domain with a dot,
 * printable ASCII without blanks, quotes, angle brackets or commas, at most
 * SUBRULE_ADDR_MAX bytes. */
bool subrule_email_ok(const char *s);
/* Whether S is a webhook URL: http:// or https://, a host, no user info, no blanks or
 * controls, at most SUBRULE_URL_MAX bytes. */
bool subrule_url_ok(const char *s);
/* The address as kept and compared: blanks trimmed, the domain lower-cased, into OUT
 * (SUBRULE_ADDR_MAX + 1). */
void subrule_email_norm(const char *s, char *out, size_t len);
/* A short hash of ADDR for the log (SUBRULE_TAG_HEX + 1 bytes): never the address. */
void subrule_tag(const char *addr, char *out);
/* Whether a subscriber of POOLS ("" all, else "a,b") hears of an event of POOL ("" is about
 * everything: every subscriber). */
bool subrule_pool_match(const char *pools, const char *pool);

/* The rate limits of confirmation mail: at most PER_ADDRESS per address in WINDOW ms, and
 * GLOBAL per minute over all addresses (a token bucket). */
enum subrule_limit {
	SRL_SENT = 0, /* within the limits: send */
	SRL_ADDRESS,  /* this address had its mails */
	SRL_GLOBAL,   /* every address together had theirs */
	SRL_COUNT
};
extern const char *const subrule_limit_names[SRL_COUNT];

struct subrule_key {
	unsigned char id[32]; /* SHA-256 of the address */
	uint64_t start;       /* ms (monotonic) its window began */
	unsigned n;           /* sends in the window */
	bool used;
};
struct subrule_limits {
	struct subrule_key keys[SUBRULE_KEYS];
	uint64_t milli, last; /* the global bucket: tokens x 60000, ms of its last refill */
	bool started;
	uint64_t evicted; /* addresses forgotten to make room (the oldest window) */
};
/* Whether a mail to ADDR may go at NOW (ms, monotonic); counts it when it may. */
enum subrule_limit subrule_limit_take(struct subrule_limits *l, const char *addr,
                                      unsigned per_address, uint64_t window, uint64_t global,
                                      uint64_t now);

/* The unsubscribe token of subscriber ID made at CREATED: "ID.MAC", the MAC an HMAC-SHA256
 * with KEY (32 hex digits kept); -1 when it does not fit. */
int subrule_unsub_token(const unsigned char *key, size_t keylen, int64_t id, int64_t created,
                        char *out, size_t len) WUR;
/* The id TOKEN names (0: not a token); its MAC is checked by comparing with
 * subrule_unsub_token of the subscriber found. */
int64_t subrule_unsub_id(const char *token);
