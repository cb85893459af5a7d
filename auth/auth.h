/*
 * auth.h - what the auth service's files share: main.c (start-up) and
 * server.c (clients, the protocol, the delays).  Only auth/ includes it.
 */
#ifndef FACTEUR_AUTH_AUTH_H
#define FACTEUR_AUTH_AUTH_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "lib/map.h"
#include "lib/params.h"
#include "lib/penalty.h"
#include "lib/service.h"

/* Clients served at once by the one auth process. */
#define AUTH_CLIENT_LIMIT 1000

struct authd {
	struct service *svc;    /* borrowed */
	const struct params *p; /* borrowed from svc */
	struct map *users;      /* users_map */
	struct map *passwd;     /* passwd_map */
	char *dummy_hash;       /* for users without a hash */
	struct penalty *pen;    /* failures per address and per user */
	uid_t self_uid;         /* our own user (after the drop) */
	gid_t client_gid;       /* authclient_group */
	bool have_client_gid;   /* false: the group does not exist */
};

/* server.c: a new client connection (service_accept_fn). */
void authd_accept(struct service *s, int fd, const struct sockaddr *peer,
    socklen_t len, void *arg);

#endif
