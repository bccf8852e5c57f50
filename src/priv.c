/* Privileges: the checks at start, the files handed to the unprivileged user, the drop. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"

static char dropped_user[64];                    /* "": not dropped */
static char started_user[64], started_group[64]; /* as the file said at start ("": unset) */

/* "FILE:LINE: [nodegate] KEY: " (LINE left out when the file has no [nodegate]). */
static void where(const struct conf *c, const char *key, char *buf, size_t len)
{
	int line = strcmp(key, "group") == 0  ? c->global.group_line
	           : strcmp(key, "user") == 0 ? c->global.user_line
	                                      : 0;

	if (line <= 0)
		line = c->global.line;
	if (line > 0)
		snprintf(buf, len, "%s:%d: [nodegate] %s: ", c->path, line, key);
	else
		snprintf(buf, len, "%s: [nodegate] %s: ", c->path, key);
}

/* The uid and gid of C's user and group; -1 with the reason in err. */
static int ids(const struct conf *c, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	const struct passwd *pw = getpwnam(c->global.user);
	const struct group *gr;
	char w[512];

	if (pw == NULL) {
		where(c, "user", w, sizeof(w));
		snprintf(err, errlen, "%sno such user \"%s\"", w, c->global.user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (c->global.group == NULL)
		return 0;
	if ((gr = getgrnam(c->global.group)) == NULL) {
		where(c, "group", w, sizeof(w));
		snprintf(err, errlen, "%sno such group \"%s\"", w, c->global.group);
		return -1;
	}
	*gid = gr->gr_gid;
	return 0;
}

int priv_lookup(const struct conf *c, char *err, size_t errlen)
{
	uid_t uid;
	gid_t gid;

	return c->global.user == NULL ? 0 : ids(c, &uid, &gid, err, errlen);
}

int priv_check(const struct conf *c, char *err, size_t errlen)
{
	char w[512];
	uid_t uid;
	gid_t gid;

	snprintf(started_user, sizeof(started_user), "%s", c->global.user ? c->global.user : "");
	snprintf(started_group, sizeof(started_group), "%s",
	         c->global.group ? c->global.group : "");
	if (c->global.user == NULL) {
		if (geteuid() != 0 || c->global.allow_root)
			return 0;
		where(c, "user", w, sizeof(w));
		snprintf(err, errlen,
		         "%snodegate runs as root and user is unset (expected user = NAME, like "
		         "nodegate, to drop root once listening, or allow_root = yes)",
		         w);
		return -1;
	}
	if (geteuid() == 0)
		return ids(c, &uid, &gid, err, errlen);
	if (ids(c, &uid, &gid, err, errlen) == 0 && geteuid() == uid && getegid() == gid)
		return 0;
	/* as nginx: said, not fatal (a developer runs the shipped file as themselves) */
	where(c, c->global.group != NULL ? "group" : "user", w, sizeof(w));
	log_warn("%snot started as root (uid %u, gid %u): user %s is ignored, nodegate runs as it "
	         "was started",
	         w, (unsigned)geteuid(), (unsigned)getegid(), c->global.user);
	return 0;
}

int priv_own(const struct conf *c, const char *path, char *err, size_t errlen)
{
	struct stat st;
	uid_t uid;
	gid_t gid;
	DIR *d;
	const struct dirent *e;

	if (c->global.user == NULL || geteuid() != 0 || path == NULL)
		return 0;
	if (ids(c, &uid, &gid, err, errlen) != 0)
		return -1;
	if (lstat(path, &st) != 0 || S_ISLNK(st.st_mode))
		return 0; /* nothing there (yet), or a link we do not follow */
	if (chown(path, uid, gid) != 0) {
		snprintf(err, errlen, "cannot give %s to %s: %s", path, c->global.user,
		         strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || (d = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		struct stat fst;

		/* the store's files; subdirectories and links stay as they are */
		if (e->d_type != DT_REG &&
		    (e->d_type != DT_UNKNOWN ||
		     fstatat(dirfd(d), e->d_name, &fst, AT_SYMLINK_NOFOLLOW) != 0 ||
		     !S_ISREG(fst.st_mode)))
			continue;
		if (fchownat(dirfd(d), e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
			snprintf(err, errlen, "cannot give %s/%s to %s: %s", path, e->d_name,
			         c->global.user, strerror(errno));
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

int priv_drop(const struct conf *c, char *err, size_t errlen)
{
	const struct passwd *pw;
	uid_t uid;
	gid_t gid;

	if (c->global.user == NULL || geteuid() != 0)
		return 0;
	if (ids(c, &uid, &gid, err, errlen) != 0)
		return -1;
	if (uid == 0) {
		snprintf(err, errlen, "user %s is root: nothing would be dropped", c->global.user);
		return -1;
	}
	if ((c->global.group != NULL ? setgroups(1, &gid) : initgroups(c->global.user, gid)) != 0 ||
	    setgid(gid) != 0 || setuid(uid) != 0) {
		snprintf(err, errlen, "cannot become %s (uid %u, gid %u): %s", c->global.user,
		         (unsigned)uid, (unsigned)gid, strerror(errno));
		return -1;
	}
	/* for good: neither id may come back, and root is out of reach */
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid ||
	    setuid(0) == 0 || seteuid(0) == 0) {
		snprintf(err, errlen, "dropped to %s, but root can still be regained: stopping",
		         c->global.user);
		return -1;
	}
	if ((pw = getpwuid(uid)) != NULL) {
		setenv("HOME", pw->pw_dir, 1);
		setenv("USER", pw->pw_name, 1);
		setenv("LOGNAME", pw->pw_name, 1);
	}
	snprintf(dropped_user, sizeof(dropped_user), "%s", c->global.user);
	log_info("running as user %s (uid %u, gid %u): root dropped", c->global.user, (unsigned)uid,
	         (unsigned)gid);
	return 0;
}

const char *priv_dropped_user(void)
{
	return dropped_user[0] != '\0' ? dropped_user : NULL;
}

void priv_explain(const struct conf_errors *errs)
{
	if (dropped_user[0] == '\0')
		return;
	for (size_t i = 0; i < errs->n; i++) {
		if (strstr(errs->msg[i], "Permission denied") == NULL &&
		    strstr(errs->msg[i], "permission denied") == NULL)
			continue;
		log_error("reloads run as user %s (root was dropped at start): they cannot bind "
		          "ports below 1024 nor read files only root may read; restart nodegate "
		          "for such a change, or give the user the file (or, under systemd, "
		          "CAP_NET_BIND_SERVICE)",
		          dropped_user);
		return;
	}
}

void priv_reloaded(const struct conf *c)
{
	const char *u = c->global.user ? c->global.user : "",
	           *g = c->global.group ? c->global.group : "";

	if (strcmp(u, started_user) != 0 || strcmp(g, started_group) != 0)
		log_warn(
		    "[nodegate] user/group: %s:%s now in the file, %s:%s at start: a change of "
		    "user or group takes effect at the next start",
		    *u ? u : "(unset)", *g ? g : "(unset)",
		    *started_user ? started_user : "(unset)",
		    *started_group ? started_group : "(unset)");
}
