/*
 * map_build - compile a text table into its LMDB file ("mailctl map build
 * FILE"), replacing the old one atomically.
 *
 * FILE (or "lmdb:FILE") is read through lib/map_text in the chosen
 * format and written to FILE.lmdb.tmp.<pid> (created O_EXCL, mode 0600,
 * MDB_NOSUBDIR | MDB_NOLOCK, map size from the input size with a wide
 * margin); then the owner, group and mode the caller asked for are set,
 * the file is synced (mdb_env_sync, then fsync), renamed over FILE.lmdb,
 * and the folder is synced.  A reader therefore sees the old table or the
 * new one, never half of one, and the new one never appears with the
 * wrong owner or mode (the passwd table is 0640 root:facteur-auth, the
 * others 0644).  Durable steps go through lib/fsio.
 *
 * Duplicate keys: a warning naming FILE:LINE, and the first one wins (as
 * Postfix).  Any error names FILE:LINE (or FILE for I/O) and builds
 * nothing: the old FILE.lmdb, if any, stays as it was.
 *
 * A temporary file left by a build that crashed is removed by the next
 * build once its pid is gone.
 *
 * Never: write FILE.lmdb in place, leave a temporary file behind on
 * failure, or build a table from a text with errors.
 */
#ifndef FACTEUR_MAP_BUILD_H
#define FACTEUR_MAP_BUILD_H

#include <sys/types.h>

#include "lib/diag.h"
#include "lib/map_text.h"
#include "lib/util.h"

/* Largest text source accepted. */
#define MAP_TEXT_MAX (1024 * 1024 * 1024)

/* Who owns the built file.  (uid_t)-1 / (gid_t)-1 leave the builder's. */
struct map_owner {
	uid_t uid;
	gid_t gid;
	mode_t mode; /* e.g. 0644, or 0640 for passwd */
};

/* The builder's own user and group, mode 0644. */
#define MAP_OWNER_DEFAULT ((struct map_owner){(uid_t)-1, (gid_t)-1, 0644})

/*
 * Build path ("FILE" or "lmdb:FILE") in format fmt (map_format_guess()
 * picks one from the name) with owner own.  Problems and warnings go to
 * d.  Returns 0 when FILE.lmdb was replaced, -1 when nothing was built.
 */
FCT_MUST_CHECK int map_build_file(const char *path, enum map_format fmt,
    const struct map_owner *own, struct diag *d);

#endif
