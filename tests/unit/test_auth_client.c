/*
 * test_auth_client - lib/auth_proto (request and answer lines, field
 * rules, limits), lib/penalty (counts, reset, eviction, delays) and
 * lib/auth_client against a fake auth service in the same event loop:
 * OK, FAIL, TEMP, garbage, a closed connection, no socket, a timeout,
 * a name no account can have, and cancellation.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/auth_client.h"
#include "lib/auth_proto.h"
#include "lib/event.h"
#include "lib/penalty.h"
#include "lib/secret.h"
#include "lib/sock.h"
#include "lib/str.h"

static char tmpdir[] = "/var/tmp/facteur-test-authc.XXXXXX";
static char sockpath[256];

static int
setup(void **state)
{
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(sockpath, sizeof(sockpath), "%s/client", tmpdir);
	return 0;
}

static int
teardown(void **state)
{
	unlink(sockpath);
	return rmdir(tmpdir);
}

static const uint8_t *
u8(const char *s)
{
	return (const uint8_t *)s;
}

/* ---- auth_proto ---- */

static void
test_request_format(void **state)
{
	struct secret *out = secret_new(AUTH_LINE_MAX + 1);
	struct str *why = str_new(256);

	assert_int_equal(auth_proto_request_format(out, "smtpd", "192.0.2.1",
	                     "ann@example.test", 16, "pw", 2, why),
	    0);
	assert_string_equal(
	    secret_c(out), "AUTH smtpd 192.0.2.1 ann@example.test cHc=\n");
	/* Refused fields, and the output left empty. */
	const struct {
		const char *svc, *addr, *user, *pw;
		size_t pw_len;
	} bad[] = {
	    {"SMTPD", "a", "u", "p", 1},
	    {"", "a", "u", "p", 1},
	    {"smtpd", "", "u", "p", 1},
	    {"smtpd", "a b", "u", "p", 1},
	    {"smtpd", "a", "", "p", 1},
	    {"smtpd", "a", "u v", "p", 1},
	    {"smtpd", "a", "u\r", "p", 1},
	    {"smtpd", "a", "u\x7f", "p", 1},
	    {"smtpd", "a", "u", "", 0},
	    {"smtpd", "a", "u", "p\0q", 3},
	};
	for (size_t i = 0; i < FCT_NELEM(bad); i++) {
		str_clear(why);
		if (auth_proto_request_format(out, bad[i].svc, bad[i].addr,
		        bad[i].user, strlen(bad[i].user), bad[i].pw,
		        bad[i].pw_len, why) != -1)
			fail_msg("case %zu accepted", i);
		assert_int_equal(secret_len(out), 0);
		assert_true(str_len(why) > 0);
	}
	/* The longest fields fit in AUTH_LINE_MAX. */
	char *user = malloc(SASL_ID_MAX + 1), *pw = malloc(SASL_PASS_MAX + 1);
	char svc[AUTH_SERVICE_MAX + 1], addr[AUTH_ADDR_MAX + 1];
	memset(user, 'u', SASL_ID_MAX);
	memset(pw, 'p', SASL_PASS_MAX);
	memset(svc, 's', AUTH_SERVICE_MAX);
	memset(addr, 'a', AUTH_ADDR_MAX);
	svc[AUTH_SERVICE_MAX] = addr[AUTH_ADDR_MAX] = '\0';
	assert_int_equal(auth_proto_request_format(out, svc, addr, user,
	                     SASL_ID_MAX, pw, SASL_PASS_MAX, why),
	    0);
	assert_int_equal(secret_len(out), AUTH_LINE_MAX + 1);
	/* One more byte anywhere is refused. */
	assert_int_equal(auth_proto_request_format(out, svc, addr, user,
	                     SASL_ID_MAX + 1, pw, SASL_PASS_MAX, why),
	    -1);
	assert_int_equal(auth_proto_request_format(out, svc, addr, user,
	                     SASL_ID_MAX, pw, SASL_PASS_MAX + 1, why),
	    -1);
	free(user);
	free(pw);
	secret_free(&out);
	str_free(&why);
}

struct parse_case {
	const char *line;
	int rc;
	const char *user, *pw;
};

static void
test_request_parse(void **state)
{
	/* clang-format off */
	static const struct parse_case cases[] = {
		{ "AUTH smtpd 192.0.2.1 ann@x cHc=", 0, "ann@x", "pw" },
		{ "AUTH imapd ::1 d\xc3\xa9mo cHc=", 0, "d\xc3\xa9mo", "pw" },
		{ "AUTH smtpd 192.0.2.1 ann@x cHc", -1, NULL, NULL },
		{ "AUTH smtpd 192.0.2.1 ann@x ", -1, NULL, NULL },
		{ "AUTH smtpd 192.0.2.1 ann@x", -1, NULL, NULL },
		{ "AUTH smtpd 192.0.2.1 ann@x cHc= extra", -1, NULL, NULL },
		{ "AUTH  smtpd 192.0.2.1 ann@x cHc=", -1, NULL, NULL },
		{ "AUTH smtpd  192.0.2.1 ann@x cHc=", -1, NULL, NULL },
		{ "auth smtpd 192.0.2.1 ann@x cHc=", -1, NULL, NULL },
		{ "AUTH SMTPD 192.0.2.1 ann@x cHc=", -1, NULL, NULL },
		{ "AUTH smtpd 192.0.2.1 ann@x cAB3", -1, NULL, NULL }, /* NUL */
		{ "AUTH smtpd 192.0.2.1 ann@x cHc=\r", -1, NULL, NULL },
		{ "AUTH smtpd 192.0.2.1 a\tb cHc=", -1, NULL, NULL },
		{ "", -1, NULL, NULL },
		{ "AUTH", -1, NULL, NULL },
	};
	/* clang-format on */
	struct secret *pw = secret_new(SASL_PASS_MAX);
	struct str *why = str_new(256);

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		struct auth_proto_req r;
		int rc = auth_proto_request_parse(
		    u8(cases[i].line), strlen(cases[i].line), &r, pw, why);

		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d", cases[i].line, rc);
		if (rc == 0) {
			assert_int_equal(r.user_len, strlen(cases[i].user));
			assert_memory_equal(r.user, cases[i].user, r.user_len);
			assert_string_equal(secret_c(pw), cases[i].pw);
		} else {
			assert_int_equal(secret_len(pw), 0);
		}
	}
	/* Round trip of a password with every byte but NUL. */
	struct secret *line = secret_new(AUTH_LINE_MAX + 1);
	char all[255];
	for (int i = 0; i < 255; i++)
		all[i] = (char)(i + 1);
	assert_int_equal(auth_proto_request_format(line, "pop3d", "unknown",
	                     "x@y", 3, all, sizeof(all), why),
	    0);
	struct auth_proto_req r;
	assert_int_equal(auth_proto_request_parse(secret_data(line),
	                     secret_len(line) - 1, &r, pw, why),
	    0);
	assert_int_equal(secret_len(pw), sizeof(all));
	assert_memory_equal(secret_data(pw), all, sizeof(all));
	assert_int_equal(r.service_len, 5);
	assert_memory_equal(r.addr, "unknown", 7);
	/* Over the line limit. */
	assert_int_equal(auth_proto_request_parse(
	                     secret_data(line), AUTH_LINE_MAX + 1, &r, pw, why),
	    -1);
	secret_free(&line);
	secret_free(&pw);
	str_free(&why);
}

static void
test_answers(void **state)
{
	struct str *out = str_new(512), *reason = str_new(512);
	enum auth_answer a;

	assert_int_equal(
	    auth_proto_answer_format(AUTH_ANSWER_OK, NULL, out), 0);
	assert_int_equal(
	    auth_proto_answer_format(AUTH_ANSWER_FAIL, NULL, out), 0);
	assert_int_equal(
	    auth_proto_answer_format(AUTH_ANSWER_TEMP, "table\nbroken", out),
	    0);
	assert_int_equal(
	    auth_proto_answer_format(AUTH_ANSWER_TEMP, "", out), 0);
	assert_string_equal(
	    str_c(out), "OK\nFAIL\nTEMP table?broken\nTEMP unavailable\n");
	assert_int_equal(auth_proto_answer_parse(u8("OK"), 2, &a, reason), 0);
	assert_int_equal(a, AUTH_ANSWER_OK);
	assert_int_equal(auth_proto_answer_parse(u8("FAIL"), 4, &a, reason), 0);
	assert_int_equal(a, AUTH_ANSWER_FAIL);
	assert_int_equal(
	    auth_proto_answer_parse(u8("TEMP why"), 8, &a, reason), 0);
	assert_int_equal(a, AUTH_ANSWER_TEMP);
	assert_string_equal(str_c(reason), "why");
	const char *bad[] = {
	    "", "ok", "OK ", "FAILED", "TEMP", "TEMP ", "TEMP \x01", "YES"};
	for (size_t i = 0; i < FCT_NELEM(bad); i++)
		assert_int_equal(auth_proto_answer_parse(
		                     u8(bad[i]), strlen(bad[i]), &a, NULL),
		    -1);
	str_free(&out);
	str_free(&reason);
}

/* ---- penalty ---- */

static void
test_penalty(void **state)
{
	struct penalty *p = penalty_new(3, 1000);

	assert_int_equal(penalty_count(p, "a:1", 3, 0), 0);
	assert_int_equal(penalty_fail(p, "a:1", 3, 0), 1);
	assert_int_equal(penalty_fail(p, "a:1", 3, 10), 2);
	assert_int_equal(penalty_fail(p, "u:x", 3, 20), 1);
	assert_int_equal(penalty_count(p, "a:1", 3, 999), 2);
	/* Quiet for reset_ms (from the last failure): forgotten. */
	assert_int_equal(penalty_count(p, "a:1", 3, 1010), 0);
	assert_int_equal(penalty_size(p), 1);
	/* A success clears. */
	assert_int_equal(penalty_fail(p, "u:x", 3, 30), 2);
	penalty_clear(p, "u:x", 3);
	assert_int_equal(penalty_count(p, "u:x", 3, 31), 0);
	/* Full: the key idle longest makes room. */
	assert_int_equal(penalty_fail(p, "k1", 2, 100), 1);
	assert_int_equal(penalty_fail(p, "k2", 2, 200), 1);
	assert_int_equal(penalty_fail(p, "k3", 2, 300), 1);
	assert_int_equal(penalty_fail(p, "k2", 2, 400), 2);
	assert_int_equal(penalty_fail(p, "k4", 2, 500), 1);
	assert_int_equal(penalty_size(p), 3);
	assert_int_equal(penalty_count(p, "k1", 2, 500), 0);
	assert_int_equal(penalty_count(p, "k2", 2, 500), 2);
	/* Keys with NUL and 8-bit bytes are just bytes. */
	assert_int_equal(penalty_fail(p, "a\0b", 3, 600), 1);
	assert_int_equal(penalty_count(p, "a\0c", 3, 600), 0);
	assert_int_equal(penalty_count(p, "a\0b", 3, 600), 1);
	penalty_free(&p);
	assert_null(p);

	/* Delays: 0, 0, base, 2 base, 4 base ... capped. */
	const uint64_t want[] = {0, 0, 1, 2, 4, 8, 15, 15};
	for (unsigned n = 0; n < FCT_NELEM(want); n++)
		assert_int_equal(penalty_delay(n, 1, 15), want[n]);
	assert_int_equal(penalty_delay(100, 3, 60), 60);
	assert_int_equal(penalty_delay(UINT32_MAX, 1, 30), 30);
	assert_int_equal(penalty_delay(2, 100, 30), 30);
}

/* ---- auth_client against a fake service ---- */

enum fake_mode {
	FAKE_OK,
	FAKE_FAIL,
	FAKE_TEMP,
	FAKE_GARBAGE,
	FAKE_CLOSE,
	FAKE_SILENT,
	FAKE_SLOW
};

struct fake {
	struct event_loop *loop;
	int lfd, cfd;
	enum fake_mode mode;
	char got[AUTH_LINE_MAX + 2];
	size_t got_len;
	bool closed;
};

static void
fake_conn(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct fake *f = arg;
	ssize_t n = recv(fd, f->got + f->got_len,
	    sizeof(f->got) - 1 - f->got_len, MSG_DONTWAIT);
	const char *ans = NULL;

	if (n <= 0) {
		event_fd_del(loop, fd);
		close(fd);
		f->cfd = -1;
		f->closed = true;
		return;
	}
	f->got_len += (size_t)n;
	f->got[f->got_len] = '\0';
	if (memchr(f->got, '\n', f->got_len) == NULL)
		return;
	switch (f->mode) {
	case FAKE_OK:
		ans = "OK\n";
		break;
	case FAKE_FAIL:
		ans = "FAIL\n";
		break;
	case FAKE_TEMP:
		ans = "TEMP table lookup failed\n";
		break;
	case FAKE_GARBAGE:
		ans = "MAYBE\n";
		break;
	case FAKE_SLOW:
		ans = "O"; /* and never the rest */
		break;
	case FAKE_CLOSE:
		event_fd_del(loop, fd);
		close(fd);
		f->cfd = -1;
		return;
	case FAKE_SILENT:
		return;
	}
	assert_true(
	    send(fd, ans, strlen(ans), MSG_NOSIGNAL) == (ssize_t)strlen(ans));
}

static void
fake_accept(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct fake *f = arg;
	int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	assert_true(c >= 0);
	f->cfd = c;
	f->got_len = 0;
	assert_int_equal(event_fd_add(loop, c, EV_READ, fake_conn, f), 0);
}

struct result {
	int calls;
	enum auth_result r;
	char why[256];
	struct event_loop *loop;
};

static void
done(enum auth_result r, const char *why, void *arg)
{
	struct result *res = arg;

	res->calls++;
	res->r = r;
	snprintf(res->why, sizeof(res->why), "%s", why);
}

static struct result
run_one(struct fake *f, enum fake_mode mode, const char *path, const char *user,
    const char *pw, uint64_t timeout_ms)
{
	struct result res = {.loop = f->loop};
	struct auth_client_req *req;

	f->mode = mode;
	req = auth_client_start(f->loop, path, timeout_ms, "smtpd", "192.0.2.1",
	    user, strlen(user), pw, strlen(pw), done, &res);
	assert_non_null(req);
	/* Never a call back from inside start. */
	assert_int_equal(res.calls, 0);
	for (int i = 0; i < 1000 && res.calls == 0; i++)
		assert_true(event_run_once(f->loop, 5000) >= 0);
	assert_int_equal(res.calls, 1);
	if (f->cfd >= 0) {
		event_fd_del(f->loop, f->cfd);
		close(f->cfd);
		f->cfd = -1;
	}
	return res;
}

static void
test_client(void **state)
{
	struct fake f = {.cfd = -1};
	struct str *why = str_new(256);
	struct result r;

	f.loop = event_new();
	f.lfd = sock_listen_unix(sockpath, SOCK_STREAM, 0600, why);
	assert_true(f.lfd >= 0);
	assert_int_equal(fd_set_nonblock(f.lfd, true), 0);
	assert_int_equal(
	    event_fd_add(f.loop, f.lfd, EV_READ, fake_accept, &f), 0);

	r = run_one(&f, FAKE_OK, sockpath, "ann@example.test", "pw", 10000);
	assert_int_equal(r.r, AUTH_RESULT_OK);
	assert_string_equal(f.got, "AUTH smtpd 192.0.2.1 ann@example.test "
	                           "cHc=\n");
	r = run_one(&f, FAKE_FAIL, sockpath, "ann@example.test", "pw", 10000);
	assert_int_equal(r.r, AUTH_RESULT_FAIL);
	r = run_one(&f, FAKE_TEMP, sockpath, "ann@example.test", "pw", 10000);
	assert_int_equal(r.r, AUTH_RESULT_UNAVAILABLE);
	assert_non_null(strstr(r.why, "table lookup failed"));
	r = run_one(
	    &f, FAKE_GARBAGE, sockpath, "ann@example.test", "pw", 10000);
	assert_int_equal(r.r, AUTH_RESULT_UNAVAILABLE);
	assert_non_null(strstr(r.why, "garbled"));
	r = run_one(&f, FAKE_CLOSE, sockpath, "ann@example.test", "pw", 10000);
	assert_int_equal(r.r, AUTH_RESULT_UNAVAILABLE);
	assert_non_null(strstr(r.why, "closed"));
	r = run_one(&f, FAKE_SILENT, sockpath, "ann@example.test", "pw", 50);
	assert_int_equal(r.r, AUTH_RESULT_UNAVAILABLE);
	assert_non_null(strstr(r.why, "timed out"));
	r = run_one(&f, FAKE_SLOW, sockpath, "ann@example.test", "pw", 50);
	assert_int_equal(r.r, AUTH_RESULT_UNAVAILABLE);
	/* A name no account can have: FAIL without asking. */
	f.got_len = 0;
	f.got[0] = '\0';
	r = run_one(&f, FAKE_OK, sockpath, "ann example", "pw", 10000);
	assert_int_equal(r.r, AUTH_RESULT_FAIL);
	assert_int_equal(f.got_len, 0);
	/* No socket: unavailable, from the loop too. */
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/nothing", tmpdir);
	r = run_one(&f, FAKE_OK, missing, "ann@example.test", "pw", 10000);
	assert_int_equal(r.r, AUTH_RESULT_UNAVAILABLE);
	assert_non_null(strstr(r.why, "No such file"));

	/* Cancelled: never called back. */
	struct result res = {.loop = f.loop};
	struct auth_client_req *req = auth_client_start(f.loop, sockpath, 50,
	    "smtpd", "192.0.2.1", "ann@example.test", 16, "pw", 2, done, &res);
	auth_client_cancel(&req);
	assert_null(req);
	auth_client_cancel(&req);
	for (int i = 0; i < 5; i++)
		assert_true(event_run_once(f.loop, 100) >= 0);
	assert_int_equal(res.calls, 0);
	if (f.cfd >= 0)
		close(f.cfd);

	assert_string_equal(auth_result_name(AUTH_RESULT_OK), "ok");
	assert_string_equal(
	    auth_result_name(AUTH_RESULT_UNAVAILABLE), "unavailable");
	event_fd_del(f.loop, f.lfd);
	close(f.lfd);
	event_free(&f.loop);
	str_free(&why);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_format),
	    cmocka_unit_test(test_request_parse),
	    cmocka_unit_test(test_answers),
	    cmocka_unit_test(test_penalty),
	    cmocka_unit_test(test_client),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
