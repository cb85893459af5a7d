/*
 * smtpd - facteur's SMTP server (RFC 5321).
 *
 * User: service_user (mail_owner); optionally chrooted to the queue.
 * Serves one session per process, many sessions in a row (max_use), on
 * the listener master hands it.  Writes queue files into incoming/ (DESIGN
 * §2 rule 1) and pokes qmgr's trigger.  Reads the users and alias tables
 * (read-only, LMDB) to refuse unknown recipients at RCPT time.  Reads the
 * TLS certificate and key as root, before the privilege drop; asks the
 * auth service (auth/client) about passwords, which it never sees
 * otherwise.
 *
 * STANDARDS: RFC 5321 (SMTP), RFC 1870 (SIZE), RFC 2034
 * (ENHANCEDSTATUSCODES), RFC 2920 (PIPELINING), RFC 3030 (CHUNKING),
 * RFC 3207 (STARTTLS), RFC 3461 (DSN), RFC 3463 (enhanced codes),
 * RFC 3848 (ESMTPSA), RFC 4616 (PLAIN), RFC 4954 (AUTH), RFC 6152
 * (8BITMIME), RFC 6409 (submission), RFC 6531 (SMTPUTF8), RFC 8314
 * (implicit TLS).
 *
 * Never: answer 250 to a message that is not durably queued, relay for
 * a client that is neither in mynetworks nor authenticated, or exit
 * because of what a client sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/sock.h"
#include "smtpd/smtpd.h"

static char *
path_in_queue(const struct params *p, const char *sub)
{
	struct str *s = str_new(4096);

	if (str_appendf(s, "%s/%s", p->queue_directory, sub) < 0)
		log_fatal("queue_directory too long");
	return str_take(&s);
}

/*
 * smtpd_sender_login_maps: the built-in item "mailboxes:" and tables
 * (opened now, before the privilege drop).
 */
static void
open_sender_logins(struct smtpd_ctx *ctx, struct str *why)
{
	const char *cur = ctx->p->smtpd_sender_login_maps, *item;
	struct str *refs = str_new(MAP_REF_MAX * 8);
	size_t len;

	while (list_next(&cur, &item, &len)) {
		ctx->sender_login_check = true;
		if (len == strlen("mailboxes:") &&
		    memcmp(item, "mailboxes:", len) == 0) {
			ctx->sender_login_mailboxes = true;
			continue;
		}
		if (str_appendf(refs, "%s%.*s", str_len(refs) ? ", " : "",
			(int)len, item) < 0)
			log_fatal("smtpd_sender_login_maps: too long");
	}
	if (str_len(refs) > 0) {
		ctx->sender_logins = map_list_open(str_c(refs), why);
		if (ctx->sender_logins == NULL)
			log_fatal("smtpd_sender_login_maps %s: %s", str_c(refs),
			    str_c(why));
	}
	str_free(&refs);
}

static void
on_accept(struct service *svc, int fd, const struct sockaddr *peer,
    socklen_t len, void *arg)
{
	session_start(arg, fd, peer, len);
}

int
main(int argc, char **argv)
{
	struct service_opts opts = { .program = "smtpd", .client_limit = 1 };
	struct smtpd_ctx ctx = { 0 };
	struct str *why = str_new(1024);

	ctx.svc = service_init(argc, argv, &opts);
	ctx.p = service_params(ctx.svc);
	if (cidr_list_parse(ctx.p->mynetworks, &ctx.mynetworks, why) < 0)
		log_fatal("mynetworks: %s", str_c(why));
	/* Tables and the queue are opened before the privilege drop. */
	ctx.users = map_open(ctx.p->users_map, why);
	if (ctx.users == NULL)
		log_fatal("users_map %s: %s", ctx.p->users_map, str_c(why));
	if (ctx.p->alias_maps[0] != '\0') {
		ctx.aliases = map_list_open(ctx.p->alias_maps, why);
		if (ctx.aliases == NULL)
			log_fatal("alias_maps %s: %s", ctx.p->alias_maps,
			    str_c(why));
	}
	ctx.resolver = resolve_new(ctx.p, ctx.users, ctx.aliases);
	if (queue_open(ctx.p->queue_directory, ctx.p->queue_record_limit,
		&ctx.queue, why) < 0)
		log_fatal("queue: %s", str_c(why));
	ctx.qmgr_trigger = path_in_queue(ctx.p, "public/qmgr");
	char *anvil_path = path_in_queue(ctx.p, "private/anvil");
	ctx.anvil = anvil_client_new(anvil_path, 1000);
	free(anvil_path);
	ctx.trigger_fd = sock_dgram_open();
	ctx.auth_path = path_in_queue(ctx.p, AUTH_CLIENT_SOCKET);
	open_sender_logins(&ctx, why);
	/* The key is root's: read it now (STYLE, lib/tls.h). */
	if (strcmp(ctx.p->smtpd_tls_security_level, "none") != 0 ||
	    ctx.p->smtpd_tls_wrappermode) {
		ctx.tls = tls_server_new(ctx.p->smtpd_tls_cert_file,
		    ctx.p->smtpd_tls_key_file, why);
		if (ctx.tls == NULL)
			log_fatal("TLS: %s", str_c(why));
	}
	str_free(&why);

	service_drop_privileges(ctx.svc);
	return service_run(ctx.svc, on_accept, &ctx);
}
