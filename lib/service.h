/*
 * service - the skeleton of every program that master starts
 * (STYLE "Programs and the event loop"; Postfix's single_server).
 *
 *   s = service_init(argc, argv, &opts);    read config: fatal allowed
 *   ... privileged set-up (keys, maps) ...
 *   service_drop_privileges(s);             service_user, chroot
 *   return service_run(s, accept_fn, arg);  no fatal from here on
 *
 * service_run() owns the loop: it accepts on the inherited listeners (or
 * reads datagrams on a unix-dgram service), tells master when the process
 * is busy or idle, exits after max_use sessions or max_idle seconds
 * without one, and stops accepting as soon as master's status socket
 * closes (master gone or reload), exiting once its sessions are done.
 *
 * Never: accept before the privilege drop, or exit while a session it
 * was told about is still running (except when master is gone and the
 * program itself chooses to).
 */
#ifndef FACTEUR_SERVICE_H
#define FACTEUR_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "lib/config.h"
#include "lib/event.h"
#include "lib/params.h"

struct service;

struct service_opts {
	const char *program;   /* log tag: "smtpd" */
	unsigned client_limit; /* sessions per process; 0 means 1 */
	bool resident;	       /* ignore max_use and max_idle (qmgr, anvil:
				  their state lives in memory) */
};

/* A new connection; the program owns fd from now on. */
typedef void service_accept_fn(struct service *s, int fd,
    const struct sockaddr *peer, socklen_t peerlen, void *arg);
/* A datagram on a unix-dgram service (a trigger). */
typedef void service_dgram_fn(struct service *s, const uint8_t *p, size_t n,
    void *arg);

/*
 * Parse master's arguments, attach the log, read main.cf, apply the
 * service's -o overrides and load the parameters.  Exits on any error
 * (before the service loop: allowed).  Also usable without master for
 * tests: without -s, no listeners are expected.
 */
struct service *service_init(int argc, char **argv,
    const struct service_opts *opts);
void service_free(struct service **sp);

const struct params *service_params(const struct service *s);
const struct config *service_config(const struct service *s);
struct event_loop *service_loop(const struct service *s);
/* master.cf service name ("smtp", "127.0.0.1:10587"). */
const char *service_name(const struct service *s);
/* Program arguments from master.cf (after the command), NULL-terminated. */
char *const *service_args(const struct service *s);

/* Drop to service_user and chroot if master.cf says so; exits on failure. */
void service_drop_privileges(struct service *s);

/* Run the loop for a stream service; returns the exit status. */
int service_run(struct service *s, service_accept_fn *fn, void *arg);
/* Run the loop for a unix-dgram service. */
int service_run_dgram(struct service *s, service_dgram_fn *fn, void *arg);
/* The program tells the skeleton that one session is over. */
void service_session_done(struct service *s);
/* Stop the loop at the next turn (fatal-free exit path). */
void service_stop(struct service *s);
/* True once master's status socket has closed. */
bool service_master_gone(const struct service *s);

#endif
