/* Backends and pools at run time: the data plane's objects (identity across reloads,
 * settings, connection counts). */
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "util.h"
#include "proxy/backend.h"

static void conf_backend_copy(struct conf_backend *dst, const struct conf_backend *src)
{
	*dst = *src;
	dst->name = dup_or_null(src->name);
	dst->pool = dup_or_null(src->pool);
	dst->tls_ca = dup_or_null(src->tls_ca);
	dst->tls_sni = dup_or_null(src->tls_sni);
	if (conf_health_copy(&dst->health, &src->health) != 0) { /* out of memory */
		memset(&dst->health, 0, sizeof(dst->health));
		dst->health.check = CHECK_NONE;
	}
}

static void conf_backend_release(struct conf_backend *c)
{
	free(c->name);
	free(c->pool);
	free(c->tls_ca);
	free(c->tls_sni);
	conf_health_deinit(&c->health);
}

struct backend *backend_new(const struct conf_backend *cb)
{
	struct backend *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	conf_backend_copy(&b->conf, cb);
	b->name = b->conf.name;
	b->refs = 1;
	TAILQ_INIT(&b->idle);
	return b;
}

struct backend *backend_ref(struct backend *b)
{
	b->refs++;
	return b;
}

void backend_unref(struct backend *b)
{
	if (b == NULL || --b->refs > 0)
		return;
	SSL_CTX_free(b->ssl_ctx);
	conf_backend_release(&b->conf);
	free(b);
}

bool backend_same_identity(const struct backend *b, const struct conf_backend *cb)
{
	return strcmp(b->name, cb->name) == 0 &&
	       strcmp(b->conf.address.host, cb->address.host) == 0 &&
	       b->conf.address.port == cb->address.port && b->conf.tls == cb->tls;
}

void backend_update(struct backend *b, const struct conf_backend *cb)
{
	struct conf_backend old = b->conf;

	/* the name is the identity: it stays the same string, which requests may be logging */
	conf_backend_copy(&b->conf, cb);
	free(b->conf.name);
	b->conf.name = old.name;
	old.name = NULL;
	conf_backend_release(&old);
	b->removed = false;
}

bool backend_has_capacity(const struct backend *b)
{
	return b->conf.max_conns == 0 || b->active < b->conf.max_conns || b->n_idle > 0;
}

struct pool *pool_new(const struct conf_pool *cp)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->conf = *cp;
	p->conf.name = strdup(cp->name);
	p->name = p->conf.name;
	p->refs = 1;
	budget_init(&p->budget, cp->retry_budget, cp->retry_budget_window, cp->retry_budget_min);
	return p;
}

struct pool *pool_ref(struct pool *p)
{
	p->refs++;
	return p;
}

void pool_unref(struct pool *p)
{
	if (p == NULL || --p->refs > 0)
		return;
	for (size_t i = 0; i < p->n_members; i++)
		backend_unref(p->members[i]);
	free(p->members);
	free(p->conf.name);
	free(p);
}

int pool_add(struct pool *p, struct backend *b)
{
	struct backend **m = realloc(p->members, (p->n_members + 1) * sizeof(*m));

	if (m == NULL)
		return -1;
	p->members = m;
	p->members[p->n_members++] = backend_ref(b);
	return 0;
}
