/* Logging: leveled error log to stderr (text, journald's <N> priorities or JSON lines),
 * buffered access log to a file or stdout; both reopened on SIGUSR1 for logrotate. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

const char *const log_level_names[LOGL_COUNT] = {
    [LOGL_ERROR] = "error",
    [LOGL_WARN] = "warn",
    [LOGL_INFO] = "info",
    [LOGL_DEBUG] = "debug",
};

const char *const log_format_names[LOGF_COUNT] = {
    [LOGF_AUTO] = "auto",
    [LOGF_TEXT] = "text",
    [LOGF_JOURNAL] = "journal",
    [LOGF_JSON] = "json",
};

/* syslog(3) priorities of the levels, as journald reads them from "<N>" */
static const int level_prio[LOGL_COUNT] = {
    [LOGL_ERROR] = 3,
    [LOGL_WARN] = 4,
    [LOGL_INFO] = 6,
    [LOGL_DEBUG] = 7,
};

/* The subjects a message may open with ("backend n1: ..."): a JSON line gets them as
 * fields ("backend": "n1"). */
static const char *const subjects[] = {
    "backend", "pool", "listener", "alert", "hook", "incident", "escalation",
};

int log_level_current = LOGL_INFO;
static int format_current = LOGF_TEXT; /* never LOGF_AUTO: log_format_set resolves it */
static char *stderr_path;              /* stderr's file when it is one: reopened by SIGUSR1 */

static FILE *access_fp; /* NULL: access log off */
static bool access_is_stdout;
static char *access_path; /* the file access_fp writes, for log_reopen */

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

/* Whether JOURNAL_STREAM ("DEV:INODE", set by systemd) names our stderr. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int log_format_resolve(int format)
{
	if (format == LOGF_AUTO)
		return stderr_is_journal() ? LOGF_JOURNAL : LOGF_TEXT;
	return format;
}

void log_format_set(int format)
{
	format_current = log_format_resolve(format);
}

/* Appends S to OUT as the inside of a JSON string (quotes, backslashes and control bytes
 * escaped); returns the new length, at most LEN - 1. */
static size_t json_escape(char *out, size_t n, size_t len, const char *s, size_t slen)
{
	for (size_t i = 0; i < slen && n + 7 < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\') {
			out[n++] = '\\';
			out[n++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			n += (size_t)snprintf(out + n, len - n, "\\u%04x", ch);
		} else {
			out[n++] = (char)ch;
		}
	}
	out[n] = '\0';
	return n;
}

/* The fields of MSG: "SUBJECT NAME: ..." gives {"SUBJECT": "NAME"}, "WORD: ..." gives
 * {"subsystem": "WORD"}. Appended to OUT as ,"k":"v" pairs. */
static size_t json_fields(char *out, size_t n, size_t len, const char *msg)
{
	size_t w = strspn(msg, "abcdefghijklmnopqrstuvwxyz");

	if (w > 0 && msg[w] == ':' && w <= 16) {
		n += (size_t)snprintf(out + n, len - n, ",\"subsystem\":\"%.*s\"", (int)w, msg);
		return n < len ? n : len - 1;
	}
	for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		size_t sl = strlen(subjects[i]), nl;

		if (strncmp(msg, subjects[i], sl) != 0 || msg[sl] != ' ')
			continue;
		nl = strcspn(msg + sl + 1, ": (");
		if (nl == 0 || (msg[sl + 1 + nl] != ':' && msg[sl + 1 + nl] != ' '))
			return n;
		n += (size_t)snprintf(out + n, len - n, ",\"%s\":\"", subjects[i]);
		if (n >= len)
			return len - 1;
		n = json_escape(out, n, len, msg + sl + 1, nl);
		if (n + 1 < len)
			out[n++] = '"';
		out[n] = '\0';
		return n;
	}
	return n;
}

void log_write(int level, const char *fmt, ...)
{
	char when[40], line[2048], json[5 * 1024];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (format_current == LOGF_JOURNAL) {
		fprintf(stderr, "<%d>%s\n", level_prio[level], line);
		return;
	}
	format_now(when, sizeof(when));
	if (format_current != LOGF_JSON) {
		fprintf(stderr, "%s %s %s\n", when, log_level_names[level], line);
		return;
	}
	n = (size_t)snprintf(json, sizeof(json), "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"",
	                     when, log_level_names[level]);
	n = json_escape(json, n, sizeof(json), line, strlen(line));
	n += (size_t)snprintf(json + n, sizeof(json) - n, "\"");
	n = json_fields(json, n, sizeof(json) - 2, line);
	fprintf(stderr, "%s}\n", json);
}

void log_init(void)
{
	char link[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (fstat(2, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	n = readlink("/proc/self/fd/2", link, sizeof(link) - 1);
	if (n <= 0 || link[0] != '/')
		return;
	link[n] = '\0';
	free(stderr_path);
	stderr_path = strdup(link);
}

int log_reopen(char *err, size_t errlen)
{
	int rc = 0;

	if (stderr_path != NULL) {
		int fd = open(stderr_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

		if (fd < 0 || dup2(fd, 2) < 0) {
			snprintf(err, errlen, "cannot reopen the log %s: %s", stderr_path,
			         strerror(errno));
			rc = -1;
		}
		if (fd >= 0)
			close(fd);
	}
	if (access_path != NULL && !access_is_stdout) {
		char *path = strdup(access_path);
		char aerr[512];

		if (path == NULL || log_access_open(path, aerr, sizeof(aerr)) != 0) {
			if (rc == 0)
				snprintf(err, errlen, "%s", path == NULL ? "out of memory" : aerr);
			rc = -1;
		}
		free(path);
	}
	return rc;
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
	char *path = fp != NULL && !to_stdout ? strdup(where) : NULL;

	log_access_close();
	access_fp = fp;
	access_is_stdout = to_stdout;
	access_path = path;
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
	free(access_path);
	access_path = NULL;
}
