/* Backend connections: connect (TCP or TLS) and the idle keep-alive pool. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "log.h"
#include "stats.h"
#include "tls.h"
#include "upstream.h"

static void upconn_free(struct upconn *u)
{
	if (u->bev != NULL)
		bufferevent_free(u->bev);
	u->b->conns--;
	backend_unref(u->b);
	free(u);
}

static struct timeval ms_to_tv(uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	return tv;
}

static void idle_unlink(struct upconn *u)
{
	TAILQ_REMOVE(&u->b->idle, u, link);
	u->b->n_idle--;
}

/* An idle connection must stay silent: data, EOF, error or the idle timeout close it. */
static void idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct upconn *u = arg;

	idle_unlink(u);
	STAT_INC(upstream_idle_closed);
	upconn_free(u);
}

static void idle_read_cb(struct bufferevent *bev, void *arg)
{
	idle_event_cb(bev, BEV_EVENT_READING, arg);
}

static struct upconn *take_idle(struct backend *b)
{
	struct upconn *u = TAILQ_FIRST(&b->idle);

	if (u == NULL)
		return NULL;
	idle_unlink(u);
	u->reused = true;
	bufferevent_set_timeouts(u->bev, NULL, NULL);
	STAT_INC(upstream_reused);
	return u;
}

static struct bufferevent *new_bev(struct event_base *base, struct backend *b, char *err,
                                   size_t errlen)
{
	if (!b->conf.tls)
		return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	SSL *ssl = tls_client_ssl(b->ssl_ctx, &b->conf);
	if (ssl == NULL) {
		tls_last_error(err, errlen);
		return NULL;
	}
	struct bufferevent *bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		SSL_free(ssl);
	else
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

struct upconn *upstream_get(struct event_base *base, struct backend *b, uint64_t connect_timeout,
                            char *err, size_t errlen)
{
	struct upconn *u = take_idle(b);

	if (u != NULL)
		return u;
	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	u->b = backend_ref(b);
	b->conns++;
	u->bev = new_bev(base, b, err, errlen);
	if (u->bev == NULL)
		goto fail;
	struct timeval tv = ms_to_tv(connect_timeout);
	bufferevent_set_timeouts(u->bev, &tv, &tv);
	if (bufferevent_socket_connect(u->bev, (struct sockaddr *)&b->conf.address.ss,
	                               (int)b->conf.address.len) != 0) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		goto fail;
	}
	int one = 1;
	setsockopt(bufferevent_getfd(u->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return u;
fail:
	upconn_free(u);
	return NULL;
}

void upstream_release(struct upconn *u, bool keep, const struct conf_pool *pc)
{
	struct backend *b = u->b;

	if (!keep || b->removed || b->n_idle >= pc->max_idle || pc->idle_timeout == 0 ||
	    evbuffer_get_length(bufferevent_get_input(u->bev)) > 0) {
		if (keep)
			STAT_INC(upstream_idle_closed);
		upconn_free(u);
		return;
	}
	struct timeval tv = ms_to_tv(pc->idle_timeout);
	bufferevent_setcb(u->bev, idle_read_cb, NULL, idle_event_cb, u);
	bufferevent_setwatermark(u->bev, EV_READ, 0, 0);
	bufferevent_setwatermark(u->bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(u->bev, &tv, NULL);
	bufferevent_enable(u->bev, EV_READ);
	TAILQ_INSERT_HEAD(&b->idle, u, link);
	b->n_idle++;
}

void upstream_close_idle(struct backend *b)
{
	struct upconn *u;

	while ((u = TAILQ_FIRST(&b->idle)) != NULL) {
		idle_unlink(u);
		upconn_free(u);
	}
}
