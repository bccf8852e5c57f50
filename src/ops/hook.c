/* Remediation hooks: the decisions (pure), then the runner: events come from the bus on the
 * next loop turn, after incidents and alerts saw them (the incident they open is there by
 * then), and incidents' changes on the round after; a run is a posix_spawn'd
 * process group watched through a pidfd, its output read without blocking, its timeout a
 * timer (SIGTERM, then SIGKILL). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/queue.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "clock.h"
#include "bus.h"
#include "ops/hook.h"
#include "ops/incident.h"
#include "ops/status.h"
#include "log.h"
#include "metrics.h"
#include "health/monitor.h"
#include "registry.h"

#define KILL_AFTER_MS 1000 /* SIGKILL this long after the timeout's SIGTERM */
#define NAME_LEN      65   /* conf names are at most 64 bytes */
#define HOOK_PATH     "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
#define READS_PER_CB  16 /* reads of a chatty run's output per loop turn */

const char *const hook_result_names[HOOK_RESULT_COUNT] = {
    [HOOK_OK] = "ok",
    [HOOK_FAILED] = "failed",
    [HOOK_TIMEOUT] = "timeout",
    [HOOK_SKIPPED] = "skipped",
};

const char *const hook_verdict_names[HV_COUNT] = {
    [HV_RUN] = "run",         [HV_NOT_ON] = "not_on", [HV_IN_GRACE] = "in_grace",
    [HV_RUNNING] = "running", [HV_RECENT] = "recent", [HV_CONCURRENT] = "concurrent",
};

/* ---- the decisions ------------------------------------------------------------------------ */

/* Whether NAME is an item of LIST ("a,b,c": conf_load took the blanks out); NULL holds all. */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	if (list == NULL)
		return true;
	for (const char *p = list; p != NULL; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

enum hook_verdict hook_decide(const struct conf_hook *h, const struct hook_facts *f, uint64_t now)
{
	if (f->event >= NOTIFY_COUNT || !(h->on_mask & 1u << f->event) ||
	    !listed(h->pools, f->pool))
		return HV_NOT_ON;
	if (f->backend != NULL) {
		if (!listed(h->backends, f->backend))
			return HV_NOT_ON;
		if (f->syncing && now < f->grace_until && f->event != NOTIFY_GRACE_EXPIRED)
			return HV_IN_GRACE;
		if (f->ran && f->running_for)
			return HV_RUNNING;
		if (f->ran && now >= f->last_end && now - f->last_end < f->sync_grace)
			return HV_RECENT;
	}
	return f->running >= h->max_concurrent ? HV_CONCURRENT : HV_RUN;
}

/* A configured duration as written: "15m", "2s", "300ms". */
static const char *fmt_conf_ms(char *buf, size_t len, uint64_t ms)
{
	static const struct {
		uint64_t ms;
		const char *unit;
	} units[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}};

	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (ms >= units[i].ms && ms % units[i].ms == 0) {
			snprintf(buf, len, "%" PRIu64 "%s", ms / units[i].ms, units[i].unit);
			return buf;
		}
	snprintf(buf, len, "%" PRIu64 "ms", ms);
	return buf;
}

/* An elapsed time: "1.2s". */
static const char *fmt_ago(char *buf, size_t len, uint64_t from, uint64_t now)
{
	snprintf(buf, len, "%.1fs", (double)(now > from ? now - from : 0) / 1000.0);
	return buf;
}

void hook_skip_text(enum hook_verdict v, const struct conf_hook *h, const struct hook_facts *f,
                    uint64_t now, char *buf, size_t len)
{
	char a[32], b[32], g[32];

	fmt_conf_ms(g, sizeof(g), f->sync_grace);
	switch (v) {
	case HV_IN_GRACE:
		snprintf(buf, len, "skipped: inside its sync grace (%s left)",
		         fmt_ago(a, sizeof(a), now, f->grace_until));
		break;
	case HV_RUNNING:
		snprintf(buf, len,
		         "skipped: its run started %s ago is still going (then sync_grace %s)",
		         fmt_ago(a, sizeof(a), f->last_start, now), g);
		break;
	case HV_RECENT:
		snprintf(buf, len, "skipped: ran %s ago, ended %s ago, within sync_grace %s",
		         fmt_ago(a, sizeof(a), f->last_start, now),
		         fmt_ago(b, sizeof(b), f->last_end, now), g);
		break;
	case HV_CONCURRENT:
		snprintf(buf, len, "skipped: %" PRIu64 " run%s going, max_concurrent %" PRIu64,
		         f->running, f->running == 1 ? "" : "s", h->max_concurrent);
		break;
	default:
		snprintf(buf, len, "skipped: %s", hook_verdict_names[v < HV_COUNT ? v : HV_NOT_ON]);
		break;
	}
}

void hook_output_feed(struct hook_output *o, const char *data, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (o->lines >= HOOK_OUT_LINES || o->len >= HOOK_OUT_BYTES) {
			o->dropped += n - i;
			break;
		}
		o->text[o->len++] = data[i];
		o->lines += data[i] == '\n';
	}
	o->text[o->len] = '\0';
}

/* Appends the line [S, S + N) to BUF (at *AT, capacity LEN), tidied; false when blank. */
static bool summary_line(char *buf, size_t len, size_t *at, const char *s, size_t n)
{
	while (n > 0 && (unsigned char)s[n - 1] <= ' ')
		n--;
	while (n > 0 && (unsigned char)*s <= ' ') {
		s++;
		n--;
	}
	if (n == 0)
		return false;
	if (*at > 0 && *at + 3 < len) {
		memcpy(buf + *at, " | ", 3);
		*at += 3;
	}
	for (size_t i = 0; i < n && *at + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[(*at)++] = c < ' ' || c == 0x7f ? ' ' : (char)c;
	}
	buf[*at] = '\0';
	return true;
}

void hook_output_summary(const struct hook_output *o, char *buf, size_t len)
{
	size_t at = 0, start = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i <= o->len; i++)
		if (i == o->len || o->text[i] == '\n') {
			summary_line(buf, len, &at, o->text + start, i - start);
			start = i + 1;
		}
	if (o->dropped > 0 && at < len)
		snprintf(buf + at, len - at, "%s(+%" PRIu64 " bytes)", at > 0 ? " " : "",
		         o->dropped);
}

/* ---- hooks at run time ------------------------------------------------------------------- */

/* One hook's last run for one backend. */
struct mark {
	char backend[NAME_LEN];
	bool ran; /* a run started (one that could not start does not count) */
	bool running;
	uint64_t started, ended; /* monotonic ms */
};

struct hook {
	struct conf_hook conf; /* own copy: name, pools and backends owned; on, command unset */
	char **argv;           /* the command split (one allocation) */
	bool active;           /* in the running configuration */
	uint64_t running;      /* runs going */
	struct mark *marks;
	size_t n_marks;
	uint64_t results[HOOK_RESULT_COUNT];
};

/* An event, as hooks see it. */
struct trigger {
	enum notify_event event;
	char pool[NAME_LEN];
	char backend[NAME_LEN]; /* "" for incident events */
	char reason[INCIDENT_TEXT_MAX];
	int64_t incident; /* incident events: its id; backend events: 0, looked up when handled */
};

struct run {
	LIST_ENTRY(run) link;
	struct hook *hook;
	struct trigger t;
	int64_t incident; /* where the outcome goes (0: the log only) */
	pid_t pid;
	int pidfd, outfd;
	struct event *ev_exit, *ev_out, *ev_kill;
	uint64_t started;
	uint64_t timeout; /* the hook's when the run started (a reload may change it) */
	int kill_stage;   /* 0 none; 1 SIGTERM sent for the timeout; 2 SIGKILL sent too */
	struct hook_output out;
};

static struct event_base *base;
static struct hook **hooks; /* every hook configured since the start */
static size_t n_hooks;
static LIST_HEAD(, run) runs = LIST_HEAD_INITIALIZER(runs);

/* The one outcome line: logged, counted, and in the incident's timeline when there is one. */
static void outcome(struct hook *h, const struct trigger *t, int64_t incident, enum hook_result res,
                    const char *what)
{
	char line[INCIDENT_TEXT_MAX];

	snprintf(line, sizeof(line), "hook %s (%s %s, %s): %s", h->conf.name,
	         t->backend[0] ? "backend" : "pool", t->backend[0] ? t->backend : t->pool,
	         notify_event_names[t->event], what);
	log_at(res == HOOK_OK || res == HOOK_SKIPPED ? LOGL_INFO : LOGL_WARN, "%s", line);
	h->results[res]++;
	if (incident == 0 && t->backend[0])
		incident = incident_open_id(t->pool);
	if (incident != 0 && incident_add_line(incident, ENTRY_ACTION, line, clock_wall()) != 0)
		log_debug("hook %s: incident %lld is gone", h->conf.name, (long long)incident);
}

static struct mark *mark_of(struct hook *h, const char *backend, bool create)
{
	struct mark *m;

	for (size_t i = 0; i < h->n_marks; i++)
		if (strcmp(h->marks[i].backend, backend) == 0)
			return &h->marks[i];
	if (!create || (m = realloc(h->marks, (h->n_marks + 1) * sizeof(*m))) == NULL)
		return NULL;
	h->marks = m;
	m = &h->marks[h->n_marks++];
	memset(m, 0, sizeof(*m));
	snprintf(m->backend, sizeof(m->backend), "%s", backend);
	return m;
}

/* What hook_decide needs about T for H, from the running state. */
static void facts_of(struct hook *h, const struct trigger *t, const struct backend *b,
                     struct hook_facts *f)
{
	const struct mark *m = t->backend[0] ? mark_of(h, t->backend, false) : NULL;

	memset(f, 0, sizeof(*f));
	f->event = t->event;
	f->pool = t->pool;
	f->backend = t->backend[0] ? t->backend : NULL;
	f->running = h->running;
	if (b != NULL) {
		f->syncing =
		    b->node->health.state == HS_SYNCING && !b->node->health.grace_expired_sent;
		f->grace_until = b->node->health.grace_until;
		f->sync_grace = b->conf.health.sync_grace;
	}
	if (m != NULL && m->ran) {
		f->ran = true;
		f->running_for = m->running;
		f->last_start = m->started;
		f->last_end = m->ended;
	}
}

/* ---- a run ---------------------------------------------------------------------------------- */

static void run_free(struct run *r)
{
	LIST_REMOVE(r, link);
	if (r->ev_exit != NULL)
		event_free(r->ev_exit);
	if (r->ev_out != NULL)
		event_free(r->ev_out);
	if (r->ev_kill != NULL)
		event_free(r->ev_kill);
	if (r->pidfd >= 0)
		close(r->pidfd);
	if (r->outfd >= 0)
		close(r->outfd);
	free(r);
}

static void out_close(struct run *r)
{
	if (r->ev_out != NULL)
		event_free(r->ev_out);
	r->ev_out = NULL;
	if (r->outfd >= 0)
		close(r->outfd);
	r->outfd = -1;
}

/* Reads what the run wrote, at most MAX_READS times; closes at the end of the output. */
static void out_read(struct run *r, int max_reads)
{
	char buf[4096];

	for (int i = 0; i < max_reads && r->outfd >= 0; i++) {
		ssize_t n = read(r->outfd, buf, sizeof(buf));

		if (n > 0) {
			hook_output_feed(&r->out, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || errno != EAGAIN)
			out_close(r);
		return;
	}
}

static void out_cb(evutil_socket_t fd, short what, void *arg)
{
	out_read(arg, READS_PER_CB);
}

/* Group first: what the hook started goes too; the leader alone if it left its group. */
static void kill_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) < 0)
		kill(pid, sig);
}

static void kill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	char t[32];
	struct timeval tv = {.tv_sec = KILL_AFTER_MS / 1000,
	                     .tv_usec = (KILL_AFTER_MS % 1000) * 1000};

	if (r->kill_stage == 0) {
		log_warn("hook %s (pid %d): timeout %s: SIGTERM", r->hook->conf.name, (int)r->pid,
		         fmt_conf_ms(t, sizeof(t), r->timeout));
		kill_group(r->pid, SIGTERM);
		r->kill_stage = 1;
		evtimer_add(r->ev_kill, &tv);
		return;
	}
	log_warn("hook %s (pid %d): still there %dms after SIGTERM: SIGKILL", r->hook->conf.name,
	         (int)r->pid, KILL_AFTER_MS);
	kill_group(r->pid, SIGKILL);
	r->kill_stage = 2;
}

/* What ended the run, from its wait status; its result. */
static enum hook_result describe_exit(const struct run *r, int status, uint64_t now, char *buf,
                                      size_t len)
{
	char took[32], t[32];

	fmt_ago(took, sizeof(took), r->started, now);
	if (r->kill_stage > 0) {
		snprintf(buf, len, "killed after timeout %s%s",
		         fmt_conf_ms(t, sizeof(t), r->timeout),
		         r->kill_stage > 1 ? " (SIGTERM ignored: SIGKILL)" : "");
		return HOOK_TIMEOUT;
	}
	if (WIFEXITED(status)) {
		snprintf(buf, len, "exit %d after %s", WEXITSTATUS(status), took);
		return WEXITSTATUS(status) == 0 ? HOOK_OK : HOOK_FAILED;
	}
	snprintf(buf, len, "killed by signal %d (%s) after %s", WTERMSIG(status),
	         strsignal(WTERMSIG(status)), took);
	return HOOK_FAILED;
}

/* Appends to the string in BUF (capacity LEN), cut to fit. */
static void appendf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t len, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
}

/* The run is over (STATUS from waitpid): its outcome, then it goes. */
static void run_done(struct run *r, int status, const char *extra)
{
	char what[INCIDENT_TEXT_MAX], out[INCIDENT_TEXT_MAX];
	uint64_t now = clock_now();
	enum hook_result res;
	struct mark *m = r->t.backend[0] ? mark_of(r->hook, r->t.backend, false) : NULL;

	out_read(r, READS_PER_CB);
	res = describe_exit(r, status, now, what, sizeof(what));
	if (extra != NULL)
		appendf(what, sizeof(what), " (%s)", extra);
	hook_output_summary(&r->out, out, sizeof(out));
	if (out[0] != '\0')
		appendf(what, sizeof(what), ": %s", out);
	if (extra != NULL)
		res = HOOK_FAILED;
	if (m != NULL) {
		m->running = false;
		m->ended = now;
	}
	r->hook->running--;
	outcome(r->hook, &r->t, r->incident, res, what);
	run_free(r);
}

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	int status = 0;
	pid_t got;

	/* the leader is a zombie until reaped: its group id cannot be reused yet */
	if (r->kill_stage > 0)
		kill(-r->pid, SIGKILL);
	do
		got = waitpid(r->pid, &status, WNOHANG);
	while (got < 0 && errno == EINTR);
	if (got == 0) { /* not yet (cannot happen with a readable pidfd): wait again */
		event_add(r->ev_exit, NULL);
		return;
	}
	run_done(r, status, NULL);
}

/* The run's environment: PATH and the event, nothing of nodegate's own. */
static void run_env(const struct run *r, const char *address, char store[][INCIDENT_TEXT_MAX + 32],
                    char **envp)
{
	size_t i = 0;

	snprintf(store[i], sizeof(store[i]), "%s", HOOK_PATH);
	envp[i] = store[i], i++;
	snprintf(store[i], sizeof(store[i]), "NODEGATE_HOOK=%s", r->hook->conf.name);
	envp[i] = store[i], i++;
	snprintf(store[i], sizeof(store[i]), "NODEGATE_EVENT=%s", notify_event_names[r->t.event]);
	envp[i] = store[i], i++;
	snprintf(store[i], sizeof(store[i]), "NODEGATE_BACKEND=%s", r->t.backend);
	envp[i] = store[i], i++;
	snprintf(store[i], sizeof(store[i]), "NODEGATE_POOL=%s", r->t.pool);
	envp[i] = store[i], i++;
	snprintf(store[i], sizeof(store[i]), "NODEGATE_ADDRESS=%s", address);
	envp[i] = store[i], i++;
	snprintf(store[i], sizeof(store[i]), "NODEGATE_REASON=%s", r->t.reason);
	envp[i] = store[i], i++;
	if (r->incident != 0)
		snprintf(store[i], sizeof(store[i]), "NODEGATE_INCIDENT=%lld",
		         (long long)r->incident);
	else
		snprintf(store[i], sizeof(store[i]), "NODEGATE_INCIDENT=");
	envp[i] = store[i], i++;
	envp[i] = NULL;
}

#define RUN_ENV_MAX 9 /* run_env's variables, and the NULL */

/* Starts the program: its own process group, stdin /dev/null, stdout and stderr into the
 * pipe OUT, no other descriptor, default signal dispositions. 0 or an errno. */
static int spawn(struct run *r, int out, char **envp)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, def;
	int rc;

	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE); /* nodegate ignores it; the program must not inherit that */
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		return rc;
	if ((rc = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = rc ? rc : posix_spawn_file_actions_adddup2(&fa, out, 1);
	rc = rc ? rc : posix_spawn_file_actions_adddup2(&fa, out, 2);
	rc = rc ? rc : posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	rc = rc ? rc
	        : posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                                              POSIX_SPAWN_SETSIGDEF);
	rc = rc ? rc : posix_spawnattr_setpgroup(&attr, 0);
	rc = rc ? rc : posix_spawnattr_setsigmask(&attr, &none);
	rc = rc ? rc : posix_spawnattr_setsigdefault(&attr, &def);
	rc = rc ? rc : posix_spawn(&r->pid, r->hook->argv[0], &fa, &attr, r->hook->argv, envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* The process is there: watch its exit, its output and its timeout. 0 or an errno. */
static int run_watch(struct run *r)
{
	struct timeval tv = {.tv_sec = (time_t)(r->timeout / 1000),
	                     .tv_usec = (suseconds_t)(r->timeout % 1000) * 1000};

	r->pidfd = pidfd_open(r->pid, 0);
	if (r->pidfd < 0)
		return errno;
	r->ev_exit = event_new(base, r->pidfd, EV_READ, exit_cb, r);
	r->ev_out = event_new(base, r->outfd, EV_READ | EV_PERSIST, out_cb, r);
	r->ev_kill = evtimer_new(base, kill_cb, r);
	if (r->ev_exit == NULL || r->ev_out == NULL || r->ev_kill == NULL ||
	    event_add(r->ev_exit, NULL) < 0 || event_add(r->ev_out, NULL) < 0 ||
	    evtimer_add(r->ev_kill, &tv) < 0)
		return ENOMEM;
	return 0;
}

/* A run of H for T, in the list; NULL when out of memory. */
static struct run *run_new(struct hook *h, const struct trigger *t, int64_t incident)
{
	struct run *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->hook = h;
	r->t = *t;
	r->incident = incident;
	r->pidfd = r->outfd = -1;
	r->started = clock_now();
	r->timeout = h->conf.timeout;
	LIST_INSERT_HEAD(&runs, r, link);
	return r;
}

/* The output pipe and the process. 0 or an errno. */
static int run_spawn(struct run *r, const char *address)
{
	char store[RUN_ENV_MAX][INCIDENT_TEXT_MAX + 32], *envp[RUN_ENV_MAX];
	int fds[2], rc;

	run_env(r, address, store, envp);
	if (pipe2(fds, O_CLOEXEC) < 0)
		return errno;
	r->outfd = fds[0];
	rc = fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0 ? errno : spawn(r, fds[1], envp);
	close(fds[1]);
	return rc;
}

/* Runs H for T (ADDRESS: the backend's, "" for incident events); a run that cannot start
 * is a failed outcome, and does not count as the backend's last run. */
static void run_start(struct hook *h, const struct trigger *t, const char *address,
                      int64_t incident)
{
	char what[INCIDENT_TEXT_MAX];
	struct run *r = run_new(h, t, incident);
	struct mark *m = t->backend[0] ? mark_of(h, t->backend, true) : NULL;
	int rc;

	if (r == NULL || (t->backend[0] && m == NULL)) {
		if (r != NULL)
			run_free(r);
		outcome(h, t, incident, HOOK_FAILED, "failed: out of memory");
		return;
	}
	if ((rc = run_spawn(r, address)) != 0) {
		snprintf(what, sizeof(what), "failed: cannot run %s: %s", h->argv[0], strerror(rc));
		outcome(h, t, incident, HOOK_FAILED, what);
		run_free(r);
		return;
	}
	h->running++;
	if (m != NULL) {
		m->ran = m->running = true;
		m->started = r->started;
	}
	log_info("hook %s (%s %s, %s): started, pid %d", h->conf.name,
	         t->backend[0] ? "backend" : "pool", t->backend[0] ? t->backend : t->pool,
	         notify_event_names[t->event], (int)r->pid);
	if ((rc = run_watch(r)) != 0) {
		int status = 0;

		kill_group(r->pid, SIGKILL);
		while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
			;
		snprintf(what, sizeof(what), "cannot watch it: %s", strerror(rc));
		run_done(r, status, what);
	}
}

/* ---- events --------------------------------------------------------------------------------- */

/* T for every active hook: run, skip (and say why), or nothing when it is not for it. */
static void handle(const struct trigger *t)
{
	struct backend *b = t->backend[0] ? registry_backend(t->backend) : NULL;
	int64_t incident = t->incident != 0 ? t->incident : incident_open_id(t->pool);
	char address[300] = "", why[INCIDENT_TEXT_MAX];
	uint64_t now = clock_now();

	if (b != NULL)
		conf_addr_format(&b->conf.address, address, sizeof(address));
	for (size_t i = 0; i < n_hooks; i++) {
		struct hook *h = hooks[i];
		struct hook_facts f;
		enum hook_verdict v;

		if (!h->active)
			continue;
		facts_of(h, t, b, &f);
		v = hook_decide(&h->conf, &f, now);
		if (v == HV_RUN) {
			run_start(h, t, address, incident);
		} else if (v != HV_NOT_ON) {
			hook_skip_text(v, &h->conf, &f, now, why, sizeof(why));
			outcome(h, t, incident, HOOK_SKIPPED, why);
		}
	}
}

/* A round of the bus (BUS_PHASE_HOOKS): a health event after incidents judged it (the
 * incident it opens is there to take the outcome), or an incident's change. */
static void on_bus(const struct bus_event *ev, void *arg)
{
	struct trigger t = {.event =
	                        ev->topic == BUS_INCIDENT ? ev->change : bus_notify_event(&ev->he),
	                    .incident = ev->topic == BUS_INCIDENT ? ev->incident : 0};

	if (t.event >= NOTIFY_COUNT || n_hooks == 0)
		return;
	snprintf(t.pool, sizeof(t.pool), "%s", ev->pool);
	snprintf(t.backend, sizeof(t.backend), "%s", ev->topic == BUS_HEALTH ? ev->backend : "");
	snprintf(t.reason, sizeof(t.reason), "%s",
	         ev->topic == BUS_INCIDENT ? ev->text : ev->he.reason);
	handle(&t);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void hook_metrics(struct metrics_out *o);

int hook_init(struct event_base *b)
{
	base = b;
	if (bus_subscribe_deferred(base, BUS_PHASE_HOOKS, on_bus, NULL, NULL) < 0 ||
	    status_metrics(hook_metrics) < 0) {
		hook_deinit();
		return -1;
	}
	return 0;
}

static struct hook *hook_named(const char *name)
{
	for (size_t i = 0; i < n_hooks; i++)
		if (strcmp(hooks[i]->conf.name, name) == 0)
			return hooks[i];
	return NULL;
}

/* H takes CH's settings (a new hook when H is NULL); NULL when out of memory. */
static struct hook *hook_set(struct hook *h, const struct conf_hook *ch)
{
	struct hook *n = h != NULL ? h : calloc(1, sizeof(*n));
	char err[256], **argv = conf_split_command(ch->command, err, sizeof(err));
	char *name = strdup(ch->name), *pools = dup_or_null(ch->pools);
	char *backends = dup_or_null(ch->backends);

	if (n == NULL || argv == NULL || name == NULL || (ch->pools && pools == NULL) ||
	    (ch->backends && backends == NULL)) {
		if (h == NULL)
			free(n);
		free(argv), free(name), free(pools), free(backends);
		return NULL;
	}
	free(n->argv), free(n->conf.name), free(n->conf.pools), free(n->conf.backends);
	n->conf = *ch;
	n->conf.name = name;
	n->conf.pools = pools;
	n->conf.backends = backends;
	n->conf.on = n->conf.command = NULL;
	n->argv = argv;
	n->active = true;
	return n;
}

/* Adds an empty slot at the end of the hook list; -1 when out of memory. */
static int hooks_grow(void)
{
	struct hook **grown = realloc(hooks, (n_hooks + 1) * sizeof(*hooks));

	if (grown == NULL)
		return -1;
	hooks = grown;
	return 0;
}

void hook_apply(const struct conf *c)
{
	for (size_t i = 0; i < n_hooks; i++)
		hooks[i]->active = false;
	for (size_t i = 0; i < c->n_hooks; i++) {
		struct hook *old = hook_named(c->hooks[i].name), *h = NULL;

		if (old != NULL || hooks_grow() == 0)
			h = hook_set(old, &c->hooks[i]);
		if (h == NULL) {
			log_error("hook %s: out of memory: %s", c->hooks[i].name,
			          old != NULL ? "keeping its previous settings" : "not configured");
			if (old != NULL)
				old->active = true;
			continue;
		}
		if (old == NULL)
			hooks[n_hooks++] = h;
	}
}

/* Shutdown: SIGTERM to every run, then up to KILL_AFTER_MS for them to go, then SIGKILL. */
static void stop_runs(void)
{
	struct run *r, *next;
	uint64_t until = clock_now() + KILL_AFTER_MS;
	int status;

	LIST_FOREACH(r, &runs, link)
	kill_group(r->pid, SIGTERM);
	while (!LIST_EMPTY(&runs)) {
		bool late = clock_now() >= until;

		for (r = LIST_FIRST(&runs); r != NULL; r = next) {
			next = LIST_NEXT(r, link);
			if (late)
				kill_group(r->pid, SIGKILL);
			if (waitpid(r->pid, &status, late ? 0 : WNOHANG) == r->pid)
				run_done(r, status, "stopped by shutdown");
		}
		if (!LIST_EMPTY(&runs))
			nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
	}
}

void hook_deinit(void)
{
	stop_runs();
	for (size_t i = 0; i < n_hooks; i++) {
		free(hooks[i]->argv);
		free(hooks[i]->conf.name);
		free(hooks[i]->conf.pools);
		free(hooks[i]->conf.backends);
		free(hooks[i]->marks);
		free(hooks[i]);
	}
	free(hooks);
	hooks = NULL;
	n_hooks = 0;
}

/* nodegate_hooks_total{hook,result} for every hook configured since the start (a
 * status_metrics writer). */
static void hook_metrics(struct metrics_out *o)
{
	metrics_outf(o, "# HELP nodegate_hooks_total remediation hook runs by result: ok, failed "
	                "(exit status not 0, a signal, or not started), timeout (killed past its "
	                "timeout), skipped (sync grace, a recent run, max_concurrent)\n"
	                "# TYPE nodegate_hooks_total counter\n");
	for (size_t i = 0; i < n_hooks; i++)
		for (int res = 0; res < HOOK_RESULT_COUNT; res++) {
			metrics_outf(o, "nodegate_hooks_total{hook=\"");
			metrics_out_label(o, hooks[i]->conf.name);
			metrics_outf(o, "\",result=\"%s\"} %" PRIu64 "\n", hook_result_names[res],
			             hooks[i]->results[res]);
		}
}
