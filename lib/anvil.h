/*
 * anvil - client side of the connection-count service (Postfix's
 * anvil(8)): a session registers "service address" and learns how many
 * sessions that address has open right now, this one included, and
 * unregisters at its end.
 *
 * A process keeps one connection to anvil for all its sessions; when
 * the process dies (even by kill -9), anvil drops every registration of
 * that connection, so a crashed session is never counted for long.
 *
 * Never: block longer than the timeout, or fail a session because the
 * counter is unreachable (callers treat -1 as "no limit known").
 */
#ifndef FACTEUR_ANVIL_H
#define FACTEUR_ANVIL_H

#include "lib/util.h"

#define ANVIL_LINE_MAX 256

struct anvil_client;

/* A client for the anvil socket at path (connects on first use). */
struct anvil_client *anvil_client_new(const char *path, unsigned timeout_ms);
void anvil_client_free(struct anvil_client **cp);

/*
 * Register one session of service from addr; 0 and the current count
 * (this session included) in *count_r, or -1 when anvil is unavailable
 * (nothing registered).
 */
FCT_MUST_CHECK int anvil_register(struct anvil_client *c, const char *service,
    const char *addr, unsigned *count_r);
/*
 * Unregister it and wait until anvil has counted it out, so that a client
 * that sees the session end and connects again is never counted twice.
 */
void anvil_unregister(struct anvil_client *c, const char *service,
    const char *addr);

#endif
