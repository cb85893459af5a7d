/*
 * mailctl_admin - `mailctl queue hold|release|requeue|delete ID...|ALL`
 * and `mailctl flush`: commands for qmgr over its administration socket
 * $queue_directory/private/qmgr-admin (lib/admin_proto.h,
 * docs/admin-protocol.md).  qmgr changes the queue, durably, and answers
 * with the number of messages it changed; this command never touches a
 * queue file.
 *
 * Run by root (a system instance), or by the owner of an unprivileged
 * instance.  Exit status: 0 when every command succeeded and, for
 * single ids, found its message; 1 otherwise.
 *
 * Never: open a queue file, or wait for qmgr longer than ipc_timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lib/admin_proto.h"
#include "lib/sock.h"
#include "tools/mailctl.h"

/* Connections tried for one command while qmgr is being replaced. */
#define ADMIN_RETRIES 20

static const char *const done_words[] = {
	[ADMIN_HOLD] = "placed on hold",
	[ADMIN_RELEASE] = "released from hold",
	[ADMIN_REQUEUE] = "requeued",
	[ADMIN_DELETE] = "deleted",
	[ADMIN_FLUSH] = "deferred, to be tried now",
	[ADMIN_EXPIRE] = "marked to expire at the next attempt",
};

static int
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One answer line (without LF) into line; -1 on EOF, error or overlong. */
static int
read_line(int fd, struct str *line)
{
	str_clear(line);
	for (;;) {
		char c;
		ssize_t r = recv(fd, &c, 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (c == '\n')
			return 0;
		if (str_appendc(line, c) < 0)
			return -1;
	}
}

/*
 * While master runs, qmgr may be between two processes (a reload, a
 * restart after a crash): its socket is missing or refuses for a moment.
 * Try again for up to ipc_timeout then; without master, fail at once.
 */
static int
connect_retry(struct mailctl *mc, const char *path)
{
	uint64_t waited = 0, limit = mc->p.ipc_timeout * 1000;
	struct timespec ts = { 0, 100 * 1000000 };
	int fd;

	for (;;) {
		fd = sock_connect_unix(path, SOCK_STREAM, false);
		int e = errno;
		if (fd >= 0 || (e != ECONNREFUSED && e != ENOENT) ||
		    waited >= limit || mailctl_master_pid(&mc->p) <= 0) {
			errno = e;
			return fd;
		}
		(void)nanosleep(&ts, NULL); /* EINTR: just try sooner */
		waited += 100;
	}
}

static int
connect_qmgr(struct mailctl *mc)
{
	struct str *path = str_new(4096);
	struct timeval tv = { (time_t)mc->p.ipc_timeout, 0 };
	int fd = -1;

	if (str_appendf(path, "%s/%s", mc->p.queue_directory, ADMIN_SOCKET) <
	    0) {
		fprintf(stderr, "mailctl: queue_directory too long\n");
		goto out;
	}
	fd = connect_retry(mc, str_c(path));
	if (fd < 0) {
		fprintf(stderr,
		    "mailctl: cannot reach qmgr at %s: %s (is the mail system "
		    "running?)\n",
		    str_c(path), strerror(errno));
		goto out;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		fprintf(stderr, "mailctl: socket: %s\n", strerror(errno));
		(void)close(fd); /* nothing sent */
		fd = -1;
	}
out:
	str_free(&path);
	return fd;
}

/* Send cmds[0..n) and print what qmgr did; 0 when all went well. */
static int
run_admin(struct mailctl *mc, const struct admin_cmd *cmds, size_t n)
{
	struct str *out = str_new(ADMIN_LINE_MAX + 2);
	struct str *line = str_new(ADMIN_LINE_MAX + 1);
	struct str *text = str_new(ADMIN_LINE_MAX + 1);
	int fd = -1, rc = 0;

	if (mailctl_load(mc, true) < 0 || (fd = connect_qmgr(mc)) < 0) {
		rc = 1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct admin_cmd *c = &cmds[i];
		const char *what = c->verb == ADMIN_FLUSH ? "" : c->all ? "ALL"
		    : c->id;
		uint64_t count = 0;

		str_clear(out);
		str_clear(text);
		if (admin_cmd_format(c, out) < 0) {
			fprintf(stderr, "mailctl: command too long\n");
			rc = 1;
			break;
		}
		/*
		 * A qmgr that is being replaced (reload) may take the
		 * connection and exit before it answers.  Every command is
		 * idempotent (a second delete finds nothing, a second hold
		 * changes nothing), so send it again to the next qmgr.
		 */
		int tries = 0;
		for (;;) {
			errno = 0;
			if (send_all(fd, str_c(out), str_len(out)) == 0 &&
			    read_line(fd, line) == 0)
				break;
			int e = errno;
			(void)close(fd); /* broken: no answer to lose */
			fd = -1;
			if (++tries < ADMIN_RETRIES && mailctl_master_pid(&mc->p) > 0)
				fd = connect_qmgr(mc);
			if (fd < 0) {
				fprintf(stderr, "mailctl: qmgr: %s\n",
				    e ? strerror(e) : "no answer");
				rc = 1;
				goto out;
			}
		}
		switch (admin_reply_parse(str_c(line), str_len(line), &count,
		    text)) {
		case 0:
			printf("%s%s%llu message%s %s\n", what,
			    *what ? ": " : "", (unsigned long long)count,
			    count == 1 ? "" : "s", done_words[c->verb]);
			if (count == 0 && !c->all && c->verb != ADMIN_FLUSH) {
				fprintf(stderr, "mailctl: %s: no such "
						"message in the queue\n", c->id);
				rc = 1;
			}
			break;
		case 1:
			fprintf(stderr, "mailctl: %s %s: %s\n",
			    admin_verb_name(c->verb), what, str_c(text));
			rc = 1;
			break;
		default:
			fprintf(stderr, "mailctl: qmgr: bad answer\n");
			rc = 1;
			break;
		}
	}
out:
	if (fd >= 0)
		(void)close(fd); /* every answer read, or broken off */
	str_free(&out);
	str_free(&line);
	str_free(&text);
	return rc;
}

int
mailctl_queue_admin(struct mailctl *mc, int argc, char **argv)
{
	struct admin_cmd *cmds;
	enum admin_verb verb;
	int rc;

	/* argv: "queue" VERB ID... */
	if (argc < 3 || admin_verb_parse(argv[1], strlen(argv[1]), &verb) < 0 ||
	    verb == ADMIN_FLUSH) {
		fprintf(stderr, "usage: mailctl queue hold|release|requeue|"
				"delete|expire ID...|ALL\n");
		return 2;
	}
	cmds = x_calloc((size_t)argc, sizeof(*cmds));
	for (int i = 2; i < argc; i++) {
		struct admin_cmd *c = &cmds[i - 2];
		c->verb = verb;
		if (strcmp(argv[i], "ALL") == 0) {
			c->all = true;
		} else if (queue_id_valid(argv[i])) {
			snprintf(c->id, sizeof(c->id), "%s", argv[i]);
		} else {
			fprintf(stderr, "mailctl: %s: not a queue id\n",
			    argv[i]);
			free(cmds);
			return 1;
		}
	}
	rc = run_admin(mc, cmds, (size_t)argc - 2);
	free(cmds);
	return rc;
}

int
cmd_flush(struct mailctl *mc, int argc, char **argv)
{
	struct admin_cmd c = { .verb = ADMIN_FLUSH };

	if (argc != 1) {
		fprintf(stderr, "usage: mailctl flush\n");
		return 2;
	}
	return run_admin(mc, &c, 1);
}
