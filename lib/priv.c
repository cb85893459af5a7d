/*
 * priv - drop root: lookup, chroot, setgroups, setresgid, setresuid,
 * verify.
 *
 * Never: leave a partial drop behind a success return.
 */
#include "lib/priv.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRIV_MAX_GROUPS 64

bool
priv_is_root(void)
{
	return getuid() == 0 || geteuid() == 0;
}

int
priv_user_lookup(const char *user, uid_t *uid_r, gid_t *gid_r,
    struct str *why)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		str_notef(why, "unknown user \"%s\"", user);
		return -1;
	}
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	return 0;
}

int
priv_group_lookup(const char *group, gid_t *gid_r, struct str *why)
{
	struct group *gr;

	errno = 0;
	gr = getgrnam(group);
	if (gr == NULL) {
		str_notef(why, "unknown group \"%s\"", group);
		return -1;
	}
	*gid_r = gr->gr_gid;
	return 0;
}

int
priv_drop(const char *user, const char *chroot_dir, struct str *why)
{
	gid_t groups[PRIV_MAX_GROUPS];
	int ngroups = PRIV_MAX_GROUPS;
	uid_t uid;
	gid_t gid;

	if (priv_user_lookup(user, &uid, &gid, why) < 0)
		return -1;
	if (!priv_is_root()) {
		/* Unprivileged instance: everything runs as the invoker. */
		if (uid != getuid()) {
			str_notef(why,
			    "not root: cannot become user \"%s\" (running "
			    "as uid %ld)", user, (long)getuid());
			return -1;
		}
		if (chroot_dir != NULL) {
			str_notef(why, "not root: cannot chroot");
			return -1;
		}
		return 0;
	}
	if (uid == 0 || gid == 0) {
		str_notef(why, "user \"%s\" has uid or gid 0: refused", user);
		return -1;
	}
	if (getgrouplist(user, gid, groups, &ngroups) < 0) {
		str_notef(why, "user \"%s\" is in more than %d groups", user,
		    PRIV_MAX_GROUPS);
		return -1;
	}
	for (int i = 0; i < ngroups; i++)
		if (groups[i] == 0) {
			str_notef(why, "user \"%s\" is in group 0: refused",
			    user);
			return -1;
		}
	if (chroot_dir != NULL &&
	    (chroot(chroot_dir) < 0 || chdir("/") < 0)) {
		str_notef(why, "chroot %s: %s", chroot_dir, strerror(errno));
		return -1;
	}
	if (setgroups((size_t)ngroups, groups) < 0) {
		str_notef(why, "setgroups: %s", strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) < 0) {
		str_notef(why, "setresgid: %s", strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) < 0) {
		str_notef(why, "setresuid: %s", strerror(errno));
		return -1;
	}
	/* Sanity check: the way back must be closed. */
	if (setuid(0) == 0 || setgid(0) == 0 || geteuid() == 0 ||
	    getegid() == 0) {
		str_notef(why, "privileges still present after drop");
		return -1;
	}
	return 0;
}

int
priv_check_root_owned(const char *path, struct str *why)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		str_notef(why, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		str_notef(why,
		    "%s: writable by a non-root user (owner uid %ld, mode "
		    "%04o): refused", path, (long)st.st_uid,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}
