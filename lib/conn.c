/*
 * conn - plain socket I/O, or OpenSSL on the same descriptor, behind
 * the conn interface.
 *
 * Never: retry forever on EINTR-free errors, raise SIGPIPE, or go back
 * to clear text once TLS has started.
 */
#include "lib/conn.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/event.h"
#include "lib/str.h"
#include "lib/tls.h"

enum conn_tls {
	CT_PLAIN,     /* no TLS */
	CT_HANDSHAKE, /* started, handshake not finished */
	CT_UP,        /* usable */
	CT_FAILED,    /* a TLS error happened: nothing more goes through */
};

struct conn {
	int fd;
	enum conn_tls tls;
	SSL *ssl;
	unsigned hs_wants; /* handshake: EV_READ or EV_WRITE */
	unsigned rd_wants; /* what the last blocked read waits for */
	unsigned wr_wants; /* what the last blocked write waits for */
	bool shut_ok;      /* a close_notify may be sent at the end */
};

struct conn *
conn_new(int fd)
{
	struct conn *c = x_calloc(1, sizeof(*c));

	c->fd = fd;
	c->tls = CT_PLAIN;
	c->rd_wants = EV_READ;
	c->wr_wants = EV_WRITE;
	return c;
}

void
conn_free(struct conn **cp)
{
	struct conn *c = *cp;

	if (c == NULL)
		return;
	if (c->ssl != NULL) {
		/*
		 * One non-blocking close_notify, only after a clean
		 * session (RFC 8446 §6.1); whether it leaves does not
		 * matter: the peer learns the end from the socket too.
		 */
		if (c->tls == CT_UP && c->shut_ok)
			(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		ERR_clear_error();
	}
	/* Whatever was unsent is lost with the peer anyway. */
	(void)fd_close(&c->fd);
	x_free(cp);
}

int
conn_fd(const struct conn *c)
{
	return c->fd;
}

static ssize_t
plain_read(struct conn *c, void *p, size_t n)
{
	ssize_t r;

	do
		r = recv(c->fd, p, n, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

static ssize_t
plain_write(struct conn *c, const void *p, size_t n)
{
	ssize_t r;

	do
		r = send(c->fd, p, n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r;
}

/*
 * Map an OpenSSL failure to errno.  *wants_r gets the event to wait
 * for on EAGAIN.  Returns 0 for a clean end of stream, -1 otherwise.
 */
static ssize_t
ssl_fail(struct conn *c, int ret, unsigned *wants_r)
{
	int err = SSL_get_error(c->ssl, ret);

	switch (err) {
	case SSL_ERROR_WANT_READ:
		*wants_r = EV_READ;
		errno = EAGAIN;
		ERR_clear_error();
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*wants_r = EV_WRITE;
		errno = EAGAIN;
		ERR_clear_error();
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify (or, with IGNORE_UNEXPECTED_EOF, a bare EOF) */
		ERR_clear_error();
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno == 0)
			errno = ECONNRESET;
		break;
	default:
		errno = EPROTO;
		break;
	}
	ERR_clear_error();
	c->tls = CT_FAILED;
	return -1;
}

/*
 * Where a read or write must go: 0 through TLS, 1 plain, or -1 with errno
 * (EPROTO after a TLS failure — never back to clear text — or EAGAIN
 * while the handshake goes on).
 */
static int
io_route(struct conn *c)
{
	switch (c->tls) {
	case CT_PLAIN:
		return 1;
	case CT_FAILED:
		errno = EPROTO;
		return -1;
	case CT_HANDSHAKE:
		if (conn_handshake(c, NULL) == CONN_HS_ERROR) {
			errno = EPROTO;
			return -1;
		}
		if (c->tls != CT_UP) {
			errno = EAGAIN;
			return -1;
		}
		return 0;
	case CT_UP:
		return 0;
	}
	errno = EPROTO;
	return -1;
}

ssize_t
conn_read(struct conn *c, void *p, size_t n)
{
	size_t got = 0;
	int ret;

	int route = io_route(c);

	if (route != 0)
		return route > 0 ? plain_read(c, p, n) : -1;
	if (n == 0)
		return 0;
	ERR_clear_error();
	errno = 0;
	ret = SSL_read_ex(c->ssl, p, n, &got);
	if (ret == 1) {
		c->rd_wants = EV_READ;
		return (ssize_t)got;
	}
	return ssl_fail(c, ret, &c->rd_wants);
}

ssize_t
conn_write(struct conn *c, const void *p, size_t n)
{
	size_t put = 0;
	int ret;

	int route = io_route(c);

	if (route != 0)
		return route > 0 ? plain_write(c, p, n) : -1;
	if (n == 0)
		return 0;
	ERR_clear_error();
	errno = 0;
	ret = SSL_write_ex(c->ssl, p, n, &put);
	if (ret == 1) {
		c->wr_wants = EV_WRITE;
		return (ssize_t)put;
	}
	if (ssl_fail(c, ret, &c->wr_wants) == 0) {
		/* The peer closed its side: writing is an error. */
		errno = EPIPE;
	}
	return -1;
}

unsigned
conn_wants(const struct conn *c, bool want_write)
{
	switch (c->tls) {
	case CT_PLAIN:
	case CT_FAILED:
		break;
	case CT_HANDSHAKE:
		return c->hs_wants;
	case CT_UP:
		return c->rd_wants | (want_write ? c->wr_wants : 0);
	}
	return EV_READ | (want_write ? EV_WRITE : 0);
}

static int
start(struct conn *c, struct tls_ctx *ctx, const char *servername,
    struct str *why)
{
	if (c->tls != CT_PLAIN) {
		str_notef(why, "TLS already started");
		return -1;
	}
	c->ssl = tls_ssl_new(ctx, c->fd, servername, why);
	if (c->ssl == NULL)
		return -1;
	c->tls = CT_HANDSHAKE;
	c->hs_wants = tls_ctx_is_server(ctx) ? EV_READ : EV_WRITE;
	return 0;
}

int
conn_starttls_server(struct conn *c, struct tls_ctx *ctx, struct str *why)
{
	if (!tls_ctx_is_server(ctx)) {
		str_notef(why, "not a server TLS context");
		return -1;
	}
	return start(c, ctx, NULL, why);
}

int
conn_starttls_client(struct conn *c, struct tls_ctx *ctx,
    const char *servername, struct str *why)
{
	if (tls_ctx_is_server(ctx)) {
		str_notef(why, "not a client TLS context");
		return -1;
	}
	return start(c, ctx, servername, why);
}

enum conn_handshake
conn_handshake(struct conn *c, struct str *why)
{
	int ret, err;

	switch (c->tls) {
	case CT_UP:
		return CONN_HS_DONE;
	case CT_PLAIN:
	case CT_FAILED:
		if (why != NULL)
			str_notef(why, "%s",
			    c->tls == CT_PLAIN ? "TLS not started"
			                       : "TLS failed before");
		return CONN_HS_ERROR;
	case CT_HANDSHAKE:
		break;
	}
	ERR_clear_error();
	errno = 0;
	ret = SSL_do_handshake(c->ssl);
	if (ret == 1) {
		c->tls = CT_UP;
		c->shut_ok = true;
		c->rd_wants = EV_READ;
		c->wr_wants = EV_WRITE;
		return CONN_HS_DONE;
	}
	err = SSL_get_error(c->ssl, ret);
	if (err == SSL_ERROR_WANT_READ) {
		c->hs_wants = EV_READ;
		return CONN_HS_WANT_READ;
	}
	if (err == SSL_ERROR_WANT_WRITE) {
		c->hs_wants = EV_WRITE;
		return CONN_HS_WANT_WRITE;
	}
	if (why != NULL) {
		if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
			str_notef(why, "%s",
			    errno != 0
			        ? strerror(errno)
			        : "connection closed during the handshake");
		else
			tls_errors(why);
		if (SSL_get_verify_result(c->ssl) != X509_V_OK)
			str_notef(why, " (certificate: %s)",
			    X509_verify_cert_error_string(
			        SSL_get_verify_result(c->ssl)));
	}
	ERR_clear_error();
	c->tls = CT_FAILED;
	return CONN_HS_ERROR;
}

bool
conn_tls_started(const struct conn *c)
{
	return c->tls != CT_PLAIN;
}

bool
conn_tls_active(const struct conn *c)
{
	return c->tls == CT_UP;
}

int
conn_tls_describe(const struct conn *c, struct str *out)
{
	if (c->tls != CT_UP)
		return str_appends(out, "no TLS");
	return tls_describe(c->ssl, out);
}

bool
conn_tls_resumed(const struct conn *c)
{
	return c->tls == CT_UP && SSL_session_reused(c->ssl) == 1;
}

bool
conn_tls_verified(const struct conn *c)
{
	X509 *peer;

	if (c->tls != CT_UP)
		return false;
	peer = SSL_get0_peer_certificate(c->ssl);
	return peer != NULL && SSL_get_verify_result(c->ssl) == X509_V_OK;
}

size_t
conn_pending(const struct conn *c)
{
	int n;

	if (c->tls != CT_UP)
		return 0;
	n = SSL_pending(c->ssl);
	return n > 0 ? (size_t)n : 0;
}
