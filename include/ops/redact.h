/* Hiding backend addresses from public text (the status page, /api/status, incidents). */
#pragma once
#include <stddef.h>

/* TEXT (CAP bytes, NUL-terminated) with every configured backend address and host name,
 * with its port, and whatever else looks like an address, replaced by "(address hidden)";
 * cut when it would not fit. */
void redact_text(char *text, size_t cap);
/* IN as the public may read it: unless [status] public_backend_details = yes, redact_text
 * of it. */
void redact_public(const char *in, char *out, size_t len);
/* A JSON string of S; bytes of a text that is not UTF-8 (a title written in Latin-1) are
 * kept as '?' rather than lose the whole answer. */
struct json_t *redact_json_text(const char *s);
