/* Outbound deliveries for subscribers: a queue, a few slots in flight, retries; a fleet's
 * sender records each message in the outbox before its first try (outbox.c).
 *
 *   deliver_mail | deliver_post ──► [outbox_record] ──► queue ──► pump ──► slot: attempt
 *   ──► curlev
 *   attempt_done ──► done callback | retry timer ──► attempt | dropped ──► pump */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "clock.h"
#include "health/curlev.h"
#include "ops/deliver.h"
#include "ops/outbox.h"
#include "util.h"

#define USER_AGENT "nodegate-subscriptions"

#define BACKOFF_MAX 3600000ULL /* ms */
#define PICK_SCAN   64         /* queued messages looked at to find one that may start */

const char *const deliver_result_names[DR_COUNT] = {
    [DR_DELIVERED] = "delivered",
    [DR_FAILED] = "failed",
    [DR_DROPPED] = "dropped",
    [DR_QUEUE_FULL] = "queue_full",
};

uint64_t deliver_backoff(uint64_t base, unsigned failures)
{
	uint64_t ms = base;

	for (unsigned i = 1; i < failures && ms < BACKOFF_MAX; i++)
		ms *= 2;
	return ms < BACKOFF_MAX ? ms : BACKOFF_MAX;
}

struct dmsg {
	TAILQ_ENTRY(dmsg) link;
	struct deliver *d;
	char key[OUTBOX_KEY_MAX]; /* its outbox row, "" when not recorded */
	struct outbox_wait *wait; /* its record, until committed: it waits in the queue */
	bool mail;
	char *to;   /* mail: the recipient; post: the URL */
	char *body; /* owned */
	size_t len;
	deliver_done_fn done;
	int64_t tag;
	unsigned tries;
	char last[200]; /* why the last try failed */
};
TAILQ_HEAD(dmsg_queue, dmsg);

struct slot {
	struct deliver *d;
	struct dmsg *m; /* in flight or waiting for its retry; NULL: free */
	struct curlev_job job;
	struct curl_slist *rcpt, *hdr;
	char errbuf[CURL_ERROR_SIZE];
	size_t off;                        /* of the mail body sent */
	char got[DELIVER_CAPTURE_MAX + 1]; /* the HTTP answer, cut */
	size_t n_got;
	struct event *retry;
};

struct deliver {
	char *name;
	struct event_base *base;
	struct deliver_conf c; /* strings owned */
	struct dmsg_queue queue;
	size_t n_queued;
	struct slot slots[DELIVER_FLIGHT_MAX];
	uint64_t counts[DR_COUNT];
};

static void conf_clear(struct deliver_conf *c)
{
	free((char *)c->smtp_url);
	free((char *)c->from);
	free((char *)c->username);
	if (c->password != NULL)
		explicit_bzero((char *)c->password, strlen(c->password));
	free((char *)c->password);
	memset(c, 0, sizeof(*c));
}

static void dmsg_free(struct dmsg *m)
{
	if (m == NULL)
		return;
	outbox_cancel(&m->wait);
	free(m->to);
	free(m->body);
	free(m);
}

static void pump(struct deliver *d);
static void attempt(struct slot *s);

static void slot_end(struct slot *s)
{
	if (s->job.easy != NULL)
		curl_easy_cleanup(s->job.easy);
	s->job.easy = NULL;
	curl_slist_free_all(s->rcpt);
	curl_slist_free_all(s->hdr);
	s->rcpt = s->hdr = NULL;
}

/* The message of S is done: told, freed, and the slot takes the next. */
static void finish(struct slot *s, bool ok, long code)
{
	struct dmsg *m = s->m;

	s->m = NULL;
	if (!ok) {
		s->d->counts[DR_DROPPED]++;
		log_warn("%s: message dropped after %u %s: %s", s->d->name, m->tries,
		         m->tries == 1 ? "try" : "tries", m->last);
	}
	outbox_done(m->key, ok);
	if (m->done != NULL)
		m->done(ok, code, m->mail ? "" : s->got, ok ? "" : m->last, m->tag);
	dmsg_free(m);
	pump(s->d);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	attempt(arg);
}

static void failed(struct slot *s, const char *why, long code)
{
	struct dmsg *m = s->m;

	snprintf(m->last, sizeof(m->last), "%s", why);
	s->d->counts[DR_FAILED]++;
	if (m->tries > s->d->c.retries) {
		finish(s, false, code);
		return;
	}
	uint64_t ms = deliver_backoff(s->d->c.backoff, m->tries);
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	log_debug("%s: try %u failed: %s; retry in %llums", s->d->name, m->tries, why,
	          (unsigned long long)ms);
	evtimer_add(s->retry, &tv);
}

static void attempt_done(struct curlev_job *job, CURLcode res)
{
	struct slot *s = (struct slot *)((char *)job - offsetof(struct slot, job));
	long code = 0;
	char why[200];
	bool mail = s->m->mail;

	curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &code);
	if (res == CURLE_OPERATION_TIMEDOUT)
		snprintf(why, sizeof(why), "timeout after %llums",
		         (unsigned long long)s->d->c.timeout);
	else if (res != CURLE_OK) /* libcurl's words, not its error buffer: that one may name
	                           * the receiver's host, a subscriber's address */
		snprintf(why, sizeof(why), "%.150s", curl_easy_strerror(res));
	else
		snprintf(why, sizeof(why), "%s %ld", mail ? "SMTP" : "HTTP", code);
	slot_end(s);
	s->got[s->n_got] = '\0';
	if (res != CURLE_OK || (!mail && (code < 200 || code > 299))) {
		failed(s, why, code);
		return;
	}
	s->d->counts[DR_DELIVERED]++;
	finish(s, true, code);
}

static size_t capture(char *data, size_t size, size_t n, void *arg)
{
	struct slot *s = arg;
	size_t len = size * n, room = DELIVER_CAPTURE_MAX - s->n_got;

	memcpy(s->got + s->n_got, data, len < room ? len : room);
	s->n_got += len < room ? len : room;
	return len; /* the rest is read and dropped */
}

static size_t upload(char *buf, size_t size, size_t n, void *arg)
{
	struct slot *s = arg;
	size_t left = s->m->len - s->off, len = size * n < left ? size * n : left;

	memcpy(buf, s->m->body + s->off, len);
	s->off += len;
	return len;
}

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
	return size * n;
}

void deliver_easy_setup(CURL *e, const struct deliver_easy *x)
{
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)x->timeout);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)x->timeout);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, x->write != NULL ? x->write : discard);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x->write_arg);
	curl_easy_setopt(e, CURLOPT_USERAGENT, x->user_agent);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, x->tls_verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, x->tls_verify ? 2L : 0L);
	if (x->tls_ca != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, x->tls_ca);
	if (x->mail) {
		/* a connection of its own: libcurl would reuse an SMTP connection that STARTTLS
		 * upgraded without comparing the TLS settings (another channel's tls_ca or
		 * tls_verify = no would stand for this one's) */
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
		curl_easy_setopt(e, CURLOPT_MAIL_FROM, x->from);
		curl_easy_setopt(e, CURLOPT_MAIL_RCPT, x->rcpt);
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, x->read);
		curl_easy_setopt(e, CURLOPT_READDATA, x->read_arg);
		curl_easy_setopt(e, CURLOPT_INFILESIZE, (long)x->body_len);
		if (x->starttls)
			curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
		if (x->username != NULL) {
			curl_easy_setopt(e, CURLOPT_USERNAME, x->username);
			curl_easy_setopt(e, CURLOPT_PASSWORD, x->password);
		}
	} else {
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)x->body_len);
	}
}

static int setup(struct slot *s, CURL *e)
{
	const struct deliver_conf *c = &s->d->c;
	struct dmsg *m = s->m;
	struct deliver_easy x = {.url = m->to,
	                         .user_agent = USER_AGENT,
	                         .timeout = c->timeout,
	                         .errbuf = s->errbuf,
	                         .tls_verify = c->tls_verify,
	                         .write = capture,
	                         .write_arg = s,
	                         .mail = m->mail,
	                         .body = m->body,
	                         .body_len = m->len};

	if (m->mail) {
		if (c->smtp_url == NULL || (s->rcpt = curl_slist_append(NULL, m->to)) == NULL)
			return -1;
		x.url = c->smtp_url;
		x.from = c->from;
		x.rcpt = s->rcpt;
		x.starttls = c->starttls;
		x.username = c->username;
		x.password = c->password != NULL ? c->password : "";
		x.read = upload;
		x.read_arg = s;
	} else if ((s->hdr = x.headers =
	                curl_slist_append(NULL, "Content-Type: application/json")) == NULL) {
		return -1;
	}
	deliver_easy_setup(e, &x);
	return 0;
}

static void attempt(struct slot *s)
{
	char err[160];

	s->m->tries++;
	s->errbuf[0] = '\0';
	s->off = 0;
	s->n_got = 0;
	s->job.easy = curl_easy_init();
	s->job.done = attempt_done;
	if (s->job.easy == NULL || setup(s, s->job.easy) < 0) {
		slot_end(s);
		failed(s,
		       s->m->mail && s->d->c.smtp_url == NULL ? "no SMTP server" : "out of memory",
		       0);
		return;
	}
	if (curlev_start(&s->job, err, sizeof(err)) < 0) {
		slot_end(s);
		failed(s, err, 0);
	}
}

/* Whether a message to TO is in flight (or waiting for its retry). */
static bool busy(const struct deliver *d, const char *to)
{
	for (size_t i = 0; i < DELIVER_FLIGHT_MAX; i++)
		if (d->slots[i].m != NULL && strcmp(d->slots[i].m->to, to) == 0)
			return true;
	return false;
}

/* The next message to start: the oldest of the first PICK_SCAN whose recipient has none in
 * flight, so that one recipient gets its messages in order (an incident's open before its
 * resolve) while others go alongside. NULL when none may start. */
static struct dmsg *next_msg(const struct deliver *d)
{
	size_t n = 0;

	for (struct dmsg *m = TAILQ_FIRST(&d->queue); m != NULL && n < PICK_SCAN;
	     m = TAILQ_NEXT(m, link), n++) {
		if (busy(d, m->to))
			continue;
		if (m->wait != NULL) /* its record is not committed: the next one waits too */
			return NULL;
		return m;
	}
	return NULL;
}

static void pump(struct deliver *d)
{
	for (size_t i = 0; i < d->c.in_flight && i < DELIVER_FLIGHT_MAX; i++) {
		struct slot *s = &d->slots[i];
		struct dmsg *m;

		if (s->m != NULL)
			continue;
		if ((m = next_msg(d)) == NULL)
			return;
		TAILQ_REMOVE(&d->queue, m, link);
		d->n_queued--;
		s->m = m;
		attempt(s);
	}
}

struct deliver *deliver_new(struct event_base *base, const char *name)
{
	struct deliver *d = calloc(1, sizeof(*d));

	if (d == NULL || (d->name = strdup(name)) == NULL)
		goto fail;
	d->base = base;
	d->c.in_flight = 1;
	TAILQ_INIT(&d->queue);
	for (size_t i = 0; i < DELIVER_FLIGHT_MAX; i++) {
		d->slots[i].d = d;
		if ((d->slots[i].retry = evtimer_new(base, retry_cb, &d->slots[i])) == NULL)
			goto fail;
	}
	if (curlev_init(base) != 0)
		goto fail;
	return d;
fail:
	for (size_t i = 0; d != NULL && i < DELIVER_FLIGHT_MAX; i++)
		if (d->slots[i].retry != NULL)
			event_free(d->slots[i].retry);
	if (d != NULL)
		free(d->name);
	free(d);
	return NULL;
}

int deliver_set(struct deliver *d, const struct deliver_conf *c)
{
	struct deliver_conf n = *c;

	n.smtp_url = dup_or_null(c->smtp_url);
	n.from = dup_or_null(c->from);
	n.username = dup_or_null(c->username);
	n.password = dup_or_null(c->password);
	if ((c->smtp_url != NULL && n.smtp_url == NULL) || (c->from != NULL && n.from == NULL) ||
	    (c->username != NULL && n.username == NULL) ||
	    (c->password != NULL && n.password == NULL)) {
		conf_clear(&n);
		return -1;
	}
	if (n.in_flight < 1)
		n.in_flight = 1;
	if (n.in_flight > DELIVER_FLIGHT_MAX)
		n.in_flight = DELIVER_FLIGHT_MAX;
	conf_clear(&d->c);
	d->c = n;
	pump(d);
	return 0;
}

static void recorded(void *arg)
{
	struct dmsg *m = arg;

	pump(m->d);
}

/* Queues a message; RECORD: in the outbox first when this is a fleet's sender; KEY: a row
 * replayed (recorded already), NULL otherwise. */
static int push(struct deliver *d, bool mail, const char *to, char *body, deliver_done_fn done,
                int64_t tag, bool record, const char *key)
{
	struct dmsg *m;

	if (body == NULL || d->n_queued >= d->c.queue_size || (mail && d->c.smtp_url == NULL) ||
	    (m = calloc(1, sizeof(*m))) == NULL) {
		d->counts[DR_QUEUE_FULL]++;
		free(body);
		return -1;
	}
	m->d = d;
	m->mail = mail;
	m->to = strdup(to);
	m->body = body;
	m->len = strlen(body);
	m->done = done;
	m->tag = tag;
	if (m->to == NULL) {
		d->counts[DR_QUEUE_FULL]++;
		dmsg_free(m);
		return -1;
	}
	if (key != NULL) { /* a dead sender's, older than what waits */
		snprintf(m->key, sizeof(m->key), "%s", key);
		TAILQ_INSERT_HEAD(&d->queue, m, link);
	} else {
		TAILQ_INSERT_TAIL(&d->queue, m, link);
	}
	d->n_queued++;
	if (key == NULL && record && outbox_wanted())
		outbox_record(m->key,
		              &(struct outbox_row){
		                  .channel = d->name, .target = to, .tag = tag, .body = body},
		              recorded, m, &m->wait);
	else
		pump(d);
	return 0;
}

int deliver_mail(struct deliver *d, const char *rcpt, char *body, deliver_done_fn done, int64_t tag)
{
	return push(d, true, rcpt, body, done, tag, true, NULL);
}

int deliver_post(struct deliver *d, const char *url, char *body, deliver_done_fn done, int64_t tag)
{
	return push(d, false, url, body, done, tag, true, NULL);
}

int deliver_challenge(struct deliver *d, const char *url, char *body, deliver_done_fn done,
                      int64_t tag)
{
	return push(d, false, url, body, done, tag, false, NULL);
}

int deliver_replay(struct deliver *d, bool mail, const char *key, const char *to, const char *body,
                   deliver_done_fn done, int64_t tag)
{
	char *copy = strdup(body);

	if (copy == NULL)
		return -1;
	return push(d, mail, to, copy, done, tag, false, key);
}

const char *deliver_name(const struct deliver *d)
{
	return d->name;
}

uint64_t deliver_count(const struct deliver *d, enum deliver_result r)
{
	return d != NULL && r < DR_COUNT ? d->counts[r] : 0;
}

size_t deliver_queued(const struct deliver *d)
{
	return d != NULL ? d->n_queued : 0;
}

void deliver_free(struct deliver *d)
{
	struct dmsg *m;

	if (d == NULL)
		return;
	for (size_t i = 0; i < DELIVER_FLIGHT_MAX; i++) {
		struct slot *s = &d->slots[i];

		curlev_stop(&s->job);
		slot_end(s);
		event_free(s->retry);
		dmsg_free(s->m);
	}
	while ((m = TAILQ_FIRST(&d->queue)) != NULL) {
		TAILQ_REMOVE(&d->queue, m, link);
		dmsg_free(m);
	}
	conf_clear(&d->c);
	curlev_deinit();
	free(d->name);
	free(d);
}

char *deliver_read_secret(const char *path, char *err, size_t errlen)
{
	char buf[DELIVER_SECRET_MAX];
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		snprintf(err, errlen, "%s: empty (expected the secret on its first line)", path);
		return NULL;
	}
	char *s = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return s;
}
