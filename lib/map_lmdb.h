/*
 * map_lmdb - the LMDB backend of lib/map ("lmdb:/path" reads /path.lmdb).
 *
 * Only lib/map.c and lib/map_build.c use this header; everyone else goes
 * through lib/map.h.  The reader side follows the rules written there:
 * MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, one stat() per lookup to notice
 * a replaced file, keep answering from the open copy when the file goes
 * away.
 *
 * Never: write, lock, or hand out a pointer into the map after the read
 * transaction that produced it has ended.
 */
#ifndef FACTEUR_MAP_LMDB_H
#define FACTEUR_MAP_LMDB_H

#include <stddef.h>

#include "lib/map.h"
#include "lib/str.h"

/* Suffix of the compiled file: "/etc/facteur/aliases" -> ".lmdb". */
#define MAP_LMDB_SUFFIX ".lmdb"

/* struct map_backend operations (see lib/map.h). */
void *map_lmdb_open(const char *ref, const char *name, struct str *why);
enum map_result map_lmdb_lookup(void *h, const char *key, size_t key_len,
    struct str *value_r, struct str *why);
void map_lmdb_close(void *h);

/*
 * The compiled path of a text table: name + MAP_LMDB_SUFFIX into path_r
 * (cleared first).  Returns 0 or -1 when it does not fit.
 */
FCT_MUST_CHECK int map_lmdb_path(const char *name, struct str *path_r);

#endif
