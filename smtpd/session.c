/*
 * session - one SMTP session's I/O: read into the line buffer, dispatch
 * whole lines (or raw DATA/BDAT bytes), queue replies, write them out,
 * and enforce the idle and total session time limits.
 *
 * PIPELINING (RFC 2920): every complete command in the input buffer is
 * handled before the replies are flushed, so a pipelined group costs one
 * write.  Reading stops while too many replies wait (a client that sends
 * without reading cannot make us buffer without bound), and while input
 * is on hold: after STARTTLS until the handshake is done (tls.c), and
 * while the auth service is asked (auth.c).
 *
 * With TLS a read may wait for the socket to be writable and the other
 * way round (conn_wants), and decrypted bytes may wait inside the TLS
 * layer where epoll cannot see them (conn_pending): they are read before
 * the session waits again.
 *
 * Never: parse inside the I/O callback (lines go to commands.c), block,
 * or keep a session past its time limits.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/anvil.h"
#include "lib/log.h"
#include "lib/sock.h"
#include "smtpd/smtpd.h"

static void session_io(struct event_loop *loop, int fd, unsigned ev,
    void *arg);
static void session_end(struct smtpd_session *s, const char *why);
static void session_run(struct smtpd_session *s, unsigned ev);

const char *
smtpd_client(const struct smtpd_session *s, char *buf, size_t size)
{
	/* Both fields are NUL-terminated within their arrays: it fits. */
	FCT_ASSERT(size >= SMTPD_CLIENT_MAX);
	(void)snprintf(buf, size, "%s[%s]", s->name, s->addr);
	return buf;
}

static const char *
state_name(enum smtpd_state st)
{
	switch (st) {
	case S_INIT:
		return "CONNECT";
	case S_HELO:
		return "HELO";
	case S_MAIL:
		return "MAIL";
	case S_RCPT:
		return "RCPT";
	case S_DATA:
		return "DATA";
	case S_BDAT:
		return "BDAT";
	case S_QUIT:
		return "QUIT";
	}
	return "?";
}

void
smtpd_set_state(struct smtpd_session *s, enum smtpd_state st)
{
	if (s->state != st)
		log_debug("%s: state %s -> %s", s->addr, state_name(s->state),
		    state_name(st));
	s->state = st;
}

static FCT_PRINTF(3, 0) void
reply_line(struct smtpd_session *s, bool last, const char *fmt, va_list ap)
{
	char line[SMTP_REPLY_MAX + 3];
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);

	if (n < 4)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	if (!last)
		line[3] = '-';
	line[n] = '\r';
	line[n + 1] = '\n';
	if (last && (line[0] == '4' || line[0] == '5'))
		s->errors++;
	if (str_append(s->out, line, (size_t)n + 2) < 0) {
		/* A client that never reads: give up on it. */
		log_warn("%s: too many unread replies: closing", s->addr);
		s->closing = true;
	}
}

void
smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_line(s, true, fmt, ap);
	va_end(ap);
}

void
smtpd_reply_more(struct smtpd_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_line(s, false, fmt, ap);
	va_end(ap);
}

void
smtpd_reject(struct smtpd_session *s, const char *stage, const char *from,
    const char *to, const char *reply)
{
	char cl[SMTPD_CLIENT_MAX];
	struct log_esc ef, et;

	log_info("NOQUEUE: reject: %s from %s: %s; from=<%s>%s%s%s proto=%s "
		 "helo=<%s>",
	    stage, smtpd_client(s, cl, sizeof(cl)), reply,
	    log_escape_str(&ef, from ? from : ""), to ? " to=<" : "",
	    to ? log_escape_str(&et, to) : "", to ? ">" : "",
	    s->esmtp ? "ESMTP" : "SMTP", s->helo ? s->helo : "");
	smtpd_reply(s, "%s", reply);
}

/* Counted out of anvil before the client can see the session end. */
static void
anvil_done(struct smtpd_session *s)
{
	if (!s->anvil_registered)
		return;
	anvil_unregister(s->ctx->anvil, "smtp", s->addr);
	s->anvil_registered = false;
}

void
smtpd_close_after_reply(struct smtpd_session *s)
{
	anvil_done(s);
	smtpd_set_state(s, S_QUIT);
}

/* Write what we can; -1 when the connection is broken. */
static int
flush_out(struct smtpd_session *s)
{
	while (str_len(s->out) > 0) {
		ssize_t n = conn_write(s->conn, str_data(s->out),
		    str_len(s->out));
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		str_consume(s->out, (size_t)n);
	}
	return 0;
}

static void
idle_timeout(struct event_loop *loop, void *arg)
{
	struct smtpd_session *s = arg;

	s->idle_timer = NULL;
	if (!s->tls_handshake) {
		smtpd_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    s->ctx->p->myhostname);
		(void)flush_out(s); /* best effort: we close either way */
	}
	session_end(s, "timeout after");
}

static void
life_timeout(struct event_loop *loop, void *arg)
{
	struct smtpd_session *s = arg;

	s->life_timer = NULL;
	if (!s->tls_handshake) {
		smtpd_reply(s, "421 4.4.2 %s Error: session time limit "
			       "exceeded", s->ctx->p->myhostname);
		(void)flush_out(s); /* best effort: we close either way */
	}
	session_end(s, "session time limit exceeded after");
}

static void
arm_idle(struct smtpd_session *s)
{
	event_timer_cancel(s->loop, &s->idle_timer);
	s->idle_timer = event_timer_add(s->loop, s->ctx->p->smtpd_timeout * 1000,
	    idle_timeout, s);
}

bool
smtpd_input_paused(const struct smtpd_session *s)
{
	return s->tls_pending || s->tls_handshake || s->auth_req != NULL;
}

/* Input may be read and handled now. */
static bool
may_read(const struct smtpd_session *s)
{
	return !s->closing && s->state != S_QUIT && !smtpd_input_paused(s) &&
	    str_len(s->out) < SMTPD_OUT_MAX / 2;
}

/*
 * Wipe a line that carried credentials (AUTH, a SASL response).  It
 * lives in our own line buffer, so writing it is safe.  XXX a partial
 * line that linebuf compacted earlier may leave a stale copy behind.
 */
static void
wipe_line(struct smtpd_session *s, const uint8_t *p, size_t n)
{
	if (s->line_secret)
		explicit_bzero((uint8_t *)(uintptr_t)p, n);
	s->line_secret = false;
}

/*
 * One line outside DATA/BDAT: a command or a SASL response.  False when
 * no whole line is buffered.
 */
static bool
process_line(struct smtpd_session *s)
{
	const uint8_t *p;
	size_t n;

	switch (linebuf_next(s->in, &p, &n)) {
	case LINEBUF_MORE:
		return false;
	case LINEBUF_TOOLONG:
		if (s->sasl != NULL) {
			auth_line_too_long(s);
			break;
		}
		s->counts.unknown++;
		s->counts.total++;
		smtpd_reply(s, "500 5.5.2 Error: line too long");
		break;
	case LINEBUF_LINE:
		if (s->sasl != NULL) {
			auth_line(s, p, n);
		} else if (n > s->ctx->p->smtpd_command_line_limit) {
			/* The buffer's limit is SASL_LINE_MAX (main.c). */
			s->counts.unknown++;
			s->counts.total++;
			smtpd_reply(s, "500 5.5.2 Error: line too long");
		} else {
			smtpd_command(s, p, n);
		}
		wipe_line(s, p, n);
		break;
	}
	return true;
}

/* Handle everything already buffered; stops early when output piles up. */
static void
process_input(struct smtpd_session *s)
{
	while (may_read(s)) {
		const uint8_t *p;
		size_t n;

		if (s->state == S_DATA || s->state == S_BDAT) {
			bool done = false;
			p = linebuf_peek(s->in, &n);
			if (n == 0 && !(s->state == S_BDAT && s->bdat_left == 0))
				return;
			size_t used = s->state == S_DATA
			    ? txn_data_feed(s, p, n, &done)
			    : txn_bdat_feed(s, p, n);
			linebuf_skip(s->in, used);
			if (s->state == S_BDAT && s->bdat_left == 0)
				done = true;
			if (!done)
				return;
			if (s->state == S_BDAT && !s->bdat_last) {
				smtpd_set_state(s, S_RCPT);
				smtpd_reply(s, "250 2.0.0 Ok: %llu octets",
				    (unsigned long long)s->bdat_chunk);
				continue;
			}
			txn_end(s);
			continue;
		}
		if (!process_line(s))
			return;
		if (s->errors >= s->ctx->p->smtpd_hard_error_limit &&
		    s->state != S_QUIT) {
			smtpd_reply(s, "421 4.7.0 %s Error: too many errors",
			    s->ctx->p->myhostname);
			log_info("too many errors after %s from %s[%s]",
			    state_name(s->state), s->name, s->addr);
			smtpd_close_after_reply(s);
		}
	}
}

static void
update_interest(struct smtpd_session *s)
{
	bool want_write = str_len(s->out) > 0;
	unsigned ev = 0;
	size_t room;

	(void)linebuf_space(s->in, &room);
	if (may_read(s) && room > 0)
		ev = conn_wants(s->conn, want_write);
	else if (want_write)
		/*
		 * Not EV_READ: a readable socket would wake us for input we
		 * do not take.  XXX a TLS write that waits for input (never
		 * with renegotiation off) waits for the next event.
		 */
		ev = EV_WRITE;
	if (event_fd_mod(s->loop, conn_fd(s->conn), ev) < 0)
		log_warn("%s: event_fd_mod: %m", s->addr);
}

/*
 * Read what the connection has: 1 something, 0 nothing now, -1 end of
 * stream or error.  Keeps reading while the TLS layer holds decrypted
 * bytes, which epoll does not report.
 */
static int
read_input(struct smtpd_session *s)
{
	int got = 0;

	do {
		size_t room;
		uint8_t *dst = linebuf_space(s->in, &room);
		if (room == 0)
			break;
		ssize_t n = conn_read(s->conn, dst, room);
		if (n == 0)
			return -1;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		linebuf_wrote(s->in, (size_t)n);
		got = 1;
	} while (conn_pending(s->conn) > 0);
	if (got)
		arm_idle(s);
	return got;
}

static void
session_run(struct smtpd_session *s, unsigned ev)
{
	/* Peer gone (epoll reports it even when we do not read). */
	if ((ev & EV_HUP) && smtpd_input_paused(s)) {
		session_end(s, "lost connection after");
		return;
	}
	for (;;) {
		size_t before = linebuf_pending(s->in);
		size_t out_before = str_len(s->out);
		int got = 0;

		if (may_read(s) && (got = read_input(s)) < 0) {
			session_end(s, "lost connection after");
			return;
		}
		process_input(s);
		if (flush_out(s) < 0) {
			session_end(s, "lost connection after");
			return;
		}
		if ((s->closing || s->state == S_QUIT) &&
		    str_len(s->out) == 0) {
			session_end(s, NULL);
			return;
		}
		if (s->tls_pending) {
			/* "220 Ready to start TLS" is out: start TLS. */
			if (str_len(s->out) == 0) {
				tls_begin(s); /* may end the session */
				return;
			}
			break;
		}
		/*
		 * Go round again only when the replies went out and input
		 * is left that the last round could not take: pipelined
		 * commands held back by the reply limit, or bytes inside
		 * the TLS layer.  A round that read, handled and wrote
		 * nothing ends it.
		 */
		if (got == 0 && linebuf_pending(s->in) == before &&
		    out_before == 0)
			break;
		if (str_len(s->out) > 0 || smtpd_input_paused(s))
			break;
		if (linebuf_pending(s->in) == 0 && conn_pending(s->conn) == 0)
			break;
	}
	update_interest(s);
}

static void
session_io(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct smtpd_session *s = arg;

	if (s->tls_handshake)
		tls_step(s);
	else
		session_run(s, ev);
}

void
smtpd_resume(struct smtpd_session *s)
{
	session_run(s, 0);
}

static void
log_disconnect(struct smtpd_session *s)
{
	char cl[SMTPD_CLIENT_MAX];
	struct str *t = str_new(512);
	const struct {
		const char *name;
		unsigned n;
	} c[] = { { "helo", s->counts.helo }, { "ehlo", s->counts.ehlo },
		{ "starttls", s->counts.starttls },
		{ "mail", s->counts.mail }, { "rcpt", s->counts.rcpt },
		{ "data", s->counts.data }, { "bdat", s->counts.bdat },
		{ "rset", s->counts.rset }, { "noop", s->counts.noop },
		{ "vrfy", s->counts.vrfy }, { "quit", s->counts.quit },
		{ "unknown", s->counts.unknown } };

	for (size_t i = 0; i < FCT_NELEM(c); i++) {
		if (c[i].n > 0)
			str_notef(t, " %s=%u", c[i].name, c[i].n);
		/* Postfix: "auth=0/1" when some failed. */
		if (strcmp(c[i].name, "starttls") != 0 || s->counts.auth == 0)
			continue;
		if (s->counts.auth_ok == s->counts.auth)
			str_notef(t, " auth=%u", s->counts.auth);
		else
			str_notef(t, " auth=%u/%u", s->counts.auth_ok,
			    s->counts.auth);
	}
	str_notef(t, " commands=%u", s->counts.total);
	log_info("disconnect from %s%s", smtpd_client(s, cl, sizeof(cl)),
	    str_c(t));
	str_free(&t);
}

static void
session_end(struct smtpd_session *s, const char *why)
{
	struct smtpd_ctx *ctx = s->ctx;
	char cl[SMTPD_CLIENT_MAX];

	if (why != NULL)
		log_info("%s %s from %s", why, state_name(s->state),
		    smtpd_client(s, cl, sizeof(cl)));
	log_disconnect(s);
	txn_reset(s);
	auth_reset(s); /* cancels a question to the auth service */
	event_timer_cancel(s->loop, &s->idle_timer);
	event_timer_cancel(s->loop, &s->life_timer);
	anvil_done(s);
	event_fd_del(s->loop, conn_fd(s->conn));
	conn_free(&s->conn);
	linebuf_free(&s->in);
	str_free(&s->out);
	str_free(&s->reply);
	str_free(&s->txn_why);
	free(s->helo);
	free(s->tls_info);
	free(s);
	service_session_done(ctx->svc);
}

void
smtpd_end(struct smtpd_session *s, const char *why)
{
	char cl[SMTPD_CLIENT_MAX];

	if (why != NULL)
		log_info("%s from %s", why, smtpd_client(s, cl, sizeof(cl)));
	session_end(s, NULL);
}

void
smtpd_greet(struct smtpd_session *s)
{
	const struct params *p = s->ctx->p;

	if (s->too_many) {
		smtpd_reply(s, "421 4.7.0 %s Error: too many connections from %s",
		    p->myhostname, s->addr);
		smtpd_close_after_reply(s);
		return;
	}
	smtpd_reply(s, "220 %s", p->smtpd_banner);
}

void
session_start(struct smtpd_ctx *ctx, int fd, const struct sockaddr *sa,
    socklen_t len)
{
	struct smtpd_session *s = x_calloc(1, sizeof(*s));
	const struct params *p = ctx->p;
	char cl[SMTPD_CLIENT_MAX];
	unsigned count = 0;

	s->ctx = ctx;
	s->loop = service_loop(ctx->svc);
	s->conn = conn_new(fd);
	s->state = S_INIT;
	sock_addr_text(sa, s->addr, sizeof(s->addr));
	snprintf(s->name, sizeof(s->name), "unknown");
	/*
	 * RFC 4954 §4: SASL response lines may be SASL_LINE_MAX long;
	 * commands are held to smtpd_command_line_limit in process_line().
	 */
	s->in = linebuf_new(p->smtpd_sasl_auth_enable &&
		p->smtpd_command_line_limit < SASL_LINE_MAX
	    ? SASL_LINE_MAX : p->smtpd_command_line_limit);
	s->out = str_new(SMTPD_OUT_MAX);
	s->reply = str_new(SMTP_REPLY_MAX);
	s->txn_why = str_new(512);
	s->relay_ok = cidr_list_match(ctx->mynetworks, sa);
	log_info("connect from %s", smtpd_client(s, cl, sizeof(cl)));
	if (event_fd_add(s->loop, fd, EV_WRITE, session_io, s) < 0) {
		log_warn("watch client: %m");
		session_end(s, NULL);
		return;
	}
	s->life_timer = event_timer_add(s->loop,
	    p->smtpd_session_time_limit * 1000, life_timeout, s);
	arm_idle(s);
	if (p->smtpd_client_connection_count_limit > 0) {
		s->anvil_registered = anvil_register(ctx->anvil, "smtp",
		    s->addr, &count) == 0;
		if (s->anvil_registered &&
		    count > p->smtpd_client_connection_count_limit) {
			log_warn("Connection concurrency limit exceeded: %u "
				 "from %s for service %s",
			    count, cl, service_name(ctx->svc));
			s->too_many = true;
		}
	}
	/* RFC 8314 §3.3: implicit TLS; the greeting comes after it. */
	if (p->smtpd_tls_wrappermode)
		tls_begin(s); /* may end the session */
	else
		smtpd_greet(s);
}
