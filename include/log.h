/* Logging: the error log (levels, to stderr) and the access log (one line per request). */
#pragma once
#include <stdarg.h>
#include <stdbool.h>

#define WUR __attribute__((warn_unused_result))

enum log_level {
	LOGL_ERROR = 0,
	LOGL_WARN,
	LOGL_INFO,
	LOGL_DEBUG,
	LOGL_COUNT
};

extern const char *const log_level_names[LOGL_COUNT];
extern int log_level_current; /* messages above this level are not even formatted */

void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...)                                                                           \
	do {                                                                                       \
		if ((lvl) <= log_level_current)                                                    \
			log_write((lvl), __VA_ARGS__);                                             \
	} while (0)
#define log_error(...) log_at(LOGL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOGL_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOGL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOGL_DEBUG, __VA_ARGS__)

/* Parses a level name ("error", "warn", "info", "debug"); -1 when unknown. */
int log_level_parse(const char *name);

/* Opens the access log: a path, "-" for stdout, or "off". Reopening (reload, logrotate)
 * replaces the previous file only when the new one opened. */
int log_access_open(const char *where, char *err, size_t errlen) WUR;
/* Appends one line, prefixed with the UTC time and ended with a newline. Buffered;
 * flushed by log_access_flush (every second). */
void log_access(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_access_flush(void);
void log_access_close(void);
