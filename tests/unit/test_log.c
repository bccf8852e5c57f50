/* log.c: the three formats of error-log lines (text, journald's <N> priorities, JSON with
 * the fields a message's subject gives), read back from stderr redirected to a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static char path[] = "/tmp/test_log-XXXXXX";
static int saved_stderr = -1;

static int setup(void **state)
{
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	unlink(path);
	log_format_set(LOGF_TEXT);
	return 0;
}

/* What was written to stderr since the last call. */
static const char *written(void)
{
	static char buf[8192];
	static long seen;
	FILE *f;
	size_t n;

	fflush(stderr);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, seen, SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	seen += (long)n;
	fclose(f);
	return buf;
}

static void test_journal(void **state)
{
	written();
	log_format_set(LOGF_JOURNAL);
	log_write(LOGL_ERROR, "store: %s", "disk full");
	log_write(LOGL_WARN, "backend n1: up -> down");
	log_write(LOGL_INFO, "nodegate started");
	log_write(LOGL_DEBUG, "x");
	assert_string_equal(written(), "<3>store: disk full\n<4>backend n1: up -> down\n"
	                               "<6>nodegate started\n<7>x\n");
}

static void test_json(void **state)
{
	const char *out;

	written();
	log_format_set(LOGF_JSON);
	log_write(LOGL_WARN, "backend n1: up -> down (\"critical\" \\ %s)", "\t");
	out = written();
	assert_true(strncmp(out, "{\"time\":\"", 9) == 0);
	assert_non_null(strstr(out, "Z\",\"level\":\"warn\",\"msg\":\"backend n1: up -> down "
	                            "(\\\"critical\\\" \\\\ \\u0009)\",\"backend\":\"n1\"}\n"));
	log_write(LOGL_INFO, "store: ok");
	assert_non_null(strstr(written(), "\"msg\":\"store: ok\",\"subsystem\":\"store\"}\n"));
	log_write(LOGL_INFO, "hook fix (pid 12): started");
	assert_non_null(strstr(written(), ",\"hook\":\"fix\"}\n"));
	log_write(LOGL_INFO, "nodegate started: 1 listeners");
	out = written();
	assert_non_null(strstr(out, "\"msg\":\"nodegate started: 1 listeners\"}\n"));
}

static void test_text_and_auto(void **state)
{
	struct stat st;
	char js[64];

	written();
	log_format_set(LOGF_AUTO); /* stderr is a file, not the journal */
	log_write(LOGL_INFO, "hello");
	assert_non_null(strstr(written(), "Z info hello\n"));
	assert_int_equal(fstat(2, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	assert_int_equal(log_format_resolve(LOGF_AUTO), LOGF_JOURNAL);
	assert_int_equal(log_format_resolve(LOGF_JSON), LOGF_JSON);
	setenv("JOURNAL_STREAM", "1:2", 1);
	assert_int_equal(log_format_resolve(LOGF_AUTO), LOGF_TEXT);
	unsetenv("JOURNAL_STREAM");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_journal),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_text_and_auto),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
