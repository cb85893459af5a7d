/*
 * tls - STARTTLS (RFC 3207) and implicit TLS on the submissions port
 * (RFC 8314 §3.3, smtpd_tls_wrappermode) for smtpd.  The TLS layer
 * itself is lib/tls and lib/conn; this file is the SMTP side: when to
 * offer and require it, the handshake's steps, and what the session
 * forgets when it is done.
 *
 * smtpd_tls_security_level: none (STARTTLS neither offered nor
 * accepted), may (offered), encrypt (offered, and every command but
 * HELO, EHLO, STARTTLS, AUTH, NOOP, RSET and QUIT is refused with
 * "530 5.7.0 Must issue a STARTTLS command first" until it is done).
 * With smtpd_tls_wrappermode the handshake starts at accept and the
 * greeting comes after it; STARTTLS is then never offered.
 *
 * Never: execute a byte the client sent before the handshake finished,
 * send a reply in clear after "220 Ready to start TLS", or go on after a
 * failed handshake.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "smtpd/smtpd.h"

bool
tls_offered(const struct smtpd_session *s)
{
	return s->ctx->tls != NULL && !conn_tls_started(s->conn);
}

bool
tls_required(const struct smtpd_session *s)
{
	return strcmp(s->ctx->p->smtpd_tls_security_level, "encrypt") == 0 &&
	       !conn_tls_active(s->conn);
}

void
do_starttls(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	s->counts.starttls++;
	if (smtp_cmd_check_noarg(cmd, s->reply) < 0) {
		smtpd_reply(s, "%s", str_c(s->reply));
		return;
	}
	if (conn_tls_started(s->conn)) {
		smtpd_reply(s, "554 5.5.1 Error: TLS already active");
		return;
	}
	if (s->ctx->tls == NULL) {
		smtpd_reply(s, "502 5.5.1 Error: command not implemented");
		return;
	}
	/*
	 * The reply goes out in clear; session.c stops reading and
	 * handling input now, writes it, and then calls tls_begin().
	 */
	smtpd_reply(s, "220 2.0.0 Ready to start TLS");
	s->tls_pending = true;
}

void
tls_begin(struct smtpd_session *s)
{
	struct str *why = str_new(512);
	char cl[SMTPD_CLIENT_MAX];

	s->tls_pending = false;
	if (conn_starttls_server(s->conn, s->ctx->tls, why) < 0) {
		log_warn("cannot start TLS with %s: %s",
		    smtpd_client(s, cl, sizeof(cl)), str_c(why));
		str_free(&why);
		smtpd_end(s, NULL);
		return;
	}
	str_free(&why);
	s->tls_handshake = true;
	tls_step(s);
}

/*
 * RFC 3207 §4.2: after the handshake the server forgets all it learned
 * from the client other than through TLS itself.  In other words: drop
 * every byte buffered before the handshake ended (it came in clear and
 * may have been injected: CVE-2011-0411), forget HELO/EHLO, any
 * transaction and any login, and wait for a new EHLO.
 */
static void
tls_done(struct smtpd_session *s)
{
	struct str *d = str_new(256);
	char cl[SMTPD_CLIENT_MAX];

	s->tls_handshake = false;
	linebuf_reset(s->in);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	txn_reset(s);
	auth_reset(s);
	smtpd_set_state(s, S_INIT);
	if (conn_tls_describe(s->conn, d) < 0)
		str_clear(d);
	free(s->tls_info);
	s->tls_info = x_strdup(str_c(d));
	str_free(&d);
	log_info("Anonymous TLS connection established from %s: %s",
	    smtpd_client(s, cl, sizeof(cl)), s->tls_info);
	if (s->ctx->p->smtpd_tls_wrappermode)
		smtpd_greet(s);
	smtpd_resume(s);
}

void
tls_step(struct smtpd_session *s)
{
	struct str *why = str_new(512);
	char cl[SMTPD_CLIENT_MAX];

	switch (conn_handshake(s->conn, why)) {
	case CONN_HS_WANT_READ:
	case CONN_HS_WANT_WRITE:
		if (event_fd_mod(s->loop, conn_fd(s->conn),
		        conn_wants(s->conn, false)) < 0)
			log_warn("%s: event_fd_mod: %m", s->addr);
		break;
	case CONN_HS_ERROR:
		/* Postfix's wording; nothing more is sent (RFC 3207 §4.1). */
		log_info("SSL_accept error from %s: %s",
		    smtpd_client(s, cl, sizeof(cl)), str_c(why));
		str_free(&why);
		smtpd_end(s, s->ctx->p->smtpd_tls_wrappermode
		                 ? "lost connection after CONNECT"
		                 : "lost connection after STARTTLS");
		return;
	case CONN_HS_DONE:
		str_free(&why);
		tls_done(s);
		return;
	}
	str_free(&why);
}
