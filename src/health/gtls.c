/* TLS 1.2 probes with GnuTLS over conn.c's plain connections (see health/gtls.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "health/gtls.h"
#include "proxy/conn.h"

/* The OpenSSL TLS 1.2 probes' policy (pconn.c's PCONN_TLS12_CIPHERS): TLS 1.2 only, ECDHE
 * key exchange, AEAD ciphers, AES-128-GCM first for its SHA-256 PRF (three PRF runs per
 * resumed handshake). */
#define GTLS_PRIORITY                                                                              \
	"NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-CIPHER-ALL:+AES-128-GCM:"  \
	"+CHACHA20-POLY1305:+AES-256-GCM:-MAC-ALL:+AEAD"

#define GTLS_STEPS_MAX 64 /* gnutls calls per read: records that need no answer, bounded */

/* Credentials per verification setting, shared by every probe that uses it. */
struct gtls_cred {
	gnutls_certificate_credentials_t cred;
	bool verify;
	char *ca; /* verify: the CA file, NULL for the default trust */
	unsigned refs;
	LIST_ENTRY(gtls_cred) link;
};

struct gtls {
	gnutls_session_t s;
	struct conn *c;
	bool verify;
	gnutls_typed_vdata_st ip; /* verify an IP address: its bytes */
	unsigned char ip_bytes[16];
};

static struct {
	LIST_HEAD(, gtls_cred) creds;
	gnutls_priority_t prio;
	bool prio_ready;
} G;

/* ---- credentials ---------------------------------------------------------------------- */

/* The trust without a CA file: what OpenSSL's default paths read when the environment names
 * them (SSL_CERT_FILE, SSL_CERT_DIR), else the system's store. */
static int load_default_trust(gnutls_certificate_credentials_t cred, char *err, size_t errlen)
{
	const char *file = getenv("SSL_CERT_FILE"), *dir = getenv("SSL_CERT_DIR");
	int n = 0, r;

	if ((file == NULL || file[0] == '\0') && (dir == NULL || dir[0] == '\0')) {
		if ((r = gnutls_certificate_set_x509_system_trust(cred)) < 0) {
			snprintf(err, errlen, "cannot load CA (system store): %s",
			         gnutls_strerror(r));
			return -1;
		}
		return 0;
	}
	if (file != NULL && file[0] != '\0') {
		if ((r = gnutls_certificate_set_x509_trust_file(cred, file, GNUTLS_X509_FMT_PEM)) <
		    0) {
			snprintf(err, errlen, "cannot load CA %s: %s", file, gnutls_strerror(r));
			return -1;
		}
		n += r;
	}
	if (dir != NULL && dir[0] != '\0' &&
	    (r = gnutls_certificate_set_x509_trust_dir(cred, dir, GNUTLS_X509_FMT_PEM)) > 0)
		n += r;
	if (n == 0) {
		snprintf(err, errlen, "cannot load CA %s: no certificate",
		         file != NULL ? file : dir);
		return -1;
	}
	return 0;
}

static struct gtls_cred *cred_new(bool verify, const char *ca, char *err, size_t errlen)
{
	struct gtls_cred *x = calloc(1, sizeof(*x));
	int r;

	if (x == NULL || (ca != NULL && (x->ca = strdup(ca)) == NULL) ||
	    gnutls_certificate_allocate_credentials(&x->cred) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (verify && ca != NULL) {
		if ((r = gnutls_certificate_set_x509_trust_file(x->cred, ca,
		                                                GNUTLS_X509_FMT_PEM)) <= 0) {
			snprintf(err, errlen, "cannot load CA %s: %s", ca,
			         r < 0 ? gnutls_strerror(r) : "no certificate");
			goto fail;
		}
	} else if (verify && load_default_trust(x->cred, err, errlen) < 0) {
		goto fail;
	}
	x->verify = verify;
	x->refs = 1;
	return x;
fail:
	if (x != NULL) {
		if (x->cred != NULL)
			gnutls_certificate_free_credentials(x->cred);
		free(x->ca);
	}
	free(x);
	return NULL;
}

struct gtls_cred *gtls_cred_get(bool verify, const char *ca, char *err, size_t errlen)
{
	struct gtls_cred *x;
	const char *pos = NULL;
	int r;

	if (!verify)
		ca = NULL;
	if (!G.prio_ready) {
		if ((r = gnutls_priority_init(&G.prio, GTLS_PRIORITY, &pos)) < 0) {
			snprintf(err, errlen, "GnuTLS priority string refused at \"%s\": %s",
			         pos != NULL ? pos : "", gnutls_strerror(r));
			return NULL;
		}
		G.prio_ready = true;
	}
	LIST_FOREACH(x, &G.creds, link)
	{
		if (x->verify == verify && (x->ca == ca || (x->ca && ca && !strcmp(x->ca, ca)))) {
			x->refs++;
			return x;
		}
	}
	if ((x = cred_new(verify, ca, err, errlen)) == NULL)
		return NULL;
	LIST_INSERT_HEAD(&G.creds, x, link);
	return x;
}

void gtls_cred_put(struct gtls_cred *x)
{
	if (x == NULL || --x->refs > 0)
		return;
	LIST_REMOVE(x, link);
	gnutls_certificate_free_credentials(x->cred);
	free(x->ca);
	free(x);
}

void gtls_saved_drop(struct gtls_saved *s)
{
	if (s->data != NULL)
		gnutls_free(s->data);
	s->data = NULL;
	s->size = 0;
}

/* ---- transport: the connection's buffers ---------------------------------------------- */

static ssize_t pull(gnutls_transport_ptr_t p, void *data, size_t len)
{
	struct gtls *g = p;
	int n;

	if (conn_input_len(g->c) == 0) {
		gnutls_transport_set_errno(g->s, EAGAIN);
		return -1;
	}
	if ((n = evbuffer_remove(conn_input(g->c), data, len)) <= 0) {
		gnutls_transport_set_errno(g->s, EAGAIN);
		return -1;
	}
	return n;
}

static ssize_t push(gnutls_transport_ptr_t p, const void *data, size_t len)
{
	struct gtls *g = p;

	if (evbuffer_add(conn_output(g->c), data, len) != 0) {
		gnutls_transport_set_errno(g->s, ENOMEM);
		return -1;
	}
	return (ssize_t)len;
}

void gtls_flush(struct gtls *g)
{
	if (conn_output_len(g->c) > 0)
		conn_flush(g->c); /* a write failure is reported from the loop */
}

/* ---- one session ---------------------------------------------------------------------- */

struct gtls *gtls_new(struct gtls_cred *cr, struct conn *c, const char *name, bool verify,
                      const struct gtls_saved *saved)
{
	struct gtls *g = calloc(1, sizeof(*g));
	bool has_name = name != NULL && name[0] != '\0';
	bool ip4 = false, ip6 = false;

	if (g == NULL)
		return NULL;
	g->c = c;
	g->verify = verify;
	if (gnutls_init(&g->s, GNUTLS_CLIENT) < 0) {
		free(g);
		return NULL;
	}
	if (gnutls_priority_set(g->s, G.prio) < 0 ||
	    gnutls_credentials_set(g->s, GNUTLS_CRD_CERTIFICATE, cr->cred) < 0)
		goto fail;
	gnutls_transport_set_ptr(g->s, g);
	gnutls_transport_set_push_function(g->s, push);
	gnutls_transport_set_pull_function(g->s, pull);
	if (has_name) {
		ip4 = inet_pton(AF_INET, name, g->ip_bytes) == 1;
		ip6 = !ip4 && inet_pton(AF_INET6, name, g->ip_bytes) == 1;
		if (!ip4 && !ip6 &&
		    gnutls_server_name_set(g->s, GNUTLS_NAME_DNS, name, strlen(name)) < 0)
			goto fail;
	}
	if (verify) {
		if (ip4 || ip6) {
			g->ip.type = GNUTLS_DT_IP_ADDRESS;
			g->ip.data = g->ip_bytes;
			g->ip.size = ip4 ? 4 : 16;
			gnutls_session_set_verify_cert2(g->s, &g->ip, 1, 0);
		} else {
			gnutls_session_set_verify_cert(g->s, has_name ? name : NULL, 0);
		}
	}
	if (saved != NULL && saved->data != NULL)
		gnutls_session_set_data(g->s, saved->data, saved->size); /* stale: a full one */
	return g;
fail:
	gnutls_deinit(g->s);
	free(g);
	return NULL;
}

void gtls_free(struct gtls *g)
{
	if (g == NULL)
		return;
	gnutls_deinit(g->s); /* no gnutls_bye: answers are framed */
	free(g);
}

/* A self-signed peer certificate (the chain's only one issued itself), for OpenSSL's text. */
static bool self_signed(gnutls_session_t s)
{
	unsigned n = 0;
	const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
	gnutls_x509_crt_t crt;
	bool self = false;

	if (certs == NULL || n != 1 || gnutls_x509_crt_init(&crt) < 0)
		return false;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) >= 0)
		self = gnutls_x509_crt_check_issuer(crt, crt) != 0;
	gnutls_x509_crt_deinit(crt);
	return self;
}

/* OpenSSL's words for GnuTLS's verification flags, first match wins. */
static const struct {
	unsigned flag;
	const char *text;
} cert_texts[] = {
    {GNUTLS_CERT_EXPIRED, "certificate has expired"},
    {GNUTLS_CERT_NOT_ACTIVATED, "certificate is not yet valid"},
    {GNUTLS_CERT_REVOKED, "certificate revoked"},
    {GNUTLS_CERT_SIGNATURE_FAILURE, "certificate signature failure"},
    {GNUTLS_CERT_INSECURE_ALGORITHM, "insecure algorithm in the chain"},
    {GNUTLS_CERT_SIGNER_NOT_CA, "invalid CA certificate"},
};

/* Why verification failed, in OpenSSL's words where they exist. */
static void cert_reason(struct gtls *g, char *why, size_t whylen)
{
	unsigned st = gnutls_session_get_verify_cert_status(g->s);
	const char *r = NULL;

	if (st & GNUTLS_CERT_SIGNER_NOT_FOUND)
		r = self_signed(g->s) ? "self-signed certificate"
		                      : "unable to get local issuer certificate";
	for (size_t i = 0; r == NULL && i < sizeof cert_texts / sizeof cert_texts[0]; i++)
		if (st & cert_texts[i].flag)
			r = cert_texts[i].text;
	if (r == NULL && (st & GNUTLS_CERT_UNEXPECTED_OWNER))
		r = g->ip.size != 0 ? "IP address mismatch" : "hostname mismatch";
	if (r != NULL) {
		snprintf(why, whylen, "%s", r);
		return;
	}
	gnutls_datum_t out = {NULL, 0};
	if (gnutls_certificate_verification_status_print(st, GNUTLS_CRT_X509, &out, 0) >= 0 &&
	    out.data != NULL)
		snprintf(why, whylen, "%s", (const char *)out.data);
	else
		snprintf(why, whylen, "status 0x%x", st);
	gnutls_free(out.data);
}

enum gtls_step gtls_handshake(struct gtls *g, char *why, size_t whylen)
{
	int r = GNUTLS_E_AGAIN;

	for (int i = 0; i < GTLS_STEPS_MAX; i++) {
		r = gnutls_handshake(g->s);
		if (r >= 0 || r == GNUTLS_E_AGAIN || gnutls_error_is_fatal(r))
			break;
	}
	if (r == GNUTLS_E_SUCCESS)
		return GTLS_DONE; /* the last flight goes with the request (gtls_send) */
	gtls_flush(g);
	if (r == GNUTLS_E_AGAIN || !gnutls_error_is_fatal(r))
		return GTLS_AGAIN;
	if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR ||
	    (g->verify && gnutls_session_get_verify_cert_status(g->s) != 0)) {
		cert_reason(g, why, whylen);
		return GTLS_CERT;
	}
	snprintf(why, whylen, "%s", gnutls_strerror(r));
	return GTLS_FAILED;
}

bool gtls_resumed(struct gtls *g)
{
	return gnutls_session_is_resumed(g->s) != 0;
}

int gtls_save(struct gtls *g, struct gtls_saved *out)
{
	gnutls_datum_t d = {NULL, 0};

	gtls_saved_drop(out);
	if (gnutls_session_get_data2(g->s, &d) < 0 || d.data == NULL)
		return -1;
	out->data = d.data;
	out->size = d.size;
	return 0;
}

int gtls_send(struct gtls *g, const void *data, size_t len, char *why, size_t whylen)
{
	const char *p = data;
	ssize_t r = 0;

	/* the push function takes everything: each call writes whole records */
	for (int i = 0; i < GTLS_STEPS_MAX && len > 0; i++) {
		r = gnutls_record_send(g->s, p, len);
		if (r > 0) {
			p += r;
			len -= (size_t)r;
		} else if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED) {
			break;
		}
	}
	gtls_flush(g);
	if (len == 0)
		return 0;
	snprintf(why, whylen, "TLS write failed: %s",
	         r < 0 ? gnutls_strerror((int)r) : "nothing written");
	return -1;
}

int gtls_recv(struct gtls *g, struct evbuffer *plain, size_t max, char *why, size_t whylen)
{
	char buf[4096];
	ssize_t r = 0;

	/* bounded by MAX, and by the calls: a record decrypts to 16 KiB at most */
	for (int i = 0; i < GTLS_STEPS_MAX && evbuffer_get_length(plain) < max; i++) {
		r = gnutls_record_recv(g->s, buf, sizeof(buf));
		if (r > 0) {
			if (evbuffer_add(plain, buf, (size_t)r) != 0) {
				snprintf(why, whylen, "out of memory");
				return -1;
			}
			continue;
		}
		if (r == 0 || r == GNUTLS_E_AGAIN)
			break; /* close_notify: the connection's EOF follows; or nothing more yet */
		if (gnutls_error_is_fatal((int)r)) {
			gtls_flush(g);
			snprintf(why, whylen, "TLS record failed: %s", gnutls_strerror((int)r));
			return -1;
		}
	}
	gtls_flush(g);
	return 0;
}

size_t gtls_pending(struct gtls *g)
{
	return gnutls_record_check_pending(g->s);
}
