/* Request and probe accounting for /metrics: fixed tables filled on the hot path (an index
 * and an increment: names are given their index once, never an allocation) and written out
 * in Prometheus text format. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
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

/* A label set: the listener's and the backend's name indexes (metrics_name), the method
 * label (rpc_method_label_index) and the status code, in one word. */
struct req_slot {
	uint64_t key; /* 0: free (name indexes start at 1) */
	uint64_t count;
};

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

struct hist_slot {
	unsigned name; /* metrics_name(); 0: free */
	struct hist h;
};

/* Histograms by one label: a slot per name, and one for names that did not fit. */
struct hist_table {
	const char *metric; /* "nodegate_request_duration_seconds" */
	const char *label;  /* "listener" */
	const char *help;
	struct hist_slot slot[HIST_SLOTS];
	struct hist other;
};

/* The names that have an index: index i is names[i - 1]. */
struct name_slot {
	uint64_t hash; /* 0: free */
	char name[NAME_LEN];
};

static struct name_slot names[NAME_SLOTS];
static struct req_slot req_slot[REQ_SLOTS];
static uint64_t req_other;      /* requests whose label set did not fit */
static uint64_t labels_dropped; /* = req_other + ref_other, as its own counter for alerting */
static struct ref_slot ref_slot[REF_SLOTS];
static uint64_t ref_other;

static struct hist_table req_hist = {
    .metric = "nodegate_request_duration_seconds",
    .label = "listener",
    .help = "time from the start of a request to the end of its response, by listener",
};
static struct hist_table probe_hist = {
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

/* The histogram of the name of index NAME in T, or T's "other" when the table has no room
 * for it (or NAME is 0: a name without an index). */
static struct hist *hist_find(struct hist_table *t, unsigned name)
{
	for (size_t i = 0; name != 0 && i < HIST_PROBES; i++) {
		struct hist_slot *s = &t->slot[(name * 0x9e3779b1u + i) & (HIST_SLOTS - 1)];

		if (s->name == 0)
			s->name = name;
		if (s->name == name)
			return &s->h;
	}
	return &t->other;
}

/* The workers share the tables: one lock, held for a lookup and an increment. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

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
	h->bucket[b]++;
	h->count++;
	h->sum += seconds;
}

/* The label set is looked up in at most REQ_PROBES slots from its hash: a set that is not
 * there and finds no free slot there is in no other slot either (it would have been put in
 * the first free one), so a full table costs no more than a crowded one. */
void metrics_count(unsigned listener, unsigned backend, unsigned method, int status,
                   double duration_ms)
{
	uint64_t key = (uint64_t)listener << 48 | (uint64_t)backend << 32 |
	               (uint64_t)(method & 0xff) << 24 | ((uint32_t)status & 0xffffff);
	size_t h = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> (64 - REQ_BITS)), i;

	pthread_mutex_lock(&mu);
	for (i = 0; listener != 0 && backend != 0 && i < REQ_PROBES; i++) {
		struct req_slot *s = &req_slot[(h + i) & (REQ_SLOTS - 1)];

		if (s->key == 0)
			s->key = key;
		else if (s->key != key)
			continue;
		s->count++;
		break;
	}
	if (listener == 0 || backend == 0 || i == REQ_PROBES) {
		req_other++;
		labels_dropped++;
	}
	hist_add(hist_find(&req_hist, listener), duration_ms / 1000.0);
	pthread_mutex_unlock(&mu);
}

void metrics_request(const char *listener, const char *backend, const char *method, int status,
                     double duration_ms)
{
	metrics_count(metrics_name(listener), metrics_name(backend), rpc_method_label_index(method),
	              status, duration_ms);
}

size_t metrics_methods(bool (*mine)(const char *listener, void *arg), void *arg,
                       struct metrics_method *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < REQ_SLOTS; i++) {
		const struct req_slot *s = &req_slot[i];
		size_t j = 0;

		if (s->key == 0 || !mine(name_of((unsigned)(s->key >> 48)), arg))
			continue;
		const char *method = rpc_label_name((unsigned)(s->key >> 24) & 0xff);
		int code = (int)(s->key & 0xffffff);
		while (j < n && strcmp(out[j].name, method) != 0)
			j++;
		if (j == n && n == max)
			continue;
		if (j == n)
			out[n++] = (struct metrics_method){method, 0, 0};
		out[j].requests += s->count;
		out[j].failed += code >= 502 && code <= 504 ? s->count : 0;
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
	labels_dropped++;
	pthread_mutex_unlock(&mu);
}

void metrics_probe(const char *backend, uint64_t duration_us)
{
	pthread_mutex_lock(&mu);
	hist_add(hist_find(&probe_hist, name_index(backend)), (double)duration_us / 1e6);
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
static void write_hist(struct metrics_out *o, const struct hist_table *t, const char *name,
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

static void write_hist_table(struct metrics_out *o, const struct hist_table *t)
{
	metrics_outf(o, "# HELP %s %s\n# TYPE %s histogram\n", t->metric, t->help, t->metric);
	for (size_t i = 0; i < HIST_SLOTS; i++)
		if (t->slot[i].name != 0)
			write_hist(o, t, name_of(t->slot[i].name), &t->slot[i].h);
	if (t->other.count > 0)
		write_hist(o, t, OTHER, &t->other);
}

static void write_requests(struct metrics_out *o)
{
	metrics_outf(
	    o, "# HELP nodegate_requests_total HTTP requests answered, by listener, backend (- "
	       "when none answered), JSON-RPC method (- when none, other when not rippled's) "
	       "and status code\n"
	       "# TYPE nodegate_requests_total counter\n");
	for (size_t i = 0; i < REQ_SLOTS; i++) {
		const struct req_slot *s = &req_slot[i];

		if (s->key == 0)
			continue;
		metrics_outf(o, "nodegate_requests_total{listener=\"");
		metrics_out_label(o, name_of((unsigned)(s->key >> 48)));
		metrics_outf(o, "\",backend=\"");
		metrics_out_label(o, name_of((unsigned)(s->key >> 32) & 0xffff));
		metrics_outf(o, "\",method=\"%s\",code=\"%d\"} %llu\n",
		             rpc_label_name((unsigned)(s->key >> 24) & 0xff),
		             (int)(s->key & 0xffffff), (unsigned long long)s->count);
	}
	/* code "other" is never a real code: this series cannot clash with a real one */
	if (req_other > 0)
		metrics_outf(o,
		             "nodegate_requests_total{listener=\"" OTHER "\",backend=\"" OTHER
		             "\",method=\"" OTHER "\",code=\"" OTHER "\"} %llu\n",
		             (unsigned long long)req_other);
	metrics_outf(
	    o,
	    "# HELP nodegate_metrics_labels_dropped_total requests counted under the \"" OTHER
	    "\" label set because the label table was full\n"
	    "# TYPE nodegate_metrics_labels_dropped_total counter\n"
	    "nodegate_metrics_labels_dropped_total %llu\n",
	    (unsigned long long)labels_dropped);
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
	write_requests(&o);
	write_refused(&o);
	write_hist_table(&o, &req_hist);
	write_hist_table(&o, &probe_hist);
	pthread_mutex_unlock(&mu);
	return o.rc;
}
