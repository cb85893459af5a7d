/*
 * conn - one client connection's byte stream: plain now, TLS-capable
 * (lib/tls) with the same calls, so that smtpd, pop3d and imapd never
 * care which it is.
 *
 * All descriptors are non-blocking: conn_read/conn_write return -1 with
 * errno EAGAIN when the caller should wait for conn_wants() events.
 *
 * Never: block, or hide a short write (the caller keeps what is unsent).
 */
#ifndef FACTEUR_CONN_H
#define FACTEUR_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/util.h"

struct conn;

/* Wrap fd (owned by the conn from now on). */
struct conn *conn_new(int fd);
/* Close the descriptor and free; sets *cp NULL; accepts NULL. */
void conn_free(struct conn **cp);
int conn_fd(const struct conn *c);

/* >0 bytes, 0 end of stream, -1 error (errno; EAGAIN: wait). */
ssize_t conn_read(struct conn *c, void *p, size_t n);
/* >0 bytes written, -1 error (errno; EAGAIN: wait). */
ssize_t conn_write(struct conn *c, const void *p, size_t n);
/* The events (EV_READ/EV_WRITE) the stream waits for after EAGAIN. */
unsigned conn_wants(const struct conn *c, bool want_write);

#endif
