/*
 * auth_client - ask the auth service (auth/, DESIGN §1) whether a
 * password is right for a user, from an event loop, without blocking:
 * the client side for smtpd, and later pop3d and imapd.
 *
 *   req = auth_client_start(loop, path, timeout_ms, "smtpd", addr,
 *                           user, user_len, pw, pw_len, done_cb, sess);
 *   ... the loop runs; later done_cb(result, why, sess) is called once,
 *   after which req is gone (the session forgets its pointer there);
 *   a session that ends first calls auth_client_cancel(&req).
 *
 * path is $queue_directory/auth/client (AUTH_CLIENT_SOCKET; "/auth/
 * client" inside a chroot to the queue).  One connection per request.
 * Results:
 *   AUTH_RESULT_OK           the password is right and the user enabled
 *   AUTH_RESULT_FAIL         anything else the user could cause (wrong
 *                            password, unknown or disabled user, a user
 *                            name that no account can have)
 *   AUTH_RESULT_UNAVAILABLE  the service could not say: socket missing,
 *                            connection refused or closed, a timeout,
 *                            a garbled answer, or TEMP from the service
 *                            (smtpd answers 454 4.7.0)
 * why says what happened, for the log (never the password).
 *
 * The password is copied into a wiped buffer at once (the caller may
 * wipe its own copy as soon as auth_client_start returns) and wiped as
 * soon as it is sent.
 *
 * Never: call back before auth_client_start() has returned (even an
 * immediate failure comes from the loop), call back twice, block, or
 * log a password.
 */
#ifndef FACTEUR_AUTH_CLIENT_H
#define FACTEUR_AUTH_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/auth_proto.h"
#include "lib/event.h"
#include "lib/util.h"

enum auth_result {
	AUTH_RESULT_OK,
	AUTH_RESULT_FAIL,
	AUTH_RESULT_UNAVAILABLE,
};

/* "ok", "fail", "unavailable". */
const char *auth_result_name(enum auth_result r);

/* The answer; why is borrowed for the call only. */
typedef void auth_client_cb(enum auth_result r, const char *why, void *arg);

struct auth_client_req;

/*
 * Start one request (see the header comment).  Never fails: problems
 * are reported through cb from the loop.  The returned handle is valid
 * until cb has been called or auth_client_cancel().
 */
struct auth_client_req *auth_client_start(struct event_loop *loop,
    const char *path, uint64_t timeout_ms, const char *service,
    const char *client_addr, const char *user, size_t user_len, const char *pw,
    size_t pw_len, auth_client_cb *cb, void *arg);

/*
 * Drop a request whose answer is no longer wanted (the session ended):
 * cb will not be called.  Sets *rp NULL; accepts NULL.  Must not be
 * called from inside cb (the request is already gone there).
 */
void auth_client_cancel(struct auth_client_req **rp);

#endif
