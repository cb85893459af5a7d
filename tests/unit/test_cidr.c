/*
 * test_cidr - lib/cidr: mynetworks parsing and matching, IPv4-mapped
 * IPv6 clients matching IPv4 entries, and refused typos.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "lib/cidr.h"

struct mcase {
	const char *addr;
	bool want;
};

static void
test_match(void **state)
{
	static const struct mcase cases[] = {
		{ "127.0.0.1", true },
		{ "127.255.255.255", true },
		{ "128.0.0.1", false },
		{ "::1", true },
		{ "::2", false },
		{ "::ffff:127.0.0.1", true },
		{ "::ffff:10.0.0.1", false },
		{ "192.0.2.7", true },
		{ "192.0.2.8", false },
		{ "2001:db8:1::5", true },
		{ "2001:db9::5", false },
		{ "not an address", false },
	};
	struct cidr_list *l = NULL;
	struct str *why = str_new(256);

	assert_int_equal(cidr_list_parse("127.0.0.0/8 [::1]/128, 192.0.2.7 "
					 "2001:db8::/32",
			     &l, why),
	    0);
	for (size_t i = 0; i < FCT_NELEM(cases); i++)
		if (cidr_list_match_text(l, cases[i].addr) != cases[i].want)
			fail_msg("%s", cases[i].addr);
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "::ffff:127.0.0.2", &s6.sin6_addr);
	assert_true(cidr_list_match(l, (struct sockaddr *)&s6));
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	inet_pton(AF_INET, "10.0.0.1", &s4.sin_addr);
	assert_false(cidr_list_match(l, (struct sockaddr *)&s4));
	cidr_list_free(&l);
	/* An empty list matches nothing. */
	assert_int_equal(cidr_list_parse("", &l, why), 0);
	assert_false(cidr_list_match_text(l, "127.0.0.1"));
	cidr_list_free(&l);
	str_free(&why);
}

static void
test_refused(void **state)
{
	static const char *bad[] = { "10.1.2.3/8", "10.0.0.0/33", "[::1]/129",
		"10.0.0.0/", "10.0.0.0/-1", "[10.0.0.1]", "example.org",
		"::1/x" };
	struct cidr_list *l = NULL;
	struct str *why = str_new(256);

	for (size_t i = 0; i < FCT_NELEM(bad); i++) {
		str_clear(why);
		if (cidr_list_parse(bad[i], &l, why) != -1)
			fail_msg("accepted %s", bad[i]);
		assert_null(l);
		assert_true(str_len(why) > 0);
	}
	str_free(&why);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
