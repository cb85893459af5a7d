/*
 * test_dsn - lib/dsn: RFC 3464 notices composed from a message in
 * memory: structure, fields per recipient, RET (full or headers), a
 * boundary that the content already holds (also across a read chunk),
 * folding of long diagnostics, control bytes, 8-bit content, empty
 * content, the three actions, and a failing sink.  Each notice is also
 * parsed back with Python's email package (/usr/bin/python3), the way a
 * mail client would read it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/dsn.h"
#include "lib/str.h"

#define T_ARRIVAL UINT64_C(1700000000123456)
#define T_NOW     UINT64_C(1700000100654321)

static const char message[] =
    "Received: from client.example.org (unknown [127.0.0.1])\r\n"
    "\tby mail.example.test (facteur) with ESMTP id 1r31eq0W7E5BAN\r\n"
    "From: Ann <ann@example.org>\r\n"
    "To: bob@example.test\r\n"
    "Subject: the original\r\n"
    "\r\n"
    "first body line\r\n"
    "second body line\r\n";

struct out {
	struct str *s;
	int fail_after; /* sink calls before it fails; -1: never */
};

static enum status
sink(void *ctx, const void *p, size_t n, struct str *why)
{
	struct out *o = ctx;

	if (o->fail_after == 0) {
		str_notef(why, "disk full");
		return STATUS_TEMP;
	}
	if (o->fail_after > 0)
		o->fail_after--;
	if (str_append(o->s, p, n) < 0) {
		str_notef(why, "test buffer full");
		return STATUS_PERM;
	}
	return STATUS_OK;
}

static const struct dsn_rcpt rcpts2[] = {
	{ "bob@example.test", "rfc822;Bob@Example.test", "5.1.1", NULL,
	    "unknown user: \"bob\"" },
	{ "carol@remote.test", NULL, "5.7.1", "mx.remote.test",
	    "550 5.7.1 <carol@remote.test>: relay denied" },
};

static struct dsn_report
report(enum dsn_action a, const struct dsn_rcpt *rc, size_t n)
{
	struct dsn_report r = { 0 };

	r.action = a;
	r.queue_id = "1r31eq0W7E5BAN";
	r.reporting_mta = "mail.example.test";
	r.sender = "ann@example.org";
	r.to = "ann@example.org";
	r.envid = "ENV-42";
	r.return_full = true;
	r.arrival_us = T_ARRIVAL;
	r.now_us = T_NOW;
	r.rcpts = rc;
	r.nrcpts = n;
	return r;
}

/* Compose r over content[0..len) into a new string (caller frees). */
static struct str *
compose(const struct dsn_report *r, const void *content, size_t len,
    enum status want)
{
	struct queue_mem mem = { content, len };
	struct queue_env env = { 0 };
	struct out o = { str_new(64u << 20), -1 };
	struct str *why = str_new(1024);
	enum status st;

	env.content_off = 0;
	env.content_len = len;
	st = dsn_compose(r, queue_pread_mem, &mem, &env, sink, &o, why);
	if (st != want)
		fail_msg("dsn_compose: want %d, got %d (%s)", want, st,
		    str_c(why));
	str_free(&why);
	return o.s;
}

/* Every line ends in CRLF, none is longer than 998 octets. */
static void
check_lines(const struct str *s)
{
	const uint8_t *p = str_data(s);
	size_t n = str_len(s), start = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			assert_true(i > 0 && p[i - 1] == '\r');
			assert_true(i - start <= 999);
			start = i + 1;
		} else if (p[i] == '\r') {
			assert_true(i + 1 < n && p[i + 1] == '\n');
		}
	}
	assert_int_equal(start, n);
}

static bool
has(const struct str *s, const char *needle)
{
	return memmem(str_data(s), str_len(s), needle, strlen(needle)) != NULL;
}

/*
 * Parse the notice with Python's email package and check what a client
 * sees: multipart/report of delivery-status, three parts, the status
 * part's blocks, and the returned part.  ret: "full", "headers".
 */
static const char py_check[] =
    "import email, email.policy, sys\n"
    "raw = open(sys.argv[1], 'rb').read()\n"
    "m = email.message_from_bytes(raw)\n"
    "assert m.get_content_type() == 'multipart/report', m.get_content_type()\n"
    "assert m.get_param('report-type') == 'delivery-status'\n"
    "assert m['From'].startswith('MAILER-DAEMON@mail.example.test')\n"
    "assert m['Auto-Submitted'] == 'auto-replied'\n"
    "parts = m.get_payload()\n"
    "assert len(parts) == 3, len(parts)\n"
    "assert parts[0].get_content_type() == 'text/plain'\n"
    "assert parts[1].get_content_type() == 'message/delivery-status'\n"
    "blocks = parts[1].get_payload()\n"
    "assert blocks[0]['Reporting-MTA'] == 'dns; mail.example.test'\n"
    "assert blocks[0]['Arrival-Date']\n"
    "want = sys.argv[2].split(',')\n"
    "got = [b['Final-Recipient'].split(';', 1)[1].strip() for b in "
    "blocks[1:]]\n"
    "assert got == want, (got, want)\n"
    "for b in blocks[1:]:\n"
    "    assert b['Action'] == sys.argv[3], b['Action']\n"
    "    assert b['Status'][0] in '245'\n"
    "ret = parts[2]\n"
    "if sys.argv[4] == 'full':\n"
    "    assert ret.get_content_type() == 'message/rfc822'\n"
    "    inner = ret.get_payload()[0]\n"
    "    assert inner['Subject'] == 'the original', inner['Subject']\n"
    "    assert 'first body line' in inner.get_payload()\n"
    "else:\n"
    "    assert ret.get_content_type() == 'text/rfc822-headers'\n"
    "    body = ret.get_payload()\n"
    "    assert 'Subject: the original' in body\n"
    "    assert 'first body line' not in body\n";

static void
python_check(const struct str *s, const char *rcpts, const char *action,
    const char *ret)
{
	char msg[] = "/var/tmp/facteur-test-dsn.XXXXXX";
	char py[] = "/var/tmp/facteur-test-dsn-py.XXXXXX";
	char cmd[1024];
	int fd, st;

	if (access("/usr/bin/python3", X_OK) != 0) {
		fprintf(stderr, "no /usr/bin/python3: parse check skipped\n");
		return;
	}
	fd = mkstemp(msg);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, str_data(s), str_len(s)),
	    (ssize_t)str_len(s));
	close(fd);
	fd = mkstemp(py);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, py_check, strlen(py_check)),
	    (ssize_t)strlen(py_check));
	close(fd);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s '%s' %s %s", py,
	    msg, rcpts, action, ret);
	st = system(cmd);
	unlink(msg);
	unlink(py);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("python's email package refused the notice");
}

static void
test_failed_full(void **state)
{
	struct dsn_report r = report(DSN_ACTION_FAILED, rcpts2, 2);
	struct str *s = compose(&r, message, strlen(message), STATUS_OK);

	check_lines(s);
	assert_true(has(s, "Subject: Undelivered Mail Returned to Sender\r\n"));
	assert_true(has(s, "To: <ann@example.org>\r\n"));
	assert_true(has(s, "Content-Type: multipart/report; "
			   "report-type=delivery-status;\r\n"));
	assert_true(has(s, "\r\nReporting-MTA: dns; mail.example.test\r\n"));
	assert_true(has(s, "\r\nOriginal-Envelope-Id: ENV-42\r\n"));
	assert_true(has(s, "\r\nFinal-Recipient: rfc822; bob@example.test\r\n"
			   "Original-Recipient: rfc822; Bob@Example.test\r\n"
			   "Action: failed\r\nStatus: 5.1.1\r\n"
			   "Diagnostic-Code: x-unix; unknown user: \"bob\"\r\n"));
	assert_true(has(s, "\r\nFinal-Recipient: rfc822; carol@remote.test\r\n"
			   "Action: failed\r\nStatus: 5.7.1\r\n"
			   "Remote-MTA: dns; mx.remote.test\r\n"
			   "Diagnostic-Code: smtp; 550 5.7.1 "));
	assert_true(has(s, "Content-Type: message/rfc822\r\n\r\n"));
	assert_true(has(s, message));
	assert_true(has(s, "<bob@example.test>: unknown user: \"bob\"\r\n"));
	assert_false(has(s, "Content-Transfer-Encoding"));
	python_check(s, "bob@example.test,carol@remote.test", "failed",
	    "full");
	str_free(&s);
}

static void
test_failed_headers_only(void **state)
{
	struct dsn_report r = report(DSN_ACTION_FAILED, rcpts2, 1);
	struct str *s;

	r.return_full = false;
	s = compose(&r, message, strlen(message), STATUS_OK);
	check_lines(s);
	assert_true(has(s, "Content-Type: text/rfc822-headers\r\n\r\n"
			   "Received: from client"));
	assert_true(has(s, "Subject: the original\r\n\r\n--"));
	assert_false(has(s, "first body line"));
	python_check(s, "bob@example.test", "failed", "headers");
	str_free(&s);
}

static void
test_delayed_and_delivered(void **state)
{
	static const struct dsn_rcpt d[] = {
		{ "bob@remote.test", NULL, "4.4.1", NULL,
		    "connect to mx.remote.test: Connection refused" },
	};
	static const struct dsn_rcpt ok[] = {
		{ "bob@example.test", NULL, "2.0.0", NULL,
		    "delivered to maildir" },
	};
	struct dsn_report r = report(DSN_ACTION_DELAYED, d, 1);
	struct str *s;

	r.return_full = false;
	r.retry_until_us = T_ARRIVAL + UINT64_C(5) * 86400 * 1000000;
	s = compose(&r, message, strlen(message), STATUS_OK);
	check_lines(s);
	assert_true(has(s, "Subject: Delayed Mail (still being retried)\r\n"));
	assert_true(has(s, "Action: delayed\r\nStatus: 4.4.1\r\n"));
	assert_true(has(s, "Will-Retry-Until: "));
	python_check(s, "bob@remote.test", "delayed", "headers");
	str_free(&s);

	r = report(DSN_ACTION_DELIVERED, ok, 1);
	r.return_full = false;
	s = compose(&r, message, strlen(message), STATUS_OK);
	assert_true(has(s, "Subject: Successful Mail Delivery Report\r\n"));
	assert_true(has(s, "Action: delivered\r\nStatus: 2.0.0\r\n"));
	python_check(s, "bob@example.test", "delivered", "headers");
	str_free(&s);

	r = report(DSN_ACTION_FAILED, rcpts2, 1);
	r.postmaster_copy = true;
	r.sender = "";
	r.to = "postmaster@mail.example.test";
	s = compose(&r, message, strlen(message), STATUS_OK);
	assert_true(has(s, "Subject: Postmaster Copy: Undelivered Mail\r\n"));
	assert_true(has(s, "X-Facteur-Sender: rfc822;\r\n"));
	python_check(s, "bob@example.test", "failed", "full");
	str_free(&s);
}

/* The content holds the first boundary: the next one is taken. */
static void
test_boundary_avoids_content(void **state)
{
	const char *b0 = "--1r31eq0W7E5BAN.1700000100654321.0/mail.example.test";
	const char *b1 = "boundary=\"1r31eq0W7E5BAN.1700000100654321.1/";
	struct dsn_report r = report(DSN_ACTION_FAILED, rcpts2, 1);
	struct str *c = str_new(1 << 20), *s;

	/* Once near the start ... */
	assert_int_equal(str_appendf(c, "Subject: the original\r\n\r\n"
					"first body line\r\n%s\r\n", b0),
	    0);
	s = compose(&r, str_data(c), str_len(c), STATUS_OK);
	assert_true(has(s, b1));
	python_check(s, "bob@example.test", "failed", "full");
	str_free(&s);

	/* ... and across the composer's 64 KiB read chunks. */
	str_clear(c);
	assert_int_equal(str_appends(c, "Subject: x\r\n\r\n"), 0);
	while (str_len(c) < 65536 - 20)
		assert_int_equal(str_appends(c, "0123456789\r\n"), 0);
	while (str_len(c) < 65536 - 20)
		assert_int_equal(str_appendc(c, 'x'), 0);
	assert_int_equal(str_appendf(c, "%s\r\nend\r\n", b0), 0);
	s = compose(&r, str_data(c), str_len(c), STATUS_OK);
	assert_true(has(s, b1));
	check_lines(s);
	str_free(&s);
	str_free(&c);
}

static void
test_long_and_dirty_text(void **state)
{
	struct dsn_rcpt rc = { "bob@example.test", NULL, "5.0.0", NULL, NULL };
	struct dsn_report r = report(DSN_ACTION_FAILED, &rc, 1);
	struct str *diag = str_new(8192), *s;

	/* 2000 bytes of words, a 1500-byte word, CR, LF, NUL-free junk. */
	for (int i = 0; i < 200; i++)
		assert_int_equal(str_appends(diag, "word word "), 0);
	for (int i = 0; i < 1500; i++)
		assert_int_equal(str_appendc(diag, 'w'), 0);
	assert_int_equal(str_appends(diag, " a\r\nInjected: header\x01\x7f"), 0);
	rc.diag = str_c(diag);
	s = compose(&r, message, strlen(message), STATUS_OK);
	check_lines(s);
	assert_false(has(s, "\r\nInjected: header"));
	python_check(s, "bob@example.test", "failed", "full");
	str_free(&s);
	str_free(&diag);
}

static void
test_odd_content(void **state)
{
	struct dsn_report r = report(DSN_ACTION_FAILED, rcpts2, 1);
	static const char eight[] = "Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve\r\n";
	static const char nohead[] = "\r\nbody only\r\n";
	static const char noblank[] = "Subject: x\r\nX-Only: headers\r\n";
	struct str *s;

	s = compose(&r, "", 0, STATUS_OK);
	check_lines(s);
	str_free(&s);

	s = compose(&r, eight, strlen(eight), STATUS_OK);
	assert_true(has(s, "Content-Transfer-Encoding: 8bit\r\n"));
	assert_true(has(s, "na\xc3\xafve"));
	str_free(&s);

	r.return_full = false;
	s = compose(&r, nohead, strlen(nohead), STATUS_OK);
	assert_true(has(s, "text/rfc822-headers\r\n\r\n\r\n--"));
	assert_false(has(s, "body only"));
	str_free(&s);

	s = compose(&r, noblank, strlen(noblank), STATUS_OK);
	assert_true(has(s, "X-Only: headers\r\n\r\n--"));
	str_free(&s);
}

static void
test_sink_failure(void **state)
{
	struct dsn_report r = report(DSN_ACTION_FAILED, rcpts2, 2);
	struct queue_mem mem = { (const uint8_t *)message, strlen(message) };
	struct queue_env env = { .content_len = strlen(message) };
	struct out o = { str_new(1 << 20), 0 };
	struct str *why = str_new(1024);

	assert_int_equal(dsn_compose(&r, queue_pread_mem, &mem, &env, sink,
			     &o, why),
	    STATUS_TEMP);
	assert_true(strstr(str_c(why), "disk full") != NULL);
	/* A content shorter than the envelope says: a damaged file. */
	env.content_len = strlen(message) + 10;
	o.fail_after = -1;
	str_clear(why);
	assert_int_equal(dsn_compose(&r, queue_pread_mem, &mem, &env, sink,
			     &o, why),
	    STATUS_PERM);
	str_free(&o.s);
	str_free(&why);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failed_full),
		cmocka_unit_test(test_failed_headers_only),
		cmocka_unit_test(test_delayed_and_delivered),
		cmocka_unit_test(test_boundary_avoids_content),
		cmocka_unit_test(test_long_and_dirty_text),
		cmocka_unit_test(test_odd_content),
		cmocka_unit_test(test_sink_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
