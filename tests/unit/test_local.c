/*
 * test_local - local's request handling (local/session.c, request.c,
 * recipient.c, headers.c) driven over a socketpair, with real tables,
 * a real queue and a real mail store under /var/tmp:
 *   - descriptors: none, two in one piece, two in two pieces, a
 *     truncated control message, a file of another owner, with two
 *     links, not regular, not read-only: refused, nothing delivered;
 *   - framing: pipelined, malformed, several requests on a connection;
 *   - recipients: users with +tag, aliases (nested, loops, too deep,
 *     remote targets forwarded, failed targets forwarded), postmaster
 *     and MAILER-DAEMON, unknown and disabled users, quota (defer and
 *     bounce), Delivered-To and hop-count loops, ENOSPC;
 *   - durability: one fsync per file, one per distinct new/, all links
 *     before the folder syncs, a failed folder sync deferred;
 *   - the header parser, table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/deliver.h"
#include "lib/fsio.h"
#include "lib/map_build.h"
#include "lib/queue.h"
#include "lib/queue_write.h"
#include "lib/sock.h"
#include "local/local.h"

static char tmpdir[] = "/var/tmp/facteur-test-local.XXXXXX";
static char mail[128];
static struct params params;
static struct map *users;
static struct map_list *aliases;
static struct resolver *resolver;
static struct maildir_store *store;
static struct queue *queue;
static struct local_ctx ctx;

static const char users_text[] = "ann@example.test\n"
                                 "bob@example.test\n"
                                 "full@example.test quota=10\n"
                                 "old@example.test enabled=no\n";

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct str *why = str_new(4096), *al = str_new(8192);
	struct queue_owner own = {geteuid(), getegid(), getegid()};
	char qroot[160];
	const char *ref;

	if (mkdtemp(tmpdir) == NULL)
		return -1;
	if (str_appends(al, "postmaster: ann\n"
	                    "sales@example.test: ann, bob\n"
	                    "fwd@example.test: ann@example.test, "
	                    "someone@remote.test, other@Remote.test\n"
	                    "loop1@example.test: loop2@example.test\n"
	                    "loop2@example.test: loop1@example.test\n"
	                    "list@example.test: ann@example.test, "
	                    "nobody@example.test\n"
	                    "gone@example.test: nobody@example.test\n"
	                    "twice@example.test: ann, ann@example.test, "
	                    "sales@example.test\n") < 0)
		return -1;
	for (int i = 0; i < 20; i++)
		if (str_appendf(al, "deep%d@example.test: deep%d\n", i, i + 1) <
		    0)
			return -1;
	if ((ref = test_build_table(tmpdir, "users", users_text, MAP_FORMAT_USERS)) == NULL ||
	    (users = map_open(ref, why)) == NULL)
		return -1;
	if ((ref = test_build_table(tmpdir, "aliases", str_c(al), MAP_FORMAT_ALIASES)) == NULL ||
	    (aliases = map_list_open(ref, why)) == NULL)
		return -1;
	snprintf(mail, sizeof(mail), "%s/mail", tmpdir);
	snprintf(qroot, sizeof(qroot), "%s/queue", tmpdir);
	if (mkdir(mail, 0700) < 0 || queue_dir_init(qroot, &own, why) < 0 ||
	    queue_open(qroot, 65536, &queue, why) < 0)
		return -1;
	params.mydestination = "mail.example.test, localhost";
	params.virtual_mailbox_domains = "example.test";
	params.recipient_delimiter = "+";
	params.myhostname = "mail.example.test";
	params.myorigin = "example.test";
	params.header_size_limit = 102400;
	params.queue_record_limit = 65536;
	params.hopcount_limit = 5;
	params.ipc_timeout = 10;
	params.quota_exceeded_action = "defer";
	resolver = resolve_new(&params, users, aliases);
	store = maildir_store_open(mail, "mail.example.test", why);
	if (store == NULL)
		return -1;
	ctx = (struct local_ctx){&params, resolver, users, store, geteuid()};
	str_free(&why);
	str_free(&al);
	return 0;
}

static int
teardown(void **state)
{
	resolve_free(&resolver);
	maildir_store_close(&store);
	queue_close(&queue);
	map_close(&users);
	map_list_close(&aliases);
	return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Queue a message (CRLF content) for rcpts; its id (static). */
static const char *
queue_msg(const char *content, const char *const *rcpts)
{
	static char id[64];
	struct str *why = str_new(1024);
	struct queue_file *qf;

	assert_int_equal(
	    queue_file_create(queue, time_real_us(), &qf, why), STATUS_OK);
	assert_int_equal(
	    queue_file_sender(qf, "ann@example.org", why), STATUS_OK);
	for (size_t i = 0; rcpts[i] != NULL; i++)
		assert_int_equal(
		    queue_file_rcpt(qf, rcpts[i], NULL, 0, why), STATUS_OK);
	assert_int_equal(
	    queue_file_content(qf, content, strlen(content), why), STATUS_OK);
	assert_int_equal(queue_file_commit(qf, why), STATUS_OK);
	snprintf(id, sizeof(id), "%s", queue_file_id(qf));
	queue_file_free(&qf);
	str_free(&why);
	return id;
}

static int
open_qf(const char *id)
{
	struct str *why = str_new(256);
	int fd = queue_file_open(queue, QUEUE_INCOMING, id, O_RDONLY, why);

	assert_true(fd >= 0);
	str_free(&why);
	return fd;
}

/* The request for id and rcpts (index = position). */
static char *
request(const char *id, const char *const *rcpts)
{
	struct str *s = str_new(DELIVER_MSG_MAX);

	assert_int_equal(str_appendf(s,
	                     "queue_id %s\nsender ann@example.org\nnexthop "
	                     "example.test\narrival %llu\nenvid -\nret -\n",
	                     id, (unsigned long long)time_real_us()),
	    0);
	for (size_t i = 0; rcpts[i] != NULL; i++)
		assert_int_equal(
		    str_appendf(s, "rcpt %zu 0 %s %s\n", i, rcpts[i], rcpts[i]),
		    0);
	assert_int_equal(str_appends(s, "end\n"), 0);
	return str_take(&s);
}

/* A connection: conn side (non-blocking) handled by local, peer ours. */
struct pair {
	struct local_conn *conn;
	int peer;
};

static struct pair
pair_new(void)
{
	int sv[2];
	struct pair p;

	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(fd_set_nonblock(sv[0], true), 0);
	assert_int_equal(fd_set_nonblock(sv[1], true), 0);
	p.conn = local_conn_new(&ctx, sv[0]);
	p.peer = sv[1];
	return p;
}

static void
pair_free(struct pair *p)
{
	local_conn_free(&p->conn);
	close(p->peer);
}

/* What local has written back (may be ""). */
static char *
take_reply(struct pair *p)
{
	struct str *s = str_new(DELIVER_MSG_MAX);
	char buf[65536];
	ssize_t n;

	while ((n = recv(p->peer, buf, sizeof(buf), 0)) > 0)
		assert_int_equal(str_append(s, buf, (size_t)n), 0);
	return str_take(&s);
}

/* One request with nfds descriptors in one piece; the reply text. */
static char *
exchange(struct pair *p, const char *req, const int *fds, size_t nfds,
    enum local_io *io_r)
{
	assert_int_equal(sock_send_fds(p->peer, req, strlen(req), fds, nfds),
	    (ssize_t)strlen(req));
	*io_r = local_conn_read(p->conn);
	return take_reply(p);
}

/* Messages in the Maildir of local@example.test. */
static size_t
mails(const char *local)
{
	char path[512];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(
	    path, sizeof(path), "%s/example.test/%s/Maildir/new", mail, local);
	d = opendir(path);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The newest message of local@example.test. */
static char *
newest(const char *local)
{
	char path[512], best[256] = "", *text;
	struct dirent *de;
	DIR *d;
	FILE *f;
	long n;

	snprintf(
	    path, sizeof(path), "%s/example.test/%s/Maildir/new", mail, local);
	d = opendir(path);
	assert_non_null(d);
	/*
	 * By <secs>.M<usec> as numbers: the microseconds are not padded,
	 * so "M99999" sorts after a later "M100000" as text.
	 */
	unsigned long long bs = 0, bu = 0;
	while ((de = readdir(d)) != NULL) {
		char *e;
		unsigned long long secs, usec;
		if (de->d_name[0] == '.')
			continue;
		secs = strtoull(de->d_name, &e, 10);
		usec =
		    e[0] == '.' && e[1] == 'M' ? strtoull(e + 2, NULL, 10) : 0;
		if (best[0] == '\0' || secs > bs || (secs == bs && usec > bu)) {
			snprintf(best, sizeof(best), "%s", de->d_name);
			bs = secs;
			bu = usec;
		}
	}
	closedir(d);
	snprintf(path, sizeof(path), "%s/example.test/%s/Maildir/new/%s", mail,
	    local, best);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return text;
}

/* Parse reply text and check it against the request; caller clears. */
static void
parse_reply(const char *req, const char *text, struct deliver_reply *rp)
{
	struct str *why = str_new(256);
	struct deliver_request rq;

	assert_int_equal(
	    deliver_request_parse((const uint8_t *)req, strlen(req), &rq, why),
	    0);
	if (deliver_reply_parse((const uint8_t *)text, strlen(text), rp, why) <
	        0 ||
	    deliver_reply_check(&rq, rp, why) < 0)
		fail_msg("bad reply: %s\n%s", str_c(why), text);
	deliver_request_clear(&rq);
	str_free(&why);
}

static const struct deliver_status *
status_of(const struct deliver_reply *rp, size_t index)
{
	for (size_t i = 0; i < rp->n; i++)
		if (rp->v[i].index == index)
			return &rp->v[i];
	fail_msg("no status for %zu", index);
	return NULL;
}

static const char msg_text[] = "From: ann@example.org\r\nSubject: t\r\n\r\n"
                               "one\r\ntwo\r\n";

/*
 * Deliver msg to rcpts in one request; fill rp.  *io_r what the
 * connection said.
 */
static void
run(const char *msg, const char *const *rcpts, struct deliver_reply *rp)
{
	const char *id = queue_msg(msg, rcpts);
	int fd = open_qf(id);
	char *req = request(id, rcpts), *text;
	struct pair p = pair_new();
	enum local_io io;

	text = exchange(&p, req, &fd, 1, &io);
	assert_int_equal(io, LOCAL_IO_MORE);
	parse_reply(req, text, rp);
	close(fd);
	free(req);
	free(text);
	pair_free(&p);
}

static void
test_deliver_users(void **state)
{
	const char *rcpts[] = {"ann@example.test", "Ann+Tag@Example.TEST",
	    "bob@example.test", NULL};
	struct deliver_reply rp;
	size_t a = mails("ann"), b = mails("bob");
	char *m;

	run(msg_text, rcpts, &rp);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(status_of(&rp, i)->kind, DELIVER_SENT);
		assert_string_equal(status_of(&rp, i)->dsn, "2.0.0");
		assert_string_equal(status_of(&rp, i)->relay, "local");
		assert_string_equal(
		    status_of(&rp, i)->text, "delivered to maildir");
	}
	deliver_reply_clear(&rp);
	assert_int_equal(mails("ann"), a + 2);
	assert_int_equal(mails("bob"), b + 1);
	m = newest("bob");
	/* Return-Path and Delivered-To first, LF line ends, our bytes. */
	assert_true(strncmp(m,
	                "Return-Path: <ann@example.org>\n"
	                "Delivered-To: bob@example.test\n",
	                strlen("Return-Path: <ann@example.org>\n"
	                       "Delivered-To: bob@example.test\n")) == 0);
	assert_non_null(strstr(m, "\nSubject: t\n\none\ntwo\n"));
	assert_null(strchr(m, '\r'));
	free(m);
}

static void
test_tag_in_delivered_to(void **state)
{
	const char *rcpts[] = {"ann+lists@example.test", NULL};
	struct deliver_reply rp;
	char *m;

	run(msg_text, rcpts, &rp);
	assert_int_equal(status_of(&rp, 0)->kind, DELIVER_SENT);
	deliver_reply_clear(&rp);
	m = newest("ann");
	assert_non_null(strstr(m, "\nDelivered-To: ann+lists@example.test\n"));
	free(m);
}

static void
test_unknown_disabled_quota(void **state)
{
	const char *rcpts[] = {"nobody@example.test", "old@example.test",
	    "full@example.test", "@example.test", "x@[192.0.2.1]",
	    "someone@remote.test", NULL};
	struct deliver_reply rp;

	run(msg_text, rcpts, &rp);
	assert_int_equal(status_of(&rp, 0)->kind, DELIVER_BOUNCE);
	assert_string_equal(status_of(&rp, 0)->dsn, "5.1.1");
	assert_int_equal(status_of(&rp, 1)->kind, DELIVER_BOUNCE);
	assert_string_equal(status_of(&rp, 1)->dsn, "5.2.1");
	assert_int_equal(status_of(&rp, 2)->kind, DELIVER_DEFER);
	assert_string_equal(status_of(&rp, 2)->dsn, "4.2.2");
	assert_non_null(strstr(status_of(&rp, 2)->text, "quota"));
	assert_string_equal(status_of(&rp, 3)->dsn, "5.1.3");
	assert_int_equal(status_of(&rp, 4)->kind, DELIVER_BOUNCE);
	/* Not our domain: qmgr and local disagree; never forwarded back. */
	assert_int_equal(status_of(&rp, 5)->kind, DELIVER_DEFER);
	assert_string_equal(status_of(&rp, 5)->dsn, "4.3.5");
	deliver_reply_clear(&rp);
	assert_int_equal(mails("full"), 0);

	params.quota_exceeded_action = "bounce";
	const char *r2[] = {"full@example.test", NULL};
	run(msg_text, r2, &rp);
	params.quota_exceeded_action = "defer";
	assert_int_equal(status_of(&rp, 0)->kind, DELIVER_BOUNCE);
	assert_string_equal(status_of(&rp, 0)->dsn, "5.2.2");
	deliver_reply_clear(&rp);
}

static void
test_aliases(void **state)
{
	const char *rcpts[] = {"sales@example.test", "fwd@example.test",
	    "loop1@example.test", "list@example.test", "deep0@example.test",
	    "gone@example.test", "twice@example.test", NULL};
	size_t a = mails("ann"), b = mails("bob");
	const struct deliver_status *s;
	struct deliver_reply rp;

	run(msg_text, rcpts, &rp);
	/* sales: ann and bob */
	assert_int_equal(status_of(&rp, 0)->kind, DELIVER_SENT);
	/* fwd: ann delivered, two remote addresses forwarded */
	s = status_of(&rp, 1);
	assert_int_equal(s->kind, DELIVER_FORWARD);
	assert_int_equal(s->nforward, 2);
	assert_string_equal(s->forward[0], "someone@remote.test");
	assert_string_equal(s->forward[1], "other@remote.test");
	/* loop1 -> loop2 -> loop1: the loop ends at mailbox loop1: none */
	s = status_of(&rp, 2);
	assert_int_equal(s->kind, DELIVER_BOUNCE);
	assert_string_equal(s->dsn, "5.1.1");
	/* list: ann delivered, nobody forwarded so its bounce gets a DSN */
	s = status_of(&rp, 3);
	assert_int_equal(s->kind, DELIVER_FORWARD);
	assert_int_equal(s->nforward, 1);
	assert_string_equal(s->forward[0], "nobody@example.test");
	/* deep0 .. deep20: nested too deep, a forwarding loop */
	s = status_of(&rp, 4);
	assert_int_equal(s->kind, DELIVER_BOUNCE);
	assert_string_equal(s->dsn, "5.4.6");
	/* gone: only an unknown target: bounced */
	s = status_of(&rp, 5);
	assert_int_equal(s->kind, DELIVER_BOUNCE);
	assert_string_equal(s->dsn, "5.1.1");
	/* twice: ann once (duplicates dropped), bob */
	assert_int_equal(status_of(&rp, 6)->kind, DELIVER_SENT);
	deliver_reply_clear(&rp);
	/* sales 1 + fwd 1 + list 1 + twice 1 = 4 for ann; 2 for bob. */
	assert_int_equal(mails("ann"), a + 4);
	assert_int_equal(mails("bob"), b + 2);
	char *m = newest("ann");
	assert_non_null(strstr(m, "\nDelivered-To: ann@example.test\n"));
	free(m);
}

static void
test_postmaster(void **state)
{
	const char *rcpts[] = {"postmaster@example.test",
	    "MAILER-DAEMON@example.test", "Postmaster", NULL};
	size_t a = mails("ann");
	struct deliver_reply rp;

	/* No alias of its own in the virtual domain: the bare one (ann). */
	run(msg_text, rcpts, &rp);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(status_of(&rp, i)->kind, DELIVER_SENT);
	deliver_reply_clear(&rp);
	assert_int_equal(mails("ann"), a + 3);

	/* No alias at all: deferred (4.3.5), never bounced or lost. */
	struct resolver *bare = resolve_new(&params, users, NULL);
	ctx.resolver = bare;
	run(msg_text, rcpts, &rp);
	ctx.resolver = resolver;
	resolve_free(&bare);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(status_of(&rp, i)->kind, DELIVER_DEFER);
		assert_string_equal(status_of(&rp, i)->dsn, "4.3.5");
	}
	deliver_reply_clear(&rp);
}

static void
test_loops(void **state)
{
	const char *rcpts[] = {"ann@example.test", "bob@example.test", NULL};
	const char *rcpt_tag[] = {"ann+x@example.test", NULL};
	size_t a = mails("ann"), b = mails("bob");
	struct deliver_reply rp;
	struct str *m = str_new(8192);

	/* Our own Delivered-To for ann (folded, any case): ann bounces. */
	run("Received: x\r\nDelivered-To:\r\n <ANN@example.test>\r\n"
	    "Subject: t\r\n\r\nDelivered-To: bob@example.test\r\n",
	    rcpts, &rp);
	assert_int_equal(status_of(&rp, 0)->kind, DELIVER_BOUNCE);
	assert_string_equal(status_of(&rp, 0)->dsn, "5.4.6");
	assert_non_null(strstr(status_of(&rp, 0)->text, "loop"));
	/* the body's line is not a header */
	assert_int_equal(status_of(&rp, 1)->kind, DELIVER_SENT);
	deliver_reply_clear(&rp);
	assert_int_equal(mails("ann"), a);
	assert_int_equal(mails("bob"), b + 1);
	/* With the tag too. */
	run("Delivered-To: ann+x@example.test\r\n\r\nbody\r\n", rcpt_tag, &rp);
	assert_string_equal(status_of(&rp, 0)->dsn, "5.4.6");
	deliver_reply_clear(&rp);

	/* hopcount_limit (5) Received: fields pass, 6 bounce. */
	for (int hops = 5; hops <= 6; hops++) {
		str_clear(m);
		for (int i = 0; i < hops; i++)
			assert_int_equal(str_appends(m, "Received: from x\r\n"
			                                "\tby y\r\n"),
			    0);
		assert_int_equal(str_appends(m, "\r\nbody\r\n"), 0);
		run(str_c(m), rcpts, &rp);
		for (size_t i = 0; i < 2; i++) {
			assert_int_equal(status_of(&rp, i)->kind,
			    hops <= 5 ? DELIVER_SENT : DELIVER_BOUNCE);
			if (hops > 5)
				assert_string_equal(
				    status_of(&rp, i)->dsn, "5.4.6");
		}
		deliver_reply_clear(&rp);
	}
	str_free(&m);
}

/* Send req with fds; nothing may be delivered; return the reply. */
static char *
refused(const char *req, const int *fds, size_t nfds, enum local_io want)
{
	size_t a = mails("ann");
	struct pair p = pair_new();
	enum local_io io;
	char *text = exchange(&p, req, fds, nfds, &io);

	assert_int_equal(io, want);
	assert_int_equal(mails("ann"), a);
	pair_free(&p);
	return text;
}

static void
assert_all_deferred(const char *req, const char *text)
{
	struct deliver_reply rp;

	parse_reply(req, text, &rp);
	for (size_t i = 0; i < rp.n; i++) {
		assert_int_equal(rp.v[i].kind, DELIVER_DEFER);
		assert_string_equal(rp.v[i].dsn, "4.3.0");
	}
	deliver_reply_clear(&rp);
}

static void
test_bad_descriptors(void **state)
{
	const char *rcpts[] = {"ann@example.test", NULL};
	const char *id = queue_msg(msg_text, rcpts);
	char *req = request(id, rcpts), *text, path[512], link2[512];
	int fd = open_qf(id), fds[2] = {fd, open_qf(id)}, pfd[2], other;

	/* No descriptor: a "defer" reply, the connection stays. */
	text = refused(req, NULL, 0, LOCAL_IO_MORE);
	assert_all_deferred(req, text);
	free(text);
	/* Two in one message: the bytes are lost with them: closed. */
	text = refused(req, fds, 2, LOCAL_IO_CLOSE);
	assert_string_equal(text, "");
	free(text);
	/* Two in two pieces of one request: refused with a reply. */
	{
		struct pair p = pair_new();
		size_t half = strlen(req) / 2, a = mails("ann");
		enum local_io io;
		assert_int_equal(sock_send_fds(p.peer, req, half, &fds[0], 1),
		    (ssize_t)half);
		assert_int_equal(local_conn_read(p.conn), LOCAL_IO_MORE);
		assert_true(local_conn_partial(p.conn));
		assert_int_equal(sock_send_fds(p.peer, req + half,
		                     strlen(req) - half, &fds[1], 1),
		    (ssize_t)(strlen(req) - half));
		io = local_conn_read(p.conn);
		assert_int_equal(io, LOCAL_IO_MORE);
		text = take_reply(&p);
		assert_all_deferred(req, text);
		free(text);
		assert_int_equal(mails("ann"), a);
		pair_free(&p);
	}
	/* More descriptors than the control buffer holds: truncated. */
	{
		struct pair p = pair_new();
		int many[12];
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(many))];
		} u;
		struct iovec iov = {req, strlen(req)};
		struct msghdr mh = {.msg_iov = &iov,
		    .msg_iovlen = 1,
		    .msg_control = u.buf,
		    .msg_controllen = sizeof(u.buf)};
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		for (size_t i = 0; i < FCT_NELEM(many); i++)
			many[i] = fd;
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(many));
		memcpy(CMSG_DATA(c), many, sizeof(many));
		assert_int_equal(sendmsg(p.peer, &mh, 0), (ssize_t)strlen(req));
		assert_int_equal(local_conn_read(p.conn), LOCAL_IO_CLOSE);
		text = take_reply(&p);
		assert_string_equal(text, "");
		free(text);
		pair_free(&p);
	}
	/* Not owned by mail_owner. */
	ctx.mail_uid = geteuid() + 1;
	text = refused(req, &fd, 1, LOCAL_IO_MORE);
	ctx.mail_uid = geteuid();
	assert_all_deferred(req, text);
	free(text);
	/* Two links. */
	snprintf(path, sizeof(path), "%s/queue/incoming/%s", tmpdir, id);
	snprintf(link2, sizeof(link2), "%s/queue/second-link", tmpdir);
	assert_int_equal(link(path, link2), 0);
	text = refused(req, &fd, 1, LOCAL_IO_MORE);
	assert_all_deferred(req, text);
	free(text);
	assert_int_equal(unlink(link2), 0);
	/* Not a regular file: a pipe, a folder. */
	assert_int_equal(pipe(pfd), 0);
	text = refused(req, &pfd[0], 1, LOCAL_IO_MORE);
	assert_all_deferred(req, text);
	free(text);
	other = open(tmpdir, O_RDONLY | O_DIRECTORY);
	text = refused(req, &other, 1, LOCAL_IO_MORE);
	assert_all_deferred(req, text);
	free(text);
	/* Not read-only. */
	close(other);
	other = open(path, O_RDWR);
	text = refused(req, &other, 1, LOCAL_IO_MORE);
	assert_all_deferred(req, text);
	free(text);
	/* Not a queue file (no magic): deferred, never guessed at. */
	close(other);
	snprintf(path, sizeof(path), "%s/users", tmpdir);
	other = open(path, O_RDONLY);
	text = refused(req, &other, 1, LOCAL_IO_MORE);
	assert_all_deferred(req, text);
	free(text);
	close(other);
	close(pfd[0]);
	close(pfd[1]);
	close(fds[1]);
	/* The good descriptor still works. */
	struct pair p = pair_new();
	enum local_io io;
	size_t a = mails("ann");
	text = exchange(&p, req, &fd, 1, &io);
	assert_int_equal(io, LOCAL_IO_MORE);
	assert_non_null(strstr(text, "status 0 sent"));
	assert_int_equal(mails("ann"), a + 1);
	free(text);
	pair_free(&p);
	close(fd);
	free(req);
}

static void
test_framing(void **state)
{
	const char *rcpts[] = {"ann@example.test", NULL};
	const char *id = queue_msg(msg_text, rcpts);
	char *req = request(id, rcpts), *text;
	int fd = open_qf(id);
	struct pair p;
	enum local_io io;
	size_t a;

	/* Two requests in one piece (pipelined): closed, none handled. */
	struct str *two = str_new(DELIVER_MSG_MAX);
	assert_int_equal(str_appendf(two, "%s%s", req, req), 0);
	text = refused(str_c(two), &fd, 1, LOCAL_IO_CLOSE);
	assert_string_equal(text, "");
	free(text);
	str_free(&two);
	/* Malformed: closed, nothing delivered. */
	text = refused("queue_id Q\nbogus line\nend\n", &fd, 1, LOCAL_IO_CLOSE);
	free(text);
	text = refused("queue_id Q\nsender a@b\nnexthop h\nrcpt 0 0 a@b a@b\n"
	               "rcpt 0 0 a@b a@b\nend\n",
	    &fd, 1, LOCAL_IO_CLOSE);
	free(text);
	/* Peer gone mid-request. */
	p = pair_new();
	assert_int_equal(sock_send_fds(p.peer, req, 10, &fd, 1), 10);
	shutdown(p.peer, SHUT_WR);
	assert_int_equal(local_conn_read(p.conn), LOCAL_IO_CLOSE);
	pair_free(&p);
	/* Several requests, one after the other, on one connection. */
	p = pair_new();
	a = mails("ann");
	for (int i = 0; i < 3; i++) {
		text = exchange(&p, req, &fd, 1, &io);
		assert_int_equal(io, LOCAL_IO_MORE);
		assert_non_null(strstr(text, "status 0 sent"));
		assert_false(local_conn_partial(p.conn));
		free(text);
	}
	assert_int_equal(mails("ann"), a + 3);
	/* Byte by byte. */
	for (size_t i = 0; req[i] != '\0'; i++) {
		assert_int_equal(
		    sock_send_fds(p.peer, req + i, 1, &fd, i == 0 ? 1 : 0), 1);
		assert_int_equal(local_conn_read(p.conn), LOCAL_IO_MORE);
	}
	text = take_reply(&p);
	assert_non_null(strstr(text, "status 0 sent"));
	free(text);
	assert_int_equal(mails("ann"), a + 4);
	pair_free(&p);
	close(fd);
	free(req);
}

static void
test_durability_order(void **state)
{
	const char *rcpts[] = {"ann@example.test", "bob@example.test",
	    "ann+x@example.test", "sales@example.test", NULL};
	struct fsio_event log[256];
	struct fsio_hooks h = {.log = log, .log_cap = FCT_NELEM(log)};
	struct deliver_reply rp;
	size_t last_link = 0, first_dirsync = SIZE_MAX;

	/* Mailboxes exist: only the batch's own syncs are counted. */
	run(msg_text, rcpts, &rp);
	deliver_reply_clear(&rp);
	fsio_hooks_set(&h);
	run(msg_text, rcpts, &rp);
	fsio_hooks_set(NULL);
	for (size_t i = 0; i < rp.n; i++)
		assert_int_equal(rp.v[i].kind, DELIVER_SENT);
	deliver_reply_clear(&rp);
	/* 5 files (sales = ann + bob) into 2 mailboxes. */
	assert_int_equal(h.count[FSIO_LINK], 5);
	for (size_t i = 0; i < h.log_len; i++) {
		if (log[i].op == FSIO_LINK)
			last_link = i;
		if (log[i].op == FSIO_DIRSYNC && first_dirsync == SIZE_MAX)
			first_dirsync = i;
	}
	/* The queue writer's own syncs come before the request. */
	size_t files = 0, dirs = 0;
	for (size_t i = 0; i < h.log_len; i++) {
		if (log[i].op == FSIO_LINK) {
			/* the file it links was created, then fsynced */
			bool synced = false;
			int fd = -1;
			for (size_t k = 0; k < i; k++) {
				if (log[k].op == FSIO_OPEN &&
				    strcmp(log[k].path, log[i].path) == 0)
					fd = log[k].fd2;
				if (log[k].op == FSIO_FSYNC && fd >= 0 &&
				    log[k].fd == fd)
					synced = true;
			}
			assert_true(fd >= 0);
			assert_true(synced);
			files++;
		}
	}
	assert_int_equal(files, 5);
	for (size_t i = last_link; i < h.log_len; i++)
		if (log[i].op == FSIO_DIRSYNC)
			dirs++;
	/* after the last link: one fsync per distinct new/ (ann, bob) */
	assert_int_equal(dirs, 2);
	assert_true(first_dirsync < last_link); /* the queue's own */
}

/*
 * Send req with the first fsio call of kind op failing with err: ann
 * (recipient 0) must be deferred with dsn and not in new/ when
 * check_boxes, bob (recipient 1) delivered.
 */
static void
fault_once(struct pair *p, const char *req, int *fd, enum fsio_op op,
    int err, const char *dsn, bool check_boxes)
{
	struct fsio_hooks h = {0};
	struct deliver_reply rp;
	size_t a = mails("ann"), b = mails("bob");
	enum local_io io;
	char *text;

	h.fault[0] = (struct fsio_fault){op, 1, err};
	fsio_hooks_set(&h);
	text = exchange(p, req, fd, 1, &io);
	fsio_hooks_set(NULL);
	parse_reply(req, text, &rp);
	free(text);
	assert_int_equal(status_of(&rp, 0)->kind, DELIVER_DEFER);
	assert_string_equal(status_of(&rp, 0)->dsn, dsn);
	assert_int_equal(status_of(&rp, 1)->kind, DELIVER_SENT);
	deliver_reply_clear(&rp);
	if (check_boxes) {
		assert_int_equal(mails("ann"), a);
		assert_int_equal(mails("bob"), b + 1);
	}
}

static void
test_disk_faults(void **state)
{
	const char *rcpts[] = {"ann@example.test", "bob@example.test", NULL};
	const char *id = queue_msg(msg_text, rcpts);
	char *req = request(id, rcpts);
	int fd = open_qf(id);
	struct pair p = pair_new();

	/* ENOSPC writing the first file: 4.3.1 for ann, bob delivered. */
	fault_once(&p, req, &fd, FSIO_WRITE, ENOSPC, "4.3.1", true);
	/* The disk is full when ann's file is fsynced: 4.3.1, not in new/. */
	fault_once(&p, req, &fd, FSIO_FSYNC, ENOSPC, "4.3.1", true);
	/* The first new/ fsync fails: ann deferred, never reported sent. */
	fault_once(&p, req, &fd, FSIO_DIRSYNC, EIO, "4.3.0", false);
	pair_free(&p);
	close(fd);
	free(req);
}

/* What local_commit_run() told each owner (1, 2, 3). */
static int answered_io[4];
static size_t nanswered;

static void
on_answered(void *owner, enum local_io io)
{
	answered_io[(intptr_t)owner] = io;
	nanswered++;
}

/*
 * Group commit: requests of three connections share one batch.  Before
 * local_commit_run() nothing is answered, fsynced or in new/, and a
 * waiting connection reads nothing; the run fsyncs each file, then
 * ann's new/ once for all three, and only then answers; a connection
 * gone while it waited still has its message delivered, unanswered;
 * an answered connection serves its next request.
 */
static void
test_group_commit(void **state)
{
	const char *rcpts[] = {"ann@example.test", NULL};
	const char *id = queue_msg(msg_text, rcpts);
	char *req = request(id, rcpts), *text;
	struct fsio_event log[256];
	struct fsio_hooks h = {.log = log, .log_cap = FCT_NELEM(log)};
	struct local_commit *g = local_commit_new(&ctx);
	struct pair p[3];
	struct deliver_reply rp;
	size_t a, last_link = 0, dirsync = 0;
	int fd = open_qf(id);

	run(msg_text, rcpts, &rp); /* ann's mailbox exists */
	deliver_reply_clear(&rp);
	a = mails("ann");
	nanswered = 0;
	fsio_hooks_set(&h);
	for (intptr_t i = 0; i < 3; i++) {
		p[i] = pair_new();
		local_conn_join(p[i].conn, g, (void *)(i + 1));
		assert_int_equal(
		    sock_send_fds(p[i].peer, req, strlen(req), &fd, 1),
		    (ssize_t)strlen(req));
		assert_int_equal(local_conn_read(p[i].conn), LOCAL_IO_WAIT);
		assert_true(local_conn_partial(p[i].conn));
	}
	/* Waiting: nothing read, answered, synced or in new/. */
	assert_int_equal(sock_send_fds(p[0].peer, "x", 1, NULL, 0), 1);
	assert_int_equal(local_conn_read(p[0].conn), LOCAL_IO_WAIT);
	assert_int_equal(local_commit_waiting(g), 3);
	assert_int_equal(mails("ann"), a);
	text = take_reply(&p[1]);
	assert_string_equal(text, "");
	free(text);
	assert_int_equal(h.count[FSIO_FSYNC], 0);
	assert_int_equal(h.count[FSIO_DIRSYNC], 0);
	/* The third connection goes away while its request waits. */
	local_conn_free(&p[2].conn);
	local_commit_run(g, on_answered);
	fsio_hooks_set(NULL);
	assert_int_equal(local_commit_waiting(g), 0);
	assert_int_equal(nanswered, 2);
	assert_int_equal(answered_io[1], LOCAL_IO_MORE);
	assert_int_equal(answered_io[2], LOCAL_IO_MORE);
	assert_int_equal(mails("ann"), a + 3);
	assert_int_equal(h.count[FSIO_FSYNC], 3);
	assert_int_equal(h.count[FSIO_LINK], 3);
	for (size_t i = 0; i < h.log_len; i++) {
		if (log[i].op == FSIO_LINK)
			last_link = i;
		if (log[i].op == FSIO_DIRSYNC) {
			assert_true(i > last_link);
			dirsync++;
		}
	}
	assert_int_equal(dirsync, 1); /* one new/ fsync for three */
	text = take_reply(&p[1]);
	assert_non_null(strstr(text, "status 0 sent"));
	free(text);
	/* The byte sent while it waited is read only now (the start of a
	 * next request); the other connection serves its next request. */
	assert_int_equal(local_conn_read(p[0].conn), LOCAL_IO_MORE);
	text = take_reply(&p[0]);
	assert_non_null(strstr(text, "status 0 sent"));
	free(text);
	assert_int_equal(sock_send_fds(p[1].peer, req, strlen(req), &fd, 1),
	    (ssize_t)strlen(req));
	assert_int_equal(local_conn_read(p[1].conn), LOCAL_IO_WAIT);
	local_commit_run(g, on_answered);
	assert_int_equal(nanswered, 3);
	text = take_reply(&p[1]);
	assert_non_null(strstr(text, "status 0 sent"));
	free(text);
	assert_int_equal(mails("ann"), a + 4);
	for (size_t i = 0; i < 3; i++)
		pair_free(&p[i]);
	local_commit_free(&g);
	close(fd);
	free(req);
}

static void
test_headers(void **state)
{
	static const struct {
		const char *name;
		const char *in;
		bool complete;
		unsigned received;
		const char *delivered; /* "a,b" */
	} cases[] = {
	    {"empty", "", true, 0, ""},
	    {"two received", "Received: a\r\nreceived: b\r\n\r\n", true, 2, ""},
	    {"folded received", "Received: a\r\n\tb\r\nX: y\r\n\r\n", true, 1,
	        ""},
	    {"body not counted", "X: y\r\n\r\nReceived: z\r\n", true, 0, ""},
	    {"delivered", "Delivered-To: A@B\r\n\r\n", true, 0, "a@b"},
	    {"delivered brackets", "Delivered-To:  <a@b> \r\n", true, 0, "a@b"},
	    {"delivered folded", "Delivered-To:\r\n a@b\r\nX: y\n", true, 0,
	        "a@b"},
	    {"bare lf", "Delivered-To: a@b\nReceived: x\n\n", true, 1, "a@b"},
	    {"not a name", "Delivered-Tox: a@b\r\nReceivedx: y\r\n", true, 0,
	        ""},
	    {"no colon", "Received\r\n", true, 0, ""},
	    {"cut line ignored", "Received: a\r\nDelivered-To: a@b.evil", false,
	        1, ""},
	    {"cut after field", "Delivered-To: a@b\r\n", false, 0, ""},
	    {"last line kept when whole", "Delivered-To: a@b", true, 0, "a@b"},
	    {"two delivered", "Delivered-To: a@b\r\nDelivered-To: c@d\r\n\r\n",
	        true, 0, "a@b,c@d"},
	    {"empty value", "Delivered-To: \r\n\r\n", true, 0, ""},
	};
	struct local_headers h;

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		char got[256] = "";
		local_headers_parse((const uint8_t *)cases[i].in,
		    strlen(cases[i].in), cases[i].complete, &h);
		for (size_t k = 0; k < h.ndelivered; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got),
			    "%s%s", k ? "," : "", h.delivered[k]);
		if (h.received != cases[i].received ||
		    strcmp(got, cases[i].delivered) != 0)
			fail_msg("%s: received %u delivered \"%s\"",
			    cases[i].name, h.received, got);
		local_headers_clear(&h);
	}
	/* At most LOCAL_DELIVERED_MAX kept; a long value is not ours. */
	struct str *s = str_new(1 << 20);
	for (int i = 0; i < LOCAL_DELIVERED_MAX + 5; i++)
		assert_int_equal(
		    str_appendf(s, "Delivered-To: u%d@x\r\n", i), 0);
	assert_int_equal(str_appends(s, "Delivered-To: "), 0);
	for (int i = 0; i < 2000; i++)
		assert_int_equal(str_appendc(s, 'a'), 0);
	assert_int_equal(str_appends(s, "\r\n\r\n"), 0);
	local_headers_parse(str_data(s), str_len(s), true, &h);
	assert_int_equal(h.ndelivered, LOCAL_DELIVERED_MAX);
	assert_true(local_headers_delivered_to(&h, "U0@X"));
	assert_false(local_headers_delivered_to(&h, "u0@y"));
	local_headers_clear(&h);
	str_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deliver_users),
	    cmocka_unit_test(test_tag_in_delivered_to),
	    cmocka_unit_test(test_unknown_disabled_quota),
	    cmocka_unit_test(test_aliases),
	    cmocka_unit_test(test_postmaster),
	    cmocka_unit_test(test_loops),
	    cmocka_unit_test(test_bad_descriptors),
	    cmocka_unit_test(test_framing),
	    cmocka_unit_test(test_durability_order),
	    cmocka_unit_test(test_disk_faults),
	    cmocka_unit_test(test_group_commit),
	    cmocka_unit_test(test_headers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
