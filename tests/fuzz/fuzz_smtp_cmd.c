/*
 * fuzz_smtp_cmd - libFuzzer harness for lib/smtp_cmd.
 *
 * Input: byte 0 chooses the advertised extensions (low 5 bits) and
 * whether the transaction is SMTPUTF8 (bit 7); the rest is one command
 * line.  The line goes through smtp_cmd_parse() and the parser of its
 * verb, and also, whole, through the MAIL, RCPT, path, BDAT, AUTH, HELO
 * and xtext parsers.  Invariants (abort() on violation):
 *   - every reply is "ddd d.d.d text", printable ASCII, within
 *     SMTP_REPLY_MAX;
 *   - every parsed address is NUL-free, control-free, within its bounds,
 *     and its canonical text parses back to the same local part and
 *     domain (so the text written to the queue names the same mailbox);
 *   - xtext decode -> encode -> decode is the identity.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/smtp_cmd.h"
#include "lib/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static void
check_reply(const struct str *reply)
{
	const char *s = str_c(reply);
	size_t n = str_len(reply);

	check(n >= 10 && n <= SMTP_REPLY_MAX);
	check(s[0] >= '2' && s[0] <= '5' && s[3] == ' ');
	check(s[4] == s[0] && s[5] == '.');
	for (size_t i = 0; i < n; i++)
		check(s[i] >= 0x20 && s[i] <= 0x7e);
}

static void
check_text(const char *s, size_t n, size_t max)
{
	check(n <= max && strlen(s) == n);
	for (size_t i = 0; i < n; i++)
		check((uint8_t)s[i] >= 0x20 && (uint8_t)s[i] != 0x7f);
}

static void
check_addr(const struct smtp_addr *a, unsigned pflags)
{
	struct smtp_addr b;
	struct str *p;

	check_text(a->local, a->local_len, SMTP_LOCAL_MAX);
	check_text(a->domain, a->domain_len, SMTP_DOMAIN_MAX);
	check_text(a->text, a->text_len, SMTP_ADDR_TEXT_MAX);
	if (a->flags & SMTP_ADDR_NULL) {
		check(a->local_len == 0 && a->domain_len == 0 &&
		      a->text_len == 0);
		return;
	}
	check(a->local_len > 0);
	if (a->flags & SMTP_ADDR_POSTMASTER)
		check(a->domain_len == 0);
	else
		check(a->domain_len > 0 && memchr(a->text, '@', a->text_len));
	/* The canonical text names the same mailbox. */
	p = str_new(SMTP_ADDR_TEXT_MAX + 2);
	check(str_appendc(p, '<') == 0 &&
	      str_append(p, a->text, a->text_len) == 0 &&
	      str_appendc(p, '>') == 0);
	if (str_len(p) <= SMTP_PATH_MAX) {
		check(smtp_path_parse(str_data(p), str_len(p), pflags, &b) ==
		      SMTP_PATH_OK);
		check(b.local_len == a->local_len &&
		      memcmp(b.local, a->local, a->local_len) == 0);
		check(b.domain_len == a->domain_len &&
		      memcmp(b.domain, a->domain, a->domain_len) == 0);
		check(b.text_len == a->text_len &&
		      memcmp(b.text, a->text, a->text_len) == 0);
		check((b.flags & ~(SMTP_ADDR_QUOTED | SMTP_ADDR_ODD_DOTS)) ==
		      (a->flags & ~(SMTP_ADDR_QUOTED | SMTP_ADDR_ODD_DOTS |
		                      SMTP_ADDR_ROUTE | SMTP_ADDR_NOBRACKETS |
		                      SMTP_ADDR_SPACE)));
	}
	str_free(&p);
}

static void
fuzz_xtext(const uint8_t *p, size_t n)
{
	uint8_t *a = malloc(n + 1), *b = malloc(n + 1);
	size_t alen, blen;
	struct str *enc = str_new(3 * n + 3);

	if (smtp_xtext_decode(p, n, a, n, &alen) == 0) {
		check(alen <= n);
		check(smtp_xtext_encode(a, alen, enc) == 0);
		check(smtp_xtext_decode(
		          str_data(enc), str_len(enc), b, n, &blen) == 0);
		check(blen == alen && memcmp(a, b, alen) == 0);
	}
	str_free(&enc);
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str *reply;
	struct smtp_cmd cmd;
	struct smtp_mail m;
	struct smtp_rcpt r;
	struct smtp_addr a;
	struct smtp_bdat bd;
	struct smtp_auth au;
	struct smtp_helo h;
	unsigned ext;
	bool utf8;

	if (size < 1)
		return 0;
	ext = data[0] & SMTP_EXT_ALL;
	utf8 = (data[0] & 0x80) != 0;
	data++;
	size--;
	reply = str_new(SMTP_REPLY_MAX);

	if (smtp_cmd_parse(data, size, &cmd, reply) < 0)
		check_reply(reply);
	else {
		check(cmd.arg >= data && cmd.arg + cmd.arg_len <= data + size);
		if (smtp_cmd_check_noarg(&cmd, reply) < 0)
			check_reply(reply);
	}

	/* The argument parsers, on the whole input. */
	if (smtp_mail_parse(data, size, ext, &m, reply) < 0)
		check_reply(reply);
	else {
		check_addr(&m.addr, SMTP_PATH_NULL_OK);
		if (m.has_envid)
			check_text(m.envid, m.envid_len, SMTP_ENVID_MAX);
		if (m.has_auth)
			check_text(m.auth, m.auth_len, SMTP_AUTHPARAM_MAX);
		check(!(m.addr.flags & SMTP_ADDR_UTF8) || m.smtputf8);
	}
	if (smtp_rcpt_parse(data, size, ext, utf8, &r, reply) < 0)
		check_reply(reply);
	else {
		check_addr(&r.addr, SMTP_PATH_POSTMASTER_OK);
		check(!(r.addr.flags & SMTP_ADDR_NULL));
		if (r.has_orcpt)
			check(r.orcpt_len > 0 &&
			      strlen(r.orcpt) == r.orcpt_len &&
			      strlen(r.orcpt_type) > 0);
		check(!(r.addr.flags & SMTP_ADDR_UTF8) || utf8);
	}
	if (smtp_path_parse(data, size, SMTP_PATH_NULL_OK, &a) == SMTP_PATH_OK)
		check_addr(&a, SMTP_PATH_NULL_OK);
	else
		check(a.flags == 0 && a.local_len == 0 && a.text_len == 0);
	if (smtp_bdat_parse(data, size, &bd, reply) < 0)
		check_reply(reply);
	if (smtp_auth_parse(data, size, &au, reply) < 0)
		check_reply(reply);
	else
		check(au.mech_len >= 1 && au.mech_len <= SMTP_AUTH_MECH_MAX);
	if (smtp_helo_parse(data, size, (ext & 1) != 0, &h, reply) < 0)
		check_reply(reply);
	if (smtp_vrfy_parse(SMTP_VERB_VRFY, data, size, reply) < 0)
		check_reply(reply);
	fuzz_xtext(data, size);

	str_free(&reply);
	return 0;
}
