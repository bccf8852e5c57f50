/* SIGUSR2 binary upgrades: the old process starts the new one with its listening sockets
 * and waits for its word; the new one adopts the sockets and gives its word when ready. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/listener.h>

#include "health/poolstat.h"
#include "inherit.h"
#include "log.h"
#include "ops/status.h"
#include "proxy/listener.h"
#include "proxy/route.h"
#include "registry.h"
#include "sdnotify.h"
#include "stats.h"
#include "upgrade.h"

extern char **environ;

static char exe[PATH_MAX];    /* the binary this process was started from */
static char **argv_saved;     /* main's argv, for the same command line */
static int ready_fd = -1;     /* new process: its end of the pipe to the old one */
static struct event *ev_wait; /* new process: polls its pools until they can serve */
static uint64_t wait_ms;

/* old process: the upgrade under way */
static struct {
	pid_t pid;
	int fd; /* our end of the pipe */
	struct event *ev_read, *ev_timer;
	void (*handover)(void);
} up = {.pid = 0, .fd = -1};

int upgrade_init(char **argv, char *err, size_t errlen)
{
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *v = getenv(UPGRADE_FD_ENV);

	exe[n > 0 ? n : 0] = '\0';
	argv_saved = argv;
	if (v != NULL) {
		char *end;
		long fd = strtol(v, &end, 10);
		unsetenv(UPGRADE_FD_ENV);
		if (*end != '\0' || fd < 3 || fd > INT_MAX || fcntl((int)fd, F_GETFD) < 0) {
			snprintf(err, errlen, "%s: \"%s\" is not an open file descriptor",
			         UPGRADE_FD_ENV, v);
			return -1;
		}
		ready_fd = (int)fd;
		(void)fcntl(ready_fd, F_SETFD, FD_CLOEXEC); /* hooks must not hold it */
	}
	return inherit_init(err, errlen);
}

/* ---- the new process --------------------------------------------------------------------- */

/* Every pool with members had its first verdicts on them (not routing blind, in panic, to
 * nodes nobody judged yet) and can pick a node. */
static bool pools_can_serve(void)
{
	for (size_t i = 0; i < registry.n_pools; i++) {
		const struct pool *p = registry.pools[i];
		if (p->n_members > 0 && (poolstat_known(p) < 0 || !pool_can_pick(p, NULL, 0)))
			return false;
	}
	return true;
}

/* Accepts on the listeners adopted on hold (the old process still accepts on them too,
 * until it reads the word). */
static void start_accepting(void)
{
	workers_isolate();
	inherit_hold = false;
	for (size_t i = 0; i < registry.n_listeners; i++)
		listener_enable(registry.listeners[i]);
	workers_release();
	status_start_accepting();
}

static void tell_ready(void)
{
	static const char ready = 'R';

	start_accepting();
	if (write(ready_fd, &ready, 1) != 1)
		log_warn(
		    "upgrade: cannot tell the nodegate before (pid %d) that this one is ready: %s",
		    (int)getppid(), strerror(errno));
	else
		log_info("upgrade: ready; the nodegate before (pid %d) stops accepting and drains",
		         (int)getppid());
	close(ready_fd);
	ready_fd = -1;
}

static void wait_cb(evutil_socket_t fd, short what, void *arg)
{
	wait_ms += 20;
	if (!pools_can_serve() && wait_ms < UPGRADE_READY_WAIT_MS)
		return;
	if (wait_ms >= UPGRADE_READY_WAIT_MS)
		log_warn("upgrade: a pool still cannot serve after %ums: taking over anyway",
		         UPGRADE_READY_WAIT_MS);
	event_free(ev_wait);
	ev_wait = NULL;
	tell_ready();
}

void upgrade_ready(struct event_base *base)
{
	inherit_close_rest();
	if (ready_fd < 0) {
		if (inherit_hold) /* sockets without the pipe: nobody to wait for */
			start_accepting();
		return;
	}
	if (pools_can_serve()) {
		tell_ready();
		return;
	}
	/* its first probes have not judged the nodes yet: the old process serves meanwhile */
	ev_wait = event_new(base, -1, EV_PERSIST, wait_cb, NULL);
	if (ev_wait == NULL) {
		tell_ready();
		return;
	}
	evtimer_add(ev_wait, &(struct timeval){.tv_usec = 20000});
}

/* ---- the old process --------------------------------------------------------------------- */

static void up_end(void)
{
	if (up.ev_read != NULL)
		event_free(up.ev_read);
	if (up.ev_timer != NULL)
		event_free(up.ev_timer);
	if (up.fd >= 0)
		close(up.fd);
	up.ev_read = up.ev_timer = NULL;
	up.fd = -1;
}

/* The new process will not take over (WHY): it is reaped, killed first unless it is
 * EXITING already (it closed the pipe: blocking on it is short). SERVING_ON: this process
 * goes on serving. */
static void up_failed(const char *why, bool exiting, bool serving_on)
{
	int status = 0;
	char how[64] = "";
	pid_t got = exiting ? 0 : waitpid(up.pid, &status, WNOHANG);

	if (got == 0) { /* still there */
		if (!exiting)
			kill(up.pid, SIGKILL);
		while ((got = waitpid(up.pid, &status, 0)) < 0 && errno == EINTR)
			;
	}
	if (got == up.pid && WIFEXITED(status))
		snprintf(how, sizeof(how), ", exit status %d", WEXITSTATUS(status));
	else if (got == up.pid && WIFSIGNALED(status))
		snprintf(how, sizeof(how), ", killed by signal %d", WTERMSIG(status));
	log_error("upgrade failed: the new nodegate (%s, pid %d) %s%s%s", exe, (int)up.pid, why,
	          how,
	          serving_on ? "; this one goes on serving (the new one's own messages above say "
	                       "why)"
	                     : "");
	STAT_INC(binary_upgrade_failures);
	up_end();
	up.pid = 0;
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	char c;
	ssize_t n = read(up.fd, &c, 1);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 1 && c == 'R') {
		log_info("upgrade: the new nodegate (pid %d) is ready: stopping accepts, draining",
		         (int)up.pid);
		STAT_INC(binary_upgrades);
		/* systemd: the service's main process is the new one now (sent while this one
		 * still is, so NotifyAccess=main takes it); its READY=1 came before */
		char msg[128];
		snprintf(msg, sizeof(msg),
		         "MAINPID=%d\nSTATUS=upgraded: pid %d serves, pid %d drains", (int)up.pid,
		         (int)up.pid, (int)getpid());
		(void)sdnotify_send(msg);
		up_end(); /* up.pid stays: no second upgrade from a draining process */
		status_stop_accepting(); /* /healthz is the new one's from now on */
		up.handover();
		return;
	}
	up_failed(n == 0 ? "ended before it was ready" : "broke the pipe", n == 0, true);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	char why[64];

	snprintf(why, sizeof(why), "was not ready within %ums", UPGRADE_TIMEOUT_MS);
	up_failed(why, false, true);
}

/* "NAME:FD,..." for every listening socket of this process into BUF; the fds into FDS. */
static size_t collect(char *buf, size_t len, int *fds, size_t max)
{
	size_t n = 0, off = 0;
	int fd;

	buf[0] = '\0';
	for (size_t i = 0; i < registry.n_listeners; i++) {
		struct listener *l = registry.listeners[i];
		for (unsigned w = 0; w < WORKERS_MAX && n < max; w++) {
			if (l->evl[w] == NULL || (fd = evconnlistener_get_fd(l->evl[w])) < 0)
				continue;
			off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s:%d",
			                        n > 0 ? "," : "", l->name, fd);
			fds[n++] = fd;
		}
	}
	if ((fd = status_listen_fd()) >= 0 && n < max) {
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s:%d",
		                        n > 0 ? "," : "", INHERIT_STATUS, fd);
		fds[n++] = fd;
	}
	return off < len ? n : 0;
}

static bool env_is(const char *entry, const char *name)
{
	size_t n = strlen(name);

	return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

/* environ without our variables, plus ONE and TWO, and systemd's NOTIFY_SOCKET and
 * WATCHDOG_USEC as this process read them (sdnotify.c unset them: the successor notifies
 * and pings in its turn); NULL when out of memory. */
static char **child_env(char *one, char *two)
{
	static char notify[128 + 16], watchdog[48];
	const char *path = sdnotify_socket_path();
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 5, sizeof(*env))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!env_is(environ[i], INHERIT_ENV) && !env_is(environ[i], UPGRADE_FD_ENV) &&
		    !env_is(environ[i], "NOTIFY_SOCKET") && !env_is(environ[i], "WATCHDOG_USEC") &&
		    !env_is(environ[i], "WATCHDOG_PID"))
			env[k++] = environ[i];
	env[k++] = one;
	env[k++] = two;
	if (path != NULL &&
	    (size_t)snprintf(notify, sizeof(notify), "NOTIFY_SOCKET=%s", path) < sizeof(notify))
		env[k++] = notify;
	if (path != NULL && sdnotify_watchdog_usec() > 0) {
		snprintf(watchdog, sizeof(watchdog), "WATCHDOG_USEC=%llu",
		         (unsigned long long)sdnotify_watchdog_usec());
		env[k++] = watchdog;
	}
	return env;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* In the child: closes every descriptor from 3 up but the N sorted ones of KEEP (sockets to
 * clients and nodes without CLOEXEC would otherwise stay open in the new process, and their
 * peers would never see them close). Async-signal-safe. */
static void close_others(const int *keep, size_t n)
{
	unsigned from = 3;

	for (size_t i = 0; i < n; i++) {
		if ((unsigned)keep[i] > from)
			close_range(from, (unsigned)keep[i] - 1, 0);
		if ((unsigned)keep[i] >= from)
			from = (unsigned)keep[i] + 1;
	}
	close_range(from, ~0U, 0);
}

void upgrade_start(struct event_base *base, void (*handover)(void))
{
	static char fds_var[INHERIT_MAX * 140 + 32];
	char pipe_var[64];
	int fds[INHERIT_MAX], p[2];
	size_t n;
	char **env;

	if (up.pid != 0 || registry.draining) {
		log_warn("upgrade: SIGUSR2 ignored: %s",
		         up.pid != 0 ? "an upgrade is under way" : "shutting down");
		return;
	}
	if (exe[0] == '\0') {
		log_error("upgrade failed: the path of the running binary is unknown");
		STAT_INC(binary_upgrade_failures);
		return;
	}
	int off = snprintf(fds_var, sizeof(fds_var), "%s=", INHERIT_ENV);
	n = collect(fds_var + off, sizeof(fds_var) - (size_t)off, fds, INHERIT_MAX);
	if (pipe2(p, O_CLOEXEC) != 0) {
		log_error("upgrade failed: pipe: %s", strerror(errno));
		STAT_INC(binary_upgrade_failures);
		return;
	}
	snprintf(pipe_var, sizeof(pipe_var), "%s=%d", UPGRADE_FD_ENV, p[1]);
	if ((env = child_env(fds_var, pipe_var)) == NULL) {
		log_error("upgrade failed: out of memory");
		STAT_INC(binary_upgrade_failures);
		close(p[0]);
		close(p[1]);
		return;
	}
	static int keep[INHERIT_MAX + 1];
	size_t n_keep = n;
	memcpy(keep, fds, n * sizeof(*fds));
	keep[n_keep++] = p[1];
	qsort(keep, n_keep, sizeof(*keep), cmp_int);
	pid_t pid = fork();
	if (pid == 0) { /* the child: only async-signal-safe calls until exec */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (size_t i = 0; i < n; i++)
			fcntl(fds[i], F_SETFD, 0); /* these survive the exec */
		fcntl(p[1], F_SETFD, 0);
		close_others(keep, n_keep); /* a connection must not live on in the new process */
		execve(exe, argv_saved, env);
		_exit(127);
	}
	free(env);
	close(p[1]);
	if (pid < 0) {
		log_error("upgrade failed: fork: %s", strerror(errno));
		STAT_INC(binary_upgrade_failures);
		close(p[0]);
		return;
	}
	up.pid = pid;
	up.fd = p[0];
	up.handover = handover;
	evutil_make_socket_nonblocking(up.fd);
	up.ev_read = event_new(base, up.fd, EV_READ | EV_PERSIST, read_cb, NULL);
	up.ev_timer = evtimer_new(base, timeout_cb, NULL);
	if (up.ev_read == NULL || up.ev_timer == NULL) {
		up_failed("could not be watched (out of memory)", false, true);
		return;
	}
	event_add(up.ev_read, NULL);
	evtimer_add(up.ev_timer, &(struct timeval){.tv_sec = UPGRADE_TIMEOUT_MS / 1000});
	log_info("upgrade: started %s (pid %d) with %zu listening sockets; serving until it is "
	         "ready",
	         exe, (int)pid, n);
}

void upgrade_abort(void)
{
	if (up.fd >= 0) /* started, not ready */
		up_failed("was stopped: this one is shutting down", false, false);
}

void upgrade_deinit(void)
{
	up_end();
	if (ev_wait != NULL)
		event_free(ev_wait);
	ev_wait = NULL;
	if (ready_fd >= 0)
		close(ready_fd);
	ready_fd = -1;
}
