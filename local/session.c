/*
 * session - one connection from qmgr on private/local.
 *
 * qmgr sends a request message with exactly one descriptor attached
 * (SCM_RIGHTS, received with MSG_CMSG_CLOEXEC by sock_recv_fds()) and
 * waits for the reply before it sends the next one on the same
 * connection (docs/delivery-protocol.md).  So:
 *   - bytes are collected until the "end" line, at most DELIVER_MSG_MAX;
 *   - descriptors are counted over the whole message: none or more than
 *     one is refused by request.c with a "defer" reply and nothing
 *     delivered; a truncated control message (or several descriptors
 *     in one piece) loses the bytes that came with it, so the
 *     connection is closed (sock_recv_fds() has closed them);
 *   - bytes after "end" (a pipelined request) close the connection:
 *     whose descriptor came with which bytes could no longer be told.
 * The reply is written as soon as request.c has built it, which is only
 * after the batch is durable; a peer that does not take it within
 * ipc_timeout loses the connection (it then defers the lot).  A
 * connection joined to a group commit (commit.c, as main.c does) hands
 * each whole request over and reads nothing more until the commit has
 * answered it (qmgr sends nothing before the reply anyway).
 *
 * Never: keep a descriptor that did not come with a request we handle,
 * read past DELIVER_MSG_MAX, or block longer than ipc_timeout.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/sock.h"
#include "local/local.h"

#define RECV_CHUNK 65536
#define FDS_KEEP   4 /* kept per request; more are only counted */

struct local_conn {
	struct local_ctx *ctx; /* borrowed */
	int fd;
	struct str *in; /* the request so far */
	size_t scan;    /* in[0..scan) is whole lines, none of them "end" */
	int fds[FDS_KEEP];
	size_t nfds;    /* descriptors received with the request so far */
	uint64_t t0_us; /* when its first bytes came */
	struct local_commit *g; /* borrowed; NULL: answer each at once */
	void *owner;            /* for the commit's answered callback */
	bool waiting;           /* a request waits in g, in slot */
	size_t slot;
};

struct local_conn *
local_conn_new(struct local_ctx *ctx, int fd)
{
	struct local_conn *c = x_calloc(1, sizeof(*c));

	c->ctx = ctx;
	c->fd = fd;
	c->in = str_new(DELIVER_MSG_MAX);
	return c;
}

static void
drop_fds(struct local_conn *c)
{
	for (size_t i = 0; i < c->nfds && i < FDS_KEEP; i++)
		(void)close(c->fds[i]); /* refused: never read */
	c->nfds = 0;
}

void
local_conn_join(struct local_conn *c, struct local_commit *g, void *owner)
{
	c->g = g;
	c->owner = owner;
}

void *
local_conn_owner(const struct local_conn *c)
{
	return c->owner;
}

void
local_conn_free(struct local_conn **cp)
{
	struct local_conn *c = *cp;

	if (c == NULL)
		return;
	if (c->waiting)
		local_commit_forget(c->g, c->slot);
	drop_fds(c);
	(void)fd_close(&c->fd); /* nothing left to flush */
	str_free(&c->in);
	x_free(cp);
}

bool
local_conn_partial(const struct local_conn *c)
{
	return str_len(c->in) > 0 || c->nfds > 0 || c->waiting;
}

/* Length of the request through its "end" line, or 0: not yet. */
static size_t
find_end(struct local_conn *c)
{
	const uint8_t *p = str_data(c->in);
	size_t n = str_len(c->in);
	const uint8_t *nl;

	while ((nl = memchr(p + c->scan, '\n', n - c->scan)) != NULL) {
		size_t len = (size_t)(nl - (p + c->scan));
		if (len == 3 && memcmp(p + c->scan, "end", 3) == 0)
			return c->scan + 4;
		c->scan += len + 1;
	}
	return 0;
}

/* Write all of p within ipc_timeout.  0 or -1. */
static int
write_reply(struct local_conn *c, const uint8_t *p, size_t n)
{
	uint64_t deadline = time_mono_ms() + c->ctx->p->ipc_timeout * 1000;
	size_t off = 0;

	while (off < n) {
		ssize_t w = send(c->fd, p + off, n - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			uint64_t now = time_mono_ms();
			struct pollfd pfd = {c->fd, POLLOUT, 0};
			if (now >= deadline) {
				errno = ETIMEDOUT;
				return -1;
			}
			if (poll(&pfd, 1, (int)(deadline - now)) < 0 &&
			    errno != EINTR)
				return -1;
			continue;
		}
		return -1;
	}
	return 0;
}

/* A whole request is in: hand it to the group commit.  WAIT or CLOSE. */
static enum local_io
hand_over(struct local_conn *c)
{
	size_t nfds = c->nfds < FDS_KEEP ? c->nfds : FDS_KEEP;
	struct local_req *r;

	/* request.c takes the descriptors; not exactly one is refused. */
	r = local_request_start(c->ctx, str_data(c->in), str_len(c->in), c->fds,
	    nfds, c->t0_us, local_commit_batch(c->g));
	c->nfds = 0;
	str_clear(c->in);
	c->scan = 0;
	if (r == NULL)
		return LOCAL_IO_CLOSE;
	c->slot = local_commit_add(c->g, c, r);
	c->waiting = true;
	return LOCAL_IO_WAIT;
}

enum local_io
local_conn_answer(struct local_conn *c, const struct str *out)
{
	FCT_ASSERT(c->waiting);
	c->waiting = false;
	if (out == NULL)
		return LOCAL_IO_CLOSE;
	if (write_reply(c, str_data(out), str_len(out)) < 0) {
		log_warn("cannot write a reply to qmgr: %m");
		return LOCAL_IO_CLOSE;
	}
	return LOCAL_IO_MORE;
}

/* A whole request is in: handle it, reply.  MORE, WAIT or CLOSE. */
static enum local_io
serve(struct local_conn *c)
{
	struct str *out;
	size_t nfds = c->nfds < FDS_KEEP ? c->nfds : FDS_KEEP;
	enum local_io io = LOCAL_IO_MORE;
	int rc;

	if (c->g != NULL)
		return hand_over(c);
	out = str_new(DELIVER_MSG_MAX);
	/* request.c takes the descriptors; not exactly one is refused. */
	rc = local_request_handle(c->ctx, str_data(c->in), str_len(c->in),
	    c->fds, nfds, c->t0_us, out);
	c->nfds = 0;
	str_clear(c->in);
	c->scan = 0;
	if (rc < 0)
		io = LOCAL_IO_CLOSE;
	else if (write_reply(c, str_data(out), str_len(out)) < 0) {
		log_warn("cannot write a reply to qmgr: %m");
		io = LOCAL_IO_CLOSE;
	}
	str_free(&out);
	return io;
}

enum local_io
local_conn_read(struct local_conn *c)
{
	uint8_t *buf;
	enum local_io io = LOCAL_IO_CLOSE;

	if (c->waiting)
		return LOCAL_IO_WAIT; /* nothing is read until answered */
	buf = x_malloc(RECV_CHUNK);
	for (;;) {
		int got[1];
		size_t ng = 0, end;
		ssize_t r = sock_recv_fds(c->fd, buf, RECV_CHUNK, got, 1, &ng);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				io = LOCAL_IO_MORE;
			else if (errno == EBADMSG)
				log_warn("request with a truncated or extra "
				         "descriptor: closing the connection");
			else
				log_warn("read from qmgr: %m");
			break;
		}
		for (size_t i = 0; i < ng; i++) {
			if (c->nfds < FDS_KEEP)
				c->fds[c->nfds] = got[i];
			else
				(void)close(got[i]); /* extra: refused */
			c->nfds++;
		}
		if (r == 0) {
			if (local_conn_partial(c))
				log_warn("qmgr closed the connection in the "
				         "middle of a request");
			break;
		}
		if (str_len(c->in) == 0)
			c->t0_us = time_real_us();
		if (str_append(c->in, buf, (size_t)r) < 0) {
			log_warn("request longer than %d bytes: closing the "
			         "connection",
			    DELIVER_MSG_MAX);
			break;
		}
		end = find_end(c);
		if (end == 0)
			continue;
		if (end != str_len(c->in)) {
			log_warn("bytes after the end of a request (requests "
			         "are not pipelined): closing the connection");
			break;
		}
		io = serve(c);
		if (io != LOCAL_IO_MORE)
			break; /* CLOSE; or WAIT: read nothing until answered */
		io = LOCAL_IO_CLOSE;
	}
	free(buf);
	return io;
}
