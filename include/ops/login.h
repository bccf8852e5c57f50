/* Logins of the ops console: a bounded table of sessions, each with a random id (the
 * cookie), a CSRF token (the forms' hidden field), the name ops gave and an expiry; and the
 * Origin check of a form post. Pure: the random bytes and the time are arguments, so the
 * unit tests drive it with a fake clock. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGIN_ID_LEN  32 /* bytes of a session id and of a CSRF token: 256 bits */
#define LOGIN_HEX_LEN (2 * LOGIN_ID_LEN)
#define LOGIN_RND_LEN (2 * LOGIN_ID_LEN) /* random bytes a new session takes */
#define LOGIN_MAX     32                 /* sessions at once; a new one evicts the oldest */
#define LOGIN_WHO_MAX 64

struct login {
	bool used;
	unsigned char id[LOGIN_ID_LEN];   /* the cookie's value, hex */
	unsigned char csrf[LOGIN_ID_LEN]; /* the forms' hidden field, hex */
	char name[LOGIN_WHO_MAX];         /* who logged in (acks, notes, roles are theirs) */
	uint64_t created, expires;        /* monotonic ms */
};

struct login_table {
	struct login s[LOGIN_MAX];
	uint64_t created; /* sessions begun */
	uint64_t expired; /* forgotten at their expiry */
	uint64_t evicted; /* forgotten to make room for a new one */
	uint64_t ended;   /* logged out */
};

/* A new session for NAME at NOW that lasts TTL ms, its id and CSRF token from RND
 * (LOGIN_RND_LEN random bytes); when the table is full the oldest session is evicted. */
struct login *login_new(struct login_table *t, const unsigned char *rnd, const char *name,
                        uint64_t now, uint64_t ttl);
/* The live session whose id is the hex COOKIE at NOW, or NULL (none, malformed, expired:
 * expired sessions are forgotten). Every slot is compared in constant time. */
struct login *login_find(struct login_table *t, const char *cookie, uint64_t now);
/* Whether HEX (a form's field, NULL when absent) is S's CSRF token; constant time. */
bool login_csrf_ok(const struct login *s, const char *hex);
/* Ends S (logout). */
void login_end(struct login_table *t, struct login *s);
/* Live sessions at NOW (expired ones are forgotten first). */
size_t login_live(struct login_table *t, uint64_t now);
/* N bytes of B as lower-case hex into OUT (2 * N + 1 bytes). */
void login_hex(const unsigned char *b, size_t n, char *out);

/* Whether a form post with the Origin header ORIGIN (NULL: none sent) comes from the
 * console's own origin: "http(s)://HOST" with HOST the request's Host header, or the origin
 * of PUBLIC_URL (NULL: none). "null" and any other origin are refused; no Origin passes
 * (older browsers), the CSRF token still guards it. */
bool login_origin_ok(const char *origin, const char *host, const char *public_url);
