/* Where the nodes are is not the public's business: text shown on the status page and the
 * public APIs has every configured backend address (traffic and probe, IP or host name,
 * with its port) and anything else that looks like an address replaced. */
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include <jansson.h>

#include "util.h"
#include "ops/redact.h"
#include "registry.h"

#define HIDDEN    "(address hidden)"
#define TITLE_MAX 512 /* bytes of a title that is not UTF-8, kept as ASCII */

/* Whether C may be part of a host name or an address next to a match. */
static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

/* ":5005" or " port 5005" (curl's words) after an address: its length, or 0. */
static size_t port_len(const char *s)
{
	size_t n = s[0] == ':' ? 1 : strncmp(s, " port ", 6) == 0 ? 6 : 0;
	size_t digits = n > 0 ? strspn(s + n, "0123456789") : 0;

	return digits > 0 ? n + digits : 0;
}

/* Replaces the LEN bytes at P in S (CAP bytes) by HIDDEN; returns what follows it, or NULL
 * when S had to be cut there. */
static char *put_hidden(char *s, size_t cap, char *p, size_t len)
{
	size_t hl = strlen(HIDDEN), at = (size_t)(p - s), tail = strlen(p + len);

	if (at + hl >= cap) {
		*p = '\0';
		return NULL;
	}
	if (at + hl + tail >= cap)
		tail = cap - 1 - at - hl;
	memmove(p + hl, p + len, tail);
	p[hl + tail] = '\0';
	memcpy(p, HIDDEN, hl);
	return p + hl;
}

/* Hides each whole occurrence of HOST in S, with the port after it; only those with a port
 * when the host is also a public name (a backend called as its host: "backend n2: down"). */
static void hide_host(char *s, size_t cap, const char *host, bool with_port_only)
{
	size_t nl = strlen(host);

	for (char *p = nl > 0 ? strstr(s, host) : NULL; p != NULL; p = strstr(p, host)) {
		char *end = p + nl;

		if ((p > s && (host_char(p[-1]) || p[-1] == ':')) || host_char(*end) ||
		    (with_port_only && port_len(end) == 0)) {
			p++; /* inside a longer name or address, or only the name */
			continue;
		}
		p = put_hidden(s, cap, p, nl + port_len(end));
		if (p == NULL)
			return;
	}
}

/* Whether S is the name of a pool or a backend, which the page shows anyway. */
static bool is_public_name(const char *s)
{
	for (size_t i = 0; i < registry.n_backends; i++)
		if (strcmp(registry.backends[i]->name, s) == 0)
			return true;
	for (size_t i = 0; i < registry.n_pools; i++)
		if (strcmp(registry.pools[i]->name, s) == 0)
			return true;
	return false;
}

/* Whether the N bytes at P are a dotted-quad IPv4 address. */
static bool is_ipv4(const char *p, size_t n)
{
	size_t dots = 0, digits = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '.' && digits > 0 && digits <= 3)
			dots++, digits = 0;
		else if (p[i] >= '0' && p[i] <= '9')
			digits++;
		else
			return false;
	}
	return dots == 3 && digits > 0 && digits <= 3;
}

/* Length of the address that starts at P (an IPv4 address, "[IPv6]", or a dotted name or
 * localhost with a port after it), its port included; 0 when none starts there. */
static size_t addr_len(const char *p)
{
	size_t n;

	if (p[0] == '[') {
		n = strspn(p + 1, "0123456789abcdefABCDEF:.");
		return n > 1 && p[n + 1] == ']' ? n + 2 + port_len(p + n + 2) : 0;
	}
	for (n = 0; host_char(p[n]); n++)
		;
	if (n == 0)
		return 0;
	if (is_ipv4(p, n))
		return n + port_len(p + n);
	if (port_len(p + n) > 0 &&
	    (memchr(p, '.', n) != NULL || (n == 9 && !memcmp(p, "localhost", 9))))
		return n + port_len(p + n);
	return 0;
}

/* TEXT (CAP bytes) without where the nodes are: every configured address and host name
 * with its port, then whatever else looks like an address (a probe's error may name one the
 * configuration does not). */
void redact_text(char *text, size_t cap)
{
	char ip[300];

	for (size_t i = 0; i < registry.n_backends; i++) {
		const struct conf_backend *cb = &registry.backends[i]->conf;
		const struct conf_addr *a[] = {&cb->address, &cb->health.check_address};

		for (size_t j = 0; j < ARRAY_SIZE(a); j++) {
			if (a[j]->len == 0)
				continue;
			conf_addr_format(a[j], ip, sizeof(ip));
			*strrchr(ip, ':') = '\0'; /* "[::1]:80" -> "[::1]" */
			hide_host(text, cap, ip, false);
			hide_host(text, cap, a[j]->host, is_public_name(a[j]->host));
		}
	}
	for (char *p = text; p != NULL && *p != '\0';) {
		size_t n = p > text && (host_char(p[-1]) || p[-1] == ':') ? 0 : addr_len(p);

		p = n > 0 ? put_hidden(text, cap, p, n) : p + 1;
	}
}

json_t *redact_json_text(const char *s)
{
	char buf[TITLE_MAX];
	json_t *j = json_string(s);
	size_t i;

	if (j != NULL)
		return j;
	for (i = 0; s[i] != '\0' && i + 1 < sizeof(buf); i++)
		buf[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	buf[i] = '\0';
	return json_string(buf);
}

void redact_public(const char *in, char *out, size_t len)
{
	const struct conf *c = registry.conf;

	snprintf(out, len, "%s", in);
	if (c == NULL || !c->status.public_backend_details)
		redact_text(out, len);
}
