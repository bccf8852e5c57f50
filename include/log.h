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

/* How error-log lines are written on stderr. */
enum log_format {
	LOGF_AUTO = 0, /* journal when stderr is systemd's journal stream, else text */
	LOGF_TEXT,     /* "2026-11-21T10:14:03.123Z info message" */
	LOGF_JOURNAL,  /* "<6>message": the syslog priority journald reads, no timestamp */
	LOGF_JSON,     /* one JSON object per line: time, level, msg and fields */
	LOGF_COUNT
};
extern const char *const log_format_names[LOGF_COUNT];
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

/* The format of error-log lines (enum log_format); auto is resolved now: journal when
 * systemd's JOURNAL_STREAM names stderr. log_format_resolve says what it would be. */
void log_format_set(int format);
int log_format_resolve(int format);
/* Remembers stderr's path when it is a regular file (nodegate 2>>FILE), for log_reopen. */
void log_init(void);
/* SIGUSR1 (logrotate): reopens stderr's file (when log_init found one) and the access log
 * file by their paths; stdout and journald streams are left alone. The caller keeps the
 * workers from writing meanwhile. */
int log_reopen(char *err, size_t errlen) WUR;

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
