/*
 * test_smtp_cmd - table-driven tests of lib/smtp_cmd: command lines,
 * MAIL/RCPT paths (the relay-trick shapes), ESMTP parameters, xtext,
 * BDAT, AUTH, EHLO/HELO, VRFY, and every bound at limit - 1, limit and
 * limit + 1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/smtp_cmd.h"
#include "lib/str.h"

/* Table rows leave trailing fields out when they do not apply. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* Length of a test input: explicit (for NUL bytes) or strlen. */
#define INLEN(s, n) ((n) != 0 ? (n) : strlen(s))

static struct str *
reply_new(void)
{
	return str_new(SMTP_REPLY_MAX);
}

/*
 * Command lines.
 */
struct cmd_case {
	const char *name;
	const char *in;
	size_t len;
	const char *reply; /* NULL: success */
	enum smtp_verb verb;
	const char *arg;
};

static const struct cmd_case cmd_cases[] = {
    {"empty", "", 0, "500 5.5.2 Error: bad syntax", SMTP_VERB_UNKNOWN, ""},
    {"blanks", " \t ", 0, "500 5.5.2 Error: bad syntax", SMTP_VERB_UNKNOWN, ""},
    {"mail", "MAIL FROM:<a@b>", 0, NULL, SMTP_VERB_MAIL, "FROM:<a@b>"},
    {"mail lower", "mail from:<a@b>", 0, NULL, SMTP_VERB_MAIL, "from:<a@b>"},
    {"mail mixed", "MaIl FROM:<a@b>", 0, NULL, SMTP_VERB_MAIL, "FROM:<a@b>"},
    {"spaces trimmed", "  RCPT   TO:<a@b>  \t", 0, NULL, SMTP_VERB_RCPT,
        "TO:<a@b>"},
    {"tab separator", "RCPT\tTO:<a@b>", 0, NULL, SMTP_VERB_RCPT, "TO:<a@b>"},
    {"helo", "HELO x.example", 0, NULL, SMTP_VERB_HELO, "x.example"},
    {"ehlo", "ehlo x.example", 0, NULL, SMTP_VERB_EHLO, "x.example"},
    {"data", "DATA", 0, NULL, SMTP_VERB_DATA, ""},
    {"data blank", "DATA ", 0, NULL, SMTP_VERB_DATA, ""},
    {"bdat", "BDAT 10 LAST", 0, NULL, SMTP_VERB_BDAT, "10 LAST"},
    {"rset", "RSET", 0, NULL, SMTP_VERB_RSET, ""},
    {"noop", "NOOP hello", 0, NULL, SMTP_VERB_NOOP, "hello"},
    {"quit", "quit", 0, NULL, SMTP_VERB_QUIT, ""},
    {"help", "HELP", 0, NULL, SMTP_VERB_HELP, ""},
    {"vrfy", "VRFY user", 0, NULL, SMTP_VERB_VRFY, "user"},
    {"expn", "EXPN list", 0, NULL, SMTP_VERB_EXPN, "list"},
    {"starttls", "StartTLS", 0, NULL, SMTP_VERB_STARTTLS, ""},
    {"auth", "AUTH PLAIN AGEAYg==", 0, NULL, SMTP_VERB_AUTH, "PLAIN AGEAYg=="},
    {"unknown", "MAILX FROM:<a@b>", 0,
        "502 5.5.2 Error: command not recognized", SMTP_VERB_UNKNOWN,
        "FROM:<a@b>"},
    {"prefix", "MAI", 0, "502 5.5.2 Error: command not recognized",
        SMTP_VERB_UNKNOWN, ""},
    {"colon verb", "MAIL:FROM:<a@b>", 0,
        "502 5.5.2 Error: command not recognized", SMTP_VERB_UNKNOWN, ""},
    {"http", "GET / HTTP/1.0", 0, "502 5.5.2 Error: command not recognized",
        SMTP_VERB_UNKNOWN, "/ HTTP/1.0"},
    {"8-bit verb", "M\xc3\xa9IL x", 0,
        "502 5.5.2 Error: command not recognized", SMTP_VERB_UNKNOWN, "x"},
    {"8-bit arg", "NOOP \xff\xfe", 0, NULL, SMTP_VERB_NOOP, "\xff\xfe"},
    {"NUL", "MAIL\0 FROM:<a@b>", 16, "500 5.5.2 Error: bad syntax",
        SMTP_VERB_UNKNOWN, ""},
    {"NUL at end", "NOOP\0", 5, "500 5.5.2 Error: bad syntax",
        SMTP_VERB_UNKNOWN, ""},
    {"bare CR", "MAIL FROM:<a@b>\rRCPT TO:<c@d>", 0,
        "500 5.5.2 Error: bad syntax", SMTP_VERB_UNKNOWN, ""},
    {"bare LF", "NOOP\nQUIT", 0, "500 5.5.2 Error: bad syntax",
        SMTP_VERB_UNKNOWN, ""},
    {"trailing CR", "QUIT\r", 0, "500 5.5.2 Error: bad syntax",
        SMTP_VERB_UNKNOWN, ""},
};

static void
test_cmd_table(void **state)
{
	struct str *reply = reply_new();

	(void)state;
	for (size_t i = 0; i < FCT_NELEM(cmd_cases); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		struct smtp_cmd cmd;
		int rc;

		str_clear(reply);
		rc = smtp_cmd_parse(
		    (const uint8_t *)c->in, INLEN(c->in, c->len), &cmd, reply);
		if (c->reply == NULL) {
			if (rc != 0)
				fail_msg("%s: got %s", c->name, str_c(reply));
		} else {
			if (rc != -1 || strcmp(str_c(reply), c->reply) != 0)
				fail_msg("%s: rc %d reply '%s'", c->name, rc,
				    str_c(reply));
		}
		if (cmd.verb != c->verb)
			fail_msg("%s: verb %d", c->name, (int)cmd.verb);
		if (c->reply == NULL || c->verb == SMTP_VERB_UNKNOWN) {
			if (cmd.arg_len != strlen(c->arg) ||
			    memcmp(cmd.arg, c->arg, cmd.arg_len) != 0)
				fail_msg("%s: arg '%.*s'", c->name,
				    (int)cmd.arg_len, (const char *)cmd.arg);
		}
	}
	str_free(&reply);
}

static void
test_cmd_noarg(void **state)
{
	static const struct {
		const char *in;
		const char *reply;
	} cases[] = {
	    {"DATA", NULL},
	    {"DATA x", "501 5.5.4 Syntax: DATA"},
	    {"RSET", NULL},
	    {"RSET now", "501 5.5.4 Syntax: RSET"},
	    {"QUIT", NULL},
	    {"QUIT bye", "501 5.5.4 Syntax: QUIT"},
	    {"STARTTLS", NULL},
	    {"STARTTLS x", "501 5.5.4 Syntax: STARTTLS"},
	    {"NOOP x", NULL},
	    {"HELP MAIL", NULL},
	    {"MAIL FROM:<>", NULL},
	};
	struct str *reply = reply_new();

	(void)state;
	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		struct smtp_cmd cmd;
		int rc;

		assert_int_equal(smtp_cmd_parse((const uint8_t *)cases[i].in,
		                     strlen(cases[i].in), &cmd, reply),
		    0);
		str_clear(reply);
		rc = smtp_cmd_check_noarg(&cmd, reply);
		if (cases[i].reply == NULL)
			assert_int_equal(rc, 0);
		else {
			assert_int_equal(rc, -1);
			assert_string_equal(str_c(reply), cases[i].reply);
		}
	}
	assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "UNKNOWN");
	str_free(&reply);
}

/*
 * MAIL and RCPT paths.
 */
#define SYN_MAIL  "501 5.5.4 Syntax: MAIL FROM:<address>"
#define BAD_MAIL  "501 5.1.7 Bad sender address syntax"
#define LONG_MAIL "501 5.1.7 Sender address too long"
#define SYN_RCPT  "501 5.5.4 Syntax: RCPT TO:<address>"
#define BAD_RCPT  "501 5.1.3 Bad recipient address syntax"
#define LONG_RCPT "501 5.1.3 Recipient address too long"
#define UTF8_MAIL "550 5.6.7 Must declare SMTPUTF8 to send unicode address"
#define UTF8_RCPT "553 5.6.7 Must declare SMTPUTF8 to send unicode address"

struct addr_case {
	const char *name;
	bool rcpt;
	const char *in;
	size_t len;
	const char *reply; /* NULL: success */
	const char *local, *domain, *text;
	unsigned flags;
	bool smtputf8; /* RCPT: transaction is SMTPUTF8 */
};

static const struct addr_case addr_cases[] = {
    /* Plain shapes. */
    {"plain", false, "FROM:<a@b.example>", 0, NULL, "a", "b.example",
        "a@b.example", 0},
    {"keyword case", false, "from:<a@b.example>", 0, NULL, "a", "b.example",
        "a@b.example", 0},
    {"null sender", false, "FROM:<>", 0, NULL, "", "", "", SMTP_ADDR_NULL},
    {"space after colon", false, "FROM: <a@b.example>", 0, NULL, "a",
        "b.example", "a@b.example", SMTP_ADDR_SPACE},
    {"spaces and tab", false, "FROM: \t <a@b.example>", 0, NULL, "a",
        "b.example", "a@b.example", SMTP_ADDR_SPACE},
    {"null with space", false, "FROM: <>", 0, NULL, "", "", "",
        SMTP_ADDR_NULL | SMTP_ADDR_SPACE},
    {"no brackets", false, "FROM:a@b.example", 0, NULL, "a", "b.example",
        "a@b.example", SMTP_ADDR_NOBRACKETS},
    {"no brackets, space", false, "FROM: a@b.example SIZE=1", 0, NULL, "a",
        "b.example", "a@b.example", SMTP_ADDR_NOBRACKETS | SMTP_ADDR_SPACE},
    {"mixed case", false, "FROM:<John.Doe@Ex.AMPLE.org>", 0, NULL, "John.Doe",
        "ex.ample.org", "John.Doe@Ex.AMPLE.org", 0},
    {"atext", false, "FROM:<a!#$&'*+-/=?^_`{|}~b@x.example>", 0, NULL,
        "a!#$&'*+-/=?^_`{|}~b", "x.example", "a!#$&'*+-/=?^_`{|}~b@x.example",
        SMTP_ADDR_BANG},
    {"quoted needless", false, "FROM:<\"ab\"@x.example>", 0, NULL, "ab",
        "x.example", "ab@x.example", SMTP_ADDR_QUOTED},
    {"quoted space", false, "FROM:<\"a b\"@x.example>", 0, NULL, "a b",
        "x.example", "\"a b\"@x.example", SMTP_ADDR_QUOTED},
    {"quoted escapes", false, "FROM:<\"a\\\"b\\\\c\\d\"@x.example>", 0, NULL,
        "a\"b\\cd", "x.example", "\"a\\\"b\\\\cd\"@x.example",
        SMTP_ADDR_QUOTED},
    {"quoted '>' inside", false, "FROM:<\"a>b\"@x.example>", 0, NULL, "a>b",
        "x.example", "\"a>b\"@x.example", SMTP_ADDR_QUOTED},
    {"quoted no brackets", false, "FROM:\"a b\"@x.example SIZE=5", 0, NULL,
        "a b", "x.example", "\"a b\"@x.example",
        SMTP_ADDR_QUOTED | SMTP_ADDR_NOBRACKETS},
    {"odd dots", false, "FROM:<a..b@x.example>", 0, NULL, "a..b", "x.example",
        "\"a..b\"@x.example", SMTP_ADDR_ODD_DOTS},
    {"leading dot", false, "FROM:<.a@x.example>", 0, NULL, ".a", "x.example",
        "\".a\"@x.example", SMTP_ADDR_ODD_DOTS},
    {"trailing dot local", false, "FROM:<a.@x.example>", 0, NULL, "a.",
        "x.example", "\"a.\"@x.example", SMTP_ADDR_ODD_DOTS},
    {"underscore domain", false, "FROM:<a@x_y.example>", 0, NULL, "a",
        "x_y.example", "a@x_y.example", 0},
    {"single label", false, "FROM:<a@localhost>", 0, NULL, "a", "localhost",
        "a@localhost", 0},
    {"digit labels", false, "FROM:<a@3com.123.example>", 0, NULL, "a",
        "3com.123.example", "a@3com.123.example", 0},
    {"hyphen inside", false, "FROM:<a@x-y.example>", 0, NULL, "a",
        "x-y.example", "a@x-y.example", 0},

    /* The relay-trick shapes, as RCPT. */
    {"percent hack", true, "TO:<user%other.example@ours.example>", 0, NULL,
        "user%other.example", "ours.example", "user%other.example@ours.example",
        SMTP_ADDR_PERCENT},
    {"bang path", true, "TO:<other.example!user@ours.example>", 0, NULL,
        "other.example!user", "ours.example", "other.example!user@ours.example",
        SMTP_ADDR_BANG},
    {"source route", true, "TO:<@ours.example:user@other.example>", 0, NULL,
        "user", "other.example", "user@other.example", SMTP_ADDR_ROUTE},
    {"source route 2 hops", true,
        "TO:<@a.example,@b.example:user@other.example>", 0, NULL, "user",
        "other.example", "user@other.example", SMTP_ADDR_ROUTE},
    {"quoted at", true, "TO:<\"user@other.example\"@ours.example>", 0, NULL,
        "user@other.example", "ours.example",
        "\"user@other.example\"@ours.example", SMTP_ADDR_AT | SMTP_ADDR_QUOTED},
    {"quoted percent", true, "TO:<\"user%other\"@ours.example>", 0, NULL,
        "user%other", "ours.example", "user%other@ours.example",
        SMTP_ADDR_PERCENT | SMTP_ADDR_QUOTED},
    {"trailing dot", true, "TO:<user@other.example.>", 0, NULL, "user",
        "other.example.", "user@other.example.", SMTP_ADDR_TRAILING_DOT},
    {"double at", true, "TO:<user@other.example@ours.example>", 0, BAD_RCPT},
    {"literal v4", true, "TO:<user@[192.0.2.1]>", 0, NULL, "user",
        "[192.0.2.1]", "user@[192.0.2.1]", SMTP_ADDR_LITERAL},
    {"literal v4 zeros", true, "TO:<user@[192.000.002.001]>", 0, NULL, "user",
        "[192.0.2.1]", "user@[192.0.2.1]", SMTP_ADDR_LITERAL},
    {"literal v6", true, "TO:<user@[IPv6:2001:DB8:0:0:0:0:0:1]>", 0, NULL,
        "user", "[IPv6:2001:db8::1]", "user@[IPv6:2001:db8::1]",
        SMTP_ADDR_LITERAL},
    {"literal v6 tag case", true, "TO:<user@[ipv6:::1]>", 0, NULL, "user",
        "[IPv6:::1]", "user@[IPv6:::1]", SMTP_ADDR_LITERAL},
    {"literal v4-mapped", true, "TO:<u@[IPv6:::ffff:192.0.2.1]>", 0, NULL, "u",
        "[IPv6:::ffff:192.0.2.1]", "u@[IPv6:::ffff:192.0.2.1]",
        SMTP_ADDR_LITERAL},
    {"mixed case relay", true, "TO:<UsEr@OuRs.ExAmPlE>", 0, NULL, "UsEr",
        "ours.example", "UsEr@OuRs.ExAmPlE", 0},
    {"numeric domain", true, "TO:<user@192.0.2.1>", 0, BAD_RCPT},
    {"numeric label", true, "TO:<user@123>", 0, BAD_RCPT},
    {"route then null", true, "TO:<@ours.example:>", 0, BAD_RCPT},
    {"route only", true, "TO:<@ours.example>", 0, BAD_RCPT},
    {"route bad hop", true, "TO:<@ours..example:u@x.example>", 0, BAD_RCPT},
    {"route empty hop", true, "TO:<@:u@x.example>", 0, BAD_RCPT},
    {"route comma end", true, "TO:<@a.example,:u@x.example>", 0, BAD_RCPT},
    {"route no colon", true, "TO:<@a.example,@b.example>", 0, BAD_RCPT},
    {"route unfinished", true, "TO:<@a.example,@b>", 0, BAD_RCPT},
    {"route no at", true, "TO:<@a.example,b.example:u@x.example>", 0, BAD_RCPT},
    {"route utf8 hop", true, "TO:<@\xc3\xa9.example:u@x.example>", 0, NULL, "u",
        "x.example", "u@x.example", SMTP_ADDR_ROUTE},
    {"route trailing dot", true, "TO:<@a.example.:u@x.example>", 0, NULL, "u",
        "x.example", "u@x.example", SMTP_ADDR_ROUTE},
    {"route no brackets", true, "TO:@a.example:u@x.example", 0, NULL, "u",
        "x.example", "u@x.example", SMTP_ADDR_ROUTE | SMTP_ADDR_NOBRACKETS},
    {"route literal", true, "TO:<@[192.0.2.1]:u@x.example>", 0, BAD_RCPT},

    /* Postmaster. */
    {"postmaster", true, "TO:<Postmaster>", 0, NULL, "Postmaster", "",
        "Postmaster", SMTP_ADDR_POSTMASTER},
    {"postmaster lower", true, "TO:<postmaster>", 0, NULL, "postmaster", "",
        "postmaster", SMTP_ADDR_POSTMASTER},
    {"postmaster bare", true, "TO:POSTMASTER", 0, NULL, "POSTMASTER", "",
        "POSTMASTER", SMTP_ADDR_POSTMASTER | SMTP_ADDR_NOBRACKETS},
    {"postmaster quoted", true, "TO:<\"postmaster\">", 0, BAD_RCPT},
    {"postmaster routed", true, "TO:<@x.example:postmaster>", 0, BAD_RCPT},
    {"postmaster in MAIL", false, "FROM:<Postmaster>", 0, BAD_MAIL},
    {"postmasters", true, "TO:<postmasters>", 0, BAD_RCPT},
    {"no domain", true, "TO:<user>", 0, BAD_RCPT},
    {"no domain MAIL", false, "FROM:<user>", 0, BAD_MAIL},
    {"null rcpt", true, "TO:<>", 0, BAD_RCPT},

    /* Keyword and path syntax. */
    {"empty arg", false, "", 0, SYN_MAIL},
    {"from only", false, "FROM:", 0, SYN_MAIL},
    {"from blank", false, "FROM: \t", 0, SYN_MAIL},
    {"to in MAIL", false, "TO:<a@b.example>", 0, SYN_MAIL},
    {"no colon", false, "FROM <a@b.example>", 0, SYN_MAIL},
    {"space before colon", false, "FROM :<a@b.example>", 0, SYN_MAIL},
    {"rcpt empty", true, "", 0, SYN_RCPT},
    {"rcpt from", true, "FROM:<a@b.example>", 0, SYN_RCPT},
    {"rcpt to only", true, "TO:", 0, SYN_RCPT},
    {"unclosed", false, "FROM:<a@b.example", 0, BAD_MAIL},
    {"double close", false, "FROM:<a@b.example>>", 0, BAD_MAIL},
    {"double open", false, "FROM:<<a@b.example>>", 0, BAD_MAIL},
    {"glued param", false, "FROM:<a@b.example>SIZE=1", 0, BAD_MAIL},
    {"phrase", false, "FROM:Name <a@b.example>", 0, BAD_MAIL},
    {"comment", false, "FROM:<a@b.example> (comment)", 0,
        "555 5.5.4 Unsupported option: (comment)"},
    {"rfc822 comment", false, "FROM:<a(c)@b.example>", 0, BAD_MAIL},
    {"space in <", false, "FROM:< a@b.example>", 0, BAD_MAIL},
    {"space in local", false, "FROM:<a b@b.example>", 0, BAD_MAIL},
    {"space before >", false, "FROM:<a@b.example >", 0, BAD_MAIL},
    {"unclosed quote", false, "FROM:<\"a@b.example>", 0, BAD_MAIL},
    {"empty quoted", false, "FROM:<\"\"@b.example>", 0, BAD_MAIL},
    {"quote then junk", false, "FROM:<\"a\"b@x.example>", 0, BAD_MAIL},
    {"backslash bare", false, "FROM:<a\\b@x.example>", 0, BAD_MAIL},
    {"only at", false, "FROM:<@>", 0, BAD_MAIL},
    {"no local", false, "FROM:<@x.example>", 0, BAD_MAIL},
    {"empty domain", false, "FROM:<a@>", 0, BAD_MAIL},
    {"leading dot dom", false, "FROM:<a@.example>", 0, BAD_MAIL},
    {"double dot dom", false, "FROM:<a@x..example>", 0, BAD_MAIL},
    {"two trailing dots", false, "FROM:<a@x.example..>", 0, BAD_MAIL},
    {"dot domain", false, "FROM:<a@.>", 0, BAD_MAIL},
    {"hyphen start", false, "FROM:<a@-x.example>", 0, BAD_MAIL},
    {"hyphen end", false, "FROM:<a@x-.example>", 0, BAD_MAIL},
    {"bad domain char", false, "FROM:<a@x!y.example>", 0, BAD_MAIL},
    {"v4 256", false, "FROM:<a@[192.0.2.256]>", 0, BAD_MAIL},
    {"v4 three", false, "FROM:<a@[192.0.2]>", 0, BAD_MAIL},
    {"v4 five", false, "FROM:<a@[192.0.2.1.5]>", 0, BAD_MAIL},
    {"v4 4 digits", false, "FROM:<a@[0192.0.2.1]>", 0, BAD_MAIL},
    {"v4 empty part", false, "FROM:<a@[192..2.1]>", 0, BAD_MAIL},
    {"v6 bad", false, "FROM:<a@[IPv6:zz::1]>", 0, BAD_MAIL},
    {"v6 double ::", false, "FROM:<a@[IPv6:1::2::3]>", 0, BAD_MAIL},
    {"v6 untagged", false, "FROM:<a@[2001:db8::1]>", 0, BAD_MAIL},
    {"general literal", false, "FROM:<a@[x400:foo]>", 0, BAD_MAIL},
    {"empty literal", false, "FROM:<a@[]>", 0, BAD_MAIL},
    {"unclosed literal", false, "FROM:<a@[192.0.2.1>", 0, BAD_MAIL},
    {"literal junk", false, "FROM:<a@[192.0.2.1]x>", 0, BAD_MAIL},

    /* Control, NUL and 8-bit bytes. */
    {"NUL local", false, "FROM:<a\0b@x.example>", 19, BAD_MAIL},
    {"NUL quoted", false, "FROM:<\"a\0b\"@x.example>", 21, BAD_MAIL},
    {"NUL escaped", false, "FROM:<\"a\\\0\"@x.example>", 21, BAD_MAIL},
    {"NUL domain", false, "FROM:<a@x\0.example>", 19, BAD_MAIL},
    {"ctl local", false, "FROM:<a\x01@x.example>", 0, BAD_MAIL},
    {"DEL quoted", false, "FROM:<\"a\x7f\"@x.example>", 0, BAD_MAIL},
    {"escaped ctl", false, "FROM:<\"a\\\x01\"@x.example>", 0, BAD_MAIL},
    {"tab quoted", false, "FROM:<\"a\tb\"@x.example>", 0, BAD_MAIL},
    {"bare CR", false, "FROM:<a\r@x.example>", 0, BAD_MAIL},
    {"bare LF", false, "FROM:<a@x.example\n>", 0, BAD_MAIL},
    {"utf8 no smtputf8", false, "FROM:<j\xc3\xb6ran@x.example>", 0, UTF8_MAIL},
    {"utf8 smtputf8", false,
        "FROM:<J\xc3\xb6ran@B\xc3\xbc"
        "cher.EXAMPLE> SMTPUTF8",
        0, NULL, "J\xc3\xb6ran",
        "b\xc3\xbc"
        "cher.example",
        "J\xc3\xb6ran@B\xc3\xbc"
        "cher.EXAMPLE",
        SMTP_ADDR_UTF8},
    {"utf8 quoted", false, "FROM:<\"\xc3\xb6 x\"@x.example> SMTPUTF8", 0, NULL,
        "\xc3\xb6 x", "x.example", "\"\xc3\xb6 x\"@x.example",
        SMTP_ADDR_UTF8 | SMTP_ADDR_QUOTED},
    {"utf8 4 bytes", false, "FROM:<\xf0\x9f\x93\xa7@x.example> SMTPUTF8", 0,
        NULL, "\xf0\x9f\x93\xa7", "x.example", "\xf0\x9f\x93\xa7@x.example",
        SMTP_ADDR_UTF8},
    {"utf8 domain only", true, "TO:<a@\xc3\xa9.example>", 0, UTF8_RCPT},
    {"utf8 rcpt ok", true, "TO:<a@\xc3\xa9.example>", 0, NULL, "a",
        "\xc3\xa9.example", "a@\xc3\xa9.example", SMTP_ADDR_UTF8, true},
    {"8-bit latin1", false, "FROM:<j\xf6ran@x.example> SMTPUTF8", 0, BAD_MAIL},
    {"utf8 overlong", false, "FROM:<\xc0\xaf@x.example> SMTPUTF8", 0, BAD_MAIL},
    {"utf8 overlong 3", false, "FROM:<\xe0\x80\xaf@x.example> SMTPUTF8", 0,
        BAD_MAIL},
    {"utf8 surrogate", false, "FROM:<\xed\xa0\x80@x.example> SMTPUTF8", 0,
        BAD_MAIL},
    {"utf8 too big", false, "FROM:<\xf4\x90\x80\x80@x.example> SMTPUTF8", 0,
        BAD_MAIL},
    {"utf8 truncated", false, "FROM:<a@x.example\xc3> SMTPUTF8", 0, BAD_MAIL},
    {"utf8 lone cont", false, "FROM:<\x80@x.example> SMTPUTF8", 0, BAD_MAIL},
    {"utf8 escaped", false, "FROM:<\"\\\xc3\xb6\"@x.example> SMTPUTF8", 0,
        BAD_MAIL},
};

static void
check_addr(const char *name, const struct smtp_addr *a, const char *local,
    const char *domain, const char *text, unsigned flags)
{
	if (strcmp(a->local, local) != 0 || a->local_len != strlen(local))
		fail_msg("%s: local '%s'", name, a->local);
	if (strcmp(a->domain, domain) != 0 || a->domain_len != strlen(domain))
		fail_msg("%s: domain '%s'", name, a->domain);
	if (strcmp(a->text, text) != 0 || a->text_len != strlen(text))
		fail_msg("%s: text '%s'", name, a->text);
	if (a->flags != flags)
		fail_msg("%s: flags %#x want %#x", name, a->flags, flags);
}

static void
test_addr_table(void **state)
{
	struct str *reply = reply_new();

	(void)state;
	for (size_t i = 0; i < FCT_NELEM(addr_cases); i++) {
		const struct addr_case *c = &addr_cases[i];
		const uint8_t *in = (const uint8_t *)c->in;
		size_t len = INLEN(c->in, c->len);
		const struct smtp_addr *a;
		struct smtp_mail m;
		struct smtp_rcpt r;
		int rc;

		str_clear(reply);
		if (c->rcpt) {
			rc = smtp_rcpt_parse(
			    in, len, SMTP_EXT_ALL, c->smtputf8, &r, reply);
			a = &r.addr;
		} else {
			rc = smtp_mail_parse(in, len, SMTP_EXT_ALL, &m, reply);
			a = &m.addr;
		}
		if (c->reply != NULL) {
			if (rc != -1 || strcmp(str_c(reply), c->reply) != 0)
				fail_msg("%s: rc %d reply '%s'", c->name, rc,
				    str_c(reply));
			/* A failed parse leaves nothing behind. */
			check_addr(c->name, a, "", "", "", 0);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: %s", c->name, str_c(reply));
		check_addr(c->name, a, c->local, c->domain, c->text, c->flags);
	}
	str_free(&reply);
}

/* smtp_path_parse on its own: flags decide <> and <Postmaster>. */
static void
test_path_direct(void **state)
{
	struct smtp_addr a;

	(void)state;
#define PP(s, f) smtp_path_parse((const uint8_t *)(s), strlen(s), (f), &a)
	assert_int_equal(PP("<>", 0), SMTP_PATH_SYNTAX);
	assert_int_equal(PP("<>", SMTP_PATH_NULL_OK), SMTP_PATH_OK);
	assert_int_equal(a.flags, SMTP_ADDR_NULL);
	assert_int_equal(PP("", SMTP_PATH_NULL_OK), SMTP_PATH_SYNTAX);
	assert_int_equal(PP("<", SMTP_PATH_NULL_OK), SMTP_PATH_SYNTAX);
	assert_int_equal(PP(">", SMTP_PATH_NULL_OK), SMTP_PATH_SYNTAX);
	assert_int_equal(PP("<Postmaster>", 0), SMTP_PATH_SYNTAX);
	assert_int_equal(
	    PP("<Postmaster>", SMTP_PATH_POSTMASTER_OK), SMTP_PATH_OK);
	assert_int_equal(PP("a@b.example>", 0), SMTP_PATH_SYNTAX);
	assert_int_equal(PP("a@b.example", 0), SMTP_PATH_OK);
	assert_string_equal(a.text, "a@b.example");
	assert_int_equal(PP("<a@b.example> ", 0), SMTP_PATH_SYNTAX);
#undef PP
}

/* Build a valid domain name of exactly n octets (n >= 1). */
static void
make_domain(char *out, size_t n)
{
	size_t o = 0;

	while (n - o > 63) {
		memset(out + o, 'a', 62);
		out[o + 62] = '.';
		o += 63;
	}
	memset(out + o, 'b', n - o);
	out[n] = '\0';
}

static int
mail_arg(const char *arg, struct smtp_mail *m, struct str *reply)
{
	str_clear(reply);
	return smtp_mail_parse(
	    (const uint8_t *)arg, strlen(arg), SMTP_EXT_ALL, m, reply);
}

static int
rcpt_arg(const char *arg, struct smtp_rcpt *r, struct str *reply)
{
	str_clear(reply);
	return smtp_rcpt_parse(
	    (const uint8_t *)arg, strlen(arg), SMTP_EXT_ALL, false, r, reply);
}

static void
test_addr_limits(void **state)
{
	static char buf[2048], dom[600], loc[300];
	struct str *reply = reply_new();
	struct smtp_mail m;
	struct smtp_rcpt r;

	(void)state;
	/* Local part: limit - 1, limit, limit + 1. */
	for (size_t n = SMTP_LOCAL_MAX - 1; n <= SMTP_LOCAL_MAX + 1; n++) {
		memset(loc, 'l', n);
		loc[n] = '\0';
		snprintf(buf, sizeof(buf), "FROM:<%s@x.example>", loc);
		if (n <= SMTP_LOCAL_MAX) {
			assert_int_equal(mail_arg(buf, &m, reply), 0);
			assert_int_equal(m.addr.local_len, n);
		} else {
			assert_int_equal(mail_arg(buf, &m, reply), -1);
			assert_string_equal(str_c(reply), LONG_MAIL);
		}
		/* Quoted: the bound is on the unquoted form. */
		snprintf(
		    buf, sizeof(buf), "TO:<\"%s\\\"\"@x.example>", loc + 1);
		if (n <= SMTP_LOCAL_MAX) {
			assert_int_equal(rcpt_arg(buf, &r, reply), 0);
			assert_int_equal(r.addr.local_len, n);
		} else {
			assert_int_equal(rcpt_arg(buf, &r, reply), -1);
			assert_string_equal(str_c(reply), LONG_RCPT);
		}
	}
	/* Domain. */
	for (size_t n = SMTP_DOMAIN_MAX - 1; n <= SMTP_DOMAIN_MAX + 1; n++) {
		make_domain(dom, n);
		snprintf(buf, sizeof(buf), "TO:<u@%s>", dom);
		if (n <= SMTP_DOMAIN_MAX) {
			assert_int_equal(rcpt_arg(buf, &r, reply), 0);
			assert_int_equal(r.addr.domain_len, n);
		} else {
			assert_int_equal(rcpt_arg(buf, &r, reply), -1);
			assert_string_equal(str_c(reply), LONG_RCPT);
		}
	}
	/* Label of 63 and 64 octets. */
	memset(dom, 'c', 64);
	dom[63] = '\0';
	snprintf(buf, sizeof(buf), "TO:<u@%s.example>", dom);
	assert_int_equal(rcpt_arg(buf, &r, reply), 0);
	dom[63] = 'c';
	dom[64] = '\0';
	snprintf(buf, sizeof(buf), "TO:<u@%s.example>", dom);
	assert_int_equal(rcpt_arg(buf, &r, reply), -1);
	assert_string_equal(str_c(reply), BAD_RCPT);

	/* Whole path, stretched with a two-hop route: "<@d1,@d2:u@x.example>"
	 * is 2 + 1 + d1 + 2 + d2 + 1 + 11 octets. */
	for (size_t n = SMTP_PATH_MAX - 1; n <= SMTP_PATH_MAX + 1; n++) {
		size_t d2 = n - 17 - 250;
		char d1s[256], d2s[256];

		make_domain(d1s, 250);
		make_domain(d2s, d2);
		snprintf(
		    buf, sizeof(buf), "TO:<@%s,@%s:u@x.example>", d1s, d2s);
		assert_int_equal(strlen(buf), n + 3);
		if (n <= SMTP_PATH_MAX) {
			assert_int_equal(rcpt_arg(buf, &r, reply), 0);
			assert_int_equal(r.addr.flags, SMTP_ADDR_ROUTE);
			assert_string_equal(r.addr.text, "u@x.example");
		} else {
			assert_int_equal(rcpt_arg(buf, &r, reply), -1);
			assert_string_equal(str_c(reply), LONG_RCPT);
		}
	}
	/* Longest local part that needs quoting: text still fits. */
	memset(loc, '"', SMTP_LOCAL_MAX);
	loc[SMTP_LOCAL_MAX] = '\0';
	{
		char *p = buf;
		p += sprintf(p, "FROM:<\"");
		for (size_t i = 0; i < SMTP_LOCAL_MAX; i++)
			p += sprintf(p, "\\\"");
		make_domain(dom, SMTP_DOMAIN_MAX);
		sprintf(p, "\"@%s>", dom);
	}
	/* That is past SMTP_PATH_MAX as sent... */
	assert_int_equal(mail_arg(buf, &m, reply), -1);
	assert_string_equal(str_c(reply), LONG_MAIL);
	/* ...but smtp_path_parse can still be handed such a path from
	 * elsewhere: check the text bound with a shorter domain. */
	{
		char *p = buf;
		p += sprintf(p, "FROM:<\"");
		for (size_t i = 0; i < SMTP_LOCAL_MAX; i++)
			p += sprintf(p, "\\\"");
		make_domain(dom, 200);
		sprintf(p, "\"@%s>", dom);
	}
	assert_int_equal(mail_arg(buf, &m, reply), 0);
	assert_int_equal(m.addr.local_len, SMTP_LOCAL_MAX);
	assert_int_equal(m.addr.text_len, 2 * SMTP_LOCAL_MAX + 2 + 1 + 200);
	str_free(&reply);
}

/*
 * ESMTP parameters.
 */
struct param_case {
	const char *name;
	bool rcpt;
	const char *in;
	unsigned ext;
	const char *reply; /* NULL: success */
};

static const struct param_case param_cases[] = {
    /* SIZE (RFC 1870). */
    {"size", false, "FROM:<a@b.example> SIZE=1000", SMTP_EXT_ALL},
    {"size 0", false, "FROM:<a@b.example> SIZE=0", SMTP_EXT_ALL},
    {"size lower", false, "FROM:<a@b.example> size=10", SMTP_EXT_ALL},
    {"size max", false, "FROM:<a@b.example> SIZE=18446744073709551615",
        SMTP_EXT_ALL},
    {"size overflow", false, "FROM:<a@b.example> SIZE=18446744073709551616",
        SMTP_EXT_ALL,
        "552 5.3.4 Message size exceeds file system imposed limit"},
    {"size huge", false, "FROM:<a@b.example> SIZE=99999999999999999999999999",
        SMTP_EXT_ALL,
        "552 5.3.4 Message size exceeds file system imposed limit"},
    {"size empty", false, "FROM:<a@b.example> SIZE=", SMTP_EXT_ALL,
        "501 5.5.4 Bad message size syntax"},
    {"size novalue", false, "FROM:<a@b.example> SIZE", SMTP_EXT_ALL,
        "501 5.5.4 Bad message size syntax"},
    {"size negative", false, "FROM:<a@b.example> SIZE=-1", SMTP_EXT_ALL,
        "501 5.5.4 Bad message size syntax"},
    {"size plus", false, "FROM:<a@b.example> SIZE=+1", SMTP_EXT_ALL,
        "501 5.5.4 Bad message size syntax"},
    {"size suffix", false, "FROM:<a@b.example> SIZE=10k", SMTP_EXT_ALL,
        "501 5.5.4 Bad message size syntax"},
    {"size dup", false, "FROM:<a@b.example> SIZE=1 SIZE=1", SMTP_EXT_ALL,
        "501 5.5.4 Duplicate SIZE parameter"},
    {"size not offered", false, "FROM:<a@b.example> SIZE=1",
        SMTP_EXT_ALL & ~SMTP_EXT_SIZE, "555 5.5.4 Unsupported option: SIZE=1"},
    /* BODY (RFC 6152). */
    {"body 7bit", false, "FROM:<a@b.example> BODY=7BIT", SMTP_EXT_ALL},
    {"body 8bit", false, "FROM:<a@b.example> body=8bitmime", SMTP_EXT_ALL},
    {"body binary", false, "FROM:<a@b.example> BODY=BINARYMIME", SMTP_EXT_ALL,
        "501 5.5.4 Unsupported BODY parameter"},
    {"body empty", false, "FROM:<a@b.example> BODY=", SMTP_EXT_ALL,
        "501 5.5.4 Unsupported BODY parameter"},
    {"body novalue", false, "FROM:<a@b.example> BODY", SMTP_EXT_ALL,
        "501 5.5.4 Unsupported BODY parameter"},
    {"body dup", false, "FROM:<a@b.example> BODY=7BIT BODY=8BITMIME",
        SMTP_EXT_ALL, "501 5.5.4 Duplicate BODY parameter"},
    {"body not offered", false, "FROM:<a@b.example> BODY=8BITMIME",
        SMTP_EXT_SIZE, "555 5.5.4 Unsupported option: BODY=8BITMIME"},
    /* SMTPUTF8 (RFC 6531). */
    {"smtputf8", false, "FROM:<a@b.example> SMTPUTF8", SMTP_EXT_ALL},
    {"smtputf8 value", false, "FROM:<a@b.example> SMTPUTF8=yes", SMTP_EXT_ALL,
        "501 5.5.4 Bad SMTPUTF8 parameter syntax"},
    {"smtputf8 dup", false, "FROM:<a@b.example> SMTPUTF8 smtputf8",
        SMTP_EXT_ALL, "501 5.5.4 Duplicate SMTPUTF8 parameter"},
    {"smtputf8 not offered", false, "FROM:<a@b.example> SMTPUTF8",
        SMTP_EXT_SIZE, "555 5.5.4 Unsupported option: SMTPUTF8"},
    /* RET and ENVID (RFC 3461). */
    {"ret full", false, "FROM:<a@b.example> RET=FULL", SMTP_EXT_ALL},
    {"ret hdrs", false, "FROM:<a@b.example> ret=hdrs", SMTP_EXT_ALL},
    {"ret bad", false, "FROM:<a@b.example> RET=NONE", SMTP_EXT_ALL,
        "501 5.5.4 Bad RET parameter syntax"},
    {"ret empty", false, "FROM:<a@b.example> RET=", SMTP_EXT_ALL,
        "501 5.5.4 Bad RET parameter syntax"},
    {"ret dup", false, "FROM:<a@b.example> RET=FULL RET=HDRS", SMTP_EXT_ALL,
        "501 5.5.4 Duplicate RET parameter"},
    {"ret no dsn", false, "FROM:<a@b.example> RET=FULL", SMTP_EXT_SIZE,
        "555 5.5.4 Unsupported option: RET=FULL"},
    {"envid", false, "FROM:<a@b.example> ENVID=QQ314159", SMTP_EXT_ALL},
    {"envid empty", false, "FROM:<a@b.example> ENVID=", SMTP_EXT_ALL,
        "501 5.5.4 Bad ENVID parameter syntax"},
    {"envid novalue", false, "FROM:<a@b.example> ENVID", SMTP_EXT_ALL,
        "501 5.5.4 Bad ENVID parameter syntax"},
    {"envid short hex", false, "FROM:<a@b.example> ENVID=a+2", SMTP_EXT_ALL,
        "501 5.5.4 Bad ENVID parameter syntax"},
    {"envid bad hex", false, "FROM:<a@b.example> ENVID=a+ZZ", SMTP_EXT_ALL,
        "501 5.5.4 Bad ENVID parameter syntax"},
    {"envid NUL", false, "FROM:<a@b.example> ENVID=a+00", SMTP_EXT_ALL,
        "501 5.5.4 Bad ENVID parameter syntax"},
    {"envid LF", false, "FROM:<a@b.example> ENVID=a+0A", SMTP_EXT_ALL,
        "501 5.5.4 Bad ENVID parameter syntax"},
    {"envid 8bit hex", false, "FROM:<a@b.example> ENVID=a+C3+A9", SMTP_EXT_ALL,
        "501 5.5.4 Bad ENVID parameter syntax"},
    {"envid 8bit raw", false, "FROM:<a@b.example> ENVID=\xc3\xa9", SMTP_EXT_ALL,
        "501 5.5.4 Bad ENVID parameter syntax"},
    {"envid dup", false, "FROM:<a@b.example> ENVID=a ENVID=a", SMTP_EXT_ALL,
        "501 5.5.4 Duplicate ENVID parameter"},
    /* AUTH= (RFC 4954 §5). */
    {"auth null", false, "FROM:<a@b.example> AUTH=<>", SMTP_EXT_ALL},
    {"auth xtext", false, "FROM:<a@b.example> AUTH=e+3Dmc2@example.com",
        SMTP_EXT_ALL},
    {"auth empty", false, "FROM:<a@b.example> AUTH=", SMTP_EXT_ALL,
        "501 5.5.4 Bad AUTH parameter syntax"},
    {"auth novalue", false, "FROM:<a@b.example> AUTH", SMTP_EXT_ALL,
        "501 5.5.4 Bad AUTH parameter syntax"},
    {"auth raw =", false, "FROM:<a@b.example> AUTH=a=b", SMTP_EXT_ALL,
        "501 5.5.4 Bad AUTH parameter syntax"},
    {"auth ctl", false, "FROM:<a@b.example> AUTH=a+01", SMTP_EXT_ALL,
        "501 5.5.4 Bad AUTH parameter syntax"},
    {"auth dup", false, "FROM:<a@b.example> AUTH=<> AUTH=<>", SMTP_EXT_ALL,
        "501 5.5.4 Duplicate AUTH parameter"},
    {"auth not offered", false, "FROM:<a@b.example> AUTH=<>", SMTP_EXT_SIZE,
        "555 5.5.4 Unsupported option: AUTH=<>"},
    /* Unknown and misplaced. */
    {"unknown", false, "FROM:<a@b.example> X", SMTP_EXT_ALL,
        "555 5.5.4 Unsupported option: X"},
    {"unknown value", false, "FROM:<a@b.example> FOO=bar", SMTP_EXT_ALL,
        "555 5.5.4 Unsupported option: FOO=bar"},
    {"empty keyword", false, "FROM:<a@b.example> =x", SMTP_EXT_ALL,
        "555 5.5.4 Unsupported option: =x"},
    {"notify in MAIL", false, "FROM:<a@b.example> NOTIFY=NEVER", SMTP_EXT_ALL,
        "555 5.5.4 Unsupported option: NOTIFY=NEVER"},
    {"size in RCPT", true, "TO:<a@b.example> SIZE=1", SMTP_EXT_ALL,
        "555 5.5.4 Unsupported option: SIZE=1"},
    {"echo 8-bit", false, "FROM:<a@b.example> X\xc3\xa9\x01Y", SMTP_EXT_ALL,
        "555 5.5.4 Unsupported option: X???Y"},
    {"echo cut", false,
        "FROM:<a@b.example> "
        "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
        "YYYY",
        SMTP_EXT_ALL,
        "555 5.5.4 Unsupported option: "
        "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
        "..."},
    {"first error wins", false, "FROM:<a@b.example> SIZE=x FOO", SMTP_EXT_ALL,
        "501 5.5.4 Bad message size syntax"},
    {"all of them", false,
        "FROM:<a@b.example>  SIZE=1\tBODY=8BITMIME SMTPUTF8 RET=HDRS "
        "ENVID=x AUTH=<> ",
        SMTP_EXT_ALL},
    /* NOTIFY (RFC 3461 §4.1). */
    {"notify never", true, "TO:<a@b.example> NOTIFY=NEVER", SMTP_EXT_ALL},
    {"notify list", true, "TO:<a@b.example> NOTIFY=success,FAILURE,Delay",
        SMTP_EXT_ALL},
    {"notify one", true, "TO:<a@b.example> NOTIFY=DELAY", SMTP_EXT_ALL},
    {"notify never+", true, "TO:<a@b.example> NOTIFY=NEVER,SUCCESS",
        SMTP_EXT_ALL, "501 5.5.4 Bad NOTIFY parameter syntax"},
    {"notify repeat", true, "TO:<a@b.example> NOTIFY=DELAY,DELAY", SMTP_EXT_ALL,
        "501 5.5.4 Bad NOTIFY parameter syntax"},
    {"notify empty", true, "TO:<a@b.example> NOTIFY=", SMTP_EXT_ALL,
        "501 5.5.4 Bad NOTIFY parameter syntax"},
    {"notify novalue", true, "TO:<a@b.example> NOTIFY", SMTP_EXT_ALL,
        "501 5.5.4 Bad NOTIFY parameter syntax"},
    {"notify empty item", true, "TO:<a@b.example> NOTIFY=SUCCESS,,DELAY",
        SMTP_EXT_ALL, "501 5.5.4 Bad NOTIFY parameter syntax"},
    {"notify trailing comma", true, "TO:<a@b.example> NOTIFY=SUCCESS,",
        SMTP_EXT_ALL, "501 5.5.4 Bad NOTIFY parameter syntax"},
    {"notify bad", true, "TO:<a@b.example> NOTIFY=ALWAYS", SMTP_EXT_ALL,
        "501 5.5.4 Bad NOTIFY parameter syntax"},
    {"notify dup", true, "TO:<a@b.example> NOTIFY=NEVER NOTIFY=NEVER",
        SMTP_EXT_ALL, "501 5.5.4 Duplicate NOTIFY parameter"},
    {"notify no dsn", true, "TO:<a@b.example> NOTIFY=NEVER", SMTP_EXT_SIZE,
        "555 5.5.4 Unsupported option: NOTIFY=NEVER"},
    /* ORCPT (RFC 3461 §4.2). */
    {"orcpt", true, "TO:<a@b.example> ORCPT=rfc822;a@b.example", SMTP_EXT_ALL},
    {"orcpt xtext", true, "TO:<a@b.example> ORCPT=rfc822;a+2Bb@x",
        SMTP_EXT_ALL},
    {"orcpt no type", true, "TO:<a@b.example> ORCPT=;a@b.example", SMTP_EXT_ALL,
        "501 5.5.4 Bad ORCPT parameter syntax"},
    {"orcpt no semi", true, "TO:<a@b.example> ORCPT=rfc822", SMTP_EXT_ALL,
        "501 5.5.4 Bad ORCPT parameter syntax"},
    {"orcpt no addr", true, "TO:<a@b.example> ORCPT=rfc822;", SMTP_EXT_ALL,
        "501 5.5.4 Bad ORCPT parameter syntax"},
    {"orcpt novalue", true, "TO:<a@b.example> ORCPT", SMTP_EXT_ALL,
        "501 5.5.4 Bad ORCPT parameter syntax"},
    {"orcpt = in type", true, "TO:<a@b.example> ORCPT=a=b;x@y", SMTP_EXT_ALL,
        "501 5.5.4 Bad ORCPT parameter syntax"},
    {"orcpt bad type", true, "TO:<a@b.example> ORCPT=rfc(822;a@b", SMTP_EXT_ALL,
        "501 5.5.4 Bad ORCPT parameter syntax"},
    {"orcpt NUL", true, "TO:<a@b.example> ORCPT=rfc822;a+00b", SMTP_EXT_ALL,
        "501 5.5.4 Bad ORCPT parameter syntax"},
    {"orcpt 8bit rfc822", true, "TO:<a@b.example> ORCPT=rfc822;+C3+A9",
        SMTP_EXT_ALL, "501 5.5.4 Bad ORCPT parameter syntax"},
    {"orcpt utf-8 hex", true, "TO:<a@b.example> ORCPT=utf-8;+C3+A9@x",
        SMTP_EXT_ALL},
    {"orcpt utf-8 raw, no smtputf8", true,
        "TO:<a@b.example> ORCPT=utf-8;\xc3\xa9@x", SMTP_EXT_ALL,
        "501 5.5.4 Bad ORCPT parameter syntax"},
    {"orcpt utf-8 bad", true, "TO:<a@b.example> ORCPT=utf-8;+C3@x",
        SMTP_EXT_ALL, "501 5.5.4 Bad ORCPT parameter syntax"},
    {"orcpt dup", true, "TO:<a@b.example> ORCPT=rfc822;a@b ORCPT=rfc822;a@b",
        SMTP_EXT_ALL, "501 5.5.4 Duplicate ORCPT parameter"},
    {"orcpt no dsn", true, "TO:<a@b.example> ORCPT=rfc822;a@b", SMTP_EXT_SIZE,
        "555 5.5.4 Unsupported option: ORCPT=rfc822;a@b"},
    {"rcpt both", true,
        "TO:<a@b.example> NOTIFY=FAILURE,DELAY ORCPT=rfc822;x@y", SMTP_EXT_ALL},
};

static void
test_param_table(void **state)
{
	struct str *reply = reply_new();

	(void)state;
	for (size_t i = 0; i < FCT_NELEM(param_cases); i++) {
		const struct param_case *c = &param_cases[i];
		struct smtp_mail m;
		struct smtp_rcpt r;
		int rc;

		str_clear(reply);
		if (c->rcpt)
			rc = smtp_rcpt_parse((const uint8_t *)c->in,
			    strlen(c->in), c->ext, false, &r, reply);
		else
			rc = smtp_mail_parse((const uint8_t *)c->in,
			    strlen(c->in), c->ext, &m, reply);
		if (c->reply == NULL && rc != 0)
			fail_msg("%s: %s", c->name, str_c(reply));
		if (c->reply != NULL &&
		    (rc != -1 || strcmp(str_c(reply), c->reply) != 0))
			fail_msg(
			    "%s: rc %d reply '%s'", c->name, rc, str_c(reply));
	}
	str_free(&reply);
}

/* The values the parameters leave in the result. */
static void
test_param_values(void **state)
{
	struct str *reply = reply_new();
	struct smtp_mail m;
	struct smtp_rcpt r;

	(void)state;
	assert_int_equal(mail_arg("FROM:<a@b.example>", &m, reply), 0);
	assert_false(m.has_size);
	assert_int_equal(m.body, SMTP_BODY_NONE);
	assert_false(m.smtputf8);
	assert_int_equal(m.ret, SMTP_RET_NONE);
	assert_false(m.has_envid);
	assert_false(m.has_auth);

	assert_int_equal(
	    mail_arg("FROM:<a@b.example> SIZE=0012345 "
	             "BODY=8BITMIME SMTPUTF8 RET=HDRS "
	             "ENVID=QQ+2B314159+20x AUTH=e+3Dmc2@x.example",
	        &m, reply),
	    0);
	assert_true(m.has_size);
	assert_int_equal(m.size, 12345);
	assert_int_equal(m.body, SMTP_BODY_8BITMIME);
	assert_true(m.smtputf8);
	assert_int_equal(m.ret, SMTP_RET_HDRS);
	assert_true(m.has_envid);
	assert_string_equal(m.envid, "QQ+314159 x");
	assert_int_equal(m.envid_len, 11);
	assert_true(m.has_auth);
	assert_string_equal(m.auth, "e=mc2@x.example");

	assert_int_equal(mail_arg("FROM:<> BODY=7bit RET=full AUTH=<> "
	                          "SIZE=18446744073709551615",
	                     &m, reply),
	    0);
	assert_int_equal(m.addr.flags, SMTP_ADDR_NULL);
	assert_int_equal(m.body, SMTP_BODY_7BIT);
	assert_int_equal(m.ret, SMTP_RET_FULL);
	assert_string_equal(m.auth, "<>");
	assert_true(m.size == UINT64_MAX);

	/* Lower case hex decodes the same. */
	assert_int_equal(
	    mail_arg("FROM:<a@b.example> ENVID=a+2bb", &m, reply), 0);
	assert_string_equal(m.envid, "a+b");

	assert_int_equal(rcpt_arg("TO:<a@b.example>", &r, reply), 0);
	assert_int_equal(r.notify, 0);
	assert_false(r.has_orcpt);
	assert_int_equal(
	    rcpt_arg("TO:<a@b.example> NOTIFY=never", &r, reply), 0);
	assert_int_equal(r.notify, SMTP_NOTIFY_NEVER);
	assert_int_equal(rcpt_arg("TO:<a@b.example> "
	                          "NOTIFY=DELAY,SUCCESS,FAILURE "
	                          "ORCPT=rfc822;Bob+2Bx+40b.example",
	                     &r, reply),
	    0);
	assert_int_equal(r.notify,
	    SMTP_NOTIFY_DELAY | SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE);
	assert_true(r.has_orcpt);
	assert_string_equal(r.orcpt_type, "rfc822");
	assert_string_equal(r.orcpt, "Bob+x@b.example");
	assert_int_equal(r.orcpt_len, 15);

	/* RFC 6533 utf-8 addr-type: raw UTF-8 only in SMTPUTF8. */
	str_clear(reply);
	assert_int_equal(
	    smtp_rcpt_parse((const uint8_t *)"TO:<\xc3\xa9@b.example>"
	                                     " ORCPT=UTF-8;\xc3\xa9@b.example",
	        strlen("TO:<\xc3\xa9@b.example>"
	               " ORCPT=UTF-8;\xc3\xa9@b.example"),
	        SMTP_EXT_ALL, true, &r, reply),
	    0);
	assert_string_equal(r.orcpt_type, "UTF-8");
	assert_string_equal(r.orcpt, "\xc3\xa9@b.example");
	assert_int_equal(r.addr.flags, SMTP_ADDR_UTF8);
	str_free(&reply);
}

/* ENVID, AUTH= and ORCPT at limit - 1, limit, limit + 1. */
static void
test_param_limits(void **state)
{
	static char buf[2048], val[600];
	struct str *reply = reply_new();
	struct smtp_mail m;
	struct smtp_rcpt r;

	(void)state;
	for (size_t n = SMTP_ENVID_MAX - 1; n <= SMTP_ENVID_MAX + 1; n++) {
		memset(val, 'e', n);
		val[n] = '\0';
		snprintf(buf, sizeof(buf), "FROM:<a@b.example> ENVID=%s", val);
		assert_int_equal(
		    mail_arg(buf, &m, reply), n <= SMTP_ENVID_MAX ? 0 : -1);
		if (n <= SMTP_ENVID_MAX)
			assert_int_equal(m.envid_len, n);
		else
			assert_string_equal(str_c(reply),
			    "501 5.5.4 Bad ENVID parameter syntax");
	}
	for (size_t n = SMTP_AUTHPARAM_MAX - 1; n <= SMTP_AUTHPARAM_MAX + 1;
	     n++) {
		memset(val, 'u', n);
		val[n] = '\0';
		snprintf(buf, sizeof(buf), "FROM:<a@b.example> AUTH=%s", val);
		assert_int_equal(
		    mail_arg(buf, &m, reply), n <= SMTP_AUTHPARAM_MAX ? 0 : -1);
		if (n <= SMTP_AUTHPARAM_MAX)
			assert_int_equal(m.auth_len, n);
	}
	/* ORCPT: the whole "rfc822;..." value. */
	for (size_t n = SMTP_ORCPT_MAX - 1; n <= SMTP_ORCPT_MAX + 1; n++) {
		memcpy(val, "rfc822;", 7);
		memset(val + 7, 'o', n - 7);
		val[n] = '\0';
		snprintf(buf, sizeof(buf), "TO:<a@b.example> ORCPT=%s", val);
		assert_int_equal(
		    rcpt_arg(buf, &r, reply), n <= SMTP_ORCPT_MAX ? 0 : -1);
		if (n <= SMTP_ORCPT_MAX)
			assert_int_equal(r.orcpt_len, n - 7);
	}
	/* addr-type. */
	for (size_t n = SMTP_ADDRTYPE_MAX - 1; n <= SMTP_ADDRTYPE_MAX + 1;
	     n++) {
		memset(val, 't', n);
		val[n] = '\0';
		snprintf(
		    buf, sizeof(buf), "TO:<a@b.example> ORCPT=%s;x@y", val);
		assert_int_equal(
		    rcpt_arg(buf, &r, reply), n <= SMTP_ADDRTYPE_MAX ? 0 : -1);
	}
	str_free(&reply);
}

/*
 * xtext.
 */
static void
test_xtext(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *out;
		size_t out_len;
	} cases[] = {
	    {"", 0, "", 0},
	    {"abc", 0, "abc", 3},
	    {"a+2Bb", 0, "a+b", 3},
	    {"a+2bb", 0, "a+b", 3},
	    {"+3D", 0, "=", 1},
	    {"+00", 0, "\0", 1},
	    {"+FF", 0, "\xff", 1},
	    {"+0D+0A", 0, "\r\n", 2},
	    {"+", -1},
	    {"+4", -1},
	    {"+4G", -1},
	    {"+G4", -1},
	    {"a=b", -1},
	    {"a b", -1},
	    {"\x7f", -1},
	    {"\xc3\xa9", -1},
	    {"a\0b", -1},
	};
	uint8_t out[16];
	size_t len;
	struct str *s = str_new(64);

	(void)state;
	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		size_t n = strlen(cases[i].in);

		if (i == FCT_NELEM(cases) - 1)
			n = 3; /* the NUL case */
		len = 99;
		assert_int_equal(smtp_xtext_decode((const uint8_t *)cases[i].in,
		                     n, out, sizeof(out), &len),
		    cases[i].rc);
		if (cases[i].rc == 0) {
			assert_int_equal(len, cases[i].out_len);
			assert_memory_equal(out, cases[i].out, len);
		}
	}
	/* Output bound: limit - 1, limit, limit + 1. */
	assert_int_equal(
	    smtp_xtext_decode((const uint8_t *)"abc", 3, out, 2, &len), -1);
	assert_int_equal(
	    smtp_xtext_decode((const uint8_t *)"abc", 3, out, 3, &len), 0);
	assert_int_equal(
	    smtp_xtext_decode((const uint8_t *)"+41+42", 6, out, 1, &len), -1);
	/* Encode, and decode back: every byte value. */
	{
		uint8_t all[256], back[256 * 3];
		struct str *big = str_new(256 * 3);

		for (int i = 0; i < 256; i++)
			all[i] = (uint8_t)i;
		assert_int_equal(smtp_xtext_encode(all, 256, big), 0);
		assert_int_equal(smtp_xtext_decode(str_data(big), str_len(big),
		                     back, sizeof(back), &len),
		    0);
		assert_int_equal(len, 256);
		assert_memory_equal(back, all, 256);
		str_free(&big);
	}
	assert_int_equal(
	    smtp_xtext_encode((const uint8_t *)"a+b=c d", 7, s), 0);
	assert_string_equal(str_c(s), "a+2Bb+3Dc+20d");
	/* Past the cap: -1 and unchanged. */
	{
		struct str *tiny = str_new(4);
		assert_int_equal(str_appends(tiny, "x"), 0);
		assert_int_equal(
		    smtp_xtext_encode((const uint8_t *)"++", 2, tiny), -1);
		assert_string_equal(str_c(tiny), "x");
		str_free(&tiny);
	}
	str_free(&s);
}

/*
 * BDAT, AUTH, EHLO/HELO, VRFY.
 */
#define BDAT_SYN "501 5.5.4 Syntax: BDAT count [LAST]"

static void
test_bdat(void **state)
{
	static const struct {
		const char *in;
		const char *reply;
		uint64_t size;
		bool last;
	} cases[] = {
	    {"1000", NULL, 1000, false},
	    {"1000 LAST", NULL, 1000, true},
	    {"0 last", NULL, 0, true},
	    {"0", NULL, 0, false},
	    {"00010", NULL, 10, false},
	    {"10  \tLaSt", NULL, 10, true},
	    {"10 LAST ", NULL, 10, true},
	    {"18446744073709551615 LAST", NULL, UINT64_MAX, true},
	    {"18446744073709551616", BDAT_SYN},
	    {"99999999999999999999999999", BDAT_SYN},
	    {"", BDAT_SYN},
	    {"LAST", BDAT_SYN},
	    {"10LAST", BDAT_SYN},
	    {"10 LASTX", BDAT_SYN},
	    {"10 LAS", BDAT_SYN},
	    {"10 LAST x", BDAT_SYN},
	    {"10 20", BDAT_SYN},
	    {"-1", BDAT_SYN},
	    {"+1", BDAT_SYN},
	    {"1.5", BDAT_SYN},
	    {"0x10", BDAT_SYN},
	    {" 10", BDAT_SYN},
	    {"1\xc3\xa9", BDAT_SYN},
	};
	struct str *reply = reply_new();

	(void)state;
	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		struct smtp_bdat b;
		int rc;

		str_clear(reply);
		rc = smtp_bdat_parse((const uint8_t *)cases[i].in,
		    strlen(cases[i].in), &b, reply);
		if (cases[i].reply == NULL) {
			if (rc != 0)
				fail_msg(
				    "bdat '%s': %s", cases[i].in, str_c(reply));
			assert_true(b.size == cases[i].size);
			assert_int_equal(b.last, cases[i].last);
		} else {
			if (rc != -1 ||
			    strcmp(str_c(reply), cases[i].reply) != 0)
				fail_msg("bdat '%s': %d", cases[i].in, rc);
		}
	}
	/* NUL inside. */
	{
		struct smtp_bdat b;
		assert_int_equal(
		    smtp_bdat_parse((const uint8_t *)"1\0", 2, &b, reply), -1);
	}
	str_free(&reply);
}

#define AUTH_SYN "501 5.5.4 Syntax: AUTH mechanism"
#define AUTH_B64 "501 5.5.2 Cannot decode response"

static void
test_auth(void **state)
{
	static const struct {
		const char *in;
		const char *reply;
		const char *mech, *initial;
	} cases[] = {
	    {"PLAIN", NULL, "PLAIN", NULL},
	    {"PLAIN AGFsaWNlAHNlY3JldA==", NULL, "PLAIN",
	        "AGFsaWNlAHNlY3JldA=="},
	    {"plain =", NULL, "plain", "="},
	    {"LOGIN dXNlcg==", NULL, "LOGIN", "dXNlcg=="},
	    {"SCRAM-SHA-256 biws", NULL, "SCRAM-SHA-256", "biws"},
	    {"X_Y-Z", NULL, "X_Y-Z", NULL},
	    {"ABCDEFGHIJKLMNOPQRS", NULL, "ABCDEFGHIJKLMNOPQRS", NULL},
	    {"ABCDEFGHIJKLMNOPQRST", NULL, "ABCDEFGHIJKLMNOPQRST", NULL},
	    {"ABCDEFGHIJKLMNOPQRSTU", AUTH_SYN},
	    {"", AUTH_SYN},
	    {"PL@IN", AUTH_SYN},
	    {"PL\xc3\xa9IN", AUTH_SYN},
	    {"PLAIN abcd efgh", AUTH_SYN},
	    {"PLAIN abc", AUTH_B64},
	    {"PLAIN ab=c", AUTH_B64},
	    {"PLAIN a===", AUTH_B64},
	    {"PLAIN ====", AUTH_B64},
	    {"PLAIN ==", AUTH_B64},
	    {"PLAIN ab*d", AUTH_B64},
	    {"PLAIN ab\xc3\xa9", AUTH_B64},
	};
	struct str *reply = reply_new();

	(void)state;
	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		struct smtp_auth a;
		int rc;

		str_clear(reply);
		rc = smtp_auth_parse((const uint8_t *)cases[i].in,
		    strlen(cases[i].in), &a, reply);
		if (cases[i].reply != NULL) {
			if (rc != -1 ||
			    strcmp(str_c(reply), cases[i].reply) != 0)
				fail_msg("auth '%s': %d '%s'", cases[i].in, rc,
				    str_c(reply));
			assert_int_equal(a.mech_len, 0);
			continue;
		}
		if (rc != 0)
			fail_msg("auth '%s': %s", cases[i].in, str_c(reply));
		assert_int_equal(a.mech_len, strlen(cases[i].mech));
		assert_memory_equal(a.mech, cases[i].mech, a.mech_len);
		assert_int_equal(a.has_initial, cases[i].initial != NULL);
		if (cases[i].initial != NULL) {
			assert_int_equal(
			    a.initial_len, strlen(cases[i].initial));
			assert_memory_equal(
			    a.initial, cases[i].initial, a.initial_len);
		}
	}
	str_free(&reply);
}

static void
test_helo(void **state)
{
	static const struct {
		const char *in;
		bool ehlo;
		const char *reply;
		unsigned flags;
	} cases[] = {
	    {"mail.example.com", true, NULL, 0},
	    {"MAIL.Example.COM.", false, NULL, 0},
	    {"localhost", true, NULL, 0},
	    {"under_score.example", true, NULL, 0},
	    {"[192.0.2.1]", true, NULL, SMTP_HELO_LITERAL},
	    {"[IPv6:2001:db8::1]", true, NULL, SMTP_HELO_LITERAL},
	    {"[bogus]", true, NULL, SMTP_HELO_INVALID},
	    {"192.0.2.1", true, NULL, SMTP_HELO_INVALID},
	    {"foo bar", true, NULL, SMTP_HELO_INVALID},
	    {"-bad.example", true, NULL, SMTP_HELO_INVALID},
	    {"bad..example", false, NULL, SMTP_HELO_INVALID},
	    {"b\xff.example", false, NULL, SMTP_HELO_INVALID},
	    {"", true, "501 5.5.4 Syntax: EHLO hostname"},
	    {"", false, "501 5.5.4 Syntax: HELO hostname"},
	};
	struct str *reply = reply_new();
	static char longname[300];

	(void)state;
	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		struct smtp_helo h;
		int rc;

		str_clear(reply);
		rc = smtp_helo_parse((const uint8_t *)cases[i].in,
		    strlen(cases[i].in), cases[i].ehlo, &h, reply);
		if (cases[i].reply != NULL) {
			assert_int_equal(rc, -1);
			assert_string_equal(str_c(reply), cases[i].reply);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(h.len, strlen(cases[i].in));
		if (h.flags != cases[i].flags)
			fail_msg("helo '%s': flags %#x", cases[i].in, h.flags);
	}
	/* Domain bound: limit, limit + 1. */
	for (size_t n = SMTP_DOMAIN_MAX; n <= SMTP_DOMAIN_MAX + 1; n++) {
		struct smtp_helo h;

		make_domain(longname, n);
		assert_int_equal(smtp_helo_parse((const uint8_t *)longname, n,
		                     true, &h, reply),
		    0);
		assert_int_equal(
		    h.flags, n <= SMTP_DOMAIN_MAX ? 0 : SMTP_HELO_INVALID);
	}
	str_free(&reply);
}

static void
test_vrfy(void **state)
{
	struct str *reply = reply_new();

	(void)state;
	assert_int_equal(
	    smtp_vrfy_parse(SMTP_VERB_VRFY, (const uint8_t *)"user", 4, reply),
	    0);
	assert_int_equal(
	    smtp_vrfy_parse(SMTP_VERB_VRFY, (const uint8_t *)"", 0, reply), -1);
	assert_string_equal(str_c(reply), "501 5.5.4 Syntax: VRFY address");
	assert_int_equal(
	    smtp_vrfy_parse(SMTP_VERB_EXPN, (const uint8_t *)"", 0, reply), -1);
	assert_string_equal(
	    str_c(reply), "501 5.5.4 Syntax: EXPN mailing-list");
	str_free(&reply);
}

/* A NULL reply is allowed: errors are still reported. */
static void
test_null_reply(void **state)
{
	struct smtp_mail m;
	struct smtp_cmd cmd;

	(void)state;
	assert_int_equal(smtp_mail_parse((const uint8_t *)"FROM:<a", 7,
	                     SMTP_EXT_ALL, &m, NULL),
	    -1);
	assert_int_equal(smtp_mail_parse((const uint8_t *)"FROM:<a@b.c> X=1",
	                     16, SMTP_EXT_ALL, &m, NULL),
	    -1);
	assert_int_equal(
	    smtp_cmd_parse((const uint8_t *)"XYZZY", 5, &cmd, NULL), -1);
}

/* A reply string with a tiny cap gets a cut reply, never an overflow. */
static void
test_small_reply(void **state)
{
	struct str *tiny = str_new(8);
	struct smtp_mail m;

	(void)state;
	assert_int_equal(smtp_mail_parse((const uint8_t *)"FROM:<a@b.c> "
	                                                  "XXXXXXXXXXXX",
	                     25, SMTP_EXT_ALL, &m, tiny),
	    -1);
	assert_int_equal(str_len(tiny), 8);
	assert_memory_equal(str_c(tiny), "555 5.5.", 8);
	str_free(&tiny);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cmd_table),
	    cmocka_unit_test(test_cmd_noarg),
	    cmocka_unit_test(test_addr_table),
	    cmocka_unit_test(test_path_direct),
	    cmocka_unit_test(test_addr_limits),
	    cmocka_unit_test(test_param_table),
	    cmocka_unit_test(test_param_values),
	    cmocka_unit_test(test_param_limits),
	    cmocka_unit_test(test_xtext),
	    cmocka_unit_test(test_bdat),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_helo),
	    cmocka_unit_test(test_vrfy),
	    cmocka_unit_test(test_null_reply),
	    cmocka_unit_test(test_small_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
