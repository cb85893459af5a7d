/*
 * test_str - lib/str and lib/util: the cap (cap - 1, cap, cap + 1: an
 * append past it fails and changes nothing), printf appends, consume,
 * take, wipe; num_parse_u64 and checked size arithmetic; log_escape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/log.h"
#include "lib/str.h"
#include "lib/util.h"

static void
test_cap(void **state)
{
	struct str *s = str_new(4);

	assert_int_equal(str_append(s, "abc", 3), 0);
	assert_int_equal(str_append(s, "de", 2), -1);
	assert_string_equal(str_c(s), "abc");
	assert_int_equal(str_appendc(s, 'd'), 0);
	assert_int_equal(str_appendc(s, 'e'), -1);
	assert_string_equal(str_c(s), "abcd");
	assert_int_equal(str_appendf(s, "%d", 1), -1);
	assert_int_equal(str_len(s), 4);
	str_consume(s, 2);
	assert_string_equal(str_c(s), "cd");
	assert_int_equal(str_appendf(s, "%02d", 7), 0);
	assert_string_equal(str_c(s), "cd07");
	str_truncate(s, 1);
	assert_string_equal(str_c(s), "c");
	assert_int_equal(str_set(s, "wxyz"), 0);
	assert_int_equal(str_set(s, "vwxyz"), -1);
	assert_string_equal(str_c(s), "wxyz");
	str_notef(s, "more");
	assert_string_equal(str_c(s), "wxyz");
	str_free(&s);
	assert_null(s);
}

static void
test_binary_and_take(void **state)
{
	struct str *s = str_new(100);

	assert_int_equal(str_append(s, "a\0b", 3), 0);
	assert_int_equal(str_len(s), 3);
	assert_memory_equal(str_data(s), "a\0b", 3);
	str_notef(s, "%s", "-note");
	str_wipe(s);
	assert_int_equal(str_len(s), 0);
	assert_int_equal(str_appends(s, "kept"), 0);
	char *p = str_take(&s);
	assert_null(s);
	assert_string_equal(p, "kept");
	free(p);
	/* Growth through many appends keeps the content. */
	s = str_new(100000);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(str_appendc(s, (char)('a' + i % 26)), 0);
	assert_int_equal(str_len(s), 10000);
	assert_int_equal(str_c(s)[9999], 'a' + 9999 % 26);
	str_free(&s);
}

struct num_case {
	const char *in;
	uint64_t max;
	int rc;
	uint64_t v;
};

static const struct num_case nums[] = {
	{ "0", 10, 0, 0 },
	{ "10", 10, 0, 10 },
	{ "11", 10, -1, 0 },
	{ "", 10, -1, 0 },
	{ "+1", 10, -1, 0 },
	{ "-1", 10, -1, 0 },
	{ " 1", 10, -1, 0 },
	{ "1 ", 10, -1, 0 },
	{ "1x", 10, -1, 0 },
	{ "18446744073709551615", UINT64_MAX, 0, UINT64_MAX },
	{ "18446744073709551616", UINT64_MAX, -1, 0 },
	{ "99999999999999999999999", UINT64_MAX, -1, 0 },
};

static void
test_num(void **state)
{
	for (size_t i = 0; i < FCT_NELEM(nums); i++) {
		uint64_t v = 12345;
		int rc = num_parse_u64(nums[i].in, strlen(nums[i].in),
		    nums[i].max, &v);
		if (rc != nums[i].rc)
			fail_msg("\"%s\": rc %d", nums[i].in, rc);
		if (rc == 0)
			assert_true(v == nums[i].v);
		else
			assert_true(v == 12345);
	}
}

static void
test_size_math(void **state)
{
	size_t r = 7;

	assert_true(size_add(1, 2, &r) && r == 3);
	assert_false(size_add(SIZE_MAX, 1, &r));
	assert_int_equal(r, 3);
	assert_true(size_mul(SIZE_MAX / 2, 2, &r));
	assert_false(size_mul(SIZE_MAX / 2 + 1, 2, &r));
	assert_true(size_mul(0, SIZE_MAX, &r) && r == 0);
}

static void
test_escape(void **state)
{
	struct log_esc e;
	char big[LOG_ESCAPE_MAX + 10];

	assert_string_equal(log_escape(&e, "a\r\n\\b\x80\0", 7),
	    "a\\x0d\\x0a\\\\b\\x80\\x00");
	memset(big, 'x', sizeof(big));
	const char *out = log_escape(&e, big, sizeof(big));
	assert_int_equal(strlen(out), LOG_ESCAPE_MAX + 3);
	assert_string_equal(out + LOG_ESCAPE_MAX, "...");
	assert_true(ascii_strcaseeq("PostMaster", "postmaster"));
	assert_false(ascii_strcaseeq("postmaster", "postmaste"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_binary_and_take),
		cmocka_unit_test(test_num),
		cmocka_unit_test(test_size_math),
		cmocka_unit_test(test_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
