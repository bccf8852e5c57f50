/* The fleet's outbox: keys, records before the first try, confirmations, and the replay of
 * what a dead sender left pending, for every kind of message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ops/outbox.h"
#include "ops/sender.h"
#include "ops/store.h"

#define REPLAYERS_MAX 4

struct outbox_wait {
	outbox_go_fn go;
	void *arg;
	struct outbox_wait **owner; /* NULL once cancelled */
};

static struct {
	uint64_t seq;
	int64_t boot; /* Unix ms of the first key: this process's keys are unique */
	outbox_replay_fn replayers[REPLAYERS_MAX];
	size_t n_replayers;
} O;

bool outbox_wanted(void)
{
	return sender_fleet() && sender_ok();
}

static void committed(int rc, void *arg)
{
	struct outbox_wait *w = arg;

	if (rc < 0)
		log_debug("outbox: a record not committed yet: the message goes all the same");
	if (w->owner != NULL) {
		*w->owner = NULL;
		w->go(w->arg);
	}
	free(w);
}

void outbox_record(char *key, const struct outbox_row *row, outbox_go_fn go, void *arg,
                   struct outbox_wait **wait)
{
	struct outbox_wait *w = malloc(sizeof(*w));

	O.boot = O.boot != 0 ? O.boot : clock_wall();
	snprintf(key, OUTBOX_KEY_MAX, "%s:%lld:%llu", store_instance(), (long long)O.boot,
	         (unsigned long long)++O.seq);
	*wait = NULL;
	if (w == NULL) {
		key[0] = '\0'; /* not recorded: sent all the same */
		go(arg);
		return;
	}
	*w = (struct outbox_wait){go, arg, wait};
	*wait = w;
	store_put_outbox(key, row->channel, row->target, row->tag, row->body, clock_wall());
	store_barrier(committed, w);
}

void outbox_cancel(struct outbox_wait **wait)
{
	if (*wait != NULL)
		(*wait)->owner = NULL;
	*wait = NULL;
}

void outbox_done(const char *key, bool sent)
{
	if (key[0] != '\0')
		store_done_outbox(key, sent, clock_wall());
}

int outbox_on_replay(outbox_replay_fn fn)
{
	for (size_t i = 0; i < O.n_replayers; i++)
		if (O.replayers[i] == fn)
			return 0;
	if (O.n_replayers == REPLAYERS_MAX)
		return -1;
	O.replayers[O.n_replayers++] = fn;
	return 0;
}

int outbox_replay(const struct outbox_row *row)
{
	for (size_t i = 0; i < O.n_replayers; i++)
		if (O.replayers[i](row) == 0)
			return 0;
	log_warn("outbox: a message the last sender left pending (%s) is for %s, unknown here: "
	         "left pending",
	         row->key, row->channel);
	return -1;
}
