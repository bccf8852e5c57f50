/* TLS 1.2 probes with GnuTLS (check_tls_library = gnutls): a resumed TLS 1.2 handshake costs
 * GnuTLS less CPU than OpenSSL (bench/README.md). GnuTLS runs over a plain conn.c
 * connection through its transport functions: it takes ciphertext from the connection's
 * input and appends ciphertext to its output, which is flushed after each call; the caller
 * drives the handshake and reading from the connection's callbacks, on the loop.
 *
 * The policy is the OpenSSL TLS 1.2 probes': TLS 1.2 only, ECDHE key exchange with AEAD
 * ciphers, AES-128-GCM first; SNI from the name (none for an IP address); with verification,
 * the chain against the CA file or, without one, SSL_CERT_FILE / SSL_CERT_DIR when set (as
 * OpenSSL reads them) or else the system trust store, and the name (DNS) or the address (IP)
 * on every full handshake. No close_notify is ever sent. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct conn;
struct evbuffer;
struct gtls_cred;
struct gtls;

/* Credentials for a verification setting (CA NULL: the default trust, see above), shared:
 * each get takes a reference. NULL and ERR when the CA does not load. */
struct gtls_cred *gtls_cred_get(bool verify, const char *ca, char *err, size_t errlen);
void gtls_cred_put(struct gtls_cred *cr);

/* A session's data, kept between connections to resume it (empty: data NULL). */
struct gtls_saved {
	void *data;
	unsigned size;
};
void gtls_saved_drop(struct gtls_saved *s);

/* A client session on the plain connection C (not owned) to NAME (SNI and what is verified;
 * NULL or empty: neither), offering SAVED's session when it has one. NULL: no memory. */
struct gtls *gtls_new(struct gtls_cred *cr, struct conn *c, const char *name, bool verify,
                      const struct gtls_saved *saved);
/* Ends the session without close_notify (the connection is the caller's). NULL is fine. */
void gtls_free(struct gtls *g);

enum gtls_step {
	GTLS_AGAIN = 0, /* waiting for the node's bytes */
	GTLS_DONE,      /* the handshake is complete */
	GTLS_CERT,      /* the certificate or the name failed verification (WHY: the reason) */
	GTLS_FAILED,    /* another handshake failure (WHY: GnuTLS's text) */
};
/* Runs the handshake as far as the input allows. Its last flight (a resumed session's
 * Finished) is held back at GTLS_DONE, to go out with the request in one write: the
 * caller then calls gtls_send, or gtls_flush. */
enum gtls_step gtls_handshake(struct gtls *g, char *why, size_t whylen);
/* Writes what is held back. */
void gtls_flush(struct gtls *g);
bool gtls_resumed(struct gtls *g);
/* After a full handshake: the session's data into OUT (its old data dropped); -1 if none. */
int gtls_save(struct gtls *g, struct gtls_saved *out);
/* Encrypts LEN bytes of DATA to the connection and flushes it; -1 (WHY) on failure. */
int gtls_send(struct gtls *g, const void *data, size_t len, char *why, size_t whylen);
/* Decrypts what the input holds into PLAIN, up to about MAX bytes in PLAIN: 0, or -1 (WHY) on
 * a record failure. */
int gtls_recv(struct gtls *g, struct evbuffer *plain, size_t max, char *why, size_t whylen);
/* Decrypted bytes GnuTLS still holds. */
size_t gtls_pending(struct gtls *g);
