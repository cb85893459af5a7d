/*
 * sasl - PLAIN and LOGIN exchanges as a state machine over bytes.
 *
 * Never: keep a credential byte in memory that sasl_free() or a failure
 * does not wipe, or accept a second NUL-free reading of a PLAIN message.
 */
#include "lib/sasl.h"

#include <string.h>

#include "lib/base64.h"
#include "lib/secret.h"

/* "Username:" and "Password:" in base64 (LOGIN's challenges). */
#define LOGIN_CHALLENGE_USER "VXNlcm5hbWU6"
#define LOGIN_CHALLENGE_PASS "UGFzc3dvcmQ6"

enum sasl_state {
	ST_NEW,
	ST_PLAIN,      /* waiting for PLAIN's message */
	ST_LOGIN_USER, /* waiting for LOGIN's user name */
	ST_LOGIN_PASS, /* waiting for LOGIN's password */
	ST_DONE,
	ST_FAILED,
};

struct sasl {
	enum sasl_mech mech;
	enum sasl_state state;
	const char *challenge;
	struct secret *msg; /* one decoded response */
	struct secret *authcid;
	struct secret *passwd;
};

static const char *const mech_names[] = {
    [SASL_MECH_PLAIN] = "PLAIN",
    [SASL_MECH_LOGIN] = "LOGIN",
};

int
sasl_mech_parse(const uint8_t *name, size_t len, enum sasl_mech *m_r)
{
	for (size_t i = 0; i < FCT_NELEM(mech_names); i++)
		if (strlen(mech_names[i]) == len &&
		    ascii_memcaseeq(name, mech_names[i], len)) {
			*m_r = (enum sasl_mech)i;
			return 0;
		}
	return -1;
}

const char *
sasl_mech_name(enum sasl_mech m)
{
	FCT_ASSERT((size_t)m < FCT_NELEM(mech_names));
	return mech_names[m];
}

const char *
sasl_mech_list(void)
{
	return "PLAIN LOGIN";
}

const char *
sasl_smtp_reply(enum sasl_result r)
{
	switch (r) {
	case SASL_ERR_DECODE:
		return SASL_REPLY_DECODE;
	case SASL_ERR_CANCEL:
		return SASL_REPLY_CANCEL;
	case SASL_ERR_TOOLONG:
		return SASL_REPLY_TOOLONG;
	case SASL_ERR_AUTHZID:
		return SASL_REPLY_AUTHZID;
	case SASL_CONTINUE:
	case SASL_DONE:
		break;
	}
	return NULL;
}

struct sasl *
sasl_new(enum sasl_mech m)
{
	struct sasl *s = x_calloc(1, sizeof(*s));

	FCT_ASSERT((size_t)m < FCT_NELEM(mech_names));
	s->mech = m;
	s->state = ST_NEW;
	s->challenge = "";
	s->msg = secret_new(BASE64_DECODED_MAX(SASL_LINE_MAX));
	s->authcid = secret_new(SASL_ID_MAX);
	s->passwd = secret_new(SASL_PASS_MAX);
	return s;
}

void
sasl_free(struct sasl **sp)
{
	struct sasl *s = *sp;

	if (s == NULL)
		return;
	secret_free(&s->msg);
	secret_free(&s->authcid);
	secret_free(&s->passwd);
	x_free(sp);
}

static enum sasl_result
fail(struct sasl *s, enum sasl_result r)
{
	secret_clear(s->msg);
	secret_clear(s->authcid);
	secret_clear(s->passwd);
	s->state = ST_FAILED;
	s->challenge = "";
	return r;
}

static bool
id_ok(const uint8_t *p, size_t len)
{
	if (len == 0 || len > SASL_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

static bool
passwd_ok(const uint8_t *p, size_t len)
{
	return len > 0 && len <= SASL_PASS_MAX && memchr(p, '\0', len) == NULL;
}

enum sasl_result
sasl_plain_parse(const uint8_t *msg, size_t len, const uint8_t **authcid_r,
    size_t *authcid_len_r, const uint8_t **passwd_r, size_t *passwd_len_r)
{
	const uint8_t *nul1, *nul2, *cid, *pw;
	size_t zid_len, cid_len, pw_len;

	/*
	 * RFC 4616 §2: message = [authzid] NUL authcid NUL passwd, where
	 * none of the three holds a NUL.  In other words: exactly two
	 * NULs, and the parts between them as they are.
	 */
	if ((nul1 = memchr(msg, '\0', len)) == NULL)
		return SASL_ERR_DECODE;
	zid_len = (size_t)(nul1 - msg);
	cid = nul1 + 1;
	if ((nul2 = memchr(cid, '\0', len - zid_len - 1)) == NULL)
		return SASL_ERR_DECODE;
	cid_len = (size_t)(nul2 - cid);
	pw = nul2 + 1;
	pw_len = len - zid_len - cid_len - 2;
	if (!id_ok(cid, cid_len) || !passwd_ok(pw, pw_len))
		return SASL_ERR_DECODE;
	if (zid_len > 0 && !id_ok(msg, zid_len))
		return SASL_ERR_DECODE;
	/* We never let one account act for another. */
	if (zid_len > 0 && (zid_len != cid_len || memcmp(msg, cid, cid_len)))
		return SASL_ERR_AUTHZID;
	*authcid_r = cid;
	*authcid_len_r = cid_len;
	*passwd_r = pw;
	*passwd_len_r = pw_len;
	return SASL_DONE;
}

/* Decode one response into s->msg; "=" is empty when initial. */
static int
decode(struct sasl *s, const uint8_t *p, size_t len, bool initial)
{
	size_t room, n;
	uint8_t *dst;

	secret_clear(s->msg);
	if (initial && len == 1 && p[0] == '=')
		return 0;
	dst = secret_space(s->msg, &room);
	if (base64_decode(p, len, dst, room, &n) < 0) {
		secret_clear(s->msg);
		return -1;
	}
	secret_wrote(s->msg, n);
	return 0;
}

static enum sasl_result
take_plain(struct sasl *s)
{
	const uint8_t *cid, *pw;
	size_t cid_len, pw_len;
	enum sasl_result r;

	r = sasl_plain_parse(secret_data(s->msg), secret_len(s->msg), &cid,
	    &cid_len, &pw, &pw_len);
	if (r != SASL_DONE)
		return fail(s, r);
	if (secret_set(s->authcid, cid, cid_len) < 0 ||
	    secret_set(s->passwd, pw, pw_len) < 0)
		return fail(s, SASL_ERR_DECODE);
	secret_clear(s->msg);
	s->state = ST_DONE;
	return SASL_DONE;
}

static enum sasl_result
take_login_user(struct sasl *s)
{
	if (!id_ok(secret_data(s->msg), secret_len(s->msg)) ||
	    secret_set(s->authcid, secret_data(s->msg), secret_len(s->msg)) < 0)
		return fail(s, SASL_ERR_DECODE);
	secret_clear(s->msg);
	s->state = ST_LOGIN_PASS;
	s->challenge = LOGIN_CHALLENGE_PASS;
	return SASL_CONTINUE;
}

static enum sasl_result
take_login_pass(struct sasl *s)
{
	if (!passwd_ok(secret_data(s->msg), secret_len(s->msg)) ||
	    secret_set(s->passwd, secret_data(s->msg), secret_len(s->msg)) < 0)
		return fail(s, SASL_ERR_DECODE);
	secret_clear(s->msg);
	s->state = ST_DONE;
	s->challenge = "";
	return SASL_DONE;
}

enum sasl_result
sasl_start(struct sasl *s, const uint8_t *initial, size_t len, bool has_initial)
{
	FCT_ASSERT(s->state == ST_NEW);
	if (has_initial && len > SASL_LINE_MAX)
		return fail(s, SASL_ERR_TOOLONG);
	if (has_initial && decode(s, initial, len, true) < 0)
		return fail(s, SASL_ERR_DECODE);
	switch (s->mech) {
	case SASL_MECH_PLAIN:
		if (has_initial)
			return take_plain(s);
		s->state = ST_PLAIN;
		s->challenge = "";
		return SASL_CONTINUE;
	case SASL_MECH_LOGIN:
		if (has_initial)
			return take_login_user(s);
		s->state = ST_LOGIN_USER;
		s->challenge = LOGIN_CHALLENGE_USER;
		return SASL_CONTINUE;
	}
	return fail(s, SASL_ERR_DECODE);
}

enum sasl_result
sasl_step(struct sasl *s, const uint8_t *line, size_t len)
{
	FCT_ASSERT(s->state == ST_PLAIN || s->state == ST_LOGIN_USER ||
	           s->state == ST_LOGIN_PASS);
	if (len > SASL_LINE_MAX)
		return fail(s, SASL_ERR_TOOLONG);
	/* RFC 4954 §4: a line with a single "*" cancels the exchange. */
	if (len == 1 && line[0] == '*')
		return fail(s, SASL_ERR_CANCEL);
	if (decode(s, line, len, false) < 0)
		return fail(s, SASL_ERR_DECODE);
	switch (s->state) {
	case ST_PLAIN:
		return take_plain(s);
	case ST_LOGIN_USER:
		return take_login_user(s);
	case ST_LOGIN_PASS:
		return take_login_pass(s);
	default:
		break;
	}
	return fail(s, SASL_ERR_DECODE);
}

const char *
sasl_challenge(const struct sasl *s)
{
	return s->challenge;
}

const char *
sasl_authcid(const struct sasl *s, size_t *len_r)
{
	FCT_ASSERT(s->state == ST_DONE);
	if (len_r != NULL)
		*len_r = secret_len(s->authcid);
	return secret_c(s->authcid);
}

const char *
sasl_passwd(const struct sasl *s, size_t *len_r)
{
	FCT_ASSERT(s->state == ST_DONE);
	if (len_r != NULL)
		*len_r = secret_len(s->passwd);
	return secret_c(s->passwd);
}
