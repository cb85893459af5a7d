/*
 * pctword - one value as one space-free word, for the line protocols and
 * logs between facteur's programs (lib/deliver, lib/rcptlog): bytes below
 * 0x21, '%' and DEL are written %XX, every other byte (UTF-8 included)
 * is kept, "" is written "-" and a value "-" is written "%2D".
 *
 * Never: decode a word into a value holding NUL, a raw control byte or
 * DEL (a CR smuggled into a value could end up in a header line).
 */
#ifndef FACTEUR_PCTWORD_H
#define FACTEUR_PCTWORD_H

#include <stddef.h>

#include "lib/str.h"
#include "lib/util.h"

/* Append the word for v (NULL is ""); -1 past out's cap. */
FCT_MUST_CHECK int pctword_put(struct str *out, const char *v);
/* The value of w[0..n) (caller frees), or NULL when w is not a word. */
char *pctword_get(const char *w, size_t n);

#endif
