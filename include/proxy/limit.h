/* Per-client limits: CIDR lists (limit_exempt, trusted_proxies) and a bounded table of client
 * addresses with their open connections and a token bucket. Pure logic: no I/O, no clock
 * (the time is an argument, in milliseconds). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LIMIT_ADDR_TEXT 46 /* INET6_ADDRSTRLEN: the longest text of an address */

/* A client address. IPv4 is kept as IPv4-mapped IPv6 (::ffff:a.b.c.d), so that a peer on a
 * dual-stack socket and a dotted-quad list entry compare the same. */
struct limit_addr {
	uint8_t b[16];
};

/* Why a client was refused; one name table serves logs and /metrics. */
enum limit_reason {
	LIMIT_CONNS = 0, /* max_conns_per_ip */
	LIMIT_RATE,      /* rate_per_ip / burst_per_ip */
	LIMIT_REASON_COUNT
};
extern const char *const limit_reason_names[LIMIT_REASON_COUNT];

/* From a socket address (AF_INET or AF_INET6); false for any other family. */
bool limit_addr_from_sockaddr(const struct sockaddr *sa, struct limit_addr *out);
/* From the text of one address: "192.0.2.1", "2001:db8::1", and, as proxies write them in
 * X-Forwarded-For, "192.0.2.1:4711", "[2001:db8::1]" and "[2001:db8::1]:4711". LEN bytes of
 * S are read (no NUL needed). False when it is not an address. */
bool limit_addr_parse(const char *s, size_t len, struct limit_addr *out);
/* "192.0.2.1" for IPv4 (mapped), "2001:db8::1" otherwise; BUF holds LIMIT_ADDR_TEXT. */
void limit_addr_format(const struct limit_addr *a, char *buf, size_t len);
bool limit_addr_is_v4(const struct limit_addr *a);

/* ---- CIDR lists -------------------------------------------------------------------------- */

/* A parsed list like "127.0.0.0/8, ::1, 10.1.2.3" (a bare address is /32 or /128).
 * Immutable once parsed. */
struct limit_cidrs;

/* Parses TEXT (NULL or empty: an empty list, which matches nothing). On failure *OUT is NULL
 * and ERR says which item is wrong and what was expected. */
int limit_cidrs_parse(const char *text, struct limit_cidrs **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void limit_cidrs_free(struct limit_cidrs *l);
/* Whether A is inside one of the list's networks; a NULL list matches nothing. */
bool limit_cidrs_match(const struct limit_cidrs *l, const struct limit_addr *a);

/* ---- the client table -------------------------------------------------------------------- */

/* Counters of one table, for /metrics. */
struct limit_counters {
	uint64_t limited[LIMIT_REASON_COUNT]; /* refusals by reason */
	uint64_t evictions;                   /* clients forgotten to make room */
	uint64_t evicted_busy; /* of which had open connections (their count was lost) */
	size_t tracked;        /* clients in the table now */
};

/* Client addresses of one listener, at most MAX of them (>= 1). When a new client needs room,
 * the least recently seen client without open connections is forgotten, or, when every
 * tracked client has some, the least recently seen of all. Lookups are O(1): a hash keyed
 * with SEED (pick it at random: clients choose their addresses) and two intrusive LRU lists.
 * NULL when out of memory. */
struct limit_table *limit_table_new(size_t max, uint64_t seed);
void limit_table_free(struct limit_table *t);
/* A reload changed max_tracked_clients: forgets clients down to MAX. -1: out of memory (the
 * old size stays). */
int limit_table_resize(struct limit_table *t, size_t max) __attribute__((warn_unused_result));
/* A copy of T's counters (the workers may be writing them). */
struct limit_counters limit_table_counters(struct limit_table *t);

/* A connection from A opens. MAX_CONNS 0: no limit. True when it may stay: it is counted and
 * the caller must call limit_conn_close once it ends. False: A already has MAX_CONNS open
 * (counted as LIMIT_CONNS; nothing to close). */
bool limit_conn_open(struct limit_table *t, const struct limit_addr *a, uint64_t max_conns);
/* A counted connection from A ended. A client forgotten meanwhile is ignored. */
void limit_conn_close(struct limit_table *t, const struct limit_addr *a);
/* A request (or WebSocket message) from A costs one token of a bucket that holds BURST tokens
 * and refills at RATE per second (a new client starts full). True when there was one. False:
 * the bucket is empty (counted as LIMIT_RATE) and *RETRY_AFTER_MS says when the next token
 * is there. RATE 0: no limit, always true. BURST 0 means RATE. */
bool limit_take(struct limit_table *t, const struct limit_addr *a, uint64_t rate, uint64_t burst,
                uint64_t now_ms, uint64_t *retry_after_ms);
