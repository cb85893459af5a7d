/*
 * penalty - failure counters with a growing delay, for the auth service
 * (DESIGN §1: failed attempts are rate-limited per client address and
 * per user).
 *
 * Each key ("a:192.0.2.7", "u:ann@example.test") counts failures; a key
 * left alone for reset_ms is forgotten.  The delay for a count is
 *
 *     count 0 or 1: none;  count n >= 2: base * 2^(n-2), at most max
 *
 * so the first mistake costs nothing, then 1s, 2s, 4s ... with base 1s.
 * The table holds at most limit keys; when full, the key idle longest
 * makes room (an attacker who floods it only forgets older entries, and
 * each of its own requests still costs it a crypt(3) and a delay).
 *
 * Pure bookkeeping: the caller passes the time and does the waiting
 * (with event timers, never a sleep).
 *
 * Never: grow past limit, or store anything but the key and counters.
 */
#ifndef FACTEUR_PENALTY_H
#define FACTEUR_PENALTY_H

#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

/* Longest key kept (longer keys are cut: "u:" + SASL_ID_MAX fits). */
#define PENALTY_KEY_MAX 600

struct penalty;

/* limit >= 1 keys, forgotten after reset_ms without a failure. */
struct penalty *penalty_new(size_t limit, uint64_t reset_ms);
void penalty_free(struct penalty **pp);

/* Failures of key (len bytes) still remembered at now_ms. */
unsigned penalty_count(
    struct penalty *p, const char *key, size_t len, uint64_t now_ms);
/* One more failure of key at now_ms; returns the new count. */
unsigned penalty_fail(
    struct penalty *p, const char *key, size_t len, uint64_t now_ms);
/* Forget key (a success). */
void penalty_clear(struct penalty *p, const char *key, size_t len);
/* Keys held now (for tests). */
size_t penalty_size(const struct penalty *p);

/* The delay for count failures: see the header comment. */
uint64_t penalty_delay(unsigned count, uint64_t base, uint64_t max);

#endif
