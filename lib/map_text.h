/*
 * map_text - parse the text source of a lookup table into entries.
 *
 * A pure parser over bytes: the caller reads the file (lib/map_build.c)
 * or hands it a buffer (tests, the fuzzer) and gets one callback per
 * entry, keys already folded to lower case and values normalised.  Lines
 * are cut by lib/linebuf with the limit MAP_LINE_MAX.
 *
 * Common syntax (as Postfix's postmap and postalias):
 *   - '#' as the first non-blank byte starts a comment line;
 *   - blank lines and comment lines are ignored (they neither start nor
 *     end an entry);
 *   - a line that starts with a space or a tab continues the entry before
 *     (joined with one space);
 *   - CRLF and LF line ends; NUL and control bytes other than tab are
 *     errors; 8-bit bytes are kept.
 *
 * Formats:
 *   table    "key value...": the key runs to the first blank, the value
 *            is the rest with outer blanks removed (must not be empty).
 *   aliases  "name: target, target ...": the key runs to the first ':'
 *            (no blanks inside, not quoted); targets are separated by
 *            commas and/or blanks and stored as "t1, t2, t3".  Not yet
 *            supported, and refused with a clear error: "quoted targets",
 *            :include:file, |command, /file, and targets with <>():;\ .
 *   users    "address [quota=SIZE] [enabled=yes|no]", see lib/users.h;
 *            the value is stored normalised ("quota=N enabled=yes"), and
 *            each domain that has users also gets an implied entry
 *            "@domain" (value empty) so that one lookup answers "is this
 *            one of our domains".
 *
 * Errors and warnings go to a struct diag as "FILE:LINE: ..."; parsing
 * goes on after an error so that every error is reported in one run.
 *
 * Never: read a descriptor, hold more than one logical entry, or hand the
 * callback a key that is empty, longer than MAP_KEY_MAX, or not folded.
 */
#ifndef FACTEUR_MAP_TEXT_H
#define FACTEUR_MAP_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/diag.h"
#include "lib/map.h"
#include "lib/util.h"

/* Longest physical line, without its line end. */
#define MAP_LINE_MAX 8192

enum map_format {
	MAP_FORMAT_TABLE,
	MAP_FORMAT_ALIASES,
	MAP_FORMAT_USERS,
};

/* "table", "aliases", "users". */
const char *map_format_name(enum map_format f);
/* The format named name; 0, or -1 when unknown. */
FCT_MUST_CHECK int map_format_parse(const char *name, enum map_format *f_r);
/* Guess from the file name: basename "aliases" or "users", else table. */
enum map_format map_format_guess(const char *path);

/* One entry, borrowed for the duration of the callback. */
struct map_text_entry {
	const char *key;   /* folded to lower case, NUL-terminated */
	size_t key_len;    /* 1..MAP_KEY_MAX */
	const char *value; /* normalised, NUL-terminated, may be "" */
	size_t value_len;  /* 0..MAP_VALUE_MAX */
	unsigned line;     /* line where the entry starts */
	bool implied;      /* derived ("@domain" of users): duplicates
	                      are expected and must not be warned about */
};

/*
 * Called once per entry.  Return 0 to go on, -1 to stop parsing (the
 * callback reports why into the diag itself).
 */
typedef int map_text_fn(const struct map_text_entry *e, void *arg);

struct map_text;

/*
 * A parser for text of format fmt; file names it in messages (copied).
 * d, fn and arg are borrowed.
 */
struct map_text *map_text_new(enum map_format fmt, const char *file,
    struct diag *d, map_text_fn *fn, void *arg);
void map_text_free(struct map_text **tp);

/*
 * Feed n more bytes.  Returns 0, or -1 once the callback has stopped the
 * parse (later calls do nothing and return -1).  Syntax errors do not
 * stop it: they go to the diag and are counted.
 */
FCT_MUST_CHECK int map_text_feed(
    struct map_text *t, const uint8_t *p, size_t n);
/*
 * End of input: the last line and entry are handled.  Returns 0 when the
 * whole text was good (no error, not stopped), else -1.
 */
FCT_MUST_CHECK int map_text_finish(struct map_text *t);
/* Errors found so far. */
unsigned map_text_errors(const struct map_text *t);

/* new + feed + finish + free over one buffer; returns as finish. */
FCT_MUST_CHECK int map_text_parse(enum map_format fmt, const char *file,
    const uint8_t *text, size_t len, struct diag *d, map_text_fn *fn,
    void *arg);

#endif
