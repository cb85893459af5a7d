/*
 * cfgtext - what main.cf and master.cf share: a whole configuration file
 * read with a size bound, and the cutting of its text into logical
 * entries (Postfix's syntax: '#' comment lines and blank lines are
 * skipped and end nothing; a line starting with whitespace continues the
 * entry before, joined with one space; CRLF is accepted).
 *
 * Never: hand out an entry longer than the caller's bound or one holding
 * a NUL; every problem goes to the diag as FILE:LINE.
 */
#ifndef FACTEUR_CFGTEXT_H
#define FACTEUR_CFGTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/diag.h"
#include "lib/util.h"

/* One logical entry (NUL-terminated, borrowed) starting at line. */
typedef void cfgtext_entry_fn(const char *entry, size_t len, unsigned line,
    void *arg);

/*
 * Call fn for each entry of text[0..len), in order.  An entry past
 * max_entry bytes, a NUL byte and an orphan continuation line are errors
 * in d (the entry is skipped).  Returns the number of errors found.
 */
unsigned cfgtext_entries(const char *file, const uint8_t *text, size_t len,
    size_t max_entry, struct diag *d, cfgtext_entry_fn *fn, void *arg);

/*
 * Read the regular file path (not through a symbolic link) of at most max
 * bytes into *buf_r (caller frees; NUL-terminated) and *len_r.  0, or -1
 * with the problem in d.
 */
FCT_MUST_CHECK int cfgtext_read(const char *path, size_t max,
    uint8_t **buf_r, size_t *len_r, struct diag *d);

#endif
