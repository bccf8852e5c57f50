/* Outbound deliveries that are not alerts (subscriber mail and webhooks): a bounded queue of
 * ready-made messages, a few transfers in flight on the loop through libcurl (curlev.c, the
 * multi handle alerts use), one per recipient at a time (its messages keep their order),
 * retried with deliver_backoff (alert_backoff is the same), every outcome counted
 * (delivered, failed, dropped, queue_full: the words of alert_result). The caller builds the
 * message; a callback hears the end (and, for HTTP, up to DELIVER_CAPTURE_MAX bytes of the
 * answer: a webhook's challenge). deliver_easy_setup makes every outbound transfer, alert
 * channels' too. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "log.h"

struct event_base;
struct deliver;

#define DELIVER_CAPTURE_MAX 1024 /* bytes of an HTTP answer kept for the callback */
#define DELIVER_FLIGHT_MAX  8    /* transfers in flight per queue */

/* How a queue delivers: limits, and the SMTP server for mail (strings copied). */
struct deliver_conf {
	size_t queue_size;    /* messages waiting; more are refused (queue_full) */
	size_t in_flight;     /* transfers at once, 1..DELIVER_FLIGHT_MAX */
	unsigned retries;     /* after the first try */
	uint64_t backoff;     /* ms before the first retry, doubled each time */
	uint64_t timeout;     /* ms per try, connect included */
	const char *smtp_url; /* smtp:// or smtps://, NULL: no mail */
	const char *from;     /* the envelope sender */
	const char *username; /* SMTP AUTH, NULL: none */
	const char *password; /* a secret: never logged */
	bool starttls;        /* require STARTTLS on smtp:// */
	bool tls_verify;      /* verify the server's certificate */
};

/* What became of a message, or of one try. */
enum deliver_result {
	DR_DELIVERED = 0, /* a try succeeded: HTTP 2xx, or the SMTP server took it */
	DR_FAILED,        /* a try failed (retried while tries are left) */
	DR_DROPPED,       /* every try failed: the message is given up */
	DR_QUEUE_FULL,    /* not queued: queue_size were waiting (or no SMTP server, no memory) */
	DR_COUNT
};
extern const char *const deliver_result_names[DR_COUNT];

/* The wait before the retry after FAILURES failed tries (1, 2, ...): BASE doubled each
 * time, at most one hour (alert channels wait the same). */
uint64_t deliver_backoff(uint64_t base, unsigned failures);

/* Called on the loop when a message is done: OK (SMTP accepted it, or HTTP 2xx), CODE the
 * last HTTP or SMTP code (0: none), BODY what an HTTP answer said (NUL-terminated, "" for
 * mail), WHY the last failure ("" when OK). TAG is the caller's. */
typedef void (*deliver_done_fn)(bool ok, long code, const char *body, const char *why, int64_t tag);

/* NAME names the queue in the log ("subscriptions mail"). NULL when out of memory. */
struct deliver *deliver_new(struct event_base *base, const char *name);
/* New settings (a reload); transfers in flight finish with the old ones. -1: out of memory
 * (nothing changed). */
int deliver_set(struct deliver *d, const struct deliver_conf *c) WUR;
/* Queues a mail of BODY (CRLF lines, headers first; taken over: freed by the queue) to
 * RCPT. 0 queued; -1 refused (queue full, no SMTP server, out of memory), counted. A fleet's
 * sender records it in the outbox (ops/outbox.h: the queue's name is its channel) before
 * its first try and confirms it after. */
int deliver_mail(struct deliver *d, const char *rcpt, char *body, deliver_done_fn done,
                 int64_t tag);
/* Queues a JSON POST of BODY (taken over) to URL; recorded as a mail is. */
int deliver_post(struct deliver *d, const char *url, char *body, deliver_done_fn done, int64_t tag);
/* The same, never recorded: a webhook's challenge, whose answer only the instance that asked
 * can use. */
int deliver_challenge(struct deliver *d, const char *url, char *body, deliver_done_fn done,
                      int64_t tag) WUR;
/* A message a dead sender left pending (outbox row KEY): BODY (copied) to TO, first in the
 * queue, confirmed under KEY when done. */
int deliver_replay(struct deliver *d, bool mail, const char *key, const char *to, const char *body,
                   deliver_done_fn done, int64_t tag) WUR;
/* The queue's name (the outbox's channel of its messages). */
const char *deliver_name(const struct deliver *d);
/* Outcomes so far. */
uint64_t deliver_count(const struct deliver *d, enum deliver_result r);
size_t deliver_queued(const struct deliver *d);
/* Stops what is in flight (callbacks not called) and drops the queue. */
void deliver_free(struct deliver *d);

/* ---- one transfer, as alert channels and these queues both make them --------------------- */

/* The options of one outbound message: an HTTP POST of BODY, or a mail uploaded through
 * READ. Strings are copied by libcurl except RCPT, HEADERS and BODY, which must outlive the
 * transfer. */
struct deliver_easy {
	const char *url; /* http(s):// or smtp(s):// */
	const char *user_agent;
	uint64_t timeout; /* ms per try, connect included */
	char *errbuf;     /* CURL_ERROR_SIZE bytes */
	bool tls_verify;
	const char *tls_ca;        /* NULL: the system store */
	curl_write_callback write; /* what the receiver answers (NULL: not wanted) */
	void *write_arg;
	bool mail;
	/* mail: envelope, STARTTLS, login, and the message read through READ */
	const char *from;
	struct curl_slist *rcpt;
	bool starttls;
	const char *username, *password;
	curl_read_callback read;
	void *read_arg;
	/* HTTP: headers (Content-Type among them) */
	struct curl_slist *headers;
	const char *body;
	size_t body_len;
};
/* Sets X's options on E. A mail gets a connection of its own (FRESH_CONNECT, FORBID_REUSE):
 * libcurl would reuse an SMTP connection that STARTTLS upgraded without comparing TLS
 * settings; no proxy from the environment; no signals. */
void deliver_easy_setup(CURL *e, const struct deliver_easy *x);

#define DELIVER_SECRET_MAX 4096 /* bytes of a secret file's first line */
/* The first line of PATH without its line end (a password or key: never logged), or NULL
 * with ERR saying why (cannot open, empty). The copy read is wiped. */
char *deliver_read_secret(const char *path, char *err, size_t errlen);
