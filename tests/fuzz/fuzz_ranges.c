/* libFuzzer target for the complete_ledgers parser: any input either fails cleanly (an
 * empty set, a reason) or gives ascending, disjoint, non-adjacent ranges, each covered. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proxy/ranges.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[160];
	struct ranges set;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (ranges_parse(s, &set, err, sizeof(err)) != 0) {
		CHECK(set.n == 0);
		CHECK(strnlen(err, sizeof(err)) < sizeof(err));
	}
	CHECK(set.n <= RANGES_MAX);
	for (unsigned i = 0; i < set.n; i++) {
		CHECK(set.r[i].lo <= set.r[i].hi);
		CHECK(ranges_cover(&set, set.r[i].lo, set.r[i].hi));
		if (i > 0)
			CHECK(set.r[i - 1].hi < set.r[i].lo && set.r[i - 1].hi + 1 != set.r[i].lo);
	}
	free(s);
	return 0;
}
