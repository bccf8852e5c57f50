/* Unit tests for the inherited sockets of a SIGUSR2 upgrade: NODEGATE_LISTEN_FDS parsing
 * (names with colons, bad fds, too many), and taking a listener's sockets only when their
 * count matches the workers and their address the configuration (real sockets on
 * loopback). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "inherit.h"

static void test_parse(void **state)
{
	struct inherit_fd f[4];
	char err[200];

	assert_int_equal(inherit_parse("web:5,web:6,[status]:7", f, 4, err, sizeof(err)), 3);
	assert_string_equal(f[0].name, "web");
	assert_int_equal(f[1].fd, 6);
	assert_string_equal(f[2].name, "[status]");
	assert_int_equal(f[2].fd, 7);
	assert_int_equal(inherit_parse("a:b:9", f, 4, err, sizeof(err)), 1); /* last colon */
	assert_string_equal(f[0].name, "a:b");
	assert_int_equal(inherit_parse("", f, 4, err, sizeof(err)), 0);
}

static void test_parse_errors(void **state)
{
	struct inherit_fd f[2];
	char err[200];

	assert_int_equal(inherit_parse("web", f, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not NAME:FD"));
	assert_int_equal(inherit_parse("web:x", f, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a file descriptor"));
	assert_int_equal(inherit_parse("web:1", f, 2, err, sizeof(err)), -1); /* stdout */
	assert_int_equal(inherit_parse(":5", f, 2, err, sizeof(err)), -1);
	assert_int_equal(inherit_parse("a:5,b:6,c:7", f, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 2"));
}

static int listen_any(struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
	socklen_t len = sizeof(*sa);

	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	assert_int_equal(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sa, &len), 0);
	return fd;
}

static void test_take(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in other = sa;
	int a = listen_any(&sa), b = listen_any(&sa), fds[2];
	char env[64], err[200];

	snprintf(env, sizeof(env), "web:%d,web:%d", a, b);
	setenv(INHERIT_ENV, env, 1);
	assert_int_equal(inherit_init(err, sizeof(err)), 0);
	assert_null(getenv(INHERIT_ENV)); /* hooks do not see it */
	assert_true(inherit_any());
	assert_int_equal(
	    inherit_take("api", (struct sockaddr *)&sa, sizeof(sa), fds, 2, err, sizeof(err)), 0);
	/* one worker now, two sockets before: a restart, said so */
	assert_int_equal(
	    inherit_take("web", (struct sockaddr *)&sa, sizeof(sa), fds, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "changing workers takes a restart"));
	/* another port in the configuration: not adopted */
	other.sin_port = htons(ntohs(sa.sin_port) == 65535 ? 1 : ntohs(sa.sin_port) + 1);
	assert_int_equal(
	    inherit_take("web", (struct sockaddr *)&other, sizeof(other), fds, 2, err, sizeof(err)),
	    0);
	assert_int_equal(
	    inherit_take("web", (struct sockaddr *)&sa, sizeof(sa), fds, 2, err, sizeof(err)), 2);
	assert_int_equal(fds[0], a);
	assert_int_equal(fds[1], b);
	inherit_close_rest(); /* taken: still open */
	assert_int_equal(close(a), 0);
	assert_int_equal(close(b), 0);
}

static void test_init_refuses_non_listening(void **state)
{
	char err[200];

	setenv(INHERIT_ENV, "web:0", 1);
	assert_int_equal(inherit_init(err, sizeof(err)), -1);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char env[32];
	snprintf(env, sizeof(env), "web:%d", fd);
	setenv(INHERIT_ENV, env, 1);
	assert_int_equal(inherit_init(err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not a listening socket"));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_take),
	    cmocka_unit_test(test_init_refuses_non_listening),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
