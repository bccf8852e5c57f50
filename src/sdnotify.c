/* systemd notifications (sd_notify protocol): READY, RELOADING, STOPPING, STATUS and the
 * watchdog's pings, as datagrams on NOTIFY_SOCKET; see include/sdnotify.h. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sdnotify.h"

#define STATUS_MAXLEN 256

static int sock = -1;
static struct sockaddr_un addr;
static socklen_t addr_len;
static uint64_t watchdog_usec; /* 0: no watchdog for us */
static struct event *ev_watchdog;
static char last_status[STATUS_MAXLEN];
static char socket_path[sizeof(addr.sun_path) + 1]; /* NOTIFY_SOCKET as it was */

/* WATCHDOG_USEC applies to us when WATCHDOG_PID is unset or names our pid. */
static uint64_t watchdog_from_env(void)
{
	const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char *end;
	unsigned long long v;

	if (us == NULL)
		return 0;
	if (pid != NULL && strtol(pid, &end, 10) != (long)getpid())
		return 0;
	errno = 0;
	v = strtoull(us, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		return 0;
	return v;
}

int sdnotify_init(char *err, size_t errlen)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;

	watchdog_usec = watchdog_from_env();
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (path == NULL || path[0] == '\0')
		return 0;
	n = strlen(path);
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "NOTIFY_SOCKET=%s: expected an absolute path or @NAME", path);
		unsetenv("NOTIFY_SOCKET");
		return -1;
	}
	memcpy(addr.sun_path, path, n);
	memcpy(socket_path, path, n + 1);
	if (path[0] == '@') /* abstract: a leading NUL, and the length says where it ends */
		addr.sun_path[0] = '\0';
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	unsetenv("NOTIFY_SOCKET");
	if (sock < 0) {
		snprintf(err, errlen, "NOTIFY_SOCKET: socket: %s", strerror(errno));
		return -1;
	}
	return 0;
}

bool sdnotify_enabled(void)
{
	return sock >= 0;
}

int sdnotify_send(const char *msg)
{
	if (sock < 0)
		return 0;
	if (sendto(sock, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
	           (const struct sockaddr *)&addr, addr_len) < 0)
		return -1;
	return 0;
}

/* Sends PREFIX with a STATUS= line when STATUS is not NULL (and remembers it). */
static void send_with_status(const char *prefix, const char *status)
{
	char msg[64 + STATUS_MAXLEN];

	if (sock < 0)
		return;
	if (status == NULL) {
		(void)sdnotify_send(prefix);
		return;
	}
	snprintf(last_status, sizeof(last_status), "%s", status);
	snprintf(msg, sizeof(msg), "%s\nSTATUS=%s", prefix, last_status);
	(void)sdnotify_send(msg);
}

void sdnotify_ready(const char *status)
{
	send_with_status("READY=1", status);
}

void sdnotify_reloading(void)
{
	struct timespec ts;
	char msg[64];

	if (sock < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ULL +
	             (unsigned long long)ts.tv_nsec / 1000);
	(void)sdnotify_send(msg);
}

void sdnotify_stopping(void)
{
	send_with_status("STOPPING=1", NULL);
}

void sdnotify_status(const char *status)
{
	char msg[16 + STATUS_MAXLEN];

	if (sock < 0 || strncmp(status, last_status, sizeof(last_status) - 1) == 0)
		return;
	snprintf(last_status, sizeof(last_status), "%s", status);
	snprintf(msg, sizeof(msg), "STATUS=%s", last_status);
	(void)sdnotify_send(msg);
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)sdnotify_send("WATCHDOG=1");
}

uint64_t sdnotify_watchdog_start(struct event_base *base)
{
	uint64_t half = watchdog_usec / 2;
	struct timeval tv = {.tv_sec = (time_t)(half / 1000000),
	                     .tv_usec = (suseconds_t)(half % 1000000)};

	if (sock < 0 || watchdog_usec == 0 || ev_watchdog != NULL)
		return 0;
	ev_watchdog = event_new(base, -1, EV_PERSIST, watchdog_cb, NULL);
	if (ev_watchdog == NULL || event_add(ev_watchdog, &tv) != 0)
		return 0;
	(void)sdnotify_send("WATCHDOG=1");
	return half;
}

uint64_t sdnotify_watchdog_usec(void)
{
	return watchdog_usec;
}

const char *sdnotify_socket_path(void)
{
	return socket_path[0] != '\0' ? socket_path : NULL;
}

void sdnotify_deinit(void)
{
	if (ev_watchdog != NULL)
		event_free(ev_watchdog);
	ev_watchdog = NULL;
	if (sock >= 0)
		close(sock);
	sock = -1;
	last_status[0] = '\0';
}
