/*
 * session - one SMTP session's I/O: read into the line buffer, dispatch
 * whole lines (or raw DATA/BDAT bytes), queue replies, write them out,
 * and enforce the idle and total session time limits.
 *
 * PIPELINING (RFC 2920): every complete command in the input buffer is
 * handled before the replies are flushed, so a pipelined group costs one
 * write.  Reading stops while too many replies wait (a client that sends
 * without reading cannot make us buffer without bound).
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
smtpd_close_after_reply(struct smtpd_session *s)
{
	/* Counted out before the client can see the end of the session. */
	anvil_disconnect(&s->anvil_fd);
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
	smtpd_reply(s, "421 4.4.2 %s Error: timeout exceeded",
	    s->ctx->p->myhostname);
	(void)flush_out(s); /* best effort: we close either way */
	session_end(s, "timeout after");
}

static void
life_timeout(struct event_loop *loop, void *arg)
{
	struct smtpd_session *s = arg;

	s->life_timer = NULL;
	smtpd_reply(s, "421 4.4.2 %s Error: session time limit exceeded",
	    s->ctx->p->myhostname);
	(void)flush_out(s); /* best effort: we close either way */
	session_end(s, "session time limit exceeded after");
}

static void
arm_idle(struct smtpd_session *s)
{
	event_timer_cancel(s->loop, &s->idle_timer);
	s->idle_timer = event_timer_add(s->loop, s->ctx->p->smtpd_timeout * 1000,
	    idle_timeout, s);
}

/* Handle everything already buffered; stops early when output piles up. */
static void
process_input(struct smtpd_session *s)
{
	while (!s->closing && s->state != S_QUIT &&
	    str_len(s->out) < SMTPD_OUT_MAX / 2) {
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
		switch (linebuf_next(s->in, &p, &n)) {
		case LINEBUF_MORE:
			return;
		case LINEBUF_TOOLONG:
			s->counts.unknown++;
			s->counts.total++;
			smtpd_reply(s, "500 5.5.2 Error: line too long");
			break;
		case LINEBUF_LINE:
			smtpd_command(s, p, n);
			break;
		}
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
	bool can_read = !s->closing && s->state != S_QUIT &&
	    str_len(s->out) < SMTPD_OUT_MAX / 2;
	size_t room;

	(void)linebuf_space(s->in, &room);
	unsigned ev = (can_read && room > 0 ? EV_READ : 0) |
	    (want_write ? EV_WRITE : 0);
	if (event_fd_mod(s->loop, conn_fd(s->conn), ev) < 0)
		log_warn("%s: event_fd_mod: %m", s->addr);
}

static void
session_io(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct smtpd_session *s = arg;

	if (ev & (EV_READ | EV_HUP)) {
		size_t room;
		uint8_t *dst = linebuf_space(s->in, &room);
		if (room > 0) {
			ssize_t n = conn_read(s->conn, dst, room);
			if (n == 0) {
				session_end(s, "lost connection after");
				return;
			}
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				session_end(s, "lost connection after");
				return;
			}
			if (n > 0) {
				linebuf_wrote(s->in, (size_t)n);
				arm_idle(s);
			}
		}
	}
	process_input(s);
	if (flush_out(s) < 0) {
		session_end(s, "lost connection after");
		return;
	}
	if ((s->closing || s->state == S_QUIT) && str_len(s->out) == 0) {
		session_end(s, NULL);
		return;
	}
	/* Replies went out: pipelined commands may wait in the buffer. */
	if (linebuf_pending(s->in) > 0 && str_len(s->out) == 0 &&
	    !s->closing && s->state != S_QUIT) {
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
	}
	update_interest(s);
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
		{ "mail", s->counts.mail }, { "rcpt", s->counts.rcpt },
		{ "data", s->counts.data }, { "bdat", s->counts.bdat },
		{ "rset", s->counts.rset }, { "noop", s->counts.noop },
		{ "vrfy", s->counts.vrfy }, { "quit", s->counts.quit },
		{ "unknown", s->counts.unknown } };

	for (size_t i = 0; i < FCT_NELEM(c); i++)
		if (c[i].n > 0)
			str_notef(t, " %s=%u", c[i].name, c[i].n);
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
	event_timer_cancel(s->loop, &s->idle_timer);
	event_timer_cancel(s->loop, &s->life_timer);
	anvil_disconnect(&s->anvil_fd);
	event_fd_del(s->loop, conn_fd(s->conn));
	conn_free(&s->conn);
	linebuf_free(&s->in);
	str_free(&s->out);
	str_free(&s->reply);
	str_free(&s->txn_why);
	free(s->helo);
	free(s);
	service_session_done(ctx->svc);
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
	s->anvil_fd = -1;
	s->state = S_INIT;
	sock_addr_text(sa, s->addr, sizeof(s->addr));
	snprintf(s->name, sizeof(s->name), "unknown");
	s->in = linebuf_new(p->smtpd_command_line_limit);
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
		s->anvil_fd = anvil_connect(ctx->anvil_path, "smtp", s->addr,
		    1000, &count);
		if (s->anvil_fd >= 0 &&
		    count > p->smtpd_client_connection_count_limit) {
			log_warn("Connection concurrency limit exceeded: %u "
				 "from %s for service %s",
			    count, cl, service_name(ctx->svc));
			smtpd_reply(s,
			    "421 4.7.0 %s Error: too many connections from %s",
			    p->myhostname, s->addr);
			smtpd_close_after_reply(s);
			return;
		}
	}
	smtpd_reply(s, "220 %s", p->smtpd_banner);
}
