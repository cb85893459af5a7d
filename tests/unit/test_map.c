/*
 * test_map - lib/map, lib/map_text, lib/map_build: text tables compiled
 * into real LMDB files in a temporary folder under /var/tmp, looked up,
 * rebuilt under a running reader, removed under it.
 */
#include <dirent.h>
#include <errno.h>
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
#include "lib/fsio.h"
#include "lib/log.h"
#include "lib/map.h"
#include "lib/map_build.h"
#include "lib/map_text.h"
#include "lib/str.h"

static char tmpdir[] = "/var/tmp/facteur-test-map.XXXXXX";

/* Warnings the code under test logged, joined by newlines. */
static struct str *logged;

static void
capture(
    enum log_level lvl, const char *name, long pid, const char *text, void *arg)
{
	str_notef(logged, "%s\n", text);
}

static int
setup(void **state)
{
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	logged = str_new(1 << 16);
	log_set_sink(capture, NULL);
	return 0;
}

static int
teardown(void **state)
{
	log_set_sink(NULL, NULL);
	str_free(&logged);
	return test_rm_rf(tmpdir);
}

/* tmpdir/name, in a static buffer (one at a time is enough). */
static const char *
path_of(const char *name)
{
	static char buf[2][4096];
	static int which;

	which ^= 1;
	snprintf(buf[which], sizeof(buf[which]), "%s/%s", tmpdir, name);
	return buf[which];
}

static void
write_file(const char *name, const void *text, size_t len)
{
	FILE *f = fopen(path_of(name), "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
write_text(const char *name, const char *text)
{
	write_file(name, text, strlen(text));
}

static bool
exists(const char *name)
{
	struct stat st;

	return stat(path_of(name), &st) == 0;
}

/* No FILE.lmdb.tmp.* left in tmpdir. */
static void
assert_no_tmp(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".tmp.") != NULL)
			fail_msg("temporary file left: %s", de->d_name);
	closedir(d);
}

/* Build name from text; returns the builder's result, diag in *dp. */
static int
build(const char *name, const char *text, enum map_format fmt, struct diag **dp)
{
	struct map_owner own = MAP_OWNER_DEFAULT;

	write_text(name, text);
	*dp = diag_new();
	return map_build_file(path_of(name), fmt, &own, *dp);
}

static struct map *
open_map(const char *name)
{
	struct str *why = str_new(4096);
	char ref[4200];
	struct map *m;

	snprintf(ref, sizeof(ref), "lmdb:%s", path_of(name));
	m = map_open(ref, why);
	if (m == NULL)
		fail_msg("map_open %s: %s", ref, str_c(why));
	str_free(&why);
	return m;
}

/* Look key up; want NULL means not found. */
static void
assert_lookup(struct map *m, const char *key, const char *want)
{
	struct str *val = str_new(MAP_VALUE_MAX);
	struct str *why = str_new(1024);
	enum map_result r = map_lookups(m, key, val, why);

	if (want == NULL) {
		if (r != MAP_NOTFOUND)
			fail_msg("%s: want not found, got %d (%s)", key, r,
			    str_c(val));
	} else {
		if (r != MAP_FOUND)
			fail_msg("%s: want \"%s\", got %d (%s)", key, want, r,
			    str_c(why));
		assert_string_equal(str_c(val), want);
	}
	str_free(&val);
	str_free(&why);
}

static void
test_table_build_and_lookup(void **state)
{
	struct diag *d;
	struct map *m;

	assert_int_equal(build("t1",
	                     "# a comment\n"
	                     "\n"
	                     "alpha one\n"
	                     "Beta\tTwo  Words  \r\n"
	                     "   # indented comment inside nothing\n"
	                     "gamma first\n"
	                     "  second\n"
	                     "\n"
	                     "\tthird\n"
	                     "UTF8\xc3\xa9 caf\xc3\xa9\n"
	                     "last no-newline",
	                     MAP_FORMAT_TABLE, &d),
	    0);
	assert_int_equal(diag_errors(d), 0);
	assert_int_equal(diag_warnings(d), 0);
	assert_true(exists("t1.lmdb"));
	assert_no_tmp();
	m = open_map("t1");
	assert_lookup(m, "alpha", "one");
	assert_lookup(m, "ALPHA", "one");
	assert_lookup(m, "beta", "Two  Words");
	assert_lookup(m, "bEtA", "Two  Words");
	assert_lookup(m, "gamma", "first second third");
	assert_lookup(m, "utf8\xc3\xa9", "caf\xc3\xa9");
	assert_lookup(m, "UTF8\xc3\xa9", "caf\xc3\xa9");
	assert_lookup(m, "last", "no-newline");
	assert_lookup(m, "delta", NULL);
	assert_lookup(m, "", NULL);
	assert_lookup(m, "#", NULL);
	assert_int_equal(strncmp(map_ref(m), "lmdb:/var/tmp/", 14), 0);
	assert_non_null(strstr(map_ref(m), "/t1"));
	map_close(&m);
	assert_null(m);
	map_close(&m); /* NULL is fine */
	diag_free(&d);
}

static void
test_empty_table(void **state)
{
	struct diag *d;
	struct map *m;

	assert_int_equal(build("empty", "", MAP_FORMAT_TABLE, &d), 0);
	m = open_map("empty");
	assert_lookup(m, "anything", NULL);
	map_close(&m);
	diag_free(&d);
	assert_int_equal(
	    build("comments", "# only\n\n  \n#\n", MAP_FORMAT_TABLE, &d), 0);
	diag_free(&d);
}

static void
test_duplicates(void **state)
{
	struct diag *d;
	struct map *m;

	assert_int_equal(build("dup",
	                     "a first\n"
	                     "b x\n"
	                     "A second\n"
	                     "  continued\n"
	                     "a third\n",
	                     MAP_FORMAT_TABLE, &d),
	    0);
	assert_int_equal(diag_errors(d), 0);
	assert_int_equal(diag_warnings(d), 2);
	assert_non_null(strstr(diag_text(d), "/dup:3: warning: duplicate key "
	                                     "\"a\""));
	assert_non_null(strstr(diag_text(d), "/dup:5: warning: duplicate key "
	                                     "\"a\""));
	m = open_map("dup");
	assert_lookup(m, "a", "first");
	map_close(&m);
	diag_free(&d);
}

struct bad_case {
	const char *name;
	enum map_format fmt;
	const char *text;
	const char *want; /* substring of the diag, after "FILE" */
};

static void
test_errors_name_file_line(void **state)
{
	/* clang-format off */
	static const struct bad_case cases[] = {
		{ "continuation first", MAP_FORMAT_TABLE, "  x y\n",
		    ":1: error: continuation line without an entry" },
		{ "missing value", MAP_FORMAT_TABLE, "a b\nkey\n",
		    ":2: error: missing value for key \"key\"" },
		{ "missing value blanks", MAP_FORMAT_TABLE, "key   \t\n",
		    ":1: error: missing value" },
		{ "bare cr", MAP_FORMAT_TABLE, "a b\rc\n",
		    ":1: error: control byte 0x0d" },
		{ "control", MAP_FORMAT_TABLE, "a b\n\nc d\x01\n",
		    ":3: error: control byte 0x01" },
		{ "del", MAP_FORMAT_TABLE, "a b\x7f\n",
		    ":1: error: control byte 0x7f" },
		{ "control in continuation", MAP_FORMAT_TABLE,
		    "a b\n c\x02\n", ":2: error: control byte 0x02" },
		{ "after continuation", MAP_FORMAT_TABLE,
		    "a b\n c\n d\nkey\n", ":4: error: missing value" },
		{ "alias no colon", MAP_FORMAT_ALIASES, "root: a\nbob ann\n",
		    ":2: error: missing ':'" },
		{ "alias quoted target", MAP_FORMAT_ALIASES,
		    "a: \"b c\"@x.test\n",
		    ":1: error: quoted targets are not supported yet" },
		{ "alias include", MAP_FORMAT_ALIASES,
		    "a: b\nlist: :INCLUDE:/etc/list\n",
		    ":2: error: :include: is not supported yet" },
		{ "alias command", MAP_FORMAT_ALIASES, "a: |/bin/cat\n",
		    ":1: error: delivery to a command (|command) is not "
		    "supported yet" },
		{ "alias file", MAP_FORMAT_ALIASES, "a: b, /var/log/x\n",
		    ":1: error: delivery to a file (/file) is not supported "
		    "yet" },
		{ "alias no targets", MAP_FORMAT_ALIASES, "a:  , ,\n",
		    ":1: error: alias \"a\" has no targets" },
		{ "alias blank name", MAP_FORMAT_ALIASES, "a b: c\n",
		    ":1: error: blank inside the alias name" },
		{ "alias quoted name", MAP_FORMAT_ALIASES, "\"a b\": c\n",
		    ":1: error: quoted alias names are not supported" },
		{ "alias empty name", MAP_FORMAT_ALIASES, ": c\n",
		    ":1: error: missing key" },
		{ "alias angle", MAP_FORMAT_ALIASES, "a: <b@x.test>\n",
		    ":1: error: target \"<b@x.test>\": '<' is not supported" },
		{ "alias empty domain", MAP_FORMAT_ALIASES, "a: b@\n",
		    ":1: error: target \"b@\": empty domain" },
		{ "alias empty local", MAP_FORMAT_ALIASES, "a: @x.test\n",
		    ":1: error: target \"@x.test\": empty local part" },
		{ "alias continued bad", MAP_FORMAT_ALIASES,
		    "a: b,\n  c,\n  |cmd\n",
		    ":1: error: delivery to a command" },
		{ "users bad address", MAP_FORMAT_USERS, "noat quota=1\n",
		    ":1: error: bad address: address has no '@'" },
		{ "users slash", MAP_FORMAT_USERS, "a/b@x.test\n",
		    ":1: error: bad address: local part contains '/'" },
		{ "users dot", MAP_FORMAT_USERS, "ok@x.test\n.a@x.test\n",
		    ":2: error: bad address: local part starts with '.'" },
		{ "users domain dot", MAP_FORMAT_USERS, "a@.x.test\n",
		    ":1: error: bad address: domain starts with '.'" },
		{ "users bad quota", MAP_FORMAT_USERS, "a@x.test quota=5x\n",
		    ":1: error: bad quota \"5x\"" },
		{ "users attr", MAP_FORMAT_USERS, "a@x.test color=red\n",
		    ":1: error: unknown attribute \"color\"" },
		{ "users password", MAP_FORMAT_USERS,
		    "a@x.test password={SHA}x\n",
		    ":1: error: passwords do not belong in the users table" },
	};
	/* clang-format on */
	char name[64];

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		struct diag *d;

		snprintf(name, sizeof(name), "bad%zu", i);
		if (build(name, cases[i].text, cases[i].fmt, &d) != -1)
			fail_msg("%s: built", cases[i].name);
		char want[512];
		snprintf(want, sizeof(want), "/%s%s", name, cases[i].want);
		if (strstr(diag_text(d), want) == NULL)
			fail_msg("%s: want \"%s\" in:\n%s", cases[i].name, want,
			    diag_text(d));
		snprintf(want, sizeof(want), "%s.lmdb", name);
		if (exists(want))
			fail_msg("%s: %s was built", cases[i].name, want);
		diag_free(&d);
	}
	assert_no_tmp();
}

static void
test_every_error_reported(void **state)
{
	struct diag *d;

	assert_int_equal(
	    build("many", "a\nb c\nd\n  e\x01\nf g\nh\n", MAP_FORMAT_TABLE, &d),
	    -1);
	assert_int_equal(diag_errors(d), 3);
	assert_non_null(strstr(diag_text(d), "/many:1: error: missing value"));
	assert_non_null(strstr(diag_text(d), "/many:4: error: control byte"));
	assert_non_null(strstr(diag_text(d), "/many:6: error: missing value"));
	diag_free(&d);
}

static void
test_line_limits(void **state)
{
	struct str *text = str_new(3 * MAP_LINE_MAX);
	struct diag *d;
	struct map *m;
	size_t key_max = MAP_KEY_MAX;

	/* A line of exactly MAP_LINE_MAX bytes (and limit - 1) is fine. */
	str_clear(text);
	assert_int_equal(str_appends(text, "k "), 0);
	for (size_t i = 2; i < MAP_LINE_MAX; i++)
		assert_int_equal(str_appendc(text, 'v'), 0);
	assert_int_equal(str_appends(text, "\r\nj "), 0);
	for (size_t i = 2; i < MAP_LINE_MAX - 1; i++)
		assert_int_equal(str_appendc(text, 'w'), 0);
	assert_int_equal(str_appends(text, "\n"), 0);
	assert_int_equal(build("limit", str_c(text), MAP_FORMAT_TABLE, &d), 0);
	diag_free(&d);
	m = open_map("limit");
	struct str *val = str_new(MAP_VALUE_MAX), *why = str_new(100);
	assert_int_equal(map_lookups(m, "k", val, why), MAP_FOUND);
	assert_int_equal(str_len(val), MAP_LINE_MAX - 2);
	assert_int_equal(map_lookups(m, "j", val, why), MAP_FOUND);
	assert_int_equal(str_len(val), MAP_LINE_MAX - 3);
	/* A value that does not fit the caller's string: MAP_TEMP. */
	struct str *small = str_new(10);
	assert_int_equal(map_lookups(m, "k", small, why), MAP_TEMP);
	assert_non_null(strstr(str_c(why), "too long"));
	str_free(&small);
	map_close(&m);

	/* limit + 1 is an error on its line; the next line still counts. */
	str_clear(text);
	assert_int_equal(str_appends(text, "a b\nk "), 0);
	for (size_t i = 2; i < MAP_LINE_MAX + 1; i++)
		assert_int_equal(str_appendc(text, 'v'), 0);
	assert_int_equal(str_appends(text, "\nc\n"), 0);
	assert_int_equal(build("over", str_c(text), MAP_FORMAT_TABLE, &d), -1);
	assert_non_null(strstr(diag_text(d), "/over:2: error: line longer "
	                                     "than 8192 bytes"));
	assert_non_null(strstr(diag_text(d), "/over:3: error: missing value"));
	diag_free(&d);

	/* A very long last line without a line end. */
	str_clear(text);
	for (size_t i = 0; i < 2 * MAP_LINE_MAX + 10; i++)
		assert_int_equal(str_appendc(text, 'x'), 0);
	assert_int_equal(build("over2", str_c(text), MAP_FORMAT_TABLE, &d), -1);
	assert_non_null(strstr(diag_text(d), "/over2:1: error: line longer"));
	diag_free(&d);

	/* Keys: MAP_KEY_MAX is fine, one more is not. */
	str_clear(text);
	for (size_t i = 0; i < key_max; i++)
		assert_int_equal(str_appendc(text, 'K'), 0);
	assert_int_equal(str_appends(text, " v\n"), 0);
	assert_int_equal(build("keymax", str_c(text), MAP_FORMAT_TABLE, &d), 0);
	diag_free(&d);
	m = open_map("keymax");
	str_truncate(text, key_max);
	assert_int_equal(
	    map_lookup(m, str_c(text), key_max, val, why), MAP_FOUND);
	assert_string_equal(str_c(val), "v");
	map_close(&m);
	str_clear(text);
	for (size_t i = 0; i < key_max + 1; i++)
		assert_int_equal(str_appendc(text, 'K'), 0);
	assert_int_equal(str_appends(text, " v\n"), 0);
	assert_int_equal(
	    build("keyover", str_c(text), MAP_FORMAT_TABLE, &d), -1);
	assert_non_null(strstr(diag_text(d), "/keyover:1: error: key"));
	diag_free(&d);

	/* An entry joined past MAP_VALUE_MAX from many continuations. */
	struct str *big = str_new(MAP_VALUE_MAX * 2);
	assert_int_equal(str_appends(big, "k v\n"), 0);
	for (size_t i = 0; i < MAP_VALUE_MAX / 1000 + 2; i++) {
		assert_int_equal(str_appendc(big, ' '), 0);
		for (size_t j = 0; j < 1000; j++)
			assert_int_equal(str_appendc(big, 'z'), 0);
		assert_int_equal(str_appendc(big, '\n'), 0);
	}
	assert_int_equal(
	    build("entrybig", str_c(big), MAP_FORMAT_TABLE, &d), -1);
	assert_non_null(strstr(diag_text(d), "error: entry longer than"));
	diag_free(&d);
	str_free(&big);
	str_free(&val);
	str_free(&why);
	str_free(&text);
}

static void
test_nul_byte(void **state)
{
	static const char text[] = "a b\nc d\0e\nf g\n";
	struct map_owner own = MAP_OWNER_DEFAULT;
	struct diag *d = diag_new();

	write_file("nul", text, sizeof(text) - 1);
	assert_int_equal(
	    map_build_file(path_of("nul"), MAP_FORMAT_TABLE, &own, d), -1);
	assert_non_null(strstr(diag_text(d), "/nul:2: error: NUL byte"));
	assert_false(exists("nul.lmdb"));
	diag_free(&d);
}

static void
test_aliases_format(void **state)
{
	struct diag *d;
	struct map *m;

	assert_int_equal(build("aliases",
	                     "# system aliases\n"
	                     "Postmaster: root\n"
	                     "root : admin@example.test\n"
	                     "sales: ann, bob@example.test,\n"
	                     "   carol\n"
	                     "\tdave , ,erin\n"
	                     "team@example.test: x,y\n"
	                     "pct: a%b@c.test\n",
	                     MAP_FORMAT_ALIASES, &d),
	    0);
	assert_int_equal(diag_errors(d), 0);
	m = open_map("aliases");
	assert_lookup(m, "postmaster", "root");
	assert_lookup(m, "POSTMASTER", "root");
	assert_lookup(m, "root", "admin@example.test");
	assert_lookup(m, "sales", "ann, bob@example.test, carol, dave, erin");
	assert_lookup(m, "team@example.test", "x, y");
	assert_lookup(m, "Team@Example.Test", "x, y");
	assert_lookup(m, "pct", "a%b@c.test");
	assert_lookup(m, "sales:", NULL);
	map_close(&m);
	diag_free(&d);
}

static void
test_users_format(void **state)
{
	struct diag *d;
	struct map *m;

	assert_int_equal(build("users",
	                     "Demo@Example.TEST quota=0 enabled=yes\n"
	                     "ann@example.test quota=5m\n"
	                     "old@example.test enabled=no\n"
	                     "x@other.test\n",
	                     MAP_FORMAT_USERS, &d),
	    0);
	assert_int_equal(diag_warnings(d), 0);
	m = open_map("users");
	assert_lookup(m, "demo@example.test", "quota=0 enabled=yes");
	assert_lookup(m, "ann@example.test", "quota=5242880 enabled=yes");
	assert_lookup(m, "old@example.test", "quota=0 enabled=no");
	assert_lookup(m, "x@other.test", "quota=0 enabled=yes");
	assert_lookup(m, "@example.test", "");
	assert_lookup(m, "@other.test", "");
	assert_lookup(m, "@nowhere.test", NULL);
	map_close(&m);
	diag_free(&d);
}

static void
test_format_names(void **state)
{
	enum map_format f;

	assert_int_equal(
	    map_format_guess("/etc/facteur/aliases"), MAP_FORMAT_ALIASES);
	assert_int_equal(map_format_guess("aliases"), MAP_FORMAT_ALIASES);
	assert_int_equal(
	    map_format_guess("/etc/facteur/users"), MAP_FORMAT_USERS);
	assert_int_equal(
	    map_format_guess("/etc/facteur/virtual"), MAP_FORMAT_TABLE);
	assert_int_equal(
	    map_format_guess("/etc/aliases.d/x"), MAP_FORMAT_TABLE);
	assert_int_equal(map_format_guess("/x/users.txt"), MAP_FORMAT_TABLE);
	assert_int_equal(map_format_parse("aliases", &f), 0);
	assert_int_equal(f, MAP_FORMAT_ALIASES);
	assert_int_equal(map_format_parse("users", &f), 0);
	assert_int_equal(f, MAP_FORMAT_USERS);
	assert_int_equal(map_format_parse("table", &f), 0);
	assert_int_equal(f, MAP_FORMAT_TABLE);
	assert_int_equal(map_format_parse("hash", &f), -1);
	assert_string_equal(map_format_name(MAP_FORMAT_USERS), "users");
}

static void
test_open_errors(void **state)
{
	struct str *why = str_new(4096);
	char ref[4200];

	assert_null(map_open("/etc/facteur/aliases", why));
	assert_non_null(strstr(str_c(why), "not a table reference"));
	str_clear(why);
	assert_null(map_open("pgsql:/etc/facteur/users.pgsql", why));
	assert_non_null(strstr(str_c(why), "unknown table type \"pgsql\""));
	str_clear(why);
	assert_null(map_open("lmdb:", why));
	assert_non_null(strstr(str_c(why), "empty table name"));
	str_clear(why);
	assert_null(map_open("LMDB:/x", why));
	str_clear(why);
	snprintf(ref, sizeof(ref), "lmdb:%s", path_of("missing"));
	assert_null(map_open(ref, why));
	assert_non_null(strstr(str_c(why), "No such file"));
	assert_non_null(strstr(str_c(why), "mailctl map build"));
	/* Not an LMDB file. */
	write_text("garbage.lmdb", "this is not a database\n");
	str_clear(why);
	snprintf(ref, sizeof(ref), "lmdb:%s", path_of("garbage"));
	assert_null(map_open(ref, why));
	assert_true(str_len(why) > 0);
	/* An empty file. */
	write_text("zero.lmdb", "");
	str_clear(why);
	snprintf(ref, sizeof(ref), "lmdb:%s", path_of("zero"));
	assert_null(map_open(ref, why));
	assert_non_null(strstr(str_c(why), "not a table"));
	str_free(&why);
}

static void
test_ref_split(void **state)
{
	const char *type, *name;
	size_t tlen;

	assert_true(map_ref_split("lmdb:/a/b", &type, &tlen, &name));
	assert_int_equal(tlen, 4);
	assert_string_equal(name, "/a/b");
	assert_false(map_ref_split("/a/b", &type, &tlen, &name));
	assert_false(map_ref_split(":x", &type, &tlen, &name));
	assert_false(map_ref_split("Lmdb:x", &type, &tlen, &name));
}

/*
 * The point of the atomic replace: a reader opened before a rebuild sees
 * the new table after it, without reopening by hand, and keeps answering
 * when the table goes away.
 */
static void
test_reader_follows_rebuild(void **state)
{
	struct diag *d;
	struct map *m;

	assert_int_equal(build("live", "a 1\nb 1\n", MAP_FORMAT_TABLE, &d), 0);
	diag_free(&d);
	m = open_map("live");
	assert_lookup(m, "a", "1");
	assert_lookup(m, "c", NULL);

	for (int round = 2; round < 5; round++) {
		char text[64];
		snprintf(text, sizeof(text), "a %d\nc %d\n", round, round);
		assert_int_equal(build("live", text, MAP_FORMAT_TABLE, &d), 0);
		diag_free(&d);
		snprintf(text, sizeof(text), "%d", round);
		assert_lookup(m, "a", text);
		assert_lookup(m, "c", text);
		assert_lookup(m, "b", NULL);
	}
	assert_non_null(strstr(str_c(logged), "table changed, reopened"));
	assert_no_tmp();

	/* Removed: the open copy keeps answering, with one warning. */
	str_clear(logged);
	assert_int_equal(unlink(path_of("live.lmdb")), 0);
	assert_lookup(m, "a", "4");
	assert_lookup(m, "c", "4");
	assert_non_null(strstr(str_c(logged), "answering from the copy"));
	const char *first = strstr(str_c(logged), "answering");
	assert_null(strstr(first + 1, "answering")); /* warned once */

	/* Back again: followed again. */
	assert_int_equal(build("live", "a 5\n", MAP_FORMAT_TABLE, &d), 0);
	diag_free(&d);
	assert_lookup(m, "a", "5");
	assert_lookup(m, "c", NULL);

	/* Replaced by garbage: keep the copy we have, warn once. */
	str_clear(logged);
	write_text("junk", "not a table at all, not at all\n");
	assert_int_equal(rename(path_of("junk"), path_of("live.lmdb")), 0);
	assert_lookup(m, "a", "5");
	assert_lookup(m, "a", "5");
	first = strstr(str_c(logged), "cannot reopen");
	assert_non_null(first);
	assert_null(strstr(first + 1, "cannot reopen"));
	map_close(&m);
}

static void
test_older_than_source_warns(void **state)
{
	struct timespec later[2] = {{0, UTIME_OMIT}, {0, 0}};
	struct diag *d;
	struct map *m;
	struct stat st;

	assert_int_equal(build("aged", "a 1\n", MAP_FORMAT_TABLE, &d), 0);
	diag_free(&d);
	str_clear(logged);
	m = open_map("aged");
	map_close(&m);
	assert_null(strstr(str_c(logged), "older than its source"));
	/* Edit the source after the build: the table is stale. */
	assert_int_equal(stat(path_of("aged.lmdb"), &st), 0);
	later[1].tv_sec = st.st_mtim.tv_sec + 10;
	assert_int_equal(utimensat(AT_FDCWD, path_of("aged"), later, 0), 0);
	m = open_map("aged");
	assert_non_null(strstr(str_c(logged), "older than its source"));
	assert_non_null(strstr(str_c(logged), "mailctl map build"));
	assert_lookup(m, "a", "1"); /* still answers */
	map_close(&m);
}

static void
test_failed_rebuild_keeps_old(void **state)
{
	struct diag *d;
	struct map *m;
	struct stat before, after;

	assert_int_equal(build("keep", "a 1\n", MAP_FORMAT_TABLE, &d), 0);
	diag_free(&d);
	assert_int_equal(stat(path_of("keep.lmdb"), &before), 0);
	assert_int_equal(
	    build("keep", "a 2\nbroken\n", MAP_FORMAT_TABLE, &d), -1);
	diag_free(&d);
	assert_int_equal(stat(path_of("keep.lmdb"), &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	m = open_map("keep");
	assert_lookup(m, "a", "1");
	map_close(&m);
	assert_no_tmp();
}

static void
test_owner_and_mode(void **state)
{
	struct map_owner own = {getuid(), getgid(), 0640};
	struct diag *d = diag_new();
	struct stat st;

	write_text("secret", "k v\n");
	assert_int_equal(
	    map_build_file(path_of("secret"), MAP_FORMAT_TABLE, &own, d), 0);
	assert_int_equal(stat(path_of("secret.lmdb"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_uid, getuid());
	own = MAP_OWNER_DEFAULT;
	assert_int_equal(
	    map_build_file(path_of("secret"), MAP_FORMAT_TABLE, &own, d), 0);
	assert_int_equal(stat(path_of("secret.lmdb"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* A reference works as the file name too; other types do not. */
	char ref[4200];
	snprintf(ref, sizeof(ref), "lmdb:%s", path_of("secret"));
	assert_int_equal(map_build_file(ref, MAP_FORMAT_TABLE, &own, d), 0);
	assert_int_equal(diag_errors(d), 0);
	snprintf(ref, sizeof(ref), "pgsql:%s", path_of("secret"));
	assert_int_equal(map_build_file(ref, MAP_FORMAT_TABLE, &own, d), -1);
	assert_non_null(strstr(diag_text(d), "cannot build tables of type"));
	/* Missing source, a folder as source. */
	assert_int_equal(
	    map_build_file(path_of("nothing"), MAP_FORMAT_TABLE, &own, d), -1);
	assert_non_null(strstr(diag_text(d), "nothing: error: cannot open"));
	assert_int_equal(map_build_file(tmpdir, MAP_FORMAT_TABLE, &own, d), -1);
	assert_non_null(strstr(diag_text(d), "not a regular file"));
	assert_no_tmp();
	diag_free(&d);
}

static void
test_stale_tmp_removed(void **state)
{
	char name[128];
	struct diag *d;

	snprintf(name, sizeof(name), "stale.lmdb.tmp.%ld", (long)getpid());
	write_text(name, "left over by a crashed build");
	assert_int_equal(build("stale", "k v\n", MAP_FORMAT_TABLE, &d), 0);
	assert_int_equal(diag_errors(d), 0);
	diag_free(&d);
	assert_false(exists(name));
	assert_no_tmp();
}

/* Index of the first logged call of kind op, or -1. */
static int
first_call(const struct fsio_hooks *h, enum fsio_op op)
{
	for (size_t i = 0; i < h->log_len; i++)
		if (h->log[i].op == op)
			return (int)i;
	return -1;
}

/*
 * DESIGN §2: the file is synced before it gets its name, and the folder
 * after.  Read the order back from the fsio seam.
 */
static void
test_build_durability_order(void **state)
{
	struct fsio_event log[64];
	struct fsio_hooks h = {.log = log, .log_cap = FCT_NELEM(log)};
	struct diag *d;
	int fsync_at, rename_at, dirsync_at;

	fsio_hooks_set(&h);
	assert_int_equal(build("order", "a 1\n", MAP_FORMAT_TABLE, &d), 0);
	fsio_hooks_set(NULL);
	diag_free(&d);
	fsync_at = first_call(&h, FSIO_FSYNC);
	rename_at = first_call(&h, FSIO_RENAME);
	dirsync_at = first_call(&h, FSIO_DIRSYNC);
	assert_true(fsync_at >= 0);
	assert_true(rename_at > fsync_at);
	assert_true(dirsync_at > rename_at);
	assert_non_null(strstr(log[rename_at].path, "order.lmdb.tmp."));
	assert_string_equal(log[rename_at].path2, "order.lmdb");
	assert_int_equal(first_call(&h, FSIO_RENAME_NOREPLACE), -1);
}

/* Each durable step failing: nothing half-built, old table kept. */
static void
test_build_faults(void **state)
{
	/* clang-format off */
	static const enum fsio_op ops[] = {
		FSIO_OPEN, FSIO_FSYNC, FSIO_RENAME, FSIO_DIRSYNC,
	};
	/* clang-format on */
	struct diag *d;
	struct map *m;

	for (size_t i = 0; i < FCT_NELEM(ops); i++) {
		struct fsio_hooks h = {0};

		assert_int_equal(
		    build("fault", "a old\n", MAP_FORMAT_TABLE, &d), 0);
		diag_free(&d);
		h.fault[0] = (struct fsio_fault){ops[i], 1, EIO};
		fsio_hooks_set(&h);
		assert_int_equal(
		    build("fault", "a new\n", MAP_FORMAT_TABLE, &d), -1);
		fsio_hooks_set(NULL);
		if (strstr(diag_text(d), "Input/output error") == NULL)
			fail_msg("%s: %s", fsio_op_name(ops[i]), diag_text(d));
		diag_free(&d);
		assert_no_tmp();
		m = open_map("fault");
		/* After the rename the new table is in place; before, not. */
		assert_lookup(m, "a", ops[i] == FSIO_DIRSYNC ? "new" : "old");
		map_close(&m);
	}
}

/*
 * A crash at every step: the table is always the old one or the new one,
 * never missing or half, and the next build cleans up.
 */
static void
test_build_crash_every_step(void **state)
{
	struct str *val = str_new(100), *why = str_new(1024);
	struct diag *d;
	struct map *m;
	bool finished = false;

	assert_int_equal(
	    build("crash", "a old\nb old\n", MAP_FORMAT_TABLE, &d), 0);
	diag_free(&d);
	for (unsigned step = 1; !finished && step < 50; step++) {
		struct fsio_hooks h = {.crash_at = step};
		int rc;

		fsio_hooks_set(&h);
		rc = build("crash", "a new\nb new\n", MAP_FORMAT_TABLE, &d);
		fsio_hooks_set(NULL);
		diag_free(&d);
		finished = !h.crashed;
		assert_int_equal(rc, finished ? 0 : -1);
		m = open_map("crash");
		assert_int_equal(map_lookups(m, "a", val, why), MAP_FOUND);
		char a[16];
		snprintf(a, sizeof(a), "%s", str_c(val));
		assert_true(strcmp(a, "old") == 0 || strcmp(a, "new") == 0);
		assert_int_equal(map_lookups(m, "b", val, why), MAP_FOUND);
		assert_string_equal(str_c(val), a); /* never half */
		map_close(&m);
		/* Back to the old table for the next step. */
		assert_int_equal(
		    build("crash", "a old\nb old\n", MAP_FORMAT_TABLE, &d), 0);
		diag_free(&d);
		assert_no_tmp();
	}
	assert_true(finished);
	str_free(&val);
	str_free(&why);
}

static void
test_stale_tmp_of_dead_pid_removed(void **state)
{
	char live[128];
	struct diag *d;

	/* Pid 1 is alive (and not ours): its file is left alone. */
	write_text("dead.lmdb.tmp.2147483646", "crashed build");
	snprintf(live, sizeof(live), "dead.lmdb.tmp.%d", 1);
	write_text(live, "a build in progress");
	write_text("dead.lmdb.tmp.notapid", "someone else's");
	assert_int_equal(build("dead", "k v\n", MAP_FORMAT_TABLE, &d), 0);
	assert_int_equal(diag_warnings(d), 0);
	diag_free(&d);
	assert_false(exists("dead.lmdb.tmp.2147483646"));
	assert_true(exists(live));
	assert_true(exists("dead.lmdb.tmp.notapid"));
	assert_int_equal(unlink(path_of(live)), 0);
	assert_int_equal(unlink(path_of("dead.lmdb.tmp.notapid")), 0);
}

static void
test_map_list(void **state)
{
	struct str *why = str_new(8192), *val = str_new(100);
	struct map_list *l;
	struct diag *d;
	char refs[9000];

	assert_int_equal(
	    build("l1", "a one\nb one\n", MAP_FORMAT_TABLE, &d), 0);
	diag_free(&d);
	assert_int_equal(
	    build("l2", "b two\nc two\n", MAP_FORMAT_TABLE, &d), 0);
	diag_free(&d);
	snprintf(refs, sizeof(refs), "lmdb:%s, lmdb:%s", path_of("l1"),
	    path_of("l2"));
	l = map_list_open(refs, why);
	assert_non_null(l);
	assert_int_equal(map_list_count(l), 2);
	assert_int_equal(map_list_lookup(l, "a", 1, val, why), MAP_FOUND);
	assert_string_equal(str_c(val), "one");
	assert_int_equal(map_list_lookup(l, "B", 1, val, why), MAP_FOUND);
	assert_string_equal(str_c(val), "one");
	assert_int_equal(map_list_lookup(l, "c", 1, val, why), MAP_FOUND);
	assert_string_equal(str_c(val), "two");
	assert_int_equal(map_list_lookup(l, "d", 1, val, why), MAP_NOTFOUND);
	assert_non_null(strstr(map_ref(map_list_get(l, 1)), "/l2"));
	map_list_close(&l);
	assert_null(l);

	/* One bad reference fails the whole list. */
	snprintf(refs, sizeof(refs), "lmdb:%s lmdb:%s", path_of("l1"),
	    path_of("nope"));
	assert_null(map_list_open(refs, why));
	assert_non_null(strstr(str_c(why), "nope.lmdb"));

	/* Empty lists find nothing; so does a NULL one. */
	l = map_list_open("  ,  ", why);
	assert_non_null(l);
	assert_int_equal(map_list_count(l), 0);
	assert_int_equal(map_list_lookup(l, "a", 1, val, why), MAP_NOTFOUND);
	map_list_close(&l);
	assert_int_equal(map_list_lookup(NULL, "a", 1, val, why), MAP_NOTFOUND);
	str_free(&why);
	str_free(&val);
}

/* The parser over bytes, without a file. */
struct collected {
	struct str *out;
	int stop_after;
	int seen;
};

static int
collect(const struct map_text_entry *e, void *arg)
{
	struct collected *c = arg;

	str_notef(c->out, "%u:%s=%s%s|", e->line, e->key, e->value,
	    e->implied ? "*" : "");
	return ++c->seen == c->stop_after ? -1 : 0;
}

static void
test_text_parse_pure(void **state)
{
	static const char text[] = "A x\r\n\n# c\nB y\n z\r\n";
	struct collected c = {str_new(4096), 0, 0};
	struct diag *d = diag_new();

	assert_int_equal(
	    map_text_parse(MAP_FORMAT_TABLE, "mem", (const uint8_t *)text,
	        sizeof(text) - 1, d, collect, &c),
	    0);
	assert_string_equal(str_c(c.out), "1:a=x|4:b=y z|");

	/* Byte by byte gives the same entries. */
	struct map_text *t =
	    map_text_new(MAP_FORMAT_TABLE, "mem", d, collect, &c);
	str_clear(c.out);
	for (size_t i = 0; i < sizeof(text) - 1; i++)
		assert_int_equal(
		    map_text_feed(t, (const uint8_t *)text + i, 1), 0);
	assert_int_equal(map_text_finish(t), 0);
	assert_int_equal(map_text_errors(t), 0);
	map_text_free(&t);
	assert_string_equal(str_c(c.out), "1:a=x|4:b=y z|");

	/* Users: the implied domain entry follows each user. */
	static const char users[] = "a@X.test\nb@x.test enabled=no\n";
	str_clear(c.out);
	assert_int_equal(
	    map_text_parse(MAP_FORMAT_USERS, "mem", (const uint8_t *)users,
	        sizeof(users) - 1, d, collect, &c),
	    0);
	assert_string_equal(str_c(c.out),
	    "1:a@x.test=quota=0 enabled=yes|1:@x.test=*|"
	    "2:b@x.test=quota=0 enabled=no|2:@x.test=*|");

	/* A callback that stops the parse. */
	str_clear(c.out);
	c.seen = 0;
	c.stop_after = 1;
	assert_int_equal(
	    map_text_parse(MAP_FORMAT_TABLE, "mem", (const uint8_t *)text,
	        sizeof(text) - 1, d, collect, &c),
	    -1);
	assert_string_equal(str_c(c.out), "1:a=x|");

	/* Empty input. */
	str_clear(c.out);
	c.stop_after = 0;
	assert_int_equal(map_text_parse(MAP_FORMAT_ALIASES, "mem",
	                     (const uint8_t *)"", 0, d, collect, &c),
	    0);
	assert_string_equal(str_c(c.out), "");
	assert_int_equal(diag_errors(d), 0);
	diag_free(&d);
	str_free(&c.out);
}

int
main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_build_and_lookup),
		cmocka_unit_test(test_empty_table),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_errors_name_file_line),
		cmocka_unit_test(test_every_error_reported),
		cmocka_unit_test(test_line_limits),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_aliases_format),
		cmocka_unit_test(test_users_format),
		cmocka_unit_test(test_format_names),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_ref_split),
		cmocka_unit_test(test_reader_follows_rebuild),
		cmocka_unit_test(test_older_than_source_warns),
		cmocka_unit_test(test_failed_rebuild_keeps_old),
		cmocka_unit_test(test_owner_and_mode),
		cmocka_unit_test(test_stale_tmp_removed),
		cmocka_unit_test(test_stale_tmp_of_dead_pid_removed),
		cmocka_unit_test(test_build_durability_order),
		cmocka_unit_test(test_build_faults),
		cmocka_unit_test(test_build_crash_every_step),
		cmocka_unit_test(test_map_list),
		cmocka_unit_test(test_text_parse_pure),
	};
	/* clang-format on */

	return cmocka_run_group_tests(tests, setup, teardown);
}
