/*
 * log - format records and send them to master's log socket or stderr.
 *
 * Never: call anything that could log (recursion), allocate, or exit except
 * in log_fatal().
 */
#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct {
	char name[64];
	int fd;
	bool tee;
	bool verbose;
	log_sink_fn *sink;
	void *sink_arg;
	long pid; /* set by log_open: programs exec, they never fork on */
} logger = { "facteur", -1, false, false, NULL, NULL, 0 };

void
log_set_sink(log_sink_fn *fn, void *arg)
{
	logger.sink = fn;
	logger.sink_arg = arg;
}

void
log_open(const char *name)
{
	snprintf(logger.name, sizeof(logger.name), "%s", name);
	logger.pid = (long)getpid();
}

void
log_attach(int fd)
{
	logger.fd = fd;
}

void
log_tee_stderr(bool on)
{
	logger.tee = on;
}

void
log_set_verbose(bool on)
{
	logger.verbose = on;
}

bool
log_verbose(void)
{
	return logger.verbose;
}

const char *
log_name(void)
{
	return logger.name;
}

static const char *
level_prefix(enum log_level lvl)
{
	switch (lvl) {
	case LOG_LVL_ERR:
		return "error: ";
	case LOG_LVL_WARN:
		return "warning: ";
	default:
		return "";
	}
}

/*
 * The pid, cached by log_open(): programs are exec'd and never fork
 * without exec, except master's detach, which calls log_open() again.
 */
static long
log_pid(void)
{
	if (logger.pid == 0)
		logger.pid = (long)getpid();
	return logger.pid;
}

static FCT_PRINTF(3, 0) void
log_emit(enum log_level lvl, const char *prefix, const char *fmt, va_list ap)
{
	char text[LOG_LINE_MAX];
	char rec[LOG_LINE_MAX + 128];
	int n;

	n = vsnprintf(text, sizeof(text), fmt, ap);
	if (n < 0)
		return;
	/* One event is one line: a stray newline would forge a record. */
	for (char *p = text; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (prefix == NULL)
		prefix = level_prefix(lvl);
	if (logger.sink != NULL) {
		snprintf(rec, sizeof(rec), "%s%s", prefix, text);
		logger.sink(lvl, logger.name, log_pid(), rec,
		    logger.sink_arg);
		if (!logger.tee)
			return;
	} else if (logger.fd >= 0) {
		n = snprintf(rec, sizeof(rec), "<%d>%s[%ld]: %s%s", (int)lvl,
		    logger.name, log_pid(), prefix, text);
		if (n > 0) {
			size_t len = (size_t)n < sizeof(rec) ? (size_t)n
							     : sizeof(rec) - 1;
			if (send(logger.fd, rec, len, MSG_NOSIGNAL) ==
			    (ssize_t)len) {
				if (!logger.tee)
					return;
			}
		}
	}
	fprintf(stderr, "%s: %s%s\n", logger.name, prefix, text);
}

#define LOG_FN(fn, lvl)                                                      \
	void fn(const char *fmt, ...)                                        \
	{                                                                    \
		va_list ap;                                                  \
		va_start(ap, fmt);                                           \
		log_emit(lvl, NULL, fmt, ap);                                \
		va_end(ap);                                                  \
	}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!logger.verbose)
		return;
	va_start(ap, fmt);
	log_emit(LOG_LVL_DEBUG, "", fmt, ap);
	va_end(ap);
}

LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_warn, LOG_LVL_WARN)
LOG_FN(log_err, LOG_LVL_ERR)

void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LVL_ERR, "fatal: ", fmt, ap);
	va_end(ap);
	exit(1);
}

const char *
log_escape(struct log_esc *e, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b = p;
	size_t o = 0, i;

	for (i = 0; i < n && i < LOG_ESCAPE_MAX; i++) {
		unsigned char c = b[i];

		if (c == '\\') {
			e->s[o++] = '\\';
			e->s[o++] = '\\';
		} else if (c >= 0x20 && c < 0x7f) {
			e->s[o++] = (char)c;
		} else {
			e->s[o++] = '\\';
			e->s[o++] = 'x';
			e->s[o++] = hex[c >> 4];
			e->s[o++] = hex[c & 15];
		}
	}
	if (i < n) {
		memcpy(e->s + o, "...", 3);
		o += 3;
	}
	e->s[o] = '\0';
	return e->s;
}

const char *
log_escape_str(struct log_esc *e, const char *text)
{
	return log_escape(e, text, strlen(text));
}

void
log_fmt_delay(char *buf, size_t size, uint64_t us)
{
	unsigned long long s = us / 1000000;
	unsigned long frac = (unsigned long)(us % 1000000);

	if (s > 9 || (s > 0 && frac < 10000))
		snprintf(buf, size, "%llu", s);
	else if (s > 0)
		snprintf(buf, size, "%llu.%02lu", s, frac / 10000);
	else if (frac >= 100000)
		snprintf(buf, size, "0.%lu", frac / 100000);
	else if (frac >= 10000)
		snprintf(buf, size, "0.0%lu", frac / 10000);
	else if (frac >= 1000)
		snprintf(buf, size, "0.00%lu", frac / 1000);
	else
		snprintf(buf, size, "0");
}
