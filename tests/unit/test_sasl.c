/*
 * test_sasl - lib/base64 (strict decoding, round trips) and lib/sasl
 * (PLAIN and LOGIN exchanges, cancellation, limits, the SMTP replies).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/base64.h"
#include "lib/sasl.h"
#include "lib/str.h"

static const uint8_t *
u8(const char *s)
{
	return (const uint8_t *)s;
}

struct b64_case {
	const char *in;
	int rc;
	const char *out; /* decoded, for rc 0 */
	size_t out_len;
};

static void
test_base64_decode(void **state)
{
	/* clang-format off */
	static const struct b64_case cases[] = {
		{ "", 0, "", 0 },
		{ "QQ==", 0, "A", 1 },
		{ "QUI=", 0, "AB", 2 },
		{ "QUJD", 0, "ABC", 3 },
		{ "AGRlbW8AcHc=", 0, "\0demo\0pw", 8 },
		{ "+/+/", 0, "\xfb\xff\xbf", 3 },
		{ "/w==", 0, "\xff", 1 },
		{ "QQ", -1, NULL, 0 },		/* no padding */
		{ "QQ=", -1, NULL, 0 },
		{ "Q===", -1, NULL, 0 },	/* three pads */
		{ "====", -1, NULL, 0 },
		{ "QR==", -1, NULL, 0 },	/* unused bits set */
		{ "QUJ=", -1, NULL, 0 },	/* unused bits set */
		{ "QQ==QUJD", -1, NULL, 0 },	/* padding in the middle */
		{ "QU=D", -1, NULL, 0 },
		{ "QUJD ", -1, NULL, 0 },	/* blank */
		{ " QUJD", -1, NULL, 0 },
		{ "QU\nJD", -1, NULL, 0 },
		{ "QUJD\r", -1, NULL, 0 },
		{ "QU-D", -1, NULL, 0 },	/* base64url is not base64 */
		{ "QU_D", -1, NULL, 0 },
		{ "QU\xc3\xa9", -1, NULL, 0 },	/* 8-bit */
		{ "*", -1, NULL, 0 },
		{ "=", -1, NULL, 0 },
	};
	/* clang-format on */
	uint8_t out[64];

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		size_t n = 999;
		int rc = base64_decode(
		    u8(cases[i].in), strlen(cases[i].in), out, sizeof(out), &n);
		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d", cases[i].in, rc);
		if (rc == 0) {
			assert_int_equal(n, cases[i].out_len);
			assert_memory_equal(out, cases[i].out, n);
		}
	}
	/* A NUL inside the text is not base64. */
	size_t n;
	assert_int_equal(
	    base64_decode(u8("QU\0D"), 4, out, sizeof(out), &n), -1);
	/* Capacity: limit - 1, limit, limit + 1. */
	assert_int_equal(base64_decode(u8("QUJD"), 4, out, 2, &n), -1);
	assert_int_equal(base64_decode(u8("QUJD"), 4, out, 3, &n), 0);
	assert_int_equal(base64_decode(u8("QUJD"), 4, out, 4, &n), 0);
	assert_int_equal(base64_decode(u8("QUI="), 4, out, 2, &n), 0);
	assert_int_equal(n, 2);
}

static void
test_base64_round_trip(void **state)
{
	uint8_t in[300], out[300];
	struct str *enc = str_new(1024);

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 11);
	for (size_t len = 0; len <= sizeof(in); len++) {
		size_t n;

		str_clear(enc);
		assert_int_equal(base64_encode(in, len, enc), 0);
		assert_int_equal(str_len(enc), BASE64_ENCODED_LEN(len));
		assert_int_equal(
		    base64_decode(str_data(enc), str_len(enc), out, len, &n),
		    0);
		assert_int_equal(n, len);
		assert_memory_equal(in, out, len);
	}
	/* Past the cap: -1 and the string unchanged. */
	struct str *small = str_new(6);
	assert_int_equal(str_appends(small, "ab"), 0);
	assert_int_equal(base64_encode(u8("ABCD"), 4, small), -1);
	assert_string_equal(str_c(small), "ab");
	str_free(&small);
	str_free(&enc);
}

static void
test_mech(void **state)
{
	enum sasl_mech m;

	assert_int_equal(sasl_mech_parse(u8("PLAIN"), 5, &m), 0);
	assert_int_equal(m, SASL_MECH_PLAIN);
	assert_int_equal(sasl_mech_parse(u8("login"), 5, &m), 0);
	assert_int_equal(m, SASL_MECH_LOGIN);
	assert_int_equal(sasl_mech_parse(u8("CRAM-MD5"), 8, &m), -1);
	assert_int_equal(sasl_mech_parse(u8("PLAI"), 4, &m), -1);
	assert_int_equal(sasl_mech_parse(u8("PLAINX"), 6, &m), -1);
	assert_int_equal(sasl_mech_parse(u8(""), 0, &m), -1);
	assert_string_equal(sasl_mech_name(SASL_MECH_LOGIN), "LOGIN");
	assert_string_equal(sasl_mech_list(), "PLAIN LOGIN");
	assert_null(sasl_smtp_reply(SASL_DONE));
	assert_string_equal(sasl_smtp_reply(SASL_ERR_DECODE),
	    "501 5.5.2 Cannot decode response");
	assert_string_equal(sasl_smtp_reply(SASL_ERR_CANCEL),
	    "501 5.7.0 Authentication aborted");
	assert_string_equal(sasl_smtp_reply(SASL_ERR_TOOLONG),
	    "500 5.5.6 Authentication exchange line is too long");
	assert_non_null(strstr(sasl_smtp_reply(SASL_ERR_AUTHZID), "535 5.7.8"));
}

/* base64 of a byte string, into a new str. */
static struct str *
b64(const void *p, size_t n)
{
	struct str *s = str_new(4 * SASL_LINE_MAX);

	assert_int_equal(base64_encode(p, n, s), 0);
	return s;
}

struct plain_case {
	const char *name;
	const char *msg; /* decoded message */
	size_t len;
	enum sasl_result want;
	const char *user, *pass;
};

static void
test_plain_parse(void **state)
{
	/* clang-format off */
	static const struct plain_case cases[] = {
		{ "no authzid", "\0demo@x\0secret", 14, SASL_DONE, "demo@x", "secret" },
		{ "same authzid", "demo@x\0demo@x\0secret", 20, SASL_DONE, "demo@x", "secret" },
		{ "other authzid", "root@x\0demo@x\0secret", 20, SASL_ERR_AUTHZID, NULL, NULL },
		{ "authzid case", "Demo@x\0demo@x\0secret", 20, SASL_ERR_AUTHZID, NULL, NULL },
		{ "empty", "", 0, SASL_ERR_DECODE, NULL, NULL },
		{ "one NUL", "demo\0secret", 11, SASL_ERR_DECODE, NULL, NULL },
		{ "three NULs", "\0demo\0sec\0ret", 13, SASL_ERR_DECODE, NULL, NULL },
		{ "empty authcid", "\0\0secret", 8, SASL_ERR_DECODE, NULL, NULL },
		{ "empty password", "\0demo\0", 6, SASL_ERR_DECODE, NULL, NULL },
		{ "CR in authcid", "\0de\rmo\0pw", 9, SASL_ERR_DECODE, NULL, NULL },
		{ "LF in authcid", "\0de\nmo\0pw", 9, SASL_ERR_DECODE, NULL, NULL },
		{ "DEL in authcid", "\0de\x7fmo\0pw", 9, SASL_ERR_DECODE, NULL, NULL },
		{ "8-bit authcid", "\0d\xc3\xa9mo\0pw", 9, SASL_DONE, "d\xc3\xa9mo", "pw" },
		{ "8-bit password", "\0demo\0p\xffw", 9, SASL_DONE, "demo", "p\xffw" },
		{ "CR in password", "\0demo\0p\rw", 9, SASL_DONE, "demo", "p\rw" },
	};
	/* clang-format on */

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		const uint8_t *cid = NULL, *pw = NULL;
		size_t cid_len = 0, pw_len = 0;
		enum sasl_result r = sasl_plain_parse(u8(cases[i].msg),
		    cases[i].len, &cid, &cid_len, &pw, &pw_len);

		if (r != cases[i].want)
			fail_msg("%s: result %d, want %d", cases[i].name, r,
			    cases[i].want);
		if (r == SASL_DONE) {
			assert_int_equal(cid_len, strlen(cases[i].user));
			assert_memory_equal(cid, cases[i].user, cid_len);
			assert_int_equal(pw_len, strlen(cases[i].pass));
			assert_memory_equal(pw, cases[i].pass, pw_len);
		}
	}
}

static void
test_plain_limits(void **state)
{
	/* authcid and password: limit - 1, limit, limit + 1. */
	size_t sizes[] = {SASL_ID_MAX - 1, SASL_ID_MAX, SASL_ID_MAX + 1};
	char *msg = malloc(2 * SASL_PASS_MAX + 16);

	for (size_t i = 0; i < FCT_NELEM(sizes); i++) {
		const uint8_t *cid, *pw;
		size_t cl, pl, n = 0;

		msg[n++] = '\0';
		memset(msg + n, 'u', sizes[i]);
		n += sizes[i];
		msg[n++] = '\0';
		msg[n++] = 'p';
		assert_int_equal(
		    sasl_plain_parse(u8(msg), n, &cid, &cl, &pw, &pl),
		    sizes[i] <= SASL_ID_MAX ? SASL_DONE : SASL_ERR_DECODE);
	}
	size_t psizes[] = {SASL_PASS_MAX - 1, SASL_PASS_MAX, SASL_PASS_MAX + 1};
	for (size_t i = 0; i < FCT_NELEM(psizes); i++) {
		const uint8_t *cid, *pw;
		size_t cl, pl, n = 0;

		memcpy(msg, "\0u\0", 3);
		n = 3;
		memset(msg + n, 'p', psizes[i]);
		n += psizes[i];
		assert_int_equal(
		    sasl_plain_parse(u8(msg), n, &cid, &cl, &pw, &pl),
		    psizes[i] <= SASL_PASS_MAX ? SASL_DONE : SASL_ERR_DECODE);
	}
	free(msg);
}

static void
test_plain_initial(void **state)
{
	struct str *ir = b64("\0demo@example.test\0s3cret", 25);
	struct sasl *s = sasl_new(SASL_MECH_PLAIN);
	size_t n;

	assert_int_equal(
	    sasl_start(s, str_data(ir), str_len(ir), true), SASL_DONE);
	assert_string_equal(sasl_authcid(s, &n), "demo@example.test");
	assert_int_equal(n, 17);
	assert_string_equal(sasl_passwd(s, &n), "s3cret");
	assert_int_equal(n, 6);
	sasl_free(&s);
	assert_null(s);
	sasl_free(&s); /* NULL is fine */
	str_free(&ir);
}

static void
test_plain_challenge(void **state)
{
	struct str *resp = b64("\0demo\0pw", 8);
	struct sasl *s = sasl_new(SASL_MECH_PLAIN);

	assert_int_equal(sasl_start(s, NULL, 0, false), SASL_CONTINUE);
	assert_string_equal(sasl_challenge(s), "");
	assert_int_equal(
	    sasl_step(s, str_data(resp), str_len(resp)), SASL_DONE);
	assert_string_equal(sasl_authcid(s, NULL), "demo");
	assert_string_equal(sasl_passwd(s, NULL), "pw");
	sasl_free(&s);
	str_free(&resp);
}

struct step_case {
	const char *name;
	enum sasl_mech mech;
	bool has_initial;
	const char *initial;
	const char *lines[3];
	enum sasl_result want[4]; /* after start, then after each line */
};

static void
test_exchanges(void **state)
{
	/* clang-format off */
	static const struct step_case cases[] = {
		{ "plain = is empty", SASL_MECH_PLAIN, true, "=", { NULL },
		  { SASL_ERR_DECODE } },
		{ "plain bad base64 initial", SASL_MECH_PLAIN, true, "AGRlbW8AcHc", { NULL },
		  { SASL_ERR_DECODE } },
		{ "plain * initial is bad base64", SASL_MECH_PLAIN, true, "*", { NULL },
		  { SASL_ERR_DECODE } },
		{ "plain cancel", SASL_MECH_PLAIN, false, NULL, { "*" },
		  { SASL_CONTINUE, SASL_ERR_CANCEL } },
		{ "plain bad response", SASL_MECH_PLAIN, false, NULL, { "!!!!" },
		  { SASL_CONTINUE, SASL_ERR_DECODE } },
		{ "plain = response is bad", SASL_MECH_PLAIN, false, NULL, { "=" },
		  { SASL_CONTINUE, SASL_ERR_DECODE } },
		{ "plain empty response", SASL_MECH_PLAIN, false, NULL, { "" },
		  { SASL_CONTINUE, SASL_ERR_DECODE } },
		{ "plain authzid", SASL_MECH_PLAIN, true, "cm9vdABkZW1vAHB3", { NULL },
		  { SASL_ERR_AUTHZID } },
		{ "login", SASL_MECH_LOGIN, false, NULL, { "ZGVtbw==", "cHc=" },
		  { SASL_CONTINUE, SASL_CONTINUE, SASL_DONE } },
		{ "login initial", SASL_MECH_LOGIN, true, "ZGVtbw==", { "cHc=" },
		  { SASL_CONTINUE, SASL_DONE } },
		{ "login cancel user", SASL_MECH_LOGIN, false, NULL, { "*" },
		  { SASL_CONTINUE, SASL_ERR_CANCEL } },
		{ "login cancel password", SASL_MECH_LOGIN, false, NULL, { "ZGVtbw==", "*" },
		  { SASL_CONTINUE, SASL_CONTINUE, SASL_ERR_CANCEL } },
		{ "login empty user", SASL_MECH_LOGIN, false, NULL, { "" },
		  { SASL_CONTINUE, SASL_ERR_DECODE } },
		{ "login = initial", SASL_MECH_LOGIN, true, "=", { NULL },
		  { SASL_ERR_DECODE } },
		{ "login empty password", SASL_MECH_LOGIN, false, NULL, { "ZGVtbw==", "" },
		  { SASL_CONTINUE, SASL_CONTINUE, SASL_ERR_DECODE } },
		{ "login NUL in user", SASL_MECH_LOGIN, false, NULL, { "ZAB4" },
		  { SASL_CONTINUE, SASL_ERR_DECODE } },
		{ "login NUL in password", SASL_MECH_LOGIN, true, "ZGVtbw==", { "cAB3" },
		  { SASL_CONTINUE, SASL_ERR_DECODE } },
		{ "login bare CR in line", SASL_MECH_LOGIN, false, NULL, { "ZGVt\rbw==" },
		  { SASL_CONTINUE, SASL_ERR_DECODE } },
		{ "login ** is no cancel", SASL_MECH_LOGIN, false, NULL, { "**" },
		  { SASL_CONTINUE, SASL_ERR_DECODE } },
	};
	/* clang-format on */

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		const struct step_case *c = &cases[i];
		struct sasl *s = sasl_new(c->mech);
		const char *ini = c->initial ? c->initial : "";
		enum sasl_result r =
		    sasl_start(s, u8(ini), strlen(ini), c->has_initial);
		size_t k = 0;

		for (;;) {
			if (r != c->want[k])
				fail_msg("%s: step %zu: %d, want %d", c->name,
				    k, r, c->want[k]);
			if (r != SASL_CONTINUE || c->lines[k] == NULL)
				break;
			if (c->mech == SASL_MECH_LOGIN)
				assert_string_equal(sasl_challenge(s),
				    k == 0 && !c->has_initial ? "VXNlcm5hbWU6"
				                              : "UGFzc3dvcmQ6");
			r = sasl_step(s, u8(c->lines[k]), strlen(c->lines[k]));
			k++;
		}
		if (r == SASL_DONE) {
			assert_string_equal(sasl_authcid(s, NULL), "demo");
			assert_string_equal(sasl_passwd(s, NULL), "pw");
		} else if (r != SASL_CONTINUE) {
			assert_non_null(sasl_smtp_reply(r));
		}
		sasl_free(&s);
	}
}

static void
test_line_limit(void **state)
{
	/* A response line of limit - 1, limit and limit + 1 bytes. */
	size_t sizes[] = {SASL_LINE_MAX - 4, SASL_LINE_MAX, SASL_LINE_MAX + 1,
	    SASL_LINE_MAX + 4};
	uint8_t *line = malloc(SASL_LINE_MAX + 8);

	for (size_t i = 0; i < FCT_NELEM(sizes); i++) {
		struct sasl *s = sasl_new(SASL_MECH_LOGIN);

		memset(line, 'A', sizes[i]);
		assert_int_equal(sasl_start(s, NULL, 0, false), SASL_CONTINUE);
		/* All 'A' decodes to NUL bytes: a bad user name, but a
		 * decodable line when it fits. */
		enum sasl_result r = sasl_step(s, line, sizes[i]);
		if (sizes[i] > SASL_LINE_MAX)
			assert_int_equal(r, SASL_ERR_TOOLONG);
		else
			assert_int_equal(r, SASL_ERR_DECODE);
		sasl_free(&s);
	}
	/* The initial response has the same limit. */
	struct sasl *s = sasl_new(SASL_MECH_PLAIN);
	memset(line, 'A', SASL_LINE_MAX + 4);
	assert_int_equal(
	    sasl_start(s, line, SASL_LINE_MAX + 4, true), SASL_ERR_TOOLONG);
	sasl_free(&s);
	free(line);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64_decode),
	    cmocka_unit_test(test_base64_round_trip),
	    cmocka_unit_test(test_mech),
	    cmocka_unit_test(test_plain_parse),
	    cmocka_unit_test(test_plain_limits),
	    cmocka_unit_test(test_plain_initial),
	    cmocka_unit_test(test_plain_challenge),
	    cmocka_unit_test(test_exchanges),
	    cmocka_unit_test(test_line_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
