/* Backends and pools at run time: the data plane's objects (identity across reloads,
 * settings, connection counts). */
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "util.h"
#include "proxy/backend.h"
#include "proxy/worker.h"

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
	b->local = calloc(n_workers > 0 ? n_workers : 1, sizeof(*b->local));
	if (b->local == NULL) {
		conf_backend_release(&b->conf);
		free(b);
		return NULL;
	}
	for (unsigned i = 0; i < (n_workers > 0 ? n_workers : 1); i++)
		TAILQ_INIT(&b->local[i].idle);
	return b;
}

struct backend *backend_ref(struct backend *b)
{
	__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
	return b;
}

void backend_unref(struct backend *b)
{
	if (b == NULL || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	free(b->local);
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

struct backend_local *backend_local(struct backend *b)
{
	return &b->local[wk != NULL ? wk->id : 0];
}

unsigned backend_n_idle(const struct backend *b)
{
	unsigned n = 0;

	for (unsigned i = 0; i < (n_workers > 0 ? n_workers : 1); i++)
		n += __atomic_load_n(&b->local[i].n_idle, __ATOMIC_RELAXED);
	return n;
}

bool backend_has_capacity(const struct backend *b)
{
	return b->conf.max_conns == 0 ||
	       __atomic_load_n(&b->active, __ATOMIC_RELAXED) < b->conf.max_conns ||
	       __atomic_load_n(&b->local[wk != NULL ? wk->id : 0].n_idle, __ATOMIC_RELAXED) > 0;
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
	pthread_mutex_init(&p->mu, NULL);
	return p;
}

struct pool *pool_ref(struct pool *p)
{
	__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
	return p;
}

void pool_unref(struct pool *p)
{
	if (p == NULL || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < p->n_members; i++)
		backend_unref(p->members[i]);
	free(p->members);
	free(p->conf.name);
	pthread_mutex_destroy(&p->mu);
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

void pool_budget_request(struct pool *p, uint64_t now)
{
	pthread_mutex_lock(&p->mu);
	budget_request(&p->budget, now);
	pthread_mutex_unlock(&p->mu);
}

bool pool_budget_retry(struct pool *p, enum retry_reason why, bool charged, uint64_t now)
{
	pthread_mutex_lock(&p->mu);
	bool ok = budget_retry(&p->budget, why, charged, now);
	pthread_mutex_unlock(&p->mu);
	return ok;
}

void pool_latency_add(struct pool *p, uint64_t us, uint64_t now)
{
	pthread_mutex_lock(&p->mu);
	latency_add(&p->latency, us, now);
	pthread_mutex_unlock(&p->mu);
}

uint64_t pool_latency_take(struct pool *p, uint32_t out[LATENCY_BUCKETS])
{
	pthread_mutex_lock(&p->mu);
	uint64_t n = latency_take(&p->latency, out);
	pthread_mutex_unlock(&p->mu);
	return n;
}

uint64_t pool_latency_p99(struct pool *p, uint64_t now)
{
	pthread_mutex_lock(&p->mu);
	uint64_t v = latency_p99(&p->latency, now);
	pthread_mutex_unlock(&p->mu);
	return v;
}

uint64_t pool_latency_bound(struct pool *p, uint64_t factor, uint64_t quiet_ms, uint64_t max_ms,
                            uint64_t now)
{
	pthread_mutex_lock(&p->mu);
	uint64_t v = latency_bound(&p->latency, factor, quiet_ms, max_ms, now);
	pthread_mutex_unlock(&p->mu);
	return v;
}
