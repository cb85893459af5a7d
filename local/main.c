/*
 * local - facteur's local delivery agent (Postfix's local(8) and
 * virtual(8) in one): aliases, virtual mailboxes of the users table,
 * Maildir delivery with quota and loop checks.
 *
 * User: mailbox_owner (master.cf: -o service_user=$mailbox_owner); it
 * owns the mail store below virtual_mailbox_base and never touches the
 * queue directory: each request brings a read-only descriptor of its
 * queue file.  Socket: private/local.  Serves only peers whose uid is
 * mail_owner's (SO_PEERCRED), up to LOCAL_CLIENT_LIMIT connections at a
 * time per process, many requests per connection.  Reads the users and
 * alias tables (LMDB, opened before the privilege drop).
 *
 * Group commit (commit.c): the requests of all connections that the
 * event loop hands over without waiting share one batch.  A whole
 * request is written into it and its connection left unwatched; a
 * zero-delay timer then gives the loop one more turn at a time while
 * each turn brings another request, and when one brings none, the batch
 * is synced once and every request in it answered.  No delay is ever
 * added: a batch is what arrived while the previous one was syncing.
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

/*
 * Connections served at once by one process, so at most this many
 * requests share a group commit.  qmgr keeps at most
 * default_destination_concurrency_limit (20) requests in flight to one
 * destination, and master starts another local when one is full: so a
 * busy destination keeps two processes at work, one syncing its batch
 * while qmgr settles the replies of the other's.  bench/README.md
 * (deliver) measured 10 against 5, 20 and 100: the best median, though
 * within the noise of a shared machine.
 */
#define LOCAL_CLIENT_LIMIT 10

struct local_main {
	struct service *svc;
	struct local_ctx ctx;
	struct map *users;
	struct map_list *aliases;
	struct local_commit *commit;
	struct event_timer *commit_timer;
	size_t seen; /* requests waiting at the last look */
};

struct session {
	struct local_main *lm;
	struct local_conn *conn;
	int fd;
	struct event_timer *timer;
};

static void on_read(struct event_loop *loop, int fd, unsigned ev, void *arg);

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

/* The commit answered s's request: watch it again, or end it. */
static void
on_answered(void *owner, enum local_io io)
{
	struct session *s = owner;
	struct local_main *lm = s->lm;

	if (io == LOCAL_IO_CLOSE || service_master_gone(lm->svc)) {
		session_end(s);
		return;
	}
	if (event_fd_add(service_loop(lm->svc), s->fd, EV_READ, on_read, s) <
	    0) {
		log_warn("watch connection: %m");
		session_end(s);
		return;
	}
	arm(s);
}

/*
 * End of a loop turn with requests waiting: if this turn handed over
 * more, give the loop another turn (the timer runs again after an
 * epoll_wait that does not block); else sync and answer them all.
 */
static void
on_commit(struct event_loop *loop, void *arg)
{
	struct local_main *lm = arg;
	size_t n = local_commit_waiting(lm->commit);

	lm->commit_timer = NULL;
	if (n > lm->seen && n < LOCAL_CLIENT_LIMIT) {
		lm->seen = n;
		lm->commit_timer = event_timer_add(loop, 0, on_commit, lm);
		return;
	}
	lm->seen = 0;
	local_commit_run(lm->commit, on_answered);
}

static void
on_read(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct session *s = arg;
	struct local_main *lm = s->lm;

	switch (local_conn_read(s->conn)) {
	case LOCAL_IO_CLOSE:
		session_end(s);
		return;
	case LOCAL_IO_WAIT:
		/* Answered by the commit: until then, nothing to read. */
		event_fd_del(loop, s->fd);
		event_timer_cancel(loop, &s->timer);
		if (lm->commit_timer == NULL)
			lm->commit_timer =
			    event_timer_add(loop, 0, on_commit, lm);
		return;
	case LOCAL_IO_MORE:
		break;
	}
	if (service_master_gone(lm->svc) && !local_conn_partial(s->conn)) {
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
	local_conn_join(s->conn, lm->commit, s);
	if (event_fd_add(service_loop(svc), fd, EV_READ, on_read, s) < 0) {
		log_warn("watch connection: %m");
		session_end(s);
		return;
	}
	/* qmgr sends its request right after connecting: often here. */
	on_read(service_loop(svc), fd, EV_READ, s);
}

int
main(int argc, char **argv)
{
	struct service_opts opts = {
	    .program = "local", .client_limit = LOCAL_CLIENT_LIMIT};
	struct local_main lm = {0};
	struct str *why = str_new(1024);
	const struct params *p;
	struct passwd *pw;
	int rc;

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
	lm.commit = local_commit_new(&lm.ctx);
	rc = service_run(lm.svc, on_accept, &lm);
	/* Stopped between a hand-over and its commit (SIGTERM): answer. */
	event_timer_cancel(service_loop(lm.svc), &lm.commit_timer);
	local_commit_run(lm.commit, on_answered);
	local_commit_free(&lm.commit);
	return rc;
}
