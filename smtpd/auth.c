/*
 * auth - SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN: the
 * command, the 334 exchange (lib/sasl), and the question to the auth
 * service (lib/auth_client), which alone knows the passwords.
 *
 * Offered only with smtpd_sasl_auth_enable = yes, and, unless
 * smtpd_tls_auth_only = no, only once TLS is active: a password must not
 * cross the network in clear (RFC 4954 §4, RFC 8314).  Replies (RFC 4954
 * §6, and what mail clients rely on):
 *   235 2.7.0  success
 *   334        a challenge
 *   454 4.7.0  the auth service cannot answer: never 535, which makes
 *              a client such as Thunderbird ask for the password again
 *   500 5.5.6  response line too long
 *   501 5.5.2  bad base64; 501 5.7.0 the client cancelled with "*"
 *   503 5.5.1  AUTH not enabled, already authenticated, or in a
 *              transaction
 *   504 5.5.4  unknown mechanism
 *   535 5.7.8  wrong credentials, or an authzid that is not the authcid
 *   538 5.7.11 AUTH before TLS when TLS is required for it
 * Failures are delayed by the auth service (docs/auth-protocol.md), not
 * here; smtpd waits for its answer without reading further input, so a
 * command pipelined after AUTH sees the new state.
 *
 * Never: log or keep a password (lib/sasl wipes its buffers, the lines
 * that carried one are wiped here), or answer 535 when the service did
 * not say "wrong".
 */
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "smtpd/smtpd.h"

bool
auth_offered(const struct smtpd_session *s)
{
	const struct params *p = s->ctx->p;

	return p->smtpd_sasl_auth_enable &&
	       (conn_tls_active(s->conn) || !p->smtpd_tls_auth_only);
}

void
auth_reset(struct smtpd_session *s)
{
	sasl_free(&s->sasl);
	/* Never from inside auth_done(): auth_req is NULL there. */
	auth_client_cancel(&s->auth_req);
	free(s->auth_user);
	s->auth_user = NULL;
	free(s->sasl_username);
	s->sasl_username = NULL;
	s->sasl_method = NULL;
}

static void
auth_log_failure(struct smtpd_session *s, const char *what)
{
	char cl[SMTPD_CLIENT_MAX];
	struct log_esc e;

	if (s->auth_user != NULL)
		log_warn("%s: SASL %s authentication failed: %s, "
		         "sasl_username=%s",
		    smtpd_client(s, cl, sizeof(cl)),
		    sasl_mech_name(s->sasl_mech), what,
		    log_escape_str(&e, s->auth_user));
	else
		log_warn("%s: SASL %s authentication failed: %s",
		    smtpd_client(s, cl, sizeof(cl)),
		    sasl_mech_name(s->sasl_mech), what);
}

/* The auth service's answer (from the loop, never re-entered). */
static void
auth_done(enum auth_result r, const char *why, void *arg)
{
	struct smtpd_session *s = arg;
	char cl[SMTPD_CLIENT_MAX];

	s->auth_req = NULL; /* gone: auth_reset() must not cancel it */
	switch (r) {
	case AUTH_RESULT_OK:
		s->counts.auth_ok++;
		s->sasl_username = s->auth_user;
		s->auth_user = NULL;
		s->sasl_method = sasl_mech_name(s->sasl_mech);
		smtpd_reply(s, "235 2.7.0 Authentication successful");
		break;
	case AUTH_RESULT_FAIL:
		auth_log_failure(s, "authentication failure");
		smtpd_reply(s, "535 5.7.8 Error: authentication failed");
		break;
	case AUTH_RESULT_UNAVAILABLE:
		log_warn("%s: SASL %s authentication unavailable: %s",
		    smtpd_client(s, cl, sizeof(cl)),
		    sasl_mech_name(s->sasl_mech), why);
		smtpd_reply(s, "454 4.7.0 Temporary authentication failure");
		break;
	}
	free(s->auth_user);
	s->auth_user = NULL;
	smtpd_resume(s); /* may end the session: nothing after this */
}

/* Act on what the SASL machine said. */
static void
auth_next(struct smtpd_session *s, enum sasl_result r)
{
	const struct params *p = s->ctx->p;
	const char *user, *pw;
	size_t ulen, plen;

	switch (r) {
	case SASL_CONTINUE:
		smtpd_reply(s, "334 %s", sasl_challenge(s->sasl));
		return;
	case SASL_DONE:
		user = sasl_authcid(s->sasl, &ulen);
		pw = sasl_passwd(s->sasl, &plen);
		s->auth_user = x_strndup(user, ulen);
		/*
		 * The client copies the password at once; sasl_free()
		 * wipes ours.  Input waits for the answer (auth_done).
		 */
		s->auth_req = auth_client_start(s->loop, s->ctx->auth_path,
		    p->auth_client_timeout * 1000, "smtpd", s->addr, user, ulen,
		    pw, plen, auth_done, s);
		sasl_free(&s->sasl);
		return;
	case SASL_ERR_AUTHZID:
		auth_log_failure(s, "authorization identity not permitted");
		break;
	case SASL_ERR_DECODE:
	case SASL_ERR_CANCEL:
	case SASL_ERR_TOOLONG:
		break;
	}
	sasl_free(&s->sasl);
	smtpd_reply(s, "%s", sasl_smtp_reply(r));
}

void
do_auth(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	const struct params *p = s->ctx->p;
	struct smtp_auth a;

	s->counts.auth++;
	/* The initial response may hold a password: wipe the line. */
	s->line_secret = true;
	if (!p->smtpd_sasl_auth_enable) {
		smtpd_reply(s, "503 5.5.1 Error: authentication not enabled");
		return;
	}
	if (!auth_offered(s)) {
		smtpd_reply(s, "538 5.7.11 Encryption required for requested "
		               "authentication mechanism");
		return;
	}
	if (s->sasl_username != NULL) {
		smtpd_reply(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (s->state & (S_MAIL | S_RCPT)) {
		smtpd_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
		return;
	}
	if (smtp_auth_parse(cmd->arg, cmd->arg_len, &a, s->reply) < 0) {
		smtpd_reply(s, "%s", str_c(s->reply));
		return;
	}
	if (sasl_mech_parse(a.mech, a.mech_len, &s->sasl_mech) < 0) {
		smtpd_reply(s, "%s", SASL_REPLY_UNKNOWN_MECH);
		return;
	}
	s->sasl = sasl_new(s->sasl_mech);
	auth_next(
	    s, sasl_start(s->sasl, a.initial, a.initial_len, a.has_initial));
}

void
auth_line(struct smtpd_session *s, const uint8_t *line, size_t len)
{
	s->line_secret = true;
	auth_next(s, sasl_step(s->sasl, line, len));
}

void
auth_line_too_long(struct smtpd_session *s)
{
	auth_next(s, SASL_ERR_TOOLONG);
}
