/*
 * mastercf - master.cf: one service a line, as Postfix.
 *
 *   # service  type  private unpriv chroot wakeup maxproc command + args
 *   smtp       inet  n       -      n      -      -       smtpd
 *   127.0.0.1:10587 inet n   -      n      -      -       smtpd
 *       -o smtpd_tls_security_level=encrypt
 *
 * type is inet, unix or unix-dgram.  For inet the service name is
 * [host:]port (a bare port listens on every inet_interfaces address);
 * for unix and unix-dgram it is the socket name under
 * $queue_directory/private/ (private y) or public/ (private n).  One
 * exception: a unix service named "auth/NAME" (the auth service's
 * "auth/client") is bound as $queue_directory/auth/NAME, mode 0660,
 * group $authclient_group (DESIGN §1: the folder is root:
 * facteur-authclient 0750, and the service checks every peer with
 * SO_PEERCRED), whatever its private column says.  A '-'
 * takes the default: private y, unpriv y, chroot n, wakeup 0 (none),
 * maxproc $default_process_limit.  unpriv n is refused: only master
 * keeps root (DESIGN §1).  The service's user is the service_user
 * parameter (default $mail_owner), set per service with
 * "-o service_user=...".  Arguments "-o name=value" are overrides applied
 * on top of main.cf for that service only; other arguments go to the
 * program.  Lines starting with whitespace continue the entry before.
 *
 * Never: accept an entry it cannot place: every problem names FILE:LINE.
 */
#ifndef FACTEUR_MASTERCF_H
#define FACTEUR_MASTERCF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/diag.h"

#define MASTERCF_MAX_ARGS 64
/* Unix services named "auth/NAME" bind in $queue_directory/auth/. */
#define MASTERCF_AUTH_PREFIX "auth/"
#define MASTERCF_MAX_SERVICES 256

enum mastercf_type {
	MASTERCF_INET,
	MASTERCF_UNIX,
	MASTERCF_UNIX_DGRAM,
};

struct mastercf_service {
	char *name;		/* "smtp", "127.0.0.1:10025", "qmgr" */
	enum mastercf_type type;
	bool private_;
	bool chroot;
	unsigned wakeup;	/* seconds; 0 = none */
	unsigned maxproc;	/* 0 = $default_process_limit */
	char *command;		/* program name in daemon_directory */
	char **args;		/* NULL-terminated: program args, -o kept */
	size_t nargs;
	char **overrides;	/* NULL-terminated "name=value" */
	size_t noverrides;
	char *file;
	unsigned line;
};

struct mastercf {
	struct mastercf_service *v;
	size_t n;
};

/*
 * Parse master.cf text into *mcf (caller-zeroed; free with
 * mastercf_free).  Problems go to d; returns the number of errors.
 */
unsigned mastercf_parse(struct mastercf *mcf, const char *file,
    const uint8_t *text, size_t len, struct diag *d);
/* Read $config_dir/master.cf. */
unsigned mastercf_read(struct mastercf *mcf, const char *config_dir,
    struct diag *d);
void mastercf_free(struct mastercf *mcf);

const char *mastercf_type_name(enum mastercf_type t);
/* Identity across reloads: same name and type. */
bool mastercf_same_service(const struct mastercf_service *a,
    const struct mastercf_service *b);

#endif
