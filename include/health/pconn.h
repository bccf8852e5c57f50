/* Probe connections: one HTTP/1.1 exchange (or a bare connect) per probe on nodegate's own
 * connection code (conn.c), plain or TLS. Every probe with the same verification settings
 * shares one SSL_CTX; each probe keeps the node's last TLS session and resumes it on its
 * next connection, and keeps the connection itself open between probes when the node
 * allows it (keep-alive), so that a probe then costs one request and one answer.
 *
 * A reused connection the node closed or reset before any byte of the answer is not the
 * node's failure: the probe connects afresh at once, within the same deadline, and that
 * connection's outcome is the probe's. Any other failure, a timeout on a reused connection
 * included, is the node's, and the connection is closed. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "log.h"

struct pconn;

/* How a probe ended. */
enum pconn_status {
	PCONN_OK = 0,     /* an answer (status and body), or connected for a bare connect */
	PCONN_REFUSED,    /* the connect was refused (nothing listens) */
	PCONN_TIMEOUT,    /* the deadline passed (result.connected: after TCP and TLS) */
	PCONN_TLS,        /* the TLS handshake failed (certificate, protocol) */
	PCONN_CLOSED,     /* the node closed or reset the connection before a whole answer */
	PCONN_BAD_ANSWER, /* not HTTP/1.x, or a framing error */
	PCONN_TOO_LARGE,  /* the body passed the limit */
	PCONN_ERROR,      /* another failure (socket, memory) */
	PCONN_NOFD,       /* no descriptor here (EMFILE, ENFILE): says nothing of the node */
	PCONN_STATUS_COUNT
};
extern const char *const pconn_status_names[PCONN_STATUS_COUNT];

struct pconn_result {
	enum pconn_status status;
	int http_status;  /* PCONN_OK with a request: the answer's status */
	const char *body; /* PCONN_OK: the body, NUL-terminated (valid during the callback) */
	size_t len;
	bool connected;   /* TCP (and TLS) were up: a timeout came while waiting for the answer */
	bool reused;      /* the answer came on a connection kept from an earlier probe */
	char detail[160]; /* what failed, for the reason */
};

/* Called on the loop when a probe ends; it may start, stop or free this pconn. */
typedef void (*pconn_done_cb)(struct pconn *pc, const struct pconn_result *r, void *arg);

/* The highest TLS version a probe offers. TLS 1.3 resumption still makes an ephemeral key
 * exchange (psk_dhe_ke) on every connection; TLS 1.2 resumption (ticket or session ID) makes
 * none, which is most of a probe's cost when every probe is a new connection. A TLS 1.2
 * probe offers only ECDHE key exchange with AEAD ciphers, and verifies the certificate and
 * name on each full handshake, as TLS 1.3 probes do. */
enum pconn_tls_max {
	PCONN_TLS_AUTO = 0, /* 1.3, then 1.2 once the node closes after an answer (falls back to
	                       1.3 for good if the node refuses the 1.2 handshake) */
	PCONN_TLS_12,
	PCONN_TLS_13, /* the OpenSSL default: 1.3, or 1.2 if the node has no 1.3 */
};

/* What one probe connection talks to. Strings are copied. */
struct pconn_conf {
	const struct sockaddr *sa; /* numeric address, no lookup */
	socklen_t salen;
	bool tls;
	bool verify;                /* TLS: verify the certificate and NAME */
	const char *ca;             /* verify: PEM CA file; NULL: the system store */
	const char *name;           /* TLS: SNI and the name to verify (an IP address: no SNI) */
	const char *request;        /* the whole request (head and body); NULL: connect only */
	bool keepalive;             /* keep the connection between probes when the node allows it */
	enum pconn_tls_max tls_max; /* TLS: the highest version offered */
	bool gnutls;     /* TLS 1.2 connections use GnuTLS (health/gtls.h), not OpenSSL */
	size_t body_max; /* a larger body is PCONN_TOO_LARGE */
};

/* A probe connection on BASE (NULL and ERR: a CA that does not load, no memory). */
struct pconn *pconn_new(struct event_base *base, const struct pconn_conf *conf, pconn_done_cb cb,
                        void *arg, char *err, size_t errlen);
/* Closes its connection and drops its TLS session; no callback. NULL is fine. */
void pconn_free(struct pconn *pc);
/* Starts a probe: the callback follows within TIMEOUT_MS (never from inside this call). */
void pconn_start(struct pconn *pc, uint64_t timeout_ms);
/* Aborts a probe in flight (no callback) and closes the connection. */
void pconn_stop(struct pconn *pc);

/* Counters for /metrics, all probes together: connections opened, probes answered on a kept
 * connection, kept connections found closed at reuse (then opened afresh), and kept
 * connections that closed while idle; TLS handshakes completed by version (0: 1.2, 1: 1.3)
 * and kind (0: full, 1: resumed), and auto probes whose TLS 1.2 handshake failed and that
 * went back to 1.3. */
struct pconn_stats {
	uint64_t opened, reused, reuse_failed, idle_closed;
	uint64_t tls_handshakes[2][2];
	uint64_t tls12_fallbacks;
	uint64_t tls12_gnutls; /* TLS 1.2 handshakes completed with GnuTLS (full or resumed) */
	unsigned idle;         /* connections kept open between probes now */
};
void pconn_get_stats(struct pconn_stats *st);
