/* A re-read of the fleet's subscribers merged with this instance's own changes made since
 * the read was asked for, pure (no I/O, no globals): the change log (changes counted, ids
 * dropped while a read is on its way, at most SUBMERGE_GONE_MAX) and the merge over arrays
 * of rows. subs.c keeps the list and the log and runs them. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "ops/store.h"
#include "ops/subrule.h"

#define SUBMERGE_GONE_MAX 64 /* ids dropped here while a read is queued, remembered */

/* A subscriber as this instance keeps it. */
struct submerge_sub {
	struct store_subscriber row;
	char tag[SUBRULE_TAG_HEX + 1]; /* what the log says for its address */
	uint64_t seq;                  /* the log's seq of its last change here (0: as read) */
};

/* This instance's own changes against a read queued before them. */
struct submerge_log {
	uint64_t seq;                    /* changes made here, counted */
	uint64_t asked;                  /* seq when the queued read was asked for */
	int64_t gone[SUBMERGE_GONE_MAX]; /* ids dropped here since */
	size_t n_gone;                   /* more than SUBMERGE_GONE_MAX: the read is not used */
};

/* A read is asked for now: changes from here on are newer than it. */
void submerge_ask(struct submerge_log *log);
/* A row changed here: its seq (struct submerge_sub.seq). */
uint64_t submerge_changed(struct submerge_log *log);
/* ID dropped here; READING: a read is queued (it may still hold the row). */
void submerge_dropped(struct submerge_log *log, int64_t id, bool reading);

enum submerge_result {
	SUBMERGE_NOMEM = -1, /* out of memory: the list is unchanged */
	SUBMERGE_OK = 0,     /* the list is the merge */
	SUBMERGE_AGAIN = 1,  /* too many dropped here since: the read is not used, read again */
};
/* The fleet's subscribers as stored (ROWS, N_ROWS) merged into the list (*V, *N, *CAP; *V
 * from malloc, replaced and freed on SUBMERGE_OK): the read was queued after this instance's
 * earlier changes were (it sees them), but its changes made since (seq > LOG->asked: a
 * pending row, a challenge echoed or failed, a confirmation, a drop) are newer than it:
 * those rows stay as they are here, and what was dropped here since stays dropped. Every
 * other row is the store's (another instance took, confirmed or ended it). *NEXT_ID is
 * raised past the merged list's ids (never lowered). */
enum submerge_result submerge(struct submerge_sub **v, size_t *n, size_t *cap, int64_t *next_id,
                              const struct store_subscriber *rows, size_t n_rows,
                              const struct submerge_log *log) WUR;
