/*
 * map - the one lookup-table API (DESIGN §3, §10): open a table by its
 * reference, look a key up, close it.  Every table (users, aliases, and
 * later virtual, relay and sender maps) is read through here, so that a
 * table can move to another backend (pgsql:) without touching a caller.
 *
 * References.  "type:name": the type names the backend, the name is the
 * backend's.  Known types: "lmdb".  lmdb:/etc/facteur/aliases means the
 * text source /etc/facteur/aliases compiled by map_build_file() (see
 * lib/map_build.h) into /etc/facteur/aliases.lmdb, as Postfix's
 * hash:/etc/aliases means /etc/aliases.db.  A reference without a type, or
 * with an unknown one, is refused with a clear error.  A backend plugs in
 * as one row of the table in map.c (struct map_backend below).
 *
 * Keys are folded to lower-case ASCII at build and at lookup (8-bit bytes
 * are kept as they are), so lookups are case-insensitive for ASCII.
 *
 * LMDB readers open the file with MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK:
 * no lock file exists and a reader needs no write access anywhere.  That
 * is safe only because a table file is never modified in place: the
 * builder writes a new file under a temporary name and rename()s it over
 * the old one, so the inode a reader has mapped never changes under it
 * (LMDB's lock only serves to coordinate readers with a writer of the
 * same file, and there is none).  Whoever writes a table by other means
 * (cp over it, an editor) breaks this rule, and a reader may then crash
 * with SIGBUS or read garbage.
 *
 * A running program notices a rebuilt table without a reload: every
 * lookup stat()s the path and, when device, inode, size or mtime differ
 * from the open copy, reopens it.  A table missing at open time is an
 * error for the caller to report; a table that disappears later (or is
 * replaced by something that cannot be opened) keeps answering from the
 * copy already open, with one warning in the log.  A table older than its
 * text source earns a warning at open, as Postfix does.
 *
 * Lookup results are three: found, not found, and a temporary error (I/O,
 * a corrupt table) that the caller turns into 451 4.3.0 or a deferral.
 *
 * Never: write a table, take a lock, trust a key's length (keys longer
 * than MAP_KEY_MAX are simply not found), or abort on a bad table.
 */
#ifndef FACTEUR_MAP_H
#define FACTEUR_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/str.h"
#include "lib/util.h"

/* Longest key (LMDB's default maximum key size); longer keys are refused
 * at build and never found at lookup. */
#define MAP_KEY_MAX 511
/* Longest value (one logical entry of a text table). */
#define MAP_VALUE_MAX 65536
/* Longest reference ("lmdb:/path"). */
#define MAP_REF_MAX 4096

enum map_result {
	MAP_TEMP = -1,    /* lookup failed (I/O, corrupt table): try later */
	MAP_NOTFOUND = 0, /* no such key */
	MAP_FOUND = 1,    /* key found; value set */
};

struct map;

/*
 * Open the table named by ref ("lmdb:/etc/facteur/aliases").  Returns the
 * map (caller closes it), or NULL with one line in why: unknown or
 * missing type, missing or unreadable table, not a table.
 */
FCT_MUST_CHECK struct map *map_open(const char *ref, struct str *why);
/* Close *mp and set it to NULL; accepts NULL. */
void map_close(struct map **mp);
/* The reference the map was opened with (borrowed). */
const char *map_ref(const struct map *m);

/*
 * Look up key (key_len bytes, any case).  On MAP_FOUND the value replaces
 * the content of value_r (when not NULL).  MAP_TEMP appends the reason to
 * why (a value longer than value_r's cap is MAP_TEMP too).  First checks
 * whether the table file was replaced, and reopens it if so.
 */
FCT_MUST_CHECK enum map_result map_lookup(struct map *m, const char *key,
    size_t key_len, struct str *value_r, struct str *why);
/* The same for a NUL-terminated key. */
FCT_MUST_CHECK enum map_result map_lookups(
    struct map *m, const char *key, struct str *value_r, struct str *why);

/*
 * Split ref into its type and name: "lmdb:/a" gives type "lmdb" (4 bytes)
 * and name "/a".  A type is one or more of [a-z0-9] before the first ':'.
 * Returns false when ref has no type.  Borrowed pointers into ref.
 */
bool map_ref_split(const char *ref, const char **type_r, size_t *type_len_r,
    const char **name_r);

/*
 * A map list ("lmdb:/a, lmdb:/b", as alias_maps): a lookup asks each map
 * in order and answers from the first one with a hit.  A temporary error
 * from any map stops the search and is the answer (a later map might
 * answer differently from the one that failed).  An empty list finds
 * nothing.
 */
struct map_list;

/*
 * Open every map of refs (comma or space separated).  NULL with why when
 * any one fails (the others are closed again).  Caller closes.
 */
FCT_MUST_CHECK struct map_list *map_list_open(
    const char *refs, struct str *why);
void map_list_close(struct map_list **lp);
size_t map_list_count(const struct map_list *l);
/* The i-th map (borrowed), i < map_list_count(). */
struct map *map_list_get(const struct map_list *l, size_t i);
/* As map_lookup(), over every map in order.  l may be NULL (empty). */
FCT_MUST_CHECK enum map_result map_list_lookup(struct map_list *l,
    const char *key, size_t key_len, struct str *value_r, struct str *why);

/*
 * The backend seam.  A backend opens a name (the part of the reference
 * after "type:"), looks up keys that are already lower-cased and at most
 * MAP_KEY_MAX bytes long, and closes.  Its handle is its own.
 */
struct map_backend {
	const char *type; /* "lmdb" */
	void *(*open)(const char *ref, const char *name, struct str *why);
	enum map_result (*lookup)(void *h, const char *key, size_t key_len,
	    struct str *value_r, struct str *why);
	void (*close)(void *h);
};

#endif
