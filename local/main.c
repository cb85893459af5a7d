/*
 * local - facteur's local delivery agent (Postfix's local(8) and
 * virtual(8) in one): aliases, virtual mailboxes of the users table,
 * Maildir delivery with quota and loop checks.
 *
 * User: mailbox_owner (master.cf: -o service_user=$mailbox_owner); it
 * owns the mail store below virtual_mailbox_base and never touches the
 * queue directory: each request brings a read-only descriptor of its
 * queue file.  Socket: private/local.  Serves only peers whose uid is
 * mail_owner's (SO_PEERCRED), one connection at a time per process, many
 * requests per connection.  Reads the users and alias tables (LMDB,
 * opened before the privilege drop).
 *
 * SECURITY: a request names addresses; the Maildir path is built only
 * from names that passed lib/users.h's checks and opened with O_NOFOLLOW
 * relative to folder descriptors (lib/maildir).
 *
 * STANDARDS: RFC 5321 §4.4 (Return-Path), §4.5.1 (postmaster), RFC 3463
 * (enhanced status codes), RFC 5322 (header fields).
 *
 * Never: reply before the delivered files and their new/ folders are
 * durable (DESIGN §2 rule 3), deliver for a request without exactly one
 * good descriptor, or exit because of what a peer sent.
 */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/service.h"
#include "lib/sock.h"
#include "local/local.h"

struct local_main {
	struct service *svc;
	struct local_ctx ctx;
	struct map *users;
	struct map_list *aliases;
};

struct session {
	struct local_main *lm;
	struct local_conn *conn;
	int fd;
	struct event_timer *timer;
};

static void on_timeout(struct event_loop *loop, void *arg);

static void
session_end(struct session *s)
{
	struct service *svc = s->lm->svc;

	event_timer_cancel(service_loop(svc), &s->timer);
	event_fd_del(service_loop(svc), s->fd);
	local_conn_free(&s->conn);
	free(s);
	service_session_done(svc);
}

/* ipc_timeout inside a request, max_idle between requests. */
static void
arm(struct session *s)
{
	const struct params *p = service_params(s->lm->svc);
	uint64_t secs =
	    local_conn_partial(s->conn) ? p->ipc_timeout : p->max_idle;

	event_timer_cancel(service_loop(s->lm->svc), &s->timer);
	s->timer = event_timer_add(
	    service_loop(s->lm->svc), secs * 1000, on_timeout, s);
}

static void
on_timeout(struct event_loop *loop, void *arg)
{
	struct session *s = arg;

	s->timer = NULL;
	if (local_conn_partial(s->conn))
		log_warn("timeout reading a request from qmgr");
	session_end(s);
}

static void
on_read(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct session *s = arg;

	if (local_conn_read(s->conn) == LOCAL_IO_CLOSE ||
	    (service_master_gone(s->lm->svc) && !local_conn_partial(s->conn))) {
		session_end(s);
		return;
	}
	arm(s);
}

static void
on_accept(struct service *svc, int fd, const struct sockaddr *peer,
    socklen_t len, void *arg)
{
	struct local_main *lm = arg;
	struct session *s;
	uid_t uid;
	bool known = sock_peer_cred(fd, &uid, NULL, NULL) == 0;

	if (!known || uid != lm->ctx.mail_uid) {
		log_warn("connection from uid %ld refused: only mail_owner "
		         "may deliver",
		    known ? (long)uid : -1L);
		(void)close(fd); /* nothing sent */
		service_session_done(svc);
		return;
	}
	s = x_calloc(1, sizeof(*s));
	s->lm = lm;
	s->fd = fd;
	s->conn = local_conn_new(&lm->ctx, fd);
	if (event_fd_add(service_loop(svc), fd, EV_READ, on_read, s) < 0) {
		log_warn("watch connection: %m");
		session_end(s);
		return;
	}
	arm(s);
}

int
main(int argc, char **argv)
{
	struct service_opts opts = {.program = "local", .client_limit = 1};
	struct local_main lm = {0};
	struct str *why = str_new(1024);
	const struct params *p;
	struct passwd *pw;

	lm.svc = service_init(argc, argv, &opts);
	p = service_params(lm.svc);
	pw = getpwnam(p->mail_owner);
	if (pw == NULL)
		log_fatal("mail_owner %s: no such user", p->mail_owner);
	lm.ctx.mail_uid = pw->pw_uid;
	lm.ctx.p = p;
	/* Tables are opened before the privilege drop. */
	lm.users = map_open(p->users_map, why);
	if (lm.users == NULL)
		log_fatal("users_map %s: %s", p->users_map, str_c(why));
	if (p->alias_maps[0] != '\0') {
		lm.aliases = map_list_open(p->alias_maps, why);
		if (lm.aliases == NULL)
			log_fatal(
			    "alias_maps %s: %s", p->alias_maps, str_c(why));
	}
	lm.ctx.users = lm.users;
	lm.ctx.resolver = resolve_new(p, lm.users, lm.aliases);

	service_drop_privileges(lm.svc);
	/* The store as mailbox_owner sees it: a wrong owner shows now. */
	lm.ctx.store =
	    maildir_store_open(p->virtual_mailbox_base, p->myhostname, why);
	if (lm.ctx.store == NULL)
		log_fatal("virtual_mailbox_base: %s", str_c(why));
	str_free(&why);
	return service_run(lm.svc, on_accept, &lm);
}
