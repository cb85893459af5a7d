/*
 * test_auth_passwd - lib/passwd over real users and passwd tables under
 * /var/tmp: hashes (yescrypt by default, sha512-crypt and bcrypt
 * accepted), the hash syntax check, the passwd reader, and the whole
 * password check: right, wrong, unknown user, disabled user, user
 * without a password, malformed hash.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "lib/diag.h"
#include "lib/map.h"
#include "lib/map_build.h"
#include "lib/passwd.h"
#include "lib/str.h"
#include "lib/users.h"

static char tmpdir[] = "/var/tmp/facteur-test-passwd.XXXXXX";
static char users_ref[400], passwd_ref[400];
static struct str *hash_y, *hash_6, *hash_2b, *dummy;

static int
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0)
		return -1;
	return fclose(f);
}

static int
build(const char *name, const char *text, enum map_format fmt, char *ref)
{
	char path[300];
	struct diag *d = diag_new();
	struct map_owner own = MAP_OWNER_DEFAULT;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	snprintf(ref, 400, "lmdb:%s", path);
	if (write_file(path, text) < 0)
		return -1;
	own.mode = 0600;
	rc = map_build_file(path, fmt, &own, d);
	if (rc < 0)
		diag_print(d, stderr, "build: ");
	diag_free(&d);
	return rc;
}

static int
setup(void **state)
{
	struct str *why = str_new(256), *text = str_new(8192);
	int rc = -1;

	if (mkdtemp(tmpdir) == NULL)
		return -1;
	hash_y = str_new(PASSWD_HASH_MAX);
	hash_6 = str_new(PASSWD_HASH_MAX);
	hash_2b = str_new(PASSWD_HASH_MAX);
	dummy = str_new(PASSWD_HASH_MAX);
	if (passwd_hash_make("right", 5, NULL, hash_y, why) < 0 ||
	    passwd_hash_make("six", 3, "$6$", hash_6, why) < 0 ||
	    passwd_hash_make("blow", 4, "$2b$", hash_2b, why) < 0 ||
	    passwd_hash_make("x9!dummy", 8, NULL, dummy, why) < 0) {
		fprintf(stderr, "hash: %s\n", str_c(why));
		goto out;
	}
	if (build("users",
	        "ann@example.test\n"
	        "bob@example.test quota=5m\n"
	        "off@example.test enabled=no\n"
	        "six@example.test\n"
	        "blow@example.test\n"
	        "bad@example.test\n"
	        "nopw@example.test\n",
	        MAP_FORMAT_USERS, users_ref) < 0)
		goto out;
	if (str_appendf(text,
	        "ann@example.test %s\n"
	        "Bob@Example.Test %s\n"
	        "off@example.test %s\n"
	        "six@example.test %s\n"
	        "blow@example.test %s\n"
	        "bad@example.test $y$nonsense\n"
	        "ghost@example.test %s\n",
	        str_c(hash_y), str_c(hash_y), str_c(hash_y), str_c(hash_6),
	        str_c(hash_2b), str_c(hash_y)) < 0 ||
	    build("passwd", str_c(text), MAP_FORMAT_TABLE, passwd_ref) < 0)
		goto out;
	rc = 0;
out:
	str_free(&why);
	str_free(&text);
	return rc;
}

static int
teardown(void **state)
{
	str_free(&hash_y);
	str_free(&hash_6);
	str_free(&hash_2b);
	str_free(&dummy);
	return test_rm_rf(tmpdir);
}

static void
test_hash_make(void **state)
{
	struct str *why = str_new(256), *h = str_new(PASSWD_HASH_MAX);

	assert_memory_equal(str_c(hash_y), "$y$", 3);
	assert_memory_equal(str_c(hash_6), "$6$", 3);
	assert_memory_equal(str_c(hash_2b), "$2b$", 4);
	/* Fresh salt each time: two hashes of one password differ. */
	assert_int_equal(passwd_hash_make("right", 5, NULL, h, why), 0);
	assert_string_not_equal(str_c(h), str_c(hash_y));
	assert_int_equal(passwd_verify("right", 5, str_c(h)), 1);
	/* Empty, NUL inside, unknown method. */
	str_clear(h);
	assert_int_equal(passwd_hash_make("", 0, NULL, h, why), -1);
	assert_int_equal(passwd_hash_make("a\0b", 3, NULL, h, why), -1);
	assert_int_equal(passwd_hash_make("abc", 3, "$9$", h, why), -1);
	assert_int_equal(str_len(h), 0);
	str_free(&h);
	str_free(&why);
}

static void
test_verify(void **state)
{
	assert_int_equal(passwd_verify("right", 5, str_c(hash_y)), 1);
	assert_int_equal(passwd_verify("Right", 5, str_c(hash_y)), 0);
	assert_int_equal(passwd_verify("righ", 4, str_c(hash_y)), 0);
	assert_int_equal(passwd_verify("right ", 6, str_c(hash_y)), 0);
	assert_int_equal(passwd_verify("", 0, str_c(hash_y)), 0);
	assert_int_equal(passwd_verify("six", 3, str_c(hash_6)), 1);
	assert_int_equal(passwd_verify("blow", 4, str_c(hash_2b)), 1);
	assert_int_equal(passwd_verify("blow", 4, str_c(hash_6)), 0);
	/* A NUL in the password never matches "the part before it". */
	assert_int_equal(passwd_verify("right\0x", 7, str_c(hash_y)), -1);
	/* Malformed hashes. */
	assert_int_equal(passwd_verify("right", 5, "$y$nonsense"), -1);
	assert_int_equal(passwd_verify("right", 5, ""), -1);
	assert_int_equal(passwd_verify("right", 5, "plain"), -1);
	assert_int_equal(passwd_verify("x", 1, "$1$abc$def"), -1);    /* md5 */
	assert_int_equal(passwd_verify("x", 1, "abJnggxhB/yWI"), -1); /* DES */
}

struct hash_case {
	const char *in;
	int rc;
};

static void
test_hash_check(void **state)
{
	/* clang-format off */
	static const struct hash_case cases[] = {
		{ "", -1 },
		{ "$y$", -1 },
		{ "$y$ j9T$x$y", -1 },
		{ "$y$j9T\x01$x", -1 },
		{ "$y$j9T\xc3\xa9", -1 },
		{ "*", -1 },
		{ "!$y$j9T$abc$def", -1 },
		{ "$1$abc$def", -1 },
		{ "{PLAIN}secret", -1 },
	};
	/* clang-format on */
	struct str *why = str_new(256);

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		str_clear(why);
		if (passwd_hash_check(cases[i].in, strlen(cases[i].in), why) !=
		    cases[i].rc)
			fail_msg("\"%s\"", cases[i].in);
		assert_true(str_len(why) > 0);
	}
	assert_int_equal(
	    passwd_hash_check(str_c(hash_y), str_len(hash_y), why), 0);
	assert_int_equal(
	    passwd_hash_check(str_c(hash_6), str_len(hash_6), why), 0);
	assert_int_equal(
	    passwd_hash_check(str_c(hash_2b), str_len(hash_2b), why), 0);
	/* Length: limit - 1 is refused by crypt's syntax, limit by size. */
	char *longh = malloc(PASSWD_HASH_MAX + 2);
	memset(longh, 'a', PASSWD_HASH_MAX + 1);
	memcpy(longh, "$6$", 3);
	longh[PASSWD_HASH_MAX + 1] = '\0';
	str_clear(why);
	assert_int_equal(passwd_hash_check(longh, PASSWD_HASH_MAX, why), -1);
	assert_non_null(strstr(str_c(why), "longer than"));
	free(longh);
	str_free(&why);
}

static void
test_lookup(void **state)
{
	struct str *why = str_new(256), *h = str_new(PASSWD_HASH_MAX);
	struct map *m = map_open(passwd_ref, why);
	bool bad;

	assert_non_null(m);
	assert_int_equal(
	    passwd_lookup(m, "ann@example.test", 16, h, &bad, why), MAP_FOUND);
	assert_false(bad);
	assert_string_equal(str_c(h), str_c(hash_y));
	str_clear(h);
	/* Keys are folded: any case finds the entry. */
	assert_int_equal(
	    passwd_lookup(m, "BOB@example.TEST", 16, h, &bad, why), MAP_FOUND);
	assert_string_equal(str_c(h), str_c(hash_y));
	str_clear(h);
	assert_int_equal(
	    passwd_lookup(m, "bad@example.test", 16, h, &bad, why), MAP_FOUND);
	assert_true(bad);
	assert_int_equal(str_len(h), 0);
	assert_int_equal(passwd_lookup(m, "zed@example.test", 16, h, &bad, why),
	    MAP_NOTFOUND);
	assert_int_equal(passwd_lookup(m, "", 0, h, &bad, why), MAP_NOTFOUND);
	map_close(&m);
	str_free(&h);
	str_free(&why);
}

struct check_case {
	const char *user;
	const char *pw;
	enum passwd_verdict want;
	enum passwd_reason reason;
};

static void
test_check(void **state)
{
	/* clang-format off */
	static const struct check_case cases[] = {
		{ "ann@example.test", "right", PASSWD_OK, PASSWD_R_NONE },
		{ "ANN@Example.Test", "right", PASSWD_OK, PASSWD_R_NONE },
		{ "ann@example.test", "wrong", PASSWD_FAIL, PASSWD_R_WRONG },
		{ "ann@example.test", "", PASSWD_FAIL, PASSWD_R_WRONG },
		{ "bob@example.test", "right", PASSWD_OK, PASSWD_R_NONE },
		{ "six@example.test", "six", PASSWD_OK, PASSWD_R_NONE },
		{ "blow@example.test", "blow", PASSWD_OK, PASSWD_R_NONE },
		{ "blow@example.test", "six", PASSWD_FAIL, PASSWD_R_WRONG },
		{ "zed@example.test", "right", PASSWD_FAIL, PASSWD_R_UNKNOWN },
		{ "zed@example.test", "x9!dummy", PASSWD_FAIL, PASSWD_R_UNKNOWN },
		{ "ghost@example.test", "right", PASSWD_FAIL, PASSWD_R_UNKNOWN },
		{ "nopw@example.test", "right", PASSWD_FAIL, PASSWD_R_UNKNOWN },
		{ "off@example.test", "right", PASSWD_FAIL, PASSWD_R_DISABLED },
		{ "off@example.test", "wrong", PASSWD_FAIL, PASSWD_R_DISABLED },
		{ "bad@example.test", "right", PASSWD_FAIL, PASSWD_R_BADHASH },
		{ "@example.test", "right", PASSWD_FAIL, PASSWD_R_UNKNOWN },
		{ "", "right", PASSWD_FAIL, PASSWD_R_UNKNOWN },
	};
	/* clang-format on */
	struct str *why = str_new(256);
	struct map *users = map_open(users_ref, why);
	struct map *pw = map_open(passwd_ref, why);

	assert_non_null(users);
	assert_non_null(pw);
	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		enum passwd_reason reason = 99;
		enum passwd_verdict v = passwd_check(users, pw, str_c(dummy),
		    cases[i].user, strlen(cases[i].user), cases[i].pw,
		    strlen(cases[i].pw), &reason, why);

		if (v != cases[i].want || reason != cases[i].reason)
			fail_msg("%s/%s: verdict %d reason %s", cases[i].user,
			    cases[i].pw, v, passwd_reason_text(reason));
	}
	/* A password with a NUL never matches. */
	enum passwd_reason reason;
	assert_int_equal(
	    passwd_check(users, pw, str_c(dummy), "ann@example.test", 16,
	        "right\0", 6, &reason, why),
	    PASSWD_FAIL);
	map_close(&users);
	map_close(&pw);
	str_free(&why);
}

static void
test_rebuilt_table_is_seen(void **state)
{
	struct str *why = str_new(256), *text = str_new(4096);
	struct map *users = map_open(users_ref, why);
	struct map *pw = map_open(passwd_ref, why);
	struct str *h = str_new(PASSWD_HASH_MAX);
	enum passwd_reason reason;
	char ref[400];

	assert_int_equal(passwd_check(users, pw, str_c(dummy),
	                     "ann@example.test", 16, "right", 5, &reason, why),
	    PASSWD_OK);
	/* A new password, compiled over the open table. */
	assert_int_equal(passwd_hash_make("new", 3, NULL, h, why), 0);
	assert_int_equal(
	    str_appendf(text, "ann@example.test %s\n", str_c(h)), 0);
	assert_int_equal(
	    build("passwd", str_c(text), MAP_FORMAT_TABLE, ref), 0);
	assert_int_equal(passwd_check(users, pw, str_c(dummy),
	                     "ann@example.test", 16, "right", 5, &reason, why),
	    PASSWD_FAIL);
	assert_int_equal(passwd_check(users, pw, str_c(dummy),
	                     "ann@example.test", 16, "new", 3, &reason, why),
	    PASSWD_OK);
	map_close(&users);
	map_close(&pw);
	str_free(&h);
	str_free(&text);
	str_free(&why);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_make),
	    cmocka_unit_test(test_verify),
	    cmocka_unit_test(test_hash_check),
	    cmocka_unit_test(test_lookup),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_rebuilt_table_is_seen),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
