/*
 * test_deliver - the qmgr <-> delivery agent protocol (lib/deliver):
 * request and reply round trips, value escaping, every malformed input
 * we can name (table-driven), bounds (line, recipients, forwards,
 * text), message framing and reply_check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/deliver.h"
#include "lib/queue_format.h"

#define CAP (DELIVER_MSG_MAX * 2)

static const char good_request[] =
    "queue_id 1xVGDs1QPk4T56\n"
    "sender ann@example.org\n"
    "nexthop example.test\n"
    "arrival 1795387188123456\n"
    "envid -\n"
    "ret -\n"
    "rcpt 0 0 bob@example.test bob@example.test\n"
    "end\n";

static int
parse_req(const char *text, struct deliver_request *rq, struct str *why)
{
	return deliver_request_parse(
	    (const uint8_t *)text, strlen(text), rq, why);
}

static int
parse_rep(const char *text, struct deliver_reply *rp, struct str *why)
{
	return deliver_reply_parse(
	    (const uint8_t *)text, strlen(text), rp, why);
}

static void
test_request_round_trip(void **state)
{
	struct deliver_attr attrs[] = {
	    {"client_name", "mail.example.org"}, {"helo", "a b%c\x7f\x01"}};
	struct deliver_rcpt rcpts[] = {
	    {0, 0, "bob@example.test", "bob@example.test"},
	    {7, QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE,
	        "\"a b\"@example.test", "rfc822;a b@example.test"},
	    {8, 0, "-", ""},
	    {9, 0, "\xc3\xa9l\xc3\xa8ve@example.test", "%2D"},
	};
	struct deliver_request rq = {"1xVGDs1QPk4T56", "", "example.test",
	    1795387188123456ULL, "id with spaces", "HDRS", attrs, 2, rcpts, 4};
	struct deliver_request back;
	struct str *out = str_new(CAP), *why = str_new(256);

	assert_int_equal(deliver_request_format(&rq, out), 0);
	/* One word per value: no space, CR, LF or NUL inside a value. */
	assert_non_null(strstr(str_c(out), "sender -\n"));
	assert_non_null(strstr(str_c(out), "envid id%20with%20spaces\n"));
	assert_non_null(strstr(str_c(out), "attr helo a%20b%25c%7F%01\n"));
	assert_non_null(strstr(str_c(out), "rcpt 8 0 %2D -\n"));
	assert_int_equal(
	    deliver_message_len(str_data(out), str_len(out)), str_len(out));
	assert_int_equal(
	    deliver_request_parse(str_data(out), str_len(out), &back, why), 0);
	assert_string_equal(back.queue_id, rq.queue_id);
	assert_string_equal(back.sender, "");
	assert_string_equal(back.nexthop, rq.nexthop);
	assert_true(back.arrival_us == rq.arrival_us);
	assert_string_equal(back.envid, "id with spaces");
	assert_string_equal(back.ret, "HDRS");
	assert_int_equal(back.nattrs, 2);
	assert_string_equal(back.attrs[1].value, "a b%c\x7f\x01");
	assert_int_equal(back.nrcpts, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(back.rcpts[i].index, rcpts[i].index);
		assert_int_equal(back.rcpts[i].notify, rcpts[i].notify);
		assert_string_equal(back.rcpts[i].addr, rcpts[i].addr);
		assert_string_equal(back.rcpts[i].orig, rcpts[i].orig);
	}
	deliver_request_clear(&back);
	/* envid and ret absent come back absent. */
	rq.envid = NULL;
	rq.ret = NULL;
	str_clear(out);
	assert_int_equal(deliver_request_format(&rq, out), 0);
	assert_int_equal(
	    deliver_request_parse(str_data(out), str_len(out), &back, why), 0);
	assert_null(back.envid);
	assert_null(back.ret);
	deliver_request_clear(&back);
	str_free(&out);
	str_free(&why);
}

static void
test_reply_round_trip(void **state)
{
	struct deliver_reply rp = {0}, back;
	struct str *out = str_new(CAP), *why = str_new(256);

	deliver_reply_add(
	    &rp, 0, DELIVER_SENT, "2.0.0", "local", "delivered to maildir");
	deliver_reply_add(
	    &rp, 3, DELIVER_FORWARD, "2.0.0", "local", "forwarded");
	deliver_reply_add_forward(&rp, "bob@elsewhere.example");
	deliver_reply_add_forward(&rp, "\"c d\"@elsewhere.example");
	deliver_reply_add(
	    &rp, 4, DELIVER_DEFER, "4.2.2", "local", "mailbox full");
	deliver_reply_add(
	    &rp, 5, DELIVER_BOUNCE, "5.1.1", "", "unknown user: \"x\"");
	assert_int_equal(deliver_reply_format(&rp, out), 0);
	assert_non_null(
	    strstr(str_c(out), "forward 3 bob@elsewhere.example\n"
	                       "forward 3 \"c%20d\"@elsewhere.example\n"
	                       "status 3 forward 2.0.0 local forwarded\n"));
	assert_int_equal(
	    deliver_reply_parse(str_data(out), str_len(out), &back, why), 0);
	assert_int_equal(back.n, 4);
	assert_int_equal(back.v[1].kind, DELIVER_FORWARD);
	assert_int_equal(back.v[1].nforward, 2);
	assert_string_equal(back.v[1].forward[1], "\"c d\"@elsewhere.example");
	assert_int_equal(back.v[2].kind, DELIVER_DEFER);
	assert_string_equal(back.v[2].dsn, "4.2.2");
	assert_string_equal(back.v[3].relay, "");
	assert_string_equal(back.v[3].text, "unknown user: \"x\"");
	assert_string_equal(deliver_kind_name(DELIVER_BOUNCE), "bounce");
	assert_string_equal(deliver_kind_name((enum deliver_kind)9), "?");
	deliver_reply_clear(&back);
	deliver_reply_clear(&rp);
	/* An empty reply is "end" alone. */
	str_clear(out);
	assert_int_equal(deliver_reply_format(&rp, out), 0);
	assert_string_equal(str_c(out), "end\n");
	/* A formatter past its cap fails. */
	struct str *tiny = str_new(8);
	deliver_reply_add(&rp, 0, DELIVER_SENT, "2.0.0", "local", "ok");
	assert_int_equal(deliver_reply_format(&rp, tiny), -1);
	struct deliver_request rq = {
	    "Q", "a@b", "h", 0, NULL, NULL, NULL, 0, NULL, 0};
	assert_int_equal(deliver_request_format(&rq, tiny), -1);
	deliver_reply_clear(&rp);
	str_free(&tiny);
	str_free(&out);
	str_free(&why);
}

struct bad {
	const char *name;
	const char *text;
};

/* Each one a good request with one thing wrong. */
static const struct bad bad_requests[] = {
    {"empty", ""},
    {"end alone", "end\n"},
    {"no end", "queue_id Q\nsender a@b\nnexthop h\nrcpt 0 0 a@b a@b\n"},
    {"end without newline",
        "queue_id Q\nsender a@b\nnexthop h\nrcpt 0 0 a@b a@b\nend"},
    {"data after end",
        "queue_id Q\nsender a@b\nnexthop h\nrcpt 0 0 a@b a@b\nend\nx\n"},
    {"no recipient", "queue_id Q\nsender a@b\nnexthop h\nend\n"},
    {"no queue_id", "sender a@b\nnexthop h\nrcpt 0 0 a@b a@b\nend\n"},
    {"no sender", "queue_id Q\nnexthop h\nrcpt 0 0 a@b a@b\nend\n"},
    {"no nexthop", "queue_id Q\nsender a@b\nrcpt 0 0 a@b a@b\nend\n"},
    {"repeated queue_id", "queue_id Q\nqueue_id Q\nsender a@b\nnexthop h\n"
                          "rcpt 0 0 a@b a@b\nend\n"},
    {"repeated envid after -",
        "queue_id Q\nsender a@b\nnexthop h\nenvid -\nenvid x\n"
        "rcpt 0 0 a@b a@b\nend\n"},
    {"repeated ret after -",
        "queue_id Q\nsender a@b\nnexthop h\nret -\nret FULL\n"
        "rcpt 0 0 a@b a@b\nend\n"},
    {"bad ret", "queue_id Q\nsender a@b\nnexthop h\nret ALL\n"
                "rcpt 0 0 a@b a@b\nend\n"},
    {"unknown line", "queue_id Q\nsender a@b\nnexthop h\nfoo bar\n"
                     "rcpt 0 0 a@b a@b\nend\n"},
    {"empty line", "queue_id Q\nsender a@b\nnexthop h\n\n"
                   "rcpt 0 0 a@b a@b\nend\n"},
    {"double space", "queue_id  Q\nsender a@b\nnexthop h\n"
                     "rcpt 0 0 a@b a@b\nend\n"},
    {"leading space", " queue_id Q\nsender a@b\nnexthop h\n"
                      "rcpt 0 0 a@b a@b\nend\n"},
    {"trailing space", "queue_id Q \nsender a@b\nnexthop h\n"
                       "rcpt 0 0 a@b a@b\nend\n"},
    {"CRLF line", "queue_id Q\r\nsender a@b\nnexthop h\n"
                  "rcpt 0 0 a@b a@b\nend\n"},
    {"raw tab in a value", "queue_id Q\tx\nsender a@b\nnexthop h\n"
                           "rcpt 0 0 a@b a@b\nend\n"},
    {"raw DEL in a value", "queue_id Q\nsender a@b\x7f\nnexthop h\n"
                           "rcpt 0 0 a@b a@b\nend\n"},
    {"NUL in a line", "queue_id Q\0x\nsender a@b\nnexthop h\n"
                      "rcpt 0 0 a@b a@b\nend\n"},
    {"bad escape", "queue_id %4\nsender a@b\nnexthop h\n"
                   "rcpt 0 0 a@b a@b\nend\n"},
    {"bad hex", "queue_id %GG\nsender a@b\nnexthop h\n"
                "rcpt 0 0 a@b a@b\nend\n"},
    {"escaped NUL", "queue_id Q%00\nsender a@b\nnexthop h\n"
                    "rcpt 0 0 a@b a@b\nend\n"},
    {"arrival with sign", "queue_id Q\nsender a@b\nnexthop h\n"
                          "arrival -1\nrcpt 0 0 a@b a@b\nend\n"},
    {"arrival overflow",
        "queue_id Q\nsender a@b\nnexthop h\n"
        "arrival 18446744073709551616\nrcpt 0 0 a@b a@b\nend\n"},
    {"rcpt short", "queue_id Q\nsender a@b\nnexthop h\n"
                   "rcpt 0 0 a@b\nend\n"},
    {"rcpt long", "queue_id Q\nsender a@b\nnexthop h\n"
                  "rcpt 0 0 a@b a@b x\nend\n"},
    {"rcpt index junk", "queue_id Q\nsender a@b\nnexthop h\n"
                        "rcpt 0x1 0 a@b a@b\nend\n"},
    {"rcpt index too big", "queue_id Q\nsender a@b\nnexthop h\n"
                           "rcpt 1000001 0 a@b a@b\nend\n"},
    {"rcpt notify too big", "queue_id Q\nsender a@b\nnexthop h\n"
                            "rcpt 0 256 a@b a@b\nend\n"},
    {"rcpt empty address", "queue_id Q\nsender a@b\nnexthop h\n"
                           "rcpt 0 0 - a@b\nend\n"},
    {"attr short", "queue_id Q\nsender a@b\nnexthop h\nattr x\n"
                   "rcpt 0 0 a@b a@b\nend\n"},
    {"sender twice words", "queue_id Q\nsender a@b c\nnexthop h\n"
                           "rcpt 0 0 a@b a@b\nend\n"},
};

static void
test_request_malformed(void **state)
{
	struct str *why = str_new(256);
	struct deliver_request rq;
	size_t n;

	for (size_t i = 0; i < FCT_NELEM(bad_requests); i++) {
		const struct bad *b = &bad_requests[i];
		/* "NUL in a line" holds a NUL: measure through "end\n". */
		n = strcmp(b->name, "NUL in a line") == 0
		        ? sizeof("queue_id Q\0x\nsender a@b\nnexthop h\n"
		                 "rcpt 0 0 a@b a@b\nend\n") -
		              1
		        : strlen(b->text);
		str_clear(why);
		if (deliver_request_parse(
		        (const uint8_t *)b->text, n, &rq, why) == 0)
			fail_msg("%s: parsed", b->name);
		if (str_len(why) == 0)
			fail_msg("%s: refused without a reason", b->name);
		/* Refused: nothing to clear, every field zero. */
		assert_null(rq.queue_id);
		assert_null(rq.rcpts);
	}
	/* The good one parses (the table is not refusing everything). */
	assert_int_equal(parse_req(good_request, &rq, why), 0);
	deliver_request_clear(&rq);
	str_free(&why);
}

static const struct bad bad_replies[] = {
    {"no end", "status 0 sent 2.0.0 local ok\n"},
    {"data after end", "status 0 sent 2.0.0 local ok\nend\nend\n"},
    {"unknown kind", "status 0 done 2.0.0 local ok\nend\n"},
    {"short status", "status 0 sent 2.0.0 local\nend\n"},
    {"long status", "status 0 sent 2.0.0 local ok x\nend\n"},
    {"class mismatch sent", "status 0 sent 4.0.0 local ok\nend\n"},
    {"class mismatch defer", "status 0 defer 5.0.0 local ok\nend\n"},
    {"class mismatch bounce", "status 0 bounce 2.0.0 local ok\nend\n"},
    {"dsn junk", "status 0 sent 2.x.0 local ok\nend\n"},
    {"dsn short", "status 0 sent 2.0 local ok\nend\n"},
    {"dsn dots", "status 0 sent 2.... local ok\nend\n"},
    {"dsn long part", "status 0 sent 2.0000.0 local ok\nend\n"},
    {"dsn too long", "status 0 sent 2.000.0000 local ok\nend\n"},
    {"index junk", "status x sent 2.0.0 local ok\nend\n"},
    {"forward without status", "forward 0 a@b\nend\n"},
    {"forward then other index",
        "forward 0 a@b\nstatus 1 forward 2.0.0 local f\nend\n"},
    {"forward then sent", "forward 0 a@b\nstatus 0 sent 2.0.0 local f\n"
                          "end\n"},
    {"forward status alone", "status 0 forward 2.0.0 local f\nend\n"},
    {"forwards of two indexes", "forward 0 a@b\nforward 1 c@d\n"
                                "status 0 forward 2.0.0 local f\nend\n"},
    {"forward empty address", "forward 0 -\n"
                              "status 0 forward 2.0.0 local f\nend\n"},
    {"forward short", "forward 0\nstatus 0 forward 2.0.0 local f\nend\n"},
    {"request line", "queue_id Q\nend\n"},
    {"bad escape in text", "status 0 sent 2.0.0 local %zz\nend\n"},
};

static void
test_reply_malformed(void **state)
{
	struct str *why = str_new(256);
	struct deliver_reply rp;

	for (size_t i = 0; i < FCT_NELEM(bad_replies); i++) {
		str_clear(why);
		if (parse_rep(bad_replies[i].text, &rp, why) == 0)
			fail_msg("%s: parsed", bad_replies[i].name);
		if (str_len(why) == 0)
			fail_msg("%s: no reason", bad_replies[i].name);
		assert_null(rp.v);
		assert_int_equal(rp.n, 0);
	}
	assert_int_equal(parse_rep("end\n", &rp, why), 0);
	assert_int_equal(rp.n, 0);
	deliver_reply_clear(&rp);
	str_free(&why);
}

/* A request line of exactly len bytes (without its LF). */
static char *
request_with_line(size_t len)
{
	const char *head = "queue_id Q\nsender a@b\nnexthop h\nattr x ";
	const char *tail = "\nrcpt 0 0 a@b a@b\nend\n";
	size_t pre = strlen("attr x "),
	       n = strlen(head) + len - pre + strlen(tail);
	char *s = malloc(n + 1);

	strcpy(s, head);
	memset(s + strlen(head), 'v', len - pre);
	strcpy(s + strlen(head) + len - pre, tail);
	return s;
}

static void
test_bounds(void **state)
{
	struct str *why = str_new(256);
	struct deliver_request rq;
	struct deliver_reply rp;
	char *s;

	/* Line limit - 1, limit, limit + 1. */
	for (size_t len = DELIVER_LINE_MAX - 1; len <= DELIVER_LINE_MAX + 1;
	     len++) {
		s = request_with_line(len);
		int rc = parse_req(s, &rq, why);
		if (len <= DELIVER_LINE_MAX) {
			assert_int_equal(rc, 0);
			deliver_request_clear(&rq);
		} else
			assert_int_equal(rc, -1);
		free(s);
	}

	/* DELIVER_RCPT_MAX recipients pass, one more does not. */
	struct str *m = str_new(CAP);
	assert_int_equal(
	    str_appends(m, "queue_id Q\nsender a@b\nnexthop h\n"), 0);
	for (size_t i = 0; i < DELIVER_RCPT_MAX; i++)
		assert_int_equal(str_appendf(m, "rcpt %zu 0 a@b a@b\n", i), 0);
	assert_int_equal(str_appends(m, "end\n"), 0);
	assert_int_equal(
	    deliver_request_parse(str_data(m), str_len(m), &rq, why), 0);
	assert_int_equal(rq.nrcpts, DELIVER_RCPT_MAX);
	deliver_request_clear(&rq);
	str_truncate(m, str_len(m) - 4);
	assert_int_equal(str_appends(m, "rcpt 1 0 a@b a@b\nend\n"), 0);
	assert_int_equal(
	    deliver_request_parse(str_data(m), str_len(m), &rq, why), -1);

	/* DELIVER_FORWARD_MAX forwards for one recipient, then one more. */
	str_clear(m);
	for (size_t i = 0; i < DELIVER_FORWARD_MAX; i++)
		assert_int_equal(str_appendf(m, "forward 0 a%zu@b\n", i), 0);
	assert_int_equal(str_appends(m, "status 0 forward 2.0.0 local f\n"
	                                "end\n"),
	    0);
	assert_int_equal(
	    deliver_reply_parse(str_data(m), str_len(m), &rp, why), 0);
	assert_int_equal(rp.v[0].nforward, DELIVER_FORWARD_MAX);
	deliver_reply_clear(&rp);
	str_clear(m);
	for (size_t i = 0; i <= DELIVER_FORWARD_MAX; i++)
		assert_int_equal(str_appendf(m, "forward 0 a%zu@b\n", i), 0);
	assert_int_equal(str_appends(m, "status 0 forward 2.0.0 local f\n"
	                                "end\n"),
	    0);
	assert_int_equal(
	    deliver_reply_parse(str_data(m), str_len(m), &rp, why), -1);

	/* Status text: DELIVER_TEXT_MAX bytes pass, one more does not. */
	for (size_t len = DELIVER_TEXT_MAX; len <= DELIVER_TEXT_MAX + 1;
	     len++) {
		str_clear(m);
		assert_int_equal(
		    str_appends(m, "status 0 sent 2.0.0 local "), 0);
		for (size_t i = 0; i < len; i++)
			assert_int_equal(str_appendc(m, 't'), 0);
		assert_int_equal(str_appends(m, "\nend\n"), 0);
		int rc = deliver_reply_parse(str_data(m), str_len(m), &rp, why);
		assert_int_equal(rc, len <= DELIVER_TEXT_MAX ? 0 : -1);
		deliver_reply_clear(&rp);
	}
	/* deliver_reply_add() cuts a long text to what parses. */
	char *longtext = malloc(DELIVER_TEXT_MAX * 2 + 1);
	memset(longtext, 'x', DELIVER_TEXT_MAX * 2);
	longtext[DELIVER_TEXT_MAX * 2] = '\0';
	deliver_reply_add(&rp, 0, DELIVER_DEFER, "4.0.0", "local", longtext);
	assert_int_equal(strlen(rp.v[0].text), DELIVER_TEXT_MAX);
	str_clear(m);
	assert_int_equal(deliver_reply_format(&rp, m), 0);
	deliver_reply_clear(&rp);
	assert_int_equal(
	    deliver_reply_parse(str_data(m), str_len(m), &rp, why), 0);
	deliver_reply_clear(&rp);
	free(longtext);

	/* A message longer than DELIVER_MSG_MAX is refused whole. */
	uint8_t *big = malloc(DELIVER_MSG_MAX + 5);
	memset(big, 'a', DELIVER_MSG_MAX + 1);
	memcpy(big + DELIVER_MSG_MAX + 1, "end\n", 4);
	assert_int_equal(
	    deliver_request_parse(big, DELIVER_MSG_MAX + 5, &rq, why), -1);
	free(big);
	str_free(&m);
	str_free(&why);
}

static void
test_message_len(void **state)
{
	static const struct {
		const char *in;
		size_t want;
	} cases[] = {
	    {"", 0},
	    {"end", 0},
	    {"end\n", 4},
	    {"a\nend\n", 6},
	    {"a\nend\nb\n", 6},
	    {"xend\n", 0},
	    {"endx\n", 0},
	    {"end\r\n", 0},
	    {"a b\nend", 0},
	    {"\nend\n", 5},
	};

	for (size_t i = 0; i < FCT_NELEM(cases); i++)
		if (deliver_message_len((const uint8_t *)cases[i].in,
		        strlen(cases[i].in)) != cases[i].want)
			fail_msg(
			    "\"%s\": want %zu", cases[i].in, cases[i].want);
}

static void
test_reply_check(void **state)
{
	struct str *why = str_new(256);
	struct deliver_request rq;
	struct deliver_reply rp;
	static const struct {
		const char *reply;
		int want;
	} cases[] = {
	    {"status 0 sent 2.0.0 local a\nstatus 4 defer 4.0.0 local b\n"
	     "end\n",
	        0},
	    {"status 4 defer 4.0.0 local b\nstatus 0 sent 2.0.0 local a\n"
	     "end\n",
	        0},
	    {"status 0 sent 2.0.0 local a\nend\n", -1},
	    {"end\n", -1},
	    {"status 0 sent 2.0.0 local a\nstatus 0 sent 2.0.0 local a\n"
	     "end\n",
	        -1},
	    {"status 0 sent 2.0.0 local a\nstatus 5 sent 2.0.0 local a\n"
	     "end\n",
	        -1},
	    {"status 0 sent 2.0.0 local a\nstatus 4 sent 2.0.0 local a\n"
	     "status 1 sent 2.0.0 local a\nend\n",
	        -1},
	};

	assert_int_equal(parse_req("queue_id Q\nsender a@b\nnexthop h\n"
	                           "rcpt 0 0 a@b a@b\nrcpt 4 0 c@d c@d\nend\n",
	                     &rq, why),
	    0);
	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		assert_int_equal(parse_rep(cases[i].reply, &rp, why), 0);
		str_clear(why);
		if (deliver_reply_check(&rq, &rp, why) != cases[i].want)
			fail_msg("case %zu: want %d", i, cases[i].want);
		if (cases[i].want < 0 && str_len(why) == 0)
			fail_msg("case %zu: no reason", i);
		deliver_reply_clear(&rp);
	}
	deliver_request_clear(&rq);
	str_free(&why);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_round_trip),
	    cmocka_unit_test(test_reply_round_trip),
	    cmocka_unit_test(test_request_malformed),
	    cmocka_unit_test(test_reply_malformed),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_message_len),
	    cmocka_unit_test(test_reply_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
