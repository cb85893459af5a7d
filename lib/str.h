/*
 * str - a byte string that grows up to a cap fixed at creation.
 *
 * The data is always NUL-terminated (the NUL is not counted), so str_c()
 * may be used as text when the content has no NUL of its own.  An append
 * that would pass the cap fails and leaves the string unchanged.
 *
 * Never: grow past the cap, or hand out a pointer that survives the next
 * append (appends may move the data).
 */
#ifndef FACTEUR_STR_H
#define FACTEUR_STR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

struct str;

/* New empty string that may hold at most cap bytes.  Caller frees. */
struct str *str_new(size_t cap);
/* Free *sp and set it to NULL; accepts NULL. */
void str_free(struct str **sp);

/* Append; return 0, or -1 (string unchanged) when past the cap. */
FCT_MUST_CHECK int str_append(struct str *s, const void *p, size_t n);
FCT_MUST_CHECK int str_appends(struct str *s, const char *text);
FCT_MUST_CHECK int str_appendc(struct str *s, char c);
/*
 * printf-style append.  Past the cap it returns -1 and leaves the string
 * unchanged.
 */
FCT_MUST_CHECK FCT_PRINTF(2, 3) int str_appendf(struct str *s,
    const char *fmt, ...);
FCT_MUST_CHECK FCT_PRINTF(2, 0) int str_vappendf(struct str *s, const char *fmt, va_list ap);

/*
 * Best-effort append for diagnostics ("why" strings): appends as much as
 * fits and never fails.  Use only where losing the tail is harmless.
 */
FCT_PRINTF(2, 3) void str_notef(struct str *s, const char *fmt, ...);

/* Set to the first len bytes (len <= str_len); clear sets to empty. */
void str_truncate(struct str *s, size_t len);
void str_clear(struct str *s);
/* Replace the content with text (copies); -1 past the cap. */
FCT_MUST_CHECK int str_set(struct str *s, const char *text);

/* Borrowed views, valid until the next change. */
const char *str_c(const struct str *s);
const uint8_t *str_data(const struct str *s);
size_t str_len(const struct str *s);
size_t str_cap(const struct str *s);

/* Remove the first n bytes (n <= str_len). */
void str_consume(struct str *s, size_t n);

/* Hand the buffer to the caller (NUL-terminated) and free s; sets *sp NULL. */
char *str_take(struct str **sp);

/* Wipe the bytes (explicit_bzero) then clear; for secrets. */
void str_wipe(struct str *s);

#endif
