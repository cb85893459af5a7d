/*
 * mailctl_run - start, stop, reload and status.
 *
 * Who runs is known from the lock under pid/ (F_GETLK names the holder),
 * never from kill(pid, 0) on a pid file that may be stale.
 *
 * Never: signal a process that does not hold the master lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/mastercf.h"
#include "lib/str.h"
#include "tools/mailctl.h"

#define MAILCTL_STOP_WAIT_MS 30000

pid_t
mailctl_master_pid(const struct params *p)
{
	struct str *path = str_new(4096);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	pid_t pid = 0;
	int fd;

	if (str_appendf(path, "%s/pid/master.lock", p->queue_directory) < 0) {
		str_free(&path);
		return 0;
	}
	fd = open(str_c(path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	str_free(&path);
	if (fd < 0)
		return 0;
	/* F_GETLK with F_WRLCK needs only read access to report a holder. */
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		pid = fl.l_pid;
	(void)close(fd); /* read-only, held no lock */
	return pid;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int
cmd_start(struct mailctl *mc, int argc, char **argv)
{
	struct str *prog;
	pid_t pid;
	int status;

	if (argc != 1) {
		fprintf(stderr, "usage: mailctl start\n");
		return 2;
	}
	if (mailctl_load(mc, true) < 0 || mailctl_check_all(mc, true) > 0) {
		fprintf(stderr, "mailctl: fatal: configuration errors: not "
				"starting\n");
		return 1;
	}
	if ((pid = mailctl_master_pid(&mc->p)) > 0) {
		fprintf(stderr,
		    "mailctl: fatal: the mail system is already running "
		    "(pid %ld)\n", (long)pid);
		return 1;
	}
	prog = str_new(4096);
	if (str_appendf(prog, "%s/master", mc->p.daemon_directory) < 0) {
		str_free(&prog);
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("mailctl: fork");
		str_free(&prog);
		return 1;
	}
	if (pid == 0) {
		execl(str_c(prog), "master", "-c", mc->config_dir,
		    (char *)NULL);
		fprintf(stderr, "mailctl: exec %s: %s\n", str_c(prog),
		    strerror(errno));
		_exit(127);
	}
	str_free(&prog);
	/* master detaches once every listener is bound; its parent reports. */
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "mailctl: fatal: the mail system did not "
				"start (see the messages above and the log)\n");
		return 1;
	}
	printf("mailctl: starting the mail system\n");
	return 0;
}

int
cmd_stop(struct mailctl *mc, int argc, char **argv)
{
	pid_t pid;

	if (argc != 1) {
		fprintf(stderr, "usage: mailctl stop\n");
		return 2;
	}
	if (mailctl_load(mc, true) < 0)
		return 1;
	pid = mailctl_master_pid(&mc->p);
	if (pid <= 0) {
		fprintf(stderr, "mailctl: the mail system is not running\n");
		return 1;
	}
	if (kill(pid, SIGTERM) < 0) {
		fprintf(stderr, "mailctl: kill %ld: %s\n", (long)pid,
		    strerror(errno));
		return 1;
	}
	for (unsigned waited = 0; waited < MAILCTL_STOP_WAIT_MS;
	     waited += 50) {
		if (mailctl_master_pid(&mc->p) == 0) {
			printf("mailctl: stopping the mail system\n");
			return 0;
		}
		sleep_ms(50);
	}
	fprintf(stderr, "mailctl: master pid %ld did not stop\n", (long)pid);
	return 1;
}

int
cmd_reload(struct mailctl *mc, int argc, char **argv)
{
	pid_t pid;

	if (argc != 1) {
		fprintf(stderr, "usage: mailctl reload\n");
		return 2;
	}
	if (mailctl_load(mc, true) < 0 || mailctl_check_all(mc, true) > 0) {
		fprintf(stderr, "mailctl: fatal: configuration errors: not "
				"reloading\n");
		return 1;
	}
	pid = mailctl_master_pid(&mc->p);
	if (pid <= 0) {
		fprintf(stderr, "mailctl: the mail system is not running\n");
		return 1;
	}
	if (kill(pid, SIGHUP) < 0) {
		fprintf(stderr, "mailctl: kill %ld: %s\n", (long)pid,
		    strerror(errno));
		return 1;
	}
	printf("mailctl: refreshing the mail system\n");
	return 0;
}

/* Read /proc/PID/stat's ppid; -1 when unreadable. */
static pid_t
proc_ppid(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;
	pid_t ppid = -1;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) != NULL) {
		/* "pid (comm) S ppid ...": comm may hold anything; use the last ')'. */
		char *rp = strrchr(buf, ')');
		uint64_t v;
		if (rp != NULL && rp[1] == ' ' && rp[2] != '\0' &&
		    rp[3] == ' ') {
			const char *num = rp + 4;
			size_t len = strspn(num, "0123456789");
			if (num_parse_u64(num, len, INT32_MAX, &v) == 0)
				ppid = (pid_t)v;
		}
	}
	fclose(f);
	return ppid;
}

/* The "-n NAME" of a child's command line into name (bounded). */
static bool
proc_service(pid_t pid, char *name, size_t size)
{
	char path[64], buf[8192];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (size_t i = 0; i < n;) {
		size_t len = strlen(buf + i);
		if (strcmp(buf + i, "-n") == 0 && i + len + 1 < n) {
			snprintf(name, size, "%s", buf + i + len + 1);
			return true;
		}
		i += len + 1;
	}
	return false;
}

int
cmd_status(struct mailctl *mc, int argc, char **argv)
{
	struct mastercf mcf = { 0 };
	struct diag *d;
	pid_t pid;
	DIR *proc;

	if (argc != 1) {
		fprintf(stderr, "usage: mailctl status\n");
		return 2;
	}
	if (mailctl_load(mc, true) < 0)
		return 1;
	pid = mailctl_master_pid(&mc->p);
	if (pid <= 0) {
		printf("mailctl: the mail system is not running\n");
		return 3;
	}
	printf("mailctl: the mail system is running: master pid %ld\n",
	    (long)pid);
	d = diag_new();
	mastercf_read(&mcf, mc->config_dir, d);
	diag_free(&d);
	unsigned *counts = calloc(mcf.n + 1, sizeof(unsigned));
	proc = opendir("/proc");
	for (struct dirent *de; proc && (de = readdir(proc)) != NULL;) {
		char name[256];
		char *end;
		long cpid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || cpid <= 0 || proc_ppid((pid_t)cpid) != pid)
			continue;
		if (!proc_service((pid_t)cpid, name, sizeof(name)))
			continue;
		for (size_t i = 0; i < mcf.n; i++)
			if (strcmp(mcf.v[i].name, name) == 0)
				counts[i]++;
	}
	if (proc)
		closedir(proc);
	printf("%-24s %-10s %-10s %s\n", "service", "type", "command",
	    "processes");
	for (size_t i = 0; i < mcf.n; i++)
		printf("%-24s %-10s %-10s %u\n", mcf.v[i].name,
		    mastercf_type_name(mcf.v[i].type), mcf.v[i].command,
		    counts[i]);
	free(counts);
	mastercf_free(&mcf);
	return 0;
}
