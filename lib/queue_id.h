/*
 * queue_id - queue ids: unique, sortable by arrival, short, [0-9A-Za-z].
 *
 * An id is a fixed-width base62 time prefix followed by the base62 inode
 * number of the queue file:
 *
 *     SSSSSS UUUU III...
 *     |      |    inode number, 1-11 digits, no leading zero
 *     |      microseconds of the second, 4 digits (< 1000000)
 *     seconds since the epoch, 6 digits (good until the year 3769)
 *
 * Digits are 0-9, A-Z, a-z in that order, which is also ASCII order, so
 * strcmp() on two ids orders them by arrival, to the microsecond (ids
 * of one microsecond fall in some fixed order).  A typical id is 14 to
 * 16 characters: 1700000000.123456 with inode 1234567 is "1r31eq0W7E5BAN".
 *
 * Uniqueness never rests on the clock alone: two live files of one file
 * system never share an inode, and the writer claims the name with
 * RENAME_NOREPLACE, retrying with the next microsecond on EEXIST (so the
 * time an id gives back may be a few microseconds after the arrival).
 *
 * Never: produce or accept a character outside [0-9A-Za-z], or accept a
 * non-canonical spelling (leading zero in the inode, microseconds past
 * 999999): one file, one name.
 */
#ifndef FACTEUR_QUEUE_ID_H
#define FACTEUR_QUEUE_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

#define QUEUE_ID_SEC_DIGITS     6
#define QUEUE_ID_USEC_DIGITS    4
#define QUEUE_ID_PREFIX         (QUEUE_ID_SEC_DIGITS + QUEUE_ID_USEC_DIGITS)
#define QUEUE_ID_INO_MAX_DIGITS 11 /* 62^11 > 2^64 */
#define QUEUE_ID_MIN            (QUEUE_ID_PREFIX + 1)
#define QUEUE_ID_MAX            (QUEUE_ID_PREFIX + QUEUE_ID_INO_MAX_DIGITS)
/* Room for the longest id and its NUL. */
#define QUEUE_ID_SIZE (QUEUE_ID_MAX + 1)

/*
 * Write the id of a file that arrived at time_us (µs since the epoch) and
 * has inode ino into id_r (NUL-terminated).  Returns 0, or -1 when the
 * seconds do not fit in six digits.
 */
FCT_MUST_CHECK int queue_id_make(
    uint64_t time_us, uint64_t ino, char id_r[QUEUE_ID_SIZE]);

/* True when the len bytes of s are a well-formed, canonical id. */
bool queue_id_check(const char *s, size_t len);
/* The same for a NUL-terminated name. */
bool queue_id_valid(const char *s);

/*
 * Decode id (NUL-terminated): time in µs since the epoch and the inode
 * number.  Either output may be NULL.  Returns 0, or -1 for an invalid
 * id.
 */
FCT_MUST_CHECK int queue_id_parse(
    const char *id, uint64_t *time_us_r, uint64_t *ino_r);

/* The arrival time encoded in id, in µs; -1 for an invalid id. */
FCT_MUST_CHECK int queue_id_time(const char *id, uint64_t *time_us_r);

#endif
