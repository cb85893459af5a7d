/*
 * showq - lists the queue for mailq (Postfix's showq(8)).
 *
 * User: mail_owner.  Socket: public/showq (any local user may list the
 * queue, as with Postfix; the queue folders themselves stay 0700).
 * Protocol: the client sends one line, "text\n" or "json\n"; showq
 * answers with the listing in that format (text: postqueue -p; json:
 * postqueue -j, one object a line) and ends with one NUL byte, so that a
 * listing cut short by a crash is never taken for a whole one.
 * Recipients waiting for a retry show why (defer/<id>, lib/rcptlog.h):
 * a "(reason)" line in text, "delay_reason" in json, as Postfix does.
 *
 * Never: change the queue, follow a name that is not a queue id, or let
 * one unreadable file stop the listing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/json.h"
#include "lib/log.h"
#include "lib/queue.h"
#include "lib/queue_read.h"
#include "lib/rcptlog.h"
#include "lib/service.h"

#define SHOWQ_REQUEST_MAX 64
#define SHOWQ_OUT_CAP (1 << 20)

struct showq {
	struct service *s;
	struct queue *q;
};

struct listing {
	bool json;
	int fd;
	struct str *out;
	uint64_t total_size;
	unsigned count;
	bool failed;
	struct queue *q;
	enum queue_folder folder;
	bool expire; /* the file being listed is forced to expire */
};

struct ids {
	char **v;
	size_t n;
};

static int
collect(const char *id, void *arg)
{
	struct ids *ids = arg;

	ids->v = x_realloc(ids->v, (ids->n + 1) * sizeof(char *));
	ids->v[ids->n++] = x_strdup(id);
	return 0;
}

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Write out what is buffered; blocking with a timeout set by the caller. */
static void
flush(struct listing *l)
{
	size_t off = 0;

	while (!l->failed && off < str_len(l->out)) {
		ssize_t n = send(l->fd, str_data(l->out) + off,
		    str_len(l->out) - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			l->failed = true;
			break;
		}
		off += (size_t)n;
	}
	str_clear(l->out);
}

/*
 * The reason a recipient waits (defer/<id>, written by qmgr), made safe
 * to print: control bytes become '?'.  "" when there is none.  The
 * result is borrowed from buf.
 */
static const char *
delay_reason(const struct rcptlog *log, size_t i, char *buf, size_t size)
{
	const struct rcptlog_entry *e = rcptlog_find(log, i);

	if (e == NULL)
		return "";
	snprintf(buf, size, "%s", e->text);
	for (char *p = buf; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return buf;
}

static void
emit_json(struct listing *l, const char *id, const struct queue_env *env,
    const struct rcptlog *log, int *rc)
{
	char why[RCPTLOG_TEXT_MAX + 1];
	struct str *o = l->out;

	*rc |= str_appends(o, "{\"queue_name\": ");
	*rc |= json_append_string(o, queue_folder_name(l->folder));
	*rc |= str_appends(o, ", \"queue_id\": ");
	*rc |= json_append_string(o, id);
	*rc |= str_appendf(o,
	    ", \"arrival_time\": %llu, \"message_size\": %llu, "
	    "\"forced_expire\": %s, \"sender\": ",
	    (unsigned long long)(env->arrival_us / 1000000),
	    (unsigned long long)env->content_len,
	    l->expire ? "true" : "false");
	*rc |= json_append_string(o, env->sender);
	*rc |= str_appends(o, ", \"recipients\": [");
	bool first = true;
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		if (r->flags & QUEUE_RCPT_DONE)
			continue;
		*rc |= str_appends(o, first ? "{\"address\": " : ", {\"address\": ");
		*rc |= json_append_string(o, r->addr);
		*rc |= str_appends(o, ", \"orig_address\": ");
		*rc |= json_append_string(o, r->orig);
		if (*delay_reason(log, i, why, sizeof(why)) != '\0') {
			*rc |= str_appends(o, ", \"delay_reason\": ");
			*rc |= json_append_string(o, why);
		}
		*rc |= str_appends(o, "}");
		first = false;
	}
	*rc |= str_appends(o, "]}\n");
}

static void
emit_text(struct listing *l, const char *id, const struct queue_env *env,
    const struct rcptlog *log, int *rc)
{
	char why[RCPTLOG_TEXT_MAX + 1], saved[RCPTLOG_TEXT_MAX + 1] = "";
	struct str *o = l->out;
	char idst[64], when[32];
	time_t t = (time_t)(env->arrival_us / 1000000);
	struct tm tm;

	if (l->count == 0)
		*rc |= str_appendf(o, "%-17s %8s %-19s %s\n",
		    "----Queue ID-----", "--Size--", "---Arrival Time----",
		    "--Sender/Recipient------");
	else
		*rc |= str_appends(o, "\n");
	/* postqueue: '*' active, '!' held, then '#' when forced to expire. */
	snprintf(idst, sizeof(idst), "%s%s%s", id,
	    l->folder == QUEUE_ACTIVE ? "*"
	    : l->folder == QUEUE_HOLD ? "!"
				      : "",
	    l->expire ? "#" : "");
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
	*rc |= str_appendf(o, "%-17s %8llu %19.19s %s\n", idst,
	    (unsigned long long)env->content_len, when,
	    env->sender[0] ? env->sender : "MAILER-DAEMON");
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		if (r->flags & QUEUE_RCPT_DONE)
			continue;
		/*
		 * As Postfix's showq_compat.c: a "(reason)" line, right
		 * aligned to 76 columns, before the recipients that share
		 * it; "(reason unavailable)" after one that had a reason.
		 */
		const char *w = delay_reason(log, i, why, sizeof(why));
		if (strcmp(saved, w) != 0) {
			const char *show = *w ? w : "reason unavailable";
			int pad = 76 - (int)strlen(show);
			snprintf(saved, sizeof(saved), "%s", w);
			*rc |= str_appendf(o, "%*s(%s)\n", pad < 0 ? 0 : pad,
			    "", show);
		}
		*rc |= str_appendf(o, "%-17s %8s %-19s %s\n", "", "", "",
		    r->addr);
	}
}

static void
list_one(struct listing *l, const char *id)
{
	struct str *why = str_new(512);
	struct queue_env env = { 0 };
	struct rcptlog log = { 0 };
	int fd, rc = 0;

	fd = queue_file_open(l->q, l->folder, id, O_RDONLY, why);
	if (fd < 0) {
		if (errno != ENOENT) /* gone meanwhile: not worth a word */
			log_warn("%s: %s", id, str_c(why));
		str_free(&why);
		return;
	}
	if (queue_env_parse(queue_pread_fd, &fd, queue_record_limit(l->q),
		&env, why) != STATUS_OK) {
		log_warn("%s: %s", id, str_c(why));
		goto out;
	}
	str_clear(why);
	if (rcptlog_read(l->q, QUEUE_DEFER, id, &log, why) < 0)
		log_warn("%s: defer log: %s", id, str_c(why));
	l->expire = queue_expire_marked(fd);
	if (l->json)
		emit_json(l, id, &env, &log, &rc);
	else
		emit_text(l, id, &env, &log, &rc);
	rcptlog_clear(&log);
	if (rc != 0)
		log_warn("%s: listing entry too long", id);
	l->count++;
	l->total_size += env.content_len;
	if (str_len(l->out) > SHOWQ_OUT_CAP / 2)
		flush(l);
out:
	queue_env_clear(&env);
	(void)close(fd); /* read-only */
	str_free(&why);
}

static void
list_queue(struct showq *sq, int fd, bool json)
{
	static const enum queue_folder folders[] = { QUEUE_INCOMING,
		QUEUE_ACTIVE, QUEUE_DEFERRED, QUEUE_HOLD };
	struct listing l = { .json = json, .fd = fd, .q = sq->q };
	struct str *why = str_new(512);

	l.out = str_new(SHOWQ_OUT_CAP);
	for (size_t f = 0; f < FCT_NELEM(folders) && !l.failed; f++) {
		struct ids ids = { 0 };
		l.folder = folders[f];
		if (queue_scan(sq->q, l.folder, collect, &ids, why) < 0)
			log_warn("scan %s: %s", queue_folder_name(l.folder),
			    str_c(why));
		/* qsort's array argument must not be NULL, even for 0. */
		if (ids.n > 0)
			qsort(ids.v, ids.n, sizeof(char *), cmp_id);
		for (size_t i = 0; i < ids.n; i++) {
			if (!l.failed)
				list_one(&l, ids.v[i]);
			free(ids.v[i]);
		}
		free(ids.v);
	}
	if (!json) {
		int rc;
		if (l.count == 0)
			rc = str_appends(l.out, "Mail queue is empty\n");
		else
			rc = str_appendf(l.out,
			    "\n-- %llu Kbytes in %u Request%s.\n",
			    (unsigned long long)(l.total_size / 1024), l.count,
			    l.count == 1 ? "" : "s");
		if (rc < 0)
			flush(&l);
	}
	if (str_appendc(l.out, '\0') < 0) {
		flush(&l);
		if (str_appendc(l.out, '\0') < 0)
			l.failed = true;
	}
	flush(&l);
	str_free(&l.out);
	str_free(&why);
}

static void
on_accept(struct service *s, int fd, const struct sockaddr *peer,
    socklen_t len, void *arg)
{
	struct showq *sq = arg;
	char req[SHOWQ_REQUEST_MAX];
	size_t got = 0;
	uint64_t t = service_params(s)->ipc_timeout;
	struct timeval tv = { (time_t)t, 0 };

	/* One short exchange: blocking with a deadline is simplest. */
	if (fd_set_nonblock(fd, false) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		goto out;
	while (got < sizeof(req) - 1) {
		ssize_t n = recv(fd, req + got, sizeof(req) - 1 - got, 0);
		if (n <= 0)
			goto out;
		got += (size_t)n;
		if (memchr(req, '\n', got) != NULL)
			break;
	}
	req[got] = '\0';
	if (strcmp(req, "text\n") == 0)
		list_queue(sq, fd, false);
	else if (strcmp(req, "json\n") == 0)
		list_queue(sq, fd, true);
	else
		log_warn("bad request from a client");
out:
	(void)close(fd); /* all sent, or the client is gone */
	service_session_done(s);
}

int
main(int argc, char **argv)
{
	struct service_opts opts = { .program = "showq", .client_limit = 1 };
	struct showq sq = { 0 };
	struct str *why = str_new(512);
	const struct params *p;

	sq.s = service_init(argc, argv, &opts);
	p = service_params(sq.s);
	if (queue_open(p->queue_directory, p->queue_record_limit, &sq.q,
		why) < 0)
		log_fatal("queue: %s", str_c(why));
	str_free(&why);
	service_drop_privileges(sq.s);
	return service_run(sq.s, on_accept, &sq);
}
