/*
 * test_backoff - lib/backoff: the retry schedule (Postfix's: the age of
 * the message, clamped to [minimal, maximal]_backoff_time), its caps,
 * the "due" rule including a wall clock stepped back, and expiry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/backoff.h"

#define MIN 300
#define MAX 4000
#define T0  UINT64_C(1700000000)

static void
test_delay_table(void **state)
{
	static const struct {
		uint64_t age;
		uint64_t want;
	} cases[] = {
		{ 0, MIN },          /* first failure at once */
		{ 1, MIN },
		{ MIN - 1, MIN },    /* limit - 1 */
		{ MIN, MIN },        /* limit */
		{ MIN + 1, MIN + 1 },/* limit + 1 */
		{ 600, 600 },
		{ 1200, 1200 },
		{ 2400, 2400 },
		{ MAX - 1, MAX - 1 },
		{ MAX, MAX },
		{ MAX + 1, MAX },
		{ 5 * 86400, MAX },
		{ UINT64_C(1) << 40, MAX },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t got = backoff_delay(T0, T0 + cases[i].age, MIN, MAX);
		if (got != cases[i].want)
			fail_msg("age %llu: want %llu, got %llu",
			    (unsigned long long)cases[i].age,
			    (unsigned long long)cases[i].want,
			    (unsigned long long)got);
	}
}

/* Attempts at each next time: the waits double up to the cap. */
static void
test_schedule_doubles(void **state)
{
	uint64_t now = T0, waits[8];

	for (size_t i = 0; i < 8; i++) {
		waits[i] = backoff_delay(T0, now, MIN, MAX);
		now += waits[i];
	}
	assert_int_equal(waits[0], 300);
	assert_int_equal(waits[1], 300);
	assert_int_equal(waits[2], 600);
	assert_int_equal(waits[3], 1200);
	assert_int_equal(waits[4], 2400);
	assert_int_equal(waits[5], 4000);
	assert_int_equal(waits[6], 4000);
	assert_int_equal(waits[7], 4000);
}

static void
test_delay_edges(void **state)
{
	/* Arrival in the future (clock stepped back): the minimum. */
	assert_int_equal(backoff_delay(T0 + 1000, T0, MIN, MAX), MIN);
	/* The tests' one-second settings. */
	assert_int_equal(backoff_delay(T0, T0, 1, 1), 1);
	assert_int_equal(backoff_delay(T0, T0 + 50, 1, 1), 1);
	/* A maximum below the minimum is the minimum. */
	assert_int_equal(backoff_delay(T0, T0 + 50, 10, 5), 10);
	assert_int_equal(backoff_delay(0, UINT64_MAX, MIN, MAX), MAX);
}

static void
test_due(void **state)
{
	/* next <= now: due. */
	assert_true(backoff_due(T0, T0, MAX));
	assert_true(backoff_due(T0 - 1, T0, MAX));
	assert_true(backoff_due(0, T0, MAX));
	/* Ahead by up to the maximum: wait. */
	assert_false(backoff_due(T0 + 1, T0, MAX));
	assert_false(backoff_due(T0 + MAX - 1, T0, MAX));
	assert_false(backoff_due(T0 + MAX, T0, MAX));
	/* Ahead by more: written before the clock went back: due. */
	assert_true(backoff_due(T0 + MAX + 1, T0, MAX));
	assert_true(backoff_due(UINT64_MAX, T0, MAX));
}

/*
 * A message deferred at T0 + 1000 (next attempt T0 + 1000 + 1000), then
 * the clock is stepped back by a day: the file's time is now a day and
 * more ahead, further than any back-off: due at once, not in a day.
 */
static void
test_clock_stepped_back(void **state)
{
	uint64_t failed = T0 + 1000;
	uint64_t next = failed + backoff_delay(T0, failed, MIN, MAX);
	uint64_t now = failed - 86400;

	assert_int_equal(next - failed, 1000);
	assert_false(backoff_due(next, failed, MAX));
	assert_true(backoff_due(next, now, MAX));
	/* A small step back (less than the maximum) only delays a little. */
	now = failed - 10;
	assert_false(backoff_due(next, now, MAX));
	assert_true(backoff_due(next, now + 1010, MAX));
}

static void
test_expired(void **state)
{
	assert_false(backoff_expired(T0, T0, 5 * 86400));
	assert_false(backoff_expired(T0, T0 + 5 * 86400 - 1, 5 * 86400));
	assert_true(backoff_expired(T0, T0 + 5 * 86400, 5 * 86400));
	assert_true(backoff_expired(T0, T0 + 5 * 86400 + 1, 5 * 86400));
	/* Lifetime 0: one attempt only. */
	assert_true(backoff_expired(T0, T0, 0));
	/* Arrival ahead of the clock: never expired. */
	assert_false(backoff_expired(T0 + 10, T0, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_table),
		cmocka_unit_test(test_schedule_doubles),
		cmocka_unit_test(test_delay_edges),
		cmocka_unit_test(test_due),
		cmocka_unit_test(test_clock_stepped_back),
		cmocka_unit_test(test_expired),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
