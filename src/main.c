/* nodegate: command line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/alert.h"
#include "conf.h"
#include "log.h"
#include "server.h"

#ifndef NODEGATE_VERSION
#define NODEGATE_VERSION "0.1.0"
#endif

static void usage(FILE *to)
{
	fprintf(to, "usage: nodegate [-t] -c FILE\n"
	            "       nodegate --test-alert NAME -c FILE\n"
	            "       nodegate -V | -h\n"
	            "\n"
	            "  -c FILE  configuration file (INI; see etc/nodegate.ini)\n"
	            "  -t       check the configuration and exit (0: OK, 1: errors listed)\n"
	            "  --test-alert NAME\n"
	            "           send one test message through [alert NAME] and exit\n"
	            "           (0: delivered, 1: not, with the reason)\n"
	            "  -V       print the version and exit\n"
	            "  -h       print this help and exit\n"
	            "\n"
	            "signals: SIGHUP reloads the file (a bad file keeps the running one),\n"
	            "         SIGTERM/SIGINT stop accepting and exit once requests finish.\n");
}

/* -t: every error, or "configuration OK". */
static int check_only(const char *path)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;

	if (conf_load(path, &c, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		if (errs.dropped > 0)
			fprintf(stderr, "... and %zu more errors\n", errs.dropped);
		fprintf(stderr, "configuration has %zu error%s\n", errs.n + errs.dropped,
		        errs.n + errs.dropped == 1 ? "" : "s");
		conf_errors_deinit(&errs);
		return 1;
	}
	printf("configuration OK\n");
	conf_free(c);
	return 0;
}

/* --test-alert NAME: one test message through one channel, its outcome on stdout. */
static int test_alert(const char *path, const char *name)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;
	char out[512];
	int rc;

	if (conf_load(path, &c, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		conf_errors_deinit(&errs);
		return 1;
	}
	log_level_current = c->global.log_level;
	rc = alert_send_test(c, name, out, sizeof(out));
	fprintf(rc == 0 ? stdout : stderr, "%s\n", out);
	conf_free(c);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"test-alert", required_argument, NULL, 'A'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL, *alert = NULL;
	bool test = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'A':
			alert = optarg;
			break;
		case 'c':
			path = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'V':
			printf("nodegate %s\n", NODEGATE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (alert != NULL)
		return test_alert(path, alert);
	return test ? check_only(path) : server_run(path);
}
