/*
 * diag - collected "FILE:LINE: message" errors and warnings.
 *
 * Parsers and checkers report every problem they find into a diag so that
 * `mailctl check` can print them all at once; a program that starts a
 * service prints them and stops when diag_errors() is non-zero.
 *
 * Never: stop at the first error, or grow without bound (it keeps the
 * first DIAG_MAX_LINES lines and counts the rest).
 */
#ifndef FACTEUR_DIAG_H
#define FACTEUR_DIAG_H

#include <stdio.h>

#include "lib/util.h"

#define DIAG_MAX_LINES 200

struct diag;

struct diag *diag_new(void);
void diag_free(struct diag **dp);

/* file may be NULL (no location); line 0 means the whole file. */
FCT_PRINTF(4, 5) void diag_error(struct diag *d, const char *file,
    unsigned line, const char *fmt, ...);
FCT_PRINTF(4, 5) void diag_warn(struct diag *d, const char *file,
    unsigned line, const char *fmt, ...);

unsigned diag_errors(const struct diag *d);
unsigned diag_warnings(const struct diag *d);
/* Every line, in order, each ending in '\n' ("" when none). Borrowed. */
const char *diag_text(const struct diag *d);
/* Write every line to f, each prefixed with prefix (may be ""). */
void diag_print(const struct diag *d, FILE *f, const char *prefix);
/* Send every line to the log (warnings as warnings, errors as errors). */
void diag_log(const struct diag *d);

#endif
