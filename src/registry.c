/* The registry of what is running (registry.h). */
#include <string.h>

#include "registry.h"

struct registry registry;

struct pool *registry_pool(const char *name)
{
	for (size_t i = 0; i < registry.n_pools; i++)
		if (strcmp(registry.pools[i]->name, name) == 0)
			return registry.pools[i];
	return NULL;
}

struct backend *registry_backend(const char *name)
{
	for (size_t i = 0; i < registry.n_backends; i++)
		if (strcmp(registry.backends[i]->name, name) == 0)
			return registry.backends[i];
	return NULL;
}
