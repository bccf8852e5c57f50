/* Mirrors: a static copy of the status page pushed elsewhere, so that it outlives nodegate's
 * host. A copy is built on the loop (the page, status.json, the feeds: what GET / and its
 * neighbours would answer now) and pushed off it, one push at a time per mirror:
 *
 *   on_bus_done (a public change), tick (every interval) ──► request
 *   request: idle ──► push_start (copy_build) ──► dir: the mirror's thread (write_files)
 *                                             └─► http, s3: file by file through curlev
 *            busy or waiting for a retry ──► pending (coalesced: the next push takes the
 *                                           newest copy)
 *   push_end ──► ok: pending? push again | failed: retry after the backoff
 *
 * A folder is written by a thread of the mirror's own (a stuck file system never holds the
 * loop; temp file then rename, so a reader never sees half a file); WebDAV and S3 go through
 * libcurl multi on the loop. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "util.h"
#include "bus.h"
#include "clock.h"
#include "health/curlev.h"
#include "log.h"
#include "metrics.h"
#include "ops/deliver.h"
#include "ops/feed.h"
#include "ops/mirror.h"
#include "ops/sender.h"
#include "ops/page.h"
#include "ops/status.h"
#include "registry.h"

#define USER_AGENT "nodegate-mirror"
#define NAME_MAX_  128 /* a file's name in the copy: "pools/NAME/feed.atom" */
#define URL_MAX    1024
#define KICK_MS    20 /* a change starts a push this soon (a burst of events: one push) */

const char *const mirror_result_names[MR_RESULT_COUNT] = {
    [MR_OK] = "ok",
    [MR_FAILED] = "failed",
};

/* ---- pure helpers -------------------------------------------------------------------------- */

uint64_t mirror_backoff(uint64_t base, unsigned failures, uint64_t cap)
{
	uint64_t ms = base;

	for (unsigned i = 1; i < failures && ms < cap; i++)
		ms *= 2;
	return ms < cap ? ms : cap;
}

int mirror_s3_url(const char *url, const char *endpoint, const char *region, const char *name,
                  char *buf, size_t len)
{
	const char *b = url, *slash;
	size_t nb, np;
	char def[256];
	int n;

	if (strncasecmp(b, "s3://", 5) != 0)
		return -1;
	b += 5;
	slash = strchr(b, '/');
	nb = slash != NULL ? (size_t)(slash - b) : strlen(b);
	if (nb == 0)
		return -1;
	const char *prefix = slash != NULL ? slash + 1 : "";
	np = strlen(prefix);
	while (np > 0 && prefix[np - 1] == '/')
		np--;
	if (endpoint == NULL) {
		snprintf(def, sizeof(def), "https://s3.%s.amazonaws.com", region);
		endpoint = def;
	}
	size_t ne = strlen(endpoint);
	while (ne > 0 && endpoint[ne - 1] == '/')
		ne--;
	n = snprintf(buf, len, "%.*s/%.*s/%.*s%s%s", (int)ne, endpoint, (int)nb, b, (int)np, prefix,
	             np > 0 ? "/" : "", name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* ---- the copy ------------------------------------------------------------------------------ */

struct mfile {
	char
	    name[NAME_MAX_]; /* relative to the mirror's root: "index.html", "pools/rpc/feed.rss" */
	const char *type;    /* Content-Type */
	char *data;
	size_t len;
};

struct copy {
	int64_t generated; /* Unix ms */
	struct mfile *f;
	size_t n;
};

static void copy_free(struct copy *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->f[i].data);
	free(c->f);
	free(c);
}

/* Takes what B holds as file NAME of C. */
static int take(struct copy *c, const char *name, const char *type, struct evbuffer *b)
{
	struct mfile *f = &c->f[c->n];
	size_t len = evbuffer_get_length(b);

	snprintf(f->name, sizeof(f->name), "%s", name);
	f->type = type;
	f->len = len;
	f->data = malloc(len + 1);
	if (f->data == NULL || evbuffer_remove(b, f->data, len) != (ev_ssize_t)len)
		return -1;
	c->n++;
	return 0;
}

/* ---- a mirror ------------------------------------------------------------------------------ */

/* A mirror's settings, secrets included; a push keeps those it started with. */
struct mconf {
	int kind;   /* enum mirror_kind */
	char *root; /* dir: the folder; webdav: the URL ending in '/'; s3: the url as written */
	char *endpoint, *region, *access_key, *secret, *username, *password;
	char *feed_base; /* where readers reach the copy, ending in '/' */
	char *live_url;  /* [status] public_url, or NULL */
	char *authority; /* tag: ids (the same as the live feeds') */
	uint64_t interval, timeout, retry_backoff;
	bool tls_verify;
	char *tls_ca;
};

enum mstate {
	MS_IDLE = 0, /* nothing in flight */
	MS_PUSHING,  /* a push in flight */
	MS_WAITING,  /* a push failed: the retry timer runs */
};

/* The folder thread's one job and its outcome, under mu. */
struct dirjob {
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop;
	char *dir;         /* the job's folder (owned) */
	struct copy *copy; /* the job (the loop does not touch it meanwhile), NULL: none */
	bool done, ok;
	char why[256];
	int efd; /* eventfd: the thread says "done" */
	struct event *ev;
};

struct mirror {
	char *name;
	struct mconf *cf, *flight; /* settings now; those of the push in flight */
	enum mstate state;
	bool pending; /* a request came while busy: push again right after */
	struct copy *copy;
	size_t file;      /* the file of the copy being sent */
	size_t mkcol;     /* webdav: parent folders created for it so far (+1 while at it) */
	bool mkcol_tried; /* webdav: its parents were made once already */
	struct curlev_job job;
	struct curl_slist *hdr;
	char errbuf[CURL_ERROR_SIZE];
	char url[URL_MAX];
	char answer[512]; /* the start of the server's answer */
	size_t answer_len;
	unsigned failures; /* pushes failed in a row */
	uint64_t counts[MR_RESULT_COUNT], coalesced;
	int64_t last_ok;           /* Unix ms a push last ended well, 0: never */
	int64_t last_ok_generated; /* ... and when its copy was made */
	uint64_t started;          /* monotonic ms the push in flight started */
	struct event *tick, *retry, *kick;
	uint64_t tick_every;
	struct dirjob *dj;
	bool seen; /* mirror_apply: still configured */
};

static struct {
	struct event_base *base;
	bool on;
	struct mirror **m;
	size_t n;
	bool changed; /* a bus round saw an event */
	bool applied; /* a configuration was applied before (this one is a reload) */
} G;

static void mconf_free(struct mconf *cf)
{
	if (cf == NULL)
		return;
	if (cf->secret != NULL)
		explicit_bzero(cf->secret, strlen(cf->secret));
	if (cf->password != NULL)
		explicit_bzero(cf->password, strlen(cf->password));
	free(cf->root);
	free(cf->endpoint);
	free(cf->region);
	free(cf->access_key);
	free(cf->secret);
	free(cf->username);
	free(cf->password);
	free(cf->feed_base);
	free(cf->live_url);
	free(cf->authority);
	free(cf->tls_ca);
	free(cf);
}

/* S with a '/' at its end (a URL's folder). */
static char *with_slash(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n + 2);

	if (out != NULL)
		snprintf(out, n + 2, "%s%s", s, n > 0 && s[n - 1] == '/' ? "" : "/");
	return out;
}

/* Where readers reach the copy: public_url, the WebDAV url, the bucket's URL on the
 * endpoint, [status] public_url, the status listener. */
static char *feed_base_of(const struct conf *c, const struct conf_mirror *m)
{
	char buf[URL_MAX], addr[300];

	if (m->public_url != NULL)
		return with_slash(m->public_url);
	if (m->kind == MIRROR_WEBDAV)
		return with_slash(m->url);
	if (m->kind == MIRROR_S3 &&
	    mirror_s3_url(m->url, m->endpoint, m->region, "", buf, sizeof(buf)) == 0)
		return with_slash(buf);
	if (c->status.public_url != NULL)
		return with_slash(c->status.public_url);
	if (!c->status.enabled) /* no page to link: links relative to the feed itself */
		return strdup("");
	conf_addr_format(&c->status.bind, addr, sizeof(addr));
	snprintf(buf, sizeof(buf), "http://%s/", addr);
	return strdup(buf);
}

static struct mconf *mconf_new(const struct conf *c, const struct conf_mirror *m, char *err,
                               size_t errlen)
{
	struct mconf *cf = calloc(1, sizeof(*cf));
	char why[300] = "out of memory", auth[256];

	if (cf == NULL)
		goto fail;
	cf->kind = m->kind;
	cf->interval = m->interval;
	cf->timeout = m->timeout;
	cf->retry_backoff = m->retry_backoff;
	cf->tls_verify = m->tls_verify;
	feed_authority(c->status.public_url, auth, sizeof(auth));
	cf->root = m->kind == MIRROR_DIR      ? strdup(m->url + strlen("file://"))
	           : m->kind == MIRROR_WEBDAV ? with_slash(m->url)
	                                      : strdup(m->url);
	cf->feed_base = feed_base_of(c, m);
	cf->authority = strdup(auth);
	if (cf->root == NULL || cf->feed_base == NULL || cf->authority == NULL ||
	    (c->status.public_url != NULL &&
	     (cf->live_url = strdup(c->status.public_url)) == NULL) ||
	    (m->tls_ca != NULL && (cf->tls_ca = strdup(m->tls_ca)) == NULL))
		goto fail;
	if (m->kind == MIRROR_S3) {
		cf->endpoint = dup_or_null(m->endpoint);
		cf->region = strdup(m->region != NULL ? m->region : "us-east-1");
		cf->access_key = dup_or_null(m->access_key);
		if (cf->region == NULL || cf->access_key == NULL ||
		    (m->endpoint != NULL && cf->endpoint == NULL))
			goto fail;
		cf->secret = m->secret_key_file != NULL
		                 ? deliver_read_secret(m->secret_key_file, why, sizeof(why))
		                 : strdup(m->secret_key != NULL ? m->secret_key : "");
		if (cf->secret == NULL)
			goto fail;
	}
	if (m->kind == MIRROR_WEBDAV && m->username != NULL) {
		if ((cf->username = strdup(m->username)) == NULL ||
		    (cf->password = deliver_read_secret(m->password_file, why, sizeof(why))) ==
		        NULL)
			goto fail;
	}
	return cf;
fail:
	snprintf(err, errlen, "%s:%d: [mirror %s]: %s", c->path, m->line, m->name, why);
	mconf_free(cf);
	return NULL;
}

/* ---- building a copy (on the loop: what the status listener would answer now) ------------ */

static bool pool_file_ok(const char *pool)
{
	return strcmp(pool, ".") != 0 && strcmp(pool, "..") != 0; /* would not be a folder */
}

static struct copy *copy_build(const struct mconf *cf)
{
	struct copy *c = calloc(1, sizeof(*c));
	struct evbuffer *b = evbuffer_new();
	size_t cap = 2 + FEED_FORMAT_COUNT * (1 + registry.n_pools);
	struct page_copy pc;
	char name[NAME_MAX_];
	int64_t updated;

	if (c == NULL || b == NULL || (c->f = calloc(cap, sizeof(*c->f))) == NULL)
		goto fail;
	c->generated = clock_wall();
	pc = (struct page_copy){.generated = c->generated,
	                        .interval = cf->interval,
	                        .stale_after = MIRROR_STALE_INTERVALS * cf->interval,
	                        .live_url = cf->live_url};
	/* the data first, the page last: a reader of the new page finds the new feeds */
	if (status_json(b) < 0 || take(c, "status.json", "application/json", b) < 0)
		goto fail;
	for (size_t f = 0; f < FEED_FORMAT_COUNT; f++) {
		if (feed_write(b, (enum feed_format)f, NULL, cf->feed_base, cf->authority,
		               c->generated, &updated) < 0 ||
		    take(c, feed_file_names[f], feed_content_types[f], b) < 0)
			goto fail;
		for (size_t i = 0; i < registry.n_pools; i++) {
			const char *pool = registry.pools[i]->name;

			if (!pool_file_ok(pool))
				continue;
			snprintf(name, sizeof(name), "pools/%s/%s", pool, feed_file_names[f]);
			if (feed_write(b, (enum feed_format)f, pool, cf->feed_base, cf->authority,
			               c->generated, &updated) < 0 ||
			    take(c, name, feed_content_types[f], b) < 0)
				goto fail;
		}
	}
	if (page_render(b, &pc) < 0 || take(c, "index.html", "text/html; charset=utf-8", b) < 0)
		goto fail;
	evbuffer_free(b);
	return c;
fail:
	if (b != NULL)
		evbuffer_free(b);
	copy_free(c);
	return NULL;
}

/* ---- a folder: the mirror's thread ---------------------------------------------------------- */

/* snprintf that says when it cut: -1. */
static int fmt(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(buf, len, f, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Makes the folders of NAME's path under DIR ("pools/rpc/" of "pools/rpc/feed.atom"). */
static int make_parents(const char *dir, const char *name, char *why, size_t len)
{
	char path[PATH_MAX];

	for (const char *s = strchr(name, '/'); s != NULL; s = strchr(s + 1, '/')) {
		if (fmt(path, sizeof(path), "%s/%.*s", dir, (int)(s - name), name) < 0) {
			fmt(why, len, "path too long under %s", dir);
			return -1;
		}
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			fmt(why, len, "cannot make the folder %s: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* F into DIR: a temp file beside it, then renamed over it (readers see the old file or the
 * new one, never half of one). */
static int write_one(const char *dir, const struct mfile *f, char *why, size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	const char *base = strrchr(f->name, '/');
	size_t off = 0;
	int fd;

	base = base != NULL ? base + 1 : f->name;
	if (fmt(path, sizeof(path), "%s/%s", dir, f->name) < 0 ||
	    fmt(tmp, sizeof(tmp), "%s/%.*s.%s.nodegate-tmp", dir, (int)(base - f->name), f->name,
	        base) < 0) {
		fmt(why, len, "path too long under %s", dir);
		return -1;
	}
	if (make_parents(dir, f->name, why, len) < 0)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		fmt(why, len, "cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	while (off < f->len) {
		ssize_t n = write(fd, f->data + off, f->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fmt(why, len, "cannot write %s: %s", tmp,
			    n < 0 ? strerror(errno) : "no room");
			close(fd);
			unlink(tmp);
			return -1;
		}
		off += (size_t)n;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		fmt(why, len, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void *dir_main(void *arg)
{
	struct dirjob *dj = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&dj->mu);
	for (;;) {
		while (!dj->stop && (dj->copy == NULL || dj->done))
			pthread_cond_wait(&dj->cond, &dj->mu);
		if (dj->stop)
			break;
		struct copy *c = dj->copy;
		char dir[PATH_MAX], why[256] = "";
		bool ok = true;

		snprintf(dir, sizeof(dir), "%s", dj->dir);
		pthread_mutex_unlock(&dj->mu);
		for (size_t i = 0; i < c->n && ok; i++)
			ok = write_one(dir, &c->f[i], why, sizeof(why)) == 0;
		pthread_mutex_lock(&dj->mu);
		dj->ok = ok;
		snprintf(dj->why, sizeof(dj->why), "%s", why);
		dj->done = true;
		if (write(dj->efd, &one, sizeof(one)) < 0) {
			/* the counter is full: the loop is woken already */
		}
	}
	pthread_mutex_unlock(&dj->mu);
	return NULL;
}

static void push_end(struct mirror *m, bool ok, const char *why);

/* The loop: the thread said it is done. */
static void dir_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mirror *m = arg;
	struct dirjob *dj = m->dj;
	uint64_t v;
	bool done, ok;
	char why[256];

	if (read(fd, &v, sizeof(v)) < 0) {
		/* nothing to read: a spurious wake-up */
	}
	pthread_mutex_lock(&dj->mu);
	done = dj->done;
	ok = dj->ok;
	snprintf(why, sizeof(why), "%s", dj->why);
	if (done) {
		dj->copy = NULL;
		dj->done = false;
	}
	pthread_mutex_unlock(&dj->mu);
	if (done)
		push_end(m, ok, why);
}

static void dirjob_free(struct dirjob *dj)
{
	if (dj == NULL)
		return;
	if (dj->started) {
		pthread_mutex_lock(&dj->mu);
		dj->stop = true;
		pthread_cond_signal(&dj->cond);
		pthread_mutex_unlock(&dj->mu);
		pthread_join(dj->th, NULL); /* after the file it writes now, if any */
	}
	if (dj->ev != NULL)
		event_free(dj->ev);
	if (dj->efd >= 0)
		close(dj->efd);
	pthread_mutex_destroy(&dj->mu);
	pthread_cond_destroy(&dj->cond);
	free(dj->dir);
	free(dj);
}

static struct dirjob *dirjob_new(struct mirror *m)
{
	struct dirjob *dj = calloc(1, sizeof(*dj));

	if (dj == NULL)
		return NULL;
	pthread_mutex_init(&dj->mu, NULL);
	pthread_cond_init(&dj->cond, NULL);
	dj->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dj->efd < 0 ||
	    (dj->ev = event_new(G.base, dj->efd, EV_READ | EV_PERSIST, dir_done_cb, m)) == NULL ||
	    event_add(dj->ev, NULL) != 0 || pthread_create(&dj->th, NULL, dir_main, dj) != 0) {
		dirjob_free(dj);
		return NULL;
	}
	dj->started = true;
	return dj;
}

/* ---- WebDAV and S3: file by file through curlev ------------------------------------------- */

/* Keeps the start of the answer (an S3 error names its code there), drops the rest. */
static size_t keep_head(char *data, size_t size, size_t n, void *arg)
{
	struct mirror *m = arg;
	size_t room = sizeof(m->answer) - 1 - m->answer_len, k = size * n < room ? size * n : room;

	memcpy(m->answer + m->answer_len, data, k);
	m->answer_len += k;
	m->answer[m->answer_len] = '\0';
	return size * n;
}

static void transfer_end(struct mirror *m)
{
	curlev_stop(&m->job);
	if (m->job.easy != NULL)
		curl_easy_cleanup(m->job.easy);
	m->job.easy = NULL;
	curl_slist_free_all(m->hdr);
	m->hdr = NULL;
}

/* The hex SHA-256 of the body (S3 signs it: x-amz-content-sha256). */
static void sha256_hex(const char *data, size_t len, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1)
		n = 0;
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[2 * n] = '\0';
}

static int add_header(struct mirror *m, const char *fmt, const char *v)
{
	char line[512];
	struct curl_slist *n;

	snprintf(line, sizeof(line), fmt, v);
	if ((n = curl_slist_append(m->hdr, line)) == NULL)
		return -1;
	m->hdr = n;
	return 0;
}

static void on_transfer(struct curlev_job *job, CURLcode res);

/* Starts METHOD on m->url: PUT with file F's body, or MKCOL (F NULL). */
static int transfer_start(struct mirror *m, const char *method, const struct mfile *f, char *why,
                          size_t len)
{
	const struct mconf *cf = m->flight;
	CURL *e = curl_easy_init();
	char hex[2 * EVP_MAX_MD_SIZE + 1], sigv4[128];

	m->job.easy = e;
	m->errbuf[0] = '\0';
	if (e == NULL)
		goto oom;
	curl_easy_setopt(e, CURLOPT_URL, m->url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cf->timeout);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cf->timeout);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, m->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_head);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, m);
	m->answer_len = 0;
	m->answer[0] = '\0';
	curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, cf->tls_verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, cf->tls_verify ? 2L : 0L);
	if (cf->tls_ca != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, cf->tls_ca);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	/* no Expect: 100-continue (a round trip for nothing on small files); not for S3, where
	 * libcurl 7.88 would sign the header it then leaves out */
	if (cf->kind != MIRROR_S3 && add_header(m, "%s", "Expect:") < 0)
		goto oom;
	if (f != NULL) {
		/* the body from memory: libcurl hashes it for SigV4 as it is */
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, f->data);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)f->len);
		if (add_header(m, "Content-Type: %s", f->type) < 0 ||
		    add_header(m, "Cache-Control: %s", "no-cache") < 0)
			goto oom;
	}
	if (cf->kind == MIRROR_S3) {
		sha256_hex(f != NULL ? f->data : "", f != NULL ? f->len : 0, hex);
		snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3", cf->region);
		if (add_header(m, "x-amz-content-sha256: %s", hex) < 0)
			goto oom;
		curl_easy_setopt(e, CURLOPT_AWS_SIGV4, sigv4);
		curl_easy_setopt(e, CURLOPT_USERNAME, cf->access_key);
		curl_easy_setopt(e, CURLOPT_PASSWORD, cf->secret);
	} else if (cf->username != NULL) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, cf->username);
		curl_easy_setopt(e, CURLOPT_PASSWORD, cf->password);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, m->hdr);
	m->job.done = on_transfer;
	if (curlev_start(&m->job, why, len) < 0) {
		transfer_end(m);
		return -1;
	}
	return 0;
oom:
	transfer_end(m);
	snprintf(why, len, "out of memory");
	return -1;
}

/* The URL of file NAME of the mirror, or of its first N path parts (a folder, for MKCOL). */
static int url_of(const struct mconf *cf, const char *name, char *buf, size_t len)
{
	if (cf->kind == MIRROR_S3)
		return mirror_s3_url(cf->root, cf->endpoint, cf->region, name, buf, len);
	int n = snprintf(buf, len, "%s%s", cf->root, name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Sends the current file, or the next folder it needs (MKCOL); the push ends after the last
 * file. */
static void send_next(struct mirror *m)
{
	char why[256], dir[NAME_MAX_];

	if (m->file == m->copy->n) {
		push_end(m, true, "");
		return;
	}
	const struct mfile *f = &m->copy->f[m->file];
	if (m->mkcol > 0) { /* making folder number mkcol of the file's path */
		const char *s = f->name;

		for (size_t i = 0; i < m->mkcol && s != NULL; i++)
			s = strchr(s + (i > 0), '/');
		if (s == NULL) { /* every folder is there: the file again */
			m->mkcol = 0;
			send_next(m);
			return;
		}
		snprintf(dir, sizeof(dir), "%.*s/", (int)(s - f->name), f->name);
		if (url_of(m->flight, dir, m->url, sizeof(m->url)) < 0)
			push_end(m, false, "URL too long");
		else if (transfer_start(m, "MKCOL", NULL, why, sizeof(why)) < 0)
			push_end(m, false, why);
		return;
	}
	if (url_of(m->flight, f->name, m->url, sizeof(m->url)) < 0) {
		push_end(m, false, "URL too long");
		return;
	}
	if (transfer_start(m, "PUT", f, why, sizeof(why)) < 0)
		push_end(m, false, why);
}

/* " (SignatureDoesNotMatch)": the <Code> of an S3 error answer, or "". */
static const char *error_code(struct mirror *m, long code)
{
	static char buf[80];
	const char *a = strstr(m->answer, "<Code>"), *b = a != NULL ? strstr(a, "</Code>") : NULL;

	buf[0] = '\0';
	if (code >= 300 && a != NULL && b != NULL && b - a - 6 < 64)
		snprintf(buf, sizeof(buf), " (%.*s)", (int)(b - a - 6), a + 6);
	return buf;
}

/* curlev: a PUT or MKCOL ended. A PUT to a folder that is not there (409 as RFC 4918 says,
 * 404 on some servers, 500 on nginx without create_full_put_path) makes the folders once
 * (MKCOL: 201, or 405 when one is there already), then goes again. */
static void on_transfer(struct curlev_job *job, CURLcode res)
{
	struct mirror *m = (struct mirror *)((char *)job - offsetof(struct mirror, job));
	const struct mfile *f = &m->copy->f[m->file];
	bool mkcol = m->mkcol > 0;
	long code = 0;
	char why[300];

	curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &code);
	if (res == CURLE_OPERATION_TIMEDOUT)
		snprintf(why, sizeof(why), "%s %s: timeout after %llums", mkcol ? "MKCOL" : "PUT",
		         f->name, (unsigned long long)m->flight->timeout);
	else if (res != CURLE_OK)
		snprintf(why, sizeof(why), "%s %s: %.150s", mkcol ? "MKCOL" : "PUT", f->name,
		         m->errbuf[0] ? m->errbuf : curl_easy_strerror(res));
	else
		snprintf(why, sizeof(why), "%s %s: HTTP %ld%s", mkcol ? "MKCOL" : "PUT", f->name,
		         code, error_code(m, code));
	transfer_end(m);
	if (res != CURLE_OK) {
		push_end(m, false, why);
	} else if (mkcol && (code == 201 || code == 405 || (code >= 200 && code < 300))) {
		m->mkcol++;
		send_next(m);
	} else if (!mkcol && code >= 200 && code < 300) {
		m->file++;
		m->mkcol_tried = false;
		send_next(m);
	} else if (!mkcol && m->flight->kind == MIRROR_WEBDAV && !m->mkcol_tried &&
	           (code == 409 || code == 404 || code == 500) && strchr(f->name, '/') != NULL) {
		m->mkcol_tried = true;
		m->mkcol = 1;
		send_next(m);
	} else {
		push_end(m, false, why);
	}
}

/* ---- pushes -------------------------------------------------------------------------------- */

static void arm(struct event *ev, uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	evtimer_add(ev, &tv);
}

static void push_start(struct mirror *m)
{
	if (!sender_ok()) { /* the fleet's sender pushes the copies */
		sender_deferred(SENDER_MIRROR);
		m->state = MS_IDLE;
		return;
	}
	m->flight = m->cf;
	m->state = MS_PUSHING;
	m->started = clock_now();
	m->file = m->mkcol = 0;
	m->mkcol_tried = false;
	m->copy = copy_build(m->flight);
	if (m->copy == NULL) {
		push_end(m, false, "out of memory building the copy");
		return;
	}
	if (m->flight->kind != MIRROR_DIR) {
		send_next(m);
		return;
	}
	pthread_mutex_lock(&m->dj->mu);
	free(m->dj->dir);
	m->dj->dir = strdup(m->flight->root);
	if (m->dj->dir != NULL) {
		m->dj->copy = m->copy;
		m->dj->done = false;
		pthread_cond_signal(&m->dj->cond);
	}
	pthread_mutex_unlock(&m->dj->mu);
	if (m->dj->dir == NULL)
		push_end(m, false, "out of memory");
}

/* The push ended: counted, logged when it fails or after failures, then what comes next. */
static void push_end(struct mirror *m, bool ok, const char *why)
{
	size_t files = m->copy != NULL ? m->copy->n : 0;
	int64_t generated = m->copy != NULL ? m->copy->generated : 0;

	copy_free(m->copy);
	m->copy = NULL;
	m->counts[ok ? MR_OK : MR_FAILED]++;
	if (m->flight != m->cf)
		mconf_free(m->flight);
	m->flight = NULL;
	if (ok) {
		if (m->failures > 0 || m->last_ok == 0)
			log_info("mirror %s: pushed %zu files in %llums%s", m->name, files,
			         (unsigned long long)(clock_now() - m->started),
			         m->failures > 0 ? " (after failed pushes)" : "");
		else
			log_debug("mirror %s: pushed %zu files in %llums", m->name, files,
			          (unsigned long long)(clock_now() - m->started));
		m->failures = 0;
		m->last_ok = clock_wall();
		m->last_ok_generated = generated;
		m->state = MS_IDLE;
		if (m->pending) {
			m->pending = false;
			arm(m->kick, 0);
		}
		return;
	}
	m->failures++;
	uint64_t ms = mirror_backoff(m->cf->retry_backoff, m->failures, m->cf->interval);
	log_warn("mirror %s: push failed (%u in a row): %s; retry in %llums", m->name, m->failures,
	         why, (unsigned long long)ms);
	m->state = MS_WAITING;
	m->pending = false; /* the retry takes the newest copy */
	arm(m->retry, ms);
}

/* Someone wants a push: now when idle, else folded into the next one. */
static void request(struct mirror *m)
{
	if (m->state != MS_IDLE) {
		m->coalesced++;
		m->pending = m->state == MS_PUSHING;
		return;
	}
	push_start(m);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	request(arg);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mirror *m = arg;

	m->state = MS_IDLE;
	push_start(m);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	request(arg);
}

/* ---- the bus: every public change -------------------------------------------------------- */

static void on_bus(const struct bus_event *ev, void *arg)
{
	G.changed = true;
}

static void on_bus_done(void *arg)
{
	if (!G.changed)
		return;
	G.changed = false;
	for (size_t i = 0; i < G.n; i++)
		if (!evtimer_pending(G.m[i]->kick, NULL))
			arm(G.m[i]->kick, KICK_MS);
}

/* This instance became the fleet's sender: each mirror pushes the page now (another sender's
 * last copy may be old, or this one's decisions newer), not at the next change or tick. */
static void on_takeover(void)
{
	for (size_t i = 0; i < G.n; i++) {
		log_info("mirror %s: this instance is the sender now: the page is pushed",
		         G.m[i]->name);
		arm(G.m[i]->kick, 0);
	}
}

/* ---- building and swapping ---------------------------------------------------------------- */

static void mirror_free(struct mirror *m)
{
	if (m == NULL)
		return;
	if (m->state == MS_PUSHING)
		log_info("mirror %s: push in flight abandoned", m->name);
	transfer_end(m);
	dirjob_free(m->dj); /* joins: the thread ends after the file it writes, if any */
	copy_free(m->copy);
	if (m->flight != m->cf)
		mconf_free(m->flight);
	mconf_free(m->cf);
	if (m->tick != NULL)
		event_free(m->tick);
	if (m->retry != NULL)
		event_free(m->retry);
	if (m->kick != NULL)
		event_free(m->kick);
	free(m->name);
	free(m);
}

static struct mirror *mirror_new(const char *name, struct mconf *cf)
{
	struct mirror *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->cf = cf;
	if ((m->name = strdup(name)) == NULL ||
	    (m->tick = event_new(G.base, -1, EV_PERSIST, tick_cb, m)) == NULL ||
	    (m->retry = evtimer_new(G.base, retry_cb, m)) == NULL ||
	    (m->kick = evtimer_new(G.base, kick_cb, m)) == NULL ||
	    (cf->kind == MIRROR_DIR && (m->dj = dirjob_new(m)) == NULL)) {
		m->cf = NULL;
		mirror_free(m);
		return NULL;
	}
	return m;
}

static struct mirror *named(const char *name)
{
	for (size_t i = 0; i < G.n; i++)
		if (strcmp(G.m[i]->name, name) == 0)
			return G.m[i];
	return NULL;
}

/* Keeps M's timer at its interval (a reload may change it). */
static void set_tick(struct mirror *m)
{
	struct timeval tv = {.tv_sec = (time_t)(m->cf->interval / 1000),
	                     .tv_usec = (suseconds_t)(m->cf->interval % 1000) * 1000};

	if (m->tick_every == m->cf->interval)
		return;
	event_del(m->tick);
	event_add(m->tick, &tv);
	m->tick_every = m->cf->interval;
}

int mirror_apply(const struct conf *c, char *err, size_t errlen)
{
	struct mconf **cfs = calloc(c->n_mirrors + 1, sizeof(*cfs));
	struct mirror **next = calloc(c->n_mirrors + 1, sizeof(*next));
	size_t i;

	if (cfs == NULL || next == NULL) {
		snprintf(err, errlen, "mirrors: out of memory");
		goto fail;
	}
	for (i = 0; i < c->n_mirrors; i++)
		if ((cfs[i] = mconf_new(c, &c->mirrors[i], err, errlen)) == NULL)
			goto fail;
	for (i = 0; i < c->n_mirrors; i++) {
		struct mirror *m = named(c->mirrors[i].name);

		/* a mirror of another kind is another mirror (a folder needs its thread) */
		if ((m == NULL || m->cf->kind != cfs[i]->kind) &&
		    (next[i] = mirror_new(c->mirrors[i].name, cfs[i])) == NULL) {
			snprintf(err, errlen, "mirrors: out of memory");
			goto fail;
		}
	}
	/* nothing fails from here on: swap */
	for (i = 0; i < G.n; i++)
		G.m[i]->seen = false;
	for (i = 0; i < c->n_mirrors; i++) {
		if (next[i] == NULL) {
			next[i] = named(c->mirrors[i].name);
			if (next[i]->cf != next[i]->flight)
				mconf_free(next[i]->cf);
			next[i]->cf = cfs[i];
		}
		next[i]->seen = true;
	}
	for (i = 0; i < G.n; i++)
		if (!G.m[i]->seen)
			mirror_free(G.m[i]);
	free(G.m);
	G.m = next;
	G.n = c->n_mirrors;
	free(cfs);
	/* after a start, the first push comes with the first public change (the first
	 * verdicts) or at the first tick: a copy of nodes still checking says nothing; a mirror
	 * a reload adds pushes at once */
	for (i = 0; i < G.n; i++) {
		if (G.applied && G.m[i]->last_ok == 0 && G.m[i]->state == MS_IDLE &&
		    G.m[i]->counts[MR_FAILED] == 0)
			arm(G.m[i]->kick, 0);
		set_tick(G.m[i]);
	}
	G.applied = true;
	return 0;
fail:
	for (i = 0; cfs != NULL && i < c->n_mirrors; i++) {
		if (next != NULL && next[i] != NULL) {
			next[i]->cf = NULL;
			mirror_free(next[i]);
		}
		mconf_free(cfs[i]);
	}
	free(cfs);
	free(next);
	return -1;
}

/* nodegate_mirror_*: pushes by result, requests folded, the last good push and its age. */
static void mirror_metrics(struct metrics_out *o)
{
	int64_t now = clock_wall();

	metrics_outf(o, "# HELP nodegate_mirror_pushes_total pushes of the status page's copy, "
	                "by mirror and result (a failed one is retried after the backoff)\n"
	                "# TYPE nodegate_mirror_pushes_total counter\n");
	for (size_t i = 0; i < G.n; i++)
		for (size_t r = 0; r < MR_RESULT_COUNT; r++) {
			metrics_outf(o, "nodegate_mirror_pushes_total{mirror=\"");
			metrics_out_label(o, G.m[i]->name);
			metrics_outf(o, "\",result=\"%s\"} %llu\n", mirror_result_names[r],
			             (unsigned long long)G.m[i]->counts[r]);
		}
	metrics_outf(o, "# HELP nodegate_mirror_coalesced_total push requests folded into the "
	                "next push while one was in flight or waiting for its retry\n"
	                "# TYPE nodegate_mirror_coalesced_total counter\n");
	for (size_t i = 0; i < G.n; i++) {
		metrics_outf(o, "nodegate_mirror_coalesced_total{mirror=\"");
		metrics_out_label(o, G.m[i]->name);
		metrics_outf(o, "\"} %llu\n", (unsigned long long)G.m[i]->coalesced);
	}
	metrics_outf(o, "# HELP nodegate_mirror_last_success_seconds Unix time the last push "
	                "ended well (0: none yet)\n"
	                "# TYPE nodegate_mirror_last_success_seconds gauge\n");
	for (size_t i = 0; i < G.n; i++) {
		metrics_outf(o, "nodegate_mirror_last_success_seconds{mirror=\"");
		metrics_out_label(o, G.m[i]->name);
		metrics_outf(o, "\"} %.3f\n", (double)G.m[i]->last_ok / 1000.0);
	}
	metrics_outf(o, "# HELP nodegate_mirror_age_seconds how old the copy on the mirror is "
	                "(since it was made; no sample before the first good push)\n"
	                "# TYPE nodegate_mirror_age_seconds gauge\n");
	for (size_t i = 0; i < G.n; i++) {
		if (G.m[i]->last_ok_generated == 0)
			continue;
		metrics_outf(o, "nodegate_mirror_age_seconds{mirror=\"");
		metrics_out_label(o, G.m[i]->name);
		metrics_outf(o, "\"} %.3f\n", (double)(now - G.m[i]->last_ok_generated) / 1000.0);
	}
}

int mirror_init(struct event_base *base)
{
	if (G.on)
		return -1;
	G.base = base;
	if (curlev_init(base) != 0)
		return -1;
	G.on = true;
	if (bus_subscribe_deferred(base, BUS_PHASE_HOOKS, on_bus, on_bus_done, NULL) != 0 ||
	    status_metrics(mirror_metrics) != 0 || sender_on_takeover(on_takeover) != 0) {
		mirror_deinit();
		return -1;
	}
	return 0;
}

void mirror_deinit(void)
{
	if (!G.on)
		return;
	for (size_t i = 0; i < G.n; i++)
		mirror_free(G.m[i]);
	free(G.m);
	curlev_deinit();
	memset(&G, 0, sizeof(G));
}
