/* Listening sockets inherited from the nodegate that started this one (SIGUSR2 upgrade,
 * upgrade.c): NODEGATE_LISTEN_FDS=NAME:FD,... names each socket after its listener (one per
 * worker, in worker order) or INHERIT_STATUS; a listener adopts its sockets instead of
 * binding, so no connection waiting in a queue is lost. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define INHERIT_ENV    "NODEGATE_LISTEN_FDS"
#define INHERIT_STATUS "[status]" /* the status listener's name (no section can be named so) */
#define INHERIT_MAX    256        /* sockets handed over at most */

struct inherit_fd {
	char name[128];
	int fd;
	bool taken;
};

/* Parses VALUE (NAME:FD,NAME:FD...) into OUT (at most MAX); the count, or -1 with ERR when
 * the value is malformed (a name without fd, an fd that is not a number, too many). Pure. */
int inherit_parse(const char *value, struct inherit_fd *out, size_t max, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Reads and unsets NODEGATE_LISTEN_FDS (hooks must not see it): -1 with ERR when it is
 * malformed or names an fd that is not a listening socket. 0 when unset. */
int inherit_init(char *err, size_t errlen) __attribute__((warn_unused_result));
/* Whether this process was started with sockets handed over. */
bool inherit_any(void);
/* True from inherit_init (sockets handed over) until upgrade.c says this process is ready:
 * the adopted listeners do not accept meanwhile (the old process serves on them). */
extern bool inherit_hold;
/* The sockets inherited for NAME when they are bound to ADDR: exactly N of them into FDS
 * (returns N, they are the caller's now); 0 when none was inherited for NAME or its
 * address changed (the caller binds); -1 with ERR when their count is not N (the old
 * process had another number of workers: that takes a restart). */
int inherit_take(const char *name, const struct sockaddr *addr, socklen_t len, int *fds, unsigned n,
                 char *err, size_t errlen) __attribute__((warn_unused_result));
/* Closes the inherited sockets no listener took (after the first configuration applied). */
void inherit_close_rest(void);
