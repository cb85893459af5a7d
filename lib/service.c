/*
 * service - the skeleton every child program runs in.
 *
 * Never: accept before the privilege drop, or block anywhere but in the
 * event loop.
 */
#include "lib/service.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/diag.h"
#include "lib/log.h"
#include "lib/master_proto.h"
#include "lib/priv.h"

struct service {
	struct service_opts opts;
	struct config *cfg;
	struct params p;
	struct event_loop *loop;
	char *name;
	char *type;
	char **args;
	int listeners[MASTER_MAX_LISTENERS];
	size_t nlisteners;
	bool chroot;
	bool have_master;
	bool master_gone;
	bool accepting;
	bool busy_reported;
	unsigned sessions;
	uint64_t uses;
	struct event_timer *idle_timer;
	service_accept_fn *accept_fn;
	service_dgram_fn *dgram_fn;
	void *arg;
	int status;
};

static FCT_NORETURN void
usage(const char *prog)
{
	log_fatal("usage: %s -c config_dir [-n service] [-t type] "
	    "[-s listeners] [-v] [-o name=value]... [args]", prog);
}

struct service *
service_init(int argc, char **argv, const struct service_opts *opts)
{
	struct service *s = x_calloc(1, sizeof(*s));
	struct diag *d = diag_new();
	const char *config_dir = NULL;
	uint64_t nlisten = 0;
	size_t nover = 0;
	char **over = x_calloc((size_t)argc + 1, sizeof(char *));
	int i;

	s->opts = *opts;
	if (s->opts.client_limit == 0)
		s->opts.client_limit = 1;
	log_open(opts->program);
	/* Make sure fds 0-2 exist so that no socket lands there. */
	if (fd_ensure_std() < 0)
		log_fatal("cannot open /dev/null");
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if (strcmp(a, "-v") == 0) {
			log_set_verbose(true);
			continue;
		}
		if (i + 1 >= argc)
			usage(opts->program);
		if (strcmp(a, "-c") == 0)
			config_dir = argv[++i];
		else if (strcmp(a, "-n") == 0)
			s->name = x_strdup(argv[++i]);
		else if (strcmp(a, "-t") == 0)
			s->type = x_strdup(argv[++i]);
		else if (strcmp(a, "-s") == 0) {
			const char *v = argv[++i];
			if (num_parse_u64(v, strlen(v), MASTER_MAX_LISTENERS,
				&nlisten) < 0)
				usage(opts->program);
			s->have_master = true;
		} else if (strcmp(a, "-o") == 0)
			over[nover++] = argv[++i];
		else if (strcmp(a, "-C") == 0) {
			/* chroot requested by master.cf */
			s->chroot = strcmp(argv[++i], "y") == 0;
		} else
			usage(opts->program);
	}
	if (config_dir == NULL)
		usage(opts->program);
	if (s->have_master)
		log_attach(MASTER_LOG_FD);
	s->args = x_calloc((size_t)(argc - i) + 1, sizeof(char *));
	for (int k = 0; i < argc; i++, k++)
		s->args[k] = x_strdup(argv[i]);
	if (s->name == NULL)
		s->name = x_strdup(opts->program);
	if (s->type == NULL)
		s->type = x_strdup("unix");

	s->cfg = config_new(config_dir);
	config_read_main(s->cfg, d);
	for (size_t k = 0; k < nover; k++)
		if (config_override(s->cfg, over[k], "master.cf", 0, d) < 0)
			break;
	if (diag_errors(d) == 0)
		params_load(&s->p, s->cfg, d);
	free(over);
	if (diag_errors(d) > 0) {
		diag_log(d);
		log_fatal("service %s: configuration errors", s->name);
	}
	diag_free(&d);
	for (size_t k = 0; k < nlisten; k++)
		s->listeners[s->nlisteners++] = MASTER_LISTEN_FD + (int)k;
	s->loop = event_new();
	s->status = 0;
	/* A peer closing a socket must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	return s;
}

void
service_free(struct service **sp)
{
	struct service *s = *sp;

	if (s == NULL)
		return;
	event_timer_cancel(s->loop, &s->idle_timer);
	event_free(&s->loop);
	params_free(&s->p);
	config_free(&s->cfg);
	for (size_t i = 0; s->args[i] != NULL; i++)
		free(s->args[i]);
	free(s->args);
	free(s->name);
	free(s->type);
	x_free(sp);
}

const struct params *
service_params(const struct service *s)
{
	return &s->p;
}

const struct config *
service_config(const struct service *s)
{
	return s->cfg;
}

struct event_loop *
service_loop(const struct service *s)
{
	return s->loop;
}

const char *
service_name(const struct service *s)
{
	return s->name;
}

char *const *
service_args(const struct service *s)
{
	return s->args;
}

void
service_drop_privileges(struct service *s)
{
	struct str *why = str_new(512);

	if (priv_drop(s->p.service_user,
		s->chroot ? s->p.queue_directory : NULL, why) < 0)
		log_fatal("service %s: cannot drop privileges: %s", s->name,
		    str_c(why));
	str_free(&why);
}

static void
report(struct service *s, char what)
{
	if (!s->have_master || s->master_gone)
		return;
	/* Master gone: its end is closed and the status read will tell us. */
	if (send(MASTER_STATUS_FD, &what, 1, MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    1)
		log_debug("status report '%c': %m", what);
}

static void listener_cb(struct event_loop *loop, int fd, unsigned ev,
    void *arg);

static void
set_accepting(struct service *s, bool on)
{
	if (s->accepting == on)
		return;
	for (size_t i = 0; i < s->nlisteners; i++) {
		if (on) {
			if (event_fd_add(s->loop, s->listeners[i], EV_READ,
				listener_cb, s) < 0)
				log_err("watch listener: %m");
		} else {
			event_fd_del(s->loop, s->listeners[i]);
		}
	}
	s->accepting = on;
}

static void
close_listeners(struct service *s)
{
	set_accepting(s, false);
	for (size_t i = 0; i < s->nlisteners; i++) {
		int fd = s->listeners[i];
		/* A listening socket has nothing buffered to lose. */
		(void)fd_close(&fd);
	}
	s->nlisteners = 0;
}

static void
idle_expired(struct event_loop *loop, void *arg)
{
	struct service *s = arg;

	s->idle_timer = NULL;
	if (s->sessions == 0) {
		log_debug("idle for %llus: exiting",
		    (unsigned long long)s->p.max_idle);
		event_stop(loop);
	}
}

static void
arm_idle(struct service *s)
{
	event_timer_cancel(s->loop, &s->idle_timer);
	if (s->sessions == 0 && s->dgram_fn == NULL && !s->opts.resident)
		s->idle_timer = event_timer_add(s->loop, s->p.max_idle * 1000,
		    idle_expired, s);
}

static void
update_state(struct service *s)
{
	bool full = s->sessions >= s->opts.client_limit;
	bool done = !s->opts.resident && s->uses >= s->p.max_use;

	if (s->master_gone || done) {
		set_accepting(s, false);
		if (s->sessions == 0)
			event_stop(s->loop);
		return;
	}
	set_accepting(s, !full);
	if (full && !s->busy_reported) {
		report(s, MASTER_STAT_BUSY);
		s->busy_reported = true;
	} else if (!full && s->busy_reported) {
		report(s, MASTER_STAT_IDLE);
		s->busy_reported = false;
	}
	arm_idle(s);
}

static void
listener_cb(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct service *s = arg;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (s->dgram_fn != NULL) {
		uint8_t buf[512];
		ssize_t n;
		while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0)
			s->dgram_fn(s, buf, (size_t)n, s->arg);
		return;
	}
	int cfd = accept4(fd, (struct sockaddr *)&ss, &len,
	    SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != ECONNABORTED && errno != EINTR)
			log_warn("accept: %m");
		return;
	}
	s->sessions++;
	s->uses++;
	update_state(s);
	s->accept_fn(s, cfd, (struct sockaddr *)&ss, len, s->arg);
}

static void
status_cb(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct service *s = arg;
	char buf[16];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return;
	/* End of file: master is gone or has retired us. */
	log_debug("master status closed: finishing");
	s->master_gone = true;
	event_fd_del(loop, fd);
	close_listeners(s);
	update_state(s);
}

void
service_session_done(struct service *s)
{
	FCT_ASSERT(s->sessions > 0);
	s->sessions--;
	update_state(s);
}

void
service_stop(struct service *s)
{
	event_stop(s->loop);
}

bool
service_master_gone(const struct service *s)
{
	return s->master_gone;
}

static void
on_term(struct event_loop *loop, int signo, void *arg)
{
	(void)arg;
	event_stop(loop);
}

static int
run(struct service *s)
{
	if (s->have_master &&
	    event_fd_add(s->loop, MASTER_STATUS_FD, EV_READ, status_cb, s) < 0)
		log_fatal("watch status socket: %m");
	if (event_signal_add(s->loop, SIGTERM, on_term, s) < 0)
		log_fatal("signalfd: %m");
	report(s, MASTER_STAT_READY);
	update_state(s);
	if (event_run(s->loop) < 0)
		return 1;
	return s->status;
}

int
service_run(struct service *s, service_accept_fn *fn, void *arg)
{
	s->accept_fn = fn;
	s->arg = arg;
	return run(s);
}

int
service_run_dgram(struct service *s, service_dgram_fn *fn, void *arg)
{
	s->dgram_fn = fn;
	s->arg = arg;
	/* A trigger service never counts sessions: it is never busy. */
	s->opts.resident = true;
	return run(s);
}
