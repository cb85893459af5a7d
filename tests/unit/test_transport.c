/*
 * test_transport - lib/transport: recipient -> (transport, next hop)
 * over real users and transport tables built under /var/tmp: local
 * domains (mydestination, virtual_mailbox_domains, the users table's
 * domains), remote domains with and without relayhost, address
 * literals, transport_maps in transport(5) lookup order (address,
 * address without extension, domain, parent domains, "*"), partial
 * values, bad values and failed lookups.
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
#include "lib/transport.h"

static char tmpdir[] = "/var/tmp/facteur-test-transport.XXXXXX";
static struct map *users, *broken_users;
static struct map_list *tmaps, *bad_tmaps;

static const char users_text[] = "ann@example.test\n"
				 "carol@usersonly.test\n";

static const char transport_text[] =
    "special@example.test    smtp:[192.0.2.7]:2525\n"
    "plus@remote.test        local:\n"
    "routed.test             smtp:[mx.routed.test]\n"
    ".sub.parent.test        relay2:\n"
    "hop.test                :[10.0.0.1]\n"
    "lmtp.test               lmtp:unix-node-2\n"
    "*                       fallback:[smart.example]:587\n";

static const char bad_text[] = "bad.test   bad/name:x\n"
			       "blank.test :\n"
			       "space.test smtp:a b\n";

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
	if ((ref = test_build_table(tmpdir, "transport", transport_text, MAP_FORMAT_TABLE)) ==
		NULL ||
	    (tmaps = map_list_open(ref, why)) == NULL)
		return -1;
	if ((ref = test_build_table(tmpdir, "bad", bad_text, MAP_FORMAT_TABLE)) == NULL ||
	    (bad_tmaps = map_list_open(ref, why)) == NULL)
		return -1;
	if ((ref = test_build_table(tmpdir, "broken", "broken@example.test nonsense\n"
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
	map_list_close(&tmaps);
	map_list_close(&bad_tmaps);
	return test_rm_rf(tmpdir);
}

struct fixture {
	struct params p;
	struct resolver *r;
	struct transport *t;
};

static void
make(struct fixture *f, const char *relayhost, struct map *u,
    struct map_list *maps)
{
	memset(f, 0, sizeof(*f));
	f->p.mydestination = "mail.example.test, localhost";
	f->p.virtual_mailbox_domains = "Example.TEST";
	f->p.recipient_delimiter = "+";
	f->p.myhostname = "Mail.Example.Test";
	f->p.myorigin = "mail.example.test";
	f->p.relayhost = (char *)relayhost;
	f->r = resolve_new(&f->p, u, NULL);
	f->t = transport_new(&f->p, f->r, maps);
}

static void
unmake(struct fixture *f)
{
	transport_free(&f->t);
	resolve_free(&f->r);
}

struct tcase {
	const char *addr;
	enum status want;
	const char *transport; /* when STATUS_OK */
	const char *nexthop;
	bool local;
};

static void
run(struct fixture *f, const struct tcase *cases, size_t n)
{
	struct transport_route rt = { 0 };
	struct str *why = str_new(4096);

	for (size_t i = 0; i < n; i++) {
		const struct tcase *c = &cases[i];
		enum status st;

		str_clear(why);
		st = transport_lookup(f->t, c->addr, &rt, why);
		if (st != c->want)
			fail_msg("<%s>: want status %d, got %d (%s)", c->addr,
			    c->want, st, str_c(why));
		if (st != STATUS_OK) {
			assert_null(rt.transport);
			assert_true(str_len(why) > 0);
			continue;
		}
		if (strcmp(rt.transport, c->transport) != 0 ||
		    strcmp(rt.nexthop, c->nexthop) != 0 || rt.local != c->local)
			fail_msg("<%s>: want %s:%s%s, got %s:%s%s", c->addr,
			    c->transport, c->nexthop, c->local ? " (local)" : "",
			    rt.transport, rt.nexthop,
			    rt.local ? " (local)" : "");
	}
	transport_route_clear(&rt);
	str_free(&why);
}

static void
test_default_routes(void **state)
{
	static const struct tcase cases[] = {
		/* our domains, any case */
		{ "ann@example.test", STATUS_OK, "local", "example.test", true },
		{ "Ann@EXAMPLE.Test", STATUS_OK, "local", "example.test", true },
		{ "nobody@example.test", STATUS_OK, "local", "example.test",
		    true },
		{ "x@mail.example.test", STATUS_OK, "local",
		    "mail.example.test", true },
		{ "x@localhost", STATUS_OK, "local", "localhost", true },
		{ "carol@usersonly.test", STATUS_OK, "local", "usersonly.test",
		    true },
		/* no domain: postmaster of $myhostname */
		{ "postmaster", STATUS_OK, "local", "mail.example.test", true },
		/* others go out, to their domain */
		{ "bob@remote.test", STATUS_OK, "smtp", "remote.test", false },
		{ "bob@Remote.TEST", STATUS_OK, "smtp", "remote.test", false },
		{ "bob@example.test.", STATUS_OK, "smtp", "example.test.",
		    false },
		{ "bob@sub.example.test", STATUS_OK, "smtp",
		    "sub.example.test", false },
		{ "x@[192.0.2.1]", STATUS_OK, "smtp", "[192.0.2.1]", false },
		{ "\"a b\"@remote.test", STATUS_OK, "smtp", "remote.test",
		    false },
		/* unroutable */
		{ "", STATUS_PERM, NULL, NULL, false },
		{ "bob@", STATUS_PERM, NULL, NULL, false },
		{ "bo\nb@remote.test", STATUS_PERM, NULL, NULL, false },
		{ "bo\rb@remote.test", STATUS_PERM, NULL, NULL, false },
	};
	struct fixture f;

	make(&f, "", users, NULL);
	run(&f, cases, sizeof(cases) / sizeof(cases[0]));
	unmake(&f);
}

static void
test_relayhost(void **state)
{
	static const struct tcase cases[] = {
		{ "ann@example.test", STATUS_OK, "local", "example.test", true },
		{ "bob@remote.test", STATUS_OK, "smtp", "[relay.example]:587",
		    false },
		{ "x@[192.0.2.1]", STATUS_OK, "smtp", "[relay.example]:587",
		    false },
	};
	struct fixture f;

	make(&f, "[relay.example]:587", users, NULL);
	run(&f, cases, sizeof(cases) / sizeof(cases[0]));
	unmake(&f);
}

static void
test_transport_maps(void **state)
{
	static const struct tcase cases[] = {
		/* the full address first */
		{ "special@example.test", STATUS_OK, "smtp", "[192.0.2.7]:2525",
		    true },
		/* the address without its extension */
		{ "plus+tag@remote.test", STATUS_OK, "local", "remote.test",
		    false },
		{ "plus@remote.test", STATUS_OK, "local", "remote.test", false },
		/* the domain; case does not matter */
		{ "a@routed.test", STATUS_OK, "smtp", "[mx.routed.test]",
		    false },
		{ "a@ROUTED.test", STATUS_OK, "smtp", "[mx.routed.test]",
		    false },
		/* a parent ".domain" matches subdomains only */
		{ "a@x.sub.parent.test", STATUS_OK, "relay2",
		    "x.sub.parent.test", false },
		{ "a@y.x.sub.parent.test", STATUS_OK, "relay2",
		    "y.x.sub.parent.test", false },
		{ "a@sub.parent.test", STATUS_OK, "fallback",
		    "[smart.example]:587", false },
		/* an empty transport keeps the default one */
		{ "a@hop.test", STATUS_OK, "smtp", "[10.0.0.1]", false },
		{ "a@lmtp.test", STATUS_OK, "lmtp", "unix-node-2", false },
		/* "*" catches the rest, ours included (transport(5)) */
		{ "a@remote.test", STATUS_OK, "fallback", "[smart.example]:587",
		    false },
		{ "ann@example.test", STATUS_OK, "fallback",
		    "[smart.example]:587", true },
	};
	struct fixture f;

	make(&f, "", users, tmaps);
	run(&f, cases, sizeof(cases) / sizeof(cases[0]));
	unmake(&f);
}

/* A table's next hop beats relayhost; an empty one keeps relayhost. */
static void
test_maps_and_relayhost(void **state)
{
	static const struct tcase cases[] = {
		{ "a@routed.test", STATUS_OK, "smtp", "[mx.routed.test]",
		    false },
		{ "a@x.sub.parent.test", STATUS_OK, "relay2",
		    "[relay.example]", false },
		{ "ann@example.test", STATUS_OK, "fallback",
		    "[smart.example]:587", true },
	};
	struct fixture f;

	make(&f, "[relay.example]", users, tmaps);
	run(&f, cases, sizeof(cases) / sizeof(cases[0]));
	unmake(&f);
}

static void
test_bad_values(void **state)
{
	static const struct tcase cases[] = {
		/* a transport name must stay one path component */
		{ "a@bad.test", STATUS_TEMP, NULL, NULL, false },
		{ "a@blank.test", STATUS_TEMP, NULL, NULL, false },
		{ "a@space.test", STATUS_TEMP, NULL, NULL, false },
		/* not in the table: defaults */
		{ "a@other.test", STATUS_OK, "smtp", "other.test", false },
	};
	struct fixture f;

	make(&f, "", users, bad_tmaps);
	run(&f, cases, sizeof(cases) / sizeof(cases[0]));
	unmake(&f);
}

/*
 * A domain is ours as soon as the users table has its "@domain" key,
 * whatever the value; listed domains need no lookup at all.
 */
static void
test_users_domains(void **state)
{
	static const struct tcase cases[] = {
		{ "a@broken.test", STATUS_OK, "local", "broken.test", true },
		{ "a@example.test", STATUS_OK, "local", "example.test", true },
		{ "a@usersonly.test", STATUS_OK, "smtp", "usersonly.test",
		    false },
	};
	struct fixture f;

	make(&f, "", broken_users, NULL);
	run(&f, cases, sizeof(cases) / sizeof(cases[0]));
	unmake(&f);
}

static void
test_value_apply(void **state)
{
	static const struct {
		const char *value;
		int rc;
		const char *transport, *nexthop;
	} cases[] = {
		{ "smtp:[mx]:25", 0, "smtp", "[mx]:25" },
		{ "lmtp", 0, "lmtp", "dflt.test" },
		{ "lmtp:", 0, "lmtp", "dflt.test" },
		{ ":hop", 0, "dflt", "hop" },
		{ " relay : [x] ", 0, "relay", "[x]" },
		{ ":", -1, NULL, NULL },
		{ "", -1, NULL, NULL },
		{ "a/b:x", -1, NULL, NULL },
		{ "..:x", -1, NULL, NULL },
		{ "a:b c", -1, NULL, NULL },
		{ "a:b\x01", -1, NULL, NULL },
		{ "a:\xc3\xa9", -1, NULL, NULL },
		{ "a123456789012345678901234567890123456789012345678901234567"
		  "890123456:x",
		    -1, NULL, NULL }, /* 65 bytes: one past the limit */
		{ "a12345678901234567890123456789012345678901234567890123456"
		  "7890123:x",
		    0, "a123456789012345678901234567890123456789012345678901234"
		       "567890123", "x" }, /* 64 bytes: the limit */
	};
	struct str *why = str_new(1024);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct transport_route rt = { x_strdup("dflt"),
			x_strdup("dflt.test"), false };
		int rc = transport_value_apply(cases[i].value, &rt, why);
		if (rc != cases[i].rc)
			fail_msg("\"%s\": want %d, got %d", cases[i].value,
			    cases[i].rc, rc);
		if (rc == 0) {
			assert_string_equal(rt.transport, cases[i].transport);
			assert_string_equal(rt.nexthop, cases[i].nexthop);
		} else {
			/* unchanged on failure */
			assert_string_equal(rt.transport, "dflt");
			assert_string_equal(rt.nexthop, "dflt.test");
		}
		transport_route_clear(&rt);
	}
	assert_false(transport_name_check("", 0));
	assert_true(transport_name_check("local", 5));
	assert_false(transport_name_check("lo.cal", 6));
	str_free(&why);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_routes),
		cmocka_unit_test(test_relayhost),
		cmocka_unit_test(test_transport_maps),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_users_domains),
		cmocka_unit_test(test_maps_and_relayhost),
		cmocka_unit_test(test_value_apply),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
