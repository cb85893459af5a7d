/*
 * anvil - counts concurrent sessions per service and client address.
 *
 * User: mail_owner.  Socket: private/anvil (stream).  Protocol: a client
 * sends one line "connect SERVICE ADDRESS\n" and gets "count N\n" (its
 * own session included); the registration lasts until the client closes
 * the connection, so a crashed session is forgotten at once.  One process
 * serves every client from one event loop.
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

struct counter {
	char *key; /* "service address" */
	unsigned n;
	struct counter *next;
};

struct conn {
	int fd;
	char buf[ANVIL_LINE_MAX];
	size_t len;
	struct counter *c; /* registered, or NULL */
	struct anvil *a;
};

struct anvil {
	struct service *s;
	struct counter *counters; /* small: one per address in session */
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
	if (cn->c != NULL)
		counter_put(a, cn->c);
	free(cn);
	service_session_done(a->s);
}

static bool
valid_key(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c <= ' ' && c != ' ')
			return false;
		if (c >= 0x7f)
			return false;
	}
	return n > 0;
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
	if (r <= 0 || cn->c != NULL) {
		/* Closed, or talking after registering: end it. */
		conn_close(loop, cn);
		return;
	}
	cn->len += (size_t)r;
	char *nl = memchr(cn->buf, '\n', cn->len);
	if (nl == NULL) {
		if (cn->len == sizeof(cn->buf) - 1) {
			log_warn("client line too long: closing");
			conn_close(loop, cn);
		}
		return;
	}
	*nl = '\0';
	const char *key = cn->buf + 8;
	if (strncmp(cn->buf, "connect ", 8) != 0 ||
	    !valid_key(key, strlen(key))) {
		log_warn("bad request: closing");
		conn_close(loop, cn);
		return;
	}
	cn->c = counter_get(cn->a, key);
	cn->c->n++;
	char reply[32];
	int n = snprintf(reply, sizeof(reply), "count %u\n", cn->c->n);
	if (send(fd, reply, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
		conn_close(loop, cn);
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
