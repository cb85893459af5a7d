/*
 * backoff - when to try a deferred message again, and whether it is due.
 *
 * Postfix's rule (qmgr_active.c): after a failed attempt the next one
 * comes after the message's age in the queue, clamped between
 * minimal_backoff_time and maximal_backoff_time.  Since the age roughly
 * doubles from one attempt to the next, so does the wait: 300s, 600s,
 * 1200s, 2400s, then 4000s for ever with the defaults.
 *
 * The next attempt time lives on disk as the mtime of the file in
 * deferred/ (wall clock, docs/queue-format.md §5).  A wall clock can be
 * stepped back; a file whose next attempt lies further ahead than
 * maximal_backoff_time was written by a clock that has since gone back,
 * and counts as due, so that no message waits longer than the longest
 * back-off however the clock moves.  Timers inside qmgr use
 * CLOCK_MONOTONIC and never depend on this.
 *
 * Pure functions of their arguments (all times in seconds).
 *
 * Never: read a clock, or return a delay outside [min, max].
 */
#ifndef FACTEUR_BACKOFF_H
#define FACTEUR_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The wait before the next attempt of a message that arrived at arrival
 * and failed at now: now - arrival, clamped to [min_s, max_s].  An
 * arrival in the future (clock stepped back) gives min_s.  max_s below
 * min_s is taken as min_s.
 */
uint64_t backoff_delay(uint64_t arrival, uint64_t now, uint64_t min_s,
    uint64_t max_s);

/*
 * Is a deferred message whose next attempt is at next due at now?  Yes
 * when next <= now, and also when next > now + max_s (the clock was
 * stepped back since the time was written).
 */
bool backoff_due(uint64_t next, uint64_t now, uint64_t max_s);

/*
 * Has a message that arrived at arrival outlived lifetime_s at now?
 * (age >= lifetime_s, so a lifetime of 0 means "one attempt only", as
 * Postfix's maximal_queue_lifetime = 0).  An arrival in the future is
 * never expired.
 */
bool backoff_expired(uint64_t arrival, uint64_t now, uint64_t lifetime_s);

#endif
