/*
 * commands - smtpd's command table (RFC 5321 §4.1, with RFC 1870, 2034,
 * 2920, 3030, 3207, 3461, 4954, 6152, 6531).
 *
 * Each row pairs the states where a verb is allowed with an act function
 * that checks the argument (and may refuse with a reply, changing
 * nothing) and then does the work.  Every reply but the greeting and the
 * HELO/EHLO replies carries an RFC 3463 enhanced status code (RFC 2034).
 * Rows without V_PRETLS are refused with 530 5.7.0 while TLS is required
 * and not yet active (tls.c); STARTTLS is in tls.c, AUTH in auth.c.
 *
 * Never: echo raw client bytes (replies use the parsers' escaped text),
 * or change the transaction when a check refuses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "smtpd/smtpd.h"

#define V_PRETLS 0x1u /* allowed before STARTTLS at level encrypt */
#define V_CLOSE  0x2u /* a refusal ends the session (BDAT: the chunk's
			 size cannot be trusted) */

struct smtpd_verb {
	enum smtp_verb verb;
	unsigned states; /* where the verb is allowed */
	unsigned flags;  /* V_* */
	const char *refusal; /* reply when it is not */
	void (*act)(struct smtpd_session *s, const struct smtp_cmd *cmd);
};

static unsigned
offered_ext(const struct smtpd_session *s)
{
	unsigned ext = SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_DSN;

	if (s->ctx->p->smtputf8_enable)
		ext |= SMTP_EXT_SMTPUTF8;
	/* AUTH= on MAIL is accepted (and ignored) as Postfix does. */
	ext |= SMTP_EXT_AUTH;
	return s->esmtp ? ext : 0;
}

static void
set_helo(struct smtpd_session *s, const struct smtp_helo *h)
{
	struct log_esc e;

	free(s->helo);
	s->helo = x_strdup(log_escape(&e, h->name, h->len));
}

static void
do_helo(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_helo h;

	s->counts.helo++;
	if (smtp_helo_parse(cmd->arg, cmd->arg_len, false, &h, s->reply) < 0) {
		smtpd_reply(s, "%s", str_c(s->reply));
		return;
	}
	set_helo(s, &h);
	s->esmtp = false;
	txn_reset(s);
	smtpd_set_state(s, S_HELO);
	smtpd_reply(s, "250 %s", s->ctx->p->myhostname);
}

static void
do_ehlo(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	const struct params *p = s->ctx->p;
	struct smtp_helo h;

	s->counts.ehlo++;
	if (smtp_helo_parse(cmd->arg, cmd->arg_len, true, &h, s->reply) < 0) {
		smtpd_reply(s, "%s", str_c(s->reply));
		return;
	}
	set_helo(s, &h);
	s->esmtp = true;
	txn_reset(s);
	smtpd_set_state(s, S_HELO);
	smtpd_reply_more(s, "250-%s", p->myhostname);
	smtpd_reply_more(s, "250-PIPELINING");
	smtpd_reply_more(s, "250-SIZE %llu",
	    (unsigned long long)p->message_size_limit);
	if (!p->disable_vrfy_command)
		smtpd_reply_more(s, "250-VRFY");
	if (tls_offered(s))
		smtpd_reply_more(s, "250-STARTTLS");
	if (auth_offered(s))
		smtpd_reply_more(s, "250-AUTH %s", sasl_mech_list());
	smtpd_reply_more(s, "250-ENHANCEDSTATUSCODES");
	smtpd_reply_more(s, "250-8BITMIME");
	smtpd_reply_more(s, "250-DSN");
	if (p->smtputf8_enable)
		smtpd_reply_more(s, "250-SMTPUTF8");
	smtpd_reply(s, "250 CHUNKING");
}

static void
do_mail(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	const struct params *p = s->ctx->p;
	struct smtp_mail *m = &s->mail;

	s->counts.mail++;
	/* MAIL is allowed only outside a transaction: start clean. */
	txn_reset(s);
	if (p->smtpd_helo_required && s->state == S_INIT) {
		smtpd_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	/* RFC 6409 §4.3, RFC 4954 §6: submission wants AUTH first. */
	if (p->smtpd_require_auth && s->sasl_username == NULL) {
		smtpd_reply(s, "530 5.7.0 Authentication required");
		return;
	}
	if (smtp_mail_parse(cmd->arg, cmd->arg_len, offered_ext(s), m,
		s->reply) < 0) {
		memset(m, 0, sizeof(*m));
		smtpd_reply(s, "%s", str_c(s->reply));
		return;
	}
	if ((m->addr.flags & SMTP_ADDR_UTF8) && !m->smtputf8) {
		memset(m, 0, sizeof(*m));
		smtpd_reply(s, "553 5.6.7 Must declare SMTPUTF8 to send "
			       "unicode address");
		return;
	}
	str_clear(s->reply);
	if (s->sasl_username != NULL &&
	    policy_sender_login(s, &m->addr, s->reply) < 0) {
		smtpd_reject(s, "MAIL", m->addr.text, NULL, str_c(s->reply));
		memset(m, 0, sizeof(*m));
		return;
	}
	if (m->has_size && m->size > p->message_size_limit) {
		smtpd_reject(s, "MAIL", m->addr.text, NULL,
		    "552 5.3.4 Message size exceeds fixed limit");
		memset(m, 0, sizeof(*m));
		return;
	}
	if (policy_disk_room(s, m->has_size ? m->size : 0) < 0) {
		smtpd_reject(s, "MAIL", m->addr.text, NULL,
		    "452 4.3.1 Insufficient system storage");
		memset(m, 0, sizeof(*m));
		return;
	}
	s->sender = x_strdup(m->addr.text);
	smtpd_set_state(s, S_MAIL);
	smtpd_reply(s, "250 2.1.0 Ok");
}

static void
do_rcpt(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_rcpt r;

	s->counts.rcpt++;
	if (smtp_rcpt_parse(cmd->arg, cmd->arg_len, offered_ext(s),
		s->mail.smtputf8, &r, s->reply) < 0) {
		smtpd_reply(s, "%s", str_c(s->reply));
		return;
	}
	if (s->nrcpts >= s->ctx->p->smtpd_recipient_limit) {
		smtpd_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	str_clear(s->reply);
	if (policy_rcpt(s, &r, s->reply) < 0) {
		smtpd_reject(s, "RCPT", s->sender, r.addr.text,
		    str_c(s->reply));
		return;
	}
	if (s->nrcpts == s->arcpts) {
		s->arcpts = s->arcpts ? s->arcpts * 2 : 8;
		s->rcpts = x_realloc(s->rcpts, s->arcpts * sizeof(*s->rcpts));
	}
	struct smtpd_rcpt *nr = &s->rcpts[s->nrcpts++];
	nr->addr = x_strdup(r.addr.text);
	nr->notify = r.notify;
	nr->orcpt = NULL;
	if (r.has_orcpt) {
		size_t n = strlen(r.orcpt_type) + strlen(r.orcpt) + 2;
		nr->orcpt = x_malloc(n);
		snprintf(nr->orcpt, n, "%s;%s", r.orcpt_type, r.orcpt);
	}
	smtpd_set_state(s, S_RCPT);
	smtpd_reply(s, "250 2.1.5 Ok");
}

static void
do_data(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	s->counts.data++;
	if (smtp_cmd_check_noarg(cmd, s->reply) < 0) {
		smtpd_reply(s, "%s", str_c(s->reply));
		return;
	}
	if (s->bdat_used) {
		smtpd_reply(s, "503 5.5.1 Error: DATA after BDAT");
		return;
	}
	smtpd_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	txn_begin_data(s);
	smtpd_set_state(s, S_DATA);
}

static void
do_bdat(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_bdat b;

	s->counts.bdat++;
	if (smtp_bdat_parse(cmd->arg, cmd->arg_len, &b, s->reply) < 0) {
		/* RFC 3030: we cannot know how many bytes follow. */
		smtpd_reply(s, "%s", str_c(s->reply));
		smtpd_close_after_reply(s);
		return;
	}
	if (s->state != S_RCPT) {
		/*
		 * RFC 3030 §2: the chunk must still be read (and dropped)
		 * so that its bytes are not taken for commands.
		 */
		smtpd_reply(s, "%s", s->state == S_MAIL
			? "503 5.5.1 Error: need RCPT command"
			: "503 5.5.1 Error: need MAIL command");
		smtpd_close_after_reply(s);
		return;
	}
	if (!s->bdat_used) {
		s->bdat_used = true;
		txn_begin_data(s);
	}
	if (txn_bdat_chunk(s, b.size, b.last) < 0) {
		smtpd_reply(s, "503 5.5.1 Error: bad BDAT sequence");
		smtpd_close_after_reply(s);
		return;
	}
	s->bdat_left = b.size;
	s->bdat_chunk = b.size;
	s->bdat_last = b.last;
	smtpd_set_state(s, S_BDAT);
}

static void
do_rset(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	s->counts.rset++;
	if (smtp_cmd_check_noarg(cmd, s->reply) < 0) {
		smtpd_reply(s, "%s", str_c(s->reply));
		return;
	}
	txn_reset(s);
	if (s->state != S_INIT)
		smtpd_set_state(s, S_HELO);
	smtpd_reply(s, "250 2.0.0 Ok");
}

static void
do_noop(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	s->counts.noop++;
	smtpd_reply(s, "250 2.0.0 Ok");
}

static void
do_quit(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	s->counts.quit++;
	smtpd_reply(s, "221 2.0.0 Bye");
	smtpd_close_after_reply(s);
}

static void
do_help(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	smtpd_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT "
		       "RSET NOOP QUIT HELP VRFY");
}

static void
do_vrfy(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_addr a;

	s->counts.vrfy++;
	if (smtp_vrfy_parse(cmd->verb, cmd->arg, cmd->arg_len, s->reply) < 0) {
		smtpd_reply(s, "%s", str_c(s->reply));
		return;
	}
	/*
	 * RFC 5321 §3.5.3: 252 says "cannot verify, but will accept and
	 * try", which is what a disabled VRFY means.
	 */
	if (s->ctx->p->disable_vrfy_command ||
	    smtp_path_parse(cmd->arg, cmd->arg_len, SMTP_PATH_POSTMASTER_OK,
		&a) != SMTP_PATH_OK) {
		smtpd_reply(s, "252 2.0.0 Cannot VRFY user; try RCPT to "
			       "attempt delivery");
		return;
	}
	str_clear(s->reply);
	policy_vrfy(s, &a, s->reply);
	smtpd_reply(s, "%s", str_c(s->reply));
}

static void
do_expn(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	smtpd_reply(s, "502 5.5.1 Error: EXPN is not available");
}

/* clang-format off */
static const struct smtpd_verb verbs[] = {
	/* verb               allowed in       flags      refusal                                   act */
	{ SMTP_VERB_HELO,     S_ANY,           V_PRETLS,  NULL,                                     do_helo },
	{ SMTP_VERB_EHLO,     S_ANY,           V_PRETLS,  NULL,                                     do_ehlo },
	{ SMTP_VERB_MAIL,     S_INIT | S_HELO, 0,         "503 5.5.1 Error: nested MAIL command",   do_mail },
	{ SMTP_VERB_RCPT,     S_MAIL | S_RCPT, 0,         "503 5.5.1 Error: need MAIL command",     do_rcpt },
	{ SMTP_VERB_DATA,     S_RCPT,          0,         NULL,                                     do_data },
	{ SMTP_VERB_BDAT,     S_ANY,           V_CLOSE,   NULL,                                     do_bdat },
	{ SMTP_VERB_RSET,     S_ANY,           V_PRETLS,  NULL,                                     do_rset },
	{ SMTP_VERB_NOOP,     S_ANY,           V_PRETLS,  NULL,                                     do_noop },
	{ SMTP_VERB_QUIT,     S_ANY,           V_PRETLS,  NULL,                                     do_quit },
	{ SMTP_VERB_HELP,     S_ANY,           0,         NULL,                                     do_help },
	{ SMTP_VERB_VRFY,     S_ANY,           0,         NULL,                                     do_vrfy },
	{ SMTP_VERB_EXPN,     S_ANY,           0,         NULL,                                     do_expn },
	{ SMTP_VERB_STARTTLS, S_ANY,           V_PRETLS,  NULL,                                     do_starttls },
	/* AUTH answers 538 itself before TLS (RFC 4954 §6). */
	{ SMTP_VERB_AUTH,     S_ANY,           V_PRETLS,  NULL,                                     do_auth },
};
/* clang-format on */

void
smtpd_command(struct smtpd_session *s, const uint8_t *line, size_t len)
{
	struct smtp_cmd cmd;

	s->counts.total++;
	if (smtp_cmd_parse(line, len, &cmd, s->reply) < 0) {
		s->counts.unknown++;
		smtpd_reply(s, "%s", str_c(s->reply));
		return;
	}
	for (size_t i = 0; i < FCT_NELEM(verbs); i++) {
		if (verbs[i].verb != cmd.verb)
			continue;
		/* RFC 3207 §4: with level encrypt, nothing else before TLS. */
		if (!(verbs[i].flags & V_PRETLS) && tls_required(s)) {
			smtpd_reply(s, "530 5.7.0 Must issue a STARTTLS command "
				       "first");
			if (verbs[i].flags & V_CLOSE)
				smtpd_close_after_reply(s);
			return;
		}
		if (!(verbs[i].states & s->state)) {
			if (verbs[i].refusal != NULL)
				smtpd_reply(s, "%s", verbs[i].refusal);
			else if (cmd.verb == SMTP_VERB_DATA)
				smtpd_reply(s, "%s", s->state == S_MAIL
					? "503 5.5.1 Error: need RCPT command"
					: "503 5.5.1 Error: need MAIL command");
			else
				smtpd_reply(s, "503 5.5.1 Error: bad sequence "
					       "of commands");
			return;
		}
		verbs[i].act(s, &cmd);
		return;
	}
	s->counts.unknown++;
	smtpd_reply(s, "502 5.5.2 Error: command not recognized");
}
