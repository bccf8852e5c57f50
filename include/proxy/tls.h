/* TLS contexts (OpenSSL 3): termination on listeners, origination to backends.
 * TLS 1.2 and 1.3 only. Helpers write the reason into the caller's buffer. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "conf.h"

/* A server context from a PEM certificate chain and its key. NULL on failure. */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen);
/* A client context for a backend: verification on unless tls_verify = no, CA from tls_ca
 * or the system store. NULL on failure. */
SSL_CTX *tls_client_ctx(const struct conf_backend *cb, char *err, size_t errlen);
/* The same from its parts: VERIFY, and CA (a PEM file; NULL: the system store). */
SSL_CTX *tls_client_ctx_new(bool verify, const char *ca, char *err, size_t errlen);
/* A client SSL for one connection: SNI and the name to verify from tls_sni or the
 * address's host (an IP address is verified as such and sent without SNI). */
SSL *tls_client_ssl(SSL_CTX *ctx, const struct conf_backend *cb);
/* The same from its parts: NAME (SNI unless an IP address; NULL or "": neither SNI nor a
 * name to verify) and VERIFY. */
SSL *tls_client_ssl_new(SSL_CTX *ctx, const char *name, bool verify);
/* The last OpenSSL error as one line (empties the error queue). */
void tls_last_error(char *buf, size_t len);
