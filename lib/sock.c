/*
 * sock - sockets for master and the services.
 *
 * Never: unlink anything but a socket when binding a path.
 */
#include "lib/sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/util.h"

int
sock_listen_inet(int family, const char *host, unsigned port,
    struct str *why)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, on = 1;

	if (family == AF_INET) {
		struct sockaddr_in *s4 = (void *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (host != NULL && host[0] != '\0' &&
		    inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
			str_notef(why, "bad IPv4 address \"%s\"", host);
			return -1;
		}
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (void *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (host != NULL && host[0] != '\0' &&
		    inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
			str_notef(why, "bad IPv6 address \"%s\"", host);
			return -1;
		}
		len = sizeof(*s6);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		str_notef(why, "socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    (family == AF_INET6 &&
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) <
		    0)) {
		str_notef(why, "setsockopt: %s", strerror(errno));
		(void)close(fd); /* never used */
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(fd, SOCK_BACKLOG) < 0) {
		char buf[SOCK_ADDR_TEXT_MAX];
		str_notef(why, "bind %s port %u: %s",
		    sock_addr_text((struct sockaddr *)&ss, buf, sizeof(buf)),
		    port, strerror(errno));
		(void)close(fd); /* never used */
		return -1;
	}
	return fd;
}

static int
unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path));
	return 0;
}

int
sock_listen_unix(const char *path, int type, mode_t mode, struct str *why)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	if (unix_addr(path, &sun) < 0) {
		str_notef(why, "socket path too long: %s", path);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			str_notef(why, "%s exists and is not a socket", path);
			return -1;
		}
		if (unlink(path) < 0) {
			str_notef(why, "unlink %s: %s", path, strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		str_notef(why, "socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, mode) < 0 ||
	    (type == SOCK_STREAM && listen(fd, SOCK_BACKLOG) < 0)) {
		str_notef(why, "bind %s: %s", path, strerror(errno));
		(void)close(fd); /* never used */
		return -1;
	}
	return fd;
}

int
sock_connect_unix(const char *path, int type, bool nonblock)
{
	struct sockaddr_un sun;
	int fd;

	if (unix_addr(path, &sun) < 0)
		return -1;
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0),
	    0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 &&
	    errno != EINPROGRESS) {
		int e = errno;
		(void)close(fd); /* never used */
		errno = e;
		return -1;
	}
	return fd;
}

int
sock_trigger(const char *path, const void *p, size_t n)
{
	struct sockaddr_un sun;
	int fd, rc = 0;

	if (unix_addr(path, &sun) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (sendto(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL,
		(struct sockaddr *)&sun, sizeof(sun)) < 0)
		rc = -1;
	(void)close(fd); /* datagram socket: nothing buffered to lose */
	return rc;
}

int
sock_dgram_open(void)
{
	return socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
}

int
sock_trigger_fd(int fd, const char *path, const void *p, size_t n)
{
	struct sockaddr_un sun;

	if (fd < 0)
		return sock_trigger(path, p, n);
	if (unix_addr(path, &sun) < 0)
		return -1;
	return sendto(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL,
		   (struct sockaddr *)&sun, sizeof(sun)) < 0
	    ? -1
	    : 0;
}

int
sock_peer_cred(int fd, uid_t *uid_r, gid_t *gid_r, pid_t *pid_r)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    len != sizeof(cred))
		return -1;
	if (uid_r)
		*uid_r = cred.uid;
	if (gid_r)
		*gid_r = cred.gid;
	if (pid_r)
		*pid_r = cred.pid;
	return 0;
}

const char *
sock_addr_text(const struct sockaddr *sa, char *buf, size_t size)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		if (inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t)size))
			return buf;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			if (inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, buf,
				(socklen_t)size))
				return buf;
		} else if (inet_ntop(AF_INET6, &s6->sin6_addr, buf,
			       (socklen_t)size))
			return buf;
	} else if (sa->sa_family == AF_UNIX) {
		snprintf(buf, size, "local");
		return buf;
	}
	snprintf(buf, size, "unknown");
	return buf;
}

unsigned
sock_addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(
		    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return 0;
}

#define SOCK_MAX_FDS 8

ssize_t
sock_send_fds(int sock, const void *p, size_t n, const int *fds, size_t nfds)
{
	struct iovec iov = { .iov_base = (void *)p, .iov_len = n };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * SOCK_MAX_FDS)];
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > SOCK_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (nfds > 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

ssize_t
sock_recv_fds(int sock, void *p, size_t n, int *fds, size_t maxfds,
    size_t *nfds_r)
{
	struct iovec iov = { .iov_base = p, .iov_len = n };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * SOCK_MAX_FDS)];
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	size_t got = 0;
	bool bad = false;
	ssize_t r;

	*nfds_r = 0;
	r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	if (r < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL;
	     c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			bad = true;
			continue;
		}
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int tmp[SOCK_MAX_FDS];
		memcpy(tmp, CMSG_DATA(c), k * sizeof(int));
		for (size_t i = 0; i < k; i++) {
			if (got < maxfds)
				fds[got++] = tmp[i];
			else {
				(void)close(tmp[i]); /* extra: refuse it */
				bad = true;
			}
		}
	}
	if (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC))
		bad = true;
	if (bad) {
		for (size_t i = 0; i < got; i++)
			(void)close(fds[i]); /* refused: never used */
		errno = EBADMSG;
		return -1;
	}
	*nfds_r = got;
	return r;
}
