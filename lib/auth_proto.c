/*
 * auth_proto - format and parse the auth service's lines.
 *
 * Never: copy a password into anything but a struct secret.
 */
#include "lib/auth_proto.h"

#include <string.h>

#include "lib/base64.h"

bool
auth_proto_service_ok(const char *p, size_t len)
{
	if (len == 0 || len > AUTH_SERVICE_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') ||
		        (p[i] >= '0' && p[i] <= '9') || p[i] == '-'))
			return false;
	return true;
}

bool
auth_proto_addr_ok(const char *p, size_t len)
{
	if (len == 0 || len > AUTH_ADDR_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] <= ' ' || p[i] >= 0x7f)
			return false;
	return true;
}

bool
auth_proto_user_ok(const char *p, size_t len)
{
	if (len == 0 || len > SASL_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c <= ' ' || c == 0x7f)
			return false;
	}
	return true;
}

int
auth_proto_request_format(struct secret *out, const char *service,
    const char *addr, const char *user, size_t user_len, const char *pw,
    size_t pw_len, struct str *why)
{
	uint8_t *dst;
	size_t room, n;

	secret_clear(out);
	if (!auth_proto_service_ok(service, strlen(service))) {
		str_notef(why, "bad service name");
		return -1;
	}
	if (!auth_proto_addr_ok(addr, strlen(addr))) {
		str_notef(why, "bad client address");
		return -1;
	}
	if (!auth_proto_user_ok(user, user_len)) {
		str_notef(why, "user name empty, too long, or with a blank or "
		               "control byte");
		return -1;
	}
	if (pw_len == 0 || pw_len > SASL_PASS_MAX ||
	    memchr(pw, '\0', pw_len) != NULL) {
		str_notef(why, "password empty, too long, or with a NUL");
		return -1;
	}
	if (secret_append(out, "AUTH ", 5) < 0 ||
	    secret_append(out, service, strlen(service)) < 0 ||
	    secret_append(out, " ", 1) < 0 ||
	    secret_append(out, addr, strlen(addr)) < 0 ||
	    secret_append(out, " ", 1) < 0 ||
	    secret_append(out, user, user_len) < 0 ||
	    secret_append(out, " ", 1) < 0)
		goto toolong;
	dst = secret_space(out, &room);
	if (base64_encode_buf((const uint8_t *)pw, pw_len, dst, room, &n) < 0)
		goto toolong;
	secret_wrote(out, n);
	if (secret_append(out, "\n", 1) < 0)
		goto toolong;
	return 0;
toolong:
	secret_clear(out);
	str_notef(why, "request too long");
	return -1;
}

/* The next field of line from *pos up to a blank (or the end). */
static bool
field(const uint8_t *line, size_t len, size_t *pos, const char **f_r,
    size_t *flen_r, bool last)
{
	size_t start = *pos, i = start;

	while (i < len && line[i] != ' ')
		i++;
	if (i == start || (last ? i != len : i == len))
		return false;
	*f_r = (const char *)line + start;
	*flen_r = i - start;
	*pos = last ? i : i + 1;
	return true;
}

int
auth_proto_request_parse(const uint8_t *line, size_t len,
    struct auth_proto_req *r, struct secret *pw_r, struct str *why)
{
	const char *pw64;
	size_t pos = 5, pw64_len, room, n;
	uint8_t *dst;

	secret_clear(pw_r);
	memset(r, 0, sizeof(*r));
	if (len > AUTH_LINE_MAX) {
		str_notef(why, "request line too long");
		return -1;
	}
	if (len < 5 || memcmp(line, "AUTH ", 5) != 0) {
		str_notef(why, "not an AUTH request");
		return -1;
	}
	if (!field(line, len, &pos, &r->service, &r->service_len, false) ||
	    !field(line, len, &pos, &r->addr, &r->addr_len, false) ||
	    !field(line, len, &pos, &r->user, &r->user_len, false) ||
	    !field(line, len, &pos, &pw64, &pw64_len, true)) {
		str_notef(why, "want AUTH service address user password");
		return -1;
	}
	if (!auth_proto_service_ok(r->service, r->service_len) ||
	    !auth_proto_addr_ok(r->addr, r->addr_len) ||
	    !auth_proto_user_ok(r->user, r->user_len)) {
		str_notef(why, "bad service, address or user field");
		return -1;
	}
	dst = secret_space(pw_r, &room);
	if (base64_decode((const uint8_t *)pw64, pw64_len, dst, room, &n) < 0 ||
	    n == 0 || memchr(dst, '\0', n) != NULL) {
		explicit_bzero(dst, room);
		str_notef(why, "bad password field");
		return -1;
	}
	secret_wrote(pw_r, n);
	return 0;
}

int
auth_proto_answer_format(
    enum auth_answer a, const char *reason, struct str *out)
{
	switch (a) {
	case AUTH_ANSWER_OK:
		return str_appends(out, "OK\n");
	case AUTH_ANSWER_FAIL:
		return str_appends(out, "FAIL\n");
	case AUTH_ANSWER_TEMP:
		break;
	}
	if (str_appends(out, "TEMP ") < 0)
		return -1;
	size_t n = 0;
	for (const char *p = reason ? reason : ""; *p && n < AUTH_REASON_MAX;
	     p++, n++)
		if (str_appendc(out, *p >= ' ' && *p < 0x7f ? *p : '?') < 0)
			return -1;
	if (n == 0 && str_appends(out, "unavailable") < 0)
		return -1;
	return str_appendc(out, '\n');
}

int
auth_proto_answer_parse(const uint8_t *line, size_t len, enum auth_answer *a_r,
    struct str *reason_r)
{
	if (len == 2 && memcmp(line, "OK", 2) == 0) {
		*a_r = AUTH_ANSWER_OK;
		return 0;
	}
	if (len == 4 && memcmp(line, "FAIL", 4) == 0) {
		*a_r = AUTH_ANSWER_FAIL;
		return 0;
	}
	if (len >= 6 && len <= 5 + AUTH_REASON_MAX &&
	    memcmp(line, "TEMP ", 5) == 0) {
		for (size_t i = 5; i < len; i++)
			if (line[i] < ' ' || line[i] >= 0x7f)
				return -1;
		*a_r = AUTH_ANSWER_TEMP;
		if (reason_r != NULL)
			str_notef(reason_r, "%.*s", (int)(len - 5),
			    (const char *)line + 5);
		return 0;
	}
	return -1;
}
