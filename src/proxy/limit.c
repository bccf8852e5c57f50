/* Per-client limits: CIDR lists and the table of client addresses (open connections and a
 * token bucket each), bounded, least recently seen forgotten first. Pure: time is an
 * argument. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "proxy/limit.h"

#define MILLI         1000ULL /* a token, in the bucket's fixed-point unit */
#define CIDR_MAX      4096    /* entries in one list */
#define ITEM_SHOW_MAX 64      /* longest item quoted back in a message */

const char *const limit_reason_names[LIMIT_REASON_COUNT] = {
    [LIMIT_CONNS] = "conns",
    [LIMIT_RATE] = "rate",
};

/* ---- addresses ----------------------------------------------------------------------------- */

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void addr_set_v4(struct limit_addr *a, const void *in4)
{
	memcpy(a->b, v4_mapped_prefix, 12);
	memcpy(a->b + 12, in4, 4);
}

bool limit_addr_is_v4(const struct limit_addr *a)
{
	return memcmp(a->b, v4_mapped_prefix, 12) == 0;
}

bool limit_addr_from_sockaddr(const struct sockaddr *sa, struct limit_addr *out)
{
	if (sa->sa_family == AF_INET) {
		addr_set_v4(out, &((const struct sockaddr_in *)sa)->sin_addr);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

/* A numeric address in the NUL-terminated S, dotted quad or IPv6. */
static bool addr_pton(const char *s, struct limit_addr *out)
{
	struct in_addr in4;

	if (inet_pton(AF_INET, s, &in4) == 1) {
		addr_set_v4(out, &in4);
		return true;
	}
	return inet_pton(AF_INET6, s, out->b) == 1;
}

static bool all_digits(const char *s)
{
	return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

bool limit_addr_parse(const char *s, size_t len, struct limit_addr *out)
{
	char buf[LIMIT_ADDR_TEXT + 16], *colon;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] == '[') { /* [V6] or [V6]:PORT */
		char *close = strchr(buf, ']');
		if (close == NULL ||
		    (close[1] != '\0' && (close[1] != ':' || !all_digits(close + 2))))
			return false;
		*close = '\0';
		return inet_pton(AF_INET6, buf + 1, out->b) == 1;
	}
	colon = strchr(buf, ':');
	if (colon != NULL && strchr(colon + 1, ':') == NULL) { /* V4:PORT */
		if (!all_digits(colon + 1))
			return false;
		*colon = '\0';
		struct in_addr in4;
		if (inet_pton(AF_INET, buf, &in4) != 1)
			return false;
		addr_set_v4(out, &in4);
		return true;
	}
	return addr_pton(buf, out);
}

/* One byte in decimal at P; returns the end. */
static char *put_octet(char *p, unsigned v)
{
	if (v >= 100)
		*p++ = (char)('0' + v / 100);
	if (v >= 10)
		*p++ = (char)('0' + v / 10 % 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

void limit_addr_format(const struct limit_addr *a, char *buf, size_t len)
{
	if (!limit_addr_is_v4(a)) {
		inet_ntop(AF_INET6, a->b, buf, (socklen_t)len);
		return;
	}
	if (len < INET_ADDRSTRLEN) { /* inet_ntop's answer to a short buffer: nothing */
		if (len > 0)
			buf[0] = '\0';
		return;
	}
	char *p = buf; /* every request formats its client: no printf (inet_ntop has one) */
	for (int i = 12; i < 16; i++) {
		p = put_octet(p, a->b[i]);
		*p++ = i < 15 ? '.' : '\0';
	}
}

/* ---- CIDR lists ------------------------------------------------------------------------------ */

struct cidr {
	struct limit_addr net; /* host bits zero */
	unsigned prefix;       /* 0..128, over the mapped form for IPv4 */
};

struct limit_cidrs {
	size_t n;
	struct cidr e[];
};

/* Whether A and NET agree on the first PREFIX bits. */
static bool prefix_match(const struct limit_addr *a, const struct limit_addr *net, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;

	if (memcmp(a->b, net->b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a->b[whole] & mask) == (net->b[whole] & mask);
}

static void bad_item(const char *item, size_t n, const char *why, char *err, size_t errlen)
{
	snprintf(err, errlen,
	         "bad %s \"%.*s\" (expected addresses or networks ADDRESS/PREFIX, comma separated, "
	         "like 10.0.0.0/8, 192.0.2.7, ::1, 2001:db8::/32)",
	         why, (int)(n < ITEM_SHOW_MAX ? n : ITEM_SHOW_MAX), item);
}

/* One item, "ADDR" or "ADDR/PREFIX", N bytes at ITEM (no blanks). */
static int parse_cidr(const char *item, size_t n, struct cidr *out, char *err, size_t errlen)
{
	char buf[LIMIT_ADDR_TEXT + 8];
	const char *slash = memchr(item, '/', n);
	size_t alen = slash != NULL ? (size_t)(slash - item) : n;

	if (alen == 0 || alen >= LIMIT_ADDR_TEXT) {
		bad_item(item, n, "address", err, errlen);
		return -1;
	}
	memcpy(buf, item, alen);
	buf[alen] = '\0';
	if (!addr_pton(buf, &out->net)) {
		bad_item(item, n, "address", err, errlen);
		return -1;
	}
	bool v4 = strchr(buf, ':') == NULL;
	unsigned max = v4 ? 32 : 128;
	out->prefix = max;
	if (slash != NULL) {
		size_t plen = n - alen - 1;
		unsigned p = 0;
		if (plen == 0 || plen > 3 || strspn(slash + 1, "0123456789") < plen) {
			bad_item(item, n, "prefix length in", err, errlen);
			return -1;
		}
		for (size_t i = 0; i < plen; i++)
			p = p * 10 + (unsigned)(slash[1 + i] - '0');
		if (p > max) {
			bad_item(item, n,
			         v4 ? "IPv4 prefix (over 32) in" : "IPv6 prefix (over 128) in", err,
			         errlen);
			return -1;
		}
		out->prefix = p;
	}
	if (v4)
		out->prefix += 96;
	struct limit_addr masked = {{0}};
	memcpy(masked.b, out->net.b, out->prefix / 8);
	if (out->prefix % 8 != 0)
		masked.b[out->prefix / 8] =
		    (uint8_t)(out->net.b[out->prefix / 8] & (0xff << (8 - out->prefix % 8)));
	if (memcmp(masked.b, out->net.b, 16) != 0) {
		bad_item(item, n, "network (bits set after the prefix)", err, errlen);
		return -1;
	}
	return 0;
}

static size_t count_items(const char *text)
{
	size_t n = 1;

	for (const char *c = text; *c != '\0'; c++)
		n += *c == ',';
	return n;
}

int limit_cidrs_parse(const char *text, struct limit_cidrs **out, char *err, size_t errlen)
{
	static const char blanks[] = " \t";
	struct limit_cidrs *l;
	size_t cap = text != NULL ? count_items(text) : 0;

	*out = NULL;
	if (cap > CIDR_MAX) {
		snprintf(err, errlen, "%zu entries (expected at most %d)", cap, CIDR_MAX);
		return -1;
	}
	l = calloc(1, sizeof(*l) + cap * sizeof(l->e[0]));
	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* items between commas, blanks around them dropped; an empty item is an error */
	bool blank = text == NULL || text[strspn(text, blanks)] == '\0';
	for (const char *it = blank ? NULL : text; it != NULL;) {
		size_t n = strcspn(it, ","), skip = strspn(it, blanks),
		       len = n - (skip < n ? skip : n);
		while (len > 0 && strchr(blanks, it[skip + len - 1]) != NULL)
			len--;
		if (len == 0) {
			snprintf(err, errlen,
			         "empty entry (expected addresses or networks, comma separated)");
			goto fail;
		}
		if (parse_cidr(it + skip, len, &l->e[l->n], err, errlen) < 0)
			goto fail;
		l->n++;
		it = it[n] == ',' ? it + n + 1 : NULL;
	}
	*out = l;
	return 0;
fail:
	free(l);
	return -1;
}

void limit_cidrs_free(struct limit_cidrs *l)
{
	free(l);
}

bool limit_cidrs_match(const struct limit_cidrs *l, const struct limit_addr *a)
{
	for (size_t i = 0; l != NULL && i < l->n; i++)
		if (prefix_match(a, &l->e[i].net, l->e[i].prefix))
			return true;
	return false;
}

/* ---- the client table --------------------------------------------------------------------- */

struct client {
	struct limit_addr a;
	struct client *hnext;    /* hash chain */
	TAILQ_ENTRY(client) lru; /* in idle (no connections) or busy, most recent first */
	uint64_t conns;          /* open connections */
	uint64_t tokens;         /* bucket content in milli-tokens */
	uint64_t refilled;       /* ms of the last refill */
	bool bucket;             /* the bucket was used (a new one starts full) */
};
TAILQ_HEAD(client_list, client);

struct limit_table {
	struct client **slot; /* hash buckets, a power of two */
	size_t n_slots;
	size_t max;
	uint64_t seed;
	struct client_list idle, busy;
	struct limit_counters c;
	pthread_mutex_t mu; /* the workers share the table: a client is one client on all */
};

/* A keyed mix of the 16 bytes (clients choose their addresses: no guessable collisions). */
static size_t hash(const struct limit_table *t, const struct limit_addr *a)
{
	uint64_t x, y;

	memcpy(&x, a->b, 8);
	memcpy(&y, a->b + 8, 8);
	x ^= t->seed;
	x = (x ^ (x >> 31)) * 0x9e3779b97f4a7c15ULL;
	x ^= y + (t->seed >> 7);
	x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 32)) * 0x94d049bb133111ebULL;
	return (size_t)(x ^ (x >> 31)) & (t->n_slots - 1);
}

static size_t slots_for(size_t max)
{
	size_t n = 16;

	while (n < max && n < ((size_t)1 << 30))
		n <<= 1;
	return n;
}

struct limit_table *limit_table_new(size_t max, uint64_t seed)
{
	struct limit_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->max = max > 0 ? max : 1;
	t->seed = seed;
	t->n_slots = slots_for(t->max);
	t->slot = calloc(t->n_slots, sizeof(*t->slot));
	if (t->slot == NULL) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->mu, NULL);
	TAILQ_INIT(&t->idle);
	TAILQ_INIT(&t->busy);
	return t;
}

static void free_list(struct client_list *l)
{
	struct client *c;

	while ((c = TAILQ_FIRST(l)) != NULL) {
		TAILQ_REMOVE(l, c, lru);
		free(c);
	}
}

void limit_table_free(struct limit_table *t)
{
	if (t == NULL)
		return;
	free_list(&t->idle);
	free_list(&t->busy);
	free(t->slot);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

struct limit_counters limit_table_counters(struct limit_table *t)
{
	pthread_mutex_lock(&t->mu);
	struct limit_counters c = t->c;
	pthread_mutex_unlock(&t->mu);
	return c;
}

static struct client_list *list_of(struct limit_table *t, const struct client *c)
{
	return c->conns > 0 ? &t->busy : &t->idle;
}

static struct client *find(struct limit_table *t, const struct limit_addr *a)
{
	for (struct client *c = t->slot[hash(t, a)]; c != NULL; c = c->hnext)
		if (memcmp(c->a.b, a->b, 16) == 0)
			return c;
	return NULL;
}

/* Takes C out of the hash and its list (C itself stays allocated). */
static void unlink_client(struct limit_table *t, struct client *c)
{
	struct client **pp = &t->slot[hash(t, &c->a)];

	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	TAILQ_REMOVE(list_of(t, c), c, lru);
	t->c.tracked--;
}

/* Forgets the least recently seen client, one without connections if there is one; returns
 * its memory for reuse. */
static struct client *evict(struct limit_table *t)
{
	struct client *c = TAILQ_LAST(&t->idle, client_list);

	if (c == NULL) {
		c = TAILQ_LAST(&t->busy, client_list);
		t->c.evicted_busy++;
	}
	unlink_client(t, c);
	t->c.evictions++;
	return c;
}

/* A's entry, seen now (moved to the front of its list); created, making room, when new. */
static struct client *touch(struct limit_table *t, const struct limit_addr *a)
{
	struct client *c = find(t, a);

	if (c != NULL) {
		TAILQ_REMOVE(list_of(t, c), c, lru);
		TAILQ_INSERT_HEAD(list_of(t, c), c, lru);
		return c;
	}
	c = t->c.tracked >= t->max ? evict(t) : malloc(sizeof(*c));
	if (c == NULL)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->a = *a;
	size_t h = hash(t, a);
	c->hnext = t->slot[h];
	t->slot[h] = c;
	TAILQ_INSERT_HEAD(&t->idle, c, lru);
	t->c.tracked++;
	return c;
}

static int table_resize(struct limit_table *t, size_t max)
{
	size_t n_slots = slots_for(max > 0 ? max : 1);
	struct client **slot = t->slot;

	if (n_slots != t->n_slots) {
		slot = calloc(n_slots, sizeof(*slot));
		if (slot == NULL)
			return -1;
	}
	t->max = max > 0 ? max : 1;
	while (t->c.tracked > t->max)
		free(evict(t));
	if (slot == t->slot)
		return 0;
	free(t->slot);
	t->slot = slot;
	t->n_slots = n_slots;
	struct client_list *lists[2] = {&t->idle, &t->busy};
	for (size_t i = 0; i < 2; i++) {
		struct client *c;
		TAILQ_FOREACH(c, lists[i], lru)
		{
			size_t h = hash(t, &c->a);
			c->hnext = slot[h];
			slot[h] = c;
		}
	}
	return 0;
}

static bool conn_open(struct limit_table *t, const struct limit_addr *a, uint64_t max_conns)
{
	struct client *c = touch(t, a);

	if (c == NULL)
		return true; /* out of memory: a limit is no reason to refuse */
	if (max_conns > 0 && c->conns >= max_conns) {
		t->c.limited[LIMIT_CONNS]++;
		return false;
	}
	if (c->conns++ == 0) {
		TAILQ_REMOVE(&t->idle, c, lru);
		TAILQ_INSERT_HEAD(&t->busy, c, lru);
	}
	return true;
}

static void conn_close(struct limit_table *t, const struct limit_addr *a)
{
	struct client *c = find(t, a);

	if (c == NULL || c->conns == 0)
		return;
	if (--c->conns == 0) { /* seen now: the front of the idle list */
		TAILQ_REMOVE(&t->busy, c, lru);
		TAILQ_INSERT_HEAD(&t->idle, c, lru);
	}
}

/* Adds what RATE per second brought since the last refill, up to CAP milli-tokens. */
static void refill(struct client *c, uint64_t rate, uint64_t cap, uint64_t now_ms)
{
	if (!c->bucket) {
		c->bucket = true;
		c->tokens = cap;
		c->refilled = now_ms;
		return;
	}
	if (now_ms > c->refilled) { /* a clock that went back refills nothing */
		uint64_t dt = now_ms - c->refilled;
		/* RATE tokens per second are RATE milli-tokens per ms; a long pause fills it */
		c->tokens = dt > cap / rate ? cap : c->tokens + dt * rate;
		c->refilled = now_ms;
	}
	if (c->tokens > cap)
		c->tokens = cap; /* full, or the burst was lowered by a reload */
}

static bool take(struct limit_table *t, const struct limit_addr *a, uint64_t rate, uint64_t burst,
                 uint64_t now_ms, uint64_t *retry_after_ms)
{
	struct client *c;

	*retry_after_ms = 0;
	if (rate == 0)
		return true;
	c = touch(t, a);
	if (c == NULL)
		return true;
	refill(c, rate, (burst > 0 ? burst : rate) * MILLI, now_ms);
	if (c->tokens >= MILLI) {
		c->tokens -= MILLI;
		return true;
	}
	uint64_t ms = (MILLI - c->tokens + rate - 1) / rate;
	*retry_after_ms = ms > 0 ? ms : 1;
	t->c.limited[LIMIT_RATE]++;
	return false;
}

/* ---- the locked entry points --------------------------------------------------------------- */

int limit_table_resize(struct limit_table *t, size_t max)
{
	pthread_mutex_lock(&t->mu);
	int rc = table_resize(t, max);
	pthread_mutex_unlock(&t->mu);
	return rc;
}

bool limit_conn_open(struct limit_table *t, const struct limit_addr *a, uint64_t max_conns)
{
	pthread_mutex_lock(&t->mu);
	bool ok = conn_open(t, a, max_conns);
	pthread_mutex_unlock(&t->mu);
	return ok;
}

void limit_conn_close(struct limit_table *t, const struct limit_addr *a)
{
	pthread_mutex_lock(&t->mu);
	conn_close(t, a);
	pthread_mutex_unlock(&t->mu);
}

bool limit_take(struct limit_table *t, const struct limit_addr *a, uint64_t rate, uint64_t burst,
                uint64_t now_ms, uint64_t *retry_after_ms)
{
	pthread_mutex_lock(&t->mu);
	bool ok = take(t, a, rate, burst, now_ms, retry_after_ms);
	pthread_mutex_unlock(&t->mu);
	return ok;
}
