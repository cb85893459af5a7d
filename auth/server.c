/*
 * server - the auth service's clients: the peer check, one request line
 * at a time, the password check, and the answer (now, or after the
 * failure delay).
 *
 * A client's states: reading a request; waiting (the answer is held by
 * a delay timer, nothing more is read); writing the answer.  A request
 * that does not parse, a line over AUTH_LINE_MAX, or ipc_timeout without
 * a request ends the connection.
 *
 * Never: log a password or a hash, keep a password after its check, or
 * block the loop anywhere but in the one crypt(3) of a check.
 */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/auth.h"
#include "lib/auth_proto.h"
#include "lib/log.h"
#include "lib/passwd.h"
#include "lib/secret.h"
#include "lib/sock.h"

/* Groups read from SO_PEERGROUPS at most (NGROUPS_MAX is 65536). */
#define PEER_GROUPS_MAX 4096

struct client {
	struct authd *a; /* borrowed */
	int fd;
	uid_t uid;
	pid_t pid;
	struct secret *in; /* request bytes: they hold a password */
	struct str *out;   /* answers to write */
	struct str *held;  /* the answer a delay timer holds back */
	struct event_timer *idle;
	struct event_timer *delay;
	bool closing; /* close once out is written */
};

static void client_update(struct client *c);

static struct event_loop *
loop_of(const struct client *c)
{
	return service_loop(c->a->svc);
}

static void
client_close(struct client *c)
{
	struct service *s = c->a->svc;

	event_timer_cancel(loop_of(c), &c->idle);
	event_timer_cancel(loop_of(c), &c->delay);
	event_fd_del(loop_of(c), c->fd);
	/* Only answers were pending: the peer asks again if it cares. */
	(void)fd_close(&c->fd);
	secret_free(&c->in);
	str_free(&c->out);
	str_free(&c->held);
	free(c);
	service_session_done(s);
}

static void
idle_cb(struct event_loop *loop, void *arg)
{
	struct client *c = arg;

	c->idle = NULL;
	log_debug("client uid=%u pid=%ld idle: closing", (unsigned)c->uid,
	    (long)c->pid);
	client_close(c);
}

static void
arm_idle(struct client *c)
{
	event_timer_cancel(loop_of(c), &c->idle);
	c->idle = event_timer_add(
	    loop_of(c), c->a->p->ipc_timeout * 1000, idle_cb, c);
}

static void
delay_cb(struct event_loop *loop, void *arg)
{
	struct client *c = arg;

	c->delay = NULL;
	if (str_append(c->out, str_data(c->held), str_len(c->held)) < 0)
		c->closing = true; /* cannot happen: one answer at a time */
	str_clear(c->held);
	arm_idle(c);
	client_update(c);
}

/* Queue an answer, now or after delay_s seconds. */
static void
answer(struct client *c, enum auth_answer ans, const char *reason,
    uint64_t delay_s)
{
	struct str *dst = delay_s > 0 ? c->held : c->out;

	if (auth_proto_answer_format(ans, reason, dst) < 0) {
		c->closing = true;
		return;
	}
	if (delay_s > 0) {
		event_timer_cancel(loop_of(c), &c->idle);
		c->delay =
		    event_timer_add(loop_of(c), delay_s * 1000, delay_cb, c);
	}
}

/* The penalty key for an address ("a:...") or a user ("u:...", folded). */
static void
penalty_key(struct str *k, char kind, const char *p, size_t len)
{
	str_clear(k);
	str_notef(k, "%c:", kind);
	for (size_t i = 0; i < len && i < PENALTY_KEY_MAX - 2; i++)
		if (str_appendc(k, (char)ascii_tolower((unsigned char)p[i])) <
		    0)
			break;
}

static void
handle_request(
    struct client *c, const struct auth_proto_req *r, struct secret *pw)
{
	struct authd *a = c->a;
	struct str *why = str_new(512);
	struct str *ka = str_new(PENALTY_KEY_MAX),
	           *ku = str_new(PENALTY_KEY_MAX);
	struct log_esc eu, ea;
	enum passwd_reason reason;
	enum passwd_verdict v;
	uint64_t now, delay;
	unsigned n;

	v = passwd_check(a->users, a->passwd, a->dummy_hash, r->user,
	    r->user_len, secret_c(pw), secret_len(pw), &reason, why);
	/* Checked: the password goes now, before anything else. */
	secret_clear(pw);
	log_escape(&eu, r->user, r->user_len);
	log_escape(&ea, r->addr, r->addr_len);
	penalty_key(ka, 'a', r->addr, r->addr_len);
	penalty_key(ku, 'u', r->user, r->user_len);
	now = time_mono_ms();
	switch (v) {
	case PASSWD_TEMP:
		log_warn("auth: cannot check user=<%s> from [%s]: %s", eu.s,
		    ea.s, str_c(why));
		answer(c, AUTH_ANSWER_TEMP, "table lookup failed", 0);
		break;
	case PASSWD_OK:
		/*
		 * While an address or user is penalised every answer
		 * waits, right or wrong: a guesser running requests in
		 * parallel must not spot a hit by its speed.
		 */
		n = penalty_count(a->pen, str_c(ka), str_len(ka), now);
		if (penalty_count(a->pen, str_c(ku), str_len(ku), now) > n)
			n = penalty_count(a->pen, str_c(ku), str_len(ku), now);
		delay = penalty_delay(
		    n, a->p->auth_failure_delay, a->p->auth_failure_delay_max);
		penalty_clear(a->pen, str_c(ku), str_len(ku));
		log_info("auth: ok for user=<%s> from [%s], service=%.*s%s",
		    eu.s, ea.s, (int)r->service_len, r->service,
		    delay > 0 ? " (delayed: earlier failures)" : "");
		answer(c, AUTH_ANSWER_OK, NULL, delay);
		break;
	case PASSWD_FAIL:
		n = penalty_fail(a->pen, str_c(ka), str_len(ka), now);
		unsigned nu = penalty_fail(a->pen, str_c(ku), str_len(ku), now);
		if (nu > n)
			n = nu;
		delay = penalty_delay(
		    n, a->p->auth_failure_delay, a->p->auth_failure_delay_max);
		log_warn("auth: failed for user=<%s> from [%s], delay %llus "
		         "(%s, service=%.*s)",
		    eu.s, ea.s, (unsigned long long)delay,
		    passwd_reason_text(reason), (int)r->service_len,
		    r->service);
		if (reason == PASSWD_R_BADHASH)
			log_err("auth: the passwd table holds a malformed hash "
			        "for user=<%s>: set a new password with "
			        "\"mailctl user passwd\"",
			    eu.s);
		answer(c, AUTH_ANSWER_FAIL, NULL, delay);
		break;
	}
	str_free(&ka);
	str_free(&ku);
	str_free(&why);
}

/* Take whole request lines out of the input, one at a time. */
static void
process_input(struct client *c)
{
	struct secret *pw = secret_new(SASL_PASS_MAX);

	while (!c->closing && c->delay == NULL && str_len(c->out) == 0) {
		const uint8_t *p = secret_data(c->in);
		const uint8_t *nl = memchr(p, '\n', secret_len(c->in));
		struct auth_proto_req r;
		struct str *why;
		size_t len;

		if (nl == NULL) {
			if (secret_len(c->in) == secret_cap(c->in)) {
				log_warn("auth: request from uid=%u pid=%ld "
				         "too long: closing",
				    (unsigned)c->uid, (long)c->pid);
				c->closing = true;
			}
			break;
		}
		len = (size_t)(nl - p);
		why = str_new(256);
		if (auth_proto_request_parse(p, len, &r, pw, why) < 0) {
			log_warn("auth: bad request from uid=%u pid=%ld: %s: "
			         "closing",
			    (unsigned)c->uid, (long)c->pid, str_c(why));
			c->closing = true;
		} else {
			handle_request(c, &r, pw);
		}
		str_free(&why);
		/* The line (with its password) is wiped as it goes. */
		secret_consume(c->in, len + 1);
	}
	secret_free(&pw);
}

static void
client_io(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct client *c = arg;

	if ((ev & (EV_READ | EV_HUP)) && c->delay == NULL && !c->closing) {
		size_t room;
		uint8_t *dst = secret_space(c->in, &room);
		ssize_t n = room > 0 ? recv(fd, dst, room, MSG_DONTWAIT) : 0;

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			client_close(c);
			return;
		}
		if (n == 0 && room > 0) {
			client_close(c); /* the client is done */
			return;
		}
		if (n > 0) {
			secret_wrote(c->in, (size_t)n);
			arm_idle(c);
		}
	} else if ((ev & EV_HUP) && !(ev & EV_WRITE)) {
		/* Gone while its answer waits: nobody to answer. */
		client_close(c);
		return;
	}
	process_input(c);
	while (str_len(c->out) > 0) {
		ssize_t n = send(fd, str_data(c->out), str_len(c->out),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n < 0) {
			client_close(c);
			return;
		}
		str_consume(c->out, (size_t)n);
		/* Answered: the next request may be waiting already. */
		if (str_len(c->out) == 0)
			process_input(c);
	}
	if (c->closing && str_len(c->out) == 0) {
		client_close(c);
		return;
	}
	client_update(c);
}

static void
client_update(struct client *c)
{
	unsigned ev = 0;

	if (str_len(c->out) > 0)
		ev |= EV_WRITE;
	else if (!c->closing && c->delay == NULL)
		ev |= EV_READ;
	if (c->closing && str_len(c->out) == 0) {
		client_close(c);
		return;
	}
	if (event_fd_mod(loop_of(c), c->fd, ev) < 0) {
		log_warn("auth: event_fd_mod: %m");
		client_close(c);
	}
}

/* Is want among the peer's supplementary groups (SO_PEERGROUPS)? */
static bool
peer_in_group(int fd, gid_t want)
{
	socklen_t len = 64 * sizeof(gid_t);
	gid_t *g = x_malloc(len);
	bool found = false;
	int rc;

	rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len);
	/* ERANGE: len now says how much room the list needs. */
	if (rc < 0 && errno == ERANGE && len > 0 &&
	    len <= PEER_GROUPS_MAX * sizeof(gid_t)) {
		g = x_realloc(g, len);
		rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len);
	}
	if (rc < 0)
		len = 0;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (g[i] == want)
			found = true;
	free(g);
	return found;
}

/*
 * DESIGN §1: every peer is checked with SO_PEERCRED.  In other words,
 * the folder and socket modes keep others out, and this check holds
 * even if someone loosens them: root, our own user (an unprivileged
 * instance is all one user), or a member of authclient_group.
 */
static bool
peer_allowed(const struct authd *a, int fd, uid_t uid, gid_t gid)
{
	if (uid == 0 || uid == a->self_uid)
		return true;
	if (!a->have_client_gid)
		return false;
	return gid == a->client_gid || peer_in_group(fd, a->client_gid);
}

void
authd_accept(struct service *s, int fd, const struct sockaddr *peer,
    socklen_t len, void *arg)
{
	struct authd *a = arg;
	struct client *c;
	uid_t uid;
	gid_t gid;
	pid_t pid;

	if (sock_peer_cred(fd, &uid, &gid, &pid) < 0) {
		log_warn("auth: SO_PEERCRED: %m: closing");
		(void)close(fd); /* never used */
		service_session_done(s);
		return;
	}
	if (!peer_allowed(a, fd, uid, gid)) {
		log_warn("auth: refused client uid=%u gid=%u pid=%ld: not "
		         "root and not in group %s",
		    (unsigned)uid, (unsigned)gid, (long)pid,
		    a->p->authclient_group);
		(void)close(fd); /* never used */
		service_session_done(s);
		return;
	}
	c = x_calloc(1, sizeof(*c));
	c->a = a;
	c->fd = fd;
	c->uid = uid;
	c->pid = pid;
	c->in = secret_new(AUTH_LINE_MAX + 1);
	c->out = str_new(AUTH_REASON_MAX + 16);
	c->held = str_new(AUTH_REASON_MAX + 16);
	if (event_fd_add(service_loop(s), fd, EV_READ, client_io, c) < 0) {
		log_warn("auth: watch client: %m");
		secret_free(&c->in);
		str_free(&c->out);
		str_free(&c->held);
		free(c);
		(void)close(fd); /* never used */
		service_session_done(s);
		return;
	}
	arm_idle(c);
	log_debug("auth: client uid=%u pid=%ld", (unsigned)uid, (long)pid);
}
