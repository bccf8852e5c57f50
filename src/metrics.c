/* Request and probe accounting for /metrics: fixed tables filled on the hot path (an index
 * and an increment: names are given their index once, never an allocation) and written out
 * in Prometheus text format. Each thread that counts requests has tables of its own (a
 * shard, written by it alone, no lock, no line shared with another core); a scrape sums
 * the shards. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "util.h"
#include "metrics.h"
#include "proxy/rpc.h"

#define NAME_LEN    65   /* names kept per slot, NUL included (conf names are <= 64) */
#define NAME_SLOTS  4096 /* listener and backend names with an index; a power of two */
#define NAME_PROBES 64   /* slots looked at before a new name goes without an index */
#define REQ_SLOTS   4096 /* (listener, backend, method, code) label sets; a power of two */
#define REQ_BITS    12   /* log2(REQ_SLOTS) */
#define REQ_PROBES  32   /* slots looked at before a new label set counts as "other" */
#define HIST_SLOTS  128  /* histograms per table (listeners, backends); a power of two */
#define HIST_PROBES 16
#define REF_SLOTS   256 /* (listener, method, reason) label sets of refusals; a power of two */
#define REF_PROBES  16
#define OTHER       "other" /* the label values of what did not fit */

/* Upper bounds of the latency buckets, in seconds: 0.5 ms to 10 s. */
static const double bucket_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                   0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define N_BUCKETS ARRAY_SIZE(bucket_le)

/* A shard has one writer, its thread, and is read by scrapes on another: its words are
 * written whole (relaxed atomic stores of the writer's own reading plus one, no locked
 * instruction) and read whole. */
#define BUMP(x, d) __atomic_store_n(&(x), (x) + (d), __ATOMIC_RELAXED)
#define PEEK(x)    __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* Requests refused by a listener's method policy (never sent to a node). */
struct ref_slot {
	uint64_t hash; /* 0: free */
	uint64_t count;
	const char *method; /* rpc_method_label() */
	int reason;         /* enum rpc_refusal */
	char listener[NAME_LEN];
};

struct hist {
	uint64_t bucket[N_BUCKETS + 1]; /* per bucket, not cumulative; the last is +Inf */
	uint64_t count;
	double sum; /* seconds */
};

/* How a histogram table is written out. */
struct hist_kind {
	const char *metric; /* "nodegate_request_duration_seconds" */
	const char *label;  /* "listener" */
	const char *help;
};

/* One thread's requests, by the slots of the shared tables below: the count of each label
 * set, and the duration histogram of each listener (the last: the names that did not
 * fit). */
struct shard {
	uint64_t req[REQ_SLOTS];
	uint64_t req_other; /* requests whose label set did not fit */
	struct hist hist[HIST_SLOTS + 1];
};

/* The names that have an index: index i is names[i - 1]. */
struct name_slot {
	uint64_t hash; /* 0: free */
	char name[NAME_LEN];
};

#define SHARDS_MAX 66 /* the main thread, up to 64 workers, and the spare */

/* The slots, shared by the shards: a label set's key (the listener's and the backend's name
 * indexes, the method label, the status code, in one word; 0: free), and the name index of
 * each request histogram's listener. Taken once each, under mu; read without it (slot_of). */
static uint64_t req_key[REQ_SLOTS];
static uint64_t req_hist_name[HIST_SLOTS];

/* Under mu: the names, the refusals, the probe histograms, the list of shards, and the
 * spare shard (what a thread counts when it could not have a shard of its own). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct name_slot names[NAME_SLOTS];
static struct ref_slot ref_slot[REF_SLOTS];
static uint64_t ref_other;
static uint64_t probe_hist_name[HIST_SLOTS];
static struct hist probe_hist[HIST_SLOTS + 1];
static struct shard spare;
static struct shard *shards[SHARDS_MAX] = {&spare};
static unsigned n_shards = 1;

static __thread struct shard *my_shard; /* NULL: none yet (or none to be had: the spare) */

static const struct hist_kind req_kind = {
    .metric = "nodegate_request_duration_seconds",
    .label = "listener",
    .help = "time from the start of a request to the end of its response, by listener",
};
static const struct hist_kind probe_kind = {
    .metric = "nodegate_probe_duration_seconds",
    .label = "backend",
    .help = "duration of health and freshness probes, by backend",
};

/* ---- hot path ------------------------------------------------------------------------ */

/* FNV-1a over at most NAME_LEN - 1 bytes of S (what a slot keeps), then a separator. */
static uint64_t hash_name(uint64_t h, const char *s)
{
	for (size_t i = 0; i < NAME_LEN - 1 && s[i] != '\0'; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return (h ^ 0xff) * 0x100000001b3ULL;
}

static uint64_t hash_start(void)
{
	return 0xcbf29ce484222325ULL;
}

/* 0 marks a free slot: never a hash. */
static uint64_t hash_end(uint64_t h)
{
	return h != 0 ? h : 1;
}

/* Whether the slot's copy of a name is NAME (both cut at NAME_LEN - 1 bytes). */
static bool name_eq(const char *kept, const char *name)
{
	return strncmp(kept, name, NAME_LEN - 1) == 0;
}

static void name_copy(char *dst, const char *src)
{
	size_t n = strnlen(src, NAME_LEN - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The slot of KEY among the N shared KEYS (a power of two), looked up in at most PROBES
 * slots from HASH: the first free one is taken (under mu), so that a key that is not there
 * and finds no free slot there is in no other slot either, and a full table costs no more
 * than a crowded one. N when there is no room for it (or KEY is 0). Lock-free once taken. */
static size_t slot_of(uint64_t *keys, size_t n, size_t probes, uint64_t key, size_t hash)
{
	for (size_t i = 0; key != 0 && i < probes; i++) {
		size_t k = (hash + i) & (n - 1);
		uint64_t seen = __atomic_load_n(&keys[k], __ATOMIC_ACQUIRE);

		if (seen == 0) {
			pthread_mutex_lock(&mu);
			if (keys[k] == 0)
				__atomic_store_n(&keys[k], key, __ATOMIC_RELEASE);
			seen = keys[k];
			pthread_mutex_unlock(&mu);
		}
		if (seen == key)
			return k;
	}
	return n;
}

/* The histogram slot of the name of index NAME in NAMES (HIST_SLOTS: "other"). */
static size_t hist_slot(uint64_t *hist_names, unsigned name)
{
	return slot_of(hist_names, HIST_SLOTS, HIST_PROBES, name, name * 0x9e3779b1u);
}

static unsigned name_index(const char *name)
{
	uint64_t h = hash_end(hash_name(hash_start(), name));

	for (size_t i = 0; i < NAME_PROBES; i++) {
		size_t k = (h + i) & (NAME_SLOTS - 1);
		struct name_slot *s = &names[k];

		if (s->hash == 0) {
			s->hash = h;
			name_copy(s->name, name);
		} else if (s->hash != h || !name_eq(s->name, name)) {
			continue;
		}
		return (unsigned)k + 1;
	}
	return 0;
}

unsigned metrics_name(const char *name)
{
	pthread_mutex_lock(&mu);
	unsigned i = name_index(name);
	pthread_mutex_unlock(&mu);
	return i;
}

/* The name of index I (not 0). */
static const char *name_of(unsigned i)
{
	return names[i - 1].name;
}

static void hist_add(struct hist *h, double seconds)
{
	size_t b = 0;

	if (!(seconds >= 0)) /* NaN too */
		seconds = 0;
	while (b < N_BUCKETS && seconds > bucket_le[b])
		b++;
	BUMP(h->bucket[b], 1);
	BUMP(h->count, 1);
	double sum = h->sum + seconds;
	__atomic_store(&h->sum, &sum, __ATOMIC_RELAXED);
}

/* The calling thread's shard, made on its first request; NULL when there is no room or
 * memory for one (its requests then go to the spare, under mu). */
static struct shard *shard_mine(void)
{
	struct shard *sh;

	if (my_shard != NULL)
		return my_shard;
	pthread_mutex_lock(&mu);
	sh = n_shards < SHARDS_MAX ? calloc(1, sizeof(*sh)) : NULL;
	if (sh != NULL)
		shards[n_shards++] = sh;
	pthread_mutex_unlock(&mu);
	return my_shard = sh;
}

void metrics_count(unsigned listener, unsigned backend, unsigned method, int status,
                   double duration_ms)
{
	uint64_t key = (uint64_t)listener << 48 | (uint64_t)backend << 32 |
	               (uint64_t)(method & 0xff) << 24 | ((uint32_t)status & 0xffffff);
	size_t hash = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> (64 - REQ_BITS));
	size_t k = listener != 0 && backend != 0
	               ? slot_of(req_key, REQ_SLOTS, REQ_PROBES, key, hash)
	               : REQ_SLOTS;
	size_t h = hist_slot(req_hist_name, listener);
	struct shard *sh = shard_mine();
	bool spared = sh == NULL;

	if (spared) {
		pthread_mutex_lock(&mu);
		sh = &spare;
	}
	if (k < REQ_SLOTS)
		BUMP(sh->req[k], 1);
	else
		BUMP(sh->req_other, 1);
	hist_add(&sh->hist[h], duration_ms / 1000.0);
	if (spared)
		pthread_mutex_unlock(&mu);
}

void metrics_request(const char *listener, const char *backend, const char *method, int status,
                     double duration_ms)
{
	metrics_count(metrics_name(listener), metrics_name(backend), rpc_method_label_index(method),
	              status, duration_ms);
}

/* ---- the shards summed ------------------------------------------------------------------ */

static struct shard total; /* under mu: the last sum */

static void hist_sum(struct hist *into, const struct hist *h)
{
	double sum;

	for (size_t b = 0; b <= N_BUCKETS; b++)
		into->bucket[b] += PEEK(h->bucket[b]);
	into->count += PEEK(h->count);
	__atomic_load(&h->sum, &sum, __ATOMIC_RELAXED);
	into->sum += sum;
}

/* Every shard's counts into total, under mu. */
static void sum_shards(void)
{
	memset(&total, 0, sizeof(total));
	for (unsigned k = 0; k < n_shards; k++) {
		const struct shard *sh = shards[k];

		for (size_t i = 0; i < REQ_SLOTS; i++)
			total.req[i] += PEEK(sh->req[i]);
		total.req_other += PEEK(sh->req_other);
		for (size_t i = 0; i <= HIST_SLOTS; i++)
			hist_sum(&total.hist[i], &sh->hist[i]);
	}
}

size_t metrics_methods(bool (*mine)(const char *listener, void *arg), void *arg,
                       struct metrics_method *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&mu);
	sum_shards();
	for (size_t i = 0; i < REQ_SLOTS; i++) {
		uint64_t key = req_key[i], count = total.req[i];
		size_t j = 0;

		if (key == 0 || !mine(name_of((unsigned)(key >> 48)), arg))
			continue;
		const char *method = rpc_label_name((unsigned)(key >> 24) & 0xff);
		int code = (int)(key & 0xffffff);
		while (j < n && strcmp(out[j].name, method) != 0)
			j++;
		if (j == n && n == max)
			continue;
		if (j == n)
			out[n++] = (struct metrics_method){method, 0, 0};
		out[j].requests += count;
		out[j].failed += code >= 502 && code <= 504 ? count : 0;
	}
	pthread_mutex_unlock(&mu);
	return n;
}

void metrics_refused(const char *listener, const char *method, int reason)
{
	const char *m = rpc_method_label(method);
	uint64_t h = hash_end((hash_name(hash_name(hash_start(), listener), m) ^ (uint32_t)reason) *
	                      0x100000001b3ULL);

	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < REF_PROBES; i++) {
		struct ref_slot *s = &ref_slot[(h + i) & (REF_SLOTS - 1)];

		if (s->hash == 0) {
			s->hash = h;
			s->method = m;
			s->reason = reason;
			name_copy(s->listener, listener);
		} else if (s->hash != h || s->method != m || s->reason != reason ||
		           !name_eq(s->listener, listener)) {
			continue;
		}
		s->count++;
		pthread_mutex_unlock(&mu);
		return;
	}
	ref_other++;
	pthread_mutex_unlock(&mu);
}

void metrics_probe(const char *backend, uint64_t duration_us)
{
	size_t h = hist_slot(probe_hist_name, metrics_name(backend));

	pthread_mutex_lock(&mu);
	hist_add(&probe_hist[h], (double)duration_us / 1e6);
	pthread_mutex_unlock(&mu);
}

/* ---- text format ------------------------------------------------------------------------ */

void metrics_outf(struct metrics_out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (evbuffer_add_vprintf(o->b, fmt, ap) < 0)
		o->rc = -1;
	va_end(ap);
}

void metrics_out_label(struct metrics_out *o, const char *v)
{
	if (metrics_label(o->b, v) < 0)
		o->rc = -1;
}

int metrics_label(struct evbuffer *out, const char *value)
{
	const char *p = value;
	int rc = 0;

	while (*p != '\0') {
		size_t n = strcspn(p, "\\\"\n");

		rc |= evbuffer_add(out, p, n);
		p += n;
		if (*p == '\0')
			break;
		rc |= evbuffer_add(out, *p == '\n' ? "\\n" : *p == '"' ? "\\\"" : "\\\\", 2);
		p++;
	}
	return rc < 0 ? -1 : 0;
}

/* One histogram's series: the cumulative buckets, then _sum and _count. */
static void write_hist(struct metrics_out *o, const struct hist_kind *t, const char *name,
                       const struct hist *h)
{
	uint64_t cum = 0;

	for (size_t b = 0; b <= N_BUCKETS; b++) {
		cum += h->bucket[b];
		metrics_outf(o, "%s_bucket{%s=\"", t->metric, t->label);
		metrics_out_label(o, name);
		if (b < N_BUCKETS)
			metrics_outf(o, "\",le=\"%g\"} %llu\n", bucket_le[b],
			             (unsigned long long)cum);
		else
			metrics_outf(o, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	}
	metrics_outf(o, "%s_sum{%s=\"", t->metric, t->label);
	metrics_out_label(o, name);
	metrics_outf(o, "\"} %.9g\n%s_count{%s=\"", h->sum, t->metric, t->label);
	metrics_out_label(o, name);
	metrics_outf(o, "\"} %llu\n", (unsigned long long)h->count);
}

/* The histograms H of the names in NAMES (HIST_SLOTS of each, then "other"). */
static void write_hist_table(struct metrics_out *o, const struct hist_kind *k,
                             const uint64_t *hist_names, const struct hist *h)
{
	metrics_outf(o, "# HELP %s %s\n# TYPE %s histogram\n", k->metric, k->help, k->metric);
	for (size_t i = 0; i < HIST_SLOTS; i++)
		if (hist_names[i] != 0)
			write_hist(o, k, name_of((unsigned)hist_names[i]), &h[i]);
	if (h[HIST_SLOTS].count > 0)
		write_hist(o, k, OTHER, &h[HIST_SLOTS]);
}

static void write_requests(struct metrics_out *o)
{
	metrics_outf(
	    o, "# HELP nodegate_requests_total HTTP requests answered, by listener, backend (- "
	       "when none answered), JSON-RPC method (- when none, other when not rippled's) "
	       "and status code\n"
	       "# TYPE nodegate_requests_total counter\n");
	for (size_t i = 0; i < REQ_SLOTS; i++) {
		uint64_t key = req_key[i];

		if (key == 0)
			continue;
		metrics_outf(o, "nodegate_requests_total{listener=\"");
		metrics_out_label(o, name_of((unsigned)(key >> 48)));
		metrics_outf(o, "\",backend=\"");
		metrics_out_label(o, name_of((unsigned)(key >> 32) & 0xffff));
		metrics_outf(o, "\",method=\"%s\",code=\"%d\"} %llu\n",
		             rpc_label_name((unsigned)(key >> 24) & 0xff), (int)(key & 0xffffff),
		             (unsigned long long)total.req[i]);
	}
	/* code "other" is never a real code: this series cannot clash with a real one */
	if (total.req_other > 0)
		metrics_outf(o,
		             "nodegate_requests_total{listener=\"" OTHER "\",backend=\"" OTHER
		             "\",method=\"" OTHER "\",code=\"" OTHER "\"} %llu\n",
		             (unsigned long long)total.req_other);
	metrics_outf(
	    o,
	    "# HELP nodegate_metrics_labels_dropped_total requests counted under the \"" OTHER
	    "\" label set because the label table was full\n"
	    "# TYPE nodegate_metrics_labels_dropped_total counter\n"
	    "nodegate_metrics_labels_dropped_total %llu\n",
	    (unsigned long long)(total.req_other + ref_other));
}

static void write_refused(struct metrics_out *o)
{
	metrics_outf(o,
	             "# HELP nodegate_rpc_refused_total JSON-RPC requests refused by a listener's "
	             "method policy (never sent to a node), by listener, method and reason\n"
	             "# TYPE nodegate_rpc_refused_total counter\n");
	for (size_t i = 0; i < REF_SLOTS; i++) {
		const struct ref_slot *s = &ref_slot[i];

		if (s->hash == 0)
			continue;
		metrics_outf(o, "nodegate_rpc_refused_total{listener=\"");
		metrics_out_label(o, s->listener);
		metrics_outf(o, "\",method=\"%s\",reason=\"%s\"} %llu\n", s->method,
		             rpc_refusal_names[s->reason], (unsigned long long)s->count);
	}
	if (ref_other > 0)
		metrics_outf(o,
		             "nodegate_rpc_refused_total{listener=\"" OTHER "\",method=\"" OTHER
		             "\",reason=\"" OTHER "\"} %llu\n",
		             (unsigned long long)ref_other);
}

int metrics_write(struct evbuffer *out)
{
	struct metrics_out o = {.b = out};

	pthread_mutex_lock(&mu);
	sum_shards();
	write_requests(&o);
	write_refused(&o);
	write_hist_table(&o, &req_kind, req_hist_name, total.hist);
	write_hist_table(&o, &probe_kind, probe_hist_name, probe_hist);
	pthread_mutex_unlock(&mu);
	return o.rc;
}
