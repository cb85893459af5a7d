/*
 * test_queue_id - queue ids: canonical spelling, round trips, ordering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/queue_id.h"

static void
test_check_table(void **state)
{
	static const struct {
		const char *name;
		const char *id;
		size_t len; /* 0: strlen(id) */
		bool want;
	} cases[] = {
	    {"empty", "", 0, false},
	    {"prefix only (min - 1)", "0000000000", 0, false},
	    {"min length, inode 0", "00000000000", 0, true},
	    {"example", "1r31eq0W7E5BAN", 0, true},
	    {"max length, max inode", "zzzzzz4C91LygHa16AHYF", 0, true},
	    {"inode overflows u64", "zzzzzz4C91LygHa16AHYG", 0, false},
	    {"max + 1", "zzzzzz4C91LygHa16AHYF0", 0, false},
	    {"leading zero inode", "000000000001", 0, false},
	    {"usec 999999", "0000004C911", 0, true},
	    {"usec 1000000", "0000004C921", 0, false},
	    {"dash", "1r31eq0W7E-BAN", 0, false},
	    {"underscore", "1r31eq0W7E_BAN", 0, false},
	    {"space", "1r31eq0W7E BAN", 0, false},
	    {"bare CR", "1r31eq0W7E\rBAN", 0, false},
	    {"bare LF", "1r31eq0W7E\nBAN", 0, false},
	    {"8-bit",
	        "1r31eq0W7E\xe9"
	        "BAN",
	        0, false},
	    {"dot", "1r31eq0W7E.BAN", 0, false},
	    {"slash", "../../etc/pas", 0, false},
	    {"NUL inside", "1r31eq0W7E\0BAN", 14, false},
	};

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].id);
		if (queue_id_check(cases[i].id, len) != cases[i].want)
			fail_msg("%s: %s", cases[i].name,
			    cases[i].want ? "rejected" : "accepted");
		if (cases[i].len == 0)
			assert_int_equal(
			    queue_id_valid(cases[i].id), cases[i].want);
	}
}

static void
test_make_parse_roundtrip(void **state)
{
	static const struct {
		uint64_t t, ino;
	} cases[] = {
	    {0, 0},
	    {1, 1},
	    {999999, 61},
	    {1000000, 62},
	    {UINT64_C(1700000000123456), 1234567},
	    {UINT64_C(56800235583999999), UINT64_MAX},
	    {UINT64_C(1700000000000000), UINT64_C(1) << 40},
	};
	char id[QUEUE_ID_SIZE];

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		uint64_t t, ino;
		assert_int_equal(
		    queue_id_make(cases[i].t, cases[i].ino, id), 0);
		assert_true(queue_id_valid(id));
		assert_true(strlen(id) >= QUEUE_ID_MIN);
		assert_true(strlen(id) <= QUEUE_ID_MAX);
		assert_int_equal(queue_id_parse(id, &t, &ino), 0);
		assert_true(t == cases[i].t);
		assert_true(ino == cases[i].ino);
		assert_int_equal(queue_id_time(id, &t), 0);
		assert_true(t == cases[i].t);
	}
	assert_int_equal(queue_id_make(1700000000123456, 1234567, id), 0);
	assert_string_equal(id, "1r31eq0W7E5BAN");
}

static void
test_make_out_of_range(void **state)
{
	char id[QUEUE_ID_SIZE];

	/* 62^6 seconds does not fit in six digits. */
	assert_int_equal(queue_id_make(UINT64_C(56800235584000000), 1, id), -1);
	assert_int_equal(queue_id_make(UINT64_MAX, 1, id), -1);
}

static void
test_parse_rejects(void **state)
{
	uint64_t t = 7, ino = 9;

	assert_int_equal(queue_id_parse("nope", &t, &ino), -1);
	assert_int_equal(queue_id_parse("", NULL, NULL), -1);
	assert_true(t == 7 && ino == 9);
	assert_int_equal(queue_id_time("0000004C921", &t), -1);
}

/* strcmp order is arrival order whatever the inode lengths. */
static void
test_sorts_by_arrival(void **state)
{
	uint64_t seed = 12345, t = UINT64_C(1600000000000000);
	char prev[QUEUE_ID_SIZE], id[QUEUE_ID_SIZE];

	assert_int_equal(queue_id_make(t, UINT64_MAX, prev), 0);
	for (int i = 0; i < 5000; i++) {
		seed = seed * 6364136223846793005u + 1442695040888963407u;
		t += 1 + (seed >> 40) % 5000000; /* up to 5 s later */
		uint64_t ino = seed >> (seed & 31);
		assert_int_equal(queue_id_make(t, ino, id), 0);
		if (strcmp(prev, id) >= 0)
			fail_msg("%s !< %s", prev, id);
		memcpy(prev, id, sizeof(id));
	}
}

/* Every character of every id is [0-9A-Za-z]. */
static void
test_alphabet(void **state)
{
	char id[QUEUE_ID_SIZE];

	for (uint64_t ino = 0; ino < 20000; ino += 7) {
		assert_int_equal(queue_id_make(ino * 1000003, ino, id), 0);
		for (const char *p = id; *p != '\0'; p++)
			assert_true((*p >= '0' && *p <= '9') ||
			            (*p >= 'A' && *p <= 'Z') ||
			            (*p >= 'a' && *p <= 'z'));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_table),
	    cmocka_unit_test(test_make_parse_roundtrip),
	    cmocka_unit_test(test_make_out_of_range),
	    cmocka_unit_test(test_parse_rejects),
	    cmocka_unit_test(test_sorts_by_arrival),
	    cmocka_unit_test(test_alphabet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
