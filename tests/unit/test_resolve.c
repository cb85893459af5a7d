/*
 * test_resolve - lib/resolve over real users and aliases tables built in
 * a temporary folder under /var/tmp: classification (table-driven),
 * delimiters, postmaster, routing tricks, temporary failures, and alias
 * expansion with nesting, loops and limits.
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
#include "lib/params.h"
#include "lib/resolve.h"
#include "lib/str.h"

static char tmpdir[] = "/var/tmp/facteur-test-resolve.XXXXXX";
static struct map *users, *broken_users;
static struct map_list *aliases;

static const char users_text[] = "# the users of the tests\n"
                                 "ann@example.test quota=1m\n"
                                 "bob@example.test\n"
                                 "old@example.test enabled=no\n"
                                 "a+b@example.test\n"
                                 "carol@virtual.test\n"
                                 "dave@usersonly.test\n"
                                 "postmaster@pmuser.test enabled=no\n";

static const char aliases_text[] =
    "postmaster: ann\n"
    "root: ann\n"
    "sales@example.test: ann, bob\n"
    "team: carol@virtual.test,\n"
    "  ann\n"
    "info@virtual.test: dave@usersonly.test\n"
    "pct%x: ann\n"
    "loop1@example.test: loop2@example.test\n"
    "loop2@example.test: loop1@example.test\n"
    "self@example.test: self@example.test, bob\n"
    "ann2@example.test: ann@example.test, ANN, ann+x\n"
    "fwd@example.test: Someone@Remote.TEST, bob\n"
    "bare@virtual.test: ann, carol\n"
    "lit@example.test: x@[192.0.2.1]\n"
    "twice@example.test: sales@example.test, team\n"
    "deep0@example.test: deep1\n"
    "deep1@example.test: deep2\n"
    "deep2@example.test: deep3\n"
    "deep3@example.test: deep4\n"
    "deep4@example.test: deep5\n"
    "deep5@example.test: deep6\n"
    "deep6@example.test: deep7\n"
    "deep7@example.test: deep8\n"
    "deep8@example.test: deep9\n"
    "deep9@example.test: deep10\n"
    "deep10@example.test: deep11\n"
    "deep11@example.test: deep12\n"
    "deep12@example.test: deep13\n"
    "deep13@example.test: deep14\n"
    "deep14@example.test: deep15\n"
    "deep15@example.test: deep16\n"
    "deep16@example.test: deep17\n"
    "deep17@example.test: bob\n"
    "tb@example.test: bob, broken\n"
    "ok0@example.test: ok1\n"
    "ok1@example.test: ok2\n"
    "ok2@example.test: bob\n";

static int
setup(void **state)
{
	struct str *why = str_new(4096);
	const char *ref;

	if (mkdtemp(tmpdir) == NULL)
		return -1;
	if ((ref = test_build_table(tmpdir, "users", users_text, MAP_FORMAT_USERS)) == NULL ||
	    (users = map_open(ref, why)) == NULL)
		return -1;
	if ((ref = test_build_table(tmpdir, "aliases", aliases_text, MAP_FORMAT_ALIASES)) ==
	        NULL ||
	    (aliases = map_list_open(ref, why)) == NULL)
		return -1;
	/* A users table whose values do not parse: lookups are TEMP. */
	if ((ref = test_build_table(tmpdir, "broken",
	         "broken@example.test nonsense\n"
	         "@broken.test x\n",
	         MAP_FORMAT_TABLE)) == NULL ||
	    (broken_users = map_open(ref, why)) == NULL)
		return -1;
	str_free(&why);
	return 0;
}

static int
teardown(void **state)
{
	map_close(&users);
	map_close(&broken_users);
	map_list_close(&aliases);
	return test_rm_rf(tmpdir);
}

static struct resolver *
resolver(const char *delim, struct map *u)
{
	struct params p = {0};

	p.mydestination = "Example.TEST, localhost";
	p.virtual_mailbox_domains = "virtual.test";
	p.recipient_delimiter = (char *)delim;
	p.myhostname = "Mail.Example.test";
	p.myorigin = "Example.Test";
	return resolve_new(&p, u, aliases);
}

struct rcase {
	const char *local;
	const char *domain;
	unsigned flags;
	enum resolve_class want;
	enum resolve_class plain;
	const char *mailbox; /* NULL: don't care / none */
	const char *tag;
	const char *dom;
	const char *alias_key;
};

#define C(l, d, f, w, p, m, t, dm, k)                                          \
	{                                                                      \
		l, d, f, w, p, m, t, dm, k                                     \
	}
#define SR RESOLVE_SOURCE_ROUTE

static void
run_cases(struct resolver *r, const struct rcase *cases, size_t n)
{
	struct resolve_result res = {0};
	struct str *why = str_new(4096);

	for (size_t i = 0; i < n; i++) {
		const struct rcase *c = &cases[i];
		enum resolve_class got;

		str_clear(why);
		got = resolve_rcpt(r, c->local, c->domain, c->flags, &res, why);
		if (got != c->want || res.class != got || res.plain != c->plain)
			fail_msg("<%s@%s>: want %s/%s, got %s/%s (%s)",
			    c->local, c->domain ? c->domain : "(none)",
			    resolve_class_name(c->want),
			    resolve_class_name(c->plain),
			    resolve_class_name(got),
			    resolve_class_name(res.plain), str_c(why));
		if (c->mailbox && (res.mailbox == NULL ||
		                      strcmp(res.mailbox, c->mailbox) != 0))
			fail_msg("<%s@%s>: mailbox want %s got %s", c->local,
			    c->domain, c->mailbox,
			    res.mailbox ? res.mailbox : "NULL");
		if (c->tag && (res.tag == NULL || strcmp(res.tag, c->tag) != 0))
			fail_msg("<%s@%s>: tag want \"%s\" got \"%s\"",
			    c->local, c->domain, c->tag,
			    res.tag ? res.tag : "NULL");
		if (c->dom &&
		    (res.domain == NULL || strcmp(res.domain, c->dom) != 0))
			fail_msg("<%s@%s>: domain want %s got %s", c->local,
			    c->domain, c->dom,
			    res.domain ? res.domain : "NULL");
		if (c->alias_key &&
		    (res.alias_key == NULL ||
		        strcmp(res.alias_key, c->alias_key) != 0))
			fail_msg("<%s@%s>: alias key want %s got %s", c->local,
			    c->domain, c->alias_key,
			    res.alias_key ? res.alias_key : "NULL");
		if (got == RESOLVE_TEMP && str_len(why) == 0)
			fail_msg("<%s@%s>: TEMP without a reason", c->local,
			    c->domain);
	}
	resolve_result_clear(&res);
	str_free(&why);
}

static void
test_classify(void **state)
{
	static const char long_local[] =
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	/* clang-format off */
	const struct rcase cases[] = {
		/* users */
		C("ann", "example.test", 0, RESOLVE_USER, RESOLVE_USER,
		    "ann@example.test", "", "example.test", NULL),
		C("Ann", "EXAMPLE.Test", 0, RESOLVE_USER, RESOLVE_USER,
		    "ann@example.test", "", "example.test", NULL),
		C("ann+news", "example.test", 0, RESOLVE_USER, RESOLVE_USER,
		    "ann@example.test", "news", NULL, NULL),
		C("ANN+News", "example.test", 0, RESOLVE_USER, RESOLVE_USER,
		    "ann@example.test", "News", NULL, NULL),
		C("ann+news+x", "example.test", 0, RESOLVE_USER, RESOLVE_USER,
		    "ann@example.test", "news+x", NULL, NULL),
		C("ann+", "example.test", 0, RESOLVE_USER, RESOLVE_USER,
		    "ann@example.test", "", NULL, NULL),
		C("a+b", "example.test", 0, RESOLVE_USER, RESOLVE_USER,
		    "a+b@example.test", "", NULL, NULL),
		C("a+c", "example.test", 0, RESOLVE_UNKNOWN, RESOLVE_UNKNOWN,
		    "a@example.test", "c", NULL, NULL),
		C("+x", "example.test", 0, RESOLVE_UNKNOWN, RESOLVE_UNKNOWN,
		    "+x@example.test", "", NULL, NULL),
		C("ann-news", "example.test", 0, RESOLVE_UNKNOWN,
		    RESOLVE_UNKNOWN, "ann-news@example.test", "", NULL, NULL),
		C("carol", "virtual.test", 0, RESOLVE_USER, RESOLVE_USER,
		    "carol@virtual.test", "", "virtual.test", NULL),
		C("dave", "usersonly.test", 0, RESOLVE_USER, RESOLVE_USER,
		    "dave@usersonly.test", "", NULL, NULL),
		C("dave", "UsersOnly.Test", 0, RESOLVE_USER, RESOLVE_USER,
		    "dave@usersonly.test", "", "usersonly.test", NULL),
		C("ann", "virtual.test", 0, RESOLVE_UNKNOWN, RESOLVE_UNKNOWN,
		    "ann@virtual.test", "", NULL, NULL),
		/* disabled */
		C("old", "example.test", 0, RESOLVE_DISABLED, RESOLVE_DISABLED,
		    "old@example.test", "", NULL, NULL),
		C("old+x", "example.test", 0, RESOLVE_DISABLED,
		    RESOLVE_DISABLED, "old@example.test", "x", NULL, NULL),
		/* unknown */
		C("nobody", "example.test", 0, RESOLVE_UNKNOWN,
		    RESOLVE_UNKNOWN, "nobody@example.test", "", NULL, NULL),
		C("Nobody+Tag", "example.test", 0, RESOLVE_UNKNOWN,
		    RESOLVE_UNKNOWN, "nobody@example.test", "Tag", NULL, NULL),
		C("eve", "usersonly.test", 0, RESOLVE_UNKNOWN, RESOLVE_UNKNOWN,
		    "eve@usersonly.test", NULL, NULL, NULL),
		/* postmaster */
		C("postmaster", "example.test", 0, RESOLVE_ALIAS, RESOLVE_ALIAS,
		    "postmaster@example.test", "", NULL, "postmaster"),
		C("PostMaster", "virtual.test", 0, RESOLVE_POSTMASTER,
		    RESOLVE_POSTMASTER, "postmaster@virtual.test", "", NULL,
		    NULL),
		C("POSTMASTER", "usersonly.test", 0, RESOLVE_POSTMASTER,
		    RESOLVE_POSTMASTER, "postmaster@usersonly.test", "", NULL,
		    NULL),
		C("postmaster+x", "virtual.test", 0, RESOLVE_POSTMASTER,
		    RESOLVE_POSTMASTER, "postmaster@virtual.test", "x", NULL,
		    NULL),
		C("postmaster", "pmuser.test", 0, RESOLVE_POSTMASTER,
		    RESOLVE_POSTMASTER, "postmaster@pmuser.test", "", NULL,
		    NULL),
		C("Postmaster", NULL, 0, RESOLVE_ALIAS, RESOLVE_ALIAS,
		    "postmaster@mail.example.test", "", "mail.example.test",
		    "postmaster"),
		C("POSTMASTER", "", 0, RESOLVE_ALIAS, RESOLVE_ALIAS, NULL, NULL,
		    "mail.example.test", "postmaster"),
		C("postmaster", "remote.test", 0, RESOLVE_REMOTE,
		    RESOLVE_REMOTE, "postmaster@remote.test", "", NULL, NULL),
		/* aliases */
		C("sales", "example.test", 0, RESOLVE_ALIAS, RESOLVE_ALIAS,
		    "sales@example.test", "", NULL, "sales@example.test"),
		C("Sales+Q3", "Example.Test", 0, RESOLVE_ALIAS, RESOLVE_ALIAS,
		    "sales@example.test", "Q3", NULL, "sales@example.test"),
		C("team", "example.test", 0, RESOLVE_ALIAS, RESOLVE_ALIAS,
		    "team@example.test", "", NULL, "team"),
		C("root", "localhost", 0, RESOLVE_ALIAS, RESOLVE_ALIAS,
		    "root@localhost", "", NULL, "root"),
		C("team", "virtual.test", 0, RESOLVE_UNKNOWN, RESOLVE_UNKNOWN,
		    NULL, NULL, NULL, NULL),
		C("info", "virtual.test", 0, RESOLVE_ALIAS, RESOLVE_ALIAS,
		    "info@virtual.test", "", NULL, "info@virtual.test"),
		C("sales", "virtual.test", 0, RESOLVE_UNKNOWN, RESOLVE_UNKNOWN,
		    NULL, NULL, NULL, NULL),
		/* remote */
		C("bob", "remote.test", 0, RESOLVE_REMOTE, RESOLVE_REMOTE,
		    "bob@remote.test", "", "remote.test", NULL),
		C("Bob+x", "Remote.TEST", 0, RESOLVE_REMOTE, RESOLVE_REMOTE,
		    "Bob+x@remote.test", "", "remote.test", NULL),
		C("ann", "example.test.", 0, RESOLVE_REMOTE, RESOLVE_REMOTE,
		    NULL, NULL, "example.test.", NULL),
		C("ann", "sub.example.test", 0, RESOLVE_REMOTE, RESOLVE_REMOTE,
		    NULL, NULL, "sub.example.test", NULL),
		C("user%other.test", "remote.test", 0, RESOLVE_REMOTE,
		    RESOLVE_REMOTE, NULL, NULL, "remote.test", NULL),
		/* relay tricks */
		C("user%other.test", "example.test", 0, RESOLVE_TRICK,
		    RESOLVE_UNKNOWN, NULL, NULL, "example.test", NULL),
		C("other.test!user", "example.test", 0, RESOLVE_TRICK,
		    RESOLVE_UNKNOWN, NULL, NULL, NULL, NULL),
		C("user@other.test", "example.test", 0, RESOLVE_TRICK,
		    RESOLVE_UNKNOWN, NULL, NULL, NULL, NULL),
		C("user%other.test", "usersonly.test", 0, RESOLVE_TRICK,
		    RESOLVE_UNKNOWN, NULL, NULL, NULL, NULL),
		C("user!x", "virtual.test", 0, RESOLVE_TRICK, RESOLVE_UNKNOWN,
		    NULL, NULL, NULL, NULL),
		C("pct%x", "example.test", 0, RESOLVE_TRICK, RESOLVE_ALIAS,
		    NULL, NULL, NULL, "pct%x"),
		C("ann", "example.test", SR, RESOLVE_TRICK, RESOLVE_USER,
		    "ann@example.test", "", NULL, NULL),
		C("bob", "remote.test", SR, RESOLVE_TRICK, RESOLVE_REMOTE,
		    "bob@remote.test", NULL, "remote.test", NULL),
		C("ann", "[192.0.2.1]", 0, RESOLVE_TRICK, RESOLVE_REMOTE,
		    "ann@[192.0.2.1]", "", "[192.0.2.1]", NULL),
		C("ann", "[IPv6:2001:DB8::1]", 0, RESOLVE_TRICK,
		    RESOLVE_REMOTE, NULL, NULL, "[ipv6:2001:db8::1]", NULL),
		C("postmaster", "[127.0.0.1]", 0, RESOLVE_TRICK,
		    RESOLVE_REMOTE, NULL, NULL, NULL, NULL),
		/* not addresses */
		C("", "example.test", 0, RESOLVE_INVALID, RESOLVE_INVALID,
		    NULL, NULL, NULL, NULL),
		C(NULL, "example.test", 0, RESOLVE_INVALID, RESOLVE_INVALID,
		    NULL, NULL, NULL, NULL),
		C("bob", NULL, 0, RESOLVE_INVALID, RESOLVE_INVALID, NULL, NULL,
		    NULL, NULL),
		C("bob", "", 0, RESOLVE_INVALID, RESOLVE_INVALID, NULL, NULL,
		    NULL, NULL),
		C("a\x01", "example.test", 0, RESOLVE_INVALID, RESOLVE_INVALID,
		    NULL, NULL, NULL, NULL),
		C("a", "exa\rmple.test", 0, RESOLVE_INVALID, RESOLVE_INVALID,
		    NULL, NULL, NULL, NULL),
		C(long_local, "example.test", 0, RESOLVE_INVALID,
		    RESOLVE_INVALID, NULL, NULL, NULL, NULL),
		C(long_local + 1, "example.test", 0, RESOLVE_UNKNOWN,
		    RESOLVE_UNKNOWN, NULL, NULL, NULL, NULL),
	};
	/* clang-format on */
	struct resolver *r = resolver("+", users);

	run_cases(r, cases, FCT_NELEM(cases));
	resolve_free(&r);
	assert_null(r);
	resolve_free(&r);
}

static void
test_delimiters(void **state)
{
	/* clang-format off */
	static const struct rcase multi[] = {
		C("ann-news", "example.test", 0, RESOLVE_USER, RESOLVE_USER,
		    "ann@example.test", "news", NULL, NULL),
		C("ann+x-y", "example.test", 0, RESOLVE_USER, RESOLVE_USER,
		    "ann@example.test", "x-y", NULL, NULL),
		C("ann-x+y", "example.test", 0, RESOLVE_USER, RESOLVE_USER,
		    "ann@example.test", "x+y", NULL, NULL),
		C("a+b", "example.test", 0, RESOLVE_USER, RESOLVE_USER,
		    "a+b@example.test", "", NULL, NULL),
		/* Postfix never splits owner-* or *-request with '-'. */
		C("owner-ann", "example.test", 0, RESOLVE_UNKNOWN,
		    RESOLVE_UNKNOWN, "owner-ann@example.test", "", NULL, NULL),
		C("ann-request", "example.test", 0, RESOLVE_UNKNOWN,
		    RESOLVE_UNKNOWN, "ann-request@example.test", "", NULL,
		    NULL),
		C("ann+request", "example.test", 0, RESOLVE_USER, RESOLVE_USER,
		    "ann@example.test", "request", NULL, NULL),
		C("mailer-daemon", "example.test", 0, RESOLVE_UNKNOWN,
		    RESOLVE_UNKNOWN, "mailer-daemon@example.test", "", NULL,
		    NULL),
		C("-x", "example.test", 0, RESOLVE_UNKNOWN, RESOLVE_UNKNOWN,
		    "-x@example.test", "", NULL, NULL),
	};
	static const struct rcase none[] = {
		C("ann+x", "example.test", 0, RESOLVE_UNKNOWN, RESOLVE_UNKNOWN,
		    "ann+x@example.test", "", NULL, NULL),
		C("a+b", "example.test", 0, RESOLVE_USER, RESOLVE_USER,
		    "a+b@example.test", "", NULL, NULL),
	};
	/* With '+' alone, owner-ann splits at nothing ('-' is no delim). */
	static const struct rcase plus[] = {
		C("owner-ann+x", "example.test", 0, RESOLVE_UNKNOWN,
		    RESOLVE_UNKNOWN, "owner-ann@example.test", "x", NULL,
		    NULL),
	};
	/* clang-format on */
	struct resolver *r = resolver("+-", users);

	run_cases(r, multi, FCT_NELEM(multi));
	resolve_free(&r);
	r = resolver("", users);
	run_cases(r, none, FCT_NELEM(none));
	resolve_free(&r);
	r = resolver("+", users);
	run_cases(r, plus, FCT_NELEM(plus));
	resolve_free(&r);
}

static void
test_domains(void **state)
{
	struct resolver *r = resolver("+", users);
	struct str *why = str_new(1024);

	assert_int_equal(
	    resolve_domain(r, "example.test", why), RESOLVE_DOM_MYDEST);
	assert_int_equal(
	    resolve_domain(r, "LOCALHOST", why), RESOLVE_DOM_MYDEST);
	assert_int_equal(
	    resolve_domain(r, "Virtual.Test", why), RESOLVE_DOM_VIRTUAL);
	assert_int_equal(
	    resolve_domain(r, "usersonly.test", why), RESOLVE_DOM_USERS);
	assert_int_equal(
	    resolve_domain(r, "remote.test", why), RESOLVE_DOM_REMOTE);
	assert_int_equal(
	    resolve_domain(r, "example.test.", why), RESOLVE_DOM_REMOTE);
	assert_int_equal(resolve_domain(r, "", why), RESOLVE_DOM_REMOTE);
	assert_int_equal(str_len(why), 0);
	resolve_free(&r);

	/* No tables at all: only the parameters count. */
	r = resolve_new(
	    &(struct params){.mydestination = "a.test"}, NULL, NULL);
	struct resolve_result res = {0};
	assert_int_equal(
	    resolve_rcpt(r, "x", "a.test", 0, &res, why), RESOLVE_UNKNOWN);
	assert_int_equal(resolve_rcpt(r, "postmaster", "a.test", 0, &res, why),
	    RESOLVE_POSTMASTER);
	assert_int_equal(resolve_rcpt(r, "x", "usersonly.test", 0, &res, why),
	    RESOLVE_REMOTE);
	/* No myhostname: a bare postmaster has nowhere to go. */
	assert_int_equal(
	    resolve_rcpt(r, "postmaster", NULL, 0, &res, why), RESOLVE_INVALID);
	resolve_result_clear(&res);
	resolve_free(&r);
	str_free(&why);
}

static void
test_temp_failures(void **state)
{
	struct resolver *r = resolver("+", broken_users);
	struct resolve_result res = {0};
	struct str *why = str_new(4096);

	assert_int_equal(
	    resolve_rcpt(r, "broken", "example.test", 0, &res, why),
	    RESOLVE_TEMP);
	assert_non_null(strstr(str_c(why), "corrupt users table"));
	assert_int_equal(res.plain, RESOLVE_TEMP);
	/* A trick stays a trick (554 for strangers); .plain says TEMP. */
	str_clear(why);
	assert_int_equal(
	    resolve_rcpt(r, "broken", "example.test", SR, &res, why),
	    RESOLVE_TRICK);
	assert_int_equal(res.plain, RESOLVE_TEMP);
	/* Other keys still resolve. */
	str_clear(why);
	assert_int_equal(resolve_rcpt(r, "ann", "example.test", 0, &res, why),
	    RESOLVE_UNKNOWN);
	assert_int_equal(resolve_rcpt(r, "sales", "example.test", 0, &res, why),
	    RESOLVE_ALIAS);
	resolve_result_clear(&res);
	resolve_free(&r);
	str_free(&why);
}

static void
test_alias_targets_one_level(void **state)
{
	struct resolver *r = resolver("+", users);
	struct resolve_targets t = {0};
	struct str *why = str_new(1024);

	assert_int_equal(
	    resolve_alias_targets(r, "sales@example.test", &t, why), MAP_FOUND);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.v[0], "ann");
	assert_string_equal(t.v[1], "bob");
	assert_int_equal(resolve_alias_targets(r, "TEAM", &t, why), MAP_FOUND);
	assert_int_equal(t.n, 4);
	assert_string_equal(t.v[2], "carol@virtual.test");
	assert_string_equal(t.v[3], "ann");
	assert_int_equal(
	    resolve_alias_targets(r, "nothing", &t, why), MAP_NOTFOUND);
	assert_int_equal(t.n, 4);
	resolve_targets_clear(&t);
	assert_int_equal(t.n, 0);
	assert_null(t.v);
	resolve_free(&r);
	str_free(&why);
}

/* Expand local@domain; want is "class:mailbox[+tag] ..." in order. */
static enum status
expand(
    struct resolver *r, const char *local, const char *domain, const char *want)
{
	struct resolve_result res = {0};
	struct resolve_expansion x = {0};
	struct str *why = str_new(4096), *got = str_new(4096);
	enum resolve_class c;
	enum status st;

	c = resolve_rcpt(r, local, domain, 0, &res, why);
	if (c != RESOLVE_ALIAS && res.plain != RESOLVE_ALIAS)
		fail_msg("%s@%s is no alias (%s)", local, domain,
		    resolve_class_name(c));
	st = resolve_expand(r, &res, &x, why);
	for (size_t i = 0; i < x.n; i++)
		str_notef(got, "%s%s:%s%s%s", i ? " " : "",
		    resolve_class_name(x.v[i].class), x.v[i].mailbox,
		    x.v[i].tag[0] ? "+" : "", x.v[i].tag);
	if (st == STATUS_OK && strcmp(str_c(got), want) != 0)
		fail_msg("%s@%s: want \"%s\", got \"%s\"", local, domain, want,
		    str_c(got));
	if (st != STATUS_OK) {
		if (strstr(str_c(why), want) == NULL)
			fail_msg("%s@%s: want \"%s\" in \"%s\"", local, domain,
			    want, str_c(why));
		assert_int_equal(x.n, 0);
	}
	resolve_expansion_clear(&x);
	resolve_result_clear(&res);
	str_free(&why);
	str_free(&got);
	return st;
}

static void
test_alias_expand(void **state)
{
	struct resolver *r = resolver("+", users);

	assert_int_equal(expand(r, "sales", "example.test",
	                     "user:ann@example.test user:bob@example.test"),
	    STATUS_OK);
	assert_int_equal(expand(r, "Team", "example.test",
	                     "user:carol@virtual.test user:ann@example.test"),
	    STATUS_OK);
	assert_int_equal(
	    expand(r, "postmaster", "example.test", "user:ann@example.test"),
	    STATUS_OK);
	assert_int_equal(
	    expand(r, "postmaster", NULL, "user:ann@example.test"), STATUS_OK);
	assert_int_equal(
	    expand(r, "info", "virtual.test", "user:dave@usersonly.test"),
	    STATUS_OK);
	/* A bare target is qualified with $myorigin, as Postfix does. */
	assert_int_equal(expand(r, "bare", "virtual.test",
	                     "user:ann@example.test "
	                     "unknown:carol@example.test"),
	    STATUS_OK);
	/* Duplicates once; a tag makes a different recipient. */
	assert_int_equal(expand(r, "ann2", "example.test",
	                     "user:ann@example.test user:ann@example.test+x"),
	    STATUS_OK);
	/* Remote targets stay as written, domain folded. */
	assert_int_equal(expand(r, "fwd", "example.test",
	                     "remote:Someone@remote.test "
	                     "user:bob@example.test"),
	    STATUS_OK);
	assert_int_equal(
	    expand(r, "lit", "example.test", "remote:x@[192.0.2.1]"),
	    STATUS_OK);
	/* Nested aliases, and the same user reached twice. */
	assert_int_equal(expand(r, "twice", "example.test",
	                     "user:ann@example.test user:bob@example.test "
	                     "user:carol@virtual.test"),
	    STATUS_OK);
	/* Loops end at the mailbox of the name that loops. */
	assert_int_equal(
	    expand(r, "loop1", "example.test", "unknown:loop1@example.test"),
	    STATUS_OK);
	assert_int_equal(expand(r, "self", "example.test",
	                     "unknown:self@example.test "
	                     "user:bob@example.test"),
	    STATUS_OK);
	/* Depth: a short chain is fine, a long one is refused. */
	assert_int_equal(
	    expand(r, "ok0", "example.test", "user:bob@example.test"),
	    STATUS_OK);
	assert_int_equal(
	    expand(r, "deep0", "example.test", "nested deeper than 16"),
	    STATUS_PERM);
	/* An alias that is a trick for a client is still expandable. */
	assert_int_equal(
	    expand(r, "pct%x", "example.test", "user:ann@example.test"),
	    STATUS_OK);
	resolve_free(&r);
}

static void
test_alias_expand_temp(void **state)
{
	struct resolver *r = resolver("+", broken_users);
	struct resolve_result res = {0};
	struct resolve_expansion x = {0};
	struct str *why = str_new(4096);

	/* tb -> bob, broken: the users lookup of broken fails. */
	assert_int_equal(
	    resolve_rcpt(r, "tb", "example.test", 0, &res, why), RESOLVE_ALIAS);
	assert_int_equal(resolve_expand(r, &res, &x, why), STATUS_TEMP);
	assert_int_equal(x.n, 0);
	assert_null(x.v);
	assert_non_null(strstr(str_c(why), "corrupt users table"));
	resolve_expansion_clear(&x);
	resolve_result_clear(&res);
	resolve_free(&r);
	str_free(&why);
}

int
main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_delimiters),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_temp_failures),
		cmocka_unit_test(test_alias_targets_one_level),
		cmocka_unit_test(test_alias_expand),
		cmocka_unit_test(test_alias_expand_temp),
	};
	/* clang-format on */

	return cmocka_run_group_tests(tests, setup, teardown);
}
