/*
 * test_config - lib/config (main.cf), lib/params (the table, typed
 * values, bounds, expansion) and lib/mastercf (master.cf): good input,
 * every kind of bad input with its FILE:LINE, and the limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/config.h"
#include "lib/diag.h"
#include "lib/mastercf.h"
#include "lib/params.h"

static unsigned
parse(struct config *cfg, const char *text, struct diag *d)
{
	return config_parse(cfg, "main.cf", (const uint8_t *)text,
	    strlen(text), d);
}

struct sorted_state {
	char last[128];
	int bad;
};

static void
check_sorted(const char *name, void *arg)
{
	struct sorted_state *st = arg;

	if (strcmp(st->last, name) >= 0)
		st->bad++;
	snprintf(st->last, sizeof(st->last), "%s", name);
}

static void
test_table_sorted(void **state)
{
	/* param_known() relies on a binary search. */
	struct sorted_state st = { "", 0 };

	params_foreach(check_sorted, &st);
	assert_int_equal(st.bad, 0);
	assert_true(param_known("myhostname"));
	assert_false(param_known("myhostnam"));
}

struct good_case {
	const char *name;
	const char *text;
	const char *param;
	const char *want_raw;
};

static const struct good_case good[] = {
	{ "simple", "myhostname = mx.example.org\n", "myhostname",
	    "mx.example.org" },
	{ "no spaces", "myhostname=mx\n", "myhostname", "mx" },
	{ "trailing blanks", "myhostname = mx   \t\n", "myhostname", "mx" },
	{ "continuation", "mydestination = a,\n  b,\n\tc\n", "mydestination",
	    "a, b, c" },
	{ "comment inside continuation",
	    "mydestination = a,\n# note\n  b\n", "mydestination", "a, b" },
	{ "crlf", "myhostname = mx\r\n", "myhostname", "mx" },
	{ "no final newline", "myhostname = mx", "myhostname", "mx" },
	{ "empty value", "relayhost =\n", "relayhost", "" },
	{ "later wins", "myhostname = a\nmyhostname = b\n", "myhostname",
	    "b" },
	{ "8-bit kept", "smtpd_banner = \xc3\xa9t\xc3\xa9\n", "smtpd_banner",
	    "\xc3\xa9t\xc3\xa9" },
};

static void
test_good(void **state)
{
	for (size_t i = 0; i < FCT_NELEM(good); i++) {
		struct config *cfg = config_new("/etc/facteur");
		struct diag *d = diag_new();
		unsigned e = parse(cfg, good[i].text, d);
		if (e != 0)
			fail_msg("%s: %s", good[i].name, diag_text(d));
		const char *v = config_raw(cfg, good[i].param);
		assert_non_null(v);
		if (strcmp(v, good[i].want_raw) != 0)
			fail_msg("%s: got \"%s\"", good[i].name, v);
		diag_free(&d);
		config_free(&cfg);
	}
}

struct bad_case {
	const char *name;
	const char *text;
	const char *want; /* substring of the diagnostics */
};

static const struct bad_case bad[] = {
	{ "no equals", "myhostname mx\n", "main.cf:1: error: bad syntax" },
	{ "no name", "= mx\n", "main.cf:1: error: bad syntax" },
	{ "bad name", "my-hostname = x\n", "main.cf:1: error: bad syntax" },
	{ "orphan continuation", "  b\n", "main.cf:1: error: continuation" },
	{ "nul", "myhostname = a\0b\n", "main.cf:1: error: NUL" },
	{ "control", "myhostname = a\x01" "b\n", "main.cf:1: error: control" },
	{ "second line", "myhostname = a\nbroken\n", "main.cf:2: error" },
};

static void
test_bad(void **state)
{
	for (size_t i = 0; i < FCT_NELEM(bad); i++) {
		struct config *cfg = config_new("/etc/facteur");
		struct diag *d = diag_new();
		size_t len = strlen(bad[i].text);
		if (strcmp(bad[i].name, "nul") == 0)
			len = 17;
		unsigned e = config_parse(cfg, "main.cf",
		    (const uint8_t *)bad[i].text, len, d);
		if (e == 0 || strstr(diag_text(d), bad[i].want) == NULL)
			fail_msg("%s: errors %u: %s", bad[i].name, e,
			    diag_text(d));
		diag_free(&d);
		config_free(&cfg);
	}
}

static void
test_unknown_is_warning(void **state)
{
	struct config *cfg = config_new("/etc/facteur");
	struct diag *d = diag_new();

	assert_int_equal(parse(cfg, "no_such_thing = 1\n", d), 0);
	assert_int_equal(diag_warnings(d), 1);
	assert_non_null(strstr(diag_text(d),
	    "main.cf:1: warning: unknown parameter no_such_thing"));
	diag_free(&d);
	config_free(&cfg);
}

static void
test_line_limit(void **state)
{
	for (int delta = -1; delta <= 1; delta++) {
		size_t n = CONFIG_LINE_MAX + (size_t)delta;
		char *text = malloc(n + 2);
		struct config *cfg = config_new("/");
		struct diag *d = diag_new();
		/* "relayhost = xxxx...": n bytes in all */
		memcpy(text, "relayhost = ", 12);
		memset(text + 12, 'x', n - 12);
		text[n] = '\n';
		text[n + 1] = '\0';
		unsigned e = parse(cfg, text, d);
		if (delta <= 0)
			assert_int_equal(e, 0);
		else
			assert_non_null(strstr(diag_text(d), "longer than"));
		diag_free(&d);
		config_free(&cfg);
		free(text);
	}
}

static void
test_expand(void **state)
{
	struct config *cfg = config_new("/cfg");
	struct diag *d = diag_new();
	struct str *out = str_new(CONFIG_VALUE_MAX);

	assert_int_equal(parse(cfg,
			     "myhostname = mx.example.org\n"
			     "a = $myhostname/${myhostname}\n"
			     "b = cost $$5 at $config_directory\n"
			     "loop1 = $loop2\nloop2 = $loop1\n"
			     "undef = $nothing_here\n"
			     "badexpr = ${myhostname\n",
			     d),
	    0);
	assert_int_equal(config_expand_name(cfg, "a", out, d), 0);
	assert_string_equal(str_c(out), "mx.example.org/mx.example.org");
	str_clear(out);
	assert_int_equal(config_expand_name(cfg, "b", out, d), 0);
	assert_string_equal(str_c(out), "cost $5 at /cfg");
	/* Defaults expand too: mydomain comes from myhostname. */
	str_clear(out);
	assert_int_equal(config_expand_name(cfg, "mydomain", out, d), 0);
	assert_string_equal(str_c(out), "example.org");
	str_clear(out);
	assert_int_equal(config_expand_name(cfg, "mydestination", out, d), 0);
	assert_string_equal(str_c(out),
	    "mx.example.org, localhost.example.org, localhost");
	struct diag *d2 = diag_new();
	str_clear(out);
	assert_int_equal(config_expand_name(cfg, "loop1", out, d2), -1);
	assert_non_null(strstr(diag_text(d2), "main.cf:4"));
	str_clear(out);
	assert_int_equal(config_expand_name(cfg, "undef", out, d2), -1);
	assert_non_null(strstr(diag_text(d2), "undefined parameter $nothing"));
	str_clear(out);
	assert_int_equal(config_expand_name(cfg, "badexpr", out, d2), -1);
	assert_non_null(strstr(diag_text(d2), "bad $ expression"));
	diag_free(&d2);
	str_free(&out);
	diag_free(&d);
	config_free(&cfg);
}

struct value_case {
	const char *text;
	bool ok;
	const char *why;
};

static const struct value_case values[] = {
	{ "message_size_limit = 20m", true, NULL },
	{ "message_size_limit = 1023", false, "out of range" },
	{ "message_size_limit = 1024", true, NULL },
	{ "message_size_limit = 10x", false, "want a size" },
	{ "message_size_limit = -5", false, "want a size" },
	{ "message_size_limit = 99999999999999999999999", false, "want a size" },
	{ "smtpd_timeout = 0", false, "out of range" },
	{ "smtpd_timeout = 1s", true, NULL },
	{ "smtpd_timeout = 5m", true, NULL },
	{ "smtpd_timeout = 2d", false, "out of range" },
	{ "smtpd_timeout = 1y", false, "want a time" },
	{ "disable_vrfy_command = maybe", false, "want yes or no" },
	{ "disable_vrfy_command = NO", true, NULL },
	{ "smtpd_forbid_bare_newline = reject", true, NULL },
	{ "smtpd_forbid_bare_newline = yes", false, "want one of" },
	{ "mynetworks = 10.0.0.0/8, [2001:db8::]/32 192.0.2.1", true, NULL },
	{ "mynetworks = 10.1.2.3/8", false, "non-network bits" },
	{ "mynetworks = 10.0.0.0/33", false, "prefix length" },
	{ "mynetworks = example.org", false, "bad network address" },
	{ "mail_owner = -rf", false, "not a user name" },
	{ "queue_directory = relative/path", false, "absolute" },
	{ "queue_directory = /a/../b", false, ".." },
	{ "inet_protocols = ipv5", false, "want all" },
	{ "recipient_delimiter = @", false, "delimiter" },
	{ "smtpd_recipient_limit = 0", false, "out of range" },
};

static void
test_values(void **state)
{
	for (size_t i = 0; i < FCT_NELEM(values); i++) {
		struct config *cfg = config_new("/etc/facteur");
		struct diag *d = diag_new();
		struct params p = { 0 };
		char text[256];

		snprintf(text, sizeof(text), "%s\n", values[i].text);
		assert_int_equal(parse(cfg, text, d), 0);
		unsigned e = params_load(&p, cfg, d);
		if (values[i].ok && e != 0)
			fail_msg("%s: %s", values[i].text, diag_text(d));
		if (!values[i].ok &&
		    (e == 0 || strstr(diag_text(d), values[i].why) == NULL ||
			strstr(diag_text(d), "main.cf:1: error") == NULL))
			fail_msg("%s: %s", values[i].text, diag_text(d));
		params_free(&p);
		diag_free(&d);
		config_free(&cfg);
	}
}

static void
test_defaults_load(void **state)
{
	struct config *cfg = config_new("/etc/facteur");
	struct diag *d = diag_new();
	struct params p = { 0 };

	assert_int_equal(params_load(&p, cfg, d), 0);
	assert_int_equal(p.message_size_limit, 10240000);
	assert_string_equal(p.alias_maps, "lmdb:/etc/facteur/aliases");
	assert_string_equal(p.service_user, "facteur");
	assert_true(p.disable_vrfy_command);
	params_free(&p);
	diag_free(&d);
	config_free(&cfg);
}

static void
test_override(void **state)
{
	struct config *cfg = config_new("/etc/facteur");
	struct diag *d = diag_new();
	struct params p = { 0 };

	assert_int_equal(parse(cfg, "smtpd_timeout = 10s\n", d), 0);
	assert_int_equal(config_override(cfg, "smtpd_timeout=20s",
			     "master.cf", 7, d),
	    0);
	assert_int_equal(config_override(cfg, "no_equals", "master.cf", 8, d),
	    -1);
	assert_non_null(strstr(diag_text(d), "master.cf:8: error"));
	assert_int_equal(params_load(&p, cfg, d), 0);
	assert_int_equal(p.smtpd_timeout, 20);
	params_free(&p);
	diag_free(&d);
	config_free(&cfg);
}

static void
test_mastercf(void **state)
{
	const char *text =
	    "# comment\n"
	    "127.0.0.1:2525 inet n - n - 4 smtpd\n"
	    "  -o smtpd_timeout=5s -v extra\n"
	    "\n"
	    "showq unix n - n - - showq\n"
	    "qmgr unix-dgram n - n 300 1 qmgr\n";
	struct mastercf mcf = { 0 };
	struct diag *d = diag_new();

	assert_int_equal(mastercf_parse(&mcf, "master.cf",
			     (const uint8_t *)text, strlen(text), d),
	    0);
	assert_int_equal(mcf.n, 3);
	assert_string_equal(mcf.v[0].name, "127.0.0.1:2525");
	assert_int_equal(mcf.v[0].type, MASTERCF_INET);
	assert_false(mcf.v[0].private_);
	assert_int_equal(mcf.v[0].maxproc, 4);
	assert_int_equal(mcf.v[0].noverrides, 1);
	assert_string_equal(mcf.v[0].overrides[0], "smtpd_timeout=5s");
	assert_int_equal(mcf.v[0].nargs, 2);
	assert_string_equal(mcf.v[0].args[0], "-v");
	assert_int_equal(mcf.v[0].line, 2);
	assert_int_equal(mcf.v[2].type, MASTERCF_UNIX_DGRAM);
	assert_int_equal(mcf.v[2].wakeup, 300);
	mastercf_free(&mcf);
	diag_free(&d);
}

static const struct bad_case bad_mastercf[] = {
	{ "short", "smtp inet n - n - -\n", "master.cf:1: error: want 8" },
	{ "type", "smtp tcp n - n - - smtpd\n", "bad service type" },
	{ "yn", "smtp inet x - n - - smtpd\n", "want y, n or -" },
	{ "root", "smtp inet n n n - - smtpd\n", "unpriv n is refused" },
	{ "wakeup", "q unix n - n soon 1 qmgr\n", "bad wakeup" },
	{ "maxproc", "smtp inet n - n - many smtpd\n", "bad process limit" },
	{ "path", "smtp inet n - n - - ../bin/sh\n", "daemon_directory" },
	{ "socket", "../x unix n - n - - showq\n", "bad socket name" },
	{ "dup", "showq unix n - n - - showq\nshowq unix n - n - - showq\n",
	    "master.cf:2: error: service showq/unix already defined" },
	{ "bad -o", "smtp inet n - n - - smtpd -o\n", "-o wants" },
	{ "orphan", "  -o a=b\n", "continuation line" },
};

static void
test_mastercf_bad(void **state)
{
	for (size_t i = 0; i < FCT_NELEM(bad_mastercf); i++) {
		struct mastercf mcf = { 0 };
		struct diag *d = diag_new();
		unsigned e = mastercf_parse(&mcf, "master.cf",
		    (const uint8_t *)bad_mastercf[i].text,
		    strlen(bad_mastercf[i].text), d);
		if (e == 0 || strstr(diag_text(d), bad_mastercf[i].want) == NULL)
			fail_msg("%s: %s", bad_mastercf[i].name, diag_text(d));
		mastercf_free(&mcf);
		diag_free(&d);
	}
}

static void
test_list_next(void **state)
{
	const char *cur = " a, b\tc,,d ", *item;
	size_t len;
	char got[64] = "";

	while (list_next(&cur, &item, &len)) {
		strncat(got, item, len);
		strcat(got, "|");
	}
	assert_string_equal(got, "a|b|c|d|");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_sorted),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_unknown_is_warning),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_defaults_load),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_mastercf),
		cmocka_unit_test(test_mastercf_bad),
		cmocka_unit_test(test_list_next),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
