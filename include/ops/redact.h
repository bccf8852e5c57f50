/* Hiding backend addresses from public text (the status page, /api/status, incidents). */
#pragma once
#include <stddef.h>

/* TEXT (CAP bytes, NUL-terminated) with every configured backend address and host name,
 * with its port, and whatever else looks like an address, replaced by "(address hidden)";
 * cut when it would not fit. */
void redact_text(char *text, size_t cap);
