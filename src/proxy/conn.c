/* Buffered non-blocking connections, plain or TLS: optimistic writes, lazy buffers. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/err.h>

#include "clock.h"
#include "evmem.h"
#include "proxy/conn.h"

/* Bytes asked of one read. A chain of libevent 2.1 is its header (48 bytes) and its room, in
 * a block rounded up to a power of two: 16 KiB asked would take a 32 KiB block for every
 * read in flight (and in evmem's lists), 16 KiB less 64 takes 16. */
#define READ_CHUNK (16384 - 64)
/* The first read into an empty input, unless the connection's last read was as big: most
 * messages (a JSON-RPC call, its answer) are well under 4 KiB, and a request is kept until
 * its answer (for a retry), so at 1,000 connections a 16 KiB block each would be 16 MiB in
 * flight, more than the free lists hold between two turns. */
#define READ_FIRST     (4096 - 64)
#define READ_MAX_DEF   65536
#define READS_PER_WAKE 4 /* a busy socket does not starve the others */

enum conn_state {
	CS_CONNECTING = 0, /* TCP connect in progress */
	CS_HANDSHAKE,      /* TLS handshake in progress */
	CS_OPEN,
	CS_COUNT
};

struct dq;

struct conn {
	evutil_socket_t fd;
	uint32_t hidx; /* 1 + its place in its loop's deadline heap; 0: not in it */
	SSL *ssl;
	struct event rd;  /* open: no libevent timeout on it (its deadline is rd_deadline) */
	struct event *wr; /* only while armed: an idle connection holds one event, not two */
	struct evbuffer *in, *out;
	const struct conn_ops *ops; /* NULL until conn_setcb */
	void *arg;
	uint32_t read_max, write_low;
	uint32_t read_ms, write_ms, connect_ms;
	uint32_t rd_deadline; /* open and reading: the ms it times out at (dq); 0: none */
	int last_errno;       /* at the last event reported */
	/* 216 bytes in all: with malloc's header, 224 (an idle client connection is this, its
	 * session and its descriptor's libevent entry; bench/README "Idle memory") */
	uint8_t state;    /* enum conn_state */
	bool read_on : 1; /* the owner wants data */
	bool rd_armed : 1, wr_armed : 1;
	bool in_watched : 1;   /* input_changed on in: only while reading waits for the owner to
	                        * drain it (read_max) */
	bool write_waited : 1; /* output waited for the loop: tell the owner when it drains */
	bool ssl_read_wants_write : 1, ssl_write_wants_read : 1;
	bool tls_failed : 1;
	bool fin_sent : 1;    /* conn_shutdown_tcp: no TLS close_notify can follow the FIN */
	bool pending_eof : 1; /* TLS close seen after data: reported on the next turn */
	bool wr_oom : 1; /* the write event or input watch could not be made: an error next turn */
	bool fixed_tmo : 1; /* read_ms and write_ms are settings (conn_set_timeouts_fixed) */
	bool big_reads : 1; /* the last read filled READ_FIRST: the next asks READ_CHUNK */
};

/* an idle connection's memory (bench/README): a field more costs 16 bytes each */
_Static_assert(sizeof(void *) != 8 || sizeof(struct event) != 128 || sizeof(struct conn) <= 216,
               "struct conn outgrew its 224-byte malloc chunk");

const char *const conn_error_names[CONN_ERR_COUNT] = {
    [CONN_ERR_NONE] = "none",   [CONN_ERR_REFUSED] = "refused",
    [CONN_ERR_RESET] = "reset", [CONN_ERR_TIMEOUT] = "timeout",
    [CONN_ERR_TLS] = "tls",     [CONN_ERR_EOF] = "eof",
    [CONN_ERR_OTHER] = "other", [CONN_ERR_NOFD] = "no_descriptor",
};

/* The kind of a socket error E. */
static enum conn_error errno_kind(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return CONN_ERR_REFUSED;
	case ECONNRESET:
	case EPIPE:
		return CONN_ERR_RESET;
	case EMFILE:
	case ENFILE:
		return CONN_ERR_NOFD;
	default:
		return CONN_ERR_OTHER;
	}
}

static void rd_cb(evutil_socket_t fd, short what, void *arg);
static void wr_cb(evutil_socket_t fd, short what, void *arg);

static struct timeval ms_tv(uint32_t ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	return tv;
}

/* The common timeouts this thread asked its base for (libevent's lookup takes the base's
 * lock and scans them all): a few durations are in use at a time. */
#define COMMON_CACHE 8
static __thread struct {
	const struct event_base *base;
	uint32_t ms;
	const struct timeval *tv;
} common_cache[COMMON_CACHE];
static __thread unsigned common_next;

void conn_forget_base(const struct event_base *base)
{
	for (unsigned i = 0; i < COMMON_CACHE; i++)
		if (common_cache[i].base == base)
			common_cache[i].base = NULL;
}

/* EV's timeout of MS. For C's fixed timeouts (conn_set_timeouts_fixed: a setting, the same
 * for every connection of a listener or pool) libevent's common timeout for that duration:
 * a queue per duration, no heap (nothing per connection in it); TV otherwise, or when the
 * base has no room for another. */
static const struct timeval *deadline(const struct conn *c, struct event *ev, uint32_t ms,
                                      struct timeval *tv)
{
	*tv = ms_tv(ms);
	if (!c->fixed_tmo || c->state != CS_OPEN)
		return tv;
	struct event_base *base = event_get_base(ev);

	for (unsigned i = 0; i < COMMON_CACHE; i++)
		if (common_cache[i].base == base && common_cache[i].ms == ms)
			return common_cache[i].tv;
	const struct timeval *common = event_base_init_common_timeout(base, tv);
	if (common == NULL)
		return tv;
	common_cache[common_next].base = base;
	common_cache[common_next].ms = ms;
	common_cache[common_next].tv = common;
	common_next = (common_next + 1) % COMMON_CACHE;
	return common;
}

static void arm(const struct conn *c, struct event *ev, uint32_t ms)
{
	struct timeval tv;

	event_add(ev, ms > 0 ? deadline(c, ev, ms, &tv) : NULL);
}

static void set_deadline(const struct conn *c, struct event *ev, uint32_t ms)
{
	struct timeval tv;

	if (ms > 0)
		event_add(ev, deadline(c, ev, ms, &tv));
	else
		event_remove_timer(ev);
}

/* Stops the read event (its libevent timeout with it, in a handshake). */
static void rd_stop(struct conn *c)
{
	if (c->rd_armed) {
		event_del(&c->rd);
		c->rd_armed = false;
	}
}

/* ---- read deadlines, kept lazily ------------------------------------------------------------ */

/* An open connection's read deadline is not a libevent timeout: that would be moved on every
 * read (libevent reschedules a persistent event's timeout each time it runs) and on every
 * change of the owner's limits, three or more timer changes per proxied request. Each loop
 * has one deadline queue instead: a min-heap of connections by the time they are due to be
 * looked at, and one timer for its earliest. A deadline that moves later (a read, the next
 * keep-alive wait) only writes rd_deadline; the heap is touched when a deadline comes
 * earlier than the connection's due time, or when the timer finds a connection whose
 * deadline moved on (it is due again then). HAProxy's task queue and nginx's timer tree
 * are lazy in the same way.
 *
 * Times are milliseconds of clock_now_us() / 1000 in 32 bits, compared modulo 2^32: every
 * deadline is within a read timeout of now (7 days at most, conf.c), far under 24 days. */

struct dq_ent {
	uint32_t due; /* look at c then (at most its deadline) */
	struct conn *c;
};

struct dq {
	struct event_base *base;
	struct event timer;  /* armed for heap[0].due */
	struct dq_ent *heap; /* room for every connection on the loop (reserved at conn_alloc) */
	uint32_t n, cap;
	uint32_t conns; /* connections on the loop */
	uint32_t refs;  /* its connections, and its thread until conn_buffers_cleanup */
	bool armed;     /* the timer is pending, for armed_due */
	uint32_t armed_due;
	struct dq *next; /* in dq_list */
};

#define DQ_MIN_CAP  16
#define DQ_MAX_TURN 100000 /* expiries handled in one run of the timer; then the next turn */

static __thread struct dq *tdq; /* this thread's loop's queue */

/* Every queue, for a connection freed on another thread than its loop's (the idle
 * connections of a removed backend, closed while the workers are parked or stopped). */
static pthread_mutex_t dq_mu = PTHREAD_MUTEX_INITIALIZER;
static struct dq *dq_list;

static inline bool ms_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* Now: read once per callback of this file, a turn of clock.c (every deadline set in it, and
 * every time its owner takes, counts from there). */
static uint32_t now_ms(void)
{
	return (uint32_t)(clock_now_us() / 1000);
}

static void dq_cb(evutil_socket_t fd, short what, void *arg);

static void dq_unref(struct dq *q)
{
	if (q == NULL || --q->refs > 0)
		return;
	pthread_mutex_lock(&dq_mu);
	for (struct dq **pp = &dq_list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	pthread_mutex_unlock(&dq_mu);
	event_del(&q->timer);
	free(q->heap);
	free(q);
}

/* This thread's queue for BASE, made on first use. NULL when out of memory. */
static struct dq *dq_get(struct event_base *base)
{
	if (tdq != NULL && tdq->base == base)
		return tdq;
	struct dq *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return NULL;
	q->base = base;
	q->refs = 1;
	evtimer_assign(&q->timer, base, dq_cb, q);
	pthread_mutex_lock(&dq_mu);
	q->next = dq_list;
	dq_list = q;
	pthread_mutex_unlock(&dq_mu);
	dq_unref(tdq); /* one loop per thread: another base means the old one is gone */
	tdq = q;
	return q;
}

/* C's queue: this thread's, or (C freed from another thread) found by its loop. */
static struct dq *dq_of(const struct conn *c)
{
	const struct event_base *base = c->rd.ev_base;
	struct dq *q;

	if (tdq != NULL && tdq->base == base)
		return tdq;
	pthread_mutex_lock(&dq_mu);
	for (q = dq_list; q != NULL && q->base != base; q = q->next)
		;
	pthread_mutex_unlock(&dq_mu);
	return q;
}

/* Room in Q's heap for one more connection: every connection may be in it at once. */
static bool dq_reserve(struct dq *q)
{
	if (q->conns < q->cap)
		return true;
	uint32_t cap = q->cap < DQ_MIN_CAP ? DQ_MIN_CAP : 2 * q->cap;
	struct dq_ent *h = realloc(q->heap, (size_t)cap * sizeof(*h));
	if (h == NULL)
		return false;
	q->heap = h;
	q->cap = cap;
	return true;
}

static void dq_place(struct dq *q, uint32_t i, struct dq_ent e)
{
	q->heap[i] = e;
	e.c->hidx = i + 1;
}

static void dq_up(struct dq *q, uint32_t i)
{
	struct dq_ent e = q->heap[i];

	while (i > 0 && ms_before(e.due, q->heap[(i - 1) / 2].due)) {
		dq_place(q, i, q->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	dq_place(q, i, e);
}

static void dq_down(struct dq *q, uint32_t i)
{
	struct dq_ent e = q->heap[i];

	for (;;) {
		uint32_t k = 2 * i + 1;
		if (k >= q->n)
			break;
		if (k + 1 < q->n && ms_before(q->heap[k + 1].due, q->heap[k].due))
			k++;
		if (!ms_before(q->heap[k].due, e.due))
			break;
		dq_place(q, i, q->heap[k]);
		i = k;
	}
	dq_place(q, i, e);
}

/* Takes C out of Q's heap. */
static void dq_remove(struct dq *q, struct conn *c)
{
	uint32_t i = c->hidx - 1;

	c->hidx = 0;
	if (--q->n == i)
		return;
	struct dq_ent last = q->heap[q->n];
	dq_place(q, i, last);
	if (i > 0 && ms_before(last.due, q->heap[(i - 1) / 2].due))
		dq_up(q, i);
	else
		dq_down(q, i);
}

/* Arms Q's timer for its earliest due, unless it is armed for that or earlier already. */
static void dq_arm(struct dq *q)
{
	if (q->n == 0 || (q->armed && !ms_before(q->heap[0].due, q->armed_due)))
		return;
	uint32_t due = q->heap[0].due, now = now_ms();
	uint32_t ms = ms_before(now, due) ? due - now : 0;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	event_add(&q->timer, &tv);
	q->armed = true;
	q->armed_due = due;
}

/* C's read deadline MS from now (0: none). Later than its due time: only noted. */
static void rd_deadline_set(struct conn *c, uint32_t ms)
{
	if (ms == 0) {
		c->rd_deadline = 0; /* the heap forgets it when it is due */
		return;
	}
	struct dq *q = tdq; /* C's: deadlines are set on its loop's thread */
	uint32_t d = now_ms() + ms;

	d += d == 0; /* 0 is "none" */
	c->rd_deadline = d;
	if (c->hidx != 0 && !ms_before(d, q->heap[c->hidx - 1].due))
		return;
	if (c->hidx == 0) {
		c->hidx = ++q->n; /* room was reserved when C was made */
		q->heap[c->hidx - 1].c = c;
	}
	q->heap[c->hidx - 1].due = d;
	dq_up(q, c->hidx - 1);
	dq_arm(q);
}

static void rd_expired(struct conn *c);

/* Q's earliest due came: connections past their deadline time out, those whose deadline
 * moved on are due again then, those with none leave the heap. */
static void dq_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dq *q = arg;
	uint32_t now;

	clock_turn_begin();
	now = now_ms();
	q->armed = false;
	for (unsigned turn = 0; q->n > 0 && !ms_before(now, q->heap[0].due); turn++) {
		struct conn *c = q->heap[0].c;
		if (turn == DQ_MAX_TURN) { /* the rest on the next turn */
			q->heap[0].due = now;
			break;
		}
		if (c->rd_deadline == 0) {
			dq_remove(q, c);
		} else if (ms_before(now, c->rd_deadline)) {
			q->heap[0].due = c->rd_deadline;
			dq_down(q, 0);
		} else {
			dq_remove(q, c);
			rd_expired(c); /* may free connections, and set deadlines */
		}
	}
	dq_arm(q);
	clock_turn_end();
}

/* Arms the write event, made on demand (sockets mostly take a write at once). Out of
 * memory, the connection fails on the next turn. */
static void arm_wr(struct conn *c, uint32_t ms)
{
	if (c->wr == NULL) {
		c->wr = evmem_malloc(sizeof(*c->wr));
		if (c->wr == NULL) {
			c->wr_oom = true;
			event_active(&c->rd, EV_READ, 0);
			return;
		}
		event_assign(c->wr, event_get_base(&c->rd), c->fd, EV_WRITE | EV_PERSIST, wr_cb, c);
	}
	arm(c, c->wr, ms);
	c->wr_armed = true;
}

/* Disarms the write event and gives its memory back. */
static void disarm_wr(struct conn *c)
{
	if (c->wr == NULL)
		return;
	event_del(c->wr);
	c->wr_armed = false;
	evmem_free(c->wr);
	c->wr = NULL;
}

static void input_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);

/* Watches the input for the owner's draining (ON), or stops. Most connections never fill
 * their input to read_max: a callback on every input buffer would run on every change of
 * it, several times a request. Out of memory, the connection fails on the next turn. */
static void in_watch(struct conn *c, bool on)
{
	if (on == c->in_watched)
		return;
	c->in_watched = on;
	if (!on) {
		evbuffer_remove_cb(c->in, input_changed, c);
		return;
	}
	if (evbuffer_add_cb(c->in, input_changed, c) == NULL) {
		c->in_watched = false;
		c->wr_oom = true;
		event_active(&c->rd, EV_READ, 0);
	}
}

/* Stops the read event and its deadline. */
static void rd_disarm(struct conn *c)
{
	rd_stop(c);
	c->rd_deadline = 0;
}

/* Whether the read event should be armed, and with which timeout. */
static void update_read(struct conn *c)
{
	bool want;

	switch (c->state) {
	case CS_CONNECTING:
		want = false;
		break;
	case CS_HANDSHAKE:
		want = c->ssl_write_wants_read || !c->wr_armed;
		break;
	default:
		want = c->ssl_write_wants_read || (c->read_on && conn_input_len(c) < c->read_max);
	}
	/* paused at read_max: the owner's draining of the input resumes it */
	in_watch(c, !want && c->state == CS_OPEN && c->read_on);
	if (!want) {
		rd_disarm(c);
		return;
	}
	if (!c->rd_armed && c->state == CS_OPEN) {
		event_add(&c->rd, NULL);
		c->rd_armed = true;
		rd_deadline_set(c, c->read_on ? c->read_ms : 0);
		/* TLS may hold decrypted bytes the socket will not announce */
		if (c->ssl != NULL && SSL_pending(c->ssl) > 0)
			event_active(&c->rd, EV_READ, 0);
	} else if (!c->rd_armed) { /* a handshake: its deadline is libevent's */
		arm(c, &c->rd, c->connect_ms > 0 ? c->connect_ms : c->read_ms);
		c->rd_armed = true;
	}
}

static struct conn *conn_alloc(struct event_base *base, evutil_socket_t fd, SSL *ssl)
{
	struct dq *q = dq_get(base);

	if (q == NULL || !dq_reserve(q))
		return NULL;
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	q->conns++;
	q->refs++;
	c->fd = fd;
	c->ssl = ssl;
	c->read_max = READ_MAX_DEF;
	event_assign(&c->rd, base, fd, EV_READ | EV_PERSIST, rd_cb, c);
	return c;
}

struct conn *conn_new(struct event_base *base, evutil_socket_t fd, SSL *ssl)
{
	struct conn *c = conn_alloc(base, fd, ssl);

	if (c == NULL)
		return NULL;
	evutil_make_socket_nonblocking(fd);
	if (ssl != NULL) {
		SSL_set_fd(ssl, fd);
		SSL_set_accept_state(ssl);
		c->state = CS_HANDSHAKE;
		update_read(c);
	} else {
		c->state = CS_OPEN;
	}
	return c;
}

struct conn *conn_connect(struct event_base *base, const struct sockaddr *sa, socklen_t len,
                          SSL *ssl, uint64_t timeout_ms, enum conn_error *kind, char *err,
                          size_t errlen)
{
	int one = 1;
	evutil_socket_t fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		*kind = errno_kind(errno);
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, sa, len) != 0 && errno != EINPROGRESS) {
		*kind = errno_kind(errno);
		snprintf(err, errlen, "connect: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	struct conn *c = conn_alloc(base, fd, ssl);
	if (c == NULL) {
		*kind = CONN_ERR_OTHER;
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	if (ssl != NULL) {
		SSL_set_fd(ssl, fd);
		SSL_set_connect_state(ssl);
	}
	c->state = CS_CONNECTING;
	c->connect_ms = (uint32_t)timeout_ms;
	arm_wr(c, c->connect_ms);
	return c;
}

void conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	event_del(&c->rd);
	struct dq *q = dq_of(c); /* holds c: never NULL */
	if (c->hidx != 0)
		dq_remove(q, c);
	q->conns--;
	dq_unref(q);
	disarm_wr(c);
	if (c->ssl != NULL) {
		if (c->state == CS_OPEN && !c->tls_failed && !c->fin_sent)
			SSL_shutdown(c->ssl); /* best effort close_notify, never waits */
		SSL_free(c->ssl);
	}
	if (c->in != NULL) /* not cached, as out below (its callback goes with it) */
		evbuffer_free(c->in);
	if (c->out != NULL)
		evbuffer_free(c->out); /* not cached: idle pools may close after the caches went */
	close(c->fd);
	free(c);
}

void conn_setcb(struct conn *c, const struct conn_ops *ops, void *arg)
{
	c->ops = ops;
	c->arg = arg;
}

void conn_enable_read(struct conn *c)
{
	if (c->read_on)
		return;
	c->read_on = true;
	update_read(c);
}

void conn_disable_read(struct conn *c)
{
	if (!c->read_on)
		return;
	c->read_on = false;
	update_read(c);
}

bool conn_reading(const struct conn *c)
{
	return c->read_on;
}

static void set_timeouts(struct conn *c, uint64_t read_ms, uint64_t write_ms, bool fixed)
{
	c->read_ms = (uint32_t)read_ms;
	c->write_ms = (uint32_t)write_ms;
	c->fixed_tmo = fixed;
	/* a new deadline on an armed event is a timer change, not an epoll_ctl */
	if (c->rd_armed && c->state == CS_OPEN)
		rd_deadline_set(c, c->read_on ? c->read_ms : 0);
	if (c->wr_armed && c->state == CS_OPEN)
		set_deadline(c, c->wr, c->write_ms);
}

void conn_set_timeouts(struct conn *c, uint64_t read_ms, uint64_t write_ms)
{
	set_timeouts(c, read_ms, write_ms, false);
}

void conn_set_timeouts_fixed(struct conn *c, uint64_t read_ms, uint64_t write_ms)
{
	set_timeouts(c, read_ms, write_ms, true);
}

void conn_set_read_max(struct conn *c, size_t max)
{
	c->read_max = max > 0 ? (uint32_t)max : READ_MAX_DEF;
	update_read(c);
}

void conn_set_write_low(struct conn *c, size_t low)
{
	c->write_low = (uint32_t)low;
}

/* The owner drained the input: reading paused at read_max may resume. */
static void input_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;

	if (info->n_deleted > 0)
		update_read(c); /* removes this callback once reading resumes */
}

/* Empty evbuffers kept for reuse, per thread: a request takes and gives back several (the
 * connections' output, the request as sent, a held answer). A drained evbuffer holds no
 * chain, so the cache costs at most BUF_CACHE bare structs. */
#define BUF_CACHE 64
static __thread struct evbuffer *buf_cache[BUF_CACHE];
static __thread unsigned n_buf_cache;

struct evbuffer *conn_buffer_new(void)
{
	if (n_buf_cache > 0)
		return buf_cache[--n_buf_cache];
	return evbuffer_new();
}

void conn_buffer_free(struct evbuffer *buf)
{
	if (buf == NULL)
		return;
	if (n_buf_cache >= BUF_CACHE) {
		evbuffer_free(buf);
		return;
	}
	size_t len = evbuffer_get_length(buf);
	if (len > 0 && (evbuffer_drain(buf, len) != 0 || evbuffer_get_length(buf) > 0)) {
		evbuffer_free(buf); /* could not be emptied */
		return;
	}
	buf_cache[n_buf_cache++] = buf;
}

void conn_buffers_cleanup(void)
{
	dq_unref(tdq); /* its connections hold it until they are freed */
	tdq = NULL;
	while (n_buf_cache > 0)
		evbuffer_free(buf_cache[--n_buf_cache]);
}

struct evbuffer *conn_input(struct conn *c)
{
	if (c->in == NULL)
		c->in = conn_buffer_new();
	return c->in;
}

struct evbuffer *conn_output(struct conn *c)
{
	if (c->out == NULL)
		c->out = conn_buffer_new();
	return c->out;
}

size_t conn_input_len(const struct conn *c)
{
	return c->in != NULL ? evbuffer_get_length(c->in) : 0;
}

size_t conn_output_len(const struct conn *c)
{
	return c->out != NULL ? evbuffer_get_length(c->out) : 0;
}

void conn_trim(struct conn *c)
{
	if (c->in != NULL && evbuffer_get_length(c->in) == 0) {
		in_watch(c, false);
		conn_buffer_free(c->in);
		c->in = NULL;
	}
	if (c->out != NULL && evbuffer_get_length(c->out) == 0) {
		conn_buffer_free(c->out);
		c->out = NULL;
	}
}

evutil_socket_t conn_fd(const struct conn *c)
{
	return c->fd;
}

bool conn_is_tls(const struct conn *c)
{
	return c->ssl != NULL;
}

int conn_errno(const struct conn *c)
{
	return c->last_errno;
}

void conn_kick_read(struct conn *c)
{
	if (c->read_on && c->state == CS_OPEN)
		event_active(&c->rd, EV_READ, 0);
}

/* ---- writing ------------------------------------------------------------------------------ */

enum io_result {
	IO_DONE = 0, /* all written / some read */
	IO_AGAIN,    /* would block */
	IO_EOF,
	IO_ERROR,
	IO_COUNT
};

static enum io_result ssl_error(struct conn *c, int ret, bool reading)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		if (!reading)
			c->ssl_write_wants_read = true;
		return IO_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		if (reading)
			c->ssl_read_wants_write = true;
		return IO_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return IO_EOF;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		return ret == 0 || errno == 0 ? IO_EOF : IO_ERROR; /* dirty close is EOF */
	default:
		c->tls_failed = true;
		ERR_clear_error();
		return IO_ERROR;
	}
}

/* Writes as much output as the socket takes. */
static enum io_result write_out(struct conn *c)
{
	while (conn_output_len(c) > 0) {
		if (c->ssl == NULL) {
			struct iovec iov[16];
			struct evbuffer_iovec v[16];
			int n = evbuffer_peek(c->out, -1, NULL, v, 16);
			ssize_t w;
			/* send and sendmsg, not write and writev: the socket calls skip the VFS
			 * layer (file permission and fsnotify hooks), measurably cheaper */
			if (n == 1) {
				w = send(c->fd, v[0].iov_base, v[0].iov_len, MSG_NOSIGNAL);
			} else {
				for (int i = 0; i < n && i < 16; i++) {
					iov[i].iov_base = v[i].iov_base;
					iov[i].iov_len = v[i].iov_len;
				}
				struct msghdr mh = {.msg_iov = iov, .msg_iovlen = n > 16 ? 16 : n};
				w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
			}
			if (w < 0)
				return errno == EAGAIN || errno == EINTR ? IO_AGAIN : IO_ERROR;
			evbuffer_drain(c->out, (size_t)w);
			continue;
		}
		struct evbuffer_iovec v;
		evbuffer_peek(c->out, -1, NULL, &v, 1);
		c->ssl_write_wants_read = false;
		int w = SSL_write(c->ssl, v.iov_base, (int)(v.iov_len > 16384 ? 16384 : v.iov_len));
		if (w <= 0)
			return ssl_error(c, w, false);
		evbuffer_drain(c->out, (size_t)w);
	}
	return IO_DONE;
}

void conn_flush(struct conn *c)
{
	if (c->state != CS_OPEN || c->wr_armed || c->ssl_write_wants_read ||
	    conn_output_len(c) == 0)
		return; /* the loop writes it: after connecting, or when the socket drains */
	enum io_result r = write_out(c);
	if (r == IO_DONE)
		return;
	/* the rest, or the error, is reported from the loop */
	c->write_waited = true;
	if (c->ssl_write_wants_read)
		update_read(c);
	else
		arm_wr(c, c->write_ms);
}

void conn_write_buffer(struct conn *c, struct evbuffer *buf)
{
	struct evbuffer_iovec v[16];
	struct iovec iov[16];
	size_t len = evbuffer_get_length(buf), sent = 0;
	int n = evbuffer_peek(buf, -1, NULL, v, 16);

	if (c->ssl == NULL && c->state == CS_OPEN && !c->wr_armed && conn_output_len(c) == 0 &&
	    n >= 1 && n <= 16) {
		for (int i = 0; i < n; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
		}
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = n == 1 ? send(c->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL)
		                   : sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (w > 0)
			sent = (size_t)w;
		if (sent == len)
			return;
	}
	/* the rest (or all of it) goes through the output, as conn_flush writes it */
	struct evbuffer *out = conn_output(c);
	if (out == NULL) {
		c->wr_oom = true;
		event_active(&c->rd, EV_READ, 0);
		return;
	}
	if (sent == 0 || n > 16) {
		struct evbuffer_ptr at;
		evbuffer_ptr_set(buf, &at, sent, EVBUFFER_PTR_SET);
		for (size_t left = len - sent; left > 0;) {
			struct evbuffer_iovec one;
			if (evbuffer_peek(buf, (ev_ssize_t)left, &at, &one, 1) < 1)
				break;
			size_t k = one.iov_len < left ? one.iov_len : left;
			evbuffer_add(out, one.iov_base, k);
			left -= k;
			evbuffer_ptr_set(buf, &at, k, EVBUFFER_PTR_ADD);
		}
	} else {
		for (int i = 0; i < n; i++) {
			size_t k = v[i].iov_len;
			if (sent >= k) {
				sent -= k;
				continue;
			}
			evbuffer_add(out, (const char *)v[i].iov_base + sent, k - sent);
			sent = 0;
		}
	}
	conn_flush(c);
}

const char *conn_buffer_span(struct evbuffer *buf, size_t off, size_t len)
{
	struct evbuffer_ptr at;
	struct evbuffer_iovec v;

	if (len == 0)
		return "";
	if (evbuffer_ptr_set(buf, &at, off, EVBUFFER_PTR_SET) != 0)
		return NULL; /* past the end: the caller's lengths are its own */
	if (evbuffer_peek(buf, (ev_ssize_t)len, &at, &v, 1) == 1 && v.iov_len >= len)
		return v.iov_base; /* whole in one chain: no copy */
	const char *all = (const char *)evbuffer_pullup(buf, (ev_ssize_t)(off + len));
	return all != NULL ? all + off : NULL;
}

void conn_shutdown_write(struct conn *c)
{
	if (c->ssl != NULL)
		SSL_shutdown(c->ssl);
	else
		shutdown(c->fd, SHUT_WR);
}

void conn_shutdown_tcp(struct conn *c)
{
	shutdown(c->fd, SHUT_WR);
	c->fin_sent = true;
}

/* ---- reading ------------------------------------------------------------------------------ */

static enum io_result read_in(struct conn *c, size_t *got)
{
	struct evbuffer *in = conn_input(c);

	*got = 0;
	for (int round = 0; round < READS_PER_WAKE; round++) {
		size_t len = evbuffer_get_length(in);
		if (len >= c->read_max)
			return IO_DONE;
		size_t chunk = len == 0 && !c->big_reads ? READ_FIRST : READ_CHUNK;
		size_t room = c->read_max - len < chunk ? c->read_max - len : chunk;
		struct evbuffer_iovec v[2];
		int nv = evbuffer_reserve_space(in, (ev_ssize_t)room, v, 2);
		if (nv < 1)
			return IO_ERROR;
		ssize_t n;
		if (c->ssl == NULL) {
			if (nv == 1) {
				n = recv(c->fd, v[0].iov_base, v[0].iov_len, 0); /* as send above */
			} else {
				struct iovec iov[2] = {{v[0].iov_base, v[0].iov_len},
				                       {v[1].iov_base, v[1].iov_len}};
				struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
				n = recvmsg(c->fd, &mh, 0);
			}
		} else {
			c->ssl_read_wants_write = false;
			n = SSL_read(c->ssl, v[0].iov_base, (int)v[0].iov_len);
		}
		if (n <= 0) {
			evbuffer_commit_space(in, v, 0);
			if (c->ssl != NULL) {
				enum io_result r = ssl_error(c, (int)n, true);
				if (*got == 0)
					return r;
				if (r == IO_EOF) { /* data first, the close on the next turn */
					c->pending_eof = true;
					event_active(&c->rd, EV_READ, 0);
				}
				return IO_DONE;
			}
			if (n == 0)
				return *got > 0 ? IO_DONE : IO_EOF;
			if (errno == EAGAIN || errno == EINTR)
				return *got > 0 ? IO_DONE : IO_AGAIN;
			return *got > 0 ? IO_DONE : IO_ERROR;
		}
		/* commit exactly n bytes over the iovecs */
		size_t left = (size_t)n;
		for (int i = 0; i < nv; i++) {
			size_t take = left < v[i].iov_len ? left : v[i].iov_len;
			v[i].iov_len = take;
			left -= take;
		}
		evbuffer_commit_space(in, v, nv);
		*got += (size_t)n;
		c->big_reads = (size_t)n >= READ_FIRST;
		if ((size_t)n < room && (c->ssl == NULL || SSL_pending(c->ssl) == 0))
			return IO_DONE; /* the socket had no more */
	}
	if (c->ssl != NULL && SSL_pending(c->ssl) > 0)
		event_active(&c->rd, EV_READ, 0); /* decrypted bytes left: another turn */
	return IO_DONE;
}

/* ---- the loop's callbacks ------------------------------------------------------------------- */

/* The kind of event WHAT: the deadline, the end, or the error (errno in c->last_errno). */
static enum conn_error event_kind(const struct conn *c, short what)
{
	if (what & BEV_EVENT_TIMEOUT)
		return CONN_ERR_TIMEOUT;
	if (what & BEV_EVENT_EOF)
		return CONN_ERR_EOF;
	if (!(what & BEV_EVENT_ERROR))
		return CONN_ERR_NONE;
	return c->tls_failed ? CONN_ERR_TLS : errno_kind(c->last_errno);
}

static void report(struct conn *c, short what)
{
	c->last_errno = errno;
	if (what & BEV_EVENT_READING) {
		c->read_on = false;
		rd_disarm(c);
	}
	if (c->ops != NULL && c->ops->event != NULL)
		c->ops->event(c, what, event_kind(c, what), c->arg); /* may free c */
}

static void handshake(struct conn *c)
{
	int r = SSL_do_handshake(c->ssl);

	c->ssl_write_wants_read = false;
	disarm_wr(c);
	if (r == 1) {
		c->state = CS_OPEN;
		rd_stop(c);
		/* made again: libevent keeps a persistent event's timeout through event_del, and
		 * an open connection's read deadline is the queue's */
		event_assign(&c->rd, event_get_base(&c->rd), c->fd, EV_READ | EV_PERSIST, rd_cb, c);
		update_read(c);
		if (conn_output_len(c) > 0)
			conn_flush(c);
		report(c, BEV_EVENT_CONNECTED);
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_WRITE) {
		arm_wr(c, c->connect_ms);
		rd_stop(c);
		return;
	}
	if (e == SSL_ERROR_WANT_READ) {
		update_read(c);
		return;
	}
	c->tls_failed = e != SSL_ERROR_SYSCALL;
	ERR_clear_error();
	report(c, BEV_EVENT_ERROR | BEV_EVENT_READING);
}

static void on_connected(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	disarm_wr(c);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
		errno = err;
		report(c, BEV_EVENT_ERROR | BEV_EVENT_WRITING);
		return;
	}
	if (c->ssl != NULL) {
		c->state = CS_HANDSHAKE;
		handshake(c);
		return;
	}
	c->state = CS_OPEN;
	update_read(c);
	if (conn_output_len(c) > 0)
		conn_flush(c);
	report(c, BEV_EVENT_CONNECTED);
}

static void do_read(struct conn *c)
{
	size_t got;

	if (c->pending_eof) {
		report(c, BEV_EVENT_EOF | BEV_EVENT_READING);
		return;
	}
	enum io_result r = read_in(c, &got);
	if (c->ssl_read_wants_write)
		arm_wr(c, c->write_ms);
	update_read(c); /* the input may have reached read_max */
	switch (r) {
	case IO_DONE:
		if (got > 0 && c->ops != NULL && c->ops->read != NULL)
			c->ops->read(c, c->arg); /* may free c */
		return;
	case IO_EOF:
		report(c, BEV_EVENT_EOF | BEV_EVENT_READING);
		return;
	case IO_ERROR:
		report(c, BEV_EVENT_ERROR | BEV_EVENT_READING);
		return;
	default:
		return;
	}
}

static void do_write(struct conn *c)
{
	enum io_result r = write_out(c);

	if (r == IO_AGAIN) {
		if (c->ssl_write_wants_read) {
			disarm_wr(c);
			update_read(c);
		}
		return;
	}
	disarm_wr(c);
	if (r != IO_DONE) {
		report(c, BEV_EVENT_ERROR | BEV_EVENT_WRITING);
		return;
	}
	if (c->write_waited && conn_output_len(c) <= c->write_low) {
		c->write_waited = false;
		if (c->ops != NULL && c->ops->write != NULL)
			c->ops->write(c, c->arg); /* may free c */
	}
}

static void rd_run(struct conn *c, short what)
{
	if (c->wr_oom) {
		errno = ENOMEM;
		report(c, BEV_EVENT_ERROR | BEV_EVENT_WRITING);
		return;
	}
	if (what & EV_TIMEOUT) { /* connecting or in the handshake: an open one's is rd_expired */
		report(c, BEV_EVENT_TIMEOUT |
		              (c->state == CS_OPEN ? BEV_EVENT_READING : BEV_EVENT_WRITING));
		return;
	}
	if (c->rd_deadline != 0) /* the read deadline runs from the last activity: later */
		c->rd_deadline = (now_ms() + c->read_ms) | 1;
	if (c->state == CS_HANDSHAKE) {
		handshake(c);
		return;
	}
	if (c->ssl_write_wants_read) {
		c->ssl_write_wants_read = false;
		update_read(c);
		do_write(c);
		return;
	}
	do_read(c);
}

static void rd_cb(evutil_socket_t fd, short what, void *arg)
{
	clock_turn_begin();
	rd_run(arg, what);
	clock_turn_end();
}

/* An open connection's read deadline passed (dq_cb). */
static void rd_expired(struct conn *c)
{
	report(c, BEV_EVENT_TIMEOUT | BEV_EVENT_READING);
}

static void wr_run(struct conn *c, short what)
{
	if (what & EV_TIMEOUT) {
		report(c, BEV_EVENT_TIMEOUT | BEV_EVENT_WRITING);
		return;
	}
	switch (c->state) {
	case CS_CONNECTING:
		on_connected(c);
		return;
	case CS_HANDSHAKE:
		handshake(c);
		return;
	default:
		if (c->ssl_read_wants_write) {
			c->ssl_read_wants_write = false;
			disarm_wr(c);
			do_read(c);
			return;
		}
		do_write(c);
	}
}

static void wr_cb(evutil_socket_t fd, short what, void *arg)
{
	clock_turn_begin();
	wr_run(arg, what);
	clock_turn_end();
}
