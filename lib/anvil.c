/*
 * anvil - register a session with the anvil service.
 *
 * Never: wait without a deadline.
 */
#include "lib/anvil.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/sock.h"

int
anvil_connect(const char *path, const char *service, const char *addr,
    unsigned timeout_ms, unsigned *count_r)
{
	char line[ANVIL_LINE_MAX];
	size_t got = 0;
	int fd, n;
	uint64_t v;

	n = snprintf(line, sizeof(line), "connect %s %s\n", service, addr);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	fd = sock_connect_unix(path, SOCK_STREAM, false);
	if (fd < 0)
		return -1;
	struct timeval tv = { timeout_ms / 1000,
		(long)(timeout_ms % 1000) * 1000 };
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		goto fail;
	while (got < sizeof(line) - 1) {
		ssize_t r = recv(fd, line + got, sizeof(line) - 1 - got, 0);
		if (r <= 0)
			goto fail;
		got += (size_t)r;
		if (memchr(line, '\n', got) != NULL)
			break;
	}
	line[got] = '\0';
	/* "count N\n" */
	if (strncmp(line, "count ", 6) != 0)
		goto fail;
	size_t len = strcspn(line + 6, "\n");
	if (num_parse_u64(line + 6, len, UINT32_MAX, &v) < 0)
		goto fail;
	*count_r = (unsigned)v;
	return fd;
fail:
	(void)close(fd); /* nothing of ours is buffered */
	return -1;
}

void
anvil_disconnect(int *fdp)
{
	char c;

	if (*fdp < 0)
		return;
	/* anvil answers our end of file by closing its side: wait for it. */
	if (shutdown(*fdp, SHUT_WR) == 0)
		while (recv(*fdp, &c, 1, 0) > 0)
			;
	(void)fd_close(fdp); /* nothing of ours is buffered */
}
