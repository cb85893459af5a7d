/*
 * services - master's service table: bind listeners, start, watch,
 * restart, throttle, retire and stop children.
 *
 * A service keeps at least one process, and grows up to maxproc when
 * every process reports busy.  A child that dies after it reported ready
 * is restarted at once, and so is the first one that dies before; a
 * second death before ready in a row (bad config, missing program)
 * throttles its service for service_throttle_time.  On reload,
 * services that still exist keep their listeners; every old child is
 * retired (its status socket closed) and finishes its sessions.
 *
 * Never: parse network input, or leave a child running after stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/priv.h"
#include "lib/sock.h"
#include "lib/str.h"
#include "master/master.h"

static void spawn(struct msvc *svc);

/* Deaths before "ready" in a row that throttle a service. */
#define MASTER_EARLY_DEATHS 2

/* Well-known names for inet services, so /etc/services is optional. */
static const struct {
	const char *name;
	unsigned port;
} known_ports[] = {
	{ "smtp", 25 }, { "submission", 587 }, { "submissions", 465 },
	{ "smtps", 465 }, { "pop3", 110 }, { "imap", 143 },
	{ "pop3s", 995 }, { "imaps", 993 }, { "lmtp", 24 },
};

static int
parse_port(const char *text, unsigned *port_r)
{
	uint64_t v;

	if (num_parse_u64(text, strlen(text), 65535, &v) == 0 && v > 0) {
		*port_r = (unsigned)v;
		return 0;
	}
	for (size_t i = 0; i < FCT_NELEM(known_ports); i++)
		if (strcmp(text, known_ports[i].name) == 0) {
			*port_r = known_ports[i].port;
			return 0;
		}
	struct servent *se = getservbyname(text, "tcp");
	if (se == NULL)
		return -1;
	*port_r = ntohs((uint16_t)se->s_port);
	return 0;
}

static bool
proto_on(const struct params *p, const char *want)
{
	const char *cur = p->inet_protocols, *item;
	size_t len;

	while (list_next(&cur, &item, &len))
		if ((len == 3 && memcmp(item, "all", 3) == 0) ||
		    (len == strlen(want) && memcmp(item, want, len) == 0))
			return true;
	return false;
}

static int
add_listener(struct msvc *svc, int fd, struct str *why)
{
	if (svc->nlisteners == MASTER_MAX_LISTENERS) {
		(void)close(fd); /* never used */
		str_notef(why, "too many listeners");
		return -1;
	}
	svc->listeners[svc->nlisteners++] = fd;
	return 0;
}

static int
bind_inet_host(struct msvc *svc, const char *host, unsigned port,
    struct str *why)
{
	int family = strchr(host, ':') ? AF_INET6 : AF_INET;
	const char *want = family == AF_INET6 ? "ipv6" : "ipv4";
	int fd;

	if (!proto_on(&svc->m->p, want))
		return 0;
	fd = sock_listen_inet(family, host, port, why);
	if (fd < 0)
		return -1;
	return add_listener(svc, fd, why);
}

static int
bind_inet(struct msvc *svc, struct str *why)
{
	const struct params *p = &svc->m->p;
	char *name = x_strdup(svc->def.name);
	char *colon = strrchr(name, ':');
	const char *host = NULL, *portname = name;
	unsigned port;
	int rc = -1;

	if (colon != NULL) {
		*colon = '\0';
		host = name;
		portname = colon + 1;
		if (host[0] == '[' && host[strlen(host) - 1] == ']') {
			host++;
			name[strlen(name) - 1] = '\0';
		}
	}
	if (parse_port(portname, &port) < 0) {
		str_notef(why, "service %s: unknown port \"%s\"", svc->def.name,
		    portname);
		goto out;
	}
	if (host != NULL && host[0] != '\0') {
		rc = bind_inet_host(svc, host, port, why);
		goto out;
	}
	const char *cur = p->inet_interfaces, *item;
	size_t len;
	while (list_next(&cur, &item, &len)) {
		char *h = x_strndup(item, len);
		int r = 0;
		if (strcmp(h, "all") == 0) {
			r = bind_inet_host(svc, "0.0.0.0", port, why);
			if (r == 0)
				r = bind_inet_host(svc, "::", port, why);
		} else if (strcmp(h, "loopback-only") == 0) {
			r = bind_inet_host(svc, "127.0.0.1", port, why);
			if (r == 0)
				r = bind_inet_host(svc, "::1", port, why);
		} else {
			if (h[0] == '[' && h[strlen(h) - 1] == ']') {
				memmove(h, h + 1, strlen(h));
				h[strlen(h) - 1] = '\0';
			}
			r = bind_inet_host(svc, h, port, why);
		}
		free(h);
		if (r < 0)
			goto out;
	}
	rc = 0;
	if (svc->nlisteners == 0) {
		str_notef(why, "service %s: no address to listen on "
		    "(inet_interfaces, inet_protocols)", svc->def.name);
		rc = -1;
	}
out:
	free(name);
	return rc;
}

/*
 * An "auth/NAME" socket (lib/mastercf.h): 0660, group authclient_group,
 * in the auth folder (root:authclient_group 0750), so that only root,
 * mail_owner and mailbox_owner can reach the auth service.
 */
static int
auth_socket_group(struct msvc *svc, const char *path, struct str *why)
{
	gid_t gid;

	if (!svc->m->root)
		return 0; /* an unprivileged instance: all one user */
	if (priv_group_lookup(svc->m->p.authclient_group, &gid, why) < 0) {
		str_notef(why, " (authclient_group, for service %s)",
		    svc->def.name);
		return -1;
	}
	if (lchown(path, 0, gid) < 0) {
		str_notef(why, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
bind_unix(struct msvc *svc, struct str *why)
{
	struct str *path = str_new(4096);
	int type = svc->def.type == MASTERCF_UNIX ? SOCK_STREAM : SOCK_DGRAM;
	bool auth = type == SOCK_STREAM &&
	    strncmp(svc->def.name, MASTERCF_AUTH_PREFIX,
		strlen(MASTERCF_AUTH_PREFIX)) == 0;
	int fd;

	if (str_appendf(path, "%s/%s%s", svc->m->p.queue_directory,
		auth ? "" : svc->def.private_ ? "private/" : "public/",
		svc->def.name) < 0) {
		str_notef(why, "socket path too long");
		str_free(&path);
		return -1;
	}
	/*
	 * Sockets are 0666: the folder decides who may reach them
	 * (private/ is mail_owner 0700, public/ 0711), as Postfix does.
	 */
	fd = sock_listen_unix(str_c(path), type, auth ? 0660 : 0666, why);
	if (fd < 0) {
		str_free(&path);
		return -1;
	}
	if (auth && auth_socket_group(svc, str_c(path), why) < 0) {
		(void)close(fd); /* never used */
		(void)unlink(str_c(path)); /* best effort: reported */
		str_free(&path);
		return -1;
	}
	svc->path = str_take(&path);
	return add_listener(svc, fd, why);
}

static void
close_listeners(struct msvc *svc)
{
	for (size_t i = 0; i < svc->nlisteners; i++)
		(void)fd_close(&svc->listeners[i]); /* listener: no data */
	svc->nlisteners = 0;
	if (svc->path != NULL) {
		if (unlink(svc->path) < 0 && errno != ENOENT)
			log_warn("unlink %s: %m", svc->path);
		x_free(&svc->path);
	}
}

static void
copy_def(struct mastercf_service *dst, const struct mastercf_service *src)
{
	*dst = *src;
	dst->name = x_strdup(src->name);
	dst->command = x_strdup(src->command);
	dst->file = x_strdup(src->file);
	dst->args = x_calloc(src->nargs + 1, sizeof(char *));
	for (size_t i = 0; i < src->nargs; i++)
		dst->args[i] = x_strdup(src->args[i]);
	dst->overrides = x_calloc(src->noverrides + 1, sizeof(char *));
	for (size_t i = 0; i < src->noverrides; i++)
		dst->overrides[i] = x_strdup(src->overrides[i]);
}

static void
free_def(struct mastercf_service *d)
{
	struct mastercf tmp = { .v = d, .n = 1 };

	/* mastercf_free frees the entries and the array: copy first. */
	struct mastercf_service *heap = x_malloc(sizeof(*heap));
	*heap = *d;
	tmp.v = heap;
	mastercf_free(&tmp);
	memset(d, 0, sizeof(*d));
}

static void
wakeup_cb(struct event_loop *loop, void *arg)
{
	struct msvc *svc = arg;

	svc->wakeup_timer = NULL;
	if (svc->path != NULL &&
	    sock_trigger(svc->path, MASTER_WAKEUP_MSG,
		strlen(MASTER_WAKEUP_MSG)) < 0 &&
	    errno != EAGAIN)
		log_debug("wakeup %s: %m", svc->def.name);
	svc->wakeup_timer = event_timer_add(loop,
	    (uint64_t)svc->def.wakeup * 1000, wakeup_cb, svc);
}

static struct msvc *
svc_new(struct master *m, const struct mastercf_service *def)
{
	struct msvc *svc = x_calloc(1, sizeof(*svc));

	svc->m = m;
	copy_def(&svc->def, def);
	svc->maxproc = def->maxproc ? def->maxproc
				    : (unsigned)m->p.default_process_limit;
	if (def->type == MASTERCF_UNIX_DGRAM)
		svc->maxproc = 1; /* a trigger service is one process */
	return svc;
}

static int
svc_bind(struct msvc *svc, struct str *why)
{
	if (svc->def.type == MASTERCF_INET)
		return bind_inet(svc, why);
	return bind_unix(svc, why);
}

static void
svc_arm_wakeup(struct msvc *svc)
{
	event_timer_cancel(svc->m->loop, &svc->wakeup_timer);
	if (svc->def.wakeup > 0 && svc->def.type != MASTERCF_INET)
		svc->wakeup_timer = event_timer_add(svc->m->loop,
		    (uint64_t)svc->def.wakeup * 1000, wakeup_cb, svc);
}

static void
retire(struct master *m, struct child *c)
{
	if (c->svc != NULL)
		c->svc->count--;
	c->svc = NULL;
	if (c->status_fd >= 0) {
		event_fd_del(m->loop, c->status_fd);
		(void)fd_close(&c->status_fd); /* EOF tells the child */
	}
}

static unsigned
available(const struct msvc *svc)
{
	unsigned n = 0;

	for (const struct child *c = svc->m->children; c; c = c->next)
		if (c->svc == svc && !c->busy)
			n++;
	return n;
}

static void
status_cb(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct child *c = arg;
	char buf[64];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* Child gone; SIGCHLD does the accounting. */
		event_fd_del(loop, fd);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		switch (buf[i]) {
		case MASTER_STAT_READY:
			c->ready = true;
			if (c->svc != NULL)
				c->svc->early_deaths = 0;
			break;
		case MASTER_STAT_BUSY:
			c->busy = true;
			break;
		case MASTER_STAT_IDLE:
			c->busy = false;
			break;
		default:
			log_warn("child %ld: bad status byte 0x%02x",
			    (long)c->pid, (unsigned char)buf[i]);
			break;
		}
	}
	struct msvc *svc = c->svc;
	if (svc != NULL && !svc->throttled && !c->svc->m->stopping &&
	    available(svc) == 0 && svc->count < svc->maxproc)
		spawn(svc);
}

/* Move fd to a number >= 64 so that dup2 into 3.. cannot clobber it. */
static int
lift(int fd)
{
	return fcntl(fd, F_DUPFD_CLOEXEC, 64);
}

static FCT_NORETURN void
exec_child(struct msvc *svc, int status_fd)
{
	struct master *m = svc->m;
	int src[3 + MASTER_MAX_LISTENERS];
	size_t nsrc = 0;
	char path[4096], nlisten[16];
	char *argv[32 + MASTERCF_MAX_ARGS * 2];
	size_t ac = 0;

	event_signal_unblock_all();
	signal(SIGPIPE, SIG_DFL);
	src[nsrc++] = lift(status_fd);
	src[nsrc++] = lift(m->log_wfd);
	for (size_t i = 0; i < svc->nlisteners; i++)
		src[nsrc++] = lift(svc->listeners[i]);
	for (size_t i = 0; i < nsrc; i++)
		if (src[i] < 0 || dup2(src[i], MASTER_STATUS_FD + (int)i) < 0)
			_exit(126);
	/*
	 * stderr is the log socket too (Dovecot's children write to a log
	 * pipe the same way): what a child writes there, a sanitizer
	 * report or an error before its log is attached, reaches the mail
	 * log (logwriter.c) instead of /dev/null or whoever ran
	 * `mailctl start`.
	 */
	if (dup2(MASTER_LOG_FD, 2) < 0)
		_exit(126);
	/* Everything else is close-on-exec; close it now anyway. */
	close_range(MASTER_STATUS_FD + (unsigned)nsrc, ~0U, 0);
	snprintf(path, sizeof(path), "%s/%s", m->p.daemon_directory,
	    svc->def.command);
	snprintf(nlisten, sizeof(nlisten), "%zu", svc->nlisteners);
	argv[ac++] = svc->def.command;
	argv[ac++] = "-c";
	argv[ac++] = m->config_dir;
	argv[ac++] = "-n";
	argv[ac++] = svc->def.name;
	argv[ac++] = "-t";
	argv[ac++] = (char *)mastercf_type_name(svc->def.type);
	argv[ac++] = "-s";
	argv[ac++] = nlisten;
	argv[ac++] = "-C";
	argv[ac++] = svc->def.chroot ? "y" : "n";
	for (size_t i = 0; i < svc->def.nargs; i++)
		if (strcmp(svc->def.args[i], "-v") == 0)
			argv[ac++] = "-v";
	for (size_t i = 0; i < svc->def.noverrides; i++) {
		argv[ac++] = "-o";
		argv[ac++] = svc->def.overrides[i];
	}
	argv[ac++] = "--";
	for (size_t i = 0; i < svc->def.nargs; i++)
		if (strcmp(svc->def.args[i], "-v") != 0)
			argv[ac++] = svc->def.args[i];
	argv[ac] = NULL;
	execve(path, argv, m->envp);
	fprintf(stderr, "master: exec %s: %s\n", path, strerror(errno));
	_exit(127);
}

static void
spawn(struct msvc *svc)
{
	struct master *m = svc->m;
	struct child *c;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_warn("service %s: socketpair: %m", svc->def.name);
		return;
	}
	pid = fork();
	if (pid < 0) {
		log_warn("service %s: fork: %m", svc->def.name);
		(void)close(sv[0]); /* never used */
		(void)close(sv[1]); /* never used */
		return;
	}
	if (pid == 0)
		exec_child(svc, sv[1]);
	(void)close(sv[1]); /* the child's end */
	c = x_calloc(1, sizeof(*c));
	c->pid = pid;
	c->status_fd = sv[0];
	c->svc = svc;
	c->next = m->children;
	m->children = c;
	svc->count++;
	if (fd_set_nonblock(sv[0], true) < 0 ||
	    event_fd_add(m->loop, sv[0], EV_READ, status_cb, c) < 0)
		log_warn("service %s: watch child: %m", svc->def.name);
	log_debug("service %s: started pid %ld", svc->def.name, (long)pid);
}

static void
unthrottle(struct event_loop *loop, void *arg)
{
	struct msvc *svc = arg;

	svc->throttle_timer = NULL;
	svc->throttled = false;
	if (!svc->m->stopping && svc->count == 0)
		spawn(svc);
}

static void
child_exited(struct master *m, struct child *c, int wstatus)
{
	struct msvc *svc = c->svc;
	char path[4096];
	bool bad = !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0;

	snprintf(path, sizeof(path), "%s/%s", m->p.daemon_directory,
	    svc ? svc->def.command : "(retired)");
	if (WIFSIGNALED(wstatus) && !m->stopping)
		log_warn("process %s pid %ld killed by signal %d", path,
		    (long)c->pid, WTERMSIG(wstatus));
	else if (bad && !m->stopping)
		log_warn("process %s pid %ld exit status %d", path,
		    (long)c->pid, WEXITSTATUS(wstatus));
	if (svc == NULL || m->stopping)
		return;
	svc->count--;
	c->svc = NULL;
	/*
	 * Died before it could work.  Once may be bad luck (killed while
	 * starting: `kill -9` of a child must bring a fresh one, even one
	 * forked a moment ago); twice in a row, with no child becoming
	 * ready between, is a bad command (DESIGN §1: a child that dies at
	 * once repeatedly is throttled): throttle, do not spin.
	 */
	if (bad && !c->ready && ++svc->early_deaths >= MASTER_EARLY_DEATHS) {
		svc->throttled = true;
		log_warn("%s: bad command startup -- throttling for %llus",
		    path, (unsigned long long)m->p.service_throttle_time);
		event_timer_cancel(m->loop, &svc->throttle_timer);
		svc->throttle_timer = event_timer_add(m->loop,
		    m->p.service_throttle_time * 1000, unthrottle, svc);
		return;
	}
	if (!svc->throttled && (svc->count == 0 || available(svc) == 0) &&
	    svc->count < svc->maxproc)
		spawn(svc);
}

void
services_reap(struct master *m)
{
	int wstatus;
	pid_t pid;

	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
		struct child **pp = &m->children, *c;
		for (; (c = *pp) != NULL; pp = &c->next)
			if (c->pid == pid)
				break;
		if (c == NULL)
			continue;
		*pp = c->next;
		if (c->status_fd >= 0) {
			event_fd_del(m->loop, c->status_fd);
			(void)fd_close(&c->status_fd); /* child gone */
		}
		child_exited(m, c, wstatus);
		free(c);
	}
}

unsigned
services_live_children(const struct master *m)
{
	unsigned n = 0;

	for (const struct child *c = m->children; c; c = c->next)
		n++;
	return n;
}

int
services_start(struct master *m, struct str *why)
{
	for (size_t i = 0; i < m->mcf.n; i++) {
		struct msvc *svc = svc_new(m, &m->mcf.v[i]);
		m->svcs = x_realloc(m->svcs, (m->nsvcs + 1) * sizeof(*m->svcs));
		m->svcs[m->nsvcs++] = svc;
		if (svc_bind(svc, why) < 0)
			return -1;
	}
	for (size_t i = 0; i < m->nsvcs; i++) {
		svc_arm_wakeup(m->svcs[i]);
		spawn(m->svcs[i]);
	}
	return 0;
}

static void
svc_free(struct master *m, struct msvc *svc)
{
	for (struct child *c = m->children; c; c = c->next)
		if (c->svc == svc)
			retire(m, c);
	close_listeners(svc);
	event_timer_cancel(m->loop, &svc->throttle_timer);
	event_timer_cancel(m->loop, &svc->wakeup_timer);
	free_def(&svc->def);
	free(svc);
}

void
services_reload(struct master *m, struct config *cfg, struct params *p,
    struct mastercf *mcf)
{
	struct msvc **keep = x_calloc(mcf->n + 1, sizeof(*keep));
	struct str *why = str_new(1024);
	size_t nkeep = 0;

	config_free(&m->cfg);
	params_free(&m->p);
	mastercf_free(&m->mcf);
	m->cfg = cfg;
	m->p = *p;
	m->mcf = *mcf;
	/* Old services: keep listeners of those still wanted. */
	for (size_t i = 0; i < m->nsvcs; i++) {
		struct msvc *svc = m->svcs[i];
		const struct mastercf_service *nd = NULL;
		for (size_t k = 0; k < mcf->n; k++)
			if (mastercf_same_service(&svc->def, &mcf->v[k]))
				nd = &mcf->v[k];
		if (nd == NULL) {
			log_info("service %s/%s removed", svc->def.name,
			    mastercf_type_name(svc->def.type));
			svc_free(m, svc);
			continue;
		}
		for (struct child *c = m->children; c; c = c->next)
			if (c->svc == svc)
				retire(m, c);
		free_def(&svc->def);
		copy_def(&svc->def, nd);
		svc->maxproc = nd->maxproc ? nd->maxproc
					   : (unsigned)m->p.default_process_limit;
		if (nd->type == MASTERCF_UNIX_DGRAM)
			svc->maxproc = 1;
		svc->throttled = false;
		svc->early_deaths = 0;
		event_timer_cancel(m->loop, &svc->throttle_timer);
		keep[nkeep++] = svc;
	}
	/* New services. */
	for (size_t k = 0; k < mcf->n; k++) {
		bool found = false;
		for (size_t i = 0; i < nkeep; i++)
			if (mastercf_same_service(&keep[i]->def, &mcf->v[k]))
				found = true;
		if (found)
			continue;
		struct msvc *svc = svc_new(m, &mcf->v[k]);
		str_clear(why);
		if (svc_bind(svc, why) < 0) {
			log_err("service %s: %s", svc->def.name, str_c(why));
			close_listeners(svc);
			free_def(&svc->def);
			free(svc);
			continue;
		}
		log_info("service %s/%s added", svc->def.name,
		    mastercf_type_name(svc->def.type));
		keep[nkeep++] = svc;
	}
	free(m->svcs);
	m->svcs = keep;
	m->nsvcs = nkeep;
	for (size_t i = 0; i < m->nsvcs; i++) {
		svc_arm_wakeup(m->svcs[i]);
		spawn(m->svcs[i]);
	}
	str_free(&why);
}

void
services_stop(struct master *m)
{
	for (size_t i = 0; i < m->nsvcs; i++) {
		close_listeners(m->svcs[i]);
		event_timer_cancel(m->loop, &m->svcs[i]->throttle_timer);
		event_timer_cancel(m->loop, &m->svcs[i]->wakeup_timer);
	}
	for (struct child *c = m->children; c; c = c->next)
		if (kill(c->pid, SIGTERM) < 0 && errno != ESRCH)
			log_warn("kill %ld: %m", (long)c->pid);
}

void
services_free(struct master *m)
{
	for (size_t i = 0; i < m->nsvcs; i++)
		svc_free(m, m->svcs[i]);
	x_free(&m->svcs);
	m->nsvcs = 0;
	while (m->children != NULL) {
		struct child *c = m->children;
		m->children = c->next;
		(void)fd_close(&c->status_fd); /* teardown */
		free(c);
	}
}
