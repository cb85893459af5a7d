/*
 * auth_client - one non-blocking request to the auth service.
 *
 * States: connect and write the request (EV_WRITE), then read one
 * answer line (EV_READ); a timer bounds the whole exchange.  Every way
 * out goes through finish(), which tears the request down before it
 * calls back.
 *
 * Never: keep the request line (it holds the password) after it is
 * written, or read an answer without a bound.
 */
#include "lib/auth_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/secret.h"
#include "lib/sock.h"
#include "lib/str.h"

/* An answer line: "TEMP " + reason + LF. */
#define ANSWER_MAX (5 + AUTH_REASON_MAX + 1)

struct auth_client_req {
	struct event_loop *loop; /* borrowed */
	auth_client_cb *cb;
	void *arg;
	int fd;
	bool watching;
	struct secret *line; /* the request, wiped once sent */
	size_t sent;
	char in[ANSWER_MAX + 1];
	size_t in_len;
	struct event_timer *timer;
	struct event_timer *now; /* an immediate answer */
	enum auth_result now_result;
	struct str *now_why;
};

const char *
auth_result_name(enum auth_result r)
{
	switch (r) {
	case AUTH_RESULT_OK:
		return "ok";
	case AUTH_RESULT_FAIL:
		return "fail";
	case AUTH_RESULT_UNAVAILABLE:
		break;
	}
	return "unavailable";
}

/* Release everything but the struct itself. */
static void
teardown(struct auth_client_req *r)
{
	event_timer_cancel(r->loop, &r->timer);
	event_timer_cancel(r->loop, &r->now);
	if (r->watching)
		event_fd_del(r->loop, r->fd);
	r->watching = false;
	/* Nothing is pending on a socket we give up on. */
	(void)fd_close(&r->fd);
	secret_free(&r->line);
	str_free(&r->now_why);
}

static void
finish(struct auth_client_req *r, enum auth_result res, const char *why)
{
	auth_client_cb *cb = r->cb;
	void *arg = r->arg;
	struct str *w = str_new(256);

	str_notef(w, "%s", why);
	teardown(r);
	free(r);
	cb(res, str_c(w), arg);
	str_free(&w);
}

static void
now_cb(struct event_loop *loop, void *arg)
{
	struct auth_client_req *r = arg;

	r->now = NULL;
	finish(r, r->now_result, str_c(r->now_why));
}

/* Answer from the loop, never from inside auth_client_start(). */
static void
answer_soon(struct auth_client_req *r, enum auth_result res, const char *why)
{
	r->now_result = res;
	str_clear(r->now_why);
	str_notef(r->now_why, "%s", why);
	event_timer_cancel(r->loop, &r->timer);
	r->now = event_timer_add(r->loop, 0, now_cb, r);
}

static void
timeout_cb(struct event_loop *loop, void *arg)
{
	struct auth_client_req *r = arg;

	r->timer = NULL;
	finish(r, AUTH_RESULT_UNAVAILABLE, "auth service timed out");
}

static void
read_answer(struct auth_client_req *r)
{
	struct str *reason = str_new(AUTH_REASON_MAX + 16);
	enum auth_answer a;
	char *nl;
	ssize_t n;

	n = recv(
	    r->fd, r->in + r->in_len, ANSWER_MAX - r->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		str_free(&reason);
		return;
	}
	if (n <= 0) {
		str_free(&reason);
		finish(r, AUTH_RESULT_UNAVAILABLE,
		    n == 0 ? "auth service closed the connection"
		           : "auth service read error");
		return;
	}
	r->in_len += (size_t)n;
	nl = memchr(r->in, '\n', r->in_len);
	if (nl == NULL) {
		str_free(&reason);
		if (r->in_len == ANSWER_MAX)
			finish(r, AUTH_RESULT_UNAVAILABLE,
			    "auth service answer too long");
		return;
	}
	if (auth_proto_answer_parse(
	        (const uint8_t *)r->in, (size_t)(nl - r->in), &a, reason) < 0) {
		str_free(&reason);
		finish(
		    r, AUTH_RESULT_UNAVAILABLE, "auth service answer garbled");
		return;
	}
	switch (a) {
	case AUTH_ANSWER_OK:
		finish(r, AUTH_RESULT_OK, "ok");
		break;
	case AUTH_ANSWER_FAIL:
		finish(r, AUTH_RESULT_FAIL, "authentication failed");
		break;
	case AUTH_ANSWER_TEMP: {
		struct str *w = str_new(AUTH_REASON_MAX + 32);
		str_notef(w, "auth service: %s", str_c(reason));
		finish(r, AUTH_RESULT_UNAVAILABLE, str_c(w));
		str_free(&w);
		break;
	}
	}
	str_free(&reason);
}

static void
io_cb(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct auth_client_req *r = arg;

	if (r->line != NULL) {
		ssize_t n = send(fd, secret_data(r->line) + r->sent,
		    secret_len(r->line) - r->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			finish(r, AUTH_RESULT_UNAVAILABLE,
			    errno == EPIPE || errno == ECONNRESET
			        ? "auth service closed the connection"
			        : "auth service write error");
			return;
		}
		r->sent += (size_t)n;
		if (r->sent < secret_len(r->line))
			return;
		secret_free(&r->line); /* wipes the password */
		if (event_fd_mod(loop, fd, EV_READ) < 0) {
			finish(
			    r, AUTH_RESULT_UNAVAILABLE, "event_fd_mod failed");
			return;
		}
		return;
	}
	read_answer(r);
}

struct auth_client_req *
auth_client_start(struct event_loop *loop, const char *path,
    uint64_t timeout_ms, const char *service, const char *client_addr,
    const char *user, size_t user_len, const char *pw, size_t pw_len,
    auth_client_cb *cb, void *arg)
{
	struct auth_client_req *r = x_calloc(1, sizeof(*r));
	struct str *why = str_new(256);

	r->loop = loop;
	r->cb = cb;
	r->arg = arg;
	r->fd = -1;
	r->now_why = str_new(512);
	r->line = secret_new(AUTH_LINE_MAX + 1);
	if (auth_proto_request_format(r->line, service, client_addr, user,
	        user_len, pw, pw_len, why) < 0) {
		/* No account can have such a name or password. */
		answer_soon(r, AUTH_RESULT_FAIL, str_c(why));
		goto out;
	}
	r->fd = sock_connect_unix(path, SOCK_STREAM, true);
	if (r->fd < 0) {
		str_clear(why);
		str_notef(why, "auth service %s: %s", path, strerror(errno));
		answer_soon(r, AUTH_RESULT_UNAVAILABLE, str_c(why));
		goto out;
	}
	if (event_fd_add(loop, r->fd, EV_WRITE, io_cb, r) < 0) {
		answer_soon(r, AUTH_RESULT_UNAVAILABLE, "event_fd_add failed");
		goto out;
	}
	r->watching = true;
	r->timer = event_timer_add(loop, timeout_ms, timeout_cb, r);
out:
	str_free(&why);
	return r;
}

void
auth_client_cancel(struct auth_client_req **rp)
{
	struct auth_client_req *r = *rp;

	if (r == NULL)
		return;
	teardown(r);
	x_free(rp);
}
