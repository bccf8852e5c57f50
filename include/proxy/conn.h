/* Buffered, non-blocking connections (plain TCP or TLS) on the event loop: a lean
 * replacement for libevent's bufferevents. Writes go out at once (conn_flush) and the write
 * event is armed only for what the socket did not take; reads need no FIONREAD; buffers
 * exist only while they hold bytes, so an idle connection costs two events and a few words.
 *
 * Events reported to the event callback use libevent's BEV_EVENT_* bits: READING or
 * WRITING with EOF, ERROR or TIMEOUT, and CONNECTED (an outgoing connection, or a TLS
 * handshake, completed), and come with their kind (enum conn_error), on which callers
 * decide. After EOF, ERROR or TIMEOUT on reading, reading is disabled. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <event2/bufferevent.h> /* BEV_EVENT_* */
#include <event2/event.h>
#include <openssl/ssl.h>

#include "log.h"

struct conn;
struct evbuffer;

/* What ended a connection, reported with its event (and by conn_connect). */
enum conn_error {
	CONN_ERR_NONE = 0, /* no failure: CONNECTED */
	CONN_ERR_REFUSED,  /* the connect was refused (ECONNREFUSED) */
	CONN_ERR_RESET,    /* the peer reset the connection (ECONNRESET, EPIPE) */
	CONN_ERR_TIMEOUT,  /* a deadline of conn_connect or conn_set_timeouts passed */
	CONN_ERR_TLS,      /* the TLS handshake or a TLS record failed */
	CONN_ERR_EOF,      /* the peer closed its side */
	CONN_ERR_OTHER,    /* another error; conn_errno has the errno */
	CONN_ERR_NOFD,     /* no descriptor for it (EMFILE, ENFILE, the data plane's ceiling) */
	CONN_ERR_COUNT
};

extern const char *const conn_error_names[CONN_ERR_COUNT];

/* Data arrived (read), the output drained to its low mark (write), or an event WHAT of kind
 * ERR (CONN_ERR_NONE with CONNECTED). */
typedef void (*conn_data_cb)(struct conn *c, void *arg);
typedef void (*conn_event_cb)(struct conn *c, short what, enum conn_error err, void *arg);

/* Wraps an accepted socket (takes ownership of FD and SSL). With SSL, the server
 * handshake runs first; data is reported once it is done. Reading starts disabled. */
struct conn *conn_new(struct event_base *base, evutil_socket_t fd, SSL *ssl);
/* Starts a non-blocking connect to SA (with SSL: then a client handshake). CONNECTED or
 * an error/timeout event follows. NULL when no socket could be made (*KIND and err say
 * why: a connect refused at once is CONN_ERR_REFUSED). */
struct conn *conn_connect(struct event_base *base, const struct sockaddr *sa, socklen_t len,
                          SSL *ssl, uint64_t timeout_ms, enum conn_error *kind, char *err,
                          size_t errlen);
void conn_free(struct conn *c);
/* Forgets what this thread knows of BASE (its common timeouts): before event_base_free. */
void conn_forget_base(const struct event_base *base);

/* What an owner does on data (read), on its output drained to the low mark (write, may be
 * NULL) and on an event (event); one constant table per kind of owner. */
struct conn_ops {
	conn_data_cb read;
	conn_data_cb write;
	conn_event_cb event;
};

void conn_setcb(struct conn *c, const struct conn_ops *ops, void *arg);
/* EV_READ: deliver data; EV_WRITE is managed by conn itself (armed while output waits). */
void conn_enable_read(struct conn *c);
void conn_disable_read(struct conn *c);
bool conn_reading(const struct conn *c);
/* Inactivity limits in milliseconds, 0 for none: reading (while enabled) and writing
 * (while output waits). An open connection's read limit is kept in its loop's deadline
 * queue (conn.c): moving it later, as every read and most changes do, costs no timer
 * change. Set them on the connection's own loop thread. */
void conn_set_timeouts(struct conn *c, uint64_t read_ms, uint64_t write_ms);
/* The same, for limits that are settings (the same for every connection of a listener or a
 * pool, such as the keep-alive wait): the write limit is kept in libevent's common
 * timeouts, one queue per duration, rather than its heap. Not for computed deadlines (a
 * new queue per value). */
void conn_set_timeouts_fixed(struct conn *c, uint64_t read_ms, uint64_t write_ms);
/* Reading pauses while the input holds this many bytes (0: 64 KiB). */
void conn_set_read_max(struct conn *c, size_t max);
/* The write callback runs when the output drains to this many bytes after a wait. */
void conn_set_write_low(struct conn *c, size_t low);

/* Buffers, made on first use. */
/* An empty evbuffer from this thread's bounded cache (evbuffer_new when it is empty), and
 * back (emptied; evbuffer_free when the cache is full). Only for buffers without
 * callbacks. conn_buffers_cleanup frees the cache at the thread's end. */
struct evbuffer *conn_buffer_new(void);
void conn_buffer_free(struct evbuffer *buf);
void conn_buffers_cleanup(void);
struct evbuffer *conn_input(struct conn *c);
struct evbuffer *conn_output(struct conn *c);
size_t conn_input_len(const struct conn *c);
size_t conn_output_len(const struct conn *c);
/* Writes the output now, as far as the socket takes it; the rest waits for the loop. */
void conn_flush(struct conn *c);
/* Writes the bytes of BUF (left as they are: a request kept for a replay, an answer held)
 * now when the socket takes them, straight from BUF's memory; what it does not take is
 * copied to the output and written by the loop, as conn_flush. */
void conn_write_buffer(struct conn *c, struct evbuffer *buf);
/* LEN bytes of BUF from OFF, contiguous: where they are when they lie in one piece of BUF,
 * else BUF made contiguous (evbuffer_pullup). NULL out of memory. */
const char *conn_buffer_span(struct evbuffer *buf, size_t off, size_t len);
/* Releases empty buffers (an idle connection keeps none). */
void conn_trim(struct conn *c);
/* Half-close: no more bytes will be written (plain sockets; TLS sends close_notify). */
void conn_shutdown_write(struct conn *c);
/* Half-close below TLS: a TCP FIN, and no close_notify then or at conn_free. For a lingering
 * close, which goes on reading: a TLS client that gets close_notify may stop writing (TLS 1.2
 * tells it to), and fail its write of a body nodegate would drop anyway (nginx shuts the
 * socket so too). */
void conn_shutdown_tcp(struct conn *c);
/* Re-runs the read callback from the loop (bytes are waiting in the input). */
void conn_kick_read(struct conn *c);

evutil_socket_t conn_fd(const struct conn *c);
bool conn_is_tls(const struct conn *c);
/* The errno behind the last event reported (for the text of CONN_ERR_OTHER). */
int conn_errno(const struct conn *c);
