/*
 * test_admin_proto - lib/admin_proto, the qmgr administration line
 * protocol: commands (table-driven: every verb, ALL, ids, CR, limits,
 * junk, control and 8-bit bytes), answers, and format/parse round trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/admin_proto.h"

#define ID "1r31eq0W7E5BAN"

static void
test_commands(void **state)
{
	static const struct {
		const char *line;
		int rc;
		enum admin_verb verb;
		bool all;
		const char *id;
	} cases[] = {
		{ "hold " ID, 0, ADMIN_HOLD, false, ID },
		{ "release " ID, 0, ADMIN_RELEASE, false, ID },
		{ "requeue " ID, 0, ADMIN_REQUEUE, false, ID },
		{ "delete " ID, 0, ADMIN_DELETE, false, ID },
		{ "delete ALL", 0, ADMIN_DELETE, true, "" },
		{ "expire " ID, 0, ADMIN_EXPIRE, false, ID },
		{ "expire ALL", 0, ADMIN_EXPIRE, true, "" },
		{ "hold ALL\r", 0, ADMIN_HOLD, true, "" },
		{ "flush", 0, ADMIN_FLUSH, false, "" },
		{ "flush\r", 0, ADMIN_FLUSH, false, "" },
		{ "", -1, 0, false, NULL },
		{ "\r", -1, 0, false, NULL },
		{ "hold", -1, 0, false, NULL },
		{ "hold ", -1, 0, false, NULL },
		{ "hold  " ID, -1, 0, false, NULL },
		{ "hold " ID " ", -1, 0, false, NULL },
		{ "hold " ID " x", -1, 0, false, NULL },
		{ "hold all", -1, 0, false, NULL },
		{ "HOLD " ID, -1, 0, false, NULL },
		{ "hold ../etc", -1, 0, false, NULL },
		{ "hold 1r31eq0W7E0BAN", -1, 0, false, NULL }, /* leading 0 */
		{ "flush ALL", -1, 0, false, NULL },
		{ "flush ", -1, 0, false, NULL },
		{ "drop " ID, -1, 0, false, NULL },
		{ "hold\t" ID, -1, 0, false, NULL },
		{ "hold " ID "\n", -1, 0, false, NULL },
		{ "hold \xc3\xa9", -1, 0, false, NULL },
		{ "hold " ID "\r\r", -1, 0, false, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct str *why = str_new(256);
		struct admin_cmd c;
		int rc = admin_cmd_parse(cases[i].line, strlen(cases[i].line),
		    &c, why);
		if (rc != cases[i].rc)
			fail_msg("\"%s\": want %d, got %d (%s)", cases[i].line,
			    cases[i].rc, rc, str_c(why));
		if (rc == 0) {
			assert_int_equal(c.verb, cases[i].verb);
			assert_int_equal(c.all, cases[i].all);
			assert_string_equal(c.id, cases[i].id);
		} else {
			assert_true(str_len(why) > 0);
		}
		str_free(&why);
	}
}

static void
test_limits(void **state)
{
	struct str *why = str_new(256);
	char line[ADMIN_LINE_MAX + 2];
	struct admin_cmd c;

	/* A NUL inside the line. */
	assert_int_equal(admin_cmd_parse("hold\0" ID, 5 + strlen(ID), &c, why),
	    -1);
	/* limit - 1, limit, limit + 1: long lines are refused, never cut. */
	memset(line, 'x', sizeof(line));
	assert_int_equal(admin_cmd_parse(line, ADMIN_LINE_MAX - 1, &c, why),
	    -1);
	assert_int_equal(admin_cmd_parse(line, ADMIN_LINE_MAX, &c, why), -1);
	assert_int_equal(admin_cmd_parse(line, ADMIN_LINE_MAX + 1, &c, why),
	    -1);
	str_free(&why);
}

static void
test_round_trip(void **state)
{
	struct str *out = str_new(ADMIN_LINE_MAX), *why = str_new(256);
	struct admin_cmd c = { .verb = ADMIN_REQUEUE }, back;

	memcpy(c.id, ID, strlen(ID) + 1);
	for (int v = ADMIN_HOLD; v <= ADMIN_FLUSH; v++) {
		for (int all = 0; all < 2; all++) {
			str_clear(out);
			c.verb = (enum admin_verb)v;
			c.all = all && v != ADMIN_FLUSH;
			assert_int_equal(admin_cmd_format(&c, out), 0);
			assert_int_equal(str_c(out)[str_len(out) - 1], '\n');
			assert_int_equal(admin_cmd_parse(str_c(out),
					     str_len(out) - 1, &back, why),
			    0);
			assert_int_equal(back.verb, c.verb);
			assert_int_equal(back.all, c.all);
			if (v != ADMIN_FLUSH && !c.all)
				assert_string_equal(back.id, ID);
		}
	}
	assert_null(admin_verb_name((enum admin_verb)99));
	str_free(&out);
	str_free(&why);
}

static void
test_replies(void **state)
{
	struct str *text = str_new(ADMIN_LINE_MAX + 1);
	uint64_t n = 99;

	assert_int_equal(admin_reply_parse("ok 0", 4, &n, text), 0);
	assert_int_equal(n, 0);
	assert_int_equal(admin_reply_parse("ok 12\r", 6, &n, text), 0);
	assert_int_equal(n, 12);
	assert_int_equal(admin_reply_parse("error not a queue id", 20, &n,
			     text),
	    1);
	assert_string_equal(str_c(text), "not a queue id");
	assert_int_equal(admin_reply_parse("ok", 2, &n, text), -1);
	assert_int_equal(admin_reply_parse("ok ", 3, &n, text), -1);
	assert_int_equal(admin_reply_parse("ok -1", 5, &n, text), -1);
	assert_int_equal(admin_reply_parse("ok 1 ", 5, &n, text), -1);
	assert_int_equal(admin_reply_parse("error", 5, &n, text), -1);
	assert_int_equal(admin_reply_parse("", 0, &n, text), -1);
	assert_int_equal(admin_reply_parse("fine", 4, &n, text), -1);
	assert_int_equal(admin_reply_parse("error \x01", 7, &n, text), -1);
	str_free(&text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
