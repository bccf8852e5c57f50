/* Pool status and panic, computed in one place from the members' nodes. */
#include <stdlib.h>

#include "health/poolstat.h"
#include "log.h"
#include "proxy/route.h"
#include "registry.h"

const char *const pool_status_names[PS_COUNT] = {
    [PS_OPERATIONAL] = "operational",
    [PS_DEGRADED] = "degraded",
    [PS_PARTIAL_OUTAGE] = "partial_outage",
    [PS_MAJOR_OUTAGE] = "major_outage",
};

/* The panic flag of each pool of the registry, by identity: a pool a reload rebuilt starts
 * out of panic, as a new pool does. */
static struct flag {
	const struct pool *p;
	bool panic;
} * flags;
static size_t n_flags;

void poolstat_add(struct pool_view *v, const struct node *n, bool removed)
{
	v->members++;
	if (n == NULL)
		return;
	v->routable += n->routable && !removed;
	v->up += n->routable && !removed && n->weight > 0;
	v->judged += n->health.state != HS_CHECKING;
}

enum pool_status poolstat_status_of(const struct pool_view *v)
{
	if (!v->can_serve)
		return PS_MAJOR_OUTAGE;
	if (v->up == v->members)
		return PS_OPERATIONAL;
	return v->up > 0 && v->up >= v->min_up ? PS_DEGRADED : PS_PARTIAL_OUTAGE;
}

bool poolstat_panic_of(const struct pool_view *v)
{
	return v->routable < v->min_up && v->judged > 0;
}

bool poolstat_judged_of(const struct pool_view *v)
{
	return v->members > 0 && v->judged == v->members;
}

void poolstat_view(const struct pool *p, struct pool_view *v)
{
	*v = (struct pool_view){.min_up = p->conf.min_up, .can_serve = pool_can_pick(p, NULL, 0)};
	for (size_t i = 0; i < p->n_members; i++)
		poolstat_add(v, p->members[i]->node, p->members[i]->removed);
}

static bool (*up_elsewhere)(const char *backend);

void poolstat_set_fleet(bool (*fn)(const char *backend))
{
	up_elsewhere = fn;
}

bool poolstat_up_elsewhere(const struct backend *b)
{
	return up_elsewhere != NULL && !b->removed && up_elsewhere(b->name);
}

void poolstat_add_elsewhere(struct pool_view *v, const struct node *n, bool removed)
{
	if (removed || (n != NULL && n->routable && n->weight > 0))
		return; /* up here already (counted by poolstat_add), or gone */
	v->up++;
	v->routable += n == NULL || !n->routable;
	v->can_serve = true;
}

void poolstat_fleet_view(const struct pool *p, struct pool_view *v)
{
	poolstat_view(p, v);
	for (size_t i = 0; up_elsewhere != NULL && i < p->n_members; i++)
		if (poolstat_up_elsewhere(p->members[i]))
			poolstat_add_elsewhere(v, p->members[i]->node, p->members[i]->removed);
}

enum pool_status poolstat_status(const struct pool *p)
{
	struct pool_view v;

	poolstat_fleet_view(p, &v);
	return poolstat_status_of(&v);
}

int poolstat_known(const struct pool *p)
{
	struct pool_view v;

	if (p == NULL)
		return -1;
	poolstat_fleet_view(p, &v);
	return poolstat_judged_of(&v) ? (int)poolstat_status_of(&v) : -1;
}

size_t poolstat_up(const struct pool *p)
{
	struct pool_view v;

	poolstat_view(p, &v);
	return v.up;
}

bool poolstat_in_panic(const struct pool *p)
{
	for (size_t i = 0; i < n_flags; i++)
		if (flags[i].p == p)
			return flags[i].panic;
	return false;
}

static void log_panic(const struct pool *p, const struct pool_view *v, bool panic)
{
	if (panic)
		log_warn("pool %s: panic: %zu of %zu backends up (min_up %llu)%s", p->name,
		         v->routable, p->n_members, (unsigned long long)p->conf.min_up,
		         p->conf.panic ? ", routing to the least bad" : ", answering 503");
	else
		log_info("pool %s: out of panic: %zu of %zu backends up", p->name, v->routable,
		         p->n_members);
}

void poolstat_check(void)
{
	struct flag *next = calloc(registry.n_pools + 1, sizeof(*next));

	if (next == NULL) /* out of memory: the flags stay as they were until the next tick */
		return;
	for (size_t i = 0; i < registry.n_pools; i++) {
		const struct pool *p = registry.pools[i];
		bool was = poolstat_in_panic(p);
		struct pool_view v;

		poolstat_view(p, &v);
		next[i] = (struct flag){p, poolstat_panic_of(&v)};
		if (next[i].panic != was)
			log_panic(p, &v, next[i].panic);
	}
	free(flags);
	flags = next;
	n_flags = registry.n_pools;
}

void poolstat_reset(void)
{
	free(flags);
	flags = NULL;
	n_flags = 0;
}
