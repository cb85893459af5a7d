/*
 * conn - plain socket I/O behind the conn interface.
 *
 * Never: retry forever on EINTR-free errors, or raise SIGPIPE.
 */
#include "lib/conn.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/event.h"

struct conn {
	int fd;
};

struct conn *
conn_new(int fd)
{
	struct conn *c = x_calloc(1, sizeof(*c));

	c->fd = fd;
	return c;
}

void
conn_free(struct conn **cp)
{
	if (*cp == NULL)
		return;
	/* Whatever was unsent is lost with the peer anyway. */
	(void)fd_close(&(*cp)->fd);
	x_free(cp);
}

int
conn_fd(const struct conn *c)
{
	return c->fd;
}

ssize_t
conn_read(struct conn *c, void *p, size_t n)
{
	ssize_t r;

	do
		r = recv(c->fd, p, n, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

ssize_t
conn_write(struct conn *c, const void *p, size_t n)
{
	ssize_t r;

	do
		r = send(c->fd, p, n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r;
}

unsigned
conn_wants(const struct conn *c, bool want_write)
{
	return EV_READ | (want_write ? EV_WRITE : 0);
}
