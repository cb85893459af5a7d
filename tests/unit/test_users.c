/*
 * test_users - lib/users: attribute parsing and formatting, address
 * checks (path safety), lookups in a real users table under /var/tmp.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "lib/diag.h"
#include "lib/map.h"
#include "lib/map_build.h"
#include "lib/str.h"
#include "lib/users.h"

static char tmpdir[] = "/var/tmp/facteur-test-users.XXXXXX";

static int
setup(void **state)
{
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	return test_rm_rf(tmpdir);
}

struct value_case {
	const char *in;
	int rc;
	uint64_t quota;
	bool enabled;
	const char *why; /* substring, for rc -1 */
};

static void
test_value_parse(void **state)
{
	/* clang-format off */
	static const struct value_case cases[] = {
		{ "", 0, 0, true, NULL },
		{ "   \t ", 0, 0, true, NULL },
		{ "quota=0", 0, 0, true, NULL },
		{ "quota=0 enabled=yes", 0, 0, true, NULL },
		{ "quota=1024", 0, 1024, true, NULL },
		{ "quota=5m", 0, 5242880, true, NULL },
		{ "quota=5M", 0, 5242880, true, NULL },
		{ "quota=2k", 0, 2048, true, NULL },
		{ "quota=1g enabled=no", 0, 1073741824, false, NULL },
		{ "enabled=NO\tquota=7", 0, 7, false, NULL },
		{ "enabled=Yes", 0, 0, true, NULL },
		{ "quota=18446744073709551615", 0, UINT64_MAX, true, NULL },
		{ "quota=18446744073709551616", -1, 0, 0, "bad quota" },
		{ "quota=99999999999g", -1, 0, 0, "bad quota" },
		{ "quota=", -1, 0, 0, "bad quota \"\"" },
		{ "quota=-1", -1, 0, 0, "bad quota" },
		{ "quota=+1", -1, 0, 0, "bad quota" },
		{ "quota=5x", -1, 0, 0, "bad quota \"5x\"" },
		{ "quota=m", -1, 0, 0, "bad quota" },
		{ "quota=1 quota=2", -1, 0, 0, "quota is given twice" },
		{ "enabled=yes enabled=no", -1, 0, 0, "enabled is given twice" },
		{ "enabled=maybe", -1, 0, 0, "bad enabled \"maybe\"" },
		{ "enabled=", -1, 0, 0, "bad enabled" },
		{ "quota", -1, 0, 0, "expected name=value, got \"quota\"" },
		{ "=5", -1, 0, 0, "unknown attribute \"\"" },
		{ "color=red", -1, 0, 0, "unknown attribute \"color\"" },
		{ "Quota=5", -1, 0, 0, "unknown attribute \"Quota\"" },
		{ "password=x", -1, 0, 0, "passwords do not belong" },
		{ "passwd=x", -1, 0, 0, "passwords do not belong" },
		{ "quota=1\xff", -1, 0, 0, "bad quota \"1\\xff\"" },
	};
	/* clang-format on */
	struct str *why = str_new(1024);

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		struct users_entry u = {12345, false};
		int rc;

		str_clear(why);
		rc = users_value_parse(
		    cases[i].in, strlen(cases[i].in), &u, why);
		if (rc != cases[i].rc)
			fail_msg(
			    "\"%s\": rc %d (%s)", cases[i].in, rc, str_c(why));
		if (rc == 0) {
			assert_int_equal(u.quota, cases[i].quota);
			assert_int_equal(u.enabled, cases[i].enabled);
		} else if (strstr(str_c(why), cases[i].why) == NULL) {
			fail_msg("\"%s\": want \"%s\", got \"%s\"", cases[i].in,
			    cases[i].why, str_c(why));
		}
	}
	/* A NUL inside the value is no number. */
	static const char nul[] = "quota=1\0002";
	str_clear(why);
	struct users_entry u;
	assert_int_equal(users_value_parse(nul, sizeof(nul) - 1, &u, why), -1);
	str_free(&why);
}

static void
test_value_format_round_trip(void **state)
{
	/* clang-format off */
	static const struct users_entry cases[] = {
		{ 0, true },
		{ 0, false },
		{ 5242880, true },
		{ UINT64_MAX, false },
	};
	/* clang-format on */
	struct str *out = str_new(USERS_VALUE_MAX), *why = str_new(100);

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		struct users_entry u;

		str_clear(out);
		assert_int_equal(users_value_format(&cases[i], out), 0);
		assert_int_equal(
		    users_value_parse(str_c(out), str_len(out), &u, why), 0);
		assert_int_equal(u.quota, cases[i].quota);
		assert_int_equal(u.enabled, cases[i].enabled);
	}
	str_clear(out);
	assert_int_equal(users_value_format(&cases[3], out), 0);
	assert_string_equal(
	    str_c(out), "quota=18446744073709551615 enabled=no");
	str_free(&out);
	str_free(&why);
}

struct addr_case {
	const char *in;
	size_t len;      /* 0: strlen */
	const char *why; /* NULL: valid */
};

static void
test_address_check(void **state)
{
	/* clang-format off */
	static const struct addr_case cases[] = {
		{ "demo@example.test", 0, NULL },
		{ "Demo.User+x@Ex-ample.TEST", 0, NULL },
		{ "a@b", 0, NULL },
		{ "caf\xc3\xa9@\xc3\xa9t\xc3\xa9.test", 0, NULL },
		{ "a.@x.test", 0, NULL },
		{ "a..b@x.test", 0, NULL },
		{ "%!#$&'*=?^_`{|}~@x.test", 0, NULL },
		{ "", 0, "address has no '@'" },
		{ "noat", 0, "address has no '@'" },
		{ "@x.test", 0, "empty local part" },
		{ "a@", 0, "empty domain" },
		{ ".a@x.test", 0, "local part starts with '.'" },
		{ "..@x.test", 0, "local part starts with '.'" },
		{ "a/b@x.test", 0, "local part contains '/'" },
		{ "../../etc@x.test", 0, "local part starts with '.'" },
		{ "a\x01@x.test", 0, "local part contains a control byte" },
		{ "a\x7f@x.test", 0, "local part contains a control byte" },
		{ "a\tb@x.test", 0, "local part contains a control byte" },
		{ "a\0b@x.test", 10, "local part contains a control byte" },
		{ "a@b@x.test", 0, "local part contains '@'" },
		{ "a@.x.test", 0, "domain starts with '.'" },
		{ "a@x/test", 0, "domain contains '/'" },
		{ "a@x..test", 0, "domain has an empty label" },
		{ "a@x.test.", 0, "domain has an empty label" },
		{ "a@x\x01.test", 0, "domain contains a control byte" },
		{ "a@[192.0.2.1]", 0, "address literals" },
		{ "a@x_y.test", 0, "domain contains '_'" },
		{ "a@x y.test", 0, "domain contains ' '" },
	};
	/* clang-format on */
	struct str *why = str_new(1024);

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		size_t at = 0;
		int rc;

		str_clear(why);
		rc = users_address_check(cases[i].in, len, &at, why);
		if (cases[i].why == NULL) {
			if (rc != 0)
				fail_msg("\"%s\": refused: %s", cases[i].in,
				    str_c(why));
			assert_int_equal(cases[i].in[at], '@');
		} else if (rc != -1 ||
		           strstr(str_c(why), cases[i].why) == NULL) {
			fail_msg("\"%s\": want \"%s\", got %d \"%s\"",
			    cases[i].in, cases[i].why, rc, str_c(why));
		}
	}

	/* Length: a path component is at most 255 bytes. */
	char big[300];
	memset(big, 'a', sizeof(big));
	str_clear(why);
	assert_int_equal(users_local_check(big, 255, why), 0);
	assert_int_equal(users_local_check(big, 256, why), -1);
	assert_non_null(strstr(str_c(why), "longer than 255"));
	assert_int_equal(users_domain_check(big, 255, why), 0);
	assert_int_equal(users_domain_check(big, 256, why), -1);
	assert_int_equal(users_local_check("x", 0, why), -1);
	assert_int_equal(users_domain_check("x", 0, why), -1);
	str_free(&why);
}

static struct map *
build_users(const char *text)
{
	struct map_owner own = MAP_OWNER_DEFAULT;
	struct str *why = str_new(4096);
	struct diag *d = diag_new();
	char path[4096], ref[4200];
	struct map *m;
	FILE *f;

	snprintf(path, sizeof(path), "%s/users", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	if (map_build_file(path, map_format_guess(path), &own, d) < 0)
		fail_msg("build: %s", diag_text(d));
	diag_free(&d);
	snprintf(ref, sizeof(ref), "lmdb:%s", path);
	m = map_open(ref, why);
	assert_non_null(m);
	str_free(&why);
	return m;
}

static void
test_lookup(void **state)
{
	struct map *m = build_users("demo@example.test quota=0 enabled=yes\n"
	                            "Ann@Example.test quota=5m\n"
	                            "old@example.test enabled=no\n"
	                            "x@other.test\n");
	struct str *why = str_new(1024);
	struct users_entry u;

	assert_int_equal(
	    users_lookup(m, "demo@example.test", 17, &u, why), MAP_FOUND);
	assert_int_equal(u.quota, 0);
	assert_true(u.enabled);
	assert_int_equal(
	    users_lookup(m, "ANN@EXAMPLE.TEST", 16, &u, why), MAP_FOUND);
	assert_int_equal(u.quota, 5 * 1024 * 1024);
	assert_int_equal(
	    users_lookup(m, "old@example.test", 16, &u, why), MAP_FOUND);
	assert_false(u.enabled);
	assert_int_equal(
	    users_lookup(m, "nobody@example.test", 19, &u, why), MAP_NOTFOUND);
	/* A domain key is no user. */
	assert_int_equal(
	    users_lookup(m, "@example.test", 13, &u, why), MAP_NOTFOUND);
	assert_int_equal(users_lookup(m, "", 0, &u, why), MAP_NOTFOUND);
	assert_int_equal(
	    users_domain_lookup(m, "example.test", 12, why), MAP_FOUND);
	assert_int_equal(
	    users_domain_lookup(m, "Other.Test", 10, why), MAP_FOUND);
	assert_int_equal(
	    users_domain_lookup(m, "example", 7, why), MAP_NOTFOUND);
	assert_int_equal(users_domain_lookup(m, "", 0, why), MAP_NOTFOUND);
	map_close(&m);
	str_free(&why);
}

static void
test_corrupt_value_is_temp(void **state)
{
	struct map_owner own = MAP_OWNER_DEFAULT;
	struct str *why = str_new(1024);
	struct diag *d = diag_new();
	char path[4096], ref[4200];
	struct users_entry u;
	struct map *m;
	FILE *f;

	/* A users table built as a plain table: its values do not parse. */
	snprintf(path, sizeof(path), "%s/plain", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs("bad@example.test nonsense\n", f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(map_build_file(path, MAP_FORMAT_TABLE, &own, d), 0);
	snprintf(ref, sizeof(ref), "lmdb:%s", path);
	m = map_open(ref, why);
	assert_non_null(m);
	assert_int_equal(
	    users_lookup(m, "bad@example.test", 16, &u, why), MAP_TEMP);
	assert_non_null(strstr(str_c(why), "corrupt users table"));
	map_close(&m);
	diag_free(&d);
	str_free(&why);
}

int
main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_value_parse),
		cmocka_unit_test(test_value_format_round_trip),
		cmocka_unit_test(test_address_check),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_corrupt_value_is_temp),
	};
	/* clang-format on */

	return cmocka_run_group_tests(tests, setup, teardown);
}
