/*
 * priv - the one place where a process gives up root (DESIGN §1).
 *
 * Order: look the user up (and its groups) while /etc is still visible,
 * chroot and chdir if asked, setgroups, setresgid, setresuid, then prove
 * that setuid(0) fails.  A process that is not root (an unprivileged
 * instance) has nothing to drop and keeps its user; asking such a process
 * to become another user is an error.
 *
 * Never: return with any of real, effective or saved uid/gid 0 left, or
 * continue after a failed step (callers treat -1 as fatal at start-up).
 */
#ifndef FACTEUR_PRIV_H
#define FACTEUR_PRIV_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/str.h"

/* Look up a user: 0 with uid/gid, or -1 with the reason in why. */
FCT_MUST_CHECK int priv_user_lookup(const char *user, uid_t *uid_r,
    gid_t *gid_r, struct str *why);
/* Look up a group by name. */
FCT_MUST_CHECK int priv_group_lookup(const char *group, gid_t *gid_r,
    struct str *why);

/*
 * Become user (with its supplementary groups), chrooted to chroot_dir when
 * not NULL.  Returns 0, or -1 with the reason in why.
 */
FCT_MUST_CHECK int priv_drop(const char *user, const char *chroot_dir,
    struct str *why);

/*
 * As root, a file or folder that a non-root user could change would let
 * that user run code as root.  0 when path is owned by uid 0 and not
 * group- or other-writable; -1 with the reason in why.
 */
FCT_MUST_CHECK int priv_check_root_owned(const char *path, struct str *why);

/* True when the process runs as root (real or effective). */
bool priv_is_root(void);

#endif
