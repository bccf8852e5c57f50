/* Request and probe accounting for /metrics: counters per (listener, backend, status code)
 * and latency histograms. Bounded: label sets beyond a fixed table fold into "other". */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* The index of NAME (a listener's or a backend's, cut at 64 bytes) among the label values:
 * the same name always gets the same index. Taken once, when the listener or backend is
 * made, so that counting a request costs no string work. 0 when the bounded table of names
 * is full: what is counted under 0 goes to the "other" label set. */
unsigned metrics_name(const char *name);
/* One finished request, on the hot path (an index into fixed tables of the calling thread's
 * own, made at its first request: no lock, no allocation, summed at scrape): its
 * LISTENER's and BACKEND's name indexes (metrics_name("-") when no backend answered), its
 * METHOD label (rpc_method_label_index), the status sent to the client, and its duration. */
void metrics_count(unsigned listener, unsigned backend, unsigned method, int status,
                   double duration_ms);
/* The same by names and JSON-RPC METHOD ("" or NULL when none; folded by rpc_method_label). */
void metrics_request(const char *listener, const char *backend, const char *method, int status,
                     double duration_ms);
/* One request LISTENER refused by its method policy: METHOD (folded by rpc_method_label) and
 * REASON (enum rpc_refusal). */
void metrics_refused(const char *listener, const char *method, int reason);
/* Requests of one JSON-RPC method label. */
struct metrics_method {
	const char *name;  /* rpc_method_label's (static), "-" for none */
	uint64_t requests; /* answered, any code */
	uint64_t failed;   /* answered 502, 503 or 504 */
};
/* The requests of the listeners MINE accepts, per method (summed over backends and codes),
 * into OUT: at most MAX methods (the rest is left out); their number. */
size_t metrics_methods(bool (*mine)(const char *listener, void *arg), void *arg,
                       struct metrics_method *out, size_t max);
/* One finished probe of BACKEND (health or freshness) and its duration. */
void metrics_probe(const char *backend, uint64_t duration_us);
/* Appends, in Prometheus text format 0.0.4, nodegate_requests_total{listener,backend,method,
 * code}, nodegate_rpc_refused_total{listener,method,reason},
 * nodegate_metrics_labels_dropped_total, and the histograms
 * nodegate_request_duration_seconds{listener} and nodegate_probe_duration_seconds{backend}.
 * Returns -1 when OUT could not grow (out of memory). */
int metrics_write(struct evbuffer *out) __attribute__((warn_unused_result));
/* Appends VALUE escaped as a label value of the text format (\\, \" and \n). */
int metrics_label(struct evbuffer *out, const char *value) __attribute__((warn_unused_result));

/* A text writer that remembers its first failure, so that a long /metrics page is checked
 * once at the end. */
struct metrics_out {
	struct evbuffer *b;
	int rc;
};
void metrics_outf(struct metrics_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void metrics_out_label(struct metrics_out *o, const char *v);
