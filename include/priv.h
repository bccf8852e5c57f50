/* Privileges: [nodegate] user and group. Started as root, nodegate binds its listeners,
 * reads keys and certificates, opens the store and the logs, then becomes USER for good
 * (hooks run as USER too). Without user it refuses to run as root unless allow_root. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

#define PRIV_WUR __attribute__((warn_unused_result))

/* Whether user and group name accounts of this system: 0, or -1 with "FILE:LINE: ..." in
 * err (nodegate -t warns of it). */
int priv_lookup(const struct conf *c, char *err, size_t errlen) PRIV_WUR;
/* At start, before anything is opened: refuses root without user (unless allow_root), and
 * a user that does not exist. Not started as root, user is ignored with a warning (as
 * nginx does), unless we already are that user. */
int priv_check(const struct conf *c, char *err, size_t errlen) PRIV_WUR;
/* Started as root with a user: gives PATH (and, for a directory, the files directly in
 * it) to the user and group, so that they stay writable after the drop. Else nothing. */
int priv_own(const struct conf *c, const char *path, char *err, size_t errlen) PRIV_WUR;
/* Started as root with a user: supplementary groups, gid, uid, for good; fails unless
 * root cannot be regained. HOME, USER and LOGNAME follow (hooks inherit them). */
int priv_drop(const struct conf *c, char *err, size_t errlen) PRIV_WUR;
/* The user root was dropped for, or NULL when nodegate kept the privileges it had. */
const char *priv_dropped_user(void);
/* After a failed reload: when root was dropped and an error looks like a permission
 * problem, logs what a reload as that user cannot do. */
void priv_explain(const struct conf_errors *errs);
/* After a reload: says so when user or group changed (they take effect at the next start). */
void priv_reloaded(const struct conf *c);
