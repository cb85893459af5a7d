/*
 * admin_proto - qmgr administration commands and answers (see
 * admin_proto.h).
 *
 * Never: read past len, or accept a NUL or control byte in a line.
 */
#include "lib/admin_proto.h"

#include <string.h>

static const char *const verbs[] = {
	[ADMIN_HOLD] = "hold",
	[ADMIN_RELEASE] = "release",
	[ADMIN_REQUEUE] = "requeue",
	[ADMIN_DELETE] = "delete",
	[ADMIN_FLUSH] = "flush",
	[ADMIN_EXPIRE] = "expire",
};

const char *
admin_verb_name(enum admin_verb v)
{
	return (unsigned)v < FCT_NELEM(verbs) ? verbs[v] : NULL;
}

int
admin_verb_parse(const char *p, size_t len, enum admin_verb *v_r)
{
	for (size_t i = 0; i < FCT_NELEM(verbs); i++)
		if (strlen(verbs[i]) == len && memcmp(verbs[i], p, len) == 0) {
			*v_r = (enum admin_verb)i;
			return 0;
		}
	return -1;
}

static bool
printable(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] >= 0x7f)
			return false;
	return true;
}

int
admin_cmd_parse(const char *line, size_t len, struct admin_cmd *c,
    struct str *why)
{
	const char *sp, *arg;
	size_t vlen, alen;

	memset(c, 0, sizeof(*c));
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0 || len > ADMIN_LINE_MAX || !printable(line, len)) {
		str_notef(why, "bad command line");
		return -1;
	}
	sp = memchr(line, ' ', len);
	vlen = sp ? (size_t)(sp - line) : len;
	if (admin_verb_parse(line, vlen, &c->verb) < 0) {
		str_notef(why, "unknown command");
		return -1;
	}
	if (c->verb == ADMIN_FLUSH) {
		if (sp != NULL) {
			str_notef(why, "flush takes no argument");
			return -1;
		}
		return 0;
	}
	if (sp == NULL) {
		str_notef(why, "%s needs a queue id or ALL", verbs[c->verb]);
		return -1;
	}
	arg = sp + 1;
	alen = len - vlen - 1;
	if (alen == 3 && memcmp(arg, "ALL", 3) == 0) {
		c->all = true;
		return 0;
	}
	if (!queue_id_check(arg, alen)) {
		str_notef(why, "not a queue id");
		return -1;
	}
	memcpy(c->id, arg, alen);
	c->id[alen] = '\0';
	return 0;
}

int
admin_cmd_format(const struct admin_cmd *c, struct str *out)
{
	const char *v = admin_verb_name(c->verb);

	if (v == NULL)
		return -1;
	if (c->verb == ADMIN_FLUSH)
		return str_appendf(out, "%s\n", v);
	return str_appendf(out, "%s %s\n", v, c->all ? "ALL" : c->id);
}

int
admin_reply_parse(const char *line, size_t len, uint64_t *count_r,
    struct str *text_r)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > ADMIN_LINE_MAX || !printable(line, len))
		return -1;
	if (len > 3 && memcmp(line, "ok ", 3) == 0)
		return num_parse_u64(line + 3, len - 3, UINT64_MAX, count_r) < 0
			   ? -1
			   : 0;
	if (len > 6 && memcmp(line, "error ", 6) == 0) {
		str_notef(text_r, "%.*s", (int)(len - 6), line + 6);
		return 1;
	}
	return -1;
}
