/* mangen: writes nodegate.ini(5) from the option table (src/conf.c conf_options[]), so that
 * the page can never drift from what nodegate accepts. Reads man/nodegate.ini.5.in on
 * stdin and replaces its @OPTIONS@ line with one subsection per section of the file.
 * Fails (exit 1) when an option has no help. `mangen --list` prints "SECTION NAME" per
 * option (tests/e2e/test_manpages.py compares the page with it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

/* The sections in the order of the file, with the paragraph that opens each. */
static const struct {
	const char *section, *header, *intro;
} sections[] = {
    {"nodegate", "[nodegate]",
     "The process: logging, state, privileges, shutdown, threads. Optional."},
    {"status", "[status]",
     "The status listener: the public status page, its JSON API, the admin API, /metrics "
     "and /healthz. Without this section there is no status listener."},
    {"store", "[store]",
     "Where the state lives: the embedded SQLite file of one nodegate, or a PostgreSQL "
     "server shared by a fleet of nodegates (incidents, admin states, subscribers, the "
     "sender lock). Optional."},
    {"postmortem", "[postmortem]",
     "Postmortem drafts of incidents (the admin API and nodegate postmortem ID). Optional."},
    {"subscriptions", "[subscriptions]",
     "Users subscribe on the status page to incident and maintenance news, by email (double "
     "opt-in) or webhook (verified by a challenge). Optional."},
    {"listener", "[listener NAME]",
     "One address clients connect to, and the pool that serves it. At least one."},
    {"pool", "[pool NAME]",
     "A set of backends and how requests are spread over them, with the health settings "
     "of its backends (the options marked per backend may be overridden in a [backend] "
     "section)."},
    {"backend", "[backend NAME]", "One node of a pool."},
    {"alert", "[alert NAME]",
     "An alert channel: a webhook, Slack, PagerDuty or email receiver of incident events."},
    {"hook", "[hook NAME]",
     "A remediation program run on an event, as nodegate's user, without a shell."},
    {"mirror", "[mirror NAME]",
     "A static copy of the status page (HTML, JSON, feeds) pushed to a folder, a WebDAV "
     "server or an S3 bucket on every public change and every interval."},
    {"escalation", "[escalation NAME]",
     "Who is told of an unacknowledged incident, and when: up to five tiers of alert "
     "channels."},
};

/* Writes S as roff text: backslashes escaped, hyphens as \-, a leading dot or quote
 * protected. */
static void roff(const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", stdout);
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else
			putchar(*s);
	}
}

/* A duration in ms or a size in bytes, in the largest unit that divides it. */
static void amount(enum conf_type t, uint64_t v, char *buf, size_t len)
{
	static const struct {
		uint64_t n;
		const char *u;
	} dur[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}},
	  size[] = {{1 << 30, "g"}, {1 << 20, "m"}, {1 << 10, "k"}, {1, ""}};
	const __typeof__(dur[0]) *u = t == CONF_DURATION ? dur : size;
	size_t n = t == CONF_DURATION ? 5 : 4;

	if (t != CONF_DURATION && t != CONF_SIZE) {
		snprintf(buf, len, "%llu", (unsigned long long)v);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (v == 0 || v % u[i].n == 0) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(v / u[i].n),
			         v == 0 ? "" : u[i].u);
			return;
		}
}

static const char *metavar(const struct conf_option *o, char *buf, size_t len)
{
	static const char *const by_type[CONF_TYPE_COUNT] = {
	    [CONF_STRING] = "TEXT",          [CONF_UINT] = "N",
	    [CONF_DURATION] = "DURATION",    [CONF_SIZE] = "SIZE",
	    [CONF_BOOL] = "yes|no",          [CONF_ADDR] = "HOST:PORT",
	    [CONF_BURST] = "COUNT/DURATION", [CONF_ENUM] = NULL,
	};
	size_t n = 0;

	if (o->metavar != NULL)
		return o->metavar;
	if (o->type != CONF_ENUM)
		return by_type[o->type];
	buf[0] = '\0';
	for (size_t i = 0; i < o->n_names && n + 1 < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i > 0 ? "|" : "", o->names[i]);
	return buf;
}

static void option(const struct conf_option *o)
{
	char mv[256], lo[32], hi[32];
	bool numeric = o->type == CONF_UINT || o->type == CONF_DURATION || o->type == CONF_SIZE;

	printf(".TP\n.BI \"%s = \" \"", o->name);
	roff(metavar(o, mv, sizeof(mv)));
	printf("\"\n");
	roff(o->help);
	printf(".\n.br\n");
	if (o->required)
		printf("Required.");
	else if (o->def != NULL && o->def[0] != '\0') {
		printf("Default: \\fB");
		roff(o->def);
		printf("\\fR.");
	} else
		printf("Unset by default.");
	if (numeric && o->max > 0) {
		amount(o->type, o->min, lo, sizeof(lo));
		amount(o->type, o->max, hi, sizeof(hi));
		printf(" Range: %s%s to %s.", o->or_zero ? "0, or " : "", lo, hi);
	}
	if (o->type == CONF_BURST) {
		amount(CONF_DURATION, o->min, lo, sizeof(lo));
		amount(CONF_DURATION, o->max, hi, sizeof(hi));
		printf(" Window: %s to %s.", lo, hi);
	}
	printf(" %s", o->reloadable ? "A reload applies it." : "A change needs a restart.");
	if (o->per_backend)
		printf(" May be overridden per backend.");
	if (o->test_only)
		printf(" For the tests only.");
	printf("\n");
}

static int options(void)
{
	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		printf(".SS %s\n", sections[s].header);
		roff(sections[s].intro);
		printf("\n");
		for (size_t i = 0; i < conf_n_options; i++) {
			const struct conf_option *o = &conf_options[i];

			if (strcmp(o->section, sections[s].section) == 0)
				option(o);
		}
	}
	return 0;
}

/* Every option has help and a section this page knows. */
static int check(void)
{
	int bad = 0;

	for (size_t i = 0; i < conf_n_options; i++) {
		const struct conf_option *o = &conf_options[i];
		bool known = false;

		for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++)
			known |= strcmp(o->section, sections[s].section) == 0;
		if (o->help == NULL || o->help[0] == '\0') {
			fprintf(stderr, "mangen: [%s] %s has no help in src/conf.c\n", o->section,
			        o->name);
			bad = 1;
		}
		if (!known) {
			fprintf(stderr, "mangen: section [%s] of %s is not in man/mangen.c\n",
			        o->section, o->name);
			bad = 1;
		}
	}
	return bad;
}

int main(int argc, char **argv)
{
	char line[4096];

	if (check() != 0)
		return 1;
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < conf_n_options; i++)
			printf("%s %s\n", conf_options[i].section, conf_options[i].name);
		return 0;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (strcmp(line, "@OPTIONS@\n") == 0)
			options();
		else
			fputs(line, stdout);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
