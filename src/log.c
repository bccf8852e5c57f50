/* Logging: leveled error log to stderr, buffered access log to a file or stdout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"

const char *const log_level_names[LOGL_COUNT] = {
    [LOGL_ERROR] = "error",
    [LOGL_WARN] = "warn",
    [LOGL_INFO] = "info",
    [LOGL_DEBUG] = "debug",
};

int log_level_current = LOGL_INFO;

static FILE *access_fp; /* NULL: access log off */
static bool access_is_stdout;

int log_level_parse(const char *name)
{
	for (int i = 0; i < LOGL_COUNT; i++)
		if (strcasecmp(name, log_level_names[i]) == 0)
			return i;
	return -1;
}

/* "2026-11-21T10:14:03.123Z" */
static void format_now(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

void log_write(int level, const char *fmt, ...)
{
	char when[40], line[2048];
	va_list ap;

	format_now(when, sizeof(when));
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s %s %s\n", when, log_level_names[level], line);
}

int log_access_open(const char *where, char *err, size_t errlen)
{
	FILE *fp = NULL;
	bool to_stdout = false;

	if (where == NULL || strcmp(where, "off") == 0) {
		/* nothing to open */
	} else if (strcmp(where, "-") == 0) {
		fp = stdout;
		to_stdout = true;
	} else {
		fp = fopen(where, "a");
		if (fp == NULL) {
			snprintf(err, errlen, "cannot open access log %s: %s", where,
			         strerror(errno));
			return -1;
		}
		setvbuf(fp, NULL, _IOFBF, 64 * 1024);
	}
	log_access_close();
	access_fp = fp;
	access_is_stdout = to_stdout;
	return 0;
}

void log_access(const char *fmt, ...)
{
	static __thread time_t cached_sec = -1;
	static __thread char cached[24]; /* "2026-11-21T10:14:03" */
	struct timeval tv;
	struct tm tm;
	va_list ap;

	if (access_fp == NULL)
		return;
	gettimeofday(&tv, NULL);
	if (tv.tv_sec != cached_sec) {
		gmtime_r(&tv.tv_sec, &tm);
		strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = tv.tv_sec;
	}
	flockfile(access_fp); /* one line at a time from the workers */
	fprintf(access_fp, "%s.%03dZ ", cached, (int)(tv.tv_usec / 1000));
	va_start(ap, fmt);
	vfprintf(access_fp, fmt, ap);
	va_end(ap);
	fputc('\n', access_fp);
	funlockfile(access_fp);
}

void log_access_flush(void)
{
	if (access_fp != NULL)
		fflush(access_fp);
}

void log_access_close(void)
{
	if (access_fp == NULL)
		return;
	if (access_is_stdout)
		fflush(access_fp);
	else
		fclose(access_fp);
	access_fp = NULL;
	access_is_stdout = false;
}
