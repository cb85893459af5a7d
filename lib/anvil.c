/*
 * anvil - the anvil client: one connection per process, one line each
 * way per request.
 *
 * Never: wait without a deadline, or keep a connection in an unknown
 * state (any error closes it; the next request reconnects).
 */
#include "lib/anvil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/sock.h"

struct anvil_client {
	char *path;
	unsigned timeout_ms;
	int fd;
};

struct anvil_client *
anvil_client_new(const char *path, unsigned timeout_ms)
{
	struct anvil_client *c = x_calloc(1, sizeof(*c));

	c->path = x_strdup(path);
	c->timeout_ms = timeout_ms;
	c->fd = -1;
	return c;
}

void
anvil_client_free(struct anvil_client **cp)
{
	if (*cp == NULL)
		return;
	/* Closing drops whatever this process still had registered. */
	(void)fd_close(&(*cp)->fd);
	free((*cp)->path);
	x_free(cp);
}

static int
ensure_open(struct anvil_client *c)
{
	struct timeval tv = { c->timeout_ms / 1000,
		(long)(c->timeout_ms % 1000) * 1000 };

	if (c->fd >= 0)
		return 0;
	c->fd = sock_connect_unix(c->path, SOCK_STREAM, false);
	if (c->fd < 0)
		return -1;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		(void)fd_close(&c->fd); /* unusable; nothing sent yet */
		return -1;
	}
	return 0;
}

/* Send one request line, read one answer line into buf. */
static int
exchange(struct anvil_client *c, const char *verb, const char *service,
    const char *addr, char *buf, size_t size)
{
	char line[ANVIL_LINE_MAX];
	size_t got = 0;
	int n;

	n = snprintf(line, sizeof(line), "%s %s %s\n", verb, service, addr);
	if (n < 0 || (size_t)n >= sizeof(line) || ensure_open(c) < 0)
		return -1;
	if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		goto fail;
	while (got < size - 1) {
		ssize_t r = recv(c->fd, buf + got, size - 1 - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto fail;
		got += (size_t)r;
		if (buf[got - 1] == '\n')
			break;
	}
	buf[got] = '\0';
	if (got == 0 || buf[got - 1] != '\n')
		goto fail;
	buf[got - 1] = '\0';
	return 0;
fail:
	(void)fd_close(&c->fd); /* out of step: start afresh */
	return -1;
}

int
anvil_register(struct anvil_client *c, const char *service, const char *addr,
    unsigned *count_r)
{
	char buf[64];
	uint64_t v;

	if (exchange(c, "connect", service, addr, buf, sizeof(buf)) < 0)
		return -1;
	/* "count N" */
	if (strncmp(buf, "count ", 6) != 0 ||
	    num_parse_u64(buf + 6, strlen(buf + 6), UINT32_MAX, &v) < 0) {
		(void)fd_close(&c->fd); /* not anvil talking: start afresh */
		return -1;
	}
	*count_r = (unsigned)v;
	return 0;
}

void
anvil_unregister(struct anvil_client *c, const char *service,
    const char *addr)
{
	char buf[16];

	/*
	 * "ok" means counted out.  On any failure the connection is closed,
	 * which makes anvil drop every registration it carried.
	 */
	if (exchange(c, "disconnect", service, addr, buf, sizeof(buf)) == 0 &&
	    strcmp(buf, "ok") != 0)
		(void)fd_close(&c->fd);
}
