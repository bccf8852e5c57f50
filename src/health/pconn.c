/* Probe connections: a probe's HTTP/1.1 exchange on conn.c, with shared TLS contexts, TLS
 * session resumption and keep-alive between probes. TLS is OpenSSL's inside conn.c, except
 * for TLS 1.2 connections with check_tls_library = gnutls: GnuTLS over a plain connection
 * (health/gtls.c), its plaintext in pc->plain.
 *
 *   pconn_start ──► use_kept (kept connection) ──► send ──► on_read: head, body ──► finish
 *              └──► open_fresh (conn_connect) ──────┘        on_event: errors ─────┘
 *   a kept connection closed before any answer byte ──► open_fresh (same deadline) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "clock.h"
#include "health/gtls.h"
#include "health/pconn.h"
#include "proxy/conn.h"
#include "proxy/http.h"
#include "proxy/tls.h"

#define PCONN_HEAD_MAX  16384       /* an answer's head; more is a bad answer */
#define PCONN_BODY_KEEP 4096        /* body buffers up to this size are kept between probes */
#define PCONN_IDLE_MAX  (30 * 1000) /* ms: a connection idle longer is not reused */

/* TLS 1.2 probes: forward-secret key exchange and AEAD ciphers only, the SHA-256 suites
 * first: every resumed handshake runs the PRF three times, and SHA-256's is the cheaper
 * (9% less CPU per probe than AES-256-GCM-SHA384 against a rippled-like node) */
#define PCONN_TLS12_CIPHERS                                                                        \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE+CHACHA20:ECDHE+AESGCM"

/* One SSL_CTX per verification setting and version cap, shared by every probe that uses it. */
struct pconn_ctx {
	SSL_CTX *ctx;
	bool verify;
	bool tls12; /* TLS 1.2 at most */
	char *ca;   /* verify: the CA file, NULL for the system store */
	unsigned refs;
	LIST_ENTRY(pconn_ctx) link;
};

struct pconn {
	struct event_base *base;
	bool tls;
	enum pconn_tls_max tls_max;
	struct pconn_ctx *ctx;    /* TLS 1.3 and 1.2 (NULL: plain TCP, or tls_max 1.2) */
	struct pconn_ctx *ctx12;  /* TLS 1.2 at most (NULL: plain TCP, or tls_max 1.3) */
	bool use12;               /* the next connection uses ctx12 */
	bool no12;                /* auto: the node refused TLS 1.2, stay on 1.3 */
	bool fallback;            /* auto: this probe went back to 1.3 after a failed 1.2 one */
	bool conn12;              /* c is a TLS 1.2 connection (ctx12, or GnuTLS) */
	struct gtls_cred *gcred;  /* TLS 1.2 with GnuTLS (then ctx12 is NULL) */
	struct gtls *gs;          /* c's GnuTLS session (c is then a plain connection) */
	bool g_up;                /* gs's handshake is complete */
	struct gtls_saved gsaved; /* GnuTLS: the node's last TLS 1.2 session */
	struct evbuffer *plain;   /* GnuTLS: decrypted bytes not parsed yet */
	struct sockaddr_storage ss;
	socklen_t salen;
	char *name;
	char *request; /* NULL: connect only */
	size_t req_len;
	bool verify, keepalive;
	size_t body_max;
	pconn_done_cb cb;
	void *arg;

	struct conn *c;         /* the connection: in use, or kept between probes */
	SSL *ssl;               /* c's, owned by c */
	SSL_SESSION *sess[2];   /* the node's last session on ctx and on ctx12, offered on the
	                           next connect with the same context */
	struct event *deadline; /* the whole probe's timeout; also delivers early failures */
	uint64_t kept_since_us;
	bool running;
	bool kept;      /* c is idle, kept from an earlier probe */
	bool reused;    /* this probe runs on a kept connection */
	bool got_byte;  /* a byte of the answer arrived */
	bool fail_soon; /* the deadline event delivers res (set before it fired) */

	struct http_parser hp;
	bool in_body;
	enum http_body framing;
	uint64_t left; /* HTTP_BODY_LENGTH: bytes still to come */
	struct http_chunked ck;
	bool keep_after; /* the answer allows keep-alive */
	char *body;
	size_t len, cap;
	struct pconn_result res;
};

const char *const pconn_status_names[PCONN_STATUS_COUNT] = {
    [PCONN_OK] = "ok",
    [PCONN_REFUSED] = "refused",
    [PCONN_TIMEOUT] = "timeout",
    [PCONN_TLS] = "tls",
    [PCONN_CLOSED] = "closed",
    [PCONN_BAD_ANSWER] = "bad answer",
    [PCONN_TOO_LARGE] = "too large",
    [PCONN_ERROR] = "error",
    [PCONN_NOFD] = "no descriptor",
};

static struct {
	LIST_HEAD(, pconn_ctx) ctxs;
	struct pconn_stats st;
} G;

/* ---- shared TLS contexts -------------------------------------------------------------- */

static void drop_session(struct pconn *pc, bool tls12)
{
	if (tls12)
		gtls_saved_drop(&pc->gsaved);
	if (pc->sess[tls12] != NULL) {
		SSL_SESSION_free(pc->sess[tls12]);
		pc->sess[tls12] = NULL;
	}
}

/* OpenSSL's new session (TLS 1.2 handshake, TLS 1.3 ticket): the probe keeps the last. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct pconn *pc = SSL_get_app_data(ssl);

	if (pc == NULL)
		return 0;
	drop_session(pc, pc->conn12);
	pc->sess[pc->conn12] = sess;
	return 1; /* the reference is ours */
}

static struct pconn_ctx *ctx_get(bool verify, const char *ca, bool tls12, char *err, size_t errlen)
{
	struct pconn_ctx *x;

	if (!verify)
		ca = NULL;
	LIST_FOREACH(x, &G.ctxs, link)
	{
		if (x->verify == verify && x->tls12 == tls12 &&
		    (x->ca == ca || (x->ca && ca && !strcmp(x->ca, ca)))) {
			x->refs++;
			return x;
		}
	}
	if ((x = calloc(1, sizeof(*x))) == NULL || (ca != NULL && (x->ca = strdup(ca)) == NULL)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((x->ctx = tls_client_ctx_new(verify, ca, err, errlen)) == NULL)
		goto fail;
	if (tls12 && (SSL_CTX_set_max_proto_version(x->ctx, TLS1_2_VERSION) != 1 ||
	              SSL_CTX_set_cipher_list(x->ctx, PCONN_TLS12_CIPHERS) != 1)) {
		snprintf(err, errlen, "cannot set up TLS 1.2 for probes");
		SSL_CTX_free(x->ctx);
		goto fail;
	}
	SSL_CTX_set_session_cache_mode(x->ctx,
	                               SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(x->ctx, on_new_session);
	x->verify = verify;
	x->tls12 = tls12;
	x->refs = 1;
	LIST_INSERT_HEAD(&G.ctxs, x, link);
	return x;
fail:
	if (x != NULL)
		free(x->ca);
	free(x);
	return NULL;
}

static void ctx_put(struct pconn_ctx *x)
{
	if (x == NULL || --x->refs > 0)
		return;
	LIST_REMOVE(x, link);
	SSL_CTX_free(x->ctx);
	free(x->ca);
	free(x);
}

/* ---- one probe ------------------------------------------------------------------------ */

static void on_read(struct conn *c, void *arg);
static void on_event(struct conn *c, short what, enum conn_error err, void *arg);

static void close_conn(struct pconn *pc)
{
	if (pc->c == NULL)
		return;
	if (pc->kept)
		G.st.idle--;
	if (pc->ssl != NULL)
		SSL_set_quiet_shutdown(pc->ssl, 1); /* no close_notify: answers are framed */
	gtls_free(pc->gs);                          /* no close_notify either */
	pc->gs = NULL;
	pc->g_up = false;
	if (pc->plain != NULL)
		evbuffer_drain(pc->plain, evbuffer_get_length(pc->plain));
	conn_free(pc->c);
	pc->c = NULL;
	pc->ssl = NULL;
	pc->kept = false;
}

static void idle_read(struct conn *c, void *arg)
{
	struct pconn *pc = arg;

	G.st.idle_closed++; /* bytes nobody asked for: this connection is not trusted again */
	close_conn(pc);
}

static void idle_event(struct conn *c, short what, enum conn_error err, void *arg)
{
	struct pconn *pc = arg;

	G.st.idle_closed++;
	close_conn(pc);
}

static const struct conn_ops idle_ops = {idle_read, NULL, idle_event};

/* Ends the probe with pc->res: the connection is kept (KEEP) or closed, then the callback,
 * which may free PC, runs last. */
static void finish(struct pconn *pc, enum pconn_status status, bool keep)
{
	pc->res.status = status;
	pc->res.reused = pc->reused;
	pc->running = false;
	pc->fail_soon = false;
	evtimer_del(pc->deadline);
	if (status == PCONN_TLS)
		drop_session(pc, pc->conn12); /* a failed handshake starts from nothing next time */
	if (status == PCONN_OK && pc->reused)
		G.st.reused++;
	/* auto: a node that closes after each answer costs a handshake per probe, and a
	 * resumed TLS 1.2 handshake makes no key exchange */
	if (status == PCONN_OK && !keep && pc->tls_max == PCONN_TLS_AUTO && pc->tls && !pc->use12 &&
	    !pc->no12)
		pc->use12 = true;
	if (keep && pc->c != NULL) {
		pc->kept = true;
		pc->kept_since_us = clock_now_us();
		G.st.idle++;
		conn_setcb(pc->c, &idle_ops, pc);
		conn_trim(pc->c);
	} else {
		close_conn(pc);
	}
	pc->res.body = pc->body != NULL ? pc->body : "";
	pc->res.len = pc->len;
	pc->cb(pc, &pc->res, pc->arg);
}

__attribute__((format(printf, 3, 4))) static void fail(struct pconn *pc, enum pconn_status status,
                                                       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pc->res.detail, sizeof(pc->res.detail), fmt, ap);
	va_end(ap);
	finish(pc, status, false);
}

/* The deadline: the probe took too long, or an early failure waits to be delivered. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct pconn *pc = arg;

	if (!pc->running)
		return;
	if (pc->fail_soon) {
		finish(pc, pc->res.status, false);
		return;
	}
	snprintf(pc->res.detail, sizeof(pc->res.detail), "%s",
	         pc->res.connected ? "no answer" : "not connected");
	finish(pc, PCONN_TIMEOUT, false);
}

static void fail_later(struct pconn *pc, enum pconn_status status, const char *detail)
{
	pc->res.status = status;
	snprintf(pc->res.detail, sizeof(pc->res.detail), "%s", detail);
	pc->fail_soon = true;
	event_active(pc->deadline, EV_TIMEOUT, 1);
}

static const struct conn_ops probe_ops = {on_read, NULL, on_event};

/* The bytes of the answer: the connection's input, or what GnuTLS decrypted. */
static struct evbuffer *answer_input(struct pconn *pc)
{
	return pc->gs != NULL ? pc->plain : conn_input(pc->c);
}

/* GnuTLS: the request, encrypted, once the handshake is done. */
static void gtls_request(struct pconn *pc)
{
	char why[128];

	if (gtls_send(pc->gs, pc->request, pc->req_len, why, sizeof(why)) < 0)
		fail_later(pc, PCONN_ERROR, why);
}

static void send_request(struct pconn *pc)
{
	static const struct http_limits lim = {
	    .max_head = PCONN_HEAD_MAX, .max_uri = 1, .max_headers = HTTP_MAX_HEADERS};

	conn_setcb(pc->c, &probe_ops, pc);
	conn_enable_read(pc->c);
	if (pc->request == NULL)
		return;
	http_parser_init(&pc->hp, HTTP_RESPONSE, &lim);
	pc->in_body = false;
	if (pc->gs != NULL) {
		if (pc->g_up) /* a kept connection; a new one sends after the handshake */
			gtls_request(pc);
		return;
	}
	if (evbuffer_add(conn_output(pc->c), pc->request, pc->req_len) != 0) {
		fail_later(pc, PCONN_ERROR, "out of memory");
		return;
	}
	conn_flush(pc->c); /* a failure is reported from the loop */
}

static void connect_failed(struct pconn *pc, enum conn_error kind, const char *err)
{
	fail_later(pc,
	           kind == CONN_ERR_REFUSED ? PCONN_REFUSED
	           : kind == CONN_ERR_NOFD  ? PCONN_NOFD
	                                    : PCONN_ERROR,
	           err);
}

/* A TLS 1.2 connection with GnuTLS: a plain connection, the handshake from CONNECTED on. */
static void open_gnutls(struct pconn *pc)
{
	enum conn_error kind = CONN_ERR_NONE;
	char err[128];

	pc->c = conn_connect(pc->base, (const struct sockaddr *)&pc->ss, pc->salen, NULL, 0, &kind,
	                     err, sizeof(err));
	if (pc->c == NULL) {
		connect_failed(pc, kind, err);
		return;
	}
	pc->g_up = false;
	if ((pc->gs = gtls_new(pc->gcred, pc->c, pc->name, pc->verify, &pc->gsaved)) == NULL) {
		close_conn(pc);
		fail_later(pc, PCONN_ERROR, "cannot set up TLS");
		return;
	}
	G.st.opened++;
	send_request(pc);
}

static void open_fresh(struct pconn *pc)
{
	enum conn_error kind = CONN_ERR_NONE;
	char err[128];
	SSL *ssl = NULL;

	pc->reused = false;
	pc->got_byte = false;
	pc->res.connected = false;
	pc->conn12 = pc->tls && (pc->use12 || pc->ctx == NULL);
	if (pc->conn12 && pc->gcred != NULL) {
		open_gnutls(pc);
		return;
	}
	if (pc->tls) {
		SSL_CTX *ctx = (pc->conn12 ? pc->ctx12 : pc->ctx)->ctx;
		if ((ssl = tls_client_ssl_new(ctx, pc->name, pc->verify)) == NULL) {
			fail_later(pc, PCONN_ERROR, "cannot set up TLS");
			return;
		}
		SSL_set_app_data(ssl, pc);
		if (pc->sess[pc->conn12] != NULL)
			SSL_set_session(ssl, pc->sess[pc->conn12]);
	}
	pc->c = conn_connect(pc->base, (const struct sockaddr *)&pc->ss, pc->salen, ssl, 0, &kind,
	                     err, sizeof(err));
	if (pc->c == NULL) {
		if (ssl != NULL)
			SSL_free(ssl);
		connect_failed(pc, kind, err);
		return;
	}
	pc->ssl = ssl;
	G.st.opened++;
	send_request(pc); /* queued: written once connected */
}

/* Appends N bytes of IN to the body. */
static bool take_body(struct pconn *pc, struct evbuffer *in, size_t n)
{
	if (n > pc->body_max - pc->len) {
		snprintf(pc->res.detail, sizeof(pc->res.detail), "body over %zu bytes",
		         pc->body_max);
		finish(pc, PCONN_TOO_LARGE, false);
		return false;
	}
	if (pc->len + n + 1 > pc->cap) {
		size_t cap = pc->cap != 0 ? pc->cap : 1024;
		while (cap < pc->len + n + 1)
			cap *= 2;
		char *nb = realloc(pc->body, cap);
		if (nb == NULL) {
			fail(pc, PCONN_ERROR, "%s", "out of memory");
			return false;
		}
		pc->body = nb;
		pc->cap = cap;
	}
	evbuffer_remove(in, pc->body + pc->len, n);
	pc->len += n;
	pc->body[pc->len] = '\0';
	return true;
}

/* The answer is whole: keep the connection when both sides allow it and nothing else came. */
static void answered(struct pconn *pc)
{
	bool keep =
	    pc->keep_after && conn_input_len(pc->c) == 0 &&
	    (pc->ssl == NULL || SSL_pending(pc->ssl) == 0) &&
	    (pc->gs == NULL || (evbuffer_get_length(pc->plain) == 0 && gtls_pending(pc->gs) == 0));

	finish(pc, PCONN_OK, keep);
}

/* A chunked body, decoded: data bytes are taken, framing bytes fed one at a time. */
static void chunked_body(struct pconn *pc, struct evbuffer *in)
{
	size_t len, used;

	while ((len = evbuffer_get_length(in)) > 0) {
		uint64_t data = http_chunked_data_left(&pc->ck);
		size_t n = data == 0 ? 1 : (data < len ? (size_t)data : len);
		const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
		enum http_result r = http_chunked_feed(&pc->ck, p, n, &used);

		if (r == HTTP_ERROR) {
			fail(pc, PCONN_BAD_ANSWER, "%s", pc->ck.reason);
			return;
		}
		if (data > 0) {
			if (!take_body(pc, in, used))
				return;
		} else {
			evbuffer_drain(in, used);
		}
		if (r == HTTP_DONE) {
			answered(pc);
			return;
		}
	}
}

static void body(struct pconn *pc)
{
	struct evbuffer *in = answer_input(pc);
	size_t len = evbuffer_get_length(in);

	switch (pc->framing) {
	case HTTP_BODY_LENGTH: {
		size_t n = pc->left < len ? (size_t)pc->left : len;
		if (!take_body(pc, in, n))
			return;
		if ((pc->left -= n) == 0)
			answered(pc);
		return;
	}
	case HTTP_BODY_CHUNKED:
		chunked_body(pc, in);
		return;
	case HTTP_BODY_UNTIL_CLOSE:
		take_body(pc, in, len); /* ends at EOF (on_event) */
		return;
	default:
		answered(pc);
	}
}

/* The answer's head; true once it is complete (interim 1xx answers skipped). */
static bool head(struct pconn *pc)
{
	struct evbuffer *in = answer_input(pc);

	for (;;) {
		size_t len = evbuffer_get_length(in);
		const char *buf = (const char *)evbuffer_pullup(in, -1);
		enum http_result r = http_parse_head(&pc->hp, buf, len);
		if (r == HTTP_NEED_MORE)
			return false;
		if (r == HTTP_ERROR) {
			fail(pc, PCONN_BAD_ANSWER, "%s", pc->hp.reason);
			return false;
		}
		struct http_msg *m = &pc->hp.msg;
		evbuffer_drain(in, pc->hp.head_len);
		if (m->status >= 200)
			break;
		if (m->status == 101) {
			fail(pc, PCONN_BAD_ANSWER, "%s", "101 Switching Protocols");
			return false;
		}
		struct http_limits lim = pc->hp.lim;
		http_parser_init(&pc->hp, HTTP_RESPONSE, &lim); /* 1xx: the answer follows */
	}
	struct http_msg *m = &pc->hp.msg;
	http_response_body(m, HTTP_M_GET);
	pc->res.http_status = m->status;
	pc->framing = m->body;
	pc->left = m->content_length;
	pc->keep_after = pc->keepalive && m->keep_alive && m->body != HTTP_BODY_UNTIL_CLOSE;
	if (m->body == HTTP_BODY_CHUNKED)
		http_chunked_init(&pc->ck);
	pc->in_body = true;
	return true;
}

/* A TLS handshake completed (VERSION 1.3 or 1.2): counted, and what auto learns from it. */
static void tls_up(struct pconn *pc, bool v13, bool resumed)
{
	G.st.tls_handshakes[v13][resumed]++;
	if (pc->fallback && !pc->conn12)
		pc->no12 = true;
	/* auto: TLS 1.2 works, the TLS 1.3 session is of no more use */
	if (pc->conn12 && pc->tls_max == PCONN_TLS_AUTO)
		drop_session(pc, false);
}

static bool fallback_13(struct pconn *pc);

/* GnuTLS: the handshake as far as the node's bytes allow. True once it is done and the
 * request is out (the answer may follow); false while it waits or when the probe ended. */
static bool gtls_step(struct pconn *pc)
{
	char why[128];

	switch (gtls_handshake(pc->gs, why, sizeof(why))) {
	case GTLS_AGAIN:
		return false;
	case GTLS_CERT:
		fail(pc, PCONN_TLS, "certificate verify failed: %s", why);
		return false;
	case GTLS_FAILED:
		if (!fallback_13(pc))
			fail(pc, PCONN_TLS, "handshake failed: %s", why);
		return false;
	case GTLS_DONE:
		break;
	}
	pc->g_up = true;
	pc->res.connected = true;
	bool resumed = gtls_resumed(pc->gs);
	tls_up(pc, false, resumed);
	G.st.tls12_gnutls++;
	if (!resumed)
		gtls_save(pc->gs, &pc->gsaved); /* without data, the next is a full one too */
	if (pc->request == NULL) {
		gtls_flush(pc->gs); /* the handshake's last flight, before the close */
		finish(pc, PCONN_OK, false);
		return false;
	}
	gtls_request(pc);
	return true;
}

/* GnuTLS: ciphertext arrived. */
static void gtls_read(struct pconn *pc)
{
	char why[128];

	if (!pc->g_up && !gtls_step(pc))
		return;
	if (gtls_recv(pc->gs, pc->plain, PCONN_HEAD_MAX + pc->body_max, why, sizeof(why)) < 0) {
		fail(pc, PCONN_TLS, "%s", why);
		return;
	}
	if (conn_input_len(pc->c) > 0)
		conn_kick_read(pc->c); /* stopped at the bound: the rest from the loop */
	if (evbuffer_get_length(pc->plain) == 0)
		return;
	pc->got_byte = true;
	if (!pc->in_body && !head(pc))
		return;
	body(pc);
}

static void on_read(struct conn *c, void *arg)
{
	struct pconn *pc = arg;

	if (pc->gs != NULL) {
		gtls_read(pc);
		return;
	}
	pc->got_byte = true;
	if (pc->request == NULL)
		return; /* a bare connect ends at CONNECTED */
	if (!pc->in_body && !head(pc))
		return;
	body(pc);
}

/* A kept connection that failed before any answer byte: the node may have closed it
 * between probes (a keep-alive race), so a fresh connection decides. */
static bool retry_fresh(struct pconn *pc, enum conn_error err)
{
	if (!pc->reused || pc->got_byte ||
	    (err != CONN_ERR_EOF && err != CONN_ERR_RESET && err != CONN_ERR_OTHER))
		return false;
	G.st.reuse_failed++;
	close_conn(pc);
	open_fresh(pc);
	return true;
}

/* auto: a TLS 1.2 handshake that failed for another reason than the certificate (the node
 * may not speak TLS 1.2, or not with these ciphers): the probe goes on at once on a TLS
 * 1.3 connection within the same deadline, and stays there if that one succeeds. */
static bool fallback_13(struct pconn *pc)
{
	if (!pc->conn12 || pc->tls_max != PCONN_TLS_AUTO || pc->res.connected || pc->reused)
		return false;
	G.st.tls12_fallbacks++;
	drop_session(pc, true);
	pc->use12 = false;
	pc->fallback = true;
	close_conn(pc);
	open_fresh(pc);
	return true;
}

static void tls_failed(struct pconn *pc)
{
	long v = pc->verify && pc->ssl != NULL ? SSL_get_verify_result(pc->ssl) : X509_V_OK;

	if (v == X509_V_OK && fallback_13(pc))
		return;
	if (v != X509_V_OK)
		fail(pc, PCONN_TLS, "certificate verify failed: %s",
		     X509_verify_cert_error_string(v));
	else
		fail(pc, PCONN_TLS, "%s", "handshake failed");
}

static void on_event(struct conn *c, short what, enum conn_error err, void *arg)
{
	struct pconn *pc = arg;

	switch (err) {
	case CONN_ERR_NONE:           /* CONNECTED */
		if (pc->gs != NULL) { /* TCP is up: the GnuTLS handshake starts */
			if (gtls_step(pc) && conn_input_len(c) > 0)
				gtls_read(pc);
			return;
		}
		pc->res.connected = true;
		if (pc->ssl != NULL)
			tls_up(pc, SSL_version(pc->ssl) == TLS1_3_VERSION,
			       SSL_session_reused(pc->ssl) == 1);
		if (pc->request == NULL)
			finish(pc, PCONN_OK, false);
		return;
	case CONN_ERR_REFUSED:
		fail(pc, PCONN_REFUSED, "%s", "connection refused");
		return;
	case CONN_ERR_TLS:
		tls_failed(pc);
		return;
	case CONN_ERR_EOF:
		if (pc->in_body && pc->framing == HTTP_BODY_UNTIL_CLOSE) {
			finish(pc, PCONN_OK, false);
			return;
		}
		if (retry_fresh(pc, err) || fallback_13(pc))
			return;
		fail(pc, PCONN_CLOSED, "%s",
		     pc->res.connected ? "connection closed before the answer"
		                       : "connection closed during the TLS handshake");
		return;
	default:
		if (retry_fresh(pc, err) || (err == CONN_ERR_RESET && fallback_13(pc)))
			return;
		fail(pc, err == CONN_ERR_RESET ? PCONN_CLOSED : PCONN_ERROR, "%s",
		     strerror(conn_errno(c)));
	}
}

/* ---- the API -------------------------------------------------------------------------- */

struct pconn *pconn_new(struct event_base *base, const struct pconn_conf *conf, pconn_done_cb cb,
                        void *arg, char *err, size_t errlen)
{
	struct pconn *pc = calloc(1, sizeof(*pc));

	if (pc == NULL || conf->salen > sizeof(pc->ss)) {
		snprintf(err, errlen, pc == NULL ? "out of memory" : "bad address");
		free(pc);
		return NULL;
	}
	pc->base = base;
	memcpy(&pc->ss, conf->sa, conf->salen);
	pc->salen = conf->salen;
	pc->verify = conf->verify;
	pc->keepalive = conf->keepalive;
	pc->tls = conf->tls;
	pc->tls_max = conf->tls_max;
	pc->use12 = conf->tls_max == PCONN_TLS_12;
	bool gnutls = conf->tls && conf->gnutls && conf->tls_max != PCONN_TLS_13;
	pc->body_max = conf->body_max;
	pc->cb = cb;
	pc->arg = arg;
	if ((conf->name != NULL && (pc->name = strdup(conf->name)) == NULL) ||
	    (conf->request != NULL && (pc->request = strdup(conf->request)) == NULL) ||
	    (pc->deadline = evtimer_new(base, on_deadline, pc)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	pc->req_len = pc->request != NULL ? strlen(pc->request) : 0;
	if (conf->tls && conf->tls_max != PCONN_TLS_12 &&
	    (pc->ctx = ctx_get(conf->verify, conf->ca, false, err, errlen)) == NULL)
		goto fail;
	if (conf->tls && conf->tls_max != PCONN_TLS_13 && !gnutls &&
	    (pc->ctx12 = ctx_get(conf->verify, conf->ca, true, err, errlen)) == NULL)
		goto fail;
	if (gnutls && ((pc->gcred = gtls_cred_get(conf->verify, conf->ca, err, errlen)) == NULL ||
	               (pc->plain = evbuffer_new()) == NULL)) {
		if (pc->gcred != NULL)
			snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return pc;
fail:
	pconn_free(pc);
	return NULL;
}

void pconn_free(struct pconn *pc)
{
	if (pc == NULL)
		return;
	pconn_stop(pc);
	drop_session(pc, false);
	drop_session(pc, true);
	ctx_put(pc->ctx);
	ctx_put(pc->ctx12);
	gtls_cred_put(pc->gcred);
	if (pc->plain != NULL)
		evbuffer_free(pc->plain);
	if (pc->deadline != NULL)
		event_free(pc->deadline);
	free(pc->name);
	free(pc->request);
	free(pc->body);
	free(pc);
}

void pconn_start(struct pconn *pc, uint64_t timeout_ms)
{
	struct timeval tv = {.tv_sec = (time_t)(timeout_ms / 1000),
	                     .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};

	if (pc->running)
		return;
	memset(&pc->res, 0, sizeof(pc->res));
	pc->running = true;
	pc->fail_soon = false;
	pc->fallback = false;
	pc->in_body = false;
	pc->len = 0;
	if (pc->cap > PCONN_BODY_KEEP) {
		free(pc->body);
		pc->body = NULL;
		pc->cap = 0;
	}
	evtimer_add(pc->deadline, &tv);
	if (pc->c != NULL && pc->kept && pc->request != NULL &&
	    clock_now_us() - pc->kept_since_us < (uint64_t)PCONN_IDLE_MAX * 1000) {
		pc->kept = false;
		G.st.idle--;
		pc->reused = true;
		pc->got_byte = false;
		pc->res.connected = true;
		send_request(pc);
		return;
	}
	close_conn(pc);
	open_fresh(pc);
}

void pconn_stop(struct pconn *pc)
{
	pc->running = false;
	pc->fail_soon = false;
	if (pc->deadline != NULL)
		evtimer_del(pc->deadline);
	close_conn(pc);
}

void pconn_get_stats(struct pconn_stats *st)
{
	*st = G.st;
}
