/* Sets of ledger sequences, as rippled reports what it holds in complete_ledgers
 * ("32570-62000000,62000010-62000100", "5", "empty"), and whether a set covers a span:
 * history-aware routing reads them. Pure logic, bounded size, no allocation. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RANGES_MAX 32 /* ranges kept per set; past it the lowest are left out */

struct ledger_range {
	uint32_t lo, hi; /* inclusive, lo <= hi */
};

struct ranges {
	unsigned n;       /* ranges in r: ascending, disjoint, never adjacent */
	unsigned dropped; /* ranges left out past RANGES_MAX (the lowest) */
	struct ledger_range r[RANGES_MAX];
};

/* Parses S, a comma-separated list of "N" or "A-B" (decimal, at most 4294967295, A <= B, no
 * spaces), or "empty". Items may come in any order and overlap: they are merged. When more
 * than RANGES_MAX ranges remain, the highest are kept (recent ledgers are what most requests
 * ask for) and DROPPED counts the others: a set never claims a ledger S does not list, it
 * may only claim fewer. Returns 0; or -1, SET empty and ERR filled when S is malformed. */
int ranges_parse(const char *s, struct ranges *set, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Whether every ledger from LO to HI (inclusive) is in SET. False when LO > HI. */
bool ranges_cover(const struct ranges *set, uint32_t lo, uint32_t hi);
