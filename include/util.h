/* Small helpers every module may use. */
#pragma once
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* strdup that passes NULL through (NULL also when out of memory: callers that must tell
 * the two apart check S first). */
static inline char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}
