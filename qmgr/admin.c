/*
 * admin - qmgr's administration socket, $queue_directory/private/
 * qmgr-admin (lib/admin_proto.h, docs/admin-protocol.md): hold, release,
 * requeue and delete messages, flush the deferred queue.  mailctl is
 * the client; nothing else changes queue files on an administrator's
 * behalf (DESIGN §2).
 *
 * Peers: root only; in an unprivileged instance (qmgr was not started
 * by root) also the instance's owner, qmgr's own uid.  The socket is
 * mail_owner's, 0600, in private/ (0700): SO_PEERCRED decides, never
 * the file mode alone.
 *
 * Every answer comes after the change is durable: moves fsync both
 * folders (queue_move), a delete fsyncs the folder it removed from.
 *
 * Never: act for a peer that is not allowed, grow a connection's input
 * past ADMIN_LINE_MAX a line, or block.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/linebuf.h"
#include "lib/log.h"
#include "lib/sock.h"
#include "qmgr/qmgr.h"

#define OUT_MAX 65536

struct aconn {
	struct aconn *prev, *next;
	struct qadmin *a;
	int fd;
	uid_t uid;
	struct linebuf *in;
	struct str *out;
	struct event_timer *timer;
	bool eof;
};

struct qadmin {
	struct qmgr *qm;
	int fd;
	struct aconn *conns;
	unsigned n;
};

static void
aconn_free(struct aconn *c)
{
	struct qadmin *a = c->a;

	event_timer_cancel(a->qm->loop, &c->timer);
	event_fd_del(a->qm->loop, c->fd);
	(void)fd_close(&c->fd); /* answers written or peer gone */
	linebuf_free(&c->in);
	str_free(&c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	a->n--;
	free(c);
}

/* ---- the commands ---- */

typedef int one_fn(struct qmgr *qm, const char *id, uint64_t *count,
    struct str *why);

static int
move_file(struct qmgr *qm, enum queue_folder from, enum queue_folder to,
    const char *id, bool *moved, struct str *why)
{
	*moved = false;
	if (queue_move(qm->q, from, to, id, why) == 0) {
		*moved = true;
		return 0;
	}
	if (errno == ENOENT) {
		str_clear(why);
		return 0;
	}
	return -1;
}

static int
do_hold(struct qmgr *qm, const char *id, uint64_t *count, struct str *why)
{
	static const enum queue_folder from[] = { QUEUE_INCOMING,
		QUEUE_DEFERRED };
	struct qmsg *m = msg_find(qm, id);
	bool moved;

	if (m != NULL) {
		if (!m->hold && !m->deleted) {
			log_info("%s: placed on hold", id);
			(*count)++;
			msg_hold(qm, m); /* may free m */
		}
		return 0;
	}
	for (size_t i = 0; i < FCT_NELEM(from); i++) {
		if (move_file(qm, from[i], QUEUE_HOLD, id, &moved, why) < 0)
			return -1;
		if (moved) {
			log_info("%s: placed on hold", id);
			(*count)++;
			return 0;
		}
	}
	return 0;
}

static int
do_release(struct qmgr *qm, const char *id, uint64_t *count, struct str *why)
{
	time_t now = time(NULL);
	struct timespec ts[2] = { { now, 0 }, { now, 0 } };
	bool moved;
	int fd;

	/* Due at once: mtime is the next attempt (deferred/). */
	fd = queue_file_open(qm->q, QUEUE_HOLD, id, O_RDONLY, why);
	if (fd < 0) {
		if (errno != ENOENT)
			return -1;
		str_clear(why);
		return 0;
	}
	if (fsio_futimens(fd, ts) < 0)
		log_warn("%s: release: set mtime: %m", id);
	(void)close(fd); /* read-only */
	if (move_file(qm, QUEUE_HOLD, QUEUE_DEFERRED, id, &moved, why) < 0)
		return -1;
	if (moved) {
		log_info("%s: released from hold", id);
		(*count)++;
		qmgr_scan_deferred(qm, false);
	}
	return 0;
}

static int
do_requeue(struct qmgr *qm, const char *id, uint64_t *count, struct str *why)
{
	static const enum queue_folder from[] = { QUEUE_DEFERRED, QUEUE_HOLD };
	struct qmsg *m = msg_find(qm, id);
	bool moved;

	if (m != NULL) {
		if (!m->deleted) {
			msg_requeue(qm, m);
			(*count)++;
		}
		return 0;
	}
	for (size_t i = 0; i < FCT_NELEM(from); i++) {
		if (move_file(qm, from[i], QUEUE_INCOMING, id, &moved, why) < 0)
			return -1;
		if (moved) {
			log_info("%s: requeued", id);
			(*count)++;
			qmgr_scan_incoming(qm);
			return 0;
		}
	}
	if (faccessat(queue_folder_fd(qm->q, QUEUE_INCOMING), id, F_OK,
		AT_SYMLINK_NOFOLLOW) == 0) {
		(*count)++; /* waiting for qmgr already */
		qmgr_scan_incoming(qm);
	}
	return 0;
}

static int
do_delete(struct qmgr *qm, const char *id, uint64_t *count, struct str *why)
{
	static const enum queue_folder from[] = { QUEUE_INCOMING,
		QUEUE_DEFERRED, QUEUE_HOLD };
	struct qmsg *m = msg_find(qm, id);

	if (m != NULL) {
		if (m->deleted)
			return 0;
		if (msg_delete(qm, m, why) < 0) /* may free m */
			return -1;
		(*count)++;
		return 0;
	}
	for (size_t i = 0; i < FCT_NELEM(from); i++) {
		if (queue_remove(qm->q, from[i], id, why) < 0) {
			if (errno != ENOENT)
				return -1;
			str_clear(why);
			continue;
		}
		/* The administrator is told only once it is durable. */
		if (queue_folder_sync(qm->q, from[i], why) < 0)
			return -1;
		if (rcptlog_remove(qm->q, QUEUE_DEFER, id, why) < 0) {
			log_warn("%s: %s", id, str_c(why));
			str_clear(why);
		}
		log_info("%s: removed", id);
		(*count)++;
		return 0;
	}
	return 0;
}

/*
 * Forced expiry: mark the file; a message waiting in deferred/ is made
 * due at once so that its next attempt (and bounce) comes now.  A held
 * message keeps waiting, marked, until it is released.
 */
static int
do_expire(struct qmgr *qm, const char *id, uint64_t *count, struct str *why)
{
	static const enum queue_folder from[] = { QUEUE_ACTIVE,
		QUEUE_INCOMING, QUEUE_DEFERRED, QUEUE_HOLD };
	struct qmsg *m = msg_find(qm, id);

	if (m != NULL && m->deleted)
		return 0;
	for (size_t i = 0; i < FCT_NELEM(from); i++) {
		if (queue_expire_mark(qm->q, from[i], id, why) < 0) {
			if (errno != ENOENT)
				return -1;
			str_clear(why);
			continue;
		}
		if (m != NULL)
			m->expire = true;
		if (from[i] == QUEUE_DEFERRED) {
			time_t now = time(NULL);
			struct timespec ts[2] = { { now, 0 }, { now, 0 } };
			int fd = queue_file_open(qm->q, QUEUE_DEFERRED, id,
			    O_RDONLY, why);
			if (fd >= 0) {
				if (fsio_futimens(fd, ts) < 0)
					log_warn("%s: expire: set mtime: %m",
					    id);
				(void)close(fd); /* read-only */
			}
			str_clear(why);
			qmgr_scan_deferred(qm, false);
		}
		log_info("%s: forced to expire", id);
		(*count)++;
		return 0;
	}
	return 0;
}

struct idlist {
	char **v;
	size_t n;
};

static int
collect_id(const char *id, void *arg)
{
	struct idlist *l = arg;

	l->v = x_realloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = x_strdup(id);
	return 0;
}

/* fn for every message in memory and in the folders verb touches. */
static int
for_all(struct qmgr *qm, one_fn *fn, uint64_t *count, struct str *why)
{
	static const enum queue_folder folders[] = { QUEUE_INCOMING,
		QUEUE_DEFERRED, QUEUE_HOLD };
	struct idlist l = { 0 };
	int rc = 0;

	for (struct qmsg *m = qm->msgs; m != NULL; m = m->next)
		(void)collect_id(m->id, &l); /* never stops */
	for (size_t i = 0; i < FCT_NELEM(folders) && rc == 0; i++)
		if (queue_scan(qm->q, folders[i], collect_id, &l, why) < 0)
			rc = -1;
	for (size_t i = 0; i < l.n; i++) {
		if (rc == 0 && fn(qm, l.v[i], count, why) < 0)
			rc = -1;
		free(l.v[i]);
	}
	free(l.v);
	return rc;
}

static int
count_one(const char *id, void *arg)
{
	(*(uint64_t *)arg)++;
	return 0;
}

static void
execute(struct qmgr *qm, const uint8_t *line, size_t len, struct str *out,
    uid_t uid)
{
	struct admin_cmd cmd;
	struct str *why = str_new(1024);
	uint64_t count = 0;
	one_fn *fn = NULL;
	int rc = 0;

	if (admin_cmd_parse((const char *)line, len, &cmd, why) < 0) {
		str_notef(out, "error %s\n", str_c(why));
		goto out;
	}
	switch (cmd.verb) {
	case ADMIN_HOLD:
		fn = do_hold;
		break;
	case ADMIN_RELEASE:
		fn = do_release;
		break;
	case ADMIN_REQUEUE:
		fn = do_requeue;
		break;
	case ADMIN_DELETE:
		fn = do_delete;
		break;
	case ADMIN_EXPIRE:
		fn = do_expire;
		break;
	case ADMIN_FLUSH:
		break;
	}
	log_debug("admin: uid %u: %s %s", (unsigned)uid,
	    admin_verb_name(cmd.verb), cmd.all ? "ALL" : cmd.id);
	if (fn == NULL) {
		msg_retry_stranded(qm);
		rc = queue_scan(qm->q, QUEUE_DEFERRED, count_one, &count, why);
		sched_unsuspend_all(qm);
		qmgr_scan_deferred(qm, true);
	} else if (cmd.all) {
		rc = for_all(qm, fn, &count, why);
	} else {
		rc = fn(qm, cmd.id, &count, why);
	}
	if (rc < 0) {
		log_warn("admin: %s: %s", admin_verb_name(cmd.verb),
		    str_c(why));
		str_notef(out, "error %s\n", str_c(why));
	} else {
		str_notef(out, "ok %llu\n", (unsigned long long)count);
	}
out:
	str_free(&why);
}

/* ---- the connections ---- */

static void aconn_cb(struct event_loop *loop, int fd, unsigned events,
    void *arg);

static void
aconn_timeout(struct event_loop *loop, void *arg)
{
	struct aconn *c = arg;

	c->timer = NULL;
	aconn_free(c);
}

/* Write what is pending; free when done after EOF; -1 when freed. */
static int
aconn_write(struct aconn *c)
{
	while (str_len(c->out) > 0) {
		ssize_t n = send(c->fd, str_data(c->out), str_len(c->out),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			aconn_free(c);
			return -1;
		}
		str_consume(c->out, (size_t)n);
	}
	if (c->eof && str_len(c->out) == 0) {
		aconn_free(c);
		return -1;
	}
	unsigned want = str_len(c->out) > 0 ? EV_WRITE : EV_READ;
	if (event_fd_mod(c->a->qm->loop, c->fd, want) < 0) {
		aconn_free(c);
		return -1;
	}
	return 0;
}

static void
aconn_read(struct aconn *c)
{
	const uint8_t *line;
	size_t len, room;

	for (;;) {
		uint8_t *space = linebuf_space(c->in, &room);
		if (room == 0)
			break;
		ssize_t n = recv(c->fd, space, room, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			c->eof = true;
			break;
		}
		linebuf_wrote(c->in, (size_t)n);
		for (;;) {
			enum linebuf_result r = linebuf_next(c->in, &line,
			    &len);
			if (r == LINEBUF_MORE)
				break;
			/* Answers past OUT_MAX: the peer is not reading. */
			if (str_len(c->out) > OUT_MAX / 2) {
				c->eof = true;
				break;
			}
			if (r == LINEBUF_TOOLONG)
				str_notef(c->out, "error line too long\n");
			else
				execute(c->a->qm, line, len, c->out, c->uid);
		}
		if (c->eof)
			break;
	}
	(void)aconn_write(c); /* may free c */
}

static void
aconn_cb(struct event_loop *loop, int fd, unsigned events, void *arg)
{
	struct aconn *c = arg;

	if (events & EV_WRITE) {
		(void)aconn_write(c); /* may free c */
		return;
	}
	aconn_read(c);
}

static bool
peer_allowed(struct qadmin *a, uid_t uid)
{
	if (uid == 0)
		return true;
	/* Unprivileged instance: its owner is its administrator. */
	return !a->qm->privileged && uid == geteuid();
}

static void
accept_cb(struct event_loop *loop, int lfd, unsigned events, void *arg)
{
	struct qadmin *a = arg;
	struct aconn *c;
	uid_t uid;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (sock_peer_cred(fd, &uid, NULL, NULL) < 0 ||
	    !peer_allowed(a, uid)) {
		log_warn("admin: refused a connection from uid %ld",
		    fd >= 0 ? (long)uid : -1L);
		(void)close(fd); /* nothing was exchanged */
		return;
	}
	if (a->n >= QMGR_ADMIN_CONN_MAX) {
		log_warn("admin: too many connections");
		(void)close(fd); /* nothing was exchanged */
		return;
	}
	c = x_calloc(1, sizeof(*c));
	c->a = a;
	c->fd = fd;
	c->uid = uid;
	c->in = linebuf_new(ADMIN_LINE_MAX);
	c->out = str_new(OUT_MAX);
	if (event_fd_add(loop, fd, EV_READ, aconn_cb, c) < 0) {
		(void)close(fd); /* nothing was exchanged */
		linebuf_free(&c->in);
		str_free(&c->out);
		free(c);
		return;
	}
	c->next = a->conns;
	if (a->conns)
		a->conns->prev = c;
	a->conns = c;
	a->n++;
	c->timer = event_timer_add(loop, a->qm->p->ipc_timeout * 1000,
	    aconn_timeout, c);
}

struct qadmin *
admin_open(struct qmgr *qm)
{
	struct qadmin *a = x_calloc(1, sizeof(*a));
	struct str *path = str_new(4096), *why = str_new(512);

	a->qm = qm;
	if (str_appendf(path, "%s/%s", qm->p->queue_directory,
		ADMIN_SOCKET) < 0)
		log_fatal("queue_directory too long");
	a->fd = sock_listen_unix(str_c(path), SOCK_STREAM, 0600, why);
	if (a->fd < 0)
		log_fatal("admin socket: %s", str_c(why));
	if (event_fd_add(qm->loop, a->fd, EV_READ, accept_cb, a) < 0)
		log_fatal("admin socket: %m");
	str_free(&path);
	str_free(&why);
	return a;
}

void
admin_close(struct qadmin **ap)
{
	struct qadmin *a = *ap;

	if (a == NULL)
		return;
	while (a->conns != NULL)
		aconn_free(a->conns);
	event_fd_del(a->qm->loop, a->fd);
	(void)fd_close(&a->fd); /* listener */
	x_free(ap);
}
