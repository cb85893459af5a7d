/*
 * logwriter - master's one writer of the mail log (DESIGN §7).
 *
 * Children send "<pri>name[pid]: text" datagrams on the shared socket;
 * the writer takes the pid from the kernel (SO_PASSCRED), keeps only a
 * safe program name, replaces control bytes, stamps time and host and
 * appends one line to maillog_file (O_APPEND: one write per line) or
 * hands it to the local syslog socket.
 *
 * Never: trust a datagram's framing or length, let one line become two,
 * or block master on a slow log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/str.h"
#include "master/master.h"

#define LOGWRITER_DGRAM_MAX (LOG_LINE_MAX + 256)

struct logwriter {
	struct master *m; /* borrowed */
	int rfd;
	int out_fd;    /* maillog_file, or -1 */
	struct str *batch; /* lines for out_fd, written once per loop turn */
	time_t stamp_time; /* the second stamp[] was made for */
	char stamp[32];
	int syslog_fd; /* /dev/log, or -1 */
	char host[64];
};

static void
host_short(char *buf, size_t size)
{
	if (gethostname(buf, size - 1) < 0)
		snprintf(buf, size, "localhost");
	buf[size - 1] = '\0';
	char *dot = strchr(buf, '.');
	if (dot != NULL)
		*dot = '\0';
}

static void flush_batch(struct logwriter *lw);
static void write_line(struct logwriter *lw, int pri, const char *name,
    long pid, const char *text);

static void
own_sink(enum log_level lvl, const char *name, long pid, const char *text,
    void *arg)
{
	/* master's own records go out at once: it may be about to exit. */
	write_line(arg, (int)lvl, name, pid, text);
	flush_batch(arg);
}

static void
sanitize(char *text)
{
	for (unsigned char *p = (unsigned char *)text; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* Write the batched lines: one write(2) for a whole loop turn. */
static void
flush_batch(struct logwriter *lw)
{
	size_t len = str_len(lw->batch);

	if (len == 0 || lw->out_fd < 0)
		return;
	/* A failed log write cannot be logged; say it on stderr. */
	if (write(lw->out_fd, str_data(lw->batch), len) != (ssize_t)len)
		fprintf(stderr, "master: log write: %s\n", strerror(errno));
	str_clear(lw->batch);
}

static void
write_line(struct logwriter *lw, int pri, const char *name, long pid,
    const char *text)
{
	char line[LOGWRITER_DGRAM_MAX + 160];
	const char *stamp = lw->stamp;
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (now != lw->stamp_time) {
		localtime_r(&now, &tm);
		strftime(lw->stamp, sizeof(lw->stamp), "%b %e %H:%M:%S", &tm);
		lw->stamp_time = now;
	}
	if (lw->out_fd >= 0) {
		n = snprintf(line, sizeof(line), "%s %s %s/%s[%ld]: %s\n",
		    stamp, lw->host, lw->m->p.syslog_name, name, pid, text);
		if (n < 0)
			return;
		if ((size_t)n >= sizeof(line)) {
			n = (int)sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		if (str_append(lw->batch, line, (size_t)n) < 0) {
			flush_batch(lw);
			if (str_append(lw->batch, line, (size_t)n) < 0)
				return; /* cannot happen: one line fits */
		}
		return;
	}
	if (lw->syslog_fd >= 0) {
		int fac = 2 << 3; /* LOG_MAIL */
		n = snprintf(line, sizeof(line), "<%d>%s %s/%s[%ld]: %s",
		    fac | (pri & 7), stamp, lw->m->p.syslog_name, name, pid,
		    text);
		if (n > 0 && send(lw->syslog_fd, line,
				 (size_t)n < sizeof(line) ? (size_t)n
							  : sizeof(line) - 1,
				 MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return;
	}
	fprintf(stderr, "%s %s/%s[%ld]: %s\n", stamp, lw->m->p.syslog_name,
	    name, pid, text);
}

/* Parse "<pri>name[pid]: text" in place; false when malformed. */
static bool
parse_record(char *rec, int *pri_r, char **name_r, char **text_r)
{
	char *p = rec, *end;

	if (*p++ != '<' || *p < '0' || *p > '7' || p[1] != '>')
		return false;
	*pri_r = *p - '0';
	p += 2;
	*name_r = p;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
	    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.')
		p++;
	if (p == *name_r || p - *name_r > 32 || *p != '[')
		return false;
	*p++ = '\0';
	end = strstr(p, "]: ");
	if (end == NULL)
		return false;
	*text_r = end + 3;
	return true;
}

/*
 * A datagram that is not a record: what a child wrote to its stderr
 * (services.c hands it the log socket as fd 2).  Each of its lines is
 * logged as master's warning naming the child, control bytes replaced.
 */
static void
stderr_lines(struct logwriter *lw, char *text, long pid)
{
	char line[LOGWRITER_DGRAM_MAX + 64];

	for (char *next; text != NULL && *text != '\0'; text = next) {
		next = strchr(text, '\n');
		if (next != NULL)
			*next++ = '\0';
		sanitize(text);
		if (*text == '\0')
			continue;
		/* Cut, never split: the line is bounded by the datagram. */
		(void)snprintf(line, sizeof(line),
		    "warning: pid %ld wrote to stderr: %s", pid, text);
		write_line(lw, LOG_LVL_WARN, "master", (long)getpid(), line);
	}
}

static void
read_cb(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct logwriter *lw = arg;

	for (int i = 0; i < 256; i++) {
		char rec[LOGWRITER_DGRAM_MAX + 1];
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(struct ucred))];
		} u;
		struct iovec iov = { rec, sizeof(rec) - 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = u.buf,
			.msg_controllen = sizeof(u.buf) };
		ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
		long pid = 0;
		int pri;
		char *name, *text;

		if (n < 0)
			break;
		rec[n] = '\0';
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL;
		     c = CMSG_NXTHDR(&msg, c))
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_CREDENTIALS) {
				struct ucred cr;
				memcpy(&cr, CMSG_DATA(c), sizeof(cr));
				pid = cr.pid;
			}
		if (!parse_record(rec, &pri, &name, &text)) {
			stderr_lines(lw, rec, pid);
			continue;
		}
		sanitize(text);
		write_line(lw, pri, name, pid, text);
	}
	flush_batch(lw);
}

struct logwriter *
logwriter_new(struct master *m, int rfd)
{
	struct logwriter *lw = x_calloc(1, sizeof(*lw));
	int on = 1;

	lw->m = m;
	lw->rfd = rfd;
	lw->out_fd = -1;
	lw->syslog_fd = -1;
	lw->batch = str_new(256 * 1024);
	host_short(lw->host, sizeof(lw->host));
	if (setsockopt(rfd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0)
		log_warn("SO_PASSCRED: %m");
	if (event_fd_add(m->loop, rfd, EV_READ, read_cb, lw) < 0)
		log_fatal("watch log socket: %m");
	log_set_sink(own_sink, lw);
	return lw;
}

int
logwriter_open(struct logwriter *lw, struct str *why)
{
	int fd = -1;

	if (lw->m->p.maillog_file[0] != '\0') {
		fd = open(lw->m->p.maillog_file,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0640);
		if (fd < 0) {
			str_notef(why, "open %s: %s", lw->m->p.maillog_file,
			    strerror(errno));
			return -1;
		}
	}
	/* Closing a log opened O_APPEND loses nothing already written. */
	flush_batch(lw);
	(void)fd_close(&lw->out_fd);
	(void)fd_close(&lw->syslog_fd);
	lw->out_fd = fd;
	if (fd < 0) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		snprintf(sun.sun_path, sizeof(sun.sun_path), "/dev/log");
		lw->syslog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (lw->syslog_fd >= 0 &&
		    connect(lw->syslog_fd, (struct sockaddr *)&sun,
			sizeof(sun)) < 0)
			(void)fd_close(&lw->syslog_fd); /* stderr then */
	}
	return 0;
}

void
logwriter_drain(struct logwriter *lw)
{
	read_cb(lw->m->loop, lw->rfd, EV_READ, lw);
}

void
logwriter_free(struct logwriter **lwp)
{
	struct logwriter *lw = *lwp;

	if (lw == NULL)
		return;
	log_set_sink(NULL, NULL);
	flush_batch(lw);
	str_free(&lw->batch);
	(void)fd_close(&lw->out_fd);
	(void)fd_close(&lw->syslog_fd);
	x_free(lwp);
}
