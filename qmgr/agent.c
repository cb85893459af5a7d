/*
 * agent - one delivery request on private/<transport> (lib/deliver.h,
 * docs/delivery-protocol.md).
 *
 * Connect without blocking (or take a connection kept from an earlier
 * request), send the request with a fresh read-only descriptor of the
 * queue file attached to its first byte (SCM_RIGHTS, DESIGN §4), read
 * one reply, and keep the connection for the next request to the same
 * transport (docs/delivery-protocol.md: many requests per connection,
 * one at a time), up to IDLE_MAX per transport.  A kept connection that
 * the agent closed meanwhile (max_idle, its exit) is dropped as soon as
 * the loop sees it; one that fails a request before a byte of reply came
 * back had gone stale in between, and the request goes out again at once
 * on a new connection (at worst a repeated delivery, if the agent had
 * crashed in the middle).  A connection that cannot be made
 * (no agent: ENOENT, ECONNREFUSED), that ends before a whole reply (the
 * agent crashed), that times out (ipc_timeout to send, daemon_timeout
 * for the reply) or whose reply is malformed defers every recipient of
 * the request with "4.3.0 mail transport unavailable" and suspends the
 * transport for transport_retry_time.
 *
 * Never: block, keep the queue file's descriptor after it was sent, or
 * accept a reply longer than DELIVER_MSG_MAX or one that leaves out a
 * recipient of the request.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/sock.h"
#include "qmgr/qmgr.h"

#define UNAVAILABLE "mail transport unavailable"
#define READ_CHUNK  8192
#define ATTRS_MAX   200 /* the agent refuses more than 256 */
/* Connections kept per transport between requests. */
#define IDLE_MAX 64

/* A connection kept between requests, watched for its end. */
struct qidle {
	struct qmgr *qm;
	struct qxport *x;
	int fd;
	struct qidle *prev, *next;
};

struct qconn {
	struct qmgr *qm;
	struct qjob *job;
	int fd;
	int file_fd; /* until sent with the first byte */
	struct str *out;
	size_t off;
	struct str *in;
	struct deliver_request rq; /* strings borrowed from the message */
	struct event_timer *timer;
	bool reading;
	bool reused; /* a kept connection */
};

static void
idle_unlink(struct qidle *k)
{
	struct qxport *x = k->x;

	if (k->prev)
		k->prev->next = k->next;
	else
		x->idle = k->next;
	if (k->next)
		k->next->prev = k->prev;
	x->nidle--;
}

/* Readable while kept: the agent closed it (or spoke out of turn). */
static void
idle_cb(struct event_loop *loop, int fd, unsigned events, void *arg)
{
	struct qidle *k = arg;

	idle_unlink(k);
	event_fd_del(loop, k->fd);
	(void)close(k->fd); /* nothing of ours unsent */
	free(k);
}

/*
 * Keep fd (watched for reading, after a whole reply) for x's next
 * request; it stays in the event loop, handed to idle_cb.
 */
static void
idle_put(struct qmgr *qm, struct qxport *x, int fd)
{
	struct qidle *k = x_calloc(1, sizeof(*k));

	k->qm = qm;
	k->x = x;
	k->fd = fd;
	if (x->nidle >= IDLE_MAX ||
	    event_fd_rebind(qm->loop, fd, EV_READ, idle_cb, k) < 0) {
		event_fd_del(qm->loop, fd);
		(void)close(fd); /* nothing of ours unsent */
		free(k);
		return;
	}
	k->next = x->idle;
	if (x->idle)
		x->idle->prev = k;
	x->idle = k;
	x->nidle++;
}

/* The most recently kept connection of x (still watched), or -1. */
static int
idle_take(struct qxport *x)
{
	struct qidle *k = x->idle;
	int fd;

	if (k == NULL)
		return -1;
	idle_unlink(k);
	fd = k->fd;
	free(k);
	return fd;
}

void
agent_close_idle(struct qmgr *qm, struct qxport *x)
{
	int fd;

	while ((fd = idle_take(x)) >= 0) {
		event_fd_del(qm->loop, fd);
		(void)close(fd); /* nothing of ours unsent */
	}
}

static void
conn_free(struct qconn *c)
{
	event_timer_cancel(c->qm->loop, &c->timer);
	if (c->fd >= 0) {
		event_fd_del(c->qm->loop, c->fd);
		/* Nothing of ours is left unsent that matters now. */
		(void)fd_close(&c->fd);
	}
	(void)fd_close(&c->file_fd); /* read-only */
	str_free(&c->out);
	str_free(&c->in);
	free(c->rq.attrs);
	free(c->rq.rcpts);
	if (c->job != NULL)
		c->job->conn = NULL;
	c->qm->nconns--;
	free(c);
}

/* End the request without a reply: every recipient is deferred. */
static void
conn_fail(struct qconn *c, const char *what)
{
	struct qmgr *qm = c->qm;
	struct qjob *job = c->job;
	struct qxport *x = job->dest->x;
	struct str *reason;

	if (c->reused && str_len(c->in) == 0 && c->timer != NULL) {
		/* Closed by the agent while kept: not a failure of ours. */
		log_debug("%s: kept connection to private/%s: %s; again on a "
		          "new one",
		    job->msg->id, x->name, what);
		conn_free(c);
		sched_retry(qm, job);
		return;
	}
	reason = str_new(512);
	str_notef(reason, "%s private/%s: %s",
	    c->reading ? "reply from" : "request to", x->name, what);
	log_warn("%s: %s", job->msg->id, str_c(reason));
	sched_suspend(qm, x, str_c(reason));
	conn_free(c);
	sched_release(qm, job);
	msg_job_fail(qm, job, "4.3.0", UNAVAILABLE);
	str_free(&reason);
}

static void
conn_reply(struct qconn *c, size_t len)
{
	struct qmgr *qm = c->qm;
	struct qjob *job = c->job;
	struct deliver_reply rp = {0};
	struct str *why = str_new(512);

	if (len != str_len(c->in)) {
		conn_fail(c, "data after the reply");
		goto out;
	}
	if (deliver_reply_parse(str_data(c->in), len, &rp, why) < 0 ||
	    deliver_reply_check(&c->rq, &rp, why) < 0) {
		str_notef(why, ": malformed reply");
		conn_fail(c, str_c(why));
		goto out;
	}
	/* A whole reply and nothing after it: the connection may serve on. */
	int fd = c->fd;
	c->fd = -1;
	conn_free(c);
	idle_put(qm, job->dest->x, fd);
	sched_release(qm, job);
	msg_job_reply(qm, job, &rp);
out:
	deliver_reply_clear(&rp);
	str_free(&why);
}

static void
on_timeout(struct event_loop *loop, void *arg)
{
	struct qconn *c = arg;

	c->timer = NULL;
	conn_fail(c, "timed out");
}

/* Send what is left; false when c is gone (failed and freed). */
static bool
do_send(struct qconn *c)
{
	while (c->off < str_len(c->out)) {
		const uint8_t *p = str_data(c->out) + c->off;
		size_t n = str_len(c->out) - c->off;
		ssize_t r;

		if (c->file_fd >= 0)
			r = sock_send_fds(c->fd, p, n, &c->file_fd, 1);
		else
			r = send(c->fd, p, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (event_fd_mod(c->qm->loop, c->fd, EV_WRITE) < 0) {
				conn_fail(c, strerror(errno));
				return false;
			}
			return true;
		}
		if (r <= 0) {
			conn_fail(c, r < 0 ? strerror(errno) : "closed");
			return false;
		}
		/* The descriptor travelled with the first byte. */
		(void)fd_close(&c->file_fd); /* read-only */
		c->off += (size_t)r;
	}
	c->reading = true;
	if (event_fd_mod(c->qm->loop, c->fd, EV_READ) < 0) {
		conn_fail(c, strerror(errno));
		return false;
	}
	event_timer_cancel(c->qm->loop, &c->timer);
	c->timer = event_timer_add(
	    c->qm->loop, c->qm->p->daemon_timeout * 1000, on_timeout, c);
	return true;
}

static void
do_read(struct qconn *c)
{
	uint8_t buf[READ_CHUNK];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			conn_fail(c, strerror(errno));
			return;
		}
		if (n == 0) {
			conn_fail(c, "connection closed before the reply "
			             "ended (agent crashed?)");
			return;
		}
		if (str_append(c->in, buf, (size_t)n) < 0) {
			conn_fail(c, "reply too long");
			return;
		}
		size_t len =
		    deliver_message_len(str_data(c->in), str_len(c->in));
		if (len > 0) {
			conn_reply(c, len);
			return;
		}
	}
}

static void
conn_cb(struct event_loop *loop, int fd, unsigned events, void *arg)
{
	struct qconn *c = arg;

	if (!c->reading)
		(void)do_send(c); /* c may be gone */
	else
		do_read(c);
}

/* The request for job (strings borrowed from its message). */
static void
build_request(struct qconn *c, struct qjob *job)
{
	const struct queue_env *env = &job->msg->env;
	struct deliver_request *rq = &c->rq;
	size_t na = 0;

	rq->queue_id = job->msg->id;
	rq->sender = env->sender;
	rq->nexthop = job->dest->nexthop;
	rq->arrival_us = env->arrival_us;
	rq->envid = (char *)queue_env_attr(env, "envid");
	rq->ret = (char *)queue_env_attr(env, "ret");
	if (rq->ret != NULL && strcmp(rq->ret, "FULL") != 0 &&
	    strcmp(rq->ret, "HDRS") != 0)
		rq->ret = NULL;
	rq->attrs = x_calloc(env->nattrs + 1, sizeof(*rq->attrs));
	for (size_t i = 0; i < env->nattrs && na < ATTRS_MAX; i++) {
		if (strcmp(env->attrs[i].name, "envid") == 0 ||
		    strcmp(env->attrs[i].name, "ret") == 0)
			continue;
		rq->attrs[na].name = env->attrs[i].name;
		rq->attrs[na++].value = env->attrs[i].value;
	}
	rq->nattrs = na;
	rq->rcpts = x_calloc(job->n, sizeof(*rq->rcpts));
	for (size_t i = 0; i < job->n; i++) {
		const struct queue_rcpt *r = &env->rcpts[job->idx[i]];
		rq->rcpts[i].index = job->idx[i];
		rq->rcpts[i].notify = r->notify;
		rq->rcpts[i].addr = r->addr;
		rq->rcpts[i].orig = r->orig;
	}
	rq->nrcpts = job->n;
}

void
agent_start(struct qmgr *qm, struct qjob *job)
{
	struct qxport *x = job->dest->x;
	struct str *why = str_new(512);
	struct qconn *c;
	int fd, file_fd;
	bool reused = false;

	fd = job->fresh ? -1 : idle_take(x);
	if (fd >= 0)
		reused = true;
	else
		fd = sock_connect_unix(x->path, SOCK_STREAM, true);
	job->fresh = false;
	if (fd < 0) {
		if (errno == EAGAIN) {
			sched_busy(qm, job);
		} else {
			str_notef(why, "connect to private/%s: %s", x->name,
			    strerror(errno));
			sched_suspend(qm, x, str_c(why));
			sched_release(qm, job);
			msg_job_fail(qm, job, "4.3.0", UNAVAILABLE);
		}
		str_free(&why);
		return;
	}
	file_fd =
	    queue_file_open(qm->q, QUEUE_ACTIVE, job->msg->id, O_RDONLY, why);
	if (file_fd < 0) {
		log_warn("%s: %s", job->msg->id, str_c(why));
		if (reused)
			event_fd_del(qm->loop, fd);
		(void)close(fd); /* nothing sent yet */
		sched_release(qm, job);
		msg_job_fail(qm, job, "4.3.0", "queue file read error");
		str_free(&why);
		return;
	}
	c = x_calloc(1, sizeof(*c));
	c->qm = qm;
	c->job = job;
	c->fd = fd;
	c->reused = reused;
	c->file_fd = file_fd;
	c->out = str_new(DELIVER_MSG_MAX);
	c->in = str_new(DELIVER_MSG_MAX);
	job->conn = c;
	qm->nconns++;
	build_request(c, job);
	if (deliver_request_format(&c->rq, c->out) < 0) {
		conn_fail(c, "request too long");
		str_free(&why);
		return;
	}
	/*
	 * Watched for reading from the start (a kept one already is): a
	 * Unix socket almost always takes the request at once, so most
	 * requests cost no epoll_ctl at all.
	 */
	if ((reused ? event_fd_rebind(qm->loop, fd, EV_READ, conn_cb, c)
	            : event_fd_add(qm->loop, fd, EV_READ, conn_cb, c)) < 0) {
		if (reused)
			event_fd_del(qm->loop, fd);
		conn_fail(c, strerror(errno));
		str_free(&why);
		return;
	}
	c->timer =
	    event_timer_add(qm->loop, qm->p->ipc_timeout * 1000, on_timeout, c);
	str_free(&why);
	(void)do_send(c); /* c may be gone */
}

void
agent_abort(struct qmgr *qm, struct qconn *c)
{
	conn_free(c); /* the job forgets it; the caller frees the job */
}
