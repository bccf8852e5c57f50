/* Backend connections: connect (TCP or TLS) and the idle keep-alive pool. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "fdlimit.h"
#include "log.h"
#include "stats.h"
#include "proxy/tls.h"
#include "proxy/upstream.h"
#include "proxy/worker.h"

static void upconn_free(struct upconn *u)
{
	conn_free(u->c);
	__atomic_sub_fetch(&u->b->conns, 1, __ATOMIC_RELAXED);
	backend_unref(u->b);
	free(u);
}

static void idle_unlink(struct upconn *u)
{
	struct backend_local *bl = &u->b->local[u->worker];

	TAILQ_REMOVE(&bl->idle, u, link);
	__atomic_store_n(&bl->n_idle, bl->n_idle - 1, __ATOMIC_RELAXED);
}

/* An idle connection must stay silent: data, EOF, error or the idle timeout close it. */
static void idle_event_cb(struct conn *c, short what, enum conn_error err, void *arg)
{
	struct upconn *u = arg;

	idle_unlink(u);
	STAT_INC(upstream_idle_closed);
	upconn_free(u);
}

static void idle_read_cb(struct conn *c, void *arg)
{
	idle_event_cb(c, BEV_EVENT_READING, CONN_ERR_NONE, arg);
}

static struct upconn *take_idle(struct backend *b)
{
	struct upconn *u = TAILQ_FIRST(&backend_local(b)->idle);

	if (u == NULL)
		return NULL;
	idle_unlink(u);
	u->reused = true; /* the caller sets the request's deadlines at once (send_request) */
	STAT_INC(upstream_reused);
	return u;
}

struct upconn *upstream_get(struct event_base *base, struct backend *b, uint64_t connect_timeout,
                            bool reuse, enum conn_error *kind, char *err, size_t errlen)
{
	struct upconn *u = reuse ? take_idle(b) : NULL;
	SSL *ssl = NULL;

	if (u != NULL)
		return u;
	if (b->conf.tls) {
		ssl = tls_client_ssl(b->ssl_ctx, &b->conf);
		if (ssl == NULL) {
			*kind = CONN_ERR_TLS;
			tls_last_error(err, errlen);
			return NULL;
		}
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		*kind = CONN_ERR_OTHER;
		snprintf(err, errlen, "out of memory");
		SSL_free(ssl);
		return NULL;
	}
	u->c = conn_connect(base, (struct sockaddr *)&b->conf.address.ss, b->conf.address.len, ssl,
	                    connect_timeout, kind, err, errlen);
	if (u->c == NULL) {
		SSL_free(ssl);
		free(u);
		return NULL;
	}
	/* past the data plane's ceiling: the reserve is the control plane's (probes, store) */
	uint64_t ceiling = __atomic_load_n(&fdlimit_accept_ceiling, __ATOMIC_RELAXED);
	if (ceiling > 0 && (uint64_t)conn_fd(u->c) >= ceiling) {
		conn_free(u->c); /* frees SSL with it */
		free(u);
		*kind = CONN_ERR_NOFD;
		snprintf(err, errlen, "descriptors down to the reserve");
		return NULL;
	}
	u->b = backend_ref(b);
	u->worker = wk->id;
	__atomic_add_fetch(&b->conns, 1, __ATOMIC_RELAXED);
	return u;
}

static const struct conn_ops idle_ops = {idle_read_cb, NULL, idle_event_cb};

void upstream_release(struct upconn *u, bool keep, const struct conf_pool *pc)
{
	struct backend *b = u->b;
	struct backend_local *bl = backend_local(b);

	if (!keep || b->removed || bl->n_idle >= pc->max_idle || pc->idle_timeout == 0 ||
	    conn_input_len(u->c) > 0 || conn_output_len(u->c) > 0) {
		if (keep)
			STAT_INC(upstream_idle_closed);
		upconn_free(u);
		return;
	}
	conn_setcb(u->c, &idle_ops, u);
	conn_set_read_max(u->c, 0);
	conn_set_write_low(u->c, 0);
	conn_set_timeouts_fixed(u->c, pc->idle_timeout, 0);
	conn_enable_read(u->c);
	conn_trim(u->c);
	TAILQ_INSERT_HEAD(&bl->idle, u, link);
	__atomic_store_n(&bl->n_idle, bl->n_idle + 1, __ATOMIC_RELAXED);
}

void upstream_close_idle(struct backend *b)
{
	struct upconn *u;

	for (unsigned i = 0; i < (n_workers > 0 ? n_workers : 1); i++)
		while ((u = TAILQ_FIRST(&b->local[i].idle)) != NULL) {
			idle_unlink(u);
			upconn_free(u);
		}
}
