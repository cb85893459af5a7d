/*
 * anvil - counts concurrent sessions per service and client address.
 *
 * User: mail_owner.  Socket: private/anvil (stream).  Protocol, one line
 * each way (docs/man/anvil.8):
 *   "connect SERVICE ADDRESS\n"    -> "count N\n" (this session included)
 *   "disconnect SERVICE ADDRESS\n" -> "ok\n"
 * A client process keeps its connection for all its sessions; when the
 * connection closes (the process exited or was killed), every
 * registration it still holds is dropped at once.  One process serves
 * every client from one event loop.
 *
 * Never: trust a line longer than ANVIL_LINE_MAX, keep state for a closed
 * connection, or exit because of what a client sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/anvil.h"
#include "lib/log.h"
#include "lib/service.h"

#define ANVIL_CLIENT_LIMIT 100000
#define ANVIL_REGS_MAX 10000 /* registrations one connection may hold */

struct counter {
	char *key; /* "service address" */
	unsigned n;
	struct counter *next;
};

struct anvil {
	struct service *s;
	struct counter *counters; /* small: one per address in session */
};

struct conn {
	int fd;
	char buf[ANVIL_LINE_MAX];
	size_t len;
	struct counter **regs; /* this connection's registrations */
	size_t nregs;
	struct anvil *a;
};

static struct counter *
counter_get(struct anvil *a, const char *key)
{
	struct counter *c;

	for (c = a->counters; c; c = c->next)
		if (strcmp(c->key, key) == 0)
			return c;
	c = x_calloc(1, sizeof(*c));
	c->key = x_strdup(key);
	c->next = a->counters;
	a->counters = c;
	return c;
}

static void
counter_put(struct anvil *a, struct counter *c)
{
	if (--c->n > 0)
		return;
	for (struct counter **pp = &a->counters; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	free(c->key);
	free(c);
}

static void
conn_close(struct event_loop *loop, struct conn *cn)
{
	struct anvil *a = cn->a;

	event_fd_del(loop, cn->fd);
	(void)close(cn->fd); /* nothing pending for a closed peer */
	for (size_t i = 0; i < cn->nregs; i++)
		counter_put(a, cn->regs[i]);
	free(cn->regs);
	free(cn);
	service_session_done(a->s);
}

static bool
valid_key(const char *p)
{
	size_t n = strlen(p);

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c < ' ') || c >= 0x7f)
			return false;
	}
	return n > 0 && strchr(p, ' ') != NULL;
}

static int
reply(struct conn *cn, const char *text)
{
	size_t n = strlen(text);

	return send(cn->fd, text, n, MSG_NOSIGNAL | MSG_DONTWAIT) ==
		(ssize_t)n
	    ? 0
	    : -1;
}

/* One request line; -1 closes the connection. */
static int
request(struct conn *cn, char *line)
{
	char out[32];

	if (strncmp(line, "connect ", 8) == 0 && valid_key(line + 8)) {
		if (cn->nregs == ANVIL_REGS_MAX)
			return -1;
		struct counter *c = counter_get(cn->a, line + 8);
		c->n++;
		cn->regs = x_realloc(cn->regs,
		    (cn->nregs + 1) * sizeof(*cn->regs));
		cn->regs[cn->nregs++] = c;
		snprintf(out, sizeof(out), "count %u\n", c->n);
		return reply(cn, out);
	}
	if (strncmp(line, "disconnect ", 11) == 0 && valid_key(line + 11)) {
		for (size_t i = cn->nregs; i-- > 0;)
			if (strcmp(cn->regs[i]->key, line + 11) == 0) {
				counter_put(cn->a, cn->regs[i]);
				cn->regs[i] = cn->regs[--cn->nregs];
				break;
			}
		return reply(cn, "ok\n");
	}
	log_warn("bad request: closing");
	return -1;
}

static void
conn_cb(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct conn *cn = arg;
	ssize_t r;

	r = recv(fd, cn->buf + cn->len, sizeof(cn->buf) - 1 - cn->len,
	    MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		conn_close(loop, cn);
		return;
	}
	cn->len += (size_t)r;
	for (;;) {
		char *nl = memchr(cn->buf, '\n', cn->len);
		if (nl == NULL)
			break;
		*nl = '\0';
		if (request(cn, cn->buf) < 0) {
			conn_close(loop, cn);
			return;
		}
		size_t used = (size_t)(nl - cn->buf) + 1;
		memmove(cn->buf, cn->buf + used, cn->len - used);
		cn->len -= used;
	}
	if (cn->len == sizeof(cn->buf) - 1) {
		log_warn("client line too long: closing");
		conn_close(loop, cn);
	}
}

static void
on_accept(struct service *s, int fd, const struct sockaddr *peer,
    socklen_t len, void *arg)
{
	struct anvil *a = arg;
	struct conn *cn = x_calloc(1, sizeof(*cn));

	cn->fd = fd;
	cn->a = a;
	if (event_fd_add(service_loop(s), fd, EV_READ, conn_cb, cn) < 0) {
		log_warn("watch client: %m");
		(void)close(fd); /* never used */
		free(cn);
		service_session_done(s);
	}
}

int
main(int argc, char **argv)
{
	struct service_opts opts = { .program = "anvil",
		.client_limit = ANVIL_CLIENT_LIMIT, .resident = true };
	struct anvil a = { 0 };

	a.s = service_init(argc, argv, &opts);
	service_drop_privileges(a.s);
	return service_run(a.s, on_accept, &a);
}
