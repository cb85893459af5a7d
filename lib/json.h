/*
 * json - JSON output for facteur's tools (showq, mailq --json): quoted
 * and escaped strings.
 *
 * Strings are treated as UTF-8; a byte that is not part of well-formed
 * UTF-8 is written as \u00XX so that the output is always valid JSON.
 *
 * Never: emit invalid JSON, or read past the given length.
 */
#ifndef FACTEUR_JSON_H
#define FACTEUR_JSON_H

#include <stddef.h>

#include "lib/str.h"
#include "lib/util.h"

/* Append "text" (quoted and escaped) to out; -1 past out's cap. */
FCT_MUST_CHECK int json_append_string(struct str *out, const char *text);

#endif
