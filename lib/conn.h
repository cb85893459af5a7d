/*
 * conn - one connection's byte stream, plain or TLS (lib/tls) with the
 * same calls, so that smtpd, pop3d, imapd and smtp never care which it
 * is.
 *
 * All descriptors are non-blocking: conn_read/conn_write return -1 with
 * errno EAGAIN when the caller should wait for conn_wants() events.
 *
 * TLS upgrade (STARTTLS, or at once for implicit TLS on 465/993/995):
 *
 *   conn_starttls_server(c, tls, why);     after "220 Ready to start TLS"
 *                                          is written out completely
 *   on every event: switch (conn_handshake(c, why)) {
 *       CONN_HS_WANT_READ/WRITE: wait for conn_wants(c, false)
 *       CONN_HS_ERROR: log why, end the session (nothing more is sent)
 *       CONN_HS_DONE: linebuf_reset() the input, forget EHLO, go on
 *   }
 *
 * conn itself never buffers plaintext: every byte read before the
 * handshake was handed to the caller, so the caller's linebuf_reset()
 * throws away all the client sent in clear after STARTTLS (RFC 3207
 * §4.2; the CVE-2011-0411 class).  Bytes still in the kernel's socket
 * buffer are read by the handshake as TLS records, where they fail it.
 * conn_read/conn_write called during the handshake drive it (and fail
 * with EAGAIN until it is done).
 *
 * With TLS, a read may want the socket writable and a write may want it
 * readable (SSL_ERROR_WANT_WRITE/READ); conn_wants() says which events
 * to wait for, and conn_pending() how many decrypted bytes are already
 * buffered: the descriptor does not become readable for those, so the
 * caller reads them before it waits again.  A TLS error is final: every
 * later read or write fails with EPROTO (never a fall-back to clear
 * text).
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
/*
 * The events (EV_READ/EV_WRITE) the stream waits for after EAGAIN: for
 * reading, and for writing too when want_write (output is pending).
 */
unsigned conn_wants(const struct conn *c, bool want_write);

/* ---- TLS ---- */

struct str;
struct tls_ctx;

enum conn_handshake {
	CONN_HS_DONE,       /* TLS is up */
	CONN_HS_WANT_READ,  /* wait until readable, then call again */
	CONN_HS_WANT_WRITE, /* wait until writable, then call again */
	CONN_HS_ERROR,      /* failed (why says so); end the session */
};

/*
 * Start TLS as a server with ctx (borrowed; it must outlive c), or as
 * a client of servername (SNI, name check, session cache; may be NULL).
 * The handshake itself runs in conn_handshake().  0, or -1 with why
 * (already TLS, out of memory).
 */
FCT_MUST_CHECK int conn_starttls_server(
    struct conn *c, struct tls_ctx *ctx, struct str *why);
FCT_MUST_CHECK int conn_starttls_client(struct conn *c, struct tls_ctx *ctx,
    const char *servername, struct str *why);
/* One non-blocking handshake step; see the header comment. */
FCT_MUST_CHECK enum conn_handshake conn_handshake(
    struct conn *c, struct str *why);

/* TLS started (handshake maybe unfinished) / finished and usable. */
bool conn_tls_started(const struct conn *c);
bool conn_tls_active(const struct conn *c);
/* "TLSv1.3 with cipher X (256/256 bits)" appended to out; 0 or -1. */
FCT_MUST_CHECK int conn_tls_describe(const struct conn *c, struct str *out);
/* The session was resumed (an abbreviated handshake). */
bool conn_tls_resumed(const struct conn *c);
/* Client: the server's certificate verified for the name given. */
bool conn_tls_verified(const struct conn *c);
/* Decrypted bytes buffered inside the TLS layer (0 for plain). */
size_t conn_pending(const struct conn *c);

#endif
