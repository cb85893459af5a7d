/*
 * master - facteur's supervisor (DESIGN §1).
 *
 * Runs as root (or as the ordinary user of an unprivileged instance).
 * Reads main.cf and master.cf, binds every listener, starts each service's
 * programs from daemon_directory and keeps them running; writes the mail
 * log for all of them; reloads on SIGHUP; stops everything on SIGTERM.
 * One master per queue directory: a lock under pid/ says who runs.
 *
 * Usage: master -c config_dir [-f] [-v]
 *   -f  stay in the foreground (otherwise master detaches once every
 *       listener is bound, and its parent exits 0, or 1 with the error)
 *
 * Never: parse network input, keep a child it cannot account for, or
 * start on files a non-root user could change (when root).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "version.h"
#include "lib/diag.h"
#include "lib/log.h"
#include "lib/priv.h"
#include "lib/queue.h"
#include "lib/str.h"
#include "master/master.h"

#define MASTER_STOP_GRACE_MS 10000

extern char **environ;

static FCT_NORETURN void
usage(void)
{
	log_fatal("usage: master -c config_dir [-f] [-v]");
}

/* Load main.cf + master.cf; returns 0 or -1 with problems logged. */
static int
load_config(const char *dir, struct config **cfg_r, struct params *p,
    struct mastercf *mcf)
{
	struct diag *d = diag_new();
	struct config *cfg = config_new(dir);
	int rc = 0;

	memset(p, 0, sizeof(*p));
	memset(mcf, 0, sizeof(*mcf));
	config_read_main(cfg, d);
	if (diag_errors(d) == 0)
		params_load(p, cfg, d);
	if (diag_errors(d) == 0)
		mastercf_read(mcf, dir, d);
	if (diag_errors(d) > 0) {
		diag_log(d);
		params_free(p);
		mastercf_free(mcf);
		config_free(&cfg);
		rc = -1;
	} else {
		*cfg_r = cfg;
	}
	diag_free(&d);
	return rc;
}

static int
check_ownership(struct master *m, struct str *why)
{
	struct str *path = str_new(4096);
	int rc = 0;

	if (priv_check_root_owned(m->config_dir, why) < 0 ||
	    priv_check_root_owned(m->p.daemon_directory, why) < 0)
		rc = -1;
	const char *files[] = { "main.cf", "master.cf" };
	for (size_t i = 0; rc == 0 && i < FCT_NELEM(files); i++) {
		str_clear(path);
		if (str_appendf(path, "%s/%s", m->config_dir, files[i]) < 0 ||
		    priv_check_root_owned(str_c(path), why) < 0)
			rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < m->mcf.n; i++) {
		str_clear(path);
		if (str_appendf(path, "%s/%s", m->p.daemon_directory,
			m->mcf.v[i].command) < 0 ||
		    priv_check_root_owned(str_c(path), why) < 0)
			rc = -1;
	}
	str_free(&path);
	return rc;
}

/* The environment children get: import_environment names only. */
static char **
build_env(const struct params *p)
{
	const char *cur = p->import_environment, *item;
	size_t len, n = 0;
	char **env = x_calloc(64, sizeof(char *));

	while (list_next(&cur, &item, &len) && n < 63) {
		char *name = x_strndup(item, len);
		char *eq = strchr(name, '=');
		if (eq != NULL) {
			env[n++] = name; /* name=value given literally */
			continue;
		}
		const char *v = getenv(name);
		if (v != NULL) {
			size_t sz = strlen(name) + strlen(v) + 2;
			env[n] = x_malloc(sz);
			snprintf(env[n++], sz, "%s=%s", name, v);
		}
		free(name);
	}
	return env;
}

static void
free_env(char ***envp)
{
	if (*envp == NULL)
		return;
	for (char **e = *envp; *e != NULL; e++)
		free(*e);
	x_free(envp);
}

/* The queue folders with their owners and modes (lib/queue). */
static int
setup_dirs(struct master *m, struct str *why)
{
	struct queue_owner own = { getuid(), getgid(), getgid() };

	if (m->root && priv_user_lookup(m->p.mail_owner, &own.uid, &own.gid,
			   why) < 0)
		return -1;
	own.auth_gid = own.gid;
	/* auth/ belongs to root:authclient_group (DESIGN §2). */
	if (m->root && priv_group_lookup(m->p.authclient_group,
			   &own.auth_gid, why) < 0) {
		log_warn("%s: the auth folder keeps mail_owner's group",
		    str_c(why));
		str_clear(why);
		own.auth_gid = own.gid;
	}
	return queue_dir_init(m->p.queue_directory, &own, why);
}

/* Take the lock under pid/; -1 if another master holds it. */
static int
take_lock(struct master *m, struct str *why)
{
	struct str *path = str_new(4096);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char pidtext[32];
	int fd, pfd, n;

	if (str_appendf(path, "%s/pid/master.lock", m->p.queue_directory) <
	    0) {
		str_free(&path);
		str_notef(why, "queue_directory too long");
		return -1;
	}
	fd = open(str_c(path), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd < 0) {
		str_notef(why, "open %s: %s", str_c(path), strerror(errno));
		str_free(&path);
		return -1;
	}
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		if (fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK)
			str_notef(why,
			    "the mail system is already running (master pid "
			    "%ld) on %s", (long)q.l_pid, m->p.queue_directory);
		else
			str_notef(why, "lock %s: %s", str_c(path),
			    strerror(errno));
		(void)close(fd); /* read nothing, wrote nothing */
		str_free(&path);
		return -1;
	}
	m->lock_fd = fd;
	/* The pid file is for people; tools use the lock (F_GETLK). */
	str_clear(path);
	if (str_appendf(path, "%s/pid/master.pid", m->p.queue_directory) ==
	    0 &&
	    (pfd = open(str_c(path),
		 O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		 0644)) >= 0) {
		n = snprintf(pidtext, sizeof(pidtext), "%ld\n",
		    (long)getpid());
		if (write(pfd, pidtext, (size_t)n) != n || close(pfd) < 0)
			log_warn("write %s: %m", str_c(path));
	}
	str_free(&path);
	return 0;
}

static void
remove_pidfile(struct master *m)
{
	struct str *path = str_new(4096);

	if (str_appendf(path, "%s/pid/master.pid", m->p.queue_directory) ==
		0 &&
	    unlink(str_c(path)) < 0 && errno != ENOENT)
		log_warn("unlink %s: %m", str_c(path));
	str_free(&path);
}

static void
maybe_exit(struct master *m)
{
	if (m->stopping && m->children == NULL)
		event_stop(m->loop);
}

static void
on_chld(struct event_loop *loop, int signo, void *arg)
{
	struct master *m = arg;

	services_reap(m);
	maybe_exit(m);
}

static void
kill_stragglers(struct event_loop *loop, void *arg)
{
	struct master *m = arg;

	m->kill_timer = NULL;
	for (struct child *c = m->children; c; c = c->next) {
		log_warn("pid %ld did not stop: killing it", (long)c->pid);
		if (kill(c->pid, SIGKILL) < 0 && errno != ESRCH)
			log_warn("kill %ld: %m", (long)c->pid);
	}
}

static void
on_term(struct event_loop *loop, int signo, void *arg)
{
	struct master *m = arg;

	if (m->stopping)
		return;
	log_info("terminating on signal %d", signo);
	m->stopping = true;
	services_stop(m);
	m->kill_timer = event_timer_add(loop, MASTER_STOP_GRACE_MS,
	    kill_stragglers, m);
	maybe_exit(m);
}

static void
on_hup(struct event_loop *loop, int signo, void *arg)
{
	struct master *m = arg;
	struct config *cfg = NULL;
	struct params p;
	struct mastercf mcf;
	struct str *why = str_new(1024);

	if (m->stopping)
		goto out;
	log_info("reload -- version %s, configuration %s", FACTEUR_VERSION,
	    m->config_dir);
	if (load_config(m->config_dir, &cfg, &p, &mcf) < 0) {
		log_err("reload: configuration errors: keeping the running "
		    "configuration");
		goto out;
	}
	if (strcmp(p.queue_directory, m->p.queue_directory) != 0)
		log_warn("reload: queue_directory changes need a restart");
	free_env(&m->envp);
	m->envp = build_env(&p);
	services_reload(m, cfg, &p, &mcf);
	if (logwriter_open(m->lw, why) < 0)
		log_err("reload: %s", str_c(why));
out:
	str_free(&why);
}

/*
 * Detach: the parent waits on a pipe until the daemon says "started"
 * (the pipe closes without an error) or writes an error, so that
 * `mailctl start` can report a failure.
 */
static int
detach(int *report_fd_r)
{
	int pfd[2];
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		char buf[2048];
		ssize_t n, total = 0;
		(void)close(pfd[1]); /* the daemon's end */
		while ((n = read(pfd[0], buf, sizeof(buf))) > 0) {
			total += n;
			if (write(2, buf, (size_t)n) != n)
				break;
		}
		_exit(total > 0 ? 1 : 0);
	}
	(void)close(pfd[0]); /* the parent's end */
	log_open("master"); /* a new pid */
	if (setsid() < 0)
		return -1;
	*report_fd_r = pfd[1];
	return 0;
}

static void
report_fail(int fd, const char *msg)
{
	if (fd >= 0) {
		size_t n = strlen(msg);
		if (write(fd, msg, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
			return;
	}
}

int
main(int argc, char **argv)
{
	struct master m = { .lock_fd = -1, .log_rfd = -1, .log_wfd = -1 };
	struct str *why = str_new(2048);
	bool foreground = false;
	int report_fd = -1, opt, logpair[2], nullfd;

	log_open("master");
	log_tee_stderr(true);
	if (fd_ensure_std() < 0)
		log_fatal("cannot open /dev/null");
	while ((opt = getopt(argc, argv, "c:fv")) != -1) {
		switch (opt) {
		case 'c':
			m.config_dir = x_strdup(optarg);
			break;
		case 'f':
			foreground = true;
			break;
		case 'v':
			log_set_verbose(true);
			break;
		default:
			usage();
		}
	}
	if (m.config_dir == NULL || optind != argc)
		usage();
	m.root = priv_is_root();
	if (load_config(m.config_dir, &m.cfg, &m.p, &m.mcf) < 0)
		log_fatal("configuration errors in %s", m.config_dir);
	if (m.root && check_ownership(&m, why) < 0)
		log_fatal("%s", str_c(why));
	if (!foreground && detach(&report_fd) < 0)
		log_fatal("cannot detach: %m");

	/* From here errors go to the log and to the waiting parent. */
	if (setup_dirs(&m, why) < 0 || take_lock(&m, why) < 0) {
		report_fail(report_fd, str_c(why));
		log_fatal("%s", str_c(why));
	}
	m.loop = event_new();
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, logpair) < 0)
		log_fatal("log socketpair: %m");
	m.log_rfd = logpair[0];
	m.log_wfd = logpair[1];
	m.lw = logwriter_new(&m, m.log_rfd);
	if (logwriter_open(m.lw, why) < 0) {
		report_fail(report_fd, str_c(why));
		log_fatal("%s", str_c(why));
	}
	m.envp = build_env(&m.p);
	if (event_signal_add(m.loop, SIGCHLD, on_chld, &m) < 0 ||
	    event_signal_add(m.loop, SIGTERM, on_term, &m) < 0 ||
	    event_signal_add(m.loop, SIGINT, on_term, &m) < 0 ||
	    event_signal_add(m.loop, SIGHUP, on_hup, &m) < 0)
		log_fatal("signalfd: %m");
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Detached, let go of the starter's stdin, stdout and stderr before
	 * the first fork: children inherit 0-2, and a child holding the
	 * starter's pipe keeps `mailctl start | ...` (or a test reading
	 * its output) waiting for an end of file that never comes.  From
	 * here errors reach the starter through report_fd and the log.
	 */
	if (!foreground) {
		log_tee_stderr(false);
		nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(nullfd, 1) < 0 ||
		    dup2(nullfd, 2) < 0) {
			report_fail(report_fd, "cannot redirect to /dev/null");
			log_fatal("cannot redirect to /dev/null: %m");
		}
		(void)close(nullfd); /* duplicated above */
	}
	if (services_start(&m, why) < 0) {
		report_fail(report_fd, str_c(why));
		log_fatal("%s", str_c(why));
	}
	log_info("daemon started -- version %s, configuration %s",
	    FACTEUR_VERSION, m.config_dir);
	if (!foreground)
		(void)fd_close(&report_fd); /* EOF: started */
	if (chdir("/") < 0)
		log_warn("chdir /: %m");
	int rc = event_run(m.loop) < 0 ? 1 : 0;

	event_timer_cancel(m.loop, &m.kill_timer);
	services_free(&m);
	logwriter_drain(m.lw);
	log_info("stopped");
	remove_pidfile(&m);
	logwriter_free(&m.lw);
	(void)fd_close(&m.log_rfd); /* nothing left to read */
	(void)fd_close(&m.log_wfd);
	(void)fd_close(&m.lock_fd); /* releases the lock */
	event_free(&m.loop);
	free_env(&m.envp);
	params_free(&m.p);
	mastercf_free(&m.mcf);
	config_free(&m.cfg);
	free(m.config_dir);
	str_free(&why);
	return rc;
}
