/*
 * log - one line per event, Postfix-shaped.
 *
 * A program calls log_open() once with its name (the log tag: "smtpd",
 * "qmgr", ...).  Service children then log_attach() to the unix-dgram
 * socket inherited from master (DESIGN §7): each record is one datagram
 * "<pri>name[pid]: text", which master stamps with time and host and writes
 * to maillog_file or syslog.  Commands (mailctl, mailq) log to stderr.
 *
 * Logger state is the one process-wide mutable state in lib: every module
 * must be able to log without threading a handle through every call.
 *
 * Never: log credentials, or raw client bytes (use log_escape()); block
 * forever on a dead master (a failed send goes to stderr).
 */
#ifndef FACTEUR_LOG_H
#define FACTEUR_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

/* syslog(3) priorities, carried in each datagram. */
enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

/* Longest text of one record; longer text is cut. */
#define LOG_LINE_MAX 2048

/*
 * Name the program (and note its pid); until log_attach() records go to
 * stderr.  A process that forks and goes on without exec calls it again.
 */
void log_open(const char *name);
/* Send records as datagrams on fd (inherited from master). */
void log_attach(int fd);
/*
 * Hand records to fn instead of a socket (master writes its own records
 * straight to the log file; sending to its own socket could block it).
 * text already carries the "warning: " style prefix.
 */
typedef void log_sink_fn(enum log_level lvl, const char *name, long pid,
    const char *text, void *arg);
void log_set_sink(log_sink_fn *fn, void *arg);
/* Also copy every record to stderr (tools that talk to a person). */
void log_tee_stderr(bool on);
/* Enable debug records. */
void log_set_verbose(bool on);
bool log_verbose(void);
const char *log_name(void);

FCT_PRINTF(1, 2) void log_debug(const char *fmt, ...);
FCT_PRINTF(1, 2) void log_info(const char *fmt, ...);
FCT_PRINTF(1, 2) void log_warn(const char *fmt, ...);
FCT_PRINTF(1, 2) void log_err(const char *fmt, ...);
/* Only before the service loop starts (STYLE: no fatal after start-up). */
FCT_PRINTF(1, 2) FCT_NORETURN void log_fatal(const char *fmt, ...);

/*
 * A duration as Postfix writes delay= and delays= (log_adhoc.c): whole
 * seconds past 9 s, else at most two significant digits: "12", "1.25",
 * "0.4", "0.03", "0.001", "0".
 */
#define LOG_DELAY_MAX 32
void log_fmt_delay(char *buf, size_t size, uint64_t us);

/*
 * Client text for the log: printable ASCII kept, everything else \xNN,
 * backslash doubled, cut after LOG_ESCAPE_MAX input bytes with "...".
 */
#define LOG_ESCAPE_MAX 200
struct log_esc {
	char s[LOG_ESCAPE_MAX * 4 + 4];
};
const char *log_escape(struct log_esc *e, const void *p, size_t n);
const char *log_escape_str(struct log_esc *e, const char *text);

#endif
