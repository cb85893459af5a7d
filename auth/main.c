/*
 * auth - the auth service: answers "is this password right for this
 * user" for smtpd (and later pop3d and imapd), and nothing else.
 *
 * User: auth_owner (facteur-auth), the one user that can read the
 * passwd table (0640 root:facteur-auth).  Socket: $queue_directory/auth/
 * client (master binds it 0660 root:facteur-authclient inside the 0750
 * root:facteur-authclient folder); every peer is checked again with
 * SO_PEERCRED: root, our own user, or a member of authclient_group.
 * One resident process serves every client from one event loop.
 *
 * Protocol: lib/auth_proto.h and docs/auth-protocol.md.  Hashes:
 * crypt(3) from libxcrypt (lib/passwd.h), compared in constant time; a
 * user without a hash is checked against a dummy hash so that the
 * answer takes as long.  Failures are counted per client address and
 * per user (lib/penalty.h) and answered after a growing delay done with
 * a timer, so that other clients keep being served.
 *
 * STANDARDS: none on the wire (a private protocol); hashes as crypt(5).
 *
 * Never: return a hash, log a password (not even at debug), sleep,
 * answer a peer that is not allowed, or exit because of what a client
 * sent.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "auth/auth.h"
#include "lib/base64.h"
#include "lib/log.h"
#include "lib/passwd.h"
#include "lib/priv.h"
#include "lib/secret.h"

/* A hash of a random password, with the default method and cost. */
static char *
make_dummy_hash(void)
{
	uint8_t raw[18];
	struct secret *pw = secret_new(64);
	struct str *h = str_new(PASSWD_HASH_MAX), *why = str_new(256);
	size_t room, n;
	uint8_t *dst;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		log_fatal("getrandom: %m");
	dst = secret_space(pw, &room);
	if (base64_encode_buf(raw, sizeof(raw), dst, room, &n) < 0)
		log_fatal("dummy password does not fit");
	secret_wrote(pw, n);
	explicit_bzero(raw, sizeof(raw));
	if (passwd_hash_make(secret_c(pw), secret_len(pw), NULL, h, why) < 0)
		log_fatal("cannot make the dummy hash: %s", str_c(why));
	secret_free(&pw);
	str_free(&why);
	return str_take(&h);
}

int
main(int argc, char **argv)
{
	struct service_opts opts = {.program = "auth",
	    .client_limit = AUTH_CLIENT_LIMIT,
	    .resident = true};
	struct authd a = {0};
	struct str *why = str_new(1024);

	a.svc = service_init(argc, argv, &opts);
	a.p = service_params(a.svc);
	/*
	 * Sanity checks: as root, this service must run as auth_owner,
	 * the one user that can reread the passwd table after a rebuild.
	 */
	if (priv_is_root() && strcmp(a.p->service_user, a.p->auth_owner) != 0)
		log_fatal("the auth service runs as auth_owner (%s), not %s: "
		          "add \"-o service_user=$auth_owner\" to its "
		          "master.cf line",
		    a.p->auth_owner, a.p->service_user);
	if (priv_group_lookup(a.p->authclient_group, &a.client_gid, why) == 0)
		a.have_client_gid = true;
	else if (priv_is_root())
		log_fatal("authclient_group: %s", str_c(why));
	/* Tables are opened before the privilege drop. */
	str_clear(why);
	if ((a.passwd = map_open(a.p->passwd_map, why)) == NULL)
		log_fatal("passwd_map %s: %s", a.p->passwd_map, str_c(why));
	if ((a.users = map_open(a.p->users_map, why)) == NULL)
		log_fatal("users_map %s: %s", a.p->users_map, str_c(why));
	a.dummy_hash = make_dummy_hash();
	a.pen = penalty_new((size_t)a.p->auth_failure_table_limit,
	    a.p->auth_failure_reset_time * 1000);
	str_free(&why);

	service_drop_privileges(a.svc);
	a.self_uid = getuid();
	return service_run(a.svc, authd_accept, &a);
}
