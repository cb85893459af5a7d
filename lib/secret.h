/*
 * secret - a fixed-size buffer for passwords and keys: allocated once at
 * its full size (so it never moves and leaves no copy behind in freed
 * memory, as a growing struct str would), always NUL-terminated, wiped
 * with explicit_bzero() on clear and free.
 *
 * Never: grow, move, or free memory that still holds a secret.
 */
#ifndef FACTEUR_SECRET_H
#define FACTEUR_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

struct secret;

/* A buffer for at most cap bytes (plus a NUL).  Caller frees. */
struct secret *secret_new(size_t cap);
/* Wipe, free, set *sp NULL; accepts NULL. */
void secret_free(struct secret **sp);

/* Replace the content / append; 0, or -1 (unchanged) past the cap. */
FCT_MUST_CHECK int secret_set(struct secret *s, const void *p, size_t n);
FCT_MUST_CHECK int secret_append(struct secret *s, const void *p, size_t n);
/* Wipe the content (the buffer stays usable). */
void secret_clear(struct secret *s);
/* Drop the last n bytes (wiping them); n <= secret_len. */
void secret_chop(struct secret *s, size_t n);
/* Drop the first n bytes (the rest moves down; the tail is wiped). */
void secret_consume(struct secret *s, size_t n);

/* Borrowed views, valid until the next change. */
const char *secret_c(const struct secret *s);
const uint8_t *secret_data(const struct secret *s);
size_t secret_len(const struct secret *s);
size_t secret_cap(const struct secret *s);

/*
 * Write straight into the buffer: where, and how many bytes fit; then
 * secret_wrote(n) with what was written.
 */
uint8_t *secret_space(struct secret *s, size_t *room_r);
void secret_wrote(struct secret *s, size_t n);

#endif
