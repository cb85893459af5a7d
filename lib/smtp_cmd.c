/*
 * smtp_cmd - SMTP command line and ESMTP parameter parsers (paths are
 * in lib/smtp_path.c).
 *
 * Everything works on (pointer, length) pairs of the caller's line; output
 * goes to fixed, bounded fields of plain structs through one bounded
 * writer (struct bw) that refuses, never cuts.  Replies are built only
 * from constant text and echo_append(), which keeps printable ASCII.
 *
 * Never: read outside [p, p + n), write past a field, accept a byte the
 * header does not list, or return success with a half-filled result.
 */
#include "lib/smtp_cmd.h"

#include <string.h>

#include "lib/smtp_lex.h"

/*
 * Command line.
 */
static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
    {"HELO", SMTP_VERB_HELO},
    {"EHLO", SMTP_VERB_EHLO},
    {"MAIL", SMTP_VERB_MAIL},
    {"RCPT", SMTP_VERB_RCPT},
    {"DATA", SMTP_VERB_DATA},
    {"BDAT", SMTP_VERB_BDAT},
    {"RSET", SMTP_VERB_RSET},
    {"NOOP", SMTP_VERB_NOOP},
    {"QUIT", SMTP_VERB_QUIT},
    {"HELP", SMTP_VERB_HELP},
    {"VRFY", SMTP_VERB_VRFY},
    {"EXPN", SMTP_VERB_EXPN},
    {"STARTTLS", SMTP_VERB_STARTTLS},
    {"AUTH", SMTP_VERB_AUTH},
};

const char *
smtp_verb_name(enum smtp_verb verb)
{
	for (size_t i = 0; i < FCT_NELEM(verbs); i++)
		if (verbs[i].verb == verb)
			return verbs[i].name;
	return "UNKNOWN";
}

int
smtp_cmd_parse(
    const uint8_t *line, size_t len, struct smtp_cmd *cmd_r, struct str *reply)
{
	size_t start = 0, end = len, vend;

	cmd_r->verb = SMTP_VERB_UNKNOWN;
	cmd_r->arg = line;
	cmd_r->arg_len = 0;
	/*
	 * Sanity checks.  linebuf keeps a bare CR inside a line, and NUL has
	 * no business in a command: neither may reach a parser that hands
	 * strings to C code or to the log.
	 */
	for (size_t i = 0; i < len; i++)
		if (line[i] == '\0' || line[i] == '\r' || line[i] == '\n')
			return reply_set(reply, "500 5.5.2 Error: bad syntax");
	while (start < end && is_ws(line[start]))
		start++;
	while (end > start && is_ws(line[end - 1]))
		end--;
	if (start == end)
		return reply_set(reply, "500 5.5.2 Error: bad syntax");
	for (vend = start; vend < end && !is_ws(line[vend]); vend++)
		;
	for (size_t i = 0; i < FCT_NELEM(verbs); i++) {
		size_t n = strlen(verbs[i].name);
		if (n == vend - start &&
		    ascii_memcaseeq(line + start, verbs[i].name, n)) {
			cmd_r->verb = verbs[i].verb;
			break;
		}
	}
	while (vend < end && is_ws(line[vend]))
		vend++;
	cmd_r->arg = line + vend;
	cmd_r->arg_len = end - vend;
	if (cmd_r->verb == SMTP_VERB_UNKNOWN)
		return reply_set(
		    reply, "502 5.5.2 Error: command not recognized");
	return 0;
}

int
smtp_cmd_check_noarg(const struct smtp_cmd *cmd, struct str *reply)
{
	switch (cmd->verb) {
	case SMTP_VERB_DATA:
	case SMTP_VERB_RSET:
	case SMTP_VERB_QUIT:
	case SMTP_VERB_STARTTLS:
		if (cmd->arg_len == 0)
			return 0;
		if (reply != NULL) {
			reply_set(reply, "501 5.5.4 Syntax: ");
			str_notef(reply, "%s", smtp_verb_name(cmd->verb));
		}
		return -1;
	default:
		return 0;
	}
}

/*
 * Where the path in "FROM:" / "TO:" arguments ends.  p[0..n) is what
 * follows the colon.  Returns 1 and sets *start_r and *end_r, 0 when
 * there is no path at all, -1 when the path is malformed.
 */
static int
path_extent(
    const uint8_t *p, size_t n, size_t *start_r, size_t *end_r, bool *space_r)
{
	size_t i = 0;
	bool inq = false;

	while (i < n && is_ws(p[i]))
		i++;
	*space_r = i > 0;
	if (i == n)
		return 0;
	*start_r = i;
	if (p[i] == '<') {
		for (i++; i < n; i++) {
			if (inq && p[i] == '\\') {
				i++;
				continue;
			}
			if (p[i] == '"')
				inq = !inq;
			else if (!inq && p[i] == '>')
				break;
		}
		if (i >= n)
			return -1;
		i++;
	} else {
		for (; i < n; i++) {
			if (inq && p[i] == '\\') {
				i++;
				continue;
			}
			if (p[i] == '"')
				inq = !inq;
			else if (!inq && is_ws(p[i]))
				break;
		}
		if (i > n)
			i = n;
	}
	if (i < n && !is_ws(p[i]))
		return -1;
	*end_r = i;
	return 1;
}

/*
 * ESMTP parameters.
 */
enum param_id {
	P_SIZE,
	P_BODY,
	P_SMTPUTF8,
	P_RET,
	P_ENVID,
	P_AUTH,
	P_NOTIFY,
	P_ORCPT,
};

static const struct {
	const char *name;
	bool mail; /* MAIL (else RCPT) */
	unsigned ext;
} params[] = {
    [P_SIZE] = {"SIZE", true, SMTP_EXT_SIZE},
    [P_BODY] = {"BODY", true, SMTP_EXT_8BITMIME},
    [P_SMTPUTF8] = {"SMTPUTF8", true, SMTP_EXT_SMTPUTF8},
    [P_RET] = {"RET", true, SMTP_EXT_DSN},
    [P_ENVID] = {"ENVID", true, SMTP_EXT_DSN},
    [P_AUTH] = {"AUTH", true, SMTP_EXT_AUTH},
    [P_NOTIFY] = {"NOTIFY", false, SMTP_EXT_DSN},
    [P_ORCPT] = {"ORCPT", false, SMTP_EXT_DSN},
};

struct param {
	const uint8_t *tok; /* whole "KEY=value" */
	size_t tok_len;
	const uint8_t *val; /* after '=', NULL when there is no '=' */
	size_t val_len;
};

static bool
val_is(const struct param *pa, const char *word)
{
	size_t n = strlen(word);

	return pa->val != NULL && pa->val_len == n &&
	       ascii_memcaseeq(pa->val, word, n);
}

/* xtext into out[0..cap); raw_utf8 also takes well-formed raw UTF-8. */
static int
xtext_decode(const uint8_t *p, size_t n, bool raw_utf8, uint8_t *out,
    size_t cap, size_t *len_r)
{
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		uint8_t c = p[i], v = 0;
		size_t l = 1;

		if (c == '+') {
			if (n - i < 3)
				return -1;
			for (size_t k = 1; k <= 2; k++) {
				uint8_t h = p[i + k];
				v = (uint8_t)(v << 4);
				if (is_digit(h))
					v |= (uint8_t)(h - '0');
				else if (h >= 'A' && h <= 'F')
					v |= (uint8_t)(h - 'A' + 10);
				else if (h >= 'a' && h <= 'f')
					v |= (uint8_t)(h - 'a' + 10);
				else
					return -1;
			}
			if (o >= cap)
				return -1;
			out[o++] = v;
			i += 3;
			continue;
		}
		if (c >= 0x80) {
			if (!raw_utf8 || (l = utf8_len(p + i, n - i)) == 0)
				return -1;
		} else if (c < '!' || c > '~' || c == '=')
			return -1;
		if (l > cap - o)
			return -1;
		memcpy(out + o, p + i, l);
		o += l;
		i += l;
	}
	*len_r = o;
	return 0;
}

int
smtp_xtext_decode(
    const uint8_t *p, size_t n, uint8_t *out, size_t cap, size_t *len_r)
{
	return xtext_decode(p, n, false, out, cap, len_r);
}

int
smtp_xtext_encode(const uint8_t *p, size_t n, struct str *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t mark = str_len(out);

	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		int rc;

		if (c >= '!' && c <= '~' && c != '+' && c != '=')
			rc = str_appendc(out, (char)c);
		else
			rc = str_appendf(
			    out, "+%c%c", hex[c >> 4], hex[c & 0xf]);
		if (rc < 0) {
			str_truncate(out, mark);
			return -1;
		}
	}
	return 0;
}

/* Decoded text: printable ASCII, plus well-formed UTF-8 when utf8. */
static bool
text_ok(const uint8_t *p, size_t n, bool utf8)
{
	for (size_t i = 0; i < n;) {
		if (is_print(p[i])) {
			i++;
			continue;
		}
		size_t l = (utf8 && p[i] >= 0x80) ? utf8_len(p + i, n - i) : 0;
		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

static int
do_size(struct smtp_mail *m, const struct param *pa, struct str *reply)
{
	if (pa->val == NULL || pa->val_len == 0)
		return reply_set(reply, "501 5.5.4 Bad message size syntax");
	for (size_t i = 0; i < pa->val_len; i++)
		if (!is_digit(pa->val[i]))
			return reply_set(
			    reply, "501 5.5.4 Bad message size syntax");
	/* All digits: the only way left to fail is overflow. */
	if (num_parse_u64(
	        (const char *)pa->val, pa->val_len, UINT64_MAX, &m->size) < 0)
		return reply_set(reply, "552 5.3.4 Message size exceeds file "
		                        "system imposed limit");
	m->has_size = true;
	return 0;
}

static int
do_envid(struct smtp_mail *m, const struct param *pa, struct str *reply)
{
	if (pa->val == NULL || pa->val_len == 0 ||
	    pa->val_len > SMTP_ENVID_MAX ||
	    xtext_decode(pa->val, pa->val_len, false, (uint8_t *)m->envid,
	        SMTP_ENVID_MAX, &m->envid_len) < 0 ||
	    !text_ok((const uint8_t *)m->envid, m->envid_len, false)) {
		m->envid[0] = '\0';
		m->envid_len = 0;
		return reply_set(reply, "501 5.5.4 Bad ENVID parameter syntax");
	}
	m->envid[m->envid_len] = '\0';
	m->has_envid = true;
	return 0;
}

/* RFC 4954 §5: AUTH=xtext or AUTH=<>. */
static int
do_auth(struct smtp_mail *m, const struct param *pa, struct str *reply)
{
	if (pa->val != NULL && pa->val_len == 2 &&
	    memcmp(pa->val, "<>", 2) == 0) {
		memcpy(m->auth, "<>", 3);
		m->auth_len = 2;
		m->has_auth = true;
		return 0;
	}
	if (pa->val == NULL || pa->val_len == 0 ||
	    pa->val_len > SMTP_AUTHPARAM_MAX ||
	    xtext_decode(pa->val, pa->val_len, false, (uint8_t *)m->auth,
	        SMTP_AUTHPARAM_MAX, &m->auth_len) < 0 ||
	    m->auth_len == 0 ||
	    !text_ok((const uint8_t *)m->auth, m->auth_len, false)) {
		m->auth[0] = '\0';
		m->auth_len = 0;
		return reply_set(reply, "501 5.5.4 Bad AUTH parameter syntax");
	}
	m->auth[m->auth_len] = '\0';
	m->has_auth = true;
	return 0;
}

static int
do_notify(struct smtp_rcpt *r, const struct param *pa, struct str *reply)
{
	static const struct {
		const char *name;
		unsigned bit;
	} words[] = {
	    {"NEVER", SMTP_NOTIFY_NEVER},
	    {"SUCCESS", SMTP_NOTIFY_SUCCESS},
	    {"FAILURE", SMTP_NOTIFY_FAILURE},
	    {"DELAY", SMTP_NOTIFY_DELAY},
	};
	unsigned mask = 0;
	size_t i = 0;

	if (pa->val == NULL || pa->val_len == 0)
		goto bad;
	while (i <= pa->val_len) {
		size_t start = i, len;
		unsigned bit = 0;

		while (i < pa->val_len && pa->val[i] != ',')
			i++;
		len = i - start;
		for (size_t k = 0; k < FCT_NELEM(words); k++)
			if (strlen(words[k].name) == len &&
			    ascii_memcaseeq(
			        pa->val + start, words[k].name, len))
				bit = words[k].bit;
		if (bit == 0 || (mask & bit))
			goto bad;
		mask |= bit;
		i++; /* past ',' (or past the end: loop ends) */
	}
	if ((mask & SMTP_NOTIFY_NEVER) && mask != SMTP_NOTIFY_NEVER)
		goto bad;
	r->notify = mask;
	return 0;
bad:
	return reply_set(reply, "501 5.5.4 Bad NOTIFY parameter syntax");
}

/* RFC 3461 §4.2: ORCPT=addr-type;xtext (RFC 6533 for "utf-8"). */
static int
do_orcpt(struct smtp_rcpt *r, const struct param *pa, bool smtputf8,
    struct str *reply)
{
	const uint8_t *semi;
	size_t tlen;
	bool utf8;

	if (pa->val == NULL || pa->val_len > SMTP_ORCPT_MAX ||
	    (semi = memchr(pa->val, ';', pa->val_len)) == NULL)
		goto bad;
	tlen = (size_t)(semi - pa->val);
	if (tlen == 0 || tlen > SMTP_ADDRTYPE_MAX)
		goto bad;
	for (size_t i = 0; i < tlen; i++)
		if (!is_atext(pa->val[i]) || pa->val[i] == '=')
			goto bad;
	utf8 = tlen == 5 && ascii_memcaseeq(pa->val, "utf-8", 5);
	if (xtext_decode(semi + 1, pa->val_len - tlen - 1, utf8 && smtputf8,
	        (uint8_t *)r->orcpt, SMTP_ORCPT_MAX, &r->orcpt_len) < 0 ||
	    r->orcpt_len == 0 ||
	    !text_ok((const uint8_t *)r->orcpt, r->orcpt_len, utf8))
		goto bad;
	memcpy(r->orcpt_type, pa->val, tlen);
	r->orcpt_type[tlen] = '\0';
	r->orcpt[r->orcpt_len] = '\0';
	r->has_orcpt = true;
	return 0;
bad:
	r->orcpt[0] = '\0';
	r->orcpt_len = 0;
	return reply_set(reply, "501 5.5.4 Bad ORCPT parameter syntax");
}

static int
do_param(enum param_id id, const struct param *pa, struct smtp_mail *m,
    struct smtp_rcpt *r, bool smtputf8, struct str *reply)
{
	switch (id) {
	case P_SIZE:
		return do_size(m, pa, reply);
	case P_BODY:
		if (val_is(pa, "7BIT"))
			m->body = SMTP_BODY_7BIT;
		else if (val_is(pa, "8BITMIME"))
			m->body = SMTP_BODY_8BITMIME;
		else
			return reply_set(
			    reply, "501 5.5.4 Unsupported BODY parameter");
		return 0;
	case P_SMTPUTF8:
		if (pa->val != NULL)
			return reply_set(
			    reply, "501 5.5.4 Bad SMTPUTF8 parameter syntax");
		m->smtputf8 = true;
		return 0;
	case P_RET:
		if (val_is(pa, "FULL"))
			m->ret = SMTP_RET_FULL;
		else if (val_is(pa, "HDRS"))
			m->ret = SMTP_RET_HDRS;
		else
			return reply_set(
			    reply, "501 5.5.4 Bad RET parameter syntax");
		return 0;
	case P_ENVID:
		return do_envid(m, pa, reply);
	case P_AUTH:
		return do_auth(m, pa, reply);
	case P_NOTIFY:
		return do_notify(r, pa, reply);
	case P_ORCPT:
		return do_orcpt(r, pa, smtputf8, reply);
	}
	return reply_set(reply, "451 4.3.0 Error: internal error");
}

/*
 * Parameters p[0..n), SP/HTAB separated.  Exactly one of m (MAIL) and r
 * (RCPT) is non-NULL.
 */
static int
parse_params(const uint8_t *p, size_t n, unsigned ext, bool smtputf8,
    struct smtp_mail *m, struct smtp_rcpt *r, struct str *reply)
{
	unsigned seen = 0;
	size_t i = 0;

	for (;;) {
		struct param pa;
		const uint8_t *eq;
		size_t start, klen;
		int id = -1;

		while (i < n && is_ws(p[i]))
			i++;
		if (i == n)
			return 0;
		for (start = i; i < n && !is_ws(p[i]); i++)
			;
		pa.tok = p + start;
		pa.tok_len = i - start;
		eq = memchr(pa.tok, '=', pa.tok_len);
		klen = eq != NULL ? (size_t)(eq - pa.tok) : pa.tok_len;
		pa.val = eq != NULL ? eq + 1 : NULL;
		pa.val_len = eq != NULL ? pa.tok_len - klen - 1 : 0;

		for (size_t k = 0; k < FCT_NELEM(params); k++)
			if (params[k].mail == (m != NULL) &&
			    (params[k].ext & ext) &&
			    strlen(params[k].name) == klen &&
			    ascii_memcaseeq(pa.tok, params[k].name, klen))
				id = (int)k;
		if (id < 0)
			return reply_echo(reply,
			    "555 5.5.4 Unsupported option: ", pa.tok,
			    pa.tok_len);
		if (seen & (1u << id)) {
			if (reply != NULL) {
				reply_set(reply, "501 5.5.4 Duplicate ");
				str_notef(
				    reply, "%s parameter", params[id].name);
			}
			return -1;
		}
		seen |= 1u << id;
		if (do_param((enum param_id)id, &pa, m, r, smtputf8, reply) < 0)
			return -1;
	}
}

/*
 * The common part of MAIL and RCPT: keyword, path, parameters.
 */
/*
 * Returns 0 and sets *rest_r to where the parameters start, or
 * PR_SYNTAX (no keyword or no path), PR_BAD (bad path), PR_TOOLONG.
 */
enum { PR_SYNTAX = -2, PR_BAD = -3, PR_TOOLONG = -4 };

static int
parse_mail_rcpt(const uint8_t *arg, size_t len, const char *kw, unsigned pflags,
    struct smtp_addr *a, size_t *rest_r)
{
	size_t kwlen = strlen(kw), start, end;
	bool space;
	int rc;

	if (len < kwlen || !ascii_memcaseeq(arg, kw, kwlen))
		return PR_SYNTAX;
	arg += kwlen;
	len -= kwlen;
	rc = path_extent(arg, len, &start, &end, &space);
	if (rc == 0)
		return PR_SYNTAX;
	if (rc < 0)
		return PR_BAD;
	switch (smtp_path_parse(arg + start, end - start, pflags, a)) {
	case SMTP_PATH_OK:
		break;
	case SMTP_PATH_TOOLONG:
		return PR_TOOLONG;
	default:
		return PR_BAD;
	}
	if (space)
		a->flags |= SMTP_ADDR_SPACE;
	*rest_r = kwlen + end;
	return 0;
}

static int
path_reply(int rc, struct str *reply, const char *syntax, const char *bad,
    const char *toolong)
{
	switch (rc) {
	case PR_SYNTAX:
		return reply_set(reply, syntax);
	case PR_TOOLONG:
		return reply_set(reply, toolong);
	default:
		return reply_set(reply, bad);
	}
}

int
smtp_mail_parse(const uint8_t *arg, size_t len, unsigned ext,
    struct smtp_mail *m, struct str *reply)
{
	size_t rest;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = parse_mail_rcpt(
	    arg, len, "FROM:", SMTP_PATH_NULL_OK, &m->addr, &rest);
	if (rc < 0) {
		memset(m, 0, sizeof(*m));
		return path_reply(rc, reply,
		    "501 5.5.4 Syntax: MAIL FROM:<address>",
		    "501 5.1.7 Bad sender address syntax",
		    "501 5.1.7 Sender address too long");
	}
	if (parse_params(arg + rest, len - rest, ext, false, m, NULL, reply) <
	    0) {
		memset(m, 0, sizeof(*m));
		return -1;
	}
	/* RFC 6531 §3.5: a non-ASCII MAIL address needs SMTPUTF8. */
	if ((m->addr.flags & SMTP_ADDR_UTF8) && !m->smtputf8) {
		memset(m, 0, sizeof(*m));
		return reply_set(reply, "550 5.6.7 Must declare SMTPUTF8 to "
		                        "send unicode address");
	}
	return 0;
}

int
smtp_rcpt_parse(const uint8_t *arg, size_t len, unsigned ext, bool smtputf8,
    struct smtp_rcpt *r, struct str *reply)
{
	size_t rest;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = parse_mail_rcpt(
	    arg, len, "TO:", SMTP_PATH_POSTMASTER_OK, &r->addr, &rest);
	if (rc < 0) {
		memset(r, 0, sizeof(*r));
		return path_reply(rc, reply,
		    "501 5.5.4 Syntax: RCPT TO:<address>",
		    "501 5.1.3 Bad recipient address syntax",
		    "501 5.1.3 Recipient address too long");
	}
	if (parse_params(
	        arg + rest, len - rest, ext, smtputf8, NULL, r, reply) < 0) {
		memset(r, 0, sizeof(*r));
		return -1;
	}
	/* RFC 6531 §3.5: 553 for a non-ASCII RCPT address. */
	if ((r->addr.flags & SMTP_ADDR_UTF8) && !smtputf8) {
		memset(r, 0, sizeof(*r));
		return reply_set(reply, "553 5.6.7 Must declare SMTPUTF8 to "
		                        "send unicode address");
	}
	return 0;
}

/*
 * BDAT, AUTH, EHLO/HELO, VRFY/EXPN.
 */
int
smtp_bdat_parse(
    const uint8_t *arg, size_t len, struct smtp_bdat *b, struct str *reply)
{
	size_t i = 0, j;

	b->size = 0;
	b->last = false;
	while (i < len && is_digit(arg[i]))
		i++;
	/* RFC 3030 §2: chunk-size = 1*DIGIT; past 2^64-1 is an error. */
	if (i == 0 ||
	    num_parse_u64((const char *)arg, i, UINT64_MAX, &b->size) < 0)
		goto bad;
	for (j = i; j < len && is_ws(arg[j]); j++)
		;
	if (j == len)
		return 0;
	if (j == i || len - j < 4 || !ascii_memcaseeq(arg + j, "LAST", 4))
		goto bad;
	for (j += 4; j < len && is_ws(arg[j]); j++)
		;
	if (j != len)
		goto bad;
	b->last = true;
	return 0;
bad:
	b->size = 0;
	b->last = false;
	return reply_set(reply, "501 5.5.4 Syntax: BDAT count [LAST]");
}

/* base64 (RFC 4648 §4) with padding, or "=" for an empty response. */
static bool
base64_shape_ok(const uint8_t *p, size_t n)
{
	size_t pad = 0;

	if (n == 1 && p[0] == '=')
		return true;
	if (n == 0 || n % 4 != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0 ||
		    !(is_alpha(c) || is_digit(c) || c == '+' || c == '/'))
			return false;
	}
	return pad <= 2;
}

int
smtp_auth_parse(
    const uint8_t *arg, size_t len, struct smtp_auth *a, struct str *reply)
{
	size_t i = 0, j;

	memset(a, 0, sizeof(*a));
	while (i < len && !is_ws(arg[i])) {
		uint8_t c = arg[i];
		if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_')
			goto bad;
		i++;
	}
	if (i == 0 || i > SMTP_AUTH_MECH_MAX)
		goto bad;
	a->mech = arg;
	a->mech_len = i;
	for (; i < len && is_ws(arg[i]); i++)
		;
	if (i == len)
		return 0;
	for (j = i; j < len && !is_ws(arg[j]); j++)
		;
	if (j != len)
		goto bad;
	if (!base64_shape_ok(arg + i, j - i)) {
		memset(a, 0, sizeof(*a));
		return reply_set(reply, "501 5.5.2 Cannot decode response");
	}
	a->has_initial = true;
	a->initial = arg + i;
	a->initial_len = j - i;
	return 0;
bad:
	memset(a, 0, sizeof(*a));
	return reply_set(reply, "501 5.5.4 Syntax: AUTH mechanism");
}

int
smtp_vrfy_parse(
    enum smtp_verb verb, const uint8_t *arg, size_t len, struct str *reply)
{
	(void)arg; /* any non-empty text; the caller interprets it */
	if (len > 0)
		return 0;
	return reply_set(reply, verb == SMTP_VERB_EXPN
	                            ? "501 5.5.4 Syntax: EXPN mailing-list"
	                            : "501 5.5.4 Syntax: VRFY address");
}
