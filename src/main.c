/* nodegate: command line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "server.h"

#ifndef NODEGATE_VERSION
#define NODEGATE_VERSION "0.1.0"
#endif

static void usage(FILE *to)
{
	fprintf(to, "usage: nodegate [-t] -c FILE\n"
	            "       nodegate -V | -h\n"
	            "\n"
	            "  -c FILE  configuration file (INI; see etc/nodegate.ini)\n"
	            "  -t       check the configuration and exit (0: OK, 1: errors listed)\n"
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

int main(int argc, char **argv)
{
	const char *path = NULL;
	bool test = false;
	int opt;

	while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
		switch (opt) {
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
	return test ? check_only(path) : server_run(path);
}
