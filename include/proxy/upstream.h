/* Connections to backends: opening them (TCP or TLS, with a connect timeout), and a
 * per-backend pool of idle keep-alive connections, bounded by max_idle and idle_timeout. */
#pragma once
#include <stdbool.h>
#include <sys/queue.h>

#include "proxy/backend.h"
#include "proxy/conn.h"

struct upconn {
	struct conn *c;
	struct backend *b;        /* holds a reference */
	bool reused;              /* taken from the idle pool (not freshly connected) */
	unsigned worker;          /* whose loop it runs on (its idle list: b->local[worker]) */
	TAILQ_ENTRY(upconn) link; /* in b->local[worker].idle while idle */
};

/* Takes an idle connection of B (when REUSE: HTTP requests; a TCP relay wants its own), or
 * starts connecting a new one. The caller sets its own
 * callbacks on u->c right away; a new connection reports BEV_EVENT_CONNECTED (after the
 * TLS handshake for TLS backends) or an error/timeout event. NULL when no socket could be
 * created (*KIND and err say why). */
struct upconn *upstream_get(struct event_base *base, struct backend *b, uint64_t connect_timeout,
                            bool reuse, enum conn_error *kind, char *err, size_t errlen);
/* Gives U back. KEEP: the connection is clean (response complete, keep-alive) and goes to
 * the idle pool when there is room; otherwise it is closed. */
void upstream_release(struct upconn *u, bool keep, const struct conf_pool *pc);
/* Closes every idle connection of B, every worker's (reload removed it, with the workers
 * isolated; or shutdown). */
void upstream_close_idle(struct backend *b);
