/*
 * sock - listeners, Unix-domain sockets, peer credentials and descriptor
 * passing.
 *
 * Every socket made here is close-on-exec; master clears the flag on the
 * descriptors it hands to a child.
 *
 * Never: follow a symlink when making a Unix socket path, or block in
 * connect() on a trigger socket.
 */
#ifndef FACTEUR_SOCK_H
#define FACTEUR_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "lib/str.h"

#define SOCK_ADDR_TEXT_MAX 64 /* "[IPv6]:port" and friends */
#define SOCK_BACKLOG 128

/*
 * Listen on host:port for family (AF_INET or AF_INET6; v6 sockets get
 * IPV6_V6ONLY).  host NULL or "" means the wildcard.  Returns fd or -1.
 */
int sock_listen_inet(int family, const char *host, unsigned port,
    struct str *why);
/*
 * Bind a Unix socket (SOCK_STREAM or SOCK_DGRAM) at path, replacing a
 * stale socket (never any other kind of file), then chmod it to mode.
 * Stream sockets also listen().  Returns fd or -1.
 */
int sock_listen_unix(const char *path, int type, mode_t mode,
    struct str *why);
/* Connect to a Unix stream socket; -1 with errno on failure. */
int sock_connect_unix(const char *path, int type, bool nonblock);
/* Send one datagram to a Unix dgram socket path without blocking. */
FCT_MUST_CHECK int sock_trigger(const char *path, const void *p, size_t n);
/*
 * The same through fd, an unbound datagram socket from sock_dgram_open()
 * kept for many triggers (one socket instead of one per message); fd -1
 * falls back to sock_trigger().
 */
FCT_MUST_CHECK int sock_trigger_fd(int fd, const char *path, const void *p,
    size_t n);
/* An unbound, non-blocking Unix datagram socket, or -1. */
int sock_dgram_open(void);

/* SO_PEERCRED of a connected Unix socket. */
FCT_MUST_CHECK int sock_peer_cred(int fd, uid_t *uid_r, gid_t *gid_r,
    pid_t *pid_r);

/* Numeric address text ("192.0.2.1", "2001:db8::1"; v4-mapped shown as v4). */
const char *sock_addr_text(const struct sockaddr *sa, char *buf, size_t size);
unsigned sock_addr_port(const struct sockaddr *sa);

/*
 * Send bytes with up to nfds descriptors (SCM_RIGHTS).  Returns bytes sent
 * or -1.
 */
ssize_t sock_send_fds(int sock, const void *p, size_t n, const int *fds,
    size_t nfds);
/*
 * Receive bytes and descriptors (MSG_CMSG_CLOEXEC).  *nfds_r is set to the
 * count received; more than maxfds, or a truncated control message, is an
 * error (all received descriptors are closed, errno EBADMSG).
 */
ssize_t sock_recv_fds(int sock, void *p, size_t n, int *fds, size_t maxfds,
    size_t *nfds_r);

#endif
