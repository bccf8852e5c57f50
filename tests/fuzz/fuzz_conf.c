/* libFuzzer target for the configuration parser: the input is written to a file and loaded
 * the way nodegate loads its config; errors and successes must both free cleanly. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64]; /* one file per fuzzing process, rewritten for every input */

static void remove_file(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_errors errs;
	struct conf *c = NULL;
	int fd;

	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "/tmp/fuzz_conf-XXXXXX");
		fd = mkstemp(path);
		atexit(remove_file);
	} else {
		fd = open(path, O_WRONLY | O_TRUNC);
	}
	if (fd < 0)
		abort();
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (conf_load(path, &c, &errs) == 0) {
		if (c == NULL || errs.n != 0)
			abort();
		conf_free(c);
	} else {
		if (c != NULL || (errs.n == 0 && errs.dropped == 0))
			abort();
	}
	conf_errors_deinit(&errs);
	return 0;
}
