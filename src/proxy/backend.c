/* Backends and pools at run time, and the balancing pick. */
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

struct backend *backend_new(const struct conf_backend *cb, uint64_t now)
{
	struct backend *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	conf_backend_copy(&b->conf, cb);
	b->name = b->conf.name;
	b->refs = 1;
	b->routable = true; /* until the monitor's first judgement */
	b->weight = (unsigned)cb->weight;
	health_init(&b->health, now);
	b->metrics.network_id = -1;
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
	b->weight = (unsigned)cb->weight;
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

/* Which backends a pick may choose: not excluded (tried already), with capacity, either
 * routable (RANK < 0) or, in panic, of exactly that panic rank, and holding NEED's ledgers
 * unless NEED is NULL. */
struct filter {
	struct backend *const *ex;
	size_t n_ex;
	int rank;
	const struct pick_need *need;
};

bool backend_holds(const struct backend *b, uint32_t lo, uint32_t hi)
{
	return b->ledgers_known && ranges_cover(&b->ledgers, lo, hi);
}

/* How bad a backend is for panic routing: 0 healthy or unjudged, 1 warning, 2 critical;
 * -1 never (maint, drain, or nothing answers at all). */
static int panic_rank(const struct backend *b)
{
	if (b->health.state == HS_DOWN && b->health.down_unreachable)
		return -1;
	return health_panic_rank(&b->health);
}

static bool eligible(const struct backend *b, const struct filter *f)
{
	if (b->removed || b->weight == 0 || !backend_has_capacity(b))
		return false;
	if (f->rank < 0 ? !b->routable : panic_rank(b) != f->rank)
		return false;
	if (f->need != NULL && !backend_holds(b, f->need->ledger_min, f->need->ledger_max))
		return false;
	for (size_t i = 0; i < f->n_ex; i++)
		if (f->ex[i] == b)
			return false;
	return true;
}

/* Gives every eligible backend its weight and makes the winner pay back the total: the
 * smooth round robin step, also the tie-break of leastconn. */
static void rr_charge(struct pool *p, const struct filter *f, struct backend *winner)
{
	int64_t total = 0;

	for (size_t i = 0; i < p->n_members; i++) {
		struct backend *b = p->members[i];

		if (eligible(b, f)) {
			b->rr_current += b->weight;
			total += b->weight;
		}
	}
	winner->rr_current -= total;
}

/* nginx's smooth weighted round robin: the largest current + weight wins
 * (weights 5,1,1 give a a b a c a a). */
static struct backend *pick_rr(struct pool *p, const struct filter *f)
{
	struct backend *best = NULL;

	for (size_t i = 0; i < p->n_members; i++) {
		struct backend *b = p->members[i];

		if (eligible(b, f) &&
		    (best == NULL || b->rr_current + b->weight > best->rr_current + best->weight))
			best = b;
	}
	if (best != NULL)
		rr_charge(p, f, best);
	return best;
}

/* Fewest busy connections per unit of weight; ties go round robin so that an idle pool
 * still spreads its load. */
static struct backend *pick_leastconn(struct pool *p, const struct filter *f)
{
	struct backend *best = NULL;

	for (size_t i = 0; i < p->n_members; i++) {
		struct backend *b = p->members[i];

		if (!eligible(b, f))
			continue;
		if (best == NULL) {
			best = b;
			continue;
		}
		/* b->active / b->weight < best->active / best->weight, without division */
		uint64_t lhs = (uint64_t)b->active * best->weight;
		uint64_t rhs = (uint64_t)best->active * b->weight;
		if (lhs < rhs ||
		    (lhs == rhs && b->rr_current + b->weight > best->rr_current + best->weight))
			best = b;
	}
	if (best != NULL)
		rr_charge(p, f, best);
	return best;
}

static struct backend *pick(struct pool *p, const struct filter *f)
{
	return p->conf.balance == BALANCE_LEASTCONN ? pick_leastconn(p, f) : pick_rr(p, f);
}

size_t pool_count_up(const struct pool *p)
{
	size_t up = 0;

	for (size_t i = 0; i < p->n_members; i++) {
		const struct backend *b = p->members[i];
		up += b->routable && !b->removed && b->weight > 0;
	}
	return up;
}

static bool in_panic(const struct pool *p)
{
	return pool_count_up(p) < p->conf.min_up && p->conf.panic;
}

/* The pick at F's rank: the nodes holding NEED's ledgers first, then (unless NEED->only)
 * any. */
static struct backend *pick_need(struct pool *p, struct filter *f, const struct pick_need *need)
{
	struct backend *b;

	if (need == NULL)
		return pick(p, f);
	f->need = need;
	b = pick(p, f);
	f->need = NULL;
	return b != NULL || need->only ? b : pick(p, f);
}

static bool any_eligible(const struct pool *p, const struct filter *f)
{
	for (size_t i = 0; i < p->n_members; i++)
		if (eligible(p->members[i], f))
			return true;
	return false;
}

bool pool_can_pick_need(const struct pool *p, struct backend *const *exclude, size_t n_exclude,
                        const struct pick_need *need)
{
	bool panic = in_panic(p);
	struct filter f = {.ex = exclude, .n_ex = n_exclude, .rank = panic ? 0 : -1};

	/* holding the ledgers is needed only with NEED->only; otherwise any node will do */
	f.need = need != NULL && need->only ? need : NULL;
	for (; f.rank <= (panic ? 2 : -1); f.rank++)
		if (any_eligible(p, &f))
			return true;
	return false;
}

bool pool_can_pick(const struct pool *p, struct backend *const *exclude, size_t n_exclude)
{
	return pool_can_pick_need(p, exclude, n_exclude, NULL);
}

struct backend *pool_pick_need(struct pool *p, struct backend *const *exclude, size_t n_exclude,
                               const struct pick_need *need)
{
	bool panic = in_panic(p);
	struct filter f = {.ex = exclude, .n_ex = n_exclude, .rank = panic ? 0 : -1};

	/* in panic (too few up) the least bad that still answer get the traffic */
	for (; f.rank <= (panic ? 2 : -1); f.rank++) {
		struct backend *b = pick_need(p, &f, need);
		if (b != NULL)
			return b;
	}
	return NULL;
}

struct backend *pool_pick(struct pool *p, struct backend *const *exclude, size_t n_exclude)
{
	return pool_pick_need(p, exclude, n_exclude, NULL);
}
