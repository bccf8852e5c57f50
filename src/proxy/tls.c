/* TLS contexts: termination on listeners, origination to backends. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "proxy/tls.h"

void tls_last_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "unknown TLS error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

static SSL_CTX *ctx_new(const SSL_METHOD *method, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(method);

	if (ctx == NULL) {
		tls_last_error(err, errlen);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	/* conn.c writes from evbuffer chains, which may move between retries */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
	                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return ctx;
}

SSL_CTX *tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
	char why[256];
	SSL_CTX *ctx = ctx_new(TLS_server_method(), err, errlen);

	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_last_error(why, sizeof(why));
		snprintf(err, errlen, "cannot load certificate %s: %s", cert, why);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		tls_last_error(why, sizeof(why));
		snprintf(err, errlen, "cannot load key %s: %s", key, why);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "key %s does not match certificate %s", key, cert);
		goto fail;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *tls_client_ctx_new(bool verify, const char *ca, char *err, size_t errlen)
{
	char why[256];
	SSL_CTX *ctx = ctx_new(TLS_client_method(), err, errlen);

	if (ctx == NULL)
		return NULL;
	if (!verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	int ok = ca != NULL ? SSL_CTX_load_verify_locations(ctx, ca, NULL)
	                    : SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		tls_last_error(why, sizeof(why));
		snprintf(err, errlen, "cannot load CA %s: %s", ca != NULL ? ca : "(system store)",
		         why);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL_CTX *tls_client_ctx(const struct conf_backend *cb, char *err, size_t errlen)
{
	return tls_client_ctx_new(cb->tls_verify, cb->tls_ca, err, errlen);
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

SSL *tls_client_ssl_new(SSL_CTX *ctx, const char *name, bool verify)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL || name == NULL || name[0] == '\0')
		return ssl;
	if (!is_ip_literal(name))
		SSL_set_tlsext_host_name(ssl, name);
	if (verify) {
		X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
		int ok = is_ip_literal(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name)
		                             : SSL_set1_host(ssl, name);
		if (ok != 1) {
			SSL_free(ssl);
			return NULL;
		}
	}
	return ssl;
}

SSL *tls_client_ssl(SSL_CTX *ctx, const struct conf_backend *cb)
{
	return tls_client_ssl_new(ctx, cb->tls_sni != NULL ? cb->tls_sni : cb->address.host,
	                          cb->tls_verify);
}
