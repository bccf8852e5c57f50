/* Listening sockets handed over by the nodegate that started this one (inherit.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inherit.h"

bool inherit_hold;

static struct inherit_fd fds_in[INHERIT_MAX];
static size_t n_in;

int inherit_parse(const char *value, struct inherit_fd *out, size_t max, char *err, size_t errlen)
{
	size_t n = 0;
	const char *p = value;

	while (*p != '\0') {
		const char *end = strchr(p, ',');
		const char *colon;
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		char num[16], *numend;
		long fd;

		colon = memrchr(p, ':', len);
		if (colon == NULL || colon == p || (size_t)(colon - p) >= sizeof(out->name) ||
		    len - (size_t)(colon - p) - 1 == 0 ||
		    len - (size_t)(colon - p) - 1 >= sizeof(num)) {
			snprintf(err, errlen, "%s: \"%.*s\" is not NAME:FD", INHERIT_ENV, (int)len,
			         p);
			return -1;
		}
		memcpy(num, colon + 1, len - (size_t)(colon - p) - 1);
		num[len - (size_t)(colon - p) - 1] = '\0';
		fd = strtol(num, &numend, 10);
		if (*numend != '\0' || fd < 3 || fd > 65535) {
			snprintf(err, errlen, "%s: \"%s\" is not a file descriptor (3..65535)",
			         INHERIT_ENV, num);
			return -1;
		}
		if (n == max) {
			snprintf(err, errlen, "%s: more than %zu sockets", INHERIT_ENV, max);
			return -1;
		}
		memcpy(out[n].name, p, (size_t)(colon - p));
		out[n].name[colon - p] = '\0';
		out[n].fd = (int)fd;
		out[n].taken = false;
		n++;
		p += len;
		if (*p == ',')
			p++;
	}
	return (int)n;
}

static bool is_listening(int fd)
{
	int on = 0;
	socklen_t len = sizeof(on);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

int inherit_init(char *err, size_t errlen)
{
	const char *v = getenv(INHERIT_ENV);
	int n;

	if (v == NULL)
		return 0;
	n = inherit_parse(v, fds_in, INHERIT_MAX, err, errlen);
	unsetenv(INHERIT_ENV);
	if (n < 0)
		return -1;
	n_in = (size_t)n;
	inherit_hold = n_in > 0;
	for (size_t i = 0; i < n_in; i++)
		if (!is_listening(fds_in[i].fd)) {
			snprintf(err, errlen, "%s: fd %d (%s) is not a listening socket",
			         INHERIT_ENV, fds_in[i].fd, fds_in[i].name);
			n_in = 0;
			return -1;
		}
	return 0;
}

bool inherit_any(void)
{
	return n_in > 0;
}

/* Whether FD is bound to ADDR (family, address and port). */
static bool bound_to(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 || ss.ss_family != addr->sa_family)
		return false;
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)addr, *b = (const void *)&ss;
		return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)addr, *b = (const void *)&ss;
		return a->sin6_port == b->sin6_port &&
		       memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
	}
	return sl == len && memcmp(&ss, addr, len) == 0;
}

int inherit_take(const char *name, const struct sockaddr *addr, socklen_t len, int *fds, unsigned n,
                 char *err, size_t errlen)
{
	unsigned found = 0;

	for (size_t i = 0; i < n_in; i++) {
		if (fds_in[i].taken || strcmp(fds_in[i].name, name) != 0)
			continue;
		if (!bound_to(fds_in[i].fd, addr, len))
			return 0; /* its bind changed: a fresh socket, the old one is closed */
		found++;
	}
	if (found == 0)
		return 0;
	if (found != n) {
		snprintf(err, errlen,
		         "%s: the running nodegate handed over %u sockets, this one has %u workers "
		         "(changing workers takes a restart)",
		         name, found, n);
		return -1;
	}
	found = 0;
	for (size_t i = 0; i < n_in; i++)
		if (!fds_in[i].taken && strcmp(fds_in[i].name, name) == 0) {
			fds_in[i].taken = true;
			fds[found++] = fds_in[i].fd;
		}
	return (int)found;
}

void inherit_close_rest(void)
{
	for (size_t i = 0; i < n_in; i++)
		if (!fds_in[i].taken) {
			close(fds_in[i].fd);
			fds_in[i].taken = true;
		}
	n_in = 0;
}
