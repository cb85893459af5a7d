/*
 * anvil - client side of the connection-count service (Postfix's
 * anvil(8)): a session registers "service address" and learns how many
 * sessions that address has open right now, this one included.  The
 * registration lasts as long as the returned descriptor stays open, so a
 * session killed with -9 is forgotten by the kernel closing its socket.
 *
 * Never: block longer than the timeout, or fail a session because the
 * counter is unreachable (callers treat -1 as "no limit known").
 */
#ifndef FACTEUR_ANVIL_H
#define FACTEUR_ANVIL_H

#include "lib/util.h"

#define ANVIL_LINE_MAX 256

/*
 * Register addr for service with the anvil socket at path.  Returns a
 * descriptor to keep open for the session (close it at the end) and the
 * current count in *count_r, or -1 when anvil is unavailable.
 */
int anvil_connect(const char *path, const char *service, const char *addr,
    unsigned timeout_ms, unsigned *count_r);

/*
 * End the registration and wait (at most the connect timeout) until anvil
 * has counted it out, so that a client that sees this session end and
 * connects again is never counted twice.  Sets *fdp to -1; accepts -1.
 */
void anvil_disconnect(int *fdp);

#endif
